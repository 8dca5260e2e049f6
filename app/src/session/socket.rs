//! The signaling socket: join, reconnect with backoff, sealed relays, the offline switch.

use super::*;

impl Session {
    pub(super) fn set_offline(&mut self, offline: bool) {
        self.mesh_input(MeshInput::SetOffline(offline));
    }

    /// Carry out [`MeshCommand::OpenSocket`].
    pub(super) fn open_socket(&mut self) {
        let weak = self.weak.clone();
        match Socket::connect(&self.ws_url, move |e| {
            dispatch_weak(&weak, Input::Socket(e))
        }) {
            Ok(socket) => self.socket = Some(socket),
            Err(e) => {
                warn(&format!("meshboard: cannot open the signaling socket: {e}"));
                self.mesh_input(MeshInput::SocketLost);
            }
        }
    }

    /// The browser says the network may be back: a reconnect waiting out its backoff goes now.
    pub(super) fn network_hint(&mut self) {
        if self.mesh.reconnect_pending() {
            debug("meshboard: the network may be back; reconnecting now");
        }
        self.mesh_input(MeshInput::NetworkHint);
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
        if !self.mesh.is_joined() {
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
                // Open data channels keep syncing without the server.
                self.socket = None;
                self.mesh_input(MeshInput::SocketLost);
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
        if self.mesh.is_joined() {
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

    /// The server knows us by a new peer id (the mesh core started the links afresh): seal for
    /// it, and tell the other tabs, so that they never connect to us.
    pub(super) fn take_peer_id(&mut self, peer: &PeerId) {
        self.sealer = Sealer::new(&self.keys.seal, &self.keys.room_id, peer);
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
                    return self.mesh_input(MeshInput::JoinRefused);
                }
                debug(&format!(
                    "meshboard: joined as {peer} with {} peer(s) in the room",
                    peers.len()
                ));
                self.take_ice_servers(ice_servers, ice_expires_in_secs, ice_transport_policy);
                self.mesh_input(MeshInput::Welcome { me: peer, peers });
            }
            ServerMessage::PeerJoined { peer } => {
                debug(&format!("meshboard: {peer} joined the room"));
                self.mesh_input(MeshInput::PeerJoined(peer));
            }
            ServerMessage::PeerLeft { peer } => {
                debug(&format!("meshboard: {peer} left the room"));
                // The peer left signaling, which is not the same as leaving the board: an open
                // data channel keeps syncing (the mesh core gives it a grace period).
                self.mesh_input(MeshInput::PeerLeft(peer));
            }
            ServerMessage::Signal { from, data } => {
                match self.sealer.open(&from, &data, browser::now_ms()) {
                    Ok(plain) => match PeerSignal::decode(&plain) {
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
                    ErrorCode::BadProof => self.mesh_input(MeshInput::JoinRefused),
                    // The join was refused for now: the room is full (or, never in practice,
                    // the id the server drew for us was taken). Try again later instead of
                    // staying connected but never joined.
                    ErrorCode::PeerIdTaken | ErrorCode::RoomFull if !self.mesh.is_joined() => {
                        self.mesh_input(MeshInput::JoinRefused)
                    }
                    _ => {}
                }
            }
        }
    }
}
