use super::*;

fn state(profile: &str, name: &str) -> State {
    State {
        profile: profile.into(),
        name: name.into(),
        colour: "#4f46e5".into(),
        ..State::default()
    }
}

fn sent(effects: &[PresenceEffect]) -> Vec<(PeerId, Vec<u8>)> {
    effects
        .iter()
        .filter_map(|e| match e {
            PresenceEffect::Send { peer, bytes } => Some((peer.clone(), bytes.clone())),
            _ => None,
        })
        .collect()
}

fn changed(effects: &[PresenceEffect]) -> bool {
    effects.contains(&PresenceEffect::Changed)
}

fn dropped(effects: &[PresenceEffect]) -> Option<PresenceError> {
    effects.iter().find_map(|e| match e {
        PresenceEffect::DropPeer { reason, .. } => Some(reason.clone()),
        _ => None,
    })
}

/// Two pages linked to each other, `a` and `b`; returns them with what `b` sent `a` on connect.
fn pair() -> (Presence, Presence) {
    let mut a = Presence::new(state("pa", "Ann"));
    let mut b = Presence::new(state("pb", "Bob"));
    let to_b = sent(&a.connected(&"b".to_string(), 0));
    let to_a = sent(&b.connected(&"a".to_string(), 0));
    for (_, m) in to_b {
        b.receive(&"a".to_string(), &m, 0);
    }
    for (_, m) in to_a {
        a.receive(&"b".to_string(), &m, 0);
    }
    (a, b)
}

#[test]
fn a_connected_peer_is_shown_and_follows_changes() {
    let (mut a, mut b) = pair();
    assert_eq!(a.people().len(), 1);
    assert_eq!(a.people()[0].name, "Bob");
    let mut moved = b.local().clone();
    moved.widget = Some("3@ab".into());
    let out = b.set_local(moved, 1_000);
    let msgs = sent(&out);
    assert_eq!(msgs.len(), 1, "sent at once when nothing went out recently");
    assert!(changed(&a.receive(&"b".into(), &msgs[0].1, 1_000)));
    assert_eq!(a.people()[0].widgets, vec!["3@ab".to_string()]);
}

#[test]
fn changes_are_throttled_then_sent_together() {
    let (_, mut b) = pair();
    let mut s = b.local().clone();
    s.widget = Some("1@aa".into());
    assert_eq!(sent(&b.set_local(s.clone(), 1_000)).len(), 1);
    s.widget = Some("2@aa".into());
    assert!(sent(&b.set_local(s.clone(), 1_010)).is_empty(), "too soon");
    assert_eq!(b.wake_at(), 1_000 + MIN_INTERVAL_MS);
    let later = sent(&b.tick(1_000 + MIN_INTERVAL_MS));
    assert_eq!(later.len(), 1);
    let text = String::from_utf8(later[0].1.clone()).unwrap_or_default();
    assert!(text.contains("2@aa"), "the latest state goes out: {text}");
}

#[test]
fn heartbeat_keeps_a_peer_and_silence_drops_it() {
    let (mut a, mut b) = pair();
    let beat = sent(&b.tick(HEARTBEAT_MS));
    assert_eq!(beat.len(), 1, "a heartbeat after {HEARTBEAT_MS} ms");
    a.receive(&"b".into(), &beat[0].1, HEARTBEAT_MS);
    assert!(!changed(&a.tick(HEARTBEAT_MS + TIMEOUT_MS - 1)));
    assert_eq!(a.people().len(), 1);
    assert!(changed(&a.tick(HEARTBEAT_MS + TIMEOUT_MS)));
    assert!(
        a.people().is_empty(),
        "gone after {TIMEOUT_MS} ms of silence"
    );
}

#[test]
fn goodbye_and_disconnect_remove_a_peer() {
    let (mut a, mut b) = pair();
    let bye = sent(&b.goodbye());
    assert_eq!(bye.len(), 1);
    assert!(changed(&a.receive(&"b".into(), &bye[0].1, 10)));
    assert!(a.people().is_empty());

    let (mut a, _) = pair();
    assert!(changed(&a.disconnected(&"b".into())));
    assert!(a.people().is_empty());
}

#[test]
fn repeats_and_old_messages_are_ignored() {
    let (mut a, mut b) = pair();
    let mut s = b.local().clone();
    s.widget = Some("1@aa".into());
    let first = sent(&b.set_local(s.clone(), 1_000))[0].1.clone();
    s.widget = Some("2@aa".into());
    let second = sent(&b.set_local(s, 2_000))[0].1.clone();
    assert!(changed(&a.receive(&"b".into(), &second, 2_000)));
    assert!(a.receive(&"b".into(), &first, 2_001).is_empty(), "older");
    assert!(a.receive(&"b".into(), &second, 2_002).is_empty(), "repeat");
    assert_eq!(a.people()[0].widgets, vec!["2@aa".to_string()]);
}

