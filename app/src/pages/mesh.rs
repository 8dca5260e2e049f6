//! The mesh panel (`mesh-open` opens it, `mesh-panel` is its root): every peer this board is
//! linked with, how the link is made (direct on this network, direct through NAT, relayed
//! through TURN: the selected ICE candidate pair of `getStats()`), its round-trip time, the bytes
//! it carried, and whether the board is in sync with that peer; and the signaling connection.
//!
//! While open it reads the session and each link's `getStats()` about once a second; closed, it
//! keeps no timer and no listener and asks nothing.

use crdt::PeerId;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::RtcPeerConnectionState;

use crate::browser::debug;
use crate::browser::listener::Listener;
use crate::browser::peer_connection;
use crate::browser::rtc_stats::{LinkStats, Route};
use crate::browser::timer::Timeout;
use crate::pages::board::SessionHandle;
use crate::session::{LinkState, MeshSnapshot, PeerSync, Signaling};

/// How often the open panel reads the links again.
const POLL_MS: u32 = 1000;

/// The name a peer is shown by: the display name its presence gave (self-asserted), else, until
/// that arrives, a short form of its peer id (which the server assigns anew on every join).
pub fn peer_name(peer: &PeerId, display: Option<&str>) -> String {
    match display.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => name.to_owned(),
        None => format!("Peer {}", short_id(peer)),
    }
}

fn short_id(peer: &PeerId) -> String {
    peer.chars().take(6).collect()
}

/// One row of the panel.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    peer: PeerId,
    name: String,
    state: LinkState,
    connection: RtcPeerConnectionState,
    /// `None` until a candidate pair is selected (or if the browser could not say).
    stats: Option<LinkStats>,
}

#[derive(Debug, Clone, PartialEq)]
struct MeshView {
    me: PeerId,
    my_name: String,
    signaling: Signaling,
    rows: Vec<Row>,
}

/// What the panel's polling shares: `round` changes whenever the panel opens or closes, so a
/// poll that was under way then stops instead of going on next to a new one.
#[derive(Clone, Copy)]
struct Poller {
    session: SessionHandle,
    view: RwSignal<Option<MeshView>>,
    timer: StoredValue<Option<Timeout>, LocalStorage>,
    round: StoredValue<u64>,
}

impl Poller {
    fn poll(self, round: u64) {
        self.session.mesh(move |snapshot| {
            spawn_local(async move { self.gather(snapshot, round).await });
        });
    }

    async fn gather(self, snapshot: MeshSnapshot, round: u64) {
        let mut rows = Vec::with_capacity(snapshot.links.len());
        for link in snapshot.links {
            let stats = match peer_connection::stats(link.pc).await {
                Ok(stats) => stats,
                Err(e) => {
                    debug(&format!("meshboard: no stats for {}: {e}", link.peer));
                    None
                }
            };
            rows.push(Row {
                name: peer_name(&link.peer, link.name.as_deref()),
                peer: link.peer,
                state: link.state,
                connection: link.connection,
                stats,
            });
        }
        if self.round.try_get_value() != Some(round) {
            return; // closed (or the page went away) while the stats were read
        }
        let view = MeshView {
            me: snapshot.me,
            my_name: snapshot.my_name,
            signaling: snapshot.signaling,
            rows,
        };
        if self.view.try_with_untracked(|v| v.as_ref() != Some(&view)) == Some(true) {
            self.view.set(Some(view));
        }
        match Timeout::new(POLL_MS, move || self.poll(round)) {
            Ok(next) => {
                self.timer.try_set_value(Some(next));
            }
            Err(e) => debug(&format!("meshboard: mesh panel: no timer: {e}")),
        }
    }
}

