//! Who a linked peer says it is, by peer id: for views that list links (the mesh panel).

use super::{PeerId, Presence};

impl Presence {
    /// The display name `peer` gave in its presence (self-asserted), if it said one yet.
    pub fn name_of(&self, peer: &PeerId) -> Option<&str> {
        self.origins
            .get(peer)?
            .state
            .as_ref()
            .map(|s| s.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PresenceEffect, State};
    use super::*;

    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn person(profile: &str, name: &str) -> Presence {
        Presence::new(State {
            profile: profile.into(),
            name: name.into(),
            colour: "#4f46e5".into(),
            ..State::default()
        })
    }

    #[test]
    fn a_peer_is_named_once_its_presence_arrived_and_not_after_it_left() {
        let (mut ann, mut bob) = (person("p-ann", "Ann"), person("p-bob", "Bob"));
        let (a, b): (PeerId, PeerId) = ("peer-a".into(), "peer-b".into());
        assert_eq!(ann.name_of(&b), None, "not linked");
        let hello = bob.connected(&a, 0);
        ann.connected(&b, 0);
        assert_eq!(ann.name_of(&b), None, "linked, nothing heard yet");
        for effect in hello {
            if let PresenceEffect::Send { bytes, .. } = effect {
                ann.receive(&b, &bytes, 1);
            }
        }
        assert_eq!(ann.name_of(&b), Some("Bob"));
        assert_eq!(ann.name_of(&a), None, "nobody else");
        ann.disconnected(&b, 2);
        assert_eq!(ann.name_of(&b), None);
    }
}
