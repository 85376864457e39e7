#!/usr/bin/env python3
"""A controller-style srv6pm client: drives srv6d's STAMP Session-Sender and
Session-Reflector services the way a controller written for the published
STAMP-over-SRv6 API would, with stubs generated at run time from srv6d's own
.proto files (control/proto/srv6pm/*.proto) by grpc_tools.protoc.

Phases (sub-commands), each against one agent address:

  reflector-up    Reflector Init, CreateStampSession (twice: SESSION_EXISTS),
                  StartStampSession of an unknown SSID (SESSION_NOT_FOUND),
                  StartStampSession.
  sender-run      Sender Init, CreateStampSession (twice: SESSION_EXISTS),
                  Start of an unknown SSID (SESSION_NOT_FOUND), Start, wait,
                  GetResultsCounter (polled until --min-results, at most
                  --timeout), GetStampSessionResults twice (the second must
                  not repeat the first's records), Stop, Destroy, Reset,
                  Create after Reset (NOT_INITIALIZED).
  reflector-down  Stop, Destroy, Start of the destroyed SSID
                  (SESSION_NOT_FOUND), Reset, Create after Reset
                  (NOT_INITIALIZED).
  all             The three in order, with --sender and --reflector
                  addresses (when one process can reach both agents).

Prints one JSON object on stdout: every call with its status, the result
records [T1, T2, T3, T4] (Unix seconds), the client's clock. Exits 0 when
every status is the expected one, 1 otherwise, 2 on bad arguments, 3 when
grpcio / grpcio-tools are missing (run scripts/deps.sh).
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

PROTOS = ["srv6pm/common.proto", "srv6pm/stamp_sender.proto", "srv6pm/stamp_reflector.proto"]
DEFAULT_PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "proto")


class Unexpected(Exception):
    pass


def generate(proto_dir, out_dir):
    """Generates the stubs into out_dir and imports them."""
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *PROTOS,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"srv6pm_client: protoc failed: {' '.join(cmd)}\n{done.stderr}")
    sys.path.insert(0, out_dir)
    names = ["common_pb2", "stamp_sender_pb2", "stamp_sender_pb2_grpc",
             "stamp_reflector_pb2", "stamp_reflector_pb2_grpc"]
    return {n: importlib.import_module(f"srv6pm.{n}") for n in names}


class Client:
    def __init__(self, pb, summary):
        self.pb = pb
        self.common = pb["common_pb2"]
        self.snd = pb["stamp_sender_pb2"]
        self.rfl = pb["stamp_reflector_pb2"]
        self.summary = summary
        self.channels = []

    def channel(self, target, timeout):
        # No proxy: the agents are in the lab's namespaces.
        ch = grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)])
        grpc.channel_ready_future(ch).result(timeout=timeout)
        self.channels.append(ch)
        return ch

    def status_name(self, value):
        return self.common.StatusCode.Name(value)

    def call(self, label, rpc, request, expect="STATUS_CODE_SUCCESS"):
        """Calls rpc; records the outcome; raises Unexpected on a status other
        than `expect` (or any gRPC error: the contract keeps the gRPC status
        OK and puts the outcome in the reply)."""
        entry = {"rpc": label, "expected": expect}
        self.summary["calls"].append(entry)
        try:
            reply = rpc(request, timeout=30)
        except grpc.RpcError as e:
            entry["status"] = f"gRPC {e.code().name}"
            entry["description"] = e.details()
            raise Unexpected(f"{label}: gRPC error {e.code().name}: {e.details()}")
        entry["status"] = self.status_name(reply.status)
        entry["description"] = getattr(reply, "description", "")
        if entry["status"] != expect:
            raise Unexpected(
                f"{label}: {entry['status']} ({entry['description']!r}), expected {expect}"
            )
        return reply

    # -- reflector -----------------------------------------------------------

    def reflector_stub(self, target, timeout):
        return self.pb["stamp_reflector_pb2_grpc"].STAMPSessionReflectorServiceStub(
            self.channel(target, timeout))

    def reflector_params(self, args):
        c = self.common
        return self.rfl.StampReflectorParameters(
            reflector_udp_port=args.reflector_port,
            auth_mode=c.AUTHENTICATION_MODE_HMAC_SHA_256 if args.key
            else c.AUTHENTICATION_MODE_UNAUTHENTICATED,
            key_chain=args.key or "",
            timestamp_format=c.TIMESTAMP_FORMAT_NTP,
            session_reflector_mode=c.SESSION_REFLECTOR_MODE_STATELESS,
        )

    def reflector_up(self, args, target):
        r = self.reflector_stub(target, args.connect_timeout)
        rfl = self.rfl
        self.call("reflector.Init", r.Init, rfl.InitStampReflectorRequest(
            reflector_udp_port=args.reflector_port,
            interfaces=args.reflector_interface,
            stamp_source_ipv6_address=args.reflector_ip,
        ))
        create = rfl.CreateStampReflectorSessionRequest(
            ssid=args.ssid,
            return_sidlist=self.common.SRv6Path(segments=args.return_sidlist),
            stamp_params=self.reflector_params(args),
        )
        reply = self.call("reflector.CreateStampSession", r.CreateStampSession, create)
        p = reply.stamp_params
        self.summary["reflector_params"] = {
            "reflector_udp_port": p.reflector_udp_port,
            "auth_mode": self.common.AuthenticationMode.Name(p.auth_mode),
            "timestamp_format": self.common.TimestampFormat.Name(p.timestamp_format),
            "session_reflector_mode": self.common.SessionReflectorMode.Name(
                p.session_reflector_mode),
        }
        self.call("reflector.CreateStampSession(again)", r.CreateStampSession, create,
                  "STATUS_CODE_SESSION_EXISTS")
        self.call("reflector.StartStampSession(unknown)", r.StartStampSession,
                  rfl.StartStampReflectorSessionRequest(ssid=args.unknown_ssid),
                  "STATUS_CODE_SESSION_NOT_FOUND")
        self.call("reflector.StartStampSession", r.StartStampSession,
                  rfl.StartStampReflectorSessionRequest(ssid=args.ssid))

    def reflector_down(self, args, target):
        r = self.reflector_stub(target, args.connect_timeout)
        rfl = self.rfl
        self.call("reflector.StopStampSession", r.StopStampSession,
                  rfl.StopStampReflectorSessionRequest(ssid=args.ssid))
        self.call("reflector.DestroyStampSession", r.DestroyStampSession,
                  rfl.DestroyStampReflectorSessionRequest(ssid=args.ssid))
        self.call("reflector.StartStampSession(destroyed)", r.StartStampSession,
                  rfl.StartStampReflectorSessionRequest(ssid=args.ssid),
                  "STATUS_CODE_SESSION_NOT_FOUND")
        self.call("reflector.Reset", r.Reset, rfl.ResetStampReflectorRequest())
        self.call("reflector.CreateStampSession(after Reset)", r.CreateStampSession,
                  rfl.CreateStampReflectorSessionRequest(
                      ssid=args.ssid, stamp_params=self.reflector_params(args)),
                  "STATUS_CODE_NOT_INITIALIZED")

    # -- sender --------------------------------------------------------------

    def sender_run(self, args, target):
        s = self.pb["stamp_sender_pb2_grpc"].STAMPSessionSenderServiceStub(
            self.channel(target, args.connect_timeout))
        snd, c = self.snd, self.common
        self.call("sender.Init", s.Init, snd.InitStampSenderRequest(
            sender_udp_port=args.sender_port,
            interfaces=args.sender_interface,
            stamp_source_ipv6_address=args.sender_source,
        ))
        create = snd.CreateStampSenderSessionRequest(
            ssid=args.ssid,
            sidlist=c.SRv6Path(segments=args.sidlist),
            interval=args.interval,
            stamp_params=snd.StampSenderParameters(
                reflector_ip=args.reflector_ip,
                reflector_udp_port=args.reflector_port,
                auth_mode=c.AUTHENTICATION_MODE_HMAC_SHA_256 if args.key
                else c.AUTHENTICATION_MODE_UNAUTHENTICATED,
                key_chain=args.key or "",
                timestamp_format=c.TIMESTAMP_FORMAT_NTP,
                packet_loss_type=c.PACKET_LOSS_TYPE_ROUND_TRIP,
                delay_measurement_mode=c.DELAY_MEASUREMENT_MODE_TWO_WAY,
            ),
        )
        reply = self.call("sender.CreateStampSession", s.CreateStampSession, create)
        p = reply.stamp_params
        self.summary["sender_params"] = {
            "reflector_ip": p.reflector_ip,
            "reflector_udp_port": p.reflector_udp_port,
            "auth_mode": c.AuthenticationMode.Name(p.auth_mode),
            "timestamp_format": c.TimestampFormat.Name(p.timestamp_format),
            "packet_loss_type": c.PacketLossType.Name(p.packet_loss_type),
            "delay_measurement_mode": c.DelayMeasurementMode.Name(p.delay_measurement_mode),
        }
        self.call("sender.CreateStampSession(again)", s.CreateStampSession, create,
                  "STATUS_CODE_SESSION_EXISTS")
        self.call("sender.StartStampSession(unknown)", s.StartStampSession,
                  snd.StartStampSenderSessionRequest(ssid=args.unknown_ssid),
                  "STATUS_CODE_SESSION_NOT_FOUND")
        self.call("sender.StartStampSession", s.StartStampSession,
                  snd.StartStampSenderSessionRequest(ssid=args.ssid))
        self.summary["started_at"] = time.time()
        time.sleep(args.wait)
        # Then, on a slow machine, until enough records are in: the check is
        # about behaviour, not speed.
        deadline = time.monotonic() + args.timeout
        polls = 0
        while True:
            counter = self.call("sender.GetResultsCounter", s.GetResultsCounter,
                                snd.GetResultsCounterRequest(ssid=args.ssid))
            polls += 1
            if counter.num_results >= args.min_results or time.monotonic() > deadline:
                break
            # Only the last poll's entry is kept in the summary.
            self.summary["calls"].pop()
            time.sleep(0.5)
        self.summary["counter_polls"] = polls
        self.summary["num_results"] = counter.num_results
        first = self.call("sender.GetStampSessionResults", s.GetStampSessionResults,
                          snd.GetStampSessionResultsRequest(ssid=args.ssid))
        second = self.call("sender.GetStampSessionResults(again)", s.GetStampSessionResults,
                           snd.GetStampSessionResultsRequest(ssid=args.ssid))

        def records(reply):
            out = []
            for r in reply.results:
                if r.ssid != args.ssid:
                    raise Unexpected(f"a result of SSID {r.ssid} in SSID {args.ssid}'s results")
                out.append([r.test_pkt_tx_timestamp, r.test_pkt_rx_timestamp,
                            r.reply_pkt_tx_timestamp, r.reply_pkt_rx_timestamp])
            return out

        self.summary["results"] = records(first)
        self.summary["results_again"] = records(second)
        self.call("sender.StopStampSession", s.StopStampSession,
                  snd.StopStampSenderSessionRequest(ssid=args.ssid))
        self.call("sender.StopStampSession(stopped)", s.StopStampSession,
                  snd.StopStampSenderSessionRequest(ssid=args.ssid),
                  "STATUS_CODE_SESSION_NOT_RUNNING")
        self.call("sender.DestroyStampSession", s.DestroyStampSession,
                  snd.DestroyStampSenderSessionRequest(ssid=args.ssid))
        self.call("sender.GetStampSessionResults(destroyed)", s.GetStampSessionResults,
                  snd.GetStampSessionResultsRequest(ssid=args.ssid),
                  "STATUS_CODE_SESSION_NOT_FOUND")
        self.call("sender.Reset", s.Reset, snd.ResetStampSenderRequest())
        self.call("sender.CreateStampSession(after Reset)", s.CreateStampSession, create,
                  "STATUS_CODE_NOT_INITIALIZED")
        if counter.num_results < args.min_results:
            raise Unexpected(
                f"{counter.num_results} results after {args.wait + args.timeout} s, "
                f"expected at least {args.min_results}")
        if len(self.summary["results"]) < counter.num_results:
            raise Unexpected(
                f"GetResultsCounter said {counter.num_results}, "
                f"GetStampSessionResults gave {len(self.summary['results'])}")
        repeated = [r for r in self.summary["results_again"] if r in self.summary["results"]]
        if repeated:
            raise Unexpected(f"the second GetStampSessionResults repeated {repeated}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["reflector-up", "sender-run", "reflector-down", "all"])
    ap.add_argument("--sender", default="127.0.0.1:50051",
                    help="the sender node's agent (sender-run, all)")
    ap.add_argument("--reflector", default="127.0.0.1:50051",
                    help="the reflector node's agent (reflector-up/-down, all)")
    ap.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR)
    ap.add_argument("--ssid", type=int, required=True)
    ap.add_argument("--unknown-ssid", type=int, default=None,
                    help="an SSID that has no session (default: SSID + 1000)")
    ap.add_argument("--sidlist", nargs="*", default=[],
                    help="the sender's SIDs before the reflector")
    ap.add_argument("--return-sidlist", nargs="*", default=[],
                    help="the reflector's SIDs before the sender")
    ap.add_argument("--reflector-ip", required=True,
                    help="the reflector's address (its Init source)")
    ap.add_argument("--sender-source", help="the sender's source address (its Init source)")
    ap.add_argument("--sender-interface", action="append", default=[])
    ap.add_argument("--reflector-interface", action="append", default=[])
    ap.add_argument("--sender-port", type=int, default=50862)
    ap.add_argument("--reflector-port", type=int, default=862)
    ap.add_argument("--interval", type=int, default=1, help="seconds between test packets")
    ap.add_argument("--key", help="HMAC-SHA-256 key in hex: authenticated mode")
    ap.add_argument("--wait", type=float, default=5.0, help="seconds the session runs at least")
    ap.add_argument("--min-results", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="extra seconds to wait for --min-results")
    ap.add_argument("--connect-timeout", type=float, default=15.0)
    args = ap.parse_args()
    if args.unknown_ssid is None:
        args.unknown_ssid = args.ssid + 1000
    if args.phase in ("sender-run", "all") and not args.sender_source:
        ap.error("--sender-source is needed to run the sender")

    summary = {"phase": args.phase, "ok": False, "calls": []}
    code = 1
    with tempfile.TemporaryDirectory(prefix="srv6pm-stubs-") as out:
        try:
            client = Client(generate(args.proto_dir, out), summary)
            if args.phase in ("reflector-up", "all"):
                client.reflector_up(args, args.reflector)
            if args.phase in ("sender-run", "all"):
                client.sender_run(args, args.sender)
            if args.phase in ("reflector-down", "all"):
                client.reflector_down(args, args.reflector)
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
