//! The whole forwarding state the workers read: every VRF's routes, the
//! local SID table and the SR policies, as one immutable [`Fib`] snapshot.
//!
//! A [`FibBuilder`] collects the configuration and `build` checks it as a
//! whole — every policy, VRF and next hop a route or SID refers to exists and
//! has the right address family — so the data path never meets a dangling
//! reference. A rejected build changes nothing: the previous snapshot stays
//! published.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::{
    Adjacency, FibError, LocalSidTable, LocalSidTableBuilder, NextHop, PolicyId, RouteAction,
    VrfId, VrfTable, VrfTableBuilder,
};
use crate::behavior::{EncapPolicy, SidBehavior, UNDERLAY};

/// Highest VRF number plus one. VRF tables are indexed directly by number,
/// so a snapshot holds `max id + 1` tables (an empty one costs about 2 KiB).
pub const MAX_VRFS: u32 = 4096;

/// Everything a worker needs to process a packet. Immutable; publish it with
/// [`super::Published`] and read it once per batch.
#[derive(Debug)]
pub struct Fib {
    vrfs: Vec<VrfTable>,
    local_sids: LocalSidTable<SidBehavior>,
    policies: Vec<EncapPolicy>,
    /// Per policy, the underlay adjacency toward its first SID, resolved when
    /// the snapshot is built (the snapshot is immutable, so the answer cannot
    /// change under it): H.Encaps then needs no second route lookup. `None`
    /// when the first SID is local or not routed to an adjacency; the packet
    /// is then routed normally.
    policy_egress: Vec<Option<Adjacency>>,
    stamp: Option<StampReflection>,
    /// Source addresses of the ICMP errors the router sends, per VRF.
    icmp_sources: Vec<(VrfId, std::net::IpAddr)>,
    tcp_mss_clamp: Option<crate::behavior::MssClamp>,
}

/// Source of ICMPv4 errors in a VRF with no configured IPv4 source: the
/// IPv4 dummy address `192.0.0.8` (RFC 7600 §4.8), reserved for exactly
/// this (see docs/decisions/0006-icmp-errors.md).
pub const ICMP_V4_DUMMY_SOURCE: Ipv4Addr = Ipv4Addr::new(192, 0, 0, 8);

/// The inline STAMP Session-Reflector: which UDP port it answers and how.
#[derive(Debug, Clone)]
pub struct StampReflection {
    /// UDP destination port of the test packets (862 by default).
    pub port: u16,
    /// Sessions, modes, keys, return paths.
    pub config: stamp::reflector::ReflectorConfig,
}

impl Fib {
    /// A snapshot with an empty underlay VRF and nothing else.
    pub fn empty() -> Fib {
        FibBuilder::new()
            .build()
            .expect("an empty configuration is valid")
    }

    /// The behaviour of the local SID (exact /128 or SID prefix) matching
    /// `addr`, if any.
    #[inline]
    pub fn local_sid(&self, addr: &Ipv6Addr) -> Option<&SidBehavior> {
        self.local_sids.lookup(addr).map(|(behavior, _)| behavior)
    }

    /// The routing table of VRF `id`.
    #[inline]
    pub fn vrf(&self, id: VrfId) -> Option<&VrfTable> {
        self.vrfs.get(id as usize)
    }

    /// SR policy `id`.
    #[inline]
    pub fn policy(&self, id: PolicyId) -> Option<&EncapPolicy> {
        self.policies.get(id.0 as usize)
    }

    /// SR policy `id` and the underlay adjacency toward its first SID, if
    /// that was resolved when the snapshot was built.
    #[inline]
    pub fn policy_with_egress(&self, id: PolicyId) -> Option<(&EncapPolicy, Option<Adjacency>)> {
        let i = id.0 as usize;
        Some((
            self.policies.get(i)?,
            self.policy_egress.get(i).copied().flatten(),
        ))
    }

    /// The local SID table.
    pub fn local_sids(&self) -> &LocalSidTable<SidBehavior> {
        &self.local_sids
    }

    /// Source of the ICMPv4 errors the router sends about a packet of
    /// `vrf`: the address set for it, else [`ICMP_V4_DUMMY_SOURCE`].
    #[inline]
    pub fn icmp_source_v4(&self, vrf: VrfId) -> Ipv4Addr {
        self.icmp_sources
            .iter()
            .find_map(|&(v, a)| match a {
                std::net::IpAddr::V4(a) if v == vrf => Some(a),
                _ => None,
            })
            .unwrap_or(ICMP_V4_DUMMY_SOURCE)
    }

