//! The running router: a validated configuration turned into a FIB snapshot,
//! the XDP steering programs, the neighbour monitor and the AF_XDP engine;
//! configuration reloads; an orderly shutdown.
//!
//! Start-up order: FIB snapshot, neighbour monitor (its first table is
//! published before the engine starts), engine (which attaches the XDP
//! programs through the engine's `RedirectSteering` and registers its
//! sockets in them). Shutdown runs the other way, and the engine's frame
//! accounting is returned so a leak shows.
//!
//! Reload: the ports must be the same (a port change needs a restart; the
//! reload is refused and nothing changes). The XDP programs first learn the
//! new engine-owned addresses, then the new FIB snapshot is published (one
//! atomic pointer swap: a worker sees either the old or the new snapshot,
//! whole), then addresses only the old configuration owned are removed. A
//! packet both configurations forward is never dropped by the switch.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use dataplane::engine::{
    Counters, Engine, EngineConfig, EngineError, FrameAccounting, IdlePolicy,
    PortRole as EnginePortRole, PortSpec, RedirectSteering, Steering, SteeringHandle,
};
use dataplane::fib::{Fib, PortId, Published};
use dataplane::neighbor::{Mac, NeighborTable};
use tracing::{info, warn};

use crate::config::{LoadedConfig, OwnedPrefix, PortConfig, PortRole, StampSenderConfig};
use crate::neighbors::{self, NeighborMonitor};
use crate::stamp_inline::{summary_line, InlineReport, SenderCollector, SessionRequest};

/// Why the router could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// A configured port's interface does not exist in this namespace.
    #[error("port {port} (`{ifname}`): no such interface in this network namespace")]
    NoInterface { port: u16, ifname: String },
    /// The interface has no Ethernet address (not an Ethernet device).
    #[error("port {port} (`{ifname}`): the interface has no Ethernet address")]
    NoMac { port: u16, ifname: String },
    /// Reading the interfaces' addresses failed.
    #[error("reading interface addresses: {0}")]
    Interfaces(#[source] std::io::Error),
    /// The neighbour monitor failed.
    #[error("neighbour monitor: {0}")]
    Neighbors(#[from] neighbors::Error),
    /// The engine failed.
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    /// Updating the XDP programs' maps failed.
    #[error("XDP program: {message}")]
    Xdp { message: String },
    /// Part of the router stopped working while it ran.
    #[error("{0}")]
    Failed(String),
    /// The STAMP sender sessions could not be started.
    #[error("{0}")]
    StampSender(#[from] crate::stamp_inline::ApplyError),
    /// A reload changed the ports.
    #[error(
        "reload refused: the ports changed ({0}); port changes need a restart, \
         the running configuration is unchanged"
    )]
    PortsChanged(String),
}

/// The addresses configured on interface `ifname` (this namespace), and its
/// Ethernet address.
fn interface_info(ifname: &str) -> std::io::Result<(Vec<IpAddr>, Option<Mac>)> {
    let mut addrs = Vec::new();
    let mut mac = None;
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        if name.to_bytes() != ifname.as_bytes() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points at a sockaddr whose family
        // says which sockaddr_* it is.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        match family {
            libc::AF_INET => {
                // SAFETY: family AF_INET: a sockaddr_in.
                let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                addrs.push(IpAddr::from(u32::from_be(sa.sin_addr.s_addr).to_be_bytes()));
            }
            libc::AF_INET6 => {
                // SAFETY: family AF_INET6: a sockaddr_in6.
                let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                addrs.push(IpAddr::from(Ipv6Addr::from(sa.sin6_addr.s6_addr)));
            }
            libc::AF_PACKET => {
                // SAFETY: family AF_PACKET: a sockaddr_ll.
                let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_ll) };
                if sa.sll_halen == 6 {
                    let mut m = [0u8; 6];
                    m.copy_from_slice(&sa.sll_addr[..6]);
                    mac = Some(m);
                }
            }
            _ => {}
        }
    }
    // SAFETY: freeing the list getifaddrs allocated, once.
    unsafe { libc::freeifaddrs(head) };
    Ok((addrs, mac))
}

/// How the engine runs (the `srv6d run` options).
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Worker threads; worker `w` owns rx queue `w` of every port (0 means 1).
    pub workers: usize,
    /// Core to pin worker `w` to (`cores[w]`); unpinned when absent.
    pub cores: Vec<usize>,
    /// What a worker does when it finds no work.
    pub idle: IdlePolicy,
    /// Busy polling on the AF_XDP sockets.
    pub busy_poll: bool,
}

/// The running router.
pub struct Router {
    engine: Option<Engine>,
    fib: Arc<Published<Fib>>,
    neighbors: Option<NeighborMonitor>,
    steering: SteeringHandle,
    ports: Vec<PortConfig>,
    owned: Vec<OwnedPrefix>,
    senders: SenderCollector,
}

