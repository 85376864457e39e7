//! Errors of the STAMP codec.
//!
//! Every variant has a stable snake_case [`Error::name`] so that the
//! reflector and the sender can count drops by reason
//! (`stamp.drop.tlv_bad_length`, not `stamp.drop.3`).

/// Why a buffer could not be read (or verified) as a STAMP packet or TLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The buffer is shorter than the base packet of the expected role and
    /// mode (44 octets unauthenticated, 112 authenticated; RFC 8762 §4.2,
    /// §4.3), or than what an HMAC computation needs.
    #[error("truncated: buffer shorter than the STAMP base packet")]
    Truncated,
    /// Fewer than the 4 octets of a TLV header (Flags, Type, Length) are
    /// left in the TLV area (RFC 8972 §4).
    #[error("tlv_truncated: fewer than 4 octets left for a TLV header")]
    TlvTruncated,
    /// A TLV's Length runs past the end of the TLV area (RFC 8972 §4).
    #[error("tlv_bad_length: TLV Length runs past the end of the packet")]
    TlvBadLength,
    /// A TLV of a known type whose value does not have the layout of its
    /// type (for instance a Class of Service TLV whose Length is not 4, or
    /// a Return Path TLV whose sub-TLVs do not add up).
    #[error("tlv_malformed: TLV value does not match the layout of its type")]
    TlvMalformed,
    /// The HMAC (of the packet, RFC 8762 §4.4, or of the HMAC TLV,
    /// RFC 8972 §4.8) does not verify.
    #[error("bad_hmac: HMAC does not verify")]
    BadHmac,
    /// A Must-Be-Zero field holds a non-zero octet.
    #[error("bad_mbz: a Must-Be-Zero field is not zero")]
    BadMbz,
}

impl Error {
    /// A short, stable, snake_case name for counters and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Error::Truncated => "truncated",
            Error::TlvTruncated => "tlv_truncated",
            Error::TlvBadLength => "tlv_bad_length",
            Error::TlvMalformed => "tlv_malformed",
            Error::BadHmac => "bad_hmac",
            Error::BadMbz => "bad_mbz",
        }
    }
}

/// Result type of the STAMP codec.
pub type Result<T> = core::result::Result<T, Error>;
