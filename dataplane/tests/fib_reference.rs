//! `dataplane::fib` against naive references: random IPv4 and IPv6 tables
//! (overlapping, deeply nested, every prefix length including /0, /32 and
//! /128, with and without a default route) looked up at random addresses and
//! at addresses derived from the prefixes (first, last, inside, one before,
//! one past the end), before and after removals; and the local SID table.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};

use dataplane::fib::{
    Address, Adjacency, FibError, LocalSidTableBuilder, Lpm, Lpm4Builder, Lpm6Builder, LpmBuilder,
    NextHop, PolicyId, PortId, RouteAction, VrfTableBuilder,
};
use proptest::prelude::*;

/// Deterministic generator so that failures reproduce.
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

/// An address family seen as `width`-bit integers held in a u128.
trait Family: Address {
    const W: u32;
    fn from_u128(x: u128) -> Self;
    fn to_u128(self) -> u128;
}
impl Family for Ipv4Addr {
    const W: u32 = 32;
    fn from_u128(x: u128) -> Self {
        Ipv4Addr::from(x as u32)
    }
    fn to_u128(self) -> u128 {
        u128::from(u32::from(self))
    }
}
impl Family for Ipv6Addr {
    const W: u32 = 128;
    fn from_u128(x: u128) -> Self {
        Ipv6Addr::from(x)
    }
    fn to_u128(self) -> u128 {
        u128::from(self)
    }
}

fn all<F: Family>() -> u128 {
    u128::MAX >> (128 - F::W)
}
fn mask<F: Family>(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        all::<F>() & (all::<F>() << (F::W - u32::from(len)))
    }
}

/// The obviously correct table: every prefix, scanned linearly.
struct Reference<F> {
    routes: BTreeMap<(u128, u8), u32>,
    _f: std::marker::PhantomData<F>,
}

impl<F: Family> Reference<F> {
    fn new() -> Self {
        Self {
            routes: BTreeMap::new(),
            _f: std::marker::PhantomData,
        }
    }
    fn insert(&mut self, key: u128, len: u8, v: u32) {
        self.routes.insert((key & mask::<F>(len), len), v);
    }
    /// Linear scan for the longest matching prefix.
    fn scan(&self, addr: u128) -> Option<(u32, u8)> {
        let mut best: Option<(u32, u8)> = None;
        for (&(k, l), &v) in &self.routes {
            if addr & mask::<F>(l) == k && best.is_none_or(|(_, bl)| l > bl) {
                best = Some((v, l));
            }
        }
        best
    }
    /// Same answer, one probe per length (for tables too large to scan).
    fn probe(&self, by_len: &HashMap<(u128, u8), u32>, addr: u128) -> Option<(u32, u8)> {
        (0..=F::W as u8)
            .rev()
            .find_map(|l| by_len.get(&(addr & mask::<F>(l), l)).map(|&v| (v, l)))
    }
}

/// Addresses to probe: random ones plus, for every prefix, its first and
/// last address, one before and one past, and a random address inside.
fn probes<F: Family>(r: &Reference<F>, rng: &mut SplitMix64, random: usize) -> Vec<u128> {
    let mut out: Vec<u128> = (0..random).map(|_| rng.u128() & all::<F>()).collect();
    for &(k, l) in r.routes.keys() {
        let last = k | (all::<F>() & !mask::<F>(l));
        out.extend([
            k,
            last,
            k.wrapping_sub(1) & all::<F>(),
            last.wrapping_add(1) & all::<F>(),
            k | (rng.u128() & all::<F>() & !mask::<F>(l)),
        ]);
    }
    out
}

