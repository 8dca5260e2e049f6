//! The ICE servers handed to each joining peer: STUN URLs as configured, and TURN URLs with
//! short-lived credentials in the scheme that coturn's `use-auth-secret` accepts (the "TURN REST
//! API"): `username = "<expiry unix time>:<peer id>"`,
//! `credential = base64(HMAC-SHA1(shared secret, username))`.
//!
//! The TURN server checks the HMAC with the same shared secret and refuses the username once its
//! expiry has passed, so nothing has to be stored or revoked here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::{
    config::Secret,
    protocol::{IceServer, IceTransportPolicy},
};

/// TURN URLs and the secret shared with the TURN server.
#[derive(Debug, Clone)]
struct Turn {
    urls: Vec<String>,
    secret: Secret,
    ttl: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct IceServers {
    stun: Vec<IceServer>,
    turn: Option<Turn>,
    policy: IceTransportPolicy,
}

impl IceServers {
    /// STUN URLs become one entry each; TURN URLs (if any, and a secret is given) one entry
    /// with credentials made per peer.
    pub fn new(
        stun_urls: &[String],
        turn_urls: &[String],
        turn_secret: Option<&Secret>,
        turn_ttl: Duration,
    ) -> Self {
        let stun = stun_urls
            .iter()
            .map(|url| IceServer {
                urls: vec![url.clone()],
                username: None,
                credential: None,
            })
            .collect();
        let turn = match turn_secret {
            Some(secret) if !turn_urls.is_empty() => Some(Turn {
                urls: turn_urls.to_vec(),
                secret: secret.clone(),
                ttl: turn_ttl,
            }),
            _ => None,
        };
        Self {
            stun,
            turn,
            policy: IceTransportPolicy::All,
        }
    }

    /// Peers are told to use only relay candidates (`iceTransportPolicy: "relay"`).
    pub fn relay_only(mut self) -> Self {
        self.policy = IceTransportPolicy::Relay;
        self
    }

    /// The `iceTransportPolicy` peers are told to use.
    pub fn policy(&self) -> IceTransportPolicy {
        self.policy
    }

    /// Whether TURN is configured (a relay-only policy needs it).
    pub fn has_turn(&self) -> bool {
        self.turn.is_some()
    }

    /// How long TURN credentials last; `None` without TURN.
    pub fn ttl(&self) -> Option<Duration> {
        self.turn.as_ref().map(|t| t.ttl)
    }

    /// The list for `peer`, with TURN credentials valid from now for the configured time.
    pub fn for_peer(&self, peer: &str) -> Vec<IceServer> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.for_peer_at(peer, now.as_secs())
    }

    /// The list for `peer` as of `now` (Unix seconds).
    pub fn for_peer_at(&self, peer: &str, now: u64) -> Vec<IceServer> {
        let mut servers = self.stun.clone();
        if let Some(turn) = &self.turn {
            let expiry = now.saturating_add(turn.ttl.as_secs());
            let username = format!("{expiry}:{peer}");
            servers.push(IceServer {
                urls: turn.urls.clone(),
                credential: Some(turn_credential(turn.secret.expose(), &username)),
                username: Some(username),
            });
        }
        servers
    }
}

/// `base64(HMAC-SHA1(secret, username))`, the password coturn expects for `username`.
pub fn turn_credential(secret: &str, username: &str) -> String {
    // HMAC takes a key of any length, so this never fails.
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(hmac::digest::InvalidLength) => return String::new(),
    };
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stun_only_without_a_secret() {
        let ice = IceServers::new(
            &["stun:s.example".into()],
            &[],
            None,
            Duration::from_secs(60),
        );
        let list = ice.for_peer_at("p", 1000);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].username, None);
    }

    #[test]
    fn turn_entry_carries_expiring_username_and_hmac() {
        let secret = Secret::new("s3cret");
        let ice = IceServers::new(
            &[],
            &["turn:t.example:3478".into(), "turns:t.example:5349".into()],
            Some(&secret),
            Duration::from_secs(600),
        );
        let list = ice.for_peer_at("alice", 1_700_000_000);
        assert_eq!(list.len(), 1);
        assert_eq!(
            list[0].urls,
            ["turn:t.example:3478", "turns:t.example:5349"]
        );
        assert_eq!(list[0].username.as_deref(), Some("1700000600:alice"));
        assert_eq!(
            list[0].credential.as_deref(),
            Some(turn_credential("s3cret", "1700000600:alice").as_str())
        );
    }
}
