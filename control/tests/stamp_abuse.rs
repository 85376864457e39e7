//! The inline STAMP reflector as a weapon (issue 14), tried on the wire
//! with packets Scapy builds from the RFCs (`stamp_abuse.py`):
//! spoofed sources no sender has, a return path that would multiply the
//! octets a spoofed source gets back, and one source flooding both
//! workers of a two-queue port.
//!
//! ```text
//!  h1 eth0 (2 queues) ------------------- wan0 (2 queues) [edge: srv6d, 2 workers]
//!  fc00:1::1/64                           fc00:1::2/64
//!                                         router address fc00:e::1, End SID fc00:e::862
//!                                         default route back to h1
//! ```

mod sdwan_common;

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use lab::{Route, Topology, VethEnd};
use sdwan_common::{RunLock, Srv6d};

const SRV6D: &str = env!("CARGO_BIN_EXE_srv6d");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stamp_abuse.py");
const KEY: &str = "000102030405060708090a0b0c0d0e0f";
/// `stamp_rate_limit`: replies per second per source, also the burst.
const LIMIT: u64 = 10;

fn config() -> String {
    let path: Vec<String> = (1..=15).map(|i| format!("\"fc00:99::{i:x}\"")).collect();
    let path = path.join(", ");
    format!(
        r#"
[[port]]
name = "wan0"
role = "wan"

[router]
source = "fc00:e::1"
addresses = ["fc00:e::1"]
stamp_rate_limit = {LIMIT}

[[sid]]
sid = "fc00:e::862"
behavior = "end"

[[stamp_session]]
ssid = 7
return_segments = [{path}]

# Authenticated, replies to a configured address: may be larger.
[[stamp_session]]
ssid = 9
key = "{KEY}"
return_segments = [{path}]
return_destination = "fc00:1::1"

# Authenticated, replies to whatever source the packet claims: a replayed
# copy could aim a larger reply at a victim, so no larger reply.
[[stamp_session]]
ssid = 11
key = "{KEY}"
return_segments = [{path}]

[[route]]
vrf = "underlay"
prefix = "fc00:1::/64"
nexthop = "on-link"
port = "wan0"

# Anything else back towards h1: a reply srv6d should not send would reach
# h1's capture instead of vanishing for want of a route.
[[route]]
vrf = "underlay"
prefix = "::/0"
nexthop = "fc00:1::1"
port = "wan0"
"#
    )
}

/// Per-queue XDP receive counts of a veth (`ethtool -S`).
fn xdp_rx_per_queue(lab: &lab::Lab, ns: &str, ifname: &str) -> Vec<(String, u64)> {
    let out = lab.exec(ns, ["ethtool", "-S", ifname]).expect("ethtool -S");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(':')?;
            (k.starts_with("rx_queue_") && k.ends_with("_xdp_packets"))
                .then(|| (k.to_string(), v.trim().parse().unwrap_or(0)))
        })
        .collect()
}

