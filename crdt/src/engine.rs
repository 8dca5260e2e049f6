//! The sans-IO sync engine: events in, effects out.
//!
//! # Layers, per peer
//!
//! * **Frames and sequence numbers** ([`crate::frame`]). Each side numbers its data frames within
//!   a *connection epoch* it picks itself (from `now_ms` and a counter, strictly increasing within
//!   one engine). Every frame also acknowledges how many of the peer's data frames arrived. A gap,
//!   a duplicate, data from a new epoch that does not start with a Hello, or frames that stay
//!   unacknowledged past a timeout all mean the link broke Automerge's assumption of a reliable
//!   in-order stream: that side *restarts* the session (below). Frames of an older epoch are
//!   ignored.
//! * **Chunks** ([`crate::chunk`]): messages above [`Config::max_frame`] are split; reassembly is
//!   bounded.
//! * **Sessions.** A restart picks a new epoch, throws the peer's [`sync::State`] away and sends
//!   `Hello { reply_to: 0, heads }`; until the peer answers, everything else it sends is ignored
//!   (it was produced from a state that is now gone). The peer, on a Hello that starts a new epoch,
//!   throws its state away too and answers `Hello { reply_to: <that epoch>, heads }` within its own
//!   epoch. Two restarts that cross count as answering each other, so restarts never ping-pong.
//!   Once both heads are known each side decides: equal heads — nothing to do; the peer's heads
//!   all known here — push what it lacks (a compact `save()` if it has nothing, else the changes);
//!   otherwise say [`FrameKind::Behind`] and wait for the peer's push, or, if the peer is behind
//!   too (diverged), run Automerge's sync protocol.
//! * **Steady state.** A peer known to be caught up receives new changes directly
//!   ([`FrameKind::Changes`], applied with `apply_changes` on the other side); any other peer gets
//!   Automerge sync messages, which are also the repair path whenever a push does not leave both
//!   sides with the same heads. The [`sync::State`] is seeded so that it agrees with what a push
//!   established, which is how sync goes quiet after a push.
//! * **Pacing.** Local edits are sent at once while the sender stays under a rate of one send per
//!   [`Config::send_interval_ms`] with bursts of [`Config::send_burst`] (a token bucket; any
//!   person typing stays under it). Past that, edits are held and sent together as soon as the
//!   rate allows ([`Effect::WakeAt`] / [`Event::Tick`]), so a burst of programmatic edits costs a
//!   bounded number of frames. [`Effect::DocChanged`] is never delayed.
//!
//! Anything a peer sends that does not decode, or that Automerge refuses, drops that peer and
//! leaves the document intact.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use automerge::budget::Budget;
use automerge::sync::{self, BloomFilter, Have, SyncDoc};
use automerge::{Change, ChangeHash};

use crate::board::Board;
use crate::chunk::{self, Limits, Reassembler};
use crate::error::FrameError;
use crate::frame::{self, Changes, ChunkInfo, DocPayload, FrameKind, Header, Hello};
use crate::sync_guard;

mod push_budget;
use push_budget::PushBudget;
mod status;
pub use status::PeerSync;

/// A peer's id, as given by the transport (the signaling server's peer id).
pub type PeerId = String;

/// The most peers one board syncs with at once.
pub const MAX_PEERS: usize = 64;

