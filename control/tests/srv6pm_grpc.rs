//! A controller written for the srv6pm STAMP API (a Python grpcio client,
//! `srv6pm_client.py`, whose stubs are generated at run time from
//! `srv6pm_contract/srv6pm.proto`, a .proto written from the contract's
//! text, not from srv6d's own) drives two srv6d edges whose files configure
//! forwarding only: every STAMP session comes through srv6pm. A Scapy
//! Session-Sender in a third namespace checks the reflector's replies on
//! the wire.
//!
//! ```text
//!  e1 eth0 ---- eth0 [t: kernel, End fc00:7::e] eth1 ---- wan0 e2
//!  srv6d: srv6pm sender        eth2                       srv6d: srv6pm reflector
//!  Init adds fc00:e1::5          |                        Init adds fc00:e2::5
//!  agent 127.0.0.1:50051         |                        agent 127.0.0.1:50051
//!                              eth0 p (Scapy sender fc00:3::1)
//! ```
//!
//! Each agent keeps the default listening policy (its namespace's
//! loopback, no credentials): the client runs in the agent's namespace, so
//! a scenario is several client runs in order, each in its node. The
//! alternative, agents on lab addresses with `--insecure`, would test a
//! policy that production must not use and route gRPC through the engines'
//! own ports.
//!
//! e2's file drops test packets of unknown SSIDs (`stamp_unknown_ssid =
//! "drop"`), so a reply proves the srv6pm reflector session exists and runs.

mod sdwan_common;

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use control::proto::srv6d::v1 as pb;
use lab::{Lab, Route, Seg6LocalAction, Topology};
use sdwan_common::{RunLock, Srv6d};
use serde_json::Value;

const SRV6D: &str = env!("CARGO_BIN_EXE_srv6d");
const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/srv6pm_client.py");
const AGENT: &str = "127.0.0.1:50051";
/// The contract's interval is whole seconds: ~5 packets in 5 s; at least
/// 3 results are required (the client polls up to 30 s more for them on a
/// loaded machine).
const WAIT_S: &str = "5";
const MIN_RESULTS: usize = 3;
const E1_SOURCE: &str = "fc00:e1::5";
const E2_REFLECTOR: &str = "fc00:e2::5";
const WAYPOINT: &str = "fc00:7::e";
/// The Scapy Session-Sender's namespace address.
const PROBE: &str = "fc00:3::1";
const HMAC_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// e1: one WAN port, no router address (srv6pm Init adds its source).
const E1_CONFIG: &str = r#"
[[port]]
name = "eth0"
role = "wan"

[router]
source = "fc00:e1::1"

[[sid]]
sid = "fc00:e1::e"
behavior = "end"

[[route]]
vrf = "underlay"
prefix = "fc00:1::/64"
nexthop = "on-link"
port = "eth0"

[[route]]
vrf = "underlay"
prefix = "fc00::/16"
nexthop = "fc00:1::2"
port = "eth0"
"#;

/// e2: one WAN port, a router address that is not the reflector's (srv6pm
/// Init adds that one), unknown SSIDs dropped.
const E2_CONFIG: &str = r#"
[[port]]
name = "wan0"
role = "wan"

[router]
source = "fc00:e2::1"
addresses = ["fc00:e2::4"]
stamp_unknown_ssid = "drop"

[[sid]]
sid = "fc00:e2::e"
behavior = "end"

[[route]]
vrf = "underlay"
prefix = "fc00:2::/64"
nexthop = "on-link"
port = "wan0"

[[route]]
vrf = "underlay"
prefix = "fc00::/16"
nexthop = "fc00:2::1"
port = "wan0"
"#;

