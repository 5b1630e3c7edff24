//! From the records of every run of a study to its tables: a tidy CSV of every run, means with 95%
//! confidence intervals per grid point and policy, and paired differences between policies under
//! common random numbers; and the [`StudyView`] its figures and report draw.

use std::path::PathBuf;

use super::run::RunRecord;
use super::spec::{compact, Study};
use super::view::{CellSummary, Estimate, LatencyHistogram, PairedDifference, PointInfo, SettingShare, StudyView};
use crate::report::SummaryRow;
use crate::validate::theory::mean_ci;

/// Mean and 95% Student-t interval of `values` (half-width `NaN` below two values).
pub fn estimate(values: &[f64]) -> Estimate {
    let n = values.len();
    let mean = if n == 0 { f64::NAN } else { values.iter().sum::<f64>() / n as f64 };
    let half_width = mean_ci(values, 0.95).map_or(f64::NAN, |i| i.half_width);
    Estimate { mean, half_width, n }
}

/// The metrics a study summarises, with how each is read from a run's summary rows.
pub const METRICS: &[&str] = &[
    "accuracy",
    "miss_rate",
    "skip_rate",
    "mean_latency_s",
    "p95_latency_s",
    "mean_flops_per_step",
    "node_utilisation",
    "node_energy_j",
];

/// Value of `metric` in a run (focus stream or node row), if it applies.
pub fn metric(record: &RunRecord, metric: &str) -> Option<f64> {
    let stream = || -> Option<&SummaryRow> {
        let name = record.focus_stream.as_ref()?;
        record.summary.iter().find(|r| r.kind == "rnn_stream" && &r.process == name)
    };
    let node = || record.summary.iter().find(|r| r.kind == "node");
    match metric {
        "accuracy" => stream()?.accuracy,
        "miss_rate" => stream()?.miss_rate,
        "skip_rate" => stream()?.skip_rate,
        "mean_latency_s" => stream()?.mean_s,
        "p95_latency_s" => stream()?.p95_s,
        "mean_flops_per_step" => stream()?.mean_flops_per_step,
        "node_utilisation" => node().map(|r| r.utilisation),
        "node_energy_j" => node()?.energy_j,
        _ => None,
    }
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new())
}

fn finish(writer: csv::Writer<Vec<u8>>) -> Vec<u8> {
    writer.into_inner().expect("flushing to memory cannot fail")
}

/// Policy labels in order of first appearance.
fn policies(records: &[RunRecord]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in records {
        if !out.contains(&r.policy) {
            out.push(r.policy.clone());
        }
    }
    out
}

