//! Who this browser profile is on every board: a display name and a colour, chosen on first use
//! (a friendly default) and kept in local storage. Self-asserted: anyone can call themselves
//! anything (see docs/security.md).

use crdt::board::Author;

const NAME_KEY: &str = "meshboard:name";
const COLOUR_KEY: &str = "meshboard:colour";

const ADJECTIVES: [&str; 12] = [
    "Quick", "Calm", "Bright", "Brave", "Kind", "Keen", "Merry", "Swift", "Witty", "Bold",
    "Gentle", "Lucky",
];
const ANIMALS: [&str; 12] = [
    "Otter", "Falcon", "Panda", "Heron", "Lynx", "Badger", "Koala", "Marten", "Puffin", "Fox",
    "Wren", "Seal",
];
const COLOURS: [&str; 8] = [
    "#4f46e5", "#0ea5e9", "#16a34a", "#d97706", "#db2777", "#7c3aed", "#0d9488", "#dc2626",
];

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn pick<const N: usize>(from: [&'static str; N], byte: u8) -> &'static str {
    from[usize::from(byte) % N]
}

/// This profile's identity, made and stored the first time it is asked for.
pub fn current() -> Author {
    let stored = storage();
    let get = |key: &str| stored.as_ref().and_then(|s| s.get_item(key).ok().flatten());
    let random = crate::browser::random::bytes::<3>().unwrap_or([0; 3]);
    let name = get(NAME_KEY)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| {
            let name = format!(
                "{} {}",
                pick(ADJECTIVES, random[0]),
                pick(ANIMALS, random[1])
            );
            set(NAME_KEY, &name);
            name
        });
    let colour = get(COLOUR_KEY)
        .filter(|c| crdt::board::valid_colour(c))
        .unwrap_or_else(|| {
            let colour = pick(COLOURS, random[2]).to_owned();
            set(COLOUR_KEY, &colour);
            colour
        });
    Author { name, colour }
}

fn set(key: &str, value: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(key, value);
    }
}

/// Rename this profile (an empty name keeps the old one); returns the identity now.
pub fn rename(name: &str) -> Author {
    let name: String = name
        .trim()
        .chars()
        .take(crdt::board::MAX_NAME_CHARS)
        .collect();
    if !name.is_empty() {
        set(NAME_KEY, &name);
    }
    current()
}

const PROFILE_KEY: &str = "meshboard:profile";

/// This browser profile's random id in presence: the tabs of one profile are one person.
pub fn profile() -> String {
    let stored = storage().and_then(|s| s.get_item(PROFILE_KEY).ok().flatten());
    if let Some(p) = stored.filter(|p| {
        (8..=32).contains(&p.len())
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) {
        return p;
    }
    let bytes = crate::browser::random::bytes::<12>().unwrap_or([0; 12]);
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    set(PROFILE_KEY, &id);
    id
}
