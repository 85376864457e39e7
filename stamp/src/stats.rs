//! Statistics of a STAMP session, computed on the Session-Sender's side.
//!
//! What it is: plain data and arithmetic over the four timestamps of each
//! reflected test packet and over the sequence numbers sent and received:
//! delays ([`Record`]), a running mean and variance ([`Welford`]), delay
//! distributions with HDR percentiles ([`DelayStats`]), loss, duplicates,
//! reordering and late replies ([`SequenceTracker`]), the delay variation
//! ([`IpdvStats`]), all of them together ([`SessionStats`] and its plain
//! [`StatsSummary`]), and a bounded queue of raw records for export
//! ([`RecordQueue`]).
//!
//! What it is not: it reads no clock and does no I/O. Every timestamp is
//! handed in by the caller as **Unix time in nanoseconds in an `i64`**
//! (nanoseconds since 1970-01-01T00:00:00 UTC; an `i64` lasts until the
//! year 2262, and converting from the NTP or PTP formats of the packets is
//! the job of [`crate::time`]). Every delay is a signed `i64` number of
//! nanoseconds; all arithmetic on timestamps saturates instead of
//! overflowing, so no input makes this module panic.
//!
//! Memory is bounded whatever the input: the sequence window is
//! [`SEQUENCE_WINDOW`] sequence numbers (2 × 8 KiB of bitmaps), the IPDV
//! window [`IPDV_WINDOW`] packets (16 KiB), every HDR histogram grows only
//! up to [`MAX_TRACKABLE_NS`] (see [`DelayStats`]) and a [`RecordQueue`]
//! never holds more than its capacity.

use std::collections::VecDeque;
use std::fmt;

use hdrhistogram::Histogram;

// ---------------------------------------------------------------------------
// Record
// ---------------------------------------------------------------------------

/// One reflected test packet, as seen by the Session-Sender when the
/// reflected packet comes back (RFC 8762 section 4).
///
/// All four timestamps are Unix time in nanoseconds. T1 and T4 are read on
/// the sender's clock, T2 and T3 on the reflector's clock: unless the two
/// clocks are synchronised, the one-way delays mix in the clock offset and
/// may even be negative, while the round trip and the reflector residence
/// time are each measured on one clock and are always meaningful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Record {
    /// Sequence number of the Session-Sender test packet (echoed by the
    /// reflector in the "Session-Sender Sequence Number" field).
    pub seq: u32,
    /// T1: the Session-Sender transmitted the test packet (sender clock).
    pub t1: i64,
    /// T2: the Session-Reflector received it (reflector clock; the
    /// "Receive Timestamp" field).
    pub t2: i64,
    /// T3: the Session-Reflector transmitted the reply (reflector clock;
    /// the "Timestamp" field of the reflected packet).
    pub t3: i64,
    /// T4: the Session-Sender received the reply (sender clock).
    pub t4: i64,
    /// The "Session-Sender TTL" field of the reply: the TTL or Hop Limit of
    /// the test packet when it reached the reflector.
    pub sender_ttl: u8,
}

/// Clamps an `i128` into the `i64` range (saturation).
fn saturate(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

impl Record {
    /// Forward (near-end to far-end) one-way delay d_f = T2 − T1, in ns.
    ///
    /// Meaningful only if the sender's and reflector's clocks are
    /// synchronised; otherwise it carries the clock offset and may be
    /// negative. Saturates at the `i64` bounds.
    pub fn forward_delay(&self) -> i64 {
        saturate(i128::from(self.t2) - i128::from(self.t1))
    }

    /// Backward (far-end to near-end) one-way delay d_b = T4 − T3, in ns.
    ///
    /// Meaningful only with synchronised clocks, like
    /// [`forward_delay`](Self::forward_delay). Saturates at the `i64` bounds.
    pub fn backward_delay(&self) -> i64 {
        saturate(i128::from(self.t4) - i128::from(self.t3))
    }

    /// Round-trip delay (T4 − T1) − (T3 − T2), in ns: the time the packet
    /// spent on the wire both ways, without the reflector's residence time.
    ///
    /// Independent of the clock offset between sender and reflector (each
    /// difference is taken on one clock). Computed exactly in `i128` and
    /// saturated to the `i64` bounds at the end.
    pub fn round_trip(&self) -> i64 {
        let sender = i128::from(self.t4) - i128::from(self.t1);
        let reflector = i128::from(self.t3) - i128::from(self.t2);
        saturate(sender - reflector)
    }

    /// Reflector residence time T3 − T2, in ns (reflector clock only).
    /// Saturates at the `i64` bounds.
    pub fn reflector_residence(&self) -> i64 {
        saturate(i128::from(self.t3) - i128::from(self.t2))
    }
}

// ---------------------------------------------------------------------------
// Welford
// ---------------------------------------------------------------------------

/// Running count, mean, variance, minimum and maximum of `f64` samples,
/// in one pass and constant memory (Welford, 1962; merge by Chan, Golub and
/// LeVeque, 1979).
///
/// Numerically stable: it accumulates the sum of squared deviations from
/// the running mean (`m2`), not the sum of squares. NaN samples are
/// ignored (not counted).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Welford {
    count: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl Welford {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample. A NaN is ignored.
    pub fn push(&mut self, x: f64) {
        if x.is_nan() {
            return;
        }
        if self.count == 0 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// Combines `other` into `self`, as if every sample of `other` had been
    /// pushed into `self` (Chan et al.'s parallel formula).
    pub fn merge(&mut self, other: &Welford) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        let na = self.count as f64;
        let nb = other.count as f64;
        let n = na + nb;
        let delta = other.mean - self.mean;
        self.mean += delta * nb / n;
        self.m2 += other.m2 + delta * delta * na * nb / n;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Number of samples pushed (NaNs excluded).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Arithmetic mean; `None` without samples.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then_some(self.mean)
    }

    /// Sample variance, Σ(x − mean)² / (n − 1); `None` with fewer than two
    /// samples.
    pub fn sample_variance(&self) -> Option<f64> {
        (self.count > 1).then(|| (self.m2 / (self.count - 1) as f64).max(0.0))
    }

    /// Population variance, Σ(x − mean)² / n; `None` without samples.
    pub fn population_variance(&self) -> Option<f64> {
        (self.count > 0).then(|| (self.m2 / self.count as f64).max(0.0))
    }

    /// Sample standard deviation, the square root of
    /// [`sample_variance`](Self::sample_variance).
    pub fn sample_stddev(&self) -> Option<f64> {
        self.sample_variance().map(f64::sqrt)
    }

    /// Smallest sample; `None` without samples.
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    /// Largest sample; `None` without samples.
    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }
}

