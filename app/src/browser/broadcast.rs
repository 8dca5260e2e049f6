//! A `BroadcastChannel` carrying bytes between tabs of the same browser profile.

use super::BrowserError;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

pub struct Broadcast {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Broadcast {
    /// Join the channel `name`; `on_message` hears messages of at most `max_bytes` bytes.
    pub fn open(
        name: &str,
        max_bytes: usize,
        on_message: impl Fn(Vec<u8>) + 'static,
    ) -> Result<Self, BrowserError> {
        let channel = BroadcastChannel::new(name).map_err(BrowserError::from)?;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            // Only byte arrays are part of the tab protocol; anything else is ignored, and so is
            // an array too large to copy into wasm memory.
            let Ok(bytes) = e.data().dyn_into::<js_sys::Uint8Array>() else {
                return;
            };
            if usize::try_from(bytes.length()).is_ok_and(|l| l <= max_bytes) {
                on_message(bytes.to_vec());
            } else {
                super::warn("meshboard: ignoring a message from another tab: too large");
            }
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Ok(Broadcast {
            channel,
            _on_message: on_message,
        })
    }

    pub fn post(&self, bytes: &[u8]) -> Result<(), BrowserError> {
        self.channel
            .post_message(&js_sys::Uint8Array::from(bytes))
            .map_err(BrowserError::from)
    }
}

impl Drop for Broadcast {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}
