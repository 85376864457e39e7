//! A host on a LAN port probing its edge with STAMP
//! (docs/decisions/0010-stamp-lan-probe.md). The engine's inline reflector
//! does not answer on LAN ports. A test packet to the edge's LAN interface
//! address is handed to the kernel by the XDP program (it is one of the
//! port's own addresses), and `srv6d stamp reflect` on the edge answers it,
//! over IPv6 and IPv4, while srv6d routes the port.
//!
//! ```text
//!  h eth0 ----------------- lan0 [edge: srv6d, VRF blue on lan0] wan0 ----- eth0 w
//!  fc00:a::2/64, 10.0.1.2/24     fc00:a::1/64, 10.0.1.1/24      fc00:1::2/64   fc00:1::1/64
//! ```

mod sdwan_common;

use std::fs;
use std::time::Duration;

use lab::{NsChild, Topology};
use sdwan_common::{RunLock, Srv6d};

const SRV6D: &str = env!("CARGO_BIN_EXE_srv6d");

const CONFIG: &str = r#"
[[port]]
name = "wan0"
role = "wan"

[[port]]
name = "lan0"
role = "lan"
vrf = "blue"

[[vrf]]
name = "blue"
id = 10

[router]
source = "fc00:e::1"
addresses = ["fc00:e::1"]
"#;

fn json_u64(json: &str, key: &str) -> u64 {
    let at = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("no {key} in {json}"));
    let rest = &json[at + key.len() + 3..];
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap();
    rest[..end].parse().unwrap()
}

#[test]
fn a_lan_host_probes_its_edge_through_the_kernel_socket_reflector() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _lock = RunLock::acquire().expect("run lock");
    let lab = Topology::new()
        .prefix("s6stlan")
        .namespaces(&["h", "edge", "w"])
        .link(("h", "eth0"), ("edge", "lan0"))
        .link(("edge", "wan0"), ("w", "eth0"))
        .addr("h", "eth0", "fc00:a::2/64")
        .addr("h", "eth0", "10.0.1.2/24")
        .addr("edge", "lan0", "fc00:a::1/64")
        .addr("edge", "lan0", "10.0.1.1/24")
        .addr("edge", "wan0", "fc00:1::2/64")
        .addr("w", "eth0", "fc00:1::1/64")
        .build()
        .expect("build the lab");
    for dst in ["fc00:a::1", "10.0.1.1"] {
        let ok = (0..10).any(|_| {
            lab.exec("h", ["ping", "-c", "1", "-W", "1", dst])
                .map(|o| o.status.success())
                .unwrap_or(false)
        });
        assert!(ok, "h cannot reach {dst}");
    }
    // The test packets leave a kernel socket: whole checksums on the wire.
    lab.exec_ok("h", ["ethtool", "-K", "eth0", "tx", "off"])
        .expect("turn off h's tx checksum offload");
    let dir = std::env::temp_dir().join(format!("srv6d-stamp-lan-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("edge.toml");
    fs::write(&cfg, CONFIG).unwrap();
    let srv6d = Srv6d::start(
        &lab,
        "edge",
        std::path::Path::new(SRV6D),
        &cfg,
        dir.join("srv6d.log"),
    )
    .expect("start srv6d");

    let mut cmd = lab.command("edge", [SRV6D, "stamp", "reflect"]);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped());
    let mut reflector = NsChild::spawn("srv6d stamp reflect", cmd).expect("spawn");
    std::thread::sleep(Duration::from_millis(500));
    let mut results = Vec::new();
    for dst in ["fc00:a::1", "10.0.1.1"] {
        let out = lab
            .exec(
                "h",
                [
                    SRV6D,
                    "stamp",
                    "send",
                    "--reflector",
                    dst,
                    "--count",
                    "10",
                    "--interval",
                    "10ms",
                    "--wait",
                    "500ms",
                    "--json",
                ],
            )
            .expect("run srv6d stamp send");
        let json = String::from_utf8_lossy(&out.stdout).trim().to_string();
        eprintln!("{dst}: {json}\n{}", String::from_utf8_lossy(&out.stderr));
        results.push((dst, out.status.success(), json));
    }
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(reflector.id() as libc::pid_t, libc::SIGINT) };
    let child = reflector.child_mut();
    child.wait().expect("wait for the reflector");
    let mut counters = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut counters).unwrap();
    let stopped = srv6d.stop().expect("stop srv6d");
    eprintln!("reflector: {counters}\nsrv6d: {}", stopped.counters);
    for (dst, ok, json) in &results {
        assert!(ok, "stamp send to {dst} failed");
        assert_eq!(json_u64(json, "received"), 10, "{dst}: {json}");
    }
    assert!(
        counters.contains("received=20 reflected=20"),
        "reflector counters: {counters}"
    );
    // The engine did not take them: the kernel's reflector answered.
    assert_eq!(stopped.counter("reflected"), 0, "{}", stopped.counters);
    assert!(stopped.clean(), "{}", stopped.log);
    let _ = fs::remove_dir_all(&dir);
}
