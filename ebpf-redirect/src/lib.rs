//! srv6d's XDP redirect program and its loader.
//!
//! The srv6d AF_XDP engine processes only its own packets. This crate holds
//! the small XDP program (`src/xdp_redirect.c`, compiled by `build.rs` with
//! clang and embedded in the library) that sits on every engine port, steers
//! those packets to the AF_XDP socket of their rx queue and passes everything
//! else (ARP, NDP, SSH, the agent's gRPC, routed traffic not for the engine)
//! to the kernel, plus [`RedirectProgram`], which loads it with aya, attaches
//! it to interfaces and fills its maps.
//!
//! What it is not: it does no SRv6 processing, no forwarding and no rewriting;
//! it never drops a frame (every decision is "to the engine" or "to the
//! kernel"); it creates no AF_XDP sockets (the engine does, with
//! `XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD`, and hands their fds to
//! [`RedirectProgram::register_xsk`]); it learns nothing by itself: the
//! engine tells it which ports, SIDs and host addresses exist.
//!
//! # Decisions
//!
//! Per frame, in this order (each counted in [`RedirectStats`]):
//!
//! | frame | decision | counter |
//! | --- | --- | --- |
//! | ingress interface not a port ([`RedirectProgram::set_port`]) | kernel | `pass_not_port` |
//! | shorter than an Ethernet header | kernel | `pass_malformed` |
//! | EtherType not IPv4/IPv6 (ARP, LLDP, VLAN-tagged) | kernel | `pass_not_ip` |
//! | IPv6 or IPv4 header truncated or wrong version / IHL | kernel | `pass_malformed` |
//! | IPv6, ICMPv6 header right after the fixed header, not echo request/reply (NDP, MLD, RS/RA, errors) | kernel | `pass_ndp_icmpv6` |
//! | IPv6 to multicast or link-local | kernel | `pass_link_local_or_multicast` |
//! | IPv6 to a local address or inside a SID prefix (both roles) | engine | `redirect_sid` |
//! | IPv6 to a host address | kernel | `pass_host_addr` |
//! | other IPv6 on a LAN port | engine | `redirect_lan_routed` |
//! | other IPv6 on a WAN port, any IPv4 on a WAN port | kernel | `pass_not_ours` |
//! | IPv4 on a LAN port to multicast, broadcast, class E or 169.254/16 | kernel | `pass_link_local_or_multicast` |
//! | IPv4 on a LAN port to a host address | kernel | `pass_host_addr` |
//! | other IPv4 on a LAN port | engine | `redirect_lan_routed` |
//!
//! "Engine" is `bpf_redirect_map(&xsks, rx_queue_index, XDP_PASS)`: a queue
//! with no registered socket falls back to the kernel, still counted as a
//! redirect. Subnet-directed IPv4 broadcasts are not recognised: add them
//! with [`RedirectProgram::add_host_addr`] if the kernel must see them.
//!
//! # Maps (layouts shared with the C program)
//!
//! | map | type | key | value |
//! | --- | --- | --- | --- |
//! | `xsks` | XSKMAP, 64 | `u32` rx queue | AF_XDP socket fd |
//! | `ports` | HASH, 256 | `u32` ifindex | `{ u32 role (0 WAN, 1 LAN); u32 vrf }` |
//! | `local6` | HASH, 16384 | `[u8; 16]` IPv6 address | `u8` (1) |
//! | `sid_prefixes` | LPM_TRIE, 4096, `BPF_F_NO_PREALLOC` | `{ u32 prefixlen; [u8; 16] }` | `u8` (1) |
//! | `host_addrs4` | HASH, 1024 | `[u8; 4]` IPv4 address (network order) | `u8` (1) |
//! | `host_addrs6` | HASH, 1024 | `[u8; 16]` IPv6 address | `u8` (1) |
//! | `stats` | PERCPU_ARRAY, 9 | `u32` reason, [`RedirectStats`] field order | `u64` |
//!
//! # Namespaces, lifetime, veth
//!
//! [`RedirectProgram::attach`] resolves the interface name in the calling
//! thread's network namespace and attaches there; the program and its maps
//! are process-wide, so one program can serve ports in several namespaces.
//! Attachment goes through a `bpf_link` (kernel 5.9+), so the program leaves
//! every interface when the process dies, and [`Drop`] detaches it too.
//!
//! On veth, AF_XDP works in copy mode. A veth only accepts frames sent to it
//! with `XDP_TX`/`XDP_REDIRECT` (`ndo_xdp_xmit`, e.g. the engine's AF_XDP
//! transmit in driver mode on the other end) when its *peer* has an XDP
//! program attached or GRO enabled; otherwise such frames are silently
//! dropped. Receiving into an XSK (this program's job) does not need that.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use aya::maps::lpm_trie::{Key as LpmKey, LpmTrie};
use aya::maps::{HashMap, Map, MapData, MapError, PerCpuArray, XskMap};
use aya::programs::xdp::XdpLinkId;
use aya::programs::{ProgramError, Xdp, XdpFlags};
use aya::{Ebpf, EbpfError};

