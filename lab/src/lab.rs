//! The runtime part: building a [`Topology`] into namespaces, the [`Lab`]
//! handle that owns them, and helpers to run things inside them.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::packet::PacketSocket;
use crate::spec::{format_mac, parse_mac, Mac, Topology};
use crate::Error;

/// Where iproute2 keeps named network namespaces.
pub const NETNS_DIR: &str = "/var/run/netns";

/// Serialises `ip netns add` across threads and processes: concurrent first
/// uses race on making the netns directory a shared mount.
const LOCK_FILE: &str = "/var/run/srv6d-lab.lock";

/// Per-process lab counter: the `<counter>` in `<prefix>-<pid>-<counter>-<logical>`.
static LAB_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A built topology. Dropping it deletes every namespace it created (and so
/// their veths), also while unwinding from a panic; teardown errors go to
/// stderr.
#[derive(Debug)]
pub struct Lab {
    /// (logical, real) for every namespace created, in creation order.
    names: Vec<(String, String)>,
}

impl Topology {
    /// Creates everything, in the order described on [`Topology`].
    ///
    /// On failure, whatever was created is torn down and the error names the
    /// step, the command and its stderr.
    pub fn build(self) -> Result<Lab, Error> {
        self.check().map_err(Error::Topology)?;
        sweep_leftovers(&self.prefix);
        let id = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Dropped (and so torn down) by any `?` below.
        let mut lab = Lab { names: Vec::new() };

        for logical in &self.namespaces {
            let real = format!("{}-{pid}-{id}-{logical}", self.prefix);
            create_netns(&real)?;
            lab.names.push((logical.clone(), real));
            let real = lab.ns(logical);
            run(
                &format!("bring up lo in {logical}"),
                ip_in(real, ["link", "set", "dev", "lo", "up"]),
            )?;
            if self.disable_dad {
                run(
                    &format!("disable DAD in {logical}"),
                    exec_in(
                        real,
                        [
                            "sysctl",
                            "-qw",
                            "net.ipv6.conf.all.accept_dad=0",
                            "net.ipv6.conf.default.accept_dad=0",
                        ],
                    ),
                )?;
            }
        }

        for (a, b) in &self.veths {
            let mut cmd = Command::new("ip");
            cmd.args(["link", "add"])
                .args(a.link_args(lab.ns(&a.ns)))
                .args(["type", "veth", "peer"])
                .args(b.link_args(lab.ns(&b.ns)));
            run(&format!("create veth {a} <-> {b}"), cmd)?;
        }

        for (ns, key, value) in &self.sysctls {
            run(
                &format!("set sysctl {key} in {ns}"),
                exec_in(lab.ns(ns), ["sysctl", "-qw", &format!("{key}={value}")]),
            )?;
        }

        // Links go up before addresses are added: an IPv6 address added to a
        // down veth stays unusable for up to a second or two after link-up.
        for end in self.veths.iter().flat_map(|(a, b)| [a, b]) {
            run(
                &format!("bring up {end}"),
                ip_in(lab.ns(&end.ns), ["link", "set", "dev", &end.ifname, "up"]),
            )?;
        }

        for a in &self.addresses {
            let cidr = a.cidr.to_string();
            let mut args = vec!["addr", "add", &cidr, "dev", &a.ifname];
            if a.cidr.is_ipv6() && (a.nodad || self.disable_dad) {
                args.push("nodad");
            }
            run(
                &format!("add address {cidr} to {}:{}", a.ns, a.ifname),
                ip_in(lab.ns(&a.ns), args),
            )?;
        }

        for n in &self.neighbours {
            let addr = n.addr.to_string();
            let mac = format_mac(&n.mac);
            run(
                &format!("add neighbour {addr} on {}:{}", n.ns, n.ifname),
                ip_in(
                    lab.ns(&n.ns),
                    [
                        "neigh",
                        "replace",
                        &addr,
                        "lladdr",
                        &mac,
                        "dev",
                        &n.ifname,
                        "nud",
                        "permanent",
                    ],
                ),
            )?;
        }

        for (ns, addr) in &self.tunsrcs {
            let addr = addr.to_string();
            run(
                &format!("set tunsrc {addr} in {ns}"),
                ip_in(lab.ns(ns), ["sr", "tunsrc", "set", &addr]),
            )?;
        }

        for (ns, route) in &self.routes {
            run(
                &format!("add route in {ns}"),
                ip_in(lab.ns(ns), route.to_args()),
            )?;
        }
        Ok(lab)
    }
}

impl Lab {
    /// The real namespace name of logical namespace `logical`.
    ///
    /// # Panics
    /// If the topology declared no such namespace (as do all methods taking
    /// a logical `ns`).
    pub fn ns(&self, logical: &str) -> &str {
        match self.names.iter().find(|(l, _)| l == logical) {
            Some((_, real)) => real,
            None => {
                let known: Vec<&str> = self.names.iter().map(|(l, _)| l.as_str()).collect();
                panic!(
                    "lab has no namespace `{logical}` (it has: {})",
                    known.join(", ")
                )
            }
        }
    }

    /// Every (logical, real) namespace name, in declaration order.
    pub fn namespaces(&self) -> impl Iterator<Item = (&str, &str)> {
        self.names.iter().map(|(l, r)| (l.as_str(), r.as_str()))
    }

    /// `ip netns exec REAL argv...`, ready to be configured and run.
    pub fn command<I, S>(&self, ns: &str, argv: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        exec_in(self.ns(ns), argv)
    }

    /// Runs `argv` in `ns` to completion, stdin closed, output captured.
    /// Errors only when the command cannot be started.
    pub fn exec<I, S>(&self, ns: &str, argv: I) -> Result<Output, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
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
        run(&format!("exec in {ns}"), self.command(ns, argv))
    }

    /// Runs `ip -n REAL args...` and returns its stdout.
    pub fn ip<I, S>(&self, ns: &str, args: I) -> Result<String, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
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
        in_netns(self.ns(ns), f)
    }

    /// An AF_PACKET socket bound to `ifname` in `ns`.
    pub fn packet_socket(&self, ns: &str, ifname: &str) -> Result<PacketSocket, Error> {
        PacketSocket::bind(self.ns(ns), ifname)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, real) in self.names.iter().rev() {
            if let Err(e) = delete_netns(real) {
                eprintln!("lab: teardown: {e}");
            }
        }
    }
}

