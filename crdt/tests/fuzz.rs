//! Fuzz targets for everything a peer or storage hands the crdt crate, on stable Rust: proptest
//! drives structure-aware generators (inputs built from real engines and boards, then mutated
//! with bit flips, truncation, insertion, splicing and varint edits, Automerge chunk checksums
//! recomputed) and shrinks any failure.
//!
//! Targets: `frame_decode`, `chunk_reassembly`, `sync_receive`, `document_load` (see the module
//! of each for its properties), and regressions for what they found.
//!
//! ```text
//! # short runs (a few seconds each, part of the normal test suite)
//! cargo test -p crdt --test fuzz
//!
//! # a long run of one target: FUZZ_SECONDS of wall-clock time, fresh seeds batch after batch,
//! # progress every minute and the number of cases at the end (the profile overrides keep
//! # overflow checks and debug assertions, as in a debug build, at release speed)
//! CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true \
//!   FUZZ_SECONDS=1800 cargo test --release -p crdt --test fuzz -- --nocapture --exact sync_receive
//!
//! # replay a failure: the failing run prints its seed and batch size
//! FUZZ_SEED=0x1234 FUZZ_CASES=500 cargo test -p crdt --test fuzz -- --nocapture --exact sync_receive
//!
//! ```
//!
//! A failure prints the seed, the shrunk input and the command that replays it. Any panic fails,
//! inside automerge too: the defects of automerge 0.6.1 the targets found (panics on crafted
//! input, accepted changes whose save does not load) are fixed in vendor/automerge (see its
//! PATCHES.md), and the regression tests below pin each fix.
//!
//! The whole test binary runs under an allocator capped at `FUZZ_MEMORY_LIMIT` bytes (default
//! 4 GiB): an input that makes anything allocate without bound aborts with "memory allocation of
//! N bytes failed" instead of exhausting the machine; the last "batch ... seed" line printed
//! before the abort (with `--nocapture`) replays it.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "fuzz/chunks.rs"]
mod chunks;
#[path = "fuzz/corpus.rs"]
mod corpus;
#[path = "fuzz/frames.rs"]
mod frames;
#[path = "fuzz/harness.rs"]
mod harness;
#[path = "fuzz/load.rs"]
mod load;
#[path = "fuzz/mutate.rs"]
mod mutate;
#[path = "fuzz/sync.rs"]
mod sync;

use std::alloc::System;

