//! srv6d's data plane.
//!
//! The pure, I/O-free packet core —
//! * [`wire`]: zero-copy views and plain `Repr` types for the headers srv6d
//!   reads and writes (Ethernet, IPv4, IPv6 and its extension headers including
//!   the Segment Routing Header, UDP, ICMPv6) and the internet checksum;
//! * [`behavior`]: the SRv6 behaviours of RFC 8986 (H.Encaps, H.Encaps.Red,
//!   End, End.X, End.DT4, End.DT6, End.DT46, End.DX4, End.DX6), each returning
//!   an explicit [`behavior::Verdict`];
//! * [`fib`]: per-VRF longest-prefix-match tables and the local SID table,
//!   published as immutable snapshots that many workers read without locks;
//! * [`neighbor`]: the next hops' link-layer addresses, also a snapshot —
//!
//! works on byte slices, opens no socket and never blocks; it is tested
//! without root. Above it, [`engine`] is the AF_XDP poll-mode engine: UMEM,
//! one socket per (port, rx queue), pinned workers running the packet core
//! on batches, and the XDP steering program (`ebpf-redirect`).
//!
//! What it is not: the control plane (configuration, neighbour monitor,
//! the `srv6d` binary live in `control`).

#![deny(unsafe_op_in_unsafe_fn)]

pub mod behavior;
pub mod engine;
pub mod fib;
pub mod neighbor;
pub mod stamp_sender;
pub mod wire;
