//! Kernel interop harness, shared by `tests/kernel_interop.rs` and the
//! `make run` demo (`examples/interop_demo.rs`), so the logic exists once.
//!
//! Two labs:
//!
//! * **Topology A** — `src` — `dut` — `sink`. The Linux kernel in `dut` is
//!   the SRv6 node (seg6 encap routes, seg6local SIDs). A hand-built frame is
//!   injected at `src` eth0, the kernel's output is captured at `sink` eth0.
//!   srv6d's `process` runs on the same IP packet with a [`Fib`] that mirrors
//!   the kernel's configuration, the Ethernet header the kernel used is put
//!   in front, and the two frames must be equal byte for byte.
//! * **Topology B** — `h1` — `r1` — `r2` — `h2`. srv6d is the headend: the
//!   frames our H.Encaps / H.Encaps.Red produce are injected at `h1` eth0
//!   into kernel SIDs (End on `r1`, End.DT6 / End.DX4 on `r2`), and the UDP
//!   payload must arrive at a socket bound in `h2`.
//!
//! Nothing is masked in the comparison: with the kernel defaults
//! (`net.ipv6.seg6_flowlabel = 0`, `hop_limit = 64`) every field is
//! deterministic and srv6d is meant to produce the same bytes.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::ops::Range;
use std::time::Duration;

use dataplane::behavior::{
    process, EncapMode, EncapPolicy, Packet, SidBehavior, Verdict, UNDERLAY,
};
use dataplane::fib::{Adjacency, Fib, FibBuilder, NextHop, PortId, RouteAction, VrfId};
use dataplane::wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
use dataplane::wire::ipv4::{Ipv4Options, Ipv4Packet, Ipv4Repr};
use dataplane::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use dataplane::wire::srh::{Srh, SrhRepr};
use dataplane::wire::udp::{UdpPacket, UdpRepr};
use dataplane::wire::IpProtocol;
use lab::{
    format_mac, Lab, Mac, PacketSocket, Prefix, Route, Seg6LocalAction, Seg6Mode, Topology, VethEnd,
};

/// Real namespace names are `s6interop-<pid>-<n>-<logical>`.
pub const NS_PREFIX: &str = "s6interop";
/// How long to wait for the kernel's frame or the UDP datagram.
pub const WAIT: Duration = Duration::from_secs(2);
/// Headroom in front of the packet in srv6d's buffer (room for H.Encaps).
pub const HEADROOM: usize = 512;
/// srv6d's customer VRF in both topologies (the ingress of encap cases).
pub const CUSTOMER_VRF: VrfId = 1;

pub fn v6(text: &str) -> Ipv6Addr {
    text.parse()
        .unwrap_or_else(|_| panic!("bad IPv6 literal {text}"))
}

pub fn v4(text: &str) -> Ipv4Addr {
    text.parse()
        .unwrap_or_else(|_| panic!("bad IPv4 literal {text}"))
}

fn prefix(text: &str) -> Prefix {
    text.parse()
        .unwrap_or_else(|e| panic!("bad prefix literal: {e}"))
}

// ---------------------------------------------------------------------------
// Packet building (with the dataplane's own wire Reprs)
// ---------------------------------------------------------------------------

/// The outer IPv6 header fields of a hand-built SRv6 packet.
#[derive(Debug, Clone, Copy)]
pub struct Outer {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub hop_limit: u8,
}

/// The payload of case `id`: a marker that identifies its frame in a capture.
pub fn payload(id: &str) -> Vec<u8> {
    let mut p = marker(id);
    p.resize(p.len().max(48), b'.');
    p
}

fn marker(id: &str) -> Vec<u8> {
    format!("srv6d interop case {id} ").into_bytes()
}

/// An IPv6 UDP datagram with a correct checksum.
#[allow(clippy::too_many_arguments)]
pub fn udp_v6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    traffic_class: u8,
    flow_label: u32,
    hop_limit: u8,
    dst_port: u16,
    data: &[u8],
) -> Vec<u8> {
    let udp_len = 8 + data.len();
    let mut buf = vec![0u8; 40 + udp_len];
    Ipv6Repr {
        src,
        dst,
        next_header: IpProtocol::UDP,
        hop_limit,
        traffic_class,
        flow_label,
        payload_len: udp_len as u16,
    }
    .emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
    let mut udp = UdpPacket::new_unchecked(&mut buf[40..]);
    UdpRepr {
        src_port: 40_000,
        dst_port,
        payload_len: data.len(),
    }
    .emit(&mut udp);
    udp.payload_mut().copy_from_slice(data);
    udp.fill_checksum_v6(src, dst);
    buf
}

/// An IPv4 UDP datagram (DF set) with correct header and UDP checksums.
pub fn udp_v4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    tos: u8,
    ttl: u8,
    ident: u16,
    dst_port: u16,
    data: &[u8],
) -> Vec<u8> {
    let udp_len = 8 + data.len();
    let mut buf = vec![0u8; 20 + udp_len];
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol::UDP,
        ttl,
        tos,
        ident,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
        options: Ipv4Options::EMPTY,
        payload_len: udp_len,
    }
    .emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
    let mut udp = UdpPacket::new_unchecked(&mut buf[20..]);
    UdpRepr {
        src_port: 40_000,
        dst_port,
        payload_len: data.len(),
    }
    .emit(&mut udp);
    udp.payload_mut().copy_from_slice(data);
    udp.fill_checksum_v4(src, dst);
    buf
}

/// The IP protocol number naming `ip` as an inner packet (41 or 4).
fn inner_protocol(ip: &[u8]) -> IpProtocol {
    match ip.first().map(|b| b >> 4) {
        Some(4) => IpProtocol::IPV4,
        _ => IpProtocol::IPV6,
    }
}

/// An SRv6 packet: `outer` IPv6 header, then (if `srh` is given) an SRH with
/// that Segment List (wire order: `[0]` is the last segment) and Segments
/// Left, then `inner` (an IPv6 or IPv4 packet).
pub fn srv6(outer: Outer, srh: Option<(&[Ipv6Addr], u8)>, inner: &[u8]) -> Vec<u8> {
    let proto = inner_protocol(inner);
    let srh_repr = srh.map(|(segments, segments_left)| SrhRepr {
        next_header: proto,
        segments_left,
        last_entry: 0,
        flags: 0,
        tag: 0,
        segments: segments.to_vec(),
        tlvs: Vec::new(),
    });
    let srh_len = srh_repr.as_ref().map_or(0, SrhRepr::buffer_len);
    let mut buf = vec![0u8; 40 + srh_len + inner.len()];
    Ipv6Repr {
        src: outer.src,
        dst: outer.dst,
        next_header: if srh_repr.is_some() {
            IpProtocol::IPV6_ROUTE
        } else {
            proto
        },
        hop_limit: outer.hop_limit,
        traffic_class: outer.traffic_class,
        flow_label: outer.flow_label,
        payload_len: (srh_len + inner.len()) as u16,
    }
    .emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
    if let Some(repr) = &srh_repr {
        repr.emit(&mut Srh::new_unchecked(&mut buf[40..40 + srh_len]));
    }
    buf[40 + srh_len..].copy_from_slice(inner);
    buf
}

