//! Topologies that carry traffic: a veth pair, a routed line, and the
//! kernel's own SRv6 encap/decap between two routers.

use std::net::UdpSocket;
use std::time::Duration;

use lab::{Lab, Route, Seg6LocalAction, Seg6Mode, Topology, VethEnd, MAIN_TABLE};

/// `ping -c1 -W1` from `ns` to `addr`, asserting success (three tries, so a
/// first neighbour resolution cannot make the test flaky).
fn ping(lab: &Lab, ns: &str, addr: &str) {
    let mut last = None;
    for _ in 0..3 {
        let out = lab
            .exec(ns, ["ping", "-c1", "-W1", addr])
            .expect("run ping");
        if out.status.success() {
            return;
        }
        eprintln!("ping {addr} from {ns}: attempt failed, retrying");
        last = Some(out);
    }
    let out = last.unwrap();
    panic!(
        "ping {addr} from {ns} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn veth_pair_pings_both_ways() {
    if !lab::require_root() {
        eprintln!("skipped");
        return;
    }
    let mac_a = [0x02, 0, 0, 0, 0, 0x0a];
    let lab = Topology::new()
        .namespaces(&["a", "b"])
        .veth(
            VethEnd::new("a", "eth0").mac(mac_a).mtu(1400).queues(2),
            VethEnd::new("b", "veth-b").mtu(1400).queues(2),
        )
        .addr("a", "eth0", "10.0.0.1/24")
        .addr("a", "eth0", "fc00::1/64")
        .addr("b", "veth-b", "10.0.0.2/24")
        .addr("b", "veth-b", "fc00::2/64")
        .build()
        .expect("build");
    ping(&lab, "a", "10.0.0.2");
    ping(&lab, "a", "fc00::2");
    ping(&lab, "b", "10.0.0.1");
    ping(&lab, "b", "fc00::1");

    // The veth options reached the kernel, and the helpers read them back.
    assert_eq!(lab.mac("a", "eth0").unwrap(), mac_a);
    let details = lab
        .ip("b", ["-d", "link", "show", "dev", "veth-b"])
        .unwrap();
    assert!(details.contains("mtu 1400"), "{details}");
    assert!(details.contains("numtxqueues 2 numrxqueues 2"), "{details}");
    assert!(lab.ifindex("b", "veth-b").unwrap() > 1);
    // The interface names live only inside the namespaces.
    let root = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&root.stdout).contains("veth-b"));
    // No address is left tentative.
    lab.wait_for_dad("a").unwrap();
}

#[test]
fn routed_line_with_static_neighbours() {
    if !lab::require_root() {
        eprintln!("skipped");
        return;
    }
    let r_mac = [0x02, 0, 0, 0, 0, 0x01];
    let lab = Topology::new()
        .namespaces(&["h1", "r", "h2"])
        .veth(
            VethEnd::new("h1", "eth0"),
            VethEnd::new("r", "eth0").mac(r_mac),
        )
        .link(("r", "eth1"), ("h2", "eth0"))
        .forwarding("r")
        .addr("h1", "eth0", "10.1.1.1/24")
        .addr("h1", "eth0", "fc00:1::1/64")
        .addr("r", "eth0", "10.1.1.2/24")
        .addr("r", "eth0", "fc00:1::2/64")
        .addr("r", "eth1", "10.1.2.1/24")
        .addr("r", "eth1", "fc00:2::1/64")
        .addr("h2", "eth0", "10.1.2.2/24")
        .addr("h2", "eth0", "fc00:2::2/64")
        .neigh("h1", "eth0", "10.1.1.2", r_mac)
        .route("h1", Route::to("0.0.0.0/0").via("10.1.1.2"))
        .route("h1", Route::to("::/0").via("fc00:1::2").metric(10))
        .route("h2", Route::to("0.0.0.0/0").via("10.1.2.1").dev("eth0"))
        .route("h2", Route::to("::/0").via("fc00:2::1"))
        .build()
        .expect("build");
    ping(&lab, "h1", "10.1.2.2");
    ping(&lab, "h1", "fc00:2::2");
    let neigh = lab.ip("h1", ["neigh", "show", "dev", "eth0"]).unwrap();
    assert!(
        neigh.contains("10.1.1.2 lladdr 02:00:00:00:00:01 PERMANENT"),
        "{neigh}"
    );
    let routes = lab.ip("h1", ["-6", "route", "show", "default"]).unwrap();
    assert!(
        routes.contains("via fc00:1::2") && routes.contains("metric 10"),
        "{routes}"
    );
}

