//! Packets for the router itself ([`Verdict::Local`](super::Verdict)): the
//! UDP datagram inside, and the in-place rewrite of its headers into a
//! reply that the router originates (the STAMP reflector's path).
//!
//! A STAMP test packet reaches the router either over SRv6 (its last
//! segment is one of our SIDs; End with Segments Left 0, or a decapsulating
//! SID whose upper layer is UDP) or over plain IPv6 to one of the router's
//! addresses. [`local_udp`] finds the datagram behind the extension headers
//! and checks it; the caller transforms the UDP payload in place (same
//! length) and [`reply_in_place`] then writes, in front of the UDP header, a
//! fresh IPv6 header — and an SRH when the reply follows a return SID list
//! — swaps the ports and recomputes the checksum. The old headers (the
//! test packet's SRH included) are simply left behind in the headroom.
//!
//! The reply is a packet the router *originates* (RFC 8754 §4.1, the SR
//! source node), not an encapsulation: its SRH lists the return segments
//! followed by the sender's own address as the final segment, so the sender
//! receives it as a plain datagram addressed to itself.

use std::net::Ipv6Addr;

use super::{DropReason, Packet};
use crate::wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
use crate::wire::ipv6ext::{self, RoutingHeader};
use crate::wire::srh::{Srh, ROUTING_TYPE_SRH};
use crate::wire::udp::{self, UdpPacket};
use crate::wire::{Error as WireError, IpProtocol};

/// Hop Limit of the replies the router originates (as TWAMP, RFC 5357
/// §4.2.1, asks of the reflector: 255, so the far end can count hops).
pub const REPLY_HOP_LIMIT: u8 = 255;

/// The most return segments [`reply_in_place`] writes (before the sender's
/// own address, which is always the final segment).
pub const MAX_RETURN_SEGMENTS: usize = 15;

/// A UDP datagram addressed to the router, as found by [`local_udp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalUdp {
    /// Source of the IPv6 packet (the sender).
    pub src: Ipv6Addr,
    /// Destination of the IPv6 packet (our SID or address).
    pub dst: Ipv6Addr,
    /// Hop Limit as received.
    pub hop_limit: u8,
    /// Traffic Class as received.
    pub traffic_class: u8,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// Where the UDP header starts, from the start of the packet.
    pub udp_offset: usize,
    /// UDP Length (header and data).
    pub udp_len: usize,
}

impl LocalUdp {
    /// Where the UDP data starts, from the start of the packet.
    pub fn payload_offset(&self) -> usize {
        self.udp_offset + udp::HEADER_LEN
    }

    /// Octets of UDP data.
    pub fn payload_len(&self) -> usize {
        self.udp_len - udp::HEADER_LEN
    }
}

/// The UDP datagram of an IPv6 packet for the router; `Ok(None)` if the
/// packet is not IPv6 or its upper layer is not UDP (ICMPv6 echo to a SID,
/// say: not the STAMP path's business).
///
/// Checks, each a named drop: a Routing header that still has segments
/// left (the packet is not at its final destination: RFC 8754 §4.3.1.1 has
/// such a packet discarded by a node that is not that segment),
/// a fragment (no reassembly here), a UDP Length that does not fit the
/// packet, a missing or wrong checksum (RFC 8200 §8.1: mandatory over IPv6,
/// computed with the final destination).
pub fn local_udp(pkt: &Packet<'_>) -> Result<Option<LocalUdp>, DropReason> {
    let data = pkt.data();
    if data.first().map(|b| b >> 4) != Some(6) {
        return Ok(None);
    }
    let ip = Ipv6Packet::new_checked(data)?;
    let chain = ipv6ext::walk(ip.next_header(), ip.payload())?;
    if let Some(offset) = chain.routing {
        let rh = RoutingHeader::new_unchecked(&ip.payload()[offset..]);
        if rh.segments_left() != 0 {
            return Err(DropReason::SrhSegmentsLeftNonZero);
        }
    }
    if chain.has_fragment {
        return Err(DropReason::OuterFragmented);
    }
    if chain.upper_protocol != IpProtocol::UDP {
        return Ok(None);
    }
    let datagram = &ip.payload()[chain.upper_offset..];
    let udp = UdpPacket::new_checked(datagram)?;
    if !udp.verify_checksum_v6(ip.src_addr(), ip.dst_addr()) {
        return Err(DropReason::UdpBadChecksum);
    }
    Ok(Some(LocalUdp {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        hop_limit: ip.hop_limit(),
        traffic_class: ip.traffic_class(),
        src_port: udp.src_port(),
        dst_port: udp.dst_port(),
        udp_offset: ipv6::HEADER_LEN + chain.upper_offset,
        udp_len: usize::from(udp.len()),
    }))
}

