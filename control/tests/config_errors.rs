//! Every validation rule of the configuration file: the error names the
//! right key path and line, and says what is wrong and what was expected.

use control::config::{self, ConfigError, ConfigErrors, ErrorKind, LoadedConfig, MAX_ERRORS};

/// A small valid configuration; tests append entries to it (appended
/// `[[x]]` entries get the next index of their section) or replace lines.
const BASE: &str = r#"[[port]]
name = "wan0"
role = "wan"

[[port]]
name = "lan0"
role = "lan"
vrf = "blue"

[[vrf]]
name = "blue"
id = 10

[router]
source = "fc00:0:1::1"

[[sid]]
sid = "fc00:0:1::100"
behavior = "end.dt4"
vrf = "blue"

[[policy]]
name = "p"
mode = "encap"
segments = ["fc00:0:2::100"]

[[route]]
vrf = "underlay"
prefix = "::/0"
nexthop = "fe80::1"
port = "wan0"

[[route]]
vrf = "blue"
prefix = "10.2.0.0/16"
policy = "p"
"#;

fn ok(text: &str) -> LoadedConfig {
    match config::load_str(text, "t.toml") {
        Ok(c) => c,
        Err(e) => panic!("should load:\n{e}"),
    }
}

fn errs(text: &str) -> ConfigErrors {
    match config::load_str(text, "t.toml") {
        Ok(_) => panic!("should be rejected:\n{text}"),
        Err(e) => e,
    }
}

/// 1-based line of the first line of `text` containing `needle` at or after
/// line `from`.
fn line_of(text: &str, needle: &str, from: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in text"))
}

/// The line where text appended by [`with`] starts.
fn appended() -> usize {
    BASE.lines().count() + 2
}

/// Asserts that loading `text` reports an error at `path` whose message
/// contains every one of `says`, and returns it.
fn expect(text: &str, path: &str, says: &[&str]) -> ConfigError {
    let all = errs(text);
    let found = all.errors().iter().find(|e| e.path == path);
    let Some(e) = found else {
        panic!("no error at {path}; got:\n{all}");
    };
    let msg = e.to_string();
    for s in says {
        assert!(msg.contains(s), "error at {path} lacks {s:?}: {msg}");
    }
    e.clone()
}

fn with(extra: &str) -> String {
    format!("{BASE}\n{extra}")
}

