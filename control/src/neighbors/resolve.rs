//! The data path's side of next-hop resolution: a cheap, non-blocking
//! request to the monitor thread, with duplicates suppressed.
//!
//! The queue between the workers and the monitor is preallocated and
//! lock-free (crossbeam's `ArrayQueue`); the monitor is woken through an
//! eventfd, whose `write` is one non-blocking syscall. So a worker that
//! meets a new next hop never allocates, never takes a lock and never
//! waits.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::queue::ArrayQueue;
use dataplane::fib::PortId;

use super::entries::is_unicast;

/// Slots of the duplicate filter (a power of two).
const FILTER_SLOTS: usize = 1024;

/// One request: make the kernel resolve `ip` on `port`.
pub(crate) type ResolveRequest = (PortId, IpAddr);

/// The bounded queue of requests from the workers to the monitor, and the
/// eventfd that wakes the monitor.
pub(crate) struct ResolveQueue {
    queue: ArrayQueue<ResolveRequest>,
    wake: OwnedFd,
    closed: AtomicBool,
}

impl ResolveQueue {
    /// A queue of `capacity` requests (at least 1).
    pub(crate) fn new(capacity: usize) -> io::Result<ResolveQueue> {
        // SAFETY: eventfd(2) with valid flags; the fd is owned below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ResolveQueue {
            queue: ArrayQueue::new(capacity.max(1)),
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            wake: unsafe { OwnedFd::from_raw_fd(fd) },
            closed: AtomicBool::new(false),
        })
    }

    /// Queues a request and wakes the monitor; gives the request back if
    /// the queue is full.
    fn push(&self, request: ResolveRequest) -> Result<(), ResolveRequest> {
        self.queue.push(request)?;
        let one = 1u64;
        // SAFETY: an 8-octet write of a live u64 to our own eventfd. It
        // fails only if the counter would overflow (EAGAIN): the monitor is
        // then due to wake anyway.
        unsafe {
            libc::write(
                self.wake.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        Ok(())
    }

    /// The next request, if any.
    pub(crate) fn pop(&self) -> Option<ResolveRequest> {
        self.queue.pop()
    }

    /// Resets the wake-up counter (after the monitor was woken).
    pub(crate) fn clear_wake(&self) {
        let mut value = 0u64;
        // SAFETY: an 8-octet read into a live u64 from our own non-blocking
        // eventfd; EAGAIN (nothing pending) is fine.
        unsafe {
            libc::read(
                self.wake.as_raw_fd(),
                (&mut value as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    /// Marks the queue as no longer served (the monitor has stopped).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn capacity(&self) -> usize {
        self.queue.capacity()
    }
}

impl AsRawFd for ResolveQueue {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.wake.as_raw_fd()
    }
}

impl AsFd for ResolveQueue {
    /// The eventfd that becomes readable when requests were queued.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }
}

/// What became of one [`NeighborResolver::request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveOutcome {
    /// Handed to the monitor thread.
    Queued,
    /// The same next hop was requested less than the suppression interval
    /// ago (or another worker is requesting it right now): nothing to do.
    Suppressed,
    /// The monitor's queue is full; the request is dropped, and the next
    /// packet to that next hop will ask again.
    QueueFull,
    /// `port` is not one of the monitor's ports.
    UnknownPort,
    /// Not a unicast address (unspecified, loopback, multicast, broadcast):
    /// there is nothing to resolve.
    NotUnicast,
    /// The monitor has stopped.
    Stopped,
}

/// A handle the data path uses to ask for unresolved next hops; clone one
/// per worker. [`request`](Self::request) never waits, never allocates and
/// takes no lock: a duplicate check on a fixed array of atomics, a push on
/// a preallocated lock-free queue, and an eventfd write that wakes the
/// monitor (at most once per next hop per suppression interval).
///
/// Until the kernel has learnt the neighbour and the monitor has published
/// it, the engine drops packets to that next hop with reason
/// `neighbor_unresolved` (and calls `request` again, which is suppressed).
#[derive(Clone)]
pub struct NeighborResolver {
    shared: Arc<Shared>,
}

struct Shared {
    queue: Arc<ResolveQueue>,
    /// Per slot: fingerprint of the last key (high 32 bits) and when it was
    /// requested, in ms since `epoch` (low 32 bits); 0 is empty.
    recent: Box<[AtomicU64]>,
    epoch: Instant,
    interval_ms: u32,
    /// The monitor's ports, sorted.
    ports: Box<[PortId]>,
}

impl NeighborResolver {
    pub(crate) fn new(
        queue: Arc<ResolveQueue>,
        interval: Duration,
        ports: impl IntoIterator<Item = PortId>,
    ) -> Self {
        let mut ports: Vec<PortId> = ports.into_iter().collect();
        ports.sort_unstable_by_key(|p| p.0);
        let interval_ms = u32::try_from(interval.as_millis()).unwrap_or(u32::MAX);
        NeighborResolver {
            shared: Arc::new(Shared {
                queue,
                recent: (0..FILTER_SLOTS).map(|_| AtomicU64::new(0)).collect(),
                epoch: Instant::now(),
                interval_ms,
                ports: ports.into_boxed_slice(),
            }),
        }
    }

    /// Asks the monitor to make the kernel resolve `next_hop` on `port`
    /// (see [`NeighborMonitor`](super::NeighborMonitor) for how). Returns at
    /// once.
    pub fn request(&self, port: PortId, next_hop: IpAddr) -> ResolveOutcome {
        let shared = &*self.shared;
        if shared.ports.binary_search_by_key(&port.0, |p| p.0).is_err() {
            return ResolveOutcome::UnknownPort;
        }
        if !is_unicast(next_hop) {
            return ResolveOutcome::NotUnicast;
        }
        if shared.queue.is_closed() {
            return ResolveOutcome::Stopped;
        }
        let hash = key_hash(port, next_hop);
        let slot = &shared.recent[hash as usize & (FILTER_SLOTS - 1)];
        let fingerprint = (hash >> 32) as u32 | 1;
        // Truncation is the point: a wrapping millisecond clock.
        let now = shared.epoch.elapsed().as_millis() as u32;
        let old = slot.load(Ordering::Relaxed);
        if (old >> 32) as u32 == fingerprint && now.wrapping_sub(old as u32) < shared.interval_ms {
            return ResolveOutcome::Suppressed;
        }
        let new = (u64::from(fingerprint) << 32) | u64::from(now);
        if slot
            .compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            // Another worker claimed the slot this instant, most likely for
            // the same next hop; if not, the next packet asks again.
            return ResolveOutcome::Suppressed;
        }
        match shared.queue.push((port, next_hop)) {
            Ok(()) => ResolveOutcome::Queued,
            Err(_) => {
                // Forget the claim so that the next packet may retry.
                let _ = slot.compare_exchange(new, old, Ordering::Relaxed, Ordering::Relaxed);
                ResolveOutcome::QueueFull
            }
        }
    }
}

impl fmt::Debug for NeighborResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NeighborResolver")
            .field("ports", &self.shared.ports)
            .field("interval_ms", &self.shared.interval_ms)
            .field("queue_capacity", &self.shared.queue.capacity())
            .finish_non_exhaustive()
    }
}

