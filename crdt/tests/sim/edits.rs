//! Random edits of every widget kind, as users make them.
//!
//! Ids come mostly from the editing peer's own view, sometimes from every id the run has seen (so
//! widgets and tasks removed elsewhere, or not yet arrived here, are edited too). An edit that
//! fails because its target is gone is skipped, as the UI would skip it; it never unwraps.

use crdt::{Board, WidgetBody, WidgetKind};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const WORDS: [&str; 10] = [
    "alpha", "beta", "mesh", "board", "née", "€", "sync", " ", "\n", "🙂",
];

/// Ids of widgets and tasks seen anywhere during a run (removed ones included).
#[derive(Default)]
pub struct Seen {
    pub widgets: Vec<String>,
    pub tasks: Vec<(String, String)>,
}

impl Seen {
    fn remember_widget(&mut self, id: String) {
        if self.widgets.len() < 200 && !self.widgets.contains(&id) {
            self.widgets.push(id);
        }
    }

    fn remember_task(&mut self, widget: String, task: String) {
        if self.tasks.len() < 200 {
            self.tasks.push((widget, task));
        }
    }
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> Option<&'a T> {
    (!items.is_empty()).then(|| &items[rng.random_range(0..items.len())])
}

/// Insert a word or delete a range at a random place (by chars, so any text stays valid).
fn mutate_text(rng: &mut ChaCha8Rng, old: &str) -> String {
    let mut chars: Vec<char> = old.chars().collect();
    let at = rng.random_range(0..=chars.len());
    if chars.is_empty() || rng.random_bool(0.7) {
        let word = WORDS[rng.random_range(0..WORDS.len())];
        chars.splice(at..at, word.chars());
    } else {
        let end = (at + rng.random_range(1..=8)).min(chars.len());
        chars.drain(at.min(end)..end);
    }
    chars.into_iter().collect()
}

