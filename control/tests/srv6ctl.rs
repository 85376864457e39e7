//! `srv6ctl` end to end against a real `srv6d run` in a namespace of its
//! own (ports: a veth pair inside it; the gRPC agent on the namespace's
//! loopback), driven only through srv6ctl: a configuration built step by
//! step, the `show` tables and the `--json` output, refusals that change
//! nothing (exit 1, the field named), an atomic `apply FILE`, `route del`,
//! `stats`, `health`, unreachable server (exit 3), bad usage (exit 2) and
//! shell completions.

use std::fs;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use lab::{Lab, NsChild, Topology};
use serde_json::Value;

const SRV6D: &str = env!("CARGO_BIN_EXE_srv6d");
const SRV6CTL: &str = env!("CARGO_BIN_EXE_srv6ctl");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ctl(lab: &Lab, args: &[&str]) -> Run {
    let mut argv = vec![SRV6CTL, "--timeout", "60s"];
    argv.extend_from_slice(args);
    let Output {
        status,
        stdout,
        stderr,
    } = lab.exec("r", &argv).expect("run srv6ctl");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// srv6ctl ARGS, which must succeed.
fn ok(lab: &Lab, args: &[&str]) -> String {
    let r = ctl(lab, args);
    assert_eq!(
        r.code, 0,
        "srv6ctl {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        r.code, r.stdout, r.stderr
    );
    r.stdout
}

fn json(lab: &Lab, args: &[&str]) -> Value {
    let mut argv = vec!["--json"];
    argv.extend_from_slice(args);
    let out = ok(lab, &argv);
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("srv6ctl {args:?}: not JSON ({e}):\n{out}"))
}

fn config(lab: &Lab) -> Value {
    json(lab, &["config", "show"])
}

/// A table's rows (after the header), split into columns.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

struct Srv6d {
    child: NsChild,
    log: std::path::PathBuf,
}

