//! Each instance's view of the members other instances hold, kept inside [`Rooms`] (under its
//! one lock) for the rooms this instance has peers in, and what it tells its own peers when
//! that view changes.
//!
//! The view changes on `joined`/`left` events from Redis and at each refresh, when the member
//! list read from Redis is compared with it: a member missing from Redis for longer than the
//! member TTL (a `left` lost while the subscription was down, or a Redis that restarted empty
//! and whose instance did not come back) is dropped. Every change is idempotent: a member
//! heard twice is announced once.

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    protocol::ServerMessage,
    rooms::{encode, short, RemotePeer, Room, Rooms},
};

use super::wire::parse_member;

impl Room {
    /// Adds the members of other instances among `members` (`"<peer> <instance>"`) that it does
    /// not know yet, telling its local peers; refreshes those it knows. Returns them all.
    /// At most `cap` members of other instances are kept (see [`Room::add_remote`]).
    pub(crate) fn merge_remote(
        &mut self,
        members: &[String],
        own_instance: &str,
        now: Instant,
        cap: usize,
    ) -> HashSet<String> {
        let mut seen = HashSet::new();
        for (peer, instance) in members.iter().filter_map(|m| parse_member(m)) {
            if instance == own_instance {
                continue;
            }
            seen.insert(peer.to_owned());
            self.add_remote(peer, instance, now, cap);
        }
        seen
    }

    /// Adds or refreshes one member of another instance; announces it if it is new. A room
    /// keeps at most `cap` of them (the room limit: more can only come from someone publishing
    /// on Redis what no instance would), so a flood of made-up members costs bounded memory.
    fn add_remote(&mut self, peer: &str, instance: &str, now: Instant, cap: usize) {
        if self.peers.contains_key(peer) {
            return; // one of ours after all (ids are unique; never shadow a local peer)
        }
        if let Some(known) = self.remote.get_mut(peer) {
            known.seen = now;
            if &*known.instance != instance {
                known.instance = Arc::from(instance);
            }
            return;
        }
        if self.remote.len() >= cap {
            tracing::warn!(%peer, "ignored a member of another instance: the room is full");
            return;
        }
        let full = self.broadcast(
            peer,
            &ServerMessage::PeerJoined {
                peer: peer.to_owned(),
            },
        );
        self.remote.insert(
            peer.to_owned(),
            RemotePeer {
                instance: Arc::from(instance),
                seen: now,
            },
        );
        self.evict(full);
    }

    /// Forgets a member of another instance and tells the local peers.
    fn remove_remote(&mut self, peer: &str) -> bool {
        if self.remote.remove(peer).is_none() {
            return false;
        }
        let full = self.broadcast(
            peer,
            &ServerMessage::PeerLeft {
                peer: peer.to_owned(),
            },
        );
        self.evict(full);
        true
    }
}

impl Rooms {
    /// Another instance's `peer` joined `room`: known from now on, if this instance has peers
    /// there.
    pub fn remote_joined(&self, room: &str, peer: &str, instance: &str) {
        let mut rooms = self.lock();
        if let Some(entry) = rooms.get_mut(room) {
            entry.add_remote(peer, instance, Instant::now(), self.max_peers());
        }
    }

    /// Another instance's `peer` left `room` (or expired).
    pub fn remote_left(&self, room: &str, peer: &str) {
        let mut rooms = self.lock();
        if let Some(entry) = rooms.get_mut(room) {
            if entry.remove_remote(peer) {
                tracing::debug!(room = short(room), %peer, "a peer of another instance left");
            }
        }
    }

    /// A signal from another instance for this instance's peer `to`; `false` if `to` is not
    /// here (it left meanwhile).
    pub fn deliver_remote_signal(&self, room: &str, from: &str, to: &str, data: String) -> bool {
        let Some(frame) = encode(&ServerMessage::Signal {
            from: from.to_owned(),
            data,
        }) else {
            return false;
        };
        let mut rooms = self.lock();
        let Some(entry) = rooms.get_mut(room) else {
            return false;
        };
        let Some(recipient) = entry.peers.get(to) else {
            return false;
        };
        if !recipient.deliver_frame(frame) {
            entry.evict(vec![to.to_owned()]);
        }
        true
    }

