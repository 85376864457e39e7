//! STAMP timestamps and the Error Estimate field.
//!
//! A STAMP timestamp is 64 bits in one of two formats, chosen by the Z bit
//! of the Error Estimate that travels with it (RFC 8762 §4.2.1, RFC 8186
//! §2.3):
//! * [`NtpTimestamp`]: the NTP 64-bit timestamp (RFC 5905 §6): 32 bits of
//!   seconds since 1900-01-01T00:00:00Z and 32 bits of fraction in units
//!   of 2^-32 s. The seconds wrap every 2^32 s (an "era", RFC 5905 §6):
//!   era 1 starts at 2036-02-07T06:28:16Z.
//! * [`PtpTimestamp`]: the PTPv2 truncated timestamp (RFC 8186 §2.3,
//!   IEEE 1588-2008 §5.3.3): the low 32 bits of the 48-bit seconds and
//!   32 bits of nanoseconds.
//!
//! Conversions go through Unix time in nanoseconds as an `i128`; this
//! module reads no clock. Decoding a 32-bit seconds field needs a pivot
//! (for instance "now"): the result is the instant closest to the pivot
//! among all the eras.
//!
//! PTP's epoch is 1970-01-01T00:00:00 TAI; we treat it as the Unix epoch
//! and ignore the TAI-UTC offset (37 s in 2024). Both ends of a STAMP
//! session measuring delay with PTP timestamps from the same kind of clock
//! get differences right; an absolute PTP timestamp read here as UTC is
//! off by the TAI-UTC offset of the clock that produced it.

/// Seconds from the NTP prime epoch (1900-01-01T00:00:00Z) to the Unix
/// epoch (1970-01-01T00:00:00Z): 70 years with 17 leap days.
pub const NTP_UNIX_OFFSET_SECS: i128 = 2_208_988_800;

const NANOS_PER_SEC: i128 = 1_000_000_000;
/// Length of an NTP era or of the PTP truncated seconds cycle, in ns.
const ERA_NANOS: i128 = (1i128 << 32) * NANOS_PER_SEC;

/// `value / divisor` rounded to the nearest integer, halves away from
/// zero; `divisor > 0`.
fn div_round(value: i128, divisor: i128) -> i128 {
    let q = value.div_euclid(divisor);
    let r = value.rem_euclid(divisor);
    if 2 * r >= divisor {
        q + 1
    } else {
        q
    }
}

/// `base + k * ERA_NANOS` for the integer `k` that brings it closest to
/// `pivot`.
fn closest_to(base: i128, pivot: i128) -> i128 {
    let k = div_round(pivot.saturating_sub(base), ERA_NANOS);
    base + k * ERA_NANOS
}

/// An NTP 64-bit timestamp (RFC 5905 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NtpTimestamp {
    /// Seconds since the start of the era (era 0: 1900-01-01T00:00:00Z).
    pub seconds: u32,
    /// Fraction of a second in units of 2^-32 s.
    pub fraction: u32,
}

impl NtpTimestamp {
    /// Splits the 64 bits as on the wire: seconds in the high 32 bits.
    pub const fn from_bits(bits: u64) -> NtpTimestamp {
        NtpTimestamp {
            seconds: (bits >> 32) as u32,
            fraction: bits as u32,
        }
    }

    /// The 64 bits as on the wire: seconds in the high 32 bits.
    pub const fn to_bits(self) -> u64 {
        ((self.seconds as u64) << 32) | self.fraction as u64
    }

    /// Encodes a Unix time in nanoseconds. Seconds are taken modulo 2^32
    /// (so 2036-02-07T06:28:16Z, the start of era 1, is seconds 0); the
    /// fraction is `nanos * 2^32 / 10^9` rounded to the nearest, an error
    /// of at most 2^-33 s (0.117 ns).
    pub fn from_unix_nanos(unix_nanos: i128) -> NtpTimestamp {
        let secs = unix_nanos.div_euclid(NANOS_PER_SEC);
        let nanos = unix_nanos.rem_euclid(NANOS_PER_SEC);
        let mut ntp_secs = secs + NTP_UNIX_OFFSET_SECS;
        let mut fraction = div_round(nanos << 32, NANOS_PER_SEC);
        if fraction == 1 << 32 {
            // Cannot happen for nanos < 10^9, kept for clarity.
            fraction = 0;
            ntp_secs += 1;
        }
        NtpTimestamp {
            seconds: ntp_secs.rem_euclid(1 << 32) as u32,
            fraction: fraction as u32,
        }
    }

