//! `/healthz` and Prometheus `/metrics` on a local address (`--metrics-addr`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, IntCounter, IntGauge, Opts, Registry, TextEncoder};

const NAMESPACE: &str = "meshboard_peer";

/// Everything `/metrics` reports. Cheap to clone (handles to shared atomics).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Boards in the database.
    pub boards_held: IntGauge,
    /// Boards loaded in memory (the rest are evicted until a peer comes).
    pub boards_loaded: IntGauge,
    /// Rooms whose signaling socket is joined.
    pub rooms_joined: IntGauge,
    /// Links that passed the key proof and sync.
    pub peers: IntGauge,
    /// Links made that have not opened yet.
    pub links_pending: IntGauge,
    /// Linked peers whose heads differ from ours (sync in progress or stuck).
    pub peers_behind: IntGauge,
    pub bytes_received: IntCounter,
    pub bytes_sent: IntCounter,
    pub proof_failures: IntCounter,
    pub sealed_refused: IntCounter,
    pub peers_dropped: IntCounter,
    pub store_writes: IntCounter,
    pub store_errors: IntCounter,
    pub boards_failed: IntGauge,
}

fn gauge(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let g = IntGauge::with_opts(Opts::new(name, help).namespace(NAMESPACE))?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn counter(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    let c = IntCounter::with_opts(Opts::new(name, help).namespace(NAMESPACE))?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Metrics {
    /// Fails only if a metric name above is invalid or repeated (a bug caught by the tests).
    pub fn new() -> prometheus::Result<Self> {
        let r = Registry::new();
        Ok(Metrics {
            boards_held: gauge(&r, "boards_held", "Boards whose links this peer holds")?,
            boards_loaded: gauge(&r, "boards_loaded", "Boards loaded in memory")?,
            rooms_joined: gauge(&r, "rooms_joined", "Rooms joined on the signaling server")?,
            peers: gauge(&r, "peers", "Links that passed the key proof")?,
            links_pending: gauge(&r, "links_pending", "Links being set up")?,
            peers_behind: gauge(
                &r,
                "peers_behind",
                "Linked peers not in sync with us (sync lag)",
            )?,
            bytes_received: counter(
                &r,
                "bytes_received_total",
                "Board bytes received on data channels",
            )?,
            bytes_sent: counter(&r, "bytes_sent_total", "Board bytes sent on data channels")?,
            proof_failures: counter(
                &r,
                "proof_failures_total",
                "Links refused: no valid key proof",
            )?,
            sealed_refused: counter(
                &r,
                "sealed_refused_total",
                "Signals that did not open (forged, replayed, stale)",
            )?,
            peers_dropped: counter(&r, "peers_dropped_total", "Peers dropped for bad data")?,
            store_writes: counter(
                &r,
                "store_writes_total",
                "Durable writes (appends and compactions)",
            )?,
            store_errors: counter(&r, "store_errors_total", "Failed database operations")?,
            boards_failed: gauge(
                &r,
                "boards_failed",
                "Boards that cannot be served (damaged storage)",
            )?,
            registry: r,
        })
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Serve `/healthz` and `/metrics` on `addr` until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move {
                    (
                        StatusCode::OK,
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        m.render(),
                    )
                        .into_response()
                }
            }),
        );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!("metrics server stopped: {e}");
        }
    });
    Ok(bound)
}