/// An Ethernet II frame around an IP packet (EtherType from the version).
pub fn ethernet(dst: Mac, src: Mac, ip: &[u8]) -> Vec<u8> {
    let ethertype = if inner_protocol(ip) == IpProtocol::IPV4 {
        EtherType::IPV4
    } else {
        EtherType::IPV6
    };
    let mut frame = vec![0u8; 14 + ip.len()];
    EthernetRepr {
        src_addr: EthernetAddress(src),
        dst_addr: EthernetAddress(dst),
        ethertype,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
    frame[14..].copy_from_slice(ip);
    frame
}

/// Runs srv6d's `process` on a copy of `ip` placed after [`HEADROOM`] octets
/// of headroom; returns the verdict and the packet as it is afterwards.
pub fn srv6d_process(fib: &Fib, ingress_vrf: VrfId, ip: &[u8]) -> (Verdict, Vec<u8>) {
    let mut buf = vec![0u8; HEADROOM + ip.len()];
    buf[HEADROOM..].copy_from_slice(ip);
    let mut pkt = Packet::new(&mut buf, HEADROOM, ip.len()).expect("packet fits its buffer");
    let verdict = process(fib, ingress_vrf, &mut pkt);
    (verdict, pkt.data().to_vec())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------
// Topology A: the kernel is the SRv6 node
// ---------------------------------------------------------------------------

pub const SRC_MAC: Mac = [0x02, 0x5e, 0, 0, 0x01, 0x01];
pub const DUT0_MAC: Mac = [0x02, 0x5e, 0, 0, 0x01, 0x02];
pub const DUT1_MAC: Mac = [0x02, 0x5e, 0, 0, 0x02, 0x01];
pub const SINK_MAC: Mac = [0x02, 0x5e, 0, 0, 0x02, 0x02];
pub const SRC6: &str = "fc00:1::1";
pub const DUT0_6: &str = "fc00:1::2";
pub const SRC4: &str = "10.0.1.1";
pub const DUT0_4: &str = "10.0.1.2";
pub const DUT1_6: &str = "fc00:2::1";
pub const SINK6: &str = "fc00:2::2";
pub const DUT1_4: &str = "10.0.2.1";
pub const SINK4: &str = "10.0.2.2";
/// `ip sr tunsrc` of `dut`: the outer source of every encapsulation.
pub const TUNSRC: &str = "fc00:a::1";
/// SIDs of (imaginary) nodes behind `sink`; `dut` routes them to `sink`.
pub const REMOTE_SIDS: [&str; 3] = ["fc00:ee:1::1", "fc00:ee:2::1", "fc00:ee:3::1"];
pub const REMOTE_PREFIX: &str = "fc00:ee::/32";
/// `dut`'s own SIDs.
pub const SID_END: &str = "fc00:a::e1";
pub const SID_END_X: &str = "fc00:a::e2";
pub const SID_DT6: &str = "fc00:a::d6";
pub const SID_DT6_T100: &str = "fc00:a::d7";
pub const SID_DX6: &str = "fc00:a::d8";
pub const SID_DX4: &str = "fc00:a::d9";
pub const SID_DT4: &str = "fc00:a::da";
pub const SID_DT46: &str = "fc00:a::db";
/// The VRF device of `dut` (and of `r2` in topology B) for End.DT4 and
/// End.DT46, and its table (srv6d's VRF id in the mirror).
pub const VRF_DEV: &str = "vrf-c";
pub const VRF_TABLE: u32 = 200;
/// The inner destination of the End.DX4 case: not on any link of `dut`.
///
/// Linux's End.DX4 (`input_action_end_dx4`) uses nh4 only as the key of an
/// `ip_route_input` lookup; when nh4 is on-link (a connected route, no
/// gateway) the neighbour is then resolved for the inner packet's own
/// destination, not for nh4 (IPv4 has no equivalent of the
/// `FLOWI_FLAG_KNOWN_NH` clone End.X / End.DX6 get). srv6d sends to nh4, as
/// RFC 8986 §4.5 says. So that both put the sink's MAC in the frame, `dut`
/// has a static neighbour entry for this address too; the bytes are then
/// comparable, and srv6d's verdict must still name nh4 as the next hop.
pub const DX4_INNER_DST: &str = "10.99.0.5";
/// srv6d's port numbers for `dut`'s interfaces.
pub const PORT_SRC_SIDE: PortId = PortId(0);
pub const PORT_SINK_SIDE: PortId = PortId(1);

/// A group of cases, one `#[test]` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    EncapsV6,
    EncapsV4,
    EncapsRed,
    End,
    EndX,
    EndDT6,
    EndDX,
    EndDT4,
    EndDT46,
}

/// What srv6d does with a route of the mirrored FIB.
#[derive(Debug, Clone)]
pub enum OurAction {
    /// Forward on port 1 to `sink` (the kernel: `via SINK dev eth1`).
    ToSink,
    /// Encapsulate with this policy (the kernel: `encap seg6 ...`).
    Encap(Box<EncapPolicy>),
}

/// One item of srv6d's configuration mirroring the kernel's.
#[derive(Debug, Clone)]
pub enum Ours {
    Route {
        vrf: VrfId,
        prefix: Prefix,
        action: OurAction,
    },
    Sid {
        sid: Ipv6Addr,
        behavior: SidBehavior,
    },
}

impl Ours {
    pub fn describe(&self) -> String {
        match self {
            Ours::Route {
                vrf,
                prefix,
                action: OurAction::ToSink,
            } => {
                let nh = if prefix.is_ipv6() { SINK6 } else { SINK4 };
                format!(
                    "vrf {vrf:<3} route {prefix} -> port {} via {nh}",
                    PORT_SINK_SIDE.0
                )
            }
            Ours::Route {
                vrf,
                prefix,
                action: OurAction::Encap(p),
            } => format!(
                "vrf {vrf:<3} route {prefix} -> {} src {} segs {}",
                mode_name(p.mode()),
                p.source(),
                join(p.segments())
            ),
            Ours::Sid { sid, behavior } => format!("SID {sid} -> {}", describe_behavior(behavior)),
        }
    }
}

fn mode_name(mode: EncapMode) -> &'static str {
    match mode {
        EncapMode::Encaps => "H.Encaps",
        EncapMode::EncapsRed => "H.Encaps.Red",
    }
}

