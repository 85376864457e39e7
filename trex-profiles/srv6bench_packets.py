"""Scapy builders of srv6bench's generator packets (the TRex profiles' packets).

The byte-level contract is perf/src/templates.rs (module doc) and, for the
STAMP test packet, perf/src/frames.rs ``stamp_frame``.  Every frame here is
built from Scapy layers and fields (nothing is copied from srv6bench's hex);
``check_templates.py`` compares them byte for byte with what
``srv6bench templates`` writes, and CI runs that check
(perf/tests/trex_templates.rs).

Sizes count the 4-octet FCS, as RFC 2544 (and TRex's imix) do: a ``size``
of 64 gives a 60-octet frame (FCS excluded, which is what TRex wants in a
stream: the NIC appends the FCS), or the packet's minimum if that is
larger.  STAMP frames keep their own 106 octets whatever the size.

Template values: flow 0 (UDP source port 1024), sequence 0, timestamp 0,
all checksums computed by Scapy.

Importable without TRex: only Scapy is needed.
"""

from scapy.fields import LongField, StrField, StrFixedLenField
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrSegmentRouting
from scapy.layers.l2 import Ether
from scapy.packet import Packet, bind_layers
from scapy.contrib.stamp import (
    ErrorEstimate,
    STAMPSessionReflectorTestUnauthenticated,
    STAMPSessionSenderTestUnauthenticated,
)

# --- addresses and ports (perf/src/templates.rs, perf/src/frames.rs) -------

GEN_MAC = "02:5b:00:00:00:01"  # the generator's port
SUT_MAC = "02:5b:00:00:00:02"  # the SUT's LAN port (bl0)
WAN_MAC = "02:5b:00:00:00:03"  # the SUT's WAN port (bw0)
SINK_MAC = "02:5b:00:00:00:04"  # the receiver's port

INNER6_SRC = "2001:db8:1::1"
INNER6_DST = "2001:db8:2::1"
INNER4_SRC = "198.18.1.1"
INNER4_DST = "198.18.2.1"
UDP_SPORT = 1024  # + flow
UDP_DPORT = 9

UPSTREAM = "fc00:b::100"  # source of the SRv6 packets the generator sends
END_SID = "fc00:a::e"
DT6_SID = "fc00:a::d6"
DT4_SID = "fc00:a::d4"
SUT_SRC = "fc00:a::1"  # the SUT's encapsulation source


def sid(i):
    """Segment S(i+1) of the encapsulation policies: fc00:b::(i+1)."""
    return "fc00:b::%x" % (i + 1)


# STAMP reflector scenario: generator (Session-Sender) -> the SUT's reflector.
STAMP_SENDER = "fc00:b::5"
STAMP_REFLECTOR = "fc00:a::862"
STAMP_PORT = 862
STAMP_SPORT_BASE = 40000  # + seq % STAMP_FLOWS
STAMP_FLOWS = 64
STAMP_SSID = 0x5B6D
STAMP_HOP_LIMIT = 64
# T1 of the test packets: Unix 1_795_000_000 s exactly, in NTP seconds.
NTP_UNIX_OFFSET = 2208988800
STAMP_T1_UNIX_S = 1795000000
# Error Estimate: not synchronised, NTP, 1 * 2^-32 * 2^22 s (about 1 ms).
STAMP_EE = dict(S=0, Z=0, scale=22, multiplier=1)

# STAMP collector scenario: far reflector -> the SUT's Session-Sender.
FAR_REFLECTOR = "fc00:b::862"
SENDER_ADDR = "fc00:a::5"
SENDER_PORT = 50862
COLLECTOR_SSID = 0x5B6E

MAGIC = b"SRV6BNCH"
FCS = 4
STAMP_FRAME = 106

PACKETS = ("ipv6", "ipv4", "end", "end-dt6", "end-dt4", "stamp-test", "stamp-reply")
DATA_PACKETS = PACKETS[:5]
SIZES = (64, 594, 1518)
# TRex's imix (stl/imix.py): 60, 590, 1514 octets without FCS at 28:16:4 pps.
IMIX = ((64, 7), (594, 4), (1518, 1))


class _PadField(StrField):
    """Zero padding; shown as its length (and whether it is all zero)."""

    def i2repr(self, pkt, x):
        x = x or b""
        return "%d octets%s" % (len(x), ", all zero" if not x.strip(b"\x00") else ": %r" % x)


class Srv6BenchPayload(Packet):
    """srv6bench's data payload: magic, sequence, probe timestamp, padding."""

    name = "srv6bench payload"
    fields_desc = [
        StrFixedLenField("magic", MAGIC, 8),
        LongField("seq", 0),
        LongField("ts", 0),  # u64 ns of CLOCK_MONOTONIC; 0 = not a probe
        _PadField("pad", b""),
    ]


bind_layers(UDP, Srv6BenchPayload, dport=UDP_DPORT)

PAYLOAD_LEN = 24


def _data(v4, pad, flow=0, seq=0, ts=0):
    """The data packet: IPv4/IPv6 + UDP + payload with `pad` zero octets."""
    if v4:
        l3 = IP(src=INNER4_SRC, dst=INNER4_DST, tos=0, id=0, flags=0, ttl=64)
    else:
        l3 = IPv6(src=INNER6_SRC, dst=INNER6_DST, tc=0, fl=0, hlim=64)
    return (
        l3
        / UDP(sport=UDP_SPORT + flow, dport=UDP_DPORT)
        / Srv6BenchPayload(seq=seq, ts=ts, pad=b"\x00" * pad)
    )


