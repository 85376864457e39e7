//! The Session-Reflector on a kernel UDP socket.

use std::net::{IpAddr, Ipv6Addr, SocketAddrV6};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use stamp::reflector::{reflect, Discard, Received, ReflectorConfig, ReflectorState};

use super::sys::{realtime_ns, segment_routing_header, Udp6};
use super::{StampSocketError, STAMP_PORT};

/// How often the reflector looks at its stop flag.
const RECV_POLL: Duration = Duration::from_millis(100);

/// What [`run_reflector`] does.
#[derive(Debug, Clone)]
pub struct ReflectorOptions {
    /// Address to bind (`::`: every address of the namespace).
    pub bind: Ipv6Addr,
    /// UDP port (862).
    pub port: u16,
    /// Sessions, stateless or stateful, unknown SSIDs, rate limit.
    pub config: ReflectorConfig,
    /// Per configured session (SSID), the complete return path of its
    /// replies (the srv6pm contract): the reply goes to the first SID and
    /// its SRH ends at the last one, which is the sender's address; nothing
    /// is appended. Sessions not listed here are answered as
    /// [`ReflectorConfig`] says (plain IPv6/UDP straight to the source, RFC
    /// 8762, unless a session's return segments say otherwise).
    pub return_paths: Vec<(u16, Vec<Ipv6Addr>)>,
}

impl Default for ReflectorOptions {
    fn default() -> Self {
        ReflectorOptions {
            bind: Ipv6Addr::UNSPECIFIED,
            port: STAMP_PORT,
            config: ReflectorConfig::default(),
            return_paths: Vec::new(),
        }
    }
}

/// The reflector's counters, readable while it runs.
///
/// Every datagram received is counted in `received`, then in exactly one
/// of `reflected` (a reply was sent), `send_failed` (a reply was built but
/// the kernel refused it) or `discarded[reason.index()]` (no reply, for
/// [`Discard`] `reason`).
#[derive(Debug, Default)]
pub struct ReflectorCounters {
    /// Datagrams received on the socket.
    pub received: AtomicU64,
    /// Replies sent.
    pub reflected: AtomicU64,
    /// Replies the kernel refused to send.
    pub send_failed: AtomicU64,
    /// Test packets not answered, indexed by [`Discard::index`].
    pub discarded: [AtomicU64; Discard::COUNT],
}

impl ReflectorCounters {
    /// All zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Test packets discarded for `reason`.
    pub fn discarded(&self, reason: Discard) -> u64 {
        self.discarded[reason.index()].load(Ordering::Relaxed)
    }

    /// `received=N reflected=N send_failed=N discarded: NAME=N...` (only
    /// the non-zero discard reasons; `none` if there are none).
    pub fn line(&self) -> String {
        let discards: Vec<String> = Discard::ALL
            .iter()
            .filter(|d| self.discarded(**d) > 0)
            .map(|d| format!("{}={}", d.name(), self.discarded(*d)))
            .collect();
        format!(
            "received={} reflected={} send_failed={} discarded: {}",
            self.received.load(Ordering::Relaxed),
            self.reflected.load(Ordering::Relaxed),
            self.send_failed.load(Ordering::Relaxed),
            if discards.is_empty() {
                "none".to_string()
            } else {
                discards.join(" ")
            }
        )
    }
}

