use super::*;

fn p(s: &str) -> PeerId {
    s.to_string()
}

fn mesh() -> Mesh {
    Mesh::new(MeshPolicy::default(), 7)
}

/// A mesh in the room as `me`, with `peers`; returns the commands of the welcome.
fn joined(me: &str, peers: &[&str]) -> (Mesh, Vec<MeshCommand>) {
    let mut m = mesh();
    assert_eq!(m.handle(MeshInput::Start, 0), vec![MeshCommand::OpenSocket]);
    let out = m.handle(
        MeshInput::Welcome {
            me: p(me),
            peers: peers.iter().map(|s| p(s)).collect(),
        },
        0,
    );
    (m, out)
}

fn offers(out: &[MeshCommand]) -> Vec<PeerId> {
    out.iter()
        .filter_map(|c| match c {
            MeshCommand::Offer { peer, .. } => Some(peer.clone()),
            _ => None,
        })
        .collect()
}

/// Take a link through the channel opening and both proofs.
fn open(m: &mut Mesh, peer: &str, now: u64) -> LinkId {
    let link = m.link(&p(peer)).map(|l| l.id).expect("a link");
    let out = m.handle(MeshInput::ChannelOpen(p(peer), link), now);
    assert!(
        matches!(out[..], [MeshCommand::SendProof { .. }]),
        "{out:?}"
    );
    let out = m.handle(
        MeshInput::Proof {
            peer: p(peer),
            link,
            valid: true,
        },
        now,
    );
    assert_eq!(
        out,
        vec![MeshCommand::Opened {
            peer: p(peer),
            link
        }]
    );
    link
}

/// The retry delay after the commands of a failure: when the next offer goes out.
fn next_offer(m: &mut Mesh, peer: &str, from: u64) -> u64 {
    let at = m.wake_at().expect("a retry is due");
    assert!(m.handle(MeshInput::Tick, at - 1).is_empty());
    assert_eq!(offers(&m.handle(MeshInput::Tick, at)), vec![p(peer)]);
    at - from
}

#[test]
fn the_lower_id_offers_and_the_higher_answers() {
    let (m, out) = joined("m", &["a", "z", "q"]);
    assert_eq!(out[0], MeshCommand::NewPeerId(p("m")));
    assert_eq!(offers(&out), vec![p("q"), p("z")]);
    assert_eq!(m.link(&p("q")).map(|l| l.role), Some(Role::Offerer));
    assert!(m.link(&p("a")).is_none(), "a offers to us");
    assert_eq!(m.signaling(), Signaling::Joined);

    // an offer from a peer that should answer is ignored; one from a lower id is answered
    let (mut m, _) = joined("m", &["a", "z"]);
    assert!(m.handle(MeshInput::Offer(p("z")), 1).is_empty());
    let out = m.handle(MeshInput::Offer(p("a")), 1);
    assert!(matches!(&out[..], [MeshCommand::Answer { peer, .. }] if *peer == p("a")));
    // and only from a peer the server put in the room
    assert!(m.handle(MeshInput::Offer(p("0")), 1).is_empty());
}

#[test]
fn a_new_offer_replaces_the_link_and_old_events_are_ignored() {
    let (mut m, _) = joined("m", &["a"]);
    m.handle(MeshInput::Offer(p("a")), 1);
    let first = open(&mut m, "a", 2);
    let out = m.handle(MeshInput::Offer(p("a")), 3);
    let second = m.link(&p("a")).map(|l| l.id).expect("a link");
    assert_ne!(first, second);
    assert_eq!(
        out,
        vec![
            MeshCommand::Close {
                peer: p("a"),
                link: first,
                was_open: true,
                why: None
            },
            MeshCommand::Answer {
                peer: p("a"),
                link: second
            },
        ]
    );
    // the old link's channel closing later changes nothing
    let late = MeshInput::Failed {
        peer: p("a"),
        link: first,
        why: LinkFailure::ChannelClosed,
    };
    assert!(m.handle(late, 4).is_empty());
    assert!(m
        .handle(MeshInput::ChannelOpen(p("a"), first), 4)
        .is_empty());
    assert!(m.is_current(&p("a"), second));
}

#[test]
fn our_proof_goes_once_and_before_board_data_flows() {
    let (mut m, _) = joined("a", &["b"]);
    let link = m.link(&p("b")).map(|l| l.id).expect("a link");
    let proof = MeshInput::Proof {
        peer: p("b"),
        link,
        valid: true,
    };
    let send = MeshCommand::SendProof {
        peer: p("b"),
        link,
        role: Role::Offerer,
    };
    assert_eq!(
        m.handle(MeshInput::ChannelOpen(p("b"), link), 1),
        vec![send.clone()]
    );
    assert!(m.handle(MeshInput::ChannelOpen(p("b"), link), 1).is_empty());
    assert!(!m.is_open(&p("b")));
    assert_eq!(
        m.handle(proof.clone(), 2),
        vec![MeshCommand::Opened { peer: p("b"), link }]
    );
    assert!(m.handle(proof, 2).is_empty(), "opened once");
    assert_eq!(m.open_links(), 1);

    // the peer's proof came before our channel said "open": ours goes first
    let (mut m, _) = joined("a", &["b"]);
    let link = m.link(&p("b")).map(|l| l.id).expect("a link");
    let proof = MeshInput::Proof {
        peer: p("b"),
        link,
        valid: true,
    };
    let send = MeshCommand::SendProof {
        peer: p("b"),
        link,
        role: Role::Offerer,
    };
    assert_eq!(
        m.handle(proof, 1),
        vec![send, MeshCommand::Opened { peer: p("b"), link }]
    );
    assert!(m.handle(MeshInput::ChannelOpen(p("b"), link), 1).is_empty());
}

