//! The wire format between peers: a small versioned header and a payload.
//!
//! ```text
//! byte 0   wire version (2)
//! byte 1   kind (low 7 bits, see FrameKind); bit 7 set = this frame is one chunk of a message
//! varint   epoch      the sender's connection epoch (>= 1)
//! varint   seq        the sender's sequence number in that epoch
//! varint   ack epoch  the receiver's epoch being acknowledged (0 = none yet)
//! varint   ack count  how many data frames of that epoch the sender has received
//! chunked frames only:
//!   varint message id, varint chunk index, varint chunk count, varint message length
//! rest     payload
//! ```
//!
//! Varints are unsigned LEB128. Every data frame (all kinds but [`FrameKind::Ack`]) takes the next
//! sequence number; an ack frame carries the next number without taking it. Payloads are borrowed
//! from the input; the few that are parsed further ([`Hello`], [`Changes`], [`DocPayload`]) check
//! every length against what is left before they allocate. An unknown version or kind is an
//! error, never a panic.

use automerge::ChangeHash;

use crate::error::FrameError;

pub const WIRE_VERSION: u8 = 2;
/// The largest frame accepted from a peer (our own frames are at most the engine's `max_frame`).
pub const MAX_FRAME: usize = 1024 * 1024;
/// An upper bound on the header of any frame: 2 bytes and at most eight 10-byte varints.
pub const MAX_HEADER: usize = 2 + 8 * 10;
const CHUNKED: u8 = 0x80;
const HASH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// Start (or answer the start) of a sync session: the sender's heads.
    Hello = 1,
    /// Acknowledges data frames; carries no payload and takes no sequence number.
    Ack = 2,
    /// An Automerge sync message.
    Sync = 3,
    /// Changes pushed directly to a peer known to be caught up, with the sender's heads.
    Changes = 4,
    /// A whole document (`save()`) for a peer that has nothing yet, with the sender's heads.
    Doc = 5,
    /// "I lack some of your changes": sent after a Hello when the peer's heads are not all known.
    Behind = 6,
}

impl FrameKind {
    /// Every kind, in wire order.
    pub const ALL: [FrameKind; 6] = [
        FrameKind::Hello,
        FrameKind::Ack,
        FrameKind::Sync,
        FrameKind::Changes,
        FrameKind::Doc,
        FrameKind::Behind,
    ];

    fn from_u8(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u8 == b)
    }
}

/// Where a chunk sits in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkInfo {
    /// Chooses the message among those being reassembled from this peer.
    pub message: u64,
    pub index: u64,
    /// At least 2: a message that fits one frame is not chunked.
    pub count: u64,
    /// The length of the whole message.
    pub total: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: FrameKind,
    pub epoch: u64,
    pub seq: u64,
    /// The receiver's epoch that `ack_count` refers to; 0 if the sender has none yet.
    pub ack_epoch: u64,
    pub ack_count: u64,
    pub chunk: Option<ChunkInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub header: Header,
    pub payload: &'a [u8],
}

/// Append `v` as an unsigned LEB128 varint (the encoding of every number in a frame, and of
/// Automerge's unsigned integers).
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Read one varint from the front of `input`.
pub(crate) fn take_varint(input: &mut &[u8]) -> Result<u64, FrameError> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let Some((&byte, rest)) = input.split_first() else {
            return Err(FrameError::Malformed("varint runs past the end"));
        };
        *input = rest;
        let bits = u64::from(byte & 0x7f);
        if i == 9 && bits > 1 {
            return Err(FrameError::Malformed("varint overflows 64 bits"));
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(FrameError::Malformed("varint longer than 10 bytes"))
}

/// The header's length on the wire.
pub fn header_len(header: &Header) -> usize {
    let mut buf = Vec::with_capacity(MAX_HEADER);
    write_header(&mut buf, header);
    buf.len()
}

