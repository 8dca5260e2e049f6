//! Target `chunk_reassembly`: sequences of `Reassembler::push` mixing honest senders (several
//! interleaved messages, split in order) with arbitrary and tampered chunk infos and payloads.
//!
//! Properties, after every push: `partials() <= max_partials` and `buffered() <= max_message`
//! (the documented bound: all incomplete messages of a peer together hold at most one message's
//! worth); `buffered()` is exactly the bytes accepted for incomplete messages; a completed message
//! is exactly what was pushed for it, `total` bytes long; and honest chunks within the limits are
//! never refused.

use std::collections::{BTreeMap, BTreeSet};

use crdt::chunk::{Limits, Reassembler};
use crdt::frame::{ChunkInfo, FrameKind};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const SLOTS: usize = 4;

#[derive(Debug, Clone)]
pub enum Step {
    /// An honest sender in `slot` starts a message of `count` chunks and `total` bytes.
    Start {
        slot: usize,
        kind: usize,
        count: u64,
        total: u64,
    },
    /// The next chunk of the slot's message: `len` bytes, or what is left for the last chunk.
    Next {
        slot: usize,
        len: usize,
    },
    /// The next chunk of the slot's message with one field of its info changed.
    Tamper {
        slot: usize,
        field: u8,
        value: u64,
        len: usize,
    },
    /// Anything at all.
    Raw {
        kind: usize,
        message: u64,
        index: u64,
        count: u64,
        total: u64,
        len: usize,
    },
    Clear,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub max_message: usize,
    pub max_partials: usize,
    /// Like the engine (which drops the peer): clear after an error. Otherwise keep pushing into
    /// the same reassembler, where only the bounds are checked after the first error.
    pub clear_on_error: bool,
    pub steps: Vec<Step>,
}

fn number() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..8,
        2 => 0u64..2000,
        1 => prop_oneof![Just(u64::MAX), Just(u64::MAX - 1), Just(1 << 32), Just(1 << 63)],
        1 => any::<u64>(),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..SLOTS, 0..FrameKind::ALL.len(), 2u64..8, prop_oneof![0u64..64, 0u64..600, 0u64..3000])
            .prop_map(|(slot, kind, count, total)| Step::Start { slot, kind, count, total }),
        10 => (0..SLOTS, prop_oneof![0usize..32, 0usize..400])
            .prop_map(|(slot, len)| Step::Next { slot, len }),
        1 => (0..SLOTS, 0u8..5, number(), 0usize..400)
            .prop_map(|(slot, field, value, len)| Step::Tamper { slot, field, value, len }),
        1 => (0..FrameKind::ALL.len(), number(), number(), number(), number(), 0usize..400).prop_map(
            |(kind, message, index, count, total, len)| Step::Raw {
                kind,
                message,
                index,
                count,
                total,
                len
            }
        ),
        1 => Just(Step::Clear),
    ]
}

pub fn plan() -> impl Strategy<Value = Plan> {
    (
        prop_oneof![Just(0usize), 1usize..64, 64usize..1200, 1200usize..5000],
        prop_oneof![Just(0usize), 1usize..6],
        any::<bool>(),
        vec(step(), 1..60),
    )
        .prop_map(|(max_message, max_partials, clear_on_error, steps)| Plan {
            max_message,
            max_partials,
            clear_on_error,
            steps,
        })
}

/// An honest sender's message in progress.
#[derive(Debug, Clone)]
struct Sending {
    id: u64,
    kind: FrameKind,
    count: u64,
    total: u64,
    next: u64,
    sent: u64,
    /// Some other step pushed a chunk with this id: the sender is no longer alone.
    tainted: bool,
}

fn fill(message: u64, index: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (message as u8).wrapping_mul(31) ^ (index as u8).wrapping_mul(7) ^ (i as u8))
        .collect()
}

