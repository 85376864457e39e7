//! STAMP TLVs (RFC 8972 §4) and the Segment Routing TLVs of RFC 9503.
//!
//! What it is: a zero-copy view [`Tlv`] over one TLV, an iterator
//! [`TlvIter`] over a TLV area (the octets after the base packet), a
//! per-type check [`is_well_formed`] (which the reflector uses to set the
//! M flag) and a plain-data [`TlvRepr`].
//!
//! What it is not: the reflector's handling of the U, M and I flags
//! (`reflector`), or HMAC computation (`auth`).
//!
//! Type numbers (IANA "STAMP TLV Types" registry): 1 to 8 from RFC 8972
//! §5.2 (Extra Padding, Location, Timestamp Information, Class of
//! Service, Direct Measurement, Access Report, Follow-Up Telemetry, HMAC),
//! 9 and 10 from RFC 9503 §6 (Destination Node Address, Return Path).
//! Return Path sub-TLV types 1 to 4 from RFC 9503 §6 (Return Path Control
//! Code, Return Address, SR-MPLS Label Stack, SRv6 Segment List).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};

/// Extra Padding TLV (RFC 8972 §4.1).
pub const EXTRA_PADDING: u8 = 1;
/// Location TLV (RFC 8972 §4.2).
pub const LOCATION: u8 = 2;
/// Timestamp Information TLV (RFC 8972 §4.3).
pub const TIMESTAMP_INFORMATION: u8 = 3;
/// Class of Service TLV (RFC 8972 §4.4).
pub const CLASS_OF_SERVICE: u8 = 4;
/// Direct Measurement TLV (RFC 8972 §4.5).
pub const DIRECT_MEASUREMENT: u8 = 5;
/// Access Report TLV (RFC 8972 §4.6).
pub const ACCESS_REPORT: u8 = 6;
/// Follow-Up Telemetry TLV (RFC 8972 §4.7).
pub const FOLLOW_UP_TELEMETRY: u8 = 7;
/// HMAC TLV (RFC 8972 §4.8).
pub const HMAC: u8 = 8;
/// Destination Node Address TLV (RFC 9503 §3).
pub const DESTINATION_NODE_ADDRESS: u8 = 9;
/// Return Path TLV (RFC 9503 §4).
pub const RETURN_PATH: u8 = 10;

/// Return Path sub-TLV: Return Path Control Code (RFC 9503 §4.1.1).
pub const SUB_CONTROL_CODE: u8 = 1;
/// Return Path sub-TLV: Return Address (RFC 9503 §4.1.2).
pub const SUB_RETURN_ADDRESS: u8 = 2;
/// Return Path sub-TLV: SR-MPLS Label Stack (RFC 9503 §4.1.3).
pub const SUB_SR_MPLS_LABEL_STACK: u8 = 3;
/// Return Path sub-TLV: SRv6 Segment List (RFC 9503 §4.1.3).
pub const SUB_SRV6_SEGMENT_LIST: u8 = 4;

/// Location sub-TLV (RFC 8972 §4.2, IANA "STAMP Sub-TLV Types"): Source
/// MAC Address, the sender's generic request (Length 8).
pub const SUB_LOC_SOURCE_MAC: u8 = 1;
/// Location sub-TLV: Source EUI-48 Address (6 octets, 2 MBZ).
pub const SUB_LOC_SOURCE_EUI48: u8 = 2;
/// Location sub-TLV: Source EUI-64 Address.
pub const SUB_LOC_SOURCE_EUI64: u8 = 3;
/// Location sub-TLV: Destination IP Address, the sender's generic request
/// (Length 16, MBZ).
pub const SUB_LOC_DESTINATION_IP: u8 = 4;
/// Location sub-TLV: Destination IPv4 Address (4 octets, 12 MBZ).
pub const SUB_LOC_DESTINATION_IPV4: u8 = 5;
/// Location sub-TLV: Destination IPv6 Address.
pub const SUB_LOC_DESTINATION_IPV6: u8 = 6;
/// Location sub-TLV: Source IP Address, the sender's generic request
/// (Length 16, MBZ).
pub const SUB_LOC_SOURCE_IP: u8 = 7;
/// Location sub-TLV: Source IPv4 Address (4 octets, 12 MBZ).
pub const SUB_LOC_SOURCE_IPV4: u8 = 8;
/// Location sub-TLV: Source IPv6 Address.
pub const SUB_LOC_SOURCE_IPV6: u8 = 9;
/// Value length of every Location IP address sub-TLV.
pub const SUB_LOC_IP_LEN: usize = 16;

