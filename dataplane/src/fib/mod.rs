//! Forwarding tables: per-VRF longest-prefix-match routes, the local SID
//! table, and the publication of immutable snapshots to the workers.
//!
//! What it is: pure data structures. Everything is built on the control
//! plane from a builder ([`LpmBuilder`], [`VrfTableBuilder`],
//! [`LocalSidTableBuilder`]) that validates its input with typed errors, then
//! frozen into an immutable table whose lookups take `&self`, allocate
//! nothing, take no lock and cannot panic. A new configuration is a new
//! snapshot handed to the workers through [`Published`].
//!
//! What it is not: the neighbour table, the SR policy table or the whole
//! `Fib` snapshot (those are built on top of these types), and it does no
//! I/O.
//!
//! The LPM structure and the measurements behind it are described in
//! `docs/decisions/0001-lpm.md`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod lpm;
mod publish;
mod sid;
mod snapshot;

pub use lpm::{Address, Lpm, Lpm4, Lpm4Builder, Lpm6, Lpm6Builder, LpmBuilder, MAX_PREFIXES};
pub use publish::{Published, Snapshot};
pub use sid::{LocalSidTable, LocalSidTableBuilder};
pub use snapshot::{Fib, FibBuilder, StampReflection, ICMP_V4_DUMMY_SOURCE, MAX_VRFS};

/// A bad route, SID or table request, naming the input that was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FibError {
    /// The prefix length is longer than the address.
    #[error("prefix {prefix}/{len}: prefix length must be at most {max}")]
    PrefixLength {
        /// The prefix as given.
        prefix: IpAddr,
        /// The rejected length.
        len: u8,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// The same local SID (/128) was configured twice.
    #[error("local SID {sid} is already configured")]
    DuplicateSid {
        /// The SID.
        sid: Ipv6Addr,
    },
    /// The same local SID prefix was configured twice.
    #[error("local SID prefix {prefix}/{len} is already configured")]
    DuplicateSidPrefix {
        /// The prefix, host bits cleared.
        prefix: Ipv6Addr,
        /// Its length.
        len: u8,
    },
    /// A VRF number beyond [`MAX_VRFS`].
    #[error("VRF {vrf}: VRF numbers must be at most {max}")]
    VrfOutOfRange {
        /// The rejected number.
        vrf: VrfId,
        /// The highest allowed.
        max: VrfId,
    },
    /// A SID refers to a VRF that is not configured.
    #[error("{what}: VRF {vrf} is not configured")]
    UnknownVrf {
        /// The missing VRF.
        vrf: VrfId,
        /// What referred to it.
        what: String,
    },
    /// A route refers to an SR policy that does not exist.
    #[error("{route}: SR policy {policy} does not exist")]
    UnknownPolicy {
        /// The missing policy's number.
        policy: u32,
        /// The route that referred to it.
        route: String,
    },
    /// An IPv4 next hop where IPv6 is needed, or the other way round.
    #[error("{what}: next hop {next_hop:?} is of the wrong address family")]
    NextHopFamily {
        /// The route or SID.
        what: String,
        /// The offending next hop.
        next_hop: NextHop,
    },
    /// A table would hold more prefixes than it can index.
    #[error("table is full: at most {max} prefixes")]
    TooManyPrefixes {
        /// The limit.
        max: usize,
    },
}

/// A VRF (routing table) number.
pub type VrfId = u32;

/// An engine port (one AF_XDP socket's interface).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortId(pub u16);

/// Where a forwarded packet goes next on its port.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NextHop {
    /// An IPv4 neighbour.
    V4(Ipv4Addr),
    /// An IPv6 neighbour.
    V6(Ipv6Addr),
    /// on-link: the packet's own destination is the neighbour
    Direct,
}

/// An output port and the neighbour to send to on it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Adjacency {
    /// Output port.
    pub port: PortId,
    /// Neighbour on that port.
    pub next_hop: NextHop,
}

/// An SR policy (segment list and source) by number.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolicyId(pub u32);

