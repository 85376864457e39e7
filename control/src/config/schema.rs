//! The configuration file as serde types: one struct per section, every one
//! `deny_unknown_fields`. These are the file's *shape* only; what the values
//! mean (addresses, prefixes, references between sections) is checked in
//! `validate`.
//!
//! Addresses and prefixes are kept as strings and numbers as `i64` (TOML's
//! integer type) so that a wrong value is reported by the validator with the
//! form it expected, instead of by serde's generic type message.

use serde::{Deserialize, Serialize};

/// A whole configuration file. `toml::from_str::<ConfigFile>` accepts
/// exactly the files whose shape is right; [`super::load_str`] does that
/// section by section, so that it can report every mistake with its line.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[[port]]`: the engine's interfaces, in PortId order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port: Vec<PortEntry>,
    /// `[[vrf]]`: the overlay VRFs (VRF 0, the underlay, is implicit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vrf: Vec<VrfEntry>,
    /// `[router]`: addresses of the router itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router: Option<RouterEntry>,
    /// `[[sid]]`: local SIDs and SID prefixes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sid: Vec<SidEntry>,
    /// `[[policy]]`: SR policies (H.Encaps / H.Encaps.Red).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy: Vec<PolicyEntry>,
    /// `[[route]]`: routes of the underlay and of the VRFs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<RouteEntry>,
    /// `[[stamp_session]]`: sessions the inline STAMP reflector knows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stamp_session: Vec<StampSessionEntry>,
    /// `[[stamp_sender]]`: STAMP Session-Sender sessions the engine runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stamp_sender: Vec<StampSenderEntry>,
}

/// `[[stamp_session]]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StampSessionEntry {
    /// The Session-Sender Identifier, 0..=65535.
    pub ssid: i64,
    /// HMAC-SHA-256 key in hex: the session is authenticated (RFC 8762
    /// §4.4) and HMAC TLVs are verified with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// SIDs the replies visit before the sender, in travel order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub return_segments: Vec<String>,
    /// The replies' final destination after `return_segments` (default:
    /// the test packet's source). srv6pm sessions set it to the last SID
    /// of their `return_sidlist`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_destination: Option<String>,
    /// Configured but not active: its test packets are discarded
    /// (`stamp_session_stopped`), not answered.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stopped: bool,
}

/// `[[stamp_sender]]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StampSenderEntry {
    /// Name in logs and results; unique among the senders.
    pub name: String,
    /// The Session-Sender Identifier, 0..=65535.
    pub ssid: i64,
    /// Source address of the test packets: one of `router.addresses`.
    pub source: String,
    /// SIDs in travel order; the last one is the reflector.
    pub segments: Vec<String>,
    /// UDP source port (the replies come back to it); default 50862.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_port: Option<i64>,
    /// UDP destination port (the reflector's); default 862.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<i64>,
    /// Time between two test packets, e.g. `"10ms"`; default 10 ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Test packets to send; absent: until the session is removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// How long to send, e.g. `"10s"`; absent: no limit (with `count`
    /// too, whichever ends first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// HMAC-SHA-256 key in hex: the session is authenticated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// UDP data length of each test packet; default the base length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<i64>,
    /// `"ntp"` (default) or `"ptp"`.
    #[serde(default)]
    pub timestamp_format: StampTimestampFormat,
    /// DSCP of the test packets, 0..=63; default 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dscp: Option<i64>,
    /// The sender's and the reflector's clocks are synchronised.
    #[serde(default, skip_serializing_if = "is_false")]
    pub clocks_synchronized: bool,
    /// Configured but not sending.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stopped: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if signature
fn is_false(b: &bool) -> bool {
    !*b
}

/// `router.stamp_timestamp_format` and `stamp_sender[].timestamp_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StampTimestampFormat {
    /// NTP 64-bit format (Error Estimate Z = 0).
    #[default]
    Ntp,
    /// PTPv2 truncated format (Error Estimate Z = 1).
    Ptp,
}

impl StampTimestampFormat {
    /// The STAMP crate's form.
    pub const fn format(self) -> stamp::time::TimestampFormat {
        match self {
            StampTimestampFormat::Ntp => stamp::time::TimestampFormat::Ntp,
            StampTimestampFormat::Ptp => stamp::time::TimestampFormat::Ptp,
        }
    }
}

/// `[[port]]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PortEntry {
    /// Linux interface name.
    pub name: String,
    /// `"wan"` or `"lan"`.
    pub role: PortRole,
    /// The VRF of a LAN port (WAN ports are in the underlay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
    /// Number of rx/tx queues (one AF_XDP socket each); default: all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queues: Option<i64>,
    /// How the XDP program is attached.
    #[serde(default)]
    pub xdp_mode: XdpMode,
}

/// Which side of the SD-WAN edge a port is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortRole {
    /// Underlay side: SRv6 traffic to and from other edges.
    Wan,
    /// Customer side: plain IPv4/IPv6 traffic of one VRF.
    Lan,
}

impl PortRole {
    /// `"wan"` or `"lan"`, as written in the file.
    pub const fn as_str(self) -> &'static str {
        match self {
            PortRole::Wan => "wan",
            PortRole::Lan => "lan",
        }
    }
}

/// How the XDP program is attached to a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// Native (driver) mode where the driver supports it, else generic.
    #[default]
    Auto,
    /// Native mode only; attaching fails where the driver lacks XDP.
    Driver,
    /// Generic (SKB) mode: works everywhere, slower.
    Generic,
}

