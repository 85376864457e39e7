//! STAMP Session-Sender sessions run inside the engine (RFC 8762 §4.2):
//! what the control plane hands the workers, and what comes back.
//!
//! What it is: a [`SenderSpec`] says what to send (source address, SID list
//! ending at the reflector, ports, interval, count, and the
//! [`SenderSession`] template: SSID, mode, key, timestamp format, length).
//! The control plane wraps each spec in a [`SenderChannel`] and publishes
//! the whole set through [`SenderSessions::publish`]. Worker `w` of `n`
//! sends the sessions whose [`SenderChannel::slot`] is `w` modulo `n` (a
//! slot is fixed when the channel is made, so a session never changes
//! worker when others come and go): it builds
//! each test packet in a free UMEM frame (T1 read as late as the HMAC
//! allows), routes it as a packet the router originates, and reports
//! [`SenderEvent::Sent`]. A reply is a local UDP packet to the session's
//! source address and port; whichever worker receives it (replies can land
//! on any rx queue) checks it with the session's [`SenderSession::receive`]
//! (T4: when its rx batch was read) and reports [`SenderEvent::Reply`].
//!
//! Events travel in one bounded lock-free queue per session (crossbeam's
//! `ArrayQueue`, allocated when the session is created): a worker never
//! allocates, locks or waits to report, and an event that finds the queue
//! full is counted ([`SenderChannel::events_lost`]), never blocking the
//! worker. A `Sent` event is queued before its packet is transmitted, so
//! the collector always sees a packet's `Sent` before its `Reply`.
//!
//! What it is not: the statistics. The control plane drains the queues
//! ([`SenderChannel::drain`]) into `stamp::stats::SessionStats`.

use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::queue::ArrayQueue;
use stamp::sender::{ReplyError, SenderSession};
use stamp::stats::Record;

use crate::behavior::local::MAX_ORIGINATED_SEGMENTS;
use crate::fib::Published;

/// The most sessions one published set may hold.
pub const MAX_SENDER_SESSIONS: usize = 256;

/// The shortest interval between two test packets of a session.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// Events a session's queue holds before new ones are counted as lost:
/// 4 s of a 1 ms session's events (a Sent and a Reply per packet) for a
/// collector that drains every 500 ms or so.
pub const EVENT_QUEUE_CAPACITY: usize = 8192;

/// Hop Limit of the test packets the engine sends (as the replies: 255, so
/// the reflector's Session-Sender TTL field counts the hops).
pub const TEST_PACKET_HOP_LIMIT: u8 = 255;

/// What a session sends.
#[derive(Debug, Clone)]
pub struct SenderSpec {
    /// A name for logs and results.
    pub name: String,
    /// Source address of the test packets: one of the router's own
    /// addresses, so that replies come back to the engine.
    pub source: Ipv6Addr,
    /// The direct SID list in travel order; the last one is the reflector's
    /// address (one entry: plain IPv6, no SRH).
    pub segments: Vec<Ipv6Addr>,
    /// UDP source port: replies come back to it.
    pub src_port: u16,
    /// UDP destination port (the reflector's, 862 by default).
    pub dst_port: u16,
    /// Time between two test packets (at least [`MIN_INTERVAL`]).
    pub interval: Duration,
    /// Test packets to send; `None`: until the session is removed.
    pub count: Option<u64>,
    /// How long to send, from the first packet; `None`: no limit. With a
    /// count too, whichever ends first.
    pub duration: Option<Duration>,
    /// Traffic Class of the test packets.
    pub traffic_class: u8,
    /// The packet template: SSID, mode, key, timestamp format, length.
    pub session: SenderSession,
}

/// Why a [`SenderSpec`] cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// No segment, or more than [`MAX_ORIGINATED_SEGMENTS`].
    #[error("the SID list has {0} segments: expected 1 to {MAX_ORIGINATED_SEGMENTS}")]
    Segments(usize),
    /// Interval below [`MIN_INTERVAL`].
    #[error("interval {0:?} is below the minimum of 1 ms")]
    Interval(Duration),
    /// A count of zero.
    #[error("a count of 0 sends nothing")]
    ZeroCount,
    /// A duration of zero.
    #[error("a duration of 0 sends nothing")]
    ZeroDuration,
    /// Port 0.
    #[error("UDP port 0")]
    ZeroPort,
}

