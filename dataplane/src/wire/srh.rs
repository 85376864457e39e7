//! The Segment Routing Header (RFC 8754): IPv6 Routing header type 4.
//!
//! What it is: a zero-copy view [`Srh`] over one SRH, an iterator over its
//! TLVs ([`SrhTlv`]) and a plain-data [`SrhRepr`].
//!
//! The segment list is encoded in reverse order (RFC 8754 §2): Segment
//! List\[0\] is the *last* segment of the path and Segment List\[Last Entry\]
//! the *first*. Segments Left indexes it: the active segment after an End
//! behaviour decrements Segments Left is `segment(segments_left)`.
//!
//! What it is not: HMAC computation and verification (RFC 8754 §2.1.2.1),
//! and the SRv6 behaviours themselves, which live in `behavior`.
//!
//! # Validation, compared with Linux
//!
//! [`Srh::check_len`] and [`Srh::check_tlvs`] together accept exactly what
//! Linux's `seg6_validate_srh(srh, len, reduced = true)` (the receive path,
//! `seg6_get_srh`) accepts, with two deliberate differences (both below):
//! * Routing Type must be 4 ([`Error::Malformed`] otherwise);
//! * the buffer must hold `(Hdr Ext Len + 1) * 8` octets ([`Error::Truncated`];
//!   Linux pulls that many octets or drops);
//! * the segment list must fit: `(Last Entry + 1) * 16 <= Hdr Ext Len * 8`,
//!   i.e. Linux's `first_segment <= hdrlen / 2 - 1` ([`Error::SrhBadLength`]).
//!   An odd Hdr Ext Len is accepted, as in Linux: Hdr Ext Len counts
//!   8-octet units, so the header is a multiple of 8 octets whatever its
//!   parity, and an SRH carrying an HMAC TLV with a 32-octet HMAC
//!   (8 + 16n + 40 octets) always has an odd one;
//! * Segments Left may be at most Last Entry + 1 ([`Error::SrhSegmentsLeftBeyondLastEntry`]);
//!   Last Entry + 1 is a reduced SRH (RFC 8986 H.Encaps.Red), whose first
//!   segment is carried only in the Destination Address;
//! * the octets after the segment list must be consumed exactly by TLVs
//!   ([`Error::BadOption`]). Difference: Pad1 (type 0) is one octet as
//!   RFC 8754 §2.1.1.1 defines it; Linux reads every TLV, Pad1 included, as
//!   Type + Length, so it rejects some SRHs that end in Pad1 and misreads
//!   others. PadN longer than the 5 octets RFC 8754 allows is accepted (its
//!   content is to be ignored on receipt), as Linux does. Second
//!   difference: an HMAC TLV shorter than its fixed part (6 octets of
//!   D flag, reserved and Key ID) is [`Error::BadOption`]; Linux's TLV loop
//!   does not look at types and accepts it.

use std::net::Ipv6Addr;

use super::ipv6ext::{emit_padding, padding_for, split_tlv};
use super::{Error, IpProtocol, Result};

/// Routing Type of the Segment Routing Header.
pub const ROUTING_TYPE_SRH: u8 = 4;
/// TLV type of Pad1 (RFC 8754 §2.1.1.1): a single zero octet.
pub const TLV_PAD1: u8 = 0;
/// TLV type of PadN (RFC 8754 §2.1.1.2).
pub const TLV_PADN: u8 = 4;
/// TLV type of the HMAC TLV (RFC 8754 §2.1.2).
pub const TLV_HMAC: u8 = 5;
/// Length of the fixed part of the SRH, before the segment list.
pub const FIXED_LEN: usize = field::SEGMENTS;
/// Length of one segment in octets.
pub const SEGMENT_LEN: usize = 16;

//  RFC 8754 §2, Segment Routing Header:
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | Next Header   |  Hdr Ext Len  | Routing Type  | Segments Left |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Last Entry   |     Flags     |              Tag              |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                                                               |
//  |            Segment List[0] (128-bit IPv6 address)             |
//  |                                                               |
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                                                               |
//  |                                                               |
//                                ...
//  |                                                               |
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                                                               |
//  |            Segment List[n] (128-bit IPv6 address)             |
//  |                                                               |
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  //                                                             //
//  //         Optional Type Length Value objects (variable)       //
//  //                                                             //
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//  TLVs (§2.1), except Pad1 which is a single zero octet:
//
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Type      |    Length     | Variable-length data          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//  HMAC TLV (§2.1.2), Length = 6 + length of the HMAC:
//
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Type      |    Length     |D|        RESERVED             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                      HMAC Key ID (4 octets)                   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  //                     HMAC (variable)                         //
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
mod field {
    use core::ops::Range;

