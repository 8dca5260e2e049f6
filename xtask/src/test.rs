//! `cargo xtask test`: every check CI runs, in order, stopping at the first failure.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{ensure, Result};
use clap::ValueEnum;

use crate::cmd::{self, step};
use crate::{root, setup, target_dir};

/// The groups of checks, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Check {
    /// cargo fmt --check
    Fmt,
    /// cargo clippy -D warnings (native, and the wasm crates for wasm32)
    Clippy,
    /// cargo test --workspace
    Rust,
    /// wasm-bindgen tests of the app and the sync engine in headless Chromium
    Wasm,
    /// release build of the app, the server, and the Playwright suite
    E2e,
    /// `cargo xtask bench --smoke`: the side-by-side benchmark with Yjs, short, must measure all
    Bench,
}

pub struct Options<'a> {
    /// Empty: everything.
    pub only: &'a [Check],
    pub skip_e2e: bool,
    pub e2e_filter: Option<&'a str>,
}

pub fn all(opts: &Options) -> Result<()> {
    let start = Instant::now();
    let wants = |c: Check| {
        (opts.only.is_empty() || opts.only.contains(&c))
            && !(matches!(c, Check::E2e | Check::Bench) && opts.skip_e2e)
    };
    setup::ensure_build_tools()?;
    if wants(Check::Wasm) || wants(Check::E2e) || wants(Check::Bench) {
        setup::ensure_chromium()?;
    }
    if wants(Check::Rust) || wants(Check::E2e) {
        setup::ensure_redis()?;
    }
    if wants(Check::E2e) {
        setup::ensure_coturn()?;
    }
    if wants(Check::Fmt) {
        step("cargo fmt --check", || {
            cmd::run(cmd::cargo().args(["fmt", "--all", "--", "--check"]))
        })?;
    }
    if wants(Check::Clippy) {
        step("cargo clippy (native)", || {
            cmd::run(cmd::cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))
        })?;
        // The browser glue is compiled for wasm32 only; lint it there too.
        step("cargo clippy (wasm32: app, crdt)", || {
            cmd::run(cmd::cargo().args([
                "clippy",
                "-p",
                "app",
                "-p",
                "crdt",
                "--all-targets",
                "--target",
                "wasm32-unknown-unknown",
                "--",
                "-D",
                "warnings",
            ]))
        })?;
    }
    if wants(Check::Rust) {
        step("Rust tests", || {
            cmd::run(cmd::cargo().args(["test", "--workspace"]))
        })?;
    }
    if wants(Check::Wasm) {
        step("wasm tests in headless Chromium (app)", || {
            cmd::run(
                cmd::cargo()
                    .args(["test", "-p", "app", "--target", "wasm32-unknown-unknown"])
                    .env("CHROMEDRIVER", "/usr/bin/chromedriver"),
            )
        })?;
        step("wasm tests in headless Chromium (sync engine)", || {
            cmd::run(
                cmd::cargo()
                    .args(["test", "-p", "crdt", "--lib", "--features", "wasm"])
                    .args(["--target", "wasm32-unknown-unknown"])
                    .env("CHROMEDRIVER", "/usr/bin/chromedriver"),
            )
        })?;
    }
    if wants(Check::E2e) {
        let files = e2e_files(opts.e2e_filter)?;
        step("build the app (release)", setup::trunk_build)?;
        step("build the server and the native peer", || {
            cmd::run(cmd::cargo().args(["build", "-p", "signaling", "-p", "meshboard-peer"]))
        })?;
        step("build the large board (editing trace)", || {
            cmd::run(
                cmd::cargo()
                    .args(["run", "--release", "-p", "bench", "--"])
                    .args([
                        "board-fixture".as_ref(),
                        "--out".as_ref(),
                        large_board().as_os_str(),
                    ]),
            )
        })?;
        step("e2e (Playwright, real Chromium, real server)", || {
            e2e(&files)
        })?;
    } else {
        println!("\n(e2e skipped)");
    }
    if wants(Check::Bench) {
        // Its own steps are banners of their own; a failed row fails this check.
        crate::bench::run(true, &[crate::bench::Part::SideBySide])?;
    }
    println!(
        "\nAll checks passed in {:.0} s.",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// e2e/tests/*.test.mjs (those whose name contains `filter`), sorted.
fn e2e_files(filter: Option<&str>) -> Result<Vec<PathBuf>> {
    let tests = root().join("e2e/tests");
    let mut files: Vec<_> = std::fs::read_dir(&tests)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
        // by file name: a checkout's own path may contain the filter
        .filter(|p| {
            filter.is_none_or(|f| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(f))
            })
        })
        .collect();
    files.sort();
    ensure!(
        !files.is_empty(),
        "no e2e tests in {}{}",
        tests.display(),
        filter
            .map(|f| format!(" matching '{f}'"))
            .unwrap_or_default()
    );
    Ok(files)
}

/// `node --test` over `files`, one file at a time, against target/debug/signaling,
/// target/debug/meshboard-peer and dist/.
fn e2e(files: &[PathBuf]) -> Result<()> {
    cmd::run(
        cmd::new("node")
            .args([
                "--test",
                "--test-concurrency=1",
                "--test-reporter=spec",
                // a hung test fails instead of hanging CI
                "--test-timeout=180000",
            ])
            .args(files)
            .env("MESHBOARD_SERVER_BIN", target_dir().join("debug/signaling"))
            .env(
                "MESHBOARD_PEER_BIN",
                target_dir().join("debug/meshboard-peer"),
            )
            .env("MESHBOARD_DIST", root().join("dist"))
            .env("MESHBOARD_LARGE_BOARD", large_board()),
    )
}

/// The automerge-paper trace replayed into a board, saved: the large-document e2e test's input.
fn large_board() -> PathBuf {
    target_dir().join("e2e/automerge-paper.board")
}