/// `runs.csv`: one row per run and summary row (stream, background process, node), with the grid
/// point, its axis values, offered load, replication and seed in front. The seed is written twice:
/// `seed` in decimal, and `seed_hex` as text that no CSV reader takes for a number (see
/// [`seed_hex`]), since readers that parse numbers as doubles (R's `read.csv`) round seeds above 2^53.
pub fn runs_csv(study: &Study, records: &[RunRecord]) -> Vec<u8> {
    let mut w = csv_writer();
    let mut header: Vec<String> =
        ["point", "point_label", "offered_load", "replication", "seed", "seed_hex", "run_policy"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    header.extend(study.axes.iter().map(|a| a.path.clone()));
    header.extend(crate::report::summary_columns().iter().map(|s| s.to_string()));
    w.write_record(&header).expect("in memory");
    for record in records {
        let point = &study.points[record.point];
        for row in &record.summary {
            w.write_field(record.point.to_string()).expect("in memory");
            w.write_field(&point.label).expect("in memory");
            w.write_field(point.scenario.offered_background_load().to_string()).expect("in memory");
            w.write_field(record.replication.to_string()).expect("in memory");
            w.write_field(record.seed.to_string()).expect("in memory");
            w.write_field(seed_hex(record.seed)).expect("in memory");
            w.write_field(&record.policy).expect("in memory");
            for (axis, &c) in study.axes.iter().zip(&point.coordinates) {
                w.write_field(compact(&axis.values[c])).expect("in memory");
            }
            w.serialize(row).expect("plain rows serialise");
        }
    }
    finish(w)
}

/// A seed as text no CSV reader converts to a number: `x` and 16 lowercase hex digits, e.g.
/// `x00000000000000ff` for 255. (A `0x` prefix or bare hex digits would not do: R reads `0x…` and
/// digit-only or `1e5`-like hex as numbers.)
pub fn seed_hex(seed: u64) -> String {
    format!("x{seed:016x}")
}

fn num(v: f64) -> String {
    if v.is_finite() {
        v.to_string()
    } else {
        String::new()
    }
}

/// Values of `metric` per replication for `policy` at `point` (replication order).
fn values(records: &[RunRecord], point: usize, policy: &str, name: &str) -> Vec<(usize, f64)> {
    records
        .iter()
        .filter(|r| r.point == point && r.policy == policy)
        .filter_map(|r| metric(r, name).filter(|v| v.is_finite()).map(|v| (r.replication, v)))
        .collect()
}

/// `summary.csv` (long form): per grid point, policy and metric the number of replications, the
/// mean and its 95% confidence interval.
pub fn summary_csv(study: &Study, records: &[RunRecord]) -> Vec<u8> {
    let mut w = csv_writer();
    w.write_record([
        "point",
        "point_label",
        "offered_load",
        "policy",
        "metric",
        "n",
        "mean",
        "ci_low",
        "ci_high",
        "half_width",
    ])
    .expect("in memory");
    for point in &study.points {
        for policy in policies(records) {
            if !records.iter().any(|r| r.point == point.index && r.policy == policy) {
                continue;
            }
            for name in METRICS {
                let v: Vec<f64> = values(records, point.index, &policy, name).into_iter().map(|(_, v)| v).collect();
                if v.is_empty() {
                    continue;
                }
                let e = estimate(&v);
                w.write_record([
                    point.index.to_string(),
                    point.label.clone(),
                    point.scenario.offered_background_load().to_string(),
                    policy.clone(),
                    name.to_string(),
                    e.n.to_string(),
                    num(e.mean),
                    num(e.low()),
                    num(e.high()),
                    num(e.half_width),
                ])
                .expect("in memory");
            }
        }
    }
    finish(w)
}

/// Paired differences `a − b` for every pair of policies (in order of appearance, `a` before `b`),
/// grid point and metric, over the replications where both have a value.
pub fn paired_differences(study: &Study, records: &[RunRecord]) -> Vec<PairedDifference> {
    let policies = policies(records);
    let mut out = Vec::new();
    for point in &study.points {
        for (i, a) in policies.iter().enumerate() {
            for b in &policies[i + 1..] {
                for name in METRICS {
                    let va = values(records, point.index, a, name);
                    let vb = values(records, point.index, b, name);
                    let diffs: Vec<f64> = va
                        .iter()
                        .filter_map(|(rep, x)| vb.iter().find(|(r, _)| r == rep).map(|(_, y)| x - y))
                        .collect();
                    if diffs.is_empty() {
                        continue;
                    }
                    out.push(PairedDifference {
                        point: point.index,
                        metric: name.to_string(),
                        policy_a: a.clone(),
                        policy_b: b.clone(),
                        difference: estimate(&diffs),
                    });
                }
            }
        }
    }
    out
}

/// `paired.csv`: the paired differences, with whether the 95% interval excludes zero.
pub fn paired_csv(study: &Study, paired: &[PairedDifference]) -> Vec<u8> {
    let mut w = csv_writer();
    w.write_record([
        "point",
        "point_label",
        "metric",
        "policy_a",
        "policy_b",
        "n",
        "mean_difference",
        "ci_low",
        "ci_high",
        "excludes_zero",
    ])
    .expect("in memory");
    for p in paired {
        let d = p.difference;
        let excludes = d.half_width.is_finite() && (d.low() > 0.0 || d.high() < 0.0);
        w.write_record([
            p.point.to_string(),
            study.points[p.point].label.clone(),
            p.metric.clone(),
            p.policy_a.clone(),
            p.policy_b.clone(),
            d.n.to_string(),
            num(d.mean),
            num(d.low()),
            num(d.high()),
            u8::from(excludes).to_string(),
        ])
        .expect("in memory");
    }
    finish(w)
}

/// The aggregated view of the study (for figures and the report).
pub fn view(study: &Study, records: &[RunRecord]) -> StudyView {
    let policies = policies(records);
    let points: Vec<PointInfo> = study
        .points
        .iter()
        .map(|p| PointInfo {
            index: p.index,
            label: p.label.clone(),
            series: study
                .axes
                .iter()
                .zip(&p.coordinates)
                .take(study.axes.len().saturating_sub(1))
                .map(|(a, &c)| format!("{}={}", a.path, compact(&a.values[c])))
                .collect::<Vec<_>>()
                .join(", "),
            load: p.scenario.offered_background_load(),
        })
        .collect();
    let mut cells = Vec::new();
    for point in &study.points {
        for policy in &policies {
            if !records.iter().any(|r| r.point == point.index && r.policy == *policy) {
                continue;
            }
            let e = |name: &str| {
                estimate(&values(records, point.index, policy, name).into_iter().map(|(_, v)| v).collect::<Vec<_>>())
            };
            let energy = e("node_energy_j");
            cells.push(CellSummary {
                point: point.index,
                policy: policy.clone(),
                accuracy: e("accuracy"),
                miss_rate: e("miss_rate"),
                mean_flops_per_step: e("mean_flops_per_step"),
                mean_latency_s: e("mean_latency_s"),
                energy_j: (energy.n > 0).then_some(energy),
            });
        }
    }
    let focus = study.focus_point;
    fn at_focus<'a>(records: &'a [RunRecord], focus: usize, policy: &'a str) -> impl Iterator<Item = &'a RunRecord> {
        records.iter().filter(move |r| r.point == focus && r.policy == policy)
    }
    let latency = policies
        .iter()
        .map(|policy| {
            let mut total: Option<LatencyHistogram> = None;
            for h in at_focus(records, focus, policy).filter_map(|r| r.latency.as_ref()) {
                match &mut total {
                    None => total = Some(h.clone()),
                    Some(t) => {
                        t.counts.iter_mut().zip(&h.counts).for_each(|(a, b)| *a += b);
                        t.not_completed += h.not_completed;
                    }
                }
            }
            total.unwrap_or(LatencyHistogram {
                upper_edges_s: super::run::latency_edges(),
                counts: vec![0; super::run::latency_edges().len()],
                not_completed: 0,
            })
        })
        .collect();
    let shares = policies
        .iter()
        .map(|policy| {
            let mut total: Option<SettingShare> = None;
            for s in at_focus(records, focus, policy).filter_map(|r| r.shares.as_ref()) {
                match &mut total {
                    None => total = Some(s.clone()),
                    Some(t) => t
                        .counts
                        .iter_mut()
                        .zip(&s.counts)
                        .for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(x, y)| *x += y)),
                }
            }
            total.unwrap_or(SettingShare { bin_s: 0.0, settings: Vec::new(), counts: Vec::new() })
        })
        .collect();
    StudyView {
        name: study.name.clone(),
        points,
        policies,
        cells,
        focus_point: focus,
        latency,
        shares,
        paired: paired_differences(study, records),
        replications: study.replications,
        study_text: study.text.clone(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        deadline_s: study.points.iter().find(|p| p.index == focus).and_then(|point| {
            let stream = super::run::focus_stream(&point.scenario)?;
            point.scenario.streams().nth(stream).map(|s| s.spec.deadline.as_secs_f64())
        }),
    }
}

