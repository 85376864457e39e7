//! The lab's Linux VM: a real Linux SRv6 implementation that does not
//! depend on the host kernel.
//!
//! Debian's `linux-image-6.12-cloud-amd64` kernel (seg6, seg6local, SRH
//! HMAC, VRF as a module), unpacked by `scripts/deps.sh` into
//! [`vm_dir`]`/linux`, boots under `qemu-system-x86_64 -accel tcg` (the
//! test machine's KVM is a PVM host on which ordinary guests stop with an
//! emulation error) with an initramfs the lab builds once and caches: a
//! static busybox, the host's `ip`, `ping` and `ethtool` with their shared
//! libraries, the kernel's virtio_net, veth and vrf modules, and an `/init`
//! (`vm_init.sh`) that serves shell scripts over a virtio-serial port.
//!
//! Two uses:
//! - [`crate::Topology::build`] places namespaces whose needs the host
//!   cannot meet inside a [`Vm`] and joins them to the host's namespaces by
//!   tap devices (one virtio NIC per link); [`crate::Lab`]'s `exec`,
//!   `exec_ok`, `ip`, `mac`, `ifindex`, `wait_for_dad` and `packet_socket`
//!   (at the link's host side) work on them; `in_ns`, `spawn` and
//!   `command` are host-only and say so.
//! - [`run_test_in_vm`] runs one test of the current test binary inside a VM,
//!   for tests that program the kernel they run on (srv6d's kernel backend).
//!
//! Software emulation costs: about 3 to 5 s from start to the agent's first
//! answer on the 2-core test machine, and each command in the VM some tens
//! of milliseconds. It is a functional peer, never a speed baseline.
//!
//! A VM never outlives its test: QEMU runs in its owner's process group
//! (a test runner that kills a test's group kills it too), the guest powers
//! off when its owner closes the control port (also when the owner is
//! killed), and each script the guest runs is killed after its time limit.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::cpio::Archive;
use crate::spec::{format_mac, Mac};
use crate::sys::{process_alive, NsChild};
use crate::Error;

/// Where `scripts/deps.sh` puts the VM's kernel (`linux/`) and where the
/// lab caches its initramfs: `$SRV6D_LAB_VM_DIR`, else
/// `/var/cache/srv6d-lab`.
pub fn vm_dir() -> PathBuf {
    std::env::var_os("SRV6D_LAB_VM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/srv6d-lab"))
}

/// The environment variable set inside a VM that runs a test
/// ([`run_test_in_vm`]); [`in_vm`] reads it.
pub const IN_VM_ENV: &str = "SRV6D_LAB_IN_VM";

/// True inside a VM started by [`run_test_in_vm`].
pub fn in_vm() -> bool {
    std::env::var_os(IN_VM_ENV).is_some_and(|v| v == "1")
}

/// The QEMU binary.
const QEMU: &str = "qemu-system-x86_64";

/// Kernel modules loaded at boot, in dependency order (path under
/// `kernel/` of the modules tree, without `.ko.xz`).
const MODULES: &[&str] = &[
    "net/core/failover",
    "drivers/net/net_failover",
    "drivers/net/virtio_net",
    "drivers/net/veth",
    "drivers/net/vrf",
];

/// Host programs copied into the VM (with their libraries) and called in
/// preference to busybox's applets of the same name.
const HOST_TOOLS: &[(&str, &str)] = &[
    ("ip", "/usr/sbin/ip"),
    ("ping", "/usr/local/bin/ping"),
    ("ethtool", "/usr/local/bin/ethtool"),
];

const INIT: &str = include_str!("vm_init.sh");

/// How long a VM may take from start to its agent's first line.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// The kernel and initramfs a VM boots.
#[derive(Debug, Clone)]
pub struct VmAssets {
    /// The kernel image (`vmlinuz-*`).
    pub kernel: PathBuf,
    /// Its release string (`6.12.118+deb12-cloud-amd64`).
    pub release: String,
    /// The lab's base initramfs for it.
    pub initramfs: PathBuf,
}

static ASSETS: OnceLock<Result<VmAssets, String>> = OnceLock::new();

