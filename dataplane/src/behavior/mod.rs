//! SRv6 behaviours (RFC 8986) and the per-packet routing decision.
//!
//! Like Linux's `seg6_local.c`, every local SID behaviour is one variant of
//! [`SidBehavior`] carrying its parameters, handled by one function,
//! dispatched from one `match`; parameters are validated when the snapshot
//! is built, never per packet. Every outcome is an explicit [`Verdict`]:
//! forward (egress port and next hop), local, pass to the kernel, or drop
//! with a named [`DropReason`].
//!
//! Entry point: [`process`]. A packet arriving in the underlay (VRF 0, the
//! WAN side) whose destination is a local SID runs that SID's behaviour;
//! anything else is routed in the ingress VRF, where a route may forward it,
//! encapsulate it into an SR policy (H.Encaps / H.Encaps.Red) or deliver it
//! locally.
//!
//! Where this differs from Linux seg6 (each difference is tested):
//! * End / End.X with Segments Left 0, or with no SRH at all: Linux drops;
//!   we return [`Verdict::Local`] — RFC 8986 §4.1 S03 says to process the
//!   upper-layer header, which is how STAMP test packets addressed to a SID
//!   reach the reflector.
//! * The Hop Limit is checked and decremented when a packet is forwarded
//!   (as Linux's `ip6_forward` does), not before the SRH is processed as
//!   RFC 8986 §4.1 S05 writes it. Same bytes as Linux; the RFC would
//!   decrement once more when the next SID is also local to this router, or
//!   decrement the inner Hop Limit before an underlay route steers the packet
//!   into a policy.
//! * The SRH HMAC TLV is not verified (RFC 8754 §2.1.2.1 leaves it to local
//!   policy; Linux verifies it when present and drops unknown key ids).
//! * A decapsulating SID drops a packet whose SRH is invalid (Linux treats
//!   an invalid SRH as absent and decapsulates).
//! * ICMP errors (Time Exceeded, Packet Too Big / Fragmentation Needed,
//!   Parameter Problem for Segments Left beyond Last Entry, Segments Left
//!   not 0 at a decapsulating SID, an unknown Routing header with segments
//!   left) are not sent
//!   from here: a verdict that calls for one is a drop with a reason
//!   counter and [`Packet::icmp`] set; the engine builds and routes the
//!   error ([`icmp_error`], rate limited). An IPv4 packet entering a policy
//!   with TTL ≤ 1 is answered with Time Exceeded (Linux seg6 encapsulates
//!   it); its TTL is not decremented by the encapsulation, as in Linux
//!   (docs/decisions/0007-ingress-ttl.md).

mod encap;
pub mod icmp;
pub mod local;
pub mod mss;
mod packet;

pub use encap::{
    h_encaps, EncapMode, EncapPolicy, FlowLabelMode, PolicyError, MAX_ENCAP_LEN, MAX_SEGMENTS,
};
pub use icmp::{IcmpKind, Suppressed};
pub use mss::MssClamp;
pub use packet::Packet;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::fib::{Adjacency, Fib, NextHop, PortId, RouteAction, VrfId};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::ipv6ext::{self, ExtChain, RoutingHeader};
use crate::wire::srh::Srh;
use crate::wire::{Error as WireError, IpProtocol};

/// The underlay VRF: WAN ports, SIDs and the routes toward other SRv6 nodes.
pub const UNDERLAY: VrfId = 0;

/// How many local SIDs one packet may traverse on this router (e.g. End
/// followed by End.DT6 of the same node) before it is dropped as a loop.
pub const MAX_LOCAL_SID_PASSES: u8 = 4;

/// A local SID's behaviour and its parameters (RFC 8986 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SidBehavior {
    /// End: advance to the next segment and route it in the underlay.
    End,
    /// End.X: advance to the next segment and send it to a fixed adjacency.
    EndX(Adjacency),
    /// End.DT4: decapsulate the inner IPv4 packet, route it in `vrf`.
    EndDT4 { vrf: VrfId },
    /// End.DT6: decapsulate the inner IPv6 packet, route it in `vrf`.
    EndDT6 { vrf: VrfId },
    /// End.DT46: decapsulate an inner IPv4 or IPv6 packet, route it in `vrf`.
    EndDT46 { vrf: VrfId },
    /// End.DX4: decapsulate the inner IPv4 packet, send it to the adjacency.
    EndDX4(Adjacency),
    /// End.DX6: decapsulate the inner IPv6 packet, send it to the adjacency.
    EndDX6(Adjacency),
}

impl SidBehavior {
    /// The RFC 8986 name (`End.DT6`), as iproute2 prints it.
    pub const fn name(&self) -> &'static str {
        match self {
            SidBehavior::End => "End",
            SidBehavior::EndX(_) => "End.X",
            SidBehavior::EndDT4 { .. } => "End.DT4",
            SidBehavior::EndDT6 { .. } => "End.DT6",
            SidBehavior::EndDT46 { .. } => "End.DT46",
            SidBehavior::EndDX4(_) => "End.DX4",
            SidBehavior::EndDX6(_) => "End.DX6",
        }
    }
}

