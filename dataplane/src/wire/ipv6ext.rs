//! IPv6 extension headers (RFC 8200 §4) and the walker over their chain.
//!
//! What it is:
//! * [`Ipv6OptionsHeader`]: Hop-by-Hop Options and Destination Options
//!   (same layout), with an iterator over their options ([`Ipv6Option`]);
//! * [`FragmentHeader`];
//! * [`RoutingHeader`]: the part common to every Routing header type (the
//!   Segment Routing Header, type 4, has its own view in [`super::srh`]);
//! * [`walk`]: finds the upper-layer header and the Routing header behind a
//!   chain of extension headers, in a bounded loop that never allocates.
//!
//! What it is not: option *processing* (the action bits of an unknown
//! option type, RFC 8200 §4.2) and reassembly belong to the caller.
//! Authentication Header and ESP are not walked: the walk stops at them and
//! reports them as the upper-layer protocol.
//!
//! Views over a single header report a buffer shorter than the header as
//! [`Error::Truncated`]; the chain walker, which checks every header against
//! the packet, reports it as [`Error::ExtHeaderTruncated`].

use super::srh::ROUTING_TYPE_SRH;
use super::{Error, IpProtocol, Result};

/// The most extension headers [`walk`] goes through before giving up with
/// [`Error::ExtHeaderChainTooLong`].
///
/// RFC 8200 §4.1 recommends each extension header occur at most once (the
/// Destination Options header twice), so a conforming chain holds at most
/// six: Hop-by-Hop, Destination Options, Routing, Fragment, (AH, ESP, not
/// walked here), Destination Options. RFC 9098 documents that long chains
/// are used to evade filters and exhaust forwarding resources. Linux accepts
/// chains of any length that fit the packet, but an SRv6 router does this
/// walk for every packet and must bound its work, so eight (the conforming
/// six plus slack for a repeated header) is where we stop.
pub const MAX_EXT_HEADERS: usize = 8;

//  RFC 8200 §4.3 (Hop-by-Hop) and §4.6 (Destination Options), and the first
//  octets of every Routing header (§4.4):
//
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Next Header  |  Hdr Ext Len  |                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//  |                                                               |
//  .                                                               .
//  .                            Options                            .
//  .                                                               .
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Next Header  |  Hdr Ext Len  |  Routing Type | Segments Left |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                                                               |
//  .                                                               .
//  .                       type-specific data                      .
//  .                                                               .
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//  Hdr Ext Len counts 8-octet units, not including the first 8 octets.
//
//  Options (§4.2), except Pad1 which is a single zero octet:
//
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+- - - - - - - - -
//  |  Option Type  |  Opt Data Len |  Option Data
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+- - - - - - - - -
mod field {
    use core::ops::Range;

    pub const NXT_HDR: usize = 0;
    pub const LENGTH: usize = 1;
    pub const OPTIONS_START: usize = 2;
    pub const ROUTING_TYPE: usize = 2;
    pub const SEG_LEFT: usize = 3;
    pub const ROUTING_DATA_START: usize = 4;
    /// Every extension header walked here is at least 8 octets long.
    pub const MIN_HEADER_LEN: usize = 8;

    //  RFC 8200 §4.5, Fragment header:
    //
    //  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //  |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
    //  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //  |                         Identification                        |
    //  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    pub const FRAG_RESERVED: usize = 1;
    pub const FRAG_OFFSET_M: Range<usize> = 2..4;
    pub const FRAG_IDENT: Range<usize> = 4..8;
    pub const FRAG_HEADER_LEN: usize = 8;
}

/// Length in octets of a header whose Hdr Ext Len is `hdr_ext_len`.
#[inline]
const fn ext_header_len(hdr_ext_len: u8) -> usize {
    (hdr_ext_len as usize + 1) * 8
}

/// Splits one TLV (an option, or an SRH TLV) off the front of `area`, which
/// must not be empty. Type 0 (Pad1 in both registries) is a single octet
/// with no length; every other type is Type, Length, Length octets of data.
///
/// Returns the type, its data and the octets consumed, or
/// [`Error::BadOption`] if the TLV runs past `area`.
#[inline]
pub(super) fn split_tlv(area: &[u8]) -> Result<(u8, &[u8], usize)> {
    let tlv_type = area[0];
    if tlv_type == PAD1 {
        return Ok((PAD1, &[], 1));
    }
    if area.len() < 2 {
        return Err(Error::BadOption);
    }
    let end = 2 + usize::from(area[1]);
    if end > area.len() {
        return Err(Error::BadOption);
    }
    Ok((tlv_type, &area[2..end], end))
}

