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
    /// Run the router (needs root): from a configuration file, a state file, or the gRPC API.
    #[command(
        long_about = "Run the router (needs root).\n\n\
            Its configuration comes from the state file (--state, the configuration last \
            applied through the API) if it exists, else from --config FILE, else it starts \
            empty and waits for one over gRPC (srv6ctl, or a controller using the srv6d.v1 \
            or srv6pm STAMP API, docs/grpc.md). The gRPC agent listens on \
            127.0.0.1:50051 unless --grpc says otherwise; every change it accepts is \
            validated as a whole, published without stopping forwarding and persisted \
            to the state file before the call returns.\n\n\
            With --dataplane kernel the same configuration programs the Linux kernel's \
            seg6 over rtnetlink instead of the AF_XDP engine.\n\n\
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
            packets answered by the inline reflector) discarded: REASON=N... sent=N replies=N \
            (the engine's [[stamp_sender]] sessions: test packets sent, replies taken) \
            reply_errors: REASON=N... and, if any, events: \
            no_free_frame=N (times a fill ring found no free frame).\n\n\
            Each [[stamp_sender]] session of the file runs in the engine from start-up \
            (a SIGHUP keeps unchanged sessions running, restarts changed ones). With the \
            counters, and at shutdown, srv6d logs one line per session: stamp sender NAME: \
            sent, received, lost, duplicates, reordered, late and the round trip in µs \
            (min/p50/p99/max); --stamp-results FILE writes, at shutdown, one JSON object \
            per session and line (the `srv6d stamp send --json` report plus the engine's \
            counters and every record kept: [seq, T1, T2, T3, T4, sender TTL]).\n\n\
            Logs go to stderr; set the level with --log-level or RUST_LOG.\n\n\
            Exit status: 0 after a clean shutdown, 1 if the router could not start, failed \
            while running, or had frames unaccounted for at shutdown, 2 if the \
            configuration was rejected.",
        after_long_help = "EXAMPLES:\n  \
            sudo srv6d run --config examples/edge1.toml\n  \
            sudo srv6d run -c edge.toml --workers 2 --stats-interval 5 --log-level debug\n  \
            sudo srv6d run --state /var/lib/srv6d/edge1.toml --metrics 127.0.0.1:9586\n      \
            Start from the last applied configuration (or empty), take changes over gRPC.\n  \
            sudo srv6d run -c edge.toml --dataplane kernel\n      \
            The same configuration on the kernel's seg6 (the RFC 2544 baseline).\n  \
            sudo srv6d run --grpc [::]:50051 --tls-cert s.pem --tls-key s.key --tls-client-ca ca.pem\n      \
            A remote agent that only clients with a certificate from ca.pem may use."
    )]
    Run {
        /// The TOML configuration file to start with (optional: without it,
        /// the state file or the gRPC API provide the configuration).
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Where the configuration applied through the API is persisted
        /// (atomically) and restored from at start-up; when it exists it wins
        /// over --config. Default: /var/lib/srv6d/state.toml without --config,
        /// none with it.
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// What forwards: `afxdp` (srv6d's engine) or `kernel` (the Linux
        /// kernel's seg6, programmed over rtnetlink: the baseline, and the
        /// fallback without AF_XDP; no End.DT4/End.DT46, no STAMP sessions).
        #[arg(long, default_value = "afxdp", value_parser = ["afxdp", "kernel"])]
        dataplane: String,
        /// Where the gRPC agent listens (srv6d.v1 and srv6pm), or `off`.
        /// Beyond loopback it needs --tls-client-ca (mTLS) or --token-file,
        /// or --insecure.
        #[arg(long, default_value = "127.0.0.1:50051", value_name = "ADDR:PORT|off")]
        grpc: String,
        /// The agent's TLS certificate (PEM).
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The agent's TLS private key (PEM).
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Require client certificates signed by this CA (PEM): mTLS.
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_client_ca: Option<PathBuf>,
        /// Require `authorization: Bearer <token>` with the token in this
        /// file (at least 16 characters).
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Let the agent listen beyond loopback without credentials
        /// (logged loudly): anyone reaching it can reprogram the router.
        #[arg(long)]
        insecure: bool,
        /// Serve Prometheus metrics on GET /metrics at this address.
        #[arg(long, value_name = "ADDR:PORT")]
        metrics: Option<std::net::SocketAddr>,
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
        /// At shutdown, write the [[stamp_sender]] sessions' results here
        /// (JSON, one session per line; replaced atomically).
        #[arg(long, value_name = "FILE")]
        stamp_results: Option<PathBuf>,
    },
    /// Measure delay and loss with STAMP over kernel sockets (no router needed).
    #[command(
        long_about = "Measure delay and loss with STAMP (RFC 8762, RFC 8972) over plain \
            kernel UDP sockets: works on any Linux host, with or without a running srv6d \
            router.\n\n\
            `send` is the Session-Sender: it sends test packets to a reflector, directly \
            or through SRv6 SIDs (--segments), and prints loss, duplicates, reordering, \
            the round trip, the one-way delays and the delay variation. `reflect` is the \
            Session-Reflector: it answers test packets until SIGINT/SIGTERM. The other end \
            may be srv6d's inline reflector (on by default on router.stamp_port, see docs/config.md) or any \
            RFC 8762 implementation.\n\n\
            Packets with a Segment Routing Header are dropped by Linux, even at their \
            final destination, unless seg6 is enabled for all interfaces and the receiving \
            one: sysctl -w net.ipv6.conf.all.seg6_enabled=1 \
            net.ipv6.conf.IFACE.seg6_enabled=1 (on the reflector for --segments, on the \
            sender when replies come back through SIDs).",
        after_long_help = "EXAMPLES:\n  \
            srv6d stamp reflect\n      \
            Answer test packets on [::]:862 until Ctrl-C, then print the counters.\n\n  \
            srv6d stamp send --reflector 2001:db8::2 --count 100\n      \
            100 test packets 10 ms apart, plain IPv6; a summary table.\n\n  \
            srv6d stamp send --reflector fc00:2::862 --segments fc00:7::e --interval 1ms --duration 10s --json\n      \
            Through the SID fc00:7::e, 1000 packets a second for 10 s; one JSON object."
    )]
    Stamp {
        #[command(subcommand)]
        command: StampCommand,
    },
}

