//! `--redis-url`: several instances share their rooms through one Redis.
//!
//! - **Membership** lives in Redis, one sorted set per room (`meshboard:room:<id>`) of
//!   `"<peer> <instance>"` scored by an expiry that the holding instance extends every third of
//!   `--redis-member-ttl-secs`. Joins and leaves are Lua scripts ([`scripts`]): the room limit is
//!   checked and the member added in one atomic step, so it holds across instances; a join is
//!   announced once the peer is in its room here, every other change by the script that makes it. An instance that dies stops
//!   refreshing: the next refresh or join of any other instance in that room removes its expired
//!   members and announces them as left.
//! - **Events** travel over Redis **pub/sub**, not streams: every instance subscribes to
//!   `meshboard:members` (every join and leave) and to its own `meshboard:instance:<id>`, on
//!   which the other instances publish the signals for the peers it holds. Pub/sub fits what is
//!   carried: a signal is worth something only now, to a peer connected now, which is exactly the
//!   at-most-once, no-storage delivery of a WebSocket relay; streams would store every offer,
//!   answer and candidate, and need trimming, consumer groups and acknowledgements for data that
//!   is useless a few seconds later. What must survive a lost message is membership, and that is
//!   in the sorted sets: each refresh reads a room's members back and repairs this instance's
//!   view ([`view`]), so an event lost while a subscription was down costs at most one TTL.
//!   Two fixed subscriptions also keep reconnects simple (nothing to resubscribe per room); the
//!   price is that every instance hears every join and leave, which are rare next to signals.
//! - **Redis down**: the instance keeps serving its rooms on its own (joins are counted against
//!   the members it knows of, signals between its own peers flow), reports `redis: down` on
//!   `/healthz` and `meshboard_signaling_redis_up 0` on `/metrics`, and reconnects with jittered
//!   exponential backoff; then it registers its members again (announcing them) and reads every
//!   room back ([`supervisor`]).
//!
//! Messages read from Redis are checked before use ([`wire`]); the handling of each is a
//! non-blocking update of [`Rooms`], so the subscription is drained as fast as Redis sends.
//! (The `redis` crate hands subscription messages over through a channel of its own that has no
//! bound; what keeps it short is that it is drained at once, and Redis' own
//! `client-output-buffer-limit pubsub`, which cuts off a subscriber that falls behind: this
//! instance then reconnects and resyncs.)

mod outbox;
mod scripts;
mod supervisor;
pub mod view;
pub mod wire;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, PoisonError, RwLock,
    },
    time::Duration,
};

use redis::aio::MultiplexedConnection;
use tokio::sync::Notify;

use crate::{config::Secret, metrics::Metrics, rooms::Rooms};

use self::{scripts::Scripts, wire::Event};

pub use self::scripts::JoinReply;

/// Longest wait for one Redis command; beyond it Redis counts as down.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// Why `--redis-url` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("--redis-url is not a Redis URL: {0}")]
    BadUrl(#[source] redis::RedisError),
    #[error("no randomness for this instance's id: {0}")]
    NoRandomness(#[from] crate::admission::NoRandomness),
}

/// What a join learned from Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// The room is full across all instances.
    Full,
    /// Registered; every member of the room now (`"<peer> <instance>"`).
    Members(Vec<String>),
    /// Redis is not reachable: join on this instance alone (registered when Redis is back).
    Alone,
}

/// This instance's link to the others through Redis.
#[derive(Debug)]
pub struct Cluster {
    /// Random, new at each start: a restarted instance is a new instance.
    instance: String,
    client: redis::Client,
    /// The command connection of the current session with Redis, if any.
    conn: RwLock<Option<MultiplexedConnection>>,
    up: AtomicBool,
    /// Set when a command failed: the supervisor starts a new session.
    failed: Notify,
    ttl: Duration,
    scripts: Scripts,
    rooms: Arc<Rooms>,
    metrics: Arc<Metrics>,
    /// Largest relayed `data` (`--max-message-bytes`).
    max_data: usize,
    /// Signals waiting to be published.
    outbox: outbox::Outbox,
}

