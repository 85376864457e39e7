//! `srv6bench --quick` end to end (root: namespaces, XDP): the RFC 2544
//! method works on this machine. srv6bench itself exits non-zero when a
//! search did not converge, srv6d's counters and the receiver disagree or
//! a result file is missing; this test also reads the JSON back and checks
//! what the run must have produced. No speed is asserted.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn quick_run_measures_every_cell_and_writes_its_results() {
    if !lab::require_root() {
        eprintln!("skipped (SRV6D_SKIP_ROOT_TESTS=1)");
        return;
    }
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_srv6bench"));
    // srv6d is built next to srv6bench (same target directory and profile).
    let srv6d = bench.with_file_name("srv6d");
    assert!(
        srv6d.exists(),
        "no srv6d at {} (build the workspace first: cargo build --workspace)",
        srv6d.display()
    );
    let out = std::env::temp_dir().join(format!("srv6bench-quick-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new(&bench)
        .args(["--quick", "--out"])
        .arg(&out)
        .arg("--srv6d")
        .arg(&srv6d)
        .output()
        .expect("run srv6bench");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "srv6bench --quick failed ({}):\n{stdout}\n{stderr}",
        run.status
    );
    assert!(stderr.contains("the method works"), "{stderr}");

    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("srv6bench.json")).expect("srv6bench.json written"),
    )
    .expect("srv6bench.json is JSON");
    let cells = json["cells"].as_array().expect("cells");
    let cell = |scenario: &str, sut: &str, pct: Option<f64>| {
        cells
            .iter()
            .find(|c| {
                c["scenario"] == scenario && c["sut"] == sut && c["stamp_pct"].as_f64() == pct
            })
            .unwrap_or_else(|| panic!("no cell {scenario} {sut} {pct:?} in {json}"))
    };
    // Both SUTs measured on the same scenario; End.DT4 is n/a for the
    // kernel (no VRF device) and measured for srv6d.
    for sut in ["kernel", "srv6d"] {
        let c = cell("h-encaps-v6-2sid", sut, None);
        assert_eq!(c["status"], "measured", "{c}");
        let samples = c["pdr"]["samples"].as_array().unwrap();
        assert_eq!(samples.len(), 2, "two repetitions: {c}");
        assert!(c["pdr"]["mean"].as_f64().unwrap() > 0.0, "{c}");
        let lat = c["latency"].as_array().unwrap();
        assert_eq!(lat.len(), 2, "latency at 50 and 90 % of the PDR: {c}");
        assert!(lat.iter().all(|l| l["probes"].as_u64().unwrap() > 0), "{c}");
    }
    assert_eq!(cell("end-dt4", "kernel", None)["status"], "n/a");
    assert_eq!(cell("end-dt4", "srv6d", None)["status"], "measured");
    // srv6d's counters matched the receiver in every MRR trial.
    let srv6d = cell("ipv6-fwd", "srv6d", None);
    let unaccounted = srv6d["unaccounted"].as_array().unwrap();
    assert_eq!(unaccounted.len(), 2, "{srv6d}");
    // The collector consumed the STAMP replies: at 10 % STAMP, delivered
    // counts them although they never reach the receiver.
    let coll = cell("stamp-collector", "srv6d", Some(10.0));
    assert_eq!(coll["status"], "measured", "{coll}");
    // The AF_XDP ceiling ran.
    assert_eq!(cell("l2fwd", "l2fwd", None)["status"], "measured");
    for f in [
        "srv6bench.csv",
        "srv6bench-trials.csv",
        "srv6bench-scenarios.svg",
        "srv6bench-scenarios.png",
        "srv6bench-stamp.svg",
        "srv6bench-stamp.png",
        "summary.md",
    ] {
        let len = std::fs::metadata(out.join(f))
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .len();
        assert!(len > 0, "{f} is empty");
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("h-encaps-v6-2sid"), "{summary}");
    let _ = std::fs::remove_dir_all(&out);
}
