//! Behaviour tests of the Session-Reflector (`stamp::reflector::reflect`).
//!
//! Every test builds a Session-Sender packet with the codec's `SenderRepr`
//! and `TlvRepr` (signed with `stamp::auth` when authenticated), reflects
//! it, parses the reply with `ReflectorRepr` / `TlvRepr` / `Tlv` and
//! compares it with what RFC 8762, RFC 8972 and RFC 9503 prescribe for
//! those inputs. Expected values are derived from the inputs (or from the
//! RFCs and IANA registries), never copied from the reflector's output.
//!
//! The review that wrote these tests found seven deviations in the
//! reflector (flags ORed with the sender's, HMAC TLVs verified after
//! earlier TLVs were rewritten, Timestamp Information In fields not
//! filled, a rate limiter losing fractions, unknown SSIDs counted
//! statefully, state keyed by SSID across modes, an unauthenticated SSID 0
//! capturing authenticated packets); each has a test below.

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use stamp::auth::{self, HmacKey};
use stamp::packet::{
    base_len, Mode, ReflectorPacket, ReflectorRepr, Role, SenderPacket, SenderRepr,
};
use stamp::reflector::{
    reflect, ConfigError, Discard, RateLimit, Received, Reflected, ReflectorConfig, ReflectorMode,
    ReflectorSession, ReflectorState, ReturnPath, UnknownSsid, MAX_RETURN_SEGMENTS,
};
use stamp::time::{ErrorEstimate, NtpTimestamp, PtpTimestamp, TimestampFormat};
use stamp::tlv::{self, ReturnPathSubTlv, Tlv, TlvFlags, TlvIter, TlvRepr};

// ------------------------------------------------------------ fixtures

const NS: i64 = 1_000_000_000;
/// T2: 2023-11-14T22:13:20.123456789Z.
const T2: i64 = 1_700_000_000 * NS + 123_456_789;
/// T3, distinct from T2 and later.
const T3: i64 = T2 + 37_001;
/// NTP seconds from 1900 to 1970 (RFC 5905 §6).
const NTP_UNIX_OFFSET: i64 = 2_208_988_800;

const SENDER_ADDR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1);
const OUR_ADDR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 0x100);
const SID_A: Ipv6Addr = Ipv6Addr::new(0xfc00, 0, 0, 0xa, 0, 0, 0, 0x100);
const SID_B: Ipv6Addr = Ipv6Addr::new(0xfc00, 0, 0, 0xb, 0, 0, 0, 0x100);

/// DSCP EF (46) with ECN ECT(1).
const RX_TRAFFIC_CLASS: u8 = (46 << 2) | 0b01;

fn rx() -> Received {
    Received {
        src: IpAddr::V6(SENDER_ADDR),
        dst: IpAddr::V6(OUR_ADDR),
        src_port: 50_123,
        dst_port: 862,
        ttl: 61,
        traffic_class: RX_TRAFFIC_CLASS,
        t2_ns: T2,
    }
}

fn rx_from(src: IpAddr, t2_ns: i64) -> Received {
    Received { src, t2_ns, ..rx() }
}

/// The reflector's Error Estimate handed to the configuration.
fn reflector_ee() -> ErrorEstimate {
    ErrorEstimate {
        synchronized: true,
        ptp: false,
        scale: 5,
        multiplier: 3,
    }
}

/// The sender's Error Estimate (distinct from the reflector's).
fn sender_ee() -> ErrorEstimate {
    ErrorEstimate {
        synchronized: false,
        ptp: true,
        scale: 12,
        multiplier: 9,
    }
}

const SENDER_TS: u64 = 0x1234_5678_9abc_def0;

fn key() -> HmacKey {
    HmacKey::new(b"stamp reflector test key, 32 oc")
}

fn other_key() -> HmacKey {
    HmacKey::new(b"not the key of the session")
}

fn sender(mode: Mode, sequence: u32, ssid: u16, tlvs: Vec<TlvRepr>) -> SenderRepr {
    SenderRepr {
        mode,
        sequence,
        timestamp: SENDER_TS,
        error_estimate: sender_ee(),
        ssid,
        tlvs,
    }
}

/// The sender packet on the wire; signed with `key` when authenticated.
fn emit(repr: &SenderRepr, key: Option<&HmacKey>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut SenderPacket::new_unchecked(&mut buf[..], repr.mode));
    if let Some(k) = key {
        auth::set_packet_hmac(k, &mut buf).unwrap();
    }
    buf
}

fn session(ssid: u16, mode: Mode, key: Option<HmacKey>) -> ReflectorSession {
    ReflectorSession {
        ssid,
        mode,
        key,
        return_segments: Vec::new(),
        return_destination: None,
        stopped: false,
    }
}

fn config_with(
    mode: ReflectorMode,
    unknown: UnknownSsid,
    sessions: Vec<ReflectorSession>,
    format: TimestampFormat,
    rate_limit: Option<RateLimit>,
    honour_return_path: bool,
) -> ReflectorConfig {
    ReflectorConfig::new(
        mode,
        unknown,
        sessions,
        format,
        reflector_ee(),
        rate_limit,
        honour_return_path,
    )
    .unwrap()
}

/// Stateless, unknown SSIDs reflected, NTP, no rate limit.
fn config(sessions: Vec<ReflectorSession>) -> ReflectorConfig {
    config_with(
        ReflectorMode::Stateless,
        UnknownSsid::Reflect,
        sessions,
        TimestampFormat::Ntp,
        None,
        false,
    )
}

fn run(
    config: &ReflectorConfig,
    state: &mut ReflectorState,
    payload: &mut [u8],
    received: &Received,
) -> Result<Reflected, Discard> {
    reflect(config, state, payload, received, || T3)
}

fn reply(payload: &[u8], mode: Mode) -> ReflectorRepr {
    let p = ReflectorPacket::new_checked(payload, mode).expect("reply has a whole base packet");
    ReflectorRepr::parse(&p).expect("reply parses")
}

/// Every TLV of the reply as (flags, type, value) views, parsed without
/// checking the layout of the type (so that M-flagged TLVs can be read).
fn raw_tlvs(payload: &[u8], mode: Mode) -> Vec<(TlvFlags, u8, Vec<u8>)> {
    TlvIter::new(&payload[base_len(Role::Reflector, mode)..])
        .map(|t| {
            let t = t.expect("whole TLVs");
            (t.flags(), t.tlv_type(), t.value().to_vec())
        })
        .collect()
}

/// Offsets (from the start of the packet) of each TLV of a packet.
fn tlv_offsets(payload: &[u8], mode: Mode) -> Vec<usize> {
    let base = base_len(Role::Sender, mode);
    let mut it = TlvIter::new(&payload[base..]);
    let mut out = Vec::new();
    loop {
        let at = it.position();
        match it.next() {
            Some(Ok(_)) => out.push(base + at),
            _ => return out,
        }
    }
}

fn flags(u: bool, m: bool, i: bool) -> TlvFlags {
    TlvFlags {
        unrecognized: u,
        malformed: m,
        integrity: i,
    }
}

const CLEAR: TlvFlags = TlvFlags {
    unrecognized: false,
    malformed: false,
    integrity: false,
};

/// The NTP timestamp of a Unix time, computed here from RFC 5905 §6
/// (not with `stamp::time`): seconds since 1900 mod 2^32, fraction in
/// units of 2^-32 s.
fn ntp_expected(unix_ns: i64) -> (u32, u32) {
    let secs = unix_ns.div_euclid(NS) + NTP_UNIX_OFFSET;
    let nanos = unix_ns.rem_euclid(NS) as u128;
    let fraction = ((nanos << 32) + (NS as u128) / 2) / NS as u128;
    (secs as u32, fraction as u32)
}

// ------------------------------------------------------------ stateless base packet

fn check_stateless_base(mode: Mode, format: TimestampFormat) {
    let k = key();
    let sessions = match mode {
        Mode::Unauthenticated => vec![session(0x5151, mode, None)],
        Mode::Authenticated => vec![session(0x5151, mode, Some(k.clone()))],
    };
    let cfg = config_with(
        ReflectorMode::Stateless,
        UnknownSsid::Drop,
        sessions,
        format,
        None,
        false,
    );
    let mut state = ReflectorState::new();
    let repr = sender(
        mode,
        0xdead_beef,
        0x5151,
        vec![TlvRepr::ExtraPadding {
            flags: CLEAR,
            padding: vec![0x5a; 12],
        }],
    );
    let mut buf = emit(&repr, None);
    // A sender whose MBZ octets are not zero (RFC 8762 asks the reflector
    // to zero them in its reply all the same).
    match mode {
        Mode::Unauthenticated => buf[16..44].fill(0xa5),
        Mode::Authenticated => {
            buf[4..16].fill(0xa5);
            buf[28..96].fill(0xa5);
        }
    }
    if mode == Mode::Authenticated {
        auth::set_packet_hmac(&k, &mut buf).unwrap();
    }
    let len = buf.len();
    let t3_calls = Cell::new(0);
    let out = reflect(&cfg, &mut state, &mut buf, &rx(), || {
        t3_calls.set(t3_calls.get() + 1);
        T3
    })
    .expect("reflected");
    assert_eq!(t3_calls.get(), 1, "T3 read exactly once");
    assert_eq!(buf.len(), len, "reply has the length of the test packet");
    assert_eq!(out.ssid, 0x5151);
    assert_eq!(out.mode, mode);
    assert!(out.known_session);
    assert_eq!(out.return_path, ReturnPath::DIRECT);

    let r = reply(&buf, mode);
    assert_eq!(
        r.sequence, 0xdead_beef,
        "stateless: the sender's Sequence Number"
    );
    assert_eq!(r.sender_sequence, 0xdead_beef);
    assert_eq!(r.sender_timestamp, SENDER_TS);
    assert_eq!(r.sender_error_estimate, sender_ee());
    assert_eq!(r.sender_ttl, 61, "Session-Sender TTL is the received TTL");
    assert_eq!(r.ssid, 0x5151, "SSID kept (RFC 8972 §3)");
    assert!(
        ReflectorPacket::new_checked(&buf[..], mode)
            .unwrap()
            .mbz_is_zero(),
        "MBZ zero in the reply"
    );
    let ee = r.error_estimate;
    assert_eq!(
        ee.ptp,
        format == TimestampFormat::Ptp,
        "Z bit matches the format"
    );
    assert_eq!(
        (ee.synchronized, ee.scale, ee.multiplier),
        (true, 5, 3),
        "the configured Error Estimate"
    );
    // T2 and T3 from two distinct clock readings, in the configured format.
    match format {
        TimestampFormat::Ntp => {
            let (s2, f2) = ntp_expected(T2);
            let (s3, f3) = ntp_expected(T3);
            let got2 = NtpTimestamp::from_bits(r.receive_timestamp);
            let got3 = NtpTimestamp::from_bits(r.timestamp);
            assert_eq!(got2.seconds, s2);
            assert!(got2.fraction.abs_diff(f2) <= 1, "T2 fraction");
            assert_eq!(got3.seconds, s3);
            assert!(got3.fraction.abs_diff(f3) <= 1, "T3 fraction");
            // And back to Unix time with stamp::time.
            let pivot = i128::from(T2);
            assert!((got2.to_unix_nanos(pivot) - i128::from(T2)).abs() <= 1);
            assert!((got3.to_unix_nanos(pivot) - i128::from(T3)).abs() <= 1);
        }
        TimestampFormat::Ptp => {
            let got2 = PtpTimestamp::from_bits(r.receive_timestamp);
            let got3 = PtpTimestamp::from_bits(r.timestamp);
            assert_eq!(
                (got2.seconds, got2.nanoseconds),
                ((T2 / NS) as u32, (T2 % NS) as u32)
            );
            assert_eq!(
                (got3.seconds, got3.nanoseconds),
                ((T3 / NS) as u32, (T3 % NS) as u32)
            );
            assert_eq!(got2.to_unix_nanos(i128::from(T2)), i128::from(T2));
            assert_eq!(got3.to_unix_nanos(i128::from(T2)), i128::from(T3));
        }
    }
    assert_ne!(r.timestamp, r.receive_timestamp);
    // TLVs echoed.
    assert_eq!(
        r.tlvs,
        vec![TlvRepr::ExtraPadding {
            flags: CLEAR,
            padding: vec![0x5a; 12]
        }]
    );
    if mode == Mode::Authenticated {
        auth::verify_packet_hmac(&k, &buf).expect("reply HMAC verifies");
        assert!(auth::verify_packet_hmac(&other_key(), &buf).is_err());
    }
}

