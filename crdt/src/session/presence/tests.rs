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
    let bye = sent(&b.goodbye(10));
    assert_eq!(bye.len(), 1);
    assert!(changed(&a.receive(&"b".into(), &bye[0].1, 10)));
    assert!(a.people().is_empty());

    let (mut a, _) = pair();
    assert!(changed(&a.disconnected(&"b".into(), 0)));
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
    assert_eq!(a.links.len(), MAX_PEERS);
}

/// Pages linked as `edges` say, passing presence messages in order until none is left.
struct Room {
    pages: Vec<Presence>,
    queue: std::collections::VecDeque<(usize, usize, Vec<u8>)>,
    delivered: usize,
}

fn id(i: usize) -> PeerId {
    format!("peer-{i}")
}

impl Room {
    fn new(n: usize, edges: &[(usize, usize)]) -> Room {
        let mut room = Room {
            pages: (0..n)
                .map(|i| {
                    let mut p = Presence::new(state(&format!("p{i}"), &format!("N{i:03}")));
                    p.set_me(&id(i));
                    p
                })
                .collect(),
            queue: Default::default(),
            delivered: 0,
        };
        for &(a, b) in edges {
            room.link(a, b, 0);
        }
        room
    }

    fn link(&mut self, a: usize, b: usize, now: u64) {
        let out = self.pages[a].connected(&id(b), now);
        self.push(a, out);
        let out = self.pages[b].connected(&id(a), now);
        self.push(b, out);
    }

    fn unlink(&mut self, a: usize, b: usize, now: u64) {
        let out = self.pages[a].disconnected(&id(b), now);
        self.push(a, out);
        let out = self.pages[b].disconnected(&id(a), now);
        self.push(b, out);
    }

    fn push(&mut self, from: usize, effects: Vec<PresenceEffect>) {
        assert_eq!(dropped(&effects), None, "an honest page dropped a link");
        for (peer, bytes) in sent(&effects) {
            let to = peer
                .strip_prefix("peer-")
                .and_then(|i| i.parse().ok())
                .unwrap_or(usize::MAX);
            assert!(to < self.pages.len(), "sent to {peer}");
            self.queue.push_back((from, to, bytes));
        }
    }

    fn run(&mut self, now: u64) {
        while let Some((from, to, bytes)) = self.queue.pop_front() {
            self.delivered += 1;
            assert!(self.delivered < 1_000_000, "the flood does not end");
            let out = self.pages[to].receive(&id(from), &bytes, now);
            self.push(to, out);
        }
    }

    fn tick(&mut self, i: usize, now: u64) {
        let out = self.pages[i].tick(now);
        self.push(i, out);
    }

    fn seen_by(&self, i: usize) -> Vec<String> {
        self.pages[i].people().into_iter().map(|p| p.name).collect()
    }
}

fn names(range: impl Iterator<Item = usize>) -> Vec<String> {
    range.map(|i| format!("N{i:03}")).collect()
}

fn line(n: usize) -> Vec<(usize, usize)> {
    (1..n).map(|i| (i - 1, i)).collect()
}

#[test]
fn pages_behind_other_links_are_heard_and_their_goodbye_too() {
    let mut room = Room::new(4, &line(4));
    room.run(0);
    assert_eq!(room.seen_by(0), names(1..4), "0 hears 3 through 1 and 2");
    assert_eq!(room.seen_by(3), names(0..3));
    let mut moved = room.pages[0].local().clone();
    moved.widget = Some("7@ab".into());
    let out = room.pages[0].set_local(moved, 1_000);
    room.push(0, out);
    room.run(1_000);
    let far = room.pages[3].people();
    assert_eq!(far[0].widgets, vec!["7@ab".to_string()], "{far:?}");

    let out = room.pages[3].goodbye(2_000);
    room.push(3, out);
    room.run(2_000);
    assert_eq!(room.seen_by(0), names(1..3), "3's goodbye reached 0");
    assert!(
        !room.pages[0].origins.contains_key(&id(0)),
        "our own message is not kept"
    );
}

#[test]
fn a_flood_around_a_ring_ends_after_one_pass() {
    let n = 12;
    let mut edges = line(n);
    edges.push((n - 1, 0));
    let mut room = Room::new(n, &edges);
    room.run(0);
    for i in 0..n {
        assert_eq!(room.seen_by(i).len(), n - 1);
    }
    let before = room.delivered;
    let mut moved = room.pages[5].local().clone();
    moved.widget = Some("1@aa".into());
    let out = room.pages[5].set_local(moved, 1_000);
    room.push(5, out);
    room.run(1_000);
    let copies = room.delivered - before;
    // each page passes the first copy on to its other neighbour, once
    assert!(
        copies <= n + 1,
        "{copies} copies of one message in a ring of {n}"
    );
    assert!(copies >= n - 1, "{copies}: everyone got it");
}

