//! The two wire protocols, reduced to what the benchmark does: join a room of two, send a
//! message to the other peer, recognise a message from the other peer.
//!
//! - Meshboard: `join` (answered by `welcome`), `signal` to a named peer.
//! - y-webrtc: `subscribe` to a topic (no answer, so a `ping`/`pong` confirms it), `publish` to
//!   the topic, which the server sends to every subscriber, the sender included.

use std::borrow::Cow;

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use signaling::protocol::{ClientMessage, PROTOCOL_VERSION};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    tungstenite::{protocol::WebSocketConfig, Message},
    MaybeTlsStream, WebSocketStream,
};

use crate::server::Kind;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The fields of an incoming message that matter here (others are ignored), borrowed from the
/// frame where possible.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    data: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    from: Option<Cow<'a, str>>,
}

/// A room (topic) id; Meshboard wants 32 hex digits.
pub fn room(i: usize) -> String {
    format!("{i:032x}")
}

/// Opens a WebSocket with a small read buffer (thousands of them are held at once).
pub async fn connect(addr: std::net::SocketAddr) -> Result<Ws> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(16 * 1024);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(
        format!("ws://{addr}/ws"),
        Some(config),
        true, // TCP_NODELAY, as browsers do for WebSockets
    )
    .await?;
    Ok(ws)
}

/// Joins `room` as `peer` and waits until the server has taken it in.
pub async fn join(ws: &mut Ws, kind: Kind, room: &str, peer: &str) -> Result<()> {
    match kind {
        Kind::Meshboard => {
            let join = ClientMessage::Join {
                version: PROTOCOL_VERSION,
                room: room.to_owned(),
                peer: peer.to_owned(),
            };
            ws.send(Message::text(serde_json::to_string(&join)?))
                .await?;
            wait_for(ws, "welcome").await
        }
        Kind::YWebrtc => {
            let subscribe = serde_json::json!({"type": "subscribe", "topics": [room]});
            ws.send(Message::text(subscribe.to_string())).await?;
            ws.send(Message::text(r#"{"type":"ping"}"#)).await?;
            wait_for(ws, "pong").await
        }
    }
}

async fn wait_for(ws: &mut Ws, kind: &str) -> Result<()> {
    while let Some(frame) = ws.next().await {
        if let Message::Text(text) = frame? {
            let msg: Incoming = serde_json::from_str(text.as_str())?;
            if msg.kind == "error" {
                bail!("server refused: {text}");
            }
            if msg.kind == kind {
                return Ok(());
            }
        }
    }
    bail!("connection closed before {kind}")
}

/// A message from `me` to `to` in `room` carrying `data`.
pub fn message(kind: Kind, room: &str, me: &str, to: &str, data: &str) -> Result<Message> {
    let text = match kind {
        Kind::Meshboard => serde_json::to_string(&ClientMessage::Signal {
            to: to.to_owned(),
            data: data.to_owned(),
        })?,
        Kind::YWebrtc => serde_json::json!({
            "type": "publish", "topic": room, "from": me, "data": data,
        })
        .to_string(),
    };
    Ok(Message::text(text))
}

/// The `data` of a message from the other peer, or `None` for anything else (y-webrtc's echo of
/// our own message, join notices, pings).
pub fn data_from_other<'a>(kind: Kind, me: &str, text: &'a str) -> Result<Option<Cow<'a, str>>> {
    let msg: Incoming = serde_json::from_str(text).context("unreadable message")?;
    Ok(match kind {
        Kind::Meshboard if msg.kind == "signal" => msg.data,
        Kind::YWebrtc if msg.kind == "publish" && msg.from.as_deref() != Some(me) => msg.data,
        // A peer that already finished its phase and left: a benign race at the end.
        _ if msg.kind == "error" && text.contains("\"unknown_peer\"") => None,
        _ if msg.kind == "error" => bail!("server error: {text}"),
        _ => None,
    })
}