fn write_header(out: &mut Vec<u8>, h: &Header) {
    out.push(WIRE_VERSION);
    out.push(h.kind as u8 | if h.chunk.is_some() { CHUNKED } else { 0 });
    put_varint(out, h.epoch);
    put_varint(out, h.seq);
    put_varint(out, h.ack_epoch);
    put_varint(out, h.ack_count);
    if let Some(c) = h.chunk {
        put_varint(out, c.message);
        put_varint(out, c.index);
        put_varint(out, c.count);
        put_varint(out, c.total);
    }
}

/// Encode a frame.
pub fn encode(header: &Header, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_HEADER + payload.len());
    write_header(&mut out, header);
    out.extend_from_slice(payload);
    out
}

/// Split a frame into its header and payload, borrowing from `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    if bytes.len() > MAX_FRAME {
        return Err(FrameError::TooLarge {
            size: bytes.len(),
            limit: MAX_FRAME,
        });
    }
    let [version, kind, rest @ ..] = bytes else {
        return Err(FrameError::Truncated(bytes.len()));
    };
    let mut rest: &[u8] = rest;
    if *version != WIRE_VERSION {
        return Err(FrameError::UnknownVersion(*version));
    }
    let chunked = kind & CHUNKED != 0;
    let kind = FrameKind::from_u8(kind & !CHUNKED).ok_or(FrameError::UnknownKind(*kind))?;
    let epoch = take_varint(&mut rest)?;
    let seq = take_varint(&mut rest)?;
    let ack_epoch = take_varint(&mut rest)?;
    let ack_count = take_varint(&mut rest)?;
    if epoch == 0 {
        return Err(FrameError::Malformed("epoch 0"));
    }
    let chunk = if chunked {
        let c = ChunkInfo {
            message: take_varint(&mut rest)?,
            index: take_varint(&mut rest)?,
            count: take_varint(&mut rest)?,
            total: take_varint(&mut rest)?,
        };
        if kind == FrameKind::Ack {
            return Err(FrameError::BadChunk("an ack is never chunked"));
        }
        if c.count < 2 || c.index >= c.count {
            return Err(FrameError::BadChunk("index or count out of range"));
        }
        if rest.is_empty() {
            return Err(FrameError::BadChunk("empty chunk"));
        }
        Some(c)
    } else {
        None
    };
    if kind == FrameKind::Ack && !rest.is_empty() {
        return Err(FrameError::Malformed("ack with a payload"));
    }
    Ok(Frame {
        header: Header {
            kind,
            epoch,
            seq,
            ack_epoch,
            ack_count,
            chunk,
        },
        payload: rest,
    })
}

// ----- payloads -----

fn put_heads(out: &mut Vec<u8>, heads: &[ChangeHash]) {
    put_varint(out, heads.len() as u64);
    for h in heads {
        out.extend_from_slice(&h.0);
    }
}

fn take_heads(input: &mut &[u8]) -> Result<Vec<ChangeHash>, FrameError> {
    let n = take_varint(input)?;
    // check the length before allocating anything
    let n = usize::try_from(n)
        .ok()
        .filter(|n| n.checked_mul(HASH).is_some_and(|len| len <= input.len()))
        .ok_or(FrameError::Malformed("more heads than bytes"))?;
    let (hashes, rest) = input.split_at(n * HASH);
    *input = rest;
    let mut heads: Vec<ChangeHash> = hashes
        .chunks_exact(HASH)
        .map(|c| {
            let mut h = [0u8; HASH];
            h.copy_from_slice(c);
            ChangeHash(h)
        })
        .collect();
    // Heads are a set, and Automerge keeps them sorted: a peer's list in another order (or with
    // repeats) would not compare equal to ours, and once seeded into a sync state it makes
    // automerge 0.6.1 encode unsorted hashes, which panics in a debug build.
    heads.sort_unstable();
    heads.dedup();
    Ok(heads)
}

/// The payload of a [`FrameKind::Hello`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The receiver's epoch this Hello answers; 0 if the sender starts a session on its own.
    pub reply_to: u64,
    pub heads: Vec<ChangeHash>,
}

