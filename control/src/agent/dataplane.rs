//! What the agent applies configurations to: the AF_XDP engine
//! ([`XdpDataplane`]) or the kernel's seg6 (`kernel::KernelDataplane`,
//! wrapped by [`KernelBackend`]).

use dataplane::engine::Counters;
use tracing::{info, warn};

use crate::config::LoadedConfig;
use crate::router::{EngineOptions, Router};
use crate::stamp_inline::{summary_line, InlineReport, TakeRecords};

/// A dataplane the agent drives. Every method is called with the agent
/// locked, never on a packet path.
pub trait Dataplane: Send {
    /// `"afxdp"` or `"kernel"`.
    fn name(&self) -> &'static str;
    /// What in `config` this dataplane cannot do, each naming the item;
    /// empty if it can do all of it.
    fn refuse(&self, config: &LoadedConfig) -> Vec<String>;
    /// Moves the dataplane to `config`, all or nothing. Returns the final
    /// results of STAMP sender sessions the change stopped.
    fn apply(&mut self, config: LoadedConfig) -> Result<Vec<InlineReport>, String>;
    /// Removes every configuration (the agent's document became empty
    /// again): ports released, routes removed. The dataplane stays usable.
    fn clear(&mut self) -> Result<(), String>;
    /// Forwarding counters, if the dataplane keeps them.
    fn counters(&self) -> Option<Counters>;
    /// `Err` with the reason if a part of it stopped working.
    fn health(&self) -> Result<(), String>;
    /// Moves the sender sessions' events into their statistics.
    fn collect(&mut self) {}
    /// The running sender sessions' results.
    fn stamp_reports(&mut self, _take_records: TakeRecords<'_>) -> Vec<InlineReport> {
        Vec::new()
    }
    /// Stops the dataplane and undoes what it set up; returns a line for
    /// the log, or why the stop was not clean.
    fn stop(self: Box<Self>) -> Result<String, String>;
}

/// The AF_XDP engine. It runs only while the configuration has ports; a
/// change of the ports restarts it (forwarding pauses while the sockets
/// are re-created; everything else is a snapshot swap).
pub struct XdpDataplane {
    router: Option<Router>,
    options: EngineOptions,
}

impl XdpDataplane {
    /// The engine, not started: the first applied configuration with ports
    /// starts it.
    pub fn new(options: EngineOptions) -> XdpDataplane {
        XdpDataplane {
            router: None,
            options,
        }
    }

    fn stop_router(router: Router) -> Result<String, String> {
        let accounting = router.stop().map_err(|e| e.to_string())?;
        info!(
            total = accounting.total,
            accounted = accounting.accounted(),
            "UMEM frames at shutdown"
        );
        if accounting.balanced() {
            Ok(format!(
                "engine stopped, {} UMEM frames accounted for",
                accounting.total
            ))
        } else {
            Err(format!(
                "engine stopped with UMEM frames unaccounted for: {accounting:?}"
            ))
        }
    }
}

