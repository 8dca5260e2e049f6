//! A deterministic network simulator for the sync engine.
//!
//! Every seed builds a mesh of honest peers (five by default), each an [`crdt::Engine`] with its
//! own timer and storage, and, in about a third of the seeds, one hostile peer. For ten virtual
//! seconds the network drops and duplicates 10% of the frames each, delays every frame by a
//! random amount (so frames overtake each other), splits into partitions that heal (some lose
//! frames silently, some close the channels across them), closes channels that reopen later, and
//! crashes peers (losing their memory and their latest unfinished writes) that restart from what
//! they had persisted. Meanwhile peers make random edits of every widget kind. Then the faults
//! stop, crashed peers restart, every pair of honest peers is connected over reliable, in-order
//! channels, and the run goes on until nothing is left to do. It fails unless
//!
//! * no engine panicked and no honest peer dropped another;
//! * every peer has the same heads and shows the same board;
//! * the honest peers sent each other at most 4·n² sync rounds' worth of messages after the
//!   heal (below);
//! * ticks long after (past the ack timeout and the longest backoff) produce no frame at all.
//!
//! **The bound.** A *message* is a data frame between two honest peers: every frame but acks, a
//! chunked message counted once (its first chunk). A *sync round* is one message on every
//! directed link of the honest mesh, n(n−1) messages, as in the synchronous-rounds model. The
//! bound is 4·n² rounds = 4·n²·n(n−1) messages (2000 for n = 5), counted from the heal on, so it
//! includes recovering from what the faults left in flight (stale duplicates, half-finished
//! sessions). Measured over seeds 0..1000: a median of about 170 messages (8.6 rounds), p99
//! about 240 and a worst of 311 (15.6 rounds). Before the engine answered a `need` without a
//! `have` with everything after the peer's known heads, a peer left holding changes whose
//! ancestors it lacked was repaired one layer of history per round trip, up to 1129 messages
//! (seed 61). The summary prints the percentiles and the worst seed, which replays with
//! `SIM_TRACE=1` (every frame, sync messages decoded).
//!
//! Replay one seed (what a failure prints):
//! `SIM_SEED=1234 cargo test -p crdt --test sim -- --nocapture` (add `SIM_TRACE=1` for a trace).
//!
//! Soak (`SIM_FIRST` is the first seed, default 0; `SIM_PEERS` the number of honest peers, default
//! 5): `SIM_SEEDS=100000 SIM_FIRST=1000 cargo test --release -p crdt --test sim -- --nocapture`
//! (about 35 minutes on two cores in release, which runs the seeds faster than a debug build).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sim {
    pub mod edits;
    pub mod hostile;
    pub mod net;
    pub mod node;
    pub mod trace;
    pub mod world;
}

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sim::world::{Outcome, Params, World};

fn env(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
    )
}

/// A sync round of the mesh: one message on every directed link between honest peers.
fn round(peers: usize) -> u64 {
    (peers * (peers - 1)).max(1) as u64
}

/// The most messages the honest peers may send each other after the heal: 4·n² rounds.
fn bound(peers: usize) -> u64 {
    4 * (peers as u64).pow(2) * round(peers)
}

/// Run one seed; a panic anywhere (engine included) is a failure of that seed.
fn run_seed(seed: u64, peers: usize) -> Result<Outcome, String> {
    catch_unwind(AssertUnwindSafe(|| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let params = Params::draw(peers, &mut rng);
        let out = World::new(params, rng).run()?;
        if out.messages_after_heal > bound(peers) {
            return Err(format!(
                "{} messages after the heal, more than 4·n² rounds of n(n-1) = {}",
                out.messages_after_heal,
                bound(peers)
            ));
        }
        Ok(out)
    }))
    .unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("panicked: {msg}"))
    })
}

#[derive(Default)]
struct Summary {
    runs: u64,
    worst_messages: (u64, u64),
    worst_frames: (u64, u64),
    worst_settle_ms: (u64, u64),
    hostile_drops: u64,
    crashes: u64,
    partitions: u64,
    frames: u64,
    failures: Vec<(u64, String)>,
    /// Messages after the heal, per successful seed.
    messages: Vec<u64>,
}

