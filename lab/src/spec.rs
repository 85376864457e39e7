//! The declarative part: what a topology contains, and how each item renders
//! to iproute2 arguments. Nothing here touches the system.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::features::KernelFeature;

/// A MAC address, most significant byte first.
pub type Mac = [u8; 6];

/// The kernel's `main` routing table.
pub const MAIN_TABLE: u32 = 254;

/// Formats a MAC address the way iproute2 writes it (`02:00:00:00:00:01`).
pub fn format_mac(mac: &Mac) -> String {
    let parts: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

/// Parses `02:00:00:00:00:01` (case-insensitive) into a [`Mac`].
pub fn parse_mac(text: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for byte in mac.iter_mut() {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// An IP prefix such as `10.0.0.0/24`, `fc00::/64` or `::/0`; a bare
/// address means a host prefix (/32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length in bits.
    pub len: u8,
}

impl Prefix {
    /// True for an IPv6 prefix.
    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }

    fn family_flag(&self) -> &'static str {
        if self.is_ipv6() {
            "-6"
        } else {
            "-4"
        }
    }
}

impl FromStr for Prefix {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{text}` is not a prefix: expected ADDR or ADDR/LEN"))?;
        let max = if addr.is_ipv6() { 128 } else { 32 };
        let len = match len {
            None => max,
            Some(len) => match len.parse::<u8>() {
                Ok(len) if len <= max => len,
                _ => return Err(format!("`{text}`: prefix length must be 0..={max}")),
            },
        };
        Ok(Prefix { addr, len })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

fn prefix(text: &str) -> Prefix {
    text.parse()
        .unwrap_or_else(|e| panic!("invalid prefix literal: {e}"))
}

fn ip(text: &str) -> IpAddr {
    text.parse()
        .unwrap_or_else(|_| panic!("invalid IP address literal `{text}`"))
}

fn ipv4(text: &str) -> Ipv4Addr {
    text.parse()
        .unwrap_or_else(|_| panic!("invalid IPv4 address literal `{text}`"))
}

fn ipv6(text: &str) -> Ipv6Addr {
    text.parse()
        .unwrap_or_else(|_| panic!("invalid IPv6 address literal `{text}`"))
}

fn segment_list(segs: &[&str]) -> Vec<Ipv6Addr> {
    segs.iter().map(|s| ipv6(s)).collect()
}

fn join_segs(segs: &[Ipv6Addr]) -> String {
    let parts: Vec<String> = segs.iter().map(Ipv6Addr::to_string).collect();
    parts.join(",")
}

/// One end of a veth pair: the namespace it lives in, its name there, and
/// optional link settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethEnd {
    /// Logical namespace name (as given to [`Topology::ns`]).
    pub ns: String,
    /// Interface name inside that namespace (at most 15 bytes).
    pub ifname: String,
    /// MAC address; the kernel picks a random one when `None`.
    pub mac: Option<Mac>,
    /// MTU; the kernel default (1500) when `None`.
    pub mtu: Option<u32>,
    /// Number of rx and tx queues (`numrxqueues N numtxqueues N`).
    pub queues: Option<u32>,
}

impl VethEnd {
    /// An end named `ifname` in logical namespace `ns`, default settings.
    pub fn new(ns: &str, ifname: &str) -> Self {
        VethEnd {
            ns: ns.to_string(),
            ifname: ifname.to_string(),
            mac: None,
            mtu: None,
            queues: None,
        }
    }

    /// Sets the MAC address.
    pub fn mac(mut self, mac: Mac) -> Self {
        self.mac = Some(mac);
        self
    }

    /// Sets the MTU.
    pub fn mtu(mut self, mtu: u32) -> Self {
        self.mtu = Some(mtu);
        self
    }

    /// Sets the number of rx and tx queues (both to `n`).
    pub fn queues(mut self, n: u32) -> Self {
        self.queues = Some(n);
        self
    }

    /// `name NAME netns REAL [address MAC] [mtu N] [numrxqueues N numtxqueues N]`
    pub(crate) fn link_args(&self, real_ns: &str) -> Vec<String> {
        let mut args = vec![
            "name".into(),
            self.ifname.clone(),
            "netns".into(),
            real_ns.into(),
        ];
        if let Some(mac) = &self.mac {
            args.extend(["address".into(), format_mac(mac)]);
        }
        if let Some(mtu) = self.mtu {
            args.extend(["mtu".into(), mtu.to_string()]);
        }
        if let Some(n) = self.queues {
            let n = n.to_string();
            args.extend(["numrxqueues".into(), n.clone(), "numtxqueues".into(), n]);
        }
        args
    }
}

impl fmt::Display for VethEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ns, self.ifname)
    }
}

/// A plain IPv4 or IPv6 route (`ip route add PREFIX [via] [dev] [table] [metric]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpRoute {
    /// Destination; its family selects `-4` or `-6`.
    pub prefix: Prefix,
    /// Gateway.
    pub via: Option<IpAddr>,
    /// Output interface.
    pub dev: Option<String>,
    /// Routing table id (main when `None`).
    pub table: Option<u32>,
    /// Route metric.
    pub metric: Option<u32>,
}

impl IpRoute {
    /// Sets the gateway.
    ///
    /// # Panics
    /// If `addr` is not an IP address literal.
    pub fn via(mut self, addr: &str) -> Self {
        self.via = Some(ip(addr));
        self
    }

