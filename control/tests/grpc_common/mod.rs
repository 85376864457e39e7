//! Helpers of the gRPC provisioning tests (`control/tests/grpc_provision.rs`)
//! on the two-site SD-WAN of `sdwan_common`: srv6d started with no
//! configuration (only `--state`), a srv6d.v1 client that connects to an
//! edge's loopback from inside the edge's network namespace, and the
//! configuration of `sdwan_common::edge_config` as API objects.

// tonic's calls return Result<_, tonic::Status>; Status is large by tonic's design.
#![allow(clippy::result_large_err)]
// Each includer uses a different subset of this module.
#![allow(dead_code)]

use std::fs;
use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use control::proto::srv6d::v1 as pb;
use lab::Lab;
use pb::config_service_client::ConfigServiceClient;
use pb::system_service_client::SystemServiceClient;
use tonic::transport::{Channel, Endpoint};

use crate::sdwan_common::Mode;

/// srv6d's default gRPC address, on each edge's own loopback.
pub const GRPC_URL: &str = "http://127.0.0.1:50051";

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("srv6d-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A running `srv6d run --state FILE` (no --config), killed when dropped.
pub struct Daemon {
    pub ns: String,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `bin run --state state --stats-interval 0 --idle sleep extra..`
    /// in `ns`, stderr to `log`, and waits (30 s at most) until its gRPC
    /// agent listens.
    pub fn start(
        lab: &Lab,
        ns: &str,
        bin: &Path,
        state: &Path,
        log: PathBuf,
        extra: &[&str],
    ) -> Result<Daemon, String> {
        let mut cmd = lab.command(
            ns,
            [
                bin.as_os_str(),
                "run".as_ref(),
                "--state".as_ref(),
                state.as_os_str(),
                "--stats-interval".as_ref(),
                "0".as_ref(),
                "--idle".as_ref(),
                "sleep".as_ref(),
            ],
        );
        cmd.args(extra);
        let file = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(file);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut d = Daemon {
            ns: ns.to_string(),
            child,
            log,
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if d.log().contains("gRPC agent listening") {
                return Ok(d);
            }
            if let Ok(Some(status)) = d.child.try_wait() {
                return Err(format!(
                    "srv6d in {ns} exited ({status}) before listening; its log:\n{}",
                    d.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "srv6d in {ns} did not start listening; its log:\n{}",
            d.log()
        ))
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Waits until `needle` occurs at least `times` times in the log.
    pub fn wait_log(&self, needle: &str, times: usize, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().matches(needle).count() >= times {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own, not yet reaped, child's pid.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// SIGKILL, and reaps it.
    pub fn kill9(mut self) -> ExitStatus {
        self.signal(libc::SIGKILL);
        self.child.wait().expect("reap srv6d")
    }

    /// SIGTERM, then waits (30 s at most) for it to exit: its status and log.
    pub fn stop(mut self) -> Result<(ExitStatus, String), String> {
        self.signal(libc::SIGTERM);
        let start = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok((status, self.log())),
                Ok(None) => {}
                Err(e) => return Err(format!("waiting for srv6d in {}: {e}", self.ns)),
            }
            if start.elapsed() > Duration::from_secs(30) {
                return Err(format!(
                    "srv6d in {} did not stop on SIGTERM; its log:\n{}",
                    self.ns,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The srv6d.v1 API of the srv6d in one namespace. Every call runs on a
/// fresh thread that joined the namespace, with its own single-threaded
/// runtime and connection: the socket is created, and stays, inside the
/// namespace, and nothing outlives the call.
pub struct Api<'a> {
    lab: &'a Lab,
    ns: &'a str,
}

impl<'a> Api<'a> {
    pub fn new(lab: &'a Lab, ns: &'a str) -> Api<'a> {
        Api { lab, ns }
    }

    /// Runs `f` with a channel connected to the agent in the namespace.
    pub fn with_channel<F, Fut, R>(&self, f: F) -> R
    where
        F: FnOnce(Channel) -> Fut + Send,
        Fut: Future<Output = R>,
        R: Send,
    {
        let ns = self.ns;
        self.lab
            .in_ns(ns, move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime");
                rt.block_on(async move {
                    let channel = Endpoint::from_static(GRPC_URL)
                        .connect_timeout(Duration::from_secs(10))
                        // An apply that restarts the engine takes a while
                        // on a loaded machine; this only bounds a hang.
                        .timeout(Duration::from_secs(120))
                        .connect()
                        .await
                        .unwrap_or_else(|e| panic!("connect to srv6d's agent in {ns}: {e}"));
                    f(channel).await
                })
            })
            .unwrap_or_else(|e| panic!("enter {ns}: {e}"))
    }

    /// Runs `f` with a ConfigService client.
    pub fn config_call<F, Fut, R>(&self, f: F) -> R
    where
        F: FnOnce(ConfigServiceClient<Channel>) -> Fut + Send,
        Fut: Future<Output = R>,
        R: Send,
    {
        self.with_channel(|ch| f(ConfigServiceClient::new(ch)))
    }

    pub fn apply(
        &self,
        changes: Vec<pb::Change>,
        dry_run: bool,
    ) -> Result<pb::ApplyResponse, tonic::Status> {
        self.config_call(move |mut c| async move {
            c.apply(pb::ApplyRequest { changes, dry_run })
                .await
                .map(tonic::Response::into_inner)
        })
    }

    pub fn config(&self) -> pb::Config {
        self.config_call(|mut c| async move { c.get_config(pb::GetConfigRequest {}).await })
            .unwrap_or_else(|e| panic!("GetConfig in {}: {e}", self.ns))
            .into_inner()
    }

    pub fn version(&self) -> pb::GetVersionResponse {
        self.with_channel(|ch| async move {
            SystemServiceClient::new(ch)
                .get_version(pb::GetVersionRequest {})
                .await
        })
        .unwrap_or_else(|e| panic!("GetVersion in {}: {e}", self.ns))
        .into_inner()
    }
}

/// Edge `n`'s configuration ([`crate::sdwan_common::edge_config`]) as API
/// objects, every enum explicit (as GetConfig returns them).
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeObjects {
    pub router: pb::RouterSettings,
    pub vrfs: Vec<pb::Vrf>,
    pub ports: Vec<pb::Port>,
    pub sids: Vec<pb::Sid>,
    pub policies: Vec<pb::Policy>,
    pub routes: Vec<pb::Route>,
}

fn policy_mode(m: Mode) -> i32 {
    match m {
        Mode::Encap => pb::PolicyMode::Encap as i32,
        Mode::EncapRed => pb::PolicyMode::EncapRed as i32,
    }
}

pub fn port(name: &str, role: pb::PortRole, vrf: &str) -> pb::Port {
    pb::Port {
        name: name.into(),
        role: role as i32,
        vrf: vrf.into(),
        queues: 0,
        xdp_mode: pb::XdpMode::Auto as i32,
    }
}

pub fn sid(sid: &str, behavior: pb::Behavior, vrf: &str) -> pb::Sid {
    pb::Sid {
        sid: sid.into(),
        behavior: behavior as i32,
        vrf: vrf.into(),
        port: String::new(),
        nexthop: String::new(),
    }
}

pub fn policy(name: &str, mode: Mode, segment: &str) -> pb::Policy {
    pb::Policy {
        name: name.into(),
        mode: policy_mode(mode),
        segments: vec![segment.into()],
        source: String::new(),
        flow_label: pb::FlowLabel::Copy as i32,
        ipv4_hop_limit: 0,
    }
}

pub fn route_via_policy(vrf: &str, prefix: &str, policy: &str) -> pb::Route {
    pb::Route {
        vrf: vrf.into(),
        prefix: prefix.into(),
        policy: policy.into(),
        ..Default::default()
    }
}

pub fn route_via(vrf: &str, prefix: &str, nexthop: &str, port: &str) -> pb::Route {
    pb::Route {
        vrf: vrf.into(),
        prefix: prefix.into(),
        nexthop: nexthop.into(),
        port: port.into(),
        ..Default::default()
    }
}

/// Edge `n`'s whole configuration: the same content as
/// `edge_config(n, blue, red)`.
pub fn edge_objects(n: u8, blue: Mode, red: Mode) -> EdgeObjects {
    let r = 3 - n;
    use pb::Behavior::{EndDt4, EndDt6};
    use pb::PortRole::{Lan, Wan};
    EdgeObjects {
        router: pb::RouterSettings {
            source: format!("fc00:0:{n}::1"),
            addresses: Vec::new(),
            stamp_port: 0,
            stamp_mode: pb::StampReflectorMode::Stateless as i32,
            stamp_unknown_ssid: pb::StampUnknownSsid::Reflect as i32,
            stamp_rate_limit: 0,
            stamp_timestamp_format: pb::TimestampFormat::Ntp as i32,
            tcp_mss_clamp: String::new(),
        },
        vrfs: vec![
            pb::Vrf {
                name: "blue".into(),
                id: 100,
            },
            pb::Vrf {
                name: "red".into(),
                id: 200,
            },
        ],
        ports: vec![
            port("wan0", Wan, ""),
            port("lan-blue", Lan, "blue"),
            port("lan-red", Lan, "red"),
        ],
        sids: vec![
            sid(&format!("fc00:0:{n}::100"), EndDt4, "blue"),
            sid(&format!("fc00:0:{n}::101"), EndDt6, "blue"),
            sid(&format!("fc00:0:{n}::200"), EndDt4, "red"),
        ],
        policies: vec![
            policy("blue-v4", blue, &format!("fc00:0:{r}::100")),
            policy("blue-v6", blue, &format!("fc00:0:{r}::101")),
            policy("red-v4", red, &format!("fc00:0:{r}::200")),
        ],
        routes: vec![
            route_via(
                "underlay",
                &format!("fc00:0:{r}::/48"),
                &format!("2001:db8:f{n}::2"),
                "wan0",
            ),
            route_via("blue", &format!("10.{n}.0.0/24"), "on-link", "lan-blue"),
            route_via("blue", &format!("2001:db8:{n}::/64"), "on-link", "lan-blue"),
            route_via_policy("blue", &format!("10.{r}.0.0/24"), "blue-v4"),
            route_via_policy("blue", &format!("2001:db8:{r}::/64"), "blue-v6"),
            route_via("red", &format!("10.{n}.0.0/24"), "on-link", "lan-red"),
            route_via_policy("red", &format!("10.{r}.0.0/24"), "red-v4"),
        ],
    }
}

impl EdgeObjects {
    /// Only what does not belong to VRF red.
    pub fn without_red(&self) -> EdgeObjects {
        EdgeObjects {
            router: self.router.clone(),
            vrfs: self
                .vrfs
                .iter()
                .filter(|v| v.name != "red")
                .cloned()
                .collect(),
            ports: self
                .ports
                .iter()
                .filter(|p| p.vrf != "red")
                .cloned()
                .collect(),
            sids: self
                .sids
                .iter()
                .filter(|s| s.vrf != "red")
                .cloned()
                .collect(),
            policies: self
                .policies
                .iter()
                .filter(|p| !p.name.starts_with("red"))
                .cloned()
                .collect(),
            routes: self
                .routes
                .iter()
                .filter(|r| r.vrf != "red")
                .cloned()
                .collect(),
        }
    }

    /// Only what belongs to VRF red (no router settings).
    pub fn red_changes(&self) -> Vec<pb::Change> {
        let mut c = Vec::new();
        c.extend(self.vrfs.iter().filter(|v| v.name == "red").map(put_vrf));
        c.extend(self.ports.iter().filter(|p| p.vrf == "red").map(put_port));
        c.extend(self.sids.iter().filter(|s| s.vrf == "red").map(put_sid));
        c.extend(
            self.policies
                .iter()
                .filter(|p| p.name.starts_with("red"))
                .map(put_policy),
        );
        c.extend(self.routes.iter().filter(|r| r.vrf == "red").map(put_route));
        c
    }

    /// Everything as one batch, in an order where each object's
    /// references come first (not needed by a batch, but readable).
    pub fn changes(&self) -> Vec<pb::Change> {
        let mut c = vec![op(pb::change::Op::SetRouter(self.router.clone()))];
        c.extend(self.vrfs.iter().map(put_vrf));
        c.extend(self.ports.iter().map(put_port));
        c.extend(self.sids.iter().map(put_sid));
        c.extend(self.policies.iter().map(put_policy));
        c.extend(self.routes.iter().map(put_route));
        c
    }

    /// Whether `config` holds exactly these objects (in this order).
    pub fn assert_in(&self, config: &pb::Config, what: &str) {
        assert_eq!(config.router.as_ref(), Some(&self.router), "{what}: router");
        assert_eq!(config.vrfs, self.vrfs, "{what}: vrfs");
        assert_eq!(config.ports, self.ports, "{what}: ports");
        assert_eq!(config.sids, self.sids, "{what}: sids");
        assert_eq!(config.policies, self.policies, "{what}: policies");
        assert_eq!(config.routes, self.routes, "{what}: routes");
        assert!(config.stamp_senders.is_empty(), "{what}: stamp senders");
        assert!(
            config.stamp_reflector_sessions.is_empty(),
            "{what}: stamp sessions"
        );
    }
}

pub fn op(op: pb::change::Op) -> pb::Change {
    pb::Change { op: Some(op) }
}
pub fn put_vrf(v: &pb::Vrf) -> pb::Change {
    op(pb::change::Op::PutVrf(v.clone()))
}
pub fn put_port(p: &pb::Port) -> pb::Change {
    op(pb::change::Op::PutPort(p.clone()))
}
pub fn put_sid(s: &pb::Sid) -> pb::Change {
    op(pb::change::Op::PutSid(s.clone()))
}
pub fn put_policy(p: &pb::Policy) -> pb::Change {
    op(pb::change::Op::PutPolicy(p.clone()))
}
pub fn put_route(r: &pb::Route) -> pb::Change {
    op(pb::change::Op::PutRoute(r.clone()))
}
pub fn delete_route(vrf: &str, prefix: &str) -> pb::Change {
    op(pb::change::Op::DeleteRoute(pb::RouteKey {
        vrf: vrf.into(),
        prefix: prefix.into(),
    }))
}

/// A configuration file's text, parsed and written again: two texts with
/// the same content give the same string.
pub fn canonical_toml(text: &str) -> String {
    let doc: control::config::ConfigFile =
        toml::from_str(text).unwrap_or_else(|e| panic!("not a configuration: {e}\n{text}"));
    toml::to_string(&doc).expect("serialise a configuration")
}