#[test]
fn the_base_is_valid() {
    let c = ok(BASE);
    assert_eq!(c.ports.len(), 2);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn display_format_is_file_line_path_reason() {
    let text = with("[[route]]\nvrf = \"blue\"\nprefix = \"10.3.0.0/16\"\npolicy = \"nope\"\n");
    let e = expect(&text, "route[2].policy", &[]);
    let line = line_of(&text, "policy = \"nope\"", 1);
    assert_eq!(e.line, Some(line));
    assert_eq!(
        e.to_string(),
        format!("t.toml:{line}: route[2].policy: no policy named \"nope\"; expected one of: p")
    );
}

// ---- syntax and shape ------------------------------------------------------

#[test]
fn syntax_error_has_line_and_column() {
    let text = "[[port]]\nname = \"wan0\"\nrole = \"wan\"\n[router\nsource = \"fc00::1\"\n";
    let all = errs(text);
    assert_eq!(all.count(), 1);
    let e = &all.errors()[0];
    assert!(matches!(e.kind, ErrorKind::Syntax(_)));
    assert_eq!((e.line, e.column), (Some(4), Some(8)));
    let msg = e.to_string();
    assert!(msg.starts_with("t.toml:4:8: TOML syntax error: "), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");

    let all = errs("[[port]]\nname = \"unterminated\n");
    assert_eq!(all.errors()[0].line, Some(2));
}

#[test]
fn unknown_keys_are_all_reported_with_their_lines() {
    let text = with(
        "[[port]]\nname = \"lan1\"\nrole = \"lan\"\nvrf = \"blue\"\ncolour = \"x\"\nspeed = 10\n",
    );
    let e = expect(
        &text,
        "port[2].colour",
        &["unknown key; expected one of: name, role, vrf, queues, xdp_mode"],
    );
    assert_eq!(e.line, Some(line_of(&text, "colour", 1)));
    let e = expect(&text, "port[2].speed", &["unknown key"]);
    assert_eq!(e.line, Some(line_of(&text, "speed", 1)));

    let text = BASE.replace(
        "source = \"fc00:0:1::1\"",
        "source = \"fc00:0:1::1\"\nsrc = \"x\"",
    );
    expect(
        &text,
        "router.src",
        &["expected one of: source, addresses, stamp_port"],
    );
}

#[test]
fn unknown_section() {
    let text = with("[[routes]]\nvrf = \"blue\"\n");
    let e = expect(
        &text,
        "routes",
        &["unknown section; expected one of [[port]], [[vrf]], [router]"],
    );
    assert_eq!(e.line, Some(appended()));
    // A top-level key must come before the first table to be top-level.
    let e = expect(
        &format!("debug = true\n{BASE}"),
        "debug",
        &["unknown section"],
    );
    assert_eq!(e.line, Some(1));
}

#[test]
fn section_of_the_wrong_form() {
    let text = BASE.replacen(
        "[[port]]\nname = \"wan0\"\nrole = \"wan\"\n\n[[port]]",
        "[port]\nname = \"wan0\"\nrole = \"wan\"\n\n[port.x]",
        1,
    );
    expect(
        &text,
        "port",
        &["expected an array of tables, written [[port]]"],
    );
    let text = BASE.replace("[router]", "[[router]]");
    expect(&text, "router", &["expected a table, written [router]"]);
    let text = format!("sid = [1, 2]\n{}", BASE.replace("[[sid]]", "[[sidx]]"));
    expect(
        &text,
        "sid[0]",
        &["expected an array of tables, written [[sid]]"],
    );
}

#[test]
fn wrong_type_names_the_key() {
    let text =
        with("[[port]]\nname = \"lan1\"\nrole = \"lan\"\nvrf = \"blue\"\nqueues = \"four\"\n");
    let e = expect(
        &text,
        "port[2].queues",
        &["invalid type: string \"four\", expected i64"],
    );
    assert_eq!(e.line, Some(line_of(&text, "queues", 1)));
    expect(
        &with("[[port]]\nname = \"lan1\"\nrole = \"lab\"\n"),
        "port[2].role",
        &["unknown variant `lab`, expected `wan` or `lan`"],
    );
    expect(
        &with("[[port]]\nname = \"lan1\"\nrole = \"wan\"\nxdp_mode = \"native\"\n"),
        "port[2].xdp_mode",
        &["expected one of `auto`, `driver`, `generic`"],
    );
    expect(
        &with("[[sid]]\nsid = \"fc00:0:1::5\"\nbehavior = \"end.dt5\"\n"),
        "sid[1].behavior",
        &["`end.dt46`"],
    );
    expect(
        &with("[[policy]]\nname = \"q\"\nmode = \"encaps\"\nsegments = [\"fc00::1\"]\n"),
        "policy[1].mode",
        &["expected `encap` or `encap.red`"],
    );
    expect(
        &with("[[policy]]\nname = \"q\"\nmode = \"encap\"\nsegments = \"fc00::1\"\n"),
        "policy[1].segments",
        &["expected a sequence"],
    );
}

#[test]
fn missing_key() {
    let text = with("[[route]]\nvrf = \"blue\"\npolicy = \"p\"\n");
    let e = expect(
        &text,
        "route[2].prefix",
        &["missing; this key is required in every [[route]]"],
    );
    assert_eq!(e.line, Some(appended()));
    expect(
        &with("[[vrf]]\nname = \"red\"\n"),
        "vrf[1].id",
        &["required"],
    );
}

// ---- ports -----------------------------------------------------------------

#[test]
fn lan_port_without_vrf_and_wan_port_with_one() {
    let text = with("[[port]]\nname = \"lan1\"\nrole = \"lan\"\n");
    let e = expect(
        &text,
        "port[2].vrf",
        &["a LAN port needs a VRF; expected vrf = "],
    );
    assert_eq!(e.line, Some(appended()));
    let text = BASE.replacen("role = \"wan\"", "role = \"wan\"\nvrf = \"blue\"", 1);
    let e = expect(
        &text,
        "port[0].vrf",
        &["a WAN port is always in the underlay"],
    );
    assert_eq!(e.line, Some(4));
}

#[test]
fn lan_port_in_an_undeclared_vrf_or_the_underlay() {
    expect(
        &with("[[port]]\nname = \"lan1\"\nrole = \"lan\"\nvrf = \"green\"\n"),
        "port[2].vrf",
        &["no VRF named \"green\"; expected one of: blue"],
    );
    expect(
        &with("[[port]]\nname = \"lan1\"\nrole = \"lan\"\nvrf = \"underlay\"\n"),
        "port[2].vrf",
        &["a LAN port cannot be in the underlay"],
    );
}

#[test]
fn port_names_and_queues() {
    let text = with("[[port]]\nname = \"lan0\"\nrole = \"lan\"\nvrf = \"blue\"\n");
    let e = expect(
        &text,
        "port[2].name",
        &["duplicate port name \"lan0\", already defined at port[1].name (line 6)"],
    );
    assert_eq!(e.line, Some(appended() + 1));
    expect(
        &with("[[port]]\nname = \"a-very-long-interface\"\nrole = \"wan\"\n"),
        "port[2].name",
        &["is not a valid name; expected a Linux interface name"],
    );
    expect(
        &with("[[port]]\nname = \"eth1\"\nrole = \"wan\"\nqueues = 0\n"),
        "port[2].queues",
        &["0 is out of range; expected 1 to 256"],
    );
}

#[test]
fn no_ports() {
    let text = BASE.replacen("[[port]]\nname = \"wan0\"\nrole = \"wan\"\n", "", 1);
    let text = text.replacen(
        "[[port]]\nname = \"lan0\"\nrole = \"lan\"\nvrf = \"blue\"\n",
        "",
        1,
    );
    expect(&text, "port", &["no [[port]] is configured"]);
}

// ---- VRFs ------------------------------------------------------------------

#[test]
fn vrf_ids_names_and_duplicates() {
    expect(
        &BASE.replace("id = 10", "id = 0"),
        "vrf[0].id",
        &["0 is out of range; expected 1 to 4095 (VRF 0 is the underlay"],
    );
    expect(
        &BASE.replace("id = 10", "id = 4096"),
        "vrf[0].id",
        &["out of range"],
    );
    expect(
        &with("[[vrf]]\nname = \"blue\"\nid = 11\n"),
        "vrf[1].name",
        &["duplicate VRF name \"blue\""],
    );
    expect(
        &with("[[vrf]]\nname = \"red\"\nid = 10\n"),
        "vrf[1].id",
        &["duplicate VRF id 10, already defined at vrf[0].id (line 12)"],
    );
    expect(
        &with("[[vrf]]\nname = \"underlay\"\nid = 11\n"),
        "vrf[1].name",
        &["\"underlay\", which is VRF 0's"],
    );
    expect(
        &with("[[vrf]]\nname = \"red slice\"\nid = 11\n"),
        "vrf[1].name",
        &["not a valid name; expected 1 to 32 letters"],
    );
}

#[test]
fn a_broken_vrf_is_reported_once() {
    // vrf blue has a bad id: the port, SID and route that use it must not
    // each add an "unknown VRF" error.
    let all = errs(&BASE.replace("id = 10", "id = -1"));
    assert_eq!(all.count(), 1, "{all}");
}

// ---- router ------------------------------------------------------------------

#[test]
fn router_is_required_and_checked() {
    let text = BASE.replace("[router]\nsource = \"fc00:0:1::1\"\n", "");
    let e = expect(
        &text,
        "router",
        &["missing; expected a [router] table with at least source"],
    );
    assert_eq!(e.line, None);
    expect(
        &BASE.replace("source = \"fc00:0:1::1\"", "source = \"10.0.0.1\""),
        "router.source",
        &["\"10.0.0.1\" is not an IPv6 address"],
    );
    expect(
        &BASE.replace("source = \"fc00:0:1::1\"", "source = \"ff02::1\""),
        "router.source",
        &["ff02::1 is a multicast address; expected a unicast address usable as an encapsulation source"],
    );
    expect(
        &BASE.replace(
            "source = \"fc00:0:1::1\"",
            "source = \"fc00:0:1::1\"\nstamp_port = 0",
        ),
        "router.stamp_port",
        &["0 is out of range; expected a UDP port, 1 to 65535 (default 862)"],
    );
}

#[test]
fn router_addresses() {
    let add = |a: &str| {
        BASE.replace(
            "source = \"fc00:0:1::1\"",
            &format!("source = \"fc00:0:1::1\"\naddresses = {a}"),
        )
    };
    let c = ok(&add("[\"fc00:0:1::5\"]"));
    assert_eq!(c.stamp_port, 862);
    assert_eq!(c.owned_addresses.len(), 2);
    expect(
        &add("[\"fc00:0:1::5\", \"fc00:0:1:0::5\"]"),
        "router.addresses[1]",
        &["duplicate router address fc00:0:1::5"],
    );
    expect(&add("[\"::1\"]"), "router.addresses[0]", &["loopback"]);
    expect(
        &add("[\"fc00:0:1::100\"]"),
        "router.addresses[0]",
        &[
            "it is also the SID at sid[0].sid",
            "expected an address outside every SID",
        ],
    );
    let text =
        with("[[route]]\nvrf = \"underlay\"\nprefix = \"fc00:0:1::5/128\"\nblackhole = true\n");
    let text = text.replace(
        "source = \"fc00:0:1::1\"",
        "source = \"fc00:0:1::1\"\naddresses = [\"fc00:0:1::5\"]",
    );
    expect(&text, "router.addresses[0]", &["routes it elsewhere"]);
}

// ---- policies -----------------------------------------------------------------

#[test]
fn policy_segment_count() {
    let e = expect(
        &BASE.replace("segments = [\"fc00:0:2::100\"]", "segments = []"),
        "policy[0].segments",
        &["0 segments; expected 1 to 16 SIDs"],
    );
    assert_eq!(e.line, Some(line_of(BASE, "segments", 1)));
    let many: Vec<String> = (1..=17).map(|i| format!("\"fc00:0:2::{i:x}\"")).collect();
    expect(
        &BASE.replace(
            "segments = [\"fc00:0:2::100\"]",
            &format!("segments = [{}]", many.join(", ")),
        ),
        "policy[0].segments",
        &["17 segments; expected 1 to 16 SIDs"],
    );
    let sixteen: Vec<String> = (1..=16).map(|i| format!("\"fc00:0:2::{i:x}\"")).collect();
    ok(&BASE.replace(
        "segments = [\"fc00:0:2::100\"]",
        &format!("segments = [{}]", sixteen.join(", ")),
    ));
}

#[test]
fn policy_segments_must_be_unicast_sids() {
    let text = BASE.replace(
        "segments = [\"fc00:0:2::100\"]",
        "segments = [\"fc00:0:2::100\", \"ff0e::1\", \"::\", \"fc00::/48\"]",
    );
    expect(
        &text,
        "policy[0].segments[1]",
        &["ff0e::1 is a multicast address; expected a unicast address usable as a SID"],
    );
    expect(
        &text,
        "policy[0].segments[2]",
        &[":: is a unspecified address"],
    );
    expect(
        &text,
        "policy[0].segments[3]",
        &["\"fc00::/48\" is not an IPv6 address"],
    );
}

#[test]
fn policy_source_hop_limit_and_names() {
    let p = |extra: &str| {
        with(&format!("[[policy]]\nname = \"q\"\nmode = \"encap.red\"\nsegments = [\"fc00:0:2::100\"]\n{extra}\n"))
    };
    let c = ok(&p(
        "source = \"fc00:0:1::9\"\nipv4_hop_limit = 255\nflow_label = \"zero\"",
    ));
    let q = &c.policies[1];
    assert_eq!(
        (q.name.as_str(), q.policy.source(), q.ipv4_hop_limit),
        ("q", "fc00:0:1::9".parse().unwrap(), 255)
    );
    expect(
        &p("source = \"fe80::9\""),
        "policy[1].source",
        &["link-local"],
    );
    expect(
        &p("ipv4_hop_limit = 0"),
        "policy[1].ipv4_hop_limit",
        &["0 is out of range; expected 1 to 255"],
    );
    expect(
        &p("ipv4_hop_limit = 256"),
        "policy[1].ipv4_hop_limit",
        &["256 is out of range"],
    );
    expect(
        &p("flow_label = \"random\""),
        "policy[1].flow_label",
        &["expected one of `copy`, `zero`, `hash`"],
    );
    expect(
        &with("[[policy]]\nname = \"p\"\nmode = \"encap\"\nsegments = [\"fc00:0:2::1\"]\n"),
        "policy[1].name",
        &["duplicate policy name \"p\""],
    );
}

// ---- SIDs ------------------------------------------------------------------------

fn sid(body: &str) -> String {
    with(&format!("[[sid]]\n{body}\n"))
}

#[test]
fn dt4_on_a_sid_prefix() {
    let text = sid("sid = \"fc00:0:1:d4::/64\"\nbehavior = \"end.dt4\"\nvrf = \"blue\"");
    let e = expect(
        &text,
        "sid[1].sid",
        &["End.DT4 ends the SR path and takes no argument, so it must be a single SID (/128), not a prefix"],
    );
    assert_eq!(e.line, Some(appended() + 1));
    expect(
        &sid("sid = \"fc00:0:1:d6::/64\"\nbehavior = \"end.dt6\"\nvrf = \"blue\""),
        "sid[1].sid",
        &["End.DT6"],
    );
    // End and End.X may be prefixes; a /128 "prefix" is a SID.
    let c = ok(&sid("sid = \"fc00:0:1:e::/64\"\nbehavior = \"end\""));
    assert_eq!(
        c.fib.local_sid(&"fc00:0:1:e::77".parse().unwrap()),
        Some(&dataplane::behavior::SidBehavior::End)
    );
    ok(&sid(
        "sid = \"fc00:0:1::d4/128\"\nbehavior = \"end.dt4\"\nvrf = \"blue\"",
    ));
}

#[test]
fn end_x_needs_a_next_hop_and_a_wan_port() {
    let e = expect(
        &sid("sid = \"fc00:0:1::e1\"\nbehavior = \"end.x\"\nport = \"wan0\""),
        "sid[1].nexthop",
        &["missing; End.X needs nexthop = \"<IPv6 address>\" (or \"on-link\") and port = \"<a WAN port>\""],
    );
    assert_eq!(e.line, Some(appended()));
    expect(
        &sid("sid = \"fc00:0:1::e1\"\nbehavior = \"end.x\"\nnexthop = \"fe80::1\""),
        "sid[1].port",
        &["End.X needs port"],
    );
    expect(
        &sid("sid = \"fc00:0:1::e1\"\nbehavior = \"end.x\"\nnexthop = \"192.0.2.1\"\nport = \"wan0\""),
        "sid[1].nexthop",
        &["192.0.2.1 is an IPv4 next hop, but End.X carries IPv6"],
    );
    expect(
        &sid(
            "sid = \"fc00:0:1::e1\"\nbehavior = \"end.x\"\nnexthop = \"fe80::1\"\nport = \"lan0\"",
        ),
        "sid[1].port",
        &["port \"lan0\" is a LAN port of VRF blue; expected a WAN port"],
    );
    expect(
        &sid(
            "sid = \"fc00:0:1::e1\"\nbehavior = \"end.x\"\nnexthop = \"fe80::1\"\nport = \"wan9\"",
        ),
        "sid[1].port",
        &["no port named \"wan9\"; expected one of: wan0, lan0"],
    );
}

#[test]
fn dx_behaviours_check_family_and_port_role() {
    let c = ok(&sid(
        "sid = \"fc00:0:1::d4\"\nbehavior = \"end.dx4\"\nnexthop = \"10.1.0.1\"\nport = \"lan0\"",
    ));
    assert!(matches!(
        c.fib.local_sid(&"fc00:0:1::d4".parse().unwrap()),
        Some(dataplane::behavior::SidBehavior::EndDX4(_))
    ));
    expect(
        &sid("sid = \"fc00:0:1::d4\"\nbehavior = \"end.dx4\"\nnexthop = \"fe80::1\"\nport = \"lan0\""),
        "sid[1].nexthop",
        &["fe80::1 is an IPv6 next hop, but End.DX4 carries IPv4; expected an IPv4 address or \"on-link\""],
    );
    expect(
        &sid("sid = \"fc00:0:1::d6\"\nbehavior = \"end.dx6\"\nnexthop = \"fe80::1\"\nport = \"wan0\""),
        "sid[1].port",
        &["is a WAN port; expected a LAN port"],
    );
}

#[test]
fn sid_keys_the_behaviour_does_not_take() {
    expect(
        &sid("sid = \"fc00:0:1::e\"\nbehavior = \"end\"\nvrf = \"blue\""),
        "sid[1].vrf",
        &["End does not take this key; expected it removed (End takes sid and behavior only)"],
    );
    expect(
        &sid("sid = \"fc00:0:1::d\"\nbehavior = \"end.dt6\"\nvrf = \"blue\"\nport = \"lan0\""),
        "sid[1].port",
        &["End.DT6 does not take this key"],
    );
}

#[test]
fn dt_sids_need_a_declared_vrf() {
    expect(
        &sid("sid = \"fc00:0:1::d\"\nbehavior = \"end.dt6\""),
        "sid[1].vrf",
        &["missing; End.DT6 needs vrf ="],
    );
    expect(
        &sid("sid = \"fc00:0:1::d\"\nbehavior = \"end.dt46\"\nvrf = \"green\""),
        "sid[1].vrf",
        &["no VRF named \"green\"; expected one of: underlay, blue"],
    );
}

#[test]
fn duplicate_sids_however_written() {
    let e = expect(
        &sid("sid = \"fc00:0:1:0:0::100\"\nbehavior = \"end\""),
        "sid[1].sid",
        &["duplicate SID fc00:0:1::100, already defined at sid[0].sid (line 18)"],
    );
    assert_eq!(e.line, Some(appended() + 1));
    expect(
        &sid("sid = \"fc00:0:1::100/128\"\nbehavior = \"end\""),
        "sid[1].sid",
        &["duplicate SID fc00:0:1::100"],
    );
    let two = with("[[sid]]\nsid = \"fc00:0:1:e::/64\"\nbehavior = \"end\"\n\n[[sid]]\nsid = \"fc00:0:1:e:0::/64\"\nbehavior = \"end\"\n");
    expect(&two, "sid[2].sid", &["duplicate SID fc00:0:1:e::/64"]);
}

#[test]
fn sid_values() {
    expect(
        &sid("sid = \"fc00:0:1:e::1/64\"\nbehavior = \"end\""),
        "sid[1].sid",
        &["\"fc00:0:1:e::1/64\" has host bits set; expected the network address \"fc00:0:1:e::/64\""],
    );
    expect(
        &sid("sid = \"ff02::1\"\nbehavior = \"end\""),
        "sid[1].sid",
        &["ff02::1 is a multicast address; expected a unicast address usable as a SID"],
    );
    expect(
        &sid("sid = \"fe80::1\"\nbehavior = \"end\""),
        "sid[1].sid",
        &["link-local"],
    );
    expect(
        &sid("sid = \"10.0.0.1\"\nbehavior = \"end\""),
        "sid[1].sid",
        &["is not an IPv6 SID"],
    );
    expect(
        &sid("sid = \"::/0\"\nbehavior = \"end\""),
        "sid[1].sid",
        &["length 1 to 128"],
    );
    expect(
        &sid("sid = \"10.0.0.0/8\"\nbehavior = \"end\""),
        "sid[1].sid",
        &["is not an IPv6 SID"],
    );
}

// ---- routes ----------------------------------------------------------------------

fn route(body: &str) -> String {
    with(&format!("[[route]]\n{body}\n"))
}

#[test]
fn ipv4_next_hop_on_an_ipv6_route() {
    let text = route(
        "vrf = \"underlay\"\nprefix = \"2001:db8::/32\"\nnexthop = \"192.0.2.1\"\nport = \"wan0\"",
    );
    let e = expect(
        &text,
        "route[2].nexthop",
        &["192.0.2.1 is an IPv4 next hop, but this IPv6 route carries IPv6; expected an IPv6 address or \"on-link\""],
    );
    assert_eq!(e.line, Some(line_of(&text, "192.0.2.1", appended())));
    expect(
        &route("vrf = \"blue\"\nprefix = \"10.9.0.0/16\"\nnexthop = \"fe80::1\"\nport = \"lan0\""),
        "route[2].nexthop",
        &["IPv6 next hop, but this IPv4 route carries IPv4"],
    );
    expect(
        &route(
            "vrf = \"blue\"\nprefix = \"10.9.0.0/16\"\nnexthop = \"224.0.0.1\"\nport = \"lan0\"",
        ),
        "route[2].nexthop",
        &["224.0.0.1 is a multicast address; expected a unicast address usable as a next hop"],
    );
    expect(
        &route("vrf = \"blue\"\nprefix = \"10.9.0.0/16\"\nnexthop = \"gateway\"\nport = \"lan0\""),
        "route[2].nexthop",
        &["\"gateway\" is not a next hop: an IPv4 or IPv6 address, or \"on-link\""],
    );
}

#[test]
fn route_references() {
    expect(
        &route("vrf = \"blue\"\nprefix = \"10.9.0.0/16\"\npolicy = \"to-edge3\""),
        "route[2].policy",
        &["no policy named \"to-edge3\"; expected one of: p"],
    );
    expect(
        &route("vrf = \"blue\"\nprefix = \"10.9.0.0/16\"\nnexthop = \"on-link\"\nport = \"lan7\""),
        "route[2].port",
        &["no port named \"lan7\"; expected one of: wan0, lan0"],
    );
    expect(
        &route("vrf = \"green\"\nprefix = \"10.9.0.0/16\"\nblackhole = true"),
        "route[2].vrf",
        &["no VRF named \"green\"; expected one of: underlay, blue"],
    );
}

#[test]
fn route_port_must_be_in_the_route_vrf() {
    expect(
        &route("vrf = \"blue\"\nprefix = \"10.9.0.0/16\"\nnexthop = \"on-link\"\nport = \"wan0\""),
        "route[2].port",
        &["port \"wan0\" is a WAN port (in the underlay); expected a LAN port of VRF blue, the route's VRF"],
    );
    expect(
        &route("vrf = \"underlay\"\nprefix = \"2001:db8::/32\"\nnexthop = \"on-link\"\nport = \"lan0\""),
        "route[2].port",
        &["is a LAN port of VRF blue; expected a WAN port: the route is in the underlay"],
    );
}

#[test]
fn route_needs_exactly_one_action() {
    let text = route("vrf = \"blue\"\nprefix = \"10.9.0.0/16\"");
    let e = expect(&text, "route[2]", &["no action; expected exactly one of policy = \"<name>\", nexthop = \"<address>\" with port = \"<name>\", local = true, blackhole = true"]);
    assert_eq!(e.line, Some(appended()));
    expect(
        &route("vrf = \"blue\"\nprefix = \"10.9.0.0/16\"\npolicy = \"p\"\nblackhole = true"),
        "route[2]",
        &["policy and blackhole = true both given"],
    );
    expect(
        &route("vrf = \"blue\"\nprefix = \"10.9.0.0/16\"\npolicy = \"p\"\nlocal = true\nblackhole = true"),
        "route[2]",
        &["policy, local = true, blackhole = true all given"],
    );
    expect(
        &route("vrf = \"blue\"\nprefix = \"10.9.0.0/16\"\nport = \"lan0\""),
        "route[2].nexthop",
        &["missing; a route with a port needs nexthop = \"<address>\", or nexthop = \"on-link\""],
    );
    expect(
        &route("vrf = \"blue\"\nprefix = \"10.9.0.0/16\"\nnexthop = \"10.1.0.1\""),
        "route[2].port",
        &["missing; a route with a nexthop needs port ="],
    );
    // local = false is the same as no local key.
    let c = ok(&route(
        "vrf = \"blue\"\nprefix = \"10.9.0.0/16\"\nlocal = false\nblackhole = true",
    ));
    assert_eq!(
        c.fib
            .vrf(10)
            .unwrap()
            .lookup_v4("10.9.1.1".parse().unwrap()),
        Some(dataplane::fib::RouteAction::Blackhole)
    );
}

#[test]
fn route_prefixes() {
    let text = route("vrf = \"blue\"\nprefix = \"10.9.1.1/16\"\nblackhole = true");
    let e = expect(
        &text,
        "route[2].prefix",
        &["\"10.9.1.1/16\" has host bits set; expected the network address \"10.9.0.0/16\""],
    );
    assert_eq!(e.line, Some(appended() + 2));
    expect(
        &route("vrf = \"blue\"\nprefix = \"10.9.0.0\"\nblackhole = true"),
        "route[2].prefix",
        &["is not a prefix written address/length, such as \"10.1.0.0/16\""],
    );
    expect(
        &route("vrf = \"blue\"\nprefix = \"10.9.0.0/33\"\nblackhole = true"),
        "route[2].prefix",
        &["a prefix with a length of 0 to 32"],
    );
    expect(
        &route("vrf = \"blue\"\nprefix = \"10.2.0.0/16\"\nblackhole = true"),
        "route[2].prefix",
        &["duplicate route blue 10.2.0.0/16, already defined at route[1].prefix"],
    );
    // The same prefix in another VRF is no duplicate.
    ok(&route(
        "vrf = \"underlay\"\nprefix = \"10.2.0.0/16\"\nblackhole = true",
    ));
}

// ---- the file as a whole ----------------------------------------------------------

#[test]
fn all_errors_are_collected_in_file_order() {
    let text = with(
        "[[route]]\nvrf = \"green\"\nprefix = \"10.9.0.0/16\"\nblackhole = true\n\n\
         [[policy]]\nname = \"q\"\nmode = \"encap\"\nsegments = []\n\n\
         [[port]]\nname = \"lan1\"\nrole = \"lan\"\n",
    );
    let all = errs(&text);
    let paths: Vec<&str> = all.errors().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["route[2].vrf", "policy[1].segments", "port[2].vrf"],
        "{all}"
    );
    let lines: Vec<usize> = all.errors().iter().map(|e| e.line.unwrap()).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(all.to_string().lines().count(), 3);
}

#[test]
fn at_most_max_errors_are_reported_and_the_rest_counted() {
    let mut text = BASE.to_string();
    for i in 0..30 {
        text.push_str(&format!(
            "\n[[route]]\nvrf = \"blue\"\nprefix = \"10.{i}.0.1/16\"\nblackhole = true\n"
        ));
    }
    let all = errs(&text);
    assert_eq!(all.count(), 30);
    assert_eq!(all.errors().len(), MAX_ERRORS);
    assert_eq!(all.omitted(), 30 - MAX_ERRORS);
    let shown = all.to_string();
    assert!(
        shown.ends_with("t.toml: 10 more error(s) not shown (only the first 20 are reported)"),
        "{shown}"
    );
}

#[test]
fn warnings_for_valid_but_doubtful_configs() {
    // No underlay route toward the policy's first SID.
    let text = BASE.replace("prefix = \"::/0\"", "prefix = \"2001:db8::/32\"");
    let c = ok(&text);
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains(
            "policy[0].segments: warning: no underlay route covers the first segment fc00:0:2::100"
        ),
        "{}",
        c.warnings[0]
    );
    // A VRF without a LAN port.
    let c = ok(&with("[[vrf]]\nname = \"red\"\nid = 11\n"));
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("vrf[1]: warning: no LAN port is in VRF red")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn a_rejected_file_builds_nothing() {
    // Pure function: the same text gives the same answer, and an error
    // anywhere means no LoadedConfig at all (nothing half-applied).
    let text = route("vrf = \"blue\"\nprefix = \"10.9.0.0/16\"\npolicy = \"nope\"");
    assert_eq!(errs(&text), errs(&text));
    assert!(config::load_str(&text, "t.toml").is_err());
}

#[test]
fn stamp_reflector_settings_and_sessions() {
    let router = |extra: &str| {
        BASE.replace(
            "source = \"fc00:0:1::1\"",
            &format!("source = \"fc00:0:1::1\"\n{extra}"),
        )
    };
    // Defaults: stateless, unknown SSIDs reflected, no rate limit, no
    // sessions.
    let c = ok(BASE);
    let r = c
        .fib
        .stamp_reflector()
        .expect("the reflector is on by default");
    assert_eq!(r.port, 862);
    assert_eq!(r.config.mode(), stamp::reflector::ReflectorMode::Stateless);
    assert_eq!(
        r.config.unknown_ssid(),
        stamp::reflector::UnknownSsid::Reflect
    );
    // On by default (issue 14), one figure for rate and burst.
    assert_eq!(
        r.config.rate_limit().map(|l| (l.per_second, l.burst)),
        Some((1000, 1000))
    );
    assert!(r.config.sessions().is_empty());

    let c = ok(&router(
        "stamp_mode = \"stateful\"\nstamp_unknown_ssid = \"drop\"\nstamp_rate_limit = 50",
    ));
    let r = c.fib.stamp_reflector().unwrap();
    assert_eq!(r.config.mode(), stamp::reflector::ReflectorMode::Stateful);
    assert_eq!(r.config.unknown_ssid(), stamp::reflector::UnknownSsid::Drop);
    assert_eq!(r.config.rate_limit().map(|l| l.per_second), Some(50));
    expect(
        &router("stamp_mode = \"chatty\""),
        "router.stamp_mode",
        &["chatty"],
    );
    expect(
        &router("stamp_rate_limit = 0"),
        "router.stamp_rate_limit",
        &[
            "0 is out of range",
            "replies per second per source",
            "leave it out for the default, 1000",
        ],
    );

    let sessions = with(
        "[[stamp_session]]\nssid = 7\nkey = \"00ff\"\nreturn_segments = [\"fc00:0:9::e\"]\n\n\
         [[stamp_session]]\nssid = 8\n",
    );
    let c = ok(&sessions);
    let list = c.fib.stamp_reflector().unwrap().config.sessions();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].ssid, 7);
    assert_eq!(list[0].mode, stamp::packet::Mode::Authenticated);
    assert_eq!(
        list[0].key.as_ref().map(|k| k.as_bytes().to_vec()),
        Some(vec![0, 0xff])
    );
    assert_eq!(
        list[0].return_segments,
        vec!["fc00:0:9::e".parse::<std::net::Ipv6Addr>().unwrap()]
    );
    assert_eq!(
        (list[1].ssid, list[1].mode),
        (8, stamp::packet::Mode::Unauthenticated)
    );

    let bad = with(
        "[[stamp_session]]\nssid = 7\n\n[[stamp_session]]\nssid = 7\nkey = \"abc\"\n\
         return_segments = [\"::1\"]\n\n[[stamp_session]]\nssid = -1\n",
    );
    let e = expect(
        &bad,
        "stamp_session[1].ssid",
        &["duplicate STAMP session SSID 7"],
    );
    assert_eq!(e.line, Some(line_of(&bad, "ssid = 7", appended() + 3)));
    expect(&bad, "stamp_session[1].key", &["\"abc\"", "hex digits"]);
    expect(
        &bad,
        "stamp_session[1].return_segments[0]",
        &["::1 is a loopback address", "return SID"],
    );
    expect(
        &bad,
        "stamp_session[2].ssid",
        &["-1 is out of range", "0 to 65535"],
    );
    let too_long = format!(
        "[[stamp_session]]\nssid = 1\nreturn_segments = [{}]\n",
        (1..=16)
            .map(|i| format!("\"fc00::{i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    expect(
        &with(&too_long),
        "stamp_session[0].return_segments",
        &["at most 15"],
    );

    // A final destination other than the sender, and a stopped session:
    // both reach the reflector (a stopped one is discarded there, not
    // treated as an unknown SSID).
    let dest = with(
        "[[stamp_session]]\nssid = 9\nreturn_segments = [\"fc00:0:9::e\"]\n\
         return_destination = \"fc00:0:a::5\"\nstopped = true\n",
    );
    let c = ok(&dest);
    let list = c.fib.stamp_reflector().unwrap().config.sessions();
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0].return_destination,
        Some("fc00:0:a::5".parse().unwrap())
    );
    assert!(list[0].stopped);
    expect(
        &with("[[stamp_session]]\nssid = 9\nreturn_destination = \"ff02::1\"\n"),
        "stamp_session[0].return_destination",
        &["ff02::1"],
    );
}

