//! Install what is missing, and only that: a warm machine reinstalls nothing.

use std::fs;

use anyhow::{bail, Context, Result};

use crate::cmd::{self, step};
use crate::root;

pub const TRUNK_VERSION: &str = "0.21.14";

/// The wasm-bindgen version pinned in Cargo.lock (wasm-bindgen-cli must match it exactly).
pub fn wasm_bindgen_version() -> Result<String> {
    let lock = fs::read_to_string(root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == r#"name = "wasm-bindgen""# {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
            {
                return Ok(v.trim_matches('"').to_owned());
            }
        }
    }
    bail!("no wasm-bindgen in Cargo.lock")
}

fn installed_version(program: &str) -> Option<String> {
    let out = cmd::output(cmd::new(program).arg("--version"))?;
    out.split_whitespace().nth(1).map(str::to_owned)
}

/// Tools to build the app: wasm32 target, trunk, wasm-bindgen-cli, npm packages (wasm-opt).
pub fn ensure_build_tools() -> Result<()> {
    step("setup: wasm32 target", || {
        let installed = cmd::output(cmd::new("rustup").args(["target", "list", "--installed"]))
            .unwrap_or_default();
        if installed
            .lines()
            .any(|l| l.trim() == "wasm32-unknown-unknown")
        {
            return Ok(());
        }
        cmd::run(cmd::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
    })?;
    step("setup: trunk", || {
        if installed_version("trunk").as_deref() == Some(TRUNK_VERSION) {
            return Ok(());
        }
        cmd::run(cmd::cargo().args(["install", "trunk", "--version", TRUNK_VERSION, "--locked"]))
    })?;
    step("setup: wasm-bindgen-cli", || {
        let wanted = wasm_bindgen_version()?;
        let trunk_toml =
            fs::read_to_string(root().join("Trunk.toml")).context("reading Trunk.toml")?;
        if !trunk_toml.contains(&format!("wasm_bindgen = \"{wanted}\"")) {
            bail!("Trunk.toml's [tools] wasm_bindgen must be \"{wanted}\" (the version in Cargo.lock)");
        }
        if installed_version("wasm-bindgen").as_deref() == Some(wanted.as_str()) {
            return Ok(());
        }
        // Not --locked: its lockfile pins a crate missing from the registry mirror.
        cmd::run(cmd::cargo().args(["install", "wasm-bindgen-cli", "--version", &wanted]))
    })?;
    step("setup: npm packages", || {
        let e2e = root().join("e2e");
        let marker = e2e.join("node_modules/.package-lock.json");
        let fresh = match (
            fs::metadata(&marker),
            fs::metadata(e2e.join("package-lock.json")),
        ) {
            (Ok(m), Ok(l)) => m.modified().ok() >= l.modified().ok(),
            _ => false,
        };
        if fresh {
            return Ok(());
        }
        cmd::run(cmd::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix", "e2e"]))
    })
}

/// Chromium and its driver from Debian, for the wasm and e2e tests.
pub fn ensure_chromium() -> Result<()> {
    step("setup: chromium", || {
        let have = |p: &str| std::path::Path::new(p).exists();
        if have("/usr/bin/chromium") && have("/usr/bin/chromedriver") {
            return Ok(());
        }
        let root_user = cmd::output(cmd::new("id").arg("-u")).is_some_and(|u| u.trim() == "0");
        let apt = |args: &[&str]| {
            let mut c = if root_user {
                cmd::new("apt-get")
            } else {
                cmd::new("sudo")
            };
            if !root_user {
                c.arg("apt-get");
            }
            c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
            cmd::run(&mut c)
        };
        apt(&["update"])?;
        apt(&[
            "install",
            "-y",
            "--no-install-recommends",
            "chromium",
            "chromium-driver",
        ])
    })
}

/// `trunk build --release` into dist/.
pub fn trunk_build() -> Result<()> {
    cmd::run(cmd::new("trunk").args(["build", "--release", "--offline"]))
}
