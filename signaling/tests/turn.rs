//! TURN credentials handed out on `welcome`, checked with an HMAC computed here independently.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use common::{start, ROOM};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use signaling::{
    config::IcePolicy,
    config::Secret,
    ice::turn_credential,
    protocol::{IceServer, IceTransportPolicy, ServerMessage},
    Config, Server, ServerError,
};

const SECRET: &str = "meshboard-test-secret";
const TTL: u64 = 3600;

fn turn_config() -> Config {
    Config {
        stun_urls: vec!["stun:stun.example:3478".into()],
        turn_urls: vec![
            "turn:turn.example:3478?transport=udp".into(),
            "turns:turn.example:5349?transport=tcp".into(),
        ],
        turn_secret: Some(Secret::new(SECRET)),
        turn_ttl_secs: TTL,
        ..Config::default()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Joins; the welcome's peer id, ICE servers and their lifetime, and the client.
async fn welcome_ice_servers(
    server: &common::TestServer,
) -> (String, Vec<IceServer>, Option<u64>, common::Client) {
    let mut client = server.client().await;
    client.send(&client.join_msg(ROOM)).await;
    match client.recv().await {
        ServerMessage::Welcome {
            peer,
            ice_servers,
            ice_expires_in_secs,
            ..
        } => (peer, ice_servers, ice_expires_in_secs, client),
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// Checks the TURN entry of `ice` for `peer`, its expiry `ttl` from a time in `asked..=now`,
/// the way coturn does; the expiry.
fn check_turn(ice: &[IceServer], peer: &str, asked: u64, ttl: u64) -> u64 {
    assert_eq!(ice.len(), 2, "{ice:?}");
    assert_eq!(ice[0].urls, ["stun:stun.example:3478"]);
    assert_eq!(ice[0].username, None);
    let turn = &ice[1];
    assert_eq!(
        turn.urls,
        [
            "turn:turn.example:3478?transport=udp",
            "turns:turn.example:5349?transport=tcp"
        ]
    );
    let username = turn.username.as_deref().unwrap();
    let (expiry, who) = username.split_once(':').unwrap();
    assert_eq!(who, peer);
    let expiry: u64 = expiry.parse().unwrap();
    assert!(
        (asked + ttl..=unix_now() + ttl).contains(&expiry),
        "expiry {expiry}, asked at {asked}"
    );
    // What coturn does with `use-auth-secret`: HMAC-SHA1 over the username, keyed by the
    // shared secret, compared with the base64-decoded credential.
    let credential = STANDARD
        .decode(turn.credential.as_deref().unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha1>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(username.as_bytes());
    mac.verify_slice(&credential).expect("credential verifies");
    expiry
}

#[tokio::test]
async fn welcome_carries_turn_credentials_that_verify() {
    let server = start(turn_config()).await;
    let mut peers = Vec::new();
    for _ in 0..2 {
        let asked = unix_now();
        let (peer, ice, expires_in, _client) = welcome_ice_servers(&server).await;
        assert_eq!(expires_in, Some(TTL));
        check_turn(&ice, &peer, asked, TTL);
        peers.push(peer);
    }
    assert_ne!(peers[0], peers[1]);
}

#[tokio::test]
async fn turn_credentials_are_renewed_before_they_expire() {
    // Credentials for 2 s: renewed every 1.5 s (three quarters of their life).
    let ttl = 2;
    let server = start(Config {
        turn_ttl_secs: ttl,
        ..turn_config()
    })
    .await;
    let asked = unix_now();
    let started = tokio::time::Instant::now();
    let (peer, ice, expires_in, mut client) = welcome_ice_servers(&server).await;
    assert_eq!(expires_in, Some(ttl));
    let mut expiry = check_turn(&ice, &peer, asked, ttl);
    let mut deadline = started + std::time::Duration::from_secs(ttl);
    for _ in 0..2 {
        let asked = unix_now();
        let renewed = tokio::time::timeout_at(deadline, client.recv())
            .await
            .expect("no renewal before the credentials expired");
        let ServerMessage::IceServers {
            ice_servers,
            ice_expires_in_secs,
            ice_transport_policy,
        } = renewed
        else {
            panic!("expected ice_servers, got {renewed:?}")
        };
        assert_eq!(ice_expires_in_secs, Some(ttl));
        assert_eq!(ice_transport_policy, IceTransportPolicy::All);
        let renewed_expiry = check_turn(&ice_servers, &peer, asked, ttl);
        assert!(renewed_expiry >= expiry, "{renewed_expiry} < {expiry}");
        expiry = renewed_expiry;
        deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(ttl);
    }
    // An unjoined socket gets no credentials at all.
    let mut idle = server.client().await;
    idle.expect_nothing().await;
}

#[tokio::test]
async fn renewals_do_not_keep_a_silent_client_from_being_dropped_as_idle() {
    // Renewals every 1.5 s; a client silent for 3 s (three pings unanswered) is idle.
    let server = start(Config {
        turn_ttl_secs: 2,
        ping_interval_secs: 1,
        ..turn_config()
    })
    .await;
    let (mut a, _) = server.joined(ROOM).await;
    // `b` never polls its socket, so it answers no ping.
    let (b, _) = server.joined(ROOM).await;
    let started = tokio::time::Instant::now();
    let deadline = started + std::time::Duration::from_secs(8);
    loop {
        let msg = tokio::time::timeout_at(deadline, a.recv())
            .await
            .expect("the silent peer was never dropped");
        match msg {
            ServerMessage::PeerLeft { peer } => {
                assert_eq!(peer, b.id);
                break;
            }
            ServerMessage::IceServers { .. } | ServerMessage::PeerJoined { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let waited = started.elapsed();
    assert!(
        waited < std::time::Duration::from_secs(6),
        "dropped after {waited:?}"
    );
}

#[test]
fn turn_credential_matches_known_answers() {
    // python3 -c "import hmac,hashlib,base64; print(base64.b64encode(hmac.new(
    //   b'meshboard-test-secret', b'1700000000:alice', hashlib.sha1).digest()).decode())"
    assert_eq!(
        turn_credential(SECRET, "1700000000:alice"),
        "rrlCKfllCgm5Q14iNct5an221nQ="
    );
    // The classic HMAC-SHA1 example: de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9.
    assert_eq!(
        turn_credential("key", "The quick brown fox jumps over the lazy dog"),
        "3nybhbi3iqa8ino29wqQcBydtNk="
    );
}

#[tokio::test]
async fn without_turn_only_stun_is_handed_out() {
    let server = start(Config {
        stun_urls: vec!["stun:stun.example:3478".into()],
        ..Config::default()
    })
    .await;
    let (_, ice, expires_in, mut client) = welcome_ice_servers(&server).await;
    assert_eq!(expires_in, None, "nothing expires without TURN");
    assert_eq!(ice.len(), 1);
    // Nothing to renew either.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    client.expect_nothing().await;
    assert!(ice.iter().all(|s| s.credential.is_none()));
}

#[test]
fn turn_url_without_secret_stops_the_server_from_starting() {
    let config = Config {
        turn_urls: vec!["turn:turn.example:3478".into()],
        ..Config::default()
    };
    assert!(matches!(
        Server::new(&config),
        Err(ServerError::TurnWithoutSecret)
    ));
}

#[test]
fn relay_only_without_turn_stops_the_server_from_starting() {
    let config = Config {
        stun_urls: vec!["stun:stun.example:3478".into()],
        ice_transport_policy: IcePolicy::Relay,
        ..Config::default()
    };
    assert!(matches!(
        Server::new(&config),
        Err(ServerError::RelayWithoutTurn)
    ));
}

/// The policy travels on `welcome` and on every renewal; without the flag it is absent (`all`).
#[tokio::test]
async fn relay_only_policy_is_handed_out_with_the_ice_servers() {
    let server = start(turn_config()).await;
    let mut client = server.client().await;
    client.send(&client.join_msg(ROOM)).await;
    let ServerMessage::Welcome {
        ice_transport_policy,
        ..
    } = client.recv().await
    else {
        panic!("expected welcome");
    };
    assert_eq!(ice_transport_policy, IceTransportPolicy::All);

    let server = start(Config {
        ice_transport_policy: IcePolicy::Relay,
        turn_ttl_secs: 2,
        ..turn_config()
    })
    .await;
    let asked = unix_now();
    let mut client = server.client().await;
    client.send(&client.join_msg(ROOM)).await;
    let ServerMessage::Welcome {
        peer,
        ice_servers,
        ice_transport_policy,
        ..
    } = client.recv().await
    else {
        panic!("expected welcome");
    };
    assert_eq!(ice_transport_policy, IceTransportPolicy::Relay);
    check_turn(&ice_servers, &peer, asked, 2);
    let renewed = tokio::time::timeout(std::time::Duration::from_secs(3), client.recv())
        .await
        .expect("no renewal");
    assert!(
        matches!(
            renewed,
            ServerMessage::IceServers {
                ice_transport_policy: IceTransportPolicy::Relay,
                ..
            }
        ),
        "{renewed:?}"
    );
}
