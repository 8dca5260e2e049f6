//! Tests that need a real browser: run with
//! `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p app --target wasm32-unknown-unknown`.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use app::browser::random;
use app::widgets::collab_text::apply_remote;
use crdt::{Board, WidgetBody, WidgetKind};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::HtmlTextAreaElement;

wasm_bindgen_test_configure!(run_in_browser);

fn textarea(value: &str) -> HtmlTextAreaElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let el: HtmlTextAreaElement = document
        .create_element("textarea")
        .unwrap()
        .dyn_into()
        .unwrap();
    document.body().unwrap().append_child(&el).unwrap();
    el.set_value(value);
    el
}

#[wasm_bindgen_test]
fn random_bytes_come_from_the_browser() {
    let a = random::bytes::<16>().unwrap();
    let b = random::bytes::<16>().unwrap();
    assert_ne!(a, b);
    assert_ne!(a, [0; 16]);
}

#[wasm_bindgen_test]
fn remote_insert_before_the_caret_keeps_it_after_the_same_text() {
    // "😀 " before the caret is three UTF-16 units: the caret must move by three, not two.
    let el = textarea("hello world");
    el.focus().unwrap();
    el.set_selection_range(11, 11).unwrap();
    apply_remote(&el, "😀 hello world");
    assert_eq!(el.value(), "😀 hello world");
    assert_eq!(el.selection_start().unwrap(), Some(14));
    assert_eq!(el.selection_end().unwrap(), Some(14));
    el.remove();
}

#[wasm_bindgen_test]
fn remote_edit_after_the_caret_leaves_the_selection_alone() {
    let el = textarea("café naïve");
    el.focus().unwrap();
    el.set_selection_range(0, 4).unwrap();
    apply_remote(&el, "café naïve, and more");
    assert_eq!(
        (el.selection_start().unwrap(), el.selection_end().unwrap()),
        (Some(0), Some(4))
    );
    el.remove();
}

#[wasm_bindgen_test]
fn automerge_runs_in_the_browser() {
    // Random actor ids need automerge's wasm feature (getrandom's JS backend).
    let mut a = Board::new_random().unwrap();
    let mut b = Board::new_random().unwrap();
    let c = a.add_widget(WidgetKind::Counter).unwrap();
    b.merge(&mut a).unwrap();
    a.increment_counter(&c, 2).unwrap();
    b.increment_counter(&c, 3).unwrap();
    a.merge(&mut b).unwrap();
    assert_eq!(a.view().widgets[0].body, WidgetBody::Counter { value: 5 });
}

mod webrtc {
    use std::cell::RefCell;
    use std::rc::Rc;

    use app::browser::data_channel::{ChannelEvent, DataChannel};
    use app::browser::peer_connection::{self, IceConfig, PeerConnection, PeerEvent};
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::*;

    async fn sleep(ms: i32) {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            web_sys::window()
                .unwrap()
                .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
                .unwrap();
        });
        JsFuture::from(promise).await.unwrap();
    }

    type Events<T> = Rc<RefCell<Vec<T>>>;

    fn recorder<T: 'static>() -> (Events<T>, impl Fn(T) + 'static) {
        let events: Events<T> = Rc::default();
        let sink = events.clone();
        (events, move |e| sink.borrow_mut().push(e))
    }

    /// Two peer connections in one page, wired by hand, exchange bytes over the wrappers'
    /// data channel: offer/answer, trickled candidates, channel announcement, open, message.
    #[wasm_bindgen_test]
    async fn two_peer_connections_exchange_bytes() {
        let (a_events, on_a) = recorder::<PeerEvent>();
        let (b_events, on_b) = recorder::<PeerEvent>();
        let a = PeerConnection::new(&IceConfig::default(), on_a).unwrap();
        let b = PeerConnection::new(&IceConfig::default(), on_b).unwrap();
        let (a_channel_events, on_a_channel) = recorder::<ChannelEvent>();
        let a_channel = DataChannel::new(a.create_channel("board"), on_a_channel);

        let offer = peer_connection::make_offer(a.handle()).await.unwrap();
        let answer = peer_connection::answer_offer(b.handle(), offer)
            .await
            .unwrap();
        peer_connection::accept_answer(a.handle(), answer)
            .await
            .unwrap();

        let (b_channel_events, on_b_channel) = recorder::<ChannelEvent>();
        let mut on_b_channel = Some(on_b_channel);
        let mut b_channel = None;
        let mut sent = false;
        for _ in 0..200 {
            let from_a: Vec<PeerEvent> = a_events.borrow_mut().drain(..).collect();
            for e in from_a {
                if let PeerEvent::IceCandidate(c) = e {
                    peer_connection::add_candidate(b.handle(), c).await.unwrap();
                }
            }
            let from_b: Vec<PeerEvent> = b_events.borrow_mut().drain(..).collect();
            for e in from_b {
                match e {
                    PeerEvent::IceCandidate(c) => {
                        peer_connection::add_candidate(a.handle(), c).await.unwrap()
                    }
                    PeerEvent::DataChannel(ch) => {
                        b_channel = Some(DataChannel::new(ch, on_b_channel.take().unwrap()))
                    }
                    PeerEvent::Failed => panic!("connection failed"),
                }
            }
            if !sent && a_channel.is_open() {
                a_channel.send(&[1, 2, 3, 255]).unwrap();
                sent = true;
            }
            let received = b_channel_events
                .borrow()
                .iter()
                .any(|e| matches!(e, ChannelEvent::Message(m) if m == &[1, 2, 3, 255]));
            if received {
                assert!(a_channel_events
                    .borrow()
                    .iter()
                    .any(|e| matches!(e, ChannelEvent::Open)));
                assert!(b_channel.as_ref().unwrap().is_open());
                break;
            }
            sleep(25).await;
        }
        assert!(sent && b_channel.is_some(), "no message arrived within 5 s");

        // A burst beyond what Chromium lets a channel buffer (16 MiB; more makes `send` throw):
        // the wrapper queues what does not fit and sends it as the buffer drains, in order.
        const FRAMES: usize = 384;
        const SIZE: usize = 64 * 1024;
        b_channel_events.borrow_mut().clear();
        for i in 0..FRAMES {
            let mut frame = vec![0u8; SIZE];
            frame[..2].copy_from_slice(&(i as u16).to_be_bytes());
            a_channel.send(&frame).unwrap();
        }
        for _ in 0..600 {
            let got: Vec<u16> = b_channel_events
                .borrow()
                .iter()
                .filter_map(|e| match e {
                    ChannelEvent::Message(m) if m.len() == SIZE => {
                        Some(u16::from_be_bytes([m[0], m[1]]))
                    }
                    _ => None,
                })
                .collect();
            if got.len() == FRAMES {
                assert!(
                    got.iter().enumerate().all(|(i, n)| usize::from(*n) == i),
                    "in order"
                );
                return;
            }
            sleep(25).await;
        }
        panic!("the 24 MiB burst did not arrive within 15 s");
    }
}