/// Length of the TLV header: Flags, Type and Length.
pub const HEADER_LEN: usize = field::VALUE;
/// Length of the value of an HMAC TLV.
pub const HMAC_VALUE_LEN: usize = 16;

/// True for the TLV types this module knows (1 to 10).
pub const fn is_known_type(tlv_type: u8) -> bool {
    matches!(tlv_type, EXTRA_PADDING..=RETURN_PATH)
}

//  RFC 8972 §4, TLV (RFC 9503 sub-TLVs have the same header):
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |STAMP TLV Flags|     Type      |           Length              |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  ~                            Value                              ~
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//  STAMP TLV Flags (§4):  0 1 2 3 4 5 6 7
//                        +-+-+-+-+-+-+-+-+
//                        |U|M|I|   Resv  |
//                        +-+-+-+-+-+-+-+-+
//
//  Length is the length of the Value in octets.
//
//  Values (offsets within Value):
//
//  Location (§4.2): Destination Port (0..2), Source Port (2..4), sub-TLVs.
//  Timestamp Information (§4.3): Sync Src In (0), Timestamp In (1),
//    Sync Src Out (2), Timestamp Out (3), optional sub-TLVs.
//  Class of Service (§4.4), Length 4:
//    |   DSCP1   |   DSCP2   |ECN| RP|          Reserved             |
//  Direct Measurement (§4.5), Length 12: Session-Sender Tx counter
//    (0..4), Session-Reflector Rx counter (4..8), Session-Reflector Tx
//    counter (8..12).
//  Access Report (§4.6), Length 4:
//    |  ID   | Resv  |  Return Code  |          Reserved             |
//  Follow-Up Telemetry (§4.7), Length 16: Sequence Number (0..4),
//    Follow-up Timestamp (4..12), Timestamp M (12), Reserved (13..16).
//  HMAC (§4.8), Length 16: HMAC.
//  Destination Node Address (RFC 9503 §3), Length 4 or 16: the address.
//  Return Path (RFC 9503 §4): sub-TLVs, each with the header above:
//    Control Code (1), Length 4: Control Code Flags (32 bits);
//    Return Address (2), Length 4 or 16;
//    SR-MPLS Label Stack (3), Length 4n: label stack entries;
//    SRv6 Segment List (4), Length 16n: SIDs.
mod field {
    use core::ops::Range;

    pub const FLAGS: usize = 0;
    pub const TYPE: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const VALUE: usize = 4;

    // Within the value.
    pub const LOC_DST_PORT: Range<usize> = 0..2;
    pub const LOC_SRC_PORT: Range<usize> = 2..4;
    pub const LOC_SUB_TLVS: usize = 4;
    pub const TSI_SUB_TLVS: usize = 4;
    pub const DM_SENDER_TX: Range<usize> = 0..4;
    pub const DM_REFLECTOR_RX: Range<usize> = 4..8;
    pub const DM_REFLECTOR_TX: Range<usize> = 8..12;
    pub const FUT_SEQUENCE: Range<usize> = 0..4;
    pub const FUT_TIMESTAMP: Range<usize> = 4..12;
    pub const FUT_MODE: usize = 12;
}

const FLAG_U: u8 = 0x80;
const FLAG_M: u8 = 0x40;
const FLAG_I: u8 = 0x20;

/// Length of the value of a Class of Service, Access Report or Control
/// Code TLV.
const LEN_4: usize = 4;
const LEN_DIRECT_MEASUREMENT: usize = 12;
const LEN_FOLLOW_UP: usize = 16;

/// The STAMP TLV Flags (RFC 8972 §4). The five reserved bits are not
/// kept: they are written as zero and ignored on receipt (§4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TlvFlags {
    /// U: the Session-Reflector did not recognize the type.
    pub unrecognized: bool,
    /// M: the Session-Reflector found the TLV malformed.
    pub malformed: bool,
    /// I: the integrity check (HMAC TLV) failed.
    pub integrity: bool,
}

impl TlvFlags {
    /// Reads the flags octet (reserved bits ignored).
    pub const fn from_u8(value: u8) -> TlvFlags {
        TlvFlags {
            unrecognized: value & FLAG_U != 0,
            malformed: value & FLAG_M != 0,
            integrity: value & FLAG_I != 0,
        }
    }

