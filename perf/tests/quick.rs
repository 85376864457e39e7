//! `srv6bench --quick` end to end (root: namespaces, XDP): the RFC 2544
//! method works on this machine. srv6bench itself exits non-zero when a
//! search did not converge, srv6d's counters and the receiver disagree or
//! a result file is missing; this test also reads the JSON back and checks
//! what the run must have produced. No speed is asserted.
//!
//! What srv6bench chose for this machine is checked against the kernel,
//! asked here independently: its kernel SUT (seg6, or the kernel-ipv6-fwd
//! baseline where the kernel has no seg6) and its generator (live frames,
//! or the AF_PACKET fallback where the kernel refuses them), and that every
//! output names both.

use std::path::PathBuf;
use std::process::Command;

/// Does the kernel take an H.Encaps route? Asked in a namespace of this
/// test's own (unique name, removed here).
fn kernel_has_seg6() -> bool {
    let ns = format!("s6bquickseg6-{}", std::process::id());
    let ip = |args: &[&str]| Command::new("ip").args(args).output().expect("run ip");
    assert!(
        ip(&["netns", "add", &ns]).status.success(),
        "ip netns add {ns}"
    );
    let _ = ip(&["-n", &ns, "link", "set", "lo", "up"]);
    let route = ip(&[
        "-n",
        &ns,
        "-6",
        "route",
        "add",
        "fc00:5e6::/64",
        "encap",
        "seg6",
        "mode",
        "encap",
        "segs",
        "fc00:5e6::1",
        "dev",
        "lo",
    ]);
    let _ = ip(&["netns", "del", &ns]);
    route.status.success()
}

