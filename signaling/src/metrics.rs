//! `/metrics`: counters and gauges in Prometheus' text format.
//!
//! Each server has its own registry (several servers may run in one test process). Counters are
//! updated where things happen; the room, peer and uptime gauges are read when scraped.

use std::time::Instant;

use prometheus::{
    Encoder, Gauge, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::{protocol::ErrorCode, rooms::Rooms};

const NAMESPACE: &str = "meshboard_signaling";

/// Why a WebSocket handshake was refused (`connections_refused_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The `Origin` is not allowed: 403.
    Origin,
    /// The connection limit is reached: 503.
    Capacity,
    /// The server is shutting down: 503.
    ShuttingDown,
    /// The client address has `--max-connections-per-ip` open already: 429.
    PerIp,
}

impl Refused {
    const ALL: [Refused; 4] = [
        Refused::Origin,
        Refused::Capacity,
        Refused::ShuttingDown,
        Refused::PerIp,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Refused::Origin => "origin",
            Refused::Capacity => "capacity",
            Refused::ShuttingDown => "shutting_down",
            Refused::PerIp => "per_ip",
        }
    }
}

/// Why an open WebSocket connection ended (`connections_closed_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The client closed it or dropped the TCP connection.
    Client,
    /// No frame, not even a pong, for three ping intervals.
    Idle,
    /// Too many error replies (malformed, oversize, ...).
    TooManyErrors,
    /// Its outbound queue was full: it does not read.
    SlowReader,
    Shutdown,
    /// A WebSocket protocol error, such as a frame beyond the hard size limit.
    Transport,
    /// It did not join a room within `--join-timeout-secs`.
    JoinTimeout,
    /// Its join did not prove the link (`bad_proof`).
    BadProof,
    /// The server had no randomness for its challenge or peer id.
    NoRandomness,
}

