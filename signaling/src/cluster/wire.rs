//! What instances tell each other through Redis: keys, channels and messages.
//!
//! A message read from Redis comes from another instance, or from anyone who can reach that
//! Redis: it is size-checked before it is parsed, parsed into a closed set of messages, and
//! every id in it is checked as the protocol checks ids from clients. A message that fails is
//! dropped and counted, never trusted.

use serde::{Deserialize, Serialize};

use crate::protocol::{valid_peer_id, valid_room_id};

/// The channel on which every instance hears every join and leave (published by the Lua
/// scripts in [`super::scripts`]).
pub const MEMBERS_CHANNEL: &str = "meshboard:members";

/// The sorted set of a room's members, `"<peer> <instance>"` scored by their expiry (Redis
/// time, in milliseconds).
pub fn room_key(room: &str) -> String {
    format!("meshboard:room:{room}")
}

/// The channel on which `instance` hears the signals for the peers it holds.
pub fn instance_channel(instance: &str) -> String {
    format!("meshboard:instance:{instance}")
}

/// A room member as the sorted set stores it: `"<peer> <instance>"`.
pub fn member(peer: &str, instance: &str) -> String {
    format!("{peer} {instance}")
}

/// Splits a stored member into `(peer, instance)`, if both are well-formed ids.
pub fn parse_member(member: &str) -> Option<(&str, &str)> {
    let (peer, instance) = member.split_once(' ')?;
    (valid_peer_id(peer) && valid_peer_id(instance)).then_some((peer, instance))
}

/// A message between instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// `peer`, held by `instance`, entered `room` (on [`MEMBERS_CHANNEL`]).
    Joined {
        room: String,
        peer: String,
        instance: String,
    },
    /// `peer` left `room`, or its instance stopped refreshing it (on [`MEMBERS_CHANNEL`]).
    Left {
        room: String,
        peer: String,
        instance: String,
    },
    /// Opaque `data` from `from` for `to` in `room` (on the channel of `to`'s instance).
    Signal {
        room: String,
        from: String,
        to: String,
        data: String,
    },
}

/// Why a message from Redis was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadEvent {
    #[error("{0} bytes is more than a message between instances may hold")]
    TooLarge(usize),
    #[error("not a message between instances: {0}")]
    Malformed(String),
    #[error("a room or peer id of the wrong form")]
    BadId,
}

/// Envelope bytes allowed on top of the largest relayed `data`.
const ENVELOPE_BYTES: usize = 1024;

impl Event {
    /// Parses `payload`, which relays at most `max_data` bytes of `data`.
    pub fn parse(payload: &[u8], max_data: usize) -> Result<Self, BadEvent> {
        if payload.len() > max_data.saturating_add(ENVELOPE_BYTES) {
            return Err(BadEvent::TooLarge(payload.len()));
        }
        let event: Event =
            serde_json::from_slice(payload).map_err(|e| BadEvent::Malformed(e.to_string()))?;
        let ok = match &event {
            Event::Joined {
                room,
                peer,
                instance,
            }
            | Event::Left {
                room,
                peer,
                instance,
            } => valid_room_id(room) && valid_peer_id(peer) && valid_peer_id(instance),
            Event::Signal {
                room,
                from,
                to,
                data,
            } => {
                if data.len() > max_data {
                    return Err(BadEvent::TooLarge(data.len()));
                }
                valid_room_id(room) && valid_peer_id(from) && valid_peer_id(to)
            }
        };
        if ok {
            Ok(event)
        } else {
            Err(BadEvent::BadId)
        }
    }

    /// The JSON text of this message.
    pub fn encode(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_and_the_shape_the_scripts_publish() {
        let e = Event::Signal {
            room: ROOM.into(),
            from: "a".into(),
            to: "b".into(),
            data: "x".into(),
        };
        let text = e.encode().unwrap();
        assert_eq!(Event::parse(text.as_bytes(), 10), Ok(e));
        // As `cjson.encode` writes it (keys in any order).
        let joined = format!(r#"{{"peer":"p","instance":"i","type":"joined","room":"{ROOM}"}}"#);
        assert_eq!(
            Event::parse(joined.as_bytes(), 10),
            Ok(Event::Joined {
                room: ROOM.into(),
                peer: "p".into(),
                instance: "i".into()
            })
        );
    }

    #[test]
    fn hostile_messages_are_refused() {
        let max = 16;
        assert!(matches!(
            Event::parse(&vec![b' '; 2000], max),
            Err(BadEvent::TooLarge(_))
        ));
        assert!(matches!(
            Event::parse(b"{\"type\":\"nope\"}", max),
            Err(BadEvent::Malformed(_))
        ));
        assert!(matches!(
            Event::parse(b"\xff\xfe", max),
            Err(BadEvent::Malformed(_))
        ));
        let bad_room = r#"{"type":"left","room":"ROOM","peer":"p","instance":"i"}"#;
        assert_eq!(Event::parse(bad_room.as_bytes(), max), Err(BadEvent::BadId));
        let bad_peer = format!(r#"{{"type":"left","room":"{ROOM}","peer":"a b","instance":"i"}}"#);
        assert_eq!(Event::parse(bad_peer.as_bytes(), max), Err(BadEvent::BadId));
        let big = Event::Signal {
            room: ROOM.into(),
            from: "a".into(),
            to: "b".into(),
            data: "x".repeat(max + 1),
        };
        assert!(matches!(
            Event::parse(big.encode().unwrap().as_bytes(), max),
            Err(BadEvent::TooLarge(_))
        ));
        let extra =
            format!(r#"{{"type":"left","room":"{ROOM}","peer":"p","instance":"i","more":1}}"#);
        assert!(Event::parse(extra.as_bytes(), max).is_err());
    }

    #[test]
    fn members_are_parsed_with_care() {
        assert_eq!(parse_member("p i"), Some(("p", "i")));
        assert_eq!(parse_member("p"), None);
        assert_eq!(parse_member("p i j"), None);
        assert_eq!(parse_member(" i"), None);
        assert_eq!(member("p", "i"), "p i");
    }
}
