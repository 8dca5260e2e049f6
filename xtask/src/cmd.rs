//! Running commands with the tool PATH, and timing steps.

use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::root;

/// PATH with the npm tools (binaryen's wasm-opt) and cargo's bin first.
pub fn path() -> String {
    let mut parts = vec![root().join("e2e/node_modules/.bin").display().to_string()];
    if let Some(home) = std::env::var_os("HOME") {
        parts.push(
            std::path::Path::new(&home)
                .join(".cargo/bin")
                .display()
                .to_string(),
        );
    }
    if let Ok(p) = std::env::var("PATH") {
        parts.push(p);
    }
    parts.join(":")
}

/// A command run from the workspace root with [`path`] and Trunk kept offline.
pub fn new(program: &str) -> Command {
    let mut c = Command::new(program);
    c.current_dir(root())
        .env("PATH", path())
        .env("TRUNK_OFFLINE", "true")
        .env("TRUNK_SKIP_VERSION_CHECK", "true");
    c
}

pub fn cargo() -> Command {
    new(&std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// `program arg arg…`, without the environment (for messages).
pub fn describe(c: &Command) -> String {
    std::iter::once(c.get_program())
        .chain(c.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run to completion; a non-zero exit is an error.
pub fn run(c: &mut Command) -> Result<()> {
    let shown = describe(c);
    let status = c
        .status()
        .with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

/// Run and capture stdout; `None` if the program is missing or fails.
pub fn output(c: &mut Command) -> Option<String> {
    let out = c.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Run one named step with a banner and its duration.
pub fn step(name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    println!("\n==> {name}");
    let start = Instant::now();
    let result = f();
    let secs = start.elapsed().as_secs_f64();
    match &result {
        Ok(()) => println!("==> {name}: ok ({secs:.1} s)"),
        Err(e) => println!("==> {name}: FAILED after {secs:.1} s: {e:#}"),
    }
    result.with_context(|| format!("step '{name}' failed"))
}

/// Report an error in one short paragraph (no backtrace even with RUST_BACKTRACE set).
pub fn report(e: &anyhow::Error) {
    eprintln!("\nerror: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
