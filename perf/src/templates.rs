//! The RFC 2544 run's packets: what the generator sends for each scenario
//! ([`Packet`]), how each frame of a trial differs from the template
//! (flow, sequence number, probe timestamp), and what the receiver accepts
//! as delivered intact ([`Pattern`], [`Matcher`]).
//!
//! These builders are the reference for `trex-profiles/` (whose Scapy
//! builders CI checks byte for byte against `srv6bench templates`), so the
//! layout below is a contract:
//!
//! * Ethernet: destination [`SUT_MAC`] (the SUT's LAN veth), source
//!   [`GEN_MAC`], EtherType 0x86dd (IPv6) or 0x0800 (IPv4).
//! * The data packet ("inner"): IPv6 `2001:db8:1::1 → 2001:db8:2::1`
//!   (Traffic Class 0, Flow Label 0, Hop Limit 64) or IPv4
//!   `198.18.1.1 → 198.18.2.1` (TOS 0, ID 0, DF clear, TTL 64, valid header
//!   checksum), then UDP `1024 + flow → 9` with a valid checksum, then the
//!   payload: `"SRV6BNCH"`, the sequence number (u64, big-endian), the
//!   probe timestamp (u64 ns of CLOCK_MONOTONIC, big-endian; 0 = not a
//!   probe), then zero padding up to the frame size.
//! * [`Packet::End`]: IPv6 `fc00:b::100 → fc00:a::e` (Hop Limit 64, next
//!   header 43) + SRH (next header 41, Hdr Ext Len 4, type 4, Segments Left
//!   1, Last Entry 1, flags 0, tag 0, segment list `[fc00:b::2,
//!   fc00:a::e]`) + the IPv6 data packet.
//! * [`Packet::EndDt6`] / [`Packet::EndDt4`]: IPv6 `fc00:b::100 →
//!   fc00:a::d6` (next header 41) / `→ fc00:a::d4` (next header 4), no SRH
//!   (what a reduced encapsulation with one SID produces) + the data
//!   packet of that family.
//! * [`Packet::StampTest`]: a STAMP Session-Sender test packet
//!   ([`frames::stamp_frame`]): to the SUT's reflector address.
//! * [`Packet::StampReply`]: a STAMP Session-Reflector packet (RFC 8762
//!   §4.3.1, unauthenticated, 44 octets) from the far reflector
//!   [`FAR_REFLECTOR`] port 862 to the SUT's Session-Sender address
//!   [`SENDER_ADDR`] port [`SENDER_PORT`], SSID [`COLLECTOR_SSID`]: what
//!   the SUT's STAMP collector consumes.
//!
//! A frame size `size` (without FCS; 0 = the smallest) pads the data
//! payload so that the frame has `max(size, minimum)` octets; STAMP frames
//! keep their own size.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::frames::{self, csum_update};

pub const GEN_MAC: [u8; 6] = [0x02, 0x5b, 0, 0, 0, 0x01];
pub const SUT_MAC: [u8; 6] = [0x02, 0x5b, 0, 0, 0, 0x02];
pub const WAN_MAC: [u8; 6] = [0x02, 0x5b, 0, 0, 0, 0x03];
pub const SINK_MAC: [u8; 6] = [0x02, 0x5b, 0, 0, 0, 0x04];

pub const INNER6_SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
pub const INNER6_DST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
pub const INNER4_SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
pub const INNER4_DST: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
pub const UDP_SPORT: u16 = 1024;
pub const UDP_DPORT: u16 = 9;
/// Source of the SRv6 packets the generator sends (an upstream edge).
pub const UPSTREAM: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xb, 0, 0, 0, 0, 0, 0x100);
/// The SUT's End SID.
pub const END_SID: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xa, 0, 0, 0, 0, 0, 0xe);
/// The SUT's End.DT6 SID.
pub const DT6_SID: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xa, 0, 0, 0, 0, 0, 0xd6);
/// The SUT's End.DT4 SID.
pub const DT4_SID: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xa, 0, 0, 0, 0, 0, 0xd4);
/// The SUT's encapsulation source (`[router] source`, the kernel's tunsrc).
pub const SUT_SRC: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xa, 0, 0, 0, 0, 0, 1);
/// The SUT's STAMP Session-Sender address (one of `[router] addresses`).
pub const SENDER_ADDR: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xa, 0, 0, 0, 0, 0, 0x5);
/// The SUT's Session-Sender UDP port (srv6d's default).
pub const SENDER_PORT: u16 = 50862;
/// The reflector the SUT's session measures (beyond the sink).
pub const FAR_REFLECTOR: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xb, 0, 0, 0, 0, 0, 0x862);
/// The SSID of the SUT's Session-Sender session.
pub const COLLECTOR_SSID: u16 = 0x5b6e;

