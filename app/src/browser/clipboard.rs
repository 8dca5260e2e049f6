//! `navigator.clipboard.writeText`.

use super::BrowserError;
use wasm_bindgen_futures::JsFuture;

pub async fn write_text(text: &str) -> Result<(), BrowserError> {
    let window = web_sys::window().ok_or(BrowserError::Missing("a window"))?;
    let promise = window.navigator().clipboard().write_text(text);
    JsFuture::from(promise)
        .await
        .map(|_| ())
        .map_err(BrowserError::from)
}
