//! The reports of an RFC 2544 run ([`Report`]): the whole run as JSON, one
//! CSV row per cell (and one per trial in a second file), two plots (SVG and
//! PNG) and the Markdown summary table for the terminal and
//! docs/BENCHMARKS.md.
//!
//! Rates in the model are frames per second; the plots and the table show
//! Mpps. The PNGs are the SVGs rendered with resvg, whose text needs a font
//! on the machine (Debian: fonts-dejavu-core, which scripts/deps.sh installs).

use std::fs;
use std::path::{Path, PathBuf};

use plotters::element::{EmptyElement, PathElement};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::{json, Map, Value};

use crate::model::{Cell, Latency, Report, RunInfo, Stat, Status, Trial};

/// The STAMP fractions (percent) the STAMP plot always shows on its x axis.
const STAMP_FRACTIONS: [f64; 10] = [0.0, 0.01, 0.05, 0.1, 1.0, 5.0, 10.0, 20.0, 50.0, 100.0];

/// The Debian package that gives the PNG plots a font.
const FONT_PACKAGE: &str = "fonts-dejavu-core";

/// The kernel SUT's name in `info` ("kernel" when the report does not say).
fn kernel_sut(info: &RunInfo) -> &str {
    if info.kernel_sut.is_empty() {
        "kernel"
    } else {
        &info.kernel_sut
    }
}

/// How the generator is named in titles and notes: "live generator", or
/// "packet generator (live refused)" after a fallback.
fn generator_label(info: &RunInfo) -> String {
    let g = if info.generator.is_empty() {
        "packet"
    } else {
        info.generator.as_str()
    };
    if info.generator_fallback.is_some() {
        format!(
            "{g} generator (fallback: {} refused)",
            info.generator_requested
        )
    } else {
        format!("{g} generator")
    }
}

/// SUTs that are ceilings (reference lines), not systems under test.
fn is_ceiling(sut: &str) -> bool {
    sut == "l2fwd" || sut == "generator"
}

fn ceiling_label(sut: &str) -> &'static str {
    if sut == "l2fwd" {
        "AF_XDP l2fwd ceiling"
    } else {
        "generator ceiling"
    }
}

fn mpps(pps: f64) -> f64 {
    pps / 1e6
}

/// `x` to 3 significant digits ("2.00", "0.500", "12.3", "1234"); "n/a"
/// when not finite.
fn sig3(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".to_string();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let decimals = (2 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.decimals$}")
}

fn status_parts(s: &Status) -> (&'static str, Option<&str>) {
    match s {
        Status::Measured => ("measured", None),
        Status::NotApplicable(r) => ("n/a", Some(r)),
        Status::Failed(r) => ("failed", Some(r)),
    }
}

fn latency_at(c: &Cell, pct: f64) -> Option<&Latency> {
    c.latency.iter().find(|l| (l.pct_of_pdr - pct).abs() < 0.5)
}

// ---------------------------------------------------------------- JSON

/// A JSON number, or null for NaN and infinities (JSON has neither).
fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn stat_json(s: &Stat) -> Value {
    json!({
        "mean": num(s.mean),
        "ci95": num(s.ci95),
        "samples": s.samples.iter().map(|&x| num(x)).collect::<Vec<_>>(),
    })
}

fn latency_json(l: &Latency) -> Value {
    json!({
        "pct_of_pdr": num(l.pct_of_pdr),
        "offered_pps": num(l.offered_pps),
        "probes": l.probes,
        "p50_us": num(l.p50_us),
        "p90_us": num(l.p90_us),
        "p99_us": num(l.p99_us),
        "max_us": num(l.max_us),
    })
}

fn trial_json(t: &Trial) -> Value {
    json!({
        "repetition": t.repetition,
        "kind": t.kind.name(),
        "target_pps": num(t.target_pps),
        "offered": t.offered,
        "offered_pps": num(t.offered_pps),
        "delivered": t.delivered,
        "loss_ratio": num(t.loss_ratio),
        "seconds": num(t.seconds),
    })
}

fn info_json(i: &RunInfo) -> Value {
    json!({
        "date": i.date,
        "kernel": i.kernel,
        "cpu_model": i.cpu_model,
        "cpus": i.cpus,
        "command": i.command,
        "quick": i.quick,
        "sut_core": i.sut_core,
        "gen_core": i.gen_core,
        "drop_ratio": num(i.drop_ratio),
        "resolution": num(i.resolution),
        "max_trials": i.max_trials,
        "retests": i.retests,
        "trial_seconds": num(i.trial_seconds),
        "warmup_seconds": num(i.warmup_seconds),
        "repetitions": i.repetitions,
        "generator": i.generator,
        "generator_requested": i.generator_requested,
        "generator_fallback": i.generator_fallback,
        "kernel_baseline": {
            "name": i.kernel_sut,
            "description": i.kernel_sut_description,
        },
        "generator_pps": num(i.generator_pps),
        "seconds_total": num(i.seconds_total),
    })
}

fn cell_json(c: &Cell) -> Value {
    let mut m = Map::new();
    m.insert("scenario".into(), json!(c.scenario));
    m.insert("description".into(), json!(c.description));
    m.insert("sut".into(), json!(c.sut));
    m.insert(
        "stamp_pct".into(),
        c.stamp_pct.map(num).unwrap_or(Value::Null),
    );
    m.insert("frame_octets".into(), json!(c.frame_octets));
    let (status, reason) = status_parts(&c.status);
    m.insert("status".into(), json!(status));
    if let Some(r) = reason {
        m.insert("reason".into(), json!(r));
    }
    m.insert("pdr".into(), stat_json(&c.pdr));
    m.insert("ndr".into(), stat_json(&c.ndr));
    m.insert("mrr".into(), stat_json(&c.mrr));
    m.insert("generator_limited".into(), json!(c.generator_limited));
    m.insert(
        "latency".into(),
        Value::Array(c.latency.iter().map(latency_json).collect()),
    );
    m.insert(
        "trials".into(),
        Value::Array(c.trials.iter().map(trial_json).collect()),
    );
    m.insert("unaccounted".into(), json!(c.unaccounted));
    Value::Object(m)
}

/// The whole report as one JSON value: `{"info": {...}, "cells": [...]}`,
/// each cell with its status (`"measured"`, `"n/a"` or `"failed"`, the
/// latter two with a `"reason"`), statistics, latency and every trial.
/// NaN and infinite numbers are null.
pub fn to_json(r: &Report) -> Value {
    json!({
        "info": info_json(&r.info),
        "cells": r.cells.iter().map(cell_json).collect::<Vec<_>>(),
    })
}

