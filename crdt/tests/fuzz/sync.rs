//! Target `sync_receive`: a victim engine with a real board, in a session recorded from two real
//! engines, is cut off from its honest peer at some point and fed forged frames from that peer:
//! arbitrary bytes, mutated real frames, and well-sequenced frames (the right epoch, sequence
//! number and acknowledgements) carrying arbitrary, mutated or structurally edited Hello, Sync,
//! Changes, Doc and Behind payloads, whole or in chunks; then, optionally, the rest of the real
//! session. Properties: no panic; after every event the document still has every change it had
//! before; frames it sends decode and fit its frame limit; a DropPeer is for that peer, and the
//! engine has forgotten it; afterwards the document saves and loads again to the same heads, and
//! syncs with a fresh honest peer to the same heads.

use std::sync::atomic::{AtomicU64, Ordering};

use crdt::automerge::sync::{self, BloomFilter, Capability, Have, MessageVersion};
use crdt::automerge::ChangeHash;
use crdt::engine::{Config, Effect, Engine, Event};
use crdt::frame::{self, Changes, ChunkInfo, DocPayload, FrameKind, Header, Hello, MAX_FRAME};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::corpus::{self, corpus, Ev, Scenario, Two, EDITS, PEER, VICTIM};
use crate::mutate::{self, Mutation};

#[derive(Debug, Clone)]
pub enum Pick {
    /// The hash of a real change (an index into the corpus).
    Known(usize),
    Random([u8; 32]),
}

#[derive(Debug, Clone)]
pub enum Heads {
    Victim,
    Peer,
    Genesis,
    Empty,
    Picks(Vec<Pick>),
}

#[derive(Debug, Clone)]
pub enum Bloom {
    Hashes(Vec<Pick>),
    Bytes(Vec<u8>),
    /// The first bloom filter of the base message, mutated.
    Mutated(Vec<Mutation>),
}

/// A real change (an index into the corpus), mutated; `fix` recomputes its checksum afterwards.
#[derive(Debug, Clone)]
pub struct ChangePlan {
    pub index: usize,
    pub mutations: Vec<Mutation>,
    pub fix: bool,
}

#[derive(Debug, Clone)]
pub enum SyncEdit {
    Heads(Heads),
    Need(Pick),
    ClearNeed,
    Have {
        last_sync: Heads,
        bloom: Bloom,
    },
    ClearHave,
    Changes(Vec<ChangePlan>),
    /// A (mutated) saved document as the changes, as a V2 message may carry.
    Doc(ChangePlan),
    Version(bool),
    Capabilities(Option<Vec<u8>>),
}

#[derive(Debug, Clone)]
pub enum PayloadPlan {
    Raw(Vec<u8>),
    /// One of the peer's real messages (from any scenario), mutated.
    Real {
        message: usize,
        mutations: Vec<Mutation>,
    },
    /// One of the peer's real sync messages, decoded, edited and encoded again.
    Sync {
        base: usize,
        edits: Vec<SyncEdit>,
    },
    Changes {
        heads: Heads,
        changes: Vec<ChangePlan>,
    },
    Doc {
        heads: Heads,
        doc: ChangePlan,
    },
    Hello {
        reply_to: Reply,
        heads: Heads,
    },
}

#[derive(Debug, Clone)]
pub enum Reply {
    Zero,
    /// The victim's current epoch (a proper answer).
    VictimEpoch,
    Any(u64),
}

#[derive(Debug, Clone)]
pub struct Split {
    pub piece: usize,
    /// (chunk, field, value): change one field of one chunk's info
    pub tamper: Option<(usize, u8, u64)>,
}

#[derive(Debug, Clone)]
pub enum Injection {
    RawFrame(Vec<u8>),
    /// One of this scenario's real frames from the peer, mutated.
    MutatedFrame {
        frame: usize,
        mutations: Vec<Mutation>,
    },
    /// A frame in sequence: the right epoch, the next sequence number, the peer's acks.
    Framed {
        kind: usize,
        payload: PayloadPlan,
        /// Sent as chunks of this size.
        split: Option<Split>,
        /// Edit one header field: (field, value)
        header_edit: Option<(u8, u64)>,
    },
    Tick(u32),
    Edit(usize),
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub scenario: usize,
    /// Where the honest peer is cut off, as a position in the recorded trace.
    pub cut: usize,
    pub injections: Vec<Injection>,
    /// Deliver the rest of the recorded session afterwards.
    pub resume: bool,
}

