//! What keeps a board's link the only way in: keys derived from the link's secret, sealed
//! signaling payloads, and a proof over the data channel that both ends hold the key and see the
//! same DTLS fingerprints (no one sits in the middle). Pure functions: randomness and time are
//! passed in. See docs/security.md for the threat model.

pub mod keys;
pub mod proof;
pub mod seal;

pub use keys::{room_id_of, BoardKeys, RoomKey};
pub use proof::Role;
pub use seal::{SealError, Sealer};
