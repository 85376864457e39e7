//! Compiles the live-frame generator `bpf/livegen.c` into a BPF object in
//! `OUT_DIR` with clang (`CLANG` overrides it); `src/livegen.rs` embeds it.
//! The same recipe as ebpf-redirect/build.rs: see there for why the
//! multiarch include directory is needed.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const SOURCE: &str = "bpf/livegen.c";

fn main() {
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-env-changed=CLANG");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("livegen.o");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let o = Command::new(&clang)
        .args(["-O2", "-g", "-Wall", "-target", "bpf", "-mcpu=v3"])
        .arg(format!("-I/usr/include/{}-linux-gnu", env::consts::ARCH))
        .args(["-c", SOURCE, "-o"])
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("perf: cannot run `{clang}` to build {SOURCE} ({e}): install clang (scripts/deps.sh)"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() {
        panic!(
            "perf: `{clang} -target bpf` failed on {SOURCE} ({}):\n{stderr}",
            o.status
        );
    }
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        println!("cargo:warning={line}");
    }
}
