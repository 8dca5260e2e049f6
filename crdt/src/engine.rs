//! The sans-IO sync engine: events in, effects out.
//!
//! One [`automerge::sync::State`] per connected peer; every connection starts from a fresh state,
//! so a reconnect is a clean restart of Automerge's sync protocol. A local change is offered to
//! every connected peer at once; a remote change is applied and passed on. A frame that does not
//! decode, or a sync message Automerge refuses, drops that peer and leaves the document intact.

use std::collections::BTreeMap;

use automerge::sync::{self, SyncDoc};

use crate::board::Board;
use crate::frame::{self, FrameKind};

/// A peer's id, as given by the transport (the signaling server's peer id).
pub type PeerId = String;

/// The most peers one board syncs with at once.
pub const MAX_PEERS: usize = 64;

#[derive(Debug)]
pub enum Event {
    /// The local board was edited through [`Engine::board_mut`].
    LocalChange,
    /// A channel to `peer` opened.
    Connected(PeerId),
    /// `peer` sent these bytes.
    Frame(PeerId, Vec<u8>),
    /// The channel to `peer` closed.
    Disconnected(PeerId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send `frame` to `peer`.
    Send { peer: PeerId, frame: Vec<u8> },
    /// The document changed: re-render.
    DocChanged,
    /// Close the connection to `peer`: it sent something unusable.
    DropPeer { peer: PeerId, reason: String },
}

pub struct Engine {
    board: Board,
    peers: BTreeMap<PeerId, sync::State>,
}

impl Engine {
    pub fn new(board: Board) -> Self {
        Engine {
            board,
            peers: BTreeMap::new(),
        }
    }

    pub fn board(&self) -> &Board {
        &self.board
    }

    /// Edit the board; follow with [`Event::LocalChange`] so the edit is committed and sent.
    pub fn board_mut(&mut self) -> &mut Board {
        &mut self.board
    }

    /// Peers with an open channel.
    pub fn peers(&self) -> impl Iterator<Item = &PeerId> {
        self.peers.keys()
    }

    /// Feed one event in at time `now_ms` (milliseconds since the Unix epoch).
    pub fn handle(&mut self, event: Event, now_ms: u64) -> Vec<Effect> {
        let mut out = Vec::new();
        match event {
            Event::LocalChange => {
                let seconds = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX);
                if self.board.commit(seconds).is_some() {
                    out.push(Effect::DocChanged);
                    self.sync_all(&mut out);
                }
            }
            Event::Connected(peer) => {
                if self.peers.len() >= MAX_PEERS && !self.peers.contains_key(&peer) {
                    out.push(Effect::DropPeer {
                        peer,
                        reason: format!("more than {MAX_PEERS} peers"),
                    });
                } else {
                    self.peers.insert(peer.clone(), sync::State::new());
                    self.sync_peer(&peer, &mut out);
                }
            }
            Event::Frame(peer, bytes) => self.receive(peer, &bytes, &mut out),
            Event::Disconnected(peer) => {
                self.peers.remove(&peer);
            }
        }
        out
    }

