//! The Session-Reflector (RFC 8762 §4.3, RFC 8972, RFC 9503): turns a
//! received Session-Sender test packet into the reply, in place, in the
//! same buffer and with the same length.
//!
//! What it is: [`reflect`] over the UDP payload, with the configuration
//! ([`ReflectorConfig`], immutable, shared by every worker) and the mutable
//! per-worker state ([`ReflectorState`]: stateful sequence numbers, Direct
//! Measurement counters, the per-source rate limiter) allocated once up
//! front. `reflect` never allocates and never reads a clock: the receive
//! time T2 comes with the packet and T3 from a closure called as late as
//! the HMACs allow.
//!
//! What it is not: headers. The caller (the AF_XDP engine, or the socket
//! mode) finds the UDP payload and, when `reflect` succeeds, sends the
//! reply back to the sender along [`Reflected::return_path`].
//!
//! Duties, per RFC:
//! * T2 (Receive Timestamp) is the time the packet was received; T3
//!   (Timestamp) is read separately, just before the reply is complete —
//!   never the same clock reading.
//! * Session-Sender Sequence Number, Timestamp and Error Estimate are
//!   copied; Session-Sender TTL is the Hop Limit the packet arrived with.
//! * Stateless: the reply's Sequence Number is the sender's; stateful
//!   (RFC 8762 §4.3.1): the reflector's own counter for the session.
//! * Authenticated mode (RFC 8762 §4.4): the sender's HMAC is verified with
//!   the session's key (a packet that fails is discarded, `bad_hmac`), the
//!   reply's HMAC computed over octets 0..96.
//! * TLVs (RFC 8972 §4): each is echoed; an unknown type gets the U flag, a
//!   known type whose length does not fit its layout the M flag (and so
//!   does a TLV running past the end of the packet, after which nothing
//!   more is parsed). The reflector's parts of known TLVs are filled in:
//!   - Location (§4.2): the received destination and source UDP ports,
//!     and the address sub-TLVs ([`fill_location_sub_tlvs`]);
//!   - Timestamp Information (§4.3): Sync Src Out and Timestamp Out from
//!     the configuration (software timestamps, [`TIMESTAMP_METHOD_SW_LOCAL`]);
//!   - Class of Service (§4.4): DSCP2 and ECN as received; the reply is
//!     sent with DSCP1 ([`Reflected::reply_traffic_class`]);
//!   - Direct Measurement (§4.5): the reflector's receive and transmit
//!     counters of the session;
//!   - HMAC (§4.8): verified with the session's key (I flag on failure),
//!     recomputed for the reply; without a key the TLV gets the U flag;
//!   - Follow-Up Telemetry (§4.7): not supported, U flag;
//!   - Destination Node Address (RFC 9503 §3): U flag when the address is
//!     not the one the packet was sent to;
//!   - Return Path (RFC 9503 §4): an SRv6 Segment List is honoured when
//!     [`ReflectorConfig::honour_return_path`] allows it (U flag otherwise,
//!     and for the sub-TLVs not supported: Control Code, Return Address,
//!     SR-MPLS). Honouring it lets a sender direct replies anywhere, so it
//!     is off by default;
//!   - Extra Padding and Access Report are echoed as they are.
//! * A configured but stopped session's test packets are discarded
//!   ([`Discard::SessionStopped`]): a stopped session answers nothing.
//! * Unknown SSIDs are reflected (statelessly, unauthenticated) or dropped
//!   ([`UnknownSsid`]).
//! * Abuse (RFC 8762 §6): a test packet from a source no honest sender
//!   has — unspecified, loopback, multicast, link-local, IPv4-mapped or
//!   -compatible IPv6; 0/8, 127/8, 169.254/16, 224/4, 240/4 and the
//!   broadcast address in IPv4 — or sent to a multicast or broadcast
//!   destination is discarded (`stamp_bad_source`): its reply would go to
//!   a group, to ourselves or to a neighbour of the reflector instead of
//!   a sender. One budget per source address, shared by every worker
//!   ([`crate::ratelimit::SourceLimiter`], on by default), bounds the
//!   reply rate. That a reply is never larger than its request unless the
//!   session is authenticated is the caller's check, since only the caller
//!   knows the headers ([`Reflected::may_exceed_request`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::auth::{self, HmacKey};
use crate::packet::{base_len, Mode, ReflectorPacket, Role, SenderPacket, HMAC_LEN};
use crate::ratelimit::SourceLimiter;
use crate::time::{ErrorEstimate, Timestamp, TimestampFormat};
use crate::tlv::{self, Tlv, TlvFlags, TlvIter};

/// Octets from the start of the payload to the SSID (unauthenticated).
const SSID_UNAUTH: usize = 14;
/// Octets from the start of the payload to the SSID (authenticated).
const SSID_AUTH: usize = 26;

/// The most SIDs of a return path (configured or from a Return Path TLV).
pub const MAX_RETURN_SEGMENTS: usize = 15;

/// Cells of the per-source rate limiter (a power of two); sources whose
/// hashes collide share a budget.
pub const RATE_LIMIT_SLOTS: usize = crate::ratelimit::SLOTS;