/// The engine's form of the configured sender sessions. The fingerprint is
/// the whole configuration, key octets included (a changed key restarts
/// the session).
fn sender_requests(configs: &[StampSenderConfig]) -> Vec<SessionRequest> {
    configs
        .iter()
        .filter(|c| !c.stopped)
        .map(|c| SessionRequest {
            name: c.name.clone(),
            spec: c.to_spec(),
            clocks_synchronized: c.clocks_synchronized,
            fingerprint: format!("{c:?} key={:02x?}", c.key.as_ref().map(|k| k.as_bytes())),
        })
        .collect()
}

/// What a reload changed.
#[derive(Debug, Clone)]
pub struct ReloadSummary {
    /// Engine-owned prefixes added to the XDP programs.
    pub owned_added: usize,
    /// Engine-owned prefixes removed from them.
    pub owned_removed: usize,
    /// Final results of the sender sessions the reload stopped.
    pub stopped: Vec<InlineReport>,
}

impl Router {
    /// Starts everything in the calling thread's network namespace.
    pub fn start(config: LoadedConfig, options: EngineOptions) -> Result<Router, RouterError> {
        let workers = options.workers.max(1);
        // The engine-owned prefixes go to every port's XDP program; the
        // kernel's own addresses on the ports (SSH, the agent, ping to the
        // edge) stay the kernel's.
        let mut steering = RedirectSteering::new();
        for owned in &config.owned_addresses {
            steering = if owned.len == 128 {
                steering.local_v6(owned.prefix)
            } else {
                steering.sid_prefix(owned.prefix, owned.len)
            };
        }
        let mut specs = Vec::with_capacity(config.ports.len());
        for p in &config.ports {
            if !interface_exists(&p.name) {
                return Err(RouterError::NoInterface {
                    port: p.id.0,
                    ifname: p.name.clone(),
                });
            }
            let (addrs, mac) = interface_info(&p.name).map_err(RouterError::Interfaces)?;
            for addr in addrs {
                steering = steering.host_addr(addr);
            }
            let mac = mac.ok_or_else(|| RouterError::NoMac {
                port: p.id.0,
                ifname: p.name.clone(),
            })?;
            specs.push(PortSpec {
                id: p.id,
                ifname: p.name.clone(),
                vrf: p.vrf,
                role: match p.role {
                    PortRole::Wan => EnginePortRole::Wan,
                    PortRole::Lan => EnginePortRole::Lan,
                },
                mac,
                queues: p.queues.map_or(workers as u32, u32::from),
            });
        }
        let fib = Arc::new(Published::new(config.fib));
        let table = Arc::new(Published::new(NeighborTable::new()));
        let names: Vec<(PortId, &str)> = config
            .ports
            .iter()
            .map(|p| (p.id, p.name.as_str()))
            .collect();
        let monitor = NeighborMonitor::start(&names, table.clone())?;
        let resolver = monitor.resolver();
        let handle = steering.handle();
        let mut engine_config = EngineConfig::new(specs);
        engine_config.workers = workers;
        // 4096 frames (16 MiB of 4 KiB frames) per port and worker.
        engine_config.frame_count = 4096 * (config.ports.len().max(1) * workers) as u32;
        engine_config.cores = options.cores;
        engine_config.idle = options.idle;
        engine_config.busy_poll = options.busy_poll;
        engine_config.steering = Steering::Custom(Box::new(steering));
        engine_config.resolve = Some(Arc::new(move |port, ip| {
            let _ = resolver.request(port, ip);
        }));
        // The sender sessions are published before the workers start: they
        // send their first packets as soon as they run.
        let mut senders = SenderCollector::new();
        let channels = match senders.apply(sender_requests(&config.stamp_senders)) {
            Ok((channels, _)) => channels,
            Err(e) => {
                let _ = monitor.stop();
                return Err(e.into());
            }
        };
        engine_config
            .stamp_senders
            .publish(channels)
            .expect("the collector checked the number of sessions");
        let engine = match Engine::start(engine_config, fib.clone(), table) {
            Ok(engine) => engine,
            Err(e) => {
                let _ = monitor.stop();
                return Err(e.into());
            }
        };
        info!(
            ports = config.ports.len(),
            workers,
            owned = config.owned_addresses.len(),
            stamp_senders = config.stamp_senders.len(),
            "srv6d running"
        );
        Ok(Router {
            engine: Some(engine),
            fib,
            neighbors: Some(monitor),
            steering: handle,
            ports: config.ports,
            owned: config.owned_addresses,
            senders,
        })
    }

