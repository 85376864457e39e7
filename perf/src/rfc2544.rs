//! `srv6bench` (no subcommand): the RFC 2544 run. Builds the testbed,
//! then for every repetition, scenario and SUT (interleaved, so slow drift
//! of a shared machine spreads over all of them): starts the SUT,
//! configures it over gRPC, runs the rate search ([`crate::search`]) and,
//! in the last repetition, latency trials at 50 % and 90 % of the PDR
//! found so far; then writes JSON, CSV, plots and the summary table.
//!
//! ```text
//!   gen: bg0 ──── bl0 [sut: srv6d (AF_XDP) | Linux seg6 or forwarding | l2fwd] bw0 ──── bs0 :sink
//! ```
//!
//! The generator (XDP live frames, [`crate::livegen`], or AF_PACKET
//! sendmmsg with qdisc bypass; both paced) and the receiver (an AF_XDP
//! socket: every frame checked against the expected output,
//! [`crate::templates::Matcher`]) share the generator core, the receiver's
//! NAPI thread first (SCHED_FIFO), so the receiver never drops for lack of
//! CPU: the generator slows down instead. The SUT's receive NAPI thread and
//! srv6d's worker (or l2fwd) are pinned to the SUT core.
//!
//! What the machine offers is found before the first trial, by trying it:
//! the kernel SUT is the kernel's seg6 where the host has it, else its
//! plain forwarding of the same customer packets
//! ([`crate::kernel_baseline`]); the live generator is used where the
//! kernel runs live frames, else the run falls back to AF_PACKET on its
//! own. Both choices are logged and named in every output.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lab::{Lab, Topology, VethEnd};

use crate::io;
use crate::kernel_baseline::KernelBaseline;
use crate::link_stat;
use crate::model::{Cell, Latency, Report, RunInfo, Stat, Status, Trial, TrialKind};
use crate::search::{self, Outcome, Params};
use crate::sut::{self, Counters, Dataplane, Srv6d};
use crate::sys;
use crate::templates::{
    self, sid, Matcher, Output, Packet, Template, DT4_SID, DT6_SID, END_SID, FAR_REFLECTOR,
    GEN_MAC, SENDER_ADDR, SINK_MAC, SUT_MAC, SUT_SRC, WAN_MAC,
};

/// Set by SIGINT / SIGTERM during a run: the run stops at the next trial,
/// stops the SUT and removes the testbed (nothing is left behind).
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: sigaction is plain data (all-zero is a valid start); the
        // handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// STAMP shares of the offered frames, in percent (the seed paper's sweep).
pub const FRACTIONS: [f64; 10] = [0.0, 0.01, 0.05, 0.1, 1.0, 5.0, 10.0, 20.0, 50.0, 100.0];

#[derive(Debug, Clone)]
pub struct Opts {
    pub quick: bool,
    pub trial_seconds: f64,
    pub warmup_seconds: f64,
    pub repetitions: usize,
    pub drop_ratio: f64,
    pub resolution: f64,
    pub max_trials: usize,
    /// Re-runs of a failed search trial before its rate counts as failing.
    pub retests: usize,
    /// The generator asked for (the run falls back from `Live` to
    /// `Packet` where the kernel refuses live frames).
    pub generator: Generator,
    pub sut_core: usize,
    pub gen_core: usize,
    pub srv6d: PathBuf,
    pub out: PathBuf,
    /// Data frame size without FCS (0: the smallest of each packet).
    pub frame_size: usize,
    pub flows: u16,
    pub fractions: Vec<f64>,
    /// Only scenarios whose name contains one of these (empty: all).
    pub only: Vec<String>,
    /// Only these SUTs ("kernel", "srv6d", "l2fwd"; empty: all).
    pub suts: Vec<String>,
    pub latency: bool,
    pub probes_per_s: u64,
    /// srv6d's `--idle` (what its worker does when it finds no packet).
    pub srv6d_idle: String,
    pub command: String,
}

/// The traffic generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generator {
    /// XDP live frames ([`crate::livegen`]): xdp_frames to the SUT.
    Live,
    /// AF_PACKET sendmmsg ([`io::generate_frames`]): socket buffers.
    Packet,
}

impl Generator {
    pub fn name(self) -> &'static str {
        match self {
            Generator::Live => "live",
            Generator::Packet => "packet",
        }
    }
}

/// Who is under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SutKind {
    Kernel,
    Srv6d,
    L2fwd,
}

impl SutKind {
    pub fn name(self) -> &'static str {
        match self {
            SutKind::Kernel => "kernel",
            SutKind::Srv6d => "srv6d",
            SutKind::L2fwd => "l2fwd",
        }
    }
}

/// STAMP in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// Test packets to the SUT's reflector; its replies go to the receiver.
    Reflector,
    /// Replies to the SUT's Session-Sender; its collector consumes them
    /// (counted delivered from the SUT's counters).
    Collector,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub data: Packet,
    pub output: Output,
    pub stamp: Option<Stamp>,
    /// srv6d's configuration (TOML), applied over gRPC.
    pub config: String,
    /// Why the kernel's seg6 cannot run it (None: it can, same
    /// configuration).
    pub kernel_na: Option<String>,
    /// The configuration of the kernel-ipv6-fwd baseline (plain routes
    /// that take the customer packets to the receiver unencapsulated), or
    /// why that baseline cannot run the scenario.
    pub kernel_fwd: Result<String, String>,
    pub suts: Vec<SutKind>,
}

/// What one SUT runs for a scenario.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// The configuration applied over gRPC (empty for l2fwd).
    pub config: &'a str,
    /// What the receiver expects of the data packets.
    pub output: Output,
}

impl Scenario {
    /// What `kind` runs on a host whose kernel baseline is `baseline`, or
    /// why it cannot run this scenario.
    pub fn plan(&self, kind: SutKind, baseline: &KernelBaseline) -> Result<Plan<'_>, String> {
        let own = Plan {
            config: &self.config,
            output: self.output,
        };
        match (kind, baseline) {
            (SutKind::Kernel, KernelBaseline::Ipv6Fwd { .. }) => match &self.kernel_fwd {
                Ok(config) => Ok(Plan {
                    config,
                    output: Output::Forward,
                }),
                Err(why) => Err(why.clone()),
            },
            (SutKind::Kernel, KernelBaseline::Seg6) => match &self.kernel_na {
                Some(why) => Err(why.clone()),
                None => Ok(own),
            },
            _ => Ok(own),
        }
    }
}

