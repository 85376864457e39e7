//! The neighbour monitor: mirrors the kernel's IPv4 and IPv6 neighbour tables
//! for the engine's ports into a published [`NeighborTable`], and asks the
//! kernel to resolve next hops the engine found unresolved.
//!
//! The AF_XDP engine writes Ethernet headers itself, so it needs each next
//! hop's MAC address; the kernel still does ARP and NDP on the same
//! interfaces (the XDP program passes them up), so the kernel's neighbour
//! table is the source of truth. The monitor:
//!
//! 1. dumps the IPv4 and IPv6 neighbour tables over rtnetlink and keeps the
//!    entries on its ports that are REACHABLE, STALE, DELAY, PROBE,
//!    PERMANENT or NOARP and carry a 6-byte link-layer address;
//! 2. listens to RTNLGRP_NEIGH (RTM_NEWNEIGH / RTM_DELNEIGH) and applies
//!    each change; an entry that turns INCOMPLETE or FAILED, or is deleted,
//!    is removed;
//! 3. publishes a new immutable [`NeighborTable`] into the caller's
//!    [`Published`] after changes, coalesced: a burst of changes within
//!    [`NeighborMonitorOptions::coalesce`] gives one publish. Nothing is
//!    published when a notification changes nothing (REACHABLE -> STALE with
//!    the same MAC).
//! 4. re-dumps every [`NeighborMonitorOptions::resync_interval`] and at once
//!    when the notification socket overflowed (`ENOBUFS`), so a lost
//!    notification is repaired.
//!
//! The data path never waits for the monitor: workers load the table once
//! per batch, and on a miss drop the packet with reason
//! `neighbor_unresolved` and call [`NeighborResolver::request`], which
//! returns at once. The monitor then sends the kernel an RTM_NEWNEIGH with
//! the `NTF_USE` flag for (interface, address): the kernel creates the entry
//! if needed and starts ARP / neighbour solicitation exactly as if it had a
//! packet for that neighbour (`neigh_event_send`). When the answer arrives
//! the entry becomes REACHABLE, the notification reaches the monitor and the
//! next publish carries it; until then packets to it keep being dropped as
//! `neighbor_unresolved`.
//!
//! `NTF_USE` was chosen over sending a UDP datagram from a socket bound to
//! the device: it targets exactly (interface, address), independent of
//! routes (a datagram would follow a matching route and resolve its gateway
//! instead), of the source addresses on the interface and of IPv6 scope ids,
//! nothing but the ARP/NDP probe goes on the wire, and it uses the monitor's
//! own netlink socket (CAP_NET_ADMIN, which srv6d has anyway).
//!
//! Threading: [`NeighborMonitor::start`] spawns one thread (`srv6d-neigh`)
//! running a current-thread tokio runtime, so it works whether or not the
//! caller has a runtime and never competes with the caller's tasks. The
//! thread is created by the calling thread and so works in the calling
//! thread's network namespace (where srv6d runs); interface names are
//! looked up there too. `start` returns once the first snapshot is
//! published; dropping the monitor (or [`NeighborMonitor::stop`]) ends the
//! thread.
//!
//! What it is not: a neighbour implementation. It never answers or sends
//! ARP/NDP itself and never confirms reachability; a STALE entry the kernel
//! does not use stays STALE (and in the table) until the kernel changes it.

mod entries;
mod resolve;

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use dataplane::fib::{PortId, Published};
use dataplane::neighbor::NeighborTable;
use futures::channel::mpsc::UnboundedReceiver;
use futures::{StreamExt, TryStreamExt};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::neighbour::{NeighbourFlag, NeighbourState};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::AsyncSocket;
use rtnetlink::{Handle, IpVersion};
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, error, info, trace, warn};

use self::entries::{change, Mirror, PortIndex};
pub use self::resolve::{NeighborResolver, ResolveOutcome};
use self::resolve::{ResolveQueue, ResolveRequest};

/// Receive buffer asked for the notification socket: room for bursts of a
/// few thousand notifications (a link flap flushes a whole table).
const NOTIFICATION_RCVBUF: usize = 4 << 20;

