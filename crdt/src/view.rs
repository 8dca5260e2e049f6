//! Plain snapshots of a board for the UI: cheap to compare, so that only what changed re-renders.

/// What a widget is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WidgetKind {
    Note,
    Tasks,
    Counter,
    Poll,
    Kanban,
}

impl WidgetKind {
    pub const ALL: [WidgetKind; 5] = [
        WidgetKind::Note,
        WidgetKind::Tasks,
        WidgetKind::Counter,
        WidgetKind::Poll,
        WidgetKind::Kanban,
    ];

    /// The name stored in the document (and used as `data-kind` in the UI).
    pub fn as_str(self) -> &'static str {
        match self {
            WidgetKind::Note => "note",
            WidgetKind::Tasks => "tasks",
            WidgetKind::Counter => "counter",
            WidgetKind::Poll => "poll",
            WidgetKind::Kanban => "kanban",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        WidgetKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A whole board as the UI shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoardView {
    pub title: String,
    pub widgets: Vec<WidgetView>,
}

impl BoardView {
    pub fn widget(&self, id: &str) -> Option<&WidgetView> {
        self.widgets.iter().find(|w| w.id == id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetView {
    /// Stable for the widget's lifetime and unique on the board (its Automerge object id).
    pub id: String,
    pub body: WidgetBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WidgetBody {
    Note { text: String },
    Tasks { items: Vec<TaskView> },
    Counter { value: i64 },
    Poll(PollView),
    Kanban(KanbanView),
}

impl WidgetBody {
    pub fn kind(&self) -> WidgetKind {
        match self {
            WidgetBody::Note { .. } => WidgetKind::Note,
            WidgetBody::Tasks { .. } => WidgetKind::Tasks,
            WidgetBody::Counter { .. } => WidgetKind::Counter,
            WidgetBody::Poll(_) => WidgetKind::Poll,
            WidgetBody::Kanban(_) => WidgetKind::Kanban,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    pub id: String,
    pub text: String,
    pub done: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollView {
    pub question: String,
    /// In the order they were added.
    pub options: Vec<PollOption>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollOption {
    pub id: String,
    pub text: String,
    /// Who voted for it (voter ids: browser profiles), in no particular order.
    pub voters: Vec<String>,
}

impl PollView {
    /// The option `voter` voted for.
    pub fn vote_of(&self, voter: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|o| o.voters.iter().any(|v| v == voter))
            .map(|o| o.id.as_str())
    }

    pub fn total(&self) -> usize {
        self.options.iter().map(|o| o.voters.len()).sum()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KanbanView {
    pub columns: Vec<KanbanColumn>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KanbanColumn {
    pub id: String,
    pub title: String,
    /// In their order in the column.
    pub cards: Vec<KanbanCard>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KanbanCard {
    pub id: String,
    pub text: String,
}

impl KanbanView {
    /// The column `card` is in, and its index there.
    pub fn place_of(&self, card: &str) -> Option<(usize, usize)> {
        self.columns.iter().enumerate().find_map(|(c, column)| {
            column
                .cards
                .iter()
                .position(|k| k.id == card)
                .map(|i| (c, i))
        })
    }
}