/// What a route does with a packet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RouteAction {
    /// Send to a neighbour.
    Forward(Adjacency),
    /// Encapsulate with an SR policy (H.Encaps) and forward the result.
    Encap(PolicyId),
    /// Addressed to this router.
    Local,
    /// Drop.
    Blackhole,
}

/// The routes of one VRF, IPv4 and IPv6. Immutable; build it with a
/// [`VrfTableBuilder`].
///
/// The LPM tables hold a 32-bit index into the VRF's distinct actions (a FIB
/// has far fewer adjacencies than routes), which keeps each LPM entry within
/// one cache line; the action table itself stays in cache.
#[derive(Clone, Debug, Default)]
pub struct VrfTable {
    v4: Lpm4<u32>,
    v6: Lpm6<u32>,
    actions: Box<[RouteAction]>,
}

impl VrfTable {
    /// An empty table (about 2 KiB).
    pub fn new() -> Self {
        Self::default()
    }

    /// The action of the longest IPv4 prefix containing `dst`.
    #[inline]
    pub fn lookup_v4(&self, dst: Ipv4Addr) -> Option<RouteAction> {
        self.v4.lookup(dst).map(|&i| self.actions[i as usize])
    }

    /// The action of the longest IPv6 prefix containing `dst`.
    #[inline]
    pub fn lookup_v6(&self, dst: Ipv6Addr) -> Option<RouteAction> {
        self.v6.lookup(dst).map(|&i| self.actions[i as usize])
    }

    /// [`lookup_v4`](Self::lookup_v4) for a batch: `out[i]` is the action for
    /// `dsts[i]`. Faster per packet than one lookup at a time when the table
    /// is large (see [`Lpm::lookup_batch`]).
    #[inline]
    pub fn lookup_v4_batch(&self, dsts: &[Ipv4Addr], out: &mut [Option<RouteAction>]) {
        self.batch(&self.v4, dsts, out)
    }

    /// [`lookup_v6`](Self::lookup_v6) for a batch.
    #[inline]
    pub fn lookup_v6_batch(&self, dsts: &[Ipv6Addr], out: &mut [Option<RouteAction>]) {
        self.batch(&self.v6, dsts, out)
    }

    #[inline(always)]
    fn batch<A: Address>(&self, lpm: &Lpm<A, u32>, dsts: &[A], out: &mut [Option<RouteAction>]) {
        const GROUP: usize = 32;
        let mut found = [None; GROUP];
        for (dsts, out) in dsts.chunks(GROUP).zip(out.chunks_mut(GROUP)) {
            lpm.lookup_batch(dsts, &mut found);
            for (o, f) in out.iter_mut().zip(&found) {
                *o = f.map(|&i| self.actions[i as usize]);
            }
        }
    }

    /// IPv4 routes in (prefix, length) order.
    pub fn routes_v4(&self) -> impl ExactSizeIterator<Item = (Ipv4Addr, u8, RouteAction)> + '_ {
        self.v4
            .iter()
            .map(|(p, l, &i)| (p, l, self.actions[i as usize]))
    }

    /// IPv6 routes in (prefix, length) order.
    pub fn routes_v6(&self) -> impl ExactSizeIterator<Item = (Ipv6Addr, u8, RouteAction)> + '_ {
        self.v6
            .iter()
            .map(|(p, l, &i)| (p, l, self.actions[i as usize]))
    }

    /// Number of IPv4 plus IPv6 routes.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether the VRF has no route.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A builder holding this table's routes, to change and rebuild.
    pub fn to_builder(&self) -> VrfTableBuilder {
        let mut b = VrfTableBuilder::new();
        for (p, l, a) in self.routes_v4() {
            b.v4.insert(p, l, a)
                .expect("a built table holds valid prefixes");
        }
        for (p, l, a) in self.routes_v6() {
            b.v6.insert(p, l, a)
                .expect("a built table holds valid prefixes");
        }
        b
    }

    /// Heap memory held by the table, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes() + std::mem::size_of_val(&*self.actions)
    }
}

