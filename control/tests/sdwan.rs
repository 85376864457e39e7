//! srv6d ↔ srv6d SD-WAN in namespaces (see `sdwan_common` for the
//! topology): two sites behind srv6d edges joined by a plain IPv6 router.
//!
//! d. IPv4 (End.DT4) and IPv6 (End.DT6) VPNs between the edges carry ping
//!    and TCP; VRF red reuses blue's IPv4 prefixes and its traffic never
//!    mixes with blue's.
//! e. SRv6 transparency: with the WAN dropping every packet that carries an
//!    SRH, H.Encaps (SRH) breaks the VPN; after switching the policies to
//!    H.Encaps.Red with one SID (no SRH: plain IPv6-in-IPv6) by rewriting the
//!    file and SIGHUP, it works.

mod sdwan_common;

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use sdwan_common::{
    edge_config, ping, prime_neighbours, tcp_transfer, topology, Capture, Mode, RunLock, Srv6d, H1,
    H1R, H2, H2R,
};

const SRV6D: &str = env!("CARGO_BIN_EXE_srv6d");

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("srv6d-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn write_configs(dir: &Scratch, blue: Mode, red: Mode) -> [PathBuf; 2] {
    [1u8, 2].map(|n| {
        let path = dir.path(&format!("edge{n}.toml"));
        fs::write(&path, edge_config(n, blue, red)).unwrap();
        path
    })
}

fn start_edges(lab: &lab::Lab, dir: &Scratch, configs: &[PathBuf; 2]) -> [Srv6d; 2] {
    [0usize, 1].map(|i| {
        let ns = if i == 0 { "edge1" } else { "edge2" };
        Srv6d::start(
            lab,
            ns,
            Path::new(SRV6D),
            &configs[i],
            dir.path(&format!("{ns}.log")),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    })
}

fn logs(edges: &[Srv6d; 2]) -> String {
    edges
        .iter()
        .map(|e| format!("--- {} ---\n{}", e.name, e.log()))
        .collect()
}

#[test]
fn d_ipv4_and_ipv6_vpns_and_overlapping_vrfs_between_two_srv6d_edges() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _lock = RunLock::acquire().unwrap();
    let lab = topology("s6wand").expect("build the lab");
    let dir = Scratch::new("sdwan-d");
    let configs = write_configs(&dir, Mode::Encap, Mode::EncapRed);
    prime_neighbours(&lab).unwrap();
    let edges = start_edges(&lab, &dir, &configs);

    // Blue traffic must never reach red's host (which has h2's address).
    let red_capture = Capture::start(&lab, H2R.ns, H2R.v4).unwrap();

    let p4 = ping(&lab, H1.ns, H2.v4, 5, 0);
    assert!(
        p4.is_some_and(|p| p.received >= 4),
        "blue IPv4 ping: {p4:?}\n{}",
        logs(&edges)
    );
    let v6 = H2.v6.unwrap();
    let p6 = ping(&lab, H1.ns, v6, 5, 0);
    assert!(
        p6.is_some_and(|p| p.received >= 4),
        "blue IPv6 ping: {p6:?}\n{}",
        logs(&edges)
    );
    for dst in [H2.v4, v6] {
        let addr: IpAddr = dst.parse().unwrap();
        let r = tcp_transfer(&lab, H1.ns, H2.ns, addr, 1 << 20);
        assert!(r.is_ok(), "blue TCP to {dst}: {r:?}\n{}", logs(&edges));
    }
    let leaked = red_capture.count(0);
    assert_eq!(leaked, 0, "{leaked} blue packets reached red's host");

    // Red: same IPv4 addresses, its own VRF. The first packets may be lost
    // while the edges resolve the red hosts (no gateway ping primes them).
    let blue_capture = Capture::start(&lab, H2.ns, H2.v4).unwrap();
    let _ = ping(&lab, H1R.ns, H2R.v4, 3, 222);
    let pr = ping(&lab, H1R.ns, H2R.v4, 5, 222);
    assert!(
        pr.is_some_and(|p| p.received >= 4),
        "red IPv4 ping: {pr:?}\n{}",
        logs(&edges)
    );
    // 20 (IPv4) + 8 (ICMP) + 222: red's echo requests, none at blue's host.
    let leaked = blue_capture.count(250);
    assert_eq!(leaked, 0, "{leaked} red packets reached blue's host");
    let r = tcp_transfer(&lab, H1R.ns, H2R.ns, H2R.v4.parse().unwrap(), 256 << 10);
    assert!(r.is_ok(), "red TCP: {r:?}\n{}", logs(&edges));

    let [e1, e2] = edges;
    for e in [e1, e2] {
        let s = e.stop().unwrap();
        assert!(
            s.clean(),
            "{}: {:?} {}\n{}",
            s.name,
            s.status,
            s.frames,
            s.log
        );
        // The VPN traffic went through the engine: 1 MB each way, twice.
        assert!(
            s.counter("rx") > 1000 && s.counter("tx") > 1000,
            "{}: {}",
            s.name,
            s.counters
        );
        // Hosts at MTU 1500: full-sized segments did not fit the WAN once
        // encapsulated; each edge told its hosts (both families), and TCP
        // went through.
        assert!(
            s.counter("mtu_exceeded") > 0
                && s.counter("icmp6_packet_too_big") > 0
                && s.counter("icmp4_frag_needed") > 0,
            "{}: {}",
            s.name,
            s.counters
        );
    }
}

