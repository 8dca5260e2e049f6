//! Presence: who is on a board right now, which widget each person is in and where their caret
//! is in a note. Ephemeral: it travels between linked peers (over a data channel of its own) and
//! is never written to the board or to storage.
//!
//! A sans-IO state machine like the engine: the executor tells it when a proved link opens or
//! closes, hands it every presence message with the time, and sends what it returns. It sends our
//! state when it changes (at most one message per [`MIN_INTERVAL_MS`]) and again every
//! [`HEARTBEAT_MS`]; a peer not heard of for [`TIMEOUT_MS`] is forgotten, and a leaving peer says
//! goodbye. Every message is checked: a message over [`MAX_MESSAGE`] bytes, one that does not
//! decode or holds an invalid field drops the peer; messages past a peer's rate are ignored, and
//! so are repeats (a sequence number not above the last one seen).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::board::{valid_colour, MAX_NAME_CHARS};
use crate::engine::{PeerId, MAX_PEERS};

/// The largest presence message accepted (ours are far smaller).
pub const MAX_MESSAGE: usize = 1024;
/// Our state goes out at most this often while it changes…
pub const MIN_INTERVAL_MS: u64 = 50;
/// …and at least this often while it does not.
pub const HEARTBEAT_MS: u64 = 5_000;
/// A peer not heard of for this long is gone.
pub const TIMEOUT_MS: u64 = 15_000;
/// Messages a peer may send in a burst, and how fast that allowance refills (per second): well
/// above what [`MIN_INTERVAL_MS`] lets an honest peer send.
const BURST: f64 = 40.0;
const REFILL_PER_S: f64 = 25.0;
/// The longest profile id, widget id and cursor accepted.
const MAX_ID: usize = 64;
const MAX_CURSOR: usize = 100;
const WIRE_VERSION: u8 = 1;

/// A caret and selection in a note, as Automerge cursors (stable when text is inserted before).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caret {
    #[serde(rename = "w")]
    pub widget: String,
    /// Where the selection starts (the end that does not move) and where the caret is.
    #[serde(rename = "a")]
    pub anchor: String,
    #[serde(rename = "h")]
    pub head: String,
}

/// What one page says about its user.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct State {
    /// The browser profile: the tabs of one profile are one person.
    #[serde(rename = "p")]
    pub profile: String,
    #[serde(rename = "n")]
    pub name: String,
    #[serde(rename = "c")]
    pub colour: String,
    /// The widget the user is in.
    #[serde(rename = "w", default, skip_serializing_if = "Option::is_none")]
    pub widget: Option<String>,
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub caret: Option<Caret>,
    /// A peer that stays up (the native peer), not a person at a screen.
    #[serde(rename = "o", default, skip_serializing_if = "std::ops::Not::not")]
    pub always_on: bool,
}

#[derive(Serialize, Deserialize)]
struct Message {
    v: u8,
    seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<State>,
    /// Leaving: forget this page.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    bye: bool,
}

/// Why a peer's presence message made us drop the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresenceError {
    #[error("a presence message of {0} bytes (at most {MAX_MESSAGE})")]
    TooLarge(usize),
    #[error("a presence message that does not decode")]
    Malformed,
    #[error("a presence message of version {0}")]
    Version(u8),
    #[error("a presence message with an invalid {0}")]
    Invalid(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceEffect {
    /// Send these bytes on `peer`'s presence channel.
    Send { peer: PeerId, bytes: Vec<u8> },
    /// What [`Presence::people`] returns changed: show it.
    Changed,
    /// Close the link to `peer`: it sent presence no honest peer sends.
    DropPeer { peer: PeerId, reason: PresenceError },
}

/// One person on the board, as far as their pages said (the tabs of one profile together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub profile: String,
    pub name: String,
    pub colour: String,
    /// The widgets any of their pages is in.
    pub widgets: Vec<String>,
    pub carets: Vec<Caret>,
    pub always_on: bool,
}

struct Remote {
    state: Option<State>,
    last_seq: u64,
    heard_at: u64,
    tokens: f64,
    refilled_at: u64,
}

