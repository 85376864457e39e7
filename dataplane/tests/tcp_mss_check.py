#!/usr/bin/env python3
"""Checks TCP SYNs after srv6d's MSS clamping with Scapy (an implementation
independent of srv6d's). Run by dataplane/tests/tcp_mss.rs.

Reads lines from stdin: NAME PACKET_HEX MSS
PACKET_HEX is an IPv4 or IPv6 packet carrying TCP. Checks: Scapy finds a
TCP header with the SYN flag, its MSS option equals MSS, and its checksum
equals the one Scapy computes from scratch (pseudo-header included).
Prints failures and "ALL OK" at the end; exits 1 on any failure.
"""

import sys

from scapy.all import IP, TCP, IPv6, raw

failures = []
count = 0
for line in sys.stdin:
    if not line.strip():
        continue
    name, hexpkt, want = line.split()
    data = bytes.fromhex(hexpkt)
    p = IPv6(data) if data[0] >> 4 == 6 else IP(data)
    if TCP not in p:
        failures.append(f"{name}: no TCP: {p.summary()}")
        continue
    t = p[TCP]
    mss = [v for (k, v) in t.options if k == "MSS"]
    if mss != [int(want)]:
        failures.append(f"{name}: MSS options {mss}, expected [{want}]")
    if "S" not in str(t.flags):
        failures.append(f"{name}: not a SYN ({t.flags})")
    copy = p.copy()
    del copy[TCP].chksum
    again = copy.__class__(raw(copy))[TCP].chksum
    if t.chksum != again:
        failures.append(f"{name}: TCP checksum {t.chksum:#06x}, Scapy computes {again:#06x}")
    count += 1

for f in failures:
    print("FAIL", f)
if failures or count == 0:
    sys.exit(1)
print(f"ALL OK ({count} packets)")