/// Finds the kernel and builds (once, cached on disk by content) the base
/// initramfs. The error names what is missing and how to get it.
pub fn assets() -> Result<VmAssets, Error> {
    ASSETS
        .get_or_init(|| find_assets().map_err(|e| e.to_string()))
        .clone()
        .map_err(Error::Vm)
}

fn find_assets() -> Result<VmAssets, Error> {
    let dir = vm_dir();
    let linux = dir.join("linux");
    let missing = |what: &str| {
        Error::Vm(format!(
            "the lab's Linux VM needs {what}; `scripts/deps.sh` installs it (Debian's \
             linux-image-6.12-cloud-amd64, fetched with apt-get download and unpacked into \
             {}); set SRV6D_LAB_VM_DIR to use another directory",
            linux.display()
        ))
    };
    let boot = linux.join("boot");
    let kernel = fs::read_dir(&boot)
        .map_err(|_| missing(&format!("a kernel in {}", boot.display())))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .ok_or_else(|| missing(&format!("a vmlinuz-* in {}", boot.display())))?;
    let release = kernel
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinuz-"))
        .unwrap_or_default()
        .to_string();
    let modules = linux.join("lib/modules").join(&release).join("kernel");
    if !modules.is_dir() {
        return Err(missing(&format!("its modules in {}", modules.display())));
    }
    which(QEMU).ok_or_else(|| {
        Error::Vm(format!(
            "the lab's Linux VM needs {QEMU} (Debian package qemu-system-x86; \
             scripts/deps.sh installs it)"
        ))
    })?;
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::Vm(
                "the lab's Linux VM needs a static busybox (Debian package busybox-static; \
                 scripts/deps.sh installs it)"
                    .into(),
            )
        })?;
    let mut tools = Vec::new();
    for (name, inside) in HOST_TOOLS {
        let host = which(name).ok_or_else(|| {
            Error::Vm(format!(
                "the lab's Linux VM copies the host's `{name}`, which is not installed"
            ))
        })?;
        tools.push((host, inside.to_string()));
    }

    // The cache key: everything that goes into the archive (FNV-1a: the
    // same on every toolchain, unlike std's hasher).
    let mut key = Fnv::default();
    key.add(INIT.as_bytes());
    key.add(release.as_bytes());
    for path in [&kernel, &busybox]
        .into_iter()
        .chain(tools.iter().map(|(h, _)| h))
    {
        let (size, mtime) = stamp(path);
        key.add(&size.to_le_bytes());
        key.add(&mtime.to_le_bytes());
    }
    for (_, inside) in &tools {
        key.add(inside.as_bytes());
    }
    for m in MODULES {
        key.add(m.as_bytes());
    }
    let initramfs = dir.join(format!("initramfs-{release}-{:016x}.cpio", key.0));
    if !initramfs.is_file() {
        build_base(&initramfs, &busybox, &tools, &modules)?;
    }
    Ok(VmAssets {
        kernel,
        release,
        initramfs,
    })
}

/// 64-bit FNV-1a.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn add(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x0100_0000_01b3);
    }
}

/// Size and modification time: enough to notice a changed input.
fn stamp(path: &Path) -> (u64, i64) {
    fs::metadata(path)
        .map(|m| (m.size(), m.mtime()))
        .unwrap_or((0, 0))
}

