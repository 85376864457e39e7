//! STAMP test packets: the Session-Sender's (RFC 8762 §4.2) and the
//! Session-Reflector's (RFC 8762 §4.3), unauthenticated and authenticated,
//! with the Session-Sender Identifier (SSID) of RFC 8972 §3 in place of
//! the first two MBZ octets after the Error Estimate, and TLVs (RFC 8972
//! §4) after the base packet.
//!
//! What it is: zero-copy views [`SenderPacket`] and [`ReflectorPacket`],
//! plain-data [`SenderRepr`] and [`ReflectorRepr`].
//!
//! The mode ([`Mode`]) cannot be read from the bytes; the session
//! configuration says which. The HMAC field of an authenticated packet is
//! computed by [`crate::auth`], never by `emit`: `emit` writes it as zero,
//! then the caller calls [`crate::auth::set_packet_hmac`].
//!
//! # Reflecting in place
//!
//! Both roles have the same base length in a given mode, so the reflector
//! can overwrite a received sender packet with its reply (RFC 8762 §4.3
//! asks for a reply of the same size). Offsets, sender → reflector:
//!
//! | field            | unauth sender | unauth reflector | auth sender | auth reflector |
//! |------------------|---------------|------------------|-------------|----------------|
//! | Sequence Number  | 0..4          | 0..4             | 0..4        | 0..4           |
//! | Timestamp        | 4..12         | 4..12            | 16..24      | 16..24         |
//! | Error Estimate   | 12..14        | 12..14           | 24..26      | 24..26         |
//! | SSID             | 14..16        | 14..16           | 26..28      | 26..28         |
//! | Receive Timestamp| (MBZ)         | 16..24           | (MBZ)       | 32..40         |
//! | Sender Sequence  | (MBZ)         | 24..28           | (MBZ)       | 48..52         |
//! | Sender Timestamp | (MBZ)         | 28..36           | (MBZ)       | 64..72         |
//! | Sender Err. Est. | (MBZ)         | 36..38           | (MBZ)       | 72..74         |
//! | Sender TTL       | (MBZ)         | 40               | (MBZ)       | 80             |
//! | HMAC             | -             | -                | 96..112     | 96..112        |
//!
//! So the reflector's Sequence Number, Timestamp and Error Estimate sit
//! exactly on the sender's, and all the reflector-only fields sit in the
//! sender's MBZ. The order: (1) read the sender's Sequence Number,
//! Timestamp, Error Estimate and SSID from a [`SenderPacket`]; (2) write
//! the reflector's fields through a [`ReflectorPacket`] over the same
//! slice, starting with [`ReflectorPacket::clear_mbz`] (the sender's MBZ
//! may not be zero), then the Session-Sender fields, Receive Timestamp,
//! Sender TTL, and last the reflector's own Sequence Number, Timestamp and
//! Error Estimate (which overwrite the sender's); (3) in authenticated
//! mode, [`crate::auth::set_packet_hmac`]. The SSID stays where it is.
//! The TLVs start at the same offset in both roles.

use crate::error::{Error, Result};
use crate::time::ErrorEstimate;
use crate::tlv::{TlvIter, TlvRepr};

/// Which STAMP mode a session runs in (RFC 8762 §4.2.1 and §4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// No HMAC; 44-octet base packets.
    #[default]
    Unauthenticated,
    /// HMAC over the base packet; 112-octet base packets.
    Authenticated,
}

/// Which end sent the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Session-Sender test packet.
    Sender,
    /// Session-Reflector test packet.
    Reflector,
}