#[derive(Debug)]
pub enum Event {
    /// The local board was edited through [`Engine::board_mut`] (or changed behind the engine's
    /// back, e.g. by loading saved bytes): commit and send. [`Effect::DocChanged`] follows only
    /// for what the engine committed; changes loaded behind its back are the caller's to show.
    LocalChange,
    /// A channel to `peer` opened (a new connection: any previous session with it is discarded).
    Connected(PeerId),
    /// `peer` sent these bytes.
    Frame(PeerId, Vec<u8>),
    /// The channel to `peer` closed.
    Disconnected(PeerId),
    /// Time passed: the glue calls this at or after the time of the last [`Effect::WakeAt`].
    Tick,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send `frame` to `peer`, after the frames sent to it before (one reliable, ordered channel
    /// per peer; at most [`Config::max_frame`] bytes each).
    Send { peer: PeerId, frame: Vec<u8> },
    /// The document changed: re-render (and persist).
    DocChanged,
    /// Close the connection to `peer`: it sent something unusable. The engine has already
    /// forgotten it.
    DropPeer { peer: PeerId, reason: String },
    /// Call `handle(Event::Tick, now)` once `now >= at_ms`. Replaces any earlier `WakeAt`: keep one
    /// timer. A Tick that comes early, late or twice is harmless; after every Tick the engine
    /// reports its next deadline again, so a spent timer never loses one.
    WakeAt { at_ms: u64 },
}

/// Tunables. The defaults suit browsers' data channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The largest frame we send; larger messages are chunked. At least 256 bytes, at most
    /// [`frame::MAX_FRAME`].
    pub max_frame: usize,
    /// The largest message a peer may send us (after reassembly).
    pub max_message: usize,
    /// How many chunked messages from one peer may be incomplete at once.
    pub max_partials: usize,
    /// Bytes of incomplete messages held for all peers together (each may hold up to
    /// `max_message`, and a board has up to 31 peers: more than a wasm32 tab can hold). Past it
    /// the peer holding the most is dropped.
    pub max_buffered_total: usize,
    /// Bytes of received changes that may wait for missing dependencies (Automerge queues them
    /// until the dependencies arrive). Past this, the queue is cleared (sync fetches those
    /// changes again once their dependencies are there) and the peer whose message passed it is
    /// dropped.
    pub max_queued: usize,
    /// Local edits are sent at once at up to one send per this interval on average…
    pub send_interval_ms: u64,
    /// …with bursts of up to this many sends; past that they are held and sent together.
    pub send_burst: u64,
    /// Data frames not acknowledged within this time restart the session (doubled after each
    /// restart without progress, up to `max_backoff_ms`).
    pub ack_timeout_ms: u64,
    pub max_backoff_ms: u64,
    /// Push changes directly to caught-up peers and whole documents to empty ones. Off: only
    /// Automerge's sync protocol carries changes.
    pub direct: bool,
    /// What decoding one message may inflate and decode (bytes of compressed chunks and
    /// columns, ops in all and per change). Past it the message is refused and its peer dropped.
    pub decode: Budget,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame: 16 * 1024,
            max_message: 64 * 1024 * 1024,
            max_partials: 4,
            max_buffered_total: 96 * 1024 * 1024,
            max_queued: 32 * 1024 * 1024,
            send_interval_ms: 4,
            send_burst: 16,
            ack_timeout_ms: 5_000,
            max_backoff_ms: 60_000,
            direct: true,
            decode: Budget::DEFAULT,
        }
    }
}

impl Config {
    fn limits(&self) -> Limits {
        Limits {
            max_message: self.max_message,
            max_partials: self.max_partials.max(1),
        }
    }

    fn frame_limit(&self) -> usize {
        self.max_frame.clamp(256, frame::MAX_FRAME)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// We sent a Hello that starts our epoch; everything but the peer's Hello is ignored.
    AwaitHello,
    /// We said Behind and wait for the peer's push (or its Behind, then we sync).
    AwaitPush,
    /// Syncing: pushes to a caught-up peer, sync messages otherwise.
    Ready,
}

struct Peer {
    sync: sync::State,
    phase: Phase,
    /// Heads the peer is known to have, with `sync` seeded to match: new changes are pushed.
    base: Option<Vec<ChangeHash>>,
    tx_epoch: u64,
    /// The next data sequence number in `tx_epoch` (= data frames sent in it).
    tx_next: u64,
    /// Data frames of `tx_epoch` the peer acknowledged.
    tx_acked: u64,
    ack_deadline: Option<u64>,
    /// Restarts in a row without the peer acknowledging anything.
    backoff: u32,
    next_message: u64,
    rx_epoch: Option<u64>,
    /// The next data sequence number expected in `rx_epoch`.
    rx_next: u64,
    reassembly: Reassembler,
    /// The peer has nothing and the whole board is owed to it once the push budget allows.
    owed_push: Option<u64>,
}

impl Peer {
    fn new() -> Self {
        Peer {
            sync: sync::State::new(),
            phase: Phase::AwaitHello,
            base: None,
            tx_epoch: 0,
            tx_next: 0,
            tx_acked: 0,
            ack_deadline: None,
            backoff: 0,
            next_message: 0,
            rx_epoch: None,
            rx_next: 0,
            reassembly: Reassembler::default(),
            owed_push: None,
        }
    }

    fn timeout(&self, config: &Config) -> u64 {
        let t = config
            .ack_timeout_ms
            .saturating_mul(1u64 << self.backoff.min(20));
        t.min(config.max_backoff_ms.max(config.ack_timeout_ms))
    }