/// What [`process`] did to a packet, for per-behaviour counters: one of
/// the SRv6 behaviours, or plain IP forwarding by a route (no SRv6 behaviour
/// involved). [`Behavior::name`] is the counter name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Behavior {
    /// H.Encaps (RFC 8986 §5.1): encapsulated with an SRH.
    HEncaps,
    /// H.Encaps.Red (§5.2): encapsulated, first SID only in the outer
    /// destination.
    HEncapsRed,
    /// End (§4.1).
    End,
    /// End.X (§4.2).
    EndX,
    /// End.DT4 (§4.6).
    EndDT4,
    /// End.DT6 (§4.4).
    EndDT6,
    /// End.DT46 (§4.8).
    EndDT46,
    /// End.DX4 (§4.5).
    EndDX4,
    /// End.DX6 (§4.3).
    EndDX6,
    /// An IPv4 packet forwarded by a route of its ingress VRF, unchanged but
    /// for the TTL.
    Ipv4Forward,
    /// An IPv6 packet forwarded by a route of its ingress VRF, unchanged but
    /// for the Hop Limit.
    Ipv6Forward,
    /// Delivered to srv6d itself (`Verdict::Local`): a local route, or an
    /// upper-layer packet for a SID.
    Local,
}

impl Behavior {
    /// How many there are.
    pub const COUNT: usize = 12;

    /// Every behaviour, in [`Behavior::index`] order.
    pub const ALL: [Behavior; Behavior::COUNT] = [
        Behavior::HEncaps,
        Behavior::HEncapsRed,
        Behavior::End,
        Behavior::EndX,
        Behavior::EndDT4,
        Behavior::EndDT6,
        Behavior::EndDT46,
        Behavior::EndDX4,
        Behavior::EndDX6,
        Behavior::Ipv4Forward,
        Behavior::Ipv6Forward,
        Behavior::Local,
    ];

    /// A short, stable, snake_case counter name.
    pub const fn name(self) -> &'static str {
        match self {
            Behavior::HEncaps => "h_encaps",
            Behavior::HEncapsRed => "h_encaps_red",
            Behavior::End => "end",
            Behavior::EndX => "end_x",
            Behavior::EndDT4 => "end_dt4",
            Behavior::EndDT6 => "end_dt6",
            Behavior::EndDT46 => "end_dt46",
            Behavior::EndDX4 => "end_dx4",
            Behavior::EndDX6 => "end_dx6",
            Behavior::Ipv4Forward => "ipv4_forward",
            Behavior::Ipv6Forward => "ipv6_forward",
            Behavior::Local => "local",
        }
    }

    /// A dense index in `0..COUNT`.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The counter of a local SID's behaviour.
    pub const fn of_sid(sid: &SidBehavior) -> Behavior {
        match sid {
            SidBehavior::End => Behavior::End,
            SidBehavior::EndX(_) => Behavior::EndX,
            SidBehavior::EndDT4 { .. } => Behavior::EndDT4,
            SidBehavior::EndDT6 { .. } => Behavior::EndDT6,
            SidBehavior::EndDT46 { .. } => Behavior::EndDT46,
            SidBehavior::EndDX4(_) => Behavior::EndDX4,
            SidBehavior::EndDX6(_) => Behavior::EndDX6,
        }
    }
}

/// The set of [`Behavior`]s that ran on one packet (a packet may run
/// several: End then End.DT6 of the same router, or End.DT4 then H.Encaps
/// into another policy). Each counts once per packet, even if it ran twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BehaviorSet(u16);

impl BehaviorSet {
    /// No behaviour (a packet dropped before any ran, e.g. malformed).
    pub const EMPTY: BehaviorSet = BehaviorSet(0);

    /// This set with `b` added.
    #[inline]
    #[must_use]
    pub const fn with(self, b: Behavior) -> BehaviorSet {
        BehaviorSet(self.0 | 1 << b.index())
    }

    /// True if `b` is in the set.
    #[inline]
    pub const fn contains(self, b: Behavior) -> bool {
        self.0 & (1 << b.index()) != 0
    }

    /// True if no behaviour is in the set.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The dense indices ([`Behavior::index`]) of the members, ascending;
    /// allocation-free, for counter arrays.
    #[inline]
    pub fn indices(self) -> impl Iterator<Item = usize> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(i)
        })
    }
}

/// What to do with a packet once it has been processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the packet (as it now is in the buffer) out of `port`, to the
    /// neighbour `next_hop` (whose link-layer address the engine resolves).
    Forward { port: PortId, next_hop: IpAddr },
    /// For srv6d itself: an upper-layer packet addressed to a local SID or a
    /// local address (a STAMP test packet, an echo request to a SID).
    Local,
    /// Give the packet to the kernel's stack unchanged.
    PassToKernel,
    /// Drop the packet and count it under the reason.
    Drop(DropReason),
}

