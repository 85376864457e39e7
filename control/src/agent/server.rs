//! The gRPC server: srv6d.v1 (Config, Stamp, System) and the srv6pm STAMP
//! services over one agent, with the listening policy of [`super::auth`]
//! and bounded request sizes.

// tonic's handlers return `Result<_, tonic::Status>`; Status is large by
// tonic's design, not ours.
#![allow(clippy::result_large_err)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;

use super::auth::{interceptor, Security};
use super::grpc::{ConfigApi, SharedAgent, StampApi, SystemApi, MAX_REQUEST_BYTES};
use super::srv6pm::{ReflectorApi, SenderApi, Srv6pmState};
use crate::proto::srv6d::v1 as pb;
use crate::proto::srv6pm as pm;

/// Serves every service on `listener` until `shutdown` completes.
pub async fn serve(
    agent: SharedAgent,
    listener: tokio::net::TcpListener,
    security: Security,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), String> {
    let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let check = interceptor(security.token.clone());
    let srv6pm = Arc::new(Mutex::new(Srv6pmState::default()));
    let mut builder = Server::builder();
    if let Some(tls) = security.tls.clone() {
        builder = builder
            .tls_config(tls)
            .map_err(|e| format!("TLS configuration: {e}"))?;
    }
    let router = builder
        .add_service(InterceptedService::new(
            pb::config_service_server::ConfigServiceServer::new(ConfigApi::new(agent.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
            check.clone(),
        ))
        .add_service(InterceptedService::new(
            pb::stamp_service_server::StampServiceServer::new(StampApi::new(agent.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
            check.clone(),
        ))
        .add_service(InterceptedService::new(
            pb::system_service_server::SystemServiceServer::new(SystemApi::new(agent.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
            check.clone(),
        ))
        .add_service(InterceptedService::new(
            pm::stamp_session_sender_service_server::StampSessionSenderServiceServer::new(
                SenderApi::new(agent.clone(), srv6pm.clone()),
            )
            .max_decoding_message_size(MAX_REQUEST_BYTES),
            check.clone(),
        ))
        .add_service(InterceptedService::new(
            pm::stamp_session_reflector_service_server::StampSessionReflectorServiceServer::new(
                ReflectorApi::new(agent, srv6pm),
            )
            .max_decoding_message_size(MAX_REQUEST_BYTES),
            check,
        ));
    tracing::info!(
        %addr,
        tls = security.tls.is_some(),
        mtls = security.mtls,
        token = security.token.is_some(),
        "gRPC agent listening (srv6d.v1, srv6pm)"
    );
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    router
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| format!("gRPC server on {addr}: {e}"))
}
