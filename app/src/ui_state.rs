//! The reactive state the board page renders from. All `Copy`, so components take what they need.

use crdt::BoardView;
use leptos::prelude::*;

/// The signaling connection's state, as `connection-status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnStatus {
    Online,
    Connecting,
    Offline,
}

impl ConnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnStatus::Online => "online",
            ConnStatus::Connecting => "connecting",
            ConnStatus::Offline => "offline",
        }
    }
}

/// Whether every edit shown is in IndexedDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveState {
    Saved,
    Saving,
    Failed,
}

impl SaveState {
    pub fn label(self) -> &'static str {
        match self {
            SaveState::Saved => "Saved",
            SaveState::Saving => "Saving…",
            SaveState::Failed => "Not saved",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub board: RwSignal<BoardView>,
    pub status: RwSignal<ConnStatus>,
    /// Peers with an open data channel.
    pub peers: RwSignal<usize>,
    /// A problem that stops the board from working (shown instead of it).
    pub fatal: RwSignal<Option<String>>,
    /// The board has been read from local storage (or storage failed).
    pub loaded: RwSignal<bool>,
    pub save: RwSignal<SaveState>,
    /// A storage problem to show in `storage-error`.
    pub storage_error: RwSignal<Option<String>>,
    /// Evidence of tampering or an impostor, shown in `security-warning`.
    pub security: RwSignal<Option<String>>,
}

impl Ui {
    pub fn new() -> Self {
        Ui {
            board: RwSignal::new(BoardView::default()),
            status: RwSignal::new(ConnStatus::Connecting),
            peers: RwSignal::new(0),
            fatal: RwSignal::new(None),
            loaded: RwSignal::new(false),
            save: RwSignal::new(SaveState::Saved),
            storage_error: RwSignal::new(None),
            security: RwSignal::new(None),
        }
    }
}

impl Default for Ui {
    fn default() -> Self {
        Ui::new()
    }
}