// ---------------------------------------------------------------------------
// DelayStats
// ---------------------------------------------------------------------------

/// Largest magnitude, in ns, that goes into a [`DelayStats`] histogram
/// (one hour). A value beyond it is recorded in the histogram as this value
/// and counted in `clamped`; the mean, variance, minimum and maximum still
/// use the exact value.
pub const MAX_TRACKABLE_NS: u64 = 3_600_000_000_000;

/// Significant decimal digits kept by the HDR histograms: a percentile is
/// within 0.1 % of the true sample value (the bucket holding a value `v`
/// is at most `v / 1024` wide).
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// A new auto-resizing histogram.
fn new_histogram() -> Histogram<u64> {
    // Cannot fail: the only error of `new` is more than 5 significant
    // digits, and SIGNIFICANT_DIGITS is 3.
    Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits are accepted by hdrhistogram")
}

/// Records `magnitude` (already clamped to MAX_TRACKABLE_NS).
fn record_magnitude(hist: &mut Histogram<u64>, magnitude: u64) {
    // Auto-resize grows the histogram up to MAX_TRACKABLE_NS; should the
    // record fail nonetheless, saturating_record keeps the sample.
    if hist.record(magnitude).is_err() {
        hist.saturating_record(magnitude);
    }
}

/// The value of the `rank`-th smallest recorded sample (1-based), as the
/// highest value of its histogram bucket if `upper`, else the lowest.
fn value_at_rank(hist: &Histogram<u64>, rank: u64, upper: bool) -> Option<u64> {
    let mut seen = 0u64;
    for step in hist.iter_recorded() {
        seen = seen.saturating_add(step.count_since_last_iteration());
        if seen >= rank {
            let v = step.value_iterated_to();
            return Some(if upper {
                hist.highest_equivalent(v)
            } else {
                hist.lowest_equivalent(v)
            });
        }
    }
    None
}

/// The distribution of one kind of delay (or delay variation), in signed
/// nanoseconds: exact count, mean, sample standard deviation, minimum and
/// maximum ([`Welford`] plus exact `i64` extremes), and percentiles from
/// HDR histograms.
///
/// Negative values (one-way delays between unsynchronised clocks) cannot go
/// into an HDR histogram, so they go, by magnitude, into a second histogram
/// of their own, and are counted in [`negative`](Self::negative). The
/// percentiles are taken over all samples, negative ones included: the
/// negative histogram is read in reverse below the positive one. Zero counts
/// as non-negative.
///
/// A magnitude above [`MAX_TRACKABLE_NS`] enters its histogram as
/// `MAX_TRACKABLE_NS` and is counted in [`clamped`](Self::clamped);
/// percentiles that fall on clamped samples (other than the smallest and
/// the largest) are therefore capped at ±one hour, while minimum, maximum,
/// mean and deviation stay exact.
///
/// Memory: each of the two histograms auto-resizes from 16 KiB up to what
/// its largest magnitude needs: 120 KiB for magnitudes up to 10 ms,
/// 170 KiB up to 1 s, at most 264 KiB at `MAX_TRACKABLE_NS`.
#[derive(Clone)]
pub struct DelayStats {
    welford: Welford,
    min: Option<i64>,
    max: Option<i64>,
    negative: u64,
    clamped: u64,
    /// Non-negative samples.
    positive_hist: Histogram<u64>,
    /// Magnitudes of the negative samples.
    negative_hist: Histogram<u64>,
}

