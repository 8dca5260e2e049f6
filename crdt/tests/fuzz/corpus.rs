//! Real inputs to mutate: boards, their changes and saves, and recorded sessions between two
//! engines (every event the victim engine handled, and every message its peer sent).

use std::collections::{BTreeMap, VecDeque};
use std::sync::OnceLock;

use crdt::automerge::{ActorId, AutoCommit, ChangeHash};
use crdt::engine::{Config, Effect, Engine, Event};
use crdt::frame::{self, FrameKind};
use crdt::view::WidgetKind;
use crdt::Board;

pub const T0: u64 = 1_700_000_000_000;
/// The victim engine's id for its peer, and the peer's for the victim.
pub const PEER: &str = "1";
pub const VICTIM: &str = "0";

pub fn actor(i: u8) -> ActorId {
    ActorId::from([i; 16])
}

pub fn board(i: u8) -> Board {
    Board::new(actor(i)).unwrap()
}

fn note(b: &mut Board, text: &str) {
    let n = b.add_widget(WidgetKind::Note).unwrap();
    b.set_note_text(&n, text).unwrap();
}

fn tasks(b: &mut Board) {
    let t = b.add_widget(WidgetKind::Tasks).unwrap();
    let first = b.add_task(&t, "first").unwrap();
    b.add_task(&t, "second").unwrap();
    b.set_task_done(&t, &first, true).unwrap();
}

fn counter(b: &mut Board, by: i64) {
    let c = b.add_widget(WidgetKind::Counter).unwrap();
    b.increment_counter(&c, by).unwrap();
}

fn big_text(len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + ((i * 7 + i / 13) % 26) as u8))
        .collect()
}

/// Local edits the victim makes during a session (by index, so that replays repeat them).
pub const EDITS: [fn(&mut Board); 3] = [
    |b| {
        let _ = b.set_title("edited by the victim");
    },
    |b| note(b, "a note of the victim's"),
    |b| counter(b, -3),
];

#[derive(Debug, Clone)]
pub enum Ev {
    Connected,
    Frame(Vec<u8>),
    Tick,
    Edit(usize),
}

pub struct Scenario {
    pub name: &'static str,
    pub config: Config,
    /// The victim's board before the session.
    pub board: Board,
    /// Everything the victim handled, with the time.
    pub trace: Vec<(u64, Ev)>,
    /// The frames the peer sent, in order.
    pub frames: Vec<Vec<u8>>,
    /// The peer's whole messages (chunks reassembled).
    pub messages: Vec<(FrameKind, Vec<u8>)>,
    pub peer_heads: Vec<ChangeHash>,
}

/// Two engines on a lossless in-order link: node 0 is the victim, node 1 its peer.
pub struct Two {
    pub e: [Engine; 2],
    pub now: u64,
    queue: VecDeque<(usize, Vec<u8>)>,
    wake: [Option<u64>; 2],
    pub trace: Vec<(u64, Ev)>,
    pub sent_by_peer: Vec<Vec<u8>>,
    pub dropped: bool,
}

impl Two {
    pub fn new(a: Engine, b: Engine, now: u64) -> Self {
        Two {
            e: [a, b],
            now,
            queue: VecDeque::new(),
            wake: [None; 2],
            trace: Vec::new(),
            sent_by_peer: Vec::new(),
            dropped: false,
        }
    }

    pub fn event(&mut self, node: usize, ev: Event) {
        if node == 0 {
            let recorded = match &ev {
                Event::Connected(_) => Some(Ev::Connected),
                Event::Frame(_, f) => Some(Ev::Frame(f.clone())),
                Event::Tick => Some(Ev::Tick),
                _ => None,
            };
            if let Some(r) = recorded {
                self.trace.push((self.now, r));
            }
        }
        for effect in self.e[node].handle(ev, self.now) {
            match effect {
                Effect::Send { frame, .. } => {
                    if node == 1 {
                        self.sent_by_peer.push(frame.clone());
                    }
                    self.queue.push_back((1 - node, frame));
                }
                Effect::DropPeer { .. } => {
                    // the glue closes the channel: the other side sees it close
                    self.dropped = true;
                    let other = if node == 0 { VICTIM } else { PEER };
                    drop(self.e[1 - node].handle(Event::Disconnected(other.into()), self.now));
                    self.queue.clear();
                }
                Effect::WakeAt { at_ms } => self.wake[node] = Some(at_ms),
                Effect::DocChanged => {}
            }
        }
    }

