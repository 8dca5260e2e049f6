//! The key schedule: HKDF-SHA256 over the link's secret.

use hkdf::Hkdf;
use sha2::Sha256;

const SALT: &[u8] = b"meshboard/v1";

/// Everything derived from one board secret.
#[derive(Clone)]
pub struct BoardKeys {
    /// What the signaling server sees (hex, 32 characters).
    pub room_id: String,
    /// Seals offers, answers and ICE candidates (XChaCha20-Poly1305).
    pub seal: [u8; 32],
    /// Authenticates peers over the data channel (HMAC-SHA256).
    pub auth: [u8; 32],
}

impl std::fmt::Debug for BoardKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BoardKeys(room {})", self.room_id)
    }
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
        let room: [u8; 16] = expand(&hk, b"room id");
        BoardKeys {
            room_id: room.iter().map(|b| format!("{b:02x}")).collect(),
            seal: expand(&hk, b"signaling seal key"),
            auth: expand(&hk, b"peer authentication key"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_independent_and_deterministic() {
        let a = BoardKeys::derive(&[1; 16]);
        let b = BoardKeys::derive(&[1; 16]);
        let c = BoardKeys::derive(&[2; 16]);
        assert_eq!(a.room_id, b.room_id);
        assert_eq!(a.seal, b.seal);
        assert_ne!(a.room_id, c.room_id);
        assert_ne!(a.seal, a.auth);
        assert_ne!(&a.seal[..16], &hex_bytes(&a.room_id)[..]);
        assert_eq!(a.room_id.len(), 32);
        assert!(!format!("{a:?}").contains(&format!("{:?}", a.seal)));
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
        assert_eq!(k.room_id, "ba9084f1afdd1b47c4c100ebeb563e0c");
    }
}