    /// Brings `room`'s view in line with `members` as Redis lists them now: new members of other
    /// instances are added; those missing from Redis and not seen for `grace` are dropped.
    pub fn reconcile(&self, room: &str, members: &[String], own_instance: &str, grace: Duration) {
        let now = Instant::now();
        let mut rooms = self.lock();
        let Some(entry) = rooms.get_mut(room) else {
            return;
        };
        let listed = entry.merge_remote(members, own_instance, now, self.max_peers());
        let stale: Vec<String> = entry
            .remote
            .iter()
            .filter(|(peer, r)| !listed.contains(*peer) && now.duration_since(r.seen) > grace)
            .map(|(peer, _)| peer.clone())
            .collect();
        for peer in stale {
            tracing::debug!(room = short(room), %peer, "dropped a peer no longer in Redis");
            entry.remove_remote(&peer);
        }
    }

    /// Every room with peers of this instance, and those peers.
    pub fn local_members(&self) -> Vec<(String, Vec<String>)> {
        self.lock()
            .iter()
            .map(|(room, entry)| (room.clone(), entry.peers.keys().cloned().collect()))
            .collect()
    }

    /// This instance's peers in `room`.
    pub fn local_peers(&self, room: &str) -> Vec<String> {
        self.lock()
            .get(room)
            .map(|entry| entry.peers.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Members of other instances in the rooms this instance has peers in.
    pub fn remote_count(&self) -> usize {
        self.lock().values().map(|r| r.remote.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ice::IceServers,
        queue::{Mailbox, Queue, QueueBudget},
    };

    const ROOM: &str = "0123456789abcdef0123456789abcdef";

    fn drain(rx: &mut Queue) -> Vec<ServerMessage> {
        std::iter::from_fn(|| rx.try_recv())
            .map(|frame| serde_json::from_str(frame.as_str()).unwrap())
            .collect()
    }

    #[test]
    fn remote_members_are_announced_once_routed_and_counted() {
        let rooms = Rooms::new(3, IceServers::default()).shared();
        let (a, mut qa) = Mailbox::new(1, &QueueBudget::new(usize::MAX, 1024));
        let members = vec!["b inst2".to_owned(), "bad".to_owned()];
        rooms
            .join_with(ROOM, "a", &a, Some((&members, "inst1")))
            .unwrap();
        let ServerMessage::Welcome { peers, .. } = &drain(&mut qa)[0] else {
            panic!("no welcome")
        };
        assert_eq!(peers, &["b"]);
        rooms.remote_joined(ROOM, "b", "inst2");
        rooms.remote_joined(ROOM, "c", "inst3");
        assert_eq!(
            drain(&mut qa),
            [ServerMessage::PeerJoined { peer: "c".into() }]
        );
        assert_eq!(
            rooms.relay(ROOM, "a", 1, "c", "x".into()).unwrap(),
            crate::rooms::Route::Remote {
                instance: "inst3".into(),
                data: "x".into()
            }
        );
        // The limit counts every instance's peers.
        let (d, _qd) = Mailbox::new(2, &QueueBudget::new(usize::MAX, 1024));
        assert!(rooms.join(ROOM, "d", &d).is_err());
        rooms.remote_left(ROOM, "c");
        rooms.remote_left(ROOM, "c");
        assert_eq!(
            drain(&mut qa),
            [ServerMessage::PeerLeft { peer: "c".into() }]
        );
        assert!(rooms.deliver_remote_signal(ROOM, "b", "a", "hi".into()));
        assert!(!rooms.deliver_remote_signal(ROOM, "b", "zz", "hi".into()));
        assert_eq!(
            drain(&mut qa),
            [ServerMessage::Signal {
                from: "b".into(),
                data: "hi".into()
            }]
        );
        // Missing from Redis: dropped only once not seen for the grace period.
        rooms.reconcile(ROOM, &[], "inst1", Duration::from_secs(60));
        assert_eq!(rooms.remote_count(), 1);
        rooms.reconcile(ROOM, &[], "inst1", Duration::ZERO);
        assert_eq!(rooms.remote_count(), 0);
        // A flood of made-up members is capped at the room limit.
        for i in 0..100 {
            rooms.remote_joined(ROOM, &format!("fake{i}"), "ghost");
        }
        assert_eq!(rooms.remote_count(), 3);
        assert_eq!(
            drain(&mut qa)[..2],
            [
                ServerMessage::PeerLeft { peer: "b".into() },
                ServerMessage::PeerJoined {
                    peer: "fake0".into()
                }
            ]
        );
    }
}
