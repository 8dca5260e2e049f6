//! Each connection's outbound queue, bounded in frames and in bytes, and the server-wide budget
//! of queued bytes that all queues draw from.
//!
//! A frame is counted from the moment it is queued until the writer has flushed it to the
//! socket, so a connection whose socket does not drain (its client stopped reading) holds at
//! most [`QUEUE_BYTES`] (or four messages, if larger messages are configured) plus what the
//! WebSocket layer buffers. A frame that does not fit, in the connection's bound or in the
//! server's, marks the reader as too slow: its connection is told to close, as a full queue is.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, Notify};

use crate::{protocol::ServerMessage, rooms::ConnId};

/// Most frames in one connection's outbound queue.
pub const QUEUE_CAPACITY: usize = 128;
/// Most bytes queued for one connection (unless four messages of the configured maximum are
/// larger): 256 KiB, a few sealed offers and answers.
pub const QUEUE_BYTES: usize = 256 * 1024;
/// How many of the largest allowed messages one queue can hold at least.
const QUEUE_MESSAGES: usize = 4;
/// Default of `--max-queued-bytes`: 64 MiB queued over all connections together, a fraction of
/// the shipped systemd unit's 1 GB.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// A server message encoded as JSON, ready to send as a text frame; clones share the bytes.
pub type Frame = Utf8Bytes;

/// Encodes `msg` (which cannot fail for these types; if it did, the message is dropped).
pub fn encode(msg: &ServerMessage) -> Option<Frame> {
    match serde_json::to_string(msg) {
        Ok(json) => Some(json.into()),
        Err(error) => {
            tracing::error!(%error, "cannot encode a server message");
            None
        }
    }
}

/// The bytes queued over all connections, and the bounds of each queue and of the total.
#[derive(Debug)]
pub struct QueueBudget {
    queued: AtomicUsize,
    max_total: usize,
    per_connection: usize,
}

impl QueueBudget {
    /// A budget of `max_total` bytes over all queues; each queue holds at most [`QUEUE_BYTES`]
    /// or [`QUEUE_MESSAGES`] messages of `max_message_bytes`, whichever is more.
    pub fn new(max_total: usize, max_message_bytes: usize) -> Arc<Self> {
        Arc::new(Self {
            queued: AtomicUsize::new(0),
            max_total,
            per_connection: QUEUE_BYTES.max(max_message_bytes.saturating_mul(QUEUE_MESSAGES)),
        })
    }

    /// Bytes queued over all connections now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    fn try_take(&self, bytes: usize) -> bool {
        self.queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                queued
                    .checked_add(bytes)
                    .filter(|&total| total <= self.max_total)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.queued.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// Bytes one connection has queued, shared by its mailbox and its queue.
#[derive(Debug)]
struct Count {
    queued: AtomicUsize,
    budget: Arc<QueueBudget>,
}

impl Count {
    /// Counts `bytes` more if they fit in this connection's bound and in the server's.
    fn try_take(&self, bytes: usize) -> bool {
        let fits = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                queued
                    .checked_add(bytes)
                    .filter(|&total| total <= self.budget.per_connection)
            })
            .is_ok();
        if fits && !self.budget.try_take(bytes) {
            self.queued.fetch_sub(bytes, Ordering::AcqRel);
            return false;
        }
        fits
    }

    fn give_back(&self, bytes: usize) {
        self.queued.fetch_sub(bytes, Ordering::AcqRel);
        self.budget.give_back(bytes);
    }
}

/// The way to reach one connection: its outbound queue, and a doorbell that tells it to close.
#[derive(Debug, Clone)]
pub struct Mailbox {
    pub conn: ConnId,
    tx: mpsc::Sender<Frame>,
    count: Arc<Count>,
    pub kick: Arc<Notify>,
}

