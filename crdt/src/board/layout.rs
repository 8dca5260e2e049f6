//! Where widgets sit and what they are called: each widget map may hold a position key `pos`
//! (a string; widgets are shown in the order of their keys, then of their place in the list), a
//! width `size` of 1 to 3 columns, and a collaborative `title`.
//!
//! A move sets one widget's key to one between its new neighbours' (a fractional index), so it
//! is a single register write, never a delete plus an insert: two people moving widgets at once
//! can never duplicate or lose one, the last write to a widget's key wins, and every peer sorts
//! the same keys the same way.

use automerge::transaction::Transactable;
use automerge::{ChangeHash, ObjId, ObjType, ScalarValue};

use super::{Board, TITLE};
use crate::error::BoardError;

pub(super) const POS: &str = "pos";
pub(super) const SIZE: &str = "size";
/// The widest a widget can be, in columns.
pub const MAX_SIZE: u8 = 3;
/// The longest position key read: longer ones (crafted) sort as if they had none.
const MAX_POS: usize = 256;
/// Key digits, in ASCII order.
const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A widget's title and width as the UI shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetLayout {
    pub title: String,
    /// 1 to [`MAX_SIZE`] columns.
    pub size: u8,
}

impl Default for WidgetLayout {
    fn default() -> Self {
        WidgetLayout {
            title: String::new(),
            size: 1,
        }
    }
}

fn digit(b: u8) -> Option<usize> {
    DIGITS.iter().position(|d| *d == b)
}

/// Whether `key` is a position key this module could have made.
pub(super) fn valid_pos(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_POS && key.bytes().all(|b| digit(b).is_some())
}

/// A key strictly between `low` and `high` (either end open), as short as it can be. Keys never
/// end in the lowest digit, so there is always room before any key.
pub fn between(low: Option<&str>, high: Option<&str>) -> String {
    let low = low.unwrap_or("").as_bytes();
    let high = high.map(str::as_bytes).filter(|h| h > &low);
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let lo = low.get(i).and_then(|b| digit(*b)).unwrap_or(0);
        let hi = match high {
            // once `out` is below `high`'s prefix, any digit fits
            Some(h) if out.as_slice() == &h[..i.min(h.len())] => {
                h.get(i).and_then(|b| digit(*b)).unwrap_or(DIGITS.len())
            }
            _ => DIGITS.len(),
        };
        if hi > lo + 1 {
            out.push(DIGITS[(lo + hi) / 2]);
            break;
        }
        out.push(DIGITS[lo]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_default()
}

impl Board {
    /// The widget's position key, if it has a valid one.
    pub(super) fn pos_of(&self, widget: &ObjId) -> Option<String> {
        match self.read().scalar(widget, POS)? {
            ScalarValue::Str(s) if valid_pos(&s) => Some(s.to_string()),
            _ => None,
        }
    }

    /// Give a new widget a key after every other.
    pub(super) fn place_last(&mut self, widget: &ObjId) -> Result<(), BoardError> {
        let last = self
            .ordered_widgets()
            .iter()
            .filter(|w| *w != widget)
            .filter_map(|w| self.pos_of(w))
            .max();
        let key = between(last.as_deref(), None);
        self.doc.put(widget, POS, key)?;
        Ok(())
    }

    /// Move widget `id` by `by` places (negative: earlier), within the board.
    pub fn move_widget(&mut self, id: &str, by: isize) -> Result<(), BoardError> {
        let (_, obj) = self.find_widget(id)?;
        let mut order = self.ordered_widgets();
        // widgets from before position keys get theirs now, in the order they are shown
        let mut last: Option<String> = None;
        for w in &order {
            match self.pos_of(w) {
                Some(p) if last.as_ref().is_none_or(|l| p > *l) => last = Some(p),
                _ => {
                    let key = between(last.as_deref(), None);
                    self.doc.put(w, POS, key.as_str())?;
                    last = Some(key);
                }
            }
        }
        let Some(from) = order.iter().position(|w| *w == obj) else {
            return Ok(());
        };
        let to = from.saturating_add_signed(by).min(order.len() - 1);
        if to == from {
            return Ok(());
        }
        order.remove(from);
        order.insert(to, obj.clone());
        let before = to.checked_sub(1).and_then(|i| self.pos_of(&order[i]));
        let after = order.get(to + 1).and_then(|w| self.pos_of(w));
        let key = between(before.as_deref(), after.as_deref());
        self.doc.put(&obj, POS, key)?;
        Ok(())
    }

    /// Make widget `id` `size` columns wide (1 to [`MAX_SIZE`]).
    pub fn set_widget_size(&mut self, id: &str, size: u8) -> Result<(), BoardError> {
        let (_, obj) = self.find_widget(id)?;
        let size = size.clamp(1, MAX_SIZE);
        self.doc.put(&obj, SIZE, u64::from(size))?;
        Ok(())
    }

    /// Set widget `id`'s title (a collaborative text: only what differs is spliced).
    pub fn set_widget_title(&mut self, id: &str, new: &str) -> Result<(), BoardError> {
        let (_, obj) = self.find_widget(id)?;
        let title = match self.obj(&obj, TITLE, ObjType::Text) {
            Some(t) => t,
            None => self.doc.put_object(&obj, TITLE, ObjType::Text)?,
        };
        self.update_text(&title, new)
    }

    /// Give widget `id` the place, width and title widget `from` had at `heads` (a restored
    /// version: a widget brought back sits where it sat, named as it was).
    pub(crate) fn restore_layout(
        &mut self,
        id: &str,
        from: &str,
        heads: &[ChangeHash],
    ) -> Result<(), BoardError> {
        let Ok((old, ObjType::Map)) = self.doc.import(from) else {
            return Ok(());
        };
        let then = super::read::Reading {
            doc: &self.doc,
            at: Some(heads),
        };
        let pos = match then.scalar(&old, POS) {
            Some(ScalarValue::Str(s)) if valid_pos(&s) => Some(s.to_string()),
            _ => None,
        };
        let layout = then.layout_of(&old);
        let (_, obj) = self.find_widget(id)?;
        if let Some(pos) = pos.filter(|p| self.pos_of(&obj).as_ref() != Some(p)) {
            self.doc.put(&obj, POS, pos)?;
        }
        if self
            .widget_layout(id)
            .is_some_and(|now| now.size != layout.size)
        {
            self.set_widget_size(id, layout.size)?;
        }
        if self
            .widget_layout(id)
            .is_some_and(|now| now.title != layout.title)
        {
            self.set_widget_title(id, &layout.title)?;
        }
        Ok(())
    }

    /// Widget `id`'s title and width.
    pub fn widget_layout(&self, id: &str) -> Option<WidgetLayout> {
        let (_, obj) = self.find_widget(id).ok()?;
        Some(self.read().layout_of(&obj))
    }
}

#[cfg(test)]
mod tests;