/// Checks every lookup entry point of `t` against the reference.
fn check<F: Family>(t: &Lpm<F, u32>, r: &Reference<F>, addrs: &[u128], scan: bool, what: &str) {
    let by_len: HashMap<(u128, u8), u32> = r.routes.iter().map(|(&k, &v)| (k, v)).collect();
    for &a in addrs {
        let want = if scan { r.scan(a) } else { r.probe(&by_len, a) };
        let got = t.lookup_with_len(F::from_u128(a)).map(|(v, l)| (*v, l));
        assert_eq!(got, want, "{what}: lookup {}", F::from_u128(a));
        assert_eq!(t.lookup(F::from_u128(a)).copied(), want.map(|w| w.0));
    }
    // The batch API gives the same answers, whatever the batch size.
    let typed: Vec<F> = addrs.iter().map(|&a| F::from_u128(a)).collect();
    for size in [1, 7, 16, 64] {
        let mut out = vec![None; size];
        for chunk in typed.chunks(size) {
            t.lookup_batch(chunk, &mut out);
            for (a, o) in chunk.iter().zip(&out) {
                assert_eq!(*o, t.lookup(*a), "{what}: lookup_batch({size}) {a}");
            }
        }
    }
    assert_eq!(t.len(), r.routes.len(), "{what}: len");
    let listed: Vec<(u128, u8, u32)> = t.iter().map(|(a, l, v)| (a.to_u128(), l, *v)).collect();
    let expected: Vec<(u128, u8, u32)> = r.routes.iter().map(|(&(k, l), &v)| (k, l, v)).collect();
    assert_eq!(listed, expected, "{what}: iter");
    for (&(k, l), &v) in r.routes.iter().take(2000) {
        assert_eq!(t.exact(F::from_u128(k), l), Some(&v), "{what}: exact");
    }
}

#[derive(Clone, Copy, Debug)]
enum Shape {
    /// Lengths uniform over 0..=W, bits uniform.
    Uniform,
    /// Prefixes of a few random base addresses with bits flipped here and
    /// there: deep nesting, many siblings, long shared paths.
    Nested,
    /// Lengths concentrated at the two ends and around the root and node
    /// boundaries (0..2, 6..10, 20..26, W-2..=W).
    Edges,
}

fn random_len<F: Family>(rng: &mut SplitMix64, shape: Shape) -> u8 {
    let w = F::W as u64;
    match shape {
        Shape::Uniform | Shape::Nested => rng.below(w + 1) as u8,
        Shape::Edges => match rng.below(4) {
            0 => rng.below(3) as u8,
            1 => 6 + rng.below(5) as u8,
            2 => 20 + rng.below(7) as u8,
            _ => (w - rng.below(3)) as u8,
        },
    }
}

fn random_table<F: Family>(
    rng: &mut SplitMix64,
    n: usize,
    shape: Shape,
    default_route: bool,
) -> (LpmBuilder<F, u32>, Reference<F>) {
    let mut b = LpmBuilder::<F, u32>::new();
    let mut r = Reference::<F>::new();
    let bases: Vec<u128> = (0..4).map(|_| rng.u128() & all::<F>()).collect();
    let mut next = 1u32;
    let mut add = |key: u128, len: u8, b: &mut LpmBuilder<F, u32>, r: &mut Reference<F>| {
        // Host bits are left set on purpose: the builder must clear them.
        b.insert(F::from_u128(key), len, next).unwrap();
        r.insert(key, len, next);
        next += 1;
    };
    if default_route {
        add(rng.u128() & all::<F>(), 0, &mut b, &mut r);
    }
    for _ in 0..n {
        let len = random_len::<F>(rng, shape);
        let key = match shape {
            Shape::Uniform | Shape::Edges => rng.u128() & all::<F>(),
            Shape::Nested => {
                let mut k = bases[rng.below(bases.len() as u64) as usize];
                for _ in 0..rng.below(3) {
                    k ^= 1u128 << rng.below(u64::from(F::W));
                }
                k
            }
        };
        if !default_route && len == 0 {
            continue;
        }
        add(key, len, &mut b, &mut r);
    }
    (b, r)
}

/// Many small and medium random tables of each shape, with and without a
/// default route, every root size, then with half the prefixes removed.
fn random_tables<F: Family>(seed: u64, cases: usize, max_n: u64) {
    let mut rng = SplitMix64(seed);
    for case in 0..cases {
        let shape = [Shape::Uniform, Shape::Nested, Shape::Edges][case % 3];
        let default_route = case % 2 == 0;
        let n = rng.below(max_n) as usize + 1;
        let (mut b, mut r) = random_table::<F>(&mut rng, n, shape, default_route);
        let what = format!("case {case} {shape:?} n={n} default={default_route}");
        let addrs = probes(&r, &mut rng, 200);
        check(&b.build(), &r, &addrs, true, &what);
        for bits in [8, 14, 24] {
            check(
                &b.build_with_root_bits(bits),
                &r,
                &addrs,
                true,
                &format!("{what} root_bits={bits}"),
            );
        }

        // Remove about half the prefixes, then look up the same addresses
        // (including those of the removed prefixes) again.
        let keys: Vec<(u128, u8)> = r.routes.keys().copied().collect();
        for (k, l) in keys {
            if rng.below(2) == 0 {
                let v = r.routes.remove(&(k, l));
                assert_eq!(b.remove(F::from_u128(k), l).unwrap(), v);
            }
        }
        let t = b.build();
        check(&t, &r, &addrs, true, &format!("{what} after removal"));
        // Round trip through the frozen table's builder.
        check(
            &t.to_builder().into_lpm(),
            &r,
            &addrs,
            true,
            &format!("{what} to_builder"),
        );
    }
}