/// Segments of the encapsulation policies: `S1..S4` (all in
/// `fc00:b::/48`, which the SUT routes to the sink).
pub fn sid(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfc00, 0xb, 0, 0, 0, 0, 0, i as u16 + 1)
}

const ETH: usize = 14;
const IP6: usize = 40;
const IP4: usize = 20;
const UDP: usize = 8;
/// Magic, sequence number, probe timestamp.
pub const PAYLOAD: usize = 24;
const MAGIC: &[u8; 8] = b"SRV6BNCH";

/// The generator's packet kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet {
    /// A plain IPv6 data packet (forwarding, or H.Encaps of IPv6).
    Ipv6,
    /// A plain IPv4 data packet (H.Encaps of IPv4).
    Ipv4,
    /// An SRv6 packet to the SUT's End SID.
    End,
    /// An SRv6 packet to the SUT's End.DT6 SID.
    EndDt6,
    /// An SRv6 packet to the SUT's End.DT4 SID.
    EndDt4,
    /// A STAMP test packet to the SUT's reflector.
    StampTest,
    /// A STAMP reply to the SUT's Session-Sender.
    StampReply,
}

impl Packet {
    pub const ALL: [Packet; 7] = [
        Packet::Ipv6,
        Packet::Ipv4,
        Packet::End,
        Packet::EndDt6,
        Packet::EndDt4,
        Packet::StampTest,
        Packet::StampReply,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Packet::Ipv6 => "ipv6",
            Packet::Ipv4 => "ipv4",
            Packet::End => "end",
            Packet::EndDt6 => "end-dt6",
            Packet::EndDt4 => "end-dt4",
            Packet::StampTest => "stamp-test",
            Packet::StampReply => "stamp-reply",
        }
    }

    /// Does the frame carry a data packet (flows, sequence, probes)?
    #[cfg(test)]
    pub fn is_data(self) -> bool {
        !matches!(self, Packet::StampTest | Packet::StampReply)
    }

    fn inner_v4(self) -> bool {
        matches!(self, Packet::Ipv4 | Packet::EndDt4)
    }

    /// Octets in front of the data packet (Ethernet and any outer headers).
    fn outer_len(self) -> usize {
        match self {
            Packet::Ipv6 | Packet::Ipv4 => ETH,
            Packet::End => ETH + IP6 + 8 + 2 * 16,
            Packet::EndDt6 | Packet::EndDt4 => ETH + IP6,
            Packet::StampTest | Packet::StampReply => 0,
        }
    }
}

fn ip6(payload_len: usize, next: u8, src: Ipv6Addr, dst: Ipv6Addr, out: &mut Vec<u8>) {
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&(payload_len as u16).to_be_bytes());
    out.push(next);
    out.push(64);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
}

