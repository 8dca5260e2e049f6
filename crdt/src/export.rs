//! A board as files people can keep: JSON (a documented, versioned schema) and Markdown. The
//! third format, the Automerge document with its whole history, is [`Board::snapshot`].
//!
//! JSON, version 1 (see `docs/board-json.md`):
//!
//! ```json
//! { "format": "meshboard-board", "version": 1, "title": "Launch",
//!   "widgets": [
//!     { "id": "2@ab…", "title": "…", "size": 1, "kind": "note", "text": "…" },
//!     { "id": "5@ab…", "kind": "tasks", "items": [ { "text": "ship", "done": false } ] },
//!     { "id": "9@ab…", "kind": "counter", "value": 3 },
//!     { "id": "12@ab…", "kind": "poll", "question": "Lunch?",
//!       "options": [ { "text": "Soup", "votes": 2 } ] },
//!     { "id": "15@ab…", "kind": "kanban",
//!       "columns": [ { "title": "To do", "cards": [ { "text": "ship" } ] } ] } ] }
//! ```
//!
//! [`Board::snapshot`]: crate::Board::snapshot

use serde::Serialize;

use crate::board::WidgetLayout;
use crate::view::WidgetBody;
use crate::Board;

/// The value of `format` in every JSON export.
pub const JSON_FORMAT: &str = "meshboard-board";
/// Bumped when the JSON schema changes incompatibly.
pub const JSON_VERSION: u32 = 1;

#[derive(Serialize)]
struct JsonBoard<'a> {
    format: &'static str,
    version: u32,
    title: &'a str,
    widgets: Vec<JsonWidget<'a>>,
}

#[derive(Serialize)]
struct JsonWidget<'a> {
    id: &'a str,
    title: String,
    /// The width in columns, 1 to 3.
    size: u8,
    #[serde(flatten)]
    body: JsonBody<'a>,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum JsonBody<'a> {
    Note {
        text: &'a str,
    },
    Tasks {
        items: Vec<JsonTask<'a>>,
    },
    Counter {
        value: i64,
    },
    Poll {
        question: &'a str,
        options: Vec<JsonOption<'a>>,
    },
    Kanban {
        columns: Vec<JsonColumn<'a>>,
    },
}

#[derive(Serialize)]
struct JsonColumn<'a> {
    title: &'a str,
    cards: Vec<JsonCard<'a>>,
}

#[derive(Serialize)]
struct JsonCard<'a> {
    text: &'a str,
}

#[derive(Serialize)]
struct JsonOption<'a> {
    text: &'a str,
    /// How many people voted for it (who they are is not exported: voter ids are browser
    /// profiles, which mean nothing outside the board).
    votes: usize,
}

#[derive(Serialize)]
struct JsonTask<'a> {
    text: &'a str,
    done: bool,
}

/// The board as pretty-printed JSON.
pub fn to_json(board: &Board) -> String {
    let view = board.view();
    let layout = |id: &str| board.widget_layout(id).unwrap_or_default();
    let board = JsonBoard {
        format: JSON_FORMAT,
        version: JSON_VERSION,
        title: &view.title,
        widgets: view
            .widgets
            .iter()
            .map(|w| JsonWidget {
                id: &w.id,
                title: layout(&w.id).title,
                size: layout(&w.id).size,
                body: match &w.body {
                    WidgetBody::Note { text } => JsonBody::Note { text },
                    WidgetBody::Tasks { items } => JsonBody::Tasks {
                        items: items
                            .iter()
                            .map(|t| JsonTask {
                                text: &t.text,
                                done: t.done,
                            })
                            .collect(),
                    },
                    WidgetBody::Counter { value } => JsonBody::Counter { value: *value },
                    WidgetBody::Poll(poll) => JsonBody::Poll {
                        question: &poll.question,
                        options: poll
                            .options
                            .iter()
                            .map(|o| JsonOption {
                                text: &o.text,
                                votes: o.voters.len(),
                            })
                            .collect(),
                    },
                    WidgetBody::Kanban(kanban) => JsonBody::Kanban {
                        columns: kanban
                            .columns
                            .iter()
                            .map(|c| JsonColumn {
                                title: &c.title,
                                cards: c.cards.iter().map(|k| JsonCard { text: &k.text }).collect(),
                            })
                            .collect(),
                    },
                },
            })
            .collect(),
    };
    // Plain structs of strings, bools and integers always serialize.
    serde_json::to_string_pretty(&board).unwrap_or_default()
}

