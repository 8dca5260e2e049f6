//! The signaling protocol over a real WebSocket against a real server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{start, OTHER_ROOM, ROOM};
use signaling::{
    connection::MAX_ERRORS,
    protocol::{ClientMessage, ErrorCode, IceServer, ServerMessage},
    Config,
};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn join_welcomes_with_empty_then_existing_peers() {
    let server = start(Config::default()).await;
    let (a, peers) = server.joined(ROOM).await;
    assert!(peers.is_empty());
    let (b, peers) = server.joined(ROOM).await;
    assert_eq!(peers, vec![a.id.clone()]);
    let (_c, peers) = server.joined(ROOM).await;
    assert_eq!(peers, sorted([&a.id, &b.id]));
}

#[tokio::test]
async fn welcome_lists_configured_stun_servers() {
    let config = Config {
        stun_urls: vec!["stun:stun.example:3478".into()],
        ..Config::default()
    };
    let server = start(config).await;
    let mut a = server.client().await;
    a.send(&a.join_msg(ROOM)).await;
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
    let (mut a, _) = server.joined(ROOM).await;
    let (mut b, _) = server.joined(ROOM).await;
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: b.id.clone() }
    );
    let (c, _) = server.joined(ROOM).await;
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: c.id.clone() }
    );
    assert_eq!(
        b.recv().await,
        ServerMessage::PeerJoined { peer: c.id.clone() }
    );
}

#[tokio::test]
async fn signal_reaches_only_the_named_peer() {
    let server = start(Config::default()).await;
    let (mut a, _) = server.joined(ROOM).await;
    let (mut b, _) = server.joined(ROOM).await;
    let (mut c, _) = server.joined(ROOM).await;
    a.recv().await; // b joined
    a.recv().await; // c joined
    b.recv().await; // c joined
    let data = r#"{"sdp":"v=0\r\n","kind":"offer"} not parsed by the server"#;
    a.signal(&b.id, data).await;
    assert_eq!(
        b.recv().await,
        ServerMessage::Signal {
            from: a.id.clone(),
            data: data.into()
        }
    );
    c.expect_nothing().await;
    a.expect_nothing().await;
}

#[tokio::test]
async fn signal_to_an_unknown_peer_is_refused() {
    let server = start(Config::default()).await;
    let (mut a, _) = server.joined(ROOM).await;
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
    let (mut a, _) = server.joined(ROOM).await;
    a.send(&a.join_msg(OTHER_ROOM)).await;
    a.expect_error(ErrorCode::AlreadyJoined).await;
}

#[tokio::test]
async fn bad_room_ids_are_refused() {
    let server = start(Config::default()).await;
    let mut a = server.client().await;
    for room in ["not-a-room", &"A".repeat(32), &"a".repeat(33)] {
        a.send(&ClientMessage::Join {
            version: signaling::protocol::PROTOCOL_VERSION,
            room: room.into(),
            key: "00".repeat(32),
            sig: "00".repeat(64),
        })
        .await;
        a.expect_error(ErrorCode::BadId).await;
    }
    // Still open, and a proper join works.
    assert!(a.join(ROOM).await.is_empty());
}

#[tokio::test]
async fn closing_notifies_peer_left() {
    let server = start(Config::default()).await;
    let (mut a, _) = server.joined(ROOM).await;
    let (mut b, _) = server.joined(ROOM).await;
    a.recv().await; // b joined
    b.ws.close(None).await.unwrap();
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerLeft { peer: b.id.clone() }
    );
    // Coming back is joining anew, with a new id.
    let (b2, peers) = server.joined(ROOM).await;
    assert_eq!(peers, vec![a.id.clone()]);
    assert_ne!(b2.id, b.id);
}

#[tokio::test]
async fn dropped_connection_notifies_peer_left() {
    let server = start(Config::default()).await;
    let (mut a, _) = server.joined(ROOM).await;
    let (b, _) = server.joined(ROOM).await;
    a.recv().await; // b joined
    let gone = b.id.clone();
    drop(b); // no close frame: the TCP connection just ends
    assert_eq!(a.recv().await, ServerMessage::PeerLeft { peer: gone });
}