#[test]
fn stateless_unauthenticated_ntp() {
    check_stateless_base(Mode::Unauthenticated, TimestampFormat::Ntp);
}

#[test]
fn stateless_unauthenticated_ptp() {
    check_stateless_base(Mode::Unauthenticated, TimestampFormat::Ptp);
}

#[test]
fn stateless_authenticated_ntp() {
    check_stateless_base(Mode::Authenticated, TimestampFormat::Ntp);
}

#[test]
fn stateless_authenticated_ptp() {
    check_stateless_base(Mode::Authenticated, TimestampFormat::Ptp);
}

#[test]
fn z_bit_follows_the_format_not_the_given_estimate() {
    for (format, given_ptp) in [(TimestampFormat::Ntp, true), (TimestampFormat::Ptp, false)] {
        let cfg = ReflectorConfig::new(
            ReflectorMode::Stateless,
            UnknownSsid::Reflect,
            vec![],
            format,
            ErrorEstimate {
                ptp: given_ptp,
                ..reflector_ee()
            },
            None,
            false,
        )
        .unwrap();
        let mut buf = emit(&sender(Mode::Unauthenticated, 1, 1, vec![]), None);
        run(&cfg, &mut ReflectorState::new(), &mut buf, &rx()).unwrap();
        let r = reply(&buf, Mode::Unauthenticated);
        assert_eq!(r.error_estimate.ptp, format == TimestampFormat::Ptp);
    }
}

#[test]
fn sender_error_estimate_copied_raw() {
    // The Session-Sender Error Estimate is copied bit for bit, whatever its
    // value (even an invalid multiplier of zero).
    let cfg = config(vec![]);
    for bits in [0x0000u16, 0xffff, 0x4001, 0x80ff] {
        let mut buf = emit(&sender(Mode::Unauthenticated, 1, 1, vec![]), None);
        buf[12..14].copy_from_slice(&bits.to_be_bytes());
        run(&cfg, &mut ReflectorState::new(), &mut buf, &rx()).unwrap();
        let p = ReflectorPacket::new_checked(&buf[..], Mode::Unauthenticated).unwrap();
        assert_eq!(p.sender_error_estimate_bits(), bits);
    }
}

// ------------------------------------------------------------ stateful

fn stateful_config(sessions: Vec<ReflectorSession>) -> ReflectorConfig {
    config_with(
        ReflectorMode::Stateful,
        UnknownSsid::Drop,
        sessions,
        TimestampFormat::Ntp,
        None,
        false,
    )
}

fn reflect_seq(
    cfg: &ReflectorConfig,
    state: &mut ReflectorState,
    ssid: u16,
    seq: u32,
) -> (u32, u32) {
    let mut buf = emit(&sender(Mode::Unauthenticated, seq, ssid, vec![]), None);
    run(cfg, state, &mut buf, &rx()).expect("reflected");
    let r = reply(&buf, Mode::Unauthenticated);
    (r.sequence, r.sender_sequence)
}

#[test]
fn stateful_counts_per_ssid_from_zero() {
    let cfg = stateful_config(vec![
        session(1, Mode::Unauthenticated, None),
        session(2, Mode::Unauthenticated, None),
    ]);
    let mut state = ReflectorState::new();
    // Sender sequence numbers with gaps, reordering and repeats: the
    // reflector's own count ignores them (RFC 8762 §4.3.1).
    assert_eq!(reflect_seq(&cfg, &mut state, 1, 100), (0, 100));
    assert_eq!(reflect_seq(&cfg, &mut state, 1, 7), (1, 7));
    assert_eq!(reflect_seq(&cfg, &mut state, 2, 100), (0, 100));
    assert_eq!(reflect_seq(&cfg, &mut state, 1, 7), (2, 7));
    assert_eq!(reflect_seq(&cfg, &mut state, 2, u32::MAX), (1, u32::MAX));
    assert_eq!(reflect_seq(&cfg, &mut state, 1, 0), (3, 0));
    state.reset();
    assert_eq!(reflect_seq(&cfg, &mut state, 2, 55), (0, 55));
    assert_eq!(reflect_seq(&cfg, &mut state, 1, 56), (0, 56));
    assert_eq!(reflect_seq(&cfg, &mut state, 1, 57), (1, 57));
}

#[test]
fn stateful_authenticated_counts_and_signs() {
    let k = key();
    let cfg = stateful_config(vec![session(9, Mode::Authenticated, Some(k.clone()))]);
    let mut state = ReflectorState::new();
    for (i, seq) in [500u32, 499, 1_000].into_iter().enumerate() {
        let mut buf = emit(&sender(Mode::Authenticated, seq, 9, vec![]), Some(&k));
        run(&cfg, &mut state, &mut buf, &rx()).unwrap();
        let r = reply(&buf, Mode::Authenticated);
        assert_eq!((r.sequence, r.sender_sequence), (i as u32, seq));
        auth::verify_packet_hmac(&k, &buf).expect("HMAC over the reflector's Sequence Number");
    }
}

#[test]
fn states_are_independent() {
    let cfg = stateful_config(vec![session(1, Mode::Unauthenticated, None)]);
    let mut a = ReflectorState::new();
    let mut b = ReflectorState::default();
    assert_eq!(reflect_seq(&cfg, &mut a, 1, 9).0, 0);
    assert_eq!(reflect_seq(&cfg, &mut a, 1, 9).0, 1);
    assert_eq!(reflect_seq(&cfg, &mut b, 1, 9).0, 0);
}

#[test]
fn unknown_ssid_reflected_statelessly_in_stateful_config() {
    // reflector.rs module docs: "Unknown SSIDs are reflected (statelessly,
    // unauthenticated)".
    let cfg = config_with(
        ReflectorMode::Stateful,
        UnknownSsid::Reflect,
        vec![],
        TimestampFormat::Ntp,
        None,
        false,
    );
    let mut state = ReflectorState::new();
    assert_eq!(reflect_seq(&cfg, &mut state, 77, 1_000), (1_000, 1_000));
    assert_eq!(reflect_seq(&cfg, &mut state, 77, 1_001), (1_001, 1_001));
}

#[test]
fn unauthenticated_packets_do_not_disturb_an_authenticated_session() {
    // An authenticated session's stateful Sequence Number lets its sender
    // tell forward from backward loss (RFC 8762 §4.3.1). A packet that does
    // not verify is not part of the session; one sent in unauthenticated
    // mode with the same SSID (reflected as an unknown session) must not be
    // either.
    let k = key();
    let cfg = config_with(
        ReflectorMode::Stateful,
        UnknownSsid::Reflect,
        vec![session(9, Mode::Authenticated, Some(k.clone()))],
        TimestampFormat::Ntp,
        None,
        false,
    );
    let mut state = ReflectorState::new();
    let auth_seq = |state: &mut ReflectorState| {
        let mut buf = emit(&sender(Mode::Authenticated, 1, 9, vec![]), Some(&k));
        run(&cfg, state, &mut buf, &rx()).unwrap();
        reply(&buf, Mode::Authenticated).sequence
    };
    assert_eq!(auth_seq(&mut state), 0);
    // Spoofed, unauthenticated, same SSID: reflected as an unknown SSID.
    let mut spoof = emit(&sender(Mode::Unauthenticated, 1, 9, vec![]), None);
    let out = run(&cfg, &mut state, &mut spoof, &rx()).unwrap();
    assert!(!out.known_session);
    assert_eq!(auth_seq(&mut state), 1, "the session's counter moved");
}

// ------------------------------------------------------------ authentication