fn port(name: &str, vrf: Option<&str>) -> String {
    match vrf {
        Some(v) => format!("[[port]]\nname = \"{name}\"\nrole = \"lan\"\nvrf = \"{v}\"\n\n"),
        None => format!("[[port]]\nname = \"{name}\"\nrole = \"wan\"\n\n"),
    }
}

const VRF: &str = "[[vrf]]\nname = \"blue\"\nid = 10\n\n";
const TO_SINK: &str = "[[route]]\nvrf = \"underlay\"\nprefix = \"fc00:b::/48\"\nnexthop = \"fc00:12::2\"\nport = \"bw0\"\n\n";

/// The `[router]` table. The generator's STAMP test packets all come from
/// one sender address, which the reflector's per-source rate limit (on by
/// default, 1000/s) would cap: the benchmark measures reflection capacity,
/// so the limit is set as high as it goes.
fn router(addresses: &[std::net::Ipv6Addr]) -> String {
    let a: Vec<String> = addresses.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[router]\nsource = \"{SUT_SRC}\"\naddresses = [{}]\nstamp_rate_limit = {}\n\n",
        a.join(", "),
        u32::MAX
    )
}

fn route_v(vrf: &str, prefix: &str, via: &str) -> String {
    format!("[[route]]\nvrf = \"{vrf}\"\nprefix = \"{prefix}\"\nnexthop = \"{via}\"\nport = \"bw0\"\n\n")
}

fn encap_config(sids: usize, reduced: bool, v4: bool) -> String {
    let segs: Vec<String> = (0..sids).map(|i| format!("\"{}\"", sid(i))).collect();
    format!(
        "{}{}{VRF}{}[[policy]]\nname = \"p\"\nmode = \"{}\"\nsegments = [{}]\nflow_label = \"hash\"\n\n\
         [[route]]\nvrf = \"blue\"\nprefix = \"{}\"\npolicy = \"p\"\n\n{TO_SINK}",
        port("bl0", Some("blue")),
        port("bw0", None),
        router(&[]),
        if reduced { "encap.red" } else { "encap" },
        segs.join(", "),
        if v4 { "198.18.2.0/24" } else { "2001:db8:2::/64" },
    )
}

fn end_config(addresses: &[std::net::Ipv6Addr], extra: &str) -> String {
    format!(
        "{}{}{}[[sid]]\nsid = \"{END_SID}\"\nbehavior = \"end\"\n\n{TO_SINK}{extra}",
        port("bl0", None),
        port("bw0", None),
        router(addresses),
    )
}

/// The kernel-ipv6-fwd baseline's configuration: both ports in VRF blue,
/// the customer prefix (IPv6 or IPv4) routed to the receiver.
fn fwd_config(v4: bool) -> String {
    let route = if v4 {
        route_v("blue", "198.18.2.0/24", "198.18.12.2")
    } else {
        route_v("blue", "2001:db8:2::/64", "fc00:12::2")
    };
    format!(
        "{}{}{VRF}{}{route}",
        port("bl0", Some("blue")),
        port("bw0", Some("blue")),
        router(&[]),
    )
}

fn dt_config(v4: bool) -> String {
    let (sid, behavior, route) = if v4 {
        (
            DT4_SID,
            "end.dt4",
            route_v("blue", "198.18.2.0/24", "198.18.12.2"),
        )
    } else {
        (
            DT6_SID,
            "end.dt6",
            route_v("blue", "2001:db8:2::/64", "fc00:12::2"),
        )
    };
    format!(
        "{}{}{VRF}{}[[sid]]\nsid = \"{sid}\"\nbehavior = \"{behavior}\"\nvrf = \"blue\"\n\n{route}",
        port("bl0", None),
        port("bw0", Some("blue")),
        router(&[]),
    )
}

const NO_VRF: &str = "the kernel's End.DT4 needs a VRF device, which srv6d's kernel backend \
     does not create (it refuses End.DT4)";
const NO_STAMP: &str = "Linux has no STAMP reflector or collector in its dataplane";
/// Why kernel-ipv6-fwd cannot run an SRv6 behaviour (`what`).
fn no_seg6(what: &str) -> String {
    format!(
        "{what} is an SRv6 behaviour: the kernel runs it only with seg6local \
         (CONFIG_IPV6_SEG6_LWTUNNEL), which this kernel lacks, and plain forwarding (the \
         kernel-ipv6-fwd baseline) does not do it"
    )
}