fn topology() -> Lab {
    Topology::new()
        .prefix("s6pmg")
        .namespaces(&["e1", "t", "e2", "p"])
        .link(("e1", "eth0"), ("t", "eth0"))
        .link(("t", "eth1"), ("e2", "wan0"))
        .link(("p", "eth0"), ("t", "eth2"))
        .addr("e1", "eth0", "fc00:1::1/64")
        .addr("t", "eth0", "fc00:1::2/64")
        .addr("t", "eth1", "fc00:2::1/64")
        .addr("e2", "wan0", "fc00:2::2/64")
        .addr_nodad("p", "eth0", "fc00:3::1/64")
        .addr_nodad("t", "eth2", "fc00:3::2/64")
        .forwarding("t")
        .route("e1", Route::to("fc00::/16").via("fc00:1::2"))
        .route("e2", Route::to("fc00::/16").via("fc00:2::1"))
        .route("p", Route::to("fc00::/16").via("fc00:3::2"))
        .route(
            "t",
            Route::seg6local(WAYPOINT, Seg6LocalAction::End, "eth1"),
        )
        .route("t", Route::to("fc00:e2::/48").via("fc00:2::2"))
        .route("t", Route::to("fc00:e1::/48").via("fc00:1::1"))
        .build()
        .expect("build the lab")
}

/// Resolves every neighbour before srv6d owns the ports.
fn prime(lab: &Lab) {
    for (ns, dst) in [
        ("e1", "fc00:1::2"),
        ("e2", "fc00:2::1"),
        ("t", "fc00:2::2"),
        ("t", "fc00:1::1"),
        ("p", "fc00:3::2"),
        ("t", "fc00:3::1"),
    ] {
        let ok = (0..5).any(|_| {
            lab.exec(ns, ["ping", "-6", "-c", "1", "-W", "1", dst])
                .map(|o| o.status.success())
                .unwrap_or(false)
        });
        assert!(ok, "{ns} cannot reach {dst}");
    }
}

/// Fails (not skips) without the client's Python packages.
fn require_python_packages() {
    let out = std::process::Command::new("python3")
        .args(["-c", "import grpc, grpc_tools, scapy.contrib.stamp"])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "the srv6pm client needs the Python packages grpcio, grpcio-tools and scapy \
         (modules grpc, grpc_tools, scapy): run scripts/deps.sh\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs one phase of the client in `ns` (whose loopback has that node's
/// agent) and returns its JSON summary; panics with everything it said if
/// it did not exit 0.
fn client(lab: &Lab, ns: &str, phase: &str, args: &[&str]) -> Value {
    let mut argv: Vec<&str> = vec!["python3", CLIENT, phase, "--agent", AGENT];
    argv.extend_from_slice(args);
    let out = lab
        .command(ns, &argv)
        .output()
        .unwrap_or_else(|e| panic!("run the client in {ns}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "srv6pm_client {phase} in {ns}: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{phase}: not JSON ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(json["ok"], Value::Bool(true), "{phase}: {json}");
    // The client checks each status against what it expects; check again.
    for call in json["calls"].as_array().expect("calls") {
        assert_eq!(call["status"], call["expected"], "{phase}: {call}");
    }
    for check in json["checks"].as_array().into_iter().flatten() {
        assert_eq!(check["ok"], Value::Bool(true), "{phase}: {check}");
    }
    json
}

/// The status of the call `rpc` in a client's summary.
fn status_of<'a>(json: &'a Value, rpc: &str) -> &'a str {
    json["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .find(|c| c["rpc"] == rpc)
        .and_then(|c| c["status"].as_str())
        .unwrap_or_else(|| panic!("no call {rpc} in {json}"))
}

/// Asserts each `(rpc, status)` was called and answered so.
fn assert_statuses(json: &Value, want: &[(&str, &str)]) {
    for (rpc, status) in want {
        assert_eq!(
            status_of(json, rpc),
            format!("STATUS_CODE_{status}"),
            "{rpc}: {json}"
        );
    }
}

/// srv6d.v1 SystemService.GetCounters of the agent in `ns`, through the
/// Rust client, from a thread inside that namespace.
fn counters(lab: &Lab, ns: &str) -> pb::GetCountersResponse {
    lab.in_ns(ns, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(async {
            let mut c =
                pb::system_service_client::SystemServiceClient::connect(format!("http://{AGENT}"))
                    .await
                    .expect("connect to the agent");
            c.get_counters(pb::GetCountersRequest {})
                .await
                .expect("GetCounters")
                .into_inner()
        })
    })
    .expect("enter the namespace")
}

/// srv6d.v1 StampService.GetStampResults of one session, taking its
/// records, from the agent in `ns`.
fn take_v1(lab: &Lab, ns: &str, name: &str) -> pb::StampSessionResults {
    let name = name.to_string();
    lab.in_ns(ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(async {
            let mut c =
                pb::stamp_service_client::StampServiceClient::connect(format!("http://{AGENT}"))
                    .await
                    .expect("connect to the agent");
            let mut r = c
                .get_stamp_results(pb::GetStampResultsRequest {
                    name: name.clone(),
                    take_records: true,
                })
                .await
                .expect("GetStampResults")
                .into_inner();
            assert_eq!(r.sessions.len(), 1, "{name}: {r:?}");
            r.sessions.remove(0)
        })
    })
    .expect("enter the namespace")
}

