//! The servers under test, each a child process on 127.0.0.1 whose RSS and CPU time are read
//! from /proc.

use std::{
    io::{BufRead, BufReader},
    net::{SocketAddr, TcpListener},
    path::Path,
    process::{Child, ChildStdout, Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Context, Result};

/// Which server, and so which wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Meshboard,
    YWebrtc,
}

pub struct ServerProcess {
    pub kind: Kind,
    pub addr: SocketAddr,
    child: Child,
    /// Kept open: a server writing to a closed pipe could fail.
    _stdout: BufReader<ChildStdout>,
}

impl ServerProcess {
    /// Meshboard's `signaling` binary (this package's, built in the bench profile), with limits
    /// raised so that the benchmark measures relaying rather than the rate limiter and the
    /// connection caps.
    pub fn meshboard(max_connections: usize) -> Result<Self> {
        Self::meshboard_with(max_connections, &[])
    }

    /// [`ServerProcess::meshboard`] with `extra` flags (such as `--redis-url`).
    pub fn meshboard_with(max_connections: usize, extra: &[&str]) -> Result<Self> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_signaling"))
            .args(["--listen", "127.0.0.1:0"])
            .args(["--max-connections", &max_connections.to_string()])
            // Every client of the bench is on 127.0.0.1: the per-address cap would stop it at
            // 64, and the TCP cap (4096 by default) below the idle phase's count.
            .args(["--max-connections-per-ip", &max_connections.to_string()])
            .args(["--max-tcp-connections", &(max_connections + 64).to_string()])
            .args(["--rate-per-sec", "1000000", "--rate-burst", "1000000"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the signaling binary")?;
        let (line, stdout) = first_line(&mut child)?;
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .with_context(|| format!("unexpected first line {line:?}"))?
            .parse()?;
        Ok(Self {
            kind: Kind::Meshboard,
            addr,
            child,
            _stdout: stdout,
        })
    }

    /// y-webrtc's `bin/server.js` under `node`, on a free port.
    pub fn y_webrtc(server_js: &Path) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut child = Command::new("node")
            .arg(server_js)
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start node")?;
        let (line, stdout) = first_line(&mut child)?;
        if !line.contains("running") {
            bail!("unexpected first line from y-webrtc: {line:?}");
        }
        Ok(Self {
            kind: Kind::YWebrtc,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            _stdout: stdout,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size in bytes.
    pub fn rss_bytes(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmRSS")?;
        Ok(kb * 1024)
    }

    /// Waits until `/healthz` says this instance is in sync with Redis.
    pub async fn redis_up(&self) -> Result<()> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let mut tcp = tokio::net::TcpStream::connect(self.addr).await?;
            let request = format!(
                "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.addr
            );
            tcp.write_all(request.as_bytes()).await?;
            let mut answer = String::new();
            tcp.read_to_string(&mut answer).await?;
            if answer.ends_with("redis: up\n") {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("{} never got in sync with redis", self.addr);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A `redis-server` on a free port of 127.0.0.1, without persistence, for instances started with
/// `--redis-url`.
pub struct RedisProcess {
    child: Child,
    pub port: u16,
}

impl RedisProcess {
    pub fn start(program: &Path) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(program)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let redis = Self { child, port };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if std::time::Instant::now() > deadline {
                bail!("redis-server did not start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User plus system CPU time process `pid` used so far.
pub fn cpu_time(pid: u32, ticks_per_sec: u64) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat
        .rfind(')')
        .and_then(|i| stat.get(i + 2..))
        .context("bad /proc/pid/stat")?;
    let fields: Vec<&str> = after.split(' ').collect();
    let field =
        |i: usize| -> Result<u64> { Ok(fields.get(i).context("short /proc/pid/stat")?.parse()?) };
    let ticks = field(11)? + field(12)?;
    Ok(Duration::from_millis(ticks * 1000 / ticks_per_sec.max(1)))
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn first_line(child: &mut Child) -> Result<(String, BufReader<ChildStdout>)> {
    let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    Ok((line, stdout))
}