#[test]
fn stamp_timestamp_format_of_the_reflector() {
    let router = |extra: &str| {
        BASE.replace(
            "source = \"fc00:0:1::1\"",
            &format!("source = \"fc00:0:1::1\"\n{extra}"),
        )
    };
    use stamp::time::TimestampFormat;
    // Default: NTP, Z clear.
    let c = ok(BASE);
    let r = &c.fib.stamp_reflector().unwrap().config;
    assert_eq!(r.timestamp_format(), TimestampFormat::Ntp);
    assert!(!r.error_estimate().ptp);

    let c = ok(&router("stamp_timestamp_format = \"ntp\""));
    let r = &c.fib.stamp_reflector().unwrap().config;
    assert_eq!(r.timestamp_format(), TimestampFormat::Ntp);

    // PTP: the Error Estimate's Z bit says so.
    let c = ok(&router("stamp_timestamp_format = \"ptp\""));
    let r = &c.fib.stamp_reflector().unwrap().config;
    assert_eq!(r.timestamp_format(), TimestampFormat::Ptp);
    assert!(r.error_estimate().ptp);
    assert!(
        c.summary().to_string().contains("PTP timestamps"),
        "{}",
        c.summary()
    );

    let text = router("stamp_timestamp_format = \"bogus\"");
    let e = expect(
        &text,
        "router.stamp_timestamp_format",
        &["bogus", "`ntp`", "`ptp`"],
    );
    assert_eq!(e.line, Some(line_of(&text, "stamp_timestamp_format", 1)));
}

