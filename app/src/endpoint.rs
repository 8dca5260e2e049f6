//! Where the signaling server is. By default the page's own origin at `/ws`; an operator who
//! serves the app from a static host apart from the signaling server names it in index.html:
//! `<meta name="meshboard-signaling" content="wss://signal.example.com/ws">` (see
//! docs/self-hosting.md; that server must list the app's origin with `--allowed-origin`, and the
//! static host's Content-Security-Policy must allow it in `connect-src`).

use crate::browser::BrowserError;

/// The meta tag's name.
pub const META: &str = "meshboard-signaling";

/// Why the page cannot tell where the signaling server is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error(
        "This site is misconfigured: the signaling address \"{0}\" is not a ws:// or wss:// URL."
    )]
    NotWebSocket(String),
    #[error("This site is misconfigured: the signaling address \"{0}\" is not encrypted (ws://) on an https page.")]
    Unencrypted(String),
    #[error(transparent)]
    Browser(#[from] BrowserError),
}

/// The WebSocket URL from the meta tag's `content` (`None` or blank: the page's origin) and the
/// page's `location.protocol` and `location.host`.
pub fn resolve(
    configured: Option<&str>,
    protocol: &str,
    host: &str,
) -> Result<String, EndpointError> {
    match configured.map(str::trim).filter(|c| !c.is_empty()) {
        None => {
            let scheme = if protocol == "https:" { "wss" } else { "ws" };
            Ok(format!("{scheme}://{host}/ws"))
        }
        Some(url) => {
            let (scheme, rest) = url.split_once("://").unwrap_or(("", ""));
            let scheme = scheme.to_ascii_lowercase();
            let authority = rest.split('/').next().unwrap_or("");
            if !matches!(scheme.as_str(), "ws" | "wss") || authority.is_empty() {
                return Err(EndpointError::NotWebSocket(url.to_owned()));
            }
            if protocol == "https:" && scheme == "ws" {
                return Err(EndpointError::Unencrypted(url.to_owned()));
            }
            Ok(url.to_owned())
        }
    }
}

/// The signaling URL for this page.
pub fn signaling_url() -> Result<String, EndpointError> {
    let window = web_sys::window().ok_or(BrowserError::Missing("a window"))?;
    let location = window.location();
    let protocol = location.protocol().map_err(BrowserError::from)?;
    let host = location.host().map_err(BrowserError::from)?;
    let configured = window
        .document()
        .and_then(|d| {
            d.query_selector(&format!("meta[name=\"{META}\"]"))
                .ok()
                .flatten()
        })
        .and_then(|m| m.get_attribute("content"));
    resolve(configured.as_deref(), &protocol, &host)
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn same_origin_unless_configured() {
        let same = |c| resolve(c, "https:", "board.example");
        assert_eq!(same(None).unwrap(), "wss://board.example/ws");
        assert_eq!(same(Some("  ")).unwrap(), "wss://board.example/ws");
        assert_eq!(
            resolve(None, "http:", "127.0.0.1:8080").unwrap(),
            "ws://127.0.0.1:8080/ws"
        );
        assert_eq!(
            same(Some("wss://signal.example/ws")).unwrap(),
            "wss://signal.example/ws"
        );
        assert_eq!(
            resolve(Some("ws://127.0.0.1:9000/ws"), "http:", "127.0.0.1:8080").unwrap(),
            "ws://127.0.0.1:9000/ws"
        );
        for bad in [
            "https://signal.example/ws",
            "/ws",
            "wss://",
            "signal.example",
        ] {
            assert!(same(Some(bad)).is_err(), "{bad}");
        }
        assert!(
            same(Some("ws://signal.example/ws")).is_err(),
            "ws:// from https"
        );
    }
}