fn describe_behavior(b: &SidBehavior) -> String {
    let adj = |a: &Adjacency| match a.next_hop {
        NextHop::V6(x) => format!("port {} via {x}", a.port.0),
        NextHop::V4(x) => format!("port {} via {x}", a.port.0),
        NextHop::Direct => format!("port {} direct", a.port.0),
    };
    match b {
        SidBehavior::EndX(a) | SidBehavior::EndDX4(a) | SidBehavior::EndDX6(a) => {
            format!("{} {}", b.name(), adj(a))
        }
        SidBehavior::EndDT4 { vrf }
        | SidBehavior::EndDT6 { vrf }
        | SidBehavior::EndDT46 { vrf } => {
            format!("{} vrf {vrf}", b.name())
        }
        SidBehavior::End => b.name().to_string(),
    }
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// One comparison on topology A.
#[derive(Debug, Clone)]
pub struct DutCase {
    /// Short unique id (also in the payload, to find the frame).
    pub id: String,
    pub group: Group,
    /// What is compared, for people.
    pub title: String,
    /// Routes this case adds to `dut`'s kernel.
    pub kernel: Vec<Route>,
    /// The same configuration for srv6d.
    pub ours: Vec<Ours>,
    /// The VRF the packet arrives in, for srv6d.
    pub ingress_vrf: VrfId,
    /// The IP packet injected at `src` and given to srv6d.
    pub packet: Vec<u8>,
    /// The next hop srv6d must choose (always on port 1).
    pub next_hop: IpAddr,
}

impl DutCase {
    pub fn expected_verdict(&self) -> Verdict {
        Verdict::Forward {
            port: PORT_SINK_SIDE,
            next_hop: self.next_hop,
        }
    }
}

fn to_sink6() -> Adjacency {
    Adjacency {
        port: PORT_SINK_SIDE,
        next_hop: NextHop::V6(v6(SINK6)),
    }
}

fn to_sink4() -> Adjacency {
    Adjacency {
        port: PORT_SINK_SIDE,
        next_hop: NextHop::V4(v4(SINK4)),
    }
}

/// An inner IPv6 packet as a customer sends it: non-zero Traffic Class and
/// Flow Label and a Hop Limit other than 64, so copying them is visible.
fn customer_v6(id: &str, dst: &str, k: u32) -> Vec<u8> {
    udp_v6(
        v6(SRC6),
        v6(dst),
        0xb8,
        0x5eed0 + k,
        42,
        7000 + k as u16,
        &payload(id),
    )
}

fn customer_v4(id: &str, dst: &str, k: u32) -> Vec<u8> {
    udp_v4(
        v4(SRC4),
        v4(dst),
        0xb8,
        42,
        0x1200 + k as u16,
        7000 + k as u16,
        &payload(id),
    )
}

/// An outer header as an upstream SRv6 node sends it.
fn upstream(dst: &str) -> Outer {
    Outer {
        src: v6(SRC6),
        dst: v6(dst),
        traffic_class: 0x48,
        flow_label: 0xabcde,
        hop_limit: 50,
    }
}

/// Every topology-A case.
pub fn dut_cases() -> Vec<DutCase> {
    let mut cases = Vec::new();
    let mut k = 0u32;
    // 1-3: H.Encaps and H.Encaps.Red, 1 to 3 SIDs, IPv6 and IPv4 inner.
    for (m, mode, kmode, group_v6, group_v4) in [
        (
            1,
            EncapMode::Encaps,
            Seg6Mode::Encap,
            Group::EncapsV6,
            Group::EncapsV4,
        ),
        (
            2,
            EncapMode::EncapsRed,
            Seg6Mode::EncapRed,
            Group::EncapsRed,
            Group::EncapsRed,
        ),
    ] {
        for inner_v6 in [true, false] {
            for n in 1..=3usize {
                k += 1;
                let fam = if inner_v6 { "v6" } else { "v4" };
                let id = format!("{}-{fam}-{n}", if m == 1 { "encaps" } else { "red" });
                let (pfx, packet) = if inner_v6 {
                    (
                        format!("fc00:d{m}:{n}::/64"),
                        customer_v6(&id, &format!("fc00:d{m}:{n}::5"), k),
                    )
                } else {
                    (
                        format!("10.{m}.{n}.0/24"),
                        customer_v4(&id, &format!("10.{m}.{n}.5"), k),
                    )
                };
                let segs = &REMOTE_SIDS[..n];
                let policy = EncapPolicy::new(
                    mode,
                    v6(TUNSRC),
                    &segs.iter().map(|s| v6(s)).collect::<Vec<_>>(),
                )
                .expect("valid policy");
                let extra = match (mode, n, inner_v6) {
                    (EncapMode::EncapsRed, 1, true) => " (no SRH: IPv6-in-IPv6)",
                    (EncapMode::EncapsRed, 1, false) => " (no SRH: IPv4-in-IPv6)",
                    _ => "",
                };
                cases.push(DutCase {
                    title: format!(
                        "{} {n} SID{}, IPv{} inner{extra}",
                        mode_name(mode),
                        if n == 1 { "" } else { "s" },
                        if inner_v6 { 6 } else { 4 }
                    ),
                    id,
                    group: if inner_v6 { group_v6 } else { group_v4 },
                    kernel: vec![Route::seg6(&pfx, kmode, segs, "eth1").into()],
                    ours: vec![Ours::Route {
                        vrf: CUSTOMER_VRF,
                        prefix: prefix(&pfx),
                        action: OurAction::Encap(Box::new(policy)),
                    }],
                    ingress_vrf: CUSTOMER_VRF,
                    packet,
                    next_hop: IpAddr::V6(v6(SINK6)),
                });
            }
        }
    }
    let r = |i: usize| v6(REMOTE_SIDS[i]);
    // 4: End, Segments Left 1 -> 0 and 2 -> 1.
    for (id, title, list, sl) in [
        ("end-sl1", "End, SL 1 -> 0", vec![r(0), v6(SID_END)], 1u8),
        (
            "end-sl2",
            "End, SL 2 -> 1",
            vec![r(1), r(0), v6(SID_END)],
            2,
        ),
    ] {
        k += 1;
        let inner = udp_v6(
            v6("fc00:c0::1"),
            v6("fc00:c0::2"),
            0x10,
            0x77777,
            33,
            7000 + k as u16,
            &payload(id),
        );
        cases.push(DutCase {
            id: id.into(),
            group: Group::End,
            title: title.into(),
            kernel: vec![Route::seg6local(SID_END, Seg6LocalAction::End, "eth1").into()],
            ours: vec![Ours::Sid {
                sid: v6(SID_END),
                behavior: SidBehavior::End,
            }],
            ingress_vrf: UNDERLAY,
            packet: srv6(upstream(SID_END), Some((&list, sl)), &inner),
            next_hop: IpAddr::V6(v6(SINK6)),
        });
    }
    // 5: End.X toward sink; the next SID is not routed in dut at all, so
    // only the adjacency can get it there.
    {
        k += 1;
        let id = "end-x";
        let inner = udp_v6(
            v6("fc00:c0::1"),
            v6("fc00:c0::2"),
            0x10,
            0x77777,
            33,
            7000 + k as u16,
            &payload(id),
        );
        let list = [v6("fc00:99::1"), v6(SID_END_X)];
        cases.push(DutCase {
            id: id.into(),
            group: Group::EndX,
            title: "End.X nh6 sink, SL 1 -> 0 (next SID not routed)".into(),
            kernel: vec![Route::seg6local(SID_END_X, Seg6LocalAction::end_x(SINK6), "eth1").into()],
            ours: vec![Ours::Sid {
                sid: v6(SID_END_X),
                behavior: SidBehavior::EndX(to_sink6()),
            }],
            ingress_vrf: UNDERLAY,
            packet: srv6(upstream(SID_END_X), Some((&list, 1)), &inner),
            next_hop: IpAddr::V6(v6(SINK6)),
        });
    }
    // 6: End.DT6 into the main table and into table 100, with an SRH (SL 0)
    // and without one (IPv6-in-IPv6 to the SID).
    for (id, title, sid, table, vrf, net, with_srh) in [
        (
            "dt6-main",
            "End.DT6 table 254, SRH SL 0",
            SID_DT6,
            254u32,
            254u32,
            "fc00:d6::",
            true,
        ),
        (
            "dt6-t100",
            "End.DT6 table 100, SRH SL 0",
            SID_DT6_T100,
            100,
            100,
            "fc00:d7::",
            true,
        ),
        (
            "dt6-nosrh",
            "End.DT6 table 254, no SRH (IPv6-in-IPv6)",
            SID_DT6,
            254,
            254,
            "fc00:d6::",
            false,
        ),
    ] {
        k += 1;
        let dst = format!("{net}5");
        let inner = udp_v6(
            v6("fc00:c0::1"),
            v6(&dst),
            0x28,
            0x12345,
            42,
            7000 + k as u16,
            &payload(id),
        );
        let list = [v6(sid)];
        let pfx = format!("{net}/64");
        let mut kernel: Vec<Route> =
            vec![Route::seg6local(sid, Seg6LocalAction::EndDT6 { table }, "eth1").into()];
        let route = Route::to(&pfx).via(SINK6).dev("eth1");
        kernel.push(if table == 254 {
            route.into()
        } else {
            route.table(table).into()
        });
        cases.push(DutCase {
            id: id.into(),
            group: Group::EndDT6,
            title: title.into(),
            kernel,
            ours: vec![
                Ours::Sid {
                    sid: v6(sid),
                    behavior: SidBehavior::EndDT6 { vrf },
                },
                Ours::Route {
                    vrf,
                    prefix: prefix(&pfx),
                    action: OurAction::ToSink,
                },
            ],
            ingress_vrf: UNDERLAY,
            packet: srv6(upstream(sid), with_srh.then_some((&list[..], 0)), &inner),
            next_hop: IpAddr::V6(v6(SINK6)),
        });
    }
    // Extra: End.DX6 and End.DX4 (decapsulate, then the inner packet is
    // forwarded with Hop Limit / TTL decremented: the IPv4 checksum update).
    {
        k += 1;
        let id = "dx6";
        let inner = udp_v6(
            v6("fc00:c0::1"),
            v6("fc00:c0::2"),
            0x28,
            0x12345,
            42,
            7000 + k as u16,
            &payload(id),
        );
        cases.push(DutCase {
            id: id.into(),
            group: Group::EndDX,
            title: "End.DX6 nh6 sink, SRH SL 0".into(),
            kernel: vec![Route::seg6local(SID_DX6, Seg6LocalAction::end_dx6(SINK6), "eth1").into()],
            ours: vec![Ours::Sid {
                sid: v6(SID_DX6),
                behavior: SidBehavior::EndDX6(to_sink6()),
            }],
            ingress_vrf: UNDERLAY,
            packet: srv6(upstream(SID_DX6), Some((&[v6(SID_DX6)], 0)), &inner),
            next_hop: IpAddr::V6(v6(SINK6)),
        });
        k += 1;
        let id = "dx4";
        let inner = udp_v4(
            v4(SRC4),
            v4(DX4_INNER_DST),
            0xb8,
            42,
            0x4444,
            7000 + k as u16,
            &payload(id),
        );
        cases.push(DutCase {
            id: id.into(),
            group: Group::EndDX,
            title: "End.DX4 nh4 sink, SRH SL 0".into(),
            kernel: vec![Route::seg6local(SID_DX4, Seg6LocalAction::end_dx4(SINK4), "eth1").into()],
            ours: vec![Ours::Sid {
                sid: v6(SID_DX4),
                behavior: SidBehavior::EndDX4(to_sink4()),
            }],
            ingress_vrf: UNDERLAY,
            packet: srv6(upstream(SID_DX4), Some((&[v6(SID_DX4)], 0)), &inner),
            next_hop: IpAddr::V4(v4(SINK4)),
        });
    }
    // End.DT4 and End.DT46 through a Linux VRF (`vrftable 200`, a VRF
    // device bound to table 200), with and without an SRH; the decapsulated
    // packet is routed in table 200 toward sink.
    for (id, title, sid, group, inner_v6, with_srh) in [
        (
            "dt4",
            "End.DT4 vrftable 200, SRH SL 0",
            SID_DT4,
            Group::EndDT4,
            false,
            true,
        ),
        (
            "dt4-nosrh",
            "End.DT4 vrftable 200, no SRH (IPv4-in-IPv6)",
            SID_DT4,
            Group::EndDT4,
            false,
            false,
        ),
        (
            "dt46-v4",
            "End.DT46 vrftable 200, IPv4 inner, SRH SL 0",
            SID_DT46,
            Group::EndDT46,
            false,
            true,
        ),
        (
            "dt46-v6",
            "End.DT46 vrftable 200, IPv6 inner, SRH SL 0",
            SID_DT46,
            Group::EndDT46,
            true,
            true,
        ),
        (
            "dt46-v6-nosrh",
            "End.DT46 vrftable 200, IPv6 inner, no SRH (IPv6-in-IPv6)",
            SID_DT46,
            Group::EndDT46,
            true,
            false,
        ),
    ] {
        k += 1;
        let (inner, pfx, next_hop) = if inner_v6 {
            (
                udp_v6(
                    v6("fc00:c0::1"),
                    v6("fc00:46::5"),
                    0x28,
                    0x12345,
                    42,
                    7000 + k as u16,
                    &payload(id),
                ),
                "fc00:46::/64",
                IpAddr::V6(v6(SINK6)),
            )
        } else {
            (
                udp_v4(
                    v4(SRC4),
                    v4("10.40.0.5"),
                    0xb8,
                    42,
                    0x4400 + k as u16,
                    7000 + k as u16,
                    &payload(id),
                ),
                "10.40.0.0/24",
                IpAddr::V4(v4(SINK4)),
            )
        };
        let (action, behavior) = if group == Group::EndDT4 {
            (
                Seg6LocalAction::EndDT4 {
                    vrftable: VRF_TABLE,
                },
                SidBehavior::EndDT4 { vrf: VRF_TABLE },
            )
        } else {
            (
                Seg6LocalAction::EndDT46 {
                    vrftable: VRF_TABLE,
                },
                SidBehavior::EndDT46 { vrf: VRF_TABLE },
            )
        };
        let via = if inner_v6 { SINK6 } else { SINK4 };
        let list = [v6(sid)];
        cases.push(DutCase {
            id: id.into(),
            group,
            title: title.into(),
            kernel: vec![
                Route::seg6local(sid, action, "eth1").into(),
                Route::to(pfx).via(via).dev("eth1").table(VRF_TABLE).into(),
            ],
            ours: vec![
                Ours::Sid {
                    sid: v6(sid),
                    behavior,
                },
                Ours::Route {
                    vrf: VRF_TABLE,
                    prefix: prefix(pfx),
                    action: OurAction::ToSink,
                },
            ],
            ingress_vrf: UNDERLAY,
            packet: srv6(upstream(sid), with_srh.then_some((&list[..], 0)), &inner),
            next_hop,
        });
    }
    cases
}

/// True when some kernel route of `routes` needs a VRF device (End.DT4,
/// End.DT46).
fn needs_vrf<'a>(routes: impl IntoIterator<Item = &'a Route>) -> bool {
    routes.into_iter().any(|r| {
        matches!(
            r,
            Route::Seg6Local(l) if matches!(
                l.action,
                Seg6LocalAction::EndDT4 { .. } | Seg6LocalAction::EndDT46 { .. }
            )
        )
    })
}