/// The compiled XDP object, built by `build.rs` from `src/xdp_redirect.c`.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdp_redirect.o"));

/// Name of the XDP function in the object.
const PROGRAM: &str = "xdp_redirect";

/// Entries of the `xsks` map: rx queues 0..`MAX_QUEUES`.
pub const MAX_QUEUES: u32 = 64;

/// How many lines of the verifier log an [`Error::Load`] quotes.
const VERIFIER_LOG_LINES: usize = 20;

/// Role of a port: decides what happens to unicast traffic that is neither
/// for a local SID nor for the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortRole {
    /// Faces the SRv6 core: only SID traffic goes to the engine.
    Wan,
    /// Faces a site, in one of the engine's VRFs: all routed unicast goes to
    /// the engine.
    Lan,
}

impl PortRole {
    fn to_raw(self) -> u32 {
        match self {
            PortRole::Wan => 0,
            PortRole::Lan => 1,
        }
    }
}

/// How the program ended up attached to an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttachMode {
    /// Native (driver) XDP.
    Driver,
    /// Generic (skb) XDP: the driver has no native XDP. Works, slower.
    Generic,
}

impl fmt::Display for AttachMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttachMode::Driver => "driver",
            AttachMode::Generic => "generic",
        })
    }
}

/// Decision counters, summed over CPUs. Field order is the index order of
/// the `stats` map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedirectStats {
    /// IPv6 to a local address or into a SID prefix: to the engine.
    pub redirect_sid: u64,
    /// Routed unicast on a LAN port: to the engine.
    pub redirect_lan_routed: u64,
    /// Ingress interface is not a configured port.
    pub pass_not_port: u64,
    /// Neither IPv4 nor IPv6 (ARP, LLDP, VLAN-tagged ...).
    pub pass_not_ip: u64,
    /// ICMPv6 other than echo right after the IPv6 header (NDP, MLD, errors).
    pub pass_ndp_icmpv6: u64,
    /// To one of the host's own addresses.
    pub pass_host_addr: u64,
    /// To a link-local, multicast or broadcast address.
    pub pass_link_local_or_multicast: u64,
    /// Unicast on a WAN port that is not for the engine.
    pub pass_not_ours: u64,
    /// Truncated or inconsistent headers.
    pub pass_malformed: u64,
}

/// Number of counters in the `stats` map.
const STAT_COUNT: u32 = 9;

impl RedirectStats {
    fn from_array(c: [u64; STAT_COUNT as usize]) -> RedirectStats {
        RedirectStats {
            redirect_sid: c[0],
            redirect_lan_routed: c[1],
            pass_not_port: c[2],
            pass_not_ip: c[3],
            pass_ndp_icmpv6: c[4],
            pass_host_addr: c[5],
            pass_link_local_or_multicast: c[6],
            pass_not_ours: c[7],
            pass_malformed: c[8],
        }
    }