    /// Moves the sender sessions' events into their statistics: call it
    /// at least every second or two (a session's event queue holds 8,192
    /// events, 4 s of a 1 ms session).
    pub fn collect_stamp(&mut self) -> usize {
        self.senders.collect()
    }

    /// The sender sessions' results; `take_records` moves the records
    /// kept since the last take into the reports.
    pub fn stamp_reports<'a>(
        &mut self,
        take_records: impl Into<crate::stamp_inline::TakeRecords<'a>>,
    ) -> Vec<InlineReport> {
        self.senders.reports(take_records)
    }

    /// The engine's counters, summed over workers.
    pub fn counters(&self) -> Option<Counters> {
        self.engine.as_ref().map(Engine::counters)
    }

    /// Checks that every part of the router still runs: each engine worker
    /// (a worker ends early only by panicking, and its queues are then no
    /// longer served) and the neighbour monitor (without it the neighbour
    /// table no longer follows the kernel). Call it periodically; on error
    /// the router should be stopped, not left forwarding half-blind.
    pub fn check(&self) -> Result<(), RouterError> {
        if let Some(engine) = &self.engine {
            let dead = engine.failed_workers();
            if !dead.is_empty() {
                return Err(RouterError::Failed(format!(
                    "engine worker(s) {dead:?} ended unexpectedly (panicked; see the log above): \
                     their rx queues are no longer served"
                )));
            }
        }
        if let Some(monitor) = &self.neighbors {
            if !monitor.is_running() {
                return Err(RouterError::Failed(
                    "the neighbour monitor stopped (see the log above): next-hop MACs \
                     no longer follow the kernel's neighbour table"
                        .to_string(),
                ));
            }
        }
        Ok(())
    }

    /// Applies a new configuration (see the module docs for the order).
    pub fn reload(&mut self, config: LoadedConfig) -> Result<ReloadSummary, RouterError> {
        if config.ports != self.ports {
            return Err(RouterError::PortsChanged(describe_port_change(
                &self.ports,
                &config.ports,
            )));
        }
        let requests = sender_requests(&config.stamp_senders);
        SenderCollector::check(&requests)?;
        let old: BTreeSet<OwnedPrefix> = self.owned.iter().copied().collect();
        let new: BTreeSet<OwnedPrefix> = config.owned_addresses.iter().copied().collect();
        for owned in new.difference(&old) {
            if let Err(message) = self.steering.add_owned(owned.prefix, owned.len) {
                // Undo what was added: the running configuration stays whole.
                for added in new.difference(&old) {
                    let _ = self.steering.remove_owned(added.prefix, added.len);
                }
                return Err(RouterError::Xdp { message });
            }
        }
        self.fib.store(Arc::new(config.fib));
        // After the FIB: a new session's source address is ours by now.
        // Unchanged sessions keep running.
        let (channels, stopped) = self
            .senders
            .apply(requests)
            .expect("checked before anything changed");
        if let Some(engine) = &self.engine {
            engine
                .stamp_senders()
                .publish(channels)
                .expect("the collector checked the number of sessions");
        }
        for r in &stopped {
            info!("stopped by the reload: {}", summary_line(r));
        }
        for owned in old.difference(&new) {
            if let Err(e) = self.steering.remove_owned(owned.prefix, owned.len) {
                warn!(error = %e, "removing a stale XDP entry failed");
            }
        }
        self.owned = config.owned_addresses;
        Ok(ReloadSummary {
            owned_added: new.difference(&old).count(),
            owned_removed: old.difference(&new).count(),
            stopped,
        })
    }

    /// The configured ports.
    pub fn ports(&self) -> &[PortConfig] {
        &self.ports
    }

    /// Stops the engine (XDP programs detached, sockets closed) and the
    /// neighbour monitor; returns the engine's frame accounting.
    pub fn stop(mut self) -> Result<FrameAccounting, RouterError> {
        let accounting = match self.engine.take() {
            Some(engine) => engine.stop()?,
            None => FrameAccounting::default(),
        };
        if let Some(monitor) = self.neighbors.take() {
            monitor.stop()?;
        }
        Ok(accounting)
    }
}

fn interface_exists(ifname: &str) -> bool {
    let Ok(name) = std::ffi::CString::new(ifname) else {
        return false;
    };
    // SAFETY: if_nametoindex reads a NUL-terminated string.
    unsafe { libc::if_nametoindex(name.as_ptr()) != 0 }
}

fn describe_port_change(old: &[PortConfig], new: &[PortConfig]) -> String {
    let names = |ports: &[PortConfig]| {
        ports
            .iter()
            .map(|p| format!("{} {:?} vrf {}", p.name, p.role, p.vrf))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("was [{}], now [{}]", names(old), names(new))
}
