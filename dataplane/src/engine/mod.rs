//! The AF_XDP poll-mode engine: sockets, UMEM, pinned workers, and the
//! per-batch loop that drives [`crate::behavior::process`].
//!
//! What it is: one UMEM shared by every socket; one AF_XDP socket per
//! (port, rx queue), bound in copy mode with need_wakeup; worker `w` owns
//! queue `w` of every port, so it transmits to any egress port on its own
//! socket (no locks, frames never cross workers). Per batch a worker loads
//! the FIB and neighbour snapshots once, recycles completions, tops up the
//! fill rings, takes up to `batch_size` frames from each port, runs the
//! behaviours and puts the results on the egress ports' tx rings. No heap
//! allocation, no lock and no blocking syscall in the loop; `sendto` /
//! `recvfrom` with `MSG_DONTWAIT` only when the ring asks for a wakeup.
//!
//! What it is not: it does not answer ARP/NDP, does not resolve neighbours
//! (it calls [`EngineConfig::resolve`] and drops) and cannot hand a frame
//! back to the kernel: the XDP program must only steer the engine's own
//! traffic (see [`Steering`]).
//!
//! # Frames and headroom
//!
//! xsk-rs lays a frame out as `[frame_headroom][XDP_PACKET_HEADROOM=256]
//! [packet ...]` and its descriptors' addresses cannot be changed by the
//! user: every rx and tx descriptor points at the same offset of its frame
//! (`data_offset = frame_headroom + 256`). The worker sees the whole frame
//! as the [`Packet`](crate::behavior::Packet) buffer, so H.Encaps grows the
//! packet into the 256 + `frame_headroom` octets in front of it without
//! moving it ([`FRAME_HEADROOM`] makes room for [`MAX_ENCAP_LEN`] plus the
//! new Ethernet header). Because the tx descriptor must start at
//! `data_offset`, a frame whose start moved (encapsulated or
//! decapsulated) is then moved back there with one `copy_within` of the
//! frame (cost: one memmove of the packet length; plain forwarding and
//! End/End.X move nothing). See docs/decisions/0002-engine-umem.md.
//!
//! # XDP program
//!
//! [`EngineConfig::steering`] says who sets it up: [`RedirectSteering`]
//! (`ebpf-redirect`, one program per port, NDP and host traffic to the
//! kernel) in production, [`Steering::LibxdpDefault`] for experiments,
//! [`Steering::None`] when the caller registers [`Engine::sockets`] itself.
//!
//! # Namespaces
//!
//! Interface names are resolved and sockets created in the network
//! namespace of the thread calling [`Engine::start`]; the workers it spawns
//! inherit it. Call [`Engine::stop`] from the same namespace.

mod counters;
mod steering;
mod worker;

pub use counters::{Counters, EngineDrop, FrameAccounting};
pub use steering::{RedirectSteering, SteeringHandle};

use std::ffi::CString;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use xsk_rs::config::{
    BindFlags, FrameSize, LibxdpFlags, QueueSize, SocketConfig, UmemConfig, XdpFlags,
};
use xsk_rs::{Socket, Umem};

use crate::behavior::MAX_ENCAP_LEN;
use crate::fib::{Fib, PortId, Published, VrfId};
use crate::neighbor::{Mac, NeighborTable};
use crate::stamp_sender::SenderSessions;

use counters::WorkerCounters;
use worker::{PortSocket, Worker};

/// Octets of user headroom configured in front of the kernel's 256-octet
/// XDP headroom: with it, a received packet's IP header has at least
/// `MAX_ENCAP_LEN + 14` octets in front of it.
pub const FRAME_HEADROOM: u32 = 64;

/// The kernel's XDP headroom (`XDP_PACKET_HEADROOM`).
pub const XDP_HEADROOM: usize = 256;

const ETH_LEN: usize = 14;

const _: () = assert!(FRAME_HEADROOM as usize + XDP_HEADROOM >= MAX_ENCAP_LEN + ETH_LEN);

/// What a port is for (the XDP program steers differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortRole {
    /// Underlay side: SRv6 traffic to our SIDs.
    Wan,
    /// Customer side: everything routed in the port's VRF.
    Lan,
}

