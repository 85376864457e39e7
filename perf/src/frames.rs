//! The test frames: what the generator sends and what the sink expects.
//!
//! Generator → SUT: Ethernet + IPv6 (2001:db8:1::1 → 2001:db8:2::1) + UDP
//! (1024 → 9) + 16 octets of payload (magic + sequence number): 78 octets.
//! SUT → sink, expected: Ethernet + outer IPv6 (SA = the SUT's encapsulation
//! source, DA = S1, next header 43) + SRH (type 4, Segments Left 1, Last
//! Entry 1, segment list [S2, S1], next header 41) + the inner packet
//! unchanged except for its Hop Limit: 158 octets.

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
}
