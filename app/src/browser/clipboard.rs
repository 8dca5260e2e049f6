//! `navigator.clipboard.writeText`.

use wasm_bindgen_futures::JsFuture;

pub async fn write_text(text: &str) -> Result<(), String> {
    let window = web_sys::window().ok_or("no window")?;
    let promise = window.navigator().clipboard().write_text(text);
    JsFuture::from(promise)
        .await
        .map(|_| ())
        .map_err(|e| super::describe(&e))
}
