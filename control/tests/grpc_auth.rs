//! The gRPC agent's listening policy, request bounds and Prometheus metrics,
//! end to end: `srv6d run` (no configuration file, a state file in a temp
//! directory) in a namespace that has loopback and one veth, and clients
//! from the test process inside that namespace.
//!
//! ```text
//!  a: lo, eth0 10.99.0.1/24 [srv6d] ---- eth0 10.99.0.2/24 :b
//! ```
//!
//! - a listener beyond loopback needs credentials (or `--insecure`, loudly);
//! - `--token-file`: the bearer token is checked on every call;
//! - mTLS: the client certificate must chain to `--tls-client-ca`;
//! - a batch has at most `MAX_CHANGES` changes and a request at most
//!   `MAX_REQUEST_BYTES`; a refused request changes nothing;
//! - `GET /metrics` answers the Prometheus text format.
//!
//! Needs root (namespaces, XDP); fails with a clear message otherwise.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use control::agent::grpc::{MAX_CHANGES, MAX_REQUEST_BYTES};
use control::proto::srv6d::v1 as pb;
use lab::{Lab, Topology};
use pb::config_service_client::ConfigServiceClient;
use pb::system_service_client::SystemServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Request, Status};

const SRV6D: &str = env!("CARGO_BIN_EXE_srv6d");
/// The listening address beyond loopback (srv6d's veth in namespace a).
const REMOTE: &str = "10.99.0.1:50051";
const TOKEN: &str = "0123456789abcdef0123456789abcdef";
/// Generous: the machine is small and busy; these bound a hang, not speed.
const START: Duration = Duration::from_secs(60);
const CALL: Duration = Duration::from_secs(60);

fn need_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "grpc_auth: these tests create network namespaces and run srv6d: run them as root"
    );
}

fn lab() -> Lab {
    need_root();
    Topology::new()
        .prefix("s6auth")
        .namespaces(&["a", "b"])
        .link(("a", "eth0"), ("b", "eth0"))
        .addr("a", "eth0", "10.99.0.1/24")
        .addr("b", "eth0", "10.99.0.2/24")
        .build()
        .expect("build the lab")
}

/// A temp directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "srv6d-grpc-auth-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn read_log(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

/// `srv6d run --state DIR/state.toml --idle sleep ARGS...` in namespace a,
/// stderr to DIR/srv6d.log. Stopped (SIGTERM, then SIGKILL) on drop.
struct Srv6d {
    child: Child,
    log: PathBuf,
}

impl Srv6d {
    fn command(lab: &Lab, dir: &TempDir, args: &[&str]) -> std::process::Command {
        let state = dir.path("state.toml");
        let mut argv: Vec<String> = vec![
            SRV6D.into(),
            "run".into(),
            "--state".into(),
            state.to_str().unwrap().into(),
            "--idle".into(),
            "sleep".into(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        let mut cmd = lab.command("a", argv);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.path("srv6d.log")).unwrap());
        cmd
    }

