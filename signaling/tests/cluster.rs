//! `--redis-url`: instances of the real binary share rooms through a real `redis-server`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use common::{
    client_at, http_get, process::ServerProcess, prometheus::Scrape, redis::RedisServer, Client,
    OTHER_ROOM, ROOM, STEP,
};
use signaling::protocol::{ErrorCode, ServerMessage};

/// Member TTL of the instances under test: short, so that a dead instance's members go soon.
const TTL_SECS: u64 = 2;

/// An instance on `redis` (with extra `args`; the member TTL is [`TTL_SECS`] unless they set
/// it), once it says it is in sync with Redis.
async fn instance(name: &str, redis: &RedisServer, args: &[&str]) -> ServerProcess {
    let ttl = TTL_SECS.to_string();
    let url = redis.url();
    let mut all = vec!["--redis-url", &url];
    if !args.contains(&"--redis-member-ttl-secs") {
        all.extend(["--redis-member-ttl-secs", &ttl]);
    }
    all.extend_from_slice(args);
    let server = ServerProcess::spawn(name, &all, None);
    redis_state(server.addr, "up").await;
    server
}

/// Waits until `/healthz` at `addr` says `redis: <state>`.
async fn redis_state(addr: SocketAddr, state: &str) {
    let want = format!("ok\nredis: {state}\n");
    let deadline = Instant::now() + STEP * 2;
    loop {
        let (status, _, body) = http_get(addr, "/healthz").await;
        assert_eq!(status, 200);
        if body == want {
            return;
        }
        assert!(Instant::now() < deadline, "redis never {state}: {body:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metrics(addr: SocketAddr) -> Scrape {
    Scrape::parse(&http_get(addr, "/metrics").await.2).unwrap()
}

async fn joined(addr: SocketAddr, room: &str) -> (Client, Vec<String>) {
    let mut client = client_at(addr).await;
    let peers = client.join(room).await;
    (client, peers)
}

async fn expect_signal(client: &mut Client, from: &str, data: &str) {
    assert_eq!(
        client.recv().await,
        ServerMessage::Signal {
            from: from.into(),
            data: data.into()
        }
    );
}

fn sorted<const N: usize>(ids: [&String; N]) -> Vec<String> {
    let mut ids: Vec<String> = ids.into_iter().cloned().collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn peers_on_two_instances_meet_and_signal_both_ways() {
    let redis = RedisServer::start();
    let one = instance("cluster-two-1", &redis, &[]).await;
    let two = instance("cluster-two-2", &redis, &[]).await;
    let (mut a, peers) = joined(one.addr, ROOM).await;
    assert!(peers.is_empty());
    let (mut b, peers) = joined(two.addr, ROOM).await;
    assert_eq!(peers, [a.id.clone()]);
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: b.id.clone() }
    );

    a.signal(&b.id, "offer from one").await;
    expect_signal(&mut b, &a.id, "offer from one").await;
    b.signal(&a.id, "answer from two").await;
    expect_signal(&mut a, &b.id, "answer from two").await;

    // Another room on the same instances stays apart.
    let (_c, peers) = joined(two.addr, OTHER_ROOM).await;
    assert!(peers.is_empty());
    a.expect_nothing().await;
    let scrape = metrics(one.addr).await;
    assert_eq!(scrape.value("meshboard_signaling_redis_up", &[]), 1.0);
    assert_eq!(scrape.value("meshboard_signaling_remote_peers", &[]), 1.0);
    assert!(scrape.value("meshboard_signaling_cluster_signals_published_total", &[]) >= 1.0);
}

#[tokio::test]
async fn a_burst_of_signals_crosses_instances_in_order() {
    let redis = RedisServer::start();
    let one = instance("cluster-burst-1", &redis, &[]).await;
    let two = instance("cluster-burst-2", &redis, &[]).await;
    let (mut a, _) = joined(one.addr, ROOM).await;
    let (mut b, _) = joined(two.addr, ROOM).await;
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: b.id.clone() }
    );
    // Within the default burst of the rate limit.
    for i in 0..150 {
        a.signal(&b.id, &format!("candidate {i}")).await;
    }
    for i in 0..150 {
        expect_signal(&mut b, &a.id, &format!("candidate {i}")).await;
    }
    b.expect_nothing().await;
}

#[tokio::test]
async fn a_leave_on_one_instance_is_seen_on_the_other() {
    let redis = RedisServer::start();
    let one = instance("cluster-leave-1", &redis, &[]).await;
    let two = instance("cluster-leave-2", &redis, &[]).await;
    let (mut a, _) = joined(one.addr, ROOM).await;
    let (b, _) = joined(two.addr, ROOM).await;
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: b.id.clone() }
    );
    let gone = b.id.clone();
    drop(b);
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerLeft { peer: gone.clone() }
    );
    // And a newcomer on either instance does not see it.
    let (_c, peers) = joined(two.addr, ROOM).await;
    assert_eq!(peers, [a.id.clone()]);
}

