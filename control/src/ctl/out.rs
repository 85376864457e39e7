//! srv6ctl's output: aligned tables for people, JSON for scripts.
//!
//! The JSON is the API's message with the proto field names and enum values
//! written as in the configuration file (`"wan"`, `"end.dt6"`, `"encap"`),
//! so that `srv6ctl --json config show` reads like docs/config.md.

use serde_json::{json, Map, Value};

use crate::proto::srv6d::v1 as pb;

/// Aligned columns, two spaces apart, with a header line; no trailing
/// blanks.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            let pad = widths.get(i).copied().unwrap_or(0);
            for _ in cell.chars().count()..pad {
                text.push(' ');
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

fn num_or(n: u64, default: &str) -> String {
    if n == 0 {
        default.into()
    } else {
        n.to_string()
    }
}

/// Enum values as written in the file.
pub fn role(v: i32) -> &'static str {
    match pb::PortRole::try_from(v) {
        Ok(pb::PortRole::Wan) => "wan",
        Ok(pb::PortRole::Lan) => "lan",
        _ => "",
    }
}

pub fn xdp_mode(v: i32) -> &'static str {
    match pb::XdpMode::try_from(v) {
        Ok(pb::XdpMode::Driver) => "driver",
        Ok(pb::XdpMode::Generic) => "generic",
        _ => "auto",
    }
}

pub fn behavior(v: i32) -> &'static str {
    match pb::Behavior::try_from(v) {
        Ok(pb::Behavior::End) => "end",
        Ok(pb::Behavior::EndX) => "end.x",
        Ok(pb::Behavior::EndDt4) => "end.dt4",
        Ok(pb::Behavior::EndDt6) => "end.dt6",
        Ok(pb::Behavior::EndDt46) => "end.dt46",
        Ok(pb::Behavior::EndDx4) => "end.dx4",
        Ok(pb::Behavior::EndDx6) => "end.dx6",
        _ => "",
    }
}

pub fn policy_mode(v: i32) -> &'static str {
    match pb::PolicyMode::try_from(v) {
        Ok(pb::PolicyMode::Encap) => "encap",
        Ok(pb::PolicyMode::EncapRed) => "encap.red",
        _ => "",
    }
}

pub fn flow_label(v: i32) -> &'static str {
    match pb::FlowLabel::try_from(v) {
        Ok(pb::FlowLabel::Zero) => "zero",
        Ok(pb::FlowLabel::Hash) => "hash",
        _ => "copy",
    }
}

pub fn timestamp(v: i32) -> &'static str {
    match pb::TimestampFormat::try_from(v) {
        Ok(pb::TimestampFormat::Ptp) => "ptp",
        _ => "ntp",
    }
}

pub fn stamp_mode(v: i32) -> &'static str {
    match pb::StampReflectorMode::try_from(v) {
        Ok(pb::StampReflectorMode::Stateful) => "stateful",
        _ => "stateless",
    }
}

pub fn unknown_ssid(v: i32) -> &'static str {
    match pb::StampUnknownSsid::try_from(v) {
        Ok(pb::StampUnknownSsid::Drop) => "drop",
        _ => "reflect",
    }
}

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

pub fn port_json(p: &pb::Port) -> Value {
    json!({"name": p.name, "role": role(p.role), "vrf": p.vrf, "queues": p.queues,
           "xdp_mode": xdp_mode(p.xdp_mode)})
}

pub fn vrf_json(v: &pb::Vrf) -> Value {
    json!({"name": v.name, "id": v.id})
}

pub fn router_json(r: &pb::RouterSettings) -> Value {
    json!({"source": r.source, "addresses": r.addresses, "stamp_port": r.stamp_port,
           "stamp_mode": stamp_mode(r.stamp_mode),
           "stamp_unknown_ssid": unknown_ssid(r.stamp_unknown_ssid),
           "stamp_rate_limit": r.stamp_rate_limit,
           "stamp_timestamp_format": timestamp(r.stamp_timestamp_format),
           "tcp_mss_clamp": r.tcp_mss_clamp})
}