    /// Every counter as (name, value), in map order.
    pub fn counters(&self) -> [(&'static str, u64); STAT_COUNT as usize] {
        [
            ("redirect_sid", self.redirect_sid),
            ("redirect_lan_routed", self.redirect_lan_routed),
            ("pass_not_port", self.pass_not_port),
            ("pass_not_ip", self.pass_not_ip),
            ("pass_ndp_icmpv6", self.pass_ndp_icmpv6),
            ("pass_host_addr", self.pass_host_addr),
            (
                "pass_link_local_or_multicast",
                self.pass_link_local_or_multicast,
            ),
            ("pass_not_ours", self.pass_not_ours),
            ("pass_malformed", self.pass_malformed),
        ]
    }

    /// Frames sent to the engine.
    pub fn redirected(&self) -> u64 {
        self.redirect_sid + self.redirect_lan_routed
    }

    /// Frames the program saw.
    pub fn total(&self) -> u64 {
        self.counters().iter().map(|(_, v)| v).sum()
    }
}

/// Everything that can go wrong; each message names the operation, its
/// input and the cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Loading the object, creating its maps or verifying the program.
    #[error("load: {0}")]
    Load(String),
    /// Attaching to an interface.
    #[error("attach XDP to {ifname}: {reason}")]
    Attach {
        /// The interface name given.
        ifname: String,
        /// Why it failed.
        reason: String,
    },
    /// Detaching from an interface.
    #[error("detach XDP from {ifname}: {reason}")]
    Detach {
        /// The interface it was attached to.
        ifname: String,
        /// Why it failed.
        reason: String,
    },
    /// Reading or changing a map.
    #[error("{action}: {reason}")]
    Map {
        /// What was being done, e.g. `add fc00::1 to local6`.
        action: String,
        /// Why it failed.
        reason: String,
    },
    /// An argument out of range; nothing was changed.
    #[error("invalid {field} {value}: {expected}")]
    Invalid {
        /// The parameter.
        field: &'static str,
        /// The value given.
        value: String,
        /// What was expected.
        expected: String,
    },
}

/// Value of the `ports` map (`struct port_info` in the C program).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct PortInfo {
    role: u32,
    vrf: u32,
}

// SAFETY: two u32s, `repr(C)`, no padding: every bit pattern is valid.
unsafe impl aya::Pod for PortInfo {}

/// One attachment made by [`RedirectProgram::attach`].
#[derive(Debug)]
struct Attachment {
    ifname: String,
    mode: AttachMode,
    link: XdpLinkId,
}

/// The loaded XDP program, its maps and the interfaces it is attached to.
///
/// Dropping it detaches the program from every interface (errors are
/// logged) and frees the maps once no AF_XDP socket or link holds them.
pub struct RedirectProgram {
    attachments: Vec<Attachment>,
    /// `Map::XskMap`; kept untyped so a slot can also be deleted.
    xsks: Map,
    ports: HashMap<MapData, u32, PortInfo>,
    local6: HashMap<MapData, [u8; 16], u8>,
    sid_prefixes: LpmTrie<MapData, [u8; 16], u8>,
    host_addrs4: HashMap<MapData, [u8; 4], u8>,
    host_addrs6: HashMap<MapData, [u8; 16], u8>,
    stats: PerCpuArray<MapData, u64>,
    /// Owns the program (and with it the links); declared last.
    ebpf: Ebpf,
}

impl fmt::Debug for RedirectProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedirectProgram")
            .field("attachments", &self.attachments)
            .finish_non_exhaustive()
    }
}

impl RedirectProgram {
    /// Loads the embedded object: creates the maps and loads (verifies) the
    /// program. Nothing is attached yet.
    ///
    /// Needs root, or CAP_BPF + CAP_NET_ADMIN (+ CAP_PERFMON).
    pub fn load() -> Result<RedirectProgram, Error> {
        let mut ebpf = Ebpf::load(OBJECT).map_err(|e| Error::Load(explain_load(&e)))?;
        let program: &mut Xdp = ebpf
            .program_mut(PROGRAM)
            .ok_or_else(|| Error::Load(format!("the object has no program `{PROGRAM}`")))?
            .try_into()
            .map_err(|e: ProgramError| Error::Load(format!("`{PROGRAM}`: {e}")))?;
        program
            .load()
            .map_err(|e| Error::Load(explain_program_load(&e)))?;

        let xsks = take_map(&mut ebpf, "xsks")?;
        if let Err(e) = XskMap::<&MapData>::try_from(&xsks) {
            return Err(Error::Load(format!("map `xsks`: {e}")));
        }
        Ok(RedirectProgram {
            attachments: Vec::new(),
            xsks,
            ports: typed_map(&mut ebpf, "ports")?,
            local6: typed_map(&mut ebpf, "local6")?,
            sid_prefixes: typed_map(&mut ebpf, "sid_prefixes")?,
            host_addrs4: typed_map(&mut ebpf, "host_addrs4")?,
            host_addrs6: typed_map(&mut ebpf, "host_addrs6")?,
            stats: typed_map(&mut ebpf, "stats")?,
            ebpf,
        })
    }

