//! Example-based tests of the SRv6 behaviours (RFC 8986) and the routing
//! decision around them ([`dataplane::behavior::process`]).
//!
//! Every input packet is built with the wire `Repr`s; every expectation is
//! derived from the input and what RFC 8986 / RFC 8754 / Linux prescribe
//! (field by field, or as "the input with these fields changed through the
//! wire setters"), never copied from an output of the code under test.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;

use dataplane::behavior::{
    h_encaps, process, Behavior, BehaviorSet, DropReason, EncapMode, EncapPolicy, FlowLabelMode,
    Packet, PolicyError, SidBehavior, Verdict, MAX_ENCAP_LEN, MAX_LOCAL_SID_PASSES, MAX_SEGMENTS,
    UNDERLAY,
};
use dataplane::fib::{
    Adjacency, Fib, FibBuilder, FibError, NextHop, PolicyId, PortId, RouteAction, VrfId, MAX_VRFS,
};
use dataplane::wire::checksum;
use dataplane::wire::ipv4::{Ipv4Options, Ipv4Packet, Ipv4Repr};
use dataplane::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use dataplane::wire::ipv6ext::{
    FragmentHeader, FragmentRepr, Ipv6OptionRepr, Ipv6OptionsHeader, Ipv6OptionsRepr,
    RoutingHeader, MAX_EXT_HEADERS,
};
use dataplane::wire::srh::{Srh, SrhRepr};
use dataplane::wire::udp::{UdpPacket, UdpRepr};
use dataplane::wire::{Error as WireError, IpProtocol};

// ---------------------------------------------------------------------------
// Addresses and the node under test
// ---------------------------------------------------------------------------

const fn a6(a: u16, b: u16, c: u16, h: u16) -> Ipv6Addr {
    Ipv6Addr::new(a, b, c, 0, 0, 0, 0, h)
}

/// Source of every SR policy of the ingress node.
const POLICY_SRC: Ipv6Addr = a6(0xfc00, 0xa, 0, 1);
/// Source of the SRv6 packets the node under test receives.
const REMOTE_SRC: Ipv6Addr = a6(0xfc00, 0xb, 0, 1);

/// Local SIDs of the node under test.
const END: Ipv6Addr = a6(0xfc00, 1, 0, 0xe);
const END_X: Ipv6Addr = a6(0xfc00, 1, 0, 0xe1);
const DT6: Ipv6Addr = a6(0xfc00, 1, 0, 0xd6);
const DT4: Ipv6Addr = a6(0xfc00, 1, 0, 0xd4);
const DT46: Ipv6Addr = a6(0xfc00, 1, 0, 0xd46);
const DT46_B: Ipv6Addr = a6(0xfc00, 1, 0, 0xb46);
const DX4: Ipv6Addr = a6(0xfc00, 1, 0, 0xdd4);
const DX6: Ipv6Addr = a6(0xfc00, 1, 0, 0xdd6);

/// SIDs of other nodes, reached through the underlay.
const REMOTE_1: Ipv6Addr = a6(0xfc00, 2, 0, 1);
const REMOTE_2: Ipv6Addr = a6(0xfc00, 2, 0, 2);
/// An on-link destination (underlay route with a direct next hop).
const ONLINK: Ipv6Addr = a6(0xfc00, 3, 0, 1);
/// No underlay route covers this.
const UNROUTED: Ipv6Addr = a6(0x2001, 0xdb8, 0xdead, 1);

const VRF_A: VrfId = 10;
const VRF_B: VrfId = 20;

const UNDERLAY_ADJ: Adjacency = Adjacency {
    port: PortId(1),
    next_hop: NextHop::V6(a6(0xfe80, 0, 0, 1)),
};
const ONLINK_PORT: PortId = PortId(2);
const VRF_A_ADJ4: Adjacency = Adjacency {
    port: PortId(3),
    next_hop: NextHop::V4(Ipv4Addr::new(10, 255, 0, 1)),
};
const VRF_A_ADJ6: Adjacency = Adjacency {
    port: PortId(3),
    next_hop: NextHop::V6(a6(0xfe80, 0, 0, 3)),
};
const VRF_B_ADJ4: Adjacency = Adjacency {
    port: PortId(4),
    next_hop: NextHop::V4(Ipv4Addr::new(10, 255, 0, 2)),
};
const END_X_ADJ: Adjacency = Adjacency {
    port: PortId(7),
    next_hop: NextHop::V6(a6(0xfe80, 0, 0, 7)),
};
const DX4_ADJ: Adjacency = Adjacency {
    port: PortId(8),
    next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 8)),
};
const DX6_ADJ: Adjacency = Adjacency {
    port: PortId(9),
    next_hop: NextHop::V6(a6(0xfe80, 0, 0, 9)),
};

/// Inner destinations.
const LAN4: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 3);
const LAN6: Ipv6Addr = a6(0x2001, 0xdb8, 0x10, 5);
const HOST4: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 9);
const HOST6: Ipv6Addr = a6(0x2001, 0xdb8, 0x99, 9);
/// Destinations the ingress VRF encapsulates.
const ENCAP4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const ENCAP6: Ipv6Addr = a6(0x2001, 0xdb8, 0xaa, 7);

fn fwd(adj: Adjacency, direct_dst: IpAddr) -> Verdict {
    let next_hop = match adj.next_hop {
        NextHop::V4(a) => IpAddr::V4(a),
        NextHop::V6(a) => IpAddr::V6(a),
        NextHop::Direct => direct_dst,
    };
    Verdict::Forward {
        port: adj.port,
        next_hop,
    }
}

fn underlay_fwd() -> Verdict {
    fwd(UNDERLAY_ADJ, IpAddr::V6(Ipv6Addr::UNSPECIFIED))
}

/// The node under test: every behaviour as a SID, two VRFs with the same
/// IPv4 prefix on different ports, routes in the underlay.
fn node() -> Fib {
    let mut b = FibBuilder::new();
    b.add_route_v6(
        UNDERLAY,
        a6(0xfc00, 2, 0, 0),
        32,
        RouteAction::Forward(UNDERLAY_ADJ),
    )
    .unwrap();
    b.add_route_v6(
        UNDERLAY,
        a6(0xfc00, 3, 0, 0),
        32,
        RouteAction::Forward(Adjacency {
            port: ONLINK_PORT,
            next_hop: NextHop::Direct,
        }),
    )
    .unwrap();
    b.add_route_v6(
        UNDERLAY,
        a6(0x2001, 0xdb8, 0xbad, 0),
        48,
        RouteAction::Blackhole,
    )
    .unwrap();
    b.add_route_v4(
        VRF_A,
        Ipv4Addr::new(10, 0, 0, 0),
        8,
        RouteAction::Forward(VRF_A_ADJ4),
    )
    .unwrap();
    b.add_route_v4(
        VRF_A,
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        RouteAction::Blackhole,
    )
    .unwrap();
    b.add_route_v4(VRF_A, Ipv4Addr::new(192, 0, 2, 1), 32, RouteAction::Local)
        .unwrap();
    b.add_route_v6(
        VRF_A,
        a6(0x2001, 0xdb8, 0x10, 0),
        48,
        RouteAction::Forward(VRF_A_ADJ6),
    )
    .unwrap();
    b.add_route_v4(
        VRF_B,
        Ipv4Addr::new(10, 0, 0, 0),
        8,
        RouteAction::Forward(VRF_B_ADJ4),
    )
    .unwrap();
    b.add_sid(END, SidBehavior::End).unwrap();
    b.add_sid(END_X, SidBehavior::EndX(END_X_ADJ)).unwrap();
    b.add_sid(DT6, SidBehavior::EndDT6 { vrf: VRF_A }).unwrap();
    b.add_sid(DT4, SidBehavior::EndDT4 { vrf: VRF_A }).unwrap();
    b.add_sid(DT46, SidBehavior::EndDT46 { vrf: VRF_A })
        .unwrap();
    b.add_sid(DT46_B, SidBehavior::EndDT46 { vrf: VRF_B })
        .unwrap();
    b.add_sid(DX4, SidBehavior::EndDX4(DX4_ADJ)).unwrap();
    b.add_sid(DX6, SidBehavior::EndDX6(DX6_ADJ)).unwrap();
    b.build().unwrap()
}

/// An ingress node: VRF_A steers ENCAP4/24 and ENCAP6/48 into `policy`,
/// the underlay reaches every fc00::/16 SID through port 1.
fn ingress(policy: EncapPolicy) -> Fib {
    let mut b = FibBuilder::new();
    let id = b.add_policy(policy);
    b.add_route_v6(
        UNDERLAY,
        a6(0xfc00, 0, 0, 0),
        16,
        RouteAction::Forward(UNDERLAY_ADJ),
    )
    .unwrap();
    b.add_route_v4(
        VRF_A,
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        RouteAction::Encap(id),
    )
    .unwrap();
    b.add_route_v6(
        VRF_A,
        a6(0x2001, 0xdb8, 0xaa, 0),
        48,
        RouteAction::Encap(id),
    )
    .unwrap();
    b.build().unwrap()
}

/// `n` SIDs of remote nodes, in travel order.
fn segments(n: usize) -> Vec<Ipv6Addr> {
    (0..n).map(|i| a6(0xfc00, 2, 0, i as u16 + 1)).collect()
}

// ---------------------------------------------------------------------------
// Packet construction (wire Reprs only)
// ---------------------------------------------------------------------------

fn fill_payload(buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(7) ^ 0x5a;
    }
}

fn udp4_with(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    sport: u16,
    data: usize,
    options: &[u8],
) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol::UDP,
        ttl,
        tos: 0xb8,
        ident: 0x1234,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        options: Ipv4Options::new(options).unwrap(),
        payload_len: 8 + data,
    };
    let mut v = vec![0u8; ip.buffer_len()];
    let hl = ip.header_len();
    fill_payload(&mut v[hl + 8..]);
    let mut udp = UdpPacket::new_unchecked(&mut v[hl..]);
    UdpRepr {
        src_port: sport,
        dst_port: 7,
        payload_len: data,
    }
    .emit(&mut udp);
    udp.fill_checksum_v4(src, dst);
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut v[..]));
    v
}

/// An IPv4/UDP datagram with `data` octets of UDP data.
fn udp4(dst: Ipv4Addr, ttl: u8, data: usize) -> Vec<u8> {
    udp4_with(Ipv4Addr::new(10, 9, 8, 7), dst, ttl, 40000, data, &[])
}