/// Above this many remembered resolve requests, forget those older than the
/// suppression interval.
const RECENT_REQUESTS_PRUNE: usize = 4096;

/// Everything that can go wrong starting or running the monitor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A port's interface name cannot be an interface name.
    #[error(
        "neighbour monitor: port {}: interface name `{ifname}` is invalid \
         (expected 1 to 15 bytes, no NUL, `/` or whitespace)",
        port.0
    )]
    InvalidInterfaceName {
        /// The port.
        port: PortId,
        /// The name given.
        ifname: String,
    },
    /// A port's interface does not exist in the calling thread's namespace.
    #[error(
        "neighbour monitor: port {}: no interface `{ifname}` in this network namespace: {source}",
        port.0
    )]
    UnknownInterface {
        /// The port.
        port: PortId,
        /// The name given.
        ifname: String,
        /// What `if_nametoindex` said.
        #[source]
        source: io::Error,
    },
    /// One port was listed twice.
    #[error(
        "neighbour monitor: port {} is listed twice (interfaces `{first}` and `{second}`)",
        port.0
    )]
    DuplicatePort {
        /// The port.
        port: PortId,
        /// The interface of its first listing.
        first: String,
        /// The interface of its second listing.
        second: String,
    },
    /// Two ports name the same interface.
    #[error(
        "neighbour monitor: interface `{ifname}` is listed for port {} and port {}",
        first.0,
        second.0
    )]
    DuplicateInterface {
        /// The interface.
        ifname: String,
        /// The first port naming it.
        first: PortId,
        /// The second port naming it.
        second: PortId,
    },
    /// A system call failed (socket, runtime, thread).
    #[error("neighbour monitor: {operation}: {source}")]
    Io {
        /// What was being done.
        operation: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// A netlink request failed.
    #[error("neighbour monitor: {operation}: {source}")]
    Netlink {
        /// What was being done, naming the interface where there is one.
        operation: String,
        /// What rtnetlink said (boxed: it is large).
        #[source]
        source: Box<rtnetlink::Error>,
    },
    /// The monitor thread ended without saying why (it panicked).
    #[error("neighbour monitor: the monitor thread ended unexpectedly")]
    ThreadEnded,
}

/// Tuning of the monitor; [`Default`] suits production.
#[derive(Debug, Clone)]
pub struct NeighborMonitorOptions {
    /// Changes within this time after the first unpublished one are
    /// published together (at most one publish per interval). Default 5 ms.
    pub coalesce: Duration,
    /// A full re-dump every this often repairs anything a lost notification
    /// left wrong. Default 60 s.
    pub resync_interval: Duration,
    /// Capacity of the resolve queue between the workers and the monitor;
    /// requests beyond it are dropped ([`ResolveOutcome::QueueFull`]).
    /// Default 256.
    pub resolve_queue: usize,
    /// A next hop is asked for at most once per this interval, both by
    /// [`NeighborResolver::request`] and by the monitor. Default 1 s (the
    /// kernel's own ARP/NDP retransmit time).
    pub resolve_interval: Duration,
}

impl Default for NeighborMonitorOptions {
    fn default() -> Self {
        NeighborMonitorOptions {
            coalesce: Duration::from_millis(5),
            resync_interval: Duration::from_secs(60),
            resolve_queue: 256,
            resolve_interval: Duration::from_secs(1),
        }
    }
}

/// One engine port as the monitor knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitoredPort {
    /// The engine's port.
    pub port: PortId,
    /// Its kernel interface.
    pub ifname: String,
    /// That interface's index, looked up once at start.
    pub ifindex: u32,
}

