//! The board's history: edit sessions newest first (`history-panel`), a read-only view of the
//! board as one left it (`history-view`, what it changed highlighted) and restoring it
//! (`history-restore`) as new changes on top. Authors are shown by the name and colour they
//! recorded on the board (`Board::authors`), else by a short actor id.

use std::collections::HashSet;

use crdt::history::{self, EditSession};
use crdt::{BoardView, WidgetBody};
use leptos::prelude::*;

use crate::pages::ago;
use crate::pages::board::SessionHandle;

/// Sessions listed at first, and added by each "Show older".
const PAGE: usize = 20;

/// One row of the list.
#[derive(Debug, Clone, PartialEq)]
struct Item {
    session: EditSession,
    author: String,
    colour: String,
    summary: String,
}

/// The version shown instead of the live board.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    label: String,
    heads: Vec<crdt::automerge::ChangeHash>,
    view: BoardView,
    changed: HashSet<String>,
}

/// What the page shares between the panel and the board.
#[derive(Clone, Copy)]
pub struct HistoryState {
    pub open: RwSignal<bool>,
    items: RwSignal<Vec<Item>>,
    /// How many sessions there are in all (the list shows the newest `items.len()`).
    total: RwSignal<usize>,
    pub version: RwSignal<Option<Version>>,
}

impl Default for HistoryState {
    fn default() -> Self {
        HistoryState {
            open: RwSignal::new(false),
            items: RwSignal::new(Vec::new()),
            total: RwSignal::new(0),
            version: RwSignal::new(None),
        }
    }
}

fn colour_of(actor: &str) -> String {
    let hue = actor
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 360;
    format!("hsl({hue} 65% 45%)")
}

/// "3 min ago" for a change's time (seconds since the epoch).
fn when(secs: i64) -> String {
    ago(secs.saturating_mul(1000) as f64)
}

/// Read the newest `count` sessions (with summaries) into the list.
fn load(session: SessionHandle, state: HistoryState, count: usize) {
    session.read(move |board| {
        let me = board.doc().get_actor().to_hex_string();
        let authors = board.authors();
        let all = history::sessions(board);
        let total = all.len();
        let items = all
            .into_iter()
            .rev()
            .take(count)
            .map(|s| Item {
                author: match (authors.get(&s.actor), s.actor == me) {
                    (Some(a), true) => format!("{} (you)", a.name),
                    (Some(a), false) => a.name.clone(),
                    (None, true) => "You".to_owned(),
                    (None, false) => format!("Peer {}", &s.actor[..s.actor.len().min(6)]),
                },
                colour: authors
                    .get(&s.actor)
                    .map_or_else(|| colour_of(&s.actor), |a| a.colour.clone()),
                summary: history::summary(board, &s),
                session: s,
            })
            .collect();
        state.total.set(total);
        state.items.set(items);
    });
}

#[component]
pub fn HistoryButton() -> impl IntoView {
    let state = expect_context::<HistoryState>();
    let session = expect_context::<SessionHandle>();
    view! {
        <button class="button small" data-testid="history-open" aria-expanded=move || state.open.get().to_string()
            title="Who changed what, and earlier versions of this board"
            on:click=move |_| {
                let open = !state.open.get_untracked();
                state.open.set(open);
                if open {
                    load(session, state, PAGE);
                } else {
                    state.version.set(None);
                }
            }>
            "History"
        </button>
    }
}