    /// The fraction in nanoseconds, rounded to the nearest (an error of at
    /// most 0.5 ns); may be 10^9 for a fraction just below one second.
    pub fn fraction_nanos(self) -> u32 {
        div_round(i128::from(self.fraction) * NANOS_PER_SEC, 1 << 32) as u32
    }

    /// Decodes into Unix nanoseconds: of all the eras, the instant closest
    /// to `pivot_unix_nanos` (typically the current time; a timestamp is
    /// then correct if it is within 68 years of the pivot).
    ///
    /// Error bound: at most 0.5 ns from the exact value of the timestamp;
    /// `from_unix_nanos` followed by `to_unix_nanos` (with a pivot within
    /// 68 years) gives back the same nanosecond.
    pub fn to_unix_nanos(self, pivot_unix_nanos: i128) -> i128 {
        let era0 = (i128::from(self.seconds) - NTP_UNIX_OFFSET_SECS) * NANOS_PER_SEC
            + i128::from(self.fraction_nanos());
        closest_to(era0, pivot_unix_nanos)
    }
}

/// A PTPv2 truncated timestamp (RFC 8186 §2.3): the low 32 bits of the
/// PTP seconds and the nanoseconds. The PTP epoch is taken as the Unix
/// epoch (see the module documentation on TAI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PtpTimestamp {
    /// Seconds since 1970-01-01T00:00:00, modulo 2^32.
    pub seconds: u32,
    /// Nanoseconds; below 10^9 in a valid timestamp.
    pub nanoseconds: u32,
}

impl PtpTimestamp {
    /// Splits the 64 bits as on the wire: seconds in the high 32 bits.
    /// Nanoseconds of 10^9 or more are kept as they are (see
    /// [`is_valid`](Self::is_valid)).
    pub const fn from_bits(bits: u64) -> PtpTimestamp {
        PtpTimestamp {
            seconds: (bits >> 32) as u32,
            nanoseconds: bits as u32,
        }
    }

    /// The 64 bits as on the wire: seconds in the high 32 bits.
    pub const fn to_bits(self) -> u64 {
        ((self.seconds as u64) << 32) | self.nanoseconds as u64
    }

    /// True if the nanoseconds are below 10^9.
    pub const fn is_valid(self) -> bool {
        self.nanoseconds < 1_000_000_000
    }

    /// Encodes a Unix time in nanoseconds, exactly; seconds modulo 2^32.
    pub fn from_unix_nanos(unix_nanos: i128) -> PtpTimestamp {
        PtpTimestamp {
            seconds: unix_nanos.div_euclid(NANOS_PER_SEC).rem_euclid(1 << 32) as u32,
            nanoseconds: unix_nanos.rem_euclid(NANOS_PER_SEC) as u32,
        }
    }

    /// Decodes into Unix nanoseconds: of all the 2^32-second cycles, the
    /// instant closest to `pivot_unix_nanos`. Exact for a valid timestamp;
    /// invalid nanoseconds (10^9 or more) are added as they are.
    pub fn to_unix_nanos(self, pivot_unix_nanos: i128) -> i128 {
        let cycle0 = i128::from(self.seconds) * NANOS_PER_SEC + i128::from(self.nanoseconds);
        closest_to(cycle0, pivot_unix_nanos)
    }
}

/// Which of the two timestamp formats a field holds (the Z bit of the
/// Error Estimate, RFC 8186 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampFormat {
    /// NTP 64-bit format (Z = 0).
    #[default]
    Ntp,
    /// PTPv2 truncated format (Z = 1).
    Ptp,
}

/// A timestamp in either format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timestamp {
    /// NTP 64-bit format.
    Ntp(NtpTimestamp),
    /// PTPv2 truncated format.
    Ptp(PtpTimestamp),
}

