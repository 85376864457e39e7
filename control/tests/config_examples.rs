//! The example configurations (examples/edge1.toml, examples/edge2.toml and
//! the complete examples in docs/config.md) load, and produce the forwarding
//! state they describe.

use std::net::{Ipv4Addr, Ipv6Addr};

use control::config::{self, ConfigFile, LoadedConfig, Owner, PortRole, XdpMode};
use dataplane::behavior::{EncapMode, FlowLabelMode, SidBehavior, UNDERLAY};
use dataplane::fib::{Adjacency, NextHop, PortId, RouteAction};

const EDGE1: &str = include_str!("../../examples/edge1.toml");
const EDGE2: &str = include_str!("../../examples/edge2.toml");
const DOC: &str = include_str!("../../docs/config.md");

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn load(text: &str, name: &str) -> LoadedConfig {
    match config::load_str(text, name) {
        Ok(c) => c,
        Err(e) => panic!("{name} should load:\n{e}"),
    }
}

#[test]
fn edge1_ports_vrfs_and_router() {
    let c = load(EDGE1, "edge1.toml");
    let names: Vec<&str> = c.ports.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["wan0", "lan-blue", "lan-red"]);
    for (i, p) in c.ports.iter().enumerate() {
        assert_eq!(p.id, PortId(i as u16));
    }
    let wan = c.port("wan0").unwrap();
    assert_eq!(
        (wan.role, wan.vrf, wan.queues, wan.xdp_mode),
        (PortRole::Wan, UNDERLAY, Some(2), XdpMode::Driver)
    );
    let blue = c.port("lan-blue").unwrap();
    assert_eq!(
        (blue.role, blue.vrf, blue.queues, blue.xdp_mode),
        (PortRole::Lan, 100, None, XdpMode::Auto)
    );
    assert_eq!(c.port("lan-red").unwrap().vrf, 200);
    assert_eq!(c.vrf_id("blue"), Some(100));
    assert_eq!(c.vrf_id("red"), Some(200));
    assert_eq!(c.vrf_id("underlay"), Some(0));
    assert_eq!(c.vrf_name(200), Some("red"));
    assert_eq!(c.vrfs.len(), 2);
    assert_eq!(c.source, v6("fc00:0:1::1"));
    assert_eq!(c.stamp_port, 862);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn edge1_lan_traffic_is_encapsulated_per_vrf() {
    let c = load(EDGE1, "edge1.toml");
    let (blue, red) = (c.fib.vrf(100).unwrap(), c.fib.vrf(200).unwrap());
    let remote = v4("10.2.3.4");

    // The same destination, two VRFs, two policies.
    let blue_v4 = c.policy_id("blue-v4").unwrap();
    let red_v4 = c.policy_id("red-v4").unwrap();
    assert_eq!(blue.lookup_v4(remote), Some(RouteAction::Encap(blue_v4)));
    assert_eq!(red.lookup_v4(remote), Some(RouteAction::Encap(red_v4)));
    assert_eq!(
        blue.lookup_v6(v6("2001:db8:b:2::7")),
        Some(RouteAction::Encap(c.policy_id("blue-v6").unwrap()))
    );

    let policy = c.fib.policy(blue_v4).unwrap();
    assert_eq!(policy.mode(), EncapMode::Encaps);
    assert_eq!(policy.segments(), [v6("fc00:0:2::100")]);
    assert_eq!(policy.source(), v6("fc00:0:1::1"));
    let red_policy = &c.policies[red_v4.0 as usize];
    assert_eq!(red_policy.name, "red-v4");
    assert_eq!(red_policy.policy.mode(), EncapMode::EncapsRed);
    assert_eq!(red_policy.ipv4_hop_limit, 32);
    let blue_v6 = &c.policies[c.policy_id("blue-v6").unwrap().0 as usize];
    assert_eq!(blue_v6.flow_label, FlowLabelMode::Hash);

    // Every policy leaves through the WAN router, resolved at build time.
    let wan_gw = Adjacency {
        port: PortId(0),
        next_hop: NextHop::V6(v6("fe80::1")),
    };
    for p in &c.policies {
        assert_eq!(
            c.fib.policy_with_egress(p.id).unwrap().1,
            Some(wan_gw),
            "{}",
            p.name
        );
    }

    // The local site is reached on the LAN port of the VRF.
    let local = v4("10.1.7.7");
    assert_eq!(
        blue.lookup_v4(local),
        Some(RouteAction::Forward(Adjacency {
            port: PortId(1),
            next_hop: NextHop::Direct
        }))
    );
    assert_eq!(
        red.lookup_v4(local),
        Some(RouteAction::Forward(Adjacency {
            port: PortId(2),
            next_hop: NextHop::V4(v4("10.1.255.254"))
        }))
    );
    // Red has no way out but its sites; blue has no default at all.
    assert_eq!(red.lookup_v4(v4("8.8.8.8")), Some(RouteAction::Blackhole));
    assert_eq!(blue.lookup_v4(v4("8.8.8.8")), None);
}