/// The rate limit of a configuration that does not give one (on by
/// default): [`crate::ratelimit::DEFAULT_PER_SECOND`] replies per second
/// per source, as many in a burst.
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit {
    per_second: crate::ratelimit::DEFAULT_PER_SECOND,
    burst: crate::ratelimit::DEFAULT_PER_SECOND,
};

/// Timestamp Information "Timestamp Out" value for software timestamps
/// taken in the data path (RFC 8972 §4.3, IANA "Timestamping Methods":
/// 2, SW local).
pub const TIMESTAMP_METHOD_SW_LOCAL: u8 = 2;

/// Timestamp Information "Sync Src Out" value for a clock synchronised by
/// NTP (IANA "Synchronization Sources": 1).
pub const SYNC_SOURCE_NTP: u8 = 1;

/// Stateless or stateful (RFC 8762 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReflectorMode {
    /// The reply's Sequence Number is the sender's.
    #[default]
    Stateless,
    /// The reply's Sequence Number is the reflector's own count of replies
    /// in the session, so the sender can tell forward from backward loss.
    Stateful,
}

/// What to do with a test packet whose SSID is not a configured session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownSsid {
    /// Reflect it, unauthenticated, on the default return path.
    #[default]
    Reflect,
    /// Discard it (`unknown_ssid`).
    Drop,
}

/// A budget per source address, shared by every worker: at most `burst`
/// replies at once, `per_second` on average.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained replies per second per source.
    pub per_second: u32,
    /// Replies a source may get in a burst.
    pub burst: u32,
}

/// One configured session.
#[derive(Debug, Clone)]
pub struct ReflectorSession {
    /// The Session-Sender Identifier (RFC 8972 §3).
    pub ssid: u16,
    /// Unauthenticated or authenticated.
    pub mode: Mode,
    /// The key of an authenticated session; also verifies HMAC TLVs.
    pub key: Option<HmacKey>,
    /// SIDs the replies go through before reaching the sender (empty:
    /// routed straight back). At most [`MAX_RETURN_SEGMENTS`].
    pub return_segments: Vec<Ipv6Addr>,
    /// The replies' final destination, after `return_segments`; `None`:
    /// the test packet's source (the usual case).
    pub return_destination: Option<Ipv6Addr>,
    /// Configured but stopped: its test packets are discarded
    /// ([`Discard::SessionStopped`]), not answered.
    pub stopped: bool,
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Two sessions with one SSID.
    #[error("SSID {0} is configured twice")]
    DuplicateSsid(u16),
    /// An authenticated session without a key.
    #[error("session with SSID {0} is authenticated but has no key")]
    MissingKey(u16),
    /// A return path longer than [`MAX_RETURN_SEGMENTS`].
    #[error("session with SSID {ssid}: {len} return segments, at most {MAX_RETURN_SEGMENTS}")]
    ReturnPathTooLong {
        /// The session.
        ssid: u16,
        /// Segments given.
        len: usize,
    },
    /// A rate limit of zero.
    #[error("rate limit: per_second and burst must be at least 1")]
    ZeroRateLimit,
    /// An Error Estimate with multiplier 0 (RFC 4656 §4.1.2: invalid).
    #[error("error estimate: the multiplier must not be 0 (RFC 4656 §4.1.2)")]
    ZeroMultiplier,
}

/// The reflector's configuration, shared read-only by every worker.
#[derive(Debug, Clone)]
pub struct ReflectorConfig {
    mode: ReflectorMode,
    unknown_ssid: UnknownSsid,
    /// Sorted by SSID.
    sessions: Vec<ReflectorSession>,
    timestamp_format: TimestampFormat,
    error_estimate: ErrorEstimate,
    sync_source: u8,
    rate_limit: Option<RateLimit>,
    /// The shared budgets of `rate_limit` (clones of the configuration
    /// share them).
    limiter: Option<Arc<SourceLimiter>>,
    honour_return_path: bool,
    on_link_sources: bool,
}

impl Default for ReflectorConfig {
    fn default() -> Self {
        ReflectorConfig {
            mode: ReflectorMode::Stateless,
            unknown_ssid: UnknownSsid::Reflect,
            sessions: Vec::new(),
            timestamp_format: TimestampFormat::Ntp,
            // Not synchronised to an external source, 1 ms: a software
            // clock's honest claim (RFC 4656 §4.1.2: 1 * 2^-32 * 2^22 s).
            error_estimate: ErrorEstimate {
                synchronized: false,
                ptp: false,
                scale: 22,
                multiplier: 1,
            },
            sync_source: SYNC_SOURCE_NTP,
            rate_limit: Some(DEFAULT_RATE_LIMIT),
            limiter: Some(Arc::new(SourceLimiter::new(
                DEFAULT_RATE_LIMIT.per_second,
                DEFAULT_RATE_LIMIT.burst,
            ))),
            honour_return_path: false,
            on_link_sources: false,
        }
    }
}