// ----- strategies -----

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        3 => any::<usize>().prop_map(Pick::Known),
        1 => any::<[u8; 32]>().prop_map(Pick::Random),
    ]
}

fn heads() -> impl Strategy<Value = Heads> {
    prop_oneof![
        2 => Just(Heads::Victim),
        2 => Just(Heads::Peer),
        1 => Just(Heads::Genesis),
        1 => Just(Heads::Empty),
        2 => vec(pick(), 0..4).prop_map(Heads::Picks),
    ]
}

fn change_plan() -> impl Strategy<Value = ChangePlan> {
    (
        any::<usize>(),
        mutate::mutations(3),
        prop::bool::weighted(0.7),
    )
        .prop_map(|(index, mutations, fix)| ChangePlan {
            index,
            mutations,
            fix,
        })
}

fn bloom() -> impl Strategy<Value = Bloom> {
    prop_oneof![
        2 => vec(pick(), 0..6).prop_map(Bloom::Hashes),
        1 => vec(any::<u8>(), 0..24).prop_map(Bloom::Bytes),
        2 => mutate::mutations(3).prop_map(Bloom::Mutated),
    ]
}

fn sync_edit() -> impl Strategy<Value = SyncEdit> {
    prop_oneof![
        2 => heads().prop_map(SyncEdit::Heads),
        2 => pick().prop_map(SyncEdit::Need),
        1 => Just(SyncEdit::ClearNeed),
        2 => (heads(), bloom()).prop_map(|(last_sync, bloom)| SyncEdit::Have { last_sync, bloom }),
        1 => Just(SyncEdit::ClearHave),
        3 => vec(change_plan(), 0..4).prop_map(SyncEdit::Changes),
        1 => change_plan().prop_map(SyncEdit::Doc),
        1 => any::<bool>().prop_map(SyncEdit::Version),
        1 => proptest::option::of(vec(any::<u8>(), 0..4)).prop_map(SyncEdit::Capabilities),
    ]
}

fn payload() -> impl Strategy<Value = PayloadPlan> {
    prop_oneof![
        1 => vec(any::<u8>(), 0..96).prop_map(PayloadPlan::Raw),
        3 => (any::<usize>(), mutate::mutations(4))
            .prop_map(|(message, mutations)| PayloadPlan::Real { message, mutations }),
        4 => (any::<usize>(), vec(sync_edit(), 0..4))
            .prop_map(|(base, edits)| PayloadPlan::Sync { base, edits }),
        3 => (heads(), vec(change_plan(), 0..4))
            .prop_map(|(heads, changes)| PayloadPlan::Changes { heads, changes }),
        2 => (heads(), change_plan()).prop_map(|(heads, doc)| PayloadPlan::Doc { heads, doc }),
        1 => (
            prop_oneof![Just(Reply::Zero), Just(Reply::VictimEpoch), any::<u64>().prop_map(Reply::Any)],
            heads()
        )
            .prop_map(|(reply_to, heads)| PayloadPlan::Hello { reply_to, heads }),
    ]
}

/// The kind that usually goes with a payload, or any kind.
fn framed() -> impl Strategy<Value = Injection> {
    let split = (
        prop_oneof![1 => 1usize..16, 3 => 16usize..400, 2 => 400usize..4000],
        proptest::option::weighted(
            0.3,
            (any::<usize>(), 0u8..5, prop_oneof![0u64..8, any::<u64>()]),
        ),
    )
        .prop_map(|(piece, tamper)| Split { piece, tamper });
    (
        prop::bool::weighted(0.15),
        0..FrameKind::ALL.len(),
        payload(),
        proptest::option::weighted(0.25, split),
        proptest::option::weighted(0.1, (0u8..4, prop_oneof![0u64..4, any::<u64>()])),
    )
        .prop_map(|(any_kind, kind, payload, split, header_edit)| {
            let kind = if any_kind {
                kind
            } else {
                match &payload {
                    PayloadPlan::Raw(_) | PayloadPlan::Real { .. } => kind,
                    PayloadPlan::Sync { .. } => 2,
                    PayloadPlan::Changes { .. } => 3,
                    PayloadPlan::Doc { .. } => 4,
                    PayloadPlan::Hello { .. } => 0,
                }
            };
            Injection::Framed {
                kind,
                payload,
                split,
                header_edit,
            }
        })
}

