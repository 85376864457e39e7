//! Packet-core micro-benchmarks: nanoseconds per packet for the SRv6
//! behaviours as `process` runs them (validation, behaviour, route lookup,
//! forwarding step), plus `h_encaps` alone.
//!
//! `cargo bench -p dataplane --bench behavior` (under a minute). Every
//! iteration first copies the input packet into a reused frame buffer (the
//! behaviours rewrite it in place); the `copy_*` benchmarks measure that
//! copy alone so it can be subtracted. The FIB holds about a thousand routes
//! per table so lookups are not degenerate (`*_small_fib`: only the routes
//! the packets use); LPM lookups in large tables are measured by the `fib`
//! benchmark.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::behavior::{
    h_encaps, process, EncapMode, EncapPolicy, Packet, SidBehavior, Verdict, UNDERLAY,
};
use dataplane::fib::{Adjacency, Fib, FibBuilder, NextHop, PortId, RouteAction, VrfId};
use dataplane::wire::ipv4::{Ipv4Options, Ipv4Packet, Ipv4Repr};
use dataplane::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use dataplane::wire::ipv6ext;
use dataplane::wire::srh::{Srh, SrhRepr};
use dataplane::wire::udp::{UdpPacket, UdpRepr};
use dataplane::wire::IpProtocol;

/// Headroom in front of the packet, as an AF_XDP frame would leave it.
const HEADROOM: usize = 256;
/// One UMEM frame.
const FRAME: usize = 2048;

const VRF_LAN: VrfId = 10;
const POLICY_SRC: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xa, 0, 0, 0, 0, 0, 1);
const END: Ipv6Addr = Ipv6Addr::new(0xfc00, 1, 0, 0, 0, 0, 0, 0xe);
const DT6: Ipv6Addr = Ipv6Addr::new(0xfc00, 1, 0, 0, 0, 0, 0, 0xd6);
const DT4: Ipv6Addr = Ipv6Addr::new(0xfc00, 1, 0, 0, 0, 0, 0, 0xd4);
const REMOTE_1: Ipv6Addr = Ipv6Addr::new(0xfc00, 2, 0, 0, 0, 0, 0, 1);
const REMOTE_2: Ipv6Addr = Ipv6Addr::new(0xfc00, 2, 0, 0, 0, 0, 0, 2);
const LAN6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 5);
const LAN4: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 3);
const ENCAP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xaa, 0, 0, 0, 0, 7);
const ENCAP4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn node(filler_routes: u32) -> (Fib, EncapPolicy) {
    let policy = EncapPolicy::new(EncapMode::Encaps, POLICY_SRC, &[REMOTE_1, REMOTE_2]).unwrap();
    let mut b = FibBuilder::new();
    let id = b.add_policy(policy.clone());
    let wan = RouteAction::Forward(Adjacency {
        port: PortId(1),
        next_hop: NextHop::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
    });
    let lan4 = RouteAction::Forward(Adjacency {
        port: PortId(3),
        next_hop: NextHop::V4(Ipv4Addr::new(10, 255, 0, 1)),
    });
    let lan6 = RouteAction::Forward(Adjacency {
        port: PortId(3),
        next_hop: NextHop::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 3)),
    });
    // Filler routes, around the ones the packets use.
    for i in 0..filler_routes {
        let v6 = Ipv6Addr::from((0xfc00_0000_u128 + u128::from(i) * 0x1_0001) << 96);
        b.add_route_v6(UNDERLAY, v6, 40, wan).unwrap();
        b.add_route_v4(
            VRF_LAN,
            Ipv4Addr::from(0x0a00_0000 + (i << 8) * 7),
            24,
            lan4,
        )
        .unwrap();
        b.add_route_v6(
            VRF_LAN,
            Ipv6Addr::from((0x2001_0db8_8000_u128 + u128::from(i)) << 80),
            48,
            lan6,
        )
        .unwrap();
    }
    b.add_route_v6(UNDERLAY, REMOTE_1, 32, wan).unwrap();
    b.add_route_v4(VRF_LAN, Ipv4Addr::new(10, 0, 0, 0), 8, lan4)
        .unwrap();
    b.add_route_v6(VRF_LAN, LAN6, 48, lan6).unwrap();
    b.add_route_v4(VRF_LAN, ENCAP4, 24, RouteAction::Encap(id))
        .unwrap();
    b.add_route_v6(VRF_LAN, ENCAP6, 48, RouteAction::Encap(id))
        .unwrap();
    b.add_sid(END, SidBehavior::End).unwrap();
    b.add_sid(DT6, SidBehavior::EndDT6 { vrf: VRF_LAN })
        .unwrap();
    b.add_sid(DT4, SidBehavior::EndDT4 { vrf: VRF_LAN })
        .unwrap();
    (b.build().unwrap(), policy)
}