use cap::Cap;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// Cap the process's heap (idempotent).
pub fn limit_memory() {
    let limit = std::env::var("FUZZ_MEMORY_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4usize << 30);
    let _ = ALLOCATOR.set_limit(limit);
}

#[test]
fn frame_decode() {
    harness::run("frame_decode", 6000, frames::input(), frames::check);
}

#[test]
fn chunk_reassembly() {
    harness::run("chunk_reassembly", 2000, chunks::plan(), chunks::check);
}

#[test]
fn sync_receive() {
    harness::run("sync_receive", 400, sync::plan(), sync::check);
    sync::report();
}

#[test]
fn document_load() {
    harness::run("document_load", 400, load::plan(), load::check);
}

/// The recorded sessions replay exactly: the victim reaches the same heads as in the recording.
#[test]
fn corpus_replays() {
    let c = corpus::corpus();
    assert!(c.scenarios.len() >= 5);
    for s in &c.scenarios {
        assert!(
            s.messages.iter().any(|m| m.0 != frame_kind_hello()),
            "{}",
            s.name
        );
    }
}

fn frame_kind_hello() -> crdt::frame::FrameKind {
    crdt::frame::FrameKind::Hello
}

// ----- regressions found by the targets -----

/// Two concurrent heads, so that their order on the wire can be wrong.
fn two_heads_board() -> crdt::Board {
    let mut a = corpus::board(40);
    a.set_title("a").unwrap();
    a.commit(1);
    let mut b = corpus::board(41);
    b.set_title("b").unwrap();
    b.commit(1);
    a.merge(&mut b).unwrap();
    assert_eq!(a.heads().len(), 2);
    a
}

/// A peer's Hello or push with the victim's own heads in the wrong order made the victim encode a
/// sync message with unsorted hashes: automerge 0.6.1's `debug_assert` ("hashes were not
/// sorted") panicked in debug builds. Heads from the wire are now put in order.
#[test]
fn regression_unsorted_heads_from_a_peer() {
    use crdt::engine::{Config, Effect, Engine, Event};
    use crdt::frame::{self, Changes, FrameKind, Header, Hello};
    for direct in [false, true] {
        let config = Config {
            direct,
            ..Config::default()
        };
        let mut victim = Engine::with_config(two_heads_board(), config);
        let mut reversed = victim.board_mut().heads();
        reversed.reverse();
        let now = corpus::T0;
        victim.handle(Event::Connected("1".into()), now);
        let mut h = Header {
            kind: FrameKind::Hello,
            epoch: 1,
            seq: 0,
            ack_epoch: 0,
            ack_count: 0,
            chunk: None,
        };
        let hello = Hello {
            reply_to: 0,
            heads: reversed.clone(),
        };
        let effects = victim.handle(
            Event::Frame("1".into(), frame::encode(&h, &hello.encode())),
            now,
        );
        assert!(
            !effects.iter().any(|e| matches!(e, Effect::DropPeer { .. })),
            "{effects:?}"
        );
        h.seq = 1;
        h.kind = FrameKind::Changes;
        let push = Changes::encode(&reversed, []);
        victim.handle(Event::Frame("1".into(), frame::encode(&h, &push)), now);
        assert_eq!(victim.board_mut().heads().len(), 2);
    }
}

/// The hex of a 624-byte document chunk (a real save, spliced, checksum recomputed) that passes
/// `saved::well_formed` and made automerge 0.6.1 panic in both `AutoCommit::load` and
/// `load_incremental`: "internal error: entered unreachable code: validate_action_and_value
/// returned UnknownAction" (types.rs:271, via storage::load::reconstruct_document::import_op).
/// Reachable from a peer's Doc push and from a damaged IndexedDB record.
const UNKNOWN_ACTION_DOC: &str = include_str!("data/unknown-action.doc.hex");

fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim();
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn regression_an_unknown_action_is_a_load_error() {
    let bytes = unhex(UNKNOWN_ACTION_DOC);
    assert!(crdt::saved::well_formed(&bytes));
    assert!(crdt::automerge::AutoCommit::load(&bytes).is_err());
    let mut board = corpus::board(31);
    let heads = board.heads();
    // into a board with changes, a document chunk is decoded to changes and the ones that do not
    // decode are skipped (upstream's partial load): nothing is applied
    let _ = board.doc_mut().load_incremental(&bytes);
    assert_eq!(board.heads(), heads);
}

/// The first change of a new actor, with its sequence number changed from 1 to `seq` and its
/// checksum recomputed: nothing but a field edit, which any peer can make.
fn change_with_seq(seq: u8) -> crdt::automerge::Change {
    use crdt::automerge::transaction::Transactable;
    let mut doc = crdt::automerge::AutoCommit::new().with_actor(corpus::actor(7));
    doc.put(crdt::automerge::ROOT, "x", 1).unwrap();
    doc.commit();
    let mut bytes = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
    // body: 0 deps, actor length 16, the actor, then the sequence number
    let at = bytes.iter().position(|b| *b == 16).unwrap() + 17;
    assert_eq!(bytes[at], 1);
    bytes[at] = seq;
    let change = crdt::automerge::Change::from_bytes(corpus::fix_chunks(&bytes)).unwrap();
    assert_eq!(change.seq(), u64::from(seq));
    change
}

/// automerge 0.6.1 applied a change whose sequence number skips (the first change of an actor
/// numbered 5): `apply_changes` said Ok, and `save()` then wrote a document its own `load`
/// refused ("changes out of order"); the long fuzz runs also saw `get_changes` panic after such a
/// change (automerge.rs:1015). A peer can send such a change in a Changes frame, a sync message or
/// a Doc payload. The vendored automerge refuses it, and a duplicate too.
#[test]
fn regression_a_sequence_gap_is_refused() {
    for seq in [5, 0, 2] {
        let change = change_with_seq(seq);
        let hash = change.hash();
        let mut doc = corpus::board(8);
        let heads = doc.heads();
        assert!(doc.doc_mut().apply_changes([change]).is_err(), "seq {seq}");
        assert!(doc.doc_mut().get_change_by_hash(&hash).is_none());
        assert_eq!(doc.heads(), heads);
        let saved = doc.doc_mut().save();
        assert_eq!(
            crdt::automerge::AutoCommit::load(&saved)
                .unwrap()
                .get_heads(),
            heads
        );
    }
    let mut doc = corpus::board(8);
    doc.doc_mut().apply_changes([change_with_seq(1)]).unwrap();
}

/// A second change of one actor whose op counters start again at 1, as if it had not seen its
/// own first change (a field edit, checksum recomputed): op ids repeat. automerge 0.6.1 as
/// published applied it; the vendored one refuses it.
#[test]
fn regression_op_counters_that_overlap_the_actors_previous_change_are_refused() {
    use crdt::automerge::transaction::Transactable;
    use crdt::automerge::{AutoCommit, ROOT};
    let mut a = AutoCommit::new().with_actor(corpus::actor(7));
    a.put(ROOT, "x", 1).unwrap();
    a.commit();
    let first = a.get_last_local_change().unwrap().clone();
    a.put(ROOT, "y", 2).unwrap();
    a.commit();
    let mut bytes = a.get_last_local_change().unwrap().raw_bytes().to_vec();
    // body: 1 dep (32 bytes), actor length 16, the actor, the sequence number 2, start op 2
    let at = bytes
        .windows(17)
        .position(|w| w == [[16u8].as_slice(), &[7; 16]].concat())
        .unwrap()
        + 17;
    assert_eq!(bytes[at..at + 2], [2, 2]);
    bytes[at + 1] = 1;
    let second = crdt::automerge::Change::from_bytes(corpus::fix_chunks(&bytes)).unwrap();
    assert_eq!(second.start_op().get(), 1);
    let mut doc = AutoCommit::new();
    doc.apply_changes([first]).unwrap();
    let heads = doc.get_heads();
    assert!(doc.apply_changes([second]).is_err());
    assert_eq!(doc.get_heads(), heads);
}

/// A merge change with its two dependencies listed in descending order (swapped, checksum
/// recomputed): the same history, but not how automerge writes a change. automerge 0.6.1 applied
/// it under its hash, `save()` wrote the dependencies sorted, and the save loaded with
/// "mismatching heads". The vendored automerge encodes each change again from its ops and refuses
/// one that comes out with another hash.
#[test]
fn regression_a_change_not_in_canonical_form_is_refused() {
    let mut doc = two_heads_board();
    let heads = doc.heads();
    let mut merge = corpus::board(42);
    merge
        .doc_mut()
        .apply_changes(doc.doc_mut().get_changes(&[]).into_iter().cloned())
        .unwrap();
    merge.set_title("merged").unwrap();
    merge.commit(2);
    let mut bytes = merge
        .doc_mut()
        .get_last_local_change()
        .unwrap()
        .raw_bytes()
        .to_vec();
    let (lo, hi) = (heads[0].0, heads[1].0);
    let at = bytes
        .windows(64)
        .position(|w| w == [lo, hi].concat())
        .unwrap();
    bytes[at..at + 64].copy_from_slice(&[hi, lo].concat());
    let swapped = crdt::automerge::Change::from_bytes(corpus::fix_chunks(&bytes)).unwrap();
    assert_eq!(swapped.deps(), [heads[1], heads[0]]);
    let err = doc.doc_mut().apply_changes([swapped]).unwrap_err();
    assert!(
        err.to_string().contains("not in the form save() writes"),
        "{err}"
    );
    assert_eq!(doc.heads(), heads);
}

/// Found by sync_receive: a V2 sync message carrying a document (a real save with one bit
/// flipped, checksum recomputed) whose changes decode with an op whose predecessor is not an op
/// at that key. automerge 0.6.1 applied it; the op set keeps successors, not predecessors, so
/// `save()` wrote the change without that predecessor and the save loaded with "mismatching
/// heads". The vendored automerge checks predecessors before applying.
#[test]
fn regression_a_predecessor_that_is_not_there_is_refused() {
    let plan = sync::Plan {
        scenario: 897661148153532643,
        cut: 5490144472242676982,
        injections: vec![sync::Injection::Framed {
            kind: 2,
            payload: sync::PayloadPlan::Sync {
                base: 0,
                edits: vec![sync::SyncEdit::Doc(sync::ChangePlan {
                    index: 15488847044415577204,
                    mutations: vec![mutate::Mutation::FlipBit {
                        at: 887681272477514655,
                        bit: 24,
                    }],
                    fix: true,
                })],
            },
            split: None,
            header_edit: None,
        }],
        resume: false,
    };
    sync::check(plan).unwrap();
}

/// Found by document_load: a run length of i64::MIN in a column ("attempt to negate with
/// overflow" in automerge's RLE decoder with overflow checks; on wasm32 a run length beyond
/// `isize` wrapped instead). Now a decode error.
#[test]
fn regression_a_run_length_out_of_range_is_a_decode_error() {
    let plan = load::Plan {
        source: load::Source::Concat(vec![(
            3919658301006204826,
            vec![mutate::Mutation::Varint {
                at: 46,
                value: mutate::VarintValue::Signed(i64::MIN),
            }],
            true,
        )]),
        into: 0,
    };
    load::check(plan).unwrap();
}

/// Found by both targets: a change (a real one with a byte zeroed, checksum recomputed) whose op
/// names an element by an actor that authored no change of the document. automerge 0.6.1
/// applied it, and `save()` panicked ("no entry found for key", op_as_docop.rs:156: the document
/// format indexes only the actors of changes). The vendored automerge checks that the element is
/// there before applying.
#[test]
fn regression_an_element_that_is_not_there_is_refused() {
    let load = load::Plan {
        source: load::Source::Real {
            index: 5108084911759305010,
            mutations: vec![mutate::Mutation::SetByte {
                at: 644492180292540718,
                value: 0,
            }],
            fix: true,
        },
        into: 1264398780899488160,
    };
    load::check(load).unwrap();
    let push = sync::Plan {
        scenario: 6617169040461033159,
        cut: 4068579660378088765,
        injections: vec![sync::Injection::Framed {
            kind: 3,
            payload: sync::PayloadPlan::Changes {
                heads: sync::Heads::Victim,
                changes: vec![sync::ChangePlan {
                    index: 14677244272838963713,
                    mutations: vec![mutate::Mutation::SetByte {
                        at: 16802487542160714884,
                        value: 0,
                    }],
                    fix: true,
                }],
            },
            split: None,
            header_edit: None,
        }],
        resume: false,
    };
    sync::check(push).unwrap();
}

/// A change whose checksum does not match passed `Change::from_bytes`, so a Changes frame could
/// plant it: the victim applied it and forwarded it, and honest peers (whose loaders and sync
/// guard check checksums) then dropped the victim on every connection. The engine now checks the
/// checksum of pushed changes and drops the sender instead (and the vendored automerge refuses
/// it in `Change::from_bytes`).
#[test]
fn regression_a_pushed_change_with_a_bad_checksum_drops_the_sender() {
    use crdt::engine::{Effect, Engine, Event};
    use crdt::frame::{self, Changes, FrameKind, Header, Hello};
    let mut victim = Engine::new(corpus::board(10));
    let heads = victim.board_mut().heads();
    let mut other = corpus::board(11);
    other.set_title("x").unwrap();
    other.commit(1);
    let mut change = other
        .doc_mut()
        .get_last_local_change()
        .unwrap()
        .raw_bytes()
        .to_vec();
    // flip a bit of the actor id: the change still parses, as another actor's
    let at = change.windows(16).position(|w| w == [11; 16]).unwrap();
    change[at] ^= 1;
    // it parses (automerge 0.6.1 as published took it; the vendored one refuses the checksum)
    assert!(crdt::automerge::Change::from_bytes(change.clone()).is_err());
    let now = corpus::T0;
    victim.handle(Event::Connected("1".into()), now);
    let mut h = Header {
        kind: FrameKind::Hello,
        epoch: 1,
        seq: 0,
        ack_epoch: 0,
        ack_count: 0,
        chunk: None,
    };
    let hello = Hello {
        reply_to: 0,
        heads: heads.clone(),
    };
    victim.handle(
        Event::Frame("1".into(), frame::encode(&h, &hello.encode())),
        now,
    );
    h.seq = 1;
    h.kind = FrameKind::Changes;
    let push = Changes::encode(&heads, [&change[..]]);
    let effects = victim.handle(Event::Frame("1".into(), frame::encode(&h, &push)), now);
    assert!(
        effects.iter().any(|e| matches!(e, Effect::DropPeer { .. })),
        "{effects:?}"
    );
    assert_eq!(victim.board_mut().heads(), heads);
}

/// A sync message whose heads are out of order (found by sync_receive: the genesis hash and an
/// unknown one, descending, in session "behind") made the victim answer with a `need` list in the
/// same order, and automerge 0.6.1's encoder `debug_assert`s sorted hashes: a panic in debug
/// builds. The engine now sorts the hash lists of a peer's sync message before Automerge sees it.
#[test]
fn regression_a_sync_message_with_unsorted_heads() {
    let plan = sync::Plan {
        scenario: 6056353305816010052,
        cut: 12772878522276331542,
        injections: vec![sync::Injection::Framed {
            kind: 2,
            payload: sync::PayloadPlan::Sync {
                base: 7859036165616712800,
                edits: vec![sync::SyncEdit::Heads(sync::Heads::Picks(vec![
                    sync::Pick::Known(14839712800348643173),
                    sync::Pick::Known(11156864641556050492),
                ]))],
            },
            split: None,
            header_edit: None,
        }],
        resume: false,
    };
    sync::check(plan).unwrap();
}

/// automerge 0.6.1: when `apply_changes` (or `load_incremental`) failed part-way, here on a change
/// that reuses another's actor and sequence number, it returned before applying the queued
/// changes that the batch made ready. They stayed queued although their dependencies were
/// present, `save()` wrote them out ("orphans"), and the saved document loaded with other heads
/// than the document had. Found by sync_receive (a peer's sync message, then a Doc push). The
/// vendored automerge applies them before it returns the error.
#[test]
fn regression_ready_changes_are_applied_after_a_failed_apply() {
    use crdt::automerge::transaction::Transactable;
    use crdt::automerge::{AutoCommit, ROOT};
    let mut a = AutoCommit::new().with_actor(corpus::actor(1));
    a.put(ROOT, "a", 1).unwrap();
    a.commit();
    let mut p = a.fork().with_actor(corpus::actor(2));
    p.put(ROOT, "p", 1).unwrap();
    p.commit();
    let mut q = p.fork().with_actor(corpus::actor(3));
    q.put(ROOT, "q", 1).unwrap();
    q.commit();
    // another change as actor 1, sequence number 1
    let mut rival = AutoCommit::new().with_actor(corpus::actor(1));
    rival.put(ROOT, "rival", 1).unwrap();
    rival.commit();

    let mut doc = AutoCommit::new();
    doc.apply_changes(a.get_changes(&[]).into_iter().cloned())
        .unwrap();
    let q_change = q.get_last_local_change().unwrap().clone();
    doc.apply_changes([q_change]).unwrap(); // queued: p's change is missing
    let mut batch = p.get_last_local_change().unwrap().raw_bytes().to_vec();
    batch.extend(rival.get_last_local_change().unwrap().raw_bytes());
    assert!(
        doc.load_incremental(&batch).is_err(),
        "duplicate sequence number"
    );
    assert!(
        doc.get_change_by_hash(&q.get_heads()[0]).is_some(),
        "q applied"
    );
    let heads = doc.get_heads();
    let mut reloaded = AutoCommit::load(&doc.save()).unwrap();
    assert_eq!(reloaded.get_heads(), heads);
}

/// The engine side of the above: a sync message leaves a change queued, then a Doc push that
/// automerge refuses part-way (a duplicate sequence number) makes it ready without applying it.
/// The engine now drains automerge's queue after a refused message, so the document it holds is
/// the one it saves. (Found by sync_receive, seed 0x18eaa8cff3414eb3.)
#[test]
fn regression_a_refused_push_leaves_no_ready_change_queued() {
    let plan = sync::Plan {
        scenario: 14436778724477264594,
        cut: 17434556153806353991,
        injections: vec![
            sync::Injection::Framed {
                kind: 2,
                payload: sync::PayloadPlan::Real {
                    message: 8773935233197986629,
                    mutations: vec![],
                },
                split: None,
                header_edit: None,
            },
            sync::Injection::Framed {
                kind: 4,
                payload: sync::PayloadPlan::Doc {
                    heads: sync::Heads::Victim,
                    doc: sync::ChangePlan {
                        index: 14793207451562601382,
                        mutations: vec![],
                        fix: false,
                    },
                },
                split: None,
                header_edit: None,
            },
        ],
        resume: false,
    };
    sync::check(plan).unwrap();
}

/// A peer sent changes in the victim's own actor's name whose dependencies the victim lacks
/// (automerge queues those), then the victim edited: its own change took sequence number 1 while
/// the forged seq-1 change stayed queued, and `save()` wrote both ("duplicate seq" on load). Found
/// by sync_receive (two sync messages from another session with the same actor id); the
/// vendored automerge drops a queued change once its sequence number is used.
#[test]
fn regression_a_queued_change_in_our_name_is_dropped_when_we_use_its_number() {
    use crdt::automerge::transaction::Transactable;
    use crdt::automerge::{AutoCommit, ROOT};
    let mut p = AutoCommit::new().with_actor(corpus::actor(1));
    p.put(ROOT, "p", 1).unwrap();
    p.commit();
    let mut forged = p.fork().with_actor(corpus::actor(9));
    forged.put(ROOT, "forged", 1).unwrap();
    forged.commit();
    let forged = forged.get_last_local_change().unwrap().clone();
    let mut victim = AutoCommit::new().with_actor(corpus::actor(9));
    victim.apply_changes([forged]).unwrap();
    assert_eq!(victim.get_missing_deps(&[]).len(), 1, "queued");
    victim.put(ROOT, "mine", 1).unwrap();
    victim.commit();
    let heads = victim.get_heads();
    let mut again = AutoCommit::load(&victim.save()).unwrap();
    assert_eq!(again.get_heads(), heads);
    // the same through the engine, as the fuzz target found it

    let inj = |index: usize| sync::Injection::Framed {
        kind: 2,
        payload: sync::PayloadPlan::Sync {
            base: 0,
            edits: vec![sync::SyncEdit::Changes(vec![sync::ChangePlan {
                index,
                mutations: vec![],
                fix: false,
            }])],
        },
        split: None,
        header_edit: None,
    };
    let plan = sync::Plan {
        scenario: 3981450111998324778,
        cut: 8811909634412193061,
        injections: vec![inj(11666742151309833578), inj(4488000126170048451)],
        resume: true,
    };
    sync::check(plan).unwrap();
}
