//! Proof over an open data channel that the other end holds the board's key and sees the same
//! DTLS fingerprints we do. A relay that swapped fingerprints in the SDP to sit in the middle
//! makes the two sides see different pairs, and the proofs stop matching.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// First bytes of a proof message on the data channel.
pub const PROOF_PREFIX: &[u8] = b"MBAUTH1";
pub const PROOF_LEN: usize = PROOF_PREFIX.len() + 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Offerer,
    Answerer,
}

impl Role {
    fn tag(self) -> &'static [u8] {
        match self {
            Role::Offerer => b"offerer",
            Role::Answerer => b"answerer",
        }
    }

    pub fn other(self) -> Role {
        match self {
            Role::Offerer => Role::Answerer,
            Role::Answerer => Role::Offerer,
        }
    }
}

/// The DTLS fingerprint of an SDP (`a=fingerprint:` line), normalized: lowercase hash name,
/// uppercase hex. `None` if there is none or several different ones.
pub fn fingerprint(sdp: &str) -> Option<String> {
    let mut found: Option<String> = None;
    for line in sdp.lines() {
        let Some(rest) = line.trim().strip_prefix("a=fingerprint:") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(hash), Some(value)) = (parts.next(), parts.next()) else {
            return None;
        };
        let fp = format!(
            "{} {}",
            hash.to_ascii_lowercase(),
            value.to_ascii_uppercase()
        );
        match &found {
            Some(f) if *f != fp => return None,
            _ => found = Some(fp),
        }
    }
    found
}

/// `None` only if HMAC refused the key, which it does not for any length.
fn mac(auth: &[u8; 32], role: Role, sender_fp: &str, receiver_fp: &str) -> Option<HmacSha256> {
    let mut m = HmacSha256::new_from_slice(auth).ok()?;
    m.update(b"meshboard/peer-proof/v1");
    for part in [role.tag(), sender_fp.as_bytes(), receiver_fp.as_bytes()] {
        m.update(&(part.len() as u32).to_be_bytes());
        m.update(part);
    }
    Some(m)
}

/// The message `role` sends: it binds its own fingerprint and the one it sees for the peer.
pub fn make(auth: &[u8; 32], role: Role, own_fp: &str, peer_fp: &str) -> Vec<u8> {
    let mut out = PROOF_PREFIX.to_vec();
    if let Some(m) = mac(auth, role, own_fp, peer_fp) {
        out.extend_from_slice(&m.finalize().into_bytes());
    }
    out
}

/// Check a proof from a peer playing `sender_role`, using the fingerprints as *we* see them:
/// the peer's (our remote description) and ours (our local description). Constant time.
pub fn verify(
    auth: &[u8; 32],
    sender_role: Role,
    sender_fp: &str,
    receiver_fp: &str,
    message: &[u8],
) -> bool {
    let Some(tag) = message.strip_prefix(PROOF_PREFIX) else {
        return false;
    };
    tag.len() == 32
        && mac(auth, sender_role, sender_fp, receiver_fp)
            .is_some_and(|m| m.verify_slice(tag).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [9; 32];
    const A: &str = "sha-256 AA:BB";
    const B: &str = "sha-256 CC:DD";

    #[test]
    fn honest_peers_verify_each_other() {
        let from_a = make(&KEY, Role::Offerer, A, B);
        let from_b = make(&KEY, Role::Answerer, B, A);
        // B checks A's proof with what B sees: remote = A, local = B
        assert!(verify(&KEY, Role::Offerer, A, B, &from_a));
        assert!(verify(&KEY, Role::Answerer, B, A, &from_b));
        assert_eq!(from_a.len(), PROOF_LEN);
    }

    #[test]
    fn swapped_fingerprints_wrong_key_role_or_truncation_fail() {
        let m1 = "sha-256 11:11";
        // A man in the middle gave A the fingerprint m1 for B: A's proof binds m1, B expects B.
        let from_a = make(&KEY, Role::Offerer, A, m1);
        assert!(!verify(&KEY, Role::Offerer, A, B, &from_a));
        let good = make(&KEY, Role::Offerer, A, B);
        assert!(
            !verify(&[1; 32], Role::Offerer, A, B, &good),
            "key is bound"
        );
        assert!(!verify(&KEY, Role::Answerer, A, B, &good), "role is bound");
        assert!(!verify(&KEY, Role::Offerer, A, B, &good[..good.len() - 1]));
        assert!(!verify(&KEY, Role::Offerer, A, B, b"MBAUTH1"));
        assert!(!verify(
            &KEY,
            Role::Offerer,
            A,
            B,
            b"garbage garbage garbage garbage garbage!"
        ));
    }

    #[test]
    fn fingerprint_lines_are_found_and_normalized() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=fingerprint:SHA-256 ab:cd:ef\r\nm=application 9\r\na=fingerprint:sha-256 AB:CD:EF\r\n";
        assert_eq!(fingerprint(sdp).as_deref(), Some("sha-256 AB:CD:EF"));
        assert_eq!(fingerprint("v=0\r\n"), None);
        assert_eq!(
            fingerprint("a=fingerprint:sha-256 AA\r\na=fingerprint:sha-256 BB\r\n"),
            None,
            "conflicting"
        );
        assert_eq!(fingerprint("a=fingerprint:sha-256\r\n"), None);
    }
}
