//! IPv4 headers (RFC 791).
//!
//! What it is: a zero-copy view [`Ipv4Packet`] over a buffer holding an IPv4
//! header, its options and its payload; header checksum verification and
//! filling; the forwarding-path TTL decrement with an RFC 1624 incremental
//! checksum update; and a plain [`Ipv4Repr`] with the options carried inline.
//!
//! What it is not: no option parsing (options are opaque bytes), no
//! fragmentation or reassembly.
//!
//! Length checks ([`Ipv4Packet::check_len`]) run in this order:
//! 1. fewer than 20 octets: [`Error::Truncated`];
//! 2. version not 4: [`Error::BadVersion`];
//! 3. IHL below 5: [`Error::Ipv4BadIhl`];
//! 4. Total Length below the IHL-declared header length, or above the buffer
//!    length: [`Error::Ipv4BadTotalLength`].
//!
//! A header whose options run past the end of the buffer therefore reports
//! [`Error::Ipv4BadTotalLength`], never `Truncated`: Total Length must cover
//! the header and fit in the buffer, so one of the two checks of step 4 always
//! fails first. `Truncated` is reserved for buffers that cannot even hold the
//! fixed 20-octet header.

use std::net::Ipv4Addr;

use super::{checksum, Error, IpProtocol, Result};

// RFC 791 §3.1:
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Version|  IHL  |    DSCP   |ECN|          Total Length         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |         Identification        |Flags|      Fragment Offset    |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Time to Live |    Protocol   |         Header Checksum       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       Source Address                          |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                    Destination Address                        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                    Options                    |    Padding    |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// (Type of Service is split into DSCP and ECN by RFC 2474 and RFC 3168.)
// Flags: bit 0 reserved (must be zero), bit 1 DF, bit 2 MF.
mod field {
    use core::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLAGS_FRAG: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
    pub const OPTIONS_START: usize = 20;
}

const FLAG_RESERVED: u16 = 0x8000;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1FFF;

/// Length of the fixed header (IHL 5).
pub const HEADER_LEN: usize = field::OPTIONS_START;
/// Largest header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;
/// Largest options area.
pub const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;