#[test]
fn bad_packet_hmac_is_discarded_and_changes_nothing() {
    let k = key();
    let cfg = config_with(
        ReflectorMode::Stateful,
        UnknownSsid::Reflect,
        vec![session(9, Mode::Authenticated, Some(k.clone()))],
        TimestampFormat::Ntp,
        None,
        false,
    );
    let mut state = ReflectorState::new();
    let dm = || TlvRepr::DirectMeasurement {
        flags: CLEAR,
        sender_tx: 1,
        reflector_rx: 0,
        reflector_tx: 0,
    };
    let good = emit(&sender(Mode::Authenticated, 42, 9, vec![dm()]), Some(&k));
    let mut bad_packets = Vec::new();
    // HMAC field corrupted.
    let mut b = good.clone();
    b[100] ^= 0x01;
    bad_packets.push(b);
    // A covered octet (the Timestamp) changed after signing.
    let mut b = good.clone();
    b[20] ^= 0x80;
    bad_packets.push(b);
    // Signed with another key.
    bad_packets.push(emit(
        &sender(Mode::Authenticated, 42, 9, vec![dm()]),
        Some(&other_key()),
    ));
    // Not signed at all.
    bad_packets.push(emit(&sender(Mode::Authenticated, 42, 9, vec![dm()]), None));
    for bad in bad_packets {
        let mut buf = bad.clone();
        let called = Cell::new(false);
        let r = reflect(&cfg, &mut state, &mut buf, &rx(), || {
            called.set(true);
            T3
        });
        assert_eq!(r, Err(Discard::BadHmac));
        assert_eq!(buf, bad, "payload untouched");
        assert!(!called.get(), "no T3 read for a discarded packet");
    }
    // Nothing was counted: the first good packet is the session's first.
    let mut buf = good.clone();
    run(&cfg, &mut state, &mut buf, &rx()).unwrap();
    let r = reply(&buf, Mode::Authenticated);
    assert_eq!(r.sequence, 0);
    match &r.tlvs[0] {
        TlvRepr::DirectMeasurement {
            reflector_rx,
            reflector_tx,
            ..
        } => assert_eq!((*reflector_rx, *reflector_tx), (1, 1)),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn discard_names_are_stable_and_dense() {
    for (i, d) in Discard::ALL.iter().enumerate() {
        assert_eq!(d.index(), i);
        assert!(d.name().starts_with("stamp_"));
    }
    assert_eq!(Discard::ALL.len(), Discard::COUNT);
}

/// Writes a correct HMAC TLV value at `at` (RFC 8972 §4.8).
fn sign_hmac_tlv(k: &HmacKey, buf: &mut [u8], mode: Mode, at: usize) {
    let d = auth::packet_hmac_tlv_digest(k, buf, mode, at).unwrap();
    buf[at + tlv::HEADER_LEN..at + tlv::HEADER_LEN + 16].copy_from_slice(&d);
}

fn hmac_tlv() -> TlvRepr {
    TlvRepr::Hmac {
        flags: CLEAR,
        hmac: [0; 16],
    }
}

fn check_hmac_tlv(mode: Mode, corrupt: bool) {
    let k = key();
    let cfg = stateful_config(vec![session(3, mode, Some(k.clone()))]);
    let mut state = ReflectorState::new();
    // Burn one sequence number so that the reply's (1) differs from the
    // sender's and from zero.
    let mut first = emit(
        &sender(mode, 7, 3, vec![]),
        (mode == Mode::Authenticated).then_some(&k),
    );
    run(&cfg, &mut state, &mut first, &rx()).unwrap();

    let repr = sender(
        mode,
        0x0102_0304,
        3,
        vec![
            // A TLV the reflector leaves as it is (see
            // `hmac_tlv_verified_over_the_tlvs_as_received` for others).
            TlvRepr::ExtraPadding {
                flags: CLEAR,
                padding: vec![9; 8],
            },
            hmac_tlv(),
        ],
    );
    let mut buf = emit(&repr, None);
    let at = tlv_offsets(&buf, mode)[1];
    sign_hmac_tlv(&k, &mut buf, mode, at);
    if corrupt {
        buf[at + tlv::HEADER_LEN] ^= 0xff;
    }
    if mode == Mode::Authenticated {
        auth::set_packet_hmac(&k, &mut buf).unwrap();
    }
    let sent_hmac = buf[at + 4..at + 20].to_vec();
    let out = run(&cfg, &mut state, &mut buf, &rx()).unwrap();
    let tlvs = raw_tlvs(&buf, mode);
    assert_eq!(tlvs[0], (CLEAR, tlv::EXTRA_PADDING, vec![9; 8]));
    assert_eq!(tlvs[1].1, tlv::HMAC);
    assert_eq!(
        tlvs[1].0,
        flags(false, false, corrupt),
        "I flag iff it did not verify"
    );
    assert_eq!(out.tlvs_integrity_failed, u8::from(corrupt));
    assert_eq!(out.tlvs_unrecognized, 0);
    // Recomputed over the reply's Sequence Number and preceding TLVs.
    assert_eq!(reply(&buf, mode).sequence, 1);
    auth::verify_hmac_tlv(&k, &buf, mode, at).expect("reply's HMAC TLV verifies");
    assert_ne!(buf[at + 4..at + 20].to_vec(), sent_hmac);
    if mode == Mode::Authenticated {
        auth::verify_packet_hmac(&k, &buf).unwrap();
    }
}

#[test]
fn hmac_tlv_unauthenticated_good() {
    check_hmac_tlv(Mode::Unauthenticated, false);
}

#[test]
fn hmac_tlv_unauthenticated_bad_sets_i() {
    check_hmac_tlv(Mode::Unauthenticated, true);
}

#[test]
fn hmac_tlv_authenticated_good() {
    check_hmac_tlv(Mode::Authenticated, false);
}

#[test]
fn hmac_tlv_authenticated_bad_sets_i() {
    check_hmac_tlv(Mode::Authenticated, true);
}

/// teaparty's reading of RFC 8972 §4.8 (docs/decisions/0009): an Extra
/// Padding TLV before the HMAC TLV is covered by its header only. srv6d
/// sends the whole TLVs, but takes this reading from a peer (no I flag)
/// and answers with an HMAC the peer verifies the same way.
#[test]
fn hmac_tlv_over_padding_headers_only_is_accepted_and_answered_in_kind() {
    for mode in [Mode::Unauthenticated, Mode::Authenticated] {
        let k = key();
        let cfg = config(vec![session(3, mode, Some(k.clone()))]);
        let repr = sender(
            mode,
            0x0102_0304,
            3,
            vec![
                TlvRepr::ExtraPadding {
                    flags: CLEAR,
                    padding: vec![9; 8],
                },
                hmac_tlv(),
            ],
        );
        let mut buf = emit(&repr, None);
        let offsets = tlv_offsets(&buf, mode);
        let (pad, at) = (offsets[0], offsets[1]);
        let headers_only = |b: &[u8]| auth::hmac16(&k, &[&b[..4], &b[pad..pad + 4]]);
        let d = headers_only(&buf);
        buf[at + 4..at + 20].copy_from_slice(&d);
        if mode == Mode::Authenticated {
            auth::set_packet_hmac(&k, &mut buf).unwrap();
        }
        let out = run(&cfg, &mut ReflectorState::new(), &mut buf, &rx()).unwrap();
        assert_eq!(out.tlvs_integrity_failed, 0, "{mode:?}");
        assert_eq!(raw_tlvs(&buf, mode)[1].0, CLEAR, "{mode:?}: no I flag");
        let expected = headers_only(&buf);
        assert_eq!(buf[at + 4..at + 20], expected, "{mode:?}");
        assert!(
            auth::verify_hmac_tlv(&k, &buf, mode, at).is_err(),
            "{mode:?}: the reply follows the sender's reading"
        );
        // A wrong HMAC still sets I under both readings.
        let mut bad = emit(&repr, None);
        let d = headers_only(&bad);
        bad[at + 4..at + 20].copy_from_slice(&d);
        bad[at + 4] ^= 1;
        if mode == Mode::Authenticated {
            auth::set_packet_hmac(&k, &mut bad).unwrap();
        }
        let out = run(&cfg, &mut ReflectorState::new(), &mut bad, &rx()).unwrap();
        assert_eq!(out.tlvs_integrity_failed, 1, "{mode:?}");
    }
}

#[test]
fn hmac_tlv_with_wrong_key_sets_i() {
    let cfg = config(vec![session(3, Mode::Unauthenticated, Some(key()))]);
    let mut buf = emit(&sender(Mode::Unauthenticated, 5, 3, vec![hmac_tlv()]), None);
    let at = tlv_offsets(&buf, Mode::Unauthenticated)[0];
    sign_hmac_tlv(&other_key(), &mut buf, Mode::Unauthenticated, at);
    run(&cfg, &mut ReflectorState::new(), &mut buf, &rx()).unwrap();
    assert_eq!(
        raw_tlvs(&buf, Mode::Unauthenticated)[0].0,
        flags(false, false, true)
    );
    auth::verify_hmac_tlv(&key(), &buf, Mode::Unauthenticated, at).unwrap();
}

#[test]
fn hmac_tlv_without_a_key_is_unrecognized() {
    // Unknown SSID (no key) and a keyless unauthenticated session.
    for cfg in [
        config(vec![]),
        config(vec![session(3, Mode::Unauthenticated, None)]),
    ] {
        let mut buf = emit(&sender(Mode::Unauthenticated, 5, 3, vec![hmac_tlv()]), None);
        let sent = buf[48..64].to_vec();
        let out = run(&cfg, &mut ReflectorState::new(), &mut buf, &rx()).unwrap();
        let tlvs = raw_tlvs(&buf, Mode::Unauthenticated);
        assert_eq!(tlvs[0].0, flags(true, false, false));
        assert_eq!(tlvs[0].2, sent, "value echoed");
        assert_eq!(out.tlvs_unrecognized, 1);
    }
}

#[test]
fn hmac_tlv_verified_over_the_tlvs_as_received() {
    // RFC 8972 §4.8: the sender's HMAC covers the Sequence Number and the
    // preceding TLVs as the sender sent them. The reflector fills in the
    // Location TLV (§4.2) before it reaches the HMAC TLV.
    // The same holds for a U flag the reflector sets on an unknown type.
    let k = key();
    let cfg = config(vec![session(3, Mode::Unauthenticated, Some(k.clone()))]);
    let before = [
        TlvRepr::Location {
            flags: CLEAR,
            dst_port: 0,
            src_port: 0,
            sub_tlvs: vec![],
        },
        TlvRepr::Unknown {
            flags: CLEAR,
            tlv_type: 200,
            value: vec![9; 8],
        },
    ];
    for first in before {
        let repr = sender(Mode::Unauthenticated, 5, 3, vec![first.clone(), hmac_tlv()]);
        let mut buf = emit(&repr, None);
        let at = tlv_offsets(&buf, Mode::Unauthenticated)[1];
        sign_hmac_tlv(&k, &mut buf, Mode::Unauthenticated, at);
        let out = run(&cfg, &mut ReflectorState::new(), &mut buf, &rx()).unwrap();
        assert_eq!(out.tlvs_integrity_failed, 0, "after {first:?}");
        assert_eq!(
            raw_tlvs(&buf, Mode::Unauthenticated)[1].0,
            CLEAR,
            "after {first:?}"
        );
    }
}

// ------------------------------------------------------------ SSIDs

#[test]
fn unknown_ssid_dropped_or_reflected() {
    let sessions = || vec![session(1, Mode::Unauthenticated, None)];
    let drop = config_with(
        ReflectorMode::Stateless,
        UnknownSsid::Drop,
        sessions(),
        TimestampFormat::Ntp,
        None,
        false,
    );
    let mut buf = emit(&sender(Mode::Unauthenticated, 77, 2, vec![]), None);
    let orig = buf.clone();
    assert_eq!(
        run(&drop, &mut ReflectorState::new(), &mut buf, &rx()),
        Err(Discard::UnknownSsid)
    );
    assert_eq!(buf, orig);
    // The configured SSID is still reflected with Drop.
    let mut ok = emit(&sender(Mode::Unauthenticated, 77, 1, vec![]), None);
    assert!(
        run(&drop, &mut ReflectorState::new(), &mut ok, &rx())
            .unwrap()
            .known_session
    );

    let refl = config(sessions());
    let out = run(&refl, &mut ReflectorState::new(), &mut buf, &rx()).unwrap();
    assert!(!out.known_session);
    assert_eq!(out.mode, Mode::Unauthenticated);
    assert_eq!(out.ssid, 2);
    let r = reply(&buf, Mode::Unauthenticated);
    assert_eq!((r.sequence, r.sender_sequence, r.ssid), (77, 77, 2));
}

#[test]
fn authenticated_ssid_sent_unauthenticated_is_not_the_session() {
    // An unauthenticated packet carrying an authenticated session's SSID is
    // not that session: dropped under Drop, reflected unauthenticated (and
    // not as the known session) under Reflect.
    let k = key();
    let mk = |unknown| {
        config_with(
            ReflectorMode::Stateless,
            unknown,
            vec![session(9, Mode::Authenticated, Some(k.clone()))],
            TimestampFormat::Ntp,
            None,
            false,
        )
    };
    let mut buf = emit(&sender(Mode::Unauthenticated, 1, 9, vec![]), None);
    assert_eq!(
        run(
            &mk(UnknownSsid::Drop),
            &mut ReflectorState::new(),
            &mut buf,
            &rx()
        ),
        Err(Discard::UnknownSsid)
    );
    let out = run(
        &mk(UnknownSsid::Reflect),
        &mut ReflectorState::new(),
        &mut buf,
        &rx(),
    )
    .unwrap();
    assert!(!out.known_session);
    assert_eq!(out.mode, Mode::Unauthenticated);
}

#[test]
fn authenticated_session_next_to_unauthenticated_ssid_zero() {
    // An authenticated sender packet has MBZ (zero) at octets 14..16,
    // where an unauthenticated one has its SSID; the reflector looks up
    // the unauthenticated reading first, so an unauthenticated session with
    // SSID 0 (e.g. for RFC 8762 senders, which send 0 there) captures every
    // authenticated packet, whose HMAC verifies as session 9's.
    let k = key();
    let cfg = config(vec![
        session(0, Mode::Unauthenticated, None),
        session(9, Mode::Authenticated, Some(k.clone())),
    ]);
    let mut buf = emit(&sender(Mode::Authenticated, 3, 9, vec![]), Some(&k));
    let out = run(&cfg, &mut ReflectorState::new(), &mut buf, &rx()).unwrap();
    assert_eq!(out.mode, Mode::Authenticated);
    assert_eq!(out.ssid, 9);
    auth::verify_packet_hmac(&k, &buf).unwrap();
}

// ------------------------------------------------------------ TLVs

fn reflect_tlvs(cfg: &ReflectorConfig, tlvs: Vec<TlvRepr>) -> (Reflected, Vec<u8>) {
    let mut buf = emit(&sender(Mode::Unauthenticated, 1, 1, tlvs), None);
    let len = buf.len();
    let out = run(cfg, &mut ReflectorState::new(), &mut buf, &rx()).unwrap();
    assert_eq!(buf.len(), len);
    (out, buf)
}

#[test]
fn unknown_type_gets_u_and_is_echoed() {
    let (out, buf) = reflect_tlvs(
        &config(vec![]),
        vec![
            TlvRepr::Unknown {
                flags: CLEAR,
                tlv_type: 200,
                value: vec![1, 2, 3, 4, 5],
            },
            TlvRepr::Unknown {
                flags: CLEAR,
                tlv_type: 0,
                value: vec![],
            },
        ],
    );
    assert_eq!(
        raw_tlvs(&buf, Mode::Unauthenticated),
        vec![
            (flags(true, false, false), 200, vec![1, 2, 3, 4, 5]),
            (flags(true, false, false), 0, vec![]),
        ]
    );
    assert_eq!(out.tlvs_unrecognized, 2);
    assert_eq!((out.tlvs_malformed, out.tlvs_integrity_failed), (0, 0));
}

#[test]
fn known_type_with_wrong_length_gets_m() {
    // RFC 8972 §4.4 (4), §4.5 (12), §4.6 (4), §4.7 (16), §4.8 (16),
    // RFC 9503 §3 (4 or 16), §4.2 / §4.3 (at least 4).
    let cases: [(u8, usize); 9] = [
        (tlv::CLASS_OF_SERVICE, 3),
        (tlv::CLASS_OF_SERVICE, 8),
        (tlv::DIRECT_MEASUREMENT, 8),
        (tlv::ACCESS_REPORT, 0),
        (tlv::FOLLOW_UP_TELEMETRY, 12),
        (tlv::HMAC, 8),
        (tlv::DESTINATION_NODE_ADDRESS, 5),
        (tlv::LOCATION, 2),
        (tlv::TIMESTAMP_INFORMATION, 3),
    ];
    for (t, len) in cases {
        let value: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37) | 1).collect();
        let (out, buf) = reflect_tlvs(
            &config(vec![session(1, Mode::Unauthenticated, Some(key()))]),
            vec![TlvRepr::Unknown {
                flags: CLEAR,
                tlv_type: t,
                value: value.clone(),
            }],
        );
        assert_eq!(
            raw_tlvs(&buf, Mode::Unauthenticated),
            vec![(flags(false, true, false), t, value)],
            "type {t} length {len}"
        );
        assert_eq!(out.tlvs_malformed, 1);
    }
}

