//! One simulated run: honest nodes (and maybe a hostile one) on the simulated network, in virtual
//! time, through a fault phase, a heal and the checks after it.
//!
//! Everything happens at a virtual millisecond; time jumps to the next thing due: a frame's
//! arrival, a node's timer (the engine's last `WakeAt`), or a job on the agenda (the fault
//! driver's next action, a crashed node's restart, a channel's reopening, a partition's end). At
//! one instant frames come first (in the order they were sent), then timers (by node), then jobs.
//! All state is in ordered maps and vectors and all chance comes from one seeded ChaCha RNG, so a
//! seed replays exactly.

use std::collections::{BTreeMap, VecDeque};

use crdt::frame::{self, FrameKind};
use crdt::{Config, Effect, Event};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

mod checks;
mod faults;

use super::edits::Seen;
use super::hostile::Hostile;
use super::net::{Faults, Net};
use super::node::{actor, Node};
use super::trace;

/// 2023-11-14, in ms: engines derive epochs from the time.
const T0: u64 = 1_700_000_000_000;
/// How long after the heal the mesh has to converge and go quiet.
const SETTLE_MS: u64 = 30 * 60 * 1000;
const MAX_STEPS: u64 = 2_000_000;

#[derive(Debug, Clone)]
pub struct Params {
    pub peers: usize,
    pub hostile: bool,
    pub faults: Faults,
    /// Virtual time with faults, edits, crashes and partitions.
    pub fault_ms: u64,
    pub config: Config,
}

impl Params {
    /// The run for a seed: fixed fault rates, the rest drawn from the seed.
    pub fn draw(peers: usize, rng: &mut ChaCha8Rng) -> Self {
        let max_frame = [400, 2048, 16 * 1024][rng.random_range(0..3)];
        Params {
            peers,
            hostile: rng.random_bool(0.3),
            faults: Faults {
                drop: 0.1,
                dup: 0.1,
                max_delay: 40,
                long_delay: 0.02,
            },
            fault_ms: 10_000,
            config: Config {
                max_frame,
                direct: rng.random_bool(0.85),
                ..Config::default()
            },
        }
    }
}

/// Figures of one run, for the summary.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Messages honest peers sent each other after the heal (see `sim.rs` for the definition).
    pub messages_after_heal: u64,
    /// Every frame honest peers sent each other after the heal, acks and chunks included.
    pub frames_after_heal: u64,
    pub frames_total: u64,
    /// Virtual time from the heal until the last frame.
    pub settle_ms: u64,
    pub hostile_drops: u64,
    pub crashes: u64,
    pub partitions: u64,
}

enum Job {
    /// The fault driver's next action.
    Act,
    Restart(usize),
    Reopen(usize, usize),
    EndPartition,
}

pub struct World {
    rng: ChaCha8Rng,
    params: Params,
    now: u64,
    /// Honest nodes are 0..n; the hostile one, if any, is n.
    n: usize,
    nodes: Vec<Node>,
    hostile: Option<Hostile>,
    net: Net,
    agenda: BTreeMap<(u64, u64), Job>,
    agenda_seq: u64,
    /// A partition that closed the channels across it: they cannot reopen until it ends.
    wall: Option<Vec<bool>>,
    faulting: bool,
    /// Counting frames for the bound (after the heal).
    counting: bool,
    last_frame_at: u64,
    seen: Seen,
    pending: VecDeque<(usize, Event)>,
    out: Outcome,
    errors: Vec<String>,
    /// `SIM_TRACE=1`: print every frame and connection event (for replaying one seed).
    trace: bool,
}

impl World {
    pub fn new(params: Params, rng: ChaCha8Rng) -> Self {
        let n = params.peers;
        let nodes = (0..n).map(|i| Node::new(i, params.config)).collect();
        let hostile = params.hostile.then(|| Hostile::new(actor(n, 0)));
        let mut net = Net::default();
        net.faults = Some(params.faults);
        World {
            rng,
            params,
            now: T0,
            n,
            nodes,
            hostile,
            net,
            agenda: BTreeMap::new(),
            agenda_seq: 0,
            wall: None,
            faulting: true,
            counting: false,
            last_frame_at: T0,
            seen: Seen::default(),
            pending: VecDeque::new(),
            out: Outcome::default(),
            errors: Vec::new(),
            trace: std::env::var_os("SIM_TRACE").is_some(),
        }
    }

