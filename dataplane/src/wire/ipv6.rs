//! The fixed IPv6 header (RFC 8200 §3).
//!
//! What it is: a zero-copy view [`Ipv6Packet`] over the 40-octet fixed header
//! and the payload it announces, and a plain-data [`Ipv6Repr`].
//!
//! What it is not: extension headers live in [`super::ipv6ext`] (and the
//! Segment Routing Header in [`super::srh`]); Hop-by-Hop jumbograms
//! (RFC 2675, Payload Length 0 with a Jumbo Payload option) are not
//! supported: a Payload Length of 0 is read as an empty payload.

use std::net::Ipv6Addr;

use super::{Error, IpProtocol, Result};

/// A read/write view of an IPv6 packet: the fixed header and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

//  RFC 8200 §3, IPv6 Header Format:
//
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Version| Traffic Class |           Flow Label                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Payload Length        |  Next Header  |   Hop Limit   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                                                               |
//  +                                                               +
//  |                                                               |
//  +                         Source Address                        +
//  |                                                               |
//  +                                                               +
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                                                               |
//  +                                                               +
//  |                                                               |
//  +                      Destination Address                      +
//  |                                                               |
//  +                                                               +
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
mod field {
    use core::ops::{Range, RangeFrom};

    /// Version (4 bits), Traffic Class (8 bits), Flow Label (20 bits).
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
    pub const PAYLOAD: RangeFrom<usize> = 40..;
}

/// Length of the fixed IPv6 header, in octets.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps a buffer without checking it. Accessors may panic until
    /// [`check_len`](Self::check_len) has succeeded.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv6Packet<T> {
        Ipv6Packet { buffer }
    }

    /// Wraps a buffer and checks it with [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv6Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds a whole IPv6 packet.
    ///
    /// * [`Error::Truncated`]: shorter than the 40-octet fixed header;
    /// * [`Error::BadVersion`]: version nibble is not 6;
    /// * [`Error::Ipv6BadPayloadLength`]: 40 + Payload Length exceeds the buffer.
    ///
    /// A buffer longer than 40 + Payload Length is accepted (Ethernet padding);
    /// [`payload`](Self::payload) stops at Payload Length. Payload Length 0
    /// is an empty payload (jumbograms are not supported).
    ///
    /// After this succeeds no accessor panics.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 6 {
            return Err(Error::BadVersion);
        }
        if HEADER_LEN + usize::from(self.payload_len()) > len {
            return Err(Error::Ipv6BadPayloadLength);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Total length of header and payload as announced by Payload Length.
    #[inline]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    #[inline]
    fn ver_tc_flow(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::VER_TC_FLOW];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The Version field (6 for a valid packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW.start] >> 4
    }

    /// The Traffic Class field (DSCP and ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// The 20-bit Flow Label.
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    /// The Payload Length field: octets after the fixed header.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::PAYLOAD_LEN];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The Next Header field.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::NXT_HDR])
    }

    /// The Hop Limit field.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// The Source Address as raw octets.
    #[inline]
    pub fn src_bytes(&self) -> &[u8; 16] {
        as_array16(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// The Destination Address as raw octets.
    #[inline]
    pub fn dst_bytes(&self) -> &[u8; 16] {
        as_array16(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// The Source Address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(*self.src_bytes())
    }

    /// The Destination Address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(*self.dst_bytes())
    }

    /// The payload: the `payload_len()` octets after the fixed header
    /// (trailing link-layer padding excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let end = self.total_len();
        &self.buffer.as_ref()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    #[inline]
    fn set_ver_tc_flow(&mut self, value: u32) {
        self.buffer.as_mut()[field::VER_TC_FLOW].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the Version field (low 4 bits of `value`).
    #[inline]
    pub fn set_version(&mut self, value: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_TC_FLOW.start];
        *b = (*b & 0x0f) | (value << 4);
    }

    /// Sets the Traffic Class field.
    #[inline]
    pub fn set_traffic_class(&mut self, value: u8) {
        let word = (self.ver_tc_flow() & 0xf00f_ffff) | (u32::from(value) << 20);
        self.set_ver_tc_flow(word);
    }

    /// Sets the Flow Label (low 20 bits of `value`).
    #[inline]
    pub fn set_flow_label(&mut self, value: u32) {
        let word = (self.ver_tc_flow() & 0xfff0_0000) | (value & 0x000f_ffff);
        self.set_ver_tc_flow(word);
    }

    /// Sets the Payload Length field.
    #[inline]
    pub fn set_payload_len(&mut self, value: u16) {
        self.buffer.as_mut()[field::PAYLOAD_LEN].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the Next Header field.
    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = value.0;
    }

    /// Sets the Hop Limit field.
    #[inline]
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = value;
    }

    /// Sets the Source Address from raw octets.
    #[inline]
    pub fn set_src_bytes(&mut self, value: &[u8; 16]) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(value);
    }

    /// Sets the Destination Address from raw octets (the SRv6 hot path:
    /// copy a segment from the SRH into the DA).
    #[inline]
    pub fn set_dst_bytes(&mut self, value: &[u8; 16]) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(value);
    }

    /// Sets the Source Address.
    #[inline]
    pub fn set_src_addr(&mut self, value: Ipv6Addr) {
        self.set_src_bytes(&value.octets());
    }

    /// Sets the Destination Address.
    #[inline]
    pub fn set_dst_addr(&mut self, value: Ipv6Addr) {
        self.set_dst_bytes(&value.octets());
    }

    /// The payload, mutably (bounded by Payload Length).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// A 16-octet slice as an array reference. Panics only if `s` is not 16
