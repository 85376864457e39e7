//! The agent's state file and atomicity, over a fake dataplane (no root, no
//! network): the state file is private (it holds HMAC keys), a failure to
//! persist leaves the document, the dataplane and the state file as they
//! were, keys are never returned, and a damaged state file is an error
//! naming the file.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use control::agent::grpc::{change_in, config_out};
use control::agent::{read_state, Agent, Dataplane, ErrorCode};
use control::config::{ConfigFile, LoadedConfig};
use control::proto::srv6d::v1 as pb;
use control::stamp_inline::InlineReport;

/// What the fake dataplane was last given: (ports, VRF names).
type Seen = Arc<Mutex<Vec<(usize, Vec<String>)>>>;

struct Fake {
    seen: Seen,
}

impl Dataplane for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn refuse(&self, _config: &LoadedConfig) -> Vec<String> {
        Vec::new()
    }
    fn apply(&mut self, config: LoadedConfig) -> Result<Vec<InlineReport>, String> {
        self.seen
            .lock()
            .unwrap()
            .push((config.ports.len(), config.vrfs.keys().cloned().collect()));
        Ok(Vec::new())
    }
    fn clear(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn counters(&self) -> Option<dataplane::engine::Counters> {
        None
    }
    fn health(&self) -> Result<(), String> {
        Ok(())
    }
    fn stop(self: Box<Self>) -> Result<String, String> {
        Ok("stopped".into())
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("srv6d-agent-state-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const KEY: &str = "00112233445566778899aabbccddeeff";

fn base() -> ConfigFile {
    toml::from_str(
        r#"
        [[port]]
        name = "wan0"
        role = "wan"

        [router]
        source = "fc00:a::1"
        "#,
    )
    .unwrap()
}

fn agent(state: PathBuf) -> (Agent, Seen) {
    let seen = Seen::default();
    let mut agent = Agent::new(
        ConfigFile::default(),
        0,
        Box::new(Fake { seen: seen.clone() }),
        Some(state),
    );
    agent
        .replace(base(), "test")
        .expect("the base configuration");
    (agent, seen)
}

fn put(op: pb::change::Op) -> Vec<control::agent::FieldChange> {
    vec![change_in(&pb::Change { op: Some(op) }, "changes[0]").unwrap()]
}

fn keyed_session() -> Vec<control::agent::FieldChange> {
    put(pb::change::Op::PutStampReflectorSession(
        pb::StampReflectorSession {
            ssid: 7,
            key: KEY.into(),
            ..Default::default()
        },
    ))
}

#[test]
fn the_state_file_holding_keys_is_private() {
    let dir = TempDir::new("mode");
    let path = dir.0.join("state.toml");
    let (mut agent, _) = agent(path.clone());
    agent.apply(&keyed_session(), false).expect("apply");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(KEY), "the key is persisted (it must be)");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode & 0o077,
        0,
        "the state file holds HMAC keys but is mode {mode:o}: readable by others"
    );
    // And stays so when rewritten.
    agent
        .apply(
            &put(pb::change::Op::PutVrf(pb::Vrf {
                name: "blue".into(),
                id: 10,
            })),
            false,
        )
        .expect("apply");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o077, 0, "mode {mode:o} after a rewrite");
    // No temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["state.toml".to_string()]);
}

#[test]
fn a_failure_to_persist_changes_nothing() {
    let dir = TempDir::new("persist");
    let sub = dir.0.join("sub");
    let path = sub.join("state.toml");
    let (mut agent, seen) = agent(path.clone());
    let before_doc = toml::to_string(agent.doc()).unwrap();
    let before_generation = agent.generation();
    // The state file's directory becomes a plain file: the write fails.
    std::fs::remove_dir_all(&sub).unwrap();
    std::fs::write(&sub, "not a directory").unwrap();
    let e = agent
        .apply(
            &put(pb::change::Op::PutVrf(pb::Vrf {
                name: "blue".into(),
                id: 10,
            })),
            false,
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Internal, "{e}");
    assert!(e.to_string().contains("undone"), "{e}");
    assert_eq!(toml::to_string(agent.doc()).unwrap(), before_doc);
    assert_eq!(agent.generation(), before_generation);
    // The dataplane got the new configuration, then the old one back.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[1].1, vec!["blue".to_string()]);
    assert_eq!(seen[2], seen[0], "the dataplane was not rolled back");
}

#[test]
fn keys_are_never_returned() {
    let dir = TempDir::new("redact");
    let (mut agent, _) = agent(dir.0.join("state.toml"));
    agent.apply(&keyed_session(), false).expect("apply");
    let config = config_out(&agent);
    let shown = format!("{config:?}");
    assert!(!shown.contains(KEY), "the key is returned: {shown}");
    assert!(!config.toml.contains(KEY), "{}", config.toml);
    assert_eq!(config.stamp_reflector_sessions[0].key, "(set)");
    // A read-modify-write round trip keeps the key.
    let mut session = config.stamp_reflector_sessions[0].clone();
    session.stopped = true;
    agent
        .apply(
            &put(pb::change::Op::PutStampReflectorSession(session)),
            false,
        )
        .expect("put back");
    assert_eq!(agent.doc().stamp_session[0].key.as_deref(), Some(KEY));
}

#[test]
fn a_damaged_state_file_is_an_error_naming_it_and_a_good_one_round_trips() {
    let dir = TempDir::new("damaged");
    let path = dir.0.join("state.toml");
    let (mut agent, _) = agent(path.clone());
    agent.apply(&keyed_session(), false).expect("apply");
    let (doc, generation) = read_state(&path).unwrap().expect("a state file");
    assert_eq!(generation, agent.generation());
    assert_eq!(
        toml::to_string(&doc).unwrap(),
        toml::to_string(agent.doc()).unwrap()
    );

    std::fs::write(&path, "# srv6d state\n[[port]\nname = \n").unwrap();
    let e = read_state(&path).unwrap_err();
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(read_state(&dir.0.join("absent.toml")).unwrap().is_none());
}

#[test]
fn a_bad_sid_to_delete_names_the_request_field() {
    let dir = TempDir::new("delsid");
    let (mut agent, _) = agent(dir.0.join("state.toml"));
    // In a batch: the field is the delete_sid itself (a string), not a
    // `.sid` inside it.
    let e = agent
        .apply(&put(pb::change::Op::DeleteSid("not-a-sid".into())), false)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArgument, "{e}");
    assert_eq!(e.field, "changes[0].delete_sid", "{e}");
    let e = agent
        .apply(&put(pb::change::Op::DeleteSid("fc00::99".into())), false)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound, "{e}");
    assert_eq!(e.field, "changes[0].delete_sid", "{e}");

    // DeleteSid: the request's field is `sid`.
    use pb::config_service_server::ConfigService as _;
    let api = control::agent::grpc::ConfigApi::new(Arc::new(Mutex::new(agent)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (sid, code) in [
        ("not-a-sid", tonic::Code::InvalidArgument),
        ("fc00::99", tonic::Code::NotFound),
    ] {
        let e = rt
            .block_on(api.delete_sid(tonic::Request::new(pb::DeleteSidRequest {
                sid: sid.into(),
            })))
            .unwrap_err();
        assert_eq!(e.code(), code, "{e:?}");
        assert!(e.message().starts_with("sid: "), "{sid}: {:?}", e.message());
    }
}