    /// The whole run: faults, heal, convergence, quiet.
    pub fn run(mut self) -> Result<Outcome, String> {
        for a in 0..self.n {
            for b in a + 1..self.n {
                self.open(a, b);
            }
        }
        self.drain();
        self.schedule(0, Job::Act);
        let fault_end = self.now + self.params.fault_ms;
        self.run_until(fault_end)?;
        self.heal();
        let settle_end = self.now + SETTLE_MS;
        let healed_at = self.now;
        self.run_until(settle_end)?;
        if self.next_at().is_some() {
            return Err(format!("no quiet within {SETTLE_MS} ms of the heal"));
        }
        self.out.settle_ms = self.last_frame_at.saturating_sub(healed_at);
        self.check_converged()?;
        self.check_quiet()?;
        self.check_errors()?;
        Ok(self.out)
    }

    // ----- time -----

    fn schedule(&mut self, after: u64, job: Job) {
        self.agenda_seq += 1;
        self.agenda.insert((self.now + after, self.agenda_seq), job);
    }

    fn next_at(&self) -> Option<u64> {
        let t_frame = self.net.next_at();
        let t_timer = self
            .nodes
            .iter()
            .flat_map(|n| n.timer.into_iter().chain(n.storage_at()))
            .min();
        let t_job = self.agenda.keys().next().map(|k| k.0);
        [t_frame, t_timer, t_job].into_iter().flatten().min()
    }

    /// Process everything due up to `end`.
    fn run_until(&mut self, end: u64) -> Result<(), String> {
        let mut steps = 0u64;
        while let Some(t) = self.next_at().filter(|t| *t <= end) {
            steps += 1;
            if steps > MAX_STEPS {
                return Err(format!("more than {MAX_STEPS} steps: endless rounds?"));
            }
            self.now = self.now.max(t);
            for node in &mut self.nodes {
                node.settle(self.now);
                node.persist(self.now, &mut self.rng);
            }
            if self.net.next_at() == Some(t) {
                if let Some(f) = self.net.pop(self.now) {
                    self.frame(f.from, f.to, f.bytes);
                }
            } else if let Some(i) = self.nodes.iter().position(|n| n.timer == Some(t)) {
                self.nodes[i].timer = None;
                self.deliver(i, Event::Tick);
            } else if self.nodes.iter().any(|n| n.storage_at() == Some(t)) {
                // a write became durable or a compaction came due: done above
            } else if let Some((_, job)) = self.agenda.pop_first() {
                self.job(job);
            }
            self.drain();
            self.check_errors()?;
        }
        self.now = self.now.max(end);
        Ok(())
    }