// ---- [[stamp_sender]] ------------------------------------------------------------

/// BASE with two router addresses (`fc00:0:1::1` and `::5`), `router_extra`
/// added to `[router]`, and `entries` appended.
fn senders_with(router_extra: &str, entries: &str) -> String {
    let base = BASE.replace(
        "source = \"fc00:0:1::1\"",
        &format!(
            "source = \"fc00:0:1::1\"\naddresses = [\"fc00:0:1::1\", \"fc00:0:1::5\"]\n{router_extra}"
        ),
    );
    format!("{base}\n{entries}")
}

fn senders(entries: &str) -> String {
    senders_with("", entries)
}

/// One valid sender entry with `extra` keys (which must not repeat its own).
fn sender(extra: &str) -> String {
    format!(
        "[[stamp_sender]]\nname = \"probe\"\nssid = 7\nsource = \"fc00:0:1::5\"\n\
         segments = [\"fc00:0:2::1\"]\n{extra}\n"
    )
}

const TWO_SENDERS: &str = r#"[[stamp_sender]]
name = "to-edge2"
ssid = 7
source = "fc00:0:1::5"
segments = ["fc00:0:2::1"]

[[stamp_sender]]
name = "via-e"
ssid = 8
source = "fc00:0:1::1"
segments = ["fc00:7::e", "fc00:8::e", "fc00:0:2::1"]
src_port = 40000
dst_port = 8620
interval = "1.5s"
count = 100
duration = "2m"
key = "00112233"
length = 120
timestamp_format = "ptp"
dscp = 46
clocks_synchronized = true
"#;

