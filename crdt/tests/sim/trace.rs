//! `SIM_TRACE=1`: one line per event a node handles, frames decoded, for replaying one seed.

use crdt::automerge::{sync, ChangeHash};
use crdt::frame::{self, FrameKind};
use crdt::Event;

pub fn event(healed: bool, node: usize, event: &Event) -> String {
    let what = match event {
        Event::Frame(from, bytes) => match frame::decode(bytes) {
            Ok(f) => format!(
                "{from}->{node} {:?} e{} s{} ack e{} n{} {:?} {}B{}",
                f.header.kind,
                f.header.epoch % 100_000,
                f.header.seq,
                f.header.ack_epoch % 100_000,
                f.header.ack_count,
                f.header.chunk.map(|c| (c.index, c.count)),
                f.payload.len(),
                sync_gist(f.header.kind, f.header.chunk.is_some(), f.payload)
            ),
            Err(e) => format!("{from}->{node} undecodable ({e})"),
        },
        Event::Connected(p) => format!("{node}: connected {p}"),
        Event::Disconnected(p) => format!("{node}: disconnected {p}"),
        Event::LocalChange => format!("{node}: local change"),
        Event::Tick => format!("{node}: tick"),
    };
    let phase = if healed { "healed" } else { "faults" };
    format!("{phase} {what}")
}

/// A sync message's heads, need, have and number of change chunks.
fn sync_gist(kind: FrameKind, chunked: bool, payload: &[u8]) -> String {
    let short = |hs: &[ChangeHash]| -> Vec<String> {
        hs.iter().map(|h| h.to_string()[..6].to_string()).collect()
    };
    match sync::Message::decode(payload) {
        Ok(m) if kind == FrameKind::Sync && !chunked => format!(
            " heads {:?} need {:?} have {:?} changes {}",
            short(&m.heads),
            short(&m.need),
            m.have
                .iter()
                .map(|h| short(&h.last_sync))
                .collect::<Vec<_>>(),
            m.changes.len()
        ),
        _ => String::new(),
    }
}
