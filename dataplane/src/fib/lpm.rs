//! Longest-prefix-match tables: [`LpmBuilder`] (mutable, for the control
//! plane) and [`Lpm`] (frozen, for the data path).
//!
//! The frozen table is a poptrie-style compressed multibit trie
//! (Asai & Ohara, SIGCOMM 2015) with three additions, chosen and measured in
//! `docs/decisions/0001-lpm.md`:
//!
//! * a *direct-pointing* root array indexed by the top `root_bits` bits of the
//!   address, sized by the number of prefixes (8 bits = 1 KiB for a small
//!   table, up to 22 bits for IPv4 and 20 bits for IPv6);
//! * below it, 6-bit stride nodes of 24 bytes (`vector` marks slots that have
//!   a child node, `leafvec` marks the start of each run of equal leaves; the
//!   children and the leaves of a node are contiguous, so one `popcnt` finds
//!   either);
//! * *verified leaves*: a slot whose subtree holds only a short chain of nested
//!   prefixes gets no nodes at all. Its leaf names the deepest prefix of the
//!   chain; the lookup compares the address with that prefix and, on a
//!   mismatch, falls back to the prefix's parent (the longest prefix that
//!   contains it). With random or sparse long prefixes (IPv6, IPv4 /25–/32)
//!   this removes most of the trie depth.
//!
//! A leaf is an index into the table's entries, which are sorted by
//! (prefix, length); the entry carries the value, so a lookup ends with one
//! read of the entry it returns.
//!
//! What it is not: an incrementally updatable structure. A change is made on
//! an [`LpmBuilder`] and a new [`Lpm`] is built and published as a whole
//! (building 1 M IPv4 prefixes takes well under a second).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::FibError;

mod sealed {
    pub trait Sealed {}
}

/// An address as an unsigned integer, most significant bit first.
#[doc(hidden)]
pub trait KeyBits: Copy + Ord + Eq + fmt::Debug + sealed::Sealed {
    /// Width in bits (32 or 128).
    const WIDTH: u32;
    /// `n` bits (1..=24) starting `off` bits (< WIDTH) from the most
    /// significant one; bits past the end of the address read as zero.
    fn extract(self, off: u32, n: u32) -> usize;
    /// The first `len` bits, host bits cleared (`len` <= WIDTH).
    fn masked(self, len: u8) -> Self;
    /// Zero-sized alignment of a table entry, so that an entry with a small
    /// value (16 bytes for IPv4, 32 for IPv6) never straddles cache lines.
    type Align: Copy + Default + fmt::Debug;
}

#[doc(hidden)]
#[derive(Clone, Copy, Default, Debug)]
#[repr(align(16))]
pub struct Align16;

#[doc(hidden)]
#[derive(Clone, Copy, Default, Debug)]
#[repr(align(32))]
pub struct Align32;

macro_rules! key_bits {
    ($t:ty, $align:ty) => {
        impl sealed::Sealed for $t {}
        impl KeyBits for $t {
            const WIDTH: u32 = <$t>::BITS;
            type Align = $align;
            #[inline(always)]
            fn extract(self, off: u32, n: u32) -> usize {
                ((self << off) >> (Self::WIDTH - n)) as usize
            }
            #[inline(always)]
            fn masked(self, len: u8) -> Self {
                match <$t>::MAX.checked_shr(u32::from(len)) {
                    Some(host) => self & !host,
                    None => self,
                }
            }
        }
    };
}
key_bits!(u32, Align16);
key_bits!(u128, Align32);

/// An IP address family usable as an [`Lpm`] key: [`Ipv4Addr`] or
/// [`Ipv6Addr`]. Sealed.
pub trait Address:
    Copy + Eq + Ord + fmt::Debug + fmt::Display + Into<IpAddr> + sealed::Sealed
{
    /// The address as an integer.
    #[doc(hidden)]
    type Bits: KeyBits;
    /// Address width in bits: the longest allowed prefix length.
    const MAX_LEN: u8;
    #[doc(hidden)]
    fn to_bits(self) -> Self::Bits;
    #[doc(hidden)]
    fn from_bits(bits: Self::Bits) -> Self;
}

