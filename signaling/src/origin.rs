//! Which web pages may open `/ws`: the `Origin` header checked against an allowlist.
//!
//! Browsers always send `Origin` on a WebSocket handshake, so a page on another site cannot use
//! this server unless its origin is listed. The server's own origin (the `Origin` host and port
//! equal to the `Host` header) is always allowed; so are requests without `Origin`, which come
//! from non-browser clients that could forge any header anyway.

use crate::error::ServerError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    /// `*` was listed: any origin is allowed.
    any: bool,
    /// Normalised origins (`scheme://host[:port]`, lowercase, default port removed), or `null`.
    allowed: Vec<String>,
}

impl OriginPolicy {
    /// Checks each entry: `*`, `null`, or `scheme://host[:port]` with no path.
    pub fn new(entries: &[String]) -> Result<Self, ServerError> {
        let mut policy = Self::default();
        for entry in entries {
            let entry = entry.trim();
            if entry.is_empty() {
                // An empty environment variable lists nothing.
                continue;
            }
            if entry == "*" {
                policy.any = true;
            } else if entry.eq_ignore_ascii_case("null") {
                policy.allowed.push("null".to_owned());
            } else {
                let origin = Origin::parse(entry.trim_end_matches('/')).ok_or_else(|| {
                    ServerError::BadOrigin {
                        origin: entry.to_owned(),
                    }
                })?;
                policy.allowed.push(origin.normalised());
            }
        }
        Ok(policy)
    }

    /// Whether a handshake with these `Origin` and `Host` headers may proceed.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        if self.any {
            return true;
        }
        let origin = origin.trim();
        if origin.eq_ignore_ascii_case("null") {
            return self.allowed.iter().any(|a| a == "null");
        }
        let Some(parsed) = Origin::parse(origin) else {
            return false;
        };
        if host.is_some_and(|host| parsed.same_authority_as(host)) {
            return true;
        }
        let normalised = parsed.normalised();
        self.allowed.contains(&normalised)
    }
}

/// A parsed `scheme://authority`, lowercase, with the scheme's default port removed.
struct Origin {
    scheme: String,
    authority: String,
}

impl Origin {
    fn parse(text: &str) -> Option<Self> {
        let (scheme, authority) = text.split_once("://")?;
        let valid_scheme = !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        let valid_authority = !authority.is_empty()
            && !authority
                .bytes()
                .any(|b| matches!(b, b'/' | b'?' | b'#' | b'@') || b.is_ascii_whitespace());
        if !valid_scheme || !valid_authority {
            return None;
        }
        let scheme = scheme.to_ascii_lowercase();
        let authority = strip_default_port(&scheme, &authority.to_ascii_lowercase()).to_owned();
        Some(Self { scheme, authority })
    }

    fn normalised(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }

    /// Whether `host` (a `Host` header) names the same host and port.
    fn same_authority_as(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        strip_default_port(&self.scheme, &host) == self.authority
    }
}

fn strip_default_port<'a>(scheme: &str, authority: &'a str) -> &'a str {
    let default = match scheme {
        "http" | "ws" => ":80",
        "https" | "wss" => ":443",
        _ => return authority,
    };
    authority.strip_suffix(default).unwrap_or(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> OriginPolicy {
        let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
        OriginPolicy::new(&entries).unwrap()
    }

    #[test]
    fn same_origin_by_default() {
        let p = policy(&[]);
        assert!(p.allows(None, Some("board.example")));
        assert!(p.allows(Some("https://board.example"), Some("board.example")));
        assert!(p.allows(Some("https://Board.Example:443"), Some("board.example")));
        assert!(p.allows(Some("http://127.0.0.1:8080"), Some("127.0.0.1:8080")));
        assert!(p.allows(Some("http://[::1]:8080"), Some("[::1]:8080")));
        assert!(!p.allows(Some("http://127.0.0.1:8081"), Some("127.0.0.1:8080")));
        assert!(!p.allows(Some("https://evil.example"), Some("board.example")));
        assert!(!p.allows(Some("https://board.example.evil"), Some("board.example")));
        assert!(!p.allows(Some("https://board.example"), None));
        assert!(!p.allows(Some("null"), Some("board.example")));
        assert!(!p.allows(Some("garbage"), Some("garbage")));
    }

    #[test]
    fn listed_origins_are_allowed_too() {
        let p = policy(&["https://app.example/", "http://localhost:3000", "null"]);
        assert!(p.allows(Some("https://app.example"), Some("signal.example")));
        assert!(p.allows(Some("https://app.example:443"), Some("signal.example")));
        assert!(p.allows(Some("http://localhost:3000"), Some("signal.example")));
        assert!(p.allows(Some("null"), Some("signal.example")));
        assert!(!p.allows(Some("http://app.example"), Some("signal.example")));
        assert!(p.allows(Some("https://signal.example"), Some("signal.example")));
        assert!(policy(&["*"]).allows(Some("https://any.example"), Some("x")));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "board.example",
            "https://",
            "https://a.example/path",
            "*.example",
        ] {
            assert!(OriginPolicy::new(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }
}