fn udp6_with(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hl: u8,
    tc: u8,
    flow: u32,
    sport: u16,
    data: usize,
) -> Vec<u8> {
    let ip = Ipv6Repr {
        src,
        dst,
        next_header: IpProtocol::UDP,
        hop_limit: hl,
        traffic_class: tc,
        flow_label: flow,
        payload_len: (8 + data) as u16,
    };
    let mut v = vec![0u8; 40 + 8 + data];
    fill_payload(&mut v[48..]);
    let mut udp = UdpPacket::new_unchecked(&mut v[40..]);
    UdpRepr {
        src_port: sport,
        dst_port: 7,
        payload_len: data,
    }
    .emit(&mut udp);
    udp.fill_checksum_v6(src, dst);
    ip.emit(&mut Ipv6Packet::new_unchecked(&mut v[..]));
    v
}

/// An IPv6/UDP datagram (traffic class 0xb8, flow label 0x12345).
fn udp6(dst: Ipv6Addr, hl: u8, data: usize) -> Vec<u8> {
    udp6_with(
        a6(0x2001, 0xdb8, 0x77, 1),
        dst,
        hl,
        0xb8,
        0x12345,
        41000,
        data,
    )
}

/// Just a UDP header and data (the upper layer of a packet to a SID).
fn udp_only(data: usize) -> Vec<u8> {
    let mut v = vec![0u8; 8 + data];
    UdpRepr {
        src_port: 862,
        dst_port: 862,
        payload_len: data,
    }
    .emit(&mut UdpPacket::new_unchecked(&mut v[..]));
    v
}

/// An SRH steering along `path` (travel order) with Segments Left `sl`.
fn srh(path: &[Ipv6Addr], sl: u8) -> Vec<u8> {
    let mut repr = SrhRepr::from_path(IpProtocol::IPV6_NO_NXT, path);
    repr.segments_left = sl;
    let mut v = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Srh::new_unchecked(&mut v[..]));
    v
}

fn dest_opts() -> Vec<u8> {
    let repr = Ipv6OptionsRepr {
        next_header: IpProtocol::IPV6_NO_NXT,
        // An unknown option whose type says "skip if unrecognised".
        options: vec![Ipv6OptionRepr::Other {
            opt_type: 0x1e,
            data: vec![1, 2, 3],
        }],
    };
    let mut v = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Ipv6OptionsHeader::new_unchecked(&mut v[..]));
    v
}

fn fragment(offset: u16, more: bool) -> Vec<u8> {
    let repr = FragmentRepr {
        next_header: IpProtocol::IPV6_NO_NXT,
        frag_offset: offset,
        more_frags: more,
        ident: 0xdead_beef,
    };
    let mut v = vec![0u8; repr.buffer_len()];
    repr.emit(&mut FragmentHeader::new_unchecked(&mut v[..]));
    v
}

/// An IPv6 packet: fixed header, the extension headers `exts` (their Next
/// Header octets are chained here), then the upper layer.
fn ipv6(
    dst: Ipv6Addr,
    hl: u8,
    exts: &[(IpProtocol, Vec<u8>)],
    upper: IpProtocol,
    body: &[u8],
) -> Vec<u8> {
    let ext_len: usize = exts.iter().map(|(_, h)| h.len()).sum();
    let first = exts.first().map_or(upper, |(p, _)| *p);
    let ip = Ipv6Repr {
        src: REMOTE_SRC,
        dst,
        next_header: first,
        hop_limit: hl,
        traffic_class: 0,
        flow_label: 0xabcde,
        payload_len: (ext_len + body.len()) as u16,
    };
    let mut v = vec![0u8; 40];
    ip.emit(&mut Ipv6Packet::new_unchecked(&mut v[..]));
    for (i, (_, h)) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map_or(upper, |(p, _)| *p);
        let mut h = h.clone();
        h[0] = next.0;
        v.extend_from_slice(&h);
    }
    v.extend_from_slice(body);
    v
}

/// An SRv6 packet to `dst` with one SRH (path, Segments Left) around `inner`.
fn srv6(dst: Ipv6Addr, path: &[Ipv6Addr], sl: u8, upper: IpProtocol, inner: &[u8]) -> Vec<u8> {
    ipv6(
        dst,
        64,
        &[(IpProtocol::IPV6_ROUTE, srh(path, sl))],
        upper,
        inner,
    )
}

// ---------------------------------------------------------------------------
// Running packets
// ---------------------------------------------------------------------------

const HEADROOM: usize = MAX_ENCAP_LEN + 32;

struct Run {
    verdict: Verdict,
    /// The packet after processing.
    out: Vec<u8>,
    start: usize,
    /// The whole buffer after processing.
    buf: Vec<u8>,
    /// The behaviours that ran.
    ran: BehaviorSet,
}

/// Puts `frame` (an IP packet and maybe link-layer padding; `ip_len` octets
/// are given to the Packet) at `headroom` in a fresh buffer and processes it.
fn run_in(fib: &Fib, vrf: VrfId, frame: &[u8], headroom: usize) -> Run {
    let mut buf = vec![0u8; headroom + frame.len()];
    buf[headroom..].copy_from_slice(frame);
    let mut pkt = Packet::new(&mut buf, headroom, frame.len()).unwrap();
    let verdict = process(fib, vrf, &mut pkt);
    let (out, start, ran) = (pkt.data().to_vec(), pkt.start(), pkt.behaviors());
    Run {
        verdict,
        out,
        start,
        buf,
        ran,
    }
}

fn run(fib: &Fib, vrf: VrfId, frame: &[u8]) -> Run {
    run_in(fib, vrf, frame, HEADROOM)
}

fn verdict(fib: &Fib, vrf: VrfId, frame: &[u8]) -> Verdict {
    run(fib, vrf, frame).verdict
}

fn malformed(e: WireError) -> Verdict {
    Verdict::Drop(DropReason::Malformed(e))
}

/// `p` with its IPv6 Hop Limit decremented (the forwarding step).
fn hl_minus_one(p: &[u8]) -> Vec<u8> {
    let mut v = p.to_vec();
    let mut ip = Ipv6Packet::new_checked(&mut v[..]).unwrap();
    let hl = ip.hop_limit();
    ip.set_hop_limit(hl - 1);
    v
}

/// `p` with its TTL decremented and the header checksum computed afresh.
fn ttl_minus_one(p: &[u8]) -> Vec<u8> {
    let mut v = p.to_vec();
    let mut ip = Ipv4Packet::new_checked(&mut v[..]).unwrap();
    let ttl = ip.ttl();
    ip.set_ttl(ttl - 1);
    ip.fill_checksum();
    v
}

/// The IPv4 header checksum recomputed over the header with the field
/// zeroed equals the field.
fn ipv4_checksum_valid(p: &[u8]) -> bool {
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let mut header = p[..ihl].to_vec();
    let stored = u16::from_be_bytes([header[10], header[11]]);
    header[10] = 0;
    header[11] = 0;
    !checksum::data(&header) == stored
}

// ---------------------------------------------------------------------------
// H.Encaps
// ---------------------------------------------------------------------------

/// Checks an H.Encaps result (after the forwarding step) field by field:
/// RFC 8986 §5.1 and Linux `seg6_do_srh_encap` defaults.
fn check_h_encaps(out: &[u8], segs: &[Ipv6Addr], inner: &[u8]) {
    let n = segs.len();
    let srh_len = 8 + 16 * n;
    let v6_inner = inner[0] >> 4 == 6;
    assert_eq!(out.len(), 40 + srh_len + inner.len(), "n={n}");
    let ip = Ipv6Packet::new_checked(out).unwrap();
    assert_eq!(ip.version(), 6);
    if v6_inner {
        let i = Ipv6Packet::new_checked(inner).unwrap();
        assert_eq!(
            ip.traffic_class(),
            i.traffic_class(),
            "TC copied from the inner header"
        );
        assert_eq!(
            ip.flow_label(),
            i.flow_label(),
            "flow label copied (seg6_flowlabel = 0)"
        );
        assert_eq!(
            ip.hop_limit(),
            i.hop_limit() - 1,
            "inner HL, then forwarded"
        );
    } else {
        assert_eq!(ip.traffic_class(), 0);
        assert_eq!(ip.flow_label(), 0);
        assert_eq!(ip.hop_limit(), 63, "64, then forwarded");
    }
    assert_eq!(usize::from(ip.payload_len()), srh_len + inner.len());
    assert_eq!(ip.next_header(), IpProtocol::IPV6_ROUTE);
    assert_eq!(ip.src_addr(), POLICY_SRC);
    assert_eq!(ip.dst_addr(), segs[0], "DA = first SID");

    let s = Srh::new_checked(&out[40..40 + srh_len]).unwrap();
    let want_nh = if v6_inner {
        IpProtocol::IPV6
    } else {
        IpProtocol::IPV4
    };
    assert_eq!(s.next_header(), want_nh);
    assert_eq!(usize::from(s.hdr_ext_len()), 2 * n);
    assert_eq!(s.routing_type(), 4);
    assert_eq!(usize::from(s.segments_left()), n - 1);
    assert_eq!(usize::from(s.last_entry()), n - 1);
    assert_eq!(s.flags(), 0);
    assert_eq!(s.tag(), 0);
    for (i, seg) in segs.iter().enumerate() {
        assert_eq!(s.segment(n - 1 - i), *seg, "segment list is reversed");
    }
    assert!(s.tlv_bytes().is_empty());
    assert_eq!(&out[40 + srh_len..], inner, "inner packet unchanged");
}

#[test]
fn h_encaps_ipv6_and_ipv4_inner_1_2_3_16_sids() {
    for n in [1, 2, 3, MAX_SEGMENTS] {
        let segs = segments(n);
        let fib = ingress(EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &segs).unwrap());

        let inner6 = udp6(ENCAP6, 57, 30);
        let r = run(&fib, VRF_A, &inner6);
        assert_eq!(r.verdict, underlay_fwd(), "n={n}");
        check_h_encaps(&r.out, &segs, &inner6);
        assert_eq!(r.start, HEADROOM - (48 + 16 * n), "grew into the headroom");

        let inner4 = udp4(ENCAP4, 17, 30);
        let r = run(&fib, VRF_A, &inner4);
        assert_eq!(r.verdict, underlay_fwd(), "n={n}");
        check_h_encaps(&r.out, &segs, &inner4);
        assert_eq!(
            Ipv4Packet::new_checked(&r.out[r.out.len() - inner4.len()..])
                .unwrap()
                .ttl(),
            17
        );
    }
}

