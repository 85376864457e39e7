//! `lab-vm`: the lab's Linux VM by hand (see `lab::vm` and docs/testbed.md).
//!
//! ```text
//! lab-vm run 'ip -6 route add fc00::/64 encap seg6 mode encap segs fc00::1 dev lo; ip -6 route'
//! lab-vm shell          # each line you type runs in the VM; Ctrl-D powers it off
//! lab-vm hold           # boots, prints `ready NAME`, waits until killed
//! ```

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use lab::vm::{Vm, VmSpec};

const USAGE: &str = "\
usage: lab-vm run SCRIPT | shell | hold

Boots the lab's Linux VM (Debian's 6.12 cloud kernel under QEMU software
emulation, with seg6, seg6local, SRH HMAC and VRF; scripts/deps.sh fetches
it) and:
  run SCRIPT   runs SCRIPT with the VM's busybox sh (host tools: ip, ping,
               ethtool), prints its output, powers off; exits with its status
  shell        reads lines from stdin and runs each in the VM (one shell per
               line: use `;` to chain), until end of input
  hold         prints `ready NAME` and keeps the VM until killed (tests use it)

Needs root. The VM has no network of its own here; lab::Topology joins VM
namespaces to host namespaces by tap devices.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = format!("lab-vm-{}", std::process::id());
    let start = || -> Result<Vm, ExitCode> {
        let vm = Vm::start(&VmSpec::new(&name)).map_err(|e| {
            eprintln!("lab-vm: {e}");
            ExitCode::FAILURE
        })?;
        eprintln!(
            "lab-vm: {name} up in {:.1} s (kernel {})",
            vm.boot_time().as_secs_f64(),
            vm.kernel_release()
        );
        Ok(vm)
    };
    let run = |vm: &Vm, script: &str| -> i32 {
        match vm.sh("your script", script, Duration::from_secs(600)) {
            Ok(out) => {
                let _ = std::io::stdout().write_all(&out.stdout);
                let _ = std::io::stderr().write_all(&out.stderr);
                out.status
            }
            Err(e) => {
                eprintln!("lab-vm: {e}");
                1
            }
        }
    };
    match args.first().map(String::as_str) {
        Some("run") if args.len() == 2 => {
            let vm = match start() {
                Ok(vm) => vm,
                Err(code) => return code,
            };
            ExitCode::from(run(&vm, &args[1]).clamp(0, 255) as u8)
        }
        Some("shell") if args.len() == 1 => {
            let vm = match start() {
                Ok(vm) => vm,
                Err(code) => return code,
            };
            let stdin = std::io::stdin();
            eprint!("vm# ");
            for line in stdin.lock().lines() {
                let Ok(line) = line else { break };
                let status = run(&vm, &line);
                if status != 0 {
                    eprintln!("(exit status {status})");
                }
                eprint!("vm# ");
            }
            eprintln!();
            ExitCode::SUCCESS
        }
        Some("hold") if args.len() == 1 => {
            let _vm = match start() {
                Ok(vm) => vm,
                Err(code) => return code,
            };
            println!("ready {name}");
            let _ = std::io::stdout().flush();
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
