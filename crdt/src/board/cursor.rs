//! Stable places in a note's text (Automerge cursors), for carets that other people see: a cursor
//! names a character, not an index, so it stays before that character whatever is inserted or
//! deleted before it.

use automerge::{Cursor, ObjType, ReadDoc};

use super::{Board, TEXT};
use crate::view::WidgetKind;

impl Board {
    /// The cursor of code point `index` in note `widget` (`"e"`, the end, for the text's length).
    pub fn note_cursor(&self, widget: &str, index: usize) -> Option<String> {
        let w = self.widget_of_kind(widget, WidgetKind::Note).ok()?;
        let text = self.obj(&w, TEXT, ObjType::Text)?;
        if index >= self.doc.length(&text) {
            return Some(Cursor::End.to_string());
        }
        let cursor = self.doc.get_cursor(&text, index, None).ok()?;
        Some(cursor.to_string())
    }

    /// Where `cursor` is in note `widget` now, in code points; `None` if the note or the
    /// character it names is not (yet) on this board.
    pub fn note_cursor_position(&self, widget: &str, cursor: &str) -> Option<usize> {
        let cursor = Cursor::try_from(cursor).ok()?;
        let w = self.widget_of_kind(widget, WidgetKind::Note).ok()?;
        let text = self.obj(&w, TEXT, ObjType::Text)?;
        self.doc.get_cursor_position(&text, &cursor, None).ok()
    }
}

#[cfg(test)]
mod tests {
    use crate::{Board, WidgetKind};

    #[test]
    fn a_cursor_stays_before_its_character_when_text_is_inserted_before_it() {
        let mut a = Board::new_random().unwrap();
        let note = a.add_widget(WidgetKind::Note).unwrap();
        a.set_note_text(&note, "hello world").unwrap();
        let at_w = a.note_cursor(&note, 6).unwrap();
        let end = a.note_cursor(&note, 11).unwrap();
        assert_eq!(a.note_cursor_position(&note, &at_w), Some(6));
        a.splice_note(&note, 0, 0, "oh, ").unwrap();
        assert_eq!(a.note_cursor_position(&note, &at_w), Some(10));
        assert_eq!(a.note_cursor_position(&note, &end), Some(15));
        assert_eq!(a.note_cursor_position(&note, "not a cursor"), None);
        assert_eq!(a.note_cursor_position("no-such-widget", &at_w), None);
        // a character this board has never seen
        assert_eq!(a.note_cursor_position(&note, "99@00112233"), None);
    }
}
