use leptos::prelude::*;

use super::collab_text::CollabInput;
use crate::pages::board::SessionHandle;

#[component]
pub fn NoteWidget(id: String, text: Memo<String>) -> impl IntoView {
    let session = expect_context::<SessionHandle>();
    let on_edit = move |value: String| {
        let id = id.clone();
        session.edit(move |b| b.set_note_text(&id, &value));
    };
    view! {
        <CollabInput text on_edit testid="note-text" class="note-text" placeholder="Write something…" multiline=true/>
    }
}
