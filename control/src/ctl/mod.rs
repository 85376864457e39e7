//! `srv6ctl`: an iproute2-flavoured command line over srv6d's own gRPC API
//! (srv6d.v1). Objects and verbs are positional words (`srv6ctl route add
//! 10.2.0.0/24 vrf blue encap segs fc00:0:2::100`); the words map field for
//! field onto the API's messages, which mirror the configuration file
//! (docs/config.md).
//!
//! This module holds the command line (clap) and the translation of the
//! words into API messages, which is pure and unit-tested; [`run`] talks to
//! the server and [`out`] prints the answers (aligned tables or JSON).

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::proto::srv6d::v1 as pb;

pub mod out;
pub mod run;

/// The server srv6ctl talks to when neither --server nor SRV6CTL_SERVER say.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// Exit status of a request the server refused (or that failed there).
pub const EXIT_REFUSED: u8 = 1;
/// Exit status of a command line clap or srv6ctl could not make sense of.
pub const EXIT_USAGE: u8 = 2;
/// Exit status when the server cannot be reached.
pub const EXIT_UNREACHABLE: u8 = 3;

const EXAMPLES: &str = "EXAMPLES:
  srv6ctl router set source fc00:0:1::1 address fc00:0:1::2
  srv6ctl vrf add blue id 10
  srv6ctl port add wan0 wan
  srv6ctl port add lan-blue lan vrf blue queues 2 xdp driver
  srv6ctl sid add fc00:0:1::100 end.dt6 vrf blue
  srv6ctl route add 10.2.0.0/24 vrf blue encap segs 2001:db8::2,fc00:0:2::100
      One atomic batch: the policy auto-<hash> (reused if identical) and the route.
  srv6ctl route add fc00:0:2::/48 via fe80::2 dev wan0
  srv6ctl route show vrf blue
  srv6ctl --json config show | jq .routes
  srv6ctl apply edge1.toml --dry-run
  srv6ctl stamp create probe ssid 7 source fc00:0:1::2 segs fc00:0:2::1 interval 100ms
  srv6ctl stamp watch probe interval 1s
  srv6ctl --server https://edge1:50051 --ca ca.pem --cert me.pem --key me.key stats

EXIT STATUS:
  0 success, 1 the server refused the request (its status code and message, which
  names the field at fault, go to stderr), 2 bad usage, 3 the server cannot be reached.";

/// srv6ctl's command line.
#[derive(Debug, Parser)]
#[command(
    name = "srv6ctl",
    version,
    about = "Configure and watch a running srv6d over its gRPC API (srv6d.v1)",
    long_about = "Configure and watch a running srv6d over its gRPC API (srv6d.v1).\n\n\
        Commands read like iproute2's: OBJECT VERB [ARGUMENTS], where arguments are \
        keyword/value words (`vrf blue`, `queues 2`). Every object is a section of \
        srv6d's configuration file (docs/config.md) with the same fields and checks; \
        every change is validated by srv6d against the whole configuration and \
        applied atomically, or refused with nothing changed.\n\n\
        The server is --server, else $SRV6CTL_SERVER, else http://127.0.0.1:50051 (what \
        `srv6d run` listens on by default). Use https:// with --ca (and --cert/--key \
        for mutual TLS), and --token-file when srv6d wants a bearer token.",
    after_long_help = EXAMPLES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
pub struct Global {
    /// srv6d's gRPC address: URL (http://HOST:PORT, https://HOST:PORT) or
    /// HOST:PORT. Default: $SRV6CTL_SERVER, else http://127.0.0.1:50051.
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Send `authorization: Bearer <token>` with the token read from FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) that signed the server's certificate: TLS.
    #[arg(long, global = true, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS (with --key).
    #[arg(long, global = true, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS (with --cert).
    #[arg(long, global = true, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Machine-readable output: the API's answer as JSON.
    #[arg(short, long, global = true)]
    pub json: bool,
    /// Give up on connecting or on a request after this long (10s, 500ms).
    #[arg(long, global = true, default_value = "10s", value_parser = crate::stamp_socket::parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
}

