//! srv6d.v1 messages ↔ the configuration document's entries. Field names
//! are the file's; an empty string or a zero means "not set". Only enum
//! values and required fields are checked here (`field` names them in
//! errors); everything else is the validator's job, so the API and the file
//! accept exactly the same configurations.

use crate::config::{
    BehaviorName, FlowLabel, PolicyEntry, PolicyMode, PortEntry, PortRole, RouteEntry, RouterEntry,
    SidEntry, StampMode, StampSenderEntry, StampSessionEntry, StampTimestampFormat,
    StampUnknownSsid, TcpMssClamp, VrfEntry, XdpMode,
};
use crate::proto::srv6d::v1 as pb;

use super::edit::ApiError;

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn opt_num(n: u32) -> Option<i64> {
    (n != 0).then_some(i64::from(n))
}

fn text(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

fn num(n: Option<i64>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

fn bad_enum(field: &str, value: i32, expected: &str) -> ApiError {
    ApiError::invalid(
        field,
        format!("{value} is not a known value; expected {expected}"),
    )
}

fn required(field: &str, expected: &str) -> ApiError {
    ApiError::invalid(field, format!("missing; expected {expected}"))
}

/// A required sub-message.
pub fn need<'a, T>(m: &'a Option<T>, field: &str) -> Result<&'a T, ApiError> {
    m.as_ref()
        .ok_or_else(|| required(field, "the object to apply"))
}

/// A proto port → `[[port]]`.
pub fn port_in(p: &pb::Port, field: &str) -> Result<PortEntry, ApiError> {
    let role = match pb::PortRole::try_from(p.role) {
        Ok(pb::PortRole::Wan) => PortRole::Wan,
        Ok(pb::PortRole::Lan) => PortRole::Lan,
        Ok(pb::PortRole::Unspecified) => {
            return Err(required(
                &format!("{field}.role"),
                "PORT_ROLE_WAN or PORT_ROLE_LAN",
            ))
        }
        Err(_) => {
            return Err(bad_enum(
                &format!("{field}.role"),
                p.role,
                "PORT_ROLE_WAN or PORT_ROLE_LAN",
            ))
        }
    };
    let xdp_mode = match pb::XdpMode::try_from(p.xdp_mode) {
        Ok(pb::XdpMode::Unspecified | pb::XdpMode::Auto) => XdpMode::Auto,
        Ok(pb::XdpMode::Driver) => XdpMode::Driver,
        Ok(pb::XdpMode::Generic) => XdpMode::Generic,
        Err(_) => {
            return Err(bad_enum(
                &format!("{field}.xdp_mode"),
                p.xdp_mode,
                "XDP_MODE_AUTO, XDP_MODE_DRIVER or XDP_MODE_GENERIC",
            ))
        }
    };
    Ok(PortEntry {
        name: p.name.clone(),
        role,
        vrf: opt(&p.vrf),
        queues: opt_num(p.queues),
        xdp_mode,
    })
}

/// `[[port]]` → proto.
pub fn port_out(p: &PortEntry) -> pb::Port {
    pb::Port {
        name: p.name.clone(),
        role: match p.role {
            PortRole::Wan => pb::PortRole::Wan,
            PortRole::Lan => pb::PortRole::Lan,
        } as i32,
        vrf: text(&p.vrf),
        queues: num(p.queues),
        xdp_mode: match p.xdp_mode {
            XdpMode::Auto => pb::XdpMode::Auto,
            XdpMode::Driver => pb::XdpMode::Driver,
            XdpMode::Generic => pb::XdpMode::Generic,
        } as i32,
    }
}

/// A proto VRF → `[[vrf]]`.
pub fn vrf_in(v: &pb::Vrf) -> VrfEntry {
    VrfEntry {
        name: v.name.clone(),
        id: i64::from(v.id),
    }
}

/// `[[vrf]]` → proto.
pub fn vrf_out(v: &VrfEntry) -> pb::Vrf {
    pb::Vrf {
        name: v.name.clone(),
        id: u32::try_from(v.id).unwrap_or(0),
    }
}

