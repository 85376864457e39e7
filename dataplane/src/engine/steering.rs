//! [`RedirectSteering`]: the engine's XDP steering with `ebpf-redirect`.

use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, PoisonError};

use ebpf_redirect::{AttachMode, RedirectProgram};

use crate::fib::{Fib, PortId};

use super::{PortRole, PortSpec, XdpSteering};

/// Steers with `ebpf-redirect`'s program: **one loaded program per port**,
/// because its `xsks` map is keyed by rx queue only and the kernel refuses
/// (`xsk_rcv_check`) a frame redirected to a socket bound to another
/// interface, so queue 0 of two ports cannot share one map. Every program
/// gets the same SIDs, local and host addresses.
///
/// SIDs and addresses are given before [`super::Engine::start`]; a
/// [`SteeringHandle`] (from [`RedirectSteering::handle`], taken before the
/// engine owns the steering) changes them in every port's program while the
/// engine runs, e.g. on a configuration reload.
#[derive(Debug, Default)]
pub struct RedirectSteering {
    sid_prefixes: Vec<(Ipv6Addr, u8)>,
    local_v6: Vec<Ipv6Addr>,
    host_addrs: Vec<IpAddr>,
    programs: Programs,
}

/// The loaded programs, shared by the steering (owned by the engine) and its
/// handles. Control plane only: the data path never touches them.
type Programs = Arc<Mutex<Vec<(PortId, RedirectProgram, AttachMode)>>>;

/// Changes the engine-owned addresses of every attached program at run time.
#[derive(Debug, Clone)]
pub struct SteeringHandle {
    programs: Programs,
}

impl SteeringHandle {
    fn each(
        &self,
        mut f: impl FnMut(&mut RedirectProgram) -> Result<(), ebpf_redirect::Error>,
    ) -> Result<(), String> {
        let mut programs = self.programs.lock().unwrap_or_else(PoisonError::into_inner);
        for (port, prog, _) in programs.iter_mut() {
            f(prog).map_err(|e| format!("port {}: {e}", port.0))?;
        }
        Ok(())
    }

    /// Steers `prefix/len` (a /128: one address) to the engine on every port.
    pub fn add_owned(&self, prefix: Ipv6Addr, len: u8) -> Result<(), String> {
        if len == 128 {
            self.each(|p| p.add_local_v6(prefix))
        } else {
            self.each(|p| p.add_sid_prefix(prefix, len))
        }
        .map_err(|e| format!("steer {prefix}/{len} to the engine: {e}"))
    }

    /// Stops steering `prefix/len` to the engine.
    pub fn remove_owned(&self, prefix: Ipv6Addr, len: u8) -> Result<(), String> {
        if len == 128 {
            self.each(|p| p.remove_local_v6(prefix))
        } else {
            self.each(|p| p.remove_sid_prefix(prefix, len))
        }
        .map_err(|e| format!("stop steering {prefix}/{len}: {e}"))
    }
}

impl RedirectSteering {
    /// No SIDs, no addresses.
    pub fn new() -> RedirectSteering {
        RedirectSteering::default()
    }

    /// Every local SID (as a /128) and SID prefix of `fib`.
    pub fn from_fib(fib: &Fib) -> RedirectSteering {
        let mut s = RedirectSteering::new();
        for (sid, _) in fib.local_sids().sids() {
            s.local_v6.push(sid);
        }
        for (prefix, len, _) in fib.local_sids().prefixes().iter() {
            s.sid_prefixes.push((prefix, len));
        }
        s
    }

    /// Frames to addresses inside `prefix/len` go to the engine.
    pub fn sid_prefix(mut self, prefix: Ipv6Addr, len: u8) -> RedirectSteering {
        self.sid_prefixes.push((prefix, len));
        self
    }

    /// Frames to `addr` go to the engine.
    pub fn local_v6(mut self, addr: Ipv6Addr) -> RedirectSteering {
        self.local_v6.push(addr);
        self
    }

    /// Frames to `addr` (the router's own, e.g. for SSH) go to the kernel.
    pub fn host_addr(mut self, addr: IpAddr) -> RedirectSteering {
        self.host_addrs.push(addr);
        self
    }

    /// (port, attach mode) of every attached program.
    pub fn attachments(&self) -> Vec<(PortId, AttachMode)> {
        let programs = self.programs.lock().unwrap_or_else(PoisonError::into_inner);
        programs.iter().map(|(p, _, m)| (*p, *m)).collect()
    }

    /// A handle that changes the programs' engine-owned addresses later.
    pub fn handle(&self) -> SteeringHandle {
        SteeringHandle {
            programs: self.programs.clone(),
        }
    }

    fn load(&self, port: &PortSpec, ifindex: u32) -> Result<(RedirectProgram, AttachMode), String> {
        let mut prog = RedirectProgram::load().map_err(|e| e.to_string())?;
        let role = match port.role {
            PortRole::Wan => ebpf_redirect::PortRole::Wan,
            PortRole::Lan => ebpf_redirect::PortRole::Lan,
        };
        prog.set_port(ifindex, role, port.vrf)
            .map_err(|e| e.to_string())?;
        for &(p, l) in &self.sid_prefixes {
            prog.add_sid_prefix(p, l).map_err(|e| e.to_string())?;
        }
        for &a in &self.local_v6 {
            prog.add_local_v6(a).map_err(|e| e.to_string())?;
        }
        for &a in &self.host_addrs {
            prog.add_host_addr(a).map_err(|e| e.to_string())?;
        }
        let mode = prog.attach(&port.ifname).map_err(|e| e.to_string())?;
        Ok((prog, mode))
    }
}

impl XdpSteering for RedirectSteering {
    fn attach(&mut self, port: &PortSpec, ifindex: u32) -> Result<(), String> {
        let (prog, mode) = self.load(port, ifindex)?;
        self.programs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((port.id, prog, mode));
        Ok(())
    }

    fn register(&mut self, port: &PortSpec, queue: u32, fd: RawFd) -> Result<(), String> {
        let mut programs = self.programs.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((_, prog, _)) = programs.iter_mut().find(|(p, _, _)| *p == port.id) else {
            return Err("no XDP program attached to this port".into());
        };
        prog.register_xsk(queue, fd).map_err(|e| e.to_string())
    }

    fn detach(&mut self) {
        let mut programs = self.programs.lock().unwrap_or_else(PoisonError::into_inner);
        for (port, mut prog, _) in programs.drain(..) {
            if let Err(e) = prog.detach_all() {
                eprintln!("engine: port {}: detach XDP program: {e}", port.0);
            }
        }
    }
}
