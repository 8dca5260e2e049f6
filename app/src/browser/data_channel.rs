//! An `RTCDataChannel` carrying binary frames, with flow control: frames wait in a bounded queue
//! while the browser's send buffer is above a high-water mark, and go out as it drains
//! (`bufferedamountlow`), so a large sync never overfills the channel.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Event, MessageEvent, RtcDataChannel, RtcDataChannelState, RtcDataChannelType};

/// Above this many buffered bytes, frames wait in our queue.
const HIGH_WATER: u32 = 1024 * 1024;
/// The browser tells us when the buffer drains below this.
const LOW_WATER: u32 = 256 * 1024;
/// Bytes we are willing to hold for one slow peer before giving up on it...
const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;
/// ...and for all peers together (a board has up to 31: the per-peer bound alone would allow
/// more than a wasm32 tab can hold).
const MAX_QUEUED_ALL_BYTES: usize = 128 * 1024 * 1024;

thread_local! {
    /// Bytes queued in every channel's outbox.
    static QUEUED_ALL: Cell<usize> = const { Cell::new(0) };
}

/// Why a frame could not be sent; the link is unusable after any of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the peer is not reading: {0} bytes wait for it")]
    PeerBacklog(usize),
    #[error("peers are not reading: {0} bytes wait for all of them")]
    AllBacklog(usize),
    #[error("{0}")]
    Browser(String),
}

#[derive(Debug)]
pub enum ChannelEvent {
    Open,
    Message(Vec<u8>),
    /// A message that is not part of the protocol arrived; it was not copied into wasm memory.
    Refused(Refusal),
    Closed,
}

/// Why an incoming message was refused before it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("a message of {0} bytes, more than a frame may hold")]
    TooLarge(u32),
    #[error("a text message where only binary frames are allowed")]
    NotBinary,
}

/// Read one incoming message, checking its size before copying it.
fn incoming(data: wasm_bindgen::JsValue) -> ChannelEvent {
    match data.dyn_into::<js_sys::ArrayBuffer>() {
        Ok(buf) => {
            let len = buf.byte_length();
            if usize::try_from(len).map_or(true, |l| l > crdt::frame::MAX_FRAME) {
                ChannelEvent::Refused(Refusal::TooLarge(len))
            } else {
                ChannelEvent::Message(js_sys::Uint8Array::new(&buf).to_vec())
            }
        }
        Err(_) => ChannelEvent::Refused(Refusal::NotBinary),
    }
}

#[derive(Default)]
struct Outbox {
    frames: VecDeque<Vec<u8>>,
    bytes: usize,
}

impl Outbox {
    fn push(&mut self, frame: &[u8]) -> Result<(), SendError> {
        let mine = self.bytes + frame.len();
        if mine > MAX_QUEUED_BYTES {
            return Err(SendError::PeerBacklog(mine));
        }
        let all = QUEUED_ALL.with(Cell::get) + frame.len();
        if all > MAX_QUEUED_ALL_BYTES {
            return Err(SendError::AllBacklog(all));
        }
        QUEUED_ALL.with(|q| q.set(all));
        self.bytes = mine;
        self.frames.push_back(frame.to_vec());
        Ok(())
    }

    fn pop(&mut self) -> Option<Vec<u8>> {
        let frame = self.frames.pop_front()?;
        self.bytes -= frame.len();
        QUEUED_ALL.with(|q| q.set(q.get().saturating_sub(frame.len())));
        Some(frame)
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        QUEUED_ALL.with(|q| q.set(q.get().saturating_sub(self.bytes)));
    }
}

fn flush(channel: &RtcDataChannel, outbox: &RefCell<Outbox>) -> Result<(), SendError> {
    let mut out = outbox.borrow_mut();
    while channel.buffered_amount() < HIGH_WATER {
        let Some(frame) = out.pop() else {
            break;
        };
        channel
            .send_with_u8_array(&frame)
            .map_err(|e| SendError::Browser(super::describe(&e)))?;
    }
    Ok(())
}

pub struct DataChannel {
    channel: RtcDataChannel,
    outbox: Rc<RefCell<Outbox>>,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(Event)>,
    _on_low: Closure<dyn FnMut(Event)>,
}

impl DataChannel {
    /// Take ownership of `channel`; `on_event` hears it open, receive and close until dropped.
    pub fn new(channel: RtcDataChannel, on_event: impl Fn(ChannelEvent) + 'static) -> Self {
        channel.set_binary_type(RtcDataChannelType::Arraybuffer);
        channel.set_buffered_amount_low_threshold(LOW_WATER);
        let on_event = Rc::new(on_event);
        let h = on_event.clone();
        let on_open = Closure::<dyn FnMut(Event)>::new(move |_| h(ChannelEvent::Open));
        let h = on_event.clone();
        let on_message =
            Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| h(incoming(e.data())));
        let h = on_event;
        let on_close = Closure::<dyn FnMut(Event)>::new(move |_| h(ChannelEvent::Closed));
        let outbox = Rc::new(RefCell::new(Outbox::default()));
        let (drain, target) = (outbox.clone(), channel.clone());
        let on_low = Closure::<dyn FnMut(Event)>::new(move |_| {
            if let Err(e) = flush(&target, &drain) {
                super::warn(&format!("meshboard: data channel send failed: {e}"));
                target.close();
            }
        });
        channel.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        channel.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        channel.set_onbufferedamountlow(Some(on_low.as_ref().unchecked_ref()));
        DataChannel {
            channel,
            outbox,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
            _on_low: on_low,
        }
    }

    pub fn is_open(&self) -> bool {
        self.channel.ready_state() == RtcDataChannelState::Open
    }

    /// Send now, or queue behind what is waiting for the browser's buffer to drain. An error
    /// means the channel is unusable (closed, a peer that has not read 64 MiB, or peers that
    /// have not read 128 MiB together).
    pub fn send(&self, bytes: &[u8]) -> Result<(), SendError> {
        self.outbox.borrow_mut().push(bytes)?;
        flush(&self.channel, &self.outbox)
    }
}

impl Drop for DataChannel {
    fn drop(&mut self) {
        self.channel.set_onopen(None);
        self.channel.set_onmessage(None);
        self.channel.set_onclose(None);
        self.channel.set_onbufferedamountlow(None);
        self.channel.close();
    }
}
