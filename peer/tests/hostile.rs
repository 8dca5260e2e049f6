//! Frames a hostile link holder might send reach the same engine as in the browser: whatever
//! does not decode drops that peer, the board and its storage stay intact, nothing panics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crdt::session::PersistPolicy;
use crdt::{BoardSecret, Effect, Event, WidgetKind};
use meshboard_peer::hosted::Hosted;
use meshboard_peer::store::Store;
use meshboard_peer::BoardId;

#[test]
fn garbage_frames_drop_the_peer_and_leave_the_board_intact() {
    let dir = std::env::temp_dir().join(format!("meshboard-peer-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).unwrap();
    let secret = BoardSecret::from_bytes([9; 16]);
    store.add(&secret).unwrap();
    let id = BoardId::of(&secret);
    let mut h = Hosted::load(&store, &id, PersistPolicy::default()).unwrap();
    let w = h.board_mut().add_widget(WidgetKind::Note).unwrap();
    h.board_mut().set_note_text(&w, "keep me").unwrap();
    assert!(h
        .handle(&store, Event::LocalChange, 1)
        .store_error
        .is_none());

    // a deterministic stream of junk: empty, short, long, and frame-like headers with garbage
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut junk = vec![vec![], vec![0], vec![0xff; 64 * 1024]];
    for len in [1usize, 7, 16, 31, 200, 4096, 60_000] {
        let mut f = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            f.push(seed as u8);
        }
        junk.push(f);
    }
    let mut dropped = 0;
    for (i, frame) in junk.into_iter().enumerate() {
        let peer = format!("hostile-{i}");
        let _ = h.handle(&store, Event::Connected(peer.clone()), 10);
        let turn = h.handle(&store, Event::Frame(peer.clone(), frame), 11);
        assert!(turn.store_error.is_none());
        if turn
            .effects
            .iter()
            .any(|e| matches!(e, Effect::DropPeer { peer: p, .. } if *p == peer))
        {
            dropped += 1;
        }
        // a frame from nobody connected is ignored
        let _ = h.handle(&store, Event::Frame("stranger".into(), vec![1, 2, 3]), 12);
    }
    assert!(dropped >= 8, "junk drops its sender ({dropped} dropped)");
    drop(h);
    let mut again = Hosted::load(&store, &id, PersistPolicy::default()).unwrap();
    let view = again.board_mut().view();
    assert_eq!(
        view.widget(&w).map(|w| w.body.clone()),
        Some(crdt::WidgetBody::Note {
            text: "keep me".into()
        })
    );
    let _ = std::fs::remove_dir_all(&dir);
}
