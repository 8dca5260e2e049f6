//! What two browsers tell each other through the signaling relay (offers, answers, ICE
//! candidates). The server sees this only as an opaque string.

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

/// Why a peer's (unsealed) signal was not taken.
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

    pub fn decode(data: &str) -> Result<Self, SignalError> {
        if data.len() > MAX_SIGNAL_BYTES {
            return Err(SignalError::TooLarge(data.len()));
        }
        Ok(serde_json::from_str(data)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects_garbage() {
        let s = PeerSignal::Candidate(Candidate {
            candidate: "c".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        });
        assert_eq!(PeerSignal::decode(&s.encode()).unwrap(), s);
        assert!(PeerSignal::decode("{").is_err());
        assert!(PeerSignal::decode(&"x".repeat(MAX_SIGNAL_BYTES + 1)).is_err());
    }
}
