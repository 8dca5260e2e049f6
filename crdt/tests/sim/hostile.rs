//! A hostile peer. It speaks just enough of the protocol to get its frames past the sequence
//! layer (its own epochs and sequence numbers, acknowledgements of what it received, answers to
//! Hellos) and then sends: random bytes, truncated frames, well-sequenced frames whose payload is
//! garbage (sync messages, changes, documents, Hellos, chunks), replays of frames it saw or sent,
//! Hellos with made-up heads, and real changes of its own (which honest peers accept and must
//! spread like any other).

use std::collections::BTreeMap;

use crdt::automerge::{ActorId, ChangeHash};
use crdt::frame::{self, Changes, ChunkInfo, DocPayload, FrameKind, Header, Hello};
use crdt::Board;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::edits::{random_edit, Seen};

#[derive(Default)]
struct Session {
    tx_epoch: u64,
    tx_next: u64,
    rx_epoch: u64,
    rx_next: u64,
}

pub struct Hostile {
    sessions: BTreeMap<usize, Session>,
    /// Frames honest peers sent it, and frames it sent: material for replays.
    observed: Vec<Vec<u8>>,
    last_epoch: u64,
    board: Board,
    seen: Seen,
}

fn bytes(rng: &mut ChaCha8Rng, max: usize) -> Vec<u8> {
    let mut b = vec![0u8; rng.random_range(0..=max)];
    rng.fill(&mut b[..]);
    b
}

fn heads(rng: &mut ChaCha8Rng) -> Vec<ChangeHash> {
    (0..rng.random_range(0..3))
        .map(|_| ChangeHash(rng.random()))
        .collect()
}

impl Hostile {
    pub fn new(actor: ActorId) -> Self {
        Hostile {
            sessions: BTreeMap::new(),
            observed: Vec::new(),
            last_epoch: 0,
            board: Board::new(actor).expect("new board"),
            seen: Seen::default(),
        }
    }

    pub fn is_connected(&self, peer: usize) -> bool {
        self.sessions.contains_key(&peer)
    }

    fn observe(&mut self, frame: &[u8]) {
        if self.observed.len() < 64 {
            self.observed.push(frame.to_vec());
        }
    }

    /// A data frame in the current session with `peer`, taking the next sequence number.
    fn data(
        &mut self,
        peer: usize,
        kind: FrameKind,
        chunk: Option<ChunkInfo>,
        payload: &[u8],
    ) -> Vec<u8> {
        let s = self.sessions.entry(peer).or_default();
        let header = Header {
            kind,
            epoch: s.tx_epoch.max(1),
            seq: s.tx_next,
            ack_epoch: s.rx_epoch,
            ack_count: s.rx_next,
            chunk,
        };
        s.tx_next += 1;
        let f = frame::encode(&header, payload);
        self.observe(&f);
        f
    }

    pub fn connected(&mut self, peer: usize, now: u64) -> Vec<Vec<u8>> {
        self.last_epoch = now.max(self.last_epoch + 1);
        self.sessions.insert(
            peer,
            Session {
                tx_epoch: self.last_epoch,
                ..Session::default()
            },
        );
        let hello = Hello {
            reply_to: 0,
            heads: self.board.heads(),
        };
        vec![self.data(peer, FrameKind::Hello, None, &hello.encode())]
    }

    pub fn disconnected(&mut self, peer: usize) {
        self.sessions.remove(&peer);
    }

    /// Track what arrives (for acks) and answer Hellos, so that its later frames are accepted.
    pub fn receive(&mut self, peer: usize, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.observe(bytes);
        let Ok(f) = frame::decode(bytes) else {
            return Vec::new();
        };
        let h = f.header;
        let Some(s) = self.sessions.get_mut(&peer) else {
            return Vec::new();
        };
        if h.epoch > s.rx_epoch {
            s.rx_epoch = h.epoch;
            s.rx_next = 0;
        }
        if h.epoch == s.rx_epoch && h.kind != FrameKind::Ack {
            s.rx_next = s.rx_next.max(h.seq + 1);
        }
        match (h.kind, Hello::decode(f.payload)) {
            (FrameKind::Hello, Ok(hello)) if hello.reply_to == 0 => {
                let answer = Hello {
                    reply_to: h.epoch,
                    heads: self.board.heads(),
                };
                vec![self.data(peer, FrameKind::Hello, None, &answer.encode())]
            }
            _ => Vec::new(),
        }
    }

