//! srv6ctl's commands: connect, call the API, print the answer.

// tonic's calls return `Result<_, tonic::Status>`; Status is large by
// tonic's design.
#![allow(clippy::result_large_err)]

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::CommandFactory;
use serde_json::{json, Value};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Request, Status};

use super::out;
use super::{
    Cli, Command, ConfigVerb, Global, PolicyVerb, PortVerb, RouteVerb, RouterVerb, SidVerb,
    StampVerb, VrfVerb, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE,
};
use crate::agent::convert;
use crate::config::ConfigFile;
use crate::proto::srv6d::v1 as pb;
use pb::change::Op;

/// Why a command failed.
#[derive(Debug)]
pub enum Fail {
    /// The server answered with an error.
    Refused(Status),
    /// The server cannot be reached (or did not answer in time).
    Unreachable(String),
    /// The words after the verb make no sense.
    Usage(String),
    /// Something on this side (a file) is wrong.
    Local(String),
}

impl From<Status> for Fail {
    fn from(s: Status) -> Self {
        Fail::Refused(s)
    }
}

/// The gRPC code as written in the API's documentation (`INVALID_ARGUMENT`).
pub fn code_name(code: Code) -> String {
    let debug = format!("{code:?}");
    let mut out = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Adds the bearer token to every request.
#[derive(Clone)]
pub struct Auth(Option<MetadataValue<Ascii>>);

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

type Svc = InterceptedService<Channel, Auth>;

/// The three srv6d.v1 clients over one connection.
struct Clients {
    config: pb::config_service_client::ConfigServiceClient<Svc>,
    stamp: pb::stamp_service_client::StampServiceClient<Svc>,
    system: pb::system_service_client::SystemServiceClient<Svc>,
    timeout: Duration,
    url: String,
}

impl Clients {
    /// One unary call, bounded by --timeout.
    async fn call<T>(
        &self,
        f: impl Future<Output = Result<tonic::Response<T>, Status>>,
    ) -> Result<T, Fail> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(s)) => Err(Fail::Refused(s)),
            Err(_) => Err(Fail::Unreachable(format!(
                "{}: no answer within {:?} (--timeout)",
                self.url, self.timeout
            ))),
        }
    }
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, Fail> {
    std::fs::read(path).map_err(|e| Fail::Local(format!("{what} {}: {e}", path.display())))
}

async fn connect(g: &Global) -> Result<Clients, Fail> {
    let url = g.server_url();
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| Fail::Usage(format!("--server {url:?}: not a URL: {e}")))?
        .connect_timeout(g.timeout);
    if url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = &g.ca {
            tls = tls.ca_certificate(Certificate::from_pem(read_file(ca, "--ca")?));
        }
        if let (Some(cert), Some(key)) = (&g.cert, &g.key) {
            tls = tls.identity(Identity::from_pem(
                read_file(cert, "--cert")?,
                read_file(key, "--key")?,
            ));
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| Fail::Local(format!("TLS configuration: {e}")))?;
    } else if g.ca.is_some() || g.cert.is_some() {
        return Err(Fail::Usage(format!(
            "--ca/--cert need an https:// server, not {url}"
        )));
    }
    let token = match &g.token_file {
        None => None,
        Some(path) => {
            let bytes = read_file(path, "--token-file")?;
            let text = String::from_utf8_lossy(&bytes).trim().to_string();
            if text.is_empty() {
                return Err(Fail::Local(format!(
                    "--token-file {}: empty",
                    path.display()
                )));
            }
            Some(
                format!("Bearer {text}")
                    .parse::<MetadataValue<Ascii>>()
                    .map_err(|_| {
                        Fail::Local(format!(
                            "--token-file {}: the token is not printable ASCII",
                            path.display()
                        ))
                    })?,
            )
        }
    };
    let channel = endpoint.connect().await.map_err(|e| {
        let mut why = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            let s_text = s.to_string();
            if !why.ends_with(&s_text) {
                why = format!("{why}: {s_text}");
            }
            source = s.source();
        }
        Fail::Unreachable(format!("cannot reach srv6d at {url}: {why}"))
    })?;
    let auth = Auth(token);
    Ok(Clients {
        config: pb::config_service_client::ConfigServiceClient::with_interceptor(
            channel.clone(),
            auth.clone(),
        ),
        stamp: pb::stamp_service_client::StampServiceClient::with_interceptor(
            channel.clone(),
            auth.clone(),
        ),
        system: pb::system_service_client::SystemServiceClient::with_interceptor(channel, auth),
        timeout: g.timeout,
        url,
    })
}