    /// Sets the output interface.
    pub fn dev(mut self, dev: &str) -> Self {
        self.dev = Some(dev.to_string());
        self
    }

    /// Sets the routing table.
    pub fn table(mut self, table: u32) -> Self {
        self.table = Some(table);
        self
    }

    /// Sets the metric.
    pub fn metric(mut self, metric: u32) -> Self {
        self.metric = Some(metric);
        self
    }
}

/// SRv6 encapsulation mode of a `seg6` route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg6Mode {
    /// Outer IPv6 header plus an SRH holding every segment (`encap`).
    Encap,
    /// Reduced encapsulation: the first segment is only in the outer
    /// destination (`encap.red`).
    EncapRed,
    /// SRH inserted into the original IPv6 packet (`inline`, IPv6 only).
    Inline,
}

impl Seg6Mode {
    fn as_str(self) -> &'static str {
        match self {
            Seg6Mode::Encap => "encap",
            Seg6Mode::EncapRed => "encap.red",
            Seg6Mode::Inline => "inline",
        }
    }
}

/// An SRv6 encapsulation route (`encap seg6 mode M segs A,B dev X`) on an
/// IPv4 or IPv6 prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seg6Encap {
    /// Destination that gets encapsulated.
    pub prefix: Prefix,
    /// Encapsulation mode.
    pub mode: Seg6Mode,
    /// Segment list, first segment first (as `ip` takes it).
    pub segs: Vec<Ipv6Addr>,
    /// Interface the route is attached to.
    pub dev: String,
    /// Routing table id.
    pub table: Option<u32>,
    /// Route metric.
    pub metric: Option<u32>,
}

impl Seg6Encap {
    /// Sets the routing table.
    pub fn table(mut self, table: u32) -> Self {
        self.table = Some(table);
        self
    }

    /// Sets the metric.
    pub fn metric(mut self, metric: u32) -> Self {
        self.metric = Some(metric);
        self
    }
}

/// A `seg6local` behaviour with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg6LocalAction {
    /// `End`.
    End,
    /// `End.X nh6 ADDR`.
    EndX {
        /// Next hop.
        nh6: Ipv6Addr,
    },
    /// `End.T table N`.
    EndT {
        /// Lookup table.
        table: u32,
    },
    /// `End.DX6 nh6 ADDR`.
    EndDX6 {
        /// Next hop of the inner packet.
        nh6: Ipv6Addr,
    },
    /// `End.DX4 nh4 ADDR`.
    EndDX4 {
        /// Next hop of the inner packet.
        nh4: Ipv4Addr,
    },
    /// `End.DT6 table N` (legacy mode: no VRF device needed).
    EndDT6 {
        /// Lookup table of the inner packet.
        table: u32,
    },
    /// `End.DT4 vrftable N` (the kernel needs a VRF device: not on the testbed).
    EndDT4 {
        /// VRF table of the inner packet.
        vrftable: u32,
    },
    /// `End.DT46 vrftable N` (needs a VRF device, like End.DT4).
    EndDT46 {
        /// VRF table of the inner packet.
        vrftable: u32,
    },
    /// `End.B6 srh segs A,B`.
    EndB6 {
        /// Segments of the inserted SRH.
        segs: Vec<Ipv6Addr>,
    },
    /// `End.B6.Encaps srh segs A,B`.
    EndB6Encaps {
        /// Segments of the new outer SRH.
        segs: Vec<Ipv6Addr>,
    },
}

impl Seg6LocalAction {
    /// `End.X` with a next-hop literal.
    ///
    /// # Panics
    /// If `nh6` is not an IPv6 literal (so do the other literal helpers).
    pub fn end_x(nh6: &str) -> Self {
        Seg6LocalAction::EndX { nh6: ipv6(nh6) }
    }

