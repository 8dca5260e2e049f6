//! The per-client cap on WebSocket connections: one host (an IPv4 address or an IPv6 /64, see
//! [`ClientKey`]) cannot take every slot of the server's global cap.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use crate::client_addr::ClientKey;

/// Default of `--max-connections-per-ip`: a household or office behind one address with a few
/// boards open in several tabs each, far below the global cap of 1,024.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: u32 = 64;

/// Open connections per client; entries go when their count drops to zero.
#[derive(Debug)]
pub struct PerClientLimit {
    max: u32,
    open: Mutex<HashMap<ClientKey, u32>>,
}

/// One client's slot, held for the life of its connection.
#[derive(Debug)]
pub struct ClientSlot {
    limit: Arc<PerClientLimit>,
    key: ClientKey,
}

impl PerClientLimit {
    pub fn new(max: u32) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ClientKey, u32>> {
        // Each update is one insert, increment or removal: consistent even after a panic.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for one more connection of `key`, unless it has [`PerClientLimit::max`] already.
    pub fn try_admit(self: &Arc<Self>, key: ClientKey) -> Option<ClientSlot> {
        let mut open = self.lock();
        let count = open.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            limit: self.clone(),
            key,
        })
    }

    /// Number of clients with at least one connection.
    pub fn clients(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.limit.lock();
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_is_capped_and_slots_come_back() {
        let limit = PerClientLimit::new(2);
        let a = ClientKey::from(std::net::IpAddr::from([192, 0, 2, 1]));
        let b = ClientKey::from(std::net::IpAddr::from([192, 0, 2, 2]));
        let a1 = limit.try_admit(a).unwrap();
        let _a2 = limit.try_admit(a).unwrap();
        assert!(limit.try_admit(a).is_none());
        let _b1 = limit.try_admit(b).unwrap();
        drop(a1);
        let _a3 = limit.try_admit(a).unwrap();
        assert_eq!(limit.clients(), 2);
    }
}
