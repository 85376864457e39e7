//! The router's own UDP datagrams ([`dataplane::behavior::local`]): finding
//! them behind the extension headers, and rewriting them in place into the
//! reply the router originates (plain IPv6, or with an SRH along a return
//! SID list ending at the sender).
//!
//! Inputs are built with the wire `Repr`s; expectations are read back with
//! the wire views and checked against RFC 8754 (segment order, Segments
//! Left) and RFC 8200 §8.1 (checksum over the final destination).

use std::net::Ipv6Addr;

use dataplane::behavior::local::{
    grow_udp_payload, local_udp, originate_udp, originated_header_len, reply_header_len,
    reply_in_place, reply_in_place_to, LocalUdp, MAX_ORIGINATED_SEGMENTS, MAX_RETURN_SEGMENTS,
    REPLY_HOP_LIMIT,
};
use dataplane::behavior::{DropReason, Packet};
use dataplane::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use dataplane::wire::ipv6ext::FragmentHeader;
use dataplane::wire::ipv6ext::FragmentRepr;
use dataplane::wire::srh::{Srh, SrhRepr};
use dataplane::wire::udp::{UdpPacket, UdpRepr};
use dataplane::wire::IpProtocol;

const SENDER: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xa, 0, 0, 0, 0, 0, 1);
const TRANSIT: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xb, 0, 0, 0, 0, 0, 0xe);
const REFLECTOR_SID: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xc, 0, 0, 0, 0, 0, 0x862);
const RETURN_1: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xd, 0, 0, 0, 0, 0, 0xe);
const RETURN_2: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xe, 0, 0, 0, 0, 0, 0xe);
const HEADROOM: usize = 256;

/// A UDP datagram 41000 -> 862 with `data` octets 0..data, checksummed for
/// (SENDER, final_dst).
fn datagram(data: usize, final_dst: Ipv6Addr) -> Vec<u8> {
    let mut v = vec![0u8; 8 + data];
    for (i, b) in v[8..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let mut u = UdpPacket::new_unchecked(&mut v[..]);
    UdpRepr {
        src_port: 41000,
        dst_port: 862,
        payload_len: data,
    }
    .emit(&mut u);
    u.fill_checksum_v6(SENDER, final_dst);
    v
}

/// IPv6 from SENDER to `dst` with the extension headers `exts` (each
/// header's first octet is overwritten with the chain) and the UDP `body`.
fn ipv6(dst: Ipv6Addr, hop_limit: u8, exts: &[(IpProtocol, Vec<u8>)], body: &[u8]) -> Vec<u8> {
    let ext_len: usize = exts.iter().map(|(_, h)| h.len()).sum();
    let first = exts.first().map_or(IpProtocol::UDP, |(p, _)| *p);
    let mut v = vec![0u8; 40];
    Ipv6Repr {
        src: SENDER,
        dst,
        next_header: first,
        hop_limit,
        traffic_class: 0x2e << 2,
        flow_label: 7,
        payload_len: (ext_len + body.len()) as u16,
    }
    .emit(&mut Ipv6Packet::new_unchecked(&mut v[..]));
    for (i, (_, h)) in exts.iter().enumerate() {
        let mut h = h.clone();
        h[0] = exts.get(i + 1).map_or(IpProtocol::UDP, |(p, _)| *p).0;
        v.extend_from_slice(&h);
    }
    v.extend_from_slice(body);
    v
}

fn srh(path: &[Ipv6Addr], segments_left: u8) -> Vec<u8> {
    let mut repr = SrhRepr::from_path(IpProtocol::UDP, path);
    repr.segments_left = segments_left;
    let mut v = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Srh::new_unchecked(&mut v[..]));
    v
}

/// A STAMP-like test packet over SRv6 that has reached its last segment.
fn over_srv6(data: usize) -> Vec<u8> {
    ipv6(
        REFLECTOR_SID,
        61,
        &[(IpProtocol::IPV6_ROUTE, srh(&[TRANSIT, REFLECTOR_SID], 0))],
        &datagram(data, REFLECTOR_SID),
    )
}