impl fmt::Debug for DelayStats {
    // The histograms' own Debug prints every bucket; show the summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelayStats")
            .field("summary", &self.summary())
            .finish()
    }
}

/// Whether two histograms hold the same samples (bucket by bucket),
/// whatever size auto-resizing left them at.
fn same_samples(a: &Histogram<u64>, b: &Histogram<u64>) -> bool {
    let buckets = |h: &Histogram<u64>| {
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect::<Vec<_>>()
    };
    a.len() == b.len() && buckets(a) == buckets(b)
}

impl PartialEq for DelayStats {
    /// Equal when they hold the same samples: the histograms are compared
    /// by content, not by allocated size.
    fn eq(&self, other: &Self) -> bool {
        self.welford == other.welford
            && self.min == other.min
            && self.max == other.max
            && self.negative == other.negative
            && self.clamped == other.clamped
            && same_samples(&self.positive_hist, &other.positive_hist)
            && same_samples(&self.negative_hist, &other.negative_hist)
    }
}

impl Default for DelayStats {
    fn default() -> Self {
        Self::new()
    }
}

impl DelayStats {
    /// No samples.
    pub fn new() -> Self {
        Self {
            welford: Welford::new(),
            min: None,
            max: None,
            negative: 0,
            clamped: 0,
            positive_hist: new_histogram(),
            negative_hist: new_histogram(),
        }
    }

    /// Adds one sample of `ns` nanoseconds (any sign).
    pub fn record(&mut self, ns: i64) {
        self.welford.push(ns as f64);
        self.min = Some(self.min.map_or(ns, |m| m.min(ns)));
        self.max = Some(self.max.map_or(ns, |m| m.max(ns)));
        let magnitude = ns.unsigned_abs();
        let kept = if magnitude > MAX_TRACKABLE_NS {
            self.clamped += 1;
            MAX_TRACKABLE_NS
        } else {
            magnitude
        };
        if ns < 0 {
            self.negative += 1;
            record_magnitude(&mut self.negative_hist, kept);
        } else {
            record_magnitude(&mut self.positive_hist, kept);
        }
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.welford.count()
    }

    /// Number of negative samples.
    pub fn negative(&self) -> u64 {
        self.negative
    }

    /// Number of samples whose magnitude exceeded [`MAX_TRACKABLE_NS`].
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// Smallest sample, exact.
    pub fn min(&self) -> Option<i64> {
        self.min
    }

    /// Largest sample, exact.
    pub fn max(&self) -> Option<i64> {
        self.max
    }

    /// The running mean and variance of the samples (as `f64`).
    pub fn welford(&self) -> &Welford {
        &self.welford
    }

    /// The `q`-quantile (`q` in `0.0..=1.0`, e.g. `0.99` for p99) of all
    /// samples, nearest-rank definition: the smallest sample such that at
    /// least `q × count` samples are at or below it (the smallest sample
    /// for `q = 0`).
    ///
    /// Within HDR precision ([`SIGNIFICANT_DIGITS`]): the result is the
    /// end of the bucket holding that sample that is farther from −∞ (the
    /// upper end for a positive sample, the end nearer zero for a negative
    /// one), then kept within the exact minimum and maximum, so it is never
    /// below the true sample and above it by at most 0.1 % of its
    /// magnitude. The first and last ranks are exact (the minimum and the
    /// maximum). `None` without samples or if `q` is NaN; `q` outside
    /// `0..=1` is clamped.
    pub fn quantile(&self, q: f64) -> Option<i64> {
        if q.is_nan() {
            return None;
        }
        let (min, max) = (self.min?, self.max?);
        let total = self.count();
        let q = q.clamp(0.0, 1.0);
        // Nearest rank, 1-based; the product is exact enough for counts
        // below 2^52, and the clamp keeps it in range in any case.
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        // The extremes are known exactly.
        if rank == 1 {
            return Some(min);
        }
        if rank == total {
            return Some(max);
        }
        let neg = self.negative;
        let value = if rank <= neg {
            // The rank-th smallest negative sample is the one with the
            // (neg − rank + 1)-th smallest magnitude.
            let m = value_at_rank(&self.negative_hist, neg - rank + 1, false)?;
            -i64::try_from(m).unwrap_or(i64::MAX)
        } else {
            let m = value_at_rank(&self.positive_hist, rank - neg, true)?;
            i64::try_from(m).unwrap_or(i64::MAX)
        };
        Some(value.clamp(min, max))
    }

