//! The kernel dataplane backend: the same configuration ([`LoadedConfig`])
//! applied to the Linux kernel's own SRv6 (seg6 / seg6local lightweight
//! tunnels, policy routing) instead of the AF_XDP engine.
//!
//! What it is: the RFC 2544 baseline and the fallback where AF_XDP is not
//! available. [`KernelDataplane::check`] lists, without touching anything,
//! every item the kernel cannot do; [`KernelDataplane::start`] installs a
//! configuration in the calling thread's network namespace,
//! [`KernelDataplane::apply`] moves it to another one (only the
//! difference, all or nothing) and [`KernelDataplane::stop`] removes
//! everything and restores what it changed.
//!
//! What it is not: asynchronous (it is a plain blocking netlink client, safe
//! to call from inside a tokio runtime on a blocking thread), and it runs no
//! STAMP sessions. It shells out to nothing.
//!
//! # Mapping
//!
//! Every route and rule carries the routing protocol number
//! [`RTPROT_SRV6D`] (`ip route show proto 166`), so leftovers of an earlier
//! srv6d are found and flushed at [`KernelDataplane::start`]; addresses on
//! `lo` carry it as their `IFA_PROTO`.
//!
//! | config item | kernel object, or refused and why |
//! | --- | --- |
//! | `[[port]]` (WAN) | nothing is created; `net.ipv6.conf.PORT.seg6_enabled = 1` |
//! | `[[port]]` (LAN, VRF N) | rules for IPv4 and IPv6, `iif PORT`: priority [`RULE_PRIORITY_SID`] `to SEG/128 lookup main` for the first segment of each policy the VRF's routes use (so the encapsulated packet, still "from" the LAN port, is routed in the underlay); [`RULE_PRIORITY_VRF`] `lookup N`; [`RULE_PRIORITY_ISOLATE`] `blackhole` (what table N does not route is dropped, not routed in the main table) |
//! | `[[vrf]]` id N | routing table N; ids 253, 254, 255 (the kernel's default, main and local tables) are refused |
//! | `[[route]]` in the underlay | a route in the main table (254) |
//! | `[[route]]` in VRF N | a route in table N |
//! | `policy = P` | `encap seg6 mode encap` (or `encap.red`) `segs P.segments`, `dev` the WAN port of the underlay route toward the first segment (else the first WAN port, else the first port); IPv4 routes of a policy whose `ipv4_hop_limit` is not 64 get the route metric `hoplimit` (the kernel takes the outer Hop Limit of IPv4 inner packets from the route) |
//! | `nexthop = A, port = X` | `via A dev X` |
//! | `nexthop = "on-link", port = X` | `dev X` (IPv4: scope link) |
//! | `blackhole = true` | `blackhole` |
//! | `local = true` | `local ... dev lo` in the route's table |
//! | `[[sid]]` End | `encap seg6local action End` (SID /128 or SID prefix), main table, `dev` the first WAN port |
//! | `[[sid]]` End.X | `action End.X nh6 A oif PORT`, `dev PORT`; `nexthop = "on-link"` refused (the kernel's End.X needs a next-hop address) |
//! | `[[sid]]` End.DT6 (VRF N) | `action End.DT6 table N` (table mode: no VRF device needed) |
//! | `[[sid]]` End.DX6 | `action End.DX6 nh6 A`, `dev PORT`; the kernel resolves A in the main table (it takes no output interface), so a link-local next hop is refused; on-link: `nh6 ::` (the inner destination is looked up) |
//! | `[[sid]]` End.DX4 | `action End.DX4 nh4 A`, `dev PORT`; on-link: `nh4 0.0.0.0` (the inner destination is the next hop) |
//! | `[[sid]]` End.DT4, End.DT46 | refused: the kernel needs a VRF device (`vrftable`) for them; this backend creates none (and this machine's kernel has no CONFIG_NET_VRF) |
//! | `router.source` | the namespace's seg6 tunnel source (generic netlink SEG6, `SEG6_CMD_SET_TUNSRC`), restored at stop |
//! | `policy.source` ≠ `router.source` | refused: the kernel has one tunnel source per namespace |
//! | `policy.flow_label` | `net.ipv6.seg6_flowlabel` (copy: 0, zero: -1, hash: 1; the kernel's hash differs from srv6d's), restored at stop; policies that disagree are refused (the sysctl is namespace-wide) |
//! | `router.addresses` | `/128` addresses on `lo`, removed at stop (one that was already there is left alone) |
//! | `router.stamp_*` | nothing: the kernel does not reflect STAMP (use `srv6d stamp reflect`) |
//! | `[[stamp_session]]`, `[[stamp_sender]]` | refused: the kernel backend runs no STAMP sessions |
//! | (always) | `net.ipv6.conf.all.forwarding = 1`, `net.ipv4.ip_forward = 1`, `net.ipv6.conf.all.seg6_enabled = 1`, restored at stop |
//!
//! Limits, as found: the tunnel source and the sysctls that were already
//! changed by a crashed srv6d are taken as the originals at the next start.

mod netlink;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dataplane::behavior::{EncapMode, FlowLabelMode, SidBehavior, UNDERLAY};
use dataplane::fib::{NextHop, PortId, RouteAction};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteLwEnCapType, RouteLwTunnelEncap, RouteMessage, RouteMetric,
    RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_packet_utils::nla::{DefaultNla, Nla};

use crate::config::{LoadedConfig, PortRole};
use netlink::{Netlink, NlError, Seg6Genl};

/// The routing protocol number of every route and rule srv6d installs
/// (`ip route show proto 166`). Not one of iproute2's named protocols
/// (186 is bgp).
pub const RTPROT_SRV6D: u8 = 0xa6;

/// Priority of the `iif LAN to SEG/128 lookup main` rules.
pub const RULE_PRIORITY_SID: u32 = 1000;
/// Priority of the `iif LAN lookup VRF` rules.
pub const RULE_PRIORITY_VRF: u32 = 1001;
/// Priority of the `iif LAN blackhole` rules.
pub const RULE_PRIORITY_ISOLATE: u32 = 1002;

const RT_TABLE_MAIN: u32 = 254;
const RT_TABLE_COMPAT: u8 = 252;
const RESERVED_TABLES: [u32; 3] = [253, 254, 255];
const IFA_PROTO: u16 = 11;