/// Why a packet was dropped. [`DropReason::name`] is the counter name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// A header failed validation (the wire error says which and how).
    Malformed(WireError),
    /// No route for the destination in the VRF.
    NoRoute,
    /// The route says to discard.
    Blackhole,
    /// IPv6 Hop Limit would reach 0 on forwarding.
    HopLimitExceeded,
    /// IPv4 TTL would reach 0 on forwarding.
    TtlExceeded,
    /// Not enough headroom in the buffer to prepend the encapsulation.
    NoHeadroom,
    /// The encapsulated packet would exceed the IPv6 Payload Length limit.
    PacketTooBig,
    /// End.DT* / End.DX* received a packet whose SRH still has segments left
    /// (RFC 8986 §4.4 S02: the SID must be the last one).
    SrhSegmentsLeftNonZero,
    /// The decapsulating behaviour does not handle the inner protocol
    /// (e.g. IPv4 inside a packet for an End.DT6 SID).
    InnerProtocolMismatch,
    /// The outer packet is a fragment; decapsulation would need reassembly.
    OuterFragmented,
    /// More than [`MAX_LOCAL_SID_PASSES`] local SIDs or encapsulations in a
    /// row (a policy steering into itself or into one of our own SIDs).
    LocalSidLoop,
    /// A Routing header of a type other than 4 with Segments Left not 0
    /// (RFC 8200 §4.4).
    UnknownRoutingHeader,
    /// An IPv4 next hop for an IPv6 packet or the other way round.
    NextHopFamilyMismatch,
    /// The snapshot names a VRF or policy it does not contain (a bug in the
    /// snapshot builder: it validates this).
    InconsistentSnapshot,
    /// A UDP datagram for the router with a zero or wrong checksum (RFC
    /// 8200 §8.1).
    UdpBadChecksum,
    /// The packet (as it would leave, encapsulation included) is longer
    /// than the egress port's MTU; an ICMP Packet Too Big / Fragmentation
    /// Needed goes back to its source (not for IPv4 without DF).
    MtuExceeded,
}

impl DropReason {
    /// The number of distinct reasons: counters can be an array of this size
    /// indexed by [`DropReason::index`].
    pub const COUNT: usize = WIRE_ERRORS.len() + 15;

    /// A short, stable, snake_case name for counters and logs.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::Malformed(e) => e.name(),
            DropReason::NoRoute => "no_route",
            DropReason::Blackhole => "blackhole",
            DropReason::HopLimitExceeded => "hop_limit_exceeded",
            DropReason::TtlExceeded => "ttl_exceeded",
            DropReason::NoHeadroom => "no_headroom",
            DropReason::PacketTooBig => "packet_too_big",
            DropReason::SrhSegmentsLeftNonZero => "srh_segments_left_nonzero",
            DropReason::InnerProtocolMismatch => "inner_protocol_mismatch",
            DropReason::OuterFragmented => "outer_fragmented",
            DropReason::LocalSidLoop => "local_sid_loop",
            DropReason::UnknownRoutingHeader => "unknown_routing_header",
            DropReason::NextHopFamilyMismatch => "next_hop_family_mismatch",
            DropReason::InconsistentSnapshot => "inconsistent_snapshot",
            DropReason::UdpBadChecksum => "udp_bad_checksum",
            DropReason::MtuExceeded => "mtu_exceeded",
        }
    }

    /// A dense index in `0..COUNT`, for per-reason counter arrays.
    pub fn index(self) -> usize {
        let w = WIRE_ERRORS.len();
        match self {
            DropReason::Malformed(e) => wire_error_index(e),
            DropReason::NoRoute => w,
            DropReason::Blackhole => w + 1,
            DropReason::HopLimitExceeded => w + 2,
            DropReason::TtlExceeded => w + 3,
            DropReason::NoHeadroom => w + 4,
            DropReason::PacketTooBig => w + 5,
            DropReason::SrhSegmentsLeftNonZero => w + 6,
            DropReason::InnerProtocolMismatch => w + 7,
            DropReason::OuterFragmented => w + 8,
            DropReason::LocalSidLoop => w + 9,
            DropReason::NextHopFamilyMismatch => w + 10,
            DropReason::InconsistentSnapshot => w + 11,
            DropReason::UnknownRoutingHeader => w + 12,
            DropReason::UdpBadChecksum => w + 13,
            DropReason::MtuExceeded => w + 14,
        }
    }

    /// Every reason, in [`DropReason::index`] order.
    pub fn all() -> impl Iterator<Item = DropReason> {
        WIRE_ERRORS
            .iter()
            .map(|e| DropReason::Malformed(*e))
            .chain([
                DropReason::NoRoute,
                DropReason::Blackhole,
                DropReason::HopLimitExceeded,
                DropReason::TtlExceeded,
                DropReason::NoHeadroom,
                DropReason::PacketTooBig,
                DropReason::SrhSegmentsLeftNonZero,
                DropReason::InnerProtocolMismatch,
                DropReason::OuterFragmented,
                DropReason::LocalSidLoop,
                DropReason::NextHopFamilyMismatch,
                DropReason::InconsistentSnapshot,
                DropReason::UnknownRoutingHeader,
                DropReason::UdpBadChecksum,
                DropReason::MtuExceeded,
            ])
    }
}