/// Base length of a Session-Sender packet, unauthenticated (RFC 8762 §4.2.1).
pub const SENDER_LEN_UNAUTH: usize = 44;
/// Base length of a Session-Sender packet, authenticated (RFC 8762 §4.2.2).
pub const SENDER_LEN_AUTH: usize = 112;
/// Base length of a Session-Reflector packet, unauthenticated (RFC 8762 §4.3.1).
pub const REFLECTOR_LEN_UNAUTH: usize = 44;
/// Base length of a Session-Reflector packet, authenticated (RFC 8762 §4.3.2).
pub const REFLECTOR_LEN_AUTH: usize = 112;
/// Length of the HMAC field (RFC 8762 §4.4: HMAC-SHA-256 truncated to 128 bits).
pub const HMAC_LEN: usize = 16;
/// Offset of the HMAC field in an authenticated packet of either role; the
/// packet HMAC covers the octets before it.
pub const HMAC_OFFSET: usize = 96;

/// Length of a TWAMP-Test Session-Sender packet, unauthenticated, without
/// padding (RFC 5357 §4.1.2: Sequence Number, Timestamp, Error Estimate):
/// the shortest test packet a reflector answers (RFC 8762 §4.6).
pub const TWAMP_LIGHT_SENDER_LEN: usize = 14;
/// Length of a TWAMP-Test Session-Reflector packet, unauthenticated,
/// without padding (RFC 5357 §4.2.1: up to and including Sender TTL): the
/// shortest reply a sender configured for TWAMP-light accepts.
pub const TWAMP_LIGHT_REFLECTOR_LEN: usize = 41;

/// The length of the reply to an unauthenticated test packet of
/// `received` octets (UDP data), or `None` if it is too short to answer.
/// RFC 8762 §4.6: a packet smaller than the STAMP base packet (a
/// TWAMP-light sender's, at least [`TWAMP_LIGHT_SENDER_LEN`] octets) gets
/// the base packet (44 octets, Figure 4), its missing octets read as zero
/// (so its SSID is 0 if it ends before octet 16); a longer one gets a
/// reply of its own size.
pub const fn reflector_reply_len(received: usize) -> Option<usize> {
    if received < TWAMP_LIGHT_SENDER_LEN {
        None
    } else if received < REFLECTOR_LEN_UNAUTH {
        Some(REFLECTOR_LEN_UNAUTH)
    } else {
        Some(received)
    }
}

/// Length of the base packet (TLVs start there) for a role and mode.
pub const fn base_len(role: Role, mode: Mode) -> usize {
    match (role, mode) {
        (Role::Sender, Mode::Unauthenticated) => SENDER_LEN_UNAUTH,
        (Role::Sender, Mode::Authenticated) => SENDER_LEN_AUTH,
        (Role::Reflector, Mode::Unauthenticated) => REFLECTOR_LEN_UNAUTH,
        (Role::Reflector, Mode::Authenticated) => REFLECTOR_LEN_AUTH,
    }
}

type Span = core::ops::Range<usize>;

// RFC 8762 §4.2.1 with RFC 8972 §3 (Figure 1), Session-Sender,
// unauthenticated:
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                        Sequence Number                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                          Timestamp                            |
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Error Estimate        |             SSID              |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                                                               |
//  |                         MBZ (28 octets)                       |
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  ~                            TLVs                               ~
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
mod sender_unauth {
    use super::Span;
    pub const SEQUENCE: Span = 0..4;
    pub const TIMESTAMP: Span = 4..12;
    pub const ERROR_ESTIMATE: Span = 12..14;
    pub const SSID: Span = 14..16;
    // A list of spans (one here) like the other layouts.
    #[allow(clippy::single_range_in_vec_init)]
    pub const MBZ: &[Span] = &[16..44];
}

// RFC 8762 §4.2.2 with RFC 8972 §3 (Figure 3), Session-Sender,
// authenticated:
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                      Sequence Number                          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                                                               |
//  |                      MBZ (12 octets)                          |
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                        Timestamp                              |
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |        Error Estimate         |             SSID              |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                                                               |
//  ~                      MBZ (68 octets)                          ~
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                      HMAC (16 octets)                         |
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  ~                            TLVs                               ~
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
mod sender_auth {
    use super::Span;
    pub const SEQUENCE: Span = 0..4;
    pub const TIMESTAMP: Span = 16..24;
    pub const ERROR_ESTIMATE: Span = 24..26;
    pub const SSID: Span = 26..28;
    pub const MBZ: &[Span] = &[4..16, 28..96];
    pub const HMAC: Span = 96..112;
}

