//! Publication of immutable snapshots from the control plane to the workers.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

/// A snapshot held by a reader: derefs to `Arc<T>`. Hold it for one batch,
/// then drop it; holding many at once falls back to a slower path.
pub type Snapshot<T> = arc_swap::Guard<Arc<T>>;

/// The current version of an immutable value (a FIB, a SID table), replaced
/// as a whole by a writer and read lock-free by any number of workers.
///
/// Readers call [`load`](Self::load) once per batch and see either the old or
/// the new snapshot, never a mix.
///
/// A replaced snapshot is never freed by a reader: [`store`](Self::store)
/// keeps it until no reader holds it any more and frees it on the writer's
/// (control-plane) thread at a later `store` or [`reap`](Self::reap).
/// Otherwise the worker dropping the last reference would run a large
/// table's destructor — `free`, allocator locks, `munmap` — inside its
/// packet loop.
pub struct Published<T> {
    current: ArcSwap<T>,
    /// Replaced snapshots readers may still hold. Touched only by writers.
    retired: Mutex<Vec<Arc<T>>>,
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
            retired: Mutex::new(Vec::new()),
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

    /// Replaces the snapshot; readers pick it up at their next `load`. The
    /// old one is retired (see the type's documentation), and retired
    /// snapshots no reader holds any more are freed here.
    pub fn store(&self, next: Arc<T>) {
        let old = self.current.swap(next);
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        retired.push(old);
        retired.retain(|snapshot| Arc::strong_count(snapshot) > 1);
    }

    /// Frees the retired snapshots no reader holds any more; returns how many
    /// are still held. For a control plane that stores rarely and wants the
    /// memory back sooner.
    pub fn reap(&self) -> usize {
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        retired.retain(|snapshot| Arc::strong_count(snapshot) > 1);
        retired.len()
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

    /// Counts drops, to see on which thread a snapshot is freed.
    struct DropProbe(Arc<AtomicU64>);

    impl Drop for DropProbe {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_reader_never_frees_a_replaced_snapshot() {
        let dropped = Arc::new(AtomicU64::new(0));
        let published = Published::new(DropProbe(dropped.clone()));
        let guard = published.load();
        published.store(Arc::new(DropProbe(dropped.clone())));
        // The reader lets go of the old snapshot: it must not be freed now,
        // on the reader's side...
        drop(guard);
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        // ... but by the writer, at its next store or reap.
        assert_eq!(published.reap(), 0);
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        let held = published.load_full();
        published.store(Arc::new(DropProbe(dropped.clone())));
        assert_eq!(published.reap(), 1, "still held by a reader");
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        drop(held);
        assert_eq!(published.reap(), 0);
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
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
        // Nobody reads any more: every retired snapshot is freed here, by
        // the writer.
        assert_eq!(published.reap(), 0);
        let old = published.swap(Arc::new(generation(0)));
        assert_eq!(*old.lookup(Ipv4Addr::new(1, 1, 1, 1)).unwrap(), GENERATIONS);
        assert_eq!(*published.load_full().lookup(0u32).unwrap(), 0);
    }
}
