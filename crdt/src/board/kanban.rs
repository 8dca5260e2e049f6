//! A kanban board: columns of cards, cards moved between and within columns.
//!
//! ```text
//! widget { kind: "kanban", columns: List<Map>, cards: List<Map> }
//! column { title: str }
//! card   { text: str, place: "<column id> <position key>" }
//! ```
//!
//! A card's place is one value, written whole by a move: two peers that move the same card at
//! once each write it, and Automerge keeps one of the two on every peer, so the card ends in
//! exactly one place (never two, never none), the same merge rule as the widgets' own moves.
//! Cards are not stored inside their column for that reason: a card that is in a column's list
//! can be in two lists after concurrent moves. Within a column, cards are in the order of their
//! position keys ([`between`]); a card whose column is gone (removed meanwhile) shows in the
//! first column.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, Value};

use super::layout::{between, valid_pos, SIZE};
use super::read::Reading;
use super::{Board, TEXT, TITLE};
use crate::error::BoardError;
use crate::view::{KanbanCard, KanbanColumn, KanbanView, WidgetKind};

pub(super) const COLUMNS: &str = "columns";
pub(super) const CARDS: &str = "cards";
const PLACE: &str = "place";
/// Columns one kanban holds.
pub const MAX_COLUMNS: usize = 16;
/// Cards one kanban holds (read; a peer's extra ones are not shown).
pub const MAX_CARDS: usize = 2000;
/// Characters of a card's text or a column's title.
pub const MAX_CARD_CHARS: usize = 500;

const FIRST_COLUMNS: [&str; 3] = ["To do", "Doing", "Done"];

fn bounded(text: &str) -> Result<&str, BoardError> {
    if text.chars().count() > MAX_CARD_CHARS {
        return Err(BoardError::Invalid("at most 500 characters"));
    }
    Ok(text)
}

impl Board {
    /// A new kanban's parts (called by `add_widget`): three columns to start with, on a card two
    /// grid columns wide (in one, three columns of cards are too narrow to read).
    pub(super) fn init_kanban(&mut self, w: &ObjId) -> Result<(), BoardError> {
        self.doc.put(w, SIZE, 2u64)?;
        let columns = self.doc.put_object(w, COLUMNS, ObjType::List)?;
        self.doc.put_object(w, CARDS, ObjType::List)?;
        for (i, title) in FIRST_COLUMNS.iter().enumerate() {
            let column = self.doc.insert_object(&columns, i, ObjType::Map)?;
            self.doc.put(&column, TITLE, *title)?;
        }
        Ok(())
    }

    fn kanban_part(&self, widget: &str, key: &str) -> Result<ObjId, BoardError> {
        let w = self.widget_of_kind(widget, WidgetKind::Kanban)?;
        self.obj(&w, key, ObjType::List)
            .ok_or(BoardError::Schema("kanban without its parts"))
    }

    fn find_in(&self, list: &ObjId, id: &str) -> Result<(usize, ObjId), BoardError> {
        (0..self.doc.length(list))
            .find_map(|i| match self.doc.get(list, i) {
                Ok(Some((Value::Object(ObjType::Map), obj))) if obj.to_string() == id => {
                    Some((i, obj))
                }
                _ => None,
            })
            .ok_or_else(|| BoardError::NoSuchItem(id.to_owned()))
    }

    pub fn add_kanban_column(&mut self, widget: &str, title: &str) -> Result<String, BoardError> {
        self.insert_kanban_column(widget, usize::MAX, title)
    }

    /// Add a column at `index` (past the end: last); returns its id.
    pub fn insert_kanban_column(
        &mut self,
        widget: &str,
        index: usize,
        title: &str,
    ) -> Result<String, BoardError> {
        let columns = self.kanban_part(widget, COLUMNS)?;
        let len = self.doc.length(&columns);
        if len >= MAX_COLUMNS {
            return Err(BoardError::Invalid("a kanban has at most 16 columns"));
        }
        let title = bounded(title)?;
        let column = self
            .doc
            .insert_object(&columns, index.min(len), ObjType::Map)?;
        self.doc.put(&column, TITLE, title)?;
        Ok(column.to_string())
    }

    pub fn rename_kanban_column(
        &mut self,
        widget: &str,
        column: &str,
        title: &str,
    ) -> Result<(), BoardError> {
        let columns = self.kanban_part(widget, COLUMNS)?;
        let (_, obj) = self.find_in(&columns, column)?;
        self.doc.put(&obj, TITLE, bounded(title)?)?;
        Ok(())
    }

    /// Remove a column; its cards go to the end of the first column left (the last column
    /// stays: a kanban without columns would have nowhere to show its cards).
    pub fn remove_kanban_column(&mut self, widget: &str, column: &str) -> Result<(), BoardError> {
        let view = self.kanban(widget)?;
        if view.columns.len() <= 1 {
            return Err(BoardError::Invalid("a kanban keeps at least one column"));
        }
        let columns = self.kanban_part(widget, COLUMNS)?;
        let (index, _) = self.find_in(&columns, column)?;
        let gone = view.columns.iter().find(|c| c.id == column);
        let cards: Vec<String> = gone
            .map(|c| c.cards.iter().map(|k| k.id.clone()).collect())
            .unwrap_or_default();
        self.doc.delete(&columns, index)?;
        if let Some(first) = self.kanban(widget)?.columns.first().map(|c| c.id.clone()) {
            for card in cards {
                self.move_kanban_card(widget, &card, &first, usize::MAX)?;
            }
        }
        Ok(())
    }

