//! The lab's Linux VM (`lab::vm`): namespaces placed in it behave like host
//! ones through the lab's API, a whole test can run inside it, and it never
//! outlives its owner. Root only; the VM's kernel comes from
//! `scripts/deps.sh`.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lab::{KernelFeature, Lab, Route, Seg6LocalAction, Topology, VethEnd};

const R_MAC: [u8; 6] = [0x02, 0x76, 0, 0, 0, 0x01];

fn ping(lab: &Lab, ns: &str, addr: &str) {
    for attempt in 0..3 {
        let out = lab
            .exec(ns, ["ping", "-c1", "-W2", addr])
            .expect("run ping");
        if out.status.success() {
            return;
        }
        eprintln!("ping {addr} from {ns}: attempt {attempt} failed");
    }
    panic!("ping {addr} from {ns} failed three times");
}

/// h1 — r — h2 with r forced into the VM.
fn line_through_vm() -> Lab {
    Topology::new()
        .prefix("s6vm")
        .namespaces(&["h1", "r", "h2"])
        .veth(
            VethEnd::new("h1", "eth0"),
            VethEnd::new("r", "eth0").mac(R_MAC),
        )
        .link(("r", "eth1"), ("h2", "eth0"))
        .in_vm("r")
        .forwarding("r")
        .sysctl("r", "net.ipv6.conf.eth1.hop_limit", "33")
        .addr("h1", "eth0", "10.0.1.1/24")
        .addr("h1", "eth0", "fc00:1::1/64")
        .addr("r", "eth0", "10.0.1.2/24")
        .addr("r", "eth0", "fc00:1::2/64")
        .addr("r", "eth1", "10.0.2.1/24")
        .addr("r", "eth1", "fc00:2::1/64")
        .addr("h2", "eth0", "10.0.2.2/24")
        .addr("h2", "eth0", "fc00:2::2/64")
        .route("h1", Route::to("0.0.0.0/0").via("10.0.1.2"))
        .route("h1", Route::to("::/0").via("fc00:1::2"))
        .route("h2", Route::to("0.0.0.0/0").via("10.0.2.1"))
        .route("h2", Route::to("::/0").via("fc00:2::1"))
        .build()
        .expect("build a lab with r in the VM")
}

/// An IPv4/UDP frame (UDP checksum 0: none) from `src` to `dst`.
fn udp4_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    port: u16,
    data: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + data.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let mut sum: u32 = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&4000u16.to_be_bytes());
    f.extend_from_slice(&port.to_be_bytes());
    f.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(data);
    f
}