/// `dut`'s kernel routes shared by every case: the remote SIDs via `sink`.
pub fn dut_base_routes() -> Vec<Route> {
    vec![Route::to(REMOTE_PREFIX).via(SINK6).dev("eth1").into()]
}

/// srv6d's mirror of the base routes.
pub fn dut_base_ours() -> Vec<Ours> {
    vec![Ours::Route {
        vrf: UNDERLAY,
        prefix: prefix(REMOTE_PREFIX),
        action: OurAction::ToSink,
    }]
}

/// Topology A with the kernel routes of `cases`.
pub fn dut_topology(cases: &[DutCase]) -> Topology {
    let mut t = Topology::new()
        .prefix(NS_PREFIX)
        .namespaces(&["src", "dut", "sink"])
        .veth(
            VethEnd::new("src", "eth0").mac(SRC_MAC),
            VethEnd::new("dut", "eth0").mac(DUT0_MAC),
        )
        .veth(
            VethEnd::new("dut", "eth1").mac(DUT1_MAC),
            VethEnd::new("sink", "eth0").mac(SINK_MAC),
        )
        .forwarding("dut")
        .sysctl("dut", "net.ipv4.conf.all.rp_filter", "0")
        .addr("src", "eth0", &format!("{SRC6}/64"))
        .addr("src", "eth0", &format!("{SRC4}/24"))
        .addr("dut", "eth0", &format!("{DUT0_6}/64"))
        .addr("dut", "eth0", &format!("{DUT0_4}/24"))
        .addr("dut", "eth1", &format!("{DUT1_6}/64"))
        .addr("dut", "eth1", &format!("{DUT1_4}/24"))
        .addr("sink", "eth0", &format!("{SINK6}/64"))
        .addr("sink", "eth0", &format!("{SINK4}/24"))
        .neigh("dut", "eth1", SINK6, SINK_MAC)
        .neigh("dut", "eth1", SINK4, SINK_MAC)
        .neigh("dut", "eth1", DX4_INNER_DST, SINK_MAC)
        .tunsrc("dut", TUNSRC);
    let routes = dut_kernel_routes(cases);
    if needs_vrf(&routes) {
        t = t.vrf("dut", VRF_DEV, VRF_TABLE);
    }
    for route in routes {
        t = t.route("dut", route);
    }
    t
}

