//! From kernel neighbour messages to [`NeighborTable`] changes. No I/O: the
//! monitor feeds it dump replies and notifications, the unit tests feed it
//! hand-made messages.

use std::collections::HashMap;
use std::net::IpAddr;

use dataplane::fib::PortId;
use dataplane::neighbor::{Mac, NeighborTable};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlag, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::AddressFamily;

/// The engine's ports by kernel interface index.
pub(crate) type PortIndex = HashMap<u32, PortId>;

/// What one kernel neighbour message means for the engine's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// `ip` on `port` is usable at `mac`.
    Set { port: PortId, ip: IpAddr, mac: Mac },
    /// `ip` on `port` is gone or not usable (incomplete, failed, deleted).
    Clear { port: PortId, ip: IpAddr },
    /// Not ours: another interface, another family, a proxy entry.
    Ignore,
}

/// True for the states whose link-layer address the engine may use: the
/// kernel has (or had, and is re-checking) a confirmed address.
pub(crate) fn usable(state: NeighbourState) -> bool {
    matches!(
        state,
        NeighbourState::Reachable
            | NeighbourState::Stale
            | NeighbourState::Delay
            | NeighbourState::Probe
            | NeighbourState::Permanent
            | NeighbourState::Noarp
    )
}

/// True for addresses a next hop (and a neighbour entry worth resolving)
/// can have: not unspecified, loopback, multicast or broadcast.
pub(crate) fn is_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            !(a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.is_broadcast())
        }
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_loopback() || a.is_multicast()),
    }
}

/// Reads one RTM_NEWNEIGH (`deleted == false`, also every dump reply) or
/// RTM_DELNEIGH (`deleted == true`).
pub(crate) fn change(msg: &NeighbourMessage, deleted: bool, ports: &PortIndex) -> Change {
    let header = &msg.header;
    if !matches!(header.family, AddressFamily::Inet | AddressFamily::Inet6)
        || header.flags.contains(&NeighbourFlag::Proxy)
    {
        return Change::Ignore;
    }
    let Some(&port) = ports.get(&header.ifindex) else {
        return Change::Ignore;
    };
    let mut ip = None;
    let mut lladdr = None;
    for attribute in &msg.attributes {
        match attribute {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => ip = Some(IpAddr::V4(*a)),
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => {
                ip = Some(IpAddr::V6(*a))
            }
            NeighbourAttribute::LinkLocalAddress(bytes) => lladdr = Some(bytes.as_slice()),
            _ => {}
        }
    }
    // Multicast and broadcast entries (NOARP, MAC derived from the
    // address) are never next hops.
    let Some(ip) = ip.filter(|&ip| is_unicast(ip)) else {
        return Change::Ignore;
    };
    if deleted || !usable(header.state) {
        return Change::Clear { port, ip };
    }
    match lladdr.and_then(|bytes| Mac::try_from(bytes).ok()) {
        Some(mac) => Change::Set { port, ip, mac },
        // A usable state without an Ethernet address (a NOARP entry on a
        // point-to-point device): nothing the engine can write.
        None => Change::Clear { port, ip },
    }
}

/// The engine's view of the kernel's neighbour table, kept in step with it,
/// and whether it changed since it was last published.
#[derive(Debug, Default)]
pub(crate) struct Mirror {
    table: NeighborTable,
    dirty: bool,
}

impl Mirror {
    /// The current entries.
    pub(crate) fn table(&self) -> &NeighborTable {
        &self.table
    }

    /// Applies one change; true if the table changed.
    pub(crate) fn apply(&mut self, change: Change) -> bool {
        let changed = match change {
            Change::Set { port, ip, mac } => self.table.insert(port, ip, mac) != Some(mac),
            Change::Clear { port, ip } => self.table.remove(port, ip).is_some(),
            Change::Ignore => false,
        };
        self.dirty |= changed;
        changed
    }

    /// Replaces everything with a fresh dump; true if the table changed.
    pub(crate) fn replace(&mut self, table: NeighborTable) -> bool {
        let changed = table != self.table;
        self.table = table;
        self.dirty |= changed;
        changed
    }