/// Mirrors the kernel's neighbour entries on the engine's ports into a
/// published [`NeighborTable`] (see the module documentation). Dropping it
/// stops the monitor thread; the last published table stays.
#[derive(Debug)]
pub struct NeighborMonitor {
    ports: Vec<MonitoredPort>,
    resolver: NeighborResolver,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl NeighborMonitor {
    /// [`start_with`](Self::start_with) with default options.
    pub fn start<S: AsRef<str>>(
        ports: &[(PortId, S)],
        table: Arc<Published<NeighborTable>>,
    ) -> Result<NeighborMonitor, Error> {
        Self::start_with(ports, table, NeighborMonitorOptions::default())
    }

    /// Looks up the ports' interfaces in the calling thread's network
    /// namespace, starts the monitor thread there, and returns once the
    /// first table (from a full dump) is published into `table`.
    pub fn start_with<S: AsRef<str>>(
        ports: &[(PortId, S)],
        table: Arc<Published<NeighborTable>>,
        options: NeighborMonitorOptions,
    ) -> Result<NeighborMonitor, Error> {
        let ports = lookup_ports(ports)?;
        let queue =
            Arc::new(
                ResolveQueue::new(options.resolve_queue).map_err(|source| Error::Io {
                    operation: "create the resolve queue's eventfd".to_string(),
                    source,
                })?,
            );
        let resolver = NeighborResolver::new(
            queue.clone(),
            options.resolve_interval,
            ports.iter().map(|p| p.port),
        );
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let task = MonitorTask {
            index: ports.iter().map(|p| (p.ifindex, p.port)).collect(),
            ports: ports.clone(),
            table,
            options,
            mirror: Mirror::default(),
            resolve_queue: queue,
            recent: HashMap::new(),
        };
        let thread = std::thread::Builder::new()
            .name("srv6d-neigh".to_string())
            .spawn(move || task.run_on_own_runtime(ready_tx, shutdown_rx))
            .map_err(|source| Error::Io {
                operation: "spawn the monitor thread".to_string(),
                source,
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(NeighborMonitor {
                ports,
                resolver,
                shutdown: Some(shutdown_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(Error::ThreadEnded)
            }
        }
    }

    /// The ports, with the interface indexes found at start.
    pub fn ports(&self) -> &[MonitoredPort] {
        &self.ports
    }

    /// A handle for the data path (clone one per worker).
    pub fn resolver(&self) -> NeighborResolver {
        self.resolver.clone()
    }

    /// Asks the kernel to resolve `next_hop` on `port`; returns at once (see
    /// [`NeighborResolver::request`]).
    pub fn resolve(&self, port: PortId, next_hop: IpAddr) -> ResolveOutcome {
        self.resolver.request(port, next_hop)
    }

    /// True while the monitor thread runs (it ends only when stopped, or if
    /// its netlink socket fails, which is logged).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the monitor thread and waits for it.
    pub fn stop(mut self) -> Result<(), Error> {
        self.shutdown_and_join()
    }

    fn shutdown_and_join(&mut self) -> Result<(), Error> {
        drop(self.shutdown.take());
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| Error::ThreadEnded),
            None => Ok(()),
        }
    }
}

impl Drop for NeighborMonitor {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown_and_join() {
            error!(error = %e, "stopping the neighbour monitor");
        }
    }
}

/// Validates the port list and looks up each interface's index.
fn lookup_ports<S: AsRef<str>>(ports: &[(PortId, S)]) -> Result<Vec<MonitoredPort>, Error> {
    let mut found: Vec<MonitoredPort> = Vec::with_capacity(ports.len());
    for (port, ifname) in ports {
        let (port, ifname) = (*port, ifname.as_ref());
        if let Some(other) = found.iter().find(|p| p.port == port) {
            return Err(Error::DuplicatePort {
                port,
                first: other.ifname.clone(),
                second: ifname.to_string(),
            });
        }
        if let Some(other) = found.iter().find(|p| p.ifname == ifname) {
            return Err(Error::DuplicateInterface {
                ifname: ifname.to_string(),
                first: other.port,
                second: port,
            });
        }
        let invalid = || Error::InvalidInterfaceName {
            port,
            ifname: ifname.to_string(),
        };
        let bad_char = |c: char| c == '/' || c.is_whitespace();
        if ifname.is_empty() || ifname.len() > 15 || ifname.contains(bad_char) {
            return Err(invalid());
        }
        let name = CString::new(ifname).map_err(|_| invalid())?;
        // SAFETY: `name` is a valid NUL-terminated string for the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(Error::UnknownInterface {
                port,
                ifname: ifname.to_string(),
                source: io::Error::last_os_error(),
            });
        }
        found.push(MonitoredPort {
            port,
            ifname: ifname.to_string(),
            ifindex,
        });
    }
    Ok(found)
}

