//! The AF_XDP l2fwd ceiling: frames in on one interface, out of another,
//! with only the Ethernet addresses rewritten.
//!
//! Why: the RFC 2544 run needs the practical limit of the machine for a
//! userspace AF_XDP forwarder, measured the way srv6d runs (one busy-polling
//! thread on the SUT core, copy-mode sockets, native XDP on veth), but
//! doing no packet processing at all. What srv6d delivers is then read
//! against this ceiling rather than against the generator's.
//!
//! How: one thread spins (never sleeps in `poll`) over two xsk-rs 0.11
//! sockets, queue 0 of `rx_if` and queue 0 of `tx_if`, both copy bind in
//! driver mode. They **share one UMEM** (`XDP_SHARED_UMEM` across two
//! interfaces works in copy mode; srv6d's engine does the same), so a frame
//! is never copied in user space: it is received into a UMEM frame, its 12
//! MAC octets are rewritten in place and the same descriptor goes on the tx
//! ring. Each (interface, queue) has its own fill and completion rings;
//! frames cycle `rx_if` fill ring -> rx ring -> `tx_if` tx ring -> `tx_if`
//! completion ring -> a free pool -> `rx_if` fill ring. libxdp's default
//! program redirects `rx_if`'s queue 0 to the rx socket; no program is
//! loaded on `tx_if` (its socket's fill ring stays empty: it only sends).
//! On the test machine libxdp's dispatcher check fails (`xdp_pass`: EPERM,
//! libbpf prints "permission error ... ulimit -l" on stderr) and libxdp
//! falls back to attaching its program without the dispatcher: harmless.
//!
//! In copy mode the kernel transmits a tx ring entry only from `sendto`
//! (each call handles at most 32), so the loop kicks the tx socket, up to
//! [`KICKS`] times, whenever the kernel has not yet taken everything on the
//! tx ring. The tx
//! path builds an skb per frame and hands it to the veth's normal
//! `ndo_start_xmit`, so, unlike XDP_TX / XDP_REDIRECT, the peer of `tx_if`
//! needs neither an XDP program nor GRO to accept the frames. A frame
//! counts as sent (`tx`) when its completion comes back; crossing into
//! another namespace orphans the skb, so that is as soon as the veth has
//! forwarded (or dropped, counted in `tx_if`'s `tx_dropped`) it.
//!
//! Drops are counted where they happen: `tx_failed` (the tx ring had no
//! room, or a frame never completed before the end), and the kernel's own
//! counts of frames the rx socket could not take (`xsk_rx_dropped`: fill
//! ring empty, rx ring full).

use std::io;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use xsk_rs::config::{BindFlags, LibxdpFlags, SocketConfig, UmemConfig, XdpFlags};
use xsk_rs::{FrameDesc, Socket, Umem};

/// Frames received, sent or reaped per step.
const BATCH: usize = 64;
/// Fill, completion, rx and tx ring size (xsk-rs's and libxdp's default).
const RING: u32 = 2048;
/// UMEM frames: a full fill ring and as many again for the rx and tx rings
/// and frames in flight.
const FRAMES: u32 = 2 * RING;
/// Most `sendto` kicks per loop: two batches of 32 cover one rx batch,
/// and more drain a backlog.
const KICKS: usize = 4;
/// How long the end waits for frames still on the tx ring to complete.
const DRAIN: Duration = Duration::from_millis(200);

/// What the forwarder did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct L2fwdStats {
    /// Frames taken from the rx socket.
    pub rx: u64,
    /// Frames the kernel completed on the tx socket (handed to `tx_if`).
    pub tx: u64,
    /// Frames dropped here: no room on the tx ring, or still not completed
    /// when the drain at the end gave up.
    pub tx_failed: u64,
    /// Frames the kernel dropped before the rx socket got them (its
    /// `XDP_STATISTICS` rx_dropped, which includes an empty fill ring, plus
    /// rx_ring_full).
    pub xsk_rx_dropped: u64,
}

impl std::fmt::Display for L2fwdStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rx={} tx={} tx_failed={} xsk_rx_dropped={}",
            self.rx, self.tx, self.tx_failed, self.xsk_rx_dropped
        )
    }
}

