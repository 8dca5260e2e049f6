//! The signaling protocol: JSON text frames over one WebSocket at `/ws`.
//!
//! This module depends only on serde, so the browser app (wasm32) uses the very same types.
//! Relayed `data` is an opaque string: the server routes it and never looks inside.
//!
//! ```text
//! server -> client   {"type":"challenge","nonce":"<64 hex: 32 random bytes, new per socket>"}
//!                    (always the first message on a socket)
//! client -> server   {"type":"join","version":2,"room":"<32 hex>","key":"<64 hex>","sig":"<128 hex>"}
//!                    {"type":"signal","to":"<peer id>","data":"<opaque>"}
//! server -> client   {"type":"welcome","peer":"<your id>","peers":["<id>",...],"ice_servers":[...],
//!                     "ice_expires_in_secs":600,                     (the expiry only with TURN)
//!                     "ice_transport_policy":"relay"}        (only when the server says so)
//!                    {"type":"ice_servers","ice_servers":[...],"ice_expires_in_secs":600,
//!                     "ice_transport_policy":"relay"}
//!                    {"type":"peer_joined","peer":"<id>"}   {"type":"peer_left","peer":"<id>"}
//!                    {"type":"signal","from":"<peer id>","data":"<opaque>"}
//!                    {"type":"error","code":"<code>","message":"<text>"}
//! ```
//!
//! **Admission.** `key` is the public half of the room's Ed25519 key pair, which the page derives
//! from the link's secret; `room` must be the first 16 bytes of SHA-256 of `key`, in hex; `sig`
//! is the Ed25519 signature by that key of [`join_proof_message`]`(nonce, room)`, with the nonce
//! of this socket's `challenge`. Anything else is refused with `bad_proof` and the socket is
//! closed. A signature is good for one socket only (the nonce is new on each), and knowing the
//! room id, or everything the server sees, is not enough to join.
//!
//! **Peer ids** are chosen by the server (22 characters of base64url: 16 random bytes), told in
//! `welcome`, and new on every join: a page that reconnects is a new peer.
//!
//! **ICE servers.** With TURN configured the credentials in `ice_servers` expire
//! `ice_expires_in_secs` after they were sent; the server sends a fresh `ice_servers` message to
//! each joined socket before that (at three quarters of the lifetime), and new peer connections
//! should use the newest list. `ice_transport_policy` is `RTCConfiguration.iceTransportPolicy`
//! for those connections: absent means `all`; `relay` (the operator's `--ice-transport-policy
//! relay`) means every link goes through the TURN server, so that peers never learn each other's
//! addresses.

