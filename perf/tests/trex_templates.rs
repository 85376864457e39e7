//! The TRex profiles (`trex-profiles/`) send srv6bench's packets: their
//! Scapy builders are compared byte for byte with `srv6bench templates`
//! by `trex-profiles/check_templates.py` (which also imports every profile
//! with TRex unimportable). Needs python3 with Scapy (2.5 or later, for
//! `scapy.contrib.stamp`), no root and no TRex.
//!
//! A second run on a copy with one octet flipped must fail and name the
//! packet, so this test can fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh directory under the temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("srv6bench-trex-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create the temporary directory");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write_templates(dir: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_srv6bench"))
        .arg("templates")
        .arg("--out")
        .arg(dir)
        .output()
        .expect("run srv6bench templates");
    assert!(
        o.status.success(),
        "srv6bench templates failed: {}",
        text(&o)
    );
}

fn check(dir: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("trex-profiles")
        .join("check_templates.py");
    Command::new("python3")
        .arg(&script)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "run python3 {}: {e} (python3 with Scapy is needed)",
                script.display()
            )
        })
}

#[test]
fn trex_profiles_send_srv6bench_packets() {
    let good = TempDir::new("good");
    write_templates(&good.0);
    let o = check(&good.0);
    assert!(
        o.status.success(),
        "check_templates.py found differences (or could not run: is Scapy installed?): {}",
        text(&o)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("OK:"), "no OK line: {}", text(&o));
}

#[test]
fn a_flipped_octet_is_caught_and_named() {
    let bad = TempDir::new("bad");
    write_templates(&bad.0);
    // One octet in the inner IPv6 source address of the End.DT6 frame.
    let file = bad.0.join("end-dt6-594.hex");
    let hex = std::fs::read_to_string(&file).expect("read end-dt6-594.hex");
    let hex = hex.trim();
    let at = 2 * 70;
    let octet = u8::from_str_radix(&hex[at..at + 2], 16).expect("hex octet");
    let flipped = format!("{}{:02x}{}\n", &hex[..at], octet ^ 0xff, &hex[at + 2..]);
    std::fs::write(&file, flipped).expect("write end-dt6-594.hex");
    let o = check(&bad.0);
    assert_eq!(
        o.status.code(),
        Some(1),
        "check_templates.py accepted a corrupted template: {}",
        text(&o)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("packet end-dt6 size 594: differs at offset 70"),
        "the failure does not name the packet and offset: {}",
        text(&o)
    );
}

#[test]
fn a_scenario_table_out_of_step_is_caught_and_named() {
    let bad = TempDir::new("scen");
    write_templates(&bad.0);
    // srv6bench drops a scenario and changes a search default: both
    // must be named.
    let file = bad.0.join("scenarios.tsv");
    let table = std::fs::read_to_string(&file).expect("read scenarios.tsv");
    assert!(table.lines().any(|l| l.starts_with("end-dt6\t")));
    let kept: String = table
        .lines()
        .filter(|l| !l.starts_with("end-dt6\t"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&file, kept).expect("write scenarios.tsv");
    let file = bad.0.join("search.tsv");
    let search = std::fs::read_to_string(&file).expect("read search.tsv");
    assert!(search.contains("max_trials\t20\n"), "{search}");
    std::fs::write(&file, search.replace("max_trials\t20\n", "max_trials\t9\n"))
        .expect("write search.tsv");
    let o = check(&bad.0);
    assert_eq!(o.status.code(), Some(1), "accepted: {}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("scenario end-dt6: in srv6bench_trex.py, not in srv6bench"),
        "the missing scenario is not named: {}",
        text(&o)
    );
    assert!(
        out.contains("search default max_trials"),
        "the changed default is not named: {}",
        text(&o)
    );
}
