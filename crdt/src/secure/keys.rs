//! The key schedule: HKDF-SHA256 over the link's secret.
//!
//! From the secret come: a key that seals signaling payloads, a key with which peers prove the
//! link to each other over the data channel, and an Ed25519 key pair with which a page proves the
//! link to the signaling server when it joins (the room key). The room id the server sees is a
//! hash of the room key's public half, so the server can check a join against the room id
//! without learning anything that lets it join, seal or prove itself.

use ed25519_dalek::{Signer, SigningKey};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

const SALT: &[u8] = b"meshboard/v1";

/// Bytes of the room id (hex: twice as many characters).
pub const ROOM_ID_BYTES: usize = 16;

/// Everything derived from one board secret.
#[derive(Clone)]
pub struct BoardKeys {
    /// What the signaling server sees (hex, 32 characters): the hash of the room key's public
    /// half (see [`room_id_of`]).
    pub room_id: String,
    /// Names the board in this browser's storage and between its tabs (hex, 32 characters);
    /// never sent anywhere. (It was the room id before joins were proved, so boards stored
    /// then are still found.)
    pub local_id: String,
    /// Seals offers, answers and ICE candidates (XChaCha20-Poly1305).
    pub seal: [u8; 32],
    /// Authenticates peers over the data channel (HMAC-SHA256).
    pub auth: [u8; 32],
    /// Proves to the signaling server that a joining page holds the link.
    pub room_key: RoomKey,
}

impl std::fmt::Debug for BoardKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BoardKeys(room {})", self.room_id)
    }
}

/// The Ed25519 key pair of a room; the private half never leaves the page.
#[derive(Clone)]
pub struct RoomKey(SigningKey);

impl std::fmt::Debug for RoomKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RoomKey({})", self.public_hex())
    }
}

impl RoomKey {
    /// The public half, 32 bytes.
    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The public half as 64 lowercase hex characters, as sent in a join.
    pub fn public_hex(&self) -> String {
        hex(&self.public())
    }

    /// The Ed25519 signature of `message`, 64 bytes.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// The signature of `message` as 128 lowercase hex characters, as sent in a join.
    pub fn sign_hex(&self, message: &[u8]) -> String {
        hex(&self.sign(message))
    }
}

/// The room id of a room key: the first [`ROOM_ID_BYTES`] bytes of SHA-256 of its public half,
/// in lowercase hex. The server computes the same from the key a join presents.
pub fn room_id_of(public: &[u8; 32]) -> String {
    let digest = Sha256::digest(public);
    hex(&digest[..ROOM_ID_BYTES])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn expand<const N: usize>(hk: &Hkdf<Sha256>, info: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    // N is at most 32 here, far below HKDF-SHA256's limit of 255 * 32 bytes: expand cannot fail.
    if hk.expand(info, &mut out).is_err() {
        out = [0u8; N];
    }
    out
}

impl BoardKeys {
    pub fn derive(secret: &[u8]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(SALT), secret);
        let local: [u8; ROOM_ID_BYTES] = expand(&hk, b"room id");
        let room_key = RoomKey(SigningKey::from_bytes(&expand(&hk, b"room signing key")));
        BoardKeys {
            room_id: room_id_of(&room_key.public()),
            local_id: hex(&local),
            seal: expand(&hk, b"signaling seal key"),
            auth: expand(&hk, b"peer authentication key"),
            room_key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    #[test]
    fn keys_are_independent_and_deterministic() {
        let a = BoardKeys::derive(&[1; 16]);
        let b = BoardKeys::derive(&[1; 16]);
        let c = BoardKeys::derive(&[2; 16]);
        assert_eq!(a.room_id, b.room_id);
        assert_eq!(a.local_id, b.local_id);
        assert_eq!(a.seal, b.seal);
        assert_eq!(a.room_key.public(), b.room_key.public());
        assert_ne!(a.room_id, c.room_id);
        assert_ne!(a.room_key.public(), c.room_key.public());
        assert_ne!(a.room_id, a.local_id);
        assert_ne!(a.seal, a.auth);
        assert_ne!(&a.seal[..16], &hex_bytes(&a.room_id)[..]);
        assert_eq!(a.room_id.len(), 32);
        assert_eq!(a.local_id.len(), 32);
        assert!(!format!("{a:?}").contains(&format!("{:?}", a.seal)));
        assert!(!format!("{a:?}").contains(&hex(&a.seal)));
    }

    #[test]
    fn room_id_is_the_hash_of_the_room_key() {
        let k = BoardKeys::derive(&[3; 16]);
        let public = k.room_key.public();
        assert_eq!(k.room_id, room_id_of(&public));
        assert_eq!(k.room_id, hex(&Sha256::digest(public)[..16]));
        assert_eq!(k.room_key.public_hex(), hex(&public));
        // The signing key is none of the other keys.
        let seed = k.room_key.0.to_bytes();
        assert_ne!(seed, k.seal);
        assert_ne!(seed, k.auth);
    }

    #[test]
    fn signatures_verify_only_for_their_message_and_key() {
        let k = BoardKeys::derive(&[4; 16]);
        let other = BoardKeys::derive(&[5; 16]);
        let key = VerifyingKey::from_bytes(&k.room_key.public()).unwrap();
        let sig = Signature::from_bytes(&k.room_key.sign(b"hello"));
        assert!(key.verify(b"hello", &sig).is_ok());
        assert!(key.verify(b"hellp", &sig).is_err());
        let theirs = Signature::from_bytes(&other.room_key.sign(b"hello"));
        assert!(key.verify(b"hello", &theirs).is_err());
        assert_eq!(k.room_key.sign_hex(b"x").len(), 128);
        // Ed25519 is deterministic.
        assert_eq!(k.room_key.sign(b"x"), k.room_key.sign(b"x"));
    }

    fn hex_bytes(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn known_answer() {
        // RFC 5869-style check against an independent computation (python3 hmac/hashlib):
        // prk = HMAC(salt, secret); okm = HMAC(prk, info || 0x01)[..16]
        let k = BoardKeys::derive(&[0u8; 16]);
        assert_eq!(k.local_id, "ba9084f1afdd1b47c4c100ebeb563e0c");
        // The seed as above with info "room signing key"; public key and hash from Node's
        // crypto (an Ed25519 key made from that seed, SHA-256 of its raw public key).
        assert_eq!(k.room_key.0.to_bytes(), hex_bytes(SEED_0)[..]);
        assert_eq!(k.room_key.public_hex(), PUBLIC_0);
        assert_eq!(k.room_id, ROOM_0);
    }

    const SEED_0: &str = "f81a13594224f509c9572a1bfd98a095c20332f0be8ec1e871a47c3890a6b581";
    const PUBLIC_0: &str = "6dde6423265d9e81a5ae07fe6c0662dea74bf19588442491f317b124a4862d3e";
    const ROOM_0: &str = "6ee4a9bde882453d71997c845c95cbaa";
}