/// A hashable stand-in for a [`RouteAction`], to find the distinct ones.
fn action_key(a: &RouteAction) -> (u8, u16, u8, [u8; 16], u32) {
    let hop = |h: NextHop| match h {
        NextHop::V4(a) => (4, a.to_ipv6_mapped().octets()),
        NextHop::V6(a) => (6, a.octets()),
        NextHop::Direct => (0, [0; 16]),
    };
    match *a {
        RouteAction::Forward(adj) => {
            let (fam, addr) = hop(adj.next_hop);
            (0, adj.port.0, fam, addr, 0)
        }
        RouteAction::Encap(p) => (1, 0, 0, [0; 16], p.0),
        RouteAction::Local => (2, 0, 0, [0; 16], 0),
        RouteAction::Blackhole => (3, 0, 0, [0; 16], 0),
    }
}

/// Builds a [`VrfTable`]. Inserting an existing prefix replaces its action.
#[derive(Clone, Debug, Default)]
pub struct VrfTableBuilder {
    v4: Lpm4Builder<RouteAction>,
    v6: Lpm6Builder<RouteAction>,
}

impl VrfTableBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an IPv4 route; returns the action it replaced.
    pub fn insert_v4(
        &mut self,
        prefix: Ipv4Addr,
        len: u8,
        action: RouteAction,
    ) -> Result<Option<RouteAction>, FibError> {
        self.v4.insert(prefix, len, action)
    }

    /// Adds or replaces an IPv6 route; returns the action it replaced.
    pub fn insert_v6(
        &mut self,
        prefix: Ipv6Addr,
        len: u8,
        action: RouteAction,
    ) -> Result<Option<RouteAction>, FibError> {
        self.v6.insert(prefix, len, action)
    }

    /// Removes an IPv4 route; returns its action.
    pub fn remove_v4(
        &mut self,
        prefix: Ipv4Addr,
        len: u8,
    ) -> Result<Option<RouteAction>, FibError> {
        self.v4.remove(prefix, len)
    }

    /// Removes an IPv6 route; returns its action.
    pub fn remove_v6(
        &mut self,
        prefix: Ipv6Addr,
        len: u8,
    ) -> Result<Option<RouteAction>, FibError> {
        self.v6.remove(prefix, len)
    }

    /// The IPv4 routes so far.
    pub fn v4(&self) -> &Lpm4Builder<RouteAction> {
        &self.v4
    }

    /// The IPv6 routes so far.
    pub fn v6(&self) -> &Lpm6Builder<RouteAction> {
        &self.v6
    }

    /// Freezes the routes into a table.
    pub fn build(&self) -> VrfTable {
        let mut index = std::collections::HashMap::new();
        let mut actions = Vec::new();
        let mut intern = |a: &RouteAction| {
            *index.entry(action_key(a)).or_insert_with(|| {
                actions.push(*a);
                (actions.len() - 1) as u32
            })
        };
        let v4 = self.v4.build_map(&mut intern);
        let v6 = self.v6.build_map(&mut intern);
        VrfTable {
            v4,
            v6,
            actions: actions.into_boxed_slice(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: RouteAction = RouteAction::Forward(Adjacency {
        port: PortId(1),
        next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)),
    });
    const B: RouteAction = RouteAction::Encap(PolicyId(7));

    #[test]
    fn prefix_length_errors_name_the_prefix() {
        let mut b = Lpm4Builder::new();
        let err = b.insert(Ipv4Addr::new(10, 0, 0, 0), 33, 1).unwrap_err();
        assert_eq!(
            err,
            FibError::PrefixLength {
                prefix: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)),
                len: 33,
                max: 32
            }
        );
        assert_eq!(
            err.to_string(),
            "prefix 10.0.0.0/33: prefix length must be at most 32"
        );
        assert!(b.remove(Ipv4Addr::UNSPECIFIED, 40).is_err());
        let mut b6 = Lpm6Builder::new();
        let err = b6
            .insert("2001:db8::".parse().unwrap(), 129, ())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "prefix 2001:db8::/129: prefix length must be at most 128"
        );
        assert!(b6.insert(Ipv6Addr::UNSPECIFIED, 128, ()).is_ok());
        assert!(b.is_empty() && b6.len() == 1);
    }

    #[test]
    fn insert_normalises_host_bits_and_replaces() {
        let mut b = Lpm4Builder::new();
        assert_eq!(b.insert(Ipv4Addr::new(10, 1, 2, 3), 8, 1).unwrap(), None);
        assert_eq!(b.insert(Ipv4Addr::new(10, 0, 0, 0), 8, 2).unwrap(), Some(1));
        assert_eq!(b.len(), 1);
        let t = b.build();
        assert_eq!(t.exact(Ipv4Addr::new(10, 200, 0, 0), 8), Some(&2));
        assert_eq!(t.exact(Ipv4Addr::new(10, 0, 0, 0), 9), None);
        assert_eq!(t.exact(Ipv4Addr::new(10, 0, 0, 0), 99), None);
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            vec![(Ipv4Addr::new(10, 0, 0, 0), 8, &2)]
        );
        assert_eq!(b.remove(Ipv4Addr::new(10, 9, 9, 9), 8).unwrap(), Some(2));
        assert!(b.build().is_empty());
    }

    #[test]
    fn empty_and_default_route_tables() {
        let t = Lpm4::<u8>::new();
        assert_eq!(t.lookup(Ipv4Addr::new(1, 2, 3, 4)), None);
        assert!(t.heap_bytes() <= 2048, "{}", t.heap_bytes());
        let t6 = Lpm6::<u8>::new();
        assert_eq!(t6.lookup(Ipv6Addr::LOCALHOST), None);

        let mut b = Lpm6Builder::new();
        b.insert(Ipv6Addr::UNSPECIFIED, 0, 0u8).unwrap();
        b.insert(Ipv6Addr::LOCALHOST, 128, 1).unwrap();
        let t6 = b.build();
        assert_eq!(t6.lookup_with_len(Ipv6Addr::LOCALHOST), Some((&1, 128)));
        assert_eq!(t6.lookup_with_len(0u128), Some((&0, 0)));
        assert_eq!(t6.lookup_with_len(u128::MAX), Some((&0, 0)));
        assert_eq!(t6.lookup(2u128), Some(&0));
    }

    #[test]
    fn vrf_table_routes_both_families() {
        let mut b = VrfTableBuilder::new();
        b.insert_v4(Ipv4Addr::new(0, 0, 0, 0), 0, RouteAction::Blackhole)
            .unwrap();
        b.insert_v4(Ipv4Addr::new(10, 0, 0, 0), 8, A).unwrap();
        b.insert_v6("2001:db8::".parse().unwrap(), 32, B).unwrap();
        b.insert_v6("2001:db8::1".parse().unwrap(), 128, RouteAction::Local)
            .unwrap();
        assert!(b.insert_v6(Ipv6Addr::UNSPECIFIED, 200, B).is_err());
        let t = b.build();
        assert_eq!(t.lookup_v4(Ipv4Addr::new(10, 1, 1, 1)), Some(A));
        assert_eq!(
            t.lookup_v4(Ipv4Addr::new(11, 1, 1, 1)),
            Some(RouteAction::Blackhole)
        );
        assert_eq!(t.lookup_v6("2001:db8::2".parse().unwrap()), Some(B));
        assert_eq!(
            t.lookup_v6("2001:db8::1".parse().unwrap()),
            Some(RouteAction::Local)
        );
        assert_eq!(t.lookup_v6("2001:db9::1".parse().unwrap()), None);

        let mut b2 = t.to_builder();
        assert_eq!(
            b2.remove_v4(Ipv4Addr::new(10, 0, 0, 0), 8).unwrap(),
            Some(A)
        );
        let t2 = b2.build();
        assert_eq!(
            t2.lookup_v4(Ipv4Addr::new(10, 1, 1, 1)),
            Some(RouteAction::Blackhole)
        );
        assert_eq!(t.lookup_v4(Ipv4Addr::new(10, 1, 1, 1)), Some(A));
        assert!(VrfTable::new().heap_bytes() < 4096);
    }
}
