//! FIB micro-benchmarks: LPM lookup in large random tables (1 M IPv4 prefixes,
//! 200 k IPv6 prefixes), the local SID table and snapshot loading; prints
//! build time and memory, including what small VRFs cost.
//!
//! `cargo bench -p dataplane --bench fib` (about a minute and a half).
//! Lookups walk a 1 Mi-address array in order, so successive batches do not
//! reuse each other's cache lines; most addresses fall inside an inserted
//! prefix. Criterion's "thrpt" is lookups per second; ns per lookup is
//! `time / 4096`.
//!
//! `lookup` rows hand each result to `black_box` without acting on it;
//! `lookup_v4`/`lookup_v6` copy the `RouteAction` out; `_batch` rows look up
//! 32 addresses per call. A caller that branches on every result before the
//! next lookup (as a packet loop does) loses the overlap between lookups'
//! cache misses and sees the batch API's advantage grow on large tables.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::fib::{
    Adjacency, LocalSidTableBuilder, Lpm, Lpm4Builder, Lpm6Builder, NextHop, PolicyId, PortId,
    Published, RouteAction, VrfTable, VrfTableBuilder,
};

const V4_PREFIXES: usize = 1_000_000;
const V6_PREFIXES: usize = 200_000;
const ADDRESSES: usize = 1 << 20;
const BATCH: usize = 4096;

/// Deterministic generator, same keys as the measurements in
/// docs/decisions/0001-lpm.md.
struct SplitMix64(u64);
impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    fn u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}
fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// IPv4 lengths like a real table: 60 % /24, 15 % /22-/23, 15 % /16-/21,
/// 2 % /8-/15, 8 % /25-/32.
fn v4_len(r: &mut SplitMix64) -> u8 {
    match r.below(100) {
        0..=59 => 24,
        60..=74 => 22 + r.below(2) as u8,
        75..=89 => 16 + r.below(6) as u8,
        90..=91 => 8 + r.below(8) as u8,
        _ => 25 + r.below(8) as u8,
    }
}

/// IPv6 lengths: 10 % /32, 20 % /33-/47, 30 % /48, 15 % /49-/63, 20 % /64,
/// 5 % /128.
fn v6_len(r: &mut SplitMix64) -> u8 {
    match r.below(100) {
        0..=9 => 32,
        10..=29 => 33 + r.below(15) as u8,
        30..=59 => 48,
        60..=74 => 49 + r.below(15) as u8,
        75..=94 => 64,
        _ => 128,
    }
}

fn v4_prefixes(n: usize, seed: u64) -> Vec<(u32, u8)> {
    let mut r = SplitMix64(seed);
    (0..n)
        .map(|_| {
            let l = v4_len(&mut r);
            (r.next_u64() as u32 & mask32(l), l)
        })
        .collect()
}

/// Random prefixes inside 2000::/3.
fn v6_prefixes(n: usize, seed: u64) -> Vec<(u128, u8)> {
    let mut r = SplitMix64(seed);
    (0..n)
        .map(|_| {
            let l = v6_len(&mut r);
            let a = (r.u128() >> 3) | (1u128 << 125);
            (a & mask128(l), l)
        })
        .collect()
}

/// 90 % inside a random inserted prefix, 10 % uniformly random.
fn v4_addrs(p: &[(u32, u8)], n: usize, seed: u64) -> Vec<Ipv4Addr> {
    let mut r = SplitMix64(seed);
    (0..n)
        .map(|_| {
            let x = r.next_u64() as u32;
            if r.below(10) == 0 {
                Ipv4Addr::from(x)
            } else {
                let (k, l) = p[r.below(p.len() as u64) as usize];
                Ipv4Addr::from(k | (x & !mask32(l)))
            }
        })
        .collect()
}

fn v6_addrs(p: &[(u128, u8)], n: usize, seed: u64) -> Vec<Ipv6Addr> {
    let mut r = SplitMix64(seed);
    (0..n)
        .map(|_| {
            let x = r.u128();
            if r.below(10) == 0 {
                Ipv6Addr::from((x >> 3) | (1u128 << 125))
            } else {
                let (k, l) = p[r.below(p.len() as u64) as usize];
                Ipv6Addr::from(k | (x & !mask128(l)))
            }
        })
        .collect()
}

