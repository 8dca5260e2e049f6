//! `meshboard-peer`: an always-on native Meshboard peer. It holds the boards whose links it was
//! given, joins their rooms on the signaling server like a browser, speaks WebRTC data channels
//! to browsers (str0m), proves the link like a browser, runs the same `crdt` engine and stores
//! every change durably (SQLite) before acknowledging it. See docs/self-hosting.md.
//!
//! Files: `store` (the database), `hosted` (a loaded board: engine + persistence policy),
//! `signal_client` (the signaling socket; what peers relay is `crdt::session::peer_signal`), `rtc_link` (one
//! str0m link and the key proof), `room` (one board's session), `run` (all boards), `metrics`.

pub mod cli;
pub mod error;
pub mod hosted;
pub mod ids;
pub mod link;
pub mod metrics;
pub mod room;
pub mod rtc_link;
pub mod run;
pub mod signal_client;
pub mod store;

pub use error::{LinkError, LinkParseError, SignalingError, StoreError};
pub use ids::{BoardId, RemotePeer, RoomId};