#[test]
fn a_failed_proof_is_retried_later_each_time_and_never_given_up() {
    let (mut m, _) = joined("a", &["b"]);
    let mut now = 0;
    let mut delays = Vec::new();
    for _ in 0..8 {
        let link = m.link(&p("b")).map(|l| l.id).expect("a link");
        m.handle(MeshInput::ChannelOpen(p("b"), link), now);
        let out = m.handle(
            MeshInput::Proof {
                peer: p("b"),
                link,
                valid: false,
            },
            now,
        );
        assert_eq!(
            out,
            vec![MeshCommand::Close {
                peer: p("b"),
                link,
                was_open: false,
                why: Some(LinkFailure::ProofFailed)
            }]
        );
        let delay = next_offer(&mut m, "b", now);
        now += delay;
        delays.push(delay);
    }
    let policy = MeshPolicy::default();
    for (i, d) in delays.iter().enumerate() {
        let full = (policy.retry_ms << i).min(policy.max_retry_ms);
        assert!((full / 2..=full).contains(d), "retry {i} after {d} ms");
    }
}

#[test]
fn a_link_that_does_not_open_in_time_is_given_up_and_offered_again() {
    let (mut m, _) = joined("a", &["b", "0"]);
    m.handle(MeshInput::Offer(p("0")), 0);
    let setup = MeshPolicy::default().setup_ms;
    assert_eq!(m.wake_at(), Some(setup));
    let out = m.handle(MeshInput::Tick, setup);
    let closed: Vec<_> = out
        .iter()
        .filter_map(|c| match c {
            MeshCommand::Close { peer, why, .. } => Some((peer.clone(), *why)),
            _ => None,
        })
        .collect();
    assert_eq!(
        closed,
        vec![
            (p("0"), Some(LinkFailure::SetupTimeout)),
            (p("b"), Some(LinkFailure::SetupTimeout)),
        ]
    );
    // we offer to b again; 0 offers to us, so we wait for it
    next_offer(&mut m, "b", setup);
    assert!(m.link(&p("0")).is_none());
}

#[test]
fn the_reconnect_backoff_grows_and_a_network_hint_cuts_it_short() {
    let (mut m, _) = joined("a", &["b"]);
    let link = open(&mut m, "b", 0);
    let policy = MeshPolicy::default();
    let mut now = 0;
    for i in 0..8 {
        // links stay up while the server is away
        assert!(m.handle(MeshInput::SocketLost, now).is_empty());
        assert_eq!(m.signaling(), Signaling::Waiting { attempts: i + 1 });
        let at = m.wake_at().expect("a reconnect");
        let full = (policy.reconnect_ms << i).min(policy.max_reconnect_ms);
        assert!((full / 2..=full).contains(&(at - now)), "attempt {i}");
        assert_eq!(m.handle(MeshInput::Tick, at), vec![MeshCommand::OpenSocket]);
        assert_eq!(m.signaling(), Signaling::Connecting);
        now = at;
    }
    assert!(m.is_current(&p("b"), link) && m.is_open(&p("b")));
    m.handle(MeshInput::SocketLost, now);
    assert_eq!(
        m.handle(MeshInput::NetworkHint, now + 1),
        vec![MeshCommand::OpenSocket]
    );
    assert!(
        m.handle(MeshInput::NetworkHint, now + 2).is_empty(),
        "already connecting"
    );
    m.handle(MeshInput::SocketLost, now + 3);
    let at = m.wake_at().expect("a reconnect");
    assert!(
        at - (now + 3) <= policy.reconnect_ms,
        "the backoff started again"
    );
}

#[test]
fn a_refused_join_closes_the_socket_and_tries_later() {
    let mut m = mesh();
    m.handle(MeshInput::Start, 0);
    assert_eq!(
        m.handle(MeshInput::JoinRefused, 0),
        vec![MeshCommand::CloseSocket]
    );
    assert!(m.wake_at().is_some());
    assert!(!m.is_joined());
}

