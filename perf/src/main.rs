//! `srv6bench`: srv6d's benchmark tool.
//!
//! `srv6bench` (no subcommand) is the RFC 2544 run ([`rfc2544`]): PDR,
//! NDR and MRR of every scenario, for the Linux kernel and for srv6d,
//! interleaved, with repetitions, confidence intervals, latency, STAMP-mix
//! sweeps and the AF_XDP l2fwd ceiling; `srv6bench --quick` runs a few
//! cells in about a minute and checks that the method works. The kernel
//! SUT is the kernel's seg6 where the host has it, else its plain
//! forwarding of the same customer packets, `kernel-ipv6-fwd`
//! ([`kernel_baseline`]); the live-frame generator ([`livegen`]) is used
//! where the kernel runs live frames, else the run falls back to the
//! AF_PACKET one. Both are found by trying them, and named in every output.
//! `srv6bench templates` writes the generator's packets for the TRex
//! profiles' byte-identity check.
//!
//! `srv6bench encap-quick` is a quick, honest throughput reading of
//! H.Encaps (2 SIDs): srv6d versus the Linux kernel's seg6 encap, on the
//! same veth topology, with the same generator and the same counting, in the
//! same run, interleaved (ceiling, kernel, srv6d, stamp, kernel, srv6d,
//! stamp, ..., ceiling). The stamp phase measures srv6d's inline STAMP
//! reflector in the same run: STAMP test packets to a router address,
//! replies (checked one by one) counted at the same sink. It is not the
//! RFC 2544 harness (no binary search for the NDR): it offers one load (by
//! default as fast as the generator can) and counts what arrives intact.
//! Method, results and caveats: docs/BENCHMARKS.md.
//!
//! ```text
//!  gen bg0 ----- bl0 [sut] bw0 ----- bs0 sink
//! ```

mod frames;
mod io;
mod kernel_baseline;
mod l2fwd;
mod livegen;
mod model;
mod report;
mod rfc2544;
mod search;
mod sut;
mod sys;
mod templates;

use std::fmt::Write as _;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use kernel_baseline::KernelBaseline;
use lab::{Lab, Mac, Route, Seg6Mode, Topology, VethEnd};

const GEN_MAC: Mac = [0x02, 0x5b, 0, 0, 0, 0x01];
const LAN_MAC: Mac = [0x02, 0x5b, 0, 0, 0, 0x02];
const WAN_MAC: Mac = [0x02, 0x5b, 0, 0, 0, 0x03];
const SINK_MAC: Mac = [0x02, 0x5b, 0, 0, 0, 0x04];

/// Outer source of the kernel's encapsulation (`ip sr tunsrc`).
const KERNEL_SRC: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xa, 0, 0, 0, 0, 0, 1);
/// Outer source of srv6d's encapsulation (`[router] source`).
const SRV6D_SRC: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xa, 0, 0, 0, 0, 0, 2);
/// Outer source of the ceiling phase's pre-built frames.
const CEILING_SRC: Ipv6Addr = Ipv6Addr::new(0xfc00, 0xa, 0, 0, 0, 0, 0, 9);

#[derive(Parser)]
#[command(
    name = "srv6bench",
    version,
    about = "srv6d benchmarks: RFC 2544 PDR/NDR/MRR of srv6d against the Linux kernel (its seg6, or its plain forwarding where it has none)",
    long_about = "srv6d benchmarks. Without a subcommand: the RFC 2544 run (needs root). It builds \
    a generator -- SUT -- receiver testbed of namespaces and veths, and for every repetition, \
    scenario and SUT in turn (the kernel through `srv6d run --dataplane kernel`: its seg6 where \
    the host has it, else, found by trying seg6 in a scratch namespace, its plain forwarding of the \
    same customer packets, named kernel-ipv6-fwd, which favours the kernel; srv6d's AF_XDP \
    engine; the AF_XDP l2fwd ceiling) starts the SUT, configures it through the gRPC API, then \
    finds the MRR (delivered rate at the generator's full speed), the NDR (no loss) and the PDR \
    (loss at most --drop-ratio) by binary search to --resolution, after a warm-up trial. In the \
    last repetition it measures latency at 50 % and 90 % of the PDR from timestamped probe frames. \
    STAMP scenarios are swept over --fractions. The generator is an XDP program run with \
    BPF_PROG_TEST_RUN live frames (`--generator live`; `packet` for AF_PACKET; where the kernel \
    refuses live frames the run says why and falls back to AF_PACKET), the receiver an \
    AF_XDP socket that checks every frame octet by octet. Results: JSON, CSV, SVG and PNG plots and a \
    summary table in --out; a PDR within 5 % of what the generator could offer is flagged \
    generator-limited: it is the generator's figure, not the SUT's.",
    after_help = "Examples:\n  \
    sudo srv6bench --quick                      # a minute: checks the method works\n  \
    sudo srv6bench --out results                # the full run (about half an hour)\n  \
    sudo srv6bench --only h-encaps-v6 --repetitions 5 --trial-seconds 5\n  \
    srv6bench scenarios                         # what --only can select\n  \
    srv6bench templates --out /tmp/t           # the generator's packets, hex",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Args)]
struct RunArgs {
    /// A short run for CI: ipv6-fwd, H.Encaps (2 SIDs), End.DT4, STAMP
    /// reflector/collector at 0 and 10 %, l2fwd; 2 repetitions of short
    /// trials. Exits non-zero if the method did not work (a search did not
    /// converge, srv6d's counters and the receiver disagree, no file
    /// written); never judges a speed.
    #[arg(long)]
    quick: bool,
    /// Seconds per trial [default: 2; --quick: 0.3].
    #[arg(long)]
    trial_seconds: Option<f64>,
    /// Seconds of the warm-up trial before each search (0: none)
    /// [default: 1; --quick: 0.2].
    #[arg(long)]
    warmup_seconds: Option<f64>,
    /// Repetitions of every search (mean and 95 % confidence interval)
    /// [default: 3; --quick: 2].
    #[arg(long)]
    repetitions: Option<usize>,
    /// The PDR's drop ratio.
    #[arg(long, default_value_t = 0.005)]
    drop_ratio: f64,
    /// The search stops when its interval is at most this share of the
    /// generator's maximum rate [default: 0.01; --quick: 0.05].
    #[arg(long)]
    resolution: Option<f64>,
    /// The most search trials per search (after the MRR trial), retests
    /// included.
    #[arg(long, default_value_t = 20)]
    max_trials: usize,
    /// Re-runs of a search trial that lost too much before its rate counts
    /// as failing (a stall of a shared machine then cannot pin the search
    /// under the real rate; 0: every failure counts, plain binary search).
    #[arg(long, default_value_t = 1)]
    retests: usize,
    /// The traffic generator: `live` runs an XDP program with
    /// BPF_PROG_TEST_RUN live frames (xdp_frames to the SUT, no socket
    /// buffers; the faster one), `packet` sends with sendmmsg on an
    /// AF_PACKET socket (socket buffers, as a kernel-stack sender would).
    /// Where the kernel refuses live frames, the run falls back to
    /// `packet` on its own, says why, and names it in every output.
    #[arg(long, default_value = "live", value_parser = ["live", "packet"])]
    generator: String,
    /// Core of the system under test (its NAPI thread, srv6d's worker,
    /// l2fwd).
    #[arg(long, default_value_t = 1)]
    sut_core: usize,
    /// Core of the generator and the receiver.
    #[arg(long, default_value_t = 0)]
    gen_core: usize,
    /// The srv6d binary [default: $SRV6D, else target/release/srv6d].
    #[arg(long)]
    srv6d: Option<PathBuf>,
    /// Directory for the results (created).
    #[arg(long, default_value = "srv6bench-results")]
    out: PathBuf,
    /// Data frame size in octets including the 4-octet FCS, as RFC 2544
    /// counts (64: the smallest frame each scenario allows).
    #[arg(long, default_value_t = 64)]
    frame_size: usize,
    /// Data flows (UDP source ports) the generator cycles through.
    #[arg(long, default_value_t = 64)]
    flows: u16,
    /// STAMP shares (percent of the offered frames) of the STAMP
    /// scenarios [default: 0,0.01,0.05,0.1,1,5,10,20,50,100; --quick: 0,10].
    #[arg(long, value_delimiter = ',')]
    fractions: Option<Vec<f64>>,
    /// Only the scenarios whose name contains one of these (comma list),
    /// e.g. `--only h-encaps,end-dt6`.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only these systems under test (comma list of kernel, srv6d, l2fwd).
    #[arg(long, value_delimiter = ',', value_parser = ["kernel", "srv6d", "l2fwd"])]
    suts: Vec<String>,
    /// Skip the latency trials.
    #[arg(long)]
    no_latency: bool,
    /// Timestamped probe frames per second in latency trials.
    #[arg(long, default_value_t = 1000)]
    probes_per_second: u64,
    /// srv6d's `--idle` mode: what its worker does when a poll finds
    /// nothing. `yield` lets the SUT core's NAPI thread (which copies the
    /// frames into srv6d's UMEM in copy mode) run in between; `spin` keeps
    /// polling.
    #[arg(long, default_value = "yield", value_parser = ["spin", "yield", "sleep"])]
    srv6d_idle: String,
}