impl ReflectorConfig {
    /// A configuration; sessions are checked (distinct SSIDs, keys for
    /// authenticated ones, return paths not too long). `rate_limit`: `None`
    /// is no limit at all (the products built on this give
    /// [`DEFAULT_RATE_LIMIT`] when their configuration says nothing).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        mode: ReflectorMode,
        unknown_ssid: UnknownSsid,
        mut sessions: Vec<ReflectorSession>,
        timestamp_format: TimestampFormat,
        error_estimate: ErrorEstimate,
        rate_limit: Option<RateLimit>,
        honour_return_path: bool,
    ) -> Result<ReflectorConfig, ConfigError> {
        sessions.sort_by_key(|s| s.ssid);
        for w in sessions.windows(2) {
            if w[0].ssid == w[1].ssid {
                return Err(ConfigError::DuplicateSsid(w[0].ssid));
            }
        }
        for s in &sessions {
            if s.mode == Mode::Authenticated && s.key.is_none() {
                return Err(ConfigError::MissingKey(s.ssid));
            }
            if s.return_segments.len() > MAX_RETURN_SEGMENTS {
                return Err(ConfigError::ReturnPathTooLong {
                    ssid: s.ssid,
                    len: s.return_segments.len(),
                });
            }
        }
        if let Some(r) = rate_limit {
            if r.per_second == 0 || r.burst == 0 {
                return Err(ConfigError::ZeroRateLimit);
            }
        }
        if error_estimate.multiplier == 0 {
            return Err(ConfigError::ZeroMultiplier);
        }
        let error_estimate = ErrorEstimate {
            ptp: timestamp_format == TimestampFormat::Ptp,
            ..error_estimate
        };
        Ok(ReflectorConfig {
            mode,
            unknown_ssid,
            sessions,
            timestamp_format,
            error_estimate,
            sync_source: SYNC_SOURCE_NTP,
            rate_limit,
            limiter: rate_limit.map(|r| Arc::new(SourceLimiter::new(r.per_second, r.burst))),
            honour_return_path,
            on_link_sources: false,
        })
    }

    /// Answers loopback (::1, 127/8) and link-local (fe80::/10,
    /// 169.254/16) sources too. Only for a reflector on a kernel socket,
    /// whose caller checks that a loopback source arrived on the loopback
    /// interface (the kernel's own check can be switched off, e.g. by
    /// `route_localnet`): such a packet came from this host, and a
    /// link-local reply never leaves the link it came from, so neither
    /// reaches a victim elsewhere. A LAN host may probe its edge's socket
    /// reflector by its link-local address (docs/decisions/0010). Never for
    /// the engine, whose replies leave by the WAN.
    pub fn answering_on_link_sources(mut self) -> ReflectorConfig {
        self.on_link_sources = true;
        self
    }

    /// Stateless or stateful.
    pub fn mode(&self) -> ReflectorMode {
        self.mode
    }

    /// What is done with unknown SSIDs.
    pub fn unknown_ssid(&self) -> UnknownSsid {
        self.unknown_ssid
    }

    /// The reflector's Error Estimate (Z follows the timestamp format).
    pub fn error_estimate(&self) -> ErrorEstimate {
        self.error_estimate
    }

    /// The timestamp format of T2 and T3.
    pub fn timestamp_format(&self) -> TimestampFormat {
        self.timestamp_format
    }

    /// The per-source rate limit.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }

    /// The configured sessions, by SSID.
    pub fn sessions(&self) -> &[ReflectorSession] {
        &self.sessions
    }

    /// Whether Return Path TLVs with an SRv6 Segment List are followed.
    pub fn honour_return_path(&self) -> bool {
        self.honour_return_path
    }

    fn session(&self, ssid: u16, mode: Mode) -> Option<(usize, &ReflectorSession)> {
        let i = self.sessions.binary_search_by_key(&ssid, |s| s.ssid).ok()?;
        let s = &self.sessions[i];
        (s.mode == mode).then_some((i, s))
    }
}

/// A worker's mutable reflector state, allocated once: per-SSID counters
/// (three arrays of 65,536 `u32`, 768 KiB). The rate limiter's budgets
/// are in the configuration, shared by every worker.
/// Counters are per worker: a session's packets normally arrive on one rx
/// queue (one flow), so one worker sees them all.
#[derive(Debug, Clone)]
pub struct ReflectorState {
    /// Stateful Sequence Number: the next value per SSID.
    next_seq: Box<[u32]>,
    /// Direct Measurement: test packets received per SSID.
    rx: Box<[u32]>,
    /// Direct Measurement: replies sent per SSID.
    tx: Box<[u32]>,
}

impl Default for ReflectorState {
    fn default() -> Self {
        Self::new()
    }
}

impl ReflectorState {
    /// Zeroed state.
    pub fn new() -> ReflectorState {
        ReflectorState {
            next_seq: vec![0; 1 << 16].into_boxed_slice(),
            rx: vec![0; 1 << 16].into_boxed_slice(),
            tx: vec![0; 1 << 16].into_boxed_slice(),
        }
    }

