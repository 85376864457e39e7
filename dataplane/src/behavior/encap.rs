//! H.Encaps and H.Encaps.Red (RFC 8986 §5.1, §5.2): SR policies and the
//! per-packet encapsulation.
//!
//! A policy's outer IPv6 header and SRH are built once, when the policy is
//! created, into a template; per packet the template is copied in front of
//! the inner packet (into the buffer's headroom, the inner bytes never move)
//! and the few fields that depend on the packet are patched: Payload Length,
//! Traffic Class, Flow Label, Hop Limit and the Next Header naming the inner
//! protocol.
//!
//! Field choices follow Linux `seg6_do_srh_encap` with its defaults (so that
//! our bytes equal the kernel's, which the interop tests check):
//! * IPv6 inner: outer Traffic Class and Hop Limit copied from the inner
//!   header; Flow Label copied from the inner header (`net.ipv6.seg6_flowlabel
//!   = 0`, the kernel default).
//! * IPv4 inner: Traffic Class 0, Flow Label 0, Hop Limit from the policy
//!   (default 64, the kernel's default `hop_limit`). The inner TTL is not
//!   touched (the kernel encapsulates before forwarding).
//! * Flags and Tag 0, no TLVs.
//!
//! The outer Hop Limit is then decremented by the forwarding step like any
//! forwarded IPv6 packet (Linux: `ip6_forward`).

use std::net::Ipv6Addr;

use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::srh::{self, ROUTING_TYPE_SRH};
use crate::wire::IpProtocol;

use super::{DropReason, Packet};

/// Most segments a policy may carry.
pub const MAX_SEGMENTS: usize = 16;

/// Longest encapsulation H.Encaps prepends: IPv6 header + SRH with
/// [`MAX_SEGMENTS`] segments (304 octets). Buffers must leave this much
/// headroom in front of a packet that may be encapsulated, plus room for the
/// link-layer header the engine writes after the behaviour (14 octets).
pub const MAX_ENCAP_LEN: usize =
    ipv6::HEADER_LEN + srh::FIXED_LEN + srh::SEGMENT_LEN * MAX_SEGMENTS;

/// Which encapsulation a policy performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncapMode {
    /// H.Encaps: outer IPv6 header plus an SRH holding every segment.
    Encaps,
    /// H.Encaps.Red: the first segment only in the outer Destination
    /// Address, the SRH holds the others; with a single segment there is no
    /// SRH at all (plain IPv6-in-IPv6, which crosses networks that filter
    /// SRHs).
    EncapsRed,
}

/// How the outer Flow Label is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlowLabelMode {
    /// Copy the inner IPv6 Flow Label; 0 for IPv4 inner packets. Linux's
    /// default (`net.ipv6.seg6_flowlabel = 0`).
    #[default]
    CopyInner,
    /// Always 0 (`seg6_flowlabel = -1`).
    Zero,
    /// A hash of the inner addresses, protocol and ports, so that transit
    /// routers can spread flows over equal-cost paths (RFC 6437;
    /// `seg6_flowlabel = 1` in spirit — the hash function differs from the
    /// kernel's).
    Hash,
}

/// Why a policy could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("an SR policy needs at least one segment")]
    NoSegments,
    #[error("an SR policy holds at most {MAX_SEGMENTS} segments, got {0}")]
    TooManySegments(usize),
    #[error("segment {index} ({addr}) is not a unicast address usable as a SID")]
    BadSegment { index: usize, addr: Ipv6Addr },
    #[error("source address {0} is not a unicast address")]
    BadSource(Ipv6Addr),
    #[error("hop limit for IPv4 inner packets must be 1..=255, got 0")]
    ZeroHopLimit,
}

/// An SR policy: a segment list and how to encapsulate into it.
#[derive(Clone)]
pub struct EncapPolicy {
    mode: EncapMode,
    source: Ipv6Addr,
    segments: Vec<Ipv6Addr>,
    flow_label: FlowLabelMode,
    ipv4_hop_limit: u8,
    template: [u8; MAX_ENCAP_LEN],
    template_len: usize,
    /// Offset in the template of the Next Header octet that names the inner
    /// protocol (in the SRH, or in the IPv6 header when there is no SRH).
    inner_nh_offset: usize,
}

impl core::fmt::Debug for EncapPolicy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EncapPolicy")
            .field("mode", &self.mode)
            .field("source", &self.source)
            .field("segments", &self.segments)
            .field("flow_label", &self.flow_label)
            .field("ipv4_hop_limit", &self.ipv4_hop_limit)
            .finish()
    }
}

