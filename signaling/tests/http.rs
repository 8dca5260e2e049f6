//! Plain HTTP: the health check and the web app's static files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{header, scratch_dir, start};
use signaling::{static_files::IMMUTABLE, Config, Server, ServerError};

const INDEX: &str = "<!doctype html><title>Meshboard</title>";

#[tokio::test]
async fn healthz_returns_ok() {
    let server = start(Config::default()).await;
    let (status, _, body) = server.get("/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn without_static_dir_other_paths_are_not_found() {
    let server = start(Config::default()).await;
    assert_eq!(server.get("/b").await.0, 404);
}

#[tokio::test]
async fn static_dir_serves_index_for_app_routes_and_hashed_assets_for_ever() {
    let dir = scratch_dir("static");
    std::fs::write(dir.join("index.html"), INDEX).unwrap();
    std::fs::write(dir.join("app-0123456789abcdef.js"), "export {}").unwrap();
    std::fs::write(dir.join("icon.svg"), "<svg/>").unwrap();
    // Even a directory named like an app route must not turn `/b` into a redirect.
    std::fs::create_dir(dir.join("b")).unwrap();
    let server = start(Config {
        static_dir: Some(dir),
        ..Config::default()
    })
    .await;

    for path in ["/b", "/", "/index.html", "/b/", "/no/such/page"] {
        let (status, headers, body) = server.get(path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(body, INDEX, "{path}");
        assert_eq!(
            header(&headers, "cache-control"),
            Some("no-cache"),
            "{path}"
        );
        assert!(
            header(&headers, "content-type")
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
    }

    let (status, headers, body) = server.get("/app-0123456789abcdef.js").await;
    assert_eq!((status, body.as_str()), (200, "export {}"));
    assert_eq!(header(&headers, "cache-control"), Some(IMMUTABLE));

    let (status, headers, _) = server.get("/icon.svg").await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "cache-control"),
        Some("no-cache"),
        "unhashed names may change"
    );

    // The API routes still win over the fallback.
    assert_eq!(server.get("/healthz").await.2, "ok");
}

#[tokio::test]
async fn static_dir_without_index_is_rejected() {
    let dir = scratch_dir("empty-static");
    let config = Config {
        static_dir: Some(dir),
        ..Config::default()
    };
    assert!(matches!(
        Server::new(&config),
        Err(ServerError::StaticDir { .. })
    ));
}

#[tokio::test]
async fn the_app_is_served_with_security_headers() {
    let dir = scratch_dir("security-headers");
    std::fs::write(dir.join("index.html"), INDEX).unwrap();
    std::fs::write(dir.join("sw.js"), "// worker").unwrap();
    let server = start(Config {
        static_dir: Some(dir),
        ..Config::default()
    })
    .await;
    let host = server.addr.to_string();
    for path in ["/", "/b", "/sw.js", "/no/such/page"] {
        let (status, headers, _) = server.get(path).await;
        assert_eq!(status, 200, "{path}");
        let csp = header(&headers, "content-security-policy").unwrap();
        for directive in [
            "default-src 'self'".to_owned(),
            "script-src 'self' 'wasm-unsafe-eval'".to_owned(),
            format!("connect-src 'self' ws://{host} wss://{host}"),
            "img-src 'self' data:".to_owned(),
            "style-src 'self'".to_owned(),
            "frame-ancestors 'none'".to_owned(),
            "object-src 'none'".to_owned(),
            "base-uri 'none'".to_owned(),
        ] {
            assert!(
                csp.split("; ").any(|d| d == directive),
                "{path}: {directive} in {csp}"
            );
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(&headers, "referrer-policy"), Some("no-referrer"));
        assert_eq!(
            header(&headers, "cross-origin-opener-policy"),
            Some("same-origin")
        );
    }
}