#[derive(Subcommand)]
enum Command {
    /// Write the generator's packets (one hex line per file,
    /// `PACKET-SIZE.hex`, SIZE with FCS as RFC 2544 counts) for the TRex
    /// profiles' byte-identity check.
    Templates {
        /// Directory to write into (created).
        #[arg(long)]
        out: PathBuf,
        /// Frame sizes (with FCS).
        #[arg(long, value_delimiter = ',', default_value = "64,594,1518")]
        sizes: Vec<usize>,
    },
    /// List the RFC 2544 scenarios: name, data packet, STAMP in the mix,
    /// systems under test, and why the kernel cannot run a scenario.
    /// `--only` selects from these names.
    Scenarios {
        /// Tab-separated, one line per scenario (name, data packet, stamp
        /// packet or -, SUTs, n/a or -, description), for scripts.
        #[arg(long)]
        tsv: bool,
    },
    /// Quick H.Encaps (2 SIDs) throughput: srv6d vs the kernel's seg6 encap
    /// (needs root).
    #[command(
        long_about = "Quick H.Encaps (2 SIDs) throughput reading: srv6d versus the \
        kernel's seg6 encap on the same veth topology (gen -- sut -- sink namespaces), \
        with the same AF_PACKET generator (sendmmsg, qdisc bypass) and the same sink (an \
        AF_XDP socket, copy mode) that checks every frame (outer source and destination, \
        SRH, inner packet, payload magic). Phases are interleaved: ceiling, (kernel, \
        srv6d) x rounds, ceiling. The SUT's receive NAPI runs threaded, pinned to \
        --sut-core, as is srv6d's worker; the generator, the sink and the sink's NAPI \
        (SCHED_FIFO, so the generator only gets what the sink leaves) are pinned to \
        --gen-core. The ceiling phase sends pre-encapsulated frames (what H.Encaps would \
        produce) through the same SUT namespace, which only forwards them (plain IPv6 \
        forwarding, no seg6 route), with the same threads on the same cores: what the \
        generator and the sink manage when the SUT does the least work. A phase that \
        loses at most 1 % is labelled generator-limited; otherwise the loss is located \
        (SUT input ring, inside the SUT, sink input ring) and the phase labelled SUT- or \
        sink-limited, \"near the ceiling\" when it delivered at least 90 % of the \
        ceiling phases' median. Each round also has a stamp phase (unless --no-stamp): \
        srv6d's inline STAMP reflector, with the same threads on the same cores, \
        answering unauthenticated RFC 8762 test packets (106-octet frames, 64 UDP \
        source ports, a sequence number per frame) sent to a router address, its \
        replies routed to the sink, which checks every one (addresses, ports, UDP \
        checksum, the reflector packet echoing the test packet). The SUT's threads \
        and the generator run at nice -20 (see --no-rt). Needs the kernel's seg6: on a \
        kernel without it, it stops at once and says so."
    )]
    EncapQuick {
        /// Seconds of traffic per phase.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Offered frames per second (0: as fast as the generator can).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Core of the system under test.
        #[arg(long, default_value_t = 1)]
        sut_core: usize,
        /// Core of the generator, the sink and the sink's NAPI.
        #[arg(long, default_value_t = 0)]
        gen_core: usize,
        /// Core of the NAPI thread that receives into srv6d's AF_XDP socket
        /// (default: the SUT core, so srv6d gets one core like the kernel).
        #[arg(long)]
        srv6d_napi_core: Option<usize>,
        /// (kernel, srv6d, stamp) rounds.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Leave out the stamp phase (srv6d reflecting STAMP test packets)
        /// of each round.
        #[arg(long)]
        no_stamp: bool,
        /// The srv6d binary (default: $SRV6D, else target/release/srv6d).
        #[arg(long)]
        srv6d: Option<PathBuf>,
        /// Leave the SUT's threads (its receive NAPI thread, srv6d's worker)
        /// and the generator at nice 0. By default they run at nice -20 so
        /// that other work on a shared machine barely takes their cores
        /// (SCHED_OTHER still: a real-time class would let the NAPI thread
        /// starve srv6d's spinning worker, or the other way round).
        #[arg(long)]
        no_rt: bool,
        /// Keep the SUT core from halting when idle: a SCHED_IDLE thread
        /// spins on it for the whole run (like `idle=poll` for that core).
        /// In a VM a halted vCPU must be woken by the host for every wakeup
        /// of the SUT's NAPI thread; srv6d's spinning worker never lets its
        /// core halt, the kernel's NAPI thread does.
        #[arg(long)]
        sut_idle_poll: bool,
        /// Count at the sink with an AF_PACKET socket (through the sink's
        /// kernel stack) instead of an AF_XDP socket.
        #[arg(long)]
        packet_sink: bool,
        /// Where to write the JSON result.
        #[arg(long, default_value = "srv6bench-encap-quick.json")]
        json: PathBuf,
    },
    /// AF_XDP l2fwd ceiling: forward every frame from --rx to --tx,
    /// rewriting only the Ethernet addresses (needs root).
    #[command(
        long_about = "AF_XDP l2fwd ceiling: the practical limit of a userspace AF_XDP \
        forwarder on this machine. One busy-polling thread (pinned to --core) receives \
        on queue 0 of --rx and sends out of queue 0 of --tx, through two copy-mode AF_XDP \
        sockets (driver-mode XDP, libxdp's default program on --rx) sharing one UMEM, \
        so frames are not copied in user space. Each frame's destination MAC becomes \
        --dst-mac and its source MAC --src-mac; nothing else is touched. Runs in the \
        network namespace it is started in, prints \"l2fwd running\" on stderr once both \
        sockets are bound, and on SIGTERM or SIGINT prints \"l2fwd final counters: rx=N \
        tx=N tx_failed=N xsk_rx_dropped=N\" on stderr and exits 0. tx counts frames the \
        kernel completed (handed to --tx); tx_failed, frames dropped for lack of room on \
        the tx ring or never completed; xsk_rx_dropped, frames the kernel could not \
        deliver to the rx socket (fill ring empty, rx ring full)."
    )]
    L2fwd {
        /// Interface frames arrive on (queue 0).
        #[arg(long)]
        rx: String,
        /// Interface frames leave by (queue 0).
        #[arg(long)]
        tx: String,
        /// Destination MAC written into every frame (the next hop's).
        #[arg(long, value_parser = parse_mac_arg)]
        dst_mac: Mac,
        /// Source MAC written into every frame (--tx's own).
        #[arg(long, value_parser = parse_mac_arg)]
        src_mac: Mac,
        /// Core to pin the forwarding thread to (default: not pinned).
        #[arg(long)]
        core: Option<usize>,
        /// What the loop does when it finds nothing to do: `spin` keeps
        /// polling; `yield` gives the core to other threads (the receive
        /// NAPI thread on the same core) in between, like `srv6d run
        /// --idle yield`.
        #[arg(long, default_value = "spin", value_parser = ["spin", "yield"])]
        idle: String,
    },
}

