//! One WebSocket connection: a reader loop that handles client messages, and a writer task that
//! drains the connection's bounded queue to the socket and sends pings.

use std::{borrow::Cow, net::SocketAddr, ops::ControlFlow, time::Duration};

use axum::{
    body::Bytes,
    extract::{
        ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade},
        ConnectInfo, State,
    },
    http::{header, HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use futures_util::{
    stream::{SplitSink, SplitStream},
    SinkExt, StreamExt,
};
use tokio::{
    sync::OwnedSemaphorePermit,
    time::{Instant, MissedTickBehavior},
};

use crate::hostile::{self, Hostile};
use crate::{
    admission::{new_peer_id, Challenge, ProofError},
    client_addr::ClientKey,
    cluster::Registration,
    metrics::{Closed, Metrics, Refused},
    per_client::ClientSlot,
    protocol::{ClientMessage, ErrorCode, ServerMessage, PROTOCOL_VERSION},
    queue::{Frame, Queue},
    rate_limit::TokenBucket,
    rooms::{ConnId, Mailbox, Route},
    state::AppState,
};

/// After this many error replies the connection is closed. Not counted: `unknown_peer` (a benign
/// race with a peer leaving) and `rate_limited` (the rate limit already contains a flood).
pub const MAX_ERRORS: u32 = 20;
/// After a counted error reply, the next frame is read this much later for each error so far.
pub const ERROR_PENALTY: Duration = Duration::from_millis(1);
/// Read buffer of each WebSocket connection: an ICE candidate fits; a larger frame (a sealed
/// offer or answer: once or twice per peer pair) is read in pieces of this size into a buffer
/// that grows to hold it. Small, because it is a good part of what an idle connection costs.
const READ_BUFFER_BYTES: usize = 1024;
/// Queued messages are written out when this many bytes are buffered, and at the end of a batch.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// Most queued messages written before one flush.
const WRITE_BATCH: usize = 32;
/// How long the writer may take to flush what is queued and send the close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// What admitted a connection: its slots in the global and the per-client caps, held until it
/// ends.
#[derive(Debug)]
struct Admission {
    _global: OwnedSemaphorePermit,
    _client: ClientSlot,
}

/// `GET /ws`: upgrades to a WebSocket if the `Origin` is allowed and the per-client and global
/// connection limits allow.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let metrics = &state.metrics;
    if state.is_stopping() {
        metrics.connection_refused(Refused::ShuttingDown);
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    // A header that is not visible ASCII is present but matches nothing.
    let origin = headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or_default());
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    if !state.origins.allows(origin, host) {
        tracing::debug!(?origin, ?host, "connection refused: origin not allowed");
        metrics.connection_refused(Refused::Origin);
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let client = state.trusted_proxies.client_ip(peer, &headers);
    let Some(client_slot) = state.per_client.try_admit(ClientKey::from(client)) else {
        tracing::debug!(%client, "connection refused: too many connections from this client");
        metrics.connection_refused(Refused::PerIp);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many connections from this address",
        )
            .into_response();
    };
    let Some(permit) = state.try_admit() else {
        tracing::warn!("connection refused: too many connections");
        metrics.connection_refused(Refused::Capacity);
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    };
    let admission = Admission {
        _global: permit,
        _client: client_slot,
    };
    let limit = state.limits.websocket_limit();
    ws.max_message_size(limit)
        .max_frame_size(limit)
        // Signaling messages are small: start each connection with a small read buffer (it
        // grows for a larger frame) instead of the WebSocket layer's 128 KiB, which would
        // dominate the memory per connection; batch writes up to a small buffer too.
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_failed_upgrade(|error| tracing::debug!(%error, "websocket upgrade failed"))
        .on_upgrade(move |socket| run(socket, state, admission))
}

/// Why a connection ended; decides the close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    ClientClosed,
    Idle,
    TooManyErrors,
    /// Its queue was full (it does not read); dropped without ceremony.
    Kicked,
    Shutdown,
    Transport,
    /// It did not join a room in time.
    JoinTimeout,
    /// Its join did not prove the link.
    BadProof,
    /// No randomness for a challenge or a peer id.
    NoRandomness,
}