/// Runs the command line; the exit status says how it went.
pub fn run(cli: Cli) -> ExitCode {
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "srv6ctl",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("srv6ctl: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = cli.global.json;
    match runtime.block_on(execute(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Refused(s)) => {
            let message = s.message();
            eprintln!("srv6ctl: {}: {message}", code_name(s.code()));
            if json {
                // A script reading stdout gets the error too.
                println!(
                    "{}",
                    json!({"error": {"code": code_name(s.code()), "message": message}})
                );
            }
            if s.code() == Code::Unavailable {
                ExitCode::from(EXIT_UNREACHABLE)
            } else {
                ExitCode::from(EXIT_REFUSED)
            }
        }
        Err(Fail::Unreachable(why)) => {
            eprintln!("srv6ctl: {why}");
            eprintln!(
                "srv6ctl: is srv6d running with its gRPC agent there? Start it with \
                 `srv6d run` (it listens on 127.0.0.1:50051 unless --grpc says otherwise), \
                 or point srv6ctl elsewhere with --server or SRV6CTL_SERVER."
            );
            ExitCode::from(EXIT_UNREACHABLE)
        }
        Err(Fail::Usage(why)) => {
            let mut cmd = Cli::command();
            let e = cmd.error(clap::error::ErrorKind::InvalidValue, why);
            let _ = e.print();
            ExitCode::from(EXIT_USAGE)
        }
        Err(Fail::Local(why)) => {
            eprintln!("srv6ctl: {why}");
            ExitCode::from(EXIT_REFUSED)
        }
    }
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("JSON values serialise")
    );
}

fn print_warnings(warnings: &[String]) {
    for w in warnings {
        eprintln!("srv6ctl: warning: {w}");
    }
}

/// Prints the answer of a change: JSON of the object in --json mode,
/// nothing otherwise (like ip).
fn done(json: bool, v: Value) {
    if json {
        print_json(&v);
    }
}

fn usage<T>(r: Result<T, String>) -> Result<T, Fail> {
    r.map_err(Fail::Usage)
}