#[test]
fn ipv4_random_tables_match_linear_scan() {
    random_tables::<Ipv4Addr>(1, 60, 300);
}

#[test]
fn ipv6_random_tables_match_linear_scan() {
    random_tables::<Ipv6Addr>(2, 60, 300);
}

/// Tables large enough for big roots and many trie levels, checked with the
/// per-length reference (itself checked against the scan on a sample).
fn large_table<F: Family>(seed: u64, n: usize, shape: Shape) {
    let mut rng = SplitMix64(seed);
    for default_route in [false, true] {
        let (b, r) = random_table::<F>(&mut rng, n, shape, default_route);
        let addrs = probes(&r, &mut rng, 5_000);
        let by_len: HashMap<(u128, u8), u32> = r.routes.iter().map(|(&k, &v)| (k, v)).collect();
        for &a in addrs.iter().step_by(97) {
            assert_eq!(r.probe(&by_len, a), r.scan(a));
        }
        let what = format!("large {shape:?} n={n} default={default_route}");
        check(&b.build(), &r, &addrs, false, &what);
    }
}

#[test]
fn ipv4_large_tables_match_reference() {
    large_table::<Ipv4Addr>(3, 40_000, Shape::Uniform);
    large_table::<Ipv4Addr>(4, 40_000, Shape::Nested);
    large_table::<Ipv4Addr>(5, 20_000, Shape::Edges);
}

#[test]
fn ipv6_large_tables_match_reference() {
    large_table::<Ipv6Addr>(6, 20_000, Shape::Uniform);
    large_table::<Ipv6Addr>(7, 20_000, Shape::Nested);
    large_table::<Ipv6Addr>(8, 10_000, Shape::Edges);
}

/// One of 12 actions, some equal in all but one field.
fn action(i: u32) -> RouteAction {
    match i % 12 {
        0 => RouteAction::Local,
        1 => RouteAction::Blackhole,
        2..=4 => RouteAction::Encap(PolicyId(i % 12)),
        n => RouteAction::Forward(Adjacency {
            port: PortId((n % 2) as u16),
            next_hop: match n % 3 {
                0 => NextHop::Direct,
                1 => NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)),
                _ => NextHop::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
            },
        }),
    }
}