/// A well-mixed 64-bit hash of (port, address) (splitmix64's finaliser).
fn key_hash(port: PortId, ip: IpAddr) -> u64 {
    let bits: u128 = match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)) | (1 << 127),
        IpAddr::V6(a) => u128::from(a),
    };
    let mut x = (bits as u64) ^ ((bits >> 64) as u64).rotate_left(29) ^ (u64::from(port.0) << 48);
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    fn queue(capacity: usize) -> Arc<ResolveQueue> {
        Arc::new(ResolveQueue::new(capacity).unwrap())
    }

    /// The eventfd's counter (and resets it): how many wake-ups are pending.
    fn wakes(q: &ResolveQueue) -> u64 {
        let mut value = 0u64;
        // SAFETY: 8-octet read into a live u64 from the queue's eventfd.
        let n = unsafe { libc::read(q.as_fd().as_raw_fd(), (&mut value as *mut u64).cast(), 8) };
        if n == 8 {
            value
        } else {
            0
        }
    }

    #[test]
    fn duplicates_are_suppressed_distinct_keys_are_not() {
        let rx = queue(16);
        let r = NeighborResolver::new(
            rx.clone(),
            Duration::from_secs(3600),
            [PortId(0), PortId(1)],
        );
        assert_eq!(r.request(PortId(0), v4(2)), ResolveOutcome::Queued);
        for _ in 0..1000 {
            assert_eq!(r.request(PortId(0), v4(2)), ResolveOutcome::Suppressed);
        }
        assert_eq!(
            r.clone().request(PortId(1), v4(2)),
            ResolveOutcome::Queued,
            "other port"
        );
        assert_eq!(
            r.request(PortId(0), v4(3)),
            ResolveOutcome::Queued,
            "other address"
        );
        assert_eq!(wakes(&rx), 3, "one wake-up per queued request");
        assert_eq!(wakes(&rx), 0, "reading resets the counter");
        assert_eq!(rx.pop().unwrap(), (PortId(0), v4(2)));
        assert_eq!(rx.pop().unwrap(), (PortId(1), v4(2)));
        assert_eq!(rx.pop().unwrap(), (PortId(0), v4(3)));
        assert!(rx.pop().is_none());
    }

    #[test]
    fn zero_interval_suppresses_nothing() {
        let rx = queue(16);
        let r = NeighborResolver::new(rx.clone(), Duration::ZERO, [PortId(0)]);
        for _ in 0..3 {
            assert_eq!(r.request(PortId(0), v4(2)), ResolveOutcome::Queued);
        }
        for _ in 0..3 {
            assert!(rx.pop().is_some());
        }
        assert!(rx.pop().is_none());
    }

    #[test]
    fn full_queue_drops_and_allows_a_retry() {
        let rx = queue(1);
        let r = NeighborResolver::new(rx.clone(), Duration::from_secs(3600), [PortId(0)]);
        assert_eq!(r.request(PortId(0), v4(2)), ResolveOutcome::Queued);
        assert_eq!(r.request(PortId(0), v4(3)), ResolveOutcome::QueueFull);
        assert_eq!(
            r.request(PortId(0), v4(3)),
            ResolveOutcome::QueueFull,
            "not suppressed"
        );
        rx.pop().unwrap();
        assert_eq!(r.request(PortId(0), v4(3)), ResolveOutcome::Queued);
    }

    #[test]
    fn bad_requests_are_refused() {
        let rx = queue(4);
        let r = NeighborResolver::new(rx.clone(), Duration::from_secs(1), [PortId(3)]);
        assert_eq!(r.request(PortId(4), v4(2)), ResolveOutcome::UnknownPort);
        for ip in [
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V4(Ipv4Addr::BROADCAST),
            IpAddr::V4(Ipv4Addr::new(224, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)),
        ] {
            assert_eq!(r.request(PortId(3), ip), ResolveOutcome::NotUnicast, "{ip}");
        }
        rx.close();
        assert_eq!(r.request(PortId(3), v4(2)), ResolveOutcome::Stopped);
        assert!(rx.pop().is_none());
    }

    #[test]
    fn hash_separates_families_and_ports() {
        let a = key_hash(PortId(0), v4(1));
        assert_ne!(a, key_hash(PortId(1), v4(1)));
        assert_ne!(a, key_hash(PortId(0), "::a00:1".parse().unwrap()));
        assert_ne!(a, key_hash(PortId(0), v4(2)));
    }
}
