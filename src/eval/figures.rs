//! Figures of `flexrnn eval`, drawn like the figures of `run` and `study`
//! ([`crate::report::plots::paper_files`]): each at one paper column (3.5 in: `<name>.svg`,
//! `<name>.pdf`, `<name>.png`, the PNG 1050 px wide at 300 dpi) and at two (7 in: `<name>-wide.*`,
//! 2100 px), text 9–10 SVG px (about 7 pt) at both, DejaVu Sans embedded in the PDF, Okabe–Ito
//! colours, the legend above the plot (long setting names wrap instead of leaving the figure):
//!
//! | name | shows |
//! |---|---|
//! | `change_accuracy` (`change_mse` for a regression task) | per pair of settings, the task metric against the change position `s` in both directions: measured (solid, markers) and the weighted prediction (dashed); `s = 0` and `s = T` (the longest length) are the settings alone |
//! | `change_flops` | the same for mean FLOPs per step |
//! | `measured_vs_predicted` | every run with a change: measured against predicted metric (accuracy in %, or MSE) and FLOPs per step, with the line y = x |
//! | `deviation_intervals` | per pair and direction: the mean deviation measured − predicted over the change positions (dot) with its 95 % paired-bootstrap interval (bar), and the late change's deviation (open dot); dashed line at 0 |

use std::ops::Range;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Evaluation, Metric, RunKind, RunResult};
use crate::report::plots::{
    draw_legend, draw_marker, err, fit_text, legend_layout, paper_files, paper_mesh, render_svg, text_width, wrap_text,
    LegendEntry, PlotError, Scale, Swatch, AXIS_FONT, GRID, PALETTE, PANEL_FONT, TICK_FONT,
};

/// Height of a caption line of a panel, SVG pixels.
const CAPTION_LINE: f64 = 11.0;
/// Height of one pair and direction in `deviation_intervals`, SVG pixels.
const INTERVAL_ROW: u32 = 16;

/// A pair's panel: caption, the two directions' `(s, measured, predicted)` points, the y range.
type ChangePanel = (String, [Vec<(f64, f64, f64)>; 2], Range<f64>);
/// A scatter panel: quantity, `(predicted, measured, colour index)` points, the axis range.
type ScatterPanel = (Quantity, Vec<(f64, f64, usize)>, Range<f64>);
/// A chart of two linear axes.
type LinearChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The figures' files (see the module doc) in a fixed order, each figure's six
/// (`<name>.svg`, `.pdf`, `.png`, `<name>-wide.svg`, `.pdf`, `.png`), as (file name, bytes).
///
/// # Errors
/// [`PlotError`] if drawing fails (a bug: sizes follow the data and the font is embedded).
pub fn figures(evaluation: &Evaluation) -> Result<Vec<(String, Vec<u8>)>, PlotError> {
    let score = Quantity::Score(evaluation.metric);
    let mut files = paper_files(score.figure_name(), |width| change_figure(evaluation, score, width))?;
    files.extend(paper_files("change_flops", |width| change_figure(evaluation, Quantity::Flops, width))?);
    files.extend(paper_files("measured_vs_predicted", |width| scatter_figure(evaluation, width))?);
    files.extend(paper_files("deviation_intervals", |width| interval_figure(evaluation, width))?);
    Ok(files)
}

/// What a panel plots: the task metric or FLOPs per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quantity {
    Score(Metric),
    Flops,
}

impl Quantity {
    /// (measured, predicted) of a run, in plotted units (accuracy in %, MSE as it is, kFLOP per step).
    fn of(self, run: &RunResult) -> (f64, f64) {
        match self {
            Quantity::Score(Metric::Accuracy) => (run.measured.score * 100.0, run.predicted_score * 100.0),
            Quantity::Score(Metric::Mse) => (run.measured.score, run.predicted_score),
            Quantity::Flops => (run.measured.flops_per_step / 1e3, run.predicted_flops_per_step / 1e3),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Quantity::Score(Metric::Accuracy) => "accuracy (%)",
            Quantity::Score(Metric::Mse) => "MSE",
            Quantity::Flops => "kFLOP per step",
        }
    }

