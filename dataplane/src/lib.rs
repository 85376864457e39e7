//! srv6d's packet core.
//!
//! What it is: the pure, I/O-free heart of the router —
//! * [`wire`]: zero-copy views and plain `Repr` types for the headers srv6d
//!   reads and writes (Ethernet, IPv4, IPv6 and its extension headers including
//!   the Segment Routing Header, UDP, ICMPv6) and the internet checksum;
//! * [`behavior`]: the SRv6 behaviours of RFC 8986 (H.Encaps, H.Encaps.Red,
//!   End, End.X, End.DT4, End.DT6, End.DT46, End.DX4, End.DX6), each returning
//!   an explicit [`behavior::Verdict`];
//! * [`fib`]: per-VRF longest-prefix-match tables and the local SID table,
//!   published as immutable snapshots that many workers read without locks.
//!
//! What it is not: it opens no socket, touches no interface and never blocks.
//! The AF_XDP engine, the neighbour table and the control plane live above it
//! and hand it byte slices.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod behavior;
pub mod fib;
pub mod neighbor;
pub mod wire;
