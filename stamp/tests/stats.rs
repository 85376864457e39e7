//! Tests of `stamp::stats`. Expected values are worked out by hand or by a
//! naive independent computation in the test (two-pass variance, sorted
//! vectors, hash sets), never taken from the module's output.

use std::collections::HashSet;

use proptest::prelude::*;
use stamp::stats::{
    DelayStats, IpdvStats, Record, RecordQueue, ReplyKind, SequenceTracker, SessionStats, Welford,
    MAX_TRACKABLE_NS, SEQUENCE_WINDOW,
};

const MS: i64 = 1_000_000;
const SEC: i64 = 1_000_000_000;
/// 2024-01-01T00:00:00Z in Unix nanoseconds.
const EPOCH_2024: i64 = 1_704_067_200 * SEC;

/// A record whose sender sends at `t1`, with the given forward delay,
/// reflector residence and backward delay, and a reflector clock that is
/// `offset` ahead of the sender's.
fn record(seq: u32, t1: i64, fwd: i64, residence: i64, bwd: i64, offset: i64) -> Record {
    let t2 = t1 + fwd + offset;
    let t3 = t2 + residence;
    let t4 = t1 + fwd + residence + bwd;
    Record {
        seq,
        t1,
        t2,
        t3,
        t4,
        sender_ttl: 255,
    }
}

// ----- Record ---------------------------------------------------------------

#[test]
fn delays_with_synchronised_clocks() {
    // T1 = 0 s, T2 = 3 ms, T3 = 3.25 ms, T4 = 8.25 ms (after EPOCH_2024).
    let r = Record {
        seq: 7,
        t1: EPOCH_2024,
        t2: EPOCH_2024 + 3 * MS,
        t3: EPOCH_2024 + 3 * MS + 250_000,
        t4: EPOCH_2024 + 8 * MS + 250_000,
        sender_ttl: 64,
    };
    assert_eq!(r.forward_delay(), 3_000_000);
    assert_eq!(r.backward_delay(), 5_000_000);
    assert_eq!(r.reflector_residence(), 250_000);
    assert_eq!(r.round_trip(), 8_000_000);
}

#[test]
fn negative_one_way_delay_with_unsynchronised_clocks() {
    // Reflector clock 2 s behind the sender's: forward 1 ms becomes
    // 1 ms − 2 s, backward 4 ms becomes 4 ms + 2 s; the round trip is not
    // affected.
    let r = record(1, EPOCH_2024, MS, 100_000, 4 * MS, -2 * SEC);
    assert_eq!(r.forward_delay(), MS - 2 * SEC);
    assert!(r.forward_delay() < 0);
    assert_eq!(r.backward_delay(), 4 * MS + 2 * SEC);
    assert_eq!(r.round_trip(), 5 * MS);
    assert_eq!(r.reflector_residence(), 100_000);
}

#[test]
fn delays_saturate_instead_of_overflowing() {
    let r = Record {
        seq: 0,
        t1: i64::MIN,
        t2: i64::MAX,
        t3: i64::MIN,
        t4: i64::MAX,
        sender_ttl: 0,
    };
    assert_eq!(r.forward_delay(), i64::MAX);
    assert_eq!(r.backward_delay(), i64::MAX);
    assert_eq!(r.reflector_residence(), i64::MIN);
    assert_eq!(r.round_trip(), i64::MAX);
    let r = Record {
        seq: 0,
        t1: i64::MAX,
        t2: i64::MIN,
        t3: i64::MAX,
        t4: i64::MIN,
        sender_ttl: 0,
    };
    assert_eq!(r.forward_delay(), i64::MIN);
    assert_eq!(r.round_trip(), i64::MIN);
    // Exact in between: (T4 − T1) − (T3 − T2) where both differences
    // overflow i64 but the result does not.
    let r = Record {
        seq: 0,
        t1: i64::MIN,
        t2: i64::MIN,
        t3: i64::MAX,
        t4: i64::MAX,
        sender_ttl: 0,
    };
    assert_eq!(r.round_trip(), 0);
}

// ----- Welford --------------------------------------------------------------