// RFC 8762 §4.3.1 with RFC 8972 §3 (Figure 2), Session-Reflector,
// unauthenticated:
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                        Sequence Number                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                          Timestamp                            |
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Error Estimate        |           SSID                |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                          Receive Timestamp                    |
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                 Session-Sender Sequence Number                |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                  Session-Sender Timestamp                     |
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | Session-Sender Error Estimate |           MBZ                 |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Ses-Sender TTL |                   MBZ                         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  ~                            TLVs                               ~
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
mod reflector_unauth {
    use super::Span;
    pub const SEQUENCE: Span = 0..4;
    pub const TIMESTAMP: Span = 4..12;
    pub const ERROR_ESTIMATE: Span = 12..14;
    pub const SSID: Span = 14..16;
    pub const RECEIVE_TIMESTAMP: Span = 16..24;
    pub const SENDER_SEQUENCE: Span = 24..28;
    pub const SENDER_TIMESTAMP: Span = 28..36;
    pub const SENDER_ERROR_ESTIMATE: Span = 36..38;
    pub const SENDER_TTL: usize = 40;
    pub const MBZ: &[Span] = &[38..40, 41..44];
}

// RFC 8762 §4.3.2 with RFC 8972 §3 (Figure 4), Session-Reflector,
// authenticated:
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                        Sequence Number                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                        MBZ (12 octets)                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                          Timestamp                            |
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |        Error Estimate         |            SSID               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                        MBZ (4 octets)                         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                     Receive Timestamp                         |
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                        MBZ (8 octets)                         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                 Session-Sender Sequence Number                |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                        MBZ (12 octets)                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                  Session-Sender Timestamp                     |
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | Session-Sender Error Estimate |                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//  |                        MBZ (6 octets)                         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Ses-Sender TTL |                                               |
//  +-+-+-+-+-+-+-+-+                                               +
//  |                        MBZ (15 octets)                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                        HMAC (16 octets)                       |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  ~                            TLVs                               ~
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
mod reflector_auth {
    use super::Span;
    pub const SEQUENCE: Span = 0..4;
    pub const TIMESTAMP: Span = 16..24;
    pub const ERROR_ESTIMATE: Span = 24..26;
    pub const SSID: Span = 26..28;
    pub const RECEIVE_TIMESTAMP: Span = 32..40;
    pub const SENDER_SEQUENCE: Span = 48..52;
    pub const SENDER_TIMESTAMP: Span = 64..72;
    pub const SENDER_ERROR_ESTIMATE: Span = 72..74;
    pub const SENDER_TTL: usize = 80;
    pub const MBZ: &[Span] = &[4..16, 28..32, 40..48, 52..64, 74..80, 81..96];
    pub const HMAC: Span = 96..112;
}

fn get_u16(b: &[u8], r: Span) -> u16 {
    let b = &b[r];
    u16::from_be_bytes([b[0], b[1]])
}

fn get_u32(b: &[u8], r: Span) -> u32 {
    let b = &b[r];
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn get_u64(b: &[u8], r: Span) -> u64 {
    let mut o = [0u8; 8];
    o.copy_from_slice(&b[r]);
    u64::from_be_bytes(o)
}

fn mbz_zero(b: &[u8], spans: &[Span]) -> bool {
    spans.iter().all(|r| b[r.clone()].iter().all(|&o| o == 0))
}

/// A read/write view of a Session-Sender test packet (base and TLVs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderPacket<T: AsRef<[u8]>> {
    buffer: T,
    mode: Mode,
}