#[test]
fn return_path_with_broken_sub_tlvs_gets_m() {
    // A sub-TLV running past the Return Path TLV's value (RFC 9503 §4).
    let value = vec![0, tlv::SUB_SRV6_SEGMENT_LIST, 0, 32, 0xfc, 0, 0, 0];
    let (out, buf) = reflect_tlvs(
        &config_with(
            ReflectorMode::Stateless,
            UnknownSsid::Reflect,
            vec![],
            TimestampFormat::Ntp,
            None,
            true,
        ),
        vec![TlvRepr::Unknown {
            flags: CLEAR,
            tlv_type: tlv::RETURN_PATH,
            value: value.clone(),
        }],
    );
    assert_eq!(
        raw_tlvs(&buf, Mode::Unauthenticated),
        vec![(flags(false, true, false), tlv::RETURN_PATH, value)]
    );
    assert_eq!(out.return_path, ReturnPath::DIRECT);
}

#[test]
fn tlv_running_past_the_payload_gets_m_and_the_rest_is_left() {
    let mut buf = emit(
        &sender(
            Mode::Unauthenticated,
            1,
            1,
            vec![TlvRepr::ExtraPadding {
                flags: CLEAR,
                padding: vec![7; 4],
            }],
        ),
        None,
    );
    // A Location TLV claiming 100 octets with only 6 after its header.
    let bad_at = buf.len();
    buf.extend_from_slice(&[0, tlv::LOCATION, 0, 100, 1, 2, 3, 4, 5, 6]);
    let before = buf.clone();
    let out = run(&config(vec![]), &mut ReflectorState::new(), &mut buf, &rx()).unwrap();
    assert_eq!(buf.len(), before.len());
    assert_eq!(out.tlvs_malformed, 1);
    assert_eq!(
        Tlv::new_unchecked(&buf[bad_at..]).flags(),
        flags(false, true, false),
        "M on the TLV that runs past the end"
    );
    assert_eq!(
        buf[bad_at + 1..],
        before[bad_at + 1..],
        "the rest left as is"
    );
    // The TLV before it is intact.
    let first = Tlv::new_checked(&buf[44..]).unwrap();
    assert_eq!(
        (first.flags(), first.tlv_type(), first.value()),
        (CLEAR, tlv::EXTRA_PADDING, &[7u8; 4][..])
    );
}

#[test]
fn trailing_octets_shorter_than_a_header_are_left() {
    let mut buf = emit(&sender(Mode::Unauthenticated, 1, 1, vec![]), None);
    buf.extend_from_slice(&[0xff, 0xee, 0xdd]);
    let out = run(&config(vec![]), &mut ReflectorState::new(), &mut buf, &rx()).unwrap();
    assert_eq!(buf[44..], [0xff, 0xee, 0xdd]);
    assert_eq!(out.tlvs_malformed, 0);
}

#[test]
fn extra_padding_and_access_report_echoed() {
    let padding: Vec<u8> = (0..=255).collect();
    let tlvs = vec![
        TlvRepr::ExtraPadding {
            flags: CLEAR,
            padding: padding.clone(),
        },
        TlvRepr::AccessReport {
            flags: CLEAR,
            id: 3,
            return_code: 1,
        },
        TlvRepr::ExtraPadding {
            flags: CLEAR,
            padding: vec![],
        },
    ];
    let (out, buf) = reflect_tlvs(&config(vec![]), tlvs.clone());
    assert_eq!(reply(&buf, Mode::Unauthenticated).tlvs, tlvs);
    assert_eq!((out.tlvs_unrecognized, out.tlvs_malformed), (0, 0));
}

#[test]
fn class_of_service() {
    // RFC 8972 §4.4: DSCP2 and ECN as received; the reply uses DSCP1.
    let (out, buf) = reflect_tlvs(
        &config(vec![]),
        vec![TlvRepr::ClassOfService {
            flags: CLEAR,
            dscp1: 10,
            dscp2: 0,
            ecn: 0,
            rp: 0,
        }],
    );
    assert_eq!(
        reply(&buf, Mode::Unauthenticated).tlvs,
        vec![TlvRepr::ClassOfService {
            flags: CLEAR,
            dscp1: 10,
            dscp2: RX_TRAFFIC_CLASS >> 2,
            ecn: RX_TRAFFIC_CLASS & 0b11,
            rp: 0,
        }]
    );
    assert_eq!(out.reply_traffic_class, 10 << 2);
    // The reserved octets of the value stay zero.
    assert_eq!(buf[44 + 6..44 + 8], [0, 0]);
}

#[test]
fn without_class_of_service_reply_keeps_the_received_dscp_not_the_ecn() {
    let (out, _) = reflect_tlvs(&config(vec![]), vec![]);
    // The DSCP as received; ECN cleared (a CE mark belongs to the forward
    // path and must not be re-emitted on the reply).
    assert_eq!(out.reply_traffic_class, RX_TRAFFIC_CLASS & !0b11);
}