// include/uapi/linux/seg6_iptunnel.h, seg6_local.h, seg6.h
const SEG6_IPTUNNEL_SRH: u16 = 1;
const SEG6_IPTUN_MODE_ENCAP: u32 = 1;
const SEG6_IPTUN_MODE_ENCAP_RED: u32 = 3;
const IPV6_SRCRT_TYPE_4: u8 = 4;
const SEG6_LOCAL_ACTION: u16 = 1;
const SEG6_LOCAL_TABLE: u16 = 3;
const SEG6_LOCAL_NH4: u16 = 4;
const SEG6_LOCAL_NH6: u16 = 5;
const SEG6_LOCAL_OIF: u16 = 7;
const SEG6_LOCAL_ACTION_END: u32 = 1;
const SEG6_LOCAL_ACTION_END_X: u32 = 2;
const SEG6_LOCAL_ACTION_END_DX6: u32 = 5;
const SEG6_LOCAL_ACTION_END_DX4: u32 = 6;
const SEG6_LOCAL_ACTION_END_DT6: u32 = 7;

/// Why the kernel backend did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The configuration has items the kernel cannot do ([`KernelDataplane::check`]).
    #[error("{file}: the kernel dataplane cannot run this configuration:\n  {}", .problems.join("\n  "))]
    Refused { file: String, problems: Vec<String> },
    /// A port (or `lo`) does not exist in this network namespace.
    #[error("{item}: interface {name} does not exist in this network namespace")]
    NoInterface { item: String, name: String },
    /// The kernel refused a netlink request.
    #[error("{item}: {op}: the kernel said: {message}")]
    Netlink {
        item: String,
        op: String,
        errno: i32,
        message: String,
    },
    /// A sysctl could not be read or written.
    #[error("{item}: sysctl {key}: {source}")]
    Sysctl {
        item: String,
        key: String,
        #[source]
        source: std::io::Error,
    },
    /// A netlink socket could not be opened.
    #[error("opening a netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    /// Applying failed, and undoing what had been applied failed too: the
    /// kernel state is neither the old nor the new configuration.
    #[error("{cause}; undoing the partial change also failed: {}", .undo.join("; "))]
    RollbackFailed {
        cause: Box<KernelError>,
        undo: Vec<String>,
    },
    /// Stopping left some things behind.
    #[error("stopping the kernel dataplane: {}", .0.join("; "))]
    Stop(Vec<String>),
}

/// What [`KernelDataplane::apply`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplySummary {
    /// Objects (routes, rules, addresses, settings) added.
    pub added: usize,
    /// Objects replaced in place.
    pub replaced: usize,
    /// Objects removed (or settings restored).
    pub removed: usize,
    /// One line per change, naming the config item.
    pub changes: Vec<String>,
}

impl ApplySummary {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added + self.replaced + self.removed == 0
    }
}

// ---------------------------------------------------------------------------
// Desired state

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct RouteKey {
    table: u32,
    prefix: IpAddr,
    len: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum RouteBody {
    Forward {
        gateway: Option<IpAddr>,
        oif: u32,
    },
    Blackhole,
    Local {
        lo: u32,
    },
    Seg6 {
        mode: u32,
        segments: Vec<Ipv6Addr>,
        oif: u32,
        hoplimit: Option<u8>,
    },
    Seg6Local {
        action: u32,
        table: Option<u32>,
        nh4: Option<Ipv4Addr>,
        nh6: Option<Ipv6Addr>,
        action_oif: Option<u32>,
        oif: u32,
    },
}

#[derive(Debug, Clone)]
struct RouteObj {
    key: RouteKey,
    /// The config item, for logs and errors.
    item: String,
    body: RouteBody,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum RuleAct {
    Table(u32),
    Blackhole,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RuleObj {
    v6: bool,
    priority: u32,
    iif: String,
    dst: Option<Ipv6Addr>,
    act: RuleAct,
}

impl RuleObj {
    fn describe(&self) -> String {
        let fam = if self.v6 { "-6" } else { "-4" };
        let to = self.dst.map(|d| format!(" to {d}/128")).unwrap_or_default();
        let act = match self.act {
            RuleAct::Table(t) => format!("lookup {t}"),
            RuleAct::Blackhole => "blackhole".to_string(),
        };
        format!(
            "rule {fam} pref {} iif {}{to} {act}",
            self.priority, self.iif
        )
    }
}

/// Everything a configuration asks of the kernel.
#[derive(Debug, Default)]
struct Plan {
    routes: BTreeMap<RouteKey, RouteObj>,
    /// Rule → the config item it comes from.
    rules: BTreeMap<RuleObj, String>,
    addresses: BTreeMap<Ipv6Addr, String>,
    sysctls: BTreeMap<String, (String, String)>,
    tunsrc: Option<Ipv6Addr>,
}

fn ifindex(name: &str, item: &str) -> Result<u32, KernelError> {
    let c = std::ffi::CString::new(name).map_err(|_| KernelError::NoInterface {
        item: item.to_string(),
        name: name.to_string(),
    })?;
    // SAFETY: `c` is a valid NUL-terminated string for the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        return Err(KernelError::NoInterface {
            item: item.to_string(),
            name: name.to_string(),
        });
    }
    Ok(index)
}

fn vrf_table(vrf: u32) -> u32 {
    if vrf == UNDERLAY {
        RT_TABLE_MAIN
    } else {
        vrf
    }
}

fn contains(prefix: IpAddr, len: u8, addr: Ipv6Addr) -> bool {
    let IpAddr::V6(p) = prefix else { return false };
    if len == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - u32::from(len.min(128)));
    (u128::from(p) & mask) == (u128::from(addr) & mask)
}

fn sid_name(config: &LoadedConfig, i: usize) -> String {
    let s = &config.sids[i];
    let sid = if s.len == 128 {
        s.sid.to_string()
    } else {
        format!("{}/{}", s.sid, s.len)
    };
    format!("sid[{i}] {sid} ({})", s.behavior.name())
}

fn route_name(config: &LoadedConfig, i: usize) -> String {
    let r = &config.routes[i];
    format!(
        "route[{i}] {}/{} (vrf {})",
        r.prefix,
        r.len,
        config.vrf_name(r.vrf).unwrap_or("?")
    )
}

fn policy_name(config: &LoadedConfig, i: usize) -> String {
    format!("policy[{i}] {}", config.policies[i].name)
}

fn port_name(config: &LoadedConfig, port: PortId) -> &str {
    config
        .ports
        .get(port.0 as usize)
        .map(|p| p.name.as_str())
        .unwrap_or("?")
}