    fn header(&self, kind: FrameKind) -> Header {
        Header {
            kind,
            epoch: self.tx_epoch,
            seq: self.tx_next,
            ack_epoch: self.rx_epoch.unwrap_or(0),
            ack_count: self.rx_next,
            chunk: None,
        }
    }
}

/// What one `handle` call has produced so far.
struct Cx {
    now: u64,
    out: Vec<Effect>,
    doc_changed: bool,
    /// Peers that got a data frame (which carries an ack) in this call.
    sent: BTreeSet<PeerId>,
    /// Peers whose data frames we must acknowledge.
    owe_ack: BTreeSet<PeerId>,
}

impl Cx {
    fn changed(&mut self) {
        if !self.doc_changed {
            self.doc_changed = true;
            self.out.push(Effect::DocChanged);
        }
    }
}

/// How the sequence layer judged a frame.
enum Verdict {
    /// Stale (an older epoch) or an ack overtaken by data: nothing to do.
    Ignore,
    /// An ack frame, processed.
    Acked,
    /// A data frame in sequence: process it.
    Data,
    /// The stream is broken: restart the session.
    Restart,
    /// The peer broke the sequence layer beyond repair (its counter reached `u64::MAX`).
    Drop(&'static str),
}

pub struct Engine {
    board: Board,
    config: Config,
    peers: BTreeMap<PeerId, Peer>,
    last_epoch: u64,
    /// The pacing's clock (GCRA's theoretical arrival time): a local edit may be sent at once when
    /// `now + (send_burst - 1) * send_interval_ms >= pace_at`; each send moves it on by one
    /// interval from `max(pace_at, now)`.
    pace_at: u64,
    /// Local edits are waiting to be sent (the rate was exceeded).
    held: bool,
    reported_wake: Option<u64>,
    /// Pushes of the whole board to peers that say they have nothing.
    full_pushes: PushBudget,
    /// The change the last [`Event::LocalChange`] committed, until taken.
    committed: Option<ChangeHash>,
}

impl Engine {
    pub fn new(board: Board) -> Self {
        Engine::with_config(board, Config::default())
    }

    pub fn with_config(board: Board, config: Config) -> Self {
        Engine {
            board,
            config,
            peers: BTreeMap::new(),
            last_epoch: 0,
            pace_at: 0,
            held: false,
            reported_wake: None,
            full_pushes: PushBudget::default(),
            committed: None,
        }
    }

    /// The change the last [`Event::LocalChange`] committed, if it committed one (for undo).
    pub fn take_committed(&mut self) -> Option<ChangeHash> {
        self.committed.take()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Change the tunables; takes effect for frames sent from now on.
    pub fn set_config(&mut self, config: Config) {
        self.config = config;
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
        let mut cx = Cx {
            now: now_ms,
            out: Vec::new(),
            doc_changed: false,
            sent: BTreeSet::new(),
            owe_ack: BTreeSet::new(),
        };
        match event {
            Event::LocalChange => self.local_change(&mut cx),
            Event::Connected(peer) => {
                if self.peers.len() >= MAX_PEERS && !self.peers.contains_key(&peer) {
                    cx.out.push(Effect::DropPeer {
                        peer,
                        reason: format!("more than {MAX_PEERS} peers"),
                    });
                } else {
                    self.peers.insert(peer.clone(), Peer::new());
                    self.restart(&peer, &mut cx);
                }
            }
            Event::Frame(peer, bytes) => self.receive(peer, &bytes, &mut cx),
            Event::Disconnected(peer) => {
                self.peers.remove(&peer);
            }
            Event::Tick => {
                // the glue's timer is spent: report the next deadline again, even if unchanged
                self.reported_wake = None;
                self.tick(&mut cx);
            }
        }
        self.finish(cx)
    }

    fn finish(&mut self, mut cx: Cx) -> Vec<Effect> {
        for id in std::mem::take(&mut cx.owe_ack) {
            if cx.sent.contains(&id) {
                continue;
            }
            if let Some(p) = self.peers.get(&id) {
                cx.out.push(Effect::Send {
                    peer: id,
                    frame: frame::encode(&p.header(FrameKind::Ack), &[]),
                });
            }
        }
        let wake = self
            .peers
            .values()
            .flat_map(|p| [p.ack_deadline, p.owed_push])
            .flatten()
            .chain(self.held.then(|| self.send_allowed_at()))
            .min();
        if wake != self.reported_wake {
            self.reported_wake = wake;
            if let Some(at_ms) = wake {
                cx.out.push(Effect::WakeAt { at_ms });
            }
        }
        cx.out
    }

    // ----- local edits and time -----

    fn local_change(&mut self, cx: &mut Cx) {
        let seconds = i64::try_from(cx.now / 1000).unwrap_or(i64::MAX);
        self.committed = self.board.commit(seconds);
        if self.committed.is_some() {
            cx.changed();
        }
        if cx.now >= self.send_allowed_at() {
            self.paced_flush(cx);
        } else {
            self.held = true;
        }
    }

    /// When the pacing lets the next local send go.
    fn send_allowed_at(&self) -> u64 {
        let tolerance = self
            .config
            .send_burst
            .saturating_sub(1)
            .saturating_mul(self.config.send_interval_ms);
        self.pace_at.saturating_sub(tolerance)
    }

    /// Send the local changes now and charge the pacing for it.
    fn paced_flush(&mut self, cx: &mut Cx) {
        self.held = false;
        self.flush(None, cx);
        self.pace_at = self
            .pace_at
            .max(cx.now)
            .saturating_add(self.config.send_interval_ms);
    }

    fn tick(&mut self, cx: &mut Cx) {
        if self.held && cx.now >= self.send_allowed_at() {
            self.paced_flush(cx);
        }
        let late: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.ack_deadline.is_some_and(|d| cx.now >= d))
            .map(|(id, _)| id.clone())
            .collect();
        for id in late {
            if let Some(p) = self.peers.get_mut(&id) {
                p.backoff = p.backoff.saturating_add(1);
            }
            self.restart(&id, cx);
        }
        let owed: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.phase == Phase::Ready && p.owed_push.is_some_and(|at| cx.now >= at))
            .map(|(id, _)| id.clone())
            .collect();
        for id in owed {
            if let Some(p) = self.peers.get_mut(&id) {
                p.owed_push = None;
            }
            self.push(&id, &[], true, cx);
        }
    }

