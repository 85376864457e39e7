//! The agent: srv6d's configuration as a document that the gRPC API edits,
//! applied to a dataplane (the AF_XDP engine or the kernel's seg6) and
//! persisted.
//!
//! Every request goes the same way ([`Agent::apply`]): the changes are made
//! to a copy of the document ([`edit`]), the copy is validated as a whole by
//! the configuration file's own validator, the dataplane checks what it
//! cannot do, the new configuration is published (one snapshot swap for the
//! engine), and the document is persisted (temp file + rename) before the
//! call returns. A failure at any step leaves the document, the dataplane
//! and the state file as they were: a batch is all or nothing.
//!
//! What it is not: the network server. `grpc` turns requests into
//! [`edit::Change`]s and results into replies.

pub mod auth;
pub mod convert;
pub mod dataplane;
pub mod edit;
pub mod grpc;
pub mod metrics;
pub mod server;
pub mod srv6pm;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tracing::{info, warn};

use crate::config::{ConfigFile, LoadedConfig};
use crate::stamp_inline::InlineReport;

pub use dataplane::Dataplane;
pub use edit::{ApiError, Change, ErrorCode, FieldChange, Key, Object, PutMode};

/// The first line of a state file.
const STATE_HEADER: &str = "# srv6d state: the configuration applied through the API";

/// What a successful [`Agent::apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The configuration's generation now.
    pub generation: u64,
    /// The validator's warnings.
    pub warnings: Vec<String>,
}

/// The configuration document, its dataplane and its state file.
pub struct Agent {
    doc: ConfigFile,
    generation: u64,
    dataplane: Box<dyn Dataplane>,
    state: Option<PathBuf>,
    started: Instant,
    /// Final results of sender sessions stopped or deleted, by name, until
    /// read or until the session runs again.
    ended: BTreeMap<String, InlineReport>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("generation", &self.generation)
            .field("dataplane", &self.dataplane.name())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Whether a document configures nothing at all.
pub fn is_empty(doc: &ConfigFile) -> bool {
    doc.router.is_none()
        && doc.port.is_empty()
        && doc.vrf.is_empty()
        && doc.sid.is_empty()
        && doc.policy.is_empty()
        && doc.route.is_empty()
        && doc.stamp_sender.is_empty()
        && doc.stamp_session.is_empty()
}

/// Reads a state file: the document and its generation. `Ok(None)` if
/// the file does not exist.
pub fn read_state(path: &Path) -> Result<Option<(ConfigFile, u64)>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
    };
    let generation = text
        .lines()
        .find_map(|l| l.strip_prefix("# generation "))
        .and_then(|g| g.trim().parse().ok())
        .unwrap_or(0);
    let name = path.display().to_string();
    // The validator reports a damaged file with its line.
    if let Err(errors) = crate::config::load_str(&text, &name) {
        return Err(errors.to_string());
    }
    let doc: ConfigFile =
        toml::from_str(&text).map_err(|e| format!("{name}: not a configuration: {e}"))?;
    Ok(Some((doc, generation)))
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames
/// it over `path`: a reader (or a restart after a crash) sees the old file
/// or the whole new one. The file is created with mode 0644 (less the
/// umask); see [`write_private`] for files holding secrets.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(path, bytes, 0o644)
}

/// [`write_atomically`] for a file holding secrets (the state file has the
/// STAMP sessions' HMAC keys): mode 0600 from the moment it exists.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(path, bytes, 0o600)
}

fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        // A leftover of a crashed run would keep its mode: start afresh.
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    // The new file is in place: a failure to sync the directory must not be
    // reported as "not written" (the caller would undo a change the file
    // already holds).
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
            warn!(
                "{}: written, but syncing its directory failed: {e}",
                path.display()
            );
        }
    }
    Ok(())
}

impl Agent {
    /// An agent over a dataplane that runs `doc` already (generation
    /// `generation`), persisting to `state` when given.
    pub fn new(
        doc: ConfigFile,
        generation: u64,
        dataplane: Box<dyn Dataplane>,
        state: Option<PathBuf>,
    ) -> Agent {
        Agent {
            doc,
            generation,
            dataplane,
            state,
            started: Instant::now(),
            ended: BTreeMap::new(),
        }
    }

    /// The document as applied.
    pub fn doc(&self) -> &ConfigFile {
        &self.doc
    }

    /// Incremented by every applied change.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The dataplane.
    pub fn dataplane(&self) -> &dyn Dataplane {
        self.dataplane.as_ref()
    }

    /// The dataplane, mutably (STAMP results, collection).
    pub fn dataplane_mut(&mut self) -> &mut dyn Dataplane {
        self.dataplane.as_mut()
    }

