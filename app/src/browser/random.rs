//! `crypto.getRandomValues`.

/// Fill `N` bytes from the browser's CSPRNG.
pub fn bytes<const N: usize>() -> Result<[u8; N], String> {
    let mut out = [0u8; N];
    let crypto = web_sys::window()
        .ok_or("no window")?
        .crypto()
        .map_err(|e| super::describe(&e))?;
    crypto
        .get_random_values_with_u8_array(&mut out)
        .map_err(|e| super::describe(&e))?;
    Ok(out)
}