fn xsk_err(ifname: &str, what: &str, e: &dyn std::error::Error) -> io::Error {
    let detail = e.source().map(|s| format!(": {s}")).unwrap_or_default();
    io::Error::other(format!("{ifname}: {what}: {e}{detail}"))
}

/// libxdp pins its dispatcher under /sys/fs/bpf. `ip netns exec` (how the
/// lab starts processes in a namespace) remounts /sys in a private mount
/// namespace without bpffs: mount a fresh one there if none is mounted.
fn ensure_bpffs() -> io::Result<()> {
    let mounts = std::fs::read_to_string("/proc/self/mounts")?;
    if mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/bpf"))
    {
        return Ok(());
    }
    // SAFETY: NUL-terminated literals; no data argument.
    let rc = unsafe {
        libc::mount(
            c"bpf".as_ptr(),
            c"/sys/fs/bpf".as_ptr(),
            c"bpf".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("mount bpffs on /sys/fs/bpf (libxdp needs it): {e}"),
        ));
    }
    Ok(())
}

/// Forwards every frame arriving on queue 0 of `rx_if` out of queue 0 of
/// `tx_if`, destination MAC set to `dst_mac` and source MAC to `src_mac`,
/// nothing else touched, until `stop` is set. Prints `l2fwd running` on
/// stderr once both sockets are bound. Runs on the calling thread, which
/// must already be in the right namespace (and pinned, if wanted).
pub fn run(
    rx_if: &str,
    tx_if: &str,
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    idle_yield: bool,
    stop: &AtomicBool,
) -> io::Result<L2fwdStats> {
    ensure_bpffs()?;
    let umem_config = UmemConfig::builder()
        .fill_queue_size(xsk_rs::config::QueueSize::new(RING).expect("power of two"))
        .comp_queue_size(xsk_rs::config::QueueSize::new(RING).expect("power of two"))
        .build()
        .map_err(|e| xsk_err(rx_if, "UMEM config", &e))?;
    let (umem, descs) = Umem::new(
        umem_config,
        NonZeroU32::new(FRAMES).expect("non-zero"),
        false,
    )
    .map_err(|e| xsk_err(rx_if, "create UMEM", &e))?;
    let ring = xsk_rs::config::QueueSize::new(RING).expect("power of two");
    let rx_config = SocketConfig::builder()
        .rx_queue_size(ring)
        .tx_queue_size(ring)
        .xdp_flags(XdpFlags::XDP_FLAGS_DRV_MODE)
        .bind_flags(BindFlags::XDP_COPY | BindFlags::XDP_USE_NEED_WAKEUP)
        .build();
    // Nothing is received on tx_if: leave its XDP alone.
    let tx_config = SocketConfig::builder()
        .rx_queue_size(ring)
        .tx_queue_size(ring)
        .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
        .xdp_flags(XdpFlags::XDP_FLAGS_DRV_MODE)
        .bind_flags(BindFlags::XDP_COPY | BindFlags::XDP_USE_NEED_WAKEUP)
        .build();
    let rx_iface = rx_if
        .parse()
        .map_err(|e| xsk_err(rx_if, "interface name", &e))?;
    let tx_iface = tx_if
        .parse()
        .map_err(|e| xsk_err(tx_if, "interface name", &e))?;
    // SAFETY: nothing else is bound to (rx_if, 0) with this UMEM.
    let (_rx_side_tx, mut rx, rx_rings) =
        crate::io::retry_while_released(|| unsafe { Socket::new(rx_config, &umem, &rx_iface, 0) })
            .map_err(|e| xsk_err(rx_if, "AF_XDP socket on queue 0 (copy, driver mode)", &e))?;
    let (mut fq, _rx_side_cq) =
        rx_rings.ok_or_else(|| io::Error::other(format!("{rx_if}: no fill/completion ring")))?;
    // SAFETY: nothing else is bound to (tx_if, 0) with this UMEM; a second
    // interface on the same UMEM gets its own fill and completion rings.
    let (mut tx, _tx_side_rx, tx_rings) =
        crate::io::retry_while_released(|| unsafe { Socket::new(tx_config, &umem, &tx_iface, 0) })
            .map_err(|e| {
                xsk_err(
                    tx_if,
                    "AF_XDP socket on queue 0 (copy, driver mode, shared UMEM)",
                    &e,
                )
            })?;
    let (_tx_side_fq, mut cq) =
        tx_rings.ok_or_else(|| io::Error::other(format!("{tx_if}: no fill/completion ring")))?;

    // Every frame not owned by the kernel is in `pool`; its capacity holds
    // all of them, so pushing back never allocates.
    let mut pool: Vec<FrameDesc> = Vec::with_capacity(descs.len());
    pool.extend_from_slice(&descs);
    let first = pool.len().min(RING as usize);
    let start = pool.len() - first;
    // SAFETY: fresh descriptors of this UMEM, owned by no ring.
    if unsafe { fq.produce(&pool[start..]) } != first {
        return Err(io::Error::other(format!(
            "{rx_if}: cannot fill the fill ring"
        )));
    }
    pool.truncate(start);
    eprintln!("l2fwd running");

    let mut s = L2fwdStats::default();
    let mut rx_batch = [FrameDesc::default(); BATCH];
    let mut cq_batch = [FrameDesc::default(); BATCH * 4];
    // Submitted to the tx ring and not completed yet.
    let mut in_flight: u64 = 0;
    let mut drain_until: Option<Instant> = None;
    loop {
        // Completed tx frames back to the pool.
        // SAFETY: the slots are overwritten with completed descriptors of
        // this UMEM, which the kernel no longer uses.
        let c = unsafe { cq.consume(&mut cq_batch) };
        let mut busy = c > 0;
        if c > 0 {
            s.tx += c as u64;
            in_flight -= c as u64;
            pool.extend_from_slice(&cq_batch[..c]);
        }
        // Keep the fill ring full.
        if !pool.is_empty() {
            let n = (fq.nb_free(pool.len() as u32) as usize).min(pool.len());
            if n > 0 {
                let from = pool.len() - n;
                // SAFETY: free frames of this UMEM, owned by no ring;
                // `n` slots are free, so all of them go on the ring.
                let put = unsafe { fq.produce(&pool[from..]) };
                if put == n {
                    pool.truncate(from);
                }
            }
        }

        if let Some(until) = drain_until {
            if in_flight == 0 || Instant::now() >= until {
                break;
            }
        } else if stop.load(Ordering::Relaxed) {
            drain_until = Some(Instant::now() + DRAIN);
        } else {
            // SAFETY: the batch slots are overwritten with received
            // descriptors of this UMEM, which are ours until given back.
            let n = unsafe { rx.consume(&mut rx_batch) };
            busy |= n > 0;
            if n > 0 {
                s.rx += n as u64;
                for d in rx_batch[..n].iter_mut() {
                    // SAFETY: a received frame of this UMEM, not on any
                    // ring and not otherwise referenced.
                    let mut data = unsafe { umem.data_mut(d) };
                    if let Some(eth) = data.contents_mut().get_mut(..12) {
                        eth[..6].copy_from_slice(&dst_mac);
                        eth[6..].copy_from_slice(&src_mac);
                    }
                    // (A frame shorter than 12 octets cannot come off a
                    // veth; it would go out unchanged.)
                }
                let room = (tx.nb_free(n as u32) as usize).min(n);
                let sent = if room > 0 {
                    // SAFETY: received frames of this UMEM, rewritten,
                    // owned by no ring; `room` slots are free.
                    unsafe { tx.produce(&rx_batch[..room]) }
                } else {
                    0
                };
                in_flight += sent as u64;
                s.tx_failed += (n - sent) as u64;
                pool.extend_from_slice(&rx_batch[sent..n]);
            }
        }

        // Copy mode transmits only from sendto, at most 32 frames a call
        // (the kernel's TX_BATCH_SIZE): kick while the kernel has not taken
        // everything on the tx ring, a bounded number of times (it may be
        // out of socket buffer until completions come back).
        for _ in 0..KICKS {
            if tx.nb_free_exact() == RING {
                break;
            }
            tx.wakeup()
                .map_err(|e| io::Error::new(e.kind(), format!("{tx_if}: tx wakeup: {e}")))?;
        }
        if idle_yield && !busy {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
    s.tx_failed += in_flight;
    match rx.fd().xdp_statistics() {
        Ok(st) => s.xsk_rx_dropped = st.rx_dropped() + st.rx_ring_full(),
        Err(e) => eprintln!("l2fwd: {rx_if}: XDP_STATISTICS: {e}"),
    }
    Ok(s)
}