/// One interface the engine drives.
#[derive(Debug, Clone)]
pub struct PortSpec {
    /// The id routes use for this port.
    pub id: PortId,
    /// Interface name (in the namespace of the thread calling
    /// [`Engine::start`]).
    pub ifname: String,
    /// VRF of packets received on this port.
    pub vrf: VrfId,
    /// WAN or LAN.
    pub role: PortRole,
    /// Source MAC of frames sent out of this port.
    pub mac: Mac,
    /// Rx queues the interface has; must be at least the number of workers.
    pub queues: u32,
}

/// What a worker does when a loop iteration found no work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdlePolicy {
    /// Keep polling (lowest latency, one core at 100 %).
    #[default]
    Spin,
    /// `sched_yield` after an empty iteration.
    Yield,
    /// Sleep this long after 64 empty iterations in a row (shared machines,
    /// tests).
    Sleep(Duration),
}

/// Called (from the worker, per packet) for a next hop with no neighbour
/// entry. Must not block: queue a request and return.
pub type ResolveHook = Arc<dyn Fn(PortId, IpAddr) + Send + Sync>;

/// Who loads the XDP program that steers frames to the sockets, and how
/// sockets are registered with it.
pub trait XdpSteering: Send {
    /// Attaches the program to `port` (ifindex `ifindex`), before its sockets
    /// are created.
    fn attach(&mut self, port: &PortSpec, ifindex: u32) -> Result<(), String>;
    /// Puts socket `fd` of (`port`, `queue`) into the program's XSKMAP.
    fn register(&mut self, port: &PortSpec, queue: u32, fd: RawFd) -> Result<(), String>;
    /// Removes the program from every port it was attached to.
    fn detach(&mut self);
}

/// How the XDP program is set up.
pub enum Steering {
    /// libxdp loads its default XSK program (it redirects *everything* on
    /// the queue to the socket, ARP and NDP included, and needs bpffs at
    /// /sys/fs/bpf): tests and experiments only.
    LibxdpDefault,
    /// The sockets are created with `XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD`
    /// and the given steering attaches its own program and registers them
    /// (e.g. `ebpf-redirect`'s `RedirectProgram`).
    Custom(Box<dyn XdpSteering>),
    /// Nothing is attached and nothing registered: the caller has done it.
    None,
}

impl fmt::Debug for Steering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Steering::LibxdpDefault => "LibxdpDefault",
            Steering::Custom(_) => "Custom(..)",
            Steering::None => "None",
        })
    }
}

/// Everything the engine needs to start.
pub struct EngineConfig {
    /// The ports; ids must be distinct.
    pub ports: Vec<PortSpec>,
    /// Number of workers; worker `w` owns rx queue `w` of every port.
    pub workers: usize,
    /// Core to pin worker `w` to (`cores[w]`); unpinned when absent.
    pub cores: Vec<usize>,
    /// Frames taken from each rx ring per batch (default 64).
    pub batch_size: usize,
    /// UMEM frame size, a power of two ≥ 2048 (default 4096: a 1500-octet
    /// packet plus a 16-SID encapsulation fits).
    pub frame_size: u32,
    /// Frames in the UMEM, split evenly between workers (default: 4096 per
    /// port; scale it with the worker count, as `srv6d run` does).
    pub frame_count: u32,
    /// Size of every ring (rx, tx, fill, completion), a power of two
    /// (default 1024).
    pub ring_size: u32,
    /// Set SO_PREFER_BUSY_POLL / SO_BUSY_POLL / SO_BUSY_POLL_BUDGET on the
    /// sockets and kick rx with a non-blocking `recvfrom` every batch.
    pub busy_poll: bool,
    /// What to do when idle.
    pub idle: IdlePolicy,
    /// XDP program setup.
    pub steering: Steering,
    /// Neighbour resolution request hook.
    pub resolve: Option<ResolveHook>,
    /// The STAMP Session-Sender sessions the workers run (default: a new,
    /// empty set; publish sessions into it at any time, see
    /// [`Engine::stamp_senders`]).
    pub stamp_senders: Arc<SenderSessions>,
    /// ICMP errors (Time Exceeded, Packet Too Big, ...) each worker may
    /// send per second (default 1000, the kernel's `icmp_msgs_per_sec`;
    /// 0: none), and the burst (default 50, `icmp_msgs_burst`).
    pub icmp_rate: u32,
    /// See [`EngineConfig::icmp_rate`].
    pub icmp_burst: u32,
}

