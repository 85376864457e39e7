//! The kernel side of the socket mode: a dual-stack IPv6 UDP socket (IPv4
//! peers as IPv4-mapped addresses) with the options
//! STAMP needs (receive timestamps, hop limit, traffic class, destination
//! address; a Segment Routing Header on what is sent), `recvmsg` with its
//! control messages decoded and `sendmsg` with a traffic class and a source
//! address. Thin wrappers over libc; every `unsafe` block is here.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// The current `CLOCK_REALTIME` reading in Unix nanoseconds (the clock the
/// kernel's SO_TIMESTAMPNS receive timestamps are taken on).
pub fn realtime_ns() -> i64 {
    // SAFETY: clock_gettime writes one timespec into `ts`.
    let mut ts: libc::timespec = unsafe { zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64
}

/// What `recvmsg` said about one datagram besides its payload.
#[derive(Debug, Clone, Copy)]
pub struct RecvMeta {
    /// Octets of payload (at most the buffer's length).
    pub len: usize,
    /// The datagram did not fit the buffer.
    pub truncated: bool,
    /// Source address and port.
    pub src: SocketAddrV6,
    /// Destination address (IPV6_PKTINFO), if asked for.
    pub dst: Option<Ipv6Addr>,
    /// Hop Limit as received (IPV6_HOPLIMIT), if asked for.
    pub hop_limit: Option<u8>,
    /// Traffic Class as received (IPV6_TCLASS), if asked for.
    pub traffic_class: Option<u8>,
    /// Kernel receive timestamp (SO_TIMESTAMPNS), Unix ns.
    pub timestamp_ns: Option<i64>,
    /// Octets of the routing header (an SRH) the datagram arrived with
    /// (IPV6_RECVRTHDR), 0 without one.
    pub routing_header_len: usize,
    /// The interface it arrived on (IPV6_PKTINFO / IP_PKTINFO), 0 if not
    /// known.
    pub ifindex: u32,
    /// Some control messages did not fit (MSG_CTRUNC): the fields above
    /// may be incomplete.
    pub control_truncated: bool,
}

/// An IPv6 UDP socket.
#[derive(Debug)]
pub struct Udp6 {
    fd: OwnedFd,
}

fn sockaddr(addr: SocketAddrV6) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain data; all-zero is valid.
    let mut sa: libc::sockaddr_in6 = unsafe { zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_port = addr.port().to_be();
    sa.sin6_addr.s6_addr = addr.ip().octets();
    sa.sin6_flowinfo = addr.flowinfo();
    sa.sin6_scope_id = addr.scope_id();
    sa
}

fn from_sockaddr(sa: &libc::sockaddr_in6) -> SocketAddrV6 {
    SocketAddrV6::new(
        Ipv6Addr::from(sa.sin6_addr.s6_addr),
        u16::from_be(sa.sin6_port),
        sa.sin6_flowinfo,
        sa.sin6_scope_id,
    )
}

impl Udp6 {
    /// A new socket bound to `addr`.
    pub fn bind(addr: SocketAddrV6) -> io::Result<Udp6> {
        // SAFETY: plain socket(2); the fd is owned right away.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET6,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::IPPROTO_UDP,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by socket(2) and is owned by no one else.
        let sock = Udp6 {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        };
        // Dual stack whatever net.ipv6.bindv6only says: IPv4 peers appear
        // as IPv4-mapped addresses (::ffff:a.b.c.d), STAMP over IPv4.
        sock.set_int(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0)?;
        let sa = sockaddr(addr);
        // SAFETY: `sa` is a valid sockaddr_in6 of the length given.
        let rc = unsafe {
            libc::bind(
                sock.fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_in6).cast(),
                size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sock)
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddrV6> {
        // SAFETY: getsockname writes at most `len` octets into `sa`.
        let mut sa: libc::sockaddr_in6 = unsafe { zeroed() };
        let mut len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        let rc = unsafe {
            libc::getsockname(
                self.fd.as_raw_fd(),
                (&mut sa as *mut libc::sockaddr_in6).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(from_sockaddr(&sa))
    }

    fn set_raw(&self, level: libc::c_int, name: libc::c_int, value: &[u8]) -> io::Result<()> {
        // SAFETY: `value` is valid for `value.len()` octets (a null pointer
        // with length 0 removes an option such as IPV6_RTHDR).
        let ptr = if value.is_empty() {
            std::ptr::null()
        } else {
            value.as_ptr().cast()
        };
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                ptr,
                value.len() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// setsockopt with an `int` value.
    pub fn set_int(&self, level: libc::c_int, name: libc::c_int, value: i32) -> io::Result<()> {
        self.set_raw(level, name, &value.to_ne_bytes())
    }

    /// Attaches a routing header to every datagram sent from now on
    /// (`IPV6_RTHDR`); an empty `rthdr` removes it.
    pub fn set_routing_header(&self, rthdr: &[u8]) -> io::Result<()> {
        self.set_raw(libc::IPPROTO_IPV6, libc::IPV6_RTHDR, rthdr)
    }

    /// SO_RCVTIMEO: how long `recv` blocks before returning `Ok(None)`.
    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: timeval is plain data; viewed as its bytes.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&tv as *const libc::timeval).cast::<u8>(),
                size_of::<libc::timeval>(),
            )
        };
        self.set_raw(libc::SOL_SOCKET, libc::SO_RCVTIMEO, bytes)
    }

    /// Receives one datagram into `buf`; `Ok(None)` when the read timeout
    /// passed or a signal interrupted the call.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<RecvMeta>> {
        // SAFETY: every pointer in `msg` refers to a local that outlives
        // the call, with the lengths given; the control messages are read
        // with the CMSG_* helpers within msg_controllen and copied out
        // unaligned.
        unsafe {
            let mut name: libc::sockaddr_in6 = zeroed();
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            // Room for the largest routing header (2 KiB) besides the rest.
            let mut control = [0u64; 512];
            let mut msg: libc::msghdr = zeroed();
            msg.msg_name = (&mut name as *mut libc::sockaddr_in6).cast();
            msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = size_of::<[u64; 512]>() as _;
            let n = libc::recvmsg(self.fd.as_raw_fd(), &mut msg, 0);
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
                    _ => Err(e),
                };
            }
            let mut meta = RecvMeta {
                len: n as usize,
                truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
                src: from_sockaddr(&name),
                dst: None,
                hop_limit: None,
                traffic_class: None,
                timestamp_ns: None,
                routing_header_len: 0,
                ifindex: 0,
                control_truncated: msg.msg_flags & libc::MSG_CTRUNC != 0,
            };
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let data = libc::CMSG_DATA(c);
                match ((*c).cmsg_level, (*c).cmsg_type) {
                    (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                        let ts = std::ptr::read_unaligned(data.cast::<libc::timespec>());
                        meta.timestamp_ns =
                            Some(ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64);
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                        let v = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                        meta.hop_limit = Some(v as u8);
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) => {
                        let v = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                        meta.traffic_class = Some(v as u8);
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_RTHDR) => {
                        // The header as received: its length from the
                        // control message (Hdr Ext Len is in 8-octet units).
                        let header = (data as usize) - (c as usize);
                        meta.routing_header_len = ((*c).cmsg_len as usize).saturating_sub(header);
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                        let p = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                        meta.dst = Some(Ipv6Addr::from(p.ipi6_addr.s6_addr));
                        meta.ifindex = p.ipi6_ifindex;
                    }
                    // An IPv4 datagram (IP_RECVTTL, IP_RECVTOS, IP_PKTINFO).
                    (libc::IPPROTO_IP, libc::IP_TTL) => {
                        let v = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                        meta.hop_limit = Some(v as u8);
                    }
                    (libc::IPPROTO_IP, libc::IP_TOS) => {
                        meta.traffic_class = Some(std::ptr::read_unaligned(data.cast::<u8>()));
                    }
                    (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                        let p = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                        let v4 = std::net::Ipv4Addr::from(u32::from_be(p.ipi_addr.s_addr));
                        meta.dst = Some(v4.to_ipv6_mapped());
                        meta.ifindex = p.ipi_ifindex as u32;
                    }
                    _ => {}
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
            Ok(Some(meta))
        }
    }

    /// Sends `payload` to `dst`, with the Traffic Class `tclass` and the
    /// source address `src` when given (IPV6_TCLASS and IPV6_PKTINFO
    /// control messages).
    pub fn send_to(
        &self,
        payload: &[u8],
        dst: SocketAddrV6,
        tclass: Option<u8>,
        src: Option<Ipv6Addr>,
    ) -> io::Result<usize> {
        // SAFETY: as in `recv`: every pointer refers to a live local of the
        // length given; control messages are written with the CMSG_*
        // helpers inside a buffer large enough for both (checked by
        // construction: 2 * CMSG_SPACE(20) < 128).
        unsafe {
            let mut name = sockaddr(dst);
            let mut iov = libc::iovec {
                iov_base: payload.as_ptr() as *mut libc::c_void,
                iov_len: payload.len(),
            };
            let mut control = [0u64; 16];
            let mut msg: libc::msghdr = zeroed();
            msg.msg_name = (&mut name as *mut libc::sockaddr_in6).cast();
            msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            let mut space = 0usize;
            if tclass.is_some() {
                space += libc::CMSG_SPACE(size_of::<libc::c_int>() as u32) as usize;
            }
            if src.is_some() {
                space += libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32) as usize;
            }
            if space > 0 {
                msg.msg_control = control.as_mut_ptr().cast();
                msg.msg_controllen = space as _;
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                if let Some(tc) = tclass {
                    // To an IPv4-mapped address the kernel sends IPv4 and
                    // reads IP_TOS (it ignores IPV6_TCLASS there).
                    if dst.ip().to_ipv4_mapped().is_some() {
                        (*c).cmsg_level = libc::IPPROTO_IP;
                        (*c).cmsg_type = libc::IP_TOS;
                    } else {
                        (*c).cmsg_level = libc::IPPROTO_IPV6;
                        (*c).cmsg_type = libc::IPV6_TCLASS;
                    }
                    (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::c_int>() as u32) as _;
                    std::ptr::write_unaligned(
                        libc::CMSG_DATA(c).cast::<libc::c_int>(),
                        libc::c_int::from(tc),
                    );
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
                if let Some(a) = src {
                    (*c).cmsg_level = libc::IPPROTO_IPV6;
                    (*c).cmsg_type = libc::IPV6_PKTINFO;
                    (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as _;
                    let mut p: libc::in6_pktinfo = zeroed();
                    p.ipi6_addr.s6_addr = a.octets();
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::in6_pktinfo>(), p);
                }
            }
            let n = libc::sendmsg(self.fd.as_raw_fd(), &msg, 0);
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(n as usize)
        }
    }
}

