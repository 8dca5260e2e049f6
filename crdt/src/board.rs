//! The board schema on Automerge, with typed accessors.
//!
//! ```text
//! ROOT { schema: 1, title: Text, widgets: List<Map> }
//! widget { kind: "note" | "tasks" | "counter" | "poll" | "kanban",
//!          text: Text | items: List<Map> | value: Counter | (question, options, votes)
//!          | (columns, cards) }
//! task   { text: str, done: bool }
//! ```
//!
//! Every board starts from the same *genesis* change (fixed actor, fixed time), so two peers that
//! open a link before they have met do not create rival `widgets` lists: they share that change.
//! The document may come from untrusted peers, so readers skip whatever does not fit the schema
//! instead of failing.

use automerge::budget::Budget;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT,
};

mod authors;
mod changes;
mod cursor;
mod kanban;
mod layout;
mod poll;
mod read;
mod undo;

pub use authors::{valid_colour, Author, MAX_NAME_CHARS};
pub use changes::BoardChange;
use changes::Watch;
pub use kanban::{MAX_CARDS, MAX_CARD_CHARS, MAX_COLUMNS};
pub use layout::{between, WidgetLayout, MAX_SIZE};
pub use poll::{valid_voter, MAX_OPTION_CHARS, MAX_POLL_OPTIONS};
use read::Reading;
pub use undo::UndoStack;

use crate::error::BoardError;
use crate::text_diff;
use crate::view::{BoardView, WidgetKind, WidgetView};

const SCHEMA: &str = "schema";
const TITLE: &str = "title";
const WIDGETS: &str = "widgets";
const KIND: &str = "kind";
const TEXT: &str = "text";
const ITEMS: &str = "items";
const VALUE: &str = "value";
const DONE: &str = "done";
const GENESIS_ACTOR: [u8; 16] = *b"meshboard-genesi";

/// One board: an Automerge document that follows the schema above.
#[derive(Debug, Clone)]
pub struct Board {
    doc: AutoCommit,
    /// The last snapshot made or loaded, with the heads it holds.
    snapshot: Option<(Vec<ChangeHash>, Vec<u8>)>,
    /// The heads of what the caller's storage holds, as far as this board knows: everything
    /// after them is still to be stored. `None`: storage holds nothing this board can build on
    /// (new, or replaced by a loaded snapshot), so the next piece to store is the whole document.
    stored: Option<Vec<ChangeHash>>,
    watch: Watch,
}

/// Bytes for storage, from [`Board::unstored`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub bytes: Vec<u8>,
    /// The whole document (it replaces the pieces stored before it), else the changes after the
    /// pieces stored before it.
    pub whole: bool,
}

/// The heads of a new board: its genesis change.
pub fn genesis_heads() -> Vec<ChangeHash> {
    static GENESIS: std::sync::OnceLock<Vec<ChangeHash>> = std::sync::OnceLock::new();
    GENESIS
        .get_or_init(|| {
            Board::new(ActorId::from([0u8; 16]))
                .map(|mut b| b.heads())
                .unwrap_or_default()
        })
        .clone()
}

