//! Each connection's outbound queue, bounded in frames and in bytes, and the server-wide budget
//! of queued bytes that all queues draw from.
//!
//! A frame is counted from the moment it is queued until the writer has flushed it to the
//! socket, so a connection whose socket does not drain (its client stopped reading) holds at
//! most [`QUEUE_BYTES`] (or four messages, if larger messages are configured) plus what the
//! WebSocket layer buffers. A frame that does not fit, in the connection's bound or in the
//! server's, marks the reader as too slow: its connection is told to close, as a full queue is.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

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

/// One connection's queue, shared by its mailboxes and its writer: frames, the bytes they hold,
/// and two doorbells. A plain `VecDeque` under a lock, rather than a channel: an idle connection
/// then holds no preallocated slots (a bounded tokio channel allocates a block of 32 up front,
/// about 1 KiB, a good part of what an idle connection costs).
#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    /// Rung when a frame is queued or the last mailbox is dropped: the writer looks again.
    ready: Notify,
    /// Rung when the queue overflows: the reader closes the connection.
    kick: Notify,
    /// Mailboxes alive; the queue ends when none is left and it is empty.
    senders: AtomicUsize,
    budget: Arc<QueueBudget>,
}

#[derive(Debug, Default)]
struct Inner {
    frames: VecDeque<Frame>,
    /// Bytes queued, or taken off the queue and not yet flushed.
    bytes: usize,
    /// The writer is gone: nothing more is queued.
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update under this lock leaves it consistent, even if a holder panicked.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The way to reach one connection: its outbound queue, and a doorbell that tells it to close.
#[derive(Debug)]
pub struct Mailbox {
    pub conn: ConnId,
    shared: Arc<Shared>,
}

impl Clone for Mailbox {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::AcqRel);
        Self {
            conn: self.conn,
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last one: the writer drains what is queued and ends.
            self.shared.ready.notify_one();
        }
    }
}

/// Resolves when the connection's queue overflowed (see [`Mailbox::kicked`]).
#[derive(Debug, Clone)]
pub struct Kick(Arc<Shared>);

impl Kick {
    /// Waits for the doorbell; a ring that came while nobody waited is kept for the next wait.
    pub async fn notified(&self) {
        self.0.kick.notified().await;
    }
}

impl Mailbox {
    /// Creates a mailbox that draws on `budget`, and the receiving end of its queue.
    pub fn new(conn: ConnId, budget: &Arc<QueueBudget>) -> (Self, Queue) {
        let shared = Arc::new(Shared {
            inner: Mutex::default(),
            ready: Notify::new(),
            kick: Notify::new(),
            senders: AtomicUsize::new(1),
            budget: budget.clone(),
        });
        (
            Self {
                conn,
                shared: shared.clone(),
            },
            Queue { shared },
        )
    }

    /// The doorbell this connection's reader waits on: rung when its queue overflows.
    pub fn kicked(&self) -> Kick {
        Kick(self.shared.clone())
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
        let shared = &*self.shared;
        let mut inner = shared.lock();
        if inner.closed {
            return true;
        }
        let fits = inner.frames.len() < QUEUE_CAPACITY
            && inner
                .bytes
                .checked_add(bytes)
                .is_some_and(|total| total <= shared.budget.per_connection)
            && shared.budget.try_take(bytes);
        if !fits {
            drop(inner);
            shared.kick.notify_one();
            return false;
        }
        inner.bytes += bytes;
        inner.frames.push_back(frame);
        drop(inner);
        shared.ready.notify_one();
        true
    }
}

/// The receiving end of a connection's queue. The writer calls [`Queue::sent`] for each frame
/// once it is flushed; whatever is still queued is given back to the budget when it is dropped.
#[derive(Debug)]
pub struct Queue {
    shared: Arc<Shared>,
}

impl Queue {
    /// The next frame; `None` once every mailbox is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Frame> {
        let shared = &*self.shared;
        loop {
            // Made before looking, so that a ring between the look and the wait is not lost.
            let ready = shared.ready.notified();
            if let Some(frame) = shared.lock().frames.pop_front() {
                return Some(frame);
            }
            if shared.senders.load(Ordering::Acquire) == 0 {
                // A frame queued by the last mailbox before it went is still taken.
                return shared.lock().frames.pop_front();
            }
            ready.await;
        }
    }

    /// The next frame if one is queued.
    pub fn try_recv(&mut self) -> Option<Frame> {
        self.shared.lock().frames.pop_front()
    }

    /// `bytes` taken off the queue are on the socket: they no longer count.
    pub fn sent(&self, bytes: usize) {
        let mut inner = self.shared.lock();
        inner.bytes = inner.bytes.saturating_sub(bytes);
        drop(inner);
        self.shared.budget.give_back(bytes);
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // Closed first, so that no frame is queued after the drain: a mailbox that finds the
        // queue closed counts its frame as delivered and takes nothing from the budget.
        let mut inner = self.shared.lock();
        inner.closed = true;
        let queued: usize = inner.frames.drain(..).map(|f| f.len()).sum();
        inner.bytes = inner.bytes.saturating_sub(queued);
        drop(inner);
        self.shared.budget.give_back(queued);
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

    #[tokio::test]
    async fn the_writer_wakes_for_each_frame_and_ends_when_the_last_mailbox_goes() {
        let budget = QueueBudget::new(10_000, 1024);
        let (a, mut queue) = Mailbox::new(1, &budget);
        let b = a.clone();
        let writer = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(frame) = queue.recv().await {
                queue.sent(frame.len());
                got.push(frame.to_string());
            }
            got
        });
        // The writer waits on an empty queue first, then is woken by each delivery.
        tokio::task::yield_now().await;
        assert!(a.deliver_frame("one".into()));
        tokio::task::yield_now().await;
        drop(a);
        assert!(b.deliver_frame("two".into()));
        drop(b);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), writer)
            .await
            .expect("the writer ends once no mailbox is left")
            .unwrap();
        assert_eq!(got, ["one", "two"]);
        assert_eq!(budget.queued(), 0);
    }

    #[tokio::test]
    async fn a_queue_over_its_frame_bound_is_kicked() {
        let budget = QueueBudget::new(usize::MAX, 1024);
        let (mailbox, _queue) = Mailbox::new(1, &budget);
        let kick = mailbox.kicked();
        for _ in 0..QUEUE_CAPACITY {
            assert!(mailbox.deliver_frame(frame(1)));
        }
        assert!(!mailbox.deliver_frame(frame(1)));
        tokio::time::timeout(std::time::Duration::from_secs(5), kick.notified())
            .await
            .expect("the reader is told to close");
        assert_eq!(budget.queued(), QUEUE_CAPACITY);
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