/// The port the encapsulated packets of `segment` leave by: the one of the
/// longest underlay route covering it, else the first WAN port, else the
/// first port.
fn egress_port(config: &LoadedConfig, segment: Ipv6Addr) -> &str {
    let best = config
        .routes
        .iter()
        .filter(|r| r.vrf == UNDERLAY && contains(r.prefix, r.len, segment))
        .max_by_key(|r| r.len);
    if let Some(r) = best {
        if let RouteAction::Forward(adj) = r.action {
            return port_name(config, adj.port);
        }
    }
    default_port(config)
}

fn default_port(config: &LoadedConfig) -> &str {
    config
        .ports
        .iter()
        .find(|p| p.role == PortRole::Wan)
        .or(config.ports.first())
        .map(|p| p.name.as_str())
        .unwrap_or("lo")
}

fn flowlabel_sysctl(mode: FlowLabelMode) -> &'static str {
    match mode {
        FlowLabelMode::CopyInner => "0",
        FlowLabelMode::Zero => "-1",
        FlowLabelMode::Hash => "1",
    }
}

const ALWAYS_SYSCTLS: [(&str, &str); 3] = [
    ("net.ipv6.conf.all.forwarding", "1"),
    ("net.ipv4.ip_forward", "1"),
    ("net.ipv6.conf.all.seg6_enabled", "1"),
];

impl Plan {
    fn build(config: &LoadedConfig) -> Result<Plan, KernelError> {
        let mut plan = Plan {
            tunsrc: Some(config.source),
            ..Plan::default()
        };
        let lo = ifindex("lo", "router")?;
        for (key, value) in ALWAYS_SYSCTLS {
            plan.sysctls
                .insert(key.to_string(), (value.to_string(), "router".to_string()));
        }
        for p in config.ports.iter().filter(|p| p.role == PortRole::Wan) {
            let item = format!("port[{}] {}", p.id.0, p.name);
            ifindex(&p.name, &item)?;
            plan.sysctls.insert(
                format!("net.ipv6.conf.{}.seg6_enabled", p.name),
                ("1".to_string(), item),
            );
        }
        if let Some(p) = config.policies.first() {
            plan.sysctls.insert(
                "net.ipv6.seg6_flowlabel".to_string(),
                (
                    flowlabel_sysctl(p.flow_label).to_string(),
                    policy_name(config, 0),
                ),
            );
        }
        for a in config
            .owned_addresses
            .iter()
            .filter(|a| a.owner == crate::config::Owner::RouterAddress)
        {
            plan.addresses
                .insert(a.prefix, format!("router.addresses {}", a.prefix));
        }

        for (i, s) in config.sids.iter().enumerate() {
            let item = sid_name(config, i);
            let key = RouteKey {
                table: RT_TABLE_MAIN,
                prefix: IpAddr::V6(s.sid),
                len: s.len,
            };
            let dev = |name: &str| ifindex(name, &item);
            let body = match s.behavior {
                SidBehavior::End => RouteBody::Seg6Local {
                    action: SEG6_LOCAL_ACTION_END,
                    table: None,
                    nh4: None,
                    nh6: None,
                    action_oif: None,
                    oif: dev(default_port(config))?,
                },
                SidBehavior::EndX(adj) => {
                    let oif = dev(port_name(config, adj.port))?;
                    let NextHop::V6(nh) = adj.next_hop else {
                        return Err(refused(config, &item));
                    };
                    RouteBody::Seg6Local {
                        action: SEG6_LOCAL_ACTION_END_X,
                        table: None,
                        nh4: None,
                        nh6: Some(nh),
                        action_oif: Some(oif),
                        oif,
                    }
                }
                SidBehavior::EndDT6 { vrf } => RouteBody::Seg6Local {
                    action: SEG6_LOCAL_ACTION_END_DT6,
                    table: Some(vrf_table(vrf)),
                    nh4: None,
                    nh6: None,
                    action_oif: None,
                    oif: dev(default_port(config))?,
                },
                SidBehavior::EndDX6(adj) => RouteBody::Seg6Local {
                    action: SEG6_LOCAL_ACTION_END_DX6,
                    table: None,
                    nh4: None,
                    nh6: Some(match adj.next_hop {
                        NextHop::V6(a) => a,
                        _ => Ipv6Addr::UNSPECIFIED,
                    }),
                    action_oif: None,
                    oif: dev(port_name(config, adj.port))?,
                },
                SidBehavior::EndDX4(adj) => RouteBody::Seg6Local {
                    action: SEG6_LOCAL_ACTION_END_DX4,
                    table: None,
                    nh4: Some(match adj.next_hop {
                        NextHop::V4(a) => a,
                        _ => Ipv4Addr::UNSPECIFIED,
                    }),
                    nh6: None,
                    action_oif: None,
                    oif: dev(port_name(config, adj.port))?,
                },
                SidBehavior::EndDT4 { .. } | SidBehavior::EndDT46 { .. } => {
                    return Err(refused(config, &item))
                }
            };
            plan.routes.insert(key, RouteObj { key, item, body });
        }

        // First segments of the policies each VRF's routes use.
        let mut vrf_segments: BTreeMap<u32, BTreeSet<Ipv6Addr>> = BTreeMap::new();
        for (i, r) in config.routes.iter().enumerate() {
            let item = route_name(config, i);
            let key = RouteKey {
                table: vrf_table(r.vrf),
                prefix: r.prefix,
                len: r.len,
            };
            let body = match r.action {
                RouteAction::Forward(adj) => RouteBody::Forward {
                    gateway: match adj.next_hop {
                        NextHop::V4(a) => Some(IpAddr::V4(a)),
                        NextHop::V6(a) => Some(IpAddr::V6(a)),
                        NextHop::Direct => None,
                    },
                    oif: ifindex(port_name(config, adj.port), &item)?,
                },
                RouteAction::Blackhole => RouteBody::Blackhole,
                RouteAction::Local => RouteBody::Local { lo },
                RouteAction::Encap(pid) => {
                    let p = &config.policies[pid.0 as usize];
                    let segments = p.policy.segments().to_vec();
                    vrf_segments.entry(r.vrf).or_default().insert(segments[0]);
                    RouteBody::Seg6 {
                        mode: match p.policy.mode() {
                            EncapMode::Encaps => SEG6_IPTUN_MODE_ENCAP,
                            EncapMode::EncapsRed => SEG6_IPTUN_MODE_ENCAP_RED,
                        },
                        oif: ifindex(egress_port(config, segments[0]), &item)?,
                        segments,
                        hoplimit: (r.prefix.is_ipv4() && p.ipv4_hop_limit != 64)
                            .then_some(p.ipv4_hop_limit),
                    }
                }
            };
            if let Some(other) = plan.routes.get(&key) {
                return Err(KernelError::Refused {
                    file: config.file.clone(),
                    problems: vec![format!(
                        "{item}: the same kernel route (table {}) as {}",
                        key.table, other.item
                    )],
                });
            }
            plan.routes.insert(key, RouteObj { key, item, body });
        }

        for p in config.ports.iter().filter(|p| p.role == PortRole::Lan) {
            let item = format!("port[{}] {}", p.id.0, p.name);
            ifindex(&p.name, &item)?;
            let table = vrf_table(p.vrf);
            for v6 in [false, true] {
                let rule = |priority, dst, act| RuleObj {
                    v6,
                    priority,
                    iif: p.name.clone(),
                    dst,
                    act,
                };
                if v6 {
                    for seg in vrf_segments.get(&p.vrf).into_iter().flatten() {
                        plan.rules.insert(
                            rule(RULE_PRIORITY_SID, Some(*seg), RuleAct::Table(RT_TABLE_MAIN)),
                            item.clone(),
                        );
                    }
                }
                plan.rules.insert(
                    rule(RULE_PRIORITY_VRF, None, RuleAct::Table(table)),
                    item.clone(),
                );
                plan.rules.insert(
                    rule(RULE_PRIORITY_ISOLATE, None, RuleAct::Blackhole),
                    item.clone(),
                );
            }
        }
        Ok(plan)
    }
}

