#!/usr/bin/env python3
"""STAMP peers written from the RFC text, for control/tests/stamp_peers.rs
(and one check of control/tests/stamp_interop.rs).

Nothing here uses srv6d's code: packets are laid out from RFC 5357 (TWAMP-Test
formats), RFC 8762 (STAMP), RFC 8972 (SSID, TLVs, Location sub-TLVs, HMAC TLV)
with struct, hashed with Python's hmac + hashlib, and replies are decoded
with Scapy's own STAMP layer (scapy.contrib.stamp) and IPv6/SRH layers.

Usage:
  stamp_peers.py twamp-light-reflect DST PORT
      TWAMP-light Session-Sender: 14- and 30-octet test packets; expects the
      44-octet STAMP base reply (RFC 8762 §4.6) for each.
  stamp_peers.py twamp-light-responder PORT COUNT
      TWAMP-light Session-Reflector: answers COUNT packets (or for 15 s) with
      the 41-octet TWAMP reflector packet (RFC 5357 §4.2.1), MBZ at 14..16.
  stamp_peers.py hmac DST PORT SSID KEYHEX
      Authenticated test packets with an Extra Padding TLV before an HMAC TLV,
      the HMAC TLV computed over (a) the whole preceding TLVs and (b) the
      Extra Padding TLV's header only; checks the reflector's packet HMAC and
      HMAC TLV (same reading) and that a wrong one gets the I flag.
  stamp_peers.py location DST PORT
      A Location TLV asking for the destination and source IP addresses.
  stamp_peers.py return-path IFACE SRC DST PORT SSID KEYHEX RET1,RET2 OTHER_SSID
      Sends from SRC (authenticated SSID, then unauthenticated OTHER_SSID),
      sniffs the replies on IFACE: the first must carry an SRH whose segment
      list is the configured return path, the second none.
Prints PASS/FAIL lines and "ALL OK" at the end; exits 1 on any failure.
"""

import hashlib
import hmac
import socket
import struct
import sys
import time

failures = []
NTP_UNIX_OFFSET = 2208988800


def check(what, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + what + (f" ({detail})" if detail else ""))
    if not ok:
        failures.append(what)


def ntp_now():
    t = time.time() + NTP_UNIX_OFFSET
    secs = int(t)
    return (secs << 32) | (int((t - secs) * (1 << 32)) & 0xFFFFFFFF)


def hmac16(key, data):
    # RFC 8762 §4.4: HMAC-SHA-256 truncated to 128 bits.
    return hmac.new(key, data, hashlib.sha256).digest()[:16]


def tlv(ttype, value, flags=0):
    # RFC 8972 §4: Flags (1), Type (1), Length (2), Value.
    return struct.pack("!BBH", flags, ttype, len(value)) + value