/// Writes [`to_json`] (pretty-printed) to `path`.
pub fn write_json(r: &Report, path: &Path) -> Result<(), String> {
    let text =
        serde_json::to_string_pretty(&to_json(r)).map_err(|e| format!("report JSON: {e}"))?;
    fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------- CSV

/// A CSV number: empty when NaN or infinite.
fn csv_num(x: f64) -> String {
    if x.is_finite() {
        x.to_string()
    } else {
        String::new()
    }
}

fn csv_opt(x: Option<f64>) -> String {
    x.map(csv_num).unwrap_or_default()
}

/// The per-trial CSV next to `path`: "results.csv" -> "results-trials.csv".
pub fn trials_csv_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) if ext.eq_ignore_ascii_case("csv") => format!("{stem}-trials.csv"),
        Some(ext) => format!("{stem}.{}-trials.csv", ext.to_string_lossy()),
        None => format!("{stem}-trials.csv"),
    };
    path.with_file_name(name)
}

const CELL_HEADER: [&str; 19] = [
    "scenario",
    "sut",
    "stamp_pct",
    "frame_octets",
    "status",
    "reason",
    "pdr_mean",
    "pdr_ci95",
    "ndr_mean",
    "ndr_ci95",
    "mrr_mean",
    "mrr_ci95",
    "repetitions",
    "generator_limited",
    "lat50_p50_us",
    "lat50_p99_us",
    "lat90_p50_us",
    "lat90_p99_us",
    "generator",
];

const TRIAL_HEADER: [&str; 12] = [
    "scenario",
    "sut",
    "stamp_pct",
    "repetition",
    "kind",
    "target_pps",
    "offered",
    "offered_pps",
    "delivered",
    "loss_ratio",
    "seconds",
    "generator",
];

fn err(p: &Path) -> impl Fn(csv::Error) -> String + '_ {
    move |e| format!("{}: {e}", p.display())
}