    /// Seconds since the agent started.
    pub fn uptime_seconds(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Checks and applies a batch: all of it or nothing (see the module
    /// docs). `dry_run` stops after the checks.
    pub fn apply(&mut self, changes: &[FieldChange], dry_run: bool) -> Result<Applied, ApiError> {
        let (next, origins) = edit::edit(&self.doc, changes)?;
        let loaded = edit::validate(&next, &origins)?;
        let refused = self.dataplane.refuse(&loaded);
        if !refused.is_empty() {
            return Err(ApiError::new(
                ErrorCode::FailedPrecondition,
                changes.first().map(|c| c.field.clone()).unwrap_or_default(),
                format!(
                    "the {} dataplane cannot do this: {}",
                    self.dataplane.name(),
                    refused.join("; ")
                ),
            ));
        }
        let warnings = loaded.warnings.clone();
        if dry_run {
            return Ok(Applied {
                generation: self.generation,
                warnings,
            });
        }
        self.publish(next, loaded, "api")
    }

    /// Replaces the whole document (a SIGHUP re-reading the configuration
    /// file): validated and applied like a batch.
    pub fn replace(&mut self, doc: ConfigFile, source: &str) -> Result<Applied, ApiError> {
        let loaded = edit::validate(&doc, &edit::Origins::default())?;
        let refused = self.dataplane.refuse(&loaded);
        if !refused.is_empty() {
            return Err(ApiError::new(
                ErrorCode::FailedPrecondition,
                "",
                refused.join("; "),
            ));
        }
        let warnings = loaded.warnings.clone();
        let mut applied = self.publish(doc, loaded, source)?;
        applied.warnings = warnings;
        Ok(applied)
    }

    /// Applies a document read back from the state file at start-up: as
    /// it was (generation kept), not written again.
    pub fn restore(&mut self, doc: ConfigFile, generation: u64) -> Result<Applied, ApiError> {
        let state = self.state.take();
        let result = self.replace(doc, "state file");
        self.state = state;
        if result.is_ok() {
            self.generation = generation;
        }
        result.map(|mut a| {
            a.generation = generation;
            a
        })
    }

    /// Stops the dataplane (at shutdown); later applies are refused.
    pub fn stop_dataplane(&mut self) -> Result<String, String> {
        let dataplane = std::mem::replace(&mut self.dataplane, Box::new(dataplane::Stopped));
        dataplane.stop()
    }

    fn publish(
        &mut self,
        next: ConfigFile,
        loaded: LoadedConfig,
        source: &str,
    ) -> Result<Applied, ApiError> {
        let warnings = loaded.warnings.clone();
        let ended = match self.dataplane.apply(loaded) {
            Ok(ended) => ended,
            Err(message) => {
                // The dataplane undid its part; re-applying the running
                // configuration restores what a restart (port change) took
                // down.
                self.roll_back();
                return Err(ApiError::new(
                    ErrorCode::Internal,
                    "",
                    format!("the dataplane could not apply the change, nothing changed: {message}"),
                ));
            }
        };
        let generation = self.generation + 1;
        if let Some(path) = self.state.clone() {
            let text = match edit::to_toml(&next) {
                Ok(t) => t,
                Err(e) => {
                    self.roll_back();
                    return Err(e);
                }
            };
            let body = format!("{STATE_HEADER}\n# generation {generation}\n{text}");
            if let Err(e) = write_private(&path, body.as_bytes()) {
                // The dataplane runs the new configuration but the state
                // file still holds the old one: put the old one back.
                self.roll_back();
                return Err(ApiError::new(
                    ErrorCode::Internal,
                    "",
                    format!(
                        "cannot persist the configuration to {}: {e}; the change was undone",
                        path.display()
                    ),
                ));
            }
        }
        for report in ended {
            self.ended.insert(report.name.clone(), report);
        }
        // A session running again reports live.
        for s in &next.stamp_sender {
            if !s.stopped {
                self.ended.remove(&s.name);
            }
        }
        self.ended
            .retain(|name, _| next.stamp_sender.iter().any(|s| &s.name == name));
        self.doc = next;
        self.generation = generation;
        info!(generation, source, "configuration applied");
        Ok(Applied {
            generation,
            warnings,
        })
    }

    fn roll_back(&mut self) {
        if is_empty(&self.doc) {
            if let Err(e) = self.dataplane.clear() {
                warn!("clearing the dataplane after a failed first change failed: {e}");
            }
            return;
        }
        match edit::validate(&self.doc, &edit::Origins::default()) {
            Ok(old) => {
                if let Err(e) = self.dataplane.apply(old) {
                    warn!("rolling back to generation {} failed: {e}", self.generation);
                }
            }
            Err(e) => warn!("the running configuration no longer validates: {e}"),
        }
    }

    /// The sender sessions' results: the running ones from the dataplane,
    /// the stopped ones as they ended.
    pub fn stamp_reports<'a>(
        &mut self,
        take_records: impl Into<crate::stamp_inline::TakeRecords<'a>>,
    ) -> Vec<InlineReport> {
        let take = take_records.into();
        let mut reports = self.dataplane.stamp_reports(take);
        for (name, report) in &mut self.ended {
            if reports.iter().any(|r| &r.name == name) {
                continue;
            }
            let mut r = report.clone();
            if take.takes(name) {
                report.report.records.clear();
            } else {
                r.report.records.clear();
            }
            reports.push(r);
        }
        reports.sort_by(|a, b| a.name.cmp(&b.name));
        reports
    }
}

#[cfg(test)]
mod tests;