/// Runs `f` on a fresh thread joined to the network namespace named `real`
/// (a name under [`NETNS_DIR`]) and returns its result; a panic in `f` is
/// resumed on the caller's thread.
pub fn in_netns<R, F>(real: &str, f: F) -> Result<R, Error>
where
    R: Send,
    F: FnOnce() -> R + Send,
{
    let path = Path::new(NETNS_DIR).join(real);
    let file = File::open(&path).map_err(|source| Error::Io {
        what: format!("open {}", path.display()),
        source,
    })?;
    std::thread::scope(|scope| {
        let joined = scope.spawn(move || {
            // SAFETY: `file` is an open netns file for the whole call;
            // setns only changes this thread's network namespace, and this
            // thread ends right after `f`.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(Error::Io {
                    what: format!("setns into {real}"),
                    source: std::io::Error::last_os_error(),
                });
            }
            Ok(f())
        });
        match joined.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// A child process killed (with its process group) when dropped.
#[derive(Debug)]
pub struct NsChild {
    child: Child,
}

impl NsChild {
    /// Spawns `cmd` in its own process group.
    pub fn spawn(step: &str, mut cmd: Command) -> Result<NsChild, Error> {
        let command = render(&cmd);
        cmd.process_group(0);
        let child = cmd.spawn().map_err(|source| Error::Spawn {
            step: step.to_string(),
            command,
            source,
        })?;
        Ok(NsChild { child })
    }