/// Grows the UDP data of `udp` to `payload_len` octets, zeroed at the end
/// (a TWAMP-light test packet answered with the STAMP base packet, RFC 8762
/// §4.6): anything after the datagram (link-layer padding) is dropped, the
/// UDP Length updated; the checksum is [`reply_in_place`]'s. Nothing
/// changes if `payload_len` is not longer; `no_headroom` if the frame has
/// no room after the packet (only the link-layer padding is gone then).
pub fn grow_udp_payload(
    pkt: &mut Packet<'_>,
    udp: &mut LocalUdp,
    payload_len: usize,
) -> Result<(), DropReason> {
    let extra = payload_len.saturating_sub(udp.payload_len());
    if extra == 0 {
        return Ok(());
    }
    let end = udp.udp_offset + udp.udp_len;
    if end > pkt.len() {
        return Err(WireError::UdpBadLength.into());
    }
    let Ok(new_udp_len) = u16::try_from(udp.udp_len + extra) else {
        return Err(DropReason::PacketTooBig);
    };
    pkt.truncate(end);
    if !pkt.push_back(extra) {
        return Err(DropReason::NoHeadroom);
    }
    let at = udp.udp_offset + 4;
    pkt.data_mut()[at..at + 2].copy_from_slice(&new_udp_len.to_be_bytes());
    udp.udp_len = usize::from(new_udp_len);
    Ok(())
}

/// Octets of the headers [`reply_in_place`] writes in front of the UDP
/// header for `return_segments` segments.
pub const fn reply_header_len(return_segments: usize) -> usize {
    if return_segments == 0 {
        ipv6::HEADER_LEN
    } else {
        ipv6::HEADER_LEN + 8 + 16 * (return_segments + 1)
    }
}

/// Turns the packet into the router's reply to `udp`'s sender: a new IPv6
/// header (source: the address the datagram was sent to; Hop Limit
/// [`REPLY_HOP_LIMIT`]; `traffic_class`), with an SRH when
/// `return_segments` is not empty (segments in travel order, the sender's
/// address appended as the final segment), in front of the same UDP
/// datagram with its ports swapped and its checksum recomputed. The UDP
/// data must already hold the reply (same length as received).
///
/// Errors (nothing is changed): more than [`MAX_RETURN_SEGMENTS`] segments
/// (`packet_too_big`), not enough headroom in front of the UDP header
/// (`no_headroom`).
pub fn reply_in_place(
    pkt: &mut Packet<'_>,
    udp: &LocalUdp,
    return_segments: &[Ipv6Addr],
    traffic_class: u8,
) -> Result<(), DropReason> {
    reply_in_place_to(pkt, udp, return_segments, udp.src, traffic_class)
}

/// [`reply_in_place`] with another final destination than `udp`'s sender:
/// the reply visits `return_segments` and ends at `final_dst` (Segment
/// List[0]; without segments, the Destination Address). The UDP checksum
/// is computed for `final_dst`.
pub fn reply_in_place_to(
    pkt: &mut Packet<'_>,
    udp: &LocalUdp,
    return_segments: &[Ipv6Addr],
    final_dst: Ipv6Addr,
    traffic_class: u8,
) -> Result<(), DropReason> {
    if return_segments.len() > MAX_RETURN_SEGMENTS {
        return Err(DropReason::PacketTooBig);
    }
    let header_len = reply_header_len(return_segments.len());
    let udp_abs = pkt.start() + udp.udp_offset;
    if udp_abs < header_len {
        return Err(DropReason::NoHeadroom);
    }
    if udp.udp_offset + udp.udp_len > pkt.len() || udp.udp_len < udp::HEADER_LEN {
        return Err(WireError::UdpBadLength.into());
    }
    // A long return path in front of a near-maximal datagram may not fit
    // the Payload Length.
    let Ok(payload_len) = u16::try_from(header_len - ipv6::HEADER_LEN + udp.udp_len) else {
        return Err(DropReason::PacketTooBig);
    };
    // Keep exactly the UDP datagram, then grow the new headers in front.
    let pulled = pkt.pull_front(udp.udp_offset);
    debug_assert!(pulled, "length checked above");
    pkt.truncate(udp.udp_len);
    let grown = pkt.push_front(header_len);
    debug_assert!(grown, "headroom checked above");

    let sender = final_dst;
    let data = pkt.data_mut();
    let (head, datagram) = data.split_at_mut(header_len);
    emit_headers(
        head,
        udp.dst,
        return_segments,
        sender,
        payload_len,
        REPLY_HOP_LIMIT,
        traffic_class,
    );
    let mut u = UdpPacket::new_unchecked(datagram);
    let (src_port, dst_port) = (u.src_port(), u.dst_port());
    u.set_src_port(dst_port);
    u.set_dst_port(src_port);
    u.fill_checksum_v6(udp.dst, sender);
    Ok(())
}

