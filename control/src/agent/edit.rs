//! Changes to the configuration document, as the API expresses them, and
//! their checking against the whole resulting configuration.
//!
//! The document is a [`ConfigFile`] — the TOML file's own shape — so that an
//! API change and a file edit are the same thing: a batch of changes is
//! applied to a copy of the document, the copy is written as TOML and loaded
//! by the same validator as a file, and only a copy that passes is kept.
//! Errors name the request field that caused them (`changes[2].put_route.prefix`),
//! or, for an object the request did not touch but invalidated (a route whose
//! policy was deleted), the object itself.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use crate::config::{
    self, ConfigFile, LoadedConfig, PolicyEntry, PortEntry, RouteEntry, RouterEntry, SidEntry,
    StampSenderEntry, StampSessionEntry, VrfEntry,
};

/// The gRPC status class of an [`ApiError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A field is malformed or the resulting configuration is invalid.
    InvalidArgument,
    /// The object to update, get or delete does not exist.
    NotFound,
    /// The object to create exists.
    AlreadyExists,
    /// Valid, but the dataplane cannot do it (kernel backend limits).
    FailedPrecondition,
    /// Applying or persisting failed; nothing changed.
    Internal,
}

/// Why a request was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Its class.
    pub code: ErrorCode,
    /// The request field at fault (`changes[1].put_sid.vrf`), empty when
    /// the request as a whole is.
    pub field: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ApiError {
    /// An error of `code` about `field`.
    pub fn new(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            code,
            field: field.into(),
            message: message.into(),
        }
    }

    /// An INVALID_ARGUMENT error about `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidArgument, field, message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ApiError {}

/// A configuration object, keyed as [`Key`] says.
#[derive(Debug, Clone)]
pub enum Object {
    /// `[[port]]`, key name.
    Port(PortEntry),
    /// `[[vrf]]`, key name.
    Vrf(VrfEntry),
    /// `[[sid]]`, key the SID or SID prefix.
    Sid(SidEntry),
    /// `[[policy]]`, key name.
    Policy(PolicyEntry),
    /// `[[route]]`, key (VRF, prefix).
    Route(RouteEntry),
    /// `[[stamp_sender]]`, key name.
    StampSender(StampSenderEntry),
    /// `[[stamp_session]]`, key SSID.
    StampSession(StampSessionEntry),
}

/// The identity of a configuration object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A port's name.
    Port(String),
    /// A VRF's name.
    Vrf(String),
    /// A SID or SID prefix, as written.
    Sid(String),
    /// A policy's name.
    Policy(String),
    /// A route's VRF name and prefix, as written.
    Route(String, String),
    /// A sender session's name.
    StampSender(String),
    /// A reflector session's SSID.
    StampSession(u32),
}

/// What a put requires of the object's current existence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// Create or replace.
    Upsert,
    /// Create: ALREADY_EXISTS if it exists.
    Create,
    /// Replace: NOT_FOUND if it does not exist.
    Update,
}

/// One change of a batch.
#[derive(Debug, Clone)]
pub enum Change {
    /// Create and/or replace an object.
    Put(Object, PutMode),
    /// Delete an object (NOT_FOUND if absent).
    Delete(Key),
    /// Replace `[router]`.
    SetRouter(RouterEntry),
}

/// A change and the request field it came from (`changes[3].put_route`,
/// or `route` for a single-object call).
#[derive(Debug, Clone)]
pub struct FieldChange {
    /// Field path prefix used in errors.
    pub field: String,
    /// The change.
    pub change: Change,
}

/// The sections of the document, by the name the validator's key paths
/// use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Section {
    Port,
    Vrf,
    Sid,
    Policy,
    Route,
    StampSender,
    StampSession,
}

