//! Chunking: a message too large for one frame is split into numbered chunks, and reassembled on
//! the other side within fixed bounds.
//!
//! A peer cannot make us allocate without limit: a message may announce at most `max_message`
//! bytes, at most `max_partials` messages may be incomplete at once, and the bytes held for all
//! incomplete messages of one peer never exceed `max_message`. Memory grows only with bytes
//! actually received, never with what a chunk header announces. Anything inconsistent (a chunk of
//! an unknown message, out of order, longer or shorter than announced) is an error that drops the
//! peer; an honest peer never sends it, because the sequence layer below resets the connection on
//! any loss, duplicate or reordering before a chunk gets here.

use crate::error::FrameError;
use crate::frame::{ChunkInfo, FrameKind};

/// Bounds on reassembly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_message: usize,
    pub max_partials: usize,
}

#[derive(Debug)]
struct Partial {
    message: u64,
    kind: FrameKind,
    count: u64,
    next: u64,
    total: usize,
    buf: Vec<u8>,
}

/// The messages being reassembled from one peer.
#[derive(Debug, Default)]
pub struct Reassembler {
    partials: Vec<Partial>,
    buffered: usize,
}

impl Reassembler {
    pub fn clear(&mut self) {
        self.partials.clear();
        self.buffered = 0;
    }

    /// Messages not yet complete.
    pub fn partials(&self) -> usize {
        self.partials.len()
    }

    /// Bytes held for incomplete messages.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Take one chunk; returns the whole message once its last chunk is in.
    pub fn push(
        &mut self,
        kind: FrameKind,
        chunk: ChunkInfo,
        payload: &[u8],
        limits: Limits,
    ) -> Result<Option<Vec<u8>>, FrameError> {
        let pos = self
            .partials
            .iter()
            .position(|p| p.message == chunk.message);
        let pos = match (chunk.index, pos) {
            (0, Some(_)) => return Err(FrameError::BadChunk("message started twice")),
            (0, None) => {
                let total = usize::try_from(chunk.total)
                    .ok()
                    .filter(|t| *t <= limits.max_message)
                    .ok_or(FrameError::MessageTooLarge {
                        size: chunk.total,
                        limit: limits.max_message,
                    })?;
                if self.partials.len() >= limits.max_partials {
                    return Err(FrameError::TooManyPartials(limits.max_partials));
                }
                self.partials.push(Partial {
                    message: chunk.message,
                    kind,
                    count: chunk.count,
                    next: 0,
                    total,
                    buf: Vec::new(),
                });
                self.partials.len() - 1
            }
            (_, None) => return Err(FrameError::BadChunk("chunk of an unknown message")),
            (_, Some(pos)) => pos,
        };
        let p = &mut self.partials[pos];
        if p.kind != kind || p.count != chunk.count || p.total as u64 != chunk.total {
            return Err(FrameError::BadChunk("chunk disagrees with its message"));
        }
        if p.next != chunk.index {
            return Err(FrameError::BadChunk("chunk out of order"));
        }
        if p.buf.len() + payload.len() > p.total {
            return Err(FrameError::BadChunk("message longer than announced"));
        }
        let buffered = self.buffered + payload.len();
        if buffered > limits.max_message {
            return Err(FrameError::MessageTooLarge {
                size: buffered as u64,
                limit: limits.max_message,
            });
        }
        p.buf.extend_from_slice(payload);
        p.next += 1;
        self.buffered = buffered;
        if p.next < p.count {
            return Ok(None);
        }
        if p.buf.len() != p.total {
            return Err(FrameError::BadChunk("message shorter than announced"));
        }
        let done = self.partials.swap_remove(pos);
        self.buffered -= done.buf.len();
        Ok(Some(done.buf))
    }
}

