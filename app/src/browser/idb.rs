//! IndexedDB as futures: open a database (creating its stores on upgrade), run a request, wait
//! for a transaction to commit. Requests and transactions resolve JS promises directly, so no
//! Rust closure outlives the call that made it.

use super::BrowserError;
use js_sys::Promise;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbOpenDbRequest, IdbRequest, IdbTransaction, IdbVersionChangeEvent};

fn request_error(req: &IdbRequest) -> Option<String> {
    match req.error() {
        Ok(Some(e)) => Some(format!("{}: {}", e.name(), e.message())),
        _ => None,
    }
}

/// Open `name` at `version`; `upgrade` creates or migrates the stores when the version is new.
pub async fn open(
    name: &str,
    version: u32,
    upgrade: fn(&IdbDatabase) -> Result<(), JsValue>,
) -> Result<IdbDatabase, BrowserError> {
    let factory = web_sys::window()
        .ok_or(BrowserError::Missing("a window"))?
        .indexed_db()
        .map_err(BrowserError::from)?
        .ok_or(BrowserError::Missing("IndexedDB"))?;
    let req: IdbOpenDbRequest = factory
        .open_with_u32(name, version)
        .map_err(BrowserError::from)?;
    let target = req.clone();
    let on_upgrade = Closure::<dyn FnMut(IdbVersionChangeEvent)>::new(move |_| {
        let db = target
            .result()
            .ok()
            .and_then(|r| r.dyn_into::<IdbDatabase>().ok());
        if let Some(db) = db {
            if let Err(e) = upgrade(&db) {
                super::warn(&format!(
                    "meshboard: storage upgrade failed: {}",
                    super::describe(&e)
                ));
            }
        }
    });
    req.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    let promise = Promise::new(&mut |resolve, reject| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject.clone()));
        req.set_onblocked(Some(&reject));
    });
    let outcome = JsFuture::from(promise).await;
    req.set_onupgradeneeded(None);
    req.set_onsuccess(None);
    req.set_onerror(None);
    req.set_onblocked(None);
    drop(on_upgrade);
    if outcome.is_err() {
        // No error on the request means it was blocked rather than failed.
        return Err(request_error(&req).map_or(BrowserError::Blocked, BrowserError::Js));
    }
    req.result()
        .map_err(BrowserError::from)?
        .dyn_into::<IdbDatabase>()
        .map_err(|_| BrowserError::Unexpected("something that is not a database from IndexedDB"))
}

/// Wait for `req` and return its result.
pub async fn request(req: IdbRequest) -> Result<JsValue, BrowserError> {
    let promise = Promise::new(&mut |resolve, reject| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject));
    });
    let outcome = JsFuture::from(promise).await;
    req.set_onsuccess(None);
    req.set_onerror(None);
    match outcome {
        Ok(_) => req.result().map_err(BrowserError::from),
        Err(_) => Err(BrowserError::Js(
            request_error(&req).unwrap_or_else(|| "IndexedDB request failed".into()),
        )),
    }
}

/// Wait until `tx` commits; an abort (quota exceeded, a failed request) is an error.
pub async fn committed(tx: IdbTransaction) -> Result<(), BrowserError> {
    let promise = Promise::new(&mut |resolve, reject| {
        tx.set_oncomplete(Some(&resolve));
        tx.set_onerror(Some(&reject.clone()));
        tx.set_onabort(Some(&reject));
    });
    let outcome = JsFuture::from(promise).await;
    tx.set_oncomplete(None);
    tx.set_onerror(None);
    tx.set_onabort(None);
    outcome.map(|_| ()).map_err(|_| match tx.error() {
        Some(e) => BrowserError::Js(format!("{}: {}", e.name(), e.message())),
        None => BrowserError::Aborted,
    })
}