    /// The flags octet, reserved bits zero.
    pub const fn to_u8(self) -> u8 {
        (if self.unrecognized { FLAG_U } else { 0 })
            | (if self.malformed { FLAG_M } else { 0 })
            | (if self.integrity { FLAG_I } else { 0 })
    }
}

impl From<u8> for TlvFlags {
    fn from(value: u8) -> TlvFlags {
        TlvFlags::from_u8(value)
    }
}

impl From<TlvFlags> for u8 {
    fn from(flags: TlvFlags) -> u8 {
        flags.to_u8()
    }
}

/// A read/write view of one TLV (or Return Path sub-TLV).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Tlv<T> {
    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Tlv<T> {
        Tlv { buffer }
    }

    /// [`new_unchecked`](Self::new_unchecked) then [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Tlv<T>> {
        let tlv = Self::new_unchecked(buffer);
        tlv.check_len()?;
        Ok(tlv)
    }

    /// [`Error::TlvTruncated`] if the buffer is shorter than the 4-octet
    /// header, [`Error::TlvBadLength`] if it is shorter than header plus
    /// Length. A longer buffer is fine (the excess is not part of the TLV).
    /// After this succeeds no accessor panics.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::TlvTruncated);
        }
        if len < self.total_len() {
            return Err(Error::TlvBadLength);
        }
        Ok(())
    }

    /// Gives the buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The flags octet as on the wire, reserved bits included.
    #[inline]
    pub fn flags_byte(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// The U, M and I flags.
    #[inline]
    pub fn flags(&self) -> TlvFlags {
        TlvFlags::from_u8(self.flags_byte())
    }

    /// The Type field.
    #[inline]
    pub fn tlv_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// The Length field: octets of value.
    #[inline]
    pub fn length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Header plus value: `4 + Length`.
    #[inline]
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.length())
    }

    /// The value (Length octets after the header).
    #[inline]
    pub fn value(&self) -> &[u8] {
        &self.buffer.as_ref()[field::VALUE..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Tlv<T> {
    /// Sets the flags octet as it is, reserved bits included.
    #[inline]
    pub fn set_flags_byte(&mut self, value: u8) {
        self.buffer.as_mut()[field::FLAGS] = value;
    }

    /// Sets U, M and I and clears the reserved bits.
    #[inline]
    pub fn set_flags(&mut self, flags: TlvFlags) {
        self.set_flags_byte(flags.to_u8());
    }

    /// Sets the Type field.
    #[inline]
    pub fn set_tlv_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::TYPE] = value;
    }

    /// Sets the Length field.
    #[inline]
    pub fn set_length(&mut self, value: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes());
    }

    /// The value, mutably.
    #[inline]
    pub fn value_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        &mut self.buffer.as_mut()[field::VALUE..end]
    }
}

/// Iterator over the TLVs of a TLV area. Each item is a view over exactly
/// one TLV (header and value). A header that does not fit
/// ([`Error::TlvTruncated`]) or a Length running past the end
/// ([`Error::TlvBadLength`]) yields one error and ends the iteration; every
/// other step consumes at least 4 octets, so the iterator never loops.
#[derive(Debug, Clone)]
pub struct TlvIter<'a> {
    area: &'a [u8],
    pos: usize,
}

impl<'a> TlvIter<'a> {
    /// Iterates over `area`, the octets after the base packet.
    pub const fn new(area: &'a [u8]) -> TlvIter<'a> {
        TlvIter { area, pos: 0 }
    }

    /// Offset within the area of the TLV the next call to `next` returns
    /// (for in-place changes such as setting the U flag).
    pub const fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Result<Tlv<&'a [u8]>>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.area.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        match Tlv::new_checked(rest) {
            Ok(tlv) => {
                let total = tlv.total_len();
                self.pos += total;
                Some(Ok(Tlv::new_unchecked(&rest[..total])))
            }
            Err(e) => {
                self.pos = self.area.len();
                Some(Err(e))
            }
        }
    }
}

fn u16_at(b: &[u8], r: core::ops::Range<usize>) -> u16 {
    let b = &b[r];
    u16::from_be_bytes([b[0], b[1]])
}

fn u32_at(b: &[u8], r: core::ops::Range<usize>) -> u32 {
    let b = &b[r];
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn addr_from(value: &[u8]) -> Result<IpAddr> {
    match value.len() {
        4 => Ok(IpAddr::V4(Ipv4Addr::new(
            value[0], value[1], value[2], value[3],
        ))),
        16 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(value);
            Ok(IpAddr::V6(Ipv6Addr::from(o)))
        }
        _ => Err(Error::TlvMalformed),
    }
}

