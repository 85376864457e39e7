//! `srv6d`: the SRv6 router's command line.
//!
//! Today it has one command, `check`, which validates a configuration file
//! and prints what it configures. The forwarding engine is not wired into
//! this binary yet.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
        Commands available now: `check` validates a configuration file. The forwarding \
        engine is not part of this binary yet.",
    after_long_help = "EXAMPLES:\n  \
        srv6d check --config examples/edge1.toml\n      \
        Validate edge1's configuration and print its ports, VRFs, SIDs, policies and routes.\n\n  \
        srv6d check -c /etc/srv6d/edge.toml && echo valid\n      \
        Use the exit status in scripts: 0 valid, 2 rejected."
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(&config),
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match control::config::load_file(path) {
        Ok(loaded) => {
            print!("{}", loaded.summary());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "{}: configuration rejected ({} error{})",
                errors.file(),
                errors.count(),
                if errors.count() == 1 { "" } else { "s" }
            );
            ExitCode::from(EXIT_INVALID)
        }
    }
}
