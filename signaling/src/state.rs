//! State shared by all requests and connections.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::{
    accept::AcceptLimits,
    capture::Capture,
    client_addr::TrustedProxies,
    cluster::Cluster,
    config::{Config, IcePolicy},
    error::ServerError,
    ice::IceServers,
    metrics::Metrics,
    origin::OriginPolicy,
    per_client::PerClientLimit,
    queue::QueueBudget,
    rate_limit::TokenBucket,
    rooms::{ConnId, Rooms},
};

/// Per-connection limits taken from the [`Config`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest text frame handled; a larger one is answered with `too_large`.
    pub max_message_bytes: usize,
    pub ping_interval: Duration,
    /// Sustained messages per second from one connection.
    pub rate_per_sec: f64,
    /// Messages one connection may send at once.
    pub rate_burst: f64,
    /// A connection that has not joined a room this long after opening is closed.
    pub join_timeout: Duration,
}

impl Limits {
    /// A full token bucket for a new connection.
    pub fn token_bucket(&self) -> TokenBucket {
        TokenBucket::new(
            self.rate_per_sec,
            self.rate_burst,
            std::time::Instant::now(),
        )
    }

    /// The WebSocket layer's own hard limit on a message or frame. It is twice the protocol limit
    /// so that a somewhat oversized frame is still read and answered with `too_large` (the
    /// connection lives on); anything beyond it is a protocol error that closes the connection.
    pub fn websocket_limit(&self) -> usize {
        self.max_message_bytes.saturating_mul(2)
    }

    /// A connection with no inbound frame (pongs included) for this long is closed.
    pub fn idle_timeout(&self) -> Duration {
        self.ping_interval.saturating_mul(3)
    }
}

#[derive(Debug, Clone)]
pub struct AppState {
    pub rooms: Arc<Rooms>,
    /// With `--redis-url`: the rooms are shared with the other instances on that Redis.
    pub cluster: Option<Arc<Cluster>>,
    pub limits: Limits,
    pub static_dir: Option<PathBuf>,
    pub capture: Option<Arc<Capture>>,
    /// Testing aid: misbehave on purpose (see `hostile`).
    pub hostile: Option<crate::hostile::Hostile>,
    /// Testing aid: `drop-first` has not dropped its one signal yet.
    pub drop_pending: Arc<std::sync::atomic::AtomicBool>,
    pub origins: Arc<OriginPolicy>,
    pub metrics: Arc<Metrics>,
    /// The TCP accept loop's cap and request-head deadline.
    pub accept_limits: AcceptLimits,
    /// WebSocket connections per client address.
    pub per_client: Arc<PerClientLimit>,
    /// Proxies whose forwarding headers name the client.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Bytes queued for all connections, bounded by `--max-queued-bytes`.
    pub queue_budget: Arc<QueueBudget>,
    /// Becomes `true` when the server shuts down.
    pub stop: watch::Receiver<bool>,
    connections: Arc<Semaphore>,
    max_connections: u32,
    next_conn: Arc<AtomicU64>,
}

impl AppState {
    /// Builds the state; opens the capture file and checks the static directory.
    pub fn new(config: &Config, stop: watch::Receiver<bool>) -> Result<Self, ServerError> {
        if let Some(dir) = &config.static_dir {
            if !dir.join("index.html").is_file() {
                return Err(ServerError::StaticDir { path: dir.clone() });
            }
        }
        let capture = match &config.capture {
            Some(path) => Some(Arc::new(Capture::open(path)?)),
            None => None,
        };
        // An empty environment variable means "none".
        let listed = |urls: &[String]| -> Vec<String> {
            urls.iter()
                .map(|u| u.trim())
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let turn_urls = listed(&config.turn_urls);
        if !turn_urls.is_empty() && config.turn_secret.is_none() {
            return Err(ServerError::TurnWithoutSecret);
        }
        let mut ice_servers = IceServers::new(
            &listed(&config.stun_urls),
            &turn_urls,
            config.turn_secret.as_ref(),
            Duration::from_secs(config.turn_ttl_secs),
        );
        if config.ice_transport_policy == IcePolicy::Relay {
            // Relay-only without a TURN server would leave every link without a candidate.
            if !ice_servers.has_turn() {
                return Err(ServerError::RelayWithoutTurn);
            }
            ice_servers = ice_servers.relay_only();
        }
        let mut rooms = Rooms::new(config.max_peers_per_room, ice_servers);
        if config.redis_url.is_some() {
            rooms = rooms.shared();
        }
        let rooms = Arc::new(rooms);
        let metrics = Arc::new(Metrics::new().map_err(ServerError::Metrics)?);
        let cluster = match &config.redis_url {
            Some(url) => Some(Cluster::new(
                url,
                Duration::from_secs(config.redis_member_ttl_secs),
                rooms.clone(),
                metrics.clone(),
                config.max_message_bytes,
            )?),
            None => None,
        };
        Ok(Self {
            rooms,
            cluster,
            limits: Limits {
                max_message_bytes: config.max_message_bytes,
                ping_interval: Duration::from_secs(config.ping_interval_secs),
                rate_per_sec: f64::from(config.rate_per_sec),
                rate_burst: f64::from(config.rate_burst),
                join_timeout: Duration::from_secs(config.join_timeout_secs),
            },
            static_dir: config.static_dir.clone(),
            capture,
            hostile: config.hostile_relay,
            drop_pending: Arc::new(std::sync::atomic::AtomicBool::new(
                config.hostile_relay == Some(crate::hostile::Hostile::DropFirst),
            )),
            origins: Arc::new(OriginPolicy::new(&config.allowed_origins)?),
            metrics,
            accept_limits: AcceptLimits {
                max_connections: config.max_tcp_connections,
                head_timeout: Duration::from_secs(config.request_head_timeout_secs),
            },
            per_client: PerClientLimit::new(config.max_connections_per_ip),
            trusted_proxies: Arc::new(TrustedProxies::new(config.trusted_proxies.clone())),
            queue_budget: QueueBudget::new(config.max_queued_bytes, config.max_message_bytes),
            stop,
            connections: Arc::new(Semaphore::new(config.max_connections as usize)),
            max_connections: config.max_connections,
            next_conn: Arc::new(AtomicU64::new(1)),
        })
    }

    /// A slot for one more WebSocket connection, if the limit allows.
    pub fn try_admit(&self) -> Option<OwnedSemaphorePermit> {
        self.connections.clone().try_acquire_owned().ok()
    }

    pub fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Waits until every WebSocket connection has ended, or `limit` has passed.
    pub async fn connections_closed(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.connections.acquire_many(self.max_connections))
            .await
            .is_ok_and(|permits| permits.is_ok())
    }
}
