//! `my-name`: the name (and colour) this browser shows as, on every board.

use leptos::prelude::*;

use crate::identity;
use crate::pages::board::SessionHandle;

#[component]
pub fn MyName() -> impl IntoView {
    let session = expect_context::<SessionHandle>();
    let me = RwSignal::new(identity::current());
    let save = move |ev: web_sys::Event| {
        let author = identity::rename(&event_target_value(&ev));
        me.set(author.clone());
        session.set_author(author);
    };
    view! {
        <label class="my-name" title="Your name on every board, shown in the history (others can see it)">
            <span class="swatch" style:background=move || me.get().colour aria-hidden="true"></span>
            <input data-testid="my-name" aria-label="Your name" maxlength="40"
                prop:value=move || me.get().name on:change=save/>
        </label>
    }
}