/// Every kernel route of `dut` for `cases`, base routes first, no duplicates.
pub fn dut_kernel_routes(cases: &[DutCase]) -> Vec<Route> {
    let mut routes = dut_base_routes();
    for route in cases.iter().flat_map(|c| c.kernel.iter()) {
        if !routes.contains(route) {
            routes.push(route.clone());
        }
    }
    routes
}

/// srv6d's configuration items for `cases`, base items first, no duplicates.
pub fn dut_ours(cases: &[DutCase]) -> Vec<Ours> {
    let mut items = dut_base_ours();
    for item in cases.iter().flat_map(|c| c.ours.iter()) {
        let dup = items.iter().any(|i| match (i, item) {
            (Ours::Sid { sid: a, .. }, Ours::Sid { sid: b, .. }) => a == b,
            (
                Ours::Route {
                    vrf: va,
                    prefix: pa,
                    ..
                },
                Ours::Route {
                    vrf: vb,
                    prefix: pb,
                    ..
                },
            ) => va == vb && pa == pb,
            _ => false,
        });
        if !dup {
            items.push(item.clone());
        }
    }
    items
}

/// Builds srv6d's FIB from configuration items.
pub fn build_fib(items: &[Ours]) -> Fib {
    let mut b = FibBuilder::new();
    b.add_vrf(CUSTOMER_VRF).expect("vrf");
    for item in items {
        match item {
            Ours::Sid { sid, behavior } => b.add_sid(*sid, *behavior).expect("add SID"),
            Ours::Route {
                vrf,
                prefix,
                action,
            } => {
                let action = match action {
                    OurAction::ToSink if prefix.is_ipv6() => RouteAction::Forward(to_sink6()),
                    OurAction::ToSink => RouteAction::Forward(to_sink4()),
                    OurAction::Encap(policy) => {
                        RouteAction::Encap(b.add_policy((**policy).clone()))
                    }
                };
                match prefix.addr {
                    IpAddr::V6(a) => b.add_route_v6(*vrf, a, prefix.len, action),
                    IpAddr::V4(a) => b.add_route_v4(*vrf, a, prefix.len, action),
                }
                .expect("add route");
            }
        }
    }
    b.build().expect("consistent FIB")
}

/// A built topology A with its sockets and srv6d's mirrored FIB.
pub struct DutLab {
    pub lab: Lab,
    pub fib: Fib,
    pub ours: Vec<Ours>,
    pub kernel_routes: Vec<Route>,
    tx: PacketSocket,
    rx: PacketSocket,
}

/// The result of one topology-A case.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub title: String,
    /// The frame captured at `sink`, if any.
    pub kernel: Option<Vec<u8>>,
    /// srv6d's frame (its packet behind the Ethernet header the kernel used).
    pub ours: Vec<u8>,
    pub verdict: Verdict,
    pub expected: Verdict,
    /// When nothing was captured: `dut`'s neighbour table, for diagnosis.
    pub note: String,
}

impl Comparison {
    /// `Ok(frame length)` when the verdict is the expected one and the
    /// frames are identical; otherwise a report naming every differing field.
    pub fn check(&self) -> Result<usize, String> {
        let mut problems = Vec::new();
        if self.verdict != self.expected {
            problems.push(format!(
                "srv6d verdict {:?}, expected {:?}",
                self.verdict, self.expected
            ));
        }
        match &self.kernel {
            None => problems.push(format!(
                "the kernel sent nothing to sink within {WAIT:?}; dut's neighbours:\n{}",
                self.note
            )),
            Some(k) if *k != self.ours => problems.push(diff_report(k, &self.ours)),
            Some(_) => {}
        }
        if problems.is_empty() {
            Ok(self.ours.len())
        } else {
            Err(format!(
                "{} (masked fields: none): {}",
                self.title,
                problems.join("; ")
            ))
        }
    }
}

impl DutLab {
    /// Builds topology A with the kernel configuration of `cases`.
    pub fn build(cases: &[DutCase]) -> Result<DutLab, lab::Error> {
        let lab = dut_topology(cases).build()?;
        let tx = lab.packet_socket("src", "eth0")?;
        let rx = lab.packet_socket("sink", "eth0")?;
        let ours = dut_ours(cases);
        Ok(DutLab {
            fib: build_fib(&ours),
            ours,
            kernel_routes: dut_kernel_routes(cases),
            lab,
            tx,
            rx,
        })
    }

    /// Injects the case's packet at `src`, captures the kernel's frame at
    /// `sink`, runs srv6d on the same packet.
    pub fn run(&self, case: &DutCase) -> Comparison {
        let (verdict, ours_ip) = srv6d_process(&self.fib, case.ingress_vrf, &case.packet);
        let ours = ethernet(SINK_MAC, DUT1_MAC, &ours_ip);
        let mark = marker(&case.id);
        self.rx.drain();
        self.tx
            .send(&ethernet(DUT0_MAC, SRC_MAC, &case.packet))
            .expect("inject at src");
        let kernel = self.rx.recv_matching(WAIT, |f| contains(f, &mark));
        let note = match kernel {
            Some(_) => String::new(),
            None => self
                .lab
                .ip("dut", ["neigh", "show"])
                .unwrap_or_else(|e| e.to_string()),
        };
        Comparison {
            title: case.title.clone(),
            kernel,
            ours,
            verdict,
            expected: case.expected_verdict(),
            note,
        }
    }
}

// ---------------------------------------------------------------------------
// Topology B: srv6d is the headend, kernel SIDs accept its packets
// ---------------------------------------------------------------------------