#[component]
pub fn HistoryPanel() -> impl IntoView {
    let state = expect_context::<HistoryState>();
    let session = expect_context::<SessionHandle>();
    let select = move |item: Item| {
        let label = format!("{}, {}", item.author, when(item.session.end));
        session.read(move |board| {
            let view = board.view_at(&item.session.after);
            let changed = history::touched(board, &item.session);
            state.version.set(Some(Version {
                label,
                heads: item.session.after.clone(),
                view,
                changed,
            }));
        });
    };
    view! {
        <Show when=move || state.open.get()>
            <aside class="history card" data-testid="history-panel" aria-label="History">
                <header class="history-head">
                    <h2>"History"</h2>
                    <button class="icon-button" title="Close" aria-label="Close history"
                        on:click=move |_| { state.open.set(false); state.version.set(None); }>"×"</button>
                </header>
                <Show when=move || state.items.with(|i| i.is_empty())>
                    <p class="empty">"No edits yet."</p>
                </Show>
                <ol class="history-list">
                    <For each=move || state.items.get() key=|item| item.session.after.clone() children=move |item| {
                        let selected = {
                            let heads = item.session.after.clone();
                            move || state.version.with(|v| v.as_ref().is_some_and(|v| v.heads == heads))
                        };
                        let chosen = item.clone();
                        view! {
                            <li>
                                <button class="history-item" data-testid="history-item" data-author=item.author.clone()
                                    aria-pressed=move || selected().to_string()
                                    on:click=move |_| select(chosen.clone())>
                                    <span class="history-who">
                                        <span class="swatch" style:background=item.colour.clone() aria-hidden="true"></span>
                                        <strong>{item.author.clone()}</strong>
                                        <span class="history-when">{when(item.session.end)}</span>
                                    </span>
                                    <span class="history-summary">{item.summary.clone()}</span>
                                </button>
                            </li>
                        }
                    }/>
                </ol>
                <Show when=move || { state.items.with(|i| i.len()) < state.total.get() }>
                    <button class="button small" data-testid="history-more"
                        on:click=move |_| load(session, state, state.items.with_untracked(|i| i.len()) + PAGE)>
                        "Show older"
                    </button>
                </Show>
            </aside>
        </Show>
    }
}

/// The board as a version left it, read-only, with a way back and a way to restore it.
#[component]
pub fn VersionBoard(version: Version) -> impl IntoView {
    let state = expect_context::<HistoryState>();
    let session = expect_context::<SessionHandle>();
    let heads = version.heads.clone();
    let restore = move |_| {
        let heads = heads.clone();
        session.rewrite(move |board| history::restore(board, &heads));
        state.version.set(None);
        load(session, state, PAGE);
    };
    let title = if version.view.title.is_empty() {
        "Untitled board".to_owned()
    } else {
        version.view.title.clone()
    };
    view! {
        <div class="banner version" data-testid="history-view" role="status">
            <span>"Viewing this board as it was after the edits of "<strong>{version.label.clone()}</strong>". Highlighted: what they changed."</span>
            <span class="version-actions">
                <button class="button" data-testid="history-back" on:click=move |_| state.version.set(None)>"Back to the live board"</button>
                <button class="button primary" data-testid="history-restore"
                    title="Make the board look like this again; your current content stays in the history"
                    on:click=restore>"Restore this version"</button>
            </span>
        </div>
        <h1 class="title version-title" data-testid="version-title">{title}</h1>
        <section class="widgets">
            {version.view.widgets.into_iter().map(|w| {
                let changed = version.changed.contains(&w.id);
                let kind = w.body.kind().as_str();
                let body = match w.body {
                    WidgetBody::Note { text } => view! { <pre class="note-text readonly" data-testid="version-note">{text}</pre> }.into_any(),
                    WidgetBody::Tasks { items } => view! {
                        <ul class="task-list">
                            {items.into_iter().map(|t| view! {
                                <li class="task"><label><input type="checkbox" disabled prop:checked=t.done/><span data-testid="version-task">{t.text}</span></label></li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    WidgetBody::Counter { value } => view! { <p class="counter-value" data-testid="version-counter">{value}</p> }.into_any(),
                    WidgetBody::Kanban(kanban) => view! {
                        <div class="kanban">
                            {kanban.columns.into_iter().map(|c| view! {
                                <section class="kanban-column">
                                    <p class="kanban-column-title">{c.title}</p>
                                    <ul class="kanban-cards">
                                        {c.cards.into_iter().map(|k| view! { <li class="kanban-card" data-testid="version-card">{k.text}</li> }).collect_view()}
                                    </ul>
                                </section>
                            }).collect_view()}
                        </div>
                    }.into_any(),
                    WidgetBody::Poll(poll) => view! {
                        <p class="poll-summary" data-testid="version-poll-question">{poll.question}</p>
                        <ul class="poll-options">
                            {poll.options.into_iter().map(|o| view! {
                                <li class="poll-option"><span data-testid="version-poll-option">{o.text}</span>" · "<span>{o.voters.len()}</span></li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                };
                view! {
                    <article class=format!("widget kind-{kind}{}", if changed { " changed" } else { "" })
                        data-testid="version-widget" data-kind=kind data-changed=changed.to_string()>
                        <header class="widget-head"><span class="widget-label">{kind}</span></header>
                        {body}
                    </article>
                }
            }).collect_view()}
        </section>
    }
}
