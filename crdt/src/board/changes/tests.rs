use super::*;
use crate::board::Board;

fn watched() -> Board {
    let mut b = Board::new_random().unwrap();
    b.watch_changes();
    b
}

/// Apply everything `from` has that `to` lacks, as a peer's changes arrive.
fn sync(from: &mut Board, to: &mut Board) {
    let changes = from.doc_mut().get_changes(&to.heads());
    let changes: Vec<_> = changes.into_iter().cloned().collect();
    to.doc_mut().apply_changes(changes).unwrap();
}

#[test]
fn unwatched_boards_answer_all() {
    let mut b = Board::new_random().unwrap();
    assert_eq!(b.take_changes(), vec![BoardChange::All]);
}

#[test]
fn typing_into_a_note_is_reported_as_splices_in_code_points() {
    let mut a = watched();
    let note = a.add_widget(WidgetKind::Note).unwrap();
    a.commit(0);
    assert_eq!(a.take_changes()[0], BoardChange::Widgets);
    a.splice_note(&note, 0, 0, "h😀llo").unwrap();
    a.splice_note(&note, 1, 1, "e").unwrap();
    a.commit(0);
    let changes = a.take_changes();
    let mut text = String::new();
    for c in &changes {
        let BoardChange::NoteSplice {
            widget,
            index,
            delete,
            insert,
        } = c
        else {
            panic!("{c:?}");
        };
        assert_eq!(widget, &note);
        let at = |i: usize| text.char_indices().nth(i).map_or(text.len(), |(b, _)| b);
        let (start, end) = (at(*index), at(index + delete));
        text.replace_range(start..end, insert);
    }
    assert_eq!(text, "hello");
    assert_eq!(a.take_changes(), vec![], "nothing new");
}

#[test]
fn a_peers_changes_name_what_to_read_again() {
    let mut a = watched();
    let mut b = watched();
    let (note, tasks, counter) = (
        a.add_widget(WidgetKind::Note).unwrap(),
        a.add_widget(WidgetKind::Tasks).unwrap(),
        a.add_widget(WidgetKind::Counter).unwrap(),
    );
    a.commit(0);
    sync(&mut a, &mut b);
    // the list changed (the new widgets' own content is read with them)
    assert_eq!(b.take_changes()[0], BoardChange::Widgets);
    a.set_title("Plans").unwrap();
    a.add_task(&tasks, "buy milk").unwrap();
    a.increment_counter(&counter, 2).unwrap();
    a.splice_note(&note, 0, 0, "hi").unwrap();
    a.commit(0);
    sync(&mut a, &mut b);
    let changes = b.take_changes();
    assert!(changes.contains(&BoardChange::Title), "{changes:?}");
    assert!(
        changes.contains(&BoardChange::Widget(tasks.clone())),
        "{changes:?}"
    );
    assert!(
        changes.contains(&BoardChange::Widget(counter.clone())),
        "{changes:?}"
    );
    assert!(
        changes.contains(&BoardChange::NoteSplice {
            widget: note.clone(),
            index: 0,
            delete: 0,
            insert: "hi".into()
        }),
        "{changes:?}"
    );
    assert!(!changes.contains(&BoardChange::Widgets), "{changes:?}");
    a.remove_widget(&tasks).unwrap();
    a.commit(0);
    sync(&mut a, &mut b);
    assert_eq!(b.take_changes(), vec![BoardChange::Widgets]);
}

#[test]
fn a_large_load_is_answered_with_all() {
    let mut a = Board::new_random().unwrap();
    let note = a.add_widget(WidgetKind::Note).unwrap();
    a.splice_note(&note, 0, 0, &"x".repeat(100_000)).unwrap();
    a.commit(0);
    let saved = a.doc_mut().save();
    let mut fresh = watched();
    fresh.load_saved(&saved).unwrap();
    assert_eq!(fresh.take_changes(), vec![BoardChange::All]);
    assert_eq!(fresh.take_changes(), vec![], "watching again");
    // a large incremental load on a board that already has changes of its own
    let mut other = watched();
    other.set_title("mine").unwrap();
    other.commit(0);
    other.take_changes();
    other.load_any(&a.doc_mut().save_after(&[])).unwrap();
    assert_eq!(other.take_changes(), vec![BoardChange::All]);
}

#[test]
fn a_splice_outside_the_text_is_an_error_and_changes_nothing() {
    let mut a = watched();
    let note = a.add_widget(WidgetKind::Note).unwrap();
    a.splice_note(&note, 0, 0, "abc").unwrap();
    assert!(matches!(
        a.splice_note(&note, 2, 2, "x"),
        Err(crate::BoardError::OutOfRange { .. })
    ));
    assert!(a.splice_note(&note, 4, 0, "x").is_err());
    assert!(a.splice_note(&note, usize::MAX, 2, "x").is_err());
}

#[test]
fn uncommitted_edits_are_left_to_their_commit() {
    let mut a = watched();
    a.set_title("draft").unwrap();
    assert_eq!(a.take_changes(), vec![], "not committed yet");
    let hash = a.commit(42);
    assert!(
        hash.is_some(),
        "reading the changes did not commit the edit"
    );
    assert_eq!(a.take_changes(), vec![BoardChange::Title]);
}
