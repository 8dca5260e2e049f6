//! The signaling protocol: JSON text frames over one WebSocket at `/ws`.
//!
//! This module depends only on serde, so the browser app (wasm32) uses the very same types.
//! Relayed `data` is an opaque string: the server routes it and never looks inside.
//!
//! ```text
//! client -> server   {"type":"join","version":1,"room":"<32 hex>","peer":"<id>"}
//!                    {"type":"signal","to":"<peer id>","data":"<opaque>"}
//! server -> client   {"type":"welcome","peer":"<your id>","peers":["<id>",...],"ice_servers":[...]}
//!                    {"type":"peer_joined","peer":"<id>"}   {"type":"peer_left","peer":"<id>"}
//!                    {"type":"signal","from":"<peer id>","data":"<opaque>"}
//!                    {"type":"error","code":"<code>","message":"<text>"}
//! ```

use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change; a client with another version gets `version_mismatch`.
pub const PROTOCOL_VERSION: u32 = 1;
/// Longest peer id accepted.
pub const MAX_PEER_ID_LEN: usize = 64;
/// Room ids are lowercase hex of exactly this length (a hash of the board secret).
pub const ROOM_ID_LEN: usize = 32;
/// Largest relayed `data` the server accepts by default; the server may be configured lower.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Enter a room as `peer` (random per page, chosen by the client).
    Join {
        version: u32,
        room: String,
        peer: String,
    },
    /// Relay `data` to the peer `to` in the same room.
    Signal { to: String, data: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Answer to `join`: the peers already in the room and the ICE servers to use.
    Welcome {
        peer: String,
        peers: Vec<String>,
        ice_servers: Vec<IceServer>,
    },
    PeerJoined {
        peer: String,
    },
    PeerLeft {
        peer: String,
    },
    Signal {
        from: String,
        data: String,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not valid JSON, not a known message, or a binary frame.
    BadMessage,
    /// The client speaks another protocol version.
    VersionMismatch,
    /// A room id or peer id of the wrong form.
    BadId,
    /// `signal` before `join`.
    NotJoined,
    /// A second `join` on one connection.
    AlreadyJoined,
    RoomFull,
    PeerIdTaken,
    /// `signal` to a peer that is not in the room.
    UnknownPeer,
    TooLarge,
    RateLimited,
    ServerShuttingDown,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::BadMessage,
        ErrorCode::VersionMismatch,
        ErrorCode::BadId,
        ErrorCode::NotJoined,
        ErrorCode::AlreadyJoined,
        ErrorCode::RoomFull,
        ErrorCode::PeerIdTaken,
        ErrorCode::UnknownPeer,
        ErrorCode::TooLarge,
        ErrorCode::RateLimited,
        ErrorCode::ServerShuttingDown,
    ];

    /// The code as it appears on the wire, e.g. `"too_large"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::VersionMismatch => "version_mismatch",
            ErrorCode::BadId => "bad_id",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::AlreadyJoined => "already_joined",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::PeerIdTaken => "peer_id_taken",
            ErrorCode::UnknownPeer => "unknown_peer",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ServerShuttingDown => "server_shutting_down",
        }
    }
}

/// A room id is [`ROOM_ID_LEN`] lowercase hex characters.
pub fn valid_room_id(room: &str) -> bool {
    room.len() == ROOM_ID_LEN
        && room
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A peer id is 1 to [`MAX_PEER_ID_LEN`] characters of `[A-Za-z0-9_-]`.
pub fn valid_peer_id(peer: &str) -> bool {
    (1..=MAX_PEER_ID_LEN).contains(&peer.len())
        && peer
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_is_stable() {
        let m = ClientMessage::Join {
            version: 1,
            room: "ab".into(),
            peer: "p1".into(),
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"type":"join","version":1,"room":"ab","peer":"p1"}"#
        );
        let m: ServerMessage = serde_json::from_str(r#"{"type":"peer_left","peer":"x"}"#).unwrap();
        assert_eq!(m, ServerMessage::PeerLeft { peer: "x".into() });
        let e = ServerMessage::Error {
            code: ErrorCode::RoomFull,
            message: "full".into(),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"error","code":"room_full","message":"full"}"#
        );
    }

    #[test]
    fn error_code_names_match_the_wire() {
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_string(&code).unwrap(),
                format!("\"{}\"", code.as_str())
            );
        }
    }

    #[test]
    fn ids_are_checked() {
        assert!(valid_room_id(&"a1".repeat(16)));
        assert!(!valid_room_id(&"A1".repeat(16)));
        assert!(!valid_room_id("abc"));
        assert!(valid_peer_id("abc-DEF_123"));
        assert!(!valid_peer_id(""));
        assert!(!valid_peer_id("a b"));
        assert!(!valid_peer_id(&"x".repeat(65)));
    }
}
