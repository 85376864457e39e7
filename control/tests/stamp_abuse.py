#!/usr/bin/env python3
"""Tries to use srv6d's inline STAMP reflector as a weapon (issue 14).

Run inside the attacker/sender namespace by control/tests/stamp_abuse.rs.
Packets are built with Scapy from RFC 8762 / RFC 8754 (not with srv6d's
code) and sent on the wire; whatever srv6d answers is captured on the same
interface. Prints one JSON object with what was seen.

Usage: stamp_abuse.py IFACE EDGE_MAC SENDER REFLECTOR SID KEY_HEX

Phases:
  sources  test packets from sources no sender can have (multicast,
           unspecified, loopback, link-local, IPv4-mapped), then one from
           SENDER: how many replies leave srv6d (it has a default route
           back to us, so any reply would reach this interface).
  amplify  SSID 7 (unauthenticated, 15 return segments configured): once
           as a plain 44-octet packet (the reply would be 3.6 times its
           size), once arriving with a 16-segment SRH (the reply is no
           larger); SSID 9 (authenticated, same return path, replies to a
           configured address) and SSID 11 (authenticated, same return
           path, replies to the packet's source), plain.
  rate     400 test packets from SENDER over 64 UDP source ports (spread
           over the edge's two rx queues, so over both workers) as fast
           as the kernel sends them: how many replies come back.
"""

import hashlib
import hmac
import json
import socket
import sys
import time

from scapy.all import (
    UDP,
    AsyncSniffer,
    Ether,
    IPv6,
    IPv6ExtHdrSegmentRouting,
    Raw,
    conf,
    sendp,
)

conf.verb = 0
STAMP_PORT = 862

REFUSED = ["ff02::1", "ff05::2", "::", "::1", "fe80::1", "::ffff:10.0.0.1"]


def unauth_packet(seq, ssid):
    # RFC 8762 §4.2.1 with RFC 8972 §3's SSID: Sequence Number (4),
    # Timestamp (8), Error Estimate (2), SSID (2), MBZ (28): 44 octets.
    b = bytearray(44)
    b[0:4] = seq.to_bytes(4, "big")
    b[12:14] = (0x8001).to_bytes(2, "big")  # S=1, multiplier 1
    b[14:16] = ssid.to_bytes(2, "big")
    return bytes(b)


def auth_packet(seq, ssid, key):
    # RFC 8762 §4.2.2 with RFC 8972's SSID: Sequence Number (4), MBZ (12),
    # Timestamp (8), Error Estimate (2), SSID (2), MBZ (68), HMAC (16) over
    # the first 96 octets, HMAC-SHA-256 truncated to 128 bits (§4.4).
    b = bytearray(112)
    b[0:4] = seq.to_bytes(4, "big")
    b[24:26] = (0x8001).to_bytes(2, "big")
    b[26:28] = ssid.to_bytes(2, "big")
    b[96:112] = hmac.new(key, bytes(b[:96]), hashlib.sha256).digest()[:16]
    return bytes(b)


def main():
    iface, edge_mac, sender, reflector, sid, key_hex = sys.argv[1:7]
    key = bytes.fromhex(key_hex)
    seen = []

    def keep(p):
        if p.haslayer(UDP) and p[UDP].sport == STAMP_PORT and p.haslayer(IPv6):
            seen.append((p[IPv6].dst, len(p[IPv6]), p[UDP].dport))

    sniffer = AsyncSniffer(iface=iface, store=False, prn=keep)
    sniffer.start()
    time.sleep(0.5)
    eth = Ether(dst=edge_mac)
    out = {}

    # -- sources
    for i, src in enumerate(REFUSED):
        sendp(
            eth / IPv6(src=src, dst=reflector) / UDP(sport=41000 + i, dport=STAMP_PORT)
            / Raw(unauth_packet(i, 0)),
            iface=iface,
        )
    sendp(
        eth / IPv6(src=sender, dst=reflector) / UDP(sport=41100, dport=STAMP_PORT)
        / Raw(unauth_packet(100, 0)),
        iface=iface,
    )
    time.sleep(1.0)
    out["sources_replies_to"] = sorted({d for d, _, port in seen if 41000 <= port <= 41100})
    out["sources_control_reply"] = any(port == 41100 for _, _, port in seen)

    # -- amplify
    plain = eth / IPv6(src=sender, dst=reflector) / UDP(sport=42001, dport=STAMP_PORT) / Raw(
        unauth_packet(1, 7)
    )
    # Arrived at its last segment (Segments Left 0, RFC 8754 §4.3.1.1):
    # Segment List[0] is the destination, 15 earlier segments before it.
    path = [sid] + [f"fc00:77::{i:x}" for i in range(1, 16)]
    over_srh = (
        eth
        / IPv6(src=sender, dst=sid)
        / IPv6ExtHdrSegmentRouting(addresses=path, segleft=0, lastentry=len(path) - 1)
        / UDP(sport=42002, dport=STAMP_PORT)
        / Raw(unauth_packet(2, 7))
    )
    auth = eth / IPv6(src=sender, dst=reflector) / UDP(sport=42003, dport=STAMP_PORT) / Raw(
        auth_packet(3, 9, key)
    )
    auth_to_source = eth / IPv6(src=sender, dst=reflector) / UDP(
        sport=42004, dport=STAMP_PORT
    ) / Raw(auth_packet(4, 11, key))
    sizes = {}
    for name, p in [
        ("plain", plain),
        ("srh", over_srh),
        ("auth", auth),
        ("auth_to_source", auth_to_source),
    ]:
        sizes[name] = len(p[IPv6])
        sendp(p, iface=iface)
        time.sleep(0.2)
    time.sleep(1.0)
    by_port = {port: length for _, length, port in seen}
    for name, port in [
        ("plain", 42001),
        ("srh", 42002),
        ("auth", 42003),
        ("auth_to_source", 42004),
    ]:
        out[f"amplify_{name}_request"] = sizes[name]
        out[f"amplify_{name}_reply"] = by_port.get(port)

    # -- rate (after the budgets above have refilled)
    time.sleep(1.5)
    socks = []
    for i in range(64):
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind((sender, 43000 + i))
        s.setblocking(False)
        socks.append(s)
    start = time.monotonic()
    sent = 0
    for n in range(400):
        try:
            socks[n % 64].sendto(unauth_packet(n, 0), (reflector, STAMP_PORT))
            sent += 1
        except OSError:
            pass
    elapsed = time.monotonic() - start
    time.sleep(1.0)
    replies = 0
    for s in socks:
        while True:
            try:
                s.recv(2048)
                replies += 1
            except BlockingIOError:
                break
    out["rate_sent"] = sent
    out["rate_send_seconds"] = elapsed
    out["rate_replies"] = replies
    sniffer.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