impl sealed::Sealed for Ipv4Addr {}
impl Address for Ipv4Addr {
    type Bits = u32;
    const MAX_LEN: u8 = 32;
    #[inline(always)]
    fn to_bits(self) -> u32 {
        u32::from(self)
    }
    #[inline(always)]
    fn from_bits(bits: u32) -> Self {
        Ipv4Addr::from(bits)
    }
}

impl sealed::Sealed for Ipv6Addr {}
impl Address for Ipv6Addr {
    type Bits = u128;
    const MAX_LEN: u8 = 128;
    #[inline(always)]
    fn to_bits(self) -> u128 {
        u128::from(self)
    }
    #[inline(always)]
    fn from_bits(bits: u128) -> Self {
        Ipv6Addr::from(bits)
    }
}

/// Frozen IPv4 longest-prefix-match table.
pub type Lpm4<T> = Lpm<Ipv4Addr, T>;
/// Frozen IPv6 longest-prefix-match table.
pub type Lpm6<T> = Lpm<Ipv6Addr, T>;
/// Builder of an [`Lpm4`].
pub type Lpm4Builder<T> = LpmBuilder<Ipv4Addr, T>;
/// Builder of an [`Lpm6`].
pub type Lpm6Builder<T> = LpmBuilder<Ipv6Addr, T>;

/// Most prefixes one table can hold (leaf indices are 31 bits, one value is
/// reserved for "no route").
pub const MAX_PREFIXES: usize = NONE as usize;

/// Marks a root or leaf word that is a node index, not an entry index.
const NODE: u32 = 1 << 31;
/// Entry index meaning "no prefix" (no route / no parent).
const NONE: u32 = NODE - 1;
/// Bits consumed by one trie node: a 64-bit `vector` and `leafvec`.
const STRIDE: u32 = 6;
/// Longest chain of nested prefixes that becomes a verified leaf instead of
/// trie nodes. Bounds the mismatch walk of a lookup to `MAX_CHAIN + 1` reads.
const MAX_CHAIN: usize = 3;
const MIN_ROOT_BITS: u32 = 8;

/// Rejects a prefix length longer than the address family allows.
fn check_len<A: Address>(prefix: A, len: u8) -> Result<(), FibError> {
    if len > A::MAX_LEN {
        return Err(FibError::PrefixLength {
            prefix: prefix.into(),
            len,
            max: A::MAX_LEN,
        });
    }
    Ok(())
}

/// The mutable side of an LPM table: a sorted map of (prefix, length) to
/// value. Host bits of inserted prefixes are cleared, so `10.1.2.3/8` and
/// `10.0.0.0/8` are the same prefix.
#[derive(Clone)]
pub struct LpmBuilder<A: Address, T> {
    routes: BTreeMap<(A::Bits, u8), T>,
}

impl<A: Address, T> Default for LpmBuilder<A, T> {
    fn default() -> Self {
        Self {
            routes: BTreeMap::new(),
        }
    }
}

impl<A: Address, T: fmt::Debug> fmt::Debug for LpmBuilder<A, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.routes
                    .iter()
                    .map(|((k, l), v)| (Prefix(A::from_bits(*k), *l), v)),
            )
            .finish()
    }
}

/// Displays as `address/len`.
struct Prefix<A>(A, u8);
impl<A: fmt::Display> fmt::Debug for Prefix<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0, self.1)
    }
}

impl<A: Address, T> LpmBuilder<A, T> {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces `prefix/len`, returning the value it replaced.
    /// Host bits of `prefix` are ignored.
    pub fn insert(&mut self, prefix: A, len: u8, value: T) -> Result<Option<T>, FibError> {
        check_len(prefix, len)?;
        let key = (prefix.to_bits().masked(len), len);
        if self.routes.len() >= MAX_PREFIXES && !self.routes.contains_key(&key) {
            return Err(FibError::TooManyPrefixes { max: MAX_PREFIXES });
        }
        Ok(self.routes.insert(key, value))
    }

