//! Who else is on the board: an avatar per person in the top bar (`presence-avatar`), and on a
//! widget someone is in, a ring and a label in their colour (`widget-presence`).

use leptos::prelude::*;

use crate::ui_state::Ui;

/// Black or white, whichever reads better on `colour` (`#rrggbb`), by WCAG contrast.
pub fn ink_on(colour: &str) -> &'static str {
    let channel = |i: usize| {
        let v = colour
            .get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .map_or(0.0, |v| f64::from(v) / 255.0);
        if v <= 0.03928 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
    // contrast with white (1.05 / (L + 0.05)) against contrast with black ((L + 0.05) / 0.05)
    if 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 {
        "#ffffff"
    } else {
        "#111111"
    }
}

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
                    style:color=ink_on(&person.colour)
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
                    style:background-color=person.1.clone() style:color=ink_on(&person.1)>{person.0.clone()}</span>
            </For>
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::initials;

    #[test]
    fn ink_reads_on_every_colour() {
        assert_eq!(super::ink_on("#4f46e5"), "#ffffff");
        assert_eq!(super::ink_on("#0ea5e9"), "#111111");
        assert_eq!(super::ink_on("#ffffff"), "#111111");
        assert_eq!(super::ink_on("#000000"), "#ffffff");
    }

    #[test]
    fn initials_of_names() {
        assert_eq!(initials("Quick Otter"), "QO");
        assert_eq!(initials("ada"), "A");
        assert_eq!(initials("Jean Paul Sartre"), "JS");
        assert_eq!(initials("  "), "");
        assert_eq!(initials("émile zola"), "ÉZ");
    }
}