    pub const NXT_HDR: usize = 0;
    pub const LENGTH: usize = 1;
    pub const ROUTING_TYPE: usize = 2;
    pub const SEG_LEFT: usize = 3;
    pub const LAST_ENTRY: usize = 4;
    pub const FLAGS: usize = 5;
    pub const TAG: Range<usize> = 6..8;
    pub const SEGMENTS: usize = 8;

    /// Segment List\[index\].
    #[inline]
    pub const fn segment(index: usize) -> Range<usize> {
        let start = SEGMENTS + index * 16;
        start..start + 16
    }

    // Within the data of an HMAC TLV (after Type and Length).
    pub const HMAC_D_RESERVED: usize = 0;
    pub const HMAC_KEY_ID: Range<usize> = 2..6;
    pub const HMAC_START: usize = 6;
}

/// A read/write view of a Segment Routing Header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Srh<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Srh<T> {
    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Srh { buffer }
    }

    /// Wraps a buffer and checks it fully: [`check_len`](Self::check_len),
    /// then [`check_tlvs`](Self::check_tlvs). Accepts what Linux's receive
    /// path accepts (see the module documentation).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let srh = Self::new_unchecked(buffer);
        srh.check_len()?;
        srh.check_tlvs()?;
        Ok(srh)
    }

    /// Checks the fixed fields against each other and the buffer, in this
    /// order:
    /// * [`Error::Truncated`]: fewer than 8 octets;
    /// * [`Error::Malformed`]: Routing Type is not 4;
    /// * [`Error::Truncated`]: fewer than [`header_len`](Self::header_len) octets;
    /// * [`Error::SrhBadLength`]: `(last_entry + 1) * 16 > hdr_ext_len * 8`;
    /// * [`Error::SrhSegmentsLeftBeyondLastEntry`]: `segments_left > last_entry + 1`.
    ///
    /// After this succeeds no accessor panics (for `segment(i)`: as long as
    /// `i <= last_entry`). The TLVs are not checked.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < FIXED_LEN {
            return Err(Error::Truncated);
        }
        if self.routing_type() != ROUTING_TYPE_SRH {
            return Err(Error::Malformed);
        }
        if len < self.header_len() {
            return Err(Error::Truncated);
        }
        if self.segment_count() * SEGMENT_LEN > usize::from(self.hdr_ext_len()) * 8 {
            return Err(Error::SrhBadLength);
        }
        if usize::from(self.segments_left()) > self.segment_count() {
            return Err(Error::SrhSegmentsLeftBeyondLastEntry);
        }
        Ok(())
    }

    /// [`Error::BadOption`] unless the octets after the segment list are
    /// exactly a sequence of whole TLVs (an HMAC TLV must also be at least
    /// 6 octets long). Call after [`check_len`](Self::check_len).
    pub fn check_tlvs(&self) -> Result<()> {
        self.tlvs().try_for_each(|t| t.map(drop))
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The Next Header field.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::NXT_HDR])
    }

    /// The Hdr Ext Len field: 8-octet units beyond the first 8.
    #[inline]
    pub fn hdr_ext_len(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH]
    }

    /// The Routing Type field (4 for an SRH).
    #[inline]
    pub fn routing_type(&self) -> u8 {
        self.buffer.as_ref()[field::ROUTING_TYPE]
    }

    /// The Segments Left field: index in the segment list of the next
    /// segment to visit.
    #[inline]
    pub fn segments_left(&self) -> u8 {
        self.buffer.as_ref()[field::SEG_LEFT]
    }

    /// The Last Entry field: index of the last element of the segment list,
    /// which is the *first* segment of the path.
    #[inline]
    pub fn last_entry(&self) -> u8 {
        self.buffer.as_ref()[field::LAST_ENTRY]
    }

    /// The Flags field.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// The Tag field.
    #[inline]
    pub fn tag(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::TAG];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Length of the whole header in octets: `(hdr_ext_len + 1) * 8`.
    #[inline]
    pub fn header_len(&self) -> usize {
        (usize::from(self.hdr_ext_len()) + 1) * 8
    }

    /// Number of entries in the segment list: `last_entry + 1`.
    #[inline]
    pub fn segment_count(&self) -> usize {
        usize::from(self.last_entry()) + 1
    }

    /// Segment List\[index\] as raw octets. Index 0 is the last segment of
    /// the path, index `last_entry` the first.
    ///
    /// Panics if `index > last_entry`.
    #[inline]
    pub fn segment_bytes(&self, index: usize) -> &[u8; 16] {
        assert!(
            index < self.segment_count(),
            "segment index beyond Last Entry"
        );
        self.buffer.as_ref()[field::segment(index)]
            .try_into()
            .expect("segment range is 16 octets")
    }

    /// Segment List\[index\]. Index 0 is the last segment of the path, index
    /// `last_entry` the first.
    ///
    /// Panics if `index > last_entry`.
    #[inline]
    pub fn segment(&self, index: usize) -> Ipv6Addr {
        Ipv6Addr::from(*self.segment_bytes(index))
    }

    /// Offset of the TLV area: the end of the segment list.
    #[inline]
    fn tlv_start(&self) -> usize {
        field::segment(self.segment_count()).start
    }

    /// The octets between the end of the segment list and `header_len`.
    #[inline]
    pub fn tlv_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[self.tlv_start()..self.header_len()]
    }

    /// Iterates over the TLVs. Items are `Err(BadOption)` for a TLV that
    /// runs past the header (or an HMAC TLV shorter than 6 data octets);
    /// the iterator ends after the first error.
    #[inline]
    pub fn tlvs(&self) -> SrhTlvIter<'_> {
        SrhTlvIter {
            area: self.tlv_bytes(),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Srh<T> {
    /// Sets the Next Header field.
    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = value.0;
    }

    /// Sets the Hdr Ext Len field.
    #[inline]
    pub fn set_hdr_ext_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::LENGTH] = value;
    }

    /// Sets the Routing Type field.
    #[inline]
    pub fn set_routing_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::ROUTING_TYPE] = value;
    }

    /// Sets the Segments Left field.
    #[inline]
    pub fn set_segments_left(&mut self, value: u8) {
        self.buffer.as_mut()[field::SEG_LEFT] = value;
    }

    /// Sets the Last Entry field.
    #[inline]
    pub fn set_last_entry(&mut self, value: u8) {
        self.buffer.as_mut()[field::LAST_ENTRY] = value;
    }

    /// Sets the Flags field.
    #[inline]
    pub fn set_flags(&mut self, value: u8) {
        self.buffer.as_mut()[field::FLAGS] = value;
    }

    /// Sets the Tag field.
    #[inline]
    pub fn set_tag(&mut self, value: u16) {
        self.buffer.as_mut()[field::TAG].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets Segment List\[index\] from raw octets (index 0: last segment of
    /// the path). Panics if `index > last_entry`.
    #[inline]
    pub fn set_segment_bytes(&mut self, index: usize, value: &[u8; 16]) {
        assert!(
            index < self.segment_count(),
            "segment index beyond Last Entry"
        );
        self.buffer.as_mut()[field::segment(index)].copy_from_slice(value);
    }

    /// Sets Segment List\[index\] (index 0: last segment of the path).
    /// Panics if `index > last_entry`.
    #[inline]
    pub fn set_segment(&mut self, index: usize, value: Ipv6Addr) {
        self.set_segment_bytes(index, &value.octets());
    }

    /// The TLV area, mutably.
    #[inline]
    pub fn tlv_bytes_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.tlv_start(), self.header_len());
        &mut self.buffer.as_mut()[start..end]
    }
}

