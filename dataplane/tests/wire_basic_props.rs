//! Property tests for the basic wire formats: checksum, Ethernet, IPv4, UDP
//! and ICMPv6.
//!
//! Three kinds of property: arbitrary bytes never make a view or a Repr
//! panic; a valid header survives parse → emit byte for byte (and a generated
//! Repr survives emit → parse); and the fast and incremental checksums agree
//! with a plain reference implementation of RFC 1071.

use std::net::{Ipv4Addr, Ipv6Addr};

use dataplane::wire::checksum;
use dataplane::wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
use dataplane::wire::icmpv6::{Icmpv6Message, Icmpv6Packet, Icmpv6Repr};
use dataplane::wire::ipv4::{Ipv4Options, Ipv4Packet, Ipv4Repr};
use dataplane::wire::udp::{UdpPacket, UdpRepr};
use dataplane::wire::{Error, IpProtocol};
use proptest::collection::vec;
use proptest::prelude::*;

/// RFC 1071 the slow way: 16-bit big-endian words (odd tail padded with a
/// zero octet) added in a u32 with the carries folded in at the end.
fn reference_sum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        let word = u32::from(pair[0]) << 8 | u32::from(*pair.get(1).unwrap_or(&0));
        sum += word;
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

fn word_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

/// Arbitrary bytes, or bytes biased toward getting past the first checks
/// (an IPv4 version nibble, a small length field), so that the deeper paths
/// are fuzzed too.
fn fuzz_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..96),
        (vec(any::<u8>(), 0..96), 0x40u8..=0x4f, 0u8..96, 0u8..96).prop_map(
            |(mut b, v, l1, l2)| {
                if !b.is_empty() {
                    b[0] = v;
                }
                if b.len() > 5 {
                    b[2] = 0;
                    b[3] = l1;
                    b[4] = 0;
                    b[5] = l2;
                }
                b
            }
        ),
    ]
}

/// A valid IPv4 packet built from raw material: any header bytes, forced to
/// version 4, the given IHL, a consistent Total Length, a clear reserved
/// flag and a correct checksum.
fn valid_ipv4() -> impl Strategy<Value = Vec<u8>> {
    (vec(any::<u8>(), 60), 5u8..=15, vec(any::<u8>(), 0..64)).prop_map(|(header, ihl, payload)| {
        let header_len = usize::from(ihl) * 4;
        let mut bytes = header[..header_len].to_vec();
        bytes.extend_from_slice(&payload);
        bytes[0] = 0x40 | ihl;
        let total = bytes.len() as u16;
        bytes[2..4].copy_from_slice(&total.to_be_bytes());
        bytes[6] &= 0x7f;
        bytes[10] = 0;
        bytes[11] = 0;
        let cksum = !reference_sum(&bytes[..header_len]);
        bytes[10..12].copy_from_slice(&cksum.to_be_bytes());
        bytes
    })
}

fn ipv4_repr() -> impl Strategy<Value = Ipv4Repr> {
    (
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
        ),
        (any::<u16>(), any::<bool>(), any::<bool>(), 0u16..=0x1fff),
        (0usize..=10).prop_flat_map(|words| vec(any::<u8>(), words * 4)),
        0usize..1500,
    )
        .prop_map(
            |((src, dst, protocol, ttl, tos), (ident, df, mf, frag), options, payload_len)| {
                Ipv4Repr {
                    src_addr: Ipv4Addr::from(src),
                    dst_addr: Ipv4Addr::from(dst),
                    protocol: IpProtocol(protocol),
                    ttl,
                    tos,
                    ident,
                    dont_frag: df,
                    more_frags: mf,
                    frag_offset: frag * 8,
                    options: Ipv4Options::new(&options).unwrap(),
                    payload_len,
                }
            },
        )
}

fn icmpv6_repr() -> impl Strategy<Value = Icmpv6Repr> {
    let len = 0usize..64;
    prop_oneof![
        (any::<u16>(), any::<u16>(), len.clone()).prop_map(|(ident, seq_no, data_len)| {
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data_len,
            }
        }),
        (any::<u16>(), any::<u16>(), len.clone()).prop_map(|(ident, seq_no, data_len)| {
            Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data_len,
            }
        }),
        (any::<u8>(), len.clone())
            .prop_map(|(code, payload_len)| Icmpv6Repr::DstUnreachable { code, payload_len }),
        (any::<u32>(), len.clone())
            .prop_map(|(mtu, payload_len)| Icmpv6Repr::PktTooBig { mtu, payload_len }),
        (any::<u8>(), len.clone())
            .prop_map(|(code, payload_len)| Icmpv6Repr::TimeExceeded { code, payload_len }),
        (any::<u8>(), any::<u32>(), len.clone()).prop_map(|(code, pointer, payload_len)| {
            Icmpv6Repr::ParamProblem {
                code,
                pointer,
                payload_len,
            }
        }),
        // Types with no dedicated variant (NDP, unassigned, ...).
        (
            prop_oneof![5u8..128, 130u8..=255],
            any::<u8>(),
            any::<u32>(),
            len
        )
            .prop_map(|(msg_type, code, rest, payload_len)| Icmpv6Repr::Other {
                msg_type: Icmpv6Message(msg_type),
                code,
                rest,
                payload_len,
            }),
    ]
}

