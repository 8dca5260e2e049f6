use std::rc::Rc;

use crdt::{Board, BoardError, BoardSecret, WidgetKind};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::browser::{clipboard, storage_manager};
use crate::pages::history::{HistoryButton, HistoryPanel, HistoryState, VersionBoard};
use crate::session::{dispatch, Input, SessionCell};
use crate::ui_state::Ui;
use crate::widgets::collab_text::CollabInput;
use crate::widgets::widget::WidgetCard;

/// What components use to edit the board: a `Copy` handle on the page's session.
#[derive(Clone, Copy)]
pub struct SessionHandle(StoredValue<Rc<SessionCell>, LocalStorage>);

impl SessionHandle {
    /// Pause or resume all networking (signaling and peer connections).
    pub fn set_offline(self, offline: bool) {
        self.0
            .with_value(|cell| dispatch(cell, Input::SetOffline(offline)));
    }

    /// Read the whole board again (a field found it does not show what the board holds).
    pub fn reread(self) {
        self.0.with_value(|cell| dispatch(cell, Input::Reread));
    }

    /// Later edits record `author` as the name they were made under.
    pub fn set_author(self, author: crdt::board::Author) {
        self.0
            .with_value(|cell| dispatch(cell, Input::SetAuthor(author)));
    }

    /// What the mesh panel shows: the links, their sync state, the signaling state.
    pub fn mesh(self, reply: impl FnOnce(crate::session::MeshSnapshot) + 'static) {
        self.0
            .try_with_value(|cell| dispatch(cell, Input::Mesh(Box::new(reply))));
    }

    /// Read the board (for an export).
    pub fn read(self, f: impl FnOnce(&mut Board) + 'static) {
        self.0
            .with_value(|cell| dispatch(cell, Input::Read(Box::new(f))));
    }

    /// Merge a board file into the board; `reply` hears how it went.
    pub fn merge(
        self,
        bytes: Vec<u8>,
        reply: impl FnOnce(Result<crdt::import::Merged, crdt::import::ImportError>) + 'static,
    ) {
        self.0
            .with_value(|cell| dispatch(cell, Input::Merge(bytes, Box::new(reply))));
    }

    /// Like [`SessionHandle::edit`], for edits no field made (a restore): the UI rereads all.
    pub fn rewrite(self, f: impl FnOnce(&mut Board) -> Result<(), BoardError> + 'static) {
        self.0
            .with_value(|cell| dispatch(cell, Input::Rewrite(Box::new(f))));
    }

    /// Undo (or redo) this tab's last step.
    pub fn undo(self, redo: bool) {
        self.0
            .with_value(|cell| dispatch(cell, Input::Undo { redo }));
    }

    /// Where the user is (a widget, a caret), for the others to see.
    pub fn whereabouts(self, w: crate::session::Whereabouts) {
        self.0
            .with_value(|cell| dispatch(cell, Input::Whereabouts(w)));
    }

    /// Apply `f` to the board, commit it and send it to every connected peer.
    pub fn edit(self, f: impl FnOnce(&mut Board) -> Result<(), BoardError> + 'static) {
        self.0
            .with_value(|cell| dispatch(cell, Input::Edit(Box::new(f))));
    }
}