#[test]
fn h_encaps_alone_builds_the_same_headers_without_forwarding() {
    let segs = segments(3);
    let policy = EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &segs).unwrap();
    assert_eq!(policy.encap_len(), 40 + 8 + 48);
    assert_eq!(policy.first_segment(), segs[0]);
    assert_eq!(policy.segments(), &segs[..]);
    let inner = udp6(ENCAP6, 57, 10);
    let mut buf = vec![0u8; HEADROOM + inner.len()];
    buf[HEADROOM..].copy_from_slice(&inner);
    let mut pkt = Packet::new(&mut buf, HEADROOM, inner.len()).unwrap();
    h_encaps(&mut pkt, &policy).unwrap();
    // Before forwarding the outer Hop Limit is the inner one.
    let out = pkt.data().to_vec();
    assert_eq!(Ipv6Packet::new_checked(&out[..]).unwrap().hop_limit(), 57);
    check_h_encaps(&hl_minus_one(&out), &segs, &inner);
}

#[test]
fn h_encaps_ipv4_hop_limit_is_configurable() {
    let policy = EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &segments(1))
        .unwrap()
        .with_ipv4_hop_limit(10)
        .unwrap();
    let r = run(&ingress(policy), VRF_A, &udp4(ENCAP4, 64, 0));
    assert_eq!(r.verdict, underlay_fwd());
    assert_eq!(Ipv6Packet::new_checked(&r.out[..]).unwrap().hop_limit(), 9);
}

#[test]
fn h_encaps_inner_hop_limit_one_is_not_forwarded() {
    // The outer Hop Limit is copied from the inner one (1), so the
    // forwarding step of the outer packet drops it (Linux: ip6_forward).
    let fib = ingress(EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &segments(2)).unwrap());
    assert_eq!(
        verdict(&fib, VRF_A, &udp6(ENCAP6, 1, 0)),
        Verdict::Drop(DropReason::HopLimitExceeded)
    );
}

#[test]
fn h_encaps_drops_ethernet_padding() {
    let segs = segments(2);
    let fib = ingress(EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &segs).unwrap());
    // A 46-octet IPv4 datagram in a minimum-size 60-octet frame payload.
    let inner = udp4(ENCAP4, 64, 18);
    assert_eq!(inner.len(), 46);
    let mut frame = inner.clone();
    frame.resize(60, 0xee);
    let r = run(&fib, VRF_A, &frame);
    assert_eq!(r.verdict, underlay_fwd());
    check_h_encaps(&r.out, &segs, &inner);

    // Same for IPv6: 50 octets padded to 64.
    let inner = udp6(ENCAP6, 64, 2);
    let mut frame = inner.clone();
    frame.resize(64, 0xee);
    let r = run(&fib, VRF_A, &frame);
    assert_eq!(r.verdict, underlay_fwd());
    check_h_encaps(&r.out, &segs, &inner);
}

#[test]
fn policy_limits_and_errors() {
    let segs = segments(MAX_SEGMENTS + 1);
    assert_eq!(
        EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &segs).unwrap_err(),
        PolicyError::TooManySegments(17)
    );
    assert_eq!(
        EncapPolicy::new(EncapMode::EncapsRed, POLICY_SRC, &segs).unwrap_err(),
        PolicyError::TooManySegments(17)
    );
    assert!(EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &segs[..16]).is_ok());
    assert_eq!(
        EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &[]).unwrap_err(),
        PolicyError::NoSegments
    );
    let mcast: Ipv6Addr = "ff02::1".parse().unwrap();
    assert_eq!(
        EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &[REMOTE_1, mcast]).unwrap_err(),
        PolicyError::BadSegment {
            index: 1,
            addr: mcast
        }
    );
    assert_eq!(
        EncapPolicy::new(EncapMode::Encaps, Ipv6Addr::UNSPECIFIED, &[REMOTE_1]).unwrap_err(),
        PolicyError::BadSource(Ipv6Addr::UNSPECIFIED)
    );
    assert_eq!(
        EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &[REMOTE_1])
            .unwrap()
            .with_ipv4_hop_limit(0)
            .unwrap_err(),
        PolicyError::ZeroHopLimit
    );
}

fn encap_label(policy: &EncapPolicy, inner: &[u8]) -> u32 {
    let mut buf = vec![0u8; HEADROOM + inner.len()];
    buf[HEADROOM..].copy_from_slice(inner);
    let mut pkt = Packet::new(&mut buf, HEADROOM, inner.len()).unwrap();
    h_encaps(&mut pkt, policy).unwrap();
    Ipv6Packet::new_checked(pkt.data()).unwrap().flow_label()
}

#[test]
fn flow_label_hash_is_per_flow() {
    let policy = EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &segments(2))
        .unwrap()
        .with_flow_label(FlowLabelMode::Hash);
    let src4 = Ipv4Addr::new(10, 9, 8, 7);
    let src6 = a6(0x2001, 0xdb8, 0x77, 1);
    // Same flow, different TTL / length / inner flow label: same label.
    let l4 = encap_label(&policy, &udp4_with(src4, ENCAP4, 64, 5000, 10, &[]));
    assert_ne!(l4, 0);
    assert!(l4 < 1 << 20);
    assert_eq!(
        l4,
        encap_label(&policy, &udp4_with(src4, ENCAP4, 3, 5000, 99, &[]))
    );
    let l6 = encap_label(&policy, &udp6_with(src6, ENCAP6, 64, 0, 1, 5000, 10));
    assert_ne!(l6, 0);
    assert!(l6 < 1 << 20);
    assert_eq!(
        l6,
        encap_label(&policy, &udp6_with(src6, ENCAP6, 9, 0x20, 7, 5000, 70))
    );
    // Different flows (source ports, addresses): labels usually differ.
    let mut labels4 = HashSet::new();
    let mut labels6 = HashSet::new();
    for port in 0..64u16 {
        labels4.insert(encap_label(
            &policy,
            &udp4_with(src4, ENCAP4, 64, 1000 + port, 10, &[]),
        ));
        labels6.insert(encap_label(
            &policy,
            &udp6_with(src6, ENCAP6, 64, 0, 0, 1000 + port, 10),
        ));
    }
    for host in 0..64u8 {
        let src = Ipv4Addr::new(10, 9, 0, host);
        labels4.insert(encap_label(
            &policy,
            &udp4_with(src, ENCAP4, 64, 1, 10, &[]),
        ));
    }
    assert!(
        labels4.len() >= 120,
        "{} distinct labels of 128",
        labels4.len()
    );
    assert!(
        labels6.len() >= 60,
        "{} distinct labels of 64",
        labels6.len()
    );
    assert!(!labels4.contains(&0) && !labels6.contains(&0));
}

#[test]
fn flow_label_zero_mode() {
    let policy = EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &segments(2))
        .unwrap()
        .with_flow_label(FlowLabelMode::Zero);
    assert_eq!(encap_label(&policy, &udp6(ENCAP6, 64, 0)), 0);
}

#[test]
fn no_headroom_drops_and_leaves_the_packet_unchanged() {
    let fib = ingress(EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &segments(2)).unwrap());
    for inner in [udp4(ENCAP4, 64, 20), udp6(ENCAP6, 64, 20)] {
        // 79 octets of headroom: one short of the 40 + 8 + 32 needed.
        for headroom in [0, 79] {
            let r = run_in(&fib, VRF_A, &inner, headroom);
            assert_eq!(r.verdict, Verdict::Drop(DropReason::NoHeadroom));
            assert_eq!(r.start, headroom);
            assert_eq!(r.out, inner);
            assert!(r.buf[..headroom].iter().all(|b| *b == 0));
        }
        let r = run_in(&fib, VRF_A, &inner, 80);
        assert_eq!(r.verdict, underlay_fwd());
        assert_eq!(r.start, 0);
    }
}

#[test]
fn h_encaps_error_changes_nothing_even_with_padding() {
    // `h_encaps` documents "on error nothing has been changed"; a padded
    // packet without headroom must keep its length (padding included).
    let policy = EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &segments(2)).unwrap();
    let mut frame = udp4(ENCAP4, 64, 18);
    frame.resize(60, 0xee);
    let mut buf = frame.clone();
    let mut pkt = Packet::new(&mut buf, 0, 60).unwrap();
    assert_eq!(h_encaps(&mut pkt, &policy), Err(DropReason::NoHeadroom));
    assert_eq!(pkt.start(), 0);
    assert_eq!(pkt.len(), 60, "h_encaps changed the packet length on error");
}

#[test]
fn h_encaps_packet_too_big() {
    let policy = EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &segments(2)).unwrap();
    // An IPv6 packet with the largest Payload Length: adding 8 + 32 octets
    // of SRH to it overflows the outer Payload Length.
    let inner = udp6(ENCAP6, 64, 65535 - 8);
    assert_eq!(inner.len(), 40 + 65535);
    let r = run(&ingress(policy), VRF_A, &inner);
    assert_eq!(r.verdict, Verdict::Drop(DropReason::PacketTooBig));
    assert_eq!(r.start, HEADROOM);
    // The largest that fits: outer payload 40 + inner = 65535.
    let policy = EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &segments(2)).unwrap();
    let inner = udp6(ENCAP6, 64, 65535 - 40 - 40 - 8);
    assert_eq!(verdict(&ingress(policy), VRF_A, &inner), underlay_fwd());
}

// ---------------------------------------------------------------------------
// H.Encaps.Red
// ---------------------------------------------------------------------------

#[test]
fn h_encaps_red_one_sid_has_no_srh() {
    let fib = ingress(EncapPolicy::new(EncapMode::EncapsRed, POLICY_SRC, &[REMOTE_1]).unwrap());
    for (inner, proto) in [
        (udp6(ENCAP6, 33, 12), IpProtocol::IPV6),
        (udp4(ENCAP4, 33, 12), IpProtocol::IPV4),
    ] {
        let r = run(&fib, VRF_A, &inner);
        assert_eq!(r.verdict, underlay_fwd());
        assert_eq!(r.out.len(), 40 + inner.len());
        let ip = Ipv6Packet::new_checked(&r.out[..]).unwrap();
        assert_eq!(ip.next_header(), proto);
        assert_eq!(usize::from(ip.payload_len()), inner.len());
        assert_eq!(ip.dst_addr(), REMOTE_1);
        assert_eq!(ip.src_addr(), POLICY_SRC);
        let want_hl = if proto == IpProtocol::IPV6 { 32 } else { 63 };
        assert_eq!(ip.hop_limit(), want_hl);
        assert_eq!(&r.out[40..], &inner[..]);
    }
}

