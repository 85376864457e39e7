//! [`DelayStage`]: a userspace delay stage for lab topologies (the kernel
//! here has no netem).

use std::collections::VecDeque;
use std::ffi::CStr;
use std::io;
use std::mem;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::lab::Lab;
use crate::packet::MAX_FRAME;
use crate::spec::Topology;
use crate::sys::in_netns;
use crate::Error;

/// How long before a frame's deadline the forwarding thread stops sleeping
/// and spins.
pub const SPIN: Duration = Duration::from_micros(100);

/// Frames a direction holds at most unless [`DelayStage::start_with_queue`]
/// says otherwise (20 ms of a 200 kpps stream).
pub const DEFAULT_QUEUE_FRAMES: usize = 4096;

/// Frames read from a socket in one go before due frames are sent again.
const RX_BATCH: usize = 64;

/// Nice value of the forwarding threads (best effort; needs root).
const THREAD_NICE: libc::c_int = -10;

/// Receive buffer asked for on each socket (`SO_RCVBUFFORCE`).
const RCVBUF_BYTES: libc::c_int = 8 << 20;

/// A kernel receive timestamp older than this (or in the future) is taken
/// as bogus and replaced by the time the frame was read.
const MAX_STAMP_AGE: Duration = Duration::from_secs(1);

/// One direction through the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Frames arriving on interface `a`, sent out of `b`.
    AtoB,
    /// Frames arriving on interface `b`, sent out of `a`.
    BtoA,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::AtoB => 0,
            Direction::BtoA => 1,
        }
    }
}

/// Counters of one direction, read with [`DelayStage::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Frames sent out of the egress interface (counted when the send call
    /// returns; on a veth the receiver may see the frame a moment earlier).
    pub forwarded: u64,
    /// Frames dropped because the queue was full.
    pub dropped: u64,
    /// Frames lost to a failed send (e.g. larger than the egress MTU, see the
    /// offload caveat in the module docs) or truncated on receive, plus
    /// socket receive errors (e.g. `ENETDOWN` while a link was down).
    pub errors: u64,
    /// Frames currently held.
    pub queued: u64,
    /// The largest amount by which a frame left after its deadline (time of
    /// the `send` call; the kernel's own transmit path comes on top).
    pub max_late: Duration,
    /// The sum of those amounts over all forwarded frames (for a mean).
    pub total_late: Duration,
    /// The text of the last error counted in `errors`.
    pub last_error: Option<String>,
}