impl Section {
    fn from_path(name: &str) -> Option<Section> {
        Some(match name {
            "port" => Section::Port,
            "vrf" => Section::Vrf,
            "sid" => Section::Sid,
            "policy" => Section::Policy,
            "route" => Section::Route,
            "stamp_sender" => Section::StampSender,
            "stamp_session" => Section::StampSession,
            _ => return None,
        })
    }
}

/// Which request field produced each entry of the edited document.
#[derive(Debug, Default)]
pub struct Origins {
    entries: HashMap<(Section, usize), String>,
    router: Option<String>,
}

fn key_error(field: &str, key_field: &str, message: String) -> ApiError {
    ApiError::invalid(format!("{field}.{key_field}"), message)
}

/// A SID or SID prefix in canonical form, for key comparison.
fn sid_key(text: &str) -> Option<(Ipv6Addr, u8)> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, l.parse::<u8>().ok().filter(|l| *l <= 128)?),
        None => (text, 128),
    };
    let addr: Ipv6Addr = addr.trim().parse().ok()?;
    let bits = u128::from(addr) & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    Some((Ipv6Addr::from(bits), len))
}

/// A route prefix in canonical form, for key comparison.
fn prefix_key(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = text.split_once('/')?;
    let addr: IpAddr = addr.trim().parse().ok()?;
    let len: u8 = len.parse().ok()?;
    Some(match addr {
        IpAddr::V4(a) if len <= 32 => {
            let bits = u32::from(a) & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            (IpAddr::from(bits.to_be_bytes()), len)
        }
        IpAddr::V6(a) if len <= 128 => {
            let bits = u128::from(a) & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            (IpAddr::from(Ipv6Addr::from(bits)), len)
        }
        _ => return None,
    })
}

/// The canonical text of a SID key ("fc00::1" or "fc00::/48"), or the text
/// itself if it does not parse.
pub fn canonical_sid(text: &str) -> String {
    match sid_key(text) {
        Some((a, 128)) if !text.contains('/') => a.to_string(),
        Some((a, l)) => format!("{a}/{l}"),
        None => text.to_string(),
    }
}

/// The canonical text of a route prefix, or the text itself.
pub fn canonical_prefix(text: &str) -> String {
    match prefix_key(text) {
        Some((a, l)) => format!("{a}/{l}"),
        None => text.to_string(),
    }
}

/// Where an object with `key` is in `doc`. `field` names the key in errors:
/// the object holding it (`sid` → `sid.sid`), or with `is_key`, the key
/// itself (a `delete_sid` is the SID text).
fn find(
    doc: &ConfigFile,
    key: &Key,
    field: &str,
    is_key: bool,
) -> Result<(Section, Option<usize>), ApiError> {
    Ok(match key {
        Key::Port(name) => (Section::Port, doc.port.iter().position(|p| &p.name == name)),
        Key::Vrf(name) => (Section::Vrf, doc.vrf.iter().position(|v| &v.name == name)),
        Key::Policy(name) => (
            Section::Policy,
            doc.policy.iter().position(|p| &p.name == name),
        ),
        Key::StampSender(name) => (
            Section::StampSender,
            doc.stamp_sender.iter().position(|s| &s.name == name),
        ),
        Key::StampSession(ssid) => (
            Section::StampSession,
            doc.stamp_session
                .iter()
                .position(|s| s.ssid == i64::from(*ssid)),
        ),
        Key::Sid(text) => {
            let want = sid_key(text).ok_or_else(|| {
                let message = format!(
                    "{text:?} is not a SID or SID prefix, such as \"fc00:0:2::100\" or \
                         \"fc00:0:2::/48\""
                );
                if is_key {
                    ApiError::invalid(field, message)
                } else {
                    key_error(field, "sid", message)
                }
            })?;
            (
                Section::Sid,
                doc.sid.iter().position(|s| sid_key(&s.sid) == Some(want)),
            )
        }
        Key::Route(vrf, prefix) => {
            let want = prefix_key(prefix).ok_or_else(|| {
                key_error(
                    field,
                    "prefix",
                    format!(
                        "{prefix:?} is not a prefix written address/length, such as \
                         \"10.2.0.0/24\" or \"2001:db8:2::/64\""
                    ),
                )
            })?;
            (
                Section::Route,
                doc.route
                    .iter()
                    .position(|r| &r.vrf == vrf && prefix_key(&r.prefix) == Some(want)),
            )
        }
    })
}

