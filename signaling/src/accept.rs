//! The accept loop: a cap on accepted TCP connections, and a deadline for the request head, so
//! that sockets that connect and send nothing (or a head byte by byte) cannot pile up. axum's
//! own `serve` has neither, so this is its loop (hyper-util's auto builder, upgrades for
//! WebSockets, graceful shutdown) with both added.

use std::{convert::Infallible, io, net::SocketAddr, pin::pin, sync::Arc, time::Duration};

use axum::{body::Body, extract::ConnectInfo, http::Request, Router};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto::Builder,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{watch, Semaphore},
};
use tower::ServiceExt;

/// Default of `--max-tcp-connections`: accepted TCP connections open at once (WebSockets,
/// requests for the app, and sockets that have sent nothing yet). Keep it below the process's
/// open-file limit (`LimitNOFILE` in the systemd unit).
pub const DEFAULT_MAX_TCP_CONNECTIONS: u32 = 4096;
/// Default of `--request-head-timeout-secs`: a connection must send its first byte, and then a
/// whole request head, within this long.
pub const DEFAULT_REQUEST_HEAD_TIMEOUT_SECS: u64 = 10;
/// After an accept error that is not about one connection (such as `EMFILE`: out of file
/// descriptors), the loop waits this long before accepting again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// After the stop, how long open connections get to finish their requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct AcceptLimits {
    pub max_connections: u32,
    pub head_timeout: Duration,
}

/// Serves `app` on `listener` until `stop` becomes `true`; then stops accepting and lets open
/// connections finish gracefully for a while (WebSockets are ended by the application itself).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: AcceptLimits,
    stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    accept_until_stopped(listener, app, limits, stop, &slots).await;
    let drained =
        tokio::time::timeout(DRAIN_TIMEOUT, slots.acquire_many(limits.max_connections)).await;
    if drained.is_err() {
        tracing::warn!("some HTTP connections did not finish in time");
    }
}

async fn accept_until_stopped(
    listener: TcpListener,
    app: Router,
    limits: AcceptLimits,
    mut stop: watch::Receiver<bool>,
    slots: &Arc<Semaphore>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
            _ = async { stop.wait_for(|stopping| *stopping).await.is_ok() } => return,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    on_accept_error(&error).await;
                    continue;
                }
            },
            _ = async { stop.wait_for(|stopping| *stopping).await.is_ok() } => return,
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let (app, builder, stop) = (app.clone(), builder.clone(), stop.clone());
        tokio::spawn(async move {
            connection(tcp, peer, app, &builder, limits.head_timeout, stop).await;
            drop(slot);
        });
    }
}

async fn on_accept_error(error: &io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept error");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}

/// One accepted connection: closed unless a byte arrives within `head_timeout` (hyper's own
/// header timeout only starts once it reads, and its protocol detection has none), then served.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    app: Router,
    builder: &Builder<TokioExecutor>,
    head_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    // `peek`, not `readable`: readiness may be reported before any byte is there.
    let mut first = [0u8; 1];
    match tokio::time::timeout(head_timeout, tcp.peek(&mut first)).await {
        Ok(Ok(0)) => return, // closed without a request
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "connection failed before its request");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "connection closed: nothing sent in time");
            return;
        }
    }
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.oneshot(request).await.unwrap_or_else(|e| match e {})) }
    });
    let mut conn = pin!(builder.serve_connection_with_upgrades(TokioIo::new(tcp), service));
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            _ = async { stop.wait_for(|stopping| *stopping).await.is_ok() }, if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
