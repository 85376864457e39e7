//! The Session-Sender's packet logic (RFC 8762 §4.2): builds test packets
//! and turns the Session-Reflector's replies into [`Record`]s.
//!
//! What it is: [`SenderSession`], the per-session state (SSID, mode, key,
//! next Sequence Number, timestamp format) with [`SenderSession::build`]
//! (writes a test packet into a buffer with T1 read from a closure as late
//! as the HMAC allows) and [`SenderSession::receive`] (checks a reply and
//! returns its record, T4 given by the caller). No I/O, no clock, no
//! allocation per packet; scheduling (intervals, counts, durations) and
//! the statistics ([`crate::stats::SessionStats`]) belong to the caller.

use crate::auth::{self, HmacKey};
use crate::packet::{base_len, Mode, ReflectorPacket, Role, SenderPacket};
use crate::stats::Record;
use crate::time::{ErrorEstimate, Timestamp, TimestampFormat};

/// Why a received datagram is not a reply of this session. [`ReplyError::name`]
/// is the counter name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ReplyError {
    /// Shorter than a Session-Reflector packet of the session's mode.
    #[error("shorter than a Session-Reflector test packet")]
    Truncated,
    /// Another SSID.
    #[error("SSID of another session")]
    OtherSession,
    /// The HMAC of an authenticated reply does not verify.
    #[error("HMAC does not verify")]
    BadHmac,
    /// Not as long as the session's test packets: a reflector answers with
    /// a packet of the test packet's size (RFC 8762 §4.3: the reflected
    /// packet mirrors the test packet; RFC 8972 §4.1: Extra Padding is
    /// echoed), so this is another session's reply (or a broken one).
    #[error("not the length of this session's test packets")]
    Length,
    /// A Sequence Number this run of the session has not sent yet: the
    /// reply to a packet of an earlier run (a session restarted on the same
    /// ports and SSID starts again at 0 while replies of the old run are
    /// still on the way) or a forgery.
    #[error("a Sequence Number this session has not sent")]
    NotSent,
}

impl ReplyError {
    /// Every reason, in counter order ([`ReplyError::index`]).
    pub const ALL: [ReplyError; 5] = [
        ReplyError::Truncated,
        ReplyError::OtherSession,
        ReplyError::BadHmac,
        ReplyError::Length,
        ReplyError::NotSent,
    ];

    /// Stable snake_case counter name.
    pub const fn name(self) -> &'static str {
        match self {
            ReplyError::Truncated => "reply_truncated",
            ReplyError::OtherSession => "reply_other_session",
            ReplyError::BadHmac => "reply_bad_hmac",
            ReplyError::Length => "reply_length",
            ReplyError::NotSent => "reply_not_sent",
        }
    }

    /// Its position in [`ReplyError::ALL`] (a dense counter index).
    pub const fn index(self) -> usize {
        match self {
            ReplyError::Truncated => 0,
            ReplyError::OtherSession => 1,
            ReplyError::BadHmac => 2,
            ReplyError::Length => 3,
            ReplyError::NotSent => 4,
        }
    }
}

/// One Session-Sender session.
#[derive(Debug, Clone)]
pub struct SenderSession {
    ssid: u16,
    mode: Mode,
    key: Option<HmacKey>,
    format: TimestampFormat,
    error_estimate: ErrorEstimate,
    next_seq: u32,
    /// Octets of test packet (at least the base packet): the rest is an
    /// Extra Padding TLV, so both directions carry the same size.
    length: usize,
    /// Replies may come from a TWAMP-light Session-Reflector (RFC 8762
    /// §4.6): see [`SenderSession::with_twamp_light`].
    twamp_light: bool,
}

/// A session's parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SenderError {
    /// Authenticated without a key.
    #[error("an authenticated session needs a key")]
    MissingKey,
    /// Padding that is not a whole Extra Padding TLV, or too long.
    #[error(
        "test packet length {0}: expected the base length ({1}) or at least 4 more, at most 1400"
    )]
    BadLength(usize, usize),
    /// Error Estimate multiplier 0 (RFC 4656 §4.1.2).
    #[error("error estimate multiplier must not be 0")]
    ZeroMultiplier,
    /// TWAMP-light interworking asked of an authenticated session (RFC 8762
    /// §4.6 considers it for unauthenticated mode only: TWAMP authenticates
    /// with another algorithm).
    #[error("TWAMP-light interworking is for unauthenticated sessions only (RFC 8762 §4.6)")]
    TwampLightAuthenticated,
}

