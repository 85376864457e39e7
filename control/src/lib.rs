//! srv6d's control plane.
//!
//! What it is: the configuration file (TOML, validated as a whole before
//! anything is applied), the neighbour monitor that mirrors the kernel's
//! neighbour table into the data path, and the `srv6d` binary.
//!
//! What it is not: the packet path. Per-packet work lives in `dataplane`;
//! this crate only builds and publishes the snapshots the workers read.

pub mod agent;
pub mod config;
pub mod ctl;
pub mod kernel;
pub mod neighbors;
pub mod router;
pub mod stamp_inline;
pub mod stamp_socket;

/// Generated gRPC code: srv6d's own API and the srv6pm STAMP services.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto {
    /// srv6d's own API, version 1 (`control/proto/srv6d/v1/srv6d.proto`).
    pub mod srv6d {
        pub mod v1 {
            tonic::include_proto!("srv6d.v1");
        }
    }
    /// The srv6pm STAMP Session-Sender / Session-Reflector services, wire
    /// compatible with the published STAMP-over-SRv6 API.
    pub mod srv6pm {
        tonic::include_proto!("srv6pm");
    }
}