impl End {
    fn metric(self) -> Closed {
        match self {
            End::ClientClosed => Closed::Client,
            End::Idle => Closed::Idle,
            End::TooManyErrors => Closed::TooManyErrors,
            End::Kicked => Closed::SlowReader,
            End::Shutdown => Closed::Shutdown,
            End::Transport => Closed::Transport,
            End::JoinTimeout => Closed::JoinTimeout,
            End::BadProof => Closed::BadProof,
            End::NoRandomness => Closed::NoRandomness,
        }
    }

    fn close_frame(self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            End::ClientClosed | End::Kicked => return None,
            End::Idle => (close_code::AWAY, "idle"),
            End::TooManyErrors => (close_code::POLICY, "too many errors"),
            End::Shutdown => (close_code::AWAY, "server shutting down"),
            End::Transport => (close_code::PROTOCOL, "websocket error"),
            End::JoinTimeout => (close_code::POLICY, "no join in time"),
            End::BadProof => (close_code::POLICY, "bad proof"),
            End::NoRandomness => (close_code::ERROR, "server error"),
        };
        Some(CloseFrame {
            code,
            reason: reason.into(),
        })
    }
}

/// Runs one connection to its end; always leaves the room. `_admission` holds its slots.
async fn run(socket: WebSocket, state: AppState, _admission: Admission) {
    let id = state.next_conn_id();
    let _open = state.metrics.connection_opened();
    tracing::debug!(conn = id, "connected");
    let (mailbox, queue) = Mailbox::new(id, &state.queue_budget);
    let (sink, stream) = socket.split();
    let writer = tokio::spawn(write_loop(
        sink,
        queue,
        state.limits.ping_interval,
        state.metrics.clone(),
    ));

    // The challenge goes out before anything else; the peer id is drawn now, used if it joins.
    let fresh = Challenge::new().and_then(|c| Ok((c, new_peer_id()?)));
    let mut conn = match fresh {
        Ok((challenge, peer_id)) if mailbox.deliver(&challenge.message()) => Ok(Connection {
            id,
            state: state.clone(),
            mailbox,
            challenge,
            peer_id,
            joined: None,
            renew_at: None,
            errors: 0,
            erred: false,
            bucket: state.limits.token_bucket(),
        }),
        Ok(_) => Err(End::Kicked),
        Err(error) => {
            tracing::error!(conn = id, %error, "cannot make a challenge");
            Err(End::NoRandomness)
        }
    };
    let end = match conn.as_mut() {
        Ok(conn) => conn.read_loop(stream).await,
        Err(end) => *end,
    };
    // Boxed, as what a connection does once it ends is not what it holds while it waits.
    Box::pin(finish(id, end, conn, writer, state)).await;
}

/// Leaves the room, lets the writer drain, and closes the socket with the frame `end` calls for.
async fn finish(
    id: ConnId,
    end: End,
    mut conn: Result<Connection, End>,
    mut writer: tokio::task::JoinHandle<Option<SplitSink<WebSocket, Message>>>,
    state: AppState,
) {
    tracing::debug!(conn = id, ?end, "disconnecting");
    state.metrics.connection_closed(end.metric());
    if let Ok(conn) = conn.as_mut() {
        if end == End::Shutdown {
            conn.mailbox.deliver(&error(
                ErrorCode::ServerShuttingDown,
                "the server is shutting down",
            ));
        }
        if let Some((room, peer)) = conn.joined.take() {
            state.rooms.leave(&room, &peer, id);
            if let Some(cluster) = &state.cluster {
                cluster.leave(&room, &peer).await;
            }
        }
    }
    // The room no longer holds a sender, so dropping ours lets the writer drain and finish.
    drop(conn);

    if end == End::Kicked {
        writer.abort();
        return;
    }
    match tokio::time::timeout(CLOSE_GRACE, &mut writer).await {
        Ok(Ok(Some(mut sink))) => {
            let _ = tokio::time::timeout(CLOSE_GRACE, async {
                if let Some(frame) = end.close_frame() {
                    let _ = sink.send(Message::Close(Some(frame))).await;
                }
                let _ = sink.close().await;
            })
            .await;
        }
        Ok(_) => {}
        Err(_) => writer.abort(),
    }
}

