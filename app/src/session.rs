//! The browser side of one open board: the sync engine, the signaling socket and one peer link per
//! remote peer.
//!
//! JS callbacks never touch the state directly: they [`dispatch`] an [`Input`] into a bounded
//! queue that is drained in order, so a callback that fires while another input is being handled
//! waits its turn instead of hitting a `RefCell` that is already borrowed. Sync decisions belong to
//! `crdt::Engine`; this file only carries its effects out (send on a channel, re-render).
//! Callbacks hold a `Weak` to the session, so dropping the session drops every socket, peer
//! connection, channel, timer and closure it owns.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::rc::{Rc, Weak};

use crdt::engine::MAX_PEERS;
use crdt::secure::{proof, BoardKeys, Role, SealError, Sealer};
use crdt::{Board, BoardError, BoardSecret, Effect, Engine, Event, PeerId};
use leptos::prelude::*;
use signaling::protocol::{ClientMessage, ErrorCode, IceServer, ServerMessage, PROTOCOL_VERSION};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;

use crate::browser::broadcast::Broadcast;
use crate::browser::data_channel::{ChannelEvent, DataChannel};
use crate::browser::peer_connection::{self, PeerConnection, PeerEvent};
use crate::browser::timer::Timeout;
use crate::browser::websocket::{Socket, SocketEvent};
use crate::browser::{self, warn};
use crate::peer_signal::{Candidate, PeerSignal};
use crate::storage::{self, BoardRecord, StorageError, Store};
use crate::tabs::TabMessage;
use crate::ui_state::{ConnStatus, SaveState, Ui};

/// Inputs waiting to be handled; more than this means something is flooding us.
const MAX_QUEUE: usize = 4096;
/// ICE candidates kept for a peer whose description has not arrived yet.
const MAX_PENDING_CANDIDATES: usize = 64;
/// Peers the server may announce in one room before we stop listening to it.
const MAX_ROOM_PEERS: usize = 256;
/// Other tabs of this profile we keep track of.
const MAX_TABS: usize = 64;
const RECONNECT_BASE_MS: f64 = 500.0;
const RECONNECT_CAP_MS: f64 = 30_000.0;
const PEER_RETRY_MS: f64 = 2_000.0;
/// How long a peer that left signaling keeps its open channel before we call it gone.
const LEAVE_GRACE_MS: u32 = 3_000;
/// Compact a board's chunks into one snapshot once there are this many, or this many bytes.
const COMPACT_AFTER_CHUNKS: usize = 64;
const COMPACT_AFTER_BYTES: usize = 1 << 20;
const SAVE_RETRY_MS: f64 = 3_000.0;

pub type Edit = Box<dyn FnOnce(&mut Board) -> Result<(), BoardError>>;

pub enum Input {
    Socket(SocketEvent),
    Reconnect,
    Peer(PeerId, u64, PeerEvent),
    Channel(PeerId, u64, ChannelEvent),
    /// Our offer or answer is ready to be sent (or failed).
    Described(PeerId, u64, Result<PeerSignal, String>),
    /// The remote answer was applied (or failed).
    RemoteSet(PeerId, u64, Result<(), String>),
    RetryPeer(PeerId),
    /// A peer left signaling a while ago and has not come back.
    PeerGone(PeerId),
    Edit(Edit),
    /// The board's stored chunks were read (or storage could not be opened).
    Loaded(Result<(Rc<Store>, Vec<Chunk>), StorageError>),
    /// A write finished; `compacted` if it replaced the chunks written before it.
    Saved {
        key: JsValue,
        len: usize,
        compacted: bool,
        result: Result<(), StorageError>,
    },
    RetrySave,
    /// Another tab of this profile said something about this board.
    Tab(Vec<u8>),
    /// The user's "work offline" switch.
    SetOffline(bool),
}

/// A stored chunk: its key and its bytes (`None` if the record was not bytes).
pub type Chunk = (JsValue, Option<Vec<u8>>);

/// Where the board stands with IndexedDB.
#[derive(Default)]
struct Persist {
    store: Option<Rc<Store>>,
    loaded: bool,
    /// The document has changes not yet handed to a write.
    dirty: bool,
    writing: bool,
    /// The last write failed: the next one saves the whole document.
    resave_all: bool,
    /// Keys of the chunks this page loaded or wrote: what a compaction may replace.
    keys: Vec<JsValue>,
    bytes: usize,
    writer: String,
    counter: u32,
    error: Option<String>,
    retry: Option<Timeout>,
}

/// One session's state and its input queue.
pub struct SessionCell {
    state: RefCell<Session>,
    queue: RefCell<VecDeque<Input>>,
}

