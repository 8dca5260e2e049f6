//! Admission: a join must prove the link (an Ed25519 signature over this socket's challenge by
//! the key whose hash is the room id), and peer ids are the server's choice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{room_id, start, Client, RoomKey, TestServer, OTHER_ROOM, ROOM};
use signaling::{
    protocol::{ClientMessage, ErrorCode, ServerMessage, PROTOCOL_VERSION},
    Config,
};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn join_with(room: String, key: String, sig: String) -> ClientMessage {
    ClientMessage::Join {
        version: PROTOCOL_VERSION,
        room,
        key,
        sig,
    }
}

/// `client` sends `join` and is refused with `bad_proof`, then closed with a policy close.
async fn refused(mut client: Client, join: &ClientMessage) {
    client.send(join).await;
    client.expect_error(ErrorCode::BadProof).await;
    let frame = client.expect_close().await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Policy);
}

/// A legitimate member of [`ROOM`] that must hear of no one else joining.
async fn member(server: &TestServer) -> Client {
    let (a, peers) = server.joined(ROOM).await;
    assert!(peers.is_empty());
    a
}

#[tokio::test]
async fn a_join_without_a_valid_signature_is_refused_and_closed() {
    let server = start(Config::default()).await;
    let mut a = member(&server).await;
    let key = RoomKey::named(ROOM);
    // The right room and key (anyone who knows the room id may know them: the key is public)
    // with signatures that are not the key's.
    for sig in ["00".repeat(64), "ff".repeat(64), "1".repeat(128)] {
        let c = server.client().await;
        refused(c, &join_with(key.room_id(), key.public_hex(), sig)).await;
    }
    // The right key's signature of something else than this socket's challenge.
    let c = server.client().await;
    let sig = key.sign(&"00".repeat(32), &key.room_id());
    refused(c, &join_with(key.room_id(), key.public_hex(), sig)).await;
    // Malformed and huge fields are refused before anything is decoded.
    for (k, s) in [
        ("zz".repeat(32), "00".repeat(64)),
        (key.public_hex().to_uppercase(), "00".repeat(64)),
        ("0".repeat(20_000), "00".repeat(64)),
        (key.public_hex(), "é".repeat(64)),
        (key.public_hex(), String::new()),
    ] {
        let c = server.client().await;
        refused(c, &join_with(key.room_id(), k, s)).await;
    }
    a.expect_nothing().await;
    let (_b, peers) = server.joined(ROOM).await;
    assert_eq!(peers, vec![a.id.clone()]);
}

#[tokio::test]
async fn a_signature_replayed_on_another_connection_is_refused() {
    let server = start(Config::default()).await;
    let mut a = server.client().await;
    let captured = a.join_msg(ROOM);
    a.send(&captured).await;
    assert!(matches!(a.recv().await, ServerMessage::Welcome { .. }));
    // The very same join, byte for byte, on a new socket: its challenge is another.
    let eve = server.client().await;
    assert_ne!(eve.nonce, a.nonce);
    refused(eve, &captured).await;
    // Also before the original is used: a join signed for one socket is no good on another.
    let fresh = server.client().await;
    let early = fresh.join_msg(ROOM);
    let eve = server.client().await;
    refused(eve, &early).await;
    a.expect_nothing().await;
}

#[tokio::test]
async fn another_rooms_key_does_not_open_a_room() {
    let server = start(Config::default()).await;
    let mut a = member(&server).await;
    let ours = RoomKey::named(ROOM);
    let theirs = RoomKey::named(OTHER_ROOM);
    // A valid proof for the other room, presented as a join to ours.
    let c = server.client().await;
    let sig = theirs.sign(&c.nonce, &ours.room_id());
    refused(c, &join_with(ours.room_id(), theirs.public_hex(), sig)).await;
    // Our public key, signed by theirs.
    let c = server.client().await;
    let sig = theirs.sign(&c.nonce, &ours.room_id());
    refused(c, &join_with(ours.room_id(), ours.public_hex(), sig)).await;
    a.expect_nothing().await;
}

#[tokio::test]
async fn a_room_id_that_is_not_the_hash_of_the_key_is_refused() {
    let server = start(Config::default()).await;
    let mut a = member(&server).await;
    let key = RoomKey::named(OTHER_ROOM);
    // A properly signed join whose room id is ours, not the hash of the key that signed.
    let c = server.client().await;
    let target = room_id(ROOM);
    let sig = key.sign(&c.nonce, &target);
    refused(c, &join_with(target, key.public_hex(), sig)).await;
    // Any room id of the right form but not the key's.
    let c = server.client().await;
    let made_up = "0123456789abcdef0123456789abcdef".to_owned();
    let sig = key.sign(&c.nonce, &made_up);
    refused(c, &join_with(made_up, key.public_hex(), sig)).await;
    a.expect_nothing().await;
}

#[tokio::test]
async fn a_party_with_only_the_room_id_cannot_fill_the_room() {
    let server = start(Config {
        max_peers_per_room: 2,
        ..Config::default()
    })
    .await;
    let mut a = member(&server).await;
    let key = RoomKey::named(ROOM);
    for _ in 0..10 {
        let c = server.client().await;
        refused(
            c,
            &join_with(key.room_id(), key.public_hex(), "00".repeat(64)),
        )
        .await;
    }
    let (b, peers) = server.joined(ROOM).await;
    assert_eq!(peers, vec![a.id.clone()]);
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: b.id.clone() }
    );
}

#[tokio::test]
async fn peer_ids_are_assigned_by_the_server_and_new_on_reconnect() {
    let server = start(Config::default()).await;
    // A client cannot name itself: `peer` is no field of a join.
    let mut c = server.client().await;
    let ClientMessage::Join { room, key, sig, .. } = c.join_msg(ROOM) else {
        unreachable!()
    };
    c.send_text(format!(
        r#"{{"type":"join","version":{PROTOCOL_VERSION},"room":"{room}","key":"{key}","sig":"{sig}","peer":"me"}}"#
    ))
    .await;
    c.expect_error(ErrorCode::BadMessage).await;

    let (mut a, _) = server.joined(ROOM).await;
    let (mut b, peers) = server.joined(ROOM).await;
    assert_eq!(peers, vec![a.id.clone()]);
    assert_ne!(a.id, b.id);
    for id in [&a.id, &b.id] {
        assert_eq!(id.len(), 22, "{id}");
    }
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: b.id.clone() }
    );
    // b reconnects: it is a new peer, and the old id is gone.
    let old = b.id.clone();
    b.ws.close(None).await.unwrap();
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerLeft { peer: old.clone() }
    );
    let (b2, peers) = server.joined(ROOM).await;
    assert_ne!(b2.id, old);
    assert_ne!(b2.id, a.id);
    assert_eq!(peers, vec![a.id.clone()]);
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined {
            peer: b2.id.clone()
        }
    );
    a.signal(&old, "to the old id").await;
    a.expect_error(ErrorCode::UnknownPeer).await;
}