macro_rules! sender_field {
    ($self:ident, $name:ident) => {
        match $self.mode {
            Mode::Unauthenticated => sender_unauth::$name,
            Mode::Authenticated => sender_auth::$name,
        }
    };
}

impl<T: AsRef<[u8]>> SenderPacket<T> {
    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T, mode: Mode) -> SenderPacket<T> {
        SenderPacket { buffer, mode }
    }

    /// [`new_unchecked`](Self::new_unchecked) then [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T, mode: Mode) -> Result<SenderPacket<T>> {
        let p = Self::new_unchecked(buffer, mode);
        p.check_len()?;
        Ok(p)
    }

    /// [`Error::Truncated`] if the buffer is shorter than the base packet
    /// (44 or 112 octets). After this succeeds no accessor panics. The
    /// TLVs are not checked (iterate [`tlvs`](Self::tlvs)).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < self.base_len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Gives the buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The mode the view was created with.
    #[inline]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Length of the base packet in this mode.
    #[inline]
    pub fn base_len(&self) -> usize {
        base_len(Role::Sender, self.mode)
    }

    /// The Sequence Number field.
    #[inline]
    pub fn sequence(&self) -> u32 {
        get_u32(self.buffer.as_ref(), sender_field!(self, SEQUENCE))
    }

    /// The Timestamp field (T1), 64 wire bits; its format is given by the
    /// Z bit of the Error Estimate.
    #[inline]
    pub fn timestamp_bits(&self) -> u64 {
        get_u64(self.buffer.as_ref(), sender_field!(self, TIMESTAMP))
    }

    /// The Error Estimate field, raw.
    #[inline]
    pub fn error_estimate_bits(&self) -> u16 {
        get_u16(self.buffer.as_ref(), sender_field!(self, ERROR_ESTIMATE))
    }

    /// The Error Estimate field.
    #[inline]
    pub fn error_estimate(&self) -> ErrorEstimate {
        ErrorEstimate::from_bits(self.error_estimate_bits())
    }

    /// The SSID field (RFC 8972 §3; 0 from a sender that does not use it).
    #[inline]
    pub fn ssid(&self) -> u16 {
        get_u16(self.buffer.as_ref(), sender_field!(self, SSID))
    }

    /// The HMAC field; `None` in unauthenticated mode.
    #[inline]
    pub fn hmac(&self) -> Option<&[u8]> {
        match self.mode {
            Mode::Unauthenticated => None,
            Mode::Authenticated => Some(&self.buffer.as_ref()[sender_auth::HMAC]),
        }
    }

    /// True if every MBZ octet of the base packet is zero.
    #[inline]
    pub fn mbz_is_zero(&self) -> bool {
        mbz_zero(self.buffer.as_ref(), sender_field!(self, MBZ))
    }

    /// The octets after the base packet (after the HMAC in authenticated
    /// mode): the TLV area.
    #[inline]
    pub fn tlv_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[self.base_len()..]
    }

    /// Iterates over the TLVs.
    #[inline]
    pub fn tlvs(&self) -> TlvIter<'_> {
        TlvIter::new(self.tlv_bytes())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SenderPacket<T> {
    fn put(&mut self, r: Span, bytes: &[u8]) {
        self.buffer.as_mut()[r].copy_from_slice(bytes);
    }

    /// Sets the Sequence Number field.
    #[inline]
    pub fn set_sequence(&mut self, value: u32) {
        self.put(sender_field!(self, SEQUENCE), &value.to_be_bytes());
    }

    /// Sets the Timestamp field (64 wire bits).
    #[inline]
    pub fn set_timestamp_bits(&mut self, value: u64) {
        self.put(sender_field!(self, TIMESTAMP), &value.to_be_bytes());
    }

    /// Sets the Error Estimate field, raw.
    #[inline]
    pub fn set_error_estimate_bits(&mut self, value: u16) {
        self.put(sender_field!(self, ERROR_ESTIMATE), &value.to_be_bytes());
    }

    /// Sets the Error Estimate field.
    #[inline]
    pub fn set_error_estimate(&mut self, value: ErrorEstimate) {
        self.set_error_estimate_bits(value.to_bits());
    }

    /// Sets the SSID field.
    #[inline]
    pub fn set_ssid(&mut self, value: u16) {
        self.put(sender_field!(self, SSID), &value.to_be_bytes());
    }

    /// The HMAC field, mutably; `None` in unauthenticated mode.
    #[inline]
    pub fn hmac_mut(&mut self) -> Option<&mut [u8]> {
        match self.mode {
            Mode::Unauthenticated => None,
            Mode::Authenticated => Some(&mut self.buffer.as_mut()[sender_auth::HMAC]),
        }
    }

    /// Zeroes every MBZ octet of the base packet.
    #[inline]
    pub fn clear_mbz(&mut self) {
        for r in sender_field!(self, MBZ) {
            self.buffer.as_mut()[r.clone()].fill(0);
        }
    }

    /// The TLV area, mutably.
    #[inline]
    pub fn tlv_bytes_mut(&mut self) -> &mut [u8] {
        let start = self.base_len();
        &mut self.buffer.as_mut()[start..]
    }
}