#[test]
fn tabs_of_one_profile_are_one_person_and_our_own_profile_is_not_shown() {
    let mut a = Presence::new(state("pa", "Ann"));
    for (peer, profile, widget) in [
        ("t1", "pb", "1@aa"),
        ("t2", "pb", "2@aa"),
        ("t3", "pa", "3@aa"),
    ] {
        a.connected(&peer.to_string(), 0);
        let mut s = state(profile, "Bob");
        s.widget = Some(widget.into());
        let m = serde_json::to_vec(&serde_json::json!({"v": 1, "seq": 1, "state": s}))
            .unwrap_or_default();
        a.receive(&peer.to_string(), &m, 0);
    }
    let people = a.people();
    assert_eq!(people.len(), 1, "{people:?}");
    assert_eq!(people[0].widgets.len(), 2);
}

#[test]
fn only_connected_peers_are_heard() {
    let mut a = Presence::new(state("pa", "Ann"));
    let m = br##"{"v":1,"seq":1,"state":{"p":"px","n":"Eve","c":"#000000"}}"##;
    assert!(a.receive(&"stranger".into(), m, 0).is_empty());
    assert!(a.people().is_empty());
}

#[test]
fn hostile_presence_drops_the_peer_and_shows_nothing() {
    let cases: Vec<(Vec<u8>, PresenceError)> = vec![
        (vec![b' '; MAX_MESSAGE + 1], PresenceError::TooLarge(MAX_MESSAGE + 1)),
        (b"\xff\xfe not json".to_vec(), PresenceError::Malformed),
        (br##"{"v":9,"seq":1}"##.to_vec(), PresenceError::Version(9)),
        (br##"{"v":1,"seq":1}"##.to_vec(), PresenceError::Invalid("message: no state")),
        (
            br##"{"v":1,"seq":1,"state":{"p":"px","n":"","c":"#000000"}}"##.to_vec(),
            PresenceError::Invalid("name"),
        ),
        (
            br##"{"v":1,"seq":1,"state":{"p":"px","n":"Eve\u0007","c":"#000000"}}"##.to_vec(),
            PresenceError::Invalid("name"),
        ),
        (
            br##"{"v":1,"seq":1,"state":{"p":"px","n":"Eve","c":"red; x"}}"##.to_vec(),
            PresenceError::Invalid("colour"),
        ),
        (
            br##"{"v":1,"seq":1,"state":{"p":"<script>","n":"Eve","c":"#000000"}}"##.to_vec(),
            PresenceError::Invalid("profile"),
        ),
        (
            format!(
                r##"{{"v":1,"seq":1,"state":{{"p":"px","n":"Eve","c":"#000000","k":{{"w":"1@a","a":"{}","h":"s"}}}}}}"##,
                "9".repeat(200)
            )
            .into_bytes(),
            PresenceError::Invalid("caret"),
        ),
        (
            format!(
                r##"{{"v":1,"seq":1,"state":{{"p":"px","n":"{}","c":"#000000"}}}}"##,
                "E".repeat(MAX_NAME_CHARS + 1)
            )
            .into_bytes(),
            PresenceError::Invalid("name"),
        ),
    ];
    for (bytes, reason) in cases {
        let mut a = Presence::new(state("pa", "Ann"));
        a.connected(&"eve".into(), 0);
        let out = a.receive(&"eve".into(), &bytes, 0);
        assert_eq!(
            dropped(&out),
            Some(reason),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        assert!(a.people().is_empty());
    }
}

#[test]
fn a_flood_is_cut_to_the_rate() {
    let mut a = Presence::new(state("pa", "Ann"));
    a.connected(&"eve".into(), 0);
    let mut heard = 0;
    // 10,000 messages within one second
    for seq in 1..=10_000u64 {
        let m = format!(
            r##"{{"v":1,"seq":{seq},"state":{{"p":"px","n":"Eve","c":"#000000","w":"{seq}@a"}}}}"##
        );
        let out = a.receive(&"eve".into(), m.as_bytes(), seq / 10);
        assert_eq!(dropped(&out), None);
        heard += usize::from(changed(&out));
    }
    assert!(heard <= 40 + 26, "{heard} of 10,000 were taken");
    assert!(heard >= 40, "an honest burst passes: {heard}");
}

#[test]
fn peers_are_bounded() {
    let mut a = Presence::new(state("pa", "Ann"));
    for i in 0..(MAX_PEERS + 10) {
        a.connected(&format!("p{i}"), 0);
    }
    assert_eq!(a.peers.len(), MAX_PEERS);
}
