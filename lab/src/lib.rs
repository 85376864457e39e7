//! Declarative network-namespace topologies for srv6d's tests, its
//! `make run` demo and its benchmarks.
//!
//! A [`Topology`] names namespaces, veth pairs, addresses, sysctls, static
//! neighbours, SRv6 tunnel sources and typed routes (plain, `seg6` encap,
//! `seg6local`, or raw `ip` arguments). [`Topology::build`] creates them with
//! iproute2 and returns a [`Lab`], which deletes every namespace it created
//! when dropped, also during a panic. Real namespace names are
//! `<prefix>-<pid>-<counter>-<logical>`, so parallel tests and processes never
//! collide, and leftovers of killed runs are swept by the next build.
//! [`Lab`] also runs commands inside namespaces, joins a namespace from a
//! thread ([`Lab::in_ns`]) and opens raw [`PacketSocket`]s for interop tests.
//!
//! ```no_run
//! use lab::{Route, Topology};
//!
//! if !lab::require_root() {
//!     eprintln!("skipped");
//!     return;
//! }
//! let lab = Topology::new()
//!     .namespaces(&["h1", "h2"])
//!     .link(("h1", "eth0"), ("h2", "eth0"))
//!     .addr("h1", "eth0", "fc00::1/64")
//!     .addr("h2", "eth0", "fc00::2/64")
//!     .route("h1", Route::to("fc00:99::/64").via("fc00::2"))
//!     .build()
//!     .expect("build lab");
//! lab.exec_ok("h1", ["ping", "-c1", "-W1", "fc00::2"]).expect("ping");
//! ```
//!
//! What it is not: a product component. srv6d itself configures nothing
//! through this crate, and nothing here is meant to run outside tests, the
//! demo and benchmarks. It shells out to `ip` and `sysctl` (iproute2 must be
//! installed) and needs root. It shapes no traffic; the one exception is
//! [`DelayStage`], a userspace wire that holds frames for a fixed time in
//! one direction (this kernel has no netem), for tests that need a known
//! extra delay.

mod cpio;
mod delay;
mod features;
mod lab;
mod packet;
mod spec;
mod sys;
pub mod vm;

pub use crate::delay::{DelayStage, Direction, DirectionStats, DEFAULT_QUEUE_FRAMES, SPIN};
pub use crate::features::{host_has, host_probe, KernelFeature, Probe};
pub use crate::lab::Lab;
pub use crate::packet::{PacketSocket, MAX_FRAME};
pub use crate::spec::{
    format_mac, parse_mac, IpRoute, Mac, Prefix, Route, Seg6Encap, Seg6Local, Seg6LocalAction,
    Seg6Mode, Topology, VethEnd, DEFAULT_PREFIX, MAIN_TABLE,
};
pub use crate::sys::{in_netns, NsChild, NETNS_DIR};

/// Everything that can go wrong building or using a lab.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The topology contradicts itself (found before anything is created).
    #[error("invalid topology: {0}")]
    Topology(String),
    /// A command ran and exited non-zero.
    #[error("{step}: `{command}` failed ({status}): {stderr}")]
    Command {
        /// What the lab was doing, e.g. `add route in r1`.
        step: String,
        /// The full command line.
        command: String,
        /// Its exit status.
        status: String,
        /// Its trimmed stderr.
        stderr: String,
    },
    /// A command could not be started at all.
    #[error("{step}: cannot run `{command}`: {source}")]
    Spawn {
        /// What the lab was doing.
        step: String,
        /// The full command line.
        command: String,
        /// Why it could not start.
        #[source]
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being attempted.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Output of `ip` did not look as expected.
    #[error("unexpected ip output: {0}")]
    Parse(String),
    /// Duplicate address detection failed or did not finish.
    #[error("duplicate address detection {0}")]
    Dad(String),
    /// The lab's Linux VM is missing, failed, or cannot do what was asked.
    #[error("lab VM: {0}")]
    Vm(String),
}

/// Whether a root-only test should run.
///
/// Returns `false` when `SRV6D_SKIP_ROOT_TESTS=1` (the caller prints
/// "skipped" and returns), `true` when running as root.
///
/// # Panics
/// When not root and not told to skip, with a message saying how to run.
pub fn require_root() -> bool {
    if std::env::var_os("SRV6D_SKIP_ROOT_TESTS").is_some_and(|v| v == "1") {
        return false;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        panic!(
            "this test needs root: it creates network namespaces; run `make test` as root \
             or set SRV6D_SKIP_ROOT_TESTS=1 to skip"
        );
    }
    true
}