/// Sends queued messages and periodic pings; returns the sink once the queue is closed and
/// drained, or `None` if the socket failed. Messages already queued are written together and
/// flushed once (one write to the socket under load instead of one per message).
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: Queue,
    ping_interval: Duration,
    metrics: std::sync::Arc<Metrics>,
) -> Option<SplitSink<WebSocket, Message>> {
    let mut pings = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
    pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let sent = tokio::select! {
            msg = queue.recv() => {
                let Some(msg) = msg else { return Some(sink) };
                write_batch(&mut sink, msg, &mut queue, &metrics).await
            }
            _ = pings.tick() => sink.send(Message::Ping(Bytes::new())).await,
        };
        if sent.is_err() {
            return None;
        }
    }
}

/// Writes `first` and whatever else is queued already (up to [`WRITE_BATCH`]), then flushes;
/// the batch counts against the queue's byte bound until it is flushed.
async fn write_batch(
    sink: &mut SplitSink<WebSocket, Message>,
    first: Frame,
    queue: &mut Queue,
    metrics: &Metrics,
) -> Result<(), axum::Error> {
    let mut next = Some(first);
    let mut written = 0;
    let mut bytes = 0;
    let fed = async {
        while let Some(frame) = next.take() {
            metrics.sent(frame.len());
            bytes += frame.len();
            sink.feed(Message::Text(frame)).await?;
            written += 1;
            if written < WRITE_BATCH {
                next = queue.try_recv();
            }
        }
        sink.flush().await
    }
    .await;
    queue.sent(bytes);
    fed
}

struct Connection {
    id: ConnId,
    state: AppState,
    mailbox: Mailbox,
    /// What this connection's join must sign.
    challenge: Challenge,
    /// The peer id this connection gets if it joins (drawn by the server).
    peer_id: String,
    /// `(room, peer)` once joined.
    joined: Option<(String, String)>,
    /// When the joined peer gets fresh ICE servers (TURN credentials) next.
    renew_at: Option<Instant>,
    /// Counted error replies so far (see [`MAX_ERRORS`]).
    errors: u32,
    /// The last frame got a counted error reply (see [`ERROR_PENALTY`]).
    erred: bool,
    bucket: TokenBucket,
}

impl Connection {
    async fn read_loop(&mut self, mut stream: SplitStream<WebSocket>) -> End {
        let idle = self.state.limits.idle_timeout();
        let mut stop = self.state.stop.clone();
        let kick = self.mailbox.kicked();
        let join_by = Instant::now() + self.state.limits.join_timeout;
        // Idle is counted from the last inbound frame, not from the last turn of this loop:
        // renewals of the ICE servers wake it too.
        let mut quiet_until = Instant::now() + idle;
        loop {
            let msg = tokio::select! {
                _ = async { stop.wait_for(|stopping| *stopping).await.is_ok() } => return End::Shutdown,
                () = kick.notified() => return End::Kicked,
                () = tokio::time::sleep_until(join_by), if self.joined.is_none() => {
                    return End::JoinTimeout;
                }
                () = tokio::time::sleep_until(self.renew_at.unwrap_or(join_by)), if self.renew_at.is_some() => {
                    if let ControlFlow::Break(end) = self.renew_ice_servers() {
                        return end;
                    }
                    continue;
                }
                next = tokio::time::timeout_at(quiet_until, stream.next()) => match next {
                    Err(_) => return End::Idle,
                    Ok(None) => return End::ClientClosed,
                    Ok(Some(Err(error))) => {
                        tracing::debug!(conn = self.id, %error, "websocket error");
                        return End::Transport;
                    }
                    Ok(Some(Ok(msg))) => msg,
                },
            };
            // Boxed: handling a frame (a join waits on Redis) is a much larger future than
            // the wait above, and inline it would size every idle connection's task.
            if let ControlFlow::Break(end) = Box::pin(self.on_frame(msg)).await {
                return end;
            }
            if std::mem::take(&mut self.erred) {
                // After a bad message the next frame is read later, the more so the more bad
                // messages came (1 ms after the first, 19 ms after the 19th): until it is
                // closed, a client that sends only garbage takes little of the server, and
                // well-behaved clients come first.
                tokio::time::sleep(ERROR_PENALTY.saturating_mul(self.errors)).await;
            } else {
                // Let the writers we just fed run before the next buffered frame, so that a
                // burst from one client cannot fill a recipient's queue (and get it evicted as
                // a slow reader) merely because this task kept the thread.
                tokio::task::yield_now().await;
            }
            // As before renewals existed: idle from when this frame was done with.
            quiet_until = Instant::now() + idle;
        }
    }

