//! The generator (AF_PACKET, `sendmmsg`, qdisc bypass) and the sink
//! (AF_PACKET, `recvmmsg`, every frame checked). Both run on the calling
//! thread, which must already be in the right network namespace.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::frames;
use crate::templates::{self, Hit};

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
    let n = template.len();
    generate_frames(
        ifname,
        template,
        |f, seq, _| {
            set_seq(&mut f[..n], seq);
            n
        },
        seconds,
        rate as f64,
        0,
    )
}

/// CLOCK_MONOTONIC in nanoseconds (the probe timestamps' clock; the
/// receiver reads the same clock).
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Sends frames out of `ifname` for `seconds` at `rate` frames/s (0 or
/// less: as fast as possible). Every buffer starts as a copy of `init`
/// (whose length is the longest frame); `write(buf, seq, ts_ns)` writes
/// frame `seq` (counting up from 0) into a buffer and returns its length.
/// `ts_ns` is 0 except for probe frames: with `probes_per_s` > 0, the
/// first frame of a batch becomes a probe (timestamped just before the
/// send) when one is due, about `probes_per_s` of them per second.
pub fn generate_frames(
    ifname: &str,
    init: &[u8],
    mut write: impl FnMut(&mut [u8], u64, u64) -> usize,
    seconds: f64,
    rate: f64,
    probes_per_s: u64,
) -> io::Result<GenResult> {
    let fd = packet_socket(ifname, 0)?;
    setsockopt_int(&fd, libc::SOL_PACKET, PACKET_QDISC_BYPASS, 1)?;
    let _ = setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 64 << 20);
    let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| init.to_vec()).collect();
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
    let probe_every = if probes_per_s > 0 {
        Duration::from_secs_f64(1.0 / probes_per_s as f64)
    } else {
        Duration::MAX
    };
    let mut next_probe = start;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let mut n = BATCH;
        if rate > 0.0 {
            let due = (now.duration_since(start).as_secs_f64() * rate) as u64;
            if due <= r.offered {
                let ahead = (r.offered + 1 - due) as f64 / rate;
                if ahead > 0.000_2 {
                    std::thread::sleep(Duration::from_secs_f64(ahead.min(0.001)));
                } else {
                    std::hint::spin_loop();
                }
                continue;
            }
            n = ((due - r.offered) as usize).min(BATCH);
        }
        let probe = probes_per_s > 0 && now >= next_probe;
        if probe {
            next_probe = now + probe_every;
        }
        for (k, (b, m)) in bufs.iter_mut().zip(msgs.iter_mut()).take(n).enumerate() {
            let ts = if probe && k == 0 { monotonic_ns() } else { 0 };
            let len = write(b, seq, ts);
            // SAFETY: msg_iov points at this buffer's live iovec.
            unsafe { (*m.msg_hdr.msg_iov).iov_len = len };
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
    /// Of `intact`, the STAMP replies.
    pub stamp: u64,
    /// One-way latency of the probe frames (ns, receive time minus the
    /// probe's timestamp, both CLOCK_MONOTONIC), if any arrived.
    pub latency: Option<hdrhistogram::Histogram<u64>>,
}

/// What the receiver accepts as delivered intact.
pub trait Check {
    fn hit(&self, f: &[u8], len: usize) -> Option<Hit>;
}

impl Check for frames::Expect {
    #[inline]
    fn hit(&self, f: &[u8], len: usize) -> Option<Hit> {
        self.check(f, len).map(|seq| Hit {
            seq,
            ts_ns: 0,
            stamp: matches!(self, frames::Expect::Stamp),
        })
    }
}

impl Check for templates::Matcher {
    #[inline]
    fn hit(&self, f: &[u8], len: usize) -> Option<Hit> {
        self.check(f, len)
    }
}