/// Checks the sub-TLVs of a Return Path TLV: whole sub-TLVs, and each
/// known sub-TLV with the length of its type.
fn check_return_path(value: &[u8]) -> Result<()> {
    for sub in TlvIter::new(value) {
        let sub = sub.map_err(|_| Error::TlvMalformed)?;
        let len = sub.value().len();
        let ok = match sub.tlv_type() {
            SUB_CONTROL_CODE => len == LEN_4,
            SUB_RETURN_ADDRESS => len == 4 || len == 16,
            SUB_SR_MPLS_LABEL_STACK => len % 4 == 0,
            SUB_SRV6_SEGMENT_LIST => len % 16 == 0,
            _ => true,
        };
        if !ok {
            return Err(Error::TlvMalformed);
        }
    }
    Ok(())
}

/// Checks that the value of a TLV of type `tlv_type` has the layout of
/// its type: [`Error::TlvMalformed`] otherwise. Unknown types pass.
/// Allocation-free, for the reflector's hot path.
pub fn check_value(tlv_type: u8, value: &[u8]) -> Result<()> {
    let len = value.len();
    let ok = match tlv_type {
        EXTRA_PADDING => true,
        LOCATION | TIMESTAMP_INFORMATION => len >= 4,
        CLASS_OF_SERVICE | ACCESS_REPORT => len == LEN_4,
        DIRECT_MEASUREMENT => len == LEN_DIRECT_MEASUREMENT,
        FOLLOW_UP_TELEMETRY => len == LEN_FOLLOW_UP,
        HMAC => len == HMAC_VALUE_LEN,
        DESTINATION_NODE_ADDRESS => len == 4 || len == 16,
        RETURN_PATH => return check_return_path(value),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::TlvMalformed)
    }
}

/// True unless the TLV is of a known type and its value does not have the
/// layout of that type (wrong Length, sub-TLVs that do not add up). The
/// reflector sets the M flag on a TLV for which this is false.
pub fn is_well_formed<T: AsRef<[u8]>>(tlv: &Tlv<T>) -> bool {
    check_value(tlv.tlv_type(), tlv.value()).is_ok()
}

/// A Return Path sub-TLV (RFC 9503 §4.1) as plain data. The flags octet of
/// a known sub-TLV is not kept (written as zero).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReturnPathSubTlv {
    /// Return Path Control Code Flags (RFC 9503 §4.1.1); the least
    /// significant bit set asks for the reply on the same link.
    ControlCode(u32),
    /// Return Address (RFC 9503 §4.1.2).
    ReturnAddress(IpAddr),
    /// SR-MPLS Label Stack (RFC 9503 §4.1.3): label stack entries as on
    /// the wire (Label 20 bits, TC 3, S 1, TTL 8), top of stack first.
    SrMplsLabelStack(Vec<u32>),
    /// SRv6 Segment List (RFC 9503 §4.1.3): SIDs, first segment first.
    Srv6SegmentList(Vec<Ipv6Addr>),
    /// A sub-TLV of another type.
    Unknown {
        /// The flags octet as on the wire.
        flags: u8,
        /// The sub-TLV type.
        sub_type: u8,
        /// The value.
        value: Vec<u8>,
    },
}

impl ReturnPathSubTlv {
    fn parse(sub: &Tlv<&[u8]>) -> Result<ReturnPathSubTlv> {
        // Lengths were checked by `check_return_path` on the whole TLV.
        let v = sub.value();
        Ok(match sub.tlv_type() {
            SUB_CONTROL_CODE => ReturnPathSubTlv::ControlCode(u32_at(v, 0..4)),
            SUB_RETURN_ADDRESS => ReturnPathSubTlv::ReturnAddress(addr_from(v)?),
            SUB_SR_MPLS_LABEL_STACK => ReturnPathSubTlv::SrMplsLabelStack(
                v.chunks_exact(4).map(|c| u32_at(c, 0..4)).collect(),
            ),
            SUB_SRV6_SEGMENT_LIST => ReturnPathSubTlv::Srv6SegmentList(
                v.chunks_exact(16)
                    .map(|c| {
                        let mut o = [0u8; 16];
                        o.copy_from_slice(c);
                        Ipv6Addr::from(o)
                    })
                    .collect(),
            ),
            sub_type => ReturnPathSubTlv::Unknown {
                flags: sub.flags_byte(),
                sub_type,
                value: v.to_vec(),
            },
        })
    }

