//! The local SID table: which destination addresses are this router's
//! SRv6 SIDs, and what each one does.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv6Addr;

use super::lpm::{Lpm6, Lpm6Builder};
use super::FibError;

/// Local SIDs: exact /128 SIDs in a hash table plus SID prefixes (locators,
/// or SIDs whose low bits carry arguments) in an [`Lpm6`]. An exact SID wins
/// over any prefix that contains it.
///
/// ```
/// use dataplane::fib::LocalSidTableBuilder;
///
/// let mut b = LocalSidTableBuilder::new();
/// b.add_sid("fc00:0:1::100".parse().unwrap(), "End.DT4").unwrap();
/// b.add_prefix("fc00:0:1::".parse().unwrap(), 48, "End").unwrap();
/// let t = b.build();
/// assert_eq!(t.lookup(&"fc00:0:1::100".parse().unwrap()), Some((&"End.DT4", 128)));
/// assert_eq!(t.lookup(&"fc00:0:1::101".parse().unwrap()), Some((&"End", 48)));
/// assert_eq!(t.lookup(&"fc00:0:2::".parse().unwrap()), None);
/// ```
#[derive(Clone)]
pub struct LocalSidTable<T> {
    exact: ExactSids,
    sids: Box<[(Ipv6Addr, T)]>,
    prefixes: Lpm6<T>,
}

impl<T> Default for LocalSidTable<T> {
    fn default() -> Self {
        Self {
            exact: ExactSids::new(&[]),
            sids: Box::new([]),
            prefixes: Lpm6::new(),
        }
    }
}

impl<T> fmt::Debug for LocalSidTable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSidTable")
            .field("sids", &self.sids.len())
            .field("prefixes", &self.prefixes.len())
            .finish()
    }
}

impl<T> LocalSidTable<T> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The SID entry that `addr` hits and its length: 128 for an exact SID,
    /// else the longest SID prefix containing `addr`.
    #[inline]
    pub fn lookup(&self, addr: &Ipv6Addr) -> Option<(&T, u8)> {
        let key = u128::from(*addr);
        match self.exact.get(key) {
            Some(i) => Some((&self.sids[i].1, 128)),
            None => self.prefixes.lookup_with_len(key),
        }
    }

    /// The value of exactly this /128 SID, if configured as one.
    pub fn sid(&self, sid: &Ipv6Addr) -> Option<&T> {
        self.exact.get(u128::from(*sid)).map(|i| &self.sids[i].1)
    }

    /// Exact SIDs, in address order.
    pub fn sids(&self) -> impl ExactSizeIterator<Item = (Ipv6Addr, &T)> + '_ {
        self.sids.iter().map(|(a, v)| (*a, v))
    }

    /// The SID prefixes.
    pub fn prefixes(&self) -> &Lpm6<T> {
        &self.prefixes
    }

    /// Number of exact SIDs plus SID prefixes.
    pub fn len(&self) -> usize {
        self.sids.len() + self.prefixes.len()
    }

    /// Whether there is no SID at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap memory held by the table, in bytes.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.exact.slots)
            + std::mem::size_of_val(&*self.sids)
            + self.prefixes.heap_bytes()
    }
}

/// Builds a [`LocalSidTable`]; configuring the same SID or SID prefix twice
/// is an error. A prefix of length 128 is an exact SID.
#[derive(Clone)]
pub struct LocalSidTableBuilder<T> {
    sids: BTreeMap<Ipv6Addr, T>,
    prefixes: Lpm6Builder<T>,
}

impl<T> Default for LocalSidTableBuilder<T> {
    fn default() -> Self {
        Self {
            sids: BTreeMap::new(),
            prefixes: Lpm6Builder::new(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for LocalSidTableBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSidTableBuilder")
            .field("sids", &self.sids)
            .field("prefixes", &self.prefixes)
            .finish()
    }
}

impl<T> LocalSidTableBuilder<T> {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an exact /128 SID.
    pub fn add_sid(&mut self, sid: Ipv6Addr, value: T) -> Result<(), FibError> {
        match self.sids.entry(sid) {
            std::collections::btree_map::Entry::Occupied(_) => Err(FibError::DuplicateSid { sid }),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(value);
                Ok(())
            }
        }
    }

    /// Adds a SID prefix (host bits ignored); `len` 128 adds an exact SID.
    pub fn add_prefix(&mut self, prefix: Ipv6Addr, len: u8, value: T) -> Result<(), FibError> {
        if len == 128 {
            return self.add_sid(prefix, value);
        }
        if self.prefixes.get(prefix, len).is_some() {
            let bits = u128::from(prefix) & !(u128::MAX.checked_shr(u32::from(len)).unwrap_or(0));
            return Err(FibError::DuplicateSidPrefix {
                prefix: Ipv6Addr::from(bits),
                len,
            });
        }
        self.prefixes.insert(prefix, len, value).map(|_| ())
    }

    /// Removes an exact SID; returns its value.
    pub fn remove_sid(&mut self, sid: &Ipv6Addr) -> Option<T> {
        self.sids.remove(sid)
    }

    /// Removes a SID prefix (`len` 128: an exact SID); returns its value.
    pub fn remove_prefix(&mut self, prefix: Ipv6Addr, len: u8) -> Result<Option<T>, FibError> {
        if len == 128 {
            return Ok(self.sids.remove(&prefix));
        }
        self.prefixes.remove(prefix, len)
    }

    /// Number of exact SIDs plus SID prefixes.
    pub fn len(&self) -> usize {
        self.sids.len() + self.prefixes.len()
    }

    /// Whether there is no SID at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Freezes a copy of the SIDs into a table.
    pub fn build(&self) -> LocalSidTable<T>
    where
        T: Clone,
    {
        let sids: Box<[(Ipv6Addr, T)]> = self.sids.iter().map(|(a, v)| (*a, v.clone())).collect();
        let keys: Vec<u128> = sids.iter().map(|(a, _)| u128::from(*a)).collect();
        LocalSidTable {
            exact: ExactSids::new(&keys),
            sids,
            prefixes: self.prefixes.build(),
        }
    }
}

/// An open-addressing (linear probing) set of 128-bit keys mapping each to
/// its index in the key list; at most half full, so a miss ends quickly.
#[derive(Clone)]
struct ExactSids {
    shift: u32,
    slots: Box<[ExactSlot]>,
}

#[derive(Clone, Copy)]
struct ExactSlot {
    key: u128,
    /// Index into the SID list, or `EMPTY`.
    index: u32,
}

const EMPTY: u32 = u32::MAX;

impl ExactSids {
    /// `keys` must be distinct.
    fn new(keys: &[u128]) -> Self {
        let cap = (keys.len() * 2).next_power_of_two().max(8);
        let mut t = ExactSids {
            shift: 64 - cap.trailing_zeros(),
            slots: vec![
                ExactSlot {
                    key: 0,
                    index: EMPTY
                };
                cap
            ]
            .into_boxed_slice(),
        };
        let mask = cap - 1;
        for (i, &key) in keys.iter().enumerate() {
            let mut s = t.home(key);
            while t.slots[s].index != EMPTY {
                s = (s + 1) & mask;
            }
            t.slots[s] = ExactSlot {
                key,
                index: i as u32,
            };
        }
        t
    }

