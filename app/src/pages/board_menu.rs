//! The board's menu: export (with history, JSON, Markdown) and merging a copy back in.

use crdt::export;
use crdt::import::{ImportError, Merged, MAX_FILE_BYTES};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;

use crate::browser::file;
use crate::pages::board::SessionHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Automerge,
    Json,
    Markdown,
}

/// What the last export or merge did, for `import-status`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Status {
    ok: bool,
    message: String,
}

fn export(board: &mut crdt::Board, format: Format) -> Result<(), crate::browser::BrowserError> {
    let stem = export::file_stem(&board.title());
    match format {
        Format::Automerge => file::download(
            &format!("{stem}.automerge"),
            "application/octet-stream",
            &board.snapshot(),
        ),
        Format::Json => file::download(
            &format!("{stem}.json"),
            "application/json",
            export::to_json(board).as_bytes(),
        ),
        Format::Markdown => file::download(
            &format!("{stem}.md"),
            "text/markdown",
            export::to_markdown(board).as_bytes(),
        ),
    }
}

fn merged_message(name: &str, result: Result<Merged, ImportError>) -> Status {
    match result {
        Ok(Merged { new_changes: 0 }) => Status {
            ok: true,
            message: format!("{name}: this board already has everything in it."),
        },
        Ok(Merged { new_changes }) => Status {
            ok: true,
            message: format!(
                "Merged {name}: {new_changes} change{} this board did not have.",
                if new_changes == 1 { "" } else { "s" }
            ),
        },
        Err(e) => Status {
            ok: false,
            message: format!("{name} was not merged. {e} Nothing on this board changed."),
        },
    }
}

#[component]
pub fn BoardMenu() -> impl IntoView {
    let session = expect_context::<SessionHandle>();
    let open = RwSignal::new(false);
    let status = RwSignal::new(None::<Status>);
    let pick = move |format: Format| {
        move |_| {
            open.set(false);
            session.read(move |board| {
                if let Err(e) = export(board, format) {
                    status.set(Some(Status {
                        ok: false,
                        message: format!("The download did not start: {e}"),
                    }));
                }
            });
        }
    };
    let on_file = move |ev: web_sys::Event| {
        open.set(false);
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(chosen) = input.files().and_then(|files| files.get(0)) else {
            return;
        };
        // the same file may be picked again later
        input.set_value("");
        let name = chosen.name();
        status.set(Some(Status {
            ok: true,
            message: format!("Reading {name}…"),
        }));
        spawn_local(async move {
            match file::read(&chosen, MAX_FILE_BYTES).await {
                Ok(bytes) => session.merge(bytes, move |result| {
                    status.set(Some(merged_message(&name, result)))
                }),
                Err(e) => status.set(Some(Status {
                    ok: false,
                    message: format!("{name} was not merged. {e}"),
                })),
            }
        });
    };
    view! {
        <div class="menu">
            <button class="button" data-testid="export-board" aria-haspopup="menu"
                aria-expanded=move || open.get().to_string()
                on:click=move |_| open.update(|o| *o = !*o)>
                "Export ▾"
            </button>
            <Show when=move || open.get()>
                <div class="menu-popover card" role="menu">
                    <button class="menu-item" role="menuitem" data-testid="export-automerge" on:click=pick(Format::Automerge)>
                        <strong>"Board file (.automerge)"</strong>
                        <span>"Everything, with its history. Open or merge it here later."</span>
                    </button>
                    <button class="menu-item" role="menuitem" data-testid="export-json" on:click=pick(Format::Json)>
                        <strong>"JSON"</strong>
                        <span>"The board's content, for scripts and other tools."</span>
                    </button>
                    <button class="menu-item" role="menuitem" data-testid="export-markdown" on:click=pick(Format::Markdown)>
                        <strong>"Markdown"</strong>
                        <span>"Notes as text, tasks as a checklist."</span>
                    </button>
                    <label class="menu-item" role="menuitem" for="merge-file">
                        <strong>"Merge a copy of this board…"</strong>
                        <span>"A backup or someone's export: their edits join yours."</span>
                    </label>
                </div>
            </Show>
            <input type="file" id="merge-file" data-testid="merge-file" accept=".automerge,application/octet-stream"
                hidden on:change=on_file/>
            <Show when=move || status.get().is_some()>
                <p role="status" data-testid="import-status"
                    class=move || if status.get().is_some_and(|s| s.ok) { "status-note ok" } else { "status-note error" }>
                    {move || status.get().map(|s| s.message).unwrap_or_default()}
                    <button class="icon-button" title="Dismiss" aria-label="Dismiss" on:click=move |_| status.set(None)>"×"</button>
                </p>
            </Show>
        </div>
    }
}