/// Runs the reflector until `stop` (checked at least every 100 ms).
///
/// Each test packet is reflected in place by [`stamp::reflector::reflect`]:
/// T2 is the kernel's receive timestamp (SO_TIMESTAMPNS), Sender TTL the
/// received Hop Limit (IPV6_HOPLIMIT), the Class of Service duties see the
/// received Traffic Class (IPV6_TCLASS). The reply goes to the sender's
/// address and port, from the address the test packet was sent to
/// (IPV6_PKTINFO), with the reply Traffic Class; when the return path lists
/// SIDs, through them (an SRH attached with IPV6_RTHDR for that reply).
pub fn run_reflector(
    opts: &ReflectorOptions,
    stop: &AtomicBool,
    counters: &ReflectorCounters,
) -> Result<(), StampSocketError> {
    if opts.port == 0 {
        return Err(StampSocketError::Option {
            option: "port",
            reason: "0: expected a UDP port 1-65535".into(),
        });
    }
    let sock = Udp6::bind(SocketAddrV6::new(opts.bind, opts.port, 0, 0)).map_err(|e| {
        StampSocketError::Bind {
            addr: opts.bind,
            port: opts.port,
            source: e,
        }
    })?;
    let set_err = |option: &'static str| {
        move |source| StampSocketError::SetOption {
            option,
            addr: opts.bind,
            port: opts.port,
            source,
        }
    };
    sock.set_int(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
        .map_err(set_err("SO_TIMESTAMPNS"))?;
    sock.set_int(libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)
        .map_err(set_err("IPV6_RECVHOPLIMIT"))?;
    sock.set_int(libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS, 1)
        .map_err(set_err("IPV6_RECVTCLASS"))?;
    sock.set_int(libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
        .map_err(set_err("IPV6_RECVPKTINFO"))?;
    // The SRH a test packet arrived with: a reply is never larger than its
    // request unless authenticated (docs/decisions/0011).
    sock.set_int(libc::IPPROTO_IPV6, libc::IPV6_RECVRTHDR, 1)
        .map_err(set_err("IPV6_RECVRTHDR"))?;
    // The same for IPv4 test packets (RFC 8762 runs over both).
    if opts.bind.is_unspecified() || opts.bind.to_ipv4_mapped().is_some() {
        sock.set_int(libc::IPPROTO_IP, libc::IP_RECVTTL, 1)
            .map_err(set_err("IP_RECVTTL"))?;
        sock.set_int(libc::IPPROTO_IP, libc::IP_RECVTOS, 1)
            .map_err(set_err("IP_RECVTOS"))?;
        sock.set_int(libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
            .map_err(set_err("IP_PKTINFO"))?;
    }
    sock.set_read_timeout(RECV_POLL)
        .map_err(set_err("SO_RCVTIMEO"))?;

    // SAFETY: if_nametoindex reads a NUL-terminated name; 0 if absent.
    let loopback_ifindex = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
    let mut state = ReflectorState::new();
    let mut buf = vec![0u8; 9000];
    // The SRH currently attached to the socket: (sender, return path).
    let mut attached: Option<(Ipv6Addr, Vec<Ipv6Addr>)> = None;
    while !stop.load(Ordering::Relaxed) {
        let meta = match sock.recv(&mut buf) {
            Ok(Some(m)) => m,
            Ok(None) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => continue,
            Err(source) => {
                return Err(StampSocketError::Receive {
                    addr: opts.bind,
                    port: opts.port,
                    source,
                })
            }
        };
        counters.received.fetch_add(1, Ordering::Relaxed);
        // A loopback source only from the loopback interface: the kernel
        // drops it elsewhere unless told not to (route_localnet), and then
        // the reply would go to this host's own services.
        let loopback_src = meta.src.ip().is_loopback()
            || meta
                .src
                .ip()
                .to_ipv4_mapped()
                .is_some_and(|a| a.is_loopback());
        if loopback_src && meta.ifindex != loopback_ifindex {
            counters.discarded[Discard::BadSource.index()].fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if meta.truncated || meta.control_truncated {
            counters.discarded[Discard::Truncated.index()].fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let dst = meta.dst.unwrap_or(opts.bind);
        // IPv4 peers are IPv4-mapped on this dual-stack socket: the STAMP
        // logic sees them as IPv4 (Location sub-TLVs, Destination Node
        // Address).
        let unmap = |a: Ipv6Addr| a.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(a));
        let rx = Received {
            src: unmap(*meta.src.ip()),
            dst: unmap(dst),
            src_port: meta.src.port(),
            dst_port: opts.port,
            ttl: meta.hop_limit.unwrap_or(0),
            traffic_class: meta.traffic_class.unwrap_or(0),
            t2_ns: meta.timestamp_ns.unwrap_or_else(realtime_ns),
        };
        // RFC 8762 §4.6: a test packet shorter than the STAMP base packet
        // (a TWAMP-light sender's 14 octets and up) is answered with the
        // base packet, its missing octets read as zero.
        let reply_len = stamp::packet::reflector_reply_len(meta.len).unwrap_or(meta.len);
        buf[meta.len..reply_len].fill(0);
        let payload = &mut buf[..reply_len];
        let reflected = match reflect(&opts.config, &mut state, payload, &rx, realtime_ns) {
            Ok(r) => r,
            Err(reason) => {
                counters.discarded[reason.index()].fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let path = reflected.return_path.segments();
        // A configured complete return path (known session, no honoured
        // Return Path TLV): the SRH's final segment is its last SID.
        let complete = opts
            .return_paths
            .iter()
            .find(|(ssid, p)| reflected.known_session && *ssid == reflected.ssid && !p.is_empty())
            .filter(|_| path.is_empty())
            .map(|(_, p)| p.as_slice());
        // No SRH over IPv4: an IPv4 sender is answered directly.
        let complete = complete.filter(|_| meta.src.ip().to_ipv4_mapped().is_none());
        let path = if meta.src.ip().to_ipv4_mapped().is_some() {
            &[][..]
        } else {
            path
        };
        let (wanted, to) = match complete {
            Some(p) => {
                let last = p[p.len() - 1];
                (
                    Some((last, p[..p.len() - 1].to_vec())),
                    SocketAddrV6::new(last, meta.src.port(), 0, 0),
                )
            }
            None => (
                (!path.is_empty()).then(|| (*meta.src.ip(), path.to_vec())),
                meta.src,
            ),
        };
        // No reply larger than its request, headers included, unless the
        // session is authenticated (docs/decisions/0011). Only the return
        // path's SRH can make it larger than the request as received (its
        // own SRH included): the payload is the request's, grown to the base
        // packet for a TWAMP-light sender (RFC 8762 §4.6).
        // An authenticated session may get more only when its replies go
        // to a configured address (the --session path's last SID), as in
        // the engine (`Reflected::may_exceed_request`).
        let may_exceed = reflected.mode == stamp::packet::Mode::Authenticated && complete.is_some();
        let reply_srh = wanted
            .as_ref()
            .map_or(0, |(_, segs)| 8 + 16 * (segs.len() + 1));
        if reply_srh > meta.routing_header_len && !may_exceed {
            counters.discarded[Discard::WouldAmplify.index()].fetch_add(1, Ordering::Relaxed);
            continue;
        }
        // An SRH is attached whenever `wanted` is set, even with no SID
        // before the final one (a one-segment return path).
        if wanted != attached {
            let srh = match &wanted {
                Some((sender, segs)) => segment_routing_header(*sender, segs),
                None => Vec::new(),
            };
            sock.set_routing_header(&srh)
                .map_err(set_err("IPV6_RTHDR (return path)"))?;
            attached = wanted;
        }
        let source = (!dst.is_unspecified() && !dst.is_multicast()).then_some(dst);
        match sock.send_to(payload, to, Some(reflected.reply_traffic_class), source) {
            Ok(_) => counters.reflected.fetch_add(1, Ordering::Relaxed),
            Err(_) => counters.send_failed.fetch_add(1, Ordering::Relaxed),
        };
    }
    Ok(())
}