    pub fn edit(&mut self, node: usize, f: impl FnOnce(&mut Board)) {
        f(self.e[node].board_mut());
        self.event(node, Event::LocalChange);
    }

    pub fn victim_edit(&mut self, i: usize) {
        self.trace.push((self.now, Ev::Edit(i)));
        EDITS[i](self.e[0].board_mut());
        self.event(0, Event::LocalChange);
    }

    pub fn connect(&mut self) {
        self.event(0, Event::Connected(PEER.into()));
        self.event(1, Event::Connected(VICTIM.into()));
    }

    /// Deliver and fire timers until nothing is left; false if it did not go quiet.
    pub fn run(&mut self) -> bool {
        let trace = std::env::var_os("FUZZ_TRACE").is_some();
        for step in 0..20_000 {
            if let Some((to, f)) = self.queue.pop_front() {
                let from = if to == 0 { PEER } else { VICTIM };
                if trace && step > 19_900 {
                    let h = frame::decode(&f).map(|f| (f.header, f.payload.len()));
                    eprintln!("{step}: {from} -> node {to}: {h:?}");
                    if let Ok(fr) = frame::decode(&f) {
                        if fr.header.kind == FrameKind::Sync {
                            if let Ok(m) = crdt::automerge::sync::Message::decode(fr.payload) {
                                eprintln!(
                                    "   sync heads {:?} need {:?} have {:?} changes {}",
                                    m.heads,
                                    m.need,
                                    m.have.iter().map(|h| &h.last_sync).collect::<Vec<_>>(),
                                    m.changes.len()
                                );
                            }
                        }
                    }
                }
                if self.e[to].peers().any(|p| p == from) {
                    self.event(to, Event::Frame(from.into(), f));
                }
                continue;
            }
            let next = (0..2).filter_map(|i| self.wake[i].map(|w| (w, i))).min();
            let Some((at, node)) = next else {
                return true;
            };
            self.wake[node] = None;
            self.now = self.now.max(at);
            self.event(node, Event::Tick);
        }
        false
    }
}

fn reassemble(frames: &[Vec<u8>]) -> Vec<(FrameKind, Vec<u8>)> {
    let mut out = Vec::new();
    let mut partial: Vec<(u64, Vec<u8>)> = Vec::new();
    for f in frames {
        let f = frame::decode(f).unwrap();
        match f.header.chunk {
            None if f.header.kind != FrameKind::Ack => {
                out.push((f.header.kind, f.payload.to_vec()))
            }
            None => {}
            Some(c) => {
                if c.index == 0 {
                    partial.push((c.message, Vec::new()));
                }
                let pos = partial.iter().position(|p| p.0 == c.message).unwrap();
                partial[pos].1.extend_from_slice(f.payload);
                if c.index + 1 == c.count {
                    out.push((f.header.kind, partial.remove(pos).1));
                }
            }
        }
    }
    out
}

/// After the first sync: the peer edits, and maybe the victim too (an index into [`EDITS`]).
type Round = (fn(&mut Board), Option<usize>);

struct Setup {
    name: &'static str,
    victim: Board,
    peer: Board,
    victim_config: Config,
    peer_config: Config,
    rounds: Vec<Round>,
}

fn record(s: Setup) -> Scenario {
    let a = Engine::with_config(s.victim.clone(), s.victim_config);
    let b = Engine::with_config(s.peer, s.peer_config);
    let mut net = Two::new(a, b, T0);
    net.connect();
    assert!(net.run(), "{}: did not go quiet", s.name);
    for (peer_edit, victim_edit) in s.rounds {
        net.now += 1_000;
        net.edit(1, peer_edit);
        if let Some(i) = victim_edit {
            net.victim_edit(i);
        }
        assert!(net.run(), "{}: did not go quiet", s.name);
    }
    assert!(!net.dropped, "{}: an honest session dropped a peer", s.name);
    let heads = [net.e[0].board_mut().heads(), net.e[1].board_mut().heads()];
    assert_eq!(heads[0], heads[1], "{}: did not converge", s.name);
    Scenario {
        name: s.name,
        config: s.victim_config,
        board: s.victim,
        messages: reassemble(&net.sent_by_peer),
        frames: net.sent_by_peer,
        trace: net.trace,
        peer_heads: heads[1].clone(),
    }
}

