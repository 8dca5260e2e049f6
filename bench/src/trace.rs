//! Sequential editing traces in the format of Joseph Gentle's `editing-traces` collection.
//!
//! `{ startContent, endContent, txns: [ { time, patches: [[pos, numDeleted, inserted], ...] } ] }`:
//! every patch of every transaction applies in order like `Array.splice` on the text, positions
//! in Unicode code points. The trace is in `traces/` (see its README; the data is CC BY 4.0, the `automerge-paper` trace by Martin Kleppmann, published in
//! the `automerge-perf` repository and collected in `editing-traces` by Joseph Gentle).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;
use serde::Deserialize;

/// The trace the Automerge benchmark replays, relative to the repository root.
pub const AUTOMERGE_PAPER: &str = "traces/automerge-paper.json.gz";

/// A whole sequential trace.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    pub start_content: String,
    pub end_content: String,
    pub txns: Vec<Txn>,
}

/// One transaction: the patches one keystroke (or paste) made, and when.
#[derive(Debug, Deserialize)]
pub struct Txn {
    /// ISO 8601, e.g. `2021-04-19T06:06:58.513Z`.
    pub time: String,
    pub patches: Vec<Patch>,
}

/// `[position, number deleted, inserted text]`, positions in code points.
#[derive(Debug, Deserialize)]
pub struct Patch(pub usize, pub usize, pub String);

impl Trace {
    /// Parse a gzipped trace.
    pub fn from_gz(bytes: &[u8]) -> Result<Trace> {
        let mut json = Vec::new();
        GzDecoder::new(bytes)
            .read_to_end(&mut json)
            .context("the trace is not valid gzip")?;
        serde_json::from_slice(&json).context("the trace is not in the sequential trace format")
    }

    /// Read and parse a gzipped trace file; a missing file is an error that says where to get it.
    pub fn from_file(path: &Path) -> Result<Trace> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "trace file {} not found: the benchmark replays the automerge-paper editing trace, \
                 expected at traces/automerge-paper.json.gz in the repository \
                 (see traces/README.md), or pass --trace PATH",
                path.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Trace::from_gz(&bytes).with_context(|| format!("parsing {}", path.display()))
    }

    /// Where the trace is by default: `traces/automerge-paper.json.gz` in the repository (this
    /// crate lives one level below its root).
    pub fn default_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(AUTOMERGE_PAPER)
    }

    /// The text after the first `n` transactions, computed without Automerge (the reference).
    pub fn text_after(&self, n: usize) -> Result<String> {
        let mut text: Vec<char> = self.start_content.chars().collect();
        for txn in self.txns.iter().take(n) {
            for Patch(pos, deleted, inserted) in &txn.patches {
                let end = pos.checked_add(*deleted).filter(|&e| e <= text.len());
                let Some(end) = end else {
                    bail!(
                        "patch [{pos}, {deleted}, ..] out of range of {}",
                        text.len()
                    )
                };
                text.splice(*pos..end, inserted.chars());
            }
        }
        Ok(text.into_iter().collect())
    }
}

impl Txn {
    /// Seconds since the Unix epoch, from the ISO 8601 time (fraction dropped); `None` if the
    /// time is not in the `YYYY-MM-DDTHH:MM:SS...` form.
    pub fn epoch_seconds(&self) -> Option<i64> {
        epoch_seconds(&self.time)
    }
}

fn epoch_seconds(iso: &str) -> Option<i64> {
    let num = |range: std::ops::Range<usize>| iso.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_become_epoch_seconds() {
        assert_eq!(epoch_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            epoch_seconds("2021-04-19T06:06:58.513Z"),
            Some(1_618_812_418)
        );
        assert_eq!(epoch_seconds("yesterday"), None);
    }

    #[test]
    fn patches_splice_in_code_points() {
        let json = r#"{"startContent":"é!","endContent":"éab","txns":[
            {"time":"2021-04-19T06:06:58.513Z","patches":[[1,1,"a"]]},
            {"time":"2021-04-19T06:06:59.000Z","patches":[[2,0,"b"]]}]}"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, json.as_bytes()).unwrap();
        let trace = Trace::from_gz(&gz.finish().unwrap()).unwrap();
        assert_eq!(trace.text_after(1).unwrap(), "éa");
        assert_eq!(trace.text_after(2).unwrap(), trace.end_content);
    }

    #[test]
    fn a_missing_trace_says_where_it_should_be() {
        let err = Trace::from_file(Path::new("/nonexistent/trace.json.gz")).unwrap_err();
        assert!(err.to_string().contains("traces/README.md"), "{err}");
    }
}