#[test]
fn vrf_tables_match_reference() {
    let mut rng = SplitMix64(10);
    for case in 0..20 {
        let n = rng.below(400) as usize + 1;
        let (b4, r4) = random_table::<Ipv4Addr>(&mut rng, n, Shape::Nested, case % 2 == 0);
        let (b6, r6) = random_table::<Ipv6Addr>(&mut rng, n, Shape::Uniform, case % 2 == 1);
        let mut vb = VrfTableBuilder::new();
        for (p, l, &v) in b4.iter() {
            assert_eq!(vb.insert_v4(p, l, action(v)), Ok(None));
        }
        for (p, l, &v) in b6.iter() {
            assert_eq!(vb.insert_v6(p, l, action(v)), Ok(None));
        }
        let t = vb.build();
        assert_eq!(t.len(), r4.routes.len() + r6.routes.len());
        let a4: Vec<Ipv4Addr> = probes(&r4, &mut rng, 300)
            .into_iter()
            .map(Ipv4Addr::from_u128)
            .collect();
        let a6: Vec<Ipv6Addr> = probes(&r6, &mut rng, 300)
            .into_iter()
            .map(Ipv6Addr::from_u128)
            .collect();
        let mut out4 = vec![None; a4.len()];
        let mut out6 = vec![None; a6.len()];
        t.lookup_v4_batch(&a4, &mut out4);
        t.lookup_v6_batch(&a6, &mut out6);
        for (a, o) in a4.iter().zip(&out4) {
            let want = r4.scan(a.to_u128()).map(|(v, _)| action(v));
            assert_eq!(t.lookup_v4(*a), want, "case {case}: {a}");
            assert_eq!(*o, want, "case {case}: batch {a}");
        }
        for (a, o) in a6.iter().zip(&out6) {
            let want = r6.scan(a.to_u128()).map(|(v, _)| action(v));
            assert_eq!(t.lookup_v6(*a), want, "case {case}: {a}");
            assert_eq!(*o, want, "case {case}: batch {a}");
        }
        let listed: Vec<_> = t.routes_v4().map(|(p, l, a)| (p.to_u128(), l, a)).collect();
        let expected: Vec<_> = r4
            .routes
            .iter()
            .map(|(&(k, l), &v)| (k, l, action(v)))
            .collect();
        assert_eq!(listed, expected);
        let listed: Vec<_> = t.routes_v6().map(|(p, l, a)| (p.to_u128(), l, a)).collect();
        let expected: Vec<_> = r6
            .routes
            .iter()
            .map(|(&(k, l), &v)| (k, l, action(v)))
            .collect();
        assert_eq!(listed, expected);
        let again = t.to_builder().build();
        assert!(a6.iter().all(|&a| again.lookup_v6(a) == t.lookup_v6(a)));
        assert!(a4.iter().all(|&a| again.lookup_v4(a) == t.lookup_v4(a)));
    }
}

#[test]
fn every_prefix_length_nested_on_one_path() {
    // 0/0, 1/1, ... up to the host route, all on the path of one address,
    // plus the sibling at each length: the deepest possible nesting.
    fn one<F: Family>(addr: u128) {
        let mut b = LpmBuilder::<F, u32>::new();
        let mut r = Reference::<F>::new();
        for len in 0..=F::W as u8 {
            b.insert(F::from_u128(addr), len, u32::from(len)).unwrap();
            r.insert(addr, len, u32::from(len));
            if len > 0 {
                let sibling = addr ^ (1u128 << (F::W - u32::from(len)));
                b.insert(F::from_u128(sibling), len, 1000 + u32::from(len))
                    .unwrap();
                r.insert(sibling, len, 1000 + u32::from(len));
            }
        }
        let mut rng = SplitMix64(addr as u64);
        let addrs = probes(&r, &mut rng, 100);
        check(&b.build(), &r, &addrs, true, "one path");
        for len in (0..=F::W as u8).step_by(3) {
            b.remove(F::from_u128(addr), len).unwrap();
            r.routes.remove(&(addr & mask::<F>(len), len));
        }
        check(
            &b.build(),
            &r,
            &addrs,
            true,
            "one path, every third removed",
        );
    }
    one::<Ipv4Addr>(0xc000_0201);
    one::<Ipv4Addr>(0);
    one::<Ipv4Addr>(u128::from(u32::MAX));
    one::<Ipv6Addr>(0x2001_0db8_0000_0000_0000_0000_0000_0001);
    one::<Ipv6Addr>(u128::MAX);
}

