//! Who made a board's changes, as they called themselves: each author records a display name
//! and a colour under a root key of its own, `author:<actor hex>`, the first time it edits (and
//! again when it renames itself), so that history stays readable for peers who never met them.
//! One key per actor: two authors writing at once never conflict. Names are self-asserted.

use std::collections::HashMap;

use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc, ScalarValue, Value, ROOT};

use super::Board;
use crate::error::BoardError;

const PREFIX: &str = "author:";
const NAME: &str = "name";
const COLOUR: &str = "colour";
/// Longest display name kept (longer ones are cut, when written and when read).
pub const MAX_NAME_CHARS: usize = 40;

/// An author's display name and colour (`#rrggbb`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub colour: String,
}

/// `name` trimmed to one line of at most [`MAX_NAME_CHARS`].
fn clean_name(name: &str) -> String {
    name.split(['\n', '\r'])
        .next()
        .unwrap_or("")
        .trim()
        .chars()
        .take(MAX_NAME_CHARS)
        .collect()
}

/// Whether `colour` is `#rrggbb`.
pub fn valid_colour(colour: &str) -> bool {
    colour.len() == 7
        && colour.starts_with('#')
        && colour[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl Board {
    /// Record `author` for this board's local actor unless the board already says so. Part of
    /// the caller's next commit (call it before an edit).
    pub fn note_author(&mut self, author: &Author) -> Result<(), BoardError> {
        let name = clean_name(&author.name);
        if name.is_empty() || !valid_colour(&author.colour) {
            return Ok(());
        }
        let key = format!("{PREFIX}{}", self.doc.get_actor().to_hex_string());
        let current = self.authors_entry(&key);
        if current.as_ref()
            == Some(&Author {
                name: name.clone(),
                colour: author.colour.clone(),
            })
        {
            return Ok(());
        }
        let obj = match self.doc.get(ROOT, key.as_str())? {
            Some((Value::Object(ObjType::Map), obj)) => obj,
            _ => self.doc.put_object(ROOT, key.as_str(), ObjType::Map)?,
        };
        self.doc.put(&obj, NAME, name)?;
        self.doc.put(&obj, COLOUR, author.colour.as_str())?;
        Ok(())
    }

    fn authors_entry(&self, key: &str) -> Option<Author> {
        let Ok(Some((Value::Object(ObjType::Map), obj))) = self.doc.get(ROOT, key) else {
            return None;
        };
        let text = |k: &str| match self.doc.get(&obj, k) {
            Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
            _ => None,
        };
        let name = clean_name(&text(NAME)?);
        let colour = text(COLOUR).filter(|c| valid_colour(c))?;
        (!name.is_empty()).then_some(Author { name, colour })
    }

    /// Every author the board knows, by actor id (hex). Entries that do not fit are skipped.
    pub fn authors(&self) -> HashMap<String, Author> {
        self.doc
            .keys(ROOT)
            .filter_map(|key| {
                let actor = key.strip_prefix(PREFIX)?.to_owned();
                Some((actor, self.authors_entry(&key)?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::ActorId;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn author(name: &str) -> Author {
        Author {
            name: name.into(),
            colour: "#4f46e5".into(),
        }
    }

    #[test]
    fn authors_are_recorded_once_merge_without_conflict_and_are_bounded() {
        let mut a = Board::new(ActorId::from([1; 16])).unwrap();
        let mut b = Board::new(ActorId::from([2; 16])).unwrap();
        a.note_author(&author("Alice")).unwrap();
        a.set_title("x").unwrap();
        assert!(a.commit(1).is_some());
        // the same again writes nothing
        a.note_author(&author("Alice")).unwrap();
        assert!(a.commit(2).is_none());
        b.note_author(&author(&format!(
            "Bob\nwith a very long name {}",
            "y".repeat(100)
        )))
        .unwrap();
        b.commit(1);
        a.merge(&mut b).unwrap();
        let authors = a.authors();
        assert_eq!(authors.len(), 2);
        assert_eq!(authors[&"01".repeat(16)].name, "Alice");
        assert_eq!(authors[&"02".repeat(16)].name, "Bob");
        // a rename is recorded; junk is not
        a.note_author(&author("Alice B.")).unwrap();
        a.note_author(&Author {
            name: "Mallory".into(),
            colour: "red; x".into(),
        })
        .unwrap();
        a.commit(3);
        assert_eq!(a.authors()[&"01".repeat(16)].name, "Alice B.");
    }
}