pub fn check(plan: Plan) -> Result<(), TestCaseError> {
    let limits = Limits {
        max_message: plan.max_message,
        max_partials: plan.max_partials,
    };
    let mut r = Reassembler::default();
    let mut slots: [Option<Sending>; SLOTS] = Default::default();
    let mut generation = 0u64;
    // bytes accepted for each incomplete message, while the model is exact
    let mut model: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut exact = true;
    // ids that something other than their honest sender used
    let mut foreign: BTreeSet<u64> = BTreeSet::new();
    for step in &plan.steps {
        // (kind, info, payload, the slot of an honest sender if this chunk is honest)
        let (kind, info, payload, honest) = match *step {
            Step::Clear => {
                r.clear();
                prop_assert_eq!((r.partials(), r.buffered()), (0, 0));
                model.clear();
                exact = true;
                slots = Default::default();
                continue;
            }
            Step::Start {
                slot,
                kind,
                count,
                total,
            } => {
                generation += 1;
                let id = generation << 3 | slot as u64;
                let s = Sending {
                    id,
                    kind: FrameKind::ALL[kind],
                    count,
                    total,
                    next: 0,
                    sent: 0,
                    tainted: foreign.contains(&id),
                };
                // an unfinished message in this slot is abandoned (still counted by the reassembler)
                slots[slot] = Some(s);
                continue;
            }
            Step::Next { slot, len } | Step::Tamper { slot, len, .. } => {
                let Some(s) = &mut slots[slot] else {
                    continue;
                };
                let left = s.total - s.sent;
                let len = if s.next + 1 == s.count {
                    left
                } else {
                    (len as u64).min(left)
                };
                let mut info = ChunkInfo {
                    message: s.id,
                    index: s.next,
                    count: s.count,
                    total: s.total,
                };
                let mut kind = s.kind;
                let mut honest = !s.tainted;
                if let Step::Tamper { field, value, .. } = *step {
                    match field {
                        0 => info.message = value,
                        1 => info.index = value,
                        2 => info.count = value,
                        3 => info.total = value,
                        _ => kind = FrameKind::ALL[value as usize % FrameKind::ALL.len()],
                    }
                    honest = false;
                    s.tainted = true;
                    foreign.insert(info.message);
                }
                let payload = fill(info.message, info.index, len as usize);
                s.next += 1;
                s.sent += len;
                if s.next == s.count {
                    slots[slot] = None;
                }
                (kind, info, payload, honest.then_some(()))
            }
            Step::Raw {
                kind,
                message,
                index,
                count,
                total,
                len,
            } => {
                foreign.insert(message);
                for s in slots.iter_mut().flatten() {
                    if s.id == message {
                        s.tainted = true;
                    }
                }
                let info = ChunkInfo {
                    message,
                    index,
                    count,
                    total,
                };
                (FrameKind::ALL[kind], info, fill(message, index, len), None)
            }
        };
        if honest.is_none() {
            for s in slots.iter_mut().flatten() {
                if s.id == info.message {
                    s.tainted = true;
                }
            }
        }
        let partials_before = r.partials();
        let buffered_before = r.buffered();
        let result = r.push(kind, info, &payload, limits);

        // the bounds hold whatever happened
        prop_assert!(
            r.partials() <= limits.max_partials,
            "{} partials",
            r.partials()
        );
        prop_assert!(
            r.buffered() <= limits.max_message,
            "{} bytes buffered",
            r.buffered()
        );
        if let Ok(Some(m)) = &result {
            prop_assert_eq!(m.len() as u64, info.total);
            prop_assert!(m.len() <= limits.max_message);
        }

        // an honest chunk within the limits is accepted
        if honest.is_some() && exact {
            let fits_partials = info.index > 0 || partials_before < limits.max_partials;
            let fits_bytes = info.total <= limits.max_message as u64
                && buffered_before + payload.len() <= limits.max_message;
            if fits_partials && fits_bytes {
                prop_assert!(
                    result.is_ok(),
                    "honest chunk {:?} refused: {:?}",
                    info,
                    result
                );
            }
        }

        if exact {
            match &result {
                Ok(None) => model.entry(info.message).or_default().extend(&payload),
                Ok(Some(m)) => {
                    let mut expected = model.remove(&info.message).unwrap_or_default();
                    expected.extend(&payload);
                    prop_assert_eq!(m, &expected);
                }
                Err(_) => {
                    prop_assert!(
                        r.buffered() <= buffered_before + payload.len(),
                        "an error buffered more than the chunk"
                    );
                    if plan.clear_on_error {
                        r.clear();
                        model.clear();
                        slots = Default::default();
                    } else {
                        exact = false;
                    }
                }
            }
        }
        if exact {
            prop_assert_eq!(r.partials(), model.len());
            prop_assert_eq!(r.buffered(), model.values().map(Vec::len).sum::<usize>());
        }
    }
    Ok(())
}
