//! What two peers (browsers, the native peer) tell each other through the signaling relay,
//! sealed: offers, answers, ICE candidates. The server sees this only as an opaque string. The
//! test below pins the wire shape: every executor speaks it.

use serde::{Deserialize, Serialize};

/// Longest signal accepted from a peer (SDP with many candidates stays far below).
pub const MAX_SIGNAL_BYTES: usize = 32 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub candidate: String,
    pub sdp_mid: Option<String>,
    pub sdp_m_line_index: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum PeerSignal {
    Offer { sdp: String },
    Answer { sdp: String },
    Candidate(Candidate),
}

/// Why a peer's (opened) signal was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("a signal of {0} bytes is too large")]
    TooLarge(usize),
    #[error("a signal that is not UTF-8")]
    NotText,
    #[error("a signal that does not decode: {0}")]
    Json(#[from] serde_json::Error),
}

impl PeerSignal {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(data: &[u8]) -> Result<Self, SignalError> {
        if data.len() > MAX_SIGNAL_BYTES {
            return Err(SignalError::TooLarge(data.len()));
        }
        let text = std::str::from_utf8(data).map_err(|_| SignalError::NotText)?;
        Ok(serde_json::from_str(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_is_the_apps() {
        let s = PeerSignal::Candidate(Candidate {
            candidate: "candidate:1 1 udp 1 192.0.2.2 9 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        });
        assert_eq!(
            s.encode(),
            r#"{"t":"candidate","candidate":"candidate:1 1 udp 1 192.0.2.2 9 typ host","sdp_mid":"0","sdp_m_line_index":0}"#
        );
        assert_eq!(
            PeerSignal::Offer { sdp: "v=0".into() }.encode(),
            r#"{"t":"offer","sdp":"v=0"}"#
        );
        assert_eq!(PeerSignal::decode(s.encode().as_bytes()).unwrap(), s);
        assert!(PeerSignal::decode(b"{").is_err());
        assert!(PeerSignal::decode(&[0xff, 0xfe]).is_err());
        assert!(PeerSignal::decode("x".repeat(MAX_SIGNAL_BYTES + 1).as_bytes()).is_err());
    }
}
