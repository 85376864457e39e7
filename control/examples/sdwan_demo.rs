//! `make run`: the srv6d SD-WAN demo.
//!
//! Two sites, each a host namespace behind an srv6d edge; the edges joined
//! through a WAN namespace that is a plain IPv6 router (no SRv6 at all); an
//! IPv4 VPN (End.DT4) and an IPv6 VPN (End.DT6) in VRF blue between the
//! sites, and a second VRF, red, whose IPv4 prefixes overlap blue's. It pings
//! and runs TCP transfers across the VPNs, checks that red and blue never
//! mix, prints a summary (what it built, one PASS/FAIL line per check, each
//! edge's counters) and tears everything down. Exit status 0 when every
//! check passed, 1 otherwise (or when not root, or srv6d is missing).
//!
//! The srv6d binary is `$SRV6D_BIN`, by default `target/release/srv6d` (under
//! `$CARGO_TARGET_DIR` when set); `make run` builds it first.
//!
//! Topology, configurations and checks are shared with the namespace tests
//! in `control/tests/sdwan.rs`.

#[path = "../tests/sdwan_common/mod.rs"]
mod sdwan_common;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use sdwan_common::{
    edge_config, forward_rule_packets, ping, prime_neighbours, tcp_transfer, topology, Capture,
    Host, Mode, RunLock, Srv6d, Stopped, H1, H1R, H2, H2R, SITE_MTU,
};

/// Bytes sent each way by every TCP check.
const TCP_BYTES: usize = 1 << 20;

fn srv6d_bin() -> Result<PathBuf, String> {
    let path = match std::env::var_os("SRV6D_BIN") {
        Some(p) => PathBuf::from(p),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
            target.join("release/srv6d")
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "srv6d binary not found at {}; build it with \
             `cargo build --release -p control --bin srv6d` (or run `make run`), \
             or point SRV6D_BIN at it",
            path.display()
        ))
    }
}

/// One check's outcome.
struct Check {
    name: String,
    pass: bool,
    detail: String,
}

#[derive(Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn add(&mut self, name: impl Into<String>, pass: bool, detail: impl Into<String>) {
        let check = Check {
            name: name.into(),
            pass,
            detail: detail.into(),
        };
        println!(
            "  [{}] {:>2}. {:<60} {}",
            if check.pass { "PASS" } else { "FAIL" },
            self.0.len() + 1,
            check.name,
            check.detail
        );
        self.0.push(check);
    }

    fn passed(&self) -> usize {
        self.0.iter().filter(|c| c.pass).count()
    }
}

fn ping_check(checks: &mut Checks, lab: &lab::Lab, what: &str, from: &Host, dst: &str, size: u32) {
    let name = format!("{what} ping {} -> {dst}", from.ns);
    match ping(lab, from.ns, dst, 5, size) {
        Some(p) if p.received + 1 >= p.sent => checks.add(
            name,
            true,
            format!(
                "{}/{} replies, avg rtt {:.3} ms",
                p.received, p.sent, p.avg_ms
            ),
        ),
        Some(p) => checks.add(
            name,
            false,
            format!("only {}/{} replies", p.received, p.sent),
        ),
        None => checks.add(name, false, "no reply"),
    }
}

fn tcp_check(checks: &mut Checks, lab: &lab::Lab, what: &str, from: &Host, to: &Host, dst: &str) {
    let name = format!("{what} TCP 1 MiB each way {} <-> {dst}", from.ns);
    match tcp_transfer(
        lab,
        from.ns,
        to.ns,
        dst.parse().expect("address"),
        TCP_BYTES,
    ) {
        Ok(r) => checks.add(
            name,
            true,
            format!(
                "intact; {:.0} Mbit/s up, {:.0} Mbit/s down",
                r.up_mbps, r.down_mbps
            ),
        ),
        Err(e) => checks.add(name, false, e),
    }
}

