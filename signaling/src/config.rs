//! Command-line flags; every flag can also be given as a `MESHBOARD_*` environment variable.

use std::{fmt, path::PathBuf};

use clap::{builder::RangedU64ValueParser, Parser};

use crate::{
    accept::{DEFAULT_MAX_TCP_CONNECTIONS, DEFAULT_REQUEST_HEAD_TIMEOUT_SECS},
    client_addr::Cidr,
    per_client::DEFAULT_MAX_CONNECTIONS_PER_IP,
    protocol::DEFAULT_MAX_MESSAGE_BYTES,
    queue::DEFAULT_MAX_QUEUED_BYTES,
};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_MAX_CONNECTIONS: u32 = 1024;
pub const DEFAULT_MAX_PEERS_PER_ROOM: usize = 256;
pub const DEFAULT_PING_INTERVAL_SECS: u64 = 20;
pub const DEFAULT_RATE_PER_SEC: u32 = 50;
pub const DEFAULT_RATE_BURST: u32 = 200;
/// TURN credentials last ten minutes: a joined page gets fresh ones every 7.5 minutes (see
/// `ice_servers` in the protocol), so a leaked credential is soon worthless.
pub const DEFAULT_TURN_TTL_SECS: u64 = 600;
/// A WebSocket that has not joined a room this long after it opened is closed: a client joins
/// at once, so only an idle socket holding a slot waits that long.
pub const DEFAULT_JOIN_TIMEOUT_SECS: u64 = 10;
/// A member of a room shared through Redis is refreshed by its instance every third of this; an
/// instance that dies takes its members with it at most this long after its last refresh.
pub const DEFAULT_REDIS_MEMBER_TTL_SECS: u64 = 15;

