#!/usr/bin/env python3
"""Checks the TRex profiles against srv6bench's generator packets.

    srv6bench templates --out DIR
    python3 trex-profiles/check_templates.py DIR

1. DIR/index.txt lists exactly PACKETS x SIZES (srv6bench_packets), with
   lengths that match the files.
2. Every (packet, size): srv6bench_packets.build() equals DIR/<packet>-<size>.hex
   byte for byte; on a mismatch: the first differing offset, both octets,
   and Scapy show2() of both frames.
3. The scenario table (srv6bench_trex.SCENARIOS: names, order, data and
   STAMP packets, SUTs, kernel n/a) is DIR/scenarios.tsv (`srv6bench
   scenarios --tsv`), and the search defaults, STAMP fractions and flows
   are DIR/search.tsv (srv6bench's own defaults).
4. Every scenario's profile (<scenario>.py, underscores) imports with TRex
   made unimportable, has SCENARIO, register() and packets(size), and its
   packets are the templates of its scenario's packets.
5. Each profile's get_streams() runs (against a recording stand-in for
   TRex's API, since TRex is not installed in CI) for 64, 1518 and imix,
   with field-engine offsets inside the frames and the mix's rates in
   proportion.
6. experiments.csv is what srv6bench_trex.py generates.

Exit status 0: all good; 1: a check failed (each failure is printed); 2: usage.
"""

import importlib.abc
import importlib.util
import os
import sys
import types

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


