//! `navigator.storage`: asking the browser to keep this origin's data (IndexedDB) even when it
//! runs low on space. Without that promise ("best-effort" storage) a browser may evict a board
//! this browser holds the only copy of.

use wasm_bindgen_futures::JsFuture;
use web_sys::StorageManager;

fn manager() -> Option<StorageManager> {
    let navigator = web_sys::window()?.navigator();
    // `navigator.storage` is missing in old browsers and in some insecure contexts
    js_sys::Reflect::has(&navigator, &"storage".into())
        .ok()?
        .then(|| navigator.storage())
}

/// Whether the browser has promised to keep this origin's data; `None` if it cannot tell.
pub async fn persisted() -> Option<bool> {
    let promise = manager()?.persisted().ok()?;
    JsFuture::from(promise).await.ok()?.as_bool()
}

/// Asks for that promise (the browser decides, usually without asking the user: Chromium grants
/// it to sites that are installed, bookmarked or often used); whether it is granted now.
pub async fn persist() -> Option<bool> {
    if persisted().await == Some(true) {
        return Some(true);
    }
    let promise = manager()?.persist().ok()?;
    JsFuture::from(promise).await.ok()?.as_bool()
}