/// Writes into `head` (exactly [`reply_header_len`]`(via.len())` octets) an
/// IPv6 header from `src` and, when `via` is not empty, an SRH: the packet
/// visits `via` in order and ends at `final_dst` (Segment List[0]); its
/// Destination Address is the first segment and Segments Left names it
/// (RFC 8754 §2, §4.1). The upper layer is UDP; `payload_len` is the IPv6
/// Payload Length.
fn emit_headers(
    head: &mut [u8],
    src: Ipv6Addr,
    via: &[Ipv6Addr],
    final_dst: Ipv6Addr,
    payload_len: u16,
    hop_limit: u8,
    traffic_class: u8,
) {
    Ipv6Repr {
        src,
        dst: via.first().copied().unwrap_or(final_dst),
        next_header: if via.is_empty() {
            IpProtocol::UDP
        } else {
            IpProtocol::IPV6_ROUTE
        },
        payload_len,
        hop_limit,
        traffic_class,
        flow_label: 0,
    }
    .emit(&mut Ipv6Packet::new_unchecked(
        &mut head[..ipv6::HEADER_LEN],
    ));
    if !via.is_empty() {
        // Segment List[0] is the final segment, the first one visited the
        // highest index.
        let n = via.len();
        let mut srh = Srh::new_unchecked(&mut head[ipv6::HEADER_LEN..]);
        srh.set_next_header(IpProtocol::UDP);
        srh.set_hdr_ext_len((2 * (n + 1)) as u8);
        srh.set_routing_type(ROUTING_TYPE_SRH);
        srh.set_segments_left(n as u8);
        srh.set_last_entry(n as u8);
        srh.set_flags(0);
        srh.set_tag(0);
        srh.set_segment(0, final_dst);
        for (i, s) in via.iter().enumerate() {
            srh.set_segment(n - i, *s);
        }
    }
}

/// The most segments a packet [`originate_udp`] writes may visit: the
/// destination and [`MAX_RETURN_SEGMENTS`] before it.
pub const MAX_ORIGINATED_SEGMENTS: usize = MAX_RETURN_SEGMENTS + 1;

/// Octets of the headers [`originate_udp`] writes in front of the UDP
/// header for a SID list of `segments` segments (1: plain IPv6).
pub const fn originated_header_len(segments: usize) -> usize {
    reply_header_len(segments.saturating_sub(1))
}

/// A UDP datagram the router originates (a STAMP Session-Sender's test
/// packet), written at the start of `out`: an IPv6 header from `src` to the
/// first of `segments`, an SRH when there are two or more segments (the
/// last one is the final destination, Segment List[0]), and a UDP header
/// with its checksum (computed with the final destination, RFC 8200 §8.1)
/// over the `payload_len` octets of UDP data that must already be in place
/// at `out[originated_header_len(segments.len()) + 8..]`. Returns the
/// packet's length.
///
/// Errors (nothing written): no segment, more than
/// [`MAX_ORIGINATED_SEGMENTS`] or a datagram too long for the Payload
/// Length (`packet_too_big`), `out` too short (`no_headroom`: the frame has
/// no room behind the headers).
pub fn originate_udp(
    out: &mut [u8],
    src: Ipv6Addr,
    segments: &[Ipv6Addr],
    ports: (u16, u16),
    traffic_class: u8,
    hop_limit: u8,
    payload_len: usize,
) -> Result<usize, DropReason> {
    let Some((&final_dst, via)) = segments.split_last() else {
        return Err(DropReason::PacketTooBig);
    };
    if via.len() > MAX_RETURN_SEGMENTS {
        return Err(DropReason::PacketTooBig);
    }
    let header_len = originated_header_len(segments.len());
    let udp_len = udp::HEADER_LEN + payload_len;
    let (Ok(udp_len16), Ok(ip_payload_len)) = (
        u16::try_from(udp_len),
        u16::try_from(header_len - ipv6::HEADER_LEN + udp_len),
    ) else {
        return Err(DropReason::PacketTooBig);
    };
    let total = header_len + udp_len;
    if out.len() < total {
        return Err(DropReason::NoHeadroom);
    }
    let (head, rest) = out[..total].split_at_mut(header_len);
    emit_headers(
        head,
        src,
        via,
        final_dst,
        ip_payload_len,
        hop_limit,
        traffic_class,
    );
    let mut u = UdpPacket::new_unchecked(rest);
    u.set_src_port(ports.0);
    u.set_dst_port(ports.1);
    u.set_len(udp_len16);
    u.fill_checksum_v6(src, final_dst);
    Ok(total)
}
