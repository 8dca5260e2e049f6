//! An `RTCPeerConnection`, with trickle ICE and one data channel.

use super::BrowserError;
use signaling::protocol::{IceServer, IceTransportPolicy};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Event, RtcConfiguration, RtcDataChannel, RtcDataChannelEvent, RtcDataChannelInit,
    RtcIceCandidateInit, RtcIceServer, RtcIceTransportPolicy, RtcPeerConnection,
    RtcPeerConnectionIceEvent, RtcPeerConnectionState, RtcSdpType, RtcSessionDescriptionInit,
};

use super::rtc_stats::{self, LinkStats, StatsError};
use crdt::session::peer_signal::Candidate;

#[derive(Debug)]
pub enum PeerEvent {
    /// A local ICE candidate to trickle to the other side.
    IceCandidate(Candidate),
    /// The other side opened a data channel (answerer side).
    DataChannel(RtcDataChannel),
    /// The connection failed or closed.
    Failed,
}

pub struct PeerConnection {
    pc: RtcPeerConnection,
    _on_ice: Closure<dyn FnMut(RtcPeerConnectionIceEvent)>,
    _on_channel: Closure<dyn FnMut(RtcDataChannelEvent)>,
    _on_state: Closure<dyn FnMut(Event)>,
}

/// What the signaling server said new peer connections should use: its ICE servers and
/// `iceTransportPolicy` (`relay` when the operator wants every link through TURN).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceConfig {
    pub servers: Vec<IceServer>,
    pub policy: IceTransportPolicy,
}

fn config(ice: &IceConfig) -> RtcConfiguration {
    let servers = js_sys::Array::new();
    for s in &ice.servers {
        let server = RtcIceServer::new();
        let urls: js_sys::Array = s.urls.iter().map(|u| JsValue::from_str(u)).collect();
        server.set_urls(&urls);
        if let Some(u) = &s.username {
            server.set_username(u);
        }
        if let Some(c) = &s.credential {
            server.set_credential(c);
        }
        servers.push(&server);
    }
    let config = RtcConfiguration::new();
    config.set_ice_servers(&servers);
    config.set_ice_transport_policy(match ice.policy {
        IceTransportPolicy::All => RtcIceTransportPolicy::All,
        IceTransportPolicy::Relay => RtcIceTransportPolicy::Relay,
    });
    config
}

fn description(kind: RtcSdpType, sdp: &str) -> RtcSessionDescriptionInit {
    let d = RtcSessionDescriptionInit::new(kind);
    d.set_sdp(sdp);
    d
}

/// The `sdp` field of what createOffer/createAnswer resolved to.
fn sdp_of(value: &JsValue) -> Result<String, BrowserError> {
    js_sys::Reflect::get(value, &JsValue::from_str("sdp"))
        .ok()
        .and_then(|v| v.as_string())
        .ok_or(BrowserError::Unexpected(
            "a session description without SDP",
        ))
}

impl PeerConnection {
    pub fn new(
        ice: &IceConfig,
        on_event: impl Fn(PeerEvent) + 'static,
    ) -> Result<Self, BrowserError> {
        let pc =
            RtcPeerConnection::new_with_configuration(&config(ice)).map_err(BrowserError::from)?;
        let on_event = std::rc::Rc::new(on_event);
        let h = on_event.clone();
        let on_ice = Closure::<dyn FnMut(RtcPeerConnectionIceEvent)>::new(
            move |e: RtcPeerConnectionIceEvent| {
                // `None` marks the end of gathering: nothing to send.
                if let Some(c) = e.candidate() {
                    h(PeerEvent::IceCandidate(Candidate {
                        candidate: c.candidate(),
                        sdp_mid: c.sdp_mid(),
                        sdp_m_line_index: c.sdp_m_line_index(),
                    }));
                }
            },
        );
        let h = on_event.clone();
        let on_channel =
            Closure::<dyn FnMut(RtcDataChannelEvent)>::new(move |e: RtcDataChannelEvent| {
                h(PeerEvent::DataChannel(e.channel()))
            });
        let h = on_event;
        let watched = pc.clone();
        let on_state = Closure::<dyn FnMut(Event)>::new(move |_| {
            if matches!(
                watched.connection_state(),
                RtcPeerConnectionState::Failed | RtcPeerConnectionState::Closed
            ) {
                h(PeerEvent::Failed);
            }
        });
        pc.set_onicecandidate(Some(on_ice.as_ref().unchecked_ref()));
        pc.set_ondatachannel(Some(on_channel.as_ref().unchecked_ref()));
        pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        Ok(PeerConnection {
            pc,
            _on_ice: on_ice,
            _on_channel: on_channel,
            _on_state: on_state,
        })
    }