#[test]
fn a_message_travels_at_most_max_hops() {
    let n = usize::from(MAX_HOPS) + 3;
    let mut room = Room::new(n, &line(n));
    room.run(0);
    let far = usize::from(MAX_HOPS);
    assert!(
        room.seen_by(far).contains(&"N000".to_string()),
        "{far} hops away"
    );
    assert!(
        !room.seen_by(far + 1).contains(&"N000".to_string()),
        "{} hops away",
        far + 1
    );
}

#[test]
fn everyone_in_an_overlay_room_of_32_sees_everyone() {
    let n = 32;
    let members: Vec<PeerId> = (0..n).map(id).collect();
    let mut edges = Vec::new();
    for (i, me) in members.iter().enumerate() {
        for other in super::super::overlay::overlay(me, &members, 6) {
            let j = members
                .iter()
                .position(|m| *m == other)
                .unwrap_or(usize::MAX);
            if i < j {
                edges.push((i, j));
            }
        }
    }
    assert!(edges.len() <= n * 6 / 2);
    let mut room = Room::new(n, &edges);
    room.run(0);
    for i in 0..n {
        assert_eq!(
            room.seen_by(i),
            names((0..n).filter(|j| *j != i)),
            "page {i}"
        );
    }
    // a new link brings the latest of every page known at once
    let mut late = Room::new(n, &edges);
    late.run(0);
    late.pages.push(Presence::new(state("late", "Late")));
    late.link(0, n, 10);
    late.run(10);
    assert_eq!(
        late.seen_by(n).len(),
        n,
        "the newcomer sees the room at once"
    );
}

#[test]
fn a_closed_link_keeps_a_page_heard_elsewhere_and_drops_one_heard_nowhere() {
    // 0 - 1 - 2, and 0 - 2
    let mut room = Room::new(3, &[(0, 1), (1, 2), (0, 2)]);
    room.run(0);
    room.unlink(0, 2, 1_000);
    room.run(1_000);
    assert_eq!(room.seen_by(0), names(1..3), "2 stays for its grace period");
    room.tick(2, HEARTBEAT_MS);
    room.run(HEARTBEAT_MS);
    room.tick(0, 1_000 + LINK_GRACE_MS);
    assert_eq!(room.seen_by(0), names(1..3), "2's heartbeat came through 1");

    let mut room = Room::new(3, &[(0, 1), (1, 2), (0, 2)]);
    room.run(0);
    room.unlink(0, 2, 1_000);
    room.unlink(1, 2, 1_000);
    room.run(1_000);
    assert!(!changed(&room.pages[0].tick(1_000 + LINK_GRACE_MS - 1)));
    assert!(changed(&room.pages[0].tick(1_000 + LINK_GRACE_MS)));
    assert_eq!(
        room.seen_by(0),
        names(1..2),
        "2 is gone well before the timeout"
    );
}

#[test]
fn a_hostile_link_cannot_make_us_keep_unbounded_pages_or_silence_one() {
    let mut a = Presence::new(state("pa", "Ann"));
    a.connected(&"eve".into(), 0);
    let mut now = 0;
    for i in 0..(MAX_ORIGINS + 500) {
        now += 3; // within the link's rate
        let m = format!(
            r##"{{"v":1,"seq":{now},"o":"fake-{i}","state":{{"p":"f{i}","n":"F","c":"#000000"}}}}"##
        );
        let out = a.receive(&"eve".into(), m.as_bytes(), now);
        assert_eq!(dropped(&out), None);
    }
    assert_eq!(a.origins.len(), MAX_ORIGINS);
    assert_eq!(a.people().len(), MAX_ORIGINS);

    let mut a = Presence::new(state("pa", "Ann"));
    a.connected(&"eve".into(), 0);
    let far_ahead = br##"{"v":1,"seq":18446744073709551615,"o":"bob","state":{"p":"pb","n":"B","c":"#000000"}}"##;
    assert_eq!(
        dropped(&a.receive(&"eve".into(), far_ahead, 1_000)),
        Some(PresenceError::Invalid("sequence number"))
    );
    let bad_origin = br##"{"v":1,"seq":1,"o":"<b>","state":{"p":"pb","n":"B","c":"#000000"}}"##;
    assert_eq!(
        dropped(&a.receive(&"eve".into(), bad_origin, 1_000)),
        Some(PresenceError::Invalid("origin"))
    );
}

#[test]
fn in_a_full_mesh_our_messages_are_not_passed_on() {
    let mut room = Room::new(3, &[(0, 1), (1, 2), (0, 2)]);
    for page in &mut room.pages {
        page.set_relay(false);
    }
    room.run(0);
    let before = room.delivered;
    let mut moved = room.pages[0].local().clone();
    moved.widget = Some("1@aa".into());
    let out = room.pages[0].set_local(moved, 1_000);
    room.push(0, out);
    room.run(1_000);
    assert_eq!(
        room.delivered - before,
        2,
        "one message to each neighbour, none passed on"
    );
    assert_eq!(room.pages[2].people()[0].widgets, vec!["1@aa".to_string()]);
}
