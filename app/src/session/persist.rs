//! Persisting the board in IndexedDB: load before the network, then carry out the writes that
//! `crdt::session::Persister` decides on (one at a time; compaction when the user pauses).

use crdt::board::Piece;

use super::*;

impl Session {
    pub(super) fn on_loaded(&mut self, result: Result<(Rc<Store>, Vec<Chunk>), StorageError>) {
        match result {
            Ok((store, chunks)) => {
                let edited_before = !self.persist.core.is_saved();
                let mut skipped = 0;
                let mut sizes = Vec::new();
                let board = self.engine.board_mut();
                for (key, bytes) in chunks {
                    let bytes = bytes.filter(|b| crdt::saved::verified(b));
                    // the first record, usually the compacted snapshot, loads as a whole document
                    // (fast); a record that is not one is merged like the rest
                    let load = |b: Vec<u8>| board.load_any(&b).map(|()| b.len());
                    match bytes.map(load) {
                        Some(Ok(len)) => {
                            self.persist.keys.push(key);
                            sizes.push(len);
                        }
                        _ => skipped += 1,
                    }
                }
                if skipped > 0 {
                    warn(&format!(
                        "meshboard: skipped {skipped} damaged saved piece(s) of this board"
                    ));
                    self.persist.error = Some(format!(
                        "{skipped} damaged saved piece(s) of this board could not be read and were skipped; the rest loaded."
                    ));
                }
                self.persist.core.loaded(&sizes);
                if !sizes.is_empty() && !edited_before {
                    // what was just loaded is already stored, and every other open tab of this
                    // board has it: incremental saves and posts to tabs start from here
                    self.engine.board_mut().mark_stored();
                    self.tab_heads = self.engine.board_mut().heads();
                }
                self.persist.store = Some(store);
                self.view_dirty = true;
            }
            Err(e) => {
                warn(&format!("meshboard: {e}"));
                self.persist.core.unavailable();
                self.persist.error = Some(format!(
                    "{e}. Edits are kept in this tab only until storage works again."
                ));
            }
        }
        self.persist.loaded = true;
        self.mesh_input(MeshInput::Start);
    }

    /// Start the write that is due, if any, and keep the storage timer at the next decision.
    pub(super) fn maybe_write(&mut self) {
        let now = browser::now_ms();
        if let Some(store) = self.persist.store.clone() {
            if let Some(piece) = self.persist.core.next_write(self.engine.board_mut(), now) {
                self.write(store, piece);
            }
        }
        let p = &mut self.persist;
        match p.core.wake_at() {
            None => p.wake = None,
            Some(at) if p.wake.as_ref().is_some_and(|(t, _)| *t == at) => {}
            Some(at) => {
                let weak = self.weak.clone();
                let delay = u32::try_from(at.saturating_sub(now)).unwrap_or(u32::MAX);
                p.wake = Timeout::new(delay, move || dispatch_weak(&weak, Input::PersistWake))
                    .ok()
                    .map(|t| (at, t));
            }
        }
    }

    fn write(&mut self, store: Rc<Store>, Piece { bytes, whole }: Piece) {
        let p = &mut self.persist;
        p.counter += 1;
        let key = storage::chunk_key(&self.local_id, &p.writer, p.counter);
        let replaces = if whole { p.keys.clone() } else { Vec::new() };
        let record = BoardRecord {
            room: self.local_id.clone(),
            secret: self.secret.clone(),
            title: self.engine.board().title(),
            updated_ms: browser::now_ms() as f64,
        };
        let weak = self.weak.clone();
        spawn_local(async move {
            let result = if whole {
                store.compact(&record, &replaces, &key, &bytes).await
            } else {
                store.append(&record, &key, &bytes).await
            };
            dispatch_weak(
                &weak,
                Input::Saved {
                    key,
                    compacted: whole,
                    result,
                },
            );
        });
    }

    pub(super) fn on_saved(
        &mut self,
        key: JsValue,
        compacted: bool,
        result: Result<(), StorageError>,
    ) {
        let p = &mut self.persist;
        p.core.written(result.is_ok(), browser::now_ms());
        match result {
            Ok(()) => {
                if compacted {
                    p.keys.clear();
                }
                p.keys.push(key);
                p.error = None;
            }
            Err(e) => {
                warn(&format!("meshboard: {e}"));
                p.error = Some(format!(
                    "{e}. Your edits are kept in this tab; saving is retried."
                ));
            }
        }
    }
}
