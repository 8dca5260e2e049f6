//! One held board's life on the network, as the browser's session lives it (app/src/session/):
//! the signaling socket (join, reconnect with jittered backoff, sealed relays), one WebRTC link
//! per remote peer (the lower peer id offers; a link that fails is retried with backoff by the
//! peer whose turn it is), and the engine, whose effects go out only once durable.
//!
//! The board is loaded when the first peer proves itself, and evicted once no peer has been
//! linked for a while and everything is stored: a peer holding thousands of boards keeps in
//! memory only those in use.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crdt::secure::{BoardKeys, Role, SealError, Sealer};
use crdt::session::PersistPolicy;
use crdt::{Effect, Event};
use signaling::protocol::{ClientMessage, ErrorCode, ServerMessage};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::error::{LinkError, SignalingError};
use crate::hosted::{Hosted, Turn};
use crate::ids::RemotePeer;
use crate::metrics::Metrics;
use crate::rtc_link::{self, LinkCommand, LinkEvent, LinkHandle, LinkSpec};
use crate::signal_client::{self, Ws, MAX_ROOM_PEERS};
use crate::store::{HeldBoard, Store};
use crdt::session::peer_signal::PeerSignal;

const RECONNECT_BASE_MS: u64 = 500;
const RECONNECT_CAP_MS: u64 = 30_000;
const PEER_RETRY_MS: u64 = 2_000;
const PEER_RETRY_CAP_MS: u64 = 60_000;
/// How long a peer that left signaling keeps its open link before we call it gone.
const LEAVE_GRACE: Duration = Duration::from_secs(3);
/// Reports taken from the links in one turn (their frames share one commit).
const BATCH: usize = 256;
/// Reports queued from all links of a room.
const REPORT_QUEUE: usize = 1024;

/// What every room of a process shares.
pub struct RoomContext {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub signaling_url: String,
    pub ice_ip: IpAddr,
    pub policy: PersistPolicy,
    /// A board no peer has been linked to for this long is dropped from memory.
    pub idle_evict: Duration,
}

struct LinkState {
    gen: u64,
    handle: LinkHandle,
    open: bool,
}