#[test]
fn edge1_sids_and_owned_addresses() {
    let c = load(EDGE1, "edge1.toml");
    let sid = |s: &str| c.fib.local_sid(&v6(s)).copied();
    assert_eq!(sid("fc00:0:1::100"), Some(SidBehavior::EndDT4 { vrf: 100 }));
    assert_eq!(sid("fc00:0:1::101"), Some(SidBehavior::EndDT6 { vrf: 100 }));
    assert_eq!(sid("fc00:0:1::200"), Some(SidBehavior::EndDT4 { vrf: 200 }));
    assert_eq!(sid("fc00:0:1::201"), Some(SidBehavior::EndDT6 { vrf: 200 }));
    assert_eq!(sid("fc00:0:1::e"), Some(SidBehavior::End));
    assert_eq!(
        sid("fc00:0:1::e1"),
        Some(SidBehavior::EndX(Adjacency {
            port: PortId(0),
            next_hop: NextHop::V6(v6("fe80::1"))
        }))
    );
    assert_eq!(sid("fc00:0:1::102"), None);
    assert_eq!(sid("fc00:0:2::100"), None);

    // The router's address is answered locally (a /128 local route).
    let underlay = c.fib.vrf(UNDERLAY).unwrap();
    assert_eq!(
        underlay.lookup_v6(v6("fc00:0:1::1")),
        Some(RouteAction::Local)
    );

    // The XDP program steers every SID and the router address to the engine.
    assert_eq!(c.owned_addresses.len(), 7);
    assert!(c.owned_addresses.windows(2).all(|w| w[0] <= w[1]));
    for s in &c.sids {
        assert!(c
            .owned_addresses
            .iter()
            .any(|o| o.prefix == s.sid && o.len == 128 && o.owner == Owner::Sid));
    }
    assert!(c
        .owned_addresses
        .iter()
        .any(|o| o.prefix == v6("fc00:0:1::1") && o.owner == Owner::RouterAddress));
}

#[test]
fn the_two_edges_match() {
    // What edge1 encapsulates toward, edge2 decapsulates into the VRF of the
    // same name, and the other way round.
    let e1 = load(EDGE1, "edge1.toml");
    let e2 = load(EDGE2, "edge2.toml");
    for (from, to, remote_site) in [(&e1, &e2, "10.2.0.9"), (&e2, &e1, "10.1.0.9")] {
        for vrf in ["blue", "red"] {
            let table = from.fib.vrf(from.vrf_id(vrf).unwrap()).unwrap();
            let actions: Vec<RouteAction> = table
                .routes_v4()
                .map(|(_, _, a)| a)
                .chain(table.routes_v6().map(|(_, _, a)| a))
                .collect();
            for action in actions {
                let RouteAction::Encap(id) = action else {
                    continue;
                };
                let policy = from.fib.policy(id).unwrap();
                let last = *policy.segments().last().unwrap();
                let to_vrf = to.vrf_id(vrf).unwrap();
                match to.fib.local_sid(&last) {
                    Some(SidBehavior::EndDT4 { vrf }) | Some(SidBehavior::EndDT6 { vrf }) => {
                        assert_eq!(*vrf, to_vrf, "{last}")
                    }
                    other => panic!("{last} at the remote edge is {other:?}"),
                }
            }
        }
        // The remote LAN prefixes are local at the other edge.
        let blue = to.fib.vrf(to.vrf_id("blue").unwrap()).unwrap();
        assert!(matches!(
            blue.lookup_v4(v4(remote_site)),
            Some(RouteAction::Forward(_))
        ));
    }
    // The overlapping prefixes really are in both VRFs of each edge.
    for e in [&e1, &e2] {
        let blue = e.fib.vrf(e.vrf_id("blue").unwrap()).unwrap();
        let red = e.fib.vrf(e.vrf_id("red").unwrap()).unwrap();
        for p in ["10.1.0.1", "10.2.0.1"] {
            assert!(blue.lookup_v4(v4(p)).is_some() && red.lookup_v4(v4(p)).is_some());
            assert_ne!(blue.lookup_v4(v4(p)), red.lookup_v4(v4(p)));
        }
    }
}

