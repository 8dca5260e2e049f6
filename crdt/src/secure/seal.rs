//! Sealed signaling payloads: XChaCha20-Poly1305 with `{room, from, to}` as associated data and
//! a timestamp inside, so that the relay can neither read, alter, redirect, nor replay them.
//!
//! Wire form (the opaque `data` string the server relays): base64url(nonce[24] || ciphertext),
//! where the plaintext is `timestamp_ms (u64, big endian) || payload`.

use std::collections::{HashSet, VecDeque};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use thiserror::Error;

pub const NONCE_LEN: usize = 24;
/// A payload older than this is refused.
pub const MAX_AGE_MS: u64 = 120_000;
/// A payload stamped further ahead than this (clock skew) is refused.
pub const MAX_SKEW_MS: u64 = 30_000;
/// Largest sealed payload accepted (signaling messages are small).
pub const MAX_SEALED_CHARS: usize = 48 * 1024;
/// Nonces remembered for replay detection; beyond this, new payloads are refused (fail closed).
const MAX_REMEMBERED: usize = 8192;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SealError {
    #[error("not a sealed payload")]
    Malformed,
    #[error("sealed payload too large")]
    TooLarge,
    #[error("payload does not open: wrong key, tampered, or addressed to someone else")]
    Forged,
    #[error("payload is older than the replay window")]
    Stale,
    #[error("payload is stamped in the future")]
    FromFuture,
    #[error("payload was seen before (replay)")]
    Replayed,
    #[error("too many recent payloads to check for replays")]
    Flooded,
}

/// Seals what this peer sends and opens what it receives, remembering recent nonces.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    room: String,
    me: String,
    seen: HashSet<[u8; NONCE_LEN]>,
    order: VecDeque<(u64, [u8; NONCE_LEN])>,
    /// The latest time `open` was given: the replay window runs on this, never backwards.
    clock_ms: u64,
}

fn associated_data(room: &str, from: &str, to: &str) -> Vec<u8> {
    let mut ad = b"meshboard/signal/v1".to_vec();
    for part in [room, from, to] {
        ad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        ad.extend_from_slice(part.as_bytes());
    }
    ad
}

impl Sealer {
    pub fn new(key: &[u8; 32], room: &str, me: &str) -> Self {
        Sealer {
            cipher: XChaCha20Poly1305::new(key.into()),
            room: room.to_owned(),
            me: me.to_owned(),
            seen: HashSet::new(),
            order: VecDeque::new(),
            clock_ms: 0,
        }
    }

    /// Seal `payload` for peer `to`; `nonce` must be fresh random bytes.
    pub fn seal(&self, to: &str, payload: &[u8], now_ms: u64, nonce: [u8; NONCE_LEN]) -> String {
        let mut plain = Vec::with_capacity(8 + payload.len());
        plain.extend_from_slice(&now_ms.to_be_bytes());
        plain.extend_from_slice(payload);
        let ad = associated_data(&self.room, &self.me, to);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers.
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &ad,
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// Open a payload that the server says came from `from`; each payload opens once.
    ///
    /// `now_ms` should come from a monotonic clock anchored to wall time (the browser's
    /// `performance.timeOrigin + performance.now()`). Whatever it does, the window does not go
    /// backwards: a time earlier than one seen before counts as that one. Otherwise a clock that
    /// jumped ahead (forgetting every nonce) and then back would readmit a replay.
    pub fn open(&mut self, from: &str, data: &str, now_ms: u64) -> Result<Vec<u8>, SealError> {
        self.clock_ms = self.clock_ms.max(now_ms);
        let now_ms = self.clock_ms;
        if data.len() > MAX_SEALED_CHARS {
            return Err(SealError::TooLarge);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| SealError::Malformed)?;
        if bytes.len() < NONCE_LEN + 16 + 8 {
            return Err(SealError::Malformed);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let ad = associated_data(&self.room, from, &self.me);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &ad,
                },
            )
            .map_err(|_| SealError::Forged)?;
        let (stamp, payload) = plain.split_at(8);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(stamp);
        let ts = u64::from_be_bytes(ts);
        if ts.saturating_add(MAX_AGE_MS) < now_ms {
            return Err(SealError::Stale);
        }
        if ts > now_ms.saturating_add(MAX_SKEW_MS) {
            return Err(SealError::FromFuture);
        }
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(nonce);
        self.remember(n, ts, now_ms)?;
        Ok(payload.to_vec())
    }

    fn remember(&mut self, nonce: [u8; NONCE_LEN], ts: u64, now_ms: u64) -> Result<(), SealError> {
        // Forget nonces whose payloads would be refused as stale anyway.
        while let Some((old, n)) = self.order.front().copied() {
            if old.saturating_add(MAX_AGE_MS + MAX_SKEW_MS) >= now_ms {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&n);
        }
        if self.seen.contains(&nonce) {
            return Err(SealError::Replayed);
        }
        if self.seen.len() >= MAX_REMEMBERED {
            return Err(SealError::Flooded);
        }
        self.seen.insert(nonce);
        // Keep `order` sorted enough for pruning: a payload's own time bounds how long we keep it.
        self.order
            .push_back((ts.max(now_ms.saturating_sub(MAX_AGE_MS)), nonce));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];
    const NOW: u64 = 1_800_000_000_000;

