//! Other people's carets and selections in a note (`remote-caret`). A textarea cannot show them,
//! so a layer over it repeats the note's text in transparent ink, laid out like the textarea
//! (same box, font and wrapping, scrolled alike), with each selection highlighted in its
//! person's colour and each caret as a thin bar with their name. Only the text up to the last
//! caret is laid out, and only while someone's caret is in this note.

use wasm_bindgen::JsCast;
use web_sys::{Document, HtmlElement, HtmlTextAreaElement};

use crate::ui_state::RemoteCaret;

/// What the layer copies from the textarea's computed style so that its text wraps alike.
const COPIED: [&str; 16] = [
    "font-family",
    "font-size",
    "font-weight",
    "font-style",
    "line-height",
    "letter-spacing",
    "word-spacing",
    "tab-size",
    "text-indent",
    "text-transform",
    "padding-top",
    "padding-right",
    "padding-bottom",
    "padding-left",
    "direction",
    "text-align",
];

/// Byte offsets of the code point positions `at` (sorted, each at most the length) in `text`.
fn byte_offsets(text: &str, at: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(at.len());
    let mut chars = text.char_indices().map(|(b, _)| b).chain([text.len()]);
    let mut index = 0;
    let mut byte = chars.next().unwrap_or(0);
    for &want in at {
        while index < want {
            match chars.next() {
                Some(b) => {
                    byte = b;
                    index += 1;
                }
                None => break,
            }
        }
        out.push(byte);
    }
    out
}

/// One run of the layer: plain text, a selection, or a caret.
#[derive(Debug, PartialEq, Eq)]
enum Run<'a> {
    Text(&'a str),
    Selection(&'a str, usize),
    Caret(usize),
}

/// The layer's runs for `carets` (indices into it) over `text`; overlapping selections are cut
/// where an earlier one ends, and nothing after the last caret is laid out.
fn runs<'a>(text: &'a str, carets: &[RemoteCaret]) -> Vec<Run<'a>> {
    let len = text.chars().count();
    let mut order: Vec<(usize, usize, usize, usize)> = carets
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (a, h) = (c.anchor.min(len), c.head.min(len));
            (a.min(h), a.max(h), h, i)
        })
        .collect();
    order.sort();
    let mut points: Vec<usize> = order.iter().flat_map(|&(s, e, _, _)| [s, e]).collect();
    points.push(0);
    points.sort();
    points.dedup();
    let bytes = byte_offsets(text, &points);
    let byte = |p: usize| {
        points
            .binary_search(&p)
            .ok()
            .and_then(|i| bytes.get(i).copied())
            .unwrap_or(text.len())
    };
    let mut out = Vec::new();
    let mut at = 0;
    for (start, end, head, i) in order {
        let start = start.max(at);
        let end = end.max(start);
        if start > at {
            out.push(Run::Text(&text[byte(at)..byte(start)]));
        }
        if head <= start {
            out.push(Run::Caret(i));
        }
        if end > start {
            out.push(Run::Selection(&text[byte(start)..byte(end)], i));
        }
        if head > start {
            out.push(Run::Caret(i));
        }
        at = end;
    }
    out
}

fn span(document: &Document, class: &str) -> Option<HtmlElement> {
    let el = document.create_element("span").ok()?;
    el.set_class_name(class);
    el.dyn_into::<HtmlElement>().ok()
}

/// Lay the carets out over `field`; an empty list clears the layer.
pub fn render(
    layer: &HtmlElement,
    field: &HtmlTextAreaElement,
    text: &str,
    carets: &[RemoteCaret],
) {
    layer.set_text_content(None);
    if carets.is_empty() {
        layer.set_hidden(true);
        return;
    }
    let Some(document) = layer.owner_document() else {
        return;
    };
    let style = layer.style();
    let px = |v: i32| format!("{v}px");
    let _ = style.set_property("left", &px(field.offset_left() + field.client_left()));
    let _ = style.set_property("top", &px(field.offset_top() + field.client_top()));
    let _ = style.set_property("width", &px(field.client_width()));
    let _ = style.set_property("height", &px(field.client_height()));
    if let Some(computed) =
        web_sys::window().and_then(|w| w.get_computed_style(field).ok().flatten())
    {
        for prop in COPIED {
            if let Ok(v) = computed.get_property_value(prop) {
                let _ = style.set_property(prop, &v);
            }
        }
    }
    for run in runs(text, carets) {
        let node: Option<web_sys::Node> = match run {
            Run::Text(t) => Some(document.create_text_node(t).into()),
            Run::Selection(t, i) => span(&document, "remote-selection").map(|s| {
                s.set_text_content(Some(t));
                let _ = s
                    .style()
                    .set_property("background-color", &format!("{}40", carets[i].colour));
                s.into()
            }),
            Run::Caret(i) => span(&document, "remote-caret").map(|s| {
                let c = &carets[i];
                let _ = s.set_attribute("data-testid", "remote-caret");
                let _ = s.set_attribute("data-name", &c.name);
                let _ = s.style().set_property("border-color", &c.colour);
                if let Some(label) = span(&document, "remote-caret-label") {
                    label.set_text_content(Some(&c.name));
                    let _ = label.style().set_property("background-color", &c.colour);
                    let _ = label
                        .style()
                        .set_property("color", crate::pages::presence::ink_on(&c.colour));
                    let _ = s.append_child(&label);
                }
                s.into()
            }),
        };
        if let Some(node) = node {
            let _ = layer.append_child(&node);
        }
    }
    layer.set_hidden(false);
    layer.set_scroll_top(field.scroll_top());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caret(anchor: usize, head: usize) -> RemoteCaret {
        RemoteCaret {
            widget: "w".into(),
            name: "n".into(),
            colour: "#000000".into(),
            anchor,
            head,
        }
    }

    #[test]
    fn a_caret_and_a_selection_split_the_text() {
        assert_eq!(
            runs("hello world", &[caret(6, 6)]),
            vec![Run::Text("hello "), Run::Caret(0)]
        );
        assert_eq!(
            runs("hello world", &[caret(0, 5)]),
            vec![Run::Selection("hello", 0), Run::Caret(0)]
        );
        assert_eq!(
            runs("héllo wörld", &[caret(9, 7), caret(2, 2)]),
            vec![
                Run::Text("hé"),
                Run::Caret(1),
                Run::Text("llo w"),
                Run::Caret(0),
                Run::Selection("ör", 0),
            ]
        );
    }

    #[test]
    fn overlapping_and_out_of_range_carets_stay_in_the_text() {
        assert_eq!(
            runs("abcdef", &[caret(1, 4), caret(2, 99)]),
            vec![
                Run::Text("a"),
                Run::Selection("bcd", 0),
                Run::Caret(0),
                Run::Selection("ef", 1),
                Run::Caret(1),
            ]
        );
        assert_eq!(runs("", &[caret(3, 3)]), vec![Run::Caret(0)]);
    }
}