#[derive(Subcommand)]
enum StampCommand {
    /// Send test packets to a reflector and print the session's statistics.
    #[command(
        long_about = "Send test packets to a reflector and print the session's statistics.\n\n\
            Packets leave every --interval against absolute deadlines (no drift), until \
            --count packets or --duration have passed (or Ctrl-C; without either, until \
            Ctrl-C); then replies are awaited for --wait. T1 is read just before the packet \
            is handed to the kernel, T4 is the kernel's receive timestamp, T2 and T3 are the \
            reflector's.\n\n\
            The table: sent, received, lost (sent - received: includes replies that did not \
            come back within --wait), duplicates, reordered; the round trip \
            ((T4 - T1) - (T3 - T2)), the reflector's residence time (T3 - T2), forward \
            (T2 - T1) and backward (T4 - T3) delays, and |IPDV| of the round trip, each as \
            min, mean, p50, p90, p99, max and standard deviation in microseconds; the \
            RFC 3550 jitter. Forward and backward delays are valid only with synchronised \
            clocks: say so with --clocks-synchronized, otherwise they are printed with that \
            caveat (their spread is still meaningful). --json prints one JSON object \
            instead, delays in nanoseconds.\n\n\
            Exit status: 0 the session ran (whatever the loss), 1 it could not run (no \
            route, address not available, ...), 2 bad arguments.",
        after_long_help = "EXAMPLES:\n  \
            srv6d stamp send --reflector 2001:db8::2\n  \
            srv6d stamp send --reflector fc00:2::862 --segments fc00:7::e,fc00:8::e --count 1000 --interval 1ms\n  \
            srv6d stamp send --reflector 2001:db8::2 --key 73656372657421 --length 128 --json"
    )]
    Send {
        /// The reflector's address: the test packets' final destination
        /// (IPv6, or IPv4: STAMP over IPv4, without --segments).
        #[arg(long, value_name = "ADDR")]
        reflector: std::net::IpAddr,
        /// SRv6 SIDs to visit before the reflector, in travel order (an SRH
        /// is attached); absent: plain IPv6.
        #[arg(long, value_delimiter = ',', value_name = "SID,...")]
        segments: Vec<std::net::Ipv6Addr>,
        /// Source address to send from (default: the kernel's choice).
        #[arg(long, value_name = "ADDR")]
        source: Option<std::net::IpAddr>,
        /// UDP source port (0: any).
        #[arg(long, default_value_t = 0, value_name = "PORT")]
        source_port: u16,
        /// The reflector's UDP port.
        #[arg(long, default_value_t = control::stamp_socket::STAMP_PORT, value_name = "PORT")]
        port: u16,
        /// Session-Sender Identifier (RFC 8972).
        #[arg(long, default_value_t = 1, value_name = "N")]
        ssid: u16,
        /// Time between test packets (at least 1ms), e.g. 1ms, 10ms, 1s.
        #[arg(long, default_value = "10ms", value_parser = control::stamp_socket::parse_duration, value_name = "DURATION")]
        interval: std::time::Duration,
        /// Stop after this many test packets.
        #[arg(long, conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..), value_name = "N")]
        count: Option<u64>,
        /// Stop sending after this long, e.g. 10s.
        #[arg(long, value_parser = control::stamp_socket::parse_duration, value_name = "DURATION")]
        duration: Option<std::time::Duration>,
        /// UDP data length of each test packet: 44 (the base packet) or
        /// 48-1400 (an Extra Padding TLV fills the rest); authenticated
        /// mode needs at least 112 and raises shorter lengths to it.
        #[arg(long, default_value_t = 44, value_name = "OCTETS")]
        length: usize,
        /// HMAC key in hexadecimal: authenticated mode (RFC 8762 §4.4).
        #[arg(long, value_parser = control::stamp_socket::parse_hex_key, value_name = "HEX")]
        key: Option<stamp::auth::HmacKey>,
        /// Format of the sender's timestamps.
        #[arg(long, default_value = "ntp", value_parser = ["ntp", "ptp"])]
        timestamp: String,
        /// After the last test packet, wait this long for replies.
        #[arg(long, default_value = "1s", value_parser = control::stamp_socket::parse_duration, value_name = "DURATION")]
        wait: std::time::Duration,
        /// The sender's and the reflector's clocks are synchronised (PTP,
        /// NTP): the one-way delays are meaningful.
        #[arg(long)]
        clocks_synchronized: bool,
        /// Print one JSON object (delays in nanoseconds) instead of the table.
        #[arg(long)]
        json: bool,
        /// The reflector may be a TWAMP-light responder (RFC 8762 §4.6):
        /// take replies of 41 octets or more whose SSID is 0 (TWAMP's MBZ)
        /// or --ssid, whatever their length. Unauthenticated only; use
        /// --ssid 0 to send what a TWAMP-light responder echoes.
        #[arg(long, conflicts_with = "key")]
        twamp_light: bool,
    },
    /// Answer STAMP test packets until SIGINT/SIGTERM, then print the counters.
    #[command(
        long_about = "Answer STAMP test packets until SIGINT/SIGTERM, then print the counters.\n\n\
            Every test packet to --bind:--port is reflected (RFC 8762 §4.3, the TLVs of \
            RFC 8972): T2 is the kernel's receive timestamp, Sender TTL the Hop Limit it \
            arrived with; the reply goes back to the sender's address and port, from the \
            address the test packet was sent to, with the received DSCP (or the Class of \
            Service TLV's). Unknown SSIDs are answered unauthenticated unless \
            --drop-unknown-ssid; --ssid declares the known ones (authenticated with --key).\n\n\
            Return path: a --session SSID:SID,... reply is sent to the first SID with a \
            Segment Routing Header listing the SIDs, the last of which must be the \
            sender's own address (the complete return path, as srv6pm's return_sidlist; \
            nothing is appended). Every other reply (sessions without --session, unknown \
            SSIDs) is plain IPv6/UDP straight to the test packet's source address and port \
            (RFC 8762 §4.3). A test packet shorter than 44 octets (a TWAMP-light sender's, \
            14 octets or more) gets the 44-octet base reply, the octets it did not send read \
            as zero (SSID 0 if it stopped before octet 16) (RFC 8762 §4.6).\n\n\
            Abuse (docs/decisions/0011): no reply goes to a source no sender can have \
            (multicast, unspecified, IPv4-mapped; loopback only from the loopback \
            interface; link-local is answered, its reply stays on the link), to a source \
            port below 1024 or equal to --port, or for a test packet sent to a group \
            (stamp_bad_source); no reply is larger than its request unless the session \
            is authenticated and has a --session path (stamp_would_amplify); each reply \
            destination (an IPv6 /64) gets at most --rate-limit replies a second \
            (stamp_rate_limited).\n\n\
            The counters line at exit: received=N reflected=N send_failed=N discarded: \
            REASON=N... (stamp_truncated, stamp_rate_limited, stamp_unknown_ssid, \
            stamp_bad_hmac, stamp_bad_source, stamp_would_amplify).\n\n\
            Exit status: 0 after SIGINT/SIGTERM, 1 if the socket could not be opened or \
            failed, 2 bad arguments.",
        after_long_help = "EXAMPLES:\n  \
            srv6d stamp reflect\n  \
            srv6d stamp reflect --bind fc00:2::862 --stateful --rate-limit 1000\n  \
            srv6d stamp reflect --ssid 7 --key 73656372657421 --drop-unknown-ssid\n  \
            srv6d stamp reflect --session 7:fc00:7::e,2001:db8::1 --session 8:2001:db8::2"
    )]
    Reflect {
        /// Address to listen on (`::`: all of this host's, IPv6 and IPv4;
        /// an IPv4 address: that one only).
        #[arg(long, default_value = "::", value_name = "ADDR")]
        bind: std::net::IpAddr,
        /// UDP port to listen on.
        #[arg(long, default_value_t = control::stamp_socket::STAMP_PORT, value_name = "PORT")]
        port: u16,
        /// Stateful: replies carry the reflector's own sequence numbers per
        /// session, so the sender can tell forward from backward loss.
        #[arg(long)]
        stateful: bool,
        /// Discard test packets whose SSID is not declared with --ssid.
        #[arg(long)]
        drop_unknown_ssid: bool,
        /// Known sessions' SSIDs (comma-separated or repeated).
        #[arg(long, value_delimiter = ',', value_name = "SSID,...")]
        ssid: Vec<u16>,
        /// HMAC key in hexadecimal: the --ssid and --session sessions are
        /// authenticated.
        #[arg(long, value_parser = control::stamp_socket::parse_hex_key, value_name = "HEX")]
        key: Option<stamp::auth::HmacKey>,
        /// At most N replies per second per source address (burst N). On by
        /// default; there is no "off", give a larger N.
        #[arg(long, default_value_t = stamp::reflector::DEFAULT_RATE_LIMIT.per_second,
              value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
        rate_limit: u32,
        /// A known session and the complete return path of its replies
        /// (repeat for more sessions): the reply goes to the first SID with
        /// an SRH listing them all, the last being the sender's own address
        /// (as srv6pm's return_sidlist; nothing is appended). Authenticated
        /// with --key like --ssid. Sessions without one are answered as
        /// plain IPv6/UDP straight to the test packet's source (RFC 8762).
        #[arg(long = "session", value_parser = control::stamp_socket::parse_session_path, value_name = "SSID:SID,...")]
        sessions: Vec<(u16, Vec<std::net::Ipv6Addr>)>,
    },
}

