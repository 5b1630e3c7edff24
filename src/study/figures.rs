//! The figures of a policy-comparison study, drawn from its [`StudyView`]: SVG, PNG and the data of
//! each figure as a tidy CSV, so that users can re-plot it with their own tools.
//!
//! Every figure is drawn at two print widths and written as SVG, PDF and PNG (300 dpi) at each
//! ([`crate::report::plots::paper_files`]): `<name>.*` for one paper column (3.5 in, PNG 1050 px
//! wide) and `<name>-wide.*` for two (7 in, PNG 2100 px); text is 9–10 SVG px (about 7 pt) at
//! both. Policies keep one colour ([`crate::report::plots::PALETTE`]: Okabe–Ito, then Paul Tol's
//! muted for the ninth to twelfth), one marker shape and, from the ninth on, one dash pattern in
//! every figure; legends sit above the plot. Intervals are the view's 95% confidence intervals; an
//! estimate over fewer than two replications has none and is drawn without a bar.
//!
//! | file stem | shows |
//! |---|---|
//! | `miss_rate_vs_load` | deadline-miss rate against offered background load, a line per policy |
//! | `accuracy_vs_flops` | accuracy against mean FLOPs per step, a marker per (point, policy), the Pareto front |
//! | `latency_cdf` | the distribution of step latency per policy at the focus point |
//! | `setting_share` | the share of steps run in each setting over time, a panel per policy |
//! | `energy_vs_accuracy` | node energy against accuracy (only when the runs have a power model) |

use std::ops::Range;
use std::path::PathBuf;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;

use super::view::{CellSummary, Estimate, LatencyHistogram, SettingShare, StudyView};
use crate::report::plots::{
    draw_deadline, draw_legend, draw_marker, draw_series_line, err, fit_caption, legend_layout, paper_files,
    paper_mesh, register_fonts, render_svg, series_colour, series_dash, short_number, LegendEntry, PlotError, Scale,
    Swatch, PANEL_FONT, SHAPES,
};

/// Height of the plotting area of a single-panel figure (below its legend), SVG pixels, by figure
/// width (the wide figure a little taller, not twice).
fn plot_height(width: u32) -> u32 {
    if width < 500 {
        250
    } else {
        320
    }
}

/// The figures of a study and their data: `figures/<name>.svg`, `.pdf` and `.png` (one column),
/// `figures/<name>-wide.svg`, `.pdf` and `.png` (two columns) and `figures/<name>.csv` for each
/// figure, in a fixed order (see the module documentation), as paths relative to the study's output
/// folder and file contents. `energy_vs_accuracy` is left out when no
/// cell of the view has an energy estimate.
///
/// Degenerate views (one point, one replication, zero FLOPs, empty histograms) give figures with
/// fewer marks, never an error.
///
/// # Errors
/// [`PlotError`] if a figure cannot be drawn (a bug: the sizes are fixed and the font is embedded).
pub fn study_figures(view: &StudyView) -> Result<Vec<(PathBuf, Vec<u8>)>, PlotError> {
    register_fonts();
    let mut files = Vec::new();
    let mut push = |name: &str, draw: &dyn Fn(&StudyView, u32) -> Result<String, PlotError>, csv: Vec<u8>| {
        for (file, bytes) in paper_files(name, |width| draw(view, width))? {
            files.push((PathBuf::from("figures").join(file), bytes));
        }
        files.push((PathBuf::from(format!("figures/{name}.csv")), csv));
        Ok::<(), PlotError>(())
    };
    push("miss_rate_vs_load", &miss_rate_vs_load, miss_rate_vs_load_csv(view))?;
    push("accuracy_vs_flops", &accuracy_vs_flops, accuracy_vs_flops_csv(view))?;
    push("latency_cdf", &latency_cdf, latency_cdf_csv(view))?;
    push("setting_share", &setting_share, setting_share_csv(view))?;
    if view.cells.iter().any(|c| c.energy_j.is_some()) {
        push("energy_vs_accuracy", &energy_vs_accuracy, energy_vs_accuracy_csv(view))?;
    }
    Ok(files)
}

// ---------------------------------------------------------------------------------------------
// Data shared by figures and CSVs

/// A cell's policy index in `view.policies` (colour and marker), `None` for an unknown label.
fn policy_index(view: &StudyView, policy: &str) -> Option<usize> {
    view.policies.iter().position(|p| p == policy)
}

/// Offered background load of a cell's grid point, percent (`NaN` for an unknown point).
fn load_pct(view: &StudyView, point: usize) -> f64 {
    view.points.iter().find(|p| p.index == point).map_or(f64::NAN, |p| p.load * 100.0)
}

fn point_label(view: &StudyView, point: usize) -> &str {
    view.points.iter().find(|p| p.index == point).map_or("", |p| p.label.as_str())
}

/// An estimate in other units: mean and the interval's ends (`None` when there is no interval).
#[derive(Debug, Clone, Copy)]
struct Scaled {
    mean: f64,
    interval: Option<(f64, f64)>,
}

fn scaled(estimate: &Estimate, factor: f64) -> Scaled {
    let interval = (estimate.half_width.is_finite() && estimate.mean.is_finite())
        .then(|| (estimate.low() * factor, estimate.high() * factor));
    Scaled { mean: estimate.mean * factor, interval }
}

impl Scaled {
    fn low(&self) -> f64 {
        self.interval.map_or(self.mean, |i| i.0)
    }
    fn high(&self) -> f64 {
        self.interval.map_or(self.mean, |i| i.1)
    }
}

/// Indices of the cells of `view` that are on the Pareto front of (max accuracy, min FLOPs): no
/// other cell has at most its FLOPs and at least its accuracy, one of them strictly. Cells with a
/// non-finite mean are never on the front.
pub(crate) fn pareto_front(view: &StudyView) -> Vec<bool> {
    let key = |c: &CellSummary| (c.mean_flops_per_step.mean, c.accuracy.mean);
    view.cells
        .iter()
        .map(|cell| {
            let (f, a) = key(cell);
            f.is_finite()
                && a.is_finite()
                && !view.cells.iter().any(|other| {
                    let (of, oa) = key(other);
                    of.is_finite() && oa.is_finite() && of <= f && oa >= a && (of < f || oa > a)
                })
        })
        .collect()
}

