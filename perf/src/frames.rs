//! The test frames: what the generator sends and what the sink expects.
//!
//! Generator → SUT: Ethernet + IPv6 (2001:db8:1::1 → 2001:db8:2::1) + UDP
//! (1024 → 9) + 16 octets of payload (magic + sequence number): 78 octets.
//! SUT → sink, expected: Ethernet + outer IPv6 (SA = the SUT's encapsulation
//! source, DA = S1, next header 43) + SRH (type 4, Segments Left 1, Last
//! Entry 1, segment list [S2, S1], next header 41) + the inner packet
//! unchanged except for its Hop Limit: 158 octets.
//!
//! STAMP phase: generator → SUT: Ethernet + IPv6 ([`STAMP_SENDER`] → the
//! router address [`STAMP_REFLECTOR`]) + UDP (a source port per flow →
//! 862) + a 44-octet unauthenticated STAMP Session-Sender test packet
//! (RFC 8762 §4.2.1): 106 octets. SUT → sink, expected: the Session-Reflector's reply
//! (RFC 8762 §4.3.1), same length, addresses and ports swapped.

use std::net::Ipv6Addr;

pub const MAGIC: &[u8; 8] = b"SRV6BNCH";
pub const INNER_SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
pub const INNER_DST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
pub const S1: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xb, 0, 0, 0, 0, 0, 1);
pub const S2: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xb, 0, 0, 0, 0, 0, 2);
pub const UDP_SPORT: u16 = 1024;
pub const UDP_DPORT: u16 = 9;

pub const ETH: usize = 14;
pub const IP6: usize = 40;
pub const SRH: usize = 8 + 2 * 16;
pub const UDP: usize = 8;
pub const PAYLOAD: usize = 16;
/// Length of the inner IPv6 packet.
pub const INNER_LEN: usize = IP6 + UDP + PAYLOAD;
/// Generator frame length (78).
pub const GEN_FRAME: usize = ETH + INNER_LEN;
/// Expected encapsulated frame length (158).
pub const ENCAP_FRAME: usize = ETH + IP6 + SRH + INNER_LEN;
/// Offset of the sequence number inside the inner packet.
const SEQ_IN_INNER: usize = IP6 + UDP + 8;
/// Offset of the UDP checksum inside the inner packet.
const CSUM_IN_INNER: usize = IP6 + 6;

/// The STAMP Session-Sender's address (the generator's): inside
/// `fc00:b::/48`, which the SUT routes toward the sink, so the replies go
/// there.
pub const STAMP_SENDER: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xb, 0, 0, 0, 0, 0, 0x5);
/// The router address srv6d's inline reflector answers on (`[router]
/// addresses`).
pub const STAMP_REFLECTOR: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xa, 0, 0, 0, 0, 0, 0x862);
/// The reflector's UDP port (srv6d's default `stamp_port`).
pub const STAMP_PORT: u16 = 862;
/// Session-Sender source ports: `STAMP_SPORT_BASE + seq % STAMP_FLOWS`.
pub const STAMP_SPORT_BASE: u16 = 40000;
/// Number of flows (source ports) of the STAMP phase.
pub const STAMP_FLOWS: u64 = 64;
/// The test packets' SSID (RFC 8972 §3; unknown to srv6d, which reflects
/// unknown SSIDs statelessly by default).
pub const STAMP_SSID: u16 = 0x5b6d;
/// The test packets' T1 (Unix ns; fixed: the sink checks it is echoed).
const STAMP_T1_NS: i64 = 1_795_000_000_000_000_000;
/// UDP data length of an unauthenticated STAMP packet, either role (44).
pub const STAMP_DATA: usize = stamp::packet::SENDER_LEN_UNAUTH;
/// STAMP frame length, test packet and reply (14 + 40 + 8 + 44 = 106).
pub const STAMP_FRAME: usize = ETH + IP6 + UDP + STAMP_DATA;
/// Hop Limit of the generator's STAMP packets (echoed as Sender TTL).
const STAMP_HOP_LIMIT: u8 = 64;
pub const STAMP_UDP: usize = ETH + IP6;
pub const STAMP_CSUM: usize = STAMP_UDP + 6;
pub const STAMP_SEQ: usize = STAMP_UDP + UDP;

