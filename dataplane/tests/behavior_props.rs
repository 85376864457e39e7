//! Property tests of the SRv6 behaviours and the routing decision:
//! * no input makes `process` panic, and whatever it forwards is a valid
//!   IPv4 / IPv6 packet (random bytes, mutated SRv6 packets, truncations at
//!   every length, random SRH fields, long extension-header chains);
//! * H.Encaps / H.Encaps.Red at an ingress node, End at every transit node
//!   and End.DT4 / End.DT6 / End.DT46 at the egress node give back the
//!   original inner packet, with only the forwarding decrement applied;
//! * malformed inputs are dropped for the specific reason.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use dataplane::behavior::{
    process, DropReason, EncapMode, EncapPolicy, Packet, SidBehavior, Verdict, MAX_ENCAP_LEN,
    MAX_SEGMENTS, UNDERLAY,
};
use dataplane::fib::{Adjacency, Fib, FibBuilder, NextHop, PortId, RouteAction, VrfId};
use dataplane::wire::ipv4::{Ipv4Options, Ipv4Packet, Ipv4Repr};
use dataplane::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use dataplane::wire::ipv6ext::{
    FragmentHeader, FragmentRepr, Ipv6OptionRepr, Ipv6OptionsHeader, Ipv6OptionsRepr,
    MAX_EXT_HEADERS,
};
use dataplane::wire::srh::{Srh, SrhRepr};
use dataplane::wire::{Error as WireError, IpProtocol};
use proptest::prelude::*;

const fn a6(a: u16, b: u16, c: u16, h: u16) -> Ipv6Addr {
    Ipv6Addr::new(a, b, c, 0, 0, 0, 0, h)
}

const POLICY_SRC: Ipv6Addr = a6(0xfc00, 0xa, 0, 1);
const END: Ipv6Addr = a6(0xfc00, 1, 0, 0xe);
const END_X: Ipv6Addr = a6(0xfc00, 1, 0, 0xe1);
const DT6: Ipv6Addr = a6(0xfc00, 1, 0, 0xd6);
const DT4: Ipv6Addr = a6(0xfc00, 1, 0, 0xd4);
const DT46: Ipv6Addr = a6(0xfc00, 1, 0, 0xd46);
const DX4: Ipv6Addr = a6(0xfc00, 1, 0, 0xdd4);
const DX6: Ipv6Addr = a6(0xfc00, 1, 0, 0xdd6);
/// Every address in fc00:1:1::/48 is an End SID.
const END_PREFIX_SID: Ipv6Addr = a6(0xfc00, 1, 1, 0x77);
const REMOTE: Ipv6Addr = a6(0xfc00, 2, 0, 1);
const REMOTE_2: Ipv6Addr = a6(0xfc00, 2, 0, 2);

const SIDS: [Ipv6Addr; 8] = [END, END_X, DT6, DT4, DT46, DX4, DX6, END_PREFIX_SID];
const DECAP_SIDS: [Ipv6Addr; 5] = [DT6, DT4, DT46, DX4, DX6];

const VRF_A: VrfId = 10;

const UNDERLAY_ADJ: Adjacency = Adjacency {
    port: PortId(1),
    next_hop: NextHop::V6(a6(0xfe80, 0, 0, 1)),
};
const LAN_ADJ4: Adjacency = Adjacency {
    port: PortId(3),
    next_hop: NextHop::V4(Ipv4Addr::new(10, 255, 0, 1)),
};
const LAN_ADJ6: Adjacency = Adjacency {
    port: PortId(3),
    next_hop: NextHop::V6(a6(0xfe80, 0, 0, 3)),
};

const HEADROOM: usize = MAX_ENCAP_LEN + 32;