#[test]
fn vm_namespaces_work_like_host_ones() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = line_through_vm();
    assert!(lab.is_in_vm("r"));
    assert!(!lab.is_in_vm("h1") && !lab.is_in_vm("h2"));
    let vm = lab.vm().expect("a VM");
    eprintln!(
        "VM kernel {}, up in {:.1} s",
        vm.kernel_release(),
        vm.boot_time().as_secs_f64()
    );
    assert!(
        vm.kernel_release().starts_with("6.12"),
        "{}",
        vm.kernel_release()
    );

    // Traffic crosses the VM's kernel both ways, IPv4 and IPv6.
    ping(&lab, "h1", "fc00:2::2");
    ping(&lab, "h1", "10.0.2.2");
    ping(&lab, "h2", "fc00:1::1");

    // The topology's settings reached the VM's namespace.
    assert_eq!(lab.mac("r", "eth0").unwrap(), R_MAC);
    let hl = lab
        .exec_ok("r", ["sysctl", "-n", "net.ipv6.conf.eth1.hop_limit"])
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&hl.stdout).trim(), "33");
    let addrs = lab.ip("r", ["-6", "addr", "show", "dev", "eth1"]).unwrap();
    assert!(addrs.contains("fc00:2::1/64"), "{addrs}");
    // The VM's kernel has what the host's may lack.
    lab.ip(
        "r",
        [
            "-6",
            "route",
            "add",
            "fc00:99::/64",
            "encap",
            "seg6",
            "mode",
            "encap",
            "segs",
            "fc00:2::2",
            "dev",
            "eth1",
        ],
    )
    .expect("seg6 in the VM");
    let routes = lab
        .ip("r", ["-6", "route", "show", "fc00:99::/64"])
        .unwrap();
    assert!(
        routes.contains("encap seg6 mode encap segs 1 [ fc00:2::2 ]"),
        "{routes}"
    );

    // Exit statuses and errors come back as from a host command.
    let out = lab
        .exec("r", ["sh", "-c", "echo out; echo err >&2; exit 3"])
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    let msg = lab
        .exec_ok("r", ["ip", "link", "show", "dev", "nosuchdev"])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("in the lab's VM") && msg.contains("does not exist"),
        "{msg}"
    );

    // A script over its time limit is killed in the guest, with what it
    // wrote so far, and the VM answers the next one.
    let t0 = Instant::now();
    let slow = vm
        .sh(
            "a slow script",
            "echo started; sleep 60; echo never",
            Duration::from_secs(2),
        )
        .unwrap();
    assert_eq!(slow.status, 137, "{slow:?}");
    assert_eq!(String::from_utf8_lossy(&slow.stdout), "started\n");
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    let next = vm.sh("echo", "echo next", Duration::from_secs(10)).unwrap();
    assert_eq!(String::from_utf8_lossy(&next.stdout), "next\n");

    // Host-only operations say where r is.
    let msg = lab.in_ns("r", || ()).unwrap_err().to_string();
    assert!(msg.contains("`r` lives in the lab's Linux VM"), "{msg}");
    let msg = lab.spawn("r", ["sleep", "1"]).unwrap_err().to_string();
    assert!(msg.contains("spawn works only in host namespaces"), "{msg}");

    // A packet socket on r:eth0 sees what r:eth0 receives from h1 ...
    let tap = lab
        .packet_socket("r", "eth0")
        .expect("packet socket at r:eth0");
    tap.drain();
    let marker = b"seen-at-r-eth0";
    lab.in_ns("h1", || {
        let s = UdpSocket::bind("10.0.1.1:0").unwrap();
        s.send_to(marker, "10.0.2.2:9").unwrap();
    })
    .unwrap();
    let seen = tap.recv_matching(Duration::from_secs(3), |f| {
        f.windows(marker.len()).any(|w| w == marker)
    });
    assert!(seen.is_some(), "r:eth0's tap point saw nothing from h1");
    // ... and sends onto the link as r:eth0 would.
    let h1_mac = lab.mac("h1", "eth0").unwrap();
    let server = lab
        .in_ns("h1", || UdpSocket::bind("10.0.1.1:7777"))
        .unwrap()
        .unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let frame = udp4_frame(
        h1_mac,
        R_MAC,
        Ipv4Addr::new(10, 0, 1, 2),
        Ipv4Addr::new(10, 0, 1, 1),
        7777,
        b"from-r-eth0",
    );
    tap.send(&frame).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = server.recv_from(&mut buf).expect("h1 received r's frame");
    assert_eq!(&buf[..n], b"from-r-eth0");
    assert_eq!(from.ip().to_string(), "10.0.1.2");
}