proptest! {
    // ---------------------------------------------------------------- checksum

    #[test]
    fn checksum_matches_reference(bytes in vec(any::<u8>(), 0..600), skip in 0usize..8) {
        // Sub-slices at every alignment.
        let bytes = &bytes[skip.min(bytes.len())..];
        prop_assert_eq!(checksum::data(bytes), reference_sum(bytes));
    }

    #[test]
    fn checksum_carry_heavy_inputs(bytes in vec(prop_oneof![Just(0xffu8), Just(0xfe), any::<u8>()], 0..2000)) {
        prop_assert_eq!(checksum::data(&bytes), reference_sum(&bytes));
    }

    #[test]
    fn checksum_combine_is_sum_of_parts(bytes in vec(any::<u8>(), 0..300), cut in 0usize..150) {
        // Splitting at an even offset must not change the sum.
        let cut = (cut * 2).min(bytes.len() & !1);
        let (a, b) = bytes.split_at(cut);
        prop_assert_eq!(checksum::combine(&[checksum::data(a), checksum::data(b)]), reference_sum(&bytes));
    }

    #[test]
    fn pseudo_headers_match_reference(src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(), proto in any::<u8>(), len in any::<u32>()) {
        let mut v6 = Vec::new();
        v6.extend_from_slice(&src);
        v6.extend_from_slice(&dst);
        v6.extend_from_slice(&len.to_be_bytes());
        v6.extend_from_slice(&[0, 0, 0, proto]);
        prop_assert_eq!(
            checksum::pseudo_header_v6(Ipv6Addr::from(src), Ipv6Addr::from(dst), IpProtocol(proto), len),
            reference_sum(&v6)
        );
        let len16 = len as u16;
        let mut v4 = Vec::new();
        v4.extend_from_slice(&src[..4]);
        v4.extend_from_slice(&dst[..4]);
        v4.extend_from_slice(&[0, proto]);
        v4.extend_from_slice(&len16.to_be_bytes());
        let s4 = Ipv4Addr::new(src[0], src[1], src[2], src[3]);
        let d4 = Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3]);
        prop_assert_eq!(checksum::pseudo_header_v4(s4, d4, IpProtocol(proto), len16), reference_sum(&v4));
    }

    /// RFC 1624: patching one 16-bit word with equation 3 gives the same
    /// checksum field as recomputing from scratch. `mode` steers into the
    /// corner cases of RFC 1624 §3: 0 = random new word, 1 = new word chosen
    /// so the new checksum is 0x0000, 2 = old word chosen so the *old*
    /// checksum is 0x0000, 3 = no change.
    #[test]
    fn incremental_update_matches_recompute(
        words in vec(any::<u16>(), 2..64),
        cksum_at in any::<prop::sample::Index>(),
        edit_at in any::<prop::sample::Index>(),
        new_word in any::<u16>(),
        mode in 0u8..4,
    ) {
        let n = words.len();
        let c = cksum_at.index(n);
        let e = (c + 1 + edit_at.index(n - 1)) % n; // any word but the checksum
        let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        bytes[2 * c] = 0;
        bytes[2 * c + 1] = 0;

        // Sum of everything but the checksum field and the edited word.
        let mut others = bytes.clone();
        others[2 * e] = 0;
        others[2 * e + 1] = 0;
        let rest = reference_sum(&others);
        if mode == 2 {
            bytes[2 * e..2 * e + 2].copy_from_slice(&(!rest).to_be_bytes());
        }
        let old_word = word_at(&bytes, 2 * e);
        let new_word = match mode {
            1 => !rest,
            3 => old_word,
            _ => new_word,
        };

        let old_cksum = !reference_sum(&bytes);
        if mode == 2 {
            prop_assert_eq!(old_cksum, 0);
        }
        bytes[2 * e..2 * e + 2].copy_from_slice(&new_word.to_be_bytes());
        // RFC 1624 cannot tell +0 from -0 when every covered word ends up zero.
        prop_assume!(bytes.iter().any(|&b| b != 0));
        let recomputed = !reference_sum(&bytes);
        if mode == 1 {
            prop_assert_eq!(recomputed, 0);
        }

        let patched = checksum::update(old_cksum, old_word, new_word);
        prop_assert_eq!(patched, recomputed);
        prop_assert_eq!(checksum::update_bytes(old_cksum, &old_word.to_be_bytes(), &new_word.to_be_bytes()), recomputed);
        // The patched field verifies.
        bytes[2 * c..2 * c + 2].copy_from_slice(&patched.to_be_bytes());
        prop_assert_eq!(reference_sum(&bytes), 0xffff);
    }

    /// `update_u32` / `update_bytes` for wider aligned edits (an address).
    #[test]
    fn incremental_update_of_a_run(
        mut bytes in vec(any::<u8>(), 24..120),
        at in 0usize..10,
        new in vec(any::<u8>(), 1..17),
    ) {
        // Checksum field at 0..2, edited run at an even offset after it.
        bytes[0] = 0;
        bytes[1] = 0;
        let start = 2 + 2 * at;
        let end = (start + new.len()).min(bytes.len());
        let new = &new[..end - start];
        let old_cksum = !reference_sum(&bytes);
        let old = bytes[start..end].to_vec();
        bytes[start..end].copy_from_slice(new);
        prop_assume!(bytes.iter().any(|&b| b != 0));
        let recomputed = !reference_sum(&bytes);
        prop_assert_eq!(checksum::update_bytes(old_cksum, &old, new), recomputed);
        if new.len() == 4 {
            let o = u32::from_be_bytes([old[0], old[1], old[2], old[3]]);
            let n = u32::from_be_bytes([new[0], new[1], new[2], new[3]]);
            prop_assert_eq!(checksum::update_u32(old_cksum, o, n), recomputed);
        }
    }

    // ------------------------------------------------------------ no panics

    #[test]
    fn arbitrary_bytes_never_panic(bytes in fuzz_bytes()) {
        let v4 = Ipv4Addr::new(10, 0, 0, 1);
        let v6 = Ipv6Addr::LOCALHOST;

        let _ = EthernetRepr::parse(&EthernetFrame::new_unchecked(&bytes[..]));
        if let Ok(f) = EthernetFrame::new_checked(&bytes[..]) {
            let _ = (f.dst_addr(), f.src_addr(), f.ethertype(), f.payload().len());
        }

        let _ = Ipv4Repr::parse(&Ipv4Packet::new_unchecked(&bytes[..]));
        if let Ok(p) = Ipv4Packet::new_checked(&bytes[..]) {
            let _ = (p.version(), p.ihl(), p.header_len(), p.tos(), p.dscp(), p.ecn());
            let _ = (p.total_len(), p.ident(), p.reserved_flag(), p.dont_frag(), p.more_frags());
            let _ = (p.frag_offset(), p.ttl(), p.protocol(), p.checksum(), p.src_addr(), p.dst_addr());
            let _ = (p.options().len(), p.header().len(), p.payload().len(), p.verify_checksum());
            let mut copy = bytes.clone();
            let mut p = Ipv4Packet::new_checked(&mut copy[..]).unwrap();
            let _ = p.decrement_ttl();
            p.fill_checksum();
            let _ = (p.options_mut().len(), p.payload_mut().len());
        }

        let _ = UdpRepr::parse(&UdpPacket::new_unchecked(&bytes[..]));
        if let Ok(u) = UdpPacket::new_checked(&bytes[..]) {
            let _ = (u.src_port(), u.dst_port(), u.len(), u.checksum(), u.payload().len());
            let _ = (u.verify_checksum_v4(v4, v4), u.verify_checksum_v6(v6, v6));
            let mut copy = bytes.clone();
            let mut u = UdpPacket::new_checked(&mut copy[..]).unwrap();
            u.fill_checksum_v4(v4, v4);
            u.fill_checksum_v6(v6, v6);
            let _ = u.payload_mut().len();
        }

        let _ = Icmpv6Repr::parse(&Icmpv6Packet::new_unchecked(&bytes[..]));
        if let Ok(i) = Icmpv6Packet::new_checked(&bytes[..]) {
            let _ = (i.msg_type(), i.code(), i.checksum(), i.rest(), i.echo_ident(), i.echo_seq_no());
            let _ = (i.param_problem_ptr(), i.pkt_too_big_mtu(), i.payload().len(), i.verify_checksum(v6, v6));
        }
    }

    /// Every prefix of a valid packet either parses or fails cleanly, and a
    /// prefix shorter than the fixed header is always `Truncated`.
    #[test]
    fn truncated_valid_ipv4_never_panics(bytes in valid_ipv4(), cut in any::<prop::sample::Index>()) {
        let len = cut.index(bytes.len() + 1);
        let result = Ipv4Packet::new_checked(&bytes[..len]);
        if len < 20 {
            prop_assert_eq!(result.unwrap_err(), Error::Truncated);
        } else if len < bytes.len() {
            prop_assert_eq!(result.unwrap_err(), Error::Ipv4BadTotalLength);
        } else {
            prop_assert!(result.is_ok());
        }
    }

    // ------------------------------------------------------------ round trips

    #[test]
    fn ethernet_bytes_round_trip(bytes in vec(any::<u8>(), 14..40)) {
        let repr = EthernetRepr::parse(&EthernetFrame::new_checked(&bytes[..]).unwrap()).unwrap();
        let mut out = bytes.clone();
        out[..14].fill(0);
        repr.emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
        prop_assert_eq!(out, bytes);
    }

    #[test]
    fn ethernet_repr_round_trip(src in any::<[u8; 6]>(), dst in any::<[u8; 6]>(), ty in any::<u16>()) {
        let repr = EthernetRepr {
            src_addr: EthernetAddress(src),
            dst_addr: EthernetAddress(dst),
            ethertype: EtherType(ty),
        };
        let mut out = [0u8; 14];
        repr.emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
        prop_assert_eq!(&out[..6], &dst);
        prop_assert_eq!(&out[6..12], &src);
        prop_assert_eq!(&out[12..], &ty.to_be_bytes());
        prop_assert_eq!(EthernetRepr::parse(&EthernetFrame::new_checked(&out[..]).unwrap()).unwrap(), repr);
        // Text form round-trips too.
        let text = EthernetAddress(src).to_string();
        prop_assert_eq!(text.parse::<EthernetAddress>().unwrap(), EthernetAddress(src));
    }

    #[test]
    fn ipv4_bytes_round_trip(bytes in valid_ipv4()) {
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        prop_assert!(packet.verify_checksum());
        let repr = Ipv4Repr::parse(&packet).unwrap();
        prop_assert_eq!(repr.buffer_len(), bytes.len());
        let header_len = repr.header_len();
        let mut out = vec![0u8; bytes.len()];
        out[header_len..].copy_from_slice(&bytes[header_len..]);
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut out[..]));
        prop_assert_eq!(out, bytes);
    }

    #[test]
    fn ipv4_repr_round_trip(repr in ipv4_repr()) {
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut out[..]));
        let packet = Ipv4Packet::new_checked(&out[..]).unwrap();
        prop_assert!(packet.verify_checksum());
        prop_assert_eq!(reference_sum(&out[..repr.header_len()]), 0xffff);
        prop_assert_eq!(packet.options(), repr.options.as_slice());
        prop_assert_eq!(Ipv4Repr::parse(&packet).unwrap(), repr);
    }

    /// The forwarding decrement keeps a correct checksum correct and matches
    /// a full recomputation; it refuses TTL 0 and 1 without touching the
    /// packet.
    #[test]
    fn ipv4_decrement_ttl(mut bytes in valid_ipv4()) {
        let ttl = bytes[8];
        let before = bytes.clone();
        let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        let result = packet.decrement_ttl();
        if ttl <= 1 {
            prop_assert_eq!(result, None);
            prop_assert_eq!(bytes, before);
        } else {
            prop_assert_eq!(result, Some(ttl - 1));
            prop_assert!(packet.verify_checksum());
            let header_len = packet.header_len() as usize;
            let mut expected = before.clone();
            expected[8] = ttl - 1;
            expected[10] = 0;
            expected[11] = 0;
            let cksum = !reference_sum(&expected[..header_len]);
            expected[10..12].copy_from_slice(&cksum.to_be_bytes());
            prop_assert_eq!(bytes, expected);
        }
    }

    #[test]
    fn udp_round_trip_and_checksum(
        src_port in any::<u16>(),
        dst_port in any::<u16>(),
        payload in vec(any::<u8>(), 0..100),
        src in any::<[u8; 16]>(),
        dst in any::<[u8; 16]>(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let repr = UdpRepr { src_port, dst_port, payload_len: payload.len() };
        let (s6, d6) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
        let (s4, d4) = (Ipv4Addr::new(src[0], src[1], src[2], src[3]), Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3]));
        for v6 in [false, true] {
            let mut out = vec![0u8; repr.buffer_len()];
            let mut packet = UdpPacket::new_unchecked(&mut out[..]);
            repr.emit(&mut packet);
            packet.payload_mut().copy_from_slice(&payload);
            if v6 { packet.fill_checksum_v6(s6, d6) } else { packet.fill_checksum_v4(s4, d4) }
            prop_assert_ne!(packet.checksum(), 0);

            // Independent check: the sum over pseudo-header and datagram is ffff.
            let mut pseudo = Vec::new();
            if v6 {
                pseudo.extend_from_slice(&src);
                pseudo.extend_from_slice(&dst);
                pseudo.extend_from_slice(&(out.len() as u32).to_be_bytes());
                pseudo.extend_from_slice(&[0, 0, 0, 17]);
            } else {
                pseudo.extend_from_slice(&src[..4]);
                pseudo.extend_from_slice(&dst[..4]);
                pseudo.extend_from_slice(&[0, 17]);
                pseudo.extend_from_slice(&(out.len() as u16).to_be_bytes());
            }
            pseudo.extend_from_slice(&out);
            prop_assert_eq!(reference_sum(&pseudo), 0xffff);

            let packet = UdpPacket::new_checked(&out[..]).unwrap();
            let verifies = if v6 { packet.verify_checksum_v6(s6, d6) } else { packet.verify_checksum_v4(s4, d4) };
            prop_assert!(verifies);
            let parsed = UdpRepr::parse(&packet).unwrap();
            prop_assert_eq!(parsed, repr);
            prop_assert_eq!(packet.payload(), &payload[..]);

            // Parse → emit → fill reproduces the datagram.
            let mut again = out.clone();
            again[..8].fill(0);
            let mut p2 = UdpPacket::new_unchecked(&mut again[..]);
            parsed.emit(&mut p2);
            if v6 { p2.fill_checksum_v6(s6, d6) } else { p2.fill_checksum_v4(s4, d4) }
            prop_assert_eq!(&again, &out);

            // A one-bit error outside the Length and Checksum fields is
            // always detected (it moves the sum by ±2^k, never 0 mod ffff).
            let mut at = flip.index(out.len() - 4);
            if at >= 4 { at += 4; }
            let mut bad = out.clone();
            bad[at] ^= 1 << bit;
            let p = UdpPacket::new_checked(&bad[..]).unwrap();
            let verifies = if v6 { p.verify_checksum_v6(s6, d6) } else { p.verify_checksum_v4(s4, d4) };
            prop_assert!(!verifies, "bit {} of octet {} flipped", bit, at);
        }
    }

    #[test]
    fn udp_bytes_round_trip(mut bytes in vec(any::<u8>(), 8..64)) {
        let len = bytes.len() as u16;
        bytes[4..6].copy_from_slice(&len.to_be_bytes());
        let packet = UdpPacket::new_checked(&bytes[..]).unwrap();
        let repr = UdpRepr::parse(&packet).unwrap();
        let mut out = bytes.clone();
        out[..8].fill(0xaa);
        repr.emit(&mut UdpPacket::new_unchecked(&mut out[..]));
        // Everything but the checksum, which emit leaves zero for fill_checksum_*.
        prop_assert_eq!(&out[..6], &bytes[..6]);
        prop_assert_eq!(&out[6..8], &[0, 0]);
        prop_assert_eq!(&out[8..], &bytes[8..]);
    }

    #[test]
    fn icmpv6_repr_round_trip(repr in icmpv6_repr(), fill in any::<u8>(), src in any::<[u8; 16]>(), dst in any::<[u8; 16]>()) {
        let (s6, d6) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
        let mut out = vec![fill; repr.buffer_len()];
        let mut packet = Icmpv6Packet::new_unchecked(&mut out[..]);
        repr.emit(&mut packet);
        prop_assert!(packet.payload().iter().all(|&b| b == fill), "payload left as is");
        packet.fill_checksum(s6, d6);

        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&src);
        pseudo.extend_from_slice(&dst);
        pseudo.extend_from_slice(&(out.len() as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 58]);
        pseudo.extend_from_slice(&out);
        prop_assert_eq!(reference_sum(&pseudo), 0xffff);

        let packet = Icmpv6Packet::new_checked(&out[..]).unwrap();
        prop_assert!(packet.verify_checksum(s6, d6));
        prop_assert_eq!(packet.msg_type(), repr.msg_type());
        let parsed = Icmpv6Repr::parse(&packet).unwrap();
        prop_assert_eq!(parsed, repr);

        let mut again = out.clone();
        again[..8].fill(0);
        let mut p2 = Icmpv6Packet::new_unchecked(&mut again[..]);
        parsed.emit(&mut p2);
        p2.fill_checksum(s6, d6);
        prop_assert_eq!(again, out);
    }
}