/// A read/write view of a Session-Reflector test packet (base and TLVs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReflectorPacket<T: AsRef<[u8]>> {
    buffer: T,
    mode: Mode,
}

macro_rules! reflector_field {
    ($self:ident, $name:ident) => {
        match $self.mode {
            Mode::Unauthenticated => reflector_unauth::$name,
            Mode::Authenticated => reflector_auth::$name,
        }
    };
}

impl<T: AsRef<[u8]>> ReflectorPacket<T> {
    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T, mode: Mode) -> ReflectorPacket<T> {
        ReflectorPacket { buffer, mode }
    }

    /// [`new_unchecked`](Self::new_unchecked) then [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T, mode: Mode) -> Result<ReflectorPacket<T>> {
        let p = Self::new_unchecked(buffer, mode);
        p.check_len()?;
        Ok(p)
    }

    /// [`Error::Truncated`] if the buffer is shorter than the base packet
    /// (44 or 112 octets). After this succeeds no accessor panics.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < self.base_len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Gives the buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The mode the view was created with.
    #[inline]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Length of the base packet in this mode.
    #[inline]
    pub fn base_len(&self) -> usize {
        base_len(Role::Reflector, self.mode)
    }

    /// The reflector's Sequence Number.
    #[inline]
    pub fn sequence(&self) -> u32 {
        get_u32(self.buffer.as_ref(), reflector_field!(self, SEQUENCE))
    }

    /// The reflector's transmit Timestamp (T3), 64 wire bits.
    #[inline]
    pub fn timestamp_bits(&self) -> u64 {
        get_u64(self.buffer.as_ref(), reflector_field!(self, TIMESTAMP))
    }

    /// The reflector's Error Estimate, raw (it goes with T3 and T2).
    #[inline]
    pub fn error_estimate_bits(&self) -> u16 {
        get_u16(self.buffer.as_ref(), reflector_field!(self, ERROR_ESTIMATE))
    }

    /// The reflector's Error Estimate.
    #[inline]
    pub fn error_estimate(&self) -> ErrorEstimate {
        ErrorEstimate::from_bits(self.error_estimate_bits())
    }

    /// The SSID field (RFC 8972 §3).
    #[inline]
    pub fn ssid(&self) -> u16 {
        get_u16(self.buffer.as_ref(), reflector_field!(self, SSID))
    }

    /// The Receive Timestamp (T2), 64 wire bits.
    #[inline]
    pub fn receive_timestamp_bits(&self) -> u64 {
        get_u64(
            self.buffer.as_ref(),
            reflector_field!(self, RECEIVE_TIMESTAMP),
        )
    }

    /// The Session-Sender Sequence Number, copied from the sender's packet.
    #[inline]
    pub fn sender_sequence(&self) -> u32 {
        get_u32(
            self.buffer.as_ref(),
            reflector_field!(self, SENDER_SEQUENCE),
        )
    }

    /// The Session-Sender Timestamp (T1), copied from the sender's packet.
    #[inline]
    pub fn sender_timestamp_bits(&self) -> u64 {
        get_u64(
            self.buffer.as_ref(),
            reflector_field!(self, SENDER_TIMESTAMP),
        )
    }

    /// The Session-Sender Error Estimate, raw.
    #[inline]
    pub fn sender_error_estimate_bits(&self) -> u16 {
        get_u16(
            self.buffer.as_ref(),
            reflector_field!(self, SENDER_ERROR_ESTIMATE),
        )
    }

    /// The Session-Sender Error Estimate.
    #[inline]
    pub fn sender_error_estimate(&self) -> ErrorEstimate {
        ErrorEstimate::from_bits(self.sender_error_estimate_bits())
    }

    /// The Session-Sender TTL (or Hop Limit) as the reflector received it.
    #[inline]
    pub fn sender_ttl(&self) -> u8 {
        self.buffer.as_ref()[reflector_field!(self, SENDER_TTL)]
    }

    /// The HMAC field; `None` in unauthenticated mode.
    #[inline]
    pub fn hmac(&self) -> Option<&[u8]> {
        match self.mode {
            Mode::Unauthenticated => None,
            Mode::Authenticated => Some(&self.buffer.as_ref()[reflector_auth::HMAC]),
        }
    }

    /// True if every MBZ octet of the base packet is zero.
    #[inline]
    pub fn mbz_is_zero(&self) -> bool {
        mbz_zero(self.buffer.as_ref(), reflector_field!(self, MBZ))
    }

    /// The octets after the base packet: the TLV area.
    #[inline]
    pub fn tlv_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[self.base_len()..]
    }

    /// Iterates over the TLVs.
    #[inline]
    pub fn tlvs(&self) -> TlvIter<'_> {
        TlvIter::new(self.tlv_bytes())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ReflectorPacket<T> {
    fn put(&mut self, r: Span, bytes: &[u8]) {
        self.buffer.as_mut()[r].copy_from_slice(bytes);
    }

    /// Sets the reflector's Sequence Number.
    #[inline]
    pub fn set_sequence(&mut self, value: u32) {
        self.put(reflector_field!(self, SEQUENCE), &value.to_be_bytes());
    }

    /// Sets the reflector's transmit Timestamp (T3).
    #[inline]
    pub fn set_timestamp_bits(&mut self, value: u64) {
        self.put(reflector_field!(self, TIMESTAMP), &value.to_be_bytes());
    }

    /// Sets the reflector's Error Estimate, raw.
    #[inline]
    pub fn set_error_estimate_bits(&mut self, value: u16) {
        self.put(reflector_field!(self, ERROR_ESTIMATE), &value.to_be_bytes());
    }

    /// Sets the reflector's Error Estimate.
    #[inline]
    pub fn set_error_estimate(&mut self, value: ErrorEstimate) {
        self.set_error_estimate_bits(value.to_bits());
    }

    /// Sets the SSID field.
    #[inline]
    pub fn set_ssid(&mut self, value: u16) {
        self.put(reflector_field!(self, SSID), &value.to_be_bytes());
    }

    /// Sets the Receive Timestamp (T2).
    #[inline]
    pub fn set_receive_timestamp_bits(&mut self, value: u64) {
        self.put(
            reflector_field!(self, RECEIVE_TIMESTAMP),
            &value.to_be_bytes(),
        );
    }

    /// Sets the Session-Sender Sequence Number.
    #[inline]
    pub fn set_sender_sequence(&mut self, value: u32) {
        self.put(
            reflector_field!(self, SENDER_SEQUENCE),
            &value.to_be_bytes(),
        );
    }

    /// Sets the Session-Sender Timestamp (T1).
    #[inline]
    pub fn set_sender_timestamp_bits(&mut self, value: u64) {
        self.put(
            reflector_field!(self, SENDER_TIMESTAMP),
            &value.to_be_bytes(),
        );
    }

    /// Sets the Session-Sender Error Estimate, raw.
    #[inline]
    pub fn set_sender_error_estimate_bits(&mut self, value: u16) {
        self.put(
            reflector_field!(self, SENDER_ERROR_ESTIMATE),
            &value.to_be_bytes(),
        );
    }

    /// Sets the Session-Sender Error Estimate.
    #[inline]
    pub fn set_sender_error_estimate(&mut self, value: ErrorEstimate) {
        self.set_sender_error_estimate_bits(value.to_bits());
    }

    /// Sets the Session-Sender TTL.
    #[inline]
    pub fn set_sender_ttl(&mut self, value: u8) {
        let at = reflector_field!(self, SENDER_TTL);
        self.buffer.as_mut()[at] = value;
    }

    /// The HMAC field, mutably; `None` in unauthenticated mode.
    #[inline]
    pub fn hmac_mut(&mut self) -> Option<&mut [u8]> {
        match self.mode {
            Mode::Unauthenticated => None,
            Mode::Authenticated => Some(&mut self.buffer.as_mut()[reflector_auth::HMAC]),
        }
    }

    /// Zeroes every MBZ octet of the base packet (the first step of
    /// reflecting in place: see the module documentation).
    #[inline]
    pub fn clear_mbz(&mut self) {
        for r in reflector_field!(self, MBZ) {
            self.buffer.as_mut()[r.clone()].fill(0);
        }
    }

    /// The TLV area, mutably.
    #[inline]
    pub fn tlv_bytes_mut(&mut self) -> &mut [u8] {
        let start = self.base_len();
        &mut self.buffer.as_mut()[start..]
    }
}