/// A read/write view of an IPv4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic until
    /// [`check_len`](Self::check_len) has succeeded.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    /// [`new_unchecked`](Self::new_unchecked) followed by
    /// [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that every accessor can run without panicking; see the module
    /// documentation for which error each inconsistency gives. The buffer may
    /// be longer than Total Length (link-layer padding); the excess is ignored
    /// by [`payload`](Self::payload).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::BadVersion);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN {
            return Err(Error::Ipv4BadIhl);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len || total_len > len {
            return Err(Error::Ipv4BadTotalLength);
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

    /// The version nibble (4 after a successful `check_len`).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The raw Internet Header Length nibble, in 32-bit words.
    #[inline]
    pub fn ihl(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] & 0x0F
    }

    /// The header length in octets (IHL × 4), options included.
    #[inline]
    pub fn header_len(&self) -> u8 {
        self.ihl() * 4
    }

    /// The whole Type of Service / Traffic Class octet (DSCP and ECN).
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// The Differentiated Services Code Point (upper six bits of the TOS octet).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    /// The Explicit Congestion Notification bits (lower two bits of the TOS octet).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.tos() & 0x03
    }

    /// Total Length: header plus payload, in octets.
    #[inline]
    pub fn total_len(&self) -> u16 {
        self.read_u16(field::TOTAL_LEN)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        self.read_u16(field::IDENT)
    }

    /// The reserved flag (bit 0 of Flags), which RFC 791 requires to be zero.
    #[inline]
    pub fn reserved_flag(&self) -> bool {
        self.read_u16(field::FLAGS_FRAG) & FLAG_RESERVED != 0
    }

    /// Don't Fragment.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.read_u16(field::FLAGS_FRAG) & FLAG_DF != 0
    }

    /// More Fragments.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.read_u16(field::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// Fragment Offset in octets (the field counts 8-octet units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.read_u16(field::FLAGS_FRAG) & FRAG_OFFSET_MASK) << 3
    }

    /// Time to Live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// Header Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The options area, padding included (empty for IHL 5).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS_START..usize::from(self.header_len())]
    }

    /// The header, options included.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.header_len())]
    }

    /// The payload: from the end of the header to Total Length (not to the end
    /// of the buffer).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[usize::from(self.header_len())..usize::from(self.total_len())]
    }

    /// True if the header checksum verifies (the sum over the header, field
    /// included, is `0xFFFF`).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.header()) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    #[inline]
    fn write_u16(&mut self, range: core::ops::Range<usize>, value: u16) {
        self.buffer.as_mut()[range].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the version nibble.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0F) | (version << 4);
    }

    /// Sets the header length in octets; stored as IHL = `len / 4`, so `len`
    /// should be a multiple of 4 between 20 and 60.
    #[inline]
    pub fn set_header_len(&mut self, len: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xF0) | ((len / 4) & 0x0F);
    }

    /// Sets the whole TOS octet.
    #[inline]
    pub fn set_tos(&mut self, tos: u8) {
        self.buffer.as_mut()[field::TOS] = tos;
    }

    /// Sets the DSCP (upper six bits of the TOS octet), keeping ECN.
    #[inline]
    pub fn set_dscp(&mut self, dscp: u8) {
        let tos = (self.tos() & 0x03) | (dscp << 2);
        self.set_tos(tos);
    }

    /// Sets ECN (lower two bits of the TOS octet), keeping DSCP.
    #[inline]
    pub fn set_ecn(&mut self, ecn: u8) {
        let tos = (self.tos() & !0x03) | (ecn & 0x03);
        self.set_tos(tos);
    }

    /// Sets Total Length.
    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        self.write_u16(field::TOTAL_LEN, len);
    }

    /// Sets Identification.
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        self.write_u16(field::IDENT, ident);
    }

    #[inline]
    fn set_flag(&mut self, flag: u16, value: bool) {
        let raw = self.read_u16(field::FLAGS_FRAG);
        let raw = if value { raw | flag } else { raw & !flag };
        self.write_u16(field::FLAGS_FRAG, raw);
    }

    /// Sets the reserved flag (only useful to build invalid packets in tests).
    #[inline]
    pub fn set_reserved_flag(&mut self, value: bool) {
        self.set_flag(FLAG_RESERVED, value);
    }

    /// Sets Don't Fragment.
    #[inline]
    pub fn set_dont_frag(&mut self, value: bool) {
        self.set_flag(FLAG_DF, value);
    }

    /// Sets More Fragments.
    #[inline]
    pub fn set_more_frags(&mut self, value: bool) {
        self.set_flag(FLAG_MF, value);
    }

    /// Sets Fragment Offset from a value in octets; the low three bits are
    /// dropped (fragment offsets are multiples of 8).
    #[inline]
    pub fn set_frag_offset(&mut self, offset: u16) {
        let raw = self.read_u16(field::FLAGS_FRAG);
        self.write_u16(field::FLAGS_FRAG, (raw & !FRAG_OFFSET_MASK) | (offset >> 3));
    }

    /// Sets Time to Live (the checksum is not touched).
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    /// Sets Protocol.
    #[inline]
    pub fn set_protocol(&mut self, protocol: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = protocol.0;
    }

    /// Sets the Header Checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.write_u16(field::CHECKSUM, value);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    /// The options area, mutable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        &mut self.buffer.as_mut()[field::OPTIONS_START..end]
    }

    /// The payload (header end to Total Length), mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = usize::from(self.header_len());
        let end = usize::from(self.total_len());
        &mut self.buffer.as_mut()[start..end]
    }

    /// Computes the header checksum over the header (options included) and
    /// writes it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(self.header());
        self.set_checksum(!sum);
    }

    /// The forwarding-path TTL decrement (RFC 1812 §5.3.1).
    ///
    /// If the TTL is 2 or more, decrements it, patches the header checksum
    /// with the RFC 1624 incremental update (a correct checksum stays correct)
    /// and returns the new TTL. If the TTL is 0 or 1 the packet must not be
    /// forwarded: returns `None` and leaves the buffer untouched, so the packet
    /// can be quoted unchanged in an ICMP Time Exceeded.
    #[inline]
    pub fn decrement_ttl(&mut self) -> Option<u8> {
        let ttl = self.ttl();
        if ttl <= 1 {
            return None;
        }
        let proto = self.buffer.as_ref()[field::PROTOCOL];
        let old_word = u16::from_be_bytes([ttl, proto]);
        let new_word = u16::from_be_bytes([ttl - 1, proto]);
        let new_checksum = checksum::update(self.checksum(), old_word, new_word);
        self.set_ttl(ttl - 1);
        self.set_checksum(new_checksum);
        Some(ttl - 1)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// IPv4 options as carried by an [`Ipv4Repr`]: up to 40 octets inline, no
/// allocation. The length is always a multiple of 4 (padding included).
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Options {
    bytes: [u8; MAX_OPTIONS_LEN],
    len: u8,
}

impl Ipv4Options {
    /// No options.
    pub const EMPTY: Ipv4Options = Ipv4Options {
        bytes: [0; MAX_OPTIONS_LEN],
        len: 0,
    };

    /// Copies `options` (padding included); [`Error::Malformed`] if longer
    /// than 40 octets or not a multiple of 4.
    pub fn new(options: &[u8]) -> Result<Ipv4Options> {
        if options.len() > MAX_OPTIONS_LEN || options.len() & 3 != 0 {
            return Err(Error::Malformed);
        }
        let mut bytes = [0; MAX_OPTIONS_LEN];
        bytes[..options.len()].copy_from_slice(options);
        Ok(Ipv4Options {
            bytes,
            len: options.len() as u8,
        })
    }

    /// The option bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Length in octets (0..=40, a multiple of 4).
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// No options.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for Ipv4Options {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl PartialEq for Ipv4Options {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Ipv4Options {}

/// A parsed IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: IpProtocol,
    pub ttl: u8,
    /// The whole TOS octet (DSCP << 2 | ECN).
    pub tos: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// In octets; a multiple of 8 no larger than 65528.
    pub frag_offset: u16,
    pub options: Ipv4Options,
    /// Payload length in octets; the header length plus this must not
    /// exceed 65535.
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Reads the header of `packet`: runs `check_len`, then requires a
    /// correct header checksum ([`Error::Ipv4BadChecksum`]) and a clear
    /// reserved flag ([`Error::Malformed`], RFC 791: "must be zero"), so that
    /// emitting the result reproduces the header byte for byte.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Ipv4Repr> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::Ipv4BadChecksum);
        }
        if packet.reserved_flag() {
            return Err(Error::Malformed);
        }
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
            // check_len bounds the options to 40 octets, a multiple of 4.
            options: Ipv4Options::new(packet.options())?,
            payload_len: usize::from(packet.total_len()) - usize::from(packet.header_len()),
        })
    }

    /// Header length in octets (20 plus the options).
    #[inline]
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.len()
    }

    /// Header plus payload: the Total Length this emits.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Writes the header (options included) and fills the checksum; the
    /// payload region is left as is.
    ///
    /// # Panics
    /// If the buffer is shorter than [`header_len`](Self::header_len).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv4Packet<T>) {
        let header_len = self.header_len();
        packet.set_version(4);
        packet.set_header_len(header_len as u8);
        packet.set_tos(self.tos);
        packet.set_total_len(self.buffer_len() as u16);
        packet.set_ident(self.ident);
        packet.write_u16(
            field::FLAGS_FRAG,
            (if self.dont_frag { FLAG_DF } else { 0 })
                | (if self.more_frags { FLAG_MF } else { 0 })
                | (self.frag_offset >> 3),
        );
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.buffer.as_mut()[field::OPTIONS_START..header_len]
            .copy_from_slice(self.options.as_slice());
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Wikipedia "IPv4 header checksum" example: a UDP datagram from
    /// 192.168.0.1 to 192.168.0.199, Total Length 0x73, DF, TTL 64, checksum
    /// b861 (computed by hand there).
    const HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    /// HEADER followed by a 0x73 - 20 = 95 octet payload of 0xaa.
    fn packet_bytes() -> Vec<u8> {
        let mut bytes = HEADER.to_vec();
        bytes.resize(0x73, 0xaa);
        bytes
    }

    /// An IGMPv2 membership report for 224.0.0.22 with the Router Alert
    /// option (RFC 2113: 94 04 00 00), IHL 6, TOS c0, TTL 1, Total Length 32.
    /// Checksum by hand: 46c0 + 0020 + 0000 + 4000 + 0102 + c0a8 + 0102 +
    /// e000 + 0016 + 9404 + 0000 = 2bda6 -> bda8, inverted 4257. The IGMP
    /// checksum: 1600 + 0000 + e000 + 0016 = f616, inverted 09e9.
    const WITH_OPTIONS: [u8; 32] = [
        0x46, 0xc0, 0x00, 0x20, 0x00, 0x00, 0x40, 0x00, 0x01, 0x02, 0x42, 0x57, 0xc0, 0xa8, 0x01,
        0x02, 0xe0, 0x00, 0x00, 0x16, 0x94, 0x04, 0x00, 0x00, // header + Router Alert
        0x16, 0x00, 0x09, 0xe9, 0xe0, 0x00, 0x00, 0x16, // IGMPv2 report
    ];

    #[test]
    fn getters_on_known_header() {
        let bytes = packet_bytes();
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.ihl(), 5);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.tos(), 0);
        assert_eq!(packet.dscp(), 0);
        assert_eq!(packet.ecn(), 0);
        assert_eq!(packet.total_len(), 115);
        assert_eq!(packet.ident(), 0);
        assert!(packet.dont_frag());
        assert!(!packet.more_frags());
        assert!(!packet.reserved_flag());
        assert_eq!(packet.frag_offset(), 0);
        assert_eq!(packet.ttl(), 64);
        assert_eq!(packet.protocol(), IpProtocol::UDP);
        assert_eq!(packet.checksum(), 0xb861);
        assert_eq!(packet.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(packet.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert!(packet.options().is_empty());
        assert_eq!(packet.payload().len(), 95);
        assert!(packet.verify_checksum());
    }

    #[test]
    fn options_and_tos() {
        let packet = Ipv4Packet::new_checked(&WITH_OPTIONS[..]).unwrap();
        assert_eq!(packet.header_len(), 24);
        assert_eq!(packet.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(packet.tos(), 0xc0);
        assert_eq!(packet.dscp(), 48); // CS6
        assert_eq!(packet.ecn(), 0);
        assert_eq!(packet.protocol(), IpProtocol(2));
        assert_eq!(packet.payload(), &WITH_OPTIONS[24..]);
        assert!(packet.verify_checksum());
        let repr = Ipv4Repr::parse(&packet).unwrap();
        assert_eq!(repr.options.as_slice(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(repr.payload_len, 8);
        let mut out = [0u8; 32];
        out[24..].copy_from_slice(&WITH_OPTIONS[24..]);
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, WITH_OPTIONS);
    }

    #[test]
    fn payload_is_bounded_by_total_len() {
        let mut bytes = packet_bytes();
        bytes.extend_from_slice(&[0x55; 10]); // Ethernet padding, say
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.payload().len(), 95);
        assert!(packet.payload().iter().all(|&b| b == 0xaa));
    }

    #[test]
    fn fill_checksum_gives_known_value() {
        let mut header = HEADER;
        header[10] = 0;
        header[11] = 0;
        let mut packet = Ipv4Packet::new_unchecked(&mut header[..]);
        assert!(!packet.verify_checksum());
        packet.fill_checksum();
        assert_eq!(packet.checksum(), 0xb861);
        assert!(packet.verify_checksum());
    }

    #[test]
    fn setters_build_known_header() {
        let mut bytes = [0u8; 20];
        let mut packet = Ipv4Packet::new_unchecked(&mut bytes[..]);
        packet.set_version(4);
        packet.set_header_len(20);
        packet.set_dscp(46);
        packet.set_ecn(1);
        assert_eq!(packet.tos(), 0xb9); // 101110 01
        packet.set_tos(0);
        packet.set_total_len(0x73);
        packet.set_ident(0);
        packet.set_dont_frag(true);
        packet.set_more_frags(true);
        packet.set_frag_offset(8 * 0x1fff);
        assert_eq!(packet.frag_offset(), 65528);
        packet.set_reserved_flag(true);
        packet.set_reserved_flag(false);
        packet.set_more_frags(false);
        packet.set_frag_offset(0);
        packet.set_ttl(64);
        packet.set_protocol(IpProtocol::UDP);
        packet.set_src_addr(Ipv4Addr::new(192, 168, 0, 1));
        packet.set_dst_addr(Ipv4Addr::new(192, 168, 0, 199));
        packet.fill_checksum();
        assert_eq!(bytes, HEADER);
    }

    #[test]
    fn flags_and_fragment_offset_bits() {
        // Flags/fragment word 0x3abc: reserved 0, DF 0, MF 1, offset 0x1abc units.
        let mut header = HEADER;
        header[6] = 0x3a;
        header[7] = 0xbc;
        let packet = Ipv4Packet::new_unchecked(&header[..]);
        assert!(!packet.reserved_flag());
        assert!(!packet.dont_frag());
        assert!(packet.more_frags());
        assert_eq!(packet.frag_offset(), 0x1abc * 8);
        header[6] = 0x80;
        header[7] = 0x00;
        let packet = Ipv4Packet::new_unchecked(&header[..]);
        assert!(packet.reserved_flag() && !packet.dont_frag() && !packet.more_frags());
    }

    #[test]
    fn decrement_ttl_patches_checksum() {
        let mut bytes = packet_bytes();
        let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        // TTL/protocol word 4011 -> 3f11 lowers the sum by 0100, so the
        // checksum rises by 0100: b861 -> b961.
        assert_eq!(packet.decrement_ttl(), Some(63));
        assert_eq!(packet.ttl(), 63);
        assert_eq!(packet.checksum(), 0xb961);
        assert!(packet.verify_checksum());
        for expected in (1..63).rev() {
            assert_eq!(packet.decrement_ttl(), Some(expected));
            assert!(packet.verify_checksum(), "ttl {expected}");
        }
        let before = packet.as_ref().to_vec();
        assert_eq!(packet.decrement_ttl(), None, "TTL 1 expires");
        assert_eq!(packet.as_ref(), &before[..], "expired packet untouched");
        packet.set_ttl(0);
        assert_eq!(packet.decrement_ttl(), None);
    }

    #[test]
    fn repr_round_trip_known_header() {
        let bytes = packet_bytes();
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        let repr = Ipv4Repr::parse(&packet).unwrap();
        assert_eq!(
            repr,
            Ipv4Repr {
                src_addr: Ipv4Addr::new(192, 168, 0, 1),
                dst_addr: Ipv4Addr::new(192, 168, 0, 199),
                protocol: IpProtocol::UDP,
                ttl: 64,
                tos: 0,
                ident: 0,
                dont_frag: true,
                more_frags: false,
                frag_offset: 0,
                options: Ipv4Options::EMPTY,
                payload_len: 95,
            }
        );
        assert_eq!(repr.buffer_len(), 0x73);
        let mut out = vec![0xaa; 0x73];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, bytes);
    }

    #[test]
    fn truncated_at_every_length() {
        let bytes = packet_bytes();
        for len in 0..20 {
            assert_eq!(
                Ipv4Packet::new_checked(&bytes[..len]).unwrap_err(),
                Error::Truncated
            );
            let unchecked = Ipv4Packet::new_unchecked(&bytes[..len]);
            assert_eq!(Ipv4Repr::parse(&unchecked).unwrap_err(), Error::Truncated);
        }
        // Cut anywhere inside the Total Length: the buffer no longer holds it.
        for len in 20..bytes.len() {
            assert_eq!(
                Ipv4Packet::new_checked(&bytes[..len]).unwrap_err(),
                Error::Ipv4BadTotalLength,
                "len {len}"
            );
        }
        for len in 0..WITH_OPTIONS.len() {
            assert!(Ipv4Packet::new_checked(&WITH_OPTIONS[..len]).is_err());
        }
    }

    #[test]
    fn bad_version() {
        for version in [0u8, 6, 15] {
            let mut header = HEADER;
            header[0] = (version << 4) | 5;
            assert_eq!(
                Ipv4Packet::new_checked(&header[..]).unwrap_err(),
                Error::BadVersion
            );
        }
    }

    #[test]
    fn bad_ihl() {
        for ihl in 0..5u8 {
            let mut bytes = packet_bytes();
            bytes[0] = 0x40 | ihl;
            assert_eq!(
                Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
                Error::Ipv4BadIhl
            );
        }
    }

    #[test]
    fn bad_total_length() {
        // Total Length 19: less than the 20-octet header.
        let mut bytes = packet_bytes();
        bytes[2] = 0;
        bytes[3] = 19;
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
            Error::Ipv4BadTotalLength
        );
        // Total Length 20 with IHL 6: less than the 24-octet header.
        bytes[0] = 0x46;
        bytes[3] = 20;
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
            Error::Ipv4BadTotalLength
        );
        // Total Length 116 in a 115-octet buffer.
        let mut bytes = packet_bytes();
        bytes[3] = 0x74;
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap_err(),
            Error::Ipv4BadTotalLength
        );
        // IHL 15 (60 octets) in a 20-octet buffer whose Total Length says 60:
        // the options run off the buffer.
        let mut header = HEADER;
        header[0] = 0x4f;
        header[3] = 60;
        assert_eq!(
            Ipv4Packet::new_checked(&header[..]).unwrap_err(),
            Error::Ipv4BadTotalLength
        );
        // Exact fit: Total Length 20, IHL 5, no payload.
        let mut header = HEADER;
        header[3] = 20;
        let packet = Ipv4Packet::new_checked(&header[..]).unwrap();
        assert!(packet.payload().is_empty());
    }

    #[test]
    fn repr_rejects_bad_checksum_and_reserved_flag() {
        let mut bytes = packet_bytes();
        bytes[11] ^= 0x01;
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert!(!packet.verify_checksum());
        assert_eq!(
            Ipv4Repr::parse(&packet).unwrap_err(),
            Error::Ipv4BadChecksum
        );

        let mut bytes = packet_bytes();
        let mut packet = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        packet.set_reserved_flag(true);
        packet.fill_checksum();
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&packet).unwrap_err(), Error::Malformed);
    }

    #[test]
    fn options_container() {
        assert!(Ipv4Options::new(&[]).unwrap().is_empty());
        assert_eq!(Ipv4Options::new(&[1, 2, 3, 4]).unwrap().len(), 4);
        assert_eq!(Ipv4Options::new(&[0; 40]).unwrap().len(), 40);
        assert_eq!(Ipv4Options::new(&[1, 2, 3]).unwrap_err(), Error::Malformed);
        assert_eq!(Ipv4Options::new(&[0; 44]).unwrap_err(), Error::Malformed);
        assert_eq!(Ipv4Options::default(), Ipv4Options::EMPTY);
        assert_ne!(
            Ipv4Options::new(&[1, 0, 0, 0]).unwrap(),
            Ipv4Options::new(&[2, 0, 0, 0]).unwrap()
        );
    }
}