impl SenderSpec {
    /// Checks what the engine relies on.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.segments.is_empty() || self.segments.len() > MAX_ORIGINATED_SEGMENTS {
            return Err(SpecError::Segments(self.segments.len()));
        }
        if self.interval < MIN_INTERVAL {
            return Err(SpecError::Interval(self.interval));
        }
        if self.count == Some(0) {
            return Err(SpecError::ZeroCount);
        }
        if self.duration == Some(Duration::ZERO) {
            return Err(SpecError::ZeroDuration);
        }
        if self.src_port == 0 || self.dst_port == 0 {
            return Err(SpecError::ZeroPort);
        }
        Ok(())
    }

    /// The reflector: the last segment.
    pub fn reflector(&self) -> Ipv6Addr {
        *self
            .segments
            .last()
            .expect("validated: at least one segment")
    }
}

/// What a worker reports about a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderEvent {
    /// Test packet `seq` left (or was dropped on the way out: it counts as
    /// sent, and so as lost) at T1 = `t1` (Unix ns).
    Sent { seq: u32, t1: i64 },
    /// A reply came back.
    Reply(Record),
}

/// One running session: its spec, its event queue and its counters. Shared
/// by the control plane and the workers.
#[derive(Debug)]
pub struct SenderChannel {
    spec: SenderSpec,
    events: ArrayQueue<SenderEvent>,
    events_lost: AtomicU64,
    sent: AtomicU64,
    send_failed: AtomicU64,
    late: AtomicU64,
    replies: AtomicU64,
    reply_errors: [AtomicU64; REPLY_ERRORS.len()],
    finished: AtomicBool,
    /// Which worker sends it: worker `slot % workers`. Fixed for the
    /// channel's life, so that a session never moves between workers (its
    /// sequence numbers live in the worker that sends it).
    slot: usize,
}

/// The [`ReplyError`]s counted per session, in counter order (the stamp
/// crate's one list).
pub const REPLY_ERRORS: [ReplyError; ReplyError::ALL.len()] = ReplyError::ALL;

/// Dense index of a [`ReplyError`] in [`REPLY_ERRORS`].
pub const fn reply_error_index(e: ReplyError) -> usize {
    e.index()
}

/// A session's counters, read by the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChannelCounters {
    /// Test packets built and handed to the router.
    pub sent: u64,
    /// Test packets not built: no free frame at the time (not counted in
    /// `sent`; the schedule goes on).
    pub send_failed: u64,
    /// Times the schedule slipped by a whole interval or more (the worker
    /// was late; the next packet was rescheduled from the current time).
    pub late: u64,
    /// Replies accepted.
    pub replies: u64,
    /// Replies refused, by [`REPLY_ERRORS`] order.
    pub reply_errors: [u64; REPLY_ERRORS.len()],
    /// Events that found the queue full.
    pub events_lost: u64,
}

impl SenderChannel {
    /// A channel for `spec`, checked by [`SenderSpec::validate`], sent by
    /// worker `slot % workers` (give sessions consecutive slots to spread
    /// them over the workers).
    pub fn new(spec: SenderSpec, slot: usize) -> Result<Arc<SenderChannel>, SpecError> {
        spec.validate()?;
        Ok(Arc::new(SenderChannel {
            spec,
            events: ArrayQueue::new(EVENT_QUEUE_CAPACITY),
            events_lost: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            send_failed: AtomicU64::new(0),
            late: AtomicU64::new(0),
            replies: AtomicU64::new(0),
            reply_errors: std::array::from_fn(|_| AtomicU64::new(0)),
            finished: AtomicBool::new(false),
            slot,
        }))
    }

    /// The worker slot (see [`SenderChannel::new`]).
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// The spec.
    pub fn spec(&self) -> &SenderSpec {
        &self.spec
    }