/// Meshboard's signaling server: introduces peers to each other and serves the web app.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "signaling", version, about)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the bound address is printed on stdout).
    #[arg(long, env = "MESHBOARD_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// Serve the built web app (Trunk's `dist/`) from this directory; unknown paths get its
    /// `index.html`.
    #[arg(long, env = "MESHBOARD_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,

    /// Most WebSocket connections open at once; more are refused with 503.
    #[arg(long, env = "MESHBOARD_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Most accepted TCP connections open at once (WebSockets, app requests, and sockets that
    /// have sent nothing yet); beyond it the server stops accepting until one closes. Keep it
    /// below the open-file limit.
    #[arg(long, env = "MESHBOARD_MAX_TCP_CONNECTIONS", default_value_t = DEFAULT_MAX_TCP_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_tcp_connections: u32,

    /// Seconds a new TCP connection has to send its first byte and then its whole request head;
    /// it is closed otherwise.
    #[arg(long, env = "MESHBOARD_REQUEST_HEAD_TIMEOUT_SECS",
          default_value_t = DEFAULT_REQUEST_HEAD_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_head_timeout_secs: u64,

    /// Most WebSocket connections open at once from one client address (an IPv4 address or an
    /// IPv6 /64); more are refused with 429.
    #[arg(long = "max-connections-per-ip", env = "MESHBOARD_MAX_CONNECTIONS_PER_IP",
          default_value_t = DEFAULT_MAX_CONNECTIONS_PER_IP,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_ip: u32,

    /// Seconds a WebSocket may stay open without joining a room before it is closed.
    #[arg(long, env = "MESHBOARD_JOIN_TIMEOUT_SECS", default_value_t = DEFAULT_JOIN_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub join_timeout_secs: u64,

    /// A reverse proxy (IP or CIDR, such as `10.0.0.0/8`) whose `Forwarded` or
    /// `X-Forwarded-For` header names the client for the per-IP limit; the rightmost address
    /// that is not a trusted proxy counts (repeatable; env: comma-separated). Without it the
    /// headers are ignored and the TCP peer is the client.
    #[arg(
        long = "trusted-proxy",
        env = "MESHBOARD_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "IP[/BITS]"
    )]
    pub trusted_proxies: Vec<Cidr>,

    /// Most peers in one room; one more gets `room_full`.
    #[arg(long, env = "MESHBOARD_MAX_PEERS_PER_ROOM", default_value_t = DEFAULT_MAX_PEERS_PER_ROOM,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_peers_per_room: usize,

    /// Largest text frame accepted from a client, in bytes; a larger one gets `too_large`.
    #[arg(long, env = "MESHBOARD_MAX_MESSAGE_BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES,
          value_parser = RangedU64ValueParser::<usize>::new().range(256..))]
    pub max_message_bytes: usize,

    /// Most bytes queued for sending over all connections together; a connection whose message
    /// does not fit is closed as a slow reader (as is one with more than 256 KiB queued).
    #[arg(long, env = "MESHBOARD_MAX_QUEUED_BYTES", default_value_t = DEFAULT_MAX_QUEUED_BYTES,
          value_parser = RangedU64ValueParser::<usize>::new().range(65_536..))]
    pub max_queued_bytes: usize,

    /// Messages per second one connection may send, sustained (token bucket); excess messages
    /// are dropped with `rate_limited`.
    #[arg(long, env = "MESHBOARD_RATE_PER_SEC", default_value_t = DEFAULT_RATE_PER_SEC,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_per_sec: u32,

    /// Messages one connection may send at once after being quiet (the token bucket's size).
    #[arg(long, env = "MESHBOARD_RATE_BURST", default_value_t = DEFAULT_RATE_BURST,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_burst: u32,

    /// A page origin allowed to open `/ws`, such as `https://board.example.com`, besides the
    /// server's own origin, which is always allowed (repeatable; env: comma-separated; `*`
    /// allows any). Requests without an Origin header (non-browser clients) are allowed.
    #[arg(
        long = "allowed-origin",
        env = "MESHBOARD_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// A STUN server URL handed to clients as an ICE server (repeatable; env: comma-separated).
    #[arg(long = "stun-url", env = "MESHBOARD_STUN_URLS", value_delimiter = ',')]
    pub stun_urls: Vec<String>,

    /// A TURN server URL, such as `turn:turn.example.com:3478?transport=udp`, handed to each
    /// joining peer with short-lived credentials derived from --turn-secret (repeatable; env:
    /// comma-separated).
    #[arg(long = "turn-url", env = "MESHBOARD_TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<String>,

    /// The secret shared with the TURN server (coturn's `static-auth-secret` with
    /// `use-auth-secret`); never logged. Prefer the environment variable over the flag.
    #[arg(
        long,
        env = "MESHBOARD_TURN_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub turn_secret: Option<Secret>,

    /// How long the TURN credentials handed to a peer stay valid, in seconds; joined peers get
    /// fresh ones at three quarters of that.
    #[arg(long, env = "MESHBOARD_TURN_TTL_SECS", default_value_t = DEFAULT_TURN_TTL_SECS,
          value_parser = clap::value_parser!(u64).range(60..=31_536_000))]
    pub turn_ttl_secs: u64,

    /// Which ICE candidates the browsers may use (`RTCConfiguration.iceTransportPolicy`): `all`
    /// (direct links where the network allows, TURN otherwise) or `relay` (every link through
    /// the TURN server, so that peers never see each other's IP addresses; needs --turn-url).
    #[arg(long, env = "MESHBOARD_ICE_TRANSPORT_POLICY", value_enum, default_value_t = IcePolicy::All)]
    pub ice_transport_policy: IcePolicy,

    /// Seconds between WebSocket pings; a client silent for three intervals is disconnected.
    #[arg(long, env = "MESHBOARD_PING_INTERVAL_SECS", default_value_t = DEFAULT_PING_INTERVAL_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub ping_interval_secs: u64,

    /// TESTING AID, never for production: append every frame received from any client, verbatim,
    /// to FILE as one JSON line each (`{"conn":N,"text":"..."}`), so that end-to-end tests can prove
    /// that no board content ever reaches the server.
    #[arg(long, env = "MESHBOARD_CAPTURE", value_name = "FILE")]
    pub capture: Option<PathBuf>,

    /// TESTING AID, never for production (hidden from --help): misbehave as a hostile relay
    /// would, `tamper` (alter relayed payloads) or `replay` (deliver each one twice), so that
    /// end-to-end tests can show the browsers refuse it.
    #[arg(long, env = "MESHBOARD_HOSTILE_RELAY", value_enum, hide = true)]
    pub hostile_relay: Option<crate::hostile::Hostile>,

    /// Share rooms with every other instance on this Redis (`redis://host:6379/0`; a password
    /// goes in the URL, `redis://:PASSWORD@host`): membership, joins and leaves, and relayed
    /// signals. Without it the server works alone. Never logged.
    #[arg(
        long,
        env = "MESHBOARD_REDIS_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub redis_url: Option<Secret>,

    /// Seconds a room member registered in Redis lives without a refresh from its instance
    /// (refreshed every third of it): the members of an instance that died vanish this long
    /// after its last refresh.
    #[arg(long, env = "MESHBOARD_REDIS_MEMBER_TTL_SECS", default_value_t = DEFAULT_REDIS_MEMBER_TTL_SECS,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub redis_member_ttl_secs: u64,

    /// Log as JSON lines instead of human-readable text (the filter comes from RUST_LOG).
    #[arg(long, env = "MESHBOARD_LOG_JSON")]
    pub log_json: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            static_dir: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_tcp_connections: DEFAULT_MAX_TCP_CONNECTIONS,
            request_head_timeout_secs: DEFAULT_REQUEST_HEAD_TIMEOUT_SECS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            join_timeout_secs: DEFAULT_JOIN_TIMEOUT_SECS,
            trusted_proxies: Vec::new(),
            max_peers_per_room: DEFAULT_MAX_PEERS_PER_ROOM,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            rate_per_sec: DEFAULT_RATE_PER_SEC,
            rate_burst: DEFAULT_RATE_BURST,
            allowed_origins: Vec::new(),
            stun_urls: Vec::new(),
            turn_urls: Vec::new(),
            turn_secret: None,
            turn_ttl_secs: DEFAULT_TURN_TTL_SECS,
            ice_transport_policy: IcePolicy::All,
            ping_interval_secs: DEFAULT_PING_INTERVAL_SECS,
            capture: None,
            hostile_relay: None,
            redis_url: None,
            redis_member_ttl_secs: DEFAULT_REDIS_MEMBER_TTL_SECS,
            log_json: false,
        }
    }
}