pub const H1_MAC: Mac = [0x02, 0x5e, 0, 0, 0x11, 0x01];
pub const R1A_MAC: Mac = [0x02, 0x5e, 0, 0, 0x11, 0x02];
pub const R1B_MAC: Mac = [0x02, 0x5e, 0, 0, 0x12, 0x01];
pub const R2A_MAC: Mac = [0x02, 0x5e, 0, 0, 0x12, 0x02];
pub const R2B_MAC: Mac = [0x02, 0x5e, 0, 0, 0x23, 0x01];
pub const H2_MAC: Mac = [0x02, 0x5e, 0, 0, 0x23, 0x02];
pub const H1_6: &str = "fc00:11::1";
pub const R1A_6: &str = "fc00:11::2";
pub const R1B_6: &str = "fc00:12::1";
pub const R2A_6: &str = "fc00:12::2";
pub const R2B_6: &str = "fc00:23::1";
pub const H2_6: &str = "fc00:23::2";
pub const R2B_4: &str = "10.0.23.1";
pub const H2_4: &str = "10.0.23.2";
/// r1's End SID; r2's End.DT6 (main table) and End.DX4 (to h2) SIDs.
pub const R1_END: &str = "fc00:b1::e";
pub const R2_DT6: &str = "fc00:b2::d6";
pub const R2_DX4: &str = "fc00:b2::d4";
/// r2's End.DT4 and End.DT46 SIDs (VRF table [`VRF_TABLE`]).
pub const R2_DT4: &str = "fc00:b2::4d";
pub const R2_DT46: &str = "fc00:b2::46";
/// Customer source addresses of the inner packets.
pub const CUST6: &str = "fc00:c1::1";
pub const CUST4: &str = "192.0.2.1";

/// The kernel configuration of topology B, per namespace.
pub fn headend_kernel_routes() -> Vec<(&'static str, Route)> {
    vec![
        (
            "r1",
            Route::to("fc00:b2::/32").via(R2A_6).dev("eth1").into(),
        ),
        (
            "r1",
            Route::seg6local(R1_END, Seg6LocalAction::End, "eth1").into(),
        ),
        (
            "r2",
            Route::seg6local(R2_DT6, Seg6LocalAction::EndDT6 { table: 254 }, "eth0").into(),
        ),
        (
            "r2",
            Route::seg6local(R2_DX4, Seg6LocalAction::end_dx4(H2_4), "eth0").into(),
        ),
        (
            "r2",
            Route::seg6local(
                R2_DT4,
                Seg6LocalAction::EndDT4 {
                    vrftable: VRF_TABLE,
                },
                "eth0",
            )
            .into(),
        ),
        (
            "r2",
            Route::seg6local(
                R2_DT46,
                Seg6LocalAction::EndDT46 {
                    vrftable: VRF_TABLE,
                },
                "eth0",
            )
            .into(),
        ),
        // The VRF's view of h2's link (a leak of the connected routes).
        (
            "r2",
            Route::to("10.0.23.0/24")
                .dev("eth1")
                .table(VRF_TABLE)
                .into(),
        ),
        (
            "r2",
            Route::to("fc00:23::/64")
                .dev("eth1")
                .table(VRF_TABLE)
                .into(),
        ),
    ]
}

pub fn headend_topology() -> Topology {
    let mut t = Topology::new()
        .prefix(NS_PREFIX)
        .namespaces(&["h1", "r1", "r2", "h2"])
        .veth(
            VethEnd::new("h1", "eth0").mac(H1_MAC),
            VethEnd::new("r1", "eth0").mac(R1A_MAC),
        )
        .veth(
            VethEnd::new("r1", "eth1").mac(R1B_MAC),
            VethEnd::new("r2", "eth0").mac(R2A_MAC),
        )
        .veth(
            VethEnd::new("r2", "eth1").mac(R2B_MAC),
            VethEnd::new("h2", "eth0").mac(H2_MAC),
        )
        .forwarding("r1")
        .forwarding("r2")
        .sysctl("r2", "net.ipv4.conf.all.rp_filter", "0")
        .sysctl("h2", "net.ipv4.conf.all.rp_filter", "0")
        .addr("h1", "eth0", &format!("{H1_6}/64"))
        .addr("r1", "eth0", &format!("{R1A_6}/64"))
        .addr("r1", "eth1", &format!("{R1B_6}/64"))
        .addr("r2", "eth0", &format!("{R2A_6}/64"))
        .addr("r2", "eth1", &format!("{R2B_6}/64"))
        .addr("r2", "eth1", &format!("{R2B_4}/24"))
        .addr("h2", "eth0", &format!("{H2_6}/64"))
        .addr("h2", "eth0", &format!("{H2_4}/24"))
        .neigh("r1", "eth1", R2A_6, R2A_MAC)
        .neigh("r2", "eth1", H2_6, H2_MAC)
        .neigh("r2", "eth1", H2_4, H2_MAC)
        .vrf("r2", VRF_DEV, VRF_TABLE);
    for (ns, route) in headend_kernel_routes() {
        t = t.route(ns, route);
    }
    t
}

/// One topology-B case: srv6d encapsulates, the kernel must deliver.
#[derive(Debug, Clone)]
pub struct HeadendCase {
    pub id: String,
    pub title: String,
    pub policy: EncapPolicy,
    /// The customer packet srv6d encapsulates.
    pub inner: Vec<u8>,
    /// Where the payload must arrive in h2.
    pub to: SocketAddr,
    /// The source the datagram must come from.
    pub from: IpAddr,
    pub data: Vec<u8>,
}

impl HeadendCase {
    /// srv6d's configuration for this case, for people.
    pub fn describe_ours(&self) -> Vec<String> {
        let len = if self.to.is_ipv6() { 128 } else { 32 };
        vec![
            format!(
                "vrf {CUSTOMER_VRF:<3} route {}/{len} -> {} src {} segs {}",
                self.to.ip(),
                mode_name(self.policy.mode()),
                self.policy.source(),
                join(self.policy.segments())
            ),
            format!("vrf {UNDERLAY:<3} route ::/0 -> port 0 via {R1A_6}"),
        ]
    }

    /// srv6d's FIB for this case.
    pub fn fib(&self) -> Fib {
        let mut b = FibBuilder::new();
        b.add_route_v6(
            UNDERLAY,
            Ipv6Addr::UNSPECIFIED,
            0,
            RouteAction::Forward(Adjacency {
                port: PortId(0),
                next_hop: NextHop::V6(v6(R1A_6)),
            }),
        )
        .expect("underlay default");
        let id = b.add_policy(self.policy.clone());
        match self.to.ip() {
            IpAddr::V6(a) => b.add_route_v6(CUSTOMER_VRF, a, 128, RouteAction::Encap(id)),
            IpAddr::V4(a) => b.add_route_v4(CUSTOMER_VRF, a, 32, RouteAction::Encap(id)),
        }
        .expect("customer route");
        b.build().expect("consistent FIB")
    }

    pub fn expected_verdict(&self) -> Verdict {
        Verdict::Forward {
            port: PortId(0),
            next_hop: IpAddr::V6(v6(R1A_6)),
        }
    }
}

