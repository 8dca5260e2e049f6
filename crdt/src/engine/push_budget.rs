//! How often the engine pushes the whole board to peers that say they have nothing. A Hello of
//! about 50 bytes that claims an empty board costs the receiver a push of the whole document, so
//! without a limit one peer could make another send gigabytes by repeating it. Honest peers ask
//! once per cold join; a restart after loss names heads they have, and gets only what they lack.
//!
//! Both limits are GCRA (a token bucket kept as one timestamp): per peer id, which outlives the
//! peer's connections, and for all peers together.

use std::collections::HashMap;

use super::PeerId;

/// One peer may be sent the whole board this many times in a row…
const PEER_BURST: u64 = 3;
/// …and once more per this interval after that.
const PEER_INTERVAL_MS: u64 = 20_000;
/// All peers together (a room of cold joiners at once is fine).
const ALL_BURST: u64 = 64;
const ALL_INTERVAL_MS: u64 = 1_000;
/// Peer ids remembered; past this, ids whose budget is full again are forgotten first.
const MAX_REMEMBERED: usize = 1024;

#[derive(Debug, Default)]
pub struct PushBudget {
    /// Per peer: the GCRA's theoretical arrival time.
    peers: HashMap<PeerId, u64>,
    all: u64,
}

/// Take one from a GCRA with this `tat`: `None` if it is spent.
fn take(tat: u64, now: u64, burst: u64, interval: u64) -> Option<u64> {
    let tolerance = burst.saturating_sub(1).saturating_mul(interval);
    (now.saturating_add(tolerance) >= tat).then(|| tat.max(now).saturating_add(interval))
}

impl PushBudget {
    /// May `peer` be sent the whole board at `now`? Counts it if so.
    pub fn take(&mut self, peer: &PeerId, now: u64) -> bool {
        if !self.peers.contains_key(peer) && self.peers.len() >= MAX_REMEMBERED {
            // a budget that has refilled is the same as none
            self.peers.retain(|_, tat| *tat > now);
            if self.peers.len() >= MAX_REMEMBERED {
                return false;
            }
        }
        let mine = self.peers.get(peer).copied().unwrap_or(0);
        let (Some(mine), Some(all)) = (
            take(mine, now, PEER_BURST, PEER_INTERVAL_MS),
            take(self.all, now, ALL_BURST, ALL_INTERVAL_MS),
        ) else {
            return false;
        };
        self.peers.insert(peer.clone(), mine);
        self.all = all;
        true
    }

    /// When [`PushBudget::take`] will next say yes for `peer` (`now` at the earliest).
    pub fn next_at(&self, peer: &PeerId, now: u64) -> u64 {
        let at = |tat: u64, burst: u64, interval: u64| {
            tat.saturating_sub(burst.saturating_sub(1).saturating_mul(interval))
        };
        let mine = self.peers.get(peer).copied().unwrap_or(0);
        at(mine, PEER_BURST, PEER_INTERVAL_MS)
            .max(at(self.all, ALL_BURST, ALL_INTERVAL_MS))
            .max(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn a_peer_gets_a_burst_then_one_per_interval() {
        let mut b = PushBudget::default();
        let p: PeerId = "p".into();
        let granted = (0..100).filter(|_| b.take(&p, T0)).count();
        assert_eq!(granted as u64, PEER_BURST);
        assert_eq!(b.next_at(&p, T0), T0 + PEER_INTERVAL_MS);
        assert!(!b.take(&p, T0 + PEER_INTERVAL_MS - 1));
        assert!(b.take(&p, T0 + PEER_INTERVAL_MS));
        assert!(!b.take(&p, T0 + PEER_INTERVAL_MS));
        assert!(b.take(&"q".into(), T0), "another peer has its own budget");
    }

    #[test]
    fn all_peers_together_are_bounded() {
        let mut b = PushBudget::default();
        let granted = (0..1000)
            .filter(|i| b.take(&format!("peer{i}"), T0))
            .count();
        assert_eq!(granted as u64, ALL_BURST);
        assert!(b.take(&"late".into(), T0 + ALL_INTERVAL_MS));
    }

    #[test]
    fn remembered_ids_are_bounded() {
        let mut b = PushBudget::default();
        for i in 0..5000u64 {
            b.take(&format!("peer{i}"), T0 + i * ALL_INTERVAL_MS);
        }
        assert!(b.peers.len() <= MAX_REMEMBERED);
    }
}