/// The position of `e` in [`WIRE_ERRORS`]; an exhaustive match, so a new
/// wire error cannot silently share another's counter.
const fn wire_error_index(e: WireError) -> usize {
    match e {
        WireError::Truncated => 0,
        WireError::BadVersion => 1,
        WireError::Ipv4BadIhl => 2,
        WireError::Ipv4BadTotalLength => 3,
        WireError::Ipv4BadChecksum => 4,
        WireError::Ipv6BadPayloadLength => 5,
        WireError::ExtHeaderTruncated => 6,
        WireError::ExtHeaderChainTooLong => 7,
        WireError::BadOption => 8,
        WireError::SrhBadLength => 9,
        WireError::SrhSegmentsLeftBeyondLastEntry => 10,
        WireError::UdpBadLength => 11,
        WireError::Malformed => 12,
    }
}

/// Every wire error, for dense drop-counter indices.
const WIRE_ERRORS: [WireError; 13] = [
    WireError::Truncated,
    WireError::BadVersion,
    WireError::Ipv4BadIhl,
    WireError::Ipv4BadTotalLength,
    WireError::Ipv4BadChecksum,
    WireError::Ipv6BadPayloadLength,
    WireError::ExtHeaderTruncated,
    WireError::ExtHeaderChainTooLong,
    WireError::BadOption,
    WireError::SrhBadLength,
    WireError::SrhSegmentsLeftBeyondLastEntry,
    WireError::UdpBadLength,
    WireError::Malformed,
];

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl From<WireError> for DropReason {
    fn from(e: WireError) -> Self {
        DropReason::Malformed(e)
    }
}

/// The Packet Too Big (Fragmentation Needed) error owed for a packet that
/// [`process`] made `out_len` octets long and that does not fit the
/// egress MTU `mtu`: about the [`Packet::origin`] packet, reporting the
/// largest such packet that would have fitted (`mtu` minus what this
/// router adds: its encapsulation). `None` when no error is owed: an IPv4
/// packet without DF (dropped, not fragmented: see
/// docs/decisions/0006-icmp-errors.md) or no origin.
pub fn too_big_kind(pkt: &Packet<'_>, out_len: usize, mtu: usize) -> Option<IcmpKind> {
    let (start, _) = pkt.origin()?;
    let origin = pkt.buffer().get(start..)?;
    let (origin_len, dont_frag) = match origin.first().map(|b| b >> 4) {
        Some(6) if origin.len() >= ipv6::HEADER_LEN => (
            ipv6::HEADER_LEN + usize::from(u16::from_be_bytes([origin[4], origin[5]])),
            true,
        ),
        Some(4) if origin.len() >= 20 => (
            usize::from(u16::from_be_bytes([origin[2], origin[3]])),
            origin[6] & 0x40 != 0,
        ),
        _ => return None,
    };
    if !dont_frag {
        return None;
    }
    // What this router adds (encapsulation) or removes (decapsulation).
    let reported = (mtu as i64 - (out_len as i64 - origin_len as i64)).clamp(0, u32::MAX as i64);
    Some(IcmpKind::PacketTooBig {
        mtu: reported as u32,
    })
}

/// Builds the ICMP error `kind` about the [`Packet::origin`] packet, in
/// place (see [`icmp::error_in_place`]), from the VRF's ICMP source address
/// ([`Fib::icmp_source_v4`] / [`Fib::icmp_source_v6`]), and routes it back
/// to that packet's source in the origin's VRF: out of a port, or into the
/// SR policy toward it (an error about a decapsulated packet crosses the
/// WAN back). Returns the verdict for the error (always a
/// [`Verdict::Forward`]) and the counter index ([`IcmpKind::index`]).
pub fn icmp_error(
    fib: &Fib,
    pkt: &mut Packet<'_>,
    kind: IcmpKind,
) -> Result<(Verdict, usize), Suppressed> {
    let (start, vrf) = pkt.origin().ok_or(Suppressed::NotAllowed)?;
    if !pkt.rewind_to(start) {
        return Err(Suppressed::NotAllowed);
    }
    let v6 = match pkt.data().first().map(|b| b >> 4) {
        Some(6) => true,
        Some(4) => false,
        _ => return Err(Suppressed::NotAllowed),
    };
    // Errors are originated by the router: never an error about them.
    pkt.clear_origin();
    let src = if v6 {
        IpAddr::V6(fib.icmp_source_v6(vrf).ok_or(Suppressed::NoSource)?)
    } else {
        IpAddr::V4(fib.icmp_source_v4(vrf))
    };
    icmp::error_in_place(pkt, kind, src)?;
    let table = fib.vrf(vrf).ok_or(Suppressed::NoRoute)?;
    let data = pkt.data();
    let (action, dst) = if v6 {
        let dst = Ipv6Packet::new_unchecked(data).dst_addr();
        (table.lookup_v6(dst), IpAddr::V6(dst))
    } else {
        let dst = Ipv4Packet::new_unchecked(data).dst_addr();
        (table.lookup_v4(dst), IpAddr::V4(dst))
    };
    let verdict = match (action, dst) {
        (Some(RouteAction::Forward(adj)), IpAddr::V6(dst)) => match next_hop_v6(adj, dst) {
            Ok(a) => Verdict::Forward {
                port: adj.port,
                next_hop: IpAddr::V6(a),
            },
            Err(_) => return Err(Suppressed::NoRoute),
        },
        (Some(RouteAction::Forward(adj)), IpAddr::V4(dst)) => match adj.next_hop {
            NextHop::V4(a) => Verdict::Forward {
                port: adj.port,
                next_hop: IpAddr::V4(a),
            },
            NextHop::Direct => Verdict::Forward {
                port: adj.port,
                next_hop: IpAddr::V4(dst),
            },
            NextHop::V6(_) => return Err(Suppressed::NoRoute),
        },
        (Some(RouteAction::Encap(id)), _) => match encap(fib, id, pkt, 1) {
            v @ Verdict::Forward { .. } => v,
            Verdict::Drop(DropReason::NoHeadroom) => return Err(Suppressed::NoHeadroom),
            _ => return Err(Suppressed::NoRoute),
        },
        _ => return Err(Suppressed::NoRoute),
    };
    Ok((verdict, kind.index(v6)))
}