/// A node with every behaviour as a SID and routes for everything, in
/// both families and every VRF. The policies' first SIDs are remote, so no
/// configuration loop exists (see `encap_into_own_decap_sid_loop_is_stopped`
/// in tests/behavior.rs for what happens otherwise).
static FUZZ_FIB: LazyLock<Fib> = LazyLock::new(|| {
    let mut b = FibBuilder::new();
    let encaps = b.add_policy(
        EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &[REMOTE, REMOTE_2, DT46]).unwrap(),
    );
    let red =
        b.add_policy(EncapPolicy::new(EncapMode::EncapsRed, POLICY_SRC, &[REMOTE, DT6]).unwrap());
    let red1 = b.add_policy(EncapPolicy::new(EncapMode::EncapsRed, POLICY_SRC, &[REMOTE]).unwrap());
    let fwd4 = RouteAction::Forward(Adjacency {
        port: PortId(5),
        next_hop: NextHop::Direct,
    });
    for vrf in [UNDERLAY, VRF_A, 20] {
        b.add_route_v6(
            vrf,
            Ipv6Addr::UNSPECIFIED,
            0,
            RouteAction::Forward(UNDERLAY_ADJ),
        )
        .unwrap();
        b.add_route_v6(
            vrf,
            a6(0x2001, 0xdb8, 0x10, 0),
            48,
            RouteAction::Forward(LAN_ADJ6),
        )
        .unwrap();
        b.add_route_v6(vrf, a6(0x2001, 0xdb8, 0xaa, 0), 48, RouteAction::Encap(red))
            .unwrap();
        b.add_route_v6(
            vrf,
            a6(0x2001, 0xdb8, 0xab, 0),
            48,
            RouteAction::Encap(encaps),
        )
        .unwrap();
        b.add_route_v6(vrf, a6(0x2001, 0xdb8, 0xbad, 0), 48, RouteAction::Blackhole)
            .unwrap();
        b.add_route_v6(vrf, a6(0x2001, 0xdb8, 0x1, 1), 128, RouteAction::Local)
            .unwrap();
        b.add_route_v4(vrf, Ipv4Addr::UNSPECIFIED, 0, fwd4).unwrap();
        b.add_route_v4(
            vrf,
            Ipv4Addr::new(10, 0, 0, 0),
            8,
            RouteAction::Forward(LAN_ADJ4),
        )
        .unwrap();
        b.add_route_v4(
            vrf,
            Ipv4Addr::new(198, 51, 100, 0),
            24,
            RouteAction::Encap(encaps),
        )
        .unwrap();
        b.add_route_v4(
            vrf,
            Ipv4Addr::new(198, 51, 101, 0),
            24,
            RouteAction::Encap(red1),
        )
        .unwrap();
        b.add_route_v4(
            vrf,
            Ipv4Addr::new(203, 0, 113, 0),
            24,
            RouteAction::Blackhole,
        )
        .unwrap();
        b.add_route_v4(vrf, Ipv4Addr::new(192, 0, 2, 1), 32, RouteAction::Local)
            .unwrap();
    }
    b.add_sid(END, SidBehavior::End).unwrap();
    b.add_sid(
        END_X,
        SidBehavior::EndX(Adjacency {
            port: PortId(7),
            next_hop: NextHop::V6(a6(0xfe80, 0, 0, 7)),
        }),
    )
    .unwrap();
    b.add_sid(DT6, SidBehavior::EndDT6 { vrf: VRF_A }).unwrap();
    b.add_sid(DT4, SidBehavior::EndDT4 { vrf: VRF_A }).unwrap();
    b.add_sid(DT46, SidBehavior::EndDT46 { vrf: 20 }).unwrap();
    b.add_sid(
        DX4,
        SidBehavior::EndDX4(Adjacency {
            port: PortId(8),
            next_hop: NextHop::Direct,
        }),
    )
    .unwrap();
    b.add_sid(
        DX6,
        SidBehavior::EndDX6(Adjacency {
            port: PortId(9),
            next_hop: NextHop::V6(a6(0xfe80, 0, 0, 9)),
        }),
    )
    .unwrap();
    b.add_sid_prefix(a6(0xfc00, 1, 1, 0), 48, SidBehavior::End)
        .unwrap();
    b.build().unwrap()
});

/// Ingress VRFs the fuzz targets use: the underlay, two configured VRFs,
/// one inside the table range but not configured, one outside it.
fn ingress_vrf() -> impl Strategy<Value = VrfId> {
    prop_oneof![
        4 => Just(UNDERLAY),
        2 => Just(VRF_A),
        1 => Just(20),
        1 => Just(15),
        1 => Just(4000),
    ]
}

/// Processes `frame` and, if it is forwarded, checks that what leaves is a
/// whole, valid packet of the next hop's family.
fn process_checked(fib: &Fib, vrf: VrfId, frame: &[u8]) -> Result<Verdict, TestCaseError> {
    let mut buf = vec![0u8; HEADROOM + frame.len()];
    buf[HEADROOM..].copy_from_slice(frame);
    let mut pkt = Packet::new(&mut buf, HEADROOM, frame.len()).unwrap();
    let verdict = process(fib, vrf, &mut pkt);
    if let Verdict::Forward { next_hop, .. } = verdict {
        let out = pkt.data();
        prop_assert!(!out.is_empty());
        match out[0] >> 4 {
            6 => {
                let ip = Ipv6Packet::new_checked(out);
                prop_assert!(ip.is_ok(), "forwarded invalid IPv6: {:?}", ip.err());
                prop_assert_eq!(ip.unwrap().total_len(), out.len(), "padding left");
                prop_assert!(next_hop.is_ipv6());
            }
            4 => {
                let ip = Ipv4Packet::new_checked(out);
                prop_assert!(ip.is_ok(), "forwarded invalid IPv4: {:?}", ip.err());
                let ip = ip.unwrap();
                prop_assert_eq!(usize::from(ip.total_len()), out.len(), "padding left");
                prop_assert!(ip.verify_checksum(), "forwarded with a bad checksum");
                prop_assert!(ip.ttl() >= 1);
                prop_assert!(next_hop.is_ipv4());
            }
            v => prop_assert!(false, "forwarded a version {} packet", v),
        }
    }
    Ok(verdict)
}

// ---------------------------------------------------------------------------
// Packet construction
// ---------------------------------------------------------------------------

fn srh_bytes(segment_list: &[Ipv6Addr], sl: u8) -> Vec<u8> {
    // `segment_list` in wire order: Segment List[0] first.
    let repr = SrhRepr {
        next_header: IpProtocol::IPV6_NO_NXT,
        segments_left: sl,
        last_entry: (segment_list.len() - 1) as u8,
        flags: 0,
        tag: 0,
        segments: segment_list.to_vec(),
        tlvs: Vec::new(),
    };
    let mut v = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Srh::new_unchecked(&mut v[..]));
    v
}

