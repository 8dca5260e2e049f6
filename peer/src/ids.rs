//! Newtypes for the ids that travel between the store, the signaling server and the engine, so
//! that a room id is never passed where a board's local id is meant.

use std::fmt;

/// A board's name in this peer's database: its local id, derived from the link's secret
/// (`BoardKeys::local_id`, 32 hex characters) and never sent anywhere.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoardId(String);

impl BoardId {
    /// The id of the board a secret names.
    pub fn of(secret: &crdt::BoardSecret) -> Self {
        BoardId(secret.keys().local_id)
    }

    /// An id read back from storage or typed by a user: 32 lowercase hex characters.
    pub fn parse(s: &str) -> Option<Self> {
        signaling::protocol::valid_hex(s, 32).then(|| BoardId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BoardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The room id the signaling server knows a board by (a hash of the room key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomId(String);

impl RoomId {
    pub fn of(secret: &crdt::BoardSecret) -> Self {
        RoomId(secret.room_id())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A peer id in a room, as the signaling server assigned it (checked with `valid_peer_id`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemotePeer(String);

impl RemotePeer {
    pub fn parse(s: &str) -> Option<Self> {
        signaling::protocol::valid_peer_id(s).then(|| RemotePeer(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The engine names peers by plain strings.
    pub fn engine_id(&self) -> crdt::PeerId {
        self.0.clone()
    }
}

impl fmt::Display for RemotePeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
