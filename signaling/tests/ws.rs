//! The signaling protocol over a real WebSocket against a real server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{join, start, OTHER_ROOM, ROOM};
use signaling::{
    connection::MAX_ERRORS,
    protocol::{ClientMessage, ErrorCode, IceServer, ServerMessage},
    Config,
};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn join_welcomes_with_empty_then_existing_peers() {
    let server = start(Config::default()).await;
    let (_a, peers) = server.joined(ROOM, "a").await;
    assert!(peers.is_empty());
    let (_b, peers) = server.joined(ROOM, "b").await;
    assert_eq!(peers, ["a"]);
    let (_c, peers) = server.joined(ROOM, "c").await;
    assert_eq!(peers, ["a", "b"]);
}

#[tokio::test]
async fn welcome_lists_configured_stun_servers() {
    let config = Config {
        stun_urls: vec!["stun:stun.example:3478".into()],
        ..Config::default()
    };
    let server = start(config).await;
    let mut a = server.client().await;
    a.send(&join(ROOM, "a")).await;
    let ServerMessage::Welcome { ice_servers, .. } = a.recv().await else {
        panic!("no welcome")
    };
    assert_eq!(
        ice_servers,
        [IceServer {
            urls: vec!["stun:stun.example:3478".into()],
            username: None,
            credential: None
        }]
    );
}

#[tokio::test]
async fn existing_peers_are_told_of_a_newcomer() {
    let server = start(Config::default()).await;
    let (mut a, _) = server.joined(ROOM, "a").await;
    let (mut b, _) = server.joined(ROOM, "b").await;
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: "b".into() }
    );
    let (_c, _) = server.joined(ROOM, "c").await;
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: "c".into() }
    );
    assert_eq!(
        b.recv().await,
        ServerMessage::PeerJoined { peer: "c".into() }
    );
}

#[tokio::test]
async fn signal_reaches_only_the_named_peer() {
    let server = start(Config::default()).await;
    let (mut a, _) = server.joined(ROOM, "a").await;
    let (mut b, _) = server.joined(ROOM, "b").await;
    let (mut c, _) = server.joined(ROOM, "c").await;
    a.recv().await; // b joined
    a.recv().await; // c joined
    b.recv().await; // c joined
    let data = r#"{"sdp":"v=0\r\n","kind":"offer"} not parsed by the server"#;
    a.signal("b", data).await;
    assert_eq!(
        b.recv().await,
        ServerMessage::Signal {
            from: "a".into(),
            data: data.into()
        }
    );
    c.expect_nothing().await;
    a.expect_nothing().await;
}

#[tokio::test]
async fn signal_to_an_unknown_peer_is_refused() {
    let server = start(Config::default()).await;
    let (mut a, _) = server.joined(ROOM, "a").await;
    a.signal("nobody", "x").await;
    a.expect_error(ErrorCode::UnknownPeer).await;
}

#[tokio::test]
async fn signal_before_join_is_refused() {
    let server = start(Config::default()).await;
    let mut a = server.client().await;
    a.signal("b", "x").await;
    a.expect_error(ErrorCode::NotJoined).await;
}

#[tokio::test]
async fn second_join_is_refused() {
    let server = start(Config::default()).await;
    let (mut a, _) = server.joined(ROOM, "a").await;
    a.send(&join(OTHER_ROOM, "a")).await;
    a.expect_error(ErrorCode::AlreadyJoined).await;
}

#[tokio::test]
async fn taken_peer_id_is_refused() {
    let server = start(Config::default()).await;
    let (_a, _) = server.joined(ROOM, "a").await;
    let mut again = server.client().await;
    again.send(&join(ROOM, "a")).await;
    again.expect_error(ErrorCode::PeerIdTaken).await;
}

#[tokio::test]
async fn bad_ids_are_refused() {
    let server = start(Config::default()).await;
    let mut a = server.client().await;
    a.send(&join("not-a-room", "a")).await;
    a.expect_error(ErrorCode::BadId).await;
    a.send(&join(ROOM, "no spaces")).await;
    a.expect_error(ErrorCode::BadId).await;
}

#[tokio::test]
async fn closing_notifies_peer_left() {
    let server = start(Config::default()).await;
    let (mut a, _) = server.joined(ROOM, "a").await;
    let (mut b, _) = server.joined(ROOM, "b").await;
    a.recv().await; // b joined
    b.ws.close(None).await.unwrap();
    assert_eq!(a.recv().await, ServerMessage::PeerLeft { peer: "b".into() });
    // The id is free again.
    let (_b2, peers) = server.joined(ROOM, "b").await;
    assert_eq!(peers, ["a"]);
}

#[tokio::test]
async fn dropped_connection_notifies_peer_left() {
    let server = start(Config::default()).await;
    let (mut a, _) = server.joined(ROOM, "a").await;
    let (b, _) = server.joined(ROOM, "b").await;
    a.recv().await; // b joined
    drop(b); // no close frame: the TCP connection just ends
    assert_eq!(a.recv().await, ServerMessage::PeerLeft { peer: "b".into() });
}

