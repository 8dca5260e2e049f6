//! One WebRTC link to a browser, driven by str0m (sans-IO) in a task of its own: one UDP
//! socket, one ordered reliable data channel named `board`, and the key proof over it before
//! any board data (`crdt::secure::proof`, bound to both DTLS fingerprints as each side's SDP
//! states them, exactly as the browser computes them).
//!
//! The task reports to its room through a bounded queue: the local description to relay, that
//! the peer proved itself, the frames it sent, and why the link ended. Frames to send wait in a
//! bounded outbox while SCTP's buffer is full.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crdt::secure::{proof, Role};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::error::LinkError;
use crate::ids::RemotePeer;
use crdt::session::peer_signal::PeerSignal;

/// The data channel the app creates for board frames (`links.rs`: `create_channel("board")`).
pub const BOARD_CHANNEL: &str = "board";
/// Frames that may wait for one slow peer, in bytes (as the app's data channel outbox).
const MAX_OUTBOX_BYTES: usize = 64 * 1024 * 1024;
/// SCTP's own send buffer; str0m refuses a write above it (`Ok(false)`): frames wait in ours.
const SCTP_BUFFER: usize = 1024 * 1024;
/// A link that has not proved itself by then is given up (as the app's `LINK_SETUP_MS`).
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Remote candidates taken per link.
const MAX_REMOTE_CANDIDATES: usize = 64;
/// Commands queued for one link.
pub const COMMAND_QUEUE: usize = 1024;

/// What a link tells its room.
#[derive(Debug)]
pub enum LinkEvent {
    /// Relay this (sealed) to the peer.
    Signal(PeerSignal),
    /// The peer proved it holds the link: board frames flow from now on.
    Proved,
    /// A board frame from a proved peer (at most `crdt::frame::MAX_FRAME` bytes).
    Frame(Vec<u8>),
    /// The link ended; nothing more comes from it.
    Closed(LinkError),
}

/// What a room tells a link.
#[derive(Debug)]
pub enum LinkCommand {
    Signal(PeerSignal),
    Send(Vec<u8>),
}

/// Where a link reports: its peer, its generation, the event.
pub type Reports = mpsc::Sender<(RemotePeer, u64, LinkEvent)>;

/// What a link needs to start.
pub struct LinkSpec {
    pub peer: RemotePeer,
    pub gen: u64,
    pub role: Role,
    /// The board's peer authentication key (`BoardKeys::auth`).
    pub auth: [u8; 32],
    /// The address our host candidate names (a concrete IP, not 0.0.0.0).
    pub ip: IpAddr,
    /// For the answerer: the peer's offer.
    pub offer: Option<String>,
}

/// The room's handle on a running link; dropping it ends the link.
pub struct LinkHandle {
    pub commands: mpsc::Sender<LinkCommand>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LinkHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Link {
    peer: RemotePeer,
    gen: u64,
    role: Role,
    auth: [u8; 32],
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    /// Our SDP as sent, and the peer's as received: the fingerprints of the proof.
    own_sdp: String,
    peer_sdp: Option<String>,
    pending_offer: Option<SdpPendingOffer>,
    remote_candidates: usize,
    channel: Option<ChannelId>,
    proof_sent: bool,
    proved: bool,
    outbox: VecDeque<Vec<u8>>,
    outbox_bytes: usize,
    /// SCTP refused the last write; frames wait until its buffer drains.
    blocked: bool,
    /// The link ended: events are no longer acted on (only what is queued is sent).
    closing: bool,
    reports: Reports,
}

/// Start a link: bind its socket, make the offer (or answer the peer's), and run it. Returns the
/// description to relay to the peer.
pub async fn start(
    spec: LinkSpec,
    reports: Reports,
) -> Result<(LinkHandle, PeerSignal), LinkError> {
    let socket = UdpSocket::bind(SocketAddr::new(spec.ip, 0)).await?;
    let local = socket.local_addr()?;
    if local.ip().is_unspecified() {
        return Err(LinkError::NoLocalAddress);
    }
    let now = Instant::now();
    let mut rtc = Rtc::builder()
        .set_sctp_max_buffered_amount(SCTP_BUFFER)
        .build(now);
    let candidate =
        Candidate::host(local, "udp").map_err(|e| LinkError::Candidate(e.to_string()))?;
    rtc.add_local_candidate(candidate);
    let (own_sdp, pending_offer, peer_sdp, signal) = match &spec.offer {
        Some(offer) => {
            let parsed =
                SdpOffer::from_sdp_string(offer).map_err(|e| LinkError::Sdp(e.to_string()))?;
            let answer = rtc.sdp_api().accept_offer(parsed)?.to_sdp_string();
            let signal = PeerSignal::Answer {
                sdp: answer.clone(),
            };
            (answer, None, Some(offer.clone()), signal)
        }
        None => {
            let mut api = rtc.sdp_api();
            api.add_channel(BOARD_CHANNEL.to_owned());
            let (offer, pending) = api
                .apply()
                .ok_or_else(|| LinkError::Sdp("nothing to offer".into()))?;
            let sdp = offer.to_sdp_string();
            let signal = PeerSignal::Offer { sdp: sdp.clone() };
            (sdp, Some(pending), None, signal)
        }
    };
    if proof::fingerprint(&own_sdp).is_none() {
        return Err(LinkError::NoFingerprint);
    }
    let (commands, inbox) = mpsc::channel(COMMAND_QUEUE);
    let link = Link {
        peer: spec.peer.clone(),
        gen: spec.gen,
        role: spec.role,
        auth: spec.auth,
        rtc,
        socket,
        local,
        own_sdp,
        peer_sdp,
        pending_offer,
        remote_candidates: 0,
        channel: None,
        proof_sent: false,
        proved: false,
        outbox: VecDeque::new(),
        outbox_bytes: 0,
        blocked: false,
        closing: false,
        reports,
    };
    let task = tokio::spawn(link.run(inbox));
    Ok((LinkHandle { commands, task }, signal))
}

impl Link {
    async fn report(&self, event: LinkEvent) -> bool {
        self.reports
            .send((self.peer.clone(), self.gen, event))
            .await
            .is_ok()
    }

