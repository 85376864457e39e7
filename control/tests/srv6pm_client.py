#!/usr/bin/env python3
"""A controller-style srv6pm client: drives srv6d's STAMP Session-Sender and
Session-Reflector services the way a controller written for the published
STAMP-over-SRv6 API would. Its stubs are generated at run time by
grpc_tools.protoc from srv6pm_contract/srv6pm.proto, a .proto written from
the contract's text (STAMP-API-COMPAT.md), not from srv6d's own .proto
files: a server that drifted from the contract fails here.

Phases (sub-commands), each against the agent of the namespace it runs in:

  sender-statuses     On a sender not yet initialised: every status code of
                      the contract, case by case (NOT_INITIALIZED for each
                      session call before Init, ALREADY_INITIALIZED,
                      SESSION_EXISTS, SESSION_RUNNING to Start a running and
                      to Destroy a running session (which keeps running),
                      SESSION_NOT_RUNNING, SESSION_NOT_FOUND for each call,
                      RESET_FAILED while a session exists (nothing
                      destroyed), an out-of-range ssid named as `ssid`).
                      Ends with the sender Reset.
  reflector-statuses  The same for the reflector service.
  reflector-up        Init; Create and Start --ssid and --second-ssid with
                      --return-sidlist, and --probe-ssid with
                      --probe-return-sidlist.
  sender-run          Init; Create and Start --ssid (A) and --second-ssid
                      (B); Get A's records until --min-results; B's records
                      must still hold the ones from before A's takes
                      (records are per session); Stop both; GetResultsCounter
                      of A counts its new records and a Get right after
                      returns none (the counter takes them); Destroy, Reset.
  sender-up           Init; Create and Start --ssid and --second-ssid (for a
                      check through srv6d's own API).
  sender-down         Stop and Destroy them, Reset.
  reflector-stop      Stop --probe-ssid.
  reflector-down      Stop, Destroy the sessions, Reset.
  probe               A Session-Sender built with Scapy: sends --count test
                      packets of --probe-ssid from --probe-source to
                      --reflector-ip and checks, with Scapy's dissector,
                      every reply's IPv6 destination and SRH against
                      --probe-return-sidlist (the contract's whole return
                      path: segments in reverse, Segments Left 0 on
                      arrival), or with --expect-none that nothing comes
                      back.

Prints one JSON object on stdout: every call with its status and the one
expected, the records [T1, T2, T3, T4] (Unix seconds), what was checked.
Exits 0 when everything is as expected, 1 otherwise, 2 on bad arguments,
3 when grpcio / grpcio-tools / scapy are missing (run scripts/deps.sh).
"""

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time

try:
    import grpc
    import grpc_tools  # noqa: F401  (protoc is run as `python3 -m grpc_tools.protoc`)
except ImportError as e:
    print(
        f"srv6pm_client: {e}: the Python packages grpcio and grpcio-tools are "
        "missing; run scripts/deps.sh",
        file=sys.stderr,
    )
    sys.exit(3)

CONTRACT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "srv6pm_contract")
OK = "STATUS_CODE_SUCCESS"
NOT_INITIALIZED = "STATUS_CODE_NOT_INITIALIZED"
ALREADY_INITIALIZED = "STATUS_CODE_ALREADY_INITIALIZED"
EXISTS = "STATUS_CODE_SESSION_EXISTS"
RUNNING = "STATUS_CODE_SESSION_RUNNING"
NOT_RUNNING = "STATUS_CODE_SESSION_NOT_RUNNING"
NOT_FOUND = "STATUS_CODE_SESSION_NOT_FOUND"
RESET_FAILED = "STATUS_CODE_RESET_FAILED"
INVALID = "STATUS_CODE_INVALID_ARGUMENT"
STAMP_PORT = 862


class Unexpected(Exception):
    pass


def generate(out_dir):
    """Generates the stubs from the contract's .proto into out_dir and
    imports them."""
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{CONTRACT_DIR}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        "srv6pm.proto",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"srv6pm_client: protoc failed: {' '.join(cmd)}\n{done.stderr}")
    sys.path.insert(0, out_dir)
    return importlib.import_module("srv6pm_pb2"), importlib.import_module("srv6pm_pb2_grpc")


