//! `cargo xtask run` and `cargo xtask test`: the README's two commands; and `cargo xtask bench`.

mod bench;
mod cmd;
mod precompress;
mod setup;
mod sri;
mod stamp;
mod test;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Meshboard's developer commands")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what is missing, build the app (release) and serve it with the signaling server.
    Run {
        /// Address to listen on.
        #[arg(long, env = "MESHBOARD_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Install what is missing, then fmt, clippy, Rust tests, wasm tests and the e2e suite.
    Test {
        /// Run only these checks (comma-separated or repeated); default: all of them.
        #[arg(long, value_enum, value_delimiter = ',')]
        only: Vec<test::Check>,
        /// Skip the Playwright e2e suite (for quick local iterations; CI runs everything).
        #[arg(long)]
        skip_e2e: bool,
        /// Only run e2e test files whose name contains this.
        #[arg(long)]
        e2e_filter: Option<String>,
    },
    /// Measure Meshboard side by side with Yjs + y-webrtc in real Chromium, and the signaling
    /// server's load bench (one instance, and three on one Redis); write BENCHMARKS.md.
    Bench {
        /// A short run (a prefix of the trace, few keys) that must measure every row; writes its
        /// table under target/bench/ and leaves BENCHMARKS.md alone (`cargo xtask test` runs it).
        /// The load bench is not part of it.
        #[arg(long)]
        smoke: bool,
        /// Run only these parts (comma-separated or repeated); default: all of them.
        #[arg(long, value_enum, value_delimiter = ',')]
        only: Vec<bench::Part>,
    },
    /// Write NAME.br and NAME.gz next to each text and wasm file in dist/ (after `trunk build`).
    Precompress,
}

/// The workspace root (the parent of this crate). `cargo run` tells the running binary where its
/// manifest is; the path baked in at compile time is only a fallback, because cargo reuses a build
/// from another checkout that shares the target directory.
pub fn root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Where cargo puts its builds: `CARGO_TARGET_DIR` if set (relative to the working directory, as
/// cargo reads it), else `target/` in the root.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => std::path::absolute(&dir).unwrap_or_else(|_| PathBuf::from(dir)),
        None => root().join("target"),
    }
}

fn main() -> ExitCode {
    match dispatch(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            cmd::report(&e);
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Cmd) -> Result<()> {
    match command {
        Cmd::Run { listen } => run(&listen),
        Cmd::Precompress => setup::precompress(),
        Cmd::Bench { smoke, only } => bench::run(smoke, &only),
        Cmd::Test {
            only,
            skip_e2e,
            e2e_filter,
        } => test::all(&test::Options {
            only: &only,
            skip_e2e,
            e2e_filter: e2e_filter.as_deref(),
        }),
    }
}

/// `cargo xtask run`: build everything in release and hand the process over to the server.
fn run(listen: &str) -> Result<()> {
    setup::ensure_build_tools()?;
    cmd::step("build the app (release)", setup::trunk_build)?;
    cmd::step("build the server (release)", || {
        cmd::run(cmd::cargo().args(["build", "--release", "-p", "signaling"]))
    })?;
    let mut server = Command::new(target_dir().join("release/signaling"));
    server
        .arg("--listen")
        .arg(listen)
        .arg("--static-dir")
        .arg(root().join("dist"));
    println!("\nMeshboard: http://{listen}  (Ctrl-C to stop)\n");
    exec(&mut server)
}

/// Replace this process with `c` (on Unix), so signals reach the server directly.
#[cfg(unix)]
fn exec(c: &mut Command) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let shown = cmd::describe(c);
    Err(anyhow::Error::new(c.exec()).context(format!("could not start {shown}")))
}

#[cfg(not(unix))]
fn exec(c: &mut Command) -> Result<()> {
    cmd::run(c)
}
