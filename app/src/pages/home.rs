use crdt::BoardSecret;
use leptos::prelude::*;

use crdt::import::MAX_FILE_BYTES;
use wasm_bindgen::JsCast;
use web_sys::{DragEvent, File, HtmlInputElement};

use crate::browser::{self, file, random};
use crate::pages::ago;
use crate::route::{board_href, BOARD_PATH};
use crate::storage::{chunk_key, BoardRecord, Store};

fn create_board() -> Result<(), browser::BrowserError> {
    let secret = BoardSecret::from_bytes(random::bytes::<16>()?);
    let window = web_sys::window().ok_or(browser::BrowserError::Missing("a window"))?;
    window
        .location()
        .assign(&board_href(&secret))
        .map_err(browser::BrowserError::from)
}

/// Open a board file as a new board with a new link: checked, stored in IndexedDB under the
/// new link's room, then opened. Works offline: nothing but this browser is involved.
/// A board file that was not opened, and why.
#[derive(Debug, thiserror::Error)]
#[error("{name} was not opened. {reason}")]
struct NotOpened {
    name: String,
    reason: Box<dyn std::error::Error>,
}

async fn import_board(chosen: File) -> Result<(), NotOpened> {
    let name = chosen.name();
    let refused = |e: Box<dyn std::error::Error>| NotOpened {
        name: name.clone(),
        reason: e,
    };
    let bytes = file::read(&chosen, MAX_FILE_BYTES)
        .await
        .map_err(|e| refused(e.into()))?;
    let board = crdt::import::open_file(&bytes).map_err(|e| refused(e.into()))?;
    let secret = BoardSecret::from_bytes(random::bytes::<16>().map_err(|e| refused(e.into()))?);
    // the id the board is stored under in this browser (not the one the server sees)
    let room = secret.keys().local_id;
    let record = BoardRecord {
        room: room.clone(),
        secret: secret.to_fragment(),
        title: board.title(),
        updated_ms: browser::now_ms() as f64,
    };
    // a writer name no page uses (theirs are peer ids): a compaction there replaces it
    let writer = "import";
    let store = Store::open().await.map_err(|e| refused(e.into()))?;
    store
        .append(&record, &chunk_key(&room, writer, 0), &bytes)
        .await
        .map_err(|e| refused(e.into()))?;
    let window = web_sys::window()
        .ok_or(browser::BrowserError::Missing("a window"))
        .map_err(|e| refused(e.into()))?;
    window
        .location()
        .assign(&board_href(&secret))
        .map_err(|e| refused(browser::BrowserError::from(e).into()))
}

#[component]
pub fn HomePage() -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let importing = RwSignal::new(false);
    let import = move |chosen: File| {
        importing.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            if let Err(e) = import_board(chosen).await {
                error.set(Some(e.to_string()));
            }
            importing.set(false);
        });
    };
    let on_pick = move |ev: web_sys::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
        else {
            return;
        };
        if let Some(chosen) = input.files().and_then(|f| f.get(0)) {
            input.set_value("");
            import(chosen);
        }
    };
    let dragging = RwSignal::new(false);
    let on_drop = move |ev: DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        if let Some(chosen) = ev
            .data_transfer()
            .and_then(|d| d.files())
            .and_then(|f| f.get(0))
        {
            import(chosen);
        }
    };
    view! {
        <main class=move || if dragging.get() { "page center dropping" } else { "page center" }
            on:dragover=move |ev: DragEvent| { ev.prevent_default(); dragging.set(true); }
            on:dragleave=move |_| dragging.set(false)
            on:drop=on_drop>
            <section class="hero">
                <div class="logo" aria-hidden="true">"◆"</div>
                <h1>"Meshboard"</h1>
                <p class="lead">
                    "A team dashboard that lives in your browser. Notes, task lists and counters that "
                    "sync directly between everyone who has the link, with no server reading along."
                </p>
                <button class="button primary large" data-testid="new-board"
                    on:click=move |_| {
                        if let Err(e) = create_board() {
                            error.set(Some(e.to_string()));
                        }
                    }>
                    "Create a board"
                </button>
                <p class="import">
                    <label class="file-link" for="import-file">
                        {move || if importing.get() { "Opening…" } else { "Open a board file" }}
                    </label>
                    " (.automerge), or drop one here."
                    <input type="file" id="import-file" data-testid="import-file"
                        accept=".automerge,application/octet-stream" hidden on:change=on_pick/>
                </p>
                <Show when=move || error.get().is_some()>
                    <p class="error" role="alert" data-testid="import-error">{move || error.get().unwrap_or_default()}</p>
                </Show>
                <BoardList/>
                <ul class="features">
                    <li><strong>"Share a link"</strong>" Anyone with it joins the board."</li>
                    <li><strong>"Peer to peer"</strong>" Edits travel browser to browser over WebRTC."</li>
                    <li><strong>"Conflict-free"</strong>" Type at the same time; nobody's words are lost."</li>
                </ul>
            </section>
        </main>
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Listing {
    Loading,
    Ready(Vec<BoardRecord>),
    Failed(String),
}

async fn load_list() -> Listing {
    match Store::open().await {
        Ok(store) => match store.list().await {
            Ok(boards) => Listing::Ready(boards),
            Err(e) => Listing::Failed(e.to_string()),
        },
        Err(e) => Listing::Failed(e.to_string()),
    }
}

/// The boards this browser has, newest first.
#[component]
fn BoardList() -> impl IntoView {
    let listing = RwSignal::new(Listing::Loading);
    let refresh = move || leptos::task::spawn_local(async move { listing.set(load_list().await) });
    refresh();
    let delete = move |record: BoardRecord| {
        let title = if record.title.is_empty() {
            "Untitled board".to_owned()
        } else {
            record.title.clone()
        };
        let confirmed = web_sys::window()
            .and_then(|w| {
                w.confirm_with_message(&format!(
                    "Delete \"{title}\" from this browser? Other people keep their copies."
                ))
                .ok()
            })
            .unwrap_or(false);
        if !confirmed {
            return;
        }
        leptos::task::spawn_local(async move {
            let deleted = match Store::open().await {
                Ok(store) => store.delete(&record.room).await,
                Err(e) => Err(e),
            };
            match deleted {
                Ok(()) => listing.set(load_list().await),
                Err(e) => listing.set(Listing::Failed(e.to_string())),
            }
        });
    };
    move || {
        match listing.get() {
        Listing::Loading => ().into_any(),
        Listing::Failed(e) => view! { <p class="error" data-testid="storage-error" role="alert">{e}</p> }.into_any(),
        Listing::Ready(boards) if boards.is_empty() => ().into_any(),
        Listing::Ready(boards) => view! {
            <section class="recent">
                <h2>"Your boards"</h2>
                <ul class="board-list" data-testid="board-list">
                    {boards
                        .into_iter()
                        .map(|b| {
                            let href = format!("{BOARD_PATH}#{}", b.secret);
                            let title = if b.title.is_empty() { "Untitled board".to_owned() } else { b.title.clone() };
                            let when = ago(b.updated_ms);
                            let record = b.clone();
                            view! {
                                <li class="board-entry">
                                    <a data-testid="board-link" href=href>
                                        <span class="board-name">{title}</span>
                                        <span class="board-when">{when}</span>
                                    </a>
                                    <button class="icon-button" data-testid="delete-board" title="Delete from this browser"
                                        aria-label="Delete from this browser" on:click=move |_| delete(record.clone())>"×"</button>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </section>
        }
        .into_any(),
    }
    }
}