    fn check_errors(&self) -> Result<(), String> {
        match self.errors.first() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    // ----- events and effects -----

    fn drain(&mut self) {
        while let Some((node, event)) = self.pending.pop_front() {
            self.deliver(node, event);
        }
    }

    fn frame(&mut self, from: usize, to: usize, bytes: Vec<u8>) {
        self.deliver(to, Event::Frame(from.to_string(), bytes));
    }

    fn deliver(&mut self, node: usize, event: Event) {
        if self.trace {
            println!(
                "{} {}",
                self.now - T0,
                trace::event(self.counting, node, &event)
            );
        }
        if node == self.n {
            return self.deliver_hostile(event);
        }
        let effects = self.nodes[node].handle(event, self.now);
        if self.trace {
            if let Some(e) = &mut self.nodes[node].engine {
                let missing = e.board_mut().doc_mut().get_missing_deps(&[]);
                if !missing.is_empty() {
                    println!("    node {node} misses {} deps", missing.len());
                }
            }
        }
        self.apply(node, effects);
    }

    fn deliver_hostile(&mut self, event: Event) {
        let Some(h) = &mut self.hostile else {
            return;
        };
        let peer = |id: &str| id.parse::<usize>().ok();
        let frames = match event {
            Event::Connected(p) => peer(&p).map(|p| (p, h.connected(p, self.now))),
            Event::Disconnected(p) => {
                if let Some(p) = peer(&p) {
                    h.disconnected(p);
                }
                None
            }
            Event::Frame(p, bytes) => peer(&p).map(|p| (p, h.receive(p, &bytes))),
            Event::LocalChange | Event::Tick => None,
        };
        if let Some((p, frames)) = frames {
            for f in frames {
                self.net.send(self.n, p, f, self.now, &mut self.rng);
            }
        }
    }

    fn apply(&mut self, from: usize, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send { peer, frame } => {
                    let Ok(to) = peer.parse::<usize>() else {
                        self.errors
                            .push(format!("{from} sent to unknown peer {peer:?}"));
                        continue;
                    };
                    self.count(to, &frame);
                    self.net.send(from, to, frame, self.now, &mut self.rng);
                }
                Effect::DocChanged => {
                    self.nodes[from].changed(self.now);
                    self.nodes[from].persist(self.now, &mut self.rng);
                }
                Effect::DropPeer { peer, reason } => {
                    if self.trace {
                        println!("{} {from} drops {peer}: {reason}", self.now - T0);
                    }
                    let to = peer.parse::<usize>().unwrap_or(usize::MAX);
                    if to == self.n && self.hostile.is_some() {
                        self.out.hostile_drops += 1;
                    } else {
                        self.errors.push(format!(
                            "honest peer {from} dropped honest peer {peer}: {reason}"
                        ));
                    }
                    self.close(from, to);
                }
                Effect::WakeAt { at_ms } => self.nodes[from].timer = Some(at_ms),
            }
        }
    }

    /// Frame figures between honest peers.
    fn count(&mut self, to: usize, frame: &[u8]) {
        if to >= self.n {
            return;
        }
        self.out.frames_total += 1;
        if !self.counting {
            return;
        }
        self.last_frame_at = self.now;
        self.out.frames_after_heal += 1;
        match frame::decode(frame) {
            Ok(f) if f.header.kind == FrameKind::Ack => {}
            Ok(f) if f.header.chunk.is_some_and(|c| c.index > 0) => {}
            Ok(_) => self.out.messages_after_heal += 1,
            Err(e) => self
                .errors
                .push(format!("an honest peer sent a bad frame: {e}")),
        }
    }

    // ----- channels -----

    fn reachable(&self, a: usize, b: usize) -> bool {
        let up = |i: usize| i == self.n || self.nodes[i].is_up();
        let walled = self
            .wall
            .as_ref()
            .is_some_and(|side| matches!((side.get(a), side.get(b)), (Some(x), Some(y)) if x != y));
        up(a) && up(b) && !walled
    }

    fn open(&mut self, a: usize, b: usize) {
        if self.reachable(a, b) && self.net.open(a, b) {
            // either side may learn first
            let (x, y) = if self.rng.random_bool(0.5) {
                (a, b)
            } else {
                (b, a)
            };
            self.pending.push_back((x, Event::Connected(y.to_string())));
            self.pending.push_back((y, Event::Connected(x.to_string())));
        }
    }

    fn close(&mut self, a: usize, b: usize) {
        if b > self.n || !self.net.close(a, b) {
            return;
        }
        self.pending
            .push_back((a, Event::Disconnected(b.to_string())));
        self.pending
            .push_back((b, Event::Disconnected(a.to_string())));
        if self.faulting && a < self.n && b < self.n {
            let after = self.rng.random_range(50..=2000);
            self.schedule(after, Job::Reopen(a, b));
        }
    }

    // ----- the heal and the checks -----

    fn heal(&mut self) {
        self.faulting = false;
        self.agenda.clear();
        self.net.faults = None;
        self.net.cut = None;
        self.wall = None;
        self.counting = true;
        // the hostile peer leaves
        if self.hostile.is_some() {
            for p in 0..self.n {
                self.close(self.n, p);
            }
        }
        self.drain();
        for i in 0..self.n {
            if !self.nodes[i].is_up() {
                let effects = self.nodes[i].restart(self.now);
                self.apply(i, effects);
            }
        }
        for a in 0..self.n {
            for b in a + 1..self.n {
                self.open(a, b);
            }
        }
        self.drain();
    }
}
