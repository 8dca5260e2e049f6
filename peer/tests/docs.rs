//! docs/self-hosting.md names every flag, environment variable and metric of meshboard-peer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::CommandFactory;
use meshboard_peer::cli::Cli;
use meshboard_peer::metrics::Metrics;

fn guide() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/self-hosting.md"
    ))
    .unwrap()
}

#[test]
fn every_flag_and_environment_variable_is_in_the_guide() {
    let guide = guide();
    let cli = Cli::command();
    let mut args: Vec<_> = cli.get_arguments().cloned().collect();
    for sub in cli.get_subcommands() {
        args.extend(sub.get_arguments().cloned());
    }
    for arg in args {
        let Some(long) = arg.get_long() else { continue };
        if ["help", "version"].contains(&long) {
            continue;
        }
        assert!(
            guide.contains(&format!("`--{long}`")),
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
    let guide = guide();
    let text = Metrics::new().unwrap().render();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        assert!(
            guide.contains(&format!("`{name}`")),
            "{name} is not in the guide"
        );
    }
}
