//! The results as a Markdown section of BENCHMARKS.md, with the machine and the date.

use std::{
    fmt::Write as _,
    path::Path,
    process::Command,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Result;

use crate::phases::{Idle, Relayed};

pub const SECTION: &str = "## Signaling server";

/// Everything measured for one server: the median of its runs, and the range over them.
pub struct Results {
    pub name: String,
    /// Not measured for several instances.
    pub idle: Option<Idle>,
    /// The run with the median p99.
    pub moderate: Relayed,
    /// The run with the median throughput.
    pub saturated: Relayed,
    /// Lowest and highest p99 (µs) at the moderate rate over all runs.
    pub moderate_p99_range: (u64, u64),
    /// Lowest and highest messages per second when saturated over all runs.
    pub saturated_range: (f64, f64),
}

impl Results {
    pub fn new(
        name: String,
        idle: Option<Idle>,
        mut moderate: Vec<Relayed>,
        mut saturated: Vec<Relayed>,
    ) -> Result<Self> {
        moderate.sort_by_key(|r| r.percentile_us(99.0));
        saturated.sort_by(|a, b| a.per_sec().total_cmp(&b.per_sec()));
        let moderate_p99_range = (
            moderate.first().map_or(0, |r| r.percentile_us(99.0)),
            moderate.last().map_or(0, |r| r.percentile_us(99.0)),
        );
        let saturated_range = (
            saturated.first().map_or(0.0, Relayed::per_sec),
            saturated.last().map_or(0.0, Relayed::per_sec),
        );
        let median = |mut runs: Vec<Relayed>| {
            anyhow::ensure!(!runs.is_empty(), "no runs");
            let middle = runs.len() / 2;
            Ok(runs.swap_remove(middle))
        };
        Ok(Self {
            name,
            idle,
            moderate: median(moderate)?,
            saturated: median(saturated)?,
            moderate_p99_range,
            saturated_range,
        })
    }
}

/// The parameters of a run, to describe it.
pub struct Setup {
    pub command: String,
    pub idle_connections: usize,
    pub pairs: usize,
    pub window: usize,
    pub moderate_rate: f64,
    pub seconds: u64,
    pub runs: u64,
    pub payload_bytes: usize,
    /// /proc/loadavg's 1-minute figure when the run started (other work on the machine).
    pub load_average: String,
}

/// `nproc`, memory and CPU model, from /proc.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    format!("{cores} cores (nproc), {mem_gib:.1} GiB RAM, {model}")
}

