//! A [`SenderReport`] as a readable table or as JSON.

use std::fmt::Write as _;

use stamp::stats::DelaySummary;

use super::SenderReport;

fn us(ns: Option<i64>) -> String {
    ns.map_or_else(|| "-".to_string(), |v| format!("{:.1}", v as f64 / 1e3))
}

fn us_f(ns: Option<f64>) -> String {
    ns.map_or_else(|| "-".to_string(), |v| format!("{:.1}", v / 1e3))
}

fn delay_row(out: &mut String, name: &str, d: &DelaySummary) {
    let _ = writeln!(
        out,
        "{name:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        us(d.min_ns),
        us_f(d.mean_ns),
        us(d.p50_ns),
        us(d.p90_ns),
        us(d.p99_ns),
        us(d.max_ns),
        us_f(d.stddev_ns),
    );
}

/// The readable summary: counters, then delays in microseconds.
pub fn table(report: &SenderReport) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sent {}  received {}  lost {} ({:.2} %)  duplicates {}  reordered {}  late {}  unexpected {}",
        s.sent,
        s.received,
        s.lost,
        s.loss_ratio * 100.0,
        s.duplicates,
        s.reordered,
        s.late,
        s.unexpected
    );
    let _ = writeln!(
        out,
        "\n{:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "delay (µs)", "min", "mean", "p50", "p90", "p99", "max", "stddev"
    );
    delay_row(&mut out, "round trip", &s.round_trip);
    delay_row(&mut out, "reflector (T3-T2)", &s.reflector_residence);
    delay_row(&mut out, "forward (T2-T1)", &s.forward);
    delay_row(&mut out, "backward (T4-T3)", &s.backward);
    delay_row(&mut out, "|IPDV| (round trip)", &s.ipdv.abs);
    if !s.one_way_valid {
        let _ = writeln!(
            out,
            "forward and backward: valid only with synchronised clocks (not declared: \
             --clocks-synchronized); they include the clock offset"
        );
    }
    let _ = writeln!(
        out,
        "jitter (RFC 3550, round trip) {:.1} µs over {} pairs",
        s.ipdv.jitter_ns / 1e3,
        s.ipdv.pairs
    );
    if !report.reply_errors.is_empty() {
        let list: Vec<String> = report
            .reply_errors
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "not counted: {}", list.join(" "));
    }
    if report.records_dropped > 0 {
        let _ = writeln!(
            out,
            "records: {} kept, {} not kept (limit reached; the figures above include them)",
            report.records.len(),
            report.records_dropped
        );
    }
    out
}

fn opt_i(v: Option<i64>) -> String {
    v.map_or_else(|| "null".to_string(), |v| v.to_string())
}

fn opt_f(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.1}"),
        _ => "null".to_string(),
    }
}

fn delay_json(d: &DelaySummary) -> String {
    format!(
        "{{\"count\":{},\"negative\":{},\"min\":{},\"mean\":{},\"stddev\":{},\"p50\":{},\
         \"p90\":{},\"p95\":{},\"p99\":{},\"p999\":{},\"max\":{}}}",
        d.count,
        d.negative,
        opt_i(d.min_ns),
        opt_f(d.mean_ns),
        opt_f(d.stddev_ns),
        opt_i(d.p50_ns),
        opt_i(d.p90_ns),
        opt_i(d.p95_ns),
        opt_i(d.p99_ns),
        opt_i(d.p999_ns),
        opt_i(d.max_ns),
    )
}

/// One JSON object (one line): counters, then every delay distribution in
/// nanoseconds (`null` where there is no sample), then the errors.
pub fn json(report: &SenderReport) -> String {
    let s = &report.summary;
    let errors: Vec<String> = report
        .reply_errors
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    format!(
        "{{\"sent\":{},\"received\":{},\"lost\":{},\"loss_ratio\":{},\"duplicates\":{},\
         \"reordered\":{},\"late\":{},\"unexpected\":{},\"clocks_synchronized\":{},\
         \"one_way_valid\":{},\"units\":\"ns\",\"round_trip\":{},\"reflector_residence\":{},\
         \"forward\":{},\"backward\":{},\"ipdv\":{{\"pairs\":{},\"mean\":{},\"jitter\":{:.1},\
         \"abs\":{}}},\"reply_errors\":{{{}}},\"records_kept\":{},\"records_dropped\":{}}}",
        s.sent,
        s.received,
        s.lost,
        s.loss_ratio,
        s.duplicates,
        s.reordered,
        s.late,
        s.unexpected,
        s.clocks_synchronized,
        s.one_way_valid,
        delay_json(&s.round_trip),
        delay_json(&s.reflector_residence),
        delay_json(&s.forward),
        delay_json(&s.backward),
        s.ipdv.pairs,
        opt_f(s.ipdv.mean_ns),
        s.ipdv.jitter_ns,
        delay_json(&s.ipdv.abs),
        errors.join(","),
        report.records.len(),
        report.records_dropped,
    )
}
