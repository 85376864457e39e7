"""srv6bench's scenarios as TRex STL profiles: the scenario table and a
profile factory shared by the per-scenario files (``<scenario>.py``, with
underscores, each a few lines).

Scenario names, packets and STAMP mixes follow perf/src/rfc2544.rs
``scenarios()``; the packets are srv6bench_packets's builders, which CI
checks byte for byte against ``srv6bench templates``; check_templates.py
also compares this table and SEARCH/FRACTIONS/DEFAULT_FLOWS with what
srv6bench writes (``scenarios.tsv``, ``search.tsv``).

Importable without TRex: trex_stl_lib (or trex.stl) is imported only when
streams are built.

Tunables (``start -f X.py -t size=imix,flows=64,stamp_pct=10`` in the TRex
console, or ``--size imix`` style on TRex versions that pass argparse
tunables):

* ``size``: 64, 594, 1518 (RFC 2544 frame size, FCS included) or ``imix``
  (64:594:1518 at 7:4:1 packets, TRex's imix); default 64.
* ``flows``: data flows, UDP source ports 1024 .. 1024+flows-1 (srv6bench's
  ``--flows``, default 64); 1: no field engine.
* ``stamp_pct``: STAMP scenarios only: percent of the offered frames that
  are STAMP packets (srv6bench's ``--fractions``; default 10).
* ``csum``: ``hw`` (default): the UDP checksum is fixed per packet by the
  NIC (STLVmFixChecksumHw, inner IP header as L3); ``keep``: no offload
  needed: a second flow variable, written into the low 16 bits of the
  payload's sequence number (which srv6bench's receiver ignores), counts
  down while the source port counts up, so the checksum stays valid.
* ``pg_id``: if set, per-stream TRex flow statistics (STLFlowStats) with
  pg_id, pg_id+1, ... (see README: some NICs rewrite a header field for it).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import srv6bench_packets as P  # noqa: E402

# Defaults of srv6bench (perf/src/main.rs, `srv6bench --help`).
DEFAULT_FLOWS = 64
DEFAULT_STAMP_PCT = 10.0
FRACTIONS = (0.0, 0.01, 0.05, 0.1, 1.0, 5.0, 10.0, 20.0, 50.0, 100.0)
SEARCH = dict(
    pdr_drop_ratio=0.005,
    ndr_drop_ratio=0.0,
    trial_seconds=2.0,
    warmup_seconds=1.0,
    repetitions=3,
    resolution=0.01,
    max_trials=20,
    retests=1,
    latency_at_pct_of_pdr="50;90",
    probes_per_second=1000,
)

_NO_STAMP = "Linux has no STAMP reflector or collector in its dataplane"
_NO_VRF = "the kernel's End.DT4 needs a VRF device (CONFIG_NET_VRF)"


def _encap(sids, reduced, v4):
    segs = ", ".join(P.sid(i) for i in range(sids))
    return (
        "rfc2544.rs encap_config(sids=%d, reduced=%s, v4=%s): bl0 LAN in VRF blue, bw0 WAN; "
        "policy mode %s segments [%s] source %s; route %s in blue -> policy; fc00:b::/48 -> sink"
        % (sids, str(reduced).lower(), str(v4).lower(),
           "encap.red" if reduced else "encap", segs, P.SUT_SRC,
           "198.18.2.0/24" if v4 else "2001:db8:2::/64")
    )


def _scenarios():
    s = [dict(
        name="ipv6-fwd", data="ipv6", stamp=None,
        description="IPv6 forwarding between two ports of one VRF (baseline)",
        sut="rfc2544.rs scenarios() ipv6-fwd: bl0 and bw0 in VRF blue; route 2001:db8:2::/64 -> sink",
        kernel_na=None, suts=("kernel", "srv6d"))]
    for v4, fam in ((False, "v6"), (True, "v4")):
        for sids in (1, 2, 4):
            s.append(dict(
                name="h-encaps-%s-%dsid" % (fam, sids), data="ipv4" if v4 else "ipv6", stamp=None,
                description="H.Encaps of IP%s into SRv6, %d SID%s" % (fam, sids, "s" if sids > 1 else ""),
                sut=_encap(sids, False, v4), kernel_na=None, suts=("kernel", "srv6d")))
    s.append(dict(
        name="h-encaps-red-v6-2sid", data="ipv6", stamp=None,
        description="H.Encaps.Red of IPv6, 2 SIDs (one SRH entry)",
        sut=_encap(2, True, False), kernel_na=None, suts=("kernel", "srv6d")))
    end = "rfc2544.rs end_config(): bl0, bw0 WAN; SID %s end; fc00:b::/48 -> sink" % P.END_SID
    s.append(dict(
        name="end", data="end", stamp=None,
        description="End (SRH with 2 SIDs, Segments Left 1 -> 0)",
        sut=end, kernel_na=None, suts=("kernel", "srv6d")))
    for v4 in (False, True):
        s.append(dict(
            name="end-dt4" if v4 else "end-dt6", data="end-dt4" if v4 else "end-dt6", stamp=None,
            description="End.%s (decapsulate, route the inner packet in a VRF)" % ("DT4" if v4 else "DT6"),
            sut="rfc2544.rs dt_config(v4=%s): bl0 WAN, bw0 LAN in VRF blue; SID %s end.dt%s vrf blue; "
                "route %s in blue -> sink" % (str(v4).lower(), P.DT4_SID if v4 else P.DT6_SID,
                                             "4" if v4 else "6",
                                             "198.18.2.0/24" if v4 else "2001:db8:2::/64"),
            kernel_na=_NO_VRF if v4 else None, suts=("kernel", "srv6d")))
    s.append(dict(
        name="stamp-reflector", data="end", stamp="stamp-test",
        description="End transit traffic with STAMP test packets to the SUT's reflector mixed in",
        sut=end + "; [router] addresses [%s] (the reflector)" % P.STAMP_REFLECTOR,
        kernel_na=_NO_STAMP, suts=("kernel", "srv6d")))
    s.append(dict(
        name="stamp-collector", data="end", stamp="stamp-reply",
        description="End transit traffic with STAMP replies to the SUT's Session-Sender mixed in "
                    "(consumed: counted from the SUT's counters)",
        sut=end + "; [router] addresses [%s]; [[stamp_sender]] ssid 0x%x source %s segments [%s] interval 1s"
            % (P.SENDER_ADDR, P.COLLECTOR_SSID, P.SENDER_ADDR, P.FAR_REFLECTOR),
        kernel_na=_NO_STAMP, suts=("kernel", "srv6d")))
    s.append(dict(
        name="l2fwd", data="ipv6", stamp=None,
        description="AF_XDP l2fwd: rx -> tx with the Ethernet header rewritten (the machine's ceiling)",
        sut="srv6bench l2fwd --rx <lan> --tx <wan> (no configuration)",
        kernel_na=None, suts=("l2fwd",)))
    return {x["name"]: x for x in s}


SCENARIOS = _scenarios()


def module_name(scenario):
    """File name (without .py) of a scenario's profile."""
    return scenario.replace("-", "_")


