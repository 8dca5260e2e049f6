//! Load benchmark of the signaling server, side by side with y-webrtc's signaling server.
//!
//! ```sh
//! npm install --prefix /tmp/ywebrtc y-webrtc@10.3.0
//! cargo bench -p signaling --bench load -- \
//!     --y-webrtc /tmp/ywebrtc/node_modules/y-webrtc/bin/server.js --write-benchmarks
//! ```
//!
//! For each server, on loopback, with the same client code and the same load:
//!
//! 1. idle connections: open N, each joined to a room of two, and divide by the RSS growth;
//! 2. moderate load: pairs that each send at a fixed rate; one-way relay latency p50/p99;
//! 3. saturation: pairs that keep a window of messages in flight; relayed messages per second.
//!
//! Then phases 2 and 3 again against `--instances` Meshboard instances sharing one
//! `redis-server` (`--redis-url`), each pair split across two instances.
//!
//! Bounded: fixed counts and a fixed duration per phase; servers are child processes that are
//! killed at the end.

mod phases;
mod report;
mod server;
mod wire;

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, Result};
use clap::Parser;

use crate::{
    phases::{Load, Target},
    report::{Results, Setup},
    server::{RedisProcess, ServerProcess},
};

#[derive(Debug, Parser)]
#[command(about = "Load benchmark: Meshboard's signaling server, and y-webrtc's if given")]
struct Args {
    /// y-webrtc's `bin/server.js` (from `npm install --prefix /tmp/ywebrtc y-webrtc`); without
    /// it only Meshboard is measured.
    #[arg(long, env = "YWEBRTC_SERVER_JS")]
    y_webrtc: Option<PathBuf>,
    /// Idle connections to open.
    #[arg(long, default_value_t = 8_000)]
    idle: usize,
    /// Pairs of peers for the relay phases.
    #[arg(long, default_value_t = 50)]
    pairs: usize,
    /// Messages in flight per pair when saturating.
    #[arg(long, default_value_t = 16)]
    window: usize,
    /// Total messages per second of the moderate load.
    #[arg(long, default_value_t = 5_000.0)]
    moderate_rate: f64,
    /// Seconds per relay phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Runs of the two relay phases per server; the median run is reported, with the range.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// Bytes of padding in each relayed message.
    #[arg(long, default_value_t = 200)]
    payload_bytes: usize,
    /// Meshboard instances on one Redis for a second run of the relay phases (1: none).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=16))]
    instances: u64,
    /// The `redis-server` those instances share (Debian's package).
    #[arg(long, default_value = "redis-server")]
    redis_server: PathBuf,
    /// Write the results into BENCHMARKS.md at the repository root (its "Signaling server"
    /// section only).
    #[arg(long)]
    write_benchmarks: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split(' ').next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    let ticks = report::version_of("getconf", &["CLK_TCK"])
        .parse()
        .unwrap_or(100);
    let duration = Duration::from_secs(args.seconds);
    let per_peer = args.moderate_rate / (args.pairs * 2) as f64;
    let mut results = Vec::new();
    let mut notes = vec![
        "Meshboard runs with `--rate-per-sec 1000000 --rate-burst 1000000` so that the \
         saturation phase measures relaying, not its per-connection rate limit (default 50/s); \
         y-webrtc has no rate limit."
            .to_owned(),
        "Meshboard delivers a `signal` to the one peer it names; y-webrtc delivers a `publish` \
         to every subscriber of the topic, the sender included, so in a room of two it also \
         sends each message back to its sender (not counted as relayed)."
            .to_owned(),
    ];

    let mut servers = vec![("Meshboard signaling".to_owned(), None)];
    if let Some(js) = args.y_webrtc.clone() {
        let version = ywebrtc_version(&js).unwrap_or_else(|| "?".into());
        servers.push((format!("y-webrtc {version} (`bin/server.js`)"), Some(js)));
    } else {
        notes.push("y-webrtc was not measured (no --y-webrtc given).".into());
    }

    for (name, y_webrtc) in servers {
        eprintln!("== {name}");
        let server = match &y_webrtc {
            None => ServerProcess::meshboard(args.idle + args.pairs * 2 + 64),
            Some(js) => ServerProcess::y_webrtc(js),
        }
        .with_context(|| format!("starting {name}"))?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle = phases::idle(&server, args.idle).await?;
        let target = Target {
            servers: vec![&server],
            redis: None,
        };
        eprintln!(
            "idle: {} connections, RSS +{} KiB, {:.0} per GiB",
            idle.connections,
            idle.rss_growth_bytes / 1024,
            idle.per_gib().unwrap_or(0.0)
        );
        let (mut moderate, mut saturated) = (Vec::new(), Vec::new());
        for run in 1..=args.runs {
            let m = phases::relay(
                &target,
                args.pairs,
                Load::Paced {
                    per_peer_per_sec: per_peer,
                },
                duration,
                args.payload_bytes,
                ticks,
            )
            .await?;
            eprintln!(
                "run {run}, moderate: {:.0} msg/s, p50 {} us, p99 {} us",
                m.per_sec(),
                m.percentile_us(50.0),
                m.percentile_us(99.0)
            );
            moderate.push(m);
            let s = phases::relay(
                &target,
                args.pairs,
                Load::Saturate {
                    window: args.window,
                },
                duration,
                args.payload_bytes,
                ticks,
            )
            .await?;
            eprintln!(
                "run {run}, saturated: {:.0} msg/s, p50 {} us, p99 {} us, server CPU {:?}",
                s.per_sec(),
                s.percentile_us(50.0),
                s.percentile_us(99.0),
                s.server_cpu
            );
            saturated.push(s);
        }
        results.push(Results::new(name, Some(idle), moderate, saturated)?);
    }
    let cluster = match usize::try_from(args.instances)? {
        1 => None,
        n => Some(cluster(&args, n, per_peer, ticks).await?),
    };