    /// Fibonacci hashing of both halves: SIDs often differ only in their
    /// low (function) bits or only in their locator bits.
    #[inline(always)]
    fn home(&self, key: u128) -> usize {
        let folded = (key as u64) ^ ((key >> 64) as u64).rotate_left(32);
        (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    #[inline]
    fn get(&self, key: u128) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut s = self.home(key);
        loop {
            let slot = self.slots[s];
            if slot.index == EMPTY {
                return None;
            }
            if slot.key == key {
                return Some(slot.index as usize);
            }
            s = (s + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn duplicates_are_typed_errors() {
        let mut b = LocalSidTableBuilder::new();
        b.add_sid(a("fc00::1"), 1).unwrap();
        assert_eq!(
            b.add_sid(a("fc00::1"), 2),
            Err(FibError::DuplicateSid { sid: a("fc00::1") })
        );
        assert_eq!(
            b.add_prefix(a("fc00::1"), 128, 2),
            Err(FibError::DuplicateSid { sid: a("fc00::1") })
        );
        b.add_prefix(a("fc00:0:1::"), 48, 3).unwrap();
        let err = b.add_prefix(a("fc00:0:1::5"), 48, 4).unwrap_err();
        assert_eq!(
            err,
            FibError::DuplicateSidPrefix {
                prefix: a("fc00:0:1::"),
                len: 48
            }
        );
        assert_eq!(
            err.to_string(),
            "local SID prefix fc00:0:1::/48 is already configured"
        );
        assert!(matches!(
            b.add_prefix(a("fc00::"), 129, 5),
            Err(FibError::PrefixLength {
                len: 129,
                max: 128,
                ..
            })
        ));
        assert_eq!(b.len(), 2);
        assert_eq!(b.remove_sid(&a("fc00::1")), Some(1));
        b.add_sid(a("fc00::1"), 6).unwrap();
        assert_eq!(b.remove_prefix(a("fc00:0:1::"), 48).unwrap(), Some(3));
        assert_eq!(b.build().len(), 1);
    }

    #[test]
    fn exact_table_finds_every_key_and_misses_others() {
        // Keys that differ only in low bits, only in high bits, and zero.
        let mut keys: Vec<u128> = (0..1000u128).map(|i| (0xfc00u128 << 112) | i).collect();
        keys.extend((1..1000u128).map(|i| i << 100));
        keys.push(0);
        let t = ExactSids::new(&keys);
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(t.get(k), Some(i));
        }
        assert_eq!(t.get(u128::MAX), None);
        assert_eq!(t.get((0xfc00u128 << 112) | 5000), None);
        assert_eq!(ExactSids::new(&[]).get(0), None);
    }

    #[test]
    fn exact_wins_then_longest_prefix() {
        let mut b = LocalSidTableBuilder::new();
        b.add_prefix(a("fc00::"), 16, "locator16").unwrap();
        b.add_prefix(a("fc00:0:1::"), 48, "locator48").unwrap();
        b.add_sid(a("fc00:0:1::42"), "end.dt4").unwrap();
        let t = b.build();
        assert_eq!(t.lookup(&a("fc00:0:1::42")), Some((&"end.dt4", 128)));
        assert_eq!(t.lookup(&a("fc00:0:1::43")), Some((&"locator48", 48)));
        assert_eq!(t.lookup(&a("fc00:0:2::42")), Some((&"locator16", 16)));
        assert_eq!(t.lookup(&a("fc01::")), None);
        assert_eq!(t.sid(&a("fc00:0:1::42")), Some(&"end.dt4"));
        assert_eq!(t.sid(&a("fc00:0:1::43")), None);
        assert_eq!(t.len(), 3);
        assert!(LocalSidTable::<u8>::new().lookup(&a("::")).is_none());
    }
}
