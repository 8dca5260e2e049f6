//! A kanban: columns (renamed, added, removed) of cards (added, edited, removed), a card moved
//! by dragging its handle onto a column or before another card, or with the arrow keys on its
//! handle (up and down within the column, left and right to the next column).

use crdt::board::{MAX_CARD_CHARS, MAX_COLUMNS};
use crdt::{KanbanCard, KanbanView};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::pages::board::SessionHandle;

/// What a dragged card carries (the widget drags carry their own type).
const CARD_DRAG_TYPE: &str = "application/x-meshboard-card";

#[component]
pub fn KanbanWidget(id: String, kanban: Memo<KanbanView>) -> impl IntoView {
    let session = expect_context::<SessionHandle>();
    let columns = Memo::new(move |_| {
        kanban.with(|k| k.columns.iter().map(|c| c.id.clone()).collect::<Vec<_>>())
    });
    let add_column = {
        let id = id.clone();
        move |_| {
            let id = id.clone();
            session.edit(move |b| b.add_kanban_column(&id, "New column").map(|_| ()));
        }
    };
    let full = move || columns.with(|c| c.len() >= MAX_COLUMNS);
    view! {
        <div class="kanban">
            <For
                each=move || columns.get()
                key=|column| column.clone()
                children={
                    let widget = id.clone();
                    move |column| view! { <Column widget=widget.clone() column kanban/> }
                }
            />
        </div>
        <button class="button small" data-testid="kanban-add-column" disabled=full on:click=add_column>
            "+ Column"
        </button>
    }
}

/// Move `card` of `widget` to `column`, before the card now at `index` there.
fn move_card(session: SessionHandle, widget: &str, card: &str, column: &str, index: usize) {
    // the card's element may be made anew in its new column: give its handle the focus back
    let selector = format!(
        r#"[data-testid="kanban-card"][data-id="{card}"] [data-testid="kanban-card-handle"]"#
    );
    let (widget, card, column) = (widget.to_owned(), card.to_owned(), column.to_owned());
    session.edit(move |b| b.move_kanban_card(&widget, &card, &column, index));
    request_animation_frame(move || {
        let handle = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.query_selector(&selector).ok().flatten())
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
        if let Some(handle) = handle {
            let _ = handle.focus();
        }
    });
}

