//! Route churn while forwarding: does traffic whose route did not change
//! survive a stream of API updates to other routes?
//!
//! The two-site SD-WAN of `make run` (two srv6d edges, a plain IPv6 WAN).
//! h1 pings h2 across the blue IPv6 VPN (End.DT6) at 1,000 packets per
//! second; meanwhile a gRPC client in edge1's namespace adds and deletes
//! /32 routes in VRF blue (prefixes no packet uses), one change per Apply
//! call, paced to a target rate. The same ping runs once before the churn
//! (the baseline of this run) and once during it; the result is both loss
//! figures and the update rate actually achieved.
//!
//! `sudo -E cargo run --release -p control --example route_churn -- [RATE] [SECONDS]`
//! (defaults: 1000 updates/s for 10 s). Needs the release srv6d binary
//! (`SRV6D_BIN` or `$CARGO_TARGET_DIR/release/srv6d`).

#[path = "../tests/sdwan_common/mod.rs"]
mod sdwan_common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use control::proto::srv6d::v1 as pb;
use sdwan_common::{edge_config, prime_neighbours, topology, Mode, RunLock, Srv6d, H1, H2};

fn srv6d_bin() -> Result<PathBuf, String> {
    let path = match std::env::var_os("SRV6D_BIN") {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
            .join("release/srv6d"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "srv6d not found at {}: build it with `cargo build --release -p control --bin srv6d` \
             or set SRV6D_BIN",
            path.display()
        ))
    }
}

/// `ping -i 0.001` for `seconds`: (sent, received).
fn flood(lab: &lab::Lab, seconds: u64) -> Result<(u64, u64), String> {
    let count = (seconds * 1000).to_string();
    let v6 = H2.v6.expect("h2 has IPv6");
    let out = lab
        .exec(
            H1.ns,
            [
                "ping", "-6", "-n", "-q", "-i", "0.001", "-W", "1", "-c", &count, v6,
            ],
        )
        .map_err(|e| format!("ping: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .ok_or_else(|| format!("no ping summary in: {text}"))?;
    let mut nums = line
        .split(", ")
        .filter_map(|w| w.split_whitespace().next()?.parse::<u64>().ok());
    let sent = nums.next().ok_or("no sent count")?;
    let received = nums.next().ok_or("no received count")?;
    Ok((sent, received))
}

/// Adds and deletes routes at `rate` per second for `seconds`, from inside
/// edge1's namespace; returns (changes applied, changes refused, elapsed).
fn churn(real_ns: &str, rate: u64, seconds: u64) -> Result<(u64, u64, Duration), String> {
    lab::in_netns(real_ns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let mut client = connect().await?;
            let period = Duration::from_secs_f64(1.0 / rate as f64);
            let start = Instant::now();
            let total = rate * seconds;
            let (mut ok, mut refused) = (0u64, 0u64);
            for i in 0..total {
                let deadline = start + period.mul_f64(i as f64);
                tokio::time::sleep_until(deadline.into()).await;
                // 250 prefixes, each added then deleted: the table stays small.
                let n = (i / 2) % 250;
                let prefix = format!("10.200.{}.{}/32", n / 250, n % 250);
                let op = if i % 2 == 0 {
                    pb::change::Op::PutRoute(pb::Route {
                        vrf: "blue".into(),
                        prefix,
                        policy: "blue-v4".into(),
                        ..Default::default()
                    })
                } else {
                    pb::change::Op::DeleteRoute(pb::RouteKey {
                        vrf: "blue".into(),
                        prefix,
                    })
                };
                let req = pb::ApplyRequest {
                    changes: vec![pb::Change { op: Some(op) }],
                    dry_run: false,
                };
                match client.apply(req).await {
                    Ok(_) => ok += 1,
                    Err(e) => {
                        refused += 1;
                        if refused < 5 {
                            eprintln!("apply refused: {e}");
                        }
                    }
                }
            }
            Ok((ok, refused, start.elapsed()))
        })
    })
    .map_err(|e| e.to_string())?
}

async fn connect(
) -> Result<pb::config_service_client::ConfigServiceClient<tonic::transport::Channel>, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match pb::config_service_client::ConfigServiceClient::connect("http://127.0.0.1:50051")
            .await
        {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() > deadline => return Err(format!("connect: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn run(rate: u64, seconds: u64) -> Result<(), String> {
    let bin = srv6d_bin()?;
    let _lock = RunLock::acquire().map_err(|e| format!("run lock: {e}"))?;
    let dir = std::env::temp_dir().join(format!("srv6d-churn-{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let lab = topology("s6churn").map_err(|e| format!("namespaces: {e}"))?;
    prime_neighbours(&lab)?;
    let mut edges = Vec::new();
    for n in [1u8, 2] {
        let path = dir.join(format!("edge{n}.toml"));
        fs::write(&path, edge_config(n, Mode::Encap, Mode::EncapRed)).map_err(|e| e.to_string())?;
        let ns = format!("edge{n}");
        edges.push(Srv6d::start(
            &lab,
            &ns,
            &bin,
            &path,
            dir.join(format!("{ns}.log")),
        )?);
    }
    // Warm up (neighbour resolution), then the baseline of this run.
    let _ = flood(&lab, 1)?;
    let (base_sent, base_received) = flood(&lab, seconds)?;
    let edge1 = lab.ns("edge1").to_string();
    let churner = std::thread::spawn(move || churn(&edge1, rate, seconds + 2));
    std::thread::sleep(Duration::from_secs(1));
    let (sent, received) = flood(&lab, seconds)?;
    let (ok, refused, elapsed) = churner.join().map_err(|_| "churn thread panicked")??;
    for e in edges {
        let stopped = e.stop()?;
        if !stopped.clean() {
            return Err("srv6d did not stop cleanly".into());
        }
    }
    let loss = |s: u64, r: u64| 100.0 * (s - r.min(s)) as f64 / s.max(1) as f64;
    println!("route churn through the gRPC agent (edge1), {} s", seconds);
    println!(
        "  updates: {ok} applied, {refused} refused, {:.0}/s achieved (target {rate}/s)",
        ok as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  unaffected flow h1 -> h2 (blue IPv6, 1000 pps): without churn {base_received}/{base_sent} \
         ({:.2} % lost), during churn {received}/{sent} ({:.2} % lost)",
        loss(base_sent, base_received),
        loss(sent, received)
    );
    let _ = fs::remove_dir_all(&dir);
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let rate = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000u64);
    let seconds = args.next().and_then(|a| a.parse().ok()).unwrap_or(10u64);
    match run(rate.max(1), seconds.max(1)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("route_churn: {e}");
            ExitCode::FAILURE
        }
    }
}