    /// Attaches to the interface (in the calling thread's network
    /// namespace), driver mode first, generic mode as fallback (logged with
    /// a warning); through a bpf_link where the kernel supports it so the
    /// program goes away when the process dies.
    ///
    /// Falls back to generic mode only when driver mode failed for a reason
    /// other than permissions, a missing interface or an XDP program that
    /// is already attached.
    pub fn attach(&mut self, ifname: &str) -> Result<AttachMode, Error> {
        let attach_err = |reason: String| Error::Attach {
            ifname: ifname.to_string(),
            reason,
        };
        let ifindex = if_index(ifname).map_err(|e| attach_err(explain_errno(&e, Op::Attach)))?;
        let program = self.program().map_err(attach_err)?;

        let (link, mode) = match program.attach_to_if_index(ifindex, XdpFlags::DRV_MODE) {
            Ok(link) => (link, AttachMode::Driver),
            Err(driver) => {
                let driver_io = program_io_error(&driver);
                if driver_io.is_some_and(|e| !generic_may_help(e)) {
                    return Err(attach_err(explain_program(&driver, Op::Attach)));
                }
                match program.attach_to_if_index(ifindex, XdpFlags::SKB_MODE) {
                    Ok(link) => {
                        log::warn!(
                            "attach XDP to {ifname}: driver mode failed ({}); \
                             attached in generic (skb) mode, which is slower",
                            explain_program(&driver, Op::Attach)
                        );
                        (link, AttachMode::Generic)
                    }
                    Err(generic) => {
                        return Err(attach_err(format!(
                            "driver mode: {}; generic mode: {}",
                            explain_program(&driver, Op::Attach),
                            explain_program(&generic, Op::Attach)
                        )))
                    }
                }
            }
        };
        self.attachments.push(Attachment {
            ifname: ifname.to_string(),
            mode,
            link,
        });
        Ok(mode)
    }

    /// The interfaces the program is attached to, with their mode, in
    /// attach order.
    pub fn attachments(&self) -> impl Iterator<Item = (&str, AttachMode)> {
        self.attachments.iter().map(|a| (a.ifname.as_str(), a.mode))
    }

