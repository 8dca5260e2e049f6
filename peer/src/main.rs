//! `meshboard-peer`: `run` holds boards; `add`, `list`, `remove` manage them (also while `run`
//! runs: it notices within `--poll-ms`). Logs go to stderr (`RUST_LOG`, default `info`).

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use meshboard_peer::cli::{Cli, Command};
use meshboard_peer::run::RunConfig;
use meshboard_peer::store::Store;
use meshboard_peer::{link, BoardId, RoomId};
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Add { link } => {
            let secret = link::parse(&link).context("cannot add")?;
            let store = Store::open(&cli.data_dir)?;
            let id = BoardId::of(&secret);
            if store.add(&secret)? {
                println!("added {id} (room {})", RoomId::of(&secret));
            } else {
                println!("already held: {id}");
            }
        }
        Command::List => {
            let store = Store::open(&cli.data_dir)?;
            for b in store.list()? {
                println!(
                    "{} room {} pieces {}",
                    b.id,
                    RoomId::of(&b.secret),
                    store.pieces(&b.id).map_or(0, |p| p.len())
                );
            }
        }
        Command::Remove { board } => {
            let id = match link::parse(&board) {
                Ok(secret) => BoardId::of(&secret),
                Err(e) => BoardId::parse(board.trim())
                    .with_context(|| format!("neither a link nor a board id: {e}"))?,
            };
            let store = Store::open(&cli.data_dir)?;
            if store.remove(&id)? {
                println!("removed {id}");
            } else {
                anyhow::bail!("no board {id} is held");
            }
        }
        Command::Run {
            signaling_url,
            metrics_addr,
            ice_ip,
            poll_ms,
            idle_evict_secs,
        } => {
            let config = RunConfig {
                data_dir: cli.data_dir,
                signaling_url,
                metrics_addr,
                ice_ip,
                poll: Duration::from_millis(poll_ms.max(50)),
                idle_evict: Duration::from_secs(idle_evict_secs),
            };
            let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
            runtime.block_on(meshboard_peer::run::run(config, shutdown_signal()))?;
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("signal received");
}
