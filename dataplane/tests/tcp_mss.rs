//! TCP MSS clamping at the overlay's edge (no root needed): which packets
//! are clamped and to what, checked by Scapy (tests/tcp_mss_check.py: the
//! MSS option and the TCP checksum it computes itself); every other octet
//! unchanged; a property test that no input makes the clamp panic or
//! change the length.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};

use dataplane::behavior::mss::{clamp_at_overlay_edge, clamp_syn, MIN_MSS};
use dataplane::behavior::{
    process, EncapMode, EncapPolicy, MssClamp, Packet, SidBehavior, Verdict, MAX_ENCAP_LEN,
    UNDERLAY,
};
use dataplane::fib::{Adjacency, Fib, FibBuilder, NextHop, PortId, RouteAction, VrfId};
use dataplane::wire::checksum;
use dataplane::wire::IpProtocol;
use proptest::prelude::*;

const fn a6(a: u16, b: u16, c: u16, h: u16) -> Ipv6Addr {
    Ipv6Addr::new(a, b, c, 0, 0, 0, 0, h)
}

const VRF: VrfId = 1;
const LAN: PortId = PortId(1);
const WAN: PortId = PortId(2);
const DT46: Ipv6Addr = a6(0xfc00, 0xe, 0, 0xd46);
const REMOTE_SRC: Ipv6Addr = a6(0xfc00, 0xb, 0, 1);
const HOST4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const HOST6: Ipv6Addr = a6(0xfc00, 1, 0, 1);
const FAR4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const FAR6: Ipv6Addr = a6(0x2001, 0xdb8, 0xaa, 7);
/// The policy: 2 SIDs, 40 + 8 + 32 octets.
const OVERHEAD: usize = 80;
const WAN_MTU: usize = 1500;

fn edge() -> Fib {
    let mut b = FibBuilder::new();
    b.add_vrf(VRF).unwrap();
    let policy = EncapPolicy::new(
        EncapMode::Encaps,
        a6(0xfc00, 0xe, 0, 1),
        &[a6(0xfc00, 2, 0, 1), a6(0xfc00, 2, 0, 0xd)],
    )
    .unwrap();
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
            next_hop: NextHop::V6(a6(0xfe80, 0, 0, 1)),
        }),
    )
    .unwrap();
    b.add_sid(DT46, SidBehavior::EndDT46 { vrf: VRF }).unwrap();
    b.build().unwrap()
}

/// A TCP segment with `flags` and `options` (padded to 4 octets with
/// End-of-options) inside IPv4 or IPv6, checksums filled by RFC 793's
/// definition.
fn tcp(src: IpAddr, dst: IpAddr, flags: u8, options: &[u8]) -> Vec<u8> {
    let opt_len = options.len().div_ceil(4) * 4;
    let mut seg = vec![0u8; 20 + opt_len + 10];
    seg[0..2].copy_from_slice(&40000u16.to_be_bytes());
    seg[2..4].copy_from_slice(&80u16.to_be_bytes());
    seg[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
    seg[12] = (((20 + opt_len) / 4) as u8) << 4;
    seg[13] = flags;
    seg[14..16].copy_from_slice(&64240u16.to_be_bytes());
    seg[20..20 + options.len()].copy_from_slice(options);
    for (i, b) in seg[20 + opt_len..].iter_mut().enumerate() {
        *b = i as u8 ^ 0x3c;
    }
    let len = seg.len();
    let pseudo = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            checksum::pseudo_header_v4(s, d, IpProtocol::TCP, len as u16)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            checksum::pseudo_header_v6(s, d, IpProtocol::TCP, len as u32)
        }
        _ => unreachable!(),
    };
    let sum = !checksum::combine(&[pseudo, checksum::data(&seg)]);
    seg[16..18].copy_from_slice(&sum.to_be_bytes());
    let mut ip = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0];
            h[2..4].copy_from_slice(&((20 + len) as u16).to_be_bytes());
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let c = !checksum::data(&h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            h
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let mut h = vec![0x60, 0, 0, 0, 0, 0, 6, 64];
            h[4..6].copy_from_slice(&(len as u16).to_be_bytes());
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            h
        }
        _ => unreachable!(),
    };
    ip.extend_from_slice(&seg);
    ip
}

const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;
const ACK: u8 = 0x10;