/// srv6d.v1 takes records per session too: two srv6pm sessions run, the
/// first one's records are taken; the second keeps those it gathered
/// before.
fn v1_takes_per_session(lab: &Lab, common: &[&str]) {
    let mut args = common.to_vec();
    args.extend_from_slice(&[
        "--sender-source",
        E1_SOURCE,
        "--interface",
        "eth0",
        "--sidlist",
        WAYPOINT,
    ]);
    client(lab, "e1", "sender-up", &args);
    let a = format!("srv6pm-{}", common[1]);
    let b = format!("srv6pm-{}", common[3]);
    // Until A has records (a loaded machine may take a while), then B's
    // from before A's last take must still be there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    std::thread::sleep(std::time::Duration::from_secs(4));
    let mut taken = 0;
    let mut last_take_ns;
    loop {
        last_take_ns = (now_s() * 1e9) as i64;
        taken += take_v1(lab, "e1", &a).records.len();
        if taken >= 2 || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let kept = take_v1(lab, "e1", &b);
    client(lab, "e1", "sender-down", &args);
    assert!(taken >= 2, "{a}: {taken} records in 34 s");
    assert!(
        kept.records
            .iter()
            .any(|r| r.t1_ns < last_take_ns - 1_000_000_000),
        "{b} lost the records it had when {a}'s were taken (srv6d.v1): {kept:?}"
    );
}

fn drop_count(c: &pb::GetCountersResponse, reason: &str) -> u64 {
    c.drops.get(reason).copied().unwrap_or(0)
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `[T1, T2, T3, T4]` records from the summary's `key`.
fn records(json: &Value, key: &str) -> Vec<[f64; 4]> {
    json[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        .iter()
        .map(|r| {
            let a = r.as_array().expect("a record is an array");
            assert_eq!(a.len(), 4, "{r}");
            std::array::from_fn(|i| a[i].as_f64().expect("seconds"))
        })
        .collect()
}

/// The contract's status codes, case by case, on each service of a fresh
/// node (before any Init).
fn statuses(lab: &Lab) {
    let common = ["--ssid", "5", "--reflector-ip", E2_REFLECTOR];
    let mut args = common.to_vec();
    args.extend_from_slice(&["--sender-source", E1_SOURCE, "--interface", "eth0"]);
    args.extend_from_slice(&["--sidlist", WAYPOINT]);
    let s = client(lab, "e1", "sender-statuses", &args);
    let mut want = vec![("sender.CreateStampSession(before Init)", "NOT_INITIALIZED")];
    for rpc in [
        "StartStampSession",
        "StopStampSession",
        "DestroyStampSession",
        "GetStampSessionResults",
        "GetResultsCounter",
    ] {
        want.push((
            leak(format!("sender.{rpc}(before Init)")),
            "NOT_INITIALIZED",
        ));
        want.push((leak(format!("sender.{rpc}(unknown)")), "SESSION_NOT_FOUND"));
    }
    want.extend_from_slice(&[
        ("sender.Init(again)", "ALREADY_INITIALIZED"),
        ("sender.CreateStampSession(ssid 70000)", "INVALID_ARGUMENT"),
        ("sender.CreateStampSession(again)", "SESSION_EXISTS"),
        ("sender.StopStampSession(stopped)", "SESSION_NOT_RUNNING"),
        ("sender.StartStampSession(running)", "SESSION_RUNNING"),
        ("sender.DestroyStampSession(running)", "SESSION_RUNNING"),
        ("sender.StopStampSession(after Destroy refused)", "SUCCESS"),
        ("sender.Reset(a session exists)", "RESET_FAILED"),
        (
            "sender.CreateStampSession(after Reset refused)",
            "SESSION_EXISTS",
        ),
        ("sender.Init(after Reset refused)", "ALREADY_INITIALIZED"),
        ("sender.Reset", "SUCCESS"),
        ("sender.StartStampSession(after Reset)", "NOT_INITIALIZED"),
    ]);
    assert_statuses(&s, &want);

    let mut args = common.to_vec();
    args.extend_from_slice(&[
        "--interface",
        "wan0",
        "--return-sidlist",
        WAYPOINT,
        E1_SOURCE,
    ]);
    let r = client(lab, "e2", "reflector-statuses", &args);
    let mut want = vec![(
        "reflector.CreateStampSession(before Init)",
        "NOT_INITIALIZED",
    )];
    for rpc in [
        "StartStampSession",
        "StopStampSession",
        "DestroyStampSession",
    ] {
        want.push((
            leak(format!("reflector.{rpc}(before Init)")),
            "NOT_INITIALIZED",
        ));
        want.push((
            leak(format!("reflector.{rpc}(unknown)")),
            "SESSION_NOT_FOUND",
        ));
    }
    want.extend_from_slice(&[
        ("reflector.Init(again)", "ALREADY_INITIALIZED"),
        (
            "reflector.CreateStampSession(ssid 70000)",
            "INVALID_ARGUMENT",
        ),
        ("reflector.CreateStampSession(again)", "SESSION_EXISTS"),
        ("reflector.StopStampSession(stopped)", "SESSION_NOT_RUNNING"),
        ("reflector.StartStampSession(running)", "SESSION_RUNNING"),
        ("reflector.DestroyStampSession(running)", "SESSION_RUNNING"),
        (
            "reflector.StopStampSession(after Destroy refused)",
            "SUCCESS",
        ),
        ("reflector.Reset(a session exists)", "RESET_FAILED"),
        (
            "reflector.CreateStampSession(after Reset refused)",
            "SESSION_EXISTS",
        ),
        ("reflector.Init(after Reset refused)", "ALREADY_INITIALIZED"),
        ("reflector.Reset", "SUCCESS"),
        (
            "reflector.StartStampSession(after Reset)",
            "NOT_INITIALIZED",
        ),
    ]);
    assert_statuses(&r, &want);
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

struct Round<'a> {
    /// Sessions A and B; B's SSID is A's + 10.
    ssid: u32,
    key: Option<&'a str>,
    /// The whole return path of A's and B's replies.
    return_sidlist: &'a [&'a str],
    /// A reflector session the Scapy sender probes, with its return path.
    probe: Option<(u32, &'a [&'a str])>,
}

/// One srv6pm scenario from start to end; returns how many results the
/// sender got.
fn run_round(lab: &Lab, round: &Round) -> usize {
    let ssid = round.ssid.to_string();
    let second = (round.ssid + 10).to_string();
    let mut common = vec![
        "--ssid",
        &ssid,
        "--second-ssid",
        &second,
        "--reflector-ip",
        E2_REFLECTOR,
    ];
    if let Some(key) = round.key {
        common.extend_from_slice(&["--key", key]);
    }
    let probe_ssid = round.probe.map(|(s, _)| s.to_string());
    let mut probe_args: Vec<&str> = Vec::new();
    if let (Some(s), Some((_, path))) = (&probe_ssid, round.probe) {
        probe_args.extend_from_slice(&["--probe-ssid", s, "--probe-return-sidlist"]);
        probe_args.extend_from_slice(path);
    }
    let auth = if round.key.is_some() {
        "AUTHENTICATION_MODE_HMAC_SHA_256"
    } else {
        "AUTHENTICATION_MODE_UNAUTHENTICATED"
    };
    let what = format!("SSID {} ({auth})", round.ssid);
    let before = counters(lab, "e2");

    let mut args = common.clone();
    args.extend_from_slice(&["--interface", "wan0", "--return-sidlist"]);
    args.extend_from_slice(round.return_sidlist);
    args.extend_from_slice(&probe_args);
    let up = client(lab, "e2", "reflector-up", &args);
    assert_eq!(up["reflector_params"]["reflector_udp_port"], 862, "{up}");
    assert_eq!(up["reflector_params"]["auth_mode"], auth, "{up}");

    // The reply of a running session, as it arrives at the sender.
    if round.probe.is_some() {
        let mut args = common.clone();
        args.extend_from_slice(&probe_args);
        args.extend_from_slice(&["--probe-source", PROBE, "--probe-iface", "eth0"]);
        let seen = client(lab, "p", "probe", &args);
        eprintln!("{what}: probe replies {}", seen["replies"]);
    }

    let mut args = common.clone();
    let min = MIN_RESULTS.to_string();
    args.extend_from_slice(&[
        "--sender-source",
        E1_SOURCE,
        "--interface",
        "eth0",
        "--sender-port",
        "50862",
        "--interval",
        "1",
        "--wait",
        WAIT_S,
        "--min-results",
        &min,
        "--timeout",
        "30",
        "--sidlist",
        WAYPOINT,
    ]);
    let run = client(lab, "e1", "sender-run", &args);
    let after_run = counters(lab, "e2");
    assert_statuses(
        &run,
        &[
            ("sender.StopStampSession(A, stopped)", "SESSION_NOT_RUNNING"),
            (
                "sender.GetStampSessionResults(destroyed)",
                "SESSION_NOT_FOUND",
            ),
            ("sender.CreateStampSession(after Reset)", "NOT_INITIALIZED"),
        ],
    );
    let p = &run["sender_params"];
    assert_eq!(p["reflector_ip"], E2_REFLECTOR, "{what}: {run}");
    assert_eq!(p["reflector_udp_port"], 862, "{what}: {run}");
    assert_eq!(p["auth_mode"], auth, "{what}: {run}");
    assert_eq!(
        p["timestamp_format"], "TIMESTAMP_FORMAT_NTP",
        "{what}: {run}"
    );

    // Results: enough of them, sane, recent, each once; B kept its own.
    let first = records(&run, "results");
    let b = records(&run, "results_b");
    let counted = run["num_results"].as_u64().expect("num_results") as usize;
    assert!(first.len() >= MIN_RESULTS, "{what}: {run}");
    assert!(counted >= 1, "{what}: {run}");
    assert!(
        records(&run, "results_after_counter").is_empty(),
        "{what}: {run}"
    );
    let last_take = run["last_take_of_a"].as_f64().expect("last_take_of_a");
    assert!(
        b.iter().any(|r| r[0] < last_take - 1.0),
        "{what}: B lost the records it had when A's were taken: {run}"
    );
    let now = now_s();
    for r in first.iter().chain(&b) {
        let [t1, t2, t3, t4] = *r;
        assert!(t1 <= t4, "{what}: T1 > T4 in {r:?}");
        assert!(t2 <= t3, "{what}: T2 > T3 in {r:?}");
        assert!(
            t4 - t1 >= t3 - t2,
            "{what}: round trip < residence in {r:?}"
        );
        for t in r {
            assert!(
                (now - t).abs() < 120.0,
                "{what}: timestamp {t} is not within two minutes of now ({now}) in {r:?}"
            );
        }
    }
    let mut t1s: Vec<f64> = first.iter().map(|r| r[0]).collect();
    t1s.sort_by(f64::total_cmp);
    t1s.dedup();
    assert_eq!(t1s.len(), first.len(), "{what}: a record twice: {run}");
    let received = first.len() + b.len() + counted;

    // srv6d's own view of the reflector: it reflected at least every
    // result, dropped nothing as unknown or badly authenticated.
    let reflected = after_run.stamp_reflected - before.stamp_reflected;
    assert!(
        reflected >= received as u64,
        "{what}: e2 reflected {reflected} < {received} results: {after_run:?}"
    );
    for reason in [
        "stamp_unknown_ssid",
        "stamp_bad_hmac",
        "stamp_session_stopped",
    ] {
        assert_eq!(
            drop_count(&after_run, reason),
            drop_count(&before, reason),
            "{what}: {reason} on e2: {after_run:?}"
        );
    }

    // A stopped reflector session answers nothing, and says why.
    if round.probe.is_some() {
        // With A and B still reflected: srv6d.v1's named takes.
        v1_takes_per_session(lab, &common[..6]);
        let mut args = common.clone();
        args.extend_from_slice(&probe_args);
        client(lab, "e2", "reflector-stop", &args);
        let before_stop = counters(lab, "e2");
        args.extend_from_slice(&[
            "--probe-source",
            PROBE,
            "--probe-iface",
            "eth0",
            "--expect-none",
            "--count",
            "3",
        ]);
        client(lab, "p", "probe", &args);
        let after_stop = counters(lab, "e2");
        let refused = drop_count(&after_stop, "stamp_session_stopped")
            - drop_count(&before_stop, "stamp_session_stopped");
        assert_eq!(refused, 3, "{what}: stamp_session_stopped: {after_stop:?}");
        assert_eq!(
            drop_count(&after_stop, "stamp_unknown_ssid"),
            drop_count(&before_stop, "stamp_unknown_ssid"),
            "{what}: a stopped session is not an unknown SSID: {after_stop:?}"
        );
    }

    let mut args = common.clone();
    args.extend_from_slice(&probe_args);
    let down = client(lab, "e2", "reflector-down", &args);
    assert_statuses(&down, &[("reflector.Reset", "SUCCESS")]);
    eprintln!("{what}: {received} results, e2 reflected {reflected}");
    received
}

fn tmpdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("srv6d-{tag}-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn python_srv6pm_controller_runs_stamp_sessions_between_two_edges() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    require_python_packages();
    let _lock = RunLock::acquire().expect("run lock");
    let lab = topology();
    prime(&lab);
    let dir = tmpdir("srv6pmg");
    let mut edges = Vec::new();
    for (ns, config) in [("e2", E2_CONFIG), ("e1", E1_CONFIG)] {
        let cfg = dir.join(format!("{ns}.toml"));
        fs::write(&cfg, config).unwrap();
        // No --state: the sessions live only as long as the process.
        let srv6d = Srv6d::start_with(
            &lab,
            ns,
            Path::new(SRV6D),
            &cfg,
            dir.join(format!("{ns}.log")),
            &[OsStr::new("--grpc"), OsStr::new(AGENT)],
        )
        .unwrap_or_else(|e| panic!("start srv6d on {ns}: {e}"));
        edges.push(srv6d);
    }
    let e1 = edges.pop().unwrap();
    let e2 = edges.pop().unwrap();

    statuses(&lab);
    // The contract's return path is whole: through the waypoint, ending
    // at the sender's address. The probe's ends at the Scapy sender.
    let plain = run_round(
        &lab,
        &Round {
            ssid: 7,
            key: None,
            return_sidlist: &[WAYPOINT, E1_SOURCE],
            probe: Some((27, &[WAYPOINT, PROBE])),
        },
    );
    // One SID: plain IPv6 straight to it.
    let hmac = run_round(
        &lab,
        &Round {
            ssid: 8,
            key: Some(HMAC_KEY),
            return_sidlist: &[E1_SOURCE],
            probe: None,
        },
    );

    let e1 = e1.stop().expect("stop srv6d on e1");
    let e2 = e2.stop().expect("stop srv6d on e2");
    assert!(e1.clean(), "e1 srv6d:\n{}", e1.log);
    assert!(e2.clean(), "e2 srv6d:\n{}", e2.log);
    // The final counters line agrees: e2 reflected at least every result,
    // e1 received a reply for each.
    assert!(
        e2.counter("reflected") >= (plain + hmac) as u64,
        "e2 reflected fewer than the {} results: {}",
        plain + hmac,
        e2.counters
    );
    assert!(
        e1.counter("replies") >= (plain + hmac) as u64,
        "e1 took fewer replies than the {} results: {}",
        plain + hmac,
        e1.counters
    );
    let _ = fs::remove_dir_all(&dir);
}