impl Cluster {
    /// Checks `url` (nothing is connected before [`Cluster::run`]).
    pub fn new(
        url: &Secret,
        ttl: Duration,
        rooms: Arc<Rooms>,
        metrics: Arc<Metrics>,
        max_data: usize,
    ) -> Result<Arc<Self>, ClusterError> {
        let client = redis::Client::open(url.expose()).map_err(ClusterError::BadUrl)?;
        Ok(Arc::new(Self {
            instance: crate::admission::new_peer_id()?,
            client,
            conn: RwLock::new(None),
            up: AtomicBool::new(false),
            failed: Notify::new(),
            ttl,
            scripts: Scripts::default(),
            rooms,
            metrics,
            max_data,
            outbox: outbox::Outbox::new(),
        }))
    }

    /// This instance's id in Redis.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Connected to Redis and in sync with it.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn set_up(&self, up: bool) {
        if self.up.swap(up, Ordering::Relaxed) != up {
            if up {
                tracing::info!("redis is up: rooms are shared with the other instances");
            } else {
                tracing::warn!("redis is down: serving rooms on this instance alone");
            }
        }
        self.metrics.set_redis_up(up);
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    /// The command connection, while Redis is up.
    fn connection(&self) -> Option<MultiplexedConnection> {
        if !self.is_up() {
            return None;
        }
        self.conn
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs one Redis command of a connection task, with a deadline; a failure marks Redis as
    /// down and has the supervisor reconnect.
    async fn command<T>(
        &self,
        what: &'static str,
        run: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        let error = match tokio::time::timeout(COMMAND_TIMEOUT, run).await {
            Ok(Ok(value)) => return Some(value),
            Ok(Err(error)) => error.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        tracing::warn!(what, %error, "redis command failed");
        self.metrics.redis_error();
        self.set_up(false);
        self.failed.notify_one();
        None
    }

    /// Registers `peer` in `room` if the room has space across all instances.
    pub async fn join(&self, room: &str, peer: &str) -> Registration {
        let Some(mut conn) = self.connection() else {
            return Registration::Alone;
        };
        let max = self.rooms.max_peers();
        let reply = self
            .scripts
            .join(&mut conn, room, peer, &self.instance, self.ttl_ms(), max);
        match self.command("join", reply).await {
            Some(JoinReply::Full) => Registration::Full,
            Some(JoinReply::Members(members)) => Registration::Members(members),
            None => Registration::Alone,
        }
    }

    /// Tells the other instances that `peer`, registered by [`Cluster::join`], is in `room`
    /// here now.
    pub async fn announce_joined(&self, room: &str, peer: &str) {
        let Some(mut conn) = self.connection() else {
            return; // announced when Redis is back, at the resync
        };
        let announced = self.scripts.announce(&mut conn, room, peer, &self.instance);
        self.command("announce", announced).await;
    }

    /// Removes `peer` from `room` in Redis (announced to the other instances), if it is there.
    pub async fn leave(&self, room: &str, peer: &str) {
        let Some(mut conn) = self.connection() else {
            return; // re-registration after the outage only covers peers still here
        };
        let left = self.scripts.leave(&mut conn, room, peer, &self.instance);
        self.command("leave", left).await;
    }

    /// Hands a signal for `to`, held by `instance`, to the publisher ([`outbox`]); it is
    /// dropped (and counted) if Redis is down or the queue is full, as a signal to a peer that
    /// just left is: the peers' WebRTC set-up retries.
    pub fn publish_signal(&self, instance: &str, room: &str, from: &str, to: &str, data: String) {
        if !self.is_up() {
            self.metrics.cluster_dropped(1);
            return;
        }
        let event = Event::Signal {
            room: room.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
            data,
        };
        let Ok(text) = event.encode() else {
            return;
        };
        if !self.outbox.push(instance, text) {
            tracing::debug!("a signal for another instance was dropped: the queue is full");
            self.metrics.cluster_dropped(1);
        }
    }
}