impl Global {
    /// The server URL: --server, $SRV6CTL_SERVER or the default; a bare
    /// HOST:PORT gets https:// when --ca is given, else http://.
    pub fn server_url(&self) -> String {
        let text = self
            .server
            .clone()
            .or_else(|| {
                std::env::var("SRV6CTL_SERVER")
                    .ok()
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| DEFAULT_SERVER.to_string());
        if text.contains("://") {
            text
        } else if self.ca.is_some() || self.cert.is_some() {
            format!("https://{text}")
        } else {
            format!("http://{text}")
        }
    }
}

/// The objects.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The router's own settings ([router]): outer source, own addresses, STAMP reflector.
    Router {
        #[command(subcommand)]
        verb: RouterVerb,
    },
    /// Ports of the engine ([[port]]).
    #[command(visible_alias = "link")]
    Port {
        #[command(subcommand)]
        verb: PortVerb,
    },
    /// Overlay VRFs ([[vrf]]).
    Vrf {
        #[command(subcommand)]
        verb: VrfVerb,
    },
    /// Local SIDs and their behaviours ([[sid]]).
    Sid {
        #[command(subcommand)]
        verb: SidVerb,
    },
    /// SR policies ([[policy]]): H.Encaps / H.Encaps.Red into a segment list.
    Policy {
        #[command(subcommand)]
        verb: PolicyVerb,
    },
    /// Routes of the underlay and of the VRFs ([[route]]).
    Route {
        #[command(subcommand)]
        verb: RouteVerb,
    },
    /// STAMP sender sessions run by the engine ([[stamp_sender]]) and their results.
    Stamp {
        #[command(subcommand)]
        verb: StampVerb,
    },
    /// Apply every object of a configuration file as ONE atomic batch (puts).
    #[command(after_long_help = "EXAMPLES:\n  \
        srv6ctl apply edge1.toml\n  \
        srv6ctl apply --dry-run extra-routes.toml\n\n\
        The file has srv6d's configuration format (docs/config.md); it may hold only \
        some sections: each object creates or replaces the one with the same key, and \
        nothing else changes. If any object is refused, none is applied.")]
    Apply {
        /// The TOML file.
        file: PathBuf,
        /// Only validate: nothing is applied or persisted.
        #[arg(long)]
        dry_run: bool,
    },
    /// The whole running configuration.
    Config {
        #[command(subcommand)]
        verb: ConfigVerb,
    },
    /// Counters: rx/tx, drops by reason, packets per behaviour, STAMP, per port.
    Stats {
        /// Also list the drop reasons and behaviours whose count is zero.
        #[arg(short, long)]
        all: bool,
    },
    /// Whether every part of srv6d is running.
    Health,
    /// srv6d's version, API and dataplane (and srv6ctl's own version).
    Version,
    /// Print a shell completion script: srv6ctl completions bash > /etc/bash_completion.d/srv6ctl
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `router` verbs.
#[derive(Debug, Subcommand)]
pub enum RouterVerb {
    /// Replace the router settings.
    #[command(
        after_long_help = "ARGUMENTS: source ADDR [address ADDR]... [stamp-port N] \
        [stamp-mode stateless|stateful] [stamp-timestamp ntp|ptp] \
        [stamp-unknown-ssid reflect|drop] [stamp-rate-limit N] \
        [tcp-mss-clamp auto|MSS]\n\n\
        EXAMPLES:\n  \
        srv6ctl router set source fc00:0:1::1\n  \
        srv6ctl router set source fc00:0:1::1 address fc00:0:1::2 stamp-mode stateful"
    )]
    Set {
        /// Keyword/value words (see below).
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "WORDS"
        )]
        words: Vec<String>,
    },
    /// Show the router settings.
    Show,
}

/// `port` verbs.
#[derive(Debug, Subcommand)]
pub enum PortVerb {
    /// Add a port (restarts the AF_XDP engine: a short forwarding pause).
    #[command(after_long_help = "ARGUMENTS: NAME wan|lan [vrf VRF] [queues N] \
        [xdp auto|driver|generic]\n\n\
        EXAMPLES:\n  \
        srv6ctl port add wan0 wan\n  \
        srv6ctl port add lan-blue lan vrf blue queues 2 xdp driver")]
    Add {
        /// NAME ROLE then keyword/value words.
        #[arg(required = true, trailing_var_arg = true, value_name = "WORDS")]
        words: Vec<String>,
    },
    /// Remove a port.
    #[command(visible_alias = "delete")]
    Del { name: String },
    /// List the ports (or show one).
    #[command(visible_alias = "list")]
    Show { name: Option<String> },
}

/// `vrf` verbs.
#[derive(Debug, Subcommand)]
pub enum VrfVerb {
    /// Add a VRF: srv6ctl vrf add blue id 10
    Add {
        /// NAME id N
        #[arg(required = true, trailing_var_arg = true, value_name = "WORDS")]
        words: Vec<String>,
    },
    /// Remove a VRF.
    #[command(visible_alias = "delete")]
    Del { name: String },
    /// List the VRFs.
    #[command(visible_alias = "list")]
    Show { name: Option<String> },
}

/// `sid` verbs.
#[derive(Debug, Subcommand)]
pub enum SidVerb {
    /// Add a local SID.
    #[command(after_long_help = "ARGUMENTS: SID BEHAVIOUR [vrf VRF] [port PORT] \
        [nexthop ADDR|on-link]\n  \
        BEHAVIOUR: end, end.x, end.dt4, end.dt6, end.dt46, end.dx4, end.dx6\n\n\
        EXAMPLES:\n  \
        srv6ctl sid add fc00:0:1::e end\n  \
        srv6ctl sid add fc00:0:1::100 end.dt6 vrf blue\n  \
        srv6ctl sid add fc00:0:1::a end.x port wan0 nexthop fe80::1")]
    Add {
        /// SID BEHAVIOUR then keyword/value words.
        #[arg(required = true, trailing_var_arg = true, value_name = "WORDS")]
        words: Vec<String>,
    },
    /// Remove a local SID.
    #[command(visible_alias = "delete")]
    Del { sid: String },
    /// List the local SIDs.
    #[command(visible_alias = "list")]
    Show { sid: Option<String> },
}