fn print_topology(lab: &lab::Lab) {
    println!("Topology (network namespaces; site links MTU {SITE_MTU}, WAN links 1500):");
    let left_blue = "  h1  [blue] 10.1.0.10/24 2001:db8:1::10/64 -- lan-blue \\";
    let left_red = "  h1r [red]  10.1.0.10/24                   -- lan-red  /";
    let middle = " edge1 wan0 -- wan -- wan0 edge2 ";
    let gap = " ".repeat(middle.len());
    println!("{left_blue}{gap}/ lan-blue -- h2  [blue] 10.2.0.10/24 2001:db8:2::10/64");
    println!("{}{}", " ".repeat(left_blue.len()), middle.trim_end());
    println!("{left_red}{gap}\\ lan-red  -- h2r [red]  10.2.0.10/24");
    println!(
        "  edge1: srv6d, locator fc00:0:1::/48, wan0 2001:db8:f1::1/64; \
         gateways 10.1.0.1 2001:db8:1::1 (kernel addresses)"
    );
    println!(
        "  edge2: srv6d, locator fc00:0:2::/48, wan0 2001:db8:f2::1/64; \
         gateways 10.2.0.1 2001:db8:2::1 (kernel addresses)"
    );
    println!(
        "  wan:   plain IPv6 router (kernel forwarding, no SRv6): \
         fc00:0:1::/48 via edge1, fc00:0:2::/48 via edge2"
    );
    let names: Vec<String> = lab
        .namespaces()
        .map(|(logical, real)| format!("{logical}={real}"))
        .collect();
    println!("  namespaces: {}", names.join(" "));
}

/// `srv6d check` of the file, abbreviated: its verdict, SIDs, policies and
/// routes (ports and VRFs are the same on both edges and shown above).
fn check_summary(bin: &Path, config: &Path) -> Result<String, String> {
    let out = std::process::Command::new(bin)
        .args(["check", "--config"])
        .arg(config)
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "srv6d check rejected {}:\n{}",
            config.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut s = String::new();
    let mut keep = true;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if !line.starts_with(' ') {
            keep = s.is_empty()
                || ["SIDs", "policies", "routes"]
                    .iter()
                    .any(|k| line.starts_with(k));
        }
        // Policy detail lines (source, flow label, first hop) are indented deeper.
        if keep && !line.starts_with("      ") {
            let _ = writeln!(s, "    {line}");
        }
    }
    Ok(s)
}

fn print_stopped(s: &Stopped) {
    println!(
        "  {}: {} ({})",
        s.name,
        if s.counters.is_empty() {
            "no final counters logged"
        } else {
            &s.counters
        },
        if s.status.success() {
            "clean exit"
        } else {
            "FAILED exit"
        }
    );
    println!(
        "  {}: UMEM frames at shutdown {}",
        s.name,
        if s.frames.is_empty() {
            "not logged"
        } else {
            &s.frames
        }
    );
}

