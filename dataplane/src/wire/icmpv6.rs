//! ICMPv6 messages (RFC 4443), the basics a router needs.
//!
//! What it is: a zero-copy view [`Icmpv6Packet`] over an ICMPv6 message (type,
//! code, checksum and the 4-octet message-specific field every defined message
//! starts with), checksum verification and filling over the IPv6
//! pseudo-header, the [`Icmpv6Message`] type numbers, and an [`Icmpv6Repr`]
//! for echo and the error messages.
//!
//! What it is not: no Neighbor Discovery option parsing (NDP messages parse
//! as [`Icmpv6Repr::Other`]), no RFC 4884 extension structures.
//!
//! Payload bytes (echo data, the invoking packet quoted by an error) are never
//! copied by the Repr: [`Icmpv6Repr::buffer_len`] counts them, and
//! [`Icmpv6Repr::emit`] writes the 8-octet header with a zero checksum and
//! leaves the payload region as it is. Write the payload, then call
//! [`Icmpv6Packet::fill_checksum`]. [`Icmpv6Repr::parse`] does not verify the
//! checksum (it needs the addresses): call [`Icmpv6Packet::verify_checksum`].
//!
//! The buffer handed to [`Icmpv6Packet`] should be exactly the ICMPv6 message
//! (the IPv6 upper-layer data): the checksum covers all of it.

use std::net::Ipv6Addr;

use super::{checksum, Error, IpProtocol, Result};

/// An ICMPv6 message type (IANA "ICMPv6 Parameters").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Icmpv6Message(pub u8);

impl Icmpv6Message {
    pub const DST_UNREACHABLE: Icmpv6Message = Icmpv6Message(1);
    pub const PKT_TOO_BIG: Icmpv6Message = Icmpv6Message(2);
    pub const TIME_EXCEEDED: Icmpv6Message = Icmpv6Message(3);
    pub const PARAM_PROBLEM: Icmpv6Message = Icmpv6Message(4);
    pub const ECHO_REQUEST: Icmpv6Message = Icmpv6Message(128);
    pub const ECHO_REPLY: Icmpv6Message = Icmpv6Message(129);
    pub const ROUTER_SOLICIT: Icmpv6Message = Icmpv6Message(133);
    pub const ROUTER_ADVERT: Icmpv6Message = Icmpv6Message(134);
    pub const NEIGHBOR_SOLICIT: Icmpv6Message = Icmpv6Message(135);
    pub const NEIGHBOR_ADVERT: Icmpv6Message = Icmpv6Message(136);
    pub const REDIRECT: Icmpv6Message = Icmpv6Message(137);

    /// An error message: types 0 to 127 (RFC 4443 §2.1). A router must never
    /// answer an error with an error (RFC 4443 §2.4(e)).
    #[inline]
    pub const fn is_error(self) -> bool {
        self.0 < 128
    }

    /// One of the five Neighbor Discovery messages of RFC 4861 (133 to 137).
    #[inline]
    pub const fn is_ndp(self) -> bool {
        matches!(self.0, 133..=137)
    }
}

