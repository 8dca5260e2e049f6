//! Presence: who is on a board right now, which widget each person is in and where their caret
//! is in a note. Ephemeral: it travels between linked peers (over a data channel of its own) and
//! is never written to the board or to storage.
//!
//! A sans-IO state machine like the engine: the executor tells it when a proved link opens or
//! closes, hands it every presence message with the time, and sends what it returns. It sends our
//! state when it changes (at most one message per [`MIN_INTERVAL_MS`]) and again every
//! [`HEARTBEAT_MS`]; a page not heard of for [`TIMEOUT_MS`] is forgotten, and a leaving page says
//! goodbye.
//!
//! Gossip: in a large room a peer links only to a few others (see `super::overlay`), so every
//! message is about an *origin* page and is forwarded to our other links, at most [`MAX_HOPS`]
//! times along a path. A message is taken once per (origin, sequence number): a repeat or an
//! older one that took a longer path is dropped and not forwarded, so a flood ends after one pass.
//!
//! Every message is checked: a message over [`MAX_MESSAGE`] bytes, one that does not decode or
//! holds an invalid field drops the link it came on. Messages past a link's rate, or past an
//! origin's rate however many links carry it, are ignored; at most [`MAX_ORIGINS`] pages are
//! known at once.

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
/// A page not heard of for this long is gone.
pub const TIMEOUT_MS: u64 = 15_000;
/// A page whose direct link closed is gone this soon, unless another path brings its next
/// heartbeat.
pub const LINK_GRACE_MS: u64 = HEARTBEAT_MS + 1_000;
/// The longest path a message travels (the overlay's diameter is far smaller, see
/// `super::overlay`).
pub const MAX_HOPS: u8 = 16;
/// The most pages known at once: well above the largest room.
pub const MAX_ORIGINS: usize = 1024;
/// Messages one page may send in a burst, and how fast that allowance refills (per second): well
/// above what [`MIN_INTERVAL_MS`] lets an honest page send.
const BURST: f64 = 40.0;
const REFILL_PER_S: f64 = 25.0;
/// The same for one link, which carries the messages of every page behind it: a new link brings
/// the latest of each known page at once.
const LINK_BURST: f64 = MAX_ORIGINS as f64 + BURST;
const LINK_REFILL_PER_S: f64 = 500.0;
/// How far ahead of our clock a sequence number may be (clocks differ between machines).
const MAX_CLOCK_AHEAD_MS: u64 = 24 * 3_600_000;
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
    /// The page this is about, when it is not the peer that sent it (a forwarded message).
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    origin: Option<PeerId>,
    /// How many more times it may be forwarded (none from a peer that does not say).
    #[serde(rename = "t", default, skip_serializing_if = "is_zero")]
    hops: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<State>,
    /// Leaving: forget this page.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    bye: bool,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
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

/// A token bucket: `burst` messages at once, refilled at `per_s` a second.
struct Allowance {
    tokens: f64,
    at: u64,
}

impl Allowance {
    fn full(burst: f64, now: u64) -> Self {
        Allowance {
            tokens: burst,
            at: now,
        }
    }

