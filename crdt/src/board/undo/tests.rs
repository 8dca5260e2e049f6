use automerge::ActorId;

use super::*;
use crate::{WidgetBody, WidgetKind};

/// A page's board with its undo stack; `now` is its clock in ms.
struct Page {
    board: Board,
    undo: UndoStack,
    now: u64,
}

impl Page {
    fn new(actor: u8) -> Self {
        Page {
            board: Board::new(ActorId::from([actor; 16])).unwrap(),
            undo: UndoStack::default(),
            now: 1_000,
        }
    }

    /// Make an edit as its own step (a second later than the last).
    fn edit(&mut self, f: impl FnOnce(&mut Board) -> Result<(), BoardError>) {
        self.now += 1_000;
        f(&mut self.board).unwrap();
        let hash = self.board.commit(1).unwrap();
        self.undo.record(hash, self.now);
    }

    fn undo(&mut self) -> bool {
        self.now += 1_000;
        let done = self.undo.undo(&mut self.board).unwrap();
        if let Some(hash) = self.board.commit(1) {
            self.undo.undone(hash, self.now);
        }
        done
    }

    fn redo(&mut self) -> bool {
        self.now += 1_000;
        let done = self.undo.redo(&mut self.board).unwrap();
        if let Some(hash) = self.board.commit(1) {
            self.undo.redone(hash, self.now);
        }
        done
    }

    fn note(&self, id: &str) -> String {
        match self.board.widget(id).map(|w| w.body) {
            Some(WidgetBody::Note { text }) => text,
            other => panic!("no note: {other:?}"),
        }
    }

    fn kinds(&self) -> Vec<(String, WidgetKind)> {
        self.board.widget_kinds()
    }
}

#[test]
fn each_kind_of_edit_is_undone_and_redone() {
    let mut p = Page::new(1);
    p.edit(|b| b.set_title("Plan"));
    p.edit(|b| b.add_widget(WidgetKind::Note).map(|_| ()));
    let note = p.kinds()[0].0.clone();
    p.edit(|b| b.set_note_text(&note, "hello"));
    p.edit(|b| b.add_widget(WidgetKind::Counter).map(|_| ()));
    let counter = p.kinds()[1].0.clone();
    p.edit(|b| b.increment_counter(&counter, 3));
    p.edit(|b| b.add_widget(WidgetKind::Tasks).map(|_| ()));
    let tasks = p.kinds()[2].0.clone();
    let mut task = String::new();
    p.edit(|b| b.add_task(&tasks, "milk").map(|t| task = t));
    p.edit(|b| b.set_task_done(&tasks, &task, true));
    p.edit(|b| b.remove_widget(&note));
    assert_eq!(p.kinds().len(), 2);

    let snapshots = |p: &Page| p.board.view();
    let mut states = vec![snapshots(&p)];
    // undo all nine steps, one at a time, and check the board went back each time
    assert!(p.undo(), "the removed note comes back");
    assert_eq!(p.kinds()[0].1, WidgetKind::Note, "in its old place");
    let note = p.kinds()[0].0.clone();
    assert_eq!(p.note(&note), "hello");
    states.push(snapshots(&p));
    assert!(p.undo());
    let tasks_view = p.board.widget(&tasks).map(|w| w.body);
    assert!(
        matches!(tasks_view, Some(WidgetBody::Tasks { items }) if items.len() == 1 && !items[0].done)
    );
    assert!(p.undo());
    assert!(
        matches!(p.board.widget(&tasks).map(|w| w.body), Some(WidgetBody::Tasks { items }) if items.is_empty())
    );
    assert!(p.undo());
    assert_eq!(p.kinds().len(), 2, "the tasks widget is gone");
    assert!(p.undo());
    assert!(matches!(
        p.board.widget(&counter).map(|w| w.body),
        Some(WidgetBody::Counter { value: 0 })
    ));
    assert!(p.undo());
    assert_eq!(p.kinds().len(), 1, "the counter is gone");
    assert!(p.undo());
    assert_eq!(p.note(&note), "");
    assert!(p.undo());
    assert!(p.kinds().is_empty());
    assert!(p.undo());
    assert_eq!(p.board.title(), "");
    assert!(!p.undo(), "nothing left");

    // and redo them all
    for _ in 0..9 {
        assert!(p.redo());
    }
    assert!(!p.redo());
    assert_eq!(p.board.title(), "Plan");
    let kinds: Vec<WidgetKind> = p.kinds().into_iter().map(|(_, k)| k).collect();
    assert_eq!(kinds, vec![WidgetKind::Counter, WidgetKind::Tasks]);
    let counter_value =
        p.kinds()
            .iter()
            .find_map(|(id, _)| match p.board.widget(id).map(|w| w.body) {
                Some(WidgetBody::Counter { value }) => Some(value),
                _ => None,
            });
    assert_eq!(counter_value, Some(3));
}