pub fn sid_json(s: &pb::Sid) -> Value {
    json!({"sid": s.sid, "behavior": behavior(s.behavior), "vrf": s.vrf, "port": s.port,
           "nexthop": s.nexthop})
}

pub fn policy_json(p: &pb::Policy) -> Value {
    json!({"name": p.name, "mode": policy_mode(p.mode), "segments": p.segments,
           "source": p.source, "flow_label": flow_label(p.flow_label),
           "ipv4_hop_limit": p.ipv4_hop_limit})
}

pub fn route_json(r: &pb::Route) -> Value {
    json!({"vrf": r.vrf, "prefix": r.prefix, "policy": r.policy, "nexthop": r.nexthop,
           "port": r.port, "local": r.local, "blackhole": r.blackhole})
}

pub fn stamp_sender_json(s: &pb::StampSender) -> Value {
    json!({"name": s.name, "ssid": s.ssid, "source": s.source, "segments": s.segments,
           "src_port": s.src_port, "dst_port": s.dst_port, "interval": s.interval,
           "count": s.count, "duration": s.duration, "key": s.key, "length": s.length,
           "timestamp_format": timestamp(s.timestamp_format), "dscp": s.dscp,
           "clocks_synchronized": s.clocks_synchronized, "stopped": s.stopped})
}

pub fn stamp_session_json(s: &pb::StampReflectorSession) -> Value {
    json!({"ssid": s.ssid, "key": s.key, "return_segments": s.return_segments,
           "stopped": s.stopped})
}

pub fn config_json(c: &pb::Config) -> Value {
    json!({
        "generation": c.generation,
        "router": c.router.as_ref().map(router_json),
        "ports": c.ports.iter().map(port_json).collect::<Vec<_>>(),
        "vrfs": c.vrfs.iter().map(vrf_json).collect::<Vec<_>>(),
        "sids": c.sids.iter().map(sid_json).collect::<Vec<_>>(),
        "policies": c.policies.iter().map(policy_json).collect::<Vec<_>>(),
        "routes": c.routes.iter().map(route_json).collect::<Vec<_>>(),
        "stamp_senders": c.stamp_senders.iter().map(stamp_sender_json).collect::<Vec<_>>(),
        "stamp_reflector_sessions":
            c.stamp_reflector_sessions.iter().map(stamp_session_json).collect::<Vec<_>>(),
        "toml": c.toml,
    })
}

fn map_json(m: &std::collections::HashMap<String, u64>) -> Value {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    Value::Object(
        keys.into_iter()
            .map(|k| (k.clone(), json!(m[k])))
            .collect::<Map<_, _>>(),
    )
}

fn delay_json(d: Option<&pb::DelayStats>) -> Value {
    match d {
        None => Value::Null,
        Some(d) => json!({"count": d.count, "min_ns": d.min_ns, "max_ns": d.max_ns,
            "mean_ns": finite(d.mean_ns), "stddev_ns": finite(d.stddev_ns), "p50_ns": d.p50_ns,
            "p90_ns": d.p90_ns, "p95_ns": d.p95_ns, "p99_ns": d.p99_ns, "p999_ns": d.p999_ns,
            "negative": d.negative}),
    }
}

