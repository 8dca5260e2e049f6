//! An `RTCDataChannel` carrying binary frames.

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Event, MessageEvent, RtcDataChannel, RtcDataChannelState, RtcDataChannelType};

#[derive(Debug)]
pub enum ChannelEvent {
    Open,
    Message(Vec<u8>),
    Closed,
}

pub struct DataChannel {
    channel: RtcDataChannel,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(Event)>,
}

impl DataChannel {
    /// Take ownership of `channel`; `on_event` hears it open, receive and close until dropped.
    pub fn new(channel: RtcDataChannel, on_event: impl Fn(ChannelEvent) + 'static) -> Self {
        channel.set_binary_type(RtcDataChannelType::Arraybuffer);
        let on_event = std::rc::Rc::new(on_event);
        let h = on_event.clone();
        let on_open = Closure::<dyn FnMut(Event)>::new(move |_| h(ChannelEvent::Open));
        let h = on_event.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            // Binary frames only; a text frame is not part of the protocol and is passed on as
            // bytes so that the engine rejects it (and drops the peer) like any other bad frame.
            let data = e.data();
            let bytes = match data.dyn_into::<js_sys::ArrayBuffer>() {
                Ok(buf) => js_sys::Uint8Array::new(&buf).to_vec(),
                Err(other) => other.as_string().unwrap_or_default().into_bytes(),
            };
            h(ChannelEvent::Message(bytes));
        });
        let h = on_event;
        let on_close = Closure::<dyn FnMut(Event)>::new(move |_| h(ChannelEvent::Closed));
        channel.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        channel.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        DataChannel {
            channel,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        }
    }

    pub fn is_open(&self) -> bool {
        self.channel.ready_state() == RtcDataChannelState::Open
    }

    pub fn send(&self, bytes: &[u8]) -> Result<(), String> {
        self.channel
            .send_with_u8_array(bytes)
            .map_err(|e| super::describe(&e))
    }
}

impl Drop for DataChannel {
    fn drop(&mut self) {
        self.channel.set_onopen(None);
        self.channel.set_onmessage(None);
        self.channel.set_onclose(None);
        self.channel.close();
    }
}