    /// Forgets everything (after a configuration change), without
    /// allocating.
    pub fn reset(&mut self) {
        self.next_seq.fill(0);
        self.rx.fill(0);
        self.tx.fill(0);
    }
}

/// What the reflector knows about a received test packet besides its
/// payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// IP source (the Session-Sender).
    pub src: IpAddr,
    /// IP destination (our SID or address).
    pub dst: IpAddr,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// Hop Limit / TTL as received.
    pub ttl: u8,
    /// Traffic Class / TOS as received (DSCP and ECN).
    pub traffic_class: u8,
    /// T2: when the packet was received, Unix nanoseconds.
    pub t2_ns: i64,
}

/// The SIDs a reply goes through before the sender (at most
/// [`MAX_RETURN_SEGMENTS`]; stored inline, no allocation), and its final
/// destination when that is not the test packet's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReturnPath {
    segments: [Ipv6Addr; MAX_RETURN_SEGMENTS],
    len: u8,
    destination: Option<Ipv6Addr>,
}

impl ReturnPath {
    /// No SIDs: routed straight back to the sender.
    pub const DIRECT: ReturnPath = ReturnPath {
        segments: [Ipv6Addr::UNSPECIFIED; MAX_RETURN_SEGMENTS],
        len: 0,
        destination: None,
    };

    fn from_slice(segments: &[Ipv6Addr]) -> ReturnPath {
        let mut p = ReturnPath::DIRECT;
        let n = segments.len().min(MAX_RETURN_SEGMENTS);
        p.segments[..n].copy_from_slice(&segments[..n]);
        p.len = n as u8;
        p
    }

    /// The SIDs in travel order.
    pub fn segments(&self) -> &[Ipv6Addr] {
        &self.segments[..usize::from(self.len)]
    }

    /// The reply's final destination (after [`ReturnPath::segments`]):
    /// the configured one, else `sender`, the test packet's source.
    pub fn destination(&self, sender: Ipv6Addr) -> Ipv6Addr {
        self.destination.unwrap_or(sender)
    }
}

/// Whether a reply may be sent to `src`: false for addresses no honest
/// Session-Sender has, whose reply would go to a group, to the reflector
/// itself, to a neighbour on whatever link the reply leaves by, or to an
/// IPv4 host through an IPv6 translator — IPv6 unspecified, loopback,
/// multicast, link-local (fe80::/10), IPv4-mapped (::ffff:0:0/96) and
/// IPv4-compatible (::/96); IPv4 0.0.0.0/8, 127/8, 169.254/16, 224/4 and
/// 240/4 (the limited broadcast included).
pub fn source_may_be_answered(src: IpAddr) -> bool {
    match src {
        IpAddr::V6(a) => {
            let o = a.octets();
            let v4_embedded =
                o[..10] == [0; 10] && (o[10..12] == [0xff, 0xff] || o[10..12] == [0, 0]);
            !(a.is_unspecified()
                || a.is_loopback()
                || a.is_multicast()
                || a.is_unicast_link_local()
                || v4_embedded)
        }
        IpAddr::V4(a) => v4_may_be_answered(a),
    }
}

fn v4_may_be_answered(a: Ipv4Addr) -> bool {
    let first = a.octets()[0];
    !(first == 0 || a.is_loopback() || a.is_link_local() || first >= 224)
}

/// Loopback or link-local: see [`ReflectorConfig::answering_on_link_sources`].
fn is_on_link(src: IpAddr) -> bool {
    match src {
        IpAddr::V6(a) => a.is_loopback() || a.is_unicast_link_local(),
        IpAddr::V4(a) => a.is_loopback() || a.is_link_local(),
    }
}

/// Whether a test packet from UDP port `src_port` may be answered by a
/// reflector on `our_port`: not from a well-known port (0-1023: echo,
/// chargen, DNS, NTP, STAMP's own 862, ...) nor from our own port. A reply
/// to such a port would be read as a request by another reflector or
/// service and answered again, a loop two spoofed packets can start
/// between two reflectors. Session-Senders use ephemeral or registered
/// ports (srv6d's default is 50862).
pub fn source_port_may_be_answered(src_port: u16, our_port: u16) -> bool {
    src_port >= 1024 && src_port != our_port
}

/// A multicast (or IPv4 broadcast) destination: a test packet sent to a
/// group is not answered, however it reached us.
fn destination_is_group(dst: IpAddr) -> bool {
    match dst {
        IpAddr::V6(a) => a.is_multicast(),
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast(),
    }
}

/// A reflected packet: the payload now holds the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reflected {
    /// The session's SSID.
    pub ssid: u16,
    /// The mode the packet was handled in.
    pub mode: Mode,
    /// True if the SSID is a configured session.
    pub known_session: bool,
    /// Where the reply goes before the sender.
    pub return_path: ReturnPath,
    /// Traffic Class for the reply: the received DSCP, or DSCP1 of a Class
    /// of Service TLV; ECN bits zero.
    pub reply_traffic_class: u8,
    /// TLVs given the U flag.
    pub tlvs_unrecognized: u8,
    /// TLVs given the M flag.
    pub tlvs_malformed: u8,
    /// TLVs given the I flag.
    pub tlvs_integrity_failed: u8,
}