/// Split `payload` into pieces of at most `piece` bytes (at least one piece, at least 1 byte each
/// unless the payload is empty).
pub fn split(payload: &[u8], piece: usize) -> Vec<&[u8]> {
    if payload.is_empty() {
        return vec![payload];
    }
    payload.chunks(piece.max(1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_message: 100,
        max_partials: 2,
    };

    fn info(message: u64, index: u64, count: u64, total: u64) -> ChunkInfo {
        ChunkInfo {
            message,
            index,
            count,
            total,
        }
    }

    #[test]
    fn reassembles_interleaved_messages() {
        let mut r = Reassembler::default();
        let k = FrameKind::Sync;
        assert_eq!(r.push(k, info(1, 0, 2, 5), b"abc", LIMITS), Ok(None));
        assert_eq!(r.push(k, info(2, 0, 3, 3), b"x", LIMITS), Ok(None));
        assert_eq!(r.buffered(), 4);
        assert_eq!(
            r.push(k, info(1, 1, 2, 5), b"de", LIMITS),
            Ok(Some(b"abcde".to_vec()))
        );
        assert_eq!(r.push(k, info(2, 1, 3, 3), b"y", LIMITS), Ok(None));
        assert_eq!(
            r.push(k, info(2, 2, 3, 3), b"z", LIMITS),
            Ok(Some(b"xyz".to_vec()))
        );
        assert_eq!(r.partials(), 0);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn enforces_its_bounds() {
        let k = FrameKind::Sync;
        let mut r = Reassembler::default();
        assert!(matches!(
            r.push(k, info(1, 0, 2, 101), b"a", LIMITS),
            Err(FrameError::MessageTooLarge { .. })
        ));
        r.push(k, info(1, 0, 2, 60), b"a", LIMITS).unwrap();
        r.push(k, info(2, 0, 2, 60), b"a", LIMITS).unwrap();
        assert_eq!(
            r.push(k, info(3, 0, 2, 60), b"a", LIMITS),
            Err(FrameError::TooManyPartials(2))
        );
        // two partials of 90 each cannot together hold more than max_message
        let mut r = Reassembler::default();
        r.push(k, info(1, 0, 3, 90), &[0; 30], LIMITS).unwrap();
        r.push(k, info(2, 0, 3, 90), &[0; 30], LIMITS).unwrap();
        r.push(k, info(1, 1, 3, 90), &[0; 30], LIMITS).unwrap();
        assert_eq!(r.buffered(), 90);
        assert!(matches!(
            r.push(k, info(2, 1, 3, 90), &[0; 30], LIMITS),
            Err(FrameError::MessageTooLarge { .. })
        ));
    }

    #[test]
    fn refuses_inconsistent_chunks() {
        let k = FrameKind::Sync;
        let bad = |steps: &[(ChunkInfo, &[u8])]| {
            let mut r = Reassembler::default();
            let mut last = Ok(None);
            for (i, p) in steps {
                last = r.push(k, *i, p, LIMITS);
                if last.is_err() {
                    break;
                }
            }
            assert!(
                matches!(last, Err(FrameError::BadChunk(_))),
                "{steps:?}: {last:?}"
            );
        };
        bad(&[(info(1, 1, 2, 4), b"ab")]);
        bad(&[(info(1, 0, 3, 4), b"ab"), (info(1, 2, 3, 4), b"cd")]);
        bad(&[(info(1, 0, 2, 4), b"ab"), (info(1, 0, 2, 4), b"ab")]);
        bad(&[(info(1, 0, 2, 4), b"ab"), (info(1, 1, 2, 4), b"cde")]);
        bad(&[(info(1, 0, 2, 4), b"ab"), (info(1, 1, 2, 4), b"c")]);
        bad(&[(info(1, 0, 2, 4), b"ab"), (info(1, 1, 3, 4), b"cd")]);
        let mut r = Reassembler::default();
        r.push(k, info(1, 0, 2, 4), b"ab", LIMITS).unwrap();
        assert!(matches!(
            r.push(FrameKind::Doc, info(1, 1, 2, 4), b"cd", LIMITS),
            Err(FrameError::BadChunk(_))
        ));
    }

    #[test]
    fn split_covers_the_payload() {
        let data: Vec<u8> = (0..=255).collect();
        let pieces = split(&data, 100);
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces.concat(), data);
        assert_eq!(split(&[], 10).len(), 1);
    }
}
