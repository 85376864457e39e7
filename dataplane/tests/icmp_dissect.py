#!/usr/bin/env python3
"""Dissects the ICMP errors srv6d builds with Scapy (an implementation
independent of srv6d's) and checks them against RFC 4443 / RFC 792 /
RFC 1191 / RFC 1812.

Run by dataplane/tests/icmp.rs. Reads lines from stdin, one error a line:

  NAME ERROR_HEX INVOKING_HEX SRC DST TYPE CODE WORD

WORD is the MTU (Packet Too Big, Fragmentation Needed), the pointer
(Parameter Problem) or 0. Checks per error:
  - the outer header: version, source, destination, protocol / next
    header, hop limit / TTL 64, lengths, IPv4 header checksum;
  - the ICMP type, code, MTU or pointer as Scapy decodes them;
  - the ICMP checksum (Scapy recomputes it over the pseudo-header for
    ICMPv6);
  - the quoted packet: the invoking packet's first octets, as many as fit
    in 1280 (IPv6) or 576 (IPv4) octets with the error's headers.
Prints one line per failed check and "ALL OK" at the end; exits 1 on any
failure.
"""

import sys

from scapy.all import ICMP, IP, IPv6, raw
from scapy.layers.inet6 import (
    ICMPv6PacketTooBig,
    ICMPv6ParamProblem,
    ICMPv6TimeExceeded,
)

failures = []


def check(name, what, ok, detail=""):
    if not ok:
        failures.append(f"{name}: {what} {detail}")
        print(f"FAIL {name}: {what} {detail}")


def recomputed(pkt, layer, field="cksum"):
    """The checksum Scapy computes for `layer` of `pkt` from scratch."""
    copy = pkt.copy()
    delattr(copy[layer], field)
    return getattr(copy.__class__(raw(copy))[layer], field)


def v6(name, err, inv, src, dst, ty, code, word):
    p = IPv6(err)
    check(name, "version", p.version == 6)
    check(name, "src", p.src == src, p.src)
    check(name, "dst", p.dst == dst, p.dst)
    check(name, "next header", p.nh == 58, str(p.nh))
    check(name, "hop limit", p.hlim == 64, str(p.hlim))
    check(name, "payload length", p.plen == len(err) - 40, str(p.plen))
    check(name, "at most 1280 octets", len(err) <= 1280, str(len(err)))
    layer = {1: None, 2: ICMPv6PacketTooBig, 3: ICMPv6TimeExceeded, 4: ICMPv6ParamProblem}[ty]
    check(name, "dissected as", layer in p, p.summary())
    if layer not in p:
        return
    m = p[layer]
    check(name, "type", m.type == ty, str(m.type))
    check(name, "code", m.code == code, str(m.code))
    if ty == 2:
        check(name, "mtu", m.mtu == word, str(m.mtu))
    if ty == 4:
        check(name, "pointer", m.ptr == word, str(m.ptr))
    check(name, "checksum", m.cksum == recomputed(p, layer), hex(m.cksum))
    quoted = err[48:]
    want = inv[: 1280 - 48]
    check(name, "quote", quoted == want, f"{len(quoted)} vs {len(want)} octets")


def v4(name, err, inv, src, dst, ty, code, word):
    p = IP(err)
    check(name, "version/ihl", p.version == 4 and p.ihl == 5)
    check(name, "src", p.src == src, p.src)
    check(name, "dst", p.dst == dst, p.dst)
    check(name, "protocol", p.proto == 1, str(p.proto))
    check(name, "ttl", p.ttl == 64, str(p.ttl))
    check(name, "total length", p.len == len(err), str(p.len))
    check(name, "at most 576 octets", len(err) <= 576, str(len(err)))
    check(name, "header checksum", p.chksum == recomputed(p, IP, "chksum"), hex(p.chksum))
    check(name, "is ICMP", ICMP in p)
    if ICMP not in p:
        return
    m = p[ICMP]
    check(name, "type", m.type == ty, str(m.type))
    check(name, "code", m.code == code, str(m.code))
    if ty == 3 and code == 4:
        check(name, "next-hop mtu", m.nexthopmtu == word, str(m.nexthopmtu))
    if ty == 12:
        check(name, "pointer", m.ptr == word, str(m.ptr))
    check(name, "checksum", m.chksum == recomputed(p, ICMP, "chksum"), hex(m.chksum))
    quoted = err[28:]
    want = inv[: 576 - 28]
    check(name, "quote", quoted == want, f"{len(quoted)} vs {len(want)} octets")


count = 0
for line in sys.stdin:
    if not line.strip():
        continue
    name, err, inv, src, dst, ty, code, word = line.split()
    err, inv = bytes.fromhex(err), bytes.fromhex(inv)
    (v6 if ":" in src else v4)(name, err, inv, src, dst, int(ty), int(code), int(word))
    count += 1

check("input", "errors read", count > 0)
if failures:
    sys.exit(1)
print(f"ALL OK ({count} errors)")