    /// Detaches the program from every interface it was attached to. Tries
    /// all of them and reports the first failure.
    pub fn detach_all(&mut self) -> Result<(), Error> {
        let attachments = std::mem::take(&mut self.attachments);
        let program = self.program().map_err(|reason| Error::Detach {
            ifname: "all interfaces".to_string(),
            reason,
        })?;
        let mut first_err = None;
        for a in attachments {
            if let Err(e) = program.detach(a.link) {
                first_err.get_or_insert(Error::Detach {
                    ifname: a.ifname,
                    reason: explain_program(&e, Op::Attach),
                });
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Declares `ifindex` a port with `role`; a LAN port belongs to the
    /// engine's VRF `vrf` (the program does not use `vrf` yet). Replaces an
    /// earlier entry for the same ifindex.
    pub fn set_port(&mut self, ifindex: u32, role: PortRole, vrf: u32) -> Result<(), Error> {
        check_ifindex(ifindex)?;
        let value = PortInfo {
            role: role.to_raw(),
            vrf,
        };
        self.ports
            .insert(ifindex, value, 0)
            .map_err(|e| map_err(format!("set port {ifindex} ({role:?}) in ports"), &e))
    }

    /// Forgets port `ifindex` (frames on it then go to the kernel). Removing
    /// an absent entry is not an error, as for every `remove_*`.
    pub fn remove_port(&mut self, ifindex: u32) -> Result<(), Error> {
        let r = self.ports.remove(&ifindex);
        removed(r, || format!("remove port {ifindex} from ports"))
    }

    /// Forgets every port.
    pub fn clear_ports(&mut self) -> Result<(), Error> {
        clear_hash(&mut self.ports, "ports")
    }

    /// Adds an address the engine owns (a local SID, a STAMP reflector
    /// address ...): frames to it go to the engine on every port.
    pub fn add_local_v6(&mut self, addr: Ipv6Addr) -> Result<(), Error> {
        self.local6
            .insert(addr.octets(), 1, 0)
            .map_err(|e| map_err(format!("add {addr} to local6"), &e))
    }

    /// Removes an address added with [`RedirectProgram::add_local_v6`].
    pub fn remove_local_v6(&mut self, addr: Ipv6Addr) -> Result<(), Error> {
        let r = self.local6.remove(&addr.octets());
        removed(r, || format!("remove {addr} from local6"))
    }

    /// Removes every engine-owned address.
    pub fn clear_local_v6(&mut self) -> Result<(), Error> {
        clear_hash(&mut self.local6, "local6")
    }

    /// Adds a SID prefix (locator) the engine owns: frames to any address
    /// inside it go to the engine on every port. Bits of `prefix` beyond
    /// `len` are ignored.
    pub fn add_sid_prefix(&mut self, prefix: Ipv6Addr, len: u8) -> Result<(), Error> {
        let key = sid_key(prefix, len)?;
        let net = Ipv6Addr::from(key.data());
        self.sid_prefixes
            .insert(&key, 1, 0)
            .map_err(|e| map_err(format!("add {net}/{len} to sid_prefixes"), &e))
    }

    /// Removes a prefix added with [`RedirectProgram::add_sid_prefix`].
    pub fn remove_sid_prefix(&mut self, prefix: Ipv6Addr, len: u8) -> Result<(), Error> {
        let key = sid_key(prefix, len)?;
        let net = Ipv6Addr::from(key.data());
        let r = self.sid_prefixes.remove(&key);
        removed(r, || format!("remove {net}/{len} from sid_prefixes"))
    }

    /// Removes every SID prefix.
    pub fn clear_sid_prefixes(&mut self) -> Result<(), Error> {
        let keys = self
            .sid_prefixes
            .keys()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| map_err("list sid_prefixes".to_string(), &e))?;
        for key in keys {
            let r = self.sid_prefixes.remove(&key);
            removed(r, || {
                let net = Ipv6Addr::from(key.data());
                format!("remove {net}/{} from sid_prefixes", key.prefix_len())
            })?;
        }
        Ok(())
    }

    /// Adds one of the kernel host's own addresses on a port (SSH, the gRPC
    /// agent ...): frames to it always go to the kernel, unless it is also a
    /// local address or inside a SID prefix.
    pub fn add_host_addr(&mut self, addr: IpAddr) -> Result<(), Error> {
        let action = || format!("add {addr} to {}", host_map_name(addr));
        match addr {
            IpAddr::V4(a) => self.host_addrs4.insert(a.octets(), 1, 0),
            IpAddr::V6(a) => self.host_addrs6.insert(a.octets(), 1, 0),
        }
        .map_err(|e| map_err(action(), &e))
    }

    /// Removes an address added with [`RedirectProgram::add_host_addr`].
    pub fn remove_host_addr(&mut self, addr: IpAddr) -> Result<(), Error> {
        let r = match addr {
            IpAddr::V4(a) => self.host_addrs4.remove(&a.octets()),
            IpAddr::V6(a) => self.host_addrs6.remove(&a.octets()),
        };
        removed(r, || format!("remove {addr} from {}", host_map_name(addr)))
    }

    /// Removes every host address, IPv4 and IPv6.
    pub fn clear_host_addrs(&mut self) -> Result<(), Error> {
        clear_hash(&mut self.host_addrs4, "host_addrs4")?;
        clear_hash(&mut self.host_addrs6, "host_addrs6")
    }

    /// Puts the AF_XDP socket `fd`, bound to rx queue `queue` of the
    /// attached interface(s), into the `xsks` map: frames the program
    /// redirects on that queue go to it. The map holds its own reference to
    /// the socket until the slot is replaced or removed.
    pub fn register_xsk(&mut self, queue: u32, fd: RawFd) -> Result<(), Error> {
        check_queue(queue)?;
        let mut map = XskMap::<&mut MapData>::try_from(&mut self.xsks)
            .map_err(|e| map_err("open xsks".to_string(), &e))?;
        map.set(queue, fd, 0).map_err(|e| {
            map_err(
                format!("register AF_XDP socket fd {fd} for queue {queue} in xsks"),
                &e,
            )
        })
    }

    /// Empties slot `queue` of the `xsks` map: frames on that queue go to
    /// the kernel again.
    pub fn remove_xsk(&mut self, queue: u32) -> Result<(), Error> {
        check_queue(queue)?;
        match delete_xsk_slot(self.xsks_fd()?, queue) {
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) => Err(Error::Map {
                action: format!("remove queue {queue} from xsks"),
                reason: explain_errno(&e, Op::Map),
            }),
            _ => Ok(()),
        }
    }

    /// Empties every slot of the `xsks` map.
    pub fn clear_xsks(&mut self) -> Result<(), Error> {
        (0..MAX_QUEUES).try_for_each(|queue| self.remove_xsk(queue))
    }

    /// The decision counters, summed over all CPUs.
    pub fn stats(&self) -> Result<RedirectStats, Error> {
        let mut sums = [0u64; STAT_COUNT as usize];
        for (index, sum) in (0..STAT_COUNT).zip(sums.iter_mut()) {
            let values = self
                .stats
                .get(&index, 0)
                .map_err(|e| map_err(format!("read stats[{index}]"), &e))?;
            *sum = values.iter().copied().fold(0u64, u64::wrapping_add);
        }
        Ok(RedirectStats::from_array(sums))
    }

    fn program(&mut self) -> Result<&mut Xdp, String> {
        let program = self
            .ebpf
            .program_mut(PROGRAM)
            .ok_or_else(|| format!("program `{PROGRAM}` is gone"))?;
        program.try_into().map_err(|e: ProgramError| e.to_string())
    }

    fn xsks_fd(&self) -> Result<BorrowedFd<'_>, Error> {
        match &self.xsks {
            Map::XskMap(data) => Ok(data.fd().as_fd()),
            _ => Err(Error::Map {
                action: "open xsks".to_string(),
                reason: "not an XSKMAP".to_string(),
            }),
        }
    }
}

