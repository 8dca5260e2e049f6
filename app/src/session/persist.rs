//! Persisting the board in IndexedDB: load before the network, one write at a time, compaction.

use crdt::board::Piece;

use super::*;

impl Session {
    pub(super) fn on_loaded(&mut self, result: Result<(Rc<Store>, Vec<Chunk>), StorageError>) {
        match result {
            Ok((store, chunks)) => {
                let had_edits = self.persist.dirty;
                let mut skipped = 0;
                let board = self.engine.board_mut();
                for (key, bytes) in chunks {
                    let bytes = bytes.filter(|b| crdt::saved::verified(b));
                    // the first record, usually the compacted snapshot, loads as a whole document
                    // (fast); a record that is not one is merged like the rest
                    let load = |b: Vec<u8>| board.load_any(&b).map(|()| b.len());
                    match bytes.map(load) {
                        Some(Ok(len)) => {
                            self.persist.keys.push(key);
                            self.persist.bytes += len;
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
                if self.persist.keys.is_empty() || had_edits {
                    // a board new to this browser is saved at once, so that it is listed
                    self.persist.dirty = true;
                } else {
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
                self.persist.error = Some(format!(
                    "{e}. Edits are kept in this tab only until storage works again."
                ));
            }
        }
        self.persist.loaded = true;
        self.connect();
    }

    /// Hand the document's unsaved changes to IndexedDB, one write at a time: edits made while
    /// a write is running go into the next one.
    pub(super) fn maybe_write(&mut self) {
        let p = &mut self.persist;
        if !p.loaded || !p.dirty || p.writing || p.retry.is_some() {
            return;
        }
        let Some(store) = p.store.clone() else { return };
        p.dirty = false;
        let compact =
            p.resave_all || p.keys.len() >= COMPACT_AFTER_CHUNKS || p.bytes >= COMPACT_AFTER_BYTES;
        let Some(Piece {
            bytes,
            whole: compact,
        }) = self.engine.board_mut().unstored(compact)
        else {
            return;
        };
        p.writing = true;
        p.counter += 1;
        let key = storage::chunk_key(&self.room, &p.writer, p.counter);
        let replaces = if compact { p.keys.clone() } else { Vec::new() };
        let record = BoardRecord {
            room: self.room.clone(),
            secret: self.secret.clone(),
            title: self.engine.board().title(),
            updated_ms: browser::now_ms() as f64,
        };
        let weak = self.weak.clone();
        spawn_local(async move {
            let result = if compact {
                store.compact(&record, &replaces, &key, &bytes).await
            } else {
                store.append(&record, &key, &bytes).await
            };
            dispatch_weak(
                &weak,
                Input::Saved {
                    key,
                    len: bytes.len(),
                    compacted: compact,
                    result,
                },
            );
        });
    }

    pub(super) fn on_saved(
        &mut self,
        key: JsValue,
        len: usize,
        compacted: bool,
        result: Result<(), StorageError>,
    ) {
        let p = &mut self.persist;
        p.writing = false;
        match result {
            Ok(()) => {
                if compacted {
                    p.keys.clear();
                    p.bytes = 0;
                    p.resave_all = false;
                }
                p.keys.push(key);
                p.bytes += len;
                p.error = None;
            }
            Err(e) => {
                // What that write held is no longer "unsaved" to Automerge: save everything next.
                warn(&format!("meshboard: {e}"));
                p.error = Some(format!(
                    "{e}. Your edits are kept in this tab; saving is retried."
                ));
                p.resave_all = true;
                p.dirty = true;
                let weak = self.weak.clone();
                p.retry = Timeout::new(jitter(SAVE_RETRY_MS), move || {
                    dispatch_weak(&weak, Input::RetrySave)
                })
                .ok();
            }
        }
    }
}
