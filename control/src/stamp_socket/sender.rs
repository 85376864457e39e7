//! The Session-Sender on a kernel UDP socket.

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use stamp::auth::HmacKey;
use stamp::packet::{base_len, Mode, Role};
use stamp::sender::SenderSession;
use stamp::stats::{Record, RecordQueue, SessionStats, StatsSummary};
use stamp::time::{ErrorEstimate, TimestampFormat};

use super::sys::{realtime_ns, segment_routing_header, Udp6};
use super::{StampSocketError, STAMP_PORT};

/// Raw records kept in a [`SenderReport`] (the statistics see every reply
/// whatever this bound; records beyond it are counted in
/// [`SenderReport::records_dropped`]).
pub const RECORD_CAPACITY: usize = 100_000;

/// The shortest interval between test packets.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// How long before a deadline the scheduler stops sleeping and polls the
/// clock (covers the kernel's timer slack, 50 µs by default).
const SPIN_BEFORE: Duration = Duration::from_micros(200);

/// How often the receiving thread looks at its stop flag.
const RECV_POLL: Duration = Duration::from_millis(20);

/// What [`run_sender`] does.
#[derive(Debug, Clone)]
pub struct SenderOptions {
    /// The reflector's address: the test packets' final destination. An
    /// IPv4-mapped address (`::ffff:a.b.c.d`) sends STAMP over IPv4.
    pub reflector: Ipv6Addr,
    /// SIDs visited before the reflector, in travel order (an SRH is
    /// attached); empty: plain IPv6.
    pub segments: Vec<Ipv6Addr>,
    /// Address to bind (None: `::`, the kernel chooses the source); an
    /// IPv4-mapped one for an IPv4 reflector.
    pub source: Option<Ipv6Addr>,
    /// UDP source port (0: any).
    pub source_port: u16,
    /// The reflector's UDP port.
    pub reflector_port: u16,
    /// Session-Sender Identifier.
    pub ssid: u16,
    /// Time between test packets, at least 1 ms.
    pub interval: Duration,
    /// Stop after this many test packets.
    pub count: Option<u64>,
    /// Stop sending after this long.
    pub duration: Option<Duration>,
    /// UDP data length of each test packet: 44 (the base packet) or at
    /// least 48 (the rest an Extra Padding TLV), at most 1400. In
    /// authenticated mode the base is 112: shorter lengths are raised to
    /// it.
    pub length: usize,
    /// Some: authenticated mode with this key.
    pub key: Option<HmacKey>,
    /// Format of T1 (the reflector chooses its own for T2 and T3).
    pub timestamp_format: TimestampFormat,
    /// After the last test packet, wait this long for replies.
    pub wait: Duration,
    /// Whether the sender's and reflector's clocks are synchronised (the
    /// one-way delays are meaningful only then); also the S bit of the
    /// Error Estimate.
    pub clocks_synchronized: bool,
    /// The reflector may be a TWAMP-light Session-Reflector (RFC 8762
    /// §4.6): replies of 41 octets or more with SSID 0 (TWAMP's MBZ) or
    /// ours are taken, whatever their length (unauthenticated only).
    pub twamp_light: bool,
}

impl Default for SenderOptions {
    fn default() -> Self {
        SenderOptions {
            reflector: Ipv6Addr::LOCALHOST,
            segments: Vec::new(),
            source: None,
            source_port: 0,
            reflector_port: STAMP_PORT,
            ssid: 1,
            interval: Duration::from_millis(10),
            count: Some(100),
            duration: None,
            length: base_len(Role::Sender, Mode::Unauthenticated),
            key: None,
            timestamp_format: TimestampFormat::Ntp,
            wait: Duration::from_secs(1),
            clocks_synchronized: false,
            twamp_light: false,
        }
    }
}