    /// Octets of value.
    fn value_len(&self) -> usize {
        match self {
            ReturnPathSubTlv::ControlCode(_) => LEN_4,
            ReturnPathSubTlv::ReturnAddress(IpAddr::V4(_)) => 4,
            ReturnPathSubTlv::ReturnAddress(IpAddr::V6(_)) => 16,
            ReturnPathSubTlv::SrMplsLabelStack(l) => 4 * l.len(),
            ReturnPathSubTlv::Srv6SegmentList(s) => 16 * s.len(),
            ReturnPathSubTlv::Unknown { value, .. } => value.len(),
        }
    }

    /// Octets on the wire: header and value.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.value_len()
    }

    /// Writes the sub-TLV into `buf`, exactly [`buffer_len`](Self::buffer_len)
    /// octets. Panics if the value is longer than 65535 octets.
    fn emit(&self, buf: &mut [u8]) {
        let (flags, sub_type) = match self {
            ReturnPathSubTlv::ControlCode(_) => (0, SUB_CONTROL_CODE),
            ReturnPathSubTlv::ReturnAddress(_) => (0, SUB_RETURN_ADDRESS),
            ReturnPathSubTlv::SrMplsLabelStack(_) => (0, SUB_SR_MPLS_LABEL_STACK),
            ReturnPathSubTlv::Srv6SegmentList(_) => (0, SUB_SRV6_SEGMENT_LIST),
            ReturnPathSubTlv::Unknown {
                flags, sub_type, ..
            } => (*flags, *sub_type),
        };
        let mut t = Tlv::new_unchecked(buf);
        t.set_flags_byte(flags);
        t.set_tlv_type(sub_type);
        t.set_length(value_len_u16(self.value_len()));
        let v = t.value_mut();
        match self {
            ReturnPathSubTlv::ControlCode(c) => v.copy_from_slice(&c.to_be_bytes()),
            ReturnPathSubTlv::ReturnAddress(a) => v.copy_from_slice(&addr_octets(a)),
            ReturnPathSubTlv::SrMplsLabelStack(l) => {
                for (c, e) in v.chunks_exact_mut(4).zip(l) {
                    c.copy_from_slice(&e.to_be_bytes());
                }
            }
            ReturnPathSubTlv::Srv6SegmentList(s) => {
                for (c, sid) in v.chunks_exact_mut(16).zip(s) {
                    c.copy_from_slice(&sid.octets());
                }
            }
            ReturnPathSubTlv::Unknown { value, .. } => v.copy_from_slice(value),
        }
    }
}

