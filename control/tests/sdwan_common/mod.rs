//! The two-site SD-WAN shared by the `make run` demo
//! (`control/examples/sdwan_demo.rs`) and its namespace tests
//! (`control/tests/sdwan.rs`): topology, srv6d configurations, the srv6d
//! process guard, and the traffic checks (ping, TCP transfer, capture).
//!
//! ```text
//!  h1  eth0 ---- lan-blue \                                          / lan-blue ---- eth0 h2
//!  (blue)                  [edge1: srv6d] wan0 -- eth1 [wan] eth2 -- wan0 [edge2: srv6d]     (blue)
//!  h1r eth0 ---- lan-red  /      fc00:0:1::/48    plain IPv6 router   fc00:0:2::/48  \ lan-red  ---- eth0 h2r
//!  (red)                                                                                       (red)
//! ```
//!
//! Site 1 is 10.1.0.0/24 and 2001:db8:1::/64, site 2 10.2.0.0/24 and
//! 2001:db8:2::/64, in VRF blue. VRF red reuses the same IPv4 prefixes (h1r
//! has h1's address, h2r h2's): only the VRF tells them apart. Each edge has
//! End.DT4 and End.DT6 SIDs per VRF in its locator and policies toward the
//! other edge's SIDs; the WAN namespace only routes the two locators.

// Each includer uses a different subset of this module.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use lab::{Lab, PacketSocket, Route, Topology, VethEnd};

/// MTU of the host links: the default, 1500, like the WAN's. A full-sized
/// packet plus the encapsulation (40 + 24 octets with one SID) does not fit
/// the WAN: the edge drops it (`mtu_exceeded`) and answers ICMPv6 Packet
/// Too Big / ICMPv4 Fragmentation Needed, and the hosts' path-MTU
/// discovery lowers their packets (docs/decisions/0006-icmp-errors.md).
pub const SITE_MTU: u32 = 1500;

/// One host: its namespace and addresses.
pub struct Host {
    pub ns: &'static str,
    pub vrf: &'static str,
    pub v4: &'static str,
    pub v6: Option<&'static str>,
    pub edge: &'static str,
    pub port: &'static str,
}

pub const H1: Host = Host {
    ns: "h1",
    vrf: "blue",
    v4: "10.1.0.10",
    v6: Some("2001:db8:1::10"),
    edge: "edge1",
    port: "lan-blue",
};
pub const H2: Host = Host {
    ns: "h2",
    vrf: "blue",
    v4: "10.2.0.10",
    v6: Some("2001:db8:2::10"),
    edge: "edge2",
    port: "lan-blue",
};
pub const H1R: Host = Host {
    ns: "h1r",
    vrf: "red",
    v4: "10.1.0.10",
    v6: None,
    edge: "edge1",
    port: "lan-red",
};
pub const H2R: Host = Host {
    ns: "h2r",
    vrf: "red",
    v4: "10.2.0.10",
    v6: None,
    edge: "edge2",
    port: "lan-red",
};

/// Edge `n` (1 or 2): namespace, WAN address, the WAN router's address on
/// that link, locator.
pub fn edge_ns(n: u8) -> &'static str {
    if n == 1 {
        "edge1"
    } else {
        "edge2"
    }
}
pub fn edge_wan_addr(n: u8) -> String {
    format!("2001:db8:f{n}::1")
}
pub fn wan_router_addr(n: u8) -> String {
    format!("2001:db8:f{n}::2")
}
pub fn locator(n: u8) -> String {
    format!("fc00:0:{n}::/48")
}

