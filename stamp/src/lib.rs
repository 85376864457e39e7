//! STAMP, the Simple Two-Way Active Measurement Protocol (RFC 8762), with
//! the optional extensions of RFC 8972 (SSID, TLVs) and RFC 9503 (SRv6
//! return path TLVs): the packet codec, the Session-Reflector's and the
//! Session-Sender's logic, and the statistics of a session.
//!
//! What it is: pure functions and plain data over byte slices and
//! timestamps handed in by the caller. What it is not: it opens no socket,
//! reads no clock and spawns no thread; the AF_XDP engine (inline
//! reflection) and `srv6d stamp` (kernel sockets) do the I/O and pass the
//! clock readings in.
//!
//! Modules:
//! * [`time`]: NTP 64-bit and PTPv2 truncated timestamps, era-correct
//!   conversion to and from Unix time; the Error Estimate field.
//! * [`packet`]: zero-copy views and `Repr`s of the Session-Sender and
//!   Session-Reflector test packets, unauthenticated and authenticated.
//! * [`tlv`]: the TLVs of RFC 8972 and RFC 9503 and their flags.
//! * [`auth`]: HMAC-SHA-256 truncated to 16 octets (packet HMAC and the
//!   HMAC TLV).
//! * [`reflector`]: turns a received Session-Sender packet into the
//!   Session-Reflector packet in place (stateless or stateful, U/M flags,
//!   unknown SSIDs, per-source rate limit).
//! * [`ratelimit`]: one reply budget per source address shared by every
//!   thread (lock-free GCRA cells).
//! * [`sender`]: the Session-Sender's test packets and the records of
//!   the replies.
//! * [`stats`]: per-session records, loss / duplicates / reordering,
//!   delays, Welford mean and variance, HDR percentiles, IPDV, a bounded
//!   record queue.

#![forbid(unsafe_code)]

pub mod auth;
pub mod error;
pub mod packet;
pub mod ratelimit;
pub mod reflector;
pub mod sender;
pub mod stats;
pub mod time;
pub mod tlv;

pub use error::{Error, Result};
