//! The HTTP server: routes, and serving until shutdown.

use std::{future::Future, time::Duration};

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use tokio::{net::TcpListener, sync::watch};
use tower_http::trace::TraceLayer;

use crate::{
    accept, config::Config, connection, error::ServerError, state::AppState, static_files,
};

/// How long shutdown waits for WebSocket connections to say goodbye.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Content type of Prometheus' text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /ws` (signaling), `GET /healthz`, `GET /metrics`, and the web app if a static directory
/// is configured.
pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .route("/ws", get(connection::upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics));
    if let Some(dir) = &state.static_dir {
        app = app.merge(static_files::router(dir));
    }
    app.layer(TraceLayer::new_for_http()).with_state(state)
}

/// `ok`; with `--redis-url`, a second line `redis: up` or `redis: down` (still 200: an instance
/// without Redis serves its own rooms, and taking every instance out of a load balancer when
/// Redis goes away would serve nobody).
async fn healthz(State(state): State<AppState>) -> String {
    match &state.cluster {
        None => "ok".to_owned(),
        Some(cluster) if cluster.is_up() => "ok\nredis: up\n".to_owned(),
        Some(_) => "ok\nredis: down\n".to_owned(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.render(&state.rooms) {
        Ok(text) => ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot render the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A server whose resources (capture file, static directory) are ready; see [`Server::run`].
#[derive(Debug)]
pub struct Server {
    state: AppState,
    stop: watch::Sender<bool>,
}

impl Server {
    /// Checks the configuration and opens what it names, without listening yet.
    pub fn new(config: &Config) -> Result<Self, ServerError> {
        let (stop, stopped) = watch::channel(false);
        Ok(Self {
            state: AppState::new(config, stopped)?,
            stop,
        })
    }

    /// Serves on `listener` until `shutdown` completes; then every WebSocket client is sent
    /// `server_shutting_down` and closed, and in-flight requests are finished.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Self { state, stop } = self;
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down");
            stop.send_replace(true);
        };
        let stopped = state.stop.clone();
        let app = router(state.clone());
        let limits = state.accept_limits;
        if let Some(cluster) = &state.cluster {
            tokio::spawn(cluster.clone().run(state.stop.clone()));
        }
        let serving = tokio::spawn(accept::serve(listener, app, limits, stopped));
        signal.await;
        serving.await.map_err(ServerError::AcceptLoop)?;
        if !state.connections_closed(DRAIN_TIMEOUT).await {
            tracing::warn!("some connections did not close in time");
        }
        Ok(())
    }
}

/// Serves `config` on `listener` until `shutdown` completes.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    Server::new(&config)?.run(listener, shutdown).await
}
