//! Shared by the root-only tests: a two-namespace bed (`dut` runs the
//! program on `p0`, `peer` injects frames into it with a packet socket),
//! frame builders and a helper that checks which counter a frame hit.

#![allow(dead_code)] // each test file uses a different part

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ebpf_redirect::{AttachMode, PortRole, RedirectProgram, RedirectStats};
use lab::{Lab, Mac, PacketSocket, Topology};

/// The host's own addresses on the dut port.
pub const HOST4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const HOST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
/// The peer's addresses (only configured where a test needs the kernel to
/// talk back, see [`Bed::new`]).
pub const PEER4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
/// Source addresses of crafted frames: nobody owns them, so nothing the dut
/// kernel sends back to them gets an answer that would touch the counters.
pub const SRC4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);
pub const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x99);
/// A local SID (`local6`).
pub const SID: Ipv6Addr = Ipv6Addr::new(0xfc00, 0, 1, 0xe000, 0, 0, 0, 0);
/// The SID prefix (`sid_prefixes`) and an address inside it.
pub const LOCATOR: Ipv6Addr = Ipv6Addr::new(0xfc00, 0, 2, 0, 0, 0, 0, 0);
pub const LOCATOR_LEN: u8 = 48;
pub const IN_LOCATOR: Ipv6Addr = Ipv6Addr::new(0xfc00, 0, 2, 0x42, 0, 0, 0, 7);
/// Routed destinations nobody here owns.
pub const ROUTED6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 5);
pub const ROUTED4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 5);

/// Counters that background traffic of the peer kernel (MLD reports, router
/// solicitations, neighbour discovery) also moves: only "at least" holds.
pub const NOISY: [&str; 2] = ["pass_ndp_icmpv6", "pass_link_local_or_multicast"];

pub const ETH_IPV4: u16 = 0x0800;
pub const ETH_IPV6: u16 = 0x86dd;
pub const ETH_ARP: u16 = 0x0806;

/// A loaded program attached to `dut:p0`, and a packet socket on `peer:p0`.
pub struct Bed {
    // Field order = drop order: the program detaches before the lab goes.
    pub prog: RedirectProgram,
    pub sock: PacketSocket,
    pub dut_mac: Mac,
    pub peer_mac: Mac,
    pub ifindex: u32,
    pub mode: AttachMode,
    pub lab: Lab,
}

impl Bed {
    /// Builds the lab, loads and attaches the program in `dut`. With
    /// `peer_addrs`, the peer gets `PEER4`/`PEER6` (for tests where the
    /// kernels talk to each other); otherwise only link-local.
    pub fn new(peer_addrs: bool) -> Bed {
        let mut topo = Topology::new()
            .prefix("s6xdp")
            .namespaces(&["dut", "peer"])
            .link(("dut", "p0"), ("peer", "p0"))
            .addr("dut", "p0", &format!("{HOST4}/24"))
            .addr("dut", "p0", &format!("{HOST6}/64"));
        if peer_addrs {
            topo = topo.addr("peer", "p0", &format!("{PEER4}/24")).addr(
                "peer",
                "p0",
                &format!("{PEER6}/64"),
            );
        }
        let lab = topo.build().expect("build lab");
        let dut_mac = lab.mac("dut", "p0").expect("dut mac");
        let peer_mac = lab.mac("peer", "p0").expect("peer mac");
        let ifindex = lab.ifindex("dut", "p0").expect("dut ifindex");
        let sock = lab.packet_socket("peer", "p0").expect("peer socket");

        let mut prog = RedirectProgram::load().expect("load the XDP program");
        let mode = lab
            .in_ns("dut", || prog.attach("p0"))
            .expect("enter dut")
            .expect("attach to dut:p0");
        Bed {
            prog,
            sock,
            dut_mac,
            peer_mac,
            ifindex,
            mode,
            lab,
        }
    }

    /// `new(false)`, then the port as `role` with the host addresses, the
    /// local SID and the SID prefix configured.
    pub fn configured(role: PortRole) -> Bed {
        let mut bed = Bed::new(false);
        bed.configure(role);
        bed
    }

    pub fn configure(&mut self, role: PortRole) {
        let p = &mut self.prog;
        p.set_port(self.ifindex, role, 7).expect("set_port");
        p.add_host_addr(HOST4.into()).expect("host addr 4");
        p.add_host_addr(HOST6.into()).expect("host addr 6");
        p.add_local_v6(SID).expect("local SID");
        p.add_sid_prefix(LOCATOR, LOCATOR_LEN).expect("SID prefix");
    }

