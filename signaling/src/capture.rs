//! The `--capture` testing aid: every frame any client sends, appended verbatim to a file.
//!
//! End-to-end tests read this file to prove that no board content ever reaches the server.
//! Not meant for production: it records everything clients send.

use std::path::Path;

use serde::Serialize;
use tokio::{fs::File, io::AsyncWriteExt, sync::Mutex};

use crate::{error::ServerError, rooms::ConnId};

/// One line of the capture file: `{"conn":N,"text":"..."}`, or `"binary"` (lossy UTF-8) for a
/// binary frame.
#[derive(Serialize)]
struct Line<'a> {
    conn: ConnId,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    binary: Option<&'a str>,
}

#[derive(Debug)]
pub struct Capture {
    file: Mutex<File>,
}

impl Capture {
    /// Opens `path` for appending, creating it if needed.
    pub fn open(path: &Path) -> Result<Self, ServerError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| ServerError::Capture {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            file: Mutex::new(File::from_std(file)),
        })
    }

    pub async fn text(&self, conn: ConnId, text: &str) {
        self.write(&Line {
            conn,
            text: Some(text),
            binary: None,
        })
        .await;
    }

    pub async fn binary(&self, conn: ConnId, bytes: &[u8]) {
        let lossy = String::from_utf8_lossy(bytes);
        self.write(&Line {
            conn,
            text: None,
            binary: Some(&lossy),
        })
        .await;
    }

    /// Appends one line and flushes it, so a reader sees it as soon as the frame is handled.
    async fn write(&self, line: &Line<'_>) {
        let mut bytes = match serde_json::to_vec(line) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(%error, "cannot encode a capture line");
                return;
            }
        };
        bytes.push(b'\n');
        let mut file = self.file.lock().await;
        if let Err(error) = async {
            file.write_all(&bytes).await?;
            file.flush().await
        }
        .await
        {
            tracing::warn!(%error, "cannot write to the capture file");
        }
    }
}