impl Dataplane for XdpDataplane {
    fn name(&self) -> &'static str {
        "afxdp"
    }

    fn refuse(&self, _config: &LoadedConfig) -> Vec<String> {
        Vec::new()
    }

    fn apply(&mut self, config: LoadedConfig) -> Result<Vec<InlineReport>, String> {
        let same_ports = self
            .router
            .as_ref()
            .is_some_and(|r| r.ports() == config.ports.as_slice());
        if same_ports {
            let router = self.router.as_mut().expect("checked");
            return router
                .reload(config)
                .map(|s| s.stopped)
                .map_err(|e| e.to_string());
        }
        // The ports changed: the engine restarts with the new set. Its
        // sender sessions end here (their results are returned).
        let mut ended = Vec::new();
        if let Some(mut old) = self.router.take() {
            info!("the ports changed: restarting the engine");
            old.collect_stamp();
            ended = old.stamp_reports(true);
            for r in &ended {
                info!("stopped by the restart: {}", summary_line(r));
            }
            match Self::stop_router(old) {
                Ok(line) => info!("{line}"),
                Err(e) => warn!("{e}"),
            }
        }
        if config.ports.is_empty() {
            info!("no ports configured: the engine starts with the first port");
        } else {
            // On failure the agent applies the previous configuration
            // again, which restarts the old engine.
            self.router =
                Some(Router::start(config, self.options.clone()).map_err(|e| e.to_string())?);
        }
        Ok(ended)
    }

    fn clear(&mut self) -> Result<(), String> {
        match self.router.take() {
            Some(r) => Self::stop_router(r).map(|line| info!("{line}")),
            None => Ok(()),
        }
    }

    fn counters(&self) -> Option<Counters> {
        self.router.as_ref().and_then(Router::counters)
    }

    fn health(&self) -> Result<(), String> {
        match &self.router {
            Some(r) => r.check().map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    fn collect(&mut self) {
        if let Some(r) = &mut self.router {
            r.collect_stamp();
        }
    }

    fn stamp_reports(&mut self, take_records: TakeRecords<'_>) -> Vec<InlineReport> {
        match &mut self.router {
            Some(r) => {
                r.collect_stamp();
                r.stamp_reports(take_records)
            }
            None => Vec::new(),
        }
    }

    fn stop(mut self: Box<Self>) -> Result<String, String> {
        match self.router.take() {
            Some(r) => Self::stop_router(r),
            None => Ok("engine was not running (no ports)".to_string()),
        }
    }
}

/// The kernel's own seg6 ([`crate::kernel::KernelDataplane`]), started by
/// the first applied configuration.
#[derive(Default)]
pub struct KernelBackend {
    kernel: Option<crate::kernel::KernelDataplane>,
}

impl KernelBackend {
    /// Not started yet.
    pub fn new() -> KernelBackend {
        KernelBackend::default()
    }
}

impl Dataplane for KernelBackend {
    fn name(&self) -> &'static str {
        "kernel"
    }

    fn refuse(&self, config: &LoadedConfig) -> Vec<String> {
        crate::kernel::KernelDataplane::check(config)
    }

    fn apply(&mut self, config: LoadedConfig) -> Result<Vec<InlineReport>, String> {
        match &mut self.kernel {
            Some(k) => {
                let summary = k.apply(&config).map_err(|e| e.to_string())?;
                info!("kernel: {summary:?}");
            }
            None => {
                self.kernel = Some(
                    crate::kernel::KernelDataplane::start(&config).map_err(|e| e.to_string())?,
                );
                info!("kernel dataplane started");
            }
        }
        Ok(Vec::new())
    }

    fn clear(&mut self) -> Result<(), String> {
        match self.kernel.take() {
            Some(k) => k.stop().map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    fn counters(&self) -> Option<Counters> {
        None
    }

    fn health(&self) -> Result<(), String> {
        Ok(())
    }

    fn stop(mut self: Box<Self>) -> Result<String, String> {
        match self.kernel.take() {
            Some(k) => k
                .stop()
                .map(|()| "kernel dataplane stopped: every route, rule and address srv6d installed is removed".to_string())
                .map_err(|e| e.to_string()),
            None => Ok("kernel dataplane was not started".to_string()),
        }
    }
}

/// What is left after [`super::Agent::stop_dataplane`]: refuses changes.
pub struct Stopped;

impl Dataplane for Stopped {
    fn name(&self) -> &'static str {
        "stopped"
    }

    fn refuse(&self, _config: &LoadedConfig) -> Vec<String> {
        vec!["srv6d is shutting down".to_string()]
    }

    fn apply(&mut self, _config: LoadedConfig) -> Result<Vec<InlineReport>, String> {
        Err("srv6d is shutting down".to_string())
    }

    fn clear(&mut self) -> Result<(), String> {
        Ok(())
    }

    fn counters(&self) -> Option<Counters> {
        None
    }

    fn health(&self) -> Result<(), String> {
        Err("srv6d is shutting down".to_string())
    }

    fn stop(self: Box<Self>) -> Result<String, String> {
        Ok("already stopped".to_string())
    }
}