#[test]
fn h_encaps_red_srh_omits_the_first_sid() {
    for n in [2usize, 3, MAX_SEGMENTS] {
        let segs = segments(n);
        let fib = ingress(EncapPolicy::new(EncapMode::EncapsRed, POLICY_SRC, &segs).unwrap());
        for inner in [udp6(ENCAP6, 33, 12), udp4(ENCAP4, 33, 12)] {
            let r = run(&fib, VRF_A, &inner);
            assert_eq!(r.verdict, underlay_fwd());
            let srh_len = 8 + 16 * (n - 1);
            assert_eq!(r.out.len(), 40 + srh_len + inner.len());
            let ip = Ipv6Packet::new_checked(&r.out[..]).unwrap();
            assert_eq!(ip.next_header(), IpProtocol::IPV6_ROUTE);
            assert_eq!(ip.dst_addr(), segs[0]);
            assert_eq!(usize::from(ip.payload_len()), srh_len + inner.len());
            let s = Srh::new_checked(&r.out[40..40 + srh_len]).unwrap();
            let inner_nh = if inner[0] >> 4 == 6 {
                IpProtocol::IPV6
            } else {
                IpProtocol::IPV4
            };
            assert_eq!(s.next_header(), inner_nh);
            assert_eq!(usize::from(s.hdr_ext_len()), 2 * (n - 1));
            assert_eq!(usize::from(s.last_entry()), n - 2);
            assert_eq!(usize::from(s.segments_left()), n - 1);
            assert_eq!((s.flags(), s.tag()), (0, 0));
            for (i, seg) in segs.iter().enumerate().skip(1) {
                assert_eq!(s.segment(n - 1 - i), *seg, "Segment List[{}]", n - 1 - i);
            }
            assert_eq!(&r.out[40 + srh_len..], &inner[..]);
        }
    }
}

#[test]
fn h_encaps_red_then_end_reads_the_second_sid() {
    // The node that owns the first SID of a reduced SRH (SL = Last Entry + 1)
    // must move to Segment List[Last Entry] = the second SID.
    let segs = [END, REMOTE_1, REMOTE_2];
    let fib = ingress(EncapPolicy::new(EncapMode::EncapsRed, POLICY_SRC, &segs).unwrap());
    let encapsulated = run(&fib, VRF_A, &udp6(ENCAP6, 64, 12)).out;
    let r = run(&node(), UNDERLAY, &encapsulated);
    assert_eq!(r.verdict, underlay_fwd());
    let ip = Ipv6Packet::new_checked(&r.out[..]).unwrap();
    assert_eq!(ip.dst_addr(), REMOTE_1);
    assert_eq!(Srh::new_checked(&r.out[40..]).unwrap().segments_left(), 1);
}

// ---------------------------------------------------------------------------
// End, End.X
// ---------------------------------------------------------------------------

#[test]
fn end_advances_to_the_next_segment_and_forwards() {
    let inner = udp6(LAN6, 64, 20);
    let input = srv6(END, &[END, REMOTE_1, REMOTE_2], 2, IpProtocol::IPV6, &inner);
    let r = run(&node(), UNDERLAY, &input);
    assert_eq!(r.verdict, underlay_fwd());
    // RFC 8986 §4.1: SL 2 -> 1, DA = Segment List[1] = REMOTE_1, HL - 1;
    // nothing else changes.
    let mut want = input.clone();
    {
        let mut ip = Ipv6Packet::new_checked(&mut want[..]).unwrap();
        ip.set_hop_limit(63);
        ip.set_dst_addr(REMOTE_1);
        Srh::new_checked(&mut want[40..])
            .unwrap()
            .set_segments_left(1);
    }
    assert_eq!(r.out, want);
    let ip = Ipv6Packet::new_checked(&r.out[..]).unwrap();
    assert_eq!((ip.hop_limit(), ip.dst_addr()), (63, REMOTE_1));
    assert_eq!(Srh::new_checked(&r.out[40..]).unwrap().segments_left(), 1);
}

#[test]
fn end_to_the_last_segment_and_on_link_next_hop() {
    let input = srv6(END, &[END, ONLINK], 1, IpProtocol::IPV6, &udp6(LAN6, 64, 0));
    let r = run(&node(), UNDERLAY, &input);
    // Direct next hop: the neighbour is the new destination.
    assert_eq!(
        r.verdict,
        Verdict::Forward {
            port: ONLINK_PORT,
            next_hop: IpAddr::V6(ONLINK)
        }
    );
    let ip = Ipv6Packet::new_checked(&r.out[..]).unwrap();
    assert_eq!(ip.dst_addr(), ONLINK);
    assert_eq!(Srh::new_checked(&r.out[40..]).unwrap().segments_left(), 0);
}

#[test]
fn end_with_segments_left_zero_or_no_srh_is_local() {
    let fib = node();
    let input = srv6(END, &[REMOTE_1, END], 0, IpProtocol::UDP, &udp_only(16));
    let r = run(&fib, UNDERLAY, &input);
    assert_eq!(r.verdict, Verdict::Local);
    assert_eq!(r.out, input);
    let input = ipv6(END, 64, &[], IpProtocol::UDP, &udp_only(16));
    let r = run(&fib, UNDERLAY, &input);
    assert_eq!(r.verdict, Verdict::Local);
    assert_eq!(r.out, input);
    // Same for End.X.
    let input = ipv6(END_X, 64, &[], IpProtocol::UDP, &udp_only(16));
    assert_eq!(verdict(&fib, UNDERLAY, &input), Verdict::Local);
}

#[test]
fn end_segments_left_beyond_last_entry() {
    let fib = node();
    // Last Entry 1: SL 2 is a reduced SRH (allowed), SL 3..=255 are not.
    let ok = srv6(
        END,
        &[REMOTE_1, REMOTE_2],
        2,
        IpProtocol::IPV6,
        &udp6(LAN6, 64, 0),
    );
    assert_eq!(verdict(&fib, UNDERLAY, &ok), underlay_fwd());
    for sl in [3u8, 4, 200, 255] {
        let input = srv6(
            END,
            &[REMOTE_1, REMOTE_2],
            sl,
            IpProtocol::IPV6,
            &udp6(LAN6, 64, 0),
        );
        assert_eq!(
            verdict(&fib, UNDERLAY, &input),
            malformed(WireError::SrhSegmentsLeftBeyondLastEntry),
            "SL {sl}"
        );
        let input = srv6(
            END_X,
            &[REMOTE_1, REMOTE_2],
            sl,
            IpProtocol::IPV6,
            &udp6(LAN6, 64, 0),
        );
        assert_eq!(
            verdict(&fib, UNDERLAY, &input),
            malformed(WireError::SrhSegmentsLeftBeyondLastEntry)
        );
    }
}

#[test]
fn end_srh_length_inconsistent_with_the_packet() {
    let fib = node();
    let inner = udp6(LAN6, 64, 0);
    let good = srv6(END, &[END, REMOTE_1], 1, IpProtocol::IPV6, &inner);

    // Hdr Ext Len claims more than the packet holds.
    let mut p = good.clone();
    p[41] = 200;
    assert_eq!(
        verdict(&fib, UNDERLAY, &p),
        malformed(WireError::ExtHeaderTruncated)
    );

    // Last Entry 3 does not fit in Hdr Ext Len 4 (two segments).
    let mut p = good.clone();
    Srh::new_unchecked(&mut p[40..]).set_last_entry(3);
    assert_eq!(
        verdict(&fib, UNDERLAY, &p),
        malformed(WireError::SrhBadLength)
    );

    // Packet cut inside the SRH, Payload Length adjusted.
    for cut in [41usize, 47, 48, 60, 79] {
        let mut p = good[..cut].to_vec();
        Ipv6Packet::new_unchecked(&mut p[..]).set_payload_len((cut - 40) as u16);
        assert_eq!(
            verdict(&fib, UNDERLAY, &p),
            malformed(WireError::ExtHeaderTruncated),
            "cut {cut}"
        );
    }
    // Packet cut, Payload Length not adjusted.
    assert_eq!(
        verdict(&fib, UNDERLAY, &good[..60]),
        malformed(WireError::Ipv6BadPayloadLength)
    );
    assert_eq!(
        verdict(&fib, UNDERLAY, &good[..39]),
        malformed(WireError::Truncated)
    );

    // Hdr Ext Len larger than the segments, trailing octets not valid TLVs.
    let mut p = srv6(END, &[END, REMOTE_1], 1, IpProtocol::IPV6, &inner);
    p[41] = 5; // 48 octets: 8 + 32 + 8 octets of "TLVs" read from the inner header
    p[80] = 0x05; // HMAC TLV type
    p[81] = 0x40; // whose length overruns the SRH
    assert_eq!(verdict(&fib, UNDERLAY, &p), malformed(WireError::BadOption));

    // Routing type 4 is what makes it an SRH; other fields: wrong SRH type
    // at the SID is covered in `end_with_unknown_routing_header_*`.
}

#[test]
fn end_hop_limit_exceeded() {
    let fib = node();
    let input = ipv6(
        END,
        1,
        &[(IpProtocol::IPV6_ROUTE, srh(&[END, REMOTE_1], 1))],
        IpProtocol::IPV6,
        &udp6(LAN6, 64, 0),
    );
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        Verdict::Drop(DropReason::HopLimitExceeded)
    );
    let input = ipv6(
        END,
        0,
        &[(IpProtocol::IPV6_ROUTE, srh(&[END, REMOTE_1], 1))],
        IpProtocol::IPV6,
        &udp6(LAN6, 64, 0),
    );
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        Verdict::Drop(DropReason::HopLimitExceeded)
    );
    let input = ipv6(
        END_X,
        1,
        &[(IpProtocol::IPV6_ROUTE, srh(&[END_X, UNROUTED], 1))],
        IpProtocol::IPV6,
        &udp6(LAN6, 64, 0),
    );
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        Verdict::Drop(DropReason::HopLimitExceeded)
    );
}