pub struct Presence {
    local: State,
    seq: u64,
    /// Our state changed since it was last sent.
    dirty: bool,
    sent_at: Option<u64>,
    peers: BTreeMap<PeerId, Remote>,
}

fn valid_id(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_@.".contains(&b))
}

fn check(state: &State) -> Result<(), PresenceError> {
    if !valid_id(&state.profile, MAX_ID) {
        return Err(PresenceError::Invalid("profile"));
    }
    let name_ok = !state.name.trim().is_empty()
        && state.name.chars().count() <= MAX_NAME_CHARS
        && !state.name.chars().any(char::is_control);
    if !name_ok {
        return Err(PresenceError::Invalid("name"));
    }
    if !valid_colour(&state.colour) {
        return Err(PresenceError::Invalid("colour"));
    }
    if state.widget.as_ref().is_some_and(|w| !valid_id(w, MAX_ID)) {
        return Err(PresenceError::Invalid("widget"));
    }
    if let Some(c) = &state.caret {
        if !valid_id(&c.widget, MAX_ID)
            || !valid_id(&c.anchor, MAX_CURSOR)
            || !valid_id(&c.head, MAX_CURSOR)
        {
            return Err(PresenceError::Invalid("caret"));
        }
    }
    Ok(())
}

impl Presence {
    /// `local` is what we say about ourselves until [`Presence::set_local`] says otherwise.
    pub fn new(local: State) -> Self {
        Presence {
            local,
            seq: 0,
            dirty: false,
            sent_at: None,
            peers: BTreeMap::new(),
        }
    }

    pub fn local(&self) -> &State {
        &self.local
    }

    fn encode(&mut self, state: Option<State>, bye: bool) -> Vec<u8> {
        self.seq += 1;
        let message = Message {
            v: WIRE_VERSION,
            seq: self.seq,
            state,
            bye,
        };
        serde_json::to_vec(&message).unwrap_or_default()
    }

    fn broadcast(&mut self, now: u64) -> Vec<PresenceEffect> {
        self.dirty = false;
        self.sent_at = Some(now);
        let bytes = self.encode(Some(self.local.clone()), false);
        self.peers
            .keys()
            .map(|peer| PresenceEffect::Send {
                peer: peer.clone(),
                bytes: bytes.clone(),
            })
            .collect()
    }

    /// Our state is now `state`: sent at once, or as soon as [`MIN_INTERVAL_MS`] allows.
    pub fn set_local(&mut self, state: State, now: u64) -> Vec<PresenceEffect> {
        if state == self.local {
            return Vec::new();
        }
        self.local = state;
        self.dirty = true;
        self.tick(now)
    }

    /// A link to `peer` opened and the peer proved it holds the board's link.
    pub fn connected(&mut self, peer: &PeerId, now: u64) -> Vec<PresenceEffect> {
        if self.peers.len() >= MAX_PEERS && !self.peers.contains_key(peer) {
            return Vec::new();
        }
        self.peers.insert(
            peer.clone(),
            Remote {
                state: None,
                last_seq: 0,
                heard_at: now,
                tokens: BURST,
                refilled_at: now,
            },
        );
        let bytes = self.encode(Some(self.local.clone()), false);
        vec![PresenceEffect::Send {
            peer: peer.clone(),
            bytes,
        }]
    }

    /// The link to `peer` closed.
    pub fn disconnected(&mut self, peer: &PeerId) -> Vec<PresenceEffect> {
        match self.peers.remove(peer) {
            Some(Remote { state: Some(_), .. }) => vec![PresenceEffect::Changed],
            _ => Vec::new(),
        }
    }