    fn figure_name(self) -> &'static str {
        match self {
            Quantity::Score(Metric::Accuracy) => "change_accuracy",
            Quantity::Score(Metric::Mse) => "change_mse",
            Quantity::Flops => "change_flops",
        }
    }

    /// Smallest padding of an axis range: 1e-3 in the plotted units, or for MSE (whose values may be
    /// far below that) 1 % of the range's largest magnitude.
    fn min_pad(self) -> f64 {
        match self {
            Quantity::Score(Metric::Mse) => 0.0,
            _ => 1e-3,
        }
    }

    /// Decimals of the tick labels for an axis over `range`: enough to tell five ticks apart, at
    /// least one and at most four (ten for MSE, whose values can be far below 1). A nearly flat
    /// accuracy series no longer gets ticks that read `10.0, 10.0, 10.1, 10.1`.
    fn decimals(self, range: &Range<f64>) -> usize {
        let most = match self {
            Quantity::Score(Metric::Mse) => 10.0,
            _ => 4.0,
        };
        let tick = (range.end - range.start) / 5.0;
        if tick > 0.0 && tick.is_finite() {
            (1.0 - tick.log10().floor()).clamp(1.0, most) as usize
        } else {
            3
        }
    }
}

/// One direction of a pair: (s, measured, predicted) points including s = 0 and s = T.
fn direction_points(e: &Evaluation, metric: Quantity, pair: usize, a: usize, b: usize) -> Vec<(f64, f64, f64)> {
    let alone = |setting: usize| metric.of(&e.runs[setting]);
    let mut points = vec![(0.0, alone(b).0, alone(b).0)];
    for run in &e.runs {
        if let RunKind::Change { pair: p, a: ra, s, .. } = run.kind {
            if p == pair && ra == a {
                let (m, pr) = metric.of(run);
                points.push((s as f64, m, pr));
            }
        }
    }
    points.push((e.steps as f64, alone(a).0, alone(a).0));
    points
}

fn padded(values: impl Iterator<Item = f64>, min_pad: f64) -> Range<f64> {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.08).max(hi.abs() * 0.01).max(min_pad);
    if pad == 0.0 {
        return (lo - 0.5)..(hi + 0.5);
    }
    (lo - pad)..(hi + pad)
}

/// `colour` mixed with white: `share` of the colour (opaque, so that the PDF has no transparency
/// group; see `GRID` in [`crate::report::plots`]).
fn tint(colour: RGBColor, share: f64) -> RGBColor {
    let mix = |c: u8| (f64::from(c) * share + 255.0 * (1.0 - share)).round() as u8;
    RGBColor(mix(colour.0), mix(colour.1), mix(colour.2))
}

/// A chart with the paper figures' light grid, ticks and axis descriptions.
#[allow(clippy::too_many_arguments)]
fn chart_on<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    s: Scale,
    x: Range<f64>,
    y: Range<f64>,
    (x_desc, y_desc): (&str, &str),
    (x_decimals, y_decimals): (usize, usize),
    y_area: f64,
    x_labels: usize,
) -> Result<LinearChart<'a, DB>, String> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(s.px(4.0))
        .margin_right(s.px(8.0))
        .margin_left(s.px(2.0))
        .margin_bottom(s.px(2.0))
        .x_label_area_size(s.px(28.0))
        .y_label_area_size(s.px(y_area))
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    paper_mesh(
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(x_labels)
            .y_labels(5)
            .x_label_formatter(&|v| format!("{v:.x_decimals$}"))
            .y_label_formatter(&|v| format!("{v:.y_decimals$}")),
        s,
    )
    .axis_style(BLACK.stroke_width(s.px(1.0).max(1)))
    .draw()
    .map_err(err)?;
    Ok(chart)
}

