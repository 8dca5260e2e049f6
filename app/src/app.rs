//! The top of the app: pick a page from the URL.

use leptos::prelude::*;

use crate::pages::{board::BoardPage, home::HomePage, link_error::LinkErrorPage};
use crate::route::{self, Route};

fn current_route() -> Route {
    let Some(window) = web_sys::window() else {
        return Route::NotFound;
    };
    let location = window.location();
    route::parse(
        &location.pathname().unwrap_or_default(),
        &location.hash().unwrap_or_default(),
    )
}

#[component]
pub fn App() -> impl IntoView {
    // A board is opened once per page load; a link pasted over the current one (only the
    // fragment changes, so the browser does not reload) opens the new board with a reload.
    let listener = window_event_listener(leptos::ev::hashchange, |_| {
        if let Some(w) = web_sys::window() {
            let _ = w.location().reload();
        }
    });
    on_cleanup(move || listener.remove());

    match current_route() {
        Route::Home => view! { <HomePage/> }.into_any(),
        Route::Board(secret) => view! { <BoardPage secret/> }.into_any(),
        Route::BadLink(error) => view! {
            <LinkErrorPage
                title="This board link is incomplete or damaged"
                detail=format!("{error}. Links to a board end in # followed by 22 characters; ask for the link again or copy all of it.")
            />
        }
        .into_any(),
        Route::NotFound => view! {
            <LinkErrorPage title="Page not found" detail="There is nothing at this address.".to_owned()/>
        }
        .into_any(),
    }
}
