//! `crypto.getRandomValues`.

use super::BrowserError;

/// Fill `N` bytes from the browser's CSPRNG.
pub fn bytes<const N: usize>() -> Result<[u8; N], BrowserError> {
    let mut out = [0u8; N];
    let crypto = web_sys::window()
        .ok_or(BrowserError::Missing("a window"))?
        .crypto()
        .map_err(BrowserError::from)?;
    crypto
        .get_random_values_with_u8_array(&mut out)
        .map_err(BrowserError::from)?;
    Ok(out)
}
