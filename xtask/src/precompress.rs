//! `cargo xtask precompress`: write `NAME.br` (brotli, quality 11) and `NAME.gz` (gzip, level 9)
//! next to every compressible file of the built app in `dist/`, which the server then sends as
//! they are (signaling/src/static_files.rs). Run after every Trunk build; `trunk_build` does.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// File types worth compressing; images (png) are compressed already.
const COMPRESSIBLE: &[&str] = &["wasm", "js", "css", "html", "svg", "webmanifest", "json"];

/// Precompresses every compressible file under `dir`; returns the files written, sorted.
pub fn dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for file in files(dir)? {
        let bytes = fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        for (ext, body) in [("br", brotli(&bytes)?), ("gz", gzip(&bytes)?)] {
            let mut name = file.clone().into_os_string();
            name.push(format!(".{ext}"));
            let out = PathBuf::from(name);
            fs::write(&out, body).with_context(|| format!("writing {}", out.display()))?;
            written.push(out);
        }
    }
    written.sort();
    Ok(written)
}

/// Compressible files under `dir`, recursively (Trunk puts snippets in subdirectories).
fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(files(&path)?);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| COMPRESSIBLE.contains(&e))
        {
            found.push(path);
        }
    }
    Ok(found)
}

fn brotli(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 24,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).context("brotli")?;
    Ok(out)
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn writes_brotli_and_gzip_copies_that_decode_to_the_original() {
        let tmp = std::env::temp_dir().join(format!("xtask-precompress-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(tmp.join("snippets/app-0123456789abcdef")).unwrap();
        let js = "export const x = 1;\n".repeat(100);
        fs::write(tmp.join("app.js"), &js).unwrap();
        fs::write(tmp.join("snippets/app-0123456789abcdef/inline0.js"), &js).unwrap();
        fs::write(tmp.join("icon-192.png"), [0x89, b'P', b'N', b'G']).unwrap();

        let written = dir(&tmp).unwrap();
        assert_eq!(written.len(), 4, "{written:?}");
        assert!(!tmp.join("icon-192.png.br").exists());

        let br = fs::read(tmp.join("app.js.br")).unwrap();
        assert!(br.len() < js.len() / 10);
        let mut plain = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, js.as_bytes());

        let gz = fs::read(tmp.join("snippets/app-0123456789abcdef/inline0.js.gz")).unwrap();
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, js);
        fs::remove_dir_all(&tmp).unwrap();
    }
}
