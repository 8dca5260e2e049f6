//! What the mesh panel reads from the session: each link to a remote peer (how far it got, its
//! peer connection for `getStats()`, whether the board is in sync with that peer) and the
//! signaling connection's state. Read on request only (the panel asks while it is open).

use super::*;
pub use crdt::engine::PeerSync;
use web_sys::{RtcPeerConnection, RtcPeerConnectionState};

/// The signaling connection, as the panel tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signaling {
    /// Joined the board's room: new peers can be introduced.
    Connected,
    /// The first connection is being made.
    Connecting,
    /// The server was lost (or never answered): trying again with backoff.
    Reconnecting,
    /// The user switched networking off ("Work offline").
    Paused,
}

/// How far one link got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Negotiating, connecting or proving the key: no board data yet.
    Connecting,
    /// Board data flows.
    Open(PeerSync),
}

/// One link to a remote peer.
pub struct MeshLink {
    pub peer: PeerId,
    /// The display name the peer gave in its presence (self-asserted), once it said one.
    pub name: Option<String>,
    pub state: LinkState,
    /// The browser's view of the connection: `connected`, or `disconnected` while the network
    /// is gone (ICE may still recover it).
    pub connection: RtcPeerConnectionState,
    /// For `getStats()` (a handle: the session may close the connection meanwhile).
    pub pc: RtcPeerConnection,
}

pub struct MeshSnapshot {
    /// Our peer id in the room (empty before the first join).
    pub me: PeerId,
    /// The display name our presence gives the others.
    pub my_name: String,
    pub signaling: Signaling,
    /// Sorted by peer id.
    pub links: Vec<MeshLink>,
}

pub type MeshReply = Box<dyn FnOnce(MeshSnapshot)>;

impl Session {
    pub(super) fn mesh_snapshot(&mut self) -> MeshSnapshot {
        use crdt::session::Signaling as Core;
        let signaling = match self.mesh.signaling() {
            Core::Off => Signaling::Paused,
            Core::Joined => Signaling::Connected,
            Core::Waiting { .. } => Signaling::Reconnecting,
            Core::Connecting | Core::NotStarted if self.mesh.me().is_some() => {
                Signaling::Reconnecting
            }
            Core::Connecting | Core::NotStarted => Signaling::Connecting,
        };
        let mut peers: Vec<&PeerId> = self.links.keys().collect();
        peers.sort();
        let mut links = Vec::with_capacity(peers.len());
        for peer in peers {
            let Some(link) = self.links.get(peer) else {
                continue;
            };
            let state = if self.mesh.is_open(peer) {
                LinkState::Open(self.engine.peer_sync(peer).unwrap_or(PeerSync::CatchingUp))
            } else {
                LinkState::Connecting
            };
            let pc = link.pc.handle();
            links.push(MeshLink {
                peer: peer.clone(),
                name: self.presence.name_of(peer).map(str::to_owned),
                state,
                connection: pc.connection_state(),
                pc,
            });
        }
        MeshSnapshot {
            me: self.mesh.me().cloned().unwrap_or_default(),
            my_name: self.presence.local().name.clone(),
            signaling,
            links,
        }
    }
}