fn main() -> ExitCode {
    // `srv6d run`: until its handlers are installed (first thing in `run`,
    // before any file is read), a SIGHUP is ignored rather than fatal (its
    // default action ends the process: exit 129 for one sent 5 ms after
    // start, issue 15). Other subcommands keep the default.
    if std::env::args_os().nth(1).is_some_and(|a| a == "run") {
        // SAFETY: setting a signal's disposition to SIG_IGN has no
        // preconditions.
        unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Run {
            config,
            state,
            dataplane,
            grpc,
            tls_cert,
            tls_key,
            tls_client_ca,
            token_file,
            insecure,
            metrics,
            workers,
            cores,
            idle,
            busy_poll,
            stats_interval,
            log_level,
            stamp_results,
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
            run(RunArgs {
                config,
                state,
                dataplane,
                engine,
                grpc,
                listen: control::agent::auth::ListenOptions {
                    addr: None,
                    tls_cert,
                    tls_key,
                    tls_client_ca,
                    token_file,
                    insecure,
                },
                metrics,
                stats_interval,
                log_level,
                stamp_results,
            })
        }
        Command::Stamp { command } => stamp_command(command),
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
        " stamp: reflected={} discarded: {} sent={} replies={} reply_errors: {}",
        c.stamp_reflected,
        nonzero(&mut c.stamp_discards.iter()),
        c.stamp_sent,
        c.stamp_replies,
        nonzero(&mut c.stamp_reply_errors.iter())
    ));
    let icmp = nonzero(&mut c.icmp.iter());
    if icmp != "none" {
        line.push_str(" icmp: ");
        line.push_str(&icmp);
    }
    if c.tcp_mss_clamped > 0 {
        line.push_str(&format!(" tcp_mss_clamped={}", c.tcp_mss_clamped));
    }
    let events = nonzero(&mut c.engine.iter().filter(|(name, _)| is_event(name)));
    if events != "none" {
        line.push_str(" events: ");
        line.push_str(&events);
    }
    line
}

