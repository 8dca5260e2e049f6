//! Two of the peer's own WebRTC links (str0m on both ends, over loopback UDP) prove the board's
//! link to each other before any frame flows, and a peer with another key is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crdt::secure::Role;
use meshboard_peer::error::LinkError;
use meshboard_peer::rtc_link::{self, LinkCommand, LinkEvent, LinkHandle, LinkSpec};
use meshboard_peer::RemotePeer;
use tokio::sync::mpsc;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Pair {
    offerer: LinkHandle,
    answerer: LinkHandle,
    reports: mpsc::Receiver<(RemotePeer, u64, LinkEvent)>,
}

/// Link `a` (offerer, key `ka`) and `b` (answerer, key `kb`), relaying their descriptions.
async fn pair(ka: [u8; 32], kb: [u8; 32]) -> Pair {
    let (tx, reports) = mpsc::channel(64);
    let a = RemotePeer::parse("peer-a").unwrap();
    let b = RemotePeer::parse("peer-b").unwrap();
    // each link is named by the peer at its other end
    let (offerer, offer) = rtc_link::start(
        LinkSpec {
            peer: b.clone(),
            gen: 1,
            role: Role::Offerer,
            auth: ka,
            ip: LOOPBACK,
            offer: None,
        },
        tx.clone(),
    )
    .await
    .unwrap();
    let crdt::session::peer_signal::PeerSignal::Offer { sdp } = offer else {
        panic!("an offer first")
    };
    let (answerer, answer) = rtc_link::start(
        LinkSpec {
            peer: a,
            gen: 2,
            role: Role::Answerer,
            auth: kb,
            ip: LOOPBACK,
            offer: Some(sdp),
        },
        tx,
    )
    .await
    .unwrap();
    offerer
        .commands
        .send(LinkCommand::Signal(answer))
        .await
        .unwrap();
    Pair {
        offerer,
        answerer,
        reports,
    }
}

async fn next(reports: &mut mpsc::Receiver<(RemotePeer, u64, LinkEvent)>) -> (u64, LinkEvent) {
    let (_, gen, e) = tokio::time::timeout(Duration::from_secs(20), reports.recv())
        .await
        .expect("a report in time")
        .expect("links alive");
    (gen, e)
}

#[tokio::test]
async fn holders_of_one_key_prove_it_and_exchange_frames() {
    let mut p = pair([7; 32], [7; 32]).await;
    let mut proved = Vec::new();
    while proved.len() < 2 {
        match next(&mut p.reports).await {
            (gen, LinkEvent::Proved) => proved.push(gen),
            (_, LinkEvent::Signal(_)) => {}
            (gen, other) => panic!("link {gen}: {other:?}"),
        }
    }
    // a small frame one way, a large one (many SCTP chunks) the other
    p.offerer
        .commands
        .send(LinkCommand::Send(vec![1, 2, 3]))
        .await
        .unwrap();
    p.answerer
        .commands
        .send(LinkCommand::Send(vec![9; 200_000]))
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        match next(&mut p.reports).await {
            (gen, LinkEvent::Frame(f)) => got.push((gen, f.len())),
            (gen, other) => panic!("link {gen}: {other:?}"),
        }
    }
    got.sort();
    assert_eq!(got, vec![(1, 200_000), (2, 3)]);
}

#[tokio::test]
async fn a_peer_with_another_key_is_refused_and_gets_no_frame() {
    let mut p = pair([7; 32], [8; 32]).await;
    // both sides send frames as soon as they can: none may arrive, and each side refuses the
    // other's proof (the first to fail still sends its own proof before it closes)
    p.offerer
        .commands
        .send(LinkCommand::Send(b"board data".to_vec()))
        .await
        .unwrap();
    p.answerer
        .commands
        .send(LinkCommand::Send(b"board data".to_vec()))
        .await
        .unwrap();
    let mut failed = 0;
    while failed < 2 {
        match next(&mut p.reports).await {
            (_, LinkEvent::Closed(LinkError::ProofFailed)) => failed += 1,
            (gen, LinkEvent::Closed(e)) => panic!("link {gen} ended otherwise: {e}"),
            (gen, LinkEvent::Proved) => panic!("link {gen} accepted a wrong key"),
            (gen, LinkEvent::Frame(_)) => panic!("link {gen} passed a frame without a proof"),
            (_, LinkEvent::Signal(_)) => {}
        }
    }
}
