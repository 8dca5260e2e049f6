//! Who to link to, and when: the signaling connection (start, join, reconnect with backoff, the
//! user's offline switch) and the life of one link per remote peer (who offers, the setup
//! deadline, our key proof before any board data, the peer's proof, a retry with backoff after a
//! failure, a grace period for a peer that left signaling but may still be there).
//!
//! Who links to whom: while the room has at most [`MeshPolicy::max_links`] other peers, everyone
//! to everyone; in a larger room each peer links only to [`super::overlay`]'s choice, a bounded
//! set every peer of the room computes alike from the same membership, so both ends of a link
//! want it; edits and presence reach the others through several hops (every peer forwards what it
//! receives).
//!
//! Sans-IO like the engine: the executor (the browser app, a native peer, a simulation) passes in
//! what happened with the time, carries out the [`MeshCommand`]s, and comes back with
//! [`MeshInput::Tick`] at [`Mesh::wake_at`]. It owns the sockets, peer connections, channels and
//! the cryptography; this owns every decision about them, so all executors decide alike.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::engine::PeerId;
use crate::secure::Role;

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

/// The delays and bounds. [`Default`] is what the app uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeshPolicy {
    /// The first reconnect to the signaling server waits about this long (jittered down to
    /// half), doubled after each failure in a row...
    pub reconnect_ms: u64,
    /// ...up to this long.
    pub max_reconnect_ms: u64,
    /// A failed link is offered again after about this long, doubled after each failure in a row
    /// (a peer that keeps failing its proof is tried ever less often, never given up for good)...
    pub retry_ms: u64,
    /// ...up to this long.
    pub max_retry_ms: u64,
    /// A link that has not opened (negotiated, connected, proved) by then is given up and tried
    /// again by the side whose turn it is to offer: a lost offer, answer or candidate, or a peer
    /// that vanished mid-negotiation, must not leave a half-made link that blocks every retry.
    pub setup_ms: u64,
    /// How long a peer that left signaling keeps its open link before it counts as gone.
    pub leave_grace_ms: u64,
    /// Links held at once: the room is a full mesh up to `max_links + 1` peers, an overlay of
    /// at most this many links per peer above.
    pub max_links: usize,
    /// Peers of the room kept track of; the server's further announcements are ignored.
    pub max_room_peers: usize,
}

impl Default for MeshPolicy {
    fn default() -> Self {
        MeshPolicy {
            reconnect_ms: 500,
            max_reconnect_ms: 30_000,
            retry_ms: 2_000,
            max_retry_ms: 60_000,
            setup_ms: 15_000,
            leave_grace_ms: 3_000,
            max_links: 6,
            max_room_peers: 256,
        }
    }
}

/// One attempt at a link to a peer. A new attempt gets a new id, so events of an older one
/// (a late answer, a channel that closes after it was replaced) are told apart and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(u64);

impl LinkId {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a link ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFailure {
    /// The transport said so (ICE or DTLS failed, the connection closed).
    ConnectionFailed,
    /// No peer connection could be made here.
    Unavailable,
    /// Making or applying an offer or answer failed.
    Negotiation,
    /// The board channel closed.
    ChannelClosed,
    /// Sending on the board channel failed.
    SendFailed,
    /// The channel refused a message of the peer's (too large).
    Refused,
    /// No DTLS fingerprint to bind the proof to.
    NoFingerprint,
    /// The peer's first message was no proof of the link: an interceptor, or a peer without it.
    ProofFailed,
    /// The engine found the peer's data bad.
    BadData,
    /// Not open within [`MeshPolicy::setup_ms`].
    SetupTimeout,
    /// The peer left signaling and did not come back within [`MeshPolicy::leave_grace_ms`].
    PeerLeft,
}

impl fmt::Display for LinkFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkFailure::ConnectionFailed => "connection failed",
            LinkFailure::Unavailable => "no peer connection could be made",
            LinkFailure::Negotiation => "negotiation failed",
            LinkFailure::ChannelClosed => "channel closed",
            LinkFailure::SendFailed => "send failed",
            LinkFailure::Refused => "the peer sent more than a channel takes",
            LinkFailure::NoFingerprint => "no DTLS fingerprint in the session description",
            LinkFailure::ProofFailed => "peer proof failed",
            LinkFailure::BadData => "the peer sent bad data",
            LinkFailure::SetupTimeout => "no connection within the setup time",
            LinkFailure::PeerLeft => "the peer left",
        })
    }
}