impl PartialEq for EncapPolicy {
    fn eq(&self, other: &Self) -> bool {
        self.mode == other.mode
            && self.source == other.source
            && self.segments == other.segments
            && self.flow_label == other.flow_label
            && self.ipv4_hop_limit == other.ipv4_hop_limit
    }
}

impl Eq for EncapPolicy {}

fn usable_unicast(a: &Ipv6Addr) -> bool {
    !(a.is_unspecified() || a.is_multicast() || a.is_loopback())
}

impl EncapPolicy {
    /// A policy steering along `segments` (in travel order: `segments[0]` is
    /// the first SID visited, the last one is the final destination), with
    /// outer source address `source`, Flow Label copied from the inner packet
    /// and Hop Limit 64 for IPv4 inner packets.
    pub fn new(
        mode: EncapMode,
        source: Ipv6Addr,
        segments: &[Ipv6Addr],
    ) -> Result<EncapPolicy, PolicyError> {
        if segments.is_empty() {
            return Err(PolicyError::NoSegments);
        }
        if segments.len() > MAX_SEGMENTS {
            return Err(PolicyError::TooManySegments(segments.len()));
        }
        if let Some((index, addr)) = segments
            .iter()
            .enumerate()
            .find(|(_, a)| !usable_unicast(a))
        {
            return Err(PolicyError::BadSegment { index, addr: *addr });
        }
        if !usable_unicast(&source) {
            return Err(PolicyError::BadSource(source));
        }
        let mut policy = EncapPolicy {
            mode,
            source,
            segments: segments.to_vec(),
            flow_label: FlowLabelMode::default(),
            ipv4_hop_limit: 64,
            template: [0; MAX_ENCAP_LEN],
            template_len: 0,
            inner_nh_offset: 0,
        };
        policy.build_template();
        Ok(policy)
    }

    /// Chooses how the outer Flow Label is set.
    pub fn with_flow_label(mut self, mode: FlowLabelMode) -> EncapPolicy {
        self.flow_label = mode;
        self
    }

    /// Sets the outer Hop Limit used for IPv4 inner packets.
    pub fn with_ipv4_hop_limit(mut self, hop_limit: u8) -> Result<EncapPolicy, PolicyError> {
        if hop_limit == 0 {
            return Err(PolicyError::ZeroHopLimit);
        }
        self.ipv4_hop_limit = hop_limit;
        Ok(self)
    }

    pub fn mode(&self) -> EncapMode {
        self.mode
    }

    pub fn source(&self) -> Ipv6Addr {
        self.source
    }

    /// The segments in travel order.
    pub fn segments(&self) -> &[Ipv6Addr] {
        &self.segments
    }

    /// The outer Destination Address: the first segment.
    pub fn first_segment(&self) -> Ipv6Addr {
        self.segments[0]
    }

    /// Octets this policy prepends to every packet.
    pub fn encap_len(&self) -> usize {
        self.template_len
    }

    /// The SID list as it goes into the SRH: every segment for H.Encaps, all
    /// but the first for H.Encaps.Red (empty: no SRH).
    fn srh_path(&self) -> &[Ipv6Addr] {
        match self.mode {
            EncapMode::Encaps => &self.segments,
            EncapMode::EncapsRed => &self.segments[1..],
        }
    }

    fn build_template(&mut self) {
        let path_len = self.srh_path().len();
        let srh_len = if path_len == 0 {
            0
        } else {
            srh::FIXED_LEN + srh::SEGMENT_LEN * path_len
        };
        let total = ipv6::HEADER_LEN + srh_len;
        let mut t = [0u8; MAX_ENCAP_LEN];
        {
            let mut ip = Ipv6Packet::new_unchecked(&mut t[..ipv6::HEADER_LEN]);
            ip.set_version(6);
            ip.set_next_header(if srh_len == 0 {
                IpProtocol::IPV6
            } else {
                IpProtocol::IPV6_ROUTE
            });
            ip.set_src_addr(self.source);
            ip.set_dst_addr(self.segments[0]);
        }
        let inner_nh_offset = if srh_len == 0 {
            // Next Header of the fixed IPv6 header.
            6
        } else {
            let mut s = srh::Srh::new_unchecked(&mut t[ipv6::HEADER_LEN..total]);
            s.set_hdr_ext_len((srh_len / 8 - 1) as u8);
            s.set_routing_type(ROUTING_TYPE_SRH);
            // H.Encaps: SL = n - 1, the first segment is Segment List[n-1].
            // H.Encaps.Red: the first segment is only in the DA; the SRH
            // holds n - 1 entries and SL = n - 1 = Last Entry + 1.
            s.set_segments_left((self.segments.len() - 1) as u8);
            s.set_last_entry((path_len - 1) as u8);
            for (i, seg) in self.srh_path().iter().rev().enumerate() {
                s.set_segment(i, *seg);
            }
            ipv6::HEADER_LEN
        };
        self.template = t;
        self.template_len = total;
        self.inner_nh_offset = inner_nh_offset;
    }
}

