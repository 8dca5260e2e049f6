//! A widget's title and place on the board: `widget-title` (collaborative text), a drag handle
//! (pointer drag onto another widget, or arrow keys), `widget-move-earlier`, `widget-move-later`
//! and `widget-size` (1, 2, 3 columns, then 1 again).

use crdt::board::{WidgetLayout, MAX_SIZE};
use leptos::prelude::*;

use crate::pages::board::SessionHandle;
use crate::ui_state::Ui;
use crate::widgets::collab_text::CollabInput;

/// The drag data type that says "a widget of this board".
const DRAG_TYPE: &str = "application/x-meshboard-widget";

/// The width after `size` in the cycle 1 → 2 → 3 → 1.
pub fn next_size(size: u8) -> u8 {
    if size >= MAX_SIZE {
        1
    } else {
        size + 1
    }
}

/// How many places `from` moves to land where `to` is now, in the board's order.
fn places(order: &[(String, crdt::WidgetKind)], from: &str, to: &str) -> Option<isize> {
    let i = order.iter().position(|(id, _)| id == from)?;
    let j = order.iter().position(|(id, _)| id == to)?;
    Some(isize::try_from(j).ok()? - isize::try_from(i).ok()?)
}

/// Drop handlers for a card: another widget dropped on it moves to its place.
pub fn drop_target(
    id: String,
) -> (
    impl Fn(web_sys::DragEvent) + Clone,
    impl Fn(web_sys::DragEvent),
) {
    let ui = expect_context::<Ui>();
    let session = expect_context::<SessionHandle>();
    let over = |e: web_sys::DragEvent| {
        let ours = e
            .data_transfer()
            .is_some_and(|d| d.types().includes(&DRAG_TYPE.into(), 0));
        if ours {
            e.prevent_default();
        }
    };
    let drop = move |e: web_sys::DragEvent| {
        let Some(from) = e.data_transfer().and_then(|d| d.get_data(DRAG_TYPE).ok()) else {
            return;
        };
        e.prevent_default();
        let by = ui.widgets.with_untracked(|order| places(order, &from, &id));
        if let Some(by) = by.filter(|by| *by != 0) {
            session.edit(move |b| b.move_widget(&from, by));
        }
    };
    (over, drop)
}

#[component]
pub fn WidgetTitle(
    id: String,
    layout: ArcRwSignal<WidgetLayout>,
    placeholder: &'static str,
) -> impl IntoView {
    let session = expect_context::<SessionHandle>();
    let title = Memo::new(move |_| layout.with(|l| l.title.clone()));
    let on_edit = move |value: String| {
        let id = id.clone();
        session.edit(move |b| b.set_widget_title(&id, &value));
    };
    view! {
        <CollabInput text=title on_edit testid="widget-title" class="widget-title" placeholder label="Widget title"/>
    }
}

#[component]
pub fn LayoutControls(id: String, layout: ArcRwSignal<WidgetLayout>) -> impl IntoView {
    let session = expect_context::<SessionHandle>();
    let step = {
        let id = id.clone();
        move |by: isize| {
            let id = id.clone();
            session.edit(move |b| b.move_widget(&id, by));
        }
    };
    let (earlier, later, keys) = (step.clone(), step.clone(), step);
    let size = Memo::new({
        let layout = layout.clone();
        move |_| layout.with(|l| l.size)
    });
    let resize = {
        let id = id.clone();
        move |_| {
            let (id, next) = (id.clone(), next_size(size.get_untracked()));
            session.edit(move |b| b.set_widget_size(&id, next));
        }
    };
    let drag_start = move |e: web_sys::DragEvent| {
        if let Some(d) = e.data_transfer() {
            let _ = d.set_data(DRAG_TYPE, &id);
            d.set_effect_allowed("move");
        }
    };
    let on_key = move |e: web_sys::KeyboardEvent| match e.key().as_str() {
        "ArrowLeft" | "ArrowUp" => {
            e.prevent_default();
            keys(-1)
        }
        "ArrowRight" | "ArrowDown" => {
            e.prevent_default();
            keys(1)
        }
        _ => {}
    };
    view! {
        <span class="layout-controls">
            <button class="icon-button handle" data-testid="widget-handle" draggable="true"
                aria-label="Move this widget (drag it, or use the arrow keys)"
                title="Drag to move, or use the arrow keys" on:dragstart=drag_start on:keydown=on_key>"⠿"</button>
            <button class="icon-button" data-testid="widget-move-earlier" aria-label="Move earlier"
                title="Move earlier" on:click=move |_| earlier(-1)>"‹"</button>
            <button class="icon-button" data-testid="widget-move-later" aria-label="Move later"
                title="Move later" on:click=move |_| later(1)>"›"</button>
            <button class="icon-button size" data-testid="widget-size" data-size=move || size.get().to_string()
                aria-label=move || format!("Width: {} of {MAX_SIZE} columns; change", size.get())
                title="Change the width (1, 2 or 3 columns)" on:click=resize>
                {move || format!("{}×", size.get())}
            </button>
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crdt::WidgetKind;

    #[test]
    fn sizes_cycle_and_drops_count_places() {
        assert_eq!(next_size(1), 2);
        assert_eq!(next_size(2), 3);
        assert_eq!(next_size(3), 1);
        let order: Vec<(String, WidgetKind)> = ["a", "b", "c"]
            .iter()
            .map(|s| (s.to_string(), WidgetKind::Note))
            .collect();
        assert_eq!(places(&order, "a", "c"), Some(2));
        assert_eq!(places(&order, "c", "a"), Some(-2));
        assert_eq!(places(&order, "x", "a"), None);
    }
}
