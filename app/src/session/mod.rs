//! The browser side of one open board: the sync engine, the signaling socket and one peer link per
//! remote peer.
//!
//! JS callbacks never touch the state directly: they [`dispatch`] an [`Input`] into a bounded
//! queue that is drained in order, so a callback that fires while another input is being handled
//! waits its turn instead of hitting a `RefCell` that is already borrowed. Sync decisions belong to
//! `crdt::Engine`, link and signaling decisions to `crdt::session::Mesh`, storage decisions to
//! `crdt::session::Persister`; these files only carry their commands out.
//! Callbacks hold a `Weak` to the session, so dropping the session drops every socket, peer
//! connection, channel, timer and closure it owns.

mod links;
mod mesh_stats;
mod persist;
mod presence;
mod reading;
mod socket;
mod tab_sync;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::rc::{Rc, Weak};

use crdt::board::BoardChange;
use crdt::secure::{proof, BoardKeys, Role, SealError, Sealer};
use crdt::session::{
    LinkFailure, LinkId, Mesh, MeshCommand, MeshInput, MeshPolicy, PersistPolicy, Persister,
    Presence, PresenceEffect,
};
use crdt::{Board, BoardError, BoardSecret, Effect, Engine, Event, PeerId};
use leptos::prelude::*;
use signaling::protocol::{
    join_proof_message, valid_hex, valid_peer_id, ClientMessage, ErrorCode, IceServer,
    IceTransportPolicy, ServerMessage, NONCE_HEX_LEN, PROTOCOL_VERSION,
};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;

use crate::browser::broadcast::Broadcast;
use crate::browser::data_channel::{ChannelEvent, DataChannel};
use crate::browser::peer_connection::{self, IceConfig, PeerConnection, PeerEvent};
use crate::browser::timer::Timeout;
use crate::browser::websocket::{Socket, SocketEvent};
use crate::browser::{self, debug, warn};
use crate::storage::{self, BoardRecord, StorageError, Store};
use crate::tabs::TabMessage;
use crate::ui_state::{BoardUpdate, ConnStatus, RemoteCaret, SaveState, Ui};
use crdt::session::peer_signal::{Candidate, PeerSignal};
pub use presence::Whereabouts;

/// Inputs waiting to be handled; more than this means something is flooding us.
const MAX_QUEUE: usize = 4096;
/// ICE candidates kept for a peer whose description has not arrived yet.
const MAX_PENDING_CANDIDATES: usize = 64;
/// ICE servers taken from one message of the server's.
const MAX_ICE_SERVERS: usize = 16;
/// Other tabs of this profile we keep track of.
const MAX_TABS: usize = 64;

pub use mesh_stats::{LinkState, MeshLink, MeshReply, MeshSnapshot, PeerSync, Signaling};

pub type Edit = Box<dyn FnOnce(&mut Board) -> Result<(), BoardError>>;
pub type MergeReply = Box<dyn FnOnce(Result<crdt::import::Merged, crdt::import::ImportError>)>;

pub enum Input {
    Socket(SocketEvent),
    /// The mesh core's timer (a reconnect, a retry, a setup deadline, a leave grace period).
    MeshTick,
    Peer(PeerId, LinkId, PeerEvent),
    Channel(PeerId, LinkId, ChannelEvent),
    /// Our offer or answer is ready to be sent (or failed).
    Described(
        PeerId,
        LinkId,
        Result<PeerSignal, crate::browser::BrowserError>,
    ),
    /// The remote answer was applied (or failed).
    RemoteSet(PeerId, LinkId, Result<(), crate::browser::BrowserError>),
    Edit(Edit),
    /// The network may be back (the browser went online, or the tab was shown again).
    NetworkHint,
    /// The user renamed themselves: later edits record the new name.
    SetAuthor(crdt::board::Author),
    /// An edit the UI must hear of in full (a restored version: no field made its changes).
    Rewrite(Edit),
    /// Read the board (an export): nothing is committed or sent.
    Read(Box<dyn FnOnce(&mut Board)>),
    /// Merge a board file, another copy of this board, and say how it went.
    Merge(Vec<u8>, MergeReply),
    /// The board's stored chunks were read (or storage could not be opened).
    Loaded(Result<(Rc<Store>, Vec<Chunk>), StorageError>),
    /// A write finished; `compacted` if it replaced the chunks written before it.
    Saved {
        key: JsValue,
        compacted: bool,
        result: Result<(), StorageError>,
    },
    /// Storage's timer: a retry after a failed write, or a compaction that waited for a pause.
    PersistWake,
    /// The engine asked to be woken (its coalescing window ended).
    Tick,
    /// Another tab of this profile said something about this board.
    Tab(Vec<u8>),
    /// The whole board may be posted to the other tabs again (see `tab_sync.rs`).
    TabSnapshotDue,
    /// The UI asks for the whole board again.
    Reread,
    /// The user's "work offline" switch.
    SetOffline(bool),
    /// Something on a link's presence channel.
    PresenceChannel(PeerId, LinkId, ChannelEvent),
    /// Presence's timer (a held change, a heartbeat, a peer's timeout).
    PresenceTick,
    /// Where the user is on the board, for the others to see.
    Whereabouts(Whereabouts),
    /// Undo (`false`) or redo (`true`) this tab's last step.
    Undo {
        redo: bool,
    },
    /// The mesh panel asks for the links and the signaling state.
    Mesh(MeshReply),
}

