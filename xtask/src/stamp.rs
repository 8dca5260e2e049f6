//! After each Trunk build: give dist/sw.js the build's version, so that the browser sees a new
//! service worker exactly when something the page loads changed (public/sw.js explains why).

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha384};

const MARK: &str = "const VERSION = '";

/// Writes `const VERSION = '<hash>';` into `dist/sw.js`, the hash taken over index.html and
/// sw.js without its version (so stamping twice gives the same file); returns the version.
pub fn service_worker(dist: &Path) -> Result<String> {
    let path = dist.join("sw.js");
    let sw = fs::read_to_string(&path).context("reading dist/sw.js")?;
    let index = fs::read(dist.join("index.html")).context("reading dist/index.html")?;
    let (before, rest) = sw
        .split_once(MARK)
        .with_context(|| format!("dist/sw.js has no `{MARK}...';` line to stamp"))?;
    let (_, after) = rest
        .split_once("';")
        .context("dist/sw.js: the VERSION line does not end with `';`")?;
    let mut hash = Sha384::new();
    hash.update(&index);
    hash.update(before);
    hash.update(after);
    let version: String = hash
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    fs::write(&path, format!("{before}{MARK}{version}';{after}")).context("writing dist/sw.js")?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_follows_index_html_and_stamping_twice_changes_nothing() {
        let dir = std::env::temp_dir().join(format!("xtask-stamp-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let sw = "// x\nconst VERSION = 'dev';\nconst CACHE = `m-${VERSION}`;\n";
        fs::write(dir.join("sw.js"), sw).unwrap();
        fs::write(dir.join("index.html"), "<script src=/a-1.js>").unwrap();
        let v1 = service_worker(&dir).unwrap();
        assert_eq!(v1.len(), 16);
        let stamped = fs::read_to_string(dir.join("sw.js")).unwrap();
        assert_eq!(stamped, sw.replace("'dev'", &format!("'{v1}'")));
        assert_eq!(service_worker(&dir).unwrap(), v1);
        fs::write(dir.join("index.html"), "<script src=/a-2.js>").unwrap();
        assert_ne!(service_worker(&dir).unwrap(), v1);
        fs::write(dir.join("sw.js"), "no version here").unwrap();
        assert!(service_worker(&dir).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