/// One of 64 route actions, as a real FIB has few distinct adjacencies.
fn action(i: usize) -> RouteAction {
    let i = i % 64;
    match i % 8 {
        0 => RouteAction::Encap(PolicyId(i as u32)),
        7 => RouteAction::Blackhole,
        _ => RouteAction::Forward(Adjacency {
            port: PortId((i % 4) as u16),
            next_hop: if i % 2 == 0 {
                NextHop::V4(Ipv4Addr::new(192, 0, 2, i as u8))
            } else {
                NextHop::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, i as u16))
            },
        }),
    }
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn report_small_tables() {
    println!("memory of small tables (heap bytes; VRF = that many IPv4 and IPv6 routes):");
    let mut r = SplitMix64(99);
    for n in [0usize, 10, 100, 1_000, 10_000, 100_000] {
        let (mut b4, mut b6, mut vb) = (
            Lpm4Builder::new(),
            Lpm6Builder::new(),
            VrfTableBuilder::new(),
        );
        for i in 0..n {
            let (l4, l6) = (v4_len(&mut r), v6_len(&mut r));
            let (a4, a6) = (
                Ipv4Addr::from(r.next_u64() as u32),
                Ipv6Addr::from((r.u128() >> 3) | (1 << 125)),
            );
            b4.insert(a4, l4, i as u32).unwrap();
            b6.insert(a6, l6, i as u32).unwrap();
            vb.insert_v4(a4, l4, action(i)).unwrap();
            vb.insert_v6(a6, l6, action(i)).unwrap();
        }
        let (t4, t6, vrf) = (b4.build(), b6.build(), vb.build());
        println!(
            "  {n:>7} prefixes: Lpm4 {:>9} B (root 2^{:<2})  Lpm6 {:>9} B (root 2^{:<2})  VRF {:>9.3} MiB",
            t4.heap_bytes(),
            t4.root_bits(),
            t6.heap_bytes(),
            t6.root_bits(),
            mib(vrf.heap_bytes())
        );
    }
}

/// Builds a VRF with `routes` and an `Lpm` of the same prefixes whose
/// values are the prefixes' positions; prints the build times and sizes.
fn build_both<A: dataplane::fib::Address>(
    family: &str,
    routes: &[(A, u8)],
    insert: impl Fn(&mut VrfTableBuilder, A, u8, RouteAction),
) -> (VrfTable, Lpm<A, u32>) {
    let t0 = Instant::now();
    let mut vb = VrfTableBuilder::new();
    for (i, &(a, l)) in routes.iter().enumerate() {
        insert(&mut vb, a, l, action(i));
    }
    let t1 = Instant::now();
    let vrf = vb.build();
    let t2 = Instant::now();
    let mut lb = dataplane::fib::LpmBuilder::<A, u32>::new();
    for (i, &(a, l)) in routes.iter().enumerate() {
        lb.insert(a, l, i as u32).unwrap();
    }
    let t3 = Instant::now();
    let lpm = lb.build();
    let t4 = Instant::now();
    println!(
        "{family}: {} prefixes ({} distinct)\n  VrfTable: builder inserts {:.2} s, build {:.2} s, {:.1} MiB\n  Lpm<u32>: builder inserts {:.2} s, build {:.2} s, {:.1} MiB (root 2^{})",
        routes.len(),
        lpm.len(),
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        mib(vrf.heap_bytes()),
        (t3 - t2).as_secs_f64(),
        (t4 - t3).as_secs_f64(),
        mib(lpm.heap_bytes()),
        lpm.root_bits()
    );
    (vrf, lpm)
}

/// Times `lookup` one address at a time over consecutive batches of
/// `addrs`, wrapping around.
fn walk<A: Copy, R>(
    iters: u64,
    addrs: &[A],
    pos: &mut usize,
    mut lookup: impl FnMut(A) -> R,
) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        for &a in &addrs[*pos..*pos + BATCH] {
            black_box(lookup(a));
        }
        *pos = (*pos + BATCH) % addrs.len();
    }
    start.elapsed()
}

/// Times a batch lookup, 32 addresses per call.
fn walk_batch<A: Copy, R: Copy>(
    iters: u64,
    addrs: &[A],
    pos: &mut usize,
    empty: R,
    mut lookup: impl FnMut(&[A], &mut [R]),
) -> Duration {
    let mut out = [empty; 32];
    let start = Instant::now();
    for _ in 0..iters {
        for chunk in addrs[*pos..*pos + BATCH].chunks(32) {
            lookup(chunk, &mut out);
            black_box(&out);
        }
        *pos = (*pos + BATCH) % addrs.len();
    }
    start.elapsed()
}

