//! Rooms of peers, and delivery of server messages to their connections' bounded queues.
//!
//! Messages are encoded to JSON once, before they are queued (a broadcast shares one encoding),
//! so a queue holds ready-to-send text frames.
//!
//! All state sits behind one `std::sync::Mutex` that is only held for map updates and
//! non-blocking `try_send`s, never across an `.await`. A peer whose queue is full, in frames or
//! in bytes (see [`crate::queue`]; it stopped reading), is evicted from its room and its connection is told to close: nothing is buffered
//! without bound.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Instant,
};

use crate::{
    ice::IceServers,
    protocol::{valid_room_id, ErrorCode, IceServer, IceTransportPolicy, ServerMessage},
};

/// Identifies one WebSocket connection for the life of the server process.
pub type ConnId = u64;

pub use crate::queue::{encode, Frame, Mailbox};

/// Why a `join` or a `signal` was refused; sent back to the client as an `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Room {
    pub(crate) peers: HashMap<String, Mailbox>,
    /// With `--redis-url`: the members other instances hold (see [`crate::cluster`]).
    pub(crate) remote: HashMap<String, RemotePeer>,
}

/// A member of a room held by another instance.
#[derive(Debug, Clone)]
pub(crate) struct RemotePeer {
    pub(crate) instance: Arc<str>,
    /// When this instance last saw it in Redis (or heard it join).
    pub(crate) seen: Instant,
}

/// Where a relayed signal goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Queued for a peer of this instance.
    Local,
    /// The peer is held by another instance (`--redis-url`): the caller publishes `data` to it.
    Remote { instance: Arc<str>, data: String },
}

impl Room {
    /// Peers of this instance and of the others.
    pub(crate) fn len(&self) -> usize {
        self.peers.len() + self.remote.len()
    }

    fn is_member(&self, peer: &str, conn: ConnId) -> bool {
        self.peers.get(peer).is_some_and(|m| m.conn == conn)
    }

    /// Sends `msg` to every peer except `except`; returns the peers whose queues were full.
    pub(crate) fn broadcast(&self, except: &str, msg: &ServerMessage) -> Vec<String> {
        let Some(frame) = encode(msg) else {
            return Vec::new();
        };
        self.peers
            .iter()
            .filter(|(id, m)| id.as_str() != except && !m.deliver_frame(frame.clone()))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Removes `peers` (already told to close) and tells the rest; evictions may cascade when
    /// those notices find more full queues.
    pub(crate) fn evict(&mut self, mut peers: Vec<String>) {
        while let Some(peer) = peers.pop() {
            if self.peers.remove(&peer).is_some() {
                tracing::debug!(%peer, "evicted a slow reader");
                peers
                    .extend(self.broadcast(&peer, &ServerMessage::PeerLeft { peer: peer.clone() }));
            }
        }
    }
}

/// All rooms of the server.
#[derive(Debug)]
pub struct Rooms {
    rooms: Mutex<HashMap<String, Room>>,
    max_peers: usize,
    ice_servers: IceServers,
    /// Shared with other instances (`--redis-url`): rooms may hold remote members.
    shared: bool,
}

impl Rooms {
    pub fn new(max_peers: usize, ice_servers: IceServers) -> Self {
        Self {
            rooms: Mutex::default(),
            max_peers,
            ice_servers,
            shared: false,
        }
    }

