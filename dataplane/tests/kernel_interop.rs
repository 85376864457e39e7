//! srv6d against the Linux kernel's SRv6 implementation (needs root).
//!
//! A: the kernel does it, we compare bytes. A frame is injected into a
//! namespace whose kernel is configured as an SRv6 node (seg6 encap routes,
//! seg6local SIDs); the frame it sends on is captured and must equal, byte
//! for byte, srv6d's `process` on the same packet with a FIB mirroring the
//! kernel's configuration, behind the Ethernet header the kernel used.
//! Masked fields: none. With the kernel defaults (`seg6_flowlabel = 0`,
//! `hop_limit = 64`) every octet is deterministic.
//!
//! B: we do it, the kernel accepts it. Frames srv6d's H.Encaps /
//! H.Encaps.Red produce go into kernel SIDs (End, End.DT6, End.DX4) and the
//! UDP payload must come out of a socket in the host behind them.
//!
//! The topologies and cases live in `common/mod.rs`, shared with the
//! `interop_demo` example. Each test builds its own lab (unique namespace
//! names, removed on drop and on panic).

mod common;

use common::{DutCase, DutLab, Group, HeadendCase, HeadendLab};

/// Runs every topology-A case of `group` in a fresh lab; fails listing every
/// case whose frames differ (field, offset, both values, both hex dumps).
fn kernel_does_it(group: Group) {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let cases: Vec<DutCase> = common::dut_cases()
        .into_iter()
        .filter(|c| c.group == group)
        .collect();
    assert!(!cases.is_empty(), "no cases in {group:?}");
    let dut = DutLab::build(&cases).expect("build topology A");
    let mut failures = Vec::new();
    for case in &cases {
        match dut.run(case).check() {
            Ok(len) => eprintln!("ok: {} ({len} B frames identical)", case.title),
            Err(report) => failures.push(report),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from the kernel:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// Runs topology-B case `id` in a fresh lab.
fn kernel_accepts_it(id: &str) {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let case: HeadendCase = common::headend_cases()
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no case {id}"));
    let lab = HeadendLab::build().expect("build topology B");
    let delivery = lab.run(&case);
    if let Err(report) = delivery.check() {
        panic!(
            "{report}\nframe srv6d injected at h1:\n{}",
            common::hexdump(&delivery.frame)
        );
    }
}

// ---- A: the kernel does it, we compare bytes ----

/// H.Encaps (`encap seg6 mode encap`) with 1, 2 and 3 SIDs, IPv6 inner.
#[test]
fn h_encaps_ipv6_inner_matches_kernel() {
    kernel_does_it(Group::EncapsV6);
}

/// H.Encaps with 1, 2 and 3 SIDs, IPv4 inner (IPv4 route with seg6 encap).
#[test]
fn h_encaps_ipv4_inner_matches_kernel() {
    kernel_does_it(Group::EncapsV4);
}

/// H.Encaps.Red (`mode encap.red`) with 1 SID (no SRH), 2 and 3 SIDs, IPv6
/// and IPv4 inner.
#[test]
fn h_encaps_red_matches_kernel() {
    kernel_does_it(Group::EncapsRed);
}

/// End with Segments Left 1 and 2.
#[test]
fn end_matches_kernel() {
    kernel_does_it(Group::End);
}

/// End.X toward the sink (`End.X nh6 <sink>`).
#[test]
fn end_x_matches_kernel() {
    kernel_does_it(Group::EndX);
}

/// End.DT6 (`table 254` and `table 100`), with and without an SRH.
#[test]
fn end_dt6_matches_kernel() {
    kernel_does_it(Group::EndDT6);
}

/// End.DX6 and End.DX4 (the decapsulated packet forwarded to a fixed next
/// hop: Hop Limit / TTL decrement and the IPv4 checksum update).
#[test]
fn end_dx_matches_kernel() {
    kernel_does_it(Group::EndDX);
}

/// End.DT4 (`vrftable 200`, a Linux VRF device bound to table 200), with
/// and without an SRH. The host kernel of the test machine has no VRF: it
/// runs in the lab's Linux VM.
#[test]
fn end_dt4_through_a_linux_vrf_matches_kernel() {
    kernel_does_it(Group::EndDT4);
}

/// End.DT46 (`vrftable 200`) with IPv4 and IPv6 inner packets, with and
/// without an SRH.
#[test]
fn end_dt46_through_a_linux_vrf_matches_kernel() {
    kernel_does_it(Group::EndDT46);
}

// ---- B: we do it, the kernel accepts it ----

/// (i) srv6d H.Encaps, 2 SIDs: kernel End on r1, kernel End.DT6 on r2.
#[test]
fn our_h_encaps_two_sids_through_kernel_end_and_end_dt6() {
    kernel_accepts_it("b-encaps-2");
}

/// (ii) srv6d H.Encaps, 1 SID: straight into the kernel End.DT6 on r2.
#[test]
fn our_h_encaps_one_sid_into_kernel_end_dt6() {
    kernel_accepts_it("b-encaps-1");
}

/// (iii) srv6d H.Encaps.Red, 1 SID (IPv6-in-IPv6, no SRH) into the kernel
/// End.DT6.
#[test]
fn our_h_encaps_red_without_srh_into_kernel_end_dt6() {
    kernel_accepts_it("b-red-1");
}

/// srv6d H.Encaps.Red, 2 SIDs (reduced SRH: Segments Left = Last Entry + 1)
/// through the kernel End on r1 into the End.DT6 on r2.
#[test]
fn our_h_encaps_red_two_sids_through_kernel_end_and_end_dt6() {
    kernel_accepts_it("b-red-2");
}

/// (iv) IPv4 inner: srv6d H.Encaps through the kernel End on r1 into the
/// kernel End.DX4 on r2.
#[test]
fn our_h_encaps_ipv4_inner_into_kernel_end_dx4() {
    kernel_accepts_it("b-encaps-v4");
}

/// srv6d H.Encaps, IPv4 inner, through the kernel End on r1 into the
/// kernel End.DT4 of a VRF on r2.
#[test]
fn our_h_encaps_ipv4_inner_into_kernel_end_dt4_in_a_vrf() {
    kernel_accepts_it("b-dt4");
}

/// srv6d H.Encaps, IPv4 inner, straight into the kernel End.DT46 of r2.
#[test]
fn our_h_encaps_ipv4_inner_into_kernel_end_dt46_in_a_vrf() {
    kernel_accepts_it("b-dt46-v4");
}

/// srv6d H.Encaps.Red, IPv6 inner, through the kernel End on r1 into the
/// kernel End.DT46 of r2.
#[test]
fn our_h_encaps_red_ipv6_inner_into_kernel_end_dt46_in_a_vrf() {
    kernel_accepts_it("b-dt46-v6");
}

// ---- the harness itself (no root needed) ----

/// The comparison is not vacuous: one changed octet in srv6d's frame is
/// reported with the field that holds it and both values.
#[test]
fn a_changed_octet_is_reported_by_field() {
    let cases = common::dut_cases();
    let case = cases.iter().find(|c| c.id == "encaps-v6-2").expect("case");
    let fib = common::build_fib(&common::dut_ours(&cases));
    let (verdict, ip) = common::srv6d_process(&fib, case.ingress_vrf, &case.packet);
    assert_eq!(verdict, case.expected_verdict());
    let frame = common::ethernet(common::SINK_MAC, common::DUT1_MAC, &ip);
    // 14 (Ethernet) + 40 (IPv6) + 8 + 16 + 16 (SRH) + 7: inner Hop Limit.
    let mut other = frame.clone();
    other[14 + 40 + 40 + 7] ^= 0xff;
    let report = common::diff_report(&other, &frame);
    assert!(
        report.contains("offset 101 (inner IPv6 Hop Limit"),
        "{report}"
    );
    other.truncate(other.len() - 1);
    let report = common::diff_report(&other, &frame);
    assert!(
        report.contains("kernel frame is 189 B, srv6d frame is 190 B"),
        "{report}"
    );
    let names: Vec<String> = common::dissect(&frame)
        .into_iter()
        .map(|h| h.name)
        .collect();
    assert_eq!(
        names,
        [
            "Ethernet",
            "outer IPv6",
            "SRH",
            "inner IPv6",
            "UDP",
            "payload"
        ]
    );
}
