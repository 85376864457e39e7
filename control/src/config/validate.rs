//! The meaning of a configuration: addresses, prefixes, names and the
//! references between sections, checked as a whole; then, only if nothing
//! was wrong, the forwarding state built from it.
//!
//! Every check records its error and goes on with the next entry, so that
//! one run reports every mistake. An entry that failed a check is left out
//! of the later cross-checks, and a reference to it is not reported again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dataplane::behavior::local::MAX_ORIGINATED_SEGMENTS;
use dataplane::behavior::{
    EncapMode, EncapPolicy, FlowLabelMode, SidBehavior, MAX_SEGMENTS, UNDERLAY,
};
use dataplane::fib::{
    Adjacency, FibBuilder, NextHop, PolicyId, PortId, RouteAction, StampReflection, VrfId, MAX_VRFS,
};

use super::error::{ConfigError, ConfigErrors, ErrorKind};
use super::schema::{
    BehaviorName, FlowLabel, PolicyMode, PortRole, RouteEntry, RouterEntry, StampMode,
    StampSenderEntry, StampSessionEntry, StampUnknownSsid,
};
use super::source::{self, At, Entry, Sections, Source};
use super::{
    LoadedConfig, OwnedPrefix, Owner, PolicyConfig, PortConfig, RouteConfig, SidConfig,
    StampSenderConfig, DEFAULT_STAMP_PORT, DEFAULT_STAMP_SENDER_DST_PORT,
    DEFAULT_STAMP_SENDER_INTERVAL, DEFAULT_STAMP_SENDER_SRC_PORT, MAX_QUEUES,
};

/// The name routes and SIDs use for VRF 0.
pub(crate) const UNDERLAY_NAME: &str = "underlay";

/// The value of `nexthop` for a directly connected destination.
const ON_LINK: &str = "on-link";

const NAME_RULE: &str = "1 to 32 letters, digits, '-', '_' or '.'";
const IFNAME_RULE: &str = "a Linux interface name: 1 to 15 characters, without '/', ':' or spaces";

pub(crate) fn load(text: &str, file: &str) -> Result<LoadedConfig, ConfigErrors> {
    let src = Source::new(file, text);
    let mut errors = Vec::new();
    let loaded = source::parse(&src, text, &mut errors).and_then(|sections| {
        let mut checker = Checker {
            src: &src,
            errors: &mut errors,
            warnings: Vec::new(),
        };
        checker.check(&sections)
    });
    match loaded {
        Some(config) if errors.is_empty() => Ok(config),
        _ => {
            // File order reads best; errors without a line go last.
            errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
            let mut all = ConfigErrors::new(file);
            for e in errors {
                all.push(e);
            }
            Err(all)
        }
    }
}

/// An IPv4 or IPv6 prefix, host bits clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Prefix {
    V4(Ipv4Addr, u8),
    V6(Ipv6Addr, u8),
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Prefix::V4(a, l) => write!(f, "{a}/{l}"),
            Prefix::V6(a, l) => write!(f, "{a}/{l}"),
        }
    }
}

fn mask_v4(a: Ipv4Addr, len: u8) -> Ipv4Addr {
    let bits = u32::from(a) & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    Ipv4Addr::from(bits)
}

fn mask_v6(a: Ipv6Addr, len: u8) -> Ipv6Addr {
    let bits = u128::from(a) & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    Ipv6Addr::from(bits)
}

fn v6_contains(prefix: Ipv6Addr, len: u8, addr: Ipv6Addr) -> bool {
    mask_v6(addr, len) == prefix
}

/// `"10.1.0.0/16"` or `"2001:db8::/32"`, host bits clear.
fn parse_prefix(value: &str) -> Result<Prefix, ErrorKind> {
    let bad = || ErrorKind::BadValue {
        value: value.to_string(),
        expected: "a prefix written address/length, such as \"10.1.0.0/16\" or \"2001:db8:1::/48\""
            .into(),
    };
    let (addr, len) = value.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len: u8 = match len.parse::<u8>() {
        // The canonical form only: no sign, no leading zero.
        Ok(n) if n <= max && n.to_string() == len => n,
        _ => {
            return Err(ErrorKind::BadValue {
                value: value.to_string(),
                expected: format!("a prefix with a length of 0 to {max}"),
            })
        }
    };
    let prefix = match addr {
        IpAddr::V4(a) => Prefix::V4(mask_v4(a, len), len),
        IpAddr::V6(a) => Prefix::V6(mask_v6(a, len), len),
    };
    let given_addr_clear = match (addr, prefix) {
        (IpAddr::V4(a), Prefix::V4(p, _)) => a == p,
        (IpAddr::V6(a), Prefix::V6(p, _)) => a == p,
        _ => true,
    };
    if !given_addr_clear {
        return Err(ErrorKind::HostBits {
            given: value.to_string(),
            normalised: prefix.to_string(),
        });
    }
    Ok(prefix)
}

/// What keeps an address from being a SID, a source or a router address.
fn not_unicast_v6(a: &Ipv6Addr) -> Option<&'static str> {
    if a.is_unspecified() {
        Some("unspecified")
    } else if a.is_loopback() {
        Some("loopback")
    } else if a.is_multicast() {
        Some("multicast")
    } else if (a.segments()[0] & 0xffc0) == 0xfe80 {
        Some("link-local")
    } else {
        None
    }
}

/// What keeps an address from being a next hop (link-local is fine).
fn not_neighbour(a: &IpAddr) -> Option<&'static str> {
    match a {
        IpAddr::V4(a) if a.is_unspecified() => Some("unspecified"),
        IpAddr::V4(a) if a.is_loopback() => Some("loopback"),
        IpAddr::V4(a) if a.is_multicast() => Some("multicast"),
        IpAddr::V4(a) if a.is_broadcast() => Some("broadcast"),
        IpAddr::V6(a) if a.is_unspecified() => Some("unspecified"),
        IpAddr::V6(a) if a.is_loopback() => Some("loopback"),
        IpAddr::V6(a) if a.is_multicast() => Some("multicast"),
        _ => None,
    }
}

/// An HMAC key written in hex: 1 to 64 octets.
fn parse_hex_key(hex: &str) -> Option<Vec<u8>> {
    if hex.is_empty() || hex.len() % 2 != 0 || hex.len() > 128 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// An HMAC key written in hex, or the error that names the form expected.
fn parse_key(hex: &str) -> Result<stamp::auth::HmacKey, ErrorKind> {
    parse_hex_key(hex)
        .map(|bytes| stamp::auth::HmacKey::new(&bytes))
        .ok_or_else(|| ErrorKind::BadValue {
            value: hex.to_string(),
            expected: "an HMAC key as 2 to 128 hex digits (1 to 64 octets), \
                       such as \"00112233445566778899aabbccddeeff\""
                .to_string(),
        })
}

/// A UDP port, 1 to 65535.
fn parse_port(value: i64, default: u16) -> Result<u16, ErrorKind> {
    match u16::try_from(value) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(ErrorKind::OutOfRange {
            value,
            expected: format!("a UDP port, 1 to 65535 (default {default})"),
        }),
    }
}

/// A unicast IPv6 address usable as `usage`.
fn parse_unicast_v6(value: &str, usage: &'static str) -> Result<Ipv6Addr, ErrorKind> {
    let addr: Ipv6Addr = value.parse().map_err(|_| ErrorKind::BadValue {
        value: value.to_string(),
        expected: "an IPv6 address such as \"fc00:0:1::1\"".into(),
    })?;
    match not_unicast_v6(&addr) {
        Some(class) => Err(ErrorKind::NotUnicast {
            addr: addr.to_string(),
            class,
            usage,
        }),
        None => Ok(addr),
    }
}