    let setup = Setup {
        command: reproduce_command(&args),
        idle_connections: args.idle,
        pairs: args.pairs,
        window: args.window,
        moderate_rate: args.moderate_rate,
        seconds: args.seconds,
        runs: args.runs,
        payload_bytes: args.payload_bytes,
        load_average,
    };
    let section = report::section(&setup, &results, cluster.as_ref(), &notes);
    println!("{section}");
    if args.write_benchmarks {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md");
        report::write_section(&path, &section)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The relay phases against `n` Meshboard instances on one Redis.
async fn cluster(args: &Args, n: usize, per_peer: f64, ticks: u64) -> Result<report::Cluster> {
    eprintln!("== {n} Meshboard instances on one Redis");
    let redis = RedisProcess::start(&args.redis_server)?;
    let url = redis.url();
    let mut servers = Vec::new();
    for _ in 0..n {
        let server = ServerProcess::meshboard_with(args.pairs * 2 + 64, &["--redis-url", &url])
            .context("starting an instance")?;
        server.redis_up().await?;
        servers.push(server);
    }
    let target = Target {
        servers: servers.iter().collect(),
        redis: Some(&redis),
    };
    let duration = Duration::from_secs(args.seconds);
    let (mut moderate, mut saturated) = (Vec::new(), Vec::new());
    for run in 1..=args.runs {
        let paced = Load::Paced {
            per_peer_per_sec: per_peer,
        };
        let m = phases::relay(
            &target,
            args.pairs,
            paced,
            duration,
            args.payload_bytes,
            ticks,
        )
        .await?;
        eprintln!(
            "run {run}, moderate: {:.0} msg/s, p50 {} us, p99 {} us",
            m.per_sec(),
            m.percentile_us(50.0),
            m.percentile_us(99.0)
        );
        moderate.push(m);
        let window = Load::Saturate {
            window: args.window,
        };
        let s = phases::relay(
            &target,
            args.pairs,
            window,
            duration,
            args.payload_bytes,
            ticks,
        )
        .await?;
        eprintln!(
            "run {run}, saturated: {:.0} msg/s, p50 {} us, p99 {} us, CPU {:?}",
            s.per_sec(),
            s.percentile_us(50.0),
            s.percentile_us(99.0),
            s.server_cpu
        );
        saturated.push(s);
    }
    Ok(report::Cluster {
        instances: n,
        results: Results::new(format!("{n} instances"), None, moderate, saturated)?,
    })
}

/// The `version` field of the package.json next to `bin/server.js`.
fn ywebrtc_version(server_js: &std::path::Path) -> Option<String> {
    let package = server_js.parent()?.parent()?.join("package.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(package).ok()?).ok()?;
    json.get("version")?.as_str().map(str::to_owned)
}

fn reproduce_command(args: &Args) -> String {
    let mut cmd = String::from(
        "cargo xtask bench --only load   # all of what follows, with the anchor's y-webrtc\n\
         # or by hand:\n\
         npm install --prefix /tmp/ywebrtc y-webrtc@10.3.0\n\
         cargo bench -p signaling --bench load --",
    );
    if args.y_webrtc.is_some() {
        cmd.push_str(" --y-webrtc /tmp/ywebrtc/node_modules/y-webrtc/bin/server.js");
    }
    let defaults = Args::parse_from(["load"]);
    for (flag, value, default) in [
        ("--idle", args.idle.to_string(), defaults.idle.to_string()),
        (
            "--pairs",
            args.pairs.to_string(),
            defaults.pairs.to_string(),
        ),
        (
            "--window",
            args.window.to_string(),
            defaults.window.to_string(),
        ),
        (
            "--moderate-rate",
            args.moderate_rate.to_string(),
            defaults.moderate_rate.to_string(),
        ),
        (
            "--seconds",
            args.seconds.to_string(),
            defaults.seconds.to_string(),
        ),
        ("--runs", args.runs.to_string(), defaults.runs.to_string()),
        (
            "--instances",
            args.instances.to_string(),
            defaults.instances.to_string(),
        ),
        (
            "--payload-bytes",
            args.payload_bytes.to_string(),
            defaults.payload_bytes.to_string(),
        ),
    ] {
        if value != default {
            cmd.push_str(&format!(" {flag} {value}"));
        }
    }
    cmd.push_str(" --write-benchmarks");
    cmd
}