/// The largest test packet [`SenderSession`] builds (UDP data).
pub const MAX_TEST_PACKET: usize = 1400;

impl SenderSession {
    /// A session; `length` is the UDP data length of each test packet
    /// (the base packet, or more as an Extra Padding TLV).
    pub fn new(
        ssid: u16,
        mode: Mode,
        key: Option<HmacKey>,
        format: TimestampFormat,
        error_estimate: ErrorEstimate,
        length: usize,
    ) -> Result<SenderSession, SenderError> {
        if mode == Mode::Authenticated && key.is_none() {
            return Err(SenderError::MissingKey);
        }
        let base = base_len(Role::Sender, mode);
        if length > MAX_TEST_PACKET || (length != base && length < base + crate::tlv::HEADER_LEN) {
            return Err(SenderError::BadLength(length, base));
        }
        if error_estimate.multiplier == 0 {
            return Err(SenderError::ZeroMultiplier);
        }
        Ok(SenderSession {
            ssid,
            mode,
            key,
            format,
            error_estimate: ErrorEstimate {
                ptp: format == TimestampFormat::Ptp,
                ..error_estimate
            },
            next_seq: 0,
            length,
            twamp_light: false,
        })
    }

    /// Accepts replies of a TWAMP-light Session-Reflector (RFC 8762 §4.6,
    /// RFC 5357 §4.2.1): such a reflector reads our packet as a TWAMP-Test
    /// packet whose octets after the Error Estimate are padding, so its
    /// reply carries 0 in the SSID field (MBZ in TWAMP) and may be as short
    /// as 41 octets or any length the reflector chose for its padding. With
    /// this on, a reply is taken if its SSID is this session's or 0 and it
    /// is at least 41 octets long (the length check against our own test
    /// packets is skipped). Unauthenticated sessions only.
    pub fn with_twamp_light(mut self, on: bool) -> Result<SenderSession, SenderError> {
        if on && self.mode == Mode::Authenticated {
            return Err(SenderError::TwampLightAuthenticated);
        }
        self.twamp_light = on;
        Ok(self)
    }

    /// Whether TWAMP-light replies are accepted.
    pub fn twamp_light(&self) -> bool {
        self.twamp_light
    }

