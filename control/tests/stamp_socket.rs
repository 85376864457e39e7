//! `control::stamp_socket` and `srv6d stamp` end to end, in namespaces: the
//! socket sender against the socket reflector over plain IPv6 and over an
//! SRv6 path through a kernel End SID; the CLI once, checking its JSON; and
//! the sender's packets dissected by Scapy (`stamp_dissect.py`), an
//! implementation independent of ours.
//!
//! ```text
//!  s eth0 ----------------- eth0 [t: forwarding, End fc00:7::e] eth1 ----------------- eth0 r
//!  fc00:1::1/64            fc00:1::2/64                 fc00:2::1/64              fc00:2::2/64
//!  (sender)                                                                        (reflector)
//! ```
//!
//! r must accept packets carrying an SRH at their final destination:
//! `net.ipv6.conf.{all,eth0}.seg6_enabled=1` (Linux drops them otherwise).

use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use control::stamp_socket::{
    run_reflector, run_sender, ReflectorCounters, ReflectorOptions, SenderOptions, SenderReport,
};
use lab::{Lab, Route, Seg6LocalAction, Topology};

const SRV6D: &str = env!("CARGO_BIN_EXE_srv6d");
const DISSECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stamp_dissect.py");
const REFLECTOR: &str = "fc00:2::2";
const SID: &str = "fc00:7::e";

fn topology(prefix: &str) -> Lab {
    let mut t = Topology::new()
        .prefix(prefix)
        .namespaces(&["s", "t", "r"])
        .link(("s", "eth0"), ("t", "eth0"))
        .link(("t", "eth1"), ("r", "eth0"))
        .addr("s", "eth0", "fc00:1::1/64")
        .addr("t", "eth0", "fc00:1::2/64")
        .addr("t", "eth1", "fc00:2::1/64")
        .addr("r", "eth0", "fc00:2::2/64")
        .forwarding("t");
    for (ns, ifname) in [("s", "eth0"), ("t", "eth0"), ("t", "eth1"), ("r", "eth0")] {
        t = t.sysctl(ns, "net.ipv6.conf.all.seg6_enabled", "1").sysctl(
            ns,
            &format!("net.ipv6.conf.{ifname}.seg6_enabled"),
            "1",
        );
    }
    let lab = t
        .route("s", Route::to("fc00::/16").via("fc00:1::2"))
        .route("r", Route::to("fc00::/16").via("fc00:2::1"))
        .route("t", Route::seg6local(SID, Seg6LocalAction::End, "eth1"))
        .build()
        .expect("build the lab");
    for (ns, dst) in [("s", "fc00:1::2"), ("r", "fc00:2::1"), ("s", REFLECTOR)] {
        let ok = (0..5).any(|_| {
            lab.exec(ns, ["ping", "-6", "-c", "1", "-W", "1", dst])
                .map(|o| o.status.success())
                .unwrap_or(false)
        });
        assert!(ok, "{ns} cannot reach {dst}");
    }
    lab
}

fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// Runs the library reflector in r while `sender` runs; returns the
/// sender's result and the reflector's counters.
fn with_reflector<R: Send>(lab: &Lab, port: u16, sender: impl FnOnce() -> R + Send) -> (R, String) {
    let stop = AtomicBool::new(false);
    let counters = ReflectorCounters::new();
    let opts = ReflectorOptions {
        port,
        ..ReflectorOptions::default()
    };
    std::thread::scope(|scope| {
        let reflector = scope.spawn(|| {
            lab.in_ns("r", || run_reflector(&opts, &stop, &counters))
                .expect("enter r")
        });
        // Bound long before the first test packet arrives.
        std::thread::sleep(Duration::from_millis(300));
        let out = sender();
        stop.store(true, Ordering::Relaxed);
        reflector
            .join()
            .expect("reflector thread")
            .expect("run the reflector");
        (out, counters.line())
    })
}

fn send(lab: &Lab, opts: &SenderOptions) -> SenderReport {
    let stop = AtomicBool::new(false);
    lab.in_ns("s", || run_sender(opts, &stop))
        .expect("enter s")
        .expect("run the sender")
}