    fn receive(&mut self, peer: PeerId, bytes: &[u8], out: &mut Vec<Effect>) {
        let Some(state) = self.peers.get_mut(&peer) else {
            // A frame that raced a disconnect: nothing to answer.
            return;
        };
        let message = match frame::decode(bytes) {
            Ok((FrameKind::Sync, payload)) => {
                sync::Message::decode(payload).map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        let before = self.board.heads();
        let applied = message.and_then(|m| {
            self.board
                .doc_mut()
                .sync()
                .receive_sync_message(state, m)
                .map_err(|e| e.to_string())
        });
        if let Err(reason) = applied {
            self.peers.remove(&peer);
            out.push(Effect::DropPeer { peer, reason });
            return;
        }
        if self.board.heads() != before {
            out.push(Effect::DocChanged);
            self.sync_all(out);
        } else {
            self.sync_peer(&peer, out);
        }
    }

    fn sync_all(&mut self, out: &mut Vec<Effect>) {
        let peers: Vec<PeerId> = self.peers.keys().cloned().collect();
        for peer in peers {
            self.sync_peer(&peer, out);
        }
    }

    fn sync_peer(&mut self, peer: &PeerId, out: &mut Vec<Effect>) {
        let Some(state) = self.peers.get_mut(peer) else {
            return;
        };
        if let Some(message) = self.board.doc_mut().sync().generate_sync_message(state) {
            out.push(Effect::Send {
                peer: peer.clone(),
                frame: frame::encode(FrameKind::Sync, &message.encode()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::{WidgetBody, WidgetKind};
    use automerge::ActorId;
    use std::collections::VecDeque;

    /// A lossless, in-order in-memory mesh: enough to check the engine's happy path. The
    /// adversarial simulator lives with the sync-engine work.
    struct Net {
        nodes: Vec<Engine>,
        queue: VecDeque<(usize, usize, Vec<u8>)>,
        changed: Vec<usize>,
        dropped: Vec<(usize, String)>,
        sent: usize,
    }

    impl Net {
        fn new(n: usize) -> Self {
            let nodes = (0..n)
                .map(|i| Engine::new(Board::new(ActorId::from([i as u8 + 1; 16])).unwrap()))
                .collect();
            Net {
                nodes,
                queue: VecDeque::new(),
                changed: vec![0; n],
                dropped: Vec::new(),
                sent: 0,
            }
        }

        fn apply(&mut self, from: usize, effects: Vec<Effect>) {
            for e in effects {
                match e {
                    Effect::Send { peer, frame } => {
                        self.sent += 1;
                        self.queue.push_back((from, peer.parse().unwrap(), frame));
                    }
                    Effect::DocChanged => self.changed[from] += 1,
                    Effect::DropPeer { peer, reason } => {
                        self.dropped.push((peer.parse().unwrap(), reason))
                    }
                }
            }
        }

        fn event(&mut self, node: usize, event: Event) {
            let effects = self.nodes[node].handle(event, 1_700_000_000_000);
            self.apply(node, effects);
        }

        fn connect(&mut self, a: usize, b: usize) {
            self.event(a, Event::Connected(b.to_string()));
            self.event(b, Event::Connected(a.to_string()));
        }

        fn run(&mut self) {
            let mut steps = 0;
            while let Some((from, to, frame)) = self.queue.pop_front() {
                steps += 1;
                assert!(steps < 10_000, "sync did not go quiet");
                self.event(to, Event::Frame(from.to_string(), frame));
            }
        }

        fn edit(&mut self, node: usize, f: impl FnOnce(&mut Board)) {
            f(self.nodes[node].board_mut());
            self.event(node, Event::LocalChange);
        }
    }

    #[test]
    fn two_peers_converge_and_go_quiet() {
        let mut net = Net::new(2);
        net.edit(0, |b| {
            let n = b.add_widget(WidgetKind::Note).unwrap();
            b.set_note_text(&n, "hi").unwrap();
        });
        net.connect(0, 1);
        net.run();
        assert_eq!(net.nodes[0].board().view(), net.nodes[1].board().view());
        assert_eq!(net.nodes[1].board().view().widgets.len(), 1);
        // once in sync, one local edit costs a bounded number of messages
        let before = net.sent;
        net.edit(1, |b| b.set_title("T").unwrap());
        net.run();
        assert_eq!(net.nodes[0].board().title(), "T");
        assert!(
            net.sent - before <= 4,
            "{} messages for one edit",
            net.sent - before
        );
    }

    #[test]
    fn a_late_joiner_receives_everything_through_a_mesh() {
        let mut net = Net::new(3);
        net.connect(0, 1);
        net.edit(0, |b| {
            let c = b.add_widget(WidgetKind::Counter).unwrap();
            b.increment_counter(&c, 5).unwrap();
        });
        net.edit(1, |b| b.set_title("board").unwrap());
        net.run();
        net.connect(2, 0);
        net.connect(2, 1);
        net.run();
        let view = net.nodes[2].board().view();
        assert_eq!(view.title, "board");
        assert_eq!(view.widgets[0].body, WidgetBody::Counter { value: 5 });
        assert!(net.changed[2] > 0);
    }

    #[test]
    fn garbage_drops_the_peer_and_keeps_the_document() {
        let mut net = Net::new(2);
        net.edit(0, |b| b.set_title("keep me").unwrap());
        net.connect(0, 1);
        net.run();
        for garbage in [
            vec![],
            vec![1],
            vec![9, 1, 2],
            vec![1, 1, 0x42, 0xff, 0xff],
            vec![1, 99],
        ] {
            net.nodes[0].handle(Event::Connected("1".into()), 0);
            let effects = net.nodes[0].handle(Event::Frame("1".into(), garbage.clone()), 0);
            assert!(
                matches!(effects.as_slice(), [Effect::DropPeer { .. }]),
                "{garbage:?} gave {effects:?}"
            );
            assert_eq!(net.nodes[0].peers().count(), 0);
            assert_eq!(net.nodes[0].board().title(), "keep me");
        }
    }

    #[test]
    fn frames_from_unknown_peers_are_ignored() {
        let mut net = Net::new(1);
        assert!(net.nodes[0]
            .handle(Event::Frame("ghost".into(), vec![1, 1]), 0)
            .is_empty());
    }
}