fn key_of(object: &Object) -> Key {
    match object {
        Object::Port(p) => Key::Port(p.name.clone()),
        Object::Vrf(v) => Key::Vrf(v.name.clone()),
        Object::Sid(s) => Key::Sid(s.sid.clone()),
        Object::Policy(p) => Key::Policy(p.name.clone()),
        Object::Route(r) => Key::Route(r.vrf.clone(), r.prefix.clone()),
        Object::StampSender(s) => Key::StampSender(s.name.clone()),
        Object::StampSession(s) => Key::StampSession(u32::try_from(s.ssid).unwrap_or(u32::MAX)),
    }
}

/// A readable name of an object for messages: `route 10.2.0.0/24 in vrf blue`.
pub fn describe_key(key: &Key) -> String {
    match key {
        Key::Port(n) => format!("port {n:?}"),
        Key::Vrf(n) => format!("vrf {n:?}"),
        Key::Sid(s) => format!("sid {s}"),
        Key::Policy(n) => format!("policy {n:?}"),
        Key::Route(v, p) => format!("route {p} in vrf {v:?}"),
        Key::StampSender(n) => format!("STAMP sender session {n:?}"),
        Key::StampSession(s) => format!("STAMP reflector session SSID {s}"),
    }
}

fn put_at<T>(list: &mut Vec<T>, at: Option<usize>, value: T) -> usize {
    match at {
        Some(i) => {
            list[i] = value;
            i
        }
        None => {
            list.push(value);
            list.len() - 1
        }
    }
}

fn remove_at(doc: &mut ConfigFile, section: Section, i: usize) {
    match section {
        Section::Port => drop(doc.port.remove(i)),
        Section::Vrf => drop(doc.vrf.remove(i)),
        Section::Sid => drop(doc.sid.remove(i)),
        Section::Policy => drop(doc.policy.remove(i)),
        Section::Route => drop(doc.route.remove(i)),
        Section::StampSender => drop(doc.stamp_sender.remove(i)),
        Section::StampSession => drop(doc.stamp_session.remove(i)),
    }
}

/// What the API returns in place of a key: keys are write-only.
pub const SECRET_SET: &str = "(set)";

/// A put whose key is [`SECRET_SET`] keeps the object's current key (so a
/// read-modify-write round trip does not drop authentication).
fn keep_secret(
    doc: &ConfigFile,
    object: &mut Object,
    at: Option<usize>,
    field: &str,
) -> Result<(), ApiError> {
    let (key, current) = match object {
        Object::StampSender(s) => (&mut s.key, at.and_then(|i| doc.stamp_sender[i].key.clone())),
        Object::StampSession(s) => (
            &mut s.key,
            at.and_then(|i| doc.stamp_session[i].key.clone()),
        ),
        _ => return Ok(()),
    };
    if key.as_deref() == Some(SECRET_SET) {
        *key = Some(current.ok_or_else(|| {
            ApiError::invalid(
                format!("{field}.key"),
                format!(
                    "{SECRET_SET:?} keeps the current key, but there is none; give the key in hex"
                ),
            )
        })?);
    }
    Ok(())
}