impl Drop for RedirectProgram {
    fn drop(&mut self) {
        if let Err(e) = self.detach_all() {
            log::warn!("{e}");
        }
    }
}

fn take_map(ebpf: &mut Ebpf, name: &str) -> Result<Map, Error> {
    ebpf.take_map(name)
        .ok_or_else(|| Error::Load(format!("the object has no map `{name}`")))
}

fn typed_map<M>(ebpf: &mut Ebpf, name: &str) -> Result<M, Error>
where
    M: TryFrom<Map, Error = MapError>,
{
    M::try_from(take_map(ebpf, name)?)
        .map_err(|e| Error::Load(format!("map `{name}` does not match the loader: {e}")))
}

fn host_map_name(addr: IpAddr) -> &'static str {
    match addr {
        IpAddr::V4(_) => "host_addrs4",
        IpAddr::V6(_) => "host_addrs6",
    }
}

fn check_ifindex(ifindex: u32) -> Result<(), Error> {
    if ifindex == 0 {
        return Err(Error::Invalid {
            field: "ifindex",
            value: ifindex.to_string(),
            expected: "an interface index (1 or more)".to_string(),
        });
    }
    Ok(())
}

fn check_queue(queue: u32) -> Result<(), Error> {
    if queue >= MAX_QUEUES {
        return Err(Error::Invalid {
            field: "queue",
            value: queue.to_string(),
            expected: format!("an rx queue index below {MAX_QUEUES} (the size of xsks)"),
        });
    }
    Ok(())
}

/// The LPM key of `prefix/len`, host bits cleared.
fn sid_key(prefix: Ipv6Addr, len: u8) -> Result<LpmKey<[u8; 16]>, Error> {
    if len > 128 {
        return Err(Error::Invalid {
            field: "SID prefix length",
            value: format!("{prefix}/{len}"),
            expected: "a length of 0 to 128".to_string(),
        });
    }
    let bits = u128::from(prefix);
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    Ok(LpmKey::new(u32::from(len), (bits & mask).to_be_bytes()))
}

/// Removes every key of a hash map.
fn clear_hash<K: aya::Pod + fmt::Debug, V: aya::Pod>(
    map: &mut HashMap<MapData, K, V>,
    name: &str,
) -> Result<(), Error> {
    let keys = map
        .keys()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| map_err(format!("list {name}"), &e))?;
    for key in keys {
        let r = map.remove(&key);
        removed(r, || format!("remove {key:?} from {name}"))?;
    }
    Ok(())
}

/// Turns the result of a map delete into ours: an absent key is fine.
fn removed(r: Result<(), MapError>, action: impl FnOnce() -> String) -> Result<(), Error> {
    match r {
        Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(MapError::KeyNotFound) => Ok(()),
        Err(e) => Err(map_err(action(), &e)),
        Ok(()) => Ok(()),
    }
}

fn map_err(action: String, e: &MapError) -> Error {
    let reason = match e {
        MapError::SyscallError(s) => explain_errno(&s.io_error, Op::Map),
        MapError::OutOfBounds { index, max_entries } => {
            format!("index {index} is beyond the map's {max_entries} entries")
        }
        other => chain(other),
    };
    Error::Map { action, reason }
}

