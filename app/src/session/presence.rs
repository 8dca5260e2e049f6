//! Presence over each proved link's second data channel: `crdt::session::Presence` decides what
//! is sent and who is shown; this file carries its effects out, turns the UI's focus and caret
//! into Automerge cursors, and resolves other people's carets to places in the notes shown here.

use crdt::session::presence::{Caret, State};

use super::*;
use crate::ui_state::RemoteCaret;

/// The negotiated id of every link's presence channel (the board channel takes 0 or 1).
pub(super) const PRESENCE_CHANNEL_ID: u16 = 7;
/// The most presence messages kept from a link before its proof (each at most a channel message).
pub(super) const EARLY_MESSAGES: usize = 64;

/// Where the UI says the user is: a widget, and a selection in a note (code points).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whereabouts {
    Focus(Option<String>),
    Caret {
        widget: String,
        anchor: usize,
        head: usize,
    },
    NoCaret,
}

/// What we say about ourselves before the user did anything.
pub(super) fn initial_state(author: &crdt::board::Author) -> State {
    State {
        profile: crate::identity::profile(),
        name: author.name.clone(),
        colour: author.colour.clone(),
        ..State::default()
    }
}

impl Session {
    pub(super) fn presence_channel_callbacks(
        &self,
        peer: &PeerId,
        link: LinkId,
    ) -> impl Fn(ChannelEvent) + 'static {
        let (weak, peer) = (self.weak.clone(), peer.clone());
        move |e| dispatch_weak(&weak, Input::PresenceChannel(peer.clone(), link, e))
    }

    pub(super) fn on_presence_channel(&mut self, peer: PeerId, link: LinkId, event: ChannelEvent) {
        if !self.is_current(&peer, link) {
            return;
        }
        let open = self.mesh.is_open(&peer);
        let Some(link) = self.links.get_mut(&peer) else {
            return;
        };
        match event {
            ChannelEvent::Message(bytes) if open => {
                let effects = self.presence.receive(&peer, &bytes, browser::now_ms());
                self.run_presence(effects);
            }
            // before the peer's proof on the board channel: kept (the latest few) until it comes
            ChannelEvent::Message(bytes) => {
                if link.early_presence.len() >= EARLY_MESSAGES {
                    link.early_presence.remove(0);
                }
                link.early_presence.push(bytes);
            }
            ChannelEvent::Refused(why) => {
                warn(&format!("meshboard: {peer} sent {why} on presence"));
                self.fail(&peer, LinkFailure::Refused);
            }
            ChannelEvent::Open | ChannelEvent::Closed => {}
        }
    }

    /// A link opened: presence may flow both ways.
    pub(super) fn presence_connected(&mut self, peer: &PeerId) {
        let now = browser::now_ms();
        if let Some(me) = self.mesh.me() {
            self.presence.set_me(me);
        }
        let mut effects = self.presence.connected(peer, now);
        let early = self
            .links
            .get_mut(peer)
            .map(|l| std::mem::take(&mut l.early_presence))
            .unwrap_or_default();
        for bytes in early {
            effects.extend(self.presence.receive(peer, &bytes, now));
        }
        self.run_presence(effects);
    }

    pub(super) fn presence_disconnected(&mut self, peer: &PeerId) {
        let effects = self.presence.disconnected(peer, browser::now_ms());
        self.run_presence(effects);
    }

    pub(super) fn presence_tick(&mut self) {
        self.presence_wake = None;
        let effects = self.presence.tick(browser::now_ms());
        self.run_presence(effects);
    }

    /// The user moved: into or out of a widget, or their caret in a note.
    pub(super) fn set_whereabouts(&mut self, whereabouts: Whereabouts) {
        let mut state = self.presence.local().clone();
        match whereabouts {
            Whereabouts::Focus(widget) => state.widget = widget,
            Whereabouts::NoCaret => state.caret = None,
            Whereabouts::Caret {
                widget,
                anchor,
                head,
            } => {
                let board = self.engine.board_mut();
                state.caret = board
                    .note_cursor(&widget, anchor)
                    .zip(board.note_cursor(&widget, head))
                    .map(|(anchor, head)| Caret {
                        widget,
                        anchor,
                        head,
                    });
            }
        }
        let effects = self.presence.set_local(state, browser::now_ms());
        self.run_presence(effects);
    }

    /// The user renamed themselves: presence says so too.
    pub(super) fn presence_rename(&mut self, author: &crdt::board::Author) {
        let mut state = self.presence.local().clone();
        state.name = author.name.clone();
        state.colour = author.colour.clone();
        let effects = self.presence.set_local(state, browser::now_ms());
        self.run_presence(effects);
    }

    /// Leaving: tell every peer at once instead of letting them time out.
    pub(super) fn presence_goodbye(&mut self) {
        let effects = self.presence.goodbye(browser::now_ms());
        self.run_presence(effects);
    }

    pub(super) fn run_presence(&mut self, effects: Vec<PresenceEffect>) {
        for effect in effects {
            match effect {
                PresenceEffect::Send { peer, bytes } => {
                    let channel = self.links.get(&peer).and_then(|l| l.presence.as_ref());
                    // presence is best effort: a full or closed channel loses a message, and
                    // the next change or heartbeat repairs it
                    if let Some(Err(e)) = channel.filter(|c| c.is_open()).map(|c| c.send(&bytes)) {
                        debug(&format!("meshboard: presence to {peer} not sent: {e}"));
                    }
                }
                PresenceEffect::Changed => self.presence_dirty = true,
                PresenceEffect::DropPeer { peer, reason } => {
                    warn(&format!("meshboard: dropping a peer: {reason}"));
                    self.fail(&peer, LinkFailure::BadData);
                }
            }
        }
        self.schedule_presence();
    }

    fn schedule_presence(&mut self) {
        if self.links.is_empty() {
            self.presence_wake = None;
            return;
        }
        let at = self.presence.wake_at();
        if self.presence_wake.as_ref().is_some_and(|(t, _)| *t == at) {
            return;
        }
        let delay = u32::try_from(at.saturating_sub(browser::now_ms())).unwrap_or(u32::MAX);
        let weak = self.weak.clone();
        self.presence_wake = Timeout::new(delay, move || dispatch_weak(&weak, Input::PresenceTick))
            .ok()
            .map(|t| (at, t));
    }

    /// Everyone else's carets, at their places in this board's notes now.
    pub(super) fn remote_carets(&mut self) -> Vec<RemoteCaret> {
        let people = self.presence.people();
        let board = self.engine.board_mut();
        let mut carets = Vec::new();
        for person in &people {
            for caret in &person.carets {
                let place = |cursor: &str| board.note_cursor_position(&caret.widget, cursor);
                if let (Some(anchor), Some(head)) = (place(&caret.anchor), place(&caret.head)) {
                    carets.push(RemoteCaret {
                        widget: caret.widget.clone(),
                        name: person.name.clone(),
                        colour: person.colour.clone(),
                        anchor,
                        head,
                    });
                }
            }
        }
        carets
    }
}
