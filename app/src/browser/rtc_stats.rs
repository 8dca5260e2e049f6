//! What `RTCPeerConnection.getStats()` says about a link, typed: how it is made (the selected
//! ICE candidate pair's candidate types), its round-trip time and the bytes it carried.
//! [`crate::browser::peer_connection::stats`] asks the browser; this file reads the report.

use std::collections::HashMap;

use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::RtcStatsReport;

/// How the packets of a link travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Both ends use their own addresses (host candidates): the same network.
    Local,
    /// At least one end is seen through a NAT (server- or peer-reflexive candidates), nothing
    /// relayed: still browser to browser.
    Nat,
    /// Through a TURN server (a relay candidate on either end).
    Relay,
}

impl Route {
    /// The route of a pair whose ends have these ICE candidate types (`host`, `srflx`, `prflx`,
    /// `relay`); `None` for a type the browser invented since.
    pub fn of(local: &str, remote: &str) -> Option<Route> {
        let rank = |t: &str| match t {
            "host" => Some(0),
            "srflx" | "prflx" => Some(1),
            "relay" => Some(2),
            _ => None,
        };
        Some(match rank(local)?.max(rank(remote)?) {
            0 => Route::Local,
            1 => Route::Nat,
            _ => Route::Relay,
        })
    }
}

/// What one link's stats say, once a candidate pair is selected.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkStats {
    /// `None` if a candidate type is missing or unknown.
    pub route: Option<Route>,
    /// The ICE candidate types of our end and theirs (`host`, `srflx`, `prflx`, `relay`).
    pub local_type: Option<String>,
    pub remote_type: Option<String>,
    /// `udp` or `tcp`.
    pub protocol: Option<String>,
    /// The pair's `currentRoundTripTime`, in milliseconds (absent until a check came back).
    pub rtt_ms: Option<f64>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("getStats() failed: {0}")]
    Failed(String),
    #[error("the stats report cannot be read: {0}")]
    Unreadable(String),
}

/// The fields of one stats object that [`summarize`] reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stat {
    /// Its `type`: `transport`, `candidate-pair`, `local-candidate`, `remote-candidate`, …
    pub kind: String,
    /// transport: `selectedCandidatePairId`
    pub selected_pair: Option<String>,
    /// candidate-pair (and transport, for the bytes): `state`, `nominated`, `selected` (Firefox), `localCandidateId`,
    /// `remoteCandidateId`, `currentRoundTripTime` (seconds), `bytesSent`, `bytesReceived`
    pub state: Option<String>,
    pub nominated: bool,
    pub selected: bool,
    pub local_candidate: Option<String>,
    pub remote_candidate: Option<String>,
    pub rtt_s: Option<f64>,
    pub bytes_sent: Option<f64>,
    pub bytes_received: Option<f64>,
    /// candidates: `candidateType`, `protocol`
    pub candidate_type: Option<String>,
    pub protocol: Option<String>,
}

