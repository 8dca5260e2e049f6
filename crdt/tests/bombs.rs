//! Decompression bombs: bytes that inflate far beyond their size are refused within a budget,
//! with the peak allocation bounded by a capped global allocator (this binary's own).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::System;
use std::io::Write;
use std::sync::Mutex;

use cap::Cap;
use crdt::automerge::ActorId;
use crdt::frame::{self, Changes, FrameKind, Header, Hello};
use crdt::{Board, Config, Effect, Engine, Event};

/// Counts what is allocated; a test bounds its peak by setting a limit, past which an
/// allocation fails and the test binary aborts.
#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// Runs `f` with at most `bound` bytes allocated on top of what is allocated now.
fn within<R>(bound: usize, f: impl FnOnce() -> R) -> R {
    ALLOC.set_limit(ALLOC.allocated() + bound).unwrap();
    let result = f();
    ALLOC.set_limit(usize::MAX).unwrap();
    result
}

/// The tests measure one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const MIB: usize = 1 << 20;
const T0: u64 = 1_700_000_000_000;

/// Raw deflate of `mib` MiB of zeros, written a MiB at a time.
fn deflated_zeros(mib: usize) -> Vec<u8> {
    let zeros = vec![0u8; MIB];
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..mib {
        e.write_all(&zeros).unwrap();
    }
    e.finish().unwrap()
}

/// An Automerge compressed-change chunk whose body is `deflated` (its checksum is never reached).
fn compressed_change_chunk(deflated: &[u8]) -> Vec<u8> {
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 2];
    frame::put_varint(&mut chunk, deflated.len() as u64);
    chunk.extend_from_slice(deflated);
    chunk
}

fn header(kind: FrameKind, seq: u64) -> Header {
    Header {
        kind,
        epoch: 1,
        seq,
        ack_epoch: 0,
        ack_count: 0,
        chunk: None,
    }
}

#[test]
fn a_frame_that_inflates_to_256_mib_is_refused_within_twice_the_message_limit() {
    let _one = SERIAL.lock().unwrap();
    let config = Config::default();
    let mut engine = Engine::with_config(Board::new(ActorId::from([1; 16])).unwrap(), config);
    engine.board_mut().set_title("intact").unwrap();
    engine.handle(Event::LocalChange, T0);
    let heads = engine.board_mut().heads();

    let bomb = compressed_change_chunk(&deflated_zeros(256));
    let payload = Changes::encode(&heads, [&bomb[..]]);
    let bytes = frame::encode(&header(FrameKind::Changes, 1), &payload);
    assert!(
        bytes.len() <= 264 * 1024,
        "the frame is {} bytes",
        bytes.len()
    );

    engine.handle(Event::Connected("1".into()), T0);
    let hello = Hello {
        reply_to: 0,
        heads: heads.clone(),
    };
    let h = frame::encode(&header(FrameKind::Hello, 0), &hello.encode());
    engine.handle(Event::Frame("1".into(), h), T0);

    // peak allocation under twice the message limit, or the test aborts
    let effects = within(2 * config.max_message, || {
        engine.handle(Event::Frame("1".into(), bytes), T0)
    });

    let refused = effects.iter().find_map(|e| match e {
        Effect::DropPeer { peer, reason } if peer == "1" => Some(reason.clone()),
        _ => None,
    });
    assert!(
        refused.as_deref().is_some_and(|r| r.contains("inflat")),
        "{refused:?}"
    );
    assert_eq!(engine.board().title(), "intact");
    assert_eq!(engine.board_mut().heads(), heads);
}

#[test]
fn a_stored_piece_that_inflates_to_256_mib_is_refused_and_changes_nothing() {
    let _one = SERIAL.lock().unwrap();
    let mut board = Board::new(ActorId::from([1; 16])).unwrap();
    board.set_title("intact").unwrap();
    board.commit(0);
    let heads = board.heads();
    let bomb = compressed_change_chunk(&deflated_zeros(256));
    let result = within(128 * MIB, || board.load_any(&bomb));
    assert!(
        matches!(result, Err(crdt::BoardError::OverBudget(_))),
        "{result:?}"
    );
    assert_eq!(board.heads(), heads);
    assert_eq!(board.title(), "intact");
}

#[test]
fn a_board_file_that_inflates_to_256_mib_is_refused_and_merges_nothing() {
    let _one = SERIAL.lock().unwrap();
    let bomb = compressed_change_chunk(&deflated_zeros(256));
    let opened = within(128 * MIB, || crdt::import::open_file(&bomb).err());
    assert!(
        matches!(opened, Some(crdt::import::ImportError::OverBudget(_))),
        "{opened:?}"
    );
    let mut board = Board::new(ActorId::from([1; 16])).unwrap();
    board.set_title("intact").unwrap();
    board.commit(0);
    let heads = board.heads();
    let merged = within(128 * MIB, || {
        crdt::import::merge_file(&mut board, &bomb).err()
    });
    assert!(
        matches!(merged, Some(crdt::import::ImportError::OverBudget(_))),
        "{merged:?}"
    );
    assert_eq!(board.heads(), heads);
}
