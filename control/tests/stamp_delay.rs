//! STAMP over an SRv6 path in the lab, and a known extra delay on the
//! direct path only.
//!
//! ```text
//!  e1 eth0 ---- eth0 [t: kernel, End fc00:7::e] eth1 ---- w0 [wire: DelayStage] w1 ---- wan0 [e2: srv6d]
//!  fc00:1::1          fc00:1::2       fc00:2::1                                          fc00:2::2
//!  sender (kernel sockets)                                                  End SID fc00:e2::862 reflects
//! ```
//!
//! e1 sends test packets along [fc00:7::e (transit End), fc00:e2::862];
//! e2's engine reflects them inline and replies straight to e1 (through t,
//! without SRH). The delay stage delays only the t -> e2 direction. All
//! namespaces share one clock, so the one-way delays are meaningful here:
//! with 20 ms added, d_d = T2 - T1 rises by 20 ms, d_r = T4 - T3 does not,
//! and the round trip rises by 20 ms.

mod sdwan_common;

use std::fs;
use std::net::Ipv6Addr;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use control::stamp_socket::{run_sender, SenderOptions, SenderReport};
use lab::{DelayStage, Direction, Lab, Route, Seg6LocalAction, Topology};
use sdwan_common::{RunLock, Srv6d};

const SRV6D: &str = env!("CARGO_BIN_EXE_srv6d");
const ADDED: Duration = Duration::from_millis(20);
/// Tolerance on the 20 ms: the stage's own lateness (tens of µs typically,
/// up to a few ms under load on a 2-core machine) and scheduling noise;
/// medians are compared, so single late packets do not move them.
const TOLERANCE_NS: i64 = 3_000_000;

const CONFIG: &str = r#"
[[port]]
name = "wan0"
role = "wan"

[router]
source = "fc00:e2::1"

[[sid]]
sid = "fc00:e2::862"
behavior = "end"

[[route]]
vrf = "underlay"
prefix = "fc00:2::/64"
nexthop = "on-link"
port = "wan0"

[[route]]
vrf = "underlay"
prefix = "fc00:1::/64"
nexthop = "fc00:2::1"
port = "wan0"
"#;

fn topology() -> Lab {
    topology_with(Topology::new())
}

fn topology_with(t: Topology) -> Lab {
    t.prefix("s6sdly")
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
        .route(
            "t",
            Route::seg6local("fc00:7::e", Seg6LocalAction::End, "eth1"),
        )
        .route("t", Route::to("fc00:e2::/48").via("fc00:2::2"))
        .build()
        .expect("build the lab")
}

fn median(report: &SenderReport, f: impl Fn(&stamp::stats::Record) -> i64) -> i64 {
    let mut v: Vec<i64> = report.records.iter().map(f).collect();
    assert!(!v.is_empty(), "no records");
    v.sort_unstable();
    v[v.len() / 2]
}

fn measure(lab: &Lab) -> SenderReport {
    measure_with(lab, None, 200)
}

fn measure_with(lab: &Lab, key: Option<stamp::auth::HmacKey>, count: u64) -> SenderReport {
    let opts = SenderOptions {
        reflector: "fc00:e2::862".parse::<Ipv6Addr>().unwrap(),
        segments: vec!["fc00:7::e".parse().unwrap()],
        source: Some("fc00:1::1".parse().unwrap()),
        ssid: 77,
        interval: Duration::from_millis(5),
        count: Some(count),
        length: if key.is_some() { 112 } else { 44 },
        key,
        wait: Duration::from_millis(500),
        clocks_synchronized: true,
        ..SenderOptions::default()
    };
    let stop = AtomicBool::new(false);
    lab.in_ns("e1", || run_sender(&opts, &stop))
        .expect("enter e1")
        .expect("run the sender")
}