/// Feed one input to the session and handle everything queued, unless a handler further up the
/// stack is already doing so.
pub fn dispatch(cell: &Rc<SessionCell>, input: Input) {
    {
        let mut queue = cell.queue.borrow_mut();
        if queue.len() >= MAX_QUEUE {
            warn("meshboard: input queue full, dropping an event");
            return;
        }
        queue.push_back(input);
    }
    let Ok(mut state) = cell.state.try_borrow_mut() else {
        return;
    };
    loop {
        let next = cell.queue.borrow_mut().pop_front();
        let Some(input) = next else { break };
        state.on_input(input);
    }
    let update = state.ui_update();
    drop(state);
    // Signals are set only once the state is no longer borrowed.
    update.apply();
}

fn dispatch_weak(weak: &Weak<SessionCell>, input: Input) {
    if let Some(cell) = weak.upgrade() {
        dispatch(&cell, input);
    }
}

struct Link {
    gen: u64,
    role: Role,
    pc: PeerConnection,
    channel: Option<DataChannel>,
    /// Our proof went out (a channel can report "open" twice: on announcement and as an event).
    proved: bool,
    /// The peer proved over this channel that it holds the board's key: board data may flow.
    open: bool,
    pending: Vec<Candidate>,
}

pub struct Session {
    engine: Engine,
    me: PeerId,
    room: String,
    secret: String,
    keys: BoardKeys,
    sealer: Sealer,
    /// Something an honest peer or server would never do was seen: shown in `security-warning`.
    security: Option<String>,
    ws_url: String,
    persist: Persist,
    ui: Ui,
    socket: Option<Socket>,
    joined: bool,
    ice_servers: Vec<IceServer>,
    room_peers: BTreeSet<PeerId>,
    links: HashMap<PeerId, Link>,
    next_gen: u64,
    reconnect: Option<Timeout>,
    reconnect_attempts: u32,
    retries: HashMap<PeerId, Timeout>,
    leaving: HashMap<PeerId, Timeout>,
    view_dirty: bool,
    fatal: Option<String>,
    /// Networking paused by the user: no signaling, no peer connections.
    offline: bool,
    tabs: Option<Broadcast>,
    /// Peer ids of this profile's other tabs on this board: never connected to, never counted.
    local_tabs: BTreeSet<PeerId>,
    /// Heads already posted to the other tabs.
    tab_heads: Vec<crdt::automerge::ChangeHash>,
    weak: Weak<SessionCell>,
}

/// What the UI should show after a batch of inputs.
pub struct UiUpdate {
    ui: Ui,
    view: Option<crdt::BoardView>,
    status: ConnStatus,
    peers: usize,
    fatal: Option<String>,
    loaded: bool,
    save: SaveState,
    storage_error: Option<String>,
    security: Option<String>,
}

impl UiUpdate {
    fn apply(self) {
        if let Some(view) = self.view {
            self.ui.board.set(view);
        }
        if self.ui.status.get_untracked() != self.status {
            self.ui.status.set(self.status);
        }
        if self.ui.peers.get_untracked() != self.peers {
            self.ui.peers.set(self.peers);
        }
        if self.fatal.is_some() && self.ui.fatal.get_untracked() != self.fatal {
            self.ui.fatal.set(self.fatal);
        }
        if self.ui.loaded.get_untracked() != self.loaded {
            self.ui.loaded.set(self.loaded);
        }
        if self.ui.save.get_untracked() != self.save {
            self.ui.save.set(self.save);
        }
        if self.ui.storage_error.get_untracked() != self.storage_error {
            self.ui.storage_error.set(self.storage_error);
        }
        if self.security.is_some() && self.ui.security.get_untracked() != self.security {
            self.ui.security.set(self.security);
        }
    }
}

fn jitter(ms: f64) -> u32 {
    // between half and the full delay, so that peers that lost the server together do not
    // come back in lockstep
    (ms * (0.5 + js_sys::Math::random() / 2.0)) as u32
}

fn signaling_url() -> Result<String, String> {
    let location = web_sys::window().ok_or("no window")?.location();
    let protocol = location.protocol().map_err(|e| browser::describe(&e))?;
    let host = location.host().map_err(|e| browser::describe(&e))?;
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    Ok(format!("{scheme}://{host}/ws"))
}

fn random_id() -> Result<String, String> {
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(browser::random::bytes::<16>()?))
}