/// The namespaces, links and addresses. The edges' LAN ports carry the
/// hosts' gateway addresses as kernel addresses: the edge's kernel answers
/// ARP/NDP and pings to them (srv6d's XDP program passes those up), and
/// srv6d's neighbour monitor learns the hosts from the kernel's table.
/// Edges have forwarding off: whatever is routed between the sites is
/// routed by srv6d or not at all. `wan` forwards IPv6 and knows nothing of
/// SRv6 or the sites.
pub fn topology(prefix: &str) -> Result<Lab, lab::Error> {
    let host_link = |host: &Host| {
        (
            VethEnd::new(host.ns, "eth0").mtu(SITE_MTU),
            VethEnd::new(host.edge, host.port).mtu(SITE_MTU),
        )
    };
    let mut t = Topology::new()
        .prefix(prefix)
        .namespaces(&["h1", "h1r", "edge1", "wan", "edge2", "h2", "h2r"]);
    for host in [&H1, &H1R, &H2, &H2R] {
        let (a, b) = host_link(host);
        t = t.veth(a, b);
    }
    t = t
        .link(("edge1", "wan0"), ("wan", "eth1"))
        .link(("wan", "eth2"), ("edge2", "wan0"))
        .sysctl("wan", "net.ipv6.conf.all.forwarding", "1");
    for n in [1u8, 2] {
        let edge = edge_ns(n);
        t = t
            .addr(edge, "wan0", &format!("{}/64", edge_wan_addr(n)))
            .addr(
                "wan",
                &format!("eth{n}"),
                &format!("{}/64", wan_router_addr(n)),
            )
            .route("wan", Route::to(&locator(n)).via(&edge_wan_addr(n)))
            .addr(edge, "lan-blue", &format!("10.{n}.0.1/24"))
            .addr(edge, "lan-blue", &format!("2001:db8:{n}::1/64"));
    }
    for host in [&H1, &H1R, &H2, &H2R] {
        let site = &host.edge[4..];
        t = t.addr(host.ns, "eth0", &format!("{}/24", host.v4)).route(
            host.ns,
            Route::to("0.0.0.0/0").via(&format!("10.{site}.0.1")),
        );
        if let Some(v6) = host.v6 {
            t = t.addr(host.ns, "eth0", &format!("{v6}/64")).route(
                host.ns,
                Route::to("::/0").via(&format!("2001:db8:{site}::1")),
            );
        }
    }
    let lab = t.build()?;
    for n in [1u8, 2] {
        // Red's gateway is the same address as blue's (overlapping
        // prefixes), on lan-red. Without a VRF device the edge's kernel has
        // one table, so the address gets no prefix route: the kernel answers
        // ARP for it on lan-red, and routes its own replies toward blue.
        lab.ip(
            edge_ns(n),
            [
                "addr",
                "add",
                &format!("10.{n}.0.1/24"),
                "dev",
                "lan-red",
                "noprefixroute",
            ],
        )?;
    }
    // Veth checksum offload: TCP/UDP that a host's kernel sends on a veth
    // carries a partial checksum, normally completed by whoever forwards it
    // in software. These frames go through srv6d's AF_XDP path instead of
    // the kernel, and nothing completes the checksum, so the receiver would
    // drop every segment. Hosts therefore compute full checksums themselves.
    for host in [&H1, &H1R, &H2, &H2R] {
        lab.exec_ok(host.ns, ["ethtool", "-K", "eth0", "tx", "off"])?;
    }
    Ok(lab)
}

/// Lets the kernels learn their neighbours before srv6d starts: each blue
/// host pings its gateway (the edge learns the host, the host the edge),
/// each edge pings the WAN router (and the WAN router learns the edge).
/// Red hosts are learnt when they first ARP for their gateway, or when
/// srv6d asks the kernel to resolve them (the first packets are then
/// dropped as `neighbor_unresolved`).
pub fn prime_neighbours(lab: &Lab) -> Result<(), String> {
    for host in [&H1, &H2] {
        let site = &host.edge[4..];
        for gw in [format!("10.{site}.0.1"), format!("2001:db8:{site}::1")] {
            ping(lab, host.ns, &gw, 1, 0)
                .ok_or_else(|| format!("{} cannot ping its gateway {gw}", host.ns))?;
        }
    }
    for n in [1u8, 2] {
        ping(lab, edge_ns(n), &wan_router_addr(n), 1, 0)
            .ok_or_else(|| format!("{} cannot ping the WAN router", edge_ns(n)))?;
    }
    Ok(())
}

/// Policy mode of every policy in [`edge_config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// H.Encaps: an SRH with the one SID.
    Encap,
    /// H.Encaps.Red: one SID, so no SRH at all (plain IPv6-in-IPv6).
    EncapRed,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Encap => "encap",
            Mode::EncapRed => "encap.red",
        }
    }
}

