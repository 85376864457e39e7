//! Per-worker counters (one cache-line padded block per worker, written
//! only by its worker) and their sum, read by the control plane.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::behavior::{Behavior, DropReason, IcmpKind, Suppressed};
use crate::stamp_sender::REPLY_ERRORS;
use stamp::reflector::Discard;

/// Drops and events of the engine itself, outside the behaviours: each is a
/// named reason like the [`DropReason`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineDrop {
    /// The frame is not Ethernet carrying IPv4 or IPv6 (or too short for an
    /// Ethernet header).
    NotIp,
    /// The rx descriptor's length runs past the end of its UMEM frame (the
    /// kernel never does this; counted rather than trusted).
    BadDescriptor,
    /// The next hop has no entry in the neighbour table (the resolve hook
    /// was called).
    NeighborUnresolved,
    /// The egress port's tx ring was full.
    TxRingFull,
    /// A fill ring wanted frames and the worker had none free: counted once
    /// per episode (from the first time a ring went hungry until it could be
    /// topped up again). An event, not a packet drop: while it lasts the
    /// kernel drops frames as `xsk_rx_fill_ring_empty`.
    NoFreeFrame,
    /// `Verdict::Local`, and neither a STAMP test packet for the inline
    /// reflector nor a reply to one of the engine's sender sessions.
    LocalUnhandled,
    /// `Verdict::PassToKernel`: an AF_XDP frame cannot be re-injected into
    /// the kernel's stack by this engine.
    PassToKernelUnsupported,
    /// The route names a port this engine does not drive.
    UnknownEgressPort,
    /// The rewritten frame does not fit between the frame's data start and
    /// its end (frame size too small for the packet plus encapsulation).
    FrameTooSmall,
}

impl EngineDrop {
    /// How many there are.
    pub const COUNT: usize = 9;

    /// Every engine drop, in [`EngineDrop::index`] order.
    pub const ALL: [EngineDrop; EngineDrop::COUNT] = [
        EngineDrop::NotIp,
        EngineDrop::BadDescriptor,
        EngineDrop::NeighborUnresolved,
        EngineDrop::TxRingFull,
        EngineDrop::NoFreeFrame,
        EngineDrop::LocalUnhandled,
        EngineDrop::PassToKernelUnsupported,
        EngineDrop::UnknownEgressPort,
        EngineDrop::FrameTooSmall,
    ];

    /// The counter name.
    pub const fn name(self) -> &'static str {
        match self {
            EngineDrop::NotIp => "not_ip",
            EngineDrop::BadDescriptor => "bad_descriptor",
            EngineDrop::NeighborUnresolved => "neighbor_unresolved",
            EngineDrop::TxRingFull => "tx_ring_full",
            EngineDrop::NoFreeFrame => "no_free_frame",
            EngineDrop::LocalUnhandled => "local_unhandled",
            EngineDrop::PassToKernelUnsupported => "pass_to_kernel_unsupported",
            EngineDrop::UnknownEgressPort => "unknown_egress_port",
            EngineDrop::FrameTooSmall => "frame_too_small",
        }
    }

    /// Dense index in `0..COUNT`.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// True for the events that are not packet drops
    /// ([`EngineDrop::NoFreeFrame`]).
    pub const fn is_event(self) -> bool {
        matches!(self, EngineDrop::NoFreeFrame)
    }
}

/// One worker's counters. Written by that worker only (a load and a store,
/// no locked instruction), read by anyone; aligned to two cache lines so
/// that workers never share a line (adjacent-line prefetch included).
#[repr(align(128))]
#[derive(Debug)]
pub(crate) struct WorkerCounters {
    pub rx: AtomicU64,
    pub tx: AtomicU64,
    pub batches: AtomicU64,
    pub drops: [AtomicU64; DropReason::COUNT],
    pub engine: [AtomicU64; EngineDrop::COUNT],
    pub behaviors: [AtomicU64; Behavior::COUNT],
    pub stamp_reflected: AtomicU64,
    pub stamp_discards: [AtomicU64; Discard::COUNT],
    pub stamp_sent: AtomicU64,
    pub stamp_replies: AtomicU64,
    pub stamp_reply_errors: [AtomicU64; REPLY_ERRORS.len()],
    /// ICMP errors sent, by [`IcmpKind::index`].
    pub icmp_sent: [AtomicU64; IcmpKind::COUNT],
    /// ICMP errors owed and not sent, by [`Suppressed::index`].
    pub icmp_suppressed: [AtomicU64; Suppressed::COUNT],
    /// ICMP errors owed and not sent for want of a rate-limit token.
    pub icmp_rate_limited: AtomicU64,
    /// TCP SYNs whose MSS option was lowered.
    pub tcp_mss_clamped: AtomicU64,
    /// Frames received per port (index: PortId).
    pub port_rx: Box<[AtomicU64]>,
    /// Frames put on a tx ring per port (index: PortId).
    pub port_tx: Box<[AtomicU64]>,
}