fn csv_writer(path: &Path) -> Result<csv::Writer<fs::File>, String> {
    csv::Writer::from_path(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes one row per cell to `path` and one row per trial to
/// [`trials_csv_path`]`(path)` (RFC 4180: fields with commas, quotes or line
/// breaks are quoted). Rates are frames per second; NaN is an empty field.
/// Every row names the generator the run used.
pub fn write_csv(r: &Report, path: &Path) -> Result<(), String> {
    let mut w = csv_writer(path)?;
    w.write_record(CELL_HEADER).map_err(err(path))?;
    for c in &r.cells {
        let (status, reason) = status_parts(&c.status);
        let lat = |pct: f64, f: fn(&Latency) -> f64| csv_opt(latency_at(c, pct).map(f));
        let row: [String; 19] = [
            c.scenario.clone(),
            c.sut.clone(),
            csv_opt(c.stamp_pct),
            c.frame_octets.to_string(),
            status.to_string(),
            reason.unwrap_or("").to_string(),
            csv_num(c.pdr.mean),
            csv_num(c.pdr.ci95),
            csv_num(c.ndr.mean),
            csv_num(c.ndr.ci95),
            csv_num(c.mrr.mean),
            csv_num(c.mrr.ci95),
            c.pdr.samples.len().to_string(),
            c.generator_limited.to_string(),
            lat(50.0, |l| l.p50_us),
            lat(50.0, |l| l.p99_us),
            lat(90.0, |l| l.p50_us),
            lat(90.0, |l| l.p99_us),
            r.info.generator.clone(),
        ];
        w.write_record(&row).map_err(err(path))?;
    }
    w.flush().map_err(|e| format!("{}: {e}", path.display()))?;

    let tpath = trials_csv_path(path);
    let mut w = csv_writer(&tpath)?;
    w.write_record(TRIAL_HEADER).map_err(err(&tpath))?;
    for c in &r.cells {
        for t in &c.trials {
            let row: [String; 12] = [
                c.scenario.clone(),
                c.sut.clone(),
                csv_opt(c.stamp_pct),
                t.repetition.to_string(),
                t.kind.name().to_string(),
                csv_num(t.target_pps),
                t.offered.to_string(),
                csv_num(t.offered_pps),
                t.delivered.to_string(),
                csv_num(t.loss_ratio),
                csv_num(t.seconds),
                r.info.generator.clone(),
            ];
            w.write_record(&row).map_err(err(&tpath))?;
        }
    }
    w.flush().map_err(|e| format!("{}: {e}", tpath.display()))
}

// ---------------------------------------------------------------- plots

fn sut_color(sut: &str, i: usize) -> RGBColor {
    match sut {
        "kernel" | crate::kernel_baseline::FWD_NAME => RGBColor(0x1f, 0x77, 0xb4),
        "srv6d" => RGBColor(0xff, 0x7f, 0x0e),
        _ => {
            const P: [RGBColor; 6] = [
                RGBColor(0x2c, 0xa0, 0x2c),
                RGBColor(0x94, 0x67, 0xbd),
                RGBColor(0x8c, 0x56, 0x4b),
                RGBColor(0xe3, 0x77, 0xc2),
                RGBColor(0x7f, 0x7f, 0x7f),
                RGBColor(0x17, 0xbe, 0xcf),
            ];
            P[i % P.len()]
        }
    }
}

fn ceiling_color(sut: &str) -> RGBColor {
    if sut == "l2fwd" {
        RGBColor(0xd6, 0x27, 0x28)
    } else {
        RGBColor(0x50, 0x50, 0x50)
    }
}

fn subtitle(info: &RunInfo) -> String {
    format!(
        "Linux {} · {} · {} · kernel SUT: {}",
        info.kernel,
        info.cpu_model,
        info.date,
        kernel_sut(info)
    )
}

/// A series' legend label: the SUT, and for the forwarding baseline what
/// it is.
fn sut_label(sut: &str) -> String {
    if sut == crate::kernel_baseline::FWD_NAME {
        format!("{sut} (plain forwarding, no SRv6)")
    } else {
        sut.to_string()
    }
}

fn pe<E: std::fmt::Debug>(e: E) -> String {
    format!("plot: {e:?}")
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// A finite, non-negative bar top (mean + CI) in Mpps.
fn top_mpps(s: &Stat) -> f64 {
    let t = mpps(s.mean + if s.ci95.is_finite() { s.ci95 } else { 0.0 });
    if t.is_finite() {
        t.max(0.0)
    } else {
        0.0
    }
}

/// A 95 % CI whisker from `lo` to `hi` at `x`, with caps `half` wide
/// (chart coordinates) each side.
fn ci_bar(x: f64, lo: f64, hi: f64, half: f64, style: ShapeStyle) -> [PathElement<(f64, f64)>; 3] {
    [
        PathElement::new(vec![(x, lo), (x, hi)], style),
        PathElement::new(vec![(x - half, lo), (x + half, lo)], style),
        PathElement::new(vec![(x - half, hi), (x + half, hi)], style),
    ]
}

/// The horizontal reference lines of the scenario plot: (label, Mpps, sut).
fn ceilings(r: &Report) -> Vec<(String, f64, String)> {
    let cells: Vec<&Cell> = r
        .cells
        .iter()
        .filter(|c| is_ceiling(&c.sut) && c.status == Status::Measured && c.pdr.mean.is_finite())
        .collect();
    let mut out = Vec::new();
    for c in &cells {
        let same = cells.iter().filter(|d| d.sut == c.sut).count();
        let mut label = ceiling_label(&c.sut).to_string();
        if same > 1 {
            label = format!("{label} ({})", c.scenario);
        }
        out.push((label, mpps(c.pdr.mean), c.sut.clone()));
    }
    if !cells.iter().any(|c| c.sut == "generator")
        && r.info.generator_pps.is_finite()
        && r.info.generator_pps > 0.0
    {
        out.push((
            ceiling_label("generator").to_string(),
            mpps(r.info.generator_pps),
            "generator".to_string(),
        ));
    }
    out
}

/// The grouped bar chart (PDR per scenario and SUT) as an SVG document.
fn scenarios_svg(r: &Report) -> Result<Option<String>, String> {
    let cells: Vec<&Cell> = r
        .cells
        .iter()
        .filter(|c| c.stamp_pct.is_none() && !is_ceiling(&c.sut))
        .collect();
    if cells.is_empty() {
        return Ok(None);
    }
    let mut scenarios = Vec::new();
    let mut suts = Vec::new();
    for c in &cells {
        push_unique(&mut scenarios, &c.scenario);
        push_unique(&mut suts, &c.sut);
    }
    let refs = ceilings(r);
    let ymax = cells
        .iter()
        .filter(|c| c.status == Status::Measured)
        .map(|c| top_mpps(&c.pdr))
        .chain(refs.iter().map(|x| x.1).filter(|x| x.is_finite()))
        .fold(0.0, f64::max);
    let ymax = if ymax > 0.0 { ymax * 1.18 } else { 1.0 };

    let n = scenarios.len();
    let width = (170 * n as u32 + 260).max(900);
    let height = 600u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(pe)?;
        let area = root
            .titled(
                &format!(
                    "PDR per scenario (RFC 2544, mean with 95 % CI; {})",
                    generator_label(&r.info)
                ),
                ("sans-serif", 22),
            )
            .map_err(pe)?;
        let area = area
            .titled(&subtitle(&r.info), ("sans-serif", 14))
            .map_err(pe)?;
        let mut chart = ChartBuilder::on(&area)
            .margin(15)
            .margin_right(30)
            .x_label_area_size(55)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n as f64, 0f64..ymax)
            .map_err(pe)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .x_label_formatter(&|_| String::new())
            .x_desc("scenario")
            .y_desc("PDR (Mpps)")
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(pe)?;

        let slots = suts.len().max(1) as f64;
        let group = 0.8;
        let slot = group / slots;
        let foot = Pos::new(HPos::Center, VPos::Bottom);
        let label_style = TextStyle::from(("sans-serif", 13).into_font()).pos(foot);
        for (si, sut) in suts.iter().enumerate() {
            let color = sut_color(sut, si);
            let mut bars = Vec::new();
            let mut whiskers = Vec::new();
            for (gi, scen) in scenarios.iter().enumerate() {
                let Some(c) = cells.iter().find(|c| &c.scenario == scen && &c.sut == sut) else {
                    continue;
                };
                let x0 = gi as f64 + (1.0 - group) / 2.0 + si as f64 * slot;
                let x1 = x0 + slot * 0.9;
                let xm = (x0 + x1) / 2.0;
                match &c.status {
                    Status::Measured if c.pdr.mean.is_finite() => {
                        let m = mpps(c.pdr.mean).max(0.0);
                        bars.push(Rectangle::new([(x0, 0.0), (x1, m)], color.filled()));
                        if c.pdr.ci95.is_finite() && c.pdr.ci95 > 0.0 {
                            let ci = mpps(c.pdr.ci95);
                            whiskers.extend(ci_bar(
                                xm,
                                (m - ci).max(0.0),
                                m + ci,
                                slot * 0.15,
                                BLACK.stroke_width(2),
                            ));
                        }
                    }
                    other => {
                        let text = match other {
                            Status::Failed(_) => "failed",
                            _ => "n/a",
                        };
                        let (px, py) = chart.backend_coord(&(xm, 0.0));
                        root.draw(&Text::new(text, (px, py - 4), label_style.clone()))
                            .map_err(pe)?;
                    }
                }
            }
            chart
                .draw_series(bars)
                .map_err(pe)?
                .label(sut_label(sut))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled())
                });
            chart.draw_series(whiskers).map_err(pe)?;
        }
        for (label, y, sut) in &refs {
            let color = ceiling_color(sut);
            let style = color.stroke_width(2);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(0.0, *y), (n as f64, *y)],
                    style,
                )))
                .map_err(pe)?
                .label(format!("{label}: {} Mpps", sig3(*y)))
                .legend(move |(x, yy)| PathElement::new(vec![(x, yy), (x + 14, yy)], style));
            let (px, py) = chart.backend_coord(&(0.0, *y));
            let s = TextStyle::from(("sans-serif", 12).into_font())
                .color(&color)
                .pos(Pos::new(HPos::Left, VPos::Bottom));
            root.draw(&Text::new(label.clone(), (px + 6, py - 3), s))
                .map_err(pe)?;
        }
        let name_style =
            TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        for (gi, scen) in scenarios.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(gi as f64 + 0.5, 0.0));
            root.draw(&Text::new(scen.clone(), (px, py + 8), name_style.clone()))
                .map_err(pe)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(pe)?;
        root.present().map_err(pe)?;
    }
    Ok(Some(svg))
}

/// The x positions of the STAMP plot: the standard fractions plus any other
/// the run used, ascending.
fn stamp_fractions(cells: &[&Cell]) -> Vec<f64> {
    let mut v: Vec<f64> = STAMP_FRACTIONS.to_vec();
    for c in cells {
        if let Some(p) = c.stamp_pct {
            if p.is_finite() && !v.iter().any(|x| (x - p).abs() < 1e-9) {
                v.push(p);
            }
        }
    }
    v.sort_by(f64::total_cmp);
    v
}

fn fraction_label(p: f64) -> String {
    let s = format!("{p}");
    s.trim_end_matches(".0").to_string()
}