/// Octets of padding a TLV area of `len` octets needs after a fixed part of
/// `fixed` octets to end on an 8-octet boundary.
#[inline]
pub(super) const fn padding_for(fixed: usize, len: usize) -> usize {
    (8 - (fixed + len) % 8) % 8
}

/// Writes `buf.len()` octets of padding: one Pad1 (a zero octet) or a PadN
/// of type `padn_type` with zeroed data.
pub(super) fn emit_padding(buf: &mut [u8], padn_type: u8) {
    match buf.len() {
        0 => {}
        1 => buf[0] = PAD1,
        n => {
            buf[0] = padn_type;
            buf[1] = (n - 2) as u8;
            buf[2..].fill(0);
        }
    }
}

/// Option type of Pad1 (RFC 8200 §4.2).
pub const PAD1: u8 = 0;
/// Option type of PadN (RFC 8200 §4.2).
pub const PADN: u8 = 1;

// ---------------------------------------------------------------------------
// Hop-by-Hop and Destination Options
// ---------------------------------------------------------------------------

/// A read/write view of a Hop-by-Hop Options or Destination Options header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6OptionsHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6OptionsHeader<T> {
    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6OptionsHeader { buffer }
    }

    /// Wraps a buffer, checks its length with [`check_len`](Self::check_len)
    /// and its options with [`check_options`](Self::check_options).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        header.check_options()?;
        Ok(header)
    }

    /// [`Error::Truncated`] if the buffer is shorter than two octets or than
    /// [`header_len`](Self::header_len). After this succeeds no accessor
    /// panics; the options may still be malformed (see
    /// [`check_options`](Self::check_options)).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len <= field::LENGTH || len < self.header_len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// [`Error::BadOption`] if an option runs past the end of the header.
    pub fn check_options(&self) -> Result<()> {
        self.options().try_for_each(|o| o.map(drop))
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

    /// The Hdr Ext Len field (8-octet units beyond the first 8).
    #[inline]
    pub fn hdr_ext_len(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH]
    }

    /// Length of the whole header in octets: `(hdr_ext_len + 1) * 8`.
    #[inline]
    pub fn header_len(&self) -> usize {
        ext_header_len(self.hdr_ext_len())
    }

    /// The raw options area (after Next Header and Hdr Ext Len).
    #[inline]
    pub fn options_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS_START..self.header_len()]
    }

    /// Iterates over the options. Items are `Err(BadOption)` for an option
    /// that runs past the header; the iterator ends after the first error.
    #[inline]
    pub fn options(&self) -> Ipv6OptionIter<'_> {
        Ipv6OptionIter {
            area: self.options_bytes(),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6OptionsHeader<T> {
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

    /// The raw options area, mutably.
    #[inline]
    pub fn options_bytes_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS_START..end]
    }
}

/// One option of a Hop-by-Hop or Destination Options header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Option<'a> {
    /// A single octet of padding.
    Pad1,
    /// Padding of 2 + `len` octets (`len` is the Opt Data Len).
    PadN(u8),
    /// Any other option: its type (action and change bits included) and data.
    Other { opt_type: u8, data: &'a [u8] },
}

/// Iterator over the options of an [`Ipv6OptionsHeader`]; each step consumes
/// at least one octet, so it ends after at most `header_len` steps.
#[derive(Debug, Clone)]
pub struct Ipv6OptionIter<'a> {
    area: &'a [u8],
}

impl<'a> Iterator for Ipv6OptionIter<'a> {
    type Item = Result<Ipv6Option<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.area.is_empty() {
            return None;
        }
        match split_tlv(self.area) {
            Ok((opt_type, data, used)) => {
                self.area = &self.area[used..];
                Some(Ok(match opt_type {
                    PAD1 => Ipv6Option::Pad1,
                    PADN => Ipv6Option::PadN(data.len() as u8),
                    _ => Ipv6Option::Other { opt_type, data },
                }))
            }
            Err(e) => {
                self.area = &[];
                Some(Err(e))
            }
        }
    }
}

/// An option as plain data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ipv6OptionRepr {
    Pad1,
    /// PadN with `len` zero octets of data.
    PadN(u8),
    /// Any other option. `opt_type` must not be 0 or 1 (Pad1, PadN) and
    /// `data` must be at most 255 octets.
    Other {
        opt_type: u8,
        data: Vec<u8>,
    },
}