    /// Removes `prefix/len` (host bits ignored), returning its value.
    pub fn remove(&mut self, prefix: A, len: u8) -> Result<Option<T>, FibError> {
        check_len(prefix, len)?;
        Ok(self.routes.remove(&(prefix.to_bits().masked(len), len)))
    }

    /// The value of exactly `prefix/len` (host bits ignored), if present.
    pub fn get(&self, prefix: A, len: u8) -> Option<&T> {
        if len > A::MAX_LEN {
            return None;
        }
        self.routes.get(&(prefix.to_bits().masked(len), len))
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there are no prefixes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Prefixes in (address, length) order, host bits cleared.
    pub fn iter(&self) -> impl Iterator<Item = (A, u8, &T)> + '_ {
        self.routes
            .iter()
            .map(|((k, l), v)| (A::from_bits(*k), *l, v))
    }

    /// Freezes a copy of the current prefixes into a lookup table.
    pub fn build(&self) -> Lpm<A, T>
    where
        T: Clone,
    {
        self.build_with_root_bits(default_root_bits::<A>(self.len()))
    }

    /// Freezes a copy of the prefixes with each value replaced by `f(value)`
    /// (for example by a small index into a table of distinct values, which
    /// keeps entries within one cache line).
    pub fn build_map<U>(&self, mut f: impl FnMut(&T) -> U) -> Lpm<A, U> {
        let bits = default_root_bits::<A>(self.len());
        Lpm::from_sorted(self.routes.iter().map(|(k, v)| (*k, f(v))), bits)
    }

    /// Freezes the prefixes into a lookup table, consuming the builder.
    pub fn into_lpm(self) -> Lpm<A, T> {
        let bits = default_root_bits::<A>(self.len());
        Lpm::from_sorted(self.routes.into_iter(), bits)
    }

    /// [`build`](Self::build) with an explicit root array size, for
    /// measurements (`docs/decisions/0001-lpm.md`). `bits` is clamped to
    /// 8..=24.
    #[doc(hidden)]
    pub fn build_with_root_bits(&self, bits: u32) -> Lpm<A, T>
    where
        T: Clone,
    {
        let bits = bits.clamp(MIN_ROOT_BITS, 24);
        Lpm::from_sorted(self.routes.iter().map(|(k, v)| (*k, v.clone())), bits)
    }
}

/// Root array size for `n` prefixes: about four slots per prefix, at least
/// 2^8 (1 KiB) and at most 2^22 (16 MiB) for IPv4, 2^20 (4 MiB) for IPv6.
fn default_root_bits<A: Address>(n: usize) -> u32 {
    let max = if A::MAX_LEN == 32 { 22 } else { 20 };
    let log2 = usize::BITS - n.leading_zeros();
    (log2 + 2).clamp(MIN_ROOT_BITS, max)
}

/// A trie node covering `STRIDE` bits: 64 slots, each a child node or a leaf.
#[derive(Clone, Copy, Default, Debug)]
struct Node {
    /// Bit `v` set: slot `v` is the child node `base1 + rank(vector, v) - 1`.
    vector: u64,
    /// Bit `v` set: leaf slot `v` starts a new run of equal leaves; a leaf
    /// slot reads `leaves[base0 + rank(leafvec, v) - 1]`.
    leafvec: u64,
    base0: u32,
    base1: u32,
}

/// One prefix of a frozen table.
#[derive(Clone, Debug)]
struct Entry<B: KeyBits, T> {
    key: B,
    /// The longest other prefix that contains this one, or `NONE`.
    parent: u32,
    len: u8,
    value: T,
    _align: B::Align,
}