    /// Source of the ICMPv6 errors the router sends about a packet of
    /// `vrf`: the address set for `vrf`, else the one set for the underlay
    /// (the router's own address), else none (no ICMPv6 error is sent).
    #[inline]
    pub fn icmp_source_v6(&self, vrf: VrfId) -> Option<Ipv6Addr> {
        let find = |vrf: VrfId| {
            self.icmp_sources.iter().find_map(|&(v, a)| match a {
                std::net::IpAddr::V6(a) if v == vrf => Some(a),
                _ => None,
            })
        };
        find(vrf).or_else(|| find(UNDERLAY))
    }

    /// TCP MSS clamping of SYNs entering and leaving the overlay, if on.
    #[inline]
    pub fn tcp_mss_clamp(&self) -> Option<crate::behavior::MssClamp> {
        self.tcp_mss_clamp
    }

    /// The STAMP reflector, if one is configured.
    #[inline]
    pub fn stamp_reflector(&self) -> Option<&StampReflection> {
        self.stamp.as_ref()
    }
}

/// Collects routes, SIDs and policies; [`FibBuilder::build`] validates them
/// together and produces a [`Fib`].
#[derive(Debug, Clone)]
pub struct FibBuilder {
    vrfs: BTreeMap<VrfId, VrfTableBuilder>,
    sids: LocalSidTableBuilder<SidBehavior>,
    policies: Vec<EncapPolicy>,
    stamp: Option<StampReflection>,
    icmp_sources: Vec<(VrfId, std::net::IpAddr)>,
    tcp_mss_clamp: Option<crate::behavior::MssClamp>,
}

impl Default for FibBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn family_ok(next_hop: NextHop, v6: bool) -> bool {
    matches!(
        (next_hop, v6),
        (NextHop::Direct, _) | (NextHop::V6(_), true) | (NextHop::V4(_), false)
    )
}

impl FibBuilder {
    /// A configuration with only the (empty) underlay VRF.
    pub fn new() -> FibBuilder {
        let mut vrfs = BTreeMap::new();
        vrfs.insert(UNDERLAY, VrfTableBuilder::new());
        FibBuilder {
            vrfs,
            sids: LocalSidTableBuilder::new(),
            policies: Vec::new(),
            stamp: None,
            icmp_sources: Vec::new(),
            tcp_mss_clamp: None,
        }
    }

    /// Clamps the MSS of TCP SYNs entering and leaving the overlay
    /// (`None`: off, the default).
    pub fn set_tcp_mss_clamp(&mut self, clamp: Option<crate::behavior::MssClamp>) -> &mut Self {
        self.tcp_mss_clamp = clamp;
        self
    }

    /// The source address of the ICMP errors (Time Exceeded, Packet Too
    /// Big, ...) the router sends about packets of `vrf`, for the family of
    /// `addr` (replaces an earlier one of that family). An IPv6 source set
    /// for the underlay serves every VRF without one of its own.
    pub fn set_icmp_source(&mut self, vrf: VrfId, addr: std::net::IpAddr) -> &mut Self {
        self.icmp_sources
            .retain(|&(v, a)| !(v == vrf && a.is_ipv4() == addr.is_ipv4()));
        self.icmp_sources.push((vrf, addr));
        self
    }

    /// Answers STAMP test packets for the router (to a local SID or a
    /// local address, UDP destination `port`) with this reflector.
    pub fn set_stamp_reflector(&mut self, reflection: StampReflection) -> &mut Self {
        self.stamp = Some(reflection);
        self
    }

    /// Declares VRF `id` (declaring it twice is harmless).
    pub fn add_vrf(&mut self, id: VrfId) -> Result<&mut VrfTableBuilder, FibError> {
        if id >= MAX_VRFS {
            return Err(FibError::VrfOutOfRange {
                vrf: id,
                max: MAX_VRFS - 1,
            });
        }
        Ok(self.vrfs.entry(id).or_default())
    }

    /// Adds an SR policy and returns the id routes use to refer to it.
    pub fn add_policy(&mut self, policy: EncapPolicy) -> PolicyId {
        self.policies.push(policy);
        PolicyId((self.policies.len() - 1) as u32)
    }

    /// Adds (or replaces) an IPv4 route in VRF `vrf`, declaring the VRF.
    pub fn add_route_v4(
        &mut self,
        vrf: VrfId,
        prefix: Ipv4Addr,
        len: u8,
        action: RouteAction,
    ) -> Result<(), FibError> {
        self.add_vrf(vrf)?.insert_v4(prefix, len, action).map(drop)
    }

