//! `cargo xtask run` and `cargo xtask test`: the README's two commands.

mod cmd;
mod setup;
mod test;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Meshboard's developer commands")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what is missing, build the app (release) and serve it with the signaling server.
    Run {
        /// Address to listen on.
        #[arg(long, env = "MESHBOARD_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Install what is missing, then fmt, clippy, Rust tests, wasm tests and the e2e suite.
    Test {
        /// Skip the Playwright e2e suite (for quick local iterations; CI runs everything).
        #[arg(long)]
        skip_e2e: bool,
        /// Only run e2e test files whose name contains this (implies building the app).
        #[arg(long)]
        e2e_filter: Option<String>,
    },
}

/// The workspace root (the parent of this crate).
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run { listen } => {
            setup::ensure_build_tools()?;
            cmd::step("build the app (release)", setup::trunk_build)?;
            cmd::step("build the server (release)", || {
                cmd::run(cmd::cargo().args(["build", "--release", "-p", "signaling"]))
            })?;
            let server = root().join("target/release/signaling");
            let dist = root().join("dist");
            println!("\nMeshboard: http://{listen}  (Ctrl-C to stop)\n");
            cmd::run(
                std::process::Command::new(server)
                    .arg("--listen")
                    .arg(&listen)
                    .arg("--static-dir")
                    .arg(dist),
            )
        }
        Command::Test {
            skip_e2e,
            e2e_filter,
        } => test::all(skip_e2e, e2e_filter.as_deref()),
    }
}
