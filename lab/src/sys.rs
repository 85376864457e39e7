//! Process and namespace primitives the rest of the lab builds on: a
//! thread in a named network namespace, a child killed with its process
//! group, whether a process is alive. No lab types here.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};

use crate::Error;

/// Where iproute2 keeps named network namespaces.
pub const NETNS_DIR: &str = "/var/run/netns";

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
}

impl NsChild {
    /// Spawns `cmd` in its own process group.
    pub fn spawn(step: &str, mut cmd: Command) -> Result<NsChild, Error> {
        let command = render(&cmd);
        cmd.process_group(0);
        let child = cmd.spawn().map_err(|source| Error::Spawn {
            step: step.to_string(),
            command,
            source,
        })?;
        Ok(NsChild { child })
    }

    /// The process id (also its process group id).
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
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: plain syscall; the group was created by `spawn` and its
        // leader is our unreaped child, so the id cannot have been reused.
        if unsafe { libc::kill(-pgid, libc::SIGKILL) } != 0 {
            let _ = self.child.kill();
        }
        if let Err(e) = self.child.wait() {
            eprintln!("lab: cannot reap child {pgid}: {e}");
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
