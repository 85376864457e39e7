//! The neighbour table the engine uses to write Ethernet headers: which
//! link-layer address a next hop has on a port.
//!
//! Filled on the control plane from the kernel's neighbour table (rtnetlink
//! dump, then change notifications) and published as an immutable snapshot
//! like the FIB; the data path only reads it. No I/O here.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::fib::PortId;

/// A 48-bit Ethernet address.
pub type Mac = [u8; 6];

/// Next hops' link-layer addresses, per port. Immutable once built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeighborTable {
    /// foldhash, not std's SipHash: the engine looks a next hop up for
    /// every frame it forwards, and SipHash cost ~1 % of the SUT core in
    /// the RFC 2544 profile; foldhash's seed is random per table.
    entries: HashMap<(PortId, IpAddr), Mac, foldhash::fast::RandomState>,
}

impl NeighborTable {
    /// An empty table.
    pub fn new() -> NeighborTable {
        NeighborTable::default()
    }

    /// The link-layer address of `next_hop` on `port`, if resolved.
    #[inline]
    pub fn lookup(&self, port: PortId, next_hop: IpAddr) -> Option<Mac> {
        self.entries.get(&(port, next_hop)).copied()
    }

    /// Adds or replaces an entry (control plane: builds the next snapshot).
    pub fn insert(&mut self, port: PortId, next_hop: IpAddr, mac: Mac) -> Option<Mac> {
        self.entries.insert((port, next_hop), mac)
    }

    /// Removes an entry.
    pub fn remove(&mut self, port: PortId, next_hop: IpAddr) -> Option<Mac> {
        self.entries.remove(&(port, next_hop))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (PortId, IpAddr, Mac)> + '_ {
        self.entries
            .iter()
            .map(|(&(port, ip), &mac)| (port, ip, mac))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_per_port() {
        let mut t = NeighborTable::new();
        let a: IpAddr = "fc00::1".parse().unwrap();
        assert_eq!(t.insert(PortId(1), a, [2, 0, 0, 0, 0, 1]), None);
        assert_eq!(t.lookup(PortId(1), a), Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(t.lookup(PortId(2), a), None);
        assert_eq!(
            t.insert(PortId(1), a, [2, 0, 0, 0, 0, 9]),
            Some([2, 0, 0, 0, 0, 1])
        );
        assert_eq!(t.lookup(PortId(1), a), Some([2, 0, 0, 0, 0, 9]));
        assert_eq!(t.remove(PortId(1), a), Some([2, 0, 0, 0, 0, 9]));
        assert!(t.is_empty());
    }
}