/// Cumulative distribution of one latency histogram: `(upper edge in ms, share of all frames with a
/// latency at most the edge)`, frames that never completed counting as ∞ (so the last share is
/// below 1 when some never completed). Edges that are not positive and finite are merged into the
/// next bin (they cannot be drawn on a log axis). Empty when no frame was recorded.
fn cdf_points(histogram: &LatencyHistogram) -> Vec<(f64, f64)> {
    let total: u64 = histogram.counts.iter().sum::<u64>() + histogram.not_completed;
    if total == 0 {
        return Vec::new();
    }
    // Only the bins from the one before the first non-empty bin to the last non-empty one, so the
    // axis spans the data rather than the histogram's whole 1 µs – 1000 s range.
    let Some(first) = histogram.counts.iter().position(|&c| c > 0) else { return Vec::new() };
    let last = histogram.counts.iter().rposition(|&c| c > 0).unwrap_or(first);
    let mut cumulative = 0u64;
    let mut points = Vec::new();
    for (i, (edge, count)) in histogram.upper_edges_s.iter().zip(&histogram.counts).enumerate() {
        cumulative += count;
        if i + 1 >= first && i <= last && edge.is_finite() && *edge > 0.0 {
            points.push((edge * 1e3, cumulative as f64 / total as f64));
        }
    }
    points
}

/// Settings (models) of every policy's share, in order of first appearance.
fn all_settings(shares: &[SettingShare]) -> Vec<String> {
    let mut settings: Vec<String> = Vec::new();
    for share in shares {
        for setting in &share.settings {
            if !settings.contains(setting) {
                settings.push(setting.clone());
            }
        }
    }
    settings
}

// ---------------------------------------------------------------------------------------------
// CSVs

/// A number for a CSV: rounded to 13 significant digits (so that 0.1 · 100 is written `10`), empty
/// when not finite.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let rounded: f64 = format!("{v:.12e}").parse().unwrap_or(v);
    format!("{rounded}")
}

fn interval_fields(s: &Scaled) -> [String; 2] {
    match s.interval {
        Some((low, high)) => [num(low), num(high)],
        None => [String::new(), String::new()],
    }
}

fn csv_from_rows(header: &[&str], rows: Vec<Vec<String>>) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header).expect("writing to memory cannot fail");
    for row in rows {
        writer.write_record(&row).expect("writing to memory cannot fail");
    }
    writer.into_inner().expect("flushing to memory cannot fail")
}

/// Cells in drawing order: by policy (view order), then by load, then by point index.
fn cells_by_policy_and_load(view: &StudyView) -> Vec<&CellSummary> {
    let mut cells: Vec<&CellSummary> = view.cells.iter().collect();
    cells.sort_by(|a, b| {
        let pa = policy_index(view, &a.policy).unwrap_or(usize::MAX);
        let pb = policy_index(view, &b.policy).unwrap_or(usize::MAX);
        pa.cmp(&pb)
            .then(load_pct(view, a.point).total_cmp(&load_pct(view, b.point)))
            .then(a.point.cmp(&b.point))
            .then(a.policy.cmp(&b.policy))
    });
    cells
}

/// The columns every per-cell figure CSV starts with: point, point label, offered load (%), policy.
fn cell_fields(view: &StudyView, c: &CellSummary) -> [String; 4] {
    [c.point.to_string(), point_label(view, c.point).to_string(), num(load_pct(view, c.point)), c.policy.clone()]
}

fn miss_rate_vs_load_csv(view: &StudyView) -> Vec<u8> {
    let rows = cells_by_policy_and_load(view)
        .into_iter()
        .map(|c| {
            let miss = scaled(&c.miss_rate, 100.0);
            let [low, high] = interval_fields(&miss);
            cell_fields(view, c)
                .into_iter()
                .chain([num(miss.mean), low, high, c.miss_rate.n.to_string()])
                .collect::<Vec<_>>()
        })
        .collect();
    csv_from_rows(
        &[
            "point",
            "point_label",
            "offered_load_pct",
            "policy",
            "miss_rate_pct",
            "miss_rate_ci95_low_pct",
            "miss_rate_ci95_high_pct",
            "replications",
        ],
        rows,
    )
}

fn accuracy_vs_flops_csv(view: &StudyView) -> Vec<u8> {
    let front = pareto_front(view);
    let rows = view
        .cells
        .iter()
        .zip(&front)
        .map(|(c, on_front)| {
            let flops = scaled(&c.mean_flops_per_step, 1e-3);
            let accuracy = scaled(&c.accuracy, 100.0);
            let [f_low, f_high] = interval_fields(&flops);
            let [a_low, a_high] = interval_fields(&accuracy);
            cell_fields(view, c)
                .into_iter()
                .chain([
                    num(flops.mean),
                    f_low,
                    f_high,
                    num(accuracy.mean),
                    a_low,
                    a_high,
                    c.accuracy.n.to_string(),
                    on_front.to_string(),
                ])
                .collect::<Vec<_>>()
        })
        .collect();
    csv_from_rows(
        &[
            "point",
            "point_label",
            "offered_load_pct",
            "policy",
            "kflop_per_step",
            "kflop_per_step_ci95_low",
            "kflop_per_step_ci95_high",
            "accuracy_pct",
            "accuracy_ci95_low_pct",
            "accuracy_ci95_high_pct",
            "replications",
            "pareto_front",
        ],
        rows,
    )
}

fn latency_cdf_csv(view: &StudyView) -> Vec<u8> {
    let mut rows = Vec::new();
    for (policy, histogram) in view.policies.iter().zip(&view.latency) {
        let total: u64 = histogram.counts.iter().sum::<u64>() + histogram.not_completed;
        let mut cumulative = 0u64;
        let share = |c: u64| if total == 0 { String::new() } else { num(c as f64 / total as f64) };
        for (edge, count) in histogram.upper_edges_s.iter().zip(&histogram.counts) {
            cumulative += count;
            rows.push(vec![
                view.focus_point.to_string(),
                policy.clone(),
                num(edge * 1e3),
                count.to_string(),
                share(cumulative),
            ]);
        }
        rows.push(vec![
            view.focus_point.to_string(),
            policy.clone(),
            "inf".to_string(),
            histogram.not_completed.to_string(),
            share(cumulative + histogram.not_completed),
        ]);
    }
    csv_from_rows(&["point", "policy", "latency_upper_edge_ms", "steps", "cumulative_share"], rows)
}

fn setting_share_csv(view: &StudyView) -> Vec<u8> {
    let mut rows = Vec::new();
    for (policy, share) in view.policies.iter().zip(&view.shares) {
        for (bin, counts) in share.counts.iter().enumerate() {
            let total: u64 = counts.iter().sum();
            for (setting, count) in share.settings.iter().zip(counts) {
                rows.push(vec![
                    view.focus_point.to_string(),
                    policy.clone(),
                    num(bin as f64 * share.bin_s),
                    num((bin + 1) as f64 * share.bin_s),
                    setting.clone(),
                    count.to_string(),
                    if total == 0 { String::new() } else { num(*count as f64 / total as f64 * 100.0) },
                ]);
            }
        }
    }
    csv_from_rows(&["point", "policy", "time_start_s", "time_end_s", "setting", "steps", "share_of_steps_pct"], rows)
}