impl WorkerCounters {
    /// Counters of a worker of an engine whose port ids are below `ports`.
    pub fn new(ports: usize) -> WorkerCounters {
        WorkerCounters {
            port_rx: (0..ports).map(|_| AtomicU64::new(0)).collect(),
            port_tx: (0..ports).map(|_| AtomicU64::new(0)).collect(),
            rx: AtomicU64::new(0),
            tx: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
            engine: std::array::from_fn(|_| AtomicU64::new(0)),
            behaviors: std::array::from_fn(|_| AtomicU64::new(0)),
            stamp_reflected: AtomicU64::new(0),
            stamp_discards: std::array::from_fn(|_| AtomicU64::new(0)),
            stamp_sent: AtomicU64::new(0),
            stamp_replies: AtomicU64::new(0),
            stamp_reply_errors: std::array::from_fn(|_| AtomicU64::new(0)),
            icmp_sent: std::array::from_fn(|_| AtomicU64::new(0)),
            icmp_suppressed: std::array::from_fn(|_| AtomicU64::new(0)),
            icmp_rate_limited: AtomicU64::new(0),
            tcp_mss_clamped: AtomicU64::new(0),
        }
    }
}

/// Adds `n` to a counter that only the calling thread writes.
#[inline(always)]
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// The engine's counters summed over its workers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames taken from the rx rings.
    pub rx: u64,
    /// Frames put on the tx rings.
    pub tx: u64,
    /// Batches run (loop iterations that loaded a snapshot).
    pub batches: u64,
    /// Behaviour drops by [`DropReason::name`] (every reason present, zeros
    /// included).
    pub drops: BTreeMap<&'static str, u64>,
    /// Engine drops by [`EngineDrop::name`] (every one present).
    pub engine: BTreeMap<&'static str, u64>,
    /// Packets per [`Behavior::name`] (every one present): how many packets
    /// each behaviour ran on, whatever the outcome (a packet that End
    /// forwards to our own End.DT6 counts under both).
    pub behaviors: BTreeMap<&'static str, u64>,
    /// STAMP test packets reflected (the Session-Reflector role).
    pub stamp_reflected: u64,
    /// STAMP test packets not answered, by [`Discard::name`] (every reason
    /// present): dropped packets, kept apart from `drops` but included in
    /// [`Counters::total_drops`].
    pub stamp_discards: BTreeMap<&'static str, u64>,
    /// STAMP test packets the engine's sender sessions sent (the
    /// Session-Sender role).
    pub stamp_sent: u64,
    /// Replies to them accepted (and consumed: they leave no frame).
    pub stamp_replies: u64,
    /// Replies to a sender session's address and ports refused, by
    /// `stamp::sender::ReplyError::name` (every one present): consumed,
    /// and counted in [`Counters::total_drops`].
    pub stamp_reply_errors: BTreeMap<&'static str, u64>,
    /// ICMP errors (every name present): sent, by kind and family
    /// (`icmp6_packet_too_big`, `icmp4_time_exceeded`, ...; each is a
    /// frame on a tx ring, the packet it is about counted under its drop
    /// reason), `icmp_rate_limited`, and owed but not sent by reason
    /// (`icmp_not_allowed`, `icmp_no_source`, `icmp_no_route`, ...).
    pub icmp: BTreeMap<&'static str, u64>,
    /// TCP SYNs whose MSS option the engine lowered (MSS clamping).
    pub tcp_mss_clamped: u64,
    /// Frames received per worker (index = worker = rx queue).
    pub rx_per_worker: Vec<u64>,
    /// Frames received per port (index = PortId).
    pub rx_per_port: Vec<u64>,
    /// Frames put on the tx rings per port (index = PortId).
    pub tx_per_port: Vec<u64>,
    /// The kernel's own AF_XDP counters (`XDP_STATISTICS`) summed over the
    /// sockets: frames lost before the engine saw them (`xsk_rx_dropped`,
    /// `xsk_rx_ring_full`, `xsk_rx_fill_ring_empty`, ...).
    pub kernel: BTreeMap<&'static str, u64>,
}

