//! The real binary against the real signaling server (in this process): `add` and `remove`
//! while `run` runs take effect within seconds; a link holder who cannot pass the key proof
//! (another board's auth key) gets no link and no board data, and forged or garbage signals are
//! refused without harm; SIGTERM ends `run` cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crdt::secure::{Role, Sealer};
use crdt::session::peer_signal::PeerSignal;
use crdt::BoardSecret;
use meshboard_peer::rtc_link::{self, LinkCommand, LinkEvent, LinkSpec};
use meshboard_peer::signal_client;
use meshboard_peer::RemotePeer;
use signaling::protocol::{ClientMessage, ServerMessage};
use tokio::sync::mpsc;

const BIN: &str = env!("CARGO_BIN_EXE_meshboard-peer");
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn cli(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn metrics(port: u16) -> HashMap<String, f64> {
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return HashMap::new();
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    body.lines()
        .filter_map(|l| l.strip_prefix("meshboard_peer_"))
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect()
}

async fn wait_metric(
    port: u16,
    what: &str,
    ok: impl Fn(&HashMap<String, f64>) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let m = metrics(port).await;
        if ok(&m) {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{what}: {m:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

fn start_peer(dir: &Path, ws: &str, metrics_port: u16) -> Peer {
    Peer(
        Command::new(BIN)
            .arg("--data-dir")
            .arg(dir)
            .args([
                "run",
                "--signaling-url",
                ws,
                "--ice-ip",
                "127.0.0.1",
                "--poll-ms",
                "100",
            ])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshboard-peer-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_remove_while_running_and_a_wrong_key_gets_nothing() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = signaling::Server::new(&signaling::Config::default()).unwrap();
    tokio::spawn(server.run(listener, async move {
        let _ = stopped.await;
    }));
    let ws = format!("ws://{addr}/ws");
    let dir = temp_dir();
    let port = free_port();
    let mut peer = start_peer(&dir, &ws, port);
    wait_metric(port, "the peer is up", |m| {
        m.get("boards_held") == Some(&0.0)
    })
    .await;

    // add while running: the peer joins the room within seconds
    let secret = BoardSecret::from_bytes([11; 16]);
    let link = format!("http://{addr}/b#{}", secret.to_fragment());
    assert!(cli(&dir, &["add", &link]).starts_with("added "));
    let took = wait_metric(port, "joined after add", |m| {
        m.get("boards_held") == Some(&1.0) && m.get("rooms_joined") == Some(&1.0)
    })
    .await;
    assert!(took < Duration::from_secs(5), "{took:?}");

    // a link holder with the room key (it can join) but the wrong peer key: no link
    let keys = secret.keys();
    let (mut socket, welcome) = signal_client::join(&ws, &keys).await.unwrap();
    let the_peer = welcome
        .peers
        .first()
        .cloned()
        .expect("the peer is in the room");
    let mut sealer = Sealer::new(&keys.seal, &keys.room_id, welcome.me.as_str());
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    let signal = |to: &RemotePeer, data: String| ClientMessage::Signal {
        to: to.as_str().to_owned(),
        data,
    };
    // garbage, and a payload sealed with another board's key: refused unopened
    signal_client::send(&mut socket, &signal(&the_peer, "garbage".into()))
        .await
        .unwrap();
    let other = BoardSecret::from_bytes([12; 16]).keys();
    let forged = Sealer::new(&other.seal, &keys.room_id, welcome.me.as_str());
    let data = forged.seal(
        the_peer.as_str(),
        b"{\"t\":\"offer\",\"sdp\":\"v=0\"}",
        now(),
        [1; 24],
    );
    signal_client::send(&mut socket, &signal(&the_peer, data))
        .await
        .unwrap();
    wait_metric(port, "forged signals refused", |m| {
        m.get("sealed_refused_total") == Some(&2.0)
    })
    .await;
    // opened, but nonsense: ignored
    let data = sealer.seal(the_peer.as_str(), b"not json", now(), [2; 24]);
    signal_client::send(&mut socket, &signal(&the_peer, data))
        .await
        .unwrap();

    // a real WebRTC link with the wrong authentication key: it connects, and the proof fails
    let mut wrong = keys.clone();
    wrong.auth = other.auth;
    let (reports, mut inbox) = mpsc::channel(64);
    let mut link = None;
    if welcome.me < the_peer {
        let (handle, offer) = rtc_link::start(
            LinkSpec {
                peer: the_peer.clone(),
                gen: 1,
                role: Role::Offerer,
                auth: wrong.auth,
                ip: LOOPBACK,
                offer: None,
            },
            reports.clone(),
        )
        .await
        .unwrap();
        let data = sealer.seal(the_peer.as_str(), offer.encode().as_bytes(), now(), [3; 24]);
        signal_client::send(&mut socket, &signal(&the_peer, data))
            .await
            .unwrap();
        link = Some(handle);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut our_side_refused = false;
    while Instant::now() < deadline && !our_side_refused {
        tokio::select! {
            m = signal_client::read(&mut socket) => {
                let ServerMessage::Signal { from, data } = m.unwrap() else { continue };
                let plain = sealer.open(&from, &data, now()).unwrap();
                match PeerSignal::decode(&plain).unwrap() {
                    PeerSignal::Offer { sdp } => {
                        let (handle, answer) = rtc_link::start(
                            LinkSpec { peer: the_peer.clone(), gen: 1, role: Role::Answerer, auth: wrong.auth, ip: LOOPBACK, offer: Some(sdp) },
                            reports.clone(),
                        )
                        .await
                        .unwrap();
                        let data = sealer.seal(the_peer.as_str(), answer.encode().as_bytes(), now(), [4; 24]);
                        signal_client::send(&mut socket, &signal(&the_peer, data)).await.unwrap();
                        link = Some(handle);
                    }
                    other => {
                        if let Some(l) = &link {
                            l.commands.send(LinkCommand::Signal(other)).await.unwrap();
                        }
                    }
                }
            }
            r = inbox.recv() => match r.unwrap() {
                (_, _, LinkEvent::Closed(meshboard_peer::LinkError::ProofFailed)) => our_side_refused = true,
                (_, _, LinkEvent::Frame(_)) => panic!("board data without a proof"),
                (_, _, LinkEvent::Proved) => panic!("the peer proved a key we do not hold?"),
                (_, _, e) => eprintln!("our link: {e:?}"),
            },
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    assert!(
        our_side_refused,
        "the link formed and the peer's proof did not verify for us"
    );
    wait_metric(port, "the peer refused the proof", |m| {
        m.get("proof_failures_total") >= Some(&1.0)
            && m.get("peers") == Some(&0.0)
            && m.get("bytes_sent_total") == Some(&0.0)
            && m.get("boards_loaded") == Some(&0.0)
    })
    .await;
    drop(link);

    // remove while running: the peer leaves the room
    assert!(cli(&dir, &["remove", &link_of(&secret, addr)]).starts_with("removed "));
    let took = wait_metric(port, "left after remove", |m| {
        m.get("boards_held") == Some(&0.0) && m.get("rooms_joined") == Some(&0.0)
    })
    .await;
    assert!(took < Duration::from_secs(5), "{took:?}");

    // SIGTERM: a clean exit
    let pid = peer.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = peer.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "run did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    let _ = stop_server.send(());
    let _ = std::fs::remove_dir_all(&dir);
}

fn link_of(secret: &BoardSecret, addr: std::net::SocketAddr) -> String {
    format!("http://{addr}/b#{}", secret.to_fragment())
}
