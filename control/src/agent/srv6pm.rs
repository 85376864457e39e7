//! The srv6pm STAMP services (`STAMPSessionSenderService`,
//! `STAMPSessionReflectorService`), wire compatible with the published
//! STAMP-over-SRv6 API (docs/grpc.md), served over the same agent as
//! srv6d.v1: an srv6pm session *is* an srv6d session, so both APIs see it.
//!
//! Mapping:
//! - Sender session SSID n ↔ `[[stamp_sender]]` named `srv6pm-n`, created
//!   stopped; Start/Stop flip `stopped`. Its SID list is `sidlist` followed
//!   by `reflector_ip` (unless the list already ends there). `interval` is
//!   in whole seconds (the contract's unit; srv6d.v1 takes milliseconds).
//!   `key_chain` is the HMAC-SHA-256 key in hex when `auth_mode` is
//!   HMAC_SHA_256. Replies carry T1..T4 in Unix seconds; a session's
//!   records are taken from the engine once each, whoever asks first
//!   (srv6pm or srv6d.v1), and only that session's: GetStampSessionResults
//!   returns them, GetResultsCounter counts and discards them (as upstream).
//! - Reflector session SSID n ↔ `[[stamp_session]]` with that SSID,
//!   created stopped (a stopped session answers nothing). `return_sidlist`
//!   is the whole return path: its last SID becomes the session's
//!   `return_destination`, the others its `return_segments`. The reflector's UDP port, mode (stateless/stateful)
//!   and timestamp format are the router's (`[router]`), shared by every
//!   session: Init and Create set them.
//! - Init's `stamp_source_ipv6_address` is added to `router.addresses` (the
//!   engine answers it) if it is not there; `interfaces` must be configured
//!   ports.
//!
//! Status codes follow upstream: NOT_INITIALIZED for any session call
//! before Init, SESSION_RUNNING to Destroy a running session,
//! RESET_FAILED (nothing destroyed) to Reset while sessions exist.
//!
//! Every outcome is in the reply's `status` (the gRPC status stays OK, as
//! the contract has it); `description` says what happened or what is wrong.

// tonic's handlers return `Result<_, tonic::Status>`; Status is large by
// tonic's design, not ours.
#![allow(clippy::result_large_err)]

use std::net::Ipv6Addr;
use std::sync::{Arc, Mutex};

use tonic::{Request, Response, Status};

use super::grpc::{with_agent, SharedAgent};
use super::{Agent, ApiError, Change, FieldChange, Key, Object, PutMode};
use crate::config::{StampMode, StampSenderEntry, StampSessionEntry, StampTimestampFormat};
use crate::proto::srv6pm as pm;
use crate::stamp_inline::TakeRecords;

use pm::StatusCode as Code;

/// The sender session name for an srv6pm SSID.
pub fn sender_name(ssid: u32) -> String {
    format!("srv6pm-{ssid}")
}

/// The srv6pm services' own state (what Init set). Sessions live in the
/// agent's configuration.
#[derive(Debug, Default)]
pub struct Srv6pmState {
    sender: Option<SenderInit>,
    reflector: Option<ReflectorInit>,
}

#[derive(Debug, Clone)]
struct SenderInit {
    udp_port: u16,
    source: Option<Ipv6Addr>,
}

#[derive(Debug, Clone)]
struct ReflectorInit {
    /// SSIDs created through srv6pm (Reset refuses while one exists).
    ssids: Vec<u32>,
}

type Shared = Arc<Mutex<Srv6pmState>>;

struct Outcome {
    status: Code,
    description: String,
}

impl Outcome {
    fn ok(description: impl Into<String>) -> Self {
        Outcome {
            status: Code::Success,
            description: description.into(),
        }
    }

    fn err(status: Code, description: impl Into<String>) -> Self {
        Outcome {
            status,
            description: description.into(),
        }
    }
}

fn api_outcome(e: &ApiError) -> Outcome {
    let status = match e.code {
        super::ErrorCode::InvalidArgument | super::ErrorCode::FailedPrecondition => {
            Code::InvalidArgument
        }
        super::ErrorCode::NotFound => Code::SessionNotFound,
        super::ErrorCode::AlreadyExists => Code::SessionExists,
        super::ErrorCode::Internal => Code::InternalError,
    };
    Outcome::err(status, e.to_string())
}

