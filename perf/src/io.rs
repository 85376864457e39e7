//! The generator (AF_PACKET, `sendmmsg`, qdisc bypass) and the sink
//! (AF_PACKET, `recvmmsg`, every frame checked). Both run on the calling
//! thread, which must already be in the right network namespace.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::frames;

const BATCH: usize = 64;
const PACKET_QDISC_BYPASS: libc::c_int = 20;

fn packet_socket(ifname: &str, protocol: u16) -> io::Result<OwnedFd> {
    let name = std::ffi::CString::new(ifname)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: a valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {ifname}"),
        ));
    }
    // SAFETY: plain syscall.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from(protocol.to_be()),
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_ll is plain data.
    let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = protocol.to_be();
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: valid sockaddr_ll and its size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn setsockopt_int(fd: &OwnedFd, level: i32, opt: i32, val: i32) -> io::Result<()> {
    // SAFETY: pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (&val as *const i32).cast(),
            mem::size_of::<i32>() as u32,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What the generator did.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenResult {
    /// Frames handed to `sendmmsg` (accepted + refused): the offered load.
    pub offered: u64,
    /// Frames the kernel accepted.
    pub accepted: u64,
    /// Frames refused (ENOBUFS: the veth peer's ring was full, i.e. the
    /// SUT's input queue overflowed); counted as offered and lost.
    pub refused: u64,
    /// Seconds from the first to the last send.
    pub elapsed: f64,
}

/// Sends `template` frames out of `ifname` for `seconds`, at `rate`
/// frames/s (0: as fast as possible). Before each send, `set_seq(frame,
/// seq)` writes sequence number `seq` (counting up from 0) into a frame
/// that holds the template or an earlier frame, and fixes its checksums.
pub fn generate(
    ifname: &str,
    template: &[u8],
    mut set_seq: impl FnMut(&mut [u8], u64),
    seconds: f64,
    rate: u64,
) -> io::Result<GenResult> {
    let fd = packet_socket(ifname, 0)?;
    setsockopt_int(&fd, libc::SOL_PACKET, PACKET_QDISC_BYPASS, 1)?;
    let _ = setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 64 << 20);
    let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| template.to_vec()).collect();
    let mut iov: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: mmsghdr is plain data; zeroed is valid (no name, no control).
    let mut msgs: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { mem::zeroed() }).collect();
    for (m, v) in msgs.iter_mut().zip(iov.iter_mut()) {
        m.msg_hdr.msg_iov = v;
        m.msg_hdr.msg_iovlen = 1;
    }
    let mut r = GenResult::default();
    let mut seq = 0u64;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let mut n = BATCH;
        if rate > 0 {
            let due = (now.duration_since(start).as_secs_f64() * rate as f64) as u64;
            if due <= r.offered {
                let ahead = (r.offered + 1 - due) as f64 / rate as f64;
                if ahead > 0.000_2 {
                    std::thread::sleep(Duration::from_secs_f64(ahead.min(0.001)));
                } else {
                    std::hint::spin_loop();
                }
                continue;
            }
            n = ((due - r.offered) as usize).min(BATCH);
        }
        for b in bufs.iter_mut().take(n) {
            set_seq(b, seq);
            seq += 1;
        }
        let mut done = 0;
        while done < n {
            // SAFETY: `msgs[done..n]` point at live iovecs over `bufs`.
            let sent = unsafe {
                libc::sendmmsg(
                    fd.as_raw_fd(),
                    msgs[done..].as_mut_ptr(),
                    (n - done) as u32,
                    libc::MSG_DONTWAIT,
                )
            };
            if sent > 0 {
                r.accepted += sent as u64;
                done += sent as usize;
            } else {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::ENOBUFS) | Some(libc::EAGAIN) | Some(libc::ENETDOWN) => {
                        // The first message of the rest was refused: lost.
                        r.refused += 1;
                        done += 1;
                    }
                    Some(libc::EINTR) => {}
                    _ => return Err(e),
                }
            }
        }
        r.offered += n as u64;
    }
    r.elapsed = start.elapsed().as_secs_f64();
    Ok(r)
}

/// What the sink saw.
#[derive(Debug, Clone, Default)]
pub struct SinkResult {
    /// Frames that are exactly the expected packet (see
    /// [`frames::Expect`]).
    pub intact: u64,
    /// Other frames received (anything else, including damaged ones).
    pub other: u64,
    /// Up to 3 of the other frames (first 64 octets, hex).
    pub samples: Vec<String>,
    /// Intact frames whose sequence number was not above the previous one.
    pub reordered: u64,
    /// Frames the kernel dropped at this socket (PACKET_STATISTICS).
    pub socket_drops: u64,
}

