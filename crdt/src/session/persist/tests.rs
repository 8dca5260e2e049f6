use super::*;
use crate::board::Board;

fn policy() -> PersistPolicy {
    PersistPolicy {
        compact_after_pieces: 4,
        compact_after_bytes: 1 << 20,
        idle_ms: 2_000,
        force_after_pieces: 10,
        retry_ms: 3_000,
        max_retry_ms: 20_000,
    }
}

fn edit(board: &mut Board, p: &mut Persister, now: u64) {
    board.set_title(&format!("title at {now}")).unwrap();
    board.commit(0);
    p.changed(now);
}

/// Write what is due at `now` and finish it; returns whether it was whole.
fn write(board: &mut Board, p: &mut Persister, now: u64) -> Option<bool> {
    let piece = p.next_write(board, now)?;
    p.written(true, now);
    Some(piece.whole)
}

fn loaded_board(p: &mut Persister) -> Board {
    let mut board = Board::new_random().unwrap();
    p.loaded(&[]);
    assert_eq!(
        write(&mut board, p, 0),
        Some(true),
        "a new board is written whole"
    );
    board
}

#[test]
fn nothing_is_written_before_the_board_is_loaded() {
    let mut p = Persister::new(policy());
    let mut board = Board::new_random().unwrap();
    edit(&mut board, &mut p, 5);
    assert!(p.next_write(&mut board, 5).is_none());
    assert_eq!(p.wake_at(), None);
    assert!(!p.is_saved());
}

#[test]
fn storage_that_cannot_be_opened_writes_nothing_and_stays_unsaved() {
    let mut p = Persister::new(policy());
    let mut board = Board::new_random().unwrap();
    p.unavailable();
    edit(&mut board, &mut p, 1);
    assert!(p.next_write(&mut board, 10_000).is_none());
    assert_eq!(p.wake_at(), None);
    assert!(!p.is_saved());
}

#[test]
fn one_write_at_a_time_and_changes_meanwhile_go_into_the_next() {
    let mut p = Persister::new(policy());
    let mut board = loaded_board(&mut p);
    edit(&mut board, &mut p, 10);
    let first = p.next_write(&mut board, 10).unwrap();
    assert!(!first.whole);
    edit(&mut board, &mut p, 11);
    assert!(
        p.next_write(&mut board, 11).is_none(),
        "a write is under way"
    );
    assert!(!p.is_saved());
    p.written(true, 12);
    let second = p.next_write(&mut board, 12).unwrap();
    assert!(!second.whole);
    p.written(true, 13);
    assert!(p.is_saved());
    assert!(
        p.next_write(&mut board, 14).is_none(),
        "nothing left to write"
    );
}

#[test]
fn a_due_compaction_waits_until_typing_pauses() {
    let mut p = Persister::new(policy());
    let mut board = loaded_board(&mut p);
    let mut now = 100;
    // pieces 2 to 6: the compaction becomes due at 4 but typing goes on
    for _ in 0..5 {
        edit(&mut board, &mut p, now);
        assert_eq!(write(&mut board, &mut p, now), Some(false), "at {now}");
        now += 100;
    }
    let last_edit = now - 100;
    assert_eq!(p.wake_at(), Some(last_edit + 2_000));
    assert!(p.next_write(&mut board, last_edit + 1_999).is_none());
    assert_eq!(write(&mut board, &mut p, last_edit + 2_000), Some(true));
    assert_eq!(p.wake_at(), None, "compacted");
}

#[test]
fn compaction_stops_waiting_when_pieces_pile_up() {
    let mut p = Persister::new(policy());
    let mut board = loaded_board(&mut p);
    let kinds: Vec<bool> = (1..=10u64)
        .map(|i| {
            edit(&mut board, &mut p, i * 10);
            write(&mut board, &mut p, i * 10).unwrap()
        })
        .collect();
    assert_eq!(kinds.iter().filter(|w| **w).count(), 1, "{kinds:?}");
    assert!(
        kinds[9],
        "the tenth piece compacts although typing goes on: {kinds:?}"
    );
}

#[test]
fn a_large_document_is_not_compacted_again_for_every_small_piece() {
    let mut p = Persister::new(PersistPolicy {
        compact_after_bytes: 10,
        ..policy()
    });
    let mut board = Board::new_random().unwrap();
    // storage holds one whole document larger than the byte threshold
    p.loaded(&[5_000]);
    board.mark_stored();
    edit(&mut board, &mut p, 0);
    assert_eq!(write(&mut board, &mut p, 10_000), Some(false));
    assert_eq!(p.wake_at(), None);
}

#[test]
fn a_failed_write_is_retried_whole_after_a_while() {
    let mut p = Persister::new(policy());
    let mut board = loaded_board(&mut p);
    edit(&mut board, &mut p, 10);
    assert!(!p.next_write(&mut board, 10).unwrap().whole);
    p.written(false, 20);
    assert!(!p.is_saved());
    assert_eq!(p.wake_at(), Some(3_020));
    assert!(
        p.next_write(&mut board, 3_019).is_none(),
        "not before the retry"
    );
    assert_eq!(write(&mut board, &mut p, 3_020), Some(true));
    assert!(p.is_saved());
}

#[test]
fn writes_that_keep_failing_are_retried_less_and_less_often() {
    let mut p = Persister::new(policy());
    let mut board = loaded_board(&mut p);
    edit(&mut board, &mut p, 10);
    let mut now = 10;
    let mut gaps = Vec::new();
    for _ in 0..5 {
        p.next_write(&mut board, now).unwrap();
        p.written(false, now);
        let at = p.wake_at().unwrap();
        assert!(
            p.next_write(&mut board, at - 1).is_none(),
            "not before the retry"
        );
        gaps.push(at - now);
        now = at;
    }
    assert_eq!(gaps, [3_000, 6_000, 12_000, 20_000, 20_000]);
    // one success resets the delay
    assert_eq!(write(&mut board, &mut p, now), Some(true));
    edit(&mut board, &mut p, now + 1);
    p.next_write(&mut board, now + 1).unwrap();
    p.written(false, now + 1);
    assert_eq!(p.wake_at(), Some(now + 1 + 3_000));
}
