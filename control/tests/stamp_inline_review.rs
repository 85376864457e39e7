//! Review tests for the engine's STAMP Session-Sender (`[[stamp_sender]]`):
//! authentication, timestamp formats, SIGHUP, shared ports, unreachable
//! reflectors and several workers.
//!
//! ```text
//!  e1 eth0 ---- eth0 [t: kernel, End fc00:7::e] eth1 ---- wan0 e2
//!  srv6d: sender                                             srv6d: inline reflector
//!  router address fc00:e1::5                                 End SID fc00:e2::862
//! ```
//!
//! e1's sessions go along [fc00:7::e, fc00:e2::862] (an SRH built by e1,
//! t's kernel End, e2's End with Segments Left 0 reflects), the replies
//! come straight back to fc00:e1::5. All namespaces share one clock.

mod sdwan_common;
mod stamp_lab;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lab::{Lab, Route, Seg6LocalAction, Topology, VethEnd};
use sdwan_common::{RunLock, Srv6d, Stopped};
use stamp_lab::{e1_config, e2_config, session};

const SRV6D: &str = env!("CARGO_BIN_EXE_srv6d");
const KEY: &str = "000102030405060708090a0b0c0d0e0f";
const OTHER_KEY: &str = "0f0e0d0c0b0a09080706050403020100";

