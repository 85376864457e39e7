//! One worker: its sockets (queue `w` of every port), its share of the
//! UMEM's frames, and the batch loop.

use std::net::IpAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, TxQueue, Umem};

use crate::behavior::icmp::IcmpRateLimit;
use crate::behavior::local::{
    grow_udp_payload, local_udp, originate_udp, originated_header_len, reply_header_len,
    reply_in_place_to, LocalUdp,
};
use crate::behavior::mss::clamp_at_overlay_edge;
use crate::behavior::{
    icmp_error, process, route_originated, too_big_kind, DropReason, IcmpKind, Packet, Verdict,
};
use crate::fib::{Fib, PortId, Published, VrfId};
use crate::neighbor::{Mac, NeighborTable};
use crate::stamp_sender::{
    reply_error_index, SenderChannel, SenderSessions, SenderTable, MAX_SENDER_SESSIONS,
    TEST_PACKET_HOP_LIMIT,
};
use crate::wire::udp;
use stamp::reflector::{reflect, Discard, Received, ReflectorState};
use stamp::sender::{ReplyError, SenderSession};

use super::counters::{bump, EngineDrop, FrameAccounting, WorkerCounters};
use super::{IdlePolicy, PortSpec, ResolveHook, ETH_LEN};

const ETHERTYPE_IPV4: u16 = 0x0800;

/// The wall clock (CLOCK_REALTIME, through the vDSO) in Unix nanoseconds:
/// STAMP timestamps are wall-clock times.
#[inline]
fn now_unix_ns() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// One (port, queue) socket with its four rings.
pub(crate) struct PortSocket {
    port: PortId,
    vrf: VrfId,
    mac: Mac,
    tx: TxQueue,
    rx: RxQueue,
    fq: FillQueue,
    cq: CompQueue,
    fd: RawFd,
    /// Frames given to the fill ring and not yet seen on the rx ring.
    in_fill: u64,
    /// Frames put on the tx ring and not yet completed.
    in_tx: u64,
    /// The fill ring wanted frames and none were free (the current
    /// `no_free_frame` episode has been counted).
    starved: bool,
    /// Descriptors to transmit, collected while processing one rx batch.
    pending: Vec<FrameDesc>,
    /// The interface's MTU (IP packet octets) when the engine started:
    /// longer packets are not sent (`mtu_exceeded`).
    mtu: usize,
}

impl PortSocket {
    pub(crate) fn new(
        spec: &PortSpec,
        tx: TxQueue,
        rx: RxQueue,
        fq: FillQueue,
        cq: CompQueue,
        fd: RawFd,
        batch: usize,
    ) -> PortSocket {
        PortSocket {
            port: spec.id,
            vrf: spec.vrf,
            mac: spec.mac,
            tx,
            rx,
            fq,
            cq,
            fd,
            in_fill: 0,
            in_tx: 0,
            starved: false,
            pending: Vec::with_capacity(batch),
            mtu: usize::MAX,
        }
    }

    /// Sets the port's MTU (IP packet octets).
    pub(crate) fn with_mtu(mut self, mtu: usize) -> PortSocket {
        self.mtu = mtu;
        self
    }

