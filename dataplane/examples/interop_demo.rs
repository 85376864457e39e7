//! `make run`: srv6d's SRv6 behaviours next to the Linux kernel's.
//!
//! Builds two namespace topologies (needs root), then
//! * A: lets the kernel encapsulate / run SIDs on hand-built packets and
//!   checks that srv6d's `process` produces the very same frames;
//! * B: injects srv6d's encapsulated packets into kernel SIDs and checks the
//!   payload reaches a UDP socket behind them;
//!
//! prints what it built and one line per case, a labelled hex dump, tears
//! everything down and exits non-zero if any case failed. The cases are the
//! ones `tests/kernel_interop.rs` runs (same module).

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::time::Instant;

use common::*;
use lab::{format_mac, Lab};

fn is_root() -> bool {
    // The effective uid is the second number on the `Uid:` line.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2))
                .map(|uid| uid == "0")
        })
        .unwrap_or(false)
}

fn namespaces(lab: &Lab) {
    let names: Vec<String> = lab
        .namespaces()
        .map(|(l, r)| {
            if lab.is_in_vm(l) {
                format!("{l} ({r}, in the lab's Linux VM)")
            } else {
                format!("{l} ({r})")
            }
        })
        .collect();
    println!("  namespaces: {}", names.join(", "));
    if let Some(vm) = lab.vm() {
        println!(
            "  Linux VM: kernel {} (this host's kernel lacks what those namespaces need), up in {:.1} s",
            vm.kernel_release(),
            vm.boot_time().as_secs_f64()
        );
    }
}

fn link(a: (&str, &str, lab::Mac, &[&str]), b: (&str, &str, lab::Mac, &[&str])) {
    let end = |(ns, ifname, mac, addrs): (&str, &str, lab::Mac, &[&str])| {
        format!("{ns}:{ifname} {} {}", format_mac(&mac), addrs.join(" "))
    };
    println!("  link: {:<52} <-> {}", end(a), end(b));
}

fn ip_command(ns: &str, route: &lab::Route) -> String {
    format!("ip -n {ns} {}", route.to_args().join(" "))
}

fn print_report(report: &str) {
    for line in report.lines() {
        println!("        {line}");
    }
}

/// What a topology's cases came to.
#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    /// A frame worth showing: (what it is, its bytes).
    dump: Option<(String, Vec<u8>)>,
}

/// Topology A.
fn kernel_does_it(cases: &[DutCase]) -> Result<Tally, lab::Error> {
    let dut = DutLab::build(cases)?;
    println!("A. The kernel is the SRv6 node, srv6d must produce the same bytes");
    namespaces(&dut.lab);
    link(
        (
            "src",
            "eth0",
            SRC_MAC,
            &[&format!("{SRC6}/64"), &format!("{SRC4}/24")],
        ),
        (
            "dut",
            "eth0",
            DUT0_MAC,
            &[&format!("{DUT0_6}/64"), &format!("{DUT0_4}/24")],
        ),
    );
    link(
        (
            "dut",
            "eth1",
            DUT1_MAC,
            &[&format!("{DUT1_6}/64"), &format!("{DUT1_4}/24")],
        ),
        (
            "sink",
            "eth0",
            SINK_MAC,
            &[&format!("{SINK6}/64"), &format!("{SINK4}/24")],
        ),
    );
    println!("  dut kernel (forwarding on, static neighbours for the sink):");
    println!("    ip -n dut sr tunsrc set {TUNSRC}");
    for route in &dut.kernel_routes {
        println!("    {}", ip_command("dut", route));
    }
    println!("  srv6d FIB mirroring it (port 0 = dut:eth0, port 1 = dut:eth1):");
    for item in &dut.ours {
        println!("    {}", item.describe());
    }
    println!("  cases: a frame is injected at src:eth0, the kernel's frame captured at sink:eth0,");
    println!("         srv6d runs on the same packet; the frames must be equal (nothing masked)");
    let mut tally = Tally::default();
    for case in cases {
        let cmp = dut.run(case);
        match cmp.check() {
            Ok(len) => {
                tally.passed += 1;
                println!(
                    "  PASS  {}: kernel frame ({len} B) == srv6d frame",
                    case.title
                );
                if case.id == "encaps-v6-2" {
                    tally.dump = Some((case.title.clone(), cmp.ours.clone()));
                }
            }
            Err(report) => {
                tally.failed += 1;
                let size = cmp
                    .kernel
                    .as_ref()
                    .map_or("none".to_string(), |k| format!("{} B", k.len()));
                println!(
                    "  FAIL  {}: kernel frame ({size}) != srv6d frame ({} B, verdict {:?})",
                    case.title,
                    cmp.ours.len(),
                    cmp.verdict
                );
                print_report(&report);
            }
        }
    }
    println!();
    Ok(tally)
}

