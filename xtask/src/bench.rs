//! `cargo xtask bench`: Meshboard side by side with the Yjs + y-webrtc anchor in one run of the
//! system Chromium (`e2e/bench/side-by-side.mjs`), written into BENCHMARKS.md with the machine and
//! the date. `--smoke` runs a short version (a prefix of the trace, few keys) that must measure
//! every row, and writes its table under target/ instead: `cargo xtask test` runs it.
//!
//! Then the signaling server's load bench (`signaling/benches/load`, release build) against
//! y-webrtc's server and against [`LOAD_INSTANCES`] instances on one `redis-server`, which
//! rewrites the section "Signaling server" of BENCHMARKS.md (not in the smoke run). `--only load`
//! runs just that part (about 5 minutes).

use std::fs;

use anyhow::{ensure, Context, Result};
use clap::ValueEnum;
use serde::Deserialize;

use crate::cmd::{self, step};
use crate::{root, setup, target_dir};

/// The section of BENCHMARKS.md this command owns.
const HEADING: &str = "## Side by side with Yjs";

/// The smoke replays this many transactions of the trace (the full run: all of them).
const SMOKE_TXNS: &str = "2000";

/// Signaling instances on one Redis in the load bench's second run of its relay phases.
const LOAD_INSTANCES: &str = "3";

/// The parts of `cargo xtask bench`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// Meshboard and Yjs + y-webrtc in Chromium (section "Side by side with Yjs").
    SideBySide,
    /// The signaling server's load bench, one instance and several on Redis (section
    /// "Signaling server").
    Load,
}

#[derive(Debug, Deserialize)]
pub struct Results {
    meta: Meta,
    rows: Vec<Row>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    smoke: bool,
    chromium: String,
    node: String,
    yjs: String,
    y_webrtc: String,
    y_indexeddb: String,
    trace_txns: u64,
    trace_chars: u64,
    anchor_js_bytes: u64,
    anchor_js_gzip_bytes: u64,
    started: String,
}