#[test]
fn the_serde_schema_accepts_the_examples() {
    for text in [EDGE1, EDGE2] {
        let file: ConfigFile = toml::from_str(text).unwrap();
        assert_eq!(file.port.len(), 3);
        assert!(file.router.is_some());
        assert_eq!(file.route.len(), 10);
    }
}

#[test]
fn the_summary_names_everything() {
    let c = load(EDGE1, "examples/edge1.toml");
    let s = c.summary().to_string();
    for needle in [
        "examples/edge1.toml: configuration is valid",
        "ports (3):",
        "wan0",
        "lan-blue",
        "VRFs (2 + underlay):",
        "blue             id 100",
        "SIDs (6):",
        "fc00:0:1::100                End.DT4 vrf blue",
        "End.X via fe80::1 dev wan0",
        "policies (4):",
        "H.Encaps.Red",
        "flow label hash",
        "routes (10):",
        "encap policy blue-v4",
        "via 10.1.255.254 dev lan-red",
        "blackhole",
        "steered to the engine on WAN ports (7):",
        "router address",
    ] {
        assert!(s.contains(needle), "summary lacks {needle:?}:\n{s}");
    }
}

/// The ```toml blocks of docs/config.md that are complete files (they have
/// a [router]) are valid; so docs and loader cannot drift apart.
#[test]
fn the_documented_examples_load() {
    let mut complete = 0;
    let mut rest = DOC;
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + 8..];
        let end = body.find("```").expect("unterminated code block");
        let block = &body[..end];
        if block.contains("[router]") {
            let c = load(block, "docs/config.md");
            assert!(!c.ports.is_empty());
            complete += 1;
        }
        rest = &body[end + 3..];
    }
    assert!(complete >= 1, "docs/config.md has no complete example");
}

/// The ```toml blocks of docs/config.md that are section snippets (no
/// [router]: the `[[stamp_session]]` and `[[stamp_sender]]` examples) load
/// when appended to examples/edge1.toml.
#[test]
fn the_documented_snippets_load_into_edge1() {
    let mut snippets = 0;
    let mut rest = DOC;
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + 8..];
        let end = body.find("```").expect("unterminated code block");
        let block = &body[..end];
        if !block.contains("[router]") {
            let c = load(&format!("{EDGE1}\n{block}"), "edge1.toml + docs/config.md");
            if block.contains("[[stamp_sender]]") {
                let t = &c.stamp_senders[0];
                assert_eq!(t.name, "to-edge2");
                assert_eq!(t.source, v6("fc00:0:1::1"));
                assert_eq!(*t.segments.last().unwrap(), v6("fc00:0:2::1"));
                assert_eq!(t.interval, std::time::Duration::from_millis(100));
                assert_eq!(t.length, 112, "authenticated base length");
                dataplane::stamp_sender::SenderChannel::new(t.to_spec(), 0).unwrap();
            }
            snippets += 1;
        }
        rest = &body[end + 3..];
    }
    assert!(snippets >= 2, "docs/config.md lost its section examples");
}

