//! The SD-WAN of `sdwan_common`, provisioned only over srv6d's gRPC API
//! (srv6d started with `--state` and no `--config`), checked with real
//! traffic:
//!
//! 1. both edges provisioned from empty, one edge object by object
//!    (SetRouter, Create*), the other with one Apply batch: IPv4 (End.DT4)
//!    and IPv6 (End.DT6) VPNs in VRFs blue and red (overlapping IPv4) carry
//!    ping and TCP; GetConfig, List* and Get* return what was set.
//! 2. `--dataplane kernel`: the End.DT4 SIDs are refused by name
//!    (FAILED_PRECONDITION) and nothing changes; the IPv6 VPN over End.DT6
//!    in one VRF is programmed as kernel seg6 routes and carries ping and
//!    TCP; SIGTERM removes every route srv6d installed.
//! 3. a batch with one invalid element is INVALID_ARGUMENT naming that
//!    element, and changes nothing: configuration, generation, state file
//!    bytes, traffic; a dry run changes nothing either.
//! 4. after `kill -9`, a restart with the same `--state` restores the same
//!    configuration (generation included) and the traffic.
//! 5. adding a port over the API restarts the engine, and both VRFs work.

mod grpc_common;
mod sdwan_common;

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use control::proto::srv6d::v1 as pb;
use grpc_common::{
    canonical_toml, delete_route, edge_objects, put_policy, put_route, put_sid, Api, Daemon,
    EdgeObjects, Scratch,
};
use lab::Lab;
use sdwan_common::{
    edge_config, ping, prime_neighbours, tcp_transfer, topology, Capture, Mode, RunLock, H1, H1R,
    H2, H2R,
};

const SRV6D: &str = env!("CARGO_BIN_EXE_srv6d");

