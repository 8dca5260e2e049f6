use leptos::prelude::*;

use crate::pages::board::SessionHandle;

#[component]
pub fn CounterWidget(id: String, value: Memo<i64>) -> impl IntoView {
    let session = expect_context::<SessionHandle>();
    let step = move |delta: i64| {
        let id = id.clone();
        move |_| {
            let id = id.clone();
            session.edit(move |b| b.increment_counter(&id, delta));
        }
    };
    view! {
        <div class="counter-body">
            <button class="button round" data-testid="counter-dec" aria-label="Decrease" on:click=step(-1)>"−"</button>
            <span class="counter-value" data-testid="counter-value">{move || value.get()}</span>
            <button class="button round" data-testid="counter-inc" aria-label="Increase" on:click=step(1)>"+"</button>
        </div>
    }
}