#[derive(Debug, Deserialize)]
struct Row {
    id: String,
    what: String,
    unit: String,
    mesh: Side,
    yjs: Side,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Side {
    Measured { value: f64, note: Option<String> },
    Failed { failed: String },
}

pub fn run(smoke: bool, only: &[Part]) -> Result<()> {
    let wants = |p: Part| only.is_empty() || only.contains(&p);
    if wants(Part::SideBySide) {
        side_by_side(smoke)?;
    }
    if wants(Part::Load) {
        if smoke {
            println!("\n(smoke: the load bench is not part of it)");
        } else {
            load()?;
        }
    }
    Ok(())
}

/// The load bench of the signaling server against y-webrtc's server (the anchor's own package)
/// and against several instances on one Redis; it writes its section of BENCHMARKS.md.
fn load() -> Result<()> {
    setup::ensure_redis()?;
    step(
        "setup: npm packages of the Yjs anchor (y-webrtc's server)",
        || setup::ensure_npm_packages("e2e/bench"),
    )?;
    let y_webrtc = root().join("e2e/bench/node_modules/y-webrtc/bin/server.js");
    step(
        &format!("load bench: 1 and {LOAD_INSTANCES} signaling instances, and y-webrtc"),
        || {
            let mut c = cmd::cargo();
            c.args(["bench", "-p", "signaling", "--bench", "load", "--"])
                .arg("--y-webrtc")
                .arg(&y_webrtc)
                .args(["--instances", LOAD_INSTANCES, "--write-benchmarks"]);
            cmd::run(&mut c)
        },
    )
}

fn side_by_side(smoke: bool) -> Result<()> {
    setup::ensure_build_tools()?;
    setup::ensure_chromium()?;
    step("setup: npm packages of the Yjs anchor", || {
        setup::ensure_npm_packages("e2e/bench")
    })?;
    step("build the app (release)", setup::trunk_build)?;
    // The smoke runs inside `cargo xtask test`, after the e2e step built the debug server.
    let profile = if smoke { "debug" } else { "release" };
    step(&format!("build the server ({profile})"), || {
        let mut c = cmd::cargo();
        c.args(["build", "-p", "signaling"]);
        if !smoke {
            c.arg("--release");
        }
        cmd::run(&mut c)
    })?;
    let dir = target_dir().join("bench");
    fs::create_dir_all(&dir)?;
    let board = dir.join(if smoke {
        "trace-prefix.board"
    } else {
        "trace.board"
    });
    step("build the trace board", || {
        let mut c = cmd::cargo();
        c.args([
            "run",
            "--release",
            "-p",
            "bench",
            "--",
            "board-fixture",
            "--out",
        ])
        .arg(&board);
        if smoke {
            c.args(["--txns", SMOKE_TXNS]);
        }
        cmd::run(&mut c)
    })?;
    let json = dir.join(if smoke {
        "side-by-side.smoke.json"
    } else {
        "side-by-side.json"
    });
    let _ = fs::remove_file(&json);
    let machine = Machine::read();
    step("side by side with Yjs (Playwright, real Chromium)", || {
        let mut c = cmd::new("node");
        c.arg(root().join("e2e/bench/side-by-side.mjs"))
            .arg("--out")
            .arg(&json)
            .env(
                "MESHBOARD_SERVER_BIN",
                target_dir().join(profile).join("signaling"),
            )
            .env("MESHBOARD_DIST", root().join("dist"))
            .env("MESHBOARD_LARGE_BOARD", &board);
        if smoke {
            c.args(["--smoke", "--txns", SMOKE_TXNS]);
        }
        cmd::run(&mut c)
    })?;
    let results: Results = serde_json::from_str(
        &fs::read_to_string(&json).with_context(|| format!("reading {}", json.display()))?,
    )
    .with_context(|| format!("parsing {}", json.display()))?;
    let section = render(&results, &machine.finish());
    println!("\n{section}");
    if smoke {
        let failed = failures(&results);
        ensure!(
            failed.is_empty(),
            "the smoke run did not measure: {}",
            failed.join("; ")
        );
        let out = dir.join("side-by-side.smoke.md");
        fs::write(&out, &section)?;
        println!("(smoke: wrote {}, BENCHMARKS.md unchanged)", out.display());
    } else {
        let path = root().join("BENCHMARKS.md");
        let old = fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".into());
        fs::write(&path, replace_section(&old, &section))?;
        println!("wrote the section \"{HEADING}\" of {}", path.display());
    }
    Ok(())
}

/// "row id, side: why" for every side that was not measured.
fn failures(r: &Results) -> Vec<String> {
    let mut out = Vec::new();
    for row in &r.rows {
        for (name, side) in [("Meshboard", &row.mesh), ("Yjs", &row.yjs)] {
            if let Side::Failed { failed } = side {
                out.push(format!("{} ({name}): {failed}", row.id));
            }
        }
    }
    out
}

/// What the machine is and how busy it was around the run.
struct Machine {
    cores: String,
    memory: String,
    cpu: String,
    kernel: String,
    load_before: String,
    load_after: String,
    ended: String,
}

impl Machine {
    fn read() -> Self {
        let file = |p: &str| fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = file("/proc/cpuinfo");
        let meminfo = file("/proc/meminfo");
        let kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        Machine {
            cores: std::thread::available_parallelism()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "?".into()),
            memory: format!("{:.1} GiB", kib / 1024.0 / 1024.0),
            cpu: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
                .unwrap_or_else(|| "unknown CPU".into()),
            kernel: file("/proc/sys/kernel/osrelease").trim().to_string(),
            load_before: load_average(),
            load_after: String::new(),
            ended: String::new(),
        }
    }

    fn finish(mut self) -> Self {
        self.load_after = load_average();
        self.ended = cmd::output(cmd::new("date").args(["-u", "+%a %d %b %Y %H:%M UTC"]))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        self
    }
}