def parse_tlvs(area):
    out, pos = [], 0
    while pos + 4 <= len(area):
        flags, ttype, length = struct.unpack("!BBH", area[pos : pos + 4])
        out.append((pos, flags, ttype, area[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    return out


def udp_socket(dst):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(2.0)
    return s


def twamp_light_reflect(dst, port):
    from scapy.contrib.stamp import STAMPSessionReflectorTestUnauthenticated

    s = udp_socket(dst)
    for seq, padding in ((41, 0), (42, 16)):
        ts = ntp_now()
        # RFC 5357 §4.1.2: Sequence Number, Timestamp, Error Estimate
        # (S=1, scale 0, multiplier 1), then Packet Padding.
        pkt = struct.pack("!IQH", seq, ts, 0x8001) + b"\x5a" * padding
        s.sendto(pkt, (dst, port))
        try:
            reply, _ = s.recvfrom(2048)
        except socket.timeout:
            check(f"reply to a {len(pkt)}-octet TWAMP-light packet", False, "none")
            continue
        want = max(44, len(pkt))
        check(f"{len(pkt)}-octet test packet: {want}-octet reply", len(reply) == want, f"{len(reply)}")
        r = STAMPSessionReflectorTestUnauthenticated(reply[:44])
        # STAMP reads octets 14..16 as the SSID: zero when the packet ends
        # before them (zero-filled), else whatever padding was there.
        ssid = int.from_bytes(pkt[14:16], "big") if len(pkt) >= 16 else 0
        check(f"reply SSID is octets 14..16 of the test packet ({ssid})", r.ssid == ssid, f"{r.ssid}")
        check("Session-Sender Sequence Number", r.seq_sender == seq, f"{r.seq_sender}")
        check("Session-Sender Timestamp", reply[28:36] == struct.pack("!Q", ts))
        check("Session-Sender Error Estimate", reply[36:38] == b"\x80\x01", reply[36:38].hex())
        check("stateless: reply Sequence Number is the sender's", r.seq == seq, f"{r.seq}")
        check("Session-Sender TTL set", r.ttl_sender > 0, f"{r.ttl_sender}")
        check("MBZ after the TTL", reply[41:44] == b"\0\0\0")


def twamp_light_responder(port, count):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::", port))
    s.settimeout(15.0)
    print("READY", flush=True)
    for _ in range(count):
        try:
            pkt, peer = s.recvfrom(2048)
        except socket.timeout:
            break
        t2 = ntp_now()
        if len(pkt) < 14:
            continue
        # RFC 5357 §4.2.1: Sequence Number, Timestamp, Error Estimate,
        # MBZ (2), Receive Timestamp, Sender Sequence Number, Sender
        # Timestamp, Sender Error Estimate, MBZ (2), Sender TTL: 41 octets
        # (no padding: this responder does not reflect it).
        reply = struct.pack("!I", 0) + struct.pack("!Q", ntp_now()) + b"\x00\x01"
        reply += b"\0\0" + struct.pack("!Q", t2) + pkt[0:4] + pkt[4:12] + pkt[12:14]
        reply += b"\0\0" + bytes([255])
        s.sendto(reply, peer)
    print("DONE", flush=True)


def auth_sender_packet(seq, ssid, key, tlvs):
    # RFC 8762 §4.2.2 with RFC 8972 §3: Sequence Number, MBZ (12),
    # Timestamp, Error Estimate, SSID, MBZ (68), HMAC over octets 0..96.
    base = struct.pack("!I", seq) + b"\0" * 12 + struct.pack("!QHH", ntp_now(), 0x0001, ssid)
    base += b"\0" * 68
    return base + hmac16(key, base) + tlvs


def hmac_tlv_text(seq_octets, preceding, headers_only):
    # RFC 8972 §4.8: "the Sequence Number field of the base STAMP packet and
    # all preceding TLVs"; (b) leaves out an Extra Padding TLV's value.
    text = seq_octets
    for _, flags, ttype, value in parse_tlvs(preceding):
        whole = struct.pack("!BBH", flags, ttype, len(value)) + value
        text += whole[:4] if (headers_only and ttype == 1) else whole
    return text


def hmac_check(dst, port, ssid, key):
    s = udp_socket(dst)
    seq = 0x01020304
    for reading, headers_only in (("whole TLVs", False), ("padding header only", True)):
        for corrupt in (False, True):
            pad = tlv(1, b"\xaa" * 8)
            seq_octets = struct.pack("!I", seq)
            digest = hmac16(key, hmac_tlv_text(seq_octets, pad, headers_only))
            if corrupt:
                digest = bytes([digest[0] ^ 1]) + digest[1:]
            pkt = auth_sender_packet(seq, ssid, key, pad + tlv(8, digest))
            s.sendto(pkt, (dst, port))
            what = f"{reading}{', corrupted' if corrupt else ''}"
            try:
                reply, _ = s.recvfrom(2048)
            except socket.timeout:
                check(f"{what}: a reply", False, "none")
                continue
            check(f"{what}: reply as long as the test packet", len(reply) == len(pkt), f"{len(reply)}")
            check(f"{what}: reply packet HMAC (octets 0..96)", reply[96:112] == hmac16(key, reply[:96]))
            tlvs = parse_tlvs(reply[112:])
            check(f"{what}: Extra Padding echoed", tlvs[0][2:] == (1, b"\xaa" * 8), f"{tlvs[0]}")
            hpos, hflags, htype, hvalue = tlvs[1]
            check(f"{what}: HMAC TLV present", htype == 8)
            i_flag = bool(hflags & 0x20)
            check(f"{what}: I flag {'set' if corrupt else 'clear'}", i_flag == corrupt, f"flags {hflags:#x}")
            if not corrupt:
                want = hmac16(key, hmac_tlv_text(reply[0:4], reply[112 : 112 + hpos], headers_only))
                check(f"{what}: reply HMAC TLV verifies ({reading})", hvalue == want)
            seq += 1


def location(dst, port):
    s = udp_socket(dst)
    s.connect((dst, port))
    local = s.getsockname()
    # Unauthenticated sender packet (RFC 8762 §4.2.1 + RFC 8972 §3), SSID 9,
    # Location TLV (RFC 8972 §4.2): ports 0, generic Destination IP Address
    # (type 4) and Source IP Address (type 7) requests, 16 MBZ octets each.
    base = struct.pack("!IQHH", 3, ntp_now(), 0x0001, 9) + b"\0" * 28
    subs = tlv(4, b"\0" * 16) + tlv(7, b"\0" * 16)
    pkt = base + tlv(2, b"\0\0\0\0" + subs)
    s.send(pkt)
    reply = s.recv(2048)
    tlvs = parse_tlvs(reply[44:])
    check("Location TLV echoed", tlvs and tlvs[0][2] == 2, f"{tlvs}")
    _, flags, _, value = tlvs[0]
    check("Location TLV flags clear", flags == 0, f"{flags:#x}")
    dport, sport = struct.unpack("!HH", value[:4])
    check("Destination Port as received", dport == port, f"{dport}")
    check("Source Port as received", sport == local[1], f"{sport} vs {local[1]}")
    subs = parse_tlvs(value[4:])
    v6 = ":" in dst
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    addr = lambda a: socket.inet_pton(fam, a).ljust(16, b"\0")  # noqa: E731
    want = [
        (0, 6 if v6 else 5, addr(dst)),
        (0, 9 if v6 else 8, addr(local[0])),
    ]
    got = [(f, t, v) for _, f, t, v in subs]
    check("address sub-TLVs filled (specific types)", got == want, f"{got} vs {want}")


def return_path(iface, src, dst, port, ssid, key, ret, other_ssid):
    from scapy.all import AsyncSniffer, IPv6ExtHdrSegmentRouting, UDP
    from scapy.layers.inet6 import IPv6

    # No "udp" in the filter: BPF's would not look past the SRH.
    sniffer = AsyncSniffer(iface=iface, filter="ip6", store=True)
    sniffer.start()
    time.sleep(0.5)
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.sendto(auth_sender_packet(11, ssid, key, b""), (dst, port))
    time.sleep(0.3)
    base = struct.pack("!IQHH", 12, ntp_now(), 0x0001, other_ssid) + b"\0" * 28
    s.sendto(base, (dst, port))
    time.sleep(1.0)
    pkts = sniffer.stop()
    replies = [p for p in pkts if UDP in p and p[UDP].sport == port]
    check("two replies captured", len(replies) == 2, "; ".join(p.summary() for p in replies))
    if len(replies) != 2:
        return
    first, second = replies
    check("configured session: reply goes to the first return SID", first[IPv6].dst == ret[0], first[IPv6].dst)
    has_srh = IPv6ExtHdrSegmentRouting in first
    check("configured session: reply carries an SRH", has_srh)
    if has_srh:
        srh = first[IPv6ExtHdrSegmentRouting]
        # RFC 8754 §2: Segment List[0] is the last segment, the first one
        # visited has the highest index; Segments Left names it.
        check(
            "SRH segment list is the return path, reversed",
            list(srh.addresses) == list(reversed(ret)),
            f"{srh.addresses}",
        )
        check("Segments Left = n - 1", srh.segleft == len(ret) - 1, f"{srh.segleft}")
        check("Last Entry = n - 1", srh.lastentry == len(ret) - 1, f"{srh.lastentry}")
        check("last segment is the sender", srh.addresses[0] == src)
        payload = bytes(first[UDP].payload)
        check("STAMP reply inside (authenticated, 112 octets)", len(payload) == 112 and payload[96:112] == hmac16(key, payload[:96]))
    check("other session: plain IPv6 to the source", IPv6ExtHdrSegmentRouting not in second and second[IPv6].dst == src, second.summary())


def main():
    cmd = sys.argv[1]
    a = sys.argv[2:]
    if cmd == "twamp-light-reflect":
        twamp_light_reflect(a[0], int(a[1]))
    elif cmd == "twamp-light-responder":
        twamp_light_responder(int(a[0]), int(a[1]))
        return
    elif cmd == "hmac":
        hmac_check(a[0], int(a[1]), int(a[2]), bytes.fromhex(a[3]))
    elif cmd == "location":
        location(a[0], int(a[1]))
    elif cmd == "return-path":
        return_path(a[0], a[1], a[2], int(a[3]), int(a[4]), bytes.fromhex(a[5]), a[6].split(","), int(a[7]))
    else:
        sys.exit(f"unknown command {cmd}")
    if failures:
        print(f"{len(failures)} FAILED")
        sys.exit(1)
    print("ALL OK")


if __name__ == "__main__":
    main()
