//! A note's text field. It keeps a copy of what the field and the board agree on: a keystroke is
//! sent as the one splice between that copy and the field's new value, and a peer's splice is
//! written into just its range of the field (`setRangeText`, which keeps the caret and selection
//! in place), so neither costs the length of the note.

use crdt::text_diff::{self, Splice};
use leptos::html;
use leptos::prelude::*;
use web_sys::HtmlTextAreaElement;

use super::collab_text::apply_remote;
use crate::browser::warn;
use crate::pages::board::SessionHandle;
use crate::ui_state::{TextEdit, TextFeed};

/// Byte offset of code point `index` in `s`, if `s` has that many.
fn byte_at(s: &str, index: usize) -> Option<usize> {
    if index == 0 {
        return Some(0);
    }
    match s.char_indices().nth(index) {
        Some((b, _)) => Some(b),
        None => (s.chars().count() == index).then_some(s.len()),
    }
}

/// Carry a peer's splice out on the field and on `shown`; `false` if it does not fit.
fn apply_splice(el: &HtmlTextAreaElement, shown: &mut String, s: &Splice) -> bool {
    let Some(start) = byte_at(shown, s.index) else {
        return false;
    };
    let Some(len) = byte_at(&shown[start..], s.delete) else {
        return false;
    };
    let end = start + len;
    let utf16 = |t: &str| u32::try_from(t.encode_utf16().count()).unwrap_or(u32::MAX);
    let start16 = utf16(&shown[..start]);
    let end16 = start16.saturating_add(utf16(&shown[start..end]));
    if el
        .set_range_text_with_start_and_end_and_mode(&s.insert, start16, end16, "preserve")
        .is_err()
    {
        return false;
    }
    shown.replace_range(start..end, &s.insert);
    true
}

#[component]
pub fn NoteWidget(id: String, feed: TextFeed) -> impl IntoView {
    let session = expect_context::<SessionHandle>();
    let node = NodeRef::<html::Textarea>::new();
    // what the field shows and the board holds, as far as the edits that reached the field go
    let shown = StoredValue::new_local(String::new());
    Effect::new(move |_| {
        feed.track();
        let Some(el) = node.get() else { return };
        for edit in feed.drain() {
            match edit {
                TextEdit::Reset(text) => {
                    apply_remote(&el, &text);
                    shown.set_value(text);
                }
                TextEdit::Splice(s) => {
                    let fits = shown
                        .try_update_value(|shown| apply_splice(&el, shown, &s))
                        .unwrap_or(false);
                    if !fits {
                        // cannot happen while field and board agree; if they do not, the board
                        // wins: its text is read again
                        warn("meshboard: a splice did not fit the note; reading it again");
                        session.reread();
                    }
                }
            }
        }
    });
    let on_input = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        let Some(splice) = shown.with_value(|old| text_diff::diff(old, &value)) else {
            return;
        };
        shown.set_value(value);
        let id = id.clone();
        session.edit(move |b| b.splice_note(&id, splice.index, splice.delete, &splice.insert));
    };
    view! {
        <textarea node_ref=node data-testid="note-text" class="note-text" placeholder="Write something…"
            spellcheck="true" on:input=on_input></textarea>
    }
}