#[test]
fn stamp_senders_load_with_their_defaults() {
    use stamp::packet::Mode;
    use stamp::time::TimestampFormat;
    use std::time::Duration;
    let v6 = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap();

    assert!(ok(BASE).stamp_senders.is_empty());
    let c = ok(&senders(TWO_SENDERS));
    assert_eq!(c.stamp_senders.len(), 2);
    assert_eq!(
        c.stamp_senders[0],
        config::StampSenderConfig {
            name: "to-edge2".into(),
            ssid: 7,
            source: v6("fc00:0:1::5"),
            segments: vec![v6("fc00:0:2::1")],
            src_port: 50862,
            dst_port: 862,
            interval: Duration::from_millis(10),
            count: None,
            duration: None,
            key: None,
            length: 44,
            timestamp_format: TimestampFormat::Ntp,
            dscp: 0,
            clocks_synchronized: false,
            stopped: false,
        }
    );
    assert_eq!(
        c.stamp_senders[1],
        config::StampSenderConfig {
            name: "via-e".into(),
            ssid: 8,
            source: v6("fc00:0:1::1"),
            segments: vec![v6("fc00:7::e"), v6("fc00:8::e"), v6("fc00:0:2::1")],
            src_port: 40000,
            dst_port: 8620,
            interval: Duration::from_millis(1500),
            count: Some(100),
            duration: Some(Duration::from_secs(120)),
            key: Some(stamp::auth::HmacKey::new(&[0x00, 0x11, 0x22, 0x33])),
            length: 120,
            timestamp_format: TimestampFormat::Ptp,
            dscp: 46,
            clocks_synchronized: true,
            stopped: false,
        }
    );
    // An authenticated session's default length is the authenticated base.
    let c = ok(&senders(&sender("key = \"00ff\"")));
    assert_eq!(c.stamp_senders[0].length, 112);
    assert_eq!(c.stamp_senders[0].mode(), Mode::Authenticated);

    // The summary lists every session.
    let c = ok(&senders(TWO_SENDERS));
    let summary = c.summary().to_string();
    for s in [
        "STAMP senders (2):",
        "to-edge2",
        "[fc00:0:1::5]:50862 -> [fc00:0:2::1]:862",
        "every 10ms, until stopped, unauthenticated, NTP timestamps, 44 octets, DSCP 0",
        "[fc00:0:1::1]:40000 -> fc00:7::e, fc00:8::e, [fc00:0:2::1]:8620",
        "every 1.5s, 100 packets or 120s, whichever ends first, authenticated, PTP timestamps, 120 octets, DSCP 46",
    ] {
        assert!(summary.contains(s), "summary lacks {s:?}:\n{summary}");
    }
}

