//! With the program attached, the kernel's own traffic (ARP, NDP, ping to
//! the host addresses) still works on LAN and WAN ports.

mod common;

use common::*;
use ebpf_redirect::PortRole;

fn ping(bed: &Bed, family: &str, dst: &str) {
    let out = bed
        .lab
        .exec("peer", ["ping", family, "-c1", "-W2", dst])
        .expect("run ping");
    assert!(
        out.status.success(),
        "ping {dst} through the XDP program failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kernel_ping_and_neighbour_discovery_still_work() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut bed = Bed::new(true);
    bed.configure(PortRole::Lan);

    let before = bed.prog.stats().unwrap();
    ping(&bed, "-4", &HOST4.to_string());
    ping(&bed, "-6", &HOST6.to_string());
    let after = bed.prog.stats().unwrap();
    assert!(
        after.pass_host_addr >= before.pass_host_addr + 2,
        "{after:?}"
    );
    assert!(
        after.pass_not_ip > before.pass_not_ip,
        "ARP went to the kernel: {after:?}"
    );
    assert!(
        after.pass_ndp_icmpv6 > before.pass_ndp_icmpv6,
        "NDP went to the kernel: {after:?}"
    );
    assert_eq!(after.redirected(), before.redirected(), "{after:?}");

    // On a WAN port, IPv4 is never the engine's and host IPv6 stays kernel.
    bed.prog.set_port(bed.ifindex, PortRole::Wan, 0).unwrap();
    let before = bed.prog.stats().unwrap();
    ping(&bed, "-4", &HOST4.to_string());
    ping(&bed, "-6", &HOST6.to_string());
    let after = bed.prog.stats().unwrap();
    assert!(after.pass_not_ours > before.pass_not_ours, "{after:?}");
    assert!(after.pass_host_addr > before.pass_host_addr, "{after:?}");
    assert_eq!(after.redirected(), before.redirected(), "{after:?}");
}