/// A Segment Routing Header (RFC 8754) for `IPV6_RTHDR`: the packet is sent
/// to `final_dst` through `segments` (travel order) first.
///
/// Linux (`ipv6_push_rthdr4`) takes the Segment List as written, replaces
/// entry 0 with the socket-level destination (so `final_dst` is also what
/// `sendto` is given) and sends the packet to entry `Segments Left`. So the
/// list is the reverse of the travel order: entry 0 the final destination,
/// entry N the first SID; Segments Left = Last Entry = N.
pub fn segment_routing_header(final_dst: Ipv6Addr, segments: &[Ipv6Addr]) -> Vec<u8> {
    let entries = segments.len() + 1;
    let mut h = Vec::with_capacity(8 + 16 * entries);
    // Next Header (filled in by the kernel), Hdr Ext Len (8-octet units
    // after the first 8), Routing Type 4, Segments Left, Last Entry, Flags,
    // Tag.
    h.extend_from_slice(&[
        0,
        (2 * entries) as u8,
        4,
        segments.len() as u8,
        segments.len() as u8,
        0,
        0,
        0,
    ]);
    h.extend_from_slice(&final_dst.octets());
    for s in segments.iter().rev() {
        h.extend_from_slice(&s.octets());
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srh_lists_segments_in_reverse_with_the_destination_first() {
        let a: Ipv6Addr = "fc00::a".parse().unwrap();
        let b: Ipv6Addr = "fc00::b".parse().unwrap();
        let d: Ipv6Addr = "fc00::d".parse().unwrap();
        let h = segment_routing_header(d, &[a, b]);
        assert_eq!(h.len(), 8 + 48);
        assert_eq!(&h[..8], &[0, 6, 4, 2, 2, 0, 0, 0]);
        assert_eq!(&h[8..24], &d.octets());
        assert_eq!(&h[24..40], &b.octets());
        assert_eq!(&h[40..56], &a.octets());
    }
}
