//! A board's history as people think of it: edit sessions (consecutive changes of one author
//! within a few minutes of each other), each with the version it left the board in and a
//! one-line summary of what it did. Automerge keeps every change; nothing here is stored.

use std::collections::{BTreeSet, HashMap, HashSet};

use automerge::{ChangeHash, ObjId, PatchAction, Prop, Value, ROOT};

use crate::board::genesis_heads;
use crate::error::BoardError;
use crate::view::{WidgetBody, WidgetKind};
use crate::Board;

/// Changes of one author further apart than this (seconds) are two sessions.
pub const SESSION_GAP_SECS: i64 = 5 * 60;

/// Consecutive changes of one author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditSession {
    /// The author's actor id, hex.
    pub actor: String,
    /// Times of its first and last change (seconds since the epoch, as the authors' clocks said).
    pub start: i64,
    pub end: i64,
    pub changes: usize,
    /// The board's heads just before the session's first change, and just after its last: the
    /// version it left the board in.
    pub before: Vec<ChangeHash>,
    pub after: Vec<ChangeHash>,
}

/// Every edit session of the board, oldest first (in the order the changes apply). The genesis
/// change, which every board shares, is not one. One pass over the change metadata; heads are
/// copied only where a session starts (a session's end is where the next one starts).
pub fn sessions(board: &mut Board) -> Vec<EditSession> {
    let genesis = genesis_heads();
    let mut heads: BTreeSet<ChangeHash> = BTreeSet::new();
    let mut out: Vec<EditSession> = Vec::new();
    let mut actor: Option<automerge::ActorId> = None;
    for change in board.doc_mut().get_changes(&[]) {
        let hash = change.hash();
        let time = change.timestamp();
        if !genesis.contains(&hash) {
            let same = actor.as_ref() == Some(change.actor_id())
                && out
                    .last()
                    .is_some_and(|last| (time - last.end).abs() <= SESSION_GAP_SECS);
            match out.last_mut() {
                Some(last) if same => {
                    last.end = last.end.max(time);
                    last.changes += 1;
                }
                _ => {
                    let before: Vec<ChangeHash> = heads.iter().copied().collect();
                    if let Some(last) = out.last_mut() {
                        last.after = before.clone();
                    }
                    actor = Some(change.actor_id().clone());
                    out.push(EditSession {
                        actor: change.actor_id().to_hex_string(),
                        start: time,
                        end: time,
                        changes: 1,
                        before,
                        after: Vec::new(),
                    });
                }
            }
        }
        for dep in change.deps() {
            heads.remove(dep);
        }
        heads.insert(hash);
    }
    if let Some(last) = out.last_mut() {
        last.after = heads.into_iter().collect();
    }
    out
}