impl SessionCell {
    /// Open the board named by `secret`: an empty board that fills in as peers are found.
    pub fn start(secret: &BoardSecret, ui: Ui) -> Result<Rc<SessionCell>, String> {
        let actor = crdt::automerge::ActorId::from(browser::random::bytes::<16>()?);
        let board = Board::new(actor).map_err(|e| e.to_string())?;
        let me = random_id()?;
        let keys = secret.keys();
        let sealer = Sealer::new(&keys.seal, &keys.room_id, &me);
        let cell = Rc::new_cyclic(|weak| SessionCell {
            state: RefCell::new(Session {
                engine: Engine::new(board),
                persist: Persist {
                    writer: me.clone(),
                    ..Persist::default()
                },
                me,
                room: keys.room_id.clone(),
                secret: secret.to_fragment(),
                keys,
                sealer,
                security: None,
                ws_url: String::new(),
                ui,
                socket: None,
                joined: false,
                ice_servers: Vec::new(),
                room_peers: BTreeSet::new(),
                links: HashMap::new(),
                next_gen: 0,
                reconnect: None,
                reconnect_attempts: 0,
                retries: HashMap::new(),
                leaving: HashMap::new(),
                view_dirty: true,
                fatal: None,
                offline: false,
                tabs: None,
                local_tabs: BTreeSet::new(),
                tab_heads: Vec::new(),
                weak: weak.clone(),
            }),
            queue: RefCell::new(VecDeque::new()),
        });
        {
            let mut s = cell.state.try_borrow_mut().map_err(|e| e.to_string())?;
            s.ws_url = signaling_url()?;
            let room = s.room.clone();
            let weak = s.weak.clone();
            let tab_weak = weak.clone();
            match Broadcast::open(&format!("meshboard:{room}"), move |m| {
                dispatch_weak(&tab_weak, Input::Tab(m))
            }) {
                Ok(tabs) => {
                    let _ = tabs.post(&TabMessage::Hello(s.me.clone()).encode());
                    s.tabs = Some(tabs);
                }
                Err(e) => warn(&format!("meshboard: no sync between tabs: {e}")),
            }
            // The board comes from IndexedDB first; the network starts once it is loaded.
            spawn_local(async move {
                let loaded = async {
                    let store = Store::open().await?;
                    let chunks = store.load(&room).await?;
                    Ok((Rc::new(store), chunks))
                };
                let result = loaded.await;
                dispatch_weak(&weak, Input::Loaded(result));
            });
        }
        Ok(cell)
    }

    /// Close everything: socket, peers, timers. The board page calls this when it goes away.
    pub fn shutdown(&self) {
        self.queue.borrow_mut().clear();
        if let Ok(mut s) = self.state.try_borrow_mut() {
            s.reconnect = None;
            s.persist.retry = None;
            s.retries.clear();
            s.leaving.clear();
            s.links.clear();
            s.socket = None;
            if let Some(tabs) = s.tabs.take() {
                let _ = tabs.post(&TabMessage::Bye(s.me.clone()).encode());
            }
        }
    }
}

impl Session {
    fn ui_update(&mut self) -> UiUpdate {
        let view = std::mem::take(&mut self.view_dirty).then(|| self.engine.board().view());
        let status = if self.offline {
            ConnStatus::Offline
        } else if self.joined {
            ConnStatus::Online
        } else if self.socket.is_some() {
            ConnStatus::Connecting
        } else {
            ConnStatus::Offline
        };
        UiUpdate {
            ui: self.ui,
            view,
            status,
            peers: self.links.values().filter(|l| l.open).count(),
            fatal: self.fatal.clone(),
            loaded: self.persist.loaded,
            save: match (
                &self.persist.error,
                self.persist.dirty || self.persist.writing,
            ) {
                (Some(_), _) => SaveState::Failed,
                (None, true) => SaveState::Saving,
                (None, false) => SaveState::Saved,
            },
            storage_error: self.persist.error.clone(),
            security: self.security.clone(),
        }
    }

    fn on_input(&mut self, input: Input) {
        self.handle_input(input);
        self.maybe_write();
        self.maybe_post_to_tabs();
    }