fn with_packet<R>(frame: &[u8], f: impl FnOnce(&mut Packet<'_>) -> R) -> (R, Vec<u8>) {
    let mut buf = vec![0u8; HEADROOM + frame.len()];
    buf[HEADROOM..].copy_from_slice(frame);
    let mut pkt = Packet::new(&mut buf, HEADROOM, frame.len()).unwrap();
    let r = f(&mut pkt);
    let out = pkt.data().to_vec();
    (r, out)
}

fn found(frame: &[u8]) -> LocalUdp {
    with_packet(frame, |p| local_udp(p)).0.unwrap().unwrap()
}

#[test]
fn finds_the_datagram_behind_an_srh_and_without_one() {
    let frame = over_srv6(44);
    let u = found(&frame);
    assert_eq!((u.src, u.dst), (SENDER, REFLECTOR_SID));
    assert_eq!((u.src_port, u.dst_port), (41000, 862));
    assert_eq!((u.hop_limit, u.traffic_class), (61, 0x2e << 2));
    assert_eq!(
        u.udp_offset,
        40 + 8 + 32,
        "after the IPv6 header and a 2-SID SRH"
    );
    assert_eq!((u.udp_len, u.payload_len()), (52, 44));
    assert_eq!(
        &frame[u.payload_offset()..u.payload_offset() + 3],
        &[0, 1, 2]
    );

    let plain = ipv6(REFLECTOR_SID, 64, &[], &datagram(44, REFLECTOR_SID));
    let u = found(&plain);
    assert_eq!((u.udp_offset, u.payload_len()), (40, 44));
}

#[test]
fn non_udp_and_ipv4_are_not_for_the_udp_path() {
    // ICMPv6 (58) after the SRH.
    let mut frame = ipv6(REFLECTOR_SID, 64, &[], &[128, 0, 0, 0, 0, 0, 0, 0]);
    frame[6] = 58;
    assert_eq!(with_packet(&frame, |p| local_udp(p)).0, Ok(None));
    let v4 = [0x45u8; 20];
    assert_eq!(with_packet(&v4, |p| local_udp(p)).0, Ok(None));
}

#[test]
fn datagrams_not_at_their_destination_fragmented_or_corrupt_are_dropped() {
    let sl1 = ipv6(
        REFLECTOR_SID,
        64,
        &[(IpProtocol::IPV6_ROUTE, srh(&[REFLECTOR_SID, SENDER], 1))],
        &datagram(44, SENDER),
    );
    assert_eq!(
        with_packet(&sl1, |p| local_udp(p)).0,
        Err(DropReason::SrhSegmentsLeftNonZero)
    );

    let mut frag = vec![0u8; 8];
    FragmentRepr {
        next_header: IpProtocol::UDP,
        frag_offset: 0,
        more_frags: true,
        ident: 9,
    }
    .emit(&mut FragmentHeader::new_unchecked(&mut frag[..]));
    let fragmented = ipv6(
        REFLECTOR_SID,
        64,
        &[(IpProtocol::IPV6_FRAG, frag)],
        &datagram(44, REFLECTOR_SID),
    );
    assert_eq!(
        with_packet(&fragmented, |p| local_udp(p)).0,
        Err(DropReason::OuterFragmented)
    );

    let mut corrupt = over_srv6(44);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert_eq!(
        with_packet(&corrupt, |p| local_udp(p)).0,
        Err(DropReason::UdpBadChecksum)
    );
    // Checksummed for the first segment instead of the final destination.
    let wrong_dst = ipv6(
        REFLECTOR_SID,
        64,
        &[(IpProtocol::IPV6_ROUTE, srh(&[TRANSIT, REFLECTOR_SID], 0))],
        &datagram(44, TRANSIT),
    );
    assert_eq!(
        with_packet(&wrong_dst, |p| local_udp(p)).0,
        Err(DropReason::UdpBadChecksum)
    );
    // Zero checksum: mandatory over IPv6.
    let mut zero = over_srv6(44);
    let c = 40 + 8 + 32 + 6;
    zero[c..c + 2].copy_from_slice(&[0, 0]);
    assert_eq!(
        with_packet(&zero, |p| local_udp(p)).0,
        Err(DropReason::UdpBadChecksum)
    );
}

/// Checks the reply: IPv6 from the reflector's SID, Hop Limit 255, the
/// given first destination; the datagram's ports swapped, same data, and a
/// checksum valid for (REFLECTOR_SID, SENDER).
fn check_reply(out: &[u8], first_dst: Ipv6Addr, header_len: usize, data: &[u8]) {
    let ip = Ipv6Packet::new_checked(out).unwrap();
    assert_eq!(ip.src_addr(), REFLECTOR_SID);
    assert_eq!(ip.dst_addr(), first_dst);
    assert_eq!(ip.hop_limit(), REPLY_HOP_LIMIT);
    assert_eq!(ip.traffic_class(), 0xb8);
    assert_eq!(ip.flow_label(), 0);
    assert_eq!(usize::from(ip.payload_len()) + 40, out.len());
    let u = UdpPacket::new_checked(&out[header_len..]).unwrap();
    assert_eq!((u.src_port(), u.dst_port()), (862, 41000));
    assert_eq!(u.payload(), data);
    assert!(u.verify_checksum_v6(REFLECTOR_SID, SENDER));
}

#[test]
fn reply_without_return_path_is_plain_ipv6_to_the_sender() {
    let frame = over_srv6(44);
    let udp = found(&frame);
    let data = frame[udp.payload_offset()..].to_vec();
    let (r, out) = with_packet(&frame, |p| reply_in_place(p, &udp, &[], 0xb8));
    r.unwrap();
    assert_eq!(out.len(), 40 + 52, "the test packet's SRH is gone");
    assert_eq!(
        Ipv6Packet::new_checked(&out[..]).unwrap().next_header(),
        IpProtocol::UDP
    );
    check_reply(&out, SENDER, 40, &data);
}

#[test]
fn reply_along_a_return_sid_list_ends_at_the_sender() {
    for (segments, data_len) in [
        (vec![RETURN_1], 44),
        (vec![RETURN_1, RETURN_2], 112),
        (vec![RETURN_1; MAX_RETURN_SEGMENTS], 44),
    ] {
        let frame = over_srv6(data_len);
        let udp = found(&frame);
        let data = frame[udp.payload_offset()..].to_vec();
        let (r, out) = with_packet(&frame, |p| reply_in_place(p, &udp, &segments, 0xb8));
        r.unwrap();
        let hl = reply_header_len(segments.len());
        assert_eq!(hl, 40 + 8 + 16 * (segments.len() + 1));
        assert_eq!(out.len(), hl + 8 + data_len);
        check_reply(&out, segments[0], hl, &data);
        // The SRH, read back: travel order = return segments then sender;
        // Segments Left points at the first (already the destination).
        let srh = SrhRepr::parse(&Srh::new_checked(&out[40..hl]).unwrap()).unwrap();
        let mut travel = srh.segments.clone();
        travel.reverse();
        let mut want = segments.clone();
        want.push(SENDER);
        assert_eq!(travel, want);
        assert_eq!(usize::from(srh.segments_left), segments.len());
        assert_eq!(srh.last_entry, srh.segments_left);
        assert_eq!(srh.next_header, IpProtocol::UDP);
        assert!(srh.tlvs.is_empty());
    }
}

#[test]
fn reply_to_a_final_destination_ends_there_not_at_the_sender() {
    // srv6pm's complete return path [RETURN_1, FINAL]: the SRH is exactly
    // [FINAL, RETURN_1] (Segment List[0] the final destination), Segments
    // Left 1, Destination Address RETURN_1; nothing appended.
    const FINAL: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xf, 0, 0, 0, 0, 0, 5);
    let frame = over_srv6(44);
    let udp = found(&frame);
    let data = frame[udp.payload_offset()..].to_vec();
    let (r, out) = with_packet(&frame, |p| {
        reply_in_place_to(p, &udp, &[RETURN_1], FINAL, 0xb8)
    });
    r.unwrap();
    let hl = reply_header_len(1);
    assert_eq!(out.len(), hl + 8 + data.len());
    let ip = Ipv6Packet::new_checked(&out[..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (REFLECTOR_SID, RETURN_1));
    let srh = SrhRepr::parse(&Srh::new_checked(&out[40..hl]).unwrap()).unwrap();
    assert_eq!(srh.segments, vec![FINAL, RETURN_1]);
    assert_eq!((srh.segments_left, srh.last_entry), (1, 1));
    let u = UdpPacket::new_checked(&out[hl..]).unwrap();
    assert_eq!(u.payload(), &data[..]);
    assert!(
        u.verify_checksum_v6(REFLECTOR_SID, FINAL),
        "checksum for the final destination"
    );
    // No segments: plain IPv6 straight to the final destination.
    let (r, out) = with_packet(&frame, |p| reply_in_place_to(p, &udp, &[], FINAL, 0xb8));
    r.unwrap();
    let ip = Ipv6Packet::new_checked(&out[..]).unwrap();
    assert_eq!((ip.dst_addr(), ip.next_header()), (FINAL, IpProtocol::UDP));
}

#[test]
fn reply_errors_change_nothing() {
    let frame = over_srv6(44);
    let udp = found(&frame);
    let too_many = vec![RETURN_1; MAX_RETURN_SEGMENTS + 1];
    let (r, out) = with_packet(&frame, |p| reply_in_place(p, &udp, &too_many, 0));
    assert_eq!(r, Err(DropReason::PacketTooBig));
    assert_eq!(out, frame);

    // No room in front of the UDP header for a long return path.
    let mut buf = frame.clone();
    let len = buf.len();
    let mut pkt = Packet::new(&mut buf, 0, len).unwrap();
    let r = reply_in_place(&mut pkt, &udp, &[RETURN_1, RETURN_2, RETURN_1], 0);
    assert_eq!(r, Err(DropReason::NoHeadroom));
    assert_eq!(pkt.data(), &frame[..]);
}

/// A test packet the router originates along `segments`: the IPv6 header
/// goes to the first segment, the SRH lists the rest in RFC 8754 order, and
/// after the last End (destination rewritten to Segment List[0], Segments
/// Left 0) the reflector finds a datagram whose checksum is valid.
#[test]
fn originated_datagrams_follow_their_sid_list() {
    for segments in [
        vec![REFLECTOR_SID],
        vec![TRANSIT, REFLECTOR_SID],
        vec![TRANSIT, RETURN_1, RETURN_2, REFLECTOR_SID],
        vec![TRANSIT; MAX_ORIGINATED_SEGMENTS],
    ] {
        let payload: Vec<u8> = (0..44u8).collect();
        let hl = originated_header_len(segments.len());
        let mut out = vec![0u8; 600];
        out[hl + 8..hl + 8 + 44].copy_from_slice(&payload);
        let len = originate_udp(&mut out, SENDER, &segments, (50862, 862), 0x20, 255, 44).unwrap();
        assert_eq!(len, hl + 8 + 44);
        let out = &mut out[..len];
        let ip = Ipv6Packet::new_checked(&out[..]).unwrap();
        assert_eq!(ip.src_addr(), SENDER);
        assert_eq!(ip.dst_addr(), segments[0]);
        assert_eq!((ip.hop_limit(), ip.traffic_class()), (255, 0x20));
        assert_eq!(usize::from(ip.payload_len()) + 40, len);
        let last = *segments.last().unwrap();
        if segments.len() == 1 {
            assert_eq!(hl, 40);
            assert_eq!(ip.next_header(), IpProtocol::UDP);
        } else {
            assert_eq!(ip.next_header(), IpProtocol::IPV6_ROUTE);
            let srh = SrhRepr::parse(&Srh::new_checked(&out[40..hl]).unwrap()).unwrap();
            let mut travel = srh.segments.clone();
            travel.reverse();
            assert_eq!(travel, segments);
            assert_eq!(usize::from(srh.segments_left), segments.len() - 1);
            assert_eq!(srh.last_entry, srh.segments_left);
            assert_eq!(srh.next_header, IpProtocol::UDP);
            // The last End: Segments Left 0, destination Segment List[0].
            out[40 + 3] = 0;
            out[24..40].copy_from_slice(&last.octets());
        }
        let u = UdpPacket::new_checked(&out[hl..]).unwrap();
        assert_eq!((u.src_port(), u.dst_port()), (50862, 862));
        assert_eq!(usize::from(u.len()), 8 + 44);
        assert_eq!(u.payload(), &payload[..]);
        let found = found(out);
        assert_eq!((found.src, found.dst), (SENDER, last));
        assert_eq!(found.payload_len(), 44);
    }
}

#[test]
fn originate_refuses_what_it_cannot_write() {
    let mut out = vec![0u8; 600];
    let too_many = vec![TRANSIT; MAX_ORIGINATED_SEGMENTS + 1];
    for (segments, room, want) in [
        (&[][..], 600, DropReason::PacketTooBig),
        (&too_many[..], 600, DropReason::PacketTooBig),
        (
            &[TRANSIT, REFLECTOR_SID][..],
            40 + 40 + 8 + 43,
            DropReason::NoHeadroom,
        ),
    ] {
        let before = out.clone();
        let r = originate_udp(&mut out[..room], SENDER, segments, (1, 862), 0, 255, 44);
        assert_eq!(r, Err(want));
        assert_eq!(out, before, "nothing written");
    }
    let r = originate_udp(&mut out, SENDER, &[REFLECTOR_SID], (1, 862), 0, 255, 65536);
    assert_eq!(r, Err(DropReason::PacketTooBig));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes: no panic; whatever is found lies inside the packet.
        #[test]
        fn local_udp_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let (r, _) = with_packet(&bytes, |p| local_udp(p));
            if let Ok(Some(u)) = r {
                prop_assert!(u.udp_offset + u.udp_len <= bytes.len());
            }
        }

        /// A real test packet with bytes flipped: no panic, and a reply that
        /// is produced is well formed.
        #[test]
        fn mutated_packets_never_panic(
            flips in proptest::collection::vec((0usize..200, any::<u8>()), 0..6),
            segments in 0usize..4,
        ) {
            let mut frame = over_srv6(44);
            for (at, v) in flips {
                let i = at % frame.len();
                frame[i] = v;
            }
            let (r, _) = with_packet(&frame, |p| {
                let Ok(Some(u)) = local_udp(p) else { return None };
                let segs = vec![RETURN_1; segments];
                Some(reply_in_place(p, &u, &segs, 0).map(|_| p.data().to_vec()))
            });
            if let Some(Ok(out)) = r {
                let ip = Ipv6Packet::new_checked(&out[..]).unwrap();
                prop_assert_eq!(usize::from(ip.payload_len()) + 40, out.len());
            }
        }
    }
}