/// JSON has no NaN or infinity: those become null.
fn finite(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

pub fn results_json(r: &pb::GetStampResultsResponse) -> Value {
    let sessions: Vec<Value> = r
        .sessions
        .iter()
        .map(|s| {
            json!({
                "name": s.name, "ssid": s.ssid, "segments": s.segments, "stopped": s.stopped,
                "finished": s.finished, "sent": s.sent, "received": s.received, "lost": s.lost,
                "loss_ratio": finite(s.loss_ratio), "duplicates": s.duplicates,
                "reordered": s.reordered, "late_replies": s.late_replies,
                "send_failed": s.send_failed, "schedule_late": s.schedule_late,
                "events_lost": s.events_lost, "reply_errors": map_json(&s.reply_errors),
                "one_way_valid": s.one_way_valid,
                "round_trip": delay_json(s.round_trip.as_ref()),
                "forward": delay_json(s.forward.as_ref()),
                "backward": delay_json(s.backward.as_ref()),
                "reflector_residence": delay_json(s.reflector_residence.as_ref()),
                "ipdv_mean_abs_ns": finite(s.ipdv_mean_abs_ns),
                "records": s.records.iter().map(|r| json!({"seq": r.seq, "t1_ns": r.t1_ns,
                    "t2_ns": r.t2_ns, "t3_ns": r.t3_ns, "t4_ns": r.t4_ns,
                    "sender_ttl": r.sender_ttl})).collect::<Vec<_>>(),
                "records_dropped": s.records_dropped,
            })
        })
        .collect();
    json!({ "sessions": sessions })
}

pub fn counters_json(c: &pb::GetCountersResponse) -> Value {
    json!({
        "rx": c.rx, "tx": c.tx, "total_drops": c.total_drops, "drops": map_json(&c.drops),
        "behaviors": map_json(&c.behaviors), "stamp_reflected": c.stamp_reflected,
        "stamp_sent": c.stamp_sent, "stamp_replies": c.stamp_replies,
        "icmp": map_json(&c.icmp), "tcp_mss_clamped": c.tcp_mss_clamped,
        "ports": c.ports.iter().map(|p| json!({"name": p.name, "rx_packets": p.rx_packets,
            "tx_packets": p.tx_packets, "rx_bytes": p.rx_bytes, "tx_bytes": p.tx_bytes}))
            .collect::<Vec<_>>(),
    })
}

pub fn health_status(v: i32) -> &'static str {
    match pb::get_health_response::Status::try_from(v) {
        Ok(pb::get_health_response::Status::Serving) => "serving",
        Ok(pb::get_health_response::Status::NotServing) => "not-serving",
        _ => "unknown",
    }
}

pub fn health_json(h: &pb::GetHealthResponse) -> Value {
    json!({"status": health_status(h.status), "detail": h.detail, "generation": h.generation,
           "uptime_seconds": h.uptime_seconds})
}

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

pub fn ports_table(ports: &[pb::Port]) -> String {
    let rows: Vec<Vec<String>> = ports
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                role(p.role).into(),
                or_dash(&p.vrf),
                num_or(u64::from(p.queues), "all"),
                xdp_mode(p.xdp_mode).into(),
            ]
        })
        .collect();
    table(&["NAME", "ROLE", "VRF", "QUEUES", "XDP"], &rows)
}

pub fn vrfs_table(vrfs: &[pb::Vrf]) -> String {
    let rows: Vec<Vec<String>> = vrfs
        .iter()
        .map(|v| vec![v.name.clone(), v.id.to_string()])
        .collect();
    table(&["NAME", "ID"], &rows)
}

pub fn router_text(r: &pb::RouterSettings) -> String {
    let rows = vec![
        vec!["source".into(), r.source.clone()],
        vec!["addresses".into(), or_dash(&r.addresses.join(","))],
        vec!["stamp-port".into(), num_or(u64::from(r.stamp_port), "862")],
        vec!["stamp-mode".into(), stamp_mode(r.stamp_mode).into()],
        vec![
            "stamp-timestamp".into(),
            timestamp(r.stamp_timestamp_format).into(),
        ],
        vec![
            "stamp-unknown-ssid".into(),
            unknown_ssid(r.stamp_unknown_ssid).into(),
        ],
        vec![
            "stamp-rate-limit".into(),
            num_or(
                u64::from(r.stamp_rate_limit),
                &format!(
                    "default ({}/s)",
                    stamp::reflector::DEFAULT_RATE_LIMIT.per_second
                ),
            ),
        ],
        vec!["tcp-mss-clamp".into(), or_dash(&r.tcp_mss_clamp)],
    ];
    table(&["SETTING", "VALUE"], &rows)
}