    /// Plain-data view: counts, extremes, mean, deviation and percentiles.
    pub fn summary(&self) -> DelaySummary {
        DelaySummary {
            count: self.count(),
            negative: self.negative,
            clamped: self.clamped,
            min_ns: self.min,
            max_ns: self.max,
            mean_ns: self.welford.mean(),
            stddev_ns: self.welford.sample_stddev(),
            p50_ns: self.quantile(0.50),
            p90_ns: self.quantile(0.90),
            p95_ns: self.quantile(0.95),
            p99_ns: self.quantile(0.99),
            p999_ns: self.quantile(0.999),
        }
    }

    /// Forgets every sample (keeps the histograms' memory).
    pub fn reset(&mut self) {
        self.welford = Welford::new();
        self.min = None;
        self.max = None;
        self.negative = 0;
        self.clamped = 0;
        self.positive_hist.reset();
        self.negative_hist.reset();
    }
}

/// Plain-data summary of a [`DelayStats`], in nanoseconds. Every optional
/// field is `None` without samples (`stddev_ns` with fewer than two).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DelaySummary {
    /// Number of samples.
    pub count: u64,
    /// Samples below zero (kept in every statistic, percentiles included).
    pub negative: u64,
    /// Samples whose magnitude exceeded [`MAX_TRACKABLE_NS`]: exact in
    /// min, max, mean and stddev, capped at ±`MAX_TRACKABLE_NS` in the
    /// percentiles.
    pub clamped: u64,
    /// Smallest sample (exact).
    pub min_ns: Option<i64>,
    /// Largest sample (exact).
    pub max_ns: Option<i64>,
    /// Arithmetic mean.
    pub mean_ns: Option<f64>,
    /// Sample standard deviation (n − 1 denominator).
    pub stddev_ns: Option<f64>,
    /// Median (nearest rank, HDR precision, see [`DelayStats::quantile`]).
    pub p50_ns: Option<i64>,
    /// 90th percentile.
    pub p90_ns: Option<i64>,
    /// 95th percentile.
    pub p95_ns: Option<i64>,
    /// 99th percentile.
    pub p99_ns: Option<i64>,
    /// 99.9th percentile.
    pub p999_ns: Option<i64>,
}

// ---------------------------------------------------------------------------
// SequenceTracker
// ---------------------------------------------------------------------------

/// How many consecutive sequence numbers, ending at the highest one sent,
/// a [`SequenceTracker`] remembers (sent or not, replied or not).
pub const SEQUENCE_WINDOW: u64 = 65_536;

const WINDOW_WORDS: usize = (SEQUENCE_WINDOW / 64) as usize;

/// The extended index given to the first sequence number sent: far enough
/// from zero that going back half the `u32` space cannot underflow.
const INDEX_BASE: u64 = 1 << 32;

/// A fixed bitmap of [`SEQUENCE_WINDOW`] bits indexed by extended sequence
/// index modulo the window.
#[derive(Clone, PartialEq, Eq)]
struct WindowBits(Box<[u64]>);

impl WindowBits {
    fn new() -> Self {
        Self(vec![0u64; WINDOW_WORDS].into_boxed_slice())
    }
    fn slot(index: u64) -> (usize, u64) {
        let bit = index % SEQUENCE_WINDOW;
        ((bit / 64) as usize, 1u64 << (bit % 64))
    }
    fn get(&self, index: u64) -> bool {
        let (w, m) = Self::slot(index);
        self.0[w] & m != 0
    }
    fn set(&mut self, index: u64) {
        let (w, m) = Self::slot(index);
        self.0[w] |= m;
    }
    fn clear(&mut self, index: u64) {
        let (w, m) = Self::slot(index);
        self.0[w] &= !m;
    }
    fn clear_all(&mut self) {
        self.0.fill(0);
    }
}

/// What a reply was, as classified by [`SequenceTracker::on_reply`].
///
/// `index` is the extended sequence number: the `u32` sequence number
/// unwrapped into a `u64` that keeps increasing across wrap-arounds (the
/// first sequence number sent gets `2^32 + seq`); consecutive packets have
/// consecutive indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyKind {
    /// First reply for this packet, with a sequence number above every one
    /// received before.
    InOrder {
        /// Extended sequence number.
        index: u64,
    },
    /// First reply for this packet, but a higher sequence number was
    /// received before (RFC 4737 "reordered").
    Reordered {
        /// Extended sequence number.
        index: u64,
    },
    /// A second or later reply for a packet already received.
    Duplicate,
    /// A reply for a packet sent more than [`SEQUENCE_WINDOW`] sequence
    /// numbers before the highest one sent: too old to tell whether it is
    /// a first copy or a duplicate.
    Late,
    /// A reply for a sequence number never sent (ahead of the highest one
    /// sent, a gap in what was sent, or anything before the first send).
    Unexpected,
}