/// The outcome of a session.
#[derive(Debug, Clone)]
pub struct SenderReport {
    /// Loss, duplicates, reordering, delays, IPDV.
    pub summary: StatsSummary,
    /// The replies' records in arrival order, at most [`RECORD_CAPACITY`].
    pub records: Vec<Record>,
    /// Records not kept because [`RECORD_CAPACITY`] was reached.
    pub records_dropped: u64,
    /// Datagrams received that were not replies of the session, by reason
    /// (`reply_truncated`, `reply_other_session`, `reply_bad_hmac`,
    /// `reply_other_source`), and test packets the kernel refused to send
    /// for lack of buffers (`send_no_buffer`, counted as lost).
    pub reply_errors: BTreeMap<&'static str, u64>,
    /// The UDP source the test packets were sent from.
    pub local: SocketAddrV6,
}

fn bad(option: &'static str, reason: String) -> StampSocketError {
    StampSocketError::Option { option, reason }
}

/// Sleeps until `deadline` (sleeping most of the way, then polling the
/// clock), or until `stop`; returns false if stopped.
fn wait_until(deadline: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        let left = deadline - now;
        if left > SPIN_BEFORE {
            std::thread::sleep((left - SPIN_BEFORE).min(Duration::from_millis(50)));
        } else {
            std::thread::yield_now();
        }
    }
}