/// The board as Markdown: its title, then each widget under a heading of its title (or its
/// kind); notes as their text, tasks as a checklist, counters as their value, polls as their
/// question and each option with its votes, kanbans as a list of cards under each column.
pub fn to_markdown(board: &Board) -> String {
    let view = board.view();
    let heading = |id: &str, kind: &str| {
        let WidgetLayout { title, .. } = board.widget_layout(id).unwrap_or_default();
        let title = one_line(&title);
        format!(
            "## {}\n\n",
            if title.is_empty() { kind } else { title.trim() }
        )
    };
    let mut out = String::new();
    let title = one_line(&view.title);
    out.push_str(&format!(
        "# {}\n",
        if title.is_empty() {
            "Untitled board"
        } else {
            &title
        }
    ));
    for widget in &view.widgets {
        out.push('\n');
        match &widget.body {
            WidgetBody::Note { text } => {
                out.push_str(&heading(&widget.id, "Note"));
                if !text.is_empty() {
                    out.push_str(text.trim_end_matches('\n'));
                    out.push('\n');
                }
            }
            WidgetBody::Tasks { items } => {
                out.push_str(&heading(&widget.id, "Tasks"));
                for task in items {
                    let mark = if task.done { 'x' } else { ' ' };
                    out.push_str(&format!("- [{mark}] {}\n", one_line(&task.text)));
                }
            }
            WidgetBody::Counter { value } => {
                out.push_str(&format!("{}{value}\n", heading(&widget.id, "Counter")));
            }
            WidgetBody::Poll(poll) => {
                out.push_str(&heading(&widget.id, "Poll"));
                let question = one_line(&poll.question);
                if !question.is_empty() {
                    out.push_str(&format!("{question}\n\n"));
                }
                for option in &poll.options {
                    let n = option.voters.len();
                    let votes = if n == 1 { "vote" } else { "votes" };
                    out.push_str(&format!("- {}: {n} {votes}\n", one_line(&option.text)));
                }
            }
            WidgetBody::Kanban(kanban) => {
                out.push_str(&heading(&widget.id, "Kanban"));
                for (i, column) in kanban.columns.iter().enumerate() {
                    if i > 0 {
                        out.push('\n');
                    }
                    let title = one_line(&column.title);
                    out.push_str(&format!(
                        "### {}\n\n",
                        if title.is_empty() { "Column" } else { &title }
                    ));
                    for card in &column.cards {
                        out.push_str(&format!("- {}\n", one_line(&card.text)));
                    }
                }
            }
        }
    }
    out
}

/// `text` on one line (a title or a task with a line break would end its Markdown element).
fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A file name for the board's exports, from its title: `launch-plan` (or `board`).
pub fn file_stem(title: &str) -> String {
    let mut stem = String::new();
    for c in title.chars() {
        if c.is_alphanumeric() {
            stem.extend(c.to_lowercase());
        } else if !stem.is_empty() && !stem.ends_with('-') {
            stem.push('-');
        }
        if stem.chars().count() >= 60 {
            break;
        }
    }
    let stem = stem.trim_end_matches('-');
    if stem.is_empty() {
        "board".to_owned()
    } else {
        stem.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Board, WidgetKind};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn sample() -> Board {
        let mut b = Board::new_random().unwrap();
        b.set_title("Launch plan\n").unwrap();
        let note = b.add_widget(WidgetKind::Note).unwrap();
        b.set_note_text(&note, "Ship it \"soon\"\n").unwrap();
        let tasks = b.add_widget(WidgetKind::Tasks).unwrap();
        b.add_task(&tasks, "write docs").unwrap();
        let done = b.add_task(&tasks, "line\nbreak").unwrap();
        b.set_task_done(&tasks, &done, true).unwrap();
        let counter = b.add_widget(WidgetKind::Counter).unwrap();
        b.increment_counter(&counter, 3).unwrap();
        b
    }

    #[test]
    fn json_follows_the_documented_schema() {
        let mut board = sample();
        let view = board.view();
        board
            .set_widget_title(&view.widgets[1].id, "Before launch")
            .unwrap();
        board.set_widget_size(&view.widgets[1].id, 2).unwrap();
        let json: serde_json::Value = serde_json::from_str(&to_json(&board)).unwrap();
        assert_eq!(json["format"], "meshboard-board");
        assert_eq!(json["version"], 1);
        assert_eq!(json["title"], "Launch plan\n");
        let w = json["widgets"].as_array().unwrap();
        assert_eq!(w.len(), 3);
        assert_eq!(w[0]["kind"], "note");
        assert_eq!(w[0]["text"], "Ship it \"soon\"\n");
        assert_eq!(w[0]["id"], view.widgets[0].id.as_str());
        assert_eq!(w[1]["kind"], "tasks");
        assert_eq!(
            (w[1]["title"].as_str(), w[1]["size"].as_u64()),
            (Some("Before launch"), Some(2))
        );
        assert_eq!(
            (w[0]["title"].as_str(), w[0]["size"].as_u64()),
            (Some(""), Some(1))
        );
        assert_eq!(w[1]["items"][0]["text"], "write docs");
        assert_eq!(w[1]["items"][0]["done"], false);
        assert_eq!(w[1]["items"][1]["done"], true);
        assert_eq!(w[2]["kind"], "counter");
        assert_eq!(w[2]["value"], 3);
    }

    #[test]
    fn markdown_has_the_title_and_every_widget() {
        let mut board = sample();
        let tasks = board.view().widgets[1].id.clone();
        board.set_widget_title(&tasks, "Before launch\n").unwrap();
        let md = to_markdown(&board);
        assert_eq!(
            md,
            "# Launch plan\n\n## Note\n\nShip it \"soon\"\n\n## Before launch\n\n- [ ] write docs\n\
             - [x] line break\n\n## Counter\n\n3\n"
        );
        assert!(to_markdown(&Board::new_random().unwrap()).starts_with("# Untitled board\n"));
    }

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem("Launch plan: Q3/Q4"), "launch-plan-q3-q4");
        assert_eq!(file_stem("../../etc"), "etc");
        assert_eq!(file_stem("  "), "board");
        assert_eq!(file_stem("Été"), "été");
        assert!(file_stem(&"x".repeat(500)).len() <= 60);
    }
}