/// A frozen longest-prefix-match table. Immutable: lookups take `&self`, need
/// no lock, allocate nothing and cannot panic.
///
/// ```
/// use dataplane::fib::Lpm4Builder;
/// use std::net::Ipv4Addr;
///
/// let mut b = Lpm4Builder::new();
/// b.insert(Ipv4Addr::new(0, 0, 0, 0), 0, "default").unwrap();
/// b.insert(Ipv4Addr::new(10, 0, 0, 0), 8, "ten").unwrap();
/// let t = b.build();
/// assert_eq!(t.lookup(Ipv4Addr::new(10, 9, 9, 9)), Some(&"ten"));
/// assert_eq!(t.lookup_with_len(Ipv4Addr::new(11, 0, 0, 1)), Some((&"default", 0)));
/// ```
#[derive(Clone)]
pub struct Lpm<A: Address, T> {
    root_bits: u32,
    /// `2^root_bits` words: `NODE | node index`, or an entry index / `NONE`.
    root: Box<[u32]>,
    nodes: Box<[Node]>,
    /// Entry indices (or `NONE`), each a run of equal leaf slots of a node.
    leaves: Box<[u32]>,
    /// Sorted by (prefix, length).
    entries: Box<[Entry<A::Bits, T>]>,
}

impl<A: Address, T> Default for Lpm<A, T> {
    fn default() -> Self {
        Lpm::from_sorted(std::iter::empty(), MIN_ROOT_BITS)
    }
}

impl<A: Address, T> fmt::Debug for Lpm<A, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lpm")
            .field("prefixes", &self.entries.len())
            .field("root_bits", &self.root_bits)
            .field("nodes", &self.nodes.len())
            .field("leaves", &self.leaves.len())
            .field("heap_bytes", &self.heap_bytes())
            .finish()
    }
}

impl<A: Address, T> Lpm<A, T> {
    /// An empty table (about 1 KiB).
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of the longest prefix containing `addr`.
    #[inline]
    pub fn lookup(&self, addr: impl Into<A>) -> Option<&T> {
        self.find(addr.into().to_bits()).map(|e| &e.value)
    }

    /// The value and length of the longest prefix containing `addr`.
    #[inline]
    pub fn lookup_with_len(&self, addr: impl Into<A>) -> Option<(&T, u8)> {
        self.find(addr.into().to_bits()).map(|e| (&e.value, e.len))
    }

    /// [`lookup`](Self::lookup) for a batch: `out[i]` is the value for
    /// `addrs[i]` (the shorter of the two slices sets the batch size).
    ///
    /// Faster per address than calling `lookup` in a loop that acts on each
    /// result: the batch's memory reads are all issued before any result is
    /// used, so they overlap instead of waiting behind the caller's branches.
    #[inline]
    pub fn lookup_batch<'a>(&'a self, addrs: &[A], out: &mut [Option<&'a T>]) {
        const GROUP: usize = 16;
        for (addrs, out) in addrs.chunks(GROUP).zip(out.chunks_mut(GROUP)) {
            // Stage 1: the root words, all independent loads.
            let mut words = [NONE; GROUP];
            for (w, a) in words.iter_mut().zip(addrs) {
                *w = self.root[a.to_bits().extract(0, self.root_bits)];
            }
            // Stage 2: start fetching what each root word points to.
            for &w in &words {
                let node = self.nodes.as_ptr().wrapping_add((w & !NODE) as usize);
                let entry = self.entries.as_ptr().wrapping_add((w % NONE) as usize);
                prefetch(if w & NODE != 0 {
                    node.cast::<u8>()
                } else {
                    entry.cast()
                });
            }
            // Stage 3: the rest of each lookup.
            for ((o, a), &w) in out.iter_mut().zip(addrs).zip(&words) {
                *o = self.finish(a.to_bits(), w).map(|e| &e.value);
            }
        }
    }

    /// The value of exactly `prefix/len` (host bits ignored), if present.
    pub fn exact(&self, prefix: impl Into<A>, len: u8) -> Option<&T> {
        if len > A::MAX_LEN {
            return None;
        }
        let key = prefix.into().to_bits().masked(len);
        self.entries
            .binary_search_by(|e| (e.key, e.len).cmp(&(key, len)))
            .ok()
            .map(|i| &self.entries[i].value)
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no prefix.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Prefixes in (address, length) order, host bits cleared.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (A, u8, &T)> + '_ {
        self.entries
            .iter()
            .map(|e| (A::from_bits(e.key), e.len, &e.value))
    }