class Client:
    def __init__(self, pb, pb_grpc, summary):
        self.pb = pb
        self.pb_grpc = pb_grpc
        self.summary = summary
        self.mismatches = []

    def channel(self, target, timeout):
        # No proxy: the agents are in the lab's namespaces.
        ch = grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)])
        grpc.channel_ready_future(ch).result(timeout=timeout)
        return ch

    def call(self, label, rpc, request, expect=OK):
        """Calls rpc and records the outcome. A status other than `expect` is
        noted (every case is tried; the phase fails at its end); a gRPC
        error raises (the contract keeps the gRPC status OK and puts the
        outcome in the reply)."""
        entry = {"rpc": label, "expected": expect}
        self.summary["calls"].append(entry)
        try:
            reply = rpc(request, timeout=30)
        except grpc.RpcError as e:
            entry["status"] = f"gRPC {e.code().name}"
            entry["description"] = e.details()
            raise Unexpected(f"{label}: gRPC error {e.code().name}: {e.details()}")
        entry["status"] = self.pb.StatusCode.Name(reply.status)
        entry["description"] = getattr(reply, "description", "")
        if entry["status"] != expect:
            self.mismatches.append(
                f"{label}: {entry['status']} ({entry['description']!r}), expected {expect}")
        return reply

    def check(self, what, ok, detail=""):
        self.summary.setdefault("checks", []).append({"check": what, "ok": bool(ok),
                                                      "detail": str(detail)})
        if not ok:
            self.mismatches.append(f"{what}: {detail}")

    def finish(self):
        if self.mismatches:
            raise Unexpected("; ".join(self.mismatches))

    # -- requests --------------------------------------------------------------

    def sender_stub(self, args):
        return self.pb_grpc.STAMPSessionSenderServiceStub(
            self.channel(args.agent, args.connect_timeout))

    def reflector_stub(self, args):
        return self.pb_grpc.STAMPSessionReflectorServiceStub(
            self.channel(args.agent, args.connect_timeout))

    def sender_init(self, args):
        return self.pb.InitStampSenderRequest(
            sender_udp_port=args.sender_port,
            interfaces=args.interface,
            stamp_source_ipv6_address=args.sender_source,
        )

    def sender_create(self, args, ssid):
        pb = self.pb
        return pb.CreateStampSenderSessionRequest(
            ssid=ssid,
            sidlist=pb.SRv6Path(segments=args.sidlist),
            interval=args.interval,
            stamp_params=pb.StampSenderParameters(
                reflector_ip=args.reflector_ip,
                reflector_udp_port=STAMP_PORT,
                auth_mode=pb.AUTHENTICATION_MODE_HMAC_SHA_256 if args.key
                else pb.AUTHENTICATION_MODE_UNAUTHENTICATED,
                key_chain=args.key or "",
                timestamp_format=pb.TIMESTAMP_FORMAT_NTP,
                packet_loss_type=pb.PACKET_LOSS_TYPE_ROUND_TRIP,
                delay_measurement_mode=pb.DELAY_MEASUREMENT_MODE_TWO_WAY,
            ),
        )

    def reflector_init(self, args):
        return self.pb.InitStampReflectorRequest(
            reflector_udp_port=STAMP_PORT,
            interfaces=args.interface,
            stamp_source_ipv6_address=args.reflector_ip,
        )

    def reflector_create(self, args, ssid, return_sidlist):
        pb = self.pb
        return pb.CreateStampReflectorSessionRequest(
            ssid=ssid,
            return_sidlist=pb.SRv6Path(segments=return_sidlist),
            stamp_params=pb.StampReflectorParameters(
                reflector_udp_port=STAMP_PORT,
                auth_mode=pb.AUTHENTICATION_MODE_HMAC_SHA_256 if args.key
                else pb.AUTHENTICATION_MODE_UNAUTHENTICATED,
                key_chain=args.key or "",
                timestamp_format=pb.TIMESTAMP_FORMAT_NTP,
                session_reflector_mode=pb.SESSION_REFLECTOR_MODE_STATELESS,
            ),
        )

    # -- status codes, case by case --------------------------------------------

    def sender_statuses(self, args):
        s, pb = self.sender_stub(args), self.pb
        x, unknown = args.ssid, args.unknown_ssid

        def by_ssid(ssid):
            return {
                "StartStampSession": (s.StartStampSession,
                                      pb.StartStampSenderSessionRequest(ssid=ssid)),
                "StopStampSession": (s.StopStampSession,
                                     pb.StopStampSenderSessionRequest(ssid=ssid)),
                "DestroyStampSession": (s.DestroyStampSession,
                                        pb.DestroyStampSenderSessionRequest(ssid=ssid)),
                "GetStampSessionResults": (s.GetStampSessionResults,
                                           pb.GetStampSessionResultsRequest(ssid=ssid)),
                "GetResultsCounter": (s.GetResultsCounter,
                                      pb.StampResultsCountersRequest(ssid=ssid)),
            }

        # Before Init: every session call.
        self.call("sender.CreateStampSession(before Init)", s.CreateStampSession,
                  self.sender_create(args, x), NOT_INITIALIZED)
        for name, (rpc, req) in by_ssid(x).items():
            self.call(f"sender.{name}(before Init)", rpc, req, NOT_INITIALIZED)
        self.call("sender.Init", s.Init, self.sender_init(args))
        self.call("sender.Init(again)", s.Init, self.sender_init(args), ALREADY_INITIALIZED)
        # An SSID is 16 bits; the error names the request's own field.
        bad = self.call("sender.CreateStampSession(ssid 70000)", s.CreateStampSession,
                        self.sender_create(args, 70000), INVALID)
        self.check("sender: the out-of-range error names `ssid`",
                   bad.description.startswith("ssid:") and "stamp_params" not in bad.description,
                   bad.description)
        # Unknown SSID: every call.
        for name, (rpc, req) in by_ssid(unknown).items():
            self.call(f"sender.{name}(unknown)", rpc, req, NOT_FOUND)
        self.call("sender.CreateStampSession", s.CreateStampSession, self.sender_create(args, x))
        self.call("sender.CreateStampSession(again)", s.CreateStampSession,
                  self.sender_create(args, x), EXISTS)
        calls = by_ssid(x)
        self.call("sender.StopStampSession(stopped)", *calls["StopStampSession"], NOT_RUNNING)
        self.call("sender.StartStampSession", *calls["StartStampSession"])
        self.call("sender.StartStampSession(running)", *calls["StartStampSession"], RUNNING)
        self.call("sender.DestroyStampSession(running)", *calls["DestroyStampSession"], RUNNING)
        # Still there and still running: Stop succeeds.
        self.call("sender.StopStampSession(after Destroy refused)", *calls["StopStampSession"])
        self.call("sender.Reset(a session exists)", s.Reset, pb.ResetStampSenderRequest(),
                  RESET_FAILED)
        # Nothing was destroyed or forgotten by the refused Reset.
        self.call("sender.CreateStampSession(after Reset refused)", s.CreateStampSession,
                  self.sender_create(args, x), EXISTS)
        self.call("sender.Init(after Reset refused)", s.Init, self.sender_init(args),
                  ALREADY_INITIALIZED)
        self.call("sender.DestroyStampSession", *calls["DestroyStampSession"])
        self.call("sender.DestroyStampSession(destroyed)", *calls["DestroyStampSession"],
                  NOT_FOUND)
        self.call("sender.Reset", s.Reset, pb.ResetStampSenderRequest())
        self.call("sender.StartStampSession(after Reset)", *calls["StartStampSession"],
                  NOT_INITIALIZED)

    def reflector_statuses(self, args):
        r, pb = self.reflector_stub(args), self.pb
        x, unknown = args.ssid, args.unknown_ssid

        def by_ssid(ssid):
            return {
                "StartStampSession": (r.StartStampSession,
                                      pb.StartStampReflectorSessionRequest(ssid=ssid)),
                "StopStampSession": (r.StopStampSession,
                                     pb.StopStampReflectorSessionRequest(ssid=ssid)),
                "DestroyStampSession": (r.DestroyStampSession,
                                        pb.DestroyStampReflectorSessionRequest(ssid=ssid)),
            }

        create = self.reflector_create(args, x, args.return_sidlist)
        self.call("reflector.CreateStampSession(before Init)", r.CreateStampSession, create,
                  NOT_INITIALIZED)
        for name, (rpc, req) in by_ssid(x).items():
            self.call(f"reflector.{name}(before Init)", rpc, req, NOT_INITIALIZED)
        self.call("reflector.Init", r.Init, self.reflector_init(args))
        self.call("reflector.Init(again)", r.Init, self.reflector_init(args),
                  ALREADY_INITIALIZED)
        bad = self.call("reflector.CreateStampSession(ssid 70000)", r.CreateStampSession,
                        self.reflector_create(args, 70000, args.return_sidlist), INVALID)
        self.check("reflector: the out-of-range error names `ssid`",
                   bad.description.startswith("ssid:") and "return_sidlist" not in bad.description
                   and "stamp_params" not in bad.description,
                   bad.description)
        for name, (rpc, req) in by_ssid(unknown).items():
            self.call(f"reflector.{name}(unknown)", rpc, req, NOT_FOUND)
        self.call("reflector.CreateStampSession", r.CreateStampSession, create)
        self.call("reflector.CreateStampSession(again)", r.CreateStampSession, create, EXISTS)
        calls = by_ssid(x)
        self.call("reflector.StopStampSession(stopped)", *calls["StopStampSession"], NOT_RUNNING)
        self.call("reflector.StartStampSession", *calls["StartStampSession"])
        self.call("reflector.StartStampSession(running)", *calls["StartStampSession"], RUNNING)
        self.call("reflector.DestroyStampSession(running)", *calls["DestroyStampSession"],
                  RUNNING)
        self.call("reflector.StopStampSession(after Destroy refused)",
                  *calls["StopStampSession"])
        self.call("reflector.Reset(a session exists)", r.Reset, pb.ResetStampReflectorRequest(),
                  RESET_FAILED)
        self.call("reflector.CreateStampSession(after Reset refused)", r.CreateStampSession,
                  create, EXISTS)
        self.call("reflector.Init(after Reset refused)", r.Init, self.reflector_init(args),
                  ALREADY_INITIALIZED)
        self.call("reflector.DestroyStampSession", *calls["DestroyStampSession"])
        self.call("reflector.DestroyStampSession(destroyed)", *calls["DestroyStampSession"],
                  NOT_FOUND)
        self.call("reflector.Reset", r.Reset, pb.ResetStampReflectorRequest())
        self.call("reflector.StartStampSession(after Reset)", *calls["StartStampSession"],
                  NOT_INITIALIZED)

    # -- reflector ---------------------------------------------------------------

    def reflector_sessions(self, args):
        out = [(args.ssid, args.return_sidlist)]
        if args.second_ssid is not None:
            out.append((args.second_ssid, args.return_sidlist))
        if args.probe_ssid is not None:
            out.append((args.probe_ssid, args.probe_return_sidlist))
        return out

    def reflector_up(self, args):
        r, pb = self.reflector_stub(args), self.pb
        self.call("reflector.Init", r.Init, self.reflector_init(args))
        for ssid, path in self.reflector_sessions(args):
            reply = self.call(f"reflector.CreateStampSession({ssid})", r.CreateStampSession,
                              self.reflector_create(args, ssid, path))
            p = reply.stamp_params
            self.summary["reflector_params"] = {
                "reflector_udp_port": p.reflector_udp_port,
                "auth_mode": pb.AuthenticationMode.Name(p.auth_mode),
                "timestamp_format": pb.TimestampFormat.Name(p.timestamp_format),
                "session_reflector_mode": pb.SessionReflectorMode.Name(
                    p.session_reflector_mode),
            }
            self.call(f"reflector.StartStampSession({ssid})", r.StartStampSession,
                      pb.StartStampReflectorSessionRequest(ssid=ssid))

    def reflector_stop(self, args):
        r, pb = self.reflector_stub(args), self.pb
        self.call(f"reflector.StopStampSession({args.probe_ssid})", r.StopStampSession,
                  pb.StopStampReflectorSessionRequest(ssid=args.probe_ssid))

    def reflector_down(self, args):
        r, pb = self.reflector_stub(args), self.pb
        for ssid, _ in self.reflector_sessions(args):
            if ssid == args.probe_ssid:
                self.call(f"reflector.StopStampSession({ssid}, stopped)", r.StopStampSession,
                          pb.StopStampReflectorSessionRequest(ssid=ssid), NOT_RUNNING)
            else:
                self.call(f"reflector.StopStampSession({ssid})", r.StopStampSession,
                          pb.StopStampReflectorSessionRequest(ssid=ssid))
            self.call(f"reflector.DestroyStampSession({ssid})", r.DestroyStampSession,
                      pb.DestroyStampReflectorSessionRequest(ssid=ssid))
        self.call("reflector.Reset", r.Reset, pb.ResetStampReflectorRequest())

    # -- sender ------------------------------------------------------------------

    def records(self, reply, ssid):
        out = []
        for r in reply.results:
            if r.ssid != ssid:
                raise Unexpected(f"a result of SSID {r.ssid} in SSID {ssid}'s results")
            out.append([r.test_pkt_tx_timestamp, r.test_pkt_rx_timestamp,
                        r.reply_pkt_tx_timestamp, r.reply_pkt_rx_timestamp])
        return out

    def sender_run(self, args):
        s, pb = self.sender_stub(args), self.pb
        a, b = args.ssid, args.second_ssid
        get = lambda ssid: pb.GetStampSessionResultsRequest(ssid=ssid)  # noqa: E731
        self.call("sender.Init", s.Init, self.sender_init(args))
        for ssid in (a, b):
            reply = self.call(f"sender.CreateStampSession({ssid})", s.CreateStampSession,
                              self.sender_create(args, ssid))
            p = reply.stamp_params
            self.summary["sender_params"] = {
                "reflector_ip": p.reflector_ip,
                "reflector_udp_port": p.reflector_udp_port,
                "auth_mode": pb.AuthenticationMode.Name(p.auth_mode),
                "timestamp_format": pb.TimestampFormat.Name(p.timestamp_format),
            }
        started = time.time()
        for ssid in (a, b):
            self.call(f"sender.StartStampSession({ssid})", s.StartStampSession,
                      pb.StartStampSenderSessionRequest(ssid=ssid))
        self.summary["started_at"] = started
        time.sleep(args.wait)
        # A's records, taken (drained) until there are enough: the check is
        # about behaviour, not speed, so a loaded machine may take longer.
        first = []
        deadline = time.monotonic() + args.timeout
        polls = 0
        while True:
            last_take = time.time()
            reply = self.call("sender.GetStampSessionResults(A)", s.GetStampSessionResults,
                              get(a))
            polls += 1
            first += self.records(reply, a)
            if len(first) >= args.min_results or time.monotonic() > deadline:
                break
            self.summary["calls"].pop()  # only the last poll's entry is kept
            time.sleep(0.5)
        self.summary["polls"] = polls
        self.summary["results"] = first
        self.summary["last_take_of_a"] = last_take
        # B's records were not taken with A's: those sent before A's last
        # take are still there.
        b_records = self.records(self.call("sender.GetStampSessionResults(B)",
                                           s.GetStampSessionResults, get(b)), b)
        self.summary["results_b"] = b_records
        older = [r for r in b_records if r[0] < last_take - 1.0]
        self.check("B's records from before A's last take are kept for B",
                   len(older) >= 1,
                   f"{len(b_records)} records of B, {len(older)} sent before "
                   f"{last_take - 1.0:.3f} (A's last take - 1 s)")
        # Let A gather a few more records, stop both, let the last replies
        # arrive: the counter counts A's new records and takes them.
        time.sleep(2.5)
        for ssid in (a, b):
            self.call(f"sender.StopStampSession({ssid})", s.StopStampSession,
                      pb.StopStampSenderSessionRequest(ssid=ssid))
        time.sleep(1.5)
        counter = self.call("sender.GetResultsCounter(A)", s.GetResultsCounter,
                            pb.StampResultsCountersRequest(ssid=a))
        self.summary["num_results"] = counter.num_results
        self.check("GetResultsCounter counted A's new records", counter.num_results >= 1,
                   counter.num_results)
        after = self.records(self.call("sender.GetStampSessionResults(A, after the counter)",
                                       s.GetStampSessionResults, get(a)), a)
        self.summary["results_after_counter"] = after
        self.check("the counted records are gone (GetResultsCounter empties the queue)",
                   len(after) == 0, f"{len(after)} records returned after the counter")
        again = self.records(self.call("sender.GetStampSessionResults(B, again)",
                                       s.GetStampSessionResults, get(b)), b)
        self.check("B's records are returned once",
                   not any(r in b_records for r in again), again)
        self.call("sender.StopStampSession(A, stopped)", s.StopStampSession,
                  pb.StopStampSenderSessionRequest(ssid=a), NOT_RUNNING)
        for ssid in (a, b):
            self.call(f"sender.DestroyStampSession({ssid})", s.DestroyStampSession,
                      pb.DestroyStampSenderSessionRequest(ssid=ssid))
        self.call("sender.GetStampSessionResults(destroyed)", s.GetStampSessionResults,
                  get(a), NOT_FOUND)
        self.call("sender.Reset", s.Reset, pb.ResetStampSenderRequest())
        self.call("sender.CreateStampSession(after Reset)", s.CreateStampSession,
                  self.sender_create(args, a), NOT_INITIALIZED)
        self.check(f"at least {args.min_results} records of A", len(first) >= args.min_results,
                   f"{len(first)} after {args.wait + args.timeout} s")

    def sender_up(self, args):
        s, pb = self.sender_stub(args), self.pb
        self.call("sender.Init", s.Init, self.sender_init(args))
        for ssid in (args.ssid, args.second_ssid):
            self.call(f"sender.CreateStampSession({ssid})", s.CreateStampSession,
                      self.sender_create(args, ssid))
            self.call(f"sender.StartStampSession({ssid})", s.StartStampSession,
                      pb.StartStampSenderSessionRequest(ssid=ssid))

    def sender_down(self, args):
        s, pb = self.sender_stub(args), self.pb
        for ssid in (args.ssid, args.second_ssid):
            self.call(f"sender.StopStampSession({ssid})", s.StopStampSession,
                      pb.StopStampSenderSessionRequest(ssid=ssid))
            self.call(f"sender.DestroyStampSession({ssid})", s.DestroyStampSession,
                      pb.DestroyStampSenderSessionRequest(ssid=ssid))
        self.call("sender.Reset", s.Reset, pb.ResetStampSenderRequest())

    # -- probe (Scapy) -----------------------------------------------------------

    def probe(self, args):
        try:
            from scapy.all import (AsyncSniffer, IPv6, IPv6ExtHdrSegmentRouting, UDP,
                                   conf, raw, send)
            from scapy.contrib.stamp import (ErrorEstimate,
                                             STAMPSessionReflectorTestUnauthenticated,
                                             STAMPSessionSenderTestUnauthenticated)
        except ImportError as e:
            print(f"srv6pm_client: {e}: scapy is missing; run scripts/deps.sh",
                  file=sys.stderr)
            sys.exit(3)
        conf.verb = 0
        sport = args.probe_port
        # Not "udp" in the BPF filter: it reads only the IPv6 Next Header,
        # and a reply with an SRH has 43 there.
        sniffer = AsyncSniffer(iface=args.probe_iface, filter="ip6", store=True,
                               lfilter=lambda p: UDP in p and p[UDP].dport == sport)
        sniffer.start()
        time.sleep(0.5)
        for seq in range(args.count):
            stamp = STAMPSessionSenderTestUnauthenticated(
                seq=seq, err_estimate=ErrorEstimate(S=0, Z=0, scale=20, multiplier=1),
                ssid=args.probe_ssid)
            # As the srv6pm sender does, over an SRH (RFC 8754), here one
            # that has arrived (Segments Left 0) with as many entries as the
            # return path: an unauthenticated reply is never larger than its
            # request (docs/decisions/0011), so a plain 44-octet request
            # would get no reply along a longer return SRH.
            forward = [args.reflector_ip] + [args.probe_source] * max(
                0, len(args.probe_return_sidlist) - 1)
            pkt = (IPv6(src=args.probe_source, dst=args.reflector_ip, hlim=64)
                   / IPv6ExtHdrSegmentRouting(addresses=forward, segleft=0,
                                              lastentry=len(forward) - 1)
                   / UDP(sport=sport, dport=STAMP_PORT) / raw(stamp))
            send(pkt, iface=args.probe_iface)
            time.sleep(0.2)
        time.sleep(args.settle)
        replies = sniffer.stop()
        seen = []
        for r in replies:
            ip = r[IPv6]
            srh = r.getlayer(IPv6ExtHdrSegmentRouting)
            item = {"dst": ip.dst, "src": ip.src}
            if srh is not None:
                item.update(segments=list(srh.addresses), segleft=srh.segleft,
                            lastentry=srh.lastentry)
            item["ssid"] = STAMPSessionReflectorTestUnauthenticated(
                bytes(r[UDP].payload)).ssid
            seen.append(item)
        self.summary["replies"] = seen
        if args.expect_none:
            self.check("a stopped reflector session answers nothing", len(seen) == 0, seen)
            return
        path = args.probe_return_sidlist
        self.check("replies arrived", len(seen) >= 1, f"{len(seen)} of {args.count}")
        for item in seen:
            # RFC 8754: Segment List[0] is the final segment, so the SRH
            # lists the return path in reverse; at the final destination
            # (the last SID) Segments Left is 0.
            want = {"dst": path[-1], "src": args.reflector_ip, "segments": path[::-1],
                    "segleft": 0, "lastentry": len(path) - 1, "ssid": args.probe_ssid}
            self.check("the reply arrives with the SRH of the whole return path", item == want,
                       f"got {item}, want {want}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["sender-statuses", "reflector-statuses", "reflector-up",
                                      "sender-run", "sender-up", "sender-down", "reflector-stop",
                                      "reflector-down", "probe"])
    ap.add_argument("--agent", default="127.0.0.1:50051", help="the node's agent")
    ap.add_argument("--ssid", type=int, required=True)
    ap.add_argument("--second-ssid", type=int)
    ap.add_argument("--unknown-ssid", type=int, default=None,
                    help="an SSID that has no session (default: SSID + 1000)")
    ap.add_argument("--sidlist", nargs="*", default=[],
                    help="the sender's SIDs before the reflector")
    ap.add_argument("--return-sidlist", nargs="*", default=[],
                    help="the reflector's whole return path, ending at the sender")
    ap.add_argument("--reflector-ip", required=True,
                    help="the reflector's address (its Init source)")
    ap.add_argument("--sender-source", default="", help="the sender's source address")
    ap.add_argument("--interface", action="append", default=[])
    ap.add_argument("--sender-port", type=int, default=50862)
    ap.add_argument("--interval", type=int, default=1, help="seconds between test packets")
    ap.add_argument("--key", help="HMAC-SHA-256 key in hex: authenticated mode")
    ap.add_argument("--wait", type=float, default=5.0, help="seconds the sessions run at least")
    ap.add_argument("--min-results", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="extra seconds to wait for --min-results")
    ap.add_argument("--probe-ssid", type=int)
    ap.add_argument("--probe-return-sidlist", nargs="*", default=[])
    ap.add_argument("--probe-source", help="the Scapy sender's address")
    ap.add_argument("--probe-iface")
    ap.add_argument("--probe-port", type=int, default=50999)
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds to wait for replies after the last test packet")
    ap.add_argument("--expect-none", action="store_true")
    ap.add_argument("--connect-timeout", type=float, default=15.0)
    args = ap.parse_args()
    if args.unknown_ssid is None:
        args.unknown_ssid = args.ssid + 1000
    if args.phase in ("sender-run", "sender-up", "sender-down") and (
            args.second_ssid is None or not args.sender_source):
        ap.error(f"{args.phase} needs --second-ssid and --sender-source")
    if args.phase in ("probe", "reflector-stop") and args.probe_ssid is None:
        ap.error(f"{args.phase} needs --probe-ssid")
    if args.phase == "probe" and not (args.probe_source and args.probe_iface):
        ap.error("probe needs --probe-source and --probe-iface")
    if args.phase == "probe" and not args.expect_none and not args.probe_return_sidlist:
        ap.error("probe needs --probe-return-sidlist (or --expect-none)")

    summary = {"phase": args.phase, "ok": False, "calls": []}
    code = 1
    with tempfile.TemporaryDirectory(prefix="srv6pm-stubs-") as out:
        try:
            pb, pb_grpc = generate(out)
            client = Client(pb, pb_grpc, summary)
            {
                "sender-statuses": client.sender_statuses,
                "reflector-statuses": client.reflector_statuses,
                "reflector-up": client.reflector_up,
                "sender-run": client.sender_run,
                "sender-up": client.sender_up,
                "sender-down": client.sender_down,
                "reflector-stop": client.reflector_stop,
                "reflector-down": client.reflector_down,
                "probe": client.probe,
            }[args.phase](args)
            client.finish()
            summary["ok"] = True
            code = 0
        except Unexpected as e:
            summary["error"] = str(e)
        except grpc.FutureTimeoutError:
            summary["error"] = "cannot connect to the agent"
    summary["now"] = time.time()
    print(json.dumps(summary, indent=1))
    if code != 0:
        print(f"srv6pm_client: {summary.get('error')}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