/// srv6d's configuration for edge `n` (1 or 2): blue policies in
/// `blue_mode`, red policies in `red_mode`.
pub fn edge_config(n: u8, blue_mode: Mode, red_mode: Mode) -> String {
    let r = 3 - n;
    let blue = blue_mode.as_str();
    let red = red_mode.as_str();
    format!(
        r#"# srv6d configuration of edge{n} (generated by the SD-WAN demo)
[[port]]
name = "wan0"
role = "wan"

[[port]]
name = "lan-blue"
role = "lan"
vrf = "blue"

[[port]]
name = "lan-red"
role = "lan"
vrf = "red"

[[vrf]]
name = "blue"
id = 100

[[vrf]]
name = "red"
id = 200

[router]
source = "fc00:0:{n}::1"

# Local SIDs in the locator fc00:0:{n}::/48.
[[sid]]
sid = "fc00:0:{n}::100"
behavior = "end.dt4"
vrf = "blue"

[[sid]]
sid = "fc00:0:{n}::101"
behavior = "end.dt6"
vrf = "blue"

[[sid]]
sid = "fc00:0:{n}::200"
behavior = "end.dt4"
vrf = "red"

# Policies toward edge{r}'s SIDs.
[[policy]]
name = "blue-v4"
mode = "{blue}"
segments = ["fc00:0:{r}::100"]

[[policy]]
name = "blue-v6"
mode = "{blue}"
segments = ["fc00:0:{r}::101"]

[[policy]]
name = "red-v4"
mode = "{red}"
segments = ["fc00:0:{r}::200"]

# Underlay: edge{r}'s locator via the WAN router.
[[route]]
vrf = "underlay"
prefix = "fc00:0:{r}::/48"
nexthop = "2001:db8:f{n}::2"
port = "wan0"

[[route]]
vrf = "blue"
prefix = "10.{n}.0.0/24"
nexthop = "on-link"
port = "lan-blue"

[[route]]
vrf = "blue"
prefix = "2001:db8:{n}::/64"
nexthop = "on-link"
port = "lan-blue"

[[route]]
vrf = "blue"
prefix = "10.{r}.0.0/24"
policy = "blue-v4"

[[route]]
vrf = "blue"
prefix = "2001:db8:{r}::/64"
policy = "blue-v6"

# Red: the same IPv4 prefixes as blue, in its own table.
[[route]]
vrf = "red"
prefix = "10.{n}.0.0/24"
nexthop = "on-link"
port = "lan-red"

[[route]]
vrf = "red"
prefix = "10.{r}.0.0/24"
policy = "red-v4"
"#
    )
}

/// A running `srv6d run`, killed when dropped (also on panic).
pub struct Srv6d {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Srv6d {
    /// Starts `bin run --config config` in `ns`, stderr to `log`, and waits
    /// until it says it is running.
    pub fn start(
        lab: &Lab,
        ns: &str,
        bin: &Path,
        config: &Path,
        log: PathBuf,
    ) -> Result<Srv6d, String> {
        Self::start_with(lab, ns, bin, config, log, &[])
    }

