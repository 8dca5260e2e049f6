//! TESTING AID: a relay that misbehaves on purpose, so that end-to-end tests can show that the
//! browsers refuse what a hostile server does (see docs/security.md). Never for production; the
//! flag is hidden from `--help`.

/// What the hostile relay does to relayed `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Hostile {
    /// Alter every relayed payload (as a relay rewriting DTLS fingerprints in SDP would).
    Tamper,
    /// Relay every payload normally, then deliver it again a moment later (a replay).
    Replay,
    /// Lose the first payload relayed (an offer), as a server that restarts or drops a message
    /// mid-negotiation would.
    DropFirst,
}

/// Delay before a replayed payload is delivered again.
pub const REPLAY_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

/// `data` with one character in its middle changed.
pub fn tamper(data: String) -> String {
    let mut chars: Vec<char> = data.chars().collect();
    let middle = chars.len() / 2;
    if let Some(c) = chars.get_mut(middle) {
        *c = if *c == 'A' { 'B' } else { 'A' };
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampering_changes_exactly_one_character() {
        let data = "abcdefgh".to_owned();
        let t = tamper(data.clone());
        assert_eq!(t.len(), data.len());
        assert_eq!(
            t.chars().zip(data.chars()).filter(|(a, b)| a != b).count(),
            1
        );
        assert_eq!(tamper(String::new()), "");
    }
}
