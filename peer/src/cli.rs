//! The command line (flags and their environment variables), apart from main.rs so that a test
//! can check that docs/self-hosting.md names every one.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "meshboard-peer",
    version,
    about = "An always-on Meshboard peer"
)]
pub struct Cli {
    /// Where the peer keeps its database (it holds board links: keep it private).
    #[arg(
        long,
        env = "MESHBOARD_PEER_DATA_DIR",
        global = true,
        default_value = "./meshboard-peer-data"
    )]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Hold every board added, until SIGINT or SIGTERM.
    Run {
        /// The signaling server's WebSocket, e.g. ws://127.0.0.1:8080/ws.
        #[arg(long, env = "MESHBOARD_PEER_SIGNALING_URL")]
        signaling_url: String,
        /// Serve /healthz and /metrics here (e.g. 127.0.0.1:9464).
        #[arg(long, env = "MESHBOARD_PEER_METRICS_ADDR")]
        metrics_addr: Option<SocketAddr>,
        /// The IP address offered to browsers as our ICE candidate (default: the interface of
        /// the default route).
        #[arg(long, env = "MESHBOARD_PEER_ICE_IP")]
        ice_ip: Option<IpAddr>,
        /// How often to look for boards added or removed, in milliseconds.
        #[arg(long, env = "MESHBOARD_PEER_POLL_MS", default_value_t = 1000)]
        poll_ms: u64,
        /// Drop a board from memory after this many seconds without a linked peer.
        #[arg(long, env = "MESHBOARD_PEER_IDLE_EVICT_SECS", default_value_t = 120)]
        idle_evict_secs: u64,
    },
    /// Hold the board of a link (https://host/b#<key>).
    Add { link: String },
    /// List the boards held (their ids and room ids; never their links).
    List,
    /// Stop holding a board and delete it from the database (a link or a board id).
    Remove { board: String },
}