/// Processes one packet that arrived on a port of `ingress_vrf` and says
/// where it goes. The packet starts at its IP header; it is rewritten in
/// place (encapsulated, decapsulated, Hop Limit / TTL decremented).
#[inline]
pub fn process(fib: &Fib, ingress_vrf: VrfId, pkt: &mut Packet<'_>) -> Verdict {
    pkt.set_origin(ingress_vrf);
    match pkt.data().first().map(|b| b >> 4) {
        Some(6) => route_v6(fib, ingress_vrf, pkt, 0),
        Some(4) => route_v4(fib, ingress_vrf, pkt, 0),
        Some(_) => Verdict::Drop(DropReason::Malformed(WireError::BadVersion)),
        None => Verdict::Drop(DropReason::Malformed(WireError::Truncated)),
    }
}

/// Validates the IPv6 packet at the start of `pkt`, drops link-layer
/// padding after it and returns its destination.
#[inline]
fn checked_v6(pkt: &mut Packet<'_>) -> Result<Ipv6Addr, DropReason> {
    let ip = Ipv6Packet::new_checked(pkt.data())?;
    if ip.payload_len() == 0 && ip.next_header() == IpProtocol::HOP_BY_HOP {
        // A jumbogram (RFC 2675); not supported, never forwarded truncated.
        return Err(WireError::Ipv6BadPayloadLength.into());
    }
    let (dst, len) = (ip.dst_addr(), ip.total_len());
    pkt.truncate(len);
    Ok(dst)
}

/// Validates the IPv4 packet at the start of `pkt` (header checksum
/// included, RFC 1812 §5.2.2), drops link-layer padding after it and returns
/// its destination.
#[inline]
fn checked_v4(pkt: &mut Packet<'_>) -> Result<Ipv4Addr, DropReason> {
    let ip = Ipv4Packet::new_checked(pkt.data())?;
    if !ip.verify_checksum() {
        return Err(WireError::Ipv4BadChecksum.into());
    }
    let (dst, len) = (ip.dst_addr(), usize::from(ip.total_len()));
    pkt.truncate(len);
    Ok(dst)
}

/// The verdict for a route lookup's result.
#[inline]
fn apply_route(
    fib: &Fib,
    action: Option<RouteAction>,
    pkt: &mut Packet<'_>,
    v6: bool,
    passes: u8,
) -> Verdict {
    match action {
        None => Verdict::Drop(DropReason::NoRoute),
        Some(RouteAction::Forward(adj)) if v6 => {
            if passes == 0 {
                pkt.mark(Behavior::Ipv6Forward);
            }
            forward_v6(pkt, adj)
        }
        Some(RouteAction::Forward(adj)) => {
            if passes == 0 {
                pkt.mark(Behavior::Ipv4Forward);
            }
            forward_v4(pkt, adj)
        }
        Some(RouteAction::Encap(id)) => encap(fib, id, pkt, passes),
        Some(RouteAction::Local) => local(pkt),
        Some(RouteAction::Blackhole) => Verdict::Drop(DropReason::Blackhole),
    }
}

/// Routes an IPv6 packet in `vrf`: local SID (underlay only), then LPM.
fn route_v6(fib: &Fib, vrf: VrfId, pkt: &mut Packet<'_>, passes: u8) -> Verdict {
    let dst = match checked_v6(pkt) {
        Ok(dst) => dst,
        Err(reason) => return Verdict::Drop(reason),
    };
    if vrf == UNDERLAY {
        if let Some(sid) = fib.local_sid(&dst) {
            if passes >= MAX_LOCAL_SID_PASSES {
                return Verdict::Drop(DropReason::LocalSidLoop);
            }
            return local_sid(fib, sid, pkt, passes + 1);
        }
    }
    let Some(table) = fib.vrf(vrf) else {
        return Verdict::Drop(DropReason::InconsistentSnapshot);
    };
    apply_route(fib, table.lookup_v6(dst), pkt, true, passes)
}