fn start(lab: &Lab, dir: &Scratch, ns: &str, log: &str, extra: &[&str]) -> Daemon {
    Daemon::start(
        lab,
        ns,
        Path::new(SRV6D),
        &dir.path(&format!("{ns}.toml")),
        dir.path(log),
        extra,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn logs(daemons: &[&Daemon]) -> String {
    daemons
        .iter()
        .map(|d| format!("--- {} ---\n{}", d.ns, d.log()))
        .collect()
}

/// Whether `src` gets replies from `dst`: up to three rounds of five
/// echo requests, the first of which may be lost while neighbours are
/// resolved; a round with at least three replies passes.
fn ping_works(lab: &Lab, src: &str, dst: &str) -> bool {
    (0..3).any(|_| ping(lab, src, dst, 5, 0).is_some_and(|p| p.received >= 3))
}

/// Whether no reply at all comes back to three echo requests.
fn ping_fails(lab: &Lab, src: &str, dst: &str) -> bool {
    ping(lab, src, dst, 3, 0).is_none()
}

/// Blue IPv4 + IPv6 and red IPv4, ping and TCP, site 1 to site 2; blue
/// never reaches red's host and red never reaches blue's.
fn check_all_traffic(lab: &Lab, daemons: &[&Daemon]) {
    let red_capture = Capture::start(lab, H2R.ns, H2R.v4).unwrap();
    let v6 = H2.v6.unwrap();
    for dst in [H2.v4, v6] {
        assert!(
            ping_works(lab, H1.ns, dst),
            "blue ping to {dst}\n{}",
            logs(daemons)
        );
        let r = tcp_transfer(lab, H1.ns, H2.ns, dst.parse().unwrap(), 1 << 20);
        assert!(r.is_ok(), "blue TCP to {dst}: {r:?}\n{}", logs(daemons));
    }
    let leaked = red_capture.count(0);
    assert_eq!(leaked, 0, "{leaked} blue packets reached red's host");

    let blue_capture = Capture::start(lab, H2.ns, H2.v4).unwrap();
    let _ = ping(lab, H1R.ns, H2R.v4, 3, 222);
    let pr = (0..3).any(|_| ping(lab, H1R.ns, H2R.v4, 5, 222).is_some_and(|p| p.received >= 3));
    assert!(pr, "red ping\n{}", logs(daemons));
    // 20 (IPv4) + 8 (ICMP) + 222: red's echo requests, none at blue's host.
    let leaked = blue_capture.count(250);
    assert_eq!(leaked, 0, "{leaked} red packets reached blue's host");
    let r = tcp_transfer(lab, H1R.ns, H2R.ns, H2R.v4.parse().unwrap(), 256 << 10);
    assert!(r.is_ok(), "red TCP: {r:?}\n{}", logs(daemons));
}

fn stop_clean(d: Daemon) {
    let ns = d.ns.clone();
    let (status, log) = d.stop().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "srv6d in {ns}: {status}\n{log}");
}

fn provision(api: &Api, objects: &EdgeObjects) -> u64 {
    let reply = api
        .apply(objects.changes(), false)
        .unwrap_or_else(|e| panic!("Apply: {e}"));
    reply.generation
}

fn empty(config: &pb::Config) -> bool {
    config.router.is_none()
        && config.ports.is_empty()
        && config.vrfs.is_empty()
        && config.sids.is_empty()
        && config.policies.is_empty()
        && config.routes.is_empty()
}

// ---------------------------------------------------------------------------
// 1. Provisioned from empty, both paths

/// Edge 1 object by object with SetRouter and the Create calls, each
/// checked to return the object as sent; the generation counts the calls.
/// Each call is validated as a whole configuration, so references come
/// first (VRFs before their ports, policies before their routes).
fn provision_step_by_step(api: &Api, e: &EdgeObjects) -> u64 {
    let mut calls = 0u64;
    let create_port = |p: &pb::Port| {
        let port = p.clone();
        let got = api
            .config_call(|mut c| async move {
                c.create_port(pb::CreatePortRequest { port: Some(port) })
                    .await
            })
            .unwrap_or_else(|s| panic!("CreatePort {}: {s}", p.name))
            .into_inner();
        assert_eq!(&got, p);
    };
    // A configuration needs a port and the router settings (as a file
    // does), and each single call is validated as a whole configuration:
    // from empty, neither CreatePort nor SetRouter alone is valid, so the
    // first step is one batch of both.
    let reply = api
        .apply(
            vec![
                grpc_common::put_port(&e.ports[0]),
                grpc_common::op(pb::change::Op::SetRouter(e.router.clone())),
            ],
            false,
        )
        .unwrap_or_else(|s| panic!("Apply wan0 + router: {s}"));
    assert_eq!(reply.generation, 1);
    calls += 1;
    let got = api
        .config_call(|mut c| async move { c.get_router(pb::GetRouterRequest {}).await })
        .unwrap_or_else(|s| panic!("GetRouter: {s}"))
        .into_inner();
    assert_eq!(got, e.router);
    for v in &e.vrfs {
        let vrf = v.clone();
        let got = api
            .config_call(|mut c| async move {
                c.create_vrf(pb::CreateVrfRequest { vrf: Some(vrf) }).await
            })
            .unwrap_or_else(|s| panic!("CreateVrf {}: {s}", v.name))
            .into_inner();
        assert_eq!(&got, v);
        calls += 1;
    }
    for p in &e.ports[1..] {
        create_port(p);
        calls += 1;
    }
    for s in &e.sids {
        let sid = s.clone();
        let got = api
            .config_call(|mut c| async move {
                c.create_sid(pb::CreateSidRequest { sid: Some(sid) }).await
            })
            .unwrap_or_else(|st| panic!("CreateSid {}: {st}", s.sid))
            .into_inner();
        assert_eq!(&got, s);
        calls += 1;
    }
    for p in &e.policies {
        let policy = p.clone();
        let got = api
            .config_call(|mut c| async move {
                c.create_policy(pb::CreatePolicyRequest {
                    policy: Some(policy),
                })
                .await
            })
            .unwrap_or_else(|s| panic!("CreatePolicy {}: {s}", p.name))
            .into_inner();
        assert_eq!(&got, p);
        calls += 1;
    }
    for r in &e.routes {
        let route = r.clone();
        let got = api
            .config_call(|mut c| async move {
                c.create_route(pb::CreateRouteRequest { route: Some(route) })
                    .await
            })
            .unwrap_or_else(|s| panic!("CreateRoute {} {}: {s}", r.vrf, r.prefix))
            .into_inner();
        assert_eq!(&got, r);
        calls += 1;
    }
    calls
}

/// GetConfig, the List calls and a few Get calls return `e`, and the
/// configuration's TOML is `edge_config`'s.
fn check_readback(api: &Api, e: &EdgeObjects, n: u8, generation: u64) {
    let what = format!("edge{n}");
    let config = api.config();
    assert_eq!(config.generation, generation, "{what}: generation");
    e.assert_in(&config, &what);
    assert_eq!(
        canonical_toml(&config.toml),
        canonical_toml(&edge_config(n, Mode::Encap, Mode::EncapRed)),
        "{what}: GetConfig's toml is not edge_config's content:\n{}",
        config.toml
    );
    let e2 = e.clone();
    api.config_call(|mut c| async move {
        let ports = c.list_ports(pb::ListPortsRequest {}).await.unwrap();
        assert_eq!(ports.into_inner().ports, e2.ports, "ListPorts");
        let vrfs = c.list_vrfs(pb::ListVrfsRequest {}).await.unwrap();
        assert_eq!(vrfs.into_inner().vrfs, e2.vrfs, "ListVrfs");
        let sids = c.list_sids(pb::ListSidsRequest {}).await.unwrap();
        assert_eq!(sids.into_inner().sids, e2.sids, "ListSids");
        let policies = c.list_policies(pb::ListPoliciesRequest {}).await.unwrap();
        assert_eq!(policies.into_inner().policies, e2.policies, "ListPolicies");
        let routes = c
            .list_routes(pb::ListRoutesRequest { vrf: String::new() })
            .await
            .unwrap();
        assert_eq!(routes.into_inner().routes, e2.routes, "ListRoutes");
        let red = c
            .list_routes(pb::ListRoutesRequest { vrf: "red".into() })
            .await
            .unwrap()
            .into_inner()
            .routes;
        let want: Vec<_> = e2
            .routes
            .iter()
            .filter(|r| r.vrf == "red")
            .cloned()
            .collect();
        assert_eq!(red, want, "ListRoutes vrf red");
        let router = c.get_router(pb::GetRouterRequest {}).await.unwrap();
        assert_eq!(router.into_inner(), e2.router, "GetRouter");
        let sid = c
            .get_sid(pb::GetSidRequest {
                sid: e2.sids[1].sid.clone(),
            })
            .await
            .unwrap();
        assert_eq!(sid.into_inner(), e2.sids[1], "GetSid");
        let route = c
            .get_route(pb::GetRouteRequest {
                key: Some(pb::RouteKey {
                    vrf: "red".into(),
                    prefix: e2.routes[6].prefix.clone(),
                }),
            })
            .await
            .unwrap();
        assert_eq!(route.into_inner(), e2.routes[6], "GetRoute");
        let port = c
            .get_port(pb::GetPortRequest {
                name: "lan-red".into(),
            })
            .await
            .unwrap();
        assert_eq!(port.into_inner(), e2.ports[2], "GetPort");
    });
}

#[test]
fn edges_provisioned_only_over_grpc_carry_both_vpns_in_both_vrfs() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _lock = RunLock::acquire().unwrap();
    let lab = topology("s6gpa").expect("build the lab");
    let dir = Scratch::new("grpc-prov-a");
    prime_neighbours(&lab).unwrap();
    let d1 = start(&lab, &dir, "edge1", "edge1.log", &[]);
    let d2 = start(&lab, &dir, "edge2", "edge2.log", &[]);
    let (api1, api2) = (Api::new(&lab, "edge1"), Api::new(&lab, "edge2"));
    for api in [&api1, &api2] {
        let c = api.config();
        assert!(c.generation == 0 && empty(&c), "srv6d started empty: {c:?}");
    }
    // Nothing forwards yet.
    assert!(ping_fails(&lab, H1.ns, H2.v4));

    let e1 = edge_objects(1, Mode::Encap, Mode::EncapRed);
    let e2 = edge_objects(2, Mode::Encap, Mode::EncapRed);
    let calls = provision_step_by_step(&api1, &e1);
    assert_eq!(calls, 18);
    assert_eq!(provision(&api2, &e2), 1, "one batch: one generation");

    check_readback(&api1, &e1, 1, calls);
    check_readback(&api2, &e2, 2, 1);
    assert_eq!(api1.version().dataplane, "afxdp");

    check_all_traffic(&lab, &[&d1, &d2]);
    stop_clean(d1);
    stop_clean(d2);
}

