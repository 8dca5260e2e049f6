use crdt::BoardSecret;
use leptos::prelude::*;

use crate::browser::{self, random};
use crate::route::board_href;

fn create_board() -> Result<(), String> {
    let secret = BoardSecret::from_bytes(random::bytes::<16>()?);
    let window = web_sys::window().ok_or("no window")?;
    window
        .location()
        .assign(&board_href(&secret))
        .map_err(|e| browser::describe(&e))
}

#[component]
pub fn HomePage() -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    view! {
        <main class="page center">
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
                            error.set(Some(e));
                        }
                    }>
                    "Create a board"
                </button>
                <Show when=move || error.get().is_some()>
                    <p class="error" role="alert">{move || error.get().unwrap_or_default()}</p>
                </Show>
                <ul class="features">
                    <li><strong>"Share a link"</strong>" Anyone with it joins the board."</li>
                    <li><strong>"Peer to peer"</strong>" Edits travel browser to browser over WebRTC."</li>
                    <li><strong>"Conflict-free"</strong>" Type at the same time; nobody's words are lost."</li>
                </ul>
            </section>
        </main>
    }
}