#[test]
fn direct_measurement_counts_the_session() {
    let cfg = config(vec![
        session(1, Mode::Unauthenticated, None),
        session(2, Mode::Unauthenticated, None),
    ]);
    let mut state = ReflectorState::new();
    let send = |state: &mut ReflectorState, ssid: u16, sender_tx: u32| {
        let tlvs = vec![TlvRepr::DirectMeasurement {
            flags: CLEAR,
            sender_tx,
            reflector_rx: 0xffff_ffff,
            reflector_tx: 0xffff_ffff,
        }];
        let mut buf = emit(&sender(Mode::Unauthenticated, sender_tx, ssid, tlvs), None);
        run(&cfg, state, &mut buf, &rx()).unwrap();
        match reply(&buf, Mode::Unauthenticated).tlvs.as_slice() {
            [TlvRepr::DirectMeasurement {
                flags,
                sender_tx: s,
                reflector_rx,
                reflector_tx,
            }] => {
                assert_eq!(*flags, CLEAR);
                assert_eq!(*s, sender_tx, "S_TxC echoed");
                (*reflector_rx, *reflector_tx)
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(send(&mut state, 1, 11), (1, 1));
    assert_eq!(send(&mut state, 1, 12), (2, 2));
    assert_eq!(send(&mut state, 2, 500), (1, 1), "per session");
    // A packet without the TLV counts too.
    let mut plain = emit(&sender(Mode::Unauthenticated, 0, 1, vec![]), None);
    run(&cfg, &mut state, &mut plain, &rx()).unwrap();
    assert_eq!(send(&mut state, 1, 14), (4, 4));
    state.reset();
    assert_eq!(send(&mut state, 1, 15), (1, 1));
}

/// A Location sub-TLV (RFC 8972 §4.2): flags, type, Length, value.
fn sub_tlv(flags: u8, sub_type: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![flags, sub_type];
    v.extend_from_slice(&(value.len() as u16).to_be_bytes());
    v.extend_from_slice(value);
    v
}

#[test]
fn location_ports_and_address_sub_tlvs() {
    // RFC 8972 §4.2: the destination and source UDP ports as received;
    // a generic Destination / Source IP Address request (types 4, 7) is
    // answered with the specific sub-TLV of the packet's family holding
    // the received packet's address (IPv6: 6, 9; IPv4: 5, 8, the address
    // then 12 zero octets). A Length other than 16: zeroed, M flag. MAC
    // sub-TLVs (not seen by this reflector) and unknown types: U flag.
    let u = TlvFlags {
        unrecognized: true,
        ..CLEAR
    }
    .to_u8();
    let m = TlvFlags {
        malformed: true,
        ..CLEAR
    }
    .to_u8();
    let mut sent = Vec::new();
    sent.extend(sub_tlv(u, tlv::SUB_LOC_DESTINATION_IP, &[0; 16]));
    sent.extend(sub_tlv(u, tlv::SUB_LOC_SOURCE_IP, &[0; 16]));
    sent.extend(sub_tlv(0, tlv::SUB_LOC_SOURCE_MAC, &[0; 8]));
    sent.extend(sub_tlv(0, tlv::SUB_LOC_DESTINATION_IP, &[7; 4]));
    sent.extend(sub_tlv(0, 200, &[1, 2]));
    let v4_src = Ipv4Addr::new(192, 0, 2, 1);
    let v4_dst = Ipv4Addr::new(198, 51, 100, 7);
    for (src, dst) in [
        (IpAddr::V6(SENDER_ADDR), IpAddr::V6(OUR_ADDR)),
        (IpAddr::V4(v4_src), IpAddr::V4(v4_dst)),
    ] {
        let cfg = config(vec![]);
        let repr = sender(
            Mode::Unauthenticated,
            5,
            3,
            vec![TlvRepr::Location {
                flags: CLEAR,
                dst_port: 0,
                src_port: 0,
                sub_tlvs: sent.clone(),
            }],
        );
        let mut buf = emit(&repr, None);
        let received = Received { src, dst, ..rx() };
        let out = run(&cfg, &mut ReflectorState::new(), &mut buf, &received).unwrap();
        let addr16 = |a: IpAddr| -> Vec<u8> {
            match a {
                IpAddr::V6(a) => a.octets().to_vec(),
                IpAddr::V4(a) => {
                    let mut v = a.octets().to_vec();
                    v.resize(16, 0);
                    v
                }
            }
        };
        let (dst_type, src_type) = if src.is_ipv6() {
            (tlv::SUB_LOC_DESTINATION_IPV6, tlv::SUB_LOC_SOURCE_IPV6)
        } else {
            (tlv::SUB_LOC_DESTINATION_IPV4, tlv::SUB_LOC_SOURCE_IPV4)
        };
        let mut expected = Vec::new();
        expected.extend(sub_tlv(0, dst_type, &addr16(dst)));
        expected.extend(sub_tlv(0, src_type, &addr16(src)));
        expected.extend(sub_tlv(u, tlv::SUB_LOC_SOURCE_MAC, &[0; 8]));
        expected.extend(sub_tlv(m, tlv::SUB_LOC_DESTINATION_IP, &[0; 4]));
        expected.extend(sub_tlv(u, 200, &[1, 2]));
        assert_eq!(
            reply(&buf, Mode::Unauthenticated).tlvs,
            vec![TlvRepr::Location {
                flags: CLEAR,
                dst_port: 862,
                src_port: 50_123,
                sub_tlvs: expected,
            }],
            "{src} -> {dst}"
        );
        assert_eq!(out.tlvs_unrecognized, 0);
    }
    // A sub-TLV running past the end is left as it is (no panic).
    let mut area = vec![0, tlv::SUB_LOC_SOURCE_IP, 0, 16, 1, 2];
    stamp::reflector::fill_location_sub_tlvs(&mut area, &rx());
    assert_eq!(area, vec![0, tlv::SUB_LOC_SOURCE_IP, 0, 16, 1, 2]);
}

/// IANA "STAMP Synchronization Sources": 1 = NTP; "Timestamping Methods":
/// 2 = SW local (RFC 8972 §5.4, §5.5).
const IANA_SYNC_NTP: u8 = 1;
const IANA_TS_SW_LOCAL: u8 = 2;

fn timestamp_information_reply() -> TlvRepr {
    let (_, buf) = reflect_tlvs(
        &config(vec![]),
        vec![TlvRepr::TimestampInformation {
            flags: CLEAR,
            sync_src_in: 0,
            timestamp_in: 0,
            sync_src_out: 0,
            timestamp_out: 0,
            sub_tlvs: vec![],
        }],
    );
    reply(&buf, Mode::Unauthenticated).tlvs.remove(0)
}

#[test]
fn timestamp_information_out() {
    match timestamp_information_reply() {
        TlvRepr::TimestampInformation {
            flags,
            sync_src_out,
            timestamp_out,
            ..
        } => {
            assert_eq!(flags, CLEAR);
            assert_eq!(
                (sync_src_out, timestamp_out),
                (IANA_SYNC_NTP, IANA_TS_SW_LOCAL)
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn timestamp_information_in() {
    // RFC 8972 §4.3: Sync Src In and Timestamp In characterize the clock
    // source and timestamping method at the ingress of the
    // Session-Reflector (T2), as Out does for its egress (T3); both are the
    // reflector's to fill in. T2 here is a software timestamp from the same
    // clock as T3.
    match timestamp_information_reply() {
        TlvRepr::TimestampInformation {
            sync_src_in,
            timestamp_in,
            ..
        } => assert_eq!(
            (sync_src_in, timestamp_in),
            (IANA_SYNC_NTP, IANA_TS_SW_LOCAL)
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn destination_node_address() {
    let cfg = config(vec![]);
    let cases = [
        (IpAddr::V6(OUR_ADDR), false),
        (IpAddr::V6(SID_A), true),
        (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), true),
    ];
    for (address, u) in cases {
        let (out, buf) = reflect_tlvs(
            &cfg,
            vec![TlvRepr::DestinationNodeAddress {
                flags: CLEAR,
                address,
            }],
        );
        assert_eq!(
            reply(&buf, Mode::Unauthenticated).tlvs,
            vec![TlvRepr::DestinationNodeAddress {
                flags: flags(u, false, false),
                address
            }],
            "{address}"
        );
        assert_eq!(out.tlvs_unrecognized, u8::from(u));
    }
    // IPv4 reflector address.
    let v4 = Ipv4Addr::new(198, 51, 100, 7);
    let mut buf = emit(
        &sender(
            Mode::Unauthenticated,
            1,
            1,
            vec![TlvRepr::DestinationNodeAddress {
                flags: CLEAR,
                address: IpAddr::V4(v4),
            }],
        ),
        None,
    );
    let rx4 = Received {
        dst: IpAddr::V4(v4),
        src: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
        ..rx()
    };
    let out = run(&cfg, &mut ReflectorState::new(), &mut buf, &rx4).unwrap();
    assert_eq!(out.tlvs_unrecognized, 0);
}

fn return_path_tlv(subs: Vec<ReturnPathSubTlv>) -> TlvRepr {
    TlvRepr::ReturnPath {
        flags: CLEAR,
        sub_tlvs: subs,
    }
}

fn config_honour(honour: bool, sessions: Vec<ReflectorSession>) -> ReflectorConfig {
    config_with(
        ReflectorMode::Stateless,
        UnknownSsid::Reflect,
        sessions,
        TimestampFormat::Ntp,
        None,
        honour,
    )
}

#[test]
fn return_path_segment_list_honoured_only_when_allowed() {
    let rp = || return_path_tlv(vec![ReturnPathSubTlv::Srv6SegmentList(vec![SID_A, SID_B])]);
    let (out, buf) = reflect_tlvs(&config_honour(true, vec![]), vec![rp()]);
    assert_eq!(out.return_path.segments(), &[SID_A, SID_B][..]);
    assert_eq!(reply(&buf, Mode::Unauthenticated).tlvs, vec![rp()]);
    assert_eq!(out.tlvs_unrecognized, 0);

    let (out, buf) = reflect_tlvs(&config_honour(false, vec![]), vec![rp()]);
    assert_eq!(out.return_path, ReturnPath::DIRECT);
    assert_eq!(
        reply(&buf, Mode::Unauthenticated).tlvs,
        vec![TlvRepr::ReturnPath {
            flags: flags(true, false, false),
            sub_tlvs: vec![ReturnPathSubTlv::Srv6SegmentList(vec![SID_A, SID_B])],
        }]
    );
    assert_eq!(out.tlvs_unrecognized, 1);
}

#[test]
fn configured_return_path_used_unless_a_tlv_is_honoured() {
    let mut s = session(1, Mode::Unauthenticated, None);
    s.return_segments = vec![SID_B];
    let (out, _) = reflect_tlvs(&config_honour(false, vec![s.clone()]), vec![]);
    assert_eq!(out.return_path.segments(), &[SID_B][..]);
    let rp = return_path_tlv(vec![ReturnPathSubTlv::Srv6SegmentList(vec![SID_A])]);
    let (out, _) = reflect_tlvs(&config_honour(false, vec![s.clone()]), vec![rp.clone()]);
    assert_eq!(out.return_path.segments(), &[SID_B][..]);
    let (out, _) = reflect_tlvs(&config_honour(true, vec![s]), vec![rp]);
    assert_eq!(out.return_path.segments(), &[SID_A][..]);
}

#[test]
fn return_path_unsupported_sub_tlvs_get_u() {
    let cases = vec![
        vec![ReturnPathSubTlv::ControlCode(1)],
        vec![ReturnPathSubTlv::ReturnAddress(IpAddr::V6(SID_A))],
        vec![ReturnPathSubTlv::SrMplsLabelStack(vec![0x0001_0140])],
        vec![
            ReturnPathSubTlv::ControlCode(1),
            ReturnPathSubTlv::Srv6SegmentList(vec![SID_A]),
        ],
        vec![ReturnPathSubTlv::Srv6SegmentList(vec![])],
        vec![ReturnPathSubTlv::Srv6SegmentList(vec![
            SID_A;
            MAX_RETURN_SEGMENTS
                + 1
        ])],
    ];
    for subs in cases {
        let (out, buf) = reflect_tlvs(
            &config_honour(true, vec![]),
            vec![return_path_tlv(subs.clone())],
        );
        assert_eq!(out.return_path, ReturnPath::DIRECT, "{subs:?}");
        assert_eq!(
            reply(&buf, Mode::Unauthenticated).tlvs,
            vec![TlvRepr::ReturnPath {
                flags: flags(true, false, false),
                sub_tlvs: subs.clone()
            }],
            "{subs:?}"
        );
    }
    // The longest list allowed is honoured.
    let longest = vec![SID_A; MAX_RETURN_SEGMENTS];
    let (out, _) = reflect_tlvs(
        &config_honour(true, vec![]),
        vec![return_path_tlv(vec![ReturnPathSubTlv::Srv6SegmentList(
            longest.clone(),
        )])],
    );
    assert_eq!(out.return_path.segments(), &longest[..]);
}

#[test]
fn follow_up_telemetry_unrecognized() {
    let fut = |flags| TlvRepr::FollowUpTelemetry {
        flags,
        sequence: 3,
        timestamp: 0x0102_0304_0506_0708,
        timestamp_mode: 1,
    };
    let (out, buf) = reflect_tlvs(&config(vec![]), vec![fut(CLEAR)]);
    assert_eq!(
        reply(&buf, Mode::Unauthenticated).tlvs,
        vec![fut(flags(true, false, false))]
    );
    assert_eq!(out.tlvs_unrecognized, 1);
}

#[test]
fn several_tlvs_each_handled() {
    let (out, buf) = reflect_tlvs(
        &config(vec![]),
        vec![
            TlvRepr::Unknown {
                flags: CLEAR,
                tlv_type: 99,
                value: vec![1; 4],
            },
            TlvRepr::Unknown {
                flags: CLEAR,
                tlv_type: tlv::DIRECT_MEASUREMENT,
                value: vec![2; 4],
            },
            TlvRepr::Location {
                flags: CLEAR,
                dst_port: 0,
                src_port: 0,
                sub_tlvs: vec![],
            },
        ],
    );
    let t = raw_tlvs(&buf, Mode::Unauthenticated);
    assert_eq!(t[0], (flags(true, false, false), 99, vec![1; 4]));
    assert_eq!(
        t[1],
        (
            flags(false, true, false),
            tlv::DIRECT_MEASUREMENT,
            vec![2; 4]
        )
    );
    let mut loc = 862u16.to_be_bytes().to_vec();
    loc.extend_from_slice(&50_123u16.to_be_bytes());
    assert_eq!(t[2], (CLEAR, tlv::LOCATION, loc));
    assert_eq!((out.tlvs_unrecognized, out.tlvs_malformed), (1, 1));
}

#[test]
fn reflector_sets_flags_from_its_own_verdict() {
    // RFC 8972 §4: a Session-Sender sets U to 1 (and M, I to 0); the
    // Session-Reflector sets each flag to 1 on its own finding and
    // otherwise to 0 in the reflected packet.
    let sent = flags(true, true, true);
    let (out, buf) = reflect_tlvs(
        &config(vec![]),
        vec![
            TlvRepr::ExtraPadding {
                flags: sent,
                padding: vec![0; 8],
            },
            TlvRepr::Location {
                flags: flags(true, false, false),
                dst_port: 0,
                src_port: 0,
                sub_tlvs: vec![],
            },
        ],
    );
    let t = raw_tlvs(&buf, Mode::Unauthenticated);
    assert_eq!(t[0].0, CLEAR, "Extra Padding understood");
    assert_eq!(t[1].0, CLEAR, "Location understood");
    assert_eq!(out.tlvs_unrecognized, 0);
}

#[test]
fn reserved_flag_bits_cleared() {
    let mut buf = emit(
        &sender(
            Mode::Unauthenticated,
            1,
            1,
            vec![TlvRepr::ExtraPadding {
                flags: CLEAR,
                padding: vec![0; 4],
            }],
        ),
        None,
    );
    buf[44] = 0x1f; // the five reserved bits
    run(&config(vec![]), &mut ReflectorState::new(), &mut buf, &rx()).unwrap();
    assert_eq!(buf[44], 0);
}

// ------------------------------------------------------------ rate limit

fn rate_config(per_second: u32, burst: u32) -> ReflectorConfig {
    config_with(
        ReflectorMode::Stateless,
        UnknownSsid::Reflect,
        vec![],
        TimestampFormat::Ntp,
        Some(RateLimit { per_second, burst }),
        false,
    )
}

fn try_reflect(
    cfg: &ReflectorConfig,
    state: &mut ReflectorState,
    src: IpAddr,
    t2: i64,
) -> Result<Reflected, Discard> {
    let mut buf = emit(&sender(Mode::Unauthenticated, 1, 1, vec![]), None);
    run(cfg, state, &mut buf, &rx_from(src, t2))
}

#[test]
fn rate_limit_burst_refill_per_source() {
    let cfg = rate_config(2, 3);
    let mut state = ReflectorState::new();
    let a = IpAddr::V6(SENDER_ADDR);
    let b = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 9, 0, 0, 0, 9));
    let c = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 33));
    for _ in 0..3 {
        assert!(try_reflect(&cfg, &mut state, a, T2).is_ok());
    }
    let mut refused = emit(&sender(Mode::Unauthenticated, 1, 1, vec![]), None);
    let orig = refused.clone();
    assert_eq!(
        run(&cfg, &mut state, &mut refused, &rx_from(a, T2)),
        Err(Discard::RateLimited)
    );
    assert_eq!(refused, orig, "refused payload untouched");
    // Other sources have their own buckets.
    for _ in 0..3 {
        assert!(try_reflect(&cfg, &mut state, b, T2).is_ok());
        assert!(try_reflect(&cfg, &mut state, c, T2).is_ok());
    }
    assert_eq!(
        try_reflect(&cfg, &mut state, b, T2),
        Err(Discard::RateLimited)
    );
    // 2 per second: one token after 500 ms, not before.
    assert_eq!(
        try_reflect(&cfg, &mut state, a, T2 + 400_000_000),
        Err(Discard::RateLimited)
    );
    assert!(try_reflect(&cfg, &mut state, a, T2 + 500_000_000).is_ok());
    assert_eq!(
        try_reflect(&cfg, &mut state, a, T2 + 500_000_000),
        Err(Discard::RateLimited)
    );
    // After a long pause: the burst again, no more.
    let later = T2 + 60 * NS;
    for _ in 0..3 {
        assert!(try_reflect(&cfg, &mut state, a, later).is_ok());
    }
    assert_eq!(
        try_reflect(&cfg, &mut state, a, later),
        Err(Discard::RateLimited)
    );
    // Time going back a little earns nothing and does not panic.
    assert_eq!(
        try_reflect(&cfg, &mut state, a, later - 100_000_000),
        Err(Discard::RateLimited)
    );
    // The budgets are the configuration's, not the worker state's: a second
    // worker's state draws on the same budget, and reset does not refill.
    let mut other_worker = ReflectorState::new();
    assert_eq!(
        try_reflect(&cfg, &mut other_worker, a, later),
        Err(Discard::RateLimited)
    );
    state.reset();
    assert_eq!(
        try_reflect(&cfg, &mut state, a, later),
        Err(Discard::RateLimited)
    );
    // A new configuration starts afresh.
    let cfg = rate_config(2, 3);
    assert!(try_reflect(&cfg, &mut state, a, later).is_ok());
}

#[test]
fn rate_limit_is_shared_by_workers_on_threads() {
    // Two workers (threads with their own state, one configuration), a
    // source offering 500 packets to each at one instant: the burst of 100
    // between them, not 100 each.
    let cfg = std::sync::Arc::new(rate_config(100, 100));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let cfg = std::sync::Arc::clone(&cfg);
            std::thread::spawn(move || {
                let mut state = ReflectorState::new();
                (0..500)
                    .filter(|_| try_reflect(&cfg, &mut state, IpAddr::V6(SENDER_ADDR), T2).is_ok())
                    .count()
            })
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, 100);
}

#[test]
fn rate_limit_is_on_by_default() {
    let cfg = ReflectorConfig::default();
    assert_eq!(cfg.rate_limit(), Some(stamp::reflector::DEFAULT_RATE_LIMIT));
    let mut state = ReflectorState::new();
    let burst = stamp::reflector::DEFAULT_RATE_LIMIT.burst as usize;
    let ok = (0..burst + 50)
        .filter(|_| try_reflect(&cfg, &mut state, IpAddr::V6(SENDER_ADDR), T2).is_ok())
        .count();
    assert_eq!(ok, burst);
}

#[test]
fn rate_limit_applies_to_answered_packets() {
    // Truncated packets are not charged (nor any other refused one: see
    // refused_packets_are_not_charged_to_the_rate_limit).
    let cfg = rate_config(1, 1);
    let mut state = ReflectorState::new();
    let mut short = vec![0u8; 20];
    assert_eq!(
        run(&cfg, &mut state, &mut short, &rx()),
        Err(Discard::Truncated)
    );
    assert!(try_reflect(&cfg, &mut state, IpAddr::V6(SENDER_ADDR), T2).is_ok());
    assert_eq!(
        try_reflect(&cfg, &mut state, IpAddr::V6(SENDER_ADDR), T2),
        Err(Discard::RateLimited)
    );
}

#[test]
fn rate_limit_sustains_per_second_under_load() {
    // 1 reply per second, burst 1; the source sends every 500 µs for 3 s.
    // A token bucket gives the first packet and then about one per second.
    let cfg = rate_config(1, 1);
    let mut state = ReflectorState::new();
    let src = IpAddr::V6(SENDER_ADDR);
    let mut admitted = 0;
    let mut t = T2;
    while t < T2 + 3 * NS + 1_000 {
        if try_reflect(&cfg, &mut state, src, t).is_ok() {
            admitted += 1;
        }
        t += 500_000;
    }
    assert!(
        admitted >= 3,
        "admitted {admitted} in 3 s at 1/s with a burst of 1"
    );
}

// ------------------------------------------------------------ truncation

#[test]
fn truncated_payloads() {
    let cfgs = [
        config(vec![]),
        config_with(
            ReflectorMode::Stateful,
            UnknownSsid::Drop,
            vec![session(0, Mode::Authenticated, Some(key()))],
            TimestampFormat::Ptp,
            Some(RateLimit {
                per_second: 1,
                burst: 1,
            }),
            true,
        ),
    ];
    for cfg in &cfgs {
        let mut state = ReflectorState::new();
        for len in 0..44 {
            let mut buf = vec![0u8; len];
            assert_eq!(
                run(cfg, &mut state, &mut buf, &rx()),
                Err(Discard::Truncated),
                "{len}"
            );
        }
    }
    // 44 octets is a whole unauthenticated packet.
    let mut buf = emit(&sender(Mode::Unauthenticated, 1, 1, vec![]), None);
    assert_eq!(buf.len(), 44);
    assert!(run(&cfgs[0], &mut ReflectorState::new(), &mut buf, &rx()).is_ok());
}

#[test]
fn short_authenticated_packet_is_not_the_authenticated_session() {
    // Between 44 and 112 octets an authenticated packet cannot be whole.
    let k = key();
    let cfg = config_with(
        ReflectorMode::Stateless,
        UnknownSsid::Drop,
        vec![session(9, Mode::Authenticated, Some(k.clone()))],
        TimestampFormat::Ntp,
        None,
        false,
    );
    let full = emit(&sender(Mode::Authenticated, 1, 9, vec![]), Some(&k));
    for len in [44, 60, 111] {
        let mut buf = full[..len].to_vec();
        let r = run(&cfg, &mut ReflectorState::new(), &mut buf, &rx());
        assert!(
            matches!(r, Err(Discard::UnknownSsid) | Err(Discard::Truncated)),
            "{len}: {r:?}"
        );
    }
}

// ------------------------------------------------------------ configuration

#[test]
fn config_errors() {
    let new = |sessions: Vec<ReflectorSession>, rate: Option<RateLimit>| {
        ReflectorConfig::new(
            ReflectorMode::Stateless,
            UnknownSsid::Reflect,
            sessions,
            TimestampFormat::Ntp,
            reflector_ee(),
            rate,
            false,
        )
    };
    let err = |sessions, rate| new(sessions, rate).unwrap_err();
    assert_eq!(
        err(
            vec![
                session(5, Mode::Unauthenticated, None),
                session(4, Mode::Unauthenticated, None),
                session(5, Mode::Unauthenticated, None),
            ],
            None
        ),
        ConfigError::DuplicateSsid(5)
    );
    assert_eq!(
        err(
            vec![
                session(5, Mode::Unauthenticated, None),
                session(5, Mode::Authenticated, Some(key())),
            ],
            None
        ),
        ConfigError::DuplicateSsid(5)
    );
    assert_eq!(
        err(vec![session(6, Mode::Authenticated, None)], None),
        ConfigError::MissingKey(6)
    );
    let mut long = session(7, Mode::Unauthenticated, None);
    long.return_segments = vec![SID_A; MAX_RETURN_SEGMENTS + 1];
    assert_eq!(
        err(vec![long.clone()], None),
        ConfigError::ReturnPathTooLong {
            ssid: 7,
            len: MAX_RETURN_SEGMENTS + 1
        }
    );
    long.return_segments.pop();
    assert!(new(vec![long], None).is_ok());
    for (per_second, burst) in [(0, 1), (1, 0), (0, 0)] {
        assert_eq!(
            err(vec![], Some(RateLimit { per_second, burst })),
            ConfigError::ZeroRateLimit
        );
    }
    // Messages name the input.
    assert!(ConfigError::DuplicateSsid(5).to_string().contains('5'));
    assert!(ConfigError::MissingKey(6).to_string().contains('6'));
    let s = ConfigError::ReturnPathTooLong { ssid: 7, len: 16 }.to_string();
    assert!(s.contains('7') && s.contains("16"));
    // Accepted: unauthenticated with a key (for HMAC TLVs), sorted on
    // output, the flag kept.
    let cfg = ReflectorConfig::new(
        ReflectorMode::Stateful,
        UnknownSsid::Drop,
        vec![
            session(9, Mode::Unauthenticated, Some(key())),
            session(2, Mode::Authenticated, Some(key())),
        ],
        TimestampFormat::Ptp,
        reflector_ee(),
        Some(RateLimit {
            per_second: 1,
            burst: 1,
        }),
        true,
    )
    .unwrap();
    assert_eq!(cfg.mode(), ReflectorMode::Stateful);
    assert!(cfg.honour_return_path());
    let ssids: Vec<u16> = cfg.sessions().iter().map(|s| s.ssid).collect();
    assert_eq!(ssids, vec![2, 9]);
}

#[test]
fn default_config_reflects_everything_statelessly() {
    let cfg = ReflectorConfig::default();
    assert_eq!(cfg.mode(), ReflectorMode::Stateless);
    assert!(!cfg.honour_return_path());
    let mut buf = emit(&sender(Mode::Unauthenticated, 31, 4, vec![]), None);
    let out = run(&cfg, &mut ReflectorState::new(), &mut buf, &rx()).unwrap();
    assert!(!out.known_session);
    let r = reply(&buf, Mode::Unauthenticated);
    assert_eq!(r.sequence, 31);
    assert!(!r.error_estimate.ptp);
    assert!(
        r.error_estimate.is_valid(),
        "RFC 4656 §4.1.2: multiplier not zero"
    );
}

// ------------------------------------------------------------ properties

fn any_config() -> impl Strategy<Value = ReflectorConfig> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec((any::<u16>(), any::<bool>(), any::<bool>()), 0..4),
    )
        .prop_map(|(stateful, drop, ptp, rate, honour, sessions)| {
            let mut seen = std::collections::HashSet::new();
            let sessions = sessions
                .into_iter()
                .filter(|(ssid, _, _)| seen.insert(*ssid))
                .map(|(ssid, authed, with_key)| ReflectorSession {
                    ssid,
                    mode: if authed {
                        Mode::Authenticated
                    } else {
                        Mode::Unauthenticated
                    },
                    key: (authed || with_key).then(key),
                    return_segments: if with_key { vec![SID_A] } else { vec![] },
                    return_destination: None,
                    stopped: false,
                })
                .collect();
            ReflectorConfig::new(
                if stateful {
                    ReflectorMode::Stateful
                } else {
                    ReflectorMode::Stateless
                },
                if drop {
                    UnknownSsid::Drop
                } else {
                    UnknownSsid::Reflect
                },
                sessions,
                if ptp {
                    TimestampFormat::Ptp
                } else {
                    TimestampFormat::Ntp
                },
                reflector_ee(),
                rate.then_some(RateLimit {
                    per_second: 3,
                    burst: 2,
                }),
                honour,
            )
            .unwrap()
        })
}

fn any_received() -> impl Strategy<Value = Received> {
    (
        any::<u128>(),
        any::<bool>(),
        any::<u16>(),
        any::<u16>(),
        any::<u8>(),
        any::<u8>(),
        any::<i64>(),
    )
        .prop_map(
            |(addr, v4, src_port, dst_port, ttl, traffic_class, t2_ns)| {
                let (src, dst) = if v4 {
                    (
                        IpAddr::V4(Ipv4Addr::from(addr as u32)),
                        IpAddr::V4(Ipv4Addr::from((addr >> 32) as u32)),
                    )
                } else {
                    (
                        IpAddr::V6(Ipv6Addr::from(addr)),
                        IpAddr::V6(Ipv6Addr::from(addr.rotate_left(64))),
                    )
                };
                Received {
                    src,
                    dst,
                    src_port,
                    dst_port,
                    ttl,
                    traffic_class,
                    t2_ns,
                }
            },
        )
}

proptest! {
    #[test]
    fn any_payload_never_panics(
        cfg in any_config(),
        received in any_received(),
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        t3 in any::<i64>(),
    ) {
        let mut state = ReflectorState::new();
        let mut buf = bytes.clone();
        // Twice: the second run sees a used bucket and advanced counters.
        for _ in 0..2 {
            buf.copy_from_slice(&bytes);
            if reflect(&cfg, &mut state, &mut buf, &received, || t3).is_ok() {
                prop_assert_eq!(buf.len(), bytes.len());
            }
        }
    }

    #[test]
    fn any_tlv_area_never_panics(
        cfg in any_config(),
        received in any_received(),
        authed in any::<bool>(),
        ssid in any::<u16>(),
        tlv_bytes in proptest::collection::vec(
            prop_oneof![Just(0u8), 1u8..=12, any::<u8>()], 0..200),
    ) {
        // Valid base packets with arbitrary TLV areas (biased to known
        // types and short lengths), signed when authenticated, so that the
        // TLV code is reached.
        let mode = if authed { Mode::Authenticated } else { Mode::Unauthenticated };
        let mut buf = emit(&sender(mode, 1, ssid, vec![]), None);
        buf.extend_from_slice(&tlv_bytes);
        if authed {
            auth::set_packet_hmac(&key(), &mut buf).unwrap();
        }
        let len = buf.len();
        let mut state = ReflectorState::new();
        if let Ok(out) = reflect(&cfg, &mut state, &mut buf, &received, || received.t2_ns) {
            prop_assert_eq!(buf.len(), len);
            let r = ReflectorPacket::new_checked(&buf[..], out.mode).unwrap();
            prop_assert_eq!(r.ssid(), out.ssid);
            prop_assert_eq!(r.sender_ttl(), received.ttl);
            prop_assert_eq!(r.sender_sequence(), 1);
            prop_assert!(r.mbz_is_zero());
        }
    }

    #[test]
    fn stateless_base_fields_for_any_sender(
        seq in any::<u32>(),
        ssid in any::<u16>(),
        ts in any::<u64>(),
        ee in any::<u16>(),
        ttl in any::<u8>(),
        t2 in 0i64..4_000_000_000 * NS,
        dt in 0i64..NS,
    ) {
        let cfg = config_with(
            ReflectorMode::Stateless,
            UnknownSsid::Reflect,
            vec![],
            TimestampFormat::Ptp,
            None,
            false,
        );
        let mut buf = emit(&sender(Mode::Unauthenticated, seq, ssid, vec![]), None);
        buf[4..12].copy_from_slice(&ts.to_be_bytes());
        buf[12..14].copy_from_slice(&ee.to_be_bytes());
        let received = Received { ttl, t2_ns: t2, ..rx() };
        reflect(&cfg, &mut ReflectorState::new(), &mut buf, &received, || t2 + dt).unwrap();
        let p = ReflectorPacket::new_checked(&buf[..], Mode::Unauthenticated).unwrap();
        prop_assert_eq!(p.sequence(), seq);
        prop_assert_eq!(p.sender_sequence(), seq);
        prop_assert_eq!(p.sender_timestamp_bits(), ts);
        prop_assert_eq!(p.sender_error_estimate_bits(), ee);
        prop_assert_eq!(p.sender_ttl(), ttl);
        prop_assert_eq!(p.ssid(), ssid);
        let ptp = |ns: i64| (((ns / NS) as u64 & 0xffff_ffff) << 32) | (ns % NS) as u64;
        prop_assert_eq!(p.receive_timestamp_bits(), ptp(t2));
        prop_assert_eq!(p.timestamp_bits(), ptp(t2 + dt));
    }
}

// ------------------------------------------------------------ sources no sender has

/// Sources whose replies would go to a group, to the reflector itself, to
/// a link neighbour or through a v4/v6 translator (issue 14: srv6d sent
/// replies onto the WAN to ff02::1, ff05::2, ::, ::1, fe80::1 and
/// ::ffff:10.0.0.1). Listed here from RFC 4291 §2.4-2.5 and RFC 1122 /
/// RFC 5735, not from the code.
const REFUSED_SOURCES: &[&str] = &[
    "ff02::1",
    "ff05::2",
    "ff0e::1",
    "::",
    "::1",
    "fe80::1",
    "febf:ffff::1",
    "::ffff:10.0.0.1",
    "::10.0.0.1",
    "0.0.0.0",
    "0.1.2.3",
    "127.0.0.1",
    "127.255.0.9",
    "169.254.1.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
];

/// Ordinary unicast senders, including ones near the refused ranges.
const ANSWERED_SOURCES: &[&str] = &[
    "2001:db8::1",
    "fc00::1",
    "fec0::1",
    "64:ff9b::a00:1",
    "::1:0:0:1",
    "1.0.0.1",
    "10.0.0.1",
    "126.255.255.255",
    "128.0.0.1",
    "169.253.255.255",
    "223.255.255.255",
];

#[test]
fn sources_no_sender_has_get_no_reply() {
    let cfg = config(vec![]);
    for s in REFUSED_SOURCES {
        let src: IpAddr = s.parse().unwrap();
        let mut buf = emit(&sender(Mode::Unauthenticated, 1, 1, vec![]), None);
        let orig = buf.clone();
        assert_eq!(
            run(
                &cfg,
                &mut ReflectorState::new(),
                &mut buf,
                &rx_from(src, T2)
            ),
            Err(Discard::BadSource),
            "{s}"
        );
        assert_eq!(buf, orig, "{s}: refused payload untouched");
        assert!(!stamp::reflector::source_may_be_answered(src), "{s}");
    }
    for s in ANSWERED_SOURCES {
        let src: IpAddr = s.parse().unwrap();
        let mut buf = emit(&sender(Mode::Unauthenticated, 1, 1, vec![]), None);
        assert!(
            run(
                &cfg,
                &mut ReflectorState::new(),
                &mut buf,
                &rx_from(src, T2)
            )
            .is_ok(),
            "{s}"
        );
    }
}

#[test]
fn test_packets_to_a_group_get_no_reply() {
    let cfg = config(vec![]);
    for d in ["ff02::1", "ff05::1:3", "224.0.0.1", "255.255.255.255"] {
        let mut buf = emit(&sender(Mode::Unauthenticated, 1, 1, vec![]), None);
        let rx = Received {
            dst: d.parse().unwrap(),
            ..rx()
        };
        assert_eq!(
            run(&cfg, &mut ReflectorState::new(), &mut buf, &rx),
            Err(Discard::BadSource),
            "{d}"
        );
    }
}

#[test]
fn refused_packets_are_not_charged_to_the_rate_limit() {
    // A flood of packets that get no reply must not spend the budget of
    // the sender whose address they carry: sent to a group, from a
    // well-known port, with a bad HMAC, for a stopped session or an
    // unknown SSID that is dropped. Same source address throughout, so
    // one budget: any charge would show.
    let k = key();
    let mut stopped = session(4, Mode::Unauthenticated, None);
    stopped.stopped = true;
    let cfg = config_with(
        ReflectorMode::Stateless,
        UnknownSsid::Drop,
        vec![session(3, Mode::Authenticated, Some(k.clone())), stopped],
        TimestampFormat::Ntp,
        Some(RateLimit {
            per_second: 1,
            burst: 1,
        }),
        false,
    );
    let mut state = ReflectorState::new();
    for _ in 0..5 {
        let mut buf = emit(&sender(Mode::Unauthenticated, 1, 77, vec![]), None);
        let to_group = Received {
            dst: "ff02::1".parse().unwrap(),
            ..rx()
        };
        assert_eq!(
            run(&cfg, &mut state, &mut buf, &to_group),
            Err(Discard::BadSource)
        );
        let from_port_53 = Received {
            src_port: 53,
            ..rx()
        };
        assert_eq!(
            run(&cfg, &mut state, &mut buf, &from_port_53),
            Err(Discard::BadSource)
        );
        assert_eq!(
            run(&cfg, &mut state, &mut buf, &rx()),
            Err(Discard::UnknownSsid)
        );
        let mut stopped = emit(&sender(Mode::Unauthenticated, 1, 4, vec![]), None);
        assert_eq!(
            run(&cfg, &mut state, &mut stopped, &rx()),
            Err(Discard::SessionStopped)
        );
        let mut forged = emit(
            &sender(Mode::Authenticated, 1, 3, vec![]),
            Some(&other_key()),
        );
        assert_eq!(
            run(&cfg, &mut state, &mut forged, &rx()),
            Err(Discard::BadHmac)
        );
    }
    let mut good = emit(&sender(Mode::Authenticated, 1, 3, vec![]), Some(&k));
    assert!(run(&cfg, &mut state, &mut good, &rx()).is_ok());
    let mut again = emit(&sender(Mode::Authenticated, 2, 3, vec![]), Some(&k));
    assert_eq!(
        run(&cfg, &mut state, &mut again, &rx()),
        Err(Discard::RateLimited)
    );
}

#[test]
fn replies_to_a_configured_destination_share_its_budget() {
    // A session whose replies go to a configured address: requests
    // claiming many sources all spend that address's budget.
    let mut s = session(5, Mode::Unauthenticated, None);
    s.return_destination = Some(SID_A);
    let cfg = config_with(
        ReflectorMode::Stateless,
        UnknownSsid::Reflect,
        vec![s],
        TimestampFormat::Ntp,
        Some(RateLimit {
            per_second: 1,
            burst: 3,
        }),
        false,
    );
    let mut state = ReflectorState::new();
    let answered = (1..=20u16)
        .filter(|&i| {
            let src = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, i, 0, 0, 0, 0, 1));
            let mut buf = emit(&sender(Mode::Unauthenticated, 1, 5, vec![]), None);
            run(&cfg, &mut state, &mut buf, &rx_from(src, T2)).is_ok()
        })
        .count();
    assert_eq!(answered, 3);
}