impl XdpMode {
    /// The name as written in the file.
    pub const fn as_str(self) -> &'static str {
        match self {
            XdpMode::Auto => "auto",
            XdpMode::Driver => "driver",
            XdpMode::Generic => "generic",
        }
    }
}

/// `[[vrf]]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VrfEntry {
    /// Name other sections use to refer to it.
    pub name: String,
    /// VRF number, 1..=4095.
    pub id: i64,
}

/// `[router]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouterEntry {
    /// Outer IPv6 source address of encapsulated packets.
    pub source: String,
    /// Further IPv6 addresses the engine answers itself (e.g. the STAMP
    /// reflector's); each becomes a local /128 route in the underlay.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// UDP port of the STAMP reflector; default 862.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stamp_port: Option<i64>,
    /// `"stateless"` (default) or `"stateful"` (RFC 8762 §4.3).
    #[serde(default)]
    pub stamp_mode: StampMode,
    /// Test packets whose SSID is not a configured session: `"reflect"`
    /// (default) or `"drop"`.
    #[serde(default)]
    pub stamp_unknown_ssid: StampUnknownSsid,
    /// Replies per second per source address (also the burst); absent: no
    /// limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stamp_rate_limit: Option<i64>,
    /// Timestamp format of the reflector's T2 and T3: `"ntp"` (default) or
    /// `"ptp"`.
    #[serde(default)]
    pub stamp_timestamp_format: StampTimestampFormat,
    /// TCP MSS clamping of SYNs entering and leaving the overlay: `"auto"`
    /// (the WAN MTU less the encapsulation and the IP and TCP headers) or
    /// an MSS in octets; absent: off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_mss_clamp: Option<TcpMssClamp>,
}

/// `router.tcp_mss_clamp`: `"auto"` or a number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum TcpMssClamp {
    /// An MSS in octets.
    Mss(i64),
    /// A keyword: `"auto"` is the only one.
    Mode(String),
}

/// `router.stamp_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StampMode {
    /// The reply's Sequence Number is the sender's.
    #[default]
    Stateless,
    /// The reflector counts its own replies per session.
    Stateful,
}

/// `router.stamp_unknown_ssid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StampUnknownSsid {
    /// Reflect unauthenticated.
    #[default]
    Reflect,
    /// Drop (counted as `stamp_unknown_ssid`).
    Drop,
}

/// `[[sid]]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SidEntry {
    /// A SID (`"fc00:2::100"`) or a SID prefix (`"fc00:2::/48"`).
    pub sid: String,
    /// The behaviour.
    pub behavior: BehaviorName,
    /// VRF of End.DT4 / End.DT6 / End.DT46.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
    /// Port of End.X / End.DX4 / End.DX6.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Next hop of End.X / End.DX4 / End.DX6 (an address or `"on-link"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nexthop: Option<String>,
}

/// A SID behaviour's name in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum BehaviorName {
    /// End
    #[serde(rename = "end")]
    End,
    /// End.X
    #[serde(rename = "end.x")]
    EndX,
    /// End.DT4
    #[serde(rename = "end.dt4")]
    EndDT4,
    /// End.DT6
    #[serde(rename = "end.dt6")]
    EndDT6,
    /// End.DT46
    #[serde(rename = "end.dt46")]
    EndDT46,
    /// End.DX4
    #[serde(rename = "end.dx4")]
    EndDX4,
    /// End.DX6
    #[serde(rename = "end.dx6")]
    EndDX6,
}

impl BehaviorName {
    /// The RFC 8986 name (`End.DT4`).
    pub const fn rfc_name(self) -> &'static str {
        match self {
            BehaviorName::End => "End",
            BehaviorName::EndX => "End.X",
            BehaviorName::EndDT4 => "End.DT4",
            BehaviorName::EndDT6 => "End.DT6",
            BehaviorName::EndDT46 => "End.DT46",
            BehaviorName::EndDX4 => "End.DX4",
            BehaviorName::EndDX6 => "End.DX6",
        }
    }
}

/// `[[policy]]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyEntry {
    /// Name routes use to refer to it.
    pub name: String,
    /// `"encap"` (H.Encaps) or `"encap.red"` (H.Encaps.Red).
    pub mode: PolicyMode,
    /// SIDs in travel order, 1 to 16.
    pub segments: Vec<String>,
    /// Outer source address; default `router.source`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// How the outer Flow Label is set; default `"copy"`.
    #[serde(default)]
    pub flow_label: FlowLabel,
    /// Outer Hop Limit for IPv4 inner packets, 1..=255; default 64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_hop_limit: Option<i64>,
}

/// An SR policy's encapsulation in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum PolicyMode {
    /// H.Encaps
    #[serde(rename = "encap")]
    Encap,
    /// H.Encaps.Red
    #[serde(rename = "encap.red")]
    EncapRed,
}

/// The outer Flow Label choice in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowLabel {
    /// Copy the inner IPv6 Flow Label (0 for IPv4 inner packets).
    #[default]
    Copy,
    /// Always 0.
    Zero,
    /// A hash of the inner flow.
    Hash,
}

/// `[[route]]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    /// `"underlay"` or the name of a `[[vrf]]`.
    pub vrf: String,
    /// `"10.2.0.0/16"`, `"2001:db8::/32"`.
    pub prefix: String,
    /// Encapsulate into this `[[policy]]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Forward to this neighbour (an address or `"on-link"`), with `port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nexthop: Option<String>,
    /// The output port of a `nexthop` route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Addressed to the router itself.
    #[serde(default, skip_serializing_if = "is_false")]
    pub local: bool,
    /// Drop.
    #[serde(default, skip_serializing_if = "is_false")]
    pub blackhole: bool,
}