// RFC 4443 §2.1, with the first four octets of the message body that every
// message defined by RFC 4443 and RFC 4861 has:
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |     Type      |     Code      |          Checksum             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |            Message-specific (Unused / MTU / Pointer /         |
// |            Identifier + Sequence Number / Reserved)           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |    Payload (invoking packet, echo data, NDP body) ...
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-
//
// Echo (§4.1, §4.2):   Identifier (4..6) | Sequence Number (6..8)
// Packet Too Big (§3.2): MTU (4..8)
// Parameter Problem (§3.4): Pointer (4..8)
mod field {
    use core::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const REST: Range<usize> = 4..8;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQ_NO: Range<usize> = 6..8;
    pub const PAYLOAD_START: usize = 8;
}

/// Length of the header this module reads: type, code, checksum and the
/// 4-octet message-specific field.
pub const HEADER_LEN: usize = field::PAYLOAD_START;

/// A read/write view of an ICMPv6 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic until
    /// [`check_len`](Self::check_len) has succeeded.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Icmpv6Packet<T> {
        Icmpv6Packet { buffer }
    }

    /// [`new_unchecked`](Self::new_unchecked) followed by
    /// [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Icmpv6Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// [`Error::Truncated`] if the buffer is shorter than 8 octets. Every
    /// message type defined by RFC 4443 and RFC 4861 is at least that long,
    /// so a shorter one is truncated whatever its type.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
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

    /// Type.
    #[inline]
    pub fn msg_type(&self) -> Icmpv6Message {
        Icmpv6Message(self.buffer.as_ref()[field::TYPE])
    }

    /// Code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.read_u16(field::CHECKSUM)
    }

    /// The 4-octet message-specific field as one number.
    #[inline]
    pub fn rest(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::REST];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Echo Identifier (meaningful for Echo Request and Reply).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        self.read_u16(field::ECHO_IDENT)
    }

    /// Echo Sequence Number (meaningful for Echo Request and Reply).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        self.read_u16(field::ECHO_SEQ_NO)
    }

    /// Parameter Problem Pointer: offset of the error in the invoking packet.
    #[inline]
    pub fn param_problem_ptr(&self) -> u32 {
        self.rest()
    }

    /// Packet Too Big MTU.
    #[inline]
    pub fn pkt_too_big_mtu(&self) -> u32 {
        self.rest()
    }

    /// Everything after the 8-octet header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD_START..]
    }

    /// True if the checksum over the IPv6 pseudo-header (`dst` is the final
    /// destination) and the whole buffer verifies.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        self.sum(src, dst) == 0xFFFF
    }

    #[inline]
    fn sum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> u16 {
        let message = self.buffer.as_ref();
        // An ICMPv6 message inside an IPv6 packet is below 2^32 octets; a
        // longer slice could only come from a caller error, and saturating
        // keeps this free of panics.
        let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
        checksum::combine(&[
            checksum::pseudo_header_v6(src, dst, IpProtocol::ICMPV6, len),
            checksum::data(message),
        ])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    #[inline]
    fn write_u16(&mut self, range: core::ops::Range<usize>, value: u16) {
        self.buffer.as_mut()[range].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets Type.
    #[inline]
    pub fn set_msg_type(&mut self, msg_type: Icmpv6Message) {
        self.buffer.as_mut()[field::TYPE] = msg_type.0;
    }

    /// Sets Code.
    #[inline]
    pub fn set_code(&mut self, code: u8) {
        self.buffer.as_mut()[field::CODE] = code;
    }

    /// Sets the Checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.write_u16(field::CHECKSUM, value);
    }

    /// Sets the whole 4-octet message-specific field.
    #[inline]
    pub fn set_rest(&mut self, value: u32) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the Echo Identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, ident: u16) {
        self.write_u16(field::ECHO_IDENT, ident);
    }

    /// Sets the Echo Sequence Number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, seq_no: u16) {
        self.write_u16(field::ECHO_SEQ_NO, seq_no);
    }

    /// Sets the Parameter Problem Pointer.
    #[inline]
    pub fn set_param_problem_ptr(&mut self, pointer: u32) {
        self.set_rest(pointer);
    }

    /// Sets the Packet Too Big MTU.
    #[inline]
    pub fn set_pkt_too_big_mtu(&mut self, mtu: u32) {
        self.set_rest(mtu);
    }

    /// Everything after the 8-octet header, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD_START..]
    }

    /// Computes and writes the checksum over the IPv6 pseudo-header (`dst` is
    /// the final destination) and the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let sum = self.sum(src, dst);
        self.set_checksum(!sum);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Icmpv6Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A parsed ICMPv6 header. Payload bytes stay in the buffer; the lengths
/// here say how many follow the 8-octet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv6Repr {
    /// Echo Request (type 128, code 0).
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data_len: usize,
    },
    /// Echo Reply (type 129, code 0).
    EchoReply {
        ident: u16,
        seq_no: u16,
        data_len: usize,
    },
    /// Destination Unreachable (type 1); `payload_len` is the quoted
    /// invoking packet.
    DstUnreachable { code: u8, payload_len: usize },
    /// Packet Too Big (type 2, code 0).
    PktTooBig { mtu: u32, payload_len: usize },
    /// Time Exceeded (type 3).
    TimeExceeded { code: u8, payload_len: usize },
    /// Parameter Problem (type 4).
    ParamProblem {
        code: u8,
        pointer: u32,
        payload_len: usize,
    },
    /// Anything else (NDP, echo with a non-zero code, unknown types), kept
    /// verbatim.
    Other {
        msg_type: Icmpv6Message,
        code: u8,
        rest: u32,
        payload_len: usize,
    },
}

