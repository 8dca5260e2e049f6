//! The signaling socket: join, reconnect with backoff, sealed relays, the offline switch.

use super::*;

impl Session {
    pub(super) fn set_offline(&mut self, offline: bool) {
        if offline == self.offline {
            return;
        }
        self.offline = offline;
        if offline {
            self.reconnect = None;
            self.retries.clear();
            self.failures.clear();
            self.leaving.clear();
            let peers: Vec<PeerId> = self.links.keys().cloned().collect();
            for peer in peers {
                self.remove_link(&peer);
            }
            self.room_peers.clear();
            self.socket = None;
            self.joined = false;
        } else if self.persist.loaded {
            self.reconnect_attempts = 0;
            self.connect();
        }
    }

    pub(super) fn connect(&mut self) {
        if self.offline {
            return;
        }
        let weak = self.weak.clone();
        match Socket::connect(&self.ws_url, move |e| {
            dispatch_weak(&weak, Input::Socket(e))
        }) {
            Ok(socket) => self.socket = Some(socket),
            Err(e) => {
                warn(&format!("meshboard: cannot open the signaling socket: {e}"));
                self.schedule_reconnect();
            }
        }
    }

    /// The browser says the network may be back: a reconnect waiting out its backoff goes now,
    /// and the backoff starts again from its shortest delay.
    pub(super) fn network_hint(&mut self) {
        if self.offline || !self.persist.loaded || self.reconnect.is_none() {
            return;
        }
        debug("meshboard: the network may be back; reconnecting now");
        self.reconnect = None;
        self.reconnect_attempts = 0;
        self.connect();
    }

    pub(super) fn schedule_reconnect(&mut self) {
        if self.offline {
            return;
        }
        let exp = RECONNECT_BASE_MS * 2f64.powi(self.reconnect_attempts.min(16) as i32);
        self.reconnect_attempts = self.reconnect_attempts.saturating_add(1);
        let weak = self.weak.clone();
        self.reconnect = Timeout::new(jitter(exp.min(RECONNECT_CAP_MS)), move || {
            dispatch_weak(&weak, Input::Reconnect)
        })
        .map_err(|e| warn(&format!("meshboard: no timer: {e}")))
        .ok();
    }

    pub(super) fn send_server(&self, message: &ClientMessage) {
        let Some(socket) = &self.socket else { return };
        match serde_json::to_string(message) {
            Ok(text) => {
                if let Err(e) = socket.send(&text) {
                    warn(&format!("meshboard: signaling send failed: {e}"));
                }
            }
            Err(e) => warn(&format!(
                "meshboard: cannot encode a signaling message: {e}"
            )),
        }
    }

    /// Seal a signal for `peer` and relay it through the server.
    pub(super) fn send_signal(&self, peer: &PeerId, signal: &PeerSignal) {
        if !self.joined {
            return;
        }
        let nonce = match browser::random::bytes::<24>() {
            Ok(n) => n,
            Err(e) => return warn(&format!("meshboard: no randomness for sealing: {e}")),
        };
        let data = self
            .sealer
            .seal(peer, signal.encode().as_bytes(), browser::now_ms(), nonce);
        self.send_server(&ClientMessage::Signal {
            to: peer.clone(),
            data,
        });
    }

    pub(super) fn security_problem(&mut self, what: &str) {
        warn(&format!("meshboard: security: {what}"));
        self.security = Some(format!(
            "{what} Someone may be interfering with this board's connections; nothing they sent was used."
        ));
    }

    pub(super) fn on_socket(&mut self, event: SocketEvent) {
        match event {
            // The server speaks first: its challenge, which our join signs.
            SocketEvent::Open => debug("meshboard: signaling socket open"),
            SocketEvent::Closed => {
                debug("meshboard: signaling socket closed");
                // Open data channels keep syncing without the server. "Peer left" notices sent
                // as the server went down say nothing about the peers themselves.
                self.leaving.clear();
                self.socket = None;
                self.joined = false;
                self.schedule_reconnect();
            }
            SocketEvent::Text(text) => match serde_json::from_str::<ServerMessage>(&text) {
                Ok(message) => self.on_server(message),
                Err(e) => warn(&format!(
                    "meshboard: unreadable message from the signaling server: {e}"
                )),
            },
        }
    }

    /// Join the room, proving to the server that we hold the link: the room key (derived from
    /// the secret; its hash is the room id) signs this socket's challenge and the room id.
    fn join(&mut self, nonce: &str) {
        if self.joined {
            return warn("meshboard: ignoring a second challenge from the signaling server");
        }
        if !valid_hex(nonce, NONCE_HEX_LEN) {
            return warn("meshboard: ignoring a malformed challenge from the signaling server");
        }
        debug("meshboard: joining");
        let room = self.room.clone();
        let join = ClientMessage::Join {
            version: PROTOCOL_VERSION,
            sig: self
                .keys
                .room_key
                .sign_hex(&join_proof_message(nonce, &room)),
            key: self.keys.room_key.public_hex(),
            room,
        };
        self.send_server(&join);
    }

