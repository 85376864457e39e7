//! The AF_XDP engine in lab namespaces (root only).
//!
//! Topology: `h1` — `r` (engine: `lan` port in VRF 1, `wan` port in the
//! underlay) — `k` (Linux kernel: End + End.DT6 SIDs, and a seg6 encap route
//! back to the engine's End.DT6 SID) — `h2`.
//!
//! h1 → h2: the engine encapsulates (H.Encaps, 2 SIDs), the kernel runs End
//! and End.DT6. h2 → h1: the kernel encapsulates toward the engine's
//! End.DT6 SID, the engine decapsulates and forwards to h1. Every neighbour
//! is static: the test XDP program (libxdp's default) steers every frame on
//! the engine's ports to the engine, NDP included.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dataplane::behavior::{
    process, Behavior, DropReason, EncapMode, EncapPolicy, Packet, SidBehavior, Verdict,
};
use dataplane::engine::{
    Engine, EngineConfig, EngineDrop, EngineError, IdlePolicy, PortRole, PortSpec,
    RedirectSteering, Steering,
};
use dataplane::fib::{Adjacency, Fib, FibBuilder, NextHop, PortId, Published, RouteAction};
use dataplane::neighbor::NeighborTable;
use lab::{Lab, Mac, Route, Seg6LocalAction, Seg6Mode, Topology, VethEnd};

const H1_MAC: Mac = [0x02, 0, 0, 0, 0x01, 0x01];
const RLAN_MAC: Mac = [0x02, 0, 0, 0, 0x02, 0x01];
const RWAN_MAC: Mac = [0x02, 0, 0, 0, 0x02, 0x02];
const KA_MAC: Mac = [0x02, 0, 0, 0, 0x03, 0x01];
const KB_MAC: Mac = [0x02, 0, 0, 0, 0x03, 0x02];
const H2_MAC: Mac = [0x02, 0, 0, 0, 0x04, 0x01];

const H1: &str = "fc00:1::1";
const R_LAN: &str = "fc00:1::ff";
const R_WAN: &str = "fc00:2::1";
const K_A: &str = "fc00:2::2";
const K_B: &str = "fc00:3::1";
const H2: &str = "fc00:3::2";
const K_END: &str = "fc00:a::1";
const K_DT6: &str = "fc00:a::2";
const R_DT6: &str = "fc00:b::100";

const H1_4: &str = "10.1.0.1";
const R_LAN_4: &str = "10.1.0.254";
const K_B_4: &str = "10.3.0.1";
const H2_4: &str = "10.3.0.2";
const K_DX4: &str = "fc00:a::4";
const R_DT4: &str = "fc00:b::4";

const LAN: PortId = PortId(1);
const WAN: PortId = PortId(2);

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// libxdp loads its default program and wants bpffs at /sys/fs/bpf.
fn ensure_bpffs() {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    if !mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/bpf"))
    {
        let _ = std::process::Command::new("mount")
            .args(["-t", "bpf", "bpf", "/sys/fs/bpf"])
            .status();
    }
}

fn topology(queues: u32) -> Topology {
    topology_with(queues, false)
}

/// With `kernel_ndp`, r's kernel owns the router addresses and answers
/// NDP itself (the ebpf-redirect program passes NDP to it); otherwise every
/// neighbour of r is static.
fn topology_with(queues: u32, kernel_ndp: bool) -> Topology {
    let end = |ns: &str, ifname: &str, mac: Mac| {
        let e = VethEnd::new(ns, ifname).mac(mac);
        if queues > 1 {
            e.queues(queues)
        } else {
            e
        }
    };
    let t = Topology::new()
        .prefix("s6eng")
        .namespaces(&["h1", "r", "k", "h2"])
        .veth(end("h1", "eth0", H1_MAC), end("r", "lan", RLAN_MAC))
        .veth(end("r", "wan", RWAN_MAC), end("k", "eth0", KA_MAC))
        .veth(end("k", "eth1", KB_MAC), end("h2", "eth0", H2_MAC))
        .forwarding("k")
        .sysctl("k", "net.ipv6.conf.all.seg6_enabled", "1")
        .sysctl("k", "net.ipv6.conf.eth0.seg6_enabled", "1")
        .addr("h1", "eth0", &format!("{H1}/64"))
        .addr("k", "eth0", &format!("{K_A}/64"))
        .addr("k", "eth1", &format!("{K_B}/64"))
        .addr("h2", "eth0", &format!("{H2}/64"))
        .addr("h1", "eth0", &format!("{H1_4}/24"))
        .addr("k", "eth1", &format!("{K_B_4}/24"))
        .addr("h2", "eth0", &format!("{H2_4}/24"))
        .neigh("k", "eth1", H2_4, H2_MAC)
        .neigh("h2", "eth0", K_B_4, KB_MAC)
        .route("h1", Route::to("0.0.0.0/0").via(R_LAN_4).dev("eth0"))
        .route("h2", Route::to("0.0.0.0/0").via(K_B_4).dev("eth0"))
        .route(
            "k",
            Route::seg6local(K_DX4, Seg6LocalAction::end_dx4(H2_4), "eth0"),
        )
        .route(
            "k",
            Route::seg6("10.1.0.0/24", Seg6Mode::Encap, &[R_DT4], "eth0"),
        )
        .neigh("k", "eth1", H2, H2_MAC)
        .neigh("h2", "eth0", K_B, KB_MAC)
        .tunsrc("k", K_A)
        .route("h1", Route::to("::/0").via(R_LAN).dev("eth0"))
        .route("h2", Route::to("::/0").via(K_B).dev("eth0"))
        .route("k", Route::seg6local(K_END, Seg6LocalAction::End, "eth0"))
        .route(
            "k",
            Route::seg6local(K_DT6, Seg6LocalAction::EndDT6 { table: 254 }, "eth0"),
        )
        .route("k", Route::to("fc00:b::/64").via(R_WAN).dev("eth0"))
        .route(
            "k",
            Route::seg6("fc00:1::/64", Seg6Mode::Encap, &[R_DT6], "eth0"),
        );
    if kernel_ndp {
        t.addr("r", "lan", &format!("{R_LAN}/64"))
            .addr("r", "lan", &format!("{R_LAN_4}/24"))
            .addr("r", "wan", &format!("{R_WAN}/64"))
    } else {
        t.neigh("h1", "eth0", R_LAN, RLAN_MAC)
            .neigh("h1", "eth0", R_LAN_4, RLAN_MAC)
            .neigh("k", "eth0", R_WAN, RWAN_MAC)
    }
}

