//! Small Linux helpers: CPU affinity, /proc readings, threaded NAPI.

use std::fs;
use std::io;

/// Pins the calling thread to `core`.
pub fn pin_current(core: usize) -> io::Result<()> {
    set_affinity(0, core)
}

/// Pins task `tid` (0: the calling thread) to `core`.
pub fn set_affinity(tid: i32, core: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `core` is checked against the set's capacity by CPU_SET's
    // caller contract; we only pass small core numbers.
    unsafe { libc::CPU_SET(core, &mut set) };
    // SAFETY: a valid cpu_set_t and its exact size.
    let rc = unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The CPUs task `tid` may run on, as a list like "1".
pub fn affinity_list(tid: i32) -> String {
    // SAFETY: as above.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid cpu_set_t and its exact size.
    let rc =
        unsafe { libc::sched_getaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return "?".into();
    }
    let cpus: Vec<String> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: index within the set.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .map(|c| c.to_string())
        .collect();
    cpus.join(",")
}

/// Every task (pid = tid for kernel threads) whose comm starts with `prefix`.
pub fn tasks_named(prefix: &str) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(comm) = fs::read_to_string(format!("/proc/{pid}/comm")) {
            if comm.trim_end().starts_with(prefix) {
                out.push(pid);
            }
        }
    }
    out.sort_unstable();
    out
}

/// Every thread of process `pid`: (tid, comm).
pub fn threads(pid: u32) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for e in dir.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let comm = fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).unwrap_or_default();
        out.push((tid, comm.trim_end().to_string()));
    }
    out.sort_unstable();
    out
}

/// (utime + stime in clock ticks, CPU last run on) of thread `tid` of
/// process `pid` (`/proc/PID/task/TID/stat`: `/proc/TID/stat` would be the
/// whole process's).
pub fn task_cpu(pid: i32, tid: i32) -> Option<(u64, i64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field n is f[n - 3].
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    let psr: i64 = f.get(36)?.parse().ok()?;
    Some((utime + stime, psr))
}

/// Clock ticks per second.
pub fn hz() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Per-CPU times from /proc/stat: [user, nice, system, idle, iowait, irq,
/// softirq, steal] in ticks, for cpu0, cpu1, ...
pub fn cpu_times() -> Vec<[u64; 8]> {
    let Ok(text) = fs::read_to_string("/proc/stat") else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let mut a = [0u64; 8];
            for (i, v) in l.split_whitespace().skip(1).take(8).enumerate() {
                a[i] = v.parse().unwrap_or(0);
            }
            a
        })
        .collect()
}

/// The first three fields of /proc/loadavg.
pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Puts task `tid` (0: the calling thread) in SCHED_FIFO at `prio`.
pub fn set_fifo(tid: i32, prio: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: prio,
    };
    // SAFETY: a valid sched_param.
    let rc = unsafe { libc::sched_setscheduler(tid, libc::SCHED_FIFO, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the nice value of task `tid` (SCHED_OTHER).
pub fn set_nice(tid: i32, nice: i32) -> io::Result<()> {
    // SAFETY: plain syscall; on Linux PRIO_PROCESS with a tid acts on that
    // thread only.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Puts the calling thread in SCHED_IDLE (runs only when nothing else
/// wants the CPU).
pub fn set_idle_class() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: a valid sched_param.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Where a result was measured: the date (UTC), the kernel release, the
/// CPU model and the number of CPUs.
pub struct Host {
    pub date: String,
    pub kernel: String,
    pub cpu_model: String,
    pub cpus: usize,
}

/// The running kernel's release (`uname -r`; empty if unreadable).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// This machine's [`Host`] now (empty strings where a source is unreadable).
pub fn host() -> Host {
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let kernel = kernel_release();
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_default();
    Host {
        date,
        kernel,
        cpu_model,
        cpus: cpu_times().len(),
    }
}