    fn take(&mut self, now: u64, burst: f64, per_s: f64) -> bool {
        let elapsed = now.saturating_sub(self.at) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * per_s).min(burst);
        self.at = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// A page we heard of, directly or through others.
struct Origin {
    /// What it said last; `None` after it said goodbye or went quiet (kept a while, so that a
    /// late copy of an older message cannot bring it back).
    state: Option<State>,
    last_seq: u64,
    /// How many more times its last message may be forwarded: a new link gets it with that.
    hops: u8,
    /// Shown until then, unless heard again.
    expires_at: u64,
    /// Forgotten entirely then.
    forget_at: u64,
    allowance: Allowance,
}

pub struct Presence {
    local: State,
    /// Our peer id, once the server gave it: a message about us that comes back is ours.
    me: Option<PeerId>,
    /// Our messages may be passed on (in a full mesh everyone hears us directly).
    relay: bool,
    seq: u64,
    /// Our state changed since it was last sent.
    dirty: bool,
    sent_at: Option<u64>,
    /// The proved links, each with its allowance.
    links: BTreeMap<PeerId, Allowance>,
    origins: BTreeMap<PeerId, Origin>,
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
            me: None,
            relay: true,
            seq: 0,
            dirty: false,
            sent_at: None,
            links: BTreeMap::new(),
            origins: BTreeMap::new(),
        }
    }

    pub fn local(&self) -> &State {
        &self.local
    }

    /// Our peer id in the room (messages about it are ours, come back around the overlay).
    pub fn set_me(&mut self, me: &PeerId) {
        self.me = Some(me.clone());
    }

    /// Whether our messages should be passed on: not while every page of the room links to
    /// every other (the executor knows, from the mesh), which halves what presence sends there.
    /// Messages from others are passed on as they ask either way.
    pub fn set_relay(&mut self, relay: bool) {
        self.relay = relay;
    }

    /// A new message of ours. Sequence numbers follow the clock, so a page that comes back under
    /// the same id after a reload is not taken for a repeat.
    fn encode_own(&mut self, state: Option<State>, bye: bool, now: u64) -> Vec<u8> {
        self.seq = (self.seq + 1).max(now);
        encode(&Message {
            v: WIRE_VERSION,
            seq: self.seq,
            origin: None,
            hops: if self.relay { MAX_HOPS - 1 } else { 0 },
            state,
            bye,
        })
    }

    fn broadcast(&mut self, now: u64) -> Vec<PresenceEffect> {
        self.dirty = false;
        self.sent_at = Some(now);
        let bytes = self.encode_own(Some(self.local.clone()), false, now);
        self.send_all(&bytes, &[])
    }

    fn send_all(&self, bytes: &[u8], except: &[&PeerId]) -> Vec<PresenceEffect> {
        self.links
            .keys()
            .filter(|peer| !except.contains(peer))
            .map(|peer| PresenceEffect::Send {
                peer: peer.clone(),
                bytes: bytes.to_vec(),
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

    /// A link to `peer` opened and the peer proved it holds the board's link: it gets our state
    /// and the latest of every page we know, so that it need not wait for their heartbeats.
    pub fn connected(&mut self, peer: &PeerId, now: u64) -> Vec<PresenceEffect> {
        if self.links.len() >= MAX_PEERS && !self.links.contains_key(peer) {
            return Vec::new();
        }
        self.links
            .insert(peer.clone(), Allowance::full(LINK_BURST, now));
        let mut bytes = vec![self.encode_own(Some(self.local.clone()), false, now)];
        for (id, origin) in &self.origins {
            if id == peer || origin.hops == 0 {
                continue;
            }
            if let Some(state) = &origin.state {
                bytes.push(passed_on(
                    id,
                    origin.last_seq,
                    origin.hops,
                    Some(state.clone()),
                ));
            }
        }
        bytes
            .into_iter()
            .map(|bytes| PresenceEffect::Send {
                peer: peer.clone(),
                bytes,
            })
            .collect()
    }

    /// The link to `peer` closed. Without links nobody is heard; otherwise `peer`'s page stays
    /// for [`LINK_GRACE_MS`], in case it is still there behind another link.
    pub fn disconnected(&mut self, peer: &PeerId, now: u64) -> Vec<PresenceEffect> {
        if self.links.remove(peer).is_none() {
            return Vec::new();
        }
        if self.links.is_empty() {
            let shown = self.origins.values().any(|o| o.state.is_some());
            self.origins.clear();
            return if shown {
                vec![PresenceEffect::Changed]
            } else {
                Vec::new()
            };
        }
        if let Some(origin) = self.origins.get_mut(peer) {
            origin.expires_at = origin.expires_at.min(now + LINK_GRACE_MS);
        }
        Vec::new()
    }

    /// A presence message from `peer`.
    pub fn receive(&mut self, peer: &PeerId, bytes: &[u8], now: u64) -> Vec<PresenceEffect> {
        let Some(link) = self.links.get_mut(peer) else {
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
        if !link.take(now, LINK_BURST, LINK_REFILL_PER_S) {
            return Vec::new(); // past the link's rate: ignored
        }
        let Ok(message) = serde_json::from_slice::<Message>(bytes) else {
            return drop(PresenceError::Malformed);
        };
        if message.v != WIRE_VERSION {
            return drop(PresenceError::Version(message.v));
        }
        // our sequence numbers follow the clock: one far ahead of it would silence its page
        if message.seq > now.saturating_add(MAX_CLOCK_AHEAD_MS) {
            return drop(PresenceError::Invalid("sequence number"));
        }
        let id = message.origin.clone().unwrap_or_else(|| peer.clone());
        if !valid_id(&id, MAX_ID) {
            return drop(PresenceError::Invalid("origin"));
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
        if self.me.as_ref() == Some(&id) {
            return Vec::new(); // ours, back around the overlay
        }
        if !self.origins.contains_key(&id) && self.origins.len() >= MAX_ORIGINS {
            return Vec::new(); // too many pages: a new one is not taken
        }
        let origin = self.origins.entry(id.clone()).or_insert_with(|| Origin {
            state: None,
            last_seq: 0,
            hops: 0,
            expires_at: now,
            forget_at: now,
            allowance: Allowance::full(BURST, now),
        });
        if message.seq <= origin.last_seq {
            return Vec::new(); // a repeat, or older than what we have
        }
        if !origin.allowance.take(now, BURST, REFILL_PER_S) {
            return Vec::new(); // past the page's rate: ignored, not forwarded
        }
        let hops = message.hops.min(MAX_HOPS - 1);
        origin.last_seq = message.seq;
        origin.hops = hops;
        origin.expires_at = now + TIMEOUT_MS;
        origin.forget_at = now + 2 * TIMEOUT_MS;
        let changed = origin.state != state;
        origin.state = state.clone();
        let mut effects = Vec::new();
        if hops > 0 {
            let bytes = passed_on(&id, message.seq, hops, state);
            effects = self.send_all(&bytes, &[peer, &id]);
        }
        if changed {
            effects.push(PresenceEffect::Changed);
        }
        effects
    }

    /// Time passed: send what is due, forget pages that went quiet.
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
        for origin in self.origins.values_mut() {
            if origin.state.is_some() && now >= origin.expires_at {
                origin.state = None;
                changed = true;
            }
        }
        self.origins
            .retain(|_, o| o.state.is_some() || now < o.forget_at);
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
            .origins
            .values()
            .filter(|o| o.state.is_some())
            .map(|o| o.expires_at)
            .min();
        expire.map_or(send, |e| e.min(send))
    }

    /// We are leaving: say goodbye to every peer, to be passed on to the pages behind them (and
    /// forget them all).
    pub fn goodbye(&mut self, now: u64) -> Vec<PresenceEffect> {
        let bytes = self.encode_own(None, true, now);
        let effects = self.send_all(&bytes, &[]);
        self.links.clear();
        self.origins.clear();
        effects
    }

    /// Everyone else on the board, one entry per profile (not ours), by name.
    pub fn people(&self) -> Vec<Person> {
        let mut people: BTreeMap<&str, Person> = BTreeMap::new();
        for state in self.origins.values().filter_map(|o| o.state.as_ref()) {
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

fn encode(message: &Message) -> Vec<u8> {
    serde_json::to_vec(message).unwrap_or_default()
}

/// `origin`'s message `seq` (its state, or its goodbye when `None`), passed on by us: `hops` is
/// what it came with, and one fewer goes on.
fn passed_on(origin: &PeerId, seq: u64, hops: u8, state: Option<State>) -> Vec<u8> {
    encode(&Message {
        v: WIRE_VERSION,
        seq,
        origin: Some(origin.clone()),
        hops: hops.saturating_sub(1),
        bye: state.is_none(),
        state,
    })
}

mod names;

#[cfg(test)]
mod tests;
