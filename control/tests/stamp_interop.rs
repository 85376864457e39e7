//! srv6d's inline STAMP reflector against an independent implementation:
//! Scapy's `scapy.contrib.stamp` builds Session-Sender test packets in a
//! host namespace and dissects srv6d's replies (`stamp_scapy.py` checks
//! them field by field). Over SRv6 (an SRH through two End SIDs of the
//! edge, the last one reflecting) and over plain IPv6 (to a router address).
//!
//! ```text
//!  h1 eth0 ------------------------------ wan0 [edge: srv6d]
//!  fc00:1::1/64                           fc00:1::2/64
//!                                         End SIDs fc00:e::e, fc00:e::862
//!                                         router address fc00:e::1
//! ```

mod sdwan_common;

use std::fs;
use std::time::Duration;

use lab::{Route, Topology};
use sdwan_common::{RunLock, Srv6d};

const SRV6D: &str = env!("CARGO_BIN_EXE_srv6d");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stamp_scapy.py");
const PEERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stamp_peers.py");

const CONFIG: &str = r#"
[[port]]
name = "wan0"
role = "wan"

[router]
source = "fc00:e::1"
addresses = ["fc00:e::1"]

[[sid]]
sid = "fc00:e::e"
behavior = "end"

[[sid]]
sid = "fc00:e::862"
behavior = "end"

[[route]]
vrf = "underlay"
prefix = "fc00:1::/64"
nexthop = "on-link"
port = "wan0"
"#;

#[test]
fn scapy_test_packets_get_correct_replies_over_srv6_and_plain_ipv6() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _lock = RunLock::acquire().expect("run lock");
    let lab = Topology::new()
        .prefix("s6stamp")
        .namespaces(&["h1", "edge"])
        .link(("h1", "eth0"), ("edge", "wan0"))
        .addr("h1", "eth0", "fc00:1::1/64")
        .addr("edge", "wan0", "fc00:1::2/64")
        .route("h1", Route::to("fc00:e::/48").via("fc00:1::2"))
        .build()
        .expect("build the lab");
    let dir = std::env::temp_dir().join(format!("srv6d-stamp-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("edge.toml");
    fs::write(&cfg, CONFIG).unwrap();
    // Neighbours both ways before the engine owns the port's traffic.
    let pinged = lab
        .exec("h1", ["ping", "-6", "-c", "1", "-W", "2", "fc00:1::2"])
        .unwrap();
    assert!(pinged.status.success(), "h1 cannot reach the edge");

    // SRV6D_BIN: run a release build instead (its T3 - T2 is the figure
    // worth looking at; the test's debug build is much slower).
    let bin = std::env::var("SRV6D_BIN").unwrap_or_else(|_| SRV6D.to_string());
    let srv6d = Srv6d::start(
        &lab,
        "edge",
        std::path::Path::new(&bin),
        &cfg,
        dir.join("srv6d.log"),
    )
    .expect("start srv6d");
    let out = lab
        .exec(
            "h1",
            [
                "python3",
                SCRIPT,
                "eth0",
                "fc00:1::1",
                "fc00:e::e",
                "fc00:e::862",
                "fc00:e::1",
                "10",
            ],
        )
        .expect("run the Scapy script");
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("{report}{}", String::from_utf8_lossy(&out.stderr));
    // A TWAMP-light sender (RFC 8762 §4.6): a 14- and a 30-octet test
    // packet to the router address, each answered with the 44-octet base
    // packet (they were discarded as stamp_truncated). Sent from a kernel
    // socket: checksum offload off, so the engine sees a whole checksum.
    lab.exec_ok("h1", ["ethtool", "-K", "eth0", "tx", "off"])
        .expect("turn off h1's tx checksum offload");
    let light = lab
        .exec(
            "h1",
            ["python3", PEERS, "twamp-light-reflect", "fc00:e::1", "862"],
        )
        .expect("run the TWAMP-light sender");
    let light_report = String::from_utf8_lossy(&light.stdout).to_string();
    eprintln!("{light_report}{}", String::from_utf8_lossy(&light.stderr));
    std::thread::sleep(Duration::from_millis(100));
    let stopped = srv6d.stop().expect("stop srv6d");
    assert!(
        out.status.success() && report.contains("ALL OK"),
        "Scapy's checks failed:\n{report}\nsrv6d log:\n{}",
        stopped.log
    );
    assert!(
        light.status.success() && light_report.contains("ALL OK"),
        "TWAMP-light checks failed:\n{light_report}\nsrv6d log:\n{}",
        stopped.log
    );
    // 10 over SRv6 through End then the reflecting End (End counts once
    // per packet), 10 plain, 2 TWAMP-light; all 22 delivered locally and
    // reflected.
    assert_eq!(stopped.counter("reflected"), 22, "{}", stopped.counters);
    assert_eq!(stopped.counter("end"), 10, "{}", stopped.counters);
    assert_eq!(stopped.counter("local"), 22, "{}", stopped.counters);
    assert!(stopped.clean(), "{}", stopped.log);
    let _ = fs::remove_dir_all(&dir);
}
