//! One WebRTC link per remote peer: negotiation (the lower id offers), trickle ICE, the key proof
//! over the channel before board data, and carrying engine effects out.

use super::*;

impl Session {
    pub(super) fn peer_callbacks(&self, peer: &PeerId, gen: u64) -> impl Fn(PeerEvent) + 'static {
        let (weak, peer) = (self.weak.clone(), peer.clone());
        move |e| dispatch_weak(&weak, Input::Peer(peer.clone(), gen, e))
    }

    pub(super) fn channel_callbacks(
        &self,
        peer: &PeerId,
        gen: u64,
    ) -> impl Fn(ChannelEvent) + 'static {
        let (weak, peer) = (self.weak.clone(), peer.clone());
        move |e| dispatch_weak(&weak, Input::Channel(peer.clone(), gen, e))
    }

    pub(super) fn new_link(&mut self, peer: &PeerId, role: Role) -> Option<u64> {
        if self.links.len() >= MAX_PEERS {
            warn("meshboard: too many peers, ignoring one more");
            return None;
        }
        self.next_gen += 1;
        let gen = self.next_gen;
        debug(&format!("meshboard: link {gen} to {peer}: {role:?}"));
        match PeerConnection::new(&self.ice_servers, self.peer_callbacks(peer, gen)) {
            Ok(pc) => {
                let presence = DataChannel::new(
                    pc.create_negotiated_channel("presence", presence::PRESENCE_CHANNEL_ID),
                    self.presence_channel_callbacks(peer, gen),
                );
                let (weak, p) = (self.weak.clone(), peer.clone());
                let setup = Timeout::new(LINK_SETUP_MS, move || {
                    dispatch_weak(&weak, Input::SetupTimeout(p, gen))
                })
                .map_err(|e| warn(&format!("meshboard: no timer: {e}")))
                .ok();
                self.links.insert(
                    peer.clone(),
                    Link {
                        gen,
                        role,
                        pc,
                        channel: None,
                        presence: Some(presence),
                        early_presence: None,
                        proved: false,
                        open: false,
                        pending: Vec::new(),
                        setup,
                    },
                );
                Some(gen)
            }
            Err(e) => {
                warn(&format!("meshboard: cannot create a peer connection: {e}"));
                None
            }
        }
    }

    /// A peer is in the room: connect, unless we already are or it is its turn to offer. The
    /// peer with the lower id always offers, so two peers never offer to each other at once.
    pub(super) fn consider(&mut self, peer: PeerId) {
        if peer == self.me
            || self.links.contains_key(&peer)
            || self.me > peer
            || self.is_local_tab(&peer)
        {
            return;
        }
        let Some(gen) = self.new_link(&peer, Role::Offerer) else {
            return;
        };
        let on_channel = self.channel_callbacks(&peer, gen);
        let Some(link) = self.links.get_mut(&peer) else {
            return;
        };
        link.channel = Some(DataChannel::new(
            link.pc.create_channel("board"),
            on_channel,
        ));
        let pc = link.pc.handle();
        let weak = self.weak.clone();
        spawn_local(async move {
            let result = peer_connection::make_offer(pc)
                .await
                .map(|sdp| PeerSignal::Offer { sdp });
            dispatch_weak(&weak, Input::Described(peer, gen, result));
        });
    }

    pub(super) fn on_signal(&mut self, from: PeerId, signal: PeerSignal) {
        if !self.room_peers.contains(&from) || self.is_local_tab(&from) {
            return;
        }
        match signal {
            PeerSignal::Offer { sdp } => {
                if self.me < from {
                    warn("meshboard: ignoring an offer from a peer that should answer");
                    return;
                }
                // A new offer replaces whatever we had with that peer (it restarted the link).
                self.remove_link(&from);
                let Some(gen) = self.new_link(&from, Role::Answerer) else {
                    return;
                };
                let Some(link) = self.links.get(&from) else {
                    return;
                };
                let pc = link.pc.handle();
                let weak = self.weak.clone();
                spawn_local(async move {
                    let result = peer_connection::answer_offer(pc, sdp)
                        .await
                        .map(|sdp| PeerSignal::Answer { sdp });
                    dispatch_weak(&weak, Input::Described(from, gen, result));
                });
            }
            PeerSignal::Answer { sdp } => {
                let Some(link) = self.links.get(&from) else {
                    return;
                };
                let (pc, gen) = (link.pc.handle(), link.gen);
                let weak = self.weak.clone();
                spawn_local(async move {
                    let result = peer_connection::accept_answer(pc, sdp).await;
                    dispatch_weak(&weak, Input::RemoteSet(from, gen, result));
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

    pub(super) fn on_peer(&mut self, peer: PeerId, gen: u64, event: PeerEvent) {
        if self.links.get(&peer).is_none_or(|l| l.gen != gen) {
            return;
        }
        match event {
            PeerEvent::IceCandidate(c) => self.send_signal(&peer, &PeerSignal::Candidate(c)),
            PeerEvent::DataChannel(channel) => {
                let on_channel = self.channel_callbacks(&peer, gen);
                let Some(link) = self.links.get_mut(&peer) else {
                    return;
                };
                if link.channel.is_some() {
                    return; // one channel per peer
                }
                let channel = DataChannel::new(channel, on_channel);
                let already_open = channel.is_open();
                link.channel = Some(channel);
                if already_open {
                    self.on_channel(peer, gen, ChannelEvent::Open);
                }
            }
            PeerEvent::Failed => self.link_failed(&peer, "connection failed"),
        }
    }

    /// The DTLS fingerprints of a link: ours (local description) and the peer's (remote).
    pub(super) fn fingerprints(link: &Link) -> Option<(String, String)> {
        let own = proof::fingerprint(&link.pc.local_sdp()?)?;
        let peer = proof::fingerprint(&link.pc.remote_sdp()?)?;
        Some((own, peer))
    }

    pub(super) fn on_channel(&mut self, peer: PeerId, gen: u64, event: ChannelEvent) {
        let Some(link) = self.links.get_mut(&peer).filter(|l| l.gen == gen) else {
            return;
        };
        match event {
            ChannelEvent::Open => {
                if std::mem::replace(&mut link.proved, true) {
                    return;
                }
                debug(&format!(
                    "meshboard: link {gen} to {peer}: channel open, proving"
                ));
                // Before any board data: prove we hold the key, bound to both fingerprints.
                let Some((own, theirs)) = Self::fingerprints(link) else {
                    return self
                        .link_failed(&peer, "no DTLS fingerprint in the session description");
                };
                let message = proof::make(&self.keys.auth, link.role, &own, &theirs);
                if let Some(Err(e)) = link.channel.as_ref().map(|c| c.send(&message)) {
                    self.link_failed(&peer, &format!("send failed: {e}"));
                }
            }
            ChannelEvent::Message(bytes) => {
                if link.open {
                    let effects = self
                        .engine
                        .handle(Event::Frame(peer, bytes), browser::now_ms());
                    self.run(effects);
                    return;
                }
                if !link.proved {
                    // The peer's first message came before our channel said "open": our proof
                    // goes first, or the Hello sent on Connected below would reach the peer
                    // where it expects our proof.
                    self.on_channel(peer.clone(), gen, ChannelEvent::Open);
                    return self.on_channel(peer, gen, ChannelEvent::Message(bytes));
                }
                // The first message on a channel is the peer's proof.
                let verified = Self::fingerprints(link).is_some_and(|(own, theirs)| {
                    proof::verify(&self.keys.auth, link.role.other(), &theirs, &own, &bytes)
                });
                if !verified {
                    let head: String = bytes.iter().take(12).map(|b| format!("{b:02x}")).collect();
                    debug(&format!(
                        "meshboard: link {gen} to {peer}: first message ({} B, {head}…) is no proof for {:?}",
                        bytes.len(),
                        Self::fingerprints(link)
                    ));
                    self.security_problem("A peer could not prove it holds this board's link, or the connection was intercepted.");
                    // tried again, later each time: an interceptor fails every time, and nothing
                    // else should ever fail this way, but if something does, giving up on the
                    // peer for good would be worse
                    return self.link_failed(&peer, "peer proof failed");
                }
                debug(&format!("meshboard: link {gen} to {peer}: proved, syncing"));
                link.open = true;
                link.setup = None;
                self.failures.remove(&peer);
                let effects = self
                    .engine
                    .handle(Event::Connected(peer.clone()), browser::now_ms());
                self.run(effects);
                self.presence_connected(&peer);
            }
            ChannelEvent::Refused(why) => {
                self.link_failed(&peer, &format!("it sent {why}"));
            }
            ChannelEvent::Closed => self.link_failed(&peer, "channel closed"),
        }
    }

    /// Forget a peer's link; the engine forgets its sync state.
    pub(super) fn remove_link(&mut self, peer: &PeerId) {
        if let Some(link) = self.links.remove(peer) {
            if link.open {
                let effects = self
                    .engine
                    .handle(Event::Disconnected(peer.clone()), browser::now_ms());
                self.run(effects);
                self.presence_disconnected(peer);
            }
        }
    }

    /// A link broke: drop it, and if that peer is still in the room and it is our turn to offer,
    /// try again shortly (the other side waits for our offer); each failure in a row doubles the
    /// wait, up to a minute.
    pub(super) fn link_failed(&mut self, peer: &PeerId, why: &str) {
        if !self.links.contains_key(peer) {
            return;
        }
        warn(&format!("meshboard: link to a peer ended: {why} ({peer})"));
        self.remove_link(peer);
        if !self.room_peers.contains(peer) {
            return;
        }
        let failures = self.failures.entry(peer.clone()).or_insert(0);
        *failures = failures.saturating_add(1);
        let delay = PEER_RETRY_MS * 2f64.powi((*failures - 1).min(10) as i32);
        if self.me < *peer && !self.retries.contains_key(peer) {
            let (weak, p) = (self.weak.clone(), peer.clone());
            if let Ok(t) = Timeout::new(jitter(delay.min(PEER_RETRY_CAP_MS)), move || {
                dispatch_weak(&weak, Input::RetryPeer(p))
            }) {
                self.retries.insert(peer.clone(), t);
            }
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
                        self.link_failed(&peer, &format!("send failed: {e}"));
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
                    self.remove_link(&peer);
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