    // ----- sending -----

    /// Send one message of `kind` to `id` as one frame or as chunks.
    fn send(&mut self, id: &PeerId, kind: FrameKind, payload: &[u8], cx: &mut Cx) {
        let limit = self.config.frame_limit();
        let Some(p) = self.peers.get_mut(id) else {
            return;
        };
        let header = p.header(kind);
        if frame::header_len(&header) + payload.len() <= limit {
            cx.out.push(Effect::Send {
                peer: id.clone(),
                frame: frame::encode(&header, payload),
            });
            p.tx_next += 1;
        } else {
            let pieces = chunk::split(payload, limit - frame::MAX_HEADER);
            let message = p.next_message;
            p.next_message += 1;
            for (index, piece) in pieces.iter().enumerate() {
                let header = Header {
                    seq: p.tx_next,
                    chunk: Some(ChunkInfo {
                        message,
                        index: index as u64,
                        count: pieces.len() as u64,
                        total: payload.len() as u64,
                    }),
                    ..header
                };
                cx.out.push(Effect::Send {
                    peer: id.clone(),
                    frame: frame::encode(&header, piece),
                });
                p.tx_next += 1;
            }
        }
        if p.ack_deadline.is_none() {
            p.ack_deadline = Some(cx.now.saturating_add(p.timeout(&self.config)));
        }
        cx.sent.insert(id.clone());
    }

    fn drop_peer(&mut self, id: PeerId, reason: String, cx: &mut Cx) {
        self.peers.remove(&id);
        cx.owe_ack.remove(&id);
        cx.out.push(Effect::DropPeer { peer: id, reason });
    }

    /// Start a new session with `id`: new epoch, fresh sync state, Hello.
    fn restart(&mut self, id: &PeerId, cx: &mut Cx) {
        let epoch = cx.now.max(self.last_epoch.saturating_add(1));
        let Some(p) = self.peers.get_mut(id) else {
            return;
        };
        self.last_epoch = epoch;
        p.tx_epoch = epoch;
        p.owed_push = None;
        p.tx_next = 0;
        p.tx_acked = 0;
        p.ack_deadline = None;
        p.next_message = 0;
        p.sync = sync::State::new();
        p.base = None;
        p.phase = Phase::AwaitHello;
        p.reassembly.clear();
        let hello = Hello {
            reply_to: 0,
            heads: self.board.heads(),
        };
        self.send(id, FrameKind::Hello, &hello.encode(), cx);
    }