fn addr_octets(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn value_len_u16(len: usize) -> u16 {
    u16::try_from(len).expect("STAMP TLV value longer than 65535 octets")
}

/// A STAMP TLV as plain data. Every variant carries the U, M and I flags.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TlvRepr {
    /// Extra Padding (RFC 8972 §4.1): octets of padding.
    ExtraPadding {
        /// U, M, I.
        flags: TlvFlags,
        /// The padding octets.
        padding: Vec<u8>,
    },
    /// Location (RFC 8972 §4.2): the UDP ports as the Session-Reflector
    /// saw them, and the sub-TLVs (addresses) as raw octets.
    Location {
        /// U, M, I.
        flags: TlvFlags,
        /// Destination Port.
        dst_port: u16,
        /// Source Port.
        src_port: u16,
        /// The sub-TLVs, raw (RFC 8972 §4.2.1 sub-TLV format).
        sub_tlvs: Vec<u8>,
    },
    /// Timestamp Information (RFC 8972 §4.3): synchronization sources
    /// and timestamping methods (IANA registries of §5.4 and §5.5).
    TimestampInformation {
        /// U, M, I.
        flags: TlvFlags,
        /// Sync Source In.
        sync_src_in: u8,
        /// Timestamp In (method).
        timestamp_in: u8,
        /// Sync Source Out.
        sync_src_out: u8,
        /// Timestamp Out (method).
        timestamp_out: u8,
        /// Optional sub-TLVs, raw.
        sub_tlvs: Vec<u8>,
    },
    /// Class of Service (RFC 8972 §4.4).
    ClassOfService {
        /// U, M, I.
        flags: TlvFlags,
        /// DSCP1: the DSCP the Session-Sender asks the reflector to use
        /// (6 bits).
        dscp1: u8,
        /// DSCP2: the DSCP the reflector received (6 bits).
        dscp2: u8,
        /// ECN the reflector received (2 bits).
        ecn: u8,
        /// RP, Reverse Path (2 bits).
        rp: u8,
    },
    /// Direct Measurement (RFC 8972 §4.5): packet counters.
    DirectMeasurement {
        /// U, M, I.
        flags: TlvFlags,
        /// Session-Sender Tx counter (S_TxC).
        sender_tx: u32,
        /// Session-Reflector Rx counter (R_RxC).
        reflector_rx: u32,
        /// Session-Reflector Tx counter (R_TxC).
        reflector_tx: u32,
    },
    /// Access Report (RFC 8972 §4.6).
    AccessReport {
        /// U, M, I.
        flags: TlvFlags,
        /// Access ID (4 bits).
        id: u8,
        /// Return Code.
        return_code: u8,
    },
    /// Follow-Up Telemetry (RFC 8972 §4.7).
    FollowUpTelemetry {
        /// U, M, I.
        flags: TlvFlags,
        /// Sequence Number of the previous reflected packet.
        sequence: u32,
        /// Follow-up Timestamp (64 wire bits).
        timestamp: u64,
        /// Timestamp M(ode) (RFC 8972 §5.4 registry).
        timestamp_mode: u8,
    },
    /// HMAC (RFC 8972 §4.8).
    Hmac {
        /// U, M, I.
        flags: TlvFlags,
        /// HMAC-SHA-256 truncated to 16 octets (see `auth`).
        hmac: [u8; 16],
    },
    /// Destination Node Address (RFC 9503 §3).
    DestinationNodeAddress {
        /// U, M, I.
        flags: TlvFlags,
        /// The address.
        address: IpAddr,
    },
    /// Return Path (RFC 9503 §4).
    ReturnPath {
        /// U, M, I.
        flags: TlvFlags,
        /// The sub-TLVs, in order.
        sub_tlvs: Vec<ReturnPathSubTlv>,
    },
    /// A TLV of a type not listed above.
    Unknown {
        /// U, M, I.
        flags: TlvFlags,
        /// The Type field.
        tlv_type: u8,
        /// The value.
        value: Vec<u8>,
    },
}

impl TlvRepr {
    /// Reads a TLV; [`Error::TlvMalformed`] if a known type's value does not
    /// have its layout (see [`check_value`]). Reserved bits (flags,
    /// reserved fields) are not kept.
    pub fn parse<T: AsRef<[u8]>>(tlv: &Tlv<T>) -> Result<TlvRepr> {
        tlv.check_len()?;
        let flags = tlv.flags();
        let v = tlv.value();
        check_value(tlv.tlv_type(), v)?;
        Ok(match tlv.tlv_type() {
            EXTRA_PADDING => TlvRepr::ExtraPadding {
                flags,
                padding: v.to_vec(),
            },
            LOCATION => TlvRepr::Location {
                flags,
                dst_port: u16_at(v, field::LOC_DST_PORT),
                src_port: u16_at(v, field::LOC_SRC_PORT),
                sub_tlvs: v[field::LOC_SUB_TLVS..].to_vec(),
            },
            TIMESTAMP_INFORMATION => TlvRepr::TimestampInformation {
                flags,
                sync_src_in: v[0],
                timestamp_in: v[1],
                sync_src_out: v[2],
                timestamp_out: v[3],
                sub_tlvs: v[field::TSI_SUB_TLVS..].to_vec(),
            },
            CLASS_OF_SERVICE => TlvRepr::ClassOfService {
                flags,
                dscp1: v[0] >> 2,
                dscp2: ((v[0] & 0x03) << 4) | (v[1] >> 4),
                ecn: (v[1] >> 2) & 0x03,
                rp: v[1] & 0x03,
            },
            DIRECT_MEASUREMENT => TlvRepr::DirectMeasurement {
                flags,
                sender_tx: u32_at(v, field::DM_SENDER_TX),
                reflector_rx: u32_at(v, field::DM_REFLECTOR_RX),
                reflector_tx: u32_at(v, field::DM_REFLECTOR_TX),
            },
            ACCESS_REPORT => TlvRepr::AccessReport {
                flags,
                id: v[0] >> 4,
                return_code: v[1],
            },
            FOLLOW_UP_TELEMETRY => {
                let t = &v[field::FUT_TIMESTAMP];
                let mut b = [0u8; 8];
                b.copy_from_slice(t);
                TlvRepr::FollowUpTelemetry {
                    flags,
                    sequence: u32_at(v, field::FUT_SEQUENCE),
                    timestamp: u64::from_be_bytes(b),
                    timestamp_mode: v[field::FUT_MODE],
                }
            }
            HMAC => {
                let mut hmac = [0u8; 16];
                hmac.copy_from_slice(v);
                TlvRepr::Hmac { flags, hmac }
            }
            DESTINATION_NODE_ADDRESS => TlvRepr::DestinationNodeAddress {
                flags,
                address: addr_from(v)?,
            },
            RETURN_PATH => TlvRepr::ReturnPath {
                flags,
                sub_tlvs: TlvIter::new(v)
                    .map(|s| {
                        s.map_err(|_| Error::TlvMalformed)
                            .and_then(|s| ReturnPathSubTlv::parse(&s))
                    })
                    .collect::<Result<_>>()?,
            },
            tlv_type => TlvRepr::Unknown {
                flags,
                tlv_type,
                value: v.to_vec(),
            },
        })
    }