fn apply(agent: &mut Agent, field: &str, change: Change) -> Result<(), Outcome> {
    agent
        .apply(
            &[FieldChange {
                field: field.to_string(),
                change,
            }],
            false,
        )
        .map(|_| ())
        .map_err(|e| api_outcome(&e))
}

fn parse_v6(text: &str, field: &str) -> Result<Ipv6Addr, Outcome> {
    text.trim().parse().map_err(|_| {
        Outcome::err(
            Code::InvalidArgument,
            format!("{field}: {text:?} is not an IPv6 address"),
        )
    })
}

/// Checks `interfaces` against the ports and makes `source` one of the
/// router's addresses.
fn adopt_source(
    agent: &mut Agent,
    interfaces: &[String],
    source: Option<Ipv6Addr>,
) -> Result<String, Outcome> {
    for (i, ifname) in interfaces.iter().enumerate() {
        if !agent.doc().port.iter().any(|p| &p.name == ifname) {
            return Err(Outcome::err(
                Code::InvalidArgument,
                format!("interfaces[{i}]: {ifname:?} is not one of srv6d's ports"),
            ));
        }
    }
    let Some(source) = source else {
        return Ok(String::new());
    };
    let Some(mut router) = agent.doc().router.clone() else {
        return Err(Outcome::err(
            Code::NotInitialized,
            "the router settings are not set yet (srv6d.v1 SetRouter)",
        ));
    };
    let known = router
        .addresses
        .iter()
        .any(|a| a.parse::<Ipv6Addr>().ok() == Some(source));
    if known {
        return Ok(String::new());
    }
    router.addresses.push(source.to_string());
    apply(
        agent,
        "stamp_source_ipv6_address",
        Change::SetRouter(router),
    )?;
    Ok(format!("; {source} added to the router's addresses"))
}

fn sender_entry(agent: &Agent, ssid: u32) -> Option<StampSenderEntry> {
    let name = sender_name(ssid);
    agent
        .doc()
        .stamp_sender
        .iter()
        .find(|s| s.name == name)
        .cloned()
}

fn reflector_entry(agent: &Agent, ssid: u32) -> Option<StampSessionEntry> {
    agent
        .doc()
        .stamp_session
        .iter()
        .find(|s| s.ssid == i64::from(ssid))
        .cloned()
}

/// NOT_INITIALIZED unless the sender's Init was called.
fn sender_init(state: &Srv6pmState) -> Result<&SenderInit, Outcome> {
    state.sender.as_ref().ok_or_else(|| {
        Outcome::err(
            Code::NotInitialized,
            "the sender is not initialised: call Init first",
        )
    })
}

/// NOT_INITIALIZED unless the reflector's Init was called.
fn reflector_init(state: &mut Srv6pmState) -> Result<&mut ReflectorInit, Outcome> {
    state.reflector.as_mut().ok_or_else(|| {
        Outcome::err(
            Code::NotInitialized,
            "the reflector is not initialised: call Init first",
        )
    })
}

/// An SSID is 16 bits (RFC 8972 §3); the contract's field is 32.
fn check_ssid(ssid: u32) -> Result<(), Outcome> {
    if ssid > u32::from(u16::MAX) {
        return Err(Outcome::err(
            Code::InvalidArgument,
            format!("ssid: {ssid} is out of range; an SSID is 0 to 65535"),
        ));
    }
    Ok(())
}

fn key_for(
    auth: i32,
    key_chain: &str,
    field: &str,
) -> Result<(Option<String>, pm::AuthenticationMode), Outcome> {
    match pm::AuthenticationMode::try_from(auth) {
        Ok(pm::AuthenticationMode::Unspecified | pm::AuthenticationMode::Unauthenticated) => {
            Ok((None, pm::AuthenticationMode::Unauthenticated))
        }
        Ok(pm::AuthenticationMode::HmacSha256) if !key_chain.is_empty() => Ok((
            Some(key_chain.to_string()),
            pm::AuthenticationMode::HmacSha256,
        )),
        Ok(pm::AuthenticationMode::HmacSha256) => Err(Outcome::err(
            Code::InvalidArgument,
            format!("{field}.key_chain: HMAC_SHA_256 needs the key, in hex"),
        )),
        Err(_) => Err(Outcome::err(
            Code::InvalidArgument,
            format!("{field}.auth_mode: {auth} is not a known authentication mode"),
        )),
    }
}

