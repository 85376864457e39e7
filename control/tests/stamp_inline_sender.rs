//! The engine's own STAMP Session-Sender (`[[stamp_sender]]`) in the lab.
//!
//! ```text
//!  e1 eth0 ---- eth0 [t: kernel, End fc00:7::e] eth1 ---- w0 [wire: DelayStage] w1 ---- wan0 e2
//!  srv6d: sender                                                                   srv6d (End SID fc00:e2::862
//!  router address fc00:e1::5                                                       reflects) or the kernel
//! ```
//!
//! e1's engine sends test packets along [fc00:7::e, reflector] (IPv6 + SRH
//! built by srv6d, forwarded by the kernel's End at t) and collects the
//! replies, which come back to its router address:
//!
//! 1. e2 is srv6d (inline reflector): no loss, T3 − T2 > 0 (two clock
//!    reads) and Sender TTL 254 (255 less t's End); with 20 ms added on the
//!    direct path only, d_d and the round trip rise by 20 ms, d_r does not.
//!    All namespaces share one clock, so the one-way delays are meaningful.
//! 2. e2 is a kernel host answering with `srv6d stamp reflect` on a UDP
//!    socket: the kernel checks srv6d's SRH (and processes its last
//!    segment) and the UDP checksum before the reflector sees anything.

mod sdwan_common;
mod stamp_lab;

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use lab::{DelayStage, Direction, Lab, Route, Seg6LocalAction, Topology};
use sdwan_common::{RunLock, Srv6d, Stopped};

const SRV6D: &str = env!("CARGO_BIN_EXE_srv6d");
const ADDED: Duration = Duration::from_millis(20);
/// As in stamp_delay.rs: the stage's lateness and scheduling noise;
/// medians are compared.
const TOLERANCE_NS: i64 = 3_000_000;
const COUNT: u64 = 200;
const INTERVAL_MS: u64 = 5;

fn e1_sender(reflector: &str) -> String {
    let session = format!(
        "[[stamp_sender]]\nname = \"to-e2\"\nssid = 9\nsource = \"fc00:e1::5\"\n\
         segments = [\"fc00:7::e\", \"{reflector}\"]\ninterval = \"{INTERVAL_MS}ms\"\n\
         count = {COUNT}\nclocks_synchronized = true\n"
    );
    stamp_lab::e1_config(&session)
}

fn topology() -> Lab {
    Topology::new()
        .prefix("s6sinl")
        .namespaces(&["e1", "t", "wire", "e2"])
        .link(("e1", "eth0"), ("t", "eth0"))
        .link(("t", "eth1"), ("wire", "w0"))
        .link(("wire", "w1"), ("e2", "wan0"))
        .wire("wire")
        .addr("e1", "eth0", "fc00:1::1/64")
        .addr("t", "eth0", "fc00:1::2/64")
        .addr("t", "eth1", "fc00:2::1/64")
        .addr("e2", "wan0", "fc00:2::2/64")
        .forwarding("t")
        .route("e1", Route::to("fc00::/16").via("fc00:1::2"))
        .route("e2", Route::to("fc00::/16").via("fc00:2::1"))
        .route(
            "t",
            Route::seg6local("fc00:7::e", Seg6LocalAction::End, "eth1"),
        )
        .route("t", Route::to("fc00:e2::/48").via("fc00:2::2"))
        .route("t", Route::to("fc00:e1::/48").via("fc00:1::1"))
        .build()
        .expect("build the lab")
}

/// Resolves every neighbour the test needs (through the stage) before
/// srv6d owns the ports.
fn prime(lab: &Lab) {
    for (ns, dst) in [("e1", "fc00:1::2"), ("e2", "fc00:2::1"), ("t", "fc00:2::2")] {
        let ok = (0..5).any(|_| {
            lab.exec(ns, ["ping", "-6", "-c", "1", "-W", "1", dst])
                .map(|o| o.status.success())
                .unwrap_or(false)
        });
        assert!(ok, "{ns} cannot reach {dst}");
    }
}

/// One session's results, from `--stamp-results`.
struct Results {
    json: serde_json::Value,
    /// [seq, t1, t2, t3, t4, sender_ttl]
    records: Vec<[i64; 6]>,
    stopped: Stopped,
}

