//! STAMP authentication: HMAC-SHA-256 truncated to 16 octets (RFC 8762
//! §4.4), for the HMAC field of authenticated packets and the HMAC TLV
//! (RFC 8972 §4.8).
//!
//! What it is not: key management. A session's key is handed in as an
//! [`HmacKey`].
//!
//! # Coverage
//!
//! * Packet HMAC (RFC 8762 §4.2.2 and §4.3.2, algorithm in §4.4): in an
//!   authenticated packet of either role, the HMAC field (octets 96..112)
//!   covers every octet of the base packet before it, octets 0..96:
//!   Sequence Number, Timestamp, Error Estimate, SSID, the reflector's
//!   fields and all the MBZ octets. TLVs after the base packet are not
//!   covered by it.
//! * HMAC TLV (RFC 8972 §4.8): its HMAC covers the Sequence Number field
//!   of the base packet (octets 0..4, in both roles and modes) followed by
//!   all the TLVs that precede the HMAC TLV (headers and values, as on the
//!   wire). Only the Sequence Number of the base packet is covered; in
//!   authenticated mode the packet HMAC protects the rest of the base.
//!   A reflector recomputes it over its own Sequence Number and the TLVs
//!   as it sends them (with the U/M/I flags it set).
//!   Some implementations (teaparty) read "all preceding TLVs" as leaving
//!   out the value of an Extra Padding TLV (its header is covered): see
//!   [`HmacTlvCoverage`] and docs/decisions/0009-stamp-hmac-tlv-coverage.md.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::packet::{Mode, HMAC_LEN, HMAC_OFFSET, SENDER_LEN_AUTH};

type HmacSha256 = Hmac<Sha256>;

/// Length of the Sequence Number field covered by the HMAC TLV.
const SEQUENCE_LEN: usize = 4;

/// A shared HMAC key (any length; HMAC hashes keys longer than 64 octets).
/// `Debug` does not show the key. Cloning shares the octets (no
/// allocation: a packet engine's thread may copy a session).
#[derive(Clone, PartialEq, Eq)]
pub struct HmacKey(std::sync::Arc<[u8]>);

impl HmacKey {
    /// A key from its octets.
    pub fn new(key: &[u8]) -> HmacKey {
        HmacKey(key.into())
    }

    /// The key's octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length.
        HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }
}

impl core::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "HmacKey({} octets)", self.0.len())
    }
}

/// HMAC-SHA-256 over the concatenation of `data_parts`, truncated to its
/// first 16 octets (RFC 8762 §4.4).
pub fn hmac16(key: &HmacKey, data_parts: &[&[u8]]) -> [u8; HMAC_LEN] {
    let mut mac = key.mac();
    for part in data_parts {
        mac.update(part);
    }
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; HMAC_LEN];
    out.copy_from_slice(&full[..HMAC_LEN]);
    out
}

/// True if `expected` is the 16-octet truncated HMAC of `data_parts`;
/// the comparison takes the same time whatever the octets. False if
/// `expected` is not 16 octets long.
pub fn verify16(key: &HmacKey, data_parts: &[&[u8]], expected: &[u8]) -> bool {
    if expected.len() != HMAC_LEN {
        return false;
    }
    let mut mac = key.mac();
    for part in data_parts {
        mac.update(part);
    }
    mac.verify_truncated_left(expected).is_ok()
}

/// The packet HMAC of an authenticated Session-Sender packet: over octets
/// 0..96 (RFC 8762 §4.2.2). [`Error::Truncated`] if `buf` is shorter than
/// 112 octets.
pub fn sender_packet_hmac(key: &HmacKey, buf: &[u8]) -> Result<[u8; HMAC_LEN]> {
    packet_hmac(key, buf)
}

/// The packet HMAC of an authenticated Session-Reflector packet: over
/// octets 0..96 (RFC 8762 §4.3.2). [`Error::Truncated`] if `buf` is
/// shorter than 112 octets.
pub fn reflector_packet_hmac(key: &HmacKey, buf: &[u8]) -> Result<[u8; HMAC_LEN]> {
    packet_hmac(key, buf)
}

fn packet_hmac(key: &HmacKey, buf: &[u8]) -> Result<[u8; HMAC_LEN]> {
    if buf.len() < SENDER_LEN_AUTH {
        return Err(Error::Truncated);
    }
    Ok(hmac16(key, &[&buf[..HMAC_OFFSET]]))
}

/// Computes the packet HMAC of an authenticated packet (either role: same
/// coverage and offset) and writes it into octets 96..112.
/// [`Error::Truncated`] if `buf` is shorter than 112 octets.
pub fn set_packet_hmac(key: &HmacKey, buf: &mut [u8]) -> Result<()> {
    let h = packet_hmac(key, buf)?;
    buf[HMAC_OFFSET..HMAC_OFFSET + HMAC_LEN].copy_from_slice(&h);
    Ok(())
}

/// Verifies the packet HMAC of an authenticated packet (either role), in
/// constant time: [`Error::Truncated`] if shorter than 112 octets,
/// [`Error::BadHmac`] if it does not verify.
pub fn verify_packet_hmac(key: &HmacKey, buf: &[u8]) -> Result<()> {
    if buf.len() < SENDER_LEN_AUTH {
        return Err(Error::Truncated);
    }
    if verify16(
        key,
        &[&buf[..HMAC_OFFSET]],
        &buf[HMAC_OFFSET..HMAC_OFFSET + HMAC_LEN],
    ) {
        Ok(())
    } else {
        Err(Error::BadHmac)
    }
}

