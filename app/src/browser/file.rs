//! Files the user gives or takes: reading a picked or dropped `File` (bounded before it is
//! copied into wasm memory) and offering bytes as a download.

use super::BrowserError;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, File, HtmlAnchorElement, Url};

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("The file is {size} bytes; the largest accepted is {limit} bytes.")]
    TooLarge { size: u64, limit: usize },
    #[error("The file could not be read: {0}")]
    Unreadable(String),
}

/// The bytes of `file`, refused from its size before anything is read if it passes `limit`.
pub async fn read(file: &File, limit: usize) -> Result<Vec<u8>, FileError> {
    let size = file.size();
    if !(size.is_finite() && size >= 0.0 && size <= limit as f64) {
        return Err(FileError::TooLarge {
            size: size.max(0.0) as u64,
            limit,
        });
    }
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| FileError::Unreadable(super::describe(&e)))?;
    let bytes = js_sys::Uint8Array::new(&buffer);
    // the file may have grown since its size was read
    if bytes.length() as usize > limit {
        return Err(FileError::TooLarge {
            size: u64::from(bytes.length()),
            limit,
        });
    }
    Ok(bytes.to_vec())
}

/// Offer `bytes` as a download named `name` of type `mime`.
pub fn download(name: &str, mime: &str, bytes: &[u8]) -> Result<(), BrowserError> {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    let blob = Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(BrowserError::from)?;
    let url = Url::create_object_url_with_blob(&blob).map_err(BrowserError::from)?;
    let clicked = (|| {
        let document = web_sys::window()
            .and_then(|w| w.document())
            .ok_or(BrowserError::Missing("a document"))?;
        let a: HtmlAnchorElement = document
            .create_element("a")
            .map_err(BrowserError::from)?
            .dyn_into()
            .map_err(|_| BrowserError::Unexpected("an element that is not a link"))?;
        a.set_href(&url);
        a.set_download(name);
        a.click();
        Ok::<_, BrowserError>(())
    })();
    // Give the browser time to start the download before the blob's URL goes away.
    leptos::prelude::set_timeout(
        move || {
            let _ = Url::revoke_object_url(&url);
        },
        std::time::Duration::from_secs(60),
    );
    clicked
}