fn injection() -> impl Strategy<Value = Injection> {
    prop_oneof![
        1 => vec(any::<u8>(), 0..64).prop_map(Injection::RawFrame),
        3 => (any::<usize>(), mutate::mutations(4))
            .prop_map(|(frame, mutations)| Injection::MutatedFrame { frame, mutations }),
        10 => framed(),
        1 => prop_oneof![0u32..100, 0u32..200_000].prop_map(Injection::Tick),
        1 => (0..EDITS.len()).prop_map(Injection::Edit),
    ]
}

pub fn plan() -> impl Strategy<Value = Plan> {
    (
        any::<usize>(),
        any::<usize>(),
        vec(injection(), 1..5),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(scenario, cut, injections, resume)| Plan {
            scenario,
            cut,
            injections,
            resume,
        })
}

// ----- building the forged frames -----

/// The victim, with what the test knows about the session.
struct Victim {
    engine: Engine,
    now: u64,
    /// The victim's current epoch towards the peer (from the frames it sends).
    epoch: u64,
    /// Data frames from the victim in that epoch.
    sent: u64,
}

fn resolve_pick(p: &Pick) -> ChangeHash {
    let c = corpus();
    match p {
        Pick::Known(i) => c.hashes[i % c.hashes.len()],
        Pick::Random(h) => ChangeHash(*h),
    }
}

fn resolve_heads(h: &Heads, v: &mut Victim, s: &Scenario) -> Vec<ChangeHash> {
    match h {
        Heads::Victim => v.engine.board_mut().heads(),
        Heads::Peer => s.peer_heads.clone(),
        Heads::Genesis => corpus().genesis.clone(),
        Heads::Empty => Vec::new(),
        Heads::Picks(p) => p.iter().map(resolve_pick).collect(),
    }
}

fn change_bytes(p: &ChangePlan, pool: &[Vec<u8>]) -> Vec<u8> {
    let c = corpus();
    let donors: Vec<&[u8]> = c.changes.iter().take(8).map(Vec::as_slice).collect();
    let bytes = mutate::mutated(&pool[p.index % pool.len()], &p.mutations, &donors);
    if p.fix {
        corpus::fix_chunks(&bytes)
    } else {
        bytes
    }
}

fn all_messages() -> Vec<&'static (FrameKind, Vec<u8>)> {
    corpus()
        .scenarios
        .iter()
        .flat_map(|s| s.messages.iter())
        .collect()
}