/// What a session did, in a line: "edited note “Release notes”, added 3 tasks".
pub fn summary(board: &mut Board, session: &EditSession) -> String {
    let patches = board.doc_mut().diff(&session.before, &session.after);
    let view = board.view_at(&session.after);
    let mut title = false;
    let mut added: Vec<&'static str> = Vec::new();
    let mut removed = 0usize;
    let mut notes: Vec<String> = Vec::new();
    let (mut tasks_added, mut tasks_removed, mut tasks_edited) = (0usize, 0usize, 0usize);
    let mut counters = 0usize;
    let (mut options_added, mut votes, mut questions) = (0usize, 0usize, 0usize);
    let (mut cards_added, mut cards_moved, mut kanban_edited) = (0usize, 0usize, false);
    // objects this session created: what happens inside them is part of "added"
    let inserted: HashSet<ObjId> = patches
        .iter()
        .filter_map(|p| match &p.action {
            PatchAction::Insert { values, .. } => Some(values.iter().map(|v| v.1.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    for patch in &patches {
        let depth = patch.path.len();
        let on_root = |key: &str| {
            patch
                .path
                .first()
                .is_some_and(|(obj, prop)| *obj == ROOT && *prop == Prop::Map(key.into()))
        };
        let note = || {
            let (widget, _) = patch.path.get(2)?;
            if inserted.contains(widget) {
                return None;
            }
            view.widget(&widget.to_string()).and_then(note_text)
        };
        let kind_at = || {
            let (widget, _) = patch.path.get(2)?;
            view.widget(&widget.to_string()).map(|w| w.body.kind())
        };
        let poll = || kind_at() == Some(WidgetKind::Poll);
        // a part of a poll this session did not create
        let poll_part = |key: &str| {
            patch.path.get(2).is_some_and(|(widget, prop)| {
                !inserted.contains(widget) && *prop == Prop::Map(key.into())
            }) && poll()
        };
        match &patch.action {
            PatchAction::SpliceText { .. } | PatchAction::DeleteSeq { .. }
                if depth == 3 && poll_part("question") =>
            {
                questions += 1
            }
            PatchAction::Insert { values, .. } if depth == 3 && poll_part("options") => {
                options_added += values.len()
            }
            PatchAction::PutMap { .. } | PatchAction::DeleteMap { .. }
                if depth == 3 && poll_part("votes") =>
            {
                votes += 1
            }
            PatchAction::SpliceText { .. } | PatchAction::DeleteSeq { .. }
                if depth == 1 && on_root("title") =>
            {
                title = true
            }
            PatchAction::DeleteSeq { length, .. } if depth == 1 && on_root("widgets") => {
                removed += length
            }
            PatchAction::PutMap {
                key,
                value: (Value::Scalar(kind), _),
                ..
            } if depth == 2 && key == "kind" => {
                if let Some(kind) = kind.to_str().and_then(WidgetKind::parse) {
                    added.push(kind.as_str());
                }
            }
            PatchAction::SpliceText { .. } | PatchAction::DeleteSeq { .. }
                if depth == 3 && note().is_some() =>
            {
                let name = first_line(note().unwrap_or_default());
                if !notes.contains(&name) {
                    notes.push(name);
                }
            }
            PatchAction::Insert { values, .. }
                if depth == 3
                    && kind_at() == Some(WidgetKind::Kanban)
                    && patch
                        .path
                        .get(2)
                        .is_some_and(|(_, p)| *p == Prop::Map("cards".into())) =>
            {
                cards_added += values.len()
            }
            PatchAction::PutMap { key, .. }
                if depth == 4
                    && key == "place"
                    && kind_at() == Some(WidgetKind::Kanban)
                    && !inserted.contains(&patch.obj) =>
            {
                cards_moved += 1
            }
            _ if kind_at() == Some(WidgetKind::Kanban) && depth >= 3 => kanban_edited = true,
            _ if kind_at().is_some_and(|k| k != WidgetKind::Tasks) => {}
            PatchAction::Insert { values, .. } if depth == 3 => tasks_added += values.len(),
            PatchAction::DeleteSeq { length, .. } if depth == 3 => tasks_removed += length,
            PatchAction::PutMap { key, .. }
                if depth == 4
                    && (key == "done" || key == "text")
                    && !inserted.contains(&patch.obj) =>
            {
                tasks_edited += 1
            }
            PatchAction::Increment { .. } => counters += 1,
            _ => {}
        }
    }
    let mut parts: Vec<String> = Vec::new();
    if title {
        parts.push("renamed the board".into());
    }
    for kind in ["note", "tasks", "counter", "poll", "kanban"] {
        let n = added.iter().filter(|k| **k == kind).count();
        let what = match kind {
            "tasks" => "task list",
            other => other,
        };
        match n {
            0 => {}
            1 => parts.push(format!("added a {what}")),
            n => parts.push(format!("added {n} {what}s")),
        }
    }
    for name in notes.iter().take(2) {
        parts.push(if name.is_empty() {
            "edited a note".into()
        } else {
            format!("edited note “{name}”")
        });
    }
    if notes.len() > 2 {
        parts.push(format!("{} more notes", notes.len() - 2));
    }
    let count = |n: usize, one: &str, many: &str| {
        if n == 1 {
            one.to_owned()
        } else {
            format!("{n} {many}")
        }
    };
    if cards_added > 0 {
        parts.push(format!("added {}", count(cards_added, "a card", "cards")));
    }
    if cards_moved > 0 {
        parts.push(format!("moved {}", count(cards_moved, "a card", "cards")));
    }
    if kanban_edited && cards_added == 0 && cards_moved == 0 {
        parts.push("edited a kanban".into());
    }
    if questions > 0 {
        parts.push("edited a poll's question".into());
    }
    if options_added > 0 {
        parts.push(format!(
            "added {}",
            count(options_added, "a poll option", "poll options")
        ));
    }
    if votes > 0 {
        parts.push(if votes == 1 {
            "voted".to_owned()
        } else {
            format!("voted {votes} times")
        });
    }
    if tasks_added > 0 {
        parts.push(format!("added {}", count(tasks_added, "a task", "tasks")));
    }
    if tasks_edited > 0 {
        parts.push(format!(
            "updated {}",
            count(tasks_edited, "a task", "tasks")
        ));
    }
    if tasks_removed > 0 {
        parts.push(format!(
            "removed {}",
            count(tasks_removed, "a task", "tasks")
        ));
    }
    if counters > 0 {
        parts.push(format!(
            "changed {}",
            count(counters, "a counter", "counters")
        ));
    }
    if removed > 0 {
        parts.push(format!("removed {}", count(removed, "a widget", "widgets")));
    }
    if parts.is_empty() {
        return "edited the board".into();
    }
    let mut line = parts.join(", ");
    if let Some(first) = line.get(..1) {
        line = first.to_uppercase() + &line[1..];
    }
    line
}

fn note_text(widget: &crate::WidgetView) -> Option<&str> {
    match &widget.body {
        WidgetBody::Note { text } => Some(text),
        _ => None,
    }
}

/// The first non-empty line of `text`, at most 40 characters.
fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut out: String = line.chars().take(40).collect();
    if line.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// The ids of the widgets a session changed (added, edited, or whose tasks it changed).
pub fn touched(board: &mut Board, session: &EditSession) -> HashSet<String> {
    let mut ids = HashSet::new();
    for patch in board.doc_mut().diff(&session.before, &session.after) {
        match patch.path.len() {
            0 | 1 => {
                // an insert into the widget list: the new widgets themselves
                if let PatchAction::Insert { values, .. } = &patch.action {
                    ids.extend(values.iter().map(|v| v.1.to_string()));
                }
            }
            2 => {
                ids.insert(patch.obj.to_string());
            }
            _ => {
                ids.insert(patch.path[2].0.to_string());
            }
        }
    }
    ids
}

/// Make the board look as it did at `heads` again, as new changes on top of the current ones
/// (which sync to every peer like any edit; nothing is rewritten). Widgets removed since come
/// back with new ids, in their old place, width and title; tasks removed since come back at the
/// end of their list.
pub fn restore(board: &mut Board, heads: &[ChangeHash]) -> Result<(), BoardError> {
    let old = board.view_at(heads);
    let now = board.view();
    board.set_title(&old.title)?;
    for widget in &now.widgets {
        if old.widget(&widget.id).is_none() {
            board.remove_widget(&widget.id)?;
        }
    }
    for widget in &old.widgets {
        let id = match now.widget(&widget.id) {
            Some(current) if current.body.kind() == widget.body.kind() => widget.id.clone(),
            _ => board.add_widget(widget.body.kind())?,
        };
        board.restore_layout(&id, &widget.id, heads)?;
        let current = board.widget(&id).map(|w| w.body);
        match (&widget.body, current) {
            (WidgetBody::Note { text }, _) => board.set_note_text(&id, text)?,
            (WidgetBody::Counter { value }, Some(WidgetBody::Counter { value: current })) => {
                let delta = value.saturating_sub(current);
                if delta != 0 {
                    board.increment_counter(&id, delta)?;
                }
            }
            (WidgetBody::Tasks { items }, Some(WidgetBody::Tasks { items: current })) => {
                for task in &current {
                    if !items.iter().any(|t| t.id == task.id) {
                        board.remove_task(&id, &task.id)?;
                    }
                }
                for task in items {
                    match current.iter().find(|t| t.id == task.id) {
                        Some(now) if now.done != task.done => {
                            board.set_task_done(&id, &task.id, task.done)?
                        }
                        Some(_) => {}
                        None => {
                            let new = board.add_task(&id, &task.text)?;
                            if task.done {
                                board.set_task_done(&id, &new, true)?;
                            }
                        }
                    }
                }
            }
            (WidgetBody::Kanban(old), Some(WidgetBody::Kanban(now))) => {
                restore_kanban(board, &id, old, &now)?
            }
            (WidgetBody::Poll(old), Some(WidgetBody::Poll(now))) => {
                board.set_poll_question(&id, &old.question)?;
                // options are never taken back once people may have voted for them: those of
                // the version come back (a poll made anew gets them anew), later ones stay
                let mut option_now: HashMap<&str, String> = HashMap::new();
                for option in &old.options {
                    let present = now.options.iter().any(|o| o.id == option.id);
                    let new = if present {
                        option.id.clone()
                    } else {
                        board.add_poll_option(&id, &option.text)?
                    };
                    option_now.insert(option.id.as_str(), new);
                }
                // and the votes as they were
                let voters: BTreeSet<&String> = now
                    .options
                    .iter()
                    .chain(&old.options)
                    .flat_map(|o| &o.voters)
                    .collect();
                for voter in voters {
                    let was = old
                        .vote_of(voter)
                        .and_then(|o| option_now.get(o))
                        .map(String::as_str);
                    if now.vote_of(voter) != was {
                        board.vote(&id, voter, was)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The kanban `id` (now `now`) as it was (`old`): its columns, then every card in its place.
fn restore_kanban(
    board: &mut Board,
    id: &str,
    old: &crate::KanbanView,
    now: &crate::KanbanView,
) -> Result<(), BoardError> {
    let mut column_now: HashMap<&str, String> = HashMap::new();
    for (i, column) in old.columns.iter().enumerate() {
        let new = match now.columns.iter().find(|c| c.id == column.id) {
            Some(c) => {
                if c.title != column.title {
                    board.rename_kanban_column(id, &c.id, &column.title)?;
                }
                c.id.clone()
            }
            None => board.insert_kanban_column(id, i, &column.title)?,
        };
        column_now.insert(column.id.as_str(), new);
    }
    let was = |card: &str| {
        old.columns
            .iter()
            .any(|c| c.cards.iter().any(|k| k.id == card))
    };
    for card in now.columns.iter().flat_map(|c| &c.cards) {
        if !was(&card.id) {
            board.remove_kanban_card(id, &card.id)?;
        }
    }
    let current = |card: &str| {
        now.columns
            .iter()
            .flat_map(|c| &c.cards)
            .find(|k| k.id == card)
    };
    for column in &old.columns {
        let Some(target) = column_now.get(column.id.as_str()) else {
            continue;
        };
        for (i, card) in column.cards.iter().enumerate() {
            let card_id = match current(&card.id) {
                Some(k) => {
                    if k.text != card.text {
                        board.set_kanban_card_text(id, &k.id, &card.text)?;
                    }
                    k.id.clone()
                }
                None => board.add_kanban_card(id, target, &card.text)?,
            };
            // each card in turn to its index: the ones before it are in place by then
            board.move_kanban_card(id, &card_id, target, i)?;
        }
    }
    for column in &now.columns {
        if !old.columns.iter().any(|c| c.id == column.id) {
            board.remove_kanban_column(id, &column.id)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::ActorId;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const T: i64 = 1_800_000_000;

    #[test]
    fn sessions_group_one_authors_changes_and_restore_brings_a_version_back() {
        let mut alice = Board::new(ActorId::from([1; 16])).unwrap();
        let mut bob = Board::new(ActorId::from([2; 16])).unwrap();
        // alice: three changes within a minute
        alice.set_title("Release").unwrap();
        alice.commit(T);
        let note = alice.add_widget(WidgetKind::Note).unwrap();
        alice.commit(T + 10);
        alice.set_note_text(&note, "Ship on Friday").unwrap();
        alice.commit(T + 50);
        // bob edits after her
        bob.merge(&mut alice).unwrap();
        let tasks = bob.add_widget(WidgetKind::Tasks).unwrap();
        bob.add_task(&tasks, "write notes").unwrap();
        bob.add_task(&tasks, "tag").unwrap();
        bob.commit(T + 60);
        bob.set_note_text(&note, "Ship on Monday").unwrap();
        bob.commit(T + 70);
        // alice again, an hour later
        alice.merge(&mut bob).unwrap();
        let counter = alice.add_widget(WidgetKind::Counter).unwrap();
        alice.increment_counter(&counter, 5).unwrap();
        alice.commit(T + 3600);

        let list = sessions(&mut alice);
        let who: Vec<(String, usize)> = list
            .iter()
            .map(|s| (s.actor[..2].to_owned(), s.changes))
            .collect();
        assert_eq!(
            who,
            [("01".into(), 3), ("02".into(), 2), ("01".into(), 1)],
            "{list:#?}"
        );
        assert_eq!(list[0].before, genesis_heads());
        assert_eq!(list[2].after, alice.heads());

        assert_eq!(
            summary(&mut alice, &list[0]),
            "Renamed the board, added a note"
        );
        assert_eq!(
            summary(&mut alice, &list[1]),
            "Added a task list, edited note “Ship on Monday”, added 2 tasks"
        );
        assert_eq!(summary(&mut alice, &list[2]), "Added a counter");
        let changed = touched(&mut alice, &list[1]);
        assert!(
            changed.contains(&note) && changed.contains(&tasks),
            "{changed:?}"
        );
        assert_eq!(
            touched(&mut alice, &list[2]),
            HashSet::from([counter.clone()])
        );

        // the version after alice's first session: her note, no tasks, no counter
        let old = alice.view_at(&list[0].after);
        assert_eq!(old.widgets.len(), 1);
        assert_eq!(
            old.widgets[0].body,
            WidgetBody::Note {
                text: "Ship on Friday".into()
            }
        );
        let heads = alice.heads();
        restore(&mut alice, &list[0].after).unwrap();
        alice.commit(T + 4000);
        assert_eq!(alice.view().widgets, old.widgets);
        assert_eq!(alice.title(), "Release");
        // nothing was rewritten: the history is all still there, and more
        assert!(heads
            .iter()
            .all(|h| alice.doc_mut().get_change_by_hash(h).is_some()));
        assert_eq!(sessions(&mut alice).len(), 4);
        // a version with more than now comes back too
        restore(&mut alice, &list[1].after).unwrap();
        alice.commit(T + 4100);
        let view = alice.view();
        assert_eq!(view.widgets.len(), 2);
        let WidgetBody::Tasks { items } = &view.widgets[1].body else {
            panic!("{view:?}")
        };
        let texts: Vec<&str> = items.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["write notes", "tag"]);
        // and the summary of a restore says what it did
        let last = sessions(&mut alice).pop().unwrap();
        assert!(
            summary(&mut alice, &last).contains("Added a task list"),
            "{}",
            summary(&mut alice, &last)
        );
    }

    #[test]
    fn a_polls_sessions_are_summed_up_and_its_votes_restored() {
        const ANN: &str = "ann-profile-1";
        const BOB: &str = "bob-profile-2";
        let mut alice = Board::new(ActorId::from([1; 16])).unwrap();
        let poll = alice.add_widget(WidgetKind::Poll).unwrap();
        alice.set_poll_question(&poll, "Lunch?").unwrap();
        let soup = alice.add_poll_option(&poll, "Soup").unwrap();
        alice.commit(T);
        let mut bob = Board::new(ActorId::from([2; 16])).unwrap();
        bob.merge(&mut alice).unwrap();
        let pizza = bob.add_poll_option(&poll, "Pizza").unwrap();
        bob.vote(&poll, BOB, Some(&soup)).unwrap();
        bob.vote(&poll, ANN, Some(&soup)).unwrap();
        bob.commit(T + 60);
        alice.merge(&mut bob).unwrap();
        alice.set_poll_question(&poll, "Lunch today?").unwrap();
        alice.vote(&poll, ANN, Some(&pizza)).unwrap();
        alice.vote(&poll, BOB, None).unwrap();
        alice.commit(T + 3600);

        let list = sessions(&mut alice);
        assert_eq!(list.len(), 3, "{list:#?}");
        assert_eq!(summary(&mut alice, &list[0]), "Added a poll");
        assert_eq!(
            summary(&mut alice, &list[1]),
            "Added a poll option, voted 2 times"
        );
        assert_eq!(
            summary(&mut alice, &list[2]),
            "Edited a poll's question, voted 2 times"
        );

        let old = alice.view_at(&list[1].after);
        restore(&mut alice, &list[1].after).unwrap();
        alice.commit(T + 4000);
        assert_eq!(alice.view().widgets, old.widgets);
        match &alice.view().widgets[0].body {
            WidgetBody::Poll(p) => {
                assert_eq!(p.question, "Lunch?");
                assert_eq!(p.vote_of(ANN), Some(soup.as_str()));
                assert_eq!(p.vote_of(BOB), Some(soup.as_str()));
            }
            other => panic!("{other:?}"),
        }
        // a poll removed since comes back with its options and votes
        alice.remove_widget(&poll).unwrap();
        alice.commit(T + 5000);
        restore(&mut alice, &list[1].after).unwrap();
        alice.commit(T + 6000);
        match &alice.view().widgets[..] {
            [w] => match &w.body {
                WidgetBody::Poll(p) => {
                    let texts: Vec<&str> = p.options.iter().map(|o| o.text.as_str()).collect();
                    assert_eq!(texts, ["Soup", "Pizza"]);
                    assert_eq!(p.options[0].voters.len(), 2);
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_kanbans_sessions_are_summed_up_and_its_cards_restored() {
        let mut alice = Board::new(ActorId::from([1; 16])).unwrap();
        let k = alice.add_widget(WidgetKind::Kanban).unwrap();
        let cols: Vec<String> = alice
            .kanban(&k)
            .unwrap()
            .columns
            .iter()
            .map(|c| c.id.clone())
            .collect();
        let a = alice.add_kanban_card(&k, &cols[0], "a").unwrap();
        alice.add_kanban_card(&k, &cols[0], "b").unwrap();
        alice.commit(T);
        alice.move_kanban_card(&k, &a, &cols[2], 0).unwrap();
        alice.rename_kanban_column(&k, &cols[1], "Review").unwrap();
        alice.add_kanban_card(&k, &cols[1], "c").unwrap();
        alice.remove_kanban_column(&k, &cols[0]).unwrap();
        alice.commit(T + 3600);
        let list = sessions(&mut alice);
        assert_eq!(list.len(), 2);
        assert_eq!(
            summary(&mut alice, &list[0]),
            "Added a kanban, added 2 cards"
        );
        assert_eq!(summary(&mut alice, &list[1]), "Added a card, moved 2 cards");
        let old = alice.view_at(&list[0].after);
        restore(&mut alice, &list[0].after).unwrap();
        alice.commit(T + 4000);
        let strip = |v: &crate::BoardView| match &v.widgets[0].body {
            WidgetBody::Kanban(k) => k
                .columns
                .iter()
                .map(|c| {
                    (
                        c.title.clone(),
                        c.cards.iter().map(|k| k.text.clone()).collect::<Vec<_>>(),
                    )
                })
                .collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(strip(&alice.view()), strip(&old));
        assert_eq!(
            strip(&old),
            [
                ("To do".to_string(), vec!["a".to_string(), "b".to_string()]),
                ("Doing".to_string(), vec![]),
                ("Done".to_string(), vec![]),
            ]
        );
    }
}
