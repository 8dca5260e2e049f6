//! The reactive state the board page renders from, held per part of the board so that a change
//! re-renders only what it touched: the title, the list of widgets, and one cell per widget.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use crdt::board::WidgetLayout;
use crdt::text_diff::Splice;
use crdt::{WidgetBody, WidgetKind};
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

/// A change to a note's text for its field to carry out, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextEdit {
    /// The whole text (a new widget, or one read again).
    Reset(String),
    /// A peer's splice, in code points.
    Splice(Splice),
}

/// The edits waiting for a note's field: the field drains them when `trigger` fires. A queue, not
/// a signal, because two updates may land before the field's effect runs and each must be applied.
#[derive(Clone, Default)]
pub struct TextFeed {
    edits: Rc<RefCell<VecDeque<TextEdit>>>,
    trigger: ArcTrigger,
}

impl TextFeed {
    pub fn push(&self, edit: TextEdit) {
        {
            let mut edits = self.edits.borrow_mut();
            if matches!(edit, TextEdit::Reset(_)) {
                edits.clear();
            }
            edits.push_back(edit);
        }
        self.trigger.notify();
    }

    /// Subscribe the running effect.
    pub fn track(&self) {
        self.trigger.track();
    }

    pub fn drain(&self) -> Vec<TextEdit> {
        self.edits.borrow_mut().drain(..).collect()
    }
}

/// One widget's state: its body (tasks, counter) or its text's edits (note).
#[derive(Clone)]
pub struct WidgetCell {
    pub body: ArcRwSignal<WidgetBody>,
    pub text: TextFeed,
    /// Its title and width.
    pub layout: ArcRwSignal<WidgetLayout>,
}

impl WidgetCell {
    fn new(body: WidgetBody) -> Self {
        let cell = WidgetCell {
            body: ArcRwSignal::new(WidgetBody::Counter { value: 0 }),
            text: TextFeed::default(),
            layout: ArcRwSignal::new(WidgetLayout::default()),
        };
        cell.set(body);
        cell
    }

    fn set(&self, body: WidgetBody) {
        match body {
            WidgetBody::Note { text } => self.text.push(TextEdit::Reset(text)),
            other => {
                if self.body.with_untracked(|b| *b != other) {
                    self.body.set(other);
                }
            }
        }
    }
}

/// What changed on the board since the last update, read by the session from the core's
/// `BoardChange`s.
#[derive(Debug, Default)]
pub struct BoardUpdate {
    pub title: Option<String>,
    /// The new list of widgets, if it changed.
    pub widgets: Option<Vec<(String, WidgetKind)>>,
    /// Widgets new to the UI or read again, whole.
    pub bodies: Vec<(String, WidgetBody)>,
    /// Splices into notes, in order.
    pub splices: Vec<(String, Splice)>,
    /// Titles and widths of widgets, new or changed.
    pub layouts: Vec<(String, WidgetLayout)>,
}

impl BoardUpdate {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.widgets.is_none()
            && self.bodies.is_empty()
            && self.splices.is_empty()
            && self.layouts.is_empty()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub title: RwSignal<String>,
    pub widgets: RwSignal<Vec<(String, WidgetKind)>>,
    cells: StoredValue<HashMap<String, WidgetCell>, LocalStorage>,
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
    /// Whether this tab has something to undo, and something to redo.
    pub undo: RwSignal<(bool, bool)>,
    /// Everyone else on the board now (presence), by name.
    pub people: RwSignal<Vec<crdt::session::presence::Person>>,
    /// Their carets in notes, at their places in the text shown here.
    pub carets: RwSignal<Vec<RemoteCaret>>,
}

/// Another person's caret and selection in a note, in code points of the text shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCaret {
    pub widget: String,
    pub name: String,
    pub colour: String,
    pub anchor: usize,
    pub head: usize,
}

impl Ui {
    pub fn new() -> Self {
        Ui {
            title: RwSignal::new(String::new()),
            widgets: RwSignal::new(Vec::new()),
            cells: StoredValue::new_local(HashMap::new()),
            status: RwSignal::new(ConnStatus::Connecting),
            peers: RwSignal::new(0),
            fatal: RwSignal::new(None),
            loaded: RwSignal::new(false),
            save: RwSignal::new(SaveState::Saved),
            storage_error: RwSignal::new(None),
            security: RwSignal::new(None),
            undo: RwSignal::new((false, false)),
            people: RwSignal::new(Vec::new()),
            carets: RwSignal::new(Vec::new()),
        }
    }
}

impl Ui {
    /// The widget's cell (a fresh one if the board has no such widget any more).
    pub fn cell(&self, id: &str, kind: WidgetKind) -> WidgetCell {
        self.cells
            .with_value(|c| c.get(id).cloned())
            .unwrap_or_else(|| {
                WidgetCell::new(match kind {
                    WidgetKind::Note => WidgetBody::Note {
                        text: String::new(),
                    },
                    WidgetKind::Tasks => WidgetBody::Tasks { items: Vec::new() },
                    WidgetKind::Counter => WidgetBody::Counter { value: 0 },
                    WidgetKind::Poll => WidgetBody::Poll(crdt::PollView::default()),
                    WidgetKind::Kanban => WidgetBody::Kanban(crdt::KanbanView::default()),
                })
            })
    }

    pub fn apply(&self, update: BoardUpdate) {
        let BoardUpdate {
            title,
            widgets,
            bodies,
            splices,
            layouts,
        } = update;
        if let Some(title) = title {
            if self.title.with_untracked(|t| *t != title) {
                self.title.set(title);
            }
        }
        self.cells.update_value(|cells| {
            for (id, body) in bodies {
                match cells.get(&id) {
                    Some(cell) => cell.set(body),
                    None => {
                        cells.insert(id, WidgetCell::new(body));
                    }
                }
            }
            for (id, layout) in layouts {
                if let Some(cell) = cells.get(&id) {
                    if cell.layout.with_untracked(|l| *l != layout) {
                        cell.layout.set(layout);
                    }
                }
            }
            for (id, splice) in splices {
                if let Some(cell) = cells.get(&id) {
                    cell.text.push(TextEdit::Splice(splice));
                }
            }
            if let Some(widgets) = &widgets {
                cells.retain(|id, _| widgets.iter().any(|(w, _)| w == id));
            }
        });
        if let Some(widgets) = widgets {
            if self.widgets.with_untracked(|w| *w != widgets) {
                self.widgets.set(widgets);
            }
        }
    }
}

impl Default for Ui {
    fn default() -> Self {
        Ui::new()
    }
}