// ---------------------------------------------------------------------------
// 2. The kernel dataplane

fn kernel_routes(lab: &Lab, ns: &str) -> String {
    lab.ip(ns, ["-6", "route", "show", "table", "all", "proto", "166"])
        .unwrap()
}

fn kernel_rules(lab: &Lab, ns: &str) -> String {
    let mut s = lab.ip(ns, ["-4", "rule", "show"]).unwrap();
    s += &lab.ip(ns, ["-6", "rule", "show"]).unwrap();
    s
}

/// What the kernel backend can run of edge `n`: the IPv6 VPN (End.DT6) in
/// VRF blue.
fn kernel_objects(n: u8) -> EdgeObjects {
    let full = edge_objects(n, Mode::Encap, Mode::Encap).without_red();
    EdgeObjects {
        sids: full
            .sids
            .iter()
            .filter(|s| s.behavior == pb::Behavior::EndDt6 as i32)
            .cloned()
            .collect(),
        policies: full
            .policies
            .iter()
            .filter(|p| p.name == "blue-v6")
            .cloned()
            .collect(),
        routes: full
            .routes
            .iter()
            .filter(|r| r.vrf == "underlay" || r.prefix.contains(':'))
            .cloned()
            .collect(),
        ..full
    }
}

#[test]
fn kernel_dataplane_refuses_end_dt4_by_name_and_carries_the_ipv6_vpn() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _lock = RunLock::acquire().unwrap();
    // The kernel dataplane programs the kernel srv6d runs on: where the
    // host has no seg6, the whole test runs inside the lab's Linux VM.
    if !lab::vm::run_here_or_in_vm(
        &[lab::KernelFeature::Seg6],
        "kernel_dataplane_refuses_end_dt4_by_name_and_carries_the_ipv6_vpn",
        &[PathBuf::from(SRV6D)],
        Duration::from_secs(420),
    ) {
        return;
    }
    let lab = topology("s6gpb").expect("build the lab");
    // Linux seg6 answers a packet too big once encapsulated with a Packet
    // Too Big to the outer source (the edge itself), never to the host
    // (seen here: TCP stalls at the sites' MTU 1500), so path-MTU discovery
    // cannot work through the kernel dataplane: its sites keep the MTU
    // low enough for the encapsulation (srv6d's engine answers the host).
    for host in [&H1, &H2] {
        for (ns, ifname) in [(host.ns, "eth0"), (host.edge, host.port)] {
            lab.exec_ok(ns, ["ip", "link", "set", "dev", ifname, "mtu", "1400"])
                .expect("lower the site MTU");
        }
    }
    let dir = Scratch::new("grpc-prov-b");
    prime_neighbours(&lab).unwrap();
    let kernel = ["--dataplane", "kernel"];
    let d1 = start(&lab, &dir, "edge1", "edge1.log", &kernel);
    let d2 = start(&lab, &dir, "edge2", "edge2.log", &kernel);
    let apis = [Api::new(&lab, "edge1"), Api::new(&lab, "edge2")];
    assert_eq!(apis[0].version().dataplane, "kernel");

    // The whole SD-WAN configuration: its End.DT4 SIDs are refused, by
    // name and with the reason, and nothing is changed.
    for (i, api) in apis.iter().enumerate() {
        let n = i as u8 + 1;
        let ns = if n == 1 { "edge1" } else { "edge2" };
        let full = edge_objects(n, Mode::Encap, Mode::EncapRed);
        let err = api
            .apply(full.changes(), false)
            .expect_err("End.DT4 on the kernel dataplane");
        assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
        let msg = err.message();
        for dt4 in [format!("fc00:0:{n}::100"), format!("fc00:0:{n}::200")] {
            assert!(msg.contains(&dt4), "the refusal names {dt4}: {msg}");
        }
        assert!(
            msg.contains("End.DT4") && msg.contains("VRF device"),
            "the refusal says why: {msg}"
        );
        eprintln!("edge{n} refusal: {msg}");
        let c = api.config();
        assert!(c.generation == 0 && empty(&c), "nothing changed: {c:?}");
        assert!(
            !dir.path(&format!("{ns}.toml")).exists(),
            "no state file written"
        );
        assert_eq!(kernel_routes(&lab, ns).trim(), "", "no kernel route");
        assert!(!kernel_rules(&lab, ns).contains("lan-blue"), "no rule");
    }

    // What the kernel can do: the IPv6 VPN over End.DT6 in one VRF.
    for (i, api) in apis.iter().enumerate() {
        let n = i as u8 + 1;
        let e = kernel_objects(n);
        assert_eq!(provision(api, &e), 1);
        e.assert_in(&api.config(), &format!("edge{n}"));
    }
    for ns in ["edge1", "edge2"] {
        let routes = kernel_routes(&lab, ns);
        assert!(
            routes.contains("seg6local") && routes.contains("End.DT6"),
            "{ns}: End.DT6 route: {routes}"
        );
        assert!(routes.contains("encap seg6"), "{ns}: encap route: {routes}");
        assert!(
            kernel_rules(&lab, ns).contains("lan-blue"),
            "{ns}: VRF rules"
        );
    }
    let v6 = H2.v6.unwrap();
    assert!(
        ping_works(&lab, H1.ns, v6),
        "IPv6 VPN ping\n{}",
        logs(&[&d1, &d2])
    );
    let r = tcp_transfer(&lab, H1.ns, H2.ns, v6.parse().unwrap(), 1 << 20);
    assert!(r.is_ok(), "IPv6 VPN TCP: {r:?}\n{}", logs(&[&d1, &d2]));

    // A single End.DT4 SID on a running kernel edge: refused by name,
    // nothing changed (configuration, state file, traffic).
    let before = apis[0].config();
    let state = fs::read(dir.path("edge1.toml")).unwrap();
    let err = apis[0]
        .config_call(|mut c| async move {
            c.create_sid(pb::CreateSidRequest {
                sid: Some(grpc_common::sid(
                    "fc00:0:1::100",
                    pb::Behavior::EndDt4,
                    "blue",
                )),
            })
            .await
        })
        .expect_err("End.DT4 on the kernel dataplane");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message().contains("fc00:0:1::100") && err.message().contains("VRF device"),
        "{}",
        err.message()
    );
    assert_eq!(apis[0].config(), before);
    assert_eq!(fs::read(dir.path("edge1.toml")).unwrap(), state);
    assert!(ping_works(&lab, H1.ns, v6), "IPv6 VPN after the refusal");

    // SIGTERM: every route and rule srv6d installed is gone.
    stop_clean(d1);
    stop_clean(d2);
    for ns in ["edge1", "edge2"] {
        assert_eq!(
            kernel_routes(&lab, ns).trim(),
            "",
            "{ns}: srv6d's routes left behind"
        );
        let rules = kernel_rules(&lab, ns);
        assert!(!rules.contains("lan-blue"), "{ns}: rules left: {rules}");
    }
    assert!(
        ping_fails(&lab, H1.ns, v6),
        "nothing forwards after the stop"
    );
}

