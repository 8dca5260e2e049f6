//! Checks on a peer's Automerge sync message before Automerge sees it.
//!
//! Automerge 0.6.1 trusts two parts of a sync message that a hostile peer controls:
//! * the bloom filters: zero bits per entry makes `generate_sync_message` divide by zero, and a
//!   huge probe count makes it allocate gigabytes;
//! * the change chunks: `load_incremental` silently skips bytes it cannot parse, so garbage in a
//!   sync message would be accepted as "nothing" instead of marking the peer as broken.
//!
//! [`check`] refuses such messages, so the engine drops the peer that sent them.

use automerge::sync;

use crate::error::FrameError;
use crate::frame::take_varint;
use crate::saved;

const HASH: usize = 32;

/// Refuse a sync message (already decoded by Automerge as `message`, from `bytes`) whose bloom
/// filters or change chunks are unusable.
pub fn check(bytes: &[u8], message: &sync::Message) -> Result<(), String> {
    check_blooms(message)?;
    for change in change_chunks(bytes).map_err(|e| e.to_string())? {
        if !saved::verified(change) {
            return Err("sync message with a damaged change (bad structure or checksum)".into());
        }
    }
    Ok(())
}

fn check_blooms(message: &sync::Message) -> Result<(), String> {
    for have in &message.have {
        let bytes = have.bloom.to_bytes();
        if bytes.is_empty() {
            continue;
        }
        let mut input = &bytes[..];
        let mut field = || take_varint(&mut input).map_err(|e| e.to_string());
        let (_entries, bits_per_entry, probes) = (field()?, field()?, field()?);
        if !(1..=64).contains(&bits_per_entry) || !(1..=64).contains(&probes) || input.is_empty() {
            return Err("sync message with an unusable bloom filter".into());
        }
    }
    Ok(())
}

/// The change chunks of an encoded sync message (type byte, heads, need, haves, changes, ...).
fn change_chunks(bytes: &[u8]) -> Result<Vec<&[u8]>, FrameError> {
    let mut input = bytes
        .get(1..)
        .ok_or(FrameError::Malformed("empty sync message"))?;
    skip_hashes(&mut input)?; // heads
    skip_hashes(&mut input)?; // need
    for _ in 0..take_varint(&mut input)? {
        skip_hashes(&mut input)?; // last sync
        take_bytes(&mut input)?; // bloom
    }
    let count = take_varint(&mut input)?;
    let mut changes = Vec::new();
    for _ in 0..count {
        changes.push(take_bytes(&mut input)?);
    }
    Ok(changes)
}

fn skip_hashes(input: &mut &[u8]) -> Result<(), FrameError> {
    let n = usize::try_from(take_varint(input)?)
        .ok()
        .and_then(|n| n.checked_mul(HASH))
        .ok_or(FrameError::Malformed("hash count"))?;
    let rest = input
        .get(n..)
        .ok_or(FrameError::Malformed("hashes run past the end"))?;
    *input = rest;
    Ok(())
}

fn take_bytes<'a>(input: &mut &'a [u8]) -> Result<&'a [u8], FrameError> {
    let n = usize::try_from(take_varint(input)?).map_err(|_| FrameError::Malformed("length"))?;
    let (bytes, rest) = input
        .split_at_checked(n)
        .ok_or(FrameError::Malformed("bytes run past the end"))?;
    *input = rest;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Board;
    use automerge::sync::{Have, SyncDoc};
    use automerge::ActorId;

    fn message_with_a_change() -> Vec<u8> {
        let mut other = Board::new(ActorId::from([2; 16])).unwrap();
        other.set_title("sent").unwrap();
        other.commit(0);
        let mut state = sync::State::new();
        state.their_heads = Some(vec![]);
        state.their_need = Some(vec![]);
        state.their_have = Some(vec![Have::default()]);
        let message = other
            .doc_mut()
            .sync()
            .generate_sync_message(&mut state)
            .unwrap();
        message.encode()
    }

    #[test]
    fn real_messages_pass() {
        let bytes = message_with_a_change();
        let message = sync::Message::decode(&bytes).unwrap();
        assert_eq!(change_chunks(&bytes).unwrap().len(), 2);
        assert_eq!(check(&bytes, &message), Ok(()));
    }

    #[test]
    fn a_damaged_change_is_refused() {
        let bytes = message_with_a_change();
        let last = *change_chunks(&bytes).unwrap().last().unwrap();
        let start = last.as_ptr() as usize - bytes.as_ptr() as usize;
        let mut refused = 0;
        for i in start..start + last.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            if let Ok(message) = sync::Message::decode(&bad) {
                assert!(check(&bad, &message).is_err(), "byte {i}");
                refused += 1;
            }
        }
        assert!(refused > last.len() / 2, "{refused} of {}", last.len());
    }

    #[test]
    fn unusable_bloom_filters_are_refused() {
        // zero bits per entry: automerge 0.6.1 would divide by zero
        let crafted = [0x42u8, 0, 0, 1, 0, 3, 1, 0, 7, 0];
        let message = sync::Message::decode(&crafted).unwrap();
        assert!(check(&crafted, &message).unwrap_err().contains("bloom"));
    }
}