fn format_for(value: i32, field: &str) -> Result<StampTimestampFormat, Outcome> {
    match pm::TimestampFormat::try_from(value) {
        Ok(pm::TimestampFormat::Unspecified | pm::TimestampFormat::Ntp) => {
            Ok(StampTimestampFormat::Ntp)
        }
        Ok(pm::TimestampFormat::PtPv2) => Ok(StampTimestampFormat::Ptp),
        Err(_) => Err(Outcome::err(
            Code::InvalidArgument,
            format!("{field}.timestamp_format: {value} is not a known timestamp format"),
        )),
    }
}

fn format_out(f: StampTimestampFormat) -> i32 {
    match f {
        StampTimestampFormat::Ntp => pm::TimestampFormat::Ntp as i32,
        StampTimestampFormat::Ptp => pm::TimestampFormat::PtPv2 as i32,
    }
}

// ---------------------------------------------------------------------------
// Sender
// ---------------------------------------------------------------------------

/// Runs `f` on the agent and the srv6pm state, both locked, off the
/// async executor.
async fn run_locked<F, T>(agent: &SharedAgent, state: &Shared, f: F) -> Result<T, Status>
where
    F: FnOnce(&mut Agent, &mut Srv6pmState) -> T + Send + 'static,
    T: Send + 'static,
{
    let state = state.clone();
    with_agent(agent, move |a| {
        let mut s = state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(a, &mut s)
    })
    .await
}

/// Starts or stops a session of `role` ("sender" / "reflector") whose
/// configured `stopped` flag is `stopped`; `put` applies the flipped flag.
fn set_running(
    agent: &mut Agent,
    role: &str,
    ssid: u32,
    run: bool,
    stopped: Option<bool>,
    put: impl FnOnce(bool) -> Change,
) -> Outcome {
    let Some(stopped) = stopped else {
        return Outcome::err(
            Code::SessionNotFound,
            format!("no {role} session SSID {ssid}"),
        );
    };
    if stopped != run {
        return if run {
            Outcome::err(
                Code::SessionRunning,
                format!("{role} session SSID {ssid} is running"),
            )
        } else {
            Outcome::err(
                Code::SessionNotRunning,
                format!("{role} session SSID {ssid} is not running"),
            )
        };
    }
    match apply(agent, "ssid", put(!run)) {
        Ok(()) => Outcome::ok(format!(
            "{role} session SSID {ssid} {}",
            if run { "started" } else { "stopped" }
        )),
        Err(o) => o,
    }
}

/// The srv6pm `STAMPSessionSenderService`.
#[derive(Clone)]
pub struct SenderApi {
    agent: SharedAgent,
    state: Shared,
}

impl SenderApi {
    /// The service over `agent`, sharing `state` with the reflector
    /// service.
    pub fn new(agent: SharedAgent, state: Arc<Mutex<Srv6pmState>>) -> Self {
        SenderApi { agent, state }
    }

    async fn run<F, T>(&self, f: F) -> Result<T, Status>
    where
        F: FnOnce(&mut Agent, &mut Srv6pmState) -> T + Send + 'static,
        T: Send + 'static,
    {
        run_locked(&self.agent, &self.state, f).await
    }
}