/// Where we stand with the signaling server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signaling {
    /// The user switched networking off.
    Off,
    /// Not started yet (the board is still loading).
    NotStarted,
    /// A socket is open or opening; not joined yet.
    Connecting,
    /// In the room.
    Joined,
    /// No socket; the next attempt is due then (attempts so far, in a row).
    Waiting { attempts: u32 },
}

/// What happened, as the executor saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeshInput {
    /// The network may start (the board was loaded).
    Start,
    /// The user's "work offline" switch.
    SetOffline(bool),
    /// The network may be back (the browser went online, the tab was shown again): a reconnect
    /// waiting out its backoff goes now, and the backoff starts again from its shortest delay.
    NetworkHint,
    /// The socket could not be opened, or closed. Open links keep syncing without the server.
    SocketLost,
    /// The server refused our join for now (bad proof, room full, our id taken) or its welcome
    /// was unusable: the socket is given up and a new one tried later.
    JoinRefused,
    /// We are in the room under `me`, with these peers.
    Welcome {
        me: PeerId,
        peers: Vec<PeerId>,
    },
    PeerJoined(PeerId),
    /// The peer left signaling (not necessarily the board: an open link keeps syncing a while).
    PeerLeft(PeerId),
    /// A checked offer came from a peer; the executor holds its description for the answer.
    Offer(PeerId),
    /// The link's board channel is open (it may say so twice, and a message may come first).
    ChannelOpen(PeerId, LinkId),
    /// The peer's first message on the board channel was, or was not, its proof (our own goes
    /// out first, if the channel has not said "open" yet).
    Proof {
        peer: PeerId,
        link: LinkId,
        valid: bool,
    },
    Failed {
        peer: PeerId,
        link: LinkId,
        why: LinkFailure,
    },
    /// The current peer ids of this profile's other tabs: never linked to (they share the
    /// board through the browser). A peer whose link is open stays a peer whatever a tab says.
    TabPeers(BTreeSet<PeerId>),
    /// Time passed (at or after [`Mesh::wake_at`]).
    Tick,
}

/// What the executor must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeshCommand {
    /// Open the signaling socket (the server speaks first; the executor answers its challenge
    /// with the join). Report [`MeshInput::SocketLost`] if it cannot.
    OpenSocket,
    /// Close the signaling socket.
    CloseSocket,
    /// The server knows us by a new peer id: seal for it, tell the other tabs.
    NewPeerId(PeerId),
    /// Make a peer connection with its board channel and send the peer an offer.
    Offer { peer: PeerId, link: LinkId },
    /// Make a peer connection and answer the offer just passed in.
    Answer { peer: PeerId, link: LinkId },
    /// Send our proof on the board channel, bound to both fingerprints, as our role says.
    SendProof {
        peer: PeerId,
        link: LinkId,
        role: Role,
    },
    /// The peer proved it holds the link: board data may flow (the engine hears `Connected`).
    Opened { peer: PeerId, link: LinkId },
    /// Close the link. If `was_open`, the engine (and presence) hear `Disconnected`. `why` is
    /// `None` when it was replaced or the user went offline, not when something went wrong.
    Close {
        peer: PeerId,
        link: LinkId,
        was_open: bool,
        why: Option<LinkFailure>,
    },
}

/// One link, as the core sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkState {
    pub id: LinkId,
    pub role: Role,
    pub since: u64,
    /// Our proof went out.
    pub proof_sent: bool,
    /// The peer's proof checked out: board data flows.
    pub open: bool,
}