/// The counters of a [`SequenceTracker`], plain data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct SequenceCounts {
    /// Test packets sent (calls of `on_sent`).
    pub sent: u64,
    /// Distinct packets for which a reply was received (first copies, not
    /// late). Never more than `sent`.
    pub received: u64,
    /// `sent − received`: never negative. Includes packets still in flight
    /// and late replies.
    pub lost: u64,
    /// Extra copies of a reply already received.
    pub duplicates: u64,
    /// First copies that arrived after a higher sequence number
    /// (RFC 4737 section 3.3), each packet counted at most once.
    pub reordered: u64,
    /// Replies too old for the window (see [`ReplyKind::Late`]); counted
    /// neither as received nor as duplicates, hence part of `lost`.
    pub late: u64,
    /// Replies for sequence numbers never sent (see
    /// [`ReplyKind::Unexpected`]).
    pub unexpected: u64,
}

/// Loss, duplication and reordering from the sequence numbers sent and the
/// sequence numbers of the replies received, on the Session-Sender's side.
///
/// Sequence numbers are compared in serial-number arithmetic (RFC 1982):
/// a number within 2^31 ahead of the reference is ahead, otherwise behind;
/// each is unwrapped against the highest sequence number sent into an
/// ever-increasing extended index, so the `u32` wrap-around from
/// 4 294 967 295 to 0 is just the next packet.
///
/// Reordering follows RFC 4737 section 3.3: a packet is reordered if its
/// sequence number is lower than the next one expected, that is lower than
/// the highest received so far; duplicates are not reordered packets and a
/// packet is counted at most once.
///
/// Bounds: the tracker remembers, for the last [`SEQUENCE_WINDOW`]
/// (65 536) sequence numbers up to the highest one sent, whether each was
/// sent and whether a reply came back: two bitmaps of 8 KiB, allocated once.
/// A reply older than that window is [`ReplyKind::Late`]; a reply for a
/// number not marked as sent is [`ReplyKind::Unexpected`]. So `received`
/// never exceeds `sent` and `received + lost == sent` always holds. The
/// cost of `on_sent` is O(1), or O(gap) when the caller skips sequence
/// numbers (at most one window).
#[derive(Clone, PartialEq, Eq)]
pub struct SequenceTracker {
    counts: SequenceCounts,
    highest_sent: Option<u64>,
    highest_received: Option<u64>,
    sent_bits: WindowBits,
    received_bits: WindowBits,
}

impl fmt::Debug for SequenceTracker {
    // Leave the bitmaps out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequenceTracker")
            .field("counts", &self.counts())
            .field("highest_sent", &self.highest_sent)
            .field("highest_received", &self.highest_received)
            .finish()
    }
}

impl Default for SequenceTracker {
    fn default() -> Self {
        Self::new()
    }
}

/// Unwraps `seq` against the extended index `reference`.
fn unwrap_seq(seq: u32, reference: u64) -> u64 {
    // Truncation intended: the low 32 bits of the reference.
    let delta = seq.wrapping_sub(reference as u32) as i32;
    if delta >= 0 {
        reference.saturating_add(delta as u64)
    } else {
        reference.saturating_sub(u64::from(delta.unsigned_abs()))
    }
}

impl SequenceTracker {
    /// Nothing sent, nothing received.
    pub fn new() -> Self {
        Self {
            counts: SequenceCounts::default(),
            highest_sent: None,
            highest_received: None,
            sent_bits: WindowBits::new(),
            received_bits: WindowBits::new(),
        }
    }

    /// The Session-Sender transmitted the test packet `seq`.
    ///
    /// A sequence number more than the window behind the highest one sent
    /// is counted as sent, but a reply to it will be `Late`.
    pub fn on_sent(&mut self, seq: u32) {
        self.counts.sent = self.counts.sent.saturating_add(1);
        let Some(highest) = self.highest_sent else {
            let index = INDEX_BASE + u64::from(seq);
            self.highest_sent = Some(index);
            self.sent_bits.set(index);
            return;
        };
        let index = unwrap_seq(seq, highest);
        if index > highest {
            // Slide the window: the slots of (highest, index] now stand
            // for new sequence numbers.
            if index - highest >= SEQUENCE_WINDOW {
                self.sent_bits.clear_all();
                self.received_bits.clear_all();
            } else {
                for i in highest + 1..=index {
                    self.sent_bits.clear(i);
                    self.received_bits.clear(i);
                }
            }
            self.highest_sent = Some(index);
            self.sent_bits.set(index);
        } else if highest - index < SEQUENCE_WINDOW {
            self.sent_bits.set(index);
        }
    }

