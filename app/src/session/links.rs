//! Carrying out the mesh core's decisions with the browser's WebRTC: one peer connection per
//! link, negotiation (the core says who offers), trickle ICE, the key proof over the channel
//! before board data, and the engine's effects on the channels.

use super::*;

impl Session {
    /// Tell the mesh core what happened and carry out what it decides.
    pub(super) fn mesh_input(&mut self, input: MeshInput) {
        let commands = self.mesh.handle(input, browser::now_ms());
        self.presence.set_relay(self.mesh.partial());
        for command in commands {
            self.carry_out(command);
        }
        self.schedule_mesh();
    }

    fn schedule_mesh(&mut self) {
        let Some(at) = self.mesh.wake_at() else {
            self.mesh_wake = None;
            return;
        };
        if self.mesh_wake.as_ref().is_some_and(|(t, _)| *t == at) {
            return;
        }
        let delay = u32::try_from(at.saturating_sub(browser::now_ms())).unwrap_or(u32::MAX);
        let weak = self.weak.clone();
        self.mesh_wake = Timeout::new(delay, move || dispatch_weak(&weak, Input::MeshTick))
            .map_err(|e| warn(&format!("meshboard: no timer: {e}")))
            .ok()
            .map(|t| (at, t));
    }

    fn carry_out(&mut self, command: MeshCommand) {
        match command {
            MeshCommand::OpenSocket => self.open_socket(),
            MeshCommand::CloseSocket => self.socket = None,
            MeshCommand::NewPeerId(me) => self.take_peer_id(&me),
            // a command from a batch whose earlier command failed the link is out of date
            MeshCommand::Offer { peer, link } if self.mesh.is_current(&peer, link) => {
                self.offer(peer, link)
            }
            MeshCommand::Answer { peer, link } if self.mesh.is_current(&peer, link) => {
                self.answer(peer, link)
            }
            MeshCommand::SendProof { peer, link, role } if self.mesh.is_current(&peer, link) => {
                self.send_proof(&peer, role)
            }
            MeshCommand::Opened { peer, link } if self.mesh.is_current(&peer, link) => {
                debug(&format!(
                    "meshboard: link {link} to {peer}: proved, syncing"
                ));
                let effects = self
                    .engine
                    .handle(Event::Connected(peer.clone()), browser::now_ms());
                self.run(effects);
                self.presence_connected(&peer);
            }
            MeshCommand::Close {
                peer,
                link,
                was_open,
                why,
            } => self.close_link(&peer, link, was_open, why),
            MeshCommand::Offer { .. }
            | MeshCommand::Answer { .. }
            | MeshCommand::SendProof { .. }
            | MeshCommand::Opened { .. } => {}
        }
    }