/// The signaling and link state of one board.
#[derive(Debug, Clone)]
pub struct Mesh {
    policy: MeshPolicy,
    /// xorshift state for the jitter (seeded by the executor: peers that lost the server
    /// together must not come back in lockstep).
    rng: u64,
    started: bool,
    off: bool,
    /// A socket is open or opening.
    socket: bool,
    joined: bool,
    /// Our id in the room, told in the server's welcome, new on every join.
    me: Option<PeerId>,
    reconnect_attempts: u32,
    reconnect_at: Option<u64>,
    room: BTreeSet<PeerId>,
    /// The peers of the room we link to (all of them in a small room; see [`super::overlay`]).
    wanted: BTreeSet<PeerId>,
    links: BTreeMap<PeerId, LinkState>,
    next_link: u64,
    /// Links to a peer that failed in a row (reset when one opens).
    failures: BTreeMap<PeerId, u32>,
    retry_at: BTreeMap<PeerId, u64>,
    leaving: BTreeMap<PeerId, u64>,
    tab_peers: BTreeSet<PeerId>,
}

impl Mesh {
    pub fn new(policy: MeshPolicy, seed: u64) -> Self {
        Mesh {
            policy,
            rng: seed | 1,
            started: false,
            off: false,
            socket: false,
            joined: false,
            me: None,
            reconnect_attempts: 0,
            reconnect_at: None,
            room: BTreeSet::new(),
            wanted: BTreeSet::new(),
            links: BTreeMap::new(),
            next_link: 0,
            failures: BTreeMap::new(),
            retry_at: BTreeMap::new(),
            leaving: BTreeMap::new(),
            tab_peers: BTreeSet::new(),
        }
    }

    pub fn signaling(&self) -> Signaling {
        if self.off {
            Signaling::Off
        } else if self.joined {
            Signaling::Joined
        } else if self.socket {
            Signaling::Connecting
        } else if self.started {
            Signaling::Waiting {
                attempts: self.reconnect_attempts,
            }
        } else {
            Signaling::NotStarted
        }
    }

    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// Our peer id, once a server gave us one.
    pub fn me(&self) -> Option<&PeerId> {
        self.me.as_ref()
    }

    /// A reconnect is waiting out its backoff.
    pub fn reconnect_pending(&self) -> bool {
        self.reconnect_at.is_some()
    }

    pub fn in_room(&self, peer: &PeerId) -> bool {
        self.room.contains(peer)
    }

    /// The room's peers, as the server told us (not us).
    pub fn room(&self) -> impl Iterator<Item = &PeerId> {
        self.room.iter()
    }

    /// The room is larger than a full mesh: some of its peers have no link to each other, so
    /// what one says reaches the others only through the peers in between.
    pub fn partial(&self) -> bool {
        self.room.len() > self.policy.max_links
    }

    pub fn link(&self, peer: &PeerId) -> Option<&LinkState> {
        self.links.get(peer)
    }

    /// The current link to `peer`, if it is `link`.
    pub fn is_current(&self, peer: &PeerId, link: LinkId) -> bool {
        self.links.get(peer).is_some_and(|l| l.id == link)
    }

    pub fn is_open(&self, peer: &PeerId) -> bool {
        self.links.get(peer).is_some_and(|l| l.open)
    }

    pub fn links(&self) -> impl Iterator<Item = (&PeerId, &LinkState)> {
        self.links.iter()
    }

    pub fn open_links(&self) -> usize {
        self.links.values().filter(|l| l.open).count()
    }

    pub fn is_tab_peer(&self, peer: &PeerId) -> bool {
        self.tab_peers.contains(peer)
    }

    /// When to come back with [`MeshInput::Tick`].
    pub fn wake_at(&self) -> Option<u64> {
        let setups = self
            .links
            .values()
            .filter(|l| !l.open)
            .map(|l| l.since.saturating_add(self.policy.setup_ms));
        self.reconnect_at
            .into_iter()
            .chain(self.retry_at.values().copied())
            .chain(self.leaving.values().copied())
            .chain(setups)
            .min()
    }