fn refused(config: &LoadedConfig, item: &str) -> KernelError {
    let problems = KernelDataplane::check(config);
    KernelError::Refused {
        file: config.file.clone(),
        problems: if problems.is_empty() {
            vec![format!("{item}: not supported by the kernel backend")]
        } else {
            problems
        },
    }
}

// ---------------------------------------------------------------------------
// Messages

fn route_message(key: &RouteKey, body: Option<&RouteBody>) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = if key.prefix.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.destination_prefix_length = key.len;
    m.header.table = if key.table < 256 {
        key.table as u8
    } else {
        RT_TABLE_COMPAT
    };
    m.header.protocol = RouteProtocol::from(RTPROT_SRV6D);
    m.header.scope = RouteScope::Universe;
    m.header.kind = RouteType::Unicast;
    m.attributes
        .push(RouteAttribute::Destination(match key.prefix {
            IpAddr::V4(a) => RouteAddress::Inet(a),
            IpAddr::V6(a) => RouteAddress::Inet6(a),
        }));
    m.attributes.push(RouteAttribute::Table(key.table));
    let Some(body) = body else {
        // A delete: match any type and scope.
        m.header.scope = RouteScope::NoWhere;
        m.header.kind = RouteType::Unspec;
        return m;
    };
    match body {
        RouteBody::Forward { gateway, oif } => {
            match gateway {
                Some(IpAddr::V4(a)) => m
                    .attributes
                    .push(RouteAttribute::Gateway(RouteAddress::Inet(*a))),
                Some(IpAddr::V6(a)) => m
                    .attributes
                    .push(RouteAttribute::Gateway(RouteAddress::Inet6(*a))),
                None if key.prefix.is_ipv4() => m.header.scope = RouteScope::Link,
                None => {}
            }
            m.attributes.push(RouteAttribute::Oif(*oif));
        }
        RouteBody::Blackhole => m.header.kind = RouteType::BlackHole,
        RouteBody::Local { lo } => {
            m.header.kind = RouteType::Local;
            m.header.scope = RouteScope::Host;
            m.attributes.push(RouteAttribute::Oif(*lo));
        }
        RouteBody::Seg6 {
            mode,
            segments,
            oif,
            hoplimit,
        } => {
            if key.prefix.is_ipv4() {
                m.header.scope = RouteScope::Link;
            }
            m.attributes.push(RouteAttribute::Oif(*oif));
            m.attributes
                .push(RouteAttribute::EncapType(RouteLwEnCapType::Seg6));
            m.attributes
                .push(RouteAttribute::Encap(vec![RouteLwTunnelEncap::Other(
                    DefaultNla::new(SEG6_IPTUNNEL_SRH, seg6_iptunnel_encap(*mode, segments)),
                )]));
            if let Some(h) = hoplimit {
                m.attributes
                    .push(RouteAttribute::Metrics(vec![RouteMetric::Hoplimit(
                        u32::from(*h),
                    )]));
            }
        }
        RouteBody::Seg6Local {
            action,
            table,
            nh4,
            nh6,
            action_oif,
            oif,
        } => {
            m.attributes.push(RouteAttribute::Oif(*oif));
            m.attributes
                .push(RouteAttribute::EncapType(RouteLwEnCapType::Seg6Local));
            let mut nlas = vec![RouteLwTunnelEncap::Other(DefaultNla::new(
                SEG6_LOCAL_ACTION,
                action.to_ne_bytes().to_vec(),
            ))];
            if let Some(t) = table {
                nlas.push(RouteLwTunnelEncap::Other(DefaultNla::new(
                    SEG6_LOCAL_TABLE,
                    t.to_ne_bytes().to_vec(),
                )));
            }
            if let Some(a) = nh4 {
                nlas.push(RouteLwTunnelEncap::Other(DefaultNla::new(
                    SEG6_LOCAL_NH4,
                    a.octets().to_vec(),
                )));
            }
            if let Some(a) = nh6 {
                nlas.push(RouteLwTunnelEncap::Other(DefaultNla::new(
                    SEG6_LOCAL_NH6,
                    a.octets().to_vec(),
                )));
            }
            if let Some(o) = action_oif {
                nlas.push(RouteLwTunnelEncap::Other(DefaultNla::new(
                    SEG6_LOCAL_OIF,
                    o.to_ne_bytes().to_vec(),
                )));
            }
            m.attributes.push(RouteAttribute::Encap(nlas));
        }
    }
    m
}

/// `struct seg6_iptunnel_encap { int mode; struct ipv6_sr_hdr srh[]; }`
/// with every segment in the SRH (the kernel strips the first one for
/// encap.red), segments in reverse travel order.
fn seg6_iptunnel_encap(mode: u32, segments: &[Ipv6Addr]) -> Vec<u8> {
    let n = segments.len();
    let mut v = Vec::with_capacity(4 + 8 + 16 * n);
    v.extend_from_slice(&mode.to_ne_bytes());
    v.push(0); // next header: filled in by the kernel
    v.push((2 * n) as u8); // hdrlen, 8-octet units after the first 8
    v.push(IPV6_SRCRT_TYPE_4);
    v.push((n - 1) as u8); // segments left
    v.push((n - 1) as u8); // last entry
    v.push(0); // flags
    v.extend_from_slice(&[0, 0]); // tag
    for s in segments.iter().rev() {
        v.extend_from_slice(&s.octets());
    }
    v
}

