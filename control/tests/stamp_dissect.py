#!/usr/bin/env python3
"""Dissects srv6d's Session-Sender test packets with Scapy.

Run by control/tests/stamp_socket.rs on UDP payloads captured on the
reflector's side. Scapy's scapy.contrib.stamp is an implementation
independent of srv6d's; each payload must dissect as an unauthenticated
Session-Sender test packet (RFC 8762 §4.2.1, RFC 8972 §3) with:
  - Sequence Numbers incrementing by one from the first captured;
  - the SSID given;
  - the 28 MBZ octets zero;
  - a Timestamp that is an NTP time within 60 s of now;
  - for a length above 44, one Extra Padding TLV (type 1) filling the rest,
    its flags zero (compared on raw bytes: Scapy names the flag bits
    LSB-first).

Usage: stamp_dissect.py FILE SSID LENGTH   (FILE: one hex payload a line)
Prints one line per check and "ALL OK" at the end; exits 1 on any failure.
"""

import sys
import time

from scapy.all import raw
from scapy.contrib.stamp import STAMPSessionSenderTestUnauthenticated

NTP_UNIX_OFFSET = 2208988800
failures = []


def check(what, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + what + (f" ({detail})" if detail else ""))
    if not ok:
        failures.append(what)


def main():
    path, ssid, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    payloads = [bytes.fromhex(line.strip()) for line in open(path) if line.strip()]
    check("payloads captured", len(payloads) >= 3, f"{len(payloads)}")
    first_seq = None
    for i, b in enumerate(payloads):
        p = STAMPSessionSenderTestUnauthenticated(b)
        check(f"[{i}] length", len(b) == length, f"{len(b)}")
        check(f"[{i}] dissects to the same bytes", raw(p) == b)
        if first_seq is None:
            first_seq = p.seq
        check(f"[{i}] seq", p.seq == first_seq + i, f"{p.seq}")
        check(f"[{i}] ssid", p.ssid == ssid, f"{p.ssid}")
        check(f"[{i}] MBZ zero", b[16:44] == bytes(28) and p.mbz == 0)
        secs = int.from_bytes(b[4:8], "big") + int.from_bytes(b[8:12], "big") / 2**32
        unix = secs - NTP_UNIX_OFFSET
        check(f"[{i}] NTP timestamp near now", abs(unix - time.time()) < 60, f"{unix:.6f}")
        ee = b[12:14]
        check(f"[{i}] error estimate multiplier non-zero", ee[1] != 0, ee.hex())
        if length > 44:
            tlvs = p.tlv_objects
            check(f"[{i}] one TLV", len(tlvs) == 1, f"{len(tlvs)}")
            if tlvs:
                t = tlvs[0]
                check(f"[{i}] Extra Padding TLV type", t.type == 1, f"{t.type}")
                check(f"[{i}] TLV length", t.len == length - 48, f"{t.len}")
                check(f"[{i}] TLV value length", len(t.value) == length - 48)
                check(f"[{i}] TLV flags zero (raw)", b[44] == 0, f"{b[44]:#04x}")
        else:
            check(f"[{i}] no TLV", len(p.tlv_objects) == 0)
    if failures:
        print(f"{len(failures)} FAILED")
        sys.exit(1)
    print("ALL OK")


if __name__ == "__main__":
    main()
