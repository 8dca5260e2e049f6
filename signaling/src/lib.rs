//! Meshboard's signaling server: rooms, peers, and a relay for small opaque messages.
//!
//! [`protocol`] builds everywhere (the browser app uses it); the server itself is behind the
//! default `server` feature:
//!
//! - [`config`]: command-line flags and environment variables
//! - [`accept`]: the TCP accept loop, with a connection cap and a request-head deadline
//! - [`server`]: routes (`/ws`, `/healthz`, `/metrics`, the web app) and serving until shutdown
//! - [`admission`]: the challenge each socket gets and the proof of the link a join carries;
//!   server-assigned peer ids
//! - [`connection`]: one WebSocket: reader loop, writer task, per-connection limits
//! - [`origin`]: the `Origin` allowlist checked before the WebSocket upgrade
//! - [`client_addr`]: the client's address (through `--trusted-proxy`s) and its per-client key
//! - [`per_client`]: the cap on WebSocket connections per client
//! - [`rooms`]: rooms of peers and delivery to their bounded queues
//! - [`queue`]: each connection's outbound queue, bounded in frames and bytes, and the server's
//!   budget of queued bytes
//! - [`ice`]: STUN and TURN servers for joining peers, with short-lived TURN credentials
//! - [`metrics`]: counters and gauges for `/metrics` (Prometheus text format)
//! - [`rate_limit`]: the per-connection token bucket
//! - [`static_files`]: the built web app with cache headers
//! - [`capture`]: the `--capture` testing aid
//! - [`cluster`]: `--redis-url`: rooms shared by several instances through Redis
//! - [`hostile`]: the hidden `--hostile-relay` testing aid (a relay that misbehaves on purpose)

pub mod protocol;

#[cfg(feature = "server")]
pub mod accept;
#[cfg(feature = "server")]
pub mod admission;
#[cfg(feature = "server")]
pub mod capture;
#[cfg(feature = "server")]
pub mod client_addr;
#[cfg(feature = "server")]
pub mod cluster;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod connection;
#[cfg(feature = "server")]
pub mod error;
#[cfg(feature = "server")]
pub mod hostile;
#[cfg(feature = "server")]
pub mod ice;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod origin;
#[cfg(feature = "server")]
pub mod per_client;
#[cfg(feature = "server")]
pub mod queue;
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
