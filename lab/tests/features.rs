//! The lab's kernel probes (`lab::host_probe`) against the same questions
//! asked with iproute2 directly, in a namespace of this test's own. Root
//! only.

use std::process::{Command, Output};

use lab::{KernelFeature, Probe};

fn ip(args: &[&str]) -> Output {
    Command::new("ip").args(args).output().expect("run ip")
}

/// Whether `args` (after `ip -n NS`) succeed in a fresh namespace with lo up.
fn kernel_takes(tag: &str, args: &[&str]) -> (bool, String) {
    let ns = format!("s6feat{tag}-{}", std::process::id());
    assert!(
        ip(&["netns", "add", &ns]).status.success(),
        "ip netns add {ns}"
    );
    let _ = ip(&["-n", &ns, "link", "set", "lo", "up"]);
    let mut full = vec!["-n", ns.as_str()];
    full.extend_from_slice(args);
    let out = ip(&full);
    let _ = ip(&["netns", "del", &ns]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

#[test]
fn probes_agree_with_iproute2() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let seg6 = kernel_takes(
        "s",
        &[
            "-6",
            "route",
            "add",
            "fc00:77::/64",
            "encap",
            "seg6local",
            "action",
            "End",
            "dev",
            "lo",
        ],
    );
    let vrf = kernel_takes("v", &["link", "add", "vrf-x", "type", "vrf", "table", "77"]);
    for (feature, (ok, err)) in [(KernelFeature::Seg6, seg6), (KernelFeature::Vrf, vrf)] {
        let probe = lab::host_probe(feature);
        eprintln!("{feature}: probe {probe:?}, iproute2 {ok} {err}");
        assert_eq!(
            probe.is_present(),
            ok,
            "{feature}: probe {probe:?}, ip said {err:?}"
        );
        if let Probe::Missing(why) = probe {
            assert!(!why.is_empty(), "{feature}: a refusal says why");
        }
    }
}