/// Panel columns of the change figures: two at one column, three at two (fewer when there are
/// fewer pairs).
fn change_columns(panels: usize, width: u32) -> usize {
    panels.clamp(1, if width < 500 { 2 } else { 3 })
}

fn change_figure(e: &Evaluation, metric: Quantity, width: u32) -> Result<String, PlotError> {
    let entries = vec![
        LegendEntry {
            label: "cheaper first, dearer from step s: measured".into(),
            swatch: Swatch::MarkerLine(0, PALETTE[0], None),
        },
        LegendEntry { label: "predicted".into(), swatch: Swatch::Line(PALETTE[0], Some((5, 3)), 1.5) },
        LegendEntry { label: "dearer first: measured".into(), swatch: Swatch::MarkerLine(0, PALETTE[1], None) },
        LegendEntry { label: "predicted".into(), swatch: Swatch::Line(PALETTE[1], Some((5, 3)), 1.5) },
    ];
    let layout = legend_layout(&entries, width);
    let panels = e.pairs.len().max(1);
    let columns = change_columns(panels, width);
    let rows = panels.div_ceil(columns);
    let panel_width = f64::from(width) / columns as f64;
    let name = metric.figure_name();
    // Per pair: the two directions' points and the panel's y range.
    let data: Vec<ChangePanel> = e
        .pairs
        .iter()
        .enumerate()
        .map(|(pair, &(cheap, dear))| {
            let up = direction_points(e, metric, pair, cheap, dear);
            let down = direction_points(e, metric, pair, dear, cheap);
            let range = padded(up.iter().chain(&down).flat_map(|p| [p.1, p.2]), metric.min_pad());
            (format!("{} ↔ {}", e.setting_names[cheap], e.setting_names[dear]), [up, down], range)
        })
        .collect();
    // Captions wrap (setting names can be long); every panel keeps room for the longest.
    let captions: Vec<Vec<String>> =
        data.iter().map(|(caption, _, _)| wrap_text(caption, PANEL_FONT, panel_width - 8.0)).collect();
    let caption_lines = captions.iter().map(Vec::len).max().unwrap_or(1);
    let caption_height = caption_lines as f64 * CAPTION_LINE + 4.0;
    let panel_height = (panel_width * 0.72).clamp(130.0, 200.0) + caption_height;
    let height = layout.height() + (rows as f64 * panel_height).round() as u32;
    let steps = e.steps as f64;
    Ok(render_svg!(name, (width, height), |root, scale| {
        let s = Scale(scale);
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically(s.px(f64::from(layout.height())));
        draw_legend(&top, s, &entries, &layout)?;
        let areas = body.split_evenly((rows, columns));
        let caption_style = TextStyle::from(s.font(PANEL_FONT)).pos(Pos::new(HPos::Center, VPos::Top));
        for (((_, directions, y_range), lines), area) in data.iter().zip(&captions).zip(areas.iter()) {
            let (caption_area, plot_area) = area.split_vertically(s.px(caption_height));
            for (k, line) in lines.iter().enumerate() {
                caption_area
                    .draw(&Text::new(
                        line.clone(),
                        (s.i(panel_width / 2.0), s.i(2.0 + k as f64 * CAPTION_LINE)),
                        caption_style.clone(),
                    ))
                    .map_err(err)?;
            }
            let decimals = metric.decimals(y_range);
            // Room for the widest tick label beside the axis description (about 20 px).
            let widest_tick = [y_range.start, y_range.end]
                .iter()
                .map(|v| text_width(&format!("{v:.decimals$}"), TICK_FONT))
                .fold(0.0, f64::max);
            let mut chart = chart_on(
                &plot_area,
                s,
                0f64..steps,
                y_range.clone(),
                ("change step s", metric.label()),
                (0, decimals),
                (widest_tick + 24.0).max(40.0),
                4,
            )?;
            for (direction, points) in directions.iter().enumerate() {
                let colour = PALETTE[direction];
                let style = s.stroke(colour, 1.5);
                chart
                    .draw_series(DashedLineSeries::new(points.iter().map(|p| (p.0, p.2)), s.px(5.0), s.px(3.0), style))
                    .map_err(err)?;
                chart.draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.1)), style)).map_err(err)?;
                let plot = chart.plotting_area();
                for p in points {
                    draw_marker(plot, 0, (p.0, p.1), s.i(2.2), colour, s)?;
                }
            }
        }
        Ok(())
    }))
}

