//! Errors that stop the server from starting or running.

use std::{io, path::PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot open the capture file {path}: {source}")]
    Capture { path: PathBuf, source: io::Error },

    #[error("static directory {path} has no index.html")]
    StaticDir { path: PathBuf },

    #[error("--allowed-origin {origin:?} is not `*`, `null` or `scheme://host[:port]`")]
    BadOrigin { origin: String },

    #[error("--turn-url needs --turn-secret to make TURN credentials")]
    TurnWithoutSecret,

    #[error("--ice-transport-policy relay needs a TURN server (--turn-url and --turn-secret)")]
    RelayWithoutTurn,

    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),

    #[error("cannot set up the metrics: {0}")]
    Metrics(#[source] prometheus::Error),

    #[error("server failed: {0}")]
    Serve(#[source] io::Error),

    #[error("the accept loop panicked: {0}")]
    AcceptLoop(#[source] tokio::task::JoinError),
}