    pub fn handle(&mut self, input: MeshInput, now: u64) -> Vec<MeshCommand> {
        let mut out = Vec::new();
        self.fire_due(now, &mut out);
        self.react(input, now, &mut out);
        // A peer we want may have found no free place (links of leaving peers held them) or
        // just got one: offer where it is our turn and nothing is under way.
        let waiting: Vec<PeerId> = self
            .wanted
            .iter()
            .filter(|p| !self.links.contains_key(*p))
            .cloned()
            .collect();
        for peer in waiting {
            self.consider(peer, now, &mut out);
        }
        out
    }

    fn react(&mut self, input: MeshInput, now: u64, out: &mut Vec<MeshCommand>) {
        match input {
            MeshInput::Start => {
                self.started = true;
                self.reconnect_attempts = 0;
                self.open_socket(out);
            }
            MeshInput::SetOffline(off) => self.set_off(off, out),
            MeshInput::NetworkHint => {
                if !self.off && self.started && self.reconnect_at.take().is_some() {
                    self.reconnect_attempts = 0;
                    self.open_socket(out);
                }
            }
            MeshInput::SocketLost => self.socket_lost(now),
            MeshInput::JoinRefused => {
                if self.socket {
                    out.push(MeshCommand::CloseSocket);
                }
                self.socket_lost(now);
            }
            MeshInput::Welcome { me, peers } => self.welcome(me, peers, out),
            MeshInput::PeerJoined(peer) => {
                self.leaving.remove(&peer);
                if self.joined
                    && self.me.as_ref() != Some(&peer)
                    && self.room.len() < self.policy.max_room_peers
                    && self.room.insert(peer)
                {
                    self.rewire(out);
                }
            }
            MeshInput::PeerLeft(peer) => {
                self.room.remove(&peer);
                self.retry_at.remove(&peer);
                self.failures.remove(&peer);
                match self.links.get(&peer) {
                    // A page that closes does not always close its channel in time; if the peer
                    // does not come back to a server we are still connected to, it is gone.
                    Some(l) if l.open => {
                        let at = now.saturating_add(self.policy.leave_grace_ms);
                        self.leaving.insert(peer, at);
                    }
                    Some(_) => self.close(&peer, None, out),
                    None => {}
                }
                self.rewire(out);
            }
            MeshInput::Offer(from) => self.offered(from, now, out),
            MeshInput::ChannelOpen(peer, link) => {
                if let Some(l) = self.links.get_mut(&peer).filter(|l| l.id == link) {
                    if !std::mem::replace(&mut l.proof_sent, true) {
                        out.push(MeshCommand::SendProof {
                            peer,
                            link,
                            role: l.role,
                        });
                    }
                }
            }
            MeshInput::Proof { peer, link, valid } => {
                let Some(l) = self.links.get_mut(&peer).filter(|l| l.id == link) else {
                    return;
                };
                if l.open {
                    return;
                }
                // The peer's first message came before our channel said "open": our proof goes
                // first, or the board data that follows the opening would reach the peer where
                // it expects our proof.
                if !std::mem::replace(&mut l.proof_sent, true) {
                    out.push(MeshCommand::SendProof {
                        peer: peer.clone(),
                        link,
                        role: l.role,
                    });
                }
                if valid {
                    l.open = true;
                    self.failures.remove(&peer);
                    out.push(MeshCommand::Opened { peer, link });
                } else {
                    self.fail(&peer, LinkFailure::ProofFailed, now, out);
                }
            }
            MeshInput::Failed { peer, link, why } => {
                if self.is_current(&peer, link) {
                    self.fail(&peer, why, now, out);
                }
            }
            MeshInput::TabPeers(peers) => {
                let half_made: Vec<PeerId> = peers
                    .iter()
                    .filter(|p| !self.is_open(p) && self.links.contains_key(*p))
                    .cloned()
                    .collect();
                self.tab_peers = peers.into_iter().filter(|p| !self.is_open(p)).collect();
                // A link to another tab may have been started before we heard: it is no peer.
                for peer in half_made {
                    self.close(&peer, None, out);
                }
            }
            MeshInput::Tick => {}
        }
    }

