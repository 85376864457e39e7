//! Which counter each kind of frame hits, on a WAN port, a LAN port and an
//! interface that is not a port. Frames are injected from the veth peer; no
//! AF_XDP socket is registered, so redirected frames fall back to the kernel.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::*;
use ebpf_redirect::{AttachMode, PortRole};

fn ns_for(target: Ipv6Addr) -> Vec<u8> {
    let mut body = vec![0; 4];
    body.extend_from_slice(&target.octets());
    body.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 0x99]);
    icmp6(135, &body)
}

fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// An SRv6 packet: IPv6 + SRH (one segment) + inner `inner_nh` payload.
fn srv6(dst: Ipv6Addr, inner_nh: u8, inner: &[u8]) -> Vec<u8> {
    let mut srh = vec![inner_nh, 2, 4, 0, 0, 0, 0, 0];
    srh.extend_from_slice(&dst.octets());
    srh.extend_from_slice(inner);
    ipv6(SRC6, dst, 43, &srh)
}

#[test]
fn wan_port_decisions() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut bed = Bed::configured(PortRole::Wan);
    assert_eq!(bed.mode, AttachMode::Driver, "veth has native XDP");

    // Not IP: kernel.
    let arp = arp_request([0xff; 6], bed.peer_mac, SRC4, HOST4);
    bed.expect("ARP request", &arp, "pass_not_ip");
    bed.expect("LLDP", &bed.eth(0x88cc, &[0; 46]), "pass_not_ip");
    let mut vlan = vec![0, 10, 0x86, 0xdd];
    vlan.extend_from_slice(&ipv6(SRC6, SID, 17, &udp(1, 2, b"x")));
    bed.expect("VLAN-tagged IPv6", &bed.eth(0x8100, &vlan), "pass_not_ip");

    // ICMPv6 control right after the fixed header: kernel, even to a SID.
    let ns = ipv6(SRC6, solicited_node(HOST6), 58, &ns_for(HOST6));
    bed.expect(
        "NDP NS (multicast)",
        &bed.eth(ETH_IPV6, &ns),
        "pass_ndp_icmpv6",
    );
    let na = ipv6(SRC6, HOST6, 58, &icmp6(136, &[0; 20]));
    bed.expect(
        "NDP NA (unicast)",
        &bed.eth(ETH_IPV6, &na),
        "pass_ndp_icmpv6",
    );
    let rs = ipv6(SRC6, "ff02::2".parse().unwrap(), 58, &icmp6(133, &[0; 4]));
    bed.expect(
        "router solicitation",
        &bed.eth(ETH_IPV6, &rs),
        "pass_ndp_icmpv6",
    );
    let unreach = ipv6(SRC6, SID, 58, &icmp6(1, &[0; 44]));
    bed.expect(
        "ICMPv6 error to a SID",
        &bed.eth(ETH_IPV6, &unreach),
        "pass_ndp_icmpv6",
    );
    let mld = ipv6(
        SRC6,
        "ff02::16".parse().unwrap(),
        0,
        &[58, 0, 5, 2, 0, 0, 1, 0, 143, 0, 0, 0, 0, 0, 0, 0],
    );
    bed.expect(
        "MLDv2 report (behind hop-by-hop)",
        &bed.eth(ETH_IPV6, &mld),
        "pass_link_local_or_multicast",
    );

    // Engine-owned destinations: engine.
    bed.expect("UDP to a local SID", &udp6_to(&bed, SID), "redirect_sid");
    let echo = ipv6(SRC6, SID, 58, &icmp6(128, &[0, 1, 0, 1]));
    bed.expect(
        "echo request to a local SID",
        &bed.eth(ETH_IPV6, &echo),
        "redirect_sid",
    );
    let srh = srv6(SID, 58, &icmp6(135, &[0; 20]));
    bed.expect(
        "SRv6 (SRH, then ICMPv6) to a local SID",
        &bed.eth(ETH_IPV6, &srh),
        "redirect_sid",
    );
    bed.expect(
        "UDP into the SID prefix",
        &udp6_to(&bed, IN_LOCATOR),
        "redirect_sid",
    );
    bed.expect(
        "UDP to the SID prefix address",
        &udp6_to(&bed, LOCATOR),
        "redirect_sid",
    );
    let outside: Ipv6Addr = "fc00:0:3::7".parse().unwrap();
    bed.expect(
        "UDP just outside the SID prefix",
        &udp6_to(&bed, outside),
        "pass_not_ours",
    );

    // The host's own addresses: kernel.
    bed.expect(
        "UDP to a host address",
        &udp6_to(&bed, HOST6),
        "pass_host_addr",
    );
    let echo = ipv6(SRC6, HOST6, 58, &icmp6(128, &[0, 1, 0, 1]));
    bed.expect(
        "echo request to a host address",
        &bed.eth(ETH_IPV6, &echo),
        "pass_host_addr",
    );

    // Routed traffic is not the engine's business on a WAN port.
    bed.expect("routed IPv6", &udp6_to(&bed, ROUTED6), "pass_not_ours");
    bed.expect("routed IPv4", &udp4_to(&bed, ROUTED4), "pass_not_ours");
    bed.expect("IPv4 to the host", &udp4_to(&bed, HOST4), "pass_not_ours");

    // Multicast and link-local destinations: kernel.
    for dst in ["ff02::1", "ff05::1:3", "fe80::1", "febf::1"] {
        let frame = udp6_to(&bed, dst.parse().unwrap());
        bed.expect(
            &format!("UDP to {dst}"),
            &frame,
            "pass_link_local_or_multicast",
        );
    }

    // Map changes take effect at once.
    bed.prog.remove_local_v6(SID).unwrap();
    bed.expect("UDP to a removed SID", &udp6_to(&bed, SID), "pass_not_ours");
    bed.prog
        .remove_local_v6(SID)
        .expect("removing twice is fine");
    bed.prog.remove_sid_prefix(LOCATOR, LOCATOR_LEN).unwrap();
    bed.expect(
        "UDP into a removed prefix",
        &udp6_to(&bed, IN_LOCATOR),
        "pass_not_ours",
    );
    bed.prog.remove_host_addr(HOST6.into()).unwrap();
    bed.expect(
        "UDP to a removed host address",
        &udp6_to(&bed, HOST6),
        "pass_not_ours",
    );
    // Host bits of a prefix are ignored; clear_* empties a map.
    bed.prog
        .add_sid_prefix("fc00:0:2::dead".parse().unwrap(), LOCATOR_LEN)
        .unwrap();
    bed.expect(
        "UDP into a re-added prefix",
        &udp6_to(&bed, IN_LOCATOR),
        "redirect_sid",
    );
    bed.prog.add_local_v6(SID).unwrap();
    bed.prog.clear_sid_prefixes().unwrap();
    bed.prog.clear_local_v6().unwrap();
    bed.prog.clear_host_addrs().unwrap();
    bed.expect(
        "UDP into a cleared prefix",
        &udp6_to(&bed, IN_LOCATOR),
        "pass_not_ours",
    );
    bed.expect("UDP to a cleared SID", &udp6_to(&bed, SID), "pass_not_ours");
}