/// The line plot of PDR versus STAMP fraction as an SVG document, `None`
/// when the run has no STAMP cell.
fn stamp_svg(r: &Report) -> Result<Option<String>, String> {
    let cells: Vec<&Cell> = r.cells.iter().filter(|c| c.stamp_pct.is_some()).collect();
    if cells.is_empty() {
        return Ok(None);
    }
    let xs = stamp_fractions(&cells);
    let xi = |p: f64| xs.iter().position(|x| (x - p).abs() < 1e-9);
    let mut lines: Vec<(String, String)> = Vec::new();
    for c in &cells {
        let k = (c.scenario.clone(), c.sut.clone());
        if !lines.contains(&k) {
            lines.push(k);
        }
    }
    let ymax = cells
        .iter()
        .filter(|c| c.status == Status::Measured)
        .map(|c| top_mpps(&c.pdr))
        .fold(0.0, f64::max);
    let ymax = if ymax > 0.0 { ymax * 1.18 } else { 1.0 };
    let n = xs.len();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(pe)?;
        let area = root
            .titled(
                &format!(
                    "PDR versus STAMP share of the offered frames (mean with 95 % CI; {})",
                    generator_label(&r.info)
                ),
                ("sans-serif", 22),
            )
            .map_err(pe)?;
        let area = area
            .titled(&subtitle(&r.info), ("sans-serif", 14))
            .map_err(pe)?;
        let mut chart = ChartBuilder::on(&area)
            .margin(15)
            .margin_right(30)
            .x_label_area_size(55)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..ymax)
            .map_err(pe)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .x_label_formatter(&|_| String::new())
            .x_desc("STAMP fraction of offered frames (%)")
            .y_desc("PDR (Mpps)")
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(pe)?;
        let tick_style =
            TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        for (i, p) in xs.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(i as f64, 0.0));
            root.draw(&PathElement::new(vec![(px, py), (px, py + 5)], BLACK))
                .map_err(pe)?;
            root.draw(&Text::new(
                fraction_label(*p),
                (px, py + 8),
                tick_style.clone(),
            ))
            .map_err(pe)?;
        }
        let na_style = TextStyle::from(("sans-serif", 12).into_font())
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        for (li, (scen, sut)) in lines.iter().enumerate() {
            let color = match (scen.contains("collector"), sut.as_str()) {
                (true, "srv6d") => RGBColor(0x2c, 0xa0, 0x2c),
                _ => sut_color(sut, li),
            };
            let mut pts: Vec<(usize, &Cell)> = cells
                .iter()
                .filter(|c| &c.scenario == scen && &c.sut == sut)
                .filter_map(|c| c.stamp_pct.and_then(xi).map(|i| (i, *c)))
                .collect();
            pts.sort_by_key(|p| p.0);
            let measured: Vec<(f64, f64, f64)> = pts
                .iter()
                .filter(|(_, c)| c.status == Status::Measured && c.pdr.mean.is_finite())
                .map(|(i, c)| {
                    let ci = if c.pdr.ci95.is_finite() {
                        mpps(c.pdr.ci95)
                    } else {
                        0.0
                    };
                    (*i as f64, mpps(c.pdr.mean), ci)
                })
                .collect();
            chart
                .draw_series(LineSeries::new(
                    measured.iter().map(|p| (p.0, p.1)),
                    color.stroke_width(2),
                ))
                .map_err(pe)?
                .label(format!("{scen} {}", sut_label(sut)))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    measured
                        .iter()
                        .map(|p| Circle::new((p.0, p.1), 4, color.filled())),
                )
                .map_err(pe)?;
            chart
                .draw_series(measured.iter().filter(|p| p.2 > 0.0).flat_map(|p| {
                    ci_bar(
                        p.0,
                        (p.1 - p.2).max(0.0),
                        p.1 + p.2,
                        0.08,
                        color.stroke_width(2),
                    )
                }))
                .map_err(pe)?;
            for (i, c) in &pts {
                if c.status != Status::Measured {
                    let text = if matches!(c.status, Status::Failed(_)) {
                        "failed"
                    } else {
                        "n/a"
                    };
                    let (px, py) = chart.backend_coord(&(*i as f64, 0.0));
                    let y = py - 4 - 14 * li as i32;
                    root.draw(
                        &(EmptyElement::at((px, y))
                            + Text::new(text, (0, 0), na_style.clone().color(&color))),
                    )
                    .map_err(pe)?;
                }
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(pe)?;
        root.present().map_err(pe)?;
    }
    Ok(Some(svg))
}

/// The font database for the PNGs: the system's fonts, with a sans-serif
/// family that exists (DejaVu Sans when present). Fails naming the package
/// to install when there is no font at all.
fn png_options() -> Result<resvg::usvg::Options<'static>, String> {
    let mut db = resvg::usvg::fontdb::Database::new();
    db.load_system_fonts();
    png_options_with(db)
}

fn png_options_with(
    mut db: resvg::usvg::fontdb::Database,
) -> Result<resvg::usvg::Options<'static>, String> {
    let families: Vec<String> = db
        .faces()
        .flat_map(|f| f.families.iter().map(|(name, _)| name.clone()))
        .collect();
    let family = families
        .iter()
        .find(|f| f.as_str() == "DejaVu Sans")
        .or_else(|| {
            families
                .iter()
                .find(|f| f.contains("Sans") && !f.contains("Mono"))
        })
        .or(families.first())
        .cloned()
        .ok_or_else(|| {
            format!(
                "no font found for the PNG plots' text: install the Debian package \
                 {FONT_PACKAGE} (scripts/deps.sh does)"
            )
        })?;
    db.set_sans_serif_family(family.clone());
    Ok(resvg::usvg::Options {
        font_family: family,
        fontdb: std::sync::Arc::new(db),
        ..Default::default()
    })
}

fn svg_to_png(svg: &str, opt: &resvg::usvg::Options) -> Result<Vec<u8>, String> {
    let tree = resvg::usvg::Tree::from_str(svg, opt).map_err(|e| format!("plot SVG: {e}"))?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| "plot: empty image".to_string())?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(|e| format!("plot PNG: {e}"))
}

