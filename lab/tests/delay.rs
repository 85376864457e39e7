//! The delay stage: h1 — [wire: eth0 ═ DelayStage ═ eth1] — h2.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use lab::{DelayStage, Direction, Lab, PacketSocket, Topology, VethEnd};

const H1_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x01];
const H2_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x02, 0x02];
/// Local experimental ethertype, so test frames cannot be mistaken for
/// anything the hosts send.
const ETHERTYPE: [u8; 2] = [0x88, 0xb5];

/// h1 — wire — h2, with IPv6 addresses on one /64 across the wire (NDP
/// goes through the stage too).
fn line(quiet_hosts: bool) -> Lab {
    let mut t = Topology::new()
        .namespaces(&["h1", "wire", "h2"])
        .veth(
            VethEnd::new("h1", "eth0").mac(H1_MAC),
            VethEnd::new("wire", "eth0"),
        )
        .veth(
            VethEnd::new("wire", "eth1"),
            VethEnd::new("h2", "eth0").mac(H2_MAC),
        )
        .wire("wire");
    if quiet_hosts {
        // Raw-frame tests: nothing but the test's own frames on the link.
        t = t
            .sysctl("h1", "net.ipv6.conf.all.disable_ipv6", "1")
            .sysctl("h2", "net.ipv6.conf.all.disable_ipv6", "1");
    } else {
        t = t
            .addr("h1", "eth0", "fc00::1/64")
            .addr("h2", "eth0", "fc00::2/64");
    }
    t.build().expect("build lab")
}

/// The minimum RTT of `count` pings from h1 to h2, in milliseconds. The
/// minimum, not the mean: scheduling noise on a loaded machine only ever
/// adds time, so the minimum is the best estimate of the path's own delay.
fn min_rtt_ms(lab: &Lab, count: u32) -> f64 {
    let count = count.to_string();
    let out = lab
        .exec(
            "h1",
            [
                "ping", "-6", "-n", "-q", "-c", &count, "-i", "0.05", "-W", "2", "fc00::2",
            ],
        )
        .expect("run ping");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ping failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "rtt min/avg/max/mdev = 0.051/0.066/0.090/0.012 ms"
    let stats = text
        .lines()
        .find(|l| l.contains("min/avg/max"))
        .unwrap_or_else(|| panic!("no rtt line in: {text}"));
    let values = stats.split('=').nth(1).expect("rtt values").trim();
    values
        .split('/')
        .next()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("cannot parse min rtt in `{stats}`"))
}

/// Retries a warm-up ping until NDP has resolved across the stage.
fn warm_up(lab: &Lab) {
    for _ in 0..5 {
        let out = lab
            .exec("h1", ["ping", "-6", "-c1", "-W1", "fc00::2"])
            .expect("run ping");
        if out.status.success() {
            return;
        }
    }
    panic!("h1 cannot reach h2 through the stage");
}

#[test]
fn delay_on_one_direction_raises_rtt_by_it() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = line(false);
    let stage = DelayStage::start(&lab, "wire", "eth0", "eth1", Duration::ZERO, Duration::ZERO)
        .expect("start stage");
    warm_up(&lab);
    let base = min_rtt_ms(&lab, 10);

    let delay = Duration::from_millis(20);
    stage.set_delay(Direction::AtoB, delay);
    assert_eq!(stage.delay(Direction::AtoB), delay);
    assert_eq!(stage.delay(Direction::BtoA), Duration::ZERO);
    let delayed = min_rtt_ms(&lab, 10);
    let rise = delayed - base;
    let ab = stage.stats(Direction::AtoB);
    let ba = stage.stats(Direction::BtoA);
    eprintln!(
        "min rtt {base:.3} ms -> {delayed:.3} ms (rise {rise:.3} ms for 20 ms); {ab:?}; {ba:?}"
    );
    // This checks that the tool works, not how fast anything is. The stage
    // itself is accurate to well under a millisecond (see the one-way test
    // and `max_late`), but the RTT also carries ping's own scheduling on a
    // loaded 2-core machine, so ±5 ms keeps the test from flaking while
    // still telling 20 ms from 0, 10 or 40 ms (delay applied twice, or to
    // the wrong frames).
    assert!(
        (rise - 20.0).abs() <= 5.0,
        "min rtt rose by {rise:.3} ms (from {base:.3} to {delayed:.3}), expected 20 ± 5"
    );

    assert!(ab.forwarded > 0 && ba.forwarded > 0, "{ab:?} {ba:?}");
    assert_eq!((ab.dropped, ab.errors), (0, 0), "{ab:?}");
    assert_eq!((ba.dropped, ba.errors), (0, 0), "{ba:?}");
    stage.stop().expect("stop");
    // Stopped: nothing crosses any more.
    let out = lab
        .exec("h1", ["ping", "-6", "-c1", "-W1", "fc00::2"])
        .expect("run ping");
    assert!(!out.status.success(), "ping crossed a stopped stage");
}