/// Every scenario of the full run, in run order.
pub fn scenarios() -> Vec<Scenario> {
    let both = vec![SutKind::Kernel, SutKind::Srv6d];
    let mut v = vec![Scenario {
        name: "ipv6-fwd".into(),
        description: "IPv6 forwarding between two ports of one VRF (baseline)".into(),
        data: Packet::Ipv6,
        output: Output::Forward,
        stamp: None,
        config: format!(
            "{}{}{VRF}{}{}",
            port("bl0", Some("blue")),
            port("bw0", Some("blue")),
            router(&[]),
            route_v("blue", "2001:db8:2::/64", "fc00:12::2")
        ),
        kernel_na: None,
        kernel_fwd: Ok(fwd_config(false)),
        suts: both.clone(),
    }];
    for (v4, fam) in [(false, "v6"), (true, "v4")] {
        for sids in [1, 2, 4] {
            v.push(Scenario {
                name: format!("h-encaps-{fam}-{sids}sid"),
                description: format!(
                    "H.Encaps of IP{fam} into SRv6, {sids} SID{}",
                    if sids > 1 { "s" } else { "" }
                ),
                data: if v4 { Packet::Ipv4 } else { Packet::Ipv6 },
                output: Output::Encap {
                    sids,
                    reduced: false,
                },
                stamp: None,
                config: encap_config(sids, false, v4),
                kernel_na: None,
                kernel_fwd: Ok(fwd_config(v4)),
                suts: both.clone(),
            });
        }
    }
    v.push(Scenario {
        name: "h-encaps-red-v6-2sid".into(),
        description: "H.Encaps.Red of IPv6, 2 SIDs (one SRH entry)".into(),
        data: Packet::Ipv6,
        output: Output::Encap {
            sids: 2,
            reduced: true,
        },
        stamp: None,
        config: encap_config(2, true, false),
        kernel_na: None,
        kernel_fwd: Ok(fwd_config(false)),
        suts: both.clone(),
    });
    v.push(Scenario {
        name: "end".into(),
        description: "End (SRH with 2 SIDs, Segments Left 1 → 0)".into(),
        data: Packet::End,
        output: Output::End,
        stamp: None,
        config: end_config(&[], ""),
        kernel_na: None,
        kernel_fwd: Err(no_seg6("End")),
        suts: both.clone(),
    });
    for v4 in [false, true] {
        v.push(Scenario {
            name: if v4 { "end-dt4" } else { "end-dt6" }.into(),
            description: format!(
                "End.{} (decapsulate, route the inner packet in a VRF)",
                if v4 { "DT4" } else { "DT6" }
            ),
            data: if v4 { Packet::EndDt4 } else { Packet::EndDt6 },
            output: Output::Decap,
            stamp: None,
            config: dt_config(v4),
            kernel_na: v4.then(|| NO_VRF.to_string()),
            kernel_fwd: Err(no_seg6(if v4 { "End.DT4" } else { "End.DT6" })),
            suts: both.clone(),
        });
    }
    v.push(Scenario {
        name: "stamp-reflector".into(),
        description: "End transit traffic with STAMP test packets to the SUT's reflector mixed in"
            .into(),
        data: Packet::End,
        output: Output::End,
        stamp: Some(Stamp::Reflector),
        config: end_config(&[crate::frames::STAMP_REFLECTOR], ""),
        kernel_na: Some(NO_STAMP.into()),
        kernel_fwd: Err(NO_STAMP.into()),
        suts: both.clone(),
    });
    let sender = format!(
        "[[stamp_sender]]\nname = \"bench\"\nssid = {}\nsource = \"{SENDER_ADDR}\"\nsegments = [\"{FAR_REFLECTOR}\"]\ninterval = \"1s\"\n\n",
        templates::COLLECTOR_SSID
    );
    v.push(Scenario {
        name: "stamp-collector".into(),
        description: "End transit traffic with STAMP replies to the SUT's Session-Sender mixed in (consumed: counted from the SUT's counters)".into(),
        data: Packet::End,
        output: Output::End,
        stamp: Some(Stamp::Collector),
        config: end_config(&[SENDER_ADDR], &sender),
        kernel_na: Some(NO_STAMP.into()),
        kernel_fwd: Err(NO_STAMP.into()),
        suts: both,
    });
    v.push(Scenario {
        name: "l2fwd".into(),
        description: "AF_XDP l2fwd: rx → tx with the Ethernet header rewritten, no processing (the machine's practical ceiling)".into(),
        data: Packet::Ipv6,
        output: Output::Forward,
        stamp: None,
        config: String::new(),
        kernel_na: None,
        kernel_fwd: Err("not a kernel scenario".into()),
        suts: vec![SutKind::L2fwd],
    });
    v
}

/// The scenarios of `--quick`: a few of each kind.
pub fn quick_scenarios() -> Vec<Scenario> {
    scenarios()
        .into_iter()
        .filter(|s| {
            matches!(
                s.name.as_str(),
                "ipv6-fwd"
                    | "h-encaps-v6-2sid"
                    | "end-dt4"
                    | "stamp-reflector"
                    | "stamp-collector"
                    | "l2fwd"
            )
        })
        .collect()
}

fn topology() -> Result<Lab, String> {
    Topology::new()
        .prefix("s6b2544")
        .namespaces(&["gen", "sut", "sink"])
        .veth(
            VethEnd::new("gen", "bg0").mac(GEN_MAC).mtu(2000),
            VethEnd::new("sut", "bl0").mac(SUT_MAC).mtu(2000),
        )
        .veth(
            VethEnd::new("sut", "bw0").mac(WAN_MAC).mtu(2000),
            VethEnd::new("sink", "bs0").mac(SINK_MAC).mtu(2000),
        )
        .addr("gen", "bg0", "2001:db8:1::1/64")
        .addr("sut", "bl0", "2001:db8:1::2/64")
        .addr("sut", "bw0", "fc00:12::1/64")
        .addr("sut", "bw0", "198.18.12.1/24")
        .addr("sink", "bs0", "fc00:12::2/64")
        .forwarding("sut")
        .sysctl("sut", "net.ipv6.conf.all.seg6_enabled", "1")
        .sysctl("sut", "net.ipv6.conf.bl0.seg6_enabled", "1")
        .neigh("sut", "bw0", "fc00:12::2", SINK_MAC)
        .neigh("sut", "bw0", "198.18.12.2", SINK_MAC)
        .neigh("sut", "bl0", "2001:db8:1::1", GEN_MAC)
        .build()
        .map_err(|e| format!("build the testbed: {e}"))
}

/// The process under test while a cell runs.
enum Running {
    /// srv6d with its engine (`afxdp`) or the kernel's seg6 (`kernel`; with
    /// the live generator, an XDP pass program on its receive veth).
    Srv6d(Srv6d, Dataplane, Option<crate::livegen::PassProgram>),
    L2fwd(std::process::Child, PathBuf),
}

impl Running {
    fn stop(self) -> Result<(), String> {
        match self {
            Running::Srv6d(s, _, pass) => {
                let r = s.stop();
                // Detached only now: the SUT is gone, nothing more to take.
                drop(pass);
                r
            }
            Running::L2fwd(mut c, log) => sut::stop_child(&mut c, "l2fwd", &log),
        }
    }
}

struct Bench<'a> {
    lab: Lab,
    o: &'a Opts,
    dir: PathBuf,
    /// The generator this run uses (the one asked for, or the AF_PACKET
    /// one where the kernel refuses live frames).
    generator: Generator,
}

/// One trial's raw outcome.
struct Raw {
    gen: io::GenResult,
    sink: io::SinkResult,
    /// SUT counters over the trial (srv6d only).
    sut: Option<Counters>,
    /// Frames the SUT's egress veth and the sink's ingress dropped.
    egress_drops: u64,
}

