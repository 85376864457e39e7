//! Namespaces never outlive their lab: not on drop, not on panic, not after
//! a failed build, and not after a killed run (swept by the next build).

use std::path::Path;
use std::process::Command;

use lab::{Error, Route, Topology, NETNS_DIR};

fn netns_exists(real: &str) -> bool {
    Path::new(NETNS_DIR).join(real).exists()
}

/// Names in `ip netns list` that start with `start`.
fn listed_with(start: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(start))
        .map(str::to_string)
        .collect()
}

fn pair() -> Topology {
    Topology::new()
        .namespaces(&["a", "b"])
        .link(("a", "eth0"), ("b", "eth0"))
        .addr("a", "eth0", "10.0.0.1/24")
}

#[test]
fn drop_removes_namespaces() {
    if !lab::require_root() {
        eprintln!("skipped");
        return;
    }
    let lab = pair().build().expect("build");
    let real: Vec<String> = lab.namespaces().map(|(_, r)| r.to_string()).collect();
    assert_eq!(real.len(), 2);
    let listed = listed_with("s6lab-");
    for name in &real {
        assert!(
            listed.contains(name),
            "{name} not in ip netns list: {listed:?}"
        );
        let expected_start = format!("s6lab-{}-", std::process::id());
        assert!(name.starts_with(&expected_start), "{name}");
    }
    assert_eq!(lab.ns("a"), real[0]);
    drop(lab);
    let listed = listed_with("s6lab-");
    for name in &real {
        assert!(!listed.contains(name), "{name} survived drop");
    }
}

#[test]
fn panic_still_removes_namespaces() {
    if !lab::require_root() {
        eprintln!("skipped");
        return;
    }
    let start = format!("s6panic-{}-", std::process::id());
    let outcome = std::panic::catch_unwind(|| {
        let lab = pair().prefix("s6panic").build().expect("build");
        assert_eq!(listed_with(&start).len(), 2);
        let _ = lab.ns("a");
        panic!("test body fails with the lab alive");
    });
    assert!(outcome.is_err());
    assert_eq!(listed_with(&start), Vec::<String>::new());
}

#[test]
fn leftover_of_dead_process_is_swept() {
    if !lab::require_root() {
        eprintln!("skipped");
        return;
    }
    // A pid that existed and is gone: a child we started and reaped.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let leftover = format!("s6sweep-{dead}-0-h1");
    let status = Command::new("ip")
        .args(["netns", "add", &leftover])
        .status()
        .unwrap();
    assert!(status.success());
    // A namespace of a live process (ours, another counter) is not touched.
    let alive = format!("s6sweep-{}-999-h1", std::process::id());
    let status = Command::new("ip")
        .args(["netns", "add", &alive])
        .status()
        .unwrap();
    assert!(status.success());

    let lab = pair()
        .prefix("s6sweep")
        .build()
        .expect("build after a killed run");
    let leftover_gone = !netns_exists(&leftover);
    let alive_kept = netns_exists(&alive);
    drop(lab);
    for name in [&alive, &leftover] {
        if netns_exists(name) {
            let _ = Command::new("ip").args(["netns", "delete", name]).status();
        }
    }
    assert!(leftover_gone, "leftover {leftover} was not swept");
    assert!(alive_kept, "namespace of a live process was swept");
}

#[test]
fn failed_build_names_the_command_and_cleans_up() {
    if !lab::require_root() {
        eprintln!("skipped");
        return;
    }
    let start = format!("s6bad-{}-", std::process::id());
    // The gateway is on no connected network: the kernel refuses the route.
    let err = pair()
        .prefix("s6bad")
        .route("a", Route::to("10.9.0.0/16").via("192.0.2.1"))
        .build()
        .expect_err("a route via an unreachable gateway must fail");
    match &err {
        Error::Command {
            step,
            command,
            stderr,
            ..
        } => {
            assert_eq!(step, "add route in a");
            assert!(command.starts_with(&format!("ip -n {start}")), "{command}");
            assert!(
                command.ends_with("-4 route add 10.9.0.0/16 via 192.0.2.1"),
                "{command}"
            );
            assert!(stderr.contains("gateway"), "{stderr}");
        }
        other => panic!("expected a command error, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("route add 10.9.0.0/16"), "{msg}");
    assert_eq!(listed_with(&start), Vec::<String>::new());
}

#[test]
fn invalid_topology_creates_nothing() {
    if !lab::require_root() {
        eprintln!("skipped");
        return;
    }
    let start = format!("s6typo-{}-", std::process::id());
    let err = Topology::new()
        .prefix("s6typo")
        .ns("h1")
        .link(("h1", "eth0"), ("h2", "eth0"))
        .build()
        .unwrap_err();
    assert!(
        matches!(err, Error::Topology(ref m) if m.contains("`h2`")),
        "{err}"
    );
    assert_eq!(listed_with(&start), Vec::<String>::new());
}

/// Run by `killed_run_leaves_nothing_that_breaks_the_next`: builds a lab,
/// prints its namespace names and waits to be SIGKILLed.
#[test]
#[ignore = "helper process for killed_run_leaves_nothing_that_breaks_the_next"]
fn killed_run_helper() {
    if std::env::var_os("SRV6D_LAB_KILL_HELPER").is_none() {
        return;
    }
    let lab = pair().prefix("s6kill").build().expect("build");
    let names: Vec<&str> = lab.namespaces().map(|(_, real)| real).collect();
    println!("READY {}", names.join(" "));
    std::thread::sleep(std::time::Duration::from_secs(60));
}

#[test]
fn killed_run_leaves_nothing_that_breaks_the_next() {
    use std::io::BufRead;
    if !lab::require_root() {
        eprintln!("skipped");
        return;
    }
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "killed_run_helper",
            "--include-ignored",
            "--nocapture",
        ])
        .env("SRV6D_LAB_KILL_HELPER", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut names = Vec::new();
    for line in std::io::BufReader::new(helper.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("READY ") {
            names = rest.split(' ').map(str::to_string).collect();
            break;
        }
    }
    helper.kill().unwrap(); // SIGKILL: no Drop runs
    helper.wait().unwrap();
    assert_eq!(names.len(), 2, "helper never reported its namespaces");
    assert!(
        names.iter().all(|n| netns_exists(n)),
        "SIGKILL should leave {names:?}"
    );

    let lab = pair()
        .prefix("s6kill")
        .build()
        .expect("build after a killed run");
    for name in &names {
        assert!(!netns_exists(name), "leftover {name} was not swept");
    }
    drop(lab);
}
