//! Formatting of the results: one Markdown table of "measure | value" rows.

use std::fmt::Write as _;

/// One line of the result table.
#[derive(Debug, Clone)]
pub struct Row {
    pub what: String,
    pub value: String,
}

/// The rows as a Markdown table, with `column` as the heading of the values.
pub fn markdown(rows: &[Row], column: &str) -> String {
    let mut md = format!("| measure | {column} |\n|---|---|\n");
    for row in rows {
        let _ = writeln!(md, "| {} | {} |", row.what, row.value);
    }
    md
}

/// Median, 90th percentile, minimum and maximum of a sample.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub median: f64,
    pub p90: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(sample: &[f64]) -> Stats {
        let mut s = sample.to_vec();
        s.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if s.is_empty() {
                f64::NAN
            } else {
                s[((s.len() - 1) as f64 * q).round() as usize]
            }
        };
        Stats {
            median: at(0.5),
            p90: at(0.9),
            min: at(0.0),
            max: at(1.0),
        }
    }

    /// The sample as durations in milliseconds: "median (p90 …, max …)".
    pub fn ms(&self) -> String {
        format!(
            "{} (p90 {}, max {})",
            ms(self.median),
            ms(self.p90),
            ms(self.max)
        )
    }
}

/// A duration given in milliseconds, in a readable unit.
pub fn ms(t: f64) -> String {
    if t < 1.0 {
        format!("{:.1} µs", t * 1000.0)
    } else if t < 1000.0 {
        format!("{t:.2} ms")
    } else {
        format!("{:.2} s", t / 1000.0)
    }
}

/// A size in bytes, in a readable unit (KB = 1000 bytes, as in the issue).
pub fn bytes(n: usize) -> String {
    let f = n as f64;
    if n < 1000 {
        format!("{n} B")
    } else if n < 1_000_000 {
        format!("{:.1} KB", f / 1e3)
    } else {
        format!("{:.2} MB", f / 1e6)
    }
}

/// `n` things in `t` milliseconds, per second, with thousands separators.
pub fn rate(n: f64, t: f64) -> String {
    count(n / (t / 1000.0))
}

/// A whole number with thousands separators.
pub fn count(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(count(259_778.0), "259,778");
        assert_eq!(count(12.0), "12");
        assert_eq!(ms(0.012), "12.0 µs");
        assert_eq!(ms(21.7), "21.70 ms");
        assert_eq!(bytes(129_000), "129.0 KB");
        let s = Stats::of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
    }
}