fn options_bytes(data_len: usize) -> Vec<u8> {
    let repr = Ipv6OptionsRepr {
        next_header: IpProtocol::IPV6_NO_NXT,
        options: vec![Ipv6OptionRepr::Other {
            opt_type: 0x1e,
            data: vec![0xab; data_len],
        }],
    };
    let mut v = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Ipv6OptionsHeader::new_unchecked(&mut v[..]));
    v
}

fn fragment_bytes(offset: u16) -> Vec<u8> {
    let repr = FragmentRepr {
        next_header: IpProtocol::IPV6_NO_NXT,
        frag_offset: offset,
        more_frags: true,
        ident: 7,
    };
    let mut v = vec![0u8; 8];
    repr.emit(&mut FragmentHeader::new_unchecked(&mut v[..]));
    v
}

/// IPv6 header + chained extension headers + upper layer.
fn ipv6(
    dst: Ipv6Addr,
    hl: u8,
    exts: &[(IpProtocol, Vec<u8>)],
    upper: IpProtocol,
    body: &[u8],
) -> Vec<u8> {
    let ext_len: usize = exts.iter().map(|(_, h)| h.len()).sum();
    let ip = Ipv6Repr {
        src: a6(0xfc00, 0xb, 0, 1),
        dst,
        next_header: exts.first().map_or(upper, |(p, _)| *p),
        hop_limit: hl,
        traffic_class: 0,
        flow_label: 0,
        payload_len: u16::try_from(ext_len + body.len()).unwrap(),
    };
    let mut v = vec![0u8; 40];
    ip.emit(&mut Ipv6Packet::new_unchecked(&mut v[..]));
    for (i, (_, h)) in exts.iter().enumerate() {
        let mut h = h.clone();
        h[0] = exts.get(i + 1).map_or(upper, |(p, _)| *p).0;
        v.extend_from_slice(&h);
    }
    v.extend_from_slice(body);
    v
}

/// An inner packet: its bytes and whether it is IPv6.
#[derive(Debug, Clone)]
struct Inner {
    bytes: Vec<u8>,
    v6: bool,
}

prop_compose! {
    fn inner_v4()(
        src in any::<u32>(),
        low in 0u32..1 << 24,
        ttl in 2u8..=255,
        tos in any::<u8>(),
        ident in any::<u16>(),
        dont_frag in any::<bool>(),
        option_words in 0usize..=10,
        protocol in prop::sample::select(vec![1u8, 6, 17, 47, 132]),
        payload in prop::collection::vec(any::<u8>(), 0..200),
    ) -> Inner {
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::from(src),
            dst_addr: Ipv4Addr::from(0x0a00_0000 | low),
            protocol: IpProtocol(protocol),
            ttl,
            tos,
            ident,
            dont_frag,
            more_frags: false,
            frag_offset: 0,
            options: Ipv4Options::new(&vec![1u8; option_words * 4]).unwrap(),
            payload_len: payload.len(),
        };
        let mut bytes = vec![0u8; repr.buffer_len()];
        let hl = repr.header_len();
        bytes[hl..].copy_from_slice(&payload);
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut bytes[..]));
        Inner { bytes, v6: false }
    }
}

prop_compose! {
    fn inner_v6()(
        src in any::<u128>(),
        low in any::<u64>(),
        hop_limit in (MAX_SEGMENTS as u8 + 2)..=255,
        traffic_class in any::<u8>(),
        flow_label in 0u32..1 << 20,
        next_header in prop::sample::select(vec![6u8, 17, 58, 59, 4, 41]),
        payload in prop::collection::vec(any::<u8>(), 0..200),
    ) -> Inner {
        let repr = Ipv6Repr {
            src: Ipv6Addr::from(src),
            dst: Ipv6Addr::from((0x2001_0db8_0010_0000u128 << 64) | u128::from(low)),
            next_header: IpProtocol(next_header),
            hop_limit,
            traffic_class,
            flow_label,
            payload_len: payload.len() as u16,
        };
        let mut bytes = vec![0u8; 40];
        repr.emit(&mut Ipv6Packet::new_unchecked(&mut bytes[..]));
        bytes.extend_from_slice(&payload);
        Inner { bytes, v6: true }
    }
}

fn inner() -> impl Strategy<Value = Inner> {
    prop_oneof![inner_v4(), inner_v6()]
}

fn inner_proto(inner: &Inner) -> IpProtocol {
    if inner.v6 {
        IpProtocol::IPV6
    } else {
        IpProtocol::IPV4
    }
}

/// A valid SRv6 packet to one of the fuzz node's SIDs: SRH (or not), maybe
/// Destination Options around it, an inner packet or an upper layer.
#[derive(Debug, Clone)]
struct Srv6Case {
    bytes: Vec<u8>,
    /// Offset of the SRH, if any.
    srh_at: Option<usize>,
}