/// Writes `<stem>-scenarios.{svg,png}` (PDR per scenario and SUT, the
/// ceilings as lines) and, when the run has STAMP cells,
/// `<stem>-stamp.{svg,png}` (PDR versus STAMP fraction) into `dir`; returns
/// the paths written.
pub fn write_plots(r: &Report, dir: &Path, stem: &str) -> Result<Vec<PathBuf>, String> {
    let plots = [("scenarios", scenarios_svg(r)?), ("stamp", stamp_svg(r)?)];
    if plots.iter().all(|p| p.1.is_none()) {
        return Ok(Vec::new());
    }
    let opt = png_options()?;
    let mut written = Vec::new();
    for (name, svg) in plots {
        let Some(svg) = svg else { continue };
        let png = svg_to_png(&svg, &opt)?;
        let svg_path = dir.join(format!("{stem}-{name}.svg"));
        fs::write(&svg_path, svg).map_err(|e| format!("{}: {e}", svg_path.display()))?;
        written.push(svg_path);
        let png_path = dir.join(format!("{stem}-{name}.png"));
        fs::write(&png_path, png).map_err(|e| format!("{}: {e}", png_path.display()))?;
        written.push(png_path);
    }
    Ok(written)
}

// ---------------------------------------------------------------- table

/// Text for a Markdown table cell: no pipes or line breaks.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn stat_mpps(s: &Stat) -> String {
    if s.ci95.is_finite() && s.ci95 > 0.0 {
        format!("{} ± {}", sig3(mpps(s.mean)), sig3(mpps(s.ci95)))
    } else {
        sig3(mpps(s.mean))
    }
}

/// A cell's statistic for the table: "n/a"/"failed" unless measured.
fn cell_stat(c: Option<&Cell>, f: fn(&Cell) -> &Stat) -> String {
    match c {
        None => "–".to_string(),
        Some(c) => match &c.status {
            Status::Measured => stat_mpps(f(c)),
            Status::NotApplicable(_) => "n/a".to_string(),
            Status::Failed(_) => "failed".to_string(),
        },
    }
}

fn measured_mean(c: Option<&Cell>) -> Option<f64> {
    c.filter(|c| c.status == Status::Measured)
        .map(|c| c.pdr.mean)
        .filter(|m| m.is_finite())
}

/// The Markdown summary: one row per (scenario, STAMP fraction) in the order
/// the cells first appear, the kernel SUT (named as [`RunInfo::kernel_sut`]
/// says) and srv6d side by side, then one line per ceiling, the kernel SUT
/// and the generator. Rates in Mpps to 3 significant digits, ± the 95 % CI.
pub fn summary_table(r: &Report) -> String {
    let kernel = kernel_sut(&r.info);
    let mut out = String::new();
    out.push_str(&format!(
        "| scenario | STAMP % | {kernel} PDR (Mpps) | srv6d PDR (Mpps) | srv6d/{kernel} | \
         srv6d NDR (Mpps) | srv6d MRR (Mpps) | srv6d latency p50/p99 at 90 % PDR (µs) | notes |\n",
    ));
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
    let mut rows: Vec<(&str, Option<f64>)> = Vec::new();
    for c in r.cells.iter().filter(|c| !is_ceiling(&c.sut)) {
        let key = (c.scenario.as_str(), c.stamp_pct);
        if !rows.contains(&key) {
            rows.push(key);
        }
    }
    for (scen, stamp) in rows {
        let row_cells: Vec<&Cell> = r
            .cells
            .iter()
            .filter(|c| c.scenario == scen && c.stamp_pct == stamp && !is_ceiling(&c.sut))
            .collect();
        let find = |sut: &str| row_cells.iter().copied().find(|c| c.sut == sut);
        let (k, s) = (find(kernel), find("srv6d"));
        let ratio = match (measured_mean(k), measured_mean(s)) {
            (Some(km), Some(sm)) if km > 0.0 => sig3(sm / km),
            _ => "n/a".to_string(),
        };
        let latency = s
            .filter(|c| c.status == Status::Measured)
            .and_then(|c| latency_at(c, 90.0))
            .map(|l| format!("{} / {}", sig3(l.p50_us), sig3(l.p99_us)))
            .unwrap_or_else(|| "–".to_string());
        let mut notes = Vec::new();
        for c in &row_cells {
            if c.generator_limited {
                notes.push(format!("{}: generator-limited", c.sut));
            }
            match &c.status {
                Status::Measured => {}
                Status::NotApplicable(why) => notes.push(format!("{}: n/a ({why})", c.sut)),
                Status::Failed(why) => notes.push(format!("{}: failed ({why})", c.sut)),
            }
            if c.sut != kernel && c.sut != "srv6d" && c.status == Status::Measured {
                notes.push(format!("{} PDR {} Mpps", c.sut, stat_mpps(&c.pdr)));
            }
        }
        let stamp = stamp.map(fraction_label).unwrap_or_else(|| "–".to_string());
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            md(scen),
            stamp,
            cell_stat(k, |c| &c.pdr),
            cell_stat(s, |c| &c.pdr),
            ratio,
            cell_stat(s, |c| &c.ndr),
            cell_stat(s, |c| &c.mrr),
            latency,
            md(&notes.join("; ")),
        ));
    }
    let ceil_cells: Vec<&Cell> = r.cells.iter().filter(|c| is_ceiling(&c.sut)).collect();
    let mut lines = Vec::new();
    for sut in ["generator", "l2fwd"] {
        for c in ceil_cells.iter().filter(|c| c.sut == sut) {
            let value = match &c.status {
                Status::Measured => format!("{} Mpps", stat_mpps(&c.pdr)),
                Status::NotApplicable(why) => format!("n/a ({why})"),
                Status::Failed(why) => format!("failed ({why})"),
            };
            lines.push(format!(
                "{} ({}, {} octets): {}",
                ceiling_label(sut),
                c.scenario,
                c.frame_octets,
                md(&value)
            ));
        }
    }
    if !ceil_cells.iter().any(|c| c.sut == "generator")
        && r.info.generator_pps.is_finite()
        && r.info.generator_pps > 0.0
    {
        lines.push(format!(
            "{}: {} Mpps (the highest rate it offered in an MRR trial; {} generator)",
            ceiling_label("generator"),
            sig3(mpps(r.info.generator_pps)),
            if r.info.generator.is_empty() {
                "packet"
            } else {
                r.info.generator.as_str()
            }
        ));
    }
    if !r.info.kernel_sut_description.is_empty() {
        lines.push(format!(
            "kernel SUT: {kernel}: {}",
            md(&r.info.kernel_sut_description)
        ));
    }
    let generator = if r.info.generator.is_empty() {
        "packet"
    } else {
        r.info.generator.as_str()
    };
    lines.push(match &r.info.generator_fallback {
        Some(why) => format!(
            "generator: {generator} (asked for {}, which cannot run here: {})",
            r.info.generator_requested,
            md(why)
        ),
        None => format!("generator: {generator}"),
    });
    out.push('\n');
    for l in lines {
        out.push_str(&format!("- {l}\n"));
    }
    out
}