/// A userspace delay stage: an in-line "wire" namespace whose two interfaces
/// are joined by a forwarder that holds every frame for a set time.
///
/// The kernel here has no netem (see `TESTBED.md`), so a test that needs a
/// known extra delay on a path puts a namespace with two veths and no
/// addresses in the middle of it and starts a [`DelayStage`] there:
///
/// ```text
/// h1:eth0 ── wire:eth0 ═[DelayStage: eth0 → eth1 after delay_ab,
///                                    eth1 → eth0 after delay_ba]═ wire:eth1 ── h2:eth0
/// ```
///
/// ```no_run
/// use std::time::Duration;
/// use lab::{DelayStage, Direction, Topology};
///
/// let lab = Topology::new()
///     .namespaces(&["h1", "wire", "h2"])
///     .link(("h1", "eth0"), ("wire", "eth0"))
///     .link(("wire", "eth1"), ("h2", "eth0"))
///     .wire("wire")
///     .addr("h1", "eth0", "fc00::1/64")
///     .addr("h2", "eth0", "fc00::2/64")
///     .build()
///     .expect("build lab");
/// let stage = DelayStage::start(&lab, "wire", "eth0", "eth1", Duration::ZERO, Duration::ZERO)
///     .expect("start delay stage");
/// stage.set_delay(Direction::AtoB, Duration::from_millis(20)); // h1 → h2 only
/// ```
///
/// # How it forwards
///
/// One `AF_PACKET` socket per interface (all ethertypes, promiscuous, so
/// frames addressed to the far end's MAC are taken too) and one thread per
/// direction. A thread reads every frame that arrives on its ingress
/// interface, stamps it with its arrival time, appends it to a bounded FIFO
/// queue and sends it, unchanged, out of the egress interface when
/// `arrival + delay` is reached: it sleeps in `ppoll` (nanosecond timeout,
/// timer slack set to 1 ns, nice -10) until shortly before the deadline and
/// spins the last [`SPIN`]. The arrival time is the kernel's receive timestamp
/// (`SO_TIMESTAMPNS`, taken when the veth handed the frame over), so a late
/// wake-up of the thread does not lengthen the delay; when the timestamp is
/// missing or implausible the time the thread read the frame is used.
///
/// Frames the stage sends are not read back: the sockets set
/// `PACKET_IGNORE_OUTGOING`, and frames marked `PACKET_OUTGOING` are skipped
/// as well. Order is preserved per direction: the queue is FIFO, and after
/// [`DelayStage::set_delay`] lowers a delay, newer frames wait behind the
/// older ones still queued (so for at most the old delay).
///
/// A full queue drops the arriving frame and counts it
/// ([`DirectionStats::dropped`]); memory is bounded by the queue length times
/// the largest frame.
///
/// # The wire namespace
///
/// The kernel of the wire namespace must not act on the frames itself. Frames
/// passing through are addressed to the far end's MAC, so the wire's IP
/// stacks see them as `PACKET_OTHERHOST` and drop them before routing even in
/// promiscuous mode; still, [`DelayStage::start`] refuses a namespace with
/// IPv4 or IPv6 forwarding on, or with an IPv4 or non-link-local IPv6
/// address on either interface. [`Topology::wire`] sets the namespace up
/// quietly: IPv6 disabled (no link-local addresses, so the wire kernel sends
/// no router solicitations, MLD reports or DAD probes of its own) and
/// forwarding off.
///
/// # Checksum and segmentation offload (the veth caveat)
///
/// Frames are moved byte for byte; the stage fixes nothing. A veth hands
/// frames to its peer with `CHECKSUM_PARTIAL`: a UDP or TCP packet generated
/// by a host's stack reaches the stage with its L4 checksum not yet filled
/// in, and is dropped by the receiving host as a bad checksum once sent on
/// unchanged (seen here: UDP lost, `Udp6InCsumErrors` counts it; TCP never
/// completes its handshake). A TSO super-frame larger than the MTU would
/// fail to send (counted in [`DirectionStats::errors`]). ICMPv6 (ping, NDP)
/// is checksummed in software and is not affected. For UDP or TCP through a
/// stage, turn off transmit checksum offload on the host interfaces facing
/// it, which turns TSO off with it:
/// `lab.exec_ok("h1", ["ethtool", "-K", "eth0", "tx", "off"])`, and the same
/// on h2; then every frame reaching the stage is complete (a 1 MiB TCP
/// transfer and UDP both ways crossed intact).
///
/// # Accuracy
///
/// Meant for low to moderate rates (a few thousand frames per second). On
/// the 2-core test machine, frames sent one at a time through a 20 ms stage
/// arrived 20.01 to 20.35 ms after the send (one clock, sender to receiver;
/// median 20.02 to 20.08), and the stage's own lateness
/// ([`DirectionStats::max_late`]) was a few µs to ~50 µs on average, single
/// frames up to ~0.5 ms (once ~2 ms, with the other tests running alongside).
/// With both cores saturated by other processes the median stayed near
/// 20.05 ms but single frames were up to a few ms late: the scheduler, which
/// `max_late` reports. Bulk traffic makes frames queue behind each other and
/// lateness grows with the burst.
///
/// # Lifetime
///
/// Stopping it (with [`DelayStage::stop`] or by dropping it, also while
/// unwinding from a panic) stops and joins both threads. Drop it before the
/// [`Lab`] that owns its namespace (declare it after the lab).
#[derive(Debug)]
pub struct DelayStage {
    shared: Arc<Shared>,
    stop: OwnedFd,
    threads: Vec<JoinHandle<()>>,
    label: String,
}