    /// A presence message from `peer`.
    pub fn receive(&mut self, peer: &PeerId, bytes: &[u8], now: u64) -> Vec<PresenceEffect> {
        let Some(remote) = self.peers.get_mut(peer) else {
            return Vec::new(); // not (or no longer) a proved link
        };
        let drop = |reason| {
            vec![PresenceEffect::DropPeer {
                peer: peer.clone(),
                reason,
            }]
        };
        if bytes.len() > MAX_MESSAGE {
            return drop(PresenceError::TooLarge(bytes.len()));
        }
        let elapsed = now.saturating_sub(remote.refilled_at) as f64 / 1000.0;
        remote.tokens = (remote.tokens + elapsed * REFILL_PER_S).min(BURST);
        remote.refilled_at = now;
        if remote.tokens < 1.0 {
            return Vec::new(); // past its rate: ignored
        }
        remote.tokens -= 1.0;
        let Ok(message) = serde_json::from_slice::<Message>(bytes) else {
            return drop(PresenceError::Malformed);
        };
        if message.v != WIRE_VERSION {
            return drop(PresenceError::Version(message.v));
        }
        if message.seq <= remote.last_seq {
            return Vec::new(); // a repeat
        }
        let state = match (message.bye, message.state) {
            (true, _) => None,
            (false, Some(state)) => {
                if let Err(reason) = check(&state) {
                    return drop(reason);
                }
                Some(state)
            }
            (false, None) => return drop(PresenceError::Invalid("message: no state")),
        };
        remote.last_seq = message.seq;
        remote.heard_at = now;
        if remote.state == state {
            return Vec::new();
        }
        remote.state = state;
        vec![PresenceEffect::Changed]
    }

    /// Time passed: send what is due, forget peers that went quiet.
    pub fn tick(&mut self, now: u64) -> Vec<PresenceEffect> {
        let mut effects = Vec::new();
        let due = match self.sent_at {
            None => true,
            Some(at) if self.dirty => now >= at + MIN_INTERVAL_MS,
            Some(at) => now >= at + HEARTBEAT_MS,
        };
        if due {
            effects = self.broadcast(now);
        }
        let mut changed = false;
        for remote in self.peers.values_mut() {
            if remote.state.is_some() && now >= remote.heard_at + TIMEOUT_MS {
                remote.state = None;
                changed = true;
            }
        }
        if changed {
            effects.push(PresenceEffect::Changed);
        }
        effects
    }

    /// When [`Presence::tick`] should run next.
    pub fn wake_at(&self) -> u64 {
        let send = match self.sent_at {
            None => 0,
            Some(at) if self.dirty => at + MIN_INTERVAL_MS,
            Some(at) => at + HEARTBEAT_MS,
        };
        let expire = self
            .peers
            .values()
            .filter(|r| r.state.is_some())
            .map(|r| r.heard_at + TIMEOUT_MS)
            .min();
        expire.map_or(send, |e| e.min(send))
    }

    /// We are leaving: say goodbye to every peer (and forget them).
    pub fn goodbye(&mut self) -> Vec<PresenceEffect> {
        let bytes = self.encode(None, true);
        std::mem::take(&mut self.peers)
            .into_keys()
            .map(|peer| PresenceEffect::Send {
                peer,
                bytes: bytes.clone(),
            })
            .collect()
    }

    /// Everyone else on the board, one entry per profile (not ours), by name.
    pub fn people(&self) -> Vec<Person> {
        let mut people: BTreeMap<&str, Person> = BTreeMap::new();
        for state in self.peers.values().filter_map(|r| r.state.as_ref()) {
            if state.profile == self.local.profile {
                continue;
            }
            let person = people
                .entry(state.profile.as_str())
                .or_insert_with(|| Person {
                    profile: state.profile.clone(),
                    name: state.name.clone(),
                    colour: state.colour.clone(),
                    widgets: Vec::new(),
                    carets: Vec::new(),
                    always_on: state.always_on,
                });
            if let Some(w) = &state.widget {
                if !person.widgets.contains(w) {
                    person.widgets.push(w.clone());
                }
            }
            person.carets.extend(state.caret.clone());
        }
        let mut people: Vec<Person> = people.into_values().collect();
        people.sort_by(|a, b| a.name.cmp(&b.name).then(a.profile.cmp(&b.profile)));
        people
    }
}

mod names;

#[cfg(test)]
mod tests;
