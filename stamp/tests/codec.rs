//! Known-answer tests of the STAMP codec. Expected values come from the
//! RFCs (layouts, RFC 4231 HMAC vectors, RFC 5905 epochs) or from Scapy
//! 2.8.0's `scapy.contrib.stamp` dissector, never from this codec.

use std::net::{IpAddr, Ipv6Addr};

use stamp::auth::{self, HmacKey};
use stamp::packet::{
    base_len, Mode, ReflectorPacket, ReflectorRepr, Role, SenderPacket, SenderRepr, HMAC_LEN,
    REFLECTOR_LEN_AUTH, REFLECTOR_LEN_UNAUTH, SENDER_LEN_AUTH, SENDER_LEN_UNAUTH,
};
use stamp::time::{ErrorEstimate, NtpTimestamp, PtpTimestamp, Timestamp, TimestampFormat};
use stamp::tlv::{self, ReturnPathSubTlv, Tlv, TlvFlags, TlvIter, TlvRepr};
use stamp::Error;

const NS: i128 = 1_000_000_000;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// ---------------------------------------------------------------- time

#[test]
fn ntp_unix_epoch() {
    // RFC 5905 §6 / RFC 868: 1970-01-01 is 2208988800 s after 1900-01-01.
    let t = NtpTimestamp::from_unix_nanos(0);
    assert_eq!(t.seconds, 2_208_988_800);
    assert_eq!(t.fraction, 0);
    assert_eq!(t.to_bits(), 2_208_988_800u64 << 32);
    assert_eq!(t.to_unix_nanos(0), 0);
}

#[test]
fn ntp_era_boundary() {
    // RFC 5905 §6: era 1 begins 2036-02-07T06:28:16Z = Unix 2085978496.
    let era1 = 2_085_978_496i128 * NS;
    let t = NtpTimestamp::from_unix_nanos(era1);
    assert_eq!((t.seconds, t.fraction), (0, 0));
    // Decoded near 2036: era 1.
    assert_eq!(t.to_unix_nanos(era1 + 10 * NS), era1);
    // Decoded near 1910: era 0, i.e. 1900-01-01.
    assert_eq!(t.to_unix_nanos(-1_893_456_000 * NS), -2_208_988_800 * NS);
    // Decoded from 1970, 2036 (66 years away) is closer than 1900 (70).
    assert_eq!(t.to_unix_nanos(0), era1);
    // One second before era 1: last second of era 0.
    let t = NtpTimestamp::from_unix_nanos(era1 - NS);
    assert_eq!((t.seconds, t.fraction), (u32::MAX, 0));
    assert_eq!(t.to_unix_nanos(era1), era1 - NS);
    // A timestamp in era 1 with a pivot a little before the boundary.
    let t = NtpTimestamp {
        seconds: 5,
        fraction: 0,
    };
    assert_eq!(t.to_unix_nanos(era1 - 100 * NS), era1 + 5 * NS);
}

#[test]
fn ntp_fraction() {
    // 0x80000000 / 2^32 = 0.5 s.
    let t = NtpTimestamp::from_bits((2_208_988_800u64 << 32) | 0x8000_0000);
    assert_eq!(t.to_unix_nanos(0), NS / 2);
    assert_eq!(NtpTimestamp::from_unix_nanos(NS / 2).fraction, 0x8000_0000);
    // 1 ns = 4.294967296 units: rounds to 4.
    assert_eq!(NtpTimestamp::from_unix_nanos(1).fraction, 4);
    // 1 unit = 0.233 ns: rounds to 0 ns; 3 units = 0.698 ns: rounds to 1.
    let base = 2_208_988_800u64 << 32;
    assert_eq!(NtpTimestamp::from_bits(base | 1).to_unix_nanos(0), 0);
    assert_eq!(NtpTimestamp::from_bits(base | 3).to_unix_nanos(0), 1);
    // 0xffffffff units = 999999999.77 ns: rounds up into the next second.
    assert_eq!(
        NtpTimestamp::from_bits(base | 0xffff_ffff).to_unix_nanos(0),
        NS
    );
    // Unix -1 ns: second 2208988799, 999999999 ns = 4294967291.7 units.
    let t = NtpTimestamp::from_unix_nanos(-1);
    assert_eq!((t.seconds, t.fraction), (2_208_988_799, 0xffff_fffc));
    assert_eq!(t.to_unix_nanos(0), -1);
}

#[test]
fn ntp_bits_layout() {
    let t = NtpTimestamp::from_bits(0x0102_0304_0506_0708);
    assert_eq!((t.seconds, t.fraction), (0x0102_0304, 0x0506_0708));
    assert_eq!(t.to_bits(), 0x0102_0304_0506_0708);
}