/// A stored chunk: its key and its bytes (`None` if the record was not bytes).
pub type Chunk = (JsValue, Option<Vec<u8>>);

/// Where the board stands with IndexedDB; when to write is `crdt::session::Persister`'s call.
struct Persist {
    core: Persister,
    store: Option<Rc<Store>>,
    /// Storage was read (or could not be opened): the network may start.
    loaded: bool,
    /// Keys of the chunks this page loaded or wrote: what a compaction replaces.
    keys: Vec<JsValue>,
    writer: String,
    counter: u32,
    error: Option<String>,
    /// Fires at `core.wake_at()`.
    wake: Option<(u64, Timeout)>,
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

/// The browser's side of a link the mesh core made; how far it got is the core's to say.
struct Link {
    id: LinkId,
    pc: PeerConnection,
    channel: Option<DataChannel>,
    /// Presence (ephemeral) goes on a channel of its own, heard only once the link is open.
    presence: Option<DataChannel>,
    /// The latest presence messages (at most [`presence::EARLY_MESSAGES`]) that came before the
    /// peer's proof: a new link brings the peer's own and those of the pages it knows.
    early_presence: Vec<Vec<u8>>,
    pending: Vec<Candidate>,
}

pub struct Session {
    engine: Engine,
    /// Signaling and links: who to link to, when, and how far each link got.
    mesh: Mesh,
    /// Fires at `mesh.wake_at()`.
    mesh_wake: Option<(u64, Timeout)>,
    /// The offer being handed to the mesh core, for the answer it may ask for.
    offer_sdp: Option<String>,
    /// This page's id between the tabs of this profile (random, chosen here).
    tab: String,
    /// The room id the signaling server knows the board by.
    room: String,
    /// The board's name in IndexedDB and between this profile's tabs; never sent anywhere.
    local_id: String,
    secret: String,
    keys: BoardKeys,
    sealer: Sealer,
    /// Something an honest peer or server would never do was seen: shown in `security-warning`.
    security: Option<String>,
    ws_url: String,
    persist: Persist,
    ui: Ui,
    socket: Option<Socket>,
    ice_servers: IceConfig,
    links: HashMap<PeerId, Link>,
    /// The engine's one timer.
    wake: Option<Timeout>,
    view_dirty: bool,
    /// Changes the UI has not heard of yet (taken from the board before a local edit).
    changes: Vec<BoardChange>,
    /// The widgets the UI has a cell for.
    shown: HashSet<String>,
    fatal: Option<String>,
    tabs: Option<Broadcast>,
    /// This profile's other tabs on this board, by tab id, with their current peer ids once
    /// they said: never connected to, never counted.
    local_tabs: BTreeMap<String, Option<PeerId>>,
    /// Heads already posted to the other tabs.
    tab_heads: Vec<crdt::automerge::ChangeHash>,
    /// When the whole board was last posted to the other tabs, and the timer of the next post
    /// while one is owed.
    tab_snapshot_at: Option<u64>,
    tab_snapshot_due: Option<Timeout>,
    /// The browser's hints that the network may be back (`online`, the tab shown again).
    network_hints: Vec<crate::browser::listener::Listener>,
    /// Who edits here, recorded on the board with the first edit (`Board::note_author`).
    author: crdt::board::Author,
    presence: Presence,
    /// This tab's own steps to undo and redo (gone on reload).
    undo: crdt::board::UndoStack,
    /// Fires at `presence.wake_at()` while there are links.
    presence_wake: Option<(u64, Timeout)>,
    /// Who is shown (or their carets) may have changed.
    presence_dirty: bool,
    weak: Weak<SessionCell>,
}

/// What the UI should show after a batch of inputs.
pub struct UiUpdate {
    ui: Ui,
    board: BoardUpdate,
    status: ConnStatus,
    peers: usize,
    fatal: Option<String>,
    loaded: bool,
    save: SaveState,
    storage_error: Option<String>,
    security: Option<String>,
    /// Whether there is something to undo, and to redo.
    undo: (bool, bool),
    /// Other people and their carets, when they may have changed.
    presence: Option<(Vec<crdt::session::presence::Person>, Vec<RemoteCaret>)>,
}

impl UiUpdate {
    fn apply(self) {
        if !self.board.is_empty() {
            self.ui.apply(self.board);
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
        if self.ui.undo.get_untracked() != self.undo {
            self.ui.undo.set(self.undo);
        }
        if let Some((people, carets)) = self.presence {
            if self.ui.people.with_untracked(|p| *p != people) {
                self.ui.people.set(people);
            }
            if self.ui.carets.with_untracked(|c| *c != carets) {
                self.ui.carets.set(carets);
            }
        }
    }
}

/// Listeners for the browser's hints that a waiting reconnect should not wait any longer.
fn network_hints(weak: &Weak<SessionCell>) -> Vec<crate::browser::listener::Listener> {
    use crate::browser::listener::Listener;
    let Some(window) = web_sys::window() else {
        return Vec::new();
    };
    let mut hints = Vec::new();
    let online = weak.clone();
    match Listener::new(&window, "online", move |_| {
        dispatch_weak(&online, Input::NetworkHint)
    }) {
        Ok(l) => hints.push(l),
        Err(e) => warn(&format!("meshboard: no online events: {e}")),
    }
    if let Some(document) = window.document() {
        let shown = weak.clone();
        let doc = document.clone();
        match Listener::new(&document, "visibilitychange", move |_| {
            if !doc.hidden() {
                dispatch_weak(&shown, Input::NetworkHint)
            }
        }) {
            Ok(l) => hints.push(l),
            Err(e) => warn(&format!("meshboard: no visibility events: {e}")),
        }
    }
    hints
}

fn random_id() -> Result<String, browser::BrowserError> {
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(browser::random::bytes::<16>()?))
}

/// Why a board cannot open in this page.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Browser(#[from] browser::BrowserError),
    #[error(transparent)]
    Board(#[from] BoardError),
    #[error(transparent)]
    Endpoint(#[from] crate::endpoint::EndpointError),
    #[error("the board's state is busy")]
    Busy,
}

impl SessionCell {
    /// Open the board named by `secret`: an empty board that fills in as peers are found.
    pub fn start(secret: &BoardSecret, ui: Ui) -> Result<Rc<SessionCell>, StartError> {
        let actor = crdt::automerge::ActorId::from(browser::random::bytes::<16>()?);
        let mut board = Board::new(actor)?;
        board.watch_changes();
        let tab = random_id()?;
        let keys = secret.keys();
        let author = crate::identity::current();
        // Rebuilt for our peer id on each welcome (it is bound into every sealed payload).
        let sealer = Sealer::new(&keys.seal, &keys.room_id, "");
        let seed = u64::from_le_bytes(browser::random::bytes::<8>()?);
        let cell = Rc::new_cyclic(|weak| SessionCell {
            state: RefCell::new(Session {
                engine: Engine::new(board),
                mesh: Mesh::new(MeshPolicy::default(), seed),
                mesh_wake: None,
                offer_sdp: None,
                persist: Persist {
                    core: Persister::new(PersistPolicy::default()),
                    store: None,
                    loaded: false,
                    keys: Vec::new(),
                    writer: tab.clone(),
                    counter: 0,
                    error: None,
                    wake: None,
                },
                tab,
                room: keys.room_id.clone(),
                local_id: keys.local_id.clone(),
                secret: secret.to_fragment(),
                keys,
                sealer,
                security: None,
                ws_url: String::new(),
                ui,
                socket: None,
                ice_servers: IceConfig::default(),
                links: HashMap::new(),
                wake: None,
                view_dirty: true,
                changes: Vec::new(),
                shown: HashSet::new(),
                fatal: None,
                tabs: None,
                local_tabs: BTreeMap::new(),
                tab_heads: Vec::new(),
                tab_snapshot_at: None,
                tab_snapshot_due: None,
                presence: Presence::new(presence::initial_state(&author)),
                presence_wake: None,
                presence_dirty: false,
                undo: crdt::board::UndoStack::default(),
                author,
                network_hints: Vec::new(),
                weak: weak.clone(),
            }),
            queue: RefCell::new(VecDeque::new()),
        });
        {
            let mut s = cell.state.try_borrow_mut().map_err(|_| StartError::Busy)?;
            s.ws_url = crate::endpoint::signaling_url()?;
            let room = s.local_id.clone();
            let weak = s.weak.clone();
            let tab_weak = weak.clone();
            let max_tab_message = crdt::engine::Config::default().max_message;
            match Broadcast::open(&format!("meshboard:{room}"), max_tab_message, move |m| {
                dispatch_weak(&tab_weak, Input::Tab(m))
            }) {
                Ok(tabs) => {
                    let _ = tabs.post(&TabMessage::Hello(s.tab.clone()).encode());
                    s.tabs = Some(tabs);
                }
                Err(e) => warn(&format!("meshboard: no sync between tabs: {e}")),
            }
            s.network_hints = network_hints(&weak);
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
            s.presence_goodbye();
            s.presence_wake = None;
            s.mesh_wake = None;
            s.persist.wake = None;
            s.wake = None;
            s.links.clear();
            s.socket = None;
            if let Some(tabs) = s.tabs.take() {
                let _ = tabs.post(&TabMessage::Bye(s.tab.clone()).encode());
            }
        }
    }
}

impl Session {
    fn ui_update(&mut self) -> UiUpdate {
        // carets move with the text; who is shown changes with presence
        let presence = (std::mem::take(&mut self.presence_dirty) || self.view_dirty)
            .then(|| (self.presence.people(), self.remote_carets()));
        let board = if std::mem::take(&mut self.view_dirty) {
            self.board_update()
        } else {
            BoardUpdate::default()
        };
        let status = match self.mesh.signaling() {
            crdt::session::Signaling::Joined => ConnStatus::Online,
            crdt::session::Signaling::Connecting => ConnStatus::Connecting,
            _ => ConnStatus::Offline,
        };
        UiUpdate {
            ui: self.ui,
            board,
            status,
            peers: self.mesh.open_links(),
            fatal: self.fatal.clone(),
            loaded: self.persist.loaded,
            save: match (&self.persist.error, self.persist.core.is_saved()) {
                (Some(_), _) => SaveState::Failed,
                (None, false) => SaveState::Saving,
                (None, true) => SaveState::Saved,
            },
            storage_error: self.persist.error.clone(),
            security: self.security.clone(),
            undo: (self.undo.can_undo(), self.undo.can_redo()),
            presence,
        }
    }

    /// Apply `f`, whose changes no field made (a restored version, a merged file): if the board
    /// changed, the UI reads it whole again, and storage and peers get the changes like any
    /// edit's (merged changes are not the engine's commit, so their `DocChanged` is added here).
    fn rewrite(&mut self, f: impl FnOnce(&mut Board)) {
        let before = self.engine.board_mut().take_changes();
        self.changes.extend(before);
        let heads = self.engine.board_mut().heads();
        f(self.engine.board_mut());
        let now = browser::now_ms();
        let mut effects = self.engine.handle(Event::LocalChange, now);
        if let Some(hash) = self.engine.take_committed() {
            self.undo.record(hash, now);
        }
        if self.engine.board_mut().heads() != heads {
            self.engine.board_mut().take_changes();
            self.changes.push(BoardChange::All);
            self.view_dirty = true;
            if !effects.iter().any(|e| matches!(e, Effect::DocChanged)) {
                effects.insert(0, Effect::DocChanged);
            }
        }
        self.run(effects);
    }

    /// Our name goes into the document with our first edit (and after a rename).
    fn note_author(&mut self) {
        if let Err(e) = self.engine.board_mut().note_author(&self.author) {
            warn(&format!("meshboard: cannot record the author's name: {e}"));
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
                compacted,
                result,
            } => self.on_saved(key, compacted, result),
            Input::Tick => {
                self.wake = None;
                let effects = self.engine.handle(Event::Tick, browser::now_ms());
                self.run(effects);
            }
            Input::Tab(bytes) => self.on_tab(bytes),
            Input::TabSnapshotDue => {
                self.tab_snapshot_due = None;
                self.post_snapshot_to_tabs();
            }
            Input::SetOffline(offline) => self.set_offline(offline),
            Input::PersistWake => self.persist.wake = None,
            Input::Reread => {
                self.changes.push(BoardChange::All);
                self.view_dirty = true;
            }
            Input::Socket(event) => self.on_socket(event),
            Input::MeshTick => {
                self.mesh_wake = None;
                self.mesh_input(MeshInput::Tick);
            }
            Input::Peer(peer, link, event) => self.on_peer(peer, link, event),
            Input::Channel(peer, link, event) => self.on_channel(peer, link, event),
            Input::Described(peer, link, result) => {
                if !self.is_current(&peer, link) {
                    return;
                }
                match result {
                    Ok(signal) => {
                        let answered = matches!(signal, PeerSignal::Answer { .. });
                        debug(&format!(
                            "meshboard: link {link} to {peer}: {} sent",
                            if answered { "answer" } else { "offer" }
                        ));
                        self.send_signal(&peer, &signal);
                        if answered {
                            self.flush_candidates(&peer);
                        }
                    }
                    Err(e) => {
                        warn(&format!("meshboard: negotiation with {peer} failed: {e}"));
                        self.fail(&peer, LinkFailure::Negotiation);
                    }
                }
            }
            Input::RemoteSet(peer, link, result) => {
                if !self.is_current(&peer, link) {
                    return;
                }
                match result {
                    Ok(()) => {
                        debug(&format!("meshboard: link {link} to {peer}: answer applied"));
                        self.flush_candidates(&peer);
                    }
                    Err(e) => {
                        warn(&format!("meshboard: bad answer from {peer}: {e}"));
                        self.fail(&peer, LinkFailure::Negotiation);
                    }
                }
            }
            Input::Read(read) => read(self.engine.board_mut()),
            Input::Mesh(reply) => reply(self.mesh_snapshot()),
            Input::SetAuthor(author) => {
                self.presence_rename(&author);
                self.author = author;
            }
            Input::PresenceChannel(peer, link, event) => {
                self.on_presence_channel(peer, link, event)
            }
            Input::PresenceTick => self.presence_tick(),
            Input::Whereabouts(w) => self.set_whereabouts(w),
            Input::Undo { redo } => self.undo_step(redo),
            Input::NetworkHint => self.network_hint(),
            Input::Rewrite(edit) => {
                self.note_author();
                self.rewrite(|board| {
                    if let Err(e) = edit(board) {
                        warn(&format!("meshboard: edit failed: {e}"));
                    }
                })
            }
            Input::Merge(bytes, reply) => {
                let mut result = None;
                self.rewrite(|board| result = Some(crdt::import::merge_file(board, &bytes)));
                if let Some(result) = result {
                    reply(result);
                }
            }
            Input::Edit(edit) => {
                // what came before the edit is news to the UI; the edit's own splices of a note
                // are not: its field made them
                let before = self.engine.board_mut().take_changes();
                self.changes.extend(before);
                self.note_author();
                if let Err(e) = edit(self.engine.board_mut()) {
                    warn(&format!("meshboard: edit failed: {e}"));
                    // the field may now show what the board does not have
                    self.changes.push(BoardChange::All);
                }
                // the engine commits the edit (with its time): take its changes after that, as
                // reading them closes the transaction
                let now = browser::now_ms();
                let effects = self.engine.handle(Event::LocalChange, now);
                if let Some(hash) = self.engine.take_committed() {
                    self.undo.record(hash, now);
                }
                let own = self.engine.board_mut().take_changes();
                self.changes.extend(
                    own.into_iter()
                        .filter(|c| !matches!(c, BoardChange::NoteSplice { .. })),
                );
                self.view_dirty = true;
                self.run(effects);
            }
        }
    }
}

impl Session {
    /// Undo or redo this tab's last step: new changes, sent and stored like any edit, that the
    /// fields hear of in full (no field made them).
    fn undo_step(&mut self, redo: bool) {
        let before = self.engine.board_mut().take_changes();
        self.changes.extend(before);
        let board = self.engine.board_mut();
        let done = if redo {
            self.undo.redo(board)
        } else {
            self.undo.undo(board)
        };
        match done {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => warn(&format!("meshboard: cannot undo: {e}")),
        }
        self.note_author();
        let now = browser::now_ms();
        let effects = self.engine.handle(Event::LocalChange, now);
        if let Some(hash) = self.engine.take_committed() {
            if redo {
                self.undo.redone(hash, now);
            } else {
                self.undo.undone(hash, now);
            }
        }
        let own = self.engine.board_mut().take_changes();
        self.changes.extend(own);
        self.view_dirty = true;
        self.run(effects);
    }
}