/// `--ice-transport-policy`: what peers are told to set as `iceTransportPolicy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum IcePolicy {
    /// Any candidate.
    #[default]
    All,
    /// TURN relay candidates only.
    Relay,
}

impl From<IcePolicy> for crate::protocol::IceTransportPolicy {
    fn from(policy: IcePolicy) -> Self {
        match policy {
            IcePolicy::All => Self::All,
            IcePolicy::Relay => Self::Relay,
        }
    }
}

/// A secret string that never shows in `Debug` output (and so in no log line).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_is_well_formed() {
        Config::command().debug_assert();
    }

    #[test]
    fn flags_parse() {
        let c = Config::try_parse_from([
            "signaling",
            "--listen",
            "127.0.0.1:0",
            "--stun-url",
            "stun:a.example:3478",
            "--stun-url",
            "stun:b.example:3478",
            "--max-peers-per-room",
            "4",
            "--log-json",
        ])
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:0");
        assert_eq!(c.stun_urls, ["stun:a.example:3478", "stun:b.example:3478"]);
        assert_eq!(c.max_peers_per_room, 4);
        assert!(c.log_json);
        assert!(Config::try_parse_from(["signaling", "--max-connections", "0"]).is_err());
        let c = Config::try_parse_from([
            "signaling",
            "--trusted-proxy",
            "10.0.0.0/8",
            "--trusted-proxy",
            "::1",
        ])
        .unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        assert!(Config::try_parse_from(["signaling", "--trusted-proxy", "10.0.0.0/40"]).is_err());
    }

    #[test]
    fn turn_flags_parse_and_the_secret_stays_out_of_debug_output() {
        let c = Config::try_parse_from([
            "signaling",
            "--turn-url",
            "turn:t.example:3478",
            "--turn-url",
            "turns:t.example:5349",
            "--turn-secret",
            "hunter2",
            "--allowed-origin",
            "https://board.example",
        ])
        .unwrap();
        assert_eq!(c.turn_urls, ["turn:t.example:3478", "turns:t.example:5349"]);
        assert_eq!(c.turn_secret.as_ref().map(Secret::expose), Some("hunter2"));
        // Minutes, not a day: joined pages get fresh credentials before these expire.
        assert_eq!(c.turn_ttl_secs, 600);
        assert_eq!(c.allowed_origins, ["https://board.example"]);
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.ice_transport_policy, IcePolicy::All);
        let c = Config::try_parse_from(["signaling", "--ice-transport-policy", "relay"]).unwrap();
        assert_eq!(c.ice_transport_policy, IcePolicy::Relay);
        assert!(Config::try_parse_from(["signaling", "--ice-transport-policy", "none"]).is_err());
    }
}