#[test]
fn delay_added_on_the_direct_path_shows_in_d_d_and_the_round_trip_only() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _lock = RunLock::acquire().expect("run lock");
    let lab = topology();
    // The sender's UDP leaves e1 with a partial checksum on veth (TX
    // offload), which nobody completes on the way to srv6d: compute it in
    // software (the engine verifies UDP checksums).
    lab.exec_ok("e1", ["ethtool", "-K", "eth0", "tx", "off"])
        .expect("ethtool tx off");
    let stage = DelayStage::start(&lab, "wire", "w0", "w1", Duration::ZERO, Duration::ZERO)
        .expect("start the delay stage");
    // Neighbours resolved through the stage before srv6d owns wan0.
    for (ns, dst) in [("e1", "fc00:1::2"), ("e2", "fc00:2::1"), ("t", "fc00:2::2")] {
        let ok = (0..5).any(|_| {
            lab.exec(ns, ["ping", "-6", "-c", "1", "-W", "1", dst])
                .map(|o| o.status.success())
                .unwrap_or(false)
        });
        assert!(ok, "{ns} cannot reach {dst}");
    }
    let dir = std::env::temp_dir().join(format!("srv6d-stampdly-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("e2.toml");
    fs::write(&cfg, CONFIG).unwrap();
    let srv6d = Srv6d::start(
        &lab,
        "e2",
        std::path::Path::new(SRV6D),
        &cfg,
        dir.join("srv6d.log"),
    )
    .expect("start srv6d on e2");

    let base = measure(&lab);
    stage.set_delay(Direction::AtoB, ADDED);
    let delayed = measure(&lab);
    let stopped = srv6d.stop().expect("stop srv6d");
    let stage_stats = stage.stats(Direction::AtoB);
    drop(stage);

    for (what, r) in [("base", &base), ("delayed", &delayed)] {
        let s = &r.summary;
        assert_eq!(
            (s.sent, s.received, s.lost, s.duplicates),
            (200, 200, 0, 0),
            "{what}: {s:?}\nsrv6d: {}",
            stopped.counters
        );
        // T3 - T2 is the reflector's residence time: two clock reads, so
        // positive for every packet. "Small" is judged on the median: on a
        // shared machine the worker can be preempted between T2 and T3 for
        // a millisecond or more now and then, which is real residence time
        // that the reply must report, not an error.
        let residence = median(r, |x| x.reflector_residence());
        assert!(
            residence < 1_000_000,
            "{what}: median T3 - T2 = {residence} ns"
        );
        for rec in &r.records {
            let residence = rec.reflector_residence();
            assert!(
                residence > 0,
                "{what}: T3 - T2 = {residence} ns for seq {}",
                rec.seq
            );
            // Through t's End: one hop before the reflector.
            assert_eq!(rec.sender_ttl, 63, "{what}: seq {}", rec.seq);
        }
    }
    let fwd = |r: &SenderReport| median(r, |x| x.forward_delay());
    let bwd = |r: &SenderReport| median(r, |x| x.backward_delay());
    let rtt = |r: &SenderReport| median(r, |x| x.round_trip());
    let added = ADDED.as_nanos() as i64;
    let report = format!(
        "median ns: d_d {} -> {}, d_r {} -> {}, rtt {} -> {}; stage {:?}",
        fwd(&base),
        fwd(&delayed),
        bwd(&base),
        bwd(&delayed),
        rtt(&base),
        rtt(&delayed),
        stage_stats
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
    assert_eq!(stopped.counter("reflected"), 400, "{}", stopped.counters);
    assert!(stopped.clean(), "{}", stopped.log);
    let _ = fs::remove_dir_all(&dir);
}

/// An authenticated session configured in the file, with a return SID list:
/// the replies carry a valid HMAC (the sender verifies it) and come back
/// through t's End with an SRH whose final segment is e1.
#[test]
fn configured_authenticated_session_replies_along_its_return_sid_list() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _lock = RunLock::acquire().expect("run lock");
    // e1 receives replies that carry an SRH (Segments Left 0): Linux
    // delivers them only with seg6 enabled.
    let lab = topology_with(
        Topology::new()
            .sysctl("e1", "net.ipv6.conf.all.seg6_enabled", "1")
            .sysctl("e1", "net.ipv6.conf.eth0.seg6_enabled", "1"),
    );
    lab.exec_ok("e1", ["ethtool", "-K", "eth0", "tx", "off"])
        .expect("ethtool tx off");
    let _stage = DelayStage::start(&lab, "wire", "w0", "w1", Duration::ZERO, Duration::ZERO)
        .expect("start the delay stage");
    for (ns, dst) in [("e1", "fc00:1::2"), ("e2", "fc00:2::1"), ("t", "fc00:2::2")] {
        let ok = (0..5).any(|_| {
            lab.exec(ns, ["ping", "-6", "-c", "1", "-W", "1", dst])
                .map(|o| o.status.success())
                .unwrap_or(false)
        });
        assert!(ok, "{ns} cannot reach {dst}");
    }
    const KEY: &str = "000102030405060708090a0b0c0d0e0f";
    let config = format!(
        "{CONFIG}
[[route]]
vrf = \"underlay\"
prefix = \"fc00:7::/64\"
nexthop = \"fc00:2::1\"
port = \"wan0\"

[[stamp_session]]
ssid = 77
key = \"{KEY}\"
return_segments = [\"fc00:7::e\"]
"
    );
    let dir = std::env::temp_dir().join(format!("srv6d-stampauth-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("e2.toml");
    fs::write(&cfg, config).unwrap();
    let srv6d = Srv6d::start(
        &lab,
        "e2",
        std::path::Path::new(SRV6D),
        &cfg,
        dir.join("srv6d.log"),
    )
    .expect("start srv6d on e2");
    let capture = lab.packet_socket("e1", "eth0").expect("capture on e1");
    let key_bytes: Vec<u8> = (0..16).collect();
    let report = measure_with(&lab, Some(stamp::auth::HmacKey::new(&key_bytes)), 50);
    // One reply as it arrived at e1: IPv6 from the reflecting SID, with an
    // SRH [e1 (final), fc00:7::e] and Segments Left 0 (t's End ran).
    let reply = capture.recv_matching(Duration::from_millis(10), |f| {
        f.len() > 14 + 40 + 8 && f[12..14] == [0x86, 0xdd] && f[14 + 6] == 43
    });
    let stopped = srv6d.stop().expect("stop srv6d");
    let s = &report.summary;
    assert_eq!(
        (s.sent, s.received, s.lost),
        (50, 50, 0),
        "{s:?} {:?}\nsrv6d: {}",
        report.reply_errors,
        stopped.counters
    );
    assert_eq!(stopped.counter("reflected"), 50, "{}", stopped.counters);
    let reply = reply.expect("no reply with an SRH captured on e1");
    let ip = &reply[14..];
    let srh = &ip[40..];
    let e1: Ipv6Addr = "fc00:1::1".parse().unwrap();
    let t_end: Ipv6Addr = "fc00:7::e".parse().unwrap();
    let seg =
        |i: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&srh[8 + 16 * i..8 + 16 * i + 16]).unwrap());
    assert_eq!(
        &ip[8..24],
        &"fc00:e2::862".parse::<Ipv6Addr>().unwrap().octets()[..]
    );
    assert_eq!(&ip[24..40], &e1.octets()[..], "delivered to e1");
    assert_eq!(
        (srh[2], srh[3], srh[4]),
        (4, 0, 1),
        "type 4, SL 0, last entry 1"
    );
    assert_eq!((seg(0), seg(1)), (e1, t_end));
    let _ = fs::remove_dir_all(&dir);
}
