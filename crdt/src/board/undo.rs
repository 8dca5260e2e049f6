//! Undo and redo of this page's own changes, as new changes on top of the current board (which
//! sync like any edit; nothing is rewritten).
//!
//! A step is a few of our changes (typing within [`STEP_MS`] is one step). Undoing a change puts
//! back, for each object it touched, what that object held just before it, *as far as the change
//! made it differ*: text it inserted is deleted (found by its characters' identities, so a peer's
//! text typed among it stays), text it deleted comes back where it was, a counter is stepped
//! back by as much as the change stepped it, a map value it set goes back unless someone has set
//! it again since, a widget or task it added is removed and one it removed comes back (a copy,
//! in its old place among those still there). Undoing the undo's change is the redo.

use std::collections::{HashMap, HashSet};

use automerge::transaction::Transactable;
use automerge::{ChangeHash, Cursor, ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT};

use super::Board;
use crate::error::BoardError;
use crate::text_diff;

/// Our changes within this long of each other are one step.
pub const STEP_MS: u64 = 500;
/// Steps kept (the oldest go first).
pub const MAX_STEPS: usize = 200;
/// Changes one step may hold (a longer burst is cut into several steps).
const MAX_STEP_CHANGES: usize = 400;
/// Map keys undo leaves alone: who edited stays on record.
const AUTHOR_PREFIX: &str = "author:";

#[derive(Debug, Clone, Default)]
struct Step {
    changes: Vec<ChangeHash>,
    last_at: u64,
}

/// This page's undo and redo stacks (they belong to the page and end with it).
#[derive(Debug, Clone, Default)]
pub struct UndoStack {
    undo: Vec<Step>,
    redo: Vec<Step>,
    /// Objects that came back as copies (a removed widget brought back): older steps that
    /// touched the original apply to its copy.
    copies: Copies,
}

/// From an object to the copy that replaced it (and its nested objects to theirs).
type Copies = HashMap<ObjId, ObjId>;

/// The newest copy of `obj` (itself if it was never copied).
fn newest(copies: &Copies, obj: &ObjId) -> ObjId {
    let mut obj = obj.clone();
    // a copy is always newer than its original, so this ends; the bound is for safety
    for _ in 0..copies.len() {
        match copies.get(&obj) {
            Some(next) => obj = next.clone(),
            None => break,
        }
    }
    obj
}

fn newest_held(copies: &Copies, held: Held) -> Held {
    match held {
        Held::Object(id, t) => Held::Object(newest(copies, &id), t),
        scalar => scalar,
    }
}