fn fib() -> Fib {
    fib_builder().build().unwrap()
}

fn fib_builder() -> FibBuilder {
    let mut b = FibBuilder::new();
    b.add_vrf(1).unwrap();
    let policy = EncapPolicy::new(EncapMode::Encaps, v6(R_WAN), &[v6(K_END), v6(K_DT6)]).unwrap();
    let policy = b.add_policy(policy);
    b.add_route_v6(1, v6("fc00:3::"), 64, RouteAction::Encap(policy))
        .unwrap();
    b.add_route_v6(
        1,
        v6("fc00:1::"),
        64,
        RouteAction::Forward(Adjacency {
            port: LAN,
            next_hop: NextHop::Direct,
        }),
    )
    .unwrap();
    b.add_route_v6(
        0,
        v6("fc00:a::"),
        64,
        RouteAction::Forward(Adjacency {
            port: WAN,
            next_hop: NextHop::V6(v6(K_A)),
        }),
    )
    .unwrap();
    b.add_sid(v6(R_DT6), SidBehavior::EndDT6 { vrf: 1 })
        .unwrap();
    // IPv4 VPN: H.Encaps (1 SID) into the kernel's End.DX4; the kernel
    // encapsulates the way back to our End.DT4.
    let policy4 = EncapPolicy::new(EncapMode::Encaps, v6(R_WAN), &[v6(K_DX4)]).unwrap();
    let policy4 = b.add_policy(policy4);
    b.add_route_v4(
        1,
        "10.3.0.0".parse().unwrap(),
        24,
        RouteAction::Encap(policy4),
    )
    .unwrap();
    b.add_route_v4(
        1,
        "10.1.0.0".parse().unwrap(),
        24,
        RouteAction::Forward(Adjacency {
            port: LAN,
            next_hop: NextHop::Direct,
        }),
    )
    .unwrap();
    b.add_sid(v6(R_DT4), SidBehavior::EndDT4 { vrf: 1 })
        .unwrap();
    // The router's LAN addresses source its ICMP errors in VRF 1.
    b.set_icmp_source(1, IpAddr::V6(v6(R_LAN)));
    b.set_icmp_source(1, IpAddr::V4(R_LAN_4.parse().unwrap()));
    b
}

fn neighbors() -> NeighborTable {
    let mut n = NeighborTable::new();
    n.insert(LAN, IpAddr::V6(v6(H1)), H1_MAC);
    n.insert(WAN, IpAddr::V6(v6(K_A)), KA_MAC);
    n.insert(LAN, IpAddr::V4(H1_4.parse().unwrap()), H1_MAC);
    n
}

fn config(workers: usize, queues: u32) -> EngineConfig {
    let mut c = EngineConfig::new(vec![
        PortSpec {
            id: LAN,
            ifname: "lan".into(),
            vrf: 1,
            role: PortRole::Lan,
            mac: RLAN_MAC,
            queues,
        },
        PortSpec {
            id: WAN,
            ifname: "wan".into(),
            vrf: 0,
            role: PortRole::Wan,
            mac: RWAN_MAC,
            queues,
        },
    ]);
    c.workers = workers;
    c.idle = IdlePolicy::Sleep(Duration::from_micros(200));
    c.steering = Steering::LibxdpDefault;
    c
}

struct Running {
    lab: Lab,
    engine: Option<Engine>,
    /// The engine's FIB: store a new snapshot to reconfigure it.
    fib_published: Arc<Published<Fib>>,
    fib: Fib,
    neighbors: Arc<Published<NeighborTable>>,
    unresolved: Arc<AtomicU64>,
}

fn start(workers: usize, queues: u32) -> Running {
    start_with(workers, queues, true, |_| {})
}

