//! `undo` and `redo` in the top bar, and their keys: Ctrl/Cmd+Z undoes, Ctrl/Cmd+Shift+Z and
//! Ctrl+Y redo. They take back this tab's own changes only (the stack ends with the tab).

use leptos::ev;
use leptos::prelude::*;

use crate::pages::board::SessionHandle;
use crate::ui_state::Ui;

/// What a key press asks for: `Some(false)` undo, `Some(true)` redo.
fn shortcut(key: &str, ctrl_or_cmd: bool, shift: bool) -> Option<bool> {
    if !ctrl_or_cmd {
        return None;
    }
    match key.to_ascii_lowercase().as_str() {
        "z" => Some(shift),
        "y" if !shift => Some(true),
        _ => None,
    }
}

#[component]
pub fn UndoButtons() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let session = expect_context::<SessionHandle>();
    let keys = window_event_listener(ev::keydown, move |e| {
        if let Some(redo) = shortcut(&e.key(), e.ctrl_key() || e.meta_key(), e.shift_key()) {
            // ours, not the field's own undo (which knows nothing of the board)
            e.prevent_default();
            session.undo(redo);
        }
    });
    on_cleanup(move || keys.remove());
    view! {
        <span class="undo-buttons">
            <button class="icon-button" data-testid="undo" aria-label="Undo"
                title="Undo your last change (Ctrl+Z). Only your own changes in this tab; cleared when the page reloads."
                disabled=move || !ui.undo.get().0 on:click=move |_| session.undo(false)>"↶"</button>
            <button class="icon-button" data-testid="redo" aria-label="Redo"
                title="Redo (Ctrl+Shift+Z or Ctrl+Y). Cleared when the page reloads."
                disabled=move || !ui.undo.get().1 on:click=move |_| session.undo(true)>"↷"</button>
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::shortcut;

    #[test]
    fn keys() {
        assert_eq!(shortcut("z", true, false), Some(false));
        assert_eq!(shortcut("Z", true, true), Some(true));
        assert_eq!(shortcut("y", true, false), Some(true));
        assert_eq!(shortcut("z", false, false), None);
        assert_eq!(shortcut("x", true, false), None);
    }
}