#[test]
fn the_reflector_refuses_to_be_a_weapon() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _lock = RunLock::acquire().expect("run lock");
    let lab = Topology::new()
        .prefix("s6abuse")
        .namespaces(&["h1", "edge"])
        .veth(
            VethEnd::new("h1", "eth0").queues(2),
            VethEnd::new("edge", "wan0").queues(2),
        )
        .addr("h1", "eth0", "fc00:1::1/64")
        .addr("edge", "wan0", "fc00:1::2/64")
        .route("h1", Route::to("fc00:e::/48").via("fc00:1::2"))
        .build()
        .expect("build the lab");
    let dir = std::env::temp_dir().join(format!("srv6d-stamp-abuse-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("edge.toml");
    fs::write(&cfg, config()).unwrap();
    // The kernel's UDP sockets of the flood leave the checksum to the
    // device; AF_XDP sees the frame before anyone fills it in.
    lab.exec_ok("h1", ["ethtool", "-K", "eth0", "tx", "off"])
        .expect("ethtool tx off");
    let pinged = lab
        .exec("h1", ["ping", "-6", "-c", "1", "-W", "2", "fc00:1::2"])
        .unwrap();
    assert!(pinged.status.success(), "h1 cannot reach the edge");
    let mac = lab
        .exec("edge", ["cat", "/sys/class/net/wan0/address"])
        .unwrap();
    let mac = String::from_utf8_lossy(&mac.stdout).trim().to_string();
    let before = xdp_rx_per_queue(&lab, "edge", "wan0");

    let srv6d = Srv6d::start_with(
        &lab,
        "edge",
        Path::new(SRV6D),
        &cfg,
        dir.join("srv6d.log"),
        &[OsStr::new("--workers"), OsStr::new("2")],
    )
    .expect("start srv6d");
    let out = lab
        .exec(
            "h1",
            [
                "python3",
                SCRIPT,
                "eth0",
                &mac,
                "fc00:1::1",
                "fc00:e::1",
                "fc00:e::862",
                KEY,
            ],
        )
        .expect("run the Scapy script");
    let after = xdp_rx_per_queue(&lab, "edge", "wan0");
    let stopped = srv6d.stop().expect("stop srv6d");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let context = format!(
        "script: {stdout}{}\ncounters: {}\nxdp rx per queue before {before:?} after {after:?}",
        String::from_utf8_lossy(&out.stderr),
        stopped.counters
    );
    assert!(out.status.success(), "{context}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON report");
    eprintln!("{context}");

    // Sources no sender has: not one reply; the honest sender's is answered.
    assert_eq!(
        report["sources_replies_to"],
        serde_json::json!(["fc00:1::1"]),
        "{context}"
    );
    assert_eq!(report["sources_control_reply"], true, "{context}");
    assert_eq!(stopped.counter("stamp_bad_source"), 6, "{context}");

    // Amplification: the plain unauthenticated request whose reply would
    // carry a 15-segment SRH gets nothing; the same session arriving with a
    // longer SRH is answered with a reply no larger; the authenticated
    // session replying to a configured address may get more than it sent,
    // the authenticated one replying to the packet's source may not.
    assert_eq!(
        report["amplify_plain_reply"],
        serde_json::Value::Null,
        "{context}"
    );
    let srh_req = report["amplify_srh_request"].as_u64().unwrap();
    let srh_reply = report["amplify_srh_reply"]
        .as_u64()
        .unwrap_or_else(|| panic!("no reply over the SRH: {context}"));
    assert!(srh_reply <= srh_req, "{srh_reply} > {srh_req}: {context}");
    let auth_req = report["amplify_auth_request"].as_u64().unwrap();
    let auth_reply = report["amplify_auth_reply"]
        .as_u64()
        .unwrap_or_else(|| panic!("no reply to the authenticated session: {context}"));
    assert!(auth_reply > auth_req, "{context}");
    assert_eq!(
        report["amplify_auth_to_source_reply"],
        serde_json::Value::Null,
        "{context}"
    );
    assert_eq!(stopped.counter("stamp_would_amplify"), 2, "{context}");

    // One budget per source across both workers: both queues carried the
    // flood, and the replies are one burst plus what the rate earned while
    // it was sent (with 0.3 s for srv6d to read it), not a burst per worker.
    let grew = |q: &str| {
        let b = before.iter().find(|(k, _)| k == q).map_or(0, |(_, v)| *v);
        let a = after.iter().find(|(k, _)| k == q).map_or(0, |(_, v)| *v);
        a.saturating_sub(b)
    };
    assert!(
        grew("rx_queue_0_xdp_packets") >= 20 && grew("rx_queue_1_xdp_packets") >= 20,
        "the flood did not reach both workers: {context}"
    );
    let replies = report["rate_replies"].as_u64().unwrap();
    let seconds = report["rate_send_seconds"].as_f64().unwrap();
    let bound = LIMIT + (LIMIT as f64 * (seconds + 0.3)).ceil() as u64;
    assert!(replies >= LIMIT, "{replies} replies < the burst: {context}");
    assert!(
        replies <= bound,
        "{replies} replies > {bound} (one burst of {LIMIT} and {LIMIT}/s for {seconds:.3} s): {context}"
    );
    assert!(stopped.counter("stamp_rate_limited") > 0, "{context}");
    assert!(stopped.clean(), "{}", stopped.log);
    let _ = fs::remove_dir_all(&dir);
}