fn eth(dst: [u8; 6], src: [u8; 6], out: &mut Vec<u8>) {
    out.extend_from_slice(&dst);
    out.extend_from_slice(&src);
    out.extend_from_slice(&0x86ddu16.to_be_bytes());
}

fn ip6(payload_len: usize, next: u8, hop: u8, src: Ipv6Addr, dst: Ipv6Addr, out: &mut Vec<u8>) {
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&(payload_len as u16).to_be_bytes());
    out.push(next);
    out.push(hop);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
}

/// The inner IPv6/UDP packet with sequence number `seq` and a valid UDP
/// checksum.
pub fn inner(seq: u64) -> Vec<u8> {
    let mut p = Vec::with_capacity(INNER_LEN);
    ip6(UDP + PAYLOAD, 17, 64, INNER_SRC, INNER_DST, &mut p);
    p.extend_from_slice(&UDP_SPORT.to_be_bytes());
    p.extend_from_slice(&UDP_DPORT.to_be_bytes());
    p.extend_from_slice(&((UDP + PAYLOAD) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(MAGIC);
    p.extend_from_slice(&seq.to_be_bytes());
    set_seq(&mut p, seq);
    p
}

/// Writes `seq` into an inner packet and recomputes its UDP checksum.
pub fn set_seq(inner: &mut [u8], seq: u64) {
    inner[SEQ_IN_INNER..SEQ_IN_INNER + 8].copy_from_slice(&seq.to_be_bytes());
    inner[CSUM_IN_INNER..CSUM_IN_INNER + 2].copy_from_slice(&[0, 0]);
    let mut sum: u32 = 0;
    // Pseudo-header: source, destination, upper-layer length, next header.
    for c in inner[8..40].chunks_exact(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    sum += (UDP + PAYLOAD) as u32 + 17;
    for c in inner[IP6..].chunks_exact(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let mut csum = !(sum as u16);
    if csum == 0 {
        csum = 0xffff;
    }
    inner[CSUM_IN_INNER..CSUM_IN_INNER + 2].copy_from_slice(&csum.to_be_bytes());
}

/// The UDP checksum of the IPv6 packet `ip` (fixed header + UDP datagram,
/// no extension headers) with its checksum field counted as is: 0xffff
/// when the field is right. With the field zeroed, `!result` is the
/// checksum to write.
pub fn udp6_sum(ip: &[u8]) -> u16 {
    let udp_len = ip.len() - IP6;
    let mut sum: u32 = 0;
    for c in ip[8..40].chunks_exact(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    sum += udp_len as u32 + 17;
    let mut words = ip[IP6..].chunks_exact(2);
    for c in &mut words {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// RFC 1624 (eqn. 3) incremental update of an internet checksum `hc`
/// after the 16-bit-aligned octets `old` were replaced by `new` (same
/// length, even): HC' = ~(~HC + ~m + m'). A result of 0 is returned as
/// 0xffff (the same value in one's complement; a UDP checksum of 0 means
/// "none", which IPv6 forbids).
pub fn csum_update(hc: u16, old: &[u8], new: &[u8]) -> u16 {
    debug_assert_eq!(old.len(), new.len());
    debug_assert_eq!(old.len() % 2, 0);
    let mut sum = u32::from(!hc);
    for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
        sum += u32::from(!u16::from_be_bytes([o[0], o[1]]));
        sum += u32::from(u16::from_be_bytes([n[0], n[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    match !(sum as u16) {
        0 => 0xffff,
        c => c,
    }
}

/// The source port of STAMP test packet `seq`.
pub fn stamp_sport(seq: u64) -> u16 {
    STAMP_SPORT_BASE + (seq % STAMP_FLOWS) as u16
}

/// A STAMP Session-Sender test packet in a frame toward the SUT (built by
/// the `stamp` crate's [`stamp::sender::SenderSession`]), sequence number
/// 0, with a valid UDP checksum; [`set_stamp_seq`] moves it on.
pub fn stamp_frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
    use stamp::packet::Mode;
    use stamp::sender::SenderSession;
    use stamp::time::TimestampFormat;
    let mut session = SenderSession::new(
        STAMP_SSID,
        Mode::Unauthenticated,
        None,
        TimestampFormat::Ntp,
        STAMP_ERROR_ESTIMATE,
        STAMP_DATA,
    )
    .expect("valid STAMP session parameters");
    let mut data = [0u8; STAMP_DATA];
    let (seq, _) = session.build(&mut data, || STAMP_T1_NS);
    debug_assert_eq!(seq, 0);
    let mut f = Vec::with_capacity(STAMP_FRAME);
    eth(dst, src, &mut f);
    ip6(
        UDP + STAMP_DATA,
        17,
        STAMP_HOP_LIMIT,
        STAMP_SENDER,
        STAMP_REFLECTOR,
        &mut f,
    );
    f.extend_from_slice(&stamp_sport(0).to_be_bytes());
    f.extend_from_slice(&STAMP_PORT.to_be_bytes());
    f.extend_from_slice(&((UDP + STAMP_DATA) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&data);
    let csum = match !udp6_sum(&f[ETH..]) {
        0 => 0xffff,
        c => c,
    };
    f[STAMP_CSUM..STAMP_CSUM + 2].copy_from_slice(&csum.to_be_bytes());
    f
}

/// Sets a [`stamp_frame`]'s Sequence Number (`seq` mod 2^32) and source
/// port ([`stamp_sport`]) and fixes its UDP checksum up incrementally
/// (RFC 1624) from whatever the frame held before: per frame, no sum over
/// the packet.
pub fn set_stamp_seq(f: &mut [u8], seq: u64) {
    let mut old = [0u8; 6];
    old[..2].copy_from_slice(&f[STAMP_UDP..STAMP_UDP + 2]);
    old[2..].copy_from_slice(&f[STAMP_SEQ..STAMP_SEQ + 4]);
    let mut new = [0u8; 6];
    new[..2].copy_from_slice(&stamp_sport(seq).to_be_bytes());
    new[2..].copy_from_slice(&(seq as u32).to_be_bytes());
    let hc = u16::from_be_bytes([f[STAMP_CSUM], f[STAMP_CSUM + 1]]);
    let hc = csum_update(hc, &old, &new);
    f[STAMP_UDP..STAMP_UDP + 2].copy_from_slice(&new[..2]);
    f[STAMP_SEQ..STAMP_SEQ + 4].copy_from_slice(&new[2..]);
    f[STAMP_CSUM..STAMP_CSUM + 2].copy_from_slice(&hc.to_be_bytes());
}

/// Is `f` (real length `len`) a valid Session-Reflector reply (RFC 8762
/// §4.3.1, stateless) to one of the generator's test packets: IPv6 from
/// the router address to [`STAMP_SENDER`], UDP from port 862 to the
/// test packet's source port, a correct UDP checksum, 44 octets of
/// reflector packet with the test packet's SSID, its Sequence Number
/// echoed as the Session-Sender Sequence Number and used as its own
/// (stateless), the source port matching that sequence number's flow, the
/// Session-Sender Timestamp, Error Estimate and TTL echoed, MBZ zero and a
/// Receive Timestamp set. Returns the echoed sequence number if so.
/// Traffic Class, Flow Label and the Hop Limit are not checked.
pub fn check_stamp(f: &[u8], len: usize) -> Option<u64> {
    use stamp::packet::{Mode, ReflectorPacket};
    if len != STAMP_FRAME || f.len() < STAMP_FRAME {
        return None;
    }
    let o = ETH;
    let u = STAMP_UDP;
    let ok = f[12..14] == [0x86, 0xdd]
        && f[o] >> 4 == 6
        && u16::from_be_bytes([f[o + 4], f[o + 5]]) as usize == UDP + STAMP_DATA
        && f[o + 6] == 17
        && f[o + 8..o + 24] == STAMP_REFLECTOR.octets()
        && f[o + 24..o + 40] == STAMP_SENDER.octets()
        && f[u..u + 2] == STAMP_PORT.to_be_bytes()
        && u16::from_be_bytes([f[u + 4], f[u + 5]]) as usize == UDP + STAMP_DATA
        && f[u + 6..u + 8] != [0, 0]
        && udp6_sum(&f[o..STAMP_FRAME]) == 0xffff;
    if !ok {
        return None;
    }
    let r = ReflectorPacket::new_checked(&f[STAMP_SEQ..STAMP_FRAME], Mode::Unauthenticated).ok()?;
    let seq = r.sender_sequence();
    let dport = u16::from_be_bytes([f[u + 2], f[u + 3]]);
    let ok = r.sequence() == seq
        && dport == stamp_sport(u64::from(seq))
        && r.ssid() == STAMP_SSID
        && r.sender_timestamp_bits() == stamp_t1_bits()
        && r.sender_error_estimate_bits() == STAMP_ERROR_ESTIMATE.to_bits()
        && r.sender_ttl() == STAMP_HOP_LIMIT
        && r.receive_timestamp_bits() != 0
        && r.mbz_is_zero();
    ok.then_some(u64::from(seq))
}

/// Error Estimate of the test packets: not synchronised, NTP format,
/// 1 ms (1 * 2^-32 * 2^22 s).
const STAMP_ERROR_ESTIMATE: stamp::time::ErrorEstimate = stamp::time::ErrorEstimate {
    synchronized: false,
    ptp: false,
    scale: 22,
    multiplier: 1,
};

/// The test packets' Timestamp field (NTP format of [`STAMP_T1_NS`]).
fn stamp_t1_bits() -> u64 {
    use stamp::time::{Timestamp, TimestampFormat};
    Timestamp::from_unix_nanos(TimestampFormat::Ntp, i128::from(STAMP_T1_NS)).to_bits()
}

/// What the sink counts as delivered intact.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// The H.Encaps output with this outer source ([`check_encap`]).
    Encap { outer_src: [u8; 16] },
    /// A STAMP reply from the router address ([`check_stamp`]).
    Stamp,
}

impl Expect {
    /// The frame's sequence number if it is intact.
    #[inline]
    pub fn check(&self, f: &[u8], len: usize) -> Option<u64> {
        match self {
            Expect::Encap { outer_src } => check_encap(f, len, outer_src),
            Expect::Stamp => check_stamp(f, len),
        }
    }
}

/// A generator frame toward the SUT.
pub fn gen_frame(dst: [u8; 6], src: [u8; 6], seq: u64) -> Vec<u8> {
    let mut f = Vec::with_capacity(GEN_FRAME);
    eth(dst, src, &mut f);
    f.extend_from_slice(&inner(seq));
    f
}

/// The frame a correct H.Encaps (2 SIDs) of [`gen_frame`] would produce
/// (used by the generator-ceiling phase, which bypasses the SUT).
pub fn encap_frame(dst: [u8; 6], src: [u8; 6], outer_src: Ipv6Addr, seq: u64) -> Vec<u8> {
    let mut f = Vec::with_capacity(ENCAP_FRAME);
    eth(dst, src, &mut f);
    ip6(SRH + INNER_LEN, 43, 63, outer_src, S1, &mut f);
    f.extend_from_slice(&[41, 4, 4, 1, 1, 0, 0, 0]);
    f.extend_from_slice(&S2.octets());
    f.extend_from_slice(&S1.octets());
    f.extend_from_slice(&inner(seq));
    f
}

/// Offset of the inner packet in a frame of either kind.
pub fn inner_offset(encapsulated: bool) -> usize {
    if encapsulated {
        ETH + IP6 + SRH
    } else {
        ETH
    }
}

/// Is `f` (of real length `len`; `f` may be a truncated copy) exactly the
/// expected H.Encaps output with outer source `outer_src`? Returns the
/// sequence number if so. Hop Limits, Traffic Class, Flow Label and the
/// SRH's Flags/Tag are not checked.
pub fn check_encap(f: &[u8], len: usize, outer_src: &[u8; 16]) -> Option<u64> {
    if len != ENCAP_FRAME || f.len() < ENCAP_FRAME {
        return None;
    }
    let o = ETH;
    let s = o + IP6;
    let i = s + SRH;
    let ok = f[12..14] == [0x86, 0xdd]
        && f[o] >> 4 == 6
        && u16::from_be_bytes([f[o + 4], f[o + 5]]) as usize == SRH + INNER_LEN
        && f[o + 6] == 43
        && f[o + 8..o + 24] == outer_src[..]
        && f[o + 24..o + 40] == S1.octets()
        && f[s] == 41
        && f[s + 1] == 4
        && f[s + 2] == 4
        && f[s + 3] == 1
        && f[s + 4] == 1
        && f[s + 8..s + 24] == S2.octets()
        && f[s + 24..s + 40] == S1.octets()
        && f[i] >> 4 == 6
        && u16::from_be_bytes([f[i + 4], f[i + 5]]) as usize == UDP + PAYLOAD
        && f[i + 6] == 17
        && f[i + 8..i + 24] == INNER_SRC.octets()
        && f[i + 24..i + 40] == INNER_DST.octets()
        && f[i + 40..i + 42] == UDP_SPORT.to_be_bytes()
        && f[i + 42..i + 44] == UDP_DPORT.to_be_bytes()
        && f[i + 48..i + 56] == MAGIC[..];
    if !ok {
        return None;
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&f[i + 56..i + 64]);
    Some(u64::from_be_bytes(seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_check() {
        let src = Ipv6Addr::new(0xfc00, 0xa, 0, 0, 0, 0, 0, 1);
        let g = gen_frame([2; 6], [3; 6], 7);
        assert_eq!(g.len(), GEN_FRAME);
        let e = encap_frame([2; 6], [3; 6], src, 42);
        assert_eq!(e.len(), ENCAP_FRAME);
        assert_eq!(check_encap(&e, e.len(), &src.octets()), Some(42));
        let other = Ipv6Addr::new(0xfc00, 0xa, 0, 0, 0, 0, 0, 2);
        assert_eq!(check_encap(&e, e.len(), &other.octets()), None);
        let mut bad = e.clone();
        bad[ETH + IP6 + 3] = 0; // Segments Left
        assert_eq!(check_encap(&bad, bad.len(), &src.octets()), None);
        assert_eq!(check_encap(&g, g.len(), &src.octets()), None);
    }

    #[test]
    fn udp_checksum_verifies() {
        let p = inner(0x0102_0304_0506_0708);
        let mut sum: u32 = 0;
        for c in p[8..40].chunks_exact(2) {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        sum += (UDP + PAYLOAD) as u32 + 17;
        for c in p[IP6..].chunks_exact(2) {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
    }

    /// The UDP checksum a full recompute gives (0 written as 0xffff).
    fn recomputed(f: &[u8]) -> u16 {
        let mut g = f.to_vec();
        g[STAMP_CSUM..STAMP_CSUM + 2].copy_from_slice(&[0, 0]);
        match !udp6_sum(&g[ETH..]) {
            0 => 0xffff,
            c => c,
        }
    }

    fn csum_field(f: &[u8]) -> u16 {
        u16::from_be_bytes([f[STAMP_CSUM], f[STAMP_CSUM + 1]])
    }

    #[test]
    fn stamp_frame_is_a_valid_test_packet() {
        use stamp::packet::{Mode, SenderPacket};
        let f = stamp_frame([2; 6], [3; 6]);
        assert_eq!(f.len(), STAMP_FRAME);
        assert_eq!(STAMP_FRAME, 106);
        assert_eq!(udp6_sum(&f[ETH..]), 0xffff);
        assert_eq!(csum_field(&f), recomputed(&f));
        let p = SenderPacket::new_checked(&f[STAMP_SEQ..], Mode::Unauthenticated).unwrap();
        assert_eq!(p.sequence(), 0);
        assert_eq!(p.ssid(), STAMP_SSID);
        assert_eq!(p.timestamp_bits(), stamp_t1_bits());
        assert!(p.mbz_is_zero());
        assert_eq!(f[STAMP_UDP..STAMP_UDP + 2], stamp_sport(0).to_be_bytes());
        assert_eq!(f[STAMP_UDP + 2..STAMP_UDP + 4], STAMP_PORT.to_be_bytes());
    }

    /// The per-frame incremental fix-up (RFC 1624) gives exactly what a
    /// full recompute gives, over many successive sequence numbers and
    /// flows in the same buffer (as the generator reuses its buffers), the
    /// 32-bit wrap, and jumps.
    #[test]
    fn stamp_checksum_fixup_matches_full_recompute() {
        let mut f = stamp_frame([2; 6], [3; 6]);
        let mut zero_sums = 0;
        let mut check = |f: &mut Vec<u8>, seq: u64| {
            set_stamp_seq(f, seq);
            assert_eq!(udp6_sum(&f[ETH..]), 0xffff, "seq {seq}: does not verify");
            let full = recomputed(f);
            assert_eq!(csum_field(f), full, "seq {seq}");
            if full == 0xffff {
                zero_sums += 1;
            }
            assert_eq!(f[STAMP_SEQ..STAMP_SEQ + 4], (seq as u32).to_be_bytes());
            assert_eq!(f[STAMP_UDP..STAMP_UDP + 2], stamp_sport(seq).to_be_bytes());
        };
        for seq in 0..300_000u64 {
            check(&mut f, seq);
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            check(&mut f, x);
        }
        for seq in [u64::from(u32::MAX) - 1, u64::from(u32::MAX), 1 << 32, 0, 5] {
            check(&mut f, seq);
        }
        // The fix-up met the checksum that must be written as 0xffff.
        assert!(zero_sums > 0);
    }

    #[test]
    fn csum_update_equals_recompute_on_arbitrary_words() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut data: Vec<u8> = (0..32).map(|_| next() as u8).collect();
            let sum = |d: &[u8]| {
                let mut s: u32 = d
                    .chunks_exact(2)
                    .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                    .sum();
                while s > 0xffff {
                    s = (s & 0xffff) + (s >> 16);
                }
                s as u16
            };
            let hc = !sum(&data);
            let at = (next() % 15) as usize * 2;
            let old = data[at..at + 4].to_vec();
            let new: Vec<u8> = old.iter().map(|_| next() as u8).collect();
            data[at..at + new.len()].copy_from_slice(&new);
            let updated = csum_update(hc, &old, &new);
            let full = match !sum(&data) {
                0 => 0xffff,
                c => c,
            };
            assert_eq!(updated, full);
        }
    }

    /// A reply made by the `stamp` crate's reflector (what srv6d runs),
    /// put into a frame as srv6d's `reply_in_place` does, is accepted;
    /// damaged or foreign ones are not.
    #[test]
    fn check_stamp_accepts_reflected_replies_only() {
        use stamp::reflector::{reflect, Received, ReflectorConfig, ReflectorState};
        use std::net::IpAddr;
        let mut f = stamp_frame([2; 6], [3; 6]);
        let seq = 70_001u64;
        set_stamp_seq(&mut f, seq);
        assert_eq!(check_stamp(&f, f.len()), None, "a test packet is no reply");
        let cfg = ReflectorConfig::default();
        let mut state = ReflectorState::new();
        let rx = Received {
            src: IpAddr::V6(STAMP_SENDER),
            dst: IpAddr::V6(STAMP_REFLECTOR),
            src_port: stamp_sport(seq),
            dst_port: STAMP_PORT,
            ttl: STAMP_HOP_LIMIT,
            traffic_class: 0,
            t2_ns: STAMP_T1_NS + 1000,
        };
        let mut r = f.clone();
        reflect(&cfg, &mut state, &mut r[STAMP_SEQ..], &rx, || {
            STAMP_T1_NS + 2000
        })
        .unwrap();
        // IPv6: swap the addresses, Hop Limit 255; UDP: swap the ports.
        r[ETH + 7] = 255;
        r[ETH + 8..ETH + 24].copy_from_slice(&STAMP_REFLECTOR.octets());
        r[ETH + 24..ETH + 40].copy_from_slice(&STAMP_SENDER.octets());
        r[STAMP_UDP..STAMP_UDP + 2].copy_from_slice(&STAMP_PORT.to_be_bytes());
        r[STAMP_UDP + 2..STAMP_UDP + 4].copy_from_slice(&stamp_sport(seq).to_be_bytes());
        let c = recomputed(&r);
        r[STAMP_CSUM..STAMP_CSUM + 2].copy_from_slice(&c.to_be_bytes());
        assert_eq!(check_stamp(&r, r.len()), Some(seq));
        assert_eq!(check_stamp(&r, r.len() + 1), None);

        let mut bad = r.clone();
        bad[STAMP_SEQ + 30] ^= 1; // Session-Sender Timestamp, checksum now wrong
        assert_eq!(check_stamp(&bad, bad.len()), None);
        let mut bad = r.clone();
        bad[ETH + 23] ^= 1; // another source address, checksum fixed up
        let c = recomputed(&bad);
        bad[STAMP_CSUM..STAMP_CSUM + 2].copy_from_slice(&c.to_be_bytes());
        assert_eq!(check_stamp(&bad, bad.len()), None);
        let mut bad = r.clone();
        // Another flow's port for this sequence number.
        bad[STAMP_UDP + 2..STAMP_UDP + 4].copy_from_slice(&stamp_sport(seq + 1).to_be_bytes());
        let c = recomputed(&bad);
        bad[STAMP_CSUM..STAMP_CSUM + 2].copy_from_slice(&c.to_be_bytes());
        assert_eq!(check_stamp(&bad, bad.len()), None);
    }
}