#[test]
fn lan_port_decisions() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut bed = Bed::configured(PortRole::Lan);

    bed.expect(
        "routed IPv6",
        &udp6_to(&bed, ROUTED6),
        "redirect_lan_routed",
    );
    let echo = ipv6(SRC6, ROUTED6, 58, &icmp6(128, &[0, 1, 0, 1]));
    bed.expect(
        "routed echo request",
        &bed.eth(ETH_IPV6, &echo),
        "redirect_lan_routed",
    );
    bed.expect(
        "routed IPv4",
        &udp4_to(&bed, ROUTED4),
        "redirect_lan_routed",
    );
    bed.expect("IPv6 to a local SID", &udp6_to(&bed, SID), "redirect_sid");
    bed.expect(
        "IPv6 into the SID prefix",
        &udp6_to(&bed, IN_LOCATOR),
        "redirect_sid",
    );

    bed.expect("IPv4 to the host", &udp4_to(&bed, HOST4), "pass_host_addr");
    bed.expect("IPv6 to the host", &udp6_to(&bed, HOST6), "pass_host_addr");

    for dst in [
        "224.0.0.251",
        "239.1.2.3",
        "255.255.255.255",
        "240.0.0.1",
        "169.254.1.1",
    ] {
        let frame = udp4_to(&bed, dst.parse::<Ipv4Addr>().unwrap());
        bed.expect(
            &format!("UDP to {dst}"),
            &frame,
            "pass_link_local_or_multicast",
        );
    }
    bed.expect(
        "IPv6 multicast",
        &udp6_to(&bed, "ff02::fb".parse().unwrap()),
        "pass_link_local_or_multicast",
    );
    let arp = arp_request([0xff; 6], bed.peer_mac, SRC4, HOST4);
    bed.expect("ARP request", &arp, "pass_not_ip");
    let ns = ipv6(SRC6, solicited_node(HOST6), 58, &ns_for(HOST6));
    bed.expect("NDP NS", &bed.eth(ETH_IPV6, &ns), "pass_ndp_icmpv6");

    // The role can change under traffic; a forgotten port is no port.
    bed.prog.set_port(bed.ifindex, PortRole::Wan, 0).unwrap();
    bed.expect(
        "routed IPv6 after LAN -> WAN",
        &udp6_to(&bed, ROUTED6),
        "pass_not_ours",
    );
    bed.prog.set_port(bed.ifindex, PortRole::Lan, 0).unwrap();
    bed.expect(
        "routed IPv6 after WAN -> LAN",
        &udp6_to(&bed, ROUTED6),
        "redirect_lan_routed",
    );
    bed.prog.remove_port(bed.ifindex).unwrap();
    bed.prog
        .remove_port(bed.ifindex)
        .expect("removing twice is fine");
    let before = bed.prog.stats().unwrap();
    bed.sock.send(&udp6_to(&bed, SID)).unwrap();
    let after = wait_for(&bed.prog, |s| s.pass_not_port > before.pass_not_port);
    assert!(after.pass_not_port > before.pass_not_port, "{after:?}");
    assert_eq!(after.redirect_sid, before.redirect_sid);
}

