#!/usr/bin/env python3
"""Interop check of srv6d's inline STAMP reflector against Scapy.

Run inside the sender's network namespace by control/tests/stamp_interop.rs.
Builds Session-Sender test packets with Scapy's own STAMP layer
(scapy.contrib.stamp, an implementation independent of srv6d's), sends them
to srv6d over SRv6 (an SRH through two of srv6d's End SIDs) and over plain
IPv6 (to a router address), and checks every reply field by field with
Scapy's dissector, against what RFC 8762 / RFC 8972 prescribe for the
packet that was sent.

Usage: stamp_scapy.py IFACE SENDER SID1 SID2 ROUTER_ADDR COUNT
Prints one line per check and "ALL OK" at the end; exits 1 on any failure.
"""

import sys
import time

from scapy.all import (  # noqa: F401  (conf used for quiet sends)
    AsyncSniffer,
    IPv6,
    IPv6ExtHdrSegmentRouting,
    UDP,
    conf,
    raw,
    send,
)
from scapy.contrib.stamp import (
    ErrorEstimate,
    STAMPSessionReflectorTestUnauthenticated,
    STAMPSessionSenderTestUnauthenticated,
    STAMPTestTLV,
)
from scapy.layers.inet6 import in6_chksum

conf.verb = 0
STAMP_PORT = 862
SPORT = 50862
NTP_UNIX_OFFSET = 2208988800

failures = []


def check(what, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + what + (f" ({detail})" if detail else ""))
    if not ok:
        failures.append(what)


def ntp_now_bits():
    t = time.time() + NTP_UNIX_OFFSET
    secs = int(t)
    frac = int((t - secs) * (1 << 32)) & 0xFFFFFFFF
    return (secs << 32) | frac


def ntp_bits_to_float(bits):
    return (bits >> 32) + (bits & 0xFFFFFFFF) / float(1 << 32)


def sender_packet(seq, ssid, ts_bits, tlvs):
    # Scapy's TimeStampField takes NTP seconds as a float; go through raw
    # bytes so the exact 64 bits we chose are on the wire.
    stamp = STAMPSessionSenderTestUnauthenticated(
        seq=seq,
        ts=0,
        err_estimate=ErrorEstimate(S=0, Z=0, scale=20, multiplier=3),
        ssid=ssid,
        tlv_objects=tlvs,
    )
    b = bytearray(raw(stamp))
    b[4:12] = ts_bits.to_bytes(8, "big")
    return bytes(b)