# --- tunables ---------------------------------------------------------------

def _size(v):
    if isinstance(v, str):
        v = v.strip().lower()
        if v == "imix":
            return v
        v = int(v)
    if v not in P.SIZES:
        raise ValueError("size %r: one of %s or imix" % (v, ", ".join(map(str, P.SIZES))))
    return v


def _sizes(size):
    """(size, weight) pairs of a size tunable."""
    size = _size(size)
    return P.IMIX if size == "imix" else ((size, 1),)


def parse_tunables(tunables):
    """Argparse-style tunables (["--size", "imix", ...]) into kwargs."""
    import argparse

    ap = argparse.ArgumentParser(prog="srv6bench profile", add_help=False)
    ap.add_argument("--size", default=None)
    ap.add_argument("--flows", type=int, default=None)
    ap.add_argument("--stamp_pct", "--stamp-pct", type=float, default=None)
    ap.add_argument("--csum", default=None)
    ap.add_argument("--pg_id", "--pg-id", type=int, default=None)
    a = ap.parse_args(list(tunables))
    return {k: v for k, v in vars(a).items() if v is not None}


# --- packets and stream plans (no TRex needed) ------------------------------

def packets(scenario, size=64):
    """The base frames (bytes, no FCS) of a scenario at `size`: its data
    packet(s) (three for imix), then its STAMP packet if any."""
    sc = SCENARIOS[scenario]
    out = [P.build(sc["data"], s) for s, _ in _sizes(size)]
    if sc["stamp"]:
        out.append(P.build(sc["stamp"], 64))
    return out


