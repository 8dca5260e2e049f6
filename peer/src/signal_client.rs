//! The signaling socket, as a browser uses it: wait for the server's challenge, join the room
//! with the room key's signature over it, read the welcome. Protocol types are the server's own
//! (`signaling::protocol`, built without the server).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use signaling::protocol::{
    join_proof_message, valid_hex, ClientMessage, ServerMessage, NONCE_HEX_LEN, PROTOCOL_VERSION,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::SignalingError;
use crate::ids::RemotePeer;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Largest message taken from the server (relayed signals are at most 64 KiB).
const MAX_SERVER_MESSAGE: usize = 256 * 1024;
/// Peers a welcome may name before we stop reading it.
pub const MAX_ROOM_PEERS: usize = 256;
/// How long the server has to answer each step of the join.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// A joined room: our peer id, and the peers already there.
#[derive(Debug)]
pub struct Welcome {
    pub me: RemotePeer,
    pub peers: Vec<RemotePeer>,
}

fn ws_err(e: tokio_tungstenite::tungstenite::Error) -> SignalingError {
    SignalingError::WebSocket(Box::new(e))
}

/// Check that `url` is a WebSocket URL.
pub fn check_url(url: &str) -> Result<(), SignalingError> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("ws://") || lower.starts_with("wss://") {
        Ok(())
    } else {
        Err(SignalingError::BadUrl(url.to_owned()))
    }
}

/// Open the socket and join `room` with `keys`' room key.
pub async fn join(
    url: &str,
    keys: &crdt::secure::BoardKeys,
) -> Result<(Ws, Welcome), SignalingError> {
    check_url(url)?;
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(MAX_SERVER_MESSAGE);
    config.max_frame_size = Some(MAX_SERVER_MESSAGE);
    // small buffers: one socket per held board, mostly idle (the defaults, 128 KiB each way,
    // made an idle board cost ~140 KiB of RSS; see BENCHMARKS.md)
    config.read_buffer_size = 4 * 1024;
    config.write_buffer_size = 0;
    let (mut ws, _) = tokio::time::timeout(
        STEP_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(url, Some(config), false),
    )
    .await
    .map_err(|_| SignalingError::Timeout(STEP_TIMEOUT.as_secs()))?
    .map_err(ws_err)?;
    let nonce = match next(&mut ws).await? {
        ServerMessage::Challenge { nonce } if valid_hex(&nonce, NONCE_HEX_LEN) => nonce,
        other => {
            return Err(SignalingError::Protocol(format!(
                "expected a challenge, got {}",
                kind(&other)
            )))
        }
    };
    let room = keys.room_id.clone();
    let join = ClientMessage::Join {
        version: PROTOCOL_VERSION,
        sig: keys.room_key.sign_hex(&join_proof_message(&nonce, &room)),
        key: keys.room_key.public_hex(),
        room,
    };
    send(&mut ws, &join).await?;
    loop {
        match next(&mut ws).await? {
            ServerMessage::Welcome { peer, peers, .. } => {
                let me = RemotePeer::parse(&peer).ok_or_else(|| {
                    SignalingError::Protocol("the welcome names no usable peer id".into())
                })?;
                let peers = peers
                    .iter()
                    .take(MAX_ROOM_PEERS)
                    .filter_map(|p| RemotePeer::parse(p))
                    .filter(|p| *p != me)
                    .collect();
                return Ok((ws, Welcome { me, peers }));
            }
            ServerMessage::Error { code, message } => {
                return Err(SignalingError::Refused {
                    code,
                    message: message.chars().take(200).collect(),
                })
            }
            // ICE servers before the welcome: the native peer uses host candidates only
            ServerMessage::IceServers { .. } => {}
            other => {
                return Err(SignalingError::Protocol(format!(
                    "expected a welcome, got {}",
                    kind(&other)
                )))
            }
        }
    }
}

/// The message's type, for logs (never its content).
pub fn kind(m: &ServerMessage) -> &'static str {
    match m {
        ServerMessage::Challenge { .. } => "challenge",
        ServerMessage::Welcome { .. } => "welcome",
        ServerMessage::IceServers { .. } => "ice_servers",
        ServerMessage::PeerJoined { .. } => "peer_joined",
        ServerMessage::PeerLeft { .. } => "peer_left",
        ServerMessage::Signal { .. } => "signal",
        ServerMessage::Error { .. } => "error",
    }
}

pub async fn send(ws: &mut Ws, message: &ClientMessage) -> Result<(), SignalingError> {
    let text = serde_json::to_string(message)
        .map_err(|e| SignalingError::Protocol(format!("cannot encode: {e}")))?;
    tokio::time::timeout(STEP_TIMEOUT, ws.send(Message::text(text)))
        .await
        .map_err(|_| SignalingError::Timeout(STEP_TIMEOUT.as_secs()))?
        .map_err(ws_err)
}

async fn next(ws: &mut Ws) -> Result<ServerMessage, SignalingError> {
    tokio::time::timeout(STEP_TIMEOUT, read(ws))
        .await
        .map_err(|_| SignalingError::Timeout(STEP_TIMEOUT.as_secs()))?
}

/// The next protocol message (pings are answered by tungstenite as frames are read).
pub async fn read(ws: &mut Ws) -> Result<ServerMessage, SignalingError> {
    loop {
        let Some(frame) = ws.next().await else {
            return Err(SignalingError::Closed);
        };
        match frame.map_err(ws_err)? {
            Message::Text(text) => {
                return serde_json::from_str(text.as_str())
                    .map_err(|e| SignalingError::Protocol(format!("unreadable message: {e}")))
            }
            Message::Close(_) => return Err(SignalingError::Closed),
            Message::Binary(_) => return Err(SignalingError::Protocol("a binary frame".into())),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
}