/// The link as the report tells it (stats by id): its selected candidate pair is the one the
/// transport names, else (browsers without `selectedCandidatePairId`) a pair marked selected,
/// else the nominated pair that succeeded. `None` while no pair is selected.
///
/// Bytes are the transport's, which count the link's whole life: ICE may switch to another pair
/// on the way (another interface), and each pair counts only what went over it.
pub fn summarize(report: &HashMap<String, Stat>) -> Option<LinkStats> {
    let transports = || report.values().filter(|s| s.kind == "transport");
    let selected = transports().find_map(|t| {
        let pair = report.get(t.selected_pair.as_ref()?)?;
        (pair.kind == "candidate-pair").then_some((t, pair))
    });
    let transport = selected.map(|(t, _)| t).or_else(|| transports().next());
    let pair = selected.map(|(_, p)| p).or_else(|| {
        let pairs = || report.values().filter(|s| s.kind == "candidate-pair");
        pairs()
            .find(|p| p.selected)
            .or_else(|| pairs().find(|p| p.nominated && p.state.as_deref() == Some("succeeded")))
    })?;
    let candidate = |id: &Option<String>| id.as_ref().and_then(|id| report.get(id));
    let (local, remote) = (
        candidate(&pair.local_candidate),
        candidate(&pair.remote_candidate),
    );
    let local_type = local.and_then(|c| c.candidate_type.clone());
    let remote_type = remote.and_then(|c| c.candidate_type.clone());
    let route = match (&local_type, &remote_type) {
        (Some(l), Some(r)) => Route::of(l, r),
        _ => None,
    };
    let bytes = |b: Option<f64>| b.filter(|b| b.is_finite() && *b > 0.0).unwrap_or(0.0) as u64;
    Some(LinkStats {
        route,
        local_type,
        remote_type,
        protocol: local.or(remote).and_then(|c| c.protocol.clone()),
        rtt_ms: pair
            .rtt_s
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(|t| t * 1000.0),
        bytes_sent: bytes(transport.and_then(|t| t.bytes_sent).or(pair.bytes_sent)),
        bytes_received: bytes(
            transport
                .and_then(|t| t.bytes_received)
                .or(pair.bytes_received),
        ),
    })
}

