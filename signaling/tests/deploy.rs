//! The self-hosting guide and the Dockerfile stay in step with the code and with CI: every flag,
//! environment variable and metric is documented, and the Dockerfile builds with the same
//! commands and versions as `cargo xtask run` / CI (no Docker engine runs here to try it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use signaling::{ice::IceServers, metrics::Metrics, rooms::Rooms, Config};

fn repo_file(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let path: PathBuf = root.join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` without any whitespace, so that formatting does not matter.
fn squeezed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn every_flag_and_environment_variable_is_in_the_guide() {
    let guide = repo_file("docs/self-hosting.md");
    for arg in Config::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if ["help", "version"].contains(&long) {
            continue;
        }
        assert!(
            guide.contains(&format!("`--{long}")),
            "--{long} is not in the guide"
        );
        if let Some(env) = arg.get_env() {
            let env = env.to_string_lossy();
            assert!(
                guide.contains(&format!("`{env}`")),
                "{env} is not in the guide"
            );
        }
    }
}

#[test]
fn every_metric_is_in_the_guide() {
    let guide = repo_file("docs/self-hosting.md");
    let text = Metrics::new()
        .unwrap()
        .render(&Rooms::new(1, IceServers::default()))
        .unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        assert!(
            guide.contains(&format!("`{name}")),
            "{name} is not in the guide"
        );
    }
}

#[test]
fn dockerfile_builds_with_the_commands_ci_runs() {
    let dockerfile = squeezed(&repo_file("Dockerfile"));
    let setup = repo_file("xtask/src/setup.rs");
    let xtask = squeezed(&(setup.clone() + &repo_file("xtask/src/main.rs")));

    let trunk_version = setup
        .lines()
        .find_map(|l| l.trim().strip_prefix("pub const TRUNK_VERSION: &str = "))
        .map(|v| v.trim_end_matches(';').trim_matches('"'))
        .expect("TRUNK_VERSION in xtask/src/setup.rs");
    // (command in the Dockerfile, the same command as xtask spells its arguments)
    let steps = [
        (
            "rustup target add wasm32-unknown-unknown".to_owned(),
            r#""target","add","wasm32-unknown-unknown""#,
        ),
        (
            format!("cargo install trunk --version {trunk_version} --locked"),
            r#""install","trunk","--version",TRUNK_VERSION,"--locked""#,
        ),
        (
            r#"cargo install wasm-bindgen-cli --version "$WASM_BINDGEN""#.to_owned(),
            r#""install","wasm-bindgen-cli","--version",&wanted"#,
        ),
        (
            "npm ci --no-audit --no-fund --prefix e2e".to_owned(),
            r#""ci","--no-audit","--no-fund","--prefix",dir"#,
        ),
        (
            "trunk build --release --offline".to_owned(),
            r#""build","--release","--offline""#,
        ),
        (
            "cargo xtask precompress".to_owned(),
            "Cmd::Precompress=>setup::precompress()",
        ),
        (
            "cargo build --release -p signaling".to_owned(),
            r#""build","--release","-p","signaling""#,
        ),
    ];
    for (docker, xtask_args) in steps {
        assert!(
            dockerfile.contains(&squeezed(&docker)),
            "the Dockerfile does not run `{docker}`"
        );
        assert!(
            xtask.contains(xtask_args),
            "xtask no longer runs `{docker}` ({xtask_args}): update the Dockerfile to match"
        );
    }
    // The npm step above takes its folder as an argument; setup passes e2e.
    assert!(
        xtask.contains(r#"ensure_npm_packages("e2e")"#),
        "xtask no longer installs e2e's npm packages: update the Dockerfile to match"
    );
    // The wasm-bindgen version comes from Cargo.lock, as in xtask.
    assert!(dockerfile.contains(&squeezed(r#"$0 == "name = \"wasm-bindgen\"""#)));
    // The tools xtask puts first on PATH and its Trunk settings.
    assert!(dockerfile.contains("/src/e2e/node_modules/.bin"));
    assert!(dockerfile.contains("TRUNK_OFFLINE=true"));
}

/// The `Environment=` settings of the shipped systemd unit, and its `LimitNOFILE`.
fn unit_settings() -> (Vec<(String, String)>, u64) {
    let unit = repo_file("deploy/meshboard-signaling.service");
    let env = unit
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Environment="))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let nofile = unit
        .lines()
        .find_map(|l| l.trim().strip_prefix("LimitNOFILE="))
        .and_then(|v| v.parse().ok())
        .expect("LimitNOFILE in the unit");
    (env, nofile)
}

#[test]
fn the_shipped_unit_and_proxies_have_limits_that_match_the_server() {
    let (env, nofile) = unit_settings();
    // The unit's settings, given to the server as the flags they stand for, must parse.
    let command = Config::command();
    let mut args = vec!["signaling".to_owned()];
    for (key, value) in &env {
        let Some(arg) = command
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == key.as_str()))
        else {
            assert!(!key.starts_with("MESHBOARD_"), "{key} is not a flag's");
            continue;
        };
        let long = arg.get_long().unwrap();
        if !arg.get_action().takes_values() {
            assert_eq!(value, "true", "{key}");
            args.push(format!("--{long}"));
        } else if arg.get_value_delimiter().is_some() {
            args.extend(value.split(',').map(|v| format!("--{long}={v}")));
        } else {
            args.push(format!("--{long}={value}"));
        }
    }
    let config = Config::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        config.max_tcp_connections > config.max_connections,
        "every WebSocket is a TCP connection: the TCP cap must be above the WebSocket cap"
    );
    assert!(
        u64::from(config.max_tcp_connections) + 100 < nofile,
        "LimitNOFILE {nofile} leaves no room above {} TCP connections",
        config.max_tcp_connections
    );
    // The proxies run on the same machine: the per-IP cap must see through them, or every
    // user shares loopback's 64 connections.
    let loopback: [std::net::IpAddr; 2] = ["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
    for ip in loopback {
        assert!(
            config.trusted_proxies.iter().any(|c| c.contains(ip)),
            "the unit does not trust the local proxy at {ip}"
        );
    }
    let nginx = repo_file("deploy/nginx.conf");
    for setting in [
        "limit_conn ",
        "client_header_timeout",
        "X-Forwarded-For $proxy_add_x_forwarded_for",
    ] {
        assert!(nginx.contains(setting), "nginx.conf has no {setting}");
    }
    assert!(repo_file("deploy/Caddyfile").contains("read_header"));
}