/// One TLV of an SRH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrhTlv<'a> {
    /// A single octet of padding.
    Pad1,
    /// Padding of 2 + `len` octets (`len` is the Length field).
    PadN(u8),
    /// HMAC TLV: the D flag (Destination Address verification disabled),
    /// the Key ID and the HMAC octets (Length - 6 of them).
    Hmac {
        d_flag: bool,
        key_id: u32,
        hmac: &'a [u8],
    },
    /// Any other TLV.
    Other { tlv_type: u8, data: &'a [u8] },
}

/// Iterator over the TLVs of an [`Srh`]; each step consumes at least one
/// octet, so it ends after at most `header_len` steps.
#[derive(Debug, Clone)]
pub struct SrhTlvIter<'a> {
    area: &'a [u8],
}

impl<'a> SrhTlvIter<'a> {
    fn step(&mut self) -> Result<SrhTlv<'a>> {
        let (tlv_type, data, used) = split_tlv(self.area)?;
        let tlv = match tlv_type {
            TLV_PAD1 => SrhTlv::Pad1,
            TLV_PADN => SrhTlv::PadN(data.len() as u8),
            TLV_HMAC => {
                if data.len() < field::HMAC_START {
                    return Err(Error::BadOption);
                }
                let k = &data[field::HMAC_KEY_ID];
                SrhTlv::Hmac {
                    d_flag: data[field::HMAC_D_RESERVED] & 0x80 != 0,
                    key_id: u32::from_be_bytes([k[0], k[1], k[2], k[3]]),
                    hmac: &data[field::HMAC_START..],
                }
            }
            _ => SrhTlv::Other { tlv_type, data },
        };
        self.area = &self.area[used..];
        Ok(tlv)
    }
}

