//! Wire formats, in the style of smoltcp's `wire` module.
//!
//! Each header has a zero-copy view `Header<T: AsRef<[u8]>>` (`new_unchecked`,
//! `new_checked`, `check_len`; after a successful `check_len` no accessor can
//! panic), one getter and one setter per field, and a plain-data `Repr` with
//! `parse`, `buffer_len` and `emit`. Field offsets live in a private
//! `mod field` with the RFC's diagram above them. Nothing here allocates on
//! the parse path or does I/O.

use core::fmt;

pub mod checksum;
pub mod ethernet;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6ext;
pub mod srh;
pub mod udp;

/// Why a buffer could not be read as the header it was supposed to hold.
///
/// Every variant is specific enough to become a named drop reason in the
/// data path (`drop.srh_segments_left_beyond_last_entry`, not `drop.3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before the fixed part of the header does.
    Truncated,
    /// The IP version nibble is not the one expected.
    BadVersion,
    /// IPv4 Internet Header Length below 5 (20 octets).
    Ipv4BadIhl,
    /// IPv4 Total Length smaller than the header or larger than the buffer.
    Ipv4BadTotalLength,
    /// IPv4 header checksum does not verify.
    Ipv4BadChecksum,
    /// IPv6 Payload Length larger than the buffer (jumbograms are not
    /// supported: a zero Payload Length is read as an empty payload).
    Ipv6BadPayloadLength,
    /// An IPv6 extension header runs past the end of the packet.
    ExtHeaderTruncated,
    /// More extension headers than the parser is willing to walk.
    ExtHeaderChainTooLong,
    /// An option (Hop-by-Hop / Destination Options) or SRH TLV overruns its header.
    BadOption,
    /// Segment Routing Header whose Hdr Ext Len cannot hold its Last Entry + 1
    /// segments (an odd Hdr Ext Len is accepted, as Linux does: an SRH with
    /// an HMAC TLV has one).
    SrhBadLength,
    /// Segments Left greater than Last Entry + 1 would allow.
    SrhSegmentsLeftBeyondLastEntry,
    /// UDP Length smaller than 8 or larger than the IP payload.
    UdpBadLength,
    /// A field holds a value the format does not allow.
    Malformed,
}

impl Error {
    /// A short, stable, snake_case name for counters and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Error::Truncated => "truncated",
            Error::BadVersion => "bad_ip_version",
            Error::Ipv4BadIhl => "ipv4_bad_ihl",
            Error::Ipv4BadTotalLength => "ipv4_bad_total_length",
            Error::Ipv4BadChecksum => "ipv4_bad_checksum",
            Error::Ipv6BadPayloadLength => "ipv6_bad_payload_length",
            Error::ExtHeaderTruncated => "ext_header_truncated",
            Error::ExtHeaderChainTooLong => "ext_header_chain_too_long",
            Error::BadOption => "bad_option",
            Error::SrhBadLength => "srh_bad_length",
            Error::SrhSegmentsLeftBeyondLastEntry => "srh_segments_left_beyond_last_entry",
            Error::UdpBadLength => "udp_bad_length",
            Error::Malformed => "malformed",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for Error {}

/// An IP protocol number (IPv4 Protocol / IPv6 Next Header), as assigned by IANA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    pub const HOP_BY_HOP: IpProtocol = IpProtocol(0);
    pub const ICMP: IpProtocol = IpProtocol(1);
    /// IPv4 in IP (the inner packet of an SRv6 encapsulation of IPv4).
    pub const IPV4: IpProtocol = IpProtocol(4);
    pub const TCP: IpProtocol = IpProtocol(6);
    pub const UDP: IpProtocol = IpProtocol(17);
    /// IPv6 in IP (the inner packet of an SRv6 encapsulation of IPv6).
    pub const IPV6: IpProtocol = IpProtocol(41);
    pub const IPV6_ROUTE: IpProtocol = IpProtocol(43);
    pub const IPV6_FRAG: IpProtocol = IpProtocol(44);
    pub const ESP: IpProtocol = IpProtocol(50);
    pub const AH: IpProtocol = IpProtocol(51);
    pub const ICMPV6: IpProtocol = IpProtocol(58);
    pub const IPV6_NO_NXT: IpProtocol = IpProtocol(59);
    pub const IPV6_OPTS: IpProtocol = IpProtocol(60);
    /// Ethernet (RFC 8986 End.DX2 payloads).
    pub const ETHERNET: IpProtocol = IpProtocol(143);

    /// True for the IPv6 extension headers this crate walks as a chain
    /// (Hop-by-Hop, Routing, Fragment, Destination Options).
    pub const fn is_ipv6_ext_header(self) -> bool {
        matches!(self.0, 0 | 43 | 44 | 60)
    }
}

/// Result type of the wire module.
pub type Result<T> = core::result::Result<T, Error>;