    /// `End.DX6` with a next-hop literal.
    pub fn end_dx6(nh6: &str) -> Self {
        Seg6LocalAction::EndDX6 { nh6: ipv6(nh6) }
    }

    /// `End.DX4` with a next-hop literal.
    pub fn end_dx4(nh4: &str) -> Self {
        Seg6LocalAction::EndDX4 { nh4: ipv4(nh4) }
    }

    /// `End.B6.Encaps` with segment literals.
    pub fn end_b6_encaps(segs: &[&str]) -> Self {
        Seg6LocalAction::EndB6Encaps {
            segs: segment_list(segs),
        }
    }

    fn args(&self) -> Vec<String> {
        let (name, params): (&str, Vec<String>) = match self {
            Seg6LocalAction::End => ("End", vec![]),
            Seg6LocalAction::EndX { nh6 } => ("End.X", vec!["nh6".into(), nh6.to_string()]),
            Seg6LocalAction::EndT { table } => ("End.T", vec!["table".into(), table.to_string()]),
            Seg6LocalAction::EndDX6 { nh6 } => ("End.DX6", vec!["nh6".into(), nh6.to_string()]),
            Seg6LocalAction::EndDX4 { nh4 } => ("End.DX4", vec!["nh4".into(), nh4.to_string()]),
            Seg6LocalAction::EndDT6 { table } => {
                ("End.DT6", vec!["table".into(), table.to_string()])
            }
            Seg6LocalAction::EndDT4 { vrftable } => {
                ("End.DT4", vec!["vrftable".into(), vrftable.to_string()])
            }
            Seg6LocalAction::EndDT46 { vrftable } => {
                ("End.DT46", vec!["vrftable".into(), vrftable.to_string()])
            }
            Seg6LocalAction::EndB6 { segs } => {
                ("End.B6", vec!["srh".into(), "segs".into(), join_segs(segs)])
            }
            Seg6LocalAction::EndB6Encaps { segs } => (
                "End.B6.Encaps",
                vec!["srh".into(), "segs".into(), join_segs(segs)],
            ),
        };
        let mut args = vec!["action".to_string(), name.to_string()];
        args.extend(params);
        args
    }
}

/// A local SID (`encap seg6local action ... dev X` on an IPv6 prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seg6Local {
    /// The SID (usually a /128).
    pub sid: Prefix,
    /// Behaviour and parameters.
    pub action: Seg6LocalAction,
    /// Interface the route is attached to (the kernel requires one).
    pub dev: String,
    /// Table holding the SID route (main when `None`).
    pub table: Option<u32>,
}

impl Seg6Local {
    /// Puts the SID route into table `table`.
    pub fn table(mut self, table: u32) -> Self {
        self.table = Some(table);
        self
    }
}

/// A route, rendered to `ip -n NS ...` arguments by [`Route::to_args`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Plain route.
    Ip(IpRoute),
    /// SRv6 encapsulation route.
    Seg6(Seg6Encap),
    /// Local SID.
    Seg6Local(Seg6Local),
    /// Escape hatch: the arguments after `ip -n NS`, run as given
    /// (e.g. `["-6", "rule", "add", ...]`).
    Raw(Vec<String>),
}

impl Route {
    /// A plain route to `prefix`; add `.via()`, `.dev()`, `.table()`, `.metric()`.
    ///
    /// # Panics
    /// If `prefix` is not a prefix literal (`10.0.0.0/24`, `fc00::/64`, `::/0`).
    pub fn to(prefix: &str) -> IpRoute {
        IpRoute {
            prefix: self::prefix(prefix),
            via: None,
            dev: None,
            table: None,
            metric: None,
        }
    }

    /// An SRv6 encapsulation route: `prefix encap seg6 mode MODE segs SEGS dev DEV`.
    ///
    /// # Panics
    /// If `prefix` or a segment is not a valid literal.
    pub fn seg6(prefix: &str, mode: Seg6Mode, segs: &[&str], dev: &str) -> Seg6Encap {
        Seg6Encap {
            prefix: self::prefix(prefix),
            mode,
            segs: segment_list(segs),
            dev: dev.to_string(),
            table: None,
            metric: None,
        }
    }

    /// A local SID: `sid encap seg6local ACTION dev DEV`.
    ///
    /// # Panics
    /// If `sid` is not a prefix literal.
    pub fn seg6local(sid: &str, action: Seg6LocalAction, dev: &str) -> Seg6Local {
        Seg6Local {
            sid: self::prefix(sid),
            action,
            dev: dev.to_string(),
            table: None,
        }
    }