/// Counts frames arriving on `ifname` until `stop` is set and nothing more
/// arrives for 50 ms; a frame is intact if `expect` accepts it. `ready`
/// is set once the socket is bound.
pub fn sink(
    ifname: &str,
    expect: frames::Expect,
    ready: &AtomicBool,
    stop: &AtomicBool,
) -> io::Result<SinkResult> {
    const ETH_P_ALL: u16 = 0x0003;
    const SNAP: usize = 256;
    let fd = packet_socket(ifname, ETH_P_ALL)?;
    let _ = setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 256 << 20);
    // Reset the statistics (they are cleared on read).
    socket_stats(&fd);
    ready.store(true, Ordering::Release);
    let mut bufs = vec![[0u8; SNAP]; BATCH];
    // SAFETY: sockaddr_ll is plain data.
    let mut names: Vec<libc::sockaddr_ll> = (0..BATCH).map(|_| unsafe { mem::zeroed() }).collect();
    let mut iov: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: SNAP,
        })
        .collect();
    // SAFETY: plain data.
    let mut msgs: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { mem::zeroed() }).collect();
    let mut r = SinkResult::default();
    let mut last_seq: Option<u64> = None;
    let mut quiet_since: Option<Instant> = None;
    loop {
        for ((m, v), nm) in msgs.iter_mut().zip(iov.iter_mut()).zip(names.iter_mut()) {
            m.msg_hdr.msg_iov = v;
            m.msg_hdr.msg_iovlen = 1;
            m.msg_hdr.msg_name = (nm as *mut libc::sockaddr_ll).cast();
            m.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_ll>() as u32;
            m.msg_len = 0;
        }
        // SAFETY: every mmsghdr points at a live iovec/buffer and name.
        let got = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                std::ptr::null_mut(),
            )
        };
        if got <= 0 {
            if stop.load(Ordering::Acquire) {
                let since = *quiet_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(50) {
                    break;
                }
            }
            let mut pfd = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, 10) };
            continue;
        }
        quiet_since = None;
        for k in 0..got as usize {
            if names[k].sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            let len = msgs[k].msg_len as usize;
            let f = &bufs[k][..len.min(SNAP)];
            match expect.check(f, len) {
                Some(seq) => {
                    r.intact += 1;
                    if last_seq.is_some_and(|l| seq <= l) {
                        r.reordered += 1;
                    }
                    last_seq = Some(seq);
                }
                None => {
                    r.other += 1;
                    if r.samples.len() < 3 {
                        let hex: String = f.iter().take(64).map(|b| format!("{b:02x}")).collect();
                        r.samples.push(format!("len {len}: {hex}"));
                    }
                }
            }
        }
    }
    r.socket_drops = socket_stats(&fd).1;
    Ok(r)
}

/// (packets, drops) since the last call.
fn socket_stats(fd: &OwnedFd) -> (u64, u64) {
    #[repr(C)]
    #[derive(Default)]
    struct TpacketStats {
        tp_packets: u32,
        tp_drops: u32,
    }
    let mut s = TpacketStats::default();
    let mut len = mem::size_of::<TpacketStats>() as u32;
    // SAFETY: a live struct of the size passed.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut s as *mut TpacketStats).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return (0, 0);
    }
    (u64::from(s.tp_packets), u64::from(s.tp_drops))
}

/// Like [`sink`], but through an AF_XDP socket (libxdp's default program
/// redirects every frame of queue 0 to it; copy mode): no socket buffer,
/// no IPv6 input path, so the sink costs its core far less than an
/// AF_PACKET one. The frames never reach the sink's kernel stack.
pub fn xsk_sink(
    ifname: &str,
    expect: frames::Expect,
    ready: &AtomicBool,
    stop: &AtomicBool,
) -> io::Result<SinkResult> {
    use std::num::NonZeroU32;
    use xsk_rs::config::{BindFlags, SocketConfig, UmemConfig, XdpFlags};
    use xsk_rs::{Socket, Umem};

    let err = |what: &str, e: &dyn std::fmt::Display| io::Error::other(format!("{what}: {e}"));
    let (umem, mut descs) = Umem::new(UmemConfig::default(), NonZeroU32::new(8192).unwrap(), false)
        .map_err(|e| err("UMEM", &e))?;
    let config = SocketConfig::builder()
        .xdp_flags(XdpFlags::XDP_FLAGS_DRV_MODE)
        .bind_flags(BindFlags::XDP_COPY)
        .build();
    let iface = ifname.parse().map_err(|e| err("interface name", &e))?;
    // SAFETY: nothing else is bound to (ifname, 0) with this UMEM.
    let (_tx, mut rx, fq_cq) =
        unsafe { Socket::new(config, &umem, &iface, 0) }.map_err(|e| err("AF_XDP socket", &e))?;
    let (mut fq, _cq) = fq_cq.ok_or_else(|| io::Error::other("no fill queue"))?;
    // SAFETY: fresh descriptors of this UMEM.
    let filled = unsafe { fq.produce(&descs[..2048]) };
    if filled == 0 {
        return Err(io::Error::other("cannot fill the fill ring"));
    }
    ready.store(true, Ordering::Release);
    let mut r = SinkResult::default();
    let mut last_seq: Option<u64> = None;
    let mut quiet_since: Option<Instant> = None;
    let batch = &mut descs[4096..4096 + BATCH];
    loop {
        // SAFETY: the descriptors are ours; filled frames are read below and
        // handed back to the fill ring after.
        let n = unsafe { rx.poll_and_consume(batch, 10) }.map_err(|e| err("poll", &e))?;
        if n == 0 {
            if stop.load(Ordering::Acquire) {
                let since = *quiet_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(50) {
                    break;
                }
            }
            continue;
        }
        quiet_since = None;
        for d in batch.iter().take(n) {
            // SAFETY: filled by the kernel, not yet given back.
            let data = unsafe { umem.data(d) };
            let f = data.contents();
            match expect.check(f, f.len()) {
                Some(seq) => {
                    r.intact += 1;
                    if last_seq.is_some_and(|l| seq <= l) {
                        r.reordered += 1;
                    }
                    last_seq = Some(seq);
                }
                None => {
                    r.other += 1;
                    if r.samples.len() < 3 {
                        let hex: String = f.iter().take(64).map(|b| format!("{b:02x}")).collect();
                        r.samples.push(format!("len {}: {hex}", f.len()));
                    }
                }
            }
        }
        let mut given = 0;
        while given < n {
            // SAFETY: consumed descriptors of this UMEM, no longer read.
            given += unsafe { fq.produce(&batch[given..n]) };
        }
    }
    Ok(r)
}