class _NoTrex(importlib.abc.MetaPathFinder):
    """Makes TRex's API unimportable, even where TRex is installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("trex_stl_lib", "trex"):
            raise ImportError("TRex is blocked by check_templates.py")
        return None


_BLOCK = _NoTrex()
sys.meta_path.insert(0, _BLOCK)

import srv6bench_packets as P  # noqa: E402
import srv6bench_trex as T  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL " + msg)


def show(frame):
    try:
        return Ether(frame).show2(dump=True)
    except Exception as e:  # a frame Scapy cannot dissect is a finding too
        return "(Scapy cannot dissect it: %s)" % e


def compare(what, ours, theirs, dump=True):
    """Byte-for-byte comparison; prints the first difference (and, with
    `dump`, Scapy's show2() of both frames). True if equal."""
    if ours == theirs:
        return True
    n = min(len(ours), len(theirs))
    at = next((i for i in range(n) if ours[i] != theirs[i]), n)
    a = "%02x" % ours[at] if at < len(ours) else "(end)"
    b = "%02x" % theirs[at] if at < len(theirs) else "(end)"
    fail("%s: differs at offset %d: Scapy %s, srv6bench %s (lengths %d, %d)"
         % (what, at, a, b, len(ours), len(theirs)))
    if not dump:
        return False
    print("--- Scapy (srv6bench_packets) ---")
    print(show(ours))
    print("--- srv6bench templates ---")
    print(show(theirs))
    return False


def read_templates(d):
    idx = os.path.join(d, "index.txt")
    listed = {}
    try:
        lines = open(idx).read().splitlines()
    except OSError as e:
        fail("cannot read %s: %s" % (idx, e))
        return {}
    for ln in lines:
        if not ln.strip():
            continue
        f = ln.split()
        if len(f) != 4:
            fail("index.txt: bad line %r (want: packet size file length)" % ln)
            continue
        listed[(f[0], int(f[1]))] = (f[2], int(f[3]))
    want = {(p, s) for p in P.PACKETS for s in P.SIZES}
    got = set(listed)
    for k in sorted(want - got):
        fail("index.txt lacks %s %d (srv6bench_packets builds it)" % k)
    for k in sorted(got - want):
        fail("index.txt lists %s %d, which srv6bench_packets does not build" % k)
    frames = {}
    for (p, s), (name, length) in sorted(listed.items()):
        path = os.path.join(d, name)
        try:
            text = open(path).read().strip()
            frame = bytes.fromhex(text)
        except (OSError, ValueError) as e:
            fail("%s %d: cannot read %s: %s" % (p, s, path, e))
            continue
        if len(frame) != length:
            fail("%s %d: %s has %d octets, index.txt says %d" % (p, s, name, len(frame), length))
        frames[(p, s)] = frame
    return frames


def read_tsv(d, name):
    path = os.path.join(d, name)
    try:
        return [ln.split("\t") for ln in open(path).read().splitlines() if ln.strip()]
    except OSError as e:
        fail("cannot read %s: %s" % (path, e))
        return []


def check_scenarios(d):
    """srv6bench_trex.SCENARIOS is rfc2544.rs's table: same names in the same
    order, same data packet, STAMP packet, SUTs and kernel n/a."""
    rows = read_tsv(d, "scenarios.tsv")
    theirs = {}
    order = []
    for r in rows:
        if len(r) != 6:
            fail("scenarios.tsv: bad line %r (want 6 tab-separated fields)" % "\t".join(r))
            continue
        theirs[r[0]] = r
        order.append(r[0])
    ours = list(T.SCENARIOS)
    for n in ours:
        if n not in theirs:
            fail("scenario %s: in srv6bench_trex.py, not in srv6bench" % n)
    for n in order:
        if n not in T.SCENARIOS:
            fail("scenario %s: in srv6bench, not in srv6bench_trex.py" % n)
    common = [n for n in ours if n in theirs]
    if common != [n for n in order if n in T.SCENARIOS]:
        fail("scenario order differs: srv6bench_trex.py %s, srv6bench %s" % (ours, order))
    ok = 0
    for n in common:
        sc, r = T.SCENARIOS[n], theirs[n]
        mine = (sc["data"], sc["stamp"] or "-", ",".join(sc["suts"]),
                "n/a" if sc["kernel_na"] else "-")
        if mine != tuple(r[1:5]):
            fail("scenario %s: srv6bench_trex.py has data/stamp/SUTs/kernel %s, srv6bench %s"
                 % (n, mine, tuple(r[1:5])))
        else:
            ok += 1
    print("scenarios: %d of %d as in srv6bench" % (ok, len(order)))


def check_search(d):
    """srv6bench_trex.py's search defaults, fractions and flows are srv6bench's."""
    kv = {}
    for r in read_tsv(d, "search.tsv"):
        if len(r) != 2:
            fail("search.tsv: bad line %r" % "\t".join(r))
            continue
        kv[r[0]] = r[1]
    want = dict((k, float(v)) for k, v in T.SEARCH.items() if k not in ("ndr_drop_ratio", "latency_at_pct_of_pdr"))
    want["flows"] = float(T.DEFAULT_FLOWS)
    for k, v in sorted(want.items()):
        if k not in kv:
            fail("search.tsv lacks %s (srv6bench_trex.py has it)" % k)
        elif float(kv[k]) != v:
            fail("search default %s: srv6bench_trex.py %s, srv6bench %s" % (k, v, kv[k]))
    got = tuple(float(x) for x in kv.get("fractions", "").split(",") if x)
    if got != tuple(T.FRACTIONS):
        fail("STAMP fractions: srv6bench_trex.py %s, srv6bench %s" % (T.FRACTIONS, got))
    print("search defaults: checked %d and the fractions" % len(want))


def check_packets(frames):
    ok = 0
    for p in P.PACKETS:
        for s in P.SIZES:
            if (p, s) not in frames:
                continue
            if compare("packet %s size %d" % (p, s), P.build(p, s), frames[(p, s)]):
                ok += 1
    print("packets: %d of %d identical to srv6bench's" % (ok, len(P.PACKETS) * len(P.SIZES)))


def load_profile(path):
    name = "srv6bench_profile_" + os.path.basename(path)[:-3]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def check_profiles(frames):
    helpers = {"srv6bench_packets.py", "srv6bench_trex.py", "check_templates.py"}
    files = {f for f in os.listdir(HERE) if f.endswith(".py") and f not in helpers}
    want = {T.module_name(s) + ".py" for s in T.SCENARIOS}
    for f in sorted(files - want):
        fail("%s is not the profile of a known scenario" % f)
    mods = {}
    for sc in T.SCENARIOS:
        f = T.module_name(sc) + ".py"
        if f not in files:
            fail("scenario %s has no profile %s" % (sc, f))
            continue
        try:
            m = load_profile(os.path.join(HERE, f))
        except Exception as e:
            fail("%s does not import without TRex: %s: %s" % (f, type(e).__name__, e))
            continue
        if getattr(m, "SCENARIO", None) != sc:
            fail("%s: SCENARIO is %r, not %r" % (f, getattr(m, "SCENARIO", None), sc))
        for attr in ("register", "packets"):
            if not callable(getattr(m, attr, None)):
                fail("%s has no %s()" % (f, attr))
        if not callable(getattr(m, "register", None)) or not callable(getattr(m, "packets", None)):
            continue
        prof = m.register()
        if not callable(getattr(prof, "get_streams", None)):
            fail("%s: register() gives no get_streams()" % f)
        info = T.SCENARIOS[sc]
        for s in P.SIZES:
            got = m.packets(s)
            want_keys = [(info["data"], s)] + ([(info["stamp"], s)] if info["stamp"] else [])
            if len(got) != len(want_keys):
                fail("%s packets(%d): %d frames, want %d" % (f, s, len(got), len(want_keys)))
                continue
            for frame, k in zip(got, want_keys):
                if k in frames:
                    compare("profile %s (scenario %s) packet %s size %d" % (f, sc, k[0], s),
                            frame, frames[k], dump=False)
        mods[sc] = m
    print("profiles: %d of %d import without TRex" % (len(mods), len(T.SCENARIOS)))
    return mods


# --- a recording stand-in for TRex's STL API (get_streams smoke test) --------

class _Rec(object):
    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs


def _fake_trex():
    api = types.ModuleType("trex_stl_lib.api")
    for n in ("STLStream", "STLPktBuilder", "STLTXCont", "STLVmFlowVar", "STLVmWrFlowVar",
              "STLVmFixChecksumHw", "STLScVmRaw", "STLFlowStats"):
        setattr(api, n, type(n, (_Rec,), {}))
    api.CTRexVmInsFixHwCs = type("CTRexVmInsFixHwCs", (), {"L4_TYPE_TCP": 2, "L4_TYPE_UDP": 11})
    pkg = types.ModuleType("trex_stl_lib")
    pkg.api = api
    return pkg, api


def check_streams(mods):
    pkg, api = _fake_trex()
    sys.meta_path.remove(_BLOCK)
    saved = {k: sys.modules.get(k) for k in ("trex_stl_lib", "trex_stl_lib.api")}
    sys.modules["trex_stl_lib"] = pkg
    sys.modules["trex_stl_lib.api"] = api
    n = 0
    try:
        for sc, m in sorted(mods.items()):
            stamp = T.SCENARIOS[sc]["stamp"]
            cases = [dict(size=64), dict(size="1518", flows="8"), dict(size="imix", csum="keep")]
            if stamp:
                cases = [dict(size=64, stamp_pct=10), dict(size="imix", stamp_pct="0"),
                         dict(size=1518, stamp_pct=100.0), dict(tunables=["--size", "594", "--stamp_pct", "50"]),
                         dict(size="594", stamp_pct="0.01", flows="1", pg_id="7")]
            for kw in cases:
                what = "%s get_streams(%s)" % (sc, kw)
                try:
                    ss = m.register().get_streams(direction=0, **kw)
                except Exception as e:
                    fail("%s raised %s: %s" % (what, type(e).__name__, e))
                    continue
                total = sum(s.kwargs["mode"].kwargs["pps"] for s in ss)
                if abs(total - 1e6) > 1e-3:
                    fail("%s: rates sum to %g pps, not the 1e6 of the mix" % (what, total))
                for s in ss:
                    b = s.kwargs["packet"].kwargs
                    frame, vm = b["pkt_buffer"], b["vm"]
                    if frame not in [P.build(p, z) for p in P.PACKETS for z in P.SIZES]:
                        fail("%s: stream %s sends a frame that is no template" % (what, s.kwargs["name"]))
                    for c in (vm.args[0] if vm is not None else []):
                        for key in ("pkt_offset", "l3_offset", "l4_offset"):
                            off = c.kwargs.get(key)
                            if off is not None and not 0 <= off < len(frame) - 1:
                                fail("%s: %s %s=%d outside the frame" % (what, type(c).__name__, key, off))
                n += 1
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
        sys.meta_path.insert(0, _BLOCK)
    print("streams: %d get_streams() calls checked (TRex API stand-in)" % n)


def check_keep_csum():
    """csum=keep: source port 1024+i with 0xffff-i in the sequence number's
    low 16 bits leaves the UDP checksum valid (what that field engine does)."""
    from scapy.layers.inet import UDP

    n = 0
    for p in P.DATA_PACKETS:
        for s in P.SIZES:
            u = P.udp_offset(p)
            for i in (0, 1, 63, 4095):
                g = bytearray(P.build(p, s))
                g[u:u + 2] = (P.UDP_SPORT + i).to_bytes(2, "big")
                g[u + 22:u + 24] = (0xFFFF - i).to_bytes(2, "big")
                e = Ether(bytes(g))
                have = e[UDP].chksum
                del e[UDP].chksum
                if Ether(bytes(e))[UDP].chksum != have:
                    fail("csum=keep: %s size %d flow %d: UDP checksum no longer valid" % (p, s, i))
                n += 1
    print("csum=keep: %d frames keep a valid UDP checksum" % n)


def check_experiments():
    path = os.path.join(HERE, "experiments.csv")
    try:
        have = open(path).read()
    except OSError as e:
        fail("cannot read %s: %s" % (path, e))
        return
    if have != T.experiments_csv():
        fail("experiments.csv is stale: regenerate with "
             "`python3 trex-profiles/srv6bench_trex.py experiments > trex-profiles/experiments.csv`")
    else:
        print("experiments.csv: up to date (%d experiments)" % len(T.experiments()))


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: check_templates.py DIR (written by `srv6bench templates --out DIR`)\n")
        return 2
    frames = read_templates(argv[1])
    check_packets(frames)
    check_scenarios(argv[1])
    check_search(argv[1])
    mods = check_profiles(frames)
    check_streams(mods)
    check_keep_csum()
    check_experiments()
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("OK: the TRex profiles send srv6bench's packets")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
