//! `srv6d stamp reflect` and `srv6d stamp send` against peers written from
//! the RFC text in Python (`stamp_peers.py`: struct layouts from RFC 5357,
//! RFC 8762 and RFC 8972, Python's own hmac + hashlib, Scapy's STAMP and
//! SRH dissectors), in two namespaces:
//!
//! ```text
//!  s eth0 ------------------------------ eth0 r
//!  fc00:1::1/64, fc00:1::11/64             fc00:1::2/64
//!  192.0.2.1/24                            192.0.2.2/24
//! ```
//!
//! Each test checks one interop failure found by the STAMP interop
//! campaign (issue 14): TWAMP-light interworking both ways (RFC 8762
//! §4.6), the HMAC TLV after an Extra Padding TLV under both readings of
//! RFC 8972 §4.8, the Location TLV's address sub-TLVs (RFC 8972 §4.2), and
//! a per-session return path (an SRH, RFC 8754) for `stamp reflect`.

use std::time::Duration;

use lab::{Lab, NsChild, Topology};

const SRV6D: &str = env!("CARGO_BIN_EXE_srv6d");
const PEERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stamp_peers.py");
const S: &str = "fc00:1::1";
const S_ALT: &str = "fc00:1::11";
const R: &str = "fc00:1::2";
const KEY: &str = "73746170206b6579";

fn topology(prefix: &str) -> Lab {
    let lab = Topology::new()
        .prefix(prefix)
        .namespaces(&["s", "r"])
        .link(("s", "eth0"), ("r", "eth0"))
        .addr("s", "eth0", "fc00:1::1/64")
        .addr("s", "eth0", "fc00:1::11/64")
        .addr("s", "eth0", "192.0.2.1/24")
        .addr("r", "eth0", "fc00:1::2/64")
        .addr("r", "eth0", "192.0.2.2/24")
        .build()
        .expect("build the lab");
    for (ns, dst) in [("s", R), ("r", S), ("r", S_ALT)] {
        let ok = (0..10).any(|_| {
            lab.exec(ns, ["ping", "-6", "-c", "1", "-W", "1", dst])
                .map(|o| o.status.success())
                .unwrap_or(false)
        });
        assert!(ok, "{ns} cannot reach {dst}");
    }
    lab
}

/// `srv6d stamp reflect ARGS` in r; stop it with [`stop`].
fn reflector(lab: &Lab, args: &[&str]) -> NsChild {
    let mut argv = vec![SRV6D, "stamp", "reflect"];
    argv.extend_from_slice(args);
    let mut cmd = lab.command("r", argv);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped());
    let child = NsChild::spawn("srv6d stamp reflect", cmd).expect("spawn the reflector");
    std::thread::sleep(Duration::from_millis(500));
    child
}

/// SIGINT, then the reflector's counters line.
fn stop(mut reflector: NsChild) -> String {
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(reflector.id() as libc::pid_t, libc::SIGINT) };
    let child = reflector.child_mut();
    let status = child.wait().expect("wait for the reflector");
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(status.success(), "stamp reflect exited {status}: {out}");
    out
}

/// Runs `stamp_peers.py ARGS` in `ns`; asserts it printed ALL OK.
fn peer(lab: &Lab, ns: &str, args: &[&str]) -> String {
    let mut argv = vec!["python3", PEERS];
    argv.extend_from_slice(args);
    let out = lab.exec(ns, argv).expect("run stamp_peers.py");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{report}");
    assert!(
        out.status.success() && report.contains("ALL OK"),
        "stamp_peers.py {args:?} failed:\n{report}"
    );
    report
}

fn root() -> bool {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return false;
    }
    true
}

#[test]
fn a_twamp_light_sender_gets_the_44_octet_base_reply() {
    if !root() {
        return;
    }
    let lab = topology("s6stpl");
    let r = reflector(&lab, &["--port", "8620"]);
    peer(&lab, "s", &["twamp-light-reflect", R, "8620"]);
    let counters = stop(r);
    assert!(
        counters.contains("received=2 reflected=2"),
        "reflector counters: {counters}"
    );
}

fn json_u64(json: &str, key: &str) -> u64 {
    let at = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("no {key} in {json}"));
    let rest = &json[at + key.len() + 3..];
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap();
    rest[..end].parse().unwrap()
}

#[test]
fn the_sender_takes_a_twamp_light_responders_replies_when_told() {
    if !root() {
        return;
    }
    let lab = topology("s6stpr");
    for (twamp_light, expected) in [(true, 5), (false, 0)] {
        let mut responder = lab.command(
            "r",
            ["python3", PEERS, "twamp-light-responder", "8621", "5"],
        );
        responder
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped());
        let mut responder = NsChild::spawn("twamp-light responder", responder).expect("spawn");
        // Its socket is bound once it says READY (a fixed pause lost
        // packets to a slow Python start on a loaded machine); EOF means it
        // died, and the assertions below say what was missed.
        {
            use std::io::BufRead;
            let out = responder.child_mut().stdout.as_mut().expect("piped stdout");
            let mut line = String::new();
            let _ = std::io::BufReader::new(out).read_line(&mut line);
            assert_eq!(line.trim(), "READY", "the responder did not start");
        }
        let mut argv = vec![
            SRV6D,
            "stamp",
            "send",
            "--reflector",
            R,
            "--port",
            "8621",
            "--ssid",
            "0",
            "--count",
            "5",
            "--interval",
            "20ms",
            "--wait",
            "500ms",
            "--json",
        ];
        if twamp_light {
            argv.push("--twamp-light");
        }
        let out = lab.exec("s", argv).expect("run srv6d stamp send");
        let json = String::from_utf8_lossy(&out.stdout).trim().to_string();
        eprintln!("{json}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "stamp send failed");
        let child = responder.child_mut();
        child.wait().expect("responder exits after 5 packets");
        assert_eq!(json_u64(&json, "sent"), 5, "{json}");
        assert_eq!(
            json_u64(&json, "received"),
            expected,
            "--twamp-light {twamp_light}: {json}"
        );
        if !twamp_light {
            // The 41-octet replies are refused, and say why.
            assert!(json.contains("\"reply_truncated\":5"), "{json}");
        }
    }
}

