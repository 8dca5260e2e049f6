//! What tabs of one browser profile tell each other about a board over a `BroadcastChannel`
//! (no server, no WebRTC between them). Tabs share IndexedDB, so they are one replica seen from
//! outside; each tab still has its own connections to remote peers.

/// Longest tab id or peer id accepted from another tab.
const MAX_ID: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TabMessage {
    /// A tab opened the board (its tab id, random per page); others answer `Here` and send what
    /// they have.
    Hello(String),
    Here(String),
    /// Changes to load (`load_incremental` bytes).
    Changes(Vec<u8>),
    /// A tab closed the board.
    Bye(String),
    /// The signaling server knows tab `tab` by peer id `peer` from now on (a new one on every
    /// join): never connect to it.
    Joined {
        tab: String,
        peer: String,
    },
}

impl TabMessage {
    pub fn encode(&self) -> Vec<u8> {
        let joined;
        let (tag, body): (u8, &[u8]) = match self {
            TabMessage::Hello(id) => (1, id.as_bytes()),
            TabMessage::Here(id) => (2, id.as_bytes()),
            TabMessage::Changes(bytes) => (3, bytes),
            TabMessage::Bye(id) => (4, id.as_bytes()),
            TabMessage::Joined { tab, peer } => {
                joined = format!("{tab} {peer}");
                (5, joined.as_bytes())
            }
        };
        let mut out = Vec::with_capacity(1 + body.len());
        out.push(tag);
        out.extend_from_slice(body);
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (tag, body) = bytes.split_first()?;
        let valid = |id: &str| !id.is_empty() && id.len() <= MAX_ID && !id.contains(' ');
        let id = || {
            let id = std::str::from_utf8(body).ok()?;
            valid(id).then(|| id.to_owned())
        };
        match tag {
            5 => {
                let (tab, peer) = std::str::from_utf8(body).ok()?.split_once(' ')?;
                (valid(tab) && valid(peer)).then(|| TabMessage::Joined {
                    tab: tab.to_owned(),
                    peer: peer.to_owned(),
                })
            }
            1 => id().map(TabMessage::Hello),
            2 => id().map(TabMessage::Here),
            3 => Some(TabMessage::Changes(body.to_vec())),
            4 => id().map(TabMessage::Bye),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        for m in [
            TabMessage::Hello("abc".into()),
            TabMessage::Here("x".into()),
            TabMessage::Changes(vec![1, 2, 3]),
            TabMessage::Bye("y".into()),
            TabMessage::Joined {
                tab: "t1".into(),
                peer: "AbC-_9".into(),
            },
        ] {
            assert_eq!(TabMessage::decode(&m.encode()), Some(m));
        }
        assert_eq!(TabMessage::decode(&[]), None);
        assert_eq!(TabMessage::decode(&[9, 1]), None);
        assert_eq!(TabMessage::decode(&[1]), None);
        assert_eq!(TabMessage::decode(&[1, 0xff, 0xfe]), None);
        assert_eq!(TabMessage::decode(b"\x05tab"), None);
        assert_eq!(TabMessage::decode(b"\x05tab "), None);
        assert_eq!(TabMessage::decode(b"\x05 peer"), None);
        assert_eq!(TabMessage::decode(b"\x05a b c"), None);
    }
}