impl Mailbox {
    /// Creates a mailbox that draws on `budget`, and the receiving end of its queue.
    pub fn new(conn: ConnId, budget: &Arc<QueueBudget>) -> (Self, Queue) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let count = Arc::new(Count {
            queued: AtomicUsize::new(0),
            budget: budget.clone(),
        });
        (
            Self {
                conn,
                tx,
                count: count.clone(),
                kick: Arc::new(Notify::new()),
            },
            Queue { rx, count },
        )
    }

    /// Encodes and queues `msg`; see [`Mailbox::deliver_frame`].
    pub fn deliver(&self, msg: &ServerMessage) -> bool {
        encode(msg).is_none_or(|frame| self.deliver_frame(frame))
    }

    /// Queues `frame` without waiting. If the queue is full, in frames or in bytes, or the
    /// server's budget of queued bytes is spent, the reader is too slow: the connection is told
    /// to close and `false` is returned. A closed queue (the connection is already going away)
    /// counts as delivered.
    pub fn deliver_frame(&self, frame: Frame) -> bool {
        let bytes = frame.len();
        if !self.count.try_take(bytes) {
            self.kick.notify_one();
            return false;
        }
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.count.give_back(bytes);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.count.give_back(bytes);
                self.kick.notify_one();
                false
            }
        }
    }
}

/// The receiving end of a connection's queue. The writer calls [`Queue::sent`] for each frame
/// once it is flushed; whatever is still queued is given back to the budget when it is dropped.
#[derive(Debug)]
pub struct Queue {
    rx: mpsc::Receiver<Frame>,
    count: Arc<Count>,
}

impl Queue {
    /// The next frame; `None` once every mailbox is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Frame> {
        self.rx.recv().await
    }

    /// The next frame if one is queued.
    pub fn try_recv(&mut self) -> Option<Frame> {
        self.rx.try_recv().ok()
    }

    /// `bytes` taken off the queue are on the socket: they no longer count.
    pub fn sent(&self, bytes: usize) {
        self.count.give_back(bytes);
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // Closed first, so that no frame is queued after the drain: a sender that finds the
        // queue closed gives its bytes back itself.
        self.rx.close();
        while let Ok(frame) = self.rx.try_recv() {
            self.count.give_back(frame.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(bytes: usize) -> Frame {
        "x".repeat(bytes).into()
    }

    #[test]
    fn a_queue_over_its_byte_bound_is_kicked() {
        let budget = QueueBudget::new(usize::MAX, 1024);
        let (mailbox, _queue) = Mailbox::new(1, &budget);
        for _ in 0..QUEUE_BYTES / 4096 {
            assert!(mailbox.deliver_frame(frame(4096)));
        }
        assert!(!mailbox.deliver_frame(frame(1)));
        assert_eq!(budget.queued(), QUEUE_BYTES);
    }

    #[test]
    fn the_servers_budget_bounds_all_queues_together() {
        let budget = QueueBudget::new(3000, 1024);
        let (a, _qa) = Mailbox::new(1, &budget);
        let (b, _qb) = Mailbox::new(2, &budget);
        assert!(a.deliver_frame(frame(2000)));
        assert!(!b.deliver_frame(frame(1001)));
        assert!(b.deliver_frame(frame(1000)));
        assert_eq!(budget.queued(), 3000);
    }

    #[test]
    fn sent_and_dropped_frames_are_given_back() {
        let budget = QueueBudget::new(10_000, 1024);
        let (a, mut qa) = Mailbox::new(1, &budget);
        assert!(a.deliver_frame(frame(100)));
        assert!(a.deliver_frame(frame(200)));
        let first = qa.try_recv().unwrap();
        qa.sent(first.len());
        assert_eq!(budget.queued(), 200);
        drop(qa);
        assert_eq!(budget.queued(), 0);
        // Closed: delivered (the connection is going away) and not counted.
        assert!(a.deliver_frame(frame(300)));
        assert_eq!(budget.queued(), 0);
    }

    #[test]
    fn larger_configured_messages_still_fit_a_few_times() {
        let budget = QueueBudget::new(usize::MAX, 1024 * 1024);
        let (a, _qa) = Mailbox::new(1, &budget);
        for _ in 0..QUEUE_MESSAGES {
            assert!(a.deliver_frame(frame(1024 * 1024)));
        }
        assert!(!a.deliver_frame(frame(1)));
    }
}