impl Summary {
    fn add(&mut self, seed: u64, result: Result<Outcome, String>) {
        self.runs += 1;
        let o = match result {
            Ok(o) => o,
            Err(e) => return self.failures.push((seed, e)),
        };
        let worst = |w: &mut (u64, u64), v: u64| {
            if v > w.0 {
                *w = (v, seed);
            }
        };
        worst(&mut self.worst_messages, o.messages_after_heal);
        self.messages.push(o.messages_after_heal);
        worst(&mut self.worst_frames, o.frames_after_heal);
        worst(&mut self.worst_settle_ms, o.settle_ms);
        self.hostile_drops += o.hostile_drops;
        self.crashes += o.crashes;
        self.partitions += o.partitions;
        self.frames += o.frames_total;
    }
}

#[test]
fn simulated_mesh_converges_under_faults() {
    let peers = env("SIM_PEERS").unwrap_or(5) as usize;
    let (first, count) = match env("SIM_SEED") {
        Some(seed) => (seed, 1),
        None => (
            env("SIM_FIRST").unwrap_or(0),
            env("SIM_SEEDS").unwrap_or(1000),
        ),
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicU64::new(first);
    let summary = Mutex::new(Summary::default());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= first + count {
                    return;
                }
                let result = run_seed(seed, peers);
                if let Err(e) = &result {
                    eprintln!("seed {seed} FAILED: {e}");
                    eprintln!(
                        "  replay: SIM_SEED={seed} SIM_PEERS={peers} cargo test -p crdt --test sim -- --nocapture"
                    );
                }
                summary.lock().unwrap().add(seed, result);
            });
        }
    });
    let s = summary.into_inner().unwrap();
    let mut all = s.messages.clone();
    all.sort_unstable();
    let pct = |p: usize| {
        all.get(all.len().saturating_sub(1) * p / 100)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "sim: {} seeds from {first}, {peers} honest peers, {threads} threads, {:.1} s",
        s.runs,
        started.elapsed().as_secs_f64()
    );
    println!(
        "sim: messages after the heal: p50 {} p90 {} p99 {}, worst {} (seed {}) = {:.1} rounds of {}; bound 4·n² = {} rounds = {} messages",
        pct(50),
        pct(90),
        pct(99),
        s.worst_messages.0,
        s.worst_messages.1,
        s.worst_messages.0 as f64 / round(peers) as f64,
        round(peers),
        4 * peers * peers,
        bound(peers)
    );
    println!(
        "sim: all frames after the heal (acks and every chunk): worst {} (seed {}); settled at most {} ms after the heal (seed {})",
        s.worst_frames.0, s.worst_frames.1, s.worst_settle_ms.0, s.worst_settle_ms.1
    );
    println!(
        "sim: {} frames in all, {} crashes, {} partitions, {} drops of the hostile peer",
        s.frames, s.crashes, s.partitions, s.hostile_drops
    );
    let mut failures = s.failures;
    failures.sort();
    if let Some((seed, e)) = failures.first() {
        panic!(
            "{} of {} seeds failed; first: seed {seed}: {e}\nreplay: SIM_SEED={seed} SIM_PEERS={peers} cargo test -p crdt --test sim -- --nocapture",
            failures.len(),
            s.runs
        );
    }
    if count >= 100 {
        assert!(s.hostile_drops > 0, "no hostile peer was ever dropped");
    }
}

/// Seeds the 100k soak found over the bound: a peer that had restarted its session restarted
/// again on every gap in the frames of the old session still arriving, and each restart made
/// more (8104 and 3462 messages after the heal). The engine now lets the old session go while it
/// waits for the answer to its Hello.
#[test]
fn regression_no_restart_storm() {
    for seed in [45554, 48161] {
        let outcome = run_seed(seed, 5).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(
            outcome.messages_after_heal <= bound(5) / 4,
            "seed {seed}: {} messages after the heal",
            outcome.messages_after_heal
        );
    }
}
