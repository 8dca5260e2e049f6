//! Meshboard's signaling server: rooms, peers, and a relay for small opaque messages.
//!
//! [`protocol`] builds everywhere (the browser app uses it); the server itself is behind the
//! default `server` feature.

pub mod protocol;
