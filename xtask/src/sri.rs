//! After each Trunk build: dist/index.html must have no inline script (the server's CSP refuses
//! them) and must pin every script, module, stylesheet and the wasm with a sha384 integrity
//! that matches the file in dist/ (subresource integrity; see docs/security.md).

use std::fs;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use base64::Engine as _;
use sha2::{Digest, Sha384};

/// Checks `dist/index.html` against the files next to it; returns how many are pinned.
pub fn check_dist(dist: &Path) -> Result<usize> {
    let html = fs::read_to_string(dist.join("index.html")).context("reading dist/index.html")?;
    let mut pinned = 0;
    for tag in tags(&html) {
        let name = tag_name(tag);
        let rel = attr(tag, "rel").unwrap_or_default();
        let url = match name.as_str() {
            "script" => match attr(tag, "src") {
                Some(src) => src,
                None => bail!("dist/index.html has an inline script, which the CSP refuses: {tag}"),
            },
            "link" if matches!(rel.as_str(), "stylesheet" | "modulepreload" | "preload") => {
                attr(tag, "href").unwrap_or_default()
            }
            _ => continue,
        };
        let integrity = attr(tag, "integrity")
            .with_context(|| format!("dist/index.html: no integrity on {tag}"))?;
        let expected = integrity
            .strip_prefix("sha384-")
            .with_context(|| format!("dist/index.html: not a sha384 integrity on {tag}"))?;
        let path = dist.join(url.trim_start_matches('/'));
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let actual = base64::engine::general_purpose::STANDARD.encode(Sha384::digest(&bytes));
        ensure!(
            actual == expected,
            "dist/index.html: the integrity of {url} does not match the file"
        );
        pinned += 1;
    }
    Ok(pinned)
}

/// The opening tags (`<name ...>`) of `html`, comments skipped.
fn tags(html: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.split_once("-->").map_or("", |(_, r)| r);
            continue;
        }
        let end = rest.find('>').map_or(rest.len(), |e| e + 1);
        let tag = &rest[..end];
        if tag[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
            found.push(tag);
        }
        rest = &rest[end..];
    }
    found
}

fn tag_name(tag: &str) -> String {
    tag[1..]
        .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The value of attribute `name` (double-quoted, as Trunk writes them).
fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(name: &str, index: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-sri-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("app.js"), "export {}").unwrap();
        fs::write(dir.join("index.html"), index).unwrap();
        dir
    }

    const GOOD: &str = "sha384-VVxCXcxpOv0nZ/0YpxpNmvOMf1L1Hb6UQplg7as60Q+OX5995JTMkCby7S/OIk9s";

    #[test]
    fn pinned_files_pass_and_anything_else_fails() {
        let ok = format!(
            "<!-- <script>x</script> --><meta name=\"a\" data-js=\"/app.js\">\
             <script src=\"/app.js\" integrity=\"{GOOD}\" type=\"module\"></script>\
             <link rel=\"modulepreload\" href=\"/app.js\" integrity=\"{GOOD}\">\
             <link rel=\"icon\" href=\"/icon.svg\">"
        );
        let dir = dist("ok", &ok);
        assert_eq!(check_dist(&dir).unwrap(), 2);

        for bad in [
            "<script>alert(1)</script>".to_owned(),
            "<script src=\"/app.js\"></script>".to_owned(),
            "<link rel=\"stylesheet\" href=\"/app.js\" integrity=\"sha256-x\">".to_owned(),
            ok.replace("VVxC", "VVxD"),
        ] {
            let dir = dist("bad", &bad);
            assert!(check_dist(&dir).is_err(), "{bad}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