impl Bench<'_> {
    fn pin(&self, dev_core: &[(&str, usize, bool)]) -> Result<(), String> {
        for &(dev, core, fifo) in dev_core {
            let tids = crate::pin_napi(dev, core)?;
            for t in tids {
                if fifo {
                    sys::set_fifo(t, 50).map_err(|e| format!("SCHED_FIFO napi {t}: {e}"))?;
                } else {
                    let _ = sys::set_nice(t, -20);
                }
            }
        }
        Ok(())
    }

    /// Threaded NAPI (re)enabled on the SUT's receive veth and pinned.
    fn place(&self) -> Result<(), String> {
        for v in ["0", "1"] {
            self.lab
                .exec_ok(
                    "sut",
                    [
                        "sh",
                        "-c",
                        &format!("echo {v} > /sys/class/net/bl0/threaded"),
                    ],
                )
                .map_err(|e| format!("threaded NAPI on bl0: {e}"))?;
        }
        self.pin(&[
            ("bl0", self.o.sut_core, false),
            ("bs0", self.o.gen_core, true),
        ])
    }

    fn start(&self, plan: &Plan, kind: SutKind, tag: &str) -> Result<Running, String> {
        let r = match kind {
            SutKind::Kernel | SutKind::Srv6d => {
                let dp = if kind == SutKind::Kernel {
                    Dataplane::Kernel
                } else {
                    Dataplane::Afxdp
                };
                // The kernel dataplane's agent does no packet work: keep it
                // off the SUT core.
                let core = if kind == SutKind::Kernel {
                    self.o.gen_core
                } else {
                    self.o.sut_core
                };
                let d = Srv6d::start(
                    &self.lab,
                    "sut",
                    &self.o.srv6d,
                    dp,
                    plan.config,
                    &self.dir,
                    tag,
                    core,
                    &self.o.srv6d_idle,
                )?;
                for t in d.workers() {
                    let _ = sys::set_nice(t, -20);
                }
                let pass = if dp == Dataplane::Kernel && self.generator == Generator::Live {
                    let p = self
                        .lab
                        .in_ns("sut", || crate::livegen::attach_pass("bl0"))
                        .map_err(|e| format!("enter sut: {e}"))?;
                    Some(p.map_err(|e| e.to_string())?)
                } else {
                    None
                };
                Running::Srv6d(d, dp, pass)
            }
            SutKind::L2fwd => {
                let log = self.dir.join(format!("{tag}.log"));
                let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
                let mut cmd = self.lab.command("sut", [exe.as_os_str()]);
                cmd.args(["l2fwd", "--rx", "bl0", "--tx", "bw0"]);
                cmd.args([
                    "--dst-mac",
                    &mac_str(SINK_MAC),
                    "--src-mac",
                    &mac_str(WAN_MAC),
                ]);
                cmd.args(["--core", &self.o.sut_core.to_string()]);
                // Idles like srv6d does (`sleep` has no l2fwd equivalent).
                let idle = if self.o.srv6d_idle == "spin" {
                    "spin"
                } else {
                    "yield"
                };
                cmd.args(["--idle", idle]);
                let errf =
                    std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
                cmd.stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(errf);
                let mut child = cmd.spawn().map_err(|e| format!("spawn l2fwd: {e}"))?;
                let t0 = Instant::now();
                loop {
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    if text.contains("l2fwd running") {
                        break;
                    }
                    if let Ok(Some(st)) = child.try_wait() {
                        return Err(format!("l2fwd exited ({st}): {text}"));
                    }
                    if t0.elapsed() > Duration::from_secs(10) {
                        let _ = child.kill();
                        return Err(format!("l2fwd did not start: {text}"));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                if let Some(pid) = Some(child.id()) {
                    for (t, _) in sys::threads(pid) {
                        let _ = sys::set_nice(t, -20);
                    }
                }
                Running::L2fwd(child, log)
            }
        };
        // Let XDP attach settle, then place the SUT's NAPI thread.
        std::thread::sleep(Duration::from_millis(200));
        self.place()?;
        Ok(r)
    }

    /// One trial: `rate` frames/s (None: as fast as possible) for
    /// `seconds`, with `stamp_ppm` parts per million of STAMP frames.
    #[allow(clippy::too_many_arguments)]
    fn trial(
        &self,
        s: &Scenario,
        plan: &Plan,
        running: &Running,
        rate: Option<f64>,
        seconds: f64,
        stamp_ppm: u64,
        probes_per_s: u64,
    ) -> Result<Raw, String> {
        if INTERRUPTED.load(Ordering::Relaxed) {
            return Err("interrupted".into());
        }
        let data = Template::new(s.data, self.o.frame_size);
        let stamp_t = s.stamp.map(|k| {
            Template::new(
                match k {
                    Stamp::Reflector => Packet::StampTest,
                    Stamp::Collector => Packet::StampReply,
                },
                0,
            )
        });
        let matcher = Matcher {
            patterns: vec![templates::expected(s.data, self.o.frame_size, plan.output)],
            stamp: s.stamp == Some(Stamp::Reflector) && stamp_ppm > 0,
        };
        let srv6d = match running {
            Running::Srv6d(d, Dataplane::Afxdp, _) => Some(d),
            _ => None,
        };
        let before = match srv6d {
            Some(d) => Some(d.counters(&self.lab)?),
            None => None,
        };
        let drops0 = link_stat(&self.lab, "sut", "bw0", "tx_dropped")
            + link_stat(&self.lab, "sink", "bs0", "rx_dropped");
        let gen_core = self.o.gen_core;
        let flows = u64::from(self.o.flows.max(1));
        let max_len = data
            .frame
            .len()
            .max(stamp_t.as_ref().map_or(0, |t| t.frame.len()));
        let receive = |ready: &AtomicBool, stop: &AtomicBool| {
            self.lab
                .in_ns("sink", || {
                    let _ = sys::pin_current(gen_core);
                    let _ = sys::set_fifo(0, 40);
                    io::xsk_sink("bs0", &matcher, ready, stop)
                })
                .map_err(|e| format!("enter sink: {e}"))?
                .map_err(|e| e.to_string())
        };
        let send = || {
            // Attaching the sink's XDP program may re-create its NAPI thread.
            let _ = self.pin(&[("bs0", gen_core, true)]);
            let init = vec![0u8; max_len];
            self.lab
                .in_ns("gen", || {
                    let _ = sys::pin_current(gen_core);
                    let _ = sys::set_nice(0, -20);
                    match self.generator {
                        Generator::Live => crate::livegen::generate_live(
                            "bg0",
                            &data,
                            stamp_t.as_ref(),
                            flows,
                            stamp_ppm,
                            seconds,
                            rate.unwrap_or(0.0),
                            probes_per_s,
                        )
                        .map_err(|e| e.to_string()),
                        Generator::Packet => io::generate_frames(
                            "bg0",
                            &init,
                            |buf, seq, ts| {
                                let is_stamp = stamp_ppm >= 1_000_000
                                    || stamp_ppm > 0
                                        && (seq + 1) * stamp_ppm / 1_000_000
                                            > seq * stamp_ppm / 1_000_000;
                                match (&stamp_t, is_stamp) {
                                    (Some(t), true) => t.write(buf, seq, 0, 0),
                                    _ => data.write(buf, seq, (seq % flows) as u16, ts),
                                }
                            },
                            seconds,
                            rate.unwrap_or(0.0),
                            probes_per_s,
                        )
                        .map_err(|e| e.to_string()),
                    }
                })
                .map_err(|e| format!("enter gen: {e}"))?
        };
        // Frames in flight (NAPI and srv6d's rings) arrive well within
        // 100 ms; srv6d's, until its tx counter stops moving (a worker
        // starved by other work on the machine may still be sending).
        let settle = || {
            std::thread::sleep(Duration::from_millis(100));
            let Some(d) = srv6d else { return };
            let t0 = Instant::now();
            let mut last = d.counters(&self.lab).ok().map(|c| c.tx);
            while t0.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(50));
                let now = d.counters(&self.lab).ok().map(|c| c.tx);
                if now == last {
                    break;
                }
                last = now;
            }
        };
        let (gen, sink) = io::send_and_receive(receive, send, Duration::from_secs(5), settle)?;
        let drops1 = link_stat(&self.lab, "sut", "bw0", "tx_dropped")
            + link_stat(&self.lab, "sink", "bs0", "rx_dropped");
        let sut = match (srv6d, before) {
            (Some(d), Some(b)) => Some(d.counters(&self.lab)?.since(&b)),
            _ => None,
        };
        Ok(Raw {
            gen,
            sink,
            sut,
            egress_drops: drops1.saturating_sub(drops0),
        })
    }

    /// Runs the search for one cell's repetition; returns the search's
    /// result, the MRR trial's counter reconciliation and the trials'
    /// receiver "other" samples.
    fn search_cell(
        &self,
        s: &Scenario,
        plan: &Plan,
        running: &Running,
        stamp_ppm: u64,
        rep: usize,
        progress: &dyn Fn(&str),
    ) -> Result<(search::Found, Option<i64>), String> {
        let p = Params {
            drop_ratio: self.o.drop_ratio,
            resolution: self.o.resolution,
            max_trials: self.o.max_trials,
            retests: self.o.retests,
        };
        let mut unaccounted = None;
        let found = search::search(&p, rep, self.o.warmup_seconds > 0.0, |kind, rate| {
            let secs = if kind == TrialKind::Warmup {
                self.o.warmup_seconds
            } else {
                self.o.trial_seconds
            };
            progress(&match rate {
                Some(r) => format!("{} trial at {:.0} pps", kind.name(), r),
                None => format!("{} trial at full speed", kind.name()),
            });
            let raw = self.trial(s, plan, running, rate, secs, stamp_ppm, 0)?;
            let consumed = match (s.stamp, raw.sut) {
                (Some(Stamp::Collector), Some(c)) => c.stamp_replies,
                _ => 0,
            };
            if kind == TrialKind::Mrr {
                if let Some(c) = raw.sut {
                    // Everything srv6d sent reached the receiver (intact or
                    // not) or was dropped on the way: 0 when they agree.
                    unaccounted = Some(
                        c.tx as i64
                            - raw.sink.intact as i64
                            - raw.sink.other as i64
                            - raw.egress_drops as i64,
                    );
                }
            }
            Ok(Outcome {
                offered: raw.gen.offered,
                offered_pps: raw.gen.offered as f64 / raw.gen.elapsed.max(1e-9),
                delivered: raw.sink.intact + consumed,
                seconds: raw.gen.elapsed,
            })
        })?;
        Ok((found, unaccounted))
    }

    #[allow(clippy::too_many_arguments)]
    fn latency(
        &self,
        s: &Scenario,
        plan: &Plan,
        running: &Running,
        pdr: f64,
        pct: f64,
        stamp_ppm: u64,
    ) -> Result<(Latency, Trial), String> {
        let rate = pdr * pct / 100.0;
        let raw = self.trial(
            s,
            plan,
            running,
            Some(rate),
            self.o.trial_seconds,
            stamp_ppm,
            self.o.probes_per_s,
        )?;
        let us = |q: f64| {
            raw.sink
                .latency
                .as_ref()
                .map_or(f64::NAN, |h| h.value_at_quantile(q) as f64 / 1000.0)
        };
        let lat = Latency {
            pct_of_pdr: pct,
            offered_pps: raw.gen.offered as f64 / raw.gen.elapsed.max(1e-9),
            probes: raw.sink.latency.as_ref().map_or(0, |h| h.len()),
            p50_us: us(0.5),
            p90_us: us(0.9),
            p99_us: us(0.99),
            max_us: raw
                .sink
                .latency
                .as_ref()
                .map_or(f64::NAN, |h| h.max() as f64 / 1000.0),
        };
        let t = Trial {
            repetition: self.o.repetitions - 1,
            kind: TrialKind::Latency,
            target_pps: rate,
            offered: raw.gen.offered,
            offered_pps: lat.offered_pps,
            delivered: raw.sink.intact,
            loss_ratio: if raw.gen.offered == 0 {
                0.0
            } else {
                raw.gen.offered.saturating_sub(raw.sink.intact) as f64 / raw.gen.offered as f64
            },
            seconds: raw.gen.elapsed,
        };
        Ok((lat, t))
    }
}

fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A cell being measured across repetitions.
struct Acc {
    cell: Cell,
    pdr: Vec<f64>,
    ndr: Vec<f64>,
    mrr: Vec<f64>,
    max: Vec<f64>,
    converged: Vec<bool>,
    /// A search ended at what the generator could offer paced.
    short: bool,
}

/// The cell's SUT name: the kernel baseline's name for the kernel.
fn sut_name(kind: SutKind, baseline: &KernelBaseline) -> &'static str {
    match kind {
        SutKind::Kernel => baseline.name(),
        _ => kind.name(),
    }
}

fn cell_key(s: &Scenario, sut: &str, pct: Option<f64>) -> String {
    format!("{}|{}|{:?}", s.name, sut, pct)
}

/// The generator the run uses: `asked`, unless that is the live one and
/// it cannot run here (one live run on the generator's veth that sends
/// nothing); then the AF_PACKET one, and why.
fn choose_generator(lab: &Lab, asked: Generator) -> (Generator, Option<String>) {
    if asked != Generator::Live {
        return (asked, None);
    }
    match lab.in_ns("gen", || crate::livegen::probe("bg0")) {
        Ok(Ok(())) => (Generator::Live, None),
        Ok(Err(e)) => (Generator::Packet, Some(e.to_string())),
        Err(e) => (
            Generator::Packet,
            Some(format!(
                "live-frame generator: enter the generator namespace: {e}"
            )),
        ),
    }
}