impl Timestamp {
    /// The format of this timestamp.
    pub const fn format(self) -> TimestampFormat {
        match self {
            Timestamp::Ntp(_) => TimestampFormat::Ntp,
            Timestamp::Ptp(_) => TimestampFormat::Ptp,
        }
    }

    /// Encodes a Unix time in the given format.
    pub fn from_unix_nanos(format: TimestampFormat, unix_nanos: i128) -> Timestamp {
        match format {
            TimestampFormat::Ntp => Timestamp::Ntp(NtpTimestamp::from_unix_nanos(unix_nanos)),
            TimestampFormat::Ptp => Timestamp::Ptp(PtpTimestamp::from_unix_nanos(unix_nanos)),
        }
    }

    /// Decodes into Unix nanoseconds, closest to the pivot.
    pub fn to_unix_nanos(self, pivot_unix_nanos: i128) -> i128 {
        match self {
            Timestamp::Ntp(t) => t.to_unix_nanos(pivot_unix_nanos),
            Timestamp::Ptp(t) => t.to_unix_nanos(pivot_unix_nanos),
        }
    }

    /// The 64 bits as on the wire.
    pub const fn to_bits(self) -> u64 {
        match self {
            Timestamp::Ntp(t) => t.to_bits(),
            Timestamp::Ptp(t) => t.to_bits(),
        }
    }

    /// Reads 64 wire bits in the given format.
    pub const fn from_bits(format: TimestampFormat, bits: u64) -> Timestamp {
        match format {
            TimestampFormat::Ntp => Timestamp::Ntp(NtpTimestamp::from_bits(bits)),
            TimestampFormat::Ptp => Timestamp::Ptp(PtpTimestamp::from_bits(bits)),
        }
    }
}

// RFC 4656 §4.1.2, with Z from RFC 8186 §2.3 (RFC 8762 §4.2.1):
//
//    0                   1
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |S|Z|   Scale   |   Multiplier  |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
const EE_S: u16 = 0x8000;
const EE_Z: u16 = 0x4000;
const EE_SCALE_SHIFT: u16 = 8;
const EE_SCALE_MASK: u16 = 0x3f;

/// The Error Estimate field (RFC 4656 §4.1.2; Z from RFC 8186 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ErrorEstimate {
    /// S: the clock is synchronized to UTC by an external source.
    pub synchronized: bool,
    /// Z: the timestamps are in the PTPv2 truncated format (else NTP).
    pub ptp: bool,
    /// Scale, 6 bits (higher bits are dropped by [`to_bits`](Self::to_bits)).
    pub scale: u8,
    /// Multiplier; 0 is invalid (RFC 4656 §4.1.2).
    pub multiplier: u8,
}

impl ErrorEstimate {
    /// Reads the 16 wire bits.
    pub const fn from_bits(bits: u16) -> ErrorEstimate {
        ErrorEstimate {
            synchronized: bits & EE_S != 0,
            ptp: bits & EE_Z != 0,
            scale: ((bits >> EE_SCALE_SHIFT) & EE_SCALE_MASK) as u8,
            multiplier: bits as u8,
        }
    }

    /// The 16 wire bits; `scale` is masked to 6 bits.
    pub const fn to_bits(self) -> u16 {
        let mut bits = ((self.scale as u16) & EE_SCALE_MASK) << EE_SCALE_SHIFT;
        bits |= self.multiplier as u16;
        if self.synchronized {
            bits |= EE_S;
        }
        if self.ptp {
            bits |= EE_Z;
        }
        bits
    }

    /// The estimate in seconds: `Multiplier * 2^(-32) * 2^Scale`.
    pub fn seconds(self) -> f64 {
        f64::from(self.multiplier) * (f64::from(self.scale & 0x3f) - 32.0).exp2()
    }

    /// The format of the timestamps this estimate goes with (Z).
    pub const fn format(self) -> TimestampFormat {
        if self.ptp {
            TimestampFormat::Ptp
        } else {
            TimestampFormat::Ntp
        }
    }

    /// False for a multiplier of 0, which RFC 4656 §4.1.2 forbids.
    pub const fn is_valid(self) -> bool {
        self.multiplier != 0
    }
}
