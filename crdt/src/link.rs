//! A board's share link: a random secret in the URL fragment (never sent to a server) and the
//! room id derived from it, which is all the signaling server ever sees.

use crate::error::LinkError;
use crate::secure::BoardKeys;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Bytes of randomness in a board secret.
pub const SECRET_LEN: usize = 16;
/// Characters of a secret as it appears in a link (base64url, no padding).
pub const SECRET_TEXT_LEN: usize = 22;

/// The secret that names a board and admits whoever holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct BoardSecret([u8; SECRET_LEN]);

impl std::fmt::Debug for BoardSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret itself.
        write!(f, "BoardSecret(room {})", self.room_id())
    }
}

impl BoardSecret {
    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> Self {
        BoardSecret(bytes)
    }

    /// Parse the fragment of a board link (with or without its leading `#`).
    pub fn parse(fragment: &str) -> Result<Self, LinkError> {
        let text = fragment.strip_prefix('#').unwrap_or(fragment).trim();
        if text.is_empty() {
            return Err(LinkError::Missing);
        }
        if text.len() != SECRET_TEXT_LEN {
            return Err(LinkError::WrongLength(text.chars().count()));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| LinkError::BadEncoding)?;
        let bytes: [u8; SECRET_LEN] = bytes.try_into().map_err(|_| LinkError::BadEncoding)?;
        Ok(BoardSecret(bytes))
    }

    /// The text that goes after `#` in the link.
    pub fn to_fragment(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The keys derived from the secret (HKDF): room id, signaling seal key, peer auth key.
    pub fn keys(&self) -> BoardKeys {
        BoardKeys::derive(&self.0)
    }

    /// The room id the signaling server sees: derived one way from the secret (hex, 32 chars).
    pub fn room_id(&self) -> String {
        self.keys().room_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_fragment() {
        let s = BoardSecret::from_bytes([7; 16]);
        let f = s.to_fragment();
        assert_eq!(f.len(), SECRET_TEXT_LEN);
        assert_eq!(BoardSecret::parse(&f).unwrap(), s);
        assert_eq!(BoardSecret::parse(&format!("#{f}")).unwrap(), s);
    }

    #[test]
    fn room_id_is_stable_and_hides_the_secret() {
        let s = BoardSecret::from_bytes([7; 16]);
        let room = s.room_id();
        assert_eq!(room.len(), 32);
        assert_eq!(room, BoardSecret::from_bytes([7; 16]).room_id());
        assert_ne!(room, BoardSecret::from_bytes([8; 16]).room_id());
        assert!(!room.contains(&s.to_fragment()));
        assert!(!format!("{s:?}").contains(&s.to_fragment()));
    }

    #[test]
    fn bad_fragments_are_clear_errors() {
        assert_eq!(BoardSecret::parse(""), Err(LinkError::Missing));
        assert_eq!(BoardSecret::parse("#"), Err(LinkError::Missing));
        assert_eq!(BoardSecret::parse("abc"), Err(LinkError::WrongLength(3)));
        let truncated = &BoardSecret::from_bytes([1; 16]).to_fragment()[..20];
        assert_eq!(
            BoardSecret::parse(truncated),
            Err(LinkError::WrongLength(20))
        );
        assert_eq!(
            BoardSecret::parse("!!!!!!!!!!!!!!!!!!!!!!"),
            Err(LinkError::BadEncoding)
        );
        // 22 chars whose last one carries bits beyond 128: not canonical
        assert!(BoardSecret::parse("AAAAAAAAAAAAAAAAAAAAAB").is_err());
    }
}
