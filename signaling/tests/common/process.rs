//! The real server binary in its own process, killed when dropped; and raw WebSocket clients
//! for tests that must misbehave below what a WebSocket library allows (never reading).

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    time::timeout,
};

use super::{scratch_dir, STEP};

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// Where the server's log goes (`SERVER_LOG` sets its level, `warn` by default).
    pub stderr: PathBuf,
}

impl ServerProcess {
    /// Spawns the binary on 127.0.0.1:0 with `args`; with `max_open_files`, under that
    /// `ulimit -n` (through `sh`, which `exec`s the server so that the pid is the server's).
    pub fn spawn(name: &str, args: &[&str], max_open_files: Option<u32>) -> Self {
        let stderr = scratch_dir(name).join("stderr.log");
        let bin = env!("CARGO_BIN_EXE_signaling");
        let mut command = match max_open_files {
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Self {
            child,
            addr,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn rss_kb(&self) -> u64 {
        rss_kb(self.child.id())
    }

    /// CPU time the server has used (user + system), in clock ticks of 10 ms.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // The fields after the parenthesised command name; utime and stime are 14th and 15th.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The resident set size of process `pid`, from `/proc/<pid>/status`.
pub fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// A client-to-server WebSocket frame (masked, as clients must) with this opcode.
pub fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&MASK);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    frame
}

/// Opens `/ws` by hand from `socket` (bound and sized by the caller); `None` unless the server
/// switched protocols.
pub async fn raw_upgrade(socket: TcpSocket, addr: SocketAddr) -> Option<TcpStream> {
    let mut tcp = timeout(STEP, socket.connect(addr)).await.ok()?.ok()?;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.ok()?;
    // Byte by byte, so that nothing after the response head is consumed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        match timeout(STEP, tcp.read(&mut byte)).await {
            Ok(Ok(1)) if head.len() < 4096 => head.push(byte[0]),
            _ => return None,
        }
    }
    head.starts_with(b"HTTP/1.1 101").then_some(tcp)
}

/// Reads one unmasked text frame of the server's (payload under 64 KiB) from a raw socket.
pub async fn read_text_frame(tcp: &mut (impl tokio::io::AsyncReadExt + Unpin)) -> String {
    let mut head = [0u8; 2];
    timeout(STEP, tcp.read_exact(&mut head))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head[0], 0x81, "a final text frame");
    let len = match head[1] {
        126 => {
            let mut ext = [0u8; 2];
            timeout(STEP, tcp.read_exact(&mut ext))
                .await
                .unwrap()
                .unwrap();
            usize::from(u16::from_be_bytes(ext))
        }
        n => usize::from(n),
    };
    let mut payload = vec![0u8; len];
    timeout(STEP, tcp.read_exact(&mut payload))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8(payload).unwrap()
}

/// Reads the challenge that opens a raw socket; its nonce.
pub async fn read_challenge(tcp: &mut (impl tokio::io::AsyncReadExt + Unpin)) -> String {
    super::nonce_of(serde_json::from_str(&read_text_frame(tcp).await).unwrap())
}