#[tokio::test]
async fn rooms_are_isolated() {
    let server = start(Config::default()).await;
    let (mut x, peers) = server.joined(OTHER_ROOM, "a").await;
    assert!(peers.is_empty());
    let (mut a, peers) = server.joined(ROOM, "a").await;
    assert!(
        peers.is_empty(),
        "the same peer id in another room is no conflict"
    );
    let (mut b, _) = server.joined(ROOM, "b").await;
    a.recv().await; // b joined
    b.signal("a", "hello").await;
    assert_eq!(
        a.recv().await,
        ServerMessage::Signal {
            from: "b".into(),
            data: "hello".into()
        }
    );
    b.ws.close(None).await.unwrap();
    assert_eq!(a.recv().await, ServerMessage::PeerLeft { peer: "b".into() });
    x.expect_nothing().await;
    x.signal("b", "hello").await;
    x.expect_error(ErrorCode::UnknownPeer).await;
}

#[tokio::test]
async fn malformed_frames_get_bad_message_and_the_connection_lives_on() {
    let server = start(Config::default()).await;
    let mut a = server.client().await;
    a.send_text("{not json").await;
    a.expect_error(ErrorCode::BadMessage).await;
    a.send_text(r#"{"type":"dance","to":"b"}"#).await;
    a.expect_error(ErrorCode::BadMessage).await;
    a.send_text(r#"{"type":"signal","to":"b","data":"x","extra":1}"#)
        .await;
    a.expect_error(ErrorCode::BadMessage).await;
    a.send_binary(vec![0xff, 0x00, 0x13, 0x37]).await;
    a.expect_error(ErrorCode::BadMessage).await;
    // Same connection, and the server, still work.
    assert!(a.join(ROOM, "a").await.is_empty());
    let (mut b, peers) = server.joined(ROOM, "b").await;
    assert_eq!(peers, ["a"]);
    a.recv().await; // b joined
    a.signal("b", "still here").await;
    assert_eq!(
        b.recv().await,
        ServerMessage::Signal {
            from: "a".into(),
            data: "still here".into()
        }
    );
}

#[tokio::test]
async fn too_many_errors_close_the_connection() {
    let server = start(Config::default()).await;
    let mut a = server.client().await;
    for _ in 0..MAX_ERRORS {
        a.send_text("garbage").await;
    }
    for _ in 0..MAX_ERRORS {
        a.expect_error(ErrorCode::BadMessage).await;
    }
    let frame = a.expect_close().await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Policy);
}

#[tokio::test]
async fn oversize_malformed_and_binary_frames_all_count_towards_closing() {
    let max = 1024;
    let server = start(Config {
        max_message_bytes: max,
        ..Config::default()
    })
    .await;
    let (mut a, _) = server.joined(ROOM, "a").await;
    let (mut b, _) = server.joined(ROOM, "b").await;
    a.recv().await; // b joined
    let oversize = serde_json::to_string(&ClientMessage::Signal {
        to: "b".into(),
        data: "x".repeat(max + 1),
    })
    .unwrap();
    let mut expected = Vec::new();
    for i in 0..MAX_ERRORS {
        match i % 3 {
            0 => {
                a.send_text(oversize.clone()).await;
                expected.push(ErrorCode::TooLarge);
            }
            1 => {
                a.send_text(r#"{"type":"signal","to":"b"}"#).await;
                expected.push(ErrorCode::BadMessage);
            }
            _ => {
                a.send_binary(vec![0; 16]).await;
                expected.push(ErrorCode::BadMessage);
            }
        }
    }
    for code in expected {
        a.expect_error(code).await;
    }
    let frame = a.expect_close().await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Policy);
    assert_eq!(b.recv().await, ServerMessage::PeerLeft { peer: "a".into() });
    b.expect_nothing().await;
}

#[tokio::test]
async fn version_mismatch_is_refused() {
    let server = start(Config::default()).await;
    let mut a = server.client().await;
    a.send(&ClientMessage::Join {
        version: 999,
        room: ROOM.into(),
        peer: "a".into(),
    })
    .await;
    a.expect_error(ErrorCode::VersionMismatch).await;
    // Nobody joined.
    let (_b, peers) = server.joined(ROOM, "b").await;
    assert!(peers.is_empty());
}

#[tokio::test]
async fn full_room_is_refused() {
    let server = start(Config {
        max_peers_per_room: 2,
        ..Config::default()
    })
    .await;
    let (_a, _) = server.joined(ROOM, "a").await;
    let (_b, _) = server.joined(ROOM, "b").await;
    let mut c = server.client().await;
    c.send(&join(ROOM, "c")).await;
    c.expect_error(ErrorCode::RoomFull).await;
    // Another room still has space.
    assert!(c.join(OTHER_ROOM, "c").await.is_empty());
}

#[tokio::test]
async fn oversize_message_is_refused() {
    let max = 1024;
    let server = start(Config {
        max_message_bytes: max,
        ..Config::default()
    })
    .await;
    let (mut a, _) = server.joined(ROOM, "a").await;
    let (mut b, _) = server.joined(ROOM, "b").await;
    a.recv().await; // b joined
    a.signal("b", &"x".repeat(max)).await;
    a.expect_error(ErrorCode::TooLarge).await;
    b.expect_nothing().await;
    // Just under the limit is relayed.
    let fits = "y".repeat(max - 100);
    a.signal("b", &fits).await;
    assert_eq!(
        b.recv().await,
        ServerMessage::Signal {
            from: "a".into(),
            data: fits
        }
    );
    // Far beyond it the WebSocket layer gives up on the connection.
    a.signal("b", &"z".repeat(max * 4)).await;
    a.expect_close().await;
    assert_eq!(b.recv().await, ServerMessage::PeerLeft { peer: "a".into() });
}

#[tokio::test]
async fn connection_limit_is_enforced() {
    let server = start(Config {
        max_connections: 1,
        ..Config::default()
    })
    .await;
    let mut a = server.client().await;
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 503),
        other => panic!("expected 503, got {other:?}"),
    }
    a.ws.close(None).await.unwrap();
    a.expect_close().await;
    // The slot is given back once the first connection has ended.
    let deadline = tokio::time::Instant::now() + common::STEP;
    loop {
        if tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr))
            .await
            .is_ok()
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn shutdown_tells_clients_and_closes_them() {
    let server = start(Config::default()).await;
    let (mut a, _) = server.joined(ROOM, "a").await;
    let mut idle = server.client().await;
    let addr = server.addr;
    server.shutdown().await.unwrap();
    for client in [&mut a, &mut idle] {
        client.expect_error(ErrorCode::ServerShuttingDown).await;
        let frame = client.expect_close().await.expect("a close frame");
        assert_eq!(frame.code, CloseCode::Away);
    }
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening"
    );
}