/// `redirect`: steer with ebpf-redirect (kernel NDP) instead of libxdp's
/// default program.
fn start_with(
    workers: usize,
    queues: u32,
    redirect: bool,
    tweak: fn(&mut EngineConfig),
) -> Running {
    ensure_bpffs();
    let lab = topology_with(queues, redirect).build().expect("build lab");
    // Locally generated TCP/UDP leaves a veth with CHECKSUM_PARTIAL (the
    // checksum field holds only the pseudo-header sum); a frame taken by
    // XDP keeps it unfinished, and the engine does not complete it (a real
    // NIC's frames are complete). So the hosts compute checksums in software.
    // Hosts also send no GSO super-frames (veth's XDP path drops frames
    // longer than a page) and use MTU 1400, so that a full-sized packet
    // plus the engine's encapsulation (80 octets) fits k's 1500.
    for ns in ["h1", "h2"] {
        lab.exec_ok(
            ns,
            [
                "ethtool", "-K", "eth0", "tx", "off", "tso", "off", "gso", "off",
            ],
        )
        .expect("ethtool -K eth0 tx off tso off gso off");
        lab.exec_ok(ns, ["ip", "link", "set", "dev", "eth0", "mtu", "1400"])
            .expect("set mtu");
    }
    let unresolved = Arc::new(AtomicU64::new(0));
    let mut cfg = config(workers, queues);
    if redirect {
        let steering = RedirectSteering::from_fib(&fib())
            .host_addr(IpAddr::V6(v6(R_LAN)))
            .host_addr(IpAddr::V6(v6(R_WAN)));
        cfg.steering = Steering::Custom(Box::new(steering));
    }
    let u = unresolved.clone();
    cfg.resolve = Some(Arc::new(move |_, _| {
        u.fetch_add(1, Ordering::Relaxed);
    }));
    tweak(&mut cfg);
    let fib_snapshot = Arc::new(Published::new(fib()));
    let fib_published = fib_snapshot.clone();
    let neigh = Arc::new(Published::new(neighbors()));
    let n = neigh.clone();
    let engine = lab
        .in_ns("r", move || Engine::start(cfg, fib_snapshot, n))
        .expect("enter r")
        .expect("start engine");
    Running {
        lab,
        engine: Some(engine),
        fib_published,
        fib: fib(),
        neighbors: neigh,
        unresolved,
    }
}

impl Running {
    fn engine(&self) -> &Engine {
        self.engine.as_ref().unwrap()
    }

    fn ping(&self, count: &str) -> std::process::Output {
        self.lab
            .exec(
                "h1",
                ["ping", "-6", "-c", count, "-i", "0.2", "-W", "2", H2],
            )
            .expect("run ping")
    }

    fn stop(&mut self) -> dataplane::engine::FrameAccounting {
        let engine = self.engine.take().unwrap();
        self.lab
            .in_ns("r", move || engine.stop())
            .unwrap()
            .expect("stop engine")
    }
}

fn print_counters(e: &Engine) {
    let c = e.counters();
    let drops: Vec<_> = c.drops.iter().filter(|(_, v)| **v > 0).collect();
    let engine: Vec<_> = c.engine.iter().filter(|(_, v)| **v > 0).collect();
    let kernel: Vec<_> = c.kernel.iter().filter(|(_, v)| **v > 0).collect();
    eprintln!(
        "rx {} tx {} per worker {:?} drops {drops:?} engine {engine:?} kernel {kernel:?}",
        c.rx, c.tx, c.rx_per_worker
    );
}

#[test]
fn ping_and_tcp_through_engine_encap_and_decap() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // libxdp's default program: independent of ebpf-redirect.
    let mut r = start_with(1, 1, false, |_| {});
    let out = r.ping("5");
    print_counters(r.engine());
    assert!(
        out.status.success(),
        "ping h1 -> h2 failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let c = r.engine().counters();
    // 5 requests encapsulated (LAN -> WAN), 5 replies decapsulated.
    assert!(c.rx >= 10 && c.tx >= 10, "{c:?}");
    // Per port: requests in on one port and out on the other, replies the
    // other way: each of the two ports received and sent at least 5.
    assert_eq!(c.rx_per_port.iter().sum::<u64>(), c.rx, "{c:?}");
    assert_eq!(c.tx_per_port.iter().sum::<u64>(), c.tx, "{c:?}");
    // (Indexed by PortId; this test's ports need not start at 0.)
    assert_eq!(
        c.rx_per_port.iter().filter(|&&n| n >= 5).count(),
        2,
        "{c:?}"
    );
    assert_eq!(
        c.tx_per_port.iter().filter(|&&n| n >= 5).count(),
        2,
        "{c:?}"
    );
    // ... and counted under the behaviours that did it, nothing else.
    assert!(c.behavior(Behavior::HEncaps) >= 5, "{:?}", c.behaviors);
    assert!(c.behavior(Behavior::EndDT6) >= 5, "{:?}", c.behaviors);
    for b in Behavior::ALL {
        if ![Behavior::HEncaps, Behavior::EndDT6].contains(&b) {
            assert_eq!(c.behavior(b), 0, "{b:?}: {:?}", c.behaviors);
        }
    }
    assert_eq!(
        c.behavior(Behavior::HEncaps) + c.behavior(Behavior::EndDT6),
        c.rx - c.total_drops(),
        "every packet ran exactly one behaviour: {c:?}"
    );

    // TCP: 1 MB from h1 to h2 and an echo of its length back.
    tcp_transfer(&r.lab, IpAddr::V6(v6(H2)), 5001, 1 << 20);
    print_counters(r.engine());

    let acc = r.stop();
    eprintln!("{acc:?}");
    assert!(acc.balanced(), "frames leaked: {acc:?}");
    assert_eq!(acc.tx_ring, 0, "{acc:?}");
}