/// A Session-Sender test packet as plain data.
///
/// [`parse`](Self::parse) ignores the MBZ octets (RFC 8762 asks senders to
/// zero them; check [`SenderPacket::mbz_is_zero`] to be strict) and the
/// HMAC (verify it with [`crate::auth`]). [`emit`](Self::emit) zeroes the
/// MBZ octets and the HMAC field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SenderRepr {
    /// Unauthenticated or authenticated.
    pub mode: Mode,
    /// Sequence Number.
    pub sequence: u32,
    /// Timestamp (T1), 64 wire bits.
    pub timestamp: u64,
    /// Error Estimate.
    pub error_estimate: ErrorEstimate,
    /// SSID (RFC 8972 §3).
    pub ssid: u16,
    /// TLVs, in order.
    pub tlvs: Vec<TlvRepr>,
}

impl SenderRepr {
    /// Reads a sender packet: [`Error::Truncated`] if shorter than the base,
    /// a TLV error if the TLV area is not a sequence of well-formed TLVs.
    pub fn parse<T: AsRef<[u8]>>(packet: &SenderPacket<T>) -> Result<SenderRepr> {
        packet.check_len()?;
        Ok(SenderRepr {
            mode: packet.mode(),
            sequence: packet.sequence(),
            timestamp: packet.timestamp_bits(),
            error_estimate: packet.error_estimate(),
            ssid: packet.ssid(),
            tlvs: TlvRepr::parse_all(packet.tlv_bytes())?,
        })
    }