fn timestamp_in(value: i32, field: &str) -> Result<StampTimestampFormat, ApiError> {
    match pb::TimestampFormat::try_from(value) {
        Ok(pb::TimestampFormat::Unspecified | pb::TimestampFormat::Ntp) => {
            Ok(StampTimestampFormat::Ntp)
        }
        Ok(pb::TimestampFormat::Ptp) => Ok(StampTimestampFormat::Ptp),
        Err(_) => Err(bad_enum(
            field,
            value,
            "TIMESTAMP_FORMAT_NTP or TIMESTAMP_FORMAT_PTP",
        )),
    }
}

fn timestamp_out(f: StampTimestampFormat) -> i32 {
    match f {
        StampTimestampFormat::Ntp => pb::TimestampFormat::Ntp as i32,
        StampTimestampFormat::Ptp => pb::TimestampFormat::Ptp as i32,
    }
}

/// Proto router settings → `[router]`.
pub fn router_in(r: &pb::RouterSettings, field: &str) -> Result<RouterEntry, ApiError> {
    let stamp_mode = match pb::StampReflectorMode::try_from(r.stamp_mode) {
        Ok(pb::StampReflectorMode::Unspecified | pb::StampReflectorMode::Stateless) => {
            StampMode::Stateless
        }
        Ok(pb::StampReflectorMode::Stateful) => StampMode::Stateful,
        Err(_) => {
            return Err(bad_enum(
                &format!("{field}.stamp_mode"),
                r.stamp_mode,
                "STAMP_REFLECTOR_MODE_STATELESS or STAMP_REFLECTOR_MODE_STATEFUL",
            ))
        }
    };
    let stamp_unknown_ssid = match pb::StampUnknownSsid::try_from(r.stamp_unknown_ssid) {
        Ok(pb::StampUnknownSsid::Unspecified | pb::StampUnknownSsid::Reflect) => {
            StampUnknownSsid::Reflect
        }
        Ok(pb::StampUnknownSsid::Drop) => StampUnknownSsid::Drop,
        Err(_) => {
            return Err(bad_enum(
                &format!("{field}.stamp_unknown_ssid"),
                r.stamp_unknown_ssid,
                "STAMP_UNKNOWN_SSID_REFLECT or STAMP_UNKNOWN_SSID_DROP",
            ))
        }
    };
    Ok(RouterEntry {
        source: r.source.clone(),
        addresses: r.addresses.clone(),
        stamp_port: opt_num(r.stamp_port),
        stamp_mode,
        stamp_unknown_ssid,
        stamp_rate_limit: opt_num(r.stamp_rate_limit),
        stamp_timestamp_format: timestamp_in(
            r.stamp_timestamp_format,
            &format!("{field}.stamp_timestamp_format"),
        )?,
        tcp_mss_clamp: match r.tcp_mss_clamp.as_str() {
            "" => None,
            "auto" => Some(TcpMssClamp::Mode("auto".into())),
            s => match s.parse::<i64>() {
                Ok(n) => Some(TcpMssClamp::Mss(n)),
                Err(_) => {
                    return Err(ApiError::invalid(
                        format!("{field}.tcp_mss_clamp"),
                        format!("{s:?} is not \"auto\" or an MSS in octets (536 to 65535)"),
                    ))
                }
            },
        },
    })
}

/// `[router]` → proto.
pub fn router_out(r: &RouterEntry) -> pb::RouterSettings {
    pb::RouterSettings {
        source: r.source.clone(),
        addresses: r.addresses.clone(),
        stamp_port: num(r.stamp_port),
        stamp_mode: match r.stamp_mode {
            StampMode::Stateless => pb::StampReflectorMode::Stateless,
            StampMode::Stateful => pb::StampReflectorMode::Stateful,
        } as i32,
        stamp_unknown_ssid: match r.stamp_unknown_ssid {
            StampUnknownSsid::Reflect => pb::StampUnknownSsid::Reflect,
            StampUnknownSsid::Drop => pb::StampUnknownSsid::Drop,
        } as i32,
        stamp_rate_limit: num(r.stamp_rate_limit),
        stamp_timestamp_format: timestamp_out(r.stamp_timestamp_format),
        tcp_mss_clamp: match &r.tcp_mss_clamp {
            None => String::new(),
            Some(TcpMssClamp::Mss(n)) => n.to_string(),
            Some(TcpMssClamp::Mode(m)) => m.clone(),
        },
    }
}