fn scenarios() -> Vec<Scenario> {
    let direct = Config::default();
    let sync_only = Config {
        direct: false,
        ..Config::default()
    };
    let small_frames = Config {
        max_frame: 256,
        ..Config::default()
    };
    let tight = Config {
        max_message: 64 * 1024,
        max_partials: 2,
        ..Config::default()
    };
    let mut diverged_a = board(10);
    diverged_a.set_title("victim").unwrap();
    note(&mut diverged_a, "from the victim");
    diverged_a.commit(1);
    let mut diverged_b = board(11);
    counter(&mut diverged_b, 5);
    diverged_b.commit(2);
    tasks(&mut diverged_b);
    diverged_b.commit(3);

    let mut behind_a = board(10);
    note(&mut behind_a, "shared");
    behind_a.commit(1);
    let mut behind_b = behind_a.clone();
    behind_b.doc_mut().set_actor(actor(11));
    tasks(&mut behind_b);
    behind_b.commit(2);
    counter(&mut behind_b, 1);
    behind_b.commit(3);

    let mut big_b = board(11);
    note(&mut big_b, &big_text(3000));
    big_b.commit(2);
    tasks(&mut big_b);
    big_b.commit(3);

    let mut ahead_a = behind_b.clone();
    ahead_a.doc_mut().set_actor(actor(10));
    ahead_a.set_title("ahead").unwrap();
    ahead_a.commit(4);

    let setups = vec![
        Setup {
            name: "diverged",
            victim: diverged_a.clone(),
            peer: diverged_b.clone(),
            victim_config: direct,
            peer_config: direct,
            rounds: vec![(|b| b.set_title("peer title").unwrap(), None)],
        },
        Setup {
            name: "cold_join",
            victim: board(10),
            peer: diverged_b.clone(),
            victim_config: direct,
            peer_config: direct,
            rounds: vec![(|b| note(b, "after the join"), Some(0))],
        },
        Setup {
            name: "behind",
            victim: behind_a,
            peer: behind_b.clone(),
            victim_config: direct,
            peer_config: direct,
            rounds: vec![(|b| counter(b, 2), Some(1))],
        },
        Setup {
            name: "ahead",
            victim: ahead_a,
            peer: behind_b,
            victim_config: direct,
            peer_config: direct,
            rounds: vec![(|b| tasks(b), None), (|b| note(b, "more"), Some(2))],
        },
        Setup {
            name: "sync_only",
            victim: diverged_a.clone(),
            peer: diverged_b,
            victim_config: sync_only,
            peer_config: sync_only,
            rounds: vec![(|b| b.set_title("peer title").unwrap(), Some(1))],
        },
        Setup {
            name: "chunked_doc",
            victim: board(10),
            peer: big_b.clone(),
            victim_config: tight,
            peer_config: small_frames,
            rounds: vec![(|b| note(b, &big_text(700)), Some(0))],
        },
        Setup {
            name: "chunked_sync",
            victim: diverged_a,
            peer: big_b,
            victim_config: Config {
                direct: false,
                ..tight
            },
            peer_config: Config {
                direct: false,
                ..small_frames
            },
            rounds: vec![(|b| b.set_title("peer title").unwrap(), None)],
        },
    ];
    setups.into_iter().map(record).collect()
}

pub struct Corpus {
    pub scenarios: Vec<Scenario>,
    /// Raw changes of every board in the scenarios.
    pub changes: Vec<Vec<u8>>,
    /// Saved documents: whole saves and incremental pieces.
    pub docs: Vec<Vec<u8>>,
    pub hashes: Vec<ChangeHash>,
    pub genesis: Vec<ChangeHash>,
}