impl Board {
    /// A new, empty board whose local edits are made as `actor`.
    pub fn new(actor: ActorId) -> Result<Self, BoardError> {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(GENESIS_ACTOR));
        doc.put(ROOT, SCHEMA, 1_u64)?;
        doc.put_object(ROOT, TITLE, ObjType::Text)?;
        doc.put_object(ROOT, WIDGETS, ObjType::List)?;
        doc.commit_with(CommitOptions::default().with_time(0));
        doc.set_actor(actor);
        Ok(Board {
            doc,
            snapshot: None,
            stored: None,
            watch: Watch::Off,
        })
    }

    /// A new board with a random actor id.
    pub fn new_random() -> Result<Self, BoardError> {
        Board::new(ActorId::random())
    }

    pub fn doc(&self) -> &AutoCommit {
        &self.doc
    }

    pub fn doc_mut(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Close the pending local edits into one change stamped with `time` (seconds since the epoch).
    pub fn commit(&mut self, time: i64) -> Option<ChangeHash> {
        if self.doc.pending_ops() == 0 {
            return None;
        }
        self.doc
            .commit_with(CommitOptions::default().with_time(time))
    }

    /// Load saved bytes (a `save()` snapshot, incremental chunks, or both) into this board.
    ///
    /// A board that holds nothing but the genesis change and no pending edit loads them as a
    /// whole document (an error if they are not one), which is much faster than applying a
    /// snapshot's changes one by one: the result is the same as long as the document holds the
    /// genesis. Otherwise the bytes are merged with `load_incremental`. The caller checks the
    /// bytes first (`saved::verified`): `load_incremental` skips a damaged chunk silently.
    pub fn load_saved(&mut self, bytes: &[u8]) -> Result<(), BoardError> {
        self.load(bytes, false)
    }

    /// Load saved bytes of either kind: a snapshot as [`Board::load_saved`] does, anything else
    /// (incremental changes, possibly before their dependencies) merged change by change. For
    /// bytes the caller has checked (`saved::verified`): storage, other tabs.
    pub fn load_any(&mut self, bytes: &[u8]) -> Result<(), BoardError> {
        self.load(bytes, true)
    }

    /// Within [`Budget::DEFAULT`]: stored bytes and another tab's are as untrusted as a peer's.
    fn load(&mut self, bytes: &[u8], any_kind: bool) -> Result<(), BoardError> {
        automerge::budget::scoped(Budget::DEFAULT, || self.load_unbounded(bytes, any_kind))?
    }

    fn load_unbounded(&mut self, bytes: &[u8], any_kind: bool) -> Result<(), BoardError> {
        let before = self.doc.get_heads();
        if before == genesis_heads() && self.doc.pending_ops() == 0 {
            match AutoCommit::load(bytes) {
                Ok(mut doc) if before.iter().all(|h| doc.get_change_by_hash(h).is_some()) => {
                    doc.set_actor(self.doc.get_actor().clone());
                    // kept as the snapshot if compact: changes one by one (a store written before
                    // `unstored`, another tab) can be 200 times larger, and are saved anew
                    self.snapshot =
                        crate::saved::is_document(bytes).then(|| (doc.get_heads(), bytes.to_vec()));
                    self.doc = doc;
                    self.replaced();
                    // what storage held is a prefix of these bytes: store them whole, as they came
                    self.stored = None;
                    return Ok(());
                }
                Ok(_) => {}
                Err(_) if any_kind => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.before_apply(bytes.len());
        self.doc.load_incremental(bytes)?;
        Ok(())
    }

    /// A board of its own from a saved board's bytes (a `.automerge` file), within
    /// [`Budget::DEFAULT`]; `Ok(None)` if the document is not a Meshboard board (it lacks the
    /// genesis change every board starts from). Local edits are made as a new random actor.
    pub fn from_saved(bytes: &[u8]) -> Result<Option<Board>, BoardError> {
        let mut doc = automerge::budget::scoped(Budget::DEFAULT, || AutoCommit::load(bytes))??;
        if genesis_heads()
            .iter()
            .any(|h| doc.get_change_by_hash(h).is_none())
        {
            return Ok(None);
        }
        doc.set_actor(ActorId::random());
        let snapshot = crate::saved::is_document(bytes).then(|| (doc.get_heads(), bytes.to_vec()));
        Ok(Some(Board {
            doc,
            snapshot,
            stored: None,
            watch: Watch::Off,
        }))
    }

    /// The whole document as one snapshot (`save()`), for a peer that has nothing. Kept until the
    /// document changes, and the bytes a new board was loaded from serve as the first one: in
    /// wasm a `save()` of a long note takes about 0.3 s, which a joining peer would otherwise wait
    /// for.
    pub fn snapshot(&mut self) -> Vec<u8> {
        let heads = self.doc.get_heads();
        match &self.snapshot {
            Some((at, bytes)) if *at == heads => bytes.clone(),
            _ => {
                let bytes = self.doc.document().save();
                self.snapshot = Some((heads, bytes.clone()));
                bytes
            }
        }
    }

    /// What the caller's storage lacks, to be stored next (`None`: nothing): the changes since the
    /// last call (an incremental save), or the whole document if `whole` is asked for or storage
    /// holds nothing this board can build on; a whole document replaces every earlier piece. A
    /// document that was just loaded or sent whole (see [`Board::snapshot`]) is not saved
    /// again: a peer that joined a board stores the snapshot it received, not each of its
    /// changes one by one (for the longest note in the benchmarks: 129 KB instead of 29 MB).
    pub fn unstored(&mut self, whole: bool) -> Option<Piece> {
        let heads = self.doc.get_heads();
        let piece = match &self.stored {
            Some(stored) if !whole => {
                if *stored == heads {
                    return None;
                }
                Piece {
                    bytes: self.doc.save_after(stored),
                    whole: false,
                }
            }
            _ => Piece {
                bytes: self.snapshot(),
                whole: true,
            },
        };
        self.stored = Some(heads);
        Some(piece)
    }

    /// The caller's storage holds everything this board holds (it was just loaded from it).
    pub fn mark_stored(&mut self) {
        self.stored = Some(self.doc.get_heads());
    }

    /// Merge everything `other` has (used in tests and when two copies meet in one process).
    pub fn merge(&mut self, other: &mut Board) -> Result<(), BoardError> {
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    // ----- reading -----

    fn read(&self) -> Reading<'_> {
        Reading {
            doc: &self.doc,
            at: None,
        }
    }

    fn obj(&self, parent: &ObjId, key: &str, typ: ObjType) -> Option<ObjId> {
        self.read().obj(parent, key, typ)
    }

    fn scalar(&self, parent: &ObjId, key: &str) -> Option<ScalarValue> {
        self.read().scalar(parent, key)
    }

    fn widgets_list(&self) -> Option<ObjId> {
        self.read().widgets_list()
    }

    fn ordered_widgets(&self) -> Vec<ObjId> {
        self.read().ordered_widgets()
    }

    pub fn title(&self) -> String {
        self.read().title()
    }

    /// The whole board as plain data for the UI.
    pub fn view(&self) -> BoardView {
        self.read().view()
    }

    /// The whole board as it was when its heads were `heads` (a version in its history).
    pub fn view_at(&self, heads: &[ChangeHash]) -> BoardView {
        Reading {
            doc: &self.doc,
            at: Some(heads),
        }
        .view()
    }

    /// The widgets' ids and kinds, in order, without their content.
    pub fn widget_kinds(&self) -> Vec<(String, WidgetKind)> {
        self.read().widget_kinds()
    }

    /// One widget as the UI shows it.
    pub fn widget(&self, id: &str) -> Option<WidgetView> {
        let (_, obj) = self.find_widget(id).ok()?;
        self.read().widget_view(&obj)
    }

    // ----- writing -----

    /// The widget's index in the list and its object.
    fn find_widget(&self, id: &str) -> Result<(usize, ObjId), BoardError> {
        let list = self
            .widgets_list()
            .ok_or(BoardError::Schema("no widget list"))?;
        (0..self.doc.length(&list))
            .find_map(|i| match self.doc.get(&list, i) {
                Ok(Some((Value::Object(ObjType::Map), obj))) if obj.to_string() == id => {
                    Some((i, obj))
                }
                _ => None,
            })
            .ok_or_else(|| BoardError::NoSuchWidget(id.to_owned()))
    }

    fn widget_of_kind(&self, id: &str, kind: WidgetKind) -> Result<ObjId, BoardError> {
        let (_, obj) = self.find_widget(id)?;
        match self.scalar(&obj, KIND) {
            Some(ScalarValue::Str(s)) if *s == *kind.as_str() => Ok(obj),
            _ => Err(BoardError::WrongKind(id.to_owned(), kind.as_str())),
        }
    }

    fn update_text(&mut self, text: &ObjId, new: &str) -> Result<(), BoardError> {
        let old = self.doc.text(text)?;
        if let Some(s) = text_diff::diff(&old, new) {
            let delete =
                isize::try_from(s.delete).map_err(|_| BoardError::Schema("text too long"))?;
            self.doc.splice_text(text, s.index, delete, &s.insert)?;
        }
        Ok(())
    }

    /// Make the title `new` by splicing only what differs.
    pub fn set_title(&mut self, new: &str) -> Result<(), BoardError> {
        let title = self
            .obj(&ROOT, TITLE, ObjType::Text)
            .ok_or(BoardError::Schema("no title"))?;
        self.update_text(&title, new)
    }

    /// Append a widget of `kind`; returns its id.
    pub fn add_widget(&mut self, kind: WidgetKind) -> Result<String, BoardError> {
        let list = self
            .widgets_list()
            .ok_or(BoardError::Schema("no widget list"))?;
        let len = self.doc.length(&list);
        let w = self.doc.insert_object(&list, len, ObjType::Map)?;
        self.doc.put(&w, KIND, kind.as_str())?;
        match kind {
            WidgetKind::Note => {
                self.doc.put_object(&w, TEXT, ObjType::Text)?;
            }
            WidgetKind::Tasks => {
                self.doc.put_object(&w, ITEMS, ObjType::List)?;
            }
            WidgetKind::Counter => {
                self.doc.put(&w, VALUE, ScalarValue::counter(0))?;
            }
            WidgetKind::Poll => self.init_poll(&w)?,
            WidgetKind::Kanban => self.init_kanban(&w)?,
        }
        self.place_last(&w)?;
        Ok(w.to_string())
    }

    pub fn remove_widget(&mut self, id: &str) -> Result<(), BoardError> {
        let list = self
            .widgets_list()
            .ok_or(BoardError::Schema("no widget list"))?;
        let (index, _) = self.find_widget(id)?;
        self.doc.delete(&list, index)?;
        Ok(())
    }

    /// Make the note's text `new` by splicing only what differs.
    pub fn set_note_text(&mut self, id: &str, new: &str) -> Result<(), BoardError> {
        let w = self.widget_of_kind(id, WidgetKind::Note)?;
        let text = self
            .obj(&w, TEXT, ObjType::Text)
            .ok_or(BoardError::Schema("note without text"))?;
        self.update_text(&text, new)
    }

    /// Replace `delete` code points at code point `index` of a note with `insert` (what the text
    /// field reported, as [`text_diff::diff`] finds it).
    pub fn splice_note(
        &mut self,
        id: &str,
        index: usize,
        delete: usize,
        insert: &str,
    ) -> Result<(), BoardError> {
        let w = self.widget_of_kind(id, WidgetKind::Note)?;
        let text = self
            .obj(&w, TEXT, ObjType::Text)
            .ok_or(BoardError::Schema("note without text"))?;
        let len = self.doc.length(&text);
        if index.checked_add(delete).is_none_or(|end| end > len) {
            return Err(BoardError::OutOfRange { index, delete, len });
        }
        let delete = isize::try_from(delete).map_err(|_| BoardError::Schema("text too long"))?;
        self.doc.splice_text(&text, index, delete, insert)?;
        Ok(())
    }

    fn task_list(&self, widget: &str) -> Result<ObjId, BoardError> {
        let w = self.widget_of_kind(widget, WidgetKind::Tasks)?;
        self.obj(&w, ITEMS, ObjType::List)
            .ok_or(BoardError::Schema("tasks without items"))
    }

    fn find_task(&self, list: &ObjId, task: &str) -> Result<(usize, ObjId), BoardError> {
        (0..self.doc.length(list))
            .find_map(|i| match self.doc.get(list, i) {
                Ok(Some((Value::Object(ObjType::Map), obj))) if obj.to_string() == task => {
                    Some((i, obj))
                }
                _ => None,
            })
            .ok_or_else(|| BoardError::NoSuchTask(task.to_owned()))
    }

    /// Append a task to a tasks widget; returns the task's id.
    pub fn add_task(&mut self, widget: &str, text: &str) -> Result<String, BoardError> {
        let list = self.task_list(widget)?;
        let len = self.doc.length(&list);
        let item = self.doc.insert_object(&list, len, ObjType::Map)?;
        self.doc.put(&item, TEXT, text)?;
        self.doc.put(&item, DONE, false)?;
        Ok(item.to_string())
    }

    pub fn set_task_done(
        &mut self,
        widget: &str,
        task: &str,
        done: bool,
    ) -> Result<(), BoardError> {
        let list = self.task_list(widget)?;
        let (_, item) = self.find_task(&list, task)?;
        self.doc.put(&item, DONE, done)?;
        Ok(())
    }

    pub fn remove_task(&mut self, widget: &str, task: &str) -> Result<(), BoardError> {
        let list = self.task_list(widget)?;
        let (index, _) = self.find_task(&list, task)?;
        self.doc.delete(&list, index)?;
        Ok(())
    }

    /// Add `delta` to a counter widget; concurrent increments from several peers add up.
    pub fn increment_counter(&mut self, id: &str, delta: i64) -> Result<(), BoardError> {
        let w = self.widget_of_kind(id, WidgetKind::Counter)?;
        self.doc.increment(&w, VALUE, delta)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::WidgetBody;

    fn board(n: u8) -> Board {
        Board::new(ActorId::from([n; 16])).unwrap()
    }

    #[test]
    fn saved_bytes_load_whole_into_a_new_board_and_merge_into_an_edited_one() {
        let mut a = board(1);
        a.set_title("saved").unwrap();
        a.commit(1);
        let saved = a.doc_mut().save();

        let mut fresh = board(2);
        assert_eq!(fresh.heads(), genesis_heads());
        fresh.load_saved(&saved).unwrap();
        assert_eq!(fresh.heads(), a.heads());
        assert_eq!(
            fresh.doc().get_actor(),
            &ActorId::from([2; 16]),
            "keeps its own actor"
        );
        assert_eq!(fresh.view(), a.view());

        let mut edited = board(3);
        let id = edited.add_widget(WidgetKind::Counter).unwrap();
        edited.commit(2);
        edited.load_saved(&saved).unwrap();
        assert_eq!(edited.view().title, "saved");
        assert!(
            edited.view().widgets.iter().any(|w| w.id == id),
            "merged, not replaced"
        );

        // a new board only takes a whole document
        assert!(board(4).load_saved(b"not a document").is_err());

        // the loaded bytes are the snapshot until the next change
        assert_eq!(fresh.snapshot(), saved);
        fresh.set_title("changed").unwrap();
        let snapshot = fresh.snapshot();
        assert_ne!(snapshot, saved);
        let mut again = board(5);
        again.load_saved(&snapshot).unwrap();
        assert_eq!(again.heads(), fresh.heads());
        assert_eq!(again.view().title, "changed");
    }

    /// Load stored pieces into a new board, as a page load does.
    fn reload(pieces: &[Vec<u8>]) -> Board {
        let mut b = board(9);
        for p in pieces {
            b.load_any(p).unwrap();
        }
        assert_eq!(
            b.doc().queued_changes().0,
            0,
            "no piece lacks an earlier one"
        );
        b.mark_stored();
        b
    }

    #[test]
    fn unstored_pieces_reload_to_the_same_board() {
        let mut a = board(1);
        let mut pieces = Vec::new();
        let first = a.unstored(false).unwrap();
        assert!(first.whole, "a new board stores itself whole");
        pieces.push(first.bytes);
        assert_eq!(a.unstored(false), None, "nothing new");

        a.set_title("one").unwrap();
        a.commit(1);
        let second = a.unstored(false).unwrap();
        assert!(!second.whole);
        pieces.push(second.bytes);
        let id = a.add_widget(WidgetKind::Counter).unwrap();
        a.increment_counter(&id, 2).unwrap();
        a.commit(2);
        pieces.push(a.unstored(false).unwrap().bytes);
        assert_eq!(reload(&pieces).heads(), a.heads());
        assert_eq!(reload(&pieces).view(), a.view());

        // asked for whole: one piece replaces the rest
        a.increment_counter(&id, 3).unwrap();
        a.commit(3);
        let whole = a.unstored(true).unwrap();
        assert!(whole.whole);
        assert_eq!(reload(&[whole.bytes]).view(), a.view());

        // reloaded: storage has it all, later edits are stored incrementally
        let mut b = reload(&pieces);
        assert_eq!(b.unstored(false), None);
        b.set_title("two").unwrap();
        b.commit(4);
        let next = b.unstored(false).unwrap();
        assert!(!next.whole);
        pieces.push(next.bytes);
        assert_eq!(reload(&pieces).view().title, "two");
    }

    #[test]
    fn a_board_that_received_a_snapshot_stores_that_snapshot() {
        let mut a = board(1);
        let id = a.add_widget(WidgetKind::Note).unwrap();
        for i in 0..200 {
            // many small changes: stored one by one they are far larger than a snapshot
            a.set_note_text(&id, &"x".repeat(i)).unwrap();
            a.commit(i as i64);
        }
        let snapshot = a.snapshot();

        let mut b = board(2);
        let mut pieces = vec![b.unstored(false).unwrap().bytes];
        b.load_saved(&snapshot).unwrap();
        let piece = b.unstored(false).unwrap();
        assert!(piece.whole, "replaces what was stored before");
        assert_eq!(piece.bytes, snapshot, "stored as it came, not saved again");
        pieces = vec![piece.bytes];
        b.set_title("after").unwrap();
        b.commit(500);
        let next = b.unstored(false).unwrap();
        assert!(!next.whole);
        assert!(
            next.bytes.len() < 1000,
            "only the new change: {} B",
            next.bytes.len()
        );
        pieces.push(next.bytes);
        let reloaded = reload(&pieces);
        assert_eq!(reloaded.view(), b.view());

        // merged into a board that has edits of its own: stored incrementally, nothing lost
        let mut c = board(3);
        c.set_title("mine").unwrap();
        c.commit(1);
        let mut pieces = vec![c.unstored(false).unwrap().bytes];
        c.load_saved(&snapshot).unwrap();
        let piece = c.unstored(false).unwrap();
        assert!(!piece.whole);
        pieces.push(piece.bytes);
        assert_eq!(reload(&pieces).heads(), c.heads());
    }

    #[test]
    fn load_any_takes_changes_into_a_new_board() {
        let mut a = board(1);
        a.set_title("t").unwrap();
        a.commit(1);
        let changes = a.doc_mut().save_after(&genesis_heads());
        let mut b = board(2);
        b.load_any(&changes).unwrap();
        assert_eq!(b.view().title, "t");
        assert!(board(3).load_saved(&changes).is_err(), "not a document");

        // changes one by one that load whole are not kept as the snapshot: it is made compact
        let everything = a.doc_mut().save_after(&[]);
        let mut c = board(4);
        c.load_any(&everything).unwrap();
        assert_eq!(c.heads(), a.heads());
        assert!(!crate::saved::is_document(&everything));
        let snapshot = c.snapshot();
        assert!(crate::saved::is_document(&snapshot));
        let piece = c.unstored(false).unwrap();
        assert!(piece.whole);
        assert_eq!(piece.bytes, snapshot);
    }

    /// Two copies that have seen each other's changes.
    fn pair() -> (Board, Board) {
        let mut a = board(1);
        let mut b = board(2);
        b.merge(&mut a).unwrap();
        (a, b)
    }

    fn sync(a: &mut Board, b: &mut Board) {
        a.merge(b).unwrap();
        b.merge(a).unwrap();
    }

    #[test]
    fn boards_created_apart_share_their_genesis() {
        let mut a = board(1);
        let mut b = board(2);
        assert_eq!(a.heads(), b.heads());
        let n = a.add_widget(WidgetKind::Note).unwrap();
        a.set_note_text(&n, "from a").unwrap();
        b.set_title("from b").unwrap();
        sync(&mut a, &mut b);
        assert_eq!(a.view(), b.view());
        assert_eq!(a.view().title, "from b");
        assert_eq!(a.view().widgets.len(), 1);
    }

    #[test]
    fn widgets_add_and_remove() {
        let mut a = board(1);
        let n = a.add_widget(WidgetKind::Note).unwrap();
        let t = a.add_widget(WidgetKind::Tasks).unwrap();
        let c = a.add_widget(WidgetKind::Counter).unwrap();
        let kinds: Vec<_> = a.view().widgets.iter().map(|w| w.body.kind()).collect();
        assert_eq!(
            kinds,
            [WidgetKind::Note, WidgetKind::Tasks, WidgetKind::Counter]
        );
        a.remove_widget(&t).unwrap();
        let ids: Vec<_> = a.view().widgets.into_iter().map(|w| w.id).collect();
        assert_eq!(ids, [n, c]);
        assert!(matches!(
            a.remove_widget(&t),
            Err(BoardError::NoSuchWidget(_))
        ));
    }

    #[test]
    fn wrong_kind_is_an_error() {
        let mut a = board(1);
        let n = a.add_widget(WidgetKind::Note).unwrap();
        assert!(matches!(
            a.increment_counter(&n, 1),
            Err(BoardError::WrongKind(..))
        ));
        assert!(matches!(
            a.add_task(&n, "x"),
            Err(BoardError::WrongKind(..))
        ));
    }

    #[test]
    fn concurrent_typing_in_one_note_keeps_both_texts() {
        let (mut a, mut b) = pair();
        let n = a.add_widget(WidgetKind::Note).unwrap();
        a.set_note_text(&n, "Hello world").unwrap();
        sync(&mut a, &mut b);
        a.set_note_text(&n, "Hello brave world").unwrap();
        b.set_note_text(&n, "Hello world, again").unwrap();
        sync(&mut a, &mut b);
        let text = |x: &Board| match &x.view().widgets[0].body {
            WidgetBody::Note { text } => text.clone(),
            other => panic!("not a note: {other:?}"),
        };
        assert_eq!(text(&a), text(&b));
        assert_eq!(text(&a), "Hello brave world, again");
    }

    #[test]
    fn emoji_and_accents_survive_concurrent_edits() {
        let (mut a, mut b) = pair();
        let n = a.add_widget(WidgetKind::Note).unwrap();
        a.set_note_text(&n, "café 😀 naïve").unwrap();
        sync(&mut a, &mut b);
        a.set_note_text(&n, "café 😀👍🏽 naïve").unwrap();
        // one input event is one splice: type at the front, then at the end
        b.set_note_text(&n, "crème café 😀 naïve").unwrap();
        b.set_note_text(&n, "crème café 😀 naïve ü").unwrap();
        sync(&mut a, &mut b);
        let WidgetBody::Note { text } = &a.view().widgets[0].body else {
            panic!("not a note")
        };
        assert_eq!(text, "crème café 😀👍🏽 naïve ü");
        assert_eq!(a.view(), b.view());
    }

    #[test]
    fn concurrent_counter_increments_add_up() {
        let (mut a, mut b) = pair();
        let c = a.add_widget(WidgetKind::Counter).unwrap();
        sync(&mut a, &mut b);
        for _ in 0..10 {
            a.increment_counter(&c, 1).unwrap();
            b.increment_counter(&c, 1).unwrap();
        }
        b.increment_counter(&c, -3).unwrap();
        sync(&mut a, &mut b);
        assert_eq!(a.view().widgets[0].body, WidgetBody::Counter { value: 17 });
        assert_eq!(a.view(), b.view());
    }

    #[test]
    fn concurrent_tasks_merge() {
        let (mut a, mut b) = pair();
        let t = a.add_widget(WidgetKind::Tasks).unwrap();
        let first = a.add_task(&t, "write spec").unwrap();
        sync(&mut a, &mut b);
        a.add_task(&t, "from a").unwrap();
        b.add_task(&t, "from b").unwrap();
        b.set_task_done(&t, &first, true).unwrap();
        sync(&mut a, &mut b);
        let WidgetBody::Tasks { items } = &a.view().widgets[0].body else {
            panic!("not tasks")
        };
        assert_eq!(items.len(), 3);
        assert!(items[0].done && items[0].text == "write spec");
        assert_eq!(a.view(), b.view());
        a.remove_task(&t, &first).unwrap();
        let WidgetBody::Tasks { items } = &a.view().widgets[0].body else {
            panic!("not tasks")
        };
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn text_counts_code_points() {
        // If automerge were built with utf16- or utf8-indexing, splices computed on code points
        // would land in the wrong place: this guards the feature choice.
        let mut a = board(1);
        a.set_title("😀").unwrap();
        let title = a.obj(&ROOT, TITLE, ObjType::Text).unwrap();
        assert_eq!(a.doc.length(&title), 1);
    }

    #[test]
    fn malformed_widgets_are_skipped_not_fatal() {
        let mut a = board(1);
        let list = a.widgets_list().unwrap();
        a.doc.insert(&list, 0, "not a map").unwrap();
        let w = a.doc.insert_object(&list, 1, ObjType::Map).unwrap();
        a.doc.put(&w, KIND, "spaceship").unwrap();
        let w = a.doc.insert_object(&list, 2, ObjType::Map).unwrap();
        a.doc.put(&w, KIND, "counter").unwrap();
        a.doc.put(&w, VALUE, "not a number").unwrap();
        let view = a.view();
        assert_eq!(view.widgets.len(), 1);
        assert_eq!(view.widgets[0].body, WidgetBody::Counter { value: 0 });
    }
}
