//! UDP datagrams (RFC 768), over IPv4 and IPv6.
//!
//! What it is: a zero-copy view [`UdpPacket`] over the IP payload that holds
//! a UDP header and its data, checksum verification and filling over the
//! IPv4 or IPv6 pseudo-header, and a plain [`UdpRepr`].
//!
//! What it is not: no UDP-Lite, no socket demultiplexing.
//!
//! The checksum needs the IP addresses, which the UDP header does not hold,
//! so it is never part of [`UdpRepr`]: [`UdpRepr::emit`] writes the header
//! with a zero checksum, the caller writes the payload, then calls
//! [`UdpPacket::fill_checksum_v4`] or [`UdpPacket::fill_checksum_v6`].
//! Likewise [`UdpRepr::parse`] checks lengths only; a receiver calls
//! [`UdpPacket::verify_checksum_v4`] or [`UdpPacket::verify_checksum_v6`].
//!
//! The buffer handed to [`UdpPacket`] should be exactly the IP payload (the
//! IPv4 payload bounded by Total Length, or the IPv6 upper-layer data): the
//! UDP Length is checked against it.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{checksum, Error, IpProtocol, Result};

// RFC 768:
//
//  0      7 8     15 16    23 24    31
// +--------+--------+--------+--------+
// |     Source      |   Destination   |
// |      Port       |      Port       |
// +--------+--------+--------+--------+
// |                 |                 |
// |     Length      |    Checksum     |
// +--------+--------+--------+--------+
// |
// |          data octets ...
// +---------------- ...
mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const PAYLOAD_START: usize = 8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::PAYLOAD_START;

/// A read/write view of a UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

// `len()` is the UDP Length field, not the length of a collection.
#[allow(clippy::len_without_is_empty)]
impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps a buffer without checking it; accessors may panic until
    /// [`check_len`](Self::check_len) has succeeded.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> UdpPacket<T> {
        UdpPacket { buffer }
    }

    /// [`new_unchecked`](Self::new_unchecked) followed by
    /// [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<UdpPacket<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// [`Error::Truncated`] if the buffer is shorter than the 8-octet header;
    /// [`Error::UdpBadLength`] if the Length field is below 8 or beyond the
    /// buffer. A buffer longer than Length is accepted; the excess is ignored.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let buffer_len = self.buffer.as_ref().len();
        if buffer_len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(self.len());
        if len < HEADER_LEN || len > buffer_len {
            return Err(Error::UdpBadLength);
        }
        Ok(())
    }

    /// Gives the buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn read_u16(&self, range: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        self.read_u16(field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.read_u16(field::DST_PORT)
    }

    /// The Length field: header plus data, in octets.
    #[inline]
    pub fn len(&self) -> u16 {
        self.read_u16(field::LENGTH)
    }

    /// The Checksum field (0 means "none" over IPv4).
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    /// The data: from the end of the header to Length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD_START..usize::from(self.len())]
    }

    /// The sum over the datagram (header and data, up to Length) and the
    /// given pseudo-header sum.
    #[inline]
    fn sum_with(&self, pseudo_header: u16) -> u16 {
        let datagram = &self.buffer.as_ref()[..usize::from(self.len())];
        checksum::combine(&[pseudo_header, checksum::data(datagram)])
    }

    /// Verifies the checksum over the IPv4 pseudo-header. A zero Checksum
    /// field means the sender computed none (RFC 768) and verifies.
    #[inline]
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        self.sum_with(checksum::pseudo_header_v4(
            src,
            dst,
            IpProtocol::UDP,
            self.len(),
        )) == 0xFFFF
    }

    /// Verifies the checksum over the IPv6 pseudo-header. A zero Checksum
    /// field does not verify: RFC 8200 §8.1 makes the checksum mandatory and
    /// tells receivers to discard such datagrams (the RFC 6935 tunnel
    /// exception is not supported). `dst` is the final destination.
    #[inline]
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        if self.checksum() == 0 {
            return false;
        }
        let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::UDP, u32::from(self.len()));
        self.sum_with(pseudo) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    #[inline]
    fn write_u16(&mut self, range: core::ops::Range<usize>, value: u16) {
        self.buffer.as_mut()[range].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        self.write_u16(field::SRC_PORT, port);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        self.write_u16(field::DST_PORT, port);
    }

    /// Sets the Length field.
    #[inline]
    pub fn set_len(&mut self, len: u16) {
        self.write_u16(field::LENGTH, len);
    }

    /// Sets the Checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.write_u16(field::CHECKSUM, value);
    }

    /// The data (header end to Length), mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[field::PAYLOAD_START..end]
    }

    /// Writes `!sum`, or `0xFFFF` when that is zero (RFC 768: a computed zero
    /// is transmitted as all ones, since zero means "no checksum").
    #[inline]
    fn fill_with(&mut self, pseudo_header: u16) {
        self.set_checksum(0);
        let value = !self.sum_with(pseudo_header);
        self.set_checksum(if value == 0 { 0xFFFF } else { value });
    }

    /// Computes and writes the checksum over the IPv4 pseudo-header, the
    /// header and the data up to Length.
    #[inline]
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        let pseudo = checksum::pseudo_header_v4(src, dst, IpProtocol::UDP, self.len());
        self.fill_with(pseudo);
    }

    /// Computes and writes the checksum over the IPv6 pseudo-header (`dst` is
    /// the final destination), the header and the data up to Length.
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::UDP, u32::from(self.len()));
        self.fill_with(pseudo);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for UdpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A parsed UDP header (the checksum is handled on the view, see the module
/// documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    /// Data length in octets; 8 plus this must not exceed 65535.
    pub payload_len: usize,
}