/// The HMAC of an HMAC TLV over the octets it covers, given in order
/// (RFC 8972 §4.8: the Sequence Number of the base packet, then the TLVs
/// preceding the HMAC TLV). See [`packet_hmac_tlv_digest`] to take them
/// from a packet.
pub fn hmac_tlv_digest(key: &HmacKey, covered: &[&[u8]]) -> [u8; HMAC_LEN] {
    hmac16(key, covered)
}

/// The octets an HMAC TLV starting at `hmac_tlv_offset` (from the start
/// of the packet) covers: the Sequence Number (octets 0..4) and the TLVs
/// from the end of the base packet up to the HMAC TLV.
/// [`Error::Truncated`] if the offset is before the end of the base packet
/// or beyond the buffer. The base length is the same for both roles.
pub fn hmac_tlv_coverage(packet: &[u8], mode: Mode, hmac_tlv_offset: usize) -> Result<[&[u8]; 2]> {
    let base = crate::packet::base_len(crate::packet::Role::Sender, mode);
    if hmac_tlv_offset < base || hmac_tlv_offset > packet.len() {
        return Err(Error::Truncated);
    }
    Ok([&packet[..SEQUENCE_LEN], &packet[base..hmac_tlv_offset]])
}

/// The HMAC for an HMAC TLV starting at `hmac_tlv_offset` in `packet`
/// (see [`hmac_tlv_coverage`]).
pub fn packet_hmac_tlv_digest(
    key: &HmacKey,
    packet: &[u8],
    mode: Mode,
    hmac_tlv_offset: usize,
) -> Result<[u8; HMAC_LEN]> {
    let parts = hmac_tlv_coverage(packet, mode, hmac_tlv_offset)?;
    Ok(hmac_tlv_digest(key, &parts))
}

/// Verifies, in constant time, the HMAC TLV starting at `hmac_tlv_offset`
/// in `packet`: [`Error::Truncated`] if it is not a whole HMAC TLV inside
/// the buffer after the base packet, [`Error::BadHmac`] if it does not
/// verify. The type of the TLV is not checked.
pub fn verify_hmac_tlv(
    key: &HmacKey,
    packet: &[u8],
    mode: Mode,
    hmac_tlv_offset: usize,
) -> Result<()> {
    let parts = hmac_tlv_coverage(packet, mode, hmac_tlv_offset)?;
    let start = hmac_tlv_offset + crate::tlv::HEADER_LEN;
    let got = packet
        .get(start..start + HMAC_LEN)
        .ok_or(Error::Truncated)?;
    if verify16(key, &parts, got) {
        Ok(())
    } else {
        Err(Error::BadHmac)
    }
}

/// Which octets of the TLVs preceding an HMAC TLV its HMAC covers (always
/// after the Sequence Number of the base packet; RFC 8972 §4.8 and
/// docs/decisions/0009-stamp-hmac-tlv-coverage.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HmacTlvCoverage {
    /// Every preceding TLV whole, header and value, as on the wire: the
    /// RFC's words, what srv6d sends.
    #[default]
    WholeTlvs,
    /// As [`HmacTlvCoverage::WholeTlvs`], but of an Extra Padding TLV only
    /// its 4-octet header: teaparty's reading, accepted from peers (and
    /// answered in kind).
    PaddingHeadersOnly,
}

/// [`packet_hmac_tlv_digest`] with the given coverage. Does not allocate.
pub fn packet_hmac_tlv_digest_with(
    key: &HmacKey,
    packet: &[u8],
    mode: Mode,
    hmac_tlv_offset: usize,
    coverage: HmacTlvCoverage,
) -> Result<[u8; HMAC_LEN]> {
    let [sequence, tlvs] = hmac_tlv_coverage(packet, mode, hmac_tlv_offset)?;
    if coverage == HmacTlvCoverage::WholeTlvs {
        return Ok(hmac_tlv_digest(key, &[sequence, tlvs]));
    }
    let mut mac = key.mac();
    mac.update(sequence);
    let mut iter = crate::tlv::TlvIter::new(tlvs);
    loop {
        let at = iter.position();
        match iter.next() {
            Some(Ok(t)) => {
                let whole = &tlvs[at..at + t.total_len()];
                if t.tlv_type() == crate::tlv::EXTRA_PADDING {
                    mac.update(&whole[..crate::tlv::HEADER_LEN]);
                } else {
                    mac.update(whole);
                }
            }
            // A TLV running past the HMAC TLV: covered as it is.
            Some(Err(_)) => {
                mac.update(&tlvs[at..]);
                break;
            }
            None => break,
        }
    }
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; HMAC_LEN];
    out.copy_from_slice(&full[..HMAC_LEN]);
    Ok(out)
}

/// [`verify_hmac_tlv`] with the given coverage (constant-time comparison).
pub fn verify_hmac_tlv_with(
    key: &HmacKey,
    packet: &[u8],
    mode: Mode,
    hmac_tlv_offset: usize,
    coverage: HmacTlvCoverage,
) -> Result<()> {
    let expected = packet_hmac_tlv_digest_with(key, packet, mode, hmac_tlv_offset, coverage)?;
    let start = hmac_tlv_offset + crate::tlv::HEADER_LEN;
    let got = packet
        .get(start..start + HMAC_LEN)
        .ok_or(Error::Truncated)?;
    let mut diff = 0u8;
    for (a, b) in expected.iter().zip(got) {
        diff |= a ^ b;
    }
    if diff == 0 {
        Ok(())
    } else {
        Err(Error::BadHmac)
    }
}