prop_compose! {
    fn srv6_case()(
        sid in prop::sample::select(SIDS.to_vec()),
        inner in inner(),
        extra_segments in prop::collection::vec(any::<u128>(), 0..5),
        sl_choice in any::<prop::sample::Index>(),
        with_srh in prop::bool::weighted(0.9),
        opts_before in any::<bool>(),
        opts_after in any::<bool>(),
        hl in 0u8..=255,
        upper_udp in prop::bool::weighted(0.1),
    ) -> Srv6Case {
        let is_decap = DECAP_SIDS.contains(&sid);
        // Segment list in wire order; the active one is [SL] = sid.
        let mut list: Vec<Ipv6Addr> = extra_segments.iter().map(|a| Ipv6Addr::from(*a)).collect();
        let sl = if is_decap { 0 } else { sl_choice.index(list.len() + 1) };
        list.insert(sl, sid);
        let mut exts = Vec::new();
        if opts_before {
            exts.push((IpProtocol::IPV6_OPTS, options_bytes(3)));
        }
        let mut srh_at = None;
        if with_srh {
            srh_at = Some(40 + exts.iter().map(|(_, h)| h.len()).sum::<usize>());
            let s = srh_bytes(&list, sl as u8);
            exts.push((IpProtocol::IPV6_ROUTE, s));
        }
        if opts_after {
            exts.push((IpProtocol::IPV6_OPTS, options_bytes(11)));
        }
        let (upper, body) = if upper_udp {
            (IpProtocol::UDP, vec![0u8; 16])
        } else {
            (inner_proto(&inner), inner.bytes)
        };
        Srv6Case { bytes: ipv6(sid, hl, &exts, upper, &body), srh_at }
    }
}

/// A mutation of a valid packet.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(prop::sample::Index, u8),
    Truncate(prop::sample::Index, bool),
    SegmentsLeft(u8),
    LastEntry(u8),
    HdrExtLen(u8),
    PayloadLen(u16),
    NextHeader(u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        1 => (any::<prop::sample::Index>(), any::<bool>()).prop_map(|(i, f)| Mutation::Truncate(i, f)),
        2 => any::<u8>().prop_map(Mutation::SegmentsLeft),
        2 => any::<u8>().prop_map(Mutation::LastEntry),
        2 => any::<u8>().prop_map(Mutation::HdrExtLen),
        1 => any::<u16>().prop_map(Mutation::PayloadLen),
        1 => any::<u8>().prop_map(Mutation::NextHeader),
    ]
}

fn apply(case: &Srv6Case, mutations: &[Mutation]) -> Vec<u8> {
    let mut p = case.bytes.clone();
    for m in mutations {
        match *m {
            Mutation::Flip(i, x) => {
                if !p.is_empty() {
                    let i = i.index(p.len());
                    p[i] ^= x;
                }
            }
            Mutation::Truncate(i, fix_payload_len) => {
                let len = i.index(p.len() + 1);
                p.truncate(len);
                if fix_payload_len && len >= 40 {
                    let pl = (len - 40) as u16;
                    p[4..6].copy_from_slice(&pl.to_be_bytes());
                }
            }
            Mutation::SegmentsLeft(v) | Mutation::LastEntry(v) | Mutation::HdrExtLen(v) => {
                let field = match m {
                    Mutation::SegmentsLeft(_) => 3,
                    Mutation::LastEntry(_) => 4,
                    _ => 1,
                };
                if let Some(at) = case.srh_at {
                    if at + field < p.len() {
                        p[at + field] = v;
                    }
                }
            }
            Mutation::PayloadLen(v) => {
                if p.len() >= 6 {
                    p[4..6].copy_from_slice(&v.to_be_bytes());
                }
            }
            Mutation::NextHeader(v) => {
                if p.len() >= 7 {
                    p[6] = v;
                }
            }
        }
    }
    p
}

/// Extension headers of random types and lengths, more than the walker
/// accepts at times.
fn ext_chain() -> impl Strategy<Value = Vec<(IpProtocol, Vec<u8>)>> {
    let header = prop_oneof![
        (0usize..40).prop_map(|n| (IpProtocol::HOP_BY_HOP, options_bytes(n))),
        (0usize..40).prop_map(|n| (IpProtocol::IPV6_OPTS, options_bytes(n))),
        (0u16..4).prop_map(|o| (IpProtocol::IPV6_FRAG, fragment_bytes(o))),
        (prop::collection::vec(any::<u128>(), 1..4), any::<u8>()).prop_map(|(segs, sl)| {
            let list: Vec<Ipv6Addr> = segs.into_iter().map(Ipv6Addr::from).collect();
            let sl = sl % (list.len() as u8 + 2);
            (IpProtocol::IPV6_ROUTE, srh_bytes(&list, sl))
        }),
        (any::<u8>(), 0u8..3, prop::collection::vec(any::<u8>(), 6)).prop_map(|(t, hel, data)| {
            let mut h = vec![0u8; 8 * (usize::from(hel) + 1)];
            h[1] = hel;
            h[2] = t;
            h[3] = data[0] % 3;
            h[4..8].copy_from_slice(&data[1..5]);
            (IpProtocol::IPV6_ROUTE, h)
        }),
    ];
    prop::collection::vec(header, 0..=MAX_EXT_HEADERS + 3)
}

