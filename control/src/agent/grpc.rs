//! The srv6d.v1 gRPC services over an [`Agent`]: ConfigService (every
//! object's create / get / list / update / delete, and the atomic batched
//! Apply), StampService (sender session control and results, streamed on
//! request) and SystemService (version, health, counters).
//!
//! Each handler turns its request into [`FieldChange`]s whose field names
//! are the request's own (`route.prefix`, `changes[3].put_sid.vrf`), runs
//! the agent off the async executor (applying may restart the engine), and
//! maps an [`ApiError`] to the gRPC status of its class.

// tonic's handlers return `Result<_, tonic::Status>`; Status is large by
// tonic's design, not ours.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::convert::{self, need};
use super::edit::{canonical_prefix, canonical_sid, ApiError, ErrorCode};
use super::{Agent, Change, FieldChange, Key, Object, PutMode};
use crate::proto::srv6d::v1 as pb;
use crate::stamp_inline::{InlineReport, TakeRecords};

/// Most changes one Apply may carry.
pub const MAX_CHANGES: usize = 10_000;

/// Most bytes a request may have (the server refuses larger ones).
pub const MAX_REQUEST_BYTES: usize = 4 << 20;

/// The agent as the services share it.
pub type SharedAgent = Arc<Mutex<Agent>>;

/// The gRPC status for an API error: its class, and "field: message".
pub fn status(e: ApiError) -> Status {
    let text = e.to_string();
    match e.code {
        ErrorCode::InvalidArgument => Status::invalid_argument(text),
        ErrorCode::NotFound => Status::not_found(text),
        ErrorCode::AlreadyExists => Status::already_exists(text),
        ErrorCode::FailedPrecondition => Status::failed_precondition(text),
        ErrorCode::Internal => Status::internal(text),
    }
}

/// Runs `f` on the agent on a blocking thread (an apply may take a while:
/// an engine restart, netlink round trips).
pub async fn with_agent<R, F>(agent: &SharedAgent, f: F) -> Result<R, Status>
where
    F: FnOnce(&mut Agent) -> R + Send + 'static,
    R: Send + 'static,
{
    let agent = agent.clone();
    tokio::task::spawn_blocking(move || {
        let mut guard = agent
            .lock()
            .map_err(|_| Status::internal("the agent failed earlier (a panic); restart srv6d"))?;
        Ok(f(&mut guard))
    })
    .await
    .map_err(|e| Status::internal(format!("agent task failed: {e}")))?
}

async fn apply(agent: &SharedAgent, changes: Vec<FieldChange>) -> Result<u64, Status> {
    with_agent(agent, move |a| a.apply(&changes, false))
        .await?
        .map(|applied| applied.generation)
        .map_err(status)
}

fn one(field: &str, change: Change) -> Vec<FieldChange> {
    vec![FieldChange {
        field: field.to_string(),
        change,
    }]
}

/// One element of an Apply batch → a change.
pub fn change_in(c: &pb::Change, field: &str) -> Result<FieldChange, ApiError> {
    use pb::change::Op;
    let op = c.op.as_ref().ok_or_else(|| {
        ApiError::invalid(
            field,
            "empty change; set one of put_* / delete_* / set_router",
        )
    })?;
    let (name, change) = match op {
        Op::PutPort(p) => (
            "put_port",
            Change::Put(
                Object::Port(convert::port_in(p, &format!("{field}.put_port"))?),
                PutMode::Upsert,
            ),
        ),
        Op::DeletePort(n) => ("delete_port", Change::Delete(Key::Port(n.clone()))),
        Op::PutVrf(v) => (
            "put_vrf",
            Change::Put(Object::Vrf(convert::vrf_in(v)), PutMode::Upsert),
        ),
        Op::DeleteVrf(n) => ("delete_vrf", Change::Delete(Key::Vrf(n.clone()))),
        Op::PutSid(s) => (
            "put_sid",
            Change::Put(
                Object::Sid(convert::sid_in(s, &format!("{field}.put_sid"))?),
                PutMode::Upsert,
            ),
        ),
        Op::DeleteSid(s) => ("delete_sid", Change::Delete(Key::Sid(s.clone()))),
        Op::PutPolicy(p) => (
            "put_policy",
            Change::Put(
                Object::Policy(convert::policy_in(p, &format!("{field}.put_policy"))?),
                PutMode::Upsert,
            ),
        ),
        Op::DeletePolicy(n) => ("delete_policy", Change::Delete(Key::Policy(n.clone()))),
        Op::PutRoute(r) => (
            "put_route",
            Change::Put(Object::Route(convert::route_in(r)), PutMode::Upsert),
        ),
        Op::DeleteRoute(k) => (
            "delete_route",
            Change::Delete(Key::Route(k.vrf.clone(), k.prefix.clone())),
        ),
        Op::PutStampSender(s) => (
            "put_stamp_sender",
            Change::Put(
                Object::StampSender(convert::stamp_sender_in(
                    s,
                    &format!("{field}.put_stamp_sender"),
                )?),
                PutMode::Upsert,
            ),
        ),
        Op::DeleteStampSender(n) => (
            "delete_stamp_sender",
            Change::Delete(Key::StampSender(n.clone())),
        ),
        Op::PutStampReflectorSession(s) => (
            "put_stamp_reflector_session",
            Change::Put(
                Object::StampSession(convert::stamp_session_in(s)),
                PutMode::Upsert,
            ),
        ),
        Op::DeleteStampReflectorSession(ssid) => (
            "delete_stamp_reflector_session",
            Change::Delete(Key::StampSession(*ssid)),
        ),
        Op::SetRouter(r) => (
            "set_router",
            Change::SetRouter(convert::router_in(r, &format!("{field}.set_router"))?),
        ),
    };
    Ok(FieldChange {
        field: format!("{field}.{name}"),
        change,
    })
}