use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change; a client with another version gets `version_mismatch`.
pub const PROTOCOL_VERSION: u32 = 2;
/// Longest peer id accepted.
pub const MAX_PEER_ID_LEN: usize = 64;
/// Room ids are lowercase hex of exactly this length (a hash of the room's public key).
pub const ROOM_ID_LEN: usize = 32;
/// Length of a challenge nonce in hex (32 bytes).
pub const NONCE_HEX_LEN: usize = 64;
/// Length of a room's public key in hex (an Ed25519 public key, 32 bytes).
pub const ROOM_KEY_HEX_LEN: usize = 64;
/// Length of a join signature in hex (an Ed25519 signature, 64 bytes).
pub const SIGNATURE_HEX_LEN: usize = 128;
/// Largest relayed `data` the server accepts by default; the server may be configured lower.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// What a joining client signs: a domain tag, then the challenge nonce and the room id, each
/// preceded by its length (4 bytes, big-endian), so that no other message of Meshboard's, and no
/// other nonce or room, gives the same bytes.
pub fn join_proof_message(nonce: &str, room: &str) -> Vec<u8> {
    const DOMAIN: &[u8] = b"meshboard/join-proof/v2";
    let mut out = Vec::with_capacity(DOMAIN.len() + 8 + nonce.len() + room.len());
    out.extend_from_slice(DOMAIN);
    for part in [nonce.as_bytes(), room.as_bytes()] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Enter `room`, proving with `key` and `sig` that this page holds the link (see the module
    /// documentation). The server answers with `welcome` and this page's peer id.
    Join {
        version: u32,
        room: String,
        key: String,
        sig: String,
    },
    /// Relay `data` to the peer `to` in the same room.
    Signal { to: String, data: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The first message on every socket: the nonce a `join` on this socket must sign.
    Challenge {
        nonce: String,
    },
    /// Answer to `join`: this page's peer id (assigned by the server), the peers already in the
    /// room and the ICE servers to use (TURN credentials, if any, expire after
    /// `ice_expires_in_secs`).
    Welcome {
        peer: String,
        peers: Vec<String>,
        ice_servers: Vec<IceServer>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ice_expires_in_secs: Option<u64>,
        #[serde(default, skip_serializing_if = "IceTransportPolicy::is_all")]
        ice_transport_policy: IceTransportPolicy,
    },
    /// Fresh ICE servers (renewed TURN credentials), for the peer connections made from now on.
    IceServers {
        ice_servers: Vec<IceServer>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ice_expires_in_secs: Option<u64>,
        #[serde(default, skip_serializing_if = "IceTransportPolicy::is_all")]
        ice_transport_policy: IceTransportPolicy,
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

/// `RTCConfiguration.iceTransportPolicy`: which ICE candidates a peer connection may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IceTransportPolicy {
    /// Any candidate: direct when the network allows, through TURN otherwise.
    #[default]
    All,
    /// Only TURN relay candidates: the peers see the TURN server's address, never each other's.
    Relay,
}

impl IceTransportPolicy {
    /// The default, which the server leaves out of its messages.
    pub fn is_all(&self) -> bool {
        matches!(self, Self::All)
    }

    /// The value `RTCConfiguration.iceTransportPolicy` takes.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Relay => "relay",
        }
    }
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
    /// A `join` whose key does not hash to the room id, or whose signature does not verify
    /// against this socket's challenge; the socket is closed.
    BadProof,
    /// `signal` before `join`.
    NotJoined,
    /// A second `join` on one connection.
    AlreadyJoined,
    RoomFull,
    /// Not sent in practice: peer ids are 128 random bits drawn by the server, and a collision
    /// (should one ever happen) is refused with this rather than merged.
    PeerIdTaken,
    /// `signal` to a peer that is not in the room.
    UnknownPeer,
    TooLarge,
    RateLimited,
    ServerShuttingDown,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::BadMessage,
        ErrorCode::VersionMismatch,
        ErrorCode::BadId,
        ErrorCode::BadProof,
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
            ErrorCode::BadProof => "bad_proof",
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
    valid_hex(room, ROOM_ID_LEN)
}

/// `s` is exactly `len` lowercase hex digits (checked before anything is decoded).
pub fn valid_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
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
            version: 2,
            room: "ab".into(),
            key: "cd".into(),
            sig: "ef".into(),
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"type":"join","version":2,"room":"ab","key":"cd","sig":"ef"}"#
        );
        // A version 1 join (a peer id, no proof) is no longer a message at all.
        assert!(serde_json::from_str::<ClientMessage>(
            r#"{"type":"join","version":1,"room":"ab","peer":"p1"}"#
        )
        .is_err());
        let m: ServerMessage =
            serde_json::from_str(r#"{"type":"challenge","nonce":"00"}"#).unwrap();
        assert_eq!(m, ServerMessage::Challenge { nonce: "00".into() });
        let m = ServerMessage::IceServers {
            ice_servers: vec![],
            ice_expires_in_secs: Some(600),
            ice_transport_policy: IceTransportPolicy::All,
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"type":"ice_servers","ice_servers":[],"ice_expires_in_secs":600}"#
        );
        let m = ServerMessage::IceServers {
            ice_servers: vec![],
            ice_expires_in_secs: None,
            ice_transport_policy: IceTransportPolicy::Relay,
        };
        let json = r#"{"type":"ice_servers","ice_servers":[],"ice_transport_policy":"relay"}"#;
        assert_eq!(serde_json::to_string(&m).unwrap(), json);
        assert_eq!(serde_json::from_str::<ServerMessage>(json).unwrap(), m);
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
    fn proof_message_is_domain_separated_and_unambiguous() {
        let m = join_proof_message("ab", "cd");
        assert!(m.starts_with(b"meshboard/join-proof/v2"));
        assert_ne!(m, join_proof_message("a", "bcd"));
        assert_ne!(m, join_proof_message("cd", "ab"));
    }

    #[test]
    fn ids_are_checked() {
        assert!(valid_room_id(&"a1".repeat(16)));
        assert!(!valid_room_id(&"A1".repeat(16)));
        assert!(!valid_room_id("abc"));
        assert!(valid_hex(&"0f".repeat(32), 64));
        assert!(!valid_hex(&"0F".repeat(32), 64));
        assert!(!valid_hex(&"0f".repeat(31), 64));
        assert!(!valid_hex("é", 2));
        assert!(valid_peer_id("abc-DEF_123"));
        assert!(!valid_peer_id(""));
        assert!(!valid_peer_id("a b"));
        assert!(!valid_peer_id(&"x".repeat(65)));
    }
}