    /// The U, M and I flags.
    pub fn flags(&self) -> TlvFlags {
        match self {
            TlvRepr::ExtraPadding { flags, .. }
            | TlvRepr::Location { flags, .. }
            | TlvRepr::TimestampInformation { flags, .. }
            | TlvRepr::ClassOfService { flags, .. }
            | TlvRepr::DirectMeasurement { flags, .. }
            | TlvRepr::AccessReport { flags, .. }
            | TlvRepr::FollowUpTelemetry { flags, .. }
            | TlvRepr::Hmac { flags, .. }
            | TlvRepr::DestinationNodeAddress { flags, .. }
            | TlvRepr::ReturnPath { flags, .. }
            | TlvRepr::Unknown { flags, .. } => *flags,
        }
    }

    /// The Type field this TLV is written with.
    pub fn tlv_type(&self) -> u8 {
        match self {
            TlvRepr::ExtraPadding { .. } => EXTRA_PADDING,
            TlvRepr::Location { .. } => LOCATION,
            TlvRepr::TimestampInformation { .. } => TIMESTAMP_INFORMATION,
            TlvRepr::ClassOfService { .. } => CLASS_OF_SERVICE,
            TlvRepr::DirectMeasurement { .. } => DIRECT_MEASUREMENT,
            TlvRepr::AccessReport { .. } => ACCESS_REPORT,
            TlvRepr::FollowUpTelemetry { .. } => FOLLOW_UP_TELEMETRY,
            TlvRepr::Hmac { .. } => HMAC,
            TlvRepr::DestinationNodeAddress { .. } => DESTINATION_NODE_ADDRESS,
            TlvRepr::ReturnPath { .. } => RETURN_PATH,
            TlvRepr::Unknown { tlv_type, .. } => *tlv_type,
        }
    }

    fn value_len(&self) -> usize {
        match self {
            TlvRepr::ExtraPadding { padding, .. } => padding.len(),
            TlvRepr::Location { sub_tlvs, .. } => field::LOC_SUB_TLVS + sub_tlvs.len(),
            TlvRepr::TimestampInformation { sub_tlvs, .. } => field::TSI_SUB_TLVS + sub_tlvs.len(),
            TlvRepr::ClassOfService { .. } | TlvRepr::AccessReport { .. } => LEN_4,
            TlvRepr::DirectMeasurement { .. } => LEN_DIRECT_MEASUREMENT,
            TlvRepr::FollowUpTelemetry { .. } => LEN_FOLLOW_UP,
            TlvRepr::Hmac { .. } => HMAC_VALUE_LEN,
            TlvRepr::DestinationNodeAddress { address, .. } => match address {
                IpAddr::V4(_) => 4,
                IpAddr::V6(_) => 16,
            },
            TlvRepr::ReturnPath { sub_tlvs, .. } => {
                sub_tlvs.iter().map(ReturnPathSubTlv::buffer_len).sum()
            }
            TlvRepr::Unknown { value, .. } => value.len(),
        }
    }