fn energy_vs_accuracy_csv(view: &StudyView) -> Vec<u8> {
    let rows = cells_by_policy_and_load(view)
        .into_iter()
        .filter_map(|c| {
            let energy = scaled(c.energy_j.as_ref()?, 1.0);
            let accuracy = scaled(&c.accuracy, 100.0);
            let [a_low, a_high] = interval_fields(&accuracy);
            let [e_low, e_high] = interval_fields(&energy);
            Some(
                cell_fields(view, c)
                    .into_iter()
                    .chain([
                        num(accuracy.mean),
                        a_low,
                        a_high,
                        num(energy.mean),
                        e_low,
                        e_high,
                        c.accuracy.n.to_string(),
                    ])
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    csv_from_rows(
        &[
            "point",
            "point_label",
            "offered_load_pct",
            "policy",
            "accuracy_pct",
            "accuracy_ci95_low_pct",
            "accuracy_ci95_high_pct",
            "energy_j",
            "energy_ci95_low_j",
            "energy_ci95_high_j",
            "replications",
        ],
        rows,
    )
}

// ---------------------------------------------------------------------------------------------
// Drawing helpers

/// A policy's colour, dash pattern and marker shape, the same in every figure.
fn policy_colour(index: usize) -> RGBColor {
    series_colour(index)
}

fn policy_shape(index: usize) -> usize {
    index % SHAPES
}

/// Draws error bars around `(x, y)` in data coordinates: a line per interval with end caps.
fn draw_error_bars<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    area: &DrawingArea<DB, CT>,
    x: &Scaled,
    y: &Scaled,
    colour: RGBColor,
    s: Scale,
) -> Result<(), String> {
    let style = s.stroke(colour, 1.0);
    let cap = s.i(2.5);
    if let Some((low, high)) = y.interval {
        area.draw(&PathElement::new(vec![(x.mean, low), (x.mean, high)], style)).map_err(err)?;
        for end in [low, high] {
            area.draw(&(EmptyElement::at((x.mean, end)) + PathElement::new(vec![(-cap, 0), (cap, 0)], style)))
                .map_err(err)?;
        }
    }
    if let Some((low, high)) = x.interval {
        area.draw(&PathElement::new(vec![(low, y.mean), (high, y.mean)], style)).map_err(err)?;
        for end in [low, high] {
            area.draw(&(EmptyElement::at((end, y.mean)) + PathElement::new(vec![(0, -cap), (0, cap)], style)))
                .map_err(err)?;
        }
    }
    Ok(())
}

/// An axis range covering `values` (non-finite ones ignored) with 6% padding on each side, clamped
/// to `[floor, ceil]` and then widened by 2% so that marks on a clamp stay whole; `fallback` when
/// there is no finite value; a single value gets a range of ±10% of it (at least ±1).
fn padded_range(values: impl IntoIterator<Item = f64>, floor: f64, ceil: f64, fallback: Range<f64>) -> Range<f64> {
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        low = low.min(v);
        high = high.max(v);
    }
    if !low.is_finite() {
        return fallback;
    }
    let span = high - low;
    let pad = if span > 0.0 { span * 0.06 } else { (low.abs() * 0.1).max(1.0) };
    let (mut low, mut high) = ((low - pad).max(floor), (high + pad).min(ceil));
    if high <= low {
        // Everything sits on a clamp: open the range away from it.
        if low <= floor {
            high = low + pad.max(1.0);
        } else {
            low = high - pad.max(1.0);
        }
    }
    // A sliver beyond a clamp, so that markers on it are not cut in half by the axis.
    let sliver = (high - low) * 0.02;
    (low - sliver)..(high + sliver)
}

/// Decimals that tick labels of `range` need (about six ticks).
fn tick_decimals(range: &Range<f64>) -> usize {
    let step = (range.end - range.start) / 6.0;
    if !(step.is_finite() && step > 0.0) {
        return 1;
    }
    (-step.log10().floor()).clamp(0.0, 6.0) as usize
}

/// A tick label on a log axis: only at 1, 2 and 5 × 10^k (the other ticks stay unlabelled), up to
/// three significant digits, no trailing zeros.
fn log_tick(v: f64) -> String {
    if v <= 0.0 || !v.is_finite() {
        return String::new();
    }
    let mantissa = v / 10f64.powf(v.log10().floor());
    if ![1.0, 2.0, 5.0, 10.0].iter().any(|m| (mantissa - m).abs() < 1e-6 * m) {
        return String::new();
    }
    let decimals = (2.0 - v.log10().floor()).clamp(0.0, 9.0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// The values m × 10^k (m in `mantissas`) inside `range`, ascending.
fn log_ticks(range: &Range<f64>, mantissas: &[f64]) -> Vec<f64> {
    let mut ticks = Vec::new();
    if !(range.start > 0.0 && range.end > range.start && range.end.is_finite()) {
        return ticks;
    }
    let first = range.start.log10().floor() as i32;
    let last = range.end.log10().ceil() as i32;
    for exponent in first..=last {
        for m in mantissas {
            // Parse the decimal text so that 2 × 10^-1 is exactly 0.2.
            let v: f64 = format!("{m}e{exponent}").parse().unwrap_or(f64::NAN);
            if range.contains(&v) {
                ticks.push(v);
            }
        }
    }
    ticks
}

type LinearChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Axis descriptions and label-area sizes of one chart.
struct Axes<'t> {
    x_desc: &'t str,
    y_desc: &'t str,
    x_area: f64,
    y_area: f64,
}

/// A linear chart with a light grid, ticks and axis descriptions.
fn linear_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    s: Scale,
    x: Range<f64>,
    y: Range<f64>,
    axes: &Axes,
    caption: Option<&str>,
) -> Result<LinearChart<'a, DB>, String> {
    let (x_decimals, y_decimals) = (tick_decimals(&x), tick_decimals(&y));
    let mut builder = ChartBuilder::on(area);
    builder
        .margin_top(s.px(4.0))
        .margin_right(s.px(10.0))
        .margin_left(s.px(2.0))
        .margin_bottom(s.px(2.0))
        .x_label_area_size(s.px(axes.x_area))
        .y_label_area_size(s.px(axes.y_area));
    if let Some(caption) = caption {
        builder.caption(fit_caption(caption, f64::from(area.dim_in_pixel().0) / s.0 - 6.0), s.font(PANEL_FONT));
    }
    let mut chart = builder.build_cartesian_2d(x, y).map_err(err)?;
    paper_mesh(
        chart
            .configure_mesh()
            .x_desc(axes.x_desc)
            .y_desc(axes.y_desc)
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|v| format!("{v:.x_decimals$}"))
            .y_label_formatter(&|v| format!("{v:.y_decimals$}")),
        s,
    )
    .axis_style(BLACK.stroke_width(s.px(1.0).max(1)))
    .draw()
    .map_err(err)?;
    Ok(chart)
}

