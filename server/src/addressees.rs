//! The addressees one connection has already found in the store.
//!
//! A direct message may go to any user the project has seen, online or not,
//! which takes a store read. Users are deleted only by the host's erasure,
//! so once found a user stays valid (a DM to a user erased since is stored
//! like one to an offline user): remembering them spares that read for
//! every DM of a conversation after the first. The set is bounded per connection and
//! starts over when full (a connection DMing hundreds of people only pays
//! the read again).

use protocol::UserId;
use std::collections::HashSet;

/// Addressees remembered per connection.
/// 64 ids of up to 64 bytes: at most about 6 KiB per connection, on top of
/// its ~12 KiB, even when a client DMs many offline users.
pub(crate) const KNOWN_ADDRESSEES_MAX: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct KnownAddressees {
    users: HashSet<UserId>,
}

impl KnownAddressees {
    pub(crate) fn contains(&self, user: &UserId) -> bool {
        self.users.contains(user)
    }

    /// Remembers a user the store knows.
    pub(crate) fn remember(&mut self, user: &UserId) {
        if self.users.len() >= KNOWN_ADDRESSEES_MAX {
            self.users.clear();
        }
        self.users.insert(user.clone());
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.users.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: usize) -> UserId {
        UserId::new(format!("u{n}")).unwrap()
    }

    #[test]
    fn remembers_users_and_stays_bounded() {
        let mut known = KnownAddressees::default();
        assert!(known.is_empty());
        known.remember(&user(0));
        assert!(known.contains(&user(0)));
        assert!(!known.contains(&user(1)));
        for n in 1..KNOWN_ADDRESSEES_MAX {
            known.remember(&user(n));
        }
        assert_eq!(known.len(), KNOWN_ADDRESSEES_MAX);
        known.remember(&user(KNOWN_ADDRESSEES_MAX));
        assert_eq!(known.len(), 1, "a full set starts over");
        assert!(known.contains(&user(KNOWN_ADDRESSEES_MAX)));
        assert!(!known.contains(&user(0)));
    }
}