impl Ipv6OptionRepr {
    /// Octets this option occupies on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            Ipv6OptionRepr::Pad1 => 1,
            Ipv6OptionRepr::PadN(len) => 2 + usize::from(*len),
            Ipv6OptionRepr::Other { data, .. } => 2 + data.len(),
        }
    }

    fn from_view(option: Ipv6Option<'_>) -> Self {
        match option {
            Ipv6Option::Pad1 => Ipv6OptionRepr::Pad1,
            Ipv6Option::PadN(len) => Ipv6OptionRepr::PadN(len),
            Ipv6Option::Other { opt_type, data } => Ipv6OptionRepr::Other {
                opt_type,
                data: data.to_vec(),
            },
        }
    }

    /// Writes the option at the start of `buf` (exactly `buffer_len` octets).
    fn emit(&self, buf: &mut [u8]) {
        match self {
            Ipv6OptionRepr::Pad1 => buf[0] = PAD1,
            Ipv6OptionRepr::PadN(len) => {
                buf[0] = PADN;
                buf[1] = *len;
                buf[2..2 + usize::from(*len)].fill(0);
            }
            Ipv6OptionRepr::Other { opt_type, data } => {
                buf[0] = *opt_type;
                buf[1] = u8::try_from(data.len()).expect("option data longer than 255 octets");
                buf[2..2 + data.len()].copy_from_slice(data);
            }
        }
    }
}

/// A Hop-by-Hop or Destination Options header as plain data.
///
/// `options` are listed as on the wire, padding included. If they do not
/// end on an 8-octet boundary, [`emit`](Self::emit) appends a Pad1 or PadN
/// (which a later [`parse`](Self::parse) returns explicitly). PadN data is
/// written as zeros and not kept by `parse`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ipv6OptionsRepr {
    pub next_header: IpProtocol,
    pub options: Vec<Ipv6OptionRepr>,
}

impl Ipv6OptionsRepr {
    /// Reads a header, checking its length and options.
    pub fn parse<T: AsRef<[u8]>>(header: &Ipv6OptionsHeader<T>) -> Result<Self> {
        header.check_len()?;
        let options = header
            .options()
            .map(|o| o.map(Ipv6OptionRepr::from_view))
            .collect::<Result<Vec<_>>>()?;
        Ok(Ipv6OptionsRepr {
            next_header: header.next_header(),
            options,
        })
    }

    fn options_len(&self) -> usize {
        self.options.iter().map(Ipv6OptionRepr::buffer_len).sum()
    }

    /// Octets [`emit`](Self::emit) writes: a multiple of 8.
    pub fn buffer_len(&self) -> usize {
        let len = self.options_len();
        field::OPTIONS_START + len + padding_for(field::OPTIONS_START, len)
    }

    /// Writes the header at the start of `header`'s buffer.
    ///
    /// Panics if the buffer is shorter than [`buffer_len`](Self::buffer_len)
    /// or the options need more than 2048 octets (Hdr Ext Len 255).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, header: &mut Ipv6OptionsHeader<T>) {
        let total = self.buffer_len();
        let hdr_ext_len = u8::try_from(total / 8 - 1).expect("options header longer than 2048");
        header.set_next_header(self.next_header);
        header.set_hdr_ext_len(hdr_ext_len);
        let area = header.options_bytes_mut();
        let mut pos = 0;
        for option in &self.options {
            let len = option.buffer_len();
            option.emit(&mut area[pos..pos + len]);
            pos += len;
        }
        emit_padding(&mut area[pos..], PADN);
    }
}

// ---------------------------------------------------------------------------
// Fragment
// ---------------------------------------------------------------------------

/// A read/write view of a Fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

/// Length of the Fragment header in octets.
pub const FRAGMENT_HEADER_LEN: usize = field::FRAG_HEADER_LEN;

impl<T: AsRef<[u8]>> FragmentHeader<T> {
    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        FragmentHeader { buffer }
    }

    /// Wraps a buffer and checks it with [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// [`Error::Truncated`] if the buffer is shorter than 8 octets.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < FRAGMENT_HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
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

    #[inline]
    fn offset_m(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::FRAG_OFFSET_M];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The 13-bit Fragment Offset, in 8-octet units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        self.offset_m() >> 3
    }

    /// The M (more fragments) flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.offset_m() & 1 != 0
    }

    /// The Identification field.
    #[inline]
    pub fn ident(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::FRAG_IDENT];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FragmentHeader<T> {
    #[inline]
    fn set_offset_m(&mut self, value: u16) {
        self.buffer.as_mut()[field::FRAG_OFFSET_M].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the Next Header field.
    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = value.0;
    }

    /// Zeroes the reserved octet and the two reserved bits.
    #[inline]
    pub fn clear_reserved(&mut self) {
        self.buffer.as_mut()[field::FRAG_RESERVED] = 0;
        let v = self.offset_m() & !0b110;
        self.set_offset_m(v);
    }

    /// Sets the Fragment Offset (low 13 bits of `value`, 8-octet units).
    #[inline]
    pub fn set_frag_offset(&mut self, value: u16) {
        let v = (self.offset_m() & 0b111) | (value << 3);
        self.set_offset_m(v);
    }

    /// Sets the M flag.
    #[inline]
    pub fn set_more_frags(&mut self, value: bool) {
        let v = (self.offset_m() & !1) | u16::from(value);
        self.set_offset_m(v);
    }

    /// Sets the Identification field.
    #[inline]
    pub fn set_ident(&mut self, value: u32) {
        self.buffer.as_mut()[field::FRAG_IDENT].copy_from_slice(&value.to_be_bytes());
    }
}

