//! What changed on a board since the UI last looked, from Automerge's patches: which parts to
//! read again, and for notes the splices themselves, so that a keystroke on a long note costs
//! the length of the keystroke, not of the note.

use automerge::transaction::Transactable;
use automerge::{ObjId, Patch, PatchAction, Prop, ScalarValue};

use super::layout::{POS, SIZE};
use super::{Board, KIND, TEXT, TITLE, WIDGETS};
use crate::view::WidgetKind;

/// A change to a board as the UI needs to hear of it, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoardChange {
    /// Anything may have changed (a document was loaded whole, or changes were not followed):
    /// read the whole board again.
    All,
    Title,
    /// Widgets were added, removed or reordered.
    Widgets,
    /// A widget's content changed: read that widget again.
    Widget(String),
    /// A widget's title or width changed.
    Layout(String),
    /// Text was spliced into a note: `delete` code points at code point `index` made way for
    /// `insert`.
    NoteSplice {
        widget: String,
        index: usize,
        delete: usize,
        insert: String,
    },
}

/// Whether the board records its changes for [`Board::take_changes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Watch {
    #[default]
    Off,
    On,
    /// Recording stopped (a load replaced or flooded the document): the next answer is `All`.
    Lost,
}

/// Loads larger than this are not followed patch by patch: reading the board again is cheaper.
const FOLLOW_MAX_BYTES: usize = 64 << 10;
/// More patches than this are answered with `All`.
const MAX_PATCHES: usize = 4096;

impl Board {
    /// Start recording changes for [`Board::take_changes`] (it costs a little on every change).
    pub fn watch_changes(&mut self) {
        self.doc.update_diff_cursor();
        self.watch = Watch::On;
    }

    /// What changed since the last call (or since [`Board::watch_changes`]); `[All]` if changes
    /// are not being watched. Edits not yet committed are not reported (reading them would
    /// commit them without a time): they come with the first call after their commit.
    pub fn take_changes(&mut self) -> Vec<BoardChange> {
        if self.doc.pending_ops() > 0 {
            return Vec::new();
        }
        match self.watch {
            Watch::Off => vec![BoardChange::All],
            Watch::Lost => {
                self.watch_changes();
                vec![BoardChange::All]
            }
            Watch::On => {
                let patches = self.doc.diff_incremental();
                if patches.len() > MAX_PATCHES {
                    return vec![BoardChange::All];
                }
                let mut out: Vec<BoardChange> = Vec::new();
                for patch in &patches {
                    match self.change_of(patch) {
                        Some(BoardChange::All) => return vec![BoardChange::All],
                        Some(c @ BoardChange::NoteSplice { .. }) => out.push(c),
                        Some(c) if !out.contains(&c) => out.push(c),
                        _ => {}
                    }
                }
                out
            }
        }
    }

    /// About to apply `len` bytes from storage or a peer: stop following if that is a lot.
    pub fn before_apply(&mut self, len: usize) {
        if self.watch == Watch::On && len > FOLLOW_MAX_BYTES {
            self.doc.reset_diff_cursor();
            self.watch = Watch::Lost;
        }
    }

    /// The document was replaced by a loaded one (which records nothing).
    pub(super) fn replaced(&mut self) {
        if self.watch != Watch::Off {
            self.watch = Watch::Lost;
        }
    }

    fn change_of(&self, patch: &Patch) -> Option<BoardChange> {
        let key = |i: usize| match patch.path.get(i) {
            Some((_, Prop::Map(k))) => Some(k.as_str()),
            _ => None,
        };
        let Some(first) = key(0) else {
            // a key of the root itself
            return match &patch.action {
                PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => {
                    match key.as_str() {
                        TITLE => Some(BoardChange::Title),
                        WIDGETS => Some(BoardChange::All),
                        _ => None,
                    }
                }
                _ => None,
            };
        };
        match first {
            TITLE => Some(BoardChange::Title),
            WIDGETS if patch.path.len() == 1 => Some(BoardChange::Widgets),
            WIDGETS => {
                let widget = match patch.path.get(2) {
                    Some((w, _)) => w,
                    None => &patch.obj,
                };
                let id = widget.to_string();
                let splice = |index: usize, delete: usize, insert: String| {
                    Some(BoardChange::NoteSplice {
                        widget: id.clone(),
                        index,
                        delete,
                        insert,
                    })
                };
                // the widget's own keys: its place, width and title
                let own = match (patch.path.len(), &patch.action) {
                    (2, PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key }) => {
                        Some(key.as_str())
                    }
                    (3, _) => key(2),
                    _ => None,
                };
                match own {
                    Some(POS) => return Some(BoardChange::Widgets),
                    Some(SIZE | TITLE) => return Some(BoardChange::Layout(id)),
                    _ => {}
                }
                if patch.path.len() == 3 && key(2) == Some(TEXT) && self.is_note(widget) {
                    match &patch.action {
                        PatchAction::SpliceText { index, value, .. } => {
                            return splice(*index, 0, value.make_string())
                        }
                        PatchAction::DeleteSeq { index, length } => {
                            return splice(*index, *length, String::new())
                        }
                        _ => {}
                    }
                }
                Some(BoardChange::Widget(id))
            }
            _ => None,
        }
    }

    fn is_note(&self, widget: &ObjId) -> bool {
        matches!(self.scalar(widget, KIND), Some(ScalarValue::Str(s)) if *s == *WidgetKind::Note.as_str())
    }
}

#[cfg(test)]
mod tests;