#[test]
fn e_srh_dropping_wan_breaks_h_encaps_and_h_encaps_red_one_sid_crosses_it() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _lock = RunLock::acquire().unwrap();
    let lab = topology("s6wane").expect("build the lab");
    lab.exec_ok(
        "wan",
        [
            "ip6tables",
            "-A",
            "FORWARD",
            "-m",
            "rt",
            "--rt-type",
            "4",
            "-j",
            "DROP",
        ],
    )
    .expect("ip6tables SRH drop rule (needs the ip6t_rt module)");
    let dir = Scratch::new("sdwan-e");
    let configs = write_configs(&dir, Mode::Encap, Mode::Encap);
    prime_neighbours(&lab).unwrap();
    let edges = start_edges(&lab, &dir, &configs);
    let v6 = H2.v6.unwrap();

    // H.Encaps: every VPN packet carries an SRH, and the WAN drops it.
    assert!(
        ping(&lab, H1.ns, H2.v4, 3, 0).is_none(),
        "IPv4 crossed with an SRH"
    );
    assert!(
        ping(&lab, H1.ns, v6, 3, 0).is_none(),
        "IPv6 crossed with an SRH"
    );
    let dropped = sdwan_common::forward_rule_packets(&lab, "wan").expect("rule counter");
    assert!(dropped >= 4, "the SRH rule dropped {dropped} packets");

    // H.Encaps.Red with the one egress SID: no SRH, the WAN forwards it.
    let configs2 = write_configs(&dir, Mode::EncapRed, Mode::EncapRed);
    assert_eq!(configs, configs2);
    for e in &edges {
        e.reload().unwrap();
    }
    let p4 = ping(&lab, H1.ns, H2.v4, 5, 0);
    assert!(
        p4.is_some_and(|p| p.received >= 4),
        "IPv4 after H.Encaps.Red: {p4:?}\n{}",
        logs(&edges)
    );
    let p6 = ping(&lab, H1.ns, v6, 5, 0);
    assert!(
        p6.is_some_and(|p| p.received >= 4),
        "IPv6 after H.Encaps.Red: {p6:?}\n{}",
        logs(&edges)
    );
    let r = tcp_transfer(&lab, H1.ns, H2.ns, v6.parse().unwrap(), 256 << 10);
    assert!(r.is_ok(), "TCP after H.Encaps.Red: {r:?}\n{}", logs(&edges));
    let after = sdwan_common::forward_rule_packets(&lab, "wan").unwrap();
    assert_eq!(after, dropped, "packets with an SRH after the switch");

    let [e1, e2] = edges;
    for e in [e1, e2] {
        let s = e.stop().unwrap();
        assert!(
            s.clean(),
            "{}: {:?} {}\n{}",
            s.name,
            s.status,
            s.frames,
            s.log
        );
    }
}
