//! Install what is missing, and only that: a warm machine reinstalls nothing.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cmd::{self, step};
use crate::root;

pub const TRUNK_VERSION: &str = "0.21.14";

/// The version of the `[[package]]` named `name` in a Cargo.lock.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            let version = lines.next()?.trim().strip_prefix("version = ")?;
            return Some(version.trim_matches('"').to_owned());
        }
    }
    None
}

/// The value of `key` in `[section]` of a (flat) TOML file such as Trunk.toml.
fn toml_value(toml: &str, section: &str, key: &str) -> Option<String> {
    let header = format!("[{section}]");
    let mut inside = false;
    for line in toml.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.starts_with('[') {
            inside = line == header;
        } else if inside {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim().trim_matches(['"', '\'']).to_owned());
                }
            }
        }
    }
    None
}

/// The wasm-bindgen version pinned in Cargo.lock (wasm-bindgen-cli must match it exactly).
pub fn wasm_bindgen_version() -> Result<String> {
    let lock = fs::read_to_string(root().join("Cargo.lock")).context("reading Cargo.lock")?;
    locked_version(&lock, "wasm-bindgen").context("no wasm-bindgen package in Cargo.lock")
}

/// Trunk.toml's `[tools] wasm_bindgen` must name the Cargo.lock version, or Trunk would want
/// another wasm-bindgen (and try to download it).
fn check_trunk_toml(trunk_toml: &str, wanted: &str) -> Result<()> {
    match toml_value(trunk_toml, "tools", "wasm_bindgen") {
        Some(v) if v == wanted => Ok(()),
        Some(v) => bail!(
            "Trunk.toml's [tools] wasm_bindgen is \"{v}\" but Cargo.lock has wasm-bindgen \
             {wanted}: set wasm_bindgen = \"{wanted}\" in Trunk.toml"
        ),
        None => bail!(
            "Trunk.toml has no [tools] wasm_bindgen: add wasm_bindgen = \"{wanted}\" \
             (the wasm-bindgen version in Cargo.lock)"
        ),
    }
}

/// The second word of `program --version` ("trunk 0.21.14" -> "0.21.14"); None if missing.
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
            println!("wasm32-unknown-unknown is installed");
            return Ok(());
        }
        cmd::run(cmd::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
    })?;
    step("setup: trunk", || {
        match installed_version("trunk") {
            Some(v) if v == TRUNK_VERSION => {
                println!("trunk {v} is installed");
                return Ok(());
            }
            Some(v) => println!("trunk {v} is installed, {TRUNK_VERSION} is wanted"),
            None => println!("trunk is missing"),
        }
        // 0.21.14 builds with this toolchain; newer releases need a newer rustc.
        cmd::run(cmd::cargo().args(["install", "trunk", "--version", TRUNK_VERSION, "--locked"]))
    })?;
    step("setup: wasm-bindgen-cli", || {
        let wanted = wasm_bindgen_version()?;
        let trunk_toml =
            fs::read_to_string(root().join("Trunk.toml")).context("reading Trunk.toml")?;
        check_trunk_toml(&trunk_toml, &wanted)?;
        match installed_version("wasm-bindgen") {
            Some(v) if v == wanted => {
                println!("wasm-bindgen-cli {v} is installed (= Cargo.lock)");
                return Ok(());
            }
            Some(v) => println!("wasm-bindgen-cli {v} is installed, Cargo.lock wants {wanted}"),
            None => println!("wasm-bindgen-cli is missing"),
        }
        // Not --locked: its lockfile pins a crate missing from the registry mirror.
        cmd::run(cmd::cargo().args(["install", "wasm-bindgen-cli", "--version", &wanted]))
    })?;
    step("setup: npm packages (playwright-core, binaryen)", || {
        ensure_npm_packages("e2e")
    })
}

