//! The ICMP errors the router owes (no root needed): which verdicts call
//! for one, the error's bytes (dissected by Scapy, an implementation we did
//! not write: tests/icmp_dissect.py), where it is routed, what is never
//! answered, the rate limiter, and a property test that the builder never
//! panics or writes outside the frame.
//!
//! Inputs are built with the wire `Repr`s; expectations come from the RFCs
//! (RFC 4443, RFC 792, RFC 1191, RFC 1812, RFC 8754 §4.3.1.1, RFC 8986
//! §4.1), never from an output of the code under test.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};

use dataplane::behavior::icmp::{error_in_place, IcmpRateLimit, MIN_MTU_V4, MIN_MTU_V6};
use dataplane::behavior::{
    icmp_error, process, too_big_kind, DropReason, EncapMode, EncapPolicy, IcmpKind, Packet,
    SidBehavior, Suppressed, Verdict, MAX_ENCAP_LEN, UNDERLAY,
};
use dataplane::fib::{Adjacency, Fib, FibBuilder, NextHop, PortId, RouteAction, VrfId};
use dataplane::wire::ipv4::{Ipv4Options, Ipv4Packet, Ipv4Repr};
use dataplane::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use dataplane::wire::srh::{Srh, SrhRepr};
use dataplane::wire::udp::{UdpPacket, UdpRepr};
use dataplane::wire::IpProtocol;
use proptest::prelude::*;

const fn a6(a: u16, b: u16, c: u16, h: u16) -> Ipv6Addr {
    Ipv6Addr::new(a, b, c, 0, 0, 0, 0, h)
}

const VRF: VrfId = 1;
const LAN: PortId = PortId(1);
const WAN: PortId = PortId(2);
const WAN_NH: Ipv6Addr = a6(0xfe80, 0, 0, 1);

/// The edge's addresses: its underlay address (ICMPv6 source everywhere)
/// and its IPv4 address in the VRF.
const ROUTER6: Ipv6Addr = a6(0xfc00, 0xe, 0, 1);
const ROUTER4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 254);
const POLICY_SRC: Ipv6Addr = ROUTER6;
const END: Ipv6Addr = a6(0xfc00, 0xe, 0, 0xe);
const DT46: Ipv6Addr = a6(0xfc00, 0xe, 0, 0xd46);
const REMOTE_SRC: Ipv6Addr = a6(0xfc00, 0xb, 0, 1);
const REMOTE_1: Ipv6Addr = a6(0xfc00, 2, 0, 1);
const REMOTE_DT: Ipv6Addr = a6(0xfc00, 2, 0, 0xd);

const HOST4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const HOST6: Ipv6Addr = a6(0xfc00, 1, 0, 1);
const FAR4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const FAR6: Ipv6Addr = a6(0x2001, 0xdb8, 0xaa, 7);

/// Encapsulation of the edge's policy: IPv6 + SRH with 2 SIDs.
const OVERHEAD: usize = 40 + 8 + 2 * 16;

/// An SD-WAN edge: VRF 1 has the LAN (10.1.0.0/24, fc00:1::/64 on port 1)
/// and steers the far site into a 2-SID policy; the underlay reaches
/// fc00::/16 through port 2; End and End.DT46 SIDs.
fn edge(with_v6_source: bool) -> Fib {
    let mut b = FibBuilder::new();
    b.add_vrf(VRF).unwrap();
    let policy = EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &[REMOTE_1, REMOTE_DT]).unwrap();
    let id = b.add_policy(policy);
    let lan = RouteAction::Forward(Adjacency {
        port: LAN,
        next_hop: NextHop::Direct,
    });
    b.add_route_v4(VRF, Ipv4Addr::new(10, 1, 0, 0), 24, lan)
        .unwrap();
    b.add_route_v6(VRF, a6(0xfc00, 1, 0, 0), 64, lan).unwrap();
    b.add_route_v4(
        VRF,
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        RouteAction::Encap(id),
    )
    .unwrap();
    b.add_route_v6(VRF, a6(0x2001, 0xdb8, 0xaa, 0), 48, RouteAction::Encap(id))
        .unwrap();
    b.add_route_v6(
        UNDERLAY,
        a6(0xfc00, 0, 0, 0),
        16,
        RouteAction::Forward(Adjacency {
            port: WAN,
            next_hop: NextHop::V6(WAN_NH),
        }),
    )
    .unwrap();
    b.add_sid(END, SidBehavior::End).unwrap();
    b.add_sid(DT46, SidBehavior::EndDT46 { vrf: VRF }).unwrap();
    b.set_icmp_source(VRF, IpAddr::V4(ROUTER4));
    if with_v6_source {
        b.set_icmp_source(UNDERLAY, IpAddr::V6(ROUTER6));
    }
    b.build().unwrap()
}