const BEHAVIORS: &str = "BEHAVIOR_END, BEHAVIOR_END_X, BEHAVIOR_END_DT4, BEHAVIOR_END_DT6, \
                         BEHAVIOR_END_DT46, BEHAVIOR_END_DX4 or BEHAVIOR_END_DX6";

/// A proto SID → `[[sid]]`.
pub fn sid_in(s: &pb::Sid, field: &str) -> Result<SidEntry, ApiError> {
    let behavior = match pb::Behavior::try_from(s.behavior) {
        Ok(pb::Behavior::End) => BehaviorName::End,
        Ok(pb::Behavior::EndX) => BehaviorName::EndX,
        Ok(pb::Behavior::EndDt4) => BehaviorName::EndDT4,
        Ok(pb::Behavior::EndDt6) => BehaviorName::EndDT6,
        Ok(pb::Behavior::EndDt46) => BehaviorName::EndDT46,
        Ok(pb::Behavior::EndDx4) => BehaviorName::EndDX4,
        Ok(pb::Behavior::EndDx6) => BehaviorName::EndDX6,
        Ok(pb::Behavior::Unspecified) => {
            return Err(required(&format!("{field}.behavior"), BEHAVIORS))
        }
        Err(_) => {
            return Err(bad_enum(
                &format!("{field}.behavior"),
                s.behavior,
                BEHAVIORS,
            ))
        }
    };
    Ok(SidEntry {
        sid: s.sid.clone(),
        behavior,
        vrf: opt(&s.vrf),
        port: opt(&s.port),
        nexthop: opt(&s.nexthop),
    })
}

/// `[[sid]]` → proto.
pub fn sid_out(s: &SidEntry) -> pb::Sid {
    pb::Sid {
        sid: s.sid.clone(),
        behavior: match s.behavior {
            BehaviorName::End => pb::Behavior::End,
            BehaviorName::EndX => pb::Behavior::EndX,
            BehaviorName::EndDT4 => pb::Behavior::EndDt4,
            BehaviorName::EndDT6 => pb::Behavior::EndDt6,
            BehaviorName::EndDT46 => pb::Behavior::EndDt46,
            BehaviorName::EndDX4 => pb::Behavior::EndDx4,
            BehaviorName::EndDX6 => pb::Behavior::EndDx6,
        } as i32,
        vrf: text(&s.vrf),
        port: text(&s.port),
        nexthop: text(&s.nexthop),
    }
}

/// A proto policy → `[[policy]]`.
pub fn policy_in(p: &pb::Policy, field: &str) -> Result<PolicyEntry, ApiError> {
    let mode = match pb::PolicyMode::try_from(p.mode) {
        Ok(pb::PolicyMode::Encap) => PolicyMode::Encap,
        Ok(pb::PolicyMode::EncapRed) => PolicyMode::EncapRed,
        Ok(pb::PolicyMode::Unspecified) => {
            return Err(required(
                &format!("{field}.mode"),
                "POLICY_MODE_ENCAP or POLICY_MODE_ENCAP_RED",
            ))
        }
        Err(_) => {
            return Err(bad_enum(
                &format!("{field}.mode"),
                p.mode,
                "POLICY_MODE_ENCAP or POLICY_MODE_ENCAP_RED",
            ))
        }
    };
    let flow_label = match pb::FlowLabel::try_from(p.flow_label) {
        Ok(pb::FlowLabel::Unspecified | pb::FlowLabel::Copy) => FlowLabel::Copy,
        Ok(pb::FlowLabel::Zero) => FlowLabel::Zero,
        Ok(pb::FlowLabel::Hash) => FlowLabel::Hash,
        Err(_) => {
            return Err(bad_enum(
                &format!("{field}.flow_label"),
                p.flow_label,
                "FLOW_LABEL_COPY, FLOW_LABEL_ZERO or FLOW_LABEL_HASH",
            ))
        }
    };
    Ok(PolicyEntry {
        name: p.name.clone(),
        mode,
        segments: p.segments.clone(),
        source: opt(&p.source),
        flow_label,
        ipv4_hop_limit: opt_num(p.ipv4_hop_limit),
    })
}