fn create_sender(
    agent: &mut Agent,
    state: &Srv6pmState,
    req: &pm::CreateStampSenderSessionRequest,
) -> Result<(String, pm::StampSenderParameters), Outcome> {
    let init = sender_init(state)?;
    check_ssid(req.ssid)?;
    if sender_entry(agent, req.ssid).is_some() {
        return Err(Outcome::err(
            Code::SessionExists,
            format!("sender session SSID {} exists", req.ssid),
        ));
    }
    let params = req.stamp_params.clone().unwrap_or_default();
    let mut segments: Vec<String> = req
        .sidlist
        .as_ref()
        .map(|p| p.segments.clone())
        .unwrap_or_default();
    if !params.reflector_ip.is_empty() {
        let reflector = parse_v6(&params.reflector_ip, "stamp_params.reflector_ip")?;
        let last = segments.last().and_then(|s| s.parse::<Ipv6Addr>().ok());
        if last != Some(reflector) {
            segments.push(reflector.to_string());
        }
    }
    if segments.is_empty() {
        return Err(Outcome::err(
            Code::InvalidArgument,
            "sidlist: empty, and no stamp_params.reflector_ip: nowhere to send the test packets",
        ));
    }
    if req.interval == 0 {
        return Err(Outcome::err(
            Code::InvalidArgument,
            "interval: 0; expected whole seconds between test packets, at least 1",
        ));
    }
    let source = if req.stamp_source_ipv6_address.is_empty() {
        init.source
    } else {
        Some(parse_v6(
            &req.stamp_source_ipv6_address,
            "stamp_source_ipv6_address",
        )?)
    };
    let Some(source) = source else {
        return Err(Outcome::err(
            Code::InvalidArgument,
            "stamp_source_ipv6_address: not given here nor at Init",
        ));
    };
    let note = adopt_source(agent, &[], Some(source))?;
    let (key, auth) = key_for(params.auth_mode, &params.key_chain, "stamp_params")?;
    let format = format_for(params.timestamp_format, "stamp_params")?;
    let dst_port = if params.reflector_udp_port == 0 {
        crate::config::DEFAULT_STAMP_SENDER_DST_PORT
    } else {
        u16::try_from(params.reflector_udp_port).map_err(|_| {
            Outcome::err(
                Code::InvalidArgument,
                format!(
                    "stamp_params.reflector_udp_port: {} is not a UDP port",
                    params.reflector_udp_port
                ),
            )
        })?
    };
    let entry = StampSenderEntry {
        name: sender_name(req.ssid),
        ssid: i64::from(req.ssid),
        source: source.to_string(),
        segments: segments.clone(),
        src_port: Some(i64::from(init.udp_port)),
        dst_port: Some(i64::from(dst_port)),
        interval: Some(format!("{}s", req.interval)),
        count: None,
        duration: None,
        key,
        length: None,
        timestamp_format: format,
        dscp: None,
        clocks_synchronized: false,
        stopped: true,
    };
    apply(
        agent,
        "stamp_params",
        Change::Put(Object::StampSender(entry), PutMode::Create),
    )?;
    let chosen = pm::StampSenderParameters {
        reflector_ip: segments.last().cloned().unwrap_or_default(),
        reflector_udp_port: u32::from(dst_port),
        auth_mode: auth as i32,
        key_chain: String::new(),
        timestamp_format: format_out(format),
        packet_loss_type: if params.packet_loss_type == 0 {
            pm::PacketLossType::RoundTrip as i32
        } else {
            params.packet_loss_type
        },
        delay_measurement_mode: if params.delay_measurement_mode == 0 {
            pm::DelayMeasurementMode::TwoWay as i32
        } else {
            params.delay_measurement_mode
        },
    };
    Ok((
        format!(
            "sender session SSID {} created (srv6d session {:?}, stopped){note}",
            req.ssid,
            sender_name(req.ssid)
        ),
        chosen,
    ))
}

fn set_sender_running(agent: &mut Agent, state: &Srv6pmState, ssid: u32, run: bool) -> Outcome {
    if let Err(o) = sender_init(state) {
        return o;
    }
    let entry = sender_entry(agent, ssid);
    let stopped = entry.as_ref().map(|e| e.stopped);
    set_running(agent, "sender", ssid, run, stopped, |now_stopped| {
        let mut entry = entry.expect("checked by set_running");
        entry.stopped = now_stopped;
        Change::Put(Object::StampSender(entry), PutMode::Update)
    })
}

/// Takes the records of `ssid`'s session gathered since the last take
/// (each is returned once); other sessions' records stay where they are.
fn take_records(
    agent: &mut Agent,
    state: &Srv6pmState,
    ssid: u32,
) -> Result<Vec<stamp::stats::Record>, Outcome> {
    sender_init(state)?;
    if sender_entry(agent, ssid).is_none() {
        return Err(Outcome::err(
            Code::SessionNotFound,
            format!("no sender session SSID {ssid}"),
        ));
    }
    let name = sender_name(ssid);
    Ok(agent
        .stamp_reports(TakeRecords::Only(&name))
        .into_iter()
        .filter(|r| r.name == name)
        .flat_map(|r| r.report.records)
        .collect())
}

macro_rules! reply {
    ($t:ident, $o:expr) => {{
        let o = $o;
        Ok(Response::new(pm::$t {
            status: o.status as i32,
            description: o.description,
        }))
    }};
}