    fn fire_due(&mut self, now: u64, out: &mut Vec<MeshCommand>) {
        if self.reconnect_at.is_some_and(|at| at <= now) {
            self.reconnect_at = None;
            self.open_socket(out);
        }
        let setup = self.policy.setup_ms;
        let late: Vec<PeerId> = self
            .links
            .iter()
            .filter(|(_, l)| !l.open && l.since.saturating_add(setup) <= now)
            .map(|(p, _)| p.clone())
            .collect();
        for peer in late {
            self.fail(&peer, LinkFailure::SetupTimeout, now, out);
        }
        for peer in take_due(&mut self.leaving, now) {
            // Only the server can tell; if we lost it too, keep the link.
            if self.joined && !self.room.contains(&peer) && self.links.contains_key(&peer) {
                self.fail(&peer, LinkFailure::PeerLeft, now, out);
            }
        }
        // a retry that is due: `handle` offers again after this input
        take_due(&mut self.retry_at, now);
    }

    fn open_socket(&mut self, out: &mut Vec<MeshCommand>) {
        if self.off || !self.started || self.socket {
            return;
        }
        self.reconnect_at = None;
        self.socket = true;
        out.push(MeshCommand::OpenSocket);
    }

    fn socket_lost(&mut self, now: u64) {
        // "Peer left" notices sent as the server went down say nothing about the peers.
        self.leaving.clear();
        self.socket = false;
        self.joined = false;
        if self.off || !self.started || self.reconnect_at.is_some() {
            return;
        }
        let exp = self
            .policy
            .reconnect_ms
            .saturating_mul(1 << self.reconnect_attempts.min(16));
        self.reconnect_attempts = self.reconnect_attempts.saturating_add(1);
        let delay = self.jitter(exp.min(self.policy.max_reconnect_ms));
        self.reconnect_at = Some(now.saturating_add(delay));
    }

    fn set_off(&mut self, off: bool, out: &mut Vec<MeshCommand>) {
        if off == self.off {
            return;
        }
        self.off = off;
        if off {
            self.reconnect_at = None;
            self.retry_at.clear();
            self.failures.clear();
            self.leaving.clear();
            self.close_all(out);
            self.room.clear();
            self.wanted.clear();
            if std::mem::take(&mut self.socket) {
                out.push(MeshCommand::CloseSocket);
            }
            self.joined = false;
        } else {
            self.reconnect_attempts = 0;
            self.open_socket(out);
        }
    }

    fn welcome(&mut self, me: PeerId, peers: Vec<PeerId>, out: &mut Vec<MeshCommand>) {
        if !self.socket || self.joined {
            return;
        }
        if self.me.as_ref() != Some(&me) {
            // Links made under an earlier id are no good: the other side knows us by that id,
            // which it drops once the server tells it that we left. They start afresh.
            if self.me.is_some() {
                self.close_all(out);
                self.retry_at.clear();
                self.failures.clear();
                self.leaving.clear();
            }
            self.me = Some(me.clone());
            out.push(MeshCommand::NewPeerId(me.clone()));
        }
        self.joined = true;
        self.reconnect_attempts = 0;
        self.room = peers
            .into_iter()
            .filter(|p| *p != me)
            .take(self.policy.max_room_peers)
            .collect();
        let room = &self.room;
        self.failures.retain(|p, _| room.contains(p));
        self.retry_at.retain(|p, _| room.contains(p));
        self.rewire(out);
    }

    /// The room changed: work out whom we link to now, close the links we no longer want (but
    /// those of a peer that left, which keep their grace period); `handle` then offers the new
    /// ones that are ours to offer. In a large room a newcomer moves some peers' places on the overlay; both
    /// ends of each such link see the same change and let it go.
    fn rewire(&mut self, out: &mut Vec<MeshCommand>) {
        let Some(me) = &self.me else { return };
        self.wanted = super::overlay::overlay(me, &self.room, self.policy.max_links);
        let unwanted: Vec<PeerId> = self
            .links
            .keys()
            .filter(|p| !self.wanted.contains(*p) && !self.leaving.contains_key(*p))
            .cloned()
            .collect();
        for peer in unwanted {
            self.close(&peer, None, out);
        }
        // the wanted peers without a link get one after this input, in `handle`
    }

