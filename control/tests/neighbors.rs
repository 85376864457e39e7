//! The neighbour monitor against a real kernel, in lab namespaces.
//!
//! Topology: the router `r` has ports eth0 (port 0, to h1) and eth1 (port 1,
//! to h2), and an interface eth2 (to h3) that is no port. The monitor runs
//! in `r` (its thread is started from a thread that joined `r`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use control::neighbors::{Error, NeighborMonitor, NeighborMonitorOptions, ResolveOutcome};
use dataplane::fib::{PortId, Published};
use dataplane::neighbor::{Mac, NeighborTable};
use lab::{Lab, Topology, VethEnd};

const P0: PortId = PortId(0);
const P1: PortId = PortId(1);
const H1_MAC: Mac = [0x02, 0, 0, 0, 0x01, 0x02];
const H2_MAC: Mac = [0x02, 0, 0, 0, 0x02, 0x02];
const H3_MAC: Mac = [0x02, 0, 0, 0, 0x03, 0x02];

/// How long kernel-driven changes may take to show up (a generous bound on
/// a busy machine, not a timing claim).
const SETTLE: Duration = Duration::from_secs(5);

fn topology() -> Lab {
    Topology::new()
        .prefix("s6nbr")
        .namespaces(&["r", "h1", "h2", "h3"])
        .veth(
            VethEnd::new("r", "eth0"),
            VethEnd::new("h1", "eth0").mac(H1_MAC),
        )
        .veth(
            VethEnd::new("r", "eth1"),
            VethEnd::new("h2", "eth0").mac(H2_MAC),
        )
        .veth(
            VethEnd::new("r", "eth2"),
            VethEnd::new("h3", "eth0").mac(H3_MAC),
        )
        .addr("r", "eth0", "10.0.1.1/24")
        .addr("r", "eth0", "fc00:1::1/64")
        .addr("h1", "eth0", "10.0.1.2/24")
        .addr("h1", "eth0", "fc00:1::2/64")
        .addr("r", "eth1", "10.0.2.1/24")
        .addr("r", "eth1", "fc00:2::1/64")
        .addr("h2", "eth0", "10.0.2.2/24")
        .addr("h2", "eth0", "fc00:2::2/64")
        .addr("r", "eth2", "10.0.3.1/24")
        .addr("h3", "eth0", "10.0.3.2/24")
        .build()
        .expect("build lab")
}

