//! The session with Redis: connect, subscribe, register this instance's members, then handle
//! events and refresh membership until the connection fails; then again, after a jittered
//! exponential backoff.

use std::{sync::PoisonError, time::Duration};

use futures_util::StreamExt;
use redis::{aio::MultiplexedConnection, AsyncConnectionConfig, Msg};
use tokio::{sync::watch, time::MissedTickBehavior};

use super::{
    wire::{self, Event},
    Cluster, COMMAND_TIMEOUT,
};

/// First and longest wait before reconnecting.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Rooms refreshed at once (each is one script call on the shared command connection).
const REFRESH_CONCURRENCY: usize = 16;

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
enum SessionEnd {
    #[error("shutting down")]
    Stop,
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    #[error("timed out")]
    Timeout,
    #[error("the subscription ended")]
    SubscriptionLost,
    #[error("a command failed")]
    CommandFailed,
}

impl From<tokio::time::error::Elapsed> for SessionEnd {
    fn from(_: tokio::time::error::Elapsed) -> Self {
        SessionEnd::Timeout
    }
}

impl Cluster {
    /// Keeps a session with Redis until `stop`.
    pub async fn run(self: std::sync::Arc<Self>, mut stop: watch::Receiver<bool>) {
        if let Some(rx) = self.outbox.take_receiver() {
            tokio::spawn(self.clone().publish_loop(rx, stop.clone()));
        }
        let mut backoff = BACKOFF_MIN;
        loop {
            let end = self.session(&mut stop, &mut backoff).await;
            if matches!(end, SessionEnd::Stop) {
                // Still up: the connections that close now take their members out of Redis
                // (announced at once, not after the TTL) through the command connection.
                return;
            }
            self.set_up(false);
            tracing::warn!(error = %end, retry_in_ms = backoff.as_millis() as u64, "redis session ended");
            let wait = jittered(backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = async { stop.wait_for(|stopping| *stopping).await.is_ok() } => return,
            }
        }
    }

    async fn session(
        &self,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut Duration,
    ) -> SessionEnd {
        match self.session_inner(stop, backoff).await {
            Ok(never) => match never {},
            Err(end) => end,
        }
    }

    async fn session_inner(
        &self,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut Duration,
    ) -> Result<std::convert::Infallible, SessionEnd> {
        let mut pubsub =
            tokio::time::timeout(COMMAND_TIMEOUT, self.client.get_async_pubsub()).await??;
        tokio::time::timeout(COMMAND_TIMEOUT, async {
            pubsub.subscribe(wire::MEMBERS_CHANNEL).await?;
            pubsub
                .subscribe(wire::instance_channel(&self.instance))
                .await
        })
        .await??;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT));
        let conn = tokio::time::timeout(
            COMMAND_TIMEOUT,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await??;
        *self.conn.write().unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
        self.metrics.redis_connected();
        // Subscribed first, then registered: no event after our own registration is missed.
        self.refresh_all(&conn, true).await?;
        self.set_up(true);
        *backoff = BACKOFF_MIN;
        tracing::info!(instance = %self.instance, "in sync with redis");

        let mut messages = pubsub.into_on_message();
        let period = (self.ttl / 3).max(Duration::from_millis(100));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut resync = false;
        loop {
            tokio::select! {
                msg = messages.next() => match msg {
                    Some(msg) => self.on_message(&msg),
                    None => return Err(SessionEnd::SubscriptionLost),
                },
                _ = ticks.tick() => resync = self.refresh_all(&conn, resync).await?,
                () = self.failed.notified() => return Err(SessionEnd::CommandFailed),
                _ = async { stop.wait_for(|stopping| *stopping).await.is_ok() } => return Err(SessionEnd::Stop),
            }
        }
    }

    /// Refreshes this instance's members of every room (re-adding missing ones if `add`) and
    /// repairs the view of the others' from what Redis lists, a few rooms at a time. Returns
    /// whether a member of ours was missing (the next refresh re-adds it).
    async fn refresh_all(
        &self,
        conn: &MultiplexedConnection,
        add: bool,
    ) -> Result<bool, SessionEnd> {
        let mut refreshed = futures_util::stream::iter(self.rooms.local_members())
            .map(|(room, peers)| {
                let mut conn = conn.clone();
                async move { self.refresh_room(&mut conn, &room, &peers, add).await }
            })
            .buffer_unordered(REFRESH_CONCURRENCY);
        let mut missing = false;
        while let Some(result) = refreshed.next().await {
            missing |= result.inspect_err(|_| self.metrics.redis_error())?;
        }
        Ok(missing)
    }

    /// [`Cluster::refresh_all`] for one room; whether a member of ours was missing.
    async fn refresh_room(
        &self,
        conn: &mut MultiplexedConnection,
        room: &str,
        peers: &[String],
        add: bool,
    ) -> Result<bool, SessionEnd> {
        let ttl_ms = self.ttl_ms();
        // Every legitimate member fits twice over (this instance's and the others').
        let limit = self.rooms.max_peers().saturating_mul(2);
        let refresh = self
            .scripts
            .refresh(conn, room, peers, &self.instance, ttl_ms, add, limit);
        let members = tokio::time::timeout(COMMAND_TIMEOUT, refresh).await??;
        self.rooms
            .reconcile(room, &members, &self.instance, self.ttl);
        if add {
            // A peer that left while its registration was on the way was brought back: take it
            // out again.
            let still = self.rooms.local_peers(room);
            for peer in peers.iter().filter(|p| !still.contains(p)) {
                let leave = self.scripts.leave(conn, room, peer, &self.instance);
                tokio::time::timeout(COMMAND_TIMEOUT, leave).await??;
            }
            return Ok(false);
        }
        let listed: Vec<&str> = members
            .iter()
            .filter_map(|m| wire::parse_member(m))
            .filter(|(_, instance)| *instance == self.instance)
            .map(|(peer, _)| peer)
            .collect();
        Ok(peers.iter().any(|p| !listed.contains(&p.as_str())))
    }

    /// One message from a subscription: checked, then applied to the rooms.
    fn on_message(&self, msg: &Msg) {
        self.metrics.cluster_received();
        let event = match Event::parse(msg.get_payload_bytes(), self.max_data) {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(%error, channel = msg.get_channel_name(), "dropped a message from redis");
                self.metrics.cluster_dropped(1);
                return;
            }
        };
        let on_members = msg.get_channel_name() == wire::MEMBERS_CHANNEL;
        match event {
            Event::Joined {
                room,
                peer,
                instance,
            } if on_members => {
                if instance != self.instance {
                    self.rooms.remote_joined(&room, &peer, &instance);
                }
            }
            Event::Left {
                room,
                peer,
                instance,
            } if on_members => {
                if instance != self.instance {
                    self.rooms.remote_left(&room, &peer);
                }
            }
            Event::Signal {
                room,
                from,
                to,
                data,
            } if !on_members => {
                if !self.rooms.deliver_remote_signal(&room, &from, &to, data) {
                    self.metrics.cluster_dropped(1);
                }
            }
            _ => {
                tracing::warn!(
                    channel = msg.get_channel_name(),
                    "dropped a message on the wrong channel"
                );
                self.metrics.cluster_dropped(1);
            }
        }
    }
}

/// `base` scaled by a random factor between 0.5 and 1.
fn jittered(base: Duration) -> Duration {
    let byte = crate::admission::random_bytes::<1>().map_or(128, |[b]| b);
    base.mul_f64(0.5 + f64::from(byte) / 510.0)
}