/// Topology B.
fn kernel_accepts_it() -> Result<Tally, lab::Error> {
    let net = HeadendLab::build()?;
    println!("B. srv6d is the headend, the kernel's SIDs must accept its packets");
    namespaces(&net.lab);
    link(
        ("h1", "eth0", H1_MAC, &[&format!("{H1_6}/64")]),
        ("r1", "eth0", R1A_MAC, &[&format!("{R1A_6}/64")]),
    );
    link(
        ("r1", "eth1", R1B_MAC, &[&format!("{R1B_6}/64")]),
        ("r2", "eth0", R2A_MAC, &[&format!("{R2A_6}/64")]),
    );
    link(
        (
            "r2",
            "eth1",
            R2B_MAC,
            &[&format!("{R2B_6}/64"), &format!("{R2B_4}/24")],
        ),
        (
            "h2",
            "eth0",
            H2_MAC,
            &[&format!("{H2_6}/64"), &format!("{H2_4}/24")],
        ),
    );
    println!("  kernel (r1, r2 forwarding on, static neighbours):");
    for (ns, route) in headend_kernel_routes() {
        println!("    {}", ip_command(ns, &route));
    }
    println!("  srv6d sits at h1 (port 0 = h1:eth0); per case: a customer route into the policy,");
    println!("  underlay ::/0 via r1. The frame it produces is injected at h1:eth0 and the UDP");
    println!("  payload must reach a socket bound in h2");
    let mut tally = Tally::default();
    for case in headend_cases() {
        let delivery = net.run(&case);
        match delivery.check() {
            Ok(len) => {
                tally.passed += 1;
                println!(
                    "  PASS  {}: srv6d frame ({} B) -> {len} B UDP payload received at {} in h2",
                    case.title,
                    delivery.frame.len(),
                    case.to
                );
            }
            Err(report) => {
                tally.failed += 1;
                println!("  FAIL  {report}");
                print_report(&hexdump(&delivery.frame));
            }
        }
    }
    println!();
    Ok(tally)
}

fn leftover_namespaces() -> usize {
    let mine = format!("{}-{}-", NS_PREFIX, std::process::id());
    std::fs::read_dir(lab::NETNS_DIR)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&mine))
                .count()
        })
        .unwrap_or(0)
}

fn main() -> ExitCode {
    println!("srv6d interop demo: srv6d's SRv6 data path next to the Linux kernel's (Linux seg6/seg6local)");
    println!();
    if !is_root() {
        eprintln!(
            "interop_demo needs root: it builds network namespaces and veths and configures the kernel's \
             SRv6 routes in them. Run it as root (e.g. `sudo make run`)."
        );
        return ExitCode::from(1);
    }
    let started = Instant::now();
    let cases = dut_cases();
    let a = match kernel_does_it(&cases) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cannot build topology A: {e}");
            return ExitCode::from(1);
        }
    };
    let b = match kernel_accepts_it() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot build topology B: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some((title, frame)) = &a.dump {
        println!("One frame, labelled: {title} (captured from the kernel, identical to srv6d's)");
        print!("{}", hexdump(frame));
        println!();
    }
    let left = leftover_namespaces();
    if left == 0 {
        println!("Teardown: both topologies deleted, no namespace left behind");
    } else {
        println!("Teardown: {left} namespaces of this run are still there (see the errors above)");
    }
    let (passed, failed) = (a.passed + b.passed, a.failed + b.failed);
    println!(
        "Result: {passed}/{} cases passed ({}/{} byte-for-byte comparisons with the kernel, \
         {}/{} deliveries through kernel SIDs) in {:.1} s",
        passed + failed,
        a.passed,
        a.passed + a.failed,
        b.passed,
        b.passed + b.failed,
        started.elapsed().as_secs_f64()
    );
    if failed == 0 && left == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