/// `policy` verbs.
#[derive(Debug, Subcommand)]
pub enum PolicyVerb {
    /// Add an SR policy.
    #[command(after_long_help = "ARGUMENTS: NAME encap|encap.red segs SID[,SID]... \
        [source ADDR] [flow-label copy|zero|hash] [ipv4-hop-limit N]\n\n\
        EXAMPLES:\n  \
        srv6ctl policy add to-e2 encap segs fc00:0:2::100\n  \
        srv6ctl policy add to-e2 encap.red segs fc00:0:9::e,fc00:0:2::100 flow-label hash")]
    Add {
        /// NAME MODE then keyword/value words.
        #[arg(required = true, trailing_var_arg = true, value_name = "WORDS")]
        words: Vec<String>,
    },
    /// Remove an SR policy.
    #[command(visible_alias = "delete")]
    Del { name: String },
    /// List the SR policies.
    #[command(visible_alias = "list")]
    Show { name: Option<String> },
}

/// `route` verbs.
#[derive(Debug, Subcommand)]
pub enum RouteVerb {
    /// Add a route (refused if the VRF already has this prefix; see `replace`).
    #[command(after_long_help = ROUTE_HELP)]
    Add {
        /// PREFIX then keyword/value words.
        #[arg(required = true, trailing_var_arg = true, value_name = "WORDS")]
        words: Vec<String>,
    },
    /// Add a route or replace the one with the same VRF and prefix.
    #[command(after_long_help = ROUTE_HELP)]
    Replace {
        /// PREFIX then keyword/value words.
        #[arg(required = true, trailing_var_arg = true, value_name = "WORDS")]
        words: Vec<String>,
    },
    /// Remove a route: srv6ctl route del 10.2.0.0/24 vrf blue
    #[command(visible_alias = "delete")]
    Del {
        /// PREFIX [vrf VRF] (default: the underlay).
        #[arg(required = true, trailing_var_arg = true, value_name = "WORDS")]
        words: Vec<String>,
    },
    /// List the routes: srv6ctl route show [vrf VRF]
    #[command(visible_alias = "list")]
    Show {
        /// [vrf VRF]
        #[arg(trailing_var_arg = true, value_name = "WORDS")]
        words: Vec<String>,
    },
}

const ROUTE_HELP: &str = "ARGUMENTS: PREFIX [vrf VRF] then one of\n  \
    encap|encap.red segs SID[,SID]...   an implicit policy auto-<hash> (reused if identical)\n                                      \
    and the route, in one atomic batch\n  \
    policy NAME                         into an existing SR policy\n  \
    via ADDR dev PORT                   to a neighbour\n  \
    dev PORT                            on-link\n  \
    local                               addressed to the router itself\n  \
    blackhole                           drop\n\
    The VRF defaults to the underlay.\n\n\
    EXAMPLES:\n  \
    srv6ctl route add 10.2.0.0/24 vrf blue encap segs 2001:db8::2,fc00:0:2::100\n  \
    srv6ctl route add 2001:db8:2::/64 vrf blue policy to-e2\n  \
    srv6ctl route add fc00:0:2::/48 via fe80::2 dev wan0\n  \
    srv6ctl route add 10.1.0.0/24 vrf blue dev lan-blue\n  \
    srv6ctl route add 10.9.0.0/16 vrf blue blackhole";

/// `stamp` verbs.
#[derive(Debug, Subcommand)]
pub enum StampVerb {
    /// Create a STAMP sender session run by the engine.
    #[command(
        after_long_help = "ARGUMENTS: NAME ssid N source ADDR segs SID[,SID]... \
        [interval 10ms] [count N] [duration 30s] [key HEX] [ptp] [dscp N] [length N] \
        [src-port N] [dst-port N] [clocks-synchronized] [stopped]\n\n\
        EXAMPLES:\n  \
        srv6ctl stamp create probe ssid 7 source fc00:0:1::2 segs fc00:0:2::1\n  \
        srv6ctl stamp create probe ssid 7 source fc00:0:1::2 segs fc00:0:9::e,fc00:0:2::1 \
        interval 100ms count 600 key 73656372657421 stopped"
    )]
    Create {
        /// NAME then keyword/value words.
        #[arg(required = true, trailing_var_arg = true, value_name = "WORDS")]
        words: Vec<String>,
    },
    /// Start a configured session.
    Start { name: String },
    /// Stop a session (it stays configured).
    Stop { name: String },
    /// Remove a session.
    #[command(visible_alias = "del")]
    Delete { name: String },
    /// Statistics of one session or all.
    Results {
        name: Option<String>,
        /// Also print the per-packet records gathered since the last take.
        #[arg(long)]
        records: bool,
    },
    /// Print the statistics every interval until Ctrl-C: srv6ctl stamp watch [NAME] [interval 1s]
    Watch {
        /// [NAME] [interval DURATION]
        #[arg(trailing_var_arg = true, value_name = "WORDS")]
        words: Vec<String>,
        /// Also print the per-packet records.
        #[arg(long)]
        records: bool,
    },
    /// List the configured sessions.
    #[command(visible_alias = "list")]
    Show,
}

/// `config` verbs.
#[derive(Debug, Subcommand)]
pub enum ConfigVerb {
    /// Show the whole configuration (--toml: as a file srv6d can load).
    Show {
        /// Print the configuration as TOML.
        #[arg(long)]
        toml: bool,
    },
}