struct Room {
    held: HeldBoard,
    keys: BoardKeys,
    cx: Arc<RoomContext>,
    me: Option<RemotePeer>,
    sealer: Sealer,
    ws: Option<Ws>,
    room_peers: BTreeSet<RemotePeer>,
    links: HashMap<RemotePeer, LinkState>,
    next_gen: u64,
    reports: rtc_link::Reports,
    hosted: Option<Hosted>,
    /// The board's storage is damaged: it is not served (the error was logged).
    unservable: bool,
    engine_wake_ms: Option<u64>,
    idle_since: Option<Instant>,
    reconnect_at: Option<Instant>,
    reconnect_attempts: u32,
    retries: HashMap<RemotePeer, Instant>,
    failures: HashMap<RemotePeer, u32>,
    leaving: HashMap<RemotePeer, Instant>,
    /// This room's share of the `peers_behind` gauge.
    behind: i64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Between half and all of `ms`, so that peers that lost the server together do not return in
/// lockstep.
fn jitter(ms: u64) -> Duration {
    let mut b = [0u8; 4];
    let r = getrandom::fill(&mut b).map_or(0, |()| u32::from_le_bytes(b));
    let frac = f64::from(r) / f64::from(u32::MAX);
    Duration::from_millis((ms as f64 * (0.5 + frac / 2.0)) as u64)
}

enum Wake {
    Stop,
    Server(Result<ServerMessage, SignalingError>),
    Reports(Vec<(RemotePeer, u64, LinkEvent)>),
    Timer,
}

/// Run the room of `held` until `stop` says so.
pub async fn run(held: HeldBoard, cx: Arc<RoomContext>, mut stop: watch::Receiver<bool>) {
    let keys = held.secret.keys();
    let (reports, mut inbox) = mpsc::channel(REPORT_QUEUE);
    let mut room = Room {
        sealer: Sealer::new(&keys.seal, &keys.room_id, ""),
        keys,
        held,
        cx,
        me: None,
        ws: None,
        room_peers: BTreeSet::new(),
        links: HashMap::new(),
        next_gen: 0,
        reports,
        hosted: None,
        unservable: false,
        engine_wake_ms: None,
        idle_since: Some(Instant::now()),
        reconnect_at: Some(Instant::now()),
        reconnect_attempts: 0,
        retries: HashMap::new(),
        failures: HashMap::new(),
        leaving: HashMap::new(),
        behind: 0,
    };
    tracing::info!(board = %room.held.id, room = %room.keys.room_id, "holding board");
    loop {
        if *stop.borrow() {
            break;
        }
        let deadline = room.next_deadline();
        let wake = {
            let ws = &mut room.ws;
            tokio::select! {
                _ = stop.changed() => Wake::Stop,
                m = read_server(ws) => Wake::Server(m),
                first = inbox.recv() => match first {
                    None => Wake::Stop,
                    Some(first) => {
                        let mut batch = vec![first];
                        while batch.len() < BATCH {
                            match inbox.try_recv() {
                                Ok(r) => batch.push(r),
                                Err(_) => break,
                            }
                        }
                        Wake::Reports(batch)
                    }
                },
                _ = tokio::time::sleep_until(deadline) => Wake::Timer,
            }
        };
        match wake {
            Wake::Stop => break,
            Wake::Server(Ok(m)) => room.on_server(m).await,
            Wake::Server(Err(e)) => room.lost_server(&e),
            Wake::Reports(batch) => room.on_reports(batch).await,
            Wake::Timer => room.on_timers().await,
        }
    }
    room.close();
    tracing::info!(board = %room.held.id, "board released");
}

async fn read_server(ws: &mut Option<Ws>) -> Result<ServerMessage, SignalingError> {
    match ws {
        Some(ws) => signal_client::read(ws).await,
        None => std::future::pending().await,
    }
}

impl Room {
    fn next_deadline(&self) -> Instant {
        let now = Instant::now();
        let mut at = now + Duration::from_secs(5);
        let ms_to_instant = |ms: u64| now + Duration::from_millis(ms.saturating_sub(now_ms()));
        let candidates = [
            self.engine_wake_ms.map(ms_to_instant),
            self.hosted
                .as_ref()
                .and_then(Hosted::persist_wake_at)
                .map(ms_to_instant),
            self.reconnect_at,
            self.retries.values().min().copied(),
            self.leaving.values().min().copied(),
            self.idle_since.map(|t| t + self.cx.idle_evict),
        ];
        for c in candidates.into_iter().flatten() {
            at = at.min(c);
        }
        at
    }

