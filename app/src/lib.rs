//! Meshboard in the browser: a Leptos CSR app. This is the only crate that touches web APIs.

pub mod app;
pub mod browser;
pub mod endpoint;
pub mod identity;
pub mod pages;
pub mod route;
pub mod session;
pub mod storage;
pub mod tabs;
pub mod ui_state;
pub mod widgets;

/// Mount the app on `<body>`.
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
