//! A read-only look at where the engine stands with each peer, for a UI that shows the mesh.

use automerge::transaction::Transactable as _;

use super::{Engine, PeerId, Phase};

/// Whether the board is in sync with one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerSync {
    /// The peer's last known heads are ours, and it has acknowledged every frame we sent it:
    /// as far as this side can tell, both hold the same board.
    InSync,
    /// A session is being set up, changes are on their way (either way), or we have not heard
    /// that the peer has what we have.
    CatchingUp,
}

impl Engine {
    /// Where the board stands with `peer` (`None` if it has no open channel here). Sends nothing
    /// and changes nothing: with local edits not yet committed it says [`PeerSync::CatchingUp`]
    /// without closing them (reading the heads would).
    pub fn peer_sync(&mut self, peer: &PeerId) -> Option<PeerSync> {
        let pending = self.board.doc().pending_ops() > 0;
        let p = self.peers.get(peer)?;
        let settled = p.phase == Phase::Ready && p.tx_acked == p.tx_next && p.owed_push.is_none();
        if pending || !settled {
            return Some(PeerSync::CatchingUp);
        }
        let theirs = p.sync.their_heads.clone();
        let ours = self.board.heads();
        Some(if theirs.as_ref() == Some(&ours) {
            PeerSync::InSync
        } else {
            PeerSync::CatchingUp
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::Board;
    use crate::engine::{Effect, Event};
    use crate::WidgetKind;
    use automerge::ActorId;

    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const T0: u64 = 1_700_000_000_000;

    fn engine(i: u8) -> Engine {
        Engine::new(Board::new(ActorId::from([i; 16])).unwrap())
    }

    /// Two engines, "a" and "b", and the frames between them; delivered only when asked.
    struct Pair {
        a: Engine,
        b: Engine,
        to_a: Vec<Vec<u8>>,
        to_b: Vec<Vec<u8>>,
    }

    impl Pair {
        fn new() -> Self {
            let mut pair = Pair {
                a: engine(1),
                b: engine(2),
                to_a: Vec::new(),
                to_b: Vec::new(),
            };
            let effects = pair.a.handle(Event::Connected("b".into()), T0);
            pair.carry(true, effects);
            let effects = pair.b.handle(Event::Connected("a".into()), T0);
            pair.carry(false, effects);
            pair
        }

        fn carry(&mut self, from_a: bool, effects: Vec<Effect>) {
            for e in effects {
                if let Effect::Send { frame, .. } = e {
                    if from_a {
                        self.to_b.push(frame);
                    } else {
                        self.to_a.push(frame);
                    }
                }
            }
        }

        /// Deliver the frames for `a` (if `to_a`) or for `b` that are queued now.
        fn deliver(&mut self, to_a: bool) {
            let frames = std::mem::take(if to_a { &mut self.to_a } else { &mut self.to_b });
            for frame in frames {
                let effects = if to_a {
                    self.a.handle(Event::Frame("b".into(), frame), T0)
                } else {
                    self.b.handle(Event::Frame("a".into(), frame), T0)
                };
                self.carry(to_a, effects);
            }
        }

        fn run(&mut self) {
            for _ in 0..100 {
                if self.to_a.is_empty() && self.to_b.is_empty() {
                    return;
                }
                self.deliver(true);
                self.deliver(false);
            }
            panic!("the pair did not go quiet");
        }

        fn status(&mut self) -> (Option<PeerSync>, Option<PeerSync>) {
            (self.a.peer_sync(&"b".into()), self.b.peer_sync(&"a".into()))
        }
    }

    #[test]
    fn a_peer_is_in_sync_only_once_it_acknowledged_our_heads() {
        let mut pair = Pair::new();
        use PeerSync::*;
        assert_eq!(
            pair.status(),
            (Some(CatchingUp), Some(CatchingUp)),
            "hellos in flight"
        );
        pair.run();
        assert_eq!(pair.status(), (Some(InSync), Some(InSync)));
        assert_eq!(pair.a.peer_sync(&"nobody".into()), None);

        // an edit not yet committed: catching up, and asking does not commit it
        pair.a.board_mut().add_widget(WidgetKind::Counter).unwrap();
        let pending = pair.a.board().doc().pending_ops();
        assert!(pending > 0);
        assert_eq!(pair.a.peer_sync(&"b".into()), Some(CatchingUp));
        assert_eq!(pair.a.board().doc().pending_ops(), pending, "still pending");

        // committed and sent, not yet acknowledged: a is catching up with b
        let effects = pair.a.handle(Event::LocalChange, T0);
        pair.carry(true, effects);
        assert_eq!(pair.a.peer_sync(&"b".into()), Some(CatchingUp));
        // b applied it; its ack is on the way back
        pair.deliver(false);
        assert_eq!(pair.b.peer_sync(&"a".into()), Some(InSync));
        assert_eq!(pair.a.peer_sync(&"b".into()), Some(CatchingUp));
        pair.deliver(true);
        assert_eq!(pair.status(), (Some(InSync), Some(InSync)));

        // a frame lost on the way: b never heard, a keeps saying catching up
        pair.b.board_mut().add_widget(WidgetKind::Note).unwrap();
        let effects = pair.b.handle(Event::LocalChange, T0);
        pair.carry(false, effects);
        pair.to_a.clear();
        assert_eq!(pair.status(), (Some(InSync), Some(CatchingUp)));

        pair.b.handle(Event::Disconnected("a".into()), T0);
        assert_eq!(pair.b.peer_sync(&"a".into()), None);
    }
}