/// An Ethernet frame from `src` to `dst` with `seq` in the payload.
fn frame(dst: [u8; 6], src: [u8; 6], seq: u32) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ETHERTYPE);
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend(std::iter::repeat_n(0x5a, 60));
    f
}

fn seq_of(f: &[u8]) -> Option<u32> {
    (f.len() >= 18 && f[12..14] == ETHERTYPE)
        .then(|| u32::from_be_bytes([f[14], f[15], f[16], f[17]]))
}

/// One-way delays (send to receive, one clock) of `n` frames sent one at a
/// time from `tx` to `rx`, checking each arrives unchanged.
fn one_way(
    tx: &PacketSocket,
    rx: &PacketSocket,
    dst: [u8; 6],
    src: [u8; 6],
    n: u32,
) -> Vec<Duration> {
    let mut delays = Vec::new();
    for seq in 0..n {
        let sent = frame(dst, src, seq);
        let t0 = Instant::now();
        tx.send(&sent).expect("send");
        let got = rx
            .recv_matching(Duration::from_secs(2), |f| seq_of(f).is_some())
            .unwrap_or_else(|| panic!("frame {seq} did not arrive"));
        delays.push(t0.elapsed());
        assert_eq!(got, sent, "frame {seq} changed or out of order");
        std::thread::sleep(Duration::from_millis(2));
    }
    delays.sort();
    delays
}

#[test]
fn one_way_delay_is_accurate_and_only_where_set() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = line(true);
    let delay = Duration::from_millis(20);
    let stage = DelayStage::start(&lab, "wire", "eth0", "eth1", delay, Duration::ZERO)
        .expect("start stage");
    let h1 = lab.packet_socket("h1", "eth0").unwrap();
    let h2 = lab.packet_socket("h2", "eth0").unwrap();

    let ab = one_way(&h1, &h2, H2_MAC, H1_MAC, 20);
    let ba = one_way(&h2, &h1, H1_MAC, H2_MAC, 20);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let stats = stage.stats(Direction::AtoB);
    eprintln!(
        "a->b one-way: min {:.3} median {:.3} max {:.3} ms; b->a: min {:.3} median {:.3} ms; \
         stage max_late {:?} mean_late {:?}",
        ms(ab[0]),
        ms(ab[10]),
        ms(ab[19]),
        ms(ba[0]),
        ms(ba[10]),
        stats.max_late,
        stats.total_late / stats.forwarded.max(1) as u32
    );
    // Never early: the stage holds each frame from its kernel arrival
    // stamp, which is after the send started.
    assert!(
        ab[0] >= delay,
        "a->b frame arrived after {:?} < {delay:?}",
        ab[0]
    );
    // Median within 5 ms (see the RTT test for why so generous); the
    // printed figures and `max_late` show the real accuracy.
    assert!(
        ab[10] <= delay + Duration::from_millis(5),
        "a->b median {:?}",
        ab[10]
    );
    assert!(
        ba[10] < Duration::from_millis(5),
        "b->a median {:?}",
        ba[10]
    );

    // Frames addressed to neither host's MAC (nor the wire's) still cross:
    // the stage is promiscuous and passes frames unchanged.
    let odd = frame([0x02, 9, 9, 9, 9, 9], H1_MAC, 99);
    h1.send(&odd).unwrap();
    let got = h2
        .recv_matching(Duration::from_secs(2), |f| seq_of(f) == Some(99))
        .expect("frame to a foreign MAC did not cross");
    assert_eq!(got, odd);

    // Nothing was duplicated or looped back: every frame sent crossed once.
    // A frame can reach h2 while the stage's send call has not returned yet,
    // so wait for the count, then a little longer to catch any extra frame.
    let deadline = Instant::now() + Duration::from_secs(2);
    while stage.stats(Direction::AtoB).forwarded < 21 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    let (ab, ba) = (stage.stats(Direction::AtoB), stage.stats(Direction::BtoA));
    assert_eq!(ab.forwarded, 21, "{ab:?}");
    assert_eq!(ba.forwarded, 20, "{ba:?}");
    assert_eq!(h1.drain() + h2.drain(), 0);
}