impl Srv6d {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[test]
fn srv6ctl_drives_srv6d() {
    if !lab::require_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let lab = Topology::new()
        .prefix("s6ctl")
        .namespaces(&["r"])
        .link(("r", "wan0"), ("r", "lan0"))
        .build()
        .expect("build the lab");
    let dir = std::env::temp_dir().join(format!("srv6ctl-test-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.toml");
    let log = dir.join("srv6d.log");
    let mut cmd = lab.command(
        "r",
        [
            SRV6D,
            "run",
            "--state",
            state.to_str().unwrap(),
            "--stats-interval",
            "0",
            "--idle",
            "sleep",
        ],
    );
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap());
    let mut srv6d = Srv6d {
        child: NsChild::spawn("srv6d", cmd).expect("spawn srv6d"),
        log,
    };

    // Until the agent listens, srv6ctl says "unreachable" (exit 3).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = ctl(&lab, &["version"]);
        if r.code == 0 {
            assert!(r.stdout.contains("srv6d.v1"), "{}", r.stdout);
            break;
        }
        assert_eq!(r.code, 3, "version: {} {}", r.stdout, r.stderr);
        assert!(r.stderr.contains("127.0.0.1:50051") && r.stderr.contains("srv6d run"));
        if let Ok(Some(status)) = srv6d.child.child_mut().try_wait() {
            panic!("srv6d exited ({status}):\n{}", srv6d.log());
        }
        assert!(
            Instant::now() < deadline,
            "srv6d never listened:\n{}",
            srv6d.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(config(&lab)["generation"], 0);

    // A configuration, step by step. From an empty configuration neither
    // the router settings alone nor a port alone validate (each needs the
    // other), so the first step is a batch; `router set` then replaces the
    // settings.
    let boot = dir.join("boot.toml");
    fs::write(
        &boot,
        "[router]\nsource = \"fc00:0:1::1\"\n\n[[port]]\nname = \"wan0\"\nrole = \"wan\"\n",
    )
    .unwrap();
    ok(&lab, &["apply", boot.to_str().unwrap()]);
    ok(
        &lab,
        &[
            "router",
            "set",
            "source",
            "fc00:0:1::1",
            "address",
            "fc00:0:1::2",
        ],
    );
    ok(&lab, &["vrf", "add", "blue", "id", "10"]);
    ok(
        &lab,
        &["port", "add", "lan0", "lan", "vrf", "blue", "xdp", "auto"],
    );
    ok(
        &lab,
        &["sid", "add", "fc00:0:1::100", "end.dt6", "vrf", "blue"],
    );
    ok(&lab, &["sid", "add", "fc00:0:1::e", "end"]);
    let added = json(
        &lab,
        &[
            "route",
            "add",
            "2001:db8:2::/64",
            "vrf",
            "blue",
            "encap",
            "segs",
            "fc00:0:9::e,fc00:0:2::100",
        ],
    );
    let auto = added["policy"]["name"].as_str().unwrap().to_string();
    assert!(auto.starts_with("auto-"), "{added}");
    assert_eq!(added["policy_reused"], false);
    ok(
        &lab,
        &[
            "route",
            "add",
            "2001:db8:1::/64",
            "vrf",
            "blue",
            "dev",
            "lan0",
        ],
    );
    ok(
        &lab,
        &[
            "route",
            "add",
            "fc00:0:2::/48",
            "via",
            "fe80::2",
            "dev",
            "wan0",
        ],
    );
    // The same encapsulation again: the implicit policy is reused.
    let again = json(
        &lab,
        &[
            "route",
            "add",
            "2001:db8:3::/64",
            "vrf",
            "blue",
            "encap",
            "segs",
            "fc00:0:9::e,fc00:0:2::100",
        ],
    );
    assert_eq!(again["policy"]["name"], auto.as_str());
    assert_eq!(again["policy_reused"], true);

    // The tables.
    let ports = rows(&ok(&lab, &["port", "show"]));
    assert_eq!(
        ports,
        [
            vec!["wan0", "wan", "-", "all", "auto"],
            vec!["lan0", "lan", "blue", "all", "auto"]
        ]
    );
    let vrfs = rows(&ok(&lab, &["vrf", "show"]));
    assert_eq!(vrfs, [vec!["blue", "10"]]);
    let sids = rows(&ok(&lab, &["sid", "show"]));
    assert!(sids.contains(&vec![
        "fc00:0:1::100".to_string(),
        "end.dt6".into(),
        "blue".into(),
        "-".into(),
        "-".into()
    ]));
    let routes = rows(&ok(&lab, &["route", "show", "vrf", "blue"]));
    assert_eq!(routes.len(), 3, "{routes:?}");
    let encap_row = routes
        .iter()
        .find(|r| r[1] == "2001:db8:2::/64")
        .expect("the encap route");
    assert_eq!(
        encap_row,
        &vec![
            "blue".to_string(),
            "2001:db8:2::/64".into(),
            "policy".into(),
            auto.clone(),
            "encap".into(),
            "segs".into(),
            "fc00:0:9::e,fc00:0:2::100".into()
        ]
    );
    let router = ok(&lab, &["router", "show"]);
    assert!(
        router.contains("fc00:0:1::1") && router.contains("fc00:0:1::2"),
        "{router}"
    );

    // The JSON holds exactly what was set.
    let cfg = config(&lab);
    let before_generation = cfg["generation"].as_u64().unwrap();
    assert!(before_generation >= 8, "{cfg}");
    assert_eq!(cfg["router"]["source"], "fc00:0:1::1");
    assert_eq!(
        cfg["router"]["addresses"],
        serde_json::json!(["fc00:0:1::2"])
    );
    assert_eq!(cfg["vrfs"], serde_json::json!([{"name": "blue", "id": 10}]));
    assert_eq!(cfg["ports"].as_array().unwrap().len(), 2);
    assert_eq!(cfg["ports"][1]["name"], "lan0");
    assert_eq!(cfg["ports"][1]["role"], "lan");
    assert_eq!(cfg["ports"][1]["vrf"], "blue");
    assert_eq!(cfg["sids"].as_array().unwrap().len(), 2);
    assert_eq!(
        cfg["policies"],
        serde_json::json!([{"name": auto, "mode": "encap",
            "segments": ["fc00:0:9::e", "fc00:0:2::100"], "source": "",
            "flow_label": "copy", "ipv4_hop_limit": 0}])
    );
    let cfg_routes = cfg["routes"].as_array().unwrap();
    assert_eq!(cfg_routes.len(), 4);
    assert!(cfg_routes.contains(&serde_json::json!({"vrf": "underlay",
        "prefix": "fc00:0:2::/48", "policy": "", "nexthop": "fe80::2", "port": "wan0",
        "local": false, "blackhole": false})));
    assert!(cfg_routes.contains(&serde_json::json!({"vrf": "blue",
        "prefix": "2001:db8:1::/64", "policy": "", "nexthop": "on-link", "port": "lan0",
        "local": false, "blackhole": false})));
    let toml = ok(&lab, &["config", "show", "--toml"]);
    assert!(toml.contains("[[route]]") && toml.contains(&auto), "{toml}");

    // A refused change: exit 1, the field named, nothing changed.
    let r = ctl(
        &lab,
        &["route", "add", "10.9.0.0/16", "vrf", "nosuch", "blackhole"],
    );
    assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("INVALID_ARGUMENT") && r.stderr.contains("vrf"),
        "{}",
        r.stderr
    );
    assert_eq!(config(&lab), cfg);
    // ... also for the encap form (policy and route in one batch).
    let r = ctl(
        &lab,
        &[
            "route",
            "add",
            "10.9.0.0/16",
            "vrf",
            "nosuch",
            "encap",
            "segs",
            "fc00:0:7::1",
        ],
    );
    assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
    assert!(r.stderr.contains("vrf"), "{}", r.stderr);
    assert_eq!(config(&lab), cfg);
    // An existing route is not silently replaced.
    let r = ctl(
        &lab,
        &[
            "route",
            "add",
            "2001:db8:2::/64",
            "vrf",
            "blue",
            "encap",
            "segs",
            "fc00:0:7::1",
        ],
    );
    assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
    assert!(r.stderr.contains("ALREADY_EXISTS"), "{}", r.stderr);
    assert_eq!(config(&lab), cfg);

    // Bad usage: exit 2, before anything is sent.
    let r = ctl(&lab, &["route", "add", "10.9.0.0/16", "frob"]);
    assert_eq!(r.code, 2, "{} {}", r.stdout, r.stderr);
    assert!(r.stderr.contains("frob"), "{}", r.stderr);
    assert_eq!(ctl(&lab, &["route", "frob"]).code, 2);

    // apply FILE: one bad object and nothing of the file is applied.
    let bad = dir.join("bad.toml");
    fs::write(
        &bad,
        r#"
[[vrf]]
name = "red"
id = 20

[[policy]]
name = "to-e3"
mode = "encap"
segments = ["fc00:0:3::100"]

[[route]]
vrf = "red"
prefix = "10.3.0.0/24"
policy = "to-e3"

[[route]]
vrf = "green"
prefix = "10.4.0.0/24"
policy = "to-e3"
"#,
    )
    .unwrap();
    let r = ctl(&lab, &["apply", bad.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
    assert!(r.stderr.contains("changes[3]"), "{}", r.stderr);
    assert_eq!(config(&lab), cfg);
    // The good part alone: a dry run changes nothing, then it applies.
    let good = dir.join("good.toml");
    let text = fs::read_to_string(&bad).unwrap();
    let cut = text.rfind("[[route]]").unwrap();
    fs::write(&good, &text[..cut]).unwrap();
    let dry = json(&lab, &["apply", "--dry-run", good.to_str().unwrap()]);
    assert_eq!(dry["changes"], 3);
    assert_eq!(config(&lab), cfg);
    let applied = json(&lab, &["apply", good.to_str().unwrap()]);
    assert_eq!(applied["generation"], before_generation + 1);
    let red = rows(&ok(&lab, &["route", "show", "vrf", "red"]));
    assert_eq!(red.len(), 1);
    assert_eq!(red[0][..4], ["red", "10.3.0.0/24", "policy", "to-e3"]);

    // route del: the route goes, and with the last route using it, the
    // implicit policy.
    ok(&lab, &["route", "del", "2001:db8:2::/64", "vrf", "blue"]);
    let cfg = config(&lab);
    assert!(cfg["policies"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == auto.as_str()));
    ok(&lab, &["route", "del", "2001:db8:3::/64", "vrf", "blue"]);
    let cfg = config(&lab);
    let prefixes: Vec<&str> = cfg["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["prefix"].as_str().unwrap())
        .collect();
    assert!(!prefixes.contains(&"2001:db8:2::/64") && !prefixes.contains(&"2001:db8:3::/64"));
    assert!(!cfg["policies"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == auto.as_str()));
    let r = ctl(&lab, &["route", "del", "2001:db8:3::/64", "vrf", "blue"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("NOT_FOUND"), "{}", r.stderr);

    // stats and health.
    let stats = ok(&lab, &["stats", "-a"]);
    assert!(stats.starts_with("RX"), "{stats}");
    let stats = json(&lab, &["stats"]);
    assert!(
        stats["rx"].is_u64() && stats["drops"].is_object(),
        "{stats}"
    );
    let health = json(&lab, &["health"]);
    assert_eq!(health["status"], "serving", "{health}");
    assert_eq!(health["generation"], cfg["generation"]);

    // Elsewhere: nobody listens (exit 3, the address named).
    let r = ctl(&lab, &["--server", "127.0.0.1:9", "health"]);
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("127.0.0.1:9"), "{}", r.stderr);

    // Completions need no server.
    let script = ok(&lab, &["completions", "bash"]);
    assert!(
        script.contains("_srv6ctl") && script.contains("complete"),
        "{script}"
    );

    // A clean stop.
    let pid = srv6d.child.id() as libc::pid_t;
    // SAFETY: plain syscall on our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = srv6d.child.child_mut().try_wait().unwrap() {
            assert!(status.success(), "srv6d: {status}\n{}", srv6d.log());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "srv6d did not stop:\n{}",
            srv6d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = fs::remove_dir_all(&dir);
}
