//! Who else is on the board: an avatar per person in the top bar (`presence-avatar`), and on a
//! widget someone is in, a ring and a label in their colour (`widget-presence`).

use leptos::prelude::*;

use crate::ui_state::Ui;

/// Up to two initials of a display name.
fn initials(name: &str) -> String {
    let mut words = name.split_whitespace();
    let first = words.next().and_then(|w| w.chars().next());
    let last = words.last().and_then(|w| w.chars().next());
    first
        .into_iter()
        .chain(last)
        .flat_map(char::to_uppercase)
        .collect()
}

#[component]
pub fn Avatars() -> impl IntoView {
    let ui = expect_context::<Ui>();
    view! {
        <ul class="avatars" aria-label="People on this board">
            <For each=move || ui.people.get() key=|p| (p.profile.clone(), p.name.clone(), p.colour.clone(), p.always_on)
                let:person>
                <li class="avatar" class:always-on=person.always_on data-testid="presence-avatar"
                    data-name=person.name.clone() style:background-color=person.colour.clone()
                    title=if person.always_on {
                        format!("{} (always-on peer)", person.name)
                    } else {
                        person.name.clone()
                    }>
                    <span aria-hidden="true">{initials(&person.name)}</span>
                    <span class="visually-hidden">{person.name.clone()}</span>
                </li>
            </For>
        </ul>
    }
}

/// The people in widget `id` now, with their colours.
pub fn in_widget(ui: Ui, id: String) -> Memo<Vec<(String, String)>> {
    Memo::new(move |_| {
        ui.people.with(|people| {
            people
                .iter()
                .filter(|p| p.widgets.contains(&id))
                .map(|p| (p.name.clone(), p.colour.clone()))
                .collect()
        })
    })
}

/// The labels on a widget someone is in.
#[component]
pub fn WidgetPresence(people: Memo<Vec<(String, String)>>) -> impl IntoView {
    view! {
        <span class="widget-people">
            <For each=move || people.get() key=|p| p.clone() let:person>
                <span class="widget-presence" data-testid="widget-presence" data-name=person.0.clone()
                    style:background-color=person.1.clone()>{person.0.clone()}</span>
            </For>
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::initials;

    #[test]
    fn initials_of_names() {
        assert_eq!(initials("Quick Otter"), "QO");
        assert_eq!(initials("ada"), "A");
        assert_eq!(initials("Jean Paul Sartre"), "JS");
        assert_eq!(initials("  "), "");
        assert_eq!(initials("émile zola"), "ÉZ");
    }
}
