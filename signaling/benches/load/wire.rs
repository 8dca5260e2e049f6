//! The two wire protocols, reduced to what the benchmark does: join a room of two, send a
//! message to the other peer, recognise a message from the other peer.
//!
//! - Meshboard: `challenge` first, then `join` with a proof (answered by `welcome` with the peer
//!   id the server chose), `signal` to a named peer.
//! - y-webrtc: `subscribe` to a topic (no answer, so a `ping`/`pong` confirms it), `publish` to
//!   the topic, which the server sends to every subscriber, the sender included.

use std::borrow::Cow;

use anyhow::{bail, Context, Result};
use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use signaling::protocol::{join_proof_message, ClientMessage, PROTOCOL_VERSION};
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
    /// A `challenge`'s nonce.
    #[serde(default, borrow)]
    nonce: Option<Cow<'a, str>>,
    /// A `welcome`'s peer id.
    #[serde(default, borrow)]
    peer: Option<Cow<'a, str>>,
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

/// Joins `room` (Meshboard: the room whose key is derived from that name, proved with a
/// signature over the socket's challenge) and waits until the server has taken it in; the peer
/// id to be known by (Meshboard assigns it, y-webrtc takes `peer`).
pub async fn join(ws: &mut Ws, kind: Kind, room: &str, peer: &str) -> Result<String> {
    match kind {
        Kind::Meshboard => {
            let nonce = wait_for(ws, "challenge", |m| m.nonce.map(Cow::into_owned)).await?;
            let key = SigningKey::from_bytes(&Sha256::digest(room.as_bytes()).into());
            let public = key.verifying_key().to_bytes();
            let room = hex(&Sha256::digest(public)[..16]);
            let sig = key.sign(&join_proof_message(&nonce, &room)).to_bytes();
            let join = ClientMessage::Join {
                version: PROTOCOL_VERSION,
                room,
                key: hex(&public),
                sig: hex(&sig),
            };
            ws.send(Message::text(serde_json::to_string(&join)?))
                .await?;
            wait_for(ws, "welcome", |m| m.peer.map(Cow::into_owned)).await
        }
        Kind::YWebrtc => {
            let subscribe = serde_json::json!({"type": "subscribe", "topics": [room]});
            ws.send(Message::text(subscribe.to_string())).await?;
            ws.send(Message::text(r#"{"type":"ping"}"#)).await?;
            wait_for(ws, "pong", |_| Some(String::new())).await?;
            Ok(peer.to_owned())
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits for a message of type `kind`; what `take` finds in it.
async fn wait_for(
    ws: &mut Ws,
    kind: &str,
    take: impl Fn(Incoming<'_>) -> Option<String>,
) -> Result<String> {
    while let Some(frame) = ws.next().await {
        if let Message::Text(text) = frame? {
            let msg: Incoming = serde_json::from_str(text.as_str())?;
            if msg.kind == "error" {
                bail!("server refused: {text}");
            }
            if msg.kind == kind {
                return take(msg).with_context(|| format!("a {kind} without what it should carry"));
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