    /// A handle for the async steps below (they must not borrow the owner across an await).
    pub fn handle(&self) -> RtcPeerConnection {
        self.pc.clone()
    }

    /// Create the one ordered, reliable data channel (offerer side).
    pub fn create_channel(&self, label: &str) -> RtcDataChannel {
        let init = RtcDataChannelInit::new();
        init.set_ordered(true);
        self.pc
            .create_data_channel_with_data_channel_dict(label, &init)
    }

    /// A channel both sides create with the same `id` (no announcement in the session): each
    /// link's presence channel.
    pub fn create_negotiated_channel(&self, label: &str, id: u16) -> RtcDataChannel {
        let init = RtcDataChannelInit::new();
        init.set_ordered(true);
        init.set_negotiated(true);
        init.set_id(id);
        self.pc
            .create_data_channel_with_data_channel_dict(label, &init)
    }

    pub fn has_remote_description(&self) -> bool {
        self.pc.remote_description().is_some()
    }

    /// The SDP of the local description, once set.
    pub fn local_sdp(&self) -> Option<String> {
        self.pc.local_description().map(|d| d.sdp())
    }

    /// The SDP of the remote description, once set.
    pub fn remote_sdp(&self) -> Option<String> {
        self.pc.remote_description().map(|d| d.sdp())
    }
}

/// Create an offer and make it the local description; returns its SDP.
pub async fn make_offer(pc: RtcPeerConnection) -> Result<String, BrowserError> {
    let offer = JsFuture::from(pc.create_offer())
        .await
        .map_err(BrowserError::from)?;
    let sdp = sdp_of(&offer)?;
    JsFuture::from(pc.set_local_description(&description(RtcSdpType::Offer, &sdp)))
        .await
        .map_err(BrowserError::from)?;
    Ok(sdp)
}

/// Take the remote offer and answer it; returns the answer's SDP.
pub async fn answer_offer(pc: RtcPeerConnection, offer: String) -> Result<String, BrowserError> {
    JsFuture::from(pc.set_remote_description(&description(RtcSdpType::Offer, &offer)))
        .await
        .map_err(BrowserError::from)?;
    let answer = JsFuture::from(pc.create_answer())
        .await
        .map_err(BrowserError::from)?;
    let sdp = sdp_of(&answer)?;
    JsFuture::from(pc.set_local_description(&description(RtcSdpType::Answer, &sdp)))
        .await
        .map_err(BrowserError::from)?;
    Ok(sdp)
}

pub async fn accept_answer(pc: RtcPeerConnection, answer: String) -> Result<(), BrowserError> {
    JsFuture::from(pc.set_remote_description(&description(RtcSdpType::Answer, &answer)))
        .await
        .map(|_| ())
        .map_err(BrowserError::from)
}

pub async fn add_candidate(pc: RtcPeerConnection, c: Candidate) -> Result<(), BrowserError> {
    let init = RtcIceCandidateInit::new(&c.candidate);
    init.set_sdp_mid(c.sdp_mid.as_deref());
    init.set_sdp_m_line_index(c.sdp_m_line_index);
    JsFuture::from(pc.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init)))
        .await
        .map(|_| ())
        .map_err(BrowserError::from)
}

/// The link's route, round-trip time and bytes, from `getStats()`; `Ok(None)` while no ICE
/// candidate pair is selected yet.
pub async fn stats(pc: RtcPeerConnection) -> Result<Option<LinkStats>, StatsError> {
    let report = JsFuture::from(pc.get_stats())
        .await
        .map_err(|e| StatsError::Failed(super::describe(&e)))?;
    let stats = rtc_stats::read(&rtc_stats::report_of(report)?)?;
    Ok(rtc_stats::summarize(&stats))
}

impl Drop for PeerConnection {
    fn drop(&mut self) {
        self.pc.set_onicecandidate(None);
        self.pc.set_ondatachannel(None);
        self.pc.set_onconnectionstatechange(None);
        self.pc.close();
    }
}