/// The testbed, with TSO off on the senders and threaded NAPI (GRO on)
/// on the receiving veths.
fn testbed() -> Result<Lab, String> {
    let lab = topology()?;
    for (ns, dev) in [("gen", "bg0"), ("sut", "bw0")] {
        lab.exec_ok(ns, ["ethtool", "-K", dev, "tso", "off"])
            .map_err(|e| format!("ethtool -K {dev} tso off: {e}"))?;
    }
    for (ns, dev) in [("sut", "bl0"), ("sink", "bs0")] {
        lab.exec_ok(ns, ["ethtool", "-K", dev, "gro", "on"])
            .map_err(|e| format!("ethtool -K {dev} gro on: {e}"))?;
        lab.exec_ok(
            ns,
            [
                "sh",
                "-c",
                &format!("echo 1 > /sys/class/net/{dev}/threaded"),
            ],
        )
        .map_err(|e| format!("threaded NAPI on {dev}: {e}"))?;
    }
    Ok(lab)
}

/// Every cell of the run in report order (n/a ones with their reason),
/// and the measurable ones as (scenario index, SUT, STAMP %).
#[allow(clippy::type_complexity)]
fn cells(
    o: &Opts,
    list: &[Scenario],
    baseline: &KernelBaseline,
) -> (Vec<Acc>, Vec<(usize, SutKind, Option<f64>)>) {
    let mut accs: Vec<Acc> = Vec::new();
    let mut todo = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let pcts: Vec<Option<f64>> = match s.stamp {
            Some(_) => o.fractions.iter().map(|&f| Some(f)).collect(),
            None => vec![None],
        };
        for pct in pcts {
            for &kind in s
                .suts
                .iter()
                .filter(|k| o.suts.is_empty() || o.suts.iter().any(|n| n == k.name()))
            {
                let na = s.plan(kind, baseline).err();
                let mut description = s.description.clone();
                if let Some(p) = pct {
                    description = format!("{description}; {p} % STAMP");
                }
                if kind == SutKind::Kernel && !baseline.has_seg6() {
                    description = format!(
                        "{description}; {}: the same packets forwarded without SRv6 (no seg6 in \
                         this kernel)",
                        baseline.name()
                    );
                }
                accs.push(Acc {
                    cell: Cell {
                        scenario: s.name.clone(),
                        description,
                        sut: sut_name(kind, baseline).into(),
                        stamp_pct: pct,
                        frame_octets: templates::build(s.data, o.frame_size).len(),
                        status: match &na {
                            Some(r) => Status::NotApplicable(r.clone()),
                            None => Status::Measured,
                        },
                        pdr: Stat::default(),
                        ndr: Stat::default(),
                        mrr: Stat::default(),
                        generator_limited: false,
                        latency: Vec::new(),
                        trials: Vec::new(),
                        unaccounted: Vec::new(),
                    },
                    pdr: vec![],
                    ndr: vec![],
                    mrr: vec![],
                    max: vec![],
                    converged: vec![],
                    short: false,
                });
                if na.is_none() {
                    todo.push((i, kind, pct));
                }
            }
        }
    }
    (accs, todo)
}

pub fn run(o: &Opts) -> Result<Report, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("needs root (namespaces, XDP, packet sockets)".into());
    }
    if !o.srv6d.exists() {
        return Err(format!(
            "no srv6d binary at {} (build it: `cargo build --release -p control --bin srv6d`; or pass --srv6d PATH / set SRV6D)",
            o.srv6d.display()
        ));
    }
    let mut o = o.clone();
    o.srv6d = std::fs::canonicalize(&o.srv6d).map_err(|e| format!("{}: {e}", o.srv6d.display()))?;
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    let dir = o.out.join("logs");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let t_start = Instant::now();
    catch_signals();
    let list: Vec<Scenario> = if o.quick {
        quick_scenarios()
    } else {
        scenarios()
    }
    .into_iter()
    .filter(|s| o.only.is_empty() || o.only.iter().any(|f| s.name.contains(f.as_str())))
    .collect();
    if list.is_empty() {
        return Err(format!("no scenario matches --only {}", o.only.join(",")));
    }
    // What this machine offers, found by trying it.
    let baseline = KernelBaseline::probe();
    eprintln!(
        "srv6bench: kernel SUT: {} ({})",
        baseline.name(),
        baseline.description()
    );
    let lab = testbed()?;
    let (generator, fallback) = choose_generator(&lab, o.generator);
    match &fallback {
        Some(why) => eprintln!(
            "srv6bench: {why}; falling back to the AF_PACKET generator (--generator packet) for \
             the whole run"
        ),
        None => eprintln!("srv6bench: generator: {}", generator.name()),
    }
    let bench = Bench {
        lab,
        o: &o,
        dir,
        generator,
    };
    let (mut accs, todo) = cells(&o, &list, &baseline);
    let total = (todo.len() * o.repetitions) as u64;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} cells (ETA {eta}) {msg}",
        )
        .expect("valid progress template")
        .progress_chars("=> "),
    );
    // The bar hides itself when stderr is not a terminal (CI logs): say
    // what happened there on plain lines.
    let say = |line: String| {
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };
    let info0 = machine(&o, generator, fallback, &baseline);
    say(format!(
        "srv6bench: {} ({} × {}), Linux {}; SUT core {}, generator core {}; {} generator; {} cells × {} repetitions",
        info0.date, info0.cpu_model, info0.cpus, info0.kernel, o.sut_core, o.gen_core, generator.name(), todo.len(), o.repetitions
    ));
    for rep in 0..o.repetitions {
        let last = rep + 1 == o.repetitions;
        for &(i, kind, pct) in &todo {
            let s = &list[i];
            let sut = sut_name(kind, &baseline);
            let key = cell_key(s, sut, pct);
            let label = format!(
                "{}{} {sut}",
                s.name,
                pct.map(|p| format!(" {p}%")).unwrap_or_default(),
            );
            bar.set_message(label.clone());
            let k = accs
                .iter()
                .position(|a| cell_key_of(&a.cell) == key)
                .expect("every planned cell has an accumulator");
            if matches!(accs[k].cell.status, Status::Failed(_)) {
                bar.inc(1);
                continue;
            }
            let tag = format!(
                "{}-{}-{sut}-r{rep}",
                s.name,
                pct.map(|p| p.to_string()).unwrap_or_default(),
            );
            let stamp_ppm = pct.map_or(0, |p| (p * 10_000.0).round() as u64);
            let result = (|| -> Result<(), String> {
                let plan = s.plan(kind, &baseline)?;
                let running = bench.start(&plan, kind, &tag)?;
                let progress = |m: &str| bar.set_message(format!("{label} r{rep}: {m}"));
                let r = bench.search_cell(s, &plan, &running, stamp_ppm, rep, &progress);
                let r = match r {
                    Ok(v) => v,
                    Err(e) => {
                        let _ = running.stop();
                        return Err(e);
                    }
                };
                let (found, unacc) = r;
                let a = &mut accs[k];
                a.pdr.push(found.pdr);
                a.ndr.push(found.ndr);
                a.mrr.push(found.mrr);
                a.max.push(found.max_pps);
                a.converged.push(found.converged);
                a.short |= found.generator_short;
                a.cell.trials.extend(found.trials);
                if let Some(u) = unacc {
                    a.cell.unaccounted.push(u);
                }
                say(format!(
                    "{label:38} rep {rep}: PDR {:>9.0}  NDR {:>9.0}  MRR {:>9.0} pps (generator max {:.0}){}{}",
                    found.pdr,
                    found.ndr,
                    found.mrr,
                    found.max_pps,
                    if found.converged { "" } else { " NOT CONVERGED" },
                    unacc.map(|u| format!(", unaccounted {u}")).unwrap_or_default()
                ));
                if last && o.latency {
                    let pdr = a.pdr.iter().sum::<f64>() / a.pdr.len() as f64;
                    for pct_of in [50.0, 90.0] {
                        progress(&format!("latency at {pct_of} % of PDR"));
                        if pdr <= 0.0 {
                            continue;
                        }
                        let (l, t) = bench.latency(s, &plan, &running, pdr, pct_of, stamp_ppm)?;
                        accs[k].cell.latency.push(l);
                        accs[k].cell.trials.push(t);
                    }
                }
                running.stop()
            })();
            if let Err(e) = result {
                say(format!("{label}: FAILED: {e}"));
                accs[k].cell.status = Status::Failed(e);
            }
            bar.inc(1);
            if INTERRUPTED.load(Ordering::Relaxed) {
                bar.finish_and_clear();
                return Err("interrupted: the SUT is stopped and the testbed removed".into());
            }
        }
    }
    bar.finish_and_clear();
    let cells: Vec<Cell> = accs
        .into_iter()
        .map(|mut a| {
            if a.cell.status == Status::Measured {
                a.cell.pdr = Stat::of(&a.pdr);
                a.cell.ndr = Stat::of(&a.ndr);
                a.cell.mrr = Stat::of(&a.mrr);
                let max = a.max.iter().sum::<f64>() / a.max.len().max(1) as f64;
                a.cell.generator_limited = a.short || max > 0.0 && a.cell.pdr.mean >= 0.95 * max;
            }
            a.cell
        })
        .collect();
    let mut info = info0;
    info.generator_pps = cells
        .iter()
        .flat_map(|c| c.trials.iter())
        .filter(|t| t.kind == TrialKind::Mrr)
        .map(|t| t.offered_pps)
        .fold(0.0, f64::max);
    info.seconds_total = t_start.elapsed().as_secs_f64();
    Ok(Report { info, cells })
}