/// Routes an IPv6 packet the router itself originates (a STAMP reply) in
/// the underlay: like a received packet, except that its Hop Limit is not
/// decremented (RFC 8200: only forwarding decrements it) and a route's
/// Forward counts no `ipv6_forward` behaviour. A destination that is one of
/// our own SIDs runs that SID (bounded as any local SID chain).
pub fn route_originated(fib: &Fib, pkt: &mut Packet<'_>) -> Verdict {
    // The router's own packet: never the subject of an ICMP error (the
    // received packet it was built over is gone), never forwarded as a
    // transit packet.
    pkt.clear_origin();
    let dst = match checked_v6(pkt) {
        Ok(dst) => dst,
        Err(reason) => return Verdict::Drop(reason),
    };
    if let Some(sid) = fib.local_sid(&dst) {
        return local_sid(fib, sid, pkt, 1);
    }
    let Some(table) = fib.vrf(UNDERLAY) else {
        return Verdict::Drop(DropReason::InconsistentSnapshot);
    };
    match table.lookup_v6(dst) {
        Some(RouteAction::Forward(adj)) => match next_hop_v6(adj, dst) {
            Ok(next_hop) => Verdict::Forward {
                port: adj.port,
                next_hop: IpAddr::V6(next_hop),
            },
            Err(reason) => Verdict::Drop(reason),
        },
        action => apply_route(fib, action, pkt, true, 1),
    }
}

/// Routes an IPv4 packet in `vrf`.
fn route_v4(fib: &Fib, vrf: VrfId, pkt: &mut Packet<'_>, passes: u8) -> Verdict {
    let dst = match checked_v4(pkt) {
        Ok(dst) => dst,
        Err(reason) => return Verdict::Drop(reason),
    };
    let Some(table) = fib.vrf(vrf) else {
        return Verdict::Drop(DropReason::InconsistentSnapshot);
    };
    apply_route(fib, table.lookup_v4(dst), pkt, false, passes)
}

/// H.Encaps into policy `id`, then route the outer packet in the underlay.
///
/// `passes` counts the local SIDs this packet has already run through: a
/// policy whose first SID is one of ours leads back here (encapsulate,
/// decapsulate, route into the same policy...), and the count is what stops
/// such a loop.
fn encap(fib: &Fib, id: crate::fib::PolicyId, pkt: &mut Packet<'_>, passes: u8) -> Verdict {
    if passes >= MAX_LOCAL_SID_PASSES {
        return Verdict::Drop(DropReason::LocalSidLoop);
    }
    let Some((policy, egress)) = fib.policy_with_egress(id) else {
        return Verdict::Drop(DropReason::InconsistentSnapshot);
    };
    pkt.mark(match policy.mode() {
        EncapMode::Encaps => Behavior::HEncaps,
        EncapMode::EncapsRed => Behavior::HEncapsRed,
    });
    if let Some(reason) = expired_at_ingress(pkt.data()) {
        pkt.set_icmp(IcmpKind::TimeExceeded);
        return Verdict::Drop(reason);
    }
    if passes > 0 && pkt.origin().is_some() {
        // Decapsulated here and routed into a policy again: this edge
        // forwards the inner packet as a router does, so it decrements its
        // TTL / Hop Limit (≥ 2, checked above). Without it two edges whose
        // VRF routes point at each other would pass a packet back and forth
        // for ever, each encapsulation starting a fresh outer Hop Limit. A
        // packet entering from a LAN port (passes 0) keeps its TTL, as
        // Linux seg6 does (docs/decisions/0007); so does a packet the
        // router originates (an ICMP error, a STAMP reply: no origin).
        decrement_inner(pkt.data_mut());
    }
    if let Err(reason) = h_encaps(pkt, policy) {
        return Verdict::Drop(reason);
    }
    match egress {
        // Resolved when the snapshot was built: the same answer route_v6
        // would give, without validating our own header and looking it up.
        Some(adj) => forward_v6(pkt, adj),
        None => route_v6(fib, UNDERLAY, pkt, passes + 1),
    }
}

/// The forwarding decrement of an IP packet's TTL (with its header
/// checksum) or Hop Limit; the caller has checked it is at least 2.
#[inline]
fn decrement_inner(data: &mut [u8]) {
    match data.first().map(|b| b >> 4) {
        Some(4) if data.len() >= crate::wire::ipv4::HEADER_LEN => {
            let _ = Ipv4Packet::new_unchecked(data).decrement_ttl();
        }
        Some(6) if data.len() >= crate::wire::ipv6::HEADER_LEN => {
            let mut ip = Ipv6Packet::new_unchecked(data);
            let hl = ip.hop_limit();
            ip.set_hop_limit(hl.saturating_sub(1));
        }
        _ => {}
    }
}

/// An IP packet about to enter an SR policy whose TTL / Hop Limit would
/// not survive a router's decrement (≤ 1): the ingress edge answers Time
/// Exceeded instead of carrying it across the WAN. (An IPv6 inner packet
/// would also be stopped by the outer header, which copies its Hop Limit.)
#[inline]
fn expired_at_ingress(data: &[u8]) -> Option<DropReason> {
    match (data.first().map(|b| b >> 4), data.get(8), data.get(7)) {
        (Some(4), Some(&ttl), _) if ttl <= 1 => Some(DropReason::TtlExceeded),
        (Some(6), _, Some(&hl)) if hl <= 1 => Some(DropReason::HopLimitExceeded),
        _ => None,
    }
}