fn rule_message(rule: &RuleObj) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header.family = if rule.v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    m.attributes.push(RuleAttribute::Priority(rule.priority));
    m.attributes.push(RuleAttribute::Iifname(rule.iif.clone()));
    m.attributes
        .push(RuleAttribute::Protocol(RouteProtocol::from(RTPROT_SRV6D)));
    if let Some(d) = rule.dst {
        m.header.dst_len = 128;
        m.attributes.push(RuleAttribute::Destination(IpAddr::V6(d)));
    }
    match rule.act {
        RuleAct::Table(t) => {
            m.header.action = RuleAction::ToTable;
            m.header.table = if t < 256 { t as u8 } else { RT_TABLE_COMPAT };
            m.attributes.push(RuleAttribute::Table(t));
        }
        RuleAct::Blackhole => m.header.action = RuleAction::Blackhole,
    }
    m
}

fn nla_value(n: &DefaultNla) -> Vec<u8> {
    let mut v = vec![0; n.value_len()];
    n.emit_value(&mut v);
    v
}

fn address_message(addr: Ipv6Addr, lo: u32) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet6;
    m.header.prefix_len = 128;
    m.header.scope = AddressScope::Universe;
    m.header.index = lo;
    m.attributes
        .push(AddressAttribute::Address(IpAddr::V6(addr)));
    m.attributes.push(AddressAttribute::Local(IpAddr::V6(addr)));
    m.attributes.push(AddressAttribute::Other(DefaultNla::new(
        IFA_PROTO,
        vec![RTPROT_SRV6D],
    )));
    m
}

// ---------------------------------------------------------------------------
// Sysctls (of the calling thread's network namespace: /proc/sys/net follows
// the namespace of the thread that opens it)

fn sysctl_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

fn read_sysctl(key: &str, item: &str) -> Result<String, KernelError> {
    std::fs::read_to_string(sysctl_path(key))
        .map(|s| s.trim().to_string())
        .map_err(|source| KernelError::Sysctl {
            item: item.to_string(),
            key: key.to_string(),
            source,
        })
}

fn write_sysctl(key: &str, value: &str, item: &str) -> Result<(), KernelError> {
    std::fs::write(sysctl_path(key), value).map_err(|source| KernelError::Sysctl {
        item: item.to_string(),
        key: key.to_string(),
        source,
    })
}

// ---------------------------------------------------------------------------
// Changes

#[derive(Debug, Clone)]
enum Change {
    Route {
        before: Option<RouteObj>,
        after: Option<RouteObj>,
    },
    Rule {
        rule: RuleObj,
        item: String,
        add: bool,
    },
    Address {
        addr: Ipv6Addr,
        item: String,
        add: bool,
    },
    /// `original`: Some when this change starts managing the key (it holds
    /// the value to restore), and on the change that stops managing it.
    Sysctl {
        key: String,
        item: String,
        before: String,
        after: String,
        begins: bool,
        ends: bool,
    },
    Tunsrc {
        before: Ipv6Addr,
        after: Ipv6Addr,
    },
}

impl Change {
    fn inverse(&self) -> Change {
        match self.clone() {
            Change::Route { before, after } => Change::Route {
                before: after,
                after: before,
            },
            Change::Rule { rule, item, add } => Change::Rule {
                rule,
                item,
                add: !add,
            },
            Change::Address { addr, item, add } => Change::Address {
                addr,
                item,
                add: !add,
            },
            Change::Sysctl {
                key,
                item,
                before,
                after,
                begins,
                ends,
            } => Change::Sysctl {
                key,
                item,
                before: after,
                after: before,
                begins: ends,
                ends: begins,
            },
            Change::Tunsrc { before, after } => Change::Tunsrc {
                before: after,
                after: before,
            },
        }
    }

    fn describe(&self) -> String {
        match self {
            Change::Route { before, after } => match (before, after) {
                (None, Some(a)) => format!("{}: add route {}", a.item, show_key(&a.key)),
                (Some(b), None) => format!("{}: remove route {}", b.item, show_key(&b.key)),
                (_, Some(a)) => format!("{}: replace route {}", a.item, show_key(&a.key)),
                (None, None) => "nothing".to_string(),
            },
            Change::Rule { rule, item, add } => format!(
                "{item}: {} {}",
                if *add { "add" } else { "remove" },
                rule.describe()
            ),
            Change::Address { addr, item, add } => format!(
                "{item}: {} {addr}/128 on lo",
                if *add { "add" } else { "remove" }
            ),
            Change::Sysctl {
                key,
                item,
                before,
                after,
                ..
            } => format!("{item}: sysctl {key} {before} -> {after}"),
            Change::Tunsrc { before, after } => {
                format!("router.source: seg6 tunnel source {before} -> {after}")
            }
        }
    }

    fn kind(&self) -> ChangeKind {
        match self {
            Change::Route {
                before: None,
                after: Some(_),
            }
            | Change::Rule { add: true, .. }
            | Change::Address { add: true, .. }
            | Change::Sysctl { begins: true, .. } => ChangeKind::Added,
            Change::Route { after: None, .. }
            | Change::Rule { add: false, .. }
            | Change::Address { add: false, .. }
            | Change::Sysctl { ends: true, .. } => ChangeKind::Removed,
            _ => ChangeKind::Replaced,
        }
    }
}

enum ChangeKind {
    Added,
    Replaced,
    Removed,
}

fn show_key(k: &RouteKey) -> String {
    format!("{}/{} table {}", k.prefix, k.len, k.table)
}

/// What is installed.
#[derive(Debug)]
struct Installed {
    routes: BTreeMap<RouteKey, RouteObj>,
    rules: BTreeMap<RuleObj, String>,
    /// Addresses srv6d added (and so removes).
    addresses: BTreeMap<Ipv6Addr, String>,
    /// Managed sysctls: key → (original, current, item).
    sysctls: BTreeMap<String, (String, String, String)>,
    tunsrc_original: Ipv6Addr,
    tunsrc: Ipv6Addr,
}