#[test]
fn full_queue_drops_and_counts_and_keeps_order() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = line(true);
    // Long enough that the whole burst arrives while the first frames are
    // still held, even on a loaded machine.
    let delay = Duration::from_millis(500);
    let stage =
        DelayStage::start_with_queue(&lab, "wire", "eth0", "eth1", delay, Duration::ZERO, 4)
            .expect("start stage");
    let h1 = lab.packet_socket("h1", "eth0").unwrap();
    let h2 = lab.packet_socket("h2", "eth0").unwrap();
    for seq in 0..50 {
        h1.send(&frame(H2_MAC, H1_MAC, seq)).unwrap();
    }
    let mut got = Vec::new();
    while let Some(f) = h2.recv_matching(Duration::from_secs(2), |f| seq_of(f).is_some()) {
        got.push(seq_of(&f).unwrap());
    }
    let stats = stage.stats(Direction::AtoB);
    eprintln!("received {got:?}; {stats:?}");
    assert_eq!(stats.forwarded + stats.dropped, 50, "{stats:?}");
    assert!(stats.dropped > 0, "{stats:?}");
    assert_eq!(got.len() as u64, stats.forwarded);
    assert!(got.windows(2).all(|w| w[0] < w[1]), "order lost: {got:?}");
    assert_eq!(got[0], 0);
    assert_eq!(stats.queued, 0);
}

/// The offload recipe documented on `DelayStage`: with transmit checksum
/// offload off on the hosts, UDP crosses the stage intact both ways.
#[test]
fn udp_crosses_with_tx_checksum_offload_off() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = line(false);
    for ns in ["h1", "h2"] {
        lab.exec_ok(ns, ["ethtool", "-K", "eth0", "tx", "off"])
            .expect("ethtool -K eth0 tx off");
    }
    let _stage = DelayStage::start(
        &lab,
        "wire",
        "eth0",
        "eth1",
        Duration::from_millis(5),
        Duration::from_millis(5),
    )
    .expect("start stage");
    warm_up(&lab);
    let server = lab
        .in_ns("h2", || UdpSocket::bind("[fc00::2]:7000"))
        .unwrap()
        .expect("bind h2");
    let client = lab
        .in_ns("h1", || UdpSocket::bind("[fc00::1]:0"))
        .unwrap()
        .expect("bind h1");
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    client
        .send_to(b"ping over the wire", "[fc00::2]:7000")
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = server.recv_from(&mut buf).expect("udp h1->h2 lost");
    assert_eq!(&buf[..n], b"ping over the wire");
    server.send_to(b"pong", from).unwrap();
    let n = client.recv(&mut buf).expect("udp h2->h1 lost");
    assert_eq!(&buf[..n], b"pong");
}

#[test]
fn missing_namespace_or_interface_is_a_clear_error() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = line(true);
    let z = Duration::ZERO;
    let err = DelayStage::start(&lab, "nowire", "eth0", "eth1", z, z).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`nowire`") && text.contains("wire"), "{text}");

    let err = DelayStage::start(&lab, "wire", "eth0", "nosuch0", z, z).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("nosuch0") && text.contains("`wire`"),
        "{text}"
    );

    let err = DelayStage::start(&lab, "wire", "eth0", "eth0", z, z).unwrap_err();
    assert!(err.to_string().contains("two different"), "{err}");
    eprintln!("{text}");
}

#[test]
fn forwarding_or_addressed_wire_is_refused() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Topology::new()
        .namespaces(&["h1", "fwd", "h2"])
        .link(("h1", "eth0"), ("fwd", "eth0"))
        .link(("fwd", "eth1"), ("h2", "eth0"))
        .forwarding("fwd")
        .addr("fwd", "eth1", "fc00:1::1/64")
        .build()
        .expect("build lab");
    let z = Duration::ZERO;
    let err = DelayStage::start(&lab, "fwd", "eth0", "eth1", z, z).unwrap_err();
    assert!(err.to_string().contains("forwarding is on"), "{err}");

    lab.exec_ok(
        "fwd",
        [
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=0",
            "net.ipv6.conf.all.forwarding=0",
        ],
    )
    .unwrap();
    let err = DelayStage::start(&lab, "fwd", "eth0", "eth1", z, z).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("eth1") && text.contains("fc00:1::1"),
        "{text}"
    );
}
