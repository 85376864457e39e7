//! Who may talk to the agent.
//!
//! The rule: loopback needs nothing; any other address needs credentials —
//! TLS with client certificates (mTLS: the client's certificate must chain
//! to `--tls-client-ca`) and/or a bearer token (`--token-file`; clients send
//! `authorization: Bearer <token>`). `--insecure` lifts the rule and is
//! logged loudly at start-up. A token without TLS crosses the network in
//! clear text: allowed, with a warning.

// tonic's handlers return `Result<_, tonic::Status>`; Status is large by
// tonic's design, not ours.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tonic::metadata::MetadataMap;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic::{Request, Status};

/// How the agent listens and whom it lets in (the `srv6d run` options).
#[derive(Debug, Clone, Default)]
pub struct ListenOptions {
    /// Where the gRPC server listens.
    pub addr: Option<SocketAddr>,
    /// Server certificate (PEM).
    pub tls_cert: Option<PathBuf>,
    /// Server key (PEM).
    pub tls_key: Option<PathBuf>,
    /// CA that client certificates must chain to (PEM): mTLS.
    pub tls_client_ca: Option<PathBuf>,
    /// File holding the bearer token.
    pub token_file: Option<PathBuf>,
    /// Listen beyond loopback without credentials.
    pub insecure: bool,
}

/// The checked listening policy.
#[derive(Clone)]
pub struct Security {
    /// TLS for the server, if configured.
    pub tls: Option<ServerTlsConfig>,
    /// The bearer token, if configured.
    pub token: Option<Arc<[u8]>>,
    /// Whether client certificates are required.
    pub mtls: bool,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("tls", &self.tls.is_some())
            .field("mtls", &self.mtls)
            .field("token", &self.token.is_some())
            .finish()
    }
}

fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {}: cannot read: {e}", path.display()))
}

/// Checks `options` against the rule in the module docs and loads the
/// files. The error says what to give.
pub fn security(options: &ListenOptions) -> Result<Security, String> {
    let addr = options
        .addr
        .ok_or_else(|| "no listen address".to_string())?;
    let tls = match (&options.tls_cert, &options.tls_key) {
        (Some(cert), Some(key)) => {
            let identity = Identity::from_pem(read(cert, "--tls-cert")?, read(key, "--tls-key")?);
            let mut tls = ServerTlsConfig::new().identity(identity);
            if let Some(ca) = &options.tls_client_ca {
                tls = tls.client_ca_root(Certificate::from_pem(read(ca, "--tls-client-ca")?));
            }
            Some(tls)
        }
        (None, None) => {
            if options.tls_client_ca.is_some() {
                return Err(
                    "--tls-client-ca needs --tls-cert and --tls-key (the server's own certificate)"
                        .to_string(),
                );
            }
            None
        }
        _ => return Err("--tls-cert and --tls-key go together".to_string()),
    };
    let token = match &options.token_file {
        Some(path) => {
            let text = read(path, "--token-file")?;
            let token = String::from_utf8_lossy(&text).trim().to_string();
            if token.len() < 16 {
                return Err(format!(
                    "--token-file {}: the token is {} characters; use at least 16 (e.g. `openssl rand -hex 32`)",
                    path.display(),
                    token.len()
                ));
            }
            Some(Arc::from(token.into_bytes()))
        }
        None => None,
    };
    let mtls = tls.is_some() && options.tls_client_ca.is_some();
    let credentials = mtls || token.is_some();
    if !addr.ip().is_loopback() && !credentials {
        if options.insecure {
            tracing::warn!(
                "!!! --insecure: the gRPC agent listens on {addr} WITHOUT authentication: anyone \
                 who can reach this address can reprogram the router !!!"
            );
        } else {
            return Err(format!(
                "refusing to listen on {addr} without credentials: anyone reaching it could \
                 reprogram the router. Give --tls-cert, --tls-key and --tls-client-ca (mTLS) \
                 and/or --token-file, listen on loopback, or pass --insecure to accept the risk"
            ));
        }
    }
    if token.is_some() && tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            "the bearer token crosses the network in clear text on {addr}: add --tls-cert/--tls-key"
        );
    }
    Ok(Security { tls, token, mtls })
}

/// Constant-time comparison (the length is not secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a request's `authorization: Bearer <token>` against `token`.
pub fn check_token(token: &[u8], metadata: &MetadataMap) -> Result<(), Status> {
    let Some(value) = metadata.get("authorization") else {
        return Err(Status::unauthenticated(
            "missing `authorization: Bearer <token>` metadata",
        ));
    };
    let given = value
        .as_bytes()
        .strip_prefix(b"Bearer ")
        .ok_or_else(|| Status::unauthenticated("authorization metadata is not `Bearer <token>`"))?;
    if same(given, token) {
        Ok(())
    } else {
        Err(Status::unauthenticated("wrong bearer token"))
    }
}

/// A tonic interceptor enforcing the token, if there is one.
pub fn interceptor(
    token: Option<Arc<[u8]>>,
) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone + Send + Sync + 'static {
    move |request: Request<()>| {
        if let Some(token) = &token {
            check_token(token, request.metadata())?;
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(addr: &str) -> ListenOptions {
        ListenOptions {
            addr: Some(addr.parse().unwrap()),
            ..ListenOptions::default()
        }
    }

    #[test]
    fn loopback_needs_nothing_and_elsewhere_needs_credentials() {
        assert!(security(&options("127.0.0.1:50051")).is_ok());
        assert!(security(&options("[::1]:50051")).is_ok());
        let err = security(&options("0.0.0.0:50051")).unwrap_err();
        assert!(err.contains("refusing to listen on 0.0.0.0:50051"), "{err}");
        let mut insecure = options("0.0.0.0:50051");
        insecure.insecure = true;
        assert!(security(&insecure).is_ok());
    }

    #[test]
    fn a_token_must_be_long_enough_and_tls_files_go_together() {
        let dir = std::env::temp_dir().join(format!("srv6d-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let short = dir.join("short");
        std::fs::write(&short, "abc\n").unwrap();
        let mut o = options("0.0.0.0:1");
        o.token_file = Some(short);
        assert!(security(&o).unwrap_err().contains("at least 16"));
        let good = dir.join("good");
        std::fs::write(&good, "0123456789abcdef0123\n").unwrap();
        o.token_file = Some(good);
        assert!(security(&o).unwrap().token.is_some());
        let mut half = options("127.0.0.1:1");
        half.tls_cert = Some(dir.join("cert.pem"));
        assert!(security(&half).unwrap_err().contains("go together"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tokens_are_checked_exactly() {
        let token: &[u8] = b"0123456789abcdef";
        let mut md = MetadataMap::new();
        assert_eq!(
            check_token(token, &md).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        md.insert("authorization", "Bearer 0123456789abcdeX".parse().unwrap());
        assert!(check_token(token, &md).is_err());
        md.insert("authorization", "Bearer 0123456789abcdef0".parse().unwrap());
        assert!(check_token(token, &md).is_err());
        md.insert("authorization", "0123456789abcdef".parse().unwrap());
        assert!(check_token(token, &md).is_err());
        md.insert("authorization", "Bearer 0123456789abcdef".parse().unwrap());
        assert!(check_token(token, &md).is_ok());
    }
}