def main():
    iface, sender, sid1, sid2, router_addr, count = sys.argv[1:7]
    count = int(count)

    sniffer = AsyncSniffer(
        iface=iface,
        filter=f"ip6 and udp and dst port {SPORT}",
        store=True,
    )
    sniffer.start()
    time.sleep(0.5)

    sent = {}
    for i in range(count):
        for path in ("srv6", "plain"):
            seq = 1000 + 2 * i + (0 if path == "srv6" else 1)
            ssid = 0x5A00 + i
            tlvs = [
                # Extra Padding (type 1): echoed as it is.
                STAMPTestTLV(flags=0, type=1, len=8, value=b"\xaa" * 8),
                # A type nobody knows: U flag expected.
                STAMPTestTLV(flags=0, type=200, len=4, value=b"\x01\x02\x03\x04"),
            ]
            ts_bits = ntp_now_bits()
            payload = sender_packet(seq, ssid, ts_bits, tlvs)
            if path == "srv6":
                # Through srv6d's End SID sid1 to its End SID sid2, the
                # final segment (Segments Left 0 there: local processing).
                dst = sid2
                pkt = (
                    IPv6(src=sender, dst=sid1, hlim=64)
                    / IPv6ExtHdrSegmentRouting(
                        addresses=[sid2, sid1], segleft=1, lastentry=1, nh=17
                    )
                    / UDP(sport=SPORT, dport=STAMP_PORT)
                    / payload
                )
            else:
                dst = router_addr
                pkt = (
                    IPv6(src=sender, dst=router_addr, hlim=64)
                    / UDP(sport=SPORT, dport=STAMP_PORT)
                    / payload
                )
            # UDP checksum over the final destination (RFC 8200 §8.1),
            # computed here explicitly rather than trusting Scapy's choice.
            udp = pkt[UDP]
            udp.chksum = 0
            body = raw(udp)
            pkt[UDP].chksum = in6_chksum(17, IPv6(src=sender, dst=dst) / body, body)
            sent[seq] = (path, dst, ssid, ts_bits, payload, time.time())
            send(pkt, iface=iface)
            time.sleep(0.02)

    time.sleep(1.0)
    replies = sniffer.stop()
    check("replies received", len(replies) == len(sent), f"{len(replies)} of {len(sent)}")

    for r in replies:
        ip = r[IPv6]
        udp = r[UDP]
        stamp = STAMPSessionReflectorTestUnauthenticated(bytes(udp.payload))
        seq = stamp.seq
        if seq not in sent:
            check(f"reply seq {seq} matches a sent packet", False)
            continue
        path, dst, ssid, ts_bits, payload, _ = sent[seq]
        tag = f"[{path} seq {seq}]"
        # Addresses and ports: from the address the test was sent to, back
        # to the sender; ports swapped.
        check(f"{tag} reply source is {dst}", ip.src == dst, ip.src)
        check(f"{tag} UDP ports swapped", (udp.sport, udp.dport) == (STAMP_PORT, SPORT))
        # Checksum valid for (reflector, sender).
        body = bytearray(raw(udp))
        got = int.from_bytes(body[6:8], "big")
        body[6:8] = b"\x00\x00"
        want = in6_chksum(17, IPv6(src=ip.src, dst=ip.dst) / bytes(body), bytes(body))
        check(f"{tag} UDP checksum", got == want, f"{got:#x} vs {want:#x}")
        check(f"{tag} same length as the test packet", len(udp.payload) == len(payload))
        # Fields (stateless reflector: Sequence Number copied).
        check(f"{tag} SSID echoed", stamp.ssid == ssid, stamp.ssid)
        check(f"{tag} Session-Sender Sequence Number", stamp.seq_sender == seq)
        rb = raw(stamp)
        check(
            f"{tag} Session-Sender Timestamp echoed bit for bit",
            int.from_bytes(rb[28:36], "big") == ts_bits,
        )
        ee = stamp.err_estimate_sender
        check(
            f"{tag} Session-Sender Error Estimate echoed",
            (ee.S, ee.Z, ee.scale, ee.multiplier) == (0, 0, 20, 3),
        )
        check(f"{tag} Session-Sender TTL = received Hop Limit 64", stamp.ttl_sender == 64, stamp.ttl_sender)
        check(f"{tag} MBZ zero", stamp.mbz1 == 0 and stamp.mbz2 == 0)
        t2 = int.from_bytes(rb[16:24], "big")
        t3 = int.from_bytes(rb[4:12], "big")
        check(f"{tag} T2 <= T3", t2 <= t3, f"T3-T2 = {(t3 - t2) / 2**32 * 1e9:.0f} ns")
        check(
            f"{tag} T2 after T1 within 5 s (same clock)",
            0 <= ntp_bits_to_float(t2) - ntp_bits_to_float(ts_bits) < 5,
        )
        check(f"{tag} reflector Error Estimate Z = 0 (NTP)", stamp.err_estimate.Z == 0)
        tlvs = stamp.tlv_objects
        check(f"{tag} two TLVs back", len(tlvs) == 2, len(tlvs))
        if len(tlvs) == 2:
            pad, unknown = tlvs
            # RFC 8972 §4: U is the most significant bit of the flags octet.
            check(
                f"{tag} Extra Padding echoed, no flags",
                (pad.type, int(pad.flags), bytes(pad.value)) == (1, 0, b"\xaa" * 8),
            )
            check(
                f"{tag} unknown TLV: U flag, value echoed",
                (unknown.type, raw(unknown)[0], bytes(unknown.value))
                == (200, 0x80, b"\x01\x02\x03\x04"),
                f"flags {raw(unknown)[0]:#x}",
            )

    if failures:
        print(f"{len(failures)} FAILED")
        sys.exit(1)
    print("ALL OK")


if __name__ == "__main__":
    main()