/// Everything `srv6d run` was given.
struct RunArgs {
    config: Option<PathBuf>,
    state: Option<PathBuf>,
    dataplane: String,
    engine: control::router::EngineOptions,
    grpc: String,
    listen: control::agent::auth::ListenOptions,
    metrics: Option<std::net::SocketAddr>,
    stats_interval: u64,
    log_level: String,
    stamp_results: Option<PathBuf>,
}

/// The agent, even after a panic while it was held (its state is a
/// validated document and the dataplane; no half-made change survives).
fn lock(
    agent: &std::sync::Mutex<control::agent::Agent>,
) -> std::sync::MutexGuard<'_, control::agent::Agent> {
    agent
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where the state is kept when neither --config nor --state is given.
const DEFAULT_STATE: &str = "/var/lib/srv6d/state.toml";

/// The configuration file as a document (validated first, so its errors
/// come with lines).
fn read_config_doc(
    path: &std::path::Path,
) -> Result<control::config::ConfigFile, control::config::ConfigErrors> {
    let loaded = control::config::load_file(path)?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let text = std::fs::read_to_string(path).unwrap_or_default();
    Ok(toml::from_str(&text).expect("a file the validator accepted has the document's shape"))
}

fn run(args: RunArgs) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&args.log_level));
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            eprintln!("srv6d run: bad log level {:?}: {e}", args.log_level);
            return ExitCode::from(EXIT_INVALID);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("srv6d run: cannot start the control runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The signal handlers are installed first of all, before the files are
    // read and anything is attached: a SIGTERM during start-up cannot kill
    // the process with XDP programs left on the interfaces, and a SIGHUP
    // (its default action ends the process: issue 15 saw exit 129 for one
    // sent 5 ms after start) is taken as a reload once the router is up.
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

    // What to start with: the state file if it exists (the configuration
    // last applied through the API), else the configuration file, else
    // nothing (everything comes over gRPC).
    let state = args
        .state
        .clone()
        .or_else(|| args.config.is_none().then(|| PathBuf::from(DEFAULT_STATE)));
    if args.config.is_some() && state.is_none() && args.grpc != "off" {
        tracing::info!(
            "changes made through the API are not persisted (no --state FILE): a restart \
             starts from the configuration file again"
        );
    }
    let restored = match state.as_deref().map(control::agent::read_state) {
        Some(Ok(found)) => found,
        Some(Err(e)) => {
            eprintln!("srv6d run: state file: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
        None => None,
    };
    let start_doc = match (&restored, &args.config) {
        (Some(_), _) => None,
        (None, Some(path)) => match read_config_doc(path) {
            Ok(doc) => Some(doc),
            Err(errors) => {
                print_errors(&errors);
                return ExitCode::from(EXIT_INVALID);
            }
        },
        (None, None) => None,
    };
    let grpc_addr: Option<std::net::SocketAddr> = match args.grpc.as_str() {
        "off" => None,
        text => match text.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                eprintln!(
                    "srv6d run: --grpc {text:?}: expected ADDRESS:PORT such as 127.0.0.1:50051 \
                     or [::]:50051, or `off`"
                );
                return ExitCode::from(EXIT_INVALID);
            }
        },
    };
    let security = match grpc_addr {
        Some(addr) => {
            let mut listen = args.listen.clone();
            listen.addr = Some(addr);
            match control::agent::auth::security(&listen) {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("srv6d run: {e}");
                    return ExitCode::from(EXIT_INVALID);
                }
            }
        }
        None => None,
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "srv6d run: needs root (it attaches XDP programs and opens AF_XDP sockets, or \
             programs the kernel's routes); run it with sudo or as root"
        );
        return ExitCode::FAILURE;
    }
    // Listeners first: a taken port fails before anything is attached.
    let grpc_listener = match grpc_addr {
        Some(addr) => match runtime.block_on(tokio::net::TcpListener::bind(addr)) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("srv6d run: --grpc {addr}: cannot listen: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let metrics_listener = match args.metrics {
        Some(addr) => match runtime.block_on(control::agent::metrics::bind(addr)) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("srv6d run: --metrics {addr}: cannot listen: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let dataplane: Box<dyn control::agent::Dataplane> = match args.dataplane.as_str() {
        "kernel" => Box::new(control::agent::dataplane::KernelBackend::new()),
        _ => Box::new(control::agent::dataplane::XdpDataplane::new(args.engine)),
    };
    let mut agent = control::agent::Agent::new(
        control::config::ConfigFile::default(),
        0,
        dataplane,
        state.clone(),
    );
    let started = match (restored, start_doc) {
        (Some((doc, generation)), _) => {
            tracing::info!(
                file = %state.as_deref().unwrap_or(std::path::Path::new("")).display(),
                generation,
                "restoring the configuration last applied"
            );
            agent.restore(doc, generation).map(|_| ())
        }
        (None, Some(doc)) => agent.replace(doc, "configuration file").map(|_| ()),
        (None, None) => {
            tracing::info!(
                "no configuration yet: waiting for one over gRPC (the engine starts with the \
                 first port)"
            );
            Ok(())
        }
    };
    if let Err(e) = started {
        eprintln!("srv6d run: {e}");
        return ExitCode::FAILURE;
    }
    let agent = std::sync::Arc::new(std::sync::Mutex::new(agent));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = match (grpc_listener, security) {
        (Some(listener), Some(security)) => {
            let agent = agent.clone();
            Some(runtime.spawn(async move {
                control::agent::server::serve(agent, listener, security, async {
                    let _ = stop_rx.await;
                })
                .await
            }))
        }
        _ => None,
    };
    if let Some(listener) = metrics_listener {
        let addr = listener.local_addr().ok();
        tracing::info!(?addr, "Prometheus metrics on GET /metrics");
        runtime.spawn(control::agent::metrics::serve(agent.clone(), listener));
    }
    let config_path = args.config.clone();
    let stats_interval = args.stats_interval;
    let failed = runtime.block_on(async {
        let period = std::time::Duration::from_secs(stats_interval.max(1));
        let mut ticker = tokio::time::interval(period);
        ticker.tick().await;
        let mut health = tokio::time::interval(std::time::Duration::from_millis(500));
        health.tick().await;
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    let Some(path) = &config_path else {
                        tracing::warn!("SIGHUP: no --config file to re-read; nothing changed");
                        continue;
                    };
                    tracing::info!(file = %path.display(), "SIGHUP: reloading");
                    match read_config_doc(path) {
                        Ok(doc) => {
                            let agent = agent.clone();
                            let result = tokio::task::spawn_blocking(move || {
                                lock(&agent).replace(doc, "configuration file (SIGHUP)")
                            }).await;
                            match result {
                                Ok(Ok(a)) => tracing::info!(generation = a.generation, "configuration reloaded"),
                                Ok(Err(e)) => tracing::error!("reload refused, the running configuration stays: {e}"),
                                Err(e) => tracing::error!("reload failed: {e}"),
                            }
                        }
                        Err(errors) => tracing::error!(
                            "reload refused, the running configuration stays:\n{errors}"
                        ),
                    }
                }
                _ = health.tick() => {
                    let agent = agent.clone();
                    let health = tokio::task::spawn_blocking(move || {
                        let mut a = lock(&agent);
                        a.dataplane_mut().collect();
                        a.dataplane().health()
                    }).await;
                    match health {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::error!("{e}; stopping");
                            break true;
                        }
                        Err(e) => {
                            tracing::error!("health check failed: {e}; stopping");
                            break true;
                        }
                    }
                }
                _ = int.recv() => break false,
                _ = term.recv() => break false,
                _ = ticker.tick(), if stats_interval > 0 => {
                    let mut a = lock(&agent);
                    if let Some(c) = a.dataplane().counters() {
                        tracing::info!("counters: {}", counters_line(&c));
                    }
                    for r in a.stamp_reports(false) {
                        tracing::info!("{}", control::stamp_inline::summary_line(&r));
                    }
                }
            }
        }
    });
    tracing::info!("shutting down");
    let _ = stop_tx.send(());
    if let Some(server) = server {
        match runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), server).await
        }) {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::error!("{e}"),
            Ok(Err(e)) => tracing::error!("gRPC server task: {e}"),
            Err(_) => tracing::warn!("gRPC server did not stop within 5 s"),
        }
    }
    let mut a = lock(&agent);
    if let Some(c) = a.dataplane().counters() {
        tracing::info!("final counters: {}", counters_line(&c));
    }
    let reports = a.stamp_reports(true);
    for r in &reports {
        tracing::info!("final {}", control::stamp_inline::summary_line(r));
    }
    let mut results_failed = false;
    if let Some(path) = &args.stamp_results {
        let text: String = reports
            .iter()
            .map(|r| control::stamp_inline::json_line(r) + "\n")
            .collect();
        if let Err(e) = control::agent::write_atomically(path, text.as_bytes()) {
            tracing::error!(file = %path.display(), "cannot write the STAMP results: {e}");
            results_failed = true;
        } else {
            tracing::info!(file = %path.display(), sessions = reports.len(), "STAMP results written");
        }
    }
    let stopped = a.stop_dataplane();
    drop(a);
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match stopped {
        Ok(line) => {
            tracing::info!("{line}");
            if failed || results_failed {
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

/// Set by SIGINT/SIGTERM during `srv6d stamp`.
static STAMP_STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn stamp_on_signal(_: libc::c_int) {
    STAMP_STOP.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// SIGINT and SIGTERM set [`STAMP_STOP`] (no SA_RESTART: a blocked
/// `recvmsg` returns at once).
fn stamp_signals() -> std::io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe);
        // `sa` is fully initialised before sigaction reads it.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = stamp_on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn stamp_command(command: StampCommand) -> ExitCode {
    use control::stamp_socket as ss;
    if let Err(e) = stamp_signals() {
        eprintln!("srv6d stamp: cannot install signal handlers: {e}");
        return ExitCode::FAILURE;
    }
    let exit_for = |what: &str, e: ss::StampSocketError| {
        eprintln!("srv6d stamp {what}: {e}");
        if e.is_bad_option() {
            ExitCode::from(EXIT_INVALID)
        } else {
            ExitCode::FAILURE
        }
    };
    match command {
        StampCommand::Send {
            reflector,
            segments,
            source,
            source_port,
            port,
            ssid,
            interval,
            count,
            duration,
            length,
            key,
            timestamp,
            wait,
            clocks_synchronized,
            json,
            twamp_light,
        } => {
            let opts = ss::SenderOptions {
                reflector: ss::dual_stack(reflector),
                segments,
                source: source.map(ss::dual_stack),
                source_port,
                reflector_port: port,
                ssid,
                interval,
                count,
                duration,
                length,
                key,
                timestamp_format: if timestamp == "ptp" {
                    stamp::time::TimestampFormat::Ptp
                } else {
                    stamp::time::TimestampFormat::Ntp
                },
                wait,
                clocks_synchronized,
                twamp_light,
            };
            match ss::run_sender(&opts, &STAMP_STOP) {
                Ok(report) => {
                    if json {
                        println!("{}", ss::json(&report));
                    } else {
                        print!("{}", ss::table(&report));
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => exit_for("send", e),
            }
        }
        StampCommand::Reflect {
            bind,
            port,
            stateful,
            drop_unknown_ssid,
            ssid,
            key,
            rate_limit,
            sessions: session_paths,
        } => {
            use stamp::reflector::{
                RateLimit, ReflectorConfig, ReflectorMode, ReflectorSession, UnknownSsid,
            };
            if key.is_some() && ssid.is_empty() && session_paths.is_empty() {
                eprintln!("srv6d stamp reflect: --key needs --ssid or --session");
                return ExitCode::from(EXIT_INVALID);
            }
            let sessions = ssid
                .iter()
                .chain(session_paths.iter().map(|(s, _)| s))
                .map(|&ssid| ReflectorSession {
                    ssid,
                    mode: if key.is_some() {
                        stamp::packet::Mode::Authenticated
                    } else {
                        stamp::packet::Mode::Unauthenticated
                    },
                    key: key.clone(),
                    return_segments: Vec::new(),
                    return_destination: None,
                    stopped: false,
                })
                .collect();
            let defaults = ReflectorConfig::default();
            let config = match ReflectorConfig::new(
                if stateful {
                    ReflectorMode::Stateful
                } else {
                    ReflectorMode::Stateless
                },
                if drop_unknown_ssid {
                    UnknownSsid::Drop
                } else {
                    UnknownSsid::Reflect
                },
                sessions,
                defaults.timestamp_format(),
                defaults.error_estimate(),
                Some(RateLimit {
                    per_second: rate_limit,
                    burst: rate_limit,
                }),
                false,
            ) {
                // A loopback source can only be this host (the kernel drops
                // it from any other interface): a local test.
                Ok(c) => c.answering_on_link_sources(),
                Err(e) => {
                    eprintln!("srv6d stamp reflect: --ssid/--session/--key/--rate-limit: {e}");
                    return ExitCode::from(EXIT_INVALID);
                }
            };
            let bind = ss::dual_stack(bind);
            let opts = ss::ReflectorOptions {
                bind,
                port,
                config,
                return_paths: session_paths,
            };
            let counters = ss::ReflectorCounters::new();
            eprintln!("srv6d stamp reflect: starting on [{bind}]:{port} (SIGINT/SIGTERM to stop)");
            let outcome = ss::run_reflector(&opts, &STAMP_STOP, &counters);
            println!("{}", counters.line());
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => exit_for("reflect", e),
            }
        }
    }
}
