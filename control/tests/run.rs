//! `srv6d run` end to end, in namespaces: a host behind an srv6d edge
//! reaches a host behind a kernel SRv6 router, over H.Encaps (2 SIDs) one
//! way and the kernel's seg6 encap into srv6d's End.DT6 the other way; the
//! edge's own address still answers through the kernel; SIGHUP reloads;
//! SIGTERM shuts down cleanly with every UMEM frame accounted for.
//!
//! ```text
//!  h1 eth0 ---- lan0 [edge: srv6d] wan0 ---- eth0 [r: kernel seg6] eth1 ---- eth0 h2
//!  2001:db8:1::1     2001:db8:1::2  fc00:12::1    fc00:12::2   2001:db8:2::2   2001:db8:2::1
//! ```

use std::fs;
use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use lab::{Lab, Route, Seg6LocalAction, Seg6Mode, Topology, MAIN_TABLE};

const SRV6D: &str = env!("CARGO_BIN_EXE_srv6d");

fn config(policy_mode: &str, segments: &str) -> String {
    format!(
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
id = 10

[router]
source = "fc00:a::1"

[[sid]]
sid = "fc00:a::d6"
behavior = "end.dt6"
vrf = "blue"

[[policy]]
name = "to-site2"
mode = "{policy_mode}"
segments = [{segments}]

[[route]]
vrf = "blue"
prefix = "2001:db8:2::/64"
policy = "to-site2"

[[route]]
vrf = "blue"
prefix = "2001:db8:1::/64"
nexthop = "on-link"
port = "lan0"

[[route]]
vrf = "underlay"
prefix = "fc00:b::/48"
nexthop = "fc00:12::2"
port = "wan0"
"#
    )
}

fn topology() -> Lab {
    Topology::new()
        .prefix("s6run")
        .namespaces(&["h1", "edge", "r", "h2"])
        .link(("h1", "eth0"), ("edge", "lan0"))
        .link(("edge", "wan0"), ("r", "eth0"))
        .link(("r", "eth1"), ("h2", "eth0"))
        .addr("h1", "eth0", "2001:db8:1::1/64")
        .addr("edge", "lan0", "2001:db8:1::2/64")
        .addr("edge", "wan0", "fc00:12::1/64")
        .addr("r", "eth0", "fc00:12::2/64")
        .addr("r", "eth1", "2001:db8:2::2/64")
        .addr("h2", "eth0", "2001:db8:2::1/64")
        .forwarding("r")
        .route("h1", Route::to("::/0").via("2001:db8:1::2"))
        .route("h2", Route::to("::/0").via("2001:db8:2::2"))
        // r: End then End.DT6 (table main) for srv6d's packets ...
        .route(
            "r",
            Route::seg6local("fc00:b::e", Seg6LocalAction::End, "eth1"),
        )
        .route(
            "r",
            Route::seg6local(
                "fc00:b::d6",
                Seg6LocalAction::EndDT6 { table: MAIN_TABLE },
                "eth1",
            ),
        )
        // ... and the way back: kernel H.Encaps into srv6d's End.DT6.
        .tunsrc("r", "fc00:12::2")
        .route(
            "r",
            Route::seg6("2001:db8:1::/64", Seg6Mode::Encap, &["fc00:a::d6"], "eth0"),
        )
        .route("r", Route::to("fc00:a::/48").via("fc00:12::1"))
        .build()
        .expect("build the lab")
}

struct Srv6d {
    child: Child,
    log: std::path::PathBuf,
}

impl Srv6d {
    fn start(lab: &Lab, config: &std::path::Path, log: std::path::PathBuf) -> Srv6d {
        let mut cmd = lab.command(
            "edge",
            [
                SRV6D,
                "run",
                "--config",
                config.to_str().unwrap(),
                "--stats-interval",
                "1",
                "--idle",
                "sleep",
            ],
        );
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("spawn srv6d");
        Srv6d { child, log }
    }

    fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = fs::File::open(&self.log) {
            f.read_to_string(&mut s).unwrap();
        }
        s
    }

    fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// SIGTERM, then wait for the exit status.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        self.signal(libc::SIGTERM);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.log());
            }
            if start.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                panic!("srv6d did not stop on SIGTERM; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Srv6d {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ping(lab: &Lab, ns: &str, dst: &str, count: &str) -> bool {
    lab.exec(ns, ["ping", "-6", "-c", count, "-i", "0.2", "-W", "1", dst])
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn vpn_through_srv6d_and_kernel_seg6_with_reload_and_clean_shutdown() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = topology();
    let dir = std::env::temp_dir().join(format!("srv6d-run-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("edge.toml");
    fs::write(&cfg, config("encap", r#""fc00:b::e", "fc00:b::d6""#)).unwrap();

    // Let the edge's kernel learn its neighbours (h1 on lan0, r on wan0):
    // this is also case f, ARP/NDP and ping to the edge's own address.
    assert!(ping(&lab, "h1", "2001:db8:1::2", "1"));
    assert!(ping(&lab, "edge", "fc00:12::2", "1"));

    let srv6d = Srv6d::start(&lab, &cfg, dir.join("srv6d.log"));
    assert!(
        srv6d.wait_log("srv6d running", Duration::from_secs(10)),
        "srv6d did not start; log:\n{}",
        srv6d.log()
    );

    // h1 -> srv6d H.Encaps (2 SIDs) -> r End, End.DT6 -> h2, and back via
    // r's seg6 encap -> srv6d End.DT6 -> h1. The first echo may be lost
    // while a neighbour is resolved.
    assert!(
        ping(&lab, "h1", "2001:db8:2::1", "5"),
        "ping across the VPN failed; srv6d log:\n{}",
        srv6d.log()
    );
    // The edge's own address still answers through the kernel: ping, and a
    // TCP connection to a listener of the edge's kernel (case f).
    assert!(
        ping(&lab, "h1", "2001:db8:1::2", "2"),
        "kernel address lost"
    );
    let listener = lab
        .in_ns("edge", || {
            std::net::TcpListener::bind("[2001:db8:1::2]:2222")
        })
        .unwrap()
        .expect("listen on the edge's own address");
    let sent = lab
        .in_ns("h1", || -> std::io::Result<()> {
            use std::io::Write;
            let mut c = std::net::TcpStream::connect_timeout(
                &"[2001:db8:1::2]:2222".parse().unwrap(),
                Duration::from_secs(3),
            )?;
            c.write_all(b"hello edge")
        })
        .unwrap();
    sent.expect("TCP to the edge's own address");
    let (mut conn, _) = listener.accept().unwrap();
    let mut got = [0u8; 10];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello edge");

    // Reload to H.Encaps.Red with the same SIDs: traffic keeps flowing.
    fs::write(&cfg, config("encap.red", r#""fc00:b::e", "fc00:b::d6""#)).unwrap();
    srv6d.signal(libc::SIGHUP);
    assert!(
        srv6d.wait_log("configuration reloaded", Duration::from_secs(5)),
        "reload not logged:\n{}",
        srv6d.log()
    );
    assert!(ping(&lab, "h1", "2001:db8:2::1", "3"), "ping after reload");

    // A broken file is refused and the running configuration stays.
    fs::write(&cfg, "[[port]]\nname = 1\n").unwrap();
    srv6d.signal(libc::SIGHUP);
    assert!(
        srv6d.wait_log("reload refused", Duration::from_secs(5)),
        "bad reload not refused:\n{}",
        srv6d.log()
    );
    assert!(
        ping(&lab, "h1", "2001:db8:2::1", "3"),
        "ping after refused reload"
    );

    let (status, log) = srv6d.stop();
    assert!(status.success(), "srv6d exit {status:?}; log:\n{log}");
    // The VPN traffic went through the engine, not around it.
    let line = log
        .lines()
        .find(|l| l.contains("final counters"))
        .unwrap_or_else(|| panic!("no final counters in:\n{log}"));
    let count = |key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(count("rx=") >= 10 && count("tx=") >= 10, "{line}");
    // Per behaviour: H.Encaps before the reload, .Red after it, End.DT6
    // for the replies.
    assert!(
        count("h_encaps=") >= 5 && count("h_encaps_red=") >= 3 && count("end_dt6=") >= 8,
        "{line}"
    );
    assert!(
        log.contains("total=") && log.contains("UMEM frames at shutdown"),
        "{log}"
    );
    eprintln!("{log}");
    // After shutdown no XDP program is left on the edge's ports.
    let links = lab.ip("edge", ["link", "show"]).unwrap();
    assert!(!links.contains("xdp"), "XDP left attached:\n{links}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn bad_config_and_missing_interface_are_clear_errors() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = std::env::temp_dir().join(format!("srv6d-run-bad-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    fs::write(
        &bad,
        "[[port]]\nname = \"wan0\"\nrole = \"wan\"\ncolour = 3\n",
    )
    .unwrap();
    let out = std::process::Command::new(SRV6D)
        .args(["run", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("port[0].colour"), "{stderr}");

    // A valid file whose interfaces do not exist (in a fresh namespace).
    let lab = Topology::new().prefix("s6runbad").ns("x").build().unwrap();
    let good = dir.join("good.toml");
    fs::write(&good, config("encap", r#""fc00:b::e""#)).unwrap();
    let out = lab
        .exec("x", [SRV6D, "run", "--config", good.to_str().unwrap()])
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("wan0") && stderr.contains("no such interface"),
        "{stderr}"
    );
    let _ = fs::remove_dir_all(&dir);
}

/// Case c: the kernel encapsulates (H.Encaps with [srv6d End, kernel
/// End.DT6]); srv6d is a transit End node between two WAN ports; the kernel
/// decapsulates and delivers.
///
/// ```text
///  h1 ---- k1 [kernel encap] ---- wan0 [edge: srv6d End] wan1 ---- r [kernel End.DT6] ---- h2
/// ```
#[test]
fn kernel_encap_through_srv6d_end_to_kernel_end_dt6() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Topology::new()
        .prefix("s6transit")
        .namespaces(&["h1", "k1", "edge", "r", "h2"])
        .link(("h1", "eth0"), ("k1", "eth0"))
        .link(("k1", "eth1"), ("edge", "wan0"))
        .link(("edge", "wan1"), ("r", "eth0"))
        .link(("r", "eth1"), ("h2", "eth0"))
        .addr("h1", "eth0", "2001:db8:1::1/64")
        .addr("k1", "eth0", "2001:db8:1::2/64")
        .addr("k1", "eth1", "fc00:11::1/64")
        .addr("edge", "wan0", "fc00:11::2/64")
        .addr("edge", "wan1", "fc00:12::1/64")
        .addr("r", "eth0", "fc00:12::2/64")
        .addr("r", "eth1", "2001:db8:2::2/64")
        .addr("h2", "eth0", "2001:db8:2::1/64")
        .forwarding("k1")
        .forwarding("r")
        .forwarding("edge")
        .route("h1", Route::to("::/0").via("2001:db8:1::2"))
        .route("h2", Route::to("::/0").via("2001:db8:2::2"))
        .tunsrc("k1", "fc00:11::1")
        .route(
            "k1",
            Route::seg6(
                "2001:db8:2::/64",
                Seg6Mode::Encap,
                &["fc00:a::e", "fc00:b::d6"],
                "eth1",
            ),
        )
        .route("k1", Route::to("fc00:a::/48").via("fc00:11::2"))
        .route(
            "r",
            Route::seg6local(
                "fc00:b::d6",
                Seg6LocalAction::EndDT6 { table: MAIN_TABLE },
                "eth1",
            ),
        )
        // The replies come back as plain IPv6 through the edge's kernel.
        .route("edge", Route::to("2001:db8:1::/64").via("fc00:11::1"))
        .route("r", Route::to("2001:db8:1::/64").via("fc00:12::1"))
        .build()
        .expect("build the lab");
    let dir = std::env::temp_dir().join(format!("srv6d-transit-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("edge.toml");
    fs::write(
        &cfg,
        r#"
[[port]]
name = "wan0"
role = "wan"

[[port]]
name = "wan1"
role = "wan"

[router]
source = "fc00:a::1"

[[sid]]
sid = "fc00:a::e"
behavior = "end"

[[route]]
vrf = "underlay"
prefix = "fc00:b::/48"
nexthop = "fc00:12::2"
port = "wan1"
"#,
    )
    .unwrap();
    assert!(ping(&lab, "edge", "fc00:12::2", "1"));
    let srv6d = Srv6d::start(&lab, &cfg, dir.join("srv6d.log"));
    assert!(
        srv6d.wait_log("srv6d running", Duration::from_secs(10)),
        "srv6d did not start; log:\n{}",
        srv6d.log()
    );
    assert!(
        ping(&lab, "h1", "2001:db8:2::1", "5"),
        "ping through srv6d's End failed; log:\n{}",
        srv6d.log()
    );
    let (status, log) = srv6d.stop();
    assert!(status.success(), "srv6d exit {status:?}; log:\n{log}");
    let line = log
        .lines()
        .find(|l| l.contains("final counters"))
        .unwrap_or_else(|| panic!("no final counters in:\n{log}"));
    assert!(!line.contains("rx=0 "), "the End SID saw no packet: {line}");
    let ends = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("end="))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(ends >= 5, "End ran on too few packets: {line}");
    let _ = fs::remove_dir_all(&dir);
}

/// The XDP programs are attached through bpf_links owned by the srv6d
/// process: killed with SIGKILL (no clean-up code runs), it still leaves
/// no program on its interfaces, and the kernel handles them as before.
#[test]
fn sigkill_leaves_no_xdp_program_behind() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = topology();
    let dir = std::env::temp_dir().join(format!("srv6d-kill-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("edge.toml");
    fs::write(&cfg, config("encap", r#""fc00:b::e", "fc00:b::d6""#)).unwrap();
    let mut srv6d = Srv6d::start(&lab, &cfg, dir.join("srv6d.log"));
    assert!(
        srv6d.wait_log("srv6d running", Duration::from_secs(10)),
        "srv6d did not start; log:\n{}",
        srv6d.log()
    );
    let links = lab.ip("edge", ["link", "show"]).unwrap();
    assert!(
        links.matches("prog/xdp").count() >= 2,
        "both ports carry srv6d's XDP program while it runs:\n{links}"
    );
    srv6d.signal(libc::SIGKILL);
    let status = srv6d.child.wait().unwrap();
    assert!(!status.success(), "{status:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut links = lab.ip("edge", ["link", "show"]).unwrap();
    while links.contains("xdp") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        links = lab.ip("edge", ["link", "show"]).unwrap();
    }
    assert!(
        !links.contains("xdp"),
        "XDP left attached after SIGKILL:\n{links}"
    );
    assert!(
        ping(&lab, "h1", "2001:db8:1::2", "2"),
        "the edge's own address no longer answers after srv6d died"
    );
    let _ = fs::remove_dir_all(&dir);
}

/// Whether process `pid` ignores signal `sig` (`/proc/PID/status`).
fn signal_ignored(pid: u32, sig: i32) -> bool {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let mask = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    mask("SigIgn:") & (1 << (sig - 1)) != 0
}

/// A SIGHUP right after start (while srv6d still reads its files) used to
/// end the process (exit 129, the signal's default action; issue 15 saw it
/// 5 ms after start). It is now taken as a reload once the router is up:
/// srv6d starts, runs, and stops cleanly on SIGTERM.
#[test]
fn a_sighup_during_start_up_does_not_kill_srv6d() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Topology::new()
        .prefix("s6hup")
        .namespaces(&["h1", "edge"])
        .link(("h1", "eth0"), ("edge", "wan0"))
        .addr("h1", "eth0", "fc00:12::2/64")
        .addr("edge", "wan0", "fc00:12::1/64")
        .build()
        .expect("build the lab");
    let dir = std::env::temp_dir().join(format!("srv6d-hup-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("edge.toml");
    fs::write(
        &cfg,
        "[[port]]\nname = \"wan0\"\nrole = \"wan\"\n\n[router]\nsource = \"fc00:a::1\"\n",
    )
    .unwrap();
    for delay_ms in [1u64, 5, 30] {
        let mut srv6d = Srv6d::start(&lab, &cfg, dir.join(format!("srv6d-{delay_ms}.log")));
        // Before main() (the loader, a debug build's relocations) no
        // program can take a signal: wait until Rust's runtime has started
        // (it ignores SIGPIPE just before main()), then send SIGHUP 1, 5 or
        // 30 ms later: while srv6d parses its arguments and reads its files.
        let pid = srv6d.child.id();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !signal_ignored(pid, libc::SIGPIPE) {
            assert!(Instant::now() < deadline, "srv6d never reached main()");
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        srv6d.signal(libc::SIGHUP);
        let up = srv6d.wait_log("srv6d running", Duration::from_secs(10));
        let early_exit = srv6d.child.try_wait().unwrap();
        assert!(
            up && early_exit.is_none(),
            "SIGHUP {delay_ms} ms after start: exited {early_exit:?}; log:\n{}",
            srv6d.log()
        );
        let (status, log) = srv6d.stop();
        assert!(status.success(), "{status:?}; log:\n{log}");
    }
    let _ = fs::remove_dir_all(&dir);
}