    fn handle_input(&mut self, input: Input) {
        match input {
            Input::Loaded(result) => self.on_loaded(result),
            Input::Saved {
                key,
                len,
                compacted,
                result,
            } => self.on_saved(key, len, compacted, result),
            Input::Tab(bytes) => self.on_tab(bytes),
            Input::SetOffline(offline) => self.set_offline(offline),
            Input::RetrySave => {
                self.persist.retry = None;
                self.persist.dirty = true;
            }
            Input::Socket(event) => self.on_socket(event),
            Input::Reconnect => {
                self.reconnect = None;
                self.connect();
            }
            Input::Peer(peer, gen, event) => self.on_peer(peer, gen, event),
            Input::Channel(peer, gen, event) => self.on_channel(peer, gen, event),
            Input::Described(peer, gen, result) => {
                if self.links.get(&peer).is_none_or(|l| l.gen != gen) {
                    return;
                }
                match result {
                    Ok(signal) => {
                        let answered = matches!(signal, PeerSignal::Answer { .. });
                        self.send_signal(&peer, &signal);
                        if answered {
                            self.flush_candidates(&peer);
                        }
                    }
                    Err(e) => self.link_failed(&peer, &format!("negotiation failed: {e}")),
                }
            }
            Input::RemoteSet(peer, gen, result) => {
                if self.links.get(&peer).is_none_or(|l| l.gen != gen) {
                    return;
                }
                match result {
                    Ok(()) => self.flush_candidates(&peer),
                    Err(e) => self.link_failed(&peer, &format!("bad answer: {e}")),
                }
            }
            Input::PeerGone(peer) => {
                self.leaving.remove(&peer);
                // Only the server can tell; if we lost it too, keep the channel.
                if self.joined && !self.room_peers.contains(&peer) {
                    self.link_failed(&peer, "the peer left");
                }
            }
            Input::RetryPeer(peer) => {
                self.retries.remove(&peer);
                if self.room_peers.contains(&peer) {
                    self.consider(peer);
                }
            }
            Input::Edit(edit) => {
                if let Err(e) = edit(self.engine.board_mut()) {
                    warn(&format!("meshboard: edit failed: {e}"));
                }
                let effects = self.engine.handle(Event::LocalChange, browser::now_ms());
                self.run(effects);
            }
        }
    }

    // ----- storage -----

    fn on_loaded(&mut self, result: Result<(Rc<Store>, Vec<Chunk>), StorageError>) {
        match result {
            Ok((store, chunks)) => {
                let had_edits = self.persist.dirty;
                let mut skipped = 0;
                let doc = self.engine.board_mut().doc_mut();
                for (key, bytes) in chunks {
                    let bytes = bytes.filter(|b| crdt::saved::well_formed(b));
                    match bytes.map(|b| doc.load_incremental(&b).map(|_| b.len())) {
                        Some(Ok(len)) => {
                            self.persist.keys.push(key);
                            self.persist.bytes += len;
                        }
                        _ => skipped += 1,
                    }
                }
                if skipped > 0 {
                    warn(&format!(
                        "meshboard: skipped {skipped} damaged saved piece(s) of this board"
                    ));
                    self.persist.error = Some(format!(
                        "{skipped} damaged saved piece(s) of this board could not be read and were skipped; the rest loaded."
                    ));
                }
                if self.persist.keys.is_empty() || had_edits {
                    // a board new to this browser is saved at once, so that it is listed
                    self.persist.dirty = true;
                } else {
                    // what was just loaded is already stored: start incremental saves from here
                    let _ = self.engine.board_mut().doc_mut().save_incremental();
                }
                self.persist.store = Some(store);
                self.view_dirty = true;
            }
            Err(e) => {
                warn(&format!("meshboard: {e}"));
                self.persist.error = Some(format!(
                    "{e}. Edits are kept in this tab only until storage works again."
                ));
            }
        }
        self.persist.loaded = true;
        self.connect();
    }

    /// Hand the document's unsaved changes to IndexedDB, one write at a time: edits made while
    /// a write is running go into the next one.
    fn maybe_write(&mut self) {
        let p = &mut self.persist;
        if !p.loaded || !p.dirty || p.writing || p.retry.is_some() {
            return;
        }
        let Some(store) = p.store.clone() else { return };
        p.dirty = false;
        let compact =
            p.resave_all || p.keys.len() >= COMPACT_AFTER_CHUNKS || p.bytes >= COMPACT_AFTER_BYTES;
        let doc = self.engine.board_mut().doc_mut();
        let bytes = if compact {
            doc.save()
        } else {
            doc.save_incremental()
        };
        if bytes.is_empty() {
            return;
        }
        p.writing = true;
        p.counter += 1;
        let key = storage::chunk_key(&self.room, &p.writer, p.counter);
        let replaces = if compact { p.keys.clone() } else { Vec::new() };
        let record = BoardRecord {
            room: self.room.clone(),
            secret: self.secret.clone(),
            title: self.engine.board().title(),
            updated_ms: browser::now_ms() as f64,
        };
        let weak = self.weak.clone();
        spawn_local(async move {
            let result = if compact {
                store.compact(&record, &replaces, &key, &bytes).await
            } else {
                store.append(&record, &key, &bytes).await
            };
            dispatch_weak(
                &weak,
                Input::Saved {
                    key,
                    len: bytes.len(),
                    compacted: compact,
                    result,
                },
            );
        });
    }

