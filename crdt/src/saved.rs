//! Checks on bytes read back from storage before they are handed to Automerge.
//!
//! `load_incremental` tolerates damage silently (a corrupt or truncated chunk loads as "nothing",
//! or as the part before the damage), which is right for a half-written last chunk but would hide
//! a corrupt record from the user. This walks the chunk structure of Automerge's binary format
//! (magic, checksum, type, LEB128 length, body) so that damage can be reported.

use sha2::{Digest, Sha256};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Document, change and compressed change chunks.
const MAX_CHUNK_TYPE: u8 = 2;
const DOCUMENT: u8 = 0;
const COMPRESSED_CHANGE: u8 = 2;

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

/// One chunk of Automerge's binary format.
struct Chunk<'a> {
    kind: u8,
    checksum: &'a [u8],
    /// Type byte, length and body: what the checksum is computed over.
    hashed: &'a [u8],
}

/// Split `bytes` into chunks, or `None` if it is not one or more complete chunks.
fn chunks(bytes: &[u8]) -> Option<Vec<Chunk<'_>>> {
    let mut rest = bytes;
    let mut out = Vec::new();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let (magic, tail) = rest.split_at_checked(4)?;
        if magic != MAGIC {
            return None;
        }
        let (checksum, hashed_start) = tail.split_at_checked(4)?;
        let (&kind, tail) = hashed_start.split_first()?;
        if kind > MAX_CHUNK_TYPE {
            return None;
        }
        let (len, used) = uleb128(tail)?;
        let len = usize::try_from(len).ok()?;
        let end = 1usize.checked_add(used)?.checked_add(len)?;
        let (hashed, next) = hashed_start.split_at_checked(end)?;
        out.push(Chunk {
            kind,
            checksum,
            hashed,
        });
        rest = next;
    }
    Some(out)
}

/// Whether `bytes` begins like Automerge's bytes (its magic number), whole or not.
pub fn starts_like_automerge(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// Whether `bytes` starts with a whole document (a `save()`), rather than changes one by one.
pub fn is_document(bytes: &[u8]) -> bool {
    chunks(bytes).is_some_and(|c| c.first().is_some_and(|c| c.kind == DOCUMENT))
}

/// Whether `bytes` is one or more complete, well-formed Automerge chunks.
pub fn well_formed(bytes: &[u8]) -> bool {
    chunks(bytes).is_some()
}

/// [`well_formed`], and every uncompressed chunk's checksum matches its content (a compressed
/// change's checksum is over its uncompressed form, which Automerge checks when it inflates it).
pub fn verified(bytes: &[u8]) -> bool {
    chunks(bytes).is_some_and(|chunks| {
        chunks
            .iter()
            .all(|c| c.kind == COMPRESSED_CHANGE || Sha256::digest(c.hashed)[..4] == *c.checksum)
    })
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
        assert!(verified(&two));
        assert!(verified(&b.doc_mut().save()));
        assert!(is_document(&b.doc_mut().save()));
        assert!(!is_document(&two));
        assert!(!is_document(b"not automerge"));
        for change in b.doc_mut().get_changes(&[]) {
            assert!(verified(change.raw_bytes()));
        }
    }

    #[test]
    fn a_flipped_byte_fails_the_checksum() {
        let mut b = Board::new(ActorId::from([1; 16])).unwrap();
        b.set_title("checked").unwrap();
        b.commit(0);
        let change = b
            .doc_mut()
            .get_changes(&[])
            .last()
            .unwrap()
            .raw_bytes()
            .to_vec();
        for i in 4..change.len() {
            let mut bad = change.clone();
            bad[i] ^= 0x01;
            assert!(!verified(&bad), "byte {i}");
        }
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
