//! Tests that need a real browser: run with
//! `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p app --target wasm32-unknown-unknown`.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use app::browser::random;
use app::widgets::collab_text::apply_remote;
use crdt::{Board, WidgetBody, WidgetKind};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::HtmlTextAreaElement;

wasm_bindgen_test_configure!(run_in_browser);

fn textarea(value: &str) -> HtmlTextAreaElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let el: HtmlTextAreaElement = document.create_element("textarea").unwrap().dyn_into().unwrap();
    document.body().unwrap().append_child(&el).unwrap();
    el.set_value(value);
    el
}

#[wasm_bindgen_test]
fn random_bytes_come_from_the_browser() {
    let a = random::bytes::<16>().unwrap();
    let b = random::bytes::<16>().unwrap();
    assert_ne!(a, b);
    assert_ne!(a, [0; 16]);
}

#[wasm_bindgen_test]
fn remote_insert_before_the_caret_keeps_it_after_the_same_text() {
    // "😀 " before the caret is three UTF-16 units: the caret must move by three, not two.
    let el = textarea("hello world");
    el.focus().unwrap();
    el.set_selection_range(11, 11).unwrap();
    apply_remote(&el, "😀 hello world");
    assert_eq!(el.value(), "😀 hello world");
    assert_eq!(el.selection_start().unwrap(), Some(14));
    assert_eq!(el.selection_end().unwrap(), Some(14));
    el.remove();
}

#[wasm_bindgen_test]
fn remote_edit_after_the_caret_leaves_the_selection_alone() {
    let el = textarea("café naïve");
    el.focus().unwrap();
    el.set_selection_range(0, 4).unwrap();
    apply_remote(&el, "café naïve, and more");
    assert_eq!((el.selection_start().unwrap(), el.selection_end().unwrap()), (Some(0), Some(4)));
    el.remove();
}

#[wasm_bindgen_test]
fn automerge_runs_in_the_browser() {
    // Random actor ids need automerge's wasm feature (getrandom's JS backend).
    let mut a = Board::new_random().unwrap();
    let mut b = Board::new_random().unwrap();
    let c = a.add_widget(WidgetKind::Counter).unwrap();
    b.merge(&mut a).unwrap();
    a.increment_counter(&c, 2).unwrap();
    b.increment_counter(&c, 3).unwrap();
    a.merge(&mut b).unwrap();
    assert_eq!(a.view().widgets[0].body, WidgetBody::Counter { value: 5 });
}