fn parse_mac_arg(s: &str) -> Result<Mac, String> {
    lab::parse_mac(s).ok_or_else(|| format!("not a MAC address (aa:bb:cc:dd:ee:ff): {s}"))
}

/// Set by SIGTERM / SIGINT: stops `srv6bench l2fwd`.
static L2FWD_STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn l2fwd_on_signal(_: libc::c_int) {
    L2FWD_STOP.store(true, Ordering::Relaxed);
}

fn l2fwd_main(
    rx: &str,
    tx: &str,
    dst: Mac,
    src: Mac,
    core: Option<usize>,
    idle_yield: bool,
) -> Res<()> {
    if let Some(core) = core {
        sys::pin_current(core).map_err(e(&format!("pin to core {core}")))?;
    }
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: sigaction is plain data, all-zero is a valid start; the
        // handler only stores to an atomic (async-signal-safe).
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = l2fwd_on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(format!(
                "install the handler for signal {sig}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    let stats =
        l2fwd::run(rx, tx, dst, src, idle_yield, &L2FWD_STOP).map_err(|err| err.to_string())?;
    eprintln!("l2fwd final counters: {stats}");
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        return rfc2544_main(cli.run);
    };
    match command {
        Command::Templates { out, sizes } => match write_templates(&out, &sizes) {
            Ok(n) => {
                eprintln!("{n} templates written to {}", out.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("srv6bench templates: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Scenarios { tsv } => {
            let text = if tsv {
                scenarios_tsv()
            } else {
                let mut t = String::new();
                for sc in rfc2544::scenarios() {
                    let suts: Vec<&str> = sc.suts.iter().map(|k| k.name()).collect();
                    let _ = writeln!(t, "{:<22} {}", sc.name, sc.description);
                    let _ = writeln!(
                        t,
                        "{:<22} data {}, STAMP {}, SUTs {}{}",
                        "",
                        sc.data.name(),
                        sc.stamp.map_or("none", stamp_packet),
                        suts.join(","),
                        sc.kernel_na
                            .as_deref()
                            .map(|w| format!("; kernel seg6 n/a: {w}"))
                            .unwrap_or_default()
                    );
                    if sc.suts.contains(&rfc2544::SutKind::Kernel) {
                        let _ = writeln!(
                            t,
                            "{:<22} {}: {}",
                            "",
                            kernel_baseline::FWD_NAME,
                            match &sc.kernel_fwd {
                                Ok(_) => "the same data packets, forwarded without SRv6 \
                                          (where the kernel has no seg6)"
                                    .to_string(),
                                Err(why) => format!("n/a: {why}"),
                            }
                        );
                    }
                }
                t
            };
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
            ExitCode::SUCCESS
        }
        Command::EncapQuick {
            seconds,
            rate,
            sut_core,
            gen_core,
            srv6d_napi_core,
            rounds,
            no_stamp,
            srv6d,
            no_rt,
            sut_idle_poll,
            packet_sink,
            json,
        } => {
            let srv6d = srv6d
                .or_else(|| std::env::var_os("SRV6D").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("target/release/srv6d"));
            let opts = Opts {
                seconds,
                rate,
                sut_core,
                gen_core,
                srv6d_napi_core: srv6d_napi_core.unwrap_or(sut_core),
                rounds,
                stamp: !no_stamp,
                srv6d,
                no_rt,
                sut_idle_poll,
                packet_sink,
                json,
            };
            match encap_quick(&opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("srv6bench encap-quick: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::L2fwd {
            rx,
            tx,
            dst_mac,
            src_mac,
            core,
            idle,
        } => match l2fwd_main(&rx, &tx, dst_mac, src_mac, core, idle == "yield") {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("srv6bench l2fwd: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn write_templates(out: &Path, sizes: &[usize]) -> Res<usize> {
    std::fs::create_dir_all(out).map_err(e(&out.display().to_string()))?;
    let mut index = String::new();
    let mut n = 0;
    for p in templates::Packet::ALL {
        for &size in sizes {
            if size < 64 {
                return Err(format!(
                    "--sizes: {size} is below the 64-octet minimum frame"
                ));
            }
            let f = templates::build(p, size - 4);
            let name = format!("{}-{size}.hex", p.name());
            let hex: String = f.iter().map(|b| format!("{b:02x}")).collect();
            std::fs::write(out.join(&name), format!("{hex}\n")).map_err(e(&name))?;
            let _ = writeln!(index, "{} {size} {name} {}", p.name(), f.len());
            n += 1;
        }
    }
    std::fs::write(out.join("index.txt"), index).map_err(e("index.txt"))?;
    std::fs::write(out.join("scenarios.tsv"), scenarios_tsv()).map_err(e("scenarios.tsv"))?;
    std::fs::write(out.join("search.tsv"), search_tsv()?).map_err(e("search.tsv"))?;
    Ok(n)
}

/// The packet a STAMP scenario mixes in ([`templates::Packet::name`]).
fn stamp_packet(s: rfc2544::Stamp) -> &'static str {
    match s {
        rfc2544::Stamp::Reflector => templates::Packet::StampTest.name(),
        rfc2544::Stamp::Collector => templates::Packet::StampReply.name(),
    }
}

/// `srv6bench scenarios --tsv` (also `scenarios.tsv` of `templates`, which
/// the TRex profiles' check compares with their scenario table).
fn scenarios_tsv() -> String {
    let mut t = String::new();
    for sc in rfc2544::scenarios() {
        let suts: Vec<&str> = sc.suts.iter().map(|k| k.name()).collect();
        let _ = writeln!(
            t,
            "{}\t{}\t{}\t{}\t{}\t{}",
            sc.name,
            sc.data.name(),
            sc.stamp.map_or("-", stamp_packet),
            suts.join(","),
            if sc.kernel_na.is_some() { "n/a" } else { "-" },
            sc.description
        );
    }
    t
}

/// The full run's search defaults (`search.tsv` of `templates`: key, value),
/// as `srv6bench` without options would use them.
fn search_tsv() -> Res<String> {
    let o = opts(Cli::parse_from(["srv6bench"]).run)?;
    let fractions: Vec<String> = o.fractions.iter().map(|f| f.to_string()).collect();
    Ok(format!(
        "pdr_drop_ratio\t{}\ntrial_seconds\t{}\nwarmup_seconds\t{}\nrepetitions\t{}\n\
         resolution\t{}\nmax_trials\t{}\nretests\t{}\nprobes_per_second\t{}\nflows\t{}\n\
         fractions\t{}\n",
        o.drop_ratio,
        o.trial_seconds,
        o.warmup_seconds,
        o.repetitions,
        o.resolution,
        o.max_trials,
        o.retests,
        o.probes_per_s,
        o.flows,
        fractions.join(",")
    ))
}

/// The run's options from the command line (the full run's or --quick's
/// defaults where an option is absent); an error names the bad option.
fn opts(a: RunArgs) -> Res<rfc2544::Opts> {
    let q = a.quick;
    let pick = |v: Option<f64>, full: f64, quick: f64| v.unwrap_or(if q { quick } else { full });
    let o = rfc2544::Opts {
        quick: q,
        trial_seconds: pick(a.trial_seconds, 2.0, 0.3),
        warmup_seconds: pick(a.warmup_seconds, 1.0, 0.2),
        repetitions: a.repetitions.unwrap_or(if q { 2 } else { 3 }).max(1),
        drop_ratio: a.drop_ratio,
        resolution: pick(a.resolution, 0.01, 0.05),
        max_trials: a.max_trials,
        retests: a.retests,
        generator: if a.generator == "live" {
            rfc2544::Generator::Live
        } else {
            rfc2544::Generator::Packet
        },
        sut_core: a.sut_core,
        gen_core: a.gen_core,
        srv6d: a
            .srv6d
            .or_else(|| std::env::var_os("SRV6D").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("target/release/srv6d")),
        out: a.out.clone(),
        frame_size: a.frame_size.saturating_sub(4),
        flows: a.flows,
        fractions: a.fractions.unwrap_or_else(|| {
            if q {
                vec![0.0, 10.0]
            } else {
                rfc2544::FRACTIONS.to_vec()
            }
        }),
        only: a.only,
        suts: a.suts,
        latency: !a.no_latency,
        srv6d_idle: a.srv6d_idle.clone(),
        probes_per_s: if q {
            a.probes_per_second.min(200)
        } else {
            a.probes_per_second
        },
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    if let Some(bad) = o.fractions.iter().find(|f| !(0.0..=100.0).contains(*f)) {
        return Err(format!("--fractions: {bad} is not a percentage (0 to 100)"));
    }
    let resolution_ok = o.resolution > 0.0 && o.resolution < 1.0;
    if !(0.0..1.0).contains(&o.drop_ratio) || !resolution_ok {
        return Err("--drop-ratio must be in [0, 1) and --resolution in (0, 1)".into());
    }
    if a.frame_size < 64 || a.frame_size > 1518 {
        return Err(format!(
            "--frame-size {}: expected 64 to 1518 octets (the veths' MTU, 2000, must hold the encapsulated frame, and XDP on veth allows no MTU above about 3500)",
            a.frame_size
        ));
    }
    Ok(o)
}

fn rfc2544_main(a: RunArgs) -> ExitCode {
    let q = a.quick;
    let o = match opts(a) {
        Ok(o) => o,
        Err(err) => {
            eprintln!("srv6bench: {err}");
            return ExitCode::from(2);
        }
    };
    let report = match rfc2544::run(&o) {
        Ok(r) => r,
        Err(err) => {
            eprintln!("srv6bench: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", report::summary_table(&report));
    let files = match rfc2544::write(&report, &o.out) {
        Ok(f) => f,
        Err(err) => {
            eprintln!("srv6bench: writing the results: {err}");
            return ExitCode::FAILURE;
        }
    };
    for f in &files {
        eprintln!("wrote {}", f.display());
    }
    if q {
        let mut bad = rfc2544::check_quick(&report);
        for f in &files {
            if std::fs::metadata(f).map(|m| m.len() == 0).unwrap_or(true) {
                bad.push(format!("{}: missing or empty", f.display()));
            }
        }
        if !bad.is_empty() {
            for b in &bad {
                eprintln!("srv6bench --quick: {b}");
            }
            return ExitCode::FAILURE;
        }
        eprintln!("srv6bench --quick: the method works (searches converged, counters reconcile, files written)");
    }
    ExitCode::SUCCESS
}

#[derive(Clone)]
struct Opts {
    seconds: f64,
    rate: u64,
    sut_core: usize,
    gen_core: usize,
    srv6d_napi_core: usize,
    rounds: usize,
    stamp: bool,
    srv6d: PathBuf,
    no_rt: bool,
    sut_idle_poll: bool,
    packet_sink: bool,
    json: PathBuf,
}

type Res<T> = Result<T, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sut {
    Ceiling,
    Kernel,
    Srv6d,
    /// srv6d reflecting STAMP test packets (inline reflector).
    Stamp,
}

impl Sut {
    fn name(self) -> &'static str {
        match self {
            Sut::Ceiling => "ceiling",
            Sut::Kernel => "kernel",
            Sut::Srv6d => "srv6d",
            Sut::Stamp => "stamp",
        }
    }

    /// Is srv6d the SUT?
    fn is_srv6d(self) -> bool {
        matches!(self, Sut::Srv6d | Sut::Stamp)
    }
}

/// srv6d's final counters line, parsed: what the reconciliation with the
/// sink needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Srv6dCounters {
    rx: u64,
    tx: u64,
    reflected: u64,
    /// The `drops:` list as srv6d printed it ("none" when empty).
    drops: String,
    /// The STAMP `discarded:` list ("none" when empty).
    discarded: String,
}

impl Srv6dCounters {
    /// Parses `rx=.. tx=.. behaviours: .. drops: .. stamp: reflected=..
    /// discarded: .. [sent=.. replies=.. reply_errors: ..] [events: ..]`.
    fn parse(line: &str) -> Option<Srv6dCounters> {
        let num = |key: &str| -> Option<u64> {
            line.split_whitespace()
                .find_map(|t| t.strip_prefix(key))
                .and_then(|v| v.parse().ok())
        };
        let between = |from: &str, to: &[&str]| -> String {
            let Some((_, rest)) = line.split_once(from) else {
                return String::new();
            };
            let end = to
                .iter()
                .filter_map(|t| rest.find(t))
                .min()
                .unwrap_or(rest.len());
            rest[..end].trim().to_string()
        };
        Some(Srv6dCounters {
            rx: num("rx=")?,
            tx: num("tx=")?,
            reflected: num("reflected=")?,
            drops: between("drops:", &[" stamp:"]),
            // Newer srv6d adds the engine sender's `sent=.. replies=..
            // reply_errors: ..` after the discards.
            discarded: between("discarded:", &[" sent=", " events:"]),
        })
    }
}

/// CPU time (seconds) a task used during a phase, and the CPU it was last on.
#[derive(Debug, Clone)]
struct TaskUse {
    what: String,
    tid: i32,
    allowed: String,
    cpu_s: f64,
    last_cpu: i64,
}

#[derive(Debug, Clone)]
struct Phase {
    sut: Sut,
    round: usize,
    gen: io::GenResult,
    sink: io::SinkResult,
    /// rx_packets delta of the sink interface (cross-check of `intact`).
    sink_link_rx: u64,
    /// tx_dropped delta of the generator interface (the SUT's input ring
    /// was full).
    gen_link_tx_dropped: u64,
    /// tx_dropped delta of the SUT's egress interface (the sink's input
    /// ring was full).
    sut_link_tx_dropped: u64,
    /// srv6d's own final counters line, if srv6d ran.
    srv6d_counters: Option<String>,
    /// The same, parsed (None if srv6d did not run or the line did not
    /// parse).
    srv6d: Option<Srv6dCounters>,
    load_before: String,
    load_after: String,
    /// Per-CPU busy share during the phase: (cpu, busy %, softirq %).
    cpus: Vec<(usize, f64, f64)>,
    tasks: Vec<TaskUse>,
}

impl Phase {
    fn offered_pps(&self) -> f64 {
        self.gen.offered as f64 / self.gen.elapsed
    }
    fn delivered_pps(&self) -> f64 {
        self.sink.intact as f64 / self.gen.elapsed
    }
    /// Frames lost at the SUT's input (refused by the generator's veth).
    fn lost_sut_input(&self) -> u64 {
        self.gen.refused
    }
    /// Frames lost at the sink's input (the SUT's egress veth dropped them).
    fn lost_sink_input(&self) -> u64 {
        self.sut_link_tx_dropped
    }
    /// Frames accepted into the SUT and neither delivered intact nor
    /// dropped at the sink's input: lost inside the SUT (or damaged).
    fn lost_inside(&self) -> u64 {
        self.gen
            .accepted
            .saturating_sub(self.sink.intact)
            .saturating_sub(self.lost_sink_input())
    }
    /// `ceiling`: the median delivered rate of the ceiling phases.
    fn label(&self, ceiling: f64) -> &'static str {
        if self.sut == Sut::Ceiling {
            return "generator ceiling";
        }
        let lost = self.gen.offered.saturating_sub(self.sink.intact);
        let near = ceiling > 0.0 && self.delivered_pps() >= 0.9 * ceiling;
        if self.loss_pct() <= 1.0 {
            "generator-limited"
        } else if self.lost_sink_input() * 2 > lost {
            "sink-limited"
        } else if near {
            "SUT-limited (near the ceiling)"
        } else {
            "SUT-limited"
        }
    }

    /// What srv6d sent (tx; for the stamp phase, its reflected count)
    /// minus what the sink counted intact and what the sink's input ring
    /// dropped: 0 when srv6d's counters and the sink agree. None if srv6d
    /// did not run.
    fn srv6d_unaccounted(&self) -> Option<i64> {
        let c = self.srv6d.as_ref()?;
        let sent = if self.sut == Sut::Stamp {
            c.reflected
        } else {
            c.tx
        };
        Some(sent as i64 - self.sink.intact as i64 - self.lost_sink_input() as i64)
    }

    fn loss_pct(&self) -> f64 {
        if self.gen.offered == 0 {
            return 0.0;
        }
        100.0 * (self.gen.offered.saturating_sub(self.sink.intact)) as f64 / self.gen.offered as f64
    }
}

fn e<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |err| format!("{what}: {err}")
}

fn topology() -> Res<Lab> {
    Topology::new()
        .prefix("s6bench")
        .namespaces(&["gen", "sut", "sink"])
        .veth(
            VethEnd::new("gen", "bg0").mac(GEN_MAC),
            VethEnd::new("sut", "bl0").mac(LAN_MAC),
        )
        .veth(
            VethEnd::new("sut", "bw0").mac(WAN_MAC),
            VethEnd::new("sink", "bs0").mac(SINK_MAC),
        )
        .addr("gen", "bg0", "2001:db8:1::1/64")
        .addr("sut", "bl0", "2001:db8:1::2/64")
        .addr("sut", "bw0", "fc00:12::1/64")
        .addr("sink", "bs0", "fc00:12::2/64")
        .forwarding("sut")
        .neigh("sut", "bw0", "fc00:12::2", SINK_MAC)
        .neigh("sut", "bl0", "2001:db8:1::1", GEN_MAC)
        .tunsrc("sut", &KERNEL_SRC.to_string())
        .route("sut", Route::to("fc00:b::/48").via("fc00:12::2").dev("bw0"))
        .build()
        .map_err(e("build the topology"))
}

fn kernel_route() -> Route {
    Route::seg6(
        "2001:db8:2::/64",
        Seg6Mode::Encap,
        &[&frames::S1.to_string(), &frames::S2.to_string()],
        "bw0",
    )
    .into()
}

fn srv6d_config() -> String {
    format!(
        r#"# srv6bench encap-quick: H.Encaps (2 SIDs) from LAN bl0 to WAN bw0
[[port]]
name = "bw0"
role = "wan"

[[port]]
name = "bl0"
role = "lan"
vrf = "blue"

[[vrf]]
name = "blue"
id = 10

[router]
source = "{SRV6D_SRC}"

[[policy]]
name = "to-sink"
mode = "encap"
segments = ["{}", "{}"]

[[route]]
vrf = "blue"
prefix = "2001:db8:2::/64"
policy = "to-sink"

[[route]]
vrf = "underlay"
prefix = "fc00:b::/48"
nexthop = "fc00:12::2"
port = "bw0"
"#,
        frames::S1,
        frames::S2
    )
}

/// The stamp phase's srv6d: both ports in the underlay (a router address
/// is a local route of the underlay, so test packets must arrive on a WAN
/// port), the inline reflector on a router address with its defaults
/// (port 862, stateless, unknown SSIDs reflected, no rate limit), and the
/// route that takes the replies to the sink.
fn srv6d_stamp_config() -> String {
    format!(
        r#"# srv6bench encap-quick, stamp phase: inline STAMP reflection,
# test packets in on bl0, replies out of bw0
[[port]]
name = "bw0"
role = "wan"

[[port]]
name = "bl0"
role = "wan"

[router]
source = "{SRV6D_SRC}"
addresses = ["{}"]
stamp_port = {}
# One generator address: the default per-source limit (1000/s) would cap
# the reflection being measured.
stamp_rate_limit = 4294967295

[[route]]
vrf = "underlay"
prefix = "fc00:b::/48"
nexthop = "fc00:12::2"
port = "bw0"
"#,
        frames::STAMP_REFLECTOR,
        frames::STAMP_PORT,
    )
}

/// GRO on and threaded NAPI for `dev` in `ns`.
fn threaded_napi(lab: &Lab, ns: &str, dev: &str) -> Res<()> {
    lab.exec_ok(ns, ["ethtool", "-K", dev, "gro", "on"])
        .map_err(e("ethtool gro on"))?;
    lab.exec_ok(
        ns,
        [
            "sh",
            "-c",
            &format!("echo 1 > /sys/class/net/{dev}/threaded"),
        ],
    )
    .map_err(e("threaded NAPI"))?;
    Ok(())
}

/// Pins the sink's NAPI threads to `core` and makes them SCHED_FIFO, so
/// the generator (SCHED_OTHER, same core) only gets what the sink leaves:
/// the sink never drops for lack of CPU, the generator slows down instead.
fn pin_sink_napi(dev: &str, core: usize) -> Res<Vec<i32>> {
    let tids = pin_napi(dev, core)?;
    for &t in &tids {
        sys::set_fifo(t, 50).map_err(e(&format!("SCHED_FIFO for napi thread {t}")))?;
    }
    Ok(tids)
}

/// Pins every `napi/DEV-*` kthread to `core`; returns their tids.
fn pin_napi(dev: &str, core: usize) -> Res<Vec<i32>> {
    let tids = sys::tasks_named(&format!("napi/{dev}-"));
    if tids.is_empty() {
        return Err(format!("no napi/{dev}-* thread (threaded NAPI not on?)"));
    }
    for &t in &tids {
        sys::set_affinity(t, core).map_err(e(&format!("pin napi thread {t}")))?;
    }
    Ok(tids)
}

fn link_stat(lab: &Lab, ns: &str, dev: &str, stat: &str) -> u64 {
    lab.exec(
        ns,
        ["cat", &format!("/sys/class/net/{dev}/statistics/{stat}")],
    )
    .ok()
    .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
    .unwrap_or(0)
}

struct Srv6dProc {
    child: Child,
    log: PathBuf,
}

impl Srv6dProc {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn start(lab: &Lab, bin: &Path, cfg: &Path, log: PathBuf, core: usize) -> Res<Srv6dProc> {
        let mut cmd = lab.command(
            "sut",
            [
                bin.as_os_str(),
                "run".as_ref(),
                "--config".as_ref(),
                cfg.as_os_str(),
                "--cores".as_ref(),
                core.to_string().as_ref(),
                "--workers".as_ref(),
                "1".as_ref(),
                "--stats-interval".as_ref(),
                "1".as_ref(),
            ],
        );
        let errf = std::fs::File::create(&log).map_err(e("srv6d log"))?;
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(errf);
        let child = cmd.spawn().map_err(e("spawn srv6d"))?;
        let p = Srv6dProc { child, log };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if p.log().contains("srv6d running") {
                return Ok(p);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("srv6d did not start; log:\n{}", p.log()))
    }

    fn stop(mut self) -> Res<String> {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().map_err(e("wait srv6d"))? {
                let log = self.log();
                let line = log
                    .lines()
                    .find(|l| l.contains("final counters"))
                    .map(|l| {
                        l.split_once("final counters")
                            .map(|(_, r)| r.trim_start_matches(':').trim().to_string())
                            .unwrap_or_default()
                    })
                    .unwrap_or_else(|| format!("(no final counters; exit {status}):\n{log}"));
                return Ok(line);
            }
            if start.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("srv6d did not stop; log:\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Srv6dProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the generator and the sink for one phase.
fn traffic(lab: &Lab, o: &Opts, sut: Sut) -> Res<(io::GenResult, io::SinkResult)> {
    let (gen_if, sink_if) = ("bg0", "bs0");
    let encap = |src: Ipv6Addr| frames::Expect::Encap {
        outer_src: src.octets(),
    };
    // (template, where the inner packet starts (None: STAMP), expected)
    let (template, inner_off, expect) = match sut {
        Sut::Ceiling => (
            frames::encap_frame(LAN_MAC, GEN_MAC, CEILING_SRC, 0),
            Some(frames::inner_offset(true)),
            encap(CEILING_SRC),
        ),
        Sut::Kernel | Sut::Srv6d => (
            frames::gen_frame(LAN_MAC, GEN_MAC, 0),
            Some(frames::inner_offset(false)),
            encap(if sut == Sut::Kernel {
                KERNEL_SRC
            } else {
                SRV6D_SRC
            }),
        ),
        Sut::Stamp => (
            frames::stamp_frame(LAN_MAC, GEN_MAC),
            None,
            frames::Expect::Stamp,
        ),
    };
    let gen_core = o.gen_core;
    let xsk_sink = !o.packet_sink;
    let receive = |ready: &AtomicBool, stop: &AtomicBool| {
        lab.in_ns("sink", || {
            let _ = sys::pin_current(gen_core);
            let _ = sys::set_fifo(0, 40);
            if xsk_sink {
                io::xsk_sink(sink_if, &expect, ready, stop)
            } else {
                io::sink(sink_if, &expect, ready, stop)
            }
        })
        .map_err(e("enter sink"))?
        .map_err(|err| err.to_string())
    };
    let send = || {
        // Attaching the sink's XDP program may have re-created its NAPI thread.
        let _ = pin_sink_napi(sink_if, gen_core);
        lab.in_ns("gen", || {
            let _ = sys::pin_current(gen_core);
            if !o.no_rt {
                // Other work on the machine is pushed onto the generator's
                // core while the SUT core is busy: keep the generator ahead
                // of it (the sink's threads, SCHED_FIFO, still come first).
                let _ = sys::set_nice(0, -20);
            }
            match inner_off {
                Some(off) => io::generate(
                    gen_if,
                    &template,
                    |f, seq| frames::set_seq(&mut f[off..], seq),
                    o.seconds,
                    o.rate,
                ),
                // Sequence number and flow (source port) per frame, UDP
                // checksum fixed up incrementally.
                None => io::generate(gen_if, &template, frames::set_stamp_seq, o.seconds, o.rate),
            }
        })
        .map_err(e("enter gen"))?
        .map_err(|err| err.to_string())
    };
    // Frames in flight (NAPI rings, srv6d's rings) arrive well within 300 ms.
    io::send_and_receive(receive, send, Duration::from_secs(5), || {
        std::thread::sleep(Duration::from_millis(300))
    })
}

fn run_phase(lab: &Lab, o: &Opts, dir: &Path, sut: Sut, round: usize) -> Res<Phase> {
    let mut srv6d = None;
    match sut {
        Sut::Kernel => {
            lab.ip("sut", kernel_route().to_args())
                .map_err(e("add the kernel seg6 route"))?;
        }
        Sut::Srv6d | Sut::Stamp => {
            let (name, config) = if sut == Sut::Srv6d {
                ("srv6d", srv6d_config())
            } else {
                ("srv6d-stamp", srv6d_stamp_config())
            };
            let cfg = dir.join(format!("{name}.toml"));
            std::fs::write(&cfg, config).map_err(e("write srv6d config"))?;
            let log = dir.join(format!("{name}-round{round}.log"));
            srv6d = Some(Srv6dProc::start(lab, &o.srv6d, &cfg, log, o.sut_core)?);
        }
        Sut::Ceiling => {}
    }
    // XDP programs coming and going can leave the device's NAPI instance
    // unthreaded although `threaded` still reads 1 (a write of the same
    // value is a no-op): turn it off and on, then pin the fresh thread.
    for v in ["0", "1"] {
        lab.exec_ok(
            "sut",
            [
                "sh",
                "-c",
                &format!("echo {v} > /sys/class/net/bl0/threaded"),
            ],
        )
        .map_err(e("toggle threaded NAPI on bl0"))?;
    }
    // Threads are (re)created when XDP programs come and go: pin every phase.
    let lan_core = if sut.is_srv6d() {
        o.srv6d_napi_core
    } else {
        o.sut_core
    };
    // (what, pid, tid)
    let mut tracked: Vec<(String, i32, i32)> = Vec::new();
    for t in pin_napi("bl0", lan_core)? {
        if !o.no_rt {
            sys::set_nice(t, -20).map_err(e("nice -20 for the SUT's NAPI thread"))?;
        }
        tracked.push(("napi bl0 (SUT rx)".into(), t, t));
    }
    for t in pin_sink_napi("bs0", o.gen_core)? {
        tracked.push(("napi bs0 (sink rx)".into(), t, t));
    }
    if let Some(p) = &srv6d {
        let pid = p.child.id();
        for (t, comm) in sys::threads(pid) {
            if comm.starts_with("srv6d-w") {
                if !o.no_rt {
                    sys::set_nice(t, -20).map_err(e("nice -20 for srv6d's worker"))?;
                }
                tracked.push(("srv6d worker".into(), pid as i32, t));
            } else {
                tracked.push((format!("srv6d thread {comm}"), pid as i32, t));
            }
        }
    }
    std::thread::sleep(Duration::from_millis(300));

    let load_before = sys::loadavg();
    let cpu0 = sys::cpu_times();
    let task0: Vec<Option<(u64, i64)>> = tracked
        .iter()
        .map(|(_, p, t)| sys::task_cpu(*p, *t))
        .collect();
    let (sink_if, gen_if) = ("bs0", "bg0");
    let rx0 = link_stat(lab, "sink", sink_if, "rx_packets");
    let drop0 = link_stat(lab, "gen", gen_if, "tx_dropped");
    let sdrop0 = link_stat(lab, "sut", "bw0", "tx_dropped");

    let traffic_result = traffic(lab, o, sut);

    let rx1 = link_stat(lab, "sink", sink_if, "rx_packets");
    let drop1 = link_stat(lab, "gen", gen_if, "tx_dropped");
    let sdrop1 = link_stat(lab, "sut", "bw0", "tx_dropped");
    let cpu1 = sys::cpu_times();
    let hz = sys::hz();
    let tasks: Vec<TaskUse> = tracked
        .iter()
        .zip(task0)
        .map(|((what, pid, tid), before)| {
            let after = sys::task_cpu(*pid, *tid);
            let (cpu_s, last_cpu) = match (before, after) {
                (Some((b, _)), Some((a, psr))) => (a.saturating_sub(b) as f64 / hz, psr),
                _ => (0.0, -1),
            };
            TaskUse {
                what: what.clone(),
                tid: *tid,
                allowed: sys::affinity_list(*tid),
                cpu_s,
                last_cpu,
            }
        })
        .collect();
    let load_after = sys::loadavg();
    let srv6d_counters = match srv6d {
        Some(p) => Some(p.stop()?),
        None => None,
    };
    if sut == Sut::Kernel {
        lab.ip("sut", ["-6", "route", "del", "2001:db8:2::/64"])
            .map_err(e("delete the kernel seg6 route"))?;
    }
    let (gen, sink) = traffic_result?;
    let cpus = cpu0
        .iter()
        .zip(&cpu1)
        .enumerate()
        .map(|(i, (a, b))| {
            let d: Vec<u64> = (0..8).map(|k| b[k].saturating_sub(a[k])).collect();
            let total: u64 = d.iter().sum::<u64>().max(1);
            let idle = d[3] + d[4];
            (
                i,
                100.0 * (total - idle) as f64 / total as f64,
                100.0 * d[6] as f64 / total as f64,
            )
        })
        .collect();
    let parsed = srv6d_counters.as_deref().and_then(Srv6dCounters::parse);
    Ok(Phase {
        sut,
        round,
        gen,
        sink,
        srv6d: parsed,
        sink_link_rx: rx1.saturating_sub(rx0),
        gen_link_tx_dropped: drop1.saturating_sub(drop0),
        sut_link_tx_dropped: sdrop1.saturating_sub(sdrop0),
        srv6d_counters,
        load_before,
        load_after,
        cpus,
        tasks,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn encap_quick(o: &Opts) -> Res<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("needs root (namespaces, XDP, packet sockets)".into());
    }
    if !o.srv6d.exists() {
        return Err(format!(
            "no srv6d binary at {} (build it with `cargo build --release -p control --bin srv6d`, \
             or pass --srv6d PATH / set SRV6D)",
            o.srv6d.display()
        ));
    }
    if let KernelBaseline::Ipv6Fwd { missing } = KernelBaseline::probe() {
        return Err(format!(
            "its kernel phase needs the kernel's seg6 (CONFIG_IPV6_SEG6_LWTUNNEL), which this \
             kernel lacks (an `encap seg6` route in a scratch namespace: {}); the RFC 2544 run \
             (`srv6bench` without a subcommand) compares srv6d with the kernel's plain \
             forwarding (kernel-ipv6-fwd) instead",
            missing.trim()
        ));
    }
    let srv6d = std::fs::canonicalize(&o.srv6d).map_err(e("srv6d path"))?;
    let mut o = o.clone();
    o.srv6d = srv6d;
    let dir = std::env::temp_dir().join(format!("srv6bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(e("temp dir"))?;
    let lab = topology()?;
    // A veth hands a frame to its peer's NAPI (rather than to the sending
    // CPU's backlog) only if the sender has no TSO (or the peer has XDP).
    for (ns, dev) in [("gen", "bg0"), ("sut", "bw0")] {
        lab.exec_ok(ns, ["ethtool", "-K", dev, "tso", "off"])
            .map_err(e("ethtool tso off"))?;
    }
    threaded_napi(&lab, "sut", "bl0")?;
    threaded_napi(&lab, "sink", "bs0")?;

    let spin_stop = std::sync::Arc::new(AtomicBool::new(false));
    let spinner = if o.sut_idle_poll {
        let stop = spin_stop.clone();
        let core = o.sut_core;
        Some(std::thread::spawn(move || {
            let _ = sys::pin_current(core);
            let _ = sys::set_idle_class();
            while !stop.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        }))
    } else {
        None
    };
    let started = sys::loadavg();
    let sys::Host {
        date,
        kernel: kernel_release,
        cpu_model,
        cpus: ncpus,
    } = sys::host();
    eprintln!("srv6bench encap-quick: {date}, {cpu_model} x {ncpus}, Linux {kernel_release}, load {started}");
    let mut order = vec![(Sut::Ceiling, 0)];
    for r in 0..o.rounds {
        order.push((Sut::Kernel, r));
        order.push((Sut::Srv6d, r));
        if o.stamp {
            order.push((Sut::Stamp, r));
        }
    }
    order.push((Sut::Ceiling, 1));
    let mut phases = Vec::new();
    for (sut, round) in order {
        let p = run_phase(&lab, &o, &dir, sut, round)?;
        eprintln!(
            "{:8} round {}: offered {:>9.0} pps, delivered {:>9.0} pps intact (loss {:5.1} %: \
             SUT input {}, inside SUT {}, sink input {}), sink link rx {}, other {}, sock drops {}, \
             load {} -> {}{}",
            sut.name(),
            round,
            p.offered_pps(),
            p.delivered_pps(),
            p.loss_pct(),
            p.lost_sut_input(),
            p.lost_inside(),
            p.lost_sink_input(),
            p.sink_link_rx,
            p.sink.other,
            p.sink.socket_drops,
            p.load_before,
            p.load_after,
            p.srv6d_counters
                .as_ref()
                .map(|c| format!("; srv6d: {c}"))
                .unwrap_or_default()
        );
        for t in &p.tasks {
            eprintln!(
                "           {} (tid {}, allowed CPUs {}): {:.2} s CPU, last on CPU {}",
                t.what, t.tid, t.allowed, t.cpu_s, t.last_cpu
            );
        }
        for s in &p.sink.samples {
            eprintln!("           other frame: {s}");
        }
        phases.push(p);
    }

    spin_stop.store(true, Ordering::Relaxed);
    if let Some(h) = spinner {
        let _ = h.join();
    }
    let med = |sut: Sut, f: fn(&Phase) -> f64| {
        median(phases.iter().filter(|p| p.sut == sut).map(f).collect())
    };
    let ceiling = med(Sut::Ceiling, Phase::delivered_pps);
    let kernel = med(Sut::Kernel, Phase::delivered_pps);
    let srv6 = med(Sut::Srv6d, Phase::delivered_pps);
    let ratio = if kernel > 0.0 {
        srv6 / kernel
    } else {
        f64::NAN
    };
    // STAMP reflection against srv6d's own H.Encaps, same run: the ratio
    // of the medians, and the median of each round's ratio (adjacent
    // phases, so closer in time).
    let stamp_med = med(Sut::Stamp, Phase::delivered_pps);
    let stamp_ratio = if o.stamp && srv6 > 0.0 {
        stamp_med / srv6
    } else {
        f64::NAN
    };
    let stamp_round_ratios: Vec<f64> = (0..o.rounds)
        .filter_map(|r| {
            let rate = |sut: Sut| {
                phases
                    .iter()
                    .find(|p| p.sut == sut && p.round == r)
                    .map(Phase::delivered_pps)
            };
            match (rate(Sut::Stamp), rate(Sut::Srv6d)) {
                (Some(st), Some(en)) if en > 0.0 => Some(st / en),
                _ => None,
            }
        })
        .collect();
    let stamp_ratio_rounds = if stamp_round_ratios.is_empty() {
        f64::NAN
    } else {
        median(stamp_round_ratios.clone())
    };
    let num = |x: f64| {
        if x.is_finite() {
            format!("{x:.4}")
        } else {
            "null".into()
        }
    };

    // Table.
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| phase | round | offered pps | delivered pps (intact) | loss % | lost at SUT input / inside SUT / at sink input | SUT threads: CPU s (allowed CPUs) | load avg (before → after) | label |"
    );
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---|---|---|---|");
    for p in &phases {
        let lbl = p.label(ceiling);
        let sut_threads: Vec<String> = p
            .tasks
            .iter()
            .filter(|t| {
                (t.allowed == o.sut_core.to_string() || t.what.starts_with("srv6d"))
                    && t.cpu_s >= 0.01
            })
            .map(|t| format!("{} {:.2} (CPU {})", t.what, t.cpu_s, t.allowed))
            .collect();
        let _ = writeln!(
            t,
            "| {} | {} | {:.0} | {:.0} | {:.1} | {} / {} / {} | {} | {} → {} | {} |",
            p.sut.name(),
            p.round,
            p.offered_pps(),
            p.delivered_pps(),
            p.loss_pct(),
            p.lost_sut_input(),
            p.lost_inside(),
            p.lost_sink_input(),
            if sut_threads.is_empty() {
                "–".to_string()
            } else {
                sut_threads.join(", ")
            },
            p.load_before,
            p.load_after,
            lbl
        );
    }
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "medians of delivered pps: generator ceiling {:.0}, kernel {:.0} (loss {:.1} %), srv6d {:.0} (loss {:.1} %); srv6d/kernel = {:.2}",
        ceiling,
        kernel,
        med(Sut::Kernel, Phase::loss_pct),
        srv6,
        med(Sut::Srv6d, Phase::loss_pct),
        ratio
    );
    if o.stamp {
        let _ = writeln!(
            t,
            "stamp (inline STAMP reflection, {}-octet frames) {:.0} (loss {:.1} %); \
             stamp/srv6d H.Encaps = {:.2} (ratio of the medians), {:.2} (median of the per-round ratios {})",
            frames::STAMP_FRAME,
            stamp_med,
            med(Sut::Stamp, Phase::loss_pct),
            stamp_ratio,
            stamp_ratio_rounds,
            stamp_round_ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "srv6d's final counters against the sink (sent = tx, for stamp: reflected; \
         unaccounted = sent - intact - sink input drops):"
    );
    for p in phases.iter().filter(|p| p.sut.is_srv6d()) {
        match (&p.srv6d, p.srv6d_unaccounted()) {
            (Some(c), Some(u)) => {
                let _ = writeln!(
                    t,
                    "  {} round {}: rx {} tx {} reflected {}; unaccounted {}; drops: {}; stamp discarded: {}",
                    p.sut.name(),
                    p.round,
                    c.rx,
                    c.tx,
                    c.reflected,
                    u,
                    c.drops,
                    c.discarded
                );
            }
            _ => {
                let _ = writeln!(
                    t,
                    "  {} round {}: srv6d's counters not read: {}",
                    p.sut.name(),
                    p.round,
                    p.srv6d_counters.as_deref().unwrap_or("(none)")
                );
            }
        }
    }
    println!("{t}");

    // JSON.
    let mut j = String::new();
    let _ = write!(
        j,
        "{{\"benchmark\":\"encap-quick\",\"date\":{},\"cpu_model\":{},\"cpus\":{},\"kernel\":{},\"frames\":{{\"offered_octets\":{},\"encapsulated_octets\":{},\"sids\":2,\"stamp_octets\":{}}},\
         \"seconds\":{},\"rate\":{},\"sut_core\":{},\"gen_core\":{},\"srv6d_napi_core\":{},\"rounds\":{},\"stamp_phase\":{},\"sut_and_gen_threads_nice_minus_20\":{},\"sut_idle_poll\":{},\"sink\":{},\
         \"srv6d\":{},\"load_at_start\":{},\"median_pps\":{{\"ceiling\":{:.0},\"kernel\":{:.0},\"srv6d\":{:.0},\"stamp\":{:.0}}},\
         \"ratio_srv6d_kernel\":{},\"ratio_stamp_srv6d\":{},\"ratio_stamp_srv6d_median_of_rounds\":{},\"phases\":[",
        json_str(&date),
        json_str(&cpu_model),
        ncpus,
        json_str(&kernel_release),
        frames::GEN_FRAME,
        frames::ENCAP_FRAME,
        frames::STAMP_FRAME,
        o.seconds,
        o.rate,
        o.sut_core,
        o.gen_core,
        o.srv6d_napi_core,
        o.rounds,
        o.stamp,
        !o.no_rt,
        o.sut_idle_poll,
        json_str(if o.packet_sink { "af_packet" } else { "af_xdp" }),
        json_str(&o.srv6d.display().to_string()),
        json_str(&started),
        ceiling,
        kernel,
        srv6,
        stamp_med,
        num(ratio),
        num(stamp_ratio),
        num(stamp_ratio_rounds)
    );
    for (i, p) in phases.iter().enumerate() {
        if i > 0 {
            j.push(',');
        }
        let tasks: Vec<String> = p
            .tasks
            .iter()
            .map(|t| {
                format!(
                    "{{\"what\":{},\"tid\":{},\"allowed_cpus\":{},\"cpu_seconds\":{:.3},\"last_cpu\":{}}}",
                    json_str(&t.what),
                    t.tid,
                    json_str(&t.allowed),
                    t.cpu_s,
                    t.last_cpu
                )
            })
            .collect();
        let cpus: Vec<String> = p
            .cpus
            .iter()
            .map(|(c, busy, si)| {
                format!("{{\"cpu\":{c},\"busy_pct\":{busy:.1},\"softirq_pct\":{si:.1}}}")
            })
            .collect();
        let _ = write!(
            j,
            "{{\"sut\":\"{}\",\"round\":{},\"seconds\":{:.3},\"offered\":{},\"accepted\":{},\"refused\":{},\
             \"intact\":{},\"other\":{},\"reordered\":{},\"sink_socket_drops\":{},\"sink_link_rx\":{},\
             \"gen_link_tx_dropped\":{},\"sut_link_tx_dropped\":{},\"lost_sut_input\":{},\"lost_inside_sut\":{},\"lost_sink_input\":{},\"offered_pps\":{:.0},\"delivered_pps\":{:.0},\"loss_pct\":{:.3},\
             \"label\":{},\"srv6d_counters\":{},\"srv6d_parsed\":{},\"srv6d_unaccounted\":{},\"load_before\":{},\"load_after\":{},\"cpus\":[{}],\"tasks\":[{}]}}",
            p.sut.name(),
            p.round,
            p.gen.elapsed,
            p.gen.offered,
            p.gen.accepted,
            p.gen.refused,
            p.sink.intact,
            p.sink.other,
            p.sink.reordered,
            p.sink.socket_drops,
            p.sink_link_rx,
            p.gen_link_tx_dropped,
            p.sut_link_tx_dropped,
            p.lost_sut_input(),
            p.lost_inside(),
            p.lost_sink_input(),
            p.offered_pps(),
            p.delivered_pps(),
            p.loss_pct(),
            json_str(p.label(ceiling)),
            p.srv6d_counters.as_deref().map(json_str).unwrap_or_else(|| "null".into()),
            p.srv6d
                .as_ref()
                .map(|c| format!(
                    "{{\"rx\":{},\"tx\":{},\"reflected\":{},\"drops\":{},\"stamp_discarded\":{}}}",
                    c.rx,
                    c.tx,
                    c.reflected,
                    json_str(&c.drops),
                    json_str(&c.discarded)
                ))
                .unwrap_or_else(|| "null".into()),
            p.srv6d_unaccounted()
                .map(|u| u.to_string())
                .unwrap_or_else(|| "null".into()),
            json_str(&p.load_before),
            json_str(&p.load_after),
            cpus.join(","),
            tasks.join(",")
        );
    }
    j.push_str("]}\n");
    std::fs::write(&o.json, j).map_err(e("write the JSON result"))?;
    eprintln!("JSON written to {}", o.json.display());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_srv6d_final_counters() {
        let line = "rx=1200 tx=1100 behaviours: local=1100 drops: udp_bad_checksum=3 \
                    neighbor_unresolved=97 stamp: reflected=1100 discarded: truncated=2 \
                    events: no_free_frame=5";
        let c = Srv6dCounters::parse(line).unwrap();
        assert_eq!((c.rx, c.tx, c.reflected), (1200, 1100, 1100));
        assert_eq!(c.drops, "udp_bad_checksum=3 neighbor_unresolved=97");
        assert_eq!(c.discarded, "truncated=2");
        let c = Srv6dCounters::parse(
            "rx=5 tx=5 behaviours: h_encaps=5 drops: none stamp: reflected=0 discarded: none",
        )
        .unwrap();
        assert_eq!((c.rx, c.tx, c.reflected), (5, 5, 0));
        assert_eq!((c.drops.as_str(), c.discarded.as_str()), ("none", "none"));
        let c = Srv6dCounters::parse(
            "rx=9 tx=8 behaviours: local=8 drops: no_route=1 stamp: reflected=8 discarded: none \
             sent=0 replies=0 reply_errors: none",
        )
        .unwrap();
        assert_eq!((c.rx, c.tx, c.reflected), (9, 8, 8));
        assert_eq!(
            (c.drops.as_str(), c.discarded.as_str()),
            ("no_route=1", "none")
        );
        assert_eq!(Srv6dCounters::parse("(no final counters; exit 1)"), None);
    }
}