/// octets long, which the fixed field ranges rule out.
#[inline]
fn as_array16(s: &[u8]) -> &[u8; 16] {
    s.try_into().expect("field range is 16 octets")
}

/// The fixed IPv6 header as plain data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: IpProtocol,
    pub hop_limit: u8,
    pub traffic_class: u8,
    /// 20-bit Flow Label; higher bits are dropped on emit.
    pub flow_label: u32,
    /// Octets after the fixed header (extension headers included).
    pub payload_len: u16,
}

impl Ipv6Repr {
    /// Reads the fixed header of a packet, checking it first.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Ipv6Repr> {
        packet.check_len()?;
        Ok(Ipv6Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            next_header: packet.next_header(),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
            payload_len: packet.payload_len(),
        })
    }

    /// Octets [`emit`](Self::emit) writes: the fixed header only.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the fixed header into the first 40 octets of `packet`'s buffer.
    /// The payload is left untouched.
    ///
    /// Panics if the buffer is shorter than 40 octets.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv6Packet<T>) {
        packet.set_version(6);
        packet.set_traffic_class(self.traffic_class);
        packet.set_flow_label(self.flow_label);
        packet.set_payload_len(self.payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Built by hand from the RFC 8200 §3 diagram: version 6, traffic class
    /// 0xb8 (DSCP EF), flow label 0x12345, payload length 8, next header 17
    /// (UDP), hop limit 64, 2001:db8::1 -> 2001:db8::2, then 8 payload octets
    /// and 4 octets of trailing Ethernet padding.
    const PACKET: [u8; 52] = [
        0x6b, 0x81, 0x23, 0x45, // ver 6 | tc 0xb8 | flow 0x12345
        0x00, 0x08, 0x11, 0x40, // payload len 8, nh 17, hl 64
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // src
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, // dst
        1, 2, 3, 4, 5, 6, 7, 8, // payload
        0xee, 0xee, 0xee, 0xee, // link-layer padding
    ];

    fn repr() -> Ipv6Repr {
        Ipv6Repr {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            next_header: IpProtocol::UDP,
            hop_limit: 64,
            traffic_class: 0xb8,
            flow_label: 0x12345,
            payload_len: 8,
        }
    }

    #[test]
    fn getters() {
        let p = Ipv6Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 8);
        assert_eq!(p.next_header(), IpProtocol::UDP);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.src_bytes()[15], 1);
        assert_eq!(p.dst_bytes()[..4], [0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(p.payload(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(p.total_len(), 48);
        assert_eq!(p.into_inner().len(), 52);
    }

    #[test]
    fn setters_build_the_same_bytes() {
        let mut buf = [0u8; 48];
        let mut p = Ipv6Packet::new_unchecked(&mut buf[..]);
        p.set_version(6);
        p.set_flow_label(0x12345);
        p.set_traffic_class(0xb8);
        p.set_payload_len(8);
        p.set_next_header(IpProtocol::UDP);
        p.set_hop_limit(64);
        p.set_src_addr("2001:db8::1".parse().unwrap());
        p.set_dst_bytes(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        p.payload_mut().copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(buf[..], PACKET[..48]);
    }

    #[test]
    fn setters_do_not_disturb_neighbours() {
        let mut buf = PACKET;
        let mut p = Ipv6Packet::new_unchecked(&mut buf[..]);
        p.set_traffic_class(0x00);
        assert_eq!(p.version(), 6);
        assert_eq!(p.flow_label(), 0x12345);
        p.set_flow_label(0xf_ffff);
        assert_eq!(p.traffic_class(), 0);
        assert_eq!(p.version(), 6);
        p.set_flow_label(0x1f_ffff); // bit 20 must not leak into the class
        assert_eq!(p.traffic_class(), 0);
        assert_eq!(p.flow_label(), 0xf_ffff);
        p.set_version(4);
        assert_eq!(p.version(), 4);
        assert_eq!(p.traffic_class(), 0);
        p.set_src_bytes(&[0xaa; 16]);
        assert_eq!(buf[8..24], [0xaa; 16]);
        assert_eq!(buf[24], 0x20);
    }

    #[test]
    fn parse_and_emit() {
        let p = Ipv6Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p).unwrap(), repr());
        let mut buf = [0u8; 48];
        buf[40..].copy_from_slice(&PACKET[40..48]);
        let r = repr();
        assert_eq!(r.buffer_len(), 40);
        r.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf[..], PACKET[..48]);
    }

    #[test]
    fn truncated_at_every_length_below_40() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Ipv6Packet::new_checked(&PACKET[..len]).unwrap_err(),
                Error::Truncated,
                "len {len}"
            );
        }
    }

    #[test]
    fn payload_length_past_buffer() {
        for len in HEADER_LEN..48 {
            assert_eq!(
                Ipv6Packet::new_checked(&PACKET[..len]).unwrap_err(),
                Error::Ipv6BadPayloadLength,
                "len {len}"
            );
        }
        assert!(Ipv6Packet::new_checked(&PACKET[..48]).is_ok());
    }

    #[test]
    fn bad_version() {
        let mut buf = PACKET;
        buf[0] = 0x4b;
        assert_eq!(
            Ipv6Packet::new_checked(&buf[..]).unwrap_err(),
            Error::BadVersion
        );
    }

    #[test]
    fn zero_payload_len_is_empty_payload() {
        let mut buf = PACKET;
        buf[4] = 0;
        buf[5] = 0;
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        assert!(p.payload().is_empty());
        assert!(Ipv6Packet::new_checked(&buf[..40]).is_ok());
    }
}