impl fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineConfig")
            .field("ports", &self.ports)
            .field("workers", &self.workers)
            .field("cores", &self.cores)
            .field("batch_size", &self.batch_size)
            .field("frame_size", &self.frame_size)
            .field("frame_count", &self.frame_count)
            .field("ring_size", &self.ring_size)
            .field("busy_poll", &self.busy_poll)
            .field("idle", &self.idle)
            .field("steering", &self.steering)
            .field("resolve", &self.resolve.as_ref().map(|_| ".."))
            .field("stamp_senders", &self.stamp_senders)
            .field("icmp_rate", &self.icmp_rate)
            .field("icmp_burst", &self.icmp_burst)
            .finish()
    }
}

impl EngineConfig {
    /// A configuration with the defaults for `ports`, one worker.
    pub fn new(ports: Vec<PortSpec>) -> EngineConfig {
        let frame_count = 4096 * ports.len().max(1) as u32;
        EngineConfig {
            ports,
            workers: 1,
            cores: Vec::new(),
            batch_size: 64,
            frame_size: 4096,
            frame_count,
            ring_size: 1024,
            busy_poll: false,
            idle: IdlePolicy::Spin,
            steering: Steering::LibxdpDefault,
            resolve: None,
            stamp_senders: SenderSessions::new(),
            icmp_rate: 1000,
            icmp_burst: 50,
        }
    }
}

/// Why the engine could not start or stop. Every message names the port
/// (and interface) it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The configuration is inconsistent.
    #[error("invalid engine configuration: {0}")]
    Config(String),
    /// No interface of that name in the current network namespace.
    #[error("port {port}: interface `{ifname}` not found")]
    InterfaceNotFound { port: u16, ifname: String },
    /// Not root and lacking the capabilities.
    #[error(
        "port {port} (`{ifname}`): permission denied creating the AF_XDP socket \
         (needs root, or CAP_NET_RAW + CAP_BPF + CAP_NET_ADMIN): {source}"
    )]
    Permission {
        port: u16,
        ifname: String,
        #[source]
        source: io::Error,
    },
    /// The kernel or the interface does not support AF_XDP.
    #[error(
        "port {port} (`{ifname}`): AF_XDP not supported by this kernel or interface \
         (needs Linux 5.4 or later built with CONFIG_XDP_SOCKETS): {source}"
    )]
    AfXdpUnsupported {
        port: u16,
        ifname: String,
        #[source]
        source: io::Error,
    },
    /// The interface has fewer rx queues than configured or than workers.
    #[error(
        "port {port} (`{ifname}`): queue count mismatch: {workers} worker(s) need \
         {workers} rx queue(s), the port is configured with {configured}, the \
         device has {device}"
    )]
    QueueCountMismatch {
        port: u16,
        ifname: String,
        workers: usize,
        configured: u32,
        device: String,
    },
    /// Socket creation failed for another reason.
    #[error("port {port} (`{ifname}`) queue {queue}: cannot create AF_XDP socket: {source}")]
    Socket {
        port: u16,
        ifname: String,
        queue: u32,
        #[source]
        source: io::Error,
    },
    /// The UMEM could not be created.
    #[error("cannot create UMEM ({frames} frames of {frame_size} octets): {message}")]
    Umem {
        frames: u32,
        frame_size: u32,
        message: String,
    },
    /// The XDP steering program failed.
    #[error("port {port} (`{ifname}`): XDP program: {message}")]
    Xdp {
        port: u16,
        ifname: String,
        message: String,
    },
    /// A worker thread could not be spawned.
    #[error("cannot spawn worker {worker}: {source}")]
    Spawn {
        worker: usize,
        #[source]
        source: io::Error,
    },
    /// A worker panicked.
    #[error("worker {0} panicked")]
    WorkerPanicked(usize),
}