impl<'a> Iterator for SrhTlvIter<'a> {
    type Item = Result<SrhTlv<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.area.is_empty() {
            return None;
        }
        let item = self.step();
        if item.is_err() {
            self.area = &[];
        }
        Some(item)
    }
}

/// An SRH TLV as plain data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SrhTlvRepr {
    Pad1,
    /// PadN with `len` zero octets of padding.
    PadN(u8),
    /// HMAC TLV; `hmac` is at most 249 octets (RFC 8754: a multiple of 8,
    /// at most 32). Reserved bits are written as zero.
    Hmac {
        d_flag: bool,
        key_id: u32,
        hmac: Vec<u8>,
    },
    /// Any other TLV. `tlv_type` must not be 0, 4 or 5 and `data` must be at
    /// most 255 octets.
    Other {
        tlv_type: u8,
        data: Vec<u8>,
    },
}

impl SrhTlvRepr {
    /// Octets this TLV occupies on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            SrhTlvRepr::Pad1 => 1,
            SrhTlvRepr::PadN(len) => 2 + usize::from(*len),
            SrhTlvRepr::Hmac { hmac, .. } => 2 + field::HMAC_START + hmac.len(),
            SrhTlvRepr::Other { data, .. } => 2 + data.len(),
        }
    }

    fn from_view(tlv: SrhTlv<'_>) -> Self {
        match tlv {
            SrhTlv::Pad1 => SrhTlvRepr::Pad1,
            SrhTlv::PadN(len) => SrhTlvRepr::PadN(len),
            SrhTlv::Hmac {
                d_flag,
                key_id,
                hmac,
            } => SrhTlvRepr::Hmac {
                d_flag,
                key_id,
                hmac: hmac.to_vec(),
            },
            SrhTlv::Other { tlv_type, data } => SrhTlvRepr::Other {
                tlv_type,
                data: data.to_vec(),
            },
        }
    }

    /// Writes the TLV into `buf`, which is exactly `buffer_len` octets.
    fn emit(&self, buf: &mut [u8]) {
        let data_len = |n: usize| u8::try_from(n).expect("SRH TLV longer than 255 octets");
        match self {
            SrhTlvRepr::Pad1 => buf[0] = TLV_PAD1,
            SrhTlvRepr::PadN(len) => {
                buf[0] = TLV_PADN;
                buf[1] = *len;
                buf[2..].fill(0);
            }
            SrhTlvRepr::Hmac {
                d_flag,
                key_id,
                hmac,
            } => {
                buf[0] = TLV_HMAC;
                buf[1] = data_len(field::HMAC_START + hmac.len());
                let data = &mut buf[2..];
                data[field::HMAC_D_RESERVED] = if *d_flag { 0x80 } else { 0 };
                data[field::HMAC_D_RESERVED + 1] = 0;
                data[field::HMAC_KEY_ID].copy_from_slice(&key_id.to_be_bytes());
                data[field::HMAC_START..].copy_from_slice(hmac);
            }
            SrhTlvRepr::Other { tlv_type, data } => {
                buf[0] = *tlv_type;
                buf[1] = data_len(data.len());
                buf[2..].copy_from_slice(data);
            }
        }
    }
}

