//! srv6d's configuration file: a TOML description of the ports, VRFs, SIDs,
//! SR policies and routes of one SD-WAN edge, and its loader.
//!
//! What it is: a pure function from file text to either a [`LoadedConfig`]
//! — the ports in `PortId` order, the VRF numbers, the forwarding state as a
//! [`FibBuilder`] and the [`Fib`] built from it, the addresses the XDP
//! program must steer to the engine — or [`ConfigErrors`], every mistake
//! found (up to [`MAX_ERRORS`]), each naming the file, line, key path and
//! the form expected. The whole file is checked before anything is built,
//! so a rejected file leaves nothing half-applied.
//!
//! What it is not: it opens no interface and starts nothing; the engine
//! takes a `LoadedConfig` and applies it. The format is documented, with a
//! full example and every error, in `docs/config.md`.
//!
//! ```
//! let text = r#"
//!     [[port]]
//!     name = "eth0"
//!     role = "wan"
//!
//!     [router]
//!     source = "fc00:0:1::1"
//!
//!     [[sid]]
//!     sid = "fc00:0:1::e"
//!     behavior = "end"
//! "#;
//! let config = control::config::load_str(text, "edge.toml").unwrap();
//! assert_eq!(config.ports[0].name, "eth0");
//! assert!(config.fib.local_sid(&"fc00:0:1::e".parse().unwrap()).is_some());
//!
//! let err = control::config::load_str("[[port]]\nnam = 1\n", "bad.toml").unwrap_err();
//! assert!(err.to_string().starts_with("bad.toml:2: port[0].nam: unknown key"));
//! ```

mod error;
mod schema;
mod source;
mod summary;
mod validate;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use dataplane::behavior::{EncapPolicy, FlowLabelMode, SidBehavior};
use dataplane::fib::{Fib, FibBuilder, PolicyId, PortId, RouteAction, VrfId};

pub use error::{ConfigError, ConfigErrors, ErrorKind, MAX_ERRORS};
pub use schema::{
    BehaviorName, ConfigFile, FlowLabel, PolicyEntry, PolicyMode, PortEntry, PortRole, RouteEntry,
    RouterEntry, SidEntry, StampMode, StampSenderEntry, StampSessionEntry, StampTimestampFormat,
    StampUnknownSsid, TcpMssClamp, VrfEntry, XdpMode,
};

/// The STAMP reflector's UDP port when `router.stamp_port` is not given
/// (RFC 8762).
pub const DEFAULT_STAMP_PORT: u16 = 862;

/// A `[[stamp_sender]]`'s UDP source port when `src_port` is not given.
pub const DEFAULT_STAMP_SENDER_SRC_PORT: u16 = 50862;

/// A `[[stamp_sender]]`'s UDP destination port when `dst_port` is not
/// given (RFC 8762).
pub const DEFAULT_STAMP_SENDER_DST_PORT: u16 = 862;

/// A `[[stamp_sender]]`'s interval when `interval` is not given.
pub const DEFAULT_STAMP_SENDER_INTERVAL: Duration = Duration::from_millis(10);

/// Most queues a port may ask for.
pub const MAX_QUEUES: u16 = 256;

/// An engine port, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Its number: position in the file, from 0.
    pub id: PortId,
    /// Linux interface name.
    pub name: String,
    /// WAN (underlay) or LAN (a VRF).
    pub role: PortRole,
    /// The VRF its received packets are routed in: the underlay (0) for WAN
    /// ports.
    pub vrf: VrfId,
    /// Queues to open; `None`: all of the interface's.
    pub queues: Option<u16>,
    /// How the XDP program is attached.
    pub xdp_mode: XdpMode,
}

/// An SR policy, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    /// The id routes refer to it by in the FIB.
    pub id: PolicyId,
    /// Its name in the file.
    pub name: String,
    /// The policy itself.
    pub policy: EncapPolicy,
    /// Its Flow Label choice (also inside `policy`).
    pub flow_label: FlowLabelMode,
    /// Its outer Hop Limit for IPv4 inner packets (also inside `policy`).
    pub ipv4_hop_limit: u8,
}

