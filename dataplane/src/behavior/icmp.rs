//! ICMP errors the router owes (RFC 792 / RFC 1812 for IPv4, RFC 4443 for
//! IPv6): Time Exceeded, Packet Too Big / Fragmentation Needed, Parameter
//! Problem, built in place in the frame of the packet that caused them.
//!
//! [`error_in_place`] turns a packet (it starts at its IP header) into the
//! error about it: the new IP and ICMP headers are written into the
//! headroom in front of it and the packet itself, cut to what fits in the
//! minimum MTU (1280 octets for IPv6, RFC 4443 §2.4(c); 576 for IPv4,
//! RFC 1812 §4.3.2.3), becomes the quoted invoking packet. No allocation;
//! every length is checked, so no input can make it panic or write outside
//! the buffer.
//!
//! It refuses ([`Suppressed`]) where the RFCs forbid an error: about an
//! ICMP error message, about a packet whose source is not a unicast address,
//! about a packet to a multicast (or IPv4 broadcast) destination (a Packet
//! Too Big excepted, RFC 4443 §2.4(e.3)), about a non-initial IPv4 fragment.
//! Rate limiting is the caller's (the engine's token bucket).
//!
//! What it is not: it does not route the error; see
//! [`super::icmp_error`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Packet;
use crate::wire::checksum;
use crate::wire::ipv6ext;
use crate::wire::IpProtocol;

/// The minimum IPv6 MTU (RFC 8200 §5): an ICMPv6 error is no longer.
pub const MIN_MTU_V6: usize = 1280;
/// The IPv4 datagram size every host accepts (RFC 791): an ICMPv4 error
/// is no longer (RFC 1812 §4.3.2.3).
pub const MIN_MTU_V4: usize = 576;
/// Hop Limit / TTL of the errors (Linux's default, 64).
pub const ERROR_HOP_LIMIT: u8 = 64;

/// IPv6 + ICMPv6 headers of an error.
pub const V6_ERROR_HEADER_LEN: usize = 40 + 8;
/// IPv4 (no options) + ICMP headers of an error.
pub const V4_ERROR_HEADER_LEN: usize = 20 + 8;

/// Which error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpKind {
    /// Hop Limit / TTL exceeded in transit (ICMPv6 type 3 / ICMP type 11,
    /// code 0).
    TimeExceeded,
    /// The packet does not fit the next link: ICMPv6 Packet Too Big (type
    /// 2) for IPv6, Destination Unreachable / Fragmentation Needed (type 3
    /// code 4, RFC 1191 next-hop MTU) for IPv4. `mtu` is the largest packet
    /// of the quoted kind that would have fitted.
    PacketTooBig { mtu: u32 },
    /// Parameter Problem, erroneous header field (ICMPv6 type 4 code 0 /
    /// ICMP type 12 code 0): `pointer` is the octet offset of the field in
    /// the quoted packet.
    ParameterProblem { pointer: u32 },
}

impl IcmpKind {
    /// Path-MTU errors (Packet Too Big, Fragmentation Needed): they have a
    /// rate budget of their own, so a flood that draws other errors (TTL 1
    /// packets, say) cannot starve path-MTU discovery; Linux exempts them
    /// from its ICMP rate mask for the same reason.
    pub const fn is_path_mtu(self) -> bool {
        matches!(self, IcmpKind::PacketTooBig { .. })
    }

    /// How many counters [`IcmpKind::index`] indexes (per family).
    pub const COUNT: usize = 6;

    /// Counter names, by [`IcmpKind::index`].
    pub const NAMES: [&'static str; IcmpKind::COUNT] = [
        "icmp6_time_exceeded",
        "icmp6_packet_too_big",
        "icmp6_parameter_problem",
        "icmp4_time_exceeded",
        "icmp4_frag_needed",
        "icmp4_parameter_problem",
    ];

    /// A dense counter index of this error for an IPv6 (`v6`) or IPv4
    /// packet.
    pub const fn index(self, v6: bool) -> usize {
        let k = match self {
            IcmpKind::TimeExceeded => 0,
            IcmpKind::PacketTooBig { .. } => 1,
            IcmpKind::ParameterProblem { .. } => 2,
        };
        if v6 {
            k
        } else {
            k + 3
        }
    }
}

/// Why no error was built (the packet is simply dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppressed {
    /// The RFCs forbid an error about this packet (an ICMP error itself, a
    /// non-unicast source, a multicast or broadcast destination, a
    /// non-initial fragment), or it is not a whole IP header.
    NotAllowed,
    /// No source address of the packet's family for the error (no IPv6
    /// address configured).
    NoSource,
    /// Not enough headroom in front of the packet for the error's headers,
    /// or for the encapsulation that would carry it.
    NoHeadroom,
    /// No route back to the packet's source, or the route would not carry
    /// the error (blackhole, local, a loop).
    NoRoute,
    /// The error, with the encapsulation that carries it back, is longer
    /// than the MTU of the port it would leave by.
    TooBig,
}

