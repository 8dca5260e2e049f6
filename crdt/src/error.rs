//! Errors at the crate boundary.

use thiserror::Error;

/// A board operation failed.
#[derive(Debug, Error)]
pub enum BoardError {
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("no widget with id {0}")]
    NoSuchWidget(String),
    #[error("no task with id {0}")]
    NoSuchTask(String),
    /// No column or card with that id in the kanban.
    #[error("no column or card with id {0}")]
    NoSuchItem(String),
    /// What the user asked for does not fit the board's bounds (too long, too many, no such
    /// option).
    #[error("{0}")]
    Invalid(&'static str),
    #[error("widget {0} is not a {1}")]
    WrongKind(String, &'static str),
    #[error("a splice of {delete} at {index} does not fit a text of {len}")]
    OutOfRange {
        index: usize,
        delete: usize,
        len: usize,
    },
    #[error("the document does not follow the board schema: {0}")]
    Schema(&'static str),
    /// Decoding the bytes would inflate or decode more than [`Budget::DEFAULT`] allows.
    ///
    /// [`Budget::DEFAULT`]: automerge::budget::Budget::DEFAULT
    #[error("refused: {0}")]
    OverBudget(#[from] automerge::budget::Exceeded),
}

/// A frame (or a message reassembled from chunks) from a peer is unusable. Every variant drops
/// the peer that sent it; none of them is ever a panic.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame of {0} bytes is shorter than its header")]
    Truncated(usize),
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("unknown wire version {0}")]
    UnknownVersion(u8),
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
    #[error("bad chunk: {0}")]
    BadChunk(&'static str),
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    MessageTooLarge { size: u64, limit: usize },
    #[error("more than {0} partial messages at once")]
    TooManyPartials(usize),
    #[error("incomplete messages from all peers would pass {0} bytes; this peer holds the most")]
    AllPeersBuffered(usize),
}

/// A board link's fragment is not a valid board secret.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("The link has no board key")]
    Missing,
    #[error("The board key has {0} characters, expected {expected}", expected = crate::link::SECRET_TEXT_LEN)]
    WrongLength(usize),
    #[error("The board key contains characters that are not allowed")]
    BadEncoding,
}