/// An Ethernet frame to the engine's WAN port carrying `ipv6`.
fn to_wan(ipv6: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + ipv6.len());
    f.extend_from_slice(&RWAN_MAC);
    f.extend_from_slice(&KA_MAC);
    f.extend_from_slice(&0x86ddu16.to_be_bytes());
    f.extend_from_slice(ipv6);
    f
}

/// IPv6 header (next header 43) to our End.DT6 SID followed by `ext`.
fn ipv6_with(ext: &[u8], payload_len: u16) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&payload_len.to_be_bytes());
    p.push(43);
    p.push(64);
    p.extend_from_slice(&v6(K_A).octets());
    p.extend_from_slice(&v6(R_DT6).octets());
    p.extend_from_slice(ext);
    p
}

fn expected_drop(fib: &Fib, frame: &[u8]) -> DropReason {
    let mut buf = vec![0u8; 512 + frame.len() - 14];
    buf[512..].copy_from_slice(&frame[14..]);
    let mut pkt = Packet::new(&mut buf, 512, frame.len() - 14).unwrap();
    match process(fib, 0, &mut pkt) {
        Verdict::Drop(r) => r,
        v => panic!("test frame is not dropped but {v:?}"),
    }
}

#[test]
fn malformed_frames_are_counted_while_ping_works() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut r = start(1, 1);
    // Truncated SRH: Hdr Ext Len says 40 octets, 8 are there.
    let truncated = to_wan(&ipv6_with(&[41, 4, 4, 0, 0, 0, 0, 0], 8));
    // Segments Left 5 with Last Entry 0.
    let mut srh = vec![41, 2, 4, 5, 0, 0, 0, 0];
    srh.extend_from_slice(&v6(R_DT6).octets());
    let beyond = to_wan(&ipv6_with(&srh, srh.len() as u16));
    let why_truncated = expected_drop(&r.fib, &truncated);
    let why_beyond = expected_drop(&r.fib, &beyond);
    eprintln!("expected reasons: {why_truncated} / {why_beyond}");
    assert_ne!(why_truncated, why_beyond);

    let sock = r.lab.packet_socket("k", "eth0").expect("packet socket");
    let done = AtomicBool::new(false);
    let sent = std::thread::scope(|s| {
        let sender = s.spawn(|| {
            let mut n = 0u64;
            while !done.load(Ordering::Relaxed) {
                for f in [&truncated, &beyond] {
                    if sock.send(f).is_ok() {
                        n += 1;
                    }
                }
            }
            n
        });
        let out = r.ping("5");
        done.store(true, Ordering::Relaxed);
        let n = sender.join().unwrap();
        assert!(
            out.status.success(),
            "ping failed under malformed load: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        n
    });
    std::thread::sleep(Duration::from_millis(200));
    print_counters(r.engine());
    let c = r.engine().counters();
    let counted = c.drop(why_truncated.name()) + c.drop(why_beyond.name());
    eprintln!("sent {sent} malformed frames, counted {counted}");
    assert!(sent > 1000, "sent only {sent}");
    assert!(c.drop(why_truncated.name()) > 0 && c.drop(why_beyond.name()) > 0);
    // Every malformed frame is counted: by the engine under its reason, or
    // by the kernel when the fill ring was empty (xsk_rx_dropped).
    let lost = c.kernel["xsk_rx_dropped"];
    eprintln!("kernel dropped {lost} (fill ring empty)");
    assert!(
        (counted + lost).abs_diff(sent) <= 10,
        "sent {sent}, engine counted {counted}, kernel dropped {lost}"
    );
    let acc = r.stop();
    assert!(acc.balanced(), "frames leaked: {acc:?}");
}

#[test]
fn frame_accounting_after_traffic() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut r = start(1, 1);
    let out = r.ping("20");
    assert!(out.status.success());
    assert_eq!(r.unresolved.load(Ordering::Relaxed), 0);
    assert_eq!(
        r.engine()
            .counters()
            .engine_drop(EngineDrop::NeighborUnresolved),
        0
    );
    // A new neighbour snapshot without k: requests are dropped as
    // neighbor_unresolved and the resolve hook is called.
    let mut n = neighbors();
    n.remove(WAN, IpAddr::V6(v6(K_A)));
    r.neighbors.store(Arc::new(n));
    let out = r.ping("2");
    assert!(!out.status.success(), "ping must fail without a neighbour");
    let after = r.engine().counters();
    assert!(
        after.engine_drop(EngineDrop::NeighborUnresolved) >= 2,
        "{after:?}"
    );
    assert!(r.unresolved.load(Ordering::Relaxed) >= 2);
    let acc = r.stop();
    eprintln!("{after:?}\n{acc:?}");
    assert!(acc.balanced(), "frames leaked: {acc:?}");
    assert_eq!(acc.tx_ring, 0);
    assert!(acc.total > 0 && acc.free > 0 && acc.fill_ring > 0);
}