// ---------------------------------------------------------------------------
// 3. Atomicity

#[test]
fn a_batch_with_one_invalid_element_changes_nothing_and_dry_run_changes_nothing() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _lock = RunLock::acquire().unwrap();
    let lab = topology("s6gpc").expect("build the lab");
    let dir = Scratch::new("grpc-prov-c");
    prime_neighbours(&lab).unwrap();
    let d1 = start(&lab, &dir, "edge1", "edge1.log", &[]);
    let d2 = start(&lab, &dir, "edge2", "edge2.log", &[]);
    let (api1, api2) = (Api::new(&lab, "edge1"), Api::new(&lab, "edge2"));
    provision(&api1, &edge_objects(1, Mode::Encap, Mode::EncapRed));
    provision(&api2, &edge_objects(2, Mode::Encap, Mode::EncapRed));
    assert!(
        ping_works(&lab, H1.ns, H2.v4),
        "blue ping\n{}",
        logs(&[&d1, &d2])
    );

    let state_path = dir.path("edge1.toml");
    let before = api1.config();
    let state = fs::read(&state_path).unwrap();
    let unchanged = |what: &str| {
        assert_eq!(api1.config(), before, "{what}: GetConfig changed");
        assert_eq!(
            fs::read(&state_path).unwrap(),
            state,
            "{what}: the state file changed"
        );
        assert!(
            ping_works(&lab, H1.ns, H2.v4),
            "{what}: the blue ping stopped\n{}",
            logs(&[&d1, &d2])
        );
    };
    // Valid changes (the first deletes the route the ping takes), then a
    // route to a policy that does not exist.
    let batch = vec![
        delete_route("blue", "10.2.0.0/24"),
        put_policy(&grpc_common::policy("spare", Mode::Encap, "fc00:0:2::101")),
        put_sid(&grpc_common::sid(
            "fc00:0:1::300",
            pb::Behavior::EndDt6,
            "blue",
        )),
        put_route(&grpc_common::route_via_policy(
            "blue",
            "10.99.0.0/24",
            "no-such-policy",
        )),
    ];
    let err = api1.apply(batch, false).expect_err("unknown policy");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().starts_with("changes[3].put_route.policy")
            && err.message().contains("no-such-policy"),
        "names the element: {}",
        err.message()
    );
    unchanged("unknown policy");

    // A SID with a bad address.
    let batch = vec![
        delete_route("blue", "10.2.0.0/24"),
        put_sid(&grpc_common::sid(
            "fc00:0:1::zz",
            pb::Behavior::EndDt6,
            "blue",
        )),
    ];
    let err = api1.apply(batch, false).expect_err("bad SID address");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().starts_with("changes[1].put_sid.sid"),
        "names the element: {}",
        err.message()
    );
    unchanged("bad SID");

    // A valid batch as a dry run: accepted, nothing applied.
    let batch = vec![
        delete_route("blue", "10.2.0.0/24"),
        delete_route("red", "10.2.0.0/24"),
    ];
    let reply = api1.apply(batch, true).expect("a valid dry run");
    assert_eq!(reply.generation, before.generation, "dry run generation");
    unchanged("dry run");
    let _ = ping(&lab, H1R.ns, H2R.v4, 3, 0);
    assert!(ping_works(&lab, H1R.ns, H2R.v4), "red ping after dry run");

    // The premise: applied for real, deleting that route stops the ping.
    let reply = api1
        .apply(vec![delete_route("blue", "10.2.0.0/24")], false)
        .expect("delete the route");
    assert_eq!(reply.generation, before.generation + 1);
    assert!(
        ping_fails(&lab, H1.ns, H2.v4),
        "the ping needed the deleted route"
    );
    assert_ne!(fs::read(&state_path).unwrap(), state);
    stop_clean(d1);
    stop_clean(d2);
}