fn two_pass(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn welford_small_by_hand() {
    let mut w = Welford::new();
    assert_eq!(w.mean(), None);
    assert_eq!(w.sample_variance(), None);
    for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
        w.push(x);
    }
    // Mean 5, Σ(x − 5)² = 32: population variance 4, sample 32/7.
    assert_eq!(w.count(), 8);
    assert_eq!(w.mean(), Some(5.0));
    assert!(close(w.population_variance().unwrap(), 4.0, 1e-12));
    assert!(close(w.sample_variance().unwrap(), 32.0 / 7.0, 1e-12));
    assert_eq!(w.min(), Some(2.0));
    assert_eq!(w.max(), Some(9.0));
    w.push(f64::NAN);
    assert_eq!(w.count(), 8);
}

#[test]
fn welford_is_stable_with_a_large_offset() {
    // The naive Σx² − n·mean² loses everything here; Welford must not.
    let mut w = Welford::new();
    let base = 1e12;
    for x in [4.0, 7.0, 13.0, 16.0] {
        w.push(base + x);
    }
    // Deviations −6, −3, 3, 6: Σ = 90, sample variance 30.
    assert!(close(w.sample_variance().unwrap(), 30.0, 1e-6));
}

proptest! {
    #[test]
    fn welford_matches_two_pass(xs in prop::collection::vec(-1e9f64..1e9, 2..300)) {
        let mut w = Welford::new();
        for &x in &xs {
            w.push(x);
        }
        let (mean, var) = two_pass(&xs);
        prop_assert!(close(w.mean().unwrap(), mean, 1e-9));
        prop_assert!((w.sample_variance().unwrap() - var).abs() <= 1e-9 * var.max(1.0));
        let min = xs.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        prop_assert_eq!(w.min(), Some(min));
        prop_assert_eq!(w.max(), Some(max));
    }

    #[test]
    fn welford_merge_matches_one_pass(
        a in prop::collection::vec(-1e6f64..1e6, 0..100),
        b in prop::collection::vec(-1e6f64..1e6, 0..100),
    ) {
        let mut wa = Welford::new();
        a.iter().for_each(|&x| wa.push(x));
        let mut wb = Welford::new();
        b.iter().for_each(|&x| wb.push(x));
        wa.merge(&wb);
        let all: Vec<f64> = a.iter().chain(b.iter()).cloned().collect();
        prop_assert_eq!(wa.count(), all.len() as u64);
        if all.len() >= 2 {
            let (mean, var) = two_pass(&all);
            prop_assert!(close(wa.mean().unwrap(), mean, 1e-9));
            prop_assert!((wa.sample_variance().unwrap() - var).abs() <= 1e-8 * var.max(1.0));
        }
    }
}

// ----- DelayStats -----------------------------------------------------------