#[tokio::test]
async fn rooms_are_isolated() {
    let server = start(Config::default()).await;
    let (mut x, peers) = server.joined(OTHER_ROOM).await;
    assert!(peers.is_empty());
    let (mut a, peers) = server.joined(ROOM).await;
    assert!(peers.is_empty(), "the other room's peer is not listed");
    let (mut b, _) = server.joined(ROOM).await;
    a.recv().await; // b joined
    b.signal(&a.id, "hello").await;
    assert_eq!(
        a.recv().await,
        ServerMessage::Signal {
            from: b.id.clone(),
            data: "hello".into()
        }
    );
    b.ws.close(None).await.unwrap();
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerLeft { peer: b.id.clone() }
    );
    x.expect_nothing().await;
    x.signal(&b.id, "hello").await;
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
    assert!(a.join(ROOM).await.is_empty());
    let (mut b, peers) = server.joined(ROOM).await;
    assert_eq!(peers, vec![a.id.clone()]);
    a.recv().await; // b joined
    a.signal(&b.id, "still here").await;
    assert_eq!(
        b.recv().await,
        ServerMessage::Signal {
            from: a.id.clone(),
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
    let (mut a, _) = server.joined(ROOM).await;
    let (mut b, _) = server.joined(ROOM).await;
    a.recv().await; // b joined
    let oversize = serde_json::to_string(&ClientMessage::Signal {
        to: b.id.clone(),
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
    assert_eq!(
        b.recv().await,
        ServerMessage::PeerLeft { peer: a.id.clone() }
    );
    b.expect_nothing().await;
}

#[tokio::test]
async fn version_mismatch_is_refused() {
    let server = start(Config::default()).await;
    let mut a = server.client().await;
    let ClientMessage::Join { room, key, sig, .. } = a.join_msg(ROOM) else {
        unreachable!()
    };
    a.send(&ClientMessage::Join {
        version: 1,
        room,
        key,
        sig,
    })
    .await;
    a.expect_error(ErrorCode::VersionMismatch).await;
    // Nobody joined.
    let (_b, peers) = server.joined(ROOM).await;
    assert!(peers.is_empty());
}

#[tokio::test]
async fn full_room_is_refused() {
    let server = start(Config {
        max_peers_per_room: 2,
        ..Config::default()
    })
    .await;
    let (_a, _) = server.joined(ROOM).await;
    let (_b, _) = server.joined(ROOM).await;
    let mut c = server.client().await;
    c.send(&c.join_msg(ROOM)).await;
    c.expect_error(ErrorCode::RoomFull).await;
    // Another room still has space.
    assert!(c.join(OTHER_ROOM).await.is_empty());
}

#[tokio::test]
async fn oversize_message_is_refused() {
    let max = 1024;
    let server = start(Config {
        max_message_bytes: max,
        ..Config::default()
    })
    .await;
    let (mut a, _) = server.joined(ROOM).await;
    let (mut b, _) = server.joined(ROOM).await;
    a.recv().await; // b joined
    a.signal(&b.id, &"x".repeat(max)).await;
    a.expect_error(ErrorCode::TooLarge).await;
    b.expect_nothing().await;
    // Just under the limit is relayed.
    let fits = "y".repeat(max - 100);
    a.signal(&b.id, &fits).await;
    assert_eq!(
        b.recv().await,
        ServerMessage::Signal {
            from: a.id.clone(),
            data: fits
        }
    );
    // Far beyond it the WebSocket layer gives up on the connection.
    a.signal(&b.id, &"z".repeat(max * 4)).await;
    a.expect_close().await;
    assert_eq!(
        b.recv().await,
        ServerMessage::PeerLeft { peer: a.id.clone() }
    );
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
    let (mut a, _) = server.joined(ROOM).await;
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
    let (mut a, _) = server.joined(ROOM).await;
    let (mut b, _) = server.joined(ROOM).await;
    a.recv().await; // b joined
    let sent = [
        format!(
            r#"{{"type":"signal","to":"{}","data":"line\nbreak \"quoted\" ünïcode"}}"#,
            b.id
        ),
        "not json at all".to_owned(),
    ];
    for text in sent.clone() {
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
    assert!(texts[0].contains(r#""type":"join""#) && texts[1].contains(r#""type":"join""#));
    assert_eq!(texts[2..], sent);
    let conn_of = |i: usize| lines[i]["conn"].as_u64().unwrap();
    assert_eq!(conn_of(0), conn_of(2));
    assert_ne!(conn_of(0), conn_of(1));
}

#[tokio::test]
async fn rate_limit_drops_excess_messages() {
    const SENT: usize = 260;
    let server = start(Config::default()).await;
    let (mut a, _) = server.joined(ROOM).await;
    let (mut b, _) = server.joined(ROOM).await;
    a.recv().await; // b joined
                    // A burst of 200 messages is allowed (the join used one), then 50 per second.
    for i in 0..SENT {
        a.signal(&b.id, &i.to_string()).await;
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
    let (mut a, _) = server.joined(ROOM).await;
    let (mut b, _) = server.joined(ROOM).await;
    // `b` never polls its socket, so it never answers a ping; `a` does (tungstenite answers
    // pings while reading) and stays.
    let started = tokio::time::Instant::now();
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: b.id.clone() }
    );
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerLeft { peer: b.id.clone() }
    );
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

fn sorted<const N: usize>(ids: [&String; N]) -> Vec<String> {
    let mut ids: Vec<String> = ids.into_iter().cloned().collect();
    ids.sort();
    ids
}
