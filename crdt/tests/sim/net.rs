//! The simulated network: one channel per pair of nodes and the frames in flight on them.
//!
//! A channel is what a WebRTC data channel is to the engine: it opens (`Connected` on both sides)
//! and closes (`Disconnected` on both sides); frames sent on a channel that has closed since are
//! lost, and a reopened channel never carries frames of an earlier one. While faults are on, every
//! frame may be dropped, duplicated and delayed independently (which reorders them); a silent
//! partition loses every frame between its two sides. Without faults each direction of a channel
//! is reliable and in order (varying latency, FIFO).

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// What a misbehaving network does to each frame.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    pub drop: f64,
    pub dup: f64,
    /// Usual delay: 1..=max_delay ms, drawn per frame (so frames overtake each other).
    pub max_delay: u64,
    /// Chance of a long delay (100..=2000 ms), far behind later frames.
    pub long_delay: f64,
}

pub struct Frame {
    pub from: usize,
    pub to: usize,
    generation: u64,
    pub bytes: Vec<u8>,
}

#[derive(Default)]
struct Channel {
    open: bool,
    /// Bumped at every close: frames of an older generation are lost.
    generation: u64,
}

#[derive(Default)]
pub struct Net {
    /// None: reliable and in order.
    pub faults: Option<Faults>,
    /// A silent partition: frames between nodes on different sides are lost (nodes past the end
    /// are on neither side and reach everyone).
    pub cut: Option<Vec<bool>>,
    seq: u64,
    in_flight: BTreeMap<(u64, u64), Frame>,
    channels: BTreeMap<(usize, usize), Channel>,
    /// Per direction, the latest delivery time scheduled while reliable (keeps FIFO).
    last: BTreeMap<(usize, usize), u64>,
}

fn key(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Net {
    pub fn is_open(&self, a: usize, b: usize) -> bool {
        self.channels.get(&key(a, b)).is_some_and(|c| c.open)
    }

    /// Open the channel; false if it was open already.
    pub fn open(&mut self, a: usize, b: usize) -> bool {
        let c = self.channels.entry(key(a, b)).or_default();
        !std::mem::replace(&mut c.open, true)
    }

    /// Close the channel, losing what is in flight on it; false if it was closed already.
    pub fn close(&mut self, a: usize, b: usize) -> bool {
        let c = self.channels.entry(key(a, b)).or_default();
        c.generation += 1;
        std::mem::replace(&mut c.open, false)
    }

    fn separated(&self, a: usize, b: usize) -> bool {
        self.cut
            .as_ref()
            .is_some_and(|side| matches!((side.get(a), side.get(b)), (Some(x), Some(y)) if x != y))
    }

    pub fn send(&mut self, from: usize, to: usize, bytes: Vec<u8>, now: u64, rng: &mut ChaCha8Rng) {
        let Some(c) = self.channels.get(&key(from, to)).filter(|c| c.open) else {
            return;
        };
        let generation = c.generation;
        if self.separated(from, to) {
            return;
        }
        match self.faults {
            Some(f) => {
                if rng.random_bool(f.drop) {
                    return;
                }
                let copies = if rng.random_bool(f.dup) { 2 } else { 1 };
                for _ in 0..copies {
                    let delay = if rng.random_bool(f.long_delay) {
                        rng.random_range(100..=2000)
                    } else {
                        rng.random_range(1..=f.max_delay)
                    };
                    self.push(now + delay, from, to, generation, bytes.clone());
                }
            }
            None => {
                let latest = self.last.entry((from, to)).or_default();
                let at = (now + rng.random_range(1..=10)).max(*latest);
                *latest = at;
                self.push(at, from, to, generation, bytes);
            }
        }
    }

    fn push(&mut self, at: u64, from: usize, to: usize, generation: u64, bytes: Vec<u8>) {
        self.seq += 1;
        let frame = Frame {
            from,
            to,
            generation,
            bytes,
        };
        self.in_flight.insert((at, self.seq), frame);
    }

    /// When the next frame in flight arrives.
    pub fn next_at(&self) -> Option<u64> {
        self.in_flight.keys().next().map(|k| k.0)
    }

    /// The next frame due by `now` that its channel still carries (others are lost on the way).
    pub fn pop(&mut self, now: u64) -> Option<Frame> {
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > now {
                return None;
            }
            let f = entry.remove();
            let live = self
                .channels
                .get(&key(f.from, f.to))
                .is_some_and(|c| c.open && c.generation == f.generation);
            if live && !self.separated(f.from, f.to) {
                return Some(f);
            }
        }
        None
    }
}