/// The whole configuration as the API shows it.
pub fn config_out(agent: &Agent) -> pb::Config {
    let doc = agent.doc();
    pb::Config {
        generation: agent.generation(),
        ports: doc.port.iter().map(convert::port_out).collect(),
        vrfs: doc.vrf.iter().map(convert::vrf_out).collect(),
        router: doc.router.as_ref().map(convert::router_out),
        sids: doc.sid.iter().map(convert::sid_out).collect(),
        policies: doc.policy.iter().map(convert::policy_out).collect(),
        routes: doc.route.iter().map(convert::route_out).collect(),
        stamp_senders: doc
            .stamp_sender
            .iter()
            .map(convert::stamp_sender_out)
            .collect(),
        stamp_reflector_sessions: doc
            .stamp_session
            .iter()
            .map(convert::stamp_session_out)
            .collect(),
        toml: super::edit::to_toml(&redacted(doc)).unwrap_or_default(),
    }
}

/// The document with keys replaced by [`super::edit::SECRET_SET`].
fn redacted(doc: &crate::config::ConfigFile) -> crate::config::ConfigFile {
    let mut doc = doc.clone();
    for s in &mut doc.stamp_sender {
        if s.key.is_some() {
            s.key = Some(super::edit::SECRET_SET.into());
        }
    }
    for s in &mut doc.stamp_session {
        if s.key.is_some() {
            s.key = Some(super::edit::SECRET_SET.into());
        }
    }
    doc
}

fn not_found(what: String) -> Status {
    Status::not_found(format!("no {what}"))
}

/// The srv6d.v1 ConfigService.
#[derive(Clone)]
pub struct ConfigApi {
    agent: SharedAgent,
}

impl ConfigApi {
    /// The service over `agent`.
    pub fn new(agent: SharedAgent) -> Self {
        ConfigApi { agent }
    }

    async fn get<T, F>(&self, f: F) -> Result<Response<T>, Status>
    where
        F: FnOnce(&Agent) -> Result<T, Status> + Send + 'static,
        T: Send + 'static,
    {
        with_agent(&self.agent, move |a| f(a))
            .await?
            .map(Response::new)
    }

    /// Applies one put and returns the object as stored.
    async fn put<T, F>(&self, field: &str, change: Change, read: F) -> Result<Response<T>, Status>
    where
        F: FnOnce(&Agent) -> Option<T> + Send + 'static,
        T: Send + 'static,
    {
        let changes = one(field, change);
        with_agent(&self.agent, move |a| {
            a.apply(&changes, false).map_err(status)?;
            read(a).ok_or_else(|| Status::internal("the object vanished after it was applied"))
        })
        .await?
        .map(Response::new)
    }

    async fn delete(&self, field: &str, key: Key) -> Result<Response<pb::DeleteResponse>, Status> {
        let generation = apply(&self.agent, one(field, Change::Delete(key))).await?;
        Ok(Response::new(pb::DeleteResponse { generation }))
    }
}

fn find_route<'a>(
    doc: &'a crate::config::ConfigFile,
    vrf: &str,
    prefix: &str,
) -> Option<&'a crate::config::RouteEntry> {
    let want = canonical_prefix(prefix);
    doc.route
        .iter()
        .find(|r| r.vrf == vrf && canonical_prefix(&r.prefix) == want)
}