#[derive(Debug, Default)]
struct Counters {
    delay_ns: AtomicU64,
    forwarded: AtomicU64,
    dropped: AtomicU64,
    errors: AtomicU64,
    queued: AtomicU64,
    max_late_ns: AtomicU64,
    total_late_ns: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    fn error(&self, text: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(text);
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    dirs: [Counters; 2],
}

impl DelayStage {
    /// Starts forwarding between interfaces `a` and `b` of logical namespace
    /// `ns`: frames arriving on `a` leave by `b` after `delay_ab`, frames
    /// arriving on `b` leave by `a` after `delay_ba` (either may be zero).
    /// Each direction holds up to [`DEFAULT_QUEUE_FRAMES`].
    ///
    /// Errors, naming the namespace or interface, if `ns` is not in `lab`,
    /// an interface does not exist, `a == b`, forwarding is on in `ns`, or an
    /// interface has an IPv4 or non-link-local IPv6 address.
    pub fn start(
        lab: &Lab,
        ns: &str,
        a: &str,
        b: &str,
        delay_ab: Duration,
        delay_ba: Duration,
    ) -> Result<DelayStage, Error> {
        Self::start_with_queue(lab, ns, a, b, delay_ab, delay_ba, DEFAULT_QUEUE_FRAMES)
    }

    /// Like [`DelayStage::start`], holding at most `queue_frames` (at least
    /// 1) frames per direction.
    pub fn start_with_queue(
        lab: &Lab,
        ns: &str,
        a: &str,
        b: &str,
        delay_ab: Duration,
        delay_ba: Duration,
        queue_frames: usize,
    ) -> Result<DelayStage, Error> {
        let label = format!("delay stage {ns}:{a}<->{b}");
        let Some(real) = lab.namespaces().find(|(l, _)| *l == ns).map(|(_, r)| r) else {
            let known: Vec<&str> = lab.namespaces().map(|(l, _)| l).collect();
            return Err(Error::Topology(format!(
                "{label}: the lab has no namespace `{ns}` (it has: {})",
                known.join(", ")
            )));
        };
        if a == b {
            return Err(Error::Topology(format!(
                "{label}: needs two different interfaces"
            )));
        }
        let queue_frames = queue_frames.max(1);
        let (port_a, port_b) = in_netns(real, || -> Result<(Port, Port), Error> {
            check_quiet(&label, ns, &[a, b])?;
            let open = |ifname: &str| {
                Port::open(ifname).map_err(|source| Error::Io {
                    what: format!("{label}: open packet socket on `{ifname}` in namespace `{ns}`"),
                    source,
                })
            };
            Ok((open(a)?, open(b)?))
        })??;
        let (port_a, port_b) = (Arc::new(port_a), Arc::new(port_b));

        // SAFETY: plain syscall; the result is checked before use.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(Error::Io {
                what: format!("{label}: eventfd"),
                source: io::Error::last_os_error(),
            });
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let stop = unsafe { OwnedFd::from_raw_fd(raw) };

        let shared = Arc::new(Shared::default());
        shared.dirs[0]
            .delay_ns
            .store(nanos(delay_ab), Ordering::Relaxed);
        shared.dirs[1]
            .delay_ns
            .store(nanos(delay_ba), Ordering::Relaxed);
        let mut stage = DelayStage {
            shared,
            stop,
            threads: Vec::new(),
            label,
        };
        for (dir, rx, tx, name) in [
            (Direction::AtoB, &port_a, &port_b, "delay-ab"),
            (Direction::BtoA, &port_b, &port_a, "delay-ba"),
        ] {
            let worker = Worker {
                rx: Arc::clone(rx),
                tx: Arc::clone(tx),
                stop: stage.stop.as_raw_fd(),
                shared: Arc::clone(&stage.shared),
                dir: dir.index(),
                capacity: queue_frames,
            };
            let handle = std::thread::Builder::new()
                .name(name.to_string())
                .spawn(move || worker.run())
                .map_err(|source| Error::Io {
                    what: format!("{}: spawn thread", stage.label),
                    source,
                })?;
            stage.threads.push(handle);
        }
        Ok(stage)
    }

    /// Changes the delay of one direction; applies to frames arriving from
    /// now on (frames already held keep their deadline).
    pub fn set_delay(&self, direction: Direction, delay: Duration) {
        self.shared.dirs[direction.index()]
            .delay_ns
            .store(nanos(delay), Ordering::Relaxed);
    }

    /// The delay of one direction.
    pub fn delay(&self, direction: Direction) -> Duration {
        Duration::from_nanos(
            self.shared.dirs[direction.index()]
                .delay_ns
                .load(Ordering::Relaxed),
        )
    }

    /// A snapshot of one direction's counters.
    pub fn stats(&self, direction: Direction) -> DirectionStats {
        let c = &self.shared.dirs[direction.index()];
        DirectionStats {
            forwarded: c.forwarded.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            queued: c.queued.load(Ordering::Relaxed),
            max_late: Duration::from_nanos(c.max_late_ns.load(Ordering::Relaxed)),
            total_late: Duration::from_nanos(c.total_late_ns.load(Ordering::Relaxed)),
            last_error: c.last_error.lock().ok().and_then(|l| l.clone()),
        }
    }

    /// Stops both threads and waits for them; frames still held are
    /// discarded. Errors only if a thread panicked.
    pub fn stop(mut self) -> Result<(), Error> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), Error> {
        if self.threads.is_empty() {
            return Ok(());
        }
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from `one` to our own eventfd. Level
        // triggered and never read, so both threads see it.
        unsafe { libc::write(self.stop.as_raw_fd(), (&one as *const u64).cast(), 8) };
        let mut panicked = Vec::new();
        for handle in self.threads.drain(..) {
            let name = handle.thread().name().unwrap_or("?").to_string();
            if handle.join().is_err() {
                panicked.push(name);
            }
        }
        if panicked.is_empty() {
            Ok(())
        } else {
            Err(Error::Io {
                what: format!("{}: thread {} panicked", self.label, panicked.join(", ")),
                source: io::Error::other("forwarding thread panicked"),
            })
        }
    }
}

