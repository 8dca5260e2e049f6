//! The `Origin` allowlist on `/ws`: same origin by default, listed origins, 403 otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{start, ROOM};
use signaling::{Config, Server, ServerError};
use tokio_tungstenite::tungstenite::Error;

const REFUSED: &str = "meshboard_signaling_connections_refused_total";

fn assert_forbidden(result: Result<common::Client, Error>) {
    match result {
        Err(Error::Http(res)) => assert_eq!(res.status(), 403),
        Err(other) => panic!("expected 403, got {other:?}"),
        Ok(_) => panic!("expected 403, got a connection"),
    }
}

#[tokio::test]
async fn without_origin_header_is_allowed() {
    let server = start(Config::default()).await;
    let mut a = server.client().await;
    assert!(a.join(ROOM).await.is_empty());
}

#[tokio::test]
async fn same_origin_is_allowed_by_default() {
    let server = start(Config::default()).await;
    let origin = format!("http://{}", server.addr);
    let mut a = server.connect_with_origin(&origin).await.unwrap();
    assert!(a.join(ROOM).await.is_empty());
}

#[tokio::test]
async fn foreign_origin_is_refused_with_403_and_counted() {
    let server = start(Config::default()).await;
    let other_port = format!("http://127.0.0.1:{}", server.addr.port() ^ 1);
    for origin in ["https://evil.example", other_port.as_str(), "null"] {
        assert_forbidden(server.connect_with_origin(origin).await);
    }
    let scrape = server.metrics().await;
    assert_eq!(scrape.value(REFUSED, &[("reason", "origin")]), 3.0);
    assert_eq!(
        scrape.value("meshboard_signaling_connections_accepted_total", &[]),
        0.0
    );
}

#[tokio::test]
async fn listed_origins_are_allowed_and_others_still_refused() {
    let server = start(Config {
        allowed_origins: vec![
            "https://board.example".into(),
            "http://localhost:3000".into(),
        ],
        ..Config::default()
    })
    .await;
    for origin in ["https://board.example", "http://localhost:3000"] {
        let mut client = server.connect_with_origin(origin).await.unwrap();
        client.join(ROOM).await;
    }
    // The server's own origin stays allowed.
    let own = format!("http://{}", server.addr);
    assert!(server.connect_with_origin(&own).await.is_ok());
    assert_forbidden(server.connect_with_origin("http://board.example").await);
    assert_forbidden(server.connect_with_origin("https://evil.example").await);
}

#[tokio::test]
async fn any_origin_when_star_is_listed() {
    let server = start(Config {
        allowed_origins: vec!["*".into()],
        ..Config::default()
    })
    .await;
    assert!(server
        .connect_with_origin("https://anywhere.example")
        .await
        .is_ok());
}

#[test]
fn malformed_allowlist_entry_stops_the_server_from_starting() {
    let config = Config {
        allowed_origins: vec!["board.example".into()],
        ..Config::default()
    };
    assert!(matches!(
        Server::new(&config),
        Err(ServerError::BadOrigin { .. })
    ));
}
