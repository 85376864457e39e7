//! Property tests of the STAMP codec: no panic on any input, Repr
//! round trips, timestamp conversions within their documented bounds.

use proptest::prelude::*;

use stamp::packet::{Mode, ReflectorPacket, ReflectorRepr, SenderPacket, SenderRepr};
use stamp::time::{ErrorEstimate, NtpTimestamp, PtpTimestamp};
use stamp::tlv::{self, Tlv, TlvIter, TlvRepr};

const NS: i128 = 1_000_000_000;
/// 200 years in nanoseconds.
const SPAN: i128 = 200 * 366 * 86_400 * NS;
/// 60 years: a pivot this far from the instant still decodes it.
const PIVOT_SPAN: i128 = 60 * 366 * 86_400 * NS;

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Unauthenticated), Just(Mode::Authenticated)]
}

/// A TLV area made of well-framed TLVs of any type (known types often
/// get the right value length, sometimes not).
fn tlv_area() -> impl Strategy<Value = Vec<u8>> {
    let value_len = prop_oneof![Just(4usize), Just(12), Just(16), Just(20), 0usize..48];
    let one = (any::<u8>(), 0u8..13, value_len).prop_flat_map(|(flags, t, len)| {
        proptest::collection::vec(any::<u8>(), len).prop_map(move |v| {
            let mut b = vec![flags, t];
            b.extend_from_slice(&(v.len() as u16).to_be_bytes());
            b.extend_from_slice(&v);
            b
        })
    });
    proptest::collection::vec(one, 0..5).prop_map(|v| v.concat())
}

fn touch_sender(p: &SenderPacket<&[u8]>) {
    let _ = (
        p.sequence(),
        p.timestamp_bits(),
        p.error_estimate(),
        p.ssid(),
    );
    let _ = (p.hmac(), p.mbz_is_zero(), p.tlv_bytes().len());
    for t in p.tlvs().flatten() {
        let _ = (t.flags(), t.tlv_type(), t.value(), tlv::is_well_formed(&t));
        let _ = TlvRepr::parse(&t);
    }
}

fn touch_reflector(p: &ReflectorPacket<&[u8]>) {
    let _ = (
        p.sequence(),
        p.timestamp_bits(),
        p.error_estimate(),
        p.ssid(),
    );
    let _ = (p.receive_timestamp_bits(), p.sender_sequence());
    let _ = (
        p.sender_timestamp_bits(),
        p.sender_error_estimate(),
        p.sender_ttl(),
    );
    let _ = (p.hmac(), p.mbz_is_zero());
    for t in p.tlvs().flatten() {
        let _ = TlvRepr::parse(&t);
    }
}

