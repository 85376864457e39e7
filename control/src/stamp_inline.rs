//! The collector of the engine's STAMP Session-Sender sessions: turns the
//! workers' events into statistics and records.
//!
//! What it is: [`SenderCollector`] keeps, per session, the channel the
//! workers report into (`dataplane::stamp_sender::SenderChannel`), a
//! `stamp::stats::SessionStats` and a bounded record queue. The control
//! plane calls [`SenderCollector::collect`] often enough that the channels'
//! event queues do not overflow (every 500 ms in `srv6d run`: a 1 ms
//! session produces 1,000 events in that time, the queue holds 8,192), and
//! reads [`SenderCollector::reports`] when it wants results.
//!
//! [`SenderCollector::apply`] turns a new list of sessions into the set to
//! publish: a session whose name and spec are unchanged keeps its channel
//! (it keeps running, its statistics continue); any other is started
//! afresh; sessions no longer listed are stopped (their results are
//! dropped with them).

use std::collections::BTreeMap;
use std::net::SocketAddrV6;
use std::sync::Arc;

use dataplane::stamp_sender::{
    ChannelCounters, SenderChannel, SenderEvent, SenderSpec, SpecError, MAX_SENDER_SESSIONS,
    REPLY_ERRORS,
};
use stamp::stats::{Record, RecordQueue, SessionStats};

use crate::stamp_socket::SenderReport;

/// Records kept per session between two reads (older ones are counted as
/// dropped when it is full; the statistics include them anyway).
pub const RECORD_CAPACITY: usize = 16_384;

/// A session to run: its name, its spec, and whether the two clocks are
/// known to be synchronised (one-way delays valid).
#[derive(Debug, Clone)]
pub struct SessionRequest {
    /// Unique name.
    pub name: String,
    /// What to send.
    pub spec: SenderSpec,
    /// Declared clock synchronisation.
    pub clocks_synchronized: bool,
    /// A fingerprint of the configuration the spec came from: a session
    /// whose fingerprint is unchanged keeps running across `apply`.
    pub fingerprint: String,
}

struct Collected {
    name: String,
    fingerprint: String,
    channel: Arc<SenderChannel>,
    stats: SessionStats,
    records: RecordQueue,
}

/// One session's results.
#[derive(Debug, Clone)]
pub struct InlineReport {
    /// The session's name.
    pub name: String,
    /// Its SSID.
    pub ssid: u16,
    /// The direct SID list (the reflector last).
    pub segments: Vec<std::net::Ipv6Addr>,
    /// The engine's counters for it.
    pub counters: ChannelCounters,
    /// True once a counted session has sent every packet.
    pub finished: bool,
    /// Statistics and records, in the socket sender's form (same table and
    /// JSON).
    pub report: SenderReport,
}

/// Why [`SenderCollector::apply`] refused a list of sessions (nothing
/// changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// A session's spec.
    #[error("STAMP sender session `{0}`: {1}")]
    Spec(String, SpecError),
    /// More than the engine takes.
    #[error("{0} STAMP sender sessions: at most {MAX_SENDER_SESSIONS}")]
    TooMany(usize),
}

/// The engine's sender sessions as the control plane sees them.
#[derive(Default)]
pub struct SenderCollector {
    sessions: Vec<Collected>,
    /// The next worker slot to give a new session (round robin).
    next_slot: usize,
    /// Channels of stopped sessions that a worker may still hold: kept
    /// until only this list holds them, so that a worker never frees one
    /// (that is the control plane's job, off the packet path).
    retired: Vec<Arc<SenderChannel>>,
}

impl std::fmt::Debug for SenderCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.sessions.iter().map(|s| &s.name))
            .finish()
    }
}

impl SenderCollector {
    /// No sessions.
    pub fn new() -> Self {
        Self::default()
    }

    /// What [`apply`](Self::apply) would refuse.
    pub fn check(requests: &[SessionRequest]) -> Result<(), ApplyError> {
        if requests.len() > MAX_SENDER_SESSIONS {
            return Err(ApplyError::TooMany(requests.len()));
        }
        for r in requests {
            r.spec
                .validate()
                .map_err(|e| ApplyError::Spec(r.name.clone(), e))?;
        }
        Ok(())
    }

    /// Replaces the sessions (see the module docs) and returns the set of
    /// channels to publish to the engine, in order, and the final reports
    /// of the sessions it stopped (removed or changed). On error nothing
    /// changes.
    pub fn apply(
        &mut self,
        requests: Vec<SessionRequest>,
    ) -> Result<(Vec<Arc<SenderChannel>>, Vec<InlineReport>), ApplyError> {
        Self::check(&requests)?;
        self.collect();
        let mut next = Vec::with_capacity(requests.len());
        let mut old: Vec<Option<Collected>> = self.sessions.drain(..).map(Some).collect();
        for r in requests {
            let kept = old.iter_mut().find_map(|slot| {
                if slot
                    .as_ref()
                    .is_some_and(|c| c.name == r.name && c.fingerprint == r.fingerprint)
                {
                    slot.take()
                } else {
                    None
                }
            });
            next.push(match kept {
                Some(c) => c,
                None => {
                    let slot = self.next_slot;
                    self.next_slot = self.next_slot.wrapping_add(1);
                    Collected {
                        name: r.name,
                        fingerprint: r.fingerprint,
                        channel: SenderChannel::new(r.spec, slot).expect("validated above"),
                        stats: SessionStats::new(r.clocks_synchronized),
                        records: RecordQueue::new(RECORD_CAPACITY),
                    }
                }
            });
        }
        let mut stopped: Vec<Collected> = old.into_iter().flatten().collect();
        let stopped_reports = stopped.iter_mut().map(|c| c.report(true)).collect();
        self.retired.extend(stopped.into_iter().map(|c| c.channel));
        self.sessions = next;
        Ok((self.channels(), stopped_reports))
    }