    fn pair() -> (Sealer, Sealer) {
        (
            Sealer::new(&KEY, "room", "alice"),
            Sealer::new(&KEY, "room", "bob"),
        )
    }

    #[test]
    fn round_trip() {
        let (alice, mut bob) = pair();
        let data = alice.seal("bob", b"offer sdp", NOW, [1; 24]);
        assert_eq!(bob.open("alice", &data, NOW + 10).unwrap(), b"offer sdp");
        assert!(!data.contains("offer"));
    }

    #[test]
    fn tampered_truncated_and_garbage_are_refused() {
        let (alice, mut bob) = pair();
        let data = alice.seal("bob", b"offer sdp", NOW, [1; 24]);
        let mut bytes = URL_SAFE_NO_PAD.decode(&data).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            bob.open("alice", &URL_SAFE_NO_PAD.encode(&bytes), NOW),
            Err(SealError::Forged)
        );
        assert_eq!(
            bob.open("alice", &data[..data.len() - 4], NOW),
            Err(SealError::Forged)
        );
        assert_eq!(bob.open("alice", "short", NOW), Err(SealError::Malformed));
        assert_eq!(bob.open("alice", "!!!", NOW), Err(SealError::Malformed));
        assert_eq!(
            bob.open("alice", &"A".repeat(MAX_SEALED_CHARS + 1), NOW),
            Err(SealError::TooLarge)
        );
    }

    #[test]
    fn misaddressed_or_spoofed_sender_or_other_room_is_refused() {
        let alice = Sealer::new(&KEY, "room", "alice");
        let data = alice.seal("bob", b"x", NOW, [2; 24]);
        let mut carol = Sealer::new(&KEY, "room", "carol");
        assert_eq!(
            carol.open("alice", &data, NOW),
            Err(SealError::Forged),
            "addressed to bob"
        );
        let mut bob = Sealer::new(&KEY, "room", "bob");
        assert_eq!(
            bob.open("mallory", &data, NOW),
            Err(SealError::Forged),
            "server changed `from`"
        );
        let mut bob_elsewhere = Sealer::new(&KEY, "other-room", "bob");
        assert_eq!(
            bob_elsewhere.open("alice", &data, NOW),
            Err(SealError::Forged)
        );
        let mut wrong_key = Sealer::new(&[8; 32], "room", "bob");
        assert_eq!(wrong_key.open("alice", &data, NOW), Err(SealError::Forged));
    }

    #[test]
    fn replays_and_old_payloads_are_refused() {
        let (alice, mut bob) = pair();
        let data = alice.seal("bob", b"x", NOW, [3; 24]);
        assert!(bob.open("alice", &data, NOW).is_ok());
        assert_eq!(
            bob.open("alice", &data, NOW + 1000),
            Err(SealError::Replayed)
        );
        let old = alice.seal("bob", b"x", NOW - MAX_AGE_MS - 1, [4; 24]);
        assert_eq!(bob.open("alice", &old, NOW), Err(SealError::Stale));
        let future = alice.seal("bob", b"x", NOW + 1000 + MAX_SKEW_MS + 1, [5; 24]);
        assert_eq!(bob.open("alice", &future, NOW), Err(SealError::FromFuture));
        // once its window has passed a nonce is forgotten, and the payload is stale anyway
        let later = NOW + MAX_AGE_MS + MAX_SKEW_MS + 10;
        assert_eq!(bob.open("alice", &data, later), Err(SealError::Stale));
        assert!(bob
            .open("alice", &alice.seal("bob", b"y", later, [6; 24]), later)
            .is_ok());
        assert_eq!(bob.seen.len(), 1, "expired nonces are forgotten");
    }

    #[test]
    fn a_clock_that_jumps_ahead_and_back_does_not_readmit_a_replay() {
        let (alice, mut bob) = pair();
        let offer = alice.seal("bob", b"offer", NOW, [10; 24]);
        assert!(bob.open("alice", &offer, NOW).is_ok());
        // The clock jumps ten minutes ahead; a payload opened then forgets the old nonces.
        let ahead = NOW + 600_000;
        assert!(bob
            .open("alice", &alice.seal("bob", b"y", ahead, [11; 24]), ahead)
            .is_ok());
        // Back to the right time: the old offer is still refused.
        assert_eq!(
            bob.open("alice", &offer, NOW + 1_000),
            Err(SealError::Stale)
        );
    }

    #[test]
    fn memory_is_bounded() {
        let (alice, mut bob) = pair();
        for i in 0..MAX_REMEMBERED as u32 {
            let mut nonce = [0u8; 24];
            nonce[..4].copy_from_slice(&i.to_be_bytes());
            assert!(bob
                .open("alice", &alice.seal("bob", b"x", NOW, nonce), NOW)
                .is_ok());
        }
        let one_more = alice.seal("bob", b"x", NOW, [9; 24]);
        assert_eq!(bob.open("alice", &one_more, NOW), Err(SealError::Flooded));
        assert_eq!(bob.seen.len(), MAX_REMEMBERED);
    }
}