    pub(super) fn peer_callbacks(
        &self,
        peer: &PeerId,
        link: LinkId,
    ) -> impl Fn(PeerEvent) + 'static {
        let (weak, peer) = (self.weak.clone(), peer.clone());
        move |e| dispatch_weak(&weak, Input::Peer(peer.clone(), link, e))
    }

    pub(super) fn channel_callbacks(
        &self,
        peer: &PeerId,
        link: LinkId,
    ) -> impl Fn(ChannelEvent) + 'static {
        let (weak, peer) = (self.weak.clone(), peer.clone());
        move |e| dispatch_weak(&weak, Input::Channel(peer.clone(), link, e))
    }

    /// The browser's side of a new link: its peer connection and presence channel.
    fn new_link(&mut self, peer: &PeerId, link: LinkId) -> bool {
        debug(&format!("meshboard: link {link} to {peer}"));
        match PeerConnection::new(&self.ice_servers, self.peer_callbacks(peer, link)) {
            Ok(pc) => {
                let presence = DataChannel::new(
                    pc.create_negotiated_channel("presence", presence::PRESENCE_CHANNEL_ID),
                    self.presence_channel_callbacks(peer, link),
                );
                self.links.insert(
                    peer.clone(),
                    Link {
                        id: link,
                        pc,
                        channel: None,
                        presence: Some(presence),
                        early_presence: Vec::new(),
                        pending: Vec::new(),
                    },
                );
                true
            }
            Err(e) => {
                warn(&format!("meshboard: cannot create a peer connection: {e}"));
                self.mesh_input(MeshInput::Failed {
                    peer: peer.clone(),
                    link,
                    why: LinkFailure::Unavailable,
                });
                false
            }
        }
    }

    fn offer(&mut self, peer: PeerId, link: LinkId) {
        if !self.new_link(&peer, link) {
            return;
        }
        let on_channel = self.channel_callbacks(&peer, link);
        let Some(l) = self.links.get_mut(&peer) else {
            return;
        };
        l.channel = Some(DataChannel::new(l.pc.create_channel("board"), on_channel));
        let pc = l.pc.handle();
        let weak = self.weak.clone();
        spawn_local(async move {
            let result = peer_connection::make_offer(pc)
                .await
                .map(|sdp| PeerSignal::Offer { sdp });
            dispatch_weak(&weak, Input::Described(peer, link, result));
        });
    }

    fn answer(&mut self, peer: PeerId, link: LinkId) {
        let Some(sdp) = self.offer_sdp.take() else {
            return;
        };
        if !self.new_link(&peer, link) {
            return;
        }
        let Some(l) = self.links.get(&peer) else {
            return;
        };
        let pc = l.pc.handle();
        let weak = self.weak.clone();
        spawn_local(async move {
            let result = peer_connection::answer_offer(pc, sdp)
                .await
                .map(|sdp| PeerSignal::Answer { sdp });
            dispatch_weak(&weak, Input::Described(peer, link, result));
        });
    }

    /// The browser's link to `peer` is `link`, the one the mesh core holds.
    pub(super) fn is_current(&self, peer: &PeerId, link: LinkId) -> bool {
        self.mesh.is_current(peer, link) && self.links.get(peer).is_some_and(|l| l.id == link)
    }

    /// The current link to `peer` failed.
    pub(super) fn fail(&mut self, peer: &PeerId, why: LinkFailure) {
        if let Some(link) = self.links.get(peer).map(|l| l.id) {
            self.mesh_input(MeshInput::Failed {
                peer: peer.clone(),
                link,
                why,
            });
        }
    }

    fn close_link(
        &mut self,
        peer: &PeerId,
        link: LinkId,
        was_open: bool,
        why: Option<LinkFailure>,
    ) {
        if self.links.get(peer).is_some_and(|l| l.id == link) {
            self.links.remove(peer);
        }
        if let Some(why) = why {
            warn(&format!("meshboard: link to a peer ended: {why} ({peer})"));
        }
        if why == Some(LinkFailure::ProofFailed) {
            // tried again, later each time: an interceptor fails every time, and nothing else
            // should ever fail this way, but if something does, giving up on the peer for good
            // would be worse
            self.security_problem(
                "A peer could not prove it holds this board's link, or the connection was intercepted.",
            );
        }
        if was_open {
            let effects = self
                .engine
                .handle(Event::Disconnected(peer.clone()), browser::now_ms());
            self.run(effects);
            self.presence_disconnected(peer);
        }
    }

    pub(super) fn on_signal(&mut self, from: PeerId, signal: PeerSignal) {
        if !self.mesh.in_room(&from) || self.mesh.is_tab_peer(&from) {
            return;
        }
        match signal {
            PeerSignal::Offer { sdp } => {
                if self.mesh.me().is_some_and(|me| *me < from) {
                    warn("meshboard: ignoring an offer from a peer that should answer");
                    return;
                }
                // the core answers with a new link (replacing any we had: the peer restarted)
                self.offer_sdp = Some(sdp);
                self.mesh_input(MeshInput::Offer(from));
                self.offer_sdp = None;
            }
            PeerSignal::Answer { sdp } => {
                let Some(link) = self.links.get(&from) else {
                    return;
                };
                let (pc, id) = (link.pc.handle(), link.id);
                let weak = self.weak.clone();
                spawn_local(async move {
                    let result = peer_connection::accept_answer(pc, sdp).await;
                    dispatch_weak(&weak, Input::RemoteSet(from, id, result));
                });
            }
            PeerSignal::Candidate(candidate) => {
                let Some(link) = self.links.get_mut(&from) else {
                    return;
                };
                if link.pc.has_remote_description() {
                    add_candidate(&link.pc, candidate);
                } else if link.pending.len() < MAX_PENDING_CANDIDATES {
                    link.pending.push(candidate);
                }
            }
        }
    }

    pub(super) fn flush_candidates(&mut self, peer: &PeerId) {
        let Some(link) = self.links.get_mut(peer) else {
            return;
        };
        for candidate in std::mem::take(&mut link.pending) {
            add_candidate(&link.pc, candidate);
        }
    }

    pub(super) fn on_peer(&mut self, peer: PeerId, link: LinkId, event: PeerEvent) {
        if !self.is_current(&peer, link) {
            return;
        }
        match event {
            PeerEvent::IceCandidate(c) => self.send_signal(&peer, &PeerSignal::Candidate(c)),
            PeerEvent::DataChannel(channel) => {
                let on_channel = self.channel_callbacks(&peer, link);
                let Some(l) = self.links.get_mut(&peer) else {
                    return;
                };
                if l.channel.is_some() {
                    return; // one channel per peer
                }
                let channel = DataChannel::new(channel, on_channel);
                let already_open = channel.is_open();
                l.channel = Some(channel);
                if already_open {
                    self.on_channel(peer, link, ChannelEvent::Open);
                }
            }
            PeerEvent::Failed => self.fail(&peer, LinkFailure::ConnectionFailed),
        }
    }

    /// The DTLS fingerprints of a link: ours (local description) and the peer's (remote).
    fn fingerprints(link: &Link) -> Option<(String, String)> {
        let own = proof::fingerprint(&link.pc.local_sdp()?)?;
        let peer = proof::fingerprint(&link.pc.remote_sdp()?)?;
        Some((own, peer))
    }

    /// Before any board data: prove we hold the key, bound to both fingerprints.
    fn send_proof(&mut self, peer: &PeerId, role: Role) {
        let Some(link) = self.links.get(peer) else {
            return;
        };
        debug(&format!("meshboard: link {} to {peer}: proving", link.id));
        let Some((own, theirs)) = Self::fingerprints(link) else {
            return self.fail(peer, LinkFailure::NoFingerprint);
        };
        let message = proof::make(&self.keys.auth, role, &own, &theirs);
        if let Some(Err(e)) = link.channel.as_ref().map(|c| c.send(&message)) {
            warn(&format!("meshboard: cannot send our proof to {peer}: {e}"));
            self.fail(peer, LinkFailure::SendFailed);
        }
    }

    pub(super) fn on_channel(&mut self, peer: PeerId, link: LinkId, event: ChannelEvent) {
        if !self.is_current(&peer, link) {
            return;
        }
        match event {
            ChannelEvent::Open => self.mesh_input(MeshInput::ChannelOpen(peer, link)),
            ChannelEvent::Message(bytes) if self.mesh.is_open(&peer) => {
                let effects = self
                    .engine
                    .handle(Event::Frame(peer, bytes), browser::now_ms());
                self.run(effects);
            }
            ChannelEvent::Message(bytes) => {
                // The first message on a channel is the peer's proof.
                let Some(l) = self.links.get(&peer) else {
                    return;
                };
                let Some(role) = self.mesh.link(&peer).map(|l| l.role) else {
                    return;
                };
                let valid = Self::fingerprints(l).is_some_and(|(own, theirs)| {
                    proof::verify(&self.keys.auth, role.other(), &theirs, &own, &bytes)
                });
                if !valid {
                    let head: String = bytes.iter().take(12).map(|b| format!("{b:02x}")).collect();
                    debug(&format!(
                        "meshboard: link {link} to {peer}: first message ({} B, {head}…) is no proof for {:?}",
                        bytes.len(),
                        Self::fingerprints(l)
                    ));
                }
                self.mesh_input(MeshInput::Proof { peer, link, valid });
            }
            ChannelEvent::Refused(why) => {
                warn(&format!("meshboard: {peer} sent {why}"));
                self.fail(&peer, LinkFailure::Refused);
            }
            ChannelEvent::Closed => self.fail(&peer, LinkFailure::ChannelClosed),
        }
    }

    pub(super) fn run(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send { peer, frame } => {
                    let sent = self
                        .links
                        .get(&peer)
                        .and_then(|l| l.channel.as_ref())
                        .map(|c| c.send(&frame));
                    if let Some(Err(e)) = sent {
                        warn(&format!("meshboard: send to {peer} failed: {e}"));
                        self.fail(&peer, LinkFailure::SendFailed);
                    }
                }
                Effect::DocChanged => {
                    self.view_dirty = true;
                    self.persist.core.changed(browser::now_ms());
                }
                Effect::WakeAt { at_ms } => {
                    let delay = at_ms.saturating_sub(browser::now_ms());
                    let weak = self.weak.clone();
                    let delay = u32::try_from(delay).unwrap_or(u32::MAX);
                    self.wake = Timeout::new(delay, move || dispatch_weak(&weak, Input::Tick)).ok();
                }
                Effect::DropPeer { peer, reason } => {
                    warn(&format!(
                        "meshboard: dropping a peer that sent bad data: {reason}"
                    ));
                    self.fail(&peer, LinkFailure::BadData);
                }
            }
        }
    }
}

fn add_candidate(pc: &PeerConnection, candidate: Candidate) {
    let pc = pc.handle();
    spawn_local(async move {
        if let Err(e) = peer_connection::add_candidate(pc, candidate).await {
            warn(&format!("meshboard: ICE candidate rejected: {e}"));
        }
    });
}
