//! `srv6d`: the SRv6 router's command line.
//!
//! `check` validates a configuration file and prints what it configures;
//! `run` starts the router (AF_XDP engine, XDP steering programs, neighbour
//! monitor) and keeps it running until SIGINT/SIGTERM, reloading the file on
//! SIGHUP.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dataplane::engine::IdlePolicy;

/// Exit status of `check` for a configuration that was rejected.
const EXIT_INVALID: u8 = 2;

#[derive(Parser)]
#[command(
    name = "srv6d",
    version,
    about = "srv6d: a userspace SRv6 router for SD-WAN edges (AF_XDP)",
    long_about = "srv6d: a userspace SRv6 router for SD-WAN edges.\n\n\
        LAN ports sit in VRFs; their traffic is encapsulated (H.Encaps / H.Encaps.Red) \
        toward remote edges over the WAN ports, and arrives there at End.DT4 / End.DT6 \
        SIDs that decapsulate it into the right VRF. The router is described by one TOML \
        file; its format is in docs/config.md, with examples in examples/.\n\n\
        Commands: `check` validates a configuration file; `run` starts the router with it \
        (as root), reloads it on SIGHUP and shuts down cleanly on SIGINT/SIGTERM.",
    after_long_help = "EXAMPLES:\n  \
        srv6d check --config examples/edge1.toml\n      \
        Validate edge1's configuration and print its ports, VRFs, SIDs, policies and routes.\n\n  \
        srv6d check -c /etc/srv6d/edge.toml && echo valid\n      \
        Use the exit status in scripts: 0 valid, 2 rejected.\n\n  \
        sudo srv6d run --config examples/edge1.toml\n      \
        Run edge1; `kill -HUP <pid>` reloads the file, Ctrl-C stops it."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a configuration file and print a summary of it.
    #[command(
        long_about = "Validate a configuration file and print a summary of it.\n\n\
            The whole file is checked: syntax, unknown keys, names, addresses and \
            prefixes, and every reference between sections (a route's policy, port and \
            VRF; a SID's VRF, port and next hop). If it is valid, the summary lists the \
            ports (with their PortId), the VRFs, the router's addresses, the SIDs, the SR \
            policies, the routes, and the prefixes the XDP program steers to the engine, \
            then any warnings. If not, every error found (up to 20) is printed to stderr \
            as FILE:LINE: KEY.PATH: what is wrong; expected what.\n\n\
            Exit status: 0 valid, 2 rejected (or unreadable).",
        after_long_help = "EXAMPLES:\n  \
            srv6d check --config examples/edge1.toml\n  \
            srv6d check -c edge.toml 2> errors.txt || cat errors.txt\n\n\
            An error looks like:\n  \
            edge.toml:97: route[3].policy: no policy named \"blue-v9\"; expected one of: blue-v4, blue-v6"
    )]
    Check {
        /// The TOML configuration file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run the router with a configuration file (needs root).
    #[command(
        long_about = "Run the router with a configuration file (needs root).\n\n\
            The file is validated as a whole first (as `check` does); nothing starts if it \
            is rejected. Then srv6d publishes the forwarding tables, starts the neighbour \
            monitor, attaches its XDP program to every port (driver mode, generic mode as \
            a logged fallback), opens one AF_XDP socket per port and rx queue, and starts \
            the workers. Only the packets srv6d owns reach it (its SIDs and addresses, \
            routed traffic on LAN ports); ARP, NDP and traffic to the host's own addresses \
            stay with the kernel.\n\n\
            SIGHUP re-reads the file: if it is valid and the ports are unchanged, the new \
            tables are published atomically while packets keep flowing; otherwise the \
            errors are logged and the running configuration stays. SIGINT or SIGTERM \
            detach the XDP programs (the kernel handles the ports again), stop the \
            workers and print the final counters and the frame accounting. If a worker \
            or the neighbour monitor dies, srv6d logs why and stops the same way, with \
            exit status 1.\n\n\
            The counters line: rx=N tx=N behaviours: NAME=N... (packets each behaviour \
            ran on: h_encaps, h_encaps_red, end, end_x, end_dt4, end_dt6, end_dt46, \
            end_dx4, end_dx6, ipv4_forward, ipv6_forward, local) drops: REASON=N... \
            (every dropped packet under one named reason) stamp: reflected=N (STAMP test \
            packets answered by the inline reflector) discarded: REASON=N... and, if any, events: \
            no_free_frame=N (times a fill ring found no free frame).\n\n\
            Logs go to stderr; set the level with --log-level or RUST_LOG.\n\n\
            Exit status: 0 after a clean shutdown, 1 if the router could not start, failed \
            while running, or had frames unaccounted for at shutdown, 2 if the \
            configuration was rejected.",
        after_long_help = "EXAMPLES:\n  \
            sudo srv6d run --config examples/edge1.toml\n  \
            sudo srv6d run -c edge.toml --workers 2 --stats-interval 5 --log-level debug"
    )]
    Run {
        /// The TOML configuration file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Worker threads; worker N serves rx queue N of every port, so each
        /// port needs at least this many queues.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        workers: u16,
        /// Pin worker N to the Nth core of this comma-separated list
        /// (e.g. `--cores 1` for one worker on core 1); unpinned if absent.
        #[arg(long, value_delimiter = ',', value_name = "CORE,...")]
        cores: Vec<usize>,
        /// What a worker does when it finds no packet: `spin` keeps polling
        /// (lowest latency, one core at 100 %), `yield` gives the core to
        /// other threads between polls, `sleep` sleeps 50 µs after a run of
        /// empty polls (shared or small machines, tests, demos).
        #[arg(long, default_value = "spin", value_parser = ["spin", "yield", "sleep"])]
        idle: String,
        /// Ask the kernel for busy polling on the AF_XDP sockets
        /// (SO_PREFER_BUSY_POLL, SO_BUSY_POLL): the worker's polls drive the
        /// driver instead of interrupts.
        #[arg(long)]
        busy_poll: bool,
        /// Log the counters every this many seconds (0: only at shutdown).
        #[arg(long, default_value_t = 10, value_name = "SECONDS")]
        stats_interval: u64,
        /// Log level (error, warn, info, debug, trace) unless RUST_LOG is set.
        #[arg(long, default_value = "info", value_name = "LEVEL")]
        log_level: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Run {
            config,
            workers,
            cores,
            idle,
            busy_poll,
            stats_interval,
            log_level,
        } => {
            let idle = match idle.as_str() {
                "yield" => IdlePolicy::Yield,
                "sleep" => IdlePolicy::Sleep(std::time::Duration::from_micros(50)),
                _ => IdlePolicy::Spin,
            };
            let engine = control::router::EngineOptions {
                workers: usize::from(workers),
                cores,
                idle,
                busy_poll,
            };
            run(&config, engine, stats_interval, &log_level)
        }
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match control::config::load_file(path) {
        Ok(loaded) => {
            print!("{}", loaded.summary());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            print_errors(&errors);
            ExitCode::from(EXIT_INVALID)
        }
    }
}