    /// A reply carrying the Session-Sender sequence number `seq` arrived;
    /// classifies it and updates the counters.
    pub fn on_reply(&mut self, seq: u32) -> ReplyKind {
        let Some(highest) = self.highest_sent else {
            self.counts.unexpected = self.counts.unexpected.saturating_add(1);
            return ReplyKind::Unexpected;
        };
        let index = unwrap_seq(seq, highest);
        if index > highest {
            self.counts.unexpected = self.counts.unexpected.saturating_add(1);
            return ReplyKind::Unexpected;
        }
        if highest - index >= SEQUENCE_WINDOW {
            self.counts.late = self.counts.late.saturating_add(1);
            return ReplyKind::Late;
        }
        if !self.sent_bits.get(index) {
            self.counts.unexpected = self.counts.unexpected.saturating_add(1);
            return ReplyKind::Unexpected;
        }
        if self.received_bits.get(index) {
            self.counts.duplicates = self.counts.duplicates.saturating_add(1);
            return ReplyKind::Duplicate;
        }
        self.received_bits.set(index);
        self.counts.received = self.counts.received.saturating_add(1);
        match self.highest_received {
            Some(r) if index < r => {
                self.counts.reordered = self.counts.reordered.saturating_add(1);
                ReplyKind::Reordered { index }
            }
            _ => {
                self.highest_received = Some(index);
                ReplyKind::InOrder { index }
            }
        }
    }

    /// The counters; `lost` is computed as `sent − received`.
    pub fn counts(&self) -> SequenceCounts {
        SequenceCounts {
            lost: self.counts.sent.saturating_sub(self.counts.received),
            ..self.counts
        }
    }

    /// Back to nothing sent, nothing received.
    pub fn reset(&mut self) {
        self.counts = SequenceCounts::default();
        self.highest_sent = None;
        self.highest_received = None;
        self.sent_bits.clear_all();
        self.received_bits.clear_all();
    }
}

// ---------------------------------------------------------------------------
// IPDV
// ---------------------------------------------------------------------------

/// How many recent packets (by extended sequence number) the IPDV keeps the
/// round-trip delay of, to pair a packet with its neighbours in sequence
/// even when they arrive out of order.
pub const IPDV_WINDOW: usize = 1024;

/// Inter-packet delay variation (RFC 3393, RFC 5481 section 1.2) of the
/// **round-trip** delay, which needs no clock synchronisation:
/// for two packets consecutive in sequence, i − 1 and i, both received,
/// IPDV(i) = RTT(i) − RTT(i − 1).
///
/// A pair is formed when the second of the two arrives, in whatever order
/// (the delays of the last [`IPDV_WINDOW`] sequence numbers are kept); a
/// pair with a lost packet, or whose partner is more than `IPDV_WINDOW`
/// sequence numbers away from the newest, is not formed, as RFC 5481
/// prescribes for IPDV. Only first copies of replies count.
///
/// Reported: the signed mean of IPDV (close to zero over a long run), the
/// distribution of |IPDV| (mean absolute IPDV, max |IPDV| and percentiles),
/// and an RFC 3550 (section 6.4.1) style smoothed jitter J, updated with
/// J += (|IPDV| − J) / 16 for each pair in the order the pairs are formed
/// (RFC 3550 uses arrival order on one-way transit times; here the input is
/// the round trip, so the figure is comparable in spirit, not in value).
#[derive(Debug, Clone, PartialEq)]
pub struct IpdvStats {
    /// `(index, rtt)` of recent packets, slot `index % IPDV_WINDOW`.
    recent: Vec<Option<(u64, i64)>>,
    signed: Welford,
    abs: DelayStats,
    jitter: f64,
}

impl Default for IpdvStats {
    fn default() -> Self {
        Self::new()
    }
}

impl IpdvStats {
    /// No pairs.
    pub fn new() -> Self {
        Self {
            recent: vec![None; IPDV_WINDOW],
            signed: Welford::new(),
            abs: DelayStats::new(),
            jitter: 0.0,
        }
    }

    fn slot(index: u64) -> usize {
        (index % IPDV_WINDOW as u64) as usize
    }

    fn pair(&mut self, ipdv: i64) {
        self.signed.push(ipdv as f64);
        let abs = ipdv.saturating_abs();
        self.abs.record(abs);
        self.jitter += (abs as f64 - self.jitter) / 16.0;
    }

    /// The first reply of the packet with extended sequence number `index`
    /// (see [`ReplyKind`]) came back with round-trip delay `rtt_ns`.
    pub fn on_delay(&mut self, index: u64, rtt_ns: i64) {
        if let Some(prev) = index.checked_sub(1) {
            if let Some((i, d)) = self.recent[Self::slot(prev)] {
                if i == prev {
                    self.pair(rtt_ns.saturating_sub(d));
                }
            }
        }
        if let Some(next) = index.checked_add(1) {
            if let Some((i, d)) = self.recent[Self::slot(next)] {
                if i == next {
                    self.pair(d.saturating_sub(rtt_ns));
                }
            }
        }
        self.recent[Self::slot(index)] = Some((index, rtt_ns));
    }

    /// Plain-data view.
    pub fn summary(&self) -> IpdvSummary {
        IpdvSummary {
            pairs: self.signed.count(),
            mean_ns: self.signed.mean(),
            abs: self.abs.summary(),
            jitter_ns: self.jitter,
        }
    }