fn ones_sum(data: &[u8], mut sum: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(u16::from_be_bytes([*last, 0]));
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The data packet (IPv4 or IPv6 + UDP + payload), `pad` zero octets of
/// padding, flow 0, sequence 0, no timestamp, checksums valid.
fn data_packet(v4: bool, pad: usize) -> Vec<u8> {
    let udp_len = UDP + PAYLOAD + pad;
    let mut p = Vec::with_capacity(IP6 + udp_len);
    let pseudo = if v4 {
        let total = (IP4 + udp_len) as u16;
        let mut h = [0u8; IP4];
        h[0] = 0x45;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[8] = 64;
        h[9] = 17;
        h[12..16].copy_from_slice(&INNER4_SRC.octets());
        h[16..20].copy_from_slice(&INNER4_DST.octets());
        let c = !fold(ones_sum(&h, 0));
        h[10..12].copy_from_slice(&c.to_be_bytes());
        p.extend_from_slice(&h);
        ones_sum(&h[12..20], udp_len as u32 + 17)
    } else {
        ip6(udp_len, 17, INNER6_SRC, INNER6_DST, &mut p);
        ones_sum(&p[8..40], udp_len as u32 + 17)
    };
    let u = p.len();
    p.extend_from_slice(&UDP_SPORT.to_be_bytes());
    p.extend_from_slice(&UDP_DPORT.to_be_bytes());
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(MAGIC);
    p.resize(u + udp_len, 0);
    let c = match !fold(ones_sum(&p[u..], pseudo)) {
        0 => 0xffff,
        c => c,
    };
    p[u + 6..u + 8].copy_from_slice(&c.to_be_bytes());
    p
}

fn eth(dst: [u8; 6], src: [u8; 6], v4: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(&dst);
    out.extend_from_slice(&src);
    out.extend_from_slice(if v4 { &[0x08, 0x00] } else { &[0x86, 0xdd] });
}

/// The smallest frame of `packet` (without FCS).
pub fn min_len(packet: Packet) -> usize {
    match packet {
        Packet::StampTest | Packet::StampReply => frames::STAMP_FRAME,
        p => p.outer_len() + if p.inner_v4() { IP4 } else { IP6 } + UDP + PAYLOAD,
    }
}

/// The template of `packet`, `size` octets long if that is at least the
/// minimum (data packets only; 0: the minimum).
pub fn build(packet: Packet, size: usize) -> Vec<u8> {
    let pad = size.saturating_sub(min_len(packet));
    let mut f = Vec::with_capacity(min_len(packet) + pad);
    match packet {
        Packet::Ipv6 | Packet::Ipv4 => {
            eth(SUT_MAC, GEN_MAC, packet.inner_v4(), &mut f);
            f.extend_from_slice(&data_packet(packet.inner_v4(), pad));
        }
        Packet::End => {
            let inner = data_packet(false, pad);
            eth(SUT_MAC, GEN_MAC, false, &mut f);
            ip6(40 + inner.len(), 43, UPSTREAM, END_SID, &mut f);
            f.extend_from_slice(&[41, 4, 4, 1, 1, 0, 0, 0]);
            f.extend_from_slice(&sid(1).octets());
            f.extend_from_slice(&END_SID.octets());
            f.extend_from_slice(&inner);
        }
        Packet::EndDt6 | Packet::EndDt4 => {
            let v4 = packet.inner_v4();
            let inner = data_packet(v4, pad);
            eth(SUT_MAC, GEN_MAC, false, &mut f);
            let (next, dst) = if v4 { (4, DT4_SID) } else { (41, DT6_SID) };
            ip6(inner.len(), next, UPSTREAM, dst, &mut f);
            f.extend_from_slice(&inner);
        }
        Packet::StampTest => f = frames::stamp_frame(SUT_MAC, GEN_MAC),
        Packet::StampReply => f = stamp_reply_frame(),
    }
    f
}

/// A Session-Reflector packet (sequence 0) as the SUT's collector expects
/// it: from [`FAR_REFLECTOR`]:862 to [`SENDER_ADDR`]:[`SENDER_PORT`].
fn stamp_reply_frame() -> Vec<u8> {
    use stamp::packet::{Mode, ReflectorPacket};
    let mut data = [0u8; frames::STAMP_DATA];
    {
        let mut r = ReflectorPacket::new_checked(&mut data[..], Mode::Unauthenticated)
            .expect("44 octets are an unauthenticated reflector packet");
        r.set_ssid(COLLECTOR_SSID);
        // T1 = 1, T2 = 2, T3 = 3 (NTP fractions): ordered, non-zero.
        r.set_sender_timestamp_bits(1);
        r.set_receive_timestamp_bits(2);
        r.set_timestamp_bits(3);
        r.set_sender_ttl(255);
    }
    let mut f = Vec::with_capacity(frames::STAMP_FRAME);
    eth(SUT_MAC, GEN_MAC, false, &mut f);
    ip6(UDP + data.len(), 17, FAR_REFLECTOR, SENDER_ADDR, &mut f);
    let u = f.len();
    f.extend_from_slice(&frames::STAMP_PORT.to_be_bytes());
    f.extend_from_slice(&SENDER_PORT.to_be_bytes());
    f.extend_from_slice(&((UDP + data.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&data);
    let c = match !frames::udp6_sum(&f[ETH..]) {
        0 => 0xffff,
        c => c,
    };
    f[u + 6..u + 8].copy_from_slice(&c.to_be_bytes());
    f
}

/// Offsets inside a reflector packet (RFC 8762 §4.3.1): Sequence Number
/// and Session-Sender Sequence Number.
const REPLY_SEQ: usize = ETH + IP6 + UDP;
const REPLY_SENDER_SEQ: usize = REPLY_SEQ + 16;

/// A template and how to turn it into frame number `seq`.
#[derive(Debug, Clone)]
pub struct Template {
    pub packet: Packet,
    pub frame: Vec<u8>,
    /// Where the data packet's UDP header starts (data packets).
    udp: usize,
}

impl Template {
    pub fn new(packet: Packet, size: usize) -> Template {
        let frame = build(packet, size);
        let udp = packet.outer_len() + if packet.inner_v4() { IP4 } else { IP6 };
        Template { packet, frame, udp }
    }

    /// Writes frame `seq` of flow `flow` into `buf` (at least as long as
    /// the template), with probe timestamp `ts_ns` (0: none; data packets
    /// only), checksums fixed up incrementally; returns its length.
    #[inline]
    pub fn write(&self, buf: &mut [u8], seq: u64, flow: u16, ts_ns: u64) -> usize {
        let n = self.frame.len();
        buf[..n].copy_from_slice(&self.frame);
        let f = &mut buf[..n];
        match self.packet {
            Packet::StampTest => frames::set_stamp_seq(f, seq),
            Packet::StampReply => {
                let s = (seq as u32).to_be_bytes();
                let u = REPLY_SEQ - UDP;
                let hc = u16::from_be_bytes([f[u + 6], f[u + 7]]);
                let hc = csum_update(
                    hc,
                    &[0; 8],
                    &[s[0], s[1], s[2], s[3], s[0], s[1], s[2], s[3]],
                );
                f[REPLY_SEQ..REPLY_SEQ + 4].copy_from_slice(&s);
                f[REPLY_SENDER_SEQ..REPLY_SENDER_SEQ + 4].copy_from_slice(&s);
                f[u + 6..u + 8].copy_from_slice(&hc.to_be_bytes());
            }
            _ => {
                let u = self.udp;
                let p = u + UDP;
                let mut new = [0u8; 18];
                new[..2].copy_from_slice(&UDP_SPORT.wrapping_add(flow).to_be_bytes());
                new[2..10].copy_from_slice(&seq.to_be_bytes());
                new[10..].copy_from_slice(&ts_ns.to_be_bytes());
                let mut old = [0u8; 18];
                old[..2].copy_from_slice(&UDP_SPORT.to_be_bytes());
                let hc = u16::from_be_bytes([f[u + 6], f[u + 7]]);
                let hc = csum_update(hc, &old, &new);
                f[u..u + 2].copy_from_slice(&new[..2]);
                f[p + 8..p + 24].copy_from_slice(&new[2..]);
                f[u + 6..u + 8].copy_from_slice(&hc.to_be_bytes());
            }
        }
        n
    }
}

/// Where [`Template::write`] changes a frame: octet offsets (0: no such
/// field) for the live-frame generator (perf/bpf/livegen.c), which
/// rewrites the same fields the same way in the kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fields {
    pub csum: usize,
    /// UDP source port = `sport_base + seq % flows`.
    pub sport: usize,
    pub sport_base: u16,
    pub flows: u64,
    /// 64-bit sequence number.
    pub seq64: usize,
    /// 32-bit sequence numbers (the low half), up to two copies.
    pub seq32: [usize; 2],
    /// 64-bit probe timestamp.
    pub ts: usize,
}

impl Template {
    /// The fields `write(buf, seq, (seq % flows) as u16, ts)` changes.
    pub fn fields(&self, flows: u64) -> Fields {
        match self.packet {
            Packet::StampTest => Fields {
                csum: frames::STAMP_CSUM,
                sport: frames::STAMP_UDP,
                sport_base: frames::STAMP_SPORT_BASE,
                flows: frames::STAMP_FLOWS,
                seq32: [frames::STAMP_SEQ, 0],
                ..Fields::default()
            },
            Packet::StampReply => Fields {
                csum: REPLY_SEQ - UDP + 6,
                seq32: [REPLY_SEQ, REPLY_SENDER_SEQ],
                ..Fields::default()
            },
            _ => Fields {
                csum: self.udp + 6,
                sport: self.udp,
                sport_base: UDP_SPORT,
                flows: flows.max(1),
                seq64: self.udp + UDP + 8,
                ts: self.udp + UDP + 16,
                ..Fields::default()
            },
        }
    }
}

/// What a frame the receiver accepted was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub seq: u64,
    /// The probe timestamp (0: not a probe).
    pub ts_ns: u64,
    /// A STAMP reply (not a data packet).
    pub stamp: bool,
}

/// An expected output frame: its bytes (at sequence 0, flow 0) and the
/// octets the SUT may legitimately change or that vary per frame.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub bytes: Vec<u8>,
    /// Octets not compared: [start, end) ranges, sorted.
    ignore: Vec<(usize, usize)>,
    /// Where the payload (magic, sequence, timestamp) starts.
    payload: usize,
}