/// The 1-minute load average.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn render(r: &Results, m: &Machine) -> String {
    let meta = &r.meta;
    let mut s = String::new();
    s.push_str(HEADING);
    s.push_str("\n\n");
    s.push_str(&format!(
        "Written by `cargo xtask bench{}` (run started {}, ended {}). \
         **Machine:** {} cores, {}, {}; Linux {}; load average {} before and {} after the run. \
         Chromium {} headless, Node {}; the anchor is Yjs {} + y-webrtc {} + y-indexeddb {} \
         (its page: {} B of JavaScript, {} B gzip), with y-webrtc's own signaling server. \
         Meshboard runs its release build (wasm-release profile) with its signaling server ({}). \
         **Trace:** the first {} transactions of `automerge-paper` ({} characters).\n\n",
        if meta.smoke { " --smoke" } else { "" },
        meta.started,
        m.ended,
        m.cores,
        m.memory,
        m.cpu,
        m.kernel,
        m.load_before,
        m.load_after,
        meta.chromium,
        meta.node,
        meta.yjs,
        meta.y_webrtc,
        meta.y_indexeddb,
        thousands(meta.anchor_js_bytes as f64),
        thousands(meta.anchor_js_gzip_bytes as f64),
        if meta.smoke {
            "debug build"
        } else {
            "release build"
        },
        thousands(meta.trace_txns as f64),
        thousands(meta.trace_chars as f64),
    ));
    s.push_str(
        "**How** (`e2e/bench/side-by-side.mjs`): both apps are driven by one Playwright script in \
         the same browser, one after the other, through the same UI contract (`new-board`, \
         `board-title`, `note-text`, `peer-count`). A keystroke is timed from the keydown in \
         browser context A to the moment B's `note-text` ends with the text typed so far (one \
         clock for both contexts). The trace board is stored in A's IndexedDB and A reloads \
         (local load); B then opens the link with nothing stored (cold join). The room rows put \
         many pages (each its own browser context, so its own person) on one board and time \
         each keystroke to the last page that shows it: Meshboard pages link to at most 6 \
         others above 7 in a room and edits hop through the pages in between; y-webrtc links \
         each page to up to 20–34 others (its `maxConns`). Ratios compare numbers of this \
         one run; absolute times vary up to 2× between runs on this machine.\n\n",
    );
    s.push_str("| what | Meshboard | Yjs + y-webrtc | Meshboard ÷ Yjs |\n|---|---|---|---|\n");
    let mut notes = Vec::new();
    for row in &r.rows {
        let cell = |side: &Side, who: &str, notes: &mut Vec<String>| match side {
            Side::Measured { value, note } => {
                if let Some(n) = note {
                    notes.push(format!("{} ({who}): {n}", row.what));
                }
                format_value(*value, &row.unit)
            }
            Side::Failed { failed } => {
                notes.push(format!("{} ({who}): not measured: {failed}", row.what));
                "not measured".into()
            }
        };
        let mesh = cell(&row.mesh, "Meshboard", &mut notes);
        let yjs = cell(&row.yjs, "Yjs", &mut notes);
        let ratio = match (&row.mesh, &row.yjs) {
            (Side::Measured { value: a, .. }, Side::Measured { value: b, .. }) if *b > 0.0 => {
                format!("{:.2}×", a / b)
            }
            _ => "–".into(),
        };
        s.push_str(&format!("| {} | {mesh} | {yjs} | {ratio} |\n", row.what));
    }
    if !notes.is_empty() {
        s.push_str("\nNotes:\n\n");
        for n in notes {
            s.push_str(&format!("- {n}\n"));
        }
    }
    s
}

fn format_value(v: f64, unit: &str) -> String {
    match unit {
        "ms" if v < 100.0 => format!("{v:.1} ms"),
        "ms" => format!("{} ms", thousands(v)),
        "B" => format!("{} B", thousands(v)),
        "count" => thousands(v),
        other => format!("{v} {other}"),
    }
}

/// `v` rounded, with a comma between thousands.
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 && digits != "0" {
        out.insert(0, '-');
    }
    out
}