    /// The channels, in publication order.
    pub fn channels(&self) -> Vec<Arc<SenderChannel>> {
        self.sessions.iter().map(|s| s.channel.clone()).collect()
    }

    /// Session names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.sessions.iter().map(|s| s.name.as_str()).collect()
    }

    /// Drains every session's events into its statistics and records;
    /// returns how many events there were.
    pub fn collect(&mut self) -> usize {
        self.retired.retain(|ch| Arc::strong_count(ch) > 1);
        let mut n = 0;
        for s in &mut self.sessions {
            let Collected {
                channel,
                stats,
                records,
                ..
            } = s;
            n += channel.drain(|e| match e {
                SenderEvent::Sent { seq, .. } => stats.on_sent(seq),
                SenderEvent::Reply(record) => {
                    stats.on_reply(&record);
                    records.push(record);
                }
            });
        }
        n
    }

    /// Every session's results so far; the sessions `take` names have
    /// their kept records drained into their reports (the others keep
    /// theirs, and their reports carry none).
    pub fn reports<'a>(&mut self, take: impl Into<TakeRecords<'a>>) -> Vec<InlineReport> {
        let take = take.into();
        self.collect();
        self.sessions
            .iter_mut()
            .map(|s| {
                let takes = take.takes(&s.name);
                s.report(takes)
            })
            .collect()
    }
}

/// Whose kept records a report moves out: nobody's, every session's, or
/// one session's (the others' stay until asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeRecords<'a> {
    /// Reports carry no records; every record stays.
    None,
    /// Every session's records are taken.
    All,
    /// Only the named session's records are taken.
    Only(&'a str),
}

impl TakeRecords<'_> {
    /// Whether the session `name`'s records are taken.
    pub fn takes(&self, name: &str) -> bool {
        match self {
            TakeRecords::None => false,
            TakeRecords::All => true,
            TakeRecords::Only(n) => *n == name,
        }
    }
}

impl From<bool> for TakeRecords<'static> {
    fn from(all: bool) -> Self {
        if all {
            TakeRecords::All
        } else {
            TakeRecords::None
        }
    }
}

impl Collected {
    fn report(&mut self, take_records: bool) -> InlineReport {
        let spec = self.channel.spec();
        let counters = self.channel.counters();
        let overflowed = self.records.overflowed();
        let records: Vec<Record> = if take_records {
            self.records.drain()
        } else {
            Vec::new()
        };
        let mut reply_errors: BTreeMap<&'static str, u64> = REPLY_ERRORS
            .iter()
            .zip(counters.reply_errors)
            .filter(|(_, n)| *n > 0)
            .map(|(e, n)| (e.name(), n))
            .collect();
        for (name, n) in [
            ("send_failed", counters.send_failed),
            ("events_lost", counters.events_lost),
        ] {
            if n > 0 {
                reply_errors.insert(name, n);
            }
        }
        InlineReport {
            name: self.name.clone(),
            ssid: spec.session.ssid(),
            segments: spec.segments.clone(),
            counters,
            finished: self.channel.finished(),
            report: SenderReport {
                summary: self.stats.summary(),
                records,
                records_dropped: overflowed,
                reply_errors,
                local: SocketAddrV6::new(spec.source, spec.src_port, 0, 0),
            },
        }
    }
}

/// One line per session for the log: name, counts, round trip.
pub fn summary_line(r: &InlineReport) -> String {
    let s = &r.report.summary;
    let us = |v: Option<i64>| v.map_or_else(|| "-".into(), |v| format!("{:.1}", v as f64 / 1e3));
    format!(
        "stamp sender {}: ssid={} sent={} received={} lost={} duplicates={} reordered={} \
         late={}{} rtt_us min/p50/p99/max={}/{}/{}/{}",
        r.name,
        r.ssid,
        s.sent,
        s.received,
        s.lost,
        s.duplicates,
        s.reordered,
        s.late,
        if r.report.reply_errors.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = r
                .report
                .reply_errors
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!(" errors: {}", list.join(" "))
        },
        us(s.round_trip.min_ns),
        us(s.round_trip.p50_ns),
        us(s.round_trip.p99_ns),
        us(s.round_trip.max_ns),
    )
}

/// One JSON object per session (one line each): name, SSID, source,
/// segments, the engine's counters, then the socket sender's JSON report
/// under "report" and, when taken, the records as [seq, t1, t2, t3, t4,
/// sender_ttl] arrays (ns, Unix time).
pub fn json_line(r: &InlineReport) -> String {
    let segments: Vec<String> = r.segments.iter().map(|s| format!("\"{s}\"")).collect();
    let records: Vec<String> = r
        .report
        .records
        .iter()
        .map(|x| {
            format!(
                "[{},{},{},{},{},{}]",
                x.seq, x.t1, x.t2, x.t3, x.t4, x.sender_ttl
            )
        })
        .collect();
    let c = &r.counters;
    format!(
        "{{\"session\":\"{}\",\"ssid\":{},\"source\":\"{}\",\"segments\":[{}],\"finished\":{},\
         \"counters\":{{\"sent\":{},\"send_failed\":{},\"late\":{},\"replies\":{},\
         \"events_lost\":{}}},\"report\":{},\"records\":[{}]}}",
        json_escape(&r.name),
        r.ssid,
        r.report.local,
        segments.join(","),
        r.finished,
        c.sent,
        c.send_failed,
        c.late,
        c.replies,
        c.events_lost,
        crate::stamp_socket::json(&r.report),
        records.join(","),
    )
}

/// `text` as the inside of a JSON string.
fn json_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}