#[test]
fn two_queues_two_workers() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // Pinned workers (cores 0 and 1) with busy polling configured.
    let mut r = start_with(2, 2, true, |c| {
        c.cores = vec![0, 1];
        c.busy_poll = true;
    });
    // Many UDP flows (distinct source ports) from h1 to h2.
    let sent = r
        .lab
        .in_ns("h1", || {
            let mut n = 0;
            for port in 0..64u16 {
                let s = UdpSocket::bind(SocketAddr::new(IpAddr::V6(v6(H1)), 20000 + port)).unwrap();
                for _ in 0..4 {
                    if s.send_to(b"hello", SocketAddr::new(IpAddr::V6(v6(H2)), 9))
                        .is_ok()
                    {
                        n += 1;
                    }
                }
            }
            n
        })
        .unwrap();
    let out = r.ping("3");
    std::thread::sleep(Duration::from_millis(200));
    print_counters(r.engine());
    assert!(out.status.success(), "ping with 2 workers failed");
    let c = r.engine().counters();
    eprintln!(
        "sent {sent} UDP datagrams on 64 flows; rx per worker {:?}",
        c.rx_per_worker
    );
    assert_eq!(c.rx_per_worker.len(), 2);
    assert!(
        c.rx_per_worker.iter().all(|&n| n > 0),
        "traffic not spread over both queues: {:?}",
        c.rx_per_worker
    );
    let acc = r.stop();
    assert!(acc.balanced(), "frames leaked: {acc:?}");
}

/// The production steering: ebpf-redirect's program on both ports; NDP
/// and traffic to the router's own addresses reach r's kernel, the rest the
/// engine.
#[test]
fn ping_through_engine_with_ebpf_redirect() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut r = start_with(1, 1, true, |_| {});
    let out = r.ping("5");
    print_counters(r.engine());
    assert!(
        out.status.success(),
        "ping h1 -> h2 failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The router's own address is answered by r's kernel (passed by XDP).
    let own = r
        .lab
        .exec(
            "h1",
            ["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", R_LAN],
        )
        .unwrap();
    assert!(own.status.success(), "ping to r's kernel address failed");
    // IPv4 VPN: engine H.Encaps of IPv4 -> kernel End.DX4; kernel encap ->
    // engine End.DT4 (ARP for the gateway answered by r's kernel).
    let v4 = r
        .lab
        .exec(
            "h1",
            ["ping", "-4", "-c", "3", "-i", "0.2", "-W", "2", H2_4],
        )
        .unwrap();
    print_counters(r.engine());
    assert!(
        v4.status.success(),
        "IPv4 ping h1 -> h2 failed: {}",
        String::from_utf8_lossy(&v4.stdout)
    );
    let c = r.engine().counters();
    assert!(c.rx >= 16 && c.tx >= 16, "{c:?}");
    // Only engine traffic reached the engine: no NDP, no no_route drops.
    assert_eq!(c.total_drops(), 0, "{c:?}");
    let acc = r.stop();
    assert!(acc.balanced(), "frames leaked: {acc:?}");
}

/// A worker that dies (here: a resolve hook that panics) is reported while
/// the engine runs, not only when it is stopped.
#[test]
fn a_dead_worker_is_reported_while_running() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut r = start_with(1, 1, true, |c| {
        c.resolve = Some(Arc::new(|_, _| {
            panic!("resolve hook panics on purpose (test a_dead_worker_is_reported_while_running)")
        }));
    });
    assert!(r.ping("2").status.success());
    assert!(r.engine().failed_workers().is_empty());
    let mut n = neighbors();
    n.remove(WAN, IpAddr::V6(v6(K_A)));
    r.neighbors.store(Arc::new(n));
    let _ = r.ping("1");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while r.engine().failed_workers().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(r.engine().failed_workers(), vec![0]);
    let engine = r.engine.take().unwrap();
    let err = r
        .lab
        .in_ns("r", move || engine.stop())
        .unwrap()
        .expect_err("stop must report the panicked worker");
    assert!(matches!(err, EngineError::WorkerPanicked(0)), "{err:?}");
    // The XDP program is gone even so.
    let links = r.lab.ip("r", ["link", "show"]).unwrap();
    assert!(!links.contains("xdp"), "XDP left attached:\n{links}");
}

