//! A real server on 127.0.0.1:0 and a real WebSocket client; every wait has a timeout.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod process;
pub mod prometheus;
pub mod redis;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use sha2::{Digest, Sha256};
use signaling::{
    protocol::{join_proof_message, ClientMessage, ErrorCode, ServerMessage, PROTOCOL_VERSION},
    Config, ServerError,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
    task::JoinHandle,
    time::timeout,
};
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, http::HeaderValue, protocol::CloseFrame, Message},
    MaybeTlsStream, WebSocketStream,
};

use self::prometheus::Scrape;

/// Names of test rooms: each stands for the room whose key is derived from the name (see
/// [`RoomKey::named`]); the server sees that key's room id, never the name.
pub const ROOM: &str = "room";
pub const OTHER_ROOM: &str = "other room";
/// Longest wait for anything that should happen.
pub const STEP: Duration = Duration::from_secs(5);
/// How long to watch for something that should not happen.
pub const QUIET: Duration = Duration::from_millis(200);

pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

pub async fn start(config: Config) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(signaling::serve(config, listener, async {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        stop: Some(stop),
        task,
    }
}

/// A client of the server at `addr`, its challenge read.
pub async fn client_at(addr: SocketAddr) -> Client {
    let (ws, _) = timeout(
        STEP,
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws")),
    )
    .await
    .expect("connect timed out")
    .expect("connect failed");
    Client::new(ws).await
}

impl TestServer {
    pub async fn client(&self) -> Client {
        client_at(self.addr).await
    }

    /// Opens `/ws` with this `Origin` header; the handshake's outcome.
    pub async fn connect_with_origin(
        &self,
        origin: &str,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let mut request = format!("ws://{}/ws", self.addr)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).unwrap());
        let (ws, _) = timeout(STEP, tokio_tungstenite::connect_async(request))
            .await
            .expect("connect timed out")?;
        Ok(Client::new(ws).await)
    }

    /// Scrapes `/metrics`, checking the content type and the format.
    pub async fn metrics(&self) -> Scrape {
        let (status, headers, body) = self.get("/metrics").await;
        assert_eq!(status, 200);
        assert_eq!(
            header(&headers, "content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        Scrape::parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"))
    }

    /// Scrapes until `check` holds (counters are updated as tasks finish), or panics.
    pub async fn metrics_until(&self, what: &str, check: impl Fn(&Scrape) -> bool) -> Scrape {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let scrape = self.metrics().await;
            if check(&scrape) {
                return scrape;
            }
            assert!(tokio::time::Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A client that joined the room named `room`; returns it with the peers its welcome
    /// listed. Its peer id (the server's choice) is `client.id`.
    pub async fn joined(&self, room: &str) -> (Client, Vec<String>) {
        let mut client = self.client().await;
        let peers = client.join(room).await;
        (client, peers)
    }

    /// Triggers shutdown and waits for `serve` to return.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        timeout(STEP * 2, &mut self.task)
            .await
            .expect("shutdown timed out")
            .unwrap()
    }

    /// A plain HTTP/1.1 GET; returns the status, the headers (names lowercase) and the body.
    pub async fn get(&self, path: &str) -> (u16, Vec<(String, String)>, String) {
        http_get(self.addr, path).await
    }

    /// GET with extra request header lines, e.g. `"Accept-Encoding: br"`.
    pub async fn get_with(
        &self,
        path: &str,
        extra: &[&str],
    ) -> (u16, Vec<(String, String)>, String) {
        http_request(self.addr, path, extra).await
    }
}

pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, String) {
    http_request(addr, path, &[]).await
}

