//! TCP MSS clamping at the edge of the overlay (the common SD-WAN edge
//! setting): the MSS option of a TCP SYN (or SYN-ACK) entering or leaving
//! the overlay is lowered so that the peers' segments, once encapsulated,
//! fit the WAN link: no Packet Too Big round trip, and it works for hosts
//! that ignore ICMP.
//!
//! [`clamp_syn`] works on an IP packet in place: IPv4 (not a fragment
//! other than the first) or IPv6 with TCP as its upper layer (extension
//! headers are walked), SYN set, an MSS option (kind 2, length 4) above the
//! limit: the option is rewritten and the TCP checksum updated
//! incrementally (RFC 1624). Every length is checked: no input can make it
//! panic or write outside the slice. No allocation.

use super::{Packet, RouteAction};
use crate::fib::{Fib, PortId, VrfId};
use crate::wire::checksum;
use crate::wire::ipv6ext;
use crate::wire::IpProtocol;

/// What MSS a clamped SYN may announce at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MssClamp {
    /// The egress MTU (the WAN port's, for a packet entering the overlay;
    /// the port it came in on, for one leaving it) minus the encapsulation
    /// and the fixed IP and TCP headers (RFC 6691: 20 + 20 octets for IPv4,
    /// 40 + 20 for IPv6).
    Auto,
    /// At most this many octets.
    Fixed(u16),
}

/// The smallest MSS a clamp sets (RFC 879's default; an IPv4 host must
/// accept it).
pub const MIN_MSS: u16 = 536;

/// Lowers the MSS option of the TCP SYN in `ip` (an IPv4 or IPv6 packet,
/// the slice ending where the packet ends) to `max` if it announces more.
/// True if the packet was changed.
pub fn clamp_syn(ip: &mut [u8], max: u16) -> bool {
    let Some(tcp) = tcp_offset(ip) else {
        return false;
    };
    let Some(seg) = ip.get_mut(tcp..) else {
        return false;
    };
    if seg.len() < 20 || seg[13] & 0x02 == 0 {
        return false;
    }
    let header = usize::from(seg[12] >> 4) * 4;
    if header < 20 || header > seg.len() {
        return false;
    }
    let mut i = 20;
    while i < header {
        match seg[i] {
            0 => return false,
            1 => i += 1,
            kind => {
                let Some(&len) = seg.get(i + 1) else {
                    return false;
                };
                let len = usize::from(len);
                if len < 2 || i + len > header {
                    return false;
                }
                if kind == 2 && len == 4 {
                    let mss = u16::from_be_bytes([seg[i + 2], seg[i + 3]]);
                    if mss <= max {
                        return false;
                    }
                    let sum = u16::from_be_bytes([seg[16], seg[17]]);
                    // Update the 16-bit words the value spans: it starts
                    // at an odd offset after an odd number of NOPs.
                    let (w, n) = if i % 2 == 0 { (i + 2, 2) } else { (i + 1, 4) };
                    let mut old = [0u8; 4];
                    old[..n].copy_from_slice(&seg[w..w + n]);
                    seg[i + 2..i + 4].copy_from_slice(&max.to_be_bytes());
                    let mut new = [0u8; 4];
                    new[..n].copy_from_slice(&seg[w..w + n]);
                    let sum = checksum::update_bytes(sum, &old[..n], &new[..n]);
                    seg[16..18].copy_from_slice(&sum.to_be_bytes());
                    return true;
                }
                i += len;
            }
        }
    }
    false
}

/// Where the TCP header of `ip` starts, if its upper layer is TCP and this
/// is the first (or only) fragment.
fn tcp_offset(ip: &[u8]) -> Option<usize> {
    match ip.first()? >> 4 {
        4 => {
            if ip.len() < 20 {
                return None;
            }
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let frag_offset = u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff;
            (ip[9] == IpProtocol::TCP.0 && ihl >= 20 && frag_offset == 0).then_some(ihl)
        }
        6 => {
            if ip.len() < 40 {
                return None;
            }
            let chain = ipv6ext::walk(IpProtocol(ip[6]), &ip[40..]).ok()?;
            (chain.upper_protocol == IpProtocol::TCP && !chain.non_first_fragment)
                .then_some(40 + chain.upper_offset)
        }
        _ => None,
    }
}

/// MSS clamping for a packet [`process`](super::process) has just sent to
/// `egress`: one entering the overlay (encapsulated: its origin, the inner
/// packet, starts after the packet) is limited by the egress port's MTU
/// less the encapsulation; one leaving it (decapsulated into a VRF: its
/// origin starts after `received_start`, where the packet began when it
/// arrived) by what the way back takes: the SR policy its VRF routes the
/// packet's source into (its encapsulation, its egress port's MTU). Plain
/// forwarding within a VRF or the underlay, and a way back that is no
/// policy, are left alone (a [`MssClamp::Fixed`] clamp applies to every
/// packet entering or leaving). `mtu` gives a port's MTU. True if the MSS
/// was lowered.
pub fn clamp_at_overlay_edge(
    fib: &Fib,
    pkt: &mut Packet<'_>,
    clamp: MssClamp,
    received_start: usize,
    egress: PortId,
    mtu: impl Fn(PortId) -> Option<usize>,
) -> bool {
    let Some((origin, vrf)) = pkt.origin() else {
        return false;
    };
    if vrf == super::UNDERLAY {
        return false;
    }
    let entering = pkt.start() < origin;
    let added = origin.saturating_sub(pkt.start());
    let leaving = pkt.start() == origin && origin > received_start;
    if !(entering || leaving) {
        return false;
    }
    let Some(inner) = pkt.origin_mut() else {
        return false;
    };
    let v6 = inner.first().map(|b| b >> 4) == Some(6);
    let max = match clamp {
        MssClamp::Fixed(n) => n,
        MssClamp::Auto => {
            let (overhead, port) = if entering {
                (added, egress)
            } else {
                match way_back(fib, vrf, inner) {
                    Some(back) => back,
                    None => return false,
                }
            };
            let Some(mtu) = mtu(port) else {
                return false;
            };
            let fixed = if v6 { 60 } else { 40 };
            u16::try_from(mtu.saturating_sub(overhead + fixed)).unwrap_or(u16::MAX)
        }
    }
    .max(MIN_MSS);
    clamp_syn(inner, max)
}

/// The encapsulation and egress port of the SR policy that `vrf` routes
/// the source of `ip` into, if it does.
fn way_back(fib: &Fib, vrf: VrfId, ip: &[u8]) -> Option<(usize, PortId)> {
    let table = fib.vrf(vrf)?;
    let action = match ip.first()? >> 4 {
        4 if ip.len() >= 20 => {
            table.lookup_v4(std::net::Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]))
        }
        6 if ip.len() >= 40 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&ip[8..24]);
            table.lookup_v6(std::net::Ipv6Addr::from(a))
        }
        _ => None,
    };
    let Some(RouteAction::Encap(id)) = action else {
        return None;
    };
    let (policy, adj) = fib.policy_with_egress(id)?;
    Some((policy.encap_len(), adj?.port))
}