    async fn run(mut self, mut inbox: mpsc::Receiver<LinkCommand>) {
        let why = self.drive(&mut inbox).await;
        tracing::debug!(peer = %self.peer, gen = self.gen, "link ended: {why}");
        // what is already queued (our proof, say) still goes out, then the close
        self.closing = true;
        let _ = self.drain().await;
        self.rtc.disconnect();
        let _ = self.drain().await;
        let _ = self.report(LinkEvent::Closed(why)).await;
    }

    /// Run until the link ends; returns why.
    async fn drive(&mut self, inbox: &mut mpsc::Receiver<LinkCommand>) -> LinkError {
        let deadline = tokio::time::Instant::now() + SETUP_TIMEOUT;
        let mut buf = vec![0u8; 2048];
        loop {
            let timeout = match self.drain().await {
                Ok(t) => t,
                Err(e) => return e,
            };
            let wait = timeout.saturating_duration_since(Instant::now());
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    let (n, source) = match received {
                        Ok(r) => r,
                        Err(e) => return LinkError::Udp(e),
                    };
                    let Some(bytes) = buf.get(..n) else { continue };
                    let Ok(contents) = bytes.try_into() else {
                        continue; // not a packet str0m knows (STUN, DTLS, ...): ignored
                    };
                    let input = Input::Receive(Instant::now(), Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: self.local,
                        contents,
                    });
                    if self.rtc.accepts(&input) {
                        if let Err(e) = self.rtc.handle_input(input) {
                            return e.into();
                        }
                    }
                }
                command = inbox.recv() => match command {
                    None => return LinkError::Closed,
                    Some(LinkCommand::Signal(signal)) => {
                        if let Err(e) = self.on_signal(signal) {
                            return e;
                        }
                    }
                    Some(LinkCommand::Send(frame)) => {
                        if let Err(e) = self.queue(frame).await {
                            return e;
                        }
                    }
                },
                _ = tokio::time::sleep(wait) => {
                    if let Err(e) = self.rtc.handle_input(Input::Timeout(Instant::now())) {
                        return e.into();
                    }
                }
                _ = tokio::time::sleep_until(deadline), if !self.proved => {
                    return LinkError::SetupTimeout(SETUP_TIMEOUT.as_secs());
                }
            }
        }
    }

    fn on_signal(&mut self, signal: PeerSignal) -> Result<(), LinkError> {
        match signal {
            PeerSignal::Answer { sdp } => {
                let Some(pending) = self.pending_offer.take() else {
                    tracing::debug!(peer = %self.peer, "an answer we did not ask for: ignored");
                    return Ok(());
                };
                let answer =
                    SdpAnswer::from_sdp_string(&sdp).map_err(|e| LinkError::Sdp(e.to_string()))?;
                self.rtc.sdp_api().accept_answer(pending, answer)?;
                self.peer_sdp = Some(sdp);
            }
            PeerSignal::Candidate(c) => {
                if self.remote_candidates >= MAX_REMOTE_CANDIDATES {
                    return Ok(());
                }
                let text = c.candidate.trim();
                let text = text.strip_prefix("a=").unwrap_or(text);
                if text.is_empty() {
                    return Ok(()); // end of candidates
                }
                match Candidate::from_sdp_string(text) {
                    Ok(candidate) => {
                        self.remote_candidates += 1;
                        self.rtc.add_remote_candidate(candidate);
                    }
                    // mDNS names (`….local`), TCP, what str0m does not take: peer-reflexive
                    // candidates from the peer's checks still find the path
                    Err(e) => tracing::debug!(peer = %self.peer, "candidate not used: {e}"),
                }
            }
            PeerSignal::Offer { .. } => {
                tracing::debug!(peer = %self.peer, "a second offer on one link: ignored");
            }
        }
        Ok(())
    }

    /// Poll str0m until it only has a timeout for us: send what it transmits, handle its events.
    async fn drain(&mut self) -> Result<Instant, LinkError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Timeout(t) => {
                    // one write per round, each drained before the next (str0m's contract)
                    if !self.write_one()? {
                        return Ok(t);
                    }
                }
                Output::Transmit(t) => {
                    // UDP: a packet the kernel cannot take now is a lost packet, which SCTP
                    // and DTLS repair
                    let _ = self.socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(event) => self.on_event(event).await?,
            }
        }
    }

    async fn on_event(&mut self, event: Event) -> Result<(), LinkError> {
        if self.closing {
            return Ok(());
        }
        match event {
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                return Err(LinkError::Closed)
            }
            Event::ChannelOpen(id, label) => {
                if label != BOARD_CHANNEL || self.channel.is_some() {
                    return Ok(());
                }
                self.channel = Some(id);
                self.send_proof()?;
            }
            Event::ChannelData(data) if Some(data.id) == self.channel => {
                if !data.binary {
                    return Err(LinkError::Refused(
                        "a text message where only binary frames are allowed",
                    ));
                }
                if data.data.len() > crdt::frame::MAX_FRAME {
                    return Err(LinkError::Refused("a message larger than a frame may be"));
                }
                if self.proved {
                    if !self.report(LinkEvent::Frame(data.data)).await {
                        return Err(LinkError::Closed);
                    }
                    return Ok(());
                }
                // our proof goes first, even if the peer's came before our channel said open
                self.send_proof()?;
                let own = proof::fingerprint(&self.own_sdp);
                let theirs = self.peer_sdp.as_deref().and_then(proof::fingerprint);
                let (Some(own), Some(theirs)) = (own, theirs) else {
                    return Err(LinkError::NoFingerprint);
                };
                if !proof::verify(&self.auth, self.role.other(), &theirs, &own, &data.data) {
                    return Err(LinkError::ProofFailed);
                }
                self.proved = true;
                if !self.report(LinkEvent::Proved).await {
                    return Err(LinkError::Closed);
                }
            }
            Event::ChannelBufferedAmountLow(id) if Some(id) == self.channel => self.blocked = false,
            Event::ChannelClose(id) if Some(id) == self.channel => return Err(LinkError::Closed),
            // presence (a negotiated channel) and everything else: not used by this peer
            _ => {}
        }
        Ok(())
    }

    fn send_proof(&mut self) -> Result<(), LinkError> {
        if self.proof_sent {
            return Ok(());
        }
        let own = proof::fingerprint(&self.own_sdp);
        let theirs = self.peer_sdp.as_deref().and_then(proof::fingerprint);
        let (Some(own), Some(theirs)) = (own, theirs) else {
            return Err(LinkError::NoFingerprint);
        };
        let message = proof::make(&self.auth, self.role, &own, &theirs);
        let id = self.channel.ok_or(LinkError::Closed)?;
        let mut channel = self.rtc.channel(id).ok_or(LinkError::Closed)?;
        channel.set_buffered_amount_low_threshold(SCTP_BUFFER / 4);
        if !channel.write(true, &message)? {
            return Err(LinkError::Backlog(message.len()));
        }
        self.proof_sent = true;
        Ok(())
    }

    async fn queue(&mut self, frame: Vec<u8>) -> Result<(), LinkError> {
        self.outbox_bytes += frame.len();
        if self.outbox_bytes > MAX_OUTBOX_BYTES {
            return Err(LinkError::Backlog(self.outbox_bytes));
        }
        self.outbox.push_back(frame);
        Ok(())
    }

    /// Hand the next queued frame to SCTP if it takes it now; `true` if one was written.
    fn write_one(&mut self) -> Result<bool, LinkError> {
        if !self.proved || self.blocked || self.closing {
            return Ok(false);
        }
        let (Some(id), Some(frame)) = (self.channel, self.outbox.front()) else {
            return Ok(false);
        };
        let Some(mut channel) = self.rtc.channel(id) else {
            return Err(LinkError::Closed);
        };
        if !channel.write(true, frame)? {
            // SCTP's buffer is full: wait for ChannelBufferedAmountLow
            self.blocked = true;
            return Ok(false);
        }
        self.outbox_bytes -= frame.len();
        self.outbox.pop_front();
        Ok(true)
    }
}