fn check_session(what: &str, report: &SenderReport, counters: &str) {
    let s = &report.summary;
    assert_eq!(
        (s.sent, s.received, s.lost, s.duplicates),
        (200, 200, 0, 0),
        "{what}: {s:?}\nreflector: {counters}\nerrors: {:?}",
        report.reply_errors
    );
    assert!(report.reply_errors.is_empty(), "{:?}", report.reply_errors);
    assert_eq!(report.records.len(), 200);
    for r in &report.records {
        assert!(
            r.reflector_residence() >= 0,
            "{what}: T3 - T2 = {} ns, seq {}",
            r.reflector_residence(),
            r.seq
        );
        assert!(r.round_trip() > 0, "{what}: RTT {} ns", r.round_trip());
        // 64, minus t's forwarding (plain route or End): one hop.
        assert_eq!(r.sender_ttl, 63, "{what}: seq {}", r.seq);
    }
    let rt = &s.round_trip;
    eprintln!(
        "{what}: round trip min {:?} p50 {:?} p99 {:?} max {:?} ns; T3-T2 min {:?} p50 {:?} p99 {:?} max {:?} ns",
        rt.min_ns,
        rt.p50_ns,
        rt.p99_ns,
        rt.max_ns,
        s.reflector_residence.min_ns,
        s.reflector_residence.p50_ns,
        s.reflector_residence.p99_ns,
        s.reflector_residence.max_ns
    );
}

#[test]
fn socket_sender_and_reflector_over_plain_ipv6_and_an_srv6_end_sid() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = topology("s6sockab");
    let plain = SenderOptions {
        reflector: addr(REFLECTOR),
        source: Some(addr("fc00:1::1")),
        ssid: 21,
        interval: Duration::from_millis(5),
        count: Some(200),
        wait: Duration::from_millis(500),
        ..SenderOptions::default()
    };
    let srv6 = SenderOptions {
        segments: vec![addr(SID)],
        ssid: 22,
        length: 100,
        ..plain.clone()
    };
    let ((a, b), counters) = with_reflector(&lab, 862, || (send(&lab, &plain), send(&lab, &srv6)));
    check_session("plain IPv6", &a, &counters);
    check_session("SRv6 via End", &b, &counters);
    assert!(
        counters.starts_with("received=400 reflected=400 send_failed=0 discarded: none"),
        "{counters}"
    );
}

/// A number after `"key":` at the top level of srv6d's one-line JSON.
fn json_u64(json: &str, key: &str) -> u64 {
    let at = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("no {key} in {json}"));
    let rest = &json[at + key.len() + 3..];
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap();
    rest[..end].parse().unwrap()
}

#[test]
fn the_cli_sends_through_an_end_sid_and_prints_consistent_json() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = topology("s6sockcli");
    let mut cmd = lab.command("r", [SRV6D, "stamp", "reflect", "--port", "8620"]);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped());
    let mut reflector = lab::NsChild::spawn("srv6d stamp reflect", cmd).expect("spawn");
    std::thread::sleep(Duration::from_millis(500));
    let out = lab
        .exec(
            "s",
            [
                SRV6D,
                "stamp",
                "send",
                "--reflector",
                REFLECTOR,
                "--segments",
                SID,
                "--port",
                "8620",
                "--ssid",
                "9",
                "--interval",
                "2ms",
                "--count",
                "100",
                "--wait",
                "500ms",
                "--json",
            ],
        )
        .expect("run srv6d stamp send");
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(reflector.id() as libc::pid_t, libc::SIGINT) };
    let child = reflector.child_mut();
    let status = child.wait().expect("wait for the reflector");
    let mut counters = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut counters).unwrap();
    let json = String::from_utf8_lossy(&out.stdout).trim().to_string();
    eprintln!(
        "{json}\n{}reflector: {counters}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "stamp send failed");
    assert!(status.success(), "stamp reflect exited {status}");
    let (sent, received, lost) = (
        json_u64(&json, "sent"),
        json_u64(&json, "received"),
        json_u64(&json, "lost"),
    );
    assert_eq!(sent, 100, "{json}");
    assert_eq!(received + lost, sent, "{json}");
    assert_eq!(received, 100, "{json}");
    assert!(json.starts_with('{') && json.ends_with('}'), "{json}");
    assert!(json.contains("\"one_way_valid\":false"), "{json}");
    assert!(
        counters.contains("received=100 reflected=100"),
        "reflector counters: {counters}"
    );

    // Bad arguments: exit status 2, the message names the value.
    let bad = lab
        .exec(
            "s",
            [
                SRV6D,
                "stamp",
                "send",
                "--reflector",
                REFLECTOR,
                "--interval",
                "5parsecs",
            ],
        )
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("5parsecs"));
}