/// Nearest-rank quantile of a sorted slice.
fn nearest_rank(sorted: &[i64], q: f64) -> i64 {
    let n = sorted.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

/// `got` is `exact` within HDR precision (3 significant digits): never
/// below it (for the upper-bucket convention) and at most 1/1000 above.
fn within_hdr(got: i64, exact: i64) -> bool {
    let tol = exact.unsigned_abs() / 1000 + 1;
    got >= exact && got.abs_diff(exact) <= tol
}

#[test]
fn hdr_percentiles_of_one_to_a_thousand_milliseconds() {
    let mut d = DelayStats::new();
    // 1 ms, 2 ms, ..., 1000 ms, in a scrambled order.
    for i in 0..1000i64 {
        d.record(((i * 7919) % 1000 + 1) * MS);
    }
    let s = d.summary();
    assert_eq!(s.count, 1000);
    assert_eq!(s.negative, 0);
    assert_eq!(s.min_ns, Some(MS));
    assert_eq!(s.max_ns, Some(1000 * MS));
    assert!(close(s.mean_ns.unwrap(), 500.5 * MS as f64, 1e-12));
    assert!(within_hdr(s.p50_ns.unwrap(), 500 * MS), "{:?}", s.p50_ns);
    assert!(within_hdr(s.p90_ns.unwrap(), 900 * MS), "{:?}", s.p90_ns);
    assert!(within_hdr(s.p95_ns.unwrap(), 950 * MS), "{:?}", s.p95_ns);
    assert!(within_hdr(s.p99_ns.unwrap(), 990 * MS), "{:?}", s.p99_ns);
    assert!(within_hdr(s.p999_ns.unwrap(), 999 * MS), "{:?}", s.p999_ns);
    // The extremes are exact.
    assert_eq!(d.quantile(1.0), Some(1000 * MS));
    assert_eq!(d.quantile(0.0), Some(MS));
}

#[test]
fn negative_values_are_counted_and_kept() {
    let mut d = DelayStats::new();
    for v in [-3000, -1000, 0, 2000, 4000] {
        d.record(v);
    }
    let s = d.summary();
    assert_eq!(s.negative, 2);
    assert_eq!(s.min_ns, Some(-3000));
    assert_eq!(s.max_ns, Some(4000));
    assert!(close(s.mean_ns.unwrap(), 400.0, 1e-12));
    // Values below 2048 are exact in a 3-digit HDR histogram.
    assert_eq!(d.quantile(0.2), Some(-3000));
    assert_eq!(d.quantile(0.4), Some(-1000));
    assert_eq!(s.p50_ns, Some(0));
    assert_eq!(d.quantile(0.8), Some(2000));
    assert_eq!(s.p99_ns, Some(4000));
}

#[test]
fn all_negative_one_way_delays_still_have_percentiles() {
    let mut d = DelayStats::new();
    for i in 1..=100i64 {
        d.record(-2 * SEC + i * MS); // -1.999 s .. -1.9 s
    }
    let s = d.summary();
    assert_eq!(s.negative, 100);
    assert_eq!(s.min_ns, Some(-2 * SEC + MS));
    assert_eq!(s.max_ns, Some(-2 * SEC + 100 * MS));
    assert!(within_hdr(s.p50_ns.unwrap(), -2 * SEC + 50 * MS));
    assert!(within_hdr(s.p99_ns.unwrap(), -2 * SEC + 99 * MS));
}

#[test]
fn huge_values_are_clamped_in_the_histogram_only() {
    let mut d = DelayStats::new();
    let two_hours = 7200 * SEC;
    d.record(MS);
    d.record(two_hours);
    d.record(-two_hours);
    d.record(i64::MIN);
    let s = d.summary();
    assert_eq!(s.clamped, 3);
    assert_eq!(s.negative, 2);
    assert_eq!(s.max_ns, Some(two_hours));
    assert_eq!(s.min_ns, Some(i64::MIN));
    let cap = MAX_TRACKABLE_NS as i64;
    // Rank 1 and the last rank are the exact extremes.
    assert_eq!(d.quantile(0.25), Some(i64::MIN));
    assert_eq!(s.p99_ns, Some(two_hours));
    // Rank 2, −2 h, shows as about −1 h.
    assert!(within_hdr(d.quantile(0.5).unwrap(), -cap));
    assert!(within_hdr(d.quantile(0.75).unwrap(), MS));
}

#[test]
fn empty_delay_stats() {
    let d = DelayStats::new();
    let s = d.summary();
    assert_eq!(s.count, 0);
    assert_eq!(s.p50_ns, None);
    assert_eq!(s.mean_ns, None);
    assert_eq!(s.stddev_ns, None);
    assert_eq!(d.quantile(f64::NAN), None);
}

proptest! {
    #[test]
    fn percentiles_match_a_sorted_vec(
        xs in prop::collection::vec(-10_000_000_000i64..10_000_000_000, 1..400),
        q in 0.0f64..=1.0,
    ) {
        let mut d = DelayStats::new();
        xs.iter().for_each(|&x| d.record(x));
        let mut sorted = xs.clone();
        sorted.sort_unstable();
        for q in [q, 0.5, 0.9, 0.95, 0.99, 0.999] {
            let exact = nearest_rank(&sorted, q);
            let got = d.quantile(q).unwrap();
            // For negatives the reported value is the bucket's end closest
            // to zero, i.e. also the upper end.
            prop_assert!(within_hdr(got, exact), "q={} got={} exact={}", q, got, exact);
        }
        let s = d.summary();
        prop_assert_eq!(s.min_ns, sorted.first().copied());
        prop_assert_eq!(s.max_ns, sorted.last().copied());
        prop_assert_eq!(s.negative, xs.iter().filter(|&&x| x < 0).count() as u64);
        let f: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
        let mean = f.iter().sum::<f64>() / f.len() as f64;
        prop_assert!(close(s.mean_ns.unwrap(), mean, 1e-9));
        if xs.len() >= 2 {
            let (_, var) = two_pass(&f);
            prop_assert!((s.stddev_ns.unwrap() - var.sqrt()).abs() <= 1e-6 * var.sqrt().max(1.0));
        }
    }
}

// ----- SequenceTracker ------------------------------------------------------

fn tracker_sent(seqs: impl IntoIterator<Item = u32>) -> SequenceTracker {
    let mut t = SequenceTracker::new();
    seqs.into_iter().for_each(|s| t.on_sent(s));
    t
}

#[test]
fn loss_with_gaps() {
    let mut t = tracker_sent(0..10);
    for s in [0, 1, 2, 5, 6, 9] {
        assert!(matches!(t.on_reply(s), ReplyKind::InOrder { .. }));
    }
    let c = t.counts();
    assert_eq!(c.sent, 10);
    assert_eq!(c.received, 6);
    assert_eq!(c.lost, 4);
    assert_eq!(c.duplicates, 0);
    assert_eq!(c.reordered, 0);
}

#[test]
fn duplicates_are_counted_once_and_not_received_twice() {
    let mut t = tracker_sent(0..4);
    assert!(matches!(t.on_reply(0), ReplyKind::InOrder { .. }));
    assert!(matches!(t.on_reply(1), ReplyKind::InOrder { .. }));
    assert_eq!(t.on_reply(1), ReplyKind::Duplicate);
    assert_eq!(t.on_reply(1), ReplyKind::Duplicate);
    assert_eq!(t.on_reply(0), ReplyKind::Duplicate);
    let c = t.counts();
    assert_eq!(c.received, 2);
    assert_eq!(c.duplicates, 3);
    assert_eq!(c.lost, 2);
    // A duplicate is not a reordered packet.
    assert_eq!(c.reordered, 0);
}

#[test]
fn reordering_per_rfc_4737() {
    // RFC 4737 section 3.3: a packet is reordered when its sequence number
    // is below NextExp (highest received + 1).
    let mut t = tracker_sent(0..6);
    let kinds: Vec<ReplyKind> = [0, 2, 1, 3, 5, 4].iter().map(|&s| t.on_reply(s)).collect();
    assert!(matches!(kinds[2], ReplyKind::Reordered { .. }));
    assert!(matches!(kinds[5], ReplyKind::Reordered { .. }));
    assert_eq!(t.counts().reordered, 2);
    assert_eq!(t.counts().received, 6);

    // One early packet makes every later-sent-but-earlier-numbered packet
    // reordered: 0, 5, 1, 2, 3, 4 → 1, 2, 3, 4 are reordered.
    let mut t = tracker_sent(0..6);
    for s in [0, 5, 1, 2, 3, 4] {
        t.on_reply(s);
    }
    assert_eq!(t.counts().reordered, 4);
    // A duplicate of a reordered packet does not count again.
    assert_eq!(t.on_reply(3), ReplyKind::Duplicate);
    assert_eq!(t.counts().reordered, 4);
}

#[test]
fn sequence_numbers_wrap_around() {
    let seqs = [u32::MAX - 2, u32::MAX - 1, u32::MAX, 0, 1, 2];
    let mut t = tracker_sent(seqs);
    let mut indices = Vec::new();
    for s in [u32::MAX - 2, u32::MAX - 1, 0, 1, 2] {
        match t.on_reply(s) {
            ReplyKind::InOrder { index } => indices.push(index),
            other => panic!("seq {s}: {other:?}"),
        }
    }
    // u32::MAX arrives after 0: reordered, not late nor unexpected.
    let ReplyKind::Reordered { index } = t.on_reply(u32::MAX) else {
        panic!("u32::MAX should be reordered");
    };
    // Extended indices are consecutive across the wrap.
    assert_eq!(index, indices[1] + 1);
    assert_eq!(indices[2], index + 1);
    assert_eq!(indices[4] - indices[0], 5);
    let c = t.counts();
    assert_eq!((c.sent, c.received, c.lost, c.reordered), (6, 6, 0, 1));
}

#[test]
fn replies_never_sent_are_unexpected() {
    let mut t = SequenceTracker::new();
    assert_eq!(t.on_reply(0), ReplyKind::Unexpected);
    t.on_sent(10);
    t.on_sent(12);
    assert_eq!(t.on_reply(13), ReplyKind::Unexpected); // ahead of sent
    assert_eq!(t.on_reply(11), ReplyKind::Unexpected); // gap in sent
    assert!(matches!(t.on_reply(12), ReplyKind::InOrder { .. }));
    let c = t.counts();
    assert_eq!((c.sent, c.received, c.lost, c.unexpected), (2, 1, 1, 3));
}

#[test]
fn replies_older_than_the_window_are_late() {
    let n = SEQUENCE_WINDOW as u32 + 10;
    let mut t = tracker_sent(0..n);
    // 0..=9 are now more than a window behind the highest sent (n − 1).
    assert_eq!(t.on_reply(0), ReplyKind::Late);
    assert_eq!(t.on_reply(0), ReplyKind::Late); // not a "duplicate"
    assert_eq!(t.on_reply(9), ReplyKind::Late);
    assert!(matches!(t.on_reply(10), ReplyKind::InOrder { .. }));
    let c = t.counts();
    assert_eq!(c.late, 3);
    assert_eq!(c.duplicates, 0);
    assert_eq!(c.received, 1);
    assert_eq!(c.received + c.lost, c.sent);
}

#[derive(Debug, Clone)]
enum Op {
    Sent(u32),
    Reply(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u32>().prop_map(Op::Sent),
        any::<u32>().prop_map(Op::Reply),
        (0u32..50).prop_map(Op::Sent),
        (0u32..50).prop_map(Op::Reply),
        (u32::MAX - 50..=u32::MAX).prop_map(Op::Sent),
        (u32::MAX - 50..=u32::MAX).prop_map(Op::Reply),
    ]
}

proptest! {
    #[test]
    fn tracker_invariants_under_arbitrary_input(ops in prop::collection::vec(op(), 0..300)) {
        let mut t = SequenceTracker::new();
        let mut replies = 0u64;
        for op in ops {
            match op {
                Op::Sent(s) => t.on_sent(s),
                Op::Reply(s) => {
                    t.on_reply(s);
                    replies += 1;
                }
            }
            let c = t.counts();
            prop_assert!(c.received <= c.sent);
            prop_assert_eq!(c.received + c.lost, c.sent);
            prop_assert!(c.reordered <= c.received);
            prop_assert_eq!(c.received + c.duplicates + c.late + c.unexpected, replies);
        }
    }

    /// Sequential sends, arbitrary replies, compared with a naive model
    /// (hash set, RFC 4737 NextExp), starting anywhere including just
    /// before the wrap.
    #[test]
    fn tracker_matches_a_naive_model(
        start in prop_oneof![Just(0u32), Just(u32::MAX - 20), any::<u32>()],
        n in 1u32..60,
        replies in prop::collection::vec(0u32..70, 0..200),
    ) {
        let mut t = SequenceTracker::new();
        for i in 0..n {
            t.on_sent(start.wrapping_add(i));
        }
        let mut seen = HashSet::new();
        let (mut dup, mut unexp, mut reord) = (0u64, 0u64, 0u64);
        let mut next_exp = 0u32; // in offsets from `start`
        for &off in &replies {
            t.on_reply(start.wrapping_add(off));
            if off >= n {
                unexp += 1;
            } else if !seen.insert(off) {
                dup += 1;
            } else if off < next_exp {
                reord += 1;
            } else {
                next_exp = off + 1;
            }
        }
        let c = t.counts();
        prop_assert_eq!(c.sent, u64::from(n));
        prop_assert_eq!(c.received, seen.len() as u64);
        prop_assert_eq!(c.lost, u64::from(n) - seen.len() as u64);
        prop_assert_eq!(c.duplicates, dup);
        prop_assert_eq!(c.unexpected, unexp);
        prop_assert_eq!(c.reordered, reord);
        prop_assert_eq!(c.late, 0);
    }
}

// ----- IPDV -----------------------------------------------------------------

/// RFC 3550 smoothing, written out independently.
fn smoothed(abs_ipdvs: &[f64]) -> f64 {
    abs_ipdvs.iter().fold(0.0, |j, d| j + (d - j) / 16.0)
}

#[test]
fn ipdv_of_consecutive_round_trips() {
    let mut ip = IpdvStats::new();
    // RTTs 10, 12, 9, 15 ms for indices 100..=103: IPDV +2, −3, +6 ms.
    for (i, rtt) in [10, 12, 9, 15].iter().enumerate() {
        ip.on_delay(100 + i as u64, rtt * MS);
    }
    let s = ip.summary();
    assert_eq!(s.pairs, 3);
    assert!(close(s.mean_ns.unwrap(), 5.0 / 3.0 * MS as f64, 1e-12));
    assert!(close(s.abs.mean_ns.unwrap(), 11.0 / 3.0 * MS as f64, 1e-12));
    assert_eq!(s.abs.max_ns, Some(6 * MS));
    assert_eq!(s.abs.min_ns, Some(2 * MS));
    let j = smoothed(&[2e6, 3e6, 6e6]);
    assert!(close(s.jitter_ns, j, 1e-12), "{} vs {}", s.jitter_ns, j);
}

#[test]
fn ipdv_skips_lost_packets_and_pairs_reordered_ones() {
    // Index 2 lost: only the pair (0, 1).
    let mut ip = IpdvStats::new();
    ip.on_delay(0, 10 * MS);
    ip.on_delay(1, 11 * MS);
    ip.on_delay(3, 20 * MS);
    let s = ip.summary();
    assert_eq!(s.pairs, 1);
    assert_eq!(s.abs.max_ns, Some(MS));

    // Arrival order 0, 2, 1: pairs (0, 1) = +4 and (1, 2) = −1, both formed
    // when 1 arrives.
    let mut ip = IpdvStats::new();
    ip.on_delay(0, 10 * MS);
    ip.on_delay(2, 13 * MS);
    assert_eq!(ip.summary().pairs, 0);
    ip.on_delay(1, 14 * MS);
    let s = ip.summary();
    assert_eq!(s.pairs, 2);
    assert!(close(s.mean_ns.unwrap(), 1.5 * MS as f64, 1e-12));
    assert_eq!(s.abs.max_ns, Some(4 * MS));
}

// ----- SessionStats ---------------------------------------------------------

#[test]
fn session_with_unsynchronised_clocks() {
    let mut s = SessionStats::new(false);
    // Reflector 3 s behind: forward delays are negative.
    let offset = -3 * SEC;
    for seq in 0..5u32 {
        s.on_sent(seq);
    }
    let t = |seq: u32| EPOCH_2024 + i64::from(seq) * 100 * MS;
    // RTTs: 0 → 2+1=3 ms, 1 → 4 ms, 3 → 6 ms (seq 2 and 4 lost).
    s.on_reply(&record(0, t(0), 2 * MS, 50_000, MS, offset));
    s.on_reply(&record(1, t(1), 2 * MS, 50_000, 2 * MS, offset));
    s.on_reply(&record(3, t(3), 3 * MS, 50_000, 3 * MS, offset));
    let dup = s.on_reply(&record(1, t(1), 50 * MS, 50_000, 50 * MS, offset));
    assert_eq!(dup, ReplyKind::Duplicate);
    let sum = s.summary();
    assert!(!sum.one_way_valid);
    assert!(!sum.clocks_synchronized);
    assert_eq!(
        (sum.sent, sum.received, sum.lost, sum.duplicates),
        (5, 3, 2, 1)
    );
    assert!(close(sum.loss_ratio, 0.4, 1e-12));
    // The duplicate's delays were not recorded.
    assert_eq!(sum.round_trip.count, 3);
    assert_eq!(sum.round_trip.min_ns, Some(3 * MS));
    assert_eq!(sum.round_trip.max_ns, Some(6 * MS));
    assert!(close(
        sum.round_trip.mean_ns.unwrap(),
        13.0 / 3.0 * MS as f64,
        1e-12
    ));
    assert_eq!(sum.forward.negative, 3);
    assert_eq!(sum.forward.max_ns, Some(3 * MS - 3 * SEC));
    assert_eq!(sum.backward.negative, 0);
    assert_eq!(sum.backward.min_ns, Some(MS + 3 * SEC));
    assert_eq!(sum.reflector_residence.max_ns, Some(50_000));
    // Only 0 and 1 are consecutive: one IPDV of +1 ms.
    assert_eq!(sum.ipdv.pairs, 1);
    assert_eq!(sum.ipdv.abs.max_ns, Some(MS));
}

#[test]
fn session_with_synchronised_clocks_and_reset() {
    let mut s = SessionStats::new(true);
    s.on_sent(0);
    s.on_reply(&record(0, EPOCH_2024, MS, 0, MS, 0));
    let sum = s.summary();
    assert!(sum.one_way_valid);
    assert_eq!(sum.forward.min_ns, Some(MS));
    assert_eq!(sum.forward.negative, 0);
    assert_eq!(sum.loss_ratio, 0.0);
    s.reset();
    let sum = s.summary();
    assert!(sum.one_way_valid, "reset keeps the clock flag");
    assert_eq!(sum.sent, 0);
    assert_eq!(sum.round_trip.count, 0);
    assert_eq!(sum.ipdv.pairs, 0);
    assert_eq!(s, SessionStats::new(true));
}

#[test]
fn session_ipdv_across_the_wrap() {
    let mut s = SessionStats::new(false);
    s.on_sent(u32::MAX);
    s.on_sent(0);
    s.on_reply(&record(u32::MAX, EPOCH_2024, MS, 0, MS, 0));
    s.on_reply(&record(0, EPOCH_2024 + MS, 2 * MS, 0, 2 * MS, 0));
    let sum = s.summary();
    assert_eq!(sum.reordered, 0);
    assert_eq!(sum.ipdv.pairs, 1);
    assert_eq!(sum.ipdv.mean_ns, Some(2.0 * MS as f64));
}

// ----- RecordQueue ----------------------------------------------------------

fn rec(seq: u32) -> Record {
    Record {
        seq,
        ..Record::default()
    }
}

#[test]
fn queue_drops_the_newest_on_overflow() {
    let mut q = RecordQueue::new(3);
    for seq in 0..5 {
        let accepted = q.push(rec(seq));
        assert_eq!(accepted, seq < 3);
    }
    assert_eq!(q.len(), 3);
    assert_eq!(q.overflowed(), 2);
    let seqs: Vec<u32> = q.drain().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [0, 1, 2]);
    // Drained records are gone: each is returned once.
    assert!(q.drain().is_empty());
    assert!(q.is_empty());
    // Room again after a drain; the overflow count is cumulative.
    assert!(q.push(rec(10)));
    assert_eq!(q.drain(), vec![rec(10)]);
    assert_eq!(q.overflowed(), 2);
    assert_eq!(q.capacity(), 3);
}