impl UndoStack {
    /// Our local change `hash` was made at `now` (ms): part of the last step if that is recent.
    /// A new edit ends what could be redone.
    pub fn record(&mut self, hash: ChangeHash, now: u64) {
        self.redo.clear();
        push(&mut self.undo, hash, now, true);
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Undo the last step on `board` (uncommitted: the caller commits it and passes the new
    /// change to [`UndoStack::undone`]). `false` if there was nothing to undo.
    pub fn undo(&mut self, board: &mut Board) -> Result<bool, BoardError> {
        revert_last(&mut self.undo, &mut self.copies, board)
    }

    /// The change that undid a step: redo reverts it.
    pub fn undone(&mut self, hash: ChangeHash, now: u64) {
        push(&mut self.redo, hash, now, false);
    }

    /// Redo the last undone step (uncommitted, like [`UndoStack::undo`]; pass the new change to
    /// [`UndoStack::redone`]).
    pub fn redo(&mut self, board: &mut Board) -> Result<bool, BoardError> {
        revert_last(&mut self.redo, &mut self.copies, board)
    }

    /// The change that redid a step: it can be undone again (without ending the redo stack).
    pub fn redone(&mut self, hash: ChangeHash, now: u64) {
        push(&mut self.undo, hash, now, false);
    }
}

/// Revert the last step of `stack`; `false` if it is empty.
fn revert_last(
    stack: &mut Vec<Step>,
    copies: &mut Copies,
    board: &mut Board,
) -> Result<bool, BoardError> {
    let Some(step) = stack.pop() else {
        return Ok(false);
    };
    revert_all(board, copies, &step.changes)?;
    Ok(true)
}

fn push(stack: &mut Vec<Step>, hash: ChangeHash, now: u64, join: bool) {
    match stack.last_mut() {
        Some(step)
            if join
                && now.saturating_sub(step.last_at) < STEP_MS
                && step.changes.len() < MAX_STEP_CHANGES =>
        {
            step.changes.push(hash);
            step.last_at = now;
        }
        _ => {
            stack.push(Step {
                changes: vec![hash],
                last_at: now,
            });
            if stack.len() > MAX_STEPS {
                stack.remove(0);
            }
        }
    }
}

/// What one change touched, and the heads just before and after it.
struct Plan {
    before: Vec<ChangeHash>,
    after: Vec<ChangeHash>,
    touched: Vec<ObjId>,
}

/// Plan every change first: finding what a change touched closes the pending transaction,
/// which must stay open (one change) while the reverts are made.
fn revert_all(
    board: &mut Board,
    copies: &mut Copies,
    changes: &[ChangeHash],
) -> Result<(), BoardError> {
    let plans: Vec<Plan> = changes.iter().filter_map(|h| plan(board, *h)).collect();
    for plan in plans.iter().rev() {
        revert(board, copies, plan)?;
    }
    Ok(())
}

fn plan(board: &mut Board, hash: ChangeHash) -> Option<Plan> {
    let before: Vec<ChangeHash> = board.doc.get_change_by_hash(&hash)?.deps().to_vec();
    let after = vec![hash];
    let mut touched = Vec::new();
    let mut seen = HashSet::new();
    for patch in board.doc.diff(&before, &after) {
        if seen.insert(patch.obj.clone()) {
            touched.push(patch.obj);
        }
    }
    Some(Plan {
        before,
        after,
        touched,
    })
}

/// A value as undo compares it: scalars by value, objects by id.
#[derive(Debug, Clone, PartialEq)]
enum Held {
    Scalar(ScalarValue),
    Object(ObjId, ObjType),
}

fn held(value: Option<(Value<'_>, ObjId)>) -> Option<Held> {
    match value? {
        (Value::Scalar(s), _) => Some(Held::Scalar(s.into_owned())),
        (Value::Object(t), id) => Some(Held::Object(id, t)),
    }
}

/// Put back what a change changed, as uncommitted edits of `board`.
fn revert(board: &mut Board, copies: &mut Copies, plan: &Plan) -> Result<(), BoardError> {
    let (before, after) = (&plan.before, &plan.after);
    for obj in &plan.touched {
        // an object the change made is undone where it was put (its parent's list or map)
        if !exists_at(board, obj, before) {
            continue;
        }
        let Ok(kind) = board.doc.object_type(obj) else {
            continue;
        };
        let target = Target {
            then: obj.clone(),
            now: newest(copies, obj),
        };
        match kind {
            ObjType::Text => revert_text(board, &target, before, after)?,
            ObjType::Map | ObjType::Table => revert_map(board, copies, &target, before, after)?,
            ObjType::List => revert_list(board, copies, &target, before, after)?,
        }
    }
    Ok(())
}

/// The object a change touched, and the one to edit now (a copy of it, if it came back as one).
struct Target {
    then: ObjId,
    now: ObjId,
}

/// Whether `obj` existed at `heads`.
fn exists_at(board: &Board, obj: &ObjId, heads: &[ChangeHash]) -> bool {
    *obj == ROOT
        || board
            .doc
            .parents_at(obj, heads)
            .is_ok_and(|mut p| p.next().is_some())
}

fn revert_text(
    board: &mut Board,
    target: &Target,
    before: &[ChangeHash],
    after: &[ChangeHash],
) -> Result<(), BoardError> {
    let text = &target.then;
    let old = board.doc.text_at(text, before)?;
    let new = board.doc.text_at(text, after)?;
    let Some(splice) = text_diff::diff(&new, &old) else {
        return Ok(());
    };
    if target.now != target.then {
        return revert_copied_text(board, &target.now, &new, &splice);
    }
    // `new[index..index + delete]` is what the change inserted; `splice.insert` what it deleted
    let new_len = new.chars().count();
    let cursor_at = |board: &Board, i: usize| board.doc.get_cursor(text, i, Some(after)).ok();
    let inserted: Vec<Cursor> = (splice.index..splice.index + splice.delete)
        .filter_map(|i| cursor_at(board, i))
        .collect();
    // where the deleted text goes back: before the character that followed it
    let anchor_after = (splice.index + splice.delete < new_len)
        .then(|| cursor_at(board, splice.index + splice.delete))
        .flatten();
    let anchor_before = (splice.index > 0)
        .then(|| cursor_at(board, splice.index - 1))
        .flatten();
    // delete what is still there of the inserted characters, from the end
    let mut places: Vec<usize> = inserted
        .iter()
        .filter_map(|c| visible_place(board, text, c))
        .collect();
    places.sort_unstable();
    places.dedup();
    while let Some(&last) = places.last() {
        let mut first = last;
        places.pop();
        while places.last() == Some(&(first.wrapping_sub(1))) {
            first -= 1;
            places.pop();
        }
        let len =
            isize::try_from(last - first + 1).map_err(|_| BoardError::Schema("text too long"))?;
        board.doc.splice_text(text, first, len, "")?;
    }
    if !splice.insert.is_empty() {
        let len = board.doc.length(text);
        let at = match (&anchor_after, &anchor_before) {
            (Some(c), _) => board.doc.get_cursor_position(text, c, None).ok(),
            (None, Some(c)) => visible_place(board, text, c).map(|p| p + 1),
            (None, None) => Some(0),
        }
        .unwrap_or(len)
        .min(len);
        board.doc.splice_text(text, at, 0, &splice.insert)?;
    }
    Ok(())
}

/// A copy's characters are not the original's: the splice is carried out by place, if the text
/// it took back is still where it was.
fn revert_copied_text(
    board: &mut Board,
    text: &ObjId,
    new: &str,
    splice: &text_diff::Splice,
) -> Result<(), BoardError> {
    let now = board.doc.text(text)?;
    let inserted: String = new.chars().skip(splice.index).take(splice.delete).collect();
    let there: String = now.chars().skip(splice.index).take(splice.delete).collect();
    if there != inserted {
        return Ok(());
    }
    let delete = isize::try_from(splice.delete).map_err(|_| BoardError::Schema("text too long"))?;
    board
        .doc
        .splice_text(text, splice.index, delete, &splice.insert)?;
    Ok(())
}

/// Where the character `cursor` names is now, if it is still there.
fn visible_place(board: &Board, text: &ObjId, cursor: &Cursor) -> Option<usize> {
    let place = board.doc.get_cursor_position(text, cursor, None).ok()?;
    let here = board.doc.get_cursor(text, place, None).ok()?;
    (here == *cursor).then_some(place)
}

fn revert_map(
    board: &mut Board,
    copies: &mut Copies,
    target: &Target,
    before: &[ChangeHash],
    after: &[ChangeHash],
) -> Result<(), BoardError> {
    let (map, dst) = (&target.then, &target.now);
    let mut keys: Vec<String> = board.doc.keys_at(map, after).collect();
    keys.extend(board.doc.keys_at(map, before));
    keys.sort();
    keys.dedup();
    for key in keys.iter().filter(|k| !k.starts_with(AUTHOR_PREFIX)) {
        let was = held(board.doc.get_at(map, key.as_str(), before)?);
        let became = held(board.doc.get_at(map, key.as_str(), after)?);
        if was == became {
            continue;
        }
        let now = held(board.doc.get(dst, key.as_str())?);
        let became = became.map(|h| newest_held(copies, h));
        match (&was, &became) {
            // a counter steps back by what the change stepped it, whatever others did since
            (
                Some(Held::Scalar(ScalarValue::Counter(w))),
                Some(Held::Scalar(ScalarValue::Counter(b))),
            ) => {
                let delta = i64::from(w) - i64::from(b);
                if delta != 0 && matches!(now, Some(Held::Scalar(ScalarValue::Counter(_)))) {
                    board.doc.increment(dst, key.as_str(), delta)?;
                }
            }
            // anything else only if nobody set it again since
            _ if now != became => {}
            (None, _) => board.doc.delete(dst, key.as_str())?,
            (Some(Held::Scalar(s)), _) => board.doc.put(dst, key.as_str(), s.clone())?,
            (Some(Held::Object(id, t)), _) => {
                let copy = board.doc.put_object(dst, key.as_str(), *t)?;
                copy_object(board, copies, id, &copy, *t, before)?;
            }
        }
    }
    Ok(())
}

/// The object ids of a list's elements at `heads`, or now if `None` (scalars as `None`).
fn elements_at(board: &Board, list: &ObjId, heads: Option<&[ChangeHash]>) -> Vec<Option<ObjId>> {
    let element = |item: automerge::iter::ListRangeItem<'_>| match item.value {
        Value::Object(_) => Some(item.id),
        Value::Scalar(_) => None,
    };
    match heads {
        Some(heads) => board
            .doc
            .list_range_at(list, .., heads)
            .map(element)
            .collect(),
        None => board.doc.list_range(list, ..).map(element).collect(),
    }
}

fn revert_list(
    board: &mut Board,
    copies: &mut Copies,
    target: &Target,
    before: &[ChangeHash],
    after: &[ChangeHash],
) -> Result<(), BoardError> {
    let (list, dst) = (&target.then, &target.now);
    let was = elements_at(board, list, Some(before));
    let became = elements_at(board, list, Some(after));
    // added by the change: removed again, if still there (or its copy)
    let added: Vec<ObjId> = became
        .iter()
        .flatten()
        .filter(|e| !was.contains(&Some((*e).clone())))
        .map(|e| newest(copies, e))
        .collect();
    for added in added {
        let now = elements_at(board, dst, None);
        if let Some(i) = now.iter().position(|e| e.as_ref() == Some(&added)) {
            board.doc.delete(dst, i)?;
        }
    }
    // removed by the change: a copy comes back after the nearest earlier element still there
    for (i, removed) in was.iter().enumerate() {
        let Some(removed) = removed else { continue };
        if became.contains(&Some(removed.clone())) {
            continue;
        }
        let now = elements_at(board, dst, None);
        let at = was[..i]
            .iter()
            .rev()
            .flatten()
            .map(|e| newest(copies, e))
            .find_map(|e| now.iter().position(|n| n.as_ref() == Some(&e)))
            .map_or(0, |p| p + 1);
        let Ok(kind) = board.doc.object_type(removed) else {
            continue;
        };
        let copy = board.doc.insert_object(dst, at, kind)?;
        copy_object(board, copies, removed, &copy, kind, before)?;
    }
    Ok(())
}

/// Fill `dst` (a new object of type `kind`) with what `src` held at `heads`.
fn copy_object(
    board: &mut Board,
    copies: &mut Copies,
    src: &ObjId,
    dst: &ObjId,
    kind: ObjType,
    heads: &[ChangeHash],
) -> Result<(), BoardError> {
    copies.insert(src.clone(), dst.clone());
    match kind {
        ObjType::Text => {
            let text = board.doc.text_at(src, heads)?;
            board.doc.splice_text(dst, 0, 0, &text)?;
        }
        ObjType::Map | ObjType::Table => {
            let keys: Vec<String> = board.doc.keys_at(src, heads).collect();
            for key in keys {
                match held(board.doc.get_at(src, key.as_str(), heads)?) {
                    Some(Held::Scalar(s)) => board.doc.put(dst, key.as_str(), s)?,
                    Some(Held::Object(id, t)) => {
                        let copy = board.doc.put_object(dst, key.as_str(), t)?;
                        copy_object(board, copies, &id, &copy, t, heads)?;
                    }
                    None => {}
                }
            }
        }
        ObjType::List => {
            let len = board.doc.length_at(src, heads);
            for i in 0..len {
                match held(board.doc.get_at(src, i, heads)?) {
                    Some(Held::Scalar(s)) => board.doc.insert(dst, i, s)?,
                    Some(Held::Object(id, t)) => {
                        let copy = board.doc.insert_object(dst, i, t)?;
                        copy_object(board, copies, &id, &copy, t, heads)?;
                    }
                    None => {}
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