    /// Octets on the wire: the 4-octet header and the value.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.value_len()
    }

    /// Writes the TLV at the start of `tlv`'s buffer (reserved bits and
    /// fields zero). Panics if the buffer is shorter than
    /// [`buffer_len`](Self::buffer_len) or the value longer than 65535
    /// octets; fields wider than their bits (DSCP 6, ECN 2, RP 2, ID 4)
    /// are masked.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, tlv: &mut Tlv<T>) {
        tlv.set_flags(self.flags());
        tlv.set_tlv_type(self.tlv_type());
        tlv.set_length(value_len_u16(self.value_len()));
        let v = tlv.value_mut();
        match self {
            TlvRepr::ExtraPadding { padding, .. } => v.copy_from_slice(padding),
            TlvRepr::Location {
                dst_port,
                src_port,
                sub_tlvs,
                ..
            } => {
                v[field::LOC_DST_PORT].copy_from_slice(&dst_port.to_be_bytes());
                v[field::LOC_SRC_PORT].copy_from_slice(&src_port.to_be_bytes());
                v[field::LOC_SUB_TLVS..].copy_from_slice(sub_tlvs);
            }
            TlvRepr::TimestampInformation {
                sync_src_in,
                timestamp_in,
                sync_src_out,
                timestamp_out,
                sub_tlvs,
                ..
            } => {
                v[..4].copy_from_slice(&[
                    *sync_src_in,
                    *timestamp_in,
                    *sync_src_out,
                    *timestamp_out,
                ]);
                v[field::TSI_SUB_TLVS..].copy_from_slice(sub_tlvs);
            }
            TlvRepr::ClassOfService {
                dscp1,
                dscp2,
                ecn,
                rp,
                ..
            } => {
                let (d1, d2) = (dscp1 & 0x3f, dscp2 & 0x3f);
                v[0] = (d1 << 2) | (d2 >> 4);
                v[1] = ((d2 & 0x0f) << 4) | ((ecn & 0x03) << 2) | (rp & 0x03);
                v[2..4].fill(0);
            }
            TlvRepr::DirectMeasurement {
                sender_tx,
                reflector_rx,
                reflector_tx,
                ..
            } => {
                v[field::DM_SENDER_TX].copy_from_slice(&sender_tx.to_be_bytes());
                v[field::DM_REFLECTOR_RX].copy_from_slice(&reflector_rx.to_be_bytes());
                v[field::DM_REFLECTOR_TX].copy_from_slice(&reflector_tx.to_be_bytes());
            }
            TlvRepr::AccessReport {
                id, return_code, ..
            } => {
                v[0] = (id & 0x0f) << 4;
                v[1] = *return_code;
                v[2..4].fill(0);
            }
            TlvRepr::FollowUpTelemetry {
                sequence,
                timestamp,
                timestamp_mode,
                ..
            } => {
                v[field::FUT_SEQUENCE].copy_from_slice(&sequence.to_be_bytes());
                v[field::FUT_TIMESTAMP].copy_from_slice(&timestamp.to_be_bytes());
                v[field::FUT_MODE] = *timestamp_mode;
                v[field::FUT_MODE + 1..].fill(0);
            }
            TlvRepr::Hmac { hmac, .. } => v.copy_from_slice(hmac),
            TlvRepr::DestinationNodeAddress { address, .. } => {
                v.copy_from_slice(&addr_octets(address))
            }
            TlvRepr::ReturnPath { sub_tlvs, .. } => {
                let mut pos = 0;
                for sub in sub_tlvs {
                    let len = sub.buffer_len();
                    sub.emit(&mut v[pos..pos + len]);
                    pos += len;
                }
            }
            TlvRepr::Unknown { value, .. } => v.copy_from_slice(value),
        }
    }

    /// Parses every TLV of a TLV area, stopping at the first error.
    pub fn parse_all(area: &[u8]) -> Result<Vec<TlvRepr>> {
        TlvIter::new(area)
            .map(|t| t.and_then(|t| TlvRepr::parse(&t)))
            .collect()
    }

    /// Octets [`emit_all`](Self::emit_all) writes for `tlvs`.
    pub fn buffer_len_all(tlvs: &[TlvRepr]) -> usize {
        tlvs.iter().map(TlvRepr::buffer_len).sum()
    }

    /// Writes `tlvs` one after the other at the start of `area`. Panics if
    /// `area` is shorter than [`buffer_len_all`](Self::buffer_len_all).
    pub fn emit_all(tlvs: &[TlvRepr], area: &mut [u8]) {
        let mut pos = 0;
        for tlv in tlvs {
            let len = tlv.buffer_len();
            tlv.emit(&mut Tlv::new_unchecked(&mut area[pos..pos + len]));
            pos += len;
        }
    }
}
