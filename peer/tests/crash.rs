//! A crash at any moment loses nothing acknowledged: a child process writes a burst of edits
//! through the same code the peer runs (`Hosted`: the engine, `Persister`'s policy, the SQLite
//! store), prints `ack <n>` after each write returned, and is killed with SIGKILL in the middle
//! of the burst. The database files are then reopened: every acknowledged edit is there.
//!
//! The child is this test binary itself, re-run with `MESHBOARD_CRASH_CHILD` set (the test
//! `crash_child` does nothing otherwise).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crdt::session::PersistPolicy;
use crdt::{BoardSecret, Event, WidgetBody, WidgetKind};
use meshboard_peer::hosted::Hosted;
use meshboard_peer::store::Store;
use meshboard_peer::BoardId;

const CHILD_ENV: &str = "MESHBOARD_CRASH_CHILD";

fn secret() -> BoardSecret {
    BoardSecret::from_bytes([42; 16])
}

/// Compact often, so that kills also land in compactions.
fn policy() -> PersistPolicy {
    PersistPolicy {
        compact_after_pieces: 16,
        idle_ms: 0,
        ..PersistPolicy::default()
    }
}

fn tasks(dir: &Path) -> Vec<String> {
    let store = Store::open(dir).unwrap();
    let mut h = Hosted::load(&store, &BoardId::of(&secret()), policy()).unwrap();
    h.board_mut()
        .view()
        .widgets
        .into_iter()
        .flat_map(|w| match w.body {
            WidgetBody::Tasks { items } => items.into_iter().map(|t| t.text).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// The child: edit and store as fast as it can, saying which edits are durable, until killed.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return;
    };
    let round: String = std::env::var("MESHBOARD_CRASH_ROUND").unwrap();
    let store = Store::open(&dir).unwrap();
    store.add(&secret()).unwrap();
    let id = BoardId::of(&secret());
    let mut h = Hosted::load(&store, &id, policy()).unwrap();
    let widget = h.board_mut().add_widget(WidgetKind::Tasks).unwrap();
    let mut out = std::io::stdout().lock();
    let start = std::time::Instant::now();
    for n in 0u64.. {
        // a big edit now and then, so that writes differ in size
        let text = if n % 50 == 7 {
            format!("r{round} t{n} {}", "x".repeat(20_000))
        } else {
            format!("r{round} t{n}")
        };
        h.board_mut().add_task(&widget, &text).unwrap();
        let now = start.elapsed().as_millis() as u64 + 1;
        let turn = h.handle(&store, Event::LocalChange, now);
        assert!(turn.store_error.is_none(), "{:?}", turn.store_error);
        assert!(h.is_saved());
        writeln!(out, "ack {n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_during_a_burst_loses_nothing_acknowledged() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("meshboard-peer-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut expected: Vec<String> = Vec::new();
    // kill after different numbers of acknowledged writes: early, mid-compaction, late
    for (round, kill_after) in [(0, 5usize), (1, 37), (2, 160), (3, 301)] {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &dir)
            .env("MESHBOARD_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut acked = Vec::new();
        while acked.len() < kill_after {
            let line = lines.next().expect("the child stopped by itself").unwrap();
            if let Some(n) = line.strip_prefix("ack ") {
                acked.push(n.parse::<u64>().unwrap());
            }
        }
        // SIGKILL on Unix: no destructor, no flush, mid-write
        child.kill().unwrap();
        // what the child printed before it died was acknowledged too
        for line in lines.map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("ack ") {
                acked.push(n.parse::<u64>().unwrap());
            }
        }
        child.wait().unwrap();
        expected.extend(acked.iter().map(|n| {
            if n % 50 == 7 {
                format!("r{round} t{n} {}", "x".repeat(20_000))
            } else {
                format!("r{round} t{n}")
            }
        }));
        let found = tasks(&dir);
        for e in &expected {
            assert!(
                found.contains(e),
                "round {round}: acknowledged edit {:?} is lost ({} acked, {} found)",
                &e[..e.len().min(20)],
                expected.len(),
                found.len()
            );
        }
        let store = Store::open(&dir).unwrap();
        store.check().unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