/// A local SID or SID prefix (`len` < 128), as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SidConfig {
    /// The SID, or the prefix with host bits clear.
    pub sid: Ipv6Addr,
    /// 128 for a SID, less for a SID prefix.
    pub len: u8,
    /// What it does.
    pub behavior: SidBehavior,
}

/// A route, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteConfig {
    /// Its VRF (0: the underlay).
    pub vrf: VrfId,
    /// The prefix, host bits clear.
    pub prefix: IpAddr,
    /// The prefix length.
    pub len: u8,
    /// What it does.
    pub action: RouteAction,
}

/// One `[[stamp_sender]]`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct StampSenderConfig {
    /// Its name in the file (logs and results).
    pub name: String,
    /// Session-Sender Identifier.
    pub ssid: u16,
    /// Source address of the test packets: one of `router.addresses`.
    pub source: std::net::Ipv6Addr,
    /// SIDs in travel order; the last one is the reflector.
    pub segments: Vec<std::net::Ipv6Addr>,
    /// UDP source port: the replies come back to it.
    pub src_port: u16,
    /// UDP destination port: the reflector's.
    pub dst_port: u16,
    /// Time between two test packets.
    pub interval: std::time::Duration,
    /// Test packets to send; `None`: until the session is removed.
    pub count: Option<u64>,
    /// How long to send; `None`: no limit.
    pub duration: Option<std::time::Duration>,
    /// HMAC key: the session is authenticated.
    pub key: Option<stamp::auth::HmacKey>,
    /// UDP data length of each test packet.
    pub length: usize,
    /// Timestamp format of T1 (and the Error Estimate's Z bit).
    pub timestamp_format: stamp::time::TimestampFormat,
    /// DSCP of the test packets, 0..=63.
    pub dscp: u8,
    /// The sender's and the reflector's clocks are known to be
    /// synchronised (one-way delays are valid; the Error Estimate's S bit).
    pub clocks_synchronized: bool,
    /// Configured but not sending (the engine does not run it).
    pub stopped: bool,
}

impl StampSenderConfig {
    /// The STAMP mode: authenticated iff a key is set.
    pub fn mode(&self) -> stamp::packet::Mode {
        if self.key.is_some() {
            stamp::packet::Mode::Authenticated
        } else {
            stamp::packet::Mode::Unauthenticated
        }
    }

    /// The Error Estimate of the test packets: S from
    /// `clocks_synchronized`, Z from the timestamp format, and about 1 ms
    /// (2^22 / 2^32 s), a software clock's honest claim.
    pub fn error_estimate(&self) -> stamp::time::ErrorEstimate {
        stamp::time::ErrorEstimate {
            synchronized: self.clocks_synchronized,
            ptp: self.timestamp_format == stamp::time::TimestampFormat::Ptp,
            scale: 22,
            multiplier: 1,
        }
    }

    /// The packet template: SSID, mode, key, format, Error Estimate and
    /// length.
    pub fn session(&self) -> stamp::sender::SenderSession {
        stamp::sender::SenderSession::new(
            self.ssid,
            self.mode(),
            self.key.clone(),
            self.timestamp_format,
            self.error_estimate(),
            self.length,
        )
        .expect("the length and the key were checked when the file was loaded")
    }

    /// The engine's form of the session (Traffic Class = DSCP << 2, ECN 0).
    pub fn to_spec(&self) -> dataplane::stamp_sender::SenderSpec {
        dataplane::stamp_sender::SenderSpec {
            name: self.name.clone(),
            source: self.source,
            segments: self.segments.clone(),
            src_port: self.src_port,
            dst_port: self.dst_port,
            interval: self.interval,
            count: self.count,
            duration: self.duration,
            traffic_class: self.dscp << 2,
            session: self.session(),
        }
    }
}

/// Why the engine owns an IPv6 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    /// A local SID (/128).
    Sid,
    /// A local SID prefix.
    SidPrefix,
    /// One of `router.addresses`.
    RouterAddress,
}