#[test]
fn stamp_sender_specs_run_in_the_engine() {
    use stamp::packet::{Mode, SenderPacket};
    let c = ok(&senders(TWO_SENDERS));
    for t in &c.stamp_senders {
        let spec = t.to_spec();
        assert_eq!(spec.name, t.name);
        assert_eq!(spec.source, t.source);
        assert_eq!(spec.segments, t.segments);
        assert_eq!((spec.src_port, spec.dst_port), (t.src_port, t.dst_port));
        assert_eq!((spec.interval, spec.count), (t.interval, t.count));
        assert_eq!(spec.traffic_class, t.dscp << 2);
        assert_eq!(spec.session.ssid(), t.ssid);
        assert_eq!(spec.session.mode(), t.mode());
        assert_eq!(spec.session.length(), t.length);
        let channel = dataplane::stamp_sender::SenderChannel::new(spec, 0)
            .unwrap_or_else(|e| panic!("{}: the engine refused the spec: {e}", t.name));

        // Its session builds test packets of `length` octets.
        let mut session = channel.spec().session.clone();
        let mut buf = vec![0xa5u8; t.length + 16];
        let (seq, t1) = session.build(&mut buf, || 1_700_000_000_000_000_000);
        assert_eq!((seq, t1), (0, 1_700_000_000_000_000_000));
        assert!(
            buf[t.length..].iter().all(|&b| b == 0xa5),
            "{}: wrote beyond {} octets",
            t.name,
            t.length
        );
        let p = SenderPacket::new_checked(&buf[..t.length], t.mode()).unwrap();
        assert_eq!(p.ssid(), t.ssid);
        let ee = p.error_estimate();
        assert_eq!(
            ee.ptp,
            t.timestamp_format == stamp::time::TimestampFormat::Ptp
        );
        assert_eq!(ee.synchronized, t.clocks_synchronized);
        if t.mode() == Mode::Authenticated {
            stamp::auth::verify_packet_hmac(t.key.as_ref().unwrap(), &buf[..t.length])
                .expect("the HMAC is made with the configured key");
        }
    }
    assert_eq!(c.stamp_senders[1].to_spec().traffic_class, 46 << 2);
}