/// Wherever the lab puts them, namespaces that need seg6 and a VRF get a
/// kernel that has both: on this host or in the VM (and inside the VM, as
/// `a_test_runs_inside_the_vm` shows, on the VM's own kernel, no VM nested).
#[test]
fn kernel_has_what_the_topology_needs() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Topology::new()
        .prefix("s6vmneed")
        .namespaces(&["h", "r"])
        .link(("h", "eth0"), ("r", "eth0"))
        .forwarding("r")
        .addr("h", "eth0", "fc00:1::1/64")
        .addr("r", "eth0", "fc00:1::2/64")
        .vrf("r", "vrf-a", 10)
        .tunsrc("r", "fc00:1::2")
        .route(
            "r",
            Route::seg6local(
                "fc00:b::4",
                Seg6LocalAction::EndDT4 { vrftable: 10 },
                "eth0",
            ),
        )
        .build()
        .expect("build");
    let on_host = lab::host_has(KernelFeature::Seg6) && lab::host_has(KernelFeature::Vrf);
    assert_eq!(lab.is_in_vm("r"), !on_host);
    assert!(!lab.is_in_vm("h"), "h needs nothing");
    println!(
        "placement of r: {}; in a VM test run: {}",
        if lab.is_in_vm("r") { "vm" } else { "host" },
        lab::vm::in_vm()
    );
    let routes = lab.ip("r", ["-6", "route", "show", "fc00:b::4"]).unwrap();
    assert!(routes.contains("End.DT4 vrftable 10"), "{routes}");
    let vrf = lab.ip("r", ["-d", "link", "show", "dev", "vrf-a"]).unwrap();
    assert!(vrf.contains("vrf table 10"), "{vrf}");
    ping(&lab, "h", "fc00:1::2");
    let uname = lab.exec_ok("r", ["uname", "-r"]).unwrap();
    println!(
        "kernel of r: {}",
        String::from_utf8_lossy(&uname.stdout).trim()
    );
}

#[test]
fn a_test_runs_inside_the_vm() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    assert!(
        !lab::vm::in_vm(),
        "this test starts VMs; it must not run inside one"
    );
    let out = lab::vm::run_test_in_vm(
        "kernel_has_what_the_topology_needs",
        &[],
        Duration::from_secs(120),
    )
    .expect("run a test in the VM");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert_eq!(out.status, 0, "the test failed inside the VM");
    assert!(text.contains("1 passed"), "{text}");
    assert!(
        text.contains("placement of r: host; in a VM test run: true"),
        "inside the VM the VM's own kernel hosts r: {text}"
    );
    assert!(text.contains("kernel of r: 6.12"), "{text}");
}

/// SIGKILL to `pid`, with kill(1).
fn kill9(pid: u32) {
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
}

/// The pids of QEMU processes started with `-name NAME`.
fn qemu_pids(name: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let words: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if words
            .first()
            .is_some_and(|w| w.ends_with(b"qemu-system-x86_64"))
            && words
                .windows(2)
                .any(|w| w[0] == b"-name" && w[1] == name.as_bytes())
        {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn a_killed_owner_leaves_no_vm_running() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut owner = Command::new(env!("CARGO_BIN_EXE_lab-vm"))
        .arg("hold")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start lab-vm hold");
    let mut line = String::new();
    BufReader::new(owner.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let name = line
        .trim()
        .strip_prefix("ready ")
        .unwrap_or_else(|| panic!("lab-vm hold said {line:?}"))
        .to_string();
    let pids = qemu_pids(&name);
    assert_eq!(pids.len(), 1, "one QEMU for {name}: {pids:?}");
    owner.kill().unwrap();
    owner.wait().unwrap();
    // The guest sees its control port close and powers off.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !qemu_pids(&name).is_empty() {
        if Instant::now() > deadline {
            let left = qemu_pids(&name);
            for pid in &left {
                kill9(*pid);
            }
            panic!("QEMU {left:?} still ran 60 s after its owner was killed (now killed)");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_missing_vm_kernel_is_named_with_the_fix() {
    let empty = std::env::temp_dir().join(format!("s6vm-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lab-vm"))
        .args(["run", "true"])
        .env("SRV6D_LAB_VM_DIR", &empty)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&empty);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("scripts/deps.sh") && err.contains("linux-image-6.12-cloud-amd64"),
        "{err}"
    );
    assert!(err.contains(&empty.display().to_string()), "{err}");
}