    /// True if there are changes not yet published.
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// The table to publish; clears the dirty mark.
    pub(crate) fn take_snapshot(&mut self) -> NeighborTable {
        self.dirty = false;
        self.table.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const MAC: Mac = [2, 0, 0, 0, 0, 1];

    fn ports() -> PortIndex {
        HashMap::from([(7, PortId(0)), (9, PortId(1))])
    }

    fn message(
        ifindex: u32,
        ip: IpAddr,
        state: NeighbourState,
        mac: Option<&[u8]>,
    ) -> NeighbourMessage {
        let mut msg = NeighbourMessage::default();
        msg.header.family = match ip {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        msg.header.ifindex = ifindex;
        msg.header.state = state;
        msg.attributes
            .push(NeighbourAttribute::Destination(match ip {
                IpAddr::V4(a) => NeighbourAddress::Inet(a),
                IpAddr::V6(a) => NeighbourAddress::Inet6(a),
            }));
        if let Some(mac) = mac {
            msg.attributes
                .push(NeighbourAttribute::LinkLocalAddress(mac.to_vec()));
        }
        msg
    }

    #[test]
    fn usable_states_with_a_mac_are_set() {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        for state in [
            NeighbourState::Reachable,
            NeighbourState::Stale,
            NeighbourState::Delay,
            NeighbourState::Probe,
            NeighbourState::Permanent,
            NeighbourState::Noarp,
        ] {
            let msg = message(9, ip, state, Some(&MAC));
            assert_eq!(
                change(&msg, false, &ports()),
                Change::Set {
                    port: PortId(1),
                    ip,
                    mac: MAC
                },
                "{state}"
            );
        }
    }

    #[test]
    fn unusable_states_and_deletions_clear() {
        let ip = IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 2));
        let clear = Change::Clear {
            port: PortId(0),
            ip,
        };
        for state in [
            NeighbourState::Incomplete,
            NeighbourState::Failed,
            NeighbourState::None,
            NeighbourState::Other(0x300),
        ] {
            assert_eq!(
                change(&message(7, ip, state, Some(&MAC)), false, &ports()),
                clear,
                "{state}"
            );
        }
        let reachable = message(7, ip, NeighbourState::Reachable, Some(&MAC));
        assert_eq!(change(&reachable, true, &ports()), clear);
        let no_mac = message(7, ip, NeighbourState::Reachable, None);
        assert_eq!(change(&no_mac, false, &ports()), clear);
        let short_mac = message(7, ip, NeighbourState::Permanent, Some(&MAC[..4]));
        assert_eq!(change(&short_mac, false, &ports()), clear);
    }

    #[test]
    fn foreign_interfaces_families_and_proxies_are_ignored() {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let other_if = message(8, ip, NeighbourState::Permanent, Some(&MAC));
        assert_eq!(change(&other_if, false, &ports()), Change::Ignore);
        assert_eq!(change(&other_if, true, &ports()), Change::Ignore);
        let mut bridge = message(7, ip, NeighbourState::Permanent, Some(&MAC));
        bridge.header.family = AddressFamily::Bridge;
        assert_eq!(change(&bridge, false, &ports()), Change::Ignore);
        let mut proxy = message(7, ip, NeighbourState::Permanent, Some(&MAC));
        proxy.header.flags.push(NeighbourFlag::Proxy);
        assert_eq!(change(&proxy, false, &ports()), Change::Ignore);
        let mcast = IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16));
        let noarp = message(
            7,
            mcast,
            NeighbourState::Noarp,
            Some(&[0x33, 0x33, 0, 0, 0, 0x16]),
        );
        assert_eq!(change(&noarp, false, &ports()), Change::Ignore);
        let bcast = IpAddr::V4(Ipv4Addr::BROADCAST);
        let noarp = message(7, bcast, NeighbourState::Noarp, Some(&[0xff; 6]));
        assert_eq!(change(&noarp, false, &ports()), Change::Ignore);
        let mut no_dst = message(7, ip, NeighbourState::Permanent, Some(&MAC));
        no_dst.attributes.remove(0);
        assert_eq!(change(&no_dst, false, &ports()), Change::Ignore);
    }

    #[test]
    fn mirror_tracks_real_changes_only() {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let port = PortId(0);
        let mut m = Mirror::default();
        assert!(!m.is_dirty());
        assert!(m.apply(Change::Set { port, ip, mac: MAC }));
        assert!(
            !m.apply(Change::Set { port, ip, mac: MAC }),
            "same MAC again"
        );
        assert!(m.is_dirty());
        let snap = m.take_snapshot();
        assert_eq!(snap.lookup(port, ip), Some(MAC));
        assert!(!m.is_dirty());
        assert!(!m.apply(Change::Ignore));
        assert!(!m.apply(Change::Clear {
            port: PortId(1),
            ip
        }));
        assert!(!m.is_dirty());
        assert!(!m.replace(snap.clone()));
        assert!(!m.is_dirty());
        assert!(m.apply(Change::Clear { port, ip }));
        assert!(m.table().is_empty());
        assert!(m.replace(snap));
        assert!(m.is_dirty());
    }
}