def plan(scenario, size=64, flows=DEFAULT_FLOWS, stamp_pct=None, **_):
    """What the profile sends, TRex-free: a list of dicts (name, packet,
    size, frame, share of the offered frames in percent, flows)."""
    sc = SCENARIOS[scenario]
    flows = int(flows)
    if flows < 1 or flows > 65535 - P.UDP_SPORT + 1:
        raise ValueError("flows %d out of range" % flows)
    pct = 0.0
    if sc["stamp"]:
        pct = DEFAULT_STAMP_PCT if stamp_pct is None else float(stamp_pct)
        if not 0.0 <= pct <= 100.0:
            raise ValueError("stamp_pct %r is not a percentage" % stamp_pct)
    elif stamp_pct not in (None, 0, 0.0, "0"):
        raise ValueError("scenario %s has no STAMP mix" % scenario)
    sizes = _sizes(size)
    total_w = float(sum(w for _, w in sizes))
    out = []
    if pct < 100.0:
        for s, w in sizes:
            out.append(dict(name="%s-%s-%d" % (scenario, sc["data"], s), packet=sc["data"], size=s,
                            frame=P.build(sc["data"], s), share=(100.0 - pct) * w / total_w,
                            flows=flows))
    if pct > 0.0:
        out.append(dict(name="%s-%s" % (scenario, sc["stamp"]), packet=sc["stamp"], size=P.STAMP_FRAME + 4,
                        frame=P.build(sc["stamp"], 64), share=pct, flows=P.STAMP_FLOWS))
    return out


# --- TRex ----------------------------------------------------------------

def _trex():
    try:
        import trex_stl_lib.api as api  # TRex v2.x (stl/trex_stl_lib)
    except ImportError:
        try:
            import trex.stl.api as api  # newer TRex (automation/trex_control_plane/interactive)
        except ImportError:
            raise ImportError("TRex's Python API is not importable: run this profile from TRex "
                              "(trex-console / STLClient), see trex-profiles/README.md")
    return api


def _vm(api, item, csum):
    """The field engine of one stream: vary what srv6bench varies."""
    packet = item["packet"]
    cmds = []
    udp = P.udp_offset(packet)
    if packet in P.DATA_PACKETS:
        flows = item["flows"]
        if flows <= 1:
            return None
        cmds.append(api.STLVmFlowVar(name="sport", min_value=P.UDP_SPORT,
                                     max_value=P.UDP_SPORT + flows - 1,
                                     init_value=P.UDP_SPORT, size=2, op="inc"))
        cmds.append(api.STLVmWrFlowVar(fv_name="sport", pkt_offset=udp))
        if csum == "keep":
            # sport + comp stays constant in one's-complement arithmetic
            # (0xffff is zero there): the UDP checksum stays valid.
            cmds.append(api.STLVmFlowVar(name="comp", min_value=0x10000 - flows,
                                         max_value=0xFFFF, init_value=0xFFFF, size=2, op="dec"))
            seq_lo = udp + 8 + 8 + 6  # payload: magic(8), seq(8): its last 2 octets
            cmds.append(api.STLVmWrFlowVar(fv_name="comp", pkt_offset=seq_lo))
    else:
        # STAMP: source port 40000 + seq % 64 and the sequence number(s),
        # as srv6bench's set_stamp_seq / Template::write do.
        cmds.append(api.STLVmFlowVar(name="ssport", min_value=P.STAMP_SPORT_BASE,
                                     max_value=P.STAMP_SPORT_BASE + P.STAMP_FLOWS - 1,
                                     init_value=P.STAMP_SPORT_BASE, size=2, op="inc"))
        cmds.append(api.STLVmFlowVar(name="sseq", min_value=0, max_value=0xFFFFFFFF,
                                     init_value=0, size=4, op="inc"))
        if packet == "stamp-test":
            cmds.append(api.STLVmWrFlowVar(fv_name="ssport", pkt_offset=udp))
        for off in P.stamp_seq_offsets(packet):
            cmds.append(api.STLVmWrFlowVar(fv_name="sseq", pkt_offset=off))
        if csum == "keep":
            raise ValueError("csum=keep is for data packets; STAMP streams need csum=hw")
    if csum == "hw":
        cmds.append(api.STLVmFixChecksumHw(
            l3_offset=P.l3_offset(packet), l4_offset=udp,
            l4_type=api.CTRexVmInsFixHwCs.L4_TYPE_UDP))
    return api.STLScVmRaw(cmds)


