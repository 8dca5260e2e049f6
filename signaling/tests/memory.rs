//! Memory under slow readers: 50 clients join, answer for themselves with pings (so the idle
//! timeout never ends them) and never read, while 50 senders each push about 2.4 MB of signals
//! at them. The real binary must keep its RSS growth under 50 MB: each queue is bounded in
//! bytes, and a reader that falls behind is evicted. (All 100 clients come from 127.0.0.1: the
//! per-IP cap is lifted.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{
    http_get, join,
    process::{masked_frame, raw_upgrade, read_challenge, read_text_frame},
    STEP,
};
use signaling::protocol::{ClientMessage, ServerMessage};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpSocket,
    task::JoinSet,
    time::timeout,
};

use common::process::ServerProcess;

const PAIRS: usize = 50;
/// Signals each sender sends its non-reader: fewer than the old 128-frame queue holds, so that
/// without a byte bound every one of them stays queued.
const SIGNALS: usize = 40;
const SIGNAL_BYTES: usize = 60_000;
const RSS_GROWTH_LIMIT_KB: u64 = 50 * 1024;
/// How often a non-reader sends a ping of its own.
const PING_EVERY: Duration = Duration::from_millis(500);
/// Segment size of the non-readers' connections, as on an Ethernet path.
const MSS: u32 = 1400;
const OPCODE_TEXT: u8 = 0x1;
const OPCODE_PING: u8 = 0x9;

/// The name of room `i` (its id is the hash of the key derived from the name).
fn room(i: usize) -> String {
    format!("room {i}")
}

/// Joins `room` as `quiet` on a socket with a small receive buffer and segments, then only
/// sends pings.
async fn non_reader(addr: std::net::SocketAddr, room: String) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    // An internet-sized segment: on loopback (64 KiB segments) the server's kernel would grow
    // its send buffer to MBs and hold what the test means to find in the server's own memory.
    socket2::SockRef::from(&socket).set_tcp_mss(MSS).unwrap();
    let mut tcp = raw_upgrade(socket, addr).await.expect("upgrade");
    let nonce = read_challenge(&mut tcp).await;
    let hello = serde_json::to_vec(&join(&nonce, &room)).unwrap();
    tcp.write_all(&masked_frame(OPCODE_TEXT, &hello))
        .await
        .unwrap();
    let ping = masked_frame(OPCODE_PING, b"");
    loop {
        tokio::time::sleep(PING_EVERY).await;
        if tcp.write_all(&ping).await.is_err() {
            return; // evicted
        }
    }
}

/// Joins `room`, waits for the non-reader, sends it [`SIGNALS`] signals, then a signal to itself:
/// once that comes back, the server has handled all the others. Raw frames, masked once, so
/// that the test process spends its time on nothing but writing.
async fn sender(addr: std::net::SocketAddr, room: String) {
    let mut tcp = raw_upgrade(TcpSocket::new_v4().unwrap(), addr)
        .await
        .expect("upgrade");
    let text = |msg: &ClientMessage| masked_frame(OPCODE_TEXT, &serde_json::to_vec(msg).unwrap());
    let nonce = read_challenge(&mut tcp).await;
    tcp.write_all(&text(&join(&nonce, &room))).await.unwrap();
    // The welcome lists the non-reader if it joined first; otherwise `peer_joined` announces it.
    let (me, mut quiet) = match serde_json::from_str(&read_text_frame(&mut tcp).await).unwrap() {
        ServerMessage::Welcome { peer, peers, .. } => (peer, peers.into_iter().next()),
        other => panic!("expected welcome, got {other:?}"),
    };
    while quiet.is_none() {
        if let ServerMessage::PeerJoined { peer } =
            serde_json::from_str(&read_text_frame(&mut tcp).await).unwrap()
        {
            quiet = Some(peer);
        }
    }
    let mut seen = Vec::new();
    let signal = text(&ClientMessage::Signal {
        to: quiet.unwrap_or_default(),
        data: "x".repeat(SIGNAL_BYTES),
    });
    let back = text(&ClientMessage::Signal {
        to: me.clone(),
        data: "done".into(),
    });
    let (mut rx, mut tx) = tcp.into_split();
    let writer = async {
        for _ in 0..SIGNALS {
            tx.write_all(&signal).await.unwrap();
        }
        tx.write_all(&back).await.unwrap();
    };
    let needle = format!(r#""from":"{me}""#);
    let reader = read_until(&mut rx, &mut seen, needle.as_bytes());
    tokio::join!(writer, reader);
}

/// Reads the server's (unmasked, small) frames until `needle` shows up in them.
async fn read_until(tcp: &mut (impl AsyncReadExt + Unpin), seen: &mut Vec<u8>, needle: &[u8]) {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(at) = seen.windows(needle.len()).position(|w| w == needle) {
            seen.drain(..at + needle.len());
            return;
        }
        // Keep only a tail that could hold the start of the needle.
        let keep = seen.len().saturating_sub(needle.len());
        seen.drain(..keep);
        let n = timeout(STEP * 2, tcp.read(&mut chunk))
            .await
            .expect("no answer in time")
            .unwrap();
        assert!(n > 0, "the server closed a sender");
        seen.extend_from_slice(&chunk[..n]);
    }
}

/// Samples the server's RSS every few milliseconds on a thread of its own; `stop` gives the peak.
struct PeakRss {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<u64>,
}

fn watch_peak_rss(server: &ServerProcess) -> PeakRss {
    let pid = server.pid();
    let (stop, stopped) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut peak = 0;
        loop {
            peak = peak.max(common::process::rss_kb(pid));
            match stopped.recv_timeout(Duration::from_millis(10)) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                _ => return peak,
            }
        }
    });
    PeakRss { stop, thread }
}

impl PeakRss {
    fn stop(self) -> u64 {
        let _ = self.stop.send(());
        self.thread.join().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_fed_by_senders_do_not_grow_the_server() {
    let mut server = ServerProcess::spawn("memory", &["--max-connections-per-ip", "1000"], None);
    let addr = server.addr;
    let (status, _, _) = http_get(addr, "/healthz").await;
    assert_eq!(status, 200);
    let before = server.rss_kb();

    let started = std::time::Instant::now();
    let peak = watch_peak_rss(&server);
    let mut quiet = JoinSet::new();
    let mut loud = JoinSet::new();
    for i in 0..PAIRS {
        loud.spawn(sender(addr, room(i)));
    }
    // Each sender waits for its non-reader to be in the room, so the order of joins is free.
    for i in 0..PAIRS {
        quiet.spawn(non_reader(addr, room(i)));
    }
    timeout(Duration::from_secs(30), async {
        while let Some(done) = loud.join_next().await {
            done.unwrap();
        }
    })
    .await
    .expect("senders did not finish in time");
    eprintln!("senders done after {:?}", started.elapsed());
    let after = peak.stop();
    assert!(server.is_running());
    let (status, _, _) = http_get(addr, "/healthz").await;
    assert_eq!(status, 200);
    quiet.abort_all();
    eprintln!("RSS {before} kB, peak {after} kB");
    assert!(
        after.saturating_sub(before) < RSS_GROWTH_LIMIT_KB,
        "RSS grew from {before} kB to a peak of {after} kB"
    );
}