/// The UDP payloads to port 862 in the frames captured, each with the
/// Segment Routing Header it came with (if any).
fn stamp_payloads(frames: &[Vec<u8>]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    for f in frames {
        if f.len() < 54 || f[12..14] != [0x86, 0xdd] {
            continue;
        }
        let mut nh = f[20];
        let mut off = 54;
        let mut srh = None;
        if nh == 43 {
            let len = (usize::from(f[off + 1]) + 1) * 8;
            srh = Some(f[off..off + len].to_vec());
            nh = f[off];
            off += len;
        }
        if nh != 17 || f.len() < off + 8 || f[off + 2..off + 4] != 862u16.to_be_bytes() {
            continue;
        }
        out.push((f[off + 8..].to_vec(), srh));
    }
    out
}

#[test]
fn scapy_dissects_the_sender_packets() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = topology("s6sockpy");
    let dir = std::env::temp_dir().join(format!("srv6d-stampsock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (length, segments) in [(44, vec![]), (100, vec![addr(SID)])] {
        let mut capture = lab.packet_socket("r", "eth0").expect("packet socket");
        capture.include_outgoing(false);
        capture.drain();
        let opts = SenderOptions {
            reflector: addr(REFLECTOR),
            segments,
            ssid: 4242,
            interval: Duration::from_millis(2),
            count: Some(10),
            length,
            wait: Duration::from_millis(300),
            ..SenderOptions::default()
        };
        let (report, _) = with_reflector(&lab, 862, || send(&lab, &opts));
        assert_eq!(report.summary.received, 10, "{:?}", report.summary);
        let mut frames = Vec::new();
        while let Some(f) = capture.recv_timeout(Duration::from_millis(100)) {
            frames.push(f);
        }
        let captured = stamp_payloads(&frames);
        assert_eq!(captured.len(), 10, "captured {} frames", frames.len());
        // IPV6_RTHDR attached the SRH: Segments Left 0 at the reflector
        // (t's End did its job), Last Entry 1, [reflector, SID].
        for (_, srh) in &captured {
            match (&srh, opts.segments.is_empty()) {
                (None, true) => {}
                (Some(h), false) => {
                    assert_eq!(&h[..8], &[17, 4, 4, 0, 1, 0, 0, 0], "SRH {h:02x?}");
                    assert_eq!(&h[8..24], &addr(REFLECTOR).octets());
                    assert_eq!(&h[24..40], &addr(SID).octets());
                }
                _ => panic!("SRH {srh:02x?} with segments {:?}", opts.segments),
            }
        }
        let payloads: Vec<Vec<u8>> = captured.into_iter().map(|(p, _)| p).collect();
        let file = dir.join(format!("payloads-{length}.hex"));
        let hex: Vec<String> = payloads
            .iter()
            .map(|p| p.iter().map(|b| format!("{b:02x}")).collect())
            .collect();
        std::fs::write(&file, hex.join("\n")).unwrap();
        let out = std::process::Command::new("python3")
            .args([DISSECT, file.to_str().unwrap(), "4242", &length.to_string()])
            .output()
            .expect("run python3");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("ALL OK"),
            "Scapy's checks failed (length {length}):\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