    /// Forgets every pair and every remembered delay.
    pub fn reset(&mut self) {
        self.recent.fill(None);
        self.signed = Welford::new();
        self.abs.reset();
        self.jitter = 0.0;
    }
}

/// Plain-data summary of an [`IpdvStats`], in nanoseconds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IpdvSummary {
    /// Number of IPDV pairs (consecutive sequence numbers both received).
    pub pairs: u64,
    /// Signed mean of IPDV; `None` without pairs.
    pub mean_ns: Option<f64>,
    /// Distribution of |IPDV|: `abs.mean_ns` is the mean absolute IPDV,
    /// `abs.max_ns` the max |IPDV|, plus percentiles.
    pub abs: DelaySummary,
    /// RFC 3550-style smoothed jitter, J += (|IPDV| − J) / 16 (0 without
    /// pairs).
    pub jitter_ns: f64,
}

// ---------------------------------------------------------------------------
// SessionStats
// ---------------------------------------------------------------------------

/// All the statistics of one STAMP session on the Session-Sender's side.
///
/// Feed it every test packet sent ([`on_sent`](Self::on_sent)) and every
/// reply received ([`on_reply`](Self::on_reply)); read it with
/// [`summary`](Self::summary). Only the first copy of a reply for a packet
/// that was sent and is within the sequence window feeds the delay
/// statistics; duplicates, late and unexpected replies only move their
/// counters.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionStats {
    clocks_synchronized: bool,
    sequence: SequenceTracker,
    round_trip: DelayStats,
    forward: DelayStats,
    backward: DelayStats,
    reflector_residence: DelayStats,
    ipdv: IpdvStats,
}

impl SessionStats {
    /// A new session. `clocks_synchronized` says whether the caller knows
    /// the sender's and reflector's clocks to be synchronised (e.g. both
    /// PTP- or NTP-disciplined); it decides whether the one-way delays of
    /// the summary are valid and is kept across [`reset`](Self::reset).
    pub fn new(clocks_synchronized: bool) -> Self {
        Self {
            clocks_synchronized,
            sequence: SequenceTracker::new(),
            round_trip: DelayStats::new(),
            forward: DelayStats::new(),
            backward: DelayStats::new(),
            reflector_residence: DelayStats::new(),
            ipdv: IpdvStats::new(),
        }
    }

    /// The test packet with sequence number `seq` was sent.
    pub fn on_sent(&mut self, seq: u32) {
        self.sequence.on_sent(seq);
    }

    /// A reply came back; returns how it was classified. The delays of
    /// `record` are recorded only for `InOrder` and `Reordered` replies.
    pub fn on_reply(&mut self, record: &Record) -> ReplyKind {
        let kind = self.sequence.on_reply(record.seq);
        if let ReplyKind::InOrder { index } | ReplyKind::Reordered { index } = kind {
            let rtt = record.round_trip();
            self.round_trip.record(rtt);
            self.forward.record(record.forward_delay());
            self.backward.record(record.backward_delay());
            self.reflector_residence
                .record(record.reflector_residence());
            self.ipdv.on_delay(index, rtt);
        }
        kind
    }

    /// Whether the caller declared the clocks synchronised.
    pub fn clocks_synchronized(&self) -> bool {
        self.clocks_synchronized
    }

    /// The sequence counters alone.
    pub fn sequence(&self) -> &SequenceTracker {
        &self.sequence
    }

    /// Everything, as plain data.
    pub fn summary(&self) -> StatsSummary {
        let c = self.sequence.counts();
        let loss_ratio = if c.sent == 0 {
            0.0
        } else {
            c.lost as f64 / c.sent as f64
        };
        StatsSummary {
            clocks_synchronized: self.clocks_synchronized,
            one_way_valid: self.clocks_synchronized,
            sent: c.sent,
            received: c.received,
            lost: c.lost,
            loss_ratio,
            duplicates: c.duplicates,
            reordered: c.reordered,
            late: c.late,
            unexpected: c.unexpected,
            round_trip: self.round_trip.summary(),
            forward: self.forward.summary(),
            backward: self.backward.summary(),
            reflector_residence: self.reflector_residence.summary(),
            ipdv: self.ipdv.summary(),
        }
    }

    /// Forgets everything but `clocks_synchronized` (memory is kept).
    pub fn reset(&mut self) {
        self.sequence.reset();
        self.round_trip.reset();
        self.forward.reset();
        self.backward.reset();
        self.reflector_residence.reset();
        self.ipdv.reset();
    }
}