#[tonic::async_trait]
impl pm::stamp_session_sender_service_server::StampSessionSenderService for SenderApi {
    async fn init(
        &self,
        request: Request<pm::InitStampSenderRequest>,
    ) -> Result<Response<pm::InitStampSenderReply>, Status> {
        let req = request.into_inner();
        let o = self
            .run(move |agent, state| {
                if state.sender.is_some() {
                    return Outcome::err(
                        Code::AlreadyInitialized,
                        "the sender is initialised; Reset first",
                    );
                }
                let udp_port = if req.sender_udp_port == 0 {
                    crate::config::DEFAULT_STAMP_SENDER_SRC_PORT
                } else {
                    match u16::try_from(req.sender_udp_port) {
                        Ok(p) => p,
                        Err(_) => {
                            return Outcome::err(
                                Code::InvalidArgument,
                                format!(
                                    "sender_udp_port: {} is not a UDP port",
                                    req.sender_udp_port
                                ),
                            )
                        }
                    }
                };
                let source = if req.stamp_source_ipv6_address.is_empty() {
                    None
                } else {
                    match parse_v6(&req.stamp_source_ipv6_address, "stamp_source_ipv6_address") {
                        Ok(a) => Some(a),
                        Err(o) => return o,
                    }
                };
                match adopt_source(agent, &req.interfaces, source) {
                    Ok(note) => {
                        state.sender = Some(SenderInit { udp_port, source });
                        Outcome::ok(format!("sender initialised on UDP port {udp_port}{note}"))
                    }
                    Err(o) => o,
                }
            })
            .await?;
        reply!(InitStampSenderReply, o)
    }

    async fn reset(
        &self,
        _request: Request<pm::ResetStampSenderRequest>,
    ) -> Result<Response<pm::ResetStampSenderReply>, Status> {
        let o = self
            .run(|agent, state| {
                let names: Vec<String> = agent
                    .doc()
                    .stamp_sender
                    .iter()
                    .filter(|s| s.name.starts_with("srv6pm-"))
                    .map(|s| s.name.clone())
                    .collect();
                if !names.is_empty() {
                    // As upstream: nothing is destroyed behind the
                    // controller's back.
                    return Outcome::err(
                        Code::ResetFailed,
                        format!(
                            "{} sender sessions exist ({}): destroy all sessions first",
                            names.len(),
                            names.join(", ")
                        ),
                    );
                }
                state.sender = None;
                Outcome::ok("sender reset")
            })
            .await?;
        reply!(ResetStampSenderReply, o)
    }

    async fn create_stamp_session(
        &self,
        request: Request<pm::CreateStampSenderSessionRequest>,
    ) -> Result<Response<pm::CreateStampSenderSessionReply>, Status> {
        let req = request.into_inner();
        let (o, params) = self
            .run(
                move |agent, state| match create_sender(agent, state, &req) {
                    Ok((text, params)) => (Outcome::ok(text), Some(params)),
                    Err(o) => (o, None),
                },
            )
            .await?;
        Ok(Response::new(pm::CreateStampSenderSessionReply {
            status: o.status as i32,
            description: o.description,
            stamp_params: params,
        }))
    }

    async fn start_stamp_session(
        &self,
        request: Request<pm::StartStampSenderSessionRequest>,
    ) -> Result<Response<pm::StartStampSenderSessionReply>, Status> {
        let ssid = request.into_inner().ssid;
        let o = self
            .run(move |a, s| set_sender_running(a, s, ssid, true))
            .await?;
        reply!(StartStampSenderSessionReply, o)
    }

    async fn stop_stamp_session(
        &self,
        request: Request<pm::StopStampSenderSessionRequest>,
    ) -> Result<Response<pm::StopStampSenderSessionReply>, Status> {
        let ssid = request.into_inner().ssid;
        let o = self
            .run(move |a, s| set_sender_running(a, s, ssid, false))
            .await?;
        reply!(StopStampSenderSessionReply, o)
    }

