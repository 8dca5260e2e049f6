//! A WebSocket carrying text frames.

use super::BrowserError;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

#[derive(Debug)]
pub enum SocketEvent {
    Open,
    Text(String),
    Closed,
}

pub struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    /// Open a socket to `url`; `on_event` hears everything that happens to it until it is dropped.
    pub fn connect(
        url: &str,
        on_event: impl Fn(SocketEvent) + 'static,
    ) -> Result<Self, BrowserError> {
        let ws = WebSocket::new(url).map_err(BrowserError::from)?;
        let on_event = std::rc::Rc::new(on_event);
        let h = on_event.clone();
        let on_open = Closure::<dyn FnMut(Event)>::new(move |_| h(SocketEvent::Open));
        let h = on_event.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            // The server only sends text; anything else is ignored.
            if let Some(text) = e.data().as_string() {
                h(SocketEvent::Text(text));
            }
        });
        let h = on_event;
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_| h(SocketEvent::Closed));
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    pub fn send(&self, text: &str) -> Result<(), BrowserError> {
        self.ws.send_with_str(text).map_err(BrowserError::from)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}