#[test]
fn hmac_tlv_after_extra_padding_verifies_under_both_readings() {
    if !root() {
        return;
    }
    let lab = topology("s6sthm");
    let r = reflector(&lab, &["--port", "8620", "--ssid", "5", "--key", KEY]);
    peer(&lab, "s", &["hmac", R, "8620", "5", KEY]);
    let counters = stop(r);
    assert!(
        counters.contains("received=4 reflected=4"),
        "reflector counters: {counters}"
    );
}

#[test]
fn location_sub_tlvs_carry_the_received_addresses() {
    if !root() {
        return;
    }
    let lab = topology("s6stlo");
    let r = reflector(&lab, &["--port", "8620"]);
    peer(&lab, "s", &["location", R, "8620"]);
    let counters = stop(r);
    assert!(
        counters.contains("received=1 reflected=1"),
        "reflector counters: {counters}"
    );
}

#[test]
fn a_configured_session_is_answered_along_its_return_path() {
    if !root() {
        return;
    }
    let lab = topology("s6strp");
    let path = format!("{S_ALT},{S}");
    let session = format!("7:{path}");
    let r = reflector(
        &lab,
        &["--port", "8620", "--key", KEY, "--session", &session],
    );
    peer(
        &lab,
        "s",
        &["return-path", "eth0", S, R, "8620", "7", KEY, &path, "8"],
    );
    let counters = stop(r);
    assert!(
        counters.contains("received=2 reflected=2"),
        "reflector counters: {counters}"
    );
}

#[test]
fn stamp_send_and_reflect_work_over_ipv4() {
    if !root() {
        return;
    }
    let lab = topology("s6stv4");
    let r = reflector(&lab, &["--port", "8622"]);
    let out = lab
        .exec(
            "s",
            [
                SRV6D,
                "stamp",
                "send",
                "--reflector",
                "192.0.2.2",
                "--port",
                "8622",
                "--count",
                "20",
                "--interval",
                "5ms",
                "--wait",
                "500ms",
                "--json",
            ],
        )
        .expect("run srv6d stamp send");
    let json = String::from_utf8_lossy(&out.stdout).trim().to_string();
    eprintln!("{json}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "stamp send over IPv4 failed");
    assert_eq!(json_u64(&json, "sent"), 20, "{json}");
    assert_eq!(json_u64(&json, "received"), 20, "{json}");
    // An independent IPv4 sender: the Location sub-TLVs carry IPv4
    // addresses (types 5 and 8), a TWAMP-light packet is answered too.
    peer(&lab, "s", &["location", "192.0.2.2", "8622"]);
    peer(&lab, "s", &["twamp-light-reflect", "192.0.2.2", "8622"]);
    let counters = stop(r);
    assert!(
        counters.contains("received=23 reflected=23"),
        "reflector counters: {counters}"
    );
    // SIDs need IPv6: refused by name.
    let bad = lab
        .exec(
            "s",
            [
                SRV6D,
                "stamp",
                "send",
                "--reflector",
                "192.0.2.2",
                "--segments",
                "fc00:7::e",
                "--count",
                "1",
            ],
        )
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("IPv4"));
}

/// An unauthenticated session whose configured return path would make the
/// reply larger than the request (an SRH the request did not carry) gets
/// no reply (`stamp_would_amplify`, docs/decisions/0011); the same session
/// authenticated is answered along it (see
/// `a_configured_session_is_answered_along_its_return_path`).
#[test]
fn an_unauthenticated_return_path_longer_than_the_request_gets_no_reply() {
    if !root() {
        return;
    }
    let lab = topology("s6stamp");
    let session = format!("7:{S_ALT},{S}");
    let r = reflector(&lab, &["--port", "8624", "--session", &session]);
    let out = lab
        .exec(
            "s",
            [
                SRV6D,
                "stamp",
                "send",
                "--reflector",
                R,
                "--port",
                "8624",
                "--ssid",
                "7",
                "--count",
                "3",
                "--interval",
                "10ms",
                "--wait",
                "300ms",
                "--json",
            ],
        )
        .expect("run srv6d stamp send");
    let json = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let counters = stop(r);
    assert_eq!(json_u64(&json, "sent"), 3, "{json}");
    assert_eq!(json_u64(&json, "received"), 0, "{json}");
    assert!(
        counters.contains("received=3 reflected=0") && counters.contains("stamp_would_amplify=3"),
        "reflector counters: {counters}"
    );
}
