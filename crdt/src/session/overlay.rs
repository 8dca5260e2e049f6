//! Which peers of a large room link to each other: a ring ordered by hashed peer id, where each
//! peer links to the peers at a few distances along the ring in both directions (1, about
//! n^(1/k), n^(2/k), … for k distances). Every peer that knows the same members computes the
//! same links, the choice is symmetric (if a links to b, b links to a), each peer holds at most
//! `2k` links, the ring alone keeps the overlay connected, and the longer distances keep its
//! diameter small (about 4 hops for 32 peers, 7 for 100, with 6 links).
//!
//! The hash spreads the peers over the ring whatever their ids look like, so that the peers one
//! party controls do not end up side by side.

use std::collections::BTreeSet;

use crate::engine::PeerId;

/// FNV-1a, 64 bits: stable across platforms and versions (every peer must compute the same ring).
fn ring_hash(peer: &str) -> u64 {
    peer.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The ring distances for `n` members and at most `max_links` links: strictly increasing, each
/// below `n`, starting at 1.
pub fn distances(n: usize, max_links: usize) -> Vec<usize> {
    let k = (max_links / 2).max(1);
    let mut out: Vec<usize> = Vec::with_capacity(k);
    for j in 0..k {
        let ideal = (n as f64).powf(j as f64 / k as f64).round() as usize;
        let d = ideal.max(out.last().map_or(1, |d| d + 1));
        if d > n / 2 {
            break;
        }
        out.push(d);
    }
    out
}

/// The peers `me` links to in a room of `members` (which may or may not hold `me`): all of them
/// while they are at most `max_links`, else the overlay's choice (never more than `max_links`,
/// nor fewer than 2).
pub fn overlay<'a>(
    me: &PeerId,
    members: impl IntoIterator<Item = &'a PeerId>,
    max_links: usize,
) -> BTreeSet<PeerId> {
    let mut ring: Vec<(u64, &PeerId)> = members
        .into_iter()
        .filter(|p| *p != me)
        .map(|p| (ring_hash(p), p))
        .collect();
    if ring.len() <= max_links {
        return ring.into_iter().map(|(_, p)| p.clone()).collect();
    }
    ring.push((ring_hash(me), me));
    ring.sort_unstable();
    ring.dedup();
    let n = ring.len();
    let Some(at) = ring.iter().position(|(_, p)| *p == me) else {
        return BTreeSet::new();
    };
    let mut out = BTreeSet::new();
    for d in distances(n, max_links) {
        out.insert(ring[(at + d) % n].1.clone());
        out.insert(ring[(at + n - d) % n].1.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, VecDeque};

    use super::*;

    fn room(n: usize) -> Vec<PeerId> {
        (0..n).map(|i| format!("peer-{i:04x}")).collect()
    }

    /// Hops from `from` to every member, over the overlay's links.
    fn hops(members: &[PeerId], from: &PeerId, max_links: usize) -> BTreeMap<PeerId, usize> {
        let mut seen = BTreeMap::from([(from.clone(), 0)]);
        let mut queue = VecDeque::from([from.clone()]);
        while let Some(p) = queue.pop_front() {
            let h = seen[&p];
            for q in overlay(&p, members, max_links) {
                seen.entry(q.clone()).or_insert_with(|| {
                    queue.push_back(q);
                    h + 1
                });
            }
        }
        seen
    }

    #[test]
    fn small_rooms_are_a_full_mesh() {
        let members = room(7);
        for me in &members {
            assert_eq!(overlay(me, &members, 6).len(), 6);
        }
    }

    #[test]
    fn links_are_symmetric_bounded_connected_and_few_hops_apart() {
        for (n, worst) in [(8, 2), (9, 2), (16, 3), (32, 4), (100, 8), (256, 12)] {
            let members = room(n);
            for me in &members {
                let mine = overlay(me, &members, 6);
                assert!(mine.len() <= 6 && mine.len() >= 2, "{n}: {me} has {mine:?}");
                assert!(!mine.contains(me));
                for other in &mine {
                    assert!(
                        overlay(other, &members, 6).contains(me),
                        "{n}: {me} links {other} but not back"
                    );
                }
            }
            let diameter = members
                .iter()
                .map(|m| {
                    let h = hops(&members, m, 6);
                    assert_eq!(h.len(), n, "{n}: all reachable from {m}");
                    h.into_values().max().unwrap_or(0)
                })
                .max()
                .unwrap_or(0);
            assert!(diameter <= worst, "{n} peers: diameter {diameter}");
        }
    }

    #[test]
    fn distances_grow_and_stay_below_half_the_ring() {
        assert_eq!(distances(32, 6), vec![1, 3, 10]);
        assert_eq!(distances(100, 6), vec![1, 5, 22]);
        assert_eq!(distances(8, 6), vec![1, 2, 4]);
        assert_eq!(distances(3, 6), vec![1]);
        assert_eq!(distances(100, 2), vec![1]);
    }
}