#[test]
fn load_file_reads_and_names_the_file() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/edge2.toml");
    let c = config::load_file(path).unwrap();
    assert_eq!(c.file, path);
    assert_eq!(c.source, v6("fc00:0:2::1"));

    let err = config::load_file("/nonexistent/srv6d.toml").unwrap_err();
    assert_eq!(err.count(), 1);
    let msg = err.to_string();
    assert!(
        msg.starts_with("/nonexistent/srv6d.toml: cannot read the configuration file"),
        "{msg}"
    );
}

#[test]
fn icmp_error_sources_come_from_the_config() {
    // edge1 has no local host route in its VRFs: ICMPv6 errors come from
    // router.source, ICMPv4 ones from the RFC 7600 dummy address.
    let c = load(EDGE1, "edge1.toml");
    assert_eq!(c.fib.icmp_source_v6(100), Some(v6("fc00:0:1::1")));
    assert_eq!(c.fib.icmp_source_v6(UNDERLAY), Some(v6("fc00:0:1::1")));
    assert_eq!(c.fib.icmp_source_v4(100), v4("192.0.0.8"));
    // A local /32 and /128 in VRF blue: they source its errors; red keeps
    // the defaults; a local route that is not a host route does not count.
    let text = format!(
        "{EDGE1}\n\
         [[route]]\nvrf = \"blue\"\nprefix = \"10.1.255.0/24\"\nlocal = true\n\n\
         [[route]]\nvrf = \"blue\"\nprefix = \"10.1.0.1/32\"\nlocal = true\n\n\
         [[route]]\nvrf = \"blue\"\nprefix = \"10.1.0.2/32\"\nlocal = true\n\n\
         [[route]]\nvrf = \"blue\"\nprefix = \"2001:db8:1::1/128\"\nlocal = true\n"
    );
    let c = load(&text, "edge1+local.toml");
    assert_eq!(c.fib.icmp_source_v4(100), v4("10.1.0.1"));
    assert_eq!(c.fib.icmp_source_v6(100), Some(v6("2001:db8:1::1")));
    assert_eq!(c.fib.icmp_source_v4(200), v4("192.0.0.8"));
    assert_eq!(c.fib.icmp_source_v6(200), Some(v6("fc00:0:1::1")));
}

#[test]
fn tcp_mss_clamp_in_the_file_and_over_the_api() {
    use control::agent::convert::{router_in, router_out};
    use dataplane::behavior::MssClamp;
    let with = |value: &str| {
        EDGE1.replacen(
            "[router]\n",
            &format!("[router]\ntcp_mss_clamp = {value}\n"),
            1,
        )
    };
    assert_eq!(load(EDGE1, "edge1.toml").fib.tcp_mss_clamp(), None);
    let c = load(&with("\"auto\""), "auto.toml");
    assert_eq!(c.fib.tcp_mss_clamp(), Some(MssClamp::Auto));
    let c = load(&with("1360"), "fixed.toml");
    assert_eq!(c.fib.tcp_mss_clamp(), Some(MssClamp::Fixed(1360)));
    for (value, says) in [
        ("\"always\"", "\"always\" is not"),
        ("100", "100 is out of range"),
        ("70000", "70000 is out of range"),
    ] {
        let err = config::load_str(&with(value), "bad.toml")
            .expect_err(value)
            .to_string();
        assert!(
            err.contains("tcp_mss_clamp") && err.contains(says),
            "{value}: {err}"
        );
    }
    // The API carries the same values as text; a bad one names the field.
    for value in ["\"auto\"", "1360"] {
        let doc: ConfigFile = toml::from_str(&with(value)).unwrap();
        let router = doc.router.unwrap();
        let pb = router_out(&router);
        assert_eq!(pb.tcp_mss_clamp, value.trim_matches('"'));
        assert_eq!(
            router_in(&pb, "router").unwrap().tcp_mss_clamp,
            router.tcp_mss_clamp
        );
    }
    let doc: ConfigFile = toml::from_str(EDGE1).unwrap();
    let mut pb = router_out(&doc.router.unwrap());
    assert_eq!(pb.tcp_mss_clamp, "");
    pb.tcp_mss_clamp = "big".into();
    let err = router_in(&pb, "router")
        .expect_err("not a number")
        .to_string();
    assert!(err.contains("router.tcp_mss_clamp"), "{err}");
}