    /// These rooms are shared with other instances through Redis (see [`crate::cluster`]).
    pub fn shared(mut self) -> Self {
        self.shared = true;
        self
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        // The map stays consistent even if a holder panicked: every update is a single insert or
        // remove.
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts `peer` into `room` (whose proof the caller checked). `peer` is fresh and random,
    /// drawn by the server for this connection (see [`crate::admission::new_peer_id`]), never
    /// chosen by the client. The joiner's queue gets `welcome` (before anything else from the
    /// room), the others get `peer_joined`.
    pub fn join(&self, room: &str, peer: &str, mailbox: &Mailbox) -> Result<(), Refusal> {
        self.join_with(room, peer, mailbox, None)
    }

    /// [`Rooms::join`], with `members` from Redis when the room is shared (`"<peer> <instance>"`,
    /// see [`crate::cluster`]): those of other instances are added to the room first (and
    /// announced to its local peers if new), then the limit counts every instance's peers.
    pub fn join_with(
        &self,
        room: &str,
        peer: &str,
        mailbox: &Mailbox,
        members: Option<(&[String], &str)>,
    ) -> Result<(), Refusal> {
        if !valid_room_id(room) {
            return Err(Refusal::new(
                ErrorCode::BadId,
                "room ids are 32 lowercase hex digits",
            ));
        }
        let mut rooms = self.lock();
        let entry = rooms.entry(room.to_owned()).or_default();
        if let Some((members, instance)) = members {
            entry.merge_remote(members, instance, Instant::now(), self.max_peers);
        }
        if entry.len() >= self.max_peers {
            if entry.peers.is_empty() {
                rooms.remove(room);
            }
            return Err(Refusal::new(
                ErrorCode::RoomFull,
                format!("a room holds at most {} peers", self.max_peers),
            ));
        }
        // 128 random bits do not collide; should they, the join is refused, not merged.
        if entry.peers.contains_key(peer) {
            return Err(Refusal::new(
                ErrorCode::PeerIdTaken,
                "that peer id is in use in this room",
            ));
        }
        let (ice_servers, ice_expires_in_secs, ice_transport_policy) = self.ice_servers_for(peer);
        let welcome = ServerMessage::Welcome {
            peer: peer.to_owned(),
            peers: entry
                .peers
                .keys()
                .chain(entry.remote.keys())
                .cloned()
                .collect(),
            ice_servers,
            ice_expires_in_secs,
            ice_transport_policy,
        };
        if !mailbox.deliver(&welcome) {
            // The joiner's own queue is full; it has been told to close, so it never enters.
            if entry.peers.is_empty() {
                rooms.remove(room);
            }
            return Ok(());
        }
        let full = entry.broadcast(
            peer,
            &ServerMessage::PeerJoined {
                peer: peer.to_owned(),
            },
        );
        entry.peers.insert(peer.to_owned(), mailbox.clone());
        entry.evict(full);
        tracing::debug!(room = short(room), %peer, peers = entry.peers.len(), "joined");
        Ok(())
    }

    /// The ICE servers for `peer` as of now, how long their TURN credentials last (`None`
    /// without TURN: nothing to renew), and the transport policy to use them with.
    pub fn ice_servers_for(&self, peer: &str) -> (Vec<IceServer>, Option<u64>, IceTransportPolicy) {
        (
            self.ice_servers.for_peer(peer),
            self.ice_servers.ttl().map(|ttl| ttl.as_secs()),
            self.ice_servers.policy(),
        )
    }

    /// How often a joined connection gets fresh ICE servers: at three quarters of the TURN
    /// credentials' lifetime (at least every half second); `None` without TURN.
    pub fn ice_renewal_period(&self) -> Option<std::time::Duration> {
        self.ice_servers
            .ttl()
            .map(|ttl| (ttl.saturating_mul(3) / 4).max(std::time::Duration::from_millis(500)))
    }

    /// Relays opaque `data` from `from` (on connection `conn`) to `to` in `room`; `data` is
    /// never looked at. A peer of another instance is not sent anything: its route is returned
    /// with `data` for the caller to publish.
    pub fn relay(
        &self,
        room: &str,
        from: &str,
        conn: ConnId,
        to: &str,
        data: String,
    ) -> Result<Route, Refusal> {
        // Alone (no `--redis-url`), every peer is local: one lock, as ever.
        if self.shared {
            let rooms = self.lock();
            let Some(entry) = rooms.get(room).filter(|e| e.is_member(from, conn)) else {
                return Err(Refusal::new(ErrorCode::NotJoined, "not in a room"));
            };
            if let Some(remote) = entry.remote.get(to) {
                let instance = remote.instance.clone();
                return Ok(Route::Remote { instance, data });
            }
        }
        self.relay_local(room, from, conn, to, data)
            .map(|()| Route::Local)
    }

    fn relay_local(
        &self,
        room: &str,
        from: &str,
        conn: ConnId,
        to: &str,
        data: String,
    ) -> Result<(), Refusal> {
        // Encoded before taking the lock, which is shared by all connections.
        let frame = encode(&ServerMessage::Signal {
            from: from.to_owned(),
            data,
        });
        let mut rooms = self.lock();
        let Some(entry) = rooms.get_mut(room).filter(|e| e.is_member(from, conn)) else {
            return Err(Refusal::new(ErrorCode::NotJoined, "not in a room"));
        };
        let Some(recipient) = entry.peers.get(to) else {
            return Err(Refusal::new(
                ErrorCode::UnknownPeer,
                "no such peer in this room",
            ));
        };
        if frame.is_some_and(|frame| !recipient.deliver_frame(frame)) {
            entry.evict(vec![to.to_owned()]);
        }
        Ok(())
    }

    /// Takes `peer` out of `room` if it is still this connection's, tells the others, and
    /// forgets the room once empty.
    pub fn leave(&self, room: &str, peer: &str, conn: ConnId) {
        let mut rooms = self.lock();
        let Some(entry) = rooms.get_mut(room) else {
            return;
        };
        if entry.is_member(peer, conn) {
            entry.evict(vec![peer.to_owned()]);
            tracing::debug!(room = short(room), %peer, peers = entry.peers.len(), "left");
        }
        if entry.peers.is_empty() {
            rooms.remove(room);
        }
    }

    /// Number of rooms with at least one peer.
    pub fn room_count(&self) -> usize {
        self.lock().len()
    }

    /// Numbers of rooms and of this instance's peers in them.
    pub fn counts(&self) -> (usize, usize) {
        let rooms = self.lock();
        (rooms.len(), rooms.values().map(|r| r.peers.len()).sum())
    }

    /// The most peers in one room, over all instances.
    pub fn max_peers(&self) -> usize {
        self.max_peers
    }
}

/// A prefix of a room id for logs: enough to correlate lines, not enough to join the room.
pub(crate) fn short(room: &str) -> &str {
    room.get(..4).unwrap_or(room)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: &str = "0123456789abcdef0123456789abcdef";

    fn rooms() -> Rooms {
        Rooms::new(3, IceServers::default())
    }

    use crate::queue::{Queue, QueueBudget, QUEUE_CAPACITY};

    fn mailbox(conn: ConnId) -> (Mailbox, Queue) {
        Mailbox::new(conn, &QueueBudget::new(usize::MAX, 1024))
    }

    fn drain(rx: &mut Queue) -> Vec<ServerMessage> {
        std::iter::from_fn(|| rx.try_recv())
            .map(|frame| serde_json::from_str(frame.as_str()).unwrap())
            .collect()
    }

    /// Joins with a fresh server-drawn id, as a connection does.
    fn join(r: &Rooms, mailbox: &Mailbox) -> Result<String, Refusal> {
        let peer = crate::admission::new_peer_id().unwrap();
        r.join(ROOM, &peer, mailbox).map(|()| peer)
    }

    fn welcome(rx: &mut Queue) -> (String, Vec<String>) {
        match drain(rx).first() {
            Some(ServerMessage::Welcome { peer, peers, .. }) => (peer.clone(), peers.clone()),
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    #[test]
    fn join_welcomes_and_announces() {
        let r = rooms();
        let (a, mut ra) = mailbox(1);
        let (b, mut rb) = mailbox(2);
        let ida = join(&r, &a).unwrap();
        let (me, peers) = welcome(&mut ra);
        assert_eq!((me, peers), (ida.clone(), vec![]));
        let idb = join(&r, &b).unwrap();
        assert_ne!(ida, idb);
        assert_eq!(
            drain(&mut ra),
            [ServerMessage::PeerJoined { peer: idb.clone() }]
        );
        assert_eq!(
            drain(&mut rb),
            [ServerMessage::Welcome {
                peer: idb,
                peers: vec![ida],
                ice_servers: vec![],
                ice_expires_in_secs: None,
                ice_transport_policy: IceTransportPolicy::All,
            }]
        );
    }

    #[test]
    fn refusals() {
        let r = rooms();
        let (a, _ra) = mailbox(1);
        let code = |res: Result<String, Refusal>| res.unwrap_err().code;
        assert_eq!(r.join("nope", "p", &a).unwrap_err().code, ErrorCode::BadId);
        let ida = join(&r, &a).unwrap();
        assert_eq!(
            r.join(ROOM, &ida, &a).unwrap_err().code,
            ErrorCode::PeerIdTaken
        );
        assert_eq!(
            r.relay(ROOM, &ida, 1, "zz", "x".into()).unwrap_err().code,
            ErrorCode::UnknownPeer
        );
        assert_eq!(
            r.relay(ROOM, &ida, 7, &ida, "x".into()).unwrap_err().code,
            ErrorCode::NotJoined
        );
        join(&r, &a).unwrap();
        join(&r, &a).unwrap();
        assert_eq!(code(join(&r, &a)), ErrorCode::RoomFull);
    }

    #[test]
    fn leave_only_removes_own_connection_and_drops_empty_rooms() {
        let r = rooms();
        let (a, _ra) = mailbox(1);
        let ida = join(&r, &a).unwrap();
        r.leave(ROOM, &ida, 99);
        assert_eq!(r.room_count(), 1);
        r.leave(ROOM, &ida, 1);
        assert_eq!(r.room_count(), 0);
    }

    #[test]
    fn slow_reader_is_evicted_and_told_to_close() {
        let r = rooms();
        let (a, mut ra) = mailbox(1);
        let (b, _rb_never_read) = mailbox(2);
        let ida = join(&r, &a).unwrap();
        let idb = join(&r, &b).unwrap();
        // b's queue holds its welcome; fill the rest, then one more overflows it.
        for _ in 1..QUEUE_CAPACITY {
            r.relay(ROOM, &ida, 1, &idb, "x".into()).unwrap();
        }
        r.relay(ROOM, &ida, 1, &idb, "x".into()).unwrap();
        assert_eq!(
            r.relay(ROOM, &ida, 1, &idb, "x".into()).unwrap_err().code,
            ErrorCode::UnknownPeer
        );
        assert_eq!(
            drain(&mut ra).last(),
            Some(&ServerMessage::PeerLeft { peer: idb })
        );
        // The doorbell rang: a stored permit makes `notified()` complete at once.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(1), b.kicked().notified())
                .await
                .unwrap();
        });
    }
}