fn build() -> Corpus {
    let scenarios = scenarios();
    let mut changes = Vec::new();
    let mut docs = Vec::new();
    let mut hashes = Vec::new();
    let mut boards: Vec<Board> = scenarios.iter().map(|s| s.board.clone()).collect();
    // the peers' final documents, rebuilt from their messages' effect on a copy of the victim
    for s in &scenarios {
        let mut replay = Engine::with_config(s.board.clone(), s.config);
        for (now, ev) in &s.trace {
            match ev {
                Ev::Connected => drop(replay.handle(Event::Connected(PEER.into()), *now)),
                Ev::Frame(f) => drop(replay.handle(Event::Frame(PEER.into(), f.clone()), *now)),
                Ev::Tick => drop(replay.handle(Event::Tick, *now)),
                Ev::Edit(i) => {
                    EDITS[*i](replay.board_mut());
                    drop(replay.handle(Event::LocalChange, *now));
                }
            }
        }
        assert_eq!(
            replay.board_mut().heads(),
            s.peer_heads,
            "{}: replay differs",
            s.name
        );
        boards.push(replay.board().clone());
    }
    let mut other = board(12);
    note(&mut other, &big_text(5000));
    other.commit(5);
    boards.push(other);
    for b in &mut boards {
        for c in b.doc_mut().get_changes(&[]) {
            hashes.push(c.hash());
            changes.push(c.raw_bytes().to_vec());
        }
        docs.push(b.doc_mut().save());
        docs.push(b.doc_mut().save_after(&[]));
        let mut fresh = board(13);
        docs.push(fresh.doc_mut().save_incremental());
    }
    let genesis = board(0).heads();
    Corpus {
        scenarios,
        changes,
        docs,
        hashes,
        genesis,
    }
}

pub fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(build)
}

/// Recompute the length and checksum of every Automerge chunk in `bytes` after a mutation, so
/// that the mutation reaches the parsers behind the checksum check. Bytes that do not start a
/// chunk are kept as they are.
pub fn fix_chunks(bytes: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let mut rest = bytes;
    while rest.len() >= 10 && rest[..4] == MAGIC {
        let kind = rest[8];
        let mut len = 0u64;
        let mut used = 0;
        for (i, b) in rest[9..].iter().enumerate().take(10) {
            len |= u64::from(b & 0x7f).wrapping_shl(7 * i as u32);
            used = i + 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        let body_start = 9 + used;
        let body_len = (len.min(usize::MAX as u64) as usize).min(rest.len() - body_start);
        let body = &rest[body_start..body_start + body_len];
        let mut typed = vec![kind];
        crdt::frame::put_varint(&mut typed, body_len as u64);
        typed.extend_from_slice(body);
        let checksum: [u8; 4] = if kind == 2 {
            // a compressed change's checksum is that of the uncompressed change: keep it
            rest[4..8].try_into().unwrap()
        } else {
            let digest = Sha256::digest(&typed);
            digest[..4].try_into().unwrap()
        };
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&checksum);
        out.extend_from_slice(&typed);
        rest = &rest[body_start + body_len..];
    }
    out.extend_from_slice(rest);
    out
}

/// What any document the victim holds must satisfy, whatever a peer or a damaged record sent:
/// every actor's changes number 1, 2, 3, ... with rising op counters (automerge 0.6.1 as
/// published accepted changes that broke this, then wrote saves its own loader refused, see
/// vendor/automerge/PATCHES.md), and its own `save()` loads again with exactly its heads.
pub fn saves_and_reloads(doc: &mut AutoCommit) -> Result<(), proptest::test_runner::TestCaseError> {
    let mut last: BTreeMap<ActorId, (u64, u64)> = BTreeMap::new();
    for c in doc.get_changes(&[]) {
        let (seq, max_op) = last.get(c.actor_id()).copied().unwrap_or((0, 0));
        proptest::prop_assert!(
            c.seq() == seq + 1 && (c.is_empty() || c.start_op().get() > max_op),
            "actor {} has change seq {} (ops from {}) after seq {seq} (max op {max_op})",
            c.actor_id(),
            c.seq(),
            c.start_op()
        );
        last.insert(c.actor_id().clone(), (c.seq(), c.max_op().max(max_op)));
    }
    let heads = doc.get_heads();
    let saved = doc.save();
    match AutoCommit::load(&saved) {
        Ok(mut again) => proptest::prop_assert_eq!(again.get_heads(), heads),
        Err(e) => {
            let history: Vec<String> = doc
                .get_changes(&[])
                .iter()
                .map(|c| format!("{} seq {} {}", c.actor_id(), c.seq(), c.hash()))
                .collect();
            let missing = doc.get_missing_deps(&[]);
            proptest::prop_assert!(
                false,
                "own save does not load: {:?}; history {:?}; missing deps {:?}",
                e,
                history,
                missing
            )
        }
    }
    Ok(())
}