/// A Segment Routing Header as plain data.
///
/// `segments` is in wire order: `segments[0]` is the last segment of the
/// path. [`from_path`](Self::from_path) builds it from a path in travel order.
///
/// `last_entry` keeps the wire value on [`parse`](Self::parse) (where it is
/// always `segments.len() - 1`); [`emit`](Self::emit) ignores it and writes
/// `segments.len() - 1`. `tlvs` are listed as on the wire, padding included;
/// if they do not end on an 8-octet boundary `emit` appends a Pad1 or PadN
/// (which a later `parse` returns explicitly). PadN content and HMAC
/// reserved bits are written as zero and not kept by `parse`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SrhRepr {
    pub next_header: IpProtocol,
    pub segments_left: u8,
    pub last_entry: u8,
    pub flags: u8,
    pub tag: u16,
    pub segments: Vec<Ipv6Addr>,
    pub tlvs: Vec<SrhTlvRepr>,
}

impl SrhRepr {
    /// An SRH steering along `path` (in travel order: `path[0]` is visited
    /// first) with no TLVs, flags or tag, as H.Encaps builds it: the segment
    /// list is `path` reversed and Segments Left is `path.len() - 1`.
    ///
    /// Panics if `path` is empty.
    pub fn from_path(next_header: IpProtocol, path: &[Ipv6Addr]) -> SrhRepr {
        assert!(!path.is_empty(), "an SRH needs at least one segment");
        let last = u8::try_from(path.len() - 1).expect("more than 256 segments");
        SrhRepr {
            next_header,
            segments_left: last,
            last_entry: last,
            flags: 0,
            tag: 0,
            segments: path.iter().rev().copied().collect(),
            tlvs: Vec::new(),
        }
    }

    /// Reads an SRH, checking it fully (as [`Srh::new_checked`]).
    pub fn parse<T: AsRef<[u8]>>(srh: &Srh<T>) -> Result<SrhRepr> {
        srh.check_len()?;
        let tlvs = srh
            .tlvs()
            .map(|t| t.map(SrhTlvRepr::from_view))
            .collect::<Result<Vec<_>>>()?;
        Ok(SrhRepr {
            next_header: srh.next_header(),
            segments_left: srh.segments_left(),
            last_entry: srh.last_entry(),
            flags: srh.flags(),
            tag: srh.tag(),
            segments: (0..srh.segment_count()).map(|i| srh.segment(i)).collect(),
            tlvs,
        })
    }

    /// Length of an SRH with `segments` segments and no TLVs: `8 + 16n`
    /// (for sizing H.Encaps templates).
    pub const fn buffer_len_for(segments: usize) -> usize {
        FIXED_LEN + SEGMENT_LEN * segments
    }

    /// Octets [`emit`](Self::emit) writes: a multiple of 8.
    pub fn buffer_len(&self) -> usize {
        let tlv_len: usize = self.tlvs.iter().map(SrhTlvRepr::buffer_len).sum();
        Self::buffer_len_for(self.segments.len()) + tlv_len + padding_for(0, tlv_len)
    }