/// An IPv6 prefix whose packets arriving on a WAN port the XDP program must
/// hand to the engine (not to the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnedPrefix {
    /// The prefix, host bits clear.
    pub prefix: Ipv6Addr,
    /// Its length (128 for an address).
    pub len: u8,
    /// Why.
    pub owner: Owner,
}

/// A configuration file that passed every check, in the form the engine and
/// the XDP program use.
#[derive(Debug)]
pub struct LoadedConfig {
    /// The file it was loaded from.
    pub file: String,
    /// Ports in `PortId` order (`ports[i].id == PortId(i)`).
    pub ports: Vec<PortConfig>,
    /// VRF numbers by name; the underlay (0) is not listed.
    pub vrfs: BTreeMap<String, VrfId>,
    /// `router.source`: the default outer source of encapsulated packets.
    pub source: Ipv6Addr,
    /// UDP port of the STAMP reflector.
    pub stamp_port: u16,
    /// The `[[stamp_sender]]` sessions, in file order.
    pub stamp_senders: Vec<StampSenderConfig>,
    /// What the XDP program steers to the engine: local SIDs, SID prefixes
    /// and `router.addresses`, sorted by prefix.
    pub owned_addresses: Vec<OwnedPrefix>,
    /// SR policies in `PolicyId` order.
    pub policies: Vec<PolicyConfig>,
    /// Local SIDs and SID prefixes in file order.
    pub sids: Vec<SidConfig>,
    /// The `[[route]]`s in file order. The FIB also holds a local /128
    /// route in the underlay for each of `router.addresses`.
    pub routes: Vec<RouteConfig>,
    /// The forwarding state, to change and rebuild.
    pub fib_builder: FibBuilder,
    /// The forwarding state, built: what the workers read.
    pub fib: Fib,
    /// Things that are valid but probably not meant, formatted like errors.
    pub warnings: Vec<String>,
}

impl LoadedConfig {
    /// The port named `name`.
    pub fn port(&self, name: &str) -> Option<&PortConfig> {
        self.ports.iter().find(|p| p.name == name)
    }

    /// The number of VRF `name` (`"underlay"`: 0).
    pub fn vrf_id(&self, name: &str) -> Option<VrfId> {
        if name == validate::UNDERLAY_NAME {
            return Some(dataplane::behavior::UNDERLAY);
        }
        self.vrfs.get(name).copied()
    }

    /// The name of VRF `id` (`"underlay"` for 0).
    pub fn vrf_name(&self, id: VrfId) -> Option<&str> {
        if id == dataplane::behavior::UNDERLAY {
            return Some(validate::UNDERLAY_NAME);
        }
        self.vrfs
            .iter()
            .find(|(_, &v)| v == id)
            .map(|(n, _)| n.as_str())
    }

    /// The id of the policy named `name`.
    pub fn policy_id(&self, name: &str) -> Option<PolicyId> {
        self.policies.iter().find(|p| p.name == name).map(|p| p.id)
    }

    /// A readable summary of everything configured (what `srv6d check`
    /// prints).
    pub fn summary(&self) -> impl std::fmt::Display + '_ {
        summary::Summary(self)
    }
}

/// Loads a configuration from its text. `file` names it in error messages.
/// Pure: reads nothing but `text`.
pub fn load_str(text: &str, file: &str) -> Result<LoadedConfig, ConfigErrors> {
    validate::load(text, file)
}

/// Reads and loads the configuration file at `path`. A file that cannot be
/// read is reported as a [`ConfigErrors`] too.
pub fn load_file(path: impl AsRef<Path>) -> Result<LoadedConfig, ConfigErrors> {
    let path = path.as_ref();
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(&text, &name),
        Err(e) => {
            let mut errors = ConfigErrors::new(&name);
            errors.push(ConfigError {
                file: name.clone(),
                path: String::new(),
                line: None,
                column: None,
                kind: ErrorKind::Io(e.to_string()),
            });
            Err(errors)
        }
    }
}
