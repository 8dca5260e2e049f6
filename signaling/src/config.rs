//! Command-line flags; every flag can also be given as a `MESHBOARD_*` environment variable.

use std::path::PathBuf;

use clap::{builder::RangedU64ValueParser, Parser};

use crate::protocol::DEFAULT_MAX_MESSAGE_BYTES;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_MAX_CONNECTIONS: u32 = 1024;
pub const DEFAULT_MAX_PEERS_PER_ROOM: usize = 32;
pub const DEFAULT_PING_INTERVAL_SECS: u64 = 20;

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

    /// Most peers in one room; one more gets `room_full`.
    #[arg(long, env = "MESHBOARD_MAX_PEERS_PER_ROOM", default_value_t = DEFAULT_MAX_PEERS_PER_ROOM,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_peers_per_room: usize,

    /// Largest text frame accepted from a client, in bytes; a larger one gets `too_large`.
    #[arg(long, env = "MESHBOARD_MAX_MESSAGE_BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES,
          value_parser = RangedU64ValueParser::<usize>::new().range(256..))]
    pub max_message_bytes: usize,

    /// A STUN server URL handed to clients as an ICE server (repeatable; env: comma-separated).
    #[arg(long = "stun-url", env = "MESHBOARD_STUN_URLS", value_delimiter = ',')]
    pub stun_urls: Vec<String>,

    /// Seconds between WebSocket pings; a client silent for three intervals is disconnected.
    #[arg(long, env = "MESHBOARD_PING_INTERVAL_SECS", default_value_t = DEFAULT_PING_INTERVAL_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub ping_interval_secs: u64,

    /// TESTING AID, never for production: append every frame received from any client, verbatim,
    /// to FILE as one JSON line each (`{"conn":N,"text":"..."}`), so that end-to-end tests can prove
    /// that no board content ever reaches the server.
    #[arg(long, env = "MESHBOARD_CAPTURE", value_name = "FILE")]
    pub capture: Option<PathBuf>,

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
            max_peers_per_room: DEFAULT_MAX_PEERS_PER_ROOM,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            stun_urls: Vec::new(),
            ping_interval_secs: DEFAULT_PING_INTERVAL_SECS,
            capture: None,
            log_json: false,
        }
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
    }
}