    /// The SSID.
    pub fn ssid(&self) -> u16 {
        self.ssid
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// UDP data length of each test packet.
    pub fn length(&self) -> usize {
        self.length
    }

    /// The Sequence Number the next test packet gets.
    pub fn next_sequence(&self) -> u32 {
        self.next_seq
    }

    /// Writes the next test packet into `buf[..self.length()]` and returns
    /// its Sequence Number and T1 (Unix ns, from `t1`, read after
    /// everything but the HMAC is written). Panics if `buf` is shorter
    /// than [`SenderSession::length`].
    pub fn build(&mut self, buf: &mut [u8], t1: impl FnOnce() -> i64) -> (u32, i64) {
        let buf = &mut buf[..self.length];
        buf.fill(0);
        let base = base_len(Role::Sender, self.mode);
        if self.length > base {
            // One Extra Padding TLV (RFC 8972 §4.1) fills the rest.
            let value_len = (self.length - base - crate::tlv::HEADER_LEN) as u16;
            buf[base] = 0;
            buf[base + 1] = crate::tlv::EXTRA_PADDING;
            buf[base + 2..base + 4].copy_from_slice(&value_len.to_be_bytes());
        }
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        let mut p = SenderPacket::new_unchecked(&mut buf[..], self.mode);
        p.set_sequence(seq);
        p.set_error_estimate(self.error_estimate);
        p.set_ssid(self.ssid);
        let t1 = t1();
        p.set_timestamp_bits(Timestamp::from_unix_nanos(self.format, i128::from(t1)).to_bits());
        if let Some(key) = &self.key {
            if self.mode == Mode::Authenticated {
                // Cannot fail: the buffer holds the whole base packet.
                let _ = auth::set_packet_hmac(key, buf);
            }
        }
        (seq, t1)
    }

    /// [`SenderSession::receive`] for a run of the session that has sent
    /// `sent` test packets (Sequence Numbers 0 to `sent - 1`): a reply
    /// carrying a Sequence Number not sent yet is [`ReplyError::NotSent`].
    /// Once the Sequence Number has wrapped (more than 2^32 packets) every
    /// number has been sent and only `receive`'s checks apply.
    pub fn receive_sent(
        &self,
        payload: &[u8],
        t4_ns: i64,
        sent: u64,
    ) -> Result<Record, ReplyError> {
        let record = self.receive(payload, t4_ns)?;
        if sent <= u64::from(u32::MAX) && u64::from(record.seq) >= sent {
            return Err(ReplyError::NotSent);
        }
        Ok(record)
    }

    /// Checks a Session-Reflector packet (the UDP data of a reply) and
    /// returns its record. `t4_ns` is when it was received (Unix ns);
    /// timestamps are decoded with era disambiguation around it.
    pub fn receive(&self, payload: &[u8], t4_ns: i64) -> Result<Record, ReplyError> {
        if self.twamp_light {
            return self.receive_twamp_light(payload, t4_ns);
        }
        let r =
            ReflectorPacket::new_checked(payload, self.mode).map_err(|_| ReplyError::Truncated)?;
        if r.ssid() != self.ssid {
            return Err(ReplyError::OtherSession);
        }
        // After the SSID: an SSID read at the wrong offset (a reply of the
        // other mode) is caught here.
        if payload.len() != self.length {
            return Err(ReplyError::Length);
        }
        self.record(r, t4_ns)
    }

    /// [`SenderSession::receive`] for a TWAMP-light session: 41 octets or
    /// more, SSID ours or 0 (see [`SenderSession::with_twamp_light`]).
    fn receive_twamp_light(&self, payload: &[u8], t4_ns: i64) -> Result<Record, ReplyError> {
        use crate::packet::{REFLECTOR_LEN_UNAUTH, TWAMP_LIGHT_REFLECTOR_LEN};
        if payload.len() < TWAMP_LIGHT_REFLECTOR_LEN {
            return Err(ReplyError::Truncated);
        }
        // The TWAMP layout is the STAMP one up to Sender TTL (octet 40);
        // a reply shorter than 44 octets is read with zeros after it.
        let mut base = [0u8; REFLECTOR_LEN_UNAUTH];
        let n = payload.len().min(REFLECTOR_LEN_UNAUTH);
        base[..n].copy_from_slice(&payload[..n]);
        let r = ReflectorPacket::new_unchecked(&base[..], Mode::Unauthenticated);
        if r.ssid() != self.ssid && r.ssid() != 0 {
            return Err(ReplyError::OtherSession);
        }
        self.record(r, t4_ns)
    }

    fn record(&self, r: ReflectorPacket<&[u8]>, t4_ns: i64) -> Result<Record, ReplyError> {
        let payload: &[u8] = r.into_inner();
        if self.mode == Mode::Authenticated {
            let key = self.key.as_ref().expect("checked in new");
            auth::verify_packet_hmac(key, payload).map_err(|_| ReplyError::BadHmac)?;
        }
        let pivot = i128::from(t4_ns);
        let decode = |bits: u64, ptp: bool| -> i64 {
            let format = if ptp {
                TimestampFormat::Ptp
            } else {
                TimestampFormat::Ntp
            };
            let ns = Timestamp::from_bits(format, bits).to_unix_nanos(pivot);
            i64::try_from(ns).unwrap_or(if ns < 0 { i64::MIN } else { i64::MAX })
        };
        // T1 in our own format; T2 and T3 in the reflector's (its Z bit).
        let reflector_ptp = r.error_estimate().ptp;
        Ok(Record {
            seq: r.sender_sequence(),
            t1: decode(
                r.sender_timestamp_bits(),
                self.format == TimestampFormat::Ptp,
            ),
            t2: decode(r.receive_timestamp_bits(), reflector_ptp),
            t3: decode(r.timestamp_bits(), reflector_ptp),
            t4: t4_ns,
            sender_ttl: r.sender_ttl(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reflector::{reflect, Received, ReflectorConfig, ReflectorState};
    use std::net::{IpAddr, Ipv6Addr};

    fn ee() -> ErrorEstimate {
        ErrorEstimate {
            synchronized: true,
            ptp: false,
            scale: 10,
            multiplier: 2,
        }
    }

    fn rx(t2: i64) -> Received {
        Received {
            src: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            dst: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
            src_port: 50000,
            dst_port: 862,
            ttl: 61,
            traffic_class: 0,
            t2_ns: t2,
        }
    }

    const T: i64 = 1_795_000_000_123_456_789;

    #[test]
    fn round_trip_through_the_reflector_gives_the_four_timestamps() {
        for (mode, key, format, len) in [
            (Mode::Unauthenticated, None, TimestampFormat::Ntp, 44),
            (Mode::Unauthenticated, None, TimestampFormat::Ptp, 100),
            (
                Mode::Authenticated,
                Some(HmacKey::new(b"secret")),
                TimestampFormat::Ntp,
                112,
            ),
        ] {
            let mut s = SenderSession::new(9, mode, key.clone(), format, ee(), len).unwrap();
            let mut buf = vec![0u8; len];
            let (seq, t1) = s.build(&mut buf, || T);
            assert_eq!((seq, t1, s.next_sequence()), (0, T, 1));
            let sessions = match &key {
                Some(k) => vec![crate::reflector::ReflectorSession {
                    ssid: 9,
                    mode,
                    key: Some(k.clone()),
                    return_segments: vec![],
                    return_destination: None,
                    stopped: false,
                }],
                None => vec![],
            };
            let cfg = ReflectorConfig::new(
                crate::reflector::ReflectorMode::Stateless,
                crate::reflector::UnknownSsid::Reflect,
                sessions,
                TimestampFormat::Ntp,
                ee(),
                None,
                false,
            )
            .unwrap();
            let mut st = ReflectorState::new();
            reflect(&cfg, &mut st, &mut buf, &rx(T + 1_000_000), || {
                T + 1_002_000
            })
            .unwrap();
            let r = s.receive(&buf, T + 3_000_000).unwrap();
            // NTP fractions round to the nearest 2^-32 s (< 1 ns).
            let close = |a: i64, b: i64| (a - b).abs() <= 1;
            assert_eq!((r.seq, r.sender_ttl, r.t4), (0, 61, T + 3_000_000));
            assert!(close(r.t1, T), "{mode:?} {format:?} t1 {}", r.t1);
            assert!(close(r.t2, T + 1_000_000), "t2 {}", r.t2);
            assert!(close(r.t3, T + 1_002_000), "t3 {}", r.t3);
            // (T4 - T1) - (T3 - T2) = 3 ms - 2 µs.
            assert!(
                (r.round_trip() - 2_998_000).abs() <= 3,
                "{}",
                r.round_trip()
            );
        }
    }

    #[test]
    fn padding_is_one_extra_padding_tlv_and_sequence_advances() {
        let mut s = SenderSession::new(
            1,
            Mode::Unauthenticated,
            None,
            TimestampFormat::Ntp,
            ee(),
            64,
        )
        .unwrap();
        let mut buf = [0xffu8; 80];
        s.build(&mut buf, || T);
        let tlvs: Vec<_> = crate::tlv::TlvIter::new(&buf[44..64]).collect();
        assert_eq!(tlvs.len(), 1);
        let t = tlvs[0].as_ref().unwrap();
        assert_eq!((t.tlv_type(), t.length()), (crate::tlv::EXTRA_PADDING, 16));
        assert_eq!(buf[64], 0xff, "nothing written past the length");
        assert_eq!(s.build(&mut buf, || T).0, 1);
    }

    /// An authenticated reply read in the unauthenticated layout has SSID 0
    /// (its MBZ octets): an unauthenticated SSID 0 session must not take it.
    #[test]
    fn an_authenticated_reply_is_not_an_unauthenticated_ssid_0_reply() {
        let key = HmacKey::new(b"k");
        let mut auth_session = SenderSession::new(
            9,
            Mode::Authenticated,
            Some(key.clone()),
            TimestampFormat::Ntp,
            ee(),
            112,
        )
        .unwrap();
        let zero = SenderSession::new(
            0,
            Mode::Unauthenticated,
            None,
            TimestampFormat::Ntp,
            ee(),
            44,
        )
        .unwrap();
        // The test packet, reflected as a stateless reflector would
        // (same length, same SSID, HMAC recomputed).
        let mut reply = vec![0u8; 112];
        auth_session.build(&mut reply, || T);
        auth::set_packet_hmac(&key, &mut reply).unwrap();
        assert_eq!(zero.receive(&reply, T), Err(ReplyError::Length));
        assert!(auth_session.receive(&reply, T).is_ok());
    }

    #[test]
    fn replies_of_other_sessions_short_or_forged_are_refused() {
        let key = HmacKey::new(b"k");
        let s = SenderSession::new(
            5,
            Mode::Authenticated,
            Some(key.clone()),
            TimestampFormat::Ntp,
            ee(),
            112,
        )
        .unwrap();
        assert_eq!(s.receive(&[0u8; 50], T), Err(ReplyError::Truncated));
        let mut other = vec![0u8; 112];
        other[26..28].copy_from_slice(&6u16.to_be_bytes());
        assert_eq!(s.receive(&other, T), Err(ReplyError::OtherSession));
        let mut forged = vec![0u8; 112];
        forged[26..28].copy_from_slice(&5u16.to_be_bytes());
        assert_eq!(s.receive(&forged, T), Err(ReplyError::BadHmac));
        auth::set_packet_hmac(&key, &mut forged).unwrap();
        assert!(s.receive(&forged, T).is_ok());
        // A reply longer than the test packets (e.g. 112 octets from
        // another session, or padding the session did not send).
        let mut longer = forged.clone();
        longer.extend_from_slice(&[0; 4]);
        assert_eq!(s.receive(&longer, T), Err(ReplyError::Length));
    }

    #[test]
    fn a_reply_to_a_sequence_number_not_sent_is_refused() {
        let mut s = SenderSession::new(
            9,
            Mode::Unauthenticated,
            None,
            TimestampFormat::Ptp,
            ee(),
            base_len(Role::Sender, Mode::Unauthenticated),
        )
        .unwrap();
        let mut replies = Vec::new();
        for _ in 0..3 {
            let mut buf = vec![0u8; s.length()];
            s.build(&mut buf, || T);
            let cfg = ReflectorConfig::new(
                crate::reflector::ReflectorMode::Stateless,
                crate::reflector::UnknownSsid::Reflect,
                vec![],
                TimestampFormat::Ptp,
                ee(),
                None,
                false,
            )
            .unwrap();
            let mut state = ReflectorState::new();
            reflect(&cfg, &mut state, &mut buf, &rx(T + 1_000), || T + 1_500).expect("reflected");
            replies.push(buf);
        }
        // All three sent: every reply is accepted.
        for (i, r) in replies.iter().enumerate() {
            assert_eq!(s.receive_sent(r, T + 2_000, 3).unwrap().seq, i as u32);
        }
        // A restarted run that has sent one packet: only seq 0 is its own.
        assert!(s.receive_sent(&replies[0], T + 2_000, 1).is_ok());
        assert_eq!(
            s.receive_sent(&replies[1], T + 2_000, 1),
            Err(ReplyError::NotSent)
        );
        assert_eq!(
            s.receive_sent(&replies[2], T + 2_000, 0),
            Err(ReplyError::NotSent)
        );
        // The other checks come first.
        assert_eq!(
            s.receive_sent(&replies[2][..10], T, 0),
            Err(ReplyError::Truncated)
        );
        // Past the wrap every number has been sent.
        assert!(s
            .receive_sent(&replies[2], T + 2_000, u64::from(u32::MAX) + 5)
            .is_ok());
        for (i, e) in ReplyError::ALL.iter().enumerate() {
            assert_eq!(e.index(), i, "{e:?}");
        }
    }

    #[test]
    fn bad_parameters_are_refused() {
        let f = TimestampFormat::Ntp;
        assert_eq!(
            SenderSession::new(1, Mode::Authenticated, None, f, ee(), 112).unwrap_err(),
            SenderError::MissingKey
        );
        for len in [43, 45, 47, 1401] {
            assert!(matches!(
                SenderSession::new(1, Mode::Unauthenticated, None, f, ee(), len),
                Err(SenderError::BadLength(..))
            ));
        }
        let zero = ErrorEstimate {
            multiplier: 0,
            ..ee()
        };
        assert_eq!(
            SenderSession::new(1, Mode::Unauthenticated, None, f, zero, 44).unwrap_err(),
            SenderError::ZeroMultiplier
        );
    }

    /// A TWAMP-light reflector's reply to our 44-octet packet, laid out
    /// from RFC 5357 §4.2.1 (unauthenticated): Sequence Number, Timestamp,
    /// Error Estimate, MBZ (2), Receive Timestamp, Sender Sequence Number,
    /// Sender Timestamp, Sender Error Estimate, MBZ (2), Sender TTL; then
    /// `padding` octets.
    fn twamp_reply(sender: &[u8], padding: usize) -> Vec<u8> {
        let mut r = vec![0u8; 41 + padding];
        r[0..4].copy_from_slice(&7u32.to_be_bytes());
        let t3 = Timestamp::from_unix_nanos(TimestampFormat::Ntp, i128::from(T + 2_000));
        r[4..12].copy_from_slice(&t3.to_bits().to_be_bytes());
        r[12..14].copy_from_slice(&[0x80, 0x01]);
        let t2 = Timestamp::from_unix_nanos(TimestampFormat::Ntp, i128::from(T + 1_000));
        r[16..24].copy_from_slice(&t2.to_bits().to_be_bytes());
        r[24..28].copy_from_slice(&sender[0..4]);
        r[28..36].copy_from_slice(&sender[4..12]);
        r[36..38].copy_from_slice(&sender[12..14]);
        r[40] = 63;
        r
    }

    #[test]
    fn twamp_light_replies_are_taken_only_by_a_twamp_light_session() {
        for ssid in [1u16, 0] {
            let mut plain = SenderSession::new(
                ssid,
                Mode::Unauthenticated,
                None,
                TimestampFormat::Ntp,
                ee(),
                44,
            )
            .unwrap();
            let mut buf = [0u8; 44];
            plain.build(&mut buf, || T);
            let light = plain.clone().with_twamp_light(true).unwrap();
            assert!(light.twamp_light());
            for padding in [0, 3, 20] {
                let reply = twamp_reply(&buf, padding);
                let expected_plain = match (ssid, padding) {
                    (_, 0) => Err(ReplyError::Truncated),
                    (1, _) => Err(ReplyError::OtherSession),
                    _ if reply.len() == 44 => Ok(()),
                    _ => Err(ReplyError::Length),
                };
                assert_eq!(
                    plain.receive(&reply, T + 3_000).map(|_| ()),
                    expected_plain,
                    "ssid {ssid} padding {padding}"
                );
                let r = light.receive(&reply, T + 3_000).unwrap();
                assert_eq!((r.seq, r.t1, r.sender_ttl), (0, T, 63));
                assert!((r.t2 - (T + 1_000)).abs() <= 1 && (r.t3 - (T + 2_000)).abs() <= 1);
            }
            // Shorter than TWAMP's reflector packet, or another session.
            assert_eq!(
                light.receive(&twamp_reply(&buf, 0)[..40], T).map(|_| ()),
                Err(ReplyError::Truncated)
            );
            let mut other = twamp_reply(&buf, 3);
            other[14..16].copy_from_slice(&9u16.to_be_bytes());
            assert_eq!(
                light.receive(&other, T).map(|_| ()),
                Err(ReplyError::OtherSession)
            );
        }
        let auth = SenderSession::new(
            1,
            Mode::Authenticated,
            Some(HmacKey::new(b"k")),
            TimestampFormat::Ntp,
            ee(),
            112,
        )
        .unwrap();
        assert_eq!(
            auth.with_twamp_light(true).unwrap_err(),
            SenderError::TwampLightAuthenticated
        );
    }

    #[test]
    fn a_short_twamp_light_test_packet_gets_the_44_octet_base_reply() {
        use crate::packet::reflector_reply_len;
        assert_eq!(reflector_reply_len(13), None);
        assert_eq!(reflector_reply_len(14), Some(44));
        assert_eq!(reflector_reply_len(43), Some(44));
        assert_eq!(reflector_reply_len(44), Some(44));
        assert_eq!(reflector_reply_len(100), Some(100));
        // A TWAMP-light sender's packet (RFC 5357 §4.1.2, unauthenticated,
        // no padding), zero-extended as the reflectors do, reflected.
        let mut p = [0u8; 44];
        p[0..4].copy_from_slice(&5u32.to_be_bytes());
        let t1 = Timestamp::from_unix_nanos(TimestampFormat::Ntp, i128::from(T));
        p[4..12].copy_from_slice(&t1.to_bits().to_be_bytes());
        p[12..14].copy_from_slice(&[0x00, 0x01]);
        let cfg = ReflectorConfig::default();
        let mut st = ReflectorState::new();
        let r = reflect(&cfg, &mut st, &mut p, &rx(T + 1_000), || T + 2_000).unwrap();
        assert_eq!(r.ssid, 0);
        let reply = crate::packet::ReflectorRepr::parse(
            &ReflectorPacket::new_checked(&p[..], Mode::Unauthenticated).unwrap(),
        )
        .unwrap();
        assert_eq!(
            (
                reply.sequence,
                reply.sender_sequence,
                reply.sender_timestamp,
                reply.sender_ttl
            ),
            (5, 5, t1.to_bits(), 61)
        );
    }
}
