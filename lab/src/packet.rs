//! Raw Ethernet frame I/O on one interface of a lab namespace.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::sys::in_netns;
use crate::Error;

/// Largest frame `recv*` returns whole; longer ones (GRO super-frames) are
/// cut to this length.
pub const MAX_FRAME: usize = 65_536;

/// An `AF_PACKET`/`SOCK_RAW` socket bound to one interface (all
/// ethertypes), created inside a lab namespace.
///
/// It sends whole Ethernet frames and receives whole frames, by default only
/// those the interface received (frames it sent, `PACKET_OUTGOING`, are
/// skipped; see [`PacketSocket::include_outgoing`]). Promiscuous mode is off;
/// on a veth every frame from the peer arrives anyway.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
    include_outgoing: bool,
}

impl PacketSocket {
    /// Opens a socket in namespace `real` (a name under
    /// [`crate::NETNS_DIR`]) bound to `ifname`.
    pub fn bind(real: &str, ifname: &str) -> Result<PacketSocket, Error> {
        let what = format!("packet socket on {ifname} in {real}");
        in_netns(real, || open_bound(ifname))?.map_err(|source| Error::Io { what, source })
    }

    /// The interface index it is bound to (inside its namespace).
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// With `true`, `recv*` also return frames this interface sent.
    pub fn include_outgoing(&mut self, include: bool) {
        self.include_outgoing = include;
    }

    /// Turns promiscuous mode on or off for as long as the socket lives.
    pub fn set_promiscuous(&self, on: bool) -> io::Result<()> {
        let mreq = libc::packet_mreq {
            mr_ifindex: self.ifindex as libc::c_int,
            mr_type: libc::PACKET_MR_PROMISC as libc::c_ushort,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        let option = if on {
            libc::PACKET_ADD_MEMBERSHIP
        } else {
            libc::PACKET_DROP_MEMBERSHIP
        };
        // SAFETY: `mreq` is a valid packet_mreq and its exact size is passed.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                option,
                (&mreq as *const libc::packet_mreq).cast(),
                mem::size_of::<libc::packet_mreq>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Sends one whole Ethernet frame (destination MAC first) out of the
    /// bound interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: the pointer and length describe `frame`, alive for the call.
        let sent =
            unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        match sent {
            n if n < 0 => Err(io::Error::last_os_error()),
            n if n as usize != frame.len() => Err(io::Error::other(format!(
                "sent {n} of {} bytes",
                frame.len()
            ))),
            _ => Ok(()),
        }
    }

    /// The next frame, or `None` if none arrives within `timeout`.
    ///
    /// # Panics
    /// On a socket error other than `EINTR`/`EAGAIN` (which cannot happen on
    /// a healthy bound socket).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Vec<u8>> {
        self.recv_matching(timeout, |_| true)
    }

    /// The next frame for which `want` is true, or `None` if none arrives
    /// within `timeout`; frames that do not match are discarded.
    ///
    /// # Panics
    /// As [`PacketSocket::recv_timeout`].
    pub fn recv_matching(
        &self,
        timeout: Duration,
        mut want: impl FnMut(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; MAX_FRAME];
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if !self.poll_readable(remaining) {
                return None;
            }
            match self.recv_one(&mut buf) {
                Ok(Some(len)) if want(&buf[..len]) => {
                    buf.truncate(len);
                    return Some(buf);
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                    ) => {}
                Err(e) => panic!("packet socket on ifindex {}: recv: {e}", self.ifindex),
            }
        }
    }

    /// Discards every frame already queued; returns how many.
    pub fn drain(&self) -> usize {
        let mut buf = vec![0u8; MAX_FRAME];
        let mut count = 0;
        while self.poll_readable(Duration::ZERO) {
            match self.recv_one(&mut buf) {
                Ok(Some(_)) => count += 1,
                Ok(None) => {}
                Err(_) => break,
            }
        }
        count
    }

    /// Waits until a frame is queued or `timeout` passes.
    fn poll_readable(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            // Round up so a sub-millisecond remainder still waits.
            let ms = remaining.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, count 1.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc > 0 {
                return true;
            }
            if rc == 0 {
                return false;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                panic!("packet socket on ifindex {}: poll: {err}", self.ifindex);
            }
        }
    }

    /// Receives one frame without blocking: `Some(len)`, or `None` for an
    /// outgoing frame that is being skipped.
    fn recv_one(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut from: libc::sockaddr_ll = unsafe { mem::zeroed() };
        let mut from_len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: `buf` and `from` are valid for writes of the lengths
        // passed; the kernel writes at most those.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                (&mut from as *mut libc::sockaddr_ll).cast(),
                &mut from_len,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if from.sll_pkttype == libc::PACKET_OUTGOING && !self.include_outgoing {
            return Ok(None);
        }
        Ok(Some(n as usize))
    }
}

/// Creates the socket with protocol 0 (so nothing is queued from other
/// interfaces) and binds it to `ifname` for all ethertypes. Runs inside the
/// target namespace.
fn open_bound(ifname: &str) -> io::Result<PacketSocket> {
    let name = std::ffi::CString::new(ifname)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: `name` is a valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface `{ifname}`: {}", io::Error::last_os_error()),
        ));
    }
    // SAFETY: plain syscall; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as libc::c_ushort;
    addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    addr.sll_ifindex = ifindex as libc::c_int;
    // SAFETY: `addr` is a valid sockaddr_ll and its exact size is passed.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PacketSocket {
        fd,
        ifindex,
        include_outgoing: false,
    })
}