/// The kernel dataplane: what it installed in the network namespace it was
/// started in, and the sockets it talks to the kernel with (which stay in
/// that namespace, whatever thread calls later).
pub struct KernelDataplane {
    /// The network namespace it was started in: apply and stop run there
    /// (sysctls and interface names are looked up in the calling thread's
    /// namespace), whatever thread calls them.
    netns: std::fs::File,
    rtnl: Netlink,
    genl: Seg6Genl,
    lo: u32,
    installed: Installed,
}

impl std::fmt::Debug for KernelDataplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelDataplane")
            .field("routes", &self.installed.routes.len())
            .field("rules", &self.installed.rules.len())
            .field("addresses", &self.installed.addresses.len())
            .finish()
    }
}

fn nl_err(item: &str, op: &str) -> impl FnOnce(NlError) -> KernelError {
    let op = op.to_string();
    let item = item.to_string();
    move |e| KernelError::Netlink {
        item,
        op,
        errno: e.errno,
        message: e.message,
    }
}

impl KernelDataplane {
    /// Everything in `config` the kernel backend cannot do, one line each,
    /// naming the item. Empty: it can do all of it. Pure.
    pub fn check(config: &LoadedConfig) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, &id) in &config.vrfs {
            if RESERVED_TABLES.contains(&id) {
                problems.push(format!(
                    "vrf {name} (id {id}): routing table {id} is the kernel's own ({}); \
                     the kernel backend uses the VRF id as the table number: choose another id",
                    match id {
                        253 => "default",
                        254 => "main",
                        _ => "local",
                    }
                ));
            }
        }
        for (i, s) in config.sids.iter().enumerate() {
            let item = sid_name(config, i);
            match s.behavior {
                SidBehavior::EndDT4 { .. } | SidBehavior::EndDT46 { .. } => problems.push(format!(
                    "{item}: the kernel needs a VRF device (vrftable) for {}; this backend has none \
                     (and this kernel has no CONFIG_NET_VRF); use End.DT6 or the AF_XDP dataplane",
                    s.behavior.name()
                )),
                SidBehavior::EndX(adj) if !matches!(adj.next_hop, NextHop::V6(_)) => problems
                    .push(format!(
                        "{item}: the kernel's End.X needs a next-hop address; \
                         nexthop = \"on-link\" cannot be mapped"
                    )),
                SidBehavior::EndDX6(adj) => {
                    if let NextHop::V6(a) = adj.next_hop {
                        if (a.segments()[0] & 0xffc0) == 0xfe80 {
                            problems.push(format!(
                                "{item}: the kernel's End.DX6 takes no output interface, so the \
                                 link-local next hop {a} cannot be pinned to port {}; use a global \
                                 next-hop address",
                                port_name(config, adj.port)
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        let mut flow: Option<(usize, FlowLabelMode)> = None;
        for (i, p) in config.policies.iter().enumerate() {
            let item = policy_name(config, i);
            if p.policy.source() != config.source {
                problems.push(format!(
                    "{item}: source {} differs from router.source {}; the kernel has one seg6 \
                     tunnel source per network namespace",
                    p.policy.source(),
                    config.source
                ));
            }
            match flow {
                None => flow = Some((i, p.flow_label)),
                Some((j, mode)) if mode != p.flow_label => problems.push(format!(
                    "{item}: flow_label {:?} differs from {}'s {:?}; the kernel's \
                     net.ipv6.seg6_flowlabel is one setting per network namespace",
                    p.flow_label,
                    policy_name(config, j),
                    mode
                )),
                _ => {}
            }
        }
        for (i, s) in config.stamp_senders.iter().enumerate() {
            problems.push(format!(
                "stamp_sender[{i}] {}: the kernel backend runs no STAMP sessions; use the AF_XDP \
                 dataplane or `srv6d stamp send`",
                s.name
            ));
        }
        if let Some(r) = config.fib.stamp_reflector() {
            for s in r.config.sessions() {
                problems.push(format!(
                    "stamp_session ssid {}: the kernel backend runs no STAMP sessions; use the \
                     AF_XDP dataplane or `srv6d stamp reflect`",
                    s.ssid
                ));
            }
        }
        problems
    }

    /// Applies `config` in the calling thread's network namespace: removes
    /// the leftovers of an earlier srv6d (routes, rules and `lo` addresses
    /// with [`RTPROT_SRV6D`]), then installs everything.
    pub fn start(config: &LoadedConfig) -> Result<KernelDataplane, KernelError> {
        let problems = Self::check(config);
        if !problems.is_empty() {
            return Err(KernelError::Refused {
                file: config.file.clone(),
                problems,
            });
        }
        let rtnl = Netlink::route().map_err(KernelError::Socket)?;
        let mut genl = Seg6Genl::open().map_err(nl_err("router.source", "open SEG6 genl"))?;
        let tunsrc = genl
            .get_tunsrc()
            .map_err(nl_err("router.source", "get seg6 tunnel source"))?;
        let lo = ifindex("lo", "router")?;
        let netns = std::fs::File::open("/proc/thread-self/ns/net").map_err(|source| {
            KernelError::Sysctl {
                item: "router".to_string(),
                key: "/proc/thread-self/ns/net".to_string(),
                source,
            }
        })?;
        let mut dp = KernelDataplane {
            netns,
            rtnl,
            genl,
            lo,
            installed: Installed {
                routes: BTreeMap::new(),
                rules: BTreeMap::new(),
                addresses: BTreeMap::new(),
                sysctls: BTreeMap::new(),
                tunsrc_original: tunsrc,
                tunsrc,
            },
        };
        dp.flush_leftovers()?;
        dp.apply_here(config)?;
        tracing::info!(
            "kernel dataplane started from {}: {} routes, {} rules, {} addresses",
            config.file,
            dp.installed.routes.len(),
            dp.installed.rules.len(),
            dp.installed.addresses.len()
        );
        Ok(dp)
    }

    fn flush_leftovers(&mut self) -> Result<(), KernelError> {
        let item = "leftovers of an earlier srv6d";
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut req = RouteMessage::default();
            req.header.address_family = family;
            let routes = self
                .rtnl
                .rtnl(RouteNetlinkMessage::GetRoute(req), NLM_F_DUMP)
                .map_err(nl_err(item, "dump routes"))?;
            for r in routes {
                let RouteNetlinkMessage::NewRoute(r) = r else {
                    continue;
                };
                if u8::from(r.header.protocol) != RTPROT_SRV6D {
                    continue;
                }
                let table = r
                    .attributes
                    .iter()
                    .find_map(|a| match a {
                        RouteAttribute::Table(t) => Some(*t),
                        _ => None,
                    })
                    .unwrap_or(u32::from(r.header.table));
                let prefix = r.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(IpAddr::V4(*a)),
                    RouteAttribute::Destination(RouteAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
                    _ => None,
                });
                let prefix = prefix.unwrap_or(if family == AddressFamily::Inet {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                } else {
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                });
                let key = RouteKey {
                    table,
                    prefix,
                    len: r.header.destination_prefix_length,
                };
                tracing::info!("kernel: removing leftover route {}", show_key(&key));
                self.rtnl
                    .rtnl(RouteNetlinkMessage::DelRoute(route_message(&key, None)), 0)
                    .map_err(nl_err(item, &format!("remove route {}", show_key(&key))))?;
            }
            let mut req = RuleMessage::default();
            req.header.family = family;
            let rules = self
                .rtnl
                .rtnl(RouteNetlinkMessage::GetRule(req), NLM_F_DUMP)
                .map_err(nl_err(item, "dump rules"))?;
            for r in rules {
                let RouteNetlinkMessage::NewRule(r) = r else {
                    continue;
                };
                let ours = r.attributes.iter().any(
                    |a| matches!(a, RuleAttribute::Protocol(p) if u8::from(*p) == RTPROT_SRV6D),
                );
                if ours {
                    tracing::info!("kernel: removing leftover rule {:?}", r.attributes);
                    self.rtnl
                        .rtnl(RouteNetlinkMessage::DelRule(r), 0)
                        .map_err(nl_err(item, "remove rule"))?;
                }
            }
        }
        let mut req = AddressMessage::default();
        req.header.family = AddressFamily::Inet6;
        let addrs = self
            .rtnl
            .rtnl(RouteNetlinkMessage::GetAddress(req), NLM_F_DUMP)
            .map_err(nl_err(item, "dump addresses"))?;
        for a in addrs {
            let RouteNetlinkMessage::NewAddress(a) = a else {
                continue;
            };
            let ours = a.attributes.iter().any(|x| {
                matches!(x, AddressAttribute::Other(n) if n.kind() == IFA_PROTO && nla_value(n) == [RTPROT_SRV6D])
            });
            if ours && a.header.index == self.lo {
                let addr = a.attributes.iter().find_map(|x| match x {
                    AddressAttribute::Address(IpAddr::V6(v)) => Some(*v),
                    _ => None,
                });
                if let Some(addr) = addr {
                    tracing::info!("kernel: removing leftover address {addr} on lo");
                    self.rtnl
                        .rtnl(
                            RouteNetlinkMessage::DelAddress(address_message(addr, self.lo)),
                            0,
                        )
                        .map_err(nl_err(item, "remove address"))?;
                }
            }
        }
        Ok(())
    }

    /// Moves the kernel from the applied configuration to `config`: only
    /// the difference is applied (additions and replacements first, then
    /// removals), all or nothing: on an error, what was already changed is
    /// undone and the error names the item and the kernel's reason.
    pub fn apply(&mut self, config: &LoadedConfig) -> Result<ApplySummary, KernelError> {
        self.in_own_netns(|dp| dp.apply_here(config))
    }

    /// Runs `f` in the namespace the dataplane was started in: on this
    /// thread when it is already there, else on a helper thread that joins
    /// it.
    fn in_own_netns<R: Send>(
        &mut self,
        f: impl FnOnce(&mut KernelDataplane) -> Result<R, KernelError> + Send,
    ) -> Result<R, KernelError> {
        use std::os::unix::fs::MetadataExt;
        let same = std::fs::metadata("/proc/thread-self/ns/net")
            .ok()
            .zip(self.netns.metadata().ok())
            .is_some_and(|(a, b)| a.ino() == b.ino() && a.dev() == b.dev());
        if same {
            return f(self);
        }
        std::thread::scope(|scope| {
            let joined = scope.spawn(move || {
                use std::os::fd::AsRawFd;
                // SAFETY: `netns` is an open namespace file; setns changes
                // only this helper thread, which ends after `f`.
                let rc = unsafe { libc::setns(self.netns.as_raw_fd(), libc::CLONE_NEWNET) };
                if rc != 0 {
                    return Err(KernelError::Sysctl {
                        item: "router".to_string(),
                        key: "setns into the dataplane's network namespace".to_string(),
                        source: std::io::Error::last_os_error(),
                    });
                }
                f(self)
            });
            match joined.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    fn apply_here(&mut self, config: &LoadedConfig) -> Result<ApplySummary, KernelError> {
        let problems = Self::check(config);
        if !problems.is_empty() {
            return Err(KernelError::Refused {
                file: config.file.clone(),
                problems,
            });
        }
        let plan = Plan::build(config)?;
        let changes = self.diff(&plan)?;
        let summary = self.run(changes)?;
        if summary.is_empty() {
            tracing::info!("kernel: {} applied: nothing changed", config.file);
        } else {
            tracing::info!(
                "kernel: {} applied: {} added, {} replaced, {} removed",
                config.file,
                summary.added,
                summary.replaced,
                summary.removed
            );
        }
        Ok(summary)
    }

    fn diff(&self, plan: &Plan) -> Result<Vec<Change>, KernelError> {
        let inst = &self.installed;
        let mut adds = Vec::new();
        let mut removes = Vec::new();

        for (key, (value, item)) in &plan.sysctls {
            match inst.sysctls.get(key) {
                Some((_, current, _)) if current == value => {}
                Some((_, current, _)) => adds.push(Change::Sysctl {
                    key: key.clone(),
                    item: item.clone(),
                    before: current.clone(),
                    after: value.clone(),
                    begins: false,
                    ends: false,
                }),
                None => {
                    let before = read_sysctl(key, item)?;
                    adds.push(Change::Sysctl {
                        key: key.clone(),
                        item: item.clone(),
                        before,
                        after: value.clone(),
                        begins: true,
                        ends: false,
                    });
                }
            }
        }
        if let Some(src) = plan.tunsrc {
            if src != inst.tunsrc {
                adds.push(Change::Tunsrc {
                    before: inst.tunsrc,
                    after: src,
                });
            }
        }
        for (addr, item) in &plan.addresses {
            if !inst.addresses.contains_key(addr) {
                adds.push(Change::Address {
                    addr: *addr,
                    item: item.clone(),
                    add: true,
                });
            }
        }
        for (key, obj) in &plan.routes {
            match inst.routes.get(key) {
                Some(old) if old.body == obj.body => {}
                old => adds.push(Change::Route {
                    before: old.cloned(),
                    after: Some(obj.clone()),
                }),
            }
        }
        for (rule, item) in &plan.rules {
            if !inst.rules.contains_key(rule) {
                adds.push(Change::Rule {
                    rule: rule.clone(),
                    item: item.clone(),
                    add: true,
                });
            }
        }

        for (rule, item) in &inst.rules {
            if !plan.rules.contains_key(rule) {
                removes.push(Change::Rule {
                    rule: rule.clone(),
                    item: item.clone(),
                    add: false,
                });
            }
        }
        for (key, obj) in &inst.routes {
            if !plan.routes.contains_key(key) {
                removes.push(Change::Route {
                    before: Some(obj.clone()),
                    after: None,
                });
            }
        }
        for (addr, item) in &inst.addresses {
            if !plan.addresses.contains_key(addr) {
                removes.push(Change::Address {
                    addr: *addr,
                    item: item.clone(),
                    add: false,
                });
            }
        }
        if plan.tunsrc.is_none() && inst.tunsrc != inst.tunsrc_original {
            removes.push(Change::Tunsrc {
                before: inst.tunsrc,
                after: inst.tunsrc_original,
            });
        }
        for (key, (original, current, item)) in &inst.sysctls {
            if !plan.sysctls.contains_key(key) {
                removes.push(Change::Sysctl {
                    key: key.clone(),
                    item: item.clone(),
                    before: current.clone(),
                    after: original.clone(),
                    begins: false,
                    ends: true,
                });
            }
        }
        adds.extend(removes);
        Ok(adds)
    }

    /// Executes `changes` in order; on an error undoes the executed ones in
    /// reverse order.
    fn run(&mut self, changes: Vec<Change>) -> Result<ApplySummary, KernelError> {
        let mut done: Vec<Change> = Vec::new();
        let mut summary = ApplySummary::default();
        for change in changes {
            if let Err(e) = self.exec(&change) {
                tracing::warn!("kernel: {e}; undoing {} changes", done.len());
                let mut undo_errors = Vec::new();
                for c in done.iter().rev() {
                    if let Err(u) = self.exec(&c.inverse()) {
                        undo_errors.push(u.to_string());
                    }
                }
                if undo_errors.is_empty() {
                    return Err(e);
                }
                return Err(KernelError::RollbackFailed {
                    cause: Box::new(e),
                    undo: undo_errors,
                });
            }
            let line = change.describe();
            tracing::info!("kernel: {line}");
            match change.kind() {
                ChangeKind::Added => summary.added += 1,
                ChangeKind::Replaced => summary.replaced += 1,
                ChangeKind::Removed => summary.removed += 1,
            }
            summary.changes.push(line);
            done.push(change);
        }
        Ok(summary)
    }

    fn exec(&mut self, change: &Change) -> Result<(), KernelError> {
        match change {
            Change::Route { before, after } => match (before, after) {
                (_, Some(a)) => {
                    let flags = if before.is_some() {
                        NLM_F_CREATE | NLM_F_REPLACE
                    } else {
                        NLM_F_CREATE | NLM_F_EXCL
                    };
                    let op = format!(
                        "{} route {}",
                        if before.is_some() { "replace" } else { "add" },
                        show_key(&a.key)
                    );
                    self.rtnl
                        .rtnl(
                            RouteNetlinkMessage::NewRoute(route_message(&a.key, Some(&a.body))),
                            flags,
                        )
                        .map_err(nl_err(&a.item, &op))?;
                    self.installed.routes.insert(a.key, a.clone());
                }
                (Some(b), None) => {
                    self.rtnl
                        .rtnl(
                            RouteNetlinkMessage::DelRoute(route_message(&b.key, None)),
                            0,
                        )
                        .map_err(nl_err(
                            &b.item,
                            &format!("remove route {}", show_key(&b.key)),
                        ))?;
                    self.installed.routes.remove(&b.key);
                }
                (None, None) => {}
            },
            Change::Rule { rule, item, add } => {
                let msg = rule_message(rule);
                if *add {
                    self.rtnl
                        .rtnl(RouteNetlinkMessage::NewRule(msg), NLM_F_CREATE | NLM_F_EXCL)
                        .map_err(nl_err(item, &format!("add {}", rule.describe())))?;
                    self.installed.rules.insert(rule.clone(), item.clone());
                } else {
                    self.rtnl
                        .rtnl(RouteNetlinkMessage::DelRule(msg), 0)
                        .map_err(nl_err(item, &format!("remove {}", rule.describe())))?;
                    self.installed.rules.remove(rule);
                }
            }
            Change::Address { addr, item, add } => {
                let msg = address_message(*addr, self.lo);
                if *add {
                    self.rtnl
                        .rtnl(
                            RouteNetlinkMessage::NewAddress(msg),
                            NLM_F_CREATE | NLM_F_EXCL,
                        )
                        .map_err(nl_err(item, &format!("add address {addr}/128 to lo")))?;
                    self.installed.addresses.insert(*addr, item.clone());
                } else {
                    self.rtnl
                        .rtnl(RouteNetlinkMessage::DelAddress(msg), 0)
                        .map_err(nl_err(item, &format!("remove address {addr}/128 from lo")))?;
                    self.installed.addresses.remove(addr);
                }
            }
            Change::Sysctl {
                key,
                item,
                before,
                after,
                begins,
                ends,
            } => {
                write_sysctl(key, after, item)?;
                if *ends {
                    self.installed.sysctls.remove(key);
                } else if *begins {
                    self.installed
                        .sysctls
                        .insert(key.clone(), (before.clone(), after.clone(), item.clone()));
                } else if let Some(entry) = self.installed.sysctls.get_mut(key) {
                    entry.1 = after.clone();
                }
            }
            Change::Tunsrc { after, .. } => {
                self.genl
                    .set_tunsrc(*after)
                    .map_err(nl_err("router.source", "set seg6 tunnel source"))?;
                self.installed.tunsrc = *after;
            }
        }
        Ok(())
    }

    /// Removes everything it installed and restores the tunnel source and
    /// the sysctls. Goes on after an error and reports them all.
    pub fn stop(mut self) -> Result<(), KernelError> {
        self.in_own_netns(|dp| dp.stop_here())
    }

    fn stop_here(&mut self) -> Result<(), KernelError> {
        let changes = self.diff(&Plan::default())?;
        let mut errors = Vec::new();
        for change in changes {
            match self.exec(&change) {
                Ok(()) => tracing::info!("kernel: stop: {}", change.describe()),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if errors.is_empty() {
            tracing::info!("kernel dataplane stopped");
            Ok(())
        } else {
            Err(KernelError::Stop(errors))
        }
    }
}