/// Random bytes, often shaped like the start of an IP packet.
fn raw_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<u8>(), 0..600),
        0u8..5,
        prop::sample::select(SIDS.to_vec()),
        any::<bool>(),
    )
        .prop_map(|(mut v, shape, sid, fix_len)| {
            match shape {
                0 => {}
                1 | 2 if v.len() >= 40 => {
                    v[0] = 0x60 | (v[0] & 0x0f);
                    if fix_len {
                        let pl = ((v.len() - 40) as u16).to_be_bytes();
                        v[4..6].copy_from_slice(&pl);
                    }
                    if shape == 2 {
                        v[24..40].copy_from_slice(&sid.octets());
                    }
                }
                3 if v.len() >= 20 => {
                    v[0] = 0x40 | (v[0] & 0x0f);
                    if fix_len {
                        let tl = (v.len() as u16).to_be_bytes();
                        v[2..4].copy_from_slice(&tl);
                        v[0] = 0x45;
                        let mut ip = Ipv4Packet::new_unchecked(&mut v[..]);
                        ip.fill_checksum();
                    }
                }
                _ => {
                    if let Some(b) = v.first_mut() {
                        *b = 0x60;
                    }
                }
            }
            v
        })
}

// ---------------------------------------------------------------------------
// Never panics; forwards only valid packets
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn random_bytes_never_panic(frame in raw_frame(), vrf in ingress_vrf()) {
        process_checked(&FUZZ_FIB, vrf, &frame)?;
    }

    #[test]
    fn mutated_srv6_packets_never_panic(
        case in srv6_case(),
        mutations in prop::collection::vec(mutation(), 0..4),
        padding in 0usize..20,
        vrf in ingress_vrf(),
    ) {
        let mut frame = apply(&case, &mutations);
        frame.extend(std::iter::repeat_n(0xee, padding));
        process_checked(&FUZZ_FIB, vrf, &frame)?;
    }

    #[test]
    fn long_extension_header_chains(
        chain in ext_chain(),
        sid in prop::sample::select(SIDS.to_vec()),
        inner in inner(),
    ) {
        let frame = ipv6(sid, 64, &chain, inner_proto(&inner), &inner.bytes);
        let verdict = process_checked(&FUZZ_FIB, UNDERLAY, &frame)?;
        if chain.len() > MAX_EXT_HEADERS {
            // Hop-by-Hop not first is reported before the chain gets long.
            let hbh_late = chain.iter().take(MAX_EXT_HEADERS).skip(1)
                .any(|(p, _)| *p == IpProtocol::HOP_BY_HOP);
            // A non-first fragment ends the walk early.
            let frag_stop = chain.iter().take(MAX_EXT_HEADERS)
                .position(|(p, h)| {
                    *p == IpProtocol::IPV6_FRAG && u16::from_be_bytes([h[2], h[3]]) >> 3 != 0
                });
            if !hbh_late && frag_stop.is_none() {
                prop_assert_eq!(
                    verdict,
                    Verdict::Drop(DropReason::Malformed(WireError::ExtHeaderChainTooLong))
                );
            }
        }
    }
}

#[test]
fn truncation_at_every_length() {
    let inner4 = {
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 9, 9, 9),
            dst_addr: Ipv4Addr::new(10, 1, 1, 1),
            protocol: IpProtocol::UDP,
            ttl: 64,
            tos: 0,
            ident: 1,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
            options: Ipv4Options::EMPTY,
            payload_len: 12,
        };
        let mut v = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut v[..]));
        v
    };
    let inner6 = ipv6(
        a6(0x2001, 0xdb8, 0x10, 1),
        64,
        &[],
        IpProtocol::UDP,
        &[0; 12],
    );
    let mut packets = Vec::new();
    for sid in SIDS {
        let (proto, inner) = if [DT4, DX4].contains(&sid) {
            (IpProtocol::IPV4, &inner4)
        } else {
            (IpProtocol::IPV6, &inner6)
        };
        let sl = if DECAP_SIDS.contains(&sid) { 0 } else { 1 };
        let list = if sl == 0 {
            vec![sid, REMOTE]
        } else {
            vec![REMOTE, sid]
        };
        let chains = [
            vec![(IpProtocol::IPV6_ROUTE, srh_bytes(&list, sl))],
            vec![
                (IpProtocol::HOP_BY_HOP, options_bytes(4)),
                (IpProtocol::IPV6_OPTS, options_bytes(12)),
                (IpProtocol::IPV6_ROUTE, srh_bytes(&list, sl)),
                (IpProtocol::IPV6_OPTS, options_bytes(2)),
            ],
        ];
        for chain in chains {
            let ext_end = 40 + chain.iter().map(|(_, h)| h.len()).sum::<usize>();
            packets.push((sid, ext_end, ipv6(sid, 64, &chain, proto, inner)));
        }
    }
    for vrf in [UNDERLAY, VRF_A] {
        for (_, _, p) in &packets {
            // A whole packet is never malformed.
            let v = run(&FUZZ_FIB, vrf, p);
            assert!(
                !matches!(v, Verdict::Drop(DropReason::Malformed(_))),
                "{v:?}"
            );
        }
    }
    for (sid, ext_end, p) in &packets {
        for len in 0..p.len() {
            // Cut, Payload Length left as it was.
            let v = run(&FUZZ_FIB, UNDERLAY, &p[..len]);
            let want = match len {
                0..=39 => WireError::Truncated,
                _ => WireError::Ipv6BadPayloadLength,
            };
            assert_eq!(
                v,
                Verdict::Drop(DropReason::Malformed(want)),
                "{sid} cut at {len}"
            );
            // Cut, Payload Length matching the cut.
            if len < 40 {
                continue;
            }
            let mut q = p[..len].to_vec();
            q[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
            let v = run(&FUZZ_FIB, UNDERLAY, &q);
            if len == 40 && p[6] == 0 {
                // Payload Length 0 with a Hop-by-Hop header first is the
                // jumbogram form (RFC 2675), refused as such.
                assert_eq!(
                    v,
                    Verdict::Drop(DropReason::Malformed(WireError::Ipv6BadPayloadLength)),
                    "{sid} cut at 40 with Hop-by-Hop first"
                );
            } else if len < *ext_end {
                assert_eq!(
                    v,
                    Verdict::Drop(DropReason::Malformed(WireError::ExtHeaderTruncated)),
                    "{sid} cut at {len} (inside the extension headers)"
                );
            } else if DECAP_SIDS.contains(sid) {
                // Inner packet cut: its own length checks fail.
                assert!(
                    matches!(
                        v,
                        Verdict::Drop(DropReason::Malformed(
                            WireError::Truncated
                                | WireError::Ipv6BadPayloadLength
                                | WireError::Ipv4BadTotalLength
                        ))
                    ),
                    "{sid} cut at {len}: {v:?}"
                );
            } else {
                // End / End.X do not look past the SRH.
                assert!(
                    matches!(v, Verdict::Forward { .. }),
                    "{sid} cut at {len}: {v:?}"
                );
            }
        }
    }
}