/// Kernel neighbour notifications as they come off the socket.
type Notifications =
    UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, netlink_sys::SocketAddr)>;

/// The monitor thread's state.
struct MonitorTask {
    ports: Vec<MonitoredPort>,
    index: PortIndex,
    table: Arc<Published<NeighborTable>>,
    options: NeighborMonitorOptions,
    mirror: Mirror,
    resolve_queue: Arc<ResolveQueue>,
    /// When the monitor last asked the kernel about a next hop.
    recent: HashMap<ResolveRequest, Instant>,
}

impl Drop for MonitorTask {
    fn drop(&mut self) {
        // Workers asking from now on hear `ResolveOutcome::Stopped`.
        self.resolve_queue.close();
    }
}

impl MonitorTask {
    fn run_on_own_runtime(
        self,
        ready: std::sync::mpsc::SyncSender<Result<(), Error>>,
        shutdown: oneshot::Receiver<()>,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build();
        match runtime {
            Ok(runtime) => runtime.block_on(self.run(ready, shutdown)),
            Err(source) => {
                let _ = ready.send(Err(Error::Io {
                    operation: "build the monitor's tokio runtime".to_string(),
                    source,
                }));
            }
        }
    }

    async fn run(
        mut self,
        ready: std::sync::mpsc::SyncSender<Result<(), Error>>,
        mut shutdown: oneshot::Receiver<()>,
    ) {
        // SAFETY: the queue owns its eventfd for its whole life (it is never
        // closed or replaced), and this Arc keeps the queue alive as long
        // as the AsyncFd.
        let registered = unsafe {
            AsyncFd::register_with_interest(
                self.resolve_queue.clone(),
                tokio::io::Interest::READABLE,
            )
        };
        let wake = match registered {
            Ok(fd) => fd,
            Err(e) => {
                let (_, source) = e.into_parts();
                let _ = ready.send(Err(Error::Io {
                    operation: "watch the resolve queue's eventfd".to_string(),
                    source,
                }));
                return;
            }
        };
        // Subscribe before dumping: every change racing the dump is then
        // also queued as a notification, and applying the queue in order
        // after the dump ends in the kernel's current state.
        let (handle, mut notifications) = match subscribe() {
            Ok(connected) => connected,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        match dump(&handle, &self.index).await {
            Ok(table) => {
                self.mirror.replace(table);
                self.publish();
            }
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        }
        info!(
            ports = self.ports.len(),
            entries = self.mirror.table().len(),
            "neighbour monitor started"
        );
        let _ = ready.send(Ok(()));

        let resync_every = self.options.resync_interval.max(Duration::from_millis(10));
        let mut resync = tokio::time::interval_at(Instant::now() + resync_every, resync_every);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut publish_at: Option<Instant> = None;
        loop {
            // Evaluated even when the branch is disabled, so never unwrap.
            let publish_deadline = publish_at.unwrap_or_else(|| Instant::now() + resync_every);
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = tokio::time::sleep_until(publish_deadline), if publish_at.is_some() => {
                    publish_at = None;
                    self.publish();
                }
                message = notifications.next() => match message {
                    Some((message, _)) => self.on_notification(&handle, message).await,
                    None => {
                        error!("neighbour monitor: the netlink socket closed; the neighbour table is no longer updated");
                        break;
                    }
                },
                guard = wake.readable() => {
                    if let Ok(mut guard) = guard {
                        guard.clear_ready();
                    }
                    self.resolve_queue.clear_wake();
                    while let Some(request) = self.resolve_queue.pop() {
                        self.resolve(&handle, request).await;
                    }
                }
                _ = resync.tick() => self.resync(&handle).await,
            }
            if self.mirror.is_dirty() && publish_at.is_none() {
                publish_at = Some(Instant::now() + self.options.coalesce);
            }
        }
        debug!("neighbour monitor stopped");
    }