pub fn sids_table(sids: &[pb::Sid]) -> String {
    let rows: Vec<Vec<String>> = sids
        .iter()
        .map(|s| {
            vec![
                s.sid.clone(),
                behavior(s.behavior).into(),
                or_dash(&s.vrf),
                or_dash(&s.port),
                or_dash(&s.nexthop),
            ]
        })
        .collect();
    table(&["SID", "BEHAVIOR", "VRF", "PORT", "NEXTHOP"], &rows)
}

pub fn policies_table(policies: &[pb::Policy]) -> String {
    let rows: Vec<Vec<String>> = policies
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                policy_mode(p.mode).into(),
                p.segments.join(","),
                or_dash(&p.source),
                flow_label(p.flow_label).into(),
            ]
        })
        .collect();
    table(&["NAME", "MODE", "SEGMENTS", "SOURCE", "FLOW-LABEL"], &rows)
}

/// Where a route sends its packets, as `route add` words.
pub fn route_target(r: &pb::Route) -> String {
    if !r.policy.is_empty() {
        format!("policy {}", r.policy)
    } else if r.blackhole {
        "blackhole".into()
    } else if r.local {
        "local".into()
    } else if r.nexthop == "on-link" {
        format!("dev {}", r.port)
    } else {
        format!("via {} dev {}", r.nexthop, r.port)
    }
}

pub fn routes_table(routes: &[pb::Route], policies: &[pb::Policy]) -> String {
    let rows: Vec<Vec<String>> = routes
        .iter()
        .map(|r| {
            let segs = policies
                .iter()
                .find(|p| !r.policy.is_empty() && p.name == r.policy)
                .map(|p| format!("{} segs {}", policy_mode(p.mode), p.segments.join(",")))
                .unwrap_or_else(|| "-".into());
            vec![r.vrf.clone(), r.prefix.clone(), route_target(r), segs]
        })
        .collect();
    table(&["VRF", "PREFIX", "TARGET", "ENCAP"], &rows)
}

pub fn senders_table(senders: &[pb::StampSender]) -> String {
    let rows: Vec<Vec<String>> = senders
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.ssid.to_string(),
                s.source.clone(),
                s.segments.join(","),
                if s.interval.is_empty() {
                    "10ms".into()
                } else {
                    s.interval.clone()
                },
                num_or(s.count, "-"),
                or_dash(&s.duration),
                if s.stopped { "stopped" } else { "running" }.into(),
            ]
        })
        .collect();
    table(
        &[
            "NAME", "SSID", "SOURCE", "SEGMENTS", "INTERVAL", "COUNT", "DURATION", "STATE",
        ],
        &rows,
    )
}

pub fn sessions_table(sessions: &[pb::StampReflectorSession]) -> String {
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            vec![
                s.ssid.to_string(),
                or_dash(&s.key),
                or_dash(&s.return_segments.join(",")),
                if s.stopped { "stopped" } else { "active" }.into(),
            ]
        })
        .collect();
    table(&["SSID", "KEY", "RETURN-SEGMENTS", "STATE"], &rows)
}

fn us(ns: f64) -> String {
    format!("{:.1}", ns / 1000.0)
}