fn scatter_figure(e: &Evaluation, width: u32) -> Result<String, PlotError> {
    let entries = vec![
        LegendEntry { label: "one change A → B at step s".into(), swatch: Swatch::Marker(0, PALETTE[0]) },
        LegendEntry { label: "random schedule".into(), swatch: Swatch::Marker(0, PALETTE[1]) },
        LegendEntry { label: "y = x".into(), swatch: Swatch::Line(BLACK, Some((5, 3)), 1.0) },
    ];
    let layout = legend_layout(&entries, width);
    // The two panels side by side at two columns, one above the other at one.
    let (rows, columns) = if width < 500 { (2, 1) } else { (1, 2) };
    let panel_height = (f64::from(width) / columns as f64 * 0.8).round() as u32;
    let height = layout.height() + panel_height * rows;
    let panels: Vec<ScatterPanel> = [Quantity::Score(e.metric), Quantity::Flops]
        .into_iter()
        .map(|metric| {
            let points: Vec<(f64, f64, usize)> = e
                .runs
                .iter()
                .filter_map(|r| match r.kind {
                    RunKind::Alone { .. } => None,
                    RunKind::Change { .. } => Some((metric.of(r).1, metric.of(r).0, 0)),
                    RunKind::Random { .. } => Some((metric.of(r).1, metric.of(r).0, 1)),
                })
                .collect();
            let range = padded(points.iter().flat_map(|p| [p.0, p.1]), metric.min_pad());
            (metric, points, range)
        })
        .collect();
    Ok(render_svg!("measured_vs_predicted", (width, height), |root, scale| {
        let s = Scale(scale);
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically(s.px(f64::from(layout.height())));
        draw_legend(&top, s, &entries, &layout)?;
        let areas = body.split_evenly((rows as usize, columns));
        for ((metric, points, range), area) in panels.iter().zip(areas.iter()) {
            let decimals = metric.decimals(range);
            let desc_x = format!("predicted {}", metric.label());
            let desc_y = format!("measured {}", metric.label());
            let mut chart = chart_on(
                area,
                s,
                range.clone(),
                range.clone(),
                (desc_x.as_str(), desc_y.as_str()),
                (decimals, decimals),
                44.0,
                5,
            )?;
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(range.start, range.start), (range.end, range.end)],
                    s.px(5.0),
                    s.px(3.0),
                    s.stroke(BLACK, 1.0),
                ))
                .map_err(err)?;
            let plot = chart.plotting_area();
            for &(x, y, c) in points {
                draw_marker(plot, 0, (x, y), s.i(2.0), tint(PALETTE[c], 0.75), s)?;
            }
        }
        Ok(())
    }))
}

