//! The internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! What it is: one's-complement sums over byte slices, the IPv4 and IPv6
//! pseudo-headers that UDP, TCP and ICMPv6 checksums cover, and the RFC 1624
//! equation 3 update used when a router rewrites a field (TTL, an address)
//! without re-reading the whole packet.
//!
//! What it is not: it knows nothing about where a checksum field sits in a
//! header. The sums returned by [`data`], [`combine`] and the pseudo-header
//! functions are *not* inverted: a header's checksum field is `!sum` over the
//! header with the field zeroed, and a received header verifies when the sum
//! over it, field included, is `0xFFFF`.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::IpProtocol;

/// Folds a 64-bit one's-complement accumulator down to 16 bits
/// (end-around carry until nothing is left above bit 15).
#[inline]
const fn fold(mut sum: u64) -> u16 {
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

/// Adds `word` to `acc` in 64-bit one's-complement arithmetic (the carry out
/// of bit 63 wraps around into bit 0, so the accumulator never overflows).
#[inline]
const fn add_ones_complement(acc: u64, word: u64) -> u64 {
    let (sum, carry) = acc.overflowing_add(word);
    sum + carry as u64
}

/// The one's-complement sum of `data` taken as big-endian 16-bit words,
/// folded to 16 bits and not inverted (RFC 1071 §1).
///
/// An odd trailing octet is summed as if followed by a zero octet, so the sum
/// of a slice that starts at an even offset of the checksummed data is the
/// right contribution even when its length is odd. Works in 64-bit words
/// (one's-complement addition is associative in any word size, RFC 1071 §2(B))
/// and is correct for every length.
#[inline]
pub fn data(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        acc = add_ones_complement(acc, u64::from_be_bytes(word));
    }
    let mut rest = chunks.remainder();
    while rest.len() >= 2 {
        acc = add_ones_complement(acc, u64::from(u16::from_be_bytes([rest[0], rest[1]])));
        rest = &rest[2..];
    }
    if let [last] = rest {
        acc = add_ones_complement(acc, u64::from(*last) << 8);
    }
    fold(acc)
}

/// The one's-complement sum of already-folded partial sums (for example a
/// pseudo-header sum and a payload sum), folded and not inverted.
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    let mut acc: u64 = 0;
    for &sum in sums {
        acc += u64::from(sum);
    }
    fold(acc)
}

/// The sum of the IPv4 pseudo-header of RFC 768 / RFC 793: source, destination,
/// zero octet, protocol and the upper-layer length.
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, length: u16) -> u16 {
    let s = src.octets();
    let d = dst.octets();
    let acc = u64::from(u16::from_be_bytes([s[0], s[1]]))
        + u64::from(u16::from_be_bytes([s[2], s[3]]))
        + u64::from(u16::from_be_bytes([d[0], d[1]]))
        + u64::from(u16::from_be_bytes([d[2], d[3]]))
        + u64::from(protocol.0)
        + u64::from(length);
    fold(acc)
}

/// The sum of the IPv6 pseudo-header of RFC 8200 §8.1: source, destination,
/// 32-bit upper-layer packet length, three zero octets and the next header.
///
/// `next_header` is the upper-layer protocol (UDP, ICMPv6), not the value in
/// the IPv6 header when extension headers follow it; `dst` is the final
/// destination (the last segment of a Routing header), not the current one.
#[inline]
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: IpProtocol, length: u32) -> u16 {
    let acc = u64::from(data(&src.octets()))
        + u64::from(data(&dst.octets()))
        + u64::from(length >> 16)
        + u64::from(length & 0xFFFF)
        + u64::from(next_header.0);
    fold(acc)
}

/// RFC 1624 equation 3: the new checksum *field* after one 16-bit word of the
/// covered data changes from `old_word` to `new_word`,
/// `HC' = ~(~HC + ~m + m')`.
///
/// Unlike equation 2 this never turns a correct `0x0000` into `0xFFFF`
/// (RFC 1624 §3). The one case where it differs from a full recomputation is
/// when every covered word is zero after the change: the full sum is then
/// `+0` and recomputation gives `0xFFFF`, while this gives `0x0000`. No IPv4
/// header can be all zeros (its version nibble is 4), nor can a pseudo-header
/// covered message (the protocol number is non-zero).
#[inline]
pub fn update(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    !fold(u64::from(!old_checksum) + u64::from(!old_word) + u64::from(new_word))
}

/// [`update`] for a 32-bit aligned field (two consecutive 16-bit words
/// starting at an even offset), e.g. an IPv4 address.
#[inline]
pub fn update_u32(old_checksum: u16, old: u32, new: u32) -> u16 {
    let acc = u64::from(!old_checksum)
        + u64::from(!(old >> 16) & 0xFFFF)
        + u64::from(!old & 0xFFFF)
        + u64::from(new >> 16)
        + u64::from(new & 0xFFFF);
    !fold(acc)
}