    /// Writes the SRH at the start of `srh`'s buffer; Hdr Ext Len and Last
    /// Entry are derived from the segments and TLVs.
    ///
    /// Panics if `segments` is empty, if the header would exceed 2048 octets
    /// (Hdr Ext Len 255; at most 127 segments) or if the buffer is shorter
    /// than [`buffer_len`](Self::buffer_len).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, srh: &mut Srh<T>) {
        assert!(
            !self.segments.is_empty(),
            "an SRH needs at least one segment"
        );
        let total = self.buffer_len();
        let hdr_ext_len = u8::try_from(total / 8 - 1).expect("SRH longer than 2048 octets");
        srh.set_next_header(self.next_header);
        srh.set_hdr_ext_len(hdr_ext_len);
        srh.set_routing_type(ROUTING_TYPE_SRH);
        srh.set_segments_left(self.segments_left);
        srh.set_last_entry((self.segments.len() - 1) as u8);
        srh.set_flags(self.flags);
        srh.set_tag(self.tag);
        for (i, segment) in self.segments.iter().enumerate() {
            srh.set_segment(i, *segment);
        }
        let area = srh.tlv_bytes_mut();
        let mut pos = 0;
        for tlv in &self.tlvs {
            let len = tlv.buffer_len();
            tlv.emit(&mut area[pos..pos + len]);
            pos += len;
        }
        emit_padding(&mut area[pos..], TLV_PADN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// RFC 8754 §2 layout, by hand: next header 41 (IPv6), Hdr Ext Len 4
    /// (8 + 32 octets), type 4, Segments Left 1, Last Entry 1, flags 0,
    /// tag 0, Segment List[0] = fc00::2 (last), [1] = fc00::1 (first).
    fn two_segments() -> Vec<u8> {
        let mut v = vec![0x29, 0x04, 0x04, 0x01, 0x01, 0x00, 0x00, 0x00];
        v.extend_from_slice(&[0xfc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        v.extend_from_slice(&[0xfc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v
    }

    /// Two segments and an HMAC TLV with a 32-octet HMAC: 8 + 32 + 40 = 80
    /// octets, Hdr Ext Len 9 (odd, as every SRH with this TLV). TLV: type 5,
    /// length 38, D set, reserved 0, key id 0x01020304, HMAC 0x11 x 32.
    /// Flags 0x08, tag 0xbeef.
    fn with_hmac() -> Vec<u8> {
        let mut v = two_segments();
        v[1] = 9;
        v[5] = 0x08;
        v[6] = 0xbe;
        v[7] = 0xef;
        v.extend_from_slice(&[5, 38, 0x80, 0x00, 0x01, 0x02, 0x03, 0x04]);
        v.extend_from_slice(&[0x11; 32]);
        v
    }

    #[test]
    fn getters() {
        let buf = two_segments();
        let s = Srh::new_checked(&buf[..]).unwrap();
        assert_eq!(s.next_header(), IpProtocol::IPV6);
        assert_eq!(s.hdr_ext_len(), 4);
        assert_eq!(s.routing_type(), 4);
        assert_eq!(s.segments_left(), 1);
        assert_eq!(s.last_entry(), 1);
        assert_eq!(s.flags(), 0);
        assert_eq!(s.tag(), 0);
        assert_eq!(s.header_len(), 40);
        assert_eq!(s.segment_count(), 2);
        assert_eq!(s.segment(0), a("fc00::2"));
        assert_eq!(s.segment(1), a("fc00::1"));
        assert_eq!(s.segment_bytes(1)[15], 1);
        assert!(s.tlv_bytes().is_empty());
        assert_eq!(s.tlvs().count(), 0);
        assert_eq!(s.into_inner().len(), 40);
    }

    #[test]
    fn hmac_tlv() {
        let buf = with_hmac();
        let s = Srh::new_checked(&buf[..]).unwrap();
        assert_eq!(s.header_len(), 80);
        assert_eq!(s.flags(), 0x08);
        assert_eq!(s.tag(), 0xbeef);
        assert_eq!(s.tlv_bytes().len(), 40);
        let tlvs: Vec<_> = s.tlvs().collect::<Result<_>>().unwrap();
        assert_eq!(
            tlvs,
            vec![SrhTlv::Hmac {
                d_flag: true,
                key_id: 0x0102_0304,
                hmac: &[0x11; 32]
            }]
        );
    }

    #[test]
    fn setters_build_the_same_bytes() {
        let mut buf = vec![0u8; 80];
        let mut s = Srh::new_unchecked(&mut buf[..]);
        s.set_next_header(IpProtocol::IPV6);
        s.set_hdr_ext_len(9);
        s.set_routing_type(4);
        s.set_segments_left(1);
        s.set_last_entry(1);
        s.set_flags(0x08);
        s.set_tag(0xbeef);
        s.set_segment(0, a("fc00::2"));
        s.set_segment_bytes(1, &a("fc00::1").octets());
        s.tlv_bytes_mut()[..8].copy_from_slice(&[5, 38, 0x80, 0x00, 0x01, 0x02, 0x03, 0x04]);
        s.tlv_bytes_mut()[8..].fill(0x11);
        assert_eq!(buf, with_hmac());
    }

    #[test]
    #[should_panic(expected = "beyond Last Entry")]
    fn segment_index_beyond_last_entry_panics() {
        let buf = two_segments();
        Srh::new_checked(&buf[..]).unwrap().segment(2);
    }

    #[test]
    fn repr_parse_emit() {
        let repr = SrhRepr {
            next_header: IpProtocol::IPV6,
            segments_left: 1,
            last_entry: 1,
            flags: 0,
            tag: 0,
            segments: vec![a("fc00::2"), a("fc00::1")],
            tlvs: vec![],
        };
        let buf = two_segments();
        assert_eq!(SrhRepr::parse(&Srh::new_unchecked(&buf[..])).unwrap(), repr);
        assert_eq!(repr.buffer_len(), 40);
        assert_eq!(SrhRepr::buffer_len_for(2), 40);
        let mut out = vec![0xffu8; 40];
        repr.emit(&mut Srh::new_unchecked(&mut out[..]));
        assert_eq!(out, buf);
        // from_path reverses the travel order into the wire order.
        assert_eq!(
            SrhRepr::from_path(IpProtocol::IPV6, &[a("fc00::1"), a("fc00::2")]),
            repr
        );
    }

    #[test]
    fn repr_emit_derives_last_entry() {
        let mut repr = SrhRepr::from_path(IpProtocol::IPV6, &[a("fc00::1"), a("fc00::2")]);
        repr.last_entry = 7;
        let mut out = vec![0u8; 40];
        repr.emit(&mut Srh::new_unchecked(&mut out[..]));
        assert_eq!(out, two_segments());
    }

    #[test]
    fn repr_with_hmac_round_trip() {
        let buf = with_hmac();
        let repr = SrhRepr::parse(&Srh::new_unchecked(&buf[..])).unwrap();
        assert_eq!(
            repr.tlvs,
            vec![SrhTlvRepr::Hmac {
                d_flag: true,
                key_id: 0x0102_0304,
                hmac: vec![0x11; 32]
            }]
        );
        assert_eq!(repr.buffer_len(), 80);
        let mut out = vec![0u8; 80];
        repr.emit(&mut Srh::new_unchecked(&mut out[..]));
        assert_eq!(out, buf);
    }

    #[test]
    fn repr_pads_tlvs_to_eight() {
        // Other TLV of 3 data octets (5 on the wire) needs 3 of padding: PadN(1).
        let mut repr = SrhRepr::from_path(IpProtocol::IPV6, &[a("fc00::1")]);
        repr.tlvs = vec![SrhTlvRepr::Other {
            tlv_type: 0x80,
            data: vec![1, 2, 3],
        }];
        assert_eq!(repr.buffer_len(), 8 + 16 + 8);
        let mut out = [0xffu8; 32];
        repr.emit(&mut Srh::new_unchecked(&mut out[..]));
        assert_eq!(out[1], 3);
        assert_eq!(out[24..], [0x80, 3, 1, 2, 3, 4, 1, 0]);
        let parsed = SrhRepr::parse(&Srh::new_checked(&out[..]).unwrap()).unwrap();
        assert_eq!(parsed.tlvs[1], SrhTlvRepr::PadN(1));
        // 7 octets of TLV: a Pad1.
        repr.tlvs = vec![SrhTlvRepr::PadN(5)];
        let mut out = [0xffu8; 32];
        repr.emit(&mut Srh::new_unchecked(&mut out[..]));
        assert_eq!(out[24..], [4, 5, 0, 0, 0, 0, 0, 0]);
        let parsed = SrhRepr::parse(&Srh::new_checked(&out[..]).unwrap()).unwrap();
        assert_eq!(parsed.tlvs, vec![SrhTlvRepr::PadN(5), SrhTlvRepr::Pad1]);
    }

    #[test]
    fn truncated_at_every_prefix() {
        for buf in [two_segments(), with_hmac()] {
            for len in 0..buf.len() {
                assert_eq!(
                    Srh::new_checked(&buf[..len]).unwrap_err(),
                    Error::Truncated,
                    "len {len}"
                );
            }
        }
    }

    #[test]
    fn longer_buffer_is_fine() {
        let mut buf = two_segments();
        buf.extend_from_slice(&[0x45; 20]); // the inner packet
        let s = Srh::new_checked(&buf[..]).unwrap();
        assert!(s.tlv_bytes().is_empty());
    }

    #[test]
    fn wrong_routing_type() {
        let mut buf = two_segments();
        buf[2] = 0;
        assert_eq!(Srh::new_checked(&buf[..]).unwrap_err(), Error::Malformed);
    }

    #[test]
    fn hdr_ext_len_too_small_for_last_entry() {
        // Hdr Ext Len 2 holds one segment, not two.
        let mut buf = two_segments();
        buf[1] = 2;
        assert_eq!(Srh::new_checked(&buf[..]).unwrap_err(), Error::SrhBadLength);
        // Hdr Ext Len 3 (odd): 24 octets, still one segment only.
        buf[1] = 3;
        assert_eq!(Srh::new_checked(&buf[..]).unwrap_err(), Error::SrhBadLength);
        // Hdr Ext Len 0 and 1 hold no segment at all.
        for hel in [0, 1] {
            let mut b = two_segments();
            b[1] = hel;
            b[4] = 0;
            b[3] = 0;
            assert_eq!(
                Srh::new_checked(&b[..]).unwrap_err(),
                Error::SrhBadLength,
                "hdr_ext_len {hel}"
            );
        }
        // Last Entry 255 with a 40-octet header.
        let mut buf = two_segments();
        buf[4] = 255;
        assert_eq!(Srh::new_checked(&buf[..]).unwrap_err(), Error::SrhBadLength);
    }

    #[test]
    fn odd_hdr_ext_len_with_trailing_tlvs_accepted() {
        // One segment, Hdr Ext Len 3: 8 + 16 + 8 octets of PadN(6).
        let mut buf = vec![0x3b, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00];
        buf.extend_from_slice(&[0x20; 16]);
        buf.extend_from_slice(&[4, 6, 0, 0, 0, 0, 0, 0]);
        let s = Srh::new_checked(&buf[..]).unwrap();
        assert_eq!(s.tlvs().collect::<Vec<_>>(), vec![Ok(SrhTlv::PadN(6))]);
        // The same header with the 8 octets unparseable as TLVs.
        buf[24..].copy_from_slice(&[0x80, 7, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Srh::new_checked(&buf[..]).unwrap_err(), Error::BadOption);
    }

    #[test]
    fn segments_left_bounds() {
        let mut buf = two_segments();
        buf[3] = 2; // Last Entry + 1: a reduced SRH, legal
        assert!(Srh::new_checked(&buf[..]).is_ok());
        buf[3] = 3;
        assert_eq!(
            Srh::new_checked(&buf[..]).unwrap_err(),
            Error::SrhSegmentsLeftBeyondLastEntry
        );
        buf[3] = 255;
        assert_eq!(
            Srh::new_checked(&buf[..]).unwrap_err(),
            Error::SrhSegmentsLeftBeyondLastEntry
        );
    }

    #[test]
    fn tlv_overruns() {
        let base = |tlv: [u8; 8]| {
            let mut b = two_segments();
            b[1] = 5;
            b.extend_from_slice(&tlv);
            b
        };
        // PadN claiming 7 octets where 6 remain.
        let buf = base([4, 7, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Srh::new_checked(&buf[..]).unwrap_err(), Error::BadOption);
        let s = Srh::new_unchecked(&buf[..]);
        assert_eq!(s.check_len(), Ok(()));
        assert_eq!(s.tlvs().collect::<Vec<_>>(), vec![Err(Error::BadOption)]);
        // A type octet with no room for its length.
        let buf = base([4, 5, 0, 0, 0, 0, 0, 0x80]);
        assert_eq!(
            Srh::new_unchecked(&buf[..]).tlvs().collect::<Vec<_>>(),
            vec![Ok(SrhTlv::PadN(5)), Err(Error::BadOption)]
        );
        // An HMAC TLV too short to hold its Key ID.
        let buf = base([5, 4, 0, 0, 0, 0, 4, 0]);
        assert_eq!(Srh::new_checked(&buf[..]).unwrap_err(), Error::BadOption);
        // Pad1 x 8 is fine (Linux would reject it: see the module docs).
        let buf = base([0; 8]);
        let s = Srh::new_checked(&buf[..]).unwrap();
        assert_eq!(s.tlvs().count(), 8);
        // Unknown TLV with 6 octets of data.
        let buf = base([0x81, 6, 1, 2, 3, 4, 5, 6]);
        let s = Srh::new_checked(&buf[..]).unwrap();
        assert_eq!(
            s.tlvs().collect::<Vec<_>>(),
            vec![Ok(SrhTlv::Other {
                tlv_type: 0x81,
                data: &[1, 2, 3, 4, 5, 6]
            })]
        );
    }
}