#[test]
fn well_known_and_own_source_ports_get_no_reply() {
    // A reply to port 7 (echo), 19 (chargen), 53, 123 or 862 (another
    // reflector) would be answered again: a loop between two services
    // started by one spoofed packet.
    let cfg = config(vec![]);
    for port in [0u16, 7, 19, 53, 123, 862, 1023] {
        let mut buf = emit(&sender(Mode::Unauthenticated, 1, 1, vec![]), None);
        let r = Received {
            src_port: port,
            ..rx()
        };
        assert_eq!(
            run(&cfg, &mut ReflectorState::new(), &mut buf, &r),
            Err(Discard::BadSource),
            "{port}"
        );
    }
    // Our own port, even when it is not a well-known one.
    let mut buf = emit(&sender(Mode::Unauthenticated, 1, 1, vec![]), None);
    let r = Received {
        src_port: 8620,
        dst_port: 8620,
        ..rx()
    };
    assert_eq!(
        run(&cfg, &mut ReflectorState::new(), &mut buf, &r),
        Err(Discard::BadSource)
    );
    for port in [1024u16, 50_862, 65_535] {
        let mut buf = emit(&sender(Mode::Unauthenticated, 1, 1, vec![]), None);
        let r = Received {
            src_port: port,
            ..rx()
        };
        assert!(
            run(&cfg, &mut ReflectorState::new(), &mut buf, &r).is_ok(),
            "{port}"
        );
    }
}