    /// Octets [`emit`](Self::emit) writes: base packet and TLVs.
    pub fn buffer_len(&self) -> usize {
        base_len(Role::Sender, self.mode) + TlvRepr::buffer_len_all(&self.tlvs)
    }

    /// Writes the packet at the start of the view's buffer; the HMAC field
    /// (authenticated mode) is left zero for [`crate::auth::set_packet_hmac`].
    /// The view's mode must be `self.mode`. Panics if the buffer is shorter
    /// than [`buffer_len`](Self::buffer_len).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut SenderPacket<T>) {
        assert_eq!(packet.mode(), self.mode, "view and repr modes differ");
        packet.clear_mbz();
        packet.set_sequence(self.sequence);
        packet.set_timestamp_bits(self.timestamp);
        packet.set_error_estimate(self.error_estimate);
        packet.set_ssid(self.ssid);
        if let Some(h) = packet.hmac_mut() {
            h.fill(0);
        }
        TlvRepr::emit_all(&self.tlvs, packet.tlv_bytes_mut());
    }
}

/// A Session-Reflector test packet as plain data (same conventions as
/// [`SenderRepr`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReflectorRepr {
    /// Unauthenticated or authenticated.
    pub mode: Mode,
    /// The reflector's Sequence Number.
    pub sequence: u32,
    /// The reflector's transmit Timestamp (T3), 64 wire bits.
    pub timestamp: u64,
    /// The reflector's Error Estimate.
    pub error_estimate: ErrorEstimate,
    /// SSID (RFC 8972 §3).
    pub ssid: u16,
    /// Receive Timestamp (T2), 64 wire bits.
    pub receive_timestamp: u64,
    /// Session-Sender Sequence Number.
    pub sender_sequence: u32,
    /// Session-Sender Timestamp (T1), 64 wire bits.
    pub sender_timestamp: u64,
    /// Session-Sender Error Estimate.
    pub sender_error_estimate: ErrorEstimate,
    /// Session-Sender TTL.
    pub sender_ttl: u8,
    /// TLVs, in order.
    pub tlvs: Vec<TlvRepr>,
}