#[test]
fn builder_errors() {
    let mut b4 = Lpm4Builder::<u8>::new();
    assert_eq!(
        b4.insert(Ipv4Addr::new(192, 0, 2, 0), 33, 0),
        Err(FibError::PrefixLength {
            prefix: Ipv4Addr::new(192, 0, 2, 0).into(),
            len: 33,
            max: 32
        })
    );
    let mut b6 = Lpm6Builder::<u8>::new();
    assert!(matches!(
        b6.remove(Ipv6Addr::LOCALHOST, 129),
        Err(FibError::PrefixLength {
            len: 129,
            max: 128,
            ..
        })
    ));
    assert_eq!(b6.remove(Ipv6Addr::LOCALHOST, 128), Ok(None));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn ipv4_proptest(
        routes in prop::collection::vec((any::<u32>(), 0u8..=32, any::<u32>()), 0..60),
        addrs in prop::collection::vec(any::<u32>(), 0..40),
    ) {
        let mut b = Lpm4Builder::new();
        let mut r = Reference::<Ipv4Addr>::new();
        for &(k, l, v) in &routes {
            b.insert(Ipv4Addr::from(k), l, v).unwrap();
            r.insert(u128::from(k), l, v);
        }
        let t = b.build();
        let mut rng = SplitMix64(routes.len() as u64);
        let mut probe = probes(&r, &mut rng, 0);
        probe.extend(addrs.iter().map(|&a| u128::from(a)));
        check(&t, &r, &probe, true, "proptest v4");
    }

    #[test]
    fn ipv6_proptest(
        routes in prop::collection::vec((any::<u128>(), 0u8..=128, any::<u32>()), 0..60),
        addrs in prop::collection::vec(any::<u128>(), 0..40),
    ) {
        let mut b = Lpm6Builder::new();
        let mut r = Reference::<Ipv6Addr>::new();
        for &(k, l, v) in &routes {
            b.insert(Ipv6Addr::from(k), l, v).unwrap();
            r.insert(k, l, v);
        }
        let t = b.build();
        let mut rng = SplitMix64(routes.len() as u64);
        let mut probe = probes(&r, &mut rng, 0);
        probe.extend(addrs.iter().copied());
        check(&t, &r, &probe, true, "proptest v6");
    }
}

#[test]
fn local_sids_match_reference() {
    let mut rng = SplitMix64(9);
    let locators: Vec<u128> = (0..8).map(|_| rng.u128() & mask::<Ipv6Addr>(32)).collect();
    let mut b = LocalSidTableBuilder::new();
    let mut exact: HashMap<u128, u32> = HashMap::new();
    let mut prefixes = Reference::<Ipv6Addr>::new();
    let mut v = 0u32;
    let mut interesting = Vec::new();
    for _ in 0..3000 {
        let loc = locators[rng.below(8) as usize];
        v += 1;
        if rng.below(3) == 0 {
            // A SID prefix: a locator, or a SID with argument bits.
            let len = [32, 48, 64, 80, 96, 112][rng.below(6) as usize];
            let p = (loc | (rng.u128() & !mask::<Ipv6Addr>(32))) & mask::<Ipv6Addr>(len);
            match b.add_prefix(Ipv6Addr::from(p), len, v) {
                Ok(()) => prefixes.insert(p, len, v),
                Err(e) => {
                    assert_eq!(
                        e,
                        FibError::DuplicateSidPrefix {
                            prefix: Ipv6Addr::from(p),
                            len
                        }
                    );
                    assert!(prefixes.routes.contains_key(&(p, len)));
                }
            }
            interesting.push(p);
        } else {
            // An exact SID: locator plus a small function number, so SIDs
            // are dense and often inside a prefix.
            let sid = loc | (u128::from(rng.below(4)) << 80) | u128::from(rng.below(256));
            match b.add_sid(Ipv6Addr::from(sid), v) {
                Ok(()) => {
                    exact.insert(sid, v);
                }
                Err(e) => {
                    assert_eq!(
                        e,
                        FibError::DuplicateSid {
                            sid: Ipv6Addr::from(sid)
                        }
                    );
                    assert!(exact.contains_key(&sid));
                }
            }
            interesting.push(sid);
        }
    }
    let t = b.build();
    assert_eq!(t.len(), exact.len() + prefixes.routes.len());
    let mut addrs: Vec<u128> = interesting
        .iter()
        .flat_map(|&a| [a, a ^ 1, a.wrapping_add(256), a ^ (1 << 100)])
        .collect();
    addrs.extend((0..2000).map(|_| rng.u128()));
    let (mut hits_exact, mut hits_prefix, mut misses) = (0, 0, 0);
    for a in addrs {
        let want = match exact.get(&a) {
            Some(&v) => Some((v, 128)),
            None => prefixes.scan(a),
        };
        let got = t.lookup(&Ipv6Addr::from(a)).map(|(v, l)| (*v, l));
        assert_eq!(got, want, "SID lookup {}", Ipv6Addr::from(a));
        match want {
            Some((_, 128)) => hits_exact += 1,
            Some(_) => hits_prefix += 1,
            None => misses += 1,
        }
    }
    // The probe set exercised all three outcomes, including exact SIDs that
    // lie inside a SID prefix.
    assert!(hits_exact > 1000 && hits_prefix > 1000 && misses > 1000);
    assert!(exact.keys().any(|&s| prefixes.scan(s).is_some()));
}