fn fill(buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(13) ^ 0xa5;
    }
}

/// An IPv4/UDP datagram of `total` octets.
fn udp4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, df: bool, total: usize) -> Vec<u8> {
    let data = total - 28;
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol::UDP,
        ttl,
        tos: 0,
        ident: 0x4242,
        dont_frag: df,
        more_frags: false,
        frag_offset: 0,
        options: Ipv4Options::new(&[]).unwrap(),
        payload_len: 8 + data,
    };
    let mut v = vec![0u8; total];
    fill(&mut v[28..]);
    let mut udp = UdpPacket::new_unchecked(&mut v[20..]);
    UdpRepr {
        src_port: 33434,
        dst_port: 33435,
        payload_len: data,
    }
    .emit(&mut udp);
    udp.fill_checksum_v4(src, dst);
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut v[..]));
    v
}

/// An IPv6 packet of `total` octets: `upper` (UDP, or an ICMPv6 message
/// of type `icmp_type`) after the header and `exts`.
fn ip6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hl: u8,
    exts: &[u8],
    first: IpProtocol,
    total: usize,
) -> Vec<u8> {
    let ip = Ipv6Repr {
        src,
        dst,
        next_header: first,
        hop_limit: hl,
        traffic_class: 0x20,
        flow_label: 0x54321,
        payload_len: (total - 40) as u16,
    };
    let mut v = vec![0u8; total];
    ip.emit(&mut Ipv6Packet::new_unchecked(&mut v[..]));
    v[40..40 + exts.len()].copy_from_slice(exts);
    fill(&mut v[40 + exts.len()..]);
    v
}

fn udp6(src: Ipv6Addr, dst: Ipv6Addr, hl: u8, total: usize) -> Vec<u8> {
    let mut v = ip6(src, dst, hl, &[], IpProtocol::UDP, total);
    let data = total - 48;
    let mut udp = UdpPacket::new_unchecked(&mut v[40..]);
    UdpRepr {
        src_port: 33434,
        dst_port: 33435,
        payload_len: data,
    }
    .emit(&mut udp);
    udp.fill_checksum_v6(src, dst);
    v
}

const HEADROOM: usize = MAX_ENCAP_LEN + 64;

/// A frame's buffer: `pkt` at HEADROOM.
fn buffer(pkt: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; HEADROOM + pkt.len()];
    buf[HEADROOM..].copy_from_slice(pkt);
    buf
}

/// One error for Scapy: name, the error, the invoking packet as it should
/// be quoted, source, destination, type, code, word.
struct Expect {
    name: &'static str,
    error: Vec<u8>,
    invoking: Vec<u8>,
    src: IpAddr,
    dst: IpAddr,
    ty: u8,
    code: u8,
    word: u32,
}