/// Starts an engine on r's ports from a thread that first ran `restrict`
/// (which takes something away from that thread only); returns the error.
fn start_restricted(restrict: fn()) -> EngineError {
    let lab = topology(1).build().expect("lab");
    let fib = Arc::new(Published::new(Fib::empty()));
    let neigh = Arc::new(Published::new(NeighborTable::new()));
    let mut cfg = config(1, 1);
    cfg.steering = Steering::None;
    lab.in_ns("r", move || {
        restrict();
        Engine::start(cfg, fib, neigh)
    })
    .unwrap()
    .expect_err("must fail with the thread restricted")
}

/// Makes `socket(AF_XDP, ...)` fail with EAFNOSUPPORT in the calling
/// thread, as on a kernel built without CONFIG_XDP_SOCKETS (a seccomp
/// filter; other threads are not affected).
fn deny_af_xdp_sockets() {
    const AF_XDP: u32 = 44;
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    let insn = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let filter = [
        // A = seccomp_data.nr
        insn(LD_W_ABS, 0, 0, 0),
        insn(JEQ_K, 0, 3, libc::SYS_socket as u32),
        // A = low half of seccomp_data.args[0] (the family)
        insn(LD_W_ABS, 0, 0, 16),
        insn(JEQ_K, 0, 1, AF_XDP),
        insn(RET_K, 0, 0, SECCOMP_RET_ERRNO | libc::EAFNOSUPPORT as u32),
        insn(RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prctl with a valid, live filter program; it applies to this
    // thread only (no SECCOMP_FILTER_FLAG_TSYNC).
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog
            ),
            0,
            "seccomp: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[test]
fn without_af_xdp_the_error_says_so() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let err = start_restricted(deny_af_xdp_sockets);
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(
        matches!(err, EngineError::AfXdpUnsupported { .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("lan") && msg.contains("AF_XDP not supported"),
        "{msg}"
    );
}

#[test]
fn missing_interface_is_named() {
    let fib = Arc::new(Published::new(Fib::empty()));
    let neigh = Arc::new(Published::new(NeighborTable::new()));
    let mut cfg = config(1, 1);
    cfg.ports[1].ifname = "nosuchif0".into();
    cfg.ports.remove(0);
    let err = Engine::start(cfg, fib, neigh).expect_err("must fail");
    assert!(
        matches!(err, EngineError::InterfaceNotFound { port: 2, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("nosuchif0") && msg.contains("port 2"), "{msg}");
}

#[test]
fn too_few_queues_is_named() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = topology(1).build().expect("lab");
    let fib = Arc::new(Published::new(Fib::empty()));
    let neigh = Arc::new(Published::new(NeighborTable::new()));
    let mut cfg = config(2, 2);
    cfg.steering = Steering::None;
    let err = lab
        .in_ns("r", move || Engine::start(cfg, fib, neigh))
        .unwrap()
        .expect_err("1-queue veth with 2 workers must fail");
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(
        matches!(err, EngineError::QueueCountMismatch { .. }),
        "{err:?}"
    );
    assert!(msg.contains("lan"), "{msg}");
}

#[test]
/// The test FIB itself (no root): IPv4 in VRF 1 is encapsulated toward WAN.
fn test_fib_encapsulates_ipv4_vpn() {
    let fib = fib();
    let mut ip = vec![
        0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 1, 0, 1, 10, 3, 0, 2, 8, 0, 0, 0, 0, 0, 0, 0,
    ];
    let mut sum = 0u32;
    for w in ip[..20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    let mut buf = vec![0u8; 512 + ip.len()];
    buf[512..].copy_from_slice(&ip);
    let mut pkt = Packet::new(&mut buf, 512, ip.len()).unwrap();
    let v = process(&fib, 1, &mut pkt);
    assert!(matches!(v, Verdict::Forward { port: WAN, .. }), "{v:?}");
}

/// Drops every capability of the calling thread (capabilities are per
/// thread in Linux), as if the engine ran unprivileged.
fn drop_thread_capabilities() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let header = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset with a valid header and two data structs (version 3).
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
}

#[test]
fn without_capabilities_the_error_says_so() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let err = start_restricted(drop_thread_capabilities);
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, EngineError::Permission { .. }), "{err:?}");
    assert!(msg.contains("lan") && msg.contains("CAP_NET_RAW"), "{msg}");
}

/// Sends `bytes` over TCP from h1 to `dst` in h2 and has h2 echo the count
/// back; panics on any failure.
fn tcp_transfer(lab: &Lab, dst: IpAddr, port: u16, bytes: usize) {
    let listener = lab
        .in_ns("h2", || TcpListener::bind(SocketAddr::new(dst, port)))
        .unwrap()
        .expect("listen in h2");
    std::thread::scope(|s| {
        let server = s.spawn(move || {
            listener.set_nonblocking(true).unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            let mut conn = loop {
                match listener.accept() {
                    Ok((c, _)) => break c,
                    Err(_) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) => panic!("no TCP connection arrived in h2: {e}"),
                }
            };
            conn.set_nonblocking(false).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut got = 0usize;
            let mut buf = vec![0u8; 65536];
            while got < bytes {
                let n = conn.read(&mut buf).expect("read in h2");
                if n == 0 {
                    break;
                }
                got += n;
            }
            conn.write_all(&(got as u64).to_be_bytes()).unwrap();
            got
        });
        let mut client = lab
            .in_ns("h1", || {
                TcpStream::connect_timeout(&SocketAddr::new(dst, port), Duration::from_secs(5))
            })
            .unwrap()
            .expect("connect h1 -> h2 through the engine");
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client.write_all(&vec![0x5au8; bytes]).expect("send");
        let mut echo = [0u8; 8];
        client.read_exact(&mut echo).expect("echo from h2");
        assert_eq!(u64::from_be_bytes(echo) as usize, bytes);
        assert_eq!(server.join().unwrap(), bytes);
    });
}