/// One random edit of `board` (not committed: the caller sends `LocalChange`).
pub fn random_edit(board: &mut Board, rng: &mut ChaCha8Rng, seen: &mut Seen) {
    let view = board.view();
    let of_kind = |k: WidgetKind| -> Vec<String> {
        view.widgets
            .iter()
            .filter(|w| w.body.kind() == k)
            .map(|w| w.id.clone())
            .collect()
    };
    // mostly a widget this peer sees; sometimes any widget the run has seen
    let stale = rng.random_bool(0.2);
    let target = |rng: &mut ChaCha8Rng, k: WidgetKind, seen: &Seen| -> Option<String> {
        if stale {
            pick(rng, &seen.widgets).cloned()
        } else {
            pick(rng, &of_kind(k)).cloned()
        }
    };
    match rng.random_range(0..100) {
        0..15 => {
            let kind = WidgetKind::ALL[rng.random_range(0..WidgetKind::ALL.len())];
            if let Ok(id) = board.add_widget(kind) {
                seen.remember_widget(id);
            }
        }
        15..20 => {
            let all: Vec<String> = view.widgets.iter().map(|w| w.id.clone()).collect();
            let id = if stale {
                pick(rng, &seen.widgets)
            } else {
                pick(rng, &all)
            };
            if let Some(id) = id.cloned() {
                let _ = board.remove_widget(&id);
            }
        }
        20..50 => {
            if let Some(id) = target(rng, WidgetKind::Note, seen) {
                let old = match view.widget(&id).map(|w| &w.body) {
                    Some(WidgetBody::Note { text }) => text.clone(),
                    _ => String::new(),
                };
                let new = mutate_text(rng, &old);
                let _ = board.set_note_text(&id, &new);
            }
        }
        50..60 => {
            if let Some(id) = target(rng, WidgetKind::Tasks, seen) {
                let text = WORDS[rng.random_range(0..WORDS.len())];
                if let Ok(task) = board.add_task(&id, text) {
                    seen.remember_task(id, task);
                }
            }
        }
        60..75 => {
            let tasks: Vec<(String, String)> = view
                .widgets
                .iter()
                .flat_map(|w| match &w.body {
                    WidgetBody::Tasks { items } => {
                        items.iter().map(|t| (w.id.clone(), t.id.clone())).collect()
                    }
                    _ => Vec::new(),
                })
                .collect();
            let task = if stale {
                pick(rng, &seen.tasks)
            } else {
                pick(rng, &tasks)
            };
            if let Some((widget, task)) = task.cloned() {
                let _ = if rng.random_bool(0.7) {
                    board.set_task_done(&widget, &task, rng.random_bool(0.5))
                } else {
                    board.remove_task(&widget, &task)
                };
            }
        }
        75..82 => {
            if let Some(id) = target(rng, WidgetKind::Counter, seen) {
                let _ = board.increment_counter(&id, rng.random_range(-3..=5));
            }
        }
        // polls: a few voters (the same people on several peers: concurrent votes of one
        // person must end as one vote), new options, the question
        82..86 => {
            if let Some(id) = target(rng, WidgetKind::Poll, seen) {
                let options: Vec<String> = match view.widget(&id).map(|w| &w.body) {
                    Some(WidgetBody::Poll(p)) => p.options.iter().map(|o| o.id.clone()).collect(),
                    _ => Vec::new(),
                };
                let voter = ["voter-ann1", "voter-bob2", "voter-cy3"][rng.random_range(0..3)];
                let _ = match rng.random_range(0..4) {
                    0 => board
                        .add_poll_option(&id, WORDS[rng.random_range(0..WORDS.len())])
                        .map(drop),
                    1 => board.set_poll_question(&id, &mutate_text(rng, "")),
                    2 => board.vote(&id, voter, None),
                    _ => match pick(rng, &options) {
                        Some(option) => board.vote(&id, voter, Some(option)),
                        None => Ok(()),
                    },
                };
            }
        }
        // kanban: cards added and moved between and within columns (concurrent moves of one
        // card must leave it in exactly one place), columns renamed, added and removed
        86..90 => {
            if let Some(id) = target(rng, WidgetKind::Kanban, seen) {
                let (columns, cards): (Vec<String>, Vec<String>) =
                    match view.widget(&id).map(|w| &w.body) {
                        Some(WidgetBody::Kanban(k)) => (
                            k.columns.iter().map(|c| c.id.clone()).collect(),
                            k.columns
                                .iter()
                                .flat_map(|c| c.cards.iter().map(|k| k.id.clone()))
                                .collect(),
                        ),
                        _ => (Vec::new(), Vec::new()),
                    };
                let column = pick(rng, &columns).cloned().unwrap_or_default();
                let _ = match rng.random_range(0..10) {
                    0..3 => board
                        .add_kanban_card(&id, &column, WORDS[rng.random_range(0..WORDS.len())])
                        .map(drop),
                    3..8 => match pick(rng, &cards) {
                        Some(card) => {
                            board.move_kanban_card(&id, card, &column, rng.random_range(0..4))
                        }
                        None => Ok(()),
                    },
                    8 => board.rename_kanban_column(
                        &id,
                        &column,
                        WORDS[rng.random_range(0..WORDS.len())],
                    ),
                    _ => {
                        if rng.random_bool(0.5) {
                            board.add_kanban_column(&id, "more").map(drop)
                        } else {
                            board.remove_kanban_column(&id, &column)
                        }
                    }
                };
            }
        }
        // layout: moves (concurrent ones must end in one order with every widget once), widths
        // and widget titles
        90..95 => {
            let all: Vec<String> = view.widgets.iter().map(|w| w.id.clone()).collect();
            if let Some(id) = pick(rng, &all).cloned() {
                let _ = board.move_widget(&id, rng.random_range(-3i32..=3) as isize);
            }
        }
        95..97 => {
            if let Some(id) = pick(rng, &seen.widgets).cloned() {
                let _ = if rng.random_bool(0.5) {
                    board.set_widget_size(&id, rng.random_range(1..=3))
                } else {
                    let old = board.widget_layout(&id).unwrap_or_default().title;
                    board.set_widget_title(&id, &mutate_text(rng, &old))
                };
            }
        }
        _ => {
            let title = mutate_text(rng, &view.title);
            let _ = board.set_title(&title);
        }
    }
}