fn run(fib: &Fib, vrf: VrfId, frame: &[u8]) -> Verdict {
    let mut buf = vec![0u8; HEADROOM + frame.len()];
    buf[HEADROOM..].copy_from_slice(frame);
    let mut pkt = Packet::new(&mut buf, HEADROOM, frame.len()).unwrap();
    process(fib, vrf, &mut pkt)
}

// ---------------------------------------------------------------------------
// H.Encaps -> End* -> End.DT* gives the inner packet back
// ---------------------------------------------------------------------------

/// Fibs of an SR path: the ingress node, two transit nodes taking every
/// other intermediate SID as End, and the egress node with the DT SIDs.
fn path_fibs(policy: EncapPolicy) -> (Fib, [Fib; 2], Fib) {
    let segs = policy.segments().to_vec();
    let mut ing = FibBuilder::new();
    let id = ing.add_policy(policy);
    ing.add_route_v6(
        UNDERLAY,
        a6(0xfc00, 0, 0, 0),
        16,
        RouteAction::Forward(UNDERLAY_ADJ),
    )
    .unwrap();
    ing.add_route_v4(VRF_A, Ipv4Addr::new(10, 0, 0, 0), 8, RouteAction::Encap(id))
        .unwrap();
    ing.add_route_v6(
        VRF_A,
        a6(0x2001, 0xdb8, 0x10, 0),
        48,
        RouteAction::Encap(id),
    )
    .unwrap();
    let transit = [0, 1].map(|k| {
        let mut b = FibBuilder::new();
        b.add_route_v6(
            UNDERLAY,
            a6(0xfc00, 0, 0, 0),
            16,
            RouteAction::Forward(UNDERLAY_ADJ),
        )
        .unwrap();
        for (i, s) in segs[..segs.len() - 1].iter().enumerate() {
            if i % 2 == k {
                b.add_sid(*s, SidBehavior::End).unwrap();
            }
        }
        b.build().unwrap()
    });
    let mut eg = FibBuilder::new();
    eg.add_route_v4(
        VRF_A,
        Ipv4Addr::new(10, 0, 0, 0),
        8,
        RouteAction::Forward(LAN_ADJ4),
    )
    .unwrap();
    eg.add_route_v6(
        VRF_A,
        a6(0x2001, 0xdb8, 0x10, 0),
        48,
        RouteAction::Forward(LAN_ADJ6),
    )
    .unwrap();
    eg.add_sid(DT4, SidBehavior::EndDT4 { vrf: VRF_A }).unwrap();
    eg.add_sid(DT6, SidBehavior::EndDT6 { vrf: VRF_A }).unwrap();
    eg.add_sid(DT46, SidBehavior::EndDT46 { vrf: VRF_A })
        .unwrap();
    (ing.build().unwrap(), transit, eg.build().unwrap())
}