/// Output of a command in a namespace, stdout and stderr together.
fn run_text(lab: &Lab, ns: &str, argv: &[&str]) -> String {
    let out = lab.exec(ns, argv).expect("run command");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Hosts at the default MTU 1500: a full-sized packet plus the engine's
/// encapsulation does not fit the WAN link (MTU 1500). The engine drops it
/// as `mtu_exceeded` and sends ICMPv6 Packet Too Big / ICMPv4
/// Fragmentation Needed; the hosts' kernels (code we did not write) learn
/// the path MTU from them, and TCP across the overlay works. TTL / Hop
/// Limit 1 gets Time Exceeded from the router's LAN address, as the
/// kernel's ping reports it.
#[test]
fn path_mtu_discovery_and_time_exceeded_with_mtu_1500_hosts() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut r = start_with(1, 1, false, |_| {});
    let lab = &r.lab;
    for ns in ["h1", "h2"] {
        lab.exec_ok(ns, ["ip", "link", "set", "dev", "eth0", "mtu", "1500"])
            .expect("mtu 1500");
    }
    // TCP bigger than one MTU, both families: the first full-sized
    // segment is too big for the WAN; PMTUD (our errors) must fix it.
    tcp_transfer(lab, IpAddr::V6(v6(H2)), 5002, 1 << 20);
    tcp_transfer(lab, IpAddr::V4(H2_4.parse().unwrap()), 5003, 1 << 20);
    let c = r.engine().counters();
    assert!(
        c.icmp("icmp6_packet_too_big") >= 1,
        "TCP/IPv6: {:?}",
        c.icmp
    );
    assert!(c.icmp("icmp4_frag_needed") >= 1, "TCP/IPv4: {:?}", c.icmp);
    // Forget the learned path MTUs: ping learns them again below.
    lab.exec_ok("h1", ["ip", "-6", "route", "flush", "cache"])
        .expect("flush the IPv6 route cache");
    lab.exec_ok("h1", ["ip", "-4", "route", "flush", "cache"])
        .expect("flush the IPv4 route cache");
    let route6 = run_text(lab, "h1", &["ip", "-6", "route", "get", H2]);
    assert!(!route6.contains("mtu"), "{route6}");
    // Policy to h2 (IPv6): 2 SIDs, 40 + 8 + 32 = 80 octets; so 1420.
    let ping6 = run_text(
        lab,
        "h1",
        &[
            "ping", "-6", "-M", "do", "-s", "1400", "-c", "2", "-i", "0.3", "-W", "1", H2,
        ],
    );
    eprintln!("{ping6}");
    let route6 = run_text(lab, "h1", &["ip", "-6", "route", "get", H2]);
    eprintln!("{route6}");
    assert!(
        route6.contains("mtu 1420"),
        "h1's kernel did not learn the path MTU from our Packet Too Big:\n{route6}\n{ping6}"
    );
    assert!(
        ping6.contains("mtu=1420") || ping6.contains("mtu = 1420"),
        "{ping6}"
    );
    // IPv4 policy: 1 SID, 40 + 8 + 16 = 64 octets; so 1436.
    let ping4 = run_text(
        lab,
        "h1",
        &[
            "ping", "-4", "-M", "do", "-s", "1450", "-c", "2", "-i", "0.3", "-W", "1", H2_4,
        ],
    );
    eprintln!("{ping4}");
    let route4 = run_text(lab, "h1", &["ip", "-4", "route", "get", H2_4]);
    eprintln!("{route4}");
    assert!(
        route4.contains("mtu 1436"),
        "h1's kernel did not learn the path MTU from our Fragmentation Needed:\n{route4}\n{ping4}"
    );
    // Time Exceeded for TTL / Hop Limit 1, from the router's LAN address.
    let te6 = run_text(
        lab,
        "h1",
        &["ping", "-6", "-t", "1", "-c", "1", "-W", "1", H2],
    );
    assert!(
        te6.contains(&format!("From {R_LAN}")) && te6.contains("Time exceeded"),
        "{te6}"
    );
    let te4 = run_text(
        lab,
        "h1",
        &["ping", "-4", "-t", "1", "-c", "1", "-W", "1", H2_4],
    );
    assert!(
        te4.contains(&format!("From {R_LAN_4}")) && te4.contains("Time to live exceeded"),
        "{te4}"
    );
    print_counters(r.engine());
    let c = r.engine().counters();
    eprintln!("icmp {:?}", c.icmp);
    assert!(c.drop("mtu_exceeded") >= 4, "{:?}", c.drops);
    assert!(c.icmp("icmp6_packet_too_big") >= 2, "{:?}", c.icmp);
    assert!(c.icmp("icmp4_frag_needed") >= 2, "{:?}", c.icmp);
    assert!(c.icmp("icmp6_time_exceeded") >= 1, "{:?}", c.icmp);
    assert!(c.icmp("icmp4_time_exceeded") >= 1, "{:?}", c.icmp);
    let acc = r.stop();
    assert!(acc.balanced(), "frames leaked: {acc:?}");
}