pub fn results_table(r: &pb::GetStampResultsResponse) -> String {
    let rows: Vec<Vec<String>> = r
        .sessions
        .iter()
        .map(|s| {
            let rt = s.round_trip.unwrap_or_default();
            let delay = |x: i64| {
                if rt.count == 0 {
                    "-".to_string()
                } else {
                    #[allow(clippy::cast_precision_loss)]
                    us(x as f64)
                }
            };
            let state = if s.finished {
                "finished"
            } else if s.stopped {
                "stopped"
            } else {
                "running"
            };
            vec![
                s.name.clone(),
                state.into(),
                s.sent.to_string(),
                s.received.to_string(),
                s.lost.to_string(),
                format!("{:.2}", s.loss_ratio * 100.0),
                delay(rt.min_ns),
                delay(rt.p50_ns),
                delay(rt.p99_ns),
                delay(rt.max_ns),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "STATE",
            "SENT",
            "RECEIVED",
            "LOST",
            "LOSS%",
            "RTT-MIN-US",
            "RTT-P50-US",
            "RTT-P99-US",
            "RTT-MAX-US",
        ],
        &rows,
    )
}

pub fn records_table(r: &pb::GetStampResultsResponse) -> String {
    let rows: Vec<Vec<String>> = r
        .sessions
        .iter()
        .flat_map(|s| {
            s.records.iter().map(move |x| {
                vec![
                    s.name.clone(),
                    x.seq.to_string(),
                    x.t1_ns.to_string(),
                    x.t2_ns.to_string(),
                    x.t3_ns.to_string(),
                    x.t4_ns.to_string(),
                    x.sender_ttl.to_string(),
                ]
            })
        })
        .collect();
    table(
        &["NAME", "SEQ", "T1-NS", "T2-NS", "T3-NS", "T4-NS", "TTL"],
        &rows,
    )
}

fn sorted_nonzero(m: &std::collections::HashMap<String, u64>, all: bool) -> Vec<Vec<String>> {
    let mut v: Vec<(&String, &u64)> = m.iter().filter(|(_, n)| all || **n != 0).collect();
    v.sort();
    v.into_iter()
        .map(|(k, n)| vec![k.clone(), n.to_string()])
        .collect()
}

pub fn counters_text(c: &pb::GetCountersResponse, all: bool) -> String {
    let mut out = table(
        &[
            "RX",
            "TX",
            "DROPS",
            "STAMP-REFLECTED",
            "STAMP-SENT",
            "STAMP-REPLIES",
        ],
        &[vec![
            c.rx.to_string(),
            c.tx.to_string(),
            c.total_drops.to_string(),
            c.stamp_reflected.to_string(),
            c.stamp_sent.to_string(),
            c.stamp_replies.to_string(),
        ]],
    );
    let behaviors = sorted_nonzero(&c.behaviors, all);
    if !behaviors.is_empty() {
        out.push('\n');
        out.push_str(&table(&["BEHAVIOR", "PACKETS"], &behaviors));
    }
    let drops = sorted_nonzero(&c.drops, all);
    if !drops.is_empty() {
        out.push('\n');
        out.push_str(&table(&["DROP-REASON", "PACKETS"], &drops));
    }
    let mut icmp = sorted_nonzero(&c.icmp, all);
    if all || c.tcp_mss_clamped != 0 {
        icmp.push(vec![
            "tcp_mss_clamped".into(),
            c.tcp_mss_clamped.to_string(),
        ]);
    }
    if !icmp.is_empty() {
        out.push('\n');
        out.push_str(&table(&["ICMP / MSS", "COUNT"], &icmp));
    }
    if !c.ports.is_empty() {
        let rows: Vec<Vec<String>> = c
            .ports
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.rx_packets.to_string(),
                    p.tx_packets.to_string(),
                    p.rx_bytes.to_string(),
                    p.tx_bytes.to_string(),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &["PORT", "RX-PACKETS", "TX-PACKETS", "RX-BYTES", "TX-BYTES"],
            &rows,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_trim() {
        let t = table(
            &["NAME", "ID"],
            &[
                vec!["blue".into(), "10".into()],
                vec!["a-long-name".into(), "7".into()],
            ],
        );
        assert_eq!(t, "NAME         ID\nblue         10\na-long-name  7\n");
    }

    #[test]
    fn json_uses_the_file_words() {
        let p = pb::Port {
            name: "wan0".into(),
            role: pb::PortRole::Wan as i32,
            ..Default::default()
        };
        assert_eq!(port_json(&p)["role"], "wan");
        assert_eq!(port_json(&p)["xdp_mode"], "auto");
        let s = pb::Sid {
            sid: "fc00::1".into(),
            behavior: pb::Behavior::EndDt6 as i32,
            ..Default::default()
        };
        assert_eq!(sid_json(&s)["behavior"], "end.dt6");
        assert_eq!(finite(f64::NAN), Value::Null);
    }
}