/// The `mesh-open` button and, while open, the panel.
#[component]
pub fn Mesh() -> impl IntoView {
    let session = expect_context::<SessionHandle>();
    let open = RwSignal::new(false);
    let poller = Poller {
        session,
        view: RwSignal::new(None),
        timer: StoredValue::new_local(None),
        round: StoredValue::new(0),
    };
    // Escape closes the panel: listened to only while it is open
    let escape = StoredValue::new_local(None::<Listener>);
    let button = NodeRef::<leptos::html::Button>::new();
    let close = move || {
        open.set(false);
        if let Some(b) = button.get_untracked() {
            let _ = b.focus();
        }
    };
    Effect::new(move |_| {
        let is_open = open.get();
        let round = poller.round.try_get_value().unwrap_or(0).wrapping_add(1);
        poller.round.try_set_value(round);
        if is_open {
            untrack(|| poller.poll(round));
            let listener = web_sys::window().and_then(|w| w.document()).map(|d| {
                Listener::new(&d, "keydown", move |e| {
                    let key = e.dyn_ref::<web_sys::KeyboardEvent>().map(|k| k.key());
                    if key.as_deref() == Some("Escape") {
                        close();
                    }
                })
            });
            match listener {
                Some(Ok(l)) => {
                    escape.try_set_value(Some(l));
                }
                Some(Err(e)) => debug(&format!("meshboard: mesh panel: no Escape key: {e}")),
                None => {}
            }
        } else {
            poller.timer.try_set_value(None);
            escape.try_set_value(None);
            poller.view.set(None);
        }
    });
    let view = poller.view;
    view! {
        <button class="button small" data-testid="mesh-open" node_ref=button
            aria-expanded=move || open.get().to_string() aria-controls="mesh-panel"
            title="How this browser is connected to the others on this board"
            on:click=move |_| open.update(|o| *o = !*o)>
            "Connections"
        </button>
        <Show when=move || open.get()>
            <section class="mesh card" id="mesh-panel" data-testid="mesh-panel" aria-labelledby="mesh-title">
                <header class="mesh-head">
                    <h2 id="mesh-title">"Connections"</h2>
                    <button class="icon-button" data-testid="mesh-close" title="Close (Esc)"
                        aria-label="Close connections" on:click=move |_| close()>"×"</button>
                </header>
                <p class="mesh-intro">
                    "Edits go straight from browser to browser. The signaling server only introduces \
                     peers to each other; it never sees what is on the board."
                </p>
                {move || view.with(|v| match v {
                    None => view! { <p class="mesh-loading">"Looking at the connections…"</p> }.into_any(),
                    Some(v) => panel_body(v).into_any(),
                })}
            </section>
        </Show>
    }
}

fn panel_body(v: &MeshView) -> impl IntoView {
    let (state, label, hint) = signaling_text(v.signaling);
    let rows = v.rows.clone();
    let empty = rows.is_empty();
    let me = (!v.me.is_empty()).then(|| peer_name(&v.me, Some(&v.my_name)));
    view! {
        <p class=format!("mesh-signaling {state}") data-testid="mesh-signaling" data-state=state>
            <span class="dot" aria-hidden="true"></span>
            <span>
                <strong>"Signaling server: "{label}</strong>
                {(!hint.is_empty()).then(|| view! { <span class="mesh-hint">{hint}</span> })}
            </span>
        </p>
        <h3 class="mesh-subhead">{match rows.len() {
            0 => "Peers".to_owned(),
            1 => "1 peer".to_owned(),
            n => format!("{n} peers"),
        }}</h3>
        {empty.then(|| view! {
            <p class="mesh-empty" data-testid="mesh-empty">
                "No one else has this board open right now. Share its link to work on it together."
            </p>
        })}
        <ul class="mesh-peers">
            {rows.into_iter().map(row_view).collect_view()}
        </ul>
        {me.map(|me| {
            let name = me.clone();
            view! {
            <p class="mesh-me" data-testid="mesh-me" data-name=name>"You are "<strong>{me}</strong>" to the others. Names are what each person calls themselves, not checked. \
                 Other tabs of this browser sync among themselves and are not listed."</p>
            }
        })}
    }
}

fn signaling_text(s: Signaling) -> (&'static str, &'static str, &'static str) {
    match s {
        Signaling::Connected => ("connected", "Connected", "New peers can find this board."),
        Signaling::Connecting => ("connecting", "Connecting…", ""),
        Signaling::Reconnecting => (
            "reconnecting",
            "Reconnecting…",
            "It cannot be reached. Open links keep syncing; new peers can join once it is back.",
        ),
        Signaling::Paused => (
            "offline",
            "Offline",
            "“Work offline” is on: no connections until you go online.",
        ),
    }
}