    /// The server's welcome named our (new) peer id. Links made under an earlier id are no good:
    /// the other side knows us by that id, which it drops once the server tells it that we left.
    /// So they are closed and made again under the new id (open channels survive a server that
    /// is away, not a new join).
    fn take_peer_id(&mut self, peer: PeerId) {
        if peer == self.me {
            return;
        }
        if !self.me.is_empty() {
            debug(&format!(
                "meshboard: our peer id changed from {} to {peer}: links start afresh",
                self.me
            ));
            let peers: Vec<PeerId> = self.links.keys().cloned().collect();
            for p in peers {
                self.remove_link(&p);
            }
            self.retries.clear();
            self.failures.clear();
            self.leaving.clear();
        }
        self.sealer = Sealer::new(&self.keys.seal, &self.keys.room_id, &peer);
        self.me = peer;
        self.announce_peer_id_to_tabs();
    }

    fn take_ice_servers(
        &mut self,
        ice_servers: Vec<IceServer>,
        expires_in: Option<u64>,
        policy: IceTransportPolicy,
    ) {
        if let Some(secs) = expires_in {
            debug(&format!(
                "meshboard: {} ICE server(s), credentials for {secs} s, policy {}",
                ice_servers.len(),
                policy.as_str()
            ));
        }
        // For the peer connections made from now on; open ones keep what they have.
        self.ice_servers = IceConfig {
            servers: ice_servers.into_iter().take(MAX_ICE_SERVERS).collect(),
            policy,
        };
    }

    pub(super) fn on_server(&mut self, message: ServerMessage) {
        match message {
            ServerMessage::Challenge { nonce } => self.join(&nonce),
            ServerMessage::IceServers {
                ice_servers,
                ice_expires_in_secs,
                ice_transport_policy,
            } => self.take_ice_servers(ice_servers, ice_expires_in_secs, ice_transport_policy),
            ServerMessage::Welcome {
                peer,
                peers,
                ice_servers,
                ice_expires_in_secs,
                ice_transport_policy,
            } => {
                if !valid_peer_id(&peer) {
                    warn("meshboard: the signaling server gave us no usable peer id");
                    self.socket = None;
                    return self.schedule_reconnect();
                }
                self.take_peer_id(peer);
                debug(&format!(
                    "meshboard: joined as {} with {} peer(s) in the room",
                    self.me,
                    peers.len()
                ));
                self.joined = true;
                self.reconnect_attempts = 0;
                self.take_ice_servers(ice_servers, ice_expires_in_secs, ice_transport_policy);
                self.room_peers = peers.into_iter().take(MAX_ROOM_PEERS).collect();
                let room = &self.room_peers;
                self.failures.retain(|p, _| room.contains(p));
                let peers: Vec<PeerId> = self.room_peers.iter().cloned().collect();
                for peer in peers {
                    self.consider(peer);
                }
            }
            ServerMessage::PeerJoined { peer } => {
                debug(&format!("meshboard: {peer} joined the room"));
                self.leaving.remove(&peer);
                if self.room_peers.len() < MAX_ROOM_PEERS {
                    self.room_peers.insert(peer.clone());
                    self.consider(peer);
                }
            }
            ServerMessage::PeerLeft { peer } => {
                debug(&format!("meshboard: {peer} left the room"));
                // The peer left signaling, which is not the same as leaving the board: an open
                // data channel keeps syncing (and says so itself when the peer really goes).
                self.room_peers.remove(&peer);
                self.retries.remove(&peer);
                self.failures.remove(&peer);
                match self.links.get(&peer) {
                    Some(link) if link.open => {
                        // A page that closes does not always close its channel in time; if the
                        // peer does not come back to a server we are still connected to, it is gone.
                        let (weak, p) = (self.weak.clone(), peer.clone());
                        if let Ok(t) = Timeout::new(LEAVE_GRACE_MS, move || {
                            dispatch_weak(&weak, Input::PeerGone(p))
                        }) {
                            self.leaving.insert(peer, t);
                        }
                    }
                    Some(_) => self.remove_link(&peer),
                    None => {}
                }
            }
            ServerMessage::Signal { from, data } => {
                match self.sealer.open(&from, &data, browser::now_ms()) {
                    Ok(plain) => match std::str::from_utf8(&plain)
                        .map_err(|_| crate::peer_signal::SignalError::NotText)
                        .and_then(PeerSignal::decode)
                    {
                        Ok(signal) => self.on_signal(from, signal),
                        Err(e) => warn(&format!(
                            "meshboard: ignoring a bad signal from a peer: {e}"
                        )),
                    },
                    Err(SealError::Forged) => self.security_problem(
                        "A connection message did not come from anyone holding this board's link.",
                    ),
                    Err(e @ (SealError::Replayed | SealError::Stale | SealError::FromFuture)) => {
                        self.security_problem(&format!(
                            "An old connection message was played again ({e})."
                        ))
                    }
                    Err(e) => warn(&format!("meshboard: ignoring a signal: {e}")),
                }
            }
            ServerMessage::Error { code, message } => {
                warn(&format!(
                    "meshboard: signaling server says {code:?}: {message}"
                ));
                match code {
                    ErrorCode::VersionMismatch => {
                        self.fatal = Some(
                            "This page is older than the server. Reload to update Meshboard."
                                .into(),
                        );
                    }
                    // The server could not check our proof of the link (it closes the socket;
                    // we try again with backoff, on a new socket with a new challenge).
                    ErrorCode::BadProof => {
                        self.socket = None;
                        self.schedule_reconnect();
                    }
                    // The join was refused for now: the room is full (or, never in practice,
                    // the id the server drew for us was taken). Try again later instead of
                    // staying connected but never joined.
                    ErrorCode::PeerIdTaken | ErrorCode::RoomFull if !self.joined => {
                        self.socket = None;
                        self.schedule_reconnect();
                    }
                    _ => {}
                }
            }
        }
    }
}
