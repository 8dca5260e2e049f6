//! The policies around the sync engine that every executor (the browser app, the simulator, a
//! native peer) must apply the same way, as sans-IO state machines: the caller passes the time
//! in and carries the decisions out.

pub mod mesh;
pub mod overlay;
pub mod peer_signal;
pub mod persist;
pub mod presence;

pub use mesh::{LinkFailure, LinkId, Mesh, MeshCommand, MeshInput, MeshPolicy, Signaling};
pub use persist::{PersistPolicy, Persister};
pub use presence::{Presence, PresenceEffect};