/// Applies `changes` in order to a copy of `doc`. Fails on the first
/// change whose target is missing (delete, update) or present (create),
/// or whose key does not parse; the copy is not validated here.
pub fn edit(doc: &ConfigFile, changes: &[FieldChange]) -> Result<(ConfigFile, Origins), ApiError> {
    let mut next = doc.clone();
    let mut origins = Origins::default();
    for FieldChange { field, change } in changes {
        match change {
            Change::SetRouter(router) => {
                next.router = Some(router.clone());
                origins.router = Some(field.clone());
            }
            Change::Delete(key) => {
                let (section, at) = find(&next, key, field, matches!(key, Key::Sid(_)))?;
                let Some(i) = at else {
                    return Err(ApiError::new(
                        ErrorCode::NotFound,
                        field.clone(),
                        format!("no {} to delete", describe_key(key)),
                    ));
                };
                remove_at(&mut next, section, i);
                // Indices after `i` moved down by one.
                origins.entries = std::mem::take(&mut origins.entries)
                    .into_iter()
                    .filter_map(|((s, j), f)| match (s == section, j.cmp(&i)) {
                        (true, std::cmp::Ordering::Equal) => None,
                        (true, std::cmp::Ordering::Greater) => Some(((s, j - 1), f)),
                        _ => Some(((s, j), f)),
                    })
                    .collect();
            }
            Change::Put(object, mode) => {
                let key = key_of(object);
                let (section, at) = find(&next, &key, field, false)?;
                match (mode, at) {
                    (PutMode::Create, Some(_)) => {
                        return Err(ApiError::new(
                            ErrorCode::AlreadyExists,
                            field.clone(),
                            format!("{} exists; update it instead", describe_key(&key)),
                        ))
                    }
                    (PutMode::Update, None) => {
                        return Err(ApiError::new(
                            ErrorCode::NotFound,
                            field.clone(),
                            format!("no {} to update; create it instead", describe_key(&key)),
                        ))
                    }
                    _ => {}
                }
                let mut object = object.clone();
                keep_secret(&next, &mut object, at, field)?;
                let i = match object {
                    Object::Port(p) => put_at(&mut next.port, at, p),
                    Object::Vrf(v) => put_at(&mut next.vrf, at, v),
                    Object::Sid(s) => put_at(&mut next.sid, at, s),
                    Object::Policy(p) => put_at(&mut next.policy, at, p),
                    Object::Route(r) => put_at(&mut next.route, at, r),
                    Object::StampSender(s) => put_at(&mut next.stamp_sender, at, s),
                    Object::StampSession(s) => put_at(&mut next.stamp_session, at, s),
                };
                origins.entries.insert((section, i), field.clone());
            }
        }
    }
    Ok((next, origins))
}

/// The document as TOML text that `config::load_str` reads back to the
/// same document.
pub fn to_toml(doc: &ConfigFile) -> Result<String, ApiError> {
    toml::to_string(doc).map_err(|e| {
        ApiError::new(
            ErrorCode::Internal,
            "",
            format!("cannot write the configuration as TOML: {e}"),
        )
    })
}

/// The identity of entry `i` of `section` in `doc`, for messages.
fn describe_entry(doc: &ConfigFile, section: Section, i: usize) -> Option<String> {
    let key = match section {
        Section::Port => Key::Port(doc.port.get(i)?.name.clone()),
        Section::Vrf => Key::Vrf(doc.vrf.get(i)?.name.clone()),
        Section::Sid => Key::Sid(doc.sid.get(i)?.sid.clone()),
        Section::Policy => Key::Policy(doc.policy.get(i)?.name.clone()),
        Section::Route => {
            let r = doc.route.get(i)?;
            Key::Route(r.vrf.clone(), r.prefix.clone())
        }
        Section::StampSender => Key::StampSender(doc.stamp_sender.get(i)?.name.clone()),
        Section::StampSession => {
            Key::StampSession(u32::try_from(doc.stamp_session.get(i)?.ssid).unwrap_or(u32::MAX))
        }
    };
    Some(describe_key(&key))
}

