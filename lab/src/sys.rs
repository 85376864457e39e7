//! Process and namespace primitives the rest of the lab builds on: running
//! a command with its failure as a typed error, creating, deleting and
//! sweeping named network namespaces (one lock for every creator), a
//! thread in a namespace, a child killed with its process group, whether a
//! process is alive. No lab types here.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use crate::Error;

/// Where iproute2 keeps named network namespaces.
pub const NETNS_DIR: &str = "/var/run/netns";

/// Serialises `ip netns add` across threads and processes: concurrent first
/// uses race on making the netns directory a shared mount.
const LOCK_FILE: &str = "/var/run/srv6d-lab.lock";

/// Runs `f` on a fresh thread joined to the network namespace named `real`
/// (a name under [`NETNS_DIR`]) and returns its result; a panic in `f` is
/// resumed on the caller's thread.
pub fn in_netns<R, F>(real: &str, f: F) -> Result<R, Error>
where
    R: Send,
    F: FnOnce() -> R + Send,
{
    let path = Path::new(NETNS_DIR).join(real);
    let file = File::open(&path).map_err(|source| Error::Io {
        what: format!("open {}", path.display()),
        source,
    })?;
    std::thread::scope(|scope| {
        let joined = scope.spawn(move || {
            // SAFETY: `file` is an open netns file for the whole call;
            // setns only changes this thread's network namespace, and this
            // thread ends right after `f`.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(Error::Io {
                    what: format!("setns into {real}"),
                    source: std::io::Error::last_os_error(),
                });
            }
            Ok(f())
        });
        match joined.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// A child process killed (with its process group) when dropped.
#[derive(Debug)]
pub struct NsChild {
    child: Child,
    /// Leader of its own process group (killed as a group).
    own_group: bool,
}

impl NsChild {
    /// Spawns `cmd` in its own process group.
    pub fn spawn(step: &str, mut cmd: Command) -> Result<NsChild, Error> {
        cmd.process_group(0);
        NsChild::spawn_here(step, cmd, true)
    }

    /// Spawns `cmd` in the caller's process group, so that whoever kills
    /// that group (a test runner ending a test over its time limit) kills
    /// it too; dropping the guard still kills it.
    pub(crate) fn spawn_in_callers_group(step: &str, cmd: Command) -> Result<NsChild, Error> {
        NsChild::spawn_here(step, cmd, false)
    }

    fn spawn_here(step: &str, mut cmd: Command, own_group: bool) -> Result<NsChild, Error> {
        let command = render(&cmd);
        let child = cmd.spawn().map_err(|source| Error::Spawn {
            step: step.to_string(),
            command,
            source,
        })?;
        Ok(NsChild { child, own_group })
    }

    /// The process id (also its process group id, for [`NsChild::spawn`]).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The underlying child, e.g. to `try_wait` on it.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for NsChild {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: plain syscall; the group was created by `spawn` and its
        // leader is our unreaped child, so the id cannot have been reused.
        if !self.own_group || unsafe { libc::kill(-pid, libc::SIGKILL) } != 0 {
            let _ = self.child.kill();
        }
        if let Err(e) = self.child.wait() {
            eprintln!("lab: cannot reap child {pid}: {e}");
        }
    }
}

/// True if `pid` names a live (not zombie) process.
pub(crate) fn process_alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state is the first field after the parenthesised command name.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z") | Some("X") | None)
}

/// The command line as a person would type it.
pub(crate) fn render(cmd: &Command) -> String {
    let words = std::iter::once(cmd.get_program()).chain(cmd.get_args());
    let words: Vec<String> = words
        .map(|w: &OsStr| {
            let w = w.to_string_lossy();
            if w.is_empty() || w.contains(char::is_whitespace) {
                format!("'{w}'")
            } else {
                w.into_owned()
            }
        })
        .collect();
    words.join(" ")
}