#[tokio::test]
async fn an_instance_that_shuts_down_takes_its_members_out_at_once() {
    let redis = RedisServer::start();
    // A long TTL: what is seen here is the goodbye, not the expiry.
    let ttl = ["--redis-member-ttl-secs", "60"];
    let one = instance("cluster-term-1", &redis, &ttl).await;
    let two = instance("cluster-term-2", &redis, &ttl).await;
    let (mut a, _) = joined(one.addr, ROOM).await;
    let (mut b, _) = joined(two.addr, ROOM).await;
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: b.id.clone() }
    );
    let term = std::process::Command::new("kill")
        .args(["-TERM", &two.pid().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    b.expect_error(ErrorCode::ServerShuttingDown).await;
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerLeft { peer: b.id.clone() }
    );
}

#[tokio::test]
async fn three_instances_make_one_room() {
    let redis = RedisServer::start();
    let one = instance("cluster-three-1", &redis, &[]).await;
    let two = instance("cluster-three-2", &redis, &[]).await;
    let three = instance("cluster-three-3", &redis, &[]).await;
    let (mut a, _) = joined(one.addr, ROOM).await;
    let (mut b, peers) = joined(two.addr, ROOM).await;
    assert_eq!(peers, [a.id.clone()]);
    let (mut c, peers) = joined(three.addr, ROOM).await;
    assert_eq!(peers, sorted([&a.id, &b.id]));
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: b.id.clone() }
    );
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: c.id.clone() }
    );
    assert_eq!(
        b.recv().await,
        ServerMessage::PeerJoined { peer: c.id.clone() }
    );

    a.signal(&c.id, "one to three").await;
    expect_signal(&mut c, &a.id, "one to three").await;
    c.signal(&b.id, "three to two").await;
    expect_signal(&mut b, &c.id, "three to two").await;
    b.signal(&a.id, "two to one").await;
    expect_signal(&mut a, &b.id, "two to one").await;
    // Each signal went to its peer only.
    a.expect_nothing().await;
    b.expect_nothing().await;
    c.expect_nothing().await;
}

#[tokio::test]
async fn the_members_of_a_killed_instance_vanish_within_the_ttl() {
    let redis = RedisServer::start();
    let one = instance("cluster-kill-1", &redis, &[]).await;
    let two = instance("cluster-kill-2", &redis, &[]).await;
    let (mut a, _) = joined(one.addr, ROOM).await;
    let (b, _) = joined(two.addr, ROOM).await;
    let (c, _) = joined(two.addr, ROOM).await;
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: b.id.clone() }
    );
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: c.id.clone() }
    );

    let killed = Instant::now();
    // SIGKILL: no goodbye, its members stay in Redis until they expire.
    drop(two);
    let mut left = Vec::new();
    for _ in 0..2 {
        match a.recv().await {
            ServerMessage::PeerLeft { peer } => left.push(peer),
            other => panic!("expected peer_left, got {other:?}"),
        }
    }
    left.sort();
    assert_eq!(left, sorted([&b.id, &c.id]));
    // Within the TTL, plus one refresh period of the surviving instance and some slack.
    let within = Duration::from_secs(TTL_SECS) + Duration::from_secs(TTL_SECS) / 3;
    assert!(
        killed.elapsed() < within + Duration::from_millis(1500),
        "took {:?}",
        killed.elapsed()
    );
    let (_d, peers) = joined(one.addr, ROOM).await;
    assert_eq!(peers, [a.id.clone()]);
}

