//! Publication of immutable snapshots from the control plane to the workers.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

/// A snapshot held by a reader: derefs to `Arc<T>`. Hold it for one batch,
/// then drop it; holding many at once falls back to a slower path.
pub type Snapshot<T> = arc_swap::Guard<Arc<T>>;

/// The current version of an immutable value (a FIB, a SID table), replaced
/// as a whole by a writer and read lock-free by any number of workers.
///
/// Readers call [`load`](Self::load) once per batch and see either the old or
/// the new snapshot, never a mix. The old snapshot is freed when its last
/// reader drops it.
pub struct Published<T> {
    current: ArcSwap<T>,
}

impl<T> Published<T> {
    /// Publishes `initial`.
    pub fn new(initial: T) -> Self {
        Self::from_arc(Arc::new(initial))
    }

    /// Publishes an already shared `initial`.
    pub fn from_arc(initial: Arc<T>) -> Self {
        Self {
            current: ArcSwap::new(initial),
        }
    }

    /// The current snapshot: lock-free and allocation-free, meant for once
    /// per batch.
    #[inline]
    pub fn load(&self) -> Snapshot<T> {
        self.current.load()
    }

    /// The current snapshot as an owned `Arc` (for long-lived holders such as
    /// the control plane; slower than [`load`](Self::load)).
    pub fn load_full(&self) -> Arc<T> {
        self.current.load_full()
    }

    /// Replaces the snapshot; readers pick it up at their next `load`.
    pub fn store(&self, next: Arc<T>) {
        self.current.store(next);
    }

    /// Replaces the snapshot and returns the previous one.
    pub fn swap(&self, next: Arc<T>) -> Arc<T> {
        self.current.swap(next)
    }
}

impl<T: Default> Default for Published<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Published<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Published").field(&**self.load()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::{Lpm4, Lpm4Builder};
    use std::net::Ipv4Addr;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::thread;

    const PREFIXES: u32 = 256;

    /// A table of `PREFIXES` /24s (plus a default route) all carrying `gen`.
    fn generation(gen: u64) -> Lpm4<u64> {
        let mut b = Lpm4Builder::new();
        b.insert(Ipv4Addr::UNSPECIFIED, 0, gen).unwrap();
        for i in 0..PREFIXES {
            b.insert(Ipv4Addr::from(0x0a00_0000 | (i << 8)), 24, gen)
                .unwrap();
        }
        b.into_lpm()
    }

    #[test]
    fn readers_always_see_one_whole_snapshot() {
        const GENERATIONS: u64 = 300;
        let published = Published::new(generation(0));
        let done = AtomicBool::new(false);
        let reads = AtomicU64::new(0);
        thread::scope(|s| {
            for r in 0..3u32 {
                let (published, done, reads) = (&published, &done, &reads);
                s.spawn(move || {
                    let mut last = 0;
                    let mut n = 0u64;
                    while !done.load(Ordering::Acquire) {
                        let snap = published.load();
                        let gen = *snap.lookup(Ipv4Addr::new(192, 0, 2, 1)).unwrap();
                        assert!(gen >= last, "reader {r} went back from {last} to {gen}");
                        assert_eq!(snap.len(), PREFIXES as usize + 1);
                        for (_, _, v) in snap.iter() {
                            assert_eq!(*v, gen, "reader {r}: mixed snapshot");
                        }
                        let probe = Ipv4Addr::from(0x0a00_0001 | ((n as u32 % PREFIXES) << 8));
                        assert_eq!(snap.lookup_with_len(probe), Some((&gen, 24)));
                        last = gen;
                        n += 1;
                    }
                    reads.fetch_add(n, Ordering::Relaxed);
                });
            }
            for gen in 1..=GENERATIONS {
                published.store(Arc::new(generation(gen)));
            }
            done.store(true, Ordering::Release);
        });
        assert_eq!(
            *published.load().lookup(Ipv4Addr::new(10, 0, 0, 1)).unwrap(),
            GENERATIONS
        );
        assert!(reads.load(Ordering::Relaxed) > 0);
        let old = published.swap(Arc::new(generation(0)));
        assert_eq!(*old.lookup(Ipv4Addr::new(1, 1, 1, 1)).unwrap(), GENERATIONS);
        assert_eq!(*published.load_full().lookup(0u32).unwrap(), 0);
    }
}