async fn execute(cli: &Cli) -> Result<(), Fail> {
    let g = &cli.global;
    let json = g.json;
    // Usage mistakes in the words are reported before connecting.
    check_words(&cli.command).map_err(Fail::Usage)?;
    let c = connect(g).await?;
    let mut config = c.config.clone();
    match &cli.command {
        Command::Router { verb } => match verb {
            RouterVerb::Set { words } => {
                let router = usage(super::router_set(words))?;
                let r = c
                    .call(config.set_router(pb::SetRouterRequest {
                        router: Some(router),
                    }))
                    .await?;
                done(json, out::router_json(&r));
            }
            RouterVerb::Show => {
                let r = c.call(config.get_router(pb::GetRouterRequest {})).await?;
                if json {
                    print_json(&out::router_json(&r));
                } else {
                    print!("{}", out::router_text(&r));
                }
            }
        },
        Command::Port { verb } => match verb {
            PortVerb::Add { words } => {
                let port = usage(super::port_add(words))?;
                let p = c
                    .call(config.create_port(pb::CreatePortRequest { port: Some(port) }))
                    .await?;
                done(json, out::port_json(&p));
            }
            PortVerb::Del { name } => {
                let r = c
                    .call(config.delete_port(pb::DeletePortRequest { name: name.clone() }))
                    .await?;
                done(json, json!({"generation": r.generation}));
            }
            PortVerb::Show { name } => {
                let ports = match name {
                    Some(n) => vec![
                        c.call(config.get_port(pb::GetPortRequest { name: n.clone() }))
                            .await?,
                    ],
                    None => {
                        c.call(config.list_ports(pb::ListPortsRequest {}))
                            .await?
                            .ports
                    }
                };
                if json {
                    print_json(
                        &json!({"ports": ports.iter().map(out::port_json).collect::<Vec<_>>()}),
                    );
                } else {
                    print!("{}", out::ports_table(&ports));
                }
            }
        },
        Command::Vrf { verb } => match verb {
            VrfVerb::Add { words } => {
                let vrf = usage(super::vrf_add(words))?;
                let v = c
                    .call(config.create_vrf(pb::CreateVrfRequest { vrf: Some(vrf) }))
                    .await?;
                done(json, out::vrf_json(&v));
            }
            VrfVerb::Del { name } => {
                let r = c
                    .call(config.delete_vrf(pb::DeleteVrfRequest { name: name.clone() }))
                    .await?;
                done(json, json!({"generation": r.generation}));
            }
            VrfVerb::Show { name } => {
                let vrfs = match name {
                    Some(n) => vec![
                        c.call(config.get_vrf(pb::GetVrfRequest { name: n.clone() }))
                            .await?,
                    ],
                    None => c.call(config.list_vrfs(pb::ListVrfsRequest {})).await?.vrfs,
                };
                if json {
                    print_json(
                        &json!({"vrfs": vrfs.iter().map(out::vrf_json).collect::<Vec<_>>()}),
                    );
                } else {
                    print!("{}", out::vrfs_table(&vrfs));
                }
            }
        },
        Command::Sid { verb } => match verb {
            SidVerb::Add { words } => {
                let sid = usage(super::sid_add(words))?;
                let s = c
                    .call(config.create_sid(pb::CreateSidRequest { sid: Some(sid) }))
                    .await?;
                done(json, out::sid_json(&s));
            }
            SidVerb::Del { sid } => {
                let r = c
                    .call(config.delete_sid(pb::DeleteSidRequest { sid: sid.clone() }))
                    .await?;
                done(json, json!({"generation": r.generation}));
            }
            SidVerb::Show { sid } => {
                let sids = match sid {
                    Some(s) => vec![
                        c.call(config.get_sid(pb::GetSidRequest { sid: s.clone() }))
                            .await?,
                    ],
                    None => c.call(config.list_sids(pb::ListSidsRequest {})).await?.sids,
                };
                if json {
                    print_json(
                        &json!({"sids": sids.iter().map(out::sid_json).collect::<Vec<_>>()}),
                    );
                } else {
                    print!("{}", out::sids_table(&sids));
                }
            }
        },
        Command::Policy { verb } => match verb {
            PolicyVerb::Add { words } => {
                let policy = usage(super::policy_add(words))?;
                let p = c
                    .call(config.create_policy(pb::CreatePolicyRequest {
                        policy: Some(policy),
                    }))
                    .await?;
                done(json, out::policy_json(&p));
            }
            PolicyVerb::Del { name } => {
                let r = c
                    .call(config.delete_policy(pb::DeletePolicyRequest { name: name.clone() }))
                    .await?;
                done(json, json!({"generation": r.generation}));
            }
            PolicyVerb::Show { name } => {
                let policies = match name {
                    Some(n) => vec![
                        c.call(config.get_policy(pb::GetPolicyRequest { name: n.clone() }))
                            .await?,
                    ],
                    None => {
                        c.call(config.list_policies(pb::ListPoliciesRequest {}))
                            .await?
                            .policies
                    }
                };
                if json {
                    print_json(
                        &json!({"policies": policies.iter().map(out::policy_json).collect::<Vec<_>>()}),
                    );
                } else {
                    print!("{}", out::policies_table(&policies));
                }
            }
        },
        Command::Route { verb } => route(&c, verb, json).await?,
        Command::Stamp { verb } => stamp(&c, verb, json).await?,
        Command::Apply { file, dry_run } => {
            let text = String::from_utf8(read_file(file, "apply")?)
                .map_err(|_| Fail::Local(format!("{}: not UTF-8 text", file.display())))?;
            let doc: ConfigFile = toml::from_str(&text)
                .map_err(|e| Fail::Local(format!("{}: {e}", file.display())))?;
            let changes = changes_from_file(&doc)
                .map_err(|e| Fail::Local(format!("{}: {e}", file.display())))?;
            if changes.is_empty() {
                return Err(Fail::Local(format!(
                    "{}: no objects to apply",
                    file.display()
                )));
            }
            let n = changes.len();
            let r = c
                .call(config.apply(pb::ApplyRequest {
                    changes,
                    dry_run: *dry_run,
                }))
                .await?;
            print_warnings(&r.warnings);
            if json {
                print_json(&json!({"generation": r.generation, "warnings": r.warnings,
                                   "changes": n, "dry_run": dry_run}));
            } else if *dry_run {
                println!("{n} changes are valid (dry run: nothing applied)");
            } else {
                println!("{n} changes applied: generation {}", r.generation);
            }
        }
        Command::Config {
            verb: ConfigVerb::Show { toml },
        } => {
            let cfg = c.call(config.get_config(pb::GetConfigRequest {})).await?;
            if *toml {
                print!("{}", cfg.toml);
            } else if json {
                print_json(&out::config_json(&cfg));
            } else {
                print!("{}", config_text(&cfg));
            }
        }
        Command::Stats { all } => {
            let mut system = c.system.clone();
            let r = c
                .call(system.get_counters(pb::GetCountersRequest {}))
                .await?;
            if json {
                print_json(&out::counters_json(&r));
            } else {
                print!("{}", out::counters_text(&r, *all));
            }
        }
        Command::Health => {
            let mut system = c.system.clone();
            let h = c.call(system.get_health(pb::GetHealthRequest {})).await?;
            if json {
                print_json(&out::health_json(&h));
            } else {
                print!(
                    "{}",
                    out::table(
                        &["STATUS", "GENERATION", "UPTIME", "DETAIL"],
                        &[vec![
                            out::health_status(h.status).into(),
                            h.generation.to_string(),
                            format!("{}s", h.uptime_seconds),
                            h.detail.clone(),
                        ]],
                    )
                );
            }
            if h.status != pb::get_health_response::Status::Serving as i32 {
                return Err(Fail::Local(format!("srv6d is not serving: {}", h.detail)));
            }
        }
        Command::Version => {
            let mut system = c.system.clone();
            let v = c.call(system.get_version(pb::GetVersionRequest {})).await?;
            if json {
                print_json(
                    &json!({"srv6ctl": env!("CARGO_PKG_VERSION"), "srv6d": v.version,
                                   "api": v.api, "dataplane": v.dataplane}),
                );
            } else {
                println!("srv6ctl {}", env!("CARGO_PKG_VERSION"));
                println!(
                    "srv6d {} (api {}, dataplane {})",
                    v.version, v.api, v.dataplane
                );
            }
        }
        Command::Completions { .. } => unreachable!("handled before connecting"),
    }
    Ok(())
}