#[component]
pub fn BoardPage(secret: BoardSecret) -> impl IntoView {
    let ui = Ui::new();
    let cell = match SessionCell::start(&secret, ui) {
        Ok(cell) => cell,
        Err(e) => {
            return view! {
                <main class="page center">
                    <section class="card message" role="alert">
                        <h1>"This board cannot open here"</h1>
                        <p>{e.to_string()}</p>
                        <a class="button primary" href="/">"Back to Meshboard"</a>
                    </section>
                </main>
            }
            .into_any()
        }
    };
    let stored = StoredValue::new_local(cell);
    on_cleanup(move || stored.try_with_value(|c| c.shutdown()).unwrap_or_default());
    let session = SessionHandle(stored);
    provide_context(session);
    provide_context(ui);
    let history = HistoryState::default();
    provide_context(history);

    let title = Memo::new(move |_| ui.title.get());
    let offline = RwSignal::new(false);
    let widget_ids = ui.widgets;
    let add =
        move |kind: WidgetKind| move |_| session.edit(move |b| b.add_widget(kind).map(|_| ()));

    view! {
        <header class="topbar">
            <a class="brand" href="/"><span class="logo" aria-hidden="true">"◆"</span>" Meshboard"</a>
            <div class="presence">
                <span class=move || format!("status {}", ui.status.get().as_str())>
                    <span class="dot" aria-hidden="true"></span>
                    <span data-testid="connection-status">{move || ui.status.get().as_str()}</span>
                </span>
                <span class=move || format!("save {}", ui.save.get().label().to_lowercase().replace('…', ""))
                    data-testid="save-status" title="Whether your edits are stored in this browser">
                    {move || ui.save.get().label()}
                </span>
                <span class="peers" title="Browsers this one is linked to directly right now (in a room of more than 7, a few: edits and presence travel on through them)">
                    <span data-testid="peer-count">{move || ui.peers.get()}</span>
                    {move || if ui.peers.get() == 1 { " peer" } else { " peers" }}
                </span>
                <crate::pages::presence::Avatars/>
                <crate::pages::undo::UndoButtons/>
                <crate::pages::my_name::MyName/>
                <HistoryButton/>
                <crate::pages::mesh::Mesh/>
                <button class="button small" data-testid="offline-toggle"
                    aria-pressed=move || offline.get().to_string()
                    title="Pause all networking; your edits are kept and merged when you go online again"
                    on:click=move |_| {
                        let now = !offline.get_untracked();
                        offline.set(now);
                        session.set_offline(now);
                    }>
                    {move || if offline.get() { "Go online" } else { "Work offline" }}
                </button>
            </div>
        </header>
        <main class="page board">
            <Show when=move || ui.fatal.get().is_some()>
                <p class="banner error" role="alert">{move || ui.fatal.get().unwrap_or_default()}</p>
            </Show>
            <Show when=move || ui.security.get().is_some()>
                <p class="banner error" role="alert" data-testid="security-warning">
                    <strong>"Security warning. "</strong>
                    {move || ui.security.get().unwrap_or_default()}
                </p>
            </Show>
            <Show when=move || ui.storage_error.get().is_some()>
                <p class="banner error" role="alert" data-testid="storage-error">
                    {move || ui.storage_error.get().unwrap_or_default()}
                </p>
            </Show>
            <PersistNotice/>
            <Show when=move || !ui.loaded.get()>
                <p class="empty">"Opening this board…"</p>
            </Show>
            <HistoryPanel/>
            {move || history.version.get().map(|version| view! { <VersionBoard version/> })}
            <Show when=move || ui.loaded.get()>
            // hidden, not unmounted, while a version shows: the fields keep their state
            <div class="live" hidden=move || history.version.with(|v| v.is_some())>
            <section class="board-head">
                <CollabInput
                    text=title
                    on_edit=move |value: String| session.edit(move |b| b.set_title(&value))
                    testid="board-title"
                    class="title"
                    placeholder="Untitled board"
                    label="Board title"
                />
                <ShareLink/>
                <crate::pages::board_menu::BoardMenu/>
            </section>
            <nav class="toolbar" aria-label="Add a widget">
                <button class="button" data-testid="add-note" on:click=add(WidgetKind::Note)>"+ Note"</button>
                <button class="button" data-testid="add-tasks" on:click=add(WidgetKind::Tasks)>"+ Tasks"</button>
                <button class="button" data-testid="add-counter" on:click=add(WidgetKind::Counter)>"+ Counter"</button>
                <button class="button" data-testid="add-poll" on:click=add(WidgetKind::Poll)>"+ Poll"</button>
                <button class="button" data-testid="add-kanban" on:click=add(WidgetKind::Kanban)>"+ Kanban"</button>
            </nav>
            <Show when=move || widget_ids.with(|w| w.is_empty())>
                <p class="empty">
                    {move || if ui.peers.get() == 0 {
                        "Nothing here yet. Add a widget, or wait for someone who has this board to come online."
                    } else {
                        "Nothing here yet. Add a note, a task list, a counter, a poll or a kanban."
                    }}
                </p>
            </Show>
            <section class="widgets">
                <For
                    each=move || widget_ids.get()
                    key=|(id, kind)| (id.clone(), *kind)
                    children=move |(id, kind)| view! { <WidgetCard id kind/> }
                />
            </section>
            </div>
            </Show>
        </main>
    }
    .into_any()
}

/// Once the board holds something, asks the browser to keep this site's data for good
/// (`navigator.storage.persist()`, once per page); if it will not, a quiet note says that the
/// browser may clear boards when space runs low, until it is dismissed.
#[component]
fn PersistNotice() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let denied = RwSignal::new(false);
    let asked = StoredValue::new(false);
    Effect::new(move |_| {
        let has_data = ui.loaded.get()
            && (!ui.widgets.with(|w| w.is_empty()) || !ui.title.with(|t| t.is_empty()));
        if has_data && !asked.get_value() {
            asked.set_value(true);
            spawn_local(async move {
                // `None`: the browser cannot say; nothing to tell the user then
                if storage_manager::persist().await == Some(false) {
                    denied.try_set(true);
                }
            });
        }
    });
    view! {
        <Show when=move || denied.get()>
            <p class="notice" role="status" data-testid="storage-not-persistent">
                "This browser keeps boards only as long as it has space to spare. \
                 Install or bookmark Meshboard to ask it to keep them for good."
                <button class="link-button" data-testid="storage-notice-dismiss"
                    title="Hide this note" aria-label="Hide this note"
                    on:click=move |_| denied.set(false)>"×"</button>
            </p>
        </Show>
    }
}

/// The share link and a button that copies it.
#[component]
fn ShareLink() -> impl IntoView {
    let href = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default();
    let copied = RwSignal::new(None::<bool>);
    let copy = {
        let href = href.clone();
        move |_| {
            let href = href.clone();
            spawn_local(async move {
                copied.set(Some(clipboard::write_text(&href).await.is_ok()));
                set_timeout(move || copied.set(None), std::time::Duration::from_secs(2));
            });
        }
    };
    view! {
        <div class="share">
            <span class="share-label">"Share link"</span>
            <code class="share-link" data-testid="share-link" title="Anyone with this link can open and edit the board">{href}</code>
            <button class="button" data-testid="copy-link" on:click=copy>
                {move || match copied.get() {
                    None => "Copy link",
                    Some(true) => "Copied!",
                    Some(false) => "Select and copy",
                }}
            </button>
        </div>
    }
}