#[test]
fn ptp_conversions() {
    // 1.5 s after the epoch: seconds 1, 500000000 ns (0x1dcd6500).
    let t = PtpTimestamp::from_unix_nanos(NS + NS / 2);
    assert_eq!((t.seconds, t.nanoseconds), (1, 500_000_000));
    assert_eq!(t.to_bits(), 0x0000_0001_1dcd_6500);
    assert_eq!(t.to_unix_nanos(0), NS + NS / 2);
    // Seconds wrap at 2^32 (2106-02-07T06:28:16Z).
    let wrap = (1i128 << 32) * NS;
    let t = PtpTimestamp::from_unix_nanos(wrap + 7);
    assert_eq!((t.seconds, t.nanoseconds), (0, 7));
    assert_eq!(t.to_unix_nanos(wrap), wrap + 7);
    assert_eq!(t.to_unix_nanos(0), 7);
    // Nanoseconds >= 1e9: kept, reported invalid.
    let t = PtpTimestamp::from_bits(0x0000_0002_3b9a_ca00); // 1_000_000_000
    assert_eq!(t.nanoseconds, 1_000_000_000);
    assert!(!t.is_valid());
    assert_eq!(t.to_bits(), 0x0000_0002_3b9a_ca00);
    assert!(PtpTimestamp::from_bits(0x3b9a_c9ff).is_valid());
}

#[test]
fn timestamp_enum() {
    let n = 1_704_067_200 * NS + 250_000_000; // 2024-01-01T00:00:00.25Z
    let t = Timestamp::from_unix_nanos(TimestampFormat::Ntp, n);
    assert_eq!(t.format(), TimestampFormat::Ntp);
    // 2024-01-01 is NTP 3913056000 = 0xe93c7f00; 0.25 s = 0x40000000.
    assert_eq!(t.to_bits(), 0xe93c_7f00_4000_0000);
    assert_eq!(t.to_unix_nanos(n), n);
    let p = Timestamp::from_unix_nanos(TimestampFormat::Ptp, n);
    assert_eq!(p.to_bits(), (1_704_067_200u64 << 32) | 250_000_000);
    assert_eq!(Timestamp::from_bits(TimestampFormat::Ptp, p.to_bits()), p);
    assert_eq!(p.to_unix_nanos(n), n);
}

#[test]
fn error_estimate_bits() {
    // RFC 4656 §4.1.2: S | Z | Scale (6) | Multiplier (8).
    let e = ErrorEstimate::from_bits(0x8305);
    assert_eq!(
        e,
        ErrorEstimate {
            synchronized: true,
            ptp: false,
            scale: 3,
            multiplier: 5
        }
    );
    assert_eq!(e.to_bits(), 0x8305);
    assert_eq!(e.seconds(), 5.0 * 2f64.powi(-29));
    assert_eq!(e.format(), TimestampFormat::Ntp);
    let z = ErrorEstimate::from_bits(0x4001);
    assert!(z.ptp && !z.synchronized);
    assert_eq!(z.format(), TimestampFormat::Ptp);
    assert_eq!(z.seconds(), 2f64.powi(-32));
    let max = ErrorEstimate::from_bits(0x3fff);
    assert_eq!((max.scale, max.multiplier), (63, 255));
    assert!(!ErrorEstimate::from_bits(0x8300).is_valid());
    assert!(e.is_valid());
}

// ---------------------------------------------------------------- HMAC

#[test]
fn hmac_rfc4231_vectors() {
    // RFC 4231 §4.2, test case 1.
    let k = HmacKey::new(&[0x0b; 20]);
    assert_eq!(
        auth::hmac16(&k, &[b"Hi ", b"There"]).to_vec(),
        hex("b0344c61d8db38535ca8afceaf0bf12b")
    );
    // Test case 2.
    let k = HmacKey::new(b"Jefe");
    assert_eq!(
        auth::hmac16(&k, &[b"what do ya want for nothing?"]).to_vec(),
        hex("5bdcc146bf60754e6a042426089575c7")
    );
    // Test case 5 (truncated to 128 bits in the RFC).
    let k = HmacKey::new(&[0x0c; 20]);
    let want = hex("a3b6167473100ee06e0c796c2955552b");
    assert_eq!(auth::hmac16(&k, &[b"Test With Truncation"]).to_vec(), want);
    assert!(auth::verify16(&k, &[b"Test With Truncation"], &want));
    let mut bad = want.clone();
    bad[15] ^= 1;
    assert!(!auth::verify16(&k, &[b"Test With Truncation"], &bad));
    assert!(!auth::verify16(&k, &[b"Test With Truncation"], &want[..15]));
    // Test case 6: key longer than the block size.
    let k = HmacKey::new(&[0xaa; 131]);
    assert_eq!(
        auth::hmac16(
            &k,
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
        )
        .to_vec(),
        hex("60e431591ee0b67f0d8a26aacbf5b77f")
    );
    assert_eq!(format!("{:?}", k), "HmacKey(131 octets)");
}