/// Runs `cmd` to completion; a non-zero exit is an [`Error::Command`].
pub(crate) fn run(step: &str, mut cmd: Command) -> Result<Output, Error> {
    let command = render(&cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            step: step.to_string(),
            command: command.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            step: step.to_string(),
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

/// Creates namespace `real`, replacing a stale one of the same name (left by
/// a killed process whose pid we now have).
pub(crate) fn create_netns(real: &str) -> Result<(), Error> {
    let step = format!("create namespace {real}");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK_FILE)
        .map_err(|source| Error::Io {
            what: format!("{step}: open lock file {LOCK_FILE}"),
            source,
        })?;
    // SAFETY: flock on a file we hold open; the lock is released when
    // `lock` is closed at the end of this function.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(Error::Io {
            what: format!("{step}: lock {LOCK_FILE}"),
            source: std::io::Error::last_os_error(),
        });
    }
    if Path::new(NETNS_DIR).join(real).exists() {
        eprintln!("lab: namespace {real} already exists (stale, pid reused): replacing it");
        delete_netns(real)?;
    }
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "add", real]);
    run(&step, cmd)?;
    drop(lock);
    Ok(())
}

pub(crate) fn delete_netns(real: &str) -> Result<(), Error> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "delete", real]);
    run(&format!("delete namespace {real}"), cmd).map(drop)
}

/// Deletes namespaces named `<prefix>-<pid>-...` whose process is gone.
pub(crate) fn sweep_leftovers(prefix: &str) {
    let Ok(entries) = fs::read_dir(NETNS_DIR) else {
        return;
    };
    let own = std::process::id();
    for entry in entries.flatten() {
        let name: OsString = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = owner_pid(prefix, name) else {
            continue;
        };
        if pid == own || process_alive(pid) {
            continue;
        }
        match delete_netns(name) {
            Ok(()) => eprintln!("lab: removed leftover namespace {name} (process {pid} is gone)"),
            // Another process may be sweeping the same leftover.
            Err(_) if !Path::new(NETNS_DIR).join(name).exists() => {}
            Err(e) => eprintln!("lab: cannot remove leftover namespace: {e}"),
        }
    }
}

/// The pid in `<prefix>-<pid>-<counter>-<logical>`, if `name` has that shape.
fn owner_pid(prefix: &str, name: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    let mut parts = rest.splitn(3, '-');
    let pid = parts.next()?.parse().ok()?;
    parts.next()?.parse::<u64>().ok()?;
    parts.next().filter(|l| !l.is_empty())?;
    Some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_parses_lab_names_only() {
        assert_eq!(owner_pid("s6lab", "s6lab-123-4-h1"), Some(123));
        assert_eq!(owner_pid("s6lab", "s6lab-123-4-my-host"), Some(123));
        assert_eq!(owner_pid("s6lab", "s6lab-123-4-"), None);
        assert_eq!(owner_pid("s6lab", "s6lab-x-4-h1"), None);
        assert_eq!(owner_pid("s6lab", "s6labx-1-4-h1"), None);
        assert_eq!(owner_pid("s6lab", "other-1-4-h1"), None);
    }

    #[test]
    fn own_process_is_alive() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(u32::MAX));
    }

    #[test]
    fn render_quotes_odd_words() {
        let mut cmd = Command::new("ip");
        cmd.args(["-n", "a b", ""]);
        assert_eq!(render(&cmd), "ip -n 'a b' ''");
    }

    /// A namespace that already exists under the name we want (a leftover
    /// of a killed process whose pid we now have) is replaced, not an error.
    #[test]
    fn existing_name_is_replaced() {
        if !crate::require_root() {
            eprintln!("skipped");
            return;
        }
        let real = format!("s6lab-{}-exists-t", std::process::id());
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "add", &real]);
        run("pre-create", cmd).unwrap();
        let made = create_netns(&real);
        let path = Path::new(NETNS_DIR).join(&real);
        let existed = path.exists();
        delete_netns(&real).unwrap();
        made.unwrap();
        assert!(existed);
    }
}
