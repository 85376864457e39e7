//! Attaching and detaching: driver mode on veth, generic fallback on a
//! device without native XDP, errors, detach_all and drop.

mod common;

use common::*;
use ebpf_redirect::{AttachMode, Error, RedirectProgram};
use lab::Topology;

#[test]
fn detach_all_and_drop_remove_the_program() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let Bed {
        mut prog,
        mode,
        lab,
        ..
    } = Bed::new(false);
    assert_eq!(mode, AttachMode::Driver);
    assert!(has_xdp(&lab, "dut", "p0"), "no XDP program after attach");
    assert_eq!(
        prog.attachments().collect::<Vec<_>>(),
        [("p0", AttachMode::Driver)]
    );

    prog.detach_all().expect("detach_all");
    assert!(
        !has_xdp(&lab, "dut", "p0"),
        "XDP program still there after detach_all"
    );
    assert_eq!(prog.attachments().count(), 0);
    prog.detach_all().expect("detach_all with nothing attached");

    // Attach again, to both ends (two namespaces, one program), then drop.
    let mode = lab.in_ns("dut", || prog.attach("p0")).unwrap().unwrap();
    assert_eq!(mode, AttachMode::Driver);
    let mode = lab.in_ns("peer", || prog.attach("p0")).unwrap().unwrap();
    assert_eq!(mode, AttachMode::Driver);
    assert!(has_xdp(&lab, "dut", "p0") && has_xdp(&lab, "peer", "p0"));
    assert_eq!(prog.attachments().count(), 2);
    drop(prog);
    assert!(
        !has_xdp(&lab, "dut", "p0"),
        "XDP program still on dut after drop"
    );
    assert!(
        !has_xdp(&lab, "peer", "p0"),
        "XDP program still on peer after drop"
    );
}

#[test]
fn generic_mode_is_the_fallback_without_native_xdp() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Topology::new()
        .prefix("s6xdp")
        .ns("dut")
        .build()
        .expect("build lab");
    // A bridge has no native XDP support (dummy would do too, but this
    // kernel has no dummy driver).
    lab.ip("dut", ["link", "add", "d0", "type", "bridge"])
        .unwrap();
    lab.ip("dut", ["link", "set", "d0", "up"]).unwrap();

    let mut prog = RedirectProgram::load().expect("load");
    let mode = lab
        .in_ns("dut", || prog.attach("d0"))
        .unwrap()
        .expect("attach to a bridge");
    assert_eq!(mode, AttachMode::Generic);
    let link = lab.ip("dut", ["link", "show", "dev", "d0"]).unwrap();
    assert!(link.contains("xdpgeneric"), "not in generic mode: {link}");
    prog.detach_all().unwrap();
    assert!(!has_xdp(&lab, "dut", "d0"));
}

#[test]
fn attach_errors_name_the_interface_and_cause() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let Bed { mut prog, lab, .. } = Bed::new(false);

    let err = lab
        .in_ns("dut", || prog.attach("nope0"))
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Attach { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("attach XDP to nope0: interface not found"),
        "{text}"
    );

    // The name resolves in the calling thread's namespace only.
    if !std::path::Path::new("/sys/class/net/p0").exists() {
        match prog.attach("p0") {
            Err(e) => assert!(e.to_string().contains("interface not found"), "{e}"),
            Ok(mode) => panic!("attached ({mode}) to p0 outside its namespace"),
        }
    }

    // A second attach to the same interface is refused; the first stays.
    let err = lab.in_ns("dut", || prog.attach("p0")).unwrap().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("already attached"), "{text}");
    assert!(has_xdp(&lab, "dut", "p0"));
    assert_eq!(prog.attachments().count(), 1);
}

#[test]
fn bad_arguments_are_rejected_before_touching_maps() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut prog = RedirectProgram::load().expect("load");
    let err = prog.register_xsk(64, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid queue 64: an rx queue index below 64 (the size of xsks)"
    );
    let err = prog
        .add_sid_prefix("fc00::".parse().unwrap(), 129)
        .unwrap_err();
    assert!(
        err.to_string().starts_with("invalid SID prefix length"),
        "{err}"
    );
    let err = prog
        .set_port(0, ebpf_redirect::PortRole::Lan, 0)
        .unwrap_err();
    assert!(err.to_string().starts_with("invalid ifindex 0"), "{err}");
    // A descriptor that is not an AF_XDP socket is refused by the kernel.
    let err = prog.register_xsk(0, 0).unwrap_err();
    assert!(
        err.to_string()
            .contains("register AF_XDP socket fd 0 for queue 0"),
        "{err}"
    );
    assert_eq!(prog.stats().unwrap().total(), 0);
}