// ---------------------------------------------------------------- tests

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TrialKind;
    use std::collections::BTreeSet;

    fn info() -> RunInfo {
        RunInfo {
            date: "2026-11-23T11:00:00Z".into(),
            kernel: "6.1.0-test".into(),
            cpu_model: "Test CPU @ 2.0GHz".into(),
            cpus: 2,
            command: "srv6bench rfc2544 --quick".into(),
            quick: true,
            sut_core: 0,
            gen_core: 1,
            drop_ratio: 0.005,
            resolution: 0.01,
            max_trials: 20,
            retests: 1,
            trial_seconds: 1.0,
            warmup_seconds: 0.5,
            repetitions: 3,
            generator: "live".into(),
            generator_requested: "live".into(),
            generator_fallback: None,
            kernel_sut: "kernel".into(),
            kernel_sut_description: "the Linux kernel's seg6".into(),
            generator_pps: 3.0e6,
            seconds_total: 42.0,
        }
    }

    fn trial(rep: usize, kind: TrialKind, pps: f64) -> Trial {
        Trial {
            repetition: rep,
            kind,
            target_pps: pps,
            offered: (pps * 1.0) as u64,
            offered_pps: pps,
            delivered: (pps * 0.999) as u64,
            loss_ratio: 0.001,
            seconds: 1.0,
        }
    }

    fn cell(scenario: &str, sut: &str, stamp: Option<f64>, status: Status, pdr: &[f64]) -> Cell {
        let st = Stat::of(pdr);
        Cell {
            scenario: scenario.into(),
            description: format!("{scenario} on {sut}"),
            sut: sut.into(),
            stamp_pct: stamp,
            frame_octets: 78,
            status,
            ndr: Stat::of(&pdr.iter().map(|x| x * 0.9).collect::<Vec<_>>()),
            mrr: Stat::of(&pdr.iter().map(|x| x * 1.2).collect::<Vec<_>>()),
            pdr: st,
            generator_limited: false,
            latency: Vec::new(),
            trials: pdr
                .iter()
                .enumerate()
                .flat_map(|(i, &p)| {
                    [
                        trial(i, TrialKind::Mrr, p * 1.2),
                        trial(i, TrialKind::Search, p),
                    ]
                })
                .collect(),
            unaccounted: Vec::new(),
        }
    }

    fn report() -> Report {
        let mut srv6d = cell(
            "h-encaps-v6-2sid",
            "srv6d",
            None,
            Status::Measured,
            &[1.9e6, 2.0e6, 2.1e6],
        );
        srv6d.latency = vec![
            Latency {
                pct_of_pdr: 50.0,
                offered_pps: 1.0e6,
                probes: 1000,
                p50_us: 11.0,
                p90_us: 15.0,
                p99_us: 21.0,
                max_us: 40.0,
            },
            Latency {
                pct_of_pdr: 90.0,
                offered_pps: 1.8e6,
                probes: 1000,
                p50_us: 12.5,
                p90_us: 18.0,
                p99_us: 33.3,
                max_us: 80.0,
            },
        ];
        srv6d.unaccounted = vec![0, -1, 2];
        let mut nan_cell = cell("ipv6-fwd", "srv6d", None, Status::Measured, &[1.5e6]);
        nan_cell.ndr.mean = f64::NAN;
        nan_cell.mrr.ci95 = f64::INFINITY;
        nan_cell.generator_limited = true;
        let mut cells = vec![
            cell(
                "h-encaps-v6-2sid",
                "kernel",
                None,
                Status::Measured,
                &[0.4e6, 0.5e6, 0.6e6],
            ),
            srv6d,
            cell(
                "ipv6-fwd",
                "kernel",
                None,
                Status::Failed("sink saw nothing, \"bs0\" down".into()),
                &[],
            ),
            nan_cell,
            cell(
                "end-dt4",
                "kernel",
                None,
                Status::NotApplicable("no CONFIG_NET_VRF, so no End.DT4".into()),
                &[],
            ),
            cell("end-dt4", "srv6d", None, Status::Measured, &[1.2e6, 1.3e6]),
            cell(
                "ceiling",
                "generator",
                None,
                Status::Measured,
                &[3.0e6, 3.1e6],
            ),
            cell("ceiling", "l2fwd", None, Status::Measured, &[2.6e6, 2.7e6]),
        ];
        for (i, pct) in [0.0, 0.01, 1.0, 10.0, 100.0].into_iter().enumerate() {
            let base = 2.0e6 - 1.0e5 * i as f64;
            cells.push(cell(
                "stamp-reflector",
                "srv6d",
                Some(pct),
                Status::Measured,
                &[base, base * 1.01, base * 0.99],
            ));
            let status = if pct == 100.0 {
                Status::NotApplicable("collector drops everything at 100 %".into())
            } else {
                Status::Measured
            };
            cells.push(cell(
                "stamp-collector",
                "srv6d",
                Some(pct),
                status,
                &[base * 0.9, base * 0.91],
            ));
        }
        Report {
            info: info(),
            cells,
        }
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("srv6bench-report-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn sig3_keeps_three_significant_digits() {
        assert_eq!(sig3(4.0), "4.00");
        assert_eq!(sig3(0.5), "0.500");
        assert_eq!(sig3(12.345), "12.3");
        assert_eq!(sig3(123.45), "123");
        assert_eq!(sig3(1234.5), "1234");
        assert_eq!(sig3(0.012345), "0.0123");
        assert_eq!(sig3(f64::NAN), "n/a");
    }

    #[test]
    fn json_round_trips_with_null_for_nan() {
        let d = tmpdir("json");
        let p = d.join("r.json");
        let r = report();
        write_json(&r, &p).unwrap();
        let v: Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(v["info"]["kernel"], "6.1.0-test");
        assert_eq!(v["info"]["repetitions"], 3);
        let cells = v["cells"].as_array().unwrap();
        assert_eq!(cells.len(), r.cells.len());
        let s = &cells[1];
        assert_eq!(s["sut"], "srv6d");
        assert_eq!(s["status"], "measured");
        assert!(s.get("reason").is_none());
        assert!((s["pdr"]["mean"].as_f64().unwrap() - 2.0e6).abs() < 1e-3);
        assert_eq!(s["pdr"]["samples"].as_array().unwrap().len(), 3);
        assert_eq!(s["trials"].as_array().unwrap().len(), 6);
        assert_eq!(s["trials"][0]["kind"], "mrr");
        assert_eq!(s["latency"][1]["p99_us"].as_f64(), Some(33.3));
        assert_eq!(s["unaccounted"], json!([0, -1, 2]));
        assert!(s["stamp_pct"].is_null());
        // NaN and infinity are null.
        let nan = &cells[3];
        assert!(nan["ndr"]["mean"].is_null());
        assert!(nan["mrr"]["ci95"].is_null());
        assert_eq!(nan["generator_limited"], true);
        // n/a and failed carry their reasons.
        assert_eq!(cells[4]["status"], "n/a");
        assert_eq!(cells[4]["reason"], "no CONFIG_NET_VRF, so no End.DT4");
        assert_eq!(cells[2]["status"], "failed");
        assert_eq!(cells[2]["reason"], "sink saw nothing, \"bs0\" down");
        // The STAMP fraction is a number.
        assert_eq!(cells[10]["stamp_pct"].as_f64(), Some(0.01));
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn csv_has_a_row_per_cell_and_per_trial_and_quotes() {
        let d = tmpdir("csv");
        let p = d.join("results.csv");
        let r = report();
        write_csv(&r, &p).unwrap();
        let tp = d.join("results-trials.csv");
        assert_eq!(trials_csv_path(&p), tp);

        let text = fs::read_to_string(&p).unwrap();
        // RFC 4180 quoting: the comma and the doubled quote.
        assert!(text.contains("\"no CONFIG_NET_VRF, so no End.DT4\""));
        assert!(text.contains("\"sink saw nothing, \"\"bs0\"\" down\""));
        let mut rd = csv::Reader::from_path(&p).unwrap();
        let header = rd.headers().unwrap().clone();
        assert_eq!(header.iter().collect::<Vec<_>>(), CELL_HEADER.to_vec());
        let rows: Vec<csv::StringRecord> = rd.records().map(|x| x.unwrap()).collect();
        assert_eq!(rows.len(), r.cells.len());
        assert!(rows.iter().all(|x| x.len() == CELL_HEADER.len()));
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let srv6d = &rows[1];
        assert_eq!(&srv6d[col("sut")], "srv6d");
        assert_eq!(&srv6d[col("stamp_pct")], "");
        assert_eq!(srv6d[col("pdr_mean")].parse::<f64>().unwrap(), 2.0e6);
        assert_eq!(&srv6d[col("repetitions")], "3");
        assert_eq!(&srv6d[col("lat90_p99_us")], "33.3");
        assert_eq!(&srv6d[col("lat50_p50_us")], "11");
        assert_eq!(&rows[4][col("reason")], "no CONFIG_NET_VRF, so no End.DT4");
        assert_eq!(&rows[4][col("status")], "n/a");
        assert_eq!(&rows[2][col("reason")], "sink saw nothing, \"bs0\" down");
        assert_eq!(&rows[3][col("ndr_mean")], "");
        assert_eq!(&rows[3][col("generator_limited")], "true");
        assert_eq!(&rows[10][col("stamp_pct")], "0.01");

        let mut rd = csv::Reader::from_path(&tp).unwrap();
        let trials: Vec<csv::StringRecord> = rd.records().map(|x| x.unwrap()).collect();
        let n: usize = r.cells.iter().map(|c| c.trials.len()).sum();
        assert_eq!(trials.len(), n);
        assert!(n > 0);
        assert_eq!(&trials[0][0], "h-encaps-v6-2sid");
        assert_eq!(&trials[0][4], "mrr");
        assert_eq!(&trials[1][4], "search");
        assert_eq!(trials[1][5].parse::<f64>().unwrap(), 0.4e6);
        fs::remove_dir_all(d).unwrap();
    }

    fn distinct_colours(png: &Path) -> usize {
        let pm = resvg::tiny_skia::Pixmap::load_png(png).unwrap();
        let mut set = BTreeSet::new();
        for px in pm.pixels() {
            set.insert((px.red(), px.green(), px.blue(), px.alpha()));
            if set.len() > 50 {
                break;
            }
        }
        set.len()
    }

    #[test]
    fn plots_are_written_with_names_and_text() {
        let d = tmpdir("plots");
        let r = report();
        let paths = write_plots(&r, &d, "run").unwrap();
        let names: Vec<String> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "run-scenarios.svg",
                "run-scenarios.png",
                "run-stamp.svg",
                "run-stamp.png"
            ]
        );
        for p in &paths {
            assert!(p.is_file(), "{}", p.display());
        }
        let svg = fs::read_to_string(d.join("run-scenarios.svg")).unwrap();
        for s in ["h-encaps-v6-2sid", "ipv6-fwd", "end-dt4", "n/a", "failed"] {
            assert!(svg.contains(s), "scenario plot lacks {s}");
        }
        assert!(svg.contains("AF_XDP l2fwd ceiling"));
        assert!(svg.contains("generator ceiling"));
        assert!(svg.contains("6.1.0-test") && svg.contains("Test CPU"));
        assert!(svg.contains("PDR (Mpps)"));
        assert!(!svg.contains("stamp-reflector"));
        let stamp = fs::read_to_string(d.join("run-stamp.svg")).unwrap();
        for s in [
            "stamp-reflector srv6d",
            "stamp-collector srv6d",
            "n/a",
            "\n0.01\n",
            "\n100\n",
            "\n0.05\n",
        ] {
            assert!(stamp.contains(s), "STAMP plot lacks {s}");
        }
        for png in ["run-scenarios.png", "run-stamp.png"] {
            let bytes = fs::read(d.join(png)).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
            assert!(bytes.len() > 10_000, "{png}: {} bytes", bytes.len());
            // Bars, lines, anti-aliased text: many colours, not a blank page.
            assert!(distinct_colours(&d.join(png)) > 10, "{png}");
        }
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn png_text_is_rendered() {
        // The same chart with and without text differs: the font was found.
        let opt = png_options().unwrap();
        let with = svg_to_png(
            "<svg xmlns='http://www.w3.org/2000/svg' width='200' height='50'>\
             <text x='10' y='30' font-family='sans-serif' font-size='20'>PDR 2.00</text></svg>",
            &opt,
        )
        .unwrap();
        let pm = resvg::tiny_skia::Pixmap::decode_png(&with).unwrap();
        let dark = pm.pixels().iter().filter(|p| p.red() < 128).count();
        assert!(dark > 50, "text drew {dark} dark pixels");
    }

    #[test]
    fn no_font_is_an_error_naming_the_package() {
        let e = png_options_with(resvg::usvg::fontdb::Database::new()).unwrap_err();
        assert!(e.contains("fonts-dejavu-core"), "{e}");
        // With the system's fonts, DejaVu Sans (deps.sh installs it) is chosen.
        let opt = png_options().unwrap();
        assert_eq!(opt.font_family, "DejaVu Sans");
    }

    #[test]
    fn no_stamp_cells_no_stamp_plot() {
        let d = tmpdir("nostamp");
        let mut r = report();
        r.cells.retain(|c| c.stamp_pct.is_none());
        let paths = write_plots(&r, &d, "x").unwrap();
        assert_eq!(paths.len(), 2);
        assert!(d.join("x-scenarios.png").is_file());
        assert!(!d.join("x-stamp.svg").exists());
        assert!(!d.join("x-stamp.png").exists());
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn summary_table_has_ratio_and_notes() {
        let r = report();
        let t = summary_table(&r);
        let lines: Vec<&str> = t.lines().collect();
        let row = |name: &str, stamp: &str| {
            lines
                .iter()
                .find(|l| l.starts_with(&format!("| {name} | {stamp} |")))
                .unwrap_or_else(|| panic!("no row {name} {stamp} in\n{t}"))
                .to_string()
        };
        let enc = row("h-encaps-v6-2sid", "–");
        let cols: Vec<&str> = enc.split('|').map(str::trim).collect();
        // srv6d 2.0 Mpps over kernel 0.5 Mpps.
        assert_eq!(cols[5], "4.00", "{enc}");
        assert!(cols[3].starts_with("0.500 ± "), "{enc}");
        assert!(cols[4].starts_with("2.00 ± "), "{enc}");
        assert!(cols[6].starts_with("1.80 ± "), "{enc}");
        assert!(cols[7].starts_with("2.40 ± "), "{enc}");
        assert_eq!(cols[8], "12.5 / 33.3");
        let dt4 = row("end-dt4", "–");
        let cols: Vec<&str> = dt4.split('|').map(str::trim).collect();
        assert_eq!(cols[3], "n/a");
        assert_eq!(cols[5], "n/a");
        assert!(cols[9].contains("kernel: n/a (no CONFIG_NET_VRF, so no End.DT4)"));
        let fwd = row("ipv6-fwd", "–");
        assert!(fwd.contains("kernel: failed (sink saw nothing"));
        assert!(fwd.contains("srv6d: generator-limited"));
        assert!(fwd.contains("| 1.50 |"), "{fwd}");
        assert!(row("stamp-reflector", "0.01").contains("| 1.90 ± "));
        row("stamp-collector", "100");
        // Rows in first-appearance order, ceilings after the table.
        let first = |s: &str| t.find(s).unwrap();
        assert!(first("| h-encaps-v6-2sid") < first("| ipv6-fwd"));
        assert!(first("| ipv6-fwd") < first("| end-dt4"));
        assert!(first("| end-dt4") < first("| stamp-reflector"));
        assert!(t.contains("- generator ceiling (ceiling, 78 octets): 3.05 ± "));
        assert!(t.contains("- AF_XDP l2fwd ceiling (ceiling, 78 octets): 2.65 ± "));
        assert!(!t.contains("| ceiling |"));
        // 2 header lines, 3 plain scenarios, 10 STAMP rows.
        assert_eq!(lines.iter().filter(|l| l.starts_with('|')).count(), 15);
    }

    #[test]
    fn the_kernel_baseline_and_a_generator_fallback_are_named_everywhere() {
        let mut r = report();
        for c in &mut r.cells {
            if c.sut == "kernel" {
                c.sut = "kernel-ipv6-fwd".into();
            }
        }
        r.info.kernel_sut = "kernel-ipv6-fwd".into();
        r.info.kernel_sut_description =
            "plain IP forwarding, no seg6 here; favours the kernel".into();
        r.info.generator = "packet".into();
        r.info.generator_fallback = Some(
            "live-frame generator: Linux 6.18-test refuses BPF_PROG_TEST_RUN with \
             BPF_F_TEST_XDP_LIVE_FRAMES (EPERM)"
                .into(),
        );
        // The summary: columns, ratio against the baseline, what it is,
        // which generator ran and why.
        let t = summary_table(&r);
        assert!(
            t.starts_with(
                "| scenario | STAMP % | kernel-ipv6-fwd PDR (Mpps) | srv6d PDR (Mpps) | \
                 srv6d/kernel-ipv6-fwd |"
            ),
            "{t}"
        );
        let enc = t
            .lines()
            .find(|l| l.starts_with("| h-encaps-v6-2sid |"))
            .unwrap();
        let cols: Vec<&str> = enc.split('|').map(str::trim).collect();
        assert_eq!(cols[5], "4.00", "{enc}");
        assert!(cols[3].starts_with("0.500 ± "), "{enc}");
        assert!(t.contains("- kernel SUT: kernel-ipv6-fwd: plain IP forwarding, no seg6 here"));
        assert!(t.contains(
            "- generator: packet (asked for live, which cannot run here: live-frame generator: \
             Linux 6.18-test refuses BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES (EPERM))"
        ));
        // JSON.
        let v = to_json(&r);
        assert_eq!(v["info"]["generator"], "packet");
        assert_eq!(v["info"]["generator_requested"], "live");
        assert!(v["info"]["generator_fallback"]
            .as_str()
            .unwrap()
            .contains("BPF_F_TEST_XDP_LIVE_FRAMES"));
        assert_eq!(v["info"]["kernel_baseline"]["name"], "kernel-ipv6-fwd");
        assert!(v["info"]["kernel_baseline"]["description"]
            .as_str()
            .unwrap()
            .contains("favours the kernel"));
        assert_eq!(v["cells"][0]["sut"], "kernel-ipv6-fwd");
        // Every CSV row names the generator.
        let d = tmpdir("fallback");
        let p = d.join("r.csv");
        write_csv(&r, &p).unwrap();
        for path in [p.clone(), trials_csv_path(&p)] {
            let mut rd = csv::Reader::from_path(&path).unwrap();
            let col = rd
                .headers()
                .unwrap()
                .iter()
                .position(|h| h == "generator")
                .expect("a generator column");
            let rows: Vec<csv::StringRecord> = rd.records().map(|x| x.unwrap()).collect();
            assert!(!rows.is_empty());
            assert!(rows.iter().all(|row| &row[col] == "packet"));
        }
        // The plots' titles, subtitles and legends.
        write_plots(&r, &d, "run").unwrap();
        let svg = fs::read_to_string(d.join("run-scenarios.svg")).unwrap();
        for s in [
            "packet generator (fallback: live refused)",
            "kernel SUT: kernel-ipv6-fwd",
            "kernel-ipv6-fwd (plain forwarding, no SRv6)",
        ] {
            assert!(svg.contains(s), "scenario plot lacks {s}");
        }
        let stamp = fs::read_to_string(d.join("run-stamp.svg")).unwrap();
        assert!(stamp.contains("packet generator (fallback: live refused)"));
        fs::remove_dir_all(d).unwrap();
    }
}