impl Icmpv6Repr {
    /// Reads the header of `packet` after `check_len`; does not verify the
    /// checksum.
    ///
    /// Fields RFC 4443 tells receivers to ignore are ignored: the Unused
    /// field of Destination Unreachable and Time Exceeded, and the Code of
    /// Packet Too Big. [`emit`](Self::emit) writes them as zero, as
    /// originators must, so only messages with those fields zero round-trip
    /// byte for byte. Echo messages with a non-zero code parse as
    /// [`Other`](Self::Other).
    pub fn parse<T: AsRef<[u8]>>(packet: &Icmpv6Packet<T>) -> Result<Icmpv6Repr> {
        packet.check_len()?;
        let payload_len = packet.payload().len();
        let code = packet.code();
        Ok(match (packet.msg_type(), code) {
            (Icmpv6Message::ECHO_REQUEST, 0) => Icmpv6Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data_len: payload_len,
            },
            (Icmpv6Message::ECHO_REPLY, 0) => Icmpv6Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data_len: payload_len,
            },
            (Icmpv6Message::DST_UNREACHABLE, code) => {
                Icmpv6Repr::DstUnreachable { code, payload_len }
            }
            (Icmpv6Message::PKT_TOO_BIG, _) => Icmpv6Repr::PktTooBig {
                mtu: packet.pkt_too_big_mtu(),
                payload_len,
            },
            (Icmpv6Message::TIME_EXCEEDED, code) => Icmpv6Repr::TimeExceeded { code, payload_len },
            (Icmpv6Message::PARAM_PROBLEM, code) => Icmpv6Repr::ParamProblem {
                code,
                pointer: packet.param_problem_ptr(),
                payload_len,
            },
            (msg_type, code) => Icmpv6Repr::Other {
                msg_type,
                code,
                rest: packet.rest(),
                payload_len,
            },
        })
    }

    /// The Type this emits.
    pub const fn msg_type(&self) -> Icmpv6Message {
        match *self {
            Icmpv6Repr::EchoRequest { .. } => Icmpv6Message::ECHO_REQUEST,
            Icmpv6Repr::EchoReply { .. } => Icmpv6Message::ECHO_REPLY,
            Icmpv6Repr::DstUnreachable { .. } => Icmpv6Message::DST_UNREACHABLE,
            Icmpv6Repr::PktTooBig { .. } => Icmpv6Message::PKT_TOO_BIG,
            Icmpv6Repr::TimeExceeded { .. } => Icmpv6Message::TIME_EXCEEDED,
            Icmpv6Repr::ParamProblem { .. } => Icmpv6Message::PARAM_PROBLEM,
            Icmpv6Repr::Other { msg_type, .. } => msg_type,
        }
    }

    /// Octets after the 8-octet header.
    pub const fn payload_len(&self) -> usize {
        match *self {
            Icmpv6Repr::EchoRequest { data_len, .. } | Icmpv6Repr::EchoReply { data_len, .. } => {
                data_len
            }
            Icmpv6Repr::DstUnreachable { payload_len, .. }
            | Icmpv6Repr::PktTooBig { payload_len, .. }
            | Icmpv6Repr::TimeExceeded { payload_len, .. }
            | Icmpv6Repr::ParamProblem { payload_len, .. }
            | Icmpv6Repr::Other { payload_len, .. } => payload_len,
        }
    }

    /// The whole message: 8-octet header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }

    /// Writes type, code, the message-specific field and a zero checksum; the
    /// payload region is left as is (write it, then call
    /// [`Icmpv6Packet::fill_checksum`]).
    ///
    /// # Panics
    /// If the buffer is shorter than the 8-octet header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Icmpv6Packet<T>) {
        packet.set_msg_type(self.msg_type());
        packet.set_checksum(0);
        let (code, rest) = match *self {
            Icmpv6Repr::EchoRequest { ident, seq_no, .. }
            | Icmpv6Repr::EchoReply { ident, seq_no, .. } => {
                (0, u32::from(ident) << 16 | u32::from(seq_no))
            }
            Icmpv6Repr::DstUnreachable { code, .. } | Icmpv6Repr::TimeExceeded { code, .. } => {
                (code, 0)
            }
            Icmpv6Repr::PktTooBig { mtu, .. } => (0, mtu),
            Icmpv6Repr::ParamProblem { code, pointer, .. } => (code, pointer),
            Icmpv6Repr::Other { code, rest, .. } => (code, rest),
        };
        packet.set_code(code);
        packet.set_rest(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> Ipv6Addr {
        "2001:db8::1".parse().unwrap()
    }

    fn dst() -> Ipv6Addr {
        "2001:db8::2".parse().unwrap()
    }

    /// Echo Request 2001:db8::1 -> 2001:db8::2, identifier 0x1234, sequence 1,
    /// data "abcd". Checksum by hand: pseudo-header 2001 + 0db8 + 0001 +
    /// 2001 + 0db8 + 0002 + 000c (length) + 003a = 5bbb; message 8000 +
    /// 1234 + 0001 + 6162 + 6364 = 156fb -> 56fc; 5bbb + 56fc = b2b7,
    /// inverted 4d48.
    const ECHO_REQUEST: [u8; 12] = [
        0x80, 0x00, 0x4d, 0x48, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
    ];

    /// Packet Too Big, MTU 1280, quoting four octets of an IPv6 header
    /// (60 00 00 00). By hand: pseudo-header 2001 + 0db8 + 0001 + 2001 +
    /// 0db8 + 0002 + 000c + 003a = 5bbb; message 0200 + 0000 + 0500 +
    /// 6000 + 0000 = 6700; 5bbb + 6700 = c2bb, inverted 3d44.
    const PKT_TOO_BIG: [u8; 12] = [
        0x02, 0x00, 0x3d, 0x44, 0x00, 0x00, 0x05, 0x00, 0x60, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn message_types() {
        // RFC 4443 §2.1 / RFC 4861 §4 numbers.
        let errors = [1u8, 2, 3, 4];
        for t in errors {
            assert!(Icmpv6Message(t).is_error() && !Icmpv6Message(t).is_ndp());
        }
        assert!(Icmpv6Message(127).is_error());
        assert!(!Icmpv6Message(128).is_error());
        assert!(!Icmpv6Message::ECHO_REQUEST.is_ndp() && !Icmpv6Message::ECHO_REPLY.is_error());
        for t in 133..=137u8 {
            assert!(Icmpv6Message(t).is_ndp() && !Icmpv6Message(t).is_error());
        }
        assert!(!Icmpv6Message(132).is_ndp() && !Icmpv6Message(138).is_ndp());
        assert_eq!(Icmpv6Message::ROUTER_SOLICIT.0, 133);
        assert_eq!(Icmpv6Message::REDIRECT.0, 137);
    }

    #[test]
    fn echo_request_known() {
        let packet = Icmpv6Packet::new_checked(&ECHO_REQUEST[..]).unwrap();
        assert_eq!(packet.msg_type(), Icmpv6Message::ECHO_REQUEST);
        assert_eq!(packet.code(), 0);
        assert_eq!(packet.checksum(), 0x4d48);
        assert_eq!(packet.echo_ident(), 0x1234);
        assert_eq!(packet.echo_seq_no(), 1);
        assert_eq!(packet.rest(), 0x1234_0001);
        assert_eq!(packet.payload(), b"abcd");
        assert!(packet.verify_checksum(src(), dst()));
        assert!(!packet.verify_checksum(src(), "2001:db8::3".parse().unwrap()));
        let repr = Icmpv6Repr::parse(&packet).unwrap();
        assert_eq!(
            repr,
            Icmpv6Repr::EchoRequest {
                ident: 0x1234,
                seq_no: 1,
                data_len: 4
            }
        );
        assert_eq!(repr.buffer_len(), 12);

        let mut out = [0u8; 12];
        let mut packet = Icmpv6Packet::new_unchecked(&mut out[..]);
        repr.emit(&mut packet);
        packet.payload_mut().copy_from_slice(b"abcd");
        packet.fill_checksum(src(), dst());
        assert_eq!(out, ECHO_REQUEST);
    }

    #[test]
    fn pkt_too_big_known() {
        let packet = Icmpv6Packet::new_checked(&PKT_TOO_BIG[..]).unwrap();
        assert_eq!(packet.msg_type(), Icmpv6Message::PKT_TOO_BIG);
        assert_eq!(packet.pkt_too_big_mtu(), 1280);
        assert!(packet.verify_checksum(src(), dst()));
        let repr = Icmpv6Repr::parse(&packet).unwrap();
        assert_eq!(
            repr,
            Icmpv6Repr::PktTooBig {
                mtu: 1280,
                payload_len: 4
            }
        );
        let mut out = [0u8; 12];
        out[8..].copy_from_slice(&PKT_TOO_BIG[8..]);
        let mut packet = Icmpv6Packet::new_unchecked(&mut out[..]);
        repr.emit(&mut packet);
        packet.fill_checksum(src(), dst());
        assert_eq!(out, PKT_TOO_BIG);
    }

    #[test]
    fn setters_write_rfc_layout() {
        let mut bytes = [0u8; 8];
        let mut packet = Icmpv6Packet::new_unchecked(&mut bytes[..]);
        packet.set_msg_type(Icmpv6Message::PARAM_PROBLEM);
        packet.set_code(1);
        packet.set_checksum(0xabcd);
        packet.set_param_problem_ptr(40);
        assert_eq!(packet.param_problem_ptr(), 40);
        assert_eq!(bytes, [4, 1, 0xab, 0xcd, 0, 0, 0, 40]);
        let mut packet = Icmpv6Packet::new_unchecked(&mut bytes[..]);
        packet.set_echo_ident(0x0102);
        packet.set_echo_seq_no(0x0304);
        assert_eq!(&bytes[4..], &[1, 2, 3, 4]);
        let mut packet = Icmpv6Packet::new_unchecked(&mut bytes[..]);
        packet.set_pkt_too_big_mtu(1500);
        assert_eq!(&bytes[4..], &[0, 0, 0x05, 0xdc]);
        let mut packet = Icmpv6Packet::new_unchecked(&mut bytes[..]);
        packet.set_rest(0xdead_beef);
        assert_eq!(
            packet.into_inner(),
            &[4, 1, 0xab, 0xcd, 0xde, 0xad, 0xbe, 0xef]
        );
    }

    #[test]
    fn repr_variants_emit_rfc_layout() {
        let cases = [
            (
                Icmpv6Repr::EchoReply {
                    ident: 7,
                    seq_no: 9,
                    data_len: 0,
                },
                [129, 0, 0, 0, 0, 7, 0, 9],
            ),
            (
                Icmpv6Repr::DstUnreachable {
                    code: 3,
                    payload_len: 0,
                },
                [1, 3, 0, 0, 0, 0, 0, 0],
            ),
            (
                Icmpv6Repr::TimeExceeded {
                    code: 1,
                    payload_len: 0,
                },
                [3, 1, 0, 0, 0, 0, 0, 0],
            ),
            (
                Icmpv6Repr::ParamProblem {
                    code: 0,
                    pointer: 0x0102_0304,
                    payload_len: 0,
                },
                [4, 0, 0, 0, 1, 2, 3, 4],
            ),
            (
                Icmpv6Repr::Other {
                    msg_type: Icmpv6Message::NEIGHBOR_SOLICIT,
                    code: 0,
                    rest: 0,
                    payload_len: 0,
                },
                [135, 0, 0, 0, 0, 0, 0, 0],
            ),
        ];
        for (repr, expected) in cases {
            let mut out = [0xffu8; 8];
            repr.emit(&mut Icmpv6Packet::new_unchecked(&mut out[..]));
            assert_eq!(out, expected, "{repr:?}");
            let parsed = Icmpv6Repr::parse(&Icmpv6Packet::new_checked(&out[..]).unwrap()).unwrap();
            assert_eq!(parsed, repr);
        }
    }

    #[test]
    fn ignored_fields_and_other() {
        // Destination Unreachable with a non-zero Unused field: ignored.
        let bytes = [1u8, 4, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x60];
        let repr = Icmpv6Repr::parse(&Icmpv6Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(
            repr,
            Icmpv6Repr::DstUnreachable {
                code: 4,
                payload_len: 1
            }
        );
        // Packet Too Big with a non-zero code: code ignored.
        let bytes = [2u8, 9, 0, 0, 0, 0, 0x05, 0xdc];
        let repr = Icmpv6Repr::parse(&Icmpv6Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(
            repr,
            Icmpv6Repr::PktTooBig {
                mtu: 1500,
                payload_len: 0
            }
        );
        // Echo Request with code 1 is not an echo request we answer.
        let bytes = [128u8, 1, 0, 0, 0, 1, 0, 2];
        let repr = Icmpv6Repr::parse(&Icmpv6Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(
            repr,
            Icmpv6Repr::Other {
                msg_type: Icmpv6Message::ECHO_REQUEST,
                code: 1,
                rest: 0x0001_0002,
                payload_len: 0
            }
        );
    }

    #[test]
    fn truncated_at_every_length() {
        for len in 0..8 {
            assert_eq!(
                Icmpv6Packet::new_checked(&ECHO_REQUEST[..len]).unwrap_err(),
                Error::Truncated
            );
            let unchecked = Icmpv6Packet::new_unchecked(&ECHO_REQUEST[..len]);
            assert_eq!(Icmpv6Repr::parse(&unchecked).unwrap_err(), Error::Truncated);
        }
        let header_only = Icmpv6Packet::new_checked(&ECHO_REQUEST[..8]).unwrap();
        assert!(header_only.payload().is_empty());
    }
}