#[test]
fn packet_hmac_covers_octets_0_to_96() {
    let key = HmacKey::new(b"stamp key");
    let mut buf = vec![0u8; SENDER_LEN_AUTH + 8];
    for (i, b) in buf.iter_mut().enumerate().take(96) {
        *b = i as u8;
    }
    auth::set_packet_hmac(&key, &mut buf).unwrap();
    let want = auth::hmac16(&key, &[&buf[..96]]);
    assert_eq!(&buf[96..112], &want);
    assert_eq!(auth::sender_packet_hmac(&key, &buf).unwrap(), want);
    assert_eq!(auth::reflector_packet_hmac(&key, &buf).unwrap(), want);
    assert_eq!(auth::verify_packet_hmac(&key, &buf), Ok(()));
    // TLV octets are not covered.
    buf[112] = 0xff;
    assert_eq!(auth::verify_packet_hmac(&key, &buf), Ok(()));
    // Any covered octet is.
    for i in [0, 4, 16, 27, 95] {
        let mut b = buf.clone();
        b[i] ^= 0x80;
        assert_eq!(
            auth::verify_packet_hmac(&key, &b),
            Err(Error::BadHmac),
            "{i}"
        );
    }
    assert_eq!(
        auth::verify_packet_hmac(&HmacKey::new(b"other"), &buf),
        Err(Error::BadHmac)
    );
    assert_eq!(
        auth::verify_packet_hmac(&key, &buf[..111]),
        Err(Error::Truncated)
    );
    assert_eq!(
        auth::sender_packet_hmac(&key, &buf[..50]),
        Err(Error::Truncated)
    );
}

#[test]
fn hmac_tlv_covers_sequence_and_preceding_tlvs() {
    // RFC 8972 §4.8: Sequence Number + TLVs before the HMAC TLV.
    let key = HmacKey::new(b"k");
    let mut pkt = vec![0u8; SENDER_LEN_UNAUTH];
    pkt[..4].copy_from_slice(&[0, 0, 0, 9]);
    pkt[4..12].copy_from_slice(&[0xee; 8]); // timestamp: not covered
    let pad = [0x00, 0x01, 0x00, 0x02, 0xaa, 0xbb]; // Extra Padding, 2 octets
    pkt.extend_from_slice(&pad);
    let off = pkt.len();
    let want = auth::hmac16(&key, &[&[0, 0, 0, 9], &pad]);
    assert_eq!(
        auth::packet_hmac_tlv_digest(&key, &pkt, Mode::Unauthenticated, off).unwrap(),
        want
    );
    pkt.extend_from_slice(&[0x00, 0x08, 0x00, 0x10]);
    pkt.extend_from_slice(&want);
    assert_eq!(
        auth::verify_hmac_tlv(&key, &pkt, Mode::Unauthenticated, off),
        Ok(())
    );
    let mut t = pkt.clone();
    t[4] = 0; // timestamp changes: still verifies
    assert_eq!(
        auth::verify_hmac_tlv(&key, &t, Mode::Unauthenticated, off),
        Ok(())
    );
    t[3] = 8; // sequence changes: fails
    assert_eq!(
        auth::verify_hmac_tlv(&key, &t, Mode::Unauthenticated, off),
        Err(Error::BadHmac)
    );
    let mut t = pkt.clone();
    t[SENDER_LEN_UNAUTH + 5] = 0; // padding value changes: fails
    assert_eq!(
        auth::verify_hmac_tlv(&key, &t, Mode::Unauthenticated, off),
        Err(Error::BadHmac)
    );
    assert_eq!(
        auth::verify_hmac_tlv(&key, &pkt[..pkt.len() - 1], Mode::Unauthenticated, off),
        Err(Error::Truncated)
    );
    assert_eq!(
        auth::hmac_tlv_coverage(&pkt, Mode::Unauthenticated, 10),
        Err(Error::Truncated)
    );
    assert_eq!(auth::hmac_tlv_digest(&key, &[&[0, 0, 0, 9], &pad]), want);
}

// ------------------------------------------------------------- packets

/// Scapy 2.8.0:
/// `STAMPSessionSenderTestUnauthenticated(seq=0x01020304, ts=3913056000.5,
///   err_estimate=ErrorEstimate(S=1,Z=0,scale=3,multiplier=5), ssid=0xabcd,
///   tlv_objects=[STAMPTestTLV(flags=0x80, type=5, len=12, value=bytes(range(1,13))),
///                STAMPTestTLV(flags=0, type=1, len=3, value=b'\0\0\0')])`
const SCAPY_SENDER: &str =
    "01020304e93c7f00800000008305abcd00000000000000000000000000000000000000000000000000000000\
8005000c0102030405060708090a0b0c00010003000000";

/// Scapy 2.8.0:
/// `STAMPSessionReflectorTestUnauthenticated(seq=7, ts=3913056001.25,
///   err_estimate=ErrorEstimate(S=0,Z=0,scale=10,multiplier=200), ssid=0xabcd,
///   ts_rx=3913056001.0, seq_sender=0x01020304, ts_sender=3913056000.5,
///   err_estimate_sender=ErrorEstimate(S=1,Z=0,scale=3,multiplier=5), ttl_sender=63,
///   tlv_objects=[STAMPTestTLV(flags=0x40, type=9, len=16,
///                value=bytes.fromhex('20010db8000000000000000000000001'))])`
const SCAPY_REFLECTOR: &str =
    "00000007e93c7f01400000000ac8abcde93c7f010000000001020304e93c7f0080000000830500003f000000\
4009001020010db8000000000000000000000001";