#[test]
fn only_authenticated_replies_to_a_configured_destination_may_exceed_their_request() {
    let k = key();
    let mut to_configured = session(3, Mode::Authenticated, Some(k.clone()));
    to_configured.return_destination = Some(SENDER_ADDR);
    let mut unauth_configured = session(4, Mode::Unauthenticated, Some(k.clone()));
    unauth_configured.return_destination = Some(SENDER_ADDR);
    let to_source = session(5, Mode::Authenticated, Some(k.clone()));
    let cfg = config(vec![to_configured, unauth_configured, to_source]);
    let mut buf = emit(&sender(Mode::Authenticated, 1, 3, vec![]), Some(&k));
    let out = run(&cfg, &mut ReflectorState::new(), &mut buf, &rx()).unwrap();
    assert!(out.may_exceed_request());
    // Authenticated, but the reply goes to whatever source the packet
    // claims: a replayed copy could aim it at a victim.
    let mut buf = emit(&sender(Mode::Authenticated, 1, 5, vec![]), Some(&k));
    let out = run(&cfg, &mut ReflectorState::new(), &mut buf, &rx()).unwrap();
    assert!(out.known_session && !out.may_exceed_request());
    for ssid in [4, 77] {
        let mut buf = emit(&sender(Mode::Unauthenticated, 1, ssid, vec![]), None);
        let out = run(&cfg, &mut ReflectorState::new(), &mut buf, &rx()).unwrap();
        assert!(!out.may_exceed_request(), "ssid {ssid}");
    }
}