// ---------------------------------------------------------------------------
// 4. Persistence across kill -9

#[test]
fn after_kill_9_the_state_file_brings_back_the_configuration_and_the_traffic() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _lock = RunLock::acquire().unwrap();
    let lab = topology("s6gpd").expect("build the lab");
    let dir = Scratch::new("grpc-prov-d");
    prime_neighbours(&lab).unwrap();
    let d1 = start(&lab, &dir, "edge1", "edge1.log", &[]);
    let d2 = start(&lab, &dir, "edge2", "edge2.log", &[]);
    let (api1, api2) = (Api::new(&lab, "edge1"), Api::new(&lab, "edge2"));
    // Two generations on edge 1: a batch, then one more change.
    provision(
        &api1,
        &edge_objects(1, Mode::Encap, Mode::EncapRed).without_red(),
    );
    api1.apply(
        edge_objects(1, Mode::Encap, Mode::EncapRed).red_changes(),
        false,
    )
    .expect("the red VRF");
    provision(&api2, &edge_objects(2, Mode::Encap, Mode::EncapRed));
    assert!(
        ping_works(&lab, H1.ns, H2.v4),
        "blue ping\n{}",
        logs(&[&d1, &d2])
    );
    let before = api1.config();
    assert_eq!(before.generation, 2);

    let status = d1.kill9();
    assert!(!status.success());
    assert!(
        ping_fails(&lab, H1.ns, H2.v4),
        "edge1's kernel does not forward"
    );

    let d1 = start(&lab, &dir, "edge1", "edge1-restarted.log", &[]);
    assert!(
        d1.log()
            .contains("restoring the configuration last applied"),
        "{}",
        d1.log()
    );
    let after = api1.config();
    assert_eq!(after, before, "GetConfig after the restart");
    check_all_traffic(&lab, &[&d1, &d2]);
    stop_clean(d1);
    stop_clean(d2);
}