    /// The process id (also its process group id).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The underlying child, e.g. to `try_wait` on it.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for NsChild {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: plain syscall; the group was created by `spawn` and its
        // leader is our unreaped child, so the id cannot have been reused.
        if unsafe { libc::kill(-pgid, libc::SIGKILL) } != 0 {
            let _ = self.child.kill();
        }
        if let Err(e) = self.child.wait() {
            eprintln!("lab: cannot reap child {pgid}: {e}");
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

/// The command line as a person would type it.
fn render(cmd: &Command) -> String {
    let words = std::iter::once(cmd.get_program()).chain(cmd.get_args());
    let words: Vec<String> = words
        .map(|w: &OsStr| {
            let w = w.to_string_lossy();
            if w.is_empty() || w.contains(char::is_whitespace) {
                format!("'{w}'")
            } else {
                w.into_owned()
            }
        })
        .collect();
    words.join(" ")
}

/// Runs `cmd` to completion; a non-zero exit is an [`Error::Command`].
fn run(step: &str, mut cmd: Command) -> Result<Output, Error> {
    let command = render(&cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            step: step.to_string(),
            command: command.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            step: step.to_string(),
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

/// Creates namespace `real`, replacing a stale one of the same name (left by
/// a killed process whose pid we now have).
fn create_netns(real: &str) -> Result<(), Error> {
    let step = format!("create namespace {real}");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK_FILE)
        .map_err(|source| Error::Io {
            what: format!("{step}: open lock file {LOCK_FILE}"),
            source,
        })?;
    // SAFETY: flock on a file we hold open; the lock is released when
    // `lock` is closed at the end of this function.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(Error::Io {
            what: format!("{step}: lock {LOCK_FILE}"),
            source: std::io::Error::last_os_error(),
        });
    }
    if Path::new(NETNS_DIR).join(real).exists() {
        eprintln!("lab: namespace {real} already exists (stale, pid reused): replacing it");
        delete_netns(real)?;
    }
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "add", real]);
    run(&step, cmd)?;
    drop(lock);
    Ok(())
}

fn delete_netns(real: &str) -> Result<(), Error> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "delete", real]);
    run(&format!("delete namespace {real}"), cmd).map(drop)
}

/// Deletes namespaces named `<prefix>-<pid>-...` whose process is gone.
fn sweep_leftovers(prefix: &str) {
    let Ok(entries) = fs::read_dir(NETNS_DIR) else {
        return;
    };
    let own = std::process::id();
    for entry in entries.flatten() {
        let name: OsString = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = owner_pid(prefix, name) else {
            continue;
        };
        if pid == own || process_alive(pid) {
            continue;
        }
        match delete_netns(name) {
            Ok(()) => eprintln!("lab: removed leftover namespace {name} (process {pid} is gone)"),
            // Another process may be sweeping the same leftover.
            Err(_) if !Path::new(NETNS_DIR).join(name).exists() => {}
            Err(e) => eprintln!("lab: cannot remove leftover namespace: {e}"),
        }
    }
}

/// The pid in `<prefix>-<pid>-<counter>-<logical>`, if `name` has that shape.
fn owner_pid(prefix: &str, name: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    let mut parts = rest.splitn(3, '-');
    let pid = parts.next()?.parse().ok()?;
    parts.next()?.parse::<u64>().ok()?;
    parts.next().filter(|l| !l.is_empty())?;
    Some(pid)
}

/// True if `pid` names a live (not zombie) process.
fn process_alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state is the first field after the parenthesised command name.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z") | Some("X") | None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_parses_lab_names_only() {
        assert_eq!(owner_pid("s6lab", "s6lab-123-4-h1"), Some(123));
        assert_eq!(owner_pid("s6lab", "s6lab-123-4-my-host"), Some(123));
        assert_eq!(owner_pid("s6lab", "s6lab-123-4-"), None);
        assert_eq!(owner_pid("s6lab", "s6lab-x-4-h1"), None);
        assert_eq!(owner_pid("s6lab", "s6labx-1-4-h1"), None);
        assert_eq!(owner_pid("s6lab", "other-1-4-h1"), None);
    }

    #[test]
    fn own_process_is_alive() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(u32::MAX));
    }

    #[test]
    fn render_quotes_odd_words() {
        let mut cmd = Command::new("ip");
        cmd.args(["-n", "a b", ""]);
        assert_eq!(render(&cmd), "ip -n 'a b' ''");
    }

    /// A namespace that already exists under the name we want (a leftover
    /// of a killed process whose pid we now have) is replaced, not an error.
    #[test]
    fn existing_name_is_replaced() {
        if !crate::require_root() {
            eprintln!("skipped");
            return;
        }
        let real = format!("s6lab-{}-exists-t", std::process::id());
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "add", &real]);
        run("pre-create", cmd).unwrap();
        let made = create_netns(&real);
        let path = Path::new(NETNS_DIR).join(&real);
        let existed = path.exists();
        delete_netns(&real).unwrap();
        made.unwrap();
        assert!(existed);
    }
}
