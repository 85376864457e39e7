//! Prometheus metrics over HTTP: `GET /metrics` answers the counters and
//! the STAMP sessions' delay and loss in the Prometheus text exposition
//! format (version 0.0.4). Served by hyper (already in the dependency tree
//! through tonic) on its own address (`srv6d run --metrics ADDR`).

// tonic's handlers return `Result<_, tonic::Status>`; Status is large by
// tonic's design, not ours.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Response, StatusCode};

use super::grpc::{with_agent, SharedAgent};
use super::Agent;

/// Escapes a label value (backslash, double quote, newline).
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// The metrics text for the agent's current state.
pub fn render(agent: &mut Agent) -> String {
    let mut t = Text(String::new());
    t.family(
        "srv6d_up",
        "gauge",
        "1 while every part of the dataplane runs",
    );
    let healthy = agent.dataplane().health().is_ok();
    t.sample(
        "srv6d_up",
        &[("dataplane", agent.dataplane().name())],
        if healthy { 1.0 } else { 0.0 },
    );
    t.family(
        "srv6d_config_generation",
        "gauge",
        "Configuration changes applied since the state began",
    );
    t.sample("srv6d_config_generation", &[], agent.generation() as f64);

    let counters = super::grpc::counters_out(agent);
    t.family(
        "srv6d_rx_packets_total",
        "counter",
        "Frames the engine received",
    );
    t.sample("srv6d_rx_packets_total", &[], counters.rx as f64);
    t.family(
        "srv6d_tx_packets_total",
        "counter",
        "Frames the engine sent",
    );
    t.sample("srv6d_tx_packets_total", &[], counters.tx as f64);
    t.family("srv6d_drops_total", "counter", "Packets dropped, by reason");
    let mut drops: Vec<_> = counters.drops.iter().collect();
    drops.sort();
    for (reason, n) in drops {
        t.sample("srv6d_drops_total", &[("reason", reason)], *n as f64);
    }
    t.family(
        "srv6d_icmp_errors_total",
        "counter",
        "ICMP errors the engine sent, by kind, or owed and did not send, by reason",
    );
    let mut icmp: Vec<_> = counters.icmp.iter().collect();
    icmp.sort();
    for (name, n) in icmp {
        t.sample("srv6d_icmp_errors_total", &[("counter", name)], *n as f64);
    }
    t.family(
        "srv6d_tcp_mss_clamped_total",
        "counter",
        "TCP SYNs whose MSS option the engine lowered",
    );
    t.sample(
        "srv6d_tcp_mss_clamped_total",
        &[],
        counters.tcp_mss_clamped as f64,
    );
    t.family(
        "srv6d_behavior_packets_total",
        "counter",
        "Packets each SRv6 behaviour ran on",
    );
    let mut behaviors: Vec<_> = counters.behaviors.iter().collect();
    behaviors.sort();
    for (b, n) in behaviors {
        t.sample(
            "srv6d_behavior_packets_total",
            &[("behavior", b)],
            *n as f64,
        );
    }
    t.family(
        "srv6d_stamp_reflected_total",
        "counter",
        "STAMP test packets the inline reflector answered",
    );
    t.sample(
        "srv6d_stamp_reflected_total",
        &[],
        counters.stamp_reflected as f64,
    );
    for (name, help, pick) in [
        (
            "srv6d_port_rx_packets_total",
            "Packets the port's interface received (kernel counter)",
            0,
        ),
        (
            "srv6d_port_tx_packets_total",
            "Packets the port's interface sent (kernel counter)",
            1,
        ),
    ] {
        t.family(name, "counter", help);
        for p in &counters.ports {
            let v = if pick == 0 {
                p.rx_packets
            } else {
                p.tx_packets
            };
            t.sample(name, &[("port", &p.name)], v as f64);
        }
    }

    let reports = agent.stamp_reports(false);
    t.family(
        "srv6d_stamp_sent_total",
        "counter",
        "STAMP test packets a sender session sent",
    );
    for r in &reports {
        t.sample(
            "srv6d_stamp_sent_total",
            &[("session", &r.name)],
            r.report.summary.sent as f64,
        );
    }
    t.family(
        "srv6d_stamp_received_total",
        "counter",
        "Distinct STAMP replies a sender session received",
    );
    for r in &reports {
        t.sample(
            "srv6d_stamp_received_total",
            &[("session", &r.name)],
            r.report.summary.received as f64,
        );
    }
    t.family(
        "srv6d_stamp_lost_total",
        "counter",
        "STAMP test packets without a reply (in flight included)",
    );
    for r in &reports {
        t.sample(
            "srv6d_stamp_lost_total",
            &[("session", &r.name)],
            r.report.summary.lost as f64,
        );
    }
    t.family(
        "srv6d_stamp_loss_ratio",
        "gauge",
        "lost / sent of a sender session",
    );
    for r in &reports {
        t.sample(
            "srv6d_stamp_loss_ratio",
            &[("session", &r.name)],
            r.report.summary.loss_ratio,
        );
    }
    t.family(
        "srv6d_stamp_delay_seconds",
        "gauge",
        "STAMP delay quantiles by direction (round_trip, forward, backward, reflector)",
    );
    for r in &reports {
        let s = &r.report.summary;
        for (direction, d) in [
            ("round_trip", &s.round_trip),
            ("forward", &s.forward),
            ("backward", &s.backward),
            ("reflector", &s.reflector_residence),
        ] {
            for (q, v) in [("0.5", d.p50_ns), ("0.9", d.p90_ns), ("0.99", d.p99_ns)] {
                if let Some(ns) = v {
                    t.sample(
                        "srv6d_stamp_delay_seconds",
                        &[
                            ("session", &r.name),
                            ("direction", direction),
                            ("quantile", q),
                        ],
                        ns as f64 / 1e9,
                    );
                }
            }
        }
    }
    t.0
}

async fn handle(
    agent: SharedAgent,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r
    };
    if request.method() != Method::GET || request.uri().path() != "/metrics" {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            "srv6d serves GET /metrics only\n".to_string(),
        ));
    }
    match with_agent(&agent, render).await {
        Ok(text) => {
            let mut r = reply(StatusCode::OK, text);
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            Ok(r)
        }
        Err(e) => Ok(reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{}\n", e.message()),
        )),
    }
}

/// Serves `GET /metrics` on `addr` until the task is dropped.
pub async fn serve(agent: SharedAgent, listener: tokio::net::TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("metrics: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let agent = agent.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(agent.clone(), req));
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(%peer, "metrics connection: {e}");
            }
        });
    }
}

/// Binds the metrics listener (so a taken port fails at start-up).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let mut t = Text(String::new());
        t.sample("m", &[("k", "v\"")], 1.5);
        assert_eq!(t.0, "m{k=\"v\\\"\"} 1.5\n");
    }
}