#[test]
fn queue_of_capacity_zero_drops_everything() {
    let mut q = RecordQueue::new(0);
    assert!(!q.push(rec(1)));
    assert_eq!(q.len(), 0);
    assert_eq!(q.overflowed(), 1);
    assert!(q.drain().is_empty());
}

proptest! {
    #[test]
    fn queue_returns_each_accepted_record_once(
        cap in 0usize..20,
        batches in prop::collection::vec(0u32..30, 0..10),
    ) {
        let mut q = RecordQueue::new(cap);
        let mut next = 0u32;
        let mut drained = Vec::new();
        let mut expected_overflow = 0u64;
        for pushes in batches {
            let mut accepted = Vec::new();
            for _ in 0..pushes {
                if q.push(rec(next)) {
                    accepted.push(next);
                } else {
                    expected_overflow += 1;
                }
                next += 1;
                prop_assert!(q.len() <= cap);
            }
            // Accepted = the first `cap` of this batch (queue empty at start).
            let want: Vec<u32> = (next - pushes..next).take(cap).collect();
            prop_assert_eq!(&accepted, &want);
            drained.extend(q.drain().into_iter().map(|r| r.seq));
        }
        prop_assert_eq!(q.overflowed(), expected_overflow);
        let unique: HashSet<u32> = drained.iter().copied().collect();
        prop_assert_eq!(unique.len(), drained.len());
        prop_assert_eq!(drained.len() as u64 + expected_overflow, u64::from(next));
    }
}