impl Pattern {
    #[inline]
    fn check(&self, f: &[u8]) -> Option<Hit> {
        if f.len() != self.bytes.len() {
            return None;
        }
        let mut at = 0;
        for &(s, e) in &self.ignore {
            if f[at..s] != self.bytes[at..s] {
                return None;
            }
            at = e;
        }
        if f[at..] != self.bytes[at..] {
            return None;
        }
        let p = self.payload;
        let word = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&f[o..o + 8]);
            u64::from_be_bytes(b)
        };
        Some(Hit {
            seq: word(p + 8),
            ts_ns: word(p + 16),
            stamp: false,
        })
    }
}

/// How the SUT handles the data packets of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Forwarded unchanged (but for the hop limit).
    Forward,
    /// H.Encaps (or .Red when `reduced`) with `sids` segments.
    Encap { sids: usize, reduced: bool },
    /// End: next segment.
    End,
    /// Decapsulated (End.DT6 / End.DT4).
    Decap,
}

/// The expected output for data packets `packet` of size `size`.
pub fn expected(packet: Packet, size: usize, out: Output) -> Pattern {
    let t = build(packet, size);
    let v4 = packet.inner_v4();
    let inner_at = packet.outer_len();
    let inner = &t[inner_at..];
    let mut f = Vec::with_capacity(t.len() + 100);
    let mut ignore = Vec::new();
    let ign_ip6 = |at: usize, ignore: &mut Vec<(usize, usize)>| {
        ignore.push((at, at + 4)); // version, Traffic Class, Flow Label
        ignore.push((at + 7, at + 8)); // Hop Limit
    };
    let outer_ip6 = !(v4 && matches!(out, Output::Forward | Output::Decap));
    eth(SINK_MAC, WAN_MAC, !outer_ip6, &mut f);
    match out {
        Output::Forward | Output::Decap => {}
        Output::Encap { sids, reduced } => {
            let in_srh: Vec<Ipv6Addr> = (0..sids)
                .rev()
                .filter(|&i| !(reduced && i == 0))
                .map(sid)
                .collect();
            let next = if v4 { 4 } else { 41 };
            let srh_len = if in_srh.is_empty() {
                0
            } else {
                8 + 16 * in_srh.len()
            };
            ign_ip6(f.len(), &mut ignore);
            ip6(
                srh_len + inner.len(),
                if srh_len > 0 { 43 } else { next },
                SUT_SRC,
                sid(0),
                &mut f,
            );
            if srh_len > 0 {
                let s = f.len();
                let le = in_srh.len() - 1;
                f.extend_from_slice(&[
                    next,
                    (2 * in_srh.len()) as u8,
                    4,
                    (sids - 1) as u8,
                    le as u8,
                    0,
                    0,
                    0,
                ]);
                ignore.push((s + 5, s + 8)); // flags, tag
                for a in in_srh {
                    f.extend_from_slice(&a.octets());
                }
            }
        }
        Output::End => {
            let mut outer = t[ETH..inner_at].to_vec();
            outer[24..40].copy_from_slice(&sid(1).octets());
            outer[IP6 + 3] = 0; // Segments Left
            ign_ip6(f.len(), &mut ignore);
            ignore.push((f.len() + IP6 + 5, f.len() + IP6 + 8));
            f.extend_from_slice(&outer);
        }
    }
    let i = f.len();
    let udp = if v4 {
        ignore.push((i + 1, i + 2)); // TOS
        ignore.push((i + 8, i + 9)); // TTL
        ignore.push((i + 10, i + 12)); // header checksum
        i + IP4
    } else {
        ign_ip6(i, &mut ignore);
        i + IP6
    };
    f.extend_from_slice(inner);
    ignore.push((udp, udp + 2)); // source port: the flow
    ignore.push((udp + 6, udp + 8)); // checksum: follows sequence and flow
    let payload = udp + UDP;
    ignore.push((payload + 8, payload + 24)); // sequence, timestamp
    ignore.sort_unstable();
    Pattern {
        bytes: f,
        ignore,
        payload,
    }
}

