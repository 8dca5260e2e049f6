//! A poll: its question, its options as bars with counts, one vote per person (this browser
//! profile), which anyone may change or take back, and a field to add an option.

use crdt::board::MAX_OPTION_CHARS;
use crdt::PollView;
use leptos::prelude::*;

use crate::pages::board::SessionHandle;

/// Longest question accepted from the field.
const MAX_QUESTION_CHARS: usize = 500;

#[component]
pub fn PollWidget(id: String, poll: Memo<PollView>) -> impl IntoView {
    let session = expect_context::<SessionHandle>();
    // the tabs of one profile are one person, with one vote
    let me = crate::identity::profile();
    let question = Memo::new(move |_| poll.with(|p| p.question.clone()));
    let set_question = {
        let id = id.clone();
        move |ev: leptos::ev::Event| {
            let text: String = event_target_value(&ev)
                .chars()
                .take(MAX_QUESTION_CHARS)
                .collect();
            let id = id.clone();
            session.edit(move |b| b.set_poll_question(&id, &text));
        }
    };
    let add_option = {
        let id = id.clone();
        move |ev: leptos::ev::KeyboardEvent| {
            if ev.key() != "Enter" || ev.is_composing() {
                return;
            }
            ev.prevent_default();
            let input: web_sys::HtmlInputElement = event_target(&ev);
            let text: String = input
                .value()
                .trim()
                .chars()
                .take(MAX_OPTION_CHARS)
                .collect();
            if text.is_empty() {
                return;
            }
            input.set_value("");
            let id = id.clone();
            session.edit(move |b| b.add_poll_option(&id, &text).map(|_| ()));
        }
    };
    let ids = Memo::new(move |_| {
        poll.with(|p| p.options.iter().map(|o| o.id.clone()).collect::<Vec<_>>())
    });
    let total = Memo::new(move |_| poll.with(PollView::total));
    let mine = {
        let me = me.clone();
        Memo::new(move |_| poll.with(|p| p.vote_of(&me).map(str::to_owned)))
    };
    view! {
        <input type="text" class="poll-question" data-testid="poll-question" placeholder="Ask a question"
            aria-label="Question" maxlength=MAX_QUESTION_CHARS prop:value=move || question.get()
            on:change=set_question/>
        <ul class="poll-options">
            <For
                each=move || ids.get()
                key=|option| option.clone()
                children={
                    let (widget, me) = (id.clone(), me.clone());
                    move |option| view! {
                        <PollRow widget=widget.clone() me=me.clone() option poll total mine/>
                    }
                }
            />
        </ul>
        <input type="text" class="poll-input" data-testid="poll-option-input"
            placeholder="Add an option and press Enter" aria-label="New option"
            maxlength=MAX_OPTION_CHARS on:keydown=add_option/>
        <p class="poll-summary" data-testid="poll-total">
            {move || match total.get() { 1 => "1 vote".to_owned(), n => format!("{n} votes") }}
        </p>
    }
}

#[component]
fn PollRow(
    widget: String,
    me: String,
    option: String,
    poll: Memo<PollView>,
    total: Memo<usize>,
    mine: Memo<Option<String>>,
) -> impl IntoView {
    let session = expect_context::<SessionHandle>();
    let item = {
        let option = option.clone();
        Memo::new(move |_| {
            poll.with(|p| {
                p.options
                    .iter()
                    .find(|o| o.id == option)
                    .map(|o| (o.text.clone(), o.voters.len()))
                    .unwrap_or_default()
            })
        })
    };
    let chosen = {
        let option = option.clone();
        Memo::new(move |_| mine.with(|m| m.as_deref() == Some(option.as_str())))
    };
    let vote = move |_| {
        // a second press on one's own choice takes the vote back
        let choice = (!chosen.get_untracked()).then(|| option.clone());
        let (widget, me) = (widget.clone(), me.clone());
        session.edit(move |b| b.vote(&widget, &me, choice.as_deref()));
    };
    let count = move || item.with(|(_, n)| *n);
    let percent = move || match total.get() {
        0 => 0,
        t => count() * 100 / t,
    };
    view! {
        <li class="poll-option" class:chosen=move || chosen.get() data-testid="poll-option">
            <button class="poll-vote" data-testid="poll-vote" aria-pressed=move || chosen.get().to_string()
                title=move || if chosen.get() { "Your vote: press again to take it back" } else { "Vote for this" }
                on:click=vote>
                <span class="poll-text" data-testid="poll-option-text">{move || item.with(|(t, _)| t.clone())}</span>
                <span class="poll-count" data-testid="poll-count">{count}</span>
                <span class="poll-bar" aria-hidden="true">
                    <span class="poll-fill" style:width=move || format!("{}%", percent())></span>
                </span>
            </button>
        </li>
    }
}