impl Suppressed {
    /// How many there are.
    pub const COUNT: usize = 5;
    /// Counter names, by [`Suppressed::index`].
    pub const NAMES: [&'static str; Suppressed::COUNT] = [
        "icmp_not_allowed",
        "icmp_no_source",
        "icmp_no_headroom",
        "icmp_no_route",
        "icmp_too_big",
    ];

    /// Dense counter index.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// True for an address an error may be sent to (RFC 4443 §2.4(e.6)), and
/// that a packet through this router can really come from: not loopback,
/// not IPv4-mapped, not link-local (an error routed to fe80:: could leave by
/// a default route into a tunnel).
fn v6_unicast(a: Ipv6Addr) -> bool {
    !(a.is_unspecified()
        || a.is_multicast()
        || a.is_loopback()
        || a.is_unicast_link_local()
        || a.to_ipv4_mapped().is_some())
}

/// True for an address an error may be sent to (RFC 1812 §4.3.2.7: not
/// 0/8, 127/8, class D or E, or the limited broadcast).
fn v4_unicast(a: Ipv4Addr) -> bool {
    let o = a.octets()[0];
    !(o == 0 || o == 127 || o >= 224)
}

/// Turns `pkt` (it starts at the IP header of the packet the error is
/// about) into the ICMP error `kind` from `src` to that packet's source.
/// `src` must be of the packet's family. On error nothing is changed.
pub fn error_in_place(pkt: &mut Packet<'_>, kind: IcmpKind, src: IpAddr) -> Result<(), Suppressed> {
    match (pkt.data().first().map(|b| b >> 4), src) {
        (Some(6), IpAddr::V6(src)) => error_v6(pkt, kind, src),
        (Some(4), IpAddr::V4(src)) => error_v4(pkt, kind, src),
        (Some(6 | 4), _) => Err(Suppressed::NoSource),
        _ => Err(Suppressed::NotAllowed),
    }
}

fn addr6(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

fn error_v6(pkt: &mut Packet<'_>, kind: IcmpKind, src: Ipv6Addr) -> Result<(), Suppressed> {
    let data = pkt.data();
    if data.len() < 40 {
        return Err(Suppressed::NotAllowed);
    }
    let (to, dst) = (addr6(&data[8..24]), addr6(&data[24..40]));
    if !v6_unicast(to) {
        return Err(Suppressed::NotAllowed);
    }
    if dst.is_multicast() && !matches!(kind, IcmpKind::PacketTooBig { .. }) {
        return Err(Suppressed::NotAllowed);
    }
    // Never an error about an error (RFC 4443 §2.4(e.1)): find the upper
    // layer behind the extension headers; an unparsable chain is no ICMPv6
    // error message.
    if let Ok(chain) = ipv6ext::walk(IpProtocol(data[6]), &data[40..]) {
        if chain.upper_protocol == IpProtocol::ICMPV6 && !chain.non_first_fragment {
            match data.get(40 + chain.upper_offset) {
                Some(&t) if t < 128 => return Err(Suppressed::NotAllowed),
                // Truncated before the type: cannot tell; do not answer.
                None => return Err(Suppressed::NotAllowed),
                _ => {}
            }
        }
    }
    let quote = {
        let declared = 40 + usize::from(u16::from_be_bytes([data[4], data[5]]));
        declared
            .min(data.len())
            .min(MIN_MTU_V6 - V6_ERROR_HEADER_LEN)
    };
    if pkt.headroom() < V6_ERROR_HEADER_LEN {
        return Err(Suppressed::NoHeadroom);
    }
    pkt.truncate(quote);
    let grown = pkt.push_front(V6_ERROR_HEADER_LEN);
    debug_assert!(grown, "headroom checked above");
    let (ty, word) = match kind {
        IcmpKind::PacketTooBig { mtu } => (2u8, mtu),
        IcmpKind::TimeExceeded => (3, 0),
        IcmpKind::ParameterProblem { pointer } => (4, pointer),
    };
    let icmp_len = 8 + quote;
    let out = pkt.data_mut();
    // IPv6 header: version 6, Traffic Class 0, Flow Label 0.
    out[..4].copy_from_slice(&[0x60, 0, 0, 0]);
    out[4..6].copy_from_slice(&(icmp_len as u16).to_be_bytes());
    out[6] = IpProtocol::ICMPV6.0;
    out[7] = ERROR_HOP_LIMIT;
    out[8..24].copy_from_slice(&src.octets());
    out[24..40].copy_from_slice(&to.octets());
    // ICMPv6: type, code 0, checksum, MTU / pointer / unused.
    out[40] = ty;
    out[41] = 0;
    out[42..44].copy_from_slice(&[0, 0]);
    out[44..48].copy_from_slice(&word.to_be_bytes());
    let sum = checksum::combine(&[
        checksum::pseudo_header_v6(src, to, IpProtocol::ICMPV6, icmp_len as u32),
        checksum::data(&out[40..40 + icmp_len]),
    ]);
    out[42..44].copy_from_slice(&(!sum).to_be_bytes());
    Ok(())
}

fn error_v4(pkt: &mut Packet<'_>, kind: IcmpKind, src: Ipv4Addr) -> Result<(), Suppressed> {
    let data = pkt.data();
    if data.len() < 20 {
        return Err(Suppressed::NotAllowed);
    }
    let ihl = usize::from(data[0] & 0x0f) * 4;
    if ihl < 20 || ihl > data.len() {
        return Err(Suppressed::NotAllowed);
    }
    let to = Ipv4Addr::new(data[12], data[13], data[14], data[15]);
    let dst = Ipv4Addr::new(data[16], data[17], data[18], data[19]);
    if !v4_unicast(to) || dst.is_multicast() || dst.is_broadcast() {
        return Err(Suppressed::NotAllowed);
    }
    let frag_offset = u16::from_be_bytes([data[6], data[7]]) & 0x1fff;
    if frag_offset != 0 {
        // Only about the first fragment (RFC 1812 §4.3.2.7).
        return Err(Suppressed::NotAllowed);
    }
    if data[9] == IpProtocol::ICMP.0 {
        // Never about an ICMP error (types 3, 4, 5, 11, 12); a truncated
        // message is not answered either.
        match data.get(ihl) {
            Some(3 | 4 | 5 | 11 | 12) | None => return Err(Suppressed::NotAllowed),
            _ => {}
        }
    }
    let quote = {
        let declared = usize::from(u16::from_be_bytes([data[2], data[3]]));
        declared
            .min(data.len())
            .max(ihl)
            .min(MIN_MTU_V4 - V4_ERROR_HEADER_LEN)
    };
    if pkt.headroom() < V4_ERROR_HEADER_LEN {
        return Err(Suppressed::NoHeadroom);
    }
    pkt.truncate(quote);
    let grown = pkt.push_front(V4_ERROR_HEADER_LEN);
    debug_assert!(grown, "headroom checked above");
    let (ty, code, word) = match kind {
        IcmpKind::TimeExceeded => (11u8, 0u8, 0u32),
        // RFC 1191 §4: the next-hop MTU in the low-order 16 bits.
        IcmpKind::PacketTooBig { mtu } => (3, 4, mtu.min(0xffff)),
        // RFC 792: the pointer is the first octet.
        IcmpKind::ParameterProblem { pointer } => (12, 0, pointer.min(0xff) << 24),
    };
    let total = V4_ERROR_HEADER_LEN + quote;
    let out = pkt.data_mut();
    // IPv4 header: IHL 5, precedence Internetwork Control (RFC 1812
    // §4.3.2.5), DF (an atomic datagram, identification 0: RFC 6864).
    out[0] = 0x45;
    out[1] = 0xc0;
    out[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    out[4..8].copy_from_slice(&[0, 0, 0x40, 0]);
    out[8] = ERROR_HOP_LIMIT;
    out[9] = IpProtocol::ICMP.0;
    out[10..12].copy_from_slice(&[0, 0]);
    out[12..16].copy_from_slice(&src.octets());
    out[16..20].copy_from_slice(&to.octets());
    let sum = checksum::data(&out[..20]);
    out[10..12].copy_from_slice(&(!sum).to_be_bytes());
    out[20] = ty;
    out[21] = code;
    out[22..24].copy_from_slice(&[0, 0]);
    out[24..28].copy_from_slice(&word.to_be_bytes());
    let sum = checksum::data(&out[20..total]);
    out[22..24].copy_from_slice(&(!sum).to_be_bytes());
    Ok(())
}

/// A token bucket limiting the errors one worker sends, like the kernel's
/// `icmp_msgs_per_sec` / `icmp_msgs_burst`: `rate` tokens a second up to
/// `burst`, one per error. Plain integers, no allocation, no lock; the
/// caller passes a monotonic time in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct IcmpRateLimit {
    rate: u64,
    burst: u64,
    tokens: u64,
    /// When `tokens` was last topped up.
    last_ns: u64,
}

impl IcmpRateLimit {
    /// `rate` errors a second (0: none at all), bursts of `burst`; starts
    /// full.
    pub const fn new(rate: u32, burst: u32) -> IcmpRateLimit {
        IcmpRateLimit {
            rate: rate as u64,
            burst: burst as u64,
            tokens: burst as u64,
            last_ns: 0,
        }
    }

    /// Takes a token at time `now_ns` if there is one.
    pub fn allow(&mut self, now_ns: u64) -> bool {
        if self.rate == 0 {
            return false;
        }
        let elapsed = now_ns.saturating_sub(self.last_ns);
        let add = u128::from(elapsed) * u128::from(self.rate) / 1_000_000_000;
        if add > 0 {
            let add = u64::try_from(add).unwrap_or(u64::MAX);
            self.tokens = self.tokens.saturating_add(add).min(self.burst);
            // Keep the fraction of a token already earned.
            let used_ns = u128::from(add) * 1_000_000_000 / u128::from(self.rate);
            self.last_ns = if self.tokens == self.burst {
                now_ns
            } else {
                self.last_ns
                    .saturating_add(u64::try_from(used_ns).unwrap_or(u64::MAX))
            };
        } else if now_ns < self.last_ns {
            self.last_ns = now_ns;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}