/// Linux's SYN options: MSS, SACK permitted, timestamps, NOP, window scale.
fn linux_options(mss: u16) -> Vec<u8> {
    let mut o = vec![2, 4];
    o.extend_from_slice(&mss.to_be_bytes());
    o.extend_from_slice(&[4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]);
    o
}

/// MSS after a NOP: the option's value at an odd offset.
fn odd_options(mss: u16) -> Vec<u8> {
    let mut o = vec![1, 2, 4];
    o.extend_from_slice(&mss.to_be_bytes());
    o.extend_from_slice(&[1, 1, 1]);
    o
}

const HEADROOM: usize = MAX_ENCAP_LEN + 64;

/// Processes `input` from `vrf` at an edge with `clamp`; returns the
/// verdict, the inner packet afterwards (at its origin) and whether it was
/// clamped.
fn through(input: &[u8], vrf: VrfId, clamp: MssClamp) -> (Verdict, Vec<u8>, bool) {
    let fib = edge();
    let mut buf = vec![0u8; HEADROOM + input.len()];
    buf[HEADROOM..].copy_from_slice(input);
    let mut pkt = Packet::new(&mut buf, HEADROOM, input.len()).unwrap();
    let verdict = process(&fib, vrf, &mut pkt);
    let Verdict::Forward { port, .. } = verdict else {
        return (verdict, Vec::new(), false);
    };
    let mtu = |_p: PortId| Some(WAN_MTU);
    let clamped = clamp_at_overlay_edge(&fib, &mut pkt, clamp, HEADROOM, port, mtu);
    let (origin, _) = pkt.origin().unwrap();
    let end = pkt.start() + pkt.len();
    (verdict, buf[origin..end].to_vec(), clamped)
}

fn mss_of(ip: &[u8]) -> u16 {
    let t = if ip[0] >> 4 == 6 {
        40
    } else {
        usize::from(ip[0] & 15) * 4
    };
    let opts = &ip[t + 20..t + usize::from(ip[t + 12] >> 4) * 4];
    let at = opts.iter().position(|&b| b == 2).unwrap();
    u16::from_be_bytes([opts[at + 2], opts[at + 3]])
}

