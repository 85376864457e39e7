//! The agent's all-or-nothing rule, checked against a recording dataplane:
//! a refused batch leaves the document, the dataplane and the state file as
//! they were; a failure after the dataplane changed puts the old
//! configuration back.

use std::sync::{Arc, Mutex};

use super::*;
use crate::config::{PortEntry, PortRole, RouteEntry, RouterEntry, VrfEntry, XdpMode};
use ::dataplane::engine::Counters;

/// What the fake dataplane saw: the routes of each configuration applied.
#[derive(Default)]
struct Seen {
    applied: Vec<usize>,
    fail_next: bool,
    refuse_vrf: Option<String>,
}

struct Fake(Arc<Mutex<Seen>>);

impl Dataplane for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn refuse(&self, config: &LoadedConfig) -> Vec<String> {
        let seen = self.0.lock().unwrap();
        match &seen.refuse_vrf {
            Some(v) if config.vrfs.contains_key(v) => vec![format!("vrf {v}: not here")],
            _ => Vec::new(),
        }
    }
    fn apply(&mut self, config: LoadedConfig) -> Result<Vec<InlineReport>, String> {
        let mut seen = self.0.lock().unwrap();
        if std::mem::take(&mut seen.fail_next) {
            return Err("injected failure".into());
        }
        seen.applied.push(config.routes.len());
        Ok(Vec::new())
    }
    fn clear(&mut self) -> Result<(), String> {
        self.0.lock().unwrap().applied.push(0);
        Ok(())
    }
    fn counters(&self) -> Option<Counters> {
        None
    }
    fn health(&self) -> Result<(), String> {
        Ok(())
    }
    fn stop(self: Box<Self>) -> Result<String, String> {
        Ok("stopped".into())
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("srv6d-agent-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fc(field: &str, change: Change) -> FieldChange {
    FieldChange {
        field: field.into(),
        change,
    }
}

fn base_changes() -> Vec<FieldChange> {
    vec![
        fc(
            "changes[0].set_router",
            Change::SetRouter(RouterEntry {
                source: "fc00:0:1::1".into(),
                addresses: vec![],
                stamp_port: None,
                stamp_mode: Default::default(),
                stamp_unknown_ssid: Default::default(),
                stamp_rate_limit: None,
                stamp_timestamp_format: Default::default(),
                tcp_mss_clamp: None,
            }),
        ),
        fc(
            "changes[1].put_vrf",
            Change::Put(
                Object::Vrf(VrfEntry {
                    name: "blue".into(),
                    id: 10,
                }),
                PutMode::Create,
            ),
        ),
        fc(
            "changes[2].put_port",
            Change::Put(
                Object::Port(PortEntry {
                    name: "wan0".into(),
                    role: PortRole::Wan,
                    vrf: None,
                    queues: None,
                    xdp_mode: XdpMode::Auto,
                }),
                PutMode::Create,
            ),
        ),
        fc("changes[3].put_route", route("underlay", "2001:db8::/32")),
    ]
}

fn route(vrf: &str, prefix: &str) -> Change {
    Change::Put(
        Object::Route(RouteEntry {
            vrf: vrf.into(),
            prefix: prefix.into(),
            policy: None,
            nexthop: Some("fe80::1".into()),
            port: Some("wan0".into()),
            local: false,
            blackhole: false,
        }),
        PutMode::Upsert,
    )
}

fn agent(state: Option<PathBuf>) -> (Agent, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let agent = Agent::new(
        ConfigFile::default(),
        0,
        Box::new(Fake(seen.clone())),
        state,
    );
    (agent, seen)
}

#[test]
fn a_batch_is_applied_whole_persisted_and_read_back() {
    let dir = temp_dir("persist");
    let state = dir.join("state.toml");
    let (mut a, seen) = agent(Some(state.clone()));
    let applied = a.apply(&base_changes(), false).unwrap();
    assert_eq!(applied.generation, 1);
    assert_eq!(seen.lock().unwrap().applied, vec![1]);
    let (doc, generation) = read_state(&state).unwrap().unwrap();
    assert_eq!(generation, 1);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&state).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the state holds keys: owner-only");
    assert_eq!(
        edit::to_toml(&doc).unwrap(),
        edit::to_toml(a.doc()).unwrap()
    );

    // A restart from the state file runs the same configuration, keeps the
    // generation and does not rewrite the file.
    let before = std::fs::read(&state).unwrap();
    let (mut b, seen_b) = agent(Some(state.clone()));
    b.restore(doc, generation).unwrap();
    assert_eq!(b.generation(), 1);
    assert_eq!(seen_b.lock().unwrap().applied, vec![1]);
    assert_eq!(std::fs::read(&state).unwrap(), before);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_bad_element_changes_nothing_anywhere() {
    let dir = temp_dir("atomic");
    let state = dir.join("state.toml");
    let (mut a, seen) = agent(Some(state.clone()));
    a.apply(&base_changes(), false).unwrap();
    let before_file = std::fs::read(&state).unwrap();
    let before_doc = edit::to_toml(a.doc()).unwrap();
    let batch = vec![
        fc("changes[0].put_route", route("underlay", "2001:db8:1::/48")),
        fc(
            "changes[1].delete_route",
            Change::Delete(Key::Route("underlay".into(), "2001:db8::/32".into())),
        ),
        fc("changes[2].put_route", route("green", "10.0.0.0/8")),
    ];
    let err = a.apply(&batch, false).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    assert_eq!(err.field, "changes[2].put_route.vrf", "{err}");
    assert_eq!(a.generation(), 1);
    assert_eq!(edit::to_toml(a.doc()).unwrap(), before_doc);
    assert_eq!(std::fs::read(&state).unwrap(), before_file);
    assert_eq!(
        seen.lock().unwrap().applied,
        vec![1],
        "the dataplane saw nothing"
    );

    // dry_run: checked, not applied.
    let ok = a.apply(&batch[..2], true).unwrap();
    assert_eq!(ok.generation, 1);
    assert_eq!(edit::to_toml(a.doc()).unwrap(), before_doc);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn what_the_dataplane_refuses_or_fails_changes_nothing() {
    let (mut a, seen) = agent(None);
    a.apply(&base_changes(), false).unwrap();
    let before = edit::to_toml(a.doc()).unwrap();
    seen.lock().unwrap().refuse_vrf = Some("red".into());
    let err = a
        .apply(
            &[fc(
                "vrf",
                Change::Put(
                    Object::Vrf(VrfEntry {
                        name: "red".into(),
                        id: 20,
                    }),
                    PutMode::Create,
                ),
            )],
            false,
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::FailedPrecondition);
    assert!(err.message.contains("vrf red: not here"), "{err}");
    assert_eq!(edit::to_toml(a.doc()).unwrap(), before);

    seen.lock().unwrap().fail_next = true;
    let err = a
        .apply(&[fc("route", route("underlay", "2001:db8:9::/48"))], false)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Internal);
    assert!(err.message.contains("injected failure"), "{err}");
    assert_eq!(edit::to_toml(a.doc()).unwrap(), before);
    // The failed apply was followed by the running configuration again.
    assert_eq!(seen.lock().unwrap().applied, vec![1, 1]);
}

#[test]
fn a_state_file_that_cannot_be_written_undoes_the_change() {
    let dir = temp_dir("unwritable");
    // The state file's directory is a regular file: every write fails.
    let blocker = dir.join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap();
    let (mut a, seen) = agent(Some(blocker.join("state.toml")));
    let err = a.apply(&base_changes(), false).unwrap_err();
    assert_eq!(err.code, ErrorCode::Internal);
    assert!(err.message.contains("cannot persist"), "{err}");
    assert_eq!(a.generation(), 0);
    assert!(is_empty(a.doc()));
    // Applied, then cleared again: the dataplane runs nothing, like the
    // agent's (empty) document says.
    assert_eq!(seen.lock().unwrap().applied, vec![1, 0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_damaged_state_file_is_reported_with_its_line() {
    let dir = temp_dir("damaged");
    let state = dir.join("state.toml");
    std::fs::write(
        &state,
        "# generation 3\n[[port]]\nname = \"wan0\"\nrole = \"sideways\"\n",
    )
    .unwrap();
    let err = read_state(&state).unwrap_err();
    assert!(err.contains("state.toml:4"), "{err}");
    assert!(read_state(&dir.join("absent.toml")).unwrap().is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}