/// A policy label for tables and legends: the oracle is marked as the upper bound it is.
pub fn display_policy(label: &str) -> String {
    if label.starts_with("oracle") {
        format!("{label} (upper bound)")
    } else {
        label.to_string()
    }
}

/// A short Markdown table of the main metrics (mean ± 95% CI half-width), for the terminal.
pub fn summary_markdown(view: &StudyView) -> String {
    let pm = |e: &Estimate, scale: f64, digits: usize| {
        if e.half_width.is_finite() {
            format!("{:.digits$} ± {:.digits$}", e.mean * scale, e.half_width * scale)
        } else {
            format!("{:.digits$}", e.mean * scale)
        }
    };
    let mut out = String::from(
        "| point | offered load | policy | accuracy (%) | miss rate (%) | kFLOP/step | mean latency (ms) | energy (J) |\n|---|---:|---|---:|---:|---:|---:|---:|\n",
    );
    for c in &view.cells {
        let p = &view.points[c.point];
        out.push_str(&format!(
            "| {} {} | {:.0}% | {} | {} | {} | {} | {} | {} |\n",
            p.index,
            p.label,
            p.load * 100.0,
            display_policy(&c.policy),
            pm(&c.accuracy, 100.0, 1),
            pm(&c.miss_rate, 100.0, 1),
            pm(&c.mean_flops_per_step, 1e-3, 1),
            pm(&c.mean_latency_s, 1e3, 2),
            c.energy_j.as_ref().map_or_else(|| "–".into(), |e| pm(e, 1.0, 1)),
        ));
    }
    out
}