/// `doc` with its section under [`HEADING`] (up to the next `## ` heading) replaced by `section`,
/// or with `section` appended when it has none.
fn replace_section(doc: &str, section: &str) -> String {
    let section = section.trim_end();
    let starts = |l: &str| l.trim_end() == HEADING;
    let lines: Vec<&str> = doc.lines().collect();
    let Some(start) = lines.iter().position(|l| starts(l)) else {
        return format!("{}\n\n{section}\n", doc.trim_end());
    };
    let mut in_code = false;
    let mut end = lines.len();
    for (i, l) in lines.iter().enumerate().skip(start + 1) {
        if l.starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && l.starts_with("## ") {
            end = i;
            break;
        }
    }
    let mut out = lines[..start].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(section);
    out.push('\n');
    if end < lines.len() {
        out.push('\n');
        out.push_str(&lines[end..].join("\n"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Benchmarks\n\n## Automerge\n\nnumbers\n\n## Side by side with Yjs\n\nold table\n\n```\n## not a heading\n```\n\n## Signaling server\n\nmore\n";

    #[test]
    fn replaces_only_its_own_section() {
        let out = replace_section(DOC, "## Side by side with Yjs\n\nnew table\n");
        assert_eq!(
            out,
            "# Benchmarks\n\n## Automerge\n\nnumbers\n\n## Side by side with Yjs\n\nnew table\n\n## Signaling server\n\nmore\n"
        );
        // running twice changes nothing more
        assert_eq!(
            replace_section(&out, "## Side by side with Yjs\n\nnew table\n"),
            out
        );
    }

    #[test]
    fn appends_the_section_when_missing_and_keeps_a_last_section_last() {
        let doc = "# Benchmarks\n\n## Automerge\n\nnumbers\n";
        let out = replace_section(doc, "## Side by side with Yjs\n\nt\n");
        assert_eq!(
            out,
            "# Benchmarks\n\n## Automerge\n\nnumbers\n\n## Side by side with Yjs\n\nt\n"
        );
        let again = replace_section(&out, "## Side by side with Yjs\n\nu\n");
        assert_eq!(
            again,
            "# Benchmarks\n\n## Automerge\n\nnumbers\n\n## Side by side with Yjs\n\nu\n"
        );
    }

    const JSON: &str = r#"{"meta":{"smoke":true,"chromium":"156","node":"v20","yjs":"13.6.33",
      "yWebrtc":"10.3.0","yIndexeddb":"9.0.12","traceTxns":2000,"traceChars":1500,
      "anchorJsBytes":123456,"anchorJsGzipBytes":34567,"smallKeys":20,"traceKeys":10,"loads":1,
      "started":"2026-12-06T15:00:00Z"},
      "rows":[
        {"id":"small_p50","what":"keystroke, small note: p50","unit":"ms",
         "mesh":{"value":4.0},"yjs":{"value":2.0,"note":"fine"}},
        {"id":"trace_join","what":"cold join","unit":"ms",
         "mesh":{"value":1234.4},"yjs":{"failed":"over the 256 KiB cap"}}]}"#;

    #[test]
    fn renders_values_ratios_and_what_was_not_measured() {
        let r: Results = serde_json::from_str(JSON).unwrap();
        let m = Machine::read().finish();
        let s = render(&r, &m);
        assert!(s.starts_with(HEADING));
        assert!(
            s.contains("| keystroke, small note: p50 | 4.0 ms | 2.0 ms | 2.00× |"),
            "{s}"
        );
        assert!(
            s.contains("| cold join | 1,234 ms | not measured | – |"),
            "{s}"
        );
        assert!(
            s.contains("- cold join (Yjs): not measured: over the 256 KiB cap"),
            "{s}"
        );
        assert!(
            s.contains("- keystroke, small note: p50 (Yjs): fine"),
            "{s}"
        );
        assert!(s.contains("first 2,000 transactions"), "{s}");
        assert_eq!(
            failures(&r),
            vec!["trace_join (Yjs): over the 256 KiB cap".to_string()]
        );
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }
}
