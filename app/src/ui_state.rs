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

#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub board: RwSignal<BoardView>,
    pub status: RwSignal<ConnStatus>,
    /// Peers with an open data channel.
    pub peers: RwSignal<usize>,
    /// A problem that stops the board from working (shown instead of it).
    pub fatal: RwSignal<Option<String>>,
}

impl Ui {
    pub fn new() -> Self {
        Ui {
            board: RwSignal::new(BoardView::default()),
            status: RwSignal::new(ConnStatus::Connecting),
            peers: RwSignal::new(0),
            fatal: RwSignal::new(None),
        }
    }
}

impl Default for Ui {
    fn default() -> Self {
        Ui::new()
    }
}