impl SinkResult {
    /// Counts one received frame (`f`: what was read of it, `len`: its
    /// real length), `now_ns` being when its batch was read.
    #[inline]
    fn count(
        &mut self,
        hit: Option<Hit>,
        f: &[u8],
        len: usize,
        last_seq: &mut Option<u64>,
        now_ns: u64,
    ) {
        match hit {
            Some(h) => {
                self.intact += 1;
                if h.stamp {
                    self.stamp += 1;
                } else if last_seq.is_some_and(|l| h.seq <= l) {
                    self.reordered += 1;
                }
                if !h.stamp {
                    *last_seq = Some(h.seq);
                }
                if h.ts_ns != 0 {
                    let hist = self.latency.get_or_insert_with(|| {
                        hdrhistogram::Histogram::new_with_bounds(1, 60_000_000_000, 3)
                            .expect("valid histogram bounds")
                    });
                    let _ = hist.record(now_ns.saturating_sub(h.ts_ns).max(1));
                }
            }
            None => {
                self.other += 1;
                if self.samples.len() < 3 {
                    let hex: String = f.iter().take(64).map(|b| format!("{b:02x}")).collect();
                    self.samples.push(format!("len {len}: {hex}"));
                }
            }
        }
    }
}

/// Counts frames arriving on `ifname` until `stop` is set and nothing more
/// arrives for 50 ms; a frame is intact if `expect` accepts it. `ready`
/// is set once the socket is bound.
pub fn sink<C: Check>(
    ifname: &str,
    expect: &C,
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
        let now_ns = monotonic_ns();
        for k in 0..got as usize {
            if names[k].sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            let len = msgs[k].msg_len as usize;
            let f = &bufs[k][..len.min(SNAP)];
            r.count(expect.hit(f, len), f, len, &mut last_seq, now_ns);
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

/// Sets its flag when dropped: however a scope is left (an error, a
/// panic), what waits on the flag is released.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `receive(ready, stop)` on a thread of its own and, once it has set
/// `ready`, `send()` on the calling thread; then lets frames in flight
/// arrive (`settle()` returns when they have), sets `stop` and returns both
/// results. It never
/// waits on a side that failed: a receiver that ends before it is ready,
/// or is not ready within `ready_within`, ends the wait and nothing is
/// sent; a sender that fails (or panics) still stops the receiver. The
/// error names the side: "generator: ..." or "receiver: ...".
pub fn send_and_receive<S, R>(
    receive: impl FnOnce(&AtomicBool, &AtomicBool) -> Result<R, String> + Send,
    send: impl FnOnce() -> Result<S, String>,
    ready_within: Duration,
    settle: impl FnOnce(),
) -> Result<(S, R), String>
where
    R: Send,
{
    let ready = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    std::thread::scope(|sc| {
        let rx = sc.spawn(|| receive(&ready, &stop));
        let stop_receiver = SetOnDrop(&stop);
        let t0 = Instant::now();
        while !ready.load(Ordering::Acquire) {
            let why = if rx.is_finished() {
                "the receiver ended before it was ready".to_string()
            } else if t0.elapsed() > ready_within {
                format!(
                    "the receiver was not ready within {} s",
                    ready_within.as_secs_f64()
                )
            } else {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            drop(stop_receiver);
            return Err(match rx.join() {
                Ok(Err(e)) => format!("receiver: {e}"),
                Ok(Ok(_)) => format!("receiver: {why}"),
                Err(_) => "receiver: its thread panicked".to_string(),
            });
        }
        let sent = send();
        if sent.is_ok() {
            settle();
        }
        drop(stop_receiver);
        let received = rx
            .join()
            .map_err(|_| "receiver: its thread panicked".to_string())?;
        let sent = sent.map_err(|e| format!("generator: {e}"))?;
        let received = received.map_err(|e| format!("receiver: {e}"))?;
        Ok((sent, received))
    })
}

/// Runs `open` (an AF_XDP socket bind) until it succeeds, for up to 2 s:
/// the socket of the process or trial before (srv6d, l2fwd, a sink) is
/// released asynchronously, so its queue and XDP program can still be busy
/// (EBUSY) for a moment after it exited. The last error if it never does.
pub(crate) fn retry_while_released<T, E>(mut open: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let t0 = Instant::now();
    loop {
        match open() {
            Ok(v) => return Ok(v),
            Err(e) if t0.elapsed() >= Duration::from_secs(2) => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Like [`sink`], but through an AF_XDP socket (libxdp's default program
/// redirects every frame of queue 0 to it; copy mode): no socket buffer,
/// no IPv6 input path, so the sink costs its core far less than an
/// AF_PACKET one. The frames never reach the sink's kernel stack.
pub fn xsk_sink<C: Check>(
    ifname: &str,
    expect: &C,
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
        retry_while_released(|| unsafe { Socket::new(config, &umem, &iface, 0) }).map_err(|e| {
            err(
                &format!("AF_XDP socket on {ifname} ({})", io::Error::last_os_error()),
                &e,
            )
        })?;
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
        let now_ns = monotonic_ns();
        for d in batch.iter().take(n) {
            // SAFETY: filled by the kernel, not yet given back.
            let data = unsafe { umem.data(d) };
            let f = data.contents();
            r.count(expect.hit(f, f.len()), f, f.len(), &mut last_seq, now_ns);
        }
        let mut given = 0;
        while given < n {
            // SAFETY: consumed descriptors of this UMEM, no longer read.
            given += unsafe { fq.produce(&batch[given..n]) };
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    //! [`send_and_receive`] never waits on a side that failed.

    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A receiver that counts until stopped, like the real ones.
    fn until_stopped(ready: &AtomicBool, stop: &AtomicBool) -> Result<u64, String> {
        ready.store(true, Ordering::Release);
        let mut n = 0;
        while !stop.load(Ordering::Acquire) {
            n += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(n)
    }

    #[test]
    fn both_sides_run_and_the_receiver_outlasts_the_sender() {
        let r = send_and_receive(
            until_stopped,
            || Ok(7),
            Duration::from_secs(5),
            || std::thread::sleep(Duration::from_millis(20)),
        );
        let (sent, received) = r.unwrap();
        assert_eq!(sent, 7);
        assert!(received >= 5, "{received}");
    }

    #[test]
    fn a_receiver_that_fails_before_it_is_ready_ends_the_wait_and_nothing_is_sent() {
        let sends = AtomicUsize::new(0);
        let t0 = Instant::now();
        let r = send_and_receive(
            |_: &AtomicBool, _: &AtomicBool| -> Result<(), String> {
                Err("no AF_XDP socket on bs0".into())
            },
            || {
                sends.fetch_add(1, Ordering::Relaxed);
                Ok(())
            },
            Duration::from_secs(60),
            || {},
        );
        assert_eq!(r.unwrap_err(), "receiver: no AF_XDP socket on bs0");
        assert_eq!(sends.load(Ordering::Relaxed), 0);
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_receiver_never_ready_is_an_error_after_the_limit() {
        let r = send_and_receive(
            |_: &AtomicBool, stop: &AtomicBool| -> Result<(), String> {
                while !stop.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(())
            },
            || Ok(()),
            Duration::from_millis(100),
            || {},
        );
        let e = r.unwrap_err();
        assert!(e.contains("not ready within 0.1 s"), "{e}");
    }

    #[test]
    fn a_failing_sender_stops_the_receiver_and_is_named() {
        let t0 = Instant::now();
        let r = send_and_receive(
            until_stopped,
            || -> Result<(), String> { Err("EPERM".into()) },
            Duration::from_secs(5),
            || std::thread::sleep(Duration::from_secs(60)),
        );
        assert_eq!(r.unwrap_err(), "generator: EPERM");
        // Neither the settling time nor the receiver held it up.
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_panicking_sender_still_stops_the_receiver() {
        let t0 = Instant::now();
        let r = std::panic::catch_unwind(|| {
            send_and_receive(
                until_stopped,
                || -> Result<(), String> { panic!("the sender panics (expected by this test)") },
                Duration::from_secs(5),
                || {},
            )
        });
        assert!(r.is_err());
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
}