    async fn on_timers(&mut self) {
        let now = Instant::now();
        if self.reconnect_at.is_some_and(|t| t <= now) {
            self.reconnect_at = None;
            self.connect().await;
        }
        if self.engine_wake_ms.is_some_and(|t| t <= now_ms()) {
            self.engine_wake_ms = None;
            self.engine(vec![Event::Tick]);
        }
        if let Some(h) = &mut self.hosted {
            if h.persist_wake_at().is_some_and(|t| t <= now_ms()) {
                if let Err(e) = h.persist(&self.cx.store, now_ms()) {
                    self.cx.metrics.store_errors.inc();
                    tracing::error!(board = %self.held.id, "cannot store: {e}");
                }
            }
        }
        let due: Vec<_> = self
            .retries
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(p, _)| p.clone())
            .collect();
        for peer in due {
            self.retries.remove(&peer);
            if self.room_peers.contains(&peer) {
                self.consider(peer).await;
            }
        }
        let gone: Vec<_> = self
            .leaving
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(p, _)| p.clone())
            .collect();
        for peer in gone {
            self.leaving.remove(&peer);
            if self.ws.is_some() && !self.room_peers.contains(&peer) {
                self.remove_link(&peer, "the peer left");
            }
        }
        self.maybe_evict();
    }

    fn maybe_evict(&mut self) {
        let Some(since) = self.idle_since else { return };
        if since.elapsed() < self.cx.idle_evict {
            return;
        }
        let Some(h) = &mut self.hosted else { return };
        if let Err(e) = h.persist(&self.cx.store, now_ms()) {
            tracing::error!(board = %self.held.id, "cannot store before eviction: {e}");
            return;
        }
        if h.is_saved() {
            tracing::debug!(board = %self.held.id, "evicted from memory (idle)");
            self.hosted = None;
            self.engine_wake_ms = None;
            self.cx.metrics.boards_loaded.dec();
        }
    }

    async fn connect(&mut self) {
        match signal_client::join(&self.cx.signaling_url, &self.keys).await {
            Ok((ws, welcome)) => {
                tracing::info!(board = %self.held.id, me = %welcome.me, peers = welcome.peers.len(), "joined the room");
                self.cx.metrics.rooms_joined.inc();
                self.reconnect_attempts = 0;
                self.ws = Some(ws);
                if self.me.as_ref() != Some(&welcome.me) {
                    // links made under an earlier id are no good: the other side forgets it
                    let peers: Vec<_> = self.links.keys().cloned().collect();
                    for p in peers {
                        self.remove_link(&p, "our peer id changed");
                    }
                    self.retries.clear();
                    self.failures.clear();
                    self.leaving.clear();
                    self.sealer =
                        Sealer::new(&self.keys.seal, &self.keys.room_id, welcome.me.as_str());
                    self.me = Some(welcome.me);
                }
                self.room_peers = welcome.peers.into_iter().collect();
                let peers: Vec<_> = self.room_peers.iter().cloned().collect();
                for p in peers {
                    self.consider(p).await;
                }
            }
            Err(e) => {
                tracing::warn!(board = %self.held.id, "signaling: {e}");
                self.schedule_reconnect();
            }
        }
    }

    fn schedule_reconnect(&mut self) {
        let exp = RECONNECT_BASE_MS.saturating_mul(1 << self.reconnect_attempts.min(16));
        self.reconnect_attempts = self.reconnect_attempts.saturating_add(1);
        self.reconnect_at = Some(Instant::now() + jitter(exp.min(RECONNECT_CAP_MS)));
    }

    fn lost_server(&mut self, e: &SignalingError) {
        tracing::warn!(board = %self.held.id, "signaling socket lost: {e}");
        if self.ws.take().is_some() {
            self.cx.metrics.rooms_joined.dec();
        }
        // open links keep syncing without the server
        self.leaving.clear();
        self.schedule_reconnect();
    }

    async fn send_server(&mut self, message: &ClientMessage) {
        let Some(ws) = &mut self.ws else { return };
        if let Err(e) = signal_client::send(ws, message).await {
            self.lost_server(&e);
        }
    }

    async fn send_signal(&mut self, peer: &RemotePeer, signal: &PeerSignal) {
        if self.me.is_none() || self.ws.is_none() {
            return;
        }
        let mut nonce = [0u8; 24];
        if let Err(e) = getrandom::fill(&mut nonce) {
            tracing::error!("no randomness for sealing: {e}");
            return;
        }
        let data = self
            .sealer
            .seal(peer.as_str(), signal.encode().as_bytes(), now_ms(), nonce);
        self.send_server(&ClientMessage::Signal {
            to: peer.as_str().to_owned(),
            data,
        })
        .await;
    }

    async fn on_server(&mut self, message: ServerMessage) {
        match message {
            ServerMessage::PeerJoined { peer } => {
                let Some(peer) = RemotePeer::parse(&peer) else {
                    return;
                };
                self.leaving.remove(&peer);
                if self.room_peers.len() < MAX_ROOM_PEERS {
                    self.room_peers.insert(peer.clone());
                    self.consider(peer).await;
                }
            }
            ServerMessage::PeerLeft { peer } => {
                let Some(peer) = RemotePeer::parse(&peer) else {
                    return;
                };
                self.room_peers.remove(&peer);
                self.retries.remove(&peer);
                self.failures.remove(&peer);
                match self.links.get(&peer) {
                    Some(l) if l.open => {
                        self.leaving.insert(peer, Instant::now() + LEAVE_GRACE);
                    }
                    Some(_) => self.remove_link(&peer, "the peer left"),
                    None => {}
                }
            }
            ServerMessage::Signal { from, data } => {
                let Some(from) = RemotePeer::parse(&from) else {
                    return;
                };
                if !self.room_peers.contains(&from) {
                    return;
                }
                match self.sealer.open(from.as_str(), &data, now_ms()) {
                    Ok(plain) => match PeerSignal::decode(&plain) {
                        Ok(signal) => self.on_signal(from, signal).await,
                        Err(e) => tracing::warn!(board = %self.held.id, "a bad signal: {e}"),
                    },
                    Err(e) => {
                        self.cx.metrics.sealed_refused.inc();
                        match e {
                            SealError::Forged
                            | SealError::Replayed
                            | SealError::Stale
                            | SealError::FromFuture => {
                                tracing::warn!(board = %self.held.id, "security: a signal refused: {e}")
                            }
                            _ => tracing::debug!(board = %self.held.id, "a signal refused: {e}"),
                        }
                    }
                }
            }
            ServerMessage::Error { code, message } => {
                let message: String = message.chars().take(200).collect();
                tracing::warn!(board = %self.held.id, "signaling server says {code:?}: {message}");
                if matches!(code, ErrorCode::BadProof | ErrorCode::ServerShuttingDown) {
                    self.lost_server(&SignalingError::Refused { code, message });
                }
            }
            ServerMessage::Challenge { .. } | ServerMessage::Welcome { .. } => {
                tracing::warn!(board = %self.held.id, "an unexpected {} from the server", signal_client::kind(&message));
            }
            ServerMessage::IceServers { .. } => {}
        }
    }

    /// A peer is in the room: link to it, unless we have a link or it is its turn to offer.
    async fn consider(&mut self, peer: RemotePeer) {
        let Some(me) = self.me.clone() else { return };
        if self.unservable || peer == me || self.links.contains_key(&peer) || me > peer {
            return;
        }
        self.start_link(peer, Role::Offerer, None).await;
    }

    async fn start_link(&mut self, peer: RemotePeer, role: Role, offer: Option<String>) {
        if self.links.len() >= crdt::engine::MAX_PEERS {
            tracing::warn!(board = %self.held.id, "too many peers, ignoring one more");
            return;
        }
        self.next_gen += 1;
        let gen = self.next_gen;
        let spec = LinkSpec {
            peer: peer.clone(),
            gen,
            role,
            auth: self.keys.auth,
            ip: self.cx.ice_ip,
            offer,
        };
        match rtc_link::start(spec, self.reports.clone()).await {
            Ok((handle, signal)) => {
                tracing::debug!(board = %self.held.id, %peer, gen, ?role, "link started");
                self.cx.metrics.links_pending.inc();
                self.links.insert(
                    peer.clone(),
                    LinkState {
                        gen,
                        handle,
                        open: false,
                    },
                );
                self.send_signal(&peer, &signal).await;
            }
            Err(e) => {
                tracing::warn!(board = %self.held.id, %peer, "cannot start a link: {e}");
                self.schedule_retry(&peer);
            }
        }
    }

    async fn on_signal(&mut self, from: RemotePeer, signal: PeerSignal) {
        let Some(me) = self.me.clone() else { return };
        match signal {
            PeerSignal::Offer { sdp } => {
                if me < from {
                    tracing::warn!(board = %self.held.id, "ignoring an offer from a peer that should answer");
                    return;
                }
                // a new offer replaces whatever we had with that peer
                self.remove_link(&from, "the peer offered again");
                self.start_link(from, Role::Answerer, Some(sdp)).await;
            }
            other => {
                if let Some(link) = self.links.get(&from) {
                    if link
                        .handle
                        .commands
                        .try_send(LinkCommand::Signal(other))
                        .is_err()
                    {
                        self.link_failed(&from, &LinkError::Backlog(0));
                    }
                }
            }
        }
    }

    async fn on_reports(&mut self, batch: Vec<(RemotePeer, u64, LinkEvent)>) {
        let mut events = Vec::new();
        for (peer, gen, event) in batch {
            if self.links.get(&peer).is_none_or(|l| l.gen != gen) {
                continue;
            }
            match event {
                LinkEvent::Signal(signal) => self.send_signal(&peer, &signal).await,
                LinkEvent::Frame(bytes) => {
                    self.cx.metrics.bytes_received.inc_by(bytes.len() as u64);
                    events.push(Event::Frame(peer.engine_id(), bytes));
                }
                LinkEvent::Proved => {
                    // the frames before it (none: a peer's frames follow its proof) go first
                    self.engine(std::mem::take(&mut events));
                    if !self.ensure_loaded() {
                        self.remove_link(&peer, "the board cannot be served");
                        continue;
                    }
                    if let Some(l) = self.links.get_mut(&peer) {
                        l.open = true;
                    }
                    self.cx.metrics.links_pending.dec();
                    self.cx.metrics.peers.inc();
                    self.failures.remove(&peer);
                    self.idle_since = None;
                    tracing::info!(board = %self.held.id, %peer, "peer proved the link; syncing");
                    events.push(Event::Connected(peer.engine_id()));
                }
                LinkEvent::Closed(why) => {
                    self.engine(std::mem::take(&mut events));
                    if matches!(why, LinkError::ProofFailed) {
                        self.cx.metrics.proof_failures.inc();
                        tracing::warn!(board = %self.held.id, %peer, "security: a peer could not prove it holds the link");
                    }
                    self.link_failed(&peer, &why);
                }
            }
        }
        self.engine(events);
    }

    /// Load the board if it is not in memory; `false` if it cannot be served.
    fn ensure_loaded(&mut self) -> bool {
        if self.hosted.is_some() {
            return true;
        }
        if self.unservable {
            return false;
        }
        match Hosted::load(&self.cx.store, &self.held.id, self.cx.policy) {
            Ok(h) => {
                tracing::debug!(board = %self.held.id, bytes = h.stored_bytes, "loaded");
                self.hosted = Some(h);
                self.cx.metrics.boards_loaded.inc();
                true
            }
            Err(e) => {
                tracing::error!(board = %self.held.id, "{e}");
                self.cx.metrics.store_errors.inc();
                self.cx.metrics.boards_failed.inc();
                self.unservable = true;
                false
            }
        }
    }

    /// Feed events to the engine and carry its effects out once its changes are stored.
    fn engine(&mut self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let Some(h) = &mut self.hosted else { return };
        let Turn {
            effects,
            store_error,
        } = h.handle_all(&self.cx.store, events, now_ms());
        if let Some(e) = store_error {
            self.cx.metrics.store_errors.inc();
            tracing::error!(board = %self.held.id, "cannot store; disconnecting every peer: {e}");
            let peers: Vec<_> = self.links.keys().cloned().collect();
            for p in peers {
                self.remove_link(&p, "storage failed");
            }
        }
        self.run_effects(effects);
        let behind = self
            .hosted
            .as_mut()
            .map_or(0, |h| h.peers_catching_up() as i64);
        self.cx.metrics.peers_behind.add(behind - self.behind);
        self.behind = behind;
    }

    fn run_effects(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send { peer, frame } => {
                    let Some(peer) = RemotePeer::parse(&peer) else {
                        continue;
                    };
                    let Some(link) = self.links.get(&peer) else {
                        continue;
                    };
                    let len = frame.len();
                    if link
                        .handle
                        .commands
                        .try_send(LinkCommand::Send(frame))
                        .is_err()
                    {
                        self.link_failed(&peer, &LinkError::Backlog(len));
                    } else {
                        self.cx.metrics.bytes_sent.inc_by(len as u64);
                    }
                }
                Effect::DocChanged => self.cx.metrics.store_writes.inc(),
                Effect::DropPeer { peer, reason } => {
                    self.cx.metrics.peers_dropped.inc();
                    tracing::warn!(board = %self.held.id, %peer, "dropping a peer that sent bad data: {reason}");
                    if let Some(peer) = RemotePeer::parse(&peer) {
                        // the engine already forgot it
                        if let Some(l) = self.links.remove(&peer) {
                            self.count_removed(&l);
                        }
                        self.schedule_retry(&peer);
                    }
                }
                Effect::WakeAt { at_ms } => self.engine_wake_ms = Some(at_ms),
            }
        }
    }

    fn count_removed(&mut self, l: &LinkState) {
        if l.open {
            self.cx.metrics.peers.dec();
        } else {
            self.cx.metrics.links_pending.dec();
        }
        if !self.links.values().any(|l| l.open) && self.idle_since.is_none() {
            self.idle_since = Some(Instant::now());
        }
    }

    /// Forget a peer's link (the engine forgets its session).
    fn remove_link(&mut self, peer: &RemotePeer, why: &str) {
        let Some(l) = self.links.remove(peer) else {
            return;
        };
        tracing::debug!(board = %self.held.id, %peer, "link removed: {why}");
        self.count_removed(&l);
        if l.open {
            if let Some(h) = &mut self.hosted {
                let _ = h.handle(
                    &self.cx.store,
                    Event::Disconnected(peer.engine_id()),
                    now_ms(),
                );
            }
        }
    }

    fn link_failed(&mut self, peer: &RemotePeer, why: &LinkError) {
        if !self.links.contains_key(peer) {
            return;
        }
        tracing::info!(board = %self.held.id, %peer, "link ended: {why}");
        self.remove_link(peer, "failed");
        self.schedule_retry(peer);
    }

    /// If it is our turn to offer, try that peer again later, twice as late after each failure.
    fn schedule_retry(&mut self, peer: &RemotePeer) {
        if !self.room_peers.contains(peer) || self.me.as_ref().is_none_or(|me| me > peer) {
            return;
        }
        let failures = self.failures.entry(peer.clone()).or_insert(0);
        *failures = failures.saturating_add(1);
        let delay = PEER_RETRY_MS.saturating_mul(1 << (*failures - 1).min(10));
        self.retries
            .entry(peer.clone())
            .or_insert_with(|| Instant::now() + jitter(delay.min(PEER_RETRY_CAP_MS)));
    }

    fn close(&mut self) {
        let peers: Vec<_> = self.links.keys().cloned().collect();
        for p in peers {
            self.remove_link(&p, "shutting down");
        }
        if let Some(h) = &mut self.hosted {
            if let Err(e) = h.persist(&self.cx.store, now_ms()) {
                tracing::error!(board = %self.held.id, "cannot store on shutdown: {e}");
            }
            self.cx.metrics.boards_loaded.dec();
        }
        self.hosted = None;
        if self.ws.take().is_some() {
            self.cx.metrics.rooms_joined.dec();
        }
        if self.unservable {
            self.cx.metrics.boards_failed.dec();
        }
        self.cx.metrics.peers_behind.sub(self.behind);
        self.behind = 0;
    }
}