/// For srv6d itself.
#[inline]
fn local(pkt: &mut Packet<'_>) -> Verdict {
    pkt.mark(Behavior::Local);
    Verdict::Local
}

/// The IPv6 next hop of `adj` for a packet to `dst` (on-link: `dst`).
#[inline]
fn next_hop_v6(adj: Adjacency, dst: Ipv6Addr) -> Result<Ipv6Addr, DropReason> {
    match adj.next_hop {
        NextHop::V6(a) => Ok(a),
        NextHop::Direct => Ok(dst),
        NextHop::V4(_) => Err(DropReason::NextHopFamilyMismatch),
    }
}

/// Sends an IPv6 packet to an adjacency: Hop Limit check and decrement.
#[inline]
fn forward_v6(pkt: &mut Packet<'_>, adj: Adjacency) -> Verdict {
    let mut ip = Ipv6Packet::new_unchecked(pkt.data_mut());
    let hop_limit = ip.hop_limit();
    if hop_limit <= 1 {
        // RFC 8200 §3 / RFC 8986 §4.1 S04-S05: Time Exceeded to the source.
        pkt.set_icmp(IcmpKind::TimeExceeded);
        return Verdict::Drop(DropReason::HopLimitExceeded);
    }
    let next_hop = match next_hop_v6(adj, ip.dst_addr()) {
        Ok(a) => a,
        Err(reason) => return Verdict::Drop(reason),
    };
    ip.set_hop_limit(hop_limit - 1);
    Verdict::Forward {
        port: adj.port,
        next_hop: IpAddr::V6(next_hop),
    }
}

/// Sends an IPv4 packet to an adjacency: TTL check and decrement with an
/// incremental checksum update (RFC 1624).
#[inline]
fn forward_v4(pkt: &mut Packet<'_>, adj: Adjacency) -> Verdict {
    let mut ip = Ipv4Packet::new_unchecked(pkt.data_mut());
    let next_hop = match adj.next_hop {
        NextHop::V4(a) => a,
        NextHop::Direct => ip.dst_addr(),
        NextHop::V6(_) => return Verdict::Drop(DropReason::NextHopFamilyMismatch),
    };
    if ip.decrement_ttl().is_none() {
        pkt.set_icmp(IcmpKind::TimeExceeded);
        return Verdict::Drop(DropReason::TtlExceeded);
    }
    Verdict::Forward {
        port: adj.port,
        next_hop: IpAddr::V4(next_hop),
    }
}

/// Runs a local SID's behaviour on a packet whose Destination Address is
/// that SID. The packet has been checked as an IPv6 packet.
fn local_sid(fib: &Fib, sid: &SidBehavior, pkt: &mut Packet<'_>, passes: u8) -> Verdict {
    pkt.mark(Behavior::of_sid(sid));
    let chain = {
        let ip = Ipv6Packet::new_unchecked(pkt.data());
        match ipv6ext::walk(ip.next_header(), ip.payload()) {
            Ok(chain) => chain,
            Err(e) => return Verdict::Drop(e.into()),
        }
    };
    if let Some(offset) = chain.routing.filter(|&o| chain.srh != Some(o)) {
        // RFC 8200 §4.4: a Routing header of a type we do not know, with
        // segments left, must not be skipped.
        let rh = RoutingHeader::new_unchecked(&pkt.data()[ipv6::HEADER_LEN + offset..]);
        if rh.segments_left() != 0 {
            // ... but answered: Parameter Problem code 0 at Routing Type.
            pkt.set_icmp(IcmpKind::ParameterProblem {
                pointer: (ipv6::HEADER_LEN + offset + 2) as u32,
            });
            return Verdict::Drop(DropReason::UnknownRoutingHeader);
        }
    }
    match *sid {
        SidBehavior::End => end(fib, pkt, &chain, None, passes),
        SidBehavior::EndX(adj) => end(fib, pkt, &chain, Some(adj), passes),
        SidBehavior::EndDT4 { vrf } => decap(
            fib,
            pkt,
            &chain,
            Decap::Table {
                vrf,
                v4: true,
                v6: false,
            },
            passes,
        ),
        SidBehavior::EndDT6 { vrf } => decap(
            fib,
            pkt,
            &chain,
            Decap::Table {
                vrf,
                v4: false,
                v6: true,
            },
            passes,
        ),
        SidBehavior::EndDT46 { vrf } => decap(
            fib,
            pkt,
            &chain,
            Decap::Table {
                vrf,
                v4: true,
                v6: true,
            },
            passes,
        ),
        SidBehavior::EndDX4(adj) => decap(fib, pkt, &chain, Decap::Cross { adj, v4: true }, passes),
        SidBehavior::EndDX6(adj) => {
            decap(fib, pkt, &chain, Decap::Cross { adj, v4: false }, passes)
        }
    }
}