/// `command -v name`, as a path.
fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Path::new(name).is_file().then(|| PathBuf::from(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    // Root's tools live in sbin directories that a test's PATH may lack.
    dirs.extend(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { what, source }
}

fn build_base(
    out: &Path,
    busybox: &Path,
    tools: &[(PathBuf, String)],
    modules: &Path,
) -> Result<(), Error> {
    let mut a = Archive::new();
    let mut made: Vec<String> = Vec::new();
    for d in [
        "bin",
        "sbin",
        "usr",
        "usr/bin",
        "usr/sbin",
        "usr/local",
        "usr/local/bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "run",
        "tmp",
        "root",
        "lib",
        "lib/modules",
    ] {
        a.dir(d, 0o755);
        made.push(d.to_string());
    }
    a.file("init", 0o755, INIT.as_bytes());
    let data = fs::read(busybox).map_err(io_err(format!("read {}", busybox.display())))?;
    a.file("bin/busybox", 0o755, &data);
    a.symlink("bin/sh", "busybox");

    let mut prelude =
        String::from("# functions for the host's tools: busybox's sh prefers its applets\n");
    let mut libs: Vec<PathBuf> = Vec::new();
    for (host, inside) in tools {
        let data = fs::read(host).map_err(io_err(format!("read {}", host.display())))?;
        let rel = inside.trim_start_matches('/');
        a.parents(rel, &mut made);
        a.file(rel, 0o755, &data);
        let name = Path::new(inside)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        prelude.push_str(&format!("{name}() {{ {inside} \"$@\"; }}\n"));
        for lib in shared_libraries(host)? {
            if !libs.contains(&lib) {
                libs.push(lib);
            }
        }
    }
    for lib in &libs {
        add_file(&mut a, &mut made, lib, lib, false)?;
    }
    a.file("etc/lab-prelude", 0o644, prelude.as_bytes());

    let mut names = String::new();
    for m in MODULES {
        let src = modules.join(format!("{m}.ko.xz"));
        let name = Path::new(m)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let out = Command::new(busybox)
            .args(["unxz", "-c"])
            .arg(&src)
            .stdin(Stdio::null())
            .output()
            .map_err(io_err(format!("run busybox unxz on {}", src.display())))?;
        if !out.status.success() {
            return Err(Error::Vm(format!(
                "cannot decompress kernel module {}: {}",
                src.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        a.file(&format!("lib/modules/{name}.ko"), 0o644, &out.stdout);
        names.push_str(name);
        names.push('\n');
    }
    a.file("etc/lab-modules", 0o644, names.as_bytes());
    a.file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\n");
    a.file("etc/group", 0o644, b"root:x:0:\n");

    write_atomically(out, |w| a.finish(w))
}

/// Writes `out` through a temporary file and a rename, so that concurrent
/// tests never see half an archive.
fn write_atomically(
    out: &Path,
    f: impl FnOnce(&mut fs::File) -> std::io::Result<()>,
) -> Result<(), Error> {
    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
    }
    let tmp = out.with_extension(format!("tmp.{}", std::process::id()));
    let written = fs::File::create(&tmp)
        .and_then(|mut file| f(&mut file))
        .map_err(io_err(format!("write {}", tmp.display())))
        .and_then(|()| {
            fs::rename(&tmp, out).map_err(io_err(format!("rename {} into place", tmp.display())))
        });
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// The shared libraries `ldd` lists for `binary` (loader included).
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, Error> {
    let out = Command::new("ldd")
        .arg(binary)
        .stdin(Stdio::null())
        .output()
        .map_err(io_err(format!("run ldd {}", binary.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // A static binary: nothing to copy.
        return Ok(Vec::new());
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    Ok(libs)
}

/// Adds host file `host` at path `inside` (absolute), with its parents;
/// `strip` drops debug information (a debug test binary is mostly that).
fn add_file(
    a: &mut Archive,
    made: &mut Vec<String>,
    host: &Path,
    inside: &Path,
    strip: bool,
) -> Result<(), Error> {
    let data = if strip {
        stripped(host)?
    } else {
        fs::read(host).map_err(io_err(format!("read {}", host.display())))?
    };
    let mode = fs::metadata(host)
        .map(|m| m.mode() & 0o7777)
        .unwrap_or(0o755);
    let rel = inside.to_string_lossy();
    let rel = rel.trim_start_matches('/');
    a.parents(rel, made);
    a.file(rel, mode, &data);
    Ok(())
}

static STRIP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `objcopy --strip-debug` of `host`, or the file as it is when objcopy
/// is missing or fails (bigger, still correct).
fn stripped(host: &Path) -> Result<Vec<u8>, Error> {
    let tmp = std::env::temp_dir().join(format!(
        "srv6d-lab-strip-{}-{}",
        std::process::id(),
        STRIP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let ok = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(host)
        .arg(&tmp)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let data = if ok { fs::read(&tmp) } else { fs::read(host) };
    let _ = fs::remove_file(&tmp);
    data.map_err(io_err(format!("read {}", host.display())))
}

/// One virtio NIC of a VM, backed by an existing tap device of the
/// namespace QEMU runs in.
#[derive(Debug, Clone)]
pub struct VmNic {
    /// The tap device's name.
    pub tap: String,
    /// The guest NIC's MAC address (how the guest finds it).
    pub mac: Mac,
}

/// How to start a VM.
#[derive(Debug, Clone)]
pub struct VmSpec {
    /// A unique name (`-name`), e.g. the lab's `<prefix>-<pid>-<n>-vm`.
    pub name: String,
    /// Network namespace to run QEMU in (its taps live there); `None`: the
    /// caller's.
    pub netns: Option<String>,
    /// NICs, in PCI order.
    pub nics: Vec<VmNic>,
    /// Host files copied into the VM at the same absolute path, with their
    /// shared libraries (debug information stripped).
    pub files: Vec<PathBuf>,
    /// Guest memory in MiB (0: enough for the base image and the files).
    pub memory_mib: u32,
    /// Virtual CPUs (software emulation runs one host thread each): one
    /// for routers; two where a test's threads must run side by side (a
    /// generator in the kernel and its receiver).
    pub cpus: u32,
}

impl VmSpec {
    /// A VM called `name` with no NICs and no extra files.
    pub fn new(name: &str) -> Self {
        VmSpec {
            name: name.to_string(),
            netns: None,
            nics: Vec::new(),
            files: Vec::new(),
            memory_mib: 0,
            cpus: 1,
        }
    }
}

/// What a script run in the VM did.
#[derive(Debug, Clone)]
pub struct VmOutput {
    /// Its exit status (0: success).
    pub status: i32,
    /// Its standard output.
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
}

impl VmOutput {
    /// As a [`std::process::Output`], the type the lab's host commands give.
    pub fn into_output(self) -> Output {
        use std::os::unix::process::ExitStatusExt;
        Output {
            status: ExitStatus::from_raw((self.status & 0xff) << 8),
            stdout: self.stdout,
            stderr: self.stderr,
        }
    }
}

/// A running VM. Dropping it powers it off (QEMU is killed) and removes
/// its working directory.
#[derive(Debug)]
pub struct Vm {
    name: String,
    dir: PathBuf,
    /// The agent's port, or why the VM can no longer be used.
    ctl: Mutex<Result<BufReader<UnixStream>, String>>,
    qemu: Option<NsChild>,
    boot: Duration,
    release: String,
}

static VM_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Vm {
    /// Starts a VM and waits for its agent (at most two minutes).
    pub fn start(spec: &VmSpec) -> Result<Vm, Error> {
        let started = Instant::now();
        let assets = assets()?;
        sweep_leftover_dirs();
        let dir = std::env::temp_dir().join(format!(
            "srv6d-lab-vm-{}-{}",
            std::process::id(),
            VM_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(io_err(format!("create {}", dir.display())))?;
        // From here on, dropping `vm` on an error kills QEMU and removes
        // the directory.
        let mut vm = Vm {
            name: spec.name.clone(),
            dir: dir.clone(),
            ctl: Mutex::new(Err("not connected yet".into())),
            qemu: None,
            boot: Duration::ZERO,
            release: assets.release.clone(),
        };
        let initrd = dir.join("initrd.cpio");
        let extra_bytes = vm.write_initrd(&assets, &spec.files, &initrd)?;
        let memory = if spec.memory_mib > 0 {
            spec.memory_mib
        } else {
            // The archive stays in memory beside its unpacked copy.
            256 + (3 * extra_bytes / (1 << 20)) as u32
        };
        let sock = dir.join("ctl.sock");
        let console = dir.join("console.log");
        let mut args: Vec<String> = vec![
            "-accel".into(),
            "tcg".into(),
            "-M".into(),
            "pc".into(),
            "-cpu".into(),
            "max".into(),
            "-smp".into(),
            spec.cpus.max(1).to_string(),
            "-m".into(),
            format!("{memory}M"),
            "-name".into(),
            spec.name.clone(),
            "-nodefaults".into(),
            "-no-user-config".into(),
            "-display".into(),
            "none".into(),
            "-no-reboot".into(),
            "-kernel".into(),
            assets.kernel.display().to_string(),
            "-initrd".into(),
            initrd.display().to_string(),
            "-append".into(),
            "console=ttyS0 quiet panic=-1 rdinit=/init".into(),
            "-serial".into(),
            format!("file:{}", console.display()),
            "-chardev".into(),
            format!("socket,id=ctl,path={},server=on,wait=off", sock.display()),
            "-device".into(),
            "virtio-serial-pci".into(),
            "-device".into(),
            "virtserialport,chardev=ctl,name=ctl".into(),
        ];
        for (i, nic) in spec.nics.iter().enumerate() {
            args.push("-netdev".into());
            // No virtio-net header: no offloads, so every frame crosses
            // whole, with its checksums, as on a veth with offloads off.
            args.push(format!(
                "tap,id=n{i},ifname={},script=no,downscript=no,vnet_hdr=off",
                nic.tap
            ));
            args.push("-device".into());
            args.push(format!(
                "virtio-net-pci,netdev=n{i},mac={}",
                format_mac(&nic.mac)
            ));
        }
        let mut cmd = match &spec.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, QEMU]);
                c
            }
            None => Command::new(QEMU),
        };
        cmd.args(&args).stdin(Stdio::null()).stdout(Stdio::null());
        let log = fs::File::create(dir.join("qemu.log"))
            .map_err(io_err(format!("create {}", dir.join("qemu.log").display())))?;
        cmd.stderr(log);
        // In the caller's process group: a test runner that kills a test's
        // group over its time limit kills its VM too.
        vm.qemu = Some(NsChild::spawn_in_callers_group(
            &format!("start VM {}", spec.name),
            cmd,
        )?);

        let stream = vm.connect(&sock, started)?;
        stream
            .set_read_timeout(Some(BOOT_TIMEOUT.saturating_sub(started.elapsed())))
            .map_err(io_err("set timeout".into()))?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        let read = reader.read_line(&mut line);
        if !matches!(read, Ok(n) if n > 0) || !line.starts_with("READY ") {
            return Err(vm.failure(&format!(
                "did not come up within {BOOT_TIMEOUT:?} (agent said {:?}, {read:?})",
                line.trim()
            )));
        }
        vm.ctl = Mutex::new(Ok(reader));
        vm.boot = started.elapsed();
        Ok(vm)
    }

    /// Base archive, then the extra files (and their libraries) as a
    /// second archive; returns the size of the extras.
    fn write_initrd(&self, assets: &VmAssets, files: &[PathBuf], out: &Path) -> Result<u64, Error> {
        let mut data = fs::read(&assets.initramfs)
            .map_err(io_err(format!("read {}", assets.initramfs.display())))?;
        let base = data.len() as u64;
        if !files.is_empty() {
            let mut a = Archive::new();
            let mut made = Vec::new();
            let mut libs: Vec<PathBuf> = Vec::new();
            for f in files {
                let f = fs::canonicalize(f).map_err(io_err(format!("find {}", f.display())))?;
                add_file(&mut a, &mut made, &f, &f, true)?;
                for lib in shared_libraries(&f)? {
                    if !libs.contains(&lib) {
                        libs.push(lib);
                    }
                }
            }
            for lib in &libs {
                add_file(&mut a, &mut made, lib, lib, false)?;
            }
            a.finish(&mut data)
                .map_err(io_err("build the extra archive".into()))?;
        }
        let extra = data.len() as u64 - base;
        fs::write(out, &data).map_err(io_err(format!("write {}", out.display())))?;
        Ok(extra)
    }

    fn connect(&mut self, sock: &Path, started: Instant) -> Result<UnixStream, Error> {
        loop {
            match UnixStream::connect(sock) {
                Ok(s) => return Ok(s),
                Err(e) => {
                    if let Some(q) = self.qemu.as_mut() {
                        if let Ok(Some(status)) = q.child_mut().try_wait() {
                            return Err(self.failure(&format!("QEMU exited ({status})")));
                        }
                    }
                    if started.elapsed() > Duration::from_secs(20) {
                        return Err(self.failure(&format!(
                            "QEMU did not open its control socket {}: {e}",
                            sock.display()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }

    /// An error naming the VM, with the tails of QEMU's log and the console.
    fn failure(&self, what: &str) -> Error {
        let tail = |name: &str| {
            let text = fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        };
        Error::Vm(format!(
            "VM {}: {what}\n--- qemu.log (tail) ---\n{}\n--- console (tail) ---\n{}",
            self.name,
            tail("qemu.log"),
            tail("console.log")
        ))
    }

    /// From start to the agent's first answer.
    pub fn boot_time(&self) -> Duration {
        self.boot
    }

    /// The guest kernel's release.
    pub fn kernel_release(&self) -> &str {
        &self.release
    }

    /// Runs `script` with busybox `sh` in the VM (the VM's initial network
    /// namespace); `what` names it in errors. The guest kills the script
    /// after `timeout` (then its status is 137 and its output what it wrote
    /// so far); if no answer comes even a little after that, or the answer
    /// cannot be read, the VM is unusable from then on and every later call
    /// says why (a late answer would otherwise be taken for the next one's).
    pub fn sh(&self, what: &str, script: &str, timeout: Duration) -> Result<VmOutput, Error> {
        let mut guard = self.ctl.lock().unwrap_or_else(|p| p.into_inner());
        let ctl = match guard.as_mut() {
            Ok(ctl) => ctl,
            Err(why) => return Err(self.failure(&format!("cannot run {what}: {why}"))),
        };
        let secs = timeout.as_secs().max(1);
        let request = format!("{secs} {}\n", base64_encode(script.as_bytes()));
        // The guest's own timeout, then a margin for the answer to arrive.
        let wait = Duration::from_secs(secs + 15);
        let stream = ctl.get_mut();
        let sent = stream
            .set_read_timeout(Some(wait))
            .and_then(|()| stream.set_write_timeout(Some(wait)))
            .and_then(|()| stream.write_all(request.as_bytes()));
        let mut line = String::new();
        let outcome = match sent {
            Err(e) => Err(format!("cannot send {what}: {e}")),
            Ok(()) => match ctl.read_line(&mut line) {
                Ok(0) => Err(format!(
                    "the agent closed its port during {what} (VM gone?)"
                )),
                Ok(_) => parse_answer(&line).ok_or_else(|| {
                    let shown: String = line.chars().take(200).collect();
                    format!("unreadable answer to {what}: {shown:?}")
                }),
                Err(e) => Err(format!("no answer to {what} within {wait:?}: {e}")),
            },
        };
        outcome.map_err(|why| {
            *guard = Err(format!("the VM has been unusable since: {why}"));
            drop(guard);
            self.failure(&why)
        })
    }

    /// The console log so far (kernel messages).
    pub fn console(&self) -> String {
        fs::read_to_string(self.dir.join("console.log")).unwrap_or_default()
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        // Killing QEMU is enough: nothing in the guest needs saving.
        self.qemu.take();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Removes working directories of VMs whose process is gone.
fn sweep_leftover_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("srv6d-lab-vm-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !process_alive(pid) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// `R <status> <stdout b64> <stderr b64>` (empty fields may be missing).
fn parse_answer(line: &str) -> Option<VmOutput> {
    let mut parts = line.trim_end().split(' ');
    if parts.next()? != "R" {
        return None;
    }
    let status = parts.next()?.parse::<i32>().ok()?;
    let stdout = base64_decode(parts.next().unwrap_or(""))?;
    let stderr = base64_decode(parts.next().unwrap_or(""))?;
    if parts.next().is_some() {
        return None;
    }
    Some(VmOutput {
        status,
        stdout,
        stderr,
    })
}

/// Quotes `word` for `sh`.
pub fn sh_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        if c == b'=' {
            break;
        }
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Runs test `test` (its libtest name, e.g. `start_apply_rollback_stop`) of
/// the current test binary inside a fresh VM, with `files` (e.g. the srv6d
/// binary) copied in at the same paths, and returns what it printed and its
/// exit status. Inside, [`in_vm`] is true and the test's own lab builds its
/// namespaces on the VM's kernel.
///
/// Use it where a test programs the kernel it runs on and the host lacks a
/// feature: see [`run_here_or_in_vm`].
pub fn run_test_in_vm(test: &str, files: &[PathBuf], timeout: Duration) -> Result<VmOutput, Error> {
    let exe = std::env::current_exe().map_err(io_err("find the test binary".into()))?;
    let mut all = vec![exe.clone()];
    all.extend(files.iter().cloned());
    let name = format!(
        "s6vm-{}-{}",
        std::process::id(),
        VM_COUNTER.load(Ordering::Relaxed)
    );
    // Two vCPUs: a test's threads (say a generator busy in the kernel and
    // its receiver) must be able to run at the same time, as on the host.
    let vm = Vm::start(&VmSpec {
        files: all,
        cpus: 2,
        ..VmSpec::new(&name)
    })?;
    eprintln!(
        "lab: running {test} inside VM {name} (kernel {}, up in {:.1} s)",
        vm.kernel_release(),
        vm.boot_time().as_secs_f64()
    );
    let mut script = String::from("cd /tmp\n");
    for key in ["RUST_BACKTRACE", "RUST_LOG", "SRV6D_SKIP_ROOT_TESTS"] {
        if let Some(v) = std::env::var_os(key) {
            script.push_str(&format!(
                "export {key}={}\n",
                sh_quote(&v.to_string_lossy())
            ));
        }
    }
    script.push_str(&format!(
        "export {IN_VM_ENV}=1\nexec {} --exact {} --include-ignored --nocapture --test-threads=1 2>&1\n",
        sh_quote(&exe.display().to_string()),
        sh_quote(test)
    ));
    vm.sh(&format!("the test {test}"), &script, timeout)
}

/// If the host has every feature in `needs`, returns `true`: run the test
/// here. Otherwise runs `test` inside a VM ([`run_test_in_vm`]), prints its
/// output, panics if it failed there, and returns `false`: the caller
/// returns. Inside such a VM a missing feature is a failure naming it.
///
/// # Panics
/// When the VM cannot start (the error names what is missing), when the
/// test failed inside it, or when even the VM lacks a feature.
pub fn run_here_or_in_vm(
    needs: &[crate::KernelFeature],
    test: &str,
    files: &[PathBuf],
    timeout: Duration,
) -> bool {
    let missing: Vec<String> = needs
        .iter()
        .filter_map(|f| match crate::host_probe(*f) {
            crate::Probe::Present => None,
            crate::Probe::Missing(why) => Some(format!("{f} ({why})")),
        })
        .collect();
    run_here_unless(&missing, test, files, timeout)
}

/// [`run_here_or_in_vm`] for a need the lab does not probe itself: the
/// caller passes what its own probe found missing on this kernel (empty:
/// nothing, run here).
///
/// # Panics
/// As [`run_here_or_in_vm`].
pub fn run_here_unless(
    missing: &[String],
    test: &str,
    files: &[PathBuf],
    timeout: Duration,
) -> bool {
    if missing.is_empty() {
        return true;
    }
    if in_vm() {
        panic!(
            "the lab's VM kernel lacks what this test needs: {}",
            missing.join("; ")
        );
    }
    eprintln!(
        "lab: the host kernel lacks {}: running {test} in the lab's Linux VM",
        missing.join("; ")
    );
    let out = run_test_in_vm(test, files, timeout)
        .unwrap_or_else(|e| panic!("cannot run {test} in the lab's VM: {e}"));
    eprintln!(
        "----- {test}, inside the VM -----\n{}{}----- end of the VM's output -----",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status, 0,
        "{test} failed inside the lab's VM (exit status {}): its output is above",
        out.status
    );
    let passed = String::from_utf8_lossy(&out.stdout).contains("1 passed");
    assert!(
        passed,
        "{test} did not run inside the VM (no `1 passed` in its output above): is the name exact?"
    );
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            let text = base64_encode(data);
            assert_eq!(base64_decode(&text).unwrap(), data, "{text}");
        }
        // RFC 4648 section 10 test vectors.
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fooba"), "Zm9vYmE=");
        assert_eq!(base64_encode(b"foob"), "Zm9vYg==");
        assert!(base64_decode("Zm9v!").is_none());
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(base64_decode(&base64_encode(&all)).unwrap(), all);
    }

    #[test]
    fn quoting_survives_sh() {
        for word in ["plain", "", "a b", "it's", "$HOME", "a\nb", "fc00::1/64"] {
            let out = Command::new("sh")
                .args(["-c", &format!("printf %s {}", sh_quote(word))])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), word);
        }
    }

    #[test]
    fn ldd_output_is_parsed() {
        let libs = shared_libraries(Path::new("/bin/sh")).unwrap();
        assert!(
            libs.iter().any(|l| l.to_string_lossy().contains("libc.so")),
            "{libs:?}"
        );
    }
}