    /// An Ethernet frame from the peer to the dut port.
    pub fn eth(&self, ethertype: u16, payload: &[u8]) -> Vec<u8> {
        eth(self.dut_mac, self.peer_mac, ethertype, payload)
    }

    /// Sends `frame` and waits until counter `reason` moved; then checks
    /// that no other counter except the noisy ones moved, and that `reason`
    /// moved by exactly one unless it is noisy.
    pub fn expect(&self, what: &str, frame: &[u8], reason: &str) {
        self.expect_n(what, &[frame.to_vec()], reason);
    }

    /// Like [`Bed::expect`] for several frames that all hit `reason`.
    pub fn expect_n(&self, what: &str, frames: &[Vec<u8>], reason: &str) {
        let before = self.prog.stats().expect("stats");
        for frame in frames {
            self.sock.send(frame).expect("send frame");
        }
        let want = frames.len() as u64;
        let after = wait_for(&self.prog, |s| {
            counter(s, reason) >= counter(&before, reason) + want
        });
        let moved = counter(&after, reason) - counter(&before, reason);
        if NOISY.contains(&reason) {
            assert!(
                moved >= want,
                "{what}: {reason} moved by {moved}, want >= {want}"
            );
        } else {
            assert_eq!(
                moved, want,
                "{what}: {reason} moved by {moved}, want {want}"
            );
        }
        for (name, value) in after.counters() {
            if name != reason && !NOISY.contains(&name) {
                assert_eq!(
                    value,
                    counter(&before, name),
                    "{what}: counter {name} moved as well (before {before:?}, after {after:?})"
                );
            }
        }
    }
}

/// Polls the stats until `done` holds (at most 3 s) and returns them.
pub fn wait_for(prog: &RedirectProgram, done: impl Fn(&RedirectStats) -> bool) -> RedirectStats {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let stats = prog.stats().expect("stats");
        if done(&stats) || Instant::now() > deadline {
            return stats;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn counter(stats: &RedirectStats, name: &str) -> u64 {
    stats
        .counters()
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no counter {name}"))
}

pub fn eth(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An IPv6 packet (fixed header only, then `payload` as next header `nh`).
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.push(nh);
    p.push(64);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

/// An IPv4 packet with a 20-byte header and a correct header checksum.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let mut sum: u32 = p
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// A UDP header (checksum 0: the program does not look at it) and payload.
pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// An ICMPv6 message of `icmp_type` (code 0, checksum 0) with `body`.
pub fn icmp6(icmp_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![icmp_type, 0, 0, 0];
    m.extend_from_slice(body);
    m
}

/// A UDP/IPv6 frame from `SRC6` to `dst`.
pub fn udp6_to(bed: &Bed, dst: Ipv6Addr) -> Vec<u8> {
    bed.eth(
        ETH_IPV6,
        &ipv6(SRC6, dst, 17, &udp(40000, 9, b"srv6d ebpf-redirect test")),
    )
}

/// A UDP/IPv4 frame from `SRC4` to `dst`.
pub fn udp4_to(bed: &Bed, dst: Ipv4Addr) -> Vec<u8> {
    bed.eth(
        ETH_IPV4,
        &ipv4(SRC4, dst, 17, &udp(40000, 9, b"srv6d ebpf-redirect test")),
    )
}

/// An ARP request from `sender` (`mac`) for `target`.
pub fn arp_request(dst_mac: Mac, mac: Mac, sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut a = vec![0, 1, 0x08, 0, 6, 4, 0, 1];
    a.extend_from_slice(&mac);
    a.extend_from_slice(&sender.octets());
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&target.octets());
    eth(dst_mac, mac, ETH_ARP, &a)
}

/// Whether `ip -n NS link show dev IF` reports an XDP program.
pub fn has_xdp(lab: &Lab, ns: &str, ifname: &str) -> bool {
    let out = lab
        .ip(ns, ["link", "show", "dev", ifname])
        .expect("ip link show");
    // `xdp`, `xdpgeneric`, `prog/xdp`; not the `s6xdp-...` of link-netns.
    out.split_whitespace()
        .any(|w| w.starts_with("xdp") || w.starts_with("prog/xdp"))
}