    async fn destroy_stamp_session(
        &self,
        request: Request<pm::DestroyStampSenderSessionRequest>,
    ) -> Result<Response<pm::DestroyStampSenderSessionReply>, Status> {
        let ssid = request.into_inner().ssid;
        let o = self
            .run(move |agent, state| {
                if let Err(o) = sender_init(state) {
                    return o;
                }
                match sender_entry(agent, ssid) {
                    None => {
                        return Outcome::err(
                            Code::SessionNotFound,
                            format!("no sender session SSID {ssid}"),
                        )
                    }
                    Some(e) if !e.stopped => {
                        return Outcome::err(
                            Code::SessionRunning,
                            format!("sender session SSID {ssid} is running: stop it first"),
                        )
                    }
                    Some(_) => {}
                }
                match apply(
                    agent,
                    "ssid",
                    Change::Delete(Key::StampSender(sender_name(ssid))),
                ) {
                    Ok(()) => Outcome::ok(format!("sender session SSID {ssid} destroyed")),
                    Err(o) => o,
                }
            })
            .await?;
        reply!(DestroyStampSenderSessionReply, o)
    }

    async fn get_stamp_session_results(
        &self,
        request: Request<pm::GetStampSessionResultsRequest>,
    ) -> Result<Response<pm::StampResults>, Status> {
        let ssid = request.into_inner().ssid;
        let (o, records) = self
            .run(move |agent, state| match take_records(agent, state, ssid) {
                Ok(records) => (Outcome::ok(format!("{} results", records.len())), records),
                Err(o) => (o, Vec::new()),
            })
            .await?;
        let secs = |ns: i64| ns as f64 / 1e9;
        Ok(Response::new(pm::StampResults {
            status: o.status as i32,
            description: o.description,
            results: records
                .iter()
                .map(|r| pm::StampSessionResult {
                    ssid,
                    test_pkt_tx_timestamp: secs(r.t1),
                    reply_pkt_tx_timestamp: secs(r.t3),
                    reply_pkt_rx_timestamp: secs(r.t4),
                    test_pkt_rx_timestamp: secs(r.t2),
                })
                .collect(),
        }))
    }

    async fn get_results_counter(
        &self,
        request: Request<pm::StampResultsCountersRequest>,
    ) -> Result<Response<pm::StampResultsCountersReply>, Status> {
        let ssid = request.into_inner().ssid;
        let (o, n) = self
            // As upstream: the counted records are taken (and gone).
            .run(move |agent, state| match take_records(agent, state, ssid) {
                Ok(records) => (Outcome::ok(""), records.len()),
                Err(o) => (o, 0),
            })
            .await?;
        Ok(Response::new(pm::StampResultsCountersReply {
            status: o.status as i32,
            num_results: u32::try_from(n).unwrap_or(u32::MAX),
        }))
    }
}

// ---------------------------------------------------------------------------
// Reflector
// ---------------------------------------------------------------------------

/// The srv6pm `STAMPSessionReflectorService`.
#[derive(Clone)]
pub struct ReflectorApi {
    agent: SharedAgent,
    state: Shared,
}

impl ReflectorApi {
    /// The service over `agent`, sharing `state` with the sender service.
    pub fn new(agent: SharedAgent, state: Arc<Mutex<Srv6pmState>>) -> Self {
        ReflectorApi { agent, state }
    }

    async fn run<F, T>(&self, f: F) -> Result<T, Status>
    where
        F: FnOnce(&mut Agent, &mut Srv6pmState) -> T + Send + 'static,
        T: Send + 'static,
    {
        run_locked(&self.agent, &self.state, f).await
    }
}