/// A running engine. Dropping it stops the workers (use [`Engine::stop`] to
/// get the frame accounting and errors).
pub struct Engine {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<FrameAccounting>>,
    counters: Vec<Arc<WorkerCounters>>,
    steering: Steering,
    fds: Vec<(PortId, u32, RawFd)>,
    stamp_senders: Arc<SenderSessions>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("workers", &self.workers.len())
            .field("sockets", &self.fds)
            .finish()
    }
}

fn classify_io(port: &PortSpec, queue: u32, source: io::Error) -> EngineError {
    let (p, ifname) = (port.id.0, port.ifname.clone());
    match source.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => EngineError::Permission {
            port: p,
            ifname,
            source,
        },
        Some(libc::EAFNOSUPPORT) | Some(libc::EOPNOTSUPP) | Some(libc::EPROTONOSUPPORT) => {
            EngineError::AfXdpUnsupported {
                port: p,
                ifname,
                source,
            }
        }
        Some(libc::ENODEV) => EngineError::InterfaceNotFound { port: p, ifname },
        _ => EngineError::Socket {
            port: p,
            ifname,
            queue,
            source,
        },
    }
}

/// The interface's rx queue count from `ETHTOOL_GCHANNELS`, if the driver
/// reports it.
fn device_rx_queues(ifname: &str) -> Option<u32> {
    #[repr(C)]
    #[derive(Default)]
    struct EthtoolChannels {
        cmd: u32,
        max_rx: u32,
        max_tx: u32,
        max_other: u32,
        max_combined: u32,
        rx_count: u32,
        tx_count: u32,
        other_count: u32,
        combined_count: u32,
    }
    const ETHTOOL_GCHANNELS: u32 = 0x3c;
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr
        .ifr_name
        .iter_mut()
        .zip(ifname.bytes().take(libc::IFNAMSIZ - 1))
    {
        *d = s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (&mut ch as *mut EthtoolChannels).cast();
    // SAFETY: SIOCETHTOOL with a valid ifreq pointing at a live
    // ethtool_channels; fd is ours and closed right after.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCETHTOOL, &mut ifr) };
    // SAFETY: closing our own fd.
    unsafe { libc::close(fd) };
    if rc != 0 {
        return None;
    }
    Some(ch.rx_count.max(ch.combined_count))
}

/// `getsockopt(SOL_XDP, XDP_STATISTICS)`: six u64 in the kernel's order.
fn xdp_statistics(fd: RawFd) -> Option<[u64; 6]> {
    const SOL_XDP: libc::c_int = 283;
    const XDP_STATISTICS: libc::c_int = 7;
    let mut stats = [0u64; 6];
    let mut len = std::mem::size_of_val(&stats) as libc::socklen_t;
    // SAFETY: the buffer and its length are valid; the kernel writes at most
    // `len` octets.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            SOL_XDP,
            XDP_STATISTICS,
            stats.as_mut_ptr().cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(stats)
}

fn set_busy_poll(fd: RawFd, budget: usize) {
    const SO_PREFER_BUSY_POLL: libc::c_int = 69;
    const SO_BUSY_POLL_BUDGET: libc::c_int = 70;
    for (opt, val) in [
        (SO_PREFER_BUSY_POLL, 1),
        (libc::SO_BUSY_POLL, 20),
        (SO_BUSY_POLL_BUDGET, budget as libc::c_int),
    ] {
        // SAFETY: setsockopt with a pointer to a live c_int and its size.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&val as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
}

impl Engine {
    /// Creates the UMEM and the sockets, sets up the XDP program, and starts
    /// the workers (they inherit the caller's network namespace).
    pub fn start(
        mut config: EngineConfig,
        fib: Arc<Published<Fib>>,
        neighbors: Arc<Published<NeighborTable>>,
    ) -> Result<Engine, EngineError> {
        let workers = config.workers;
        if config.ports.is_empty() {
            return Err(EngineError::Config("at least one port is needed".into()));
        }
        if workers == 0 {
            return Err(EngineError::Config("workers must be at least 1".into()));
        }
        if config.batch_size == 0 || config.batch_size > config.ring_size as usize {
            return Err(EngineError::Config(format!(
                "batch_size {} must be in 1..={} (ring_size)",
                config.batch_size, config.ring_size
            )));
        }
        if !config.ring_size.is_power_of_two() {
            return Err(EngineError::Config(format!(
                "ring_size {} must be a power of two",
                config.ring_size
            )));
        }
        for (i, p) in config.ports.iter().enumerate() {
            if config.ports[..i].iter().any(|q| q.id == p.id) {
                return Err(EngineError::Config(format!(
                    "port id {} is used twice (`{}`)",
                    p.id.0, p.ifname
                )));
            }
        }
        let per_worker = config.frame_count as usize / workers;
        let nports = config.ports.len();
        if per_worker < nports * config.batch_size * 2 {
            return Err(EngineError::Config(format!(
                "frame_count {} too small: each of {workers} worker(s) needs at least {} frames \
                 ({nports} port(s) x 2 x batch_size {})",
                config.frame_count,
                nports * config.batch_size * 2,
                config.batch_size
            )));
        }

        // Interfaces and queues first: the clearest errors.
        let mut ifindexes = Vec::with_capacity(nports);
        let mut mtus = Vec::with_capacity(nports);
        for p in &config.ports {
            let name =
                CString::new(p.ifname.as_str()).map_err(|_| EngineError::InterfaceNotFound {
                    port: p.id.0,
                    ifname: p.ifname.clone(),
                })?;
            // SAFETY: a valid NUL-terminated string.
            let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
            if ifindex == 0 {
                return Err(EngineError::InterfaceNotFound {
                    port: p.id.0,
                    ifname: p.ifname.clone(),
                });
            }
            let device = device_rx_queues(&p.ifname);
            if (p.queues as usize) < workers || device.is_some_and(|d| d < p.queues) {
                return Err(EngineError::QueueCountMismatch {
                    port: p.id.0,
                    ifname: p.ifname.clone(),
                    workers,
                    configured: p.queues,
                    device: device.map_or("an unknown number".into(), |d| d.to_string()),
                });
            }
            ifindexes.push(ifindex);
            mtus.push(interface_mtu(&p.ifname).unwrap_or(usize::MAX));
        }

        let umem_err = |message: String| EngineError::Umem {
            frames: config.frame_count,
            frame_size: config.frame_size,
            message,
        };
        let ring = QueueSize::new(config.ring_size).map_err(|e| umem_err(e.to_string()))?;
        let umem_config = UmemConfig::builder()
            .frame_size(FrameSize::new(config.frame_size).map_err(|e| umem_err(e.to_string()))?)
            .frame_headroom(FRAME_HEADROOM)
            .fill_queue_size(ring)
            .comp_queue_size(ring)
            .build()
            .map_err(|e| umem_err(e.to_string()))?;
        let frame_count = NonZeroU32::new((per_worker * workers) as u32)
            .ok_or_else(|| umem_err("no frames".into()))?;
        let (umem, mut descs) = Umem::new(umem_config, frame_count, false).map_err(|e| {
            let source = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<io::Error>());
            match source.and_then(io::Error::raw_os_error) {
                // The UMEM is registered on an AF_XDP socket: the first
                // place a missing capability shows.
                Some(errno @ (libc::EPERM | libc::EACCES | libc::EAFNOSUPPORT)) => {
                    classify_io(&config.ports[0], 0, io::Error::from_raw_os_error(errno))
                }
                _ => umem_err(match source {
                    Some(s) => format!("{e}: {s}"),
                    None => e.to_string(),
                }),
            }
        })?;

        let custom = matches!(config.steering, Steering::Custom(_));
        if let Steering::Custom(s) = &mut config.steering {
            for (p, &ifindex) in config.ports.iter().zip(&ifindexes) {
                s.attach(p, ifindex).map_err(|message| EngineError::Xdp {
                    port: p.id.0,
                    ifname: p.ifname.clone(),
                    message,
                })?;
            }
        }
        let mut libxdp_flags = LibxdpFlags::empty();
        if custom || matches!(config.steering, Steering::None) {
            libxdp_flags |= LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD;
        }
        let socket_config = SocketConfig::builder()
            .rx_queue_size(ring)
            .tx_queue_size(ring)
            .libxdp_flags(libxdp_flags)
            .xdp_flags(XdpFlags::XDP_FLAGS_DRV_MODE)
            .bind_flags(BindFlags::XDP_COPY | BindFlags::XDP_USE_NEED_WAKEUP)
            .build();

        // Build everything before any thread runs, so an error leaves
        // nothing behind (sockets close on drop, steering detached below).
        let mut fds = Vec::new();
        let mut per_worker_sockets: Vec<Vec<PortSocket>> = Vec::with_capacity(workers);
        let result = (|| {
            for w in 0..workers {
                let mut sockets = Vec::with_capacity(nports);
                for (p, &mtu) in config.ports.iter().zip(&mtus) {
                    let queue = w as u32;
                    let iface = p
                        .ifname
                        .parse()
                        .map_err(|_| EngineError::InterfaceNotFound {
                            port: p.id.0,
                            ifname: p.ifname.clone(),
                        })?;
                    // SAFETY: no other socket is bound to (this interface,
                    // this queue) with this UMEM: each pair is created once.
                    let (tx, rx, fq_cq) =
                        unsafe { Socket::new(socket_config, &umem, &iface, queue) }.map_err(
                            |e| {
                                let io = std::error::Error::source(&e)
                                    .and_then(|s| s.downcast_ref::<io::Error>())
                                    .and_then(|s| s.raw_os_error())
                                    .map(io::Error::from_raw_os_error)
                                    .unwrap_or_else(|| io::Error::other(e.to_string()));
                                classify_io(p, queue, io)
                            },
                        )?;
                    let (fq, cq) = fq_cq.ok_or_else(|| EngineError::Socket {
                        port: p.id.0,
                        ifname: p.ifname.clone(),
                        queue,
                        source: io::Error::other("libxdp returned no fill/completion ring"),
                    })?;
                    let fd = rx.fd().as_raw_fd();
                    if config.busy_poll {
                        set_busy_poll(fd, config.batch_size);
                    }
                    if let Steering::Custom(s) = &mut config.steering {
                        s.register(p, queue, fd)
                            .map_err(|message| EngineError::Xdp {
                                port: p.id.0,
                                ifname: p.ifname.clone(),
                                message,
                            })?;
                    }
                    fds.push((p.id, queue, fd));
                    sockets.push(
                        PortSocket::new(p, tx, rx, fq, cq, fd, config.batch_size).with_mtu(mtu),
                    );
                }
                per_worker_sockets.push(sockets);
            }
            Ok(())
        })();
        if let Err(e) = result {
            drop(per_worker_sockets);
            if let Steering::Custom(s) = &mut config.steering {
                s.detach();
            }
            return Err(e);
        }

        let stop = Arc::new(AtomicBool::new(false));
        let mut engine = Engine {
            stop: stop.clone(),
            workers: Vec::with_capacity(workers),
            counters: Vec::with_capacity(workers),
            steering: std::mem::replace(&mut config.steering, Steering::None),
            fds,
            stamp_senders: config.stamp_senders.clone(),
        };
        // Per-port counters are indexed by PortId.
        let port_slots = config
            .ports
            .iter()
            .map(|p| usize::from(p.id.0) + 1)
            .max()
            .unwrap_or(0);
        for (w, sockets) in per_worker_sockets.into_iter().enumerate() {
            let frames: Vec<_> = descs.drain(..per_worker).collect();
            let counters = Arc::new(WorkerCounters::new(port_slots));
            engine.counters.push(counters.clone());
            let mut worker = Worker::new(
                umem.clone(),
                config.frame_size as usize,
                sockets,
                frames,
                config.batch_size,
                config.ring_size,
                config.busy_poll,
                config.idle,
                config.resolve.clone(),
                counters,
                fib.clone(),
                neighbors.clone(),
                stop.clone(),
                (w, workers, config.stamp_senders.clone()),
            );
            worker.set_icmp_limit(config.icmp_rate, config.icmp_burst);
            worker.prime();
            let core = config.cores.get(w).copied();
            let handle = std::thread::Builder::new()
                .name(format!("srv6d-w{w}"))
                .spawn(move || {
                    if let Some(id) = core {
                        core_affinity::set_for_current(core_affinity::CoreId { id });
                    }
                    worker.run()
                })
                .map_err(|source| EngineError::Spawn { worker: w, source });
            match handle {
                Ok(h) => engine.workers.push(h),
                Err(e) => {
                    let _ = engine.shutdown();
                    return Err(e);
                }
            }
        }
        Ok(engine)
    }

    /// The counters summed over the workers.
    pub fn counters(&self) -> Counters {
        let mut c = Counters::sum(&self.counters);
        for name in counters::KERNEL_STATS {
            c.kernel.insert(name, 0);
        }
        for &(_, _, fd) in &self.fds {
            if let Some(stats) = xdp_statistics(fd) {
                for (name, v) in counters::KERNEL_STATS.iter().zip(stats) {
                    *c.kernel.entry(name).or_default() += v;
                }
            }
        }
        c
    }

    /// The STAMP Session-Sender sessions the workers run: publish a new set
    /// with [`SenderSessions::publish`] (a session is sent by worker
    /// `slot % workers`, see `SenderChannel::slot`; replies are taken by whichever worker
    /// receives them).
    pub fn stamp_senders(&self) -> &Arc<SenderSessions> {
        &self.stamp_senders
    }

    /// (port, queue, socket fd) of every socket, e.g. for an XDP program
    /// set up by the caller ([`Steering::None`]).
    pub fn sockets(&self) -> &[(PortId, u32, RawFd)] {
        &self.fds
    }

    /// Workers whose thread has ended although the engine was not stopped
    /// (a worker ends early only by panicking; its queues are then no
    /// longer served). Cheap: poll it from the control plane's loop.
    pub fn failed_workers(&self) -> Vec<usize> {
        if self.stop.load(Ordering::Acquire) {
            return Vec::new();
        }
        self.workers
            .iter()
            .enumerate()
            .filter(|(_, h)| h.is_finished())
            .map(|(w, _)| w)
            .collect()
    }

    fn shutdown(&mut self) -> Result<FrameAccounting, EngineError> {
        // The XDP program goes first: from then on the kernel handles the
        // ports' traffic as before srv6d, instead of redirecting it into
        // sockets that the stopping workers no longer read.
        if let Steering::Custom(s) = &mut self.steering {
            s.detach();
        }
        self.steering = Steering::None;
        self.stop.store(true, Ordering::Release);
        let mut total = FrameAccounting::default();
        let mut panicked = None;
        for (w, h) in self.workers.drain(..).enumerate() {
            match h.join() {
                Ok(a) => total.add(&a),
                Err(_) => panicked = panicked.or(Some(w)),
            }
        }
        match panicked {
            Some(w) => Err(EngineError::WorkerPanicked(w)),
            None => Ok(total),
        }
    }

    /// Detaches the XDP program, stops and joins the workers (each waits
    /// briefly for its frames in flight on the tx rings) and says where
    /// every UMEM frame is.
    pub fn stop(mut self) -> Result<FrameAccounting, EngineError> {
        self.shutdown()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if !self.workers.is_empty() {
            let _ = self.shutdown();
        }
    }
}

/// The MTU of interface `ifname` in the calling thread's network namespace
/// (`SIOCGIFMTU`), or `None` if it cannot be read.
fn interface_mtu(ifname: &str) -> Option<usize> {
    if ifname.len() >= libc::IFNAMSIZ {
        return None;
    }
    // SAFETY: a plain datagram socket, closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: ifreq is plain old data; the name fits (checked above) and
    // stays NUL-terminated.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(ifname.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: SIOCGIFMTU reads the name and writes ifru_mtu of `req`.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFMTU, &mut req) };
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    if rc < 0 {
        return None;
    }
    // SAFETY: the kernel filled the union's MTU member.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    usize::try_from(mtu).ok().filter(|&m| m > 0)
}