/// Validates the SRH at `offset` of the IPv6 payload: lengths, Segments
/// Left against Last Entry, TLVs (as Linux's `seg6_validate_srh`).
///
/// Segments Left beyond Last Entry + 1 calls for an ICMP Parameter Problem
/// (code 0) pointing at the Segments Left field (RFC 8754 §4.3.1.1).
#[inline]
fn srh_at(pkt: &mut Packet<'_>, offset: usize) -> Result<(), DropReason> {
    let srh = Srh::new_unchecked(&pkt.data()[ipv6::HEADER_LEN + offset..]);
    let checked = srh.check_len().and_then(|()| srh.check_tlvs());
    if checked == Err(WireError::SrhSegmentsLeftBeyondLastEntry) {
        pkt.set_icmp(IcmpKind::ParameterProblem {
            pointer: (ipv6::HEADER_LEN + offset + 3) as u32,
        });
    }
    Ok(checked?)
}

/// End and End.X (RFC 8986 §4.1, §4.2).
fn end(
    fib: &Fib,
    pkt: &mut Packet<'_>,
    chain: &ExtChain,
    adj: Option<Adjacency>,
    passes: u8,
) -> Verdict {
    let Some(offset) = chain.srh else {
        // No SRH: upper-layer header processing (RFC 8986 §4.1.1).
        return local(pkt);
    };
    if let Err(reason) = srh_at(pkt, offset) {
        return Verdict::Drop(reason);
    }
    let data = pkt.data_mut();
    let (head, rest) = data.split_at_mut(ipv6::HEADER_LEN + offset);
    let mut srh = Srh::new_unchecked(rest);
    let segments_left = srh.segments_left();
    if segments_left == 0 {
        // S02-S03: stop processing the SRH, process the next header. (Like
        // Linux, the SRH is validated first: a malformed one is dropped.)
        return local(pkt);
    }
    let next = segments_left - 1;
    srh.set_segments_left(next);
    let mut ip = Ipv6Packet::new_unchecked(head);
    ip.set_dst_bytes(srh.segment_bytes(usize::from(next)));
    match adj {
        Some(adj) => forward_v6(pkt, adj),
        None => route_v6(fib, UNDERLAY, pkt, passes),
    }
}

#[derive(Clone, Copy)]
enum Decap {
    /// End.DT4 / End.DT6 / End.DT46: look the inner packet up in `vrf`.
    Table { vrf: VrfId, v4: bool, v6: bool },
    /// End.DX4 / End.DX6: send the inner packet to `adj`.
    Cross { adj: Adjacency, v4: bool },
}

/// The decapsulating behaviours (RFC 8986 §4.4 - §4.8).
fn decap(fib: &Fib, pkt: &mut Packet<'_>, chain: &ExtChain, how: Decap, passes: u8) -> Verdict {
    if let Some(offset) = chain.srh {
        if let Err(reason) = srh_at(pkt, offset) {
            return Verdict::Drop(reason);
        }
        let srh = Srh::new_unchecked(&pkt.data()[ipv6::HEADER_LEN + offset..]);
        if srh.segments_left() != 0 {
            // RFC 8986 §4.4 S02-S03 (and the other decapsulating SIDs):
            // Parameter Problem code 0 pointing at Segments Left.
            pkt.set_icmp(IcmpKind::ParameterProblem {
                pointer: (ipv6::HEADER_LEN + offset + 3) as u32,
            });
            return Verdict::Drop(DropReason::SrhSegmentsLeftNonZero);
        }
    }
    if chain.non_first_fragment {
        return Verdict::Drop(DropReason::OuterFragmented);
    }
    let inner = chain.upper_protocol;
    let (accepts_v4, accepts_v6) = match how {
        Decap::Table { v4, v6, .. } => (v4, v6),
        Decap::Cross { v4, .. } => (v4, !v4),
    };
    let is_v4 = inner == IpProtocol::IPV4;
    let is_v6 = inner == IpProtocol::IPV6;
    if !(is_v4 || is_v6) {
        // Upper-layer header processing for the SID itself (STAMP, echo).
        return local(pkt);
    }
    if chain.has_fragment {
        // Decapsulating would need reassembly first.
        return Verdict::Drop(DropReason::OuterFragmented);
    }
    if (is_v4 && !accepts_v4) || (is_v6 && !accepts_v6) {
        return Verdict::Drop(DropReason::InnerProtocolMismatch);
    }
    if !pkt.pull_front(ipv6::HEADER_LEN + chain.upper_offset) {
        return Verdict::Drop(WireError::Truncated.into());
    }
    match how {
        // Errors about the inner packet go to its source, in its VRF.
        Decap::Table { vrf, .. } => pkt.set_origin(vrf),
        // A cross-connect has no VRF to route an error in.
        Decap::Cross { .. } => pkt.clear_origin(),
    }
    match how {
        Decap::Table { vrf, .. } if is_v6 => route_v6(fib, vrf, pkt, passes),
        Decap::Table { vrf, .. } => route_v4(fib, vrf, pkt, passes),
        Decap::Cross { adj, .. } if is_v6 => match checked_v6(pkt) {
            Ok(_) => forward_v6(pkt, adj),
            Err(reason) => Verdict::Drop(reason),
        },
        Decap::Cross { adj, .. } => match checked_v4(pkt) {
            Ok(_) => forward_v4(pkt, adj),
            Err(reason) => Verdict::Drop(reason),
        },
    }
}