#[test]
fn a_peer_that_left_keeps_its_open_link_for_a_grace_period() {
    let (mut m, _) = joined("a", &["b", "c"]);
    let b = open(&mut m, "b", 0);
    open(&mut m, "c", 0);
    let grace = MeshPolicy::default().leave_grace_ms;
    assert!(m.handle(MeshInput::PeerLeft(p("b")), 10).is_empty());
    assert!(m.handle(MeshInput::PeerLeft(p("c")), 10).is_empty());
    // c comes back in time; b does not
    m.handle(MeshInput::PeerJoined(p("c")), 20);
    assert_eq!(m.wake_at(), Some(10 + grace));
    assert_eq!(
        m.handle(MeshInput::Tick, 10 + grace),
        vec![MeshCommand::Close {
            peer: p("b"),
            link: b,
            was_open: true,
            why: Some(LinkFailure::PeerLeft)
        }]
    );
    assert!(m.is_open(&p("c")));
    assert!(m.wake_at().is_none(), "no retry to a peer out of the room");

    // if the server went away too, nothing is known about the peer: its link stays
    let (mut m, _) = joined("a", &["b"]);
    open(&mut m, "b", 0);
    m.handle(MeshInput::PeerLeft(p("b")), 10);
    m.handle(MeshInput::SocketLost, 11);
    m.handle(MeshInput::Tick, 10 + grace);
    assert!(m.is_open(&p("b")));
}

#[test]
fn working_offline_closes_everything_and_online_starts_again() {
    let (mut m, _) = joined("a", &["b"]);
    let link = open(&mut m, "b", 0);
    let out = m.handle(MeshInput::SetOffline(true), 1);
    assert_eq!(
        out,
        vec![
            MeshCommand::Close {
                peer: p("b"),
                link,
                was_open: true,
                why: None
            },
            MeshCommand::CloseSocket
        ]
    );
    assert_eq!(m.signaling(), Signaling::Off);
    assert!(m.wake_at().is_none());
    assert!(m.handle(MeshInput::NetworkHint, 2).is_empty());
    assert_eq!(
        m.handle(MeshInput::SetOffline(false), 3),
        vec![MeshCommand::OpenSocket]
    );
    // nothing starts before the board is loaded
    let mut m = mesh();
    assert!(m.handle(MeshInput::SetOffline(true), 0).is_empty());
    assert!(m.handle(MeshInput::SetOffline(false), 0).is_empty());
    assert_eq!(m.signaling(), Signaling::NotStarted);
}

#[test]
fn a_new_peer_id_starts_the_links_afresh_and_the_same_id_keeps_them() {
    let (mut m, _) = joined("a", &["b"]);
    let link = open(&mut m, "b", 0);
    m.handle(MeshInput::SocketLost, 1);
    m.handle(MeshInput::NetworkHint, 2);
    let out = m.handle(
        MeshInput::Welcome {
            me: p("a"),
            peers: vec![p("b")],
        },
        3,
    );
    assert!(out.is_empty(), "{out:?}");
    assert!(m.is_current(&p("b"), link));

    m.handle(MeshInput::SocketLost, 4);
    m.handle(MeshInput::NetworkHint, 5);
    let out = m.handle(
        MeshInput::Welcome {
            me: p("c"),
            peers: vec![p("b")],
        },
        6,
    );
    assert_eq!(
        out,
        vec![
            MeshCommand::Close {
                peer: p("b"),
                link,
                was_open: true,
                why: None
            },
            MeshCommand::NewPeerId(p("c")),
        ]
    );
    // b is lower now: it offers to us
    assert!(m.link(&p("b")).is_none());
}

#[test]
fn other_tabs_are_never_linked_but_a_proved_peer_stays_a_peer() {
    let (mut m, _) = joined("a", &["b", "c"]);
    let b = open(&mut m, "b", 0);
    let c = m.link(&p("c")).map(|l| l.id).expect("a link");
    let out = m.handle(MeshInput::TabPeers([p("b"), p("c")].into()), 1);
    assert_eq!(
        out,
        vec![MeshCommand::Close {
            peer: p("c"),
            link: c,
            was_open: false,
            why: None
        }]
    );
    assert!(m.is_current(&p("b"), b) && !m.is_tab_peer(&p("b")));
    assert!(m.is_tab_peer(&p("c")));
    m.handle(MeshInput::PeerLeft(p("c")), 2);
    assert!(m.handle(MeshInput::PeerJoined(p("c")), 3).is_empty());
}

#[test]
fn the_room_and_the_links_are_bounded() {
    let policy = MeshPolicy {
        max_links: 3,
        max_room_peers: 5,
        ..MeshPolicy::default()
    };
    let mut m = Mesh::new(policy, 1);
    m.handle(MeshInput::Start, 0);
    let peers: Vec<PeerId> = (0..10).map(|i| format!("p{i}")).collect();
    let out = m.handle(
        MeshInput::Welcome {
            me: p("a"),
            peers: peers.clone(),
        },
        0,
    );
    // five peers kept, more than three links' worth: the overlay picks at most three
    let room: Vec<PeerId> = m.room().cloned().collect();
    assert_eq!(room.len(), 5);
    let want = crate::session::overlay::overlay(&p("a"), &room, 3);
    assert!(!want.is_empty() && want.len() <= 3);
    assert_eq!(offers(&out).len(), want.len());
    assert!(m.links().all(|(peer, _)| want.contains(peer)));
    assert!(m.handle(MeshInput::PeerJoined(p("q")), 1).is_empty());
    assert!(!m.in_room(&p("q")));
}