/// The lab; `queues`: rx/tx queues of the e1 -- t link (for `--workers`).
fn topology(queues: u32) -> Lab {
    let mut e1 = VethEnd::new("e1", "eth0");
    let mut t = VethEnd::new("t", "eth0");
    if queues > 1 {
        e1 = e1.queues(queues);
        t = t.queues(queues);
    }
    Topology::new()
        .prefix("s6srev")
        .namespaces(&["e1", "t", "e2"])
        .veth(e1, t)
        .link(("t", "eth1"), ("e2", "wan0"))
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

/// Every neighbour resolved before srv6d owns the ports.
fn prime(lab: &Lab) {
    for (ns, dst) in [
        ("e1", "fc00:1::2"),
        ("e2", "fc00:2::1"),
        ("t", "fc00:2::2"),
        ("t", "fc00:1::1"),
    ] {
        let ok = (0..5).any(|_| {
            lab.exec(ns, ["ping", "-6", "-c", "1", "-W", "1", dst])
                .map(|o| o.status.success())
                .unwrap_or(false)
        });
        assert!(ok, "{ns} cannot reach {dst}");
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("srv6d-rev-{tag}-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// One session's line of `--stamp-results`.
#[derive(Debug)]
struct Session {
    json: serde_json::Value,
    /// [seq, t1, t2, t3, t4, sender_ttl]
    records: Vec<[i64; 6]>,
}

impl Session {
    fn report(&self, key: &str) -> i64 {
        self.json["report"][key]
            .as_i64()
            .unwrap_or_else(|| panic!("no report.{key} in {}", self.json))
    }
    fn counter(&self, key: &str) -> u64 {
        self.json["counters"][key]
            .as_u64()
            .unwrap_or_else(|| panic!("no counters.{key} in {}", self.json))
    }
    /// Sum of `report.reply_errors` (refused replies, send_failed,
    /// events_lost).
    fn reply_errors(&self) -> BTreeMap<String, u64> {
        self.json["report"]["reply_errors"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    }
    fn sorted_seqs(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self.records.iter().map(|r| r[0]).collect();
        v.sort_unstable();
        v
    }
    /// sent, received, lost, duplicates
    fn counts(&self) -> (i64, i64, i64, i64) {
        (
            self.report("sent"),
            self.report("received"),
            self.report("lost"),
            self.report("duplicates"),
        )
    }
}

/// A stopped e1: its sessions by name and what it logged.
struct E1Run {
    sessions: BTreeMap<String, Session>,
    stopped: Stopped,
}

impl E1Run {
    fn get(&self, name: &str) -> &Session {
        self.sessions
            .get(name)
            .unwrap_or_else(|| panic!("no session {name} in the results: {:?}", self.sessions))
    }
}

/// A running e1 srv6d with its config and results paths.
struct E1 {
    srv6d: Srv6d,
    config: PathBuf,
    results: PathBuf,
}

fn start_e1(lab: &Lab, dir: &Path, tag: &str, config: &str, workers: usize) -> E1 {
    let cfg = dir.join(format!("e1-{tag}.toml"));
    fs::write(&cfg, config).unwrap();
    let results = dir.join(format!("results-{tag}.json"));
    let workers = workers.to_string();
    let srv6d = Srv6d::start_with(
        lab,
        "e1",
        Path::new(SRV6D),
        &cfg,
        dir.join(format!("e1-{tag}.log")),
        &[
            OsStr::new("--stamp-results"),
            results.as_os_str(),
            OsStr::new("--workers"),
            OsStr::new(&workers),
        ],
    )
    .expect("start srv6d on e1");
    E1 {
        srv6d,
        config: cfg,
        results,
    }
}

fn stop_e1(e1: E1) -> E1Run {
    let stopped = e1.srv6d.stop().expect("stop srv6d on e1");
    assert!(stopped.clean(), "e1 srv6d not clean:\n{}", stopped.log);
    let text = fs::read_to_string(&e1.results)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", e1.results.display(), stopped.log));
    let mut sessions = BTreeMap::new();
    for line in text.lines() {
        let json: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("invalid JSON ({e}): {line}"));
        let name = json["session"].as_str().expect("session name").to_string();
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
        sessions.insert(name, Session { json, records });
    }
    E1Run { sessions, stopped }
}

fn start_e2(lab: &Lab, dir: &Path, tag: &str, config: &str) -> Srv6d {
    let cfg = dir.join(format!("e2-{tag}.toml"));
    fs::write(&cfg, config).unwrap();
    Srv6d::start(
        lab,
        "e2",
        Path::new(SRV6D),
        &cfg,
        dir.join(format!("e2-{tag}.log")),
    )
    .expect("start srv6d on e2")
}

fn stop_e2(e2: Srv6d) -> Stopped {
    let s = e2.stop().expect("stop srv6d on e2");
    assert!(s.clean(), "e2 srv6d not clean:\n{}", s.log);
    s
}

/// Time for `count` packets at `interval_ms`, plus the last replies.
fn wait_for(count: u64, interval_ms: u64) {
    std::thread::sleep(Duration::from_millis(count * interval_ms + 1000));
}

/// A session that got every reply, exactly once, in a clean sequence.
fn assert_complete(what: &str, s: &Session, count: u64) {
    assert_eq!(s.counter("sent"), count, "{what}: engine sent: {}", s.json);
    assert_eq!(
        s.counts(),
        (count as i64, count as i64, 0, 0),
        "{what}: sent/received/lost/duplicates: {}",
        s.json
    );
    assert_eq!(s.json["finished"].as_bool(), Some(true), "{what}");
    assert_eq!(
        s.sorted_seqs(),
        (0..count as i64).collect::<Vec<_>>(),
        "{what}: every sequence number once"
    );
}

macro_rules! root_or_skip {
    () => {
        if !lab::require_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

/// (a) An authenticated session: the right key on e2 gives no loss; a wrong
/// key makes e2 discard every test packet (`stamp_bad_hmac`) and e1 lose
/// them all; an SSID e2 does not know is answered unauthenticated, and e1
/// refuses every such reply, counted by reason.
#[test]
fn authenticated_session_good_key_wrong_key_and_unknown_ssid() {
    root_or_skip!();
    let _lock = RunLock::acquire().expect("run lock");
    let lab = topology(1);
    prime(&lab);
    let dir = tmpdir("auth");
    const COUNT: u64 = 100;
    const MS: u64 = 5;
    let e1_cfg = e1_config(&session(
        "auth",
        9,
        &format!("interval = \"{MS}ms\"\ncount = {COUNT}\nkey = \"{KEY}\""),
    ));
    let e2_with_key = |key: &str| {
        e2_config(
            "",
            &format!("[[stamp_session]]\nssid = 9\nkey = \"{key}\"\n"),
        )
    };

    // The matching key.
    let e2 = start_e2(&lab, &dir, "good", &e2_with_key(KEY));
    let e1 = start_e1(&lab, &dir, "good", &e1_cfg, 1);
    wait_for(COUNT, MS);
    let good = stop_e1(e1);
    let e2s = stop_e2(e2);
    let s = good.get("auth");
    assert_complete("good key", s, COUNT);
    assert_eq!(e2s.counter("reflected"), COUNT, "{}", e2s.counters);
    for r in &s.records {
        assert_eq!(r[5], 254, "Sender TTL: 255 less t's End (seq {})", r[0]);
        assert!(r[3] >= r[2] && r[4] > r[1], "timestamps of seq {}", r[0]);
    }
    assert!(s.reply_errors().is_empty(), "{}", s.json);

    // A wrong key on e2: every test packet discarded there.
    let e2 = start_e2(&lab, &dir, "bad", &e2_with_key(OTHER_KEY));
    let e1 = start_e1(&lab, &dir, "bad", &e1_cfg, 1);
    wait_for(COUNT, MS);
    let bad = stop_e1(e1);
    let e2s = stop_e2(e2);
    let s = bad.get("auth");
    assert_eq!(s.counter("sent"), COUNT, "{}", s.json);
    assert_eq!(
        (s.report("sent"), s.report("received"), s.report("lost")),
        (COUNT as i64, 0, COUNT as i64),
        "wrong key: all lost: {}",
        s.json
    );
    assert_eq!(e2s.counter("reflected"), 0, "{}", e2s.counters);
    assert_eq!(
        e2s.counter("stamp_bad_hmac"),
        COUNT,
        "e2 counts every bad HMAC: {}",
        e2s.counters
    );

    unknown_ssid_phase(&lab, &dir, &e1_cfg, COUNT, MS, false);
    let _ = fs::remove_dir_all(&dir);
}

/// No `[[stamp_session]]` for the SSID on e2 (unknown SSIDs are
/// reflected, unauthenticated, by default): whatever e2 does, every test
/// packet is accounted for at e2, and every reply e1 gets is refused and
/// counted by reason: by the engine and, with `per_session`, in the
/// session's own results (the replies are addressed to its address and
/// ports, and it is the only session there).
fn unknown_ssid_phase(lab: &Lab, dir: &Path, e1_cfg: &str, count: u64, ms: u64, per_session: bool) {
    let tag = if per_session { "unknown-s" } else { "unknown" };
    let e2 = start_e2(lab, dir, tag, &e2_config("", ""));
    let e1 = start_e1(lab, dir, tag, e1_cfg, 1);
    wait_for(count, ms);
    let unk = stop_e1(e1);
    let e2s = stop_e2(e2);
    let s = unk.get("auth");
    let reflected = e2s.counter("reflected");
    let discarded: u64 = [
        "stamp_truncated",
        "stamp_rate_limited",
        "stamp_unknown_ssid",
        "stamp_bad_hmac",
    ]
    .iter()
    .map(|k| e2s.counter(k))
    .sum();
    assert_eq!(
        reflected + discarded,
        count,
        "e2 accounts for every test packet: {}",
        e2s.counters
    );
    assert_eq!(s.report("received"), 0, "nothing accepted: {}", s.json);
    let engine_refused: u64 = ["reply_truncated", "reply_other_session", "reply_bad_hmac"]
        .iter()
        .map(|k| unk.stopped.counter(k))
        .sum();
    assert_eq!(
        engine_refused, reflected,
        "the engine counts every refused reply by reason: {}",
        unk.stopped.counters
    );
    if per_session {
        let refused: u64 = s.reply_errors().values().sum();
        assert_eq!(
            refused, reflected,
            "the session's results count every reply refused at its address and ports: \
             {} / e1 counters {}",
            s.json, unk.stopped.counters
        );
    }
}

/// The unknown-SSID phase of the test above, judged on the session's own
/// results.
#[test]

fn refused_replies_are_counted_in_the_session_they_were_addressed_to() {
    root_or_skip!();
    let _lock = RunLock::acquire().expect("run lock");
    let lab = topology(1);
    prime(&lab);
    let dir = tmpdir("auths");
    const COUNT: u64 = 100;
    const MS: u64 = 5;
    let e1_cfg = e1_config(&session(
        "auth",
        9,
        &format!("interval = \"{MS}ms\"\ncount = {COUNT}\nkey = \"{KEY}\""),
    ));
    unknown_ssid_phase(&lab, &dir, &e1_cfg, COUNT, MS, true);
    let _ = fs::remove_dir_all(&dir);
}

/// Checks one session's timestamps against the wall clock of the test
/// (all namespaces share it): each of T1..T4 within the run, T2 within 1 s
/// of T1, T3 >= T2, T4 > T3.
fn assert_plausible(what: &str, s: &Session, from: i64, to: i64) {
    assert!(!s.records.is_empty(), "{what}: no records: {}", s.json);
    for r in &s.records {
        let [seq, t1, t2, t3, t4, _] = *r;
        for (name, t) in [("T1", t1), ("T2", t2), ("T3", t3), ("T4", t4)] {
            assert!(
                (from..=to).contains(&t),
                "{what}: {name} of seq {seq} = {t} is not within the run [{from}, {to}] \
                 (off by {} s)",
                (t - from) as f64 / 1e9
            );
        }
        assert!(
            (t2 - t1).abs() < 1_000_000_000,
            "{what}: |T2 - T1| = {} ns, seq {seq}",
            t2 - t1
        );
        assert!(t3 >= t2, "{what}: T3 < T2 by {} ns, seq {seq}", t2 - t3);
        assert!(t4 > t3, "{what}: T4 <= T3 by {} ns, seq {seq}", t3 - t4);
    }
}

/// (b) PTP and NTP timestamps, each way: the sender's T1 format and the
/// reflector's T2/T3 format are decoded independently (the Z bits).
#[test]
fn ptp_and_ntp_timestamps_decode_to_plausible_times() {
    root_or_skip!();
    let _lock = RunLock::acquire().expect("run lock");
    let lab = topology(1);
    prime(&lab);
    let dir = tmpdir("ptp");
    const COUNT: u64 = 50;
    const MS: u64 = 10;
    let sessions = [
        session(
            "ptp",
            1,
            &format!("interval = \"{MS}ms\"\ncount = {COUNT}\ntimestamp_format = \"ptp\""),
        ),
        session(
            "ntp",
            2,
            &format!(
                "interval = \"{MS}ms\"\ncount = {COUNT}\ntimestamp_format = \"ntp\"\nsrc_port = 50863"
            ),
        ),
    ]
    .concat();
    for reflector_format in ["ptp", "ntp"] {
        let e2 = start_e2(
            &lab,
            &dir,
            reflector_format,
            &e2_config(
                &format!("stamp_timestamp_format = \"{reflector_format}\""),
                "",
            ),
        );
        let from = now_ns();
        let e1 = start_e1(&lab, &dir, reflector_format, &e1_config(&sessions), 1);
        wait_for(COUNT, MS);
        let run = stop_e1(e1);
        let to = now_ns();
        let e2s = stop_e2(e2);
        assert_eq!(e2s.counter("reflected"), 2 * COUNT, "{}", e2s.counters);
        for sender_format in ["ptp", "ntp"] {
            let what = format!("sender {sender_format}, reflector {reflector_format}");
            let s = run.get(sender_format);
            assert_complete(&what, s, COUNT);
            assert_plausible(&what, s, from, to);
        }
    }
    let _ = fs::remove_dir_all(&dir);
}

/// (c) SIGHUP with the file unchanged keeps the session running (one
/// sequence, no restart, no duplicate), also once it has finished; SIGHUP
/// with a changed interval restarts it from sequence number 0.
#[test]
fn sighup_keeps_an_unchanged_session_and_restarts_a_changed_one() {
    root_or_skip!();
    let _lock = RunLock::acquire().expect("run lock");
    let lab = topology(1);
    prime(&lab);
    let dir = tmpdir("hup");
    const COUNT: u64 = 300;
    const MS: u64 = 5;
    let e2 = start_e2(&lab, &dir, "hup", &e2_config("", ""));

    // Unchanged: reload in the middle and after the end.
    let cfg = e1_config(&session(
        "s",
        3,
        &format!("interval = \"{MS}ms\"\ncount = {COUNT}"),
    ));
    let e1 = start_e1(&lab, &dir, "same", &cfg, 1);
    std::thread::sleep(Duration::from_millis(COUNT * MS / 3));
    e1.srv6d.reload().expect("reload (unchanged)");
    wait_for(COUNT, MS);
    e1.srv6d.reload().expect("reload after the end (unchanged)");
    std::thread::sleep(Duration::from_millis(500));
    let same = stop_e1(e1);
    assert_complete("unchanged across two SIGHUPs", same.get("s"), COUNT);
    assert_eq!(
        same.stopped.counter("sent"),
        COUNT,
        "{}",
        same.stopped.counters
    );

    // Changed interval: a new session, sequence numbers from 0 again.
    let e1 = start_e1(&lab, &dir, "changed", &cfg, 1);
    std::thread::sleep(Duration::from_millis(COUNT * MS / 3));
    let changed = e1_config(&session(
        "s",
        3,
        &format!("interval = \"{}ms\"\ncount = {COUNT}", MS - 1),
    ));
    fs::write(&e1.config, changed).unwrap();
    e1.srv6d.reload().expect("reload (changed interval)");
    wait_for(COUNT, MS);
    let run = stop_e1(e1);
    let s = run.get("s");
    // The results are the restarted session's: all of it, from 0.
    assert_complete("restarted by the changed interval", s, COUNT);
    let engine_sent = run.stopped.counter("sent");
    assert!(
        engine_sent > COUNT + COUNT / 10,
        "the first run sent about a third before the restart: engine sent={engine_sent}"
    );
    let e2s = stop_e2(e2);
    assert_eq!(
        e2s.counter("reflected"),
        COUNT + engine_sent,
        "e2 reflected everything both e1 runs sent: {}",
        e2s.counters
    );
    let _ = fs::remove_dir_all(&dir);
}

/// (d) Two sessions on the same source address and port, different SSIDs:
/// each gets all its replies (the worker tries every session on the port).
#[test]
fn two_sessions_on_one_port_each_get_their_replies() {
    root_or_skip!();
    let _lock = RunLock::acquire().expect("run lock");
    let lab = topology(1);
    prime(&lab);
    let dir = tmpdir("port");
    const COUNT: u64 = 100;
    const MS: u64 = 5;
    let e2 = start_e2(&lab, &dir, "port", &e2_config("", ""));
    let opts = format!("interval = \"{MS}ms\"\ncount = {COUNT}");
    let cfg = e1_config(&[session("a", 11, &opts), session("b", 12, &opts)].concat());
    let e1 = start_e1(&lab, &dir, "port", &cfg, 1);
    wait_for(COUNT, MS);
    let run = stop_e1(e1);
    let e2s = stop_e2(e2);
    assert_eq!(e2s.counter("reflected"), 2 * COUNT, "{}", e2s.counters);
    for name in ["a", "b"] {
        let s = run.get(name);
        assert_complete(name, s, COUNT);
        assert!(s.reply_errors().is_empty(), "{name}: {}", s.json);
    }
    assert_eq!(run.stopped.counter("replies"), 2 * COUNT);
    let _ = fs::remove_dir_all(&dir);
}

/// (d') The same, with an unauthenticated session of SSID 0 listed before
/// an authenticated one on the same port. An authenticated reply read in
/// the unauthenticated layout has its SSID field inside the MBZ octets
/// (offset 14: zero), so the SSID-0 session must not take it.
#[test]

fn an_ssid_zero_session_does_not_take_an_authenticated_sessions_replies() {
    root_or_skip!();
    let _lock = RunLock::acquire().expect("run lock");
    let lab = topology(1);
    prime(&lab);
    let dir = tmpdir("ssid0");
    const COUNT: u64 = 100;
    const MS: u64 = 5;
    let e2 = start_e2(
        &lab,
        &dir,
        "ssid0",
        &e2_config(
            "",
            &format!("[[stamp_session]]\nssid = 5\nkey = \"{KEY}\"\n"),
        ),
    );
    let opts = format!("interval = \"{MS}ms\"\ncount = {COUNT}");
    let cfg = e1_config(
        &[
            session("zero", 0, &opts),
            session("auth", 5, &format!("{opts}\nkey = \"{KEY}\"")),
        ]
        .concat(),
    );
    let e1 = start_e1(&lab, &dir, "ssid0", &cfg, 1);
    wait_for(COUNT, MS);
    let run = stop_e1(e1);
    let e2s = stop_e2(e2);
    assert_eq!(e2s.counter("reflected"), 2 * COUNT, "{}", e2s.counters);
    let zero = run.get("zero");
    let auth = run.get("auth");
    assert_eq!(
        (zero.report("unexpected"), zero.report("duplicates")),
        (0, 0),
        "the SSID-0 session took replies that are not its own: {}",
        zero.json
    );
    assert_complete("auth", auth, COUNT);
    assert_complete("zero", zero, COUNT);
    let _ = fs::remove_dir_all(&dir);
}

/// (e) Reflectors that cannot be reached (a blackhole route, no route at
/// all): every slot is sent and lost, each drop counted by reason, and
/// srv6d exits clean (UMEM frames balanced).
#[test]
fn unreachable_reflectors_count_everything_sent_and_lost() {
    root_or_skip!();
    let _lock = RunLock::acquire().expect("run lock");
    let lab = topology(1);
    prime(&lab);
    let dir = tmpdir("unreach");
    const COUNT: u64 = 200;
    const MS: u64 = 2;
    let opts = format!("interval = \"{MS}ms\"\ncount = {COUNT}");
    let cfg = e1_config(&format!(
        r#"
[[route]]
vrf = "underlay"
prefix = "fc00:dead::/32"
blackhole = true

[[stamp_sender]]
name = "blackhole"
ssid = 1
source = "fc00:e1::5"
segments = ["fc00:dead::1"]
{opts}

[[stamp_sender]]
name = "noroute"
ssid = 2
source = "fc00:e1::5"
src_port = 50863
segments = ["2001:db8:77::1"]
{opts}
"#
    ));
    let e1 = start_e1(&lab, &dir, "unreach", &cfg, 1);
    wait_for(COUNT, MS);
    let run = stop_e1(e1);
    for name in ["blackhole", "noroute"] {
        let s = run.get(name);
        assert_eq!(s.counter("sent"), COUNT, "{name}: {}", s.json);
        assert_eq!(s.counter("send_failed"), 0, "{name}: {}", s.json);
        assert_eq!(
            (s.report("sent"), s.report("received"), s.report("lost")),
            (COUNT as i64, 0, COUNT as i64),
            "{name}: all lost: {}",
            s.json
        );
        assert_eq!(s.json["finished"].as_bool(), Some(true), "{name}");
    }
    assert_eq!(
        run.stopped.counter("blackhole"),
        COUNT,
        "{}",
        run.stopped.counters
    );
    assert_eq!(
        run.stopped.counter("no_route"),
        COUNT,
        "{}",
        run.stopped.counters
    );
    assert_eq!(
        run.stopped.counter("tx"),
        0,
        "nothing left e1: {}",
        run.stopped.counters
    );
    let _ = fs::remove_dir_all(&dir);
}

/// (f) Two workers, four sessions (spread over the workers, replies on
/// either queue): each sends exactly `count` and gets every reply.
#[test]
fn two_workers_run_every_session_exactly_count_times() {
    root_or_skip!();
    let _lock = RunLock::acquire().expect("run lock");
    let lab = topology(2);
    prime(&lab);
    let dir = tmpdir("mq");
    const COUNT: u64 = 200;
    const MS: u64 = 5;
    let e2 = start_e2(&lab, &dir, "mq", &e2_config("", ""));
    let names = ["a", "b", "c", "d"];
    let cfg = e1_config(
        &names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                session(
                    n,
                    20 + i as u16,
                    &format!(
                        "interval = \"{MS}ms\"\ncount = {COUNT}\nsrc_port = {}",
                        40000 + 17 * i
                    ),
                )
            })
            .collect::<String>(),
    );
    let e1 = start_e1(&lab, &dir, "mq", &cfg, 2);
    wait_for(COUNT, MS);
    let run = stop_e1(e1);
    let e2s = stop_e2(e2);
    for n in names {
        assert_complete(n, run.get(n), COUNT);
    }
    assert_eq!(
        run.stopped.counter("sent"),
        4 * COUNT,
        "{}",
        run.stopped.counters
    );
    assert_eq!(e2s.counter("reflected"), 4 * COUNT, "{}", e2s.counters);
    let _ = fs::remove_dir_all(&dir);
}

/// (f + c) Two workers; a SIGHUP removes the first of three sessions. The
/// two others are unchanged, so they must keep running: no restart from
/// sequence number 0, exactly `count` packets each. (Session `i` runs on
/// worker `i % workers`: removing session 0 moves both of them to the other
/// worker.)
#[test]

fn two_workers_sighup_removing_a_session_keeps_the_others_running() {
    root_or_skip!();
    let _lock = RunLock::acquire().expect("run lock");
    let lab = topology(2);
    prime(&lab);
    let dir = tmpdir("mqhup");
    const COUNT: u64 = 300;
    const MS: u64 = 5;
    let e2 = start_e2(&lab, &dir, "mqhup", &e2_config("", ""));
    let entry = |n: &str, i: usize| {
        session(
            n,
            30 + i as u16,
            &format!(
                "interval = \"{MS}ms\"\ncount = {COUNT}\nsrc_port = {}",
                41000 + 13 * i
            ),
        )
    };
    let all = e1_config(&[entry("a", 0), entry("b", 1), entry("c", 2)].concat());
    let without_a = e1_config(&[entry("b", 1), entry("c", 2)].concat());
    let e1 = start_e1(&lab, &dir, "mqhup", &all, 2);
    std::thread::sleep(Duration::from_millis(COUNT * MS / 3));
    fs::write(&e1.config, without_a).unwrap();
    e1.srv6d.reload().expect("reload without a");
    wait_for(COUNT, MS);
    let run = stop_e1(e1);
    let e2s = stop_e2(e2);
    assert!(!run.sessions.contains_key("a"), "a was removed");
    for n in ["b", "c"] {
        assert_complete(n, run.get(n), COUNT);
    }
    let engine_sent = run.stopped.counter("sent");
    assert!(
        engine_sent < 3 * COUNT && engine_sent > 2 * COUNT,
        "b and c: {COUNT} each, a: part of it; engine sent={engine_sent}"
    );
    assert_eq!(e2s.counter("reflected"), engine_sent, "{}", e2s.counters);
    let _ = fs::remove_dir_all(&dir);
}

/// A reload whose set of sessions the engine refuses (more than
/// `MAX_SENDER_SESSIONS` = 256) must change nothing: the running session
/// goes on and is still the one reported.
#[test]

fn a_reload_with_too_many_sessions_changes_nothing() {
    root_or_skip!();
    let _lock = RunLock::acquire().expect("run lock");
    let lab = topology(1);
    prime(&lab);
    let dir = tmpdir("many");
    const COUNT: u64 = 300;
    const MS: u64 = 5;
    let e2 = start_e2(&lab, &dir, "many", &e2_config("", ""));
    let cfg = e1_config(&session(
        "keep",
        1,
        &format!("interval = \"{MS}ms\"\ncount = {COUNT}"),
    ));
    let e1 = start_e1(&lab, &dir, "many", &cfg, 1);
    std::thread::sleep(Duration::from_millis(COUNT * MS / 3));
    let many: String = (0..257u16)
        .map(|i| session(&format!("x{i}"), 1000 + i, "interval = \"1s\"\ncount = 1"))
        .collect();
    fs::write(&e1.config, e1_config(&many)).unwrap();
    // Refused or accepted with a warning: either way the engine keeps the
    // old set, and so must the results.
    e1.srv6d.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(500));
    wait_for(COUNT, MS);
    let run = stop_e1(e1);
    let e2s = stop_e2(e2);
    assert_complete("keep", run.get("keep"), COUNT);
    assert_eq!(
        run.sessions.len(),
        1,
        "the results list what the engine ran: {:?}",
        run.sessions.keys().collect::<Vec<_>>()
    );
    assert_eq!(e2s.counter("reflected"), COUNT, "{}", e2s.counters);
    let _ = fs::remove_dir_all(&dir);
}

/// A 1 ms session (the shortest interval): every packet sent and answered,
/// and the schedule keeps to its absolute deadlines (T1 spacing 1 ms on the
/// median, the whole run about count × 1 ms, few late slots).
#[test]
fn a_one_millisecond_session_keeps_its_schedule() {
    root_or_skip!();
    let _lock = RunLock::acquire().expect("run lock");
    let lab = topology(1);
    prime(&lab);
    let dir = tmpdir("1ms");
    const COUNT: u64 = 1000;
    let e2 = start_e2(&lab, &dir, "1ms", &e2_config("", ""));
    let cfg = e1_config(&session(
        "fast",
        4,
        &format!("interval = \"1ms\"\ncount = {COUNT}"),
    ));
    let e1 = start_e1(&lab, &dir, "1ms", &cfg, 1);
    wait_for(COUNT, 1);
    let run = stop_e1(e1);
    let e2s = stop_e2(e2);
    let s = run.get("fast");
    assert_complete("1 ms", s, COUNT);
    assert_eq!(e2s.counter("reflected"), COUNT, "{}", e2s.counters);
    // Loose bounds on purpose (a shared 2-core CI machine): they check the
    // schedule's behaviour (absolute deadlines, about one packet per ms, no
    // drift, few resets), not how precisely this machine keeps it.
    let mut by_seq = s.records.clone();
    by_seq.sort_unstable_by_key(|r| r[0]);
    let mut gaps: Vec<i64> = by_seq.windows(2).map(|w| w[1][1] - w[0][1]).collect();
    gaps.sort_unstable();
    let median = gaps[gaps.len() / 2];
    assert!(
        (800_000..=1_250_000).contains(&median),
        "median T1 spacing {median} ns"
    );
    let span = by_seq.last().unwrap()[1] - by_seq[0][1];
    let ideal = (COUNT as i64 - 1) * 1_000_000;
    assert!(
        (span - ideal).abs() < ideal / 2,
        "first to last T1: {span} ns for an ideal {ideal} ns (late={})",
        s.counter("late")
    );
    assert!(
        s.counter("late") < COUNT / 4,
        "late slots: {}",
        s.json["counters"]
    );
    let _ = fs::remove_dir_all(&dir);
}
