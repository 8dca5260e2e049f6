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
use crate::session::Whereabouts;
use crate::ui_state::{TextEdit, TextFeed, Ui};

/// Code point index of UTF-16 offset `at` in `s` (the field's selection offsets).
fn code_points_at(s: &str, at: u32) -> usize {
    let mut units = 0u32;
    for (i, c) in s.chars().enumerate() {
        if units >= at {
            return i;
        }
        units += c.len_utf16() as u32;
    }
    s.chars().count()
}

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
    let ui = expect_context::<Ui>();
    let node = NodeRef::<html::Textarea>::new();
    let layer = NodeRef::<html::Div>::new();
    // what the field shows and the board holds, as far as the edits that reached the field go
    let shown = StoredValue::new_local(String::new());
    // bumped whenever `shown` changes, for the carets layer
    let text_changed = ArcTrigger::new();
    let carets = {
        let id = id.clone();
        Memo::new(move |_| {
            ui.carets.with(|all| {
                all.iter()
                    .filter(|c| c.widget == id)
                    .cloned()
                    .collect::<Vec<_>>()
            })
        })
    };
    // the layer is laid out once per frame at most, and only while someone's caret is here
    let layer_due = StoredValue::new_local(false);
    let draw_layer = move || {
        if layer_due.get_value() {
            return;
        }
        layer_due.set_value(true);
        request_animation_frame(move || {
            // the note may have been removed (and its reactive values disposed) meanwhile
            let _ = layer_due.try_set_value(false);
            let (Some(Some(el)), Some(Some(layer))) =
                (node.try_get_untracked(), layer.try_get_untracked())
            else {
                return;
            };
            let carets = carets.try_get_untracked().unwrap_or_default();
            shown.try_with_value(|text| super::remote_carets::render(&layer, &el, text, &carets));
        });
    };
    {
        let text_changed = text_changed.clone();
        Effect::new(move |_| {
            text_changed.track();
            if !carets.with(Vec::is_empty) || layer.get().is_some_and(|l| !l.hidden()) {
                draw_layer();
            }
        });
    }
    let sync_scroll = move |_| {
        if let (Some(Some(el)), Some(Some(layer))) =
            (node.try_get_untracked(), layer.try_get_untracked())
        {
            layer.set_scroll_top(el.scroll_top());
        }
    };
    // our own caret, for the others: sent when it moved
    let last_caret = StoredValue::new_local(None::<(usize, usize)>);
    let report_caret = {
        let id = id.clone();
        move || {
            // events can come as the note is removed (a blur): its values may be gone
            let Some(Some(el)) = node.try_get_untracked() else {
                return;
            };
            // the field's selection also moves when a peer's text is written into it: only a
            // caret the user has (the field is focused) is theirs to show
            let focused = el
                .owner_document()
                .and_then(|d| d.active_element())
                .is_some_and(|a| a == **el);
            if !focused {
                return;
            }
            let (Ok(Some(start)), Ok(Some(end))) = (el.selection_start(), el.selection_end())
            else {
                return;
            };
            let backward = el.selection_direction().ok().flatten().as_deref() == Some("backward");
            let Some((start, end)) =
                shown.try_with_value(|s| (code_points_at(s, start), code_points_at(s, end)))
            else {
                return;
            };
            let (anchor, head) = if backward { (end, start) } else { (start, end) };
            if last_caret.try_get_value() == Some(Some((anchor, head))) {
                return;
            }
            let _ = last_caret.try_set_value(Some((anchor, head)));
            session.whereabouts(Whereabouts::Caret {
                widget: id.clone(),
                anchor,
                head,
            });
        }
    };
    let on_blur = move |_| {
        let _ = last_caret.try_set_value(None);
        session.whereabouts(Whereabouts::NoCaret);
    };
    let text_changed_by_feed = text_changed.clone();
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
        text_changed_by_feed.notify();
    });
    let on_input = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        let Some(splice) = shown.with_value(|old| text_diff::diff(old, &value)) else {
            return;
        };
        shown.set_value(value);
        let id = id.clone();
        session.edit(move |b| b.splice_note(&id, splice.index, splice.delete, &splice.insert));
        text_changed.notify();
    };
    let caret_on_input = report_caret.clone();
    let (caret_on_key, caret_on_select) = (report_caret.clone(), report_caret.clone());
    view! {
        <div class="note-field">
            <textarea node_ref=node data-testid="note-text" class="note-text" placeholder="Write something…"
                spellcheck="true"
                on:input=move |ev| { on_input(ev); caret_on_input() }
                on:keyup=move |_| caret_on_key()
                on:selectionchange=move |_| caret_on_select()
                on:mouseup=move |_| report_caret()
                on:blur=on_blur on:scroll=sync_scroll></textarea>
            <div node_ref=layer class="note-carets" aria-hidden="true" hidden></div>
        </div>
    }
}