#[test]
fn end_then_end_dt6_on_the_same_node() {
    let inner = udp6(LAN6, 64, 20);
    let input = srv6(END, &[END, DT6], 1, IpProtocol::IPV6, &inner);
    let r = run(&node(), UNDERLAY, &input);
    assert_eq!(r.verdict, fwd(VRF_A_ADJ6, IpAddr::V6(LAN6)));
    assert_eq!(r.out, hl_minus_one(&inner));
    // The outer Hop Limit is only checked when a packet leaves (documented
    // difference from RFC 8986 §4.1 S02): an outer HL of 1 still reaches the
    // local End.DT6.
    let input = ipv6(
        END,
        1,
        &[(IpProtocol::IPV6_ROUTE, srh(&[END, DT6], 1))],
        IpProtocol::IPV6,
        &inner,
    );
    let r = run(&node(), UNDERLAY, &input);
    assert_eq!(r.verdict, fwd(VRF_A_ADJ6, IpAddr::V6(LAN6)));
    assert_eq!(r.out, hl_minus_one(&inner));
}

#[test]
fn local_sid_loop_is_stopped() {
    let fib = node();
    // Every segment is the same local End SID.
    let path = [END; 8];
    let input = srv6(END, &path, 7, IpProtocol::IPV6, &udp6(LAN6, 64, 0));
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        Verdict::Drop(DropReason::LocalSidLoop)
    );
    // MAX_LOCAL_SID_PASSES local SIDs are fine: SL 3 -> 0, then Local.
    let n = usize::from(MAX_LOCAL_SID_PASSES);
    let input = srv6(
        END,
        &path[..n],
        (n - 1) as u8,
        IpProtocol::UDP,
        &udp_only(0),
    );
    assert_eq!(verdict(&fib, UNDERLAY, &input), Verdict::Local);
    // One more is a loop.
    let input = srv6(END, &path[..n + 1], n as u8, IpProtocol::UDP, &udp_only(0));
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        Verdict::Drop(DropReason::LocalSidLoop)
    );
}

/// Body of [`encap_into_own_decap_sid_loop_is_stopped`], run in a child
/// process: an unbounded recursion overflows the stack and aborts the
/// whole process, which must not take the other tests with it.
fn encap_decap_loop_child() {
    // A VRF_A route steers into a policy whose only SID is this node's
    // End.DT4 / End.DT6 for VRF_A: every decapsulated packet is encapsulated
    // again. A misconfiguration, but one packet must not crash the router.
    for mode in [EncapMode::Encaps, EncapMode::EncapsRed] {
        let mut b = FibBuilder::new();
        b.add_vrf(VRF_A).unwrap();
        b.add_sid(DT46, SidBehavior::EndDT46 { vrf: VRF_A })
            .unwrap();
        let id = b.add_policy(EncapPolicy::new(mode, POLICY_SRC, &[DT46]).unwrap());
        b.add_route_v4(
            VRF_A,
            Ipv4Addr::new(198, 51, 100, 0),
            24,
            RouteAction::Encap(id),
        )
        .unwrap();
        b.add_route_v6(
            VRF_A,
            a6(0x2001, 0xdb8, 0xaa, 0),
            48,
            RouteAction::Encap(id),
        )
        .unwrap();
        let fib = b.build().unwrap();
        for inner in [udp4(ENCAP4, 64, 0), udp6(ENCAP6, 64, 0)] {
            assert_eq!(
                verdict(&fib, VRF_A, &inner),
                Verdict::Drop(DropReason::LocalSidLoop),
                "{mode:?}"
            );
        }
    }
}

#[test]
fn encap_into_own_decap_sid_loop_is_stopped() {
    const CHILD: &str = "SRV6D_BEHAVIOR_LOOP_CHILD";
    if std::env::var_os(CHILD).is_some() {
        encap_decap_loop_child();
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "encap_into_own_decap_sid_loop_is_stopped",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "encapsulating into a local decapsulating SID of the same VRF is not \
         stopped: child {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn end_x_uses_its_adjacency_not_the_routes() {
    let fib = node();
    let inner = udp6(LAN6, 64, 0);
    let input = srv6(END_X, &[END_X, UNROUTED], 1, IpProtocol::IPV6, &inner);
    let r = run(&fib, UNDERLAY, &input);
    assert_eq!(r.verdict, fwd(END_X_ADJ, IpAddr::V6(UNROUTED)));
    let mut want = input.clone();
    {
        let mut ip = Ipv6Packet::new_checked(&mut want[..]).unwrap();
        ip.set_hop_limit(63);
        ip.set_dst_addr(UNROUTED);
        Srh::new_checked(&mut want[40..])
            .unwrap()
            .set_segments_left(0);
    }
    assert_eq!(r.out, want);
    // End has no route for that segment; End.X even overrides a route.
    let input = srv6(END, &[END, UNROUTED], 1, IpProtocol::IPV6, &inner);
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        Verdict::Drop(DropReason::NoRoute)
    );
    let input = srv6(END_X, &[END_X, REMOTE_1], 1, IpProtocol::IPV6, &inner);
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        fwd(END_X_ADJ, IpAddr::V6(REMOTE_1))
    );
    // Even when the next segment is a local SID.
    let input = srv6(END_X, &[END_X, DT6], 1, IpProtocol::IPV6, &inner);
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        fwd(END_X_ADJ, IpAddr::V6(DT6))
    );
}

#[test]
fn end_with_unknown_routing_header_and_segments_left_is_dropped() {
    // RFC 8200 §4.4: a Routing header of an unrecognised type with Segments
    // Left != 0 must be discarded (Linux seg6local End: no SRH -> drop).
    let mut rh = vec![0u8; 24];
    {
        let mut h = RoutingHeader::new_unchecked(&mut rh[..]);
        h.set_hdr_ext_len(2);
        h.set_routing_type(0xfe);
        h.set_segments_left(1);
    }
    let input = ipv6(
        END,
        64,
        &[(IpProtocol::IPV6_ROUTE, rh)],
        IpProtocol::UDP,
        &udp_only(0),
    );
    let v = verdict(&node(), UNDERLAY, &input);
    assert_eq!(v, Verdict::Drop(DropReason::UnknownRoutingHeader));
}

// ---------------------------------------------------------------------------
// End.DT4 / End.DT6 / End.DT46
// ---------------------------------------------------------------------------

#[test]
fn end_dt6_decapsulates_and_routes_in_its_vrf() {
    let inner = udp6(LAN6, 64, 20);
    let r = run(
        &node(),
        UNDERLAY,
        &srv6(DT6, &[REMOTE_1, DT6], 0, IpProtocol::IPV6, &inner),
    );
    assert_eq!(r.verdict, fwd(VRF_A_ADJ6, IpAddr::V6(LAN6)));
    assert_eq!(r.out, hl_minus_one(&inner));
    let ip = Ipv6Packet::new_checked(&r.out[..]).unwrap();
    assert_eq!(ip.hop_limit(), 63);
    assert_eq!(ip.dst_addr(), LAN6);
}

#[test]
fn end_dt6_removes_every_extension_header() {
    let fib = node();
    let inner = udp6(LAN6, 64, 20);
    let route = || (IpProtocol::IPV6_ROUTE, srh(&[DT6], 0));
    let opts = || (IpProtocol::IPV6_OPTS, dest_opts());
    let chains = [
        vec![opts(), route()],
        vec![route(), opts()],
        vec![opts(), route(), opts()],
        vec![(IpProtocol::HOP_BY_HOP, dest_opts()), route()],
        vec![opts()],
    ];
    for chain in chains {
        let r = run(
            &fib,
            UNDERLAY,
            &ipv6(DT6, 64, &chain, IpProtocol::IPV6, &inner),
        );
        assert_eq!(r.verdict, fwd(VRF_A_ADJ6, IpAddr::V6(LAN6)));
        assert_eq!(r.out, hl_minus_one(&inner));
    }
}

#[test]
fn end_dt4_decapsulates_and_decrements_ttl() {
    let fib = node();
    for options in [&[][..], &[1, 1, 1, 0][..]] {
        let inner = udp4_with(Ipv4Addr::new(10, 9, 8, 7), LAN4, 64, 4000, 20, options);
        for sid in [DT4, DT46] {
            let r = run(
                &fib,
                UNDERLAY,
                &srv6(sid, &[sid], 0, IpProtocol::IPV4, &inner),
            );
            assert_eq!(r.verdict, fwd(VRF_A_ADJ4, IpAddr::V4(LAN4)));
            assert_eq!(r.out, ttl_minus_one(&inner));
            let ip = Ipv4Packet::new_checked(&r.out[..]).unwrap();
            assert_eq!(ip.ttl(), 63);
            assert!(ipv4_checksum_valid(&r.out));
            assert!(ip.verify_checksum());
        }
    }
}

#[test]
fn end_dt46_takes_both_families() {
    let fib = node();
    let inner6 = udp6(LAN6, 9, 3);
    let r = run(
        &fib,
        UNDERLAY,
        &srv6(DT46, &[DT46], 0, IpProtocol::IPV6, &inner6),
    );
    assert_eq!(r.verdict, fwd(VRF_A_ADJ6, IpAddr::V6(LAN6)));
    assert_eq!(r.out, hl_minus_one(&inner6));
    let inner4 = udp4(LAN4, 9, 3);
    let r = run(
        &fib,
        UNDERLAY,
        &srv6(DT46, &[DT46], 0, IpProtocol::IPV4, &inner4),
    );
    assert_eq!(r.verdict, fwd(VRF_A_ADJ4, IpAddr::V4(LAN4)));
    assert_eq!(r.out, ttl_minus_one(&inner4));
}

#[test]
fn end_dt_segments_left_nonzero() {
    let fib = node();
    for (sid, proto, inner) in [
        (DT6, IpProtocol::IPV6, udp6(LAN6, 64, 0)),
        (DT4, IpProtocol::IPV4, udp4(LAN4, 64, 0)),
        (DT46, IpProtocol::IPV4, udp4(LAN4, 64, 0)),
        (DX4, IpProtocol::IPV4, udp4(LAN4, 64, 0)),
        (DX6, IpProtocol::IPV6, udp6(LAN6, 64, 0)),
    ] {
        let input = srv6(sid, &[sid, REMOTE_1], 1, proto, &inner);
        assert_eq!(
            verdict(&fib, UNDERLAY, &input),
            Verdict::Drop(DropReason::SrhSegmentsLeftNonZero),
            "{sid}"
        );
    }
}

#[test]
fn end_dt_inner_protocol_mismatch() {
    let fib = node();
    let v4 = udp4(LAN4, 64, 0);
    let v6 = udp6(LAN6, 64, 0);
    for (sid, proto, inner) in [
        (DT6, IpProtocol::IPV4, &v4),
        (DT4, IpProtocol::IPV6, &v6),
        (DX6, IpProtocol::IPV4, &v4),
        (DX4, IpProtocol::IPV6, &v6),
    ] {
        let input = srv6(sid, &[sid], 0, proto, inner);
        assert_eq!(
            verdict(&fib, UNDERLAY, &input),
            Verdict::Drop(DropReason::InnerProtocolMismatch),
            "{sid}"
        );
    }
}

