use crdt::{WidgetBody, WidgetKind};
use leptos::prelude::*;

use super::{
    counter::CounterWidget, kanban::KanbanWidget, note::NoteWidget, poll::PollWidget,
    tasks::TasksWidget,
};
use crate::pages::board::SessionHandle;
use crate::pages::presence::{in_widget, WidgetPresence};
use crate::session::Whereabouts;
use crate::ui_state::Ui;
use crate::widgets::layout::{drop_target, LayoutControls, WidgetTitle};

fn label(kind: WidgetKind) -> &'static str {
    match kind {
        WidgetKind::Note => "Note",
        WidgetKind::Tasks => "Tasks",
        WidgetKind::Counter => "Counter",
        WidgetKind::Poll => "Poll",
        WidgetKind::Kanban => "Kanban",
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
    let layout = cell.layout.clone();
    let size = {
        let layout = layout.clone();
        Memo::new(move |_| layout.with(|l| l.size))
    };
    let (drag_over, drop) = drop_target(id.clone());
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
        WidgetKind::Poll => {
            let poll = Memo::new(move |_| {
                body.with(|b| match b {
                    WidgetBody::Poll(p) => p.clone(),
                    _ => crdt::PollView::default(),
                })
            });
            view! { <PollWidget id=id.clone() poll/> }.into_any()
        }
        WidgetKind::Kanban => {
            let kanban = Memo::new(move |_| {
                body.with(|b| match b {
                    WidgetBody::Kanban(k) => k.clone(),
                    _ => crdt::KanbanView::default(),
                })
            });
            view! { <KanbanWidget id=id.clone() kanban/> }.into_any()
        }
    };
    view! {
        <article class=move || format!("widget kind-{} size-{}{}", kind.as_str(), size.get(),
                if ring().is_some() { " has-presence" } else { "" })
            data-testid="widget" data-kind=kind.as_str() data-id=id.clone()
            node_ref=card style:outline-color=ring
            on:focusin=focus_in on:focusout=focus_out on:dragover=drag_over.clone()
            on:dragenter=drag_over on:drop=drop>
            <header class="widget-head">
                <span class="widget-label">{label(kind)}</span>
                <WidgetTitle id=id.clone() layout=layout.clone() placeholder="Untitled"/>
                <WidgetPresence people/>
                <LayoutControls id=id.clone() layout/>
                <button class="icon-button" data-testid="widget-remove" title="Remove this widget"
                    aria-label="Remove this widget" on:click=remove>"×"</button>
            </header>
            {inner}
        </article>
    }
}