/// Does the kernel run BPF_PROG_TEST_RUN with live frames? A
/// two-instruction XDP program (`return XDP_DROP`) run once in that mode,
/// which sends nothing. Err(errno) when refused.
fn kernel_runs_live_frames() -> Result<(), i32> {
    #[repr(C)]
    struct Insn {
        code: u8,
        regs: u8,
        off: i16,
        imm: i32,
    }
    #[repr(C)]
    #[derive(Default)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
    }
    #[repr(C)]
    #[derive(Default)]
    struct TestRun {
        prog_fd: u32,
        retval: u32,
        data_size_in: u32,
        data_size_out: u32,
        data_in: u64,
        data_out: u64,
        repeat: u32,
        duration: u32,
        ctx_size_in: u32,
        ctx_size_out: u32,
        ctx_in: u64,
        ctx_out: u64,
        flags: u32,
        cpu: u32,
        batch_size: u32,
        pad: u32,
    }
    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_PROG_TEST_RUN: libc::c_long = 10;
    const BPF_PROG_TYPE_XDP: u32 = 6;
    const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;
    // r0 = XDP_DROP (1); exit.
    let insns = [
        Insn {
            code: 0xb7,
            regs: 0,
            off: 0,
            imm: 1,
        },
        Insn {
            code: 0x95,
            regs: 0,
            off: 0,
            imm: 0,
        },
    ];
    let license = b"GPL\0";
    let load = ProgLoad {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: 2,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..ProgLoad::default()
    };
    // SAFETY: bpf(BPF_PROG_LOAD) with the head of `union bpf_attr`, its
    // pointers at live buffers; the kernel zero-extends a shorter attr.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &load as *const ProgLoad,
            std::mem::size_of::<ProgLoad>(),
        )
    };
    assert!(
        fd >= 0,
        "load a two-instruction XDP program: {}",
        std::io::Error::last_os_error()
    );
    let frame = [0u8; 64];
    let mut run = TestRun {
        prog_fd: fd as u32,
        data_size_in: frame.len() as u32,
        data_in: frame.as_ptr() as u64,
        repeat: 1,
        flags: BPF_F_TEST_XDP_LIVE_FRAMES,
        ..TestRun::default()
    };
    // SAFETY: bpf(BPF_PROG_TEST_RUN) with the kernel's `test` layout,
    // data_in pointing at a live 64-octet buffer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_TEST_RUN,
            &mut run as *mut TestRun,
            std::mem::size_of::<TestRun>(),
        )
    };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd as i32) };
    if rc == 0 {
        Ok(())
    } else {
        Err(errno)
    }
}

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
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();

    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("srv6bench.json")).expect("srv6bench.json written"),
    )
    .expect("srv6bench.json is JSON");
    let info = &json["info"];
    let cells = json["cells"].as_array().expect("cells");

    // The kernel SUT: seg6 where the kernel has it, else plain
    // forwarding, named and explained in the JSON and the summary.
    let kernel = info["kernel_baseline"]["name"]
        .as_str()
        .expect("kernel_baseline.name");
    let why = info["kernel_baseline"]["description"].as_str().unwrap();
    if kernel_has_seg6() {
        assert_eq!(kernel, "kernel", "{info}");
    } else {
        assert_eq!(kernel, "kernel-ipv6-fwd", "{info}");
        for s in [
            "CONFIG_IPV6_SEG6_LWTUNNEL",
            "without SRv6 encapsulation",
            "favours the kernel",
        ] {
            assert!(why.contains(s), "{s} not in {why}");
        }
        assert!(
            summary.contains("| kernel-ipv6-fwd PDR (Mpps) |"),
            "{summary}"
        );
        assert!(
            summary.contains("kernel SUT: kernel-ipv6-fwd: "),
            "{summary}"
        );
    }
    // The generator: live frames where the kernel runs them, else the
    // AF_PACKET one, with the kernel's refusal in the log, the JSON, the
    // summary, every CSV row and the plot titles.
    assert_eq!(info["generator_requested"], "live", "{info}");
    match kernel_runs_live_frames() {
        Ok(()) => {
            assert_eq!(info["generator"], "live", "{info}");
            assert!(info["generator_fallback"].is_null(), "{info}");
        }
        Err(errno) => {
            assert_eq!(
                info["generator"], "packet",
                "refused with errno {errno}: {info}"
            );
            let fallback = info["generator_fallback"]
                .as_str()
                .expect("generator_fallback");
            assert!(
                fallback.contains("BPF_F_TEST_XDP_LIVE_FRAMES"),
                "{fallback}"
            );
            assert!(
                stderr.contains("falling back to the AF_PACKET generator"),
                "{stderr}"
            );
            assert!(summary.contains("generator: packet (asked for live, which cannot run here: "));
            let svg = std::fs::read_to_string(out.join("srv6bench-scenarios.svg")).unwrap();
            assert!(svg.contains("packet generator (fallback: live refused)"));
        }
    }
    let generator = info["generator"].as_str().unwrap();
    for csv in ["srv6bench.csv", "srv6bench-trials.csv"] {
        let mut rd = csv::Reader::from_path(out.join(csv)).expect(csv);
        let col = rd.headers().unwrap().iter().position(|h| h == "generator");
        let col = col.unwrap_or_else(|| panic!("{csv} has no generator column"));
        for row in rd.records() {
            assert_eq!(&row.unwrap()[col], generator, "{csv}");
        }
    }

    let cell = |scenario: &str, sut: &str, pct: Option<f64>| {
        cells
            .iter()
            .find(|c| {
                c["scenario"] == scenario && c["sut"] == sut && c["stamp_pct"].as_f64() == pct
            })
            .unwrap_or_else(|| panic!("no cell {scenario} {sut} {pct:?} in {json}"))
    };
    // Both SUTs measured on the same scenario; End.DT4 is n/a for the
    // kernel (seg6: no VRF device; kernel-ipv6-fwd: no SRv6) and measured
    // for srv6d.
    for sut in [kernel, "srv6d"] {
        let c = cell("h-encaps-v6-2sid", sut, None);
        assert_eq!(c["status"], "measured", "{c}");
        let samples = c["pdr"]["samples"].as_array().unwrap();
        assert_eq!(samples.len(), 2, "two repetitions: {c}");
        assert!(c["pdr"]["mean"].as_f64().unwrap() > 0.0, "{c}");
        let lat = c["latency"].as_array().unwrap();
        assert_eq!(lat.len(), 2, "latency at 50 and 90 % of the PDR: {c}");
        assert!(lat.iter().all(|l| l["probes"].as_u64().unwrap() > 0), "{c}");
    }
    assert_eq!(cell("end-dt4", kernel, None)["status"], "n/a");
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
    assert!(summary.contains("h-encaps-v6-2sid"), "{summary}");
    let _ = std::fs::remove_dir_all(&out);
}
