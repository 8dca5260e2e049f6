use leptos::prelude::*;

/// A clear message for a link that cannot open a board, with a way back.
#[component]
pub fn LinkErrorPage(title: &'static str, detail: String) -> impl IntoView {
    view! {
        <main class="page center">
            <section class="card message" data-testid="link-error" role="alert">
                <h1>{title}</h1>
                <p>{detail}</p>
                <a class="button primary" href="/" data-testid="go-home">"Back to Meshboard"</a>
            </section>
        </main>
    }
}
