//! `cargo xtask test`: every check CI runs, in order, stopping at the first failure.

use anyhow::Result;

use crate::cmd::{self, step};
use crate::{root, setup};

pub fn all(skip_e2e: bool, e2e_filter: Option<&str>) -> Result<()> {
    setup::ensure_build_tools()?;
    setup::ensure_chromium()?;
    step("cargo fmt --check", || {
        cmd::run(cmd::cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    step("cargo clippy", || {
        cmd::run(cmd::cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
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
    step("Rust tests", || {
        cmd::run(cmd::cargo().args(["test", "--workspace"]))
    })?;
    step("wasm tests in headless Chromium", || {
        cmd::run(
            cmd::cargo()
                .args(["test", "-p", "app", "--target", "wasm32-unknown-unknown"])
                .env("CHROMEDRIVER", "/usr/bin/chromedriver"),
        )
    })?;
    if skip_e2e {
        println!("\n(e2e skipped)");
        return Ok(());
    }
    step("build the app (release)", setup::trunk_build)?;
    step("build the server", || {
        cmd::run(cmd::cargo().args(["build", "-p", "signaling"]))
    })?;
    step("e2e (Playwright, real Chromium, real server)", || {
        let mut c = cmd::new("node");
        c.args(["--test", "--test-concurrency=1", "--test-reporter=spec"]);
        let tests = root().join("e2e/tests");
        let mut files: Vec<_> = std::fs::read_dir(&tests)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
            .filter(|p| e2e_filter.is_none_or(|f| p.to_string_lossy().contains(f)))
            .collect();
        files.sort();
        anyhow::ensure!(
            !files.is_empty(),
            "no e2e tests found in {}",
            tests.display()
        );
        c.args(&files)
            .env(
                "MESHBOARD_SERVER_BIN",
                root().join("target/debug/signaling"),
            )
            .env("MESHBOARD_DIST", root().join("dist"));
        cmd::run(&mut c)
    })
}