    fn on_saved(
        &mut self,
        key: JsValue,
        len: usize,
        compacted: bool,
        result: Result<(), StorageError>,
    ) {
        let p = &mut self.persist;
        p.writing = false;
        match result {
            Ok(()) => {
                if compacted {
                    p.keys.clear();
                    p.bytes = 0;
                    p.resave_all = false;
                }
                p.keys.push(key);
                p.bytes += len;
                p.error = None;
            }
            Err(e) => {
                // What that write held is no longer "unsaved" to Automerge: save everything next.
                warn(&format!("meshboard: {e}"));
                p.error = Some(format!(
                    "{e}. Your edits are kept in this tab; saving is retried."
                ));
                p.resave_all = true;
                p.dirty = true;
                let weak = self.weak.clone();
                p.retry = Timeout::new(jitter(SAVE_RETRY_MS), move || {
                    dispatch_weak(&weak, Input::RetrySave)
                })
                .ok();
            }
        }
    }

    // ----- other tabs -----

    fn on_tab(&mut self, bytes: Vec<u8>) {
        let Some(message) = TabMessage::decode(&bytes) else {
            warn("meshboard: ignoring an unreadable message from another tab");
            return;
        };
        match message {
            TabMessage::Hello(tab) => {
                self.add_tab(tab);
                self.post_to_tabs(&TabMessage::Here(self.me.clone()));
                let everything = self.engine.board_mut().doc_mut().save_after(&[]);
                self.post_to_tabs(&TabMessage::Changes(everything));
            }
            TabMessage::Here(tab) => self.add_tab(tab),
            TabMessage::Bye(tab) => {
                self.local_tabs.remove(&tab);
            }
            TabMessage::Changes(changes) => {
                let before = self.engine.board_mut().heads();
                if let Err(e) = self.engine.board_mut().doc_mut().load_incremental(&changes) {
                    warn(&format!(
                        "meshboard: ignoring bad changes from another tab: {e}"
                    ));
                    return;
                }
                if self.engine.board_mut().heads() != before {
                    // Re-render and persist. Remote peers get these changes from the tab that
                    // made them (every tab has its own connections), and from us with the next
                    // sync round.
                    self.run(vec![Effect::DocChanged]);
                }
            }
        }
    }

    /// A tab of this profile is not a remote peer: never connect to it or count it.
    fn add_tab(&mut self, tab: PeerId) {
        if tab != self.me && self.local_tabs.len() < MAX_TABS {
            self.remove_link(&tab);
            self.local_tabs.insert(tab);
        }
    }

    fn post_to_tabs(&self, message: &TabMessage) {
        if let Some(tabs) = &self.tabs {
            if let Err(e) = tabs.post(&message.encode()) {
                warn(&format!("meshboard: cannot reach other tabs: {e}"));
            }
        }
    }

    /// Send other tabs whatever changed since we last told them.
    fn maybe_post_to_tabs(&mut self) {
        if self.tabs.is_none() || !self.persist.loaded {
            return;
        }
        let heads = self.engine.board_mut().heads();
        if heads == self.tab_heads {
            return;
        }
        let changes = self
            .engine
            .board_mut()
            .doc_mut()
            .save_after(&self.tab_heads);
        self.tab_heads = heads;
        if !changes.is_empty() {
            self.post_to_tabs(&TabMessage::Changes(changes));
        }
    }

    // ----- offline switch -----

    fn set_offline(&mut self, offline: bool) {
        if offline == self.offline {
            return;
        }
        self.offline = offline;
        if offline {
            self.reconnect = None;
            self.retries.clear();
            self.leaving.clear();
            let peers: Vec<PeerId> = self.links.keys().cloned().collect();
            for peer in peers {
                self.remove_link(&peer);
            }
            self.room_peers.clear();
            self.socket = None;
            self.joined = false;
        } else if self.persist.loaded {
            self.reconnect_attempts = 0;
            self.connect();
        }
    }

    // ----- signaling -----

    fn connect(&mut self) {
        if self.offline {
            return;
        }
        let weak = self.weak.clone();
        match Socket::connect(&self.ws_url, move |e| {
            dispatch_weak(&weak, Input::Socket(e))
        }) {
            Ok(socket) => self.socket = Some(socket),
            Err(e) => {
                warn(&format!("meshboard: cannot open the signaling socket: {e}"));
                self.schedule_reconnect();
            }
        }
    }

    fn schedule_reconnect(&mut self) {
        if self.offline {
            return;
        }
        let exp = RECONNECT_BASE_MS * 2f64.powi(self.reconnect_attempts.min(16) as i32);
        self.reconnect_attempts = self.reconnect_attempts.saturating_add(1);
        let weak = self.weak.clone();
        self.reconnect = Timeout::new(jitter(exp.min(RECONNECT_CAP_MS)), move || {
            dispatch_weak(&weak, Input::Reconnect)
        })
        .map_err(|e| warn(&format!("meshboard: no timer: {e}")))
        .ok();
    }