/// Names of the `XDP_STATISTICS` fields, in the kernel's order.
pub(crate) const KERNEL_STATS: [&str; 6] = [
    "xsk_rx_dropped",
    "xsk_rx_invalid_descs",
    "xsk_tx_invalid_descs",
    "xsk_rx_ring_full",
    "xsk_rx_fill_ring_empty",
    "xsk_tx_ring_empty",
];

impl Counters {
    pub(crate) fn sum(workers: &[std::sync::Arc<WorkerCounters>]) -> Counters {
        let mut c = Counters {
            drops: DropReason::all().map(|r| (r.name(), 0)).collect(),
            engine: EngineDrop::ALL.iter().map(|d| (d.name(), 0)).collect(),
            behaviors: Behavior::ALL.iter().map(|b| (b.name(), 0)).collect(),
            stamp_discards: Discard::ALL.iter().map(|d| (d.name(), 0)).collect(),
            stamp_reply_errors: REPLY_ERRORS.iter().map(|e| (e.name(), 0)).collect(),
            icmp: IcmpKind::NAMES
                .iter()
                .chain(Suppressed::NAMES.iter())
                .chain(["icmp_rate_limited"].iter())
                .map(|n| (*n, 0))
                .collect(),
            ..Counters::default()
        };
        for w in workers {
            let rx = w.rx.load(Ordering::Relaxed);
            c.rx += rx;
            c.rx_per_worker.push(rx);
            for (list, per) in [
                (&mut c.rx_per_port, &w.port_rx),
                (&mut c.tx_per_port, &w.port_tx),
            ] {
                if list.len() < per.len() {
                    list.resize(per.len(), 0);
                }
                for (sum, v) in list.iter_mut().zip(per.iter()) {
                    *sum += v.load(Ordering::Relaxed);
                }
            }
            c.tx += w.tx.load(Ordering::Relaxed);
            c.batches += w.batches.load(Ordering::Relaxed);
            for r in DropReason::all() {
                *c.drops.entry(r.name()).or_default() += w.drops[r.index()].load(Ordering::Relaxed);
            }
            for d in EngineDrop::ALL {
                *c.engine.entry(d.name()).or_default() +=
                    w.engine[d.index()].load(Ordering::Relaxed);
            }
            for b in Behavior::ALL {
                *c.behaviors.entry(b.name()).or_default() +=
                    w.behaviors[b.index()].load(Ordering::Relaxed);
            }
            c.stamp_reflected += w.stamp_reflected.load(Ordering::Relaxed);
            for d in Discard::ALL {
                *c.stamp_discards.entry(d.name()).or_default() +=
                    w.stamp_discards[d.index()].load(Ordering::Relaxed);
            }
            c.stamp_sent += w.stamp_sent.load(Ordering::Relaxed);
            c.stamp_replies += w.stamp_replies.load(Ordering::Relaxed);
            for (i, e) in REPLY_ERRORS.iter().enumerate() {
                *c.stamp_reply_errors.entry(e.name()).or_default() +=
                    w.stamp_reply_errors[i].load(Ordering::Relaxed);
            }
            for (i, n) in IcmpKind::NAMES.iter().enumerate() {
                *c.icmp.entry(n).or_default() += w.icmp_sent[i].load(Ordering::Relaxed);
            }
            for (i, n) in Suppressed::NAMES.iter().enumerate() {
                *c.icmp.entry(n).or_default() += w.icmp_suppressed[i].load(Ordering::Relaxed);
            }
            *c.icmp.entry("icmp_rate_limited").or_default() +=
                w.icmp_rate_limited.load(Ordering::Relaxed);
            c.tcp_mss_clamped += w.tcp_mss_clamped.load(Ordering::Relaxed);
        }
        c
    }

    /// An ICMP counter by name (0 if unknown).
    pub fn icmp(&self, name: &str) -> u64 {
        self.icmp.get(name).copied().unwrap_or(0)
    }

    /// A behaviour drop counter by name (0 if unknown).
    pub fn drop(&self, name: &str) -> u64 {
        self.drops.get(name).copied().unwrap_or(0)
    }

    /// An engine drop counter.
    pub fn engine_drop(&self, d: EngineDrop) -> u64 {
        self.engine.get(d.name()).copied().unwrap_or(0)
    }

    /// Packets a behaviour ran on.
    pub fn behavior(&self, b: Behavior) -> u64 {
        self.behaviors.get(b.name()).copied().unwrap_or(0)
    }

    /// Every packet dropped, behaviour, engine and STAMP (reflector and
    /// sender) reasons together
    /// (the `no_free_frame` events excluded: they are not packets).
    pub fn total_drops(&self) -> u64 {
        self.drops.values().sum::<u64>()
            + EngineDrop::ALL
                .iter()
                .filter(|d| !d.is_event())
                .map(|d| self.engine_drop(*d))
                .sum::<u64>()
            + self.stamp_discards.values().sum::<u64>()
            + self.stamp_reply_errors.values().sum::<u64>()
    }
}