    /// The escape hatch from string slices.
    pub fn raw(args: &[&str]) -> Route {
        Route::Raw(args.iter().map(|s| s.to_string()).collect())
    }

    /// Checks what iproute2 would only reject later with a vaguer message.
    pub(crate) fn check(&self) -> Result<(), String> {
        match self {
            Route::Ip(r) if r.prefix.is_ipv6() && matches!(r.via, Some(IpAddr::V4(_))) => Err(
                format!("route {}: an IPv6 route needs an IPv6 gateway", r.prefix),
            ),
            Route::Seg6(r) if r.segs.is_empty() => {
                Err(format!("seg6 route {}: empty segment list", r.prefix))
            }
            Route::Seg6(r) if r.mode == Seg6Mode::Inline && !r.prefix.is_ipv6() => Err(format!(
                "seg6 route {}: inline mode needs an IPv6 prefix",
                r.prefix
            )),
            Route::Seg6Local(r) if !r.sid.is_ipv6() => {
                Err(format!("seg6local SID {} is not IPv6", r.sid))
            }
            Route::Raw(args) if args.is_empty() => Err("empty raw ip command".into()),
            _ => Ok(()),
        }
    }

    /// The iproute2 arguments that follow `ip -n NS`.
    pub fn to_args(&self) -> Vec<String> {
        fn common(args: &mut Vec<String>, table: Option<u32>, metric: Option<u32>) {
            if let Some(table) = table {
                args.extend(["table".into(), table.to_string()]);
            }
            if let Some(metric) = metric {
                args.extend(["metric".into(), metric.to_string()]);
            }
        }
        match self {
            Route::Ip(r) => {
                let mut args = route_add(&r.prefix);
                if let Some(via) = r.via {
                    // `via inet6 X` lets an IPv4 route use an IPv6 gateway.
                    if via.is_ipv6() && !r.prefix.is_ipv6() {
                        args.extend(["via".into(), "inet6".into(), via.to_string()]);
                    } else {
                        args.extend(["via".into(), via.to_string()]);
                    }
                }
                if let Some(dev) = &r.dev {
                    args.extend(["dev".into(), dev.clone()]);
                }
                common(&mut args, r.table, r.metric);
                args
            }
            Route::Seg6(r) => {
                let mut args = route_add(&r.prefix);
                args.extend([
                    "encap".into(),
                    "seg6".into(),
                    "mode".into(),
                    r.mode.as_str().into(),
                    "segs".into(),
                    join_segs(&r.segs),
                    "dev".into(),
                    r.dev.clone(),
                ]);
                common(&mut args, r.table, r.metric);
                args
            }
            Route::Seg6Local(r) => {
                let mut args = route_add(&r.sid);
                args.extend(["encap".into(), "seg6local".into()]);
                args.extend(r.action.args());
                args.extend(["dev".into(), r.dev.clone()]);
                common(&mut args, r.table, None);
                args
            }
            Route::Raw(args) => args.clone(),
        }
    }
}

fn route_add(prefix: &Prefix) -> Vec<String> {
    vec![
        prefix.family_flag().into(),
        "route".into(),
        "add".into(),
        prefix.to_string(),
    ]
}

impl From<IpRoute> for Route {
    fn from(r: IpRoute) -> Self {
        Route::Ip(r)
    }
}

impl From<Seg6Encap> for Route {
    fn from(r: Seg6Encap) -> Self {
        Route::Seg6(r)
    }
}

impl From<Seg6Local> for Route {
    fn from(r: Seg6Local) -> Self {
        Route::Seg6Local(r)
    }
}

/// An interface address (`ip addr add ADDR/LEN dev IF [nodad]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub(crate) ns: String,
    pub(crate) ifname: String,
    pub(crate) cidr: Prefix,
    pub(crate) nodad: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Neighbour {
    pub(crate) ns: String,
    pub(crate) ifname: String,
    pub(crate) addr: IpAddr,
    pub(crate) mac: Mac,
}