/// Plain-data statistics of a session (see [`SessionStats::summary`]).
///
/// Counters as in [`SequenceCounts`]. All delays are in nanoseconds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatsSummary {
    /// As passed to [`SessionStats::new`].
    pub clocks_synchronized: bool,
    /// Whether `forward` and `backward` are one-way delays: true only if
    /// the clocks are synchronised. Otherwise their values include the
    /// unknown offset between the two clocks (and may be negative); only
    /// their spread is meaningful. `round_trip`, `reflector_residence` and
    /// `ipdv` are valid either way.
    pub one_way_valid: bool,
    /// Test packets sent.
    pub sent: u64,
    /// Distinct packets replied to (first copies, within the window).
    pub received: u64,
    /// `sent − received` (never negative; includes packets still in flight
    /// when the summary is taken, and late replies).
    pub lost: u64,
    /// `lost / sent`, in `0.0..=1.0`; 0 when nothing was sent.
    pub loss_ratio: f64,
    /// Extra copies of replies.
    pub duplicates: u64,
    /// Packets received after a higher sequence number (RFC 4737).
    pub reordered: u64,
    /// Replies older than the sequence window ([`SEQUENCE_WINDOW`]).
    pub late: u64,
    /// Replies for sequence numbers never sent.
    pub unexpected: u64,
    /// Round-trip delay (T4 − T1) − (T3 − T2).
    pub round_trip: DelaySummary,
    /// Forward one-way delay T2 − T1 (see `one_way_valid`).
    pub forward: DelaySummary,
    /// Backward one-way delay T4 − T3 (see `one_way_valid`).
    pub backward: DelaySummary,
    /// Reflector residence time T3 − T2.
    pub reflector_residence: DelaySummary,
    /// Inter-packet delay variation of the round trip.
    pub ipdv: IpdvSummary,
}

// ---------------------------------------------------------------------------
// RecordQueue
// ---------------------------------------------------------------------------

/// A bounded FIFO of [`Record`]s, for handing raw records from the packet
/// path to an exporter. The storage is allocated once, at construction, for
/// `capacity` records and never grows. No locking: the caller wraps it.
///
/// Overflow policy: when full, the **newest** record (the one being pushed)
/// is dropped and counted in [`overflowed`](Self::overflowed). Why not the
/// oldest: what the consumer drains is then always a gap-free run of
/// records in arrival order, with the loss only at the end where the
/// counter accounts for it; a record already accepted is never taken back;
/// `push` stays O(1) and tells its caller which record was lost, like
/// `try_send` on a full bounded channel. The session's statistics do not
/// depend on this queue ([`SessionStats`] sees every record), so an
/// overflow only loses raw records, not figures.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordQueue {
    records: VecDeque<Record>,
    capacity: usize,
    overflowed: u64,
}

impl RecordQueue {
    /// An empty queue holding at most `capacity` records (0 is allowed:
    /// every push then overflows).
    pub fn new(capacity: usize) -> Self {
        Self {
            records: VecDeque::with_capacity(capacity),
            capacity,
            overflowed: 0,
        }
    }

    /// Appends `record`; returns `false` (and counts an overflow) if the
    /// queue was full and `record` was dropped.
    pub fn push(&mut self, record: Record) -> bool {
        if self.records.len() >= self.capacity {
            self.overflowed = self.overflowed.saturating_add(1);
            return false;
        }
        self.records.push_back(record);
        true
    }

    /// Takes every queued record out, oldest first; each record is returned
    /// by exactly one `drain`. The queue's storage is kept for reuse.
    pub fn drain(&mut self) -> Vec<Record> {
        self.records.drain(..).collect()
    }

    /// Number of records queued.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record is queued.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The fixed capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records dropped because the queue was full, since construction.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwrap_crosses_the_u32_boundary() {
        let base = INDEX_BASE + u64::from(u32::MAX);
        assert_eq!(unwrap_seq(0, base), base + 1);
        assert_eq!(unwrap_seq(u32::MAX - 1, base), base - 1);
        assert_eq!(unwrap_seq(5, INDEX_BASE + 3), INDEX_BASE + 5);
        assert_eq!(unwrap_seq(1, INDEX_BASE + 3), INDEX_BASE + 1);
    }

    #[test]
    fn saturate_bounds() {
        assert_eq!(saturate(i128::from(i64::MAX) + 1), i64::MAX);
        assert_eq!(saturate(i128::from(i64::MIN) - 1), i64::MIN);
        assert_eq!(saturate(-7), -7);
    }

    #[test]
    fn histogram_memory_stays_bounded() {
        let mut h = new_histogram();
        record_magnitude(&mut h, MAX_TRACKABLE_NS);
        // u64 counters: distinct_values() is the length of the counts array.
        let bytes = h.distinct_values() * 8;
        assert!(bytes <= 300 * 1024, "{bytes} bytes");
    }

    #[test]
    fn window_slides_clear_old_slots() {
        let mut t = SequenceTracker::new();
        t.on_sent(0);
        assert_eq!(t.on_reply(0), ReplyKind::InOrder { index: INDEX_BASE });
        // Jump exactly one window ahead: slot of 0 is reused for 65536.
        t.on_sent(65_536);
        assert_eq!(t.on_reply(0), ReplyKind::Late);
        assert_eq!(
            t.on_reply(65_536),
            ReplyKind::InOrder {
                index: INDEX_BASE + 65_536
            }
        );
    }
}