/// Parses the words after the verb, for their usage errors only.
fn check_words(command: &Command) -> Result<(), String> {
    match command {
        Command::Router {
            verb: RouterVerb::Set { words },
        } => super::router_set(words).map(drop),
        Command::Port {
            verb: PortVerb::Add { words },
        } => super::port_add(words).map(drop),
        Command::Vrf {
            verb: VrfVerb::Add { words },
        } => super::vrf_add(words).map(drop),
        Command::Sid {
            verb: SidVerb::Add { words },
        } => super::sid_add(words).map(drop),
        Command::Policy {
            verb: PolicyVerb::Add { words },
        } => super::policy_add(words).map(drop),
        Command::Route {
            verb: RouteVerb::Add { words } | RouteVerb::Replace { words },
        } => super::route_add(words).map(drop),
        Command::Route {
            verb: RouteVerb::Del { words },
        } => super::route_key(words, true).map(drop),
        Command::Route {
            verb: RouteVerb::Show { words },
        } => super::route_key(words, false).map(drop),
        Command::Stamp {
            verb: StampVerb::Create { words },
        } => super::stamp_create(words).map(drop),
        Command::Stamp {
            verb: StampVerb::Watch { words, .. },
        } => super::stamp_watch(words).map(drop),
        _ => Ok(()),
    }
}