#[test]
fn stamp_sender_source_must_be_a_router_address() {
    let text = senders(&sender("").replace("fc00:0:1::5", "fc00:0:1::9"));
    let e = expect(
        &text,
        "stamp_sender[0].source",
        &[
            "fc00:0:1::9 is not one of router.addresses",
            "handed to the kernel",
            "list it in router.addresses",
        ],
    );
    assert_eq!(e.line, Some(line_of(&text, "source = \"fc00:0:1::9\"", 1)));
    // router.source alone is not enough.
    let text = with(&sender("").replace("fc00:0:1::5", "fc00:0:1::1"));
    expect(
        &text,
        "stamp_sender[0].source",
        &["not one of router.addresses"],
    );
    expect(
        &senders(&sender("").replace("fc00:0:1::5", "ff02::1")),
        "stamp_sender[0].source",
        &["multicast"],
    );
}

#[test]
fn stamp_sender_segment_count() {
    let text = senders(&sender("").replace("segments = [\"fc00:0:2::1\"]", "segments = []"));
    let e = expect(
        &text,
        "stamp_sender[0].segments",
        &["0 segments; expected 1 to 16 SIDs"],
    );
    assert_eq!(e.line, Some(line_of(&text, "segments = []", appended())));
    let seventeen = (1..=17)
        .map(|i| format!("\"fc00:9::{i}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text = senders(&sender("").replace(
        "segments = [\"fc00:0:2::1\"]",
        &format!("segments = [{seventeen}]"),
    ));
    expect(
        &text,
        "stamp_sender[0].segments",
        &["17 segments; expected 1 to 16 SIDs"],
    );
    // Sixteen is the most.
    let sixteen = (1..=16)
        .map(|i| format!("\"fc00:9::{i}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let c = ok(&senders(&sender("").replace(
        "segments = [\"fc00:0:2::1\"]",
        &format!("segments = [{sixteen}]"),
    )));
    assert_eq!(c.stamp_senders[0].segments.len(), 16);
    expect(
        &senders(&sender("").replace("fc00:0:2::1", "::1")),
        "stamp_sender[0].segments[0]",
        &["loopback"],
    );
    // Required.
    let text = senders(&sender("").replace("segments = [\"fc00:0:2::1\"]", ""));
    expect(
        &text,
        "stamp_sender[0].segments",
        &["missing; this key is required in every [[stamp_sender]]"],
    );
}

#[test]
fn stamp_sender_src_port_is_not_the_reflector_port() {
    let text = senders(&sender("src_port = 862"));
    let e = expect(
        &text,
        "stamp_sender[0].src_port",
        &["862 is router.stamp_port", "replies"],
    );
    assert_eq!(e.line, Some(line_of(&text, "src_port = 862", appended())));
    // The default source port against a reflector moved onto it.
    let text = senders_with("stamp_port = 50862", &sender(""));
    expect(
        &text,
        "stamp_sender[0].src_port",
        &["50862 is router.stamp_port"],
    );
    // Ports are 1 to 65535.
    expect(
        &senders(&sender("src_port = 0")),
        "stamp_sender[0].src_port",
        &["0 is out of range", "1 to 65535"],
    );
    expect(
        &senders(&sender("dst_port = 65536")),
        "stamp_sender[0].dst_port",
        &["65536 is out of range", "1 to 65535"],
    );
    let c = ok(&senders_with(
        "stamp_port = 9000",
        &sender("src_port = 862"),
    ));
    assert_eq!(c.stamp_senders[0].src_port, 862);
}

#[test]
fn stamp_sender_interval() {
    let text = senders(&sender("interval = \"500us\""));
    let e = expect(
        &text,
        "stamp_sender[0].interval",
        &["\"500us\"", "at least 1ms"],
    );
    assert_eq!(e.line, Some(line_of(&text, "interval", appended())));
    expect(
        &senders(&sender("interval = \"bogus\"")),
        "stamp_sender[0].interval",
        &["\"bogus\"", "a number and a unit"],
    );
    expect(
        &senders(&sender("interval = 10")),
        "stamp_sender[0].interval",
        &["invalid type"],
    );
    let c = ok(&senders(&sender("interval = \"1ms\"")));
    assert_eq!(
        c.stamp_senders[0].interval,
        std::time::Duration::from_millis(1)
    );
}

