//! Fairness: one address cannot take every WebSocket slot, and a socket that never joins a room
//! does not keep one. Default configuration throughout (global cap 1,024, per-IP cap 64, join
//! deadline 10 s), so that the same tests run against a server without these limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{process::raw_upgrade, start, Client, ROOM, STEP};
use signaling::Config;
use tokio::{net::TcpSocket, time::timeout};
use tokio_tungstenite::tungstenite::Message;

/// The server's default global cap on WebSocket connections.
const GLOBAL_CAP: usize = 1024;
/// The documented default join deadline, and how much later the close may come.
const JOIN_DEADLINE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn unjoined_sockets_from_one_address_leave_room_for_another() {
    let server = start(Config::default()).await;
    // Open unjoined sockets from 127.0.0.1 until the server refuses one (or every slot is taken).
    let mut held = Vec::new();
    while held.len() < GLOBAL_CAP {
        let socket = TcpSocket::new_v4().unwrap();
        match raw_upgrade(socket, server.addr).await {
            Some(tcp) => held.push(tcp),
            None => break,
        }
    }
    assert!(
        held.len() < GLOBAL_CAP,
        "one address took all {GLOBAL_CAP} slots"
    );

    // Another address still gets in and joins.
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let tcp = timeout(STEP, socket.connect(server.addr))
        .await
        .unwrap()
        .unwrap();
    let (ws, _) = timeout(
        STEP,
        tokio_tungstenite::client_async(
            format!("ws://{}/ws", server.addr),
            tokio_tungstenite::MaybeTlsStream::Plain(tcp),
        ),
    )
    .await
    .unwrap()
    .expect("a client from 127.0.0.2 is refused");
    let mut client = Client::new(ws).await;
    assert!(client.join(ROOM).await.is_empty());
    drop(held);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_socket_that_never_joins_is_closed() {
    let server = start(Config::default()).await;
    let mut client = server.client().await;
    let closed = timeout(JOIN_DEADLINE + STEP, async {
        use futures_util::StreamExt;
        loop {
            // Pings are answered while reading: only the join deadline can close it.
            match client.ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return None,
            }
        }
    })
    .await
    .expect("an unjoined socket stayed open past the join deadline");
    let frame = closed.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1008);
    server.shutdown().await.unwrap();
}
