//! The three measurements, each the same for both servers: idle connections held, relayed
//! messages per second at saturation, and relay latency at a fixed moderate rate.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use futures_util::{stream, SinkExt, StreamExt};
use tokio::{
    sync::{watch, Barrier},
    task::JoinSet,
    time::MissedTickBehavior,
};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    server::{cpu_time, Kind, RedisProcess, ServerProcess},
    wire::{self, Ws},
};

/// Connections opened at once while setting up.
const CONNECT_CONCURRENCY: usize = 128;

pub struct Idle {
    pub connections: usize,
    pub rss_growth_bytes: u64,
}

impl Idle {
    pub fn per_gib(&self) -> Option<f64> {
        (self.rss_growth_bytes > 0)
            .then(|| self.connections as f64 * (1u64 << 30) as f64 / self.rss_growth_bytes as f64)
    }
}

/// Opens `n` connections in rooms of two, each joined and then idle (only answering pings),
/// and measures how much the server's RSS grew.
pub async fn idle(server: &ServerProcess, n: usize) -> Result<Idle> {
    let (kind, addr) = (server.kind, server.addr);
    let before = server.rss_bytes()?;
    let sockets: Vec<Ws> = stream::iter(0..n)
        .map(|i| async move {
            let mut ws = wire::connect(addr).await?;
            let peer = if i % 2 == 0 { "a" } else { "b" };
            wire::join(&mut ws, kind, &wire::room(i / 2), peer).await?;
            anyhow::Ok(ws)
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()
        .context("opening idle connections")?;
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for mut ws in sockets {
        let mut stopped = stopped.clone();
        tasks.spawn(async move {
            // Reading answers pings; the connection is otherwise left alone.
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    frame = ws.next() => if !matches!(frame, Some(Ok(_))) { break },
                }
            }
            let _ = ws.close(None).await;
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_bytes()?;
    if tasks.len() != n {
        bail!("idle connections ended early");
    }
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    // Let the server let go of them before the next phase.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(Idle {
        connections: n,
        rss_growth_bytes: after.saturating_sub(before),
    })
}

/// What a relay phase measured.
pub struct Relayed {
    pub messages: u64,
    pub elapsed: Duration,
    pub server_cpu: Duration,
    /// One-way relay latencies in microseconds, sorted.
    pub latencies_us: Vec<u64>,
}

impl Relayed {
    pub fn per_sec(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_us(&self, p: f64) -> u64 {
        let n = self.latencies_us.len();
        if n == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.latencies_us[rank.clamp(1, n) - 1]
    }

    /// Server CPU time per relayed message.
    pub fn cpu_per_message(&self) -> Duration {
        self.server_cpu
            .checked_div(u32::try_from(self.messages.max(1)).unwrap_or(u32::MAX))
            .unwrap_or_default()
    }
}

/// How a relay phase drives each pair.
#[derive(Clone, Copy)]
pub enum Load {
    /// Closed loop: `window` messages in flight per pair; each delivery is answered with the next
    /// message, so the pair goes as fast as the server relays.
    Saturate { window: usize },
    /// Open loop: each peer sends to the other at this many messages per second.
    Paced { per_peer_per_sec: f64 },
}

/// Shared by every peer of a phase.
#[derive(Clone)]
struct Phase {
    kind: Kind,
    base: Instant,
    padding: Arc<str>,
    start: Arc<Barrier>,
    duration: Duration,
}

impl Phase {
    /// A message whose data is the send time (µs since `base`) then padding.
    fn message(&self, room: &str, me: &str, to: &str) -> Result<Message> {
        let sent = self.base.elapsed().as_micros();
        wire::message(self.kind, room, me, to, &format!("{sent} {}", self.padding))
    }

    fn latency_us(&self, data: &str) -> Result<u64> {
        let sent: u64 = data.split(' ').next().unwrap_or_default().parse()?;
        let now = u64::try_from(self.base.elapsed().as_micros())?;
        Ok(now.saturating_sub(sent))
    }
}

/// The servers a relay phase runs against: one, or several instances on one Redis (whose CPU
/// time counts as the servers' too).
pub struct Target<'a> {
    pub servers: Vec<&'a ServerProcess>,
    pub redis: Option<&'a RedisProcess>,
}

impl Target<'_> {
    /// The CPU time of every server process (and Redis) so far.
    fn cpu_time(&self, ticks_per_sec: u64) -> Result<Duration> {
        let mut total = Duration::ZERO;
        for pid in self
            .servers
            .iter()
            .map(|s| s.pid())
            .chain(self.redis.map(RedisProcess::pid))
        {
            total += cpu_time(pid, ticks_per_sec)?;
        }
        Ok(total)
    }
}