/// `router.tcp_mss_clamp = "auto"` with hosts at MTU 1500: the SYN
/// entering the overlay and the SYN-ACK leaving it get an MSS that makes
/// every segment fit the WAN once encapsulated, so TCP needs no Packet Too
/// Big at all (none is sent, nothing exceeds the MTU).
#[test]
fn tcp_mss_clamping_avoids_packet_too_big() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut r = start_with(1, 1, false, |_| {});
    let mut b = fib_builder();
    b.set_tcp_mss_clamp(Some(dataplane::behavior::MssClamp::Auto));
    r.fib_published.store(Arc::new(b.build().unwrap()));
    let lab = &r.lab;
    for ns in ["h1", "h2"] {
        lab.exec_ok(ns, ["ip", "link", "set", "dev", "eth0", "mtu", "1500"])
            .expect("mtu 1500");
    }
    tcp_transfer(lab, IpAddr::V6(v6(H2)), 5004, 1 << 20);
    tcp_transfer(lab, IpAddr::V4(H2_4.parse().unwrap()), 5005, 1 << 20);
    print_counters(r.engine());
    let c = r.engine().counters();
    assert_eq!(c.drop("mtu_exceeded"), 0, "{:?}", c.drops);
    assert_eq!(c.icmp("icmp6_packet_too_big"), 0, "{:?}", c.icmp);
    assert_eq!(c.icmp("icmp4_frag_needed"), 0, "{:?}", c.icmp);
    // Two connections: each SYN entering and each SYN-ACK leaving.
    assert!(c.tcp_mss_clamped >= 4, "{}", c.tcp_mss_clamped);
    let route6 = run_text(lab, "h1", &["ip", "-6", "route", "get", H2]);
    assert!(!route6.contains("mtu"), "no PMTU was learnt: {route6}");
    let acc = r.stop();
    assert!(acc.balanced(), "frames leaked: {acc:?}");
}

/// The ICMP rate limit: with one error a second (burst 1), a quick run of
/// Hop Limit 1 pings gets few Time Exceeded; the rest are counted as
/// rate limited, none lost from the counters.
#[test]
fn icmp_errors_are_rate_limited() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut r = start_with(1, 1, false, |c| {
        c.icmp_rate = 1;
        c.icmp_burst = 1;
    });
    let out = run_text(
        &r.lab,
        "h1",
        &[
            "ping", "-6", "-t", "1", "-c", "6", "-i", "0.2", "-W", "1", H2,
        ],
    );
    let c = r.engine().counters();
    let (sent, limited) = (c.icmp("icmp6_time_exceeded"), c.icmp("icmp_rate_limited"));
    eprintln!("{out}\nsent {sent} limited {limited}");
    assert_eq!(c.drop("hop_limit_exceeded"), 6, "{:?}", c.drops);
    assert_eq!(sent + limited, 6, "{:?}", c.icmp);
    assert!(sent >= 1 && limited >= 1, "{:?}", c.icmp);
    // The pings that got an error are exactly those the kernel reports.
    assert_eq!(out.matches("Time exceeded").count() as u64, sent, "{out}");
    // While a TTL-1 flood (100/s) spends every Time Exceeded token the
    // moment it appears, a packet too big for the WAN still gets its Packet
    // Too Big: path-MTU errors have a budget of their own (a TTL-1 flood
    // must not stall PMTUD and TCP across the overlay).
    for ns in ["h1", "h2"] {
        r.lab
            .exec_ok(ns, ["ip", "link", "set", "dev", "eth0", "mtu", "1500"])
            .expect("mtu 1500");
    }
    let mut flood = r
        .lab
        .command(
            "h1",
            ["ping", "-6", "-q", "-t", "1", "-i", "0.01", "-c", "200", H2],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the TTL-1 flood");
    std::thread::sleep(Duration::from_millis(700));
    let big = run_text(
        &r.lab,
        "h1",
        &[
            "ping", "-6", "-M", "do", "-s", "1400", "-c", "1", "-W", "1", H2,
        ],
    );
    let _ = flood.wait();
    let c = r.engine().counters();
    assert_eq!(c.icmp("icmp6_packet_too_big"), 1, "{big}\n{:?}", c.icmp);
    assert!(
        c.icmp("icmp_rate_limited") > limited + 100,
        "the flood did not spend the budget: {:?}",
        c.icmp
    );
    let route6 = run_text(&r.lab, "h1", &["ip", "-6", "route", "get", H2]);
    assert!(route6.contains("mtu 1420"), "{route6}\n{big}");
    let acc = r.stop();
    assert!(acc.balanced(), "frames leaked: {acc:?}");
}
