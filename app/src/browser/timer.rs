//! `setTimeout` with an owner: dropping a [`Timeout`] cancels it and frees its closure.

use super::BrowserError;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

pub struct Timeout {
    id: i32,
    _closure: Closure<dyn FnMut()>,
}

impl Timeout {
    pub fn new(ms: u32, f: impl FnOnce() + 'static) -> Result<Self, BrowserError> {
        let mut f = Some(f);
        let closure = Closure::<dyn FnMut()>::new(move || {
            if let Some(f) = f.take() {
                f();
            }
        });
        let window = web_sys::window().ok_or(BrowserError::Missing("a window"))?;
        let id = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                closure.as_ref().unchecked_ref(),
                i32::try_from(ms).unwrap_or(i32::MAX),
            )
            .map_err(BrowserError::from)?;
        Ok(Timeout {
            id,
            _closure: closure,
        })
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        if let Some(w) = web_sys::window() {
            w.clear_timeout_with_handle(self.id);
        }
    }
}