/// h1 — r1 ==SRv6== w ==SRv6== r2 — h2: r1 encapsulates toward a SID on
/// r2, which decapsulates with End.DT6 (IPv6) or End.DX4 (IPv4); w is a
/// plain IPv6 router (the WAN). The frames r1 sends to w are captured to
/// prove the traffic took the tunnel. r1 and r2 run wherever the kernel
/// has seg6: on the host, or in the lab's Linux VM (then w, a host
/// namespace, is where their frames can be captured).
#[test]
fn kernel_srv6_encap_and_decap() {
    if !lab::require_root() {
        eprintln!("skipped");
        return;
    }
    let lab = Topology::new()
        .namespaces(&["h1", "r1", "w", "r2", "h2"])
        .link(("h1", "eth0"), ("r1", "eth0"))
        .link(("r1", "eth1"), ("w", "eth0"))
        .link(("w", "eth1"), ("r2", "eth0"))
        .link(("r2", "eth1"), ("h2", "eth0"))
        .forwarding("r1")
        .forwarding("w")
        .forwarding("r2")
        .addr("h1", "eth0", "10.0.1.1/24")
        .addr("h1", "eth0", "fc00:1::1/64")
        .addr("r1", "eth0", "10.0.1.2/24")
        .addr("r1", "eth0", "fc00:1::2/64")
        .addr("r1", "eth1", "fc00:12::1/64")
        .addr("r1", "eth1", "10.0.12.1/24")
        .addr("w", "eth0", "fc00:12::2/64")
        .addr("w", "eth0", "10.0.12.2/24")
        .addr("w", "eth1", "fc00:23::1/64")
        .addr("w", "eth1", "10.0.23.1/24")
        .addr("r2", "eth0", "fc00:23::2/64")
        .addr("r2", "eth0", "10.0.23.2/24")
        .addr("r2", "eth1", "10.0.2.1/24")
        .addr("r2", "eth1", "fc00:2::1/64")
        .addr("h2", "eth0", "10.0.2.2/24")
        .addr("h2", "eth0", "fc00:2::2/64")
        .route("h1", Route::to("0.0.0.0/0").via("10.0.1.2"))
        .route("h1", Route::to("::/0").via("fc00:1::2"))
        .route("h2", Route::to("0.0.0.0/0").via("10.0.2.1"))
        .route("h2", Route::to("::/0").via("fc00:2::1"))
        .tunsrc("r1", "fc00:12::1")
        .route("r1", Route::to("fc00:b2::/64").via("fc00:12::2"))
        .route(
            "r1",
            Route::seg6("fc00:2::/64", Seg6Mode::Encap, &["fc00:b2::6"], "eth1"),
        )
        .route(
            "r1",
            Route::seg6("10.0.2.0/24", Seg6Mode::Encap, &["fc00:b2::4"], "eth1"),
        )
        .route("w", Route::to("fc00:b2::/64").via("fc00:23::2"))
        .route("w", Route::to("fc00:1::/64").via("fc00:12::1"))
        .route("w", Route::to("10.0.1.0/24").via("10.0.12.1"))
        .route("w", Route::to("10.0.2.0/24").via("10.0.23.2"))
        .route("w", Route::to("fc00:2::/64").via("fc00:23::2"))
        .route(
            "r2",
            Route::seg6local(
                "fc00:b2::6",
                Seg6LocalAction::EndDT6 { table: MAIN_TABLE },
                "eth0",
            ),
        )
        .route(
            "r2",
            Route::seg6local("fc00:b2::4", Seg6LocalAction::end_dx4("10.0.2.2"), "eth1"),
        )
        .route("r2", Route::to("fc00:1::/64").via("fc00:23::1"))
        .route("r2", Route::to("10.0.1.0/24").via("10.0.23.1"))
        .build()
        .expect("build");
    // Where seg6 is missing on the host, both routers are in the VM and
    // nothing else is.
    let vm = !lab::host_has(lab::KernelFeature::Seg6);
    for ns in ["r1", "r2"] {
        assert_eq!(lab.is_in_vm(ns), vm, "{ns}");
    }
    for ns in ["h1", "w", "h2"] {
        assert!(!lab.is_in_vm(ns), "{ns} needs nothing the host lacks");
    }

    let r1_routes = lab.ip("r1", ["-6", "route", "show"]).unwrap();
    assert!(
        r1_routes.contains("fc00:2::/64  encap seg6 mode encap segs 1 [ fc00:b2::6 ] dev eth1"),
        "{r1_routes}"
    );
    let r1_v4 = lab.ip("r1", ["-4", "route", "show"]).unwrap();
    assert!(
        r1_v4.contains("10.0.2.0/24  encap seg6 mode encap segs 1 [ fc00:b2::4 ] dev eth1"),
        "{r1_v4}"
    );
    let r2_routes = lab.ip("r2", ["-6", "route", "show"]).unwrap();
    assert!(
        r2_routes.contains("fc00:b2::6  encap seg6local action End.DT6 table main dev eth0"),
        "{r2_routes}"
    );
    assert!(
        r2_routes.contains("fc00:b2::4  encap seg6local action End.DX4 nh4 10.0.2.2 dev eth1"),
        "{r2_routes}"
    );
    let tunsrc = lab.ip("r1", ["sr", "tunsrc", "show"]).unwrap();
    assert!(tunsrc.contains("fc00:12::1"), "{tunsrc}");

    let capture = lab.packet_socket("w", "eth0").unwrap();
    ping(&lab, "h1", "fc00:2::2");
    ping(&lab, "h1", "10.0.2.2");

    // An IPv6 frame whose next header is a routing header (43) and whose
    // outer destination is the SID, from the tunnel source.
    let srv6_to = |sid: [u8; 16]| {
        move |f: &[u8]| {
            f.len() >= 54
                && f[12..14] == [0x86, 0xdd]
                && f[20] == 43
                && f[22..38] == "fc00:12::1".parse::<std::net::Ipv6Addr>().unwrap().octets()
                && f[38..54] == sid
        }
    };
    let sid6 = "fc00:b2::6".parse::<std::net::Ipv6Addr>().unwrap().octets();
    let sid4 = "fc00:b2::4".parse::<std::net::Ipv6Addr>().unwrap().octets();
    let wait = Duration::from_millis(500);
    assert!(
        capture.recv_matching(wait, srv6_to(sid6)).is_some(),
        "no SRv6 frame to fc00:b2::6"
    );
    assert!(
        capture.recv_matching(wait, srv6_to(sid4)).is_some(),
        "no SRv6 frame to fc00:b2::4"
    );
}