fn policy_legend(view: &StudyView, with_line: bool) -> Vec<LegendEntry> {
    view.policies
        .iter()
        .enumerate()
        .map(|(i, label)| LegendEntry {
            label: super::aggregate::display_policy(label),
            swatch: if with_line {
                Swatch::MarkerLine(policy_shape(i), policy_colour(i), series_dash(i))
            } else {
                Swatch::Marker(policy_shape(i), policy_colour(i))
            },
        })
        .collect()
}

/// Draws a policy's markers (with error bars) on a linear chart.
fn draw_cells<DB: DrawingBackend>(
    chart: &mut LinearChart<DB>,
    s: Scale,
    policy: usize,
    points: &[(Scaled, Scaled)],
) -> Result<(), String> {
    let colour = policy_colour(policy);
    let area = chart.plotting_area();
    for (x, y) in points {
        draw_error_bars(area, x, y, colour, s)?;
    }
    for (x, y) in points {
        draw_marker(area, policy_shape(policy), (x.mean, y.mean), s.i(3.0), colour, s)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Figures

fn miss_rate_vs_load(view: &StudyView, width: u32) -> Result<String, PlotError> {
    let entries = policy_legend(view, true);
    let layout = legend_layout(&entries, width);
    let cells = cells_by_policy_and_load(view);
    let x_range = padded_range(cells.iter().map(|c| load_pct(view, c.point)), 0.0, f64::INFINITY, 0.0..100.0);
    let y_top = cells
        .iter()
        .map(|c| scaled(&c.miss_rate, 100.0).high())
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max)
        .min(100.0);
    // A little room below 0 so that markers at 0 are not hidden by the axis.
    let y_range = (-y_top * 0.03)..(y_top * 1.08);
    // Policies are offset slightly along x so that their error bars do not hide each other.
    let k = view.policies.len().max(1) as f64;
    let dodge = (x_range.end - x_range.start) * 0.008;
    // Per policy: (x, y, the point's `series`) of each cell.
    type Cells<'v> = Vec<(Scaled, Scaled, &'v str)>;
    let series: Vec<(usize, Cells)> = (0..view.policies.len())
        .map(|i| {
            let offset = (i as f64 - (k - 1.0) / 2.0) * dodge;
            let points = cells
                .iter()
                .filter(|c| policy_index(view, &c.policy) == Some(i))
                .map(|c| {
                    (
                        Scaled { mean: load_pct(view, c.point) + offset, interval: None },
                        scaled(&c.miss_rate, 100.0),
                        view.points.get(c.point).map_or("", |p| p.series.as_str()),
                    )
                })
                .filter(|(x, y, _)| x.mean.is_finite() && y.mean.is_finite())
                .collect();
            (i, points)
        })
        .collect();
    let axes = Axes {
        x_desc: "offered background load (% of capacity)",
        y_desc: "deadline-miss rate (%)",
        x_area: 30.0,
        y_area: 40.0,
    };
    let height = layout.height() + plot_height(width);
    Ok(render_svg!("miss_rate_vs_load", (width, height), |root, scale| {
        let s = Scale(scale);
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically(s.px(f64::from(layout.height())));
        draw_legend(&top, s, &entries, &layout)?;
        let mut chart = linear_chart(&body, s, x_range.clone(), y_range.clone(), &axes, None)?;
        for (i, points) in &series {
            // One line per value of the other axes (`PointInfo::series`), so that points differing
            // in, say, the number of cores are not joined.
            let mut groups: Vec<&str> = Vec::new();
            for (_, _, group) in points {
                if !groups.contains(group) {
                    groups.push(group);
                }
            }
            for group in groups {
                let line: Vec<(f64, f64)> =
                    points.iter().filter(|(_, _, g)| *g == group).map(|(x, y, _)| (x.mean, y.mean)).collect();
                draw_series_line(&mut chart, s, *i, line)?;
            }
            let cells: Vec<(Scaled, Scaled)> = points.iter().map(|(x, y, _)| (*x, *y)).collect();
            draw_cells(&mut chart, s, *i, &cells)?;
        }
        Ok(())
    }))
}

fn accuracy_vs_flops(view: &StudyView, width: u32) -> Result<String, PlotError> {
    let mut entries = policy_legend(view, false);
    entries.push(LegendEntry {
        label: "Pareto front (max accuracy, min FLOPs)".into(),
        swatch: Swatch::Line(BLACK, Some((5, 3)), 1.2),
    });
    let layout = legend_layout(&entries, width);
    let points: Vec<(usize, Scaled, Scaled)> = view
        .cells
        .iter()
        .filter_map(|c| {
            let x = scaled(&c.mean_flops_per_step, 1e-3);
            let y = scaled(&c.accuracy, 100.0);
            (x.mean.is_finite() && y.mean.is_finite()).then_some((policy_index(view, &c.policy)?, x, y))
        })
        .collect();
    let x_range = padded_range(points.iter().flat_map(|(_, x, _)| [x.low(), x.high()]), 0.0, f64::INFINITY, 0.0..1.0);
    let y_range = padded_range(points.iter().flat_map(|(_, _, y)| [y.low(), y.high()]), 0.0, 100.0, 0.0..100.0);
    let mut front: Vec<(f64, f64)> = view
        .cells
        .iter()
        .zip(pareto_front(view))
        .filter(|(_, on)| *on)
        .map(|(c, _)| (c.mean_flops_per_step.mean * 1e-3, c.accuracy.mean * 100.0))
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    // The best accuracy reachable with at most x FLOPs: a step up at every front member.
    let mut steps: Vec<(f64, f64)> = Vec::new();
    for (f, a) in &front {
        if let Some(&(_, previous)) = steps.last() {
            steps.push((*f, previous));
        }
        steps.push((*f, *a));
    }
    if let Some(&(_, last)) = steps.last() {
        steps.push((x_range.end, last));
    }
    let axes = Axes { x_desc: "mean compute per step (kFLOP)", y_desc: "accuracy (%)", x_area: 30.0, y_area: 40.0 };
    let height = layout.height() + plot_height(width);
    Ok(render_svg!("accuracy_vs_flops", (width, height), |root, scale| {
        let s = Scale(scale);
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically(s.px(f64::from(layout.height())));
        draw_legend(&top, s, &entries, &layout)?;
        let mut chart = linear_chart(&body, s, x_range.clone(), y_range.clone(), &axes, None)?;
        chart
            .draw_series(DashedLineSeries::new(steps.iter().copied(), s.px(5.0), s.px(3.0), s.stroke(BLACK, 1.2)))
            .map_err(err)?;
        for i in 0..view.policies.len() {
            let mine: Vec<(Scaled, Scaled)> =
                points.iter().filter(|(p, _, _)| *p == i).map(|(_, x, y)| (*x, *y)).collect();
            draw_cells(&mut chart, s, i, &mine)?;
        }
        Ok(())
    }))
}