/// A topology to build: namespaces, veth pairs, addresses, sysctls, static
/// neighbours and routes, all named by logical namespace names.
///
/// [`Topology::build`] applies it in this order: sweep leftovers, create the
/// namespaces (with `lo` up, DAD off unless [`Topology::dad`] says otherwise),
/// create the veths, set the sysctls, bring every veth end up, add the
/// addresses, add the neighbours, set the tunnel sources, add the routes in
/// the order given.
#[derive(Debug, Clone)]
pub struct Topology {
    pub(crate) prefix: String,
    pub(crate) namespaces: Vec<String>,
    pub(crate) veths: Vec<(VethEnd, VethEnd)>,
    pub(crate) sysctls: Vec<(String, String, String)>,
    pub(crate) addresses: Vec<Address>,
    pub(crate) neighbours: Vec<Neighbour>,
    pub(crate) tunsrcs: Vec<(String, Ipv6Addr)>,
    pub(crate) routes: Vec<(String, Route)>,
    pub(crate) disable_dad: bool,
    /// (ns, VRF device, table)
    pub(crate) vrfs: Vec<(String, String, u32)>,
    /// (ns, interface, VRF device)
    pub(crate) vrf_members: Vec<(String, String, String)>,
    pub(crate) needs: Vec<(String, KernelFeature)>,
    pub(crate) force_vm: Vec<String>,
}

/// The logical name of the host namespace that joins a lab's VM to its
/// host namespaces (taps and bridges); reserved.
pub(crate) const WIRE_NS: &str = "vmwire";

/// The default prefix of real namespace names.
pub const DEFAULT_PREFIX: &str = "s6lab";

impl Default for Topology {
    fn default() -> Self {
        Self::new()
    }
}

impl Topology {
    /// An empty topology with the default name prefix and DAD disabled.
    pub fn new() -> Self {
        Topology {
            prefix: DEFAULT_PREFIX.to_string(),
            namespaces: Vec::new(),
            veths: Vec::new(),
            sysctls: Vec::new(),
            addresses: Vec::new(),
            neighbours: Vec::new(),
            tunsrcs: Vec::new(),
            routes: Vec::new(),
            disable_dad: true,
            vrfs: Vec::new(),
            vrf_members: Vec::new(),
            needs: Vec::new(),
            force_vm: Vec::new(),
        }
    }

