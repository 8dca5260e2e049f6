//! Meshboard's signaling server: rooms, peers, and a relay for small opaque messages.
//!
//! [`protocol`] builds everywhere (the browser app uses it); the server itself is behind the
//! default `server` feature:
//!
//! - [`config`]: command-line flags and environment variables
//! - [`server`]: routes (`/ws`, `/healthz`, the web app) and serving until shutdown
//! - [`connection`]: one WebSocket: reader loop, writer task, per-connection limits
//! - [`rooms`]: rooms of peers and delivery to their bounded queues
//! - [`static_files`]: the built web app with cache headers
//! - [`capture`]: the `--capture` testing aid

pub mod protocol;

#[cfg(feature = "server")]
pub mod capture;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod connection;
#[cfg(feature = "server")]
pub mod error;
#[cfg(feature = "server")]
pub mod rate_limit;
#[cfg(feature = "server")]
pub mod rooms;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod state;
#[cfg(feature = "server")]
pub mod static_files;

#[cfg(feature = "server")]
pub use crate::{
    config::Config,
    error::ServerError,
    server::{router, serve, Server},
    state::AppState,
};