    /// Adds (or replaces) an IPv6 route in VRF `vrf`, declaring the VRF.
    pub fn add_route_v6(
        &mut self,
        vrf: VrfId,
        prefix: Ipv6Addr,
        len: u8,
        action: RouteAction,
    ) -> Result<(), FibError> {
        self.add_vrf(vrf)?.insert_v6(prefix, len, action).map(drop)
    }

    /// Adds a local SID (/128).
    pub fn add_sid(&mut self, sid: Ipv6Addr, behavior: SidBehavior) -> Result<(), FibError> {
        self.sids.add_sid(sid, behavior)
    }

    /// Adds a local SID prefix: every address inside it runs `behavior`.
    pub fn add_sid_prefix(
        &mut self,
        prefix: Ipv6Addr,
        len: u8,
        behavior: SidBehavior,
    ) -> Result<(), FibError> {
        self.sids.add_prefix(prefix, len, behavior)
    }

    fn check_action(
        &self,
        vrf: VrfId,
        prefix: impl Fn() -> String,
        action: &RouteAction,
        v6: bool,
    ) -> Result<(), FibError> {
        match *action {
            RouteAction::Encap(id) if id.0 as usize >= self.policies.len() => {
                Err(FibError::UnknownPolicy {
                    policy: id.0,
                    route: format!("vrf {vrf} {}", prefix()),
                })
            }
            RouteAction::Forward(Adjacency { next_hop, .. }) if !family_ok(next_hop, v6) => {
                Err(FibError::NextHopFamily {
                    what: format!("route vrf {vrf} {}", prefix()),
                    next_hop,
                })
            }
            _ => Ok(()),
        }
    }

    /// `what` describes the SID for an error message; it is only called
    /// when there is one (a snapshot may hold a million entries).
    fn check_sid(&self, what: impl Fn() -> String, behavior: &SidBehavior) -> Result<(), FibError> {
        let (vrf, adjacency) = match *behavior {
            SidBehavior::End => (None, None),
            SidBehavior::EndX(adj) | SidBehavior::EndDX6(adj) => (None, Some((adj, true))),
            SidBehavior::EndDX4(adj) => (None, Some((adj, false))),
            SidBehavior::EndDT4 { vrf }
            | SidBehavior::EndDT6 { vrf }
            | SidBehavior::EndDT46 { vrf } => (Some(vrf), None),
        };
        if let Some(vrf) = vrf {
            if !self.vrfs.contains_key(&vrf) {
                return Err(FibError::UnknownVrf { vrf, what: what() });
            }
        }
        if let Some((adj, v6)) = adjacency {
            if !family_ok(adj.next_hop, v6) {
                return Err(FibError::NextHopFamily {
                    what: what(),
                    next_hop: adj.next_hop,
                });
            }
        }
        Ok(())
    }

    /// Checks the configuration as a whole and freezes it into a snapshot.
    pub fn build(&self) -> Result<Fib, FibError> {
        for (&vrf, table) in &self.vrfs {
            for (prefix, len, action) in table.v4().iter() {
                self.check_action(vrf, || format!("{prefix}/{len}"), action, false)?;
            }
            for (prefix, len, action) in table.v6().iter() {
                self.check_action(vrf, || format!("{prefix}/{len}"), action, true)?;
            }
        }
        let sids = self.sids.build();
        for (sid, behavior) in sids.sids() {
            self.check_sid(|| format!("SID {sid} ({})", behavior.name()), behavior)?;
        }
        for (prefix, len, behavior) in sids.prefixes().iter() {
            self.check_sid(
                || format!("SID prefix {prefix}/{len} ({})", behavior.name()),
                behavior,
            )?;
        }
        let max = self.vrfs.keys().next_back().copied().unwrap_or(UNDERLAY);
        let mut vrfs = vec![VrfTable::new(); max as usize + 1];
        for (&id, table) in &self.vrfs {
            vrfs[id as usize] = table.build();
        }
        let policy_egress = self
            .policies
            .iter()
            .map(|policy| {
                let first = policy.first_segment();
                if sids.lookup(&first).is_some() {
                    return None;
                }
                match vrfs[UNDERLAY as usize].lookup_v6(first) {
                    Some(RouteAction::Forward(adj)) => Some(adj),
                    _ => None,
                }
            })
            .collect();
        Ok(Fib {
            vrfs,
            local_sids: sids,
            policies: self.policies.clone(),
            policy_egress,
            stamp: self.stamp.clone(),
            icmp_sources: self.icmp_sources.clone(),
            tcp_mss_clamp: self.tcp_mss_clamp,
        })
    }
}