fn cell_key_of(c: &Cell) -> String {
    format!("{}|{}|{:?}", c.scenario, c.sut, c.stamp_pct)
}

fn machine(
    o: &Opts,
    generator: Generator,
    fallback: Option<String>,
    baseline: &KernelBaseline,
) -> RunInfo {
    let sys::Host {
        date,
        kernel,
        cpu_model,
        cpus,
    } = sys::host();
    RunInfo {
        date,
        kernel,
        cpu_model,
        cpus,
        command: o.command.clone(),
        quick: o.quick,
        sut_core: o.sut_core,
        gen_core: o.gen_core,
        drop_ratio: o.drop_ratio,
        resolution: o.resolution,
        max_trials: o.max_trials,
        retests: o.retests,
        trial_seconds: o.trial_seconds,
        warmup_seconds: o.warmup_seconds,
        repetitions: o.repetitions,
        generator: generator.name().into(),
        generator_requested: o.generator.name().into(),
        generator_fallback: fallback,
        kernel_sut: baseline.name().into(),
        kernel_sut_description: baseline.description(),
        generator_pps: 0.0,
        seconds_total: 0.0,
    }
}

/// What `--quick` asserts about a report: the method worked (never a
/// speed). Returns the problems found.
pub fn check_quick(r: &Report) -> Vec<String> {
    let mut bad = Vec::new();
    for c in &r.cells {
        let name = format!(
            "{} {}{}",
            c.scenario,
            c.sut,
            c.stamp_pct.map(|p| format!(" {p}%")).unwrap_or_default()
        );
        match &c.status {
            Status::Failed(e) => {
                bad.push(format!("{name}: failed: {e}"));
                continue;
            }
            Status::NotApplicable(_) => continue,
            Status::Measured => {}
        }
        if c.pdr.samples.len() != r.info.repetitions {
            bad.push(format!(
                "{name}: {} PDR samples for {} repetitions",
                c.pdr.samples.len(),
                r.info.repetitions
            ));
        }
        if c.pdr.mean.is_nan() || c.pdr.mean <= 0.0 {
            bad.push(format!("{name}: PDR {} (nothing delivered?)", c.pdr.mean));
        }
        if c.ndr.mean > c.pdr.mean + 1e-6 || c.pdr.mean > c.mrr.mean.max(c.pdr.mean) + 1e-6 {
            bad.push(format!("{name}: NDR {} > PDR {}", c.ndr.mean, c.pdr.mean));
        }
        // The search converged: its last bounds are within the resolution
        // (recomputed from the trials: the passing and failing rates).
        for rep in 0..r.info.repetitions {
            let trials: Vec<&Trial> = c
                .trials
                .iter()
                .filter(|t| {
                    t.repetition == rep
                        && t.kind != TrialKind::Warmup
                        && t.kind != TrialKind::Latency
                })
                .collect();
            let Some(max) = trials
                .iter()
                .find(|t| t.kind == TrialKind::Mrr)
                .map(|t| t.offered_pps)
            else {
                bad.push(format!("{name} rep {rep}: no MRR trial"));
                continue;
            };
            let lo = trials
                .iter()
                .filter(|t| t.loss_ratio <= r.info.drop_ratio)
                .map(|t| t.offered_pps)
                .fold(0.0, f64::max);
            let hi = trials
                .iter()
                .filter(|t| t.loss_ratio > r.info.drop_ratio)
                .map(|t| {
                    if t.kind == TrialKind::Mrr {
                        max
                    } else {
                        t.target_pps
                    }
                })
                .fold(max, f64::min);
            let hi = if hi < lo { lo } else { hi };
            // A search may end where the paced generator fell short of the
            // asked rate (search::Found::generator_short): that is in the
            // trials, and the cell is labelled generator-limited.
            let short = trials.iter().any(|t| {
                t.kind == TrialKind::Search
                    && t.loss_ratio <= r.info.drop_ratio
                    && t.offered_pps < 0.97 * t.target_pps
            });
            if !short && hi - lo > r.info.resolution * max * 1.001 && trials.len() <= 1 + 30 {
                bad.push(format!("{name} rep {rep}: search did not converge: PDR in [{lo:.0}, {hi:.0}] pps, resolution {:.0}", r.info.resolution * max));
            }
            for t in &trials {
                if t.delivered > t.offered && !matches!(c.scenario.as_str(), "stamp-collector") {
                    bad.push(format!(
                        "{name} rep {rep}: delivered {} > offered {}",
                        t.delivered, t.offered
                    ));
                }
            }
        }
        for u in &c.unaccounted {
            if u.unsigned_abs() > 2 {
                bad.push(format!(
                    "{name}: srv6d's tx counter and the receiver disagree by {u} frames"
                ));
            }
        }
        if r.info.quick
            && c.latency.iter().any(|l| l.probes == 0)
            && c.stamp_pct.is_none_or(|p| p < 100.0)
        {
            bad.push(format!("{name}: a latency trial got no probe back"));
        }
    }
    bad
}