/// Every topology-B case.
pub fn headend_cases() -> Vec<HeadendCase> {
    let mk = |id: &str, title: &str, mode: EncapMode, segs: &[&str], inner_v6: bool, port: u16| {
        let data = payload(id);
        let (inner, to, from) = if inner_v6 {
            let inner = udp_v6(v6(CUST6), v6(H2_6), 0xb8, 0x5eed9, 42, port, &data);
            (
                inner,
                SocketAddr::new(IpAddr::V6(v6(H2_6)), port),
                IpAddr::V6(v6(CUST6)),
            )
        } else {
            let inner = udp_v4(v4(CUST4), v4(H2_4), 0xb8, 42, 0x4321, port, &data);
            (
                inner,
                SocketAddr::new(IpAddr::V4(v4(H2_4)), port),
                IpAddr::V4(v4(CUST4)),
            )
        };
        let segs: Vec<Ipv6Addr> = segs.iter().map(|s| v6(s)).collect();
        HeadendCase {
            id: id.into(),
            title: title.into(),
            policy: EncapPolicy::new(mode, v6(H1_6), &segs).expect("valid policy"),
            inner,
            to,
            from,
            data,
        }
    };
    vec![
        mk(
            "b-encaps-2",
            "srv6d H.Encaps [r1 End, r2 End.DT6], IPv6 inner",
            EncapMode::Encaps,
            &[R1_END, R2_DT6],
            true,
            7101,
        ),
        mk(
            "b-encaps-1",
            "srv6d H.Encaps [r2 End.DT6], IPv6 inner",
            EncapMode::Encaps,
            &[R2_DT6],
            true,
            7102,
        ),
        mk(
            "b-red-1",
            "srv6d H.Encaps.Red [r2 End.DT6] (no SRH), IPv6 inner",
            EncapMode::EncapsRed,
            &[R2_DT6],
            true,
            7103,
        ),
        mk(
            "b-red-2",
            "srv6d H.Encaps.Red [r1 End, r2 End.DT6], IPv6 inner",
            EncapMode::EncapsRed,
            &[R1_END, R2_DT6],
            true,
            7104,
        ),
        mk(
            "b-encaps-v4",
            "srv6d H.Encaps [r1 End, r2 End.DX4], IPv4 inner",
            EncapMode::Encaps,
            &[R1_END, R2_DX4],
            false,
            7105,
        ),
        mk(
            "b-dt4",
            "srv6d H.Encaps [r1 End, r2 End.DT4 in a VRF], IPv4 inner",
            EncapMode::Encaps,
            &[R1_END, R2_DT4],
            false,
            7106,
        ),
        mk(
            "b-dt46-v4",
            "srv6d H.Encaps [r2 End.DT46 in a VRF], IPv4 inner",
            EncapMode::Encaps,
            &[R2_DT46],
            false,
            7107,
        ),
        mk(
            "b-dt46-v6",
            "srv6d H.Encaps.Red [r1 End, r2 End.DT46 in a VRF], IPv6 inner",
            EncapMode::EncapsRed,
            &[R1_END, R2_DT46],
            true,
            7108,
        ),
    ]
}

/// A built topology B with its injection socket.
pub struct HeadendLab {
    pub lab: Lab,
    tx: PacketSocket,
}

/// The result of one topology-B case.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub title: String,
    pub verdict: Verdict,
    pub expected: Verdict,
    /// The frame srv6d produced and that was injected at h1.
    pub frame: Vec<u8>,
    /// What the socket in h2 received: payload and source, or the error.
    pub received: Result<(Vec<u8>, SocketAddr), String>,
    pub to: SocketAddr,
    pub from: IpAddr,
    pub data: Vec<u8>,
}

impl Delivery {
    /// `Ok(payload length)` when the datagram arrived intact from the
    /// expected source.
    pub fn check(&self) -> Result<usize, String> {
        let mut problems = Vec::new();
        if self.verdict != self.expected {
            problems.push(format!(
                "srv6d verdict {:?}, expected {:?}",
                self.verdict, self.expected
            ));
        }
        match &self.received {
            Err(e) => problems.push(format!("nothing arrived at {} in h2: {e}", self.to)),
            Ok((data, from)) => {
                if *data != self.data {
                    problems.push(format!(
                        "payload differs: got {:?}",
                        String::from_utf8_lossy(data)
                    ));
                }
                if from.ip() != self.from {
                    problems.push(format!("datagram came from {from}, expected {}", self.from));
                }
            }
        }
        if problems.is_empty() {
            Ok(self.data.len())
        } else {
            Err(format!("{}: {}", self.title, problems.join("; ")))
        }
    }
}

impl HeadendLab {
    pub fn build() -> Result<HeadendLab, lab::Error> {
        let lab = headend_topology().build()?;
        let tx = lab.packet_socket("h1", "eth0")?;
        Ok(HeadendLab { lab, tx })
    }

    /// srv6d encapsulates the case's packet; the frame goes in at h1 eth0
    /// toward r1; the payload must come out of a UDP socket in h2.
    pub fn run(&self, case: &HeadendCase) -> Delivery {
        let to = case.to;
        let socket = self
            .lab
            .in_ns("h2", move || {
                let s = UdpSocket::bind(to)?;
                s.set_read_timeout(Some(WAIT))?;
                Ok::<_, std::io::Error>(s)
            })
            .expect("enter h2")
            .unwrap_or_else(|e| panic!("bind {to} in h2: {e}"));
        let (verdict, ip) = srv6d_process(&case.fib(), CUSTOMER_VRF, &case.inner);
        let frame = ethernet(R1A_MAC, H1_MAC, &ip);
        self.tx.send(&frame).expect("inject at h1");
        let mut buf = vec![0u8; 2048];
        let received = socket
            .recv_from(&mut buf)
            .map(|(n, from)| (buf[..n].to_vec(), from))
            .map_err(|e| e.to_string());
        Delivery {
            title: case.title.clone(),
            verdict,
            expected: case.expected_verdict(),
            frame,
            received,
            to,
            from: case.from,
            data: case.data.clone(),
        }
    }
}

// ---------------------------------------------------------------------------
// Dissection: field names for diffs, labelled hex dumps
// ---------------------------------------------------------------------------

/// One header of a frame: its name, where it is, a one-line decode and its
/// fields (for naming the field at a differing offset).
#[derive(Debug, Clone)]
pub struct Header {
    pub name: String,
    pub range: Range<usize>,
    pub summary: String,
    pub fields: Vec<(Range<usize>, String)>,
}

fn f(r: Range<usize>, name: &str) -> (Range<usize>, String) {
    (r, name.to_string())
}

fn proto_name(p: u8) -> &'static str {
    match p {
        4 => "IPv4",
        17 => "UDP",
        41 => "IPv6",
        43 => "SRH",
        58 => "ICMPv6",
        59 => "No Next Header",
        _ => "?",
    }
}