/// A Fragment header as plain data (reserved bits are written as zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentRepr {
    pub next_header: IpProtocol,
    /// Fragment Offset in 8-octet units (13 bits).
    pub frag_offset: u16,
    pub more_frags: bool,
    pub ident: u32,
}

impl FragmentRepr {
    /// Reads a Fragment header, checking its length.
    pub fn parse<T: AsRef<[u8]>>(header: &FragmentHeader<T>) -> Result<Self> {
        header.check_len()?;
        Ok(FragmentRepr {
            next_header: header.next_header(),
            frag_offset: header.frag_offset(),
            more_frags: header.more_frags(),
            ident: header.ident(),
        })
    }

    /// Octets [`emit`](Self::emit) writes: 8.
    pub const fn buffer_len(&self) -> usize {
        FRAGMENT_HEADER_LEN
    }

    /// Writes the header. Panics if the buffer is shorter than 8 octets.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, header: &mut FragmentHeader<T>) {
        header.set_next_header(self.next_header);
        header.clear_reserved();
        header.set_frag_offset(self.frag_offset);
        header.set_more_frags(self.more_frags);
        header.set_ident(self.ident);
    }
}

// ---------------------------------------------------------------------------
// Routing (any type)
// ---------------------------------------------------------------------------

/// A read/write view of the fields every Routing header type shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RoutingHeader<T> {
    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        RoutingHeader { buffer }
    }

    /// Wraps a buffer and checks it with [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// [`Error::Truncated`] if the buffer is shorter than 8 octets or than
    /// [`header_len`](Self::header_len).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::MIN_HEADER_LEN || len < self.header_len() {
            return Err(Error::Truncated);
        }
        Ok(())
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

    /// The Hdr Ext Len field (8-octet units beyond the first 8).
    #[inline]
    pub fn hdr_ext_len(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH]
    }

    /// The Routing Type field (4: Segment Routing Header).
    #[inline]
    pub fn routing_type(&self) -> u8 {
        self.buffer.as_ref()[field::ROUTING_TYPE]
    }

    /// The Segments Left field.
    #[inline]
    pub fn segments_left(&self) -> u8 {
        self.buffer.as_ref()[field::SEG_LEFT]
    }

    /// Length of the whole header in octets: `(hdr_ext_len + 1) * 8`.
    #[inline]
    pub fn header_len(&self) -> usize {
        ext_header_len(self.hdr_ext_len())
    }

    /// The type-specific data (octets 4 to `header_len`).
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::ROUTING_DATA_START..self.header_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RoutingHeader<T> {
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
}

// ---------------------------------------------------------------------------
// Chain walker
// ---------------------------------------------------------------------------

/// Where things are in an extension-header chain, as found by [`walk`].
/// All offsets are into the IPv6 payload (the octets after the fixed header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtChain {
    /// The first Next Header that is not a walked extension header
    /// (Hop-by-Hop, Routing, Fragment, Destination Options).
    pub upper_protocol: IpProtocol,
    /// Where the upper-layer header starts.
    pub upper_offset: usize,
    /// Where the octet holding `upper_protocol` is; `None` when it is the
    /// fixed header's Next Header (no extension header).
    pub upper_next_header_offset: Option<usize>,
    /// The first Routing header of type 4 (Segment Routing Header).
    pub srh: Option<usize>,
    /// The first Routing header of any type.
    pub routing: Option<usize>,
    /// A Fragment header was seen.
    pub has_fragment: bool,
    /// The Fragment header has a non-zero offset: the walk stopped there,
    /// `upper_protocol` is the Fragment header's Next Header and the octets
    /// at `upper_offset` are the middle of the original payload, not a header.
    pub non_first_fragment: bool,
    /// Number of extension headers walked (at most [`MAX_EXT_HEADERS`]).
    pub count: u8,
}

