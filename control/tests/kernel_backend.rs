//! `control::kernel`: the kernel dataplane backend, checked against the
//! kernel itself. The namespace tests need root (see `lab::require_root`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use control::config::{load_str, LoadedConfig};
use control::kernel::{KernelDataplane, KernelError, RTPROT_SRV6D};
use lab::{KernelFeature, Lab, Topology, VethEnd};

/// How long a test may run inside the lab's VM (software emulation).
const VM_TIMEOUT: Duration = Duration::from_secs(420);

fn load(text: &str) -> LoadedConfig {
    match load_str(text, "test.toml") {
        Ok(c) => c,
        Err(e) => panic!("config does not load: {e}"),
    }
}

// ---------------------------------------------------------------------------
// check(): no root needed

#[test]
fn check_refuses_what_the_kernel_cannot_do() {
    let config = load(
        r#"
        [[port]]
        name = "wan0"
        role = "wan"
        [[port]]
        name = "lan0"
        role = "lan"
        vrf = "blue"
        [[vrf]]
        name = "blue"
        id = 100
        [router]
        source = "fc00:0:1::1"
        addresses = ["fc00:0:1::1"]
        [[sid]]
        sid = "fc00:0:1::100"
        behavior = "end.dt4"
        vrf = "blue"
        [[sid]]
        sid = "fc00:0:1::101"
        behavior = "end.dt6"
        vrf = "blue"
        [[sid]]
        sid = "fc00:0:1::102"
        behavior = "end.dt46"
        vrf = "blue"
        [[policy]]
        name = "ok"
        mode = "encap"
        segments = ["fc00:0:2::101"]
        [[policy]]
        name = "foreign"
        mode = "encap"
        segments = ["fc00:0:2::101"]
        source = "fc00:0:1::77"
        [[route]]
        vrf = "underlay"
        prefix = "::/0"
        nexthop = "fe80::1"
        port = "wan0"
        [[stamp_session]]
        ssid = 5
        [[stamp_sender]]
        name = "probe"
        ssid = 7
        source = "fc00:0:1::1"
        segments = ["fc00:0:2::1"]
        "#,
    );
    let problems = KernelDataplane::check(&config);
    let all = problems.join("\n");
    assert_eq!(problems.len(), 5, "{all}");
    let find = |needle: &str| {
        problems
            .iter()
            .find(|p| p.contains(needle))
            .unwrap_or_else(|| panic!("no problem mentions {needle:?}:\n{all}"))
    };
    assert!(find("sid[0] fc00:0:1::100 (End.DT4)").contains("VRF device"));
    assert!(find("sid[2] fc00:0:1::102 (End.DT46)").contains("VRF device"));
    assert!(find("policy[1] foreign").contains("one seg6 tunnel source"));
    assert!(find("stamp_sender[0] probe").contains("runs no STAMP sessions"));
    assert!(find("stamp_session ssid 5").contains("runs no STAMP sessions"));
    assert!(!all.contains("(End.DT6)"), "End.DT6 is supported:\n{all}");

    // The kernel's own tables cannot be VRFs; differing flow labels cannot
    // be one sysctl.
    let config = load(
        r#"
        [[port]]
        name = "wan0"
        role = "wan"
        [[vrf]]
        name = "clash"
        id = 254
        [router]
        source = "fc00:0:1::1"
        [[policy]]
        name = "a"
        mode = "encap"
        segments = ["fc00:0:2::101"]
        [[policy]]
        name = "b"
        mode = "encap"
        segments = ["fc00:0:2::101"]
        flow_label = "hash"
        "#,
    );
    let problems = KernelDataplane::check(&config);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].starts_with("vrf clash (id 254)"),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("policy[1] b: flow_label"),
        "{problems:#?}"
    );

    // start() refuses before touching anything.
    match KernelDataplane::start(&config) {
        Err(KernelError::Refused { problems, .. }) => assert_eq!(problems.len(), 2),
        other => panic!("expected Refused, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// State: start, apply, a failing apply, stop

const PROTO: &str = "166";

fn state_config(extra: &str, blue2_policy: &str, first_sid: &str, flow: &str) -> String {
    format!(
        r#"
        [[port]]
        name = "wan0"
        role = "wan"
        [[port]]
        name = "lan-blue"
        role = "lan"
        vrf = "blue"
        [[vrf]]
        name = "blue"
        id = 100
        [router]
        source = "fc00:0:1::1"
        addresses = ["fc00:0:1::1"]
        {first_sid}
        [[sid]]
        sid = "fc00:0:1::e1"
        behavior = "end.x"
        port = "wan0"
        nexthop = "fe80::2"
        [[sid]]
        sid = "fc00:0:1::101"
        behavior = "end.dt6"
        vrf = "blue"
        [[sid]]
        sid = "fc00:0:1:f::/64"
        behavior = "end"
        [[policy]]
        name = "blue-v6"
        mode = "encap"
        segments = ["fc00:0:2::101"]
        flow_label = "{flow}"
        [[policy]]
        name = "via-e"
        mode = "encap.red"
        segments = ["fc00:0:2::e", "fc00:0:2::101"]
        flow_label = "{flow}"
        ipv4_hop_limit = 32
        [[route]]
        vrf = "underlay"
        prefix = "::/0"
        nexthop = "fc00:99::2"
        port = "wan0"
        [[route]]
        vrf = "blue"
        prefix = "2001:db8:1::/64"
        nexthop = "on-link"
        port = "lan-blue"
        [[route]]
        vrf = "blue"
        prefix = "2001:db8:2::/64"
        policy = "{blue2_policy}"
        [[route]]
        vrf = "blue"
        prefix = "10.2.0.0/16"
        policy = "via-e"
        [[route]]
        vrf = "blue"
        prefix = "10.1.0.0/16"
        nexthop = "10.1.0.254"
        port = "lan-blue"
        [[route]]
        vrf = "blue"
        prefix = "2001:db8:3::/64"
        blackhole = true
        {extra}
        "#
    )
}

const SID_E: &str = r#"
        [[sid]]
        sid = "fc00:0:1::e"
        behavior = "end"
"#;
const SID_E2: &str = r#"
        [[sid]]
        sid = "fc00:0:1::e2"
        behavior = "end"
"#;

fn lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// Everything srv6d may touch in `ns`, as `ip` and sysctl print it.
fn snapshot(lab: &Lab, ns: &str) -> Vec<String> {
    let mut out = Vec::new();
    for args in [
        vec!["-6", "route", "show", "table", "all", "proto", PROTO],
        vec!["-4", "route", "show", "table", "all", "proto", PROTO],
        vec!["-6", "rule", "show"],
        vec!["-4", "rule", "show"],
        vec!["-6", "addr", "show", "dev", "lo"],
        vec!["sr", "tunsrc", "show"],
    ] {
        let text = lab.ip(ns, &args).unwrap();
        out.push(format!("== ip {}", args.join(" ")));
        out.extend(
            lines(&text)
                .into_iter()
                .filter(|l| !l.contains("valid_lft")),
        );
    }
    for key in [
        "net.ipv6.conf.all.forwarding",
        "net.ipv4.ip_forward",
        "net.ipv6.conf.all.seg6_enabled",
        "net.ipv6.conf.wan0.seg6_enabled",
        "net.ipv6.seg6_flowlabel",
    ] {
        out.push(sysctl(lab, ns, key));
    }
    out
}

fn sysctl(lab: &Lab, ns: &str, key: &str) -> String {
    let o = lab.exec_ok(ns, ["sysctl", key]).unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn routes(lab: &Lab, ns: &str) -> Vec<String> {
    let mut v = lines(
        &lab.ip(ns, ["-6", "route", "show", "table", "all", "proto", PROTO])
            .unwrap(),
    );
    v.extend(lines(
        &lab.ip(ns, ["-4", "route", "show", "table", "all", "proto", PROTO])
            .unwrap(),
    ));
    v.sort();
    v
}

/// Whether the kernel of `ns` reports back the `oif` of an End.X SID
/// (tried on a scratch SID, removed again).
fn kernel_keeps_end_x_oif(lab: &Lab, ns: &str) -> bool {
    let sid = "fc00:5eed::e1";
    lab.ip(
        ns,
        [
            "-6",
            "route",
            "add",
            sid,
            "encap",
            "seg6local",
            "action",
            "End.X",
            "nh6",
            "fe80::2",
            "oif",
            "wan0",
            "dev",
            "wan0",
        ],
    )
    .expect("an End.X route");
    let shown = lab.ip(ns, ["-6", "route", "show", sid]).unwrap();
    lab.ip(ns, ["-6", "route", "del", sid]).unwrap();
    shown.contains("oif wan0")
}

fn assert_same(actual: &[String], expected: &[&str]) {
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(
        actual,
        expected.as_slice(),
        "\nactual:\n{}\nexpected:\n{}",
        actual.join("\n"),
        expected.join("\n")
    );
}

#[test]
fn start_apply_rollback_stop() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // The backend programs the kernel it runs on: where the host has no
    // seg6, the whole test runs inside the lab's Linux VM.
    if !lab::vm::run_here_or_in_vm(
        &[KernelFeature::Seg6],
        "start_apply_rollback_stop",
        &[],
        VM_TIMEOUT,
    ) {
        return;
    }
    let lab = Topology::new()
        .prefix("kbstate")
        .namespaces(&["e", "w", "h"])
        .link(("e", "wan0"), ("w", "eth0"))
        .link(("e", "lan-blue"), ("h", "eth0"))
        .addr("e", "wan0", "fc00:99::1/64")
        .addr("w", "eth0", "fc00:99::2/64")
        .addr("e", "lan-blue", "2001:db8:1::1/64")
        .addr("e", "lan-blue", "10.1.0.1/24")
        .build()
        .unwrap();
    // A tunnel source to restore, and a leftover of an "earlier srv6d".
    lab.ip("e", ["sr", "tunsrc", "set", "fc00:ffff::1"])
        .unwrap();
    lab.ip(
        "e",
        [
            "-6",
            "route",
            "add",
            "2001:db8:dead::/64",
            "dev",
            "wan0",
            "proto",
            PROTO,
        ],
    )
    .unwrap();
    let before_start = snapshot(&lab, "e");
    assert!(before_start
        .iter()
        .any(|l| l.contains("2001:db8:dead::/64")));

    // Linux keeps End.X's `oif` only since it took SEG6_LOCAL_OIF as an
    // End.X attribute (after 6.12: the lab VM's Debian 6.12 accepts and
    // drops it). What srv6d sends is the same; what the kernel shows back
    // depends on the kernel, so ask it.
    let end_x = if kernel_keeps_end_x_oif(&lab, "e") {
        "fc00:0:1::e1 encap seg6local action End.X nh6 fe80::2 oif wan0 dev wan0 metric 1024 pref medium"
    } else {
        eprintln!("this kernel drops End.X's oif (Linux before End.X took SEG6_LOCAL_OIF)");
        "fc00:0:1::e1 encap seg6local action End.X nh6 fe80::2 dev wan0 metric 1024 pref medium"
    };
    let first = load(&state_config("", "blue-v6", SID_E, "copy"));
    let mut dp = lab
        .in_ns("e", || KernelDataplane::start(&first))
        .unwrap()
        .unwrap();

    let expected_first = [
        "default via fc00:99::2 dev wan0 metric 1024 pref medium",
        "fc00:0:1::e encap seg6local action End dev wan0 metric 1024 pref medium",
        end_x,
        "fc00:0:1::101 encap seg6local action End.DT6 table 100 dev wan0 metric 1024 pref medium",
        "fc00:0:1:f::/64 encap seg6local action End dev wan0 metric 1024 pref medium",
        "2001:db8:1::/64 dev lan-blue table 100 metric 1024 pref medium",
        "2001:db8:2::/64 encap seg6 mode encap segs 1 [ fc00:0:2::101 ] dev wan0 table 100 metric 1024 pref medium",
        "blackhole 2001:db8:3::/64 dev lo table 100 metric 1024 pref medium",
        "10.1.0.0/16 via 10.1.0.254 dev lan-blue table 100",
        "10.2.0.0/16 encap seg6 mode encap.red segs 2 [ fc00:0:2::e fc00:0:2::101 ] dev wan0 table 100 scope link hoplimit 32",
    ];
    assert_same(&routes(&lab, "e"), &expected_first);

    let rules6 = lines(&lab.ip("e", ["-6", "rule", "show"]).unwrap());
    for want in [
        "1000: from all to fc00:0:2::101 iif lan-blue lookup main proto 166",
        "1000: from all to fc00:0:2::e iif lan-blue lookup main proto 166",
        "1001: from all iif lan-blue lookup 100 proto 166",
        "1002: from all iif lan-blue blackhole proto 166",
    ] {
        assert!(
            rules6.iter().any(|l| l == want),
            "no `{want}` in {rules6:#?}"
        );
    }
    let rules4 = lines(&lab.ip("e", ["-4", "rule", "show"]).unwrap());
    assert_eq!(
        rules4.iter().filter(|l| l.contains("proto 166")).count(),
        2,
        "{rules4:#?}"
    );
    let tunsrc = lab.ip("e", ["sr", "tunsrc", "show"]).unwrap();
    assert!(tunsrc.contains("fc00:0:1::1"), "{tunsrc}");
    let lo = lab.ip("e", ["-6", "addr", "show", "dev", "lo"]).unwrap();
    assert!(lo.contains("fc00:0:1::1/128"), "{lo}");
    assert_eq!(
        sysctl(&lab, "e", "net.ipv6.conf.all.forwarding"),
        "net.ipv6.conf.all.forwarding = 1"
    );
    assert_eq!(
        sysctl(&lab, "e", "net.ipv6.conf.wan0.seg6_enabled"),
        "net.ipv6.conf.wan0.seg6_enabled = 1"
    );

    // Applying the same configuration changes nothing.
    let again = load(&state_config("", "blue-v6", SID_E, "copy"));
    let s = dp.apply(&again).unwrap();
    assert!(s.is_empty(), "{s:#?}");

    // One route changed, one SID removed, one added: exactly that changes.
    let second = load(&state_config("", "via-e", SID_E2, "copy"));
    // (The VRF no longer uses a policy starting at fc00:0:2::101, so its
    // `to fc00:0:2::101` rule goes too.)
    let s = dp.apply(&second).unwrap();
    assert_eq!((s.added, s.replaced, s.removed), (1, 1, 2), "{s:#?}");
    assert!(
        s.changes
            .iter()
            .any(|c| c.contains("remove rule -6 pref 1000 iif lan-blue to fc00:0:2::101/128")),
        "{s:#?}"
    );
    let mut expected_second: Vec<&str> = expected_first
        .iter()
        .copied()
        .filter(|l| !l.starts_with("fc00:0:1::e ") && !l.starts_with("2001:db8:2::/64"))
        .collect();
    expected_second
        .push("fc00:0:1::e2 encap seg6local action End dev wan0 metric 1024 pref medium");
    expected_second.push("2001:db8:2::/64 encap seg6 mode encap.red segs 2 [ fc00:0:2::e fc00:0:2::101 ] dev wan0 table 100 metric 1024 pref medium");
    assert_same(&routes(&lab, "e"), &expected_second);
    let good = snapshot(&lab, "e");

    // A configuration the kernel rejects midway: a sysctl, a replaced route
    // and an added SID come before the bad next hop (reached only through
    // another gateway). Error names the item; nothing changed.
    let bad = load(&state_config(
        r#"
        [[route]]
        vrf = "underlay"
        prefix = "2001:db8:77::/64"
        nexthop = "2001:db8:99::9"
        port = "wan0"
        [[sid]]
        sid = "fc00:0:1::e3"
        behavior = "end"
        "#,
        "blue-v6",
        "",
        "hash",
    ));
    let err = dp.apply(&bad).unwrap_err();
    let msg = err.to_string();
    eprintln!("expected failure: {msg}");
    assert!(matches!(err, KernelError::Netlink { .. }), "{err:?}");
    assert!(
        msg.starts_with("route[6] 2001:db8:77::/64 (vrf underlay): add route 2001:db8:77::/64 table 254: the kernel said: "),
        "{msg}"
    );
    assert_eq!(snapshot(&lab, "e"), good);

    // The dataplane still works after the failure.
    let s = dp.apply(&first).unwrap();
    assert_eq!((s.added, s.replaced, s.removed), (2, 1, 1), "{s:#?}");
    assert_same(&routes(&lab, "e"), &expected_first);

    // stop: nothing of srv6d left, everything restored (the leftover was
    // flushed at start, so "before" is without it).
    lab.in_ns("e", || dp.stop()).unwrap().unwrap();
    let after = snapshot(&lab, "e");
    let expected: Vec<String> = before_start
        .iter()
        .filter(|l| !l.contains("2001:db8:dead::/64"))
        .cloned()
        .collect();
    assert_eq!(after, expected);
    assert!(routes(&lab, "e").is_empty());
    let tunsrc = lab.ip("e", ["sr", "tunsrc", "show"]).unwrap();
    assert!(tunsrc.contains("fc00:ffff::1"), "{tunsrc}");
    assert_eq!(
        sysctl(&lab, "e", "net.ipv6.conf.all.forwarding"),
        "net.ipv6.conf.all.forwarding = 0"
    );
}

// ---------------------------------------------------------------------------
// Traffic: two kernel edges, an IPv6 VPN over End.DT6, and the underlay

fn edge_config(n: u8, other: u8) -> String {
    format!(
        r#"
        [[port]]
        name = "wan0"
        role = "wan"
        [[port]]
        name = "lan-blue"
        role = "lan"
        vrf = "blue"
        [[vrf]]
        name = "blue"
        id = 100
        [router]
        source = "fc00:0:{n}::1"
        addresses = ["fc00:0:{n}::1"]
        [[sid]]
        sid = "fc00:0:{n}::101"
        behavior = "end.dt6"
        vrf = "blue"
        [[policy]]
        name = "blue-v6"
        mode = "encap"
        segments = ["fc00:0:{other}::101"]
        [[route]]
        vrf = "underlay"
        prefix = "::/0"
        nexthop = "fc00:99:{n}::2"
        port = "wan0"
        [[route]]
        vrf = "blue"
        prefix = "2001:db8:{n}::/64"
        nexthop = "on-link"
        port = "lan-blue"
        [[route]]
        vrf = "blue"
        prefix = "2001:db8:{other}::/64"
        policy = "blue-v6"
        "#
    )
}

#[test]
fn traffic_between_two_kernel_edges() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // The backend programs the kernel it runs on: where the host has no
    // seg6, the whole test runs inside the lab's Linux VM.
    if !lab::vm::run_here_or_in_vm(
        &[KernelFeature::Seg6],
        "traffic_between_two_kernel_edges",
        &[],
        VM_TIMEOUT,
    ) {
        return;
    }
    // WAN links have room for the encapsulation (40 + 24 octets).
    let lab = Topology::new()
        .prefix("kbtraffic")
        .namespaces(&["h1", "e1", "w", "e2", "h2"])
        .link(("h1", "eth0"), ("e1", "lan-blue"))
        .veth(
            VethEnd::new("e1", "wan0").mtu(1600),
            VethEnd::new("w", "eth1").mtu(1600),
        )
        .veth(
            VethEnd::new("w", "eth2").mtu(1600),
            VethEnd::new("e2", "wan0").mtu(1600),
        )
        .link(("e2", "lan-blue"), ("h2", "eth0"))
        .addr("h1", "eth0", "2001:db8:1::10/64")
        .addr("e1", "lan-blue", "2001:db8:1::1/64")
        .addr("h2", "eth0", "2001:db8:2::10/64")
        .addr("e2", "lan-blue", "2001:db8:2::1/64")
        .addr("e1", "wan0", "fc00:99:1::1/64")
        .addr("w", "eth1", "fc00:99:1::2/64")
        .addr("w", "eth2", "fc00:99:2::2/64")
        .addr("e2", "wan0", "fc00:99:2::1/64")
        .forwarding("w")
        .route("h1", lab::Route::to("::/0").via("2001:db8:1::1"))
        .route("h2", lab::Route::to("::/0").via("2001:db8:2::1"))
        .route("w", lab::Route::to("fc00:0:1::/48").via("fc00:99:1::1"))
        .route("w", lab::Route::to("fc00:0:2::/48").via("fc00:99:2::1"))
        .build()
        .unwrap();
    for h in ["h1", "h2"] {
        lab.exec_ok(h, ["ethtool", "-K", "eth0", "tx", "off"])
            .unwrap();
    }
    let c1 = load(&edge_config(1, 2));
    let c2 = load(&edge_config(2, 1));
    let e1 = lab
        .in_ns("e1", || KernelDataplane::start(&c1))
        .unwrap()
        .unwrap();
    let e2 = lab
        .in_ns("e2", || KernelDataplane::start(&c2))
        .unwrap()
        .unwrap();

    // Underlay: edge1 reaches edge2's router address (on its lo).
    let ping = lab
        .exec(
            "e1",
            [
                "ping",
                "-6",
                "-c",
                "3",
                "-i",
                "0.2",
                "-W",
                "2",
                "fc00:0:2::1",
            ],
        )
        .unwrap();
    assert!(
        ping.status.success(),
        "underlay ping failed: {}",
        String::from_utf8_lossy(&ping.stdout)
    );

    // VPN: h1 -> h2 through H.Encaps at edge1 and End.DT6 at edge2.
    let ping = lab
        .exec(
            "h1",
            [
                "ping",
                "-6",
                "-c",
                "3",
                "-i",
                "0.2",
                "-W",
                "2",
                "2001:db8:2::10",
            ],
        )
        .unwrap();
    assert!(
        ping.status.success(),
        "VPN ping failed: {}\n{}",
        String::from_utf8_lossy(&ping.stdout),
        lab.ip("e1", ["-6", "route", "show", "table", "100"])
            .unwrap()
    );

    // The WAN router sees only SRv6 between the locators, never the hosts.
    let w_routes = lab.ip("w", ["-6", "route", "show"]).unwrap();
    assert!(!w_routes.contains("2001:db8"), "{w_routes}");

    // A TCP transfer of 4 MiB, h1 -> h2.
    const BYTES: usize = 4 << 20;
    let listener: TcpListener = lab
        .in_ns("h2", || TcpListener::bind("[2001:db8:2::10]:5001"))
        .unwrap()
        .unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = vec![0u8; 65536];
        let mut total = 0usize;
        let mut sum = 0u64;
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            sum += buf[..n].iter().map(|&b| u64::from(b)).sum::<u64>();
            total += n;
        }
        (total, sum)
    });
    let sent_sum = lab
        .in_ns("h1", || {
            let mut s = TcpStream::connect_timeout(
                &"[2001:db8:2::10]:5001".parse().unwrap(),
                Duration::from_secs(5),
            )
            .unwrap();
            s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
            let data: Vec<u8> = (0..BYTES).map(|i| (i % 251) as u8).collect();
            s.write_all(&data).unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            data.iter().map(|&b| u64::from(b)).sum::<u64>()
        })
        .unwrap();
    let (received, sum) = server.join().unwrap();
    assert_eq!(received, BYTES);
    assert_eq!(sum, sent_sum);

    // The kernel did the work: edge2's End.DT6 route exists and is ours.
    let e2_routes = lines(
        &lab.ip(
            "e2",
            ["-6", "route", "show", "proto", &RTPROT_SRV6D.to_string()],
        )
        .unwrap(),
    )
    .join("\n");
    assert!(
        e2_routes.contains("fc00:0:2::101 encap seg6local action End.DT6 table 100"),
        "{e2_routes}"
    );

    e1.stop().unwrap();
    e2.stop().unwrap();
    // After stop, the VPN is gone.
    let ping = lab
        .exec("h1", ["ping", "-6", "-c", "1", "-W", "1", "2001:db8:2::10"])
        .unwrap();
    assert!(!ping.status.success());
}