/// `BPF_MAP_DELETE_ELEM` on slot `queue` of an XSKMAP (aya 0.13's `XskMap`
/// cannot delete).
fn delete_xsk_slot(map: BorrowedFd<'_>, queue: u32) -> io::Result<()> {
    /// The `BPF_MAP_*_ELEM` member of `union bpf_attr`.
    #[repr(C)]
    struct MapElemAttr {
        map_fd: u32,
        _pad: u32,
        key: u64,
        value: u64,
        flags: u64,
    }
    const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
    let attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        _pad: 0,
        key: &queue as *const u32 as u64,
        value: 0,
        flags: 0,
    };
    // SAFETY: `attr` is a valid bpf_attr prefix for BPF_MAP_DELETE_ELEM, its
    // size is passed, and `key` points at `queue`, alive for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_DELETE_ELEM,
            &attr as *const MapElemAttr,
            std::mem::size_of::<MapElemAttr>(),
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The index of `ifname` in the calling thread's network namespace.
fn if_index(ifname: &str) -> io::Result<u32> {
    let name = std::ffi::CString::new(ifname)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: `name` is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        let e = io::Error::last_os_error();
        // if_nametoindex reports a missing interface as ENODEV.
        return Err(match e.raw_os_error() {
            Some(0) | None => io::Error::from_raw_os_error(libc::ENODEV),
            _ => e,
        });
    }
    Ok(index)
}

/// What the error is about, for [`explain_errno`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Load,
    Attach,
    Map,
}

/// A message for an errno, with the likely cause where one is known.
fn explain_errno(e: &io::Error, op: Op) -> String {
    let cause = match (e.raw_os_error(), op) {
        (Some(libc::EPERM | libc::EACCES), _) => {
            "permission denied: needs root, or CAP_BPF and CAP_NET_ADMIN (and CAP_PERFMON)"
        }
        (Some(libc::ENOSYS), _) => "the kernel has no bpf() system call (CONFIG_BPF_SYSCALL off)",
        (Some(libc::ENODEV | libc::ENXIO), Op::Attach) => "interface not found",
        (Some(libc::EOPNOTSUPP), Op::Attach) => "the interface does not support XDP in this mode",
        (Some(libc::EOPNOTSUPP | libc::EINVAL), Op::Load) => {
            "the kernel does not support this BPF program or map type (no XDP/AF_XDP support?)"
        }
        (Some(libc::EEXIST | libc::EBUSY), Op::Attach) => {
            "another XDP program is already attached to it"
        }
        (Some(libc::E2BIG), Op::Map) => "the map is full",
        (Some(libc::ENOENT), Op::Map) => "no such entry",
        (Some(libc::ENOMEM), _) => "out of memory (or locked-memory limit too low)",
        _ => return e.to_string(),
    };
    format!("{cause} ({e})")
}

/// The io::Error inside a program error, if there is one.
fn program_io_error(e: &ProgramError) -> Option<&io::Error> {
    match e {
        ProgramError::SyscallError(s) => Some(&s.io_error),
        ProgramError::LoadError { io_error, .. } => Some(io_error),
        ProgramError::IOError(e) => Some(e),
        ProgramError::XdpError(aya::programs::xdp::XdpError::NetlinkError { io_error }) => {
            Some(io_error)
        }
        _ => None,
    }
}

/// Whether generic mode is worth trying after driver mode failed with `e`.
fn generic_may_help(e: &io::Error) -> bool {
    !matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::EACCES | libc::ENODEV | libc::ENXIO | libc::EEXIST | libc::EBUSY)
    )
}

fn explain_program(e: &ProgramError, op: Op) -> String {
    match program_io_error(e) {
        Some(io) => explain_errno(io, op),
        None => chain(e),
    }
}

/// The message of an error that failed BPF_PROG_LOAD, with the tail of the
/// verifier log.
fn explain_program_load(e: &ProgramError) -> String {
    match e {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let log = verifier_excerpt(&verifier_log.to_string());
            if log.is_empty() {
                // No verifier output: refused before verification (privileges,
                // no BPF/XDP support).
                format!(
                    "the kernel refused the program: {}",
                    explain_errno(io_error, Op::Load)
                )
            } else {
                // The verifier ran and said no (EACCES here is the verifier's,
                // not a permission problem).
                format!(
                    "the kernel refused the program ({io_error}); verifier log (last lines):\n{log}"
                )
            }
        }
        other => explain_program(other, Op::Load),
    }
}