/// Walks the extension headers at the start of an IPv6 payload.
///
/// `first` is the fixed header's Next Header and `payload` the octets after
/// the fixed header (bounded by Payload Length). Errors:
/// * [`Error::ExtHeaderTruncated`]: a header (8 octets at least, or its Hdr
///   Ext Len) runs past `payload`;
/// * [`Error::ExtHeaderChainTooLong`]: more than [`MAX_EXT_HEADERS`] headers;
/// * [`Error::Malformed`]: a Hop-by-Hop Options header anywhere but first
///   (RFC 8200 §4.1).
///
/// The headers' contents (options, SRH fields) are not checked here; use the
/// header views at the offsets returned. A second Routing header is allowed
/// (RFC 8200 says "should occur at most once", Linux accepts it) but only
/// the first is reported. Never allocates; at most [`MAX_EXT_HEADERS`] + 1
/// iterations.
pub fn walk(first: IpProtocol, payload: &[u8]) -> Result<ExtChain> {
    let mut chain = ExtChain {
        upper_protocol: first,
        upper_offset: 0,
        upper_next_header_offset: None,
        srh: None,
        routing: None,
        has_fragment: false,
        non_first_fragment: false,
        count: 0,
    };
    let mut proto = first;
    let mut offset = 0usize;
    while proto.is_ipv6_ext_header() {
        if usize::from(chain.count) == MAX_EXT_HEADERS {
            return Err(Error::ExtHeaderChainTooLong);
        }
        if proto == IpProtocol::HOP_BY_HOP && chain.count != 0 {
            return Err(Error::Malformed);
        }
        let rest = &payload[offset..];
        if rest.len() < field::MIN_HEADER_LEN {
            return Err(Error::ExtHeaderTruncated);
        }
        let len = match proto {
            IpProtocol::IPV6_FRAG => FRAGMENT_HEADER_LEN,
            _ => ext_header_len(rest[field::LENGTH]),
        };
        if len > rest.len() {
            return Err(Error::ExtHeaderTruncated);
        }
        chain.count += 1;
        chain.upper_next_header_offset = Some(offset);
        let next = IpProtocol(rest[field::NXT_HDR]);
        match proto {
            IpProtocol::IPV6_ROUTE => {
                chain.routing.get_or_insert(offset);
                if rest[field::ROUTING_TYPE] == ROUTING_TYPE_SRH && chain.srh.is_none() {
                    chain.srh = Some(offset);
                }
            }
            IpProtocol::IPV6_FRAG => {
                chain.has_fragment = true;
                let header = FragmentHeader::new_unchecked(rest);
                if header.frag_offset() != 0 {
                    chain.non_first_fragment = true;
                    chain.upper_protocol = next;
                    chain.upper_offset = offset + len;
                    return Ok(chain);
                }
            }
            _ => {}
        }
        offset += len;
        proto = next;
    }
    chain.upper_protocol = proto;
    chain.upper_offset = offset;
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hop-by-Hop, next header 43 (Routing), Hdr Ext Len 0, then a Router
    /// Alert option (type 5, length 2, value 0) and a PadN of 0 data octets:
    /// 2 + 4 + 2 = 8 octets (RFC 8200 §4.2/§4.3, RFC 2711).
    const HBH: [u8; 8] = [0x2b, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00];

    /// Destination Options, next header 17, Hdr Ext Len 1 (16 octets): an
    /// unknown option type 0x1e with 3 data octets, a Pad1, a PadN with 6
    /// data octets: 2 + 5 + 1 + 8 = 16.
    const DOPT: [u8; 16] = [
        0x11, 0x01, 0x1e, 0x03, 0xaa, 0xbb, 0xcc, 0x00, 0x01, 0x06, 0, 0, 0, 0, 0, 0,
    ];

    /// Fragment: next header 58, offset 185 (0x0b9) units, M=1, ident
    /// 0xdeadbeef. Offset/M word: 185 << 3 | 1 = 0x05c9.
    const FRAG: [u8; 8] = [0x3a, 0x00, 0x05, 0xc9, 0xde, 0xad, 0xbe, 0xef];

    /// A Routing header of type 0xfe (unknown), SL 3, Hdr Ext Len 1.
    const RH: [u8; 16] = [0x3c, 0x01, 0xfe, 0x03, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];

    #[test]
    fn options_header_getters_and_iterator() {
        let h = Ipv6OptionsHeader::new_checked(&HBH[..]).unwrap();
        assert_eq!(h.next_header(), IpProtocol::IPV6_ROUTE);
        assert_eq!(h.hdr_ext_len(), 0);
        assert_eq!(h.header_len(), 8);
        assert_eq!(h.options_bytes(), &HBH[2..]);
        let opts: Vec<_> = h.options().collect::<Result<_>>().unwrap();
        assert_eq!(
            opts,
            vec![
                Ipv6Option::Other {
                    opt_type: 5,
                    data: &[0, 0]
                },
                Ipv6Option::PadN(0)
            ]
        );

        let d = Ipv6OptionsHeader::new_checked(&DOPT[..]).unwrap();
        assert_eq!(d.header_len(), 16);
        assert_eq!(d.next_header(), IpProtocol::UDP);
        let opts: Vec<_> = d.options().collect::<Result<_>>().unwrap();
        assert_eq!(
            opts,
            vec![
                Ipv6Option::Other {
                    opt_type: 0x1e,
                    data: &[0xaa, 0xbb, 0xcc]
                },
                Ipv6Option::Pad1,
                Ipv6Option::PadN(6)
            ]
        );
        assert_eq!(d.into_inner().len(), 16);
    }

    #[test]
    fn options_header_ignores_trailing_bytes() {
        let mut buf = HBH.to_vec();
        buf.extend_from_slice(&[0xff; 5]);
        let h = Ipv6OptionsHeader::new_checked(&buf[..]).unwrap();
        assert_eq!(h.options().count(), 2);
    }

    #[test]
    fn options_header_truncated_at_every_prefix() {
        for len in 0..DOPT.len() {
            assert_eq!(
                Ipv6OptionsHeader::new_checked(&DOPT[..len]).unwrap_err(),
                Error::Truncated,
                "len {len}"
            );
        }
    }

    #[test]
    fn option_overrun_is_bad_option() {
        // PadN claiming 6 data octets where only 4 remain.
        let buf = [0x11, 0x00, 0x01, 0x06, 0, 0, 0, 0];
        assert_eq!(
            Ipv6OptionsHeader::new_checked(&buf[..]).unwrap_err(),
            Error::BadOption
        );
        let h = Ipv6OptionsHeader::new_unchecked(&buf[..]);
        let items: Vec<_> = h.options().collect();
        assert_eq!(items, vec![Err(Error::BadOption)]);
        // A lone type octet (no length) in the last position.
        let buf = [0x11, 0x00, 0x01, 0x03, 0, 0, 0, 0x1e];
        let h = Ipv6OptionsHeader::new_unchecked(&buf[..]);
        let items: Vec<_> = h.options().collect();
        assert_eq!(items, vec![Ok(Ipv6Option::PadN(3)), Err(Error::BadOption)]);
    }

    #[test]
    fn options_setters() {
        let mut buf = [0u8; 8];
        let mut h = Ipv6OptionsHeader::new_unchecked(&mut buf[..]);
        h.set_next_header(IpProtocol::IPV6_ROUTE);
        h.set_hdr_ext_len(0);
        h.options_bytes_mut()
            .copy_from_slice(&[0x05, 0x02, 0x00, 0x00, 0x01, 0x00]);
        assert_eq!(buf, HBH);
    }

    #[test]
    fn options_repr_round_trip() {
        let repr = Ipv6OptionsRepr {
            next_header: IpProtocol::UDP,
            options: vec![
                Ipv6OptionRepr::Other {
                    opt_type: 0x1e,
                    data: vec![0xaa, 0xbb, 0xcc],
                },
                Ipv6OptionRepr::Pad1,
                Ipv6OptionRepr::PadN(6),
            ],
        };
        let h = Ipv6OptionsHeader::new_checked(&DOPT[..]).unwrap();
        assert_eq!(Ipv6OptionsRepr::parse(&h).unwrap(), repr);
        assert_eq!(repr.buffer_len(), 16);
        let mut buf = [0xffu8; 16];
        repr.emit(&mut Ipv6OptionsHeader::new_unchecked(&mut buf[..]));
        assert_eq!(buf, DOPT);
    }

    #[test]
    fn options_repr_pads_to_eight() {
        // Router Alert alone: 2 + 4 = 6 octets, so a PadN(0) is appended.
        let repr = Ipv6OptionsRepr {
            next_header: IpProtocol::IPV6_ROUTE,
            options: vec![Ipv6OptionRepr::Other {
                opt_type: 5,
                data: vec![0, 0],
            }],
        };
        assert_eq!(repr.buffer_len(), 8);
        let mut buf = [0xffu8; 8];
        repr.emit(&mut Ipv6OptionsHeader::new_unchecked(&mut buf[..]));
        assert_eq!(buf, HBH);
        // One octet short of a boundary: a Pad1.
        let repr = Ipv6OptionsRepr {
            next_header: IpProtocol::UDP,
            options: vec![Ipv6OptionRepr::PadN(3)],
        };
        let mut buf = [0xffu8; 8];
        repr.emit(&mut Ipv6OptionsHeader::new_unchecked(&mut buf[..]));
        assert_eq!(buf, [0x11, 0x00, 0x01, 0x03, 0, 0, 0, 0x00]);
        // No options at all: a PadN(4) fills the 6 octets.
        let repr = Ipv6OptionsRepr {
            next_header: IpProtocol::UDP,
            options: vec![],
        };
        let mut buf = [0xffu8; 8];
        repr.emit(&mut Ipv6OptionsHeader::new_unchecked(&mut buf[..]));
        assert_eq!(buf, [0x11, 0x00, 0x01, 0x04, 0, 0, 0, 0]);
    }

    #[test]
    fn fragment_getters_setters_repr() {
        let f = FragmentHeader::new_checked(&FRAG[..]).unwrap();
        assert_eq!(f.next_header(), IpProtocol::ICMPV6);
        assert_eq!(f.frag_offset(), 185);
        assert!(f.more_frags());
        assert_eq!(f.ident(), 0xdead_beef);
        let repr = FragmentRepr {
            next_header: IpProtocol::ICMPV6,
            frag_offset: 185,
            more_frags: true,
            ident: 0xdead_beef,
        };
        assert_eq!(FragmentRepr::parse(&f).unwrap(), repr);
        let mut buf = [0xffu8; 8];
        repr.emit(&mut FragmentHeader::new_unchecked(&mut buf[..]));
        assert_eq!(buf, FRAG);
        assert_eq!(repr.buffer_len(), 8);

        let mut f = FragmentHeader::new_unchecked(&mut buf[..]);
        f.set_more_frags(false);
        assert_eq!(f.frag_offset(), 185);
        f.set_frag_offset(0x1fff);
        assert!(!f.more_frags());
        assert_eq!(f.frag_offset(), 0x1fff);
        assert_eq!(buf[2..4], [0xff, 0xf8]);
        for len in 0..8 {
            assert_eq!(
                FragmentHeader::new_checked(&FRAG[..len]).unwrap_err(),
                Error::Truncated
            );
        }
    }

    #[test]
    fn routing_header_view() {
        let r = RoutingHeader::new_checked(&RH[..]).unwrap();
        assert_eq!(r.next_header(), IpProtocol::IPV6_OPTS);
        assert_eq!(r.hdr_ext_len(), 1);
        assert_eq!(r.routing_type(), 0xfe);
        assert_eq!(r.segments_left(), 3);
        assert_eq!(r.header_len(), 16);
        assert_eq!(r.data(), &RH[4..]);
        for len in 0..RH.len() {
            assert_eq!(
                RoutingHeader::new_checked(&RH[..len]).unwrap_err(),
                Error::Truncated
            );
        }
        let mut buf = [0u8; 16];
        buf[4..].copy_from_slice(&RH[4..]);
        let mut r = RoutingHeader::new_unchecked(&mut buf[..]);
        r.set_next_header(IpProtocol::IPV6_OPTS);
        r.set_hdr_ext_len(1);
        r.set_routing_type(0xfe);
        r.set_segments_left(3);
        assert_eq!(buf, RH);
    }

    /// An SRH with one segment and Hdr Ext Len 2, next header `nh`.
    fn srh(nh: u8) -> Vec<u8> {
        let mut v = vec![nh, 0x02, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00];
        v.extend_from_slice(&[0x20; 16]);
        v
    }

    #[test]
    fn walk_no_extension_headers() {
        let chain = walk(IpProtocol::UDP, &[0u8; 8]).unwrap();
        assert_eq!(
            chain,
            ExtChain {
                upper_protocol: IpProtocol::UDP,
                upper_offset: 0,
                upper_next_header_offset: None,
                srh: None,
                routing: None,
                has_fragment: false,
                non_first_fragment: false,
                count: 0,
            }
        );
        // Upper layer with an empty payload is fine: the walker checks only
        // extension headers.
        assert_eq!(walk(IpProtocol::TCP, &[]).unwrap().upper_offset, 0);
    }

    #[test]
    fn walk_full_chain() {
        // HBH(8) -> DOPT(16) -> SRH(24) -> FRAG(8, offset 0) -> UDP
        let mut p = HBH.to_vec();
        p[0] = 60;
        p.extend_from_slice(&DOPT);
        let at = p.len();
        p[at - 16] = 43;
        p.extend_from_slice(&srh(44));
        let mut frag = FRAG;
        frag[0] = 17;
        frag[2] = 0;
        frag[3] = 1; // offset 0, M=1: a first fragment
        p.extend_from_slice(&frag);
        p.extend_from_slice(&[0u8; 8]);
        let chain = walk(IpProtocol::HOP_BY_HOP, &p).unwrap();
        assert_eq!(chain.upper_protocol, IpProtocol::UDP);
        assert_eq!(chain.upper_offset, 8 + 16 + 24 + 8);
        assert_eq!(chain.upper_next_header_offset, Some(8 + 16 + 24));
        assert_eq!(chain.srh, Some(24));
        assert_eq!(chain.routing, Some(24));
        assert!(chain.has_fragment);
        assert!(!chain.non_first_fragment);
        assert_eq!(chain.count, 4);
    }

    #[test]
    fn walk_non_srh_routing_header_and_non_first_fragment() {
        let mut p = RH.to_vec();
        p[0] = 44;
        p.extend_from_slice(&FRAG); // offset 185: not the first fragment
        p.extend_from_slice(&[0xaa; 4]);
        let chain = walk(IpProtocol::IPV6_ROUTE, &p).unwrap();
        assert_eq!(chain.routing, Some(0));
        assert_eq!(chain.srh, None);
        assert!(chain.has_fragment);
        assert!(chain.non_first_fragment);
        assert_eq!(chain.upper_protocol, IpProtocol::ICMPV6);
        assert_eq!(chain.upper_offset, 24);
        assert_eq!(chain.count, 2);
    }

    #[test]
    fn walk_second_routing_header_reports_first() {
        let mut p = RH.to_vec();
        p[0] = 43;
        p.extend_from_slice(&srh(59));
        let chain = walk(IpProtocol::IPV6_ROUTE, &p).unwrap();
        assert_eq!(chain.routing, Some(0));
        assert_eq!(chain.srh, Some(16));
        assert_eq!(chain.upper_protocol, IpProtocol::IPV6_NO_NXT);
        assert_eq!(chain.upper_offset, 40);
    }

    /// `n` Destination Options headers of 8 octets each, the last pointing
    /// to UDP.
    fn dopt_chain(n: usize) -> Vec<u8> {
        let mut p = Vec::new();
        for i in 0..n {
            let nh = if i + 1 == n { 17 } else { 60 };
            p.extend_from_slice(&[nh, 0, 1, 4, 0, 0, 0, 0]);
        }
        p
    }

    #[test]
    fn walk_chain_length_limit() {
        let chain = walk(IpProtocol::IPV6_OPTS, &dopt_chain(8)).unwrap();
        assert_eq!(chain.count, 8);
        assert_eq!(chain.upper_offset, 64);
        assert_eq!(chain.upper_protocol, IpProtocol::UDP);
        assert_eq!(
            walk(IpProtocol::IPV6_OPTS, &dopt_chain(9)).unwrap_err(),
            Error::ExtHeaderChainTooLong
        );
        // A ninth header announced but missing: the limit is hit before
        // the truncation.
        let mut p = dopt_chain(8);
        p[56] = 60;
        assert_eq!(
            walk(IpProtocol::IPV6_OPTS, &p).unwrap_err(),
            Error::ExtHeaderChainTooLong
        );
    }

    #[test]
    fn walk_hop_by_hop_not_first() {
        let mut p = dopt_chain(1);
        p[0] = 0;
        p.extend_from_slice(&HBH);
        assert_eq!(
            walk(IpProtocol::IPV6_OPTS, &p).unwrap_err(),
            Error::Malformed
        );
        // First is fine.
        let mut p = HBH.to_vec();
        p[0] = 17;
        assert_eq!(walk(IpProtocol::HOP_BY_HOP, &p).unwrap().count, 1);
    }

    #[test]
    fn walk_truncated_at_every_prefix() {
        let mut p = HBH.to_vec();
        p[0] = 43;
        p.extend_from_slice(&srh(60));
        p.extend_from_slice(&DOPT);
        for len in 0..p.len() {
            assert_eq!(
                walk(IpProtocol::HOP_BY_HOP, &p[..len]).unwrap_err(),
                Error::ExtHeaderTruncated,
                "len {len}"
            );
        }
        assert_eq!(walk(IpProtocol::HOP_BY_HOP, &p).unwrap().upper_offset, 48);
    }

    #[test]
    fn split_tlv_and_padding_helpers() {
        assert_eq!(split_tlv(&[0, 9, 9]), Ok((0, &[][..], 1)));
        assert_eq!(split_tlv(&[7, 1, 9, 8]), Ok((7, &[9][..], 3)));
        assert_eq!(split_tlv(&[7]), Err(Error::BadOption));
        assert_eq!(split_tlv(&[7, 2, 9]), Err(Error::BadOption));
        assert_eq!(padding_for(2, 6), 0);
        assert_eq!(padding_for(2, 5), 1);
        assert_eq!(padding_for(2, 0), 6);
        assert_eq!(padding_for(8, 0), 0);
    }
}