    /// [`Srv6d::start`] with more `srv6d run` arguments.
    pub fn start_with(
        lab: &Lab,
        ns: &str,
        bin: &Path,
        config: &Path,
        log: PathBuf,
        extra: &[&std::ffi::OsStr],
    ) -> Result<Srv6d, String> {
        let mut cmd = lab.command(
            ns,
            [
                bin.as_os_str(),
                "run".as_ref(),
                "--config".as_ref(),
                config.as_os_str(),
                "--stats-interval".as_ref(),
                "0".as_ref(),
                // Two busy-polling edges would take both cores of a small
                // machine from everything else (the hosts, the kernel).
                "--idle".as_ref(),
                "sleep".as_ref(),
            ],
        );
        cmd.args(extra);
        let file = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(file);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let srv6d = Srv6d {
            name: ns.to_string(),
            child,
            log,
        };
        if !srv6d.wait_log("srv6d running", 1, Duration::from_secs(10)) {
            return Err(format!(
                "srv6d in {ns} did not start; its log:\n{}",
                srv6d.log()
            ));
        }
        Ok(srv6d)
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Waits until `needle` occurs at least `times` times in the log.
    pub fn wait_log(&self, needle: &str, times: usize, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().matches(needle).count() >= times {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own, not yet reaped, child's pid.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Rewrites nothing: sends SIGHUP and waits for the reload to be logged.
    pub fn reload(&self) -> Result<(), String> {
        let before = self.log().matches("configuration reloaded").count();
        self.signal(libc::SIGHUP);
        if self.wait_log("configuration reloaded", before + 1, Duration::from_secs(5)) {
            Ok(())
        } else {
            Err(format!(
                "srv6d in {} did not log a reload; its log:\n{}",
                self.name,
                self.log()
            ))
        }
    }

    /// SIGTERM, then waits (10 s at most) for it to exit.
    pub fn stop(mut self) -> Result<Stopped, String> {
        self.signal(libc::SIGTERM);
        let start = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    let log = self.log();
                    return Ok(Stopped::parse(&self.name, status, log));
                }
                Ok(None) => {}
                Err(e) => return Err(format!("waiting for srv6d in {}: {e}", self.name)),
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!(
                    "srv6d in {} did not stop on SIGTERM; its log:\n{}",
                    self.name,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Srv6d {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What an srv6d said when it stopped.
pub struct Stopped {
    pub name: String,
    pub status: ExitStatus,
    pub log: String,
    /// `rx=.. tx=.. drops: ..` from the "final counters" line.
    pub counters: String,
    /// `total=.. accounted=..` from the "UMEM frames at shutdown" line.
    pub frames: String,
}

impl Stopped {
    fn parse(name: &str, status: ExitStatus, log: String) -> Stopped {
        let after = |needle: &str| {
            log.lines()
                .find_map(|l| {
                    l.split_once(needle)
                        .map(|(_, rest)| rest.trim().to_string())
                })
                .unwrap_or_default()
        };
        let counters = after("final counters:");
        let frames = log
            .lines()
            .find(|l| l.contains("UMEM frames at shutdown"))
            .map(|l| {
                l.split_whitespace()
                    .filter(|w| w.starts_with("total=") || w.starts_with("accounted="))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        Stopped {
            name: name.to_string(),
            status,
            log,
            counters,
            frames,
        }
    }

    /// A `key=N` value of the counters line (0 when absent).
    pub fn counter(&self, key: &str) -> u64 {
        self.counters
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Exited 0 with every UMEM frame accounted for.
    pub fn clean(&self) -> bool {
        let value = |key: &str| {
            self.frames
                .split_whitespace()
                .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_string)
        };
        self.status.success() && value("total").is_some() && value("total") == value("accounted")
    }
}

/// A ping's outcome: replies received of sent, average RTT in ms.
#[derive(Debug, Clone, Copy)]
pub struct PingResult {
    pub sent: u32,
    pub received: u32,
    pub avg_ms: f64,
}

/// `ping -c count -s size` from `ns` to `dst` (the family from the
/// address; `size` 0: the default). `None` when no reply came back.
pub fn ping(lab: &Lab, ns: &str, dst: &str, count: u32, size: u32) -> Option<PingResult> {
    let family = if dst.contains(':') { "-6" } else { "-4" };
    let count_arg = count.to_string();
    let mut args = vec![
        "ping", family, "-n", "-q", "-c", &count_arg, "-i", "0.2", "-W", "1",
    ];
    let size_arg = size.to_string();
    if size > 0 {
        args.extend(["-s", &size_arg]);
    }
    args.push(dst);
    let out = lab.exec(ns, args).ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let received = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|w| w.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let avg_ms = text
        .lines()
        .find(|l| l.starts_with("rtt"))
        .and_then(|l| l.split(" = ").nth(1))
        .and_then(|v| v.split('/').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    (received > 0).then_some(PingResult {
        sent: count,
        received,
        avg_ms,
    })
}

/// Throughput of a TCP transfer in each direction, Mbit/s.
#[derive(Debug, Clone, Copy)]
pub struct TcpResult {
    pub bytes: usize,
    pub up_mbps: f64,
    pub down_mbps: f64,
}

/// The byte at offset `i` of a transfer: a pattern that a lost, duplicated
/// or reordered segment would break.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 11)) as u8
}

fn verify_stream(stream: &mut TcpStream, bytes: usize) -> Result<(), String> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0usize;
    loop {
        let n = stream.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        for (k, b) in buf[..n].iter().enumerate() {
            if *b != pattern(got + k) {
                return Err(format!("byte {} corrupted", got + k));
            }
        }
        got += n;
        if got > bytes {
            return Err(format!("{got} bytes received, expected {bytes}"));
        }
    }
    if got == bytes {
        Ok(())
    } else {
        Err(format!("{got} bytes received, expected {bytes}"))
    }
}

fn send_stream(stream: &mut TcpStream, bytes: usize) -> Result<(), String> {
    let data: Vec<u8> = (0..bytes).map(pattern).collect();
    stream.write_all(&data).map_err(|e| format!("write: {e}"))?;
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| format!("shutdown: {e}"))
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 * 8.0 / d.as_secs_f64().max(1e-6) / 1e6
}

/// A TCP transfer of `bytes` from `client_ns` to a listener on `server`
/// (port 5001) in `server_ns`, then `bytes` back; both sides check every
/// byte. Sockets are created inside the namespaces with [`Lab::in_ns`]; the
/// whole exchange is bounded by 10 s socket timeouts.
pub fn tcp_transfer(
    lab: &Lab,
    client_ns: &str,
    server_ns: &str,
    server: IpAddr,
    bytes: usize,
) -> Result<TcpResult, String> {
    let addr = SocketAddr::new(server, 5001);
    let timeout = Duration::from_secs(10);
    let listener = lab
        .in_ns(server_ns, || TcpListener::bind(addr))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("listen on {addr} in {server_ns}: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("listener: {e}"))?;
    std::thread::scope(|scope| {
        let server_side = scope.spawn(move || -> Result<(Instant, Instant), String> {
            let deadline = Instant::now() + timeout;
            let mut stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if Instant::now() > deadline {
                            return Err("no connection accepted".into());
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => return Err(format!("accept: {e}")),
                }
            };
            stream.set_nonblocking(false).map_err(|e| e.to_string())?;
            stream
                .set_read_timeout(Some(timeout))
                .map_err(|e| e.to_string())?;
            stream
                .set_write_timeout(Some(timeout))
                .map_err(|e| e.to_string())?;
            verify_stream(&mut stream, bytes).map_err(|e| format!("server: {e}"))?;
            let up_done = Instant::now();
            send_stream(&mut stream, bytes).map_err(|e| format!("server: {e}"))?;
            Ok((up_done, Instant::now()))
        });
        let client_side = || -> Result<(Instant, Instant), String> {
            let mut stream = lab
                .in_ns(client_ns, || TcpStream::connect_timeout(&addr, timeout))
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("connect to {addr} from {client_ns}: {e}"))?;
            stream
                .set_read_timeout(Some(timeout))
                .map_err(|e| e.to_string())?;
            stream
                .set_write_timeout(Some(timeout))
                .map_err(|e| e.to_string())?;
            let start = Instant::now();
            send_stream(&mut stream, bytes).map_err(|e| format!("client: {e}"))?;
            verify_stream(&mut stream, bytes).map_err(|e| format!("client: {e}"))?;
            Ok((start, Instant::now()))
        };
        let client = client_side();
        let server = server_side
            .join()
            .unwrap_or_else(|_| Err("server thread panicked".into()));
        let (start, down_done) = client?;
        let (up_done, _) = server?;
        Ok(TcpResult {
            bytes,
            up_mbps: mbps(bytes, up_done.saturating_duration_since(start)),
            down_mbps: mbps(bytes, down_done.saturating_duration_since(up_done)),
        })
    })
}

/// Counts IPv4 frames to `dst` arriving at a host while it runs.
pub struct Capture {
    socket: PacketSocket,
    dst: [u8; 4],
}

impl Capture {
    /// Starts capturing on `ns`'s eth0.
    pub fn start(lab: &Lab, ns: &str, dst: &str) -> Result<Capture, String> {
        let dst: std::net::Ipv4Addr = dst.parse().map_err(|e| format!("{dst}: {e}"))?;
        let socket = lab.packet_socket(ns, "eth0").map_err(|e| e.to_string())?;
        Ok(Capture {
            socket,
            dst: dst.octets(),
        })
    }

    /// IPv4 frames to the address received since the start whose IPv4
    /// total length is `ip_len` (0: any).
    pub fn count(&self, ip_len: u16) -> usize {
        let mut n = 0;
        while let Some(f) = self.socket.recv_timeout(Duration::from_millis(20)) {
            if f.len() >= 34
                && f[12..14] == [0x08, 0x00]
                && f[30..34] == self.dst
                && (ip_len == 0 || u16::from_be_bytes([f[16], f[17]]) == ip_len)
            {
                n += 1;
            }
        }
        n
    }
}

/// `ip6tables` packet counter of the first FORWARD rule in `ns`.
pub fn forward_rule_packets(lab: &Lab, ns: &str) -> Option<u64> {
    let out = lab
        .exec(ns, ["ip6tables", "-L", "FORWARD", "-v", "-n", "-x"])
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().nth(2)?.split_whitespace().next()?.parse().ok()
}

/// Serialises the tests and demo runs of this SD-WAN on one machine: each
/// runs two busy-polling srv6d processes, and two at once on a 2-core
/// machine would starve each other. Held until dropped.
pub struct RunLock(fs::File);

impl RunLock {
    pub fn acquire() -> std::io::Result<RunLock> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open("/tmp/srv6d-sdwan.lock")?;
        // SAFETY: flock on an open fd we own.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(RunLock(file))
    }
}