fn latency_cdf(view: &StudyView, width: u32) -> Result<String, PlotError> {
    let curves: Vec<(usize, Vec<(f64, f64)>)> =
        view.latency.iter().take(view.policies.len()).map(cdf_points).enumerate().collect();
    // Policies without frames at the focus point (absent there) are left out.
    let mut entries: Vec<LegendEntry> = view
        .policies
        .iter()
        .enumerate()
        .filter_map(|(i, label)| {
            let histogram = view.latency.get(i);
            let total = histogram.map_or(0, |h| h.counts.iter().sum::<u64>() + h.not_completed);
            let label = super::aggregate::display_policy(label);
            let label = match histogram {
                Some(h) if total > 0 && h.not_completed > 0 => {
                    format!("{label} ({:.1}% never completed)", h.not_completed as f64 / total as f64 * 100.0)
                }
                Some(_) if total > 0 => label,
                _ => return None,
            };
            Some(LegendEntry { label, swatch: Swatch::Line(policy_colour(i), series_dash(i), 1.5) })
        })
        .collect();
    let deadline_ms = view.deadline_s.map(|d| d * 1e3).filter(|d| d.is_finite() && *d > 0.0);
    if let Some(d) = deadline_ms {
        entries.push(LegendEntry {
            label: format!("deadline ({} ms)", short_number(d)),
            swatch: Swatch::Line(BLACK, Some((4, 3)), 1.0),
        });
    }
    let layout = legend_layout(&entries, width);
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    for (_, curve) in &curves {
        for (x, _) in curve {
            low = low.min(*x);
            high = high.max(*x);
        }
    }
    // The deadline stays in view.
    if let Some(d) = deadline_ms {
        low = low.min(d);
        high = high.max(d);
    }
    let x_range = if low.is_finite() {
        let (low, high) = if high > low { (low, high) } else { (low / 10.0, high * 10.0) };
        low / 1.3..high * 1.3
    } else {
        0.1..100.0
    };
    let height = layout.height() + plot_height(width);
    Ok(render_svg!("latency_cdf", (width, height), |root, scale| {
        let s = Scale(scale);
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically(s.px(f64::from(layout.height())));
        draw_legend(&top, s, &entries, &layout)?;
        let mut chart = ChartBuilder::on(&body)
            .margin_top(s.px(4.0))
            .margin_right(s.px(10.0))
            .margin_left(s.px(2.0))
            .margin_bottom(s.px(2.0))
            .x_label_area_size(s.px(30.0))
            .y_label_area_size(s.px(40.0))
            .build_cartesian_2d(
                x_range.clone().log_scale().with_key_points(log_ticks(
                    &x_range,
                    if x_range.end / x_range.start > 2000.0 { &[1.0] } else { &[1.0, 2.0, 5.0] },
                )),
                0f64..100.0,
            )
            .map_err(err)?;
        paper_mesh(
            chart
                .configure_mesh()
                .x_desc("step latency, release to end (ms, log scale)")
                .y_desc("frames with latency ≤ x (%)")
                .y_labels(6)
                .x_label_formatter(&|v| log_tick(*v))
                .y_label_formatter(&|v| format!("{v:.0}")),
            s,
        )
        .axis_style(BLACK.stroke_width(s.px(1.0).max(1)))
        .draw()
        .map_err(err)?;
        for (i, curve) in &curves {
            let points: Vec<(f64, f64)> = curve.iter().map(|(x, y)| (*x, y * 100.0)).collect();
            draw_series_line(&mut chart, s, *i, points)?;
        }
        if let Some(d) = deadline_ms {
            draw_deadline(&mut chart, s, d, 100.0)?;
        }
        Ok(())
    }))
}

fn setting_share(view: &StudyView, width: u32) -> Result<String, PlotError> {
    let settings = all_settings(&view.shares);
    let entries: Vec<LegendEntry> = settings
        .iter()
        .enumerate()
        .map(|(j, name)| LegendEntry { label: name.clone(), swatch: Swatch::Block(series_colour(j)) })
        .collect();
    let layout = legend_layout(&entries, width);
    // One panel per policy that ran at the focus point.
    let present: Vec<usize> = (0..view.policies.len())
        .filter(|&i| view.shares.get(i).is_some_and(|share| share.counts.iter().flatten().any(|&c| c > 0)))
        .collect();
    let present = if present.is_empty() { (0..view.policies.len()).collect() } else { present };
    let panels = present.len().max(1);
    let columns = if panels <= 2 { 1 } else { 2 };
    let rows = panels.div_ceil(columns);
    let panel_height: u32 = if columns == 1 { 120 } else { 100 };
    let horizon = view
        .shares
        .iter()
        .map(|share| share.counts.len() as f64 * share.bin_s)
        .filter(|h| h.is_finite() && *h > 0.0)
        .fold(0.0, f64::max);
    let x_range = if horizon > 0.0 { 0.0..horizon } else { 0.0..1.0 };
    // Per panel and setting: rectangles (t0, t1, y0, y1) in percent, runs of equal bins merged.
    let blocks: Vec<Vec<(usize, [f64; 4])>> = present
        .iter()
        .map(|&i| view.shares.get(i).map(|share| share_blocks(share, &settings)).unwrap_or_default())
        .collect();
    let height = layout.height() + rows as u32 * panel_height + 12;
    Ok(render_svg!("setting_share", (width, height), |root, scale| {
        let s = Scale(scale);
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically(s.px(f64::from(layout.height())));
        draw_legend(&top, s, &entries, &layout)?;
        let areas = body.split_evenly((rows, columns));
        for (k, area) in areas.iter().enumerate().take(panels) {
            let (row, column) = (k / columns, k % columns);
            let last_row = row + 1 == rows || (k + columns >= panels);
            let axes = Axes {
                x_desc: if last_row { "time (s)" } else { "" },
                y_desc: if column == 0 { "share of steps (%)" } else { "" },
                x_area: if last_row { 28.0 } else { 16.0 },
                y_area: if column == 0 { 40.0 } else { 26.0 },
            };
            let title = present
                .get(k)
                .and_then(|&i| view.policies.get(i))
                .map(|p| super::aggregate::display_policy(p))
                .unwrap_or_default();
            let mut chart = linear_chart(area, s, x_range.clone(), 0.0..100.0, &axes, Some(title.as_str()))?;
            if let Some(panel) = blocks.get(k) {
                chart
                    .draw_series(panel.iter().map(|(j, [t0, t1, y0, y1])| {
                        Rectangle::new([(*t0, *y0), (*t1, *y1)], series_colour(*j).filled())
                    }))
                    .map_err(err)?;
            }
        }
        Ok(())
    }))
}

