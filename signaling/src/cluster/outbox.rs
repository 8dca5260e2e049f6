//! Signals for peers of other instances wait in one bounded queue and are published by one task,
//! in order, as pipelines of up to [`BATCH`] `PUBLISH`es: a connection hands a signal over
//! without waiting for Redis (as it queues one for a local peer), and a burst costs Redis one
//! round trip per batch instead of one per message.
//!
//! Bounded in messages and in bytes; a signal that does not fit, or that finds Redis down, is
//! dropped and counted (`cluster_messages_dropped_total`), as a relay drops what a slow reader
//! cannot take: the peers' WebRTC set-up retries.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use tokio::sync::{mpsc, watch};

use super::{wire, Cluster};

/// Signals queued at most.
pub const CAPACITY: usize = 1024;
/// Bytes queued at most (a few hundred bytes per ICE candidate, a few KiB per offer).
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
/// `PUBLISH`es sent as one pipeline.
const BATCH: usize = 64;

#[derive(Debug)]
pub(super) struct Outgoing {
    channel: String,
    payload: String,
}

/// The sending side, held by the [`Cluster`].
#[derive(Debug)]
pub(super) struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    rx: std::sync::Mutex<Option<mpsc::Receiver<Outgoing>>>,
    bytes: Arc<AtomicUsize>,
}

impl Outbox {
    pub(super) fn new() -> Self {
        let (tx, rx) = mpsc::channel(CAPACITY);
        Self {
            tx,
            rx: std::sync::Mutex::new(Some(rx)),
            bytes: Arc::default(),
        }
    }

    /// Queues `payload` for `instance`'s channel; `false` if it does not fit.
    pub(super) fn push(&self, instance: &str, payload: String) -> bool {
        let len = payload.len();
        let fits = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                queued.checked_add(len).filter(|&total| total <= MAX_BYTES)
            })
            .is_ok();
        if !fits {
            return false;
        }
        let outgoing = Outgoing {
            channel: wire::instance_channel(instance),
            payload,
        };
        if self.tx.try_send(outgoing).is_err() {
            self.bytes.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// The receiving side, once (for [`Cluster::publish_loop`]).
    pub(super) fn take_receiver(&self) -> Option<mpsc::Receiver<Outgoing>> {
        self.rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

impl Cluster {
    /// Publishes what is queued, in order, until the server stops.
    pub(super) async fn publish_loop(
        self: Arc<Self>,
        mut rx: mpsc::Receiver<Outgoing>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, BATCH) => if n == 0 { return },
                _ = async { stop.wait_for(|stopping| *stopping).await.is_ok() } => return,
            }
            let bytes: usize = batch.iter().map(|o| o.payload.len()).sum();
            let count = batch.len() as u64;
            match self.connection() {
                Some(mut conn) => {
                    let mut pipe = redis::pipe();
                    for o in &batch {
                        pipe.cmd("PUBLISH").arg(&o.channel).arg(&o.payload).ignore();
                    }
                    let sent = async { pipe.query_async::<()>(&mut conn).await };
                    if self.command("publish", sent).await.is_some() {
                        self.metrics.cluster_published(count);
                    } else {
                        self.metrics.cluster_dropped(count);
                    }
                }
                None => self.metrics.cluster_dropped(count),
            }
            self.outbox.bytes.fetch_sub(bytes, Ordering::AcqRel);
            batch.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_bounded_in_messages_and_bytes() {
        let outbox = Outbox::new();
        assert!(!outbox.push("i", "x".repeat(MAX_BYTES + 1)));
        assert!(outbox.push("i", "x".repeat(MAX_BYTES - CAPACITY)));
        for _ in 1..CAPACITY {
            assert!(outbox.push("i", "y".into()));
        }
        assert!(!outbox.push("i", "z".into()), "full in messages");
        assert_eq!(outbox.bytes.load(Ordering::Acquire), MAX_BYTES - 1);
        let mut rx = outbox.take_receiver().unwrap();
        assert!(outbox.take_receiver().is_none());
        let first = rx.try_recv().unwrap();
        assert_eq!(first.channel, wire::instance_channel("i"));
    }
}