/// Rewrites a validator key path (`route[3].prefix`) into the request
/// field that produced the entry (`changes[1].put_route.prefix`), or into
/// the entry's identity when the request did not touch it.
fn map_path(doc: &ConfigFile, origins: &Origins, path: &str) -> String {
    let (head, rest) = match path.find('.') {
        Some(i) => (&path[..i], &path[i..]),
        None => (path, ""),
    };
    if head == "router" {
        return match &origins.router {
            Some(field) => format!("{field}{rest}"),
            None => format!("router{rest} (the router settings: SetRouter)"),
        };
    }
    let parsed = head.strip_suffix(']').and_then(|h| {
        let (name, index) = h.split_once('[')?;
        Some((Section::from_path(name)?, index.parse::<usize>().ok()?))
    });
    match parsed {
        Some((section, i)) => match origins.entries.get(&(section, i)) {
            Some(field) => format!("{field}{rest}"),
            None => match describe_entry(doc, section, i) {
                Some(what) => format!("{what} (already configured){rest}"),
                None => path.to_string(),
            },
        },
        None => path.to_string(),
    }
}

/// Validates the edited document as a whole, exactly as a file is.
pub fn validate(doc: &ConfigFile, origins: &Origins) -> Result<LoadedConfig, ApiError> {
    let text = to_toml(doc)?;
    config::load_str(&text, "api").map_err(|errors| {
        let mut fields = Vec::new();
        let mut messages = Vec::new();
        for e in errors.errors() {
            let field = map_path(doc, origins, &e.path);
            messages.push(if field.is_empty() {
                e.kind.to_string()
            } else {
                format!("{field}: {}", e.kind)
            });
            fields.push(field);
        }
        let field = fields.first().cloned().unwrap_or_default();
        // The first error names the field; all of them are in the message.
        let message = if messages.len() == 1 {
            errors.errors()[0].kind.to_string()
        } else {
            format!("{} errors: {}", messages.len(), messages.join("; "))
        };
        ApiError::invalid(field, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BehaviorName, PolicyMode, PortRole, XdpMode};

    fn base() -> ConfigFile {
        let text = r#"
            [[port]]
            name = "wan0"
            role = "wan"

            [[port]]
            name = "lan0"
            role = "lan"
            vrf = "blue"

            [[vrf]]
            name = "blue"
            id = 10

            [router]
            source = "fc00:0:1::1"

            [[sid]]
            sid = "fc00:0:1::100"
            behavior = "end.dt6"
            vrf = "blue"

            [[policy]]
            name = "to-2"
            mode = "encap"
            segments = ["fc00:0:2::100"]

            [[route]]
            vrf = "blue"
            prefix = "2001:db8:2::/64"
            policy = "to-2"
        "#;
        toml::from_str(text).unwrap()
    }

    fn change(field: &str, change: Change) -> FieldChange {
        FieldChange {
            field: field.to_string(),
            change,
        }
    }

    fn route(vrf: &str, prefix: &str, policy: &str) -> RouteEntry {
        RouteEntry {
            vrf: vrf.into(),
            prefix: prefix.into(),
            policy: Some(policy.into()),
            nexthop: None,
            port: None,
            local: false,
            blackhole: false,
        }
    }

    #[test]
    fn the_document_round_trips_through_toml_and_the_validator() {
        let doc = base();
        let text = to_toml(&doc).unwrap();
        let again: ConfigFile = toml::from_str(&text).unwrap();
        assert_eq!(to_toml(&again).unwrap(), text);
        let loaded = validate(&doc, &Origins::default()).unwrap();
        assert_eq!(loaded.ports.len(), 2);
        assert_eq!(loaded.routes.len(), 1);
    }

    #[test]
    fn a_bad_field_is_named_by_the_request_field_that_set_it() {
        let doc = base();
        let bad = route("blue", "10.2.0.0/24", "nope");
        let (next, origins) = edit(
            &doc,
            &[
                change(
                    "changes[0].put_route",
                    Change::Put(
                        Object::Route(route("blue", "10.3.0.0/24", "to-2")),
                        PutMode::Create,
                    ),
                ),
                change(
                    "changes[1].put_route",
                    Change::Put(Object::Route(bad), PutMode::Create),
                ),
            ],
        )
        .unwrap();
        let err = validate(&next, &origins).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert_eq!(err.field, "changes[1].put_route.policy");
        assert!(err.message.contains("nope"), "{err}");
    }

    #[test]
    fn deleting_what_others_use_names_the_object_left_invalid() {
        let doc = base();
        let (next, origins) = edit(
            &doc,
            &[change(
                "changes[0].delete_policy",
                Change::Delete(Key::Policy("to-2".into())),
            )],
        )
        .unwrap();
        let err = validate(&next, &origins).unwrap_err();
        assert!(
            err.field
                .starts_with("route 2001:db8:2::/64 in vrf \"blue\" (already configured).policy"),
            "{err}"
        );
    }

    #[test]
    fn keys_compare_in_canonical_form_and_modes_are_enforced() {
        let doc = base();
        let sid = SidEntry {
            sid: "fc00:0:1:0::100".into(),
            behavior: BehaviorName::End,
            vrf: None,
            port: None,
            nexthop: None,
        };
        let err = edit(
            &doc,
            &[change(
                "sid",
                Change::Put(Object::Sid(sid.clone()), PutMode::Create),
            )],
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::AlreadyExists);
        let (next, _) = edit(
            &doc,
            &[change(
                "sid",
                Change::Put(Object::Sid(sid), PutMode::Update),
            )],
        )
        .unwrap();
        assert_eq!(next.sid.len(), 1);
        assert_eq!(next.sid[0].behavior, BehaviorName::End);

        let err = edit(
            &doc,
            &[change(
                "key",
                Change::Delete(Key::Route("blue".into(), "2001:db8:9::/64".into())),
            )],
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::NotFound);
        let (next, _) = edit(
            &doc,
            &[change(
                "key",
                Change::Delete(Key::Route("blue".into(), "2001:db8:2:0::/64".into())),
            )],
        )
        .unwrap();
        assert!(next.route.is_empty());

        let err = edit(
            &doc,
            &[change("key", Change::Delete(Key::Sid("fc00::zz".into())))],
        )
        .unwrap_err();
        assert_eq!(
            (err.code, err.field.as_str()),
            (ErrorCode::InvalidArgument, "key")
        );
    }

    #[test]
    fn origins_follow_entries_that_a_delete_moves() {
        let doc = base();
        let port = PortEntry {
            name: "lan1".into(),
            role: PortRole::Lan,
            vrf: Some("nope".into()),
            queues: None,
            xdp_mode: XdpMode::Auto,
        };
        let (next, origins) = edit(
            &doc,
            &[
                change(
                    "changes[0].put_port",
                    Change::Put(Object::Port(port), PutMode::Create),
                ),
                change(
                    "changes[1].delete_port",
                    Change::Delete(Key::Port("wan0".into())),
                ),
            ],
        )
        .unwrap();
        assert_eq!(next.port[1].name, "lan1");
        let err = validate(&next, &origins).unwrap_err();
        assert_eq!(err.field, "changes[0].put_port.vrf", "{err}");
    }

    #[test]
    fn policies_keep_their_order_on_replace() {
        let doc = base();
        let p = PolicyEntry {
            name: "to-2".into(),
            mode: PolicyMode::EncapRed,
            segments: vec!["fc00:0:2::100".into()],
            source: None,
            flow_label: Default::default(),
            ipv4_hop_limit: None,
        };
        let (next, origins) = edit(
            &doc,
            &[change(
                "policy",
                Change::Put(Object::Policy(p), PutMode::Upsert),
            )],
        )
        .unwrap();
        assert_eq!(next.policy.len(), 1);
        assert_eq!(next.policy[0].mode, PolicyMode::EncapRed);
        validate(&next, &origins).unwrap();
    }
}
