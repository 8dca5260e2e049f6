//! `cargo run --release -p bench -- automerge [--trace PATH] [--txns N] [--keystrokes N]
//! [--sync-keystrokes N] [--batch N]`: replay the automerge-paper trace into one note and print
//! the costs of Automerge as a Markdown table (see BENCHMARKS.md).
//!
//! `cargo run --release -p bench -- board-fixture --out PATH [--trace PATH]`: replay the whole
//! trace into one note of a board (one change per transaction) and write the board's `save()`
//! to PATH: the large document of the e2e test (`cargo xtask test` builds it).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bench::measure::{text_of, Note};
use bench::{table, Bench, Clock, Options, Trace};

struct Native(Instant);

impl Clock for Native {
    fn now_ms(&self) -> f64 {
        self.0.elapsed().as_secs_f64() * 1000.0
    }
}

const USAGE: &str = "usage: bench automerge [--trace PATH] [--txns N] [--keystrokes N] \
                     [--sync-keystrokes N] [--batch N]\n       \
                     bench board-fixture --out PATH [--trace PATH] [--txns N]";

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("automerge") => {}
        Some("board-fixture") => return board_fixture(args),
        _ => bail!("{USAGE}"),
    }
    let mut opts = Options::default();
    let mut path = Trace::default_path();
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--trace" => path = PathBuf::from(value()?),
            "--txns" => opts.txns = value()?.parse()?,
            "--keystrokes" => opts.keystrokes = value()?.parse()?,
            "--sync-keystrokes" => opts.sync_keystrokes = value()?.parse()?,
            "--batch" => opts.batch = value()?.parse()?,
            _ => bail!("unknown argument {flag}\n{USAGE}"),
        }
    }
    let trace = Trace::from_file(&path)?;
    eprintln!(
        "{}: {} transactions",
        path.display(),
        table::count(trace.txns.len() as f64)
    );
    let clock = Native(Instant::now());
    let log = |line: &str| eprintln!("  {line}");
    let mut bench = Bench::new(&clock, &log);
    bench.run(&trace, &opts)?;
    println!(
        "{}",
        table::markdown(&bench.rows, "automerge 0.6.1, native (release)")
    );
    Ok(())
}

fn board_fixture(mut args: impl Iterator<Item = String>) -> Result<()> {
    let mut path = Trace::default_path();
    let mut out = None;
    let mut txns = usize::MAX;
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--trace" => path = PathBuf::from(value()?),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--txns" => txns = value()?.parse()?,
            _ => bail!("unknown argument {flag}\n{USAGE}"),
        }
    }
    let out = out.with_context(|| format!("--out is required\n{USAGE}"))?;
    let trace = Trace::from_file(&path)?;
    let started = Instant::now();
    let mut note = Note::new(1)?;
    let changes = note.replay(&trace, txns)?;
    // a prefix of the trace (--txns) has no known final text to compare with
    if txns >= trace.txns.len() && text_of(note.board.doc())? != trace.end_content {
        bail!(
            "replaying {} did not reproduce its final text",
            path.display()
        );
    }
    let saved = note.board.doc_mut().save();
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&out, &saved).with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "{}: {changes} changes, {} characters, save() {} bytes, in {:.1} s",
        out.display(),
        text_of(note.board.doc())?.chars().count(),
        saved.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