    fn send_server(&self, message: &ClientMessage) {
        let Some(socket) = &self.socket else { return };
        match serde_json::to_string(message) {
            Ok(text) => {
                if let Err(e) = socket.send(&text) {
                    warn(&format!("meshboard: signaling send failed: {e}"));
                }
            }
            Err(e) => warn(&format!(
                "meshboard: cannot encode a signaling message: {e}"
            )),
        }
    }

    /// Seal a signal for `peer` and relay it through the server.
    fn send_signal(&self, peer: &PeerId, signal: &PeerSignal) {
        if !self.joined {
            return;
        }
        let nonce = match browser::random::bytes::<24>() {
            Ok(n) => n,
            Err(e) => return warn(&format!("meshboard: no randomness for sealing: {e}")),
        };
        let data = self
            .sealer
            .seal(peer, signal.encode().as_bytes(), browser::now_ms(), nonce);
        self.send_server(&ClientMessage::Signal {
            to: peer.clone(),
            data,
        });
    }

    fn security_problem(&mut self, what: &str) {
        warn(&format!("meshboard: security: {what}"));
        self.security = Some(format!(
            "{what} Someone may be interfering with this board's connections; nothing they sent was used."
        ));
    }

    fn on_socket(&mut self, event: SocketEvent) {
        match event {
            SocketEvent::Open => {
                let join = ClientMessage::Join {
                    version: PROTOCOL_VERSION,
                    room: self.room.clone(),
                    peer: self.me.clone(),
                };
                self.send_server(&join);
            }
            SocketEvent::Closed => {
                // Open data channels keep syncing without the server. "Peer left" notices sent
                // as the server went down say nothing about the peers themselves.
                self.leaving.clear();
                self.socket = None;
                self.joined = false;
                self.schedule_reconnect();
            }
            SocketEvent::Text(text) => match serde_json::from_str::<ServerMessage>(&text) {
                Ok(message) => self.on_server(message),
                Err(e) => warn(&format!(
                    "meshboard: unreadable message from the signaling server: {e}"
                )),
            },
        }
    }

    fn on_server(&mut self, message: ServerMessage) {
        match message {
            ServerMessage::Welcome {
                peers, ice_servers, ..
            } => {
                self.joined = true;
                self.reconnect_attempts = 0;
                self.ice_servers = ice_servers;
                self.room_peers = peers.into_iter().take(MAX_ROOM_PEERS).collect();
                let peers: Vec<PeerId> = self.room_peers.iter().cloned().collect();
                for peer in peers {
                    self.consider(peer);
                }
            }
            ServerMessage::PeerJoined { peer } => {
                self.leaving.remove(&peer);
                if self.room_peers.len() < MAX_ROOM_PEERS {
                    self.room_peers.insert(peer.clone());
                    self.consider(peer);
                }
            }
            ServerMessage::PeerLeft { peer } => {
                // The peer left signaling, which is not the same as leaving the board: an open
                // data channel keeps syncing (and says so itself when the peer really goes).
                self.room_peers.remove(&peer);
                self.retries.remove(&peer);
                match self.links.get(&peer) {
                    Some(link) if link.open => {
                        // A page that closes does not always close its channel in time; if the
                        // peer does not come back to a server we are still connected to, it is gone.
                        let (weak, p) = (self.weak.clone(), peer.clone());
                        if let Ok(t) = Timeout::new(LEAVE_GRACE_MS, move || {
                            dispatch_weak(&weak, Input::PeerGone(p))
                        }) {
                            self.leaving.insert(peer, t);
                        }
                    }
                    Some(_) => self.remove_link(&peer),
                    None => {}
                }
            }
            ServerMessage::Signal { from, data } => {
                match self.sealer.open(&from, &data, browser::now_ms()) {
                    Ok(plain) => match std::str::from_utf8(&plain)
                        .map_err(|e| e.to_string())
                        .and_then(PeerSignal::decode)
                    {
                        Ok(signal) => self.on_signal(from, signal),
                        Err(e) => warn(&format!(
                            "meshboard: ignoring a bad signal from a peer: {e}"
                        )),
                    },
                    Err(SealError::Forged) => self.security_problem(
                        "A connection message did not come from anyone holding this board's link.",
                    ),
                    Err(e @ (SealError::Replayed | SealError::Stale | SealError::FromFuture)) => {
                        self.security_problem(&format!(
                            "An old connection message was played again ({e})."
                        ))
                    }
                    Err(e) => warn(&format!("meshboard: ignoring a signal: {e}")),
                }
            }
            ServerMessage::Error { code, message } => {
                warn(&format!(
                    "meshboard: signaling server says {code:?}: {message}"
                ));
                if code == ErrorCode::VersionMismatch {
                    self.fatal = Some(
                        "This page is older than the server. Reload to update Meshboard.".into(),
                    );
                }
            }
        }
    }

