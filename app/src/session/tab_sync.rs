//! Other tabs of this browser profile, over a BroadcastChannel.
//!
//! What another tab says is bounded like what a remote peer says: messages by size (the
//! channel's limit) and decoding budget (`Board::load`), the whole-board answers to `Hello` by
//! rate, and its claims about peer ids never reach a remote peer that has passed the link proof.

use super::*;

/// Least time between two whole-board snapshots posted to the other tabs: a tab that says
/// `Hello` in a loop costs one snapshot a second, not one per message.
const TAB_SNAPSHOT_INTERVAL_MS: u64 = 1_000;

impl Session {
    pub(super) fn on_tab(&mut self, bytes: Vec<u8>) {
        let Some(message) = TabMessage::decode(&bytes) else {
            warn("meshboard: ignoring an unreadable message from another tab");
            return;
        };
        match message {
            TabMessage::Hello(tab) => {
                self.add_tab(tab);
                self.post_to_tabs(&TabMessage::Here(self.tab.clone()));
                self.announce_peer_id_to_tabs();
                self.offer_snapshot_to_tabs();
            }
            TabMessage::Here(tab) => self.add_tab(tab),
            TabMessage::Joined { tab, peer } => {
                self.add_tab(tab.clone());
                // A peer whose link passed the key proof stays a peer whatever a tab says (a
                // tab's link to another tab, made before they heard of each other, stays too:
                // it only syncs what they share anyway).
                if self.mesh.is_open(&peer) {
                    warn("meshboard: another tab claims the id of a connected peer; ignoring it");
                    return;
                }
                if let Some(known) = self.local_tabs.get_mut(&tab) {
                    *known = Some(peer);
                    self.tell_mesh_of_tabs();
                }
            }
            TabMessage::Bye(tab) => {
                if self.local_tabs.remove(&tab).is_some() {
                    self.tell_mesh_of_tabs();
                }
            }
            TabMessage::Changes(changes) => {
                // the same checks as bytes from storage: load_incremental skips damage silently
                if !crdt::saved::verified(&changes) {
                    warn("meshboard: ignoring damaged changes from another tab");
                    return;
                }
                let before = self.engine.board_mut().heads();
                if let Err(e) = self.engine.board_mut().load_any(&changes) {
                    warn(&format!(
                        "meshboard: ignoring bad changes from another tab: {e}"
                    ));
                    return;
                }
                if self.engine.board_mut().heads() != before {
                    // Re-render and persist them, and offer them to our peers like our own
                    // edits (the engine reports DocChanged only for what it commits itself).
                    let mut effects = vec![Effect::DocChanged];
                    effects.extend(self.engine.handle(Event::LocalChange, browser::now_ms()));
                    self.run(effects);
                }
            }
        }
    }

    /// Post the whole board to the other tabs now, or once the interval since the last time is
    /// over (a single post for however many tabs asked meanwhile).
    fn offer_snapshot_to_tabs(&mut self) {
        if self.tab_snapshot_due.is_some() {
            return;
        }
        let now = browser::now_ms();
        let next = self
            .tab_snapshot_at
            .map_or(now, |at| at.saturating_add(TAB_SNAPSHOT_INTERVAL_MS));
        if now >= next {
            self.post_snapshot_to_tabs();
            return;
        }
        let weak = self.weak.clone();
        match Timeout::new(next.saturating_sub(now) as u32, move || {
            dispatch_weak(&weak, Input::TabSnapshotDue)
        }) {
            Ok(timer) => self.tab_snapshot_due = Some(timer),
            Err(e) => warn(&format!("meshboard: no timer: {e}")),
        }
    }

    pub(super) fn post_snapshot_to_tabs(&mut self) {
        self.tab_snapshot_at = Some(browser::now_ms());
        // the whole board, compact (a long note's changes one by one are 200x larger)
        let everything = self.engine.board_mut().snapshot();
        self.post_to_tabs(&TabMessage::Changes(everything));
    }

    /// A tab of this profile is not a remote peer: never connect to it or count it. Its peer id
    /// comes with `Joined` (the server assigns it, anew on each join).
    pub(super) fn add_tab(&mut self, tab: String) {
        if tab != self.tab && self.local_tabs.len() < MAX_TABS {
            self.local_tabs.entry(tab).or_insert(None);
        }
    }

    /// The other tabs' peer ids, as far as we heard: the mesh core never links to them.
    fn tell_mesh_of_tabs(&mut self) {
        let peers = self.local_tabs.values().flatten().cloned().collect();
        self.mesh_input(MeshInput::TabPeers(peers));
    }

    /// Tell the other tabs the peer id the server gave us, so that they never connect to us.
    pub(super) fn announce_peer_id_to_tabs(&self) {
        if let Some(me) = self.mesh.me() {
            self.post_to_tabs(&TabMessage::Joined {
                tab: self.tab.clone(),
                peer: me.clone(),
            });
        }
    }

    pub(super) fn post_to_tabs(&self, message: &TabMessage) {
        if let Some(tabs) = &self.tabs {
            if let Err(e) = tabs.post(&message.encode()) {
                warn(&format!("meshboard: cannot reach other tabs: {e}"));
            }
        }
    }

    /// Send other tabs whatever changed since we last told them.
    pub(super) fn maybe_post_to_tabs(&mut self) {
        if self.tabs.is_none() || !self.persist.loaded {
            return;
        }
        let heads = self.engine.board_mut().heads();
        if heads == self.tab_heads {
            return;
        }
        let changes = self
            .engine
            .board_mut()
            .doc_mut()
            .save_after(&self.tab_heads);
        self.tab_heads = heads;
        if !changes.is_empty() {
            self.post_to_tabs(&TabMessage::Changes(changes));
        }
    }
}