fn build_payload(p: &PayloadPlan, v: &mut Victim, s: &Scenario) -> Vec<u8> {
    let c = corpus();
    match p {
        PayloadPlan::Raw(b) => b.clone(),
        PayloadPlan::Real { message, mutations } => {
            let all = all_messages();
            let base = &all[message % all.len()].1;
            let donors: Vec<&[u8]> = all.iter().take(16).map(|m| m.1.as_slice()).collect();
            mutate::mutated(base, mutations, &donors)
        }
        PayloadPlan::Sync { base, edits } => {
            let syncs: Vec<&Vec<u8>> = all_messages()
                .into_iter()
                .filter(|m| m.0 == FrameKind::Sync)
                .map(|m| &m.1)
                .collect();
            let bytes = syncs[base % syncs.len()];
            let Ok(mut m) = sync::Message::decode(bytes) else {
                return bytes.clone();
            };
            let first_bloom = m
                .have
                .first()
                .map(|h| h.bloom.to_bytes())
                .unwrap_or_default();
            for e in edits {
                match e {
                    SyncEdit::Heads(h) => m.heads = resolve_heads(h, v, s),
                    SyncEdit::Need(p) => m.need.push(resolve_pick(p)),
                    SyncEdit::ClearNeed => m.need.clear(),
                    SyncEdit::Have { last_sync, bloom } => {
                        let bloom = match bloom {
                            Bloom::Hashes(p) => {
                                let hashes: Vec<ChangeHash> = p.iter().map(resolve_pick).collect();
                                BloomFilter::from_hashes(hashes.iter())
                            }
                            Bloom::Bytes(b) => match BloomFilter::try_from(&b[..]) {
                                Ok(f) => f,
                                Err(_) => continue,
                            },
                            Bloom::Mutated(ms) => {
                                let b = mutate::mutated(&first_bloom, ms, &[]);
                                match BloomFilter::try_from(&b[..]) {
                                    Ok(f) => f,
                                    Err(_) => continue,
                                }
                            }
                        };
                        m.have.push(Have {
                            last_sync: resolve_heads(last_sync, v, s),
                            bloom,
                        });
                    }
                    SyncEdit::ClearHave => m.have.clear(),
                    SyncEdit::Changes(cs) => {
                        let cs: Vec<Vec<u8>> =
                            cs.iter().map(|p| change_bytes(p, &c.changes)).collect();
                        m.changes = cs.into();
                    }
                    SyncEdit::Doc(p) => m.changes = change_bytes(p, &c.docs).into(),
                    SyncEdit::Version(v2) => {
                        m.version = if *v2 {
                            MessageVersion::V2
                        } else {
                            MessageVersion::V1
                        }
                    }
                    SyncEdit::Capabilities(caps) => {
                        m.supported_capabilities = caps.as_ref().map(|caps| {
                            caps.iter()
                                .map(|b| match b % 3 {
                                    0 => Capability::MessageV1,
                                    1 => Capability::MessageV2,
                                    _ => Capability::Unknown(*b),
                                })
                                .collect()
                        })
                    }
                }
            }
            encode_sync(&m)
        }
        PayloadPlan::Changes { heads, changes } => {
            let heads = resolve_heads(heads, v, s);
            let cs: Vec<Vec<u8>> = changes
                .iter()
                .map(|p| change_bytes(p, &c.changes))
                .collect();
            Changes::encode(&heads, cs.iter().map(Vec::as_slice))
        }
        PayloadPlan::Doc { heads, doc } => {
            let heads = resolve_heads(heads, v, s);
            DocPayload::encode(&heads, &change_bytes(doc, &c.docs))
        }
        PayloadPlan::Hello { reply_to, heads } => Hello {
            reply_to: match reply_to {
                Reply::Zero => 0,
                Reply::VictimEpoch => v.epoch,
                Reply::Any(n) => *n,
            },
            heads: resolve_heads(heads, v, s),
        }
        .encode(),
    }
}

/// `sync::Message::encode`, without its debug assertion that hashes are sorted: a hostile peer's
/// need not be.
pub fn encode_sync(m: &sync::Message) -> Vec<u8> {
    let put = crdt::frame::put_varint;
    let hashes = |out: &mut Vec<u8>, h: &[ChangeHash]| {
        put(out, h.len() as u64);
        for h in h {
            out.extend_from_slice(&h.0);
        }
    };
    let mut out = vec![match m.version {
        MessageVersion::V1 => 0x42,
        MessageVersion::V2 => 0x43,
    }];
    hashes(&mut out, &m.heads);
    hashes(&mut out, &m.need);
    put(&mut out, m.have.len() as u64);
    for have in &m.have {
        hashes(&mut out, &have.last_sync);
        let bloom = have.bloom.to_bytes();
        put(&mut out, bloom.len() as u64);
        out.extend_from_slice(&bloom);
    }
    put(&mut out, m.changes.len() as u64);
    for c in m.changes.iter() {
        put(&mut out, c.len() as u64);
        out.extend_from_slice(c);
    }
    if let Some(caps) = &m.supported_capabilities {
        put(&mut out, caps.len() as u64);
        for c in caps {
            out.push(match c {
                Capability::MessageV1 => 1,
                Capability::MessageV2 => 2,
                Capability::Unknown(b) => *b,
            });
        }
    }
    out
}

// ----- running -----

/// The header the peer's next data frame would carry.
struct Seq {
    epoch: u64,
    next: u64,
}

static FORGED: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);
static CHANGED: AtomicU64 = AtomicU64::new(0);
static RESTARTED: AtomicU64 = AtomicU64::new(0);
static ANSWERED: AtomicU64 = AtomicU64::new(0);