/// Runs tests/icmp_dissect.py over `errors`; panics with its report on a
/// failed check.
fn scapy_checks(errors: &[Expect]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/icmp_dissect.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3 (Scapy is installed by scripts/deps.sh)");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut input = String::new();
    for e in errors {
        input += &format!(
            "{} {} {} {} {} {} {} {}\n",
            e.name,
            hex(&e.error),
            hex(&e.invoking),
            e.src,
            e.dst,
            e.ty,
            e.code,
            e.word
        );
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && report.contains("ALL OK"),
        "Scapy's checks failed:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Processes `input` arriving in `vrf`; expects a drop for `reason` that
/// calls for `kind`, builds the error and returns (its verdict, counter,
/// bytes).
fn dropped_with_error(
    fib: &Fib,
    vrf: VrfId,
    input: &[u8],
    reason: DropReason,
    kind: IcmpKind,
) -> (Verdict, usize, Vec<u8>) {
    let mut buf = buffer(input);
    let mut pkt = Packet::new(&mut buf, HEADROOM, input.len()).unwrap();
    assert_eq!(process(fib, vrf, &mut pkt), Verdict::Drop(reason));
    assert_eq!(pkt.icmp(), Some(kind));
    let (verdict, counter) = icmp_error(fib, &mut pkt, kind).expect("an error is owed");
    (verdict, counter, pkt.data().to_vec())
}

fn lan(next_hop: IpAddr) -> Verdict {
    Verdict::Forward {
        port: LAN,
        next_hop,
    }
}

fn wan() -> Verdict {
    Verdict::Forward {
        port: WAN,
        next_hop: IpAddr::V6(WAN_NH),
    }
}

#[test]
fn errors_dissect_in_scapy() {
    let fib = edge(true);
    let mut expect = Vec::new();

    // Ingress, IPv4 TTL 1: Time Exceeded from the router's VRF address,
    // back out of the LAN port.
    let input = udp4(HOST4, FAR4, 1, true, 100);
    let (v, counter, error) = dropped_with_error(
        &fib,
        VRF,
        &input,
        DropReason::TtlExceeded,
        IcmpKind::TimeExceeded,
    );
    assert_eq!(v, lan(IpAddr::V4(HOST4)));
    assert_eq!(counter, IcmpKind::TimeExceeded.index(false));
    expect.push(Expect {
        name: "ingress_ttl1_v4",
        error,
        invoking: input,
        src: IpAddr::V4(ROUTER4),
        dst: IpAddr::V4(HOST4),
        ty: 11,
        code: 0,
        word: 0,
    });

    // Ingress, IPv6 Hop Limit 1: Time Exceeded from the router's
    // underlay address (the VRF has no IPv6 source of its own).
    let input = udp6(HOST6, FAR6, 1, 1000);
    let (v, counter, error) = dropped_with_error(
        &fib,
        VRF,
        &input,
        DropReason::HopLimitExceeded,
        IcmpKind::TimeExceeded,
    );
    assert_eq!(v, lan(IpAddr::V6(HOST6)));
    assert_eq!(counter, IcmpKind::TimeExceeded.index(true));
    expect.push(Expect {
        name: "ingress_hl1_v6",
        error,
        invoking: input,
        src: IpAddr::V6(ROUTER6),
        dst: IpAddr::V6(HOST6),
        ty: 3,
        code: 0,
        word: 0,
    });

    // Packet Too Big after H.Encaps: egress MTU 1450, so the largest
    // inner packet is 1450 - 80; the quote is cut at 1280 octets in all.
    for (name, input) in [
        ("too_big_v6", udp6(HOST6, FAR6, 64, 1400)),
        ("frag_needed_v4", udp4(HOST4, FAR4, 64, true, 1400)),
    ] {
        let v6 = input[0] >> 4 == 6;
        let mut buf = buffer(&input);
        let mut pkt = Packet::new(&mut buf, HEADROOM, input.len()).unwrap();
        assert_eq!(process(&fib, VRF, &mut pkt), wan());
        assert_eq!(pkt.len(), 1400 + OVERHEAD);
        let kind = too_big_kind(&pkt, pkt.len(), 1450).expect("DF or IPv6: an error is owed");
        let mtu = (1450 - OVERHEAD) as u32;
        assert_eq!(kind, IcmpKind::PacketTooBig { mtu });
        let (v, counter) = icmp_error(&fib, &mut pkt, kind).unwrap();
        assert_eq!(counter, kind.index(v6));
        let (src, dst, ty, code) = if v6 {
            (IpAddr::V6(ROUTER6), IpAddr::V6(HOST6), 2, 0)
        } else {
            (IpAddr::V4(ROUTER4), IpAddr::V4(HOST4), 3, 4)
        };
        assert_eq!(v, lan(dst));
        expect.push(Expect {
            name,
            error: pkt.data().to_vec(),
            invoking: input,
            src,
            dst,
            ty,
            code,
            word: mtu,
        });
    }

    // End with Hop Limit 1 (RFC 8986 §4.1 S04): Time Exceeded to the outer
    // source through the underlay. As in Linux (the Hop Limit is checked
    // when the packet is forwarded, see behavior's module doc), the quote
    // shows the SRH already advanced: Segments Left 0, DA the next SID.
    let mut s = SrhRepr::from_path(IpProtocol::UDP, &[END, REMOTE_1]);
    s.segments_left = 1;
    let mut srh = vec![0u8; s.buffer_len()];
    s.emit(&mut Srh::new_unchecked(&mut srh[..]));
    let input = ip6(REMOTE_SRC, END, 1, &srh, IpProtocol::IPV6_ROUTE, 200);
    s.segments_left = 0;
    s.emit(&mut Srh::new_unchecked(&mut srh[..]));
    let mut advanced = ip6(REMOTE_SRC, REMOTE_1, 1, &srh, IpProtocol::IPV6_ROUTE, 200);
    advanced[40 + srh.len()..].copy_from_slice(&input[40 + srh.len()..]);
    let (v, _, error) = dropped_with_error(
        &fib,
        UNDERLAY,
        &input,
        DropReason::HopLimitExceeded,
        IcmpKind::TimeExceeded,
    );
    assert_eq!(v, wan());
    expect.push(Expect {
        name: "end_hl1",
        error,
        invoking: advanced,
        src: IpAddr::V6(ROUTER6),
        dst: IpAddr::V6(REMOTE_SRC),
        ty: 3,
        code: 0,
        word: 0,
    });

    // Segments Left 3 > Last Entry (1) + 1 at a SID: Parameter Problem
    // code 0 pointing at Segments Left (RFC 8754 §4.3.1.1): offset 40 + 3.
    let mut s = SrhRepr::from_path(IpProtocol::UDP, &[END, REMOTE_1]);
    s.segments_left = 3;
    let mut srh = vec![0u8; s.buffer_len()];
    s.emit(&mut Srh::new_unchecked(&mut srh[..]));
    let input = ip6(REMOTE_SRC, END, 64, &srh, IpProtocol::IPV6_ROUTE, 200);
    let kind = IcmpKind::ParameterProblem { pointer: 43 };
    let (v, _, error) = dropped_with_error(
        &fib,
        UNDERLAY,
        &input,
        DropReason::Malformed(dataplane::wire::Error::SrhSegmentsLeftBeyondLastEntry),
        kind,
    );
    assert_eq!(v, wan());
    expect.push(Expect {
        name: "param_problem_sl",
        error,
        invoking: input,
        src: IpAddr::V6(ROUTER6),
        dst: IpAddr::V6(REMOTE_SRC),
        ty: 4,
        code: 0,
        word: 43,
    });

    // Segments Left 1 at End.DT46 (RFC 8986 §4.4 S02): Parameter Problem
    // code 0 pointing at Segments Left.
    let mut s = SrhRepr::from_path(IpProtocol::IPV6, &[DT46, REMOTE_1]);
    s.segments_left = 1;
    let mut srh = vec![0u8; s.buffer_len()];
    s.emit(&mut Srh::new_unchecked(&mut srh[..]));
    let input = ip6(REMOTE_SRC, DT46, 64, &srh, IpProtocol::IPV6_ROUTE, 200);
    let (v, _, error) = dropped_with_error(
        &fib,
        UNDERLAY,
        &input,
        DropReason::SrhSegmentsLeftNonZero,
        IcmpKind::ParameterProblem { pointer: 43 },
    );
    assert_eq!(v, wan());
    expect.push(Expect {
        name: "param_problem_dt_sl",
        error,
        invoking: input,
        src: IpAddr::V6(ROUTER6),
        dst: IpAddr::V6(REMOTE_SRC),
        ty: 4,
        code: 0,
        word: 43,
    });

    // A Routing header of unknown type 0 with Segments Left 1 at End (RFC
    // 8200 §4.4): Parameter Problem code 0 pointing at Routing Type.
    let rh0 = [17u8, 2, 0, 1, 0, 0, 0, 0]
        .iter()
        .copied()
        .chain(REMOTE_1.octets())
        .collect::<Vec<u8>>();
    let input = ip6(REMOTE_SRC, END, 64, &rh0, IpProtocol::IPV6_ROUTE, 200);
    let (v, _, error) = dropped_with_error(
        &fib,
        UNDERLAY,
        &input,
        DropReason::UnknownRoutingHeader,
        IcmpKind::ParameterProblem { pointer: 42 },
    );
    assert_eq!(v, wan());
    expect.push(Expect {
        name: "param_problem_rh0",
        error,
        invoking: input,
        src: IpAddr::V6(ROUTER6),
        dst: IpAddr::V6(REMOTE_SRC),
        ty: 4,
        code: 0,
        word: 42,
    });

    // Egress: End.DT46 decapsulates an IPv4 packet with TTL 1 for the LAN:
    // Time Exceeded about the inner packet, to its (far) source, so it is
    // routed in the VRF into the policy back across the WAN.
    let inner = udp4(FAR4, HOST4, 1, true, 300);
    let outer = ip6(
        REMOTE_SRC,
        DT46,
        64,
        &[],
        IpProtocol::IPV4,
        40 + inner.len(),
    );
    let mut input = outer[..40].to_vec();
    input.extend_from_slice(&inner);
    let (v, _, error) = dropped_with_error(
        &fib,
        UNDERLAY,
        &input,
        DropReason::TtlExceeded,
        IcmpKind::TimeExceeded,
    );
    assert_eq!(v, wan(), "encapsulated toward the far site");
    let outer = Ipv6Packet::new_checked(&error[..]).unwrap();
    assert_eq!(outer.dst_addr(), REMOTE_1);
    expect.push(Expect {
        name: "egress_ttl1_v4_over_wan",
        error: error[OVERHEAD..].to_vec(),
        invoking: inner,
        src: IpAddr::V4(ROUTER4),
        dst: IpAddr::V4(FAR4),
        ty: 11,
        code: 0,
        word: 0,
    });

    scapy_checks(&expect);
}

#[test]
fn ttl_two_is_encapsulated_unchanged() {
    // Decision 0007: the ingress does not decrement the inner TTL (as
    // Linux seg6); only TTL <= 1 is answered.
    let fib = edge(true);
    let input = udp4(HOST4, FAR4, 2, true, 100);
    let mut buf = buffer(&input);
    let mut pkt = Packet::new(&mut buf, HEADROOM, input.len()).unwrap();
    assert_eq!(process(&fib, VRF, &mut pkt), wan());
    assert_eq!(pkt.icmp(), None);
    assert_eq!(&pkt.data()[OVERHEAD..], &input[..]);
}

#[test]
fn ipv4_without_df_is_owed_no_error() {
    let fib = edge(true);
    let input = udp4(HOST4, FAR4, 64, false, 1400);
    let mut buf = buffer(&input);
    let mut pkt = Packet::new(&mut buf, HEADROOM, input.len()).unwrap();
    assert_eq!(process(&fib, VRF, &mut pkt), wan());
    assert_eq!(too_big_kind(&pkt, pkt.len(), 1450), None);
    // It fits: no error either way.
    let input = udp6(HOST6, FAR6, 64, 1000);
    let mut buf = buffer(&input);
    let mut pkt = Packet::new(&mut buf, HEADROOM, input.len()).unwrap();
    assert_eq!(process(&fib, VRF, &mut pkt), wan());
    assert!(too_big_kind(&pkt, pkt.len(), 1500).is_some_and(|k| k
        == IcmpKind::PacketTooBig {
            mtu: (1500 - OVERHEAD) as u32
        }));
}

#[test]
fn never_an_error_about_an_error_or_to_a_non_unicast_source() {
    let fib = edge(true);
    let te = IcmpKind::TimeExceeded;
    // An ICMPv6 Destination Unreachable (type 1) with Hop Limit 1.
    let mut err6 = ip6(HOST6, FAR6, 1, &[], IpProtocol::ICMPV6, 100);
    err6[40] = 1;
    // An ICMPv6 Echo Request (type 128) is answered.
    let mut echo6 = ip6(HOST6, FAR6, 1, &[], IpProtocol::ICMPV6, 100);
    echo6[40] = 128;
    // An IPv4 ICMP Time Exceeded (type 11) with TTL 1.
    let mut err4 = udp4(HOST4, FAR4, 1, true, 100);
    err4[9] = 1;
    err4[20] = 11;
    // From a multicast / unspecified source.
    let mcast6 = udp6("ff02::1".parse().unwrap(), FAR6, 1, 100);
    let unspec6 = udp6(Ipv6Addr::UNSPECIFIED, FAR6, 1, 100);
    let zero4 = udp4(Ipv4Addr::new(0, 0, 0, 0), FAR4, 1, true, 100);
    // Sources a packet through this router cannot really have.
    let loop6 = udp6(Ipv6Addr::LOCALHOST, FAR6, 1, 100);
    let ll6 = udp6("fe80::1".parse().unwrap(), FAR6, 1, 100);
    let mapped6 = udp6("::ffff:10.0.0.1".parse().unwrap(), FAR6, 1, 100);
    for (name, input, allowed) in [
        ("icmpv6 error", err6, false),
        ("icmpv6 echo", echo6, true),
        ("icmp error", err4, false),
        ("multicast source", mcast6, false),
        ("unspecified source", unspec6, false),
        ("zero source", zero4, false),
        ("loopback source", loop6, false),
        ("link-local source", ll6, false),
        ("IPv4-mapped source", mapped6, false),
    ] {
        let mut buf = buffer(&input);
        let mut pkt = Packet::new(&mut buf, HEADROOM, input.len()).unwrap();
        let _ = process(&fib, VRF, &mut pkt);
        // IPv4 checksums were not fixed after the edits: build directly.
        let got = error_in_place(
            &mut pkt,
            te,
            if input[0] >> 4 == 6 {
                IpAddr::V6(ROUTER6)
            } else {
                IpAddr::V4(ROUTER4)
            },
        );
        if allowed {
            assert_eq!(got, Ok(()), "{name}");
        } else {
            assert_eq!(got, Err(Suppressed::NotAllowed), "{name}");
        }
    }
}

#[test]
fn without_an_ipv6_source_no_icmpv6_error() {
    let fib = edge(false);
    let input = udp6(HOST6, FAR6, 1, 100);
    let mut buf = buffer(&input);
    let mut pkt = Packet::new(&mut buf, HEADROOM, input.len()).unwrap();
    assert_eq!(
        process(&fib, VRF, &mut pkt),
        Verdict::Drop(DropReason::HopLimitExceeded)
    );
    assert_eq!(
        icmp_error(&fib, &mut pkt, IcmpKind::TimeExceeded),
        Err(Suppressed::NoSource)
    );
    // IPv4 falls back to the RFC 7600 dummy address when the VRF has none.
    let mut b = FibBuilder::new();
    b.add_vrf(VRF).unwrap();
    let fib = b.build().unwrap();
    assert_eq!(fib.icmp_source_v4(VRF), Ipv4Addr::new(192, 0, 0, 8));
}

#[test]
fn rate_limit_is_a_token_bucket() {
    let mut r = IcmpRateLimit::new(10, 3);
    let ms = 1_000_000u64;
    let t0 = 5_000 * ms;
    assert!(r.allow(t0) && r.allow(t0) && r.allow(t0), "the burst");
    assert!(!r.allow(t0), "burst spent");
    // 10 a second: one token per 100 ms, not before.
    assert!(!r.allow(t0 + 99 * ms));
    assert!(r.allow(t0 + 100 * ms));
    assert!(!r.allow(t0 + 150 * ms));
    assert!(r.allow(t0 + 200 * ms));
    // A long pause refills only up to the burst.
    let t1 = t0 + 60_000 * ms;
    assert!(r.allow(t1) && r.allow(t1) && r.allow(t1));
    assert!(!r.allow(t1));
    // Rate 0: never.
    let mut off = IcmpRateLimit::new(0, 50);
    assert!(!off.allow(t0));
}

fn kind() -> impl Strategy<Value = IcmpKind> {
    prop_oneof![
        Just(IcmpKind::TimeExceeded),
        any::<u32>().prop_map(|mtu| IcmpKind::PacketTooBig { mtu }),
        any::<u32>().prop_map(|pointer| IcmpKind::ParameterProblem { pointer }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any bytes, any headroom: the builder never panics; an error it
    /// builds stays inside the buffer, is no longer than the minimum MTU
    /// and starts with a header of the source's family; a refusal leaves
    /// the buffer as it was.
    #[test]
    fn builder_never_panics_or_overruns(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..1700),
        version in prop_oneof![Just(4u8), Just(6u8), any::<u8>()],
        headroom in 0usize..80,
        tail in 0usize..16,
        kind in kind(),
        v6_src in any::<bool>(),
    ) {
        if let Some(b) = bytes.first_mut() {
            *b = (version << 4) | (*b & 0x0f);
        }
        let mut buf = vec![0u8; headroom + bytes.len() + tail];
        buf[headroom..headroom + bytes.len()].copy_from_slice(&bytes);
        let before = buf.clone();
        let total = buf.len();
        let src = if v6_src { IpAddr::V6(ROUTER6) } else { IpAddr::V4(ROUTER4) };
        let mut pkt = Packet::new(&mut buf, headroom, bytes.len()).unwrap();
        match error_in_place(&mut pkt, kind, src) {
            Ok(()) => {
                prop_assert!(pkt.start() + pkt.len() <= total);
                let max = if v6_src { MIN_MTU_V6 } else { MIN_MTU_V4 };
                prop_assert!(pkt.len() <= max);
                prop_assert_eq!(pkt.data()[0] >> 4, if v6_src { 6 } else { 4 });
            }
            Err(_) => {
                prop_assert_eq!(buf, before);
            }
        }
    }
}

/// Errors `process_then_error_never_panics` built (it checks it built
/// some).
static BUILT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn the_whole_path_property_builds_errors() {
    process_then_error_never_panics();
    assert!(BUILT.load(std::sync::atomic::Ordering::Relaxed) > 100);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The whole path on any bytes: process, then whatever error it calls
    /// for (or a Packet Too Big for any MTU) built and routed: no panic, the
    /// result inside the buffer, an error no longer than the minimum MTU
    /// plus the encapsulation that carries it.
    #[test]
    fn process_then_error_never_panics(
        mut bytes in proptest::collection::vec(any::<u8>(), 20..1600),
        version in prop_oneof![Just(4u8), Just(6u8)],
        hop in 0u8..3,
        underlay in any::<bool>(),
        mtu in 0usize..2000,
        aim in any::<bool>(),
    ) {
        bytes[0] = (version << 4) | if version == 4 { 5 } else { bytes[0] & 0x0f };
        // Mostly well-formed lengths and low TTLs, so the error paths run.
        let len = bytes.len();
        if version == 4 {
            if aim {
                bytes[12..16].copy_from_slice(&HOST4.octets());
                bytes[16..20].copy_from_slice(&FAR4.octets());
            }
            bytes[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            bytes[8] = hop;
            bytes[10] = 0;
            bytes[11] = 0;
            let sum = !dataplane::wire::checksum::data(&bytes[..20]);
            bytes[10..12].copy_from_slice(&sum.to_be_bytes());
        } else if len >= 40 {
            if aim {
                bytes[8..24].copy_from_slice(&HOST6.octets());
                bytes[24..40].copy_from_slice(&FAR6.octets());
            }
            bytes[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
            bytes[7] = hop;
        }
        let fib = edge(true);
        let mut buf = buffer(&bytes);
        let total = buf.len();
        let mut pkt = Packet::new(&mut buf, HEADROOM, bytes.len()).unwrap();
        let vrf = if underlay { UNDERLAY } else { VRF };
        let kind = match process(&fib, vrf, &mut pkt) {
            Verdict::Forward { .. } => too_big_kind(&pkt, pkt.len(), mtu),
            Verdict::Drop(_) => pkt.icmp(),
            _ => None,
        };
        if let Some(kind) = kind {
            if icmp_error(&fib, &mut pkt, kind).is_ok() {
                BUILT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                prop_assert!(pkt.start() + pkt.len() <= total);
                prop_assert!(pkt.len() <= MIN_MTU_V6 + MAX_ENCAP_LEN);
            }
        }
    }
}

/// A packet decapsulated here (End.DT46) whose VRF route leads into a
/// policy again: this edge forwards the inner packet, so it decrements the
/// TTL / Hop Limit, and answers Time Exceeded when it runs out. Without the
/// decrement two edges whose VRF routes point at each other pass a packet
/// back and forth for ever (each encapsulation starts a fresh outer Hop
/// Limit). Checked with the wire views: the inner IPv4 header checksum
/// must still verify.
#[test]
fn a_packet_decapsulated_and_encapsulated_again_loses_one_hop() {
    let fib = edge(true);
    for (inner, v4) in [
        (udp4(Ipv4Addr::new(192, 0, 2, 9), FAR4, 9, true, 100), true),
        (udp6(REMOTE_SRC, FAR6, 9, 100), false),
    ] {
        let next = if v4 {
            IpProtocol::IPV4
        } else {
            IpProtocol::IPV6
        };
        let total = 40 + inner.len();
        let mut outer = ip6(REMOTE_SRC, DT46, 60, &[], next, total);
        outer[40..].copy_from_slice(&inner);
        let mut buf = buffer(&outer);
        let mut pkt = Packet::new(&mut buf, HEADROOM, outer.len()).unwrap();
        assert_eq!(process(&fib, UNDERLAY, &mut pkt), wan(), "v4 {v4}");
        let again = &pkt.data()[OVERHEAD..];
        if v4 {
            let ip = Ipv4Packet::new_checked(again).unwrap();
            assert_eq!(ip.ttl(), 8);
            assert!(
                ip.verify_checksum(),
                "inner IPv4 checksum after the decrement"
            );
        } else {
            assert_eq!(Ipv6Packet::new_checked(again).unwrap().hop_limit(), 8);
        }
        // Everything but the TTL / Hop Limit (and the IPv4 checksum) as sent.
        let (ttl_at, sum_at) = if v4 { (8, 10..12) } else { (7, 0..0) };
        for (i, (a, b)) in again.iter().zip(&inner).enumerate() {
            if i != ttl_at && !sum_at.contains(&i) {
                assert_eq!(a, b, "octet {i} changed (v4 {v4})");
            }
        }
        // With 1 left it is the end of the line: Time Exceeded.
        let mut last = inner.clone();
        if v4 {
            last[8] = 1;
            let mut ip = Ipv4Packet::new_unchecked(&mut last[..]);
            ip.fill_checksum();
        } else {
            last[7] = 1;
        }
        let mut outer = ip6(REMOTE_SRC, DT46, 60, &[], next, total);
        outer[40..].copy_from_slice(&last);
        let mut buf = buffer(&outer);
        let mut pkt = Packet::new(&mut buf, HEADROOM, outer.len()).unwrap();
        assert!(
            matches!(process(&fib, UNDERLAY, &mut pkt), Verdict::Drop(_)),
            "v4 {v4}"
        );
        assert_eq!(pkt.icmp(), Some(IcmpKind::TimeExceeded), "v4 {v4}");
    }
}