/// What the receiver accepts: any of the patterns, or (when `stamp`) a
/// correct STAMP reply to the generator's test packets.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    pub patterns: Vec<Pattern>,
    pub stamp: bool,
}

impl Matcher {
    #[inline]
    pub fn check(&self, f: &[u8], len: usize) -> Option<Hit> {
        if f.len() < len {
            return None;
        }
        for p in &self.patterns {
            if let Some(h) = p.check(&f[..len]) {
                return Some(h);
            }
        }
        if self.stamp {
            if let Some(seq) = frames::check_stamp(f, len) {
                return Some(Hit {
                    seq,
                    ts_ns: 0,
                    stamp: true,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_ok(f: &[u8], l3: usize, v4: bool) -> bool {
        let (hdr, pseudo) = if v4 {
            let udp_len = f.len() - l3 - IP4;
            (IP4, ones_sum(&f[l3 + 12..l3 + 20], udp_len as u32 + 17))
        } else {
            let udp_len = f.len() - l3 - IP6;
            (IP6, ones_sum(&f[l3 + 8..l3 + 40], udp_len as u32 + 17))
        };
        fold(ones_sum(&f[l3 + hdr..], pseudo)) == 0xffff
    }

    #[test]
    fn minimum_sizes_and_padding() {
        assert_eq!(min_len(Packet::Ipv6), 86);
        assert_eq!(min_len(Packet::Ipv4), 66);
        assert_eq!(min_len(Packet::End), 166);
        assert_eq!(min_len(Packet::EndDt6), 126);
        assert_eq!(min_len(Packet::EndDt4), 106);
        for p in Packet::ALL {
            assert_eq!(build(p, 0).len(), min_len(p), "{p:?}");
            assert_eq!(build(p, 60).len(), min_len(p), "{p:?}");
            let big = build(p, 1514).len();
            assert_eq!(big, if p.is_data() { 1514 } else { min_len(p) }, "{p:?}");
        }
    }

    #[test]
    fn frames_keep_valid_checksums_whatever_the_flow_sequence_and_timestamp() {
        for p in Packet::ALL {
            for size in [0, 590, 1514] {
                let t = Template::new(p, size);
                let mut buf = vec![0u8; 2048];
                for (seq, flow, ts) in [(0, 0, 0), (1, 3, 0), (0xdead_beef_1234, 63, 987_654_321)] {
                    let n = t.write(&mut buf, seq, flow, ts);
                    let f = &buf[..n];
                    let l3 = p.outer_len().max(ETH);
                    let ok = match p {
                        Packet::StampTest | Packet::StampReply => {
                            frames::udp6_sum(&f[ETH..]) == 0xffff
                        }
                        _ => udp_ok(f, l3, p.inner_v4()),
                    };
                    assert!(ok, "{p:?} size {size} seq {seq}: bad UDP checksum");
                    if p.inner_v4() {
                        assert_eq!(
                            fold(ones_sum(&f[l3..l3 + IP4], 0)),
                            0xffff,
                            "{p:?} IPv4 header checksum"
                        );
                    }
                }
            }
        }
    }

    /// What an SRv6 router would do to a data frame, done by hand here (not
    /// with [`expected`]'s code): the matcher accepts it, reads sequence
    /// and timestamp back, and refuses it once any checked octet changes.
    #[test]
    fn matcher_accepts_the_transformed_frame_and_nothing_else() {
        let t = Template::new(Packet::Ipv6, 0);
        let mut buf = [0u8; 256];
        let n = t.write(&mut buf, 77, 5, 123_456);
        let inner = buf[ETH..n].to_vec();
        // H.Encaps, 2 SIDs, by hand.
        let mut out = Vec::new();
        out.extend_from_slice(&SINK_MAC);
        out.extend_from_slice(&WAN_MAC);
        out.extend_from_slice(&[0x86, 0xdd]);
        out.extend_from_slice(&[0x60, 0x0a, 0xbc, 0xde]); // some flow label
        out.extend_from_slice(&((40 + inner.len()) as u16).to_be_bytes());
        out.extend_from_slice(&[43, 63]);
        out.extend_from_slice(&SUT_SRC.octets());
        out.extend_from_slice(&sid(0).octets());
        out.extend_from_slice(&[41, 4, 4, 1, 1, 0, 0, 0]);
        out.extend_from_slice(&sid(1).octets());
        out.extend_from_slice(&sid(0).octets());
        let hl = out.len() + 7;
        out.extend_from_slice(&inner);
        out[hl] = 63; // inner Hop Limit decremented
        let m = Matcher {
            patterns: vec![expected(
                Packet::Ipv6,
                0,
                Output::Encap {
                    sids: 2,
                    reduced: false,
                },
            )],
            stamp: false,
        };
        assert_eq!(
            m.check(&out, out.len()),
            Some(Hit {
                seq: 77,
                ts_ns: 123_456,
                stamp: false
            })
        );
        // Flip each octet that must be checked: refused.
        let checked = [
            0,
            6,
            12,
            14 + 6,
            14 + 8,
            14 + 24,
            14 + 40,
            14 + 43,
            14 + 48,
            14 + 64,
            out.len() - 30, // inner destination
            out.len() - 24, // magic
        ];
        for at in checked {
            let mut bad = out.clone();
            bad[at] ^= 0x40;
            assert_eq!(
                m.check(&bad, bad.len()),
                None,
                "octet {at} changed but accepted"
            );
        }
        assert_eq!(m.check(&out[..out.len() - 1], out.len() - 1), None);
        // The reduced form of 2 SIDs has one SRH entry: not this pattern.
        let red = Matcher {
            patterns: vec![expected(
                Packet::Ipv6,
                0,
                Output::Encap {
                    sids: 2,
                    reduced: true,
                },
            )],
            stamp: false,
        };
        assert_eq!(red.check(&out, out.len()), None);
    }

    #[test]
    fn expected_shapes() {
        let enc = |sids, reduced| expected(Packet::Ipv6, 0, Output::Encap { sids, reduced }).bytes;
        // Reduced with one SID: no SRH; full with one SID: an SRH of one.
        assert_eq!(enc(1, true).len(), 14 + 40 + 72);
        assert_eq!(enc(1, false).len(), 14 + 40 + 24 + 72);
        assert_eq!(enc(4, false).len(), 14 + 40 + 8 + 64 + 72);
        assert_eq!(enc(4, true).len(), 14 + 40 + 8 + 48 + 72);
        let r = enc(4, true);
        assert_eq!(&r[14 + 40..14 + 40 + 8][..5], &[41, 6, 4, 3, 2]);
        assert_eq!(&r[14 + 48..14 + 64], &sid(3).octets());
        let v4 = expected(
            Packet::Ipv4,
            0,
            Output::Encap {
                sids: 1,
                reduced: false,
            },
        )
        .bytes;
        assert_eq!(v4[14 + 40], 4, "SRH next header: IPv4");
        let dt4 = expected(Packet::EndDt4, 0, Output::Decap).bytes;
        assert_eq!((dt4.len(), &dt4[12..14]), (66, &[8u8, 0][..]));
        let end = expected(Packet::End, 0, Output::End).bytes;
        assert_eq!(&end[14 + 24..14 + 40], &sid(1).octets());
        assert_eq!(end[14 + 40 + 3], 0);
    }
}
