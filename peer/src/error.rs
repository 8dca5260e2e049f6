//! The crate's errors, each with a typed reason (binaries and tests wrap them in `anyhow`).

use thiserror::Error;

use crate::ids::BoardId;

/// A board link given on the command line that is not one.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LinkParseError {
    #[error("not a board link: expected …/b#<key> (got a path of {0:?})")]
    NotABoardPath(String),
    #[error("not a board link: {0}")]
    Key(#[from] crdt::LinkError),
}

/// What went wrong with the peer's database.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the database was written by a newer meshboard-peer (schema {found}, this one knows {known})"
    )]
    NewerSchema { found: i64, known: i64 },
    #[error("the database is damaged: {0}")]
    Corrupt(String),
    #[error("stored piece {seq} of board {board} is damaged ({why}); the board is not served")]
    DamagedPiece {
        board: BoardId,
        seq: i64,
        why: &'static str,
    },
    #[error("board {board} does not load: {source}")]
    Load {
        board: BoardId,
        source: Box<crdt::BoardError>,
    },
    #[error("no board {0} is held")]
    UnknownBoard(BoardId),
    #[error("no randomness from the operating system: {0}")]
    Randomness(String),
    #[error("the database lock is poisoned (a thread panicked while writing)")]
    Poisoned,
}

/// Talking to the signaling server.
#[derive(Debug, Error)]
pub enum SignalingError {
    #[error("signaling URL {0:?} is not ws:// or wss://")]
    BadUrl(String),
    #[error("WebSocket: {0}")]
    WebSocket(#[from] Box<tokio_tungstenite::tungstenite::Error>),
    #[error("the server sent something that is not protocol: {0}")]
    Protocol(String),
    #[error("the server refused us: {code:?}: {message}")]
    Refused {
        code: signaling::protocol::ErrorCode,
        message: String,
    },
    #[error("the server closed the connection")]
    Closed,
    #[error("no message from the server within {0} s")]
    Timeout(u64),
}

/// A WebRTC link to one remote peer.
#[derive(Debug, Error)]
pub enum LinkError {
    #[error("WebRTC: {0}")]
    Rtc(#[from] str0m::RtcError),
    #[error("bad session description: {0}")]
    Sdp(String),
    #[error("bad ICE candidate: {0}")]
    Candidate(String),
    #[error("UDP socket: {0}")]
    Udp(#[from] std::io::Error),
    #[error("no local address to offer as an ICE candidate")]
    NoLocalAddress,
    #[error("no DTLS fingerprint in a session description")]
    NoFingerprint,
    #[error("the peer did not prove it holds the board's link")]
    ProofFailed,
    #[error("the peer sent {0}")]
    Refused(&'static str),
    #[error("the peer is not reading: {0} bytes wait for it")]
    Backlog(usize),
    #[error("the link did not open within {0} s")]
    SetupTimeout(u64),
    #[error("the channel closed")]
    Closed,
}