fn scapy_sender_repr() -> SenderRepr {
    SenderRepr {
        mode: Mode::Unauthenticated,
        sequence: 0x0102_0304,
        timestamp: 0xe93c_7f00_8000_0000,
        error_estimate: ErrorEstimate {
            synchronized: true,
            ptp: false,
            scale: 3,
            multiplier: 5,
        },
        ssid: 0xabcd,
        tlvs: vec![
            TlvRepr::DirectMeasurement {
                flags: TlvFlags {
                    unrecognized: true,
                    malformed: false,
                    integrity: false,
                },
                sender_tx: 0x0102_0304,
                reflector_rx: 0x0506_0708,
                reflector_tx: 0x090a_0b0c,
            },
            TlvRepr::ExtraPadding {
                flags: TlvFlags::default(),
                padding: vec![0; 3],
            },
        ],
    }
}

fn scapy_reflector_repr() -> ReflectorRepr {
    ReflectorRepr {
        mode: Mode::Unauthenticated,
        sequence: 7,
        timestamp: 0xe93c_7f01_4000_0000,
        error_estimate: ErrorEstimate {
            synchronized: false,
            ptp: false,
            scale: 10,
            multiplier: 200,
        },
        ssid: 0xabcd,
        receive_timestamp: 0xe93c_7f01_0000_0000,
        sender_sequence: 0x0102_0304,
        sender_timestamp: 0xe93c_7f00_8000_0000,
        sender_error_estimate: ErrorEstimate::from_bits(0x8305),
        sender_ttl: 63,
        tlvs: vec![TlvRepr::DestinationNodeAddress {
            flags: TlvFlags {
                unrecognized: false,
                malformed: true,
                integrity: false,
            },
            address: IpAddr::V6("2001:db8::1".parse().unwrap()),
        }],
    }
}

#[test]
fn lengths() {
    assert_eq!(SENDER_LEN_UNAUTH, 44);
    assert_eq!(SENDER_LEN_AUTH, 112);
    assert_eq!(REFLECTOR_LEN_UNAUTH, 44);
    assert_eq!(REFLECTOR_LEN_AUTH, 112);
    assert_eq!(HMAC_LEN, 16);
    assert_eq!(base_len(Role::Sender, Mode::Authenticated), 112);
    assert_eq!(base_len(Role::Reflector, Mode::Unauthenticated), 44);
}

#[test]
fn sender_unauth_matches_scapy() {
    let bytes = hex(SCAPY_SENDER);
    let p = SenderPacket::new_checked(&bytes[..], Mode::Unauthenticated).unwrap();
    assert_eq!(p.sequence(), 0x0102_0304);
    // 2024-01-01T00:00:00.5Z, encoded by this codec from Unix time.
    assert_eq!(
        p.timestamp_bits(),
        NtpTimestamp::from_unix_nanos(1_704_067_200 * NS + NS / 2).to_bits()
    );
    assert_eq!(p.error_estimate_bits(), 0x8305);
    assert_eq!(p.ssid(), 0xabcd);
    assert!(p.mbz_is_zero());
    assert!(p.hmac().is_none());
    assert_eq!(p.tlv_bytes().len(), 23);
    assert_eq!(SenderRepr::parse(&p).unwrap(), scapy_sender_repr());

    let repr = scapy_sender_repr();
    assert_eq!(repr.buffer_len(), bytes.len());
    let mut out = vec![0xffu8; repr.buffer_len()];
    repr.emit(&mut SenderPacket::new_unchecked(
        &mut out[..],
        Mode::Unauthenticated,
    ));
    assert_eq!(out, bytes);
}

#[test]
fn reflector_unauth_matches_scapy() {
    let bytes = hex(SCAPY_REFLECTOR);
    let p = ReflectorPacket::new_checked(&bytes[..], Mode::Unauthenticated).unwrap();
    assert_eq!(p.sequence(), 7);
    assert_eq!(p.timestamp_bits(), 0xe93c_7f01_4000_0000);
    assert_eq!(p.error_estimate().multiplier, 200);
    assert_eq!(p.ssid(), 0xabcd);
    assert_eq!(p.receive_timestamp_bits(), 0xe93c_7f01_0000_0000);
    assert_eq!(p.sender_sequence(), 0x0102_0304);
    assert_eq!(p.sender_timestamp_bits(), 0xe93c_7f00_8000_0000);
    assert_eq!(p.sender_error_estimate_bits(), 0x8305);
    assert_eq!(p.sender_ttl(), 63);
    assert!(p.mbz_is_zero());
    assert_eq!(ReflectorRepr::parse(&p).unwrap(), scapy_reflector_repr());

    let repr = scapy_reflector_repr();
    let mut out = vec![0xffu8; repr.buffer_len()];
    repr.emit(&mut ReflectorPacket::new_unchecked(
        &mut out[..],
        Mode::Unauthenticated,
    ));
    assert_eq!(out, bytes);
}

