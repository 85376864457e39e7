//! srv6d's control plane.
//!
//! What it is: the configuration file (TOML, validated as a whole before
//! anything is applied), the neighbour monitor that mirrors the kernel's
//! neighbour table into the data path, and the `srv6d` binary.
//!
//! What it is not: the packet path. Per-packet work lives in `dataplane`;
//! this crate only builds and publishes the snapshots the workers read.

pub mod config;
pub mod neighbors;
pub mod router;
pub mod stamp_inline;
pub mod stamp_socket;