fn create_reflector(
    agent: &mut Agent,
    state: &mut Srv6pmState,
    req: &pm::CreateStampReflectorSessionRequest,
) -> Result<(String, pm::StampReflectorParameters), Outcome> {
    let init = reflector_init(state)?;
    check_ssid(req.ssid)?;
    if reflector_entry(agent, req.ssid).is_some() {
        return Err(Outcome::err(
            Code::SessionExists,
            format!("reflector session SSID {} exists", req.ssid),
        ));
    }
    let params = req.stamp_params.clone().unwrap_or_default();
    let Some(mut router) = agent.doc().router.clone() else {
        return Err(Outcome::err(
            Code::NotInitialized,
            "the router settings are not set yet",
        ));
    };
    let port = router
        .stamp_port
        .unwrap_or(i64::from(crate::config::DEFAULT_STAMP_PORT));
    if params.reflector_udp_port != 0 && i64::from(params.reflector_udp_port) != port {
        return Err(Outcome::err(
            Code::InvalidArgument,
            format!(
                "stamp_params.reflector_udp_port: {} differs from the reflector's port {port} \
                 (srv6d reflects on one port, set by Init)",
                params.reflector_udp_port
            ),
        ));
    }
    let (key, auth) = key_for(params.auth_mode, &params.key_chain, "stamp_params")?;
    let format = format_for(params.timestamp_format, "stamp_params")?;
    let mode = match pm::SessionReflectorMode::try_from(params.session_reflector_mode) {
        Ok(pm::SessionReflectorMode::Unspecified) => router.stamp_mode,
        Ok(pm::SessionReflectorMode::Stateless) => StampMode::Stateless,
        Ok(pm::SessionReflectorMode::Stateful) => StampMode::Stateful,
        Err(_) => {
            return Err(Outcome::err(
                Code::InvalidArgument,
                format!(
                    "stamp_params.session_reflector_mode: {} is not a known mode",
                    params.session_reflector_mode
                ),
            ))
        }
    };
    if !req.stamp_source_ipv6_address.is_empty() {
        let source = parse_v6(&req.stamp_source_ipv6_address, "stamp_source_ipv6_address")?;
        if !router
            .addresses
            .iter()
            .any(|a| a.parse::<Ipv6Addr>().ok() == Some(source))
        {
            router.addresses.push(source.to_string());
        }
    }
    router.stamp_mode = mode;
    router.stamp_timestamp_format = format;
    // The contract's return_sidlist is the whole return path: the reply
    // goes to its first segment and ends at its last (the sender's
    // address); nothing is appended.
    let mut return_segments = req
        .return_sidlist
        .as_ref()
        .map(|p| p.segments.clone())
        .unwrap_or_default();
    let return_destination = return_segments.pop();
    let entry = StampSessionEntry {
        ssid: i64::from(req.ssid),
        key,
        return_segments,
        return_destination,
        stopped: true,
    };
    let changes = [
        FieldChange {
            field: "stamp_params".into(),
            change: Change::SetRouter(router),
        },
        FieldChange {
            field: "return_sidlist".into(),
            change: Change::Put(Object::StampSession(entry), PutMode::Create),
        },
    ];
    agent.apply(&changes, false).map_err(|e| api_outcome(&e))?;
    init.ssids.push(req.ssid);
    Ok((
        format!("reflector session SSID {} created (stopped)", req.ssid),
        pm::StampReflectorParameters {
            reflector_udp_port: u32::try_from(port).unwrap_or(0),
            auth_mode: auth as i32,
            key_chain: String::new(),
            timestamp_format: format_out(format),
            session_reflector_mode: match mode {
                StampMode::Stateless => pm::SessionReflectorMode::Stateless,
                StampMode::Stateful => pm::SessionReflectorMode::Stateful,
            } as i32,
        },
    ))
}

fn set_reflector_running(
    agent: &mut Agent,
    state: &mut Srv6pmState,
    ssid: u32,
    run: bool,
) -> Outcome {
    if let Err(o) = reflector_init(state) {
        return o;
    }
    let entry = reflector_entry(agent, ssid);
    let stopped = entry.as_ref().map(|e| e.stopped);
    set_running(agent, "reflector", ssid, run, stopped, |now_stopped| {
        let mut entry = entry.expect("checked by set_running");
        entry.stopped = now_stopped;
        Change::Put(Object::StampSession(entry), PutMode::Update)
    })
}

#[tonic::async_trait]
impl pm::stamp_session_reflector_service_server::StampSessionReflectorService for ReflectorApi {
    async fn init(
        &self,
        request: Request<pm::InitStampReflectorRequest>,
    ) -> Result<Response<pm::InitStampReflectorReply>, Status> {
        let req = request.into_inner();
        let o = self
            .run(move |agent, state| {
                if state.reflector.is_some() {
                    return Outcome::err(
                        Code::AlreadyInitialized,
                        "the reflector is initialised; Reset first",
                    );
                }
                let source = if req.stamp_source_ipv6_address.is_empty() {
                    None
                } else {
                    match parse_v6(&req.stamp_source_ipv6_address, "stamp_source_ipv6_address") {
                        Ok(a) => Some(a),
                        Err(o) => return o,
                    }
                };
                let note = match adopt_source(agent, &req.interfaces, source) {
                    Ok(n) => n,
                    Err(o) => return o,
                };
                if req.reflector_udp_port != 0 {
                    let Ok(port) = u16::try_from(req.reflector_udp_port) else {
                        return Outcome::err(
                            Code::InvalidArgument,
                            format!(
                                "reflector_udp_port: {} is not a UDP port",
                                req.reflector_udp_port
                            ),
                        );
                    };
                    let Some(mut router) = agent.doc().router.clone() else {
                        return Outcome::err(
                            Code::NotInitialized,
                            "the router settings are not set yet",
                        );
                    };
                    router.stamp_port = Some(i64::from(port));
                    if let Err(o) = apply(agent, "reflector_udp_port", Change::SetRouter(router)) {
                        return o;
                    }
                }
                state.reflector = Some(ReflectorInit { ssids: Vec::new() });
                Outcome::ok(format!("reflector initialised{note}"))
            })
            .await?;
        reply!(InitStampReflectorReply, o)
    }