    /// Uses `prefix` (ASCII letters and digits, at most 12) instead of
    /// [`DEFAULT_PREFIX`] for real namespace names; leftovers are swept per
    /// prefix.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_string();
        self
    }

    /// Declares a namespace by its logical name (letters, digits, `_`, `-`;
    /// at most 16 bytes).
    pub fn ns(mut self, name: &str) -> Self {
        self.namespaces.push(name.to_string());
        self
    }

    /// Declares several namespaces.
    pub fn namespaces(mut self, names: &[&str]) -> Self {
        self.namespaces.extend(names.iter().map(|n| n.to_string()));
        self
    }

    /// Adds a veth pair, each end created directly in its namespace.
    pub fn veth(mut self, a: VethEnd, b: VethEnd) -> Self {
        self.veths.push((a, b));
        self
    }

    /// Shorthand for a veth pair with default settings: `("h1", "eth0")`, `("r", "eth0")`.
    pub fn link(self, a: (&str, &str), b: (&str, &str)) -> Self {
        self.veth(VethEnd::new(a.0, a.1), VethEnd::new(b.0, b.1))
    }

    /// Adds `cidr` (e.g. `10.0.0.1/24`, `fc00::1/64`) to `ifname` in `ns`.
    /// IPv6 addresses get `nodad` while DAD is disabled (the default).
    ///
    /// # Panics
    /// If `cidr` is not an address literal with optional length.
    pub fn addr(mut self, ns: &str, ifname: &str, cidr: &str) -> Self {
        self.addresses.push(Address {
            ns: ns.to_string(),
            ifname: ifname.to_string(),
            cidr: prefix(cidr),
            nodad: false,
        });
        self
    }

    /// Like [`Topology::addr`], always with `nodad` (for IPv6).
    pub fn addr_nodad(mut self, ns: &str, ifname: &str, cidr: &str) -> Self {
        self.addresses.push(Address {
            ns: ns.to_string(),
            ifname: ifname.to_string(),
            cidr: prefix(cidr),
            nodad: true,
        });
        self
    }

    /// Sets `key=value` inside `ns` (`ip netns exec NS sysctl -qw`), after the
    /// veths exist and before they come up (so per-interface keys such as
    /// `net.ipv6.conf.eth0.seg6_enabled` work).
    pub fn sysctl(mut self, ns: &str, key: &str, value: &str) -> Self {
        self.sysctls
            .push((ns.to_string(), key.to_string(), value.to_string()));
        self
    }

    /// Turns on IPv4 and IPv6 forwarding in `ns`.
    pub fn forwarding(self, ns: &str) -> Self {
        self.sysctl(ns, "net.ipv4.ip_forward", "1")
            .sysctl(ns, "net.ipv6.conf.all.forwarding", "1")
    }

    /// Adds a permanent neighbour entry (`ip neigh replace ADDR lladdr MAC dev IF nud permanent`).
    ///
    /// # Panics
    /// If `addr` is not an IP literal.
    pub fn neigh(mut self, ns: &str, ifname: &str, addr: &str, mac: Mac) -> Self {
        self.neighbours.push(Neighbour {
            ns: ns.to_string(),
            ifname: ifname.to_string(),
            addr: ip(addr),
            mac,
        });
        self
    }

    /// Sets the SRv6 encapsulation source address of `ns` (`ip sr tunsrc set`).
    ///
    /// # Panics
    /// If `addr` is not an IPv6 literal.
    pub fn tunsrc(mut self, ns: &str, addr: &str) -> Self {
        self.tunsrcs.push((ns.to_string(), ipv6(addr)));
        self
    }

    /// Adds a route in `ns`; routes are added in the order given.
    pub fn route(mut self, ns: &str, route: impl Into<Route>) -> Self {
        self.routes.push((ns.to_string(), route.into()));
        self
    }

    /// Adds a VRF device `name` bound to routing table `table` in `ns`
    /// (`ip link add NAME type vrf table N`, then up with the links). The
    /// namespace needs [`KernelFeature::Vrf`].
    pub fn vrf(mut self, ns: &str, name: &str, table: u32) -> Self {
        self.vrfs.push((ns.to_string(), name.to_string(), table));
        self
    }

    /// Enslaves `ifname` of `ns` to VRF device `vrf` (before any address is
    /// added: enslaving drops IPv6 addresses).
    pub fn vrf_member(mut self, ns: &str, ifname: &str, vrf: &str) -> Self {
        self.vrf_members
            .push((ns.to_string(), ifname.to_string(), vrf.to_string()));
        self
    }

    /// Declares that `ns` needs `feature` of its kernel, for needs the
    /// routes do not show (e.g. a program that adds seg6 routes at run
    /// time). Routes and tunnel sources declare their own.
    pub fn needs(mut self, ns: &str, feature: KernelFeature) -> Self {
        self.needs.push((ns.to_string(), feature));
        self
    }

    /// Places `ns` in the lab's Linux VM even where the host kernel could
    /// host it (for tests of the VM path itself).
    pub fn in_vm(mut self, ns: &str) -> Self {
        self.force_vm.push(ns.to_string());
        self
    }

    /// What `ns` needs of its kernel: declared with [`Topology::needs`], and
    /// implied by its seg6 routes, local SIDs, tunnel source and VRFs.
    pub fn features_of(&self, ns: &str) -> BTreeSet<KernelFeature> {
        let mut set: BTreeSet<KernelFeature> = self
            .needs
            .iter()
            .filter(|(n, _)| n == ns)
            .map(|(_, f)| *f)
            .collect();
        for (n, route) in &self.routes {
            if n != ns {
                continue;
            }
            match route {
                Route::Seg6(_) => {
                    set.insert(KernelFeature::Seg6);
                }
                Route::Seg6Local(r) => {
                    set.insert(KernelFeature::Seg6);
                    if matches!(
                        r.action,
                        Seg6LocalAction::EndDT4 { .. } | Seg6LocalAction::EndDT46 { .. }
                    ) {
                        set.insert(KernelFeature::Vrf);
                    }
                }
                Route::Ip(_) | Route::Raw(_) => {}
            }
        }
        if self.tunsrcs.iter().any(|(n, _)| n == ns) {
            set.insert(KernelFeature::Seg6);
        }
        if self.vrfs.iter().any(|(n, _, _)| n == ns) {
            set.insert(KernelFeature::Vrf);
        }
        set
    }

    /// With `true`, leaves duplicate address detection on (then call
    /// [`crate::Lab::wait_for_dad`] before using IPv6 addresses). Off by default.
    pub fn dad(mut self, enabled: bool) -> Self {
        self.disable_dad = !enabled;
        self
    }

    /// Checks names and references without touching the system.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.prefix.is_empty()
            || self.prefix.len() > 12
            || !self.prefix.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(format!(
                "prefix `{}`: expected 1 to 12 ASCII letters or digits",
                self.prefix
            ));
        }
        for (i, name) in self.namespaces.iter().enumerate() {
            let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
            if name.is_empty() || name.len() > 16 || !name.chars().all(valid_char) {
                return Err(format!(
                    "namespace `{name}`: expected 1 to 16 letters, digits, `_` or `-`"
                ));
            }
            if name == WIRE_NS {
                return Err(format!(
                    "namespace `{WIRE_NS}` is reserved for the lab's links to its VM"
                ));
            }
            if self.namespaces[..i].contains(name) {
                return Err(format!("namespace `{name}` declared twice"));
            }
        }
        let known = |ns: &str, what: &str| -> Result<(), String> {
            if self.namespaces.iter().any(|n| n == ns) {
                Ok(())
            } else {
                Err(format!(
                    "{what} uses namespace `{ns}`, which is not declared (declared: {})",
                    self.namespaces.join(", ")
                ))
            }
        };
        let ifname_ok = |ifname: &str| -> Result<(), String> {
            let bad = |c: char| c == '/' || c == ':' || c.is_whitespace();
            if ifname.is_empty() || ifname.len() > 15 || ifname.chars().any(bad) {
                Err(format!(
                    "interface name `{ifname}`: expected 1 to 15 bytes, no `/`, `:` or spaces"
                ))
            } else {
                Ok(())
            }
        };
        let mut ends: Vec<&VethEnd> = Vec::new();
        for (a, b) in &self.veths {
            for end in [a, b] {
                known(&end.ns, &format!("veth end {end}"))?;
                ifname_ok(&end.ifname)?;
                if ends
                    .iter()
                    .any(|e| e.ns == end.ns && e.ifname == end.ifname)
                {
                    return Err(format!("veth end {end} is declared twice"));
                }
                if end.queues == Some(0) {
                    return Err(format!("veth end {end}: queues must be at least 1"));
                }
                ends.push(end);
            }
        }
        for (ns, key, _) in &self.sysctls {
            known(ns, &format!("sysctl {key}"))?;
        }
        for a in &self.addresses {
            known(&a.ns, &format!("address {}", a.cidr))?;
            ifname_ok(&a.ifname)?;
        }
        for n in &self.neighbours {
            known(&n.ns, &format!("neighbour {}", n.addr))?;
            ifname_ok(&n.ifname)?;
        }
        for (ns, addr) in &self.tunsrcs {
            known(ns, &format!("tunsrc {addr}"))?;
        }
        for (ns, route) in &self.routes {
            known(ns, "a route")?;
            route.check()?;
        }
        for (ns, name, _) in &self.vrfs {
            known(ns, &format!("VRF {name}"))?;
            ifname_ok(name)?;
        }
        for (ns, ifname, vrf) in &self.vrf_members {
            known(ns, &format!("VRF member {ifname}"))?;
            if !self.vrfs.iter().any(|(n, v, _)| n == ns && v == vrf) {
                return Err(format!(
                    "{ns}:{ifname} is enslaved to VRF `{vrf}`, which {ns} does not declare"
                ));
            }
        }
        for (ns, _) in &self.needs {
            known(ns, "a kernel need")?;
        }
        for ns in &self.force_vm {
            known(ns, "in_vm")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(route: impl Into<Route>) -> String {
        route.into().to_args().join(" ")
    }

    #[test]
    fn plain_routes_render() {
        assert_eq!(
            joined(Route::to("10.0.2.0/24").via("10.0.1.2").metric(5)),
            "-4 route add 10.0.2.0/24 via 10.0.1.2 metric 5"
        );
        assert_eq!(
            joined(Route::to("::/0").via("fc00::1").dev("eth0").table(100)),
            "-6 route add ::/0 via fc00::1 dev eth0 table 100"
        );
        assert_eq!(
            joined(Route::to("fc00::1")),
            "-6 route add fc00::1/128",
            "a bare address is a host route"
        );
        assert_eq!(
            joined(Route::to("10.0.0.0/8").via("fe80::1").dev("eth0")),
            "-4 route add 10.0.0.0/8 via inet6 fe80::1 dev eth0"
        );
    }

    #[test]
    fn seg6_routes_render() {
        let segs = ["fc00:b1::1", "fc00:b2::1", "fc00:b3::100"];
        assert_eq!(
            joined(Route::seg6("fc00:2::/64", Seg6Mode::Encap, &segs, "eth1")),
            "-6 route add fc00:2::/64 encap seg6 mode encap \
             segs fc00:b1::1,fc00:b2::1,fc00:b3::100 dev eth1"
        );
        assert_eq!(
            joined(Route::seg6("10.0.2.0/24", Seg6Mode::EncapRed, &segs[..1], "eth1").table(7)),
            "-4 route add 10.0.2.0/24 encap seg6 mode encap.red segs fc00:b1::1 dev eth1 table 7"
        );
        assert_eq!(
            joined(Route::seg6(
                "fc00:2::/64",
                Seg6Mode::Inline,
                &segs[..2],
                "e"
            )),
            "-6 route add fc00:2::/64 encap seg6 mode inline segs fc00:b1::1,fc00:b2::1 dev e"
        );
    }

    #[test]
    fn seg6local_routes_render() {
        let cases: Vec<(Seg6LocalAction, &str)> = vec![
            (Seg6LocalAction::End, "action End"),
            (
                Seg6LocalAction::end_x("fc00:12::2"),
                "action End.X nh6 fc00:12::2",
            ),
            (Seg6LocalAction::EndT { table: 9 }, "action End.T table 9"),
            (
                Seg6LocalAction::EndDT6 { table: MAIN_TABLE },
                "action End.DT6 table 254",
            ),
            (
                Seg6LocalAction::EndDT4 { vrftable: 10 },
                "action End.DT4 vrftable 10",
            ),
            (
                Seg6LocalAction::EndDT46 { vrftable: 10 },
                "action End.DT46 vrftable 10",
            ),
            (
                Seg6LocalAction::end_dx4("10.0.2.2"),
                "action End.DX4 nh4 10.0.2.2",
            ),
            (
                Seg6LocalAction::end_dx6("fc00:2::2"),
                "action End.DX6 nh6 fc00:2::2",
            ),
            (
                Seg6LocalAction::EndB6 {
                    segs: vec!["fc00::9".parse().unwrap()],
                },
                "action End.B6 srh segs fc00::9",
            ),
            (
                Seg6LocalAction::end_b6_encaps(&["fc00::9", "fc00::8"]),
                "action End.B6.Encaps srh segs fc00::9,fc00::8",
            ),
        ];
        for (action, rendered) in cases {
            assert_eq!(
                joined(Route::seg6local("fc00:b2::100/128", action, "eth0")),
                format!("-6 route add fc00:b2::100/128 encap seg6local {rendered} dev eth0")
            );
        }
        assert_eq!(
            joined(Route::seg6local("fc00:b2::1", Seg6LocalAction::End, "lo").table(50)),
            "-6 route add fc00:b2::1/128 encap seg6local action End dev lo table 50"
        );
    }

    #[test]
    fn raw_is_verbatim() {
        assert_eq!(
            joined(Route::raw(&["-6", "rule", "add", "from", "fc00::/16"])),
            "-6 rule add from fc00::/16"
        );
    }

    #[test]
    fn veth_end_args() {
        let end = VethEnd::new("h1", "eth0")
            .mac([2, 0, 0, 0, 0, 0xab])
            .mtu(9000)
            .queues(2);
        assert_eq!(
            end.link_args("s6lab-1-0-h1").join(" "),
            "name eth0 netns s6lab-1-0-h1 address 02:00:00:00:00:ab mtu 9000 numrxqueues 2 numtxqueues 2"
        );
    }

    #[test]
    fn prefixes_and_macs_parse() {
        assert_eq!("10.1.0.0/16".parse::<Prefix>().unwrap().len, 16);
        assert!("10.1.0.0/33".parse::<Prefix>().is_err());
        assert!("fc00::/129".parse::<Prefix>().is_err());
        assert!("nonsense".parse::<Prefix>().is_err());
        assert_eq!(parse_mac("02:AB:00:00:00:01"), Some([2, 0xab, 0, 0, 0, 1]));
        assert_eq!(parse_mac("02:ab:00:00:00"), None);
        assert_eq!(parse_mac("02:ab:00:00:00:01:02"), None);
        assert_eq!(format_mac(&[2, 0xab, 0, 0, 0, 1]), "02:ab:00:00:00:01");
    }

    #[test]
    fn check_catches_spec_mistakes() {
        let undeclared = Topology::new().ns("a").link(("a", "eth0"), ("b", "eth0"));
        assert!(undeclared.check().unwrap_err().contains("`b`"));
        let twice = Topology::new().ns("a").ns("a");
        assert!(twice.check().is_err());
        let long_if = Topology::new()
            .ns("a")
            .ns("b")
            .link(("a", "this-name-is-too-long"), ("b", "eth0"));
        assert!(long_if.check().is_err());
        let bad_prefix = Topology::new().prefix("a-b");
        assert!(bad_prefix.check().is_err());
        let inline_v4 = Topology::new().ns("a").route(
            "a",
            Route::seg6("10.0.0.0/8", Seg6Mode::Inline, &["fc00::1"], "eth0"),
        );
        assert!(inline_v4.check().is_err());
        let ok = Topology::new()
            .namespaces(&["a", "b"])
            .link(("a", "eth0"), ("b", "eth0"))
            .addr("a", "eth0", "10.0.0.1/24")
            .route("a", Route::to("::/0").via("fc00::2"));
        assert_eq!(ok.check(), Ok(()));
    }
}