#[test]
fn undoing_my_typing_keeps_a_peers_text_in_the_same_note() {
    let mut a = Page::new(1);
    a.edit(|b| b.add_widget(WidgetKind::Note).map(|_| ()));
    let note = a.kinds()[0].0.clone();
    a.edit(|b| b.set_note_text(&note, "one three"));
    let mut peer = Board::new(ActorId::from([2; 16])).unwrap();
    peer.merge(&mut a.board).unwrap();
    // A types " two" after "one"; meanwhile the peer appends " four"
    a.edit(|b| b.splice_note(&note, 3, 0, " two"));
    peer.splice_note(&note, 9, 0, " four").unwrap();
    peer.commit(1);
    a.board.merge(&mut peer).unwrap();
    assert_eq!(a.note(&note), "one two three four");
    assert!(a.undo());
    assert_eq!(a.note(&note), "one three four", "only A's text went");
    assert!(a.redo());
    assert_eq!(a.note(&note), "one two three four");
    // and the peer gets the same by syncing
    peer.merge(&mut a.board).unwrap();
    assert_eq!(
        peer.widget(&note).map(|w| w.body),
        Some(WidgetBody::Note {
            text: "one two three four".into()
        })
    );
}

#[test]
fn undo_never_takes_back_a_peers_change() {
    let mut a = Page::new(1);
    a.edit(|b| b.add_widget(WidgetKind::Counter).map(|_| ()));
    let counter = a.kinds()[0].0.clone();
    a.edit(|b| b.increment_counter(&counter, 1));
    let mut peer = Board::new(ActorId::from([2; 16])).unwrap();
    peer.merge(&mut a.board).unwrap();
    peer.increment_counter(&counter, 10).unwrap();
    peer.set_title("Theirs").unwrap();
    peer.commit(1);
    a.board.merge(&mut peer).unwrap();
    assert!(a.undo());
    assert!(matches!(
        a.board.widget(&counter).map(|w| w.body),
        Some(WidgetBody::Counter { value: 10 })
    ));
    assert_eq!(a.board.title(), "Theirs");
}

#[test]
fn typing_within_half_a_second_is_one_step() {
    let mut p = Page::new(1);
    p.edit(|b| b.add_widget(WidgetKind::Note).map(|_| ()));
    let note = p.kinds()[0].0.clone();
    p.now += 1_000;
    for (i, c) in "hello".chars().enumerate() {
        p.now += 100;
        p.board.splice_note(&note, i, 0, &c.to_string()).unwrap();
        let hash = p.board.commit(1).unwrap();
        p.undo.record(hash, p.now);
    }
    p.now += 2_000;
    p.board.splice_note(&note, 5, 0, "!").unwrap();
    let hash = p.board.commit(1).unwrap();
    p.undo.record(hash, p.now);
    assert!(p.undo());
    assert_eq!(p.note(&note), "hello");
    assert!(p.undo());
    assert_eq!(p.note(&note), "", "the five keystrokes were one step");
    assert!(p.redo());
    assert_eq!(p.note(&note), "hello");
    // a new edit ends the redo
    p.edit(|b| b.splice_note(&note, 0, 0, ">"));
    assert!(!p.undo.can_redo());
}

/// The vendored automerge hid an incremented counter from every read at past heads (history's
/// version view showed it as 0, and undo could not see what an increment did).
#[test]
fn a_counter_reads_right_at_past_heads() {
    let mut p = Page::new(1);
    p.edit(|b| b.add_widget(WidgetKind::Counter).map(|_| ()));
    let h0 = p.board.heads();
    let counter = p.kinds()[0].0.clone();
    p.edit(|b| b.increment_counter(&counter, 3));
    let h1 = p.board.heads();
    p.edit(|b| b.increment_counter(&counter, 4));
    let h2 = p.board.heads();
    let value = |heads: &[ChangeHash]| {
        p.board
            .view_at(heads)
            .widget(&counter)
            .map(|w| w.body.clone())
    };
    assert_eq!(value(&h0), Some(WidgetBody::Counter { value: 0 }));
    assert_eq!(value(&h1), Some(WidgetBody::Counter { value: 3 }));
    assert_eq!(value(&h2), Some(WidgetBody::Counter { value: 7 }));
}