#[component]
fn Column(widget: String, column: String, kanban: Memo<KanbanView>) -> impl IntoView {
    let session = expect_context::<SessionHandle>();
    let this = {
        let column = column.clone();
        Memo::new(move |_| {
            kanban.with(|k| {
                k.columns
                    .iter()
                    .find(|c| c.id == column)
                    .map(|c| (c.title.clone(), c.cards.clone()))
                    .unwrap_or_default()
            })
        })
    };
    let title = Memo::new(move |_| this.with(|(t, _)| t.clone()));
    let cards = Memo::new(move |_| this.with(|(_, c)| c.clone()));
    let card_ids =
        Memo::new(move |_| cards.with(|c| c.iter().map(|k| k.id.clone()).collect::<Vec<_>>()));
    let rename = {
        let (widget, column) = (widget.clone(), column.clone());
        move |ev: leptos::ev::Event| {
            let text: String = event_target_value(&ev)
                .chars()
                .take(MAX_CARD_CHARS)
                .collect();
            let (widget, column) = (widget.clone(), column.clone());
            session.edit(move |b| b.rename_kanban_column(&widget, &column, &text));
        }
    };
    let remove = {
        let (widget, column) = (widget.clone(), column.clone());
        move |_| {
            let (widget, column) = (widget.clone(), column.clone());
            session.edit(move |b| b.remove_kanban_column(&widget, &column));
        }
    };
    let add_card = {
        let (widget, column) = (widget.clone(), column.clone());
        move |ev: leptos::ev::KeyboardEvent| {
            if ev.key() != "Enter" || ev.is_composing() {
                return;
            }
            ev.prevent_default();
            let input: web_sys::HtmlInputElement = event_target(&ev);
            let text: String = input.value().trim().chars().take(MAX_CARD_CHARS).collect();
            if text.is_empty() {
                return;
            }
            input.set_value("");
            let (widget, column) = (widget.clone(), column.clone());
            session.edit(move |b| b.add_kanban_card(&widget, &column, &text).map(|_| ()));
        }
    };
    let over = |e: web_sys::DragEvent| {
        let ours = e
            .data_transfer()
            .is_some_and(|d| d.types().includes(&CARD_DRAG_TYPE.into(), 0));
        if ours {
            e.prevent_default();
        }
    };
    let drop = {
        let (widget, column) = (widget.clone(), column.clone());
        move |e: web_sys::DragEvent| {
            let Some(card) = e
                .data_transfer()
                .and_then(|d| d.get_data(CARD_DRAG_TYPE).ok())
                .filter(|c| !c.is_empty())
            else {
                return;
            };
            e.prevent_default();
            e.stop_propagation();
            // dropped on a card: before it; elsewhere in the column: at the end
            let before = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .and_then(|t| t.closest(r#"[data-testid="kanban-card"]"#).ok().flatten())
                .and_then(|c| c.get_attribute("data-id"));
            let index = cards.with_untracked(|cards| {
                let others: Vec<&KanbanCard> = cards.iter().filter(|k| k.id != card).collect();
                before
                    .and_then(|b| others.iter().position(|k| k.id == b))
                    .unwrap_or(others.len())
            });
            move_card(session, &widget, &card, &column, index);
        }
    };
    let count = move || cards.with(Vec::len);
    view! {
        <section class="kanban-column" data-testid="kanban-column" data-id=column.clone()
            on:dragover=over on:dragenter=over on:drop=drop>
            <header class="kanban-column-head">
                <input type="text" class="kanban-column-title" data-testid="kanban-column-title"
                    aria-label="Column name" maxlength=MAX_CARD_CHARS prop:value=move || title.get()
                    on:change=rename/>
                <span class="kanban-count" aria-label="cards">{count}</span>
                <button class="icon-button" data-testid="kanban-column-remove" title="Remove this column (its cards go to the first column)"
                    aria-label="Remove this column" on:click=remove>"×"</button>
            </header>
            <ul class="kanban-cards">
                <For
                    each=move || card_ids.get()
                    key=|card| card.clone()
                    children={
                        let widget = widget.clone();
                        move |card| view! { <Card widget=widget.clone() card kanban cards/> }
                    }
                />
            </ul>
            <input type="text" class="kanban-input" data-testid="kanban-card-input" placeholder="Add a card"
                aria-label="New card" maxlength=MAX_CARD_CHARS on:keydown=add_card/>
        </section>
    }
}

#[component]
fn Card(
    widget: String,
    card: String,
    kanban: Memo<KanbanView>,
    cards: Memo<Vec<KanbanCard>>,
) -> impl IntoView {
    let session = expect_context::<SessionHandle>();
    let text = {
        let card = card.clone();
        Memo::new(move |_| {
            cards.with(|c| {
                c.iter()
                    .find(|k| k.id == card)
                    .map(|k| k.text.clone())
                    .unwrap_or_default()
            })
        })
    };
    let edit = {
        let (widget, card) = (widget.clone(), card.clone());
        move |ev: leptos::ev::Event| {
            let value: String = event_target_value(&ev)
                .chars()
                .take(MAX_CARD_CHARS)
                .collect();
            let (widget, card) = (widget.clone(), card.clone());
            session.edit(move |b| b.set_kanban_card_text(&widget, &card, &value));
        }
    };
    let remove = {
        let (widget, card) = (widget.clone(), card.clone());
        move |_| {
            let (widget, card) = (widget.clone(), card.clone());
            session.edit(move |b| b.remove_kanban_card(&widget, &card));
        }
    };
    let drag_start = {
        let card = card.clone();
        move |e: web_sys::DragEvent| {
            if let Some(d) = e.data_transfer() {
                let _ = d.set_data(CARD_DRAG_TYPE, &card);
                d.set_effect_allowed("move");
            }
            e.stop_propagation();
        }
    };
    let on_key = {
        let (widget, card) = (widget.clone(), card.clone());
        move |e: web_sys::KeyboardEvent| {
            let target = kanban.with_untracked(|k| {
                let (c, i) = k.place_of(&card)?;
                let last = k.columns.len().checked_sub(1)?;
                let (to, index) = match e.key().as_str() {
                    "ArrowUp" => (c, i.checked_sub(1)?),
                    "ArrowDown" => (c, i + 1),
                    "ArrowLeft" => (c.checked_sub(1)?, i),
                    "ArrowRight" if c < last => (c + 1, i),
                    _ => return None,
                };
                if to == c && index >= k.columns[c].cards.len() {
                    return None;
                }
                Some((k.columns[to].id.clone(), index))
            });
            if let Some((to, index)) = target {
                e.prevent_default();
                move_card(session, &widget, &card, &to, index);
            }
        }
    };
    view! {
        <li class="kanban-card" data-testid="kanban-card" data-id=card.clone()>
            <button class="icon-button handle" data-testid="kanban-card-handle" draggable="true"
                aria-label="Move this card: drag it, or use the arrow keys"
                title="Drag to move, or use the arrow keys" on:dragstart=drag_start on:keydown=on_key>"⠿"</button>
            <input type="text" class="kanban-card-text" data-testid="kanban-card-text" aria-label="Card"
                maxlength=MAX_CARD_CHARS prop:value=move || text.get() on:change=edit/>
            <button class="icon-button" data-testid="kanban-card-remove" title="Remove this card"
                aria-label="Remove this card" on:click=remove>"×"</button>
        </li>
    }
}
