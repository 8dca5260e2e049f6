//! Serving the built web app: files from the static directory, `index.html` for every other path
//! (the app routes in the browser, e.g. `/b#secret`), and cache headers that suit Trunk's output.
//!
//! `cargo xtask precompress` writes `NAME.br` and `NAME.gz` next to each text and wasm file of the
//! build; those are sent as they are (`Content-Encoding: br` or `gzip`, chosen from the request's
//! `Accept-Encoding`, with `Vary: Accept-Encoding`), so the server never spends CPU on them and the
//! browser gets brotli at its best quality. Files without a precompressed copy are gzipped on the
//! fly.
//!
//! Every answer carries the security headers of [`security_headers`]: a Content-Security-Policy
//! that allows only this origin's scripts (no inline script, no `eval`; `'wasm-unsafe-eval'` for
//! WebAssembly), connections only to this origin's HTTP and WebSocket endpoints, and no framing;
//! plus `nosniff`, `no-referrer` and a same-origin opener policy. See docs/security.md.

use std::path::Path;

use axum::{
    extract::Request,
    http::{header, HeaderName, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::Response,
    Router,
};
use tower_http::{
    compression::CompressionLayer,
    services::{ServeDir, ServeFile},
};

pub const NO_CACHE: &str = "no-cache";
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// A router that serves `dir` (which must hold `index.html`) for any path.
pub fn router<S: Clone + Send + Sync + 'static>(dir: &Path) -> Router<S> {
    // Directories are not listed nor redirected: `/b` is an app route even if `dir/b/` exists.
    let index = ServeFile::new(dir.join("index.html"))
        .precompressed_br()
        .precompressed_gzip();
    let files = ServeDir::new(dir)
        .append_index_html_on_directories(false)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(index);
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(cache_control))
        .layer(middleware::from_fn(security_headers))
        .layer(CompressionLayer::new())
}

/// `index.html` (under any path) must be revalidated; Trunk's hashed assets never change.
/// Every answer varies with `Accept-Encoding`, precompressed or not.
async fn cache_control(req: Request, next: Next) -> Response {
    let hashed = is_hashed_asset(req.uri().path());
    let mut res = next.run(req).await;
    if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
        let is_html = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        let policy = if hashed && !is_html {
            IMMUTABLE
        } else {
            NO_CACHE
        };
        let headers = res.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
        // The same URL has a brotli, a gzip and a plain body: caches must key on the encoding.
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    res
}

/// The Content-Security-Policy for an answer to a request with this `Host` header. The page's
/// WebSocket to `/ws` is listed explicitly as `ws://HOST` and `wss://HOST` (CSP 3 lets `'self'`
/// cover it, but not every browser does); a `Host` that is not a plain `host[:port]` only gets
/// `'self'`, so that no request can write into the policy.
pub fn content_security_policy(host: Option<&str>) -> String {
    let mut connect = String::from("'self'");
    if let Some(host) = host.filter(|h| is_plain_host(h)) {
        connect.push_str(&format!(" ws://{host} wss://{host}"));
    }
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src {connect}; \
         img-src 'self' data:; style-src 'self'; manifest-src 'self'; worker-src 'self'; \
         frame-ancestors 'none'; form-action 'none'; object-src 'none'; base-uri 'none'"
    )
}

/// `host`, `host:port`, `[v6]:port`: letters, digits, `.-:[]` and nothing else.
fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// The headers that make the browser refuse what the app never does: scripts or connections
/// from elsewhere, inline scripts, being framed, MIME sniffing, leaking the URL as a referrer,
/// sharing a browsing context group with a page on another origin.
async fn security_headers(req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(host.as_deref())) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    res
}

/// Whether a path names one of Trunk's content-hashed files, such as `/app-82fb2eee7789fc9d.js`,
/// `/app-82fb2eee7789fc9d_bg.wasm` or `/snippets/app-82fb2eee7789fc9d/inline0.js`. Unhashed
/// files copied as they are (an icon) keep `no-cache`, since their content may change.
fn is_hashed_asset(path: &str) -> bool {
    path.split('/').any(|segment| {
        segment.match_indices('-').any(|(i, _)| {
            let rest = &segment[i + 1..];
            let hash = rest.get(..16).unwrap_or("");
            hash.len() == 16
                && hash.bytes().all(|b| b.is_ascii_hexdigit())
                && matches!(rest.as_bytes().get(16), None | Some(b'.' | b'_'))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::{content_security_policy, is_hashed_asset};

    #[test]
    fn csp_names_the_pages_websocket_origin_and_nothing_a_request_can_inject() {
        let csp = content_security_policy(Some("board.example:8443"));
        assert!(
            csp.contains("connect-src 'self' ws://board.example:8443 wss://board.example:8443;")
        );
        assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval';"));
        for bad in ["a.example; script-src *", "a b", "", "x\"y"] {
            let csp = content_security_policy(Some(bad));
            assert!(csp.contains("connect-src 'self';"), "{bad}: {csp}");
        }
        assert!(content_security_policy(None).contains("connect-src 'self';"));
    }

    #[test]
    fn recognises_trunk_hashes() {
        assert!(is_hashed_asset("/app-82fb2eee7789fc9d.js"));
        assert!(is_hashed_asset("/app-82fb2eee7789fc9d_bg.wasm"));
        assert!(is_hashed_asset("/style-12812ce334543738.css"));
        assert!(is_hashed_asset("/snippets/app-82fb2eee7789fc9d/inline0.js"));
        assert!(!is_hashed_asset("/icon.svg"));
        assert!(!is_hashed_asset("/index.html"));
        assert!(!is_hashed_asset("/b"));
        assert!(!is_hashed_asset("/app-82fb2eee7789fc9.js"));
        assert!(!is_hashed_asset("/x-82fb2eee7789fc9dz.js"));
    }
}
