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

impl PeerSignal {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(data: &str) -> Result<Self, String> {
        if data.len() > MAX_SIGNAL_BYTES {
            return Err(format!("signal of {} bytes is too large", data.len()));
        }
        serde_json::from_str(data).map_err(|e| e.to_string())
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