impl ReflectorRepr {
    /// Reads a reflector packet (see [`SenderRepr::parse`]).
    pub fn parse<T: AsRef<[u8]>>(packet: &ReflectorPacket<T>) -> Result<ReflectorRepr> {
        packet.check_len()?;
        Ok(ReflectorRepr {
            mode: packet.mode(),
            sequence: packet.sequence(),
            timestamp: packet.timestamp_bits(),
            error_estimate: packet.error_estimate(),
            ssid: packet.ssid(),
            receive_timestamp: packet.receive_timestamp_bits(),
            sender_sequence: packet.sender_sequence(),
            sender_timestamp: packet.sender_timestamp_bits(),
            sender_error_estimate: packet.sender_error_estimate(),
            sender_ttl: packet.sender_ttl(),
            tlvs: TlvRepr::parse_all(packet.tlv_bytes())?,
        })
    }

    /// Octets [`emit`](Self::emit) writes: base packet and TLVs.
    pub fn buffer_len(&self) -> usize {
        base_len(Role::Reflector, self.mode) + TlvRepr::buffer_len_all(&self.tlvs)
    }

    /// Writes the packet at the start of the view's buffer; MBZ and the HMAC
    /// field are zero. The view's mode must be `self.mode`. Panics if the
    /// buffer is shorter than [`buffer_len`](Self::buffer_len).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ReflectorPacket<T>) {
        assert_eq!(packet.mode(), self.mode, "view and repr modes differ");
        packet.clear_mbz();
        packet.set_sequence(self.sequence);
        packet.set_timestamp_bits(self.timestamp);
        packet.set_error_estimate(self.error_estimate);
        packet.set_ssid(self.ssid);
        packet.set_receive_timestamp_bits(self.receive_timestamp);
        packet.set_sender_sequence(self.sender_sequence);
        packet.set_sender_timestamp_bits(self.sender_timestamp);
        packet.set_sender_error_estimate(self.sender_error_estimate);
        packet.set_sender_ttl(self.sender_ttl);
        if let Some(h) = packet.hmac_mut() {
            h.fill(0);
        }
        TlvRepr::emit_all(&self.tlvs, packet.tlv_bytes_mut());
    }
}
