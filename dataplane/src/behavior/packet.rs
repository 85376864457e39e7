//! A packet in a buffer with headroom: the unit every behaviour works on.

use super::icmp::IcmpKind;
use super::{Behavior, BehaviorSet};
use crate::fib::VrfId;

/// A layer-3 packet (it starts at its IPv4 or IPv6 header) inside a larger
/// buffer, such as an AF_XDP UMEM frame.
///
/// The octets before [`Packet::start`] are headroom: H.Encaps grows the packet
/// into it without moving the original bytes, decapsulation gives it back.
/// The engine keeps at least 14 octets of headroom after a behaviour so it can
/// write the Ethernet header in front of the result. Never allocates.
#[derive(Debug)]
pub struct Packet<'a> {
    buf: &'a mut [u8],
    start: usize,
    end: usize,
    ran: BehaviorSet,
    /// Where the packet an ICMP error would be about starts in `buf`, and
    /// the VRF it was routed in (see [`Packet::origin`]).
    origin: Option<(usize, VrfId)>,
    /// The ICMP error the verdict calls for (see [`Packet::icmp`]).
    icmp: Option<IcmpKind>,
}

impl<'a> Packet<'a> {
    /// The packet occupies `buf[start..start + len]`; `None` if that range is
    /// not inside `buf`.
    #[inline]
    pub fn new(buf: &'a mut [u8], start: usize, len: usize) -> Option<Packet<'a>> {
        let end = start.checked_add(len)?;
        if end > buf.len() {
            return None;
        }
        Some(Packet {
            buf,
            start,
            end,
            ran: BehaviorSet::EMPTY,
            origin: None,
            icmp: None,
        })
    }

    /// Offset of the first octet of the packet in the buffer.
    #[inline]
    pub fn start(&self) -> usize {
        self.start
    }

    /// Length of the packet in octets.
    #[inline]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True if the packet has no octets.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Octets free in front of the packet.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// The packet's octets.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The packet's octets, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }

    /// Grows the packet by `n` octets at the front (into the headroom).
    /// Returns false, changing nothing, if the headroom is smaller than `n`.
    #[inline]
    #[must_use]
    pub fn push_front(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        true
    }

    /// Removes `n` octets from the front (they become headroom). Returns
    /// false, changing nothing, if the packet is shorter than `n`.
    #[inline]
    #[must_use]
    pub fn pull_front(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        self.start += n;
        true
    }

    /// Grows the packet by `n` zeroed octets at the end. Returns false,
    /// changing nothing, if the buffer has fewer than `n` octets after it.
    #[inline]
    #[must_use]
    pub fn push_back(&mut self, n: usize) -> bool {
        if n > self.buf.len() - self.end {
            return false;
        }
        self.buf[self.end..self.end + n].fill(0);
        self.end += n;
        true
    }

    /// Shortens the packet to `len` octets (drops link-layer padding after
    /// the IP datagram). Does nothing if the packet is already that short.
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.end = self.start + len;
        }
    }

    /// The behaviours [`process`](super::process) ran on this packet so
    /// far (for the engine's per-behaviour counters).
    #[inline]
    pub fn behaviors(&self) -> BehaviorSet {
        self.ran
    }

    /// Records that `b` ran on this packet.
    #[inline]
    pub(crate) fn mark(&mut self, b: Behavior) {
        self.ran = self.ran.with(b);
    }

    /// The packet an ICMP error is about: where it starts in the buffer
    /// and the VRF it was routed in (the packet as received, or the inner
    /// packet after decapsulation; encapsulation keeps it, since the inner
    /// bytes never move). `None` before routing or when no error may be
    /// sent about it.
    #[inline]
    pub fn origin(&self) -> Option<(usize, VrfId)> {
        self.origin
    }

    /// Records the current packet, routed in `vrf`, as the one an ICMP
    /// error would be about.
    #[inline]
    pub(crate) fn set_origin(&mut self, vrf: VrfId) {
        self.origin = Some((self.start, vrf));
    }

    /// No ICMP error may be sent about the packet from here on.
    #[inline]
    pub(crate) fn clear_origin(&mut self) {
        self.origin = None;
    }

    /// The [`Packet::origin`] packet's octets up to the end of the packet
    /// (writable), if there is an origin inside the packet's buffer.
    #[inline]
    pub(crate) fn origin_mut(&mut self) -> Option<&mut [u8]> {
        let (start, _) = self.origin?;
        self.buf.get_mut(start..self.end)
    }

    /// The whole buffer the packet lives in.
    #[inline]
    pub(crate) fn buffer(&self) -> &[u8] {
        self.buf
    }

    /// The ICMP error a [`Verdict::Drop`](super::Verdict) calls for (Time
    /// Exceeded, Parameter Problem), if any; the engine sends it, rate
    /// limited, with [`super::icmp_error`].
    #[inline]
    pub fn icmp(&self) -> Option<IcmpKind> {
        self.icmp
    }

    #[inline]
    pub(crate) fn set_icmp(&mut self, kind: IcmpKind) {
        self.icmp = Some(kind);
    }

    /// Makes the packet start at `start` again (an earlier position, e.g.
    /// the [`Packet::origin`]) and run to the end of the buffer; the caller
    /// truncates it. False, changing nothing, if `start` is outside it.
    #[inline]
    #[must_use]
    pub(crate) fn rewind_to(&mut self, start: usize) -> bool {
        if start > self.buf.len() {
            return false;
        }
        self.start = start;
        self.end = self.buf.len();
        true
    }
}