impl Drop for DelayStage {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            eprintln!("lab: {e}");
        }
    }
}

impl Topology {
    /// Makes `ns` a quiet in-line wire for a [`DelayStage`]: IPv6 disabled
    /// (no link-local addresses, so the namespace sends nothing of its own),
    /// IPv4 and IPv6 forwarding off. Declare no addresses there.
    pub fn wire(self, ns: &str) -> Self {
        self.sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")
            .sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")
            .sysctl(ns, "net.ipv6.conf.all.forwarding", "0")
            .sysctl(ns, "net.ipv4.ip_forward", "0")
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Refuses a namespace whose kernel could act on passing frames: forwarding
/// on, or addresses on the stage's interfaces. Runs inside the namespace
/// (`/proc/sys/net` and `getifaddrs` answer for the calling thread's one).
fn check_quiet(label: &str, ns: &str, ifnames: &[&str]) -> Result<(), Error> {
    for key in ["ipv4/ip_forward", "ipv6/conf/all/forwarding"] {
        let path = format!("/proc/sys/net/{key}");
        let value = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            what: format!("{label}: read {path} in namespace `{ns}`"),
            source,
        })?;
        if value.trim() != "0" {
            return Err(Error::Topology(format!(
                "{label}: forwarding is on in namespace `{ns}` ({path} = {}); \
                 the wire's kernel must not forward (see Topology::wire)",
                value.trim()
            )));
        }
    }
    for (ifname, addr) in addresses()? {
        if !ifnames.contains(&ifname.as_str()) {
            continue;
        }
        let link_local = matches!(addr, std::net::IpAddr::V6(v6) if is_link_local(&v6));
        if !link_local {
            return Err(Error::Topology(format!(
                "{label}: interface `{ifname}` in namespace `{ns}` has address {addr}; \
                 a wire interface must have none (see Topology::wire)"
            )));
        }
    }
    Ok(())
}

