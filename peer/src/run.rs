//! `meshboard-peer run`: hold every board in the database, and follow `add` and `remove` made
//! by other processes meanwhile (`PRAGMA data_version` is polled; the list is read again only
//! when another connection committed).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crdt::session::PersistPolicy;
use tokio::sync::watch;

use crate::ids::BoardId;
use crate::metrics::Metrics;
use crate::room::{self, RoomContext};
use crate::store::Store;

/// How `run` is configured (flags and environment, see main.rs).
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub data_dir: PathBuf,
    pub signaling_url: String,
    pub metrics_addr: Option<SocketAddr>,
    /// The address our ICE host candidates name; `None`: the interface of the default route.
    pub ice_ip: Option<IpAddr>,
    /// How often the database is checked for `add` and `remove`.
    pub poll: Duration,
    pub idle_evict: Duration,
}

/// Why `run` could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] crate::error::StoreError),
    #[error(transparent)]
    Signaling(#[from] crate::error::SignalingError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot listen for metrics on {addr}: {source}")]
    MetricsListen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("no local IP address for ICE: pass --ice-ip")]
    NoIceAddress,
}

/// The address of the interface a packet to the world would leave by (no packet is sent), or,
/// on a machine without a route, the first non-loopback address we can bind.
pub fn default_ice_ip() -> Option<IpAddr> {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    for target in ["192.0.2.1:9", "10.255.255.255:9", "8.8.8.8:9"] {
        if probe.connect(target).is_ok() {
            if let Ok(addr) = probe.local_addr() {
                if !addr.ip().is_unspecified() && !addr.ip().is_loopback() {
                    return Some(addr.ip());
                }
            }
        }
    }
    None
}

/// Run until `shutdown` resolves; then release every board (stored first).
pub async fn run(
    config: RunConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    crate::signal_client::check_url(&config.signaling_url)?;
    let store = Arc::new(Store::open(&config.data_dir)?);
    let metrics = Arc::new(Metrics::new()?);
    let ice_ip = config
        .ice_ip
        .or_else(default_ice_ip)
        .ok_or(RunError::NoIceAddress)?;
    let (stop_all, stopped) = watch::channel(false);
    if let Some(addr) = config.metrics_addr {
        let mut s = stopped.clone();
        let bound = crate::metrics::serve(addr, metrics.clone(), async move {
            let _ = s.wait_for(|v| *v).await;
        })
        .await
        .map_err(|source| RunError::MetricsListen { addr, source })?;
        tracing::info!(%bound, "metrics on http://{bound}/metrics");
    }
    let cx = Arc::new(RoomContext {
        store: store.clone(),
        metrics: metrics.clone(),
        signaling_url: config.signaling_url.clone(),
        ice_ip,
        policy: PersistPolicy::default(),
        idle_evict: config.idle_evict,
    });
    tracing::info!(data = %store.path().display(), signaling = %config.signaling_url, %ice_ip, "running");
    let mut rooms: HashMap<BoardId, (watch::Sender<bool>, tokio::task::JoinHandle<()>)> =
        HashMap::new();
    let mut seen_version = None;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        match store.data_version() {
            Ok(v) if Some(v) != seen_version => match store.list() {
                Ok(held) => {
                    seen_version = Some(v);
                    metrics.boards_held.set(held.len() as i64);
                    let wanted: HashMap<_, _> =
                        held.into_iter().map(|b| (b.id.clone(), b)).collect();
                    rooms.retain(|id, (stop, _)| {
                        let keep = wanted.contains_key(id);
                        if !keep {
                            tracing::info!(board = %id, "removed: releasing");
                            let _ = stop.send(true);
                        }
                        keep
                    });
                    for (id, board) in wanted {
                        if rooms.contains_key(&id) {
                            continue;
                        }
                        let (stop, rx) = watch::channel(false);
                        let task = tokio::spawn(room::run(board, cx.clone(), rx));
                        rooms.insert(id, (stop, task));
                    }
                }
                Err(e) => {
                    metrics.store_errors.inc();
                    tracing::error!("cannot read the boards held: {e}");
                }
            },
            Ok(_) => {}
            Err(e) => {
                metrics.store_errors.inc();
                tracing::error!("cannot poll the database: {e}");
            }
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(config.poll) => {}
        }
    }
    tracing::info!(
        "shutting down: storing and releasing {} board(s)",
        rooms.len()
    );
    let _ = stop_all.send(true);
    for (_, (stop, task)) in rooms {
        let _ = stop.send(true);
        if tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .is_err()
        {
            tracing::warn!("a board did not release within 10 s");
        }
    }
    Ok(())
}