fn config_text(cfg: &pb::Config) -> String {
    let mut out = format!("generation {}\n", cfg.generation);
    let mut section = |title: &str, body: String| {
        out.push_str(&format!("\n{title}\n{body}"));
    };
    if let Some(r) = &cfg.router {
        section("router", out::router_text(r));
    }
    section("ports", out::ports_table(&cfg.ports));
    section("vrfs", out::vrfs_table(&cfg.vrfs));
    section("sids", out::sids_table(&cfg.sids));
    section("policies", out::policies_table(&cfg.policies));
    section("routes", out::routes_table(&cfg.routes, &cfg.policies));
    if !cfg.stamp_senders.is_empty() {
        section("stamp senders", out::senders_table(&cfg.stamp_senders));
    }
    if !cfg.stamp_reflector_sessions.is_empty() {
        section(
            "stamp reflector sessions",
            out::sessions_table(&cfg.stamp_reflector_sessions),
        );
    }
    out
}

fn change(op: Op) -> pb::Change {
    pb::Change { op: Some(op) }
}

async fn route(c: &Clients, verb: &RouteVerb, json: bool) -> Result<(), Fail> {
    let mut config = c.config.clone();
    match verb {
        RouteVerb::Add { words } | RouteVerb::Replace { words } => {
            let replace = matches!(verb, RouteVerb::Replace { .. });
            let add = usage(super::route_add(words))?;
            let key = pb::RouteKey {
                vrf: add.route.vrf.clone(),
                prefix: add.route.prefix.clone(),
            };
            let Some(policy) = add.policy else {
                let r = if replace {
                    c.call(config.apply(pb::ApplyRequest {
                        changes: vec![change(Op::PutRoute(add.route.clone()))],
                        dry_run: false,
                    }))
                    .await?;
                    add.route
                } else {
                    c.call(config.create_route(pb::CreateRouteRequest {
                        route: Some(add.route),
                    }))
                    .await?
                };
                done(json, out::route_json(&r));
                return Ok(());
            };
            if !replace {
                match c
                    .call(config.get_route(pb::GetRouteRequest {
                        key: Some(key.clone()),
                    }))
                    .await
                {
                    Ok(_) => {
                        return Err(Fail::Refused(Status::already_exists(format!(
                            "route.prefix: VRF {} already has a route to {} (use `srv6ctl route \
                             replace` to change it)",
                            key.vrf, key.prefix
                        ))))
                    }
                    Err(Fail::Refused(s)) if s.code() == Code::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            // The implicit policy: reused as it is if it exists (its name
            // is a hash of the mode and the segments), else created in the
            // same batch as the route.
            let existing = match c
                .call(config.get_policy(pb::GetPolicyRequest {
                    name: policy.name.clone(),
                }))
                .await
            {
                Ok(p) => Some(p),
                Err(Fail::Refused(s)) if s.code() == Code::NotFound => None,
                Err(e) => return Err(e),
            };
            let mut changes = Vec::new();
            let reused = existing.is_some();
            if !reused {
                changes.push(change(Op::PutPolicy(policy.clone())));
            }
            changes.push(change(Op::PutRoute(add.route.clone())));
            let r = c
                .call(config.apply(pb::ApplyRequest {
                    changes,
                    dry_run: false,
                }))
                .await?;
            print_warnings(&r.warnings);
            let policy = existing.unwrap_or(policy);
            done(
                json,
                json!({"generation": r.generation, "route": out::route_json(&add.route),
                       "policy": out::policy_json(&policy), "policy_reused": reused}),
            );
        }
        RouteVerb::Del { words } => {
            let key = usage(super::route_key(words, true))?;
            // An implicit policy no other route uses goes with its route,
            // in the same batch.
            let found = c
                .call(config.get_route(pb::GetRouteRequest {
                    key: Some(key.clone()),
                }))
                .await?;
            let mut changes = vec![change(Op::DeleteRoute(key.clone()))];
            if found.policy.starts_with("auto-") {
                let all = c
                    .call(config.list_routes(pb::ListRoutesRequest { vrf: String::new() }))
                    .await?
                    .routes;
                let others = all.iter().any(|r| {
                    r.policy == found.policy && !(r.vrf == found.vrf && r.prefix == found.prefix)
                });
                if !others {
                    changes.push(change(Op::DeletePolicy(found.policy.clone())));
                }
            }
            let r = c
                .call(config.apply(pb::ApplyRequest {
                    changes,
                    dry_run: false,
                }))
                .await?;
            print_warnings(&r.warnings);
            done(json, json!({"generation": r.generation}));
        }
        RouteVerb::Show { words } => {
            let key = usage(super::route_key(words, false))?;
            let routes = c
                .call(config.list_routes(pb::ListRoutesRequest { vrf: key.vrf }))
                .await?
                .routes;
            let policies = c
                .call(config.list_policies(pb::ListPoliciesRequest {}))
                .await?
                .policies;
            if json {
                print_json(
                    &json!({"routes": routes.iter().map(out::route_json).collect::<Vec<_>>()}),
                );
            } else {
                print!("{}", out::routes_table(&routes, &policies));
            }
        }
    }
    Ok(())
}

async fn stamp(c: &Clients, verb: &StampVerb, json: bool) -> Result<(), Fail> {
    let mut config = c.config.clone();
    let mut stamp = c.stamp.clone();
    match verb {
        StampVerb::Create { words } => {
            let sender = usage(super::stamp_create(words))?;
            let s = c
                .call(config.create_stamp_sender(pb::CreateStampSenderRequest {
                    sender: Some(sender),
                }))
                .await?;
            done(json, out::stamp_sender_json(&s));
        }
        StampVerb::Start { name } => {
            let s = c
                .call(stamp.start_stamp_sender(pb::StartStampSenderRequest { name: name.clone() }))
                .await?;
            done(json, out::stamp_sender_json(&s));
        }
        StampVerb::Stop { name } => {
            let s = c
                .call(stamp.stop_stamp_sender(pb::StopStampSenderRequest { name: name.clone() }))
                .await?;
            done(json, out::stamp_sender_json(&s));
        }
        StampVerb::Delete { name } => {
            let r = c
                .call(
                    config.delete_stamp_sender(pb::DeleteStampSenderRequest { name: name.clone() }),
                )
                .await?;
            done(json, json!({"generation": r.generation}));
        }
        StampVerb::Results { name, records } => {
            let r = c
                .call(stamp.get_stamp_results(pb::GetStampResultsRequest {
                    name: name.clone().unwrap_or_default(),
                    take_records: *records,
                }))
                .await?;
            if json {
                print_json(&out::results_json(&r));
            } else {
                print!("{}", out::results_table(&r));
                if *records {
                    println!();
                    print!("{}", out::records_table(&r));
                }
            }
        }
        StampVerb::Watch { words, records } => {
            let (name, interval) = usage(super::stamp_watch(words))?;
            let mut stream = c
                .call(stamp.watch_stamp_results(pb::WatchStampResultsRequest {
                    name,
                    interval,
                    take_records: *records,
                }))
                .await?;
            let mut header = true;
            while let Some(update) = stream.message().await? {
                if json {
                    // One object per line (NDJSON).
                    println!("{}", out::results_json(&update));
                } else {
                    let text = out::results_table(&update);
                    let mut lines = text.lines();
                    let head = lines.next().unwrap_or_default();
                    if header {
                        println!("{head}");
                        header = false;
                    }
                    for l in lines {
                        println!("{l}");
                    }
                    if *records {
                        for l in out::records_table(&update).lines().skip(1) {
                            println!("  {l}");
                        }
                    }
                }
            }
        }
        StampVerb::Show => {
            let senders = c
                .call(config.list_stamp_senders(pb::ListStampSendersRequest {}))
                .await?
                .senders;
            if json {
                print_json(
                    &json!({"senders": senders.iter().map(out::stamp_sender_json).collect::<Vec<_>>()}),
                );
            } else {
                print!("{}", out::senders_table(&senders));
            }
        }
    }
    Ok(())
}

/// A number of the file the API can carry: 0 means "not set" there, so a
/// 0 (unless `zero_ok`) or a negative number would silently change meaning.
fn fits(n: Option<i64>, field: &str, zero_ok: bool) -> Result<(), String> {
    match n {
        Some(v) if v < i64::from(!zero_ok) || v > i64::from(u32::MAX) => Err(format!(
            "{field} = {v}: out of range (the API takes 1..={}{})",
            u32::MAX,
            if zero_ok { " or 0" } else { "" }
        )),
        _ => Ok(()),
    }
}

/// Every object of a configuration file as `put` changes, in the file's
/// section order (the batch is validated as a whole, so order does not
/// matter to srv6d).
pub fn changes_from_file(doc: &ConfigFile) -> Result<Vec<pb::Change>, String> {
    let mut changes = Vec::new();
    if let Some(r) = &doc.router {
        fits(r.stamp_port, "router.stamp_port", false)?;
        fits(r.stamp_rate_limit, "router.stamp_rate_limit", false)?;
        changes.push(change(Op::SetRouter(convert::router_out(r))));
    }
    for v in &doc.vrf {
        fits(Some(v.id), &format!("vrf {:?}: id", v.name), false)?;
        changes.push(change(Op::PutVrf(convert::vrf_out(v))));
    }
    for (i, p) in doc.port.iter().enumerate() {
        fits(p.queues, &format!("port[{i}].queues"), false)?;
        changes.push(change(Op::PutPort(convert::port_out(p))));
    }
    for s in &doc.sid {
        changes.push(change(Op::PutSid(convert::sid_out(s))));
    }
    for (i, p) in doc.policy.iter().enumerate() {
        fits(
            p.ipv4_hop_limit,
            &format!("policy[{i}].ipv4_hop_limit"),
            false,
        )?;
        changes.push(change(Op::PutPolicy(convert::policy_out(p))));
    }
    for r in &doc.route {
        changes.push(change(Op::PutRoute(convert::route_out(r))));
    }
    for (i, s) in doc.stamp_sender.iter().enumerate() {
        let f = |name: &str| format!("stamp_sender[{i}].{name}");
        fits(Some(s.ssid), &f("ssid"), true)?;
        fits(s.src_port, &f("src_port"), false)?;
        fits(s.dst_port, &f("dst_port"), false)?;
        fits(s.count, &f("count"), false)?;
        fits(s.length, &f("length"), false)?;
        fits(s.dscp, &f("dscp"), true)?;
        let mut m = convert::stamp_sender_out(s);
        // stamp_sender_out hides the key (it is what GetConfig returns).
        m.key = s.key.clone().unwrap_or_default();
        changes.push(change(Op::PutStampSender(m)));
    }
    for (i, s) in doc.stamp_session.iter().enumerate() {
        fits(Some(s.ssid), &format!("stamp_session[{i}].ssid"), true)?;
        let mut m = convert::stamp_session_out(s);
        m.key = s.key.clone().unwrap_or_default();
        changes.push(change(Op::PutStampReflectorSession(m)));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_the_apis() {
        assert_eq!(code_name(Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_name(Code::NotFound), "NOT_FOUND");
        assert_eq!(code_name(Code::Ok), "OK");
    }

    #[test]
    fn a_file_becomes_one_put_per_object_with_its_keys() {
        let doc: ConfigFile = toml::from_str(
            r#"
            [router]
            source = "fc00:a::1"
            addresses = ["fc00:a::2"]
            [[vrf]]
            name = "blue"
            id = 10
            [[route]]
            vrf = "blue"
            prefix = "10.0.0.0/8"
            blackhole = true
            [[stamp_sender]]
            name = "p"
            ssid = 0
            source = "fc00:a::2"
            segments = ["fc00:b::1"]
            key = "7365"
            "#,
        )
        .unwrap();
        let changes = changes_from_file(&doc).unwrap();
        assert_eq!(changes.len(), 4);
        assert!(
            matches!(changes[0].op, Some(Op::SetRouter(ref r)) if r.addresses == ["fc00:a::2"])
        );
        assert!(matches!(changes[1].op, Some(Op::PutVrf(ref v)) if v.id == 10));
        assert!(matches!(changes[2].op, Some(Op::PutRoute(ref r)) if r.blackhole));
        assert!(matches!(changes[3].op, Some(Op::PutStampSender(ref s)) if s.key == "7365"));

        let bad: ConfigFile =
            toml::from_str("[[port]]\nname = \"p\"\nrole = \"wan\"\nqueues = -1\n").unwrap();
        assert!(changes_from_file(&bad)
            .unwrap_err()
            .contains("port[0].queues"));
    }
}