/// A next hop: an address or `"on-link"`.
fn parse_nexthop(value: &str) -> Result<NextHop, ErrorKind> {
    if value == ON_LINK {
        return Ok(NextHop::Direct);
    }
    let addr: IpAddr = value.parse().map_err(|_| ErrorKind::BadValue {
        value: value.to_string(),
        expected: "a next hop: an IPv4 or IPv6 address, or \"on-link\"".into(),
    })?;
    if let Some(class) = not_neighbour(&addr) {
        return Err(ErrorKind::NotUnicast {
            addr: addr.to_string(),
            class,
            usage: "a next hop",
        });
    }
    Ok(match addr {
        IpAddr::V4(a) => NextHop::V4(a),
        IpAddr::V6(a) => NextHop::V6(a),
    })
}

/// Whether `next_hop` can carry packets of the family (`v6`); the error
/// names `target`.
fn check_family(
    nexthop: &str,
    next_hop: NextHop,
    v6: bool,
    target: String,
) -> Result<(), ErrorKind> {
    let given = match next_hop {
        NextHop::Direct => return Ok(()),
        NextHop::V4(_) => "IPv4",
        NextHop::V6(_) => "IPv6",
    };
    let needed = if v6 { "IPv6" } else { "IPv4" };
    if given == needed {
        Ok(())
    } else {
        Err(ErrorKind::NextHopFamily {
            nexthop: nexthop.to_string(),
            given,
            target,
            needed,
        })
    }
}

fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Linux `dev_valid_name`.
fn valid_ifname(name: &str) -> bool {
    (1..16).contains(&name.len())
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
}

fn one_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("one of: {}", names.join(", "))
    }
}

/// What a behaviour takes.
struct BehaviorRow {
    /// Needs `vrf` (End.DT*).
    vrf: bool,
    /// Needs `port` and `nexthop`, of this family (`true`: IPv6), on a port
    /// of this role.
    adjacency: Option<(bool, PortRole)>,
    /// May be a SID prefix.
    prefix: bool,
    /// For "does not take this key" errors.
    hint: &'static str,
}

/// The behaviour table, in the manner of Linux `seg6_action_table`.
fn behavior_row(b: BehaviorName) -> BehaviorRow {
    let (vrf, adjacency, prefix, hint) = match b {
        BehaviorName::End => (false, None, true, "End takes sid and behavior only"),
        BehaviorName::EndX => (
            false,
            Some((true, PortRole::Wan)),
            true,
            "End.X takes sid, behavior, port and nexthop",
        ),
        BehaviorName::EndDT4 | BehaviorName::EndDT6 | BehaviorName::EndDT46 => (
            true,
            None,
            false,
            "End.DT4, End.DT6 and End.DT46 take sid, behavior and vrf",
        ),
        BehaviorName::EndDX4 => (
            false,
            Some((false, PortRole::Lan)),
            false,
            "End.DX4 takes sid, behavior, port and nexthop",
        ),
        BehaviorName::EndDX6 => (
            false,
            Some((true, PortRole::Lan)),
            false,
            "End.DX6 takes sid, behavior, port and nexthop",
        ),
    };
    BehaviorRow {
        vrf,
        adjacency,
        prefix,
        hint,
    }
}

/// `[router]`, checked.
struct Router {
    source: Ipv6Addr,
    addresses: Vec<(Ipv6Addr, At)>,
    stamp_port: u16,
    stamp: stamp::reflector::ReflectorConfig,
    tcp_mss_clamp: Option<dataplane::behavior::MssClamp>,
}

/// What `[[stamp_sender]]` needs of `[router]`, known even when another
/// router key is wrong: `None` where it could not be checked.
#[derive(Default)]
struct RouterView {
    /// Every one of `router.addresses`, if all of them parsed.
    addresses: Option<Vec<Ipv6Addr>>,
    /// `router.stamp_port` (or its default), if valid.
    stamp_port: Option<u16>,
}

/// Every section, checked, before anything is built.
struct Checked {
    vrfs: BTreeMap<String, VrfId>,
    ports: HashMap<String, PortRef>,
    router: Router,
    policies: HashMap<String, PolicyConfig>,
    sids: Vec<(SidConfig, At)>,
    routes: Vec<(RouteConfig, At)>,
    stamp_senders: Vec<StampSenderConfig>,
}

/// A port as far as the other sections need it.
struct PortRef {
    id: PortId,
    role: PortRole,
    vrf: VrfId,
    vrf_name: String,
}

struct Checker<'a, 's> {
    src: &'a Source<'s>,
    errors: &'a mut Vec<ConfigError>,
    warnings: Vec<String>,
}

impl Checker<'_, '_> {
    fn error(&mut self, at: At, kind: ErrorKind) {
        let e = self.src.error(at.0, at.1.as_ref(), kind);
        self.errors.push(e);
    }

    /// A warning, formatted like an error: `FILE:LINE: PATH: warning: ...`.
    fn warn(&mut self, at: At, message: String) {
        let line =
            at.1.map(|span| format!(":{}", self.src.line(span.start)))
                .unwrap_or_default();
        let file = self.src.file();
        self.warnings
            .push(format!("{file}{line}: {}: warning: {message}", at.0));
    }

    /// "route[2] (line 31)": where something was first defined.
    fn place(&self, at: &At) -> String {
        match &at.1 {
            Some(span) => format!("{} (line {})", at.0, self.src.line(span.start)),
            None => at.0.clone(),
        }
    }

    /// Records `key` as seen at `at`; false (and an error) if it was seen
    /// before.
    fn first<K: std::hash::Hash + Eq>(
        &mut self,
        seen: &mut HashMap<K, At>,
        key: K,
        at: At,
        what: &'static str,
        name: String,
    ) -> bool {
        if let Some(first) = seen.get(&key) {
            let first = self.place(first);
            self.error(at, ErrorKind::Duplicate { what, name, first });
            return false;
        }
        seen.insert(key, at);
        true
    }

