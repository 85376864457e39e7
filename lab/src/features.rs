//! What the running kernel offers, found by trying it in a scratch
//! namespace (never by configuration, never by reading a config file
//! alone: a module may be missing even where the option is set).
//!
//! The host kernel of this project's test machine changes without notice
//! (docs/testbed.md): seg6 was there in November and gone in December. A
//! topology names what its namespaces need; [`Topology::build`] places a
//! namespace whose needs the host cannot meet into the lab's Linux VM
//! ([`crate::vm`]), which has them all.
//!
//! [`Topology::build`]: crate::Topology::build

use std::fmt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// A kernel feature a namespace of a topology may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KernelFeature {
    /// SRv6 lightweight tunnels: `encap seg6` routes (H.Encaps,
    /// H.Encaps.Red, inline), `encap seg6local` SIDs and `ip sr tunsrc`
    /// (`CONFIG_IPV6_SEG6_LWTUNNEL`).
    Seg6,
    /// VRF devices (`ip link add NAME type vrf table N`, `CONFIG_NET_VRF`),
    /// which the kernel's End.DT4 and End.DT46 need.
    Vrf,
}

impl KernelFeature {
    /// Every feature, in a fixed order.
    pub const ALL: [KernelFeature; 2] = [KernelFeature::Seg6, KernelFeature::Vrf];

    /// The kernel configuration option behind it, for error messages.
    pub fn config_option(self) -> &'static str {
        match self {
            KernelFeature::Seg6 => "CONFIG_IPV6_SEG6_LWTUNNEL",
            KernelFeature::Vrf => "CONFIG_NET_VRF",
        }
    }

    /// The `ip` arguments (after `ip -n NS`) that succeed only with it.
    fn probe_args(self) -> &'static [&'static str] {
        match self {
            KernelFeature::Seg6 => &[
                "-6",
                "route",
                "add",
                "fc00:5e6::/64",
                "encap",
                "seg6",
                "mode",
                "encap",
                "segs",
                "fc00:5e6::1",
                "dev",
                "lo",
            ],
            KernelFeature::Vrf => &["link", "add", "s6probe", "type", "vrf", "table", "10"],
        }
    }
}

impl fmt::Display for KernelFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            KernelFeature::Seg6 => "seg6 (SRv6 encap routes and seg6local SIDs)",
            KernelFeature::Vrf => "VRF devices",
        };
        write!(f, "{name}, {}", self.config_option())
    }
}

/// What probing one feature found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The kernel did it.
    Present,
    /// The kernel refused; the text is `ip`'s error.
    Missing(String),
}

impl Probe {
    /// True for [`Probe::Present`].
    pub fn is_present(&self) -> bool {
        matches!(self, Probe::Present)
    }
}

static PROBES: OnceLock<Vec<(KernelFeature, Probe)>> = OnceLock::new();
static SCRATCH: AtomicU64 = AtomicU64::new(0);

/// Whether the running kernel has `feature`, probed once per process in a
/// throwaway namespace (needs root; without root every probe says
/// missing, with the reason).
pub fn host_probe(feature: KernelFeature) -> Probe {
    let probes = PROBES.get_or_init(probe_all);
    probes
        .iter()
        .find(|(f, _)| *f == feature)
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| Probe::Missing("not probed".into()))
}

/// Shorthand for `host_probe(feature).is_present()`.
pub fn host_has(feature: KernelFeature) -> bool {
    host_probe(feature).is_present()
}

fn probe_all() -> Vec<(KernelFeature, Probe)> {
    // Named like a lab's namespaces, so that a killed prober's is swept,
    // and created under the lab's lock (first uses race otherwise).
    crate::sys::sweep_leftovers("s6probe");
    let name = format!(
        "s6probe-{}-{}-probe",
        std::process::id(),
        SCRATCH.fetch_add(1, Ordering::Relaxed)
    );
    if let Err(e) = crate::sys::create_netns(&name) {
        return KernelFeature::ALL
            .iter()
            .map(|f| {
                (
                    *f,
                    Probe::Missing(format!("cannot create a probe namespace: {e}")),
                )
            })
            .collect();
    }
    // A route needs its device up, or the kernel refuses it for that.
    let _ = ip(&["-n", &name, "link", "set", "dev", "lo", "up"]);
    let result = KernelFeature::ALL
        .iter()
        .map(|f| {
            let mut args = vec!["-n", name.as_str()];
            args.extend_from_slice(f.probe_args());
            let probe = match ip(&args) {
                Ok(()) => Probe::Present,
                Err(e) => Probe::Missing(e),
            };
            (*f, probe)
        })
        .collect();
    let _ = crate::sys::delete_netns(&name);
    result
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}