/// A 64-octet IPv4/UDP packet.
fn udp4(dst: Ipv4Addr) -> Vec<u8> {
    let src = Ipv4Addr::new(10, 9, 8, 7);
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol::UDP,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        options: Ipv4Options::EMPTY,
        payload_len: 44,
    };
    let mut v = vec![0u8; 64];
    let mut udp = UdpPacket::new_unchecked(&mut v[20..]);
    UdpRepr {
        src_port: 5000,
        dst_port: 6000,
        payload_len: 36,
    }
    .emit(&mut udp);
    udp.fill_checksum_v4(src, dst);
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut v[..]));
    v
}

/// A 64-octet IPv6/UDP packet.
fn udp6(dst: Ipv6Addr) -> Vec<u8> {
    let src = Ipv6Addr::new(0x2001, 0xdb8, 0x77, 0, 0, 0, 0, 1);
    let ip = Ipv6Repr {
        src,
        dst,
        next_header: IpProtocol::UDP,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0x12345,
        payload_len: 24,
    };
    let mut v = vec![0u8; 64];
    let mut udp = UdpPacket::new_unchecked(&mut v[40..]);
    UdpRepr {
        src_port: 5000,
        dst_port: 6000,
        payload_len: 16,
    }
    .emit(&mut udp);
    udp.fill_checksum_v6(src, dst);
    ip.emit(&mut Ipv6Packet::new_unchecked(&mut v[..]));
    v
}

/// An SRv6 packet to `dst` with a 2-segment SRH (Segments Left `sl`)
/// carrying `inner`: what H.Encaps with 2 SIDs produces.
fn srv6(dst: Ipv6Addr, path: [Ipv6Addr; 2], sl: u8, inner: &[u8], proto: IpProtocol) -> Vec<u8> {
    let mut srh = SrhRepr::from_path(proto, &path);
    srh.segments_left = sl;
    let srh_len = srh.buffer_len();
    let mut v = vec![0u8; 40 + srh_len];
    Ipv6Repr {
        src: POLICY_SRC,
        dst,
        next_header: IpProtocol::IPV6_ROUTE,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
        payload_len: (srh_len + inner.len()) as u16,
    }
    .emit(&mut Ipv6Packet::new_unchecked(&mut v[..]));
    srh.emit(&mut Srh::new_unchecked(&mut v[40..]));
    v.extend_from_slice(inner);
    v
}

/// Copies `input` into the frame and wraps it: the per-iteration reset.
#[inline(always)]
fn reset<'a>(frame: &'a mut [u8; FRAME], input: &[u8]) -> Packet<'a> {
    frame[HEADROOM..HEADROOM + input.len()].copy_from_slice(input);
    Packet::new(frame, HEADROOM, input.len()).unwrap()
}

