//! A strict reader of Prometheus' text exposition format (version 0.0.4), enough to check that
//! `/metrics` is well formed and to read its samples.

use std::collections::{BTreeMap, HashMap};

/// Samples by name and labels; every sample's family has `# HELP` and `# TYPE`.
#[derive(Debug, Default)]
pub struct Scrape {
    pub types: HashMap<String, String>,
    samples: HashMap<(String, BTreeMap<String, String>), f64>,
}

impl Scrape {
    /// Parses `text`; any line out of the format is an error naming it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut scrape = Self::default();
        let mut helps = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let fail = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
            if line.trim().is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# ") {
                let mut parts = rest.splitn(3, ' ');
                let (kind, name, tail) = (parts.next(), parts.next(), parts.next());
                let (Some(kind), Some(name)) = (kind, name) else {
                    return Err(fail("short comment"));
                };
                if !valid_metric_name(name) {
                    return Err(fail("bad metric name"));
                }
                match kind {
                    "HELP" if helps.insert(name.to_owned(), tail.unwrap_or("")).is_some() => {
                        return Err(fail("second HELP"));
                    }
                    "TYPE" => {
                        let ty = tail.ok_or_else(|| fail("TYPE without a type"))?;
                        if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&ty) {
                            return Err(fail("unknown type"));
                        }
                        if scrape
                            .types
                            .insert(name.to_owned(), ty.to_owned())
                            .is_some()
                        {
                            return Err(fail("second TYPE"));
                        }
                    }
                    _ => {}
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (name, labels, rest) = parse_sample_head(line).ok_or_else(|| fail("bad sample"))?;
            let family = ["_total", "_sum", "_count", "_bucket"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| scrape.types.contains_key(*f))
                })
                .unwrap_or(&name)
                .to_owned();
            if !scrape.types.contains_key(&name) && !scrape.types.contains_key(&family) {
                return Err(fail("sample before its TYPE"));
            }
            if !helps.contains_key(&name) && !helps.contains_key(&family) {
                return Err(fail("sample without HELP"));
            }
            let mut fields = rest.split_whitespace();
            let value = fields.next().ok_or_else(|| fail("no value"))?;
            let value = parse_value(value).ok_or_else(|| fail("bad value"))?;
            if let Some(ts) = fields.next() {
                ts.parse::<i64>().map_err(|_| fail("bad timestamp"))?;
            }
            if fields.next().is_some() {
                return Err(fail("trailing fields"));
            }
            if scrape.samples.insert((name, labels), value).is_some() {
                return Err(fail("duplicate sample"));
            }
        }
        Ok(scrape)
    }

    /// The value of `name` with exactly `labels`, if present.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples.get(&(name.to_owned(), labels)).copied()
    }

    /// Like [`Scrape::get`] but the sample must exist.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
    }
}

fn valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `name{label="value",...}` then the rest of the line.
fn parse_sample_head(line: &str) -> Option<(String, BTreeMap<String, String>, &str)> {
    let end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..end];
    if !valid_metric_name(name) {
        return None;
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[end..];
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = inner.find('=')?;
            let label = &inner[..eq];
            if !valid_label_name(label) {
                return None;
            }
            inner = inner[eq + 1..].strip_prefix('"')?;
            let mut value = String::new();
            let mut chars = inner.char_indices();
            let close = loop {
                let (i, c) = chars.next()?;
                match c {
                    '"' => break i,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        _ => return None,
                    },
                    c => value.push(c),
                }
            };
            if labels.insert(label.to_owned(), value).is_some() {
                return None;
            }
            inner = &inner[close + 1..];
            inner = inner.strip_prefix(',').unwrap_or(inner);
        }
    }
    let rest = rest.strip_prefix(' ')?;
    Some((name.to_owned(), labels, rest))
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}