/// [`update`] for a run of bytes: the new checksum field after the bytes
/// `old` of the covered data, starting at an even offset, are replaced by
/// `new` of the same length (e.g. an IPv6 address rewritten in place).
///
/// Equal lengths are the caller's contract; with unequal lengths the result
/// is meaningless but nothing panics. An odd length is fine as long as the
/// run starts at an even offset (the unchanged octet sharing the last word
/// cancels out).
#[inline]
pub fn update_bytes(old_checksum: u16, old: &[u8], new: &[u8]) -> u16 {
    !fold(u64::from(!old_checksum) + u64::from(!data(old)) + u64::from(data(new)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 §3, "Numerical Examples": the sum of
    /// `00 01 f2 03 f4 f5 f6 f7` is `ddf2`.
    #[test]
    fn rfc1071_example() {
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(data(&bytes), 0xddf2);
        // Byte-order independence (RFC 1071 §2(B)): the swapped data sums to
        // the swapped result.
        let swapped = [0x01, 0x00, 0x03, 0xf2, 0xf5, 0xf4, 0xf7, 0xf6];
        assert_eq!(data(&swapped), 0xf2dd);
        // Longer than one 64-bit chunk plus a tail: the example twice sums to
        // ddf2 + ddf2 = 1bbe4 -> bbe5.
        let twice = [bytes, bytes].concat();
        assert_eq!(data(&twice), 0xbbe5);
    }

    #[test]
    fn odd_lengths_pad_with_zero() {
        assert_eq!(data(&[]), 0);
        assert_eq!(data(&[0x01]), 0x0100);
        // 0001 + f200 = f201
        assert_eq!(data(&[0x00, 0x01, 0xf2]), 0xf201);
        // nine bytes: 8-byte chunk (RFC example, ddf2) + trailing 0xab -> ab00;
        // ddf2 + ab00 = 188f2 -> 88f3
        assert_eq!(
            data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7, 0xab]),
            0x88f3
        );
    }

    #[test]
    fn all_ones_stays_negative_zero() {
        // ffff + ffff = 1fffe -> ffff, for any number of words.
        assert_eq!(data(&[0xff; 2]), 0xffff);
        assert_eq!(data(&[0xff; 64]), 0xffff);
        assert_eq!(data(&[0xff; 63]), 0xffff - 0xff);
        assert_eq!(combine(&[0xffff, 0xffff]), 0xffff);
        assert_eq!(combine(&[0x8000, 0x8000]), 0x0001);
        assert_eq!(combine(&[]), 0);
    }

    /// The IPv4 header of the Wikipedia "IPv4 header checksum" example: its
    /// checksum field is b861, so the sum over the whole header is ffff.
    #[test]
    fn ipv4_header_example() {
        let header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(data(&header), 0xffff);
        let mut zeroed = header;
        zeroed[10] = 0;
        zeroed[11] = 0;
        assert_eq!(!data(&zeroed), 0xb861);
    }

    #[test]
    fn pseudo_headers_by_hand() {
        // c0a8 + 0001 + c0a8 + 00c7 + 0011 + 005f = 18288 -> 8289
        let v4 = pseudo_header_v4(
            Ipv4Addr::new(192, 168, 0, 1),
            Ipv4Addr::new(192, 168, 0, 199),
            IpProtocol::UDP,
            0x5f,
        );
        assert_eq!(v4, 0x8289);
        // fe80 + 0001 + ff02 + 0001 + 0000 + 0020 + 003a = 1fdde -> fddf
        let v6 = pseudo_header_v6(
            "fe80::1".parse().unwrap(),
            "ff02::1".parse().unwrap(),
            IpProtocol::ICMPV6,
            0x20,
        );
        assert_eq!(v6, 0xfddf);
        // the 32-bit length contributes both halves: 0001 + 0002 = 0003
        let zero = Ipv6Addr::UNSPECIFIED;
        assert_eq!(pseudo_header_v6(zero, zero, IpProtocol(0), 0x0001_0002), 3);
    }

    /// RFC 1624 §3 worked example: m = 5555 changes to m' = 3285 while the
    /// other words sum to cd7a. HC = ~(cd7a + 5555) = dd2f, and the correct
    /// new checksum ~(cd7a + 3285) = ~ffff = 0000, which equation 2 gets
    /// wrong (ffff) and equation 3 gets right.
    #[test]
    fn rfc1624_example() {
        assert_eq!(update(0xdd2f, 0x5555, 0x3285), 0x0000);
        // ...and back again, from a 0000 field.
        assert_eq!(update(0x0000, 0x3285, 0x5555), 0xdd2f);
        assert_eq!(
            update_u32(0xdd2f, 0x5555_0000, 0x3285_0000),
            0x0000,
            "same edit as a 32-bit field"
        );
        assert_eq!(update_bytes(0xdd2f, &[0x55, 0x55], &[0x32, 0x85]), 0x0000);
    }

    #[test]
    fn update_matches_recompute_on_ipv4_ttl_and_address() {
        let mut header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        // TTL 64 -> 63: word 4011 -> 3f11, the checksum grows by 0100.
        assert_eq!(update(0xb861, 0x4011, 0x3f11), 0xb961);
        // Rewrite the source 192.168.0.1 -> 10.0.0.1 and check by recomputing.
        let new_cksum = update_u32(0xb861, 0xc0a8_0001, 0x0a00_0001);
        let also = update_bytes(0xb861, &[0xc0, 0xa8, 0x00, 0x01], &[0x0a, 0x00, 0x00, 0x01]);
        header[12..16].copy_from_slice(&[0x0a, 0x00, 0x00, 0x01]);
        header[10] = 0;
        header[11] = 0;
        assert_eq!(new_cksum, !data(&header));
        assert_eq!(also, new_cksum);
    }

    #[test]
    fn update_bytes_odd_length_at_even_offset() {
        let mut packet = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc];
        let before = !data(&packet);
        let old = [packet[2], packet[3], packet[4]];
        let new = [0xde, 0xad, 0xbe];
        packet[2..5].copy_from_slice(&new);
        assert_eq!(update_bytes(before, &old, &new), !data(&packet));
    }
}