#[test]
fn helpers_run_inside_namespaces() {
    if !lab::require_root() {
        eprintln!("skipped");
        return;
    }
    let lab = Topology::new()
        .namespaces(&["h1", "h2"])
        .link(("h1", "eth0"), ("h2", "eth0"))
        .addr("h1", "eth0", "fc00::1/64")
        .addr("h2", "eth0", "fc00::2/64")
        .sysctl("h2", "net.ipv6.conf.eth0.hop_limit", "33")
        .build()
        .expect("build");

    // Sockets made by in_ns keep their namespace after the thread ends.
    let server = lab
        .in_ns("h2", || UdpSocket::bind("[fc00::2]:9000"))
        .unwrap()
        .expect("bind in h2 (the address exists only there)");
    let client = lab
        .in_ns("h1", || UdpSocket::bind("[fc00::1]:0"))
        .unwrap()
        .unwrap();
    assert!(
        UdpSocket::bind("[fc00::2]:0").is_err(),
        "the test thread is in the root namespace"
    );
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    client.send_to(b"hello", "[fc00::2]:9000").unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = server.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    assert_eq!(from.ip().to_string(), "fc00::1");

    // Sysctls were applied in the namespace only.
    let out = lab
        .exec_ok("h2", ["sysctl", "-n", "net.ipv6.conf.eth0.hop_limit"])
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "33");

    // exec_ok reports a failing command with its stderr.
    let err = lab
        .exec_ok("h1", ["ip", "link", "show", "dev", "nosuchdev"])
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("nosuchdev") && msg.contains("does not exist"),
        "{msg}"
    );

    // A spawned server is killed when its guard drops.
    let sleeper = lab.spawn("h1", ["sleep", "60"]).unwrap();
    let pid = sleeper.id();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(sleeper);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());

    // A panic inside in_ns reaches the caller.
    let caught = std::panic::catch_unwind(|| lab.in_ns("h1", || panic!("inside")));
    assert!(caught.is_err());
}

#[test]
fn dad_can_be_left_on_and_waited_for() {
    if !lab::require_root() {
        eprintln!("skipped");
        return;
    }
    let lab = Topology::new()
        .dad(true)
        .namespaces(&["a", "b"])
        .link(("a", "eth0"), ("b", "eth0"))
        .addr("a", "eth0", "fc00::1/64")
        .addr_nodad("b", "eth0", "fc00::2/64")
        .build()
        .expect("build");
    let dad = lab
        .exec_ok("a", ["sysctl", "-n", "net.ipv6.conf.eth0.accept_dad"])
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&dad.stdout).trim(), "1");
    let b_addrs = lab.ip("b", ["-6", "addr", "show", "dev", "eth0"]).unwrap();
    assert!(
        b_addrs.contains("fc00::2/64 scope global nodad"),
        "{b_addrs}"
    );
    lab.wait_for_dad("a").unwrap();
    lab.wait_for_dad("b").unwrap();
    ping(&lab, "a", "fc00::2");
}