/// Runs `pairs` pairs of peers, each pair in a room of its own, under `load` for `duration`.
/// With several servers the two peers of a pair are on different ones (pair `i` on servers
/// `i` and `i + 1`, round the list), so that every message crosses Redis.
pub async fn relay(
    target: &Target<'_>,
    pairs: usize,
    load: Load,
    duration: Duration,
    payload_bytes: usize,
    ticks_per_sec: u64,
) -> Result<Relayed> {
    let servers = &target.servers;
    let kind = servers.first().context("no server")?.kind;
    let addr_of = |i: usize| servers[i % servers.len()].addr;
    let phase = Phase {
        kind,
        base: Instant::now(),
        padding: "x".repeat(payload_bytes).into(),
        start: Arc::new(Barrier::new(pairs * 2 + 1)),
        duration,
    };
    let mut peers = JoinSet::new();
    // Rooms of their own for each phase, so that none is still closing from the last one.
    let first_room = match load {
        Load::Paced { .. } => 1_000_000,
        Load::Saturate { .. } => 2_000_000,
    };
    for pair in 0..pairs {
        let room = wire::room(first_room + pair);
        let (a, id_a) = joined(addr_of(pair), kind, &room, "a").await?;
        let (b, id_b) = joined(addr_of(pair + 1), kind, &room, "b").await?;
        for (ws, me, to, first) in [
            (a, id_a.clone(), id_b.clone(), true),
            (b, id_b, id_a, false),
        ] {
            let (phase, room) = (phase.clone(), room.clone());
            peers.spawn(async move {
                match load {
                    Load::Saturate { window } => {
                        let initial = if first { window } else { 0 };
                        saturate(ws, phase, room, &me, &to, initial).await
                    }
                    Load::Paced { per_peer_per_sec } => {
                        // Senders are spread over the period so that they do not fire together.
                        let slot = (pair * 2 + usize::from(!first)) as f64 / (pairs * 2) as f64;
                        let offset = Duration::from_secs_f64(slot / per_peer_per_sec);
                        paced(ws, phase, room, &me, &to, per_peer_per_sec, offset).await
                    }
                }
            });
        }
    }
    if servers.len() > 1 {
        // The second peer's join reaches the first one's instance through Redis.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cpu_before = target.cpu_time(ticks_per_sec)?;
    phase.start.wait().await;
    let mut messages = 0;
    let mut latencies_us = Vec::new();
    while let Some(side) = peers.join_next().await {
        let side = side??;
        messages += side.0;
        latencies_us.extend(side.1);
    }
    let elapsed = duration;
    let server_cpu = target.cpu_time(ticks_per_sec)?.saturating_sub(cpu_before);
    latencies_us.sort_unstable();
    Ok(Relayed {
        messages,
        elapsed,
        server_cpu,
        latencies_us,
    })
}

/// A joined socket and the peer id it is known by.
async fn joined(addr: SocketAddr, kind: Kind, room: &str, peer: &str) -> Result<(Ws, String)> {
    let mut ws = wire::connect(addr).await?;
    let id = wire::join(&mut ws, kind, room, peer).await?;
    Ok((ws, id))
}

/// Deliveries counted and their latencies, for one peer.
type Side = (u64, Vec<u64>);

async fn saturate(
    ws: Ws,
    phase: Phase,
    room: String,
    me: &str,
    to: &str,
    initial: usize,
) -> Result<Side> {
    phase.start.wait().await;
    let deadline = tokio::time::Instant::now() + phase.duration;
    let (mut sink, stream) = ws.split();
    for _ in 0..initial {
        sink.feed(phase.message(&room, me, to)?).await?;
    }
    sink.flush().await?;
    // Frames that arrived together are answered together, with one flush.
    let mut frames = stream.ready_chunks(64);
    let (mut delivered, mut latencies) = (0, Vec::new());
    while let Ok(batch) = tokio::time::timeout_at(deadline, frames.next()).await {
        for frame in batch.context("connection closed")? {
            let Message::Text(text) = frame? else {
                continue;
            };
            if let Some(data) = wire::data_from_other(phase.kind, me, text.as_str())? {
                delivered += 1;
                latencies.push(phase.latency_us(&data)?);
                sink.feed(phase.message(&room, me, to)?).await?;
            }
        }
        sink.flush().await?;
    }
    let _ = sink.close().await;
    Ok((delivered, latencies))
}

async fn paced(
    ws: Ws,
    phase: Phase,
    room: String,
    me: &str,
    to: &str,
    per_sec: f64,
    offset: Duration,
) -> Result<Side> {
    phase.start.wait().await;
    let start = tokio::time::Instant::now();
    let deadline = start + phase.duration;
    let (mut sink, mut stream) = ws.split();
    let send = async {
        let mut ticks =
            tokio::time::interval_at(start + offset, Duration::from_secs_f64(1.0 / per_sec));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
        loop {
            if ticks.tick().await >= deadline {
                break;
            }
            sink.send(phase.message(&room, me, to)?).await?;
        }
        anyhow::Ok(sink)
    };
    let receive = async {
        // Messages still in flight at the deadline are counted for a short while after it.
        let grace = deadline + Duration::from_millis(500);
        let (mut delivered, mut latencies) = (0, Vec::new());
        while let Ok(frame) = tokio::time::timeout_at(grace, stream.next()).await {
            let Message::Text(text) = frame.context("connection closed")?? else {
                continue;
            };
            if let Some(data) = wire::data_from_other(phase.kind, me, text.as_str())? {
                delivered += 1;
                latencies.push(phase.latency_us(&data)?);
            }
        }
        anyhow::Ok((delivered, latencies))
    };
    let (sink, side) = tokio::join!(send, receive);
    if let Ok(mut sink) = sink {
        let _ = sink.close().await;
    }
    side
}
