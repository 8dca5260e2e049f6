//! Admission: a `join` proves that the page holds the board's link.
//!
//! Each socket gets a fresh random [`Challenge`]. The page derives the room's Ed25519 key pair
//! from the link's secret and sends the public key and a signature of
//! [`join_proof_message`]`(nonce, room)`; the room id must be the hash of that public key. So a
//! party that knows only the room id (or has watched other sockets' joins) cannot join: it
//! lacks the private key, and a signature seen on one socket is worth nothing on another.
//! The server learns the public key, which lets it check joins and nothing else: the seal and
//! peer-authentication keys are derived separately from the secret.

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::protocol::{
    join_proof_message, valid_hex, valid_room_id, ServerMessage, NONCE_HEX_LEN, ROOM_ID_LEN,
    ROOM_KEY_HEX_LEN, SIGNATURE_HEX_LEN,
};

/// Why a join's proof was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("room ids are {ROOM_ID_LEN} lowercase hex digits")]
    BadRoomId,
    #[error("the room key must be {ROOM_KEY_HEX_LEN} lowercase hex digits")]
    KeyEncoding,
    #[error("the signature must be {SIGNATURE_HEX_LEN} lowercase hex digits")]
    SignatureEncoding,
    #[error("the room id is not the hash of the room key")]
    RoomMismatch,
    #[error("the room key is not an Ed25519 public key")]
    BadKey,
    #[error("the signature does not verify for this connection's challenge")]
    BadSignature,
}

/// Randomness was not available (the OS refused); the connection cannot go on.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("no randomness from the operating system: {0}")]
pub struct NoRandomness(getrandom::Error);

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], NoRandomness> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(NoRandomness)?;
    Ok(out)
}

/// A fresh peer id: 16 random bytes in unpadded base64url (22 characters).
pub fn new_peer_id() -> Result<String, NoRandomness> {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<16>()?))
}

/// The room id a room key leads to: the first 16 bytes of SHA-256 of the key, in hex.
pub fn room_id_of(key: &[u8; 32]) -> String {
    hex(&Sha256::digest(key)[..ROOM_ID_LEN / 2])
}

/// The nonce one socket's join must sign.
#[derive(Debug, Clone)]
pub struct Challenge {
    nonce: String,
}

impl Challenge {
    pub fn new() -> Result<Self, NoRandomness> {
        let nonce = hex(&random_bytes::<{ NONCE_HEX_LEN / 2 }>()?);
        Ok(Self { nonce })
    }

    /// The `challenge` message that opens the socket.
    pub fn message(&self) -> ServerMessage {
        ServerMessage::Challenge {
            nonce: self.nonce.clone(),
        }
    }

    /// Checks a join's `room`, `key` and `sig` against this challenge. Lengths and alphabets
    /// are checked before anything is decoded.
    pub fn verify(&self, room: &str, key: &str, sig: &str) -> Result<(), ProofError> {
        if !valid_room_id(room) {
            return Err(ProofError::BadRoomId);
        }
        let key: [u8; ROOM_KEY_HEX_LEN / 2] =
            unhex(key, ROOM_KEY_HEX_LEN).ok_or(ProofError::KeyEncoding)?;
        let sig: [u8; SIGNATURE_HEX_LEN / 2] =
            unhex(sig, SIGNATURE_HEX_LEN).ok_or(ProofError::SignatureEncoding)?;
        if room_id_of(&key) != room {
            return Err(ProofError::RoomMismatch);
        }
        let key = VerifyingKey::from_bytes(&key).map_err(|_| ProofError::BadKey)?;
        let sig = Signature::from_bytes(&sig);
        key.verify_strict(&join_proof_message(&self.nonce, room), &sig)
            .map_err(|_| ProofError::BadSignature)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes exactly `len` lowercase hex digits into `N = len / 2` bytes.
fn unhex<const N: usize>(s: &str, len: usize) -> Option<[u8; N]> {
    if N * 2 != len || !valid_hex(s, len) {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn signed(challenge: &Challenge, key: &SigningKey) -> (String, String, String) {
        let public = key.verifying_key().to_bytes();
        let room = room_id_of(&public);
        let sig = key.sign(&join_proof_message(&challenge.nonce, &room));
        (room, hex(&public), hex(&sig.to_bytes()))
    }

    #[test]
    fn a_good_proof_verifies_and_every_kind_of_bad_one_is_named() {
        let c = Challenge::new().unwrap();
        let key = SigningKey::from_bytes(&[7; 32]);
        let (room, public, sig) = signed(&c, &key);
        assert_eq!(c.verify(&room, &public, &sig), Ok(()));

        let other = Challenge::new().unwrap();
        assert_ne!(other.nonce, c.nonce);
        assert_eq!(
            other.verify(&room, &public, &sig),
            Err(ProofError::BadSignature)
        );
        let (other_room, other_public, other_sig) = signed(&c, &SigningKey::from_bytes(&[8; 32]));
        assert_eq!(
            c.verify(&room, &other_public, &other_sig),
            Err(ProofError::RoomMismatch)
        );
        assert_eq!(
            c.verify(&other_room, &other_public, &sig),
            Err(ProofError::BadSignature)
        );
        assert_eq!(c.verify("nope", &public, &sig), Err(ProofError::BadRoomId));
        assert_eq!(
            c.verify(&room, &public.to_uppercase(), &sig),
            Err(ProofError::KeyEncoding)
        );
        assert_eq!(
            c.verify(&room, &public[..62], &sig),
            Err(ProofError::KeyEncoding)
        );
        assert_eq!(
            c.verify(&room, &public, &"é".repeat(64)),
            Err(ProofError::SignatureEncoding)
        );
        assert_eq!(
            c.verify(&room, &public, &"0".repeat(10_000)),
            Err(ProofError::SignatureEncoding)
        );
        let mut flipped = sig.into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            c.verify(&room, &public, std::str::from_utf8(&flipped).unwrap()),
            Err(ProofError::BadSignature)
        );
    }

    #[test]
    fn peer_ids_are_fresh_and_valid() {
        let a = new_peer_id().unwrap();
        let b = new_peer_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
        assert!(crate::protocol::valid_peer_id(&a));
    }

    #[test]
    fn hex_round_trip() {
        let bytes: [u8; 4] = unhex("00ff10ab", 8).unwrap();
        assert_eq!(bytes, [0, 0xff, 0x10, 0xab]);
        assert_eq!(hex(&bytes), "00ff10ab");
        assert_eq!(unhex::<4>("00ff10a", 8), None);
        assert_eq!(unhex::<3>("00ff10ab", 8), None);
    }
}