    /// A builder holding this table's prefixes, to change and rebuild.
    pub fn to_builder(&self) -> LpmBuilder<A, T>
    where
        T: Clone,
    {
        LpmBuilder {
            routes: self
                .entries
                .iter()
                .map(|e| ((e.key, e.len), e.value.clone()))
                .collect(),
        }
    }

    /// Heap memory held by the table, in bytes (values included, by their
    /// inline size).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.root)
            + std::mem::size_of_val(&*self.nodes)
            + std::mem::size_of_val(&*self.leaves)
            + std::mem::size_of_val(&*self.entries)
    }

    /// Size of the direct-pointing root array, in address bits.
    pub fn root_bits(&self) -> u32 {
        self.root_bits
    }

    #[inline(always)]
    fn find(&self, bits: A::Bits) -> Option<&Entry<A::Bits, T>> {
        self.finish(bits, self.root[bits.extract(0, self.root_bits)])
    }

    /// The lookup of `bits` from its root word on.
    #[inline(always)]
    fn finish(&self, bits: A::Bits, mut leaf: u32) -> Option<&Entry<A::Bits, T>> {
        if leaf & NODE != 0 {
            let mut node = self.nodes[(leaf & !NODE) as usize];
            let mut off = self.root_bits;
            loop {
                let v = bits.extract(off, STRIDE) as u32;
                // Slots 0..=v.
                let upto = u64::MAX >> (63 - v);
                if (node.vector >> v) & 1 != 0 {
                    let child = node.base1 + (node.vector & upto).count_ones() - 1;
                    node = self.nodes[child as usize];
                    off += STRIDE;
                } else {
                    let run = node.base0 + (node.leafvec & upto).count_ones() - 1;
                    leaf = self.leaves[run as usize];
                    break;
                }
            }
        }
        // A leaf names the longest candidate; verify it, else walk up to the
        // prefixes that contain it (at most MAX_CHAIN steps).
        while leaf != NONE {
            let e = &self.entries[leaf as usize];
            if bits.masked(e.len) == e.key {
                return Some(e);
            }
            leaf = e.parent;
        }
        None
    }

    /// Builds from (prefix, length) -> value pairs, sorted and unique, host
    /// bits clear.
    fn from_sorted(routes: impl Iterator<Item = ((A::Bits, u8), T)>, root_bits: u32) -> Self {
        let mut entries: Vec<Entry<A::Bits, T>> = routes
            .map(|((key, len), value)| Entry {
                key,
                parent: NONE,
                len,
                value,
                _align: Default::default(),
            })
            .collect();
        debug_assert!(entries.len() <= MAX_PREFIXES);

        // Parents: in (prefix, length) order a prefix follows every prefix
        // that contains it, so a stack of the open containers suffices.
        let mut open: Vec<u32> = Vec::new();
        for i in 0..entries.len() {
            while let Some(&top) = open.last() {
                let t = &entries[top as usize];
                if entries[i].key.masked(t.len) == t.key {
                    break;
                }
                open.pop();
            }
            entries[i].parent = open.last().copied().unwrap_or(NONE);
            open.push(i as u32);
        }

        let s = root_bits;
        let mut root = vec![NONE; 1usize << s];
        let (short, deep): (Vec<u32>, Vec<u32>) =
            (0..entries.len() as u32).partition(|&i| u32::from(entries[i as usize].len) <= s);
        // In (prefix, length) order every prefix comes after the prefixes
        // that contain it, so a longer prefix overwrites a shorter one.
        for &i in &short {
            let e = &entries[i as usize];
            let start = e.key.extract(0, s);
            root[start..start + (1usize << (s - u32::from(e.len)))].fill(i);
        }

        let mut b = Builder {
            entries: &entries,
            nodes: Vec::new(),
            leaves: Vec::new(),
        };
        for group in b.slot_groups(&deep, 0, s) {
            let (slot, members) = (group.0, &deep[group.1.clone()]);
            let inherited = root[slot];
            root[slot] = match b.chain_end(members) {
                Some(last) => last,
                None => {
                    let at = b.nodes.len();
                    b.nodes.push(Node::default());
                    b.fill_node(at, s, members, inherited);
                    NODE | at as u32
                }
            };
        }
        let Builder { nodes, leaves, .. } = b;
        Lpm {
            root_bits: s,
            root: root.into_boxed_slice(),
            nodes: nodes.into_boxed_slice(),
            leaves: leaves.into_boxed_slice(),
            entries: entries.into_boxed_slice(),
        }
    }
}