/// The inner packet's fields H.Encaps copies into the outer header.
struct Inner {
    protocol: IpProtocol,
    len: usize,
    traffic_class: u8,
    flow_label: u32,
    hop_limit: u8,
}

fn inner_fields(data: &[u8], policy: &EncapPolicy) -> Result<Inner, DropReason> {
    match data.first().map(|b| b >> 4) {
        Some(6) => {
            let ip = Ipv6Packet::new_checked(data).map_err(DropReason::Malformed)?;
            Ok(Inner {
                protocol: IpProtocol::IPV6,
                len: ip.total_len(),
                traffic_class: ip.traffic_class(),
                flow_label: ip.flow_label(),
                hop_limit: ip.hop_limit(),
            })
        }
        Some(4) => {
            let ip = Ipv4Packet::new_checked(data).map_err(DropReason::Malformed)?;
            Ok(Inner {
                protocol: IpProtocol::IPV4,
                len: usize::from(ip.total_len()),
                traffic_class: 0,
                flow_label: 0,
                hop_limit: policy.ipv4_hop_limit,
            })
        }
        Some(_) => Err(DropReason::Malformed(crate::wire::Error::BadVersion)),
        None => Err(DropReason::Malformed(crate::wire::Error::Truncated)),
    }
}

/// A flow hash of the inner packet: addresses, protocol and, for TCP/UDP
/// directly after the IP header (IPv4 options are skipped; IPv6 extension
/// headers are not walked) and not in a fragment, the ports; folded to 20
/// bits.
fn flow_hash(data: &[u8], inner: &Inner) -> u32 {
    // FNV-1a over the flow's identifying octets; cheap and well spread.
    let mut h: u32 = 0x811c_9dc5;
    let mut mix = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    let (addrs, l4) = if inner.protocol == IpProtocol::IPV6 {
        mix(&data[6..7]);
        (&data[8..40], 40)
    } else {
        mix(&data[9..10]);
        (&data[12..20], usize::from(data[0] & 0x0f) * 4)
    };
    mix(addrs);
    let proto = if inner.protocol == IpProtocol::IPV6 {
        data[6]
    } else {
        data[9]
    };
    // Fragments of one IPv4 datagram must share a label: no ports for any.
    let fragment = inner.protocol == IpProtocol::IPV4 && (data[6] & 0x3f != 0 || data[7] != 0);
    if (proto == 6 || proto == 17) && !fragment && data.len() >= l4 + 4 {
        mix(&data[l4..l4 + 4]);
    }
    let label = (h ^ (h >> 20)) & 0x000f_ffff;
    // A zero Flow Label means "no label" (RFC 6437): avoid it.
    if label == 0 {
        1
    } else {
        label
    }
}

/// H.Encaps / H.Encaps.Red of the packet per `policy`.
///
/// The packet must start at its IPv4 or IPv6 header; link-layer padding
/// after the datagram is removed first. On success the packet starts at the
/// new outer IPv6 header; on error nothing has been changed.
#[inline]
pub fn h_encaps(pkt: &mut Packet<'_>, policy: &EncapPolicy) -> Result<(), DropReason> {
    let inner = inner_fields(pkt.data(), policy)?;
    let flow_label = match policy.flow_label {
        FlowLabelMode::CopyInner => inner.flow_label,
        FlowLabelMode::Zero => 0,
        FlowLabelMode::Hash => flow_hash(&pkt.data()[..inner.len], &inner),
    };
    let n = policy.template_len;
    let payload_len = n - ipv6::HEADER_LEN + inner.len;
    let Ok(payload_len) = u16::try_from(payload_len) else {
        return Err(DropReason::PacketTooBig);
    };
    if pkt.headroom() < n {
        return Err(DropReason::NoHeadroom);
    }
    pkt.truncate(inner.len);
    let grown = pkt.push_front(n);
    debug_assert!(grown, "headroom checked above");
    let data = pkt.data_mut();
    data[..n].copy_from_slice(&policy.template[..n]);
    data[policy.inner_nh_offset] = inner.protocol.0;
    let mut ip = Ipv6Packet::new_unchecked(&mut data[..ipv6::HEADER_LEN]);
    ip.set_traffic_class(inner.traffic_class);
    ip.set_flow_label(flow_label);
    ip.set_payload_len(payload_len);
    ip.set_hop_limit(inner.hop_limit);
    Ok(())
}