impl Reflected {
    /// Whether the reply may be larger on the wire than the test packet as
    /// received: only for an authenticated session whose replies go to a
    /// configured final destination. The HMAC proves the packet was once
    /// made by the key's holder, not that this copy comes from its source
    /// (the HMAC covers neither addresses nor ports, and a captured packet
    /// can be replayed with any source); a configured destination means a
    /// replay cannot aim the larger reply at a victim, and the rate limit
    /// is that destination's. Everyone else gets a reply no larger than
    /// what they sent (the caller compares whole IP packets, headers
    /// included, and discards as [`Discard::WouldAmplify`]); such a sender
    /// sends its test packets along an SRH at least as long as the return
    /// one (padding the STAMP payload does not help: the reply keeps its
    /// length).
    pub fn may_exceed_request(&self) -> bool {
        self.mode == Mode::Authenticated && self.return_path.destination.is_some()
    }
}

/// Why a test packet got no reply. [`Discard::name`] is the counter name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Discard {
    /// Shorter than a Session-Sender test packet of its mode.
    Truncated,
    /// The source exceeded its rate limit.
    RateLimited,
    /// The SSID is not a configured session and unknown SSIDs are dropped.
    UnknownSsid,
    /// The packet HMAC of an authenticated session did not verify.
    BadHmac,
    /// The source is not one a sender can have (see the module
    /// documentation), or the destination is a group: no reply to it.
    BadSource,
    /// The reply, with the headers it needs, would be larger than the test
    /// packet as received, and the session is not authenticated (counted
    /// by the caller, which knows the headers; see
    /// [`Reflected::may_exceed_request`]).
    WouldAmplify,
    /// The SSID's session is configured but stopped.
    SessionStopped,
}

impl Discard {
    /// How many there are.
    pub const COUNT: usize = 7;

    /// Every reason, in [`Discard::index`] order.
    pub const ALL: [Discard; Discard::COUNT] = [
        Discard::Truncated,
        Discard::RateLimited,
        Discard::UnknownSsid,
        Discard::BadHmac,
        Discard::BadSource,
        Discard::WouldAmplify,
        Discard::SessionStopped,
    ];

    /// Stable snake_case counter name.
    pub const fn name(self) -> &'static str {
        match self {
            Discard::Truncated => "stamp_truncated",
            Discard::RateLimited => "stamp_rate_limited",
            Discard::UnknownSsid => "stamp_unknown_ssid",
            Discard::BadHmac => "stamp_bad_hmac",
            Discard::BadSource => "stamp_bad_source",
            Discard::WouldAmplify => "stamp_would_amplify",
            Discard::SessionStopped => "stamp_session_stopped",
        }
    }

    /// Dense index in `0..COUNT`.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Reflects the Session-Sender test packet in `payload` (the UDP data) in