fn print_errors(errors: &control::config::ConfigErrors) {
    eprintln!("{errors}");
    eprintln!(
        "{}: configuration rejected ({} error{})",
        errors.file(),
        errors.count(),
        if errors.count() == 1 { "" } else { "s" }
    );
}

fn counters_line(c: &dataplane::engine::Counters) -> String {
    use dataplane::engine::EngineDrop;
    let nonzero = |pairs: &mut dyn Iterator<Item = (&&'static str, &u64)>| -> String {
        let list: Vec<String> = pairs
            .filter(|(_, n)| **n > 0)
            .map(|(name, n)| format!("{name}={n}"))
            .collect();
        if list.is_empty() {
            "none".to_string()
        } else {
            list.join(" ")
        }
    };
    let is_event = |name: &str| {
        EngineDrop::ALL
            .iter()
            .any(|d| d.is_event() && d.name() == name)
    };
    let mut line = format!(
        "rx={} tx={} behaviours: {} drops: {}",
        c.rx,
        c.tx,
        nonzero(&mut c.behaviors.iter()),
        nonzero(
            &mut c
                .drops
                .iter()
                .chain(c.engine.iter().filter(|(name, _)| !is_event(name)))
        ),
    );
    line.push_str(&format!(
        " stamp: reflected={} discarded: {}",
        c.stamp_reflected,
        nonzero(&mut c.stamp_discards.iter())
    ));
    let events = nonzero(&mut c.engine.iter().filter(|(name, _)| is_event(name)));
    if events != "none" {
        line.push_str(" events: ");
        line.push_str(&events);
    }
    line
}

