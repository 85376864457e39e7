//! The runtime part: building a [`Topology`] into namespaces, the [`Lab`]
//! handle that owns them, and helpers to run things inside them.

use std::ffi::{OsStr, OsString};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::features::{host_probe, Probe};
use crate::packet::PacketSocket;
use crate::spec::{format_mac, parse_mac, Mac, Topology, VethEnd, WIRE_NS};
use crate::sys::{create_netns, delete_netns, in_netns, render, run, sweep_leftovers, NsChild};
use crate::vm::{sh_quote, Vm, VmNic, VmSpec};
use crate::Error;

/// Per-process lab counter: the `<counter>` in `<prefix>-<pid>-<counter>-<logical>`.
static LAB_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A built topology. Dropping it deletes every namespace it created (and so
/// their veths) and stops its VM, also while unwinding from a panic;
/// teardown errors go to stderr.
#[derive(Debug)]
pub struct Lab {
    /// (logical, real) for every host namespace created, in creation order.
    names: Vec<(String, String)>,
    /// (logical, real) for every namespace inside the VM.
    vm_names: Vec<(String, String)>,
    /// The host namespace holding the taps and bridges of the VM's links.
    wire: Option<String>,
    /// The VM hosting `vm_names`, if any.
    vm: Option<Vm>,
    /// Why the VM was needed (features the host lacks), for messages.
    vm_reason: String,
    /// (VM namespace, interface, the wire's veth that faces the host end
    /// of its link).
    vm_taps: Vec<(String, String, String)>,
}

/// Commands run in the VM while building, one step each; the first that
/// fails stops the script and is reported like a host command.
struct VmScript {
    text: String,
}

impl VmScript {
    fn new() -> Self {
        VmScript {
            text: String::from(
                "step() {\n  d=$1; shift\n  printf '+ %s\\n' \"$d\"\n  \
                 \"$@\" >/tmp/step.out 2>/tmp/step.err\n  rc=$?\n  \
                 if [ $rc -ne 0 ]; then\n    printf '%s\\n' \"$d\" \"$*\" >&2\n    \
                 cat /tmp/step.err /tmp/step.out >&2\n    exit $rc\n  fi\n}\n\
                 nicdev() {\n  for d in /sys/class/net/*; do\n    \
                 if [ \"$(cat $d/address)\" = \"$1\" ]; then echo \"${d##*/}\"; return 0; fi\n  \
                 done\n  printf '%s\\n' \"find the VM NIC with MAC $1\" \"nicdev $1\" \"no such NIC\" >&2\n  \
                 exit 3\n}\n",
            ),
        }
    }

    fn step<I, S>(&mut self, what: &str, argv: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.text.push_str("step ");
        self.text.push_str(&sh_quote(what));
        for word in argv {
            self.text.push(' ');
            self.text.push_str(&sh_quote(word.as_ref()));
        }
        self.text.push('\n');
    }

    fn raw(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// Runs the script; a failed step becomes an [`Error::Command`], one
    /// still running after three minutes too (named by the `+ step` line
    /// the script printed last).
    fn run(self, vm: &Vm) -> Result<(), Error> {
        const LIMIT: Duration = Duration::from_secs(180);
        let out = vm.sh("the lab's build steps", &self.text, LIMIT)?;
        if out.status == 0 {
            return Ok(());
        }
        if out.status == 137 {
            let stdout = String::from_utf8_lossy(&out.stdout);
            let last = stdout.lines().rev().find_map(|l| l.strip_prefix("+ "));
            return Err(Error::Command {
                step: format!(
                    "{} (in the lab's VM)",
                    last.unwrap_or("the first build step")
                ),
                command: String::new(),
                status: format!("killed after {LIMIT:?}"),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        let err = String::from_utf8_lossy(&out.stderr);
        let mut lines = err.lines();
        let step = lines.next().unwrap_or("a step in the VM").to_string();
        let command = lines.next().unwrap_or_default().to_string();
        let rest: Vec<&str> = lines.collect();
        Err(Error::Command {
            step: format!("{step} (in the lab's VM)"),
            command,
            status: format!("exit status: {}", out.status),
            stderr: rest.join("\n").trim().to_string(),
        })
    }
}

impl Topology {
    /// Where each namespace goes: `true` for the VM. A namespace goes to the
    /// VM when [`Topology::in_vm`] says so or when it needs a feature the
    /// host kernel lacks (probed once per process); the string says why.
    fn placement(&self) -> (Vec<bool>, String) {
        let mut reasons: Vec<String> = Vec::new();
        let placed = self
            .namespaces
            .iter()
            .map(|ns| {
                if self.force_vm.contains(ns) {
                    if reasons.is_empty() {
                        reasons.push("placed there by the topology".into());
                    }
                    return true;
                }
                let mut vm = false;
                for f in self.features_of(ns) {
                    if let Probe::Missing(why) = host_probe(f) {
                        let r = format!("{f}: {why}");
                        if !reasons.contains(&r) {
                            reasons.push(r);
                        }
                        vm = true;
                    }
                }
                vm
            })
            .collect();
        (placed, reasons.join("; "))
    }

    /// Creates everything, in the order described on [`Topology`].
    ///
    /// On failure, whatever was created is torn down and the error names the
    /// step, the command and its stderr.
    pub fn build(self) -> Result<Lab, Error> {
        self.check().map_err(Error::Topology)?;
        sweep_leftovers(&self.prefix);
        let id = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let (placed, vm_reason) = self.placement();
        let in_vm = |ns: &str| {
            self.namespaces
                .iter()
                .position(|n| n == ns)
                .is_some_and(|i| placed[i])
        };
        // Dropped (and so torn down) by any `?` below.
        let mut lab = Lab {
            names: Vec::new(),
            vm_names: Vec::new(),
            wire: None,
            vm: None,
            vm_reason,
            vm_taps: Vec::new(),
        };
        let mut vm = VmScript::new();

        const NO_DAD: [&str; 4] = [
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
        ];
        for logical in &self.namespaces {
            let real = format!("{}-{pid}-{id}-{logical}", self.prefix);
            if in_vm(logical) {
                vm.step(
                    &format!("create namespace {real}"),
                    ["ip", "netns", "add", &real],
                );
                lab.vm_names.push((logical.clone(), real));
            } else {
                create_netns(&real)?;
                lab.names.push((logical.clone(), real));
            }
            let lo = ["link", "set", "dev", "lo", "up"];
            lab.build_ip(&mut vm, logical, &format!("bring up lo in {logical}"), &lo)?;
            if self.disable_dad {
                lab.build_exec(
                    &mut vm,
                    logical,
                    &format!("disable DAD in {logical}"),
                    &NO_DAD,
                )?;
            }
        }

        // Links: host-host veths here, VM-VM veths in the VM, host-VM
        // ones through a tap and a bridge in the wire namespace.
        let mut nics: Vec<(VmNic, &VethEnd, u32)> = Vec::new();
        // Created after the NICs have left the VM's initial namespace,
        // where their kernel names (eth0, eth1, ...) would clash.
        let mut vm_veths: Vec<(String, Vec<String>)> = Vec::new();
        let mut crossing: Vec<(&VethEnd, String, u32)> = Vec::new();
        for (a, b) in &self.veths {
            match (in_vm(&a.ns), in_vm(&b.ns)) {
                (false, false) => {
                    let mut cmd = Command::new("ip");
                    cmd.args(["link", "add"])
                        .args(a.link_args(lab.ns(&a.ns)))
                        .args(["type", "veth", "peer"])
                        .args(b.link_args(lab.ns(&b.ns)));
                    run(&format!("create veth {a} <-> {b}"), cmd)?;
                }
                (true, true) => {
                    let mut argv = vec!["ip".to_string(), "link".into(), "add".into()];
                    argv.extend(a.link_args(lab.ns(&a.ns)));
                    argv.extend(["type".into(), "veth".into(), "peer".into()]);
                    argv.extend(b.link_args(lab.ns(&b.ns)));
                    vm_veths.push((format!("create veth {a} <-> {b}"), argv));
                }
                (host_a, _) => {
                    let (host, guest) = if host_a { (b, a) } else { (a, b) };
                    let n = nics.len();
                    // The VM's NIC has one queue; the wire's veth peer of
                    // the host end gets the queues the guest end asked for,
                    // which is what the host end sees of its peer.
                    let mtu = host.mtu.max(guest.mtu).unwrap_or(1500).max(1500);
                    let mac = guest.mac.unwrap_or([
                        0x02,
                        0x6c,
                        0x76,
                        (id & 0xff) as u8,
                        (n >> 8) as u8,
                        n as u8,
                    ]);
                    nics.push((
                        VmNic {
                            tap: format!("t{n}"),
                            mac,
                        },
                        guest,
                        mtu,
                    ));
                    crossing.push((host, format!("w{n}"), mtu));
                    lab.vm_taps
                        .push((guest.ns.clone(), guest.ifname.clone(), format!("w{n}")));
                }
            }
        }
        if !lab.vm_names.is_empty() && crate::vm::in_vm() {
            return Err(Error::Vm(format!(
                "this test runs inside the lab's VM, whose kernel cannot host {}: {}",
                vm_names_of(&lab),
                lab.vm_reason
            )));
        }
        if !lab.vm_names.is_empty() {
            let real = format!("{}-{pid}-{id}-{WIRE_NS}", self.prefix);
            create_netns(&real)?;
            lab.wire = Some(real.clone());
            wire_up(&real, &lab, &crossing, &nics)?;
            let spec = VmSpec {
                netns: Some(real.clone()),
                nics: nics.iter().map(|(nic, _, _)| nic.clone()).collect(),
                ..VmSpec::new(&format!("{}-{pid}-{id}-vm", self.prefix))
            };
            let started = Vm::start(&spec).map_err(|e| match e {
                Error::Vm(m) => Error::Vm(format!(
                    "needed for {} ({}): {m}",
                    vm_names_of(&lab),
                    lab.vm_reason
                )),
                other => other,
            })?;
            eprintln!(
                "lab: {} in the Linux VM ({}; kernel {}, up in {:.1} s)",
                vm_names_of(&lab),
                lab.vm_reason,
                started.kernel_release(),
                started.boot_time().as_secs_f64()
            );
            lab.vm = Some(started);
            for (n, (nic, guest, _)) in nics.iter().enumerate() {
                lab.place_nic(&mut vm, n, nic, guest);
            }
        }

        for (what, argv) in vm_veths {
            vm.step(&what, argv);
        }

        let mut strict: Vec<&str> = Vec::new();
        for (ns, name, table) in &self.vrfs {
            let table = table.to_string();
            let add = ["link", "add", name.as_str(), "type", "vrf", "table", &table];
            lab.build_ip(&mut vm, ns, &format!("add VRF {name} in {ns}"), &add)?;
            // The kernel's End.DT4 / End.DT46 (`vrftable`) insist on strict
            // mode: one VRF device per table.
            if !strict.contains(&ns.as_str()) {
                strict.push(ns);
                let argv = ["sysctl", "-qw", "net.vrf.strict_mode=1"];
                let step = format!("set net.vrf.strict_mode=1 in {ns}");
                lab.build_exec(&mut vm, ns, &step, &argv)?;
            }
        }
        for (ns, ifname, vrf) in &self.vrf_members {
            let args = ["link", "set", "dev", ifname, "master", vrf];
            let step = format!("enslave {ns}:{ifname} to VRF {vrf}");
            lab.build_ip(&mut vm, ns, &step, &args)?;
        }

        for (ns, key, value) in &self.sysctls {
            let setting = format!("{key}={value}");
            let step = format!("set sysctl {key} in {ns}");
            lab.build_exec(&mut vm, ns, &step, &["sysctl", "-qw", &setting])?;
        }

        // Links go up before addresses are added: an IPv6 address added to a
        // down veth stays unusable for up to a second or two after link-up.
        let veth_ends = self.veths.iter().flat_map(|(a, b)| [a, b]);
        let up = veth_ends
            .map(|e| (e.ns.as_str(), e.ifname.as_str()))
            .chain(self.vrfs.iter().map(|(ns, n, _)| (ns.as_str(), n.as_str())));
        for (ns, ifname) in up {
            let step = format!("bring up {ns}:{ifname}");
            lab.build_ip(&mut vm, ns, &step, &["link", "set", "dev", ifname, "up"])?;
        }

        for a in &self.addresses {
            let cidr = a.cidr.to_string();
            let mut args = vec!["addr", "add", &cidr, "dev", &a.ifname];
            if a.cidr.is_ipv6() && (a.nodad || self.disable_dad) {
                args.push("nodad");
            }
            let step = format!("add address {cidr} to {}:{}", a.ns, a.ifname);
            lab.build_ip(&mut vm, &a.ns, &step, &args)?;
        }

        for n in &self.neighbours {
            let (addr, mac) = (n.addr.to_string(), format_mac(&n.mac));
            let args = [
                "neigh",
                "replace",
                &addr,
                "lladdr",
                &mac,
                "dev",
                &n.ifname,
                "nud",
                "permanent",
            ];
            let step = format!("add neighbour {addr} on {}:{}", n.ns, n.ifname);
            lab.build_ip(&mut vm, &n.ns, &step, &args)?;
        }

        for (ns, addr) in &self.tunsrcs {
            let addr = addr.to_string();
            let step = format!("set tunsrc {addr} in {ns}");
            lab.build_ip(&mut vm, ns, &step, &["sr", "tunsrc", "set", &addr])?;
        }

        for (ns, route) in &self.routes {
            let args = route.to_args();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            lab.build_ip(&mut vm, ns, &format!("add route in {ns}"), &args)?;
        }
        if let Some(v) = &lab.vm {
            vm.run(v)?;
        }
        Ok(lab)
    }
}

impl Lab {
    /// A build step `ip -n NS args` in `ns`'s kernel: run now on the host,
    /// or added to the VM's script (run at the end of the build).
    fn build_ip(
        &self,
        vm: &mut VmScript,
        ns: &str,
        step: &str,
        args: &[&str],
    ) -> Result<(), Error> {
        if self.is_in_vm(ns) {
            vm.step(step, ip_words(self.ns(ns), args));
            Ok(())
        } else {
            run(step, ip_in(self.ns(ns), args)).map(drop)
        }
    }

    /// A build step running `argv` inside `ns` (`ip netns exec`), like
    /// [`Lab::build_ip`].
    fn build_exec(
        &self,
        vm: &mut VmScript,
        ns: &str,
        step: &str,
        argv: &[&str],
    ) -> Result<(), Error> {
        if self.is_in_vm(ns) {
            let mut words = vec!["ip", "netns", "exec", self.ns(ns)];
            words.extend_from_slice(argv);
            vm.step(step, words);
            Ok(())
        } else {
            run(step, exec_in(self.ns(ns), argv)).map(drop)
        }
    }

    /// Moves VM NIC number `n` (found by its MAC) from the VM's initial
    /// namespace into `guest`'s, under a temporary name first (the kernel
    /// named it ethN, which may be taken there), then `guest`'s name and MTU.
    fn place_nic(&self, vm: &mut VmScript, n: usize, nic: &VmNic, guest: &VethEnd) {
        let real = self.ns(&guest.ns);
        let tmp = format!("labnic{n}");
        vm.raw(&format!("dev=$(nicdev {}) || exit 3", format_mac(&nic.mac)));
        vm.raw(&format!(
            "step {} ip link set dev \"$dev\" name {tmp}",
            sh_quote(&format!("rename the VM NIC for {guest}"))
        ));
        let move_in = ["ip", "link", "set", "dev", &tmp, "netns", real];
        vm.step(&format!("move the VM NIC into {}", guest.ns), move_in);
        let rename = ["link", "set", "dev", &tmp, "name", &guest.ifname];
        vm.step(&format!("name the VM NIC {guest}"), ip_words(real, rename));
        if let Some(mtu) = guest.mtu {
            let mtu = mtu.to_string();
            let set = ["link", "set", "dev", &guest.ifname, "mtu", &mtu];
            vm.step(&format!("set the MTU of {guest}"), ip_words(real, set));
        }
    }
}

/// The logical names of a lab's VM namespaces, for messages.
fn vm_names_of(lab: &Lab) -> String {
    let names: Vec<&str> = lab.vm_names.iter().map(|(l, _)| l.as_str()).collect();
    names.join(", ")
}

/// `ip -n REAL args...` as words for a [`VmScript`] step.
fn ip_words<I, S>(real: &str, args: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut words = vec!["ip".to_string(), "-n".into(), real.to_string()];
    words.extend(args.into_iter().map(|a| a.as_ref().to_string()));
    words
}

/// The wire namespace: IPv6 off (it must not speak on the links), then per
/// host-VM link the host's veth end (its peer `wN` here), a tap `tN` for
/// QEMU and a bridge `bN` joining the two, multicast snooping off so that
/// neighbour discovery floods.
fn wire_up(
    wire: &str,
    lab: &Lab,
    crossing: &[(&VethEnd, String, u32)],
    nics: &[(VmNic, &VethEnd, u32)],
) -> Result<(), Error> {
    run(
        "disable IPv6 in the VM's wire namespace",
        exec_in(
            wire,
            [
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ],
        ),
    )?;
    for ((host, peer, mtu), (nic, guest, _)) in crossing.iter().zip(nics) {
        let mtu = mtu.to_string();
        let bridge = format!("b{}", &peer[1..]);
        let mut cmd = Command::new("ip");
        cmd.args(["link", "add"])
            .args(host.link_args(lab.ns(&host.ns)))
            .args([
                "type", "veth", "peer", "name", peer, "netns", wire, "mtu", &mtu,
            ]);
        if let Some(q) = guest.queues {
            let q = q.to_string();
            cmd.args(["numrxqueues", &q, "numtxqueues", &q]);
        }
        run(&format!("create veth {host} <-> VM link to {guest}"), cmd)?;
        let steps: [(&str, Vec<&str>); 7] = [
            (
                "add tap",
                vec!["tuntap", "add", "dev", &nic.tap, "mode", "tap"],
            ),
            (
                "set tap MTU",
                vec!["link", "set", "dev", &nic.tap, "mtu", &mtu],
            ),
            (
                "add bridge",
                vec![
                    "link",
                    "add",
                    &bridge,
                    "mtu",
                    &mtu,
                    "type",
                    "bridge",
                    "mcast_snooping",
                    "0",
                ],
            ),
            (
                "enslave veth",
                vec!["link", "set", "dev", peer, "master", &bridge],
            ),
            (
                "enslave tap",
                vec!["link", "set", "dev", &nic.tap, "master", &bridge],
            ),
            ("bring up veth", vec!["link", "set", "dev", peer, "up"]),
            ("bring up tap", vec!["link", "set", "dev", &nic.tap, "up"]),
        ];
        for (what, args) in steps {
            run(
                &format!("{what} for the VM link to {guest}"),
                ip_in(wire, args),
            )?;
        }
        run(
            &format!("bring up the bridge for the VM link to {guest}"),
            ip_in(wire, ["link", "set", "dev", &bridge, "up"]),
        )?;
    }
    Ok(())
}

impl Lab {
    /// The real namespace name of logical namespace `logical`.
    ///
    /// # Panics
    /// If the topology declared no such namespace (as do all methods taking
    /// a logical `ns`).
    pub fn ns(&self, logical: &str) -> &str {
        match self
            .names
            .iter()
            .chain(&self.vm_names)
            .find(|(l, _)| l == logical)
        {
            Some((_, real)) => real,
            None => {
                let known: Vec<&str> = self
                    .names
                    .iter()
                    .chain(&self.vm_names)
                    .map(|(l, _)| l.as_str())
                    .collect();
                panic!(
                    "lab has no namespace `{logical}` (it has: {})",
                    known.join(", ")
                )
            }
        }
    }

    /// Every (logical, real) namespace name: the host's in declaration
    /// order, then those inside the VM (their real names exist only there).
    pub fn namespaces(&self) -> impl Iterator<Item = (&str, &str)> {
        self.names
            .iter()
            .chain(&self.vm_names)
            .map(|(l, r)| (l.as_str(), r.as_str()))
    }

    /// True when `ns` lives in the lab's Linux VM (see [`crate::vm`]).
    pub fn is_in_vm(&self, ns: &str) -> bool {
        self.vm_names.iter().any(|(l, _)| l == ns)
    }

    /// The lab's VM, if a namespace needed one.
    pub fn vm(&self) -> Option<&Vm> {
        self.vm.as_ref()
    }

    /// The error for a host-only operation on a namespace in the VM.
    fn vm_only(&self, ns: &str, what: &str) -> Error {
        Error::Vm(format!(
            "namespace `{ns}` lives in the lab's Linux VM ({}): {what} works only in host \
             namespaces; use exec, exec_ok or ip there",
            self.vm_reason
        ))
    }

    /// `ip netns exec REAL argv...`, ready to be configured and run.
    ///
    /// # Panics
    /// If `ns` lives in the lab's VM ([`Lab::is_in_vm`]): a host process
    /// cannot run there; use [`Lab::exec`].
    pub fn command<I, S>(&self, ns: &str, argv: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        if self.is_in_vm(ns) {
            panic!("{}", self.vm_only(ns, "Lab::command"));
        }
        exec_in(self.ns(ns), argv)
    }

    /// Runs `argv` in the VM's namespace `ns` (to completion, at most two
    /// minutes).
    fn exec_vm<I, S>(&self, ns: &str, argv: I) -> Result<Output, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let vm = self.vm.as_ref().expect("a lab with VM namespaces has a VM");
        let words: Vec<String> = argv
            .into_iter()
            .map(|w| sh_quote(&w.as_ref().to_string_lossy()))
            .collect();
        let script = format!(
            "ip netns exec {} {}",
            sh_quote(self.ns(ns)),
            words.join(" ")
        );
        let what = format!("`{}` in {ns}", words.join(" "));
        Ok(vm
            .sh(&what, &script, Duration::from_secs(120))?
            .into_output())
    }

    /// Runs `argv` in `ns` to completion, stdin closed, output captured.
    /// Errors only when the command cannot be started.
    pub fn exec<I, S>(&self, ns: &str, argv: I) -> Result<Output, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        if self.is_in_vm(ns) {
            return self.exec_vm(ns, argv);
        }
        let mut cmd = self.command(ns, argv);
        let command = render(&cmd);
        cmd.stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Spawn {
                step: format!("exec in {ns}"),
                command,
                source,
            })
    }

    /// Like [`Lab::exec`], and a non-zero exit is an error carrying stderr.
    pub fn exec_ok<I, S>(&self, ns: &str, argv: I) -> Result<Output, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        if self.is_in_vm(ns) {
            let argv: Vec<OsString> = argv.into_iter().map(|a| a.as_ref().to_owned()).collect();
            let out = self.exec_vm(ns, &argv)?;
            return check_vm_output(&format!("exec in {ns} (in the lab's VM)"), &argv, out);
        }
        run(&format!("exec in {ns}"), self.command(ns, argv))
    }

    /// Runs `ip -n REAL args...` and returns its stdout.
    pub fn ip<I, S>(&self, ns: &str, args: I) -> Result<String, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        if self.is_in_vm(ns) {
            let mut argv: Vec<OsString> = vec!["ip".into()];
            argv.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
            let out = self.exec_vm(ns, &argv)?;
            let out = check_vm_output(&format!("ip in {ns} (in the lab's VM)"), &argv, out)?;
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let out = run(&format!("ip in {ns}"), ip_in(self.ns(ns), args))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts `argv` in `ns` as a server (stdin and stdout null, stderr
    /// inherited, own process group). The returned guard kills the process
    /// group on drop.
    pub fn spawn<I, S>(&self, ns: &str, argv: I) -> Result<NsChild, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        if self.is_in_vm(ns) {
            return Err(self.vm_only(ns, "spawn"));
        }
        let mut cmd = self.command(ns, argv);
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        NsChild::spawn(&format!("spawn in {ns}"), cmd)
    }

    /// The MAC address of `ifname` in `ns`.
    pub fn mac(&self, ns: &str, ifname: &str) -> Result<Mac, Error> {
        let line = self.link_line(ns, ifname)?;
        line.split_whitespace()
            .skip_while(|w| !w.starts_with("link/"))
            .nth(1)
            .and_then(parse_mac)
            .ok_or_else(|| Error::Parse(format!("no MAC address in `{line}`")))
    }

    /// The interface index of `ifname` in `ns`.
    pub fn ifindex(&self, ns: &str, ifname: &str) -> Result<u32, Error> {
        let line = self.link_line(ns, ifname)?;
        line.split(':')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| Error::Parse(format!("no ifindex in `{line}`")))
    }

    fn link_line(&self, ns: &str, ifname: &str) -> Result<String, Error> {
        self.ip(ns, ["-o", "link", "show", "dev", ifname])
    }

    /// Waits (up to 10 s) until no IPv6 address in `ns` is tentative; only
    /// needed with [`Topology::dad`]`(true)`. Fails at once on `dadfailed`.
    pub fn wait_for_dad(&self, ns: &str) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let failed = self.ip(ns, ["-6", "-o", "addr", "show", "dadfailed"])?;
            if !failed.trim().is_empty() {
                return Err(Error::Dad(format!("in {ns}: {}", failed.trim())));
            }
            let tentative = self.ip(ns, ["-6", "-o", "addr", "show", "tentative"])?;
            if tentative.trim().is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Dad(format!(
                    "in {ns}, still tentative after 10 s: {}",
                    tentative.trim()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `f` on a fresh thread that has joined `ns`'s network namespace
    /// and returns its result. Sockets created inside stay in that namespace.
    pub fn in_ns<R, F>(&self, ns: &str, f: F) -> Result<R, Error>
    where
        R: Send,
        F: FnOnce() -> R + Send,
    {
        if self.is_in_vm(ns) {
            return Err(self.vm_only(ns, "in_ns"));
        }
        in_netns(self.ns(ns), f)
    }

    /// An AF_PACKET socket bound to `ifname` in `ns`.
    ///
    /// For an interface in the lab's VM whose link leads to a host
    /// namespace, the socket is bound to the link's tap point on the host
    /// (the veth in the wire namespace that faces the host end): it
    /// receives what the interface would receive and sends onto the link
    /// as the interface would, bypassing the VM's kernel (what that kernel
    /// itself sends appears only with [`PacketSocket::include_outgoing`]).
    /// Links between two VM namespaces have no such point.
    pub fn packet_socket(&self, ns: &str, ifname: &str) -> Result<PacketSocket, Error> {
        if self.is_in_vm(ns) {
            let tap = self.vm_taps.iter().find(|(n, i, _)| n == ns && i == ifname);
            return match (tap, &self.wire) {
                (Some((_, _, peer)), Some(wire)) => PacketSocket::bind(wire, peer),
                _ => Err(self.vm_only(
                    ns,
                    &format!("a packet socket on {ifname} (a link inside the VM)"),
                )),
            };
        }
        PacketSocket::bind(self.ns(ns), ifname)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // QEMU first: its taps live in the wire namespace.
        self.vm.take();
        for real in self.wire.iter() {
            if let Err(e) = delete_netns(real) {
                eprintln!("lab: teardown: {e}");
            }
        }
        for (_, real) in self.names.iter().rev() {
            if let Err(e) = delete_netns(real) {
                eprintln!("lab: teardown: {e}");
            }
        }
    }
}

/// `ip -n REAL args...`
fn ip_in<I, S>(real: &str, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new("ip");
    cmd.args(["-n", real]).args(args);
    cmd
}

/// `ip netns exec REAL argv...`
fn exec_in<I, S>(real: &str, argv: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", real]).args(argv);
    cmd
}

/// A VM command's output, with a non-zero exit as an [`Error::Command`].
fn check_vm_output(step: &str, argv: &[OsString], out: Output) -> Result<Output, Error> {
    if out.status.success() {
        return Ok(out);
    }
    let words: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    Err(Error::Command {
        step: step.to_string(),
        command: words.join(" "),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}