#[tokio::test]
async fn the_room_limit_holds_across_instances() {
    let redis = RedisServer::start();
    let limit = ["--max-peers-per-room", "2"];
    let one = instance("cluster-limit-1", &redis, &limit).await;
    let two = instance("cluster-limit-2", &redis, &limit).await;
    let (_a, _) = joined(one.addr, ROOM).await;
    let (b, _) = joined(two.addr, ROOM).await;
    for addr in [one.addr, two.addr] {
        let mut c = client_at(addr).await;
        c.send(&c.join_msg(ROOM)).await;
        c.expect_error(ErrorCode::RoomFull).await;
    }
    // A place freed on one instance can be taken on the other.
    drop(b);
    let deadline = Instant::now() + STEP;
    loop {
        let mut c = client_at(one.addr).await;
        c.send(&c.join_msg(ROOM)).await;
        match c.recv().await {
            ServerMessage::Welcome { peers, .. } => {
                assert_eq!(peers.len(), 1);
                break;
            }
            ServerMessage::Error {
                code: ErrorCode::RoomFull,
                ..
            } if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("expected welcome, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn without_redis_each_instance_serves_alone_then_shares_again() {
    let mut redis = RedisServer::start();
    let one = instance("cluster-outage-1", &redis, &[]).await;
    let two = instance("cluster-outage-2", &redis, &[]).await;
    let (mut a, _) = joined(one.addr, ROOM).await;
    let (b, _) = joined(two.addr, ROOM).await;
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerJoined { peer: b.id.clone() }
    );

    redis.stop();
    redis_state(one.addr, "down").await;
    redis_state(two.addr, "down").await;
    let scrape = metrics(one.addr).await;
    assert_eq!(scrape.value("meshboard_signaling_redis_up", &[]), 0.0);

    // Each instance still serves its own rooms.
    let (mut c, peers) = joined(one.addr, OTHER_ROOM).await;
    assert!(peers.is_empty());
    let (mut d, peers) = joined(one.addr, OTHER_ROOM).await;
    assert_eq!(peers, [c.id.clone()]);
    assert_eq!(
        c.recv().await,
        ServerMessage::PeerJoined { peer: d.id.clone() }
    );
    c.signal(&d.id, "while redis is down").await;
    expect_signal(&mut d, &c.id, "while redis is down").await;

    // Back (empty): both register their members again and share rooms as before.
    redis.restart();
    redis_state(one.addr, "up").await;
    redis_state(two.addr, "up").await;
    let (mut e, peers) = joined(two.addr, OTHER_ROOM).await;
    assert_eq!(peers, sorted([&c.id, &d.id]));
    assert_eq!(
        c.recv().await,
        ServerMessage::PeerJoined { peer: e.id.clone() }
    );
    e.signal(&c.id, "after the outage").await;
    expect_signal(&mut c, &e.id, "after the outage").await;
    c.signal(&e.id, "and back").await;
    expect_signal(&mut e, &c.id, "and back").await;
    // The first room kept its members across the outage, and nobody was announced twice.
    let (_f, peers) = joined(two.addr, ROOM).await;
    assert_eq!(peers, sorted([&a.id, &b.id]));
    let scrape = metrics(one.addr).await;
    assert!(scrape.value("meshboard_signaling_redis_connections_total", &[]) >= 2.0);
}

/// Runs `redis-cli` against `redis` with `args`; with `last`, that one more argument is given on
/// stdin (`-x`: no limit on its size).
fn redis_cli(redis: &RedisServer, args: &[&str], last: Option<&str>) {
    let mut command = std::process::Command::new("redis-cli");
    command.args(["-p", &redis.port.to_string()]);
    if last.is_some() {
        command.arg("-x");
    }
    let mut cli = command
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = cli.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, last.unwrap_or_default().as_bytes()).unwrap();
    drop(stdin);
    assert!(cli.wait().unwrap().success());
}

#[tokio::test]
async fn members_lost_by_redis_are_registered_again() {
    let redis = RedisServer::start();
    let one = instance("cluster-flush-1", &redis, &[]).await;
    let two = instance("cluster-flush-2", &redis, &[]).await;
    let (a, _) = joined(one.addr, ROOM).await;
    // Redis forgets everything while the instances stay connected (as after a failover to an
    // empty replica): the next refreshes find their members gone and add them again.
    redis_cli(&redis, &["FLUSHALL"], None);
    let (_b, peers) = joined(two.addr, ROOM).await;
    assert!(peers.is_empty(), "{peers:?}");
    let deadline = Instant::now() + STEP;
    loop {
        let (_c, peers) = joined(two.addr, ROOM).await;
        if peers.contains(&a.id) {
            break;
        }
        assert!(Instant::now() < deadline, "never registered again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn garbage_in_redis_is_dropped_and_counted() {
    let redis = RedisServer::start();
    let one = instance("cluster-garbage-1", &redis, &["--max-peers-per-room", "4"]).await;
    let (mut a, _) = joined(one.addr, ROOM).await;
    for payload in [
        "not json".to_owned(),
        r#"{"type":"joined","room":"BAD","peer":"p","instance":"i"}"#.to_owned(),
        "x".repeat(200_000),
    ] {
        redis_cli(&redis, &["PUBLISH", "meshboard:members"], Some(&payload));
    }
    let deadline = Instant::now() + STEP;
    while metrics(one.addr)
        .await
        .value("meshboard_signaling_cluster_messages_dropped_total", &[])
        < 3.0
    {
        assert!(Instant::now() < deadline, "garbage not counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.expect_nothing().await;
    // Well-formed but made up: a flood of members for a's room is capped at the room limit.
    let room = common::room_id(ROOM);
    for i in 0..20 {
        let fake =
            format!(r#"{{"type":"joined","room":"{room}","peer":"fake{i}","instance":"ghost"}}"#);
        redis_cli(&redis, &["PUBLISH", "meshboard:members"], Some(&fake));
    }
    for i in 0..4 {
        assert_eq!(
            a.recv().await,
            ServerMessage::PeerJoined {
                peer: format!("fake{i}")
            }
        );
    }
    a.expect_nothing().await;
    redis_state(one.addr, "up").await;
}

#[test]
fn a_redis_url_that_is_not_one_stops_the_server_from_starting() {
    let config = signaling::Config {
        redis_url: Some(signaling::config::Secret::new(
            "http://:hunter2@127.0.0.1:6379",
        )),
        ..signaling::Config::default()
    };
    assert!(!format!("{config:?}").contains("hunter2"));
    let error = signaling::Server::new(&config).unwrap_err();
    assert!(error.to_string().contains("--redis-url"), "{error}");
    assert!(!error.to_string().contains("hunter2"), "{error}");
}