fn main() -> ExitCode {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "the SD-WAN demo needs root: it creates network namespaces and runs srv6d, \
             which attaches XDP programs and opens AF_XDP sockets. Run `sudo make run`."
        );
        return ExitCode::FAILURE;
    }
    let bin = match srv6d_bin() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("sdwan_demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&bin) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("sdwan_demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(bin: &Path) -> Result<bool, String> {
    let started = Instant::now();
    let _lock = RunLock::acquire().map_err(|e| format!("demo lock: {e}"))?;
    println!("== srv6d SD-WAN demo: two sites, two srv6d edges, a plain IPv6 WAN ==");
    println!("srv6d: {}", bin.display());
    println!();

    let dir = std::env::temp_dir().join(format!("srv6d-demo-{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = run_in(bin, &dir, started);
    let _ = fs::remove_dir_all(&dir);
    result
}

fn run_in(bin: &Path, dir: &Path, started: Instant) -> Result<bool, String> {
    let lab = topology("s6demo").map_err(|e| format!("building the namespaces: {e}"))?;
    print_topology(&lab);
    println!();

    // Blue: H.Encaps (an SRH with the egress SID); red: H.Encaps.Red (one SID,
    // no SRH). The WAN forwards both without knowing SRv6.
    let mut configs = Vec::new();
    for n in [1u8, 2] {
        let path = dir.join(format!("edge{n}.toml"));
        fs::write(&path, edge_config(n, Mode::Encap, Mode::EncapRed))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        println!("edge{n} configuration ({}), `srv6d check`:", path.display());
        print!("{}", check_summary(bin, &path)?);
        configs.push(path);
    }
    println!();

    prime_neighbours(&lab)?;
    let mut edges = Vec::new();
    for (n, config) in [1u8, 2].iter().zip(&configs) {
        let ns = format!("edge{n}");
        edges.push(Srv6d::start(
            &lab,
            &ns,
            bin,
            config,
            dir.join(format!("{ns}.log")),
        )?);
    }
    println!(
        "srv6d running on edge1 and edge2 (logs in {})",
        dir.display()
    );
    println!();

    println!("Checks:");
    let mut checks = Checks::default();
    let v6 = H2.v6.expect("h2 has IPv6");
    // Blue traffic must never reach red's host, which has h2's IPv4 address.
    let red_capture = Capture::start(&lab, H2R.ns, H2R.v4)?;
    // The WAN counts (and forwards) the packets that carry an SRH.
    lab.exec_ok(
        "wan",
        ["ip6tables", "-A", "FORWARD", "-m", "rt", "--rt-type", "4"],
    )
    .map_err(|e| format!("ip6tables SRH counter in wan: {e}"))?;
    ping_check(&mut checks, &lab, "blue IPv4 (End.DT4)", &H1, H2.v4, 0);
    ping_check(&mut checks, &lab, "blue IPv6 (End.DT6)", &H1, v6, 0);
    tcp_check(&mut checks, &lab, "blue IPv4", &H1, &H2, H2.v4);
    tcp_check(&mut checks, &lab, "blue IPv6", &H1, &H2, v6);
    let blue_leak = red_capture.count(0);
    let srh_blue = forward_rule_packets(&lab, "wan").unwrap_or(0);

    // Red: the first echoes may be lost while the edges resolve the red
    // hosts (srv6d asks the kernel, which ARPs): warm up first. Its echo
    // requests have a size (222 octets of payload) no blue packet has.
    let blue_capture = Capture::start(&lab, H2.ns, H2.v4)?;
    let _ = ping(&lab, H1R.ns, H2R.v4, 3, 222);
    ping_check(
        &mut checks,
        &lab,
        "red IPv4 (blue's addresses)",
        &H1R,
        H2R.v4,
        222,
    );
    let red_leak = blue_capture.count(20 + 8 + 222);
    checks.add(
        "VRF isolation: blue never at red's host, nor red at blue's",
        blue_leak == 0 && red_leak == 0,
        format!("{blue_leak} blue packets at h2r, {red_leak} red echoes at h2"),
    );
    tcp_check(&mut checks, &lab, "red IPv4", &H1R, &H2R, H2R.v4);
    let srh_red = forward_rule_packets(&lab, "wan")
        .unwrap_or(0)
        .saturating_sub(srh_blue);
    checks.add(
        "WAN saw an SRH on blue (H.Encaps), none on red (.Red)",
        srh_blue > 0 && srh_red == 0,
        format!("{srh_blue} blue packets with an SRH, {srh_red} red"),
    );
    println!();

    println!("Edges (SIGTERM, final counters from srv6d):");
    let mut stopped = Vec::new();
    for e in edges {
        match e.stop() {
            Ok(s) => {
                print_stopped(&s);
                stopped.push(s);
            }
            Err(e) => println!("  {e}"),
        }
    }
    let through_engines = stopped.len() == 2
        && stopped
            .iter()
            .all(|s| s.counter("rx") >= 1000 && s.counter("tx") >= 1000);
    let clean = stopped.len() == 2 && stopped.iter().all(Stopped::clean);
    // Blue is H.Encaps, red H.Encaps.Red; both edges decapsulate IPv4
    // (End.DT4, both VRFs) and IPv6 (End.DT6, blue).
    let behaviours = ["h_encaps", "h_encaps_red", "end_dt4", "end_dt6"];
    let ran_all = stopped.len() == 2
        && stopped
            .iter()
            .all(|s| behaviours.iter().all(|b| s.counter(b) > 0));
    println!();
    checks.add(
        "the VPN traffic went through both srv6d engines",
        through_engines,
        stopped
            .iter()
            .map(|s| format!("{} rx={} tx={}", s.name, s.counter("rx"), s.counter("tx")))
            .collect::<Vec<_>>()
            .join(", "),
    );
    checks.add(
        "each edge ran H.Encaps, H.Encaps.Red, End.DT4 and End.DT6",
        ran_all,
        stopped
            .iter()
            .map(|s| {
                let counts: Vec<String> = behaviours
                    .iter()
                    .map(|b| format!("{b}={}", s.counter(b)))
                    .collect();
                format!("{} {}", s.name, counts.join(" "))
            })
            .collect::<Vec<_>>()
            .join(", "),
    );
    checks.add(
        "clean shutdown, every UMEM frame accounted for",
        clean,
        stopped
            .iter()
            .map(|s| format!("{} {}", s.name, s.frames))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let all_passed = checks.passed() == checks.0.len();
    for s in stopped.iter().filter(|s| !s.clean() || !all_passed) {
        println!("--- {} log ---\n{}", s.name, s.log);
    }

    drop(lab);
    println!();
    println!("Teardown: namespaces, veths and srv6d processes removed.");
    let total = checks.0.len();
    let passed = checks.passed();
    println!(
        "Result: {passed}/{total} checks passed in {:.1} s{}",
        started.elapsed().as_secs_f64(),
        if passed == total { "" } else { " -- FAILED" }
    );
    for c in checks.0.iter().filter(|c| !c.pass) {
        println!("  failed: {}: {}", c.name, c.detail);
    }
    Ok(passed == total)
}