impl Hello {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(11 + HASH * self.heads.len());
        put_varint(&mut out, self.reply_to);
        put_heads(&mut out, &self.heads);
        out
    }

    pub fn decode(mut input: &[u8]) -> Result<Self, FrameError> {
        let reply_to = take_varint(&mut input)?;
        let heads = take_heads(&mut input)?;
        if !input.is_empty() {
            return Err(FrameError::Malformed("bytes after a hello"));
        }
        Ok(Hello { reply_to, heads })
    }
}

/// The payload of a [`FrameKind::Changes`]: the sender's heads and raw Automerge changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes<'a> {
    pub heads: Vec<ChangeHash>,
    pub changes: Vec<&'a [u8]>,
}

impl<'a> Changes<'a> {
    pub fn encode<'c>(
        heads: &[ChangeHash],
        changes: impl IntoIterator<Item = &'c [u8]>,
    ) -> Vec<u8> {
        let changes: Vec<&[u8]> = changes.into_iter().collect();
        let len: usize = changes.iter().map(|c| c.len() + 5).sum();
        let mut out = Vec::with_capacity(11 + HASH * heads.len() + len);
        put_heads(&mut out, heads);
        put_varint(&mut out, changes.len() as u64);
        for c in changes {
            put_varint(&mut out, c.len() as u64);
            out.extend_from_slice(c);
        }
        out
    }

    pub fn decode(mut input: &'a [u8]) -> Result<Self, FrameError> {
        let heads = take_heads(&mut input)?;
        let n = take_varint(&mut input)?;
        // every change takes at least one byte of length: a bound before allocating
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n <= input.len())
            .ok_or(FrameError::Malformed("more changes than bytes"))?;
        let mut changes = Vec::with_capacity(n);
        for _ in 0..n {
            let len = take_varint(&mut input)?;
            let len = usize::try_from(len)
                .ok()
                .filter(|len| *len <= input.len())
                .ok_or(FrameError::Malformed("change longer than the frame"))?;
            let (change, rest) = input.split_at(len);
            changes.push(change);
            input = rest;
        }
        if !input.is_empty() {
            return Err(FrameError::Malformed("bytes after the changes"));
        }
        Ok(Changes { heads, changes })
    }
}

/// The payload of a [`FrameKind::Doc`]: the sender's heads and a saved document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocPayload<'a> {
    pub heads: Vec<ChangeHash>,
    pub doc: &'a [u8],
}

impl<'a> DocPayload<'a> {
    pub fn encode(heads: &[ChangeHash], doc: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(11 + HASH * heads.len() + doc.len());
        put_heads(&mut out, heads);
        out.extend_from_slice(doc);
        out
    }

    pub fn decode(mut input: &'a [u8]) -> Result<Self, FrameError> {
        let heads = take_heads(&mut input)?;
        Ok(DocPayload { heads, doc: input })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: FrameKind) -> Header {
        Header {
            kind,
            epoch: 1_700_000_000_123,
            seq: 7,
            ack_epoch: 1_700_000_000_456,
            ack_count: 300,
            chunk: None,
        }
    }

    #[test]
    fn round_trip() {
        let h = header(FrameKind::Sync);
        let f = encode(&h, b"hello");
        assert_eq!(
            decode(&f),
            Ok(Frame {
                header: h,
                payload: b"hello"
            })
        );
        assert_eq!(f.len(), header_len(&h) + 5);
        let chunked = Header {
            chunk: Some(ChunkInfo {
                message: 3,
                index: 1,
                count: 4,
                total: 60_000,
            }),
            ..h
        };
        let f = encode(&chunked, b"xy");
        assert_eq!(decode(&f).unwrap().header, chunked);
        assert!(header_len(&chunked) <= MAX_HEADER);
        let ack = header(FrameKind::Ack);
        assert_eq!(decode(&encode(&ack, &[])).unwrap().header, ack);
    }