    async fn on_frame(&mut self, msg: Message) -> ControlFlow<End> {
        match msg {
            Message::Text(text) => {
                self.state.metrics.received(text.len());
                if let Some(capture) = &self.state.capture {
                    capture.text(self.id, text.as_str()).await;
                }
                if !self.bucket.try_take(std::time::Instant::now()) {
                    return self
                        .refuse(ErrorCode::RateLimited, "too many messages; one was dropped");
                }
                let max = self.state.limits.max_message_bytes;
                if text.len() > max {
                    return self.refuse(
                        ErrorCode::TooLarge,
                        format!("messages are limited to {max} bytes"),
                    );
                }
                match serde_json::from_str::<ClientMessage>(text.as_str()) {
                    Ok(msg) => self.on_message(msg).await,
                    Err(e) => {
                        self.refuse(ErrorCode::BadMessage, format!("not a valid message: {e}"))
                    }
                }
            }
            Message::Binary(bytes) => {
                self.state.metrics.received(bytes.len());
                if let Some(capture) = &self.state.capture {
                    capture.binary(self.id, &bytes).await;
                }
                if !self.bucket.try_take(std::time::Instant::now()) {
                    return self
                        .refuse(ErrorCode::RateLimited, "too many messages; one was dropped");
                }
                self.refuse(
                    ErrorCode::BadMessage,
                    "binary frames are not part of the protocol",
                )
            }
            // Any inbound frame, pongs included, already counts as a sign of life.
            Message::Ping(_) | Message::Pong(_) => ControlFlow::Continue(()),
            Message::Close(_) => ControlFlow::Break(End::ClientClosed),
        }
    }