    async fn reset(
        &self,
        _request: Request<pm::ResetStampReflectorRequest>,
    ) -> Result<Response<pm::ResetStampReflectorReply>, Status> {
        let o = self
            .run(|agent, state| {
                let ssids = state
                    .reflector
                    .as_ref()
                    .map(|r| r.ssids.clone())
                    .unwrap_or_default();
                let existing: Vec<String> = ssids
                    .iter()
                    .filter(|s| reflector_entry(agent, **s).is_some())
                    .map(|s| s.to_string())
                    .collect();
                if !existing.is_empty() {
                    // As upstream: nothing is destroyed behind the
                    // controller's back.
                    return Outcome::err(
                        Code::ResetFailed,
                        format!(
                            "reflector sessions SSID {} exist: destroy all sessions first",
                            existing.join(", ")
                        ),
                    );
                }
                state.reflector = None;
                Outcome::ok("reflector reset")
            })
            .await?;
        reply!(ResetStampReflectorReply, o)
    }

    async fn create_stamp_session(
        &self,
        request: Request<pm::CreateStampReflectorSessionRequest>,
    ) -> Result<Response<pm::CreateStampReflectorSessionReply>, Status> {
        let req = request.into_inner();
        let (o, params) = self
            .run(
                move |agent, state| match create_reflector(agent, state, &req) {
                    Ok((text, params)) => (Outcome::ok(text), Some(params)),
                    Err(o) => (o, None),
                },
            )
            .await?;
        Ok(Response::new(pm::CreateStampReflectorSessionReply {
            status: o.status as i32,
            description: o.description,
            stamp_params: params,
        }))
    }

    async fn start_stamp_session(
        &self,
        request: Request<pm::StartStampReflectorSessionRequest>,
    ) -> Result<Response<pm::StartStampReflectorSessionReply>, Status> {
        let ssid = request.into_inner().ssid;
        let o = self
            .run(move |a, s| set_reflector_running(a, s, ssid, true))
            .await?;
        reply!(StartStampReflectorSessionReply, o)
    }

    async fn stop_stamp_session(
        &self,
        request: Request<pm::StopStampReflectorSessionRequest>,
    ) -> Result<Response<pm::StopStampReflectorSessionReply>, Status> {
        let ssid = request.into_inner().ssid;
        let o = self
            .run(move |a, s| set_reflector_running(a, s, ssid, false))
            .await?;
        reply!(StopStampReflectorSessionReply, o)
    }

    async fn destroy_stamp_session(
        &self,
        request: Request<pm::DestroyStampReflectorSessionRequest>,
    ) -> Result<Response<pm::DestroyStampReflectorSessionReply>, Status> {
        let ssid = request.into_inner().ssid;
        let o = self
            .run(move |agent, state| {
                if let Err(o) = reflector_init(state) {
                    return o;
                }
                match reflector_entry(agent, ssid) {
                    None => {
                        return Outcome::err(
                            Code::SessionNotFound,
                            format!("no reflector session SSID {ssid}"),
                        )
                    }
                    Some(e) if !e.stopped => {
                        return Outcome::err(
                            Code::SessionRunning,
                            format!("reflector session SSID {ssid} is running: stop it first"),
                        )
                    }
                    Some(_) => {}
                }
                match apply(agent, "ssid", Change::Delete(Key::StampSession(ssid))) {
                    Ok(()) => {
                        if let Some(r) = &mut state.reflector {
                            r.ssids.retain(|s| *s != ssid);
                        }
                        Outcome::ok(format!("reflector session SSID {ssid} destroyed"))
                    }
                    Err(o) => o,
                }
            })
            .await?;
        reply!(DestroyStampReflectorSessionReply, o)
    }
}