    #[test]
    fn varints_round_trip_and_reject_overflow() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            let mut input = &buf[..];
            assert_eq!(take_varint(&mut input), Ok(v));
            assert!(input.is_empty());
        }
        let mut too_big: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(take_varint(&mut too_big).is_err());
        let mut too_long: &[u8] = &[0x80; 11];
        assert!(take_varint(&mut too_long).is_err());
        let mut unfinished: &[u8] = &[0x80];
        assert!(take_varint(&mut unfinished).is_err());
    }

    #[test]
    fn rejects_bad_frames() {
        assert_eq!(decode(&[]), Err(FrameError::Truncated(0)));
        assert_eq!(decode(&[2]), Err(FrameError::Truncated(1)));
        assert_eq!(decode(&[9, 1]), Err(FrameError::UnknownVersion(9)));
        assert_eq!(
            decode(&[1, 1, 1, 0, 0, 0]),
            Err(FrameError::UnknownVersion(1))
        );
        assert_eq!(
            decode(&[2, 77, 1, 0, 0, 0]),
            Err(FrameError::UnknownKind(77))
        );
        assert_eq!(
            decode(&[2, 0x80 | 77, 1]),
            Err(FrameError::UnknownKind(0xcd))
        );
        assert!(matches!(decode(&[2, 3]), Err(FrameError::Malformed(_))));
        assert!(matches!(
            decode(&[2, 3, 0, 0, 0, 0]),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            decode(&[2, 2, 1, 0, 0, 0, 9]),
            Err(FrameError::Malformed(_))
        ));
        // chunked: count 1, index past count, empty chunk, chunked ack
        assert!(matches!(
            decode(&[2, 0x83, 1, 0, 0, 0, 0, 0, 1, 9, 1]),
            Err(FrameError::BadChunk(_))
        ));
        assert!(matches!(
            decode(&[2, 0x83, 1, 0, 0, 0, 0, 2, 2, 9, 1]),
            Err(FrameError::BadChunk(_))
        ));
        assert!(matches!(
            decode(&[2, 0x83, 1, 0, 0, 0, 0, 0, 2, 9]),
            Err(FrameError::BadChunk(_))
        ));
        assert!(matches!(
            decode(&[2, 0x82, 1, 0, 0, 0, 0, 0, 2, 9, 1]),
            Err(FrameError::BadChunk(_))
        ));
        let big = vec![2; MAX_FRAME + 1];
        assert!(matches!(decode(&big), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn payloads_round_trip_and_check_lengths() {
        let heads = vec![ChangeHash([7; 32]), ChangeHash([9; 32])];
        let hello = Hello {
            reply_to: 42,
            heads: heads.clone(),
        };
        assert_eq!(Hello::decode(&hello.encode()), Ok(hello.clone()));
        let mut long = hello.encode();
        long.push(0);
        assert!(Hello::decode(&long).is_err());
        // a huge head count with no bytes behind it is refused before allocating
        let mut lying = Vec::new();
        put_varint(&mut lying, 0);
        put_varint(&mut lying, u64::MAX / 2);
        assert!(Hello::decode(&lying).is_err());

        let c = Changes::encode(&heads, [&b"abc"[..], &b""[..], &b"de"[..]]);
        let d = Changes::decode(&c).unwrap();
        assert_eq!(d.heads, heads);
        assert_eq!(d.changes, vec![&b"abc"[..], &b""[..], &b"de"[..]]);
        assert!(Changes::decode(&c[..c.len() - 1]).is_err());
        let mut lying = Vec::new();
        put_heads(&mut lying, &[]);
        put_varint(&mut lying, 1 << 40);
        assert!(Changes::decode(&lying).is_err());

        let doc = DocPayload::encode(&heads, b"doc bytes");
        assert_eq!(
            DocPayload::decode(&doc),
            Ok(DocPayload {
                heads,
                doc: b"doc bytes"
            })
        );
    }
}