    /// Starts srv6d and waits until it logs that the gRPC agent listens.
    fn start(lab: &Lab, dir: &TempDir, args: &[&str]) -> Srv6d {
        let child = Self::command(lab, dir, args).spawn().expect("spawn srv6d");
        let mut d = Srv6d {
            child,
            log: dir.path("srv6d.log"),
        };
        let t0 = Instant::now();
        loop {
            if d.log().contains("gRPC agent listening") {
                return d;
            }
            if let Some(status) = d.child.try_wait().unwrap() {
                panic!(
                    "srv6d exited ({status}) before listening; log:\n{}",
                    d.log()
                );
            }
            if t0.elapsed() > START {
                panic!("srv6d did not start listening; log:\n{}", d.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        read_log(&self.log)
    }

    /// SIGTERM, then the exit status and the log.
    fn stop(mut self) -> (ExitStatus, String) {
        let status = self.terminate();
        (status, self.log())
    }

    fn terminate(&mut self) -> ExitStatus {
        if let Some(s) = self.child.try_wait().unwrap() {
            return s;
        }
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if t0.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                return self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Srv6d {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Runs srv6d expecting it to refuse to start: its exit status and log.
fn run_to_exit(lab: &Lab, dir: &TempDir, args: &[&str]) -> (ExitStatus, String) {
    let mut child = Srv6d::command(lab, dir, args).spawn().expect("spawn srv6d");
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, read_log(&dir.path("srv6d.log")));
        }
        if t0.elapsed() > START {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "srv6d was expected to refuse to start but runs; log:\n{}",
                read_log(&dir.path("srv6d.log"))
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `f` on a current-thread runtime on a thread inside namespace a: the
/// client's sockets are created there.
fn in_a<R: Send, F, Fut>(lab: &Lab, f: F) -> R
where
    F: FnOnce() -> Fut + Send,
    Fut: std::future::Future<Output = R>,
{
    lab.in_ns("a", || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(f())
    })
    .expect("enter namespace a")
}

fn endpoint(url: String) -> Endpoint {
    Endpoint::from_shared(url)
        .unwrap()
        .connect_timeout(CALL)
        .timeout(CALL)
}

/// A plaintext channel; `Err` with the reason if it cannot connect.
async fn plain(addr: &str) -> Result<Channel, String> {
    endpoint(format!("http://{addr}"))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))
}

/// A TLS channel trusting `ca`, with `identity` as the client certificate.
async fn tls(addr: &str, ca: &[u8], identity: Option<Identity>) -> Result<Channel, String> {
    let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
    if let Some(id) = identity {
        config = config.identity(id);
    }
    endpoint(format!("https://{addr}"))
        .tls_config(config)
        .map_err(|e| format!("{e:?}"))?
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))
}

/// `msg` with `authorization: Bearer TOKEN` when a token is given.
fn req<T>(msg: T, token: Option<&str>) -> Request<T> {
    let mut r = Request::new(msg);
    if let Some(t) = token {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    r
}

async fn version(ch: Channel, token: Option<&str>) -> Result<pb::GetVersionResponse, Status> {
    SystemServiceClient::new(ch)
        .get_version(req(pb::GetVersionRequest {}, token))
        .await
        .map(|r| r.into_inner())
}

async fn get_config(ch: Channel, token: Option<&str>) -> Result<pb::Config, Status> {
    ConfigServiceClient::new(ch)
        .max_decoding_message_size(64 << 20)
        .get_config(req(pb::GetConfigRequest {}, token))
        .await
        .map(|r| r.into_inner())
}

async fn apply(
    ch: Channel,
    token: Option<&str>,
    changes: Vec<pb::Change>,
) -> Result<pb::ApplyResponse, Status> {
    ConfigServiceClient::new(ch)
        .apply(req(
            pb::ApplyRequest {
                changes,
                dry_run: false,
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn health(ch: Channel) -> pb::GetHealthResponse {
    SystemServiceClient::new(ch)
        .get_health(pb::GetHealthRequest {})
        .await
        .expect("GetHealth")
        .into_inner()
}

fn change(op: pb::change::Op) -> pb::Change {
    pb::Change { op: Some(op) }
}

/// The smallest valid configuration: the router's source and one WAN port
/// (srv6d's veth; the engine starts on it).
fn base_changes() -> Vec<pb::Change> {
    vec![
        change(pb::change::Op::SetRouter(pb::RouterSettings {
            source: "fc00:a::1".into(),
            ..Default::default()
        })),
        change(pb::change::Op::PutPort(pb::Port {
            name: "eth0".into(),
            role: pb::PortRole::Wan as i32,
            ..Default::default()
        })),
    ]
}

fn vrf(name: &str, id: u32) -> pb::Vrf {
    pb::Vrf {
        name: name.into(),
        id,
    }
}

fn xdp_attached(lab: &Lab) -> bool {
    let out = lab.ip("a", ["-d", "link", "show", "dev", "eth0"]).unwrap();
    out.contains("xdp")
}

// ---------------------------------------------------------------------------
// The listening policy
// ---------------------------------------------------------------------------

#[test]
fn remote_listener_needs_credentials_or_insecure() {
    let lab = lab();
    let dir = TempDir::new("insecure");

    // No credentials: refused, saying what to give; nothing attached, no
    // state written.
    let (status, log) = run_to_exit(&lab, &dir, &["--grpc", REMOTE]);
    assert!(
        !status.success(),
        "srv6d started without credentials; log:\n{log}"
    );
    for needle in [
        "refusing to listen on 10.99.0.1:50051 without credentials",
        "--tls-cert",
        "--tls-client-ca",
        "--token-file",
        "--insecure",
    ] {
        assert!(
            log.contains(needle),
            "{needle:?} not in the message:\n{log}"
        );
    }
    assert!(!log.contains("gRPC agent listening"), "{log}");
    assert!(!xdp_attached(&lab), "an XDP program was attached");
    assert!(!dir.path("state.toml").exists());
    // Nothing listens.
    let refused = lab
        .in_ns("a", || TcpStream::connect(REMOTE).is_err())
        .unwrap();
    assert!(refused, "something listens on {REMOTE}");

    // --insecure: starts, warns loudly, and calls work (no metadata).
    let d = Srv6d::start(&lab, &dir, &["--grpc", REMOTE, "--insecure"]);
    let log = d.log();
    assert!(log.contains("WARN"), "no warning:\n{log}");
    assert!(
        log.contains("--insecure") && log.contains("WITHOUT authentication"),
        "the warning does not say what is insecure:\n{log}"
    );
    let v = in_a(&lab, || async {
        version(plain(REMOTE).await.expect("connect"), None).await
    })
    .expect("GetVersion with --insecure");
    assert_eq!(v.api, "srv6d.v1");
    assert!(!v.version.is_empty());
    let (status, log) = d.stop();
    assert!(status.success(), "{status}; log:\n{log}");
}

#[test]
fn bearer_token_is_required_and_checked() {
    let lab = lab();
    let dir = TempDir::new("token");

    // A token shorter than 16 characters: refused at start-up.
    let short = dir.path("short-token");
    fs::write(&short, "only15character\n").unwrap();
    let (status, log) = run_to_exit(
        &lab,
        &dir,
        &["--grpc", REMOTE, "--token-file", short.to_str().unwrap()],
    );
    assert!(
        !status.success(),
        "a 15-character token was accepted:\n{log}"
    );
    assert!(log.contains("at least 16"), "{log}");
    assert!(!xdp_attached(&lab));

    let file = dir.path("token");
    fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let d = Srv6d::start(
        &lab,
        &dir,
        &["--grpc", REMOTE, "--token-file", file.to_str().unwrap()],
    );
    let wrong = "0123456789abcdef0123456789abcdeX";
    in_a(&lab, || async {
        let ch = plain(REMOTE).await.expect("connect");

        // No metadata, a wrong token, a token without "Bearer ": refused.
        for (token, what) in [(None, "no token"), (Some(wrong), "a wrong token")] {
            let e = version(ch.clone(), token).await.unwrap_err();
            assert_eq!(e.code(), Code::Unauthenticated, "{what}: {e:?}");
            let e = apply(ch.clone(), token, base_changes()).await.unwrap_err();
            assert_eq!(e.code(), Code::Unauthenticated, "{what}: {e:?}");
            let e = ConfigServiceClient::new(ch.clone())
                .create_vrf(req(
                    pb::CreateVrfRequest {
                        vrf: Some(vrf("blue", 10)),
                    },
                    token,
                ))
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::Unauthenticated, "{what}: {e:?}");
        }
        let mut r = Request::new(pb::GetVersionRequest {});
        r.metadata_mut()
            .insert("authorization", TOKEN.parse().unwrap());
        let e = SystemServiceClient::new(ch.clone())
            .get_version(r)
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");

        // Nothing was applied by the refused calls.
        let config = get_config(ch.clone(), Some(TOKEN))
            .await
            .expect("GetConfig");
        assert_eq!(config.generation, 0);
        assert!(config.ports.is_empty() && config.vrfs.is_empty());

        // The right token: reads and changes work.
        let v = version(ch.clone(), Some(TOKEN)).await.expect("GetVersion");
        assert_eq!(v.api, "srv6d.v1");
        let applied = apply(ch.clone(), Some(TOKEN), base_changes())
            .await
            .expect("Apply with the right token");
        assert_eq!(applied.generation, 1);
        let created = ConfigServiceClient::new(ch.clone())
            .create_vrf(req(
                pb::CreateVrfRequest {
                    vrf: Some(vrf("blue", 10)),
                },
                Some(TOKEN),
            ))
            .await
            .expect("CreateVrf with the right token")
            .into_inner();
        assert_eq!(created, vrf("blue", 10));
        let config = get_config(ch, Some(TOKEN)).await.expect("GetConfig");
        assert_eq!(config.generation, 2);
        assert_eq!(config.vrfs, vec![vrf("blue", 10)]);
    });
    let (status, log) = d.stop();
    assert!(status.success(), "{status}; log:\n{log}");
}

/// Runs `openssl ARGS` in `dir`; panics with its stderr on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl (is it installed?)");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA `NAME.pem` / `NAME.key` in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
        ],
    );
}

/// A leaf certificate `NAME.pem` / `NAME.key` signed by CA `ca`, with the
/// given extensions.
fn make_leaf(dir: &Path, ca: &str, name: &str, serial: u32, extensions: &str) {
    fs::write(dir.join(format!("{name}.ext")), extensions).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-set_serial",
            &serial.to_string(),
            "-days",
            "2",
            "-out",
            &format!("{name}.pem"),
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

const SERVER_EXT: &str = "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n\
                          extendedKeyUsage=serverAuth\nsubjectAltName=IP:10.99.0.1\n";
const CLIENT_EXT: &str =
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n";

#[test]
fn mtls_requires_a_client_certificate_from_the_client_ca() {
    let lab = lab();
    let dir = TempDir::new("mtls");
    let certs = dir.path("pki");
    fs::create_dir_all(&certs).unwrap();
    make_ca(&certs, "ca");
    make_ca(&certs, "other-ca");
    make_leaf(&certs, "ca", "server", 1, SERVER_EXT);
    make_leaf(&certs, "ca", "client", 2, CLIENT_EXT);
    make_leaf(&certs, "other-ca", "stranger", 3, CLIENT_EXT);
    let p = |f: &str| certs.join(f).to_str().unwrap().to_string();
    let read = |f: &str| fs::read(certs.join(f)).unwrap();

    // A client CA without the server's own certificate is refused.
    let (status, log) = run_to_exit(
        &lab,
        &dir,
        &["--grpc", REMOTE, "--tls-client-ca", &p("ca.pem")],
    );
    assert!(!status.success(), "{log}");
    assert!(log.contains("--tls-cert"), "{log}");

    let d = Srv6d::start(
        &lab,
        &dir,
        &[
            "--grpc",
            REMOTE,
            "--tls-cert",
            &p("server.pem"),
            "--tls-key",
            &p("server.key"),
            "--tls-client-ca",
            &p("ca.pem"),
        ],
    );
    let ca = read("ca.pem");
    let client = Identity::from_pem(read("client.pem"), read("client.key"));
    let stranger = Identity::from_pem(read("stranger.pem"), read("stranger.key"));
    in_a(&lab, || async {
        // The connection or the call fails: with TLS 1.3 the server may
        // reject the client's certificate after the client thinks the
        // handshake is done.
        async fn refused(ch: Result<Channel, String>, what: &str) {
            match ch {
                Err(e) => eprintln!("{what}: refused at connect: {e}"),
                Ok(ch) => {
                    let e = version(ch, None)
                        .await
                        .expect_err(&format!("{what}: the call succeeded"));
                    eprintln!("{what}: refused at the call: {e:?}");
                    assert_ne!(e.code(), Code::Ok);
                }
            }
        }
        refused(tls(REMOTE, &ca, None).await, "no client certificate").await;
        refused(
            tls(REMOTE, &ca, Some(stranger)).await,
            "a client certificate from another CA",
        )
        .await;
        refused(plain(REMOTE).await, "a plaintext client").await;

        // The right certificate: calls work, no token needed.
        let ch = tls(REMOTE, &ca, Some(client))
            .await
            .expect("connect with the client certificate");
        let v = version(ch.clone(), None)
            .await
            .expect("GetVersion over mTLS");
        assert_eq!(v.api, "srv6d.v1");
        let config = get_config(ch, None).await.expect("GetConfig over mTLS");
        assert_eq!(config.generation, 0);
    });
    let (status, log) = d.stop();
    assert!(status.success(), "{status}; log:\n{log}");
}

// ---------------------------------------------------------------------------
// Request bounds
// ---------------------------------------------------------------------------

#[test]
fn oversized_batches_and_requests_are_refused_and_change_nothing() {
    let lab = lab();
    let dir = TempDir::new("bounds");
    let d = Srv6d::start(&lab, &dir, &["--grpc", "127.0.0.1:50051"]);
    let addr = "127.0.0.1:50051";
    in_a(&lab, || async {
        let ch = plain(addr).await.expect("connect");
        apply(ch.clone(), None, base_changes())
            .await
            .expect("the base configuration");
        let before = get_config(ch.clone(), None).await.expect("GetConfig");
        assert_eq!(before.generation, 1);

        // One change too many (each would be valid on its own).
        let many: Vec<pb::Change> = (0..=MAX_CHANGES)
            .map(|i| change(pb::change::Op::DeleteVrf(format!("v{i}"))))
            .collect();
        let e = apply(ch.clone(), None, many).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains("changes"), "{e:?}");
        assert!(
            e.message().contains(&MAX_CHANGES.to_string()),
            "the limit is not named: {e:?}"
        );

        // A request larger than MAX_REQUEST_BYTES.
        let huge = vec![change(pb::change::Op::PutVrf(vrf(
            &"x".repeat(MAX_REQUEST_BYTES + 1024),
            11,
        )))];
        let e = apply(ch.clone(), None, huge).await.unwrap_err();
        eprintln!("oversized request: {e:?}");
        assert!(
            matches!(e.code(), Code::ResourceExhausted | Code::OutOfRange),
            "{e:?}"
        );

        // Same via a single-object call.
        let e = ConfigServiceClient::new(ch.clone())
            .create_vrf(pb::CreateVrfRequest {
                vrf: Some(vrf(&"y".repeat(MAX_REQUEST_BYTES + 1024), 12)),
            })
            .await
            .unwrap_err();
        assert!(
            matches!(e.code(), Code::ResourceExhausted | Code::OutOfRange),
            "{e:?}"
        );

        // Nothing changed, and the server still serves.
        let after = get_config(ch.clone(), None).await.expect("GetConfig");
        assert_eq!(after, before);
        let h = health(ch).await;
        assert_eq!(h.generation, 1);
    });
    let state = fs::read_to_string(dir.path("state.toml")).expect("the state file");
    assert!(state.contains("# generation 1"), "{state}");
    assert!(!state.contains("xxxx"), "the refused VRF was persisted");
    let (status, log) = d.stop();
    assert!(status.success(), "{status}; log:\n{log}");
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

struct HttpReply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpReply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` over plain TCP from inside namespace a.
fn http_get(lab: &Lab, addr: &str, path: &str) -> HttpReply {
    let raw = lab
        .in_ns("a", || {
            let mut s = TcpStream::connect(addr).expect("connect to the metrics port");
            s.set_read_timeout(Some(CALL)).unwrap();
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut raw = Vec::new();
            s.read_to_end(&mut raw).expect("read the reply");
            raw
        })
        .unwrap();
    let text = String::from_utf8(raw).expect("a UTF-8 reply");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header/body split");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    HttpReply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// A sample line of the Prometheus text format: `name{k="v",...} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

fn metric_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses one sample line; `Err` says what is wrong.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let end = line
        .find(['{', ' '])
        .ok_or_else(|| "no value".to_string())?;
    let name = &line[..end];
    if !metric_name_ok(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find('=').ok_or("label without =")?;
            let key = &rest[..eq];
            if !metric_name_ok(key) || key.contains(':') {
                return Err(format!("bad label name {key:?}"));
            }
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("label value not quoted")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let close = loop {
                match chars.next() {
                    None => return Err("unterminated label value".into()),
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c @ ('\\' | '"'))) => value.push(c),
                        other => return Err(format!("bad escape {other:?}")),
                    },
                    Some((_, c)) => value.push(c),
                }
            };
            labels.push((key.to_string(), value));
            rest = &rest[close + 1..];
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else if !rest.starts_with('}') {
                return Err(format!("expected , or }} at {rest:?}"));
            }
        }
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut parts = rest.split(' ');
    let value_text = parts.next().unwrap_or("");
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse::<f64>().map_err(|e| format!("value {v:?}: {e}"))?,
    };
    if let Some(ts) = parts.next() {
        ts.parse::<i64>()
            .map_err(|e| format!("timestamp {ts:?}: {e}"))?;
    }
    if parts.next().is_some() {
        return Err("trailing text".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Every line of `text`: a comment (`# HELP`/`# TYPE` well formed) or a
/// sample. Panics naming the bad line.
fn parse_exposition(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "the text does not end with a newline");
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.split_whitespace().collect();
            match words.first() {
                Some(&"TYPE") => {
                    assert!(
                        words.len() == 3
                            && metric_name_ok(words[1])
                            && ["counter", "gauge", "histogram", "summary", "untyped"]
                                .contains(&words[2]),
                        "line {}: bad TYPE: {line:?}",
                        n + 1
                    )
                }
                Some(&"HELP") => assert!(
                    words.len() >= 2 && metric_name_ok(words[1]),
                    "line {}: bad HELP: {line:?}",
                    n + 1
                ),
                _ => {}
            }
            continue;
        }
        match parse_sample(line) {
            Ok(s) => samples.push(s),
            Err(e) => panic!("line {}: {e}: {line:?}", n + 1),
        }
    }
    samples
}