/// "Direct (same network)", and its `data-route`.
fn route_text(row: &Row) -> (&'static str, &'static str) {
    match (&row.state, row.stats.as_ref().map(|s| s.route)) {
        (LinkState::Connecting, None) => ("pending", "Connecting…"),
        (_, None) => ("pending", "Finding a route…"),
        (_, Some(Some(Route::Local))) => ("direct-local", "Direct (same network)"),
        (_, Some(Some(Route::Nat))) => ("direct-nat", "Direct (through NAT)"),
        (_, Some(Some(Route::Relay))) => ("relay", "Relayed (TURN)"),
        (_, Some(None)) => ("unknown", "Route unknown"),
    }
}

fn route_detail(stats: &LinkStats) -> String {
    let kind = |t: &Option<String>| t.clone().unwrap_or_else(|| "?".into());
    let mut detail = format!(
        "Candidates: {} here, {} there",
        kind(&stats.local_type),
        kind(&stats.remote_type)
    );
    if let Some(p) = &stats.protocol {
        detail.push_str(&format!(", {}", p.to_uppercase()));
    }
    detail
}

fn rtt_text(ms: Option<f64>) -> String {
    match ms {
        None => "RTT —".to_owned(),
        Some(ms) if ms < 1.0 => "RTT <1 ms".to_owned(),
        Some(ms) => format!("RTT {ms:.0} ms"),
    }
}

/// 999 B, 1.2 KB, 3.4 MB, 1.1 GB.
pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn sync_text(state: LinkState) -> (&'static str, &'static str) {
    match state {
        LinkState::Connecting => ("connecting", "Connecting…"),
        LinkState::Open(PeerSync::InSync) => ("in-sync", "In sync"),
        LinkState::Open(PeerSync::CatchingUp) => ("catching-up", "Catching up…"),
    }
}

fn row_view(row: Row) -> impl IntoView {
    let (route, route_label) = route_text(&row);
    let (sync, sync_label) = sync_text(row.state);
    let detail = row.stats.as_ref().map(route_detail);
    let rtt = row.stats.as_ref().and_then(|s| s.rtt_ms);
    let (sent, received) = row
        .stats
        .as_ref()
        .map_or((0, 0), |s| (s.bytes_sent, s.bytes_received));
    let interrupted = row.connection == RtcPeerConnectionState::Disconnected;
    view! {
        <li class="mesh-peer" data-testid="mesh-peer" data-name=row.name.clone() data-peer=row.peer.clone()
            data-route=route data-sync=sync>
            <div class="mesh-peer-head">
                <strong class="mesh-name" data-testid="mesh-name"
                    title=format!("Peer id {}…, new each time it joins", short_id(&row.peer))>{row.name.clone()}</strong>
                <span class=format!("mesh-sync {sync}") data-testid="mesh-sync" data-state=sync>{sync_label}</span>
            </div>
            <div class="mesh-facts">
                <span class=format!("mesh-route {route}") data-testid="mesh-route" data-route=route title=detail.clone()>{route_label}</span>
                <span class="mesh-rtt" data-testid="mesh-rtt" data-ms=rtt.map(|ms| format!("{ms:.3}"))
                    title="Round-trip time: how long a message takes there and back">{rtt_text(rtt)}</span>
                <span class="mesh-bytes" data-testid="mesh-bytes" data-sent=sent.to_string() data-received=received.to_string()
                    title="Bytes this link carried, both ways">
                    {format!("↑ {} sent · ↓ {} received", bytes_text(sent), bytes_text(received))}
                </span>
            </div>
            {interrupted.then(|| view! {
                <p class="mesh-note" data-testid="mesh-interrupted">"The connection is interrupted; it may recover by itself."</p>
            })}
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times_read_plainly() {
        assert_eq!(bytes_text(0), "0 B");
        assert_eq!(bytes_text(999), "999 B");
        assert_eq!(bytes_text(1536), "1.5 KB");
        assert_eq!(bytes_text(5 * 1024 * 1024), "5.0 MB");
        assert_eq!(rtt_text(None), "RTT —");
        assert_eq!(rtt_text(Some(0.3)), "RTT <1 ms");
        assert_eq!(rtt_text(Some(3.4)), "RTT 3 ms");
        let peer = "AbCdEfGhIj".to_owned();
        assert_eq!(peer_name(&peer, None), "Peer AbCdEf");
        assert_eq!(peer_name(&peer, Some(" ")), "Peer AbCdEf");
        assert_eq!(peer_name(&peer, Some("Ann")), "Ann");
    }
}