impl Closed {
    const ALL: [Closed; 9] = [
        Closed::Client,
        Closed::Idle,
        Closed::TooManyErrors,
        Closed::SlowReader,
        Closed::Shutdown,
        Closed::Transport,
        Closed::JoinTimeout,
        Closed::BadProof,
        Closed::NoRandomness,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Closed::Client => "client",
            Closed::Idle => "idle",
            Closed::TooManyErrors => "too_many_errors",
            Closed::SlowReader => "slow_reader",
            Closed::Shutdown => "shutdown",
            Closed::Transport => "transport",
            Closed::JoinTimeout => "join_timeout",
            Closed::BadProof => "bad_proof",
            Closed::NoRandomness => "no_randomness",
        }
    }
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    started: Instant,
    connections_open: IntGauge,
    connections_accepted: IntCounter,
    connections_refused: IntCounterVec,
    connections_closed: IntCounterVec,
    rooms: IntGauge,
    peers: IntGauge,
    messages_relayed: IntCounter,
    messages_rejected: IntCounterVec,
    bytes_received: IntCounter,
    bytes_sent: IntCounter,
    uptime: Gauge,
    redis_up: IntGauge,
    redis_connections: IntCounter,
    redis_errors: IntCounter,
    remote_peers: IntGauge,
    cluster_received: IntCounter,
    cluster_published: IntCounter,
    cluster_dropped: IntCounter,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace(NAMESPACE)
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let metrics = Self {
            started: Instant::now(),
            connections_open: IntGauge::with_opts(opts(
                "connections_open",
                "WebSocket connections open now.",
            ))?,
            connections_accepted: IntCounter::with_opts(opts(
                "connections_accepted_total",
                "WebSocket connections accepted.",
            ))?,
            connections_refused: IntCounterVec::new(
                opts(
                    "connections_refused_total",
                    "WebSocket handshakes refused, by reason.",
                ),
                &["reason"],
            )?,
            connections_closed: IntCounterVec::new(
                opts(
                    "connections_closed_total",
                    "WebSocket connections ended, by reason.",
                ),
                &["reason"],
            )?,
            rooms: IntGauge::with_opts(opts("rooms", "Rooms with at least one peer."))?,
            peers: IntGauge::with_opts(opts("peers", "Peers joined to a room."))?,
            messages_relayed: IntCounter::with_opts(opts(
                "messages_relayed_total",
                "Signal messages relayed to a peer.",
            ))?,
            messages_rejected: IntCounterVec::new(
                opts(
                    "messages_rejected_total",
                    "Client messages answered with an error, by error code.",
                ),
                &["reason"],
            )?,
            bytes_received: IntCounter::with_opts(opts(
                "received_bytes_total",
                "Payload bytes of WebSocket messages received from clients.",
            ))?,
            bytes_sent: IntCounter::with_opts(opts(
                "sent_bytes_total",
                "Payload bytes of WebSocket messages sent to clients.",
            ))?,
            uptime: Gauge::with_opts(opts("uptime_seconds", "Seconds since the server started."))?,
            redis_up: IntGauge::with_opts(opts(
                "redis_up",
                "1 while connected to --redis-url and in sync with it; 0 otherwise (and without it).",
            ))?,
            redis_connections: IntCounter::with_opts(opts(
                "redis_connections_total",
                "Sessions with Redis opened: the first, then one per reconnect.",
            ))?,
            redis_errors: IntCounter::with_opts(opts(
                "redis_errors_total",
                "Redis commands that failed or timed out.",
            ))?,
            remote_peers: IntGauge::with_opts(opts(
                "remote_peers",
                "Peers of other instances in the rooms this instance has peers in.",
            ))?,
            cluster_received: IntCounter::with_opts(opts(
                "cluster_messages_received_total",
                "Messages read from the Redis subscriptions: every instance's joins and leaves (this one's too), and signals for this instance's peers.",
            ))?,
            cluster_published: IntCounter::with_opts(opts(
                "cluster_signals_published_total",
                "Signals published through Redis to a peer of another instance.",
            ))?,
            cluster_dropped: IntCounter::with_opts(opts(
                "cluster_messages_dropped_total",
                "Messages between instances dropped: malformed, oversized, for a peer not there, or not published (Redis down, queue full).",
            ))?,
            registry,
        };
        let r = &metrics.registry;
        r.register(Box::new(metrics.connections_open.clone()))?;
        r.register(Box::new(metrics.connections_accepted.clone()))?;
        r.register(Box::new(metrics.connections_refused.clone()))?;
        r.register(Box::new(metrics.connections_closed.clone()))?;
        r.register(Box::new(metrics.rooms.clone()))?;
        r.register(Box::new(metrics.peers.clone()))?;
        r.register(Box::new(metrics.messages_relayed.clone()))?;
        r.register(Box::new(metrics.messages_rejected.clone()))?;
        r.register(Box::new(metrics.bytes_received.clone()))?;
        r.register(Box::new(metrics.bytes_sent.clone()))?;
        r.register(Box::new(metrics.uptime.clone()))?;
        r.register(Box::new(metrics.redis_up.clone()))?;
        r.register(Box::new(metrics.redis_connections.clone()))?;
        r.register(Box::new(metrics.redis_errors.clone()))?;
        r.register(Box::new(metrics.remote_peers.clone()))?;
        r.register(Box::new(metrics.cluster_received.clone()))?;
        r.register(Box::new(metrics.cluster_published.clone()))?;
        r.register(Box::new(metrics.cluster_dropped.clone()))?;
        // Every label value shows from the start, at zero, so that rates work from the first
        // scrape.
        for reason in Refused::ALL {
            metrics
                .connections_refused
                .with_label_values(&[reason.as_str()]);
        }
        for reason in Closed::ALL {
            metrics
                .connections_closed
                .with_label_values(&[reason.as_str()]);
        }
        for code in ErrorCode::ALL {
            metrics
                .messages_rejected
                .with_label_values(&[code.as_str()]);
        }
        Ok(metrics)
    }

    /// A connection was accepted; the returned guard counts it as open until dropped.
    pub fn connection_opened(&self) -> OpenConnection {
        self.connections_accepted.inc();
        self.connections_open.inc();
        OpenConnection(self.connections_open.clone())
    }

    pub fn connection_refused(&self, reason: Refused) {
        self.connections_refused
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    pub fn connection_closed(&self, reason: Closed) {
        self.connections_closed
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    pub fn message_relayed(&self) {
        self.messages_relayed.inc();
    }

    pub fn message_rejected(&self, code: ErrorCode) {
        self.messages_rejected
            .with_label_values(&[code.as_str()])
            .inc();
    }

    pub fn received(&self, bytes: usize) {
        self.bytes_received.inc_by(bytes as u64);
    }

    pub fn sent(&self, bytes: usize) {
        self.bytes_sent.inc_by(bytes as u64);
    }

    pub fn set_redis_up(&self, up: bool) {
        self.redis_up.set(i64::from(up));
    }

    pub fn redis_connected(&self) {
        self.redis_connections.inc();
    }

    pub fn redis_error(&self) {
        self.redis_errors.inc();
    }

    pub fn cluster_received(&self) {
        self.cluster_received.inc();
    }

    pub fn cluster_published(&self, signals: u64) {
        self.cluster_published.inc_by(signals);
    }

    pub fn cluster_dropped(&self, messages: u64) {
        self.cluster_dropped.inc_by(messages);
    }

    /// The text exposition of every metric, with the gauges read from `rooms` now.
    pub fn render(&self, rooms: &Rooms) -> Result<String, prometheus::Error> {
        let (room_count, peer_count) = rooms.counts();
        self.rooms
            .set(i64::try_from(room_count).unwrap_or(i64::MAX));
        self.peers
            .set(i64::try_from(peer_count).unwrap_or(i64::MAX));
        self.remote_peers
            .set(i64::try_from(rooms.remote_count()).unwrap_or(i64::MAX));
        self.uptime.set(self.started.elapsed().as_secs_f64());
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// Counts one open connection until dropped.
#[derive(Debug)]
pub struct OpenConnection(IntGauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}