#[test]
fn the_metrics_parser_reads_the_format() {
    let s = parse_sample(r#"a_b{x="1",y="q\"\\\n"} 2.5"#).unwrap();
    assert_eq!(s.name, "a_b");
    assert_eq!(s.labels[1], ("y".to_string(), "q\"\\\n".to_string()));
    assert_eq!(s.value, 2.5);
    assert!(parse_sample("m NaN").unwrap().value.is_nan());
    assert_eq!(parse_sample("m 1e3 1700000000").unwrap().value, 1000.0);
    for bad in [
        "m",
        "m{x=1} 1",
        "m{x=\"1\" 1",
        "m 1.2.3",
        "1m 1",
        "m{x=\"1\"}1",
    ] {
        assert!(parse_sample(bad).is_err(), "{bad:?} parsed");
    }
}

#[test]
fn metrics_endpoint_serves_prometheus_text() {
    let lab = lab();
    let dir = TempDir::new("metrics");
    let grpc = "127.0.0.1:50051";
    let metrics = "127.0.0.1:9464";
    let d = Srv6d::start(&lab, &dir, &["--grpc", grpc, "--metrics", metrics]);
    let t0 = Instant::now();
    while !d.log().contains("Prometheus metrics on GET /metrics") {
        assert!(
            t0.elapsed() < START,
            "no metrics listener; log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Before any configuration: generation 0, the engine not started.
    let r = http_get(&lab, metrics, "/metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    let samples = parse_exposition(&r.body);
    let gen = |samples: &[Sample]| {
        samples
            .iter()
            .find(|s| s.name == "srv6d_config_generation")
            .map(|s| s.value)
            .expect("srv6d_config_generation")
    };
    assert_eq!(gen(&samples), 0.0);

    // A change (the engine starts on eth0), then a second one.
    let h = in_a(&lab, || async {
        let ch = plain(grpc).await.expect("connect");
        apply(ch.clone(), None, base_changes())
            .await
            .expect("Apply");
        ConfigServiceClient::new(ch.clone())
            .create_vrf(pb::CreateVrfRequest {
                vrf: Some(vrf("blue", 10)),
            })
            .await
            .expect("CreateVrf");
        health(ch).await
    });
    assert_eq!(h.generation, 2);

    let r = http_get(&lab, metrics, "/metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    let ct = r.header("content-type").expect("a content type");
    assert!(
        ct.starts_with("text/plain") && ct.contains("version=0.0.4"),
        "content type {ct:?}"
    );
    let samples = parse_exposition(&r.body);
    let up: Vec<&Sample> = samples.iter().filter(|s| s.name == "srv6d_up").collect();
    assert_eq!(up.len(), 1, "{}", r.body);
    assert_eq!(up[0].value, 1.0, "{}", r.body);
    assert_eq!(
        up[0].labels,
        vec![("dataplane".to_string(), "afxdp".to_string())]
    );
    assert_eq!(gen(&samples), h.generation as f64);
    let drops: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "srv6d_drops_total")
        .collect();
    assert!(
        !drops.is_empty(),
        "no srv6d_drops_total samples:\n{}",
        r.body
    );
    for s in &drops {
        assert!(
            s.labels.len() == 1 && s.labels[0].0 == "reason" && !s.labels[0].1.is_empty(),
            "{s:?}"
        );
        assert!(s.value >= 0.0 && s.value.fract() == 0.0, "{s:?}");
    }
    assert!(r.body.contains("# TYPE srv6d_drops_total counter"));
    // The ICMP counters, every name present (zero here), and MSS clamping.
    let icmp: Vec<&str> = samples
        .iter()
        .filter(|s| s.name == "srv6d_icmp_errors_total")
        .flat_map(|s| s.labels.iter().filter(|l| l.0 == "counter"))
        .map(|l| l.1.as_str())
        .collect();
    for name in [
        "icmp6_packet_too_big",
        "icmp4_frag_needed",
        "icmp6_time_exceeded",
        "icmp_rate_limited",
    ] {
        assert!(
            icmp.contains(&name),
            "no srv6d_icmp_errors_total{{counter={name:?}}}:\n{}",
            r.body
        );
    }
    assert!(
        samples
            .iter()
            .any(|s| s.name == "srv6d_tcp_mss_clamped_total"),
        "{}",
        r.body
    );
    assert!(r.body.contains("# TYPE srv6d_up gauge"));
    for s in &samples {
        if s.name.ends_with("_total") {
            assert!(s.value >= 0.0, "a negative counter: {s:?}");
        }
    }

    // Anything but GET /metrics: 404.
    for path in ["/other", "/", "/metrics/x"] {
        let r = http_get(&lab, metrics, path);
        assert_eq!(r.status, 404, "GET {path}: {}", r.body);
    }
    let (status, log) = d.stop();
    assert!(status.success(), "{status}; log:\n{log}");
}