    /// Non-blocking `sendto`: makes the kernel process the tx ring (copy
    /// mode sends only from this call).
    #[inline]
    fn kick_tx(&self) {
        // SAFETY: zero-length non-blocking sendto on our own socket; errors
        // (EAGAIN, ENOBUFS, EBUSY) only mean "try again next batch".
        unsafe {
            libc::sendto(
                self.fd,
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
    }

    /// Non-blocking `recvfrom`: wakes the kernel's rx side (fill ring
    /// need_wakeup, busy polling).
    #[inline]
    fn kick_rx(&self) {
        // SAFETY: zero-length non-blocking recvfrom on our own socket.
        unsafe {
            libc::recvfrom(
                self.fd,
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
    }
}

/// A sender session this worker sends.
struct ActiveSender {
    channel: Arc<SenderChannel>,
    /// The worker's copy of the template: its Sequence Numbers.
    session: SenderSession,
    /// When the next test packet is due.
    next: Instant,
    /// When the session ends (its duration), if it has one.
    until: Option<Instant>,
    /// Send slots used (packets sent or failed for want of a frame).
    slots: u64,
    /// Every slot of a counted session is used.
    done: bool,
}

pub(crate) struct Worker {
    umem: Umem,
    /// Start of the UMEM mapping.
    base: *mut u8,
    frame_size: usize,
    sockets: Vec<PortSocket>,
    free: Vec<FrameDesc>,
    total_frames: usize,
    scratch: Vec<FrameDesc>,
    batch: usize,
    ring_size: u32,
    fill_target: u64,
    busy_poll: bool,
    idle: IdlePolicy,
    resolve: Option<ResolveHook>,
    /// The STAMP reflector's per-worker state (stateful sequence numbers,
    /// counters, rate limiter), allocated once.
    reflector: Box<ReflectorState>,
    /// This worker's index and the number of workers: it sends session `i`
    /// whose channel's slot is `index` modulo `workers`.
    index: usize,
    workers: usize,
    senders: Arc<SenderSessions>,
    /// The [`SenderSessions::generation`] `active` reflects.
    senders_seen: u64,
    /// The sessions this worker sends; `active_spare` is the same size,
    /// for rebuilding without allocating.
    active: Vec<ActiveSender>,
    active_spare: Vec<ActiveSender>,
    counters: Arc<WorkerCounters>,
    /// Limits the ICMP errors this worker sends, path-MTU errors apart
    /// (`icmp_pmtu_limit`, same rate and burst).
    icmp_limit: IcmpRateLimit,
    icmp_pmtu_limit: IcmpRateLimit,
    /// The origin of the rate limiter's clock.
    started: Instant,
    fib: Arc<Published<Fib>>,
    neighbors: Arc<Published<NeighborTable>>,
    stop: Arc<AtomicBool>,
}

// SAFETY: `base` points into the UMEM mapping kept alive by `umem` (moved
// along with it); the worker is the only user of its frames.
unsafe impl Send for Worker {}

/// The UMEM's first byte, from frame 0's headroom segment.
fn umem_base(umem: &Umem, first: &FrameDesc, frame_size: usize) -> *mut u8 {
    let mut d = *first;
    // SAFETY: `first` is a frame of `umem` not yet given to the kernel;
    // the headroom segment starts at the frame's first byte.
    let headroom = unsafe { umem.headroom_mut(&mut d) };
    let frame_start = first.addr() & !(frame_size - 1);
    let p = headroom.contents().as_ptr() as *mut u8;
    // SAFETY: `p` is `frame_start` octets into the mapping.
    unsafe { p.sub(frame_start) }
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        umem: Umem,
        frame_size: usize,
        sockets: Vec<PortSocket>,
        frames: Vec<FrameDesc>,
        batch: usize,
        ring_size: u32,
        busy_poll: bool,
        idle: IdlePolicy,
        resolve: Option<ResolveHook>,
        counters: Arc<WorkerCounters>,
        fib: Arc<Published<Fib>>,
        neighbors: Arc<Published<NeighborTable>>,
        stop: Arc<AtomicBool>,
        (index, workers, senders): (usize, usize, Arc<SenderSessions>),
    ) -> Worker {
        let base = umem_base(&umem, &frames[0], frame_size);
        let total_frames = frames.len();
        // Leave frames for the tx rings: each fill ring gets an equal share
        // of half the frames, at most a ring's worth.
        let share = (total_frames / 2 / sockets.len().max(1)) as u64;
        let fill_target = share.min(u64::from(ring_size));
        let mut free = Vec::with_capacity(total_frames);
        free.extend(frames);
        Worker {
            umem,
            base,
            frame_size,
            free,
            total_frames,
            scratch: vec![FrameDesc::default(); batch],
            batch,
            ring_size,
            fill_target,
            busy_poll,
            idle,
            resolve,
            reflector: Box::new(ReflectorState::new()),
            index,
            workers: workers.max(1),
            senders,
            // Not a generation: the first loop iteration looks at the set.
            senders_seen: u64::MAX,
            active: Vec::with_capacity(MAX_SENDER_SESSIONS),
            active_spare: Vec::with_capacity(MAX_SENDER_SESSIONS),
            counters,
            icmp_limit: IcmpRateLimit::new(1000, 50),
            icmp_pmtu_limit: IcmpRateLimit::new(1000, 50),
            started: Instant::now(),
            fib,
            neighbors,
            stop,
            sockets,
        }
    }

    /// At most `rate` ICMP errors a second from this worker, in bursts of
    /// `burst` (0: none).
    pub(crate) fn set_icmp_limit(&mut self, rate: u32, burst: u32) {
        self.icmp_limit = IcmpRateLimit::new(rate, burst);
        self.icmp_pmtu_limit = IcmpRateLimit::new(rate, burst);
    }

    /// The loop; returns where the frames are when told to stop.
    /// Fills every socket's fill ring, before the worker runs: a frame the
    /// kernel receives right after [`super::Engine::start`] returns finds a
    /// buffer (instead of counting as `xsk_rx_fill_ring_empty`).
    pub(crate) fn prime(&mut self) {
        for i in 0..self.sockets.len() {
            self.refill(i);
        }
    }

    pub(crate) fn run(mut self) -> FrameAccounting {
        let mut empty_rounds = 0u32;
        while !self.stop.load(Ordering::Relaxed) {
            let fib = self.fib.load();
            let neighbors = self.neighbors.load();
            bump(&self.counters.batches, 1);
            let mut work = 0;
            for i in 0..self.sockets.len() {
                work += self.complete(i);
                self.refill(i);
            }
            for i in 0..self.sockets.len() {
                work += self.receive(i, &fib, &neighbors);
            }
            let generation = self.senders.generation();
            if generation != self.senders_seen {
                self.senders_seen = generation;
                self.sync_senders();
            }
            if !self.active.is_empty() {
                work += self.send_due(&fib, &neighbors);
            }
            for s in &mut self.sockets {
                // Copy mode transmits from sendto only, at most 32 frames a
                // call: kick while the ring holds unsent frames.
                if s.in_tx > 0 && s.tx.needs_wakeup() {
                    let unsent = self.ring_size - s.tx.nb_free_exact();
                    if unsent > 0 {
                        s.kick_tx();
                    }
                }
            }
            drop(fib);
            drop(neighbors);
            if work == 0 {
                empty_rounds = empty_rounds.saturating_add(1);
                match self.idle {
                    IdlePolicy::Spin => std::hint::spin_loop(),
                    IdlePolicy::Yield => std::thread::yield_now(),
                    IdlePolicy::Sleep(d) if empty_rounds >= 64 => std::thread::sleep(d),
                    IdlePolicy::Sleep(_) => std::hint::spin_loop(),
                }
            } else {
                empty_rounds = 0;
            }
        }
        self.drain()
    }

    /// Completed tx frames back to the free list: the whole completion
    /// ring, a scratch-sized batch at a time (a socket that sent more than a
    /// batch since the last loop, e.g. several ports forwarding into it,
    /// must not leave frames stranded there while the fill rings starve).
    #[inline]
    fn complete(&mut self, i: usize) -> usize {
        let s = &mut self.sockets[i];
        let mut total = 0;
        while s.in_tx > 0 {
            // SAFETY: the descriptors are filled from our own UMEM's ring.
            let n = unsafe { s.cq.consume(&mut self.scratch) };
            if n == 0 {
                break;
            }
            s.in_tx -= n as u64;
            self.free.extend_from_slice(&self.scratch[..n]);
            total += n;
            if n < self.scratch.len() {
                break;
            }
        }
        total
    }

    /// Tops the fill ring up to its target from the free list.
    #[inline]
    fn refill(&mut self, i: usize) {
        let s = &mut self.sockets[i];
        let want = self.fill_target.saturating_sub(s.in_fill) as usize;
        if want == 0 {
            return;
        }
        let n = want.min(self.free.len());
        if n == 0 {
            if !s.starved {
                s.starved = true;
                bump(&self.counters.engine[EngineDrop::NoFreeFrame.index()], 1);
            }
            return;
        }
        s.starved = false;
        let from = self.free.len() - n;
        // SAFETY: free-list frames belong to this UMEM and nobody else
        // (kernel included) uses them.
        let m = unsafe { s.fq.produce(&self.free[from..]) };
        if m > 0 {
            s.in_fill += m as u64;
            self.free.truncate(self.free.len() - m);
            if s.fq.needs_wakeup() || self.busy_poll {
                s.kick_rx();
            }
        }
    }

    /// One rx batch of socket `i`: process every frame, then transmit.
    #[inline]
    fn receive(&mut self, i: usize, fib: &Fib, neighbors: &NeighborTable) -> usize {
        if self.busy_poll {
            self.sockets[i].kick_rx();
        }
        let batch = self.batch;
        // SAFETY: the ring holds frames of our UMEM.
        let n = unsafe { self.sockets[i].rx.consume(&mut self.scratch[..batch]) };
        if n == 0 {
            return 0;
        }
        self.sockets[i].in_fill -= n as u64;
        bump(&self.counters.rx, n as u64);
        if let Some(c) = self
            .counters
            .port_rx
            .get(usize::from(self.sockets[i].port.0))
        {
            bump(c, n as u64);
        }
        // T2 of any STAMP test packet in the batch: when it was received.
        let received_ns = now_unix_ns();
        let vrf = self.sockets[i].vrf;
        for k in 0..n {
            let desc = self.scratch[k];
            self.handle(vrf, desc, fib, neighbors, received_ns);
        }
        self.flush();
        n
    }

    #[inline]
    fn drop_engine(&mut self, why: EngineDrop, desc: FrameDesc) {
        bump(&self.counters.engine[why.index()], 1);
        self.free.push(desc);
    }

    #[inline]
    fn egress_index(&self, port: PortId) -> Option<usize> {
        self.sockets.iter().position(|s| s.port == port)
    }

    /// One frame: Ethernet, behaviour, new Ethernet header, tx queue.
    #[inline]
    fn handle(
        &mut self,
        vrf: VrfId,
        desc: FrameDesc,
        fib: &Fib,
        neighbors: &NeighborTable,
        received_ns: i64,
    ) {
        let len = desc.lengths().data();
        let frame_start = desc.addr() & !(self.frame_size - 1);
        let data = desc.addr() - frame_start;
        // SAFETY: the frame came off our rx ring, so it is ours until we
        // give it back; the UMEM mapping outlives the worker (`self.umem`);
        // frames are `frame_size`-aligned inside it.
        let buf =
            unsafe { std::slice::from_raw_parts_mut(self.base.add(frame_start), self.frame_size) };
        if data + len > buf.len() {
            return self.drop_engine(EngineDrop::BadDescriptor, desc);
        }
        if len < ETH_LEN {
            return self.drop_engine(EngineDrop::NotIp, desc);
        }
        let ethertype = u16::from_be_bytes([buf[data + 12], buf[data + 13]]);
        if ethertype != ETHERTYPE_IPV4 && ethertype != ETHERTYPE_IPV6 {
            return self.drop_engine(EngineDrop::NotIp, desc);
        }
        let Some(mut pkt) = Packet::new(buf, data + ETH_LEN, len - ETH_LEN) else {
            return self.drop_engine(EngineDrop::NotIp, desc);
        };
        let verdict = process(fib, vrf, &mut pkt);
        for b in pkt.behaviors().indices() {
            bump(&self.counters.behaviors[b], 1);
        }
        match verdict {
            Verdict::Forward { port, next_hop } => {
                let (start, l3_len) = (pkt.start(), pkt.len());
                let mtu = self.egress_index(port).map(|e| self.sockets[e].mtu);
                if let Some(clamp) = fib.tcp_mss_clamp() {
                    let port_mtu = |p| self.egress_index(p).map(|e| self.sockets[e].mtu);
                    if clamp_at_overlay_edge(fib, &mut pkt, clamp, data + ETH_LEN, port, port_mtu) {
                        bump(&self.counters.tcp_mss_clamped, 1);
                    }
                }
                if let Some(mtu) = mtu.filter(|&mtu| l3_len > mtu) {
                    // Would be lost on the wire (or by the driver): an
                    // error to the source instead, so PMTUD can work.
                    bump(&self.counters.drops[DropReason::MtuExceeded.index()], 1);
                    return match too_big_kind(&pkt, l3_len, mtu) {
                        Some(kind) => self.icmp_reply(desc, data, pkt, kind, fib, neighbors),
                        None => self.free.push(desc),
                    };
                }
                self.forward(desc, data, start, l3_len, port, next_hop, neighbors);
            }
            Verdict::Local => self.local(desc, data, pkt, fib, neighbors, received_ns),
            Verdict::PassToKernel => self.drop_engine(EngineDrop::PassToKernelUnsupported, desc),
            Verdict::Drop(reason) => {
                bump(&self.counters.drops[reason.index()], 1);
                match pkt.icmp() {
                    Some(kind) => self.icmp_reply(desc, data, pkt, kind, fib, neighbors),
                    None => self.free.push(desc),
                }
            }
        }
    }

    /// The ICMP error `kind` about a dropped packet (already counted),
    /// built in its frame and routed back to its source; rate limited.
    #[inline(never)]
    fn icmp_reply(
        &mut self,
        desc: FrameDesc,
        data: usize,
        mut pkt: Packet<'_>,
        kind: IcmpKind,
        fib: &Fib,
        neighbors: &NeighborTable,
    ) {
        match icmp_error(fib, &mut pkt, kind) {
            Ok((Verdict::Forward { port, next_hop }, counter)) => {
                let (start, l3_len) = (pkt.start(), pkt.len());
                // An error carried back through a tunnel must fit the port
                // it leaves by (a Packet Too Big about a decapsulated packet
                // crosses the WAN again).
                let too_big = self
                    .egress_index(port)
                    .is_some_and(|e| l3_len > self.sockets[e].mtu);
                if too_big {
                    let i = crate::behavior::Suppressed::TooBig.index();
                    bump(&self.counters.icmp_suppressed[i], 1);
                    return self.free.push(desc);
                }
                let now_ns = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                let limit = if kind.is_path_mtu() {
                    &mut self.icmp_pmtu_limit
                } else {
                    &mut self.icmp_limit
                };
                if !limit.allow(now_ns) {
                    bump(&self.counters.icmp_rate_limited, 1);
                    return self.free.push(desc);
                }
                bump(&self.counters.icmp_sent[counter], 1);
                self.forward(desc, data, start, l3_len, port, next_hop, neighbors);
            }
            Ok(_) => {
                let i = crate::behavior::Suppressed::NoRoute.index();
                bump(&self.counters.icmp_suppressed[i], 1);
                self.free.push(desc);
            }
            Err(why) => {
                bump(&self.counters.icmp_suppressed[why.index()], 1);
                self.free.push(desc);
            }
        }
    }

    /// A packet for the router: a STAMP test packet is reflected in place
    /// and sent back; anything else is dropped (`local_unhandled`).
    #[inline(never)]
    fn local(
        &mut self,
        desc: FrameDesc,
        data: usize,
        mut pkt: Packet<'_>,
        fib: &Fib,
        neighbors: &NeighborTable,
        received_ns: i64,
    ) {
        let reflector = fib.stamp_reflector();
        let senders = self.senders.load();
        if reflector.is_none() && senders.sessions().is_empty() {
            return self.drop_engine(EngineDrop::LocalUnhandled, desc);
        }
        let udp = match local_udp(&pkt) {
            Ok(Some(udp)) => udp,
            Ok(None) => return self.drop_engine(EngineDrop::LocalUnhandled, desc),
            Err(reason) => return self.drop_reason(reason, desc),
        };
        let stamp = match reflector {
            Some(stamp) if udp.dst_port == stamp.port => stamp,
            _ => {
                if self.sender_reply(&senders, &pkt, &udp, received_ns) {
                    // Consumed: its record is queued, the frame is free.
                    self.free.push(desc);
                } else {
                    self.drop_engine(EngineDrop::LocalUnhandled, desc);
                }
                return;
            }
        };
        // RFC 8762 §4.6: a TWAMP-light packet shorter than the base packet
        // gets the 44-octet base reply.
        let mut udp = udp;
        if let Some(len) = stamp::packet::reflector_reply_len(udp.payload_len()) {
            if let Err(reason) = grow_udp_payload(&mut pkt, &mut udp, len) {
                return self.drop_reason(reason, desc);
            }
        }
        let rx = Received {
            src: IpAddr::V6(udp.src),
            dst: IpAddr::V6(udp.dst),
            src_port: udp.src_port,
            dst_port: udp.dst_port,
            ttl: udp.hop_limit,
            traffic_class: udp.traffic_class,
            t2_ns: received_ns,
        };
        let at = udp.payload_offset();
        let payload = &mut pkt.data_mut()[at..at + udp.payload_len()];
        let reflected = match reflect(
            &stamp.config,
            &mut self.reflector,
            payload,
            &rx,
            now_unix_ns,
        ) {
            Ok(r) => r,
            Err(discard) => {
                bump(&self.counters.stamp_discards[discard.index()], 1);
                self.free.push(desc);
                return;
            }
        };
        // No reply larger than its request unless the sender proved it
        // holds the session's key (a spoofed source must not get more
        // octets back than it sent: issue 14, RFC 8762 §6). The one growth
        // allowed is the RFC-mandated one above: a TWAMP-light packet
        // shorter than the 44-octet base packet is answered with it (`pkt`
        // already holds the grown datagram), at most 30 octets more.
        let reply_len = reply_header_len(reflected.return_path.segments().len()) + udp.udp_len;
        if reply_len > pkt.len() && !reflected.may_exceed_request() {
            bump(
                &self.counters.stamp_discards[Discard::WouldAmplify.index()],
                1,
            );
            self.free.push(desc);
            return;
        }
        if let Err(reason) = reply_in_place_to(
            &mut pkt,
            &udp,
            reflected.return_path.segments(),
            reflected.return_path.destination(udp.src),
            reflected.reply_traffic_class,
        ) {
            return self.drop_reason(reason, desc);
        }
        bump(&self.counters.stamp_reflected, 1);
        match route_originated(fib, &mut pkt) {
            Verdict::Forward { port, next_hop } => {
                let (start, l3_len) = (pkt.start(), pkt.len());
                self.forward(desc, data, start, l3_len, port, next_hop, neighbors);
            }
            Verdict::Drop(reason) => self.drop_reason(reason, desc),
            // A reply to one of our own SIDs' upper layer: not handled.
            Verdict::Local | Verdict::PassToKernel => {
                self.drop_engine(EngineDrop::LocalUnhandled, desc)
            }
        }
    }

    /// A datagram addressed like a reply to one of the sender sessions
    /// (the session's source address and port, from its reflector port):
    /// checked by the session whose SSID it carries and its record queued,
    /// T4 being when its batch was read. False if no session has that
    /// address and ports (not a reply). A refused reply is counted by
    /// reason and consumed.
    fn sender_reply(
        &self,
        table: &SenderTable,
        pkt: &Packet<'_>,
        udp: &LocalUdp,
        t4_ns: i64,
    ) -> bool {
        let at = udp.payload_offset();
        let Some(payload) = pkt.data().get(at..at + udp.payload_len()) else {
            return false;
        };
        let mut addressed: Option<&SenderChannel> = None;
        let mut refused: Option<(&SenderChannel, ReplyError)> = None;
        for ch in table.sessions() {
            if !ch.matches_reply(udp.dst, udp.dst_port, udp.src_port) {
                continue;
            }
            addressed.get_or_insert(ch);
            match ch.spec().session.receive_sent(payload, t4_ns, ch.sent()) {
                Ok(record) => {
                    ch.on_reply(record);
                    bump(&self.counters.stamp_replies, 1);
                    return true;
                }
                // Maybe the next session on these ports.
                Err(ReplyError::OtherSession) => {}
                Err(e) => {
                    refused.get_or_insert((ch, e));
                }
            }
        }
        let Some(first) = addressed else {
            return false;
        };
        // Counted in the session that refused it for a reason of its own,
        // else (no session has its SSID) in the first one on these ports.
        let (ch, e) = refused.unwrap_or((first, ReplyError::OtherSession));
        ch.on_reply_error(e);
        bump(&self.counters.stamp_reply_errors[reply_error_index(e)], 1);
        true
    }

    /// Picks up a newly published set of sender sessions: keeps the
    /// running state of the sessions still in it (same channel), starts the
    /// new ones now, forgets the others. Allocation-free (both vectors hold
    /// [`MAX_SENDER_SESSIONS`]).
    #[cold]
    fn sync_senders(&mut self) {
        let table = self.senders.load();
        let now = Instant::now();
        self.active_spare.clear();
        for ch in table.sessions() {
            if ch.slot() % self.workers != self.index {
                continue;
            }
            let kept = self
                .active
                .iter()
                .position(|a| Arc::ptr_eq(&a.channel, ch))
                .map(|p| self.active.swap_remove(p));
            self.active_spare.push(kept.unwrap_or_else(|| ActiveSender {
                channel: ch.clone(),
                session: ch.spec().session.clone(),
                next: now,
                until: ch.spec().duration.map(|d| now + d),
                slots: 0,
                done: false,
            }));
        }
        std::mem::swap(&mut self.active, &mut self.active_spare);
        self.active_spare.clear();
    }

    /// Sends the test packets that are due; returns how many.
    fn send_due(&mut self, fib: &Fib, neighbors: &NeighborTable) -> usize {
        let now = Instant::now();
        let mut active = std::mem::take(&mut self.active);
        let mut sent = 0;
        for a in active.iter_mut() {
            if a.done || now < a.next {
                continue;
            }
            if a.until.is_some_and(|until| now >= until) {
                a.done = true;
                a.channel.set_finished();
                continue;
            }
            self.send_test(a, fib, neighbors);
            sent += 1;
            a.slots += 1;
            let spec = a.channel.spec();
            if spec.count.is_some_and(|c| a.slots >= c) {
                a.done = true;
                a.channel.set_finished();
                continue;
            }
            // Absolute deadlines: no drift. Late by a whole interval or
            // more: start again from now (counted), no burst to catch up.
            a.next += spec.interval;
            if a.next <= now {
                a.next = now + spec.interval;
                a.channel.on_late();
            }
        }
        self.active = active;
        if sent > 0 {
            self.flush();
        }
        sent
    }

    /// One test packet of `a`, built in a free frame and routed as a packet
    /// the router originates.
    fn send_test(&mut self, a: &mut ActiveSender, fib: &Fib, neighbors: &NeighborTable) {
        let Some(desc) = self.free.pop() else {
            a.channel.on_send_failed();
            return;
        };
        let frame_start = desc.addr() & !(self.frame_size - 1);
        let data = desc.addr() - frame_start;
        // SAFETY: a free-list frame is ours (see `handle`).
        let buf =
            unsafe { std::slice::from_raw_parts_mut(self.base.add(frame_start), self.frame_size) };
        let spec = a.channel.spec();
        let start = data + ETH_LEN;
        let payload_len = a.session.length();
        let payload_at = start + originated_header_len(spec.segments.len()) + udp::HEADER_LEN;
        if payload_at + payload_len > buf.len() {
            a.channel.on_send_failed();
            return self.drop_engine(EngineDrop::FrameTooSmall, desc);
        }
        let (seq, t1) = a.session.build(&mut buf[payload_at..], now_unix_ns);
        let len = match originate_udp(
            &mut buf[start..],
            spec.source,
            &spec.segments,
            (spec.src_port, spec.dst_port),
            spec.traffic_class,
            TEST_PACKET_HOP_LIMIT,
            payload_len,
        ) {
            Ok(len) => len,
            Err(reason) => {
                a.channel.on_send_failed();
                return self.drop_reason(reason, desc);
            }
        };
        // Sent (and so lost, if routing drops it) before it can be answered.
        a.channel.on_sent(seq, t1);
        bump(&self.counters.stamp_sent, 1);
        let Some(mut pkt) = Packet::new(buf, start, len) else {
            return self.drop_engine(EngineDrop::FrameTooSmall, desc);
        };
        match route_originated(fib, &mut pkt) {
            Verdict::Forward { port, next_hop } => {
                let (start, l3_len) = (pkt.start(), pkt.len());
                self.forward(desc, data, start, l3_len, port, next_hop, neighbors);
            }
            Verdict::Drop(reason) => self.drop_reason(reason, desc),
            Verdict::Local | Verdict::PassToKernel => {
                self.drop_engine(EngineDrop::LocalUnhandled, desc)
            }
        }
    }

    #[inline]
    fn drop_reason(&mut self, reason: DropReason, desc: FrameDesc) {
        bump(&self.counters.drops[reason.index()], 1);
        self.free.push(desc);
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn forward(
        &mut self,
        mut desc: FrameDesc,
        data: usize,
        start: usize,
        l3_len: usize,
        port: PortId,
        next_hop: IpAddr,
        neighbors: &NeighborTable,
    ) {
        let Some(egress) = self.egress_index(port) else {
            return self.drop_engine(EngineDrop::UnknownEgressPort, desc);
        };
        let Some(dst_mac) = neighbors.lookup(port, next_hop) else {
            if let Some(hook) = &self.resolve {
                hook(port, next_hop);
            }
            return self.drop_engine(EngineDrop::NeighborUnresolved, desc);
        };
        if start < ETH_LEN {
            bump(&self.counters.drops[DropReason::NoHeadroom.index()], 1);
            self.free.push(desc);
            return;
        }
        let frame_start = desc.addr() & !(self.frame_size - 1);
        let total = l3_len + ETH_LEN;
        if data + total > self.frame_size {
            return self.drop_engine(EngineDrop::FrameTooSmall, desc);
        }
        // SAFETY: as in `handle`: the frame is ours.
        let buf =
            unsafe { std::slice::from_raw_parts_mut(self.base.add(frame_start), self.frame_size) };
        let eth = start - ETH_LEN;
        let ethertype = if buf[start] >> 4 == 6 {
            ETHERTYPE_IPV6
        } else {
            ETHERTYPE_IPV4
        };
        buf[eth..eth + 6].copy_from_slice(&dst_mac);
        buf[eth + 6..eth + 12].copy_from_slice(&self.sockets[egress].mac);
        buf[eth + 12..eth + 14].copy_from_slice(&ethertype.to_be_bytes());
        if eth != data {
            // xsk-rs descriptors always start at `data`: move the frame
            // there (only after encapsulation or decapsulation).
            buf.copy_within(eth..eth + total, data);
        }
        // SAFETY: the frame is ours; this only sets the descriptor's length.
        unsafe { self.umem.data_mut(&mut desc) }
            .cursor()
            .set_pos(total);
        desc.set_options(0);
        let s = &mut self.sockets[egress];
        if s.pending.len() == s.pending.capacity() {
            // Cannot happen (one rx batch fills at most `batch` slots), but
            // never allocate: transmit what we have first.
            self.flush();
        }
        self.sockets[egress].pending.push(desc);
    }

    /// Puts every pending descriptor on its tx ring.
    #[inline]
    fn flush(&mut self) {
        for s in &mut self.sockets {
            if s.pending.is_empty() {
                continue;
            }
            // Reservation is all or nothing: ask for what fits, so a nearly
            // full ring drops only the excess, not the whole batch.
            let room = s.tx.nb_free(s.pending.len() as u32) as usize;
            let fits = room.min(s.pending.len());
            // SAFETY: the frames are ours and of this UMEM.
            let n = unsafe { s.tx.produce(&s.pending[..fits]) };
            s.in_tx += n as u64;
            bump(&self.counters.tx, n as u64);
            if let Some(c) = self.counters.port_tx.get(usize::from(s.port.0)) {
                bump(c, n as u64);
            }
            let rest = s.pending.len() - n;
            if rest > 0 {
                bump(
                    &self.counters.engine[EngineDrop::TxRingFull.index()],
                    rest as u64,
                );
                self.free.extend_from_slice(&s.pending[n..]);
            }
            s.pending.clear();
            if n > 0 && s.tx.needs_wakeup() {
                s.kick_tx();
            }
        }
    }

    /// After stop: waits up to 200 ms for the tx rings to complete, then
    /// counts what is where (frames found on rx and completion rings are
    /// counted there, not moved).
    fn drain(mut self) -> FrameAccounting {
        let deadline = Instant::now() + Duration::from_millis(200);
        let mut completed = vec![0u64; self.sockets.len()];
        loop {
            let mut outstanding = 0;
            for (i, s) in self.sockets.iter_mut().enumerate() {
                let left = s.in_tx - completed[i];
                if left == 0 {
                    continue;
                }
                // SAFETY: frames of our UMEM.
                let n = unsafe { s.cq.consume(&mut self.scratch) } as u64;
                completed[i] += n;
                if s.in_tx - completed[i] > 0 {
                    s.kick_tx();
                    outstanding += s.in_tx - completed[i];
                }
            }
            if outstanding == 0 || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut acc = FrameAccounting {
            total: self.total_frames as u64,
            free: self.free.len() as u64,
            ..FrameAccounting::default()
        };
        for (i, s) in self.sockets.iter_mut().enumerate() {
            let mut on_rx = 0u64;
            loop {
                // SAFETY: frames of our UMEM.
                let n = unsafe { s.rx.consume(&mut self.scratch) } as u64;
                if n == 0 {
                    break;
                }
                on_rx += n;
            }
            acc.rx_ring += on_rx;
            acc.fill_ring += s.in_fill - on_rx;
            acc.completion_ring += completed[i];
            acc.tx_ring += s.in_tx - completed[i];
        }
        acc
    }
}