/// Starts a monitor in `r` for eth0 (port 0) and eth1 (port 1).
fn start(
    lab: &Lab,
    options: NeighborMonitorOptions,
) -> (NeighborMonitor, Arc<Published<NeighborTable>>) {
    let table = Arc::new(Published::new(NeighborTable::new()));
    let ports = [(P0, "eth0"), (P1, "eth1")];
    let monitor = lab
        .in_ns("r", || {
            NeighborMonitor::start_with(&ports, table.clone(), options)
        })
        .expect("join r")
        .expect("start the neighbour monitor");
    assert!(monitor.is_running());
    (monitor, table)
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Waits up to `within` for `cond` on the published table.
fn wait_for(
    table: &Published<NeighborTable>,
    within: Duration,
    what: &str,
    cond: impl Fn(&NeighborTable) -> bool,
) {
    let deadline = Instant::now() + within;
    loop {
        let snapshot = table.load_full();
        if cond(&snapshot) {
            return;
        }
        if Instant::now() > deadline {
            panic!("{what}: not within {within:?}; published table: {snapshot:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The kernel's entries for `addr` on `dev` in `r`, as `ip neigh` prints them.
fn kernel_neigh(lab: &Lab, addr: &str, dev: &str) -> String {
    lab.ip("r", ["neigh", "show", addr, "dev", dev])
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn static_entries_appear_on_their_port_and_leave_when_deleted() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = topology();
    // Present before the start: must be in the first snapshot.
    lab.ip(
        "r",
        [
            "neigh",
            "add",
            "10.0.2.50",
            "lladdr",
            "02:00:00:00:00:50",
            "dev",
            "eth1",
            "nud",
            "permanent",
        ],
    )
    .unwrap();
    let (monitor, table) = start(&lab, NeighborMonitorOptions::default());
    let first = table.load_full();
    assert_eq!(
        first.lookup(P1, ip("10.0.2.50")),
        Some([2, 0, 0, 0, 0, 0x50]),
        "{first:?}"
    );
    assert_eq!(
        first.lookup(P0, ip("10.0.2.50")),
        None,
        "wrong port: {first:?}"
    );

    // Added while running: comes through the notifications.
    lab.ip(
        "r",
        [
            "neigh",
            "add",
            "fc00:1::60",
            "lladdr",
            "02:00:00:00:00:60",
            "dev",
            "eth0",
            "nud",
            "permanent",
        ],
    )
    .unwrap();
    lab.ip(
        "r",
        [
            "neigh",
            "add",
            "10.0.1.61",
            "lladdr",
            "02:00:00:00:00:61",
            "dev",
            "eth0",
            "nud",
            "noarp",
        ],
    )
    .unwrap();
    wait_for(&table, SETTLE, "static entries on eth0", |t| {
        t.lookup(P0, ip("fc00:1::60")) == Some([2, 0, 0, 0, 0, 0x60])
            && t.lookup(P0, ip("10.0.1.61")) == Some([2, 0, 0, 0, 0, 0x61])
    });
    assert_eq!(
        table.load().lookup(P1, ip("fc00:1::60")),
        None,
        "wrong port"
    );

    // A changed MAC replaces the entry.
    lab.ip(
        "r",
        [
            "neigh",
            "replace",
            "fc00:1::60",
            "lladdr",
            "02:00:00:00:00:66",
            "dev",
            "eth0",
            "nud",
            "permanent",
        ],
    )
    .unwrap();
    wait_for(&table, SETTLE, "replaced MAC", |t| {
        t.lookup(P0, ip("fc00:1::60")) == Some([2, 0, 0, 0, 0, 0x66])
    });

    lab.ip("r", ["neigh", "del", "10.0.2.50", "dev", "eth1"])
        .unwrap();
    lab.ip("r", ["neigh", "del", "fc00:1::60", "dev", "eth0"])
        .unwrap();
    wait_for(&table, SETTLE, "deleted entries gone", |t| {
        t.lookup(P1, ip("10.0.2.50")).is_none() && t.lookup(P0, ip("fc00:1::60")).is_none()
    });
    assert_eq!(
        table.load().lookup(P0, ip("10.0.1.61")),
        Some([2, 0, 0, 0, 0, 0x61])
    );
    monitor.stop().expect("stop");
}

#[test]
fn dynamic_entries_appear_after_a_ping() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = topology();
    let (monitor, table) = start(&lab, NeighborMonitorOptions::default());
    lab.exec_ok("r", ["ping", "-c1", "-W2", "10.0.1.2"])
        .expect("ping h1");
    lab.exec_ok("r", ["ping", "-c1", "-W2", "fc00:2::2"])
        .expect("ping h2");
    wait_for(&table, SETTLE, "h1 (IPv4) and h2 (IPv6) learnt", |t| {
        t.lookup(P0, ip("10.0.1.2")) == Some(H1_MAC)
            && t.lookup(P1, ip("fc00:2::2")) == Some(H2_MAC)
    });
    // Deleting a learnt entry removes it too.
    lab.ip("r", ["neigh", "del", "10.0.1.2", "dev", "eth0"])
        .unwrap();
    wait_for(&table, SETTLE, "h1 gone", |t| {
        t.lookup(P0, ip("10.0.1.2")).is_none()
    });
    assert_eq!(table.load().lookup(P1, ip("fc00:2::2")), Some(H2_MAC));
    drop(monitor);
}

#[test]
fn entries_on_other_interfaces_are_ignored() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = topology();
    // eth2 is no port: neither its dump entries nor its changes count.
    lab.ip(
        "r",
        [
            "neigh",
            "add",
            "10.0.3.50",
            "lladdr",
            "02:00:00:00:03:50",
            "dev",
            "eth2",
            "nud",
            "permanent",
        ],
    )
    .unwrap();
    let (_monitor, table) = start(&lab, NeighborMonitorOptions::default());
    assert!(table.load().is_empty(), "{:?}", table.load());
    lab.ip(
        "r",
        [
            "neigh",
            "add",
            "10.0.3.51",
            "lladdr",
            "02:00:00:00:03:51",
            "dev",
            "eth2",
            "nud",
            "permanent",
        ],
    )
    .unwrap();
    lab.exec_ok("r", ["ping", "-c1", "-W2", "10.0.3.2"])
        .expect("ping h3");
    // A marker on a port, added last: once it is published, the eth2
    // changes before it have been seen too.
    lab.ip(
        "r",
        [
            "neigh",
            "add",
            "10.0.1.99",
            "lladdr",
            "02:00:00:00:01:99",
            "dev",
            "eth0",
            "nud",
            "permanent",
        ],
    )
    .unwrap();
    wait_for(&table, SETTLE, "marker on eth0", |t| {
        t.lookup(P0, ip("10.0.1.99")).is_some()
    });
    let snapshot = table.load_full();
    assert_eq!(snapshot.len(), 1, "only the marker: {snapshot:?}");
    assert!(
        !kernel_neigh(&lab, "10.0.3.2", "eth2").is_empty(),
        "the kernel did learn h3"
    );
}

#[test]
fn resolve_makes_an_uncontacted_neighbour_appear() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = topology();
    let (monitor, table) = start(&lab, NeighborMonitorOptions::default());
    for (port, addr, dev, mac) in [
        (P0, "10.0.1.2", "eth0", H1_MAC),
        (P1, "fc00:2::2", "eth1", H2_MAC),
    ] {
        assert_eq!(
            kernel_neigh(&lab, addr, dev),
            "",
            "{addr} was contacted before"
        );
        assert_eq!(table.load().lookup(port, ip(addr)), None);
        assert_eq!(monitor.resolve(port, ip(addr)), ResolveOutcome::Queued);
        assert_eq!(monitor.resolve(port, ip(addr)), ResolveOutcome::Suppressed);
        wait_for(
            &table,
            Duration::from_secs(1),
            &format!("{addr} resolved"),
            |t| t.lookup(port, ip(addr)) == Some(mac),
        );
    }
    assert_eq!(
        monitor.resolve(PortId(9), ip("10.0.1.2")),
        ResolveOutcome::UnknownPort
    );
    assert_eq!(
        monitor.resolve(P0, ip("255.255.255.255")),
        ResolveOutcome::NotUnicast
    );
    // No reply (nobody has this address): no entry, and no harm.
    assert_eq!(
        monitor.resolve(P0, ip("10.0.1.200")),
        ResolveOutcome::Queued
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(table.load().lookup(P0, ip("10.0.1.200")), None);
    assert_ne!(
        kernel_neigh(&lab, "10.0.1.200", "eth0"),
        "",
        "the kernel was asked"
    );
}

#[test]
fn a_flood_of_resolve_calls_neither_blocks_nor_piles_up() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = topology();
    let options = NeighborMonitorOptions {
        resolve_queue: 8,
        resolve_interval: Duration::from_secs(60),
        ..NeighborMonitorOptions::default()
    };
    let (monitor, table) = start(&lab, options);
    let resolver = monitor.resolver();
    const DISTINCT: u16 = 5000;
    const REPEATS: usize = 100_000;

    // On another thread with a watchdog: a blocking call would hang it.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let flood = std::thread::spawn(move || {
        let mut outcomes = Vec::new();
        for _ in 0..REPEATS {
            outcomes.push(resolver.request(P1, ip("10.0.2.77")));
        }
        for i in 0..DISTINCT {
            let addr = IpAddr::V6(format!("fc00:1::1:{i:x}").parse().unwrap());
            outcomes.push(resolver.request(P0, addr));
        }
        done_tx.send(()).unwrap();
        outcomes
    });
    done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("resolve() calls blocked");
    let outcomes = flood.join().unwrap();
    let (same, distinct) = outcomes.split_at(REPEATS);
    let count = |o: &[ResolveOutcome], what| o.iter().filter(|&&x| x == what).count();
    assert_eq!(
        count(same, ResolveOutcome::Queued),
        1,
        "one request for one next hop"
    );
    assert_eq!(count(same, ResolveOutcome::Suppressed), REPEATS - 1);
    let queued = count(distinct, ResolveOutcome::Queued);
    let full = count(distinct, ResolveOutcome::QueueFull);
    assert_eq!(
        queued + full + count(distinct, ResolveOutcome::Suppressed),
        distinct.len()
    );
    assert!(
        full > 0,
        "a bounded queue must overflow under a flood ({queued} queued)"
    );

    // The kernel was asked at most once per queued request: no pile-up
    // of incomplete entries beyond what the queue let through.
    std::thread::sleep(Duration::from_millis(300));
    let incomplete = lab.ip("r", ["-6", "neigh", "show", "dev", "eth0"]).unwrap();
    let entries = incomplete
        .lines()
        .filter(|l| l.starts_with("fc00:1::1:"))
        .count();
    eprintln!("flood: {queued} queued, {full} refused (queue full), {entries} kernel entries");
    assert!(
        entries <= queued,
        "{entries} kernel entries for {queued} queued requests"
    );

    // And the monitor still works.
    assert!(monitor.is_running());
    assert_eq!(monitor.resolve(P0, ip("10.0.1.2")), ResolveOutcome::Queued);
    wait_for(&table, SETTLE, "h1 resolved after the flood", |t| {
        t.lookup(P0, ip("10.0.1.2")) == Some(H1_MAC)
    });

    // Once the monitor has stopped, a worker's request says so.
    let late = monitor.resolver();
    monitor.stop().expect("stop the monitor");
    assert_eq!(late.request(P0, ip("10.0.1.3")), ResolveOutcome::Stopped);
}

#[test]
fn bad_ports_are_refused_with_their_names() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = topology();
    let table = Arc::new(Published::new(NeighborTable::new()));
    let start = |ports: &[(PortId, &str)]| {
        lab.in_ns("r", || NeighborMonitor::start(ports, table.clone()))
            .expect("join r")
            .expect_err("must be refused")
    };
    let e = start(&[(P0, "eth0"), (P1, "nosuch0")]);
    assert!(
        matches!(e, Error::UnknownInterface { port: P1, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("`nosuch0`"), "{e}");
    let e = start(&[(P0, "eth0"), (P0, "eth1")]);
    assert!(matches!(e, Error::DuplicatePort { port: P0, .. }), "{e}");
    let e = start(&[(P0, "eth0"), (P1, "eth0")]);
    assert!(matches!(e, Error::DuplicateInterface { .. }), "{e}");
    assert!(e.to_string().contains("`eth0`"), "{e}");
    let e = start(&[(P0, "a/b")]);
    assert!(matches!(e, Error::InvalidInterfaceName { .. }), "{e}");
}