/// The inner packet as it must leave the egress node: Hop Limit / TTL - 1,
/// IPv4 checksum computed afresh.
fn decremented(inner: &Inner) -> Vec<u8> {
    let mut v = inner.bytes.clone();
    if inner.v6 {
        v[7] -= 1;
    } else {
        let mut ip = Ipv4Packet::new_unchecked(&mut v[..]);
        let ttl = ip.ttl();
        ip.set_ttl(ttl - 1);
        ip.fill_checksum();
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encap_transit_decap_round_trip(
        inner in inner(),
        n in 1usize..=MAX_SEGMENTS,
        red in any::<bool>(),
        dt46 in any::<bool>(),
        padding in 0usize..16,
    ) {
        let egress_sid = match (dt46, inner.v6) {
            (true, _) => DT46,
            (false, true) => DT6,
            (false, false) => DT4,
        };
        let mut segs: Vec<Ipv6Addr> = (1..n).map(|i| a6(0xfc00, 2, 0, i as u16)).collect();
        segs.push(egress_sid);
        let mode = if red { EncapMode::EncapsRed } else { EncapMode::Encaps };
        let (ing, transit, eg) = path_fibs(EncapPolicy::new(mode, POLICY_SRC, &segs).unwrap());

        // One buffer travels the whole path, as a frame would.
        let mut buf = vec![0u8; HEADROOM + inner.bytes.len() + padding];
        buf[HEADROOM..HEADROOM + inner.bytes.len()].copy_from_slice(&inner.bytes);
        buf[HEADROOM + inner.bytes.len()..].fill(0xee);
        let (mut start, mut len) = (HEADROOM, inner.bytes.len() + padding);

        let mut step = |fib: &Fib, vrf: VrfId| {
            let mut pkt = Packet::new(&mut buf, start, len).unwrap();
            let v = process(fib, vrf, &mut pkt);
            start = pkt.start();
            len = pkt.len();
            (v, pkt.data().to_vec())
        };
        let underlay = Verdict::Forward {
            port: PortId(1),
            next_hop: IpAddr::V6(a6(0xfe80, 0, 0, 1)),
        };
        let (v, out) = step(&ing, VRF_A);
        prop_assert_eq!(v, underlay);
        let encap_len = 40 + match (red, n) {
            (true, 1) => 0,
            (true, _) => 8 + 16 * (n - 1),
            (false, _) => 8 + 16 * n,
        };
        prop_assert_eq!(out.len(), encap_len + inner.bytes.len());
        prop_assert_eq!(&out[encap_len..], &inner.bytes[..]);
        let mut cur = out;
        for (i, seg) in segs.iter().enumerate().take(n - 1) {
            prop_assert_eq!(Ipv6Packet::new_checked(&cur[..]).unwrap().dst_addr(), *seg);
            let (v, next) = step(&transit[i % 2], UNDERLAY);
            prop_assert_eq!(v, underlay);
            let ip = Ipv6Packet::new_checked(&next[..]).unwrap();
            prop_assert_eq!(ip.dst_addr(), segs[i + 1]);
            let srh = Srh::new_checked(&next[40..]).unwrap();
            prop_assert_eq!(usize::from(srh.segments_left()), n - 2 - i);
            // Only the Hop Limit, DA and Segments Left changed.
            prop_assert_eq!(&next[40 + 4..], &cur[40 + 4..]);
            cur = next;
        }
        let (v, out) = step(&eg, UNDERLAY);
        let want_verdict = if inner.v6 {
            Verdict::Forward { port: PortId(3), next_hop: IpAddr::V6(a6(0xfe80, 0, 0, 3)) }
        } else {
            Verdict::Forward { port: PortId(3), next_hop: IpAddr::V4(Ipv4Addr::new(10, 255, 0, 1)) }
        };
        prop_assert_eq!(v, want_verdict);
        prop_assert_eq!(out, decremented(&inner));
        prop_assert_eq!(start, HEADROOM, "the headroom is given back");
    }
}

// ---------------------------------------------------------------------------
// Malformed inputs: the specific reason
// ---------------------------------------------------------------------------

fn malformed(e: WireError) -> Verdict {
    Verdict::Drop(DropReason::Malformed(e))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn segments_left_beyond_last_entry(
        sid in prop::sample::select(SIDS.to_vec()),
        others in prop::collection::vec(any::<u128>(), 0..6),
        extra in 2u8..=255,
        inner in inner(),
    ) {
        let mut list: Vec<Ipv6Addr> = others.into_iter().map(Ipv6Addr::from).collect();
        list.push(sid);
        let sl = (list.len() as u8 - 1).saturating_add(extra);
        prop_assume!(usize::from(sl) > list.len());
        let p = ipv6(sid, 64, &[(IpProtocol::IPV6_ROUTE, srh_bytes(&list, sl))], inner_proto(&inner), &inner.bytes);
        prop_assert_eq!(run(&FUZZ_FIB, UNDERLAY, &p), malformed(WireError::SrhSegmentsLeftBeyondLastEntry));
    }

    #[test]
    fn last_entry_beyond_hdr_ext_len(
        sid in prop::sample::select(SIDS.to_vec()),
        others in prop::collection::vec(any::<u128>(), 0..6),
        last_entry in any::<u8>(),
        inner in inner(),
    ) {
        let mut list: Vec<Ipv6Addr> = others.into_iter().map(Ipv6Addr::from).collect();
        list.push(sid);
        prop_assume!(usize::from(last_entry) >= list.len());
        let sl = list.len() as u8 - 1;
        let mut s = srh_bytes(&list, if DECAP_SIDS.contains(&sid) { 0 } else { sl });
        s[4] = last_entry;
        let p = ipv6(sid, 64, &[(IpProtocol::IPV6_ROUTE, s)], inner_proto(&inner), &inner.bytes);
        prop_assert_eq!(run(&FUZZ_FIB, UNDERLAY, &p), malformed(WireError::SrhBadLength));
    }

    #[test]
    fn hdr_ext_len_inconsistent(
        sid in prop::sample::select(SIDS.to_vec()),
        others in prop::collection::vec(any::<u128>(), 0..6),
        hdr_ext_len in any::<u8>(),
        inner in inner(),
    ) {
        let mut list: Vec<Ipv6Addr> = others.into_iter().map(Ipv6Addr::from).collect();
        list.push(sid);
        let mut s = srh_bytes(&list, 0);
        let real = s[1];
        prop_assume!(hdr_ext_len != real);
        s[1] = hdr_ext_len;
        let p = ipv6(sid, 64, &[(IpProtocol::IPV6_ROUTE, s)], inner_proto(&inner), &inner.bytes);
        let v = process_checked(&FUZZ_FIB, UNDERLAY, &p)?;
        if 40 + 8 * (usize::from(hdr_ext_len) + 1) > p.len() {
            prop_assert_eq!(v, malformed(WireError::ExtHeaderTruncated));
        } else if hdr_ext_len < real {
            prop_assert_eq!(v, malformed(WireError::SrhBadLength));
        }
    }

    #[test]
    fn truncated_inside_the_srh(
        sid in prop::sample::select(SIDS.to_vec()),
        others in prop::collection::vec(any::<u128>(), 0..6),
        cut in any::<prop::sample::Index>(),
        fix_payload_len in any::<bool>(),
        inner in inner(),
    ) {
        let mut list: Vec<Ipv6Addr> = others.into_iter().map(Ipv6Addr::from).collect();
        list.push(sid);
        let s = srh_bytes(&list, 0);
        let srh_len = s.len();
        let p = ipv6(sid, 64, &[(IpProtocol::IPV6_ROUTE, s)], inner_proto(&inner), &inner.bytes);
        // Cut somewhere strictly inside the SRH.
        let len = 40 + cut.index(srh_len);
        let mut q = p[..len].to_vec();
        if fix_payload_len {
            q[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
            // The chain walker finds the header running past the payload.
            prop_assert_eq!(run(&FUZZ_FIB, UNDERLAY, &q), malformed(WireError::ExtHeaderTruncated));
        } else {
            // The IPv6 header announces more than there is.
            prop_assert_eq!(run(&FUZZ_FIB, UNDERLAY, &q), malformed(WireError::Ipv6BadPayloadLength));
        }
    }

    #[test]
    fn ipv4_header_errors(
        inner in inner_v4(),
        ihl in 0u8..5,
        version in 0u8..16,
        extra in 1u16..100,
        flip in 1u16..=0xffff,
        vrf in ingress_vrf(),
        via_dt4 in any::<bool>(),
    ) {
        let wrap = |p: &[u8]| -> (Vec<u8>, VrfId) {
            if via_dt4 {
                (ipv6(DT4, 64, &[], IpProtocol::IPV4, p), UNDERLAY)
            } else {
                (p.to_vec(), vrf)
            }
        };
        // IHL < 5.
        let mut p = inner.bytes.clone();
        p[0] = 0x40 | ihl;
        let (f, v) = wrap(&p);
        prop_assert_eq!(run(&FUZZ_FIB, v, &f), malformed(WireError::Ipv4BadIhl));
        // Total Length beyond the packet.
        let mut p = inner.bytes.clone();
        let tl = (p.len() as u16).saturating_add(extra);
        p[2..4].copy_from_slice(&tl.to_be_bytes());
        Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
        let (f, v) = wrap(&p);
        prop_assert_eq!(run(&FUZZ_FIB, v, &f), malformed(WireError::Ipv4BadTotalLength));
        // Checksum wrong.
        let mut p = inner.bytes.clone();
        let old = u16::from_be_bytes([p[10], p[11]]);
        let c = old ^ flip;
        // 0x0000 and 0xffff are the same one's-complement number.
        prop_assume!(!(matches!(old, 0 | 0xffff) && matches!(c, 0 | 0xffff)));
        p[10..12].copy_from_slice(&c.to_be_bytes());
        let (f, v) = wrap(&p);
        prop_assert_eq!(run(&FUZZ_FIB, v, &f), malformed(WireError::Ipv4BadChecksum));
        // Version.
        if !via_dt4 && version != 4 && version != 6 {
            let mut p = inner.bytes.clone();
            p[0] = version << 4 | (p[0] & 0x0f);
            prop_assert_eq!(run(&FUZZ_FIB, vrf, &p), malformed(WireError::BadVersion));
        }
    }
}

/// The generators above reach every behaviour and many distinct outcomes
/// (a fuzz target that only ever hits one early drop proves little).
#[test]
fn generators_reach_the_behaviours() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::{BTreeSet, HashSet};

    let mut runner = TestRunner::deterministic();
    let cases = srv6_case();
    let mutations = prop::collection::vec(mutation(), 0..4);
    let mut forwarded_by = HashSet::new();
    let mut outcomes = BTreeSet::new();
    for _ in 0..5000 {
        let case = cases.new_tree(&mut runner).unwrap().current();
        let sid = Ipv6Packet::new_checked(&case.bytes[..]).unwrap().dst_addr();
        let v = run(&FUZZ_FIB, UNDERLAY, &case.bytes);
        if matches!(v, Verdict::Forward { .. }) {
            forwarded_by.insert(sid);
        }
        outcomes.insert(format!("{v:?}").split(" {").next().unwrap().to_string());
        let m = mutations.new_tree(&mut runner).unwrap().current();
        let v = run(&FUZZ_FIB, UNDERLAY, &apply(&case, &m));
        let name = match v {
            Verdict::Drop(r) => r.name().to_string(),
            other => format!("{other:?}").split(" {").next().unwrap().to_string(),
        };
        outcomes.insert(name);
    }
    assert_eq!(forwarded_by.len(), SIDS.len(), "{forwarded_by:?}");
    assert!(outcomes.len() >= 14, "{outcomes:?}");
}