/// The output of `program args`, trimmed, or "unknown".
pub fn version_of(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Today's date (UTC) as YYYY-MM-DD.
pub fn today() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn thousands(x: f64) -> String {
    let digits = (x.round() as u64).to_string();
    let mut rest = digits.as_str();
    let mut groups = Vec::new();
    while rest.len() > 3 {
        let (head, tail) = rest.split_at(rest.len() - 3);
        groups.push(tail);
        rest = head;
    }
    groups.push(rest);
    groups.reverse();
    groups.join(",")
}

/// The Markdown section, results side by side (Meshboard first).
pub fn section(
    setup: &Setup,
    results: &[Results],
    cluster: Option<&Cluster>,
    notes: &[String],
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{SECTION}\n");
    let _ = writeln!(
        md,
        "Measured on {}, {}; Linux {}, {}, Node {}. Load generator and servers share the machine \
         (loopback only); load average when the run started: {}.\n",
        today(),
        machine(),
        version_of("uname", &["-r"]),
        version_of("rustc", &["--version"]),
        version_of("node", &["--version"]),
        setup.load_average,
    );
    let _ = writeln!(md, "Reproduce (from the repository root):\n");
    let _ = writeln!(md, "```sh\n{}\n```\n", setup.command);
    let mut header = String::from("| |");
    let mut rule = String::from("|---|");
    for r in results {
        let _ = write!(header, " {} |", r.name);
        rule.push_str("---|");
    }
    if results.len() == 2 {
        header.push_str(" ratio |");
        rule.push_str("---|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    type Row<'a> = (String, Box<dyn Fn(&Results) -> (String, f64) + 'a>, bool);
    let rows: Vec<Row> = vec![
        (
            format!(
                "idle connections per GiB of server RSS ({} joined, in rooms of two)",
                setup.idle_connections
            ),
            Box::new(|r| {
                let v = r.idle.as_ref().and_then(Idle::per_gib).unwrap_or(0.0);
                (thousands(v), v)
            }),
            true,
        ),
        (
            "server RSS per idle connection".into(),
            Box::new(|r| {
                let per = r.idle.as_ref().map_or(0.0, |idle| {
                    idle.rss_growth_bytes as f64 / idle.connections as f64
                });
                (format!("{:.1} KiB", per / 1024.0), per)
            }),
            false,
        ),
        (
            format!(
                "relayed messages per second, saturated ({} pairs, {} in flight per pair)",
                setup.pairs, setup.window
            ),
            Box::new(|r| {
                let v = r.saturated.per_sec();
                (thousands(v), v)
            }),
            true,
        ),
        (
            format!("the same, lowest – highest of {} runs", setup.runs),
            Box::new(|r| {
                let (low, high) = r.saturated_range;
                (
                    format!("{} – {}", thousands(low), thousands(high)),
                    f64::NAN,
                )
            }),
            false,
        ),
        (
            "server CPU per relayed message, saturated".into(),
            Box::new(|r| {
                let d = r.saturated.cpu_per_message();
                (micros(d), d.as_secs_f64())
            }),
            false,
        ),
        (
            "server CPU used while saturated (share of one core)".into(),
            Box::new(|r| {
                let share =
                    r.saturated.server_cpu.as_secs_f64() / r.saturated.elapsed.as_secs_f64();
                (format!("{:.0} %", share * 100.0), f64::NAN)
            }),
            false,
        ),
        (
            "relayed messages per second per server core (1 / CPU per message)".into(),
            Box::new(|r| {
                let per_core = 1.0 / r.saturated.cpu_per_message().as_secs_f64();
                (thousands(per_core), per_core)
            }),
            true,
        ),
        (
            "relay latency p50 / p99, saturated".into(),
            Box::new(|r| {
                let (p50, p99) = (
                    r.saturated.percentile_us(50.0),
                    r.saturated.percentile_us(99.0),
                );
                (format!("{} / {}", ms(p50), ms(p99)), p99 as f64)
            }),
            false,
        ),
        (
            format!(
                "relay latency p50 / p99 at a moderate {} msg/s ({} pairs)",
                thousands(setup.moderate_rate),
                setup.pairs
            ),
            Box::new(|r| {
                let (p50, p99) = (
                    r.moderate.percentile_us(50.0),
                    r.moderate.percentile_us(99.0),
                );
                (format!("{} / {}", ms(p50), ms(p99)), p99 as f64)
            }),
            false,
        ),
        (
            format!(
                "relay latency p99 at the moderate rate, lowest – highest of {} runs",
                setup.runs
            ),
            Box::new(|r| {
                let (low, high) = r.moderate_p99_range;
                (format!("{} – {}", ms(low), ms(high)), f64::NAN)
            }),
            false,
        ),
        (
            "relay latency max at the moderate rate".into(),
            Box::new(|r| {
                let max = r.moderate.latencies_us.last().copied().unwrap_or(0);
                (ms(max), max as f64)
            }),
            false,
        ),
        (
            "messages delivered at the moderate rate".into(),
            Box::new(|r| {
                let v = r.moderate.per_sec();
                (format!("{}/s", thousands(v)), v)
            }),
            true,
        ),
    ];
    for (label, cell, higher_is_better) in &rows {
        let mut line = format!("| {label} |");
        let values: Vec<(String, f64)> = results.iter().map(cell).collect();
        for (text, _) in &values {
            let _ = write!(line, " {text} |");
        }
        if let [(_, ours), (_, theirs)] = values.as_slice() {
            let ratio = if *higher_is_better {
                ours / theirs
            } else {
                theirs / ours
            };
            if ratio.is_finite() {
                let _ = write!(line, " {ratio:.1}x |");
            } else {
                line.push_str(" |");
            }
        }
        let _ = writeln!(md, "{line}");
    }
    let _ = writeln!(
        md,
        "\nRatio: how many times better Meshboard is on that row (above 1 is better). Each \
         server runs as a child process; RSS and CPU time come from /proc/<pid>. Payload: a {} \
         byte string per message (about an ICE candidate). Relay phases last {} s each and \
         run {} times per server; the table shows the median run (by p99 at the moderate rate, \
         by throughput when saturated) and the range over the runs.\n",
        setup.payload_bytes, setup.seconds, setup.runs
    );
    for note in notes {
        let _ = writeln!(md, "- {note}");
    }
    if let (Some(cluster), Some(single)) = (cluster, results.first()) {
        md.push_str(&cluster_table(setup, single, cluster));
    }
    md
}

/// Several instances on one Redis against one instance: the relay phases only.
fn cluster_table(setup: &Setup, single: &Results, cluster: &Cluster) -> String {
    let mut md = String::new();
    let n = cluster.instances;
    let _ = writeln!(md, "\n### {n} instances on one Redis\n");
    let _ = writeln!(
        md,
        "The same relay phases against {n} Meshboard instances started with `--redis-url` on one \
         `redis-server` (Redis {}, no persistence): the two peers of each pair are on \
         different instances, so every message goes from one instance through Redis pub/sub to \
         another. Server CPU is the instances' and Redis' together.\n",
        version_of("redis-server", &["--version"])
            .split(' ')
            .find_map(|w| w.strip_prefix("v="))
            .unwrap_or("?")
    );
    let r = &cluster.results;
    let _ = writeln!(
        md,
        "| | one instance | {n} instances on one Redis |\n|---|---|---|"
    );
    type Cell = Box<dyn Fn(&Results) -> String>;
    let rows: [(String, Cell); 6] = [
        (
            format!(
                "relayed messages per second, saturated ({} pairs, {} in flight per pair)",
                setup.pairs, setup.window
            ),
            Box::new(|r| thousands(r.saturated.per_sec())),
        ),
        (
            format!("the same, lowest – highest of {} runs", setup.runs),
            Box::new(|r| {
                let (low, high) = r.saturated_range;
                format!("{} – {}", thousands(low), thousands(high))
            }),
        ),
        (
            "server CPU per relayed message, saturated".into(),
            Box::new(|r| micros(r.saturated.cpu_per_message())),
        ),
        (
            "relay latency p50 / p99, saturated".into(),
            Box::new(|r| {
                let s = &r.saturated;
                format!(
                    "{} / {}",
                    ms(s.percentile_us(50.0)),
                    ms(s.percentile_us(99.0))
                )
            }),
        ),
        (
            format!(
                "relay latency p50 / p99 at a moderate {} msg/s; p99 lowest – highest of {} runs",
                thousands(setup.moderate_rate),
                setup.runs
            ),
            Box::new(|r| {
                let m = &r.moderate;
                let (low, high) = r.moderate_p99_range;
                format!(
                    "{} / {}; {} – {}",
                    ms(m.percentile_us(50.0)),
                    ms(m.percentile_us(99.0)),
                    ms(low),
                    ms(high)
                )
            }),
        ),
        (
            "messages delivered at the moderate rate".into(),
            Box::new(|r| format!("{}/s", thousands(r.moderate.per_sec()))),
        ),
    ];
    for (label, cell) in &rows {
        let _ = writeln!(md, "| {label} | {} | {} |", cell(single), cell(r));
    }
    md
}

/// The relay phases against several instances on one Redis.
pub struct Cluster {
    pub instances: usize,
    pub results: Results,
}

/// Puts `section` into the file at `path` in place of an older one (from its heading to the next
/// `## ` heading), or at the end; creates the file if needed.
pub fn write_section(path: &Path, section: &str) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let section = section.trim_end();
    let new = match old.find(&format!("\n{SECTION}\n")) {
        Some(i) => {
            let start = i + 1;
            let body = start + SECTION.len();
            let end = old[body..]
                .find("\n## ")
                .map_or(old.len(), |j| body + j + 1);
            match &old[end..] {
                "" => format!("{}{section}\n", &old[..start]),
                rest => format!("{}{section}\n\n{rest}", &old[..start]),
            }
        }
        None => format!("{}\n\n{section}\n", old.trim_end()),
    };
    std::fs::write(path, new)?;
    Ok(())
}