/// How deep the forged frames got: how many were delivered, dropped the peer, changed the doc.
pub fn report() {
    let f = FORGED.load(Ordering::Relaxed);
    let d = DROPPED.load(Ordering::Relaxed);
    let c = CHANGED.load(Ordering::Relaxed);
    let r = RESTARTED.load(Ordering::Relaxed);
    let a = ANSWERED.load(Ordering::Relaxed);
    eprintln!(
        "fuzz target sync_receive: {f} forged frames delivered: {d} dropped the peer, {r} restarted \
         the session, {a} answered with data, {c} changed the document"
    );
}

fn deliver(v: &mut Victim, ev: Event) -> Result<(), TestCaseError> {
    let frame_limit = v.engine.config().max_frame.clamp(256, MAX_FRAME);
    let before = v.engine.board_mut().heads();
    let effects = v.engine.handle(ev, v.now);
    let doc = v.engine.board_mut().doc_mut();
    for h in &before {
        prop_assert!(doc.get_change_by_hash(h).is_some(), "lost change {}", h);
    }
    let mut dropped = false;
    for e in &effects {
        match e {
            Effect::Send { peer, frame } => {
                prop_assert_eq!(peer, PEER);
                prop_assert!(!dropped, "sent to a dropped peer: {:?}", effects);
                prop_assert!(frame.len() <= frame_limit, "frame of {} bytes", frame.len());
                let f = frame::decode(frame);
                prop_assert!(f.is_ok(), "the victim sent an undecodable frame: {:?}", f);
                if let Ok(f) = f {
                    if f.header.epoch != v.epoch {
                        v.epoch = f.header.epoch;
                        v.sent = 0;
                    }
                    if f.header.kind != FrameKind::Ack {
                        v.sent = v.sent.max(f.header.seq + 1);
                    }
                }
            }
            Effect::DropPeer { peer, .. } => {
                prop_assert_eq!(peer, PEER);
                dropped = true;
            }
            Effect::DocChanged | Effect::WakeAt { .. } => {}
        }
    }
    if dropped {
        prop_assert!(v.engine.peers().all(|p| p != PEER));
    }
    Ok(())
}

fn replay(v: &mut Victim, now: u64, ev: &Ev) -> Result<(), TestCaseError> {
    v.now = v.now.max(now);
    match ev {
        Ev::Connected => deliver(v, Event::Connected(PEER.into())),
        Ev::Frame(f) => deliver(v, Event::Frame(PEER.into(), f.clone())),
        Ev::Tick => deliver(v, Event::Tick),
        Ev::Edit(i) => {
            EDITS[*i](v.engine.board_mut());
            deliver(v, Event::LocalChange)
        }
    }
}