// ---------------------------------------------------------------------------
// 5. A port added over the API

#[test]
fn a_port_added_over_the_api_restarts_the_engine_and_both_vrfs_work() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _lock = RunLock::acquire().unwrap();
    let lab = topology("s6gpe").expect("build the lab");
    let dir = Scratch::new("grpc-prov-e");
    prime_neighbours(&lab).unwrap();
    let d1 = start(&lab, &dir, "edge1", "edge1.log", &[]);
    let d2 = start(&lab, &dir, "edge2", "edge2.log", &[]);
    let (api1, api2) = (Api::new(&lab, "edge1"), Api::new(&lab, "edge2"));
    let e1 = edge_objects(1, Mode::Encap, Mode::EncapRed);
    provision(&api1, &e1.without_red());
    provision(&api2, &edge_objects(2, Mode::Encap, Mode::EncapRed));

    assert!(
        ping_works(&lab, H1.ns, H2.v4),
        "blue ping\n{}",
        logs(&[&d1, &d2])
    );
    let r = tcp_transfer(&lab, H1.ns, H2.ns, IpAddr::from([10, 2, 0, 10]), 256 << 10);
    assert!(r.is_ok(), "blue TCP: {r:?}");
    assert!(
        ping_fails(&lab, H1R.ns, H2R.v4),
        "red has no port on edge1 yet"
    );

    let restarts = d1.log().matches("restarting the engine").count();
    let reply = api1
        .apply(e1.red_changes(), false)
        .unwrap_or_else(|e| panic!("add the red port and VRF: {e}\n{}", d1.log()));
    assert_eq!(reply.generation, 2);
    assert!(
        d1.wait_log(
            "restarting the engine",
            restarts + 1,
            Duration::from_secs(10)
        ),
        "the port change restarts the engine:\n{}",
        d1.log()
    );
    let config = api1.config();
    assert_eq!(
        canonical_toml(&config.toml),
        canonical_toml(&edge_config(1, Mode::Encap, Mode::EncapRed)),
    );
    check_all_traffic(&lab, &[&d1, &d2]);
    stop_clean(d1);
    stop_clean(d2);
}