fn field(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

fn read_stat(object: &JsValue) -> Stat {
    let text = |name| field(object, name).as_string();
    let number = |name| field(object, name).as_f64();
    let flag = |name| field(object, name).as_bool().unwrap_or(false);
    Stat {
        kind: text("type").unwrap_or_default(),
        selected_pair: text("selectedCandidatePairId"),
        state: text("state"),
        nominated: flag("nominated"),
        selected: flag("selected"),
        local_candidate: text("localCandidateId"),
        remote_candidate: text("remoteCandidateId"),
        rtt_s: number("currentRoundTripTime"),
        bytes_sent: number("bytesSent"),
        bytes_received: number("bytesReceived"),
        candidate_type: text("candidateType"),
        protocol: text("protocol"),
    }
}

/// Read the stats objects of a report into [`Stat`]s by id.
pub fn read(report: &RtcStatsReport) -> Result<HashMap<String, Stat>, StatsError> {
    let values = js_sys::try_iter(&report.values())
        .map_err(|e| StatsError::Unreadable(super::describe(&e)))?
        .ok_or_else(|| StatsError::Unreadable("not iterable".into()))?;
    let mut stats = HashMap::new();
    for value in values {
        let value = value.map_err(|e| StatsError::Unreadable(super::describe(&e)))?;
        if !value.is_object() {
            continue;
        }
        if let Some(id) = field(&value, "id").as_string() {
            stats.insert(id, read_stat(&value));
        }
    }
    Ok(stats)
}

/// `getStats()`'s promise resolved to this: a report, or something else.
pub fn report_of(value: JsValue) -> Result<RtcStatsReport, StatsError> {
    if value.is_object() {
        Ok(value.unchecked_into())
    } else {
        Err(StatsError::Unreadable("getStats() gave no report".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(kind: &str) -> Stat {
        Stat {
            kind: kind.into(),
            ..Stat::default()
        }
    }

    fn candidate(kind: &str, candidate_type: &str) -> Stat {
        Stat {
            candidate_type: Some(candidate_type.into()),
            protocol: Some("udp".into()),
            ..stat(kind)
        }
    }

    fn pair(local: &str, remote: &str, rtt_s: f64, sent: f64, received: f64) -> Stat {
        Stat {
            state: Some("succeeded".into()),
            local_candidate: Some(local.into()),
            remote_candidate: Some(remote.into()),
            rtt_s: Some(rtt_s),
            bytes_sent: Some(sent),
            bytes_received: Some(received),
            ..stat("candidate-pair")
        }
    }

    fn report(entries: Vec<(&str, Stat)>) -> HashMap<String, Stat> {
        entries
            .into_iter()
            .map(|(id, s)| (id.to_owned(), s))
            .collect()
    }

    #[test]
    fn routes_follow_the_less_direct_end() {
        assert_eq!(Route::of("host", "host"), Some(Route::Local));
        assert_eq!(Route::of("host", "srflx"), Some(Route::Nat));
        assert_eq!(Route::of("prflx", "host"), Some(Route::Nat));
        assert_eq!(Route::of("srflx", "relay"), Some(Route::Relay));
        assert_eq!(Route::of("relay", "host"), Some(Route::Relay));
        assert_eq!(Route::of("host", "quantum"), None);
    }

    #[test]
    fn the_transports_selected_pair_is_the_link() {
        let r = report(vec![
            (
                "T1",
                Stat {
                    selected_pair: Some("P2".into()),
                    ..stat("transport")
                },
            ),
            // a pair that also succeeded, not the selected one
            (
                "P1",
                Stat {
                    nominated: true,
                    ..pair("L1", "R1", 0.5, 1.0, 1.0)
                },
            ),
            ("P2", pair("L2", "R2", 0.0031, 1200.0, 3400.0)),
            ("L1", candidate("local-candidate", "host")),
            ("R1", candidate("remote-candidate", "host")),
            ("L2", candidate("local-candidate", "relay")),
            ("R2", candidate("remote-candidate", "host")),
        ]);
        let s = summarize(&r).unwrap();
        assert_eq!(s.route, Some(Route::Relay));
        assert_eq!(s.local_type.as_deref(), Some("relay"));
        assert_eq!(s.remote_type.as_deref(), Some("host"));
        assert_eq!(s.protocol.as_deref(), Some("udp"));
        assert!((s.rtt_ms.unwrap() - 3.1).abs() < 1e-9);
        assert_eq!((s.bytes_sent, s.bytes_received), (1200, 3400));

        // the transport counts what went over every pair it used
        let mut r = r;
        if let Some(t) = r.get_mut("T1") {
            t.bytes_sent = Some(5000.0);
            t.bytes_received = Some(7000.0);
        }
        let s = summarize(&r).unwrap();
        assert_eq!((s.bytes_sent, s.bytes_received), (5000, 7000));
    }

    #[test]
    fn without_a_transport_the_nominated_pair_that_succeeded_is_the_link() {
        let mut waiting = pair("L1", "R1", 0.1, 0.0, 0.0);
        waiting.state = Some("in-progress".into());
        waiting.nominated = true;
        let r = report(vec![
            ("P1", waiting),
            (
                "P2",
                Stat {
                    nominated: true,
                    ..pair("L1", "R2", 0.002, 10.0, 20.0)
                },
            ),
            ("L1", candidate("local-candidate", "srflx")),
            ("R1", candidate("remote-candidate", "host")),
            ("R2", candidate("remote-candidate", "host")),
        ]);
        let s = summarize(&r).unwrap();
        assert_eq!(s.route, Some(Route::Nat));
        assert_eq!((s.bytes_sent, s.bytes_received), (10, 20));
    }

    #[test]
    fn nothing_selected_yet_or_odd_values_are_no_numbers() {
        let r = report(vec![
            ("T1", stat("transport")),
            ("P1", pair("L1", "R1", 0.1, 1.0, 1.0)),
        ]);
        assert_eq!(summarize(&r), None, "a pair that was never nominated");
        let r = report(vec![(
            "P1",
            Stat {
                selected: true,
                rtt_s: Some(f64::NAN),
                bytes_sent: Some(-5.0),
                ..pair("L1", "R1", 0.0, 0.0, 0.0)
            },
        )]);
        let s = summarize(&r).unwrap();
        assert_eq!(s.route, None, "its candidates are not in the report");
        assert_eq!(s.rtt_ms, None);
        assert_eq!(s.bytes_sent, 0);
    }
}
