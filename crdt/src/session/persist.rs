//! When to write a board to storage and when to compact it.
//!
//! One write at a time: what changes while a write runs goes into the next one. Each write is the
//! changes made since the last one (a small piece), or the whole document, which replaces every
//! piece stored before it (a compaction). Compacting means `save()`, which takes a noticeable
//! time on a large board (0.3 s in wasm on the longest note of the benchmarks), so it waits until
//! the user has paused ([`PersistPolicy::idle_ms`]) unless the pieces pile up far past the
//! threshold. After a failed write the next one is the whole document (storage may hold part of
//! what the failed one had, or nothing of it).

use crate::board::{Board, Piece};

/// The thresholds. [`Default`] is what the app uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersistPolicy {
    /// Compact once storage holds this many pieces...
    pub compact_after_pieces: usize,
    /// ...or the pieces after the last whole document add up to this many bytes (or to the size
    /// of that document, if larger: a compaction then costs at most as much as what it saves).
    pub compact_after_bytes: usize,
    /// A due compaction waits for this long without a change.
    pub idle_ms: u64,
    /// A due compaction stops waiting once there are this many pieces.
    pub force_after_pieces: usize,
    /// A failed write is tried again (as a whole document) after this long, doubled after each
    /// failure in a row (a full disk or quota does not free itself at once)...
    pub retry_ms: u64,
    /// ...up to this long.
    pub max_retry_ms: u64,
}

impl Default for PersistPolicy {
    fn default() -> Self {
        PersistPolicy {
            compact_after_pieces: 64,
            compact_after_bytes: 1 << 20,
            idle_ms: 2_000,
            force_after_pieces: 1024,
            retry_ms: 3_000,
            max_retry_ms: 5 * 60_000,
        }
    }
}

/// Where one board stands with its storage.
#[derive(Debug, Clone)]
pub struct Persister {
    policy: PersistPolicy,
    loaded: bool,
    /// The board has changes not yet handed to a write.
    dirty: bool,
    /// The write under way, if any: whether it is a whole document, and its length.
    writing: Option<(bool, usize)>,
    /// The last write failed: the next one is the whole document.
    resave_all: bool,
    /// Pieces in storage: what the next compaction replaces.
    pieces: usize,
    /// Bytes of the pieces after the last whole document, and of that document.
    bytes_after_whole: usize,
    whole_bytes: usize,
    last_change: Option<u64>,
    retry_at: Option<u64>,
    /// Writes that failed in a row.
    failures: u32,
}

impl Persister {
    pub fn new(policy: PersistPolicy) -> Self {
        Persister {
            policy,
            loaded: false,
            dirty: false,
            writing: None,
            resave_all: false,
            pieces: 0,
            bytes_after_whole: 0,
            whole_bytes: 0,
            last_change: None,
            retry_at: None,
            failures: 0,
        }
    }

    /// The stored pieces were read: `sizes` are the ones that loaded. Writing starts now. A board
    /// that storage did not hold, or that was edited before it loaded, is written at once (that
    /// is what lists it); otherwise the caller marks the board stored (`Board::mark_stored`).
    pub fn loaded(&mut self, sizes: &[usize]) {
        self.loaded = true;
        self.pieces = sizes.len();
        self.whole_bytes = sizes.first().copied().unwrap_or(0);
        self.bytes_after_whole = sizes.iter().skip(1).sum();
        if sizes.is_empty() {
            self.dirty = true;
        }
    }

    /// Storage could not be opened: nothing is written, and every change stays unsaved.
    pub fn unavailable(&mut self) {
        self.loaded = false;
    }

    /// The board changed (a local edit or a peer's change).
    pub fn changed(&mut self, now: u64) {
        self.dirty = true;
        self.last_change = Some(now);
    }

    /// Every change is stored, or being written with nothing after it.
    pub fn is_saved(&self) -> bool {
        !self.dirty && self.writing.is_none()
    }

    fn compaction_due(&self) -> bool {
        let p = &self.policy;
        self.resave_all
            || self.pieces >= p.compact_after_pieces.max(2)
            || self.bytes_after_whole >= p.compact_after_bytes.max(self.whole_bytes)
    }

    fn idle(&self, now: u64) -> bool {
        self.last_change
            .is_none_or(|t| now.saturating_sub(t) >= self.policy.idle_ms)
    }

    /// The next write to start, if one is due: `Piece::whole` replaces every stored piece. The
    /// caller reports its end with [`Persister::written`].
    pub fn next_write(&mut self, board: &mut Board, now: u64) -> Option<Piece> {
        if !self.loaded || self.writing.is_some() {
            return None;
        }
        if let Some(at) = self.retry_at {
            if now < at {
                return None;
            }
            self.retry_at = None;
        }
        let compact = self.resave_all
            || (self.compaction_due()
                && (self.idle(now) || self.pieces >= self.policy.force_after_pieces));
        if !self.dirty && !compact {
            return None;
        }
        self.dirty = false;
        let piece = board.unstored(compact)?;
        self.writing = Some((piece.whole, piece.bytes.len()));
        Some(piece)
    }

    /// The write under way ended.
    pub fn written(&mut self, ok: bool, now: u64) {
        let Some((whole, len)) = self.writing.take() else {
            return;
        };
        if ok {
            self.failures = 0;
            if whole {
                self.pieces = 1;
                self.whole_bytes = len;
                self.bytes_after_whole = 0;
                self.resave_all = false;
            } else {
                self.pieces += 1;
                self.bytes_after_whole += len;
            }
        } else {
            // What that write held is no longer "unstored" to the board: write everything next.
            self.resave_all = true;
            self.dirty = true;
            let delay = self
                .policy
                .retry_ms
                .saturating_mul(1 << self.failures.min(16))
                .min(self.policy.max_retry_ms.max(self.policy.retry_ms));
            self.failures = self.failures.saturating_add(1);
            self.retry_at = Some(now.saturating_add(delay));
        }
    }

    /// When [`Persister::next_write`] should be asked again although nothing changed: a retry
    /// after a failure, or a compaction waiting for the user to pause.
    pub fn wake_at(&self) -> Option<u64> {
        if !self.loaded || self.writing.is_some() {
            return None;
        }
        if self.retry_at.is_some() {
            return self.retry_at;
        }
        if self.compaction_due() && !self.dirty {
            return Some(
                self.last_change
                    .map_or(0, |t| t.saturating_add(self.policy.idle_ms)),
            );
        }
        None
    }
}

#[cfg(test)]
mod tests;
