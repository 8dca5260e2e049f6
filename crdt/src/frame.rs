//! The wire format between peers: a small versioned header and a payload.
//!
//! ```text
//! byte 0: wire version (1)
//! byte 1: kind (1 = Automerge sync message)
//! rest:   payload
//! ```
//! Decoding checks the size before anything is allocated; an unknown version or kind is an error
//! that drops the peer that sent it.

use crate::error::FrameError;

pub const WIRE_VERSION: u8 = 1;
/// The largest frame accepted from a peer.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;
const HEADER: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    Sync = 1,
}

impl FrameKind {
    fn from_u8(b: u8) -> Option<Self> {
        match b {
            1 => Some(FrameKind::Sync),
            _ => None,
        }
    }
}

/// Encode a payload of `kind` into a frame.
pub fn encode(kind: FrameKind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.push(WIRE_VERSION);
    out.push(kind as u8);
    out.extend_from_slice(payload);
    out
}

/// Split a frame into its kind and payload, borrowing from `bytes`.
pub fn decode(bytes: &[u8]) -> Result<(FrameKind, &[u8]), FrameError> {
    if bytes.len() > MAX_FRAME {
        return Err(FrameError::TooLarge {
            size: bytes.len(),
            limit: MAX_FRAME,
        });
    }
    let [version, kind, payload @ ..] = bytes else {
        return Err(FrameError::Truncated(bytes.len()));
    };
    if *version != WIRE_VERSION {
        return Err(FrameError::UnknownVersion(*version));
    }
    let kind = FrameKind::from_u8(*kind).ok_or(FrameError::UnknownKind(*kind))?;
    Ok((kind, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let f = encode(FrameKind::Sync, b"hello");
        assert_eq!(decode(&f), Ok((FrameKind::Sync, &b"hello"[..])));
    }

    #[test]
    fn rejects_bad_frames() {
        assert_eq!(decode(&[]), Err(FrameError::Truncated(0)));
        assert_eq!(decode(&[1]), Err(FrameError::Truncated(1)));
        assert_eq!(decode(&[9, 1]), Err(FrameError::UnknownVersion(9)));
        assert_eq!(decode(&[1, 77, 0]), Err(FrameError::UnknownKind(77)));
        let big = vec![1; MAX_FRAME + 1];
        assert!(matches!(decode(&big), Err(FrameError::TooLarge { .. })));
    }
}