fn scapy(lines: &[(String, Vec<u8>, u16)]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tcp_mss_check.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3 (Scapy is installed by scripts/deps.sh)");
    let mut input = String::new();
    for (name, p, mss) in lines {
        let hex: String = p.iter().map(|b| format!("{b:02x}")).collect();
        input += &format!("{name} {hex} {mss}\n");
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

/// Only the MSS value and the TCP checksum may differ from octet `t` (the
/// TCP header) on.
fn only_mss_and_checksum_changed(before: &[u8], after: &[u8], t: usize) {
    assert_eq!(before.len(), after.len());
    let at = t + 20 + before[t + 20..].iter().position(|&b| b == 2).unwrap();
    for (i, (a, b)) in before.iter().zip(after).enumerate().skip(t) {
        let allowed = i == t + 16 || i == t + 17 || i == at + 2 || i == at + 3;
        assert!(a == b || allowed, "octet {i} changed: {a:#04x} -> {b:#04x}");
    }
}

#[test]
fn syns_entering_and_leaving_the_overlay_are_clamped() {
    let mut checked = Vec::new();
    let h4 = IpAddr::V4(HOST4);
    let f4 = IpAddr::V4(FAR4);
    let h6 = IpAddr::V6(HOST6);
    let f6 = IpAddr::V6(FAR6);
    // Entering: MTU 1500 - 80 - 40 (IPv4 + TCP) or - 60 (IPv6 + TCP).
    let v4_auto = (WAN_MTU - OVERHEAD - 40) as u16;
    let v6_auto = (WAN_MTU - OVERHEAD - 60) as u16;
    for (name, input, clamp, want) in [
        (
            "v4_syn_auto",
            tcp(h4, f4, SYN, &linux_options(1460)),
            MssClamp::Auto,
            v4_auto,
        ),
        (
            "v6_syn_auto",
            tcp(h6, f6, SYN, &linux_options(1440)),
            MssClamp::Auto,
            v6_auto,
        ),
        (
            "v4_odd_offset",
            tcp(h4, f4, SYN, &odd_options(1460)),
            MssClamp::Auto,
            v4_auto,
        ),
        (
            "v6_odd_offset",
            tcp(h6, f6, SYN, &odd_options(1440)),
            MssClamp::Auto,
            v6_auto,
        ),
        (
            "v6_synack_fixed",
            tcp(h6, f6, SYN_ACK, &linux_options(1440)),
            MssClamp::Fixed(1300),
            1300,
        ),
    ] {
        let (v, after, clamped) = through(&input, VRF, clamp);
        assert!(
            matches!(v, Verdict::Forward { port: WAN, .. }),
            "{name}: {v:?}"
        );
        assert!(clamped, "{name}");
        assert_eq!(mss_of(&after), want, "{name}");
        let t = if input[0] >> 4 == 6 { 40 } else { 20 };
        assert_eq!(input[..t], after[..t], "{name}: IP header");
        only_mss_and_checksum_changed(&input, &after, t);
        checked.push((name.to_string(), after, want));
    }
    // Leaving: an SYN-ACK from the far site decapsulated by End.DT46 to
    // the LAN. The way back is the policy: same limit as entering.
    for (name, inner, want) in [
        (
            "v4_leaving",
            tcp(f4, h4, SYN_ACK, &linux_options(1460)),
            v4_auto,
        ),
        (
            "v6_leaving",
            tcp(f6, h6, SYN_ACK, &linux_options(1440)),
            v6_auto,
        ),
    ] {
        let mut outer = vec![0x60, 0, 0, 0, 0, 0, 0, 64];
        outer[4..6].copy_from_slice(&(inner.len() as u16).to_be_bytes());
        outer[6] = if inner[0] >> 4 == 6 { 41 } else { 4 };
        outer.extend_from_slice(&REMOTE_SRC.octets());
        outer.extend_from_slice(&DT46.octets());
        outer.extend_from_slice(&inner);
        let (v, after, clamped) = through(&outer, UNDERLAY, MssClamp::Auto);
        assert!(
            matches!(v, Verdict::Forward { port: LAN, .. }),
            "{name}: {v:?}"
        );
        assert!(clamped, "{name}");
        assert_eq!(mss_of(&after), want, "{name}");
        // Forwarding decremented the TTL / Hop Limit: compare the TCP part.
        let t = if inner[0] >> 4 == 6 { 40 } else { 20 };
        only_mss_and_checksum_changed(&inner, &after, t);
        checked.push((name.to_string(), after, want));
    }
    scapy(&checked);
}

#[test]
fn what_is_not_clamped() {
    let h4 = IpAddr::V4(HOST4);
    let f4 = IpAddr::V4(FAR4);
    let cases = [
        // Already small enough.
        ("low mss", tcp(h4, f4, SYN, &linux_options(1200)), VRF),
        // Not a SYN.
        ("ack", tcp(h4, f4, ACK, &linux_options(1460)), VRF),
        // No MSS option.
        ("no option", tcp(h4, f4, SYN, &[1, 1, 1, 1]), VRF),
        // Plain forwarding within the VRF (LAN to LAN).
        (
            "lan to lan",
            tcp(
                IpAddr::V4(Ipv4Addr::new(10, 1, 0, 9)),
                h4,
                SYN,
                &linux_options(1460),
            ),
            VRF,
        ),
    ];
    for (name, input, vrf) in cases {
        let (v, after, clamped) = through(&input, vrf, MssClamp::Auto);
        assert!(matches!(v, Verdict::Forward { .. }), "{name}: {v:?}");
        assert!(!clamped, "{name}");
        if name != "lan to lan" {
            assert_eq!(after, input, "{name}");
        }
    }
    // A fixed clamp below the minimum is raised to it.
    let input = tcp(h4, f4, SYN, &linux_options(1460));
    let (_, after, clamped) = through(&input, VRF, MssClamp::Fixed(100));
    assert!(clamped);
    assert_eq!(mss_of(&after), MIN_MSS);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Any bytes: no panic, same length, and at most the MSS value and the
    /// checksum (4 octets) change.
    #[test]
    fn clamp_never_panics(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..200),
        version in prop_oneof![Just(4u8), Just(6u8)],
        tcp_first in any::<bool>(),
        max in any::<u16>(),
    ) {
        if let Some(b) = bytes.first_mut() {
            *b = (version << 4) | (*b & 0x0f);
        }
        if tcp_first && bytes.len() > 9 {
            if version == 4 { bytes[9] = 6 } else { bytes[6] = 6 }
        }
        let before = bytes.clone();
        let _ = clamp_syn(&mut bytes, max);
        prop_assert_eq!(bytes.len(), before.len());
        let changed = bytes.iter().zip(&before).filter(|(a, b)| a != b).count();
        prop_assert!(changed <= 4);
    }
}
