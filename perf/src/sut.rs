//! The system under test: `srv6d run` in the SUT namespace, either
//! dataplane (`--dataplane afxdp`: srv6d's engine; `--dataplane kernel`:
//! Linux seg6 programmed by srv6d's kernel backend), configured per
//! scenario through the gRPC API (ConfigService.Apply, one atomic batch)
//! and read through it (SystemService.GetCounters), exactly as a
//! controller would.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use control::config::ConfigFile;
use control::ctl::run::changes_from_file;
use control::proto::srv6d::v1 as pb;
use lab::Lab;

use crate::sys;

/// Which dataplane `srv6d run` drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataplane {
    Afxdp,
    Kernel,
}

impl Dataplane {
    pub fn flag(self) -> &'static str {
        match self {
            Dataplane::Afxdp => "afxdp",
            Dataplane::Kernel => "kernel",
        }
    }
}

/// The counters a trial needs, from GetCounters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub rx: u64,
    pub tx: u64,
    pub stamp_reflected: u64,
    pub stamp_replies: u64,
}

impl Counters {
    pub fn since(&self, before: &Counters) -> Counters {
        Counters {
            rx: self.rx.saturating_sub(before.rx),
            tx: self.tx.saturating_sub(before.tx),
            stamp_reflected: self.stamp_reflected.saturating_sub(before.stamp_reflected),
            stamp_replies: self.stamp_replies.saturating_sub(before.stamp_replies),
        }
    }
}

/// gRPC port of the SUT's agent (inside the SUT namespace's loopback).
const GRPC: &str = "127.0.0.1:50051";

/// A running `srv6d run`, configured.
pub struct Srv6d {
    child: Child,
    log: PathBuf,
    ns: String,
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

impl Srv6d {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Starts `srv6d run` in `ns` with an empty state, its workers on
    /// `core` and its agent on `agent_core`, waits for the gRPC agent, then
    /// applies `config` (TOML, as a file would hold it) in one batch.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        lab: &Lab,
        ns: &str,
        bin: &Path,
        dataplane: Dataplane,
        config: &str,
        dir: &Path,
        name: &str,
        core: usize,
        idle: &str,
    ) -> Result<Srv6d, String> {
        let log = dir.join(format!("{name}.log"));
        let state = dir.join(format!("{name}-state.toml"));
        let _ = std::fs::remove_file(&state);
        let mut cmd = lab.command(ns, [bin.as_os_str()]);
        cmd.args(["run", "--dataplane", dataplane.flag(), "--grpc", GRPC]);
        cmd.arg("--state").arg(&state);
        cmd.args([
            "--cores",
            &core.to_string(),
            "--workers",
            "1",
            "--idle",
            idle,
            "--stats-interval",
            "0",
        ]);
        let errf = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(errf);
        let child = cmd
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        let mut s = Srv6d {
            child,
            log,
            ns: ns.to_string(),
        };
        let t0 = Instant::now();
        while !s.log().contains("gRPC agent listening") {
            if let Ok(Some(st)) = s.child.try_wait() {
                return Err(format!("srv6d exited ({st}) at start; log:\n{}", s.log()));
            }
            if t0.elapsed() > Duration::from_secs(20) {
                return Err(format!("srv6d's agent did not come up; log:\n{}", s.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        s.apply(lab, config)
            .map_err(|e| format!("configure {name} over gRPC: {e}\nlog:\n{}", s.log()))?;
        Ok(s)
    }

    fn call<R: Send>(
        &self,
        lab: &Lab,
        f: impl FnOnce(
                tonic::transport::Channel,
            )
                -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<R, String>>>>
            + Send,
    ) -> Result<R, String> {
        lab.in_ns(&self.ns, move || {
            let rt = runtime()?;
            rt.block_on(async move {
                let ch = tonic::transport::Endpoint::from_static("http://127.0.0.1:50051")
                    .connect_timeout(Duration::from_secs(5))
                    .connect()
                    .await
                    .map_err(|e| format!("connect to the agent: {e}"))?;
                f(ch).await
            })
        })
        .map_err(|e| format!("enter {}: {e}", self.ns))?
    }

    /// Applies `config` (TOML) as one ConfigService.Apply batch.
    pub fn apply(&self, lab: &Lab, config: &str) -> Result<u64, String> {
        let doc: ConfigFile = toml::from_str(config).map_err(|e| format!("config: {e}"))?;
        let changes = changes_from_file(&doc)?;
        self.call(lab, move |ch| {
            Box::pin(async move {
                let mut c = pb::config_service_client::ConfigServiceClient::new(ch);
                let r = c
                    .apply(pb::ApplyRequest {
                        changes,
                        dry_run: false,
                    })
                    .await
                    .map_err(|s| format!("Apply: {}: {}", s.code(), s.message()))?;
                Ok(r.into_inner().generation)
            })
        })
    }

    /// The dataplane's counters (GetCounters).
    pub fn counters(&self, lab: &Lab) -> Result<Counters, String> {
        self.call(lab, |ch| {
            Box::pin(async move {
                let mut c = pb::system_service_client::SystemServiceClient::new(ch);
                let r = c
                    .get_counters(pb::GetCountersRequest::default())
                    .await
                    .map_err(|s| format!("GetCounters: {}: {}", s.code(), s.message()))?
                    .into_inner();
                Ok(Counters {
                    rx: r.rx,
                    tx: r.tx,
                    stamp_reflected: r.stamp_reflected,
                    stamp_replies: r.stamp_replies,
                })
            })
        })
    }

    /// The threads of srv6d's engine (named `srv6d-w*`).
    pub fn workers(&self) -> Vec<i32> {
        sys::threads(self.child.id())
            .into_iter()
            .filter(|(_, comm)| comm.starts_with("srv6d-w"))
            .map(|(t, _)| t)
            .collect()
    }

    /// SIGTERM, then waits (10 s at most) for it to exit.
    pub fn stop(mut self) -> Result<(), String> {
        stop_child(&mut self.child, "srv6d", &self.log)
    }
}

impl Drop for Srv6d {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// SIGTERM `child` and wait up to 10 s; SIGKILL after that.
pub fn stop_child(child: &mut Child, what: &str, log: &Path) -> Result<(), String> {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let t0 = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Ok(()),
            Ok(None) if t0.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{what} did not stop on SIGTERM; log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                ));
            }
        }
    }
}