impl UdpRepr {
    /// Reads the header of `packet` after `check_len`; does not verify the
    /// checksum.
    pub fn parse<T: AsRef<[u8]>>(packet: &UdpPacket<T>) -> Result<UdpRepr> {
        packet.check_len()?;
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.len()) - HEADER_LEN,
        })
    }

    /// Header plus data: the Length this emits.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header with a zero Checksum field; the data region is left
    /// as is. Fill the data, then call `fill_checksum_v4` / `fill_checksum_v6`.
    ///
    /// # Panics
    /// If the buffer is shorter than the 8-octet header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut UdpPacket<T>) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(self.buffer_len() as u16);
        packet.set_checksum(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC4: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
    const DST4: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 199);

    /// 1234 -> 53, Length 12, data "abcd", from 192.168.0.1 to
    /// 192.168.0.199. Checksum by hand: pseudo-header c0a8 + 0001 + c0a8 +
    /// 00c7 + 0011 + 000c = 18235 -> 8236; header 04d2 + 0035 + 000c = 0513;
    /// data 6162 + 6364 = c4c6; 8236 + 0513 + c4c6 = 14c0f -> 4c10,
    /// inverted b3ef.
    const DATAGRAM_V4: [u8; 12] = [
        0x04, 0xd2, 0x00, 0x35, 0x00, 0x0c, 0xb3, 0xef, b'a', b'b', b'c', b'd',
    ];

    fn src6() -> Ipv6Addr {
        "2001:db8::1".parse().unwrap()
    }

    fn dst6() -> Ipv6Addr {
        "2001:db8::2".parse().unwrap()
    }

    /// The same datagram over IPv6 from 2001:db8::1 to 2001:db8::2. By hand:
    /// pseudo-header 2001 + 0db8 + 0001 + 2001 + 0db8 + 0002 + 000c + 0011
    /// = 5b92; 5b92 + 0513 + c4c6 = 1256b -> 256c, inverted da93.
    const DATAGRAM_V6: [u8; 12] = [
        0x04, 0xd2, 0x00, 0x35, 0x00, 0x0c, 0xda, 0x93, b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn getters() {
        let packet = UdpPacket::new_checked(&DATAGRAM_V4[..]).unwrap();
        assert_eq!(packet.src_port(), 1234);
        assert_eq!(packet.dst_port(), 53);
        assert_eq!(packet.len(), 12);
        assert_eq!(packet.checksum(), 0xb3ef);
        assert_eq!(packet.payload(), b"abcd");
    }

    #[test]
    fn checksum_v4_known() {
        let packet = UdpPacket::new_checked(&DATAGRAM_V4[..]).unwrap();
        assert!(packet.verify_checksum_v4(SRC4, DST4));
        assert!(!packet.verify_checksum_v4(SRC4, Ipv4Addr::new(192, 168, 0, 198)));
        let mut bytes = DATAGRAM_V4;
        bytes[6] = 0;
        bytes[7] = 0;
        let mut packet = UdpPacket::new_checked(&mut bytes[..]).unwrap();
        assert!(
            packet.verify_checksum_v4(SRC4, DST4),
            "zero means no checksum"
        );
        packet.fill_checksum_v4(SRC4, DST4);
        assert_eq!(bytes, DATAGRAM_V4);
    }

    #[test]
    fn checksum_v6_known() {
        let packet = UdpPacket::new_checked(&DATAGRAM_V6[..]).unwrap();
        assert!(packet.verify_checksum_v6(src6(), dst6()));
        // (Swapping source and destination would not show: the sum is symmetric.)
        assert!(!packet.verify_checksum_v6(src6(), "2001:db8::3".parse().unwrap()));
        let mut bytes = DATAGRAM_V6;
        bytes[6] = 0;
        bytes[7] = 0;
        let mut packet = UdpPacket::new_checked(&mut bytes[..]).unwrap();
        assert!(
            !packet.verify_checksum_v6(src6(), dst6()),
            "zero is invalid over IPv6"
        );
        packet.fill_checksum_v6(src6(), dst6());
        assert_eq!(bytes, DATAGRAM_V6);
    }

    /// A datagram whose sum is exactly ffff gets checksum ffff, not 0000.
    /// Over the IPv4 pseudo-header for 0.0.0.0 -> 0.0.0.0 the sum is
    /// 0011 + 0008 (protocol, length) + 0008 (Length field) = 0021 plus the
    /// ports; source port ffde makes it ffff.
    #[test]
    fn computed_zero_is_sent_as_all_ones() {
        let zero = Ipv4Addr::UNSPECIFIED;
        let mut bytes = [0xff, 0xde, 0x00, 0x00, 0x00, 0x08, 0x12, 0x34];
        let mut packet = UdpPacket::new_checked(&mut bytes[..]).unwrap();
        packet.fill_checksum_v4(zero, zero);
        assert_eq!(packet.checksum(), 0xffff);
        assert!(packet.verify_checksum_v4(zero, zero));
    }

    #[test]
    fn setters_and_repr() {
        let mut bytes = [0u8; 12];
        let repr = UdpRepr {
            src_port: 1234,
            dst_port: 53,
            payload_len: 4,
        };
        assert_eq!(repr.buffer_len(), 12);
        let mut packet = UdpPacket::new_unchecked(&mut bytes[..]);
        repr.emit(&mut packet);
        assert_eq!(packet.checksum(), 0);
        packet.payload_mut().copy_from_slice(b"abcd");
        packet.fill_checksum_v4(SRC4, DST4);
        assert_eq!(bytes, DATAGRAM_V4);
        let packet = UdpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(UdpRepr::parse(&packet).unwrap(), repr);

        let mut bytes = [0u8; 8];
        let mut packet = UdpPacket::new_unchecked(&mut bytes[..]);
        packet.set_src_port(0x0102);
        packet.set_dst_port(0x0304);
        packet.set_len(0x0506);
        packet.set_checksum(0x0708);
        assert_eq!(bytes, [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn payload_bounded_by_length() {
        let mut bytes = DATAGRAM_V4.to_vec();
        bytes.extend_from_slice(b"trailer");
        let packet = UdpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.payload(), b"abcd");
        assert!(packet.verify_checksum_v4(SRC4, DST4));
    }

    #[test]
    fn errors() {
        for len in 0..8 {
            assert_eq!(
                UdpPacket::new_checked(&DATAGRAM_V4[..len]).unwrap_err(),
                Error::Truncated
            );
            let unchecked = UdpPacket::new_unchecked(&DATAGRAM_V4[..len]);
            assert_eq!(UdpRepr::parse(&unchecked).unwrap_err(), Error::Truncated);
        }
        for len in 8..12 {
            assert_eq!(
                UdpPacket::new_checked(&DATAGRAM_V4[..len]).unwrap_err(),
                Error::UdpBadLength,
                "Length 12 in a {len}-octet buffer"
            );
        }
        for bad_len in [0u8, 7] {
            let mut bytes = DATAGRAM_V4;
            bytes[5] = bad_len;
            assert_eq!(
                UdpPacket::new_checked(&bytes[..]).unwrap_err(),
                Error::UdpBadLength
            );
        }
        let mut bytes = DATAGRAM_V4;
        bytes[5] = 8;
        let packet = UdpPacket::new_checked(&bytes[..]).unwrap();
        assert!(packet.payload().is_empty());
    }
}