    /// A section entry's `name`: well formed per `valid` (else `BadName`,
    /// expecting `rule`) and not used by an earlier entry (else `Duplicate`
    /// of `what`). True if it can be used.
    fn name_ok(
        &mut self,
        seen: &mut HashMap<String, At>,
        at: At,
        name: &str,
        (valid, rule): (fn(&str) -> bool, &'static str),
        what: &'static str,
    ) -> bool {
        if !valid(name) {
            self.error(
                at,
                ErrorKind::BadName {
                    name: name.to_string(),
                    expected: rule,
                },
            );
            return false;
        }
        self.first(seen, name.to_string(), at, what, format!("{name:?}"))
    }

    fn check(&mut self, s: &Sections) -> Option<LoadedConfig> {
        let vrfs = self.vrfs(s);
        let ports = self.ports(s, &vrfs);
        let (router, view) = self.router(s);
        let stamp_senders = self.stamp_senders(s, &view);
        let policies = self.policies(s, router.as_ref().map(|r| r.source));
        let sids = self.sids(s, &vrfs, &ports);
        let routes = self.routes(s, &vrfs, &ports, &policies);
        if let Some(router) = &router {
            self.router_conflicts(&router.addresses, &sids, &routes);
        }
        if !self.errors.is_empty() {
            return None;
        }
        self.build(
            s,
            Checked {
                vrfs,
                ports,
                router: router?,
                policies,
                sids,
                routes,
                stamp_senders,
            },
        )
    }

    /// Resolves a VRF name; `None` (with an error unless the name is of a
    /// broken entry) when it is not declared.
    fn resolve_vrf(
        &mut self,
        s: &Sections,
        vrfs: &BTreeMap<String, VrfId>,
        name: &str,
        at: At,
        allow_underlay: bool,
    ) -> Option<VrfId> {
        if name == UNDERLAY_NAME {
            if allow_underlay {
                return Some(UNDERLAY);
            }
            self.error(
                at,
                ErrorKind::BadValue {
                    value: name.into(),
                    expected: format!(
                        "the name of a [[vrf]] ({}): a LAN port cannot be in the underlay",
                        one_of(vrfs.keys().map(String::as_str))
                    ),
                },
            );
            return None;
        }
        if let Some(&id) = vrfs.get(name) {
            return Some(id);
        }
        // A VRF that is declared but failed its own checks was reported there.
        if !s.broken.vrfs.contains(name) && !s.vrf.iter().any(|e| e.value.name == name) {
            let names = allow_underlay
                .then_some(UNDERLAY_NAME)
                .into_iter()
                .chain(vrfs.keys().map(String::as_str));
            let known = one_of(names);
            let known = if known.is_empty() {
                "the name of a [[vrf]], but none is declared".to_string()
            } else {
                known
            };
            self.error(
                at,
                ErrorKind::UnknownReference {
                    what: "VRF",
                    name: name.into(),
                    known,
                },
            );
        }
        None
    }

    fn vrfs(&mut self, s: &Sections) -> BTreeMap<String, VrfId> {
        let mut vrfs = BTreeMap::new();
        let mut names = HashMap::new();
        let mut ids = HashMap::new();
        for e in &s.vrf {
            let v = &e.value;
            let mut ok = true;
            if v.name == UNDERLAY_NAME {
                self.error(
                    e.key("name"),
                    ErrorKind::BadName {
                        name: v.name.clone(),
                        expected: "a name other than \"underlay\", which is VRF 0's",
                    },
                );
                ok = false;
            } else {
                ok &= self.name_ok(
                    &mut names,
                    e.key("name"),
                    &v.name,
                    (valid_name, NAME_RULE),
                    "VRF name",
                );
            }
            if !(1..i64::from(MAX_VRFS)).contains(&v.id) {
                self.error(
                    e.key("id"),
                    ErrorKind::OutOfRange {
                        value: v.id,
                        expected: format!(
                            "1 to {} (VRF 0 is the underlay, which is always there)",
                            MAX_VRFS - 1
                        ),
                    },
                );
                ok = false;
            } else {
                ok &= self.first(&mut ids, v.id, e.key("id"), "VRF id", v.id.to_string());
            }
            if ok {
                vrfs.insert(v.name.clone(), v.id as VrfId);
            }
        }
        vrfs
    }

    fn ports(&mut self, s: &Sections, vrfs: &BTreeMap<String, VrfId>) -> HashMap<String, PortRef> {
        let mut ports = HashMap::new();
        let mut names = HashMap::new();
        if s.port.is_empty() && s.broken.port_entries == 0 {
            self.error(("port".into(), None), ErrorKind::NoPorts);
        }
        for e in &s.port {
            let p = &e.value;
            let ok = self.name_ok(
                &mut names,
                e.key("name"),
                &p.name,
                (valid_ifname, IFNAME_RULE),
                "port name",
            );
            let id = match u16::try_from(e.index) {
                Ok(id) => PortId(id),
                Err(_) => {
                    self.error(
                        e.whole(),
                        ErrorKind::OutOfRange {
                            value: e.index as i64,
                            expected: format!("at most {} ports", u16::MAX),
                        },
                    );
                    continue;
                }
            };
            let (vrf, vrf_name) = match (p.role, &p.vrf) {
                (PortRole::Wan, None) => (Some(UNDERLAY), UNDERLAY_NAME.to_string()),
                (PortRole::Wan, Some(_)) => {
                    self.error(e.key("vrf"), ErrorKind::WanPortWithVrf);
                    (None, String::new())
                }
                (PortRole::Lan, None) => {
                    self.error(e.key("vrf"), ErrorKind::LanPortWithoutVrf);
                    (None, String::new())
                }
                (PortRole::Lan, Some(name)) => (
                    self.resolve_vrf(s, vrfs, name, e.key("vrf"), false),
                    name.clone(),
                ),
            };
            if let Some(q) = p.queues {
                if !(1..=i64::from(MAX_QUEUES)).contains(&q) {
                    self.error(
                        e.key("queues"),
                        ErrorKind::OutOfRange {
                            value: q,
                            expected: format!("1 to {MAX_QUEUES} (leave it out to use all of the interface's queues)"),
                        },
                    );
                }
            }
            if let (true, Some(vrf)) = (ok, vrf) {
                ports.insert(
                    p.name.clone(),
                    PortRef {
                        id,
                        role: p.role,
                        vrf,
                        vrf_name,
                    },
                );
            }
        }
        ports
    }

    /// Resolves a port name for a route or SID.
    fn resolve_port<'p>(
        &mut self,
        s: &Sections,
        ports: &'p HashMap<String, PortRef>,
        name: &str,
        at: At,
    ) -> Option<&'p PortRef> {
        if let Some(p) = ports.get(name) {
            return Some(p);
        }
        if !s.broken.ports.contains(name) && !s.port.iter().any(|e| e.value.name == name) {
            let known: Vec<&str> = s.port.iter().map(|e| e.value.name.as_str()).collect();
            let known = one_of(known.into_iter());
            self.error(
                at,
                ErrorKind::UnknownReference {
                    what: "port",
                    name: name.into(),
                    known: if known.is_empty() {
                        "the name of a [[port]], but none is declared".into()
                    } else {
                        known
                    },
                },
            );
        }
        None
    }

    /// `[[stamp_session]]`: distinct SSIDs, hex keys, unicast return SIDs
    /// (at most the reflector's maximum). Everything `ReflectorConfig::new`
    /// would refuse is reported here, with its line.
    fn stamp_sessions(&mut self, s: &Sections) -> Option<Vec<stamp::reflector::ReflectorSession>> {
        use stamp::reflector::{ReflectorSession, MAX_RETURN_SEGMENTS};
        let mut sessions = Vec::new();
        let mut seen = HashMap::new();
        let mut ok = true;
        for e in &s.stamp_session {
            let StampSessionEntry {
                ssid,
                key,
                return_segments,
                return_destination,
                stopped,
            } = &e.value;
            let ssid = match u16::try_from(*ssid) {
                Ok(v) => {
                    if !self.first(
                        &mut seen,
                        v,
                        e.key("ssid"),
                        "STAMP session SSID",
                        v.to_string(),
                    ) {
                        ok = false;
                    }
                    Some(v)
                }
                Err(_) => {
                    self.error(
                        e.key("ssid"),
                        ErrorKind::OutOfRange {
                            value: *ssid,
                            expected: "an SSID, 0 to 65535".to_string(),
                        },
                    );
                    None
                }
            };
            let key = match key {
                None => Some(None),
                Some(hex) => match parse_key(hex) {
                    Ok(key) => Some(Some(key)),
                    Err(kind) => {
                        self.error(e.key("key"), kind);
                        None
                    }
                },
            };
            let mut segments = Vec::new();
            let mut segments_ok = true;
            for (i, sid) in return_segments.iter().enumerate() {
                match parse_unicast_v6(sid, "a return SID") {
                    Ok(a) => segments.push(a),
                    Err(kind) => {
                        self.error(e.item("return_segments", i), kind);
                        segments_ok = false;
                    }
                }
            }
            if segments.len() > MAX_RETURN_SEGMENTS {
                self.error(
                    e.key("return_segments"),
                    ErrorKind::BadValue {
                        value: format!("{} SIDs", segments.len()),
                        expected: format!("at most {MAX_RETURN_SEGMENTS} return SIDs"),
                    },
                );
                segments_ok = false;
            }
            let return_destination = match return_destination {
                None => Some(None),
                Some(text) => match parse_unicast_v6(text, "the replies' final destination") {
                    Ok(a) => Some(Some(a)),
                    Err(kind) => {
                        self.error(e.key("return_destination"), kind);
                        None
                    }
                },
            };
            match (ssid, key, return_destination) {
                // A stopped session is given to the reflector as stopped:
                // its test packets are discarded, not answered.
                (Some(ssid), Some(key), Some(return_destination)) if segments_ok => {
                    sessions.push(ReflectorSession {
                        ssid,
                        mode: if key.is_some() {
                            stamp::packet::Mode::Authenticated
                        } else {
                            stamp::packet::Mode::Unauthenticated
                        },
                        key,
                        return_segments: segments,
                        return_destination,
                        stopped: *stopped,
                    })
                }
                _ => ok = false,
            }
        }
        ok.then_some(sessions)
    }

    fn router(&mut self, s: &Sections) -> (Option<Router>, RouterView) {
        let Some(e) = &s.router else {
            if !s.broken.router {
                self.error(
                    ("router".into(), None),
                    ErrorKind::MissingSection {
                        expected: "a [router] table with at least source = \"<IPv6 address>\"",
                    },
                );
            }
            return (None, RouterView::default());
        };
        let RouterEntry {
            source,
            addresses,
            stamp_port,
            stamp_mode,
            stamp_unknown_ssid,
            stamp_rate_limit,
            stamp_timestamp_format,
            tcp_mss_clamp,
        } = &e.value;
        let source = match parse_unicast_v6(source, "an encapsulation source") {
            Ok(a) => Some(a),
            Err(kind) => {
                self.error(e.key("source"), kind);
                None
            }
        };
        let mut owned = Vec::new();
        let mut seen = HashMap::new();
        let mut addresses_ok = true;
        for (i, a) in addresses.iter().enumerate() {
            match parse_unicast_v6(a, "a router address") {
                Ok(addr) => {
                    if self.first(
                        &mut seen,
                        addr,
                        e.item("addresses", i),
                        "router address",
                        addr.to_string(),
                    ) {
                        owned.push((addr, e.item("addresses", i)));
                    }
                }
                Err(kind) => {
                    self.error(e.item("addresses", i), kind);
                    addresses_ok = false;
                }
            }
        }
        let stamp_port = match stamp_port {
            None => Some(DEFAULT_STAMP_PORT),
            Some(p) => match parse_port(*p, DEFAULT_STAMP_PORT) {
                Ok(p) => Some(p),
                Err(kind) => {
                    self.error(e.key("stamp_port"), kind);
                    None
                }
            },
        };
        let view = RouterView {
            addresses: addresses_ok.then(|| owned.iter().map(|(a, _)| *a).collect()),
            stamp_port,
        };
        // On by default (issue 14): a reflector answering any source as
        // fast as it asks is a tool of attacks (RFC 8762 §6).
        let rate_limit = match stamp_rate_limit {
            None => Some(Some(stamp::reflector::DEFAULT_RATE_LIMIT)),
            Some(n) => match u32::try_from(*n) {
                Ok(n) if n > 0 => Some(Some(stamp::reflector::RateLimit {
                    per_second: n,
                    burst: n,
                })),
                _ => {
                    self.error(
                        e.key("stamp_rate_limit"),
                        ErrorKind::OutOfRange {
                            value: *n,
                            expected: format!(
                                "replies per second per source, 1 to 4294967295 \
                                 (leave it out for the default, {})",
                                stamp::reflector::DEFAULT_RATE_LIMIT.per_second
                            ),
                        },
                    );
                    None
                }
            },
        };
        let mss = match tcp_mss_clamp {
            None => Some(None),
            Some(super::schema::TcpMssClamp::Mode(m)) if m == "auto" => {
                Some(Some(dataplane::behavior::MssClamp::Auto))
            }
            Some(super::schema::TcpMssClamp::Mode(m)) => {
                self.error(
                    e.key("tcp_mss_clamp"),
                    ErrorKind::BadValue {
                        value: m.clone(),
                        expected: "\"auto\" or an MSS in octets (536 to 65535)".to_string(),
                    },
                );
                None
            }
            Some(super::schema::TcpMssClamp::Mss(n)) => match u16::try_from(*n) {
                Ok(n) if n >= dataplane::behavior::mss::MIN_MSS => {
                    Some(Some(dataplane::behavior::MssClamp::Fixed(n)))
                }
                _ => {
                    self.error(
                        e.key("tcp_mss_clamp"),
                        ErrorKind::OutOfRange {
                            value: *n,
                            expected: "an MSS in octets, 536 to 65535, or \"auto\"".to_string(),
                        },
                    );
                    None
                }
            },
        };
        let sessions = self.stamp_sessions(s);
        let format = stamp_timestamp_format.format();
        let Some(sessions) = sessions else {
            return (None, view);
        };
        let Some(rate_limit) = rate_limit else {
            return (None, view);
        };
        let stamp = stamp::reflector::ReflectorConfig::new(
            match stamp_mode {
                StampMode::Stateless => stamp::reflector::ReflectorMode::Stateless,
                StampMode::Stateful => stamp::reflector::ReflectorMode::Stateful,
            },
            match stamp_unknown_ssid {
                StampUnknownSsid::Reflect => stamp::reflector::UnknownSsid::Reflect,
                StampUnknownSsid::Drop => stamp::reflector::UnknownSsid::Drop,
            },
            sessions,
            format,
            // Z must say which format T2 and T3 are in (ReflectorConfig::new
            // sets it from the format too).
            stamp::time::ErrorEstimate {
                ptp: format == stamp::time::TimestampFormat::Ptp,
                ..stamp::reflector::ReflectorConfig::default().error_estimate()
            },
            rate_limit,
            false,
        )
        .expect("sessions and the rate limit were checked above");
        let router = match (source, stamp_port, mss) {
            (Some(source), Some(stamp_port), Some(tcp_mss_clamp)) => Some(Router {
                source,
                addresses: owned,
                stamp_port,
                stamp,
                tcp_mss_clamp,
            }),
            _ => None,
        };
        (router, view)
    }

    /// `[[stamp_sender]]`: every key checked on its own, then the source
    /// against `router.addresses`, `src_port` against the reflector's port,
    /// and names and (source, src_port, SSID) for uniqueness. Everything
    /// `SenderSpec::validate` and `SenderSession::new` would refuse is
    /// reported here, with its line.
    fn stamp_senders(&mut self, s: &Sections, router: &RouterView) -> Vec<StampSenderConfig> {
        let mut senders = Vec::new();
        let mut names = HashMap::new();
        let mut seen = HashMap::new();
        let max = dataplane::stamp_sender::MAX_SENDER_SESSIONS;
        if let Some(e) = s.stamp_sender.get(max) {
            self.error(
                e.key("name"),
                ErrorKind::Conflict(format!(
                    "{} [[stamp_sender]] sessions: the engine runs at most {max}",
                    s.stamp_sender.len()
                )),
            );
        }
        for e in &s.stamp_sender {
            let StampSenderEntry {
                name,
                ssid,
                source,
                segments,
                src_port,
                dst_port,
                interval,
                count,
                duration,
                key,
                length,
                timestamp_format,
                dscp,
                clocks_synchronized,
                stopped,
            } = &e.value;
            let mut ok = self.name_ok(
                &mut names,
                e.key("name"),
                name,
                (valid_name, NAME_RULE),
                "STAMP sender name",
            );
            let ssid = match u16::try_from(*ssid) {
                Ok(v) => Some(v),
                Err(_) => {
                    self.error(
                        e.key("ssid"),
                        ErrorKind::OutOfRange {
                            value: *ssid,
                            expected: "an SSID, 0 to 65535".to_string(),
                        },
                    );
                    None
                }
            };
            let source = match parse_unicast_v6(source, "a STAMP test packet source") {
                Ok(a) => match &router.addresses {
                    Some(addresses) if !addresses.contains(&a) => {
                        self.error(
                            e.key("source"),
                            ErrorKind::Conflict(format!(
                                "{a} is not one of router.addresses: replies to it would be \
                                 handed to the kernel, not to srv6d; expected one of the \
                                 router's addresses (list it in router.addresses)"
                            )),
                        );
                        None
                    }
                    _ => Some(a),
                },
                Err(kind) => {
                    self.error(e.key("source"), kind);
                    None
                }
            };
            let mut path = Vec::new();
            if segments.is_empty() || segments.len() > MAX_ORIGINATED_SEGMENTS {
                self.error(
                    e.key("segments"),
                    ErrorKind::SegmentCount {
                        count: segments.len(),
                        max: MAX_ORIGINATED_SEGMENTS,
                    },
                );
                ok = false;
            }
            for (i, seg) in segments.iter().enumerate() {
                match parse_unicast_v6(seg, "a SID in a segment list") {
                    Ok(a) => path.push(a),
                    Err(kind) => {
                        self.error(e.item("segments", i), kind);
                        ok = false;
                    }
                }
            }
            let src_port = match src_port.map(|p| parse_port(p, DEFAULT_STAMP_SENDER_SRC_PORT)) {
                None => Some(DEFAULT_STAMP_SENDER_SRC_PORT),
                Some(Ok(p)) => Some(p),
                Some(Err(kind)) => {
                    self.error(e.key("src_port"), kind);
                    None
                }
            };
            let src_port = match (src_port, router.stamp_port) {
                (Some(p), Some(reflector)) if p == reflector => {
                    self.error(
                        e.key("src_port"),
                        ErrorKind::Conflict(format!(
                            "{p} is router.stamp_port, the reflector's port: the replies come \
                             back to src_port and would be taken for test packets; expected \
                             another port (default {DEFAULT_STAMP_SENDER_SRC_PORT})"
                        )),
                    );
                    None
                }
                (p, _) => p,
            };
            let dst_port = match dst_port.map(|p| parse_port(p, DEFAULT_STAMP_SENDER_DST_PORT)) {
                None => Some(DEFAULT_STAMP_SENDER_DST_PORT),
                Some(Ok(p)) => Some(p),
                Some(Err(kind)) => {
                    self.error(e.key("dst_port"), kind);
                    None
                }
            };
            let interval = match interval {
                None => Some(DEFAULT_STAMP_SENDER_INTERVAL),
                Some(text) => match crate::stamp_socket::parse_duration(text) {
                    Ok(d) if d >= dataplane::stamp_sender::MIN_INTERVAL => Some(d),
                    Ok(_) => {
                        self.error(
                            e.key("interval"),
                            ErrorKind::BadValue {
                                value: text.clone(),
                                expected: "an interval of at least 1ms (the engine's minimum), \
                                           such as \"1ms\", \"10ms\" or \"1.5s\""
                                    .to_string(),
                            },
                        );
                        None
                    }
                    Err(message) => {
                        self.error(e.key("interval"), ErrorKind::InvalidValue(message));
                        None
                    }
                },
            };
            let count = match count {
                None => Some(None),
                Some(n) => match u64::try_from(*n) {
                    Ok(n) if n > 0 => Some(Some(n)),
                    _ => {
                        self.error(
                            e.key("count"),
                            ErrorKind::OutOfRange {
                                value: *n,
                                expected: "1 or more test packets (leave it out to send until \
                                           the session is removed)"
                                    .to_string(),
                            },
                        );
                        None
                    }
                },
            };
            let duration = match duration {
                None => Some(None),
                Some(text) => match crate::stamp_socket::parse_duration(text) {
                    Ok(d) if !d.is_zero() => Some(Some(d)),
                    Ok(_) => {
                        self.error(
                            e.key("duration"),
                            ErrorKind::BadValue {
                                value: text.clone(),
                                expected: "a duration above 0, such as \"10s\" or \"5m\" \
                                           (leave it out to send until the session is removed)"
                                    .to_string(),
                            },
                        );
                        None
                    }
                    Err(message) => {
                        self.error(e.key("duration"), ErrorKind::InvalidValue(message));
                        None
                    }
                },
            };
            let mode = if key.is_some() {
                stamp::packet::Mode::Authenticated
            } else {
                stamp::packet::Mode::Unauthenticated
            };
            let key = match key {
                None => Some(None),
                Some(hex) => match parse_key(hex) {
                    Ok(key) => Some(Some(key)),
                    Err(kind) => {
                        self.error(e.key("key"), kind);
                        None
                    }
                },
            };
            let format = timestamp_format.format();
            let base = stamp::packet::base_len(stamp::packet::Role::Sender, mode);
            let length = match length {
                None => Some(base),
                Some(n) => match usize::try_from(*n) {
                    Err(_) => {
                        self.error(
                            e.key("length"),
                            ErrorKind::OutOfRange {
                                value: *n,
                                expected: format!(
                                    "a UDP data length: the base length ({base}) or at least \
                                     4 more, at most {}",
                                    stamp::sender::MAX_TEST_PACKET
                                ),
                            },
                        );
                        None
                    }
                    // Only the length is checked here: any key will do.
                    Ok(len) => match stamp::sender::SenderSession::new(
                        0,
                        mode,
                        Some(stamp::auth::HmacKey::new(&[0])),
                        format,
                        stamp::time::ErrorEstimate {
                            multiplier: 1,
                            ..Default::default()
                        },
                        len,
                    ) {
                        Ok(_) => Some(len),
                        Err(reason) => {
                            let mode = match mode {
                                stamp::packet::Mode::Authenticated => "authenticated (key set)",
                                stamp::packet::Mode::Unauthenticated => "unauthenticated (no key)",
                            };
                            self.error(e.key("length"), ErrorKind::StampSender { mode, reason });
                            None
                        }
                    },
                },
            };
            let dscp = match dscp {
                None => Some(0),
                Some(d) => match u8::try_from(*d) {
                    Ok(d) if d < 64 => Some(d),
                    _ => {
                        self.error(
                            e.key("dscp"),
                            ErrorKind::OutOfRange {
                                value: *d,
                                expected: "a DSCP, 0 to 63 (default 0)".to_string(),
                            },
                        );
                        None
                    }
                },
            };
            let (
                true,
                Some(ssid),
                Some(source),
                Some(src_port),
                Some(dst_port),
                Some(interval),
                Some(count),
                Some(duration),
                Some(key),
                Some(length),
                Some(dscp),
            ) = (
                ok, ssid, source, src_port, dst_port, interval, count, duration, key, length, dscp,
            )
            else {
                continue;
            };
            if !self.first(
                &mut seen,
                (source, src_port, ssid),
                e.key("ssid"),
                "STAMP sender session",
                format!("[{source}]:{src_port} SSID {ssid}"),
            ) {
                continue;
            }
            senders.push(StampSenderConfig {
                name: name.clone(),
                ssid,
                source,
                segments: path,
                src_port,
                dst_port,
                interval,
                count,
                duration,
                key,
                length,
                timestamp_format: format,
                dscp,
                clocks_synchronized: *clocks_synchronized,
                stopped: *stopped,
            });
        }
        senders
    }

    fn policies(
        &mut self,
        s: &Sections,
        router_source: Option<Ipv6Addr>,
    ) -> HashMap<String, PolicyConfig> {
        let mut policies = HashMap::new();
        let mut names = HashMap::new();
        let mut next_id = 0u32;
        for e in &s.policy {
            let p = &e.value;
            let mut ok = self.name_ok(
                &mut names,
                e.key("name"),
                &p.name,
                (valid_name, NAME_RULE),
                "policy name",
            );
            let mut segments = Vec::new();
            if p.segments.is_empty() || p.segments.len() > MAX_SEGMENTS {
                self.error(
                    e.key("segments"),
                    ErrorKind::SegmentCount {
                        count: p.segments.len(),
                        max: MAX_SEGMENTS,
                    },
                );
                ok = false;
            }
            for (i, seg) in p.segments.iter().enumerate() {
                match parse_unicast_v6(seg, "a SID in a segment list") {
                    Ok(a) => segments.push(a),
                    Err(kind) => {
                        self.error(e.item("segments", i), kind);
                        ok = false;
                    }
                }
            }
            let source = match &p.source {
                Some(src) => match parse_unicast_v6(src, "an encapsulation source") {
                    Ok(a) => Some(a),
                    Err(kind) => {
                        self.error(e.key("source"), kind);
                        ok = false;
                        None
                    }
                },
                None => router_source,
            };
            let hop_limit = match p.ipv4_hop_limit {
                None => None,
                Some(h) => match u8::try_from(h) {
                    Ok(h) if h > 0 => Some(h),
                    _ => {
                        self.error(
                            e.key("ipv4_hop_limit"),
                            ErrorKind::OutOfRange {
                                value: h,
                                expected: "1 to 255 (default 64)".into(),
                            },
                        );
                        ok = false;
                        None
                    }
                },
            };
            let (true, Some(source)) = (ok, source) else {
                continue;
            };
            let mode = match p.mode {
                PolicyMode::Encap => EncapMode::Encaps,
                PolicyMode::EncapRed => EncapMode::EncapsRed,
            };
            let flow = match p.flow_label {
                FlowLabel::Copy => FlowLabelMode::CopyInner,
                FlowLabel::Zero => FlowLabelMode::Zero,
                FlowLabel::Hash => FlowLabelMode::Hash,
            };
            let built = EncapPolicy::new(mode, source, &segments).and_then(|pol| {
                let pol = pol.with_flow_label(flow);
                match hop_limit {
                    Some(h) => pol.with_ipv4_hop_limit(h),
                    None => Ok(pol),
                }
            });
            match built {
                Ok(policy) => {
                    let config = PolicyConfig {
                        id: PolicyId(next_id),
                        name: p.name.clone(),
                        policy,
                        flow_label: flow,
                        ipv4_hop_limit: hop_limit.unwrap_or(64),
                    };
                    policies.insert(p.name.clone(), config);
                    next_id += 1;
                }
                Err(err) => self.error(e.whole(), err.into()),
            }
        }
        policies
    }

    fn sids(
        &mut self,
        s: &Sections,
        vrfs: &BTreeMap<String, VrfId>,
        ports: &HashMap<String, PortRef>,
    ) -> Vec<(SidConfig, At)> {
        let mut sids = Vec::new();
        let mut seen = HashMap::new();
        for e in &s.sid {
            let v = &e.value;
            let row = behavior_row(v.behavior);
            let name = v.behavior.rfc_name();
            let mut ok = true;
            // The SID or SID prefix.
            let parsed = if v.sid.contains('/') {
                match parse_prefix(&v.sid) {
                    Ok(Prefix::V6(a, l)) if l > 0 => Ok((a, l)),
                    Ok(Prefix::V6(..)) | Ok(Prefix::V4(..)) => Err(ErrorKind::BadValue {
                        value: v.sid.clone(),
                        expected: "an IPv6 SID (\"fc00:0:1::100\") or SID prefix of length 1 to 128 (\"fc00:0:1::/48\")".into(),
                    }),
                    Err(ErrorKind::BadValue { value, .. }) => Err(ErrorKind::BadValue {
                        value,
                        expected: "an IPv6 SID (\"fc00:0:1::100\") or SID prefix (\"fc00:0:1::/48\")".into(),
                    }),
                    Err(k) => Err(k),
                }
            } else {
                v.sid
                    .parse::<Ipv6Addr>()
                    .map(|a| (a, 128))
                    .map_err(|_| ErrorKind::BadValue {
                        value: v.sid.clone(),
                        expected:
                            "an IPv6 SID (\"fc00:0:1::100\") or SID prefix (\"fc00:0:1::/48\")"
                                .into(),
                    })
            };
            let sid = match parsed {
                Ok((a, l)) => match not_unicast_v6(&a) {
                    Some(class) => {
                        self.error(
                            e.key("sid"),
                            ErrorKind::NotUnicast {
                                addr: a.to_string(),
                                class,
                                usage: "a SID",
                            },
                        );
                        None
                    }
                    None => Some((a, l)),
                },
                Err(kind) => {
                    self.error(e.key("sid"), kind);
                    None
                }
            };
            if let Some((_, l)) = sid {
                if l < 128 && !row.prefix {
                    self.error(e.key("sid"), ErrorKind::PrefixNotAllowed { behavior: name });
                    ok = false;
                }
            }
            // Keys the behaviour does not take.
            for (key, given) in [
                ("vrf", v.vrf.is_some() && !row.vrf),
                ("port", v.port.is_some() && row.adjacency.is_none()),
                ("nexthop", v.nexthop.is_some() && row.adjacency.is_none()),
            ] {
                if given {
                    self.error(
                        e.key(key),
                        ErrorKind::NotAllowed {
                            owner: name.to_string(),
                            hint: row.hint,
                        },
                    );
                    ok = false;
                }
            }
            // Parameters.
            let mut vrf = None;
            if row.vrf {
                match &v.vrf {
                    Some(n) => vrf = self.resolve_vrf(s, vrfs, n, e.key("vrf"), true),
                    None => self.error(
                        e.key("vrf"),
                        ErrorKind::MissingKey {
                            expected: format!(
                                "{name} needs vrf = \"<name of a [[vrf]], or underlay>\""
                            ),
                        },
                    ),
                }
                ok &= vrf.is_some();
            }
            let mut adjacency = None;
            if let Some((v6, role)) = row.adjacency {
                let family = if v6 { "IPv6" } else { "IPv4" };
                let role_name = match role {
                    PortRole::Wan => "a WAN port",
                    PortRole::Lan => "a LAN port",
                };
                let next_hop = match &v.nexthop {
                    None => {
                        self.error(
                            e.key("nexthop"),
                            ErrorKind::MissingKey {
                                expected: format!(
                                    "{name} needs nexthop = \"<{family} address>\" (or \"on-link\") and port = \"<{role_name}>\""
                                ),
                            },
                        );
                        None
                    }
                    Some(nh) => match parse_nexthop(nh)
                        .and_then(|hop| check_family(nh, hop, v6, name.to_string()).map(|()| hop))
                    {
                        Ok(hop) => Some(hop),
                        Err(kind) => {
                            self.error(e.key("nexthop"), kind);
                            None
                        }
                    },
                };
                let port = match &v.port {
                    None => {
                        self.error(
                            e.key("port"),
                            ErrorKind::MissingKey {
                                expected: format!("{name} needs port = \"<name of {role_name}>\""),
                            },
                        );
                        None
                    }
                    Some(pn) => match self.resolve_port(s, ports, pn, e.key("port")) {
                        Some(p) if p.role != role => {
                            let is = match p.role {
                                PortRole::Wan => "a WAN port".to_string(),
                                PortRole::Lan => format!("a LAN port of VRF {}", p.vrf_name),
                            };
                            let why = match role {
                                PortRole::Wan => "End.X forwards in the underlay",
                                PortRole::Lan => {
                                    "it hands the decapsulated packet to a customer site"
                                }
                            };
                            self.error(
                                e.key("port"),
                                ErrorKind::PortMismatch {
                                    port: pn.clone(),
                                    is,
                                    expected: format!("{role_name}: {why}"),
                                },
                            );
                            None
                        }
                        Some(p) => Some(p.id),
                        None => None,
                    },
                };
                match (port, next_hop) {
                    (Some(port), Some(next_hop)) => adjacency = Some(Adjacency { port, next_hop }),
                    _ => ok = false,
                }
            }
            let (Some((addr, len)), true) = (sid, ok) else {
                continue;
            };
            let behavior = match (v.behavior, vrf, adjacency) {
                (BehaviorName::End, _, _) => SidBehavior::End,
                (BehaviorName::EndX, _, Some(adj)) => SidBehavior::EndX(adj),
                (BehaviorName::EndDT4, Some(vrf), _) => SidBehavior::EndDT4 { vrf },
                (BehaviorName::EndDT6, Some(vrf), _) => SidBehavior::EndDT6 { vrf },
                (BehaviorName::EndDT46, Some(vrf), _) => SidBehavior::EndDT46 { vrf },
                (BehaviorName::EndDX4, _, Some(adj)) => SidBehavior::EndDX4(adj),
                (BehaviorName::EndDX6, _, Some(adj)) => SidBehavior::EndDX6(adj),
                _ => continue,
            };
            let shown = if len == 128 {
                addr.to_string()
            } else {
                format!("{addr}/{len}")
            };
            if self.first(&mut seen, (addr, len), e.key("sid"), "SID", shown) {
                sids.push((
                    SidConfig {
                        sid: addr,
                        len,
                        behavior,
                    },
                    e.key("sid"),
                ));
            }
        }
        sids
    }

    fn routes(
        &mut self,
        s: &Sections,
        vrfs: &BTreeMap<String, VrfId>,
        ports: &HashMap<String, PortRef>,
        policies: &HashMap<String, PolicyConfig>,
    ) -> Vec<(RouteConfig, At)> {
        let mut routes = Vec::new();
        let mut seen = HashMap::new();
        for e in &s.route {
            let r = &e.value;
            let vrf = self.resolve_vrf(s, vrfs, &r.vrf, e.key("vrf"), true);
            let prefix = match parse_prefix(&r.prefix) {
                Ok(p) => Some(p),
                Err(kind) => {
                    self.error(e.key("prefix"), kind);
                    None
                }
            };
            let mut given = Vec::new();
            if r.policy.is_some() {
                given.push("policy");
            }
            if r.nexthop.is_some() || r.port.is_some() {
                given.push("nexthop");
            }
            if r.local {
                given.push("local = true");
            }
            if r.blackhole {
                given.push("blackhole = true");
            }
            if given.len() != 1 {
                let found = if given.is_empty() {
                    "no action".to_string()
                } else if given.len() == 2 {
                    format!("{} both given", given.join(" and "))
                } else {
                    format!("{} all given", given.join(", "))
                };
                self.error(e.whole(), ErrorKind::RouteAction { found });
                continue;
            }
            let action = if let Some(name) = &r.policy {
                match policies.get(name) {
                    Some(p) => Some(RouteAction::Encap(p.id)),
                    None => {
                        if !s.broken.policies.contains(name)
                            && !s.policy.iter().any(|p| &p.value.name == name)
                        {
                            let mut known: Vec<&str> =
                                policies.keys().map(String::as_str).collect();
                            known.sort_unstable();
                            let known = one_of(known.into_iter());
                            self.error(
                                e.key("policy"),
                                ErrorKind::UnknownReference {
                                    what: "policy",
                                    name: name.clone(),
                                    known: if known.is_empty() {
                                        "the name of a [[policy]], but none is declared".into()
                                    } else {
                                        known
                                    },
                                },
                            );
                        }
                        None
                    }
                }
            } else if r.local {
                Some(RouteAction::Local)
            } else if r.blackhole {
                Some(RouteAction::Blackhole)
            } else {
                self.forward_action(s, e, vrf, prefix, ports)
            };
            let (Some(vrf), Some(prefix), Some(action)) = (vrf, prefix, action) else {
                continue;
            };
            let name = format!("{} {prefix}", r.vrf);
            if self.first(&mut seen, (vrf, prefix), e.key("prefix"), "route", name) {
                let (addr, len) = match prefix {
                    Prefix::V4(a, l) => (IpAddr::V4(a), l),
                    Prefix::V6(a, l) => (IpAddr::V6(a), l),
                };
                routes.push((
                    RouteConfig {
                        vrf,
                        prefix: addr,
                        len,
                        action,
                    },
                    e.key("prefix"),
                ));
            }
        }
        routes
    }

    /// The action of a `nexthop` + `port` route.
    fn forward_action(
        &mut self,
        s: &Sections,
        e: &Entry<RouteEntry>,
        vrf: Option<VrfId>,
        prefix: Option<Prefix>,
        ports: &HashMap<String, PortRef>,
    ) -> Option<RouteAction> {
        let r = &e.value;
        let (Some(nh), Some(port_name)) = (&r.nexthop, &r.port) else {
            let (key, expected) = if r.nexthop.is_none() {
                ("nexthop", "a route with a port needs nexthop = \"<address>\", or nexthop = \"on-link\" for a directly connected prefix")
            } else {
                (
                    "port",
                    "a route with a nexthop needs port = \"<name of a [[port]]>\"",
                )
            };
            self.error(
                e.key(key),
                ErrorKind::MissingKey {
                    expected: expected.into(),
                },
            );
            return None;
        };
        let next_hop = match parse_nexthop(nh) {
            Ok(hop) => hop,
            Err(kind) => {
                self.error(e.key("nexthop"), kind);
                return None;
            }
        };
        if let Some(prefix) = prefix {
            let (v6, family) = match prefix {
                Prefix::V4(..) => (false, "IPv4"),
                Prefix::V6(..) => (true, "IPv6"),
            };
            if let Err(kind) = check_family(nh, next_hop, v6, format!("this {family} route")) {
                self.error(e.key("nexthop"), kind);
                return None;
            }
        }
        let port = self.resolve_port(s, ports, port_name, e.key("port"))?;
        let vrf = vrf?;
        if port.vrf != vrf {
            let is = match port.role {
                PortRole::Wan => "a WAN port (in the underlay)".to_string(),
                PortRole::Lan => format!("a LAN port of VRF {}", port.vrf_name),
            };
            let expected = if vrf == UNDERLAY {
                "a WAN port: the route is in the underlay".to_string()
            } else {
                format!("a LAN port of VRF {}, the route's VRF", r.vrf)
            };
            self.error(
                e.key("port"),
                ErrorKind::PortMismatch {
                    port: port_name.clone(),
                    is,
                    expected,
                },
            );
            return None;
        }
        Some(RouteAction::Forward(Adjacency {
            port: port.id,
            next_hop,
        }))
    }

    /// A router address must not be hidden by a SID (SIDs are looked up
    /// first) nor be routed elsewhere by an explicit route.
    fn router_conflicts(
        &mut self,
        addresses: &[(Ipv6Addr, At)],
        sids: &[(SidConfig, At)],
        routes: &[(RouteConfig, At)],
    ) {
        for (addr, at) in addresses {
            if let Some((sid, sid_at)) = sids
                .iter()
                .find(|(sid, _)| v6_contains(sid.sid, sid.len, *addr))
            {
                let what = if sid.len == 128 {
                    format!("it is also the SID at {}", self.place(sid_at))
                } else {
                    format!(
                        "it is inside the SID prefix {}/{} at {}",
                        sid.sid,
                        sid.len,
                        self.place(sid_at)
                    )
                };
                self.error(
                    at.clone(),
                    ErrorKind::Conflict(format!(
                        "{addr}: {what}, and a SID takes precedence, so the router would never answer it; expected an address outside every SID and SID prefix"
                    )),
                );
            }
            if let Some((_, route_at)) = routes.iter().find(|(r, _)| {
                r.vrf == UNDERLAY
                    && r.len == 128
                    && r.prefix == IpAddr::V6(*addr)
                    && r.action != RouteAction::Local
            }) {
                let place = self.place(route_at);
                self.error(
                    at.clone(),
                    ErrorKind::Conflict(format!(
                        "{addr}: the router answers its addresses itself (a local route), but {place} routes it elsewhere; expected no route for it"
                    )),
                );
            }
        }
    }

    /// Builds the forwarding state from sections that passed every check.
    fn build(&mut self, s: &Sections, checked: Checked) -> Option<LoadedConfig> {
        let Checked {
            vrfs,
            ports: port_refs,
            router:
                Router {
                    source,
                    addresses,
                    stamp_port,
                    stamp,
                    tcp_mss_clamp,
                },
            policies,
            sids,
            routes,
            stamp_senders,
        } = checked;
        let whole: At = (String::new(), None);
        let mut fib = FibBuilder::new();
        for &id in vrfs.values() {
            if let Err(err) = fib.add_vrf(id) {
                self.error(whole.clone(), err.into());
            }
        }
        let mut policy_list: Vec<PolicyConfig> = policies.into_values().collect();
        policy_list.sort_by_key(|p| p.id.0);
        for p in &policy_list {
            let id = fib.add_policy(p.policy.clone());
            debug_assert_eq!(id, p.id);
        }
        for (sid, at) in &sids {
            let added = if sid.len == 128 {
                fib.add_sid(sid.sid, sid.behavior)
            } else {
                fib.add_sid_prefix(sid.sid, sid.len, sid.behavior)
            };
            if let Err(err) = added {
                self.error(at.clone(), err.into());
            }
        }
        let mut route_list = Vec::new();
        for (route, at) in routes {
            let added = match route.prefix {
                IpAddr::V4(a) => fib.add_route_v4(route.vrf, a, route.len, route.action),
                IpAddr::V6(a) => fib.add_route_v6(route.vrf, a, route.len, route.action),
            };
            if let Err(err) = added {
                self.error(at, err.into());
            }
            route_list.push(route);
        }
        // Sources of the ICMP errors the engine sends (docs/decisions/
        // 0006-icmp-errors.md): a VRF's first local host route (its own
        // address there), else router.source for IPv6 and the RFC 7600
        // dummy address 192.0.0.8 for IPv4.
        for route in route_list.iter().rev() {
            let host = matches!(
                (route.prefix, route.len),
                (IpAddr::V4(_), 32) | (IpAddr::V6(_), 128)
            );
            if host && route.action == RouteAction::Local && route.vrf != UNDERLAY {
                fib.set_icmp_source(route.vrf, route.prefix);
            }
        }
        fib.set_icmp_source(UNDERLAY, IpAddr::V6(source));
        fib.set_tcp_mss_clamp(tcp_mss_clamp);
        for (addr, at) in &addresses {
            if let Err(err) = fib.add_route_v6(UNDERLAY, *addr, 128, RouteAction::Local) {
                self.error(at.clone(), err.into());
            }
        }
        fib.set_stamp_reflector(StampReflection {
            port: stamp_port,
            config: stamp,
        });
        let built = match fib.build() {
            Ok(built) => built,
            Err(err) => {
                self.error(whole, err.into());
                return None;
            }
        };
        if !self.errors.is_empty() {
            return None;
        }

        let mut owned: Vec<OwnedPrefix> = sids
            .iter()
            .map(|(sid, _)| OwnedPrefix {
                prefix: sid.sid,
                len: sid.len,
                owner: if sid.len == 128 {
                    Owner::Sid
                } else {
                    Owner::SidPrefix
                },
            })
            .chain(addresses.iter().map(|(a, _)| OwnedPrefix {
                prefix: *a,
                len: 128,
                owner: Owner::RouterAddress,
            }))
            .collect();
        owned.sort();

        // Valid, but probably not meant.
        for p in &policy_list {
            let first = p.policy.first_segment();
            let routed = built
                .vrf(UNDERLAY)
                .and_then(|t| t.lookup_v6(first))
                .is_some();
            if !routed && built.local_sid(&first).is_none() {
                if let Some(e) = s.policy.iter().find(|e| e.value.name == p.name) {
                    self.warn(
                        e.key("segments"),
                        format!(
                            "no underlay route covers the first segment {first}: packets encapsulated into policy {} will be dropped (no_route)",
                            p.name
                        ),
                    );
                }
            }
        }
        let lan_vrfs: HashSet<VrfId> = port_refs.values().map(|p| p.vrf).collect();
        for e in &s.vrf {
            if let Some(&id) = vrfs.get(&e.value.name) {
                if !lan_vrfs.contains(&id) {
                    self.warn(
                        e.whole(),
                        format!(
                            "no LAN port is in VRF {}: its routes can only encapsulate, drop or deliver locally",
                            e.value.name
                        ),
                    );
                }
            }
        }

        let mut ports: Vec<PortConfig> = s
            .port
            .iter()
            .filter_map(|e| {
                let r = port_refs.get(&e.value.name)?;
                Some(PortConfig {
                    id: r.id,
                    name: e.value.name.clone(),
                    role: r.role,
                    vrf: r.vrf,
                    queues: e.value.queues.and_then(|q| u16::try_from(q).ok()),
                    xdp_mode: e.value.xdp_mode,
                })
            })
            .collect();
        ports.sort_by_key(|p| p.id.0);

        Some(LoadedConfig {
            file: self.src.file().to_string(),
            ports,
            vrfs,
            source,
            stamp_port,
            stamp_senders,
            owned_addresses: owned,
            policies: policy_list,
            sids: sids.into_iter().map(|(sid, _)| sid).collect(),
            routes: route_list,
            fib_builder: fib,
            fib: built,
            warnings: std::mem::take(&mut self.warnings),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_and_normalise() {
        assert_eq!(
            parse_prefix("10.1.0.0/16").unwrap(),
            Prefix::V4(Ipv4Addr::new(10, 1, 0, 0), 16)
        );
        assert_eq!(
            parse_prefix("0.0.0.0/0").unwrap(),
            Prefix::V4(Ipv4Addr::UNSPECIFIED, 0)
        );
        assert_eq!(
            parse_prefix("::/0").unwrap(),
            Prefix::V6(Ipv6Addr::UNSPECIFIED, 0)
        );
        assert_eq!(
            parse_prefix("10.1.2.3/16").unwrap_err(),
            ErrorKind::HostBits {
                given: "10.1.2.3/16".into(),
                normalised: "10.1.0.0/16".into()
            }
        );
        assert_eq!(
            parse_prefix("fc00:0:1::5/48").unwrap_err(),
            ErrorKind::HostBits {
                given: "fc00:0:1::5/48".into(),
                normalised: "fc00:0:1::/48".into()
            }
        );
        for bad in [
            "10.1.0.0",
            "10.1.0.0/33",
            "::/129",
            "10.1.0.0/+8",
            "10.1.0.0/08",
            "x/8",
            "/8",
            "10.0.0.0/",
        ] {
            assert!(
                matches!(parse_prefix(bad), Err(ErrorKind::BadValue { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_follow_the_rules() {
        assert!(valid_ifname("eth0") && valid_ifname("enp1s0f1.100") && valid_ifname("a"));
        assert!(!valid_ifname("") && !valid_ifname("0123456789abcdef") && !valid_ifname("a/b"));
        assert!(!valid_ifname("a:1") && !valid_ifname("a b") && !valid_ifname(".."));
        assert!(valid_name("blue") && valid_name("to-edge2.v4_x"));
        assert!(!valid_name("") && !valid_name("a b") && !valid_name(&"x".repeat(33)));
    }
}