/// `npm ci` in `dir` (relative to the root) unless its node_modules is up to date.
pub fn ensure_npm_packages(dir: &str) -> Result<()> {
    let path = root().join(dir);
    if npm_packages_fresh(&path) {
        println!("{dir}/node_modules is up to date with {dir}/package-lock.json");
        return Ok(());
    }
    cmd::run(cmd::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix", dir]))
}

/// node_modules exists and npm's own record of it is not older than package-lock.json.
fn npm_packages_fresh(dir: &Path) -> bool {
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    match (
        modified(&dir.join("node_modules/.package-lock.json")),
        modified(&dir.join("package-lock.json")),
    ) {
        (Some(installed), Some(lock)) => installed >= lock,
        _ => false,
    }
}

/// Chromium and its driver from Debian, for the wasm and e2e tests.
pub fn ensure_chromium() -> Result<()> {
    step("setup: chromium", || {
        ensure_debian_packages(
            &["/usr/bin/chromium", "/usr/bin/chromedriver"],
            &["chromium", "chromium-driver"],
        )
    })
}

/// Debian's `redis-server` (and `redis-cli`), which the signaling server's cluster tests and the
/// cluster e2e test start on free ports (`--redis-url`); it is not started as a service.
pub fn ensure_redis() -> Result<()> {
    step("setup: redis-server", || {
        ensure_debian_packages(
            &["/usr/bin/redis-server", "/usr/bin/redis-cli"],
            &["redis-server"],
        )
    })
}

/// Debian's `coturn` (`turnserver`), which the e2e test of a link relayed through TURN starts on
/// a free port; it is not started as a service.
pub fn ensure_coturn() -> Result<()> {
    step("setup: coturn", || {
        ensure_debian_packages(&["/usr/bin/turnserver"], &["coturn"])
    })
}

/// `apt-get install -y` of `packages` unless every one of `files` exists already.
fn ensure_debian_packages(files: &[&str], packages: &[&str]) -> Result<()> {
    if files.iter().all(|p| Path::new(p).exists()) {
        println!("{} are installed", files.join(" and "));
        return Ok(());
    }
    let is_root = cmd::output(cmd::new("id").arg("-u")).is_some_and(|u| u.trim() == "0");
    let apt = |args: &[&str]| {
        let mut c = if is_root {
            cmd::new("apt-get")
        } else {
            let mut c = cmd::new("sudo");
            c.args(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
            c
        };
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd::run(&mut c)
    };
    apt(&["update"])?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend_from_slice(packages);
    apt(&install)
}

/// `trunk build --release --offline` into dist/, then its precompressed copies.
pub fn trunk_build() -> Result<()> {
    cmd::run(cmd::new("trunk").args(["build", "--release", "--offline"]))?;
    precompress()
}

/// Brotli and gzip copies of the built app, served as they are (`cargo xtask precompress`),
/// after checking that dist/index.html has no inline script and pins every file it loads with a
/// matching integrity (crate::sri), and stamping dist/sw.js with the build's version
/// (crate::stamp).
pub fn precompress() -> Result<()> {
    let dist = root().join("dist");
    let pinned = crate::sri::check_dist(&dist)?;
    println!("dist/index.html: no inline script, {pinned} files pinned by sha384 integrity");
    let version = crate::stamp::service_worker(&dist)?;
    println!("dist/sw.js: version {version}");
    let written = crate::precompress::dir(&root().join("dist"))?;
    println!("precompressed {} files in dist/", written.len() / 2);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
[[package]]
name = "wasm-bindgen-backend"
version = "0.2.99"

[[package]]
name = "wasm-bindgen"
version = "0.2.130"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;

    #[test]
    fn reads_the_locked_version_of_exactly_that_package() {
        assert_eq!(
            locked_version(LOCK, "wasm-bindgen").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(locked_version(LOCK, "trunk"), None);
    }

    #[test]
    fn trunk_toml_must_pin_the_locked_wasm_bindgen() {
        let ok = "[build]\nwasm_bindgen = \"0.1\"\n\n[tools]\n# pinned\nwasm_bindgen = \"0.2.130\" # same as Cargo.lock\nwasm_opt = \"version_132\"\n";
        assert!(check_trunk_toml(ok, "0.2.130").is_ok());
        let other = ok.replace("0.2.130", "0.2.100");
        let e = check_trunk_toml(&other, "0.2.130")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("\"0.2.100\"") && e.contains("0.2.130")));
        assert!(check_trunk_toml("[build]\nwasm_bindgen = \"0.2.130\"\n", "0.2.130").is_err());
    }
}
