use std::collections::HashMap;

use crdt::TaskView;
use leptos::prelude::*;

use crate::pages::board::SessionHandle;

/// Longest task text accepted from the input.
const MAX_TASK_CHARS: usize = 500;

#[component]
pub fn TasksWidget(id: String, items: Memo<Vec<TaskView>>) -> impl IntoView {
    let session = expect_context::<SessionHandle>();
    let ids = Memo::new(move |_| {
        items.with(|items| items.iter().map(|i| i.id.clone()).collect::<Vec<_>>())
    });
    // each row finds its task here in one step, not by a search of the list (which made a
    // change to a long list cost the square of its length)
    let by_id = Memo::new(move |_| {
        items.with(|items| {
            items
                .iter()
                .map(|i| (i.id.clone(), i.clone()))
                .collect::<HashMap<_, _>>()
        })
    });
    let widget = id.clone();
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() != "Enter" || ev.is_composing() {
            return;
        }
        ev.prevent_default();
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let text: String = input.value().trim().chars().take(MAX_TASK_CHARS).collect();
        if text.is_empty() {
            return;
        }
        input.set_value("");
        let widget = widget.clone();
        session.edit(move |b| b.add_task(&widget, &text).map(|_| ()));
    };
    let done_count = move || items.with(|i| i.iter().filter(|t| t.done).count());
    view! {
        <ul class="task-list">
            <For
                each=move || ids.get()
                key=|task| task.clone()
                children={
                    let widget = id.clone();
                    move |task| view! { <TaskRow widget=widget.clone() task by_id/> }
                }
            />
        </ul>
        <input type="text" class="task-input" data-testid="task-input" placeholder="Add a task and press Enter"
            maxlength=MAX_TASK_CHARS on:keydown=on_keydown/>
        <p class="tasks-summary">{move || format!("{} of {} done", done_count(), items.with(Vec::len))}</p>
    }
}

#[component]
fn TaskRow(widget: String, task: String, by_id: Memo<HashMap<String, TaskView>>) -> impl IntoView {
    let session = expect_context::<SessionHandle>();
    let item = {
        let task = task.clone();
        Memo::new(move |_| by_id.with(|tasks| tasks.get(&task).cloned()))
    };
    let done = move || item.with(|i| i.as_ref().is_some_and(|i| i.done));
    let toggle = {
        let (widget, task) = (widget.clone(), task.clone());
        move |ev: leptos::ev::Event| {
            let checked = event_target_checked(&ev);
            let (widget, task) = (widget.clone(), task.clone());
            session.edit(move |b| b.set_task_done(&widget, &task, checked));
        }
    };
    let remove = move |_| {
        let (widget, task) = (widget.clone(), task.clone());
        session.edit(move |b| b.remove_task(&widget, &task));
    };
    view! {
        <li class="task" class:done=done data-testid="task-item">
            <label>
                <input type="checkbox" data-testid="task-done" prop:checked=done on:change=toggle/>
                <span data-testid="task-text">{move || item.with(|i| i.as_ref().map(|i| i.text.clone()).unwrap_or_default())}</span>
            </label>
            <button class="icon-button" data-testid="task-remove" title="Remove this task" aria-label="Remove this task"
                on:click=remove>"×"</button>
        </li>
    }
}
