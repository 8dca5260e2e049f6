//! Text fields bound to collaborative texts: a remote change is written into the field without
//! moving the caret, whatever was inserted or deleted before it. The title sends its whole new
//! value (the core turns it into a splice); notes send splices themselves (`note.rs`).

use crdt::text_diff::transform_caret;
use leptos::html;
use leptos::prelude::*;
use web_sys::{HtmlInputElement, HtmlTextAreaElement};

/// What a caret-preserving update needs of `<input>` and `<textarea>`.
pub trait TextField {
    fn value(&self) -> String;
    fn set_value(&self, v: &str);
    fn selection(&self) -> Option<(u32, u32)>;
    fn set_selection(&self, start: u32, end: u32);
}

macro_rules! text_field {
    ($t:ty) => {
        impl TextField for $t {
            fn value(&self) -> String {
                <$t>::value(self)
            }
            fn set_value(&self, v: &str) {
                <$t>::set_value(self, v)
            }
            fn selection(&self) -> Option<(u32, u32)> {
                Some((self.selection_start().ok()??, self.selection_end().ok()??))
            }
            fn set_selection(&self, start: u32, end: u32) {
                let _ = self.set_selection_range(start, end);
            }
        }
    };
}
text_field!(HtmlInputElement);
text_field!(HtmlTextAreaElement);

fn is_focused(el: &web_sys::Element) -> bool {
    el.owner_document()
        .and_then(|d| d.active_element())
        .is_some_and(|a| a == *el)
}

/// Write `new` into the field; keep the caret and selection where they were relative to the text.
pub fn apply_remote<F: TextField + AsRef<web_sys::Element>>(field: &F, new: &str) {
    let old = field.value();
    if old == new {
        return;
    }
    let selection = is_focused(field.as_ref())
        .then(|| field.selection())
        .flatten();
    field.set_value(new);
    if let Some((start, end)) = selection {
        let moved =
            |pos: u32| u32::try_from(transform_caret(&old, new, pos as usize)).unwrap_or(u32::MAX);
        field.set_selection(moved(start), moved(end));
    }
}

/// A one-line field (the board title) bound to a collaborative text.
#[component]
pub fn CollabInput(
    /// The text as the document has it.
    text: Memo<String>,
    /// Called with the field's whole new value after each local input.
    on_edit: impl Fn(String) + 'static,
    testid: &'static str,
    #[prop(optional)] class: &'static str,
    #[prop(optional)] placeholder: &'static str,
    /// The field's accessible name, when no visible label says what it is.
    #[prop(optional)]
    label: Option<&'static str>,
) -> impl IntoView {
    let on_input = move |ev: leptos::ev::Event| on_edit(event_target_value(&ev));
    let node = NodeRef::<html::Input>::new();
    Effect::new(move |_| {
        let new = text.get();
        if let Some(el) = node.get_untracked() {
            apply_remote(&el, &new);
        }
    });
    view! {
        <input type="text" node_ref=node data-testid=testid class=class placeholder=placeholder aria-label=label
            autocomplete="off" on:input=on_input/>
    }
}