#[test]
fn overlapping_prefixes_in_two_vrfs() {
    let fib = node();
    let inner = udp4(LAN4, 64, 0);
    let a = run(
        &fib,
        UNDERLAY,
        &srv6(DT46, &[DT46], 0, IpProtocol::IPV4, &inner),
    );
    let b = run(
        &fib,
        UNDERLAY,
        &srv6(DT46_B, &[DT46_B], 0, IpProtocol::IPV4, &inner),
    );
    assert_eq!(a.verdict, fwd(VRF_A_ADJ4, IpAddr::V4(LAN4)));
    assert_eq!(b.verdict, fwd(VRF_B_ADJ4, IpAddr::V4(LAN4)));
    assert_eq!(a.out, b.out);
    // VRF_B has no IPv6 routes.
    let b = run(
        &fib,
        UNDERLAY,
        &srv6(DT46_B, &[DT46_B], 0, IpProtocol::IPV6, &udp6(LAN6, 64, 0)),
    );
    assert_eq!(b.verdict, Verdict::Drop(DropReason::NoRoute));
}

#[test]
fn end_dt_without_srh_decapsulates() {
    // What H.Encaps.Red with one SID sends: IPv6-in-IPv6 with no SRH.
    let fib = node();
    let inner6 = udp6(LAN6, 64, 5);
    let r = run(
        &fib,
        UNDERLAY,
        &ipv6(DT6, 64, &[], IpProtocol::IPV6, &inner6),
    );
    assert_eq!(r.verdict, fwd(VRF_A_ADJ6, IpAddr::V6(LAN6)));
    assert_eq!(r.out, hl_minus_one(&inner6));
    let inner4 = udp4(LAN4, 64, 5);
    let r = run(
        &fib,
        UNDERLAY,
        &ipv6(DT4, 64, &[], IpProtocol::IPV4, &inner4),
    );
    assert_eq!(r.verdict, fwd(VRF_A_ADJ4, IpAddr::V4(LAN4)));
    assert_eq!(r.out, ttl_minus_one(&inner4));
    // The whole way: H.Encaps.Red with one SID on the ingress, End.DT6 here.
    let ing = ingress(EncapPolicy::new(EncapMode::EncapsRed, POLICY_SRC, &[DT6]).unwrap());
    let inner = udp6(a6(0x2001, 0xdb8, 0xaa, 0x10), 64, 5);
    let mut routed = FibBuilder::new();
    routed
        .add_sid(DT6, SidBehavior::EndDT6 { vrf: VRF_A })
        .unwrap();
    routed
        .add_route_v6(
            VRF_A,
            a6(0x2001, 0xdb8, 0xaa, 0),
            48,
            RouteAction::Forward(VRF_A_ADJ6),
        )
        .unwrap();
    let egress = routed.build().unwrap();
    let mid = run(&ing, VRF_A, &inner);
    assert_eq!(mid.verdict, underlay_fwd());
    let r = run(&egress, UNDERLAY, &mid.out);
    assert_eq!(
        r.verdict,
        fwd(VRF_A_ADJ6, IpAddr::V6(a6(0x2001, 0xdb8, 0xaa, 0x10)))
    );
    assert_eq!(r.out, hl_minus_one(&inner));
}

#[test]
fn end_dt_outer_fragment() {
    let fib = node();
    let inner = udp6(LAN6, 64, 0);
    for chain in [
        vec![(IpProtocol::IPV6_FRAG, fragment(0, true))],
        vec![
            (IpProtocol::IPV6_ROUTE, srh(&[DT6], 0)),
            (IpProtocol::IPV6_FRAG, fragment(0, true)),
        ],
        vec![
            (IpProtocol::IPV6_ROUTE, srh(&[DT6], 0)),
            (IpProtocol::IPV6_FRAG, fragment(10, false)),
        ],
    ] {
        let input = ipv6(DT6, 64, &chain, IpProtocol::IPV6, &inner);
        assert_eq!(
            verdict(&fib, UNDERLAY, &input),
            Verdict::Drop(DropReason::OuterFragmented)
        );
    }
}

#[test]
fn end_dt_upper_layer_is_local() {
    let fib = node();
    for sid in [DT6, DT4, DT46, DX4, DX6] {
        let input = srv6(sid, &[sid], 0, IpProtocol::UDP, &udp_only(20));
        let r = run(&fib, UNDERLAY, &input);
        assert_eq!(r.verdict, Verdict::Local, "{sid}");
        assert_eq!(r.out, input);
        let input = ipv6(sid, 64, &[], IpProtocol::UDP, &udp_only(20));
        assert_eq!(verdict(&fib, UNDERLAY, &input), Verdict::Local, "{sid}");
    }
}

#[test]
fn end_dt_inner_checks() {
    let fib = node();
    // Inner TTL / Hop Limit 1.
    let input = srv6(DT4, &[DT4], 0, IpProtocol::IPV4, &udp4(LAN4, 1, 0));
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        Verdict::Drop(DropReason::TtlExceeded)
    );
    let input = srv6(DT6, &[DT6], 0, IpProtocol::IPV6, &udp6(LAN6, 1, 0));
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        Verdict::Drop(DropReason::HopLimitExceeded)
    );
    // Inner IPv4 with a bad checksum.
    let mut inner = udp4(LAN4, 64, 0);
    inner[10] ^= 0xff;
    let input = srv6(DT4, &[DT4], 0, IpProtocol::IPV4, &inner);
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        malformed(WireError::Ipv4BadChecksum)
    );
    // Inner IPv6 whose Payload Length runs past the outer packet.
    let mut inner = udp6(LAN6, 64, 0);
    inner[5] = 200;
    let input = srv6(DT6, &[DT6], 0, IpProtocol::IPV6, &inner);
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        malformed(WireError::Ipv6BadPayloadLength)
    );
    // Inner IPv4 with IHL < 5.
    let mut inner = udp4(LAN4, 64, 0);
    inner[0] = 0x44;
    let input = srv6(DT4, &[DT4], 0, IpProtocol::IPV4, &inner);
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        malformed(WireError::Ipv4BadIhl)
    );
    // Inner packet shorter than its header.
    let input = srv6(DT6, &[DT6], 0, IpProtocol::IPV6, &udp6(LAN6, 64, 0)[..30]);
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        malformed(WireError::Truncated)
    );
    // Inner datagram padded inside the outer packet: padding dropped.
    let inner = udp4(LAN4, 64, 0);
    let mut padded = inner.clone();
    padded.extend_from_slice(&[0xee; 10]);
    let r = run(
        &fib,
        UNDERLAY,
        &srv6(DT4, &[DT4], 0, IpProtocol::IPV4, &padded),
    );
    assert_eq!(r.verdict, fwd(VRF_A_ADJ4, IpAddr::V4(LAN4)));
    assert_eq!(r.out, ttl_minus_one(&inner));
}

#[test]
fn end_dx4_and_dx6_send_to_the_adjacency() {
    let fib = node();
    // Destinations no VRF routes: the adjacency decides.
    let inner4 = udp4(HOST4, 64, 10);
    let r = run(
        &fib,
        UNDERLAY,
        &srv6(DX4, &[REMOTE_1, DX4], 0, IpProtocol::IPV4, &inner4),
    );
    assert_eq!(r.verdict, fwd(DX4_ADJ, IpAddr::V4(HOST4)));
    assert_eq!(r.out, ttl_minus_one(&inner4));
    assert!(ipv4_checksum_valid(&r.out));
    let inner6 = udp6(HOST6, 64, 10);
    let r = run(
        &fib,
        UNDERLAY,
        &srv6(DX6, &[REMOTE_1, DX6], 0, IpProtocol::IPV6, &inner6),
    );
    assert_eq!(r.verdict, fwd(DX6_ADJ, IpAddr::V6(HOST6)));
    assert_eq!(r.out, hl_minus_one(&inner6));
    // No SRH.
    let r = run(
        &fib,
        UNDERLAY,
        &ipv6(DX6, 64, &[], IpProtocol::IPV6, &inner6),
    );
    assert_eq!(r.verdict, fwd(DX6_ADJ, IpAddr::V6(HOST6)));
    assert_eq!(r.out, hl_minus_one(&inner6));
}

#[test]
fn end_dt4_inner_ttl_boundaries() {
    let fib = node();
    for ttl in [2u8, 255] {
        let inner = udp4(LAN4, ttl, 0);
        let r = run(
            &fib,
            UNDERLAY,
            &srv6(DT4, &[DT4], 0, IpProtocol::IPV4, &inner),
        );
        assert_eq!(r.verdict, fwd(VRF_A_ADJ4, IpAddr::V4(LAN4)));
        assert_eq!(r.out, ttl_minus_one(&inner));
        assert!(ipv4_checksum_valid(&r.out));
    }
}

// ---------------------------------------------------------------------------
// Extension-header chains at a SID
// ---------------------------------------------------------------------------

#[test]
fn extension_header_chain_limits_at_a_sid() {
    let fib = node();
    let inner = udp6(LAN6, 64, 0);
    let opts = (IpProtocol::IPV6_OPTS, dest_opts());
    let chain: Vec<_> = std::iter::repeat_n(opts.clone(), MAX_EXT_HEADERS).collect();
    let r = run(
        &fib,
        UNDERLAY,
        &ipv6(DT6, 64, &chain, IpProtocol::IPV6, &inner),
    );
    assert_eq!(r.verdict, fwd(VRF_A_ADJ6, IpAddr::V6(LAN6)));
    let chain: Vec<_> = std::iter::repeat_n(opts, MAX_EXT_HEADERS + 1).collect();
    let input = ipv6(DT6, 64, &chain, IpProtocol::IPV6, &inner);
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        malformed(WireError::ExtHeaderChainTooLong)
    );
    // Hop-by-Hop anywhere but first.
    let chain = [
        (IpProtocol::IPV6_OPTS, dest_opts()),
        (IpProtocol::HOP_BY_HOP, dest_opts()),
    ];
    let input = ipv6(END, 64, &chain, IpProtocol::IPV6, &inner);
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        malformed(WireError::Malformed)
    );
}

// ---------------------------------------------------------------------------
// Plain routing
// ---------------------------------------------------------------------------