/// Asks the CPU to start loading the cache line at `p`.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is only a hint: it never faults and has no
    // architectural effect, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Construction state of the trie below the root.
struct Builder<'a, B: KeyBits, T> {
    entries: &'a [Entry<B, T>],
    nodes: Vec<Node>,
    leaves: Vec<u32>,
}

impl<B: KeyBits, T> Builder<'_, B, T> {
    /// Splits `members` (sorted) into runs that share the `n` bits at `off`:
    /// (slot, index range into `members`).
    fn slot_groups(
        &self,
        members: &[u32],
        off: u32,
        n: u32,
    ) -> Vec<(usize, std::ops::Range<usize>)> {
        let slot = |i: u32| self.entries[i as usize].key.extract(off, n);
        let mut groups = Vec::new();
        let mut start = 0;
        while start < members.len() {
            let s = slot(members[start]);
            let mut end = start + 1;
            while end < members.len() && slot(members[end]) == s {
                end += 1;
            }
            groups.push((s, start..end));
            start = end;
        }
        groups
    }

    /// If `members` (sorted) is a chain of at most `MAX_CHAIN` prefixes each
    /// containing the next, the deepest one.
    fn chain_end(&self, members: &[u32]) -> Option<u32> {
        if members.len() > MAX_CHAIN {
            return None;
        }
        for w in members.windows(2) {
            let (outer, inner) = (&self.entries[w[0] as usize], &self.entries[w[1] as usize]);
            if inner.key.masked(outer.len) != outer.key {
                return None;
            }
        }
        members.last().copied()
    }

    /// Fills node `at`, covering bits `off..off + STRIDE` of the prefixes in
    /// `members` (sorted, all longer than `off`, all inside this node's
    /// block); `inherited` is the longest prefix covering the whole block.
    fn fill_node(&mut self, at: usize, off: u32, members: &[u32], inherited: u32) {
        let end = off + STRIDE;
        let mut leaf = [inherited; 64];
        let (short, deep): (Vec<u32>, Vec<u32>) = members
            .iter()
            .partition(|&&i| u32::from(self.entries[i as usize].len) <= end);
        // Sorted order: containers before the prefixes they contain.
        for &i in &short {
            let e = &self.entries[i as usize];
            let start = e.key.extract(off, STRIDE);
            leaf[start..start + (1usize << (end - u32::from(e.len)))].fill(i);
        }

        let mut vector = 0u64;
        let mut children = Vec::new();
        for (slot, range) in self.slot_groups(&deep, off, STRIDE) {
            match self.chain_end(&deep[range.clone()]) {
                Some(last) => leaf[slot] = last,
                None => {
                    vector |= 1 << slot;
                    children.push((range, leaf[slot]));
                }
            }
        }

        let base0 = self.leaves.len() as u32;
        let mut leafvec = 0u64;
        let mut prev = None;
        for (v, &l) in leaf.iter().enumerate() {
            if (vector >> v) & 1 == 0 && prev != Some(l) {
                leafvec |= 1 << v;
                self.leaves.push(l);
                prev = Some(l);
            }
        }
        let base1 = self.nodes.len();
        self.nodes.resize(base1 + children.len(), Node::default());
        self.nodes[at] = Node {
            vector,
            leafvec,
            base0,
            base1: base1 as u32,
        };
        for (c, (range, inherited)) in children.into_iter().enumerate() {
            self.fill_node(base1 + c, end, &deep[range], inherited);
        }
    }
}