/// Every aggregate file of a study (relative paths), deterministic in content and order.
///
/// # Errors
/// [`crate::report::plots::PlotError`] if a figure cannot be drawn.
pub fn study_files(
    study: &Study,
    records: &[RunRecord],
) -> Result<Vec<(PathBuf, Vec<u8>)>, crate::report::plots::PlotError> {
    let view = view(study, records);
    let mut files: Vec<(PathBuf, Vec<u8>)> = vec![
        ("runs.csv".into(), runs_csv(study, records)),
        ("summary.csv".into(), summary_csv(study, records)),
        ("paired.csv".into(), paired_csv(study, &view.paired)),
        ("summary.md".into(), summary_markdown(&view).into_bytes()),
        ("view.json".into(), serde_json::to_vec_pretty(&view).expect("views serialise")),
        ("study.yaml".into(), study.text.clone().into_bytes()),
    ];
    files.extend(super::figures_and_report(&view)?);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 10, 5: seeds above 2^53 lost precision in R (`read.csv` reads `seed` as a double), and in
    /// pandas once a column of them holds a missing value (after a merge, say: float64).
    #[test]
    fn seeds_above_2_pow_53_survive_as_text_no_reader_takes_for_a_number() {
        let seed = (1u64 << 53) + 1; // 9007199254740993: the nearest double is 9007199254740992
        assert_eq!(seed as f64 as u64, seed - 1, "what a double keeps of `seed`");
        assert_eq!(seed_hex(seed), "x0020000000000001");
        assert_eq!(seed_hex(255), "x00000000000000ff");
        assert_eq!(seed_hex(u64::MAX), "xffffffffffffffff");
        for s in [seed, 255, u64::MAX, 0, 10_000_000_000_000_000_000] {
            let text = seed_hex(s);
            assert!(text.parse::<f64>().is_err() && text.starts_with('x'), "{text} is not a number");
            assert_eq!(u64::from_str_radix(&text[1..], 16).unwrap(), s, "{text} reads back exactly");
        }
    }

    #[test]
    fn estimate_matches_a_hand_computed_t_interval() {
        // 1..5: mean 3, s = √2.5, t(0.975, 4) = 2.776445; half-width = 2.776445 · √2.5 / √5 = 1.963243.
        let e = estimate(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!((e.mean, e.n), (3.0, 5));
        assert!((e.half_width - 1.963_243).abs() < 1e-5, "{}", e.half_width);
        // Two values 0 and 1: t(0.975, 1) = 12.7062, s = 0.7071, half-width = 12.7062 · 0.5 = 6.3531.
        assert!((estimate(&[0.0, 1.0]).half_width - 6.353_102).abs() < 1e-5);
        let one = estimate(&[4.0]);
        assert_eq!((one.mean, one.n), (4.0, 1));
        assert!(one.half_width.is_nan());
    }
}
