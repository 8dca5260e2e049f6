//! Board files coming back in: a `.automerge` file opened as a new board, or merged into the
//! board it is a copy of. A file is as untrusted as a peer's message: bounded in size, checked
//! chunk by chunk, decoded within the default budget (a decompression or op bomb is refused),
//! and it must be a Meshboard board. Nothing is applied unless all of that holds.

use automerge::ChangeHash;
use thiserror::Error;

use crate::board::genesis_heads;
use crate::error::BoardError;
use crate::{saved, Board};

/// Largest board file accepted (the engine's largest message: what a peer could send whole).
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

/// Why a file was refused; the messages are for the user.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ImportError {
    #[error("The file is empty.")]
    Empty,
    #[error("The file is {size} bytes; the largest board file accepted is {limit} bytes.")]
    TooLarge { size: usize, limit: usize },
    #[error("This is not a Meshboard board file (.automerge).")]
    NotAutomerge,
    #[error("The file is damaged or truncated.")]
    Damaged,
    #[error("The file would take more memory to open than a board may: {0}.")]
    OverBudget(automerge::budget::Exceeded),
    #[error("This Automerge file is not a Meshboard board.")]
    NotABoard,
    #[error(
        "This file is a copy of another board. Open it from the home page as a board of its own."
    )]
    OtherBoard,
}

/// What merging a file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    /// Changes the file had that the board did not.
    pub new_changes: usize,
}

/// Open `bytes` as a board of its own (with its whole history).
pub fn open_file(bytes: &[u8]) -> Result<Board, ImportError> {
    if bytes.is_empty() {
        return Err(ImportError::Empty);
    }
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ImportError::TooLarge {
            size: bytes.len(),
            limit: MAX_FILE_BYTES,
        });
    }
    if !saved::starts_like_automerge(bytes) {
        return Err(ImportError::NotAutomerge);
    }
    // a file cut short is no longer whole chunks
    if !saved::well_formed(bytes) {
        return Err(ImportError::Damaged);
    }
    if !saved::verified(bytes) {
        return Err(ImportError::Damaged);
    }
    let mut board = match Board::from_saved(bytes) {
        Ok(Some(board)) => board,
        Ok(None) => return Err(ImportError::NotABoard),
        Err(BoardError::OverBudget(exceeded)) => return Err(ImportError::OverBudget(exceeded)),
        Err(_) => return Err(ImportError::Damaged),
    };
    // Changes held back for missing dependencies mean a file cut short or stitched together.
    if !board.doc_mut().get_missing_deps(&[]).is_empty() {
        return Err(ImportError::Damaged);
    }
    Ok(board)
}

/// Merge `bytes`, another copy of `board` (a backup, an export from someone else), into it. A
/// copy of a different board is refused: two boards share only the genesis change, and merging
/// them would mix their widgets.
pub fn merge_file(board: &mut Board, bytes: &[u8]) -> Result<Merged, ImportError> {
    let mut other = open_file(bytes)?;
    if !same_board(board, &mut other) {
        return Err(ImportError::OtherBoard);
    }
    let before = board.heads();
    board.merge(&mut other).map_err(|_| ImportError::Damaged)?;
    Ok(Merged {
        new_changes: board.doc_mut().get_changes(&before).len(),
    })
}

/// Whether the two share a change besides the genesis, or either has nothing else yet.
fn same_board(board: &mut Board, other: &mut Board) -> bool {
    let genesis = genesis_heads();
    let ours = board.heads();
    let theirs = other.heads();
    if ours == genesis || theirs == genesis {
        return true;
    }
    let mut shared = |hash: &ChangeHash| {
        !genesis.contains(hash) && board.doc_mut().get_change_by_hash(hash).is_some()
    };
    if theirs.iter().any(&mut shared) {
        return true;
    }
    other
        .doc_mut()
        .get_changes(&[])
        .iter()
        .any(|c| shared(&c.hash()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WidgetKind;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn board_with_note(text: &str) -> Board {
        let mut b = Board::new_random().unwrap();
        b.set_title("Backups").unwrap();
        let note = b.add_widget(WidgetKind::Note).unwrap();
        b.set_note_text(&note, text).unwrap();
        b.commit(1);
        b
    }

    #[test]
    fn an_exported_board_opens_with_its_content_and_history() {
        let mut original = board_with_note("hello");
        let note = original.view().widgets[0].id.clone();
        original.set_note_text(&note, "hello world").unwrap();
        original.commit(2);
        let file = original.snapshot();
        let mut opened = open_file(&file).unwrap();
        assert_eq!(opened.view(), original.view());
        assert_eq!(opened.heads(), original.heads());
        assert_eq!(
            opened.doc_mut().get_changes(&[]).len(),
            original.doc_mut().get_changes(&[]).len(),
            "the history came along"
        );
        // and it is editable as a new actor
        assert_ne!(opened.doc().get_actor(), original.doc().get_actor());
        opened.set_title("Copy").unwrap();
    }

    #[test]
    fn files_that_are_not_whole_boards_are_refused() {
        let file = board_with_note("hello").snapshot();
        assert_eq!(open_file(&[]).err(), Some(ImportError::Empty));
        assert_eq!(
            open_file(b"# Launch plan\n").err(),
            Some(ImportError::NotAutomerge)
        );
        assert_eq!(
            open_file(&file[..file.len() - 10]).err(),
            Some(ImportError::Damaged),
            "truncated"
        );
        let mut flipped = file.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        assert_eq!(open_file(&flipped).err(), Some(ImportError::Damaged));
        let huge = vec![0u8; MAX_FILE_BYTES + 1];
        assert!(matches!(
            open_file(&huge).err(),
            Some(ImportError::TooLarge { .. })
        ));
        // a valid Automerge document that is not a board
        let mut other = automerge::AutoCommit::new();
        automerge::transaction::Transactable::put(&mut other, automerge::ROOT, "x", 1).unwrap();
        assert_eq!(open_file(&other.save()).err(), Some(ImportError::NotABoard));
    }

    #[test]
    fn a_backup_merges_into_its_board_and_another_board_does_not() {
        let mut board = board_with_note("shared");
        let backup = board.snapshot();
        // the board moves on, and the backup's copy had moved on elsewhere too
        let mut elsewhere = open_file(&backup).unwrap();
        let note = board.view().widgets[0].id.clone();
        board.set_note_text(&note, "shared, edited here").unwrap();
        board.commit(3);
        elsewhere.add_widget(WidgetKind::Counter).unwrap();
        elsewhere.commit(4);

        let merged = merge_file(&mut board, &elsewhere.snapshot()).unwrap();
        assert_eq!(merged.new_changes, 1);
        let view = board.view();
        assert_eq!(view.widgets.len(), 2);
        assert_eq!(
            view.widgets[0].body,
            crate::WidgetBody::Note {
                text: "shared, edited here".into()
            }
        );
        // merging the same file again adds nothing
        let again = merge_file(&mut board, &elsewhere.snapshot()).unwrap();
        assert_eq!(again.new_changes, 0);

        let heads = board.heads();
        let unrelated = board_with_note("another board").snapshot();
        assert_eq!(
            merge_file(&mut board, &unrelated).err(),
            Some(ImportError::OtherBoard)
        );
        assert_eq!(board.heads(), heads, "nothing changed");
    }
}
