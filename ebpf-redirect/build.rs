//! Compiles `src/xdp_redirect.c` into a BPF object in `OUT_DIR` with clang;
//! `src/lib.rs` embeds it. `CLANG` overrides the compiler (default `clang`).

use std::env;
use std::path::PathBuf;
use std::process::Command;

const SOURCE: &str = "src/xdp_redirect.c";

fn main() {
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-env-changed=CLANG");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out_dir.join("xdp_redirect.o");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());

    // <linux/bpf.h> includes <asm/types.h>, which Debian keeps in the
    // multiarch directory of the build host.
    let multiarch = format!("/usr/include/{}-linux-gnu", env::consts::ARCH);

    let output = Command::new(&clang)
        .args(["-O2", "-g", "-Wall", "-target", "bpf"])
        .arg(format!("-I{multiarch}"))
        .arg("-c")
        .arg(SOURCE)
        .arg("-o")
        .arg(&object)
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "ebpf-redirect: `{clang}` not found: install clang (scripts/deps.sh) \
             to build the XDP program {SOURCE}"
        ),
        Err(e) => panic!("ebpf-redirect: cannot run `{clang}`: {e}"),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        panic!(
            "ebpf-redirect: `{clang} -target bpf` failed to compile {SOURCE} ({}):\n{stderr}\n\
             (needs clang with the BPF target and kernel headers: install clang and \
             linux-libc-dev, see scripts/deps.sh)",
            output.status
        );
    }
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        println!("cargo:warning={line}");
    }
}
