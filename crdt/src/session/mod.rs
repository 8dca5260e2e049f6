//! The policies around the sync engine that every executor (the browser app, the simulator, a
//! native peer) must apply the same way, as sans-IO state machines: the caller passes the time
//! in and carries the decisions out.

pub mod persist;
pub mod presence;

pub use persist::{PersistPolicy, Persister};
pub use presence::{Presence, PresenceEffect};