proptest! {
    #[test]
    fn views_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), m in mode()) {
        if let Ok(p) = SenderPacket::new_checked(&bytes[..], m) {
            touch_sender(&p);
            let _ = SenderRepr::parse(&p);
        }
        if let Ok(p) = ReflectorPacket::new_checked(&bytes[..], m) {
            touch_reflector(&p);
            let _ = ReflectorRepr::parse(&p);
        }
        let _ = SenderRepr::parse(&SenderPacket::new_unchecked(&bytes[..], m));
        let _ = ReflectorRepr::parse(&ReflectorPacket::new_unchecked(&bytes[..], m));
    }

    #[test]
    fn tlv_iter_terminates(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut n = 0;
        let mut errors = 0;
        for item in TlvIter::new(&bytes) {
            n += 1;
            match item {
                Ok(t) => {
                    prop_assert!(t.total_len() >= 4);
                    let _ = tlv::is_well_formed(&t);
                    let _ = TlvRepr::parse(&t);
                }
                Err(_) => errors += 1,
            }
        }
        prop_assert!(n <= bytes.len() / 4 + 1);
        prop_assert!(errors <= 1);
        let _ = Tlv::new_checked(&bytes[..]).map(|t| TlvRepr::parse(&t));
    }

    #[test]
    fn well_formed_iff_parses(area in tlv_area()) {
        for t in TlvIter::new(&area) {
            let t = t.unwrap();
            prop_assert_eq!(tlv::is_well_formed(&t), TlvRepr::parse(&t).is_ok());
        }
    }

    #[test]
    fn sender_repr_round_trip(
        head in proptest::collection::vec(any::<u8>(), 112),
        area in tlv_area(),
        m in mode(),
    ) {
        let base = stamp::packet::base_len(stamp::packet::Role::Sender, m);
        let mut bytes = head[..base].to_vec();
        bytes.extend_from_slice(&area);
        let p = SenderPacket::new_checked(&bytes[..], m).unwrap();
        if let Ok(repr) = SenderRepr::parse(&p) {
            let mut out = vec![0xa5u8; repr.buffer_len()];
            repr.emit(&mut SenderPacket::new_unchecked(&mut out[..], m));
            let again = SenderRepr::parse(&SenderPacket::new_checked(&out[..], m).unwrap()).unwrap();
            prop_assert_eq!(&again, &repr);
            prop_assert!(SenderPacket::new_unchecked(&out[..], m).mbz_is_zero());
            // Fields survive byte for byte.
            prop_assert_eq!(&out[..4], &bytes[..4]);
            prop_assert_eq!(out.len(), bytes.len());
        }
    }

    #[test]
    fn reflector_repr_round_trip(
        head in proptest::collection::vec(any::<u8>(), 112),
        area in tlv_area(),
        m in mode(),
    ) {
        let base = stamp::packet::base_len(stamp::packet::Role::Reflector, m);
        let mut bytes = head[..base].to_vec();
        bytes.extend_from_slice(&area);
        let p = ReflectorPacket::new_checked(&bytes[..], m).unwrap();
        if let Ok(repr) = ReflectorRepr::parse(&p) {
            let mut out = vec![0x5au8; repr.buffer_len()];
            repr.emit(&mut ReflectorPacket::new_unchecked(&mut out[..], m));
            let again = ReflectorRepr::parse(&ReflectorPacket::new_checked(&out[..], m).unwrap()).unwrap();
            prop_assert_eq!(&again, &repr);
            prop_assert_eq!(out.len(), bytes.len());
        }
    }

    #[test]
    fn ntp_unix_round_trip_exact(n in -SPAN..SPAN, d in -PIVOT_SPAN..PIVOT_SPAN) {
        let now = 1_704_067_200 * NS;
        let t = now + n;
        prop_assert_eq!(NtpTimestamp::from_unix_nanos(t).to_unix_nanos(t + d), t);
    }

    #[test]
    fn ntp_bits_round_trip_within_two_units(bits in any::<u64>()) {
        // to_unix_nanos is within 0.5 ns of the exact value; encoding again
        // is within 2^-33 s: at most 2 units of 2^-32 s in all.
        let t = NtpTimestamp::from_bits(bits);
        let pivot = 1_704_067_200 * NS;
        let back = NtpTimestamp::from_unix_nanos(t.to_unix_nanos(pivot)).to_bits();
        let diff = back.wrapping_sub(bits) as i64;
        prop_assert!(diff.abs() <= 2, "bits {bits:#x} back {back:#x}");
    }

    #[test]
    fn ptp_round_trips(n in -SPAN..SPAN, d in -PIVOT_SPAN..PIVOT_SPAN, s in any::<u32>(), ns in 0u32..1_000_000_000) {
        let now = 1_704_067_200 * NS;
        let t = now + n;
        prop_assert_eq!(PtpTimestamp::from_unix_nanos(t).to_unix_nanos(t + d), t);
        let p = PtpTimestamp { seconds: s, nanoseconds: ns };
        prop_assert_eq!(PtpTimestamp::from_unix_nanos(p.to_unix_nanos(now)), p);
        prop_assert_eq!(PtpTimestamp::from_bits(p.to_bits()), p);
    }

    #[test]
    fn error_estimate_round_trip(bits in any::<u16>()) {
        prop_assert_eq!(ErrorEstimate::from_bits(bits).to_bits(), bits);
    }

    /// Location sub-TLV filling (RFC 8972 §4.2) on any bytes: no panic,
    /// the length never changes, and a source-address request with a
    /// valid Length always holds the sender's address afterwards.
    #[test]
    fn location_sub_tlvs_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..120),
        v4 in any::<bool>(),
    ) {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let (src, dst) = if v4 {
            (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)))
        } else {
            (IpAddr::V6(Ipv6Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::UNSPECIFIED))
        };
        let rx = stamp::reflector::Received {
            src, dst, src_port: 1, dst_port: 862, ttl: 64, traffic_class: 0, t2_ns: 0,
        };
        let mut area = bytes.clone();
        stamp::reflector::fill_location_sub_tlvs(&mut area, &rx);
        prop_assert_eq!(area.len(), bytes.len());
        let mut req = vec![0, tlv::SUB_LOC_SOURCE_IP, 0, 16];
        req.extend_from_slice(&[0xff; 16]);
        req.extend_from_slice(&bytes);
        stamp::reflector::fill_location_sub_tlvs(&mut req, &rx);
        let expected: Vec<u8> = match src {
            IpAddr::V4(a) => { let mut v = a.octets().to_vec(); v.resize(16, 0); v }
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        prop_assert_eq!(&req[4..20], &expected[..]);
    }
}
