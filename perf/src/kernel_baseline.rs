//! Which kernel srv6bench compares srv6d with: the Linux kernel's own
//! seg6 where the host has it, otherwise the host's plain IP forwarding of
//! the same customer packets. Decided by trying seg6 in a throwaway
//! namespace (never by configuration): the machine's kernel changes
//! without notice (6.18.44-fc-v782 had seg6, 6.18.44-fc-v1300 has not).
//!
//! Both are `srv6d run --dataplane kernel` configured over gRPC; only the
//! configuration differs. The forwarding baseline routes the customer
//! packets out toward the receiver unencapsulated: less work per packet
//! than H.Encaps (no header pushed, no larger frame), so it favours the
//! kernel, and it is named as such (`kernel-ipv6-fwd`) in every output.
//! It has no SRv6 at all, so End, End.DT4 and End.DT6 cannot run on it.
//!
//! Not here: the kernel SUT itself ([`crate::sut`]) and the scenarios'
//! configurations ([`crate::rfc2544`]).

use lab::{KernelFeature, Probe};

/// SUT name of the kernel's seg6.
pub const SEG6_NAME: &str = "kernel";
/// SUT name of the plain-forwarding baseline.
pub const FWD_NAME: &str = "kernel-ipv6-fwd";

/// The kernel baseline of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelBaseline {
    /// The kernel's seg6 (encap routes, seg6local SIDs).
    Seg6,
    /// No seg6 on this host: plain IP forwarding of the customer packets.
    /// `missing` is what the kernel answered to the seg6 route.
    Ipv6Fwd { missing: String },
}

impl KernelBaseline {
    /// Asks the lab's probe (an H.Encaps route in a throwaway namespace,
    /// [`lab::host_probe`]): [`KernelBaseline::Seg6`] if the kernel takes
    /// it. Needs root, as srv6bench does.
    pub fn probe() -> KernelBaseline {
        match lab::host_probe(KernelFeature::Seg6) {
            Probe::Present => KernelBaseline::Seg6,
            Probe::Missing(missing) => KernelBaseline::Ipv6Fwd { missing },
        }
    }

    /// The SUT's name in every table, plot, CSV and JSON.
    pub fn name(&self) -> &'static str {
        match self {
            KernelBaseline::Seg6 => SEG6_NAME,
            KernelBaseline::Ipv6Fwd { .. } => FWD_NAME,
        }
    }

    /// What the baseline is, and for the forwarding one why it is used.
    pub fn description(&self) -> String {
        match self {
            KernelBaseline::Seg6 => "the Linux kernel's seg6 (encap routes and seg6local SIDs), \
                programmed by `srv6d run --dataplane kernel` over gRPC"
                .to_string(),
            KernelBaseline::Ipv6Fwd { missing } => format!(
                "the Linux kernel's plain IP forwarding of the same customer packets toward the \
                 receiver, without SRv6 encapsulation, programmed by `srv6d run --dataplane \
                 kernel` over gRPC: this kernel has no seg6 (CONFIG_IPV6_SEG6_LWTUNNEL; an \
                 `encap seg6` route in a scratch namespace: {}). It does less work per packet \
                 than H.Encaps, so it is a baseline that favours the kernel; SRv6 behaviours \
                 (End, End.DT4, End.DT6) cannot run on it",
                missing.trim()
            ),
        }
    }

    /// True for the kernel's seg6.
    pub fn has_seg6(&self) -> bool {
        matches!(self, KernelBaseline::Seg6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_descriptions_say_which_baseline_and_why() {
        let fwd = KernelBaseline::Ipv6Fwd {
            missing: "RTNETLINK answers: lwt encapsulation type not supported\n".into(),
        };
        assert_eq!(fwd.name(), "kernel-ipv6-fwd");
        let d = fwd.description();
        for s in [
            "plain IP forwarding",
            "without SRv6 encapsulation",
            "CONFIG_IPV6_SEG6_LWTUNNEL",
            "lwt encapsulation type not supported)",
            "favours the kernel",
        ] {
            assert!(d.contains(s), "{s} not in {d}");
        }
        assert!(!fwd.has_seg6());
        assert_eq!(KernelBaseline::Seg6.name(), "kernel");
        assert!(KernelBaseline::Seg6.description().contains("seg6"));
    }
}