    /// True once every test packet of a counted session has been sent.
    pub fn finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Test packets sent by this run of the session so far. Acquire: pairs
    /// with [`SenderChannel::on_sent`]'s Release, so a worker that reads a
    /// reply sees every packet counted before it left (on x86 the same
    /// instructions as Relaxed).
    #[inline]
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Acquire)
    }

    /// The counters.
    pub fn counters(&self) -> ChannelCounters {
        ChannelCounters {
            sent: self.sent.load(Ordering::Relaxed),
            send_failed: self.send_failed.load(Ordering::Relaxed),
            late: self.late.load(Ordering::Relaxed),
            replies: self.replies.load(Ordering::Relaxed),
            reply_errors: std::array::from_fn(|i| self.reply_errors[i].load(Ordering::Relaxed)),
            events_lost: self.events_lost.load(Ordering::Relaxed),
        }
    }

    /// Calls `f` with every queued event, oldest first, and returns how
    /// many there were.
    pub fn drain(&self, mut f: impl FnMut(SenderEvent)) -> usize {
        let mut n = 0;
        while let Some(e) = self.events.pop() {
            f(e);
            n += 1;
        }
        n
    }

    /// Queues an event (worker side); counts it as lost if the queue is full.
    #[inline]
    pub(crate) fn report(&self, event: SenderEvent) {
        if self.events.push(event).is_err() {
            self.events_lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[inline]
    pub(crate) fn on_sent(&self, seq: u32, t1: i64) {
        self.sent.fetch_add(1, Ordering::Release);
        self.report(SenderEvent::Sent { seq, t1 });
    }

    #[inline]
    pub(crate) fn on_send_failed(&self) {
        self.send_failed.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn on_late(&self) {
        self.late.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn on_reply(&self, record: Record) {
        self.replies.fetch_add(1, Ordering::Relaxed);
        self.report(SenderEvent::Reply(record));
    }

    #[inline]
    pub(crate) fn on_reply_error(&self, e: ReplyError) {
        self.reply_errors[reply_error_index(e)].fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn set_finished(&self) {
        self.finished.store(true, Ordering::Release);
    }

    /// True if a UDP datagram to `dst`:`dst_port` from port `src_port` is
    /// addressed like a reply of this session.
    #[inline]
    pub(crate) fn matches_reply(&self, dst: Ipv6Addr, dst_port: u16, src_port: u16) -> bool {
        self.spec.source == dst && self.spec.src_port == dst_port && self.spec.dst_port == src_port
    }
}

/// One published set of sessions.
#[derive(Debug, Default)]
pub struct SenderTable {
    sessions: Vec<Arc<SenderChannel>>,
}

impl SenderTable {
    /// The sessions, in the order workers are assigned them.
    pub fn sessions(&self) -> &[Arc<SenderChannel>] {
        &self.sessions
    }
}

/// Too many sessions for one set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} STAMP sender sessions: at most {MAX_SENDER_SESSIONS}")]
pub struct TooManySessions(pub usize);

/// The engine's sender sessions: the control plane publishes whole sets,
/// workers pick a new set up within one loop iteration.
///
/// A session keeps running across publications as long as the same
/// [`SenderChannel`] (the same `Arc`) stays in the set: its Sequence
/// Numbers continue. A channel left out is stopped; a new one starts with
/// Sequence Number 0 and sends its first packet at once.
pub struct SenderSessions {
    table: Published<SenderTable>,
    generation: AtomicU64,
}

impl std::fmt::Debug for SenderSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderSessions")
            .field("sessions", &self.table.load().sessions.len())
            .field("generation", &self.generation())
            .finish()
    }
}

impl Default for SenderSessions {
    fn default() -> Self {
        SenderSessions {
            table: Published::new(SenderTable::default()),
            generation: AtomicU64::new(0),
        }
    }
}

impl SenderSessions {
    /// No sessions.
    pub fn new() -> Arc<SenderSessions> {
        Arc::new(SenderSessions::default())
    }

    /// Replaces the set of sessions.
    pub fn publish(&self, sessions: Vec<Arc<SenderChannel>>) -> Result<(), TooManySessions> {
        if sessions.len() > MAX_SENDER_SESSIONS {
            return Err(TooManySessions(sessions.len()));
        }
        self.table.store(Arc::new(SenderTable { sessions }));
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// The current set.
    pub fn current(&self) -> Arc<SenderTable> {
        self.table.load_full()
    }

    /// Bumped by every [`publish`](Self::publish): one relaxed load tells a
    /// worker whether to look at the set again.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The set, for a worker (lock-free, allocation-free).
    #[inline]
    pub(crate) fn load(&self) -> crate::fib::Snapshot<SenderTable> {
        self.table.load()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stamp::packet::Mode;
    use stamp::time::{ErrorEstimate, TimestampFormat};

    fn spec(segments: usize) -> SenderSpec {
        SenderSpec {
            name: "s".into(),
            source: "fc00::1".parse().unwrap(),
            segments: (0..segments)
                .map(|i| Ipv6Addr::new(0xfc00, 2, 0, 0, 0, 0, 0, i as u16 + 1))
                .collect(),
            src_port: 50862,
            dst_port: 862,
            interval: Duration::from_millis(10),
            count: Some(5),
            duration: None,
            traffic_class: 0,
            session: SenderSession::new(
                7,
                Mode::Unauthenticated,
                None,
                TimestampFormat::Ntp,
                ErrorEstimate {
                    scale: 22,
                    multiplier: 1,
                    ..ErrorEstimate::default()
                },
                44,
            )
            .unwrap(),
        }
    }

    #[test]
    fn specs_are_checked() {
        assert!(spec(1).validate().is_ok());
        assert!(spec(16).validate().is_ok());
        assert_eq!(spec(0).validate(), Err(SpecError::Segments(0)));
        assert_eq!(spec(17).validate(), Err(SpecError::Segments(17)));
        let mut s = spec(2);
        s.interval = Duration::from_micros(999);
        assert_eq!(s.validate(), Err(SpecError::Interval(s.interval)));
        let mut s = spec(2);
        s.count = Some(0);
        assert_eq!(s.validate(), Err(SpecError::ZeroCount));
        let mut s = spec(2);
        s.duration = Some(Duration::ZERO);
        assert_eq!(s.validate(), Err(SpecError::ZeroDuration));
        let mut s = spec(2);
        s.src_port = 0;
        assert_eq!(s.validate(), Err(SpecError::ZeroPort));
        assert!(SenderChannel::new(spec(0), 0).is_err());
    }

    #[test]
    fn events_are_bounded_and_overflow_is_counted() {
        let ch = SenderChannel::new(spec(2), 0).unwrap();
        for i in 0..EVENT_QUEUE_CAPACITY as u32 + 10 {
            ch.on_sent(i, i64::from(i));
        }
        let c = ch.counters();
        assert_eq!(c.sent, EVENT_QUEUE_CAPACITY as u64 + 10);
        assert_eq!(c.events_lost, 10);
        let mut seen = Vec::new();
        assert_eq!(
            ch.drain(|e| seen.push(e)),
            EVENT_QUEUE_CAPACITY,
            "the queue keeps the oldest events"
        );
        assert_eq!(seen[0], SenderEvent::Sent { seq: 0, t1: 0 });
        assert_eq!(ch.drain(|_| {}), 0);
    }

    #[test]
    fn replies_are_matched_by_address_and_both_ports() {
        let ch = SenderChannel::new(spec(2), 0).unwrap();
        let src: Ipv6Addr = "fc00::1".parse().unwrap();
        assert!(ch.matches_reply(src, 50862, 862));
        assert!(!ch.matches_reply(src, 862, 50862));
        assert!(!ch.matches_reply("fc00::2".parse().unwrap(), 50862, 862));
    }

    #[test]
    fn publishing_bumps_the_generation_and_bounds_the_set() {
        let s = SenderSessions::new();
        let g = s.generation();
        let ch = SenderChannel::new(spec(1), 0).unwrap();
        s.publish(vec![ch.clone()]).unwrap();
        assert_eq!(s.generation(), g + 1);
        assert!(Arc::ptr_eq(&s.current().sessions()[0], &ch));
        let many = vec![ch; MAX_SENDER_SESSIONS + 1];
        assert_eq!(
            s.publish(many),
            Err(TooManySessions(MAX_SENDER_SESSIONS + 1))
        );
        assert_eq!(s.generation(), g + 1, "a refused set changes nothing");
        assert_eq!(s.current().sessions().len(), 1);
    }
}
