//! Byte-level mutations, as a fuzzer's: bit flips, byte sets, truncation, deletion, insertion,
//! duplication, splicing from other inputs and LEB128 varint edits. Positions are taken modulo
//! the input's length, so every mutation applies to every input.

use crdt::frame::put_varint;
use proptest::collection::vec;
use proptest::prelude::*;

/// Values that tend to sit on boundaries of lengths and counts.
const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    3,
    7,
    8,
    9,
    15,
    16,
    31,
    32,
    33,
    63,
    64,
    65,
    127,
    128,
    255,
    256,
    1023,
    1024,
    4095,
    4096,
    16384,
    65535,
    65536,
    1 << 20,
    1 << 24,
    (1 << 31) - 1,
    1 << 31,
    (1 << 32) - 1,
    1 << 32,
    1 << 53,
    (1 << 63) - 1,
    1 << 63,
    u64::MAX - 1,
    u64::MAX,
];

#[derive(Debug, Clone)]
pub enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    SetByte {
        at: usize,
        value: u8,
    },
    Truncate {
        keep: usize,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Duplicate {
        at: usize,
        len: usize,
        to: usize,
    },
    /// Copy `len` bytes from donor `donor` (modulo the donors) at `from` into position `to`.
    Splice {
        donor: usize,
        from: usize,
        len: usize,
        to: usize,
        replace: bool,
    },
    /// Replace the varint that starts at `at` (unsigned LEB128) with another value.
    Varint {
        at: usize,
        value: VarintValue,
    },
}

#[derive(Debug, Clone)]
pub enum VarintValue {
    Interesting(usize),
    Delta(i8),
    /// The same value with `extra` redundant continuation bytes (a non-canonical encoding).
    Overlong(u8),
    /// A signed LEB128 value (Automerge's columns use both kinds).
    Signed(i64),
}

fn put_sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        if done {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The varint at the front of `bytes`: its value (wrapping) and length.
fn read_uleb(bytes: &[u8]) -> (u64, usize) {
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f).wrapping_shl(7 * i as u32);
        if b & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    (value, bytes.len().min(10))
}

fn pos(at: usize, len: usize) -> usize {
    at % (len + 1)
}

pub fn apply(bytes: &mut Vec<u8>, m: &Mutation, donors: &[&[u8]]) {
    let n = bytes.len();
    match m {
        Mutation::FlipBit { at, bit } => {
            if n > 0 {
                bytes[at % n] ^= 1 << (bit % 8);
            }
        }
        Mutation::SetByte { at, value } => {
            if n > 0 {
                bytes[at % n] = *value;
            }
        }
        Mutation::Truncate { keep } => bytes.truncate(keep % (n + 1)),
        Mutation::Delete { at, len } => {
            let at = pos(*at, n);
            let end = at.saturating_add(*len).min(n);
            bytes.drain(at..end);
        }
        Mutation::Insert { at, bytes: new } => {
            let at = pos(*at, n);
            bytes.splice(at..at, new.iter().copied());
        }
        Mutation::Duplicate { at, len, to } => {
            let at = pos(*at, n);
            let end = at.saturating_add(*len).min(n);
            let piece = bytes[at..end].to_vec();
            let to = pos(*to, n);
            bytes.splice(to..to, piece);
        }
        Mutation::Splice {
            donor,
            from,
            len,
            to,
            replace,
        } => {
            if donors.is_empty() {
                return;
            }
            let d = donors[donor % donors.len()];
            let from = pos(*from, d.len());
            let piece = &d[from..from.saturating_add(*len).min(d.len())];
            let to = pos(*to, n);
            let end = if *replace {
                to.saturating_add(piece.len()).min(n)
            } else {
                to
            };
            bytes.splice(to..end, piece.iter().copied());
        }
        Mutation::Varint { at, value } => {
            if n == 0 {
                return;
            }
            let at = at % n;
            let (old, used) = read_uleb(&bytes[at..]);
            let mut new = Vec::new();
            match value {
                VarintValue::Interesting(i) => {
                    put_varint(&mut new, INTERESTING[i % INTERESTING.len()])
                }
                VarintValue::Delta(d) => {
                    put_varint(&mut new, old.wrapping_add_signed(i64::from(*d)))
                }
                VarintValue::Overlong(extra) => {
                    put_varint(&mut new, old);
                    if let Some(last) = new.last_mut() {
                        *last |= 0x80;
                    }
                    new.extend(std::iter::repeat_n(
                        0x80,
                        usize::from(extra % 4).saturating_sub(1),
                    ));
                    new.push(0);
                }
                VarintValue::Signed(v) => put_sleb(&mut new, *v),
            }
            bytes.splice(at..at + used, new);
        }
    }
}

pub fn apply_all(bytes: &mut Vec<u8>, ms: &[Mutation], donors: &[&[u8]]) {
    for m in ms {
        apply(bytes, m, donors);
    }
}

fn varint_value() -> impl Strategy<Value = VarintValue> {
    prop_oneof![
        4 => any::<usize>().prop_map(VarintValue::Interesting),
        3 => any::<i8>().prop_map(VarintValue::Delta),
        1 => any::<u8>().prop_map(VarintValue::Overlong),
        1 => prop_oneof![Just(-1i64), Just(i64::MIN), Just(i64::MAX), any::<i64>()]
            .prop_map(VarintValue::Signed),
    ]
}

/// Positions biased towards the front, where headers and lengths live.
fn position() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0usize..64, 2 => any::<usize>()]
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (position(), any::<u8>()).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        3 => (position(), any::<u8>()).prop_map(|(at, value)| Mutation::SetByte { at, value }),
        1 => any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        1 => (position(), 0usize..16).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => (position(), vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (position(), 0usize..64, any::<usize>())
            .prop_map(|(at, len, to)| Mutation::Duplicate { at, len, to }),
        1 => (any::<usize>(), any::<usize>(), 0usize..128, any::<usize>(), any::<bool>()).prop_map(
            |(donor, from, len, to, replace)| Mutation::Splice {
                donor,
                from,
                len,
                to,
                replace
            }
        ),
        4 => (position(), varint_value()).prop_map(|(at, value)| Mutation::Varint { at, value }),
    ]
}

pub fn mutations(max: usize) -> impl Strategy<Value = Vec<Mutation>> {
    vec(mutation(), 0..=max)
}

/// Mutations applied to a copy of `input`.
pub fn mutated(input: &[u8], ms: &[Mutation], donors: &[&[u8]]) -> Vec<u8> {
    let mut out = input.to_vec();
    apply_all(&mut out, ms, donors);
    out
}