fn is_link_local(addr: &Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

/// (interface, address) for every IP address in the calling thread's
/// namespace.
fn addresses() -> Result<Vec<(String, std::net::IpAddr)>, Error> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `list` receives a list that is freed below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(Error::Io {
            what: "getifaddrs".to_string(),
            source: io::Error::last_os_error(),
        });
    }
    let mut out = Vec::new();
    let mut cur = list;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet
        // freed; its name is a NUL-terminated string and `ifa_addr`, when not
        // null, points to a sockaddr of the family it names.
        unsafe {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null() {
                let name = CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned();
                match i32::from((*ifa.ifa_addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                        let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                        out.push((name, ip.into()));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                        out.push((name, Ipv6Addr::from(sin6.sin6_addr.s6_addr).into()));
                    }
                    _ => {}
                }
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    Ok(out)
}

/// An `AF_PACKET` socket on one wire interface: all ethertypes,
/// promiscuous, outgoing frames ignored, kernel receive timestamps on,
/// non-blocking. Shared by the thread reading from it and the thread
/// sending on it.
#[derive(Debug)]
struct Port {
    fd: OwnedFd,
    ifname: String,
}

impl Port {
    /// Opens it; runs inside the namespace.
    fn open(ifname: &str) -> io::Result<Port> {
        let name = std::ffi::CString::new(ifname)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
        // SAFETY: `name` is a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no interface `{ifname}`: {}", io::Error::last_os_error()),
            ));
        }
        // Protocol 0: nothing is queued before the bind below.
        // SAFETY: plain syscall; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let port = Port {
            fd,
            ifname: ifname.to_string(),
        };
        port.setsockopt(libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &1)?;
        port.setsockopt(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &1)?;
        if port
            .setsockopt(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &RCVBUF_BYTES)
            .is_err()
        {
            port.setsockopt(libc::SOL_SOCKET, libc::SO_RCVBUF, &RCVBUF_BYTES)?;
        }
        let mreq = libc::packet_mreq {
            mr_ifindex: ifindex as libc::c_int,
            mr_type: libc::PACKET_MR_PROMISC as libc::c_ushort,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        port.setsockopt(libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)?;
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as libc::c_ushort;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = ifindex as libc::c_int;
        // SAFETY: `addr` is a valid sockaddr_ll and its exact size is passed.
        let rc = unsafe {
            libc::bind(
                port.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(port)
    }

    fn setsockopt<T>(&self, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
        // SAFETY: `value` is a valid T and its exact size is passed.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (value as *const T).cast(),
                mem::size_of::<T>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Reads one frame without blocking into `buf`. `Ok(None)` when nothing
    /// is queued; otherwise the frame's full length (may exceed `buf`), its
    /// packet type and its kernel receive timestamp (CLOCK_REALTIME), if any.
    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut from: libc::sockaddr_ll = unsafe { mem::zeroed() };
        // u64 elements keep the control buffer aligned for cmsghdr.
        let mut control = [0u64; 16];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain data; all-zero is a valid value.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
        msg.msg_namelen = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of_val(&control) as _;
        // SAFETY: every pointer in `msg` refers to a live buffer of the
        // length given; MSG_TRUNC makes the kernel return the full length
        // while writing at most `buf.len()` bytes.
        let n = unsafe {
            libc::recvmsg(
                self.fd.as_raw_fd(),
                &mut msg,
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock => Ok(None),
                _ => Err(err),
            };
        }
        let mut stamp = None;
        // SAFETY: the CMSG_* macros walk the control buffer the kernel
        // filled, within `msg_controllen`.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET
                    && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
                {
                    let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                    stamp = Some(ts);
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        Ok(Some(Received {
            len: n as usize,
            outgoing: from.sll_pkttype == libc::PACKET_OUTGOING,
            stamp,
        }))
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: the pointer and length describe `frame`, alive for the call.
        let sent =
            unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        match sent {
            n if n < 0 => Err(io::Error::last_os_error()),
            n if n as usize != frame.len() => Err(io::Error::other(format!(
                "sent {n} of {} bytes",
                frame.len()
            ))),
            _ => Ok(()),
        }
    }
}

struct Received {
    len: usize,
    outgoing: bool,
    stamp: Option<libc::timespec>,
}

/// One frame held by the stage.
struct Held {
    due: Instant,
    frame: Vec<u8>,
}

/// One direction's forwarding loop.
struct Worker {
    rx: Arc<Port>,
    tx: Arc<Port>,
    stop: libc::c_int,
    shared: Arc<Shared>,
    dir: usize,
    capacity: usize,
}

impl Worker {
    fn run(self) {
        // Wake-ups on time: the default 50 µs timer slack would be the
        // largest error of the whole stage. Failure only costs accuracy.
        // SAFETY: prctl(PR_SET_TIMERSLACK) affects only this thread.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
        // Best effort: ahead of ordinary work on a loaded machine. The
        // thread sleeps between frames and spins at most `SPIN` per frame.
        // SAFETY: plain syscalls; the thread id names this thread only.
        unsafe {
            let tid = libc::gettid() as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, THREAD_NICE);
        }
        let counters = &self.shared.dirs[self.dir];
        let mut queue: VecDeque<Held> = VecDeque::with_capacity(self.capacity.min(65_536));
        let mut buf = vec![0u8; MAX_FRAME];
        loop {
            let now = Instant::now();
            while queue.front().is_some_and(|h| h.due <= now) {
                let held = queue.pop_front().expect("front exists");
                // Measured before the send: on a veth the send call itself
                // may run the receiving namespace's stack.
                let late = nanos(Instant::now().saturating_duration_since(held.due));
                match self.tx.send(&held.frame) {
                    Ok(()) => {
                        counters.forwarded.fetch_add(1, Ordering::Relaxed);
                        counters.max_late_ns.fetch_max(late, Ordering::Relaxed);
                        counters.total_late_ns.fetch_add(late, Ordering::Relaxed);
                    }
                    Err(e) => counters.error(format!(
                        "send {} bytes on {}: {e}",
                        held.frame.len(),
                        self.tx.ifname
                    )),
                }
                counters.queued.store(queue.len() as u64, Ordering::Relaxed);
            }
            let timeout = match queue.front() {
                None => None,
                Some(h) => {
                    let left = h.due.saturating_duration_since(Instant::now());
                    if left <= SPIN {
                        while Instant::now() < h.due {
                            std::hint::spin_loop();
                        }
                        continue;
                    }
                    Some(left - SPIN)
                }
            };
            match self.wait(timeout) {
                Wake::Stop => return,
                Wake::Timeout => {}
                Wake::Readable => self.receive(&mut queue, &mut buf, counters),
            }
        }
    }

    /// Reads up to [`RX_BATCH`] frames into the queue.
    fn receive(&self, queue: &mut VecDeque<Held>, buf: &mut [u8], counters: &Counters) {
        for _ in 0..RX_BATCH {
            let got = match self.rx.recv(buf) {
                Ok(Some(got)) => got,
                Ok(None) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    counters.error(format!("receive on {}: {e}", self.rx.ifname));
                    break;
                }
            };
            if got.outgoing {
                continue;
            }
            if got.len > buf.len() {
                counters.error(format!(
                    "frame of {} bytes on {} is larger than {} bytes, dropped",
                    got.len,
                    self.rx.ifname,
                    buf.len()
                ));
                continue;
            }
            if queue.len() >= self.capacity {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let arrived = arrival(got.stamp);
            let delay = Duration::from_nanos(counters.delay_ns.load(Ordering::Relaxed));
            queue.push_back(Held {
                due: arrived + delay,
                frame: buf[..got.len].to_vec(),
            });
            counters.queued.store(queue.len() as u64, Ordering::Relaxed);
        }
    }

    /// Waits until the ingress socket is readable, the stage is stopped, or
    /// `timeout` (None: forever) passes.
    fn wait(&self, timeout: Option<Duration>) -> Wake {
        let mut fds = [
            libc::pollfd {
                fd: self.stop,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.rx.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: t.subsec_nanos() as libc::c_long,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: two valid pollfds, a valid or null timespec, no sigmask.
        let rc = unsafe { libc::ppoll(fds.as_mut_ptr(), 2, ts_ptr, std::ptr::null()) };
        if rc <= 0 {
            // Timeout, or EINTR: the loop re-checks deadlines either way.
            return Wake::Timeout;
        }
        if fds[0].revents != 0 {
            return Wake::Stop;
        }
        if fds[1].revents != 0 {
            // POLLIN, or POLLERR: recv reports (and so clears) the error.
            return Wake::Readable;
        }
        Wake::Timeout
    }
}

enum Wake {
    Stop,
    Timeout,
    Readable,
}

/// When the frame arrived, as an [`Instant`]: the kernel's receive
/// timestamp (CLOCK_REALTIME) mapped onto the monotonic clock through the
/// current offset between the two, or now when there is no plausible
/// timestamp.
fn arrival(stamp: Option<libc::timespec>) -> Instant {
    let mut real = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // Read the realtime clock first: the instant read after it makes the
    // computed age a little short, so the delay comes out a few hundred
    // nanoseconds long, never short.
    // SAFETY: `real` is a valid timespec to write to.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut real) };
    let now = Instant::now();
    let Some(stamp) = stamp.filter(|_| rc == 0) else {
        return now;
    };
    let as_ns = |t: &libc::timespec| i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec);
    let age = as_ns(&real) - as_ns(&stamp);
    if age < 0 || age > MAX_STAMP_AGE.as_nanos() as i128 {
        return now;
    }
    now.checked_sub(Duration::from_nanos(age as u64))
        .unwrap_or(now)
}
