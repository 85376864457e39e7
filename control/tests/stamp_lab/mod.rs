//! Configuration files shared by the STAMP lab tests whose e1 runs srv6d
//! as a Session-Sender toward e2 through t's kernel End `fc00:7::e`:
//! e1 owns router address fc00:e1::5 on `eth0` (fc00:1::1/64, next hop
//! t at fc00:1::2); e2 reflects on End SID [`REFLECTOR`] on `wan0`
//! (fc00:2::2/64, next hop t at fc00:2::1).

#![allow(dead_code)]

/// e2's End SID: the inline reflector.
pub const REFLECTOR: &str = "fc00:e2::862";

/// One `[[stamp_sender]]` entry toward e2 via t's End.
pub fn session(name: &str, ssid: u16, extra: &str) -> String {
    format!(
        r#"
[[stamp_sender]]
name = "{name}"
ssid = {ssid}
source = "fc00:e1::5"
segments = ["fc00:7::e", "{REFLECTOR}"]
clocks_synchronized = true
{extra}
"#
    )
}

/// e1's file: one WAN port, router address fc00:e1::5, `extra` (sessions,
/// routes) appended.
pub fn e1_config(extra: &str) -> String {
    format!(
        r#"
[[port]]
name = "eth0"
role = "wan"

[router]
source = "fc00:e1::1"
addresses = ["fc00:e1::5"]

[[route]]
vrf = "underlay"
prefix = "fc00:1::/64"
nexthop = "on-link"
port = "eth0"

[[route]]
vrf = "underlay"
prefix = "fc00::/16"
nexthop = "fc00:1::2"
port = "eth0"
{extra}
"#
    )
}

/// e2's file: End SID fc00:e2::862 (reflects), `router_extra` under
/// `[router]`, `extra` appended.
pub fn e2_config(router_extra: &str, extra: &str) -> String {
    format!(
        r#"
[[port]]
name = "wan0"
role = "wan"

[router]
source = "fc00:e2::1"
{router_extra}

[[sid]]
sid = "{REFLECTOR}"
behavior = "end"

[[route]]
vrf = "underlay"
prefix = "fc00:2::/64"
nexthop = "on-link"
port = "wan0"

[[route]]
vrf = "underlay"
prefix = "fc00::/16"
nexthop = "fc00:2::1"
port = "wan0"
{extra}
"#
    )
}