#[test]
fn on_link_sources_only_when_the_socket_reflector_asks() {
    for s in ["::1", "127.0.0.1", "fe80::1", "169.254.7.7"] {
        let src: IpAddr = s.parse().unwrap();
        let mut buf = emit(&sender(Mode::Unauthenticated, 1, 1, vec![]), None);
        let refused = run(
            &config(vec![]),
            &mut ReflectorState::new(),
            &mut buf,
            &rx_from(src, T2),
        );
        assert_eq!(refused, Err(Discard::BadSource), "{s}");
        let cfg = config(vec![]).answering_on_link_sources();
        assert!(
            run(
                &cfg,
                &mut ReflectorState::new(),
                &mut buf,
                &rx_from(src, T2)
            )
            .is_ok(),
            "{s}"
        );
    }
    // Still nothing for the other refused sources.
    let cfg = config(vec![]).answering_on_link_sources();
    for s in ["ff02::1", "::", "::ffff:10.0.0.1", "224.0.0.1"] {
        let mut buf = emit(&sender(Mode::Unauthenticated, 1, 1, vec![]), None);
        assert_eq!(
            run(
                &cfg,
                &mut ReflectorState::new(),
                &mut buf,
                &rx_from(s.parse().unwrap(), T2)
            ),
            Err(Discard::BadSource),
            "{s}"
        );
    }
}

#[test]
fn a_stopped_session_answers_nothing_even_where_unknown_ssids_are_reflected() {
    // srv6pm contract: "A stopped reflector session answers nothing" —
    // not even as an unknown SSID would be.
    let mut stopped = session(4, Mode::Unauthenticated, None);
    stopped.stopped = true;
    let running = session(5, Mode::Unauthenticated, None);
    let cfg = config(vec![stopped, running]);
    let mut state = ReflectorState::new();
    let mut buf = emit(&sender(Mode::Unauthenticated, 1, 4, vec![]), None);
    let orig = buf.clone();
    assert_eq!(
        run(&cfg, &mut state, &mut buf, &rx()),
        Err(Discard::SessionStopped)
    );
    assert_eq!(buf, orig, "a discarded packet is left as it was");
    assert_eq!(Discard::SessionStopped.name(), "stamp_session_stopped");
    let mut other = emit(&sender(Mode::Unauthenticated, 1, 5, vec![]), None);
    assert!(
        run(&cfg, &mut state, &mut other, &rx())
            .unwrap()
            .known_session
    );
    let mut unknown = emit(&sender(Mode::Unauthenticated, 1, 6, vec![]), None);
    assert!(
        !run(&cfg, &mut state, &mut unknown, &rx())
            .unwrap()
            .known_session
    );
}

#[test]
fn a_configured_return_destination_replaces_the_sender_as_final_destination() {
    let mut s = session(1, Mode::Unauthenticated, None);
    s.return_segments = vec![SID_B];
    s.return_destination = Some(SID_A);
    let (out, _) = reflect_tlvs(&config_honour(false, vec![s.clone()]), vec![]);
    assert_eq!(out.return_path.segments(), &[SID_B][..]);
    assert_eq!(out.return_path.destination(SENDER_ADDR), SID_A);
    // Without one the final destination is the test packet's source.
    s.return_destination = None;
    let (out, _) = reflect_tlvs(&config_honour(false, vec![s]), vec![]);
    assert_eq!(out.return_path.destination(SENDER_ADDR), SENDER_ADDR);
    // An unknown SSID's reply goes back to the sender.
    let (out, _) = reflect_tlvs(&config_honour(false, vec![]), vec![]);
    assert_eq!(out.return_path.destination(SENDER_ADDR), SENDER_ADDR);
}