/// The stacked blocks of one policy's setting shares: `(setting index in `settings`, [t0, t1, y0,
/// y1])`, time in seconds and share in percent; consecutive bins with the same block are merged;
/// bins without a step are left empty.
fn share_blocks(share: &SettingShare, settings: &[String]) -> Vec<(usize, [f64; 4])> {
    let mut blocks: Vec<(usize, [f64; 4])> = Vec::new();
    let mut open: Vec<Option<usize>> = vec![None; settings.len()]; // index into blocks per setting
    for (bin, counts) in share.counts.iter().enumerate() {
        let total: u64 = counts.iter().sum();
        let (t0, t1) = (bin as f64 * share.bin_s, (bin + 1) as f64 * share.bin_s);
        let mut bottom = 0.0;
        let mut seen = vec![false; settings.len()];
        for (name, count) in share.settings.iter().zip(counts) {
            let Some(j) = settings.iter().position(|s| s == name) else { continue };
            if total == 0 || *count == 0 {
                continue;
            }
            let top = bottom + *count as f64 / total as f64 * 100.0;
            seen[j] = true;
            match open[j] {
                Some(b) if blocks[b].1[1] == t0 && blocks[b].1[2] == bottom && blocks[b].1[3] == top => {
                    blocks[b].1[1] = t1;
                }
                _ => {
                    blocks.push((j, [t0, t1, bottom, top]));
                    open[j] = Some(blocks.len() - 1);
                }
            }
            bottom = top;
        }
        for (j, seen) in seen.into_iter().enumerate() {
            if !seen {
                open[j] = None;
            }
        }
    }
    blocks
}