async fn http_request(
    addr: SocketAddr,
    path: &str,
    extra: &[&str],
) -> (u16, Vec<(String, String)>, String) {
    timeout(STEP, async {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let extra: String = extra.iter().map(|h| format!("{h}\r\n")).collect();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.unwrap();
        let raw = String::from_utf8(raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap();
                (k.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        (status, headers, body.to_owned())
    })
    .await
    .expect("HTTP request timed out")
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A fresh directory under Cargo's scratch space for integration tests.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("signaling-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A room's Ed25519 key pair, as a page derives it from the link (here: from a name).
pub struct RoomKey {
    signing: SigningKey,
}

impl RoomKey {
    /// The key of the room named `name`: its seed is SHA-256 of the name.
    pub fn named(name: &str) -> Self {
        Self {
            signing: SigningKey::from_bytes(&Sha256::digest(name.as_bytes()).into()),
        }
    }

    pub fn public_hex(&self) -> String {
        hex(&self.signing.verifying_key().to_bytes())
    }

    /// The room id the server knows this room by: SHA-256 of the public key, 16 bytes, hex.
    pub fn room_id(&self) -> String {
        hex(&Sha256::digest(self.signing.verifying_key().to_bytes())[..16])
    }

    /// The signature of a join to `room` on a socket whose challenge was `nonce`.
    pub fn sign(&self, nonce: &str, room: &str) -> String {
        hex(&self
            .signing
            .sign(&join_proof_message(nonce, room))
            .to_bytes())
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The room id of the room named `name`.
pub fn room_id(name: &str) -> String {
    RoomKey::named(name).room_id()
}

/// A join to the room named `room`, signed for the socket whose challenge was `nonce`.
pub fn join(nonce: &str, room: &str) -> ClientMessage {
    let key = RoomKey::named(room);
    let id = key.room_id();
    ClientMessage::Join {
        version: PROTOCOL_VERSION,
        sig: key.sign(nonce, &id),
        room: id,
        key: key.public_hex(),
    }
}

/// Reads the `challenge` that opens every socket; its nonce.
pub fn nonce_of(msg: ServerMessage) -> String {
    match msg {
        ServerMessage::Challenge { nonce } => {
            assert_eq!(nonce.len(), 64, "{nonce}");
            nonce
        }
        other => panic!("expected a challenge first, got {other:?}"),
    }
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The nonce of this socket's challenge.
    pub nonce: String,
    /// The peer id the server gave this client in its welcome (empty before).
    pub id: String,
}

impl Client {
    /// Wraps a fresh socket and reads its challenge.
    pub async fn new(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        let mut client = Client {
            ws,
            nonce: String::new(),
            id: String::new(),
        };
        client.nonce = nonce_of(client.recv().await);
        client
    }

    /// A join to the room named `room`, signed for this socket.
    pub fn join_msg(&self, room: &str) -> ClientMessage {
        join(&self.nonce, room)
    }

    pub async fn send(&mut self, msg: &ClientMessage) {
        self.send_text(serde_json::to_string(msg).unwrap()).await;
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        timeout(STEP, self.ws.send(Message::text(text.into())))
            .await
            .unwrap()
            .unwrap();
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        timeout(STEP, self.ws.send(Message::binary(bytes)))
            .await
            .unwrap()
            .unwrap();
    }

    /// Joins the room named `room`; the peers the welcome listed (sorted). Sets `self.id`.
    pub async fn join(&mut self, room: &str) -> Vec<String> {
        self.send(&self.join_msg(room)).await;
        match self.recv().await {
            ServerMessage::Welcome {
                peer: me,
                mut peers,
                ..
            } => {
                assert!(signaling::protocol::valid_peer_id(&me), "{me}");
                self.id = me;
                peers.sort();
                peers
            }
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    pub async fn signal(&mut self, to: &str, data: &str) {
        self.send(&ClientMessage::Signal {
            to: to.into(),
            data: data.into(),
        })
        .await;
    }

    /// The next server message (pings are skipped); panics on close or timeout.
    pub async fn recv(&mut self) -> ServerMessage {
        loop {
            let frame = timeout(STEP, self.ws.next())
                .await
                .expect("no message in time")
                .expect("connection ended")
                .expect("connection failed");
            match frame {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    pub async fn expect_error(&mut self, code: ErrorCode) {
        match self.recv().await {
            ServerMessage::Error { code: got, .. } => assert_eq!(got, code),
            other => panic!("expected error {code:?}, got {other:?}"),
        }
    }

    /// Asserts that no server message arrives for a short while.
    pub async fn expect_nothing(&mut self) {
        if let Ok(Some(Ok(Message::Text(text)))) = timeout(QUIET, self.ws.next()).await {
            panic!("expected nothing, got {text}");
        }
    }

    /// Waits for the server to close the connection; returns its close frame, if any.
    pub async fn expect_close(&mut self) -> Option<CloseFrame> {
        loop {
            match timeout(STEP, self.ws.next())
                .await
                .expect("connection not closed in time")
            {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(Message::Text(text))) => panic!("expected close, got {text}"),
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return None,
            }
        }
    }
}
