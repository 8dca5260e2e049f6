//! One board loaded in memory: the sync engine over it, and its storage decisions
//! (`crdt::session::Persister`) carried out against the [`Store`] synchronously.
//!
//! Acknowledged means durable: whatever the engine answers to a peer (acknowledgements included)
//! is handed out by [`Hosted::handle`] only after the changes it depends on are committed. If a
//! write fails, every peer is disconnected and nothing of that turn is sent; the peers sync
//! again on their next link, and the write is retried (as a whole document) before anything new
//! is acknowledged.

use crdt::automerge::ActorId;
use crdt::session::{PersistPolicy, Persister};
use crdt::{Board, Effect, Engine, Event};

use crate::error::StoreError;
use crate::ids::BoardId;
use crate::store::Store;

/// What a turn of the engine gave, once its changes were stored.
#[derive(Debug)]
pub struct Turn {
    /// The engine's effects, to carry out (sends, drops, its wake-up time).
    pub effects: Vec<Effect>,
    /// Storage failed: the effects were withheld and every peer must be disconnected.
    pub store_error: Option<StoreError>,
}

pub struct Hosted {
    pub id: BoardId,
    engine: Engine,
    persister: Persister,
    /// Bytes of the pieces loaded or written since (a rough measure of the board's size).
    pub stored_bytes: usize,
}

impl std::fmt::Debug for Hosted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hosted({})", self.id)
    }
}

impl Hosted {
    /// Load board `id` from `store`. A damaged piece is an error naming it (the board is then
    /// not served, and nothing of it is compacted away).
    pub fn load(store: &Store, id: &BoardId, policy: PersistPolicy) -> Result<Hosted, StoreError> {
        let pieces = store.pieces(id)?;
        let random: [u8; 16] = random_bytes()?;
        let mut board = Board::new(ActorId::from(random)).map_err(|source| StoreError::Load {
            board: id.clone(),
            source: Box::new(source),
        })?;
        let mut sizes = Vec::with_capacity(pieces.len());
        for piece in &pieces {
            let damaged = |why| StoreError::DamagedPiece {
                board: id.clone(),
                seq: piece.seq,
                why,
            };
            if !crdt::saved::verified(&piece.bytes) {
                return Err(damaged("not well-formed Automerge chunks"));
            }
            board
                .load_any(&piece.bytes)
                .map_err(|_| damaged("Automerge refused it"))?;
            sizes.push(piece.bytes.len());
        }
        let mut persister = Persister::new(policy);
        persister.loaded(&sizes);
        if !sizes.is_empty() {
            board.mark_stored();
        }
        Ok(Hosted {
            id: id.clone(),
            engine: Engine::new(board),
            persister,
            stored_bytes: sizes.iter().sum(),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The board itself, for reading (and for tests that edit it; follow an edit with
    /// [`Event::LocalChange`]).
    pub fn board_mut(&mut self) -> &mut Board {
        self.engine.board_mut()
    }

    /// Linked peers that are not known to hold what we hold (the sync lag, as a count).
    pub fn peers_catching_up(&mut self) -> usize {
        let peers: Vec<_> = self.engine.peers().cloned().collect();
        peers
            .iter()
            .filter(|p| self.engine.peer_sync(p) == Some(crdt::engine::PeerSync::CatchingUp))
            .count()
    }

    /// Every change is stored.
    pub fn is_saved(&self) -> bool {
        self.persister.is_saved()
    }

    /// When storage wants to be asked again although nothing changed (a compaction that waits
    /// for a pause, a retry).
    pub fn persist_wake_at(&self) -> Option<u64> {
        self.persister.wake_at()
    }

    /// Feed one event to the engine; its effects come back once its changes are durable.
    pub fn handle(&mut self, store: &Store, event: Event, now_ms: u64) -> Turn {
        let effects = self.engine.handle(event, now_ms);
        self.after(store, effects, now_ms)
    }

    /// Feed several frames in one turn: one commit covers all of them (group commit).
    pub fn handle_all(&mut self, store: &Store, events: Vec<Event>, now_ms: u64) -> Turn {
        let mut effects = Vec::new();
        for event in events {
            effects.extend(self.engine.handle(event, now_ms));
        }
        self.after(store, effects, now_ms)
    }

    fn after(&mut self, store: &Store, effects: Vec<Effect>, now_ms: u64) -> Turn {
        if effects.iter().any(|e| matches!(e, Effect::DocChanged)) {
            self.persister.changed(now_ms);
        }
        match self.persist(store, now_ms) {
            Ok(()) => Turn {
                effects,
                store_error: None,
            },
            Err(e) => {
                let peers: Vec<_> = self.engine.peers().cloned().collect();
                for peer in peers {
                    // what a disconnect produces is nothing to send
                    let _ = self.engine.handle(Event::Disconnected(peer), now_ms);
                }
                Turn {
                    effects: effects
                        .into_iter()
                        .filter(|e| matches!(e, Effect::WakeAt { .. }))
                        .collect(),
                    store_error: Some(e),
                }
            }
        }
    }

    /// Carry out the writes that are due, each committed before the next.
    pub fn persist(&mut self, store: &Store, now_ms: u64) -> Result<(), StoreError> {
        // an append can make a compaction due at once: at most a few rounds
        for _ in 0..4 {
            let Some(piece) = self.persister.next_write(self.engine.board_mut(), now_ms) else {
                return Ok(());
            };
            let result = if piece.whole {
                store.compact(&self.id, &piece.bytes)
            } else {
                store.append(&self.id, &piece.bytes)
            };
            self.persister.written(result.is_ok(), now_ms);
            result?;
            if piece.whole {
                self.stored_bytes = piece.bytes.len();
            } else {
                self.stored_bytes += piece.bytes.len();
            }
        }
        Ok(())
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| StoreError::Randomness(e.to_string()))?;
    Ok(out)
}