    /// A peer we want a link to: link to it, unless we already are or it is its turn to offer.
    /// The peer with the lower id always offers, so two peers never offer to each other at once.
    fn consider(&mut self, peer: PeerId, now: u64, out: &mut Vec<MeshCommand>) {
        let Some(me) = &self.me else { return };
        if !self.joined
            || !self.wanted.contains(&peer)
            || peer <= *me
            || self.links.contains_key(&peer)
            || self.tab_peers.contains(&peer)
            || self.retry_at.contains_key(&peer)
        {
            return;
        }
        if let Some(link) = self.new_link(&peer, Role::Offerer, now) {
            out.push(MeshCommand::Offer { peer, link });
        }
    }

    fn offered(&mut self, from: PeerId, now: u64, out: &mut Vec<MeshCommand>) {
        let Some(me) = &self.me else { return };
        // Only from a peer the server put in our room and that we link to (a peer whose view of
        // the room is behind may want a link we do not: its offer times out, and it tries again
        // later), and only if it is its turn to offer.
        if !self.joined || !self.wanted.contains(&from) || self.tab_peers.contains(&from) {
            return;
        }
        if from >= *me {
            return;
        }
        // A new offer replaces whatever we had with that peer (it restarted the link).
        self.close(&from, None, out);
        if let Some(link) = self.new_link(&from, Role::Answerer, now) {
            out.push(MeshCommand::Answer { peer: from, link });
        }
    }

    fn new_link(&mut self, peer: &PeerId, role: Role, now: u64) -> Option<LinkId> {
        if self.links.len() >= self.policy.max_links {
            return None;
        }
        self.next_link += 1;
        let id = LinkId(self.next_link);
        self.links.insert(
            peer.clone(),
            LinkState {
                id,
                role,
                since: now,
                proof_sent: false,
                open: false,
            },
        );
        Some(id)
    }

    fn close(&mut self, peer: &PeerId, why: Option<LinkFailure>, out: &mut Vec<MeshCommand>) {
        if let Some(l) = self.links.remove(peer) {
            self.leaving.remove(peer);
            out.push(MeshCommand::Close {
                peer: peer.clone(),
                link: l.id,
                was_open: l.open,
                why,
            });
        }
    }

    fn close_all(&mut self, out: &mut Vec<MeshCommand>) {
        let peers: Vec<PeerId> = self.links.keys().cloned().collect();
        for peer in peers {
            self.close(&peer, None, out);
        }
    }

    /// A link broke: close it, and if that peer is still in the room and it is our turn to
    /// offer, try again after a while (the other side waits for our offer); each failure in a
    /// row doubles the wait.
    fn fail(&mut self, peer: &PeerId, why: LinkFailure, now: u64, out: &mut Vec<MeshCommand>) {
        self.close(peer, Some(why), out);
        if !self.room.contains(peer) {
            return;
        }
        let failures = self.failures.entry(peer.clone()).or_insert(0);
        *failures = failures.saturating_add(1);
        let exp = self
            .policy
            .retry_ms
            .saturating_mul(1 << (*failures - 1).min(10));
        let ours = self.me.as_ref().is_some_and(|me| me < peer);
        if ours && !self.retry_at.contains_key(peer) {
            let delay = self.jitter(exp.min(self.policy.max_retry_ms));
            self.retry_at
                .insert(peer.clone(), now.saturating_add(delay));
        }
    }

    /// Between half and the whole of `ms`.
    fn jitter(&mut self, ms: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let half = ms / 2;
        half + self.rng % (ms - half + 1)
    }
}

fn take_due(deadlines: &mut BTreeMap<PeerId, u64>, now: u64) -> Vec<PeerId> {
    let due: Vec<PeerId> = deadlines
        .iter()
        .filter(|(_, at)| **at <= now)
        .map(|(p, _)| p.clone())
        .collect();
    for p in &due {
        deadlines.remove(p);
    }
    due
}