fn frame_from_peer(v: &mut Victim, frame: Vec<u8>) -> Result<(), TestCaseError> {
    FORGED.fetch_add(1, Ordering::Relaxed);
    let before = v.engine.board_mut().heads();
    let connected = v.engine.peers().any(|p| p == PEER);
    let (epoch, sent) = (v.epoch, v.sent);
    deliver(v, Event::Frame(PEER.into(), frame))?;
    if v.epoch != epoch {
        RESTARTED.fetch_add(1, Ordering::Relaxed);
    } else if v.sent > sent {
        ANSWERED.fetch_add(1, Ordering::Relaxed);
    }
    if connected && v.engine.peers().all(|p| p != PEER) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    if v.engine.board_mut().heads() != before {
        CHANGED.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

pub fn check(plan: Plan) -> Result<(), TestCaseError> {
    let c = corpus();
    let s = &c.scenarios[plan.scenario % c.scenarios.len()];
    let cut = 1 + plan.cut % s.trace.len();
    let mut v = Victim {
        engine: Engine::with_config(s.board.clone(), s.config),
        now: corpus::T0,
        epoch: 0,
        sent: 0,
    };
    for (now, ev) in &s.trace[..cut] {
        replay(&mut v, *now, ev)?;
    }
    // the peer's next header: after its last frame before the cut, or its first frame's epoch
    let last = s.trace[..cut].iter().rev().find_map(|(_, ev)| match ev {
        Ev::Frame(f) => frame::decode(f).ok().map(|f| f.header),
        _ => None,
    });
    let mut seq = match last {
        Some(h) => Seq {
            epoch: h.epoch,
            next: if h.kind == FrameKind::Ack {
                h.seq
            } else {
                h.seq + 1
            },
        },
        None => Seq {
            epoch: s
                .frames
                .first()
                .and_then(|f| frame::decode(f).ok())
                .map_or(1, |f| f.header.epoch),
            next: 0,
        },
    };
    for inj in &plan.injections {
        match inj {
            Injection::RawFrame(b) => frame_from_peer(&mut v, b.clone())?,
            Injection::MutatedFrame { frame, mutations } => {
                let donors: Vec<&[u8]> = s.frames.iter().take(16).map(Vec::as_slice).collect();
                let f = mutate::mutated(&s.frames[frame % s.frames.len()], mutations, &donors);
                frame_from_peer(&mut v, f)?;
            }
            Injection::Framed {
                kind,
                payload,
                split,
                header_edit,
            } => {
                let payload = build_payload(payload, &mut v, s);
                let mut header = Header {
                    kind: FrameKind::ALL[*kind],
                    epoch: seq.epoch,
                    seq: seq.next,
                    ack_epoch: v.epoch,
                    ack_count: v.sent,
                    chunk: None,
                };
                if let Some((field, value)) = header_edit {
                    match field {
                        0 => header.epoch = *value,
                        1 => header.seq = *value,
                        2 => header.ack_epoch = *value,
                        _ => header.ack_count = *value,
                    }
                }
                let pieces: Vec<&[u8]> = match split {
                    Some(sp) if header.kind != FrameKind::Ack => {
                        crdt::chunk::split(&payload, sp.piece.max(1))
                    }
                    _ => vec![&payload[..]],
                };
                if pieces.len() < 2 {
                    frame_from_peer(&mut v, frame::encode(&header, &payload))?;
                    if header.kind != FrameKind::Ack {
                        seq.next += 1;
                    }
                } else {
                    let message = seq.next; // any id will do
                    for (i, piece) in pieces.iter().enumerate() {
                        let mut info = ChunkInfo {
                            message,
                            index: i as u64,
                            count: pieces.len() as u64,
                            total: payload.len() as u64,
                        };
                        if let Some(Split {
                            tamper: Some((at, field, value)),
                            ..
                        }) = split
                        {
                            if at % pieces.len() == i {
                                match field {
                                    0 => info.message = *value,
                                    1 => info.index = *value,
                                    2 => info.count = *value,
                                    _ => info.total = *value,
                                }
                            }
                        }
                        let h = Header {
                            seq: seq.next,
                            ack_epoch: v.epoch,
                            ack_count: v.sent,
                            chunk: Some(info),
                            ..header
                        };
                        seq.next += 1;
                        frame_from_peer(&mut v, frame::encode(&h, piece))?;
                    }
                }
            }
            Injection::Tick(ms) => {
                v.now += u64::from(*ms);
                deliver(&mut v, Event::Tick)?;
            }
            Injection::Edit(i) => {
                EDITS[*i](v.engine.board_mut());
                deliver(&mut v, Event::LocalChange)?;
            }
        }
    }
    if plan.resume {
        for (now, ev) in &s.trace[cut..] {
            replay(&mut v, *now, ev)?;
        }
    }
    finish(v)
}

/// The document is intact and usable: it renders, saves and loads again, and syncs with a new
/// honest peer.
fn finish(mut v: Victim) -> Result<(), TestCaseError> {
    let _ = v.engine.board().view();
    let heads = v.engine.board_mut().heads();
    corpus::saves_and_reloads(v.engine.board_mut().doc_mut())?;
    let _ = v.engine.handle(Event::Disconnected(PEER.into()), v.now);
    let mut fresh = corpus::board(20);
    fresh.set_title("honest").unwrap();
    fresh.commit(0);
    let now = v.now + 1_000;
    let honest = Engine::with_config(fresh, Config::default());
    let mut net = Two::new(v.engine, honest, now);
    net.connect();
    prop_assert!(net.run(), "sync with an honest peer did not go quiet");
    prop_assert!(!net.dropped, "an honest peer was dropped");
    let a = net.e[0].board_mut().heads();
    let b = net.e[1].board_mut().heads();
    prop_assert_eq!(a.clone(), b, "did not converge with an honest peer");
    let doc = net.e[0].board_mut().doc_mut();
    for h in &heads {
        prop_assert!(doc.get_change_by_hash(h).is_some(), "lost change {}", h);
    }
    let _ = VICTIM;
    Ok(())
}