    // ----- peers -----

    fn peer_callbacks(&self, peer: &PeerId, gen: u64) -> impl Fn(PeerEvent) + 'static {
        let (weak, peer) = (self.weak.clone(), peer.clone());
        move |e| dispatch_weak(&weak, Input::Peer(peer.clone(), gen, e))
    }

    fn channel_callbacks(&self, peer: &PeerId, gen: u64) -> impl Fn(ChannelEvent) + 'static {
        let (weak, peer) = (self.weak.clone(), peer.clone());
        move |e| dispatch_weak(&weak, Input::Channel(peer.clone(), gen, e))
    }

    fn new_link(&mut self, peer: &PeerId, role: Role) -> Option<u64> {
        if self.links.len() >= MAX_PEERS {
            warn("meshboard: too many peers, ignoring one more");
            return None;
        }
        self.next_gen += 1;
        let gen = self.next_gen;
        match PeerConnection::new(&self.ice_servers, self.peer_callbacks(peer, gen)) {
            Ok(pc) => {
                self.links.insert(
                    peer.clone(),
                    Link {
                        gen,
                        role,
                        pc,
                        channel: None,
                        proved: false,
                        open: false,
                        pending: Vec::new(),
                    },
                );
                Some(gen)
            }
            Err(e) => {
                warn(&format!("meshboard: cannot create a peer connection: {e}"));
                None
            }
        }
    }

    /// A peer is in the room: connect, unless we already are or it is its turn to offer. The
    /// peer with the lower id always offers, so two peers never offer to each other at once.
    fn consider(&mut self, peer: PeerId) {
        if peer == self.me
            || self.links.contains_key(&peer)
            || self.me > peer
            || self.local_tabs.contains(&peer)
        {
            return;
        }
        let Some(gen) = self.new_link(&peer, Role::Offerer) else {
            return;
        };
        let on_channel = self.channel_callbacks(&peer, gen);
        let Some(link) = self.links.get_mut(&peer) else {
            return;
        };
        link.channel = Some(DataChannel::new(
            link.pc.create_channel("board"),
            on_channel,
        ));
        let pc = link.pc.handle();
        let weak = self.weak.clone();
        spawn_local(async move {
            let result = peer_connection::make_offer(pc)
                .await
                .map(|sdp| PeerSignal::Offer { sdp });
            dispatch_weak(&weak, Input::Described(peer, gen, result));
        });
    }

    fn on_signal(&mut self, from: PeerId, signal: PeerSignal) {
        if !self.room_peers.contains(&from) || self.local_tabs.contains(&from) {
            return;
        }
        match signal {
            PeerSignal::Offer { sdp } => {
                if self.me < from {
                    warn("meshboard: ignoring an offer from a peer that should answer");
                    return;
                }
                // A new offer replaces whatever we had with that peer (it restarted the link).
                self.remove_link(&from);
                let Some(gen) = self.new_link(&from, Role::Answerer) else {
                    return;
                };
                let Some(link) = self.links.get(&from) else {
                    return;
                };
                let pc = link.pc.handle();
                let weak = self.weak.clone();
                spawn_local(async move {
                    let result = peer_connection::answer_offer(pc, sdp)
                        .await
                        .map(|sdp| PeerSignal::Answer { sdp });
                    dispatch_weak(&weak, Input::Described(from, gen, result));
                });
            }
            PeerSignal::Answer { sdp } => {
                let Some(link) = self.links.get(&from) else {
                    return;
                };
                let (pc, gen) = (link.pc.handle(), link.gen);
                let weak = self.weak.clone();
                spawn_local(async move {
                    let result = peer_connection::accept_answer(pc, sdp).await;
                    dispatch_weak(&weak, Input::RemoteSet(from, gen, result));
                });
            }
            PeerSignal::Candidate(candidate) => {
                let Some(link) = self.links.get_mut(&from) else {
                    return;
                };
                if link.pc.has_remote_description() {
                    add_candidate(&link.pc, candidate);
                } else if link.pending.len() < MAX_PENDING_CANDIDATES {
                    link.pending.push(candidate);
                }
            }
        }
    }

    fn flush_candidates(&mut self, peer: &PeerId) {
        let Some(link) = self.links.get_mut(peer) else {
            return;
        };
        for candidate in std::mem::take(&mut link.pending) {
            add_candidate(&link.pc, candidate);
        }
    }

    fn on_peer(&mut self, peer: PeerId, gen: u64, event: PeerEvent) {
        if self.links.get(&peer).is_none_or(|l| l.gen != gen) {
            return;
        }
        match event {
            PeerEvent::IceCandidate(c) => self.send_signal(&peer, &PeerSignal::Candidate(c)),
            PeerEvent::DataChannel(channel) => {
                let on_channel = self.channel_callbacks(&peer, gen);
                let Some(link) = self.links.get_mut(&peer) else {
                    return;
                };
                if link.channel.is_some() {
                    return; // one channel per peer
                }
                let channel = DataChannel::new(channel, on_channel);
                let already_open = channel.is_open();
                link.channel = Some(channel);
                if already_open {
                    self.on_channel(peer, gen, ChannelEvent::Open);
                }
            }
            PeerEvent::Failed => self.link_failed(&peer, "connection failed"),
        }
    }

    /// The DTLS fingerprints of a link: ours (local description) and the peer's (remote).
    fn fingerprints(link: &Link) -> Option<(String, String)> {
        let own = proof::fingerprint(&link.pc.local_sdp()?)?;
        let peer = proof::fingerprint(&link.pc.remote_sdp()?)?;
        Some((own, peer))
    }

    fn on_channel(&mut self, peer: PeerId, gen: u64, event: ChannelEvent) {
        let Some(link) = self.links.get_mut(&peer).filter(|l| l.gen == gen) else {
            return;
        };
        match event {
            ChannelEvent::Open => {
                if std::mem::replace(&mut link.proved, true) {
                    return;
                }
                // Before any board data: prove we hold the key, bound to both fingerprints.
                let Some((own, theirs)) = Self::fingerprints(link) else {
                    return self
                        .link_failed(&peer, "no DTLS fingerprint in the session description");
                };
                let message = proof::make(&self.keys.auth, link.role, &own, &theirs);
                if let Some(Err(e)) = link.channel.as_ref().map(|c| c.send(&message)) {
                    self.link_failed(&peer, &format!("send failed: {e}"));
                }
            }
            ChannelEvent::Message(bytes) => {
                if link.open {
                    let effects = self
                        .engine
                        .handle(Event::Frame(peer, bytes), browser::now_ms());
                    self.run(effects);
                    return;
                }
                // The first message on a channel is the peer's proof.
                let verified = Self::fingerprints(link).is_some_and(|(own, theirs)| {
                    proof::verify(&self.keys.auth, link.role.other(), &theirs, &own, &bytes)
                });
                if !verified {
                    self.security_problem("A peer could not prove it holds this board's link, or the connection was intercepted.");
                    // no retry: the same path would fail the same way
                    self.room_peers.remove(&peer);
                    return self.link_failed(&peer, "peer proof failed");
                }
                link.open = true;
                let effects = self
                    .engine
                    .handle(Event::Connected(peer), browser::now_ms());
                self.run(effects);
            }
            ChannelEvent::Closed => self.link_failed(&peer, "channel closed"),
        }
    }

    /// Forget a peer's link; the engine forgets its sync state.
    fn remove_link(&mut self, peer: &PeerId) {
        if let Some(link) = self.links.remove(peer) {
            if link.open {
                let effects = self
                    .engine
                    .handle(Event::Disconnected(peer.clone()), browser::now_ms());
                self.run(effects);
            }
        }
    }

    /// A link broke: drop it, and if that peer is still in the room and it is our turn to offer,
    /// try again shortly (the other side waits for our offer).
    fn link_failed(&mut self, peer: &PeerId, why: &str) {
        if !self.links.contains_key(peer) {
            return;
        }
        warn(&format!("meshboard: link to a peer ended: {why}"));
        self.remove_link(peer);
        if self.room_peers.contains(peer) && self.me < *peer && !self.retries.contains_key(peer) {
            let (weak, p) = (self.weak.clone(), peer.clone());
            if let Ok(t) = Timeout::new(jitter(PEER_RETRY_MS), move || {
                dispatch_weak(&weak, Input::RetryPeer(p))
            }) {
                self.retries.insert(peer.clone(), t);
            }
        }
    }

    fn run(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send { peer, frame } => {
                    let sent = self
                        .links
                        .get(&peer)
                        .and_then(|l| l.channel.as_ref())
                        .map(|c| c.send(&frame));
                    if let Some(Err(e)) = sent {
                        self.link_failed(&peer, &format!("send failed: {e}"));
                    }
                }
                Effect::DocChanged => {
                    self.view_dirty = true;
                    self.persist.dirty = true;
                }
                Effect::DropPeer { peer, reason } => {
                    warn(&format!(
                        "meshboard: dropping a peer that sent bad data: {reason}"
                    ));
                    self.remove_link(&peer);
                }
            }
        }
    }
}

fn add_candidate(pc: &PeerConnection, candidate: Candidate) {
    let pc = pc.handle();
    spawn_local(async move {
        if let Err(e) = peer_connection::add_candidate(pc, candidate).await {
            warn(&format!("meshboard: ICE candidate rejected: {e}"));
        }
    });
}
