//! The readable summary of a loaded configuration that `srv6d check`
//! prints.

use std::fmt;

use dataplane::behavior::{EncapMode, FlowLabelMode, SidBehavior};
use dataplane::fib::{Adjacency, NextHop, RouteAction};

use super::{LoadedConfig, Owner};

/// `"NTP"` or `"PTP"`.
fn format_name(f: stamp::time::TimestampFormat) -> &'static str {
    match f {
        stamp::time::TimestampFormat::Ntp => "NTP",
        stamp::time::TimestampFormat::Ptp => "PTP",
    }
}

pub(crate) struct Summary<'a>(pub &'a LoadedConfig);

impl Summary<'_> {
    fn vrf(&self, id: u32) -> String {
        match self.0.vrf_name(id) {
            Some(name) => name.to_string(),
            None => format!("vrf#{id}"),
        }
    }

    fn adjacency(&self, adj: &Adjacency) -> String {
        let port = self
            .0
            .ports
            .get(usize::from(adj.port.0))
            .map_or_else(|| format!("port#{}", adj.port.0), |p| p.name.clone());
        match adj.next_hop {
            NextHop::V4(a) => format!("via {a} dev {port}"),
            NextHop::V6(a) => format!("via {a} dev {port}"),
            NextHop::Direct => format!("on-link dev {port}"),
        }
    }

    fn behavior(&self, b: &SidBehavior) -> String {
        match b {
            SidBehavior::End => "End".into(),
            SidBehavior::EndX(adj) => format!("End.X {}", self.adjacency(adj)),
            SidBehavior::EndDT4 { vrf } => format!("End.DT4 vrf {}", self.vrf(*vrf)),
            SidBehavior::EndDT6 { vrf } => format!("End.DT6 vrf {}", self.vrf(*vrf)),
            SidBehavior::EndDT46 { vrf } => format!("End.DT46 vrf {}", self.vrf(*vrf)),
            SidBehavior::EndDX4(adj) => format!("End.DX4 {}", self.adjacency(adj)),
            SidBehavior::EndDX6(adj) => format!("End.DX6 {}", self.adjacency(adj)),
        }
    }

    fn action(&self, a: &RouteAction) -> String {
        match a {
            RouteAction::Forward(adj) => self.adjacency(adj),
            RouteAction::Encap(id) => match self.0.policies.get(id.0 as usize) {
                Some(p) => format!("encap policy {}", p.name),
                None => format!("encap policy #{}", id.0),
            },
            RouteAction::Local => "local".into(),
            RouteAction::Blackhole => "blackhole".into(),
        }
    }
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        writeln!(f, "{}: configuration is valid", c.file)?;

        writeln!(f, "\nports ({}):", c.ports.len())?;
        for p in &c.ports {
            let queues = p
                .queues
                .map_or_else(|| "all".to_string(), |q| q.to_string());
            writeln!(
                f,
                "  {:<3} {:<16} {}  vrf {:<12} queues {:<4} xdp {}",
                p.id.0,
                p.name,
                p.role.as_str(),
                self.vrf(p.vrf),
                queues,
                p.xdp_mode.as_str()
            )?;
        }

        writeln!(f, "\nVRFs ({} + underlay):", c.vrfs.len())?;
        writeln!(f, "  {:<16} id 0", "underlay")?;
        for (name, id) in &c.vrfs {
            writeln!(f, "  {name:<16} id {id}")?;
        }

        writeln!(f, "\nrouter:")?;
        writeln!(f, "  encapsulation source  {}", c.source)?;
        writeln!(f, "  STAMP port            {}", c.stamp_port)?;
        if let Some(r) = c.fib.stamp_reflector() {
            let cfg = &r.config;
            writeln!(
                f,
                "  STAMP reflector       {:?}, {} timestamps, unknown SSIDs: {:?}, rate limit: {}",
                cfg.mode(),
                format_name(cfg.timestamp_format()),
                cfg.unknown_ssid(),
                cfg.rate_limit().map_or("none".to_string(), |l| format!(
                    "{}/s per source",
                    l.per_second
                ))
            )?;
            for session in cfg.sessions() {
                let path: Vec<String> = session
                    .return_segments
                    .iter()
                    .map(|a| a.to_string())
                    .collect();
                writeln!(
                    f,
                    "  STAMP session         SSID {} {:?}, replies {}",
                    session.ssid,
                    session.mode,
                    if path.is_empty() {
                        "straight back".to_string()
                    } else {
                        format!("via {}", path.join(", "))
                    }
                )?;
            }
        }

        if !c.stamp_senders.is_empty() {
            writeln!(f, "\nSTAMP senders ({}):", c.stamp_senders.len())?;
        }
        for t in &c.stamp_senders {
            let (via, reflector) = t.segments.split_at(t.segments.len().saturating_sub(1));
            let mut path: Vec<String> = via.iter().map(|a| a.to_string()).collect();
            if let Some(r) = reflector.first() {
                path.push(format!("[{r}]:{}", t.dst_port));
            }
            writeln!(
                f,
                "  {:<16} SSID {:<5} [{}]:{} -> {}{}",
                t.name,
                t.ssid,
                t.source,
                t.src_port,
                path.join(", "),
                if t.stopped { " (stopped)" } else { "" }
            )?;
            let count = match (t.count, t.duration) {
                (None, None) => "until stopped".to_string(),
                (Some(n), None) => format!("{n} packets"),
                (None, Some(d)) => format!("for {d:?}"),
                (Some(n), Some(d)) => format!("{n} packets or {d:?}, whichever ends first"),
            };
            let mode = if t.key.is_some() {
                "authenticated"
            } else {
                "unauthenticated"
            };
            let clocks = if t.clocks_synchronized {
                "clocks synchronised"
            } else {
                "clocks not synchronised"
            };
            writeln!(
                f,
                "      every {:?}, {count}, {mode}, {} timestamps, {} octets, DSCP {}, {clocks}",
                t.interval,
                format_name(t.timestamp_format),
                t.length,
                t.dscp
            )?;
        }

        writeln!(f, "\nSIDs ({}):", c.sids.len())?;
        for s in &c.sids {
            let sid = if s.len == 128 {
                s.sid.to_string()
            } else {
                format!("{}/{}", s.sid, s.len)
            };
            writeln!(f, "  {sid:<28} {}", self.behavior(&s.behavior))?;
        }

        writeln!(f, "\npolicies ({}):", c.policies.len())?;
        for p in &c.policies {
            let pol = &p.policy;
            let mode = match pol.mode() {
                EncapMode::Encaps => "H.Encaps",
                EncapMode::EncapsRed => "H.Encaps.Red",
            };
            let segments: Vec<String> = pol.segments().iter().map(|s| s.to_string()).collect();
            let egress = match c.fib.policy_with_egress(p.id) {
                Some((_, Some(adj))) => format!("  first hop {}", self.adjacency(&adj)),
                _ => String::new(),
            };
            let flow = match p.flow_label {
                FlowLabelMode::CopyInner => "copy",
                FlowLabelMode::Zero => "zero",
                FlowLabelMode::Hash => "hash",
            };
            writeln!(
                f,
                "  {:<3} {:<16} {:<12} segments [{}]",
                p.id.0,
                p.name,
                mode,
                segments.join(", ")
            )?;
            writeln!(
                f,
                "      source {}  flow label {flow}  IPv4 hop limit {}{egress}",
                pol.source(),
                p.ipv4_hop_limit
            )?;
        }

        writeln!(f, "\nroutes ({}):", c.routes.len())?;
        for r in &c.routes {
            let prefix = format!("{}/{}", r.prefix, r.len);
            writeln!(
                f,
                "  {:<12} {prefix:<28} {}",
                self.vrf(r.vrf),
                self.action(&r.action)
            )?;
        }

        writeln!(
            f,
            "\nsteered to the engine on WAN ports ({}):",
            c.owned_addresses.len()
        )?;
        for o in &c.owned_addresses {
            let why = match o.owner {
                Owner::Sid => "SID",
                Owner::SidPrefix => "SID prefix",
                Owner::RouterAddress => "router address",
            };
            let prefix = format!("{}/{}", o.prefix, o.len);
            writeln!(f, "  {prefix:<28} {why}")?;
        }
        writeln!(f, "  UDP port {:<19} STAMP", c.stamp_port)?;

        if !c.warnings.is_empty() {
            writeln!(f, "\nwarnings ({}):", c.warnings.len())?;
            for w in &c.warnings {
                writeln!(f, "  {w}")?;
            }
        }
        Ok(())
    }
}
