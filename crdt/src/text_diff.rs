//! Turning "old value, new value" of a text field into one splice, and keeping a caret in place
//! when someone else's edit changes the text under it.
//!
//! Units: Automerge (as configured here) indexes text by Unicode code point, a browser text field
//! by UTF-16 code unit. Splices are computed on code points, so a surrogate pair (an emoji) is
//! never cut in half; carets are converted to and from UTF-16 only at the edge.

/// Replace `delete` code points at code point `index` with `insert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    pub index: usize,
    pub delete: usize,
    pub insert: String,
}

/// The single splice that turns `old` into `new` (common prefix and suffix kept), or `None` if
/// they are equal.
pub fn diff(old: &str, new: &str) -> Option<Splice> {
    if old == new {
        return None;
    }
    let old: Vec<char> = old.chars().collect();
    let new: Vec<char> = new.chars().collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    Some(Splice {
        index: prefix,
        delete: old.len() - prefix - suffix,
        insert: new[prefix..new.len() - suffix].iter().collect(),
    })
}

fn utf16_len(chars: &[char]) -> usize {
    chars.iter().map(|c| c.len_utf16()).sum()
}

/// Where a caret that stood at `caret` (UTF-16 units into `old`) belongs once `old` has become
/// `new` through someone else's edit. Text before the caret that grew or shrank moves it; an edit
/// after it leaves it alone; an edit that swallowed it puts it at the end of the new text.
pub fn transform_caret(old: &str, new: &str, caret: usize) -> usize {
    let Some(splice) = diff(old, new) else {
        return caret;
    };
    let old: Vec<char> = old.chars().collect();
    let start = utf16_len(&old[..splice.index]);
    let deleted = utf16_len(&old[splice.index..splice.index + splice.delete]);
    let inserted: usize = splice.insert.chars().map(char::len_utf16).sum();
    if caret <= start {
        caret
    } else if caret >= start + deleted {
        caret - deleted + inserted
    } else {
        start + inserted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(old: &str, s: &Splice) -> String {
        let mut chars: Vec<char> = old.chars().collect();
        chars.splice(s.index..s.index + s.delete, s.insert.chars());
        chars.into_iter().collect()
    }

    #[test]
    fn equal_texts_have_no_splice() {
        assert_eq!(diff("abc", "abc"), None);
    }

    #[test]
    fn insert_delete_replace() {
        let cases = [
            ("", "hello"),
            ("hello", ""),
            ("hello", "help"),
            ("abc", "abXc"),
            ("aaaa", "aaa"),
            ("héllo wörld", "héllo, wörld!"),
            ("a😀b", "a😀😀b"),
            ("a😀b", "ab"),
            ("👍🏽 ok", "👍🏾 ok"),
        ];
        for (old, new) in cases {
            let s = diff(old, new).unwrap();
            assert_eq!(apply(old, &s), new, "{old:?} -> {new:?}");
        }
    }

    #[test]
    fn splice_is_minimal_around_a_single_edit() {
        assert_eq!(
            diff("hello world", "hello brave world"),
            Some(Splice {
                index: 6,
                delete: 0,
                insert: "brave ".into()
            })
        );
    }

    #[test]
    fn emoji_is_never_split() {
        // U+1F600 and U+1F601 share their high surrogate: a UTF-16 diff would cut between them.
        let s = diff("x😀", "x😁").unwrap();
        assert_eq!(
            s,
            Splice {
                index: 1,
                delete: 1,
                insert: "😁".into()
            }
        );
    }

    #[test]
    fn caret_moves_with_text_inserted_before_it() {
        // caret after "world" (UTF-16 offset 11); someone types "big " before "world"
        assert_eq!(transform_caret("hello world", "hello big world", 11), 15);
        // an emoji before the caret counts two UTF-16 units
        assert_eq!(transform_caret("ab", "😀ab", 2), 4);
    }

    #[test]
    fn caret_stays_when_text_changes_after_it() {
        assert_eq!(transform_caret("hello world", "hello world!!", 5), 5);
        assert_eq!(transform_caret("héllo", "héllo 😀", 2), 2);
    }

    #[test]
    fn caret_inside_a_deleted_range_lands_at_its_end() {
        assert_eq!(transform_caret("abcdef", "af", 3), 1);
    }
}