fn behaviours(c: &mut Criterion) {
    let (fib, policy) = node(1000);
    let (small_fib, _) = node(0);
    let fib = &fib;
    let small_fib = &small_fib;
    let inner4 = udp4(ENCAP4);
    let inner6 = udp6(ENCAP6);
    let end = srv6(END, [END, REMOTE_1], 1, &udp6(LAN6), IpProtocol::IPV6);
    let dt6 = srv6(DT6, [REMOTE_1, DT6], 0, &udp6(LAN6), IpProtocol::IPV6);
    let dt4 = srv6(DT4, [REMOTE_1, DT4], 0, &udp4(LAN4), IpProtocol::IPV4);

    // Every input must take the path it is named after.
    let mut frame = [0u8; FRAME];
    for f in [fib, small_fib] {
        for (input, vrf, port) in [
            (&inner4, VRF_LAN, 1),
            (&inner6, VRF_LAN, 1),
            (&end, UNDERLAY, 1),
            (&dt6, UNDERLAY, 3),
            (&dt4, UNDERLAY, 3),
        ] {
            let mut pkt = reset(&mut frame, input);
            match process(f, vrf, &mut pkt) {
                Verdict::Forward { port: p, .. } if p == PortId(port) => {}
                other => panic!("unexpected verdict {other:?}"),
            }
        }
    }

    let mut g = c.benchmark_group("behavior");
    g.throughput(Throughput::Elements(1));
    let mut frame = [0u8; FRAME];

    for (name, input) in [("copy_64", &inner4), ("copy_144", &end), ("copy_128", &dt4)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let pkt = reset(&mut frame, black_box(input));
                black_box(pkt.data().as_ptr());
            })
        });
    }
    for (name, input) in [
        ("h_encaps_2sids_ipv4_64B", &inner4),
        ("h_encaps_2sids_ipv6_64B", &inner6),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut pkt = reset(&mut frame, black_box(input));
                black_box(h_encaps(&mut pkt, black_box(&policy)).is_ok());
                black_box(pkt.start());
            })
        });
    }
    for (fib, suffix) in [(fib, ""), (small_fib, "_small_fib")] {
        for (name, input, vrf) in [
            ("process_encap_2sids_ipv4_64B", &inner4, VRF_LAN),
            ("process_encap_2sids_ipv6_64B", &inner6, VRF_LAN),
            ("process_end", &end, UNDERLAY),
            ("process_end_dt6", &dt6, UNDERLAY),
            ("process_end_dt4", &dt4, UNDERLAY),
        ] {
            g.bench_function(format!("{name}{suffix}"), |b| {
                b.iter(|| {
                    let mut pkt = reset(&mut frame, black_box(input));
                    black_box(process(black_box(fib), vrf, &mut pkt));
                })
            });
        }
    }
    // The parts `process` is made of, to see where the time goes.
    let dt6_chain = Ipv6Packet::new_checked(&dt6[..]).unwrap();
    let (nh, payload) = (dt6_chain.next_header(), dt6_chain.payload());
    g.bench_function("part_ext_header_walk", |b| {
        b.iter(|| black_box(ipv6ext::walk(black_box(nh), black_box(payload)).is_ok()))
    });
    for (fib, suffix) in [(fib, ""), (small_fib, "_small_fib")] {
        g.bench_function(format!("part_local_sid_hit{suffix}"), |b| {
            b.iter(|| black_box(fib.local_sid(black_box(&DT6)).is_some()))
        });
        g.bench_function(format!("part_local_sid_miss{suffix}"), |b| {
            b.iter(|| black_box(fib.local_sid(black_box(&REMOTE_1)).is_some()))
        });
        let underlay = fib.vrf(UNDERLAY).unwrap();
        g.bench_function(format!("part_lookup_v6_underlay_32{suffix}"), |b| {
            b.iter(|| black_box(underlay.lookup_v6(black_box(REMOTE_1)).is_some()))
        });
        let lan = fib.vrf(VRF_LAN).unwrap();
        g.bench_function(format!("part_lookup_v6_vrf_48{suffix}"), |b| {
            b.iter(|| black_box(lan.lookup_v6(black_box(LAN6)).is_some()))
        });
        g.bench_function(format!("part_lookup_v4_vrf_8{suffix}"), |b| {
            b.iter(|| black_box(lan.lookup_v4(black_box(LAN4)).is_some()))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = behaviours
}
criterion_main!(benches);