/// Where every UMEM frame was when the engine stopped: the leak check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameAccounting {
    /// Frames in the UMEM.
    pub total: u64,
    /// On the workers' free lists.
    pub free: u64,
    /// Given to the kernel on fill rings and not received back.
    pub fill_ring: u64,
    /// Found on the rx rings at stop (received, not processed).
    pub rx_ring: u64,
    /// Put on tx rings and never completed (kernel did not send them).
    pub tx_ring: u64,
    /// Found on the completion rings at stop.
    pub completion_ring: u64,
}

impl FrameAccounting {
    /// Frames accounted for.
    pub fn accounted(&self) -> u64 {
        self.free + self.fill_ring + self.rx_ring + self.tx_ring + self.completion_ring
    }

    /// True when every frame is somewhere known.
    pub fn balanced(&self) -> bool {
        self.accounted() == self.total
    }

    pub(crate) fn add(&mut self, o: &FrameAccounting) {
        self.total += o.total;
        self.free += o.free;
        self.fill_ring += o.fill_ring;
        self.rx_ring += o.rx_ring;
        self.tx_ring += o.tx_ring;
        self.completion_ring += o.completion_ring;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_drops_are_dense_and_named_once() {
        for (i, d) in EngineDrop::ALL.iter().enumerate() {
            assert_eq!(d.index(), i);
        }
        let names: std::collections::BTreeSet<_> =
            EngineDrop::ALL.iter().map(|d| d.name()).collect();
        assert_eq!(names.len(), EngineDrop::COUNT);
        for r in DropReason::all() {
            assert!(!names.contains(r.name()), "{} named twice", r.name());
        }
    }

    #[test]
    fn sum_adds_workers_and_lists_every_reason() {
        let a = std::sync::Arc::new(WorkerCounters::new(2));
        let b = std::sync::Arc::new(WorkerCounters::new(2));
        bump(&a.rx, 3);
        bump(&b.rx, 4);
        bump(&a.port_rx[1], 3);
        bump(&b.port_rx[1], 4);
        bump(&b.port_tx[0], 6);
        bump(&b.drops[DropReason::NoRoute.index()], 2);
        bump(&a.engine[EngineDrop::NotIp.index()], 1);
        bump(&a.engine[EngineDrop::NoFreeFrame.index()], 5);
        let c = Counters::sum(&[a.clone(), b.clone()]);
        assert_eq!((c.rx, c.rx_per_worker.clone()), (7, vec![3, 4]));
        assert_eq!(
            (c.rx_per_port.clone(), c.tx_per_port.clone()),
            (vec![0, 7], vec![6, 0])
        );
        assert_eq!(c.drop("no_route"), 2);
        assert_eq!(c.drops.len(), DropReason::COUNT);
        assert_eq!(c.engine.len(), EngineDrop::COUNT);
        assert_eq!(c.total_drops(), 3);
        assert_eq!(c.stamp_reply_errors.len(), REPLY_ERRORS.len());
        bump(&b.stamp_reply_errors[1], 2);
        bump(&a.stamp_sent, 5);
        bump(&b.stamp_replies, 4);
        let c = Counters::sum(&[a.clone(), b.clone()]);
        assert_eq!((c.stamp_sent, c.stamp_replies), (5, 4));
        assert_eq!(c.stamp_reply_errors["reply_other_session"], 2);
        assert_eq!(c.total_drops(), 5, "refused replies are dropped packets");
        bump(&a.behaviors[Behavior::End.index()], 2);
        bump(&b.behaviors[Behavior::End.index()], 1);
        bump(&b.behaviors[Behavior::HEncaps.index()], 4);
        let c = Counters::sum(&[a, b]);
        assert_eq!(c.behaviors.len(), Behavior::COUNT);
        assert_eq!(c.behavior(Behavior::End), 3);
        assert_eq!(c.behavior(Behavior::HEncaps), 4);
        assert_eq!(c.behavior(Behavior::EndDT6), 0);
    }

    #[test]
    fn accounting_balances() {
        let a = FrameAccounting {
            total: 10,
            free: 4,
            fill_ring: 3,
            rx_ring: 1,
            tx_ring: 1,
            completion_ring: 1,
        };
        assert!(a.balanced());
        let leaked = FrameAccounting { free: 3, ..a };
        assert!(!leaked.balanced());
    }
}