    async fn on_message(&mut self, msg: ClientMessage) -> ControlFlow<End> {
        match msg {
            ClientMessage::Join {
                version,
                room,
                key,
                sig,
            } => {
                if self.joined.is_some() {
                    return self.refuse(ErrorCode::AlreadyJoined, "this connection already joined");
                }
                if version != PROTOCOL_VERSION {
                    return self.refuse(
                        ErrorCode::VersionMismatch,
                        format!("this server speaks protocol version {PROTOCOL_VERSION}"),
                    );
                }
                match self.challenge.verify(&room, &key, &sig) {
                    Ok(()) => {}
                    Err(e @ ProofError::BadRoomId) => {
                        return self.refuse(ErrorCode::BadId, e.to_string())
                    }
                    Err(e) => {
                        tracing::debug!(conn = self.id, error = %e, "join refused: bad proof");
                        self.refuse(ErrorCode::BadProof, e.to_string())?;
                        return ControlFlow::Break(End::BadProof);
                    }
                }
                let registration = match &self.state.cluster {
                    Some(cluster) => cluster.join(&room, &self.peer_id).await,
                    None => Registration::Alone,
                };
                let members = match &registration {
                    Registration::Full => {
                        let max = self.state.rooms.max_peers();
                        return self.refuse(
                            ErrorCode::RoomFull,
                            format!("a room holds at most {max} peers"),
                        );
                    }
                    Registration::Members(members) => self
                        .state
                        .cluster
                        .as_ref()
                        .map(|c| (members.as_slice(), c.instance())),
                    Registration::Alone => None,
                };
                let joined =
                    self.state
                        .rooms
                        .join_with(&room, &self.peer_id, &self.mailbox, members);
                if let (Some(cluster), Registration::Members(_)) =
                    (&self.state.cluster, &registration)
                {
                    match &joined {
                        Ok(()) => cluster.announce_joined(&room, &self.peer_id).await,
                        Err(_) => cluster.leave(&room, &self.peer_id).await,
                    }
                }
                match joined {
                    Ok(()) => {
                        self.joined = Some((room, self.peer_id.clone()));
                        self.renew_at = self
                            .state
                            .rooms
                            .ice_renewal_period()
                            .map(|period| Instant::now() + period);
                        ControlFlow::Continue(())
                    }
                    Err(refusal) => self.refuse(refusal.code, refusal.message),
                }
            }
            ClientMessage::Signal { to, data } => {
                let Some((room, me)) = &self.joined else {
                    return self.refuse(ErrorCode::NotJoined, "join a room first");
                };
                if self
                    .state
                    .drop_pending
                    .swap(false, std::sync::atomic::Ordering::Relaxed)
                {
                    return ControlFlow::Continue(()); // test aid: lost on the way
                }
                let data = match self.state.hostile {
                    Some(Hostile::Tamper) => hostile::tamper(data),
                    _ => data,
                };
                let replay = (self.state.hostile == Some(Hostile::Replay)).then(|| data.clone());
                match self.state.rooms.relay(room, me, self.id, &to, data) {
                    Ok(Route::Remote { instance, data }) => {
                        if let Some(cluster) = &self.state.cluster {
                            cluster.publish_signal(&instance, room, me, &to, data);
                        }
                        self.state.metrics.message_relayed();
                        ControlFlow::Continue(())
                    }
                    Ok(Route::Local) => {
                        self.state.metrics.message_relayed();
                        if let Some(data) = replay {
                            let (rooms, room, me, conn) =
                                (self.state.rooms.clone(), room.clone(), me.clone(), self.id);
                            tokio::spawn(async move {
                                tokio::time::sleep(hostile::REPLAY_AFTER).await;
                                let _ = rooms.relay(&room, &me, conn, &to, data);
                            });
                        }
                        ControlFlow::Continue(())
                    }
                    Err(refusal) => self.refuse(refusal.code, refusal.message),
                }
            }
        }
    }

    /// Sends the joined peer fresh ICE servers before its TURN credentials expire.
    fn renew_ice_servers(&mut self) -> ControlFlow<End> {
        let (Some((_, peer)), Some(period)) = (&self.joined, self.state.rooms.ice_renewal_period())
        else {
            self.renew_at = None;
            return ControlFlow::Continue(());
        };
        let (ice_servers, ice_expires_in_secs, ice_transport_policy) =
            self.state.rooms.ice_servers_for(peer);
        self.renew_at = Some(Instant::now() + period);
        if !self.mailbox.deliver(&ServerMessage::IceServers {
            ice_servers,
            ice_expires_in_secs,
            ice_transport_policy,
        }) {
            return ControlFlow::Break(End::Kicked);
        }
        ControlFlow::Continue(())
    }

    /// Answers with an error; too many of them, or a full queue, end the connection.
    fn refuse(
        &mut self,
        code: ErrorCode,
        message: impl Into<Cow<'static, str>>,
    ) -> ControlFlow<End> {
        self.state.metrics.message_rejected(code);
        if !self.mailbox.deliver(&error(code, message)) {
            return ControlFlow::Break(End::Kicked);
        }
        if !matches!(code, ErrorCode::UnknownPeer | ErrorCode::RateLimited) {
            self.errors += 1;
            self.erred = true;
            if self.errors >= MAX_ERRORS {
                return ControlFlow::Break(End::TooManyErrors);
            }
        }
        ControlFlow::Continue(())
    }
}

fn error(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> ServerMessage {
    ServerMessage::Error {
        code,
        message: message.into().into_owned(),
    }
}