/// Runs one Session-Sender session: sends test packets to the reflector
/// (through `segments` if any) every `interval` until `count`, `duration`
/// or `stop`, waits `wait` for the last replies (cut short by `stop`) and
/// returns the statistics.
///
/// Scheduling is against absolute deadlines (start + n × interval), so the
/// rate does not drift; a packet whose deadline has passed is sent at once
/// (no catch-up burst beyond that). T1 is read just before `sendmsg`; T4 is
/// the kernel's receive timestamp. A receiving thread runs alongside.
pub fn run_sender(
    opts: &SenderOptions,
    stop: &AtomicBool,
) -> Result<SenderReport, StampSocketError> {
    if opts.interval < MIN_INTERVAL {
        return Err(bad(
            "interval",
            format!("{:?}: expected at least 1ms", opts.interval),
        ));
    }
    if opts.count == Some(0) {
        return Err(bad("count", "0: expected at least 1".into()));
    }
    if opts.reflector_port == 0 {
        return Err(bad("port", "0: expected a UDP port 1-65535".into()));
    }
    if opts.reflector.to_ipv4_mapped().is_some() && !opts.segments.is_empty() {
        return Err(bad(
            "segments",
            format!(
                "the reflector {} is IPv4: SIDs (an SRH) need IPv6",
                opts.reflector
            ),
        ));
    }
    if opts.segments.len() > stamp::reflector::MAX_RETURN_SEGMENTS {
        return Err(bad(
            "segments",
            format!(
                "{} SIDs: expected at most {}",
                opts.segments.len(),
                stamp::reflector::MAX_RETURN_SEGMENTS
            ),
        ));
    }
    let mode = if opts.key.is_some() {
        Mode::Authenticated
    } else {
        Mode::Unauthenticated
    };
    let length = opts.length.max(base_len(Role::Sender, mode));
    let error_estimate = ErrorEstimate {
        synchronized: opts.clocks_synchronized,
        ptp: opts.timestamp_format == TimestampFormat::Ptp,
        // 2^22 / 2^32 s: about 1 ms, a software clock's honest claim.
        scale: 22,
        multiplier: 1,
    };
    let mut session = SenderSession::new(
        opts.ssid,
        mode,
        opts.key.clone(),
        opts.timestamp_format,
        error_estimate,
        length,
    )
    .map_err(|e| bad("length", e.to_string()))?
    .with_twamp_light(opts.twamp_light)
    .map_err(|e| bad("twamp-light", e.to_string()))?;
    let checker = session.clone();

    let bind_addr = opts.source.unwrap_or(Ipv6Addr::UNSPECIFIED);
    let sock = Udp6::bind(SocketAddrV6::new(bind_addr, opts.source_port, 0, 0)).map_err(|e| {
        StampSocketError::Bind {
            addr: bind_addr,
            port: opts.source_port,
            source: e,
        }
    })?;
    let local = sock.local_addr().map_err(StampSocketError::Socket)?;
    let set_err = |option: &'static str| {
        move |source| StampSocketError::SetOption {
            option,
            addr: *local.ip(),
            port: local.port(),
            source,
        }
    };
    sock.set_int(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
        .map_err(set_err("SO_TIMESTAMPNS"))?;
    sock.set_read_timeout(RECV_POLL)
        .map_err(set_err("SO_RCVTIMEO"))?;
    if !opts.segments.is_empty() {
        sock.set_routing_header(&segment_routing_header(opts.reflector, &opts.segments))
            .map_err(set_err("IPV6_RTHDR (Segment Routing Header)"))?;
    }
    let dst = SocketAddrV6::new(opts.reflector, opts.reflector_port, 0, 0);

    let stats = Mutex::new(SessionStats::new(opts.clocks_synchronized));
    let records = Mutex::new(RecordQueue::new(RECORD_CAPACITY));
    let errors: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());
    let receiving = AtomicBool::new(true);
    let count_error = |name: &'static str| {
        *errors
            .lock()
            .expect("not poisoned")
            .entry(name)
            .or_insert(0) += 1;
    };

    let outcome = std::thread::scope(|scope| {
        let receiver = scope.spawn(|| -> Result<(), StampSocketError> {
            let mut buf = vec![0u8; 9000];
            while receiving.load(Ordering::Relaxed) {
                let meta = match sock.recv(&mut buf) {
                    Ok(Some(m)) => m,
                    Ok(None) => continue,
                    // An ICMP error reported on the socket: not fatal.
                    Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => continue,
                    Err(source) => {
                        return Err(StampSocketError::Receive {
                            addr: *local.ip(),
                            port: local.port(),
                            source,
                        })
                    }
                };
                let t4 = meta.timestamp_ns.unwrap_or_else(realtime_ns);
                if *meta.src.ip() != opts.reflector || meta.src.port() != opts.reflector_port {
                    count_error("reply_other_source");
                    continue;
                }
                match checker.receive(&buf[..meta.len], t4) {
                    Ok(record) => {
                        stats.lock().expect("not poisoned").on_reply(&record);
                        records.lock().expect("not poisoned").push(record);
                    }
                    Err(e) => count_error(e.name()),
                }
            }
            Ok(())
        });

        let sent = (|| -> Result<(), StampSocketError> {
            let mut buf = vec![0u8; length];
            let start = Instant::now();
            let end = opts.duration.map(|d| start + d);
            let mut n: u64 = 0;
            let mut last_sent = start;
            loop {
                if opts.count.is_some_and(|c| n >= c) {
                    break;
                }
                let deadline = start + opts.interval.saturating_mul(n.min(u32::MAX as u64) as u32);
                if end.is_some_and(|e| deadline >= e) {
                    break;
                }
                if !wait_until(deadline, stop) {
                    break;
                }
                // Counted as sent first: a reply may beat `sendmsg`'s
                // return.
                stats
                    .lock()
                    .expect("not poisoned")
                    .on_sent(session.next_sequence());
                session.build(&mut buf, realtime_ns);
                match sock.send_to(&buf, dst, None, None) {
                    Ok(_) => {}
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOBUFS | libc::EAGAIN)) => {
                        count_error("send_no_buffer");
                    }
                    Err(source) => {
                        let first = opts.segments.first().copied().unwrap_or(opts.reflector);
                        return Err(StampSocketError::Send {
                            addr: first,
                            port: opts.reflector_port,
                            source,
                        });
                    }
                }
                last_sent = Instant::now();
                n += 1;
            }
            wait_until(last_sent + opts.wait, stop);
            Ok(())
        })();
        receiving.store(false, Ordering::Relaxed);
        let received = receiver
            .join()
            .expect("the receiving thread does not panic");
        sent.and(received)
    });
    outcome?;

    let summary = stats.into_inner().expect("not poisoned").summary();
    let mut queue = records.into_inner().expect("not poisoned");
    Ok(SenderReport {
        summary,
        records_dropped: queue.overflowed(),
        records: queue.drain(),
        reply_errors: errors.into_inner().expect("not poisoned"),
        local,
    })
}