fn find_sid<'a>(
    doc: &'a crate::config::ConfigFile,
    sid: &str,
) -> Option<&'a crate::config::SidEntry> {
    let want = canonical_sid(sid);
    doc.sid.iter().find(|s| canonical_sid(&s.sid) == want)
}

#[tonic::async_trait]
impl pb::config_service_server::ConfigService for ConfigApi {
    async fn apply(
        &self,
        request: Request<pb::ApplyRequest>,
    ) -> Result<Response<pb::ApplyResponse>, Status> {
        let req = request.into_inner();
        if req.changes.len() > MAX_CHANGES {
            return Err(Status::invalid_argument(format!(
                "changes: {} changes; at most {MAX_CHANGES} per batch",
                req.changes.len()
            )));
        }
        if req.changes.is_empty() {
            return Err(Status::invalid_argument("changes: empty batch"));
        }
        let changes = req
            .changes
            .iter()
            .enumerate()
            .map(|(i, c)| change_in(c, &format!("changes[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(status)?;
        let dry_run = req.dry_run;
        let applied = with_agent(&self.agent, move |a| a.apply(&changes, dry_run))
            .await?
            .map_err(status)?;
        Ok(Response::new(pb::ApplyResponse {
            generation: applied.generation,
            warnings: applied.warnings,
        }))
    }

    async fn get_config(
        &self,
        _request: Request<pb::GetConfigRequest>,
    ) -> Result<Response<pb::Config>, Status> {
        self.get(|a| Ok(config_out(a))).await
    }

    async fn set_router(
        &self,
        request: Request<pb::SetRouterRequest>,
    ) -> Result<Response<pb::RouterSettings>, Status> {
        let req = request.into_inner();
        let router = need(&req.router, "router").map_err(status)?;
        let entry = convert::router_in(router, "router").map_err(status)?;
        self.put("router", Change::SetRouter(entry), |a| {
            a.doc().router.as_ref().map(convert::router_out)
        })
        .await
    }

    async fn get_router(
        &self,
        _request: Request<pb::GetRouterRequest>,
    ) -> Result<Response<pb::RouterSettings>, Status> {
        self.get(|a| {
            a.doc()
                .router
                .as_ref()
                .map(convert::router_out)
                .ok_or_else(|| Status::not_found("the router settings are not set yet (SetRouter)"))
        })
        .await
    }

    async fn create_port(
        &self,
        request: Request<pb::CreatePortRequest>,
    ) -> Result<Response<pb::Port>, Status> {
        self.put_port(request.into_inner().port, PutMode::Create)
            .await
    }

    async fn get_port(
        &self,
        request: Request<pb::GetPortRequest>,
    ) -> Result<Response<pb::Port>, Status> {
        let name = request.into_inner().name;
        self.get(move |a| {
            a.doc()
                .port
                .iter()
                .find(|p| p.name == name)
                .map(convert::port_out)
                .ok_or_else(|| not_found(format!("port {name:?}")))
        })
        .await
    }

    async fn list_ports(
        &self,
        _request: Request<pb::ListPortsRequest>,
    ) -> Result<Response<pb::ListPortsResponse>, Status> {
        self.get(|a| {
            Ok(pb::ListPortsResponse {
                ports: a.doc().port.iter().map(convert::port_out).collect(),
            })
        })
        .await
    }

    async fn update_port(
        &self,
        request: Request<pb::UpdatePortRequest>,
    ) -> Result<Response<pb::Port>, Status> {
        self.put_port(request.into_inner().port, PutMode::Update)
            .await
    }

    async fn delete_port(
        &self,
        request: Request<pb::DeletePortRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.delete("name", Key::Port(request.into_inner().name))
            .await
    }

    async fn create_vrf(
        &self,
        request: Request<pb::CreateVrfRequest>,
    ) -> Result<Response<pb::Vrf>, Status> {
        self.put_vrf(request.into_inner().vrf, PutMode::Create)
            .await
    }

    async fn get_vrf(
        &self,
        request: Request<pb::GetVrfRequest>,
    ) -> Result<Response<pb::Vrf>, Status> {
        let name = request.into_inner().name;
        self.get(move |a| {
            a.doc()
                .vrf
                .iter()
                .find(|v| v.name == name)
                .map(convert::vrf_out)
                .ok_or_else(|| not_found(format!("vrf {name:?}")))
        })
        .await
    }

    async fn list_vrfs(
        &self,
        _request: Request<pb::ListVrfsRequest>,
    ) -> Result<Response<pb::ListVrfsResponse>, Status> {
        self.get(|a| {
            Ok(pb::ListVrfsResponse {
                vrfs: a.doc().vrf.iter().map(convert::vrf_out).collect(),
            })
        })
        .await
    }

    async fn update_vrf(
        &self,
        request: Request<pb::UpdateVrfRequest>,
    ) -> Result<Response<pb::Vrf>, Status> {
        self.put_vrf(request.into_inner().vrf, PutMode::Update)
            .await
    }

    async fn delete_vrf(
        &self,
        request: Request<pb::DeleteVrfRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.delete("name", Key::Vrf(request.into_inner().name))
            .await
    }

    async fn create_sid(
        &self,
        request: Request<pb::CreateSidRequest>,
    ) -> Result<Response<pb::Sid>, Status> {
        self.put_sid(request.into_inner().sid, PutMode::Create)
            .await
    }

    async fn get_sid(
        &self,
        request: Request<pb::GetSidRequest>,
    ) -> Result<Response<pb::Sid>, Status> {
        let sid = request.into_inner().sid;
        self.get(move |a| {
            find_sid(a.doc(), &sid)
                .map(convert::sid_out)
                .ok_or_else(|| not_found(format!("sid {sid}")))
        })
        .await
    }

    async fn list_sids(
        &self,
        _request: Request<pb::ListSidsRequest>,
    ) -> Result<Response<pb::ListSidsResponse>, Status> {
        self.get(|a| {
            Ok(pb::ListSidsResponse {
                sids: a.doc().sid.iter().map(convert::sid_out).collect(),
            })
        })
        .await
    }

    async fn update_sid(
        &self,
        request: Request<pb::UpdateSidRequest>,
    ) -> Result<Response<pb::Sid>, Status> {
        self.put_sid(request.into_inner().sid, PutMode::Update)
            .await
    }

    async fn delete_sid(
        &self,
        request: Request<pb::DeleteSidRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.delete("sid", Key::Sid(request.into_inner().sid)).await
    }

    async fn create_policy(
        &self,
        request: Request<pb::CreatePolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        self.put_policy(request.into_inner().policy, PutMode::Create)
            .await
    }

    async fn get_policy(
        &self,
        request: Request<pb::GetPolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        let name = request.into_inner().name;
        self.get(move |a| {
            a.doc()
                .policy
                .iter()
                .find(|p| p.name == name)
                .map(convert::policy_out)
                .ok_or_else(|| not_found(format!("policy {name:?}")))
        })
        .await
    }

    async fn list_policies(
        &self,
        _request: Request<pb::ListPoliciesRequest>,
    ) -> Result<Response<pb::ListPoliciesResponse>, Status> {
        self.get(|a| {
            Ok(pb::ListPoliciesResponse {
                policies: a.doc().policy.iter().map(convert::policy_out).collect(),
            })
        })
        .await
    }

    async fn update_policy(
        &self,
        request: Request<pb::UpdatePolicyRequest>,
    ) -> Result<Response<pb::Policy>, Status> {
        self.put_policy(request.into_inner().policy, PutMode::Update)
            .await
    }

    async fn delete_policy(
        &self,
        request: Request<pb::DeletePolicyRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.delete("name", Key::Policy(request.into_inner().name))
            .await
    }

    async fn create_route(
        &self,
        request: Request<pb::CreateRouteRequest>,
    ) -> Result<Response<pb::Route>, Status> {
        self.put_route(request.into_inner().route, PutMode::Create)
            .await
    }

    async fn get_route(
        &self,
        request: Request<pb::GetRouteRequest>,
    ) -> Result<Response<pb::Route>, Status> {
        let key = request.into_inner().key.unwrap_or_default();
        self.get(move |a| {
            find_route(a.doc(), &key.vrf, &key.prefix)
                .map(convert::route_out)
                .ok_or_else(|| not_found(format!("route {} in vrf {:?}", key.prefix, key.vrf)))
        })
        .await
    }

    async fn list_routes(
        &self,
        request: Request<pb::ListRoutesRequest>,
    ) -> Result<Response<pb::ListRoutesResponse>, Status> {
        let vrf = request.into_inner().vrf;
        self.get(move |a| {
            Ok(pb::ListRoutesResponse {
                routes: a
                    .doc()
                    .route
                    .iter()
                    .filter(|r| vrf.is_empty() || r.vrf == vrf)
                    .map(convert::route_out)
                    .collect(),
            })
        })
        .await
    }

    async fn update_route(
        &self,
        request: Request<pb::UpdateRouteRequest>,
    ) -> Result<Response<pb::Route>, Status> {
        self.put_route(request.into_inner().route, PutMode::Update)
            .await
    }

    async fn delete_route(
        &self,
        request: Request<pb::DeleteRouteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let key = request.into_inner().key.unwrap_or_default();
        self.delete("key", Key::Route(key.vrf, key.prefix)).await
    }

    async fn create_stamp_sender(
        &self,
        request: Request<pb::CreateStampSenderRequest>,
    ) -> Result<Response<pb::StampSender>, Status> {
        self.put_stamp_sender(request.into_inner().sender, PutMode::Create)
            .await
    }

    async fn get_stamp_sender(
        &self,
        request: Request<pb::GetStampSenderRequest>,
    ) -> Result<Response<pb::StampSender>, Status> {
        let name = request.into_inner().name;
        self.get(move |a| {
            a.doc()
                .stamp_sender
                .iter()
                .find(|s| s.name == name)
                .map(convert::stamp_sender_out)
                .ok_or_else(|| not_found(format!("STAMP sender session {name:?}")))
        })
        .await
    }

    async fn list_stamp_senders(
        &self,
        _request: Request<pb::ListStampSendersRequest>,
    ) -> Result<Response<pb::ListStampSendersResponse>, Status> {
        self.get(|a| {
            Ok(pb::ListStampSendersResponse {
                senders: a
                    .doc()
                    .stamp_sender
                    .iter()
                    .map(convert::stamp_sender_out)
                    .collect(),
            })
        })
        .await
    }

    async fn update_stamp_sender(
        &self,
        request: Request<pb::UpdateStampSenderRequest>,
    ) -> Result<Response<pb::StampSender>, Status> {
        self.put_stamp_sender(request.into_inner().sender, PutMode::Update)
            .await
    }

    async fn delete_stamp_sender(
        &self,
        request: Request<pb::DeleteStampSenderRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.delete("name", Key::StampSender(request.into_inner().name))
            .await
    }

    async fn create_stamp_reflector_session(
        &self,
        request: Request<pb::CreateStampReflectorSessionRequest>,
    ) -> Result<Response<pb::StampReflectorSession>, Status> {
        self.put_stamp_session(request.into_inner().session, PutMode::Create)
            .await
    }

    async fn get_stamp_reflector_session(
        &self,
        request: Request<pb::GetStampReflectorSessionRequest>,
    ) -> Result<Response<pb::StampReflectorSession>, Status> {
        let ssid = request.into_inner().ssid;
        self.get(move |a| {
            a.doc()
                .stamp_session
                .iter()
                .find(|s| s.ssid == i64::from(ssid))
                .map(convert::stamp_session_out)
                .ok_or_else(|| not_found(format!("STAMP reflector session SSID {ssid}")))
        })
        .await
    }

    async fn list_stamp_reflector_sessions(
        &self,
        _request: Request<pb::ListStampReflectorSessionsRequest>,
    ) -> Result<Response<pb::ListStampReflectorSessionsResponse>, Status> {
        self.get(|a| {
            Ok(pb::ListStampReflectorSessionsResponse {
                sessions: a
                    .doc()
                    .stamp_session
                    .iter()
                    .map(convert::stamp_session_out)
                    .collect(),
            })
        })
        .await
    }

    async fn update_stamp_reflector_session(
        &self,
        request: Request<pb::UpdateStampReflectorSessionRequest>,
    ) -> Result<Response<pb::StampReflectorSession>, Status> {
        self.put_stamp_session(request.into_inner().session, PutMode::Update)
            .await
    }

    async fn delete_stamp_reflector_session(
        &self,
        request: Request<pb::DeleteStampReflectorSessionRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.delete("ssid", Key::StampSession(request.into_inner().ssid))
            .await
    }
}

impl ConfigApi {
    async fn put_port(
        &self,
        port: Option<pb::Port>,
        mode: PutMode,
    ) -> Result<Response<pb::Port>, Status> {
        let port = need(&port, "port").map_err(status)?;
        let entry = convert::port_in(port, "port").map_err(status)?;
        let name = entry.name.clone();
        self.put("port", Change::Put(Object::Port(entry), mode), move |a| {
            a.doc()
                .port
                .iter()
                .find(|p| p.name == name)
                .map(convert::port_out)
        })
        .await
    }

    async fn put_vrf(
        &self,
        vrf: Option<pb::Vrf>,
        mode: PutMode,
    ) -> Result<Response<pb::Vrf>, Status> {
        let vrf = need(&vrf, "vrf").map_err(status)?;
        let entry = convert::vrf_in(vrf);
        let name = entry.name.clone();
        self.put("vrf", Change::Put(Object::Vrf(entry), mode), move |a| {
            a.doc()
                .vrf
                .iter()
                .find(|v| v.name == name)
                .map(convert::vrf_out)
        })
        .await
    }

    async fn put_sid(
        &self,
        sid: Option<pb::Sid>,
        mode: PutMode,
    ) -> Result<Response<pb::Sid>, Status> {
        let sid = need(&sid, "sid").map_err(status)?;
        let entry = convert::sid_in(sid, "sid").map_err(status)?;
        let key = entry.sid.clone();
        self.put("sid", Change::Put(Object::Sid(entry), mode), move |a| {
            find_sid(a.doc(), &key).map(convert::sid_out)
        })
        .await
    }

    async fn put_policy(
        &self,
        policy: Option<pb::Policy>,
        mode: PutMode,
    ) -> Result<Response<pb::Policy>, Status> {
        let policy = need(&policy, "policy").map_err(status)?;
        let entry = convert::policy_in(policy, "policy").map_err(status)?;
        let name = entry.name.clone();
        self.put(
            "policy",
            Change::Put(Object::Policy(entry), mode),
            move |a| {
                a.doc()
                    .policy
                    .iter()
                    .find(|p| p.name == name)
                    .map(convert::policy_out)
            },
        )
        .await
    }

    async fn put_route(
        &self,
        route: Option<pb::Route>,
        mode: PutMode,
    ) -> Result<Response<pb::Route>, Status> {
        let route = need(&route, "route").map_err(status)?;
        let entry = convert::route_in(route);
        let (vrf, prefix) = (entry.vrf.clone(), entry.prefix.clone());
        self.put("route", Change::Put(Object::Route(entry), mode), move |a| {
            find_route(a.doc(), &vrf, &prefix).map(convert::route_out)
        })
        .await
    }

    async fn put_stamp_sender(
        &self,
        sender: Option<pb::StampSender>,
        mode: PutMode,
    ) -> Result<Response<pb::StampSender>, Status> {
        let sender = need(&sender, "sender").map_err(status)?;
        let entry = convert::stamp_sender_in(sender, "sender").map_err(status)?;
        let name = entry.name.clone();
        self.put(
            "sender",
            Change::Put(Object::StampSender(entry), mode),
            move |a| {
                a.doc()
                    .stamp_sender
                    .iter()
                    .find(|s| s.name == name)
                    .map(convert::stamp_sender_out)
            },
        )
        .await
    }

    async fn put_stamp_session(
        &self,
        session: Option<pb::StampReflectorSession>,
        mode: PutMode,
    ) -> Result<Response<pb::StampReflectorSession>, Status> {
        let session = need(&session, "session").map_err(status)?;
        let entry = convert::stamp_session_in(session);
        let ssid = entry.ssid;
        self.put(
            "session",
            Change::Put(Object::StampSession(entry), mode),
            move |a| {
                a.doc()
                    .stamp_session
                    .iter()
                    .find(|s| s.ssid == ssid)
                    .map(convert::stamp_session_out)
            },
        )
        .await
    }
}

// ---------------------------------------------------------------------------
// StampService
// ---------------------------------------------------------------------------

fn delay_out(d: &stamp::stats::DelaySummary) -> pb::DelayStats {
    pb::DelayStats {
        count: d.count,
        min_ns: d.min_ns.unwrap_or(0),
        max_ns: d.max_ns.unwrap_or(0),
        mean_ns: d.mean_ns.unwrap_or(0.0),
        stddev_ns: d.stddev_ns.unwrap_or(0.0),
        p50_ns: d.p50_ns.unwrap_or(0),
        p90_ns: d.p90_ns.unwrap_or(0),
        p95_ns: d.p95_ns.unwrap_or(0),
        p99_ns: d.p99_ns.unwrap_or(0),
        p999_ns: d.p999_ns.unwrap_or(0),
        negative: d.negative,
    }
}

/// A sender session's results as the API shows them.
pub fn results_out(r: &InlineReport, stopped: bool) -> pb::StampSessionResults {
    let s = &r.report.summary;
    let mut reply_errors: HashMap<String, u64> = r
        .report
        .reply_errors
        .iter()
        .map(|(k, v)| ((*k).to_string(), *v))
        .collect();
    for (name, n) in dataplane::stamp_sender::REPLY_ERRORS
        .iter()
        .zip(r.counters.reply_errors.iter())
    {
        *reply_errors.entry(name.name().to_string()).or_default() += n;
    }
    pb::StampSessionResults {
        name: r.name.clone(),
        ssid: u32::from(r.ssid),
        segments: r.segments.iter().map(|a| a.to_string()).collect(),
        stopped,
        finished: r.finished,
        sent: s.sent,
        received: s.received,
        lost: s.lost,
        loss_ratio: s.loss_ratio,
        duplicates: s.duplicates,
        reordered: s.reordered,
        late_replies: s.late,
        send_failed: r.counters.send_failed,
        schedule_late: r.counters.late,
        events_lost: r.counters.events_lost,
        reply_errors,
        one_way_valid: s.one_way_valid,
        round_trip: Some(delay_out(&s.round_trip)),
        forward: Some(delay_out(&s.forward)),
        backward: Some(delay_out(&s.backward)),
        reflector_residence: Some(delay_out(&s.reflector_residence)),
        ipdv_mean_abs_ns: s.ipdv.abs.mean_ns.unwrap_or(0.0),
        records: r
            .report
            .records
            .iter()
            .map(|rec| pb::StampRecord {
                seq: rec.seq,
                t1_ns: rec.t1,
                t2_ns: rec.t2,
                t3_ns: rec.t3,
                t4_ns: rec.t4,
                sender_ttl: u32::from(rec.sender_ttl),
            })
            .collect(),
        records_dropped: r.report.records_dropped,
    }
}

fn results(
    agent: &mut Agent,
    name: &str,
    take: bool,
) -> Result<pb::GetStampResultsResponse, Status> {
    if !name.is_empty() && !agent.doc().stamp_sender.iter().any(|s| s.name == name) {
        return Err(not_found(format!("STAMP sender session {name:?}")));
    }
    let stopped: Vec<String> = agent
        .doc()
        .stamp_sender
        .iter()
        .filter(|s| s.stopped)
        .map(|s| s.name.clone())
        .collect();
    // A named session's records are taken alone: the others' stay until
    // asked for.
    let take = match (take, name.is_empty()) {
        (false, _) => TakeRecords::None,
        (true, true) => TakeRecords::All,
        (true, false) => TakeRecords::Only(name),
    };
    let sessions = agent
        .stamp_reports(take)
        .iter()
        .filter(|r| name.is_empty() || r.name == name)
        .map(|r| results_out(r, stopped.contains(&r.name)))
        .collect();
    Ok(pb::GetStampResultsResponse { sessions })
}

/// The srv6d.v1 StampService.
#[derive(Clone)]
pub struct StampApi {
    agent: SharedAgent,
}

impl StampApi {
    /// The service over `agent`.
    pub fn new(agent: SharedAgent) -> Self {
        StampApi { agent }
    }

    async fn set_stopped(
        &self,
        name: String,
        stopped: bool,
    ) -> Result<Response<pb::StampSender>, Status> {
        with_agent(&self.agent, move |a| {
            let mut entry = a
                .doc()
                .stamp_sender
                .iter()
                .find(|s| s.name == name)
                .cloned()
                .ok_or_else(|| not_found(format!("STAMP sender session {name:?}")))?;
            entry.stopped = stopped;
            a.apply(
                &one(
                    "name",
                    Change::Put(Object::StampSender(entry.clone()), PutMode::Update),
                ),
                false,
            )
            .map_err(status)?;
            Ok(convert::stamp_sender_out(&entry))
        })
        .await?
        .map(Response::new)
    }
}

type ResultsStream =
    Pin<Box<dyn Stream<Item = Result<pb::GetStampResultsResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl pb::stamp_service_server::StampService for StampApi {
    async fn start_stamp_sender(
        &self,
        request: Request<pb::StartStampSenderRequest>,
    ) -> Result<Response<pb::StampSender>, Status> {
        self.set_stopped(request.into_inner().name, false).await
    }

    async fn stop_stamp_sender(
        &self,
        request: Request<pb::StopStampSenderRequest>,
    ) -> Result<Response<pb::StampSender>, Status> {
        self.set_stopped(request.into_inner().name, true).await
    }

    async fn get_stamp_results(
        &self,
        request: Request<pb::GetStampResultsRequest>,
    ) -> Result<Response<pb::GetStampResultsResponse>, Status> {
        let req = request.into_inner();
        with_agent(&self.agent, move |a| {
            results(a, &req.name, req.take_records)
        })
        .await?
        .map(Response::new)
    }

    type WatchStampResultsStream = ResultsStream;

    async fn watch_stamp_results(
        &self,
        request: Request<pb::WatchStampResultsRequest>,
    ) -> Result<Response<Self::WatchStampResultsStream>, Status> {
        let req = request.into_inner();
        let interval = if req.interval.is_empty() {
            Duration::from_secs(1)
        } else {
            crate::stamp_socket::parse_duration(&req.interval)
                .map_err(|e| Status::invalid_argument(format!("interval: {e}")))?
        };
        if interval < Duration::from_millis(100) {
            return Err(Status::invalid_argument(format!(
                "interval: {:?} is too short; expected at least 100ms",
                req.interval
            )));
        }
        // Refuse an unknown name now rather than in the first message.
        let name = req.name.clone();
        with_agent(&self.agent, move |a| results(a, &name, false).map(|_| ())).await??;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let agent = self.agent.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            loop {
                ticker.tick().await;
                let name = req.name.clone();
                let take = req.take_records;
                let item = match with_agent(&agent, move |a| results(a, &name, take)).await {
                    Ok(r) => r,
                    Err(e) => Err(e),
                };
                let end = item.is_err();
                if tx.send(item).await.is_err() || end {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

// ---------------------------------------------------------------------------
// SystemService
// ---------------------------------------------------------------------------

/// A port's counters: the engine's frames, and the interface's own kernel
/// counters (`/sys/class/net/IF/statistics`).
fn port_counters(name: &str, engine: Option<(u64, u64)>) -> pb::PortCounters {
    let read = |what: &str| {
        std::fs::read_to_string(format!("/sys/class/net/{name}/statistics/{what}"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    };
    pb::PortCounters {
        name: name.to_string(),
        rx_packets: read("rx_packets"),
        tx_packets: read("tx_packets"),
        rx_bytes: read("rx_bytes"),
        tx_bytes: read("tx_bytes"),
        engine_rx: engine.map_or(0, |e| e.0),
        engine_tx: engine.map_or(0, |e| e.1),
    }
}

/// The counters as the API shows them.
pub fn counters_out(agent: &Agent) -> pb::GetCountersResponse {
    let counters = agent.dataplane().counters();
    // Ports are numbered in document order (PortId = position).
    let ports = agent
        .doc()
        .port
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let engine = counters.as_ref().map(|c| {
                (
                    c.rx_per_port.get(i).copied().unwrap_or(0),
                    c.tx_per_port.get(i).copied().unwrap_or(0),
                )
            });
            port_counters(&p.name, engine)
        })
        .collect();
    let Some(c) = counters else {
        return pb::GetCountersResponse {
            ports,
            ..Default::default()
        };
    };
    let mut drops: HashMap<String, u64> = HashMap::new();
    for (k, v) in c
        .drops
        .iter()
        .chain(c.engine.iter())
        .chain(c.stamp_discards.iter())
        .chain(c.stamp_reply_errors.iter())
        .chain(c.kernel.iter())
    {
        *drops.entry((*k).to_string()).or_default() += v;
    }
    pb::GetCountersResponse {
        rx: c.rx,
        tx: c.tx,
        drops,
        behaviors: c
            .behaviors
            .iter()
            .map(|(k, v)| ((*k).to_string(), *v))
            .collect(),
        stamp_reflected: c.stamp_reflected,
        stamp_sent: c.stamp_sent,
        stamp_replies: c.stamp_replies,
        ports,
        total_drops: c.total_drops(),
        icmp: c.icmp.iter().map(|(k, v)| ((*k).to_string(), *v)).collect(),
        tcp_mss_clamped: c.tcp_mss_clamped,
    }
}

/// The srv6d.v1 SystemService.
#[derive(Clone)]
pub struct SystemApi {
    agent: SharedAgent,
}

impl SystemApi {
    /// The service over `agent`.
    pub fn new(agent: SharedAgent) -> Self {
        SystemApi { agent }
    }
}

#[tonic::async_trait]
impl pb::system_service_server::SystemService for SystemApi {
    async fn get_version(
        &self,
        _request: Request<pb::GetVersionRequest>,
    ) -> Result<Response<pb::GetVersionResponse>, Status> {
        let dataplane = with_agent(&self.agent, |a| a.dataplane().name()).await?;
        Ok(Response::new(pb::GetVersionResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
            api: "srv6d.v1".to_string(),
            dataplane: dataplane.to_string(),
        }))
    }

    async fn get_health(
        &self,
        _request: Request<pb::GetHealthRequest>,
    ) -> Result<Response<pb::GetHealthResponse>, Status> {
        with_agent(&self.agent, |a| {
            let (status, detail) = match a.dataplane().health() {
                Ok(()) => (
                    pb::get_health_response::Status::Serving,
                    format!(
                        "{} dataplane running, {} ports",
                        a.dataplane().name(),
                        a.doc().port.len()
                    ),
                ),
                Err(e) => (pb::get_health_response::Status::NotServing, e),
            };
            pb::GetHealthResponse {
                status: status as i32,
                detail,
                generation: a.generation(),
                uptime_seconds: a.uptime_seconds(),
            }
        })
        .await
        .map(Response::new)
    }

    async fn get_counters(
        &self,
        _request: Request<pb::GetCountersRequest>,
    ) -> Result<Response<pb::GetCountersResponse>, Status> {
        with_agent(&self.agent, |a| counters_out(a))
            .await
            .map(Response::new)
    }
}