def streams(scenario, size=64, flows=DEFAULT_FLOWS, stamp_pct=None, csum="hw", pg_id=None,
            total_pps=1000000.0, **_):
    """TRex STLStream objects of a scenario; rates are in proportion to the
    mix (total `total_pps`: scale with the console's -m)."""
    if csum not in ("hw", "keep"):
        raise ValueError("csum: hw or keep")
    api = _trex()
    out = []
    for i, item in enumerate(plan(scenario, size, flows, stamp_pct)):
        kw = {}
        if pg_id is not None:
            kw["flow_stats"] = api.STLFlowStats(pg_id=int(pg_id) + i)
        out.append(api.STLStream(
            name=item["name"],
            packet=api.STLPktBuilder(pkt_buffer=item["frame"], vm=_vm(api, item, csum)),
            mode=api.STLTXCont(pps=total_pps * item["share"] / 100.0),
            **kw))
    return out


def make_profile(scenario):
    """(profile class, register function, packets function) for a scenario."""
    if scenario not in SCENARIOS:
        raise KeyError("unknown scenario %r" % scenario)

    class Srv6benchProfile(object):
        SCENARIO = scenario

        def get_streams(self, direction=0, tunables=None, port_id=None, **kwargs):
            # srv6bench's traffic is one-way (generator -> SUT LAN port):
            # direction/port_id do not change the packets.
            if isinstance(direction, (list, tuple)):  # tunables passed first
                tunables, direction = direction, 0
            if tunables:
                kwargs.update(parse_tunables(tunables))
            return streams(scenario, **kwargs)

    Srv6benchProfile.__name__ = "Srv6bench_" + module_name(scenario)

    def register():
        return Srv6benchProfile()

    def pkts(size=64):
        return packets(scenario, size)

    return Srv6benchProfile, register, pkts


# --- experiments.csv ----------------------------------------------------------

CSV_COLUMNS = (
    "experiment", "scenario", "sut", "frame_size", "profile", "tunables", "data_packet",
    "stamp_packet", "stamp_pcts", "sut_config", "na", "compare_with_srv6bench",
    "search", "pdr_drop_ratio", "ndr_drop_ratio", "trial_seconds", "warmup_seconds",
    "repetitions", "resolution", "max_trials", "retests", "flows", "latency_at_pct_of_pdr",
    "probes_per_second",
)


def experiments():
    """SRPerf-style experiment rows: (scenario, size, SUT kind)."""
    rows = []
    for sc in SCENARIOS.values():
        for size in P.SIZES + ("imix",):
            for sut in sc["suts"]:
                na = sc["kernel_na"] if sut == "kernel" else ""
                if sut == "kernel":
                    how = "srv6d run --dataplane kernel + srv6ctl apply (same TOML): " + sc["sut"]
                elif sut == "srv6d":
                    how = "srv6d run (AF_XDP) + srv6ctl apply: " + sc["sut"]
                else:
                    how = sc["sut"]
                tun = "size=%s,flows=%d" % (size, DEFAULT_FLOWS)
                if sc["stamp"]:
                    tun += ",stamp_pct=<each of stamp_pcts>"
                rows.append(dict(
                    experiment="%s_%s_%s" % (sc["name"], sut, size),
                    scenario=sc["name"], sut=sut, frame_size=size,
                    profile=module_name(sc["name"]) + ".py", tunables=tun,
                    data_packet=sc["data"], stamp_packet=sc["stamp"] or "",
                    stamp_pcts=";".join("%g" % f for f in FRACTIONS) if sc["stamp"] else "",
                    sut_config=how, na=na or "",
                    compare_with_srv6bench="no (srv6bench has no imix)" if size == "imix" else "yes",
                    search="MRR;NDR;PDR (binary search after a warm-up trial)",
                    flows=DEFAULT_FLOWS, **SEARCH))
    return rows


def experiments_csv():
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in experiments():
        w.writerow(r)
    return buf.getvalue()


if __name__ == "__main__":
    if sys.argv[1:] == ["experiments"]:
        sys.stdout.write(experiments_csv())
    elif sys.argv[1:] == ["list"]:
        for sc in SCENARIOS.values():
            print("%-22s %-8s %-12s %s" % (sc["name"], sc["data"], sc["stamp"] or "-", sc["description"]))
    else:
        sys.exit("usage: srv6bench_trex.py experiments|list")