fn lookups(c: &mut Criterion) {
    report_small_tables();

    let p4: Vec<(Ipv4Addr, u8)> = v4_prefixes(V4_PREFIXES, 1)
        .into_iter()
        .map(|(k, l)| (Ipv4Addr::from(k), l))
        .collect();
    let a4 = v4_addrs(&v4_prefixes(V4_PREFIXES, 1), ADDRESSES, 2);
    let (vrf4, lpm4) = build_both("IPv4", &p4, |b, a, l, x| {
        b.insert_v4(a, l, x).unwrap();
    });
    let p6: Vec<(Ipv6Addr, u8)> = v6_prefixes(V6_PREFIXES, 3)
        .into_iter()
        .map(|(k, l)| (Ipv6Addr::from(k), l))
        .collect();
    let a6 = v6_addrs(&v6_prefixes(V6_PREFIXES, 3), ADDRESSES, 4);
    let (vrf6, lpm6) = build_both("IPv6", &p6, |b, a, l, x| {
        b.insert_v6(a, l, x).unwrap();
    });
    for (family, hits) in [
        (
            "IPv4",
            a4.iter().filter(|&&a| vrf4.lookup_v4(a).is_some()).count(),
        ),
        (
            "IPv6",
            a6.iter().filter(|&&a| vrf6.lookup_v6(a).is_some()).count(),
        ),
    ] {
        println!(
            "{family}: {:.1} % of the lookup addresses hit a route",
            100.0 * hits as f64 / ADDRESSES as f64
        );
    }

    let mut g = c.benchmark_group("fib");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut pos = 0;
    g.bench_function("lpm4_1M/lookup", |b| {
        b.iter_custom(|iters| walk(iters, &a4, &mut pos, |a| lpm4.lookup(a)))
    });
    g.bench_function("lpm4_1M/lookup_batch", |b| {
        b.iter_custom(|iters| {
            walk_batch(iters, &a4, &mut pos, None, |a, o| lpm4.lookup_batch(a, o))
        })
    });
    g.bench_function("vrf_v4_1M/lookup_v4", |b| {
        b.iter_custom(|iters| walk(iters, &a4, &mut pos, |a| vrf4.lookup_v4(a)))
    });
    g.bench_function("vrf_v4_1M/lookup_v4_batch", |b| {
        b.iter_custom(|iters| {
            walk_batch(iters, &a4, &mut pos, None, |a, o| {
                vrf4.lookup_v4_batch(a, o)
            })
        })
    });
    g.bench_function("lpm6_200k/lookup", |b| {
        b.iter_custom(|iters| walk(iters, &a6, &mut pos, |a| lpm6.lookup(a)))
    });
    g.bench_function("lpm6_200k/lookup_batch", |b| {
        b.iter_custom(|iters| {
            walk_batch(iters, &a6, &mut pos, None, |a, o| lpm6.lookup_batch(a, o))
        })
    });
    g.bench_function("vrf_v6_200k/lookup_v6", |b| {
        b.iter_custom(|iters| walk(iters, &a6, &mut pos, |a| vrf6.lookup_v6(a)))
    });
    g.bench_function("vrf_v6_200k/lookup_v6_batch", |b| {
        b.iter_custom(|iters| {
            walk_batch(iters, &a6, &mut pos, None, |a, o| {
                vrf6.lookup_v6_batch(a, o)
            })
        })
    });
    drop((lpm4, lpm6, vrf6));

    // A typical edge VRF: 1 000 routes, hot in cache.
    let mut sb = VrfTableBuilder::new();
    for (i, &(a, l)) in p4[..1000].iter().enumerate() {
        sb.insert_v4(a, l, action(i)).unwrap();
    }
    let small = sb.build();
    let small_addrs = v4_addrs(&v4_prefixes(1000, 1), ADDRESSES, 5);
    g.bench_function("vrf_v4_1k/lookup_v4", |b| {
        b.iter_custom(|iters| walk(iters, &small_addrs, &mut pos, |a| small.lookup_v4(a)))
    });

    // Local SIDs: 4 096 exact SIDs under 16 locators plus the 16 locator
    // prefixes; a third of the probes hit an exact SID, a third a locator
    // only, a third nothing.
    let mut r = SplitMix64(7);
    let locators: Vec<u128> = (0..16).map(|_| r.u128() & mask128(48)).collect();
    let mut sb = LocalSidTableBuilder::new();
    for (i, &l) in locators.iter().enumerate() {
        sb.add_prefix(Ipv6Addr::from(l), 48, action(i)).unwrap();
    }
    let mut sids = Vec::new();
    while sids.len() < 4096 {
        let sid = locators[r.below(16) as usize] | u128::from(r.next_u64() as u16);
        if sb.add_sid(Ipv6Addr::from(sid), action(sids.len())).is_ok() {
            sids.push(sid);
        }
    }
    let st = sb.build();
    let probes: Vec<Ipv6Addr> = (0..ADDRESSES)
        .map(|i| {
            Ipv6Addr::from(match i % 3 {
                0 => sids[r.below(sids.len() as u64) as usize],
                1 => locators[r.below(16) as usize] | (u128::from(r.next_u64()) << 20),
                _ => r.u128(),
            })
        })
        .collect();
    g.bench_function("local_sid_4k/lookup", |b| {
        b.iter_custom(|iters| walk(iters, &probes, &mut pos, |a| st.lookup(&a).map(|(v, _)| *v)))
    });
    g.finish();

    // Snapshot load, once per batch on the workers.
    let published = Published::from_arc(Arc::new(vrf4));
    c.bench_function("published_load", |b| {
        b.iter(|| black_box(published.load().len()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = lookups
}
criterion_main!(benches);
