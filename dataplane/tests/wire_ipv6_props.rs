//! Property tests for the IPv6, extension-header and SRH wire formats:
//! arbitrary bytes never make a parser panic, generated headers survive
//! emit -> parse -> emit unchanged, and the chain walker agrees with an
//! independent model of the chain it is given.

use std::net::Ipv6Addr;

use dataplane::wire::ipv6::{Ipv6Packet, Ipv6Repr, HEADER_LEN};
use dataplane::wire::ipv6ext::{
    walk, ExtChain, FragmentHeader, FragmentRepr, Ipv6OptionRepr, Ipv6OptionsHeader,
    Ipv6OptionsRepr, RoutingHeader, MAX_EXT_HEADERS,
};
use dataplane::wire::srh::{Srh, SrhRepr, SrhTlv, SrhTlvRepr};
use dataplane::wire::{Error, IpProtocol};
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn addr() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

// ---------------------------------------------------------------------------
// Arbitrary bytes never panic
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn ipv6_random_bytes(buf in bytes(120)) {
        if let Ok(p) = Ipv6Packet::new_checked(&buf[..]) {
            prop_assert_eq!(p.version(), 6);
            prop_assert_eq!(p.payload().len(), usize::from(p.payload_len()));
            prop_assert!(p.flow_label() < 1 << 20);
            let _ = (p.traffic_class(), p.next_header(), p.hop_limit());
            let _ = (p.src_addr(), p.dst_addr(), p.src_bytes(), p.dst_bytes());
            let repr = Ipv6Repr::parse(&p).unwrap();
            prop_assert_eq!(repr.payload_len, p.payload_len());
        } else {
            prop_assert!(Ipv6Repr::parse(&Ipv6Packet::new_unchecked(&buf[..])).is_err());
        }
    }

    #[test]
    fn options_random_bytes(buf in bytes(80)) {
        let h = Ipv6OptionsHeader::new_unchecked(&buf[..]);
        if h.check_len().is_ok() {
            let _ = (h.next_header(), h.hdr_ext_len(), h.options_bytes());
            // Each item consumes at least one octet of the options area.
            prop_assert!(h.options().count() <= h.header_len() - 2);
            let all_ok = h.options().all(|o| o.is_ok());
            prop_assert_eq!(h.check_options().is_ok(), all_ok);
            prop_assert_eq!(Ipv6OptionsRepr::parse(&h).is_ok(), all_ok);
        }
        let _ = Ipv6OptionsHeader::new_checked(&buf[..]);
    }

    #[test]
    fn fragment_and_routing_random_bytes(buf in bytes(40)) {
        if let Ok(f) = FragmentHeader::new_checked(&buf[..]) {
            prop_assert!(f.frag_offset() < 1 << 13);
            let _ = (f.next_header(), f.more_frags(), f.ident());
            prop_assert!(FragmentRepr::parse(&f).is_ok());
        }
        if let Ok(r) = RoutingHeader::new_checked(&buf[..]) {
            let _ = (r.next_header(), r.routing_type(), r.segments_left());
            prop_assert_eq!(r.data().len(), r.header_len() - 4);
        }
    }

    #[test]
    fn srh_random_bytes(mut buf in bytes(200), force_type in any::<bool>()) {
        if force_type && buf.len() > 2 {
            buf[2] = 4; // make the interesting paths reachable
        }
        let s = Srh::new_unchecked(&buf[..]);
        if s.check_len().is_ok() {
            for i in 0..=usize::from(s.last_entry()) {
                let _ = s.segment(i);
            }
            let _ = (s.flags(), s.tag(), s.next_header(), s.segments_left());
            prop_assert!(s.tlvs().count() <= s.tlv_bytes().len());
            let tlvs_ok = s.tlvs().all(|t| t.is_ok());
            prop_assert_eq!(Srh::new_checked(&buf[..]).is_ok(), tlvs_ok);
            prop_assert_eq!(SrhRepr::parse(&s).is_ok(), tlvs_ok);
        } else {
            prop_assert!(Srh::new_checked(&buf[..]).is_err());
            prop_assert!(SrhRepr::parse(&s).is_err());
        }
    }

    #[test]
    fn walk_random_bytes(first in any::<u8>(), buf in bytes(200)) {
        if let Ok(chain) = walk(IpProtocol(first), &buf) {
            prop_assert!(chain.upper_offset <= buf.len());
            prop_assert!(usize::from(chain.count) <= MAX_EXT_HEADERS);
            if let Some(off) = chain.srh {
                prop_assert_eq!(buf[off + 2], 4);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Round trips of generated headers
// ---------------------------------------------------------------------------

fn ipv6_repr() -> impl Strategy<Value = Ipv6Repr> {
    (
        addr(),
        addr(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        0u32..1 << 20,
        0u16..64,
    )
        .prop_map(
            |(src, dst, nh, hop_limit, traffic_class, flow_label, payload_len)| Ipv6Repr {
                src,
                dst,
                next_header: IpProtocol(nh),
                hop_limit,
                traffic_class,
                flow_label,
                payload_len,
            },
        )
}

/// Pads an option/TLV list whose wire length is `len` to a multiple of 8
/// with one Pad1 or one PadN, built from the RFC definitions.
fn padding(len: usize) -> Option<u8> {
    match (8 - len % 8) % 8 {
        0 => None,
        n => Some(n as u8),
    }
}

fn option_repr() -> impl Strategy<Value = Ipv6OptionRepr> {
    prop_oneof![
        Just(Ipv6OptionRepr::Pad1),
        (0u8..=5).prop_map(Ipv6OptionRepr::PadN),
        (2u8.., bytes(24)).prop_map(|(opt_type, data)| Ipv6OptionRepr::Other { opt_type, data }),
    ]
}

fn option_wire_len(o: &Ipv6OptionRepr) -> usize {
    match o {
        Ipv6OptionRepr::Pad1 => 1,
        Ipv6OptionRepr::PadN(n) => 2 + usize::from(*n),
        Ipv6OptionRepr::Other { data, .. } => 2 + data.len(),
    }
}

fn aligned_options_repr() -> impl Strategy<Value = Ipv6OptionsRepr> {
    (any::<u8>(), proptest::collection::vec(option_repr(), 0..8)).prop_map(|(nh, mut options)| {
        let len = 2 + options.iter().map(option_wire_len).sum::<usize>();
        match padding(len) {
            Some(1) => options.push(Ipv6OptionRepr::Pad1),
            Some(n) => options.push(Ipv6OptionRepr::PadN(n - 2)),
            None => {}
        }
        Ipv6OptionsRepr {
            next_header: IpProtocol(nh),
            options,
        }
    })
}

fn tlv_repr() -> impl Strategy<Value = SrhTlvRepr> {
    prop_oneof![
        Just(SrhTlvRepr::Pad1),
        (0u8..=5).prop_map(SrhTlvRepr::PadN),
        (any::<bool>(), any::<u32>(), 0usize..=4, any::<u8>()).prop_map(
            |(d_flag, key_id, n, b)| {
                SrhTlvRepr::Hmac {
                    d_flag,
                    key_id,
                    hmac: vec![b; 8 * n],
                }
            }
        ),
        (
            any::<u8>().prop_filter("not Pad1/PadN/HMAC", |t| ![0, 4, 5].contains(t)),
            bytes(24)
        )
            .prop_map(|(tlv_type, data)| SrhTlvRepr::Other { tlv_type, data }),
    ]
}

fn tlv_wire_len(t: &SrhTlvRepr) -> usize {
    match t {
        SrhTlvRepr::Pad1 => 1,
        SrhTlvRepr::PadN(n) => 2 + usize::from(*n),
        SrhTlvRepr::Hmac { hmac, .. } => 8 + hmac.len(),
        SrhTlvRepr::Other { data, .. } => 2 + data.len(),
    }
}

fn srh_repr() -> impl Strategy<Value = SrhRepr> {
    (
        proptest::collection::vec(addr(), 1..=16),
        any::<u8>(),
        any::<u8>(),
        any::<u16>(),
        any::<u8>(),
        proptest::collection::vec(tlv_repr(), 0..5),
    )
        .prop_map(|(segments, nh, flags, tag, sl, mut tlvs)| {
            let n = segments.len();
            let len = tlvs.iter().map(tlv_wire_len).sum::<usize>();
            match padding(len) {
                Some(1) => tlvs.push(SrhTlvRepr::Pad1),
                Some(p) => tlvs.push(SrhTlvRepr::PadN(p - 2)),
                None => {}
            }
            SrhRepr {
                next_header: IpProtocol(nh),
                // 0..=n: n is a reduced SRH.
                segments_left: sl % (n as u8 + 1),
                last_entry: (n - 1) as u8,
                flags,
                tag,
                segments,
                tlvs,
            }
        })
}

proptest! {
    #[test]
    fn ipv6_round_trip(repr in ipv6_repr()) {
        let mut buf = vec![0u8; HEADER_LEN + usize::from(repr.payload_len)];
        repr.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
        // Independent check of the first word against RFC 8200 §3.
        let word = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        prop_assert_eq!(word, 6 << 28 | u32::from(repr.traffic_class) << 20 | repr.flow_label);
        prop_assert_eq!(&buf[24..40], &repr.dst.octets()[..]);
        let parsed = Ipv6Repr::parse(&Ipv6Packet::new_checked(&buf[..]).unwrap()).unwrap();
        prop_assert_eq!(parsed, repr);
        let mut again = vec![0u8; buf.len()];
        parsed.emit(&mut Ipv6Packet::new_unchecked(&mut again[..]));
        prop_assert_eq!(again, buf);
    }

    #[test]
    fn fragment_round_trip(nh in any::<u8>(), off in 0u16..1 << 13, m in any::<bool>(), id in any::<u32>()) {
        let repr = FragmentRepr { next_header: IpProtocol(nh), frag_offset: off, more_frags: m, ident: id };
        let mut buf = [0xffu8; 8];
        repr.emit(&mut FragmentHeader::new_unchecked(&mut buf[..]));
        prop_assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), off << 3 | u16::from(m));
        prop_assert_eq!(buf[1], 0);
        prop_assert_eq!(FragmentRepr::parse(&FragmentHeader::new_checked(&buf[..]).unwrap()).unwrap(), repr);
    }

    #[test]
    fn options_round_trip(repr in aligned_options_repr()) {
        let expected_len = 2 + repr.options.iter().map(option_wire_len).sum::<usize>();
        prop_assert_eq!(expected_len % 8, 0);
        prop_assert_eq!(repr.buffer_len(), expected_len);
        let mut buf = vec![0xa5u8; expected_len];
        repr.emit(&mut Ipv6OptionsHeader::new_unchecked(&mut buf[..]));
        prop_assert_eq!(usize::from(buf[1]), expected_len / 8 - 1);
        let h = Ipv6OptionsHeader::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(h.options().count(), repr.options.len());
        let parsed = Ipv6OptionsRepr::parse(&h).unwrap();
        prop_assert_eq!(&parsed, &repr);
        let mut again = vec![0u8; expected_len];
        parsed.emit(&mut Ipv6OptionsHeader::new_unchecked(&mut again[..]));
        prop_assert_eq!(again, buf);
    }

    #[test]
    fn options_unaligned_are_padded(nh in any::<u8>(), options in proptest::collection::vec(option_repr(), 0..8)) {
        let repr = Ipv6OptionsRepr { next_header: IpProtocol(nh), options };
        let len = repr.buffer_len();
        prop_assert_eq!(len % 8, 0);
        let mut buf = vec![0u8; len];
        repr.emit(&mut Ipv6OptionsHeader::new_unchecked(&mut buf[..]));
        let parsed = Ipv6OptionsRepr::parse(&Ipv6OptionsHeader::new_checked(&buf[..]).unwrap()).unwrap();
        // The original options come back first, padding (if any) after.
        prop_assert_eq!(&parsed.options[..repr.options.len()], &repr.options[..]);
        prop_assert!(parsed.options.len() - repr.options.len() <= 1);
    }

    #[test]
    fn srh_round_trip(repr in srh_repr()) {
        let n = repr.segments.len();
        let tlv_len = repr.tlvs.iter().map(tlv_wire_len).sum::<usize>();
        let expected_len = 8 + 16 * n + tlv_len;
        prop_assert_eq!(expected_len % 8, 0);
        prop_assert_eq!(repr.buffer_len(), expected_len);
        if repr.tlvs.is_empty() {
            prop_assert_eq!(SrhRepr::buffer_len_for(n), expected_len);
        }
        let mut buf = vec![0x5au8; expected_len];
        repr.emit(&mut Srh::new_unchecked(&mut buf[..]));
        // Fixed part against RFC 8754 §2, octet by octet.
        prop_assert_eq!(buf[0], repr.next_header.0);
        prop_assert_eq!(usize::from(buf[1]), expected_len / 8 - 1);
        prop_assert_eq!(buf[2], 4);
        prop_assert_eq!(buf[3], repr.segments_left);
        prop_assert_eq!(usize::from(buf[4]), n - 1);
        prop_assert_eq!(buf[5], repr.flags);
        prop_assert_eq!(u16::from_be_bytes([buf[6], buf[7]]), repr.tag);
        for (i, seg) in repr.segments.iter().enumerate() {
            prop_assert_eq!(&buf[8 + 16 * i..24 + 16 * i], &seg.octets()[..]);
        }

        let view = Srh::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(view.header_len(), expected_len);
        for (i, seg) in repr.segments.iter().enumerate() {
            prop_assert_eq!(view.segment(i), *seg);
        }
        for (tlv, want) in view.tlvs().zip(&repr.tlvs) {
            if let (SrhTlv::Hmac { key_id, hmac, .. }, SrhTlvRepr::Hmac { key_id: k, hmac: h, .. }) = (tlv.unwrap(), want) {
                prop_assert_eq!(key_id, *k);
                prop_assert_eq!(hmac, &h[..]);
            }
        }
        let parsed = SrhRepr::parse(&view).unwrap();
        prop_assert_eq!(&parsed, &repr);
        let mut again = vec![0u8; expected_len];
        parsed.emit(&mut Srh::new_unchecked(&mut again[..]));
        prop_assert_eq!(again, buf);
    }

    #[test]
    fn srh_mutations_never_panic(repr in srh_repr(), at in any::<usize>(), value in any::<u8>(), cut in any::<usize>()) {
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Srh::new_unchecked(&mut buf[..]));
        let i = at % buf.len();
        buf[i] = value;
        buf.truncate(cut % (buf.len() + 1));
        if let Ok(s) = Srh::new_checked(&buf[..]) {
            prop_assert!(usize::from(s.segments_left()) <= usize::from(s.last_entry()) + 1);
            prop_assert!(16 * (usize::from(s.last_entry()) + 1) <= 8 * usize::from(s.hdr_ext_len()));
            prop_assert!(s.header_len() <= buf.len());
            for j in 0..=usize::from(s.last_entry()) {
                let _ = s.segment_bytes(j);
            }
            prop_assert!(s.tlvs().all(|t| t.is_ok()));
        }
    }
}

// ---------------------------------------------------------------------------
// The chain walker against a model
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Hdr {
    HopByHop(u8),
    DestOpts(u8),
    Routing { hdr_ext_len: u8, routing_type: u8 },
    Fragment { offset: u16 },
}

impl Hdr {
    fn proto(&self) -> u8 {
        match self {
            Hdr::HopByHop(_) => 0,
            Hdr::DestOpts(_) => 60,
            Hdr::Routing { .. } => 43,
            Hdr::Fragment { .. } => 44,
        }
    }

    fn len(&self) -> usize {
        match self {
            Hdr::HopByHop(l) | Hdr::DestOpts(l) => (usize::from(*l) + 1) * 8,
            Hdr::Routing { hdr_ext_len, .. } => (usize::from(*hdr_ext_len) + 1) * 8,
            Hdr::Fragment { .. } => 8,
        }
    }

    fn bytes(&self, next: u8) -> Vec<u8> {
        let mut v = vec![0u8; self.len()];
        v[0] = next;
        match self {
            Hdr::HopByHop(l) | Hdr::DestOpts(l) => v[1] = *l,
            Hdr::Routing {
                hdr_ext_len,
                routing_type,
            } => {
                v[1] = *hdr_ext_len;
                v[2] = *routing_type;
            }
            Hdr::Fragment { offset } => v[2..4].copy_from_slice(&(offset << 3).to_be_bytes()),
        }
        v
    }
}

fn hdr() -> impl Strategy<Value = Hdr> {
    prop_oneof![
        (0u8..4).prop_map(Hdr::HopByHop),
        (0u8..4).prop_map(Hdr::DestOpts),
        (0u8..6, prop::sample::select(vec![0u8, 2, 3, 4, 4])).prop_map(
            |(hdr_ext_len, routing_type)| Hdr::Routing {
                hdr_ext_len,
                routing_type
            }
        ),
        prop::sample::select(vec![0u16, 0, 0, 1, 5, 0x1fff])
            .prop_map(|offset| Hdr::Fragment { offset }),
    ]
}

/// What `walk` should return for `hdrs` followed by UDP, with the payload
/// cut to `cut` octets: worked out header by header from RFC 8200.
fn model(hdrs: &[Hdr], cut: usize) -> Result<ExtChain, Error> {
    let mut chain = ExtChain {
        upper_protocol: IpProtocol::UDP,
        upper_offset: 0,
        upper_next_header_offset: None,
        srh: None,
        routing: None,
        has_fragment: false,
        non_first_fragment: false,
        count: 0,
    };
    let mut start = 0;
    for (i, h) in hdrs.iter().enumerate() {
        if i == 8 {
            return Err(Error::ExtHeaderChainTooLong);
        }
        if matches!(h, Hdr::HopByHop(_)) && i != 0 {
            return Err(Error::Malformed);
        }
        if cut < start + h.len() {
            return Err(Error::ExtHeaderTruncated);
        }
        chain.count += 1;
        chain.upper_next_header_offset = Some(start);
        match h {
            Hdr::Routing { routing_type, .. } => {
                chain.routing = chain.routing.or(Some(start));
                if *routing_type == 4 {
                    chain.srh = chain.srh.or(Some(start));
                }
            }
            Hdr::Fragment { offset } => {
                chain.has_fragment = true;
                if *offset != 0 {
                    chain.non_first_fragment = true;
                    chain.upper_protocol = IpProtocol(hdrs.get(i + 1).map_or(17, Hdr::proto));
                    chain.upper_offset = start + 8;
                    return Ok(chain);
                }
            }
            _ => {}
        }
        start += h.len();
    }
    chain.upper_offset = start;
    Ok(chain)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn walk_matches_model(hdrs in proptest::collection::vec(hdr(), 0..=10), cut in any::<usize>()) {
        let mut payload = Vec::new();
        for (i, h) in hdrs.iter().enumerate() {
            let next = hdrs.get(i + 1).map_or(17, Hdr::proto);
            payload.extend_from_slice(&h.bytes(next));
        }
        payload.extend_from_slice(&[0u8; 8]); // the UDP header
        let cut = cut % (payload.len() + 1);
        let first = hdrs.first().map_or(IpProtocol::UDP, |h| IpProtocol(h.proto()));
        prop_assert_eq!(walk(first, &payload[..cut]), model(&hdrs, cut));
    }
}