    /// Bring every ready peer (but `except`) up to date with the document.
    fn flush(&mut self, except: Option<&PeerId>, cx: &mut Cx) {
        let ready: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, p)| p.phase == Phase::Ready && Some(*id) != except)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ready {
            self.update_peer(&id, cx);
        }
    }

    fn update_peer(&mut self, id: &PeerId, cx: &mut Cx) {
        let base = self.peers.get(id).and_then(|p| p.base.clone());
        match base {
            Some(base) if self.config.direct => self.push(id, &base, false, cx),
            _ => {
                self.sync_message(id, cx);
            }
        }
    }

    /// Send an Automerge sync message if the protocol has one.
    fn sync_message(&mut self, id: &PeerId, cx: &mut Cx) -> bool {
        let Some(p) = self.peers.get_mut(id) else {
            return false;
        };
        let message = self
            .board
            .doc_mut()
            .sync()
            .generate_sync_message(&mut p.sync);
        match message {
            Some(m) => {
                self.send(id, FrameKind::Sync, &m.encode(), cx);
                true
            }
            None => false,
        }
    }

    /// Send `id`, which has (at least) `base`, what it lacks: the whole document if it has nothing
    /// and `allow_doc`, else the changes. Afterwards the peer is caught up.
    fn push(&mut self, id: &PeerId, base: &[ChangeHash], allow_doc: bool, cx: &mut Cx) {
        let ours = self.board.heads();
        if ours.as_slice() != base {
            // every board starts from the same genesis change: a peer with just that has nothing
            let has_nothing = base.is_empty() || base == crate::board::genesis_heads().as_slice();
            let mut sent = Vec::new();
            if has_nothing && !self.full_pushes.take(id, cx.now) {
                // a peer that keeps claiming an empty board (each claim costs the whole board,
                // an honest one repeats it only after losses): it waits for its turn
                let at = self.full_pushes.next_at(id, cx.now);
                if let Some(p) = self.peers.get_mut(id) {
                    p.owed_push = Some(at);
                    p.base = None;
                }
                return;
            }
            let (kind, payload) = if allow_doc && has_nothing {
                let doc = self.board.snapshot();
                (FrameKind::Doc, DocPayload::encode(&ours, &doc))
            } else {
                let changes = self.board.doc_mut().get_changes(base);
                sent.extend(changes.iter().map(|c| c.hash()));
                let payload = Changes::encode(&ours, changes.iter().map(|c| c.raw_bytes()));
                (FrameKind::Changes, payload)
            };
            self.send(id, kind, &payload, cx);
            if let Some(p) = self.peers.get_mut(id) {
                p.sync.sent_hashes.extend(sent);
            }
        }
        if let Some(p) = self.peers.get_mut(id) {
            seed_caught_up(&mut p.sync, &ours);
            p.base = Some(ours);
        }
    }

    // ----- receiving -----

    /// Whether `id` may buffer `more` bytes of a chunked message within the budget for all
    /// peers. If not, the peer that holds the most (`id` counting what it sends now) is dropped.
    fn room_to_buffer(&mut self, id: &PeerId, more: usize, cx: &mut Cx) -> bool {
        let total: usize = self.peers.values().map(|p| p.reassembly.buffered()).sum();
        if total.saturating_add(more) <= self.config.max_buffered_total {
            return true;
        }
        let holds = |p: &Peer, q: &PeerId| p.reassembly.buffered() + if q == id { more } else { 0 };
        let hog = self
            .peers
            .iter()
            .max_by_key(|(q, p)| (holds(p, q), *q == id))
            .map(|(q, _)| q.clone());
        let Some(hog) = hog else {
            return false;
        };
        let reason = FrameError::AllPeersBuffered(self.config.max_buffered_total).to_string();
        let sender = hog == *id;
        self.drop_peer(hog, reason, cx);
        !sender
    }

    fn receive(&mut self, id: PeerId, bytes: &[u8], cx: &mut Cx) {
        if !self.peers.contains_key(&id) {
            // A frame that raced a disconnect: nothing to answer.
            return;
        }
        let f = match frame::decode(bytes) {
            Ok(f) => f,
            Err(e) => return self.drop_peer(id, e.to_string(), cx),
        };
        match self.sequence(&id, &f.header, cx) {
            Verdict::Ignore | Verdict::Acked => return,
            Verdict::Restart => return self.restart(&id, cx),
            Verdict::Drop(reason) => return self.drop_peer(id, reason.to_owned(), cx),
            Verdict::Data => {}
        }
        cx.owe_ack.insert(id.clone());
        let kind = f.header.kind;
        let limits = self.config.limits();
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        if p.phase == Phase::AwaitHello && kind != FrameKind::Hello {
            // produced from the session we threw away
            return;
        }
        if f.header.chunk.is_some() && !self.room_to_buffer(&id, f.payload.len(), cx) {
            return;
        }
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        let message = match f.header.chunk {
            None => Cow::Borrowed(f.payload),
            Some(c) => match p.reassembly.push(kind, c, f.payload, limits) {
                Ok(Some(m)) => Cow::Owned(m),
                Ok(None) => return,
                Err(e) => return self.drop_peer(id, e.to_string(), cx),
            },
        };
        let epoch = f.header.epoch;
        let before = self.board.heads();
        let mut outcome = self.message(&id, kind, epoch, &message, cx);
        let (queued, queued_bytes) = self.board.doc().queued_changes();
        if queued_bytes > self.config.max_queued {
            self.board.doc_mut().clear_queued_changes();
            outcome = outcome.and(Err(format!(
                "{queued} changes ({queued_bytes} B) wait for dependencies nobody sent"
            )));
        }
        if let Err(reason) = outcome {
            // Automerge may have applied the valid changes before the one it refused (and the
            // vendored automerge also the queued ones those made ready): peers hear of them.
            self.drop_peer(id.clone(), reason, cx);
            if self.board.heads() != before {
                cx.changed();
                self.flush(Some(&id), cx);
            }
        }
    }

    /// The sequence layer: epochs, sequence numbers, acknowledgements.
    fn sequence(&mut self, id: &PeerId, h: &Header, cx: &mut Cx) -> Verdict {
        let timeout_config = self.config;
        let Some(p) = self.peers.get_mut(id) else {
            return Verdict::Ignore;
        };
        let data = h.kind != FrameKind::Ack;
        match p.rx_epoch {
            Some(current) if h.epoch < current => return Verdict::Ignore,
            Some(current) if h.epoch == current => {
                if p.phase == Phase::AwaitHello && h.seq != p.rx_next {
                    // We restarted and wait for the peer's answer, which comes in this epoch
                    // after whatever of the old session was still on its way: take an answer
                    // that follows a gap, and let the rest of the old session (gaps and
                    // duplicates) go. Restarting again on each of its gaps made restart storms
                    // (simulator seeds 45554 and 48161: 8104 and 3462 messages after the heal).
                    // What we skip is not acknowledged, so a peer that waits for it times out
                    // and restarts.
                    let answer = data
                        && h.kind == FrameKind::Hello
                        && h.chunk.is_none()
                        && h.seq > p.rx_next;
                    if !answer {
                        return Verdict::Ignore;
                    }
                    p.rx_next = h.seq;
                }
                if data {
                    if h.seq != p.rx_next {
                        // a duplicate (seq below) or a gap (seq above)
                        p.rx_next = p.rx_next.max(h.seq.saturating_add(1));
                        return Verdict::Restart;
                    }
                    // A hostile peer can number its frames up to u64::MAX; no honest one gets
                    // there (2^64 frames), so the end of the counter drops it.
                    let Some(next) = p.rx_next.checked_add(1) else {
                        return Verdict::Drop("sequence number overflow");
                    };
                    p.rx_next = next;
                } else if h.seq > p.rx_next {
                    // the ack says data frames were sent that never arrived
                    p.rx_next = h.seq;
                    return Verdict::Restart;
                } else if h.seq < p.rx_next {
                    return Verdict::Ignore;
                }
            }
            _ => {
                // the peer started a new epoch: it must start with its Hello
                p.rx_epoch = Some(h.epoch);
                p.reassembly.clear();
                if data && h.seq == 0 && h.kind == FrameKind::Hello && h.chunk.is_none() {
                    p.rx_next = 1;
                } else {
                    p.rx_next = if data { h.seq.saturating_add(1) } else { h.seq };
                    return Verdict::Restart;
                }
            }
        }
        if h.ack_epoch == p.tx_epoch && h.ack_count > p.tx_acked {
            if h.ack_count > p.tx_next {
                // acknowledges frames we never sent in this epoch: the peer is confused
                return Verdict::Restart;
            }
            p.tx_acked = h.ack_count;
            p.backoff = 0;
            p.ack_deadline =
                (p.tx_acked < p.tx_next).then(|| cx.now.saturating_add(p.timeout(&timeout_config)));
        }
        if data {
            Verdict::Data
        } else {
            Verdict::Acked
        }
    }

    /// One whole message; an error drops the peer.
    fn message(
        &mut self,
        id: &PeerId,
        kind: FrameKind,
        epoch: u64,
        payload: &[u8],
        cx: &mut Cx,
    ) -> Result<(), String> {
        match kind {
            FrameKind::Hello => {
                let hello = Hello::decode(payload).map_err(|e| e.to_string())?;
                self.on_hello(id, epoch, hello, cx);
            }
            FrameKind::Behind => {
                if !payload.is_empty() {
                    return Err(FrameError::Malformed("behind with a payload").to_string());
                }
                let Some(p) = self.peers.get_mut(id) else {
                    return Ok(());
                };
                if p.phase == Phase::AwaitPush {
                    // we lack some of theirs and they some of ours: sync
                    p.phase = Phase::Ready;
                    self.sync_message(id, cx);
                }
            }
            FrameKind::Sync | FrameKind::Changes | FrameKind::Doc => {
                // one budget for all that the message inflates and decodes, however automerge
                // goes on past what it refuses
                automerge::budget::scoped(self.config.decode, || match kind {
                    FrameKind::Sync => self.on_sync(id, payload, cx),
                    FrameKind::Changes => self.on_changes(id, payload, cx),
                    _ => self.on_doc(id, payload, cx),
                })
                .map_err(|e| format!("refused: {e}"))??;
            }
            FrameKind::Ack => {}
        }
        Ok(())
    }

    fn on_hello(&mut self, id: &PeerId, their_epoch: u64, hello: Hello, cx: &mut Cx) {
        let Some(p) = self.peers.get_mut(id) else {
            return;
        };
        match p.phase {
            // the answer to our Hello
            Phase::AwaitHello if hello.reply_to == p.tx_epoch => {}
            // the peer's own restart crossing ours: our Hello answers it, unless the peer had
            // already seen our epoch (it acknowledged part of it) when it restarted. Then our
            // Hello is behind it (or was lost, which is why it restarted) and it waits for an
            // answer, as it would if we were past our own Hello.
            Phase::AwaitHello if hello.reply_to == 0 => {
                if p.tx_acked > 0 {
                    let answer = Hello {
                        reply_to: their_epoch,
                        heads: self.board.heads(),
                    };
                    self.send(id, FrameKind::Hello, &answer.encode(), cx);
                }
            }
            Phase::AwaitHello => return, // answers an older Hello of ours
            _ if hello.reply_to == 0 => {
                // the peer restarted the session: so do we, within our epoch, and answer
                let answer = Hello {
                    reply_to: their_epoch,
                    heads: self.board.heads(),
                };
                self.send(id, FrameKind::Hello, &answer.encode(), cx);
            }
            _ => return, // an answer we did not wait for
        }
        self.establish(id, &hello.heads, cx);
    }

    /// Whether every change in `heads` is in our document.
    fn knows_all(&mut self, heads: &[ChangeHash]) -> bool {
        let doc = self.board.doc_mut();
        heads.iter().all(|h| doc.get_change_by_hash(h).is_some())
    }

    /// Both sides have thrown their old state away and we know the peer's heads: decide.
    fn establish(&mut self, id: &PeerId, theirs: &[ChangeHash], cx: &mut Cx) {
        let ours = self.board.heads();
        let known = self.knows_all(theirs);
        let direct = self.config.direct;
        let Some(p) = self.peers.get_mut(id) else {
            return;
        };
        p.sync = sync::State::new();
        p.base = None;
        p.phase = Phase::Ready;
        p.owed_push = None;
        if ours.as_slice() == theirs {
            seed_caught_up(&mut p.sync, &ours);
            p.base = direct.then_some(ours);
        } else if !direct {
            seed_their_heads(&mut p.sync, theirs, known);
            self.sync_message(id, cx);
        } else if known {
            self.push(id, theirs, true, cx);
        } else {
            p.phase = Phase::AwaitPush;
            self.send(id, FrameKind::Behind, &[], cx);
        }
    }

    fn on_sync(&mut self, id: &PeerId, payload: &[u8], cx: &mut Cx) -> Result<(), String> {
        let mut message =
            sync::Message::decode(payload).map_err(|e| format!("undecodable sync message: {e}"))?;
        sync_guard::check(payload, &message)?;
        // Automerge keeps hash lists sorted and, in 0.6.1, `debug_assert`s that when it encodes
        // its answer, which can echo the peer's lists: put a hostile peer's in order.
        for hashes in [&mut message.heads, &mut message.need]
            .into_iter()
            .chain(message.have.iter_mut().map(|h| &mut h.last_sync))
        {
            hashes.sort_unstable();
            hashes.dedup();
        }
        // `need` without `have`: the peer holds changes whose ancestors it lacks (see below)
        let gaps = message.have.is_empty() && !message.need.is_empty();
        let Some(p) = self.peers.get_mut(id) else {
            return Ok(());
        };
        p.phase = Phase::Ready;
        p.base = None;
        let before = self.board.heads();
        self.board.before_apply(payload.len());
        self.board
            .doc_mut()
            .sync()
            .receive_sync_message(&mut p.sync, message)
            .map_err(|e| format!("sync message refused: {e}"))?;
        if gaps {
            // Automerge would answer with exactly the changes needed, whose own missing
            // ancestors the peer then needs in turn: one layer of history per round trip.
            // Offer everything after the peer's heads that we know instead (it has all their
            // ancestors), so the gap closes in one message; the sent hashes keep it to once.
            let doc = self.board.doc_mut();
            let known: Vec<ChangeHash> = (p.sync.their_heads.iter().flatten())
                .filter(|h| doc.get_change_by_hash(h).is_some())
                .copied()
                .collect();
            p.sync.their_have = Some(vec![Have {
                last_sync: known,
                bloom: BloomFilter::default(),
            }]);
        }
        let after = self.board.heads();
        if after != before {
            cx.changed();
            self.flush(Some(id), cx);
        }
        if !self.sync_message(id, cx) && self.config.direct {
            if let Some(p) = self.peers.get_mut(id) {
                if p.sync.their_heads.as_ref() == Some(&after) {
                    // in sync: from now on push new changes directly
                    p.base = Some(after);
                }
            }
        }
        Ok(())
    }

    fn on_changes(&mut self, id: &PeerId, payload: &[u8], cx: &mut Cx) -> Result<(), String> {
        let pushed = Changes::decode(payload).map_err(|e| e.to_string())?;
        // `Change::from_bytes` does not check the checksum: a damaged change would be applied here
        // and then refused by every peer we forward it to (their sync guard and loaders check it).
        if !pushed.changes.iter().all(|c| crate::saved::verified(c)) {
            return Err("bad change: damaged (bad structure or checksum)".into());
        }
        let changes = pushed
            .changes
            .iter()
            .map(|c| Change::from_bytes(c.to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("bad change: {e}"))?;
        let before = self.board.heads();
        self.board.before_apply(payload.len());
        self.board
            .doc_mut()
            .apply_changes(changes)
            .map_err(|e| format!("changes refused: {e}"))?;
        if self.board.heads() != before {
            cx.changed();
            self.flush(Some(id), cx);
        }
        self.after_push(id, &pushed.heads, cx);
        Ok(())
    }

    fn on_doc(&mut self, id: &PeerId, payload: &[u8], cx: &mut Cx) -> Result<(), String> {
        let pushed = DocPayload::decode(payload).map_err(|e| e.to_string())?;
        let before = self.board.heads();
        self.board
            .load_saved(pushed.doc)
            .map_err(|e| format!("bad document: {e}"))?;
        if self.board.heads() != before {
            cx.changed();
            self.flush(Some(id), cx);
        }
        self.after_push(id, &pushed.heads, cx);
        Ok(())
    }

    /// After applying what the peer pushed, with the heads it declared.
    fn after_push(&mut self, id: &PeerId, theirs: &[ChangeHash], cx: &mut Cx) {
        let ours = self.board.heads();
        let known = self.knows_all(theirs);
        let direct = self.config.direct;
        let Some(p) = self.peers.get_mut(id) else {
            return;
        };
        p.phase = Phase::Ready;
        if ours.as_slice() == theirs {
            seed_caught_up(&mut p.sync, &ours);
            p.base = direct.then_some(ours);
        } else {
            // we have more, or the push missed something: the sync protocol repairs
            p.base = None;
            seed_their_heads(&mut p.sync, theirs, known);
            self.sync_message(id, cx);
        }
    }
}

/// Make `state` agree that both sides have exactly `heads`, so that it generates nothing until the
/// document changes, and then only what is new.
fn seed_caught_up(state: &mut sync::State, heads: &[ChangeHash]) {
    state.shared_heads = heads.to_vec();
    state.last_sent_heads = heads.to_vec();
    state.their_heads = Some(heads.to_vec());
    state.their_need = Some(Vec::new());
    state.their_have = Some(vec![Have {
        last_sync: heads.to_vec(),
        bloom: BloomFilter::default(),
    }]);
    state.have_responded = true;
    state.in_flight = false;
}

/// Tell `state` the peer's heads, as its own sync message would have.
fn seed_their_heads(state: &mut sync::State, theirs: &[ChangeHash], all_known: bool) {
    state.their_heads = Some(theirs.to_vec());
    if all_known {
        // everything up to their heads is shared: offer only what is newer
        state.shared_heads = theirs.to_vec();
        state.their_need = Some(Vec::new());
        state.their_have = Some(vec![Have {
            last_sync: theirs.to_vec(),
            bloom: BloomFilter::default(),
        }]);
    }
}

#[cfg(test)]
mod tests;