fn run(
    path: &std::path::Path,
    engine: control::router::EngineOptions,
    stats_interval: u64,
    log_level: &str,
) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(log_level));
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            eprintln!("srv6d run: bad log level {log_level:?}: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let loaded = match control::config::load_file(path) {
        Ok(loaded) => loaded,
        Err(errors) => {
            print_errors(&errors);
            return ExitCode::from(EXIT_INVALID);
        }
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "srv6d run: needs root (it attaches XDP programs and opens AF_XDP sockets); \
             run it with sudo or as root"
        );
        return ExitCode::FAILURE;
    }
    // The signal handlers are installed before anything is attached, so a
    // SIGTERM during start-up cannot kill the process with XDP programs left
    // on the interfaces: it is seen once the router is up, which then stops
    // cleanly.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("srv6d run: cannot start the signal loop: {e}");
            return ExitCode::FAILURE;
        }
    };
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        let _context = runtime.enter();
        (|| {
            Ok::<_, std::io::Error>((
                signal(SignalKind::hangup())?,
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        })()
    };
    let (mut hup, mut int, mut term) = match signals {
        Ok(s) => s,
        Err(e) => {
            eprintln!("srv6d run: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut router = match control::router::Router::start(loaded, engine) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("srv6d run: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let period = std::time::Duration::from_secs(stats_interval.max(1));
        let mut ticker = tokio::time::interval(period);
        ticker.tick().await;
        let mut health = tokio::time::interval(std::time::Duration::from_millis(500));
        health.tick().await;
        let mut failed = false;
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    tracing::info!(file = %path.display(), "SIGHUP: reloading");
                    match control::config::load_file(path) {
                        Ok(next) => match router.reload(next) {
                            Ok(s) => tracing::info!(
                                owned_added = s.owned_added,
                                owned_removed = s.owned_removed,
                                "configuration reloaded"
                            ),
                            Err(e) => tracing::error!("{e}"),
                        },
                        Err(errors) => tracing::error!(
                            "reload refused, the running configuration stays:\n{errors}"
                        ),
                    }
                }
                _ = health.tick() => {
                    if let Err(e) = router.check() {
                        tracing::error!("{e}; stopping");
                        failed = true;
                        break;
                    }
                }
                _ = int.recv() => break,
                _ = term.recv() => break,
                _ = ticker.tick(), if stats_interval > 0 => {
                    if let Some(c) = router.counters() {
                        tracing::info!("counters: {}", counters_line(&c));
                    }
                }
            }
        }
        Ok::<bool, std::io::Error>(failed)
    });
    let failed = match outcome {
        Ok(failed) => failed,
        Err(e) => {
            tracing::error!("signal handling failed: {e}");
            true
        }
    };
    tracing::info!("shutting down");
    let last = router.counters();
    if let Some(c) = last {
        tracing::info!("final counters: {}", counters_line(&c));
    }
    match router.stop() {
        Ok(accounting) => {
            tracing::info!(
                total = accounting.total,
                accounted = accounting.accounted(),
                "UMEM frames at shutdown"
            );
            if !accounting.balanced() {
                tracing::error!(?accounting, "UMEM frames unaccounted for at shutdown");
                ExitCode::FAILURE
            } else if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            tracing::error!("shutdown: {e}");
            ExitCode::FAILURE
        }
    }
}