#[test]
fn ipv4_forwarding() {
    let fib = node();
    let input = udp4(LAN4, 64, 30);
    let r = run(&fib, VRF_A, &input);
    assert_eq!(r.verdict, fwd(VRF_A_ADJ4, IpAddr::V4(LAN4)));
    assert_eq!(r.out, ttl_minus_one(&input));
    assert!(ipv4_checksum_valid(&r.out));
    // Padding after the datagram is not forwarded.
    let mut frame = input.clone();
    frame.extend_from_slice(&[0xee; 7]);
    let r = run(&fib, VRF_A, &frame);
    assert_eq!(r.out, ttl_minus_one(&input));

    assert_eq!(
        verdict(&fib, VRF_A, &udp4(LAN4, 1, 0)),
        Verdict::Drop(DropReason::TtlExceeded)
    );
    assert_eq!(
        verdict(&fib, VRF_A, &udp4(LAN4, 0, 0)),
        Verdict::Drop(DropReason::TtlExceeded)
    );
    let mut bad = input.clone();
    bad[11] ^= 1;
    assert_eq!(
        verdict(&fib, VRF_A, &bad),
        malformed(WireError::Ipv4BadChecksum)
    );
    assert_eq!(
        verdict(&fib, VRF_A, &udp4(HOST4, 64, 0)),
        Verdict::Drop(DropReason::NoRoute)
    );
    assert_eq!(
        verdict(&fib, VRF_A, &udp4(Ipv4Addr::new(203, 0, 113, 9), 64, 0)),
        Verdict::Drop(DropReason::Blackhole)
    );
    assert_eq!(
        verdict(&fib, VRF_A, &udp4(Ipv4Addr::new(192, 0, 2, 1), 64, 0)),
        Verdict::Local
    );
    // The underlay has no IPv4 routes; a VRF that is not configured none.
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        Verdict::Drop(DropReason::NoRoute)
    );
    assert_eq!(
        verdict(&fib, 15, &input),
        Verdict::Drop(DropReason::NoRoute)
    );
}

#[test]
fn ipv6_forwarding() {
    let fib = node();
    let input = udp6(LAN6, 64, 30);
    let r = run(&fib, VRF_A, &input);
    assert_eq!(r.verdict, fwd(VRF_A_ADJ6, IpAddr::V6(LAN6)));
    assert_eq!(r.out, hl_minus_one(&input));
    assert_eq!(
        verdict(&fib, VRF_A, &udp6(LAN6, 1, 0)),
        Verdict::Drop(DropReason::HopLimitExceeded)
    );
    assert_eq!(
        verdict(&fib, VRF_A, &udp6(HOST6, 64, 0)),
        Verdict::Drop(DropReason::NoRoute)
    );
    assert_eq!(
        verdict(&fib, UNDERLAY, &udp6(a6(0x2001, 0xdb8, 0xbad, 1), 64, 0)),
        Verdict::Drop(DropReason::Blackhole)
    );
    // SIDs are only SIDs in the underlay.
    let to_sid = srv6(END, &[END, REMOTE_1], 1, IpProtocol::IPV6, &input);
    assert_eq!(
        verdict(&fib, VRF_A, &to_sid),
        Verdict::Drop(DropReason::NoRoute)
    );
    // A transit SRv6 packet (DA not local) is routed, its SRH untouched.
    let transit = srv6(REMOTE_1, &[REMOTE_1, REMOTE_2], 1, IpProtocol::IPV6, &input);
    let r = run(&fib, UNDERLAY, &transit);
    assert_eq!(r.verdict, underlay_fwd());
    assert_eq!(r.out, hl_minus_one(&transit));
}

#[test]
fn garbage_versions() {
    let fib = node();
    assert_eq!(verdict(&fib, VRF_A, &[]), malformed(WireError::Truncated));
    assert_eq!(
        verdict(&fib, VRF_A, &[0x50; 60]),
        malformed(WireError::BadVersion)
    );
    assert_eq!(
        verdict(&fib, VRF_A, &[0x45; 10]),
        malformed(WireError::Truncated)
    );
    assert_eq!(
        verdict(&fib, VRF_A, &[0x60; 39]),
        malformed(WireError::Truncated)
    );
    let mut p = udp4(LAN4, 64, 0);
    p[0] = 0x43;
    assert_eq!(verdict(&fib, VRF_A, &p), malformed(WireError::Ipv4BadIhl));
    let p = udp4(LAN4, 64, 0);
    assert_eq!(
        verdict(&fib, VRF_A, &p[..25]),
        malformed(WireError::Ipv4BadTotalLength)
    );
}

// ---------------------------------------------------------------------------
// FibBuilder validation
// ---------------------------------------------------------------------------

#[test]
fn fib_builder_rejects_inconsistent_configurations() {
    let mut b = FibBuilder::new();
    b.add_route_v6(
        UNDERLAY,
        REMOTE_1,
        128,
        RouteAction::Forward(Adjacency {
            port: PortId(1),
            next_hop: NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)),
        }),
    )
    .unwrap();
    assert!(matches!(b.build(), Err(FibError::NextHopFamily { .. })));

    let mut b = FibBuilder::new();
    b.add_route_v4(
        VRF_A,
        LAN4,
        32,
        RouteAction::Forward(Adjacency {
            port: PortId(1),
            next_hop: NextHop::V6(REMOTE_1),
        }),
    )
    .unwrap();
    assert!(matches!(b.build(), Err(FibError::NextHopFamily { .. })));

    let mut b = FibBuilder::new();
    b.add_route_v4(VRF_A, LAN4, 32, RouteAction::Encap(PolicyId(0)))
        .unwrap();
    assert!(matches!(
        b.build(),
        Err(FibError::UnknownPolicy { policy: 0, .. })
    ));
    b.add_policy(EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &[REMOTE_1]).unwrap());
    assert!(b.build().is_ok());

    for behavior in [
        SidBehavior::EndDT4 { vrf: 99 },
        SidBehavior::EndDT6 { vrf: 99 },
        SidBehavior::EndDT46 { vrf: 99 },
    ] {
        let mut b = FibBuilder::new();
        b.add_sid(DT6, behavior).unwrap();
        assert!(
            matches!(b.build(), Err(FibError::UnknownVrf { vrf: 99, .. })),
            "{behavior:?}"
        );
        b.add_vrf(99).unwrap();
        assert!(b.build().is_ok());
    }
    let mut b = FibBuilder::new();
    b.add_sid_prefix(a6(0xfc00, 1, 0, 0), 48, SidBehavior::EndDT6 { vrf: 7 })
        .unwrap();
    assert!(matches!(
        b.build(),
        Err(FibError::UnknownVrf { vrf: 7, .. })
    ));

    for behavior in [
        SidBehavior::EndX(DX4_ADJ),
        SidBehavior::EndDX6(DX4_ADJ),
        SidBehavior::EndDX4(DX6_ADJ),
    ] {
        let mut b = FibBuilder::new();
        b.add_sid(END_X, behavior).unwrap();
        assert!(
            matches!(b.build(), Err(FibError::NextHopFamily { .. })),
            "{behavior:?}"
        );
    }

    let mut b = FibBuilder::new();
    assert_eq!(
        b.add_vrf(MAX_VRFS).unwrap_err(),
        FibError::VrfOutOfRange {
            vrf: MAX_VRFS,
            max: MAX_VRFS - 1
        }
    );
    assert!(matches!(
        b.add_route_v4(MAX_VRFS + 5, LAN4, 32, RouteAction::Local),
        Err(FibError::VrfOutOfRange { .. })
    ));
    assert!(b.add_vrf(MAX_VRFS - 1).is_ok());

    let mut b = FibBuilder::new();
    b.add_sid(END, SidBehavior::End).unwrap();
    assert_eq!(
        b.add_sid(END, SidBehavior::End).unwrap_err(),
        FibError::DuplicateSid { sid: END }
    );
}

#[test]
fn sid_prefix_runs_the_behaviour_for_every_address() {
    let mut b = FibBuilder::new();
    b.add_sid_prefix(a6(0xfc00, 1, 0, 0), 48, SidBehavior::End)
        .unwrap();
    b.add_route_v6(
        UNDERLAY,
        a6(0xfc00, 2, 0, 0),
        32,
        RouteAction::Forward(UNDERLAY_ADJ),
    )
    .unwrap();
    let fib = b.build().unwrap();
    let sid = a6(0xfc00, 1, 0, 0x1234);
    let input = srv6(
        sid,
        &[sid, REMOTE_1],
        1,
        IpProtocol::IPV6,
        &udp6(LAN6, 64, 0),
    );
    assert_eq!(verdict(&fib, UNDERLAY, &input), underlay_fwd());
    assert_eq!(fib.local_sid(&sid), Some(&SidBehavior::End));
}

// ---------------------------------------------------------------------------
// DropReason, SidBehavior
// ---------------------------------------------------------------------------

#[test]
fn drop_reason_names_and_indices() {
    let all: Vec<DropReason> = DropReason::all().collect();
    assert_eq!(all.len(), DropReason::COUNT);
    let names: HashSet<&str> = all.iter().map(|r| r.name()).collect();
    assert_eq!(names.len(), DropReason::COUNT, "names are unique");
    for name in &names {
        assert!(!name.is_empty());
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name} is not snake_case"
        );
    }
    let indices: Vec<usize> = all.iter().map(|r| r.index()).collect();
    assert_eq!(
        indices,
        (0..DropReason::COUNT).collect::<Vec<_>>(),
        "all() is in index order"
    );
    for r in &all {
        assert_eq!(r.to_string(), r.name());
    }
    let distinct: HashSet<DropReason> = all.iter().copied().collect();
    assert_eq!(distinct.len(), DropReason::COUNT);
    // Every wire error is a drop reason of its own.
    for e in [
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
    ] {
        let r = DropReason::from(e);
        assert_eq!(r, DropReason::Malformed(e));
        assert_eq!(r.name(), e.name());
        assert!(all.contains(&r));
    }
}

#[test]
fn sid_behavior_names() {
    let adj = END_X_ADJ;
    let names: Vec<&str> = [
        SidBehavior::End,
        SidBehavior::EndX(adj),
        SidBehavior::EndDT4 { vrf: 1 },
        SidBehavior::EndDT6 { vrf: 1 },
        SidBehavior::EndDT46 { vrf: 1 },
        SidBehavior::EndDX4(DX4_ADJ),
        SidBehavior::EndDX6(adj),
    ]
    .iter()
    .map(|b| b.name())
    .collect();
    assert_eq!(
        names,
        ["End", "End.X", "End.DT4", "End.DT6", "End.DT46", "End.DX4", "End.DX6"]
    );
}