impl Results {
    fn report(&self, key: &str) -> i64 {
        self.json["report"][key]
            .as_i64()
            .unwrap_or_else(|| panic!("no report.{key} in {}", self.json))
    }
    fn median(&self, f: impl Fn(&[i64; 6]) -> i64) -> i64 {
        let mut v: Vec<i64> = self.records.iter().map(f).collect();
        assert!(!v.is_empty(), "no records");
        v.sort_unstable();
        v[v.len() / 2]
    }
}

/// Runs e1's srv6d until its session has sent everything and the last
/// replies are in, then stops it and reads the results file.
fn run_sender(lab: &Lab, dir: &Path, reflector: &str, tag: &str) -> Results {
    let cfg = dir.join(format!("e1-{tag}.toml"));
    fs::write(&cfg, e1_sender(reflector)).unwrap();
    let results = dir.join(format!("results-{tag}.json"));
    let srv6d = Srv6d::start_with(
        lab,
        "e1",
        Path::new(SRV6D),
        &cfg,
        dir.join(format!("e1-{tag}.log")),
        &[OsStr::new("--stamp-results"), results.as_os_str()],
    )
    .expect("start srv6d on e1");
    std::thread::sleep(Duration::from_millis(COUNT * INTERVAL_MS + 1000));
    let stopped = srv6d.stop().expect("stop srv6d on e1");
    assert!(stopped.clean(), "e1 srv6d:\n{}", stopped.log);
    let text = fs::read_to_string(&results)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", results.display(), stopped.log));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one session, one line: {text}");
    let json: serde_json::Value = serde_json::from_str(lines[0]).expect("valid JSON");
    let records = json["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            let a = r.as_array().expect("a record is an array");
            assert_eq!(a.len(), 6);
            std::array::from_fn(|i| a[i].as_i64().expect("integer"))
        })
        .collect();
    Results {
        json,
        records,
        stopped,
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("srv6d-{tag}-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn engine_sender_measures_an_srv6_path_to_an_inline_reflector() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _lock = RunLock::acquire().expect("run lock");
    let lab = topology();
    let stage = DelayStage::start(&lab, "wire", "w0", "w1", Duration::ZERO, Duration::ZERO)
        .expect("start the delay stage");
    prime(&lab);
    let dir = tmpdir("stampinl");
    let cfg = dir.join("e2.toml");
    fs::write(&cfg, stamp_lab::e2_config("", "")).unwrap();
    let e2 = Srv6d::start(&lab, "e2", Path::new(SRV6D), &cfg, dir.join("e2.log"))
        .expect("start srv6d on e2");

    let base = run_sender(&lab, &dir, "fc00:e2::862", "base");
    stage.set_delay(Direction::AtoB, ADDED);
    let delayed = run_sender(&lab, &dir, "fc00:e2::862", "delayed");
    let e2 = e2.stop().expect("stop srv6d on e2");
    drop(stage);
    assert!(e2.clean(), "e2 srv6d:\n{}", e2.log);
    assert_eq!(
        e2.counter("reflected"),
        2 * COUNT,
        "e2 reflected every test packet: {}",
        e2.counters
    );

    for (what, r) in [("base", &base), ("delayed", &delayed)] {
        let c = &r.json["counters"];
        assert_eq!(c["sent"].as_u64(), Some(COUNT), "{what}: {}", r.json);
        assert_eq!(c["replies"].as_u64(), Some(COUNT), "{what}: {}", r.json);
        assert_eq!(r.json["finished"].as_bool(), Some(true), "{what}");
        assert_eq!(
            (
                r.report("sent"),
                r.report("received"),
                r.report("lost"),
                r.report("duplicates")
            ),
            (COUNT as i64, COUNT as i64, 0, 0),
            "{what}: {}",
            r.json
        );
        assert_eq!(r.records.len(), COUNT as usize, "{what}: every record kept");
        // The engine's counters agree with the session's.
        assert_eq!(r.stopped.counter("sent"), COUNT, "{}", r.stopped.counters);
        assert_eq!(
            r.stopped.counter("replies"),
            COUNT,
            "{}",
            r.stopped.counters
        );
        let mut seqs: Vec<i64> = r.records.iter().map(|x| x[0]).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..COUNT as i64).collect::<Vec<_>>(), "{what}");
        for x in &r.records {
            let [seq, t1, t2, t3, t4, ttl] = *x;
            assert!(t3 > t2, "{what}: T3 - T2 = {} ns for seq {seq}", t3 - t2);
            assert!(t4 > t1, "{what}: T4 - T1 = {} ns for seq {seq}", t4 - t1);
            assert_eq!(ttl, 254, "{what}: 255 less t's End, seq {seq}");
        }
        // Residence is small on the median (a preempted worker can hold one
        // packet for a millisecond or more: real residence time).
        let residence = r.median(|x| x[3] - x[2]);
        assert!(
            residence < 1_000_000,
            "{what}: median T3 - T2 {residence} ns"
        );
    }
    let fwd = |r: &Results| r.median(|x| x[2] - x[1]);
    let bwd = |r: &Results| r.median(|x| x[4] - x[3]);
    let rtt = |r: &Results| r.median(|x| (x[4] - x[1]) - (x[3] - x[2]));
    let added = ADDED.as_nanos() as i64;
    let report = format!(
        "median ns: d_d {} -> {}, d_r {} -> {}, rtt {} -> {}",
        fwd(&base),
        fwd(&delayed),
        bwd(&base),
        bwd(&delayed),
        rtt(&base),
        rtt(&delayed),
    );
    eprintln!("{report}");
    assert!(
        (fwd(&delayed) - fwd(&base) - added).abs() < TOLERANCE_NS,
        "d_d must rise by 20 ms: {report}"
    );
    assert!(
        (bwd(&delayed) - bwd(&base)).abs() < TOLERANCE_NS,
        "d_r must not move: {report}"
    );
    assert!(
        (rtt(&delayed) - rtt(&base) - added).abs() < TOLERANCE_NS,
        "the round trip must rise by 20 ms: {report}"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn engine_sender_packets_are_accepted_by_the_kernel_and_a_socket_reflector() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _lock = RunLock::acquire().expect("run lock");
    let lab = topology();
    let _stage = DelayStage::start(&lab, "wire", "w0", "w1", Duration::ZERO, Duration::ZERO)
        .expect("start the delay stage");
    prime(&lab);
    // e2 receives an SRH at its own address (the final segment): the
    // kernel processes it only with seg6 enabled. Its replies leave with a
    // partial checksum on veth that nobody completes: compute it in software
    // (srv6d verifies UDP checksums).
    for cmd in [
        vec!["sysctl", "-qw", "net.ipv6.conf.all.seg6_enabled=1"],
        vec!["sysctl", "-qw", "net.ipv6.conf.wan0.seg6_enabled=1"],
        vec!["ethtool", "-K", "wan0", "tx", "off"],
    ] {
        lab.exec_ok("e2", cmd).expect("configure e2");
    }
    let reflector = lab
        .command(
            "e2",
            [
                SRV6D,
                "stamp",
                "reflect",
                "--bind",
                "fc00:2::2",
                "--ssid",
                "9",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the socket reflector");
    std::thread::sleep(Duration::from_millis(300));
    let dir = tmpdir("stampinlk");
    let r = run_sender(&lab, &dir, "fc00:2::2", "kernel");
    // SAFETY: kill(2) on our own, not yet reaped, child.
    unsafe { libc::kill(reflector.id() as i32, libc::SIGINT) };
    let out = reflector.wait_with_output().expect("reflector output");
    let counters = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "socket reflector: {counters}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        counters.starts_with(&format!("received={COUNT} reflected={COUNT} ")),
        "the kernel delivered every test packet to the socket: {counters}"
    );
    assert_eq!(
        (r.report("sent"), r.report("received"), r.report("lost")),
        (COUNT as i64, COUNT as i64, 0),
        "{}",
        r.json
    );
    for x in &r.records {
        // The kernel's final segment processing does not count as a hop
        // (only t's End does): 254 as in the srv6d case.
        assert_eq!(x[5], 254, "seq {}", x[0]);
        assert!(x[3] >= x[2], "T3 >= T2 for seq {}", x[0]);
    }
    let _ = fs::remove_dir_all(&dir);
}