fn interval_figure(e: &Evaluation, width: u32) -> Result<String, PlotError> {
    let rows: Vec<(String, f64, f64, f64, Option<f64>)> = e
        .checks
        .directions
        .iter()
        .filter(|d| d.runs > 0)
        .map(|d| {
            // Without intervals (0 resamples) the bar shrinks to the point and is not drawn.
            let (low, high) = if d.interval.is_none() {
                (d.mean_deviation, d.mean_deviation)
            } else {
                (d.interval.low, d.interval.high)
            };
            (d.label.clone(), d.mean_deviation, low, high, d.late.map(|l| l.deviation))
        })
        .collect();
    let entries = vec![
        LegendEntry {
            label: "mean Δ over change positions, 95 % interval".into(),
            swatch: Swatch::MarkerLine(0, PALETTE[0], None),
        },
        LegendEntry { label: "late change Δ".into(), swatch: Swatch::Ring(PALETTE[1]) },
    ];
    let layout = legend_layout(&entries, width);
    let n = rows.len().max(1);
    let height = layout.height() + 50 + INTERVAL_ROW * n as u32;
    let unit = match e.metric {
        Metric::Accuracy => "deviation measured − predicted (pp)",
        Metric::Mse => "deviation measured − predicted (MSE)",
    };
    let x_range = padded(
        rows.iter().flat_map(|r| [r.1, r.2, r.3, r.4.unwrap_or(r.1)]).chain(std::iter::once(0.0)),
        match e.metric {
            Metric::Accuracy => 1e-3,
            Metric::Mse => 0.0,
        },
    );
    let decimals = Quantity::Score(e.metric).decimals(&x_range);
    // The row labels (pair and direction) take at most 45 % of the width at the tick font, else up
    // to 60 % at a smaller font, leaving the plot at least as wide as its axis description, and are
    // cut with "…" beyond that.
    let widest = |size: f64| rows.iter().map(|r| text_width(&r.0, size)).fold(0.0, f64::max);
    let full = f64::from(width);
    let room_left = full - 30.0 - text_width(unit, AXIS_FONT);
    let (label_font, label_room) = if widest(TICK_FONT) <= (full * 0.45).min(room_left) {
        (TICK_FONT, widest(TICK_FONT))
    } else {
        (7.5, widest(7.5).min(full * 0.6).min(room_left))
    };
    let labels: Vec<String> = rows.iter().map(|r| fit_text(&r.0, label_font, label_room)).collect();
    let y_area = label_room + 8.0;
    Ok(render_svg!("deviation_intervals", (width, height), |root, scale| {
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
            .y_label_area_size(s.px(y_area))
            .build_cartesian_2d(x_range.clone(), -0.5f64..(n as f64 - 0.5))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(unit)
            .x_labels(if width < 500 { 4 } else { 6 })
            .y_labels(n)
            .x_label_formatter(&|v| format!("{v:.decimals$}"))
            .y_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(n - 1 - i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_label_style(s.font(TICK_FONT))
            .y_label_style(s.font(label_font))
            .axis_desc_style(s.font(AXIS_FONT))
            .bold_line_style(GRID.stroke_width(s.px(0.5).max(1)))
            .light_line_style(TRANSPARENT)
            .axis_style(BLACK.stroke_width(s.px(1.0).max(1)))
            .set_all_tick_mark_size(s.i(3.0))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, -0.5), (0.0, n as f64 - 0.5)],
                s.px(5.0),
                s.px(3.0),
                s.stroke(BLACK, 1.0),
            ))
            .map_err(err)?;
        for (k, row) in rows.iter().enumerate() {
            let y = (n - 1 - k) as f64;
            chart
                .draw_series(std::iter::once(PathElement::new(vec![(row.2, y), (row.3, y)], s.stroke(PALETTE[0], 1.5))))
                .map_err(err)?;
            draw_marker(chart.plotting_area(), 0, (row.1, y), s.i(2.5), PALETTE[0], s)?;
            if let Some(late) = row.4 {
                chart
                    .draw_series(std::iter::once(Circle::new((late, y), s.i(2.5), s.stroke(PALETTE[1], 1.5))))
                    .map_err(err)?;
            }
        }
        Ok(())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_decimals_tell_five_ticks_apart() {
        let accuracy = Quantity::Score(Metric::Accuracy);
        assert_eq!(accuracy.decimals(&(70.0..90.0)), 1);
        assert_eq!(accuracy.decimals(&(10.0..10.1)), 3, "a flat series: ticks 0.02 apart");
        assert_eq!(Quantity::Flops.decimals(&(0.0..1e-9)), 4, "at most four");
        assert_eq!(Quantity::Score(Metric::Mse).decimals(&(0.0..1e-6)), 8);
        assert_eq!(accuracy.decimals(&(1.0..1.0)), 3, "an empty range");
    }
}
