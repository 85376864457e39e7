//! One reply budget per source address (an IPv6 source's /64), shared by every thread that
//! reflects: a fixed table of lock-free GCRA cells (the "virtual
//! scheduling" form of a token bucket), one `AtomicU64` each.
//!
//! Why shared: the AF_XDP engine reflects on every worker, and a source
//! whose packets spread over several rx queues got one budget per worker
//! (a limit of 100/s gave 226 replies a second to one source on two
//! workers). Why GCRA: its whole state is one number, the theoretical
//! arrival time (TAT) of the next packet, so a compare-and-swap updates it
//! without a lock; workers contend only when their sources share a cell.
//!
//! A cell admits a packet at `now` when `TAT - now <= tolerance`, where the
//! emission interval is `1 s / per_second` and the tolerance
//! `(burst - 1) * interval`: exactly `burst` packets at once, `per_second`
//! on average (ITU-T I.371's algorithm; the same as a bucket of `burst`
//! tokens refilled at `per_second`).
//!
//! Sources are hashed with a per-table random key (std's SipHash), so a
//! sender cannot pick addresses that share a legitimate source's cell;
//! sources whose hashes collide share a budget (the limit errs towards
//! fewer replies, never more).

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Cells of a [`SourceLimiter`] (a power of two).
pub const SLOTS: usize = 4096;

/// The most replies per second per source a reflector answers when its
/// configuration says nothing (on by default; RFC 8762 §6 asks a reflector
/// not to become a tool of attacks). A STAMP session sends a few to a few
/// hundred packets a second; a thousand leaves room for several sessions
/// from one sender address.
pub const DEFAULT_PER_SECOND: u32 = 1000;

const NS_PER_S: u64 = 1_000_000_000;

/// A shared per-source rate limiter (see the module documentation).
#[derive(Debug)]
pub struct SourceLimiter {
    interval_ns: u64,
    tolerance_ns: u64,
    hasher: RandomState,
    /// TAT per cell in Unix nanoseconds; 0: never used.
    cells: Box<[AtomicU64]>,
}

impl SourceLimiter {
    /// A limiter of `per_second` replies per source on average and `burst`
    /// at once (both at least 1; 0 is taken as 1).
    pub fn new(per_second: u32, burst: u32) -> SourceLimiter {
        let interval_ns = (NS_PER_S / u64::from(per_second.max(1))).max(1);
        SourceLimiter {
            interval_ns,
            tolerance_ns: interval_ns.saturating_mul(u64::from(burst.max(1)) - 1),
            hasher: RandomState::new(),
            cells: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Takes one reply from `src`'s budget at `now_ns` (Unix nanoseconds);
    /// false if the budget is spent. Lock-free, no allocation.
    ///
    /// A clock that went back by more than a second beyond the cell's whole
    /// span (an NTP step) restarts the cell rather than silence the source
    /// until the clock catches up; smaller steps back earn nothing.
    pub fn admit(&self, src: IpAddr, now_ns: i64) -> bool {
        let now = u64::try_from(now_ns).unwrap_or(0).max(1);
        let cell = &self.cells[self.slot(src)];
        let span = self
            .tolerance_ns
            .saturating_add(self.interval_ns)
            .saturating_add(NS_PER_S);
        let mut tat = cell.load(Ordering::Relaxed);
        loop {
            let start = if tat == 0 || tat.saturating_sub(now) > span {
                now
            } else {
                tat.max(now)
            };
            if start - now > self.tolerance_ns {
                return false;
            }
            let next = start.saturating_add(self.interval_ns);
            match cell.compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(seen) => tat = seen,
            }
        }
    }

    /// Forgets every source's history.
    pub fn clear(&self) {
        for c in self.cells.iter() {
            c.store(0, Ordering::Relaxed);
        }
    }

    fn slot(&self, src: IpAddr) -> usize {
        // IPv4 and its IPv4-mapped IPv6 form are one source; an IPv6 source
        // is its /64 (one link's hosts, and the addresses a single host can
        // pick from: spoofing many addresses of a victim's /64 must not
        // give each a budget of its own).
        let bits: u128 = match src {
            IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
            IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => u128::from(a),
            IpAddr::V6(a) => u128::from(a) & !u128::from(u64::MAX),
        };
        (self.hasher.hash_one(bits) as usize) & (SLOTS - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;

    const T: i64 = 1_700_000_000 * 1_000_000_000;
    const S: i64 = 1_000_000_000;

    fn a() -> IpAddr {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))
    }

    #[test]
    fn burst_then_interval() {
        let l = SourceLimiter::new(2, 3);
        assert_eq!((0..5).filter(|_| l.admit(a(), T)).count(), 3);
        assert!(!l.admit(a(), T + 499_999_999));
        assert!(l.admit(a(), T + S / 2));
        assert!(!l.admit(a(), T + S / 2));
        // A long pause gives the burst back, no more.
        assert_eq!((0..5).filter(|_| l.admit(a(), T + 60 * S)).count(), 3);
    }

    #[test]
    fn clock_steps_back_restart_the_cell() {
        let l = SourceLimiter::new(1, 1);
        assert!(l.admit(a(), T + 3600 * S));
        assert!(!l.admit(a(), T + 3600 * S));
        // An hour back: not silenced for an hour.
        assert!(l.admit(a(), T));
        assert!(!l.admit(a(), T));
        // A small step back within the span earns nothing.
        assert!(!l.admit(a(), T - S / 2));
    }

    #[test]
    fn v4_and_mapped_are_one_source() {
        let l = SourceLimiter::new(1, 1);
        let v4 = Ipv4Addr::new(192, 0, 2, 1);
        assert!(l.admit(IpAddr::V4(v4), T));
        assert!(!l.admit(IpAddr::V6(v4.to_ipv6_mapped()), T));
    }

    #[test]
    fn an_ipv6_source_is_its_slash_64() {
        let l = SourceLimiter::new(1, 2);
        let host = |i: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, i));
        assert!(l.admit(host(1), T));
        assert!(l.admit(host(0xffff), T));
        assert!(
            !l.admit(host(7), T),
            "a third address of the /64 shares the burst"
        );
        let other = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
        assert!(l.admit(other, T), "the next /64 has its own");
        // IPv4-mapped sources are not lumped into ::ffff:0:0/64.
        let a4 = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        let b4 = IpAddr::V6(Ipv4Addr::new(198, 51, 100, 1).to_ipv6_mapped());
        assert!(l.admit(a4, T) && l.admit(a4, T) && !l.admit(a4, T));
        assert!(l.admit(b4, T));
    }

    #[test]
    fn threads_share_one_budget() {
        // Four threads offering 1000 packets each at the same instant get
        // exactly the burst between them.
        let l = Arc::new(SourceLimiter::new(10, 50));
        let admitted: usize = (0..4)
            .map(|_| {
                let l = Arc::clone(&l);
                std::thread::spawn(move || (0..1000).filter(|_| l.admit(a(), T)).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(admitted, 50);
    }

    #[test]
    fn sustained_rate_over_ten_seconds() {
        // 100/s offered every millisecond for 10 s: about 100 a second.
        let l = SourceLimiter::new(100, 10);
        let n = (0..10_000)
            .filter(|i| l.admit(a(), T + i * 1_000_000))
            .count();
        assert!((1000..=1011).contains(&n), "{n}");
    }
}