    /// Add a card at the end of `column`; returns its id.
    pub fn add_kanban_card(
        &mut self,
        widget: &str,
        column: &str,
        text: &str,
    ) -> Result<String, BoardError> {
        let text = bounded(text)?;
        let place = self.place_in(widget, column, None, usize::MAX)?;
        let cards = self.kanban_part(widget, CARDS)?;
        let len = self.doc.length(&cards);
        if len >= MAX_CARDS {
            return Err(BoardError::Invalid("a kanban has at most 2000 cards"));
        }
        let card = self.doc.insert_object(&cards, len, ObjType::Map)?;
        self.doc.put(&card, TEXT, text)?;
        self.doc.put(&card, PLACE, place.as_str())?;
        Ok(card.to_string())
    }

    pub fn set_kanban_card_text(
        &mut self,
        widget: &str,
        card: &str,
        text: &str,
    ) -> Result<(), BoardError> {
        let cards = self.kanban_part(widget, CARDS)?;
        let (_, obj) = self.find_in(&cards, card)?;
        self.doc.put(&obj, TEXT, bounded(text)?)?;
        Ok(())
    }

    pub fn remove_kanban_card(&mut self, widget: &str, card: &str) -> Result<(), BoardError> {
        let cards = self.kanban_part(widget, CARDS)?;
        let (index, _) = self.find_in(&cards, card)?;
        self.doc.delete(&cards, index)?;
        Ok(())
    }

    /// Move `card` to `column`, before the card now at `index` there (not counting the card
    /// itself; past the end: last).
    pub fn move_kanban_card(
        &mut self,
        widget: &str,
        card: &str,
        column: &str,
        index: usize,
    ) -> Result<(), BoardError> {
        let cards = self.kanban_part(widget, CARDS)?;
        let (_, obj) = self.find_in(&cards, card)?;
        let place = self.place_in(widget, column, Some(card), index)?;
        self.doc.put(&obj, PLACE, place.as_str())?;
        Ok(())
    }

    /// A place in `column` before its card at `index` (without `moving`).
    fn place_in(
        &self,
        widget: &str,
        column: &str,
        moving: Option<&str>,
        index: usize,
    ) -> Result<String, BoardError> {
        let w = self.widget_of_kind(widget, WidgetKind::Kanban)?;
        let placed = self.read().kanban_places(&w);
        if !placed.columns.iter().any(|c| c == column) {
            return Err(BoardError::Invalid("no such column"));
        }
        let keys: Vec<&str> = placed
            .cards
            .iter()
            .filter(|c| c.column == column && Some(c.id.as_str()) != moving)
            .map(|c| c.pos.as_str())
            .collect();
        let index = index.min(keys.len());
        let low = index.checked_sub(1).and_then(|i| keys.get(i)).copied();
        let high = keys.get(index).copied();
        Ok(format!("{column} {}", between(low, high)))
    }

    /// The kanban as the UI shows it.
    pub fn kanban(&self, widget: &str) -> Result<KanbanView, BoardError> {
        let w = self.widget_of_kind(widget, WidgetKind::Kanban)?;
        Ok(self.read().kanban_view(&w))
    }
}

/// A card's place as read, resolved to a column that exists.
struct Placed {
    id: String,
    text: String,
    column: String,
    pos: String,
}

struct Places {
    columns: Vec<String>,
    titles: Vec<String>,
    /// In their order: by column, then position key (ties by id).
    cards: Vec<Placed>,
}

impl Reading<'_> {
    fn kanban_places(&self, w: &ObjId) -> Places {
        let mut columns = Vec::new();
        let mut titles = Vec::new();
        if let Some(list) = self.obj(w, COLUMNS, ObjType::List) {
            for c in self.list_maps(&list).into_iter().take(MAX_COLUMNS) {
                columns.push(c.to_string());
                titles.push(match self.scalar(&c, TITLE) {
                    Some(ScalarValue::Str(s)) => s.chars().take(MAX_CARD_CHARS).collect(),
                    _ => String::new(),
                });
            }
        }
        let mut cards = Vec::new();
        if let Some(list) = self.obj(w, CARDS, ObjType::List) {
            for c in self.list_maps(&list).into_iter().take(MAX_CARDS) {
                let (column, pos) = match self.scalar(&c, PLACE) {
                    Some(ScalarValue::Str(s)) => match s.split_once(' ') {
                        Some((col, pos)) if valid_pos(pos) => (col.to_owned(), pos.to_owned()),
                        _ => (String::new(), String::new()),
                    },
                    _ => (String::new(), String::new()),
                };
                // a card whose column is gone shows in the first one
                let column = if columns.contains(&column) {
                    column
                } else {
                    match columns.first() {
                        Some(first) => first.clone(),
                        None => continue,
                    }
                };
                cards.push(Placed {
                    id: c.to_string(),
                    text: match self.scalar(&c, TEXT) {
                        Some(ScalarValue::Str(s)) => s.chars().take(MAX_CARD_CHARS).collect(),
                        _ => String::new(),
                    },
                    column,
                    pos,
                });
            }
        }
        let rank = |c: &Placed| columns.iter().position(|x| *x == c.column);
        cards.sort_by(|a, b| (rank(a), &a.pos, &a.id).cmp(&(rank(b), &b.pos, &b.id)));
        Places {
            columns,
            titles,
            cards,
        }
    }

    pub(super) fn kanban_view(&self, w: &ObjId) -> KanbanView {
        let places = self.kanban_places(w);
        KanbanView {
            columns: places
                .columns
                .iter()
                .zip(places.titles)
                .map(|(id, title)| KanbanColumn {
                    id: id.clone(),
                    title,
                    cards: places
                        .cards
                        .iter()
                        .filter(|c| c.column == *id)
                        .map(|c| KanbanCard {
                            id: c.id.clone(),
                            text: c.text.clone(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