/// `[[policy]]` → proto.
pub fn policy_out(p: &PolicyEntry) -> pb::Policy {
    pb::Policy {
        name: p.name.clone(),
        mode: match p.mode {
            PolicyMode::Encap => pb::PolicyMode::Encap,
            PolicyMode::EncapRed => pb::PolicyMode::EncapRed,
        } as i32,
        segments: p.segments.clone(),
        source: text(&p.source),
        flow_label: match p.flow_label {
            FlowLabel::Copy => pb::FlowLabel::Copy,
            FlowLabel::Zero => pb::FlowLabel::Zero,
            FlowLabel::Hash => pb::FlowLabel::Hash,
        } as i32,
        ipv4_hop_limit: num(p.ipv4_hop_limit),
    }
}

/// A proto route → `[[route]]`.
pub fn route_in(r: &pb::Route) -> RouteEntry {
    RouteEntry {
        vrf: r.vrf.clone(),
        prefix: r.prefix.clone(),
        policy: opt(&r.policy),
        nexthop: opt(&r.nexthop),
        port: opt(&r.port),
        local: r.local,
        blackhole: r.blackhole,
    }
}

/// `[[route]]` → proto.
pub fn route_out(r: &RouteEntry) -> pb::Route {
    pb::Route {
        vrf: r.vrf.clone(),
        prefix: r.prefix.clone(),
        policy: text(&r.policy),
        nexthop: text(&r.nexthop),
        port: text(&r.port),
        local: r.local,
        blackhole: r.blackhole,
    }
}

/// A proto sender session → `[[stamp_sender]]`.
pub fn stamp_sender_in(s: &pb::StampSender, field: &str) -> Result<StampSenderEntry, ApiError> {
    Ok(StampSenderEntry {
        name: s.name.clone(),
        ssid: i64::from(s.ssid),
        source: s.source.clone(),
        segments: s.segments.clone(),
        src_port: opt_num(s.src_port),
        dst_port: opt_num(s.dst_port),
        interval: opt(&s.interval),
        count: (s.count != 0)
            .then(|| i64::try_from(s.count))
            .transpose()
            .map_err(|_| {
                ApiError::invalid(
                    format!("{field}.count"),
                    "too large; expected at most 2^63-1",
                )
            })?,
        duration: opt(&s.duration),
        key: opt(&s.key),
        length: opt_num(s.length),
        timestamp_format: timestamp_in(s.timestamp_format, &format!("{field}.timestamp_format"))?,
        dscp: opt_num(s.dscp),
        clocks_synchronized: s.clocks_synchronized,
        stopped: s.stopped,
    })
}

/// `[[stamp_sender]]` → proto. The key is not returned (write-only):
/// `"(set)"` stands for it, and putting `"(set)"` back keeps it.
pub fn stamp_sender_out(s: &StampSenderEntry) -> pb::StampSender {
    pb::StampSender {
        name: s.name.clone(),
        ssid: u32::try_from(s.ssid).unwrap_or(0),
        source: s.source.clone(),
        segments: s.segments.clone(),
        src_port: num(s.src_port),
        dst_port: num(s.dst_port),
        interval: text(&s.interval),
        count: s.count.and_then(|c| u64::try_from(c).ok()).unwrap_or(0),
        duration: text(&s.duration),
        key: if s.key.is_some() {
            super::edit::SECRET_SET.into()
        } else {
            String::new()
        },
        length: num(s.length),
        timestamp_format: timestamp_out(s.timestamp_format),
        dscp: num(s.dscp),
        clocks_synchronized: s.clocks_synchronized,
        stopped: s.stopped,
    }
}

/// A proto reflector session → `[[stamp_session]]`.
pub fn stamp_session_in(s: &pb::StampReflectorSession) -> StampSessionEntry {
    StampSessionEntry {
        ssid: i64::from(s.ssid),
        key: opt(&s.key),
        return_segments: s.return_segments.clone(),
        return_destination: opt(&s.return_destination),
        stopped: s.stopped,
    }
}

/// `[[stamp_session]]` → proto. The key is not returned, as for senders.
pub fn stamp_session_out(s: &StampSessionEntry) -> pb::StampReflectorSession {
    pb::StampReflectorSession {
        ssid: u32::try_from(s.ssid).unwrap_or(0),
        key: if s.key.is_some() {
            super::edit::SECRET_SET.into()
        } else {
            String::new()
        },
        return_segments: s.return_segments.clone(),
        return_destination: s.return_destination.clone().unwrap_or_default(),
        stopped: s.stopped,
    }
}
