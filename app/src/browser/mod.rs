//! Thin wrappers around browser APIs, one per file. Each wrapper owns the JS closures it hands to
//! the browser and detaches and drops them when it is dropped.

pub mod broadcast;
pub mod clipboard;
pub mod data_channel;
pub mod file;
pub mod idb;
pub mod listener;
pub mod peer_connection;
pub mod random;
pub mod rtc_stats;
pub mod storage_manager;
pub mod timer;
pub mod websocket;

use wasm_bindgen::JsValue;

/// A short description of a JS error value for logs and messages.
/// What went wrong in a browser API: the boundary error of `app/src/browser/`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrowserError {
    /// The API threw or its promise rejected; what the browser said.
    #[error("{0}")]
    Js(String),
    /// Something the page needs is not there.
    #[error("{0} is not available here")]
    Missing(&'static str),
    /// The browser returned another type than its API promises.
    #[error("the browser returned {0}")]
    Unexpected(&'static str),
    /// IndexedDB would not open: another tab holds an older version open.
    #[error("storage is blocked by another open Meshboard tab; close it and reload")]
    Blocked,
    /// A storage transaction was aborted without saying why.
    #[error("the storage transaction was aborted")]
    Aborted,
}

impl From<JsValue> for BrowserError {
    fn from(err: JsValue) -> Self {
        BrowserError::Js(describe(&err))
    }
}

pub fn describe(err: &JsValue) -> String {
    if let Some(e) = err.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    err.as_string().unwrap_or_else(|| format!("{err:?}"))
}

use wasm_bindgen::JsCast as _;

/// Milliseconds since the Unix epoch, as a monotonic clock: the wall time at which the page
/// started plus the monotonic time elapsed since (`performance.timeOrigin + performance.now()`).
/// It never goes backwards while the page lives, whatever the system clock does (an NTP step, a
/// user changing the date): replay windows, backoffs and timers measured with it cannot be
/// reopened or stalled by a clock jump. Falls back to `Date.now()` where there is no
/// `performance`.
pub fn now_ms() -> u64 {
    let now = web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.time_origin() + p.now())
        .unwrap_or_else(js_sys::Date::now);
    if now.is_finite() && now > 0.0 {
        now as u64
    } else {
        0
    }
}

pub fn warn(msg: &str) {
    web_sys::console::warn_1(&JsValue::from_str(msg));
}

/// What a connection is doing, for whoever looks (DevTools shows it at the "Verbose" level; the
/// e2e tests print it when a test fails).
pub fn debug(msg: &str) {
    web_sys::console::debug_1(&JsValue::from_str(msg));
}