// ---------------------------------------------------------------------------
// Review follow-ups: loops through policies alone, fragments, jumbograms
// ---------------------------------------------------------------------------

#[test]
fn underlay_route_steering_into_its_own_policy_is_a_loop_not_a_headroom_drop() {
    // The underlay default route encapsulates into P, and P's first SID is
    // covered by that same default route: no local SID is involved, only
    // encapsulation after encapsulation. The pass counter must stop it.
    let mut b = FibBuilder::new();
    let id = b.add_policy(EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &[REMOTE_1]).unwrap());
    b.add_route_v6(UNDERLAY, Ipv6Addr::UNSPECIFIED, 0, RouteAction::Encap(id))
        .unwrap();
    let fib = b.build().unwrap();
    let r = run_in(&fib, UNDERLAY, &udp6(HOST6, 64, 0), MAX_ENCAP_LEN * 8);
    assert_eq!(r.verdict, Verdict::Drop(DropReason::LocalSidLoop));
}

#[test]
fn first_fragment_of_udp_to_a_decap_sid_is_local_but_ip_in_fragment_is_dropped() {
    let fib = node();
    // UDP (e.g. a STAMP test packet) in a first fragment, addressed to an
    // End.DT6 SID: upper-layer processing, like the same packet to an End SID.
    let mut frag = fragment(0, true);
    frag[0] = IpProtocol::UDP.0;
    let input = ipv6(
        DT6,
        64,
        &[(IpProtocol::IPV6_FRAG, frag.clone())],
        IpProtocol::UDP,
        &udp_only(16),
    );
    assert_eq!(verdict(&fib, UNDERLAY, &input), Verdict::Local);
    // An inner IPv6 packet split by an outer fragment cannot be decapsulated
    // without reassembly.
    let inner = udp6(LAN6, 64, 0);
    let input = ipv6(
        DT6,
        64,
        &[(IpProtocol::IPV6_FRAG, frag)],
        IpProtocol::IPV6,
        &inner,
    );
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        Verdict::Drop(DropReason::OuterFragmented)
    );
    // A non-first fragment is never handed up, whatever its Next Header says.
    let mut later = fragment(64, false);
    later[0] = IpProtocol::UDP.0;
    let input = ipv6(
        DT6,
        64,
        &[(IpProtocol::IPV6_FRAG, later)],
        IpProtocol::UDP,
        &udp_only(16),
    );
    assert_eq!(
        verdict(&fib, UNDERLAY, &input),
        Verdict::Drop(DropReason::OuterFragmented)
    );
}

#[test]
fn jumbogram_form_is_dropped_not_forwarded_as_a_bare_header() {
    // Payload Length 0 with a Hop-by-Hop header first (RFC 2675): a
    // transit router must not cut it down to its 40-octet fixed header.
    let mut p = udp6(HOST6, 64, 0);
    p[4] = 0;
    p[5] = 0;
    p[6] = IpProtocol::HOP_BY_HOP.0;
    assert_eq!(
        verdict(&node(), UNDERLAY, &p),
        malformed(WireError::Ipv6BadPayloadLength)
    );
}

#[test]
fn flow_label_hash_is_shared_by_all_fragments_of_a_datagram() {
    let policy = EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &segments(2))
        .unwrap()
        .with_flow_label(FlowLabelMode::Hash);
    let label = |packet: &[u8]| {
        let mut buf = vec![0u8; HEADROOM + packet.len()];
        buf[HEADROOM..].copy_from_slice(packet);
        let mut pkt = Packet::new(&mut buf, HEADROOM, packet.len()).unwrap();
        h_encaps(&mut pkt, &policy).unwrap();
        Ipv6Packet::new_checked(pkt.data()).unwrap().flow_label()
    };
    let first = udp4(ENCAP4, 64, 32);
    let mut first_frag = first.clone();
    let mut later_frag = first.clone();
    {
        let mut ip = Ipv4Packet::new_checked(&mut first_frag[..]).unwrap();
        ip.set_more_frags(true);
        ip.fill_checksum();
        let mut ip = Ipv4Packet::new_checked(&mut later_frag[..]).unwrap();
        ip.set_frag_offset(64);
        ip.fill_checksum();
    }
    // The non-first fragment carries payload bytes where the ports would be.
    later_frag[20..24].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    assert_ne!(label(&first_frag), 0);
    assert_eq!(label(&first_frag), label(&later_frag));
    // Link-layer padding after the datagram does not change the label.
    let mut padded = first.clone();
    padded.extend_from_slice(&[0x55; 14]);
    assert_eq!(label(&first), label(&padded));
}

// ---------------------------------------------------------------------------
// Per-behaviour counters: which behaviours a packet ran
// ---------------------------------------------------------------------------

fn set(behaviors: &[Behavior]) -> BehaviorSet {
    behaviors.iter().fold(BehaviorSet::EMPTY, |s, b| s.with(*b))
}

#[test]
fn each_path_records_the_behaviours_it_ran() {
    use Behavior::*;
    let fib = node();
    let inner6 = udp6(LAN6, 9, 3);
    let inner4 = udp4(LAN4, 9, 3);
    let cases: Vec<(&str, VrfId, Vec<u8>, &[Behavior])> = vec![
        (
            "End, forwarded",
            UNDERLAY,
            srv6(END, &[END, REMOTE_1], 1, IpProtocol::IPV6, &inner6),
            &[End],
        ),
        (
            "End, segments left 0: upper layer for us",
            UNDERLAY,
            srv6(END, &[END], 0, IpProtocol::UDP, &udp_only(4)),
            &[End, Local],
        ),
        (
            "End.X",
            UNDERLAY,
            srv6(END_X, &[END_X, REMOTE_1], 1, IpProtocol::IPV6, &inner6),
            &[EndX],
        ),
        (
            "End.DT6",
            UNDERLAY,
            srv6(DT6, &[DT6], 0, IpProtocol::IPV6, &inner6),
            &[EndDT6],
        ),
        (
            "End.DT4",
            UNDERLAY,
            srv6(DT4, &[DT4], 0, IpProtocol::IPV4, &inner4),
            &[EndDT4],
        ),
        (
            "End.DT46",
            UNDERLAY,
            srv6(DT46, &[DT46], 0, IpProtocol::IPV4, &inner4),
            &[EndDT46],
        ),
        (
            "End.DX4",
            UNDERLAY,
            srv6(DX4, &[DX4], 0, IpProtocol::IPV4, &inner4),
            &[EndDX4],
        ),
        (
            "End.DX6",
            UNDERLAY,
            srv6(DX6, &[DX6], 0, IpProtocol::IPV6, &inner6),
            &[EndDX6],
        ),
        (
            "End then End.DT6 of the same node",
            UNDERLAY,
            srv6(END, &[END, DT6], 1, IpProtocol::IPV6, &inner6),
            &[End, EndDT6],
        ),
        (
            "End.DT6 dropping (segments left) still ran",
            UNDERLAY,
            srv6(DT6, &[DT6, REMOTE_1], 1, IpProtocol::IPV6, &inner6),
            &[EndDT6],
        ),
        ("IPv4 routed", VRF_A, inner4.clone(), &[Ipv4Forward]),
        ("IPv6 routed", VRF_A, inner6.clone(), &[Ipv6Forward]),
        (
            "IPv6 routed in the underlay",
            UNDERLAY,
            udp6(REMOTE_1, 9, 3),
            &[Ipv6Forward],
        ),
        (
            "local route",
            VRF_A,
            udp4(Ipv4Addr::new(192, 0, 2, 1), 9, 3),
            &[Local],
        ),
        ("no route: nothing ran", VRF_A, udp4(HOST4, 9, 3), &[]),
        (
            "malformed: nothing ran",
            UNDERLAY,
            inner6[..20].to_vec(),
            &[],
        ),
    ];
    for (what, vrf, frame, want) in cases {
        let r = run(&fib, vrf, &frame);
        assert_eq!(r.ran, set(want), "{what}: verdict {:?}", r.verdict);
    }
    // A decapsulated packet forwarded by a VRF route is End.DT6's work, not
    // plain IPv6 forwarding as well.
    let r = run(
        &fib,
        UNDERLAY,
        &srv6(DT6, &[DT6], 0, IpProtocol::IPV6, &inner6),
    );
    assert!(matches!(r.verdict, Verdict::Forward { .. }));
    assert!(!r.ran.contains(Ipv6Forward));

    for (mode, b) in [
        (EncapMode::Encaps, HEncaps),
        (EncapMode::EncapsRed, HEncapsRed),
    ] {
        let fib = ingress(EncapPolicy::new(mode, POLICY_SRC, &segments(2)).unwrap());
        for frame in [udp6(ENCAP6, 64, 5), udp4(ENCAP4, 64, 5)] {
            let r = run(&fib, VRF_A, &frame);
            assert!(matches!(r.verdict, Verdict::Forward { .. }), "{mode:?}");
            assert_eq!(r.ran, set(&[b]), "{mode:?}");
        }
    }
}

#[test]
fn behavior_names_indices_and_set_iteration() {
    let names: HashSet<&str> = Behavior::ALL.iter().map(|b| b.name()).collect();
    assert_eq!(names.len(), Behavior::COUNT);
    let mut all = BehaviorSet::EMPTY;
    for (i, b) in Behavior::ALL.iter().enumerate() {
        assert_eq!(b.index(), i);
        assert!(!all.contains(*b));
        all = all.with(*b);
        assert!(all.contains(*b));
    }
    assert_eq!(
        all.indices().collect::<Vec<_>>(),
        (0..Behavior::COUNT).collect::<Vec<_>>()
    );
    let some = set(&[Behavior::EndDT6, Behavior::End]);
    assert_eq!(
        some.indices().collect::<Vec<_>>(),
        vec![Behavior::End.index(), Behavior::EndDT6.index()]
    );
    assert!(BehaviorSet::EMPTY.is_empty() && !some.is_empty());
    for sid in [
        SidBehavior::End,
        SidBehavior::EndDT4 { vrf: 1 },
        SidBehavior::EndDT6 { vrf: 1 },
        SidBehavior::EndDT46 { vrf: 1 },
        SidBehavior::EndX(END_X_ADJ),
        SidBehavior::EndDX4(DX4_ADJ),
        SidBehavior::EndDX6(DX6_ADJ),
    ] {
        // The counter is the RFC name in snake case.
        let want = sid.name().to_ascii_lowercase().replace('.', "_");
        assert_eq!(Behavior::of_sid(&sid).name(), want);
    }
}