def _outer(dst, nh):
    return IPv6(src=UPSTREAM, dst=dst, tc=0, fl=0, hlim=64, nh=nh)


def _eth(v4=False):
    return Ether(dst=SUT_MAC, src=GEN_MAC, type=0x0800 if v4 else 0x86DD)


def outer_len(packet):
    """Octets in front of the data packet (Ethernet and outer headers)."""
    return {
        "ipv6": 14,
        "ipv4": 14,
        "end": 14 + 40 + 8 + 2 * 16,
        "end-dt6": 14 + 40,
        "end-dt4": 14 + 40,
    }[packet]


def inner_v4(packet):
    return packet in ("ipv4", "end-dt4")


def min_len(packet):
    """The smallest frame of `packet`, without FCS."""
    if packet not in DATA_PACKETS:
        return STAMP_FRAME
    return outer_len(packet) + (20 if inner_v4(packet) else 40) + 8 + PAYLOAD_LEN


def udp_offset(packet):
    """Offset of the UDP header that carries the flow (and checksum)."""
    if packet in ("stamp-test", "stamp-reply"):
        return 14 + 40
    return outer_len(packet) + (20 if inner_v4(packet) else 40)


def l3_offset(packet):
    """Offset of the IP header the UDP checksum covers (its pseudo-header)."""
    return udp_offset(packet) - (20 if packet in DATA_PACKETS and inner_v4(packet) else 40)


def stamp_seq_offsets(packet):
    """Offsets of the 32-bit STAMP sequence numbers srv6bench moves on."""
    base = udp_offset(packet) + 8
    if packet == "stamp-test":
        return (base,)  # Sequence Number
    if packet == "stamp-reply":
        return (base, base + 24)  # Sequence Number, Session-Sender Sequence
    return ()


def _ntp_bits(bits):
    """A TimeStampField value from raw 64-bit NTP bits (exact for small ones)."""
    return bits / 2.0**32


def packet(packet, size=64):
    """The Scapy packet of `packet` at RFC 2544 frame size `size` (with FCS)."""
    if packet == "stamp-test":
        return (
            _eth()
            / IPv6(src=STAMP_SENDER, dst=STAMP_REFLECTOR, tc=0, fl=0, hlim=STAMP_HOP_LIMIT)
            / UDP(sport=STAMP_SPORT_BASE, dport=STAMP_PORT)
            / STAMPSessionSenderTestUnauthenticated(
                seq=0,
                ts=NTP_UNIX_OFFSET + STAMP_T1_UNIX_S,
                err_estimate=ErrorEstimate(**STAMP_EE),
                ssid=STAMP_SSID,
            )
        )
    if packet == "stamp-reply":
        # Sequence 0; T1 = 1, T2 = 2, T3 = 3 (NTP bits): ordered, non-zero;
        # both Error Estimates zero; Sender TTL 255.
        zero_ee = dict(S=0, Z=0, scale=0, multiplier=0)
        return (
            _eth()
            / IPv6(src=FAR_REFLECTOR, dst=SENDER_ADDR, tc=0, fl=0, hlim=64)
            / UDP(sport=STAMP_PORT, dport=SENDER_PORT)
            / STAMPSessionReflectorTestUnauthenticated(
                seq=0,
                ts=_ntp_bits(3),
                err_estimate=ErrorEstimate(**zero_ee),
                ssid=COLLECTOR_SSID,
                ts_rx=_ntp_bits(2),
                seq_sender=0,
                ts_sender=_ntp_bits(1),
                err_estimate_sender=ErrorEstimate(**zero_ee),
                ttl_sender=255,
            )
        )
    if packet not in DATA_PACKETS:
        raise ValueError("unknown packet %r (one of %s)" % (packet, ", ".join(PACKETS)))
    pad = max(0, size - FCS - min_len(packet))
    if packet in ("ipv6", "ipv4"):
        return _eth(inner_v4(packet)) / _data(inner_v4(packet), pad)
    if packet == "end":
        srh = IPv6ExtHdrSegmentRouting(
            nh=41, len=4, type=4, segleft=1, lastentry=1, tag=0,
            addresses=[sid(1), END_SID],
        )
        return _eth() / _outer(END_SID, 43) / srh / _data(False, pad)
    if packet == "end-dt6":
        return _eth() / _outer(DT6_SID, 41) / _data(False, pad)
    return _eth() / _outer(DT4_SID, 4) / _data(True, pad)


def build(packet_name, size=64):
    """The frame (without FCS) of `packet_name` at frame size `size` (with FCS)."""
    return bytes(packet(packet_name, size))


def dissect(frame):
    """Scapy's view of a frame (for show2-style summaries)."""
    return Ether(frame)


if __name__ == "__main__":
    import sys

    args = sys.argv[1:]
    name = args[0] if args else "end"
    size = int(args[1]) if len(args) > 1 else 64
    p = packet(name, size)
    Ether(bytes(p)).show2()
    print(bytes(p).hex())
