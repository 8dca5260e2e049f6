//! One honest peer: an engine that may crash, its timer, and what it has persisted.
//!
//! Persisting is the app's: `crdt::session::Persister` decides when to write and when to compact
//! (here with smaller thresholds, so that runs of a few seconds compact often), and a whole
//! document replaces the pieces before it. A write becomes durable a few milliseconds later;
//! a crash loses the write not yet durable (and the engine with all it had in memory). A
//! restart loads the durable pieces into a fresh board with a new actor id, as the app does on
//! every page load, so a change lost in a crash is never re-made under the same actor and
//! sequence number.

use std::collections::VecDeque;

use crdt::automerge::{ActorId, ChangeHash};
use crdt::session::{PersistPolicy, Persister};
use crdt::{Board, Config, Effect, Engine, Event};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The app's policy, scaled to runs of a few seconds.
const PERSIST: PersistPolicy = PersistPolicy {
    compact_after_pieces: 8,
    compact_after_bytes: 64 << 10,
    idle_ms: 200,
    force_after_pieces: 32,
    retry_ms: 100,
    max_retry_ms: 1_000,
};

struct Write {
    durable_at: u64,
    bytes: Vec<u8>,
    compact: bool,
    /// The board's heads when the write was handed over: what storage holds once it is durable.
    heads: Vec<ChangeHash>,
}

pub struct Node {
    index: usize,
    config: Config,
    incarnation: u32,
    pub engine: Option<Engine>,
    /// The time of the engine's last `WakeAt` (one timer).
    pub timer: Option<u64>,
    durable: Vec<Vec<u8>>,
    /// The heads that loading `durable` must give.
    durable_heads: Vec<ChangeHash>,
    writes: VecDeque<Write>,
    persister: Persister,
}

fn loaded(sizes: &[usize]) -> Persister {
    let mut p = Persister::new(PERSIST);
    p.loaded(sizes);
    p
}

/// A distinct actor for every node and every life of it.
pub fn actor(index: usize, incarnation: u32) -> ActorId {
    let mut bytes = [0x5a; 16];
    bytes[..8].copy_from_slice(&(index as u64).to_le_bytes());
    bytes[8..12].copy_from_slice(&incarnation.to_le_bytes());
    ActorId::from(bytes)
}

impl Node {
    pub fn new(index: usize, config: Config) -> Self {
        let board = Board::new(actor(index, 0)).expect("new board");
        Node {
            index,
            config,
            incarnation: 0,
            engine: Some(Engine::with_config(board, config)),
            timer: None,
            durable: Vec::new(),
            durable_heads: Vec::new(),
            writes: VecDeque::new(),
            persister: loaded(&[]),
        }
    }

    pub fn is_up(&self) -> bool {
        self.engine.is_some()
    }

    pub fn handle(&mut self, event: Event, now: u64) -> Vec<Effect> {
        match &mut self.engine {
            Some(e) => e.handle(event, now),
            None => Vec::new(),
        }
    }

    /// `DocChanged`.
    pub fn changed(&mut self, now: u64) {
        self.persister.changed(now);
    }

    /// When this node's storage next has something to do: a write becomes durable, or the
    /// persister wants to be asked again.
    pub fn storage_at(&self) -> Option<u64> {
        self.engine.as_ref()?;
        let durable = self.writes.front().map(|w| w.durable_at);
        durable.into_iter().chain(self.persister.wake_at()).min()
    }

    /// Start the write that is due, if any.
    pub fn persist(&mut self, now: u64, rng: &mut ChaCha8Rng) {
        let Some(engine) = &mut self.engine else {
            return;
        };
        if let Some(piece) = self.persister.next_write(engine.board_mut(), now) {
            let durable_at = now + rng.random_range(1..=20);
            self.writes.push_back(Write {
                durable_at,
                bytes: piece.bytes,
                compact: piece.whole,
                heads: engine.board_mut().heads(),
            });
        }
    }

    /// Writes finish in order.
    pub fn settle(&mut self, now: u64) {
        while self.writes.front().is_some_and(|w| w.durable_at <= now) {
            if let Some(w) = self.writes.pop_front() {
                if w.compact {
                    self.durable.clear();
                }
                self.durable.push(w.bytes);
                self.durable_heads = w.heads;
                self.persister.written(true, now);
            }
        }
    }

    /// Lose the engine and every write still under way.
    pub fn crash(&mut self) {
        self.engine = None;
        self.timer = None;
        self.writes.clear();
    }

    /// Start again from what storage holds, as a page load does.
    pub fn restart(&mut self, now: u64) -> Vec<Effect> {
        self.incarnation += 1;
        let mut board = Board::new(actor(self.index, self.incarnation)).expect("new board");
        for piece in &self.durable {
            assert!(
                crdt::saved::well_formed(piece),
                "a persisted piece is damaged"
            );
            board.load_any(piece).expect("persisted bytes load");
        }
        if !self.durable.is_empty() {
            assert_eq!(
                board.heads(),
                self.durable_heads,
                "node {}: what it stored does not load to what it had when it stored it",
                self.index
            );
        }
        // what was loaded is stored already: incremental saves start from here
        board.mark_stored();
        let sizes: Vec<usize> = self.durable.iter().map(Vec::len).collect();
        self.persister = loaded(&sizes);
        let mut engine = Engine::with_config(board, self.config);
        let effects = engine.handle(Event::LocalChange, now);
        self.engine = Some(engine);
        effects
    }
}