    async fn on_notification(
        &mut self,
        handle: &Handle,
        message: NetlinkMessage<RouteNetlinkMessage>,
    ) {
        let (msg, deleted) = match message.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(msg)) => (msg, false),
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelNeighbour(msg)) => (msg, true),
            NetlinkPayload::Overrun(_) => {
                warn!(
                    "neighbour monitor: notifications were lost (socket buffer full); re-dumping"
                );
                self.resync(handle).await;
                return;
            }
            _ => return,
        };
        let change = change(&msg, deleted, &self.index);
        if self.mirror.apply(change) {
            trace!(?change, "neighbour changed");
        }
    }

    /// Re-reads the whole table; on failure keeps the current one.
    async fn resync(&mut self, handle: &Handle) {
        match dump(handle, &self.index).await {
            Ok(table) => {
                if self.mirror.replace(table) {
                    debug!("neighbour resync found differences");
                }
            }
            Err(e) => warn!(error = %e, "neighbour resync failed; keeping the current table"),
        }
    }

    /// Makes the kernel resolve a next hop (see the module documentation).
    async fn resolve(&mut self, handle: &Handle, request: ResolveRequest) {
        let (port, ip) = request;
        let Some(p) = self.ports.iter().find(|p| p.port == port) else {
            return;
        };
        if self.mirror.table().lookup(port, ip).is_some() {
            // Already known: the worker saw an older snapshot.
            return;
        }
        let now = Instant::now();
        let interval = self.options.resolve_interval;
        if self
            .recent
            .get(&request)
            .is_some_and(|&at| now.duration_since(at) < interval)
        {
            return;
        }
        if self.recent.len() >= RECENT_REQUESTS_PRUNE {
            self.recent
                .retain(|_, at| now.duration_since(*at) < interval);
        }
        self.recent.insert(request, now);
        let result = handle
            .neighbours()
            .add(p.ifindex, ip)
            .state(NeighbourState::None)
            .flags(vec![NeighbourFlag::Use])
            .replace()
            .execute()
            .await;
        match result {
            Ok(()) => trace!(%ip, ifname = %p.ifname, "asked the kernel to resolve"),
            Err(source) => {
                let e = Error::Netlink {
                    operation: format!("ask the kernel to resolve {ip} on `{}`", p.ifname),
                    source: Box::new(source),
                };
                // Per request, and the engine counts the drops: not a warning.
                debug!(error = %e);
            }
        }
    }

    fn publish(&mut self) {
        let table = self.mirror.take_snapshot();
        trace!(entries = table.len(), "publishing the neighbour table");
        self.table.store(Arc::new(table));
    }
}

/// Opens a netlink route socket subscribed to neighbour notifications and
/// runs its connection on the current runtime.
fn subscribe() -> Result<(Handle, Notifications), Error> {
    let (mut connection, handle, notifications) =
        rtnetlink::new_connection().map_err(|source| Error::Io {
            operation: "open a netlink route socket".to_string(),
            source,
        })?;
    let socket = connection.socket_mut().socket_mut();
    socket
        .add_membership(libc::RTNLGRP_NEIGH)
        .map_err(|source| Error::Io {
            operation: "subscribe to neighbour notifications (RTNLGRP_NEIGH)".to_string(),
            source,
        })?;
    if let Err(e) = socket.set_rx_buf_sz(NOTIFICATION_RCVBUF) {
        // Not fatal: overruns are detected and repaired by a re-dump.
        warn!(error = %e, "neighbour monitor: cannot enlarge the netlink receive buffer");
    }
    tokio::spawn(connection);
    Ok((handle, notifications))
}

/// Dumps the kernel's IPv4 and IPv6 neighbour tables, keeping the usable
/// entries on the ports.
async fn dump(handle: &Handle, index: &PortIndex) -> Result<NeighborTable, Error> {
    let mut table = NeighborTable::new();
    for (version, family) in [(IpVersion::V4, "IPv4"), (IpVersion::V6, "IPv6")] {
        let failed = |source| Error::Netlink {
            operation: format!("dump the kernel's {family} neighbour table"),
            source: Box::new(source),
        };
        let mut replies = Box::pin(handle.neighbours().get().set_family(version).execute());
        while let Some(msg) = replies.try_next().await.map_err(failed)? {
            if let entries::Change::Set { port, ip, mac } = change(&msg, false, index) {
                table.insert(port, ip, mac);
            }
        }
    }
    Ok(table)
}