/// place; see the module documentation for what is done. `t3` is called
/// once, after everything but the HMACs (which cover T3) is written, and
/// returns Unix nanoseconds.
pub fn reflect(
    config: &ReflectorConfig,
    state: &mut ReflectorState,
    payload: &mut [u8],
    rx: &Received,
    t3: impl FnOnce() -> i64,
) -> Result<Reflected, Discard> {
    if payload.len() < base_len(Role::Sender, Mode::Unauthenticated) {
        return Err(Discard::Truncated);
    }
    let on_link = config.on_link_sources && is_on_link(rx.src);
    if !(on_link || source_may_be_answered(rx.src))
        || destination_is_group(rx.dst)
        || !source_port_may_be_answered(rx.src_port, rx.dst_port)
    {
        return Err(Discard::BadSource);
    }
    let ssid_at = |o: usize| {
        payload
            .get(o..o + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    // The mode is not in the bytes: an authenticated session whose SSID
    // sits at octet 26 and whose HMAC verifies wins over an unauthenticated
    // session matching octets 14..16 (MBZ, so often 0, in an authenticated
    // packet); an authenticated match whose HMAC fails is discarded unless
    // an unauthenticated session claims the packet.
    let authenticated = ssid_at(SSID_AUTH)
        .filter(|_| payload.len() >= base_len(Role::Sender, Mode::Authenticated))
        .and_then(|ssid| config.session(ssid, Mode::Authenticated))
        .map(|(i, s)| {
            let key = s
                .key
                .as_ref()
                .expect("validated: authenticated sessions have a key");
            (i, s, auth::verify_packet_hmac(key, payload).is_ok())
        });
    let unauthenticated =
        ssid_at(SSID_UNAUTH).and_then(|ssid| config.session(ssid, Mode::Unauthenticated));
    let session = match (authenticated, unauthenticated) {
        (Some((i, s, true)), _) => Some((i, s)),
        (_, Some(found)) => Some(found),
        (Some((_, _, false)), None) => return Err(Discard::BadHmac),
        (None, None) => None,
    };
    let (mode, key, return_segments) = match session {
        Some((_, s)) if s.stopped => return Err(Discard::SessionStopped),
        Some((_, s)) => (s.mode, s.key.as_ref(), s.return_segments.as_slice()),
        None if config.unknown_ssid == UnknownSsid::Drop => return Err(Discard::UnknownSsid),
        None => (Mode::Unauthenticated, None, &[][..]),
    };
    // The budget is the reply's final destination's (a configured one, else
    // the source), charged only for packets that will be answered: refused
    // packets (bad HMAC, stopped or unknown sessions) cannot spend a real
    // sender's budget, and replies steered to one configured address are
    // bounded however many sources the requests claim.
    if let Some(limiter) = &config.limiter {
        let reply_to = session
            .and_then(|(_, s)| s.return_destination)
            .map_or(rx.src, IpAddr::V6);
        if !limiter.admit(reply_to, rx.t2_ns) {
            return Err(Discard::RateLimited);
        }
    }
    // Per-session state is kept for configured sessions only (indexed by
    // the session, so an unauthenticated packet reusing an authenticated
    // session's SSID cannot disturb it); unknown SSIDs are stateless.
    let slot = session.map(|(i, _)| i);

    // (1) The sender's fields.
    let sender = SenderPacket::new_unchecked(&payload[..], mode);
    let sender_seq = sender.sequence();
    let sender_ts = sender.timestamp_bits();
    let sender_ee = sender.error_estimate_bits();
    let ssid = sender.ssid();
    if let Some(slot) = slot {
        state.rx[slot] = state.rx[slot].wrapping_add(1);
    }

    // (2) The TLVs, in place.
    let base = base_len(Role::Sender, mode);
    let mut out = Reflected {
        ssid,
        mode,
        known_session: session.is_some(),
        return_path: ReturnPath {
            destination: session.and_then(|(_, s)| s.return_destination),
            ..ReturnPath::from_slice(return_segments)
        },
        // ECN bits are the path's, not to be echoed (a CE mark would be
        // re-emitted on the reply).
        reply_traffic_class: rx.traffic_class & !0x3,
        tlvs_unrecognized: 0,
        tlvs_malformed: 0,
        tlvs_integrity_failed: 0,
    };
    // HMAC TLVs are verified over the TLVs as received, before any is
    // changed in place (RFC 8972 §4.8).
    let mut hmac_failed = [usize::MAX; 4];
    // HMAC TLVs that verified only with an Extra Padding TLV's value left
    // out (docs/decisions/0009): their reply HMAC is computed that way too.
    let mut hmac_padding_headers = [usize::MAX; 4];
    if let Some(key) = key {
        let mut n = 0;
        let mut m = 0;
        let mut iter = TlvIter::new(&payload[base..]);
        loop {
            let at = base + iter.position();
            match iter.next() {
                Some(Ok(t)) if t.tlv_type() == tlv::HMAC && tlv::is_well_formed(&t) => {
                    if auth::verify_hmac_tlv(key, payload, mode, at).is_ok() {
                    } else if auth::verify_hmac_tlv_with(
                        key,
                        payload,
                        mode,
                        at,
                        auth::HmacTlvCoverage::PaddingHeadersOnly,
                    )
                    .is_ok()
                    {
                        if m < hmac_padding_headers.len() {
                            hmac_padding_headers[m] = at;
                            m += 1;
                        }
                    } else if n < hmac_failed.len() {
                        hmac_failed[n] = at;
                        n += 1;
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            }
        }
    }
    let mut hmac_tlvs = [0usize; 4];
    let mut hmac_tlv_count = 0;
    {
        let mut pos = base;
        while pos < payload.len() {
            let tlv_len = match Tlv::new_checked(&payload[pos..]) {
                Ok(t) => t.total_len(),
                Err(_) => {
                    // Runs past the end: mark it (if its header is whole)
                    // and stop parsing.
                    if payload.len() - pos >= tlv::HEADER_LEN {
                        let mut t = Tlv::new_unchecked(&mut payload[pos..]);
                        t.set_flags(TlvFlags {
                            malformed: true,
                            ..t.flags()
                        });
                        out.tlvs_malformed = out.tlvs_malformed.saturating_add(1);
                    }
                    break;
                }
            };
            let duty = tlv_duty(
                config,
                state,
                slot,
                &mut payload[..],
                pos,
                tlv_len,
                rx,
                key.is_some() && !hmac_failed.contains(&pos),
                key.is_some(),
                &mut out,
            );
            if duty == Duty::RecomputeHmac && hmac_tlv_count < hmac_tlvs.len() {
                hmac_tlvs[hmac_tlv_count] = pos;
                hmac_tlv_count += 1;
            }
            pos += tlv_len;
        }
    }

    // (3) The reflector's fields over the sender's (see `packet`).
    let seq = match (config.mode, slot) {
        (ReflectorMode::Stateful, Some(slot)) => {
            let s = state.next_seq[slot];
            state.next_seq[slot] = s.wrapping_add(1);
            s
        }
        _ => sender_seq,
    };
    if let Some(slot) = slot {
        state.tx[slot] = state.tx[slot].wrapping_add(1);
    }
    let t2 = Timestamp::from_unix_nanos(config.timestamp_format, i128::from(rx.t2_ns));
    {
        let mut r = ReflectorPacket::new_unchecked(&mut payload[..], mode);
        r.clear_mbz();
        r.set_sender_sequence(sender_seq);
        r.set_sender_timestamp_bits(sender_ts);
        r.set_sender_error_estimate_bits(sender_ee);
        r.set_sender_ttl(rx.ttl);
        r.set_receive_timestamp_bits(t2.to_bits());
        r.set_sequence(seq);
        r.set_error_estimate(config.error_estimate);
        r.set_ssid(ssid);
        // T3, as late as possible: only the HMACs, which cover it, follow.
        let t3 = Timestamp::from_unix_nanos(config.timestamp_format, i128::from(t3()));
        r.set_timestamp_bits(t3.to_bits());
    }
    if let Some(key) = key {
        for &at in &hmac_tlvs[..hmac_tlv_count] {
            let coverage = if hmac_padding_headers.contains(&at) {
                auth::HmacTlvCoverage::PaddingHeadersOnly
            } else {
                auth::HmacTlvCoverage::WholeTlvs
            };
            if let Ok(digest) = auth::packet_hmac_tlv_digest_with(key, payload, mode, at, coverage)
            {
                let v = at + tlv::HEADER_LEN;
                payload[v..v + HMAC_LEN].copy_from_slice(&digest);
            }
        }
        if mode == Mode::Authenticated {
            // Cannot fail: the length was checked before the HMAC was.
            let _ = auth::set_packet_hmac(key, payload);
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Duty {
    Done,
    /// An HMAC TLV to recompute once the reply's Sequence Number is set.
    RecomputeHmac,
}

/// One TLV's duty (whole TLV of `len` octets at `pos`). `hmac_ok`: this
/// TLV, if an HMAC TLV, verified (checked beforehand over the TLVs as
/// received); `have_key`: the session has a key.
#[allow(clippy::too_many_arguments)]
fn tlv_duty(
    config: &ReflectorConfig,
    state: &ReflectorState,
    slot: Option<usize>,
    payload: &mut [u8],
    pos: usize,
    len: usize,
    rx: &Received,
    hmac_ok: bool,
    have_key: bool,
    out: &mut Reflected,
) -> Duty {
    let (tlv_type, well_formed) = {
        let t = Tlv::new_unchecked(&payload[pos..pos + len]);
        (t.tlv_type(), tlv::is_well_formed(&t))
    };
    // The reflector sets each flag from its own verdict (RFC 8972 §4): the
    // sender's bits (a sender sets U) are not kept.
    let mut flags = TlvFlags::default();
    let mut duty = Duty::Done;
    if !tlv::is_known_type(tlv_type) {
        flags.unrecognized = true;
    } else if !well_formed {
        flags.malformed = true;
    } else {
        let value = &mut payload[pos + tlv::HEADER_LEN..pos + len];
        match tlv_type {
            tlv::LOCATION => {
                value[0..2].copy_from_slice(&rx.dst_port.to_be_bytes());
                value[2..4].copy_from_slice(&rx.src_port.to_be_bytes());
                fill_location_sub_tlvs(&mut value[4..], rx);
            }
            tlv::TIMESTAMP_INFORMATION => {
                // In: how T2 was taken; Out: how T3 was (the same clock).
                value[0] = config.sync_source;
                value[1] = TIMESTAMP_METHOD_SW_LOCAL;
                value[2] = config.sync_source;
                value[3] = TIMESTAMP_METHOD_SW_LOCAL;
            }
            tlv::CLASS_OF_SERVICE => {
                // |DSCP1(6)|DSCP2(6)|ECN(2)|RP(2)|Reserved(16)|
                let dscp1 = value[0] >> 2;
                let word = u16::from_be_bytes([value[0], value[1]]);
                let dscp2 = u16::from(rx.traffic_class >> 2);
                let ecn = u16::from(rx.traffic_class & 0x3);
                let rp = word & 0x3;
                let word = (u16::from(dscp1) << 10) | (dscp2 << 4) | (ecn << 2) | rp;
                value[0..2].copy_from_slice(&word.to_be_bytes());
                out.reply_traffic_class = dscp1 << 2;
            }
            tlv::DIRECT_MEASUREMENT => match slot {
                Some(slot) => {
                    value[4..8].copy_from_slice(&state.rx[slot].to_be_bytes());
                    // This reply included.
                    value[8..12].copy_from_slice(&state.tx[slot].wrapping_add(1).to_be_bytes());
                }
                // No counters are kept for unknown sessions.
                None => flags.unrecognized = true,
            },
            tlv::FOLLOW_UP_TELEMETRY => flags.unrecognized = true,
            tlv::HMAC => {
                if have_key {
                    flags.integrity = !hmac_ok;
                    duty = Duty::RecomputeHmac;
                } else {
                    flags.unrecognized = true;
                }
            }
            tlv::DESTINATION_NODE_ADDRESS => {
                let ours = match (rx.dst, value.len()) {
                    (IpAddr::V6(a), 16) => value == &a.octets()[..],
                    (IpAddr::V4(a), 4) => value == &a.octets()[..],
                    _ => false,
                };
                if !ours {
                    flags.unrecognized = true;
                }
            }
            tlv::RETURN_PATH => match return_path_segments(value) {
                Some(path) if config.honour_return_path => out.return_path = path,
                _ => flags.unrecognized = true,
            },
            _ => {}
        }
    }
    let mut t = Tlv::new_unchecked(&mut payload[pos..pos + len]);
    t.set_flags(flags);
    if flags.unrecognized {
        out.tlvs_unrecognized = out.tlvs_unrecognized.saturating_add(1);
    }
    if flags.malformed {
        out.tlvs_malformed = out.tlvs_malformed.saturating_add(1);
    }
    if flags.integrity {
        out.tlvs_integrity_failed = out.tlvs_integrity_failed.saturating_add(1);
    }
    duty
}

/// The SRv6 Segment List of a Return Path TLV's value, if it holds exactly
/// that one sub-TLV with 1 to [`MAX_RETURN_SEGMENTS`] SIDs.
fn return_path_segments(value: &[u8]) -> Option<ReturnPath> {
    let mut subs = TlvIter::new(value);
    let sub = subs.next()?.ok()?;
    if subs.next().is_some() || sub.tlv_type() != tlv::SUB_SRV6_SEGMENT_LIST {
        return None;
    }
    let sids = sub.value();
    let n = sids.len() / 16;
    if n == 0 || n > MAX_RETURN_SEGMENTS || sids.len() % 16 != 0 {
        return None;
    }
    // The reply goes to the first SID: the same rules as for a source.
    let mut first = [0u8; 16];
    first.copy_from_slice(&sids[..16]);
    if !source_may_be_answered(IpAddr::V6(Ipv6Addr::from(first))) {
        return None;
    }
    let mut p = ReturnPath::DIRECT;
    for (i, c) in sids.chunks_exact(16).enumerate() {
        let mut o = [0u8; 16];
        o.copy_from_slice(c);
        p.segments[i] = Ipv6Addr::from(o);
    }
    p.len = n as u8;
    Some(p)
}

/// The Location TLV's sub-TLVs (RFC 8972 §4.2), in place: a request for
/// the received packet's destination or source IP address (the generic
/// type 4 or 7, or either specific type) becomes the specific sub-TLV of
/// the packet's address family (IPv4: types 5 / 8, the address then 12
/// zero octets; IPv6: types 6 / 9) holding that address. An address
/// sub-TLV whose Length is not 16 is zeroed and gets the M flag (the RFC's
/// rule for a Length that does not fit the address family); the MAC
/// address sub-TLVs (1-3: the reflector does not see link-layer headers)
/// and unknown types get the U flag. Sub-TLV flags are the reflector's
/// own. Stops at a sub-TLV running past the end (left as it is).
pub fn fill_location_sub_tlvs(sub_tlvs: &mut [u8], rx: &Received) {
    let mut pos = 0;
    while sub_tlvs.len() - pos >= tlv::HEADER_LEN {
        let sub_type = sub_tlvs[pos + 1];
        let len = usize::from(u16::from_be_bytes([sub_tlvs[pos + 2], sub_tlvs[pos + 3]]));
        let end = pos + tlv::HEADER_LEN + len;
        if end > sub_tlvs.len() {
            break;
        }
        let addr = match sub_type {
            tlv::SUB_LOC_DESTINATION_IP
            | tlv::SUB_LOC_DESTINATION_IPV4
            | tlv::SUB_LOC_DESTINATION_IPV6 => Some((
                rx.dst,
                tlv::SUB_LOC_DESTINATION_IPV4,
                tlv::SUB_LOC_DESTINATION_IPV6,
            )),
            tlv::SUB_LOC_SOURCE_IP | tlv::SUB_LOC_SOURCE_IPV4 | tlv::SUB_LOC_SOURCE_IPV6 => {
                Some((rx.src, tlv::SUB_LOC_SOURCE_IPV4, tlv::SUB_LOC_SOURCE_IPV6))
            }
            _ => None,
        };
        let mut flags = TlvFlags::default();
        let value = &mut sub_tlvs[pos + tlv::HEADER_LEN..end];
        match addr {
            Some((a, v4_type, v6_type)) if len == tlv::SUB_LOC_IP_LEN => {
                value.fill(0);
                let specific = match a {
                    IpAddr::V4(a) => {
                        value[..4].copy_from_slice(&a.octets());
                        v4_type
                    }
                    IpAddr::V6(a) => {
                        value.copy_from_slice(&a.octets());
                        v6_type
                    }
                };
                sub_tlvs[pos + 1] = specific;
            }
            Some(_) => {
                value.fill(0);
                flags.malformed = true;
            }
            None => flags.unrecognized = true,
        }
        sub_tlvs[pos] = flags.to_u8();
        pos = end;
    }
}
