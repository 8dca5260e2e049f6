//! Checks on bytes read back from storage before they are handed to Automerge.
//!
//! `load_incremental` tolerates damage silently (a corrupt or truncated chunk loads as "nothing",
//! or as the part before the damage), which is right for a half-written last chunk but would hide
//! a corrupt record from the user. This walks the chunk structure of Automerge's binary format
//! (magic, checksum, type, LEB128 length, body) so that damage can be reported.

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Document, change and compressed change chunks.
const MAX_CHUNK_TYPE: u8 = 2;

fn uleb128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Whether `bytes` is one or more complete, well-formed Automerge chunks.
pub fn well_formed(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let Some((magic, tail)) = rest.split_at_checked(4) else {
            return false;
        };
        if magic != MAGIC {
            return false;
        }
        let Some((_checksum, tail)) = tail.split_at_checked(4) else {
            return false;
        };
        let Some((&kind, tail)) = tail.split_first() else {
            return false;
        };
        if kind > MAX_CHUNK_TYPE {
            return false;
        }
        let Some((len, used)) = uleb128(tail) else {
            return false;
        };
        let Ok(len) = usize::try_from(len) else {
            return false;
        };
        let Some(next) = tail.get(used..).and_then(|t| t.get(len..)) else {
            return false;
        };
        rest = next;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Board, WidgetKind};
    use automerge::ActorId;

    #[test]
    fn real_saves_are_well_formed() {
        let mut b = Board::new(ActorId::from([1; 16])).unwrap();
        let n = b.add_widget(WidgetKind::Note).unwrap();
        b.set_note_text(&n, "hello").unwrap();
        b.commit(0);
        let incremental = b.doc_mut().save_incremental();
        b.set_title("t").unwrap();
        b.commit(0);
        let mut two = incremental.clone();
        two.extend(b.doc_mut().save_incremental());
        assert!(well_formed(&incremental));
        assert!(well_formed(&two));
        assert!(well_formed(&b.doc_mut().save()));
    }

    #[test]
    fn damage_is_detected() {
        let mut b = Board::new(ActorId::from([1; 16])).unwrap();
        let saved = b.doc_mut().save();
        assert!(!well_formed(&[]));
        assert!(!well_formed(&saved[..saved.len() - 1]), "truncated");
        assert!(
            !well_formed(&[0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 5]),
            "unknown type"
        );
        assert!(!well_formed(b"not automerge at all"));
        let mut trailing = saved.clone();
        trailing.push(0);
        assert!(!well_formed(&trailing), "trailing garbage");
    }
}