fn explain_load(e: &EbpfError) -> String {
    match e {
        EbpfError::MapError(MapError::CreateError { name, io_error, .. }) => {
            format!("create map `{name}`: {}", explain_errno(io_error, Op::Load))
        }
        EbpfError::ProgramError(p) => explain_program_load(p),
        EbpfError::BtfError(aya::BtfError::LoadError {
            io_error,
            verifier_log,
        }) => format!(
            "the kernel refused the object's BTF: {}: {}",
            explain_errno(io_error, Op::Load),
            verifier_excerpt(&verifier_log.to_string())
        ),
        other => chain(other),
    }
}

/// The last non-empty lines of a verifier log.
fn verifier_excerpt(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(VERIFIER_LOG_LINES);
    lines[start..].join("\n")
}

/// An error and all its sources, joined with ": ".
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut seen: HashSet<String> = HashSet::from([text.clone()]);
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if seen.insert(part.clone()) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_key_clears_host_bits() {
        let key = sid_key("fc00:1:2:3::ff".parse().unwrap(), 48).unwrap();
        assert_eq!(key.prefix_len(), 48);
        assert_eq!(
            Ipv6Addr::from(key.data()),
            "fc00:1:2::".parse::<Ipv6Addr>().unwrap()
        );
        let all = sid_key("fc00::1".parse().unwrap(), 128).unwrap();
        assert_eq!(
            Ipv6Addr::from(all.data()),
            "fc00::1".parse::<Ipv6Addr>().unwrap()
        );
        let none = sid_key("fc00::1".parse().unwrap(), 0).unwrap();
        assert_eq!(Ipv6Addr::from(none.data()), Ipv6Addr::UNSPECIFIED);
    }

    #[test]
    fn sid_key_rejects_long_prefix() {
        let Err(err) = sid_key("fc00::".parse().unwrap(), 129) else {
            panic!("accepted /129");
        };
        assert_eq!(
            err.to_string(),
            "invalid SID prefix length fc00::/129: a length of 0 to 128"
        );
    }

    #[test]
    fn queue_and_ifindex_are_checked() {
        assert!(check_queue(63).is_ok());
        let err = check_queue(64).unwrap_err().to_string();
        assert!(
            err.contains("queue 64") && err.contains("below 64"),
            "{err}"
        );
        assert!(check_ifindex(0).is_err());
        assert!(check_ifindex(1).is_ok());
    }

    #[test]
    fn errno_explanations_name_the_cause() {
        let eperm = io::Error::from_raw_os_error(libc::EPERM);
        assert!(explain_errno(&eperm, Op::Load).contains("needs root"));
        let enodev = io::Error::from_raw_os_error(libc::ENODEV);
        assert!(explain_errno(&enodev, Op::Attach).starts_with("interface not found"));
        let notsup = io::Error::from_raw_os_error(libc::EOPNOTSUPP);
        assert!(explain_errno(&notsup, Op::Attach).contains("does not support XDP"));
        assert!(generic_may_help(&notsup));
        assert!(!generic_may_help(&eperm));
        assert!(!generic_may_help(&io::Error::from_raw_os_error(
            libc::EBUSY
        )));
    }

    #[test]
    fn missing_interface_is_enodev() {
        let e = if_index("srv6d-no-such-if").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENODEV));
    }

    #[test]
    fn verifier_excerpt_keeps_the_tail() {
        let log: String = (0..50).map(|i| format!("line {i}\n\n")).collect();
        let tail = verifier_excerpt(&log);
        assert_eq!(tail.lines().count(), VERIFIER_LOG_LINES);
        assert!(tail.ends_with("line 49"));
    }

    #[test]
    fn stats_fields_follow_map_order() {
        let s = RedirectStats::from_array([1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let names: Vec<_> = s
            .counters()
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        assert_eq!(names[0], "redirect_sid=1");
        assert_eq!(names[8], "pass_malformed=9");
        assert_eq!(s.total(), 45);
        assert_eq!(s.redirected(), 3);
    }

    #[test]
    fn object_is_embedded() {
        assert_eq!(&OBJECT[..4], b"\x7fELF");
    }

    #[test]
    fn ports_value_matches_c_layout() {
        assert_eq!(std::mem::size_of::<PortInfo>(), 8);
        assert_eq!(PortRole::Wan.to_raw(), 0);
        assert_eq!(PortRole::Lan.to_raw(), 1);
    }
}