#[test]
fn a_short_twamp_light_datagram_grows_to_the_stamp_base_packet() {
    // RFC 8762 §4.6: a 14-octet TWAMP-light test packet is answered with
    // the 44-octet base packet. A trailer (Ethernet padding) is dropped.
    let mut frame = over_srv6(14);
    frame.extend_from_slice(&[0xee; 6]);
    let udp = found(&frame);
    let mut buf = vec![0u8; HEADROOM + frame.len() + 64];
    buf.fill(0x55);
    buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(&frame);
    let mut pkt = Packet::new(&mut buf, HEADROOM, frame.len()).unwrap();
    let mut grown = udp;
    grow_udp_payload(&mut pkt, &mut grown, 44).unwrap();
    assert_eq!((grown.udp_len, grown.payload_len()), (52, 44));
    assert_eq!(pkt.len(), udp.udp_offset + 52);
    let at = grown.payload_offset();
    let data = pkt.data()[at..].to_vec();
    assert_eq!(&data[..14], &frame[at..at + 14], "the sender's octets kept");
    assert_eq!(&data[14..], &[0u8; 30][..], "the rest zeroed");
    // Not longer: nothing to do.
    let mut same = grown;
    grow_udp_payload(&mut pkt, &mut same, 44).unwrap();
    assert_eq!(same, grown);
    reply_in_place(&mut pkt, &grown, &[], 0xb8).unwrap();
    let out = pkt.data().to_vec();
    check_reply(&out, SENDER, 40, &data);
    // No room after the packet: a named drop.
    let frame = over_srv6(14);
    let mut tight = vec![0u8; HEADROOM + frame.len() + 10];
    tight[HEADROOM..HEADROOM + frame.len()].copy_from_slice(&frame);
    let mut pkt = Packet::new(&mut tight, HEADROOM, frame.len()).unwrap();
    let mut u = udp;
    assert_eq!(
        grow_udp_payload(&mut pkt, &mut u, 44),
        Err(DropReason::NoHeadroom)
    );
}