fn energy_vs_accuracy(view: &StudyView, width: u32) -> Result<String, PlotError> {
    let entries = policy_legend(view, false);
    let layout = legend_layout(&entries, width);
    let points: Vec<(usize, Scaled, Scaled)> = view
        .cells
        .iter()
        .filter_map(|c| {
            let x = scaled(&c.accuracy, 100.0);
            let y = scaled(c.energy_j.as_ref()?, 1.0);
            (x.mean.is_finite() && y.mean.is_finite()).then_some((policy_index(view, &c.policy)?, x, y))
        })
        .collect();
    let x_range = padded_range(points.iter().flat_map(|(_, x, _)| [x.low(), x.high()]), 0.0, 100.0, 0.0..100.0);
    let y_range = padded_range(points.iter().flat_map(|(_, _, y)| [y.low(), y.high()]), 0.0, f64::INFINITY, 0.0..1.0);
    let axes = Axes { x_desc: "accuracy (%)", y_desc: "node energy (J)", x_area: 30.0, y_area: 46.0 };
    let height = layout.height() + plot_height(width);
    Ok(render_svg!("energy_vs_accuracy", (width, height), |root, scale| {
        let s = Scale(scale);
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically(s.px(f64::from(layout.height())));
        draw_legend(&top, s, &entries, &layout)?;
        let mut chart = linear_chart(&body, s, x_range.clone(), y_range.clone(), &axes, None)?;
        for i in 0..view.policies.len() {
            let mine: Vec<(Scaled, Scaled)> =
                points.iter().filter(|(p, _, _)| *p == i).map(|(_, x, y)| (*x, *y)).collect();
            draw_cells(&mut chart, s, i, &mine)?;
        }
        Ok(())
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::study::view::{PairedDifference, PointInfo};

    fn estimate(mean: f64, half_width: f64, n: usize) -> Estimate {
        Estimate { mean, half_width, n }
    }

    /// A hand-made view: 2 grid points (20% and 60% load), 3 policies, 5 replications.
    ///
    /// (kFLOP, accuracy) of the cells: point 0 — static 101.12/95%, greedy 60/93%, oracle 80/95.5%;
    /// point 1 — static 101.12/40%, greedy 50/90%, oracle 70/93%. Pareto front (max accuracy, min
    /// FLOPs): point-0 greedy, point-0 oracle, point-1 greedy (point-1 oracle is dominated by
    /// point-0 greedy: more FLOPs, same accuracy).
    pub(crate) fn sample_view() -> StudyView {
        let policies = vec!["static-gru-128".to_string(), "greedy_slack".to_string(), "oracle".to_string()];
        let table = [
            // point, policy, accuracy, miss rate, kFLOP, latency s, energy J
            (0, 0, 0.95, 0.10, 101.12, 0.004, 120.0),
            (0, 1, 0.93, 0.02, 60.0, 0.003, 110.0),
            (0, 2, 0.955, 0.0, 80.0, 0.0035, 115.0),
            (1, 0, 0.40, 0.70, 101.12, 0.009, 150.0),
            (1, 1, 0.90, 0.05, 50.0, 0.0031, 140.0),
            (1, 2, 0.93, 0.01, 70.0, 0.0033, 145.0),
        ];
        let cells = table
            .iter()
            .map(|&(point, policy, accuracy, miss, kflop, latency, energy)| CellSummary {
                point,
                policy: policies[policy].clone(),
                accuracy: estimate(accuracy, 0.01, 5),
                miss_rate: estimate(miss, if miss > 0.0 { 0.01 } else { 0.0 }, 5),
                mean_flops_per_step: estimate(kflop * 1e3, 2e3, 5),
                mean_latency_s: estimate(latency, 0.0002, 5),
                energy_j: Some(estimate(energy, 3.0, 5)),
            })
            .collect();
        let edges = vec![0.001, 0.002, 0.005, 0.01, 0.02, 0.05];
        let latency = vec![
            LatencyHistogram { upper_edges_s: edges.clone(), counts: vec![0, 10, 20, 30, 20, 10], not_completed: 10 },
            LatencyHistogram { upper_edges_s: edges.clone(), counts: vec![5, 40, 50, 5, 0, 0], not_completed: 0 },
            LatencyHistogram { upper_edges_s: edges, counts: vec![10, 50, 40, 0, 0, 0], not_completed: 0 },
        ];
        let share = |settings: &[&str], pattern: &dyn Fn(usize) -> Vec<u64>| SettingShare {
            bin_s: 1.0,
            settings: settings.iter().map(|s| s.to_string()).collect(),
            counts: (0..10).map(pattern).collect(),
        };
        let shares = vec![
            share(&["gru-128"], &|_| vec![200]),
            share(&["gru-128", "gru-64", "gru-16"], &|b| if b < 5 { vec![150, 50, 0] } else { vec![20, 100, 80] }),
            share(&["gru-128", "gru-64"], &|b| if b == 3 { vec![0, 0] } else { vec![120, 80] }),
        ];
        let paired = vec![
            PairedDifference {
                point: 1,
                metric: "accuracy".into(),
                policy_a: "greedy_slack".into(),
                policy_b: "static-gru-128".into(),
                difference: estimate(0.5, 0.05, 5),
            },
            PairedDifference {
                point: 0,
                metric: "accuracy".into(),
                policy_a: "greedy_slack".into(),
                policy_b: "oracle".into(),
                difference: estimate(-0.025, 0.03, 5),
            },
        ];
        StudyView {
            name: "sample <study>".into(),
            points: vec![
                PointInfo { index: 0, label: "processes.requests.rate=10/s".into(), series: String::new(), load: 0.2 },
                PointInfo { index: 1, label: "processes.requests.rate=30/s".into(), series: String::new(), load: 0.6 },
            ],
            policies,
            cells,
            focus_point: 1,
            latency,
            shares,
            paired,
            replications: 5,
            study_text: "name: sample\nbase: scenarios/default.yaml # <&>\n".into(),
            tool_version: "0.1.0".into(),
            deadline_s: Some(0.005),
        }
    }

    /// One point, one policy, one replication: no intervals, zero FLOPs, empty histogram and shares.
    pub(crate) fn degenerate_view() -> StudyView {
        StudyView {
            name: "tiny".into(),
            points: vec![PointInfo { index: 0, label: String::new(), series: String::new(), load: 0.0 }],
            policies: vec!["only".into()],
            cells: vec![CellSummary {
                point: 0,
                policy: "only".into(),
                accuracy: estimate(1.0, f64::NAN, 1),
                miss_rate: estimate(0.0, f64::NAN, 1),
                mean_flops_per_step: estimate(0.0, f64::NAN, 1),
                mean_latency_s: estimate(0.0, f64::NAN, 1),
                energy_j: None,
            }],
            focus_point: 0,
            latency: vec![LatencyHistogram { upper_edges_s: vec![], counts: vec![], not_completed: 0 }],
            shares: vec![SettingShare { bin_s: 1.0, settings: vec![], counts: vec![] }],
            paired: vec![],
            replications: 1,
            study_text: String::new(),
            tool_version: "0.1.0".into(),
            deadline_s: None,
        }
    }

    fn file<'a>(files: &'a [(PathBuf, Vec<u8>)], path: &str) -> &'a [u8] {
        &files.iter().find(|(p, _)| p == &PathBuf::from(path)).unwrap_or_else(|| panic!("{path} missing")).1
    }

    fn csv_rows(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
        let mut reader = csv::Reader::from_reader(bytes);
        let header = reader.headers().unwrap().iter().map(String::from).collect();
        let rows = reader.records().map(|r| r.unwrap().iter().map(String::from).collect()).collect();
        (header, rows)
    }

    #[test]
    fn every_figure_is_written_as_svg_png_and_csv() {
        let files = study_figures(&sample_view()).unwrap();
        let names = ["miss_rate_vs_load", "accuracy_vs_flops", "latency_cdf", "setting_share", "energy_vs_accuracy"];
        assert_eq!(files.len(), names.len() * 7);
        for name in names {
            for (suffix, png_width) in [("", 1050), ("-wide", 2100)] {
                let svg = std::str::from_utf8(file(&files, &format!("figures/{name}{suffix}.svg"))).unwrap();
                assert!(svg.starts_with("<svg"), "{name}");
                let png = file(&files, &format!("figures/{name}{suffix}.png"));
                assert_eq!(crate::report::plots::tests::png_size(png).0, png_width, "{name}{suffix}");
                assert!(file(&files, &format!("figures/{name}{suffix}.pdf")).starts_with(b"%PDF-"));
            }
            assert!(!file(&files, &format!("figures/{name}.csv")).is_empty());
        }
        let svg = |name: &str| String::from_utf8(file(&files, &format!("figures/{name}.svg")).to_vec()).unwrap();
        let miss = svg("miss_rate_vs_load");
        for text in ["offered background load (% of capacity)", "deadline-miss rate (%)", "static-gru-128", "oracle"] {
            assert!(miss.contains(text), "{text}");
        }
        let accuracy = svg("accuracy_vs_flops");
        for text in ["mean compute per step (kFLOP)", "accuracy (%)", "Pareto front", "greedy_slack"] {
            assert!(accuracy.contains(text), "{text}");
        }
        let cdf = svg("latency_cdf");
        assert!(cdf.contains("step latency") && cdf.contains("ms, log scale"));
        assert!(cdf.contains("deadline (5 ms)"), "the latency figure has its deadline line");
        assert!(cdf.contains("static-gru-128 (10.0% never completed)"), "share of frames never completed");
        let shares = svg("setting_share");
        for text in ["time (s)", "share of steps (%)", "gru-128", "gru-64", "gru-16", "greedy_slack"] {
            assert!(shares.contains(text), "{text}");
        }
        let energy = svg("energy_vs_accuracy");
        assert!(energy.contains("node energy (J)") && energy.contains("accuracy (%)"));
    }

    #[test]
    fn the_pareto_csv_marks_exactly_the_hand_computed_front() {
        let files = study_figures(&sample_view()).unwrap();
        let (header, rows) = csv_rows(file(&files, "figures/accuracy_vs_flops.csv"));
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        let on_front: Vec<(String, String)> = rows
            .iter()
            .filter(|r| r[column("pareto_front")] == "true")
            .map(|r| (r[column("point")].clone(), r[column("policy")].clone()))
            .collect();
        let expected = [("0", "greedy_slack"), ("0", "oracle"), ("1", "greedy_slack")];
        assert_eq!(on_front, expected.map(|(a, b)| (a.to_string(), b.to_string())));
        let row = &rows[0]; // point 0, static-gru-128
        assert_eq!(row[column("kflop_per_step")], "101.12");
        assert_eq!(row[column("kflop_per_step_ci95_low")], "99.12");
        assert_eq!(row[column("accuracy_pct")], "95");
        assert_eq!(row[column("accuracy_ci95_high_pct")], "96");
        assert_eq!(row[column("offered_load_pct")], "20");
    }

    #[test]
    fn csvs_hold_the_plotted_numbers() {
        let files = study_figures(&sample_view()).unwrap();
        let (header, rows) = csv_rows(file(&files, "figures/miss_rate_vs_load.csv"));
        assert_eq!(header[4], "miss_rate_pct");
        // Policy-major, by load within a policy.
        let first: Vec<&str> = rows[0].iter().map(String::as_str).collect();
        assert_eq!(first, ["0", "processes.requests.rate=10/s", "20", "static-gru-128", "10", "9", "11", "5"]);
        assert_eq!(rows[1][2..5], ["60", "static-gru-128", "70"].map(String::from));
        assert_eq!(rows.len(), 6);

        let (_, rows) = csv_rows(file(&files, "figures/latency_cdf.csv"));
        // static-gru-128: 100 frames, 90 completed by 50 ms, 10 never.
        let static_rows: Vec<&Vec<String>> = rows.iter().filter(|r| r[1] == "static-gru-128").collect();
        assert_eq!(static_rows.len(), 7);
        assert_eq!(static_rows[3][2..5], ["10", "30", "0.6"].map(String::from));
        assert_eq!(static_rows[5][4], "0.9");
        assert_eq!(static_rows[6][2..5], ["inf", "10", "1"].map(String::from));

        let (_, rows) = csv_rows(file(&files, "figures/setting_share.csv"));
        let greedy_bin_7: Vec<&Vec<String>> = rows.iter().filter(|r| r[1] == "greedy_slack" && r[2] == "7").collect();
        let shares: Vec<&str> = greedy_bin_7.iter().map(|r| r[6].as_str()).collect();
        assert_eq!(shares, ["10", "50", "40"]);
        let oracle_empty_bin = rows.iter().find(|r| r[1] == "oracle" && r[2] == "3").unwrap();
        assert_eq!(oracle_empty_bin[5..7], ["0", ""].map(String::from), "a bin without steps has no share");

        let (header, rows) = csv_rows(file(&files, "figures/energy_vs_accuracy.csv"));
        assert_eq!(header[7], "energy_j");
        assert_eq!(rows[0][7..10], ["120", "117", "123"].map(String::from));
    }

    #[test]
    fn rendering_is_deterministic() {
        let view = sample_view();
        assert_eq!(study_figures(&view).unwrap(), study_figures(&view).unwrap());
    }

    #[test]
    fn a_degenerate_view_renders_without_energy_and_without_intervals() {
        let files = study_figures(&degenerate_view()).unwrap();
        assert_eq!(files.len(), 4 * 7, "energy_vs_accuracy is left out without energy");
        assert!(!files.iter().any(|(p, _)| p.to_string_lossy().contains("energy")));
        let (_, rows) = csv_rows(file(&files, "figures/accuracy_vs_flops.csv"));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][4..12], ["0", "", "", "100", "", "", "1", "true"].map(String::from));
        let (_, rows) = csv_rows(file(&files, "figures/latency_cdf.csv"));
        assert_eq!(rows, vec![["0", "only", "inf", "0", ""].map(String::from).to_vec()]);
        let (header, rows) = csv_rows(file(&files, "figures/setting_share.csv"));
        assert_eq!(header.len(), 7);
        assert!(rows.is_empty());
        let svg = String::from_utf8(file(&files, "figures/latency_cdf.svg").to_vec()).unwrap();
        assert!(!svg.contains("only"), "a policy without frames at the focus point is left out of the CDF");
    }

    /// Issue 15: nine policies shared a colour; twelve now keep a colour each, and the last four a
    /// dash pattern each in the legends of the line figures.
    #[test]
    fn twelve_policies_keep_apart_in_legends() {
        let mut view = sample_view();
        view.policies = (0..12).map(|i| format!("policy-{i}")).collect();
        view.latency = vec![view.latency[1].clone(); 12];
        let entries = policy_legend(&view, true);
        let keys: Vec<String> = entries.iter().map(|e| format!("{:?}", e.swatch)).collect();
        for (i, key) in keys.iter().enumerate() {
            assert!(!keys[..i].contains(key), "policy {i} looks like an earlier one: {key}");
        }
        let colours: Vec<RGBColor> = (0..12).map(policy_colour).collect();
        for i in 0..12 {
            assert!(!colours[..i].contains(&colours[i]), "colour {i}");
        }
        assert!(matches!(entries[8].swatch, Swatch::MarkerLine(_, _, Some(_))), "the ninth is dashed");
        assert!(matches!(entries[7].swatch, Swatch::MarkerLine(_, _, None)), "the eighth is solid");
        let svg = latency_cdf(&view, crate::report::plots::WIDE_WIDTH).unwrap();
        assert!(svg.contains("policy-11"));
    }

    /// Issue 15: long policy and setting names stay inside every study figure at one column.
    #[test]
    fn long_names_stay_inside_one_column_study_figures() {
        use crate::report::plots::tests::{texts_outside_canvas, LONG_NAMES};
        let mut view = sample_view();
        let n = view.policies.len();
        view.policies = (0..n).map(|i| format!("{}-{i}", LONG_NAMES[i % LONG_NAMES.len()])).collect();
        for cell in &mut view.cells {
            let index = policy_index(&sample_view(), &cell.policy).unwrap();
            cell.policy = view.policies[index].clone();
        }
        for share in &mut view.shares {
            for name in &mut share.settings {
                *name = format!("{name}@{}", LONG_NAMES[1]);
            }
        }
        let files = study_figures(&view).unwrap();
        let mut checked = 0;
        for (path, bytes) in &files {
            if path.extension().is_some_and(|e| e == "svg") {
                let svg = String::from_utf8(bytes.clone()).unwrap();
                assert_eq!(texts_outside_canvas(&svg), Vec::<String>::new(), "{}", path.display());
                checked += 1;
            }
        }
        assert!(checked >= 8, "every figure at both widths: {checked}");
    }

    #[test]
    fn axis_helpers_handle_edge_cases() {
        assert_eq!(log_ticks(&(0.5..60.0), &[1.0, 2.0, 5.0]), [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]);
        assert!(log_ticks(&(0.0..1.0), &[1.0]).is_empty());
        assert_eq!(log_tick(0.2), "0.2");
        assert_eq!(log_tick(3.0), "", "only 1, 2, 5 × 10^k are labelled");
        let single = padded_range([5.0], 0.0, 100.0, 0.0..1.0);
        assert!(single.start < 5.0 && single.end > 5.0);
        let at_floor = padded_range([0.0, 0.0], 0.0, 100.0, 0.0..1.0);
        assert!(at_floor.start < 0.0 && at_floor.end > 0.0, "a value on the clamp stays inside");
        assert_eq!(padded_range([f64::NAN], 0.0, 1.0, 3.0..4.0), 3.0..4.0);
    }

    #[test]
    fn pareto_ties_are_both_on_the_front_and_nan_never() {
        let mut view = sample_view();
        view.cells[2].mean_flops_per_step.mean = 60e3; // point-0 oracle: 60 kFLOP, 95.5% dominates greedy
        view.cells[4].accuracy.mean = f64::NAN;
        let front = pareto_front(&view);
        assert_eq!(front, [false, false, true, false, false, false]);
        // Now a tie with point-0 greedy (60 kFLOP, 93%): both stay, and point-0 static (95%) is no
        // longer dominated.
        view.cells[2].accuracy.mean = 0.93;
        assert_eq!(pareto_front(&view), [true, true, true, false, false, false]);
    }
}
