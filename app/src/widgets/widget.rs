use crdt::{WidgetBody, WidgetKind};
use leptos::prelude::*;

use super::{counter::CounterWidget, note::NoteWidget, tasks::TasksWidget};
use crate::pages::board::SessionHandle;
use crate::pages::presence::{in_widget, WidgetPresence};
use crate::session::Whereabouts;
use crate::ui_state::Ui;

fn label(kind: WidgetKind) -> &'static str {
    match kind {
        WidgetKind::Note => "Note",
        WidgetKind::Tasks => "Tasks",
        WidgetKind::Counter => "Counter",
    }
}

/// A widget's card: its frame and remove button around the body for its kind. The body reads
/// only its own widget's cell, so an edit elsewhere does not touch it.
#[component]
pub fn WidgetCard(id: String, kind: WidgetKind) -> impl IntoView {
    let ui = expect_context::<Ui>();
    let session = expect_context::<SessionHandle>();
    let cell = ui.cell(&id, kind);
    let body = cell.body;
    let remove = {
        let id = id.clone();
        move |_| {
            let id = id.clone();
            session.edit(move |b| b.remove_widget(&id));
        }
    };
    let people = in_widget(ui, id.clone());
    let ring = move || people.with(|p| p.first().map(|(_, colour)| colour.clone()));
    let card = NodeRef::<leptos::html::Article>::new();
    let focus_in = {
        let id = id.clone();
        move |_| session.whereabouts(Whereabouts::Focus(Some(id.clone())))
    };
    // leaving for somewhere outside the card (not from one of its fields to another)
    let focus_out = move |ev: web_sys::FocusEvent| {
        use wasm_bindgen::JsCast;
        let to = ev
            .related_target()
            .and_then(|t| t.dyn_into::<web_sys::Node>().ok());
        let inside = card
            .try_get_untracked()
            .flatten()
            .is_some_and(|c| c.contains(to.as_ref()));
        if !inside {
            session.whereabouts(Whereabouts::Focus(None));
        }
    };
    let inner = match kind {
        WidgetKind::Note => view! { <NoteWidget id=id.clone() feed=cell.text/> }.into_any(),
        WidgetKind::Tasks => {
            let items = Memo::new(move |_| {
                body.with(|b| match b {
                    WidgetBody::Tasks { items } => items.clone(),
                    _ => Vec::new(),
                })
            });
            view! { <TasksWidget id=id.clone() items/> }.into_any()
        }
        WidgetKind::Counter => {
            let value = Memo::new(move |_| match body.get() {
                WidgetBody::Counter { value } => value,
                _ => 0,
            });
            view! { <CounterWidget id=id.clone() value/> }.into_any()
        }
    };
    view! {
        <article class=format!("widget kind-{}", kind.as_str()) data-testid="widget" data-kind=kind.as_str()
            node_ref=card class:has-presence=move || ring().is_some() style:outline-color=ring
            on:focusin=focus_in on:focusout=focus_out>
            <header class="widget-head">
                <span class="widget-label">{label(kind)}</span>
                <WidgetPresence people/>
                <button class="icon-button" data-testid="widget-remove" title="Remove this widget"
                    aria-label="Remove this widget" on:click=remove>"×"</button>
            </header>
            {inner}
        </article>
    }
}