#[test]
fn mbz_detected() {
    let mut bytes = hex(SCAPY_REFLECTOR);
    bytes[39] = 1; // MBZ after Session-Sender Error Estimate
    let p = ReflectorPacket::new_checked(&bytes[..], Mode::Unauthenticated).unwrap();
    assert!(!p.mbz_is_zero());
    let mut bytes = hex(SCAPY_SENDER);
    bytes[43] = 1;
    let p = SenderPacket::new_checked(&bytes[..], Mode::Unauthenticated).unwrap();
    assert!(!p.mbz_is_zero());
}

#[test]
fn sender_auth_layout() {
    // RFC 8762 §4.2.2 / RFC 8972 §3: Seq 0..4, MBZ 4..16, Timestamp 16..24,
    // Error Estimate 24..26, SSID 26..28, MBZ 28..96, HMAC 96..112.
    let mut want = vec![0u8; 112];
    want[0..4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    want[16..24].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    want[24..26].copy_from_slice(&[0x40, 0x01]);
    want[26..28].copy_from_slice(&[0x12, 0x34]);
    let repr = SenderRepr {
        mode: Mode::Authenticated,
        sequence: 0xdead_beef,
        timestamp: 0x0102_0304_0506_0708,
        error_estimate: ErrorEstimate::from_bits(0x4001),
        ssid: 0x1234,
        tlvs: vec![],
    };
    assert_eq!(repr.buffer_len(), 112);
    let mut out = vec![0xaau8; 112];
    repr.emit(&mut SenderPacket::new_unchecked(
        &mut out[..],
        Mode::Authenticated,
    ));
    assert_eq!(out, want);
    let mut p = SenderPacket::new_checked(&mut out[..], Mode::Authenticated).unwrap();
    p.hmac_mut().unwrap().copy_from_slice(&[0x77; 16]);
    assert_eq!(p.hmac().unwrap(), &[0x77; 16]);
    assert!(p.mbz_is_zero());
    assert_eq!(SenderRepr::parse(&p).unwrap(), repr);
    assert_eq!(out[96..112], [0x77; 16]);
    out[4] = 1;
    assert!(!SenderPacket::new_unchecked(&out[..], Mode::Authenticated).mbz_is_zero());
}

#[test]
fn reflector_auth_layout() {
    // RFC 8762 §4.3.2 / RFC 8972 §3.
    let mut want = vec![0u8; 112];
    want[0..4].copy_from_slice(&[0, 0, 0, 1]);
    want[16..24].copy_from_slice(&[0x11; 8]);
    want[24..26].copy_from_slice(&[0x80, 0x01]);
    want[26..28].copy_from_slice(&[0xab, 0xcd]);
    want[32..40].copy_from_slice(&[0x22; 8]);
    want[48..52].copy_from_slice(&[0, 0, 0, 2]);
    want[64..72].copy_from_slice(&[0x33; 8]);
    want[72..74].copy_from_slice(&[0x00, 0x02]);
    want[80] = 64;
    let repr = ReflectorRepr {
        mode: Mode::Authenticated,
        sequence: 1,
        timestamp: 0x1111_1111_1111_1111,
        error_estimate: ErrorEstimate::from_bits(0x8001),
        ssid: 0xabcd,
        receive_timestamp: 0x2222_2222_2222_2222,
        sender_sequence: 2,
        sender_timestamp: 0x3333_3333_3333_3333,
        sender_error_estimate: ErrorEstimate::from_bits(0x0002),
        sender_ttl: 64,
        tlvs: vec![],
    };
    let mut out = vec![0xffu8; 112];
    repr.emit(&mut ReflectorPacket::new_unchecked(
        &mut out[..],
        Mode::Authenticated,
    ));
    assert_eq!(out, want);
    let p = ReflectorPacket::new_checked(&out[..], Mode::Authenticated).unwrap();
    assert_eq!(ReflectorRepr::parse(&p).unwrap(), repr);
    assert!(p.mbz_is_zero());
    for i in [4, 15, 28, 31, 40, 47, 52, 63, 74, 79, 81, 95] {
        let mut b = out.clone();
        b[i] = 1;
        assert!(
            !ReflectorPacket::new_unchecked(&b[..], Mode::Authenticated).mbz_is_zero(),
            "{i}"
        );
    }
}

#[test]
fn truncated_packets() {
    let bytes = hex(SCAPY_SENDER);
    for len in 0..44 {
        assert_eq!(
            SenderPacket::new_checked(&bytes[..len], Mode::Unauthenticated).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            ReflectorPacket::new_checked(&bytes[..len], Mode::Unauthenticated).unwrap_err(),
            Error::Truncated
        );
    }
    // 67 octets is not enough for an authenticated base.
    assert_eq!(
        SenderPacket::new_checked(&bytes[..], Mode::Authenticated).unwrap_err(),
        Error::Truncated
    );
    assert_eq!(Error::Truncated.name(), "truncated");
    assert_eq!(Error::TlvBadLength.name(), "tlv_bad_length");
}

/// The in-place reflection the module documentation describes gives the
/// same bytes as emitting the reflector packet from scratch.
#[test]
fn reflect_in_place() {
    for mode in [Mode::Unauthenticated, Mode::Authenticated] {
        let sender = SenderRepr {
            mode,
            sequence: 42,
            timestamp: 0xe93c_7f00_8000_0000,
            error_estimate: ErrorEstimate::from_bits(0x8305),
            ssid: 0x0101,
            tlvs: vec![TlvRepr::ExtraPadding {
                flags: TlvFlags::default(),
                padding: vec![0; 8],
            }],
        };
        let mut buf = vec![0u8; sender.buffer_len()];
        sender.emit(&mut SenderPacket::new_unchecked(&mut buf[..], mode));
        let key = HmacKey::new(b"k");
        if mode == Mode::Authenticated {
            auth::set_packet_hmac(&key, &mut buf).unwrap();
        }

        let s = SenderPacket::new_checked(&buf[..], mode).unwrap();
        let (seq, ts, ee, ssid) = (
            s.sequence(),
            s.timestamp_bits(),
            s.error_estimate(),
            s.ssid(),
        );
        let mut r = ReflectorPacket::new_checked(&mut buf[..], mode).unwrap();
        r.clear_mbz();
        r.set_sender_sequence(seq);
        r.set_sender_timestamp_bits(ts);
        r.set_sender_error_estimate(ee);
        r.set_receive_timestamp_bits(0xe93c_7f00_9000_0000);
        r.set_sender_ttl(255);
        r.set_sequence(7);
        r.set_timestamp_bits(0xe93c_7f00_a000_0000);
        r.set_error_estimate_bits(0x0001);
        if let Some(h) = r.hmac_mut() {
            h.fill(0);
        }
        let want_repr = ReflectorRepr {
            mode,
            sequence: 7,
            timestamp: 0xe93c_7f00_a000_0000,
            error_estimate: ErrorEstimate::from_bits(1),
            ssid,
            receive_timestamp: 0xe93c_7f00_9000_0000,
            sender_sequence: 42,
            sender_timestamp: 0xe93c_7f00_8000_0000,
            sender_error_estimate: ErrorEstimate::from_bits(0x8305),
            sender_ttl: 255,
            tlvs: sender.tlvs.clone(),
        };
        let mut want = vec![0u8; want_repr.buffer_len()];
        want_repr.emit(&mut ReflectorPacket::new_unchecked(&mut want[..], mode));
        assert_eq!(buf, want, "{mode:?}");
        if mode == Mode::Authenticated {
            auth::set_packet_hmac(&key, &mut buf).unwrap();
            assert_eq!(auth::verify_packet_hmac(&key, &buf), Ok(()));
        }
    }
}

// ---------------------------------------------------------------- TLVs

fn one(bytes: &[u8]) -> TlvRepr {
    let t = Tlv::new_checked(bytes).unwrap();
    assert_eq!(t.total_len(), bytes.len());
    let r = TlvRepr::parse(&t).unwrap();
    assert_eq!(r.buffer_len(), bytes.len());
    let mut out = vec![0xeeu8; bytes.len()];
    r.emit(&mut Tlv::new_unchecked(&mut out[..]));
    assert_eq!(out, bytes, "{r:?}");
    r
}

#[test]
fn tlv_type_numbers() {
    // IANA "STAMP TLV Types": RFC 8972 §5.2, RFC 9503 §6.
    assert_eq!(tlv::EXTRA_PADDING, 1);
    assert_eq!(tlv::LOCATION, 2);
    assert_eq!(tlv::TIMESTAMP_INFORMATION, 3);
    assert_eq!(tlv::CLASS_OF_SERVICE, 4);
    assert_eq!(tlv::DIRECT_MEASUREMENT, 5);
    assert_eq!(tlv::ACCESS_REPORT, 6);
    assert_eq!(tlv::FOLLOW_UP_TELEMETRY, 7);
    assert_eq!(tlv::HMAC, 8);
    assert_eq!(tlv::DESTINATION_NODE_ADDRESS, 9);
    assert_eq!(tlv::RETURN_PATH, 10);
    assert!(tlv::is_known_type(10) && !tlv::is_known_type(0) && !tlv::is_known_type(11));
}

#[test]
fn tlv_flags() {
    // RFC 8972 §4: U is bit 0 (most significant), M bit 1, I bit 2.
    assert_eq!(
        TlvFlags::from_u8(0x80),
        TlvFlags {
            unrecognized: true,
            malformed: false,
            integrity: false
        }
    );
    assert_eq!(
        TlvFlags::from_u8(0x40),
        TlvFlags {
            unrecognized: false,
            malformed: true,
            integrity: false
        }
    );
    assert_eq!(
        TlvFlags::from_u8(0x20),
        TlvFlags {
            unrecognized: false,
            malformed: false,
            integrity: true
        }
    );
    assert_eq!(TlvFlags::from_u8(0x1f), TlvFlags::default());
    assert_eq!(u8::from(TlvFlags::from_u8(0xff)), 0xe0);
    let mut b = [0x1f, 0x63, 0, 0];
    let mut t = Tlv::new_checked(&mut b[..]).unwrap();
    t.set_flags(TlvFlags {
        unrecognized: true,
        malformed: false,
        integrity: false,
    });
    assert_eq!(t.flags_byte(), 0x80);
    t.set_flags_byte(0x41);
    assert!(t.flags().malformed);
    t.set_tlv_type(200);
    t.set_length(0);
    assert_eq!(b, [0x41, 200, 0, 0]);
}

#[test]
fn tlv_every_type() {
    // Extra Padding (§4.1).
    assert_eq!(
        one(&[0x00, 1, 0, 2, 0xaa, 0xbb]),
        TlvRepr::ExtraPadding {
            flags: TlvFlags::default(),
            padding: vec![0xaa, 0xbb]
        }
    );
    // Location (§4.2): ports 862 and 50000, one raw sub-TLV.
    assert_eq!(
        one(&[0, 2, 0, 12, 0x03, 0x5e, 0xc3, 0x50, 0, 3, 0, 4, 192, 0, 2, 1]),
        TlvRepr::Location {
            flags: TlvFlags::default(),
            dst_port: 862,
            src_port: 50000,
            sub_tlvs: vec![0, 3, 0, 4, 192, 0, 2, 1],
        }
    );
    // Timestamp Information (§4.3).
    assert_eq!(
        one(&[0, 3, 0, 4, 1, 2, 3, 4]),
        TlvRepr::TimestampInformation {
            flags: TlvFlags::default(),
            sync_src_in: 1,
            timestamp_in: 2,
            sync_src_out: 3,
            timestamp_out: 4,
            sub_tlvs: vec![],
        }
    );
    // Class of Service (§4.4): DSCP1 46 (EF) = 101110, DSCP2 10 (AF11) =
    // 001010, ECN 01, RP 10:
    // 101110 00|1010 01 10| reserved -> 0xb8 0xa6 0x00 0x00.
    assert_eq!(
        one(&[0, 4, 0, 4, 0xb8, 0xa6, 0, 0]),
        TlvRepr::ClassOfService {
            flags: TlvFlags::default(),
            dscp1: 46,
            dscp2: 10,
            ecn: 1,
            rp: 2
        }
    );
    // Direct Measurement (§4.5).
    assert_eq!(
        one(&[0, 5, 0, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]),
        TlvRepr::DirectMeasurement {
            flags: TlvFlags::default(),
            sender_tx: 1,
            reflector_rx: 2,
            reflector_tx: 3
        }
    );
    // Access Report (§4.6): ID 1 in the high nibble, Return Code 1.
    assert_eq!(
        one(&[0, 6, 0, 4, 0x10, 1, 0, 0]),
        TlvRepr::AccessReport {
            flags: TlvFlags::default(),
            id: 1,
            return_code: 1
        }
    );
    // Follow-Up Telemetry (§4.7).
    assert_eq!(
        one(&[0, 7, 0, 16, 0, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8, 3, 0, 0, 0]),
        TlvRepr::FollowUpTelemetry {
            flags: TlvFlags::default(),
            sequence: 5,
            timestamp: 0x0102_0304_0506_0708,
            timestamp_mode: 3
        }
    );
    // HMAC (§4.8).
    let mut h = vec![0x20, 8, 0, 16];
    h.extend_from_slice(&[0x5a; 16]);
    assert_eq!(
        one(&h),
        TlvRepr::Hmac {
            flags: TlvFlags {
                unrecognized: false,
                malformed: false,
                integrity: true
            },
            hmac: [0x5a; 16]
        }
    );
    // Destination Node Address (RFC 9503 §3), IPv4.
    assert_eq!(
        one(&[0, 9, 0, 4, 198, 51, 100, 1]),
        TlvRepr::DestinationNodeAddress {
            flags: TlvFlags::default(),
            address: "198.51.100.1".parse().unwrap()
        }
    );
    // Return Path (RFC 9503 §4) with every sub-TLV.
    let mut rp = vec![0, 10, 0, 0];
    rp.extend_from_slice(&[0, 1, 0, 4, 0, 0, 0, 1]); // Control Code
    rp.extend_from_slice(&[0, 2, 0, 16]); // Return Address
    rp.extend_from_slice(&"fc00::1".parse::<Ipv6Addr>().unwrap().octets());
    rp.extend_from_slice(&[0, 3, 0, 8, 0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40]); // labels 16, 32(S)
    rp.extend_from_slice(&[0, 4, 0, 32]); // SRv6 Segment List
    rp.extend_from_slice(&"fc00:1::".parse::<Ipv6Addr>().unwrap().octets());
    rp.extend_from_slice(&"fc00:2::".parse::<Ipv6Addr>().unwrap().octets());
    rp.extend_from_slice(&[0x80, 99, 0, 1, 7]); // unknown sub-TLV
    let len = (rp.len() - 4) as u16;
    rp[2..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(
        one(&rp),
        TlvRepr::ReturnPath {
            flags: TlvFlags::default(),
            sub_tlvs: vec![
                ReturnPathSubTlv::ControlCode(1),
                ReturnPathSubTlv::ReturnAddress("fc00::1".parse().unwrap()),
                ReturnPathSubTlv::SrMplsLabelStack(vec![0x0001_0040, 0x0002_0140]),
                ReturnPathSubTlv::Srv6SegmentList(vec![
                    "fc00:1::".parse().unwrap(),
                    "fc00:2::".parse().unwrap()
                ]),
                ReturnPathSubTlv::Unknown {
                    flags: 0x80,
                    sub_type: 99,
                    value: vec![7]
                },
            ]
        }
    );
    // Unknown type.
    assert_eq!(
        one(&[0x80, 200, 0, 1, 9]),
        TlvRepr::Unknown {
            flags: TlvFlags {
                unrecognized: true,
                malformed: false,
                integrity: false
            },
            tlv_type: 200,
            value: vec![9]
        }
    );
}

#[test]
fn tlv_wrong_length_for_type() {
    for bytes in [
        &[0, 2, 0, 3, 0, 0, 0][..],            // Location shorter than its ports
        &[0, 3, 0, 2, 0, 0],                   // Timestamp Information
        &[0, 4, 0, 5, 0, 0, 0, 0, 0],          // Class of Service
        &[0, 5, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0], // Direct Measurement
        &[0, 6, 0, 0],                         // Access Report
        &[0, 7, 0, 4, 0, 0, 0, 0],             // Follow-Up Telemetry
        &[0, 8, 0, 4, 0, 0, 0, 0],             // HMAC
        &[0, 9, 0, 5, 1, 2, 3, 4, 5],          // Destination Node Address
        &[0, 10, 0, 3, 0, 1, 0],               // Return Path: cut sub-TLV
        &[0, 10, 0, 7, 0, 1, 0, 3, 0, 0, 0],   // Control Code of 3
        &[0, 10, 0, 8, 0, 2, 0, 4, 0, 0, 0, 0][..11], // (cut: bad length)
        &[0, 10, 0, 9, 0, 2, 0, 5, 0, 0, 0, 0, 0], // Return Address of 5
        &[0, 10, 0, 6, 0, 3, 0, 2, 0, 0],      // Label stack of 2 octets
        &[0, 10, 0, 8, 0, 4, 0, 4, 0, 0, 0, 0], // Segment list of 4 octets
    ] {
        match Tlv::new_checked(bytes) {
            Ok(t) => {
                assert!(!tlv::is_well_formed(&t), "{bytes:?}");
                assert_eq!(TlvRepr::parse(&t), Err(Error::TlvMalformed), "{bytes:?}");
            }
            Err(e) => assert_eq!(e, Error::TlvBadLength, "{bytes:?}"),
        }
    }
    // Unknown types are always well formed; so is an empty Return Path.
    assert!(tlv::is_well_formed(
        &Tlv::new_checked(&[0, 99, 0, 0][..]).unwrap()
    ));
    assert!(tlv::is_well_formed(
        &Tlv::new_checked(&[0, 10, 0, 0][..]).unwrap()
    ));
}

#[test]
fn tlv_iter_malformed_area() {
    // Two TLVs then a header cut short.
    let area = [0, 1, 0, 1, 0xaa, 0x80, 200, 0, 0, 0, 1];
    let mut it = TlvIter::new(&area);
    assert_eq!(it.position(), 0);
    assert_eq!(it.next().unwrap().unwrap().tlv_type(), 1);
    assert_eq!(it.position(), 5);
    assert_eq!(it.next().unwrap().unwrap().tlv_type(), 200);
    assert_eq!(it.position(), 9);
    assert_eq!(it.next().unwrap().unwrap_err(), Error::TlvTruncated);
    assert!(it.next().is_none());
    // A Length running past the end: one error, then nothing.
    let area = [0, 1, 0xff, 0xff, 0];
    let items: Vec<_> = TlvIter::new(&area).collect();
    assert_eq!(items, vec![Err(Error::TlvBadLength)]);
    // Empty area.
    assert_eq!(TlvIter::new(&[]).count(), 0);
    // Through a packet: the Repr parse fails with the TLV error.
    let mut bytes = hex(SCAPY_SENDER);
    bytes.push(0);
    let p = SenderPacket::new_checked(&bytes[..], Mode::Unauthenticated).unwrap();
    assert_eq!(SenderRepr::parse(&p).unwrap_err(), Error::TlvTruncated);
    let mut bytes = hex(SCAPY_SENDER);
    bytes[44 + 3] = 13; // Direct Measurement claims 13 octets: overruns into padding TLV
    let p = SenderPacket::new_checked(&bytes[..], Mode::Unauthenticated).unwrap();
    assert!(SenderRepr::parse(&p).is_err());
}

#[test]
fn tlv_value_mut() {
    let mut b = [0, 5, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff];
    let mut t = Tlv::new_checked(&mut b[..]).unwrap();
    t.value_mut()[11] = 1;
    assert_eq!(t.value().len(), 12);
    assert_eq!(b[15], 1);
    assert_eq!(b[16], 0xff);
}