/// A usage mistake in the words after the verb.
pub type Usage = String;

/// Keyword/value words, consumed in any order.
struct Words<'a> {
    words: &'a [String],
    at: usize,
}

impl<'a> Words<'a> {
    fn new(words: &'a [String]) -> Self {
        Words { words, at: 0 }
    }

    fn next(&mut self) -> Option<&'a str> {
        let w = self.words.get(self.at)?;
        self.at += 1;
        Some(w.as_str())
    }

    /// The next word, required by `what`.
    fn positional(&mut self, what: &str) -> Result<&'a str, Usage> {
        self.next().ok_or_else(|| format!("missing {what}"))
    }

    /// The value of keyword `key`.
    fn value(&mut self, key: &str) -> Result<&'a str, Usage> {
        self.next().ok_or_else(|| format!("`{key}` needs a value"))
    }

    fn number<T: std::str::FromStr>(&mut self, key: &str) -> Result<T, Usage> {
        let v = self.value(key)?;
        v.parse()
            .map_err(|_| format!("`{key} {v}`: expected a number"))
    }
}

fn unknown(word: &str, expected: &str) -> Usage {
    format!("unexpected word `{word}`; expected {expected}")
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn timestamp(word: &str, key: &str) -> Result<i32, Usage> {
    Ok(match word {
        "ntp" => pb::TimestampFormat::Ntp,
        "ptp" => pb::TimestampFormat::Ptp,
        _ => return Err(format!("`{key} {word}`: expected ntp or ptp")),
    } as i32)
}

/// `router set WORDS`.
pub fn router_set(words: &[String]) -> Result<pb::RouterSettings, Usage> {
    let mut w = Words::new(words);
    let mut r = pb::RouterSettings::default();
    const EXPECTED: &str = "source, address, stamp-port, stamp-mode, stamp-timestamp, \
                            stamp-unknown-ssid, stamp-rate-limit or tcp-mss-clamp";
    while let Some(word) = w.next() {
        match word {
            "source" | "src" => r.source = w.value(word)?.to_string(),
            "address" | "addr" => r.addresses.extend(list(w.value(word)?)),
            "stamp-port" => r.stamp_port = w.number(word)?,
            "stamp-mode" => {
                r.stamp_mode = match w.value(word)? {
                    "stateless" => pb::StampReflectorMode::Stateless,
                    "stateful" => pb::StampReflectorMode::Stateful,
                    v => return Err(format!("`stamp-mode {v}`: expected stateless or stateful")),
                } as i32;
            }
            "stamp-timestamp" => r.stamp_timestamp_format = timestamp(w.value(word)?, word)?,
            "stamp-unknown-ssid" => {
                r.stamp_unknown_ssid = match w.value(word)? {
                    "reflect" => pb::StampUnknownSsid::Reflect,
                    "drop" => pb::StampUnknownSsid::Drop,
                    v => {
                        return Err(format!(
                            "`stamp-unknown-ssid {v}`: expected reflect or drop"
                        ))
                    }
                } as i32;
            }
            "stamp-rate-limit" => r.stamp_rate_limit = w.number(word)?,
            "tcp-mss-clamp" => r.tcp_mss_clamp = w.value(word)?.to_string(),
            _ => return Err(unknown(word, EXPECTED)),
        }
    }
    if r.source.is_empty() {
        return Err("missing `source ADDR` (the outer IPv6 source of encapsulated packets)".into());
    }
    Ok(r)
}

/// `port add WORDS`.
pub fn port_add(words: &[String]) -> Result<pb::Port, Usage> {
    let mut w = Words::new(words);
    let name = w.positional("the port's NAME")?.to_string();
    let role = match w.positional("the port's role (wan or lan)")? {
        "wan" => pb::PortRole::Wan,
        "lan" => pb::PortRole::Lan,
        other => return Err(format!("role `{other}`: expected wan or lan")),
    };
    let mut p = pb::Port {
        name,
        role: role as i32,
        ..Default::default()
    };
    while let Some(word) = w.next() {
        match word {
            "vrf" => p.vrf = w.value(word)?.to_string(),
            "queues" => p.queues = w.number(word)?,
            "xdp" | "xdp-mode" => {
                p.xdp_mode = match w.value(word)? {
                    "auto" => pb::XdpMode::Auto,
                    "driver" | "native" => pb::XdpMode::Driver,
                    "generic" | "skb" => pb::XdpMode::Generic,
                    v => return Err(format!("`xdp {v}`: expected auto, driver or generic")),
                } as i32;
            }
            _ => return Err(unknown(word, "vrf, queues or xdp")),
        }
    }
    Ok(p)
}

/// `vrf add WORDS`.
pub fn vrf_add(words: &[String]) -> Result<pb::Vrf, Usage> {
    let mut w = Words::new(words);
    let name = w.positional("the VRF's NAME")?.to_string();
    let mut id = None;
    while let Some(word) = w.next() {
        match word {
            "id" | "table" => id = Some(w.number::<u32>(word)?),
            _ => return Err(unknown(word, "id")),
        }
    }
    let id = id.ok_or("missing `id N` (the VRF number, 1..4095)")?;
    Ok(pb::Vrf { name, id })
}

/// A behaviour as written on the command line (the file's names; the RFC's
/// capitalisation is accepted too).
pub fn behavior(word: &str) -> Option<pb::Behavior> {
    Some(match word.to_ascii_lowercase().as_str() {
        "end" => pb::Behavior::End,
        "end.x" => pb::Behavior::EndX,
        "end.dt4" => pb::Behavior::EndDt4,
        "end.dt6" => pb::Behavior::EndDt6,
        "end.dt46" => pb::Behavior::EndDt46,
        "end.dx4" => pb::Behavior::EndDx4,
        "end.dx6" => pb::Behavior::EndDx6,
        _ => return None,
    })
}

/// `sid add WORDS`.
pub fn sid_add(words: &[String]) -> Result<pb::Sid, Usage> {
    let mut w = Words::new(words);
    let sid = w.positional("the SID")?.to_string();
    let b = w.positional("the behaviour")?;
    let behavior = behavior(b).ok_or_else(|| {
        format!(
            "behaviour `{b}`: expected end, end.x, end.dt4, end.dt6, end.dt46, end.dx4 or end.dx6"
        )
    })?;
    let mut s = pb::Sid {
        sid,
        behavior: behavior as i32,
        ..Default::default()
    };
    while let Some(word) = w.next() {
        match word {
            "vrf" => s.vrf = w.value(word)?.to_string(),
            "port" | "dev" => s.port = w.value(word)?.to_string(),
            "nexthop" | "via" => s.nexthop = w.value(word)?.to_string(),
            _ => return Err(unknown(word, "vrf, port or nexthop")),
        }
    }
    Ok(s)
}

fn policy_mode(word: &str) -> Option<pb::PolicyMode> {
    match word {
        "encap" => Some(pb::PolicyMode::Encap),
        "encap.red" => Some(pb::PolicyMode::EncapRed),
        _ => None,
    }
}

/// `policy add WORDS`.
pub fn policy_add(words: &[String]) -> Result<pb::Policy, Usage> {
    let mut w = Words::new(words);
    let name = w.positional("the policy's NAME")?.to_string();
    let m = w.positional("the mode (encap or encap.red)")?;
    let mode = policy_mode(m).ok_or_else(|| format!("mode `{m}`: expected encap or encap.red"))?;
    let mut p = pb::Policy {
        name,
        mode: mode as i32,
        ..Default::default()
    };
    while let Some(word) = w.next() {
        match word {
            "segs" | "segments" => p.segments.extend(list(w.value(word)?)),
            "source" | "src" => p.source = w.value(word)?.to_string(),
            "flow-label" => {
                p.flow_label = match w.value(word)? {
                    "copy" => pb::FlowLabel::Copy,
                    "zero" => pb::FlowLabel::Zero,
                    "hash" => pb::FlowLabel::Hash,
                    v => return Err(format!("`flow-label {v}`: expected copy, zero or hash")),
                } as i32;
            }
            "ipv4-hop-limit" => p.ipv4_hop_limit = w.number(word)?,
            _ => return Err(unknown(word, "segs, source, flow-label or ipv4-hop-limit")),
        }
    }
    if p.segments.is_empty() {
        return Err("missing `segs SID[,SID]...`".into());
    }
    Ok(p)
}

/// The implicit policy's name for a mode and segment list: `auto-` and 8
/// hex digits of a hash (FNV-1a) of the mode and the segments in canonical
/// form, so the same encapsulation always gets the same name.
pub fn auto_policy_name(mode: pb::PolicyMode, segments: &[String]) -> String {
    let mut text = String::from(mode.as_str_name());
    for s in segments {
        text.push('|');
        match s.parse::<Ipv6Addr>() {
            Ok(a) => text.push_str(&a.to_string()),
            Err(_) => text.push_str(s),
        }
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("auto-{:08x}", (h >> 32) ^ (h & 0xffff_ffff))
}

/// What `route add` sends: the route, and the implicit policy of the
/// `encap segs` form.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteAdd {
    pub route: pb::Route,
    pub policy: Option<pb::Policy>,
}

/// `route add WORDS`.
pub fn route_add(words: &[String]) -> Result<RouteAdd, Usage> {
    let mut w = Words::new(words);
    let prefix = w.positional("the PREFIX")?.to_string();
    let mut route = pb::Route {
        vrf: "underlay".into(),
        prefix,
        ..Default::default()
    };
    let mut encap: Option<(pb::PolicyMode, Vec<String>)> = None;
    let mut targets = Vec::new();
    while let Some(word) = w.next() {
        if let Some(mode) = policy_mode(word) {
            let segs = match w.next() {
                Some("segs" | "segments") => list(w.value("segs")?),
                _ => return Err(format!("`{word}` must be followed by `segs SID[,SID]...`")),
            };
            if segs.is_empty() {
                return Err("`segs` needs at least one SID".into());
            }
            encap = Some((mode, segs));
            targets.push(word);
            continue;
        }
        match word {
            "vrf" | "table" => route.vrf = w.value(word)?.to_string(),
            "policy" => {
                route.policy = w.value(word)?.to_string();
                targets.push(word);
            }
            "via" | "nexthop" => {
                route.nexthop = w.value(word)?.to_string();
                targets.push("via");
            }
            "dev" | "port" => route.port = w.value(word)?.to_string(),
            "local" => {
                route.local = true;
                targets.push(word);
            }
            "blackhole" => {
                route.blackhole = true;
                targets.push(word);
            }
            _ => {
                return Err(unknown(
                    word,
                    "vrf, encap, encap.red, policy, via, dev, local or blackhole",
                ))
            }
        }
    }
    // `dev PORT` alone: on-link.
    if route.nexthop.is_empty() && !route.port.is_empty() && targets.is_empty() {
        route.nexthop = "on-link".into();
        targets.push("dev");
    }
    match targets.as_slice() {
        [_] => {}
        [] => {
            return Err(
                "missing where to send it: encap segs ..., policy NAME, via ADDR dev PORT, \
                 dev PORT, local or blackhole"
                    .into(),
            )
        }
        more => {
            return Err(format!(
                "give only one of encap, policy, via, dev, local, blackhole (got {})",
                more.join(", ")
            ))
        }
    }
    if !route.nexthop.is_empty() && route.port.is_empty() {
        return Err(format!("`via {}` needs `dev PORT`", route.nexthop));
    }
    if !route.port.is_empty() && route.nexthop.is_empty() {
        return Err("`dev PORT` goes only with `via ADDR` or alone (on-link)".into());
    }
    let policy = encap.map(|(mode, segments)| {
        let name = auto_policy_name(mode, &segments);
        route.policy.clone_from(&name);
        pb::Policy {
            name,
            mode: mode as i32,
            segments,
            ..Default::default()
        }
    });
    Ok(RouteAdd { route, policy })
}

/// `route del WORDS` / `route show WORDS`: `[PREFIX] [vrf VRF]`.
pub fn route_key(words: &[String], need_prefix: bool) -> Result<pb::RouteKey, Usage> {
    let mut w = Words::new(words);
    let mut key = pb::RouteKey::default();
    while let Some(word) = w.next() {
        match word {
            "vrf" | "table" => key.vrf = w.value(word)?.to_string(),
            _ if key.prefix.is_empty() && need_prefix => key.prefix = word.to_string(),
            _ => return Err(unknown(word, "vrf")),
        }
    }
    if need_prefix {
        if key.prefix.is_empty() {
            return Err("missing the PREFIX".into());
        }
        if key.vrf.is_empty() {
            key.vrf = "underlay".into();
        }
    }
    Ok(key)
}

/// `stamp create WORDS`.
pub fn stamp_create(words: &[String]) -> Result<pb::StampSender, Usage> {
    let mut w = Words::new(words);
    let name = w.positional("the session's NAME")?.to_string();
    let mut s = pb::StampSender {
        name,
        ..Default::default()
    };
    let mut ssid = false;
    while let Some(word) = w.next() {
        match word {
            "ssid" => {
                s.ssid = w.number(word)?;
                ssid = true;
            }
            "source" | "src" => s.source = w.value(word)?.to_string(),
            "segs" | "segments" => s.segments.extend(list(w.value(word)?)),
            "interval" => s.interval = duration(w.value(word)?, word)?,
            "count" => s.count = w.number(word)?,
            "duration" => s.duration = duration(w.value(word)?, word)?,
            "key" => s.key = w.value(word)?.to_string(),
            "ptp" => s.timestamp_format = pb::TimestampFormat::Ptp as i32,
            "ntp" => s.timestamp_format = pb::TimestampFormat::Ntp as i32,
            "dscp" => s.dscp = w.number(word)?,
            "length" => s.length = w.number(word)?,
            "src-port" => s.src_port = w.number(word)?,
            "dst-port" => s.dst_port = w.number(word)?,
            "clocks-synchronized" | "synced" => s.clocks_synchronized = true,
            "stopped" => s.stopped = true,
            _ => {
                return Err(unknown(
                    word,
                    "ssid, source, segs, interval, count, duration, key, ptp, dscp, length, \
                     src-port, dst-port, clocks-synchronized or stopped",
                ))
            }
        }
    }
    if !ssid {
        return Err("missing `ssid N`".into());
    }
    if s.source.is_empty() {
        return Err("missing `source ADDR` (one of the router's addresses)".into());
    }
    if s.segments.is_empty() {
        return Err("missing `segs SID[,SID]...` (the last one is the reflector)".into());
    }
    Ok(s)
}

/// A duration word, checked here and sent as written.
fn duration(v: &str, key: &str) -> Result<String, Usage> {
    crate::stamp_socket::parse_duration(v).map_err(|e| format!("`{key}`: {e}"))?;
    Ok(v.to_string())
}

/// `stamp watch WORDS`: `[NAME] [interval DURATION]`.
pub fn stamp_watch(words: &[String]) -> Result<(String, String), Usage> {
    let mut w = Words::new(words);
    let (mut name, mut interval) = (String::new(), String::new());
    while let Some(word) = w.next() {
        match word {
            "interval" => interval = duration(w.value(word)?, word)?,
            _ if name.is_empty() => name = word.to_string(),
            _ => return Err(unknown(word, "interval")),
        }
    }
    Ok((name, interval))
}

/// The entry point of the `srv6ctl` binary.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    run::run(cli)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn w(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_anywhere_and_the_server_gets_a_scheme() {
        let cli =
            Cli::try_parse_from(["srv6ctl", "route", "show", "--json", "--server", "[::1]:7"])
                .unwrap();
        assert!(cli.global.json);
        assert_eq!(cli.global.server_url(), "http://[::1]:7");
        let cli = Cli::try_parse_from(["srv6ctl", "--ca", "ca.pem", "--server", "e1:1", "health"])
            .unwrap();
        assert_eq!(cli.global.server_url(), "https://e1:1");
        let cli = Cli::try_parse_from(["srv6ctl", "--timeout", "250ms", "health"]).unwrap();
        assert_eq!(cli.global.timeout, Duration::from_millis(250));
        // --cert without --key is a usage error (exit 2).
        let e = Cli::try_parse_from(["srv6ctl", "--cert", "c.pem", "health"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let e = Cli::try_parse_from(["srv6ctl", "frobnicate"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn words_after_the_verb_reach_the_parsers() {
        let cli = Cli::try_parse_from(w(
            "srv6ctl route add 10.2.0.0/24 vrf blue encap segs 2001:db8::2,fc00:0:2::100",
        ))
        .unwrap();
        let Command::Route {
            verb: RouteVerb::Add { words },
        } = cli.command
        else {
            panic!("not route add: {:?}", cli.command)
        };
        assert_eq!(
            words,
            w("10.2.0.0/24 vrf blue encap segs 2001:db8::2,fc00:0:2::100")
        );
        let cli = Cli::try_parse_from(w("srv6ctl stamp results probe --records")).unwrap();
        assert!(matches!(
            cli.command,
            Command::Stamp { verb: StampVerb::Results { name: Some(ref n), records: true } } if n == "probe"
        ));
    }

    #[test]
    fn router_set_maps_every_word() {
        let r = router_set(&w(
            "source fc00:0:1::1 address fc00:0:1::2 address fc00:0:1::3,fc00:0:1::4 \
             stamp-port 8620 stamp-mode stateful stamp-timestamp ptp stamp-unknown-ssid drop \
             stamp-rate-limit 100 tcp-mss-clamp auto",
        ))
        .unwrap();
        assert_eq!(r.source, "fc00:0:1::1");
        assert_eq!(r.addresses, ["fc00:0:1::2", "fc00:0:1::3", "fc00:0:1::4"]);
        assert_eq!(r.stamp_port, 8620);
        assert_eq!(r.stamp_mode, pb::StampReflectorMode::Stateful as i32);
        assert_eq!(r.stamp_timestamp_format, pb::TimestampFormat::Ptp as i32);
        assert_eq!(r.stamp_unknown_ssid, pb::StampUnknownSsid::Drop as i32);
        assert_eq!(r.stamp_rate_limit, 100);
        assert_eq!(r.tcp_mss_clamp, "auto");
        assert!(router_set(&w("address fc00::2"))
            .unwrap_err()
            .contains("source"));
        assert!(router_set(&w("source fc00::1 stamp-mode fast"))
            .unwrap_err()
            .contains("stateless or stateful"));
        assert!(router_set(&w("source"))
            .unwrap_err()
            .contains("needs a value"));
    }

    #[test]
    fn port_vrf_sid_policy_words() {
        let p = port_add(&w("lan-blue lan vrf blue queues 2 xdp generic")).unwrap();
        assert_eq!(
            p,
            pb::Port {
                name: "lan-blue".into(),
                role: pb::PortRole::Lan as i32,
                vrf: "blue".into(),
                queues: 2,
                xdp_mode: pb::XdpMode::Generic as i32,
            }
        );
        assert_eq!(
            port_add(&w("wan0 wan")).unwrap().role,
            pb::PortRole::Wan as i32
        );
        assert!(port_add(&w("wan0 core"))
            .unwrap_err()
            .contains("wan or lan"));
        assert!(port_add(&w("wan0 wan queues many"))
            .unwrap_err()
            .contains("number"));

        assert_eq!(
            vrf_add(&w("blue id 10")).unwrap(),
            pb::Vrf {
                name: "blue".into(),
                id: 10
            }
        );
        assert!(vrf_add(&w("blue")).unwrap_err().contains("id"));

        let s = sid_add(&w("fc00:0:1::a end.x port wan0 nexthop fe80::1")).unwrap();
        assert_eq!(s.behavior, pb::Behavior::EndX as i32);
        assert_eq!((s.port.as_str(), s.nexthop.as_str()), ("wan0", "fe80::1"));
        let s = sid_add(&w("fc00:0:2::100 End.DT6 vrf blue")).unwrap();
        assert_eq!(
            (s.behavior, s.vrf.as_str()),
            (pb::Behavior::EndDt6 as i32, "blue")
        );
        assert!(sid_add(&w("fc00::1 end.b6"))
            .unwrap_err()
            .contains("end.dt6"));

        let p = policy_add(&w(
            "to-e2 encap.red segs fc00:0:9::e,fc00:0:2::100 source fc00::1 flow-label hash",
        ))
        .unwrap();
        assert_eq!(p.mode, pb::PolicyMode::EncapRed as i32);
        assert_eq!(p.segments, ["fc00:0:9::e", "fc00:0:2::100"]);
        assert_eq!(p.source, "fc00::1");
        assert_eq!(p.flow_label, pb::FlowLabel::Hash as i32);
        assert!(policy_add(&w("to-e2 encap")).unwrap_err().contains("segs"));
    }

    #[test]
    fn route_forms() {
        let r = route_add(&w(
            "10.2.0.0/24 vrf blue encap segs 2001:db8::2,fc00:0:2::100",
        ))
        .unwrap();
        let policy = r.policy.expect("an implicit policy");
        assert!(policy.name.starts_with("auto-"), "{}", policy.name);
        assert_eq!(policy.segments, ["2001:db8::2", "fc00:0:2::100"]);
        assert_eq!(policy.mode, pb::PolicyMode::Encap as i32);
        assert_eq!(r.route.policy, policy.name);
        assert_eq!(
            (r.route.vrf.as_str(), r.route.prefix.as_str()),
            ("blue", "10.2.0.0/24")
        );
        // The same encapsulation, written differently, has the same name;
        // another mode or order does not.
        let same = route_add(&w(
            "10.3.0.0/24 encap segs 2001:db8:0::2,fc00:0:2:0::100 vrf red",
        ))
        .unwrap();
        assert_eq!(same.route.policy, policy.name);
        let red = route_add(&w("10.3.0.0/24 encap.red segs 2001:db8::2,fc00:0:2::100")).unwrap();
        assert_ne!(red.route.policy, policy.name);
        let swapped = route_add(&w("10.3.0.0/24 encap segs fc00:0:2::100,2001:db8::2")).unwrap();
        assert_ne!(swapped.route.policy, policy.name);

        let r = route_add(&w("2001:db8:2::/64 vrf blue policy to-e2")).unwrap();
        assert_eq!((r.route.policy.as_str(), r.policy), ("to-e2", None));
        let r = route_add(&w("fc00:0:2::/48 via fe80::2 dev wan0"))
            .unwrap()
            .route;
        assert_eq!(
            (r.vrf.as_str(), r.nexthop.as_str(), r.port.as_str()),
            ("underlay", "fe80::2", "wan0")
        );
        let r = route_add(&w("10.1.0.0/24 vrf blue dev lan0"))
            .unwrap()
            .route;
        assert_eq!((r.nexthop.as_str(), r.port.as_str()), ("on-link", "lan0"));
        assert!(
            route_add(&w("10.9.0.0/16 blackhole"))
                .unwrap()
                .route
                .blackhole
        );
        assert!(route_add(&w("fc00::1/128 local")).unwrap().route.local);

        assert!(route_add(&w("10.0.0.0/8")).unwrap_err().contains("missing"));
        assert!(route_add(&w("10.0.0.0/8 blackhole policy p"))
            .unwrap_err()
            .contains("only one"));
        assert!(route_add(&w("10.0.0.0/8 via 10.0.0.1"))
            .unwrap_err()
            .contains("dev"));
        assert!(route_add(&w("10.0.0.0/8 encap 2001:db8::1"))
            .unwrap_err()
            .contains("segs"));
        assert!(route_add(&w("10.0.0.0/8 frob"))
            .unwrap_err()
            .contains("frob"));
    }

    #[test]
    fn route_keys() {
        let k = route_key(&w("10.2.0.0/24 vrf blue"), true).unwrap();
        assert_eq!((k.vrf.as_str(), k.prefix.as_str()), ("blue", "10.2.0.0/24"));
        let k = route_key(&w("10.2.0.0/24"), true).unwrap();
        assert_eq!(k.vrf, "underlay");
        assert!(route_key(&w("vrf blue"), true).is_err());
        assert_eq!(route_key(&w("vrf blue"), false).unwrap().vrf, "blue");
        assert_eq!(route_key(&[], false).unwrap().vrf, "");
        assert!(route_key(&w("10.0.0.0/8"), false).is_err());
    }

    #[test]
    fn stamp_words() {
        let s = stamp_create(&w(
            "probe ssid 7 source fc00::2 segs fc00:0:9::e,fc00:0:2::1 interval 100ms count 600 \
             duration 30s key 7365 ptp dscp 46 stopped",
        ))
        .unwrap();
        assert_eq!(s.name, "probe");
        assert_eq!(s.ssid, 7);
        assert_eq!(s.segments, ["fc00:0:9::e", "fc00:0:2::1"]);
        assert_eq!(
            (s.interval.as_str(), s.count, s.duration.as_str()),
            ("100ms", 600, "30s")
        );
        assert_eq!(s.key, "7365");
        assert_eq!(s.timestamp_format, pb::TimestampFormat::Ptp as i32);
        assert_eq!(s.dscp, 46);
        assert!(s.stopped);
        assert!(stamp_create(&w("probe source fc00::2 segs fc00::3"))
            .unwrap_err()
            .contains("ssid"));
        assert!(
            stamp_create(&w("probe ssid 1 source fc00::2 segs fc00::3 interval soon"))
                .unwrap_err()
                .contains("duration")
        );
        assert_eq!(
            stamp_watch(&w("probe interval 500ms")).unwrap(),
            ("probe".to_string(), "500ms".to_string())
        );
        assert_eq!(stamp_watch(&[]).unwrap(), (String::new(), String::new()));
    }
}
