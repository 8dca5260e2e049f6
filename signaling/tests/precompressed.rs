//! The built app is served precompressed: `NAME.br` or `NAME.gz` as written by
//! `cargo xtask precompress`, chosen by `Accept-Encoding`, with the original's type and caching.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{header, scratch_dir, start, TestServer};
use signaling::{static_files::IMMUTABLE, Config};

const WASM: &str = "/app-0123456789abcdef_bg.wasm";

/// `name`: a scratch directory of its own (tests run in parallel).
async fn server_with_precompressed_files(name: &str) -> TestServer {
    let dir = scratch_dir(name);
    let write = |name: &str, body: &str| std::fs::write(dir.join(name), body).unwrap();
    write("index.html", "<!doctype html><title>plain</title>");
    write("index.html.br", "index-as-brotli");
    write("index.html.gz", "index-as-gzip");
    write(&WASM[1..], "plain-wasm");
    write(&format!("{}.br", &WASM[1..]), "wasm-as-brotli");
    write(&format!("{}.gz", &WASM[1..]), "wasm-as-gzip");
    start(Config {
        static_dir: Some(dir),
        ..Config::default()
    })
    .await
}

#[tokio::test]
async fn brotli_is_preferred_and_keeps_the_type_and_the_caching() {
    let server = server_with_precompressed_files("precompressed-br").await;
    let (status, headers, body) = server
        .get_with(WASM, &["Accept-Encoding: gzip, deflate, br, zstd"])
        .await;
    assert_eq!((status, body.as_str()), (200, "wasm-as-brotli"));
    assert_eq!(header(&headers, "content-encoding"), Some("br"));
    assert_eq!(header(&headers, "content-type"), Some("application/wasm"));
    assert_eq!(header(&headers, "cache-control"), Some(IMMUTABLE));
    assert_eq!(header(&headers, "vary"), Some("accept-encoding"));
}

#[tokio::test]
async fn gzip_when_brotli_is_not_accepted_and_plain_when_nothing_is() {
    let server = server_with_precompressed_files("precompressed-gzip").await;
    let (_, headers, body) = server.get_with(WASM, &["Accept-Encoding: gzip"]).await;
    assert_eq!(body, "wasm-as-gzip");
    assert_eq!(header(&headers, "content-encoding"), Some("gzip"));

    let (_, headers, body) = server.get(WASM).await;
    assert_eq!(body, "plain-wasm");
    assert_eq!(header(&headers, "content-encoding"), None);
    assert_eq!(header(&headers, "vary"), Some("accept-encoding"));
}

#[tokio::test]
async fn app_routes_get_the_precompressed_index_without_long_caching() {
    let server = server_with_precompressed_files("precompressed-index").await;
    for path in ["/", "/b", "/index.html"] {
        let (status, headers, body) = server.get_with(path, &["Accept-Encoding: br"]).await;
        assert_eq!((status, body.as_str()), (200, "index-as-brotli"), "{path}");
        assert_eq!(header(&headers, "content-encoding"), Some("br"), "{path}");
        assert!(header(&headers, "content-type")
            .unwrap()
            .starts_with("text/html"));
        assert_eq!(
            header(&headers, "cache-control"),
            Some("no-cache"),
            "{path}"
        );
    }
}