/// Writes the report's files into `out`; returns their paths.
pub fn write(r: &Report, out: &Path) -> Result<Vec<PathBuf>, String> {
    let json = out.join("srv6bench.json");
    let csv = out.join("srv6bench.csv");
    crate::report::write_json(r, &json)?;
    crate::report::write_csv(r, &csv)?;
    let mut files = vec![json, csv, out.join("srv6bench-trials.csv")];
    files.extend(crate::report::write_plots(r, out, "srv6bench")?);
    let md = out.join("summary.md");
    std::fs::write(&md, crate::report::summary_table(r))
        .map_err(|e| format!("{}: {e}", md.display()))?;
    files.push(md);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn fwd() -> KernelBaseline {
        KernelBaseline::Ipv6Fwd {
            missing: "Error: lwt encapsulation type not supported.".into(),
        }
    }

    /// A configuration srv6d's gRPC agent takes (what Srv6d::apply does
    /// before sending it).
    fn applies(config: &str) {
        let doc: control::config::ConfigFile = toml::from_str(config).expect(config);
        control::ctl::run::changes_from_file(&doc).expect(config);
    }

    #[test]
    fn the_forwarding_baseline_routes_the_customer_packets_and_says_what_it_cannot_run() {
        let fwd = fwd();
        for s in scenarios() {
            if !s.suts.contains(&SutKind::Kernel) {
                continue;
            }
            let plan = s.plan(SutKind::Kernel, &fwd);
            match s.data {
                Packet::Ipv6 | Packet::Ipv4 => {
                    let p = plan.unwrap_or_else(|e| panic!("{}: {e}", s.name));
                    assert_eq!(p.output, Output::Forward, "{}", s.name);
                    assert!(!p.config.contains("[[policy]]"), "{}", s.name);
                    let prefix = if s.data == Packet::Ipv4 {
                        "198.18.2.0/24"
                    } else {
                        "2001:db8:2::/64"
                    };
                    assert!(p.config.contains(prefix), "{}: {}", s.name, p.config);
                    applies(p.config);
                }
                _ => {
                    let why = plan.err().unwrap_or_else(|| panic!("{} runs", s.name));
                    let named = if s.stamp.is_some() {
                        "STAMP"
                    } else {
                        "CONFIG_IPV6_SEG6_LWTUNNEL"
                    };
                    assert!(why.contains(named), "{}: {why}", s.name);
                }
            }
            // srv6d runs the same whatever the kernel baseline.
            let a = s.plan(SutKind::Srv6d, &fwd).unwrap();
            let b = s.plan(SutKind::Srv6d, &KernelBaseline::Seg6).unwrap();
            assert_eq!((a.config, a.output), (b.config, b.output));
            assert_eq!((a.config, a.output), (s.config.as_str(), s.output));
        }
    }

    #[test]
    fn on_seg6_the_kernel_runs_srv6ds_configuration_where_it_can() {
        for s in scenarios() {
            match s.plan(SutKind::Kernel, &KernelBaseline::Seg6) {
                Ok(p) => {
                    assert!(s.kernel_na.is_none(), "{}", s.name);
                    assert_eq!((p.config, p.output), (s.config.as_str(), s.output));
                }
                Err(why) => assert_eq!(Some(why), s.kernel_na, "{}", s.name),
            }
        }
        assert!(scenarios()
            .iter()
            .any(|s| s.name == "end-dt4" && s.kernel_na.is_some()));
    }

    #[test]
    fn cells_carry_the_kernel_baselines_name_and_why() {
        let o = crate::opts(crate::Cli::parse_from(["srv6bench", "--quick"]).run).unwrap();
        let list = quick_scenarios();
        let (accs, todo) = cells(&o, &list, &fwd());
        let cell = |scenario: &str, sut: &str| {
            accs.iter()
                .map(|a| &a.cell)
                .find(|c| c.scenario == scenario && c.sut == sut && c.stamp_pct.is_none())
                .unwrap_or_else(|| panic!("no cell {scenario} {sut}"))
        };
        let enc = cell("h-encaps-v6-2sid", "kernel-ipv6-fwd");
        assert_eq!(enc.status, Status::Measured);
        assert!(
            enc.description.contains("forwarded without SRv6"),
            "{}",
            enc.description
        );
        assert!(matches!(
            &cell("end-dt4", "kernel-ipv6-fwd").status,
            Status::NotApplicable(why) if why.contains("CONFIG_IPV6_SEG6_LWTUNNEL")
        ));
        assert!(!accs.iter().any(|a| a.cell.sut == "kernel"));
        // Measured: ipv6-fwd and H.Encaps for both, End.DT4 for srv6d,
        // STAMP (0 and 10 %) twice for srv6d, l2fwd.
        assert_eq!(todo.len(), 2 + 2 + 1 + 4 + 1);
        let (accs, _) = cells(&o, &list, &KernelBaseline::Seg6);
        assert!(accs.iter().any(|a| a.cell.sut == "kernel"));
        assert!(!accs.iter().any(|a| a.cell.sut == "kernel-ipv6-fwd"));
    }
}