#[tokio::test]
async fn capture_file_records_received_frames() {
    let path = common::scratch_dir("capture").join("frames.jsonl");
    let server = start(Config {
        capture: Some(path.clone()),
        ..Config::default()
    })
    .await;
    let (mut a, _) = server.joined(ROOM, "a").await;
    let (mut b, _) = server.joined(ROOM, "b").await;
    a.recv().await; // b joined
    let sent = [
        r#"{"type":"signal","to":"b","data":"line\nbreak \"quoted\" ünïcode"}"#,
        "not json at all",
    ];
    for text in sent {
        a.send_text(text).await;
    }
    b.recv().await; // the signal
    a.expect_error(ErrorCode::BadMessage).await;

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let texts: Vec<&str> = lines.iter().map(|l| l["text"].as_str().unwrap()).collect();
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert!(texts[0].contains(r#""peer":"a""#) && texts[1].contains(r#""peer":"b""#));
    assert_eq!(texts[2..], sent);
    let conn_of = |i: usize| lines[i]["conn"].as_u64().unwrap();
    assert_eq!(conn_of(0), conn_of(2));
    assert_ne!(conn_of(0), conn_of(1));
}

#[tokio::test]
async fn rate_limit_drops_excess_messages() {
    const SENT: usize = 260;
    let server = start(Config::default()).await;
    let (mut a, _) = server.joined(ROOM, "a").await;
    let (mut b, _) = server.joined(ROOM, "b").await;
    a.recv().await; // b joined
                    // A burst of 200 messages is allowed (the join used one), then 50 per second.
    for i in 0..SENT {
        a.signal("b", &i.to_string()).await;
    }
    let (mut relayed, mut limited) = (0, 0);
    while relayed + limited < SENT {
        tokio::select! {
            m = b.recv() => {
                assert!(matches!(m, ServerMessage::Signal { .. }), "{m:?}");
                relayed += 1;
            }
            m = a.recv() => {
                assert!(matches!(m, ServerMessage::Error { code: ErrorCode::RateLimited, .. }), "{m:?}");
                limited += 1;
            }
        }
    }
    assert!(
        relayed >= 199 && limited >= 1,
        "relayed {relayed}, limited {limited}"
    );
    // Being rate limited is no reason to close the connection; tokens come back over time.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    a.signal("nobody", "x").await;
    a.expect_error(ErrorCode::UnknownPeer).await;
}

#[tokio::test]
async fn silent_client_is_pinged_then_disconnected() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let server = start(Config {
        ping_interval_secs: 1,
        ..Config::default()
    })
    .await;
    let (mut a, _) = server.joined(ROOM, "a").await;
    let (mut b, _) = server.joined(ROOM, "b").await;
    // `b` never polls its socket, so it never answers a ping; `a` does (tungstenite answers
    // pings while reading) and stays.
    let started = tokio::time::Instant::now();
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: "b".into() }
    );
    assert_eq!(a.recv().await, ServerMessage::PeerLeft { peer: "b".into() });
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(2900),
        "after {waited:?}"
    );
    // It was pinged, then closed as idle (tungstenite's attempt to answer the ping on this dead
    // connection may fail first, hiding the close frame).
    let mut pings = 0;
    loop {
        match b.ws.next().await {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(Message::Close(frame))) => {
                assert_eq!(frame.expect("a close frame").code, CloseCode::Away);
                break;
            }
            Some(Err(_)) | None => break,
            Some(Ok(other)) => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 1, "never pinged");
    a.expect_nothing().await;
}