#[test]
fn stamp_sender_duration() {
    expect(
        &senders(&sender("duration = \"0s\"")),
        "stamp_sender[0].duration",
        &["\"0s\"", "above 0"],
    );
    expect(
        &senders(&sender("duration = \"soon\"")),
        "stamp_sender[0].duration",
        &["\"soon\""],
    );
    let c = ok(&senders(&sender("duration = \"1.5s\"")));
    assert_eq!(
        c.stamp_senders[0].duration,
        Some(std::time::Duration::from_millis(1500))
    );
    assert_eq!(
        c.stamp_senders[0].to_spec().duration,
        Some(std::time::Duration::from_millis(1500))
    );
}

#[test]
fn stamp_sender_sessions_are_bounded() {
    let max = dataplane::stamp_sender::MAX_SENDER_SESSIONS;
    let many = |n: usize| -> String {
        (0..n)
            .map(|i| {
                format!(
                    "[[stamp_sender]]\nname = \"s{i}\"\nssid = {i}\nsource = \"fc00:0:1::5\"\n\
                     segments = [\"fc00:0:2::1\"]\n"
                )
            })
            .collect()
    };
    assert_eq!(ok(&senders(&many(max))).stamp_senders.len(), max);
    expect(
        &senders(&many(max + 1)),
        &format!("stamp_sender[{max}].name"),
        &["257 [[stamp_sender]] sessions", "at most 256"],
    );
}

#[test]
fn stamp_sender_count_key_length_dscp_format() {
    let text = senders(&sender("count = 0"));
    let e = expect(
        &text,
        "stamp_sender[0].count",
        &["0 is out of range", "1 or more"],
    );
    assert_eq!(e.line, Some(line_of(&text, "count = 0", appended())));

    expect(
        &senders(&sender("key = \"abc\"")),
        "stamp_sender[0].key",
        &["\"abc\"", "hex digits"],
    );
    expect(
        &senders(&sender("key = \"zz\"")),
        "stamp_sender[0].key",
        &["\"zz\"", "hex digits"],
    );

    let text = senders(&sender("length = 45"));
    let e = expect(
        &text,
        "stamp_sender[0].length",
        &[
            "test packet length 45",
            "base length (44) or at least 4 more",
            "unauthenticated",
        ],
    );
    assert_eq!(e.line, Some(line_of(&text, "length = 45", appended())));
    expect(
        &senders(&sender("length = 44\nkey = \"00ff\"")),
        "stamp_sender[0].length",
        &["base length (112)", "authenticated (key set)"],
    );
    expect(
        &senders(&sender("length = 1401")),
        "stamp_sender[0].length",
        &["1401", "at most 1400"],
    );
    expect(
        &senders(&sender("length = -1")),
        "stamp_sender[0].length",
        &["-1 is out of range"],
    );
    assert_eq!(
        ok(&senders(&sender("length = 48"))).stamp_senders[0].length,
        48
    );
    assert_eq!(
        ok(&senders(&sender("length = 1400"))).stamp_senders[0].length,
        1400
    );

    let text = senders(&sender("dscp = 64"));
    let e = expect(
        &text,
        "stamp_sender[0].dscp",
        &["64 is out of range", "0 to 63"],
    );
    assert_eq!(e.line, Some(line_of(&text, "dscp = 64", appended())));

    let text = senders(&sender("timestamp_format = \"utc\""));
    let e = expect(
        &text,
        "stamp_sender[0].timestamp_format",
        &["utc", "`ntp`", "`ptp`"],
    );
    assert_eq!(e.line, Some(line_of(&text, "timestamp_format", appended())));

    expect(
        &senders(&sender("ssid = 70000").replace("ssid = 7\n", "")),
        "stamp_sender[0].ssid",
        &["70000 is out of range", "0 to 65535"],
    );
    expect(
        &senders(&sender("clocks_synchronised = true")),
        "stamp_sender[0].clocks_synchronised",
        &["unknown key", "clocks_synchronized"],
    );
}

#[test]
fn stamp_sender_duplicates() {
    // The same (source, src_port, SSID): replies could not be told apart.
    let two = format!(
        "{}\n{}",
        sender(""),
        sender("").replace("name = \"probe\"", "name = \"probe2\"")
    );
    let text = senders(&two);
    let e = expect(
        &text,
        "stamp_sender[1].ssid",
        &[
            "duplicate STAMP sender session [fc00:0:1::5]:50862 SSID 7",
            "already defined at stamp_sender[0].ssid (line",
        ],
    );
    let first = line_of(&text, "ssid = 7", appended());
    assert!(e.to_string().contains(&format!("(line {first})")), "{e}");
    assert_eq!(e.line, Some(line_of(&text, "ssid = 7", first + 1)));
    // Another SSID, source or port is another session.
    ok(&senders(&format!(
        "{}\n{}",
        sender(""),
        sender("src_port = 50863").replace("name = \"probe\"", "name = \"probe2\"")
    )));
    ok(&senders(&format!(
        "{}\n{}",
        sender(""),
        sender("")
            .replace("name = \"probe\"", "name = \"probe2\"")
            .replace("ssid = 7", "ssid = 8")
    )));

    // Names are unique and well formed.
    let two = format!(
        "{}\n{}",
        sender(""),
        sender("").replace("ssid = 7", "ssid = 8")
    );
    let text = senders(&two);
    let e = expect(
        &text,
        "stamp_sender[1].name",
        &["duplicate STAMP sender name \"probe\""],
    );
    assert_eq!(
        e.line,
        Some(line_of(
            &text,
            "name = \"probe\"",
            line_of(&text, "ssid = 7", 1) + 1
        ))
    );
    expect(
        &senders(&sender("").replace("name = \"probe\"", "name = \"a b\"")),
        "stamp_sender[0].name",
        &["\"a b\" is not a valid name"],
    );
}

#[test]
fn stamp_sender_errors_are_all_reported_and_nothing_is_built() {
    let text = senders(&format!(
        "{}\n{}",
        sender("count = 0\ndscp = 99"),
        sender("interval = \"bogus\"").replace("name = \"probe\"", "name = \"p2\"")
    ));
    let all = errs(&text);
    let paths: Vec<&str> = all.errors().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "stamp_sender[0].count",
            "stamp_sender[0].dscp",
            "stamp_sender[1].interval"
        ],
        "{all}"
    );
    // Section form and the unknown-section message know it.
    expect(
        &senders("[stamp_sender]\nname = \"x\"\n"),
        "stamp_sender",
        &["expected an array of tables, written [[stamp_sender]]"],
    );
    expect(
        &with("[[stamp_senders]]\nname = \"x\"\n"),
        "stamp_senders",
        &["[[stamp_sender]]"],
    );
}