/// Splits an Ethernet frame into its headers (Ethernet, IPv6 / IPv4, SRH,
/// UDP, payload), as far as the bytes allow.
pub fn dissect(frame: &[u8]) -> Vec<Header> {
    let mut out = Vec::new();
    if frame.len() < 14 {
        out.push(Header {
            name: "truncated".into(),
            range: 0..frame.len(),
            summary: String::new(),
            fields: vec![],
        });
        return out;
    }
    let et = u16::from_be_bytes([frame[12], frame[13]]);
    out.push(Header {
        name: "Ethernet".into(),
        range: 0..14,
        summary: format!(
            "dst {} src {} type {et:#06x}",
            format_mac(frame[0..6].try_into().expect("6")),
            format_mac(frame[6..12].try_into().expect("6"))
        ),
        fields: vec![
            f(0..6, "Destination MAC"),
            f(6..12, "Source MAC"),
            f(12..14, "EtherType"),
        ],
    });
    let mut at = 14;
    let mut next = match et {
        0x86dd => 41,
        0x0800 => 4,
        _ => 255,
    };
    let mut ip_count = 0;
    while at < frame.len() {
        let rest = &frame[at..];
        let (len, header) = match next {
            41 if rest.len() >= 40 => {
                ip_count += 1;
                let ip = Ipv6Packet::new_unchecked(rest);
                next = ip.next_header().0;
                let summary = format!(
                    "TC {:#04x} flow {:#07x} len {} NH {} ({}) HL {} {} -> {}",
                    ip.traffic_class(),
                    ip.flow_label(),
                    ip.payload_len(),
                    next,
                    proto_name(next),
                    ip.hop_limit(),
                    ip.src_addr(),
                    ip.dst_addr()
                );
                let fields = vec![
                    f(0..4, "Version | Traffic Class | Flow Label"),
                    f(4..6, "Payload Length"),
                    f(6..7, "Next Header"),
                    f(7..8, "Hop Limit"),
                    f(8..24, "Source Address"),
                    f(24..40, "Destination Address"),
                ];
                (
                    40,
                    Header {
                        name: "IPv6".into(),
                        range: 0..0,
                        summary,
                        fields,
                    },
                )
            }
            4 if rest.len() >= 20 => {
                ip_count += 1;
                let ip = Ipv4Packet::new_unchecked(rest);
                let hl = usize::from(ip.header_len()).clamp(20, rest.len());
                next = ip.protocol().0;
                let summary = format!(
                    "TOS {:#04x} len {} id {:#06x} TTL {} proto {} ({}) csum {:#06x} {} -> {}",
                    ip.tos(),
                    ip.total_len(),
                    ip.ident(),
                    ip.ttl(),
                    next,
                    proto_name(next),
                    ip.checksum(),
                    ip.src_addr(),
                    ip.dst_addr()
                );
                let fields = vec![
                    f(0..1, "Version | IHL"),
                    f(1..2, "TOS"),
                    f(2..4, "Total Length"),
                    f(4..6, "Identification"),
                    f(6..8, "Flags | Fragment Offset"),
                    f(8..9, "TTL"),
                    f(9..10, "Protocol"),
                    f(10..12, "Header Checksum"),
                    f(12..16, "Source Address"),
                    f(16..20, "Destination Address"),
                    f(20..hl, "Options"),
                ];
                (
                    hl,
                    Header {
                        name: "IPv4".into(),
                        range: 0..0,
                        summary,
                        fields,
                    },
                )
            }
            43 if rest.len() >= 8 && rest[2] == 4 => {
                let len = ((usize::from(rest[1]) + 1) * 8).min(rest.len());
                let srh = Srh::new_unchecked(&rest[..len]);
                next = srh.next_header().0;
                let n = (len - 8) / 16;
                let segs: Vec<String> = (0..n).map(|i| srh.segment(i).to_string()).collect();
                let summary = format!(
                    "NH {} ({}) HdrExtLen {} SL {} LE {} flags {:#04x} tag {} list [{}]",
                    next,
                    proto_name(next),
                    srh.hdr_ext_len(),
                    srh.segments_left(),
                    srh.last_entry(),
                    srh.flags(),
                    srh.tag(),
                    segs.join(", ")
                );
                let mut fields = vec![
                    f(0..1, "Next Header"),
                    f(1..2, "Hdr Ext Len"),
                    f(2..3, "Routing Type"),
                    f(3..4, "Segments Left"),
                    f(4..5, "Last Entry"),
                    f(5..6, "Flags"),
                    f(6..8, "Tag"),
                ];
                for i in 0..n {
                    fields.push((8 + 16 * i..24 + 16 * i, format!("Segment List[{i}]")));
                }
                fields.push(f(8 + 16 * n..len, "TLVs"));
                (
                    len,
                    Header {
                        name: "SRH".into(),
                        range: 0..0,
                        summary,
                        fields,
                    },
                )
            }
            17 if rest.len() >= 8 => {
                let udp = UdpPacket::new_unchecked(rest);
                let summary = format!(
                    "ports {} -> {} len {} csum {:#06x}",
                    udp.src_port(),
                    udp.dst_port(),
                    udp.len(),
                    udp.checksum()
                );
                next = 255;
                let fields = vec![
                    f(0..2, "Source Port"),
                    f(2..4, "Destination Port"),
                    f(4..6, "Length"),
                    f(6..8, "Checksum"),
                ];
                (
                    8,
                    Header {
                        name: "UDP".into(),
                        range: 0..0,
                        summary,
                        fields,
                    },
                )
            }
            _ => {
                let text: String = rest
                    .iter()
                    .take(40)
                    .map(|&b| {
                        if b.is_ascii_graphic() || b == b' ' {
                            b as char
                        } else {
                            '.'
                        }
                    })
                    .collect();
                (
                    rest.len(),
                    Header {
                        name: "payload".into(),
                        range: 0..0,
                        summary: format!(
                            "{} B \"{}\"",
                            rest.len(),
                            text.trim_end_matches(['.', ' '])
                        ),
                        fields: vec![f(0..rest.len(), "data")],
                    },
                )
            }
        };
        let mut header = header;
        header.range = at..at + len;
        header.fields = header
            .fields
            .into_iter()
            .map(|(r, n)| (at + r.start..at + r.end, n))
            .collect();
        out.push(header);
        at += len;
    }
    // Name the IP headers outer / inner when there are two.
    if ip_count >= 2 {
        let ips = out
            .iter_mut()
            .filter(|h| h.name == "IPv6" || h.name == "IPv4");
        for (i, h) in ips.enumerate() {
            h.name = format!("{} {}", if i == 0 { "outer" } else { "inner" }, h.name);
        }
    }
    out
}

/// The header and field at `offset`, e.g. `outer IPv6 Hop Limit`.
pub fn field_at(headers: &[Header], offset: usize) -> (String, Range<usize>) {
    for h in headers {
        if h.range.contains(&offset) {
            for (r, name) in &h.fields {
                if r.contains(&offset) {
                    return (format!("{} {name}", h.name), r.clone());
                }
            }
            return (h.name.clone(), h.range.clone());
        }
    }
    ("beyond the end".into(), offset..offset + 1)
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every field where `kernel` and `ours` differ, with both values.
pub fn diff_report(kernel: &[u8], ours: &[u8]) -> String {
    let headers = dissect(ours);
    let mut out = String::new();
    if kernel.len() != ours.len() {
        let _ = write!(
            out,
            "kernel frame is {} B, srv6d frame is {} B; ",
            kernel.len(),
            ours.len()
        );
    }
    let mut reported: Vec<Range<usize>> = Vec::new();
    for i in 0..kernel.len().min(ours.len()) {
        if kernel[i] == ours[i] || reported.iter().any(|r| r.contains(&i)) {
            continue;
        }
        let (name, range) = field_at(&headers, i);
        let r = range.start..range.end.min(kernel.len()).min(ours.len());
        let _ = write!(
            out,
            "offset {} ({name}, frame bytes {}..{}): kernel [{}] srv6d [{}]; ",
            i,
            r.start,
            r.end,
            hex(&kernel[r.clone()]),
            hex(&ours[r.clone()])
        );
        reported.push(r);
    }
    let _ = write!(
        out,
        "\nkernel frame:\n{}srv6d frame:\n{}",
        hexdump(kernel),
        hexdump(ours)
    );
    out
}

/// A labelled hex dump: one block per header with its decoded summary.
pub fn hexdump(frame: &[u8]) -> String {
    let mut out = String::new();
    for h in dissect(frame) {
        let _ = writeln!(out, "  {:04x}  {:<12} {}", h.range.start, h.name, h.summary);
        for chunk_start in (h.range.start..h.range.end).step_by(16) {
            let end = (chunk_start + 16).min(h.range.end);
            let _ = writeln!(
                out,
                "        {:<12}   {}",
                "",
                hex(&frame[chunk_start..end])
            );
        }
    }
    out
}