#[test]
fn unknown_ifindex_passes_everything() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut bed = Bed::new(false);
    // Another interface is a port, and everything is engine-owned there;
    // this one is not a port.
    bed.prog
        .set_port(bed.ifindex + 1000, PortRole::Lan, 0)
        .unwrap();
    bed.prog.add_local_v6(SID).unwrap();
    let frames = [
        udp6_to(&bed, SID),
        udp6_to(&bed, ROUTED6),
        udp4_to(&bed, ROUTED4),
        bed.eth(ETH_IPV6, &[0x60]), // even a truncated one
    ];
    let before = bed.prog.stats().unwrap();
    for frame in &frames {
        bed.sock.send(frame).unwrap();
    }
    let after = wait_for(&bed.prog, |s| s.pass_not_port >= before.pass_not_port + 4);
    assert!(after.pass_not_port >= before.pass_not_port + 4, "{after:?}");
    // Nothing ever reached another decision.
    assert_eq!(after.total(), after.pass_not_port, "{after:?}");

    bed.prog.clear_ports().unwrap();
    bed.prog.set_port(bed.ifindex, PortRole::Wan, 0).unwrap();
    bed.expect(
        "UDP to a SID once the port is known",
        &udp6_to(&bed, SID),
        "redirect_sid",
    );
}

#[test]
fn truncated_frames_pass_as_malformed() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let bed = Bed::configured(PortRole::Lan);

    // Every cut of a UDP/IPv6 frame to a SID: header incomplete -> kernel;
    // from a complete fixed header on, the engine gets it (it checks the rest).
    let full = udp6_to(&bed, SID);
    let cut = |range: std::ops::Range<usize>| -> Vec<Vec<u8>> {
        range.map(|len| full[..len].to_vec()).collect()
    };
    bed.expect_n(
        "IPv6 cut inside the fixed header",
        &cut(14..54),
        "pass_malformed",
    );
    bed.expect_n(
        "IPv6 cut after the fixed header",
        &cut(54..full.len() + 1),
        "redirect_sid",
    );

    let full4 = udp4_to(&bed, ROUTED4);
    let cuts4: Vec<Vec<u8>> = (14..34).map(|len| full4[..len].to_vec()).collect();
    bed.expect_n("IPv4 cut inside the header", &cuts4, "pass_malformed");

    let no_icmp = ipv6(SRC6, SID, 58, &[]);
    bed.expect(
        "ICMPv6 without its header",
        &bed.eth(ETH_IPV6, &no_icmp),
        "pass_malformed",
    );
    let mut v4_in_v6 = ipv6(SRC6, SID, 17, &udp(1, 2, b"x"));
    v4_in_v6[0] = 0x45;
    bed.expect(
        "IPv6 EtherType, version 4",
        &bed.eth(ETH_IPV6, &v4_in_v6),
        "pass_malformed",
    );
    let mut ihl4 = ipv4(SRC4, ROUTED4, 17, &udp(1, 2, b"x"));
    ihl4[0] = 0x44;
    bed.expect(
        "IPv4 with IHL 4",
        &bed.eth(ETH_IPV4, &ihl4),
        "pass_malformed",
    );
    let mut v6_in_v4 = ipv4(SRC4, ROUTED4, 17, &udp(1, 2, b"x"));
    v6_in_v4[0] = 0x65;
    bed.expect(
        "IPv4 EtherType, version 6",
        &bed.eth(ETH_IPV4, &v6_in_v4),
        "pass_malformed",
    );

    // The program survived all of it and still decides.
    bed.expect(
        "routed IPv6 afterwards",
        &udp6_to(&bed, ROUTED6),
        "redirect_lan_routed",
    );
}