    /// One attack on `peer`: the frames to send it.
    pub fn attack(&mut self, peer: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<u8>> {
        match rng.random_range(0..8) {
            0 => {
                // random bytes, sometimes with a plausible first byte or two
                let mut b = bytes(rng, 120);
                if rng.random_bool(0.5) && b.len() >= 2 {
                    b[0] = frame::WIRE_VERSION;
                    b[1] = rng.random_range(0..8);
                }
                vec![b]
            }
            1 => {
                // a truncated frame: its own next one, or one it saw
                let mut f = match self.observed.len() {
                    n if n > 0 && rng.random_bool(0.5) => {
                        self.observed[rng.random_range(0..n)].clone()
                    }
                    _ => {
                        let payload = bytes(rng, 60);
                        self.data(peer, FrameKind::Sync, None, &payload)
                    }
                };
                f.truncate(rng.random_range(0..f.len().max(1)));
                vec![f]
            }
            2 => {
                // in sequence, garbage inside
                let (kind, payload) = match rng.random_range(0..6) {
                    0 => (FrameKind::Sync, bytes(rng, 80)),
                    1 => {
                        // looks like a sync message (type byte 0x42) up to the garbage
                        let mut p = vec![0x42];
                        p.extend(bytes(rng, 80));
                        (FrameKind::Sync, p)
                    }
                    2 => {
                        let junk = bytes(rng, 80);
                        let h = heads(rng);
                        (FrameKind::Changes, Changes::encode(&h, [&junk[..]]))
                    }
                    3 => {
                        let junk = bytes(rng, 80);
                        let h = heads(rng);
                        (FrameKind::Doc, DocPayload::encode(&h, &junk))
                    }
                    4 => (FrameKind::Hello, bytes(rng, 40)),
                    _ => (FrameKind::Behind, bytes(rng, 8)),
                };
                vec![self.data(peer, kind, None, &payload)]
            }
            3 => {
                // chunks that do not add up
                let count = rng.random_range(2..5);
                let chunk = ChunkInfo {
                    message: rng.random_range(0..3),
                    index: rng.random_range(0..count),
                    count,
                    total: rng.random_range(1..1 << 20),
                };
                let payload = bytes(rng, 50);
                let mut payload = payload;
                payload.push(1);
                vec![self.data(peer, FrameKind::Sync, Some(chunk), &payload)]
            }
            4 if !self.observed.is_empty() => {
                // replays
                let n = rng.random_range(1..=3);
                (0..n)
                    .map(|_| self.observed[rng.random_range(0..self.observed.len())].clone())
                    .collect()
            }
            5 => {
                // a restart claiming heads nobody has
                let hello = Hello {
                    reply_to: 0,
                    heads: heads(rng),
                };
                self.last_epoch += 1;
                let s = self.sessions.entry(peer).or_default();
                s.tx_epoch = self.last_epoch;
                s.tx_next = 0;
                vec![self.data(peer, FrameKind::Hello, None, &hello.encode())]
            }
            _ => {
                // real edits of its own, pushed as changes
                random_edit(&mut self.board, rng, &mut self.seen);
                self.board.commit(0);
                let heads = self.board.heads();
                let changes = self.board.doc_mut().get_changes(&[]);
                let payload = Changes::encode(&heads, changes.iter().map(|c| c.raw_bytes()));
                vec![self.data(peer, FrameKind::Changes, None, &payload)]
            }
        }
    }
}
