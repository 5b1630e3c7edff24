//! Figures of `flexrnn eval` (SVG and, twice as large, PNG; Okabe–Ito colours, embedded font):
//!
//! | name | shows |
//! |---|---|
//! | `change_accuracy` (`change_mse` for a regression task) | per pair of settings, the task metric against the change position `s` in both directions: measured (solid, markers) and the weighted prediction (dashed); `s = 0` and `s = T` (the longest length) are the settings alone |
//! | `change_flops` | the same for mean FLOPs per step |
//! | `measured_vs_predicted` | every run with a change: measured against predicted metric (accuracy in %, or MSE) and FLOPs per step, with the line y = x |
//! | `deviation_intervals` | per pair and direction: the mean deviation measured − predicted over the change positions (dot) with its 95 % paired-bootstrap interval (bar), and the late change's deviation (open dot); dashed line at 0 |

use std::ops::Range;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Evaluation, Metric, RunKind, RunResult};
use crate::report::plots::{err, render_scaled, Figure, PlotError, FONT, PALETTE};

const PANEL_WIDTH: u32 = 320;
const PANEL_HEIGHT: u32 = 220;
const LEGEND_HEIGHT: u32 = 34;
const PNG_SCALE: u32 = 2;

/// A pair's panel: caption, the two directions' `(s, measured, predicted)` points, the y range.
type ChangePanel = (String, [Vec<(f64, f64, f64)>; 2], Range<f64>);
/// A scatter panel: quantity, `(predicted, measured, colour index)` points, the axis range.
type ScatterPanel = (Quantity, Vec<(f64, f64, usize)>, Range<f64>);

/// The figures, named (see the module doc), in a fixed order.
///
/// # Errors
/// [`PlotError`] if drawing fails (a bug: sizes are fixed and the font is embedded).
pub fn figures(evaluation: &Evaluation) -> Result<Vec<(String, Figure)>, PlotError> {
    let score = Quantity::Score(evaluation.metric);
    Ok(vec![
        (score.figure_name().into(), change_figure(evaluation, score)?),
        ("change_flops".into(), change_figure(evaluation, Quantity::Flops)?),
        ("measured_vs_predicted".into(), scatter_figure(evaluation)?),
        ("deviation_intervals".into(), interval_figure(evaluation)?),
    ])
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

    /// Decimals of the tick labels for an axis over `range`: one, or for MSE enough to tell five
    /// ticks apart.
    fn decimals(self, range: &Range<f64>) -> usize {
        match self {
            Quantity::Score(Metric::Mse) => {
                let tick = (range.end - range.start) / 5.0;
                if tick > 0.0 && tick.is_finite() {
                    (1.0 - tick.log10().floor()).clamp(1.0, 10.0) as usize
                } else {
                    3
                }
            }
            _ => 1,
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

fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    scale: f64,
    entries: &[(RGBColor, bool, &str)],
) -> Result<(), String> {
    let px = |v: f64| (v * scale).round() as i32;
    let font = (FONT, 10.0 * scale).into_font().color(&BLACK);
    let mut x = px(8.0);
    let y = px(LEGEND_HEIGHT as f64 / 2.0);
    for &(colour, dashed, label) in entries {
        let style = colour.stroke_width((1.5 * scale).round().max(1.0) as u32);
        if dashed {
            area.draw(&PathElement::new(vec![(x, y), (x + px(6.0), y)], style)).map_err(err)?;
            area.draw(&PathElement::new(vec![(x + px(10.0), y), (x + px(16.0), y)], style)).map_err(err)?;
        } else {
            area.draw(&PathElement::new(vec![(x, y), (x + px(16.0), y)], style)).map_err(err)?;
            area.draw(&Circle::new((x + px(8.0), y), px(2.5), colour.filled())).map_err(err)?;
        }
        area.draw(&Text::new(label.to_string(), (x + px(20.0), y - px(6.0)), font.clone())).map_err(err)?;
        x += px(28.0 + 5.6 * label.chars().count() as f64);
    }
    Ok(())
}

fn change_figure(e: &Evaluation, metric: Quantity) -> Result<Figure, PlotError> {
    let panels = e.pairs.len().max(1);
    let columns = panels.min(3);
    let rows = panels.div_ceil(columns);
    let size = (PANEL_WIDTH * columns as u32, LEGEND_HEIGHT + PANEL_HEIGHT * rows as u32);
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
    let steps = e.steps as f64;
    Ok(render_scaled!(name, size, PNG_SCALE, |root, scale| {
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically((f64::from(LEGEND_HEIGHT) * scale).round() as u32);
        legend(
            &top,
            scale,
            &[
                (PALETTE[0], false, "cheaper first, dearer from step s: measured"),
                (PALETTE[0], true, "predicted"),
                (PALETTE[1], false, "dearer first: measured"),
                (PALETTE[1], true, "predicted"),
            ],
        )?;
        let areas = body.split_evenly((rows, columns));
        for ((caption, directions, y_range), area) in data.iter().zip(areas.iter()) {
            let decimals = metric.decimals(y_range);
            let mut chart = ChartBuilder::on(area)
                .caption(caption.as_str(), (FONT, 10.0 * scale))
                .margin((6.0 * scale) as u32)
                .x_label_area_size((26.0 * scale) as u32)
                .y_label_area_size((40.0 * scale) as u32)
                .build_cartesian_2d(0f64..steps, y_range.clone())
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("change step s")
                .y_desc(metric.label())
                .x_labels(5)
                .y_labels(5)
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_label_formatter(&|v| format!("{v:.decimals$}"))
                .label_style((FONT, 9.0 * scale))
                .axis_desc_style((FONT, 9.5 * scale))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(err)?;
            for (direction, points) in directions.iter().enumerate() {
                let colour = PALETTE[direction];
                let width = (1.5 * scale).round().max(1.0) as u32;
                chart
                    .draw_series(DashedLineSeries::new(
                        points.iter().map(|p| (p.0, p.2)),
                        (5.0 * scale) as u32,
                        (3.0 * scale) as u32,
                        colour.stroke_width(width),
                    ))
                    .map_err(err)?;
                chart
                    .draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.1)), colour.stroke_width(width)))
                    .map_err(err)?;
                chart
                    .draw_series(points.iter().map(|p| Circle::new((p.0, p.1), (2.2 * scale) as i32, colour.filled())))
                    .map_err(err)?;
            }
        }
        Ok(())
    }))
}

fn scatter_figure(e: &Evaluation) -> Result<Figure, PlotError> {
    let size = (PANEL_WIDTH * 2, LEGEND_HEIGHT + PANEL_HEIGHT + 40);
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
    Ok(render_scaled!("measured_vs_predicted", size, PNG_SCALE, |root, scale| {
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically((f64::from(LEGEND_HEIGHT) * scale).round() as u32);
        legend(
            &top,
            scale,
            &[
                (PALETTE[0], false, "one change A → B at step s"),
                (PALETTE[1], false, "random schedule"),
                (BLACK, true, "y = x"),
            ],
        )?;
        let areas = body.split_evenly((1, 2));
        for ((metric, points, range), area) in panels.iter().zip(areas.iter()) {
            let decimals = metric.decimals(range);
            let mut chart = ChartBuilder::on(area)
                .margin((8.0 * scale) as u32)
                .x_label_area_size((30.0 * scale) as u32)
                .y_label_area_size((44.0 * scale) as u32)
                .build_cartesian_2d(range.clone(), range.clone())
                .map_err(err)?;
            let desc_x = format!("predicted {}", metric.label());
            let desc_y = format!("measured {}", metric.label());
            chart
                .configure_mesh()
                .x_desc(desc_x.as_str())
                .y_desc(desc_y.as_str())
                .x_labels(5)
                .y_labels(5)
                .x_label_formatter(&|v| format!("{v:.decimals$}"))
                .y_label_formatter(&|v| format!("{v:.decimals$}"))
                .label_style((FONT, 9.0 * scale))
                .axis_desc_style((FONT, 9.5 * scale))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(err)?;
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(range.start, range.start), (range.end, range.end)],
                    (5.0 * scale) as u32,
                    (3.0 * scale) as u32,
                    BLACK.stroke_width((scale).round().max(1.0) as u32),
                ))
                .map_err(err)?;
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&(x, y, c)| Circle::new((x, y), (2.0 * scale) as i32, PALETTE[c].mix(0.7).filled())),
                )
                .map_err(err)?;
        }
        Ok(())
    }))
}

fn interval_figure(e: &Evaluation) -> Result<Figure, PlotError> {
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
    let n = rows.len().max(1);
    let row_height = 16u32;
    let size = (PANEL_WIDTH * 2 + 120, LEGEND_HEIGHT + 60 + row_height * n as u32);
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
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    Ok(render_scaled!("deviation_intervals", size, PNG_SCALE, |root, scale| {
        root.fill(&WHITE).map_err(err)?;
        let (top, body) = root.split_vertically((f64::from(LEGEND_HEIGHT) * scale).round() as u32);
        legend(
            &top,
            scale,
            &[(PALETTE[0], false, "mean Δ over change positions, 95 % interval"), (PALETTE[1], false, "late change Δ")],
        )?;
        let mut chart = ChartBuilder::on(&body)
            .margin((8.0 * scale) as u32)
            .x_label_area_size((30.0 * scale) as u32)
            .y_label_area_size((190.0 * scale) as u32)
            .build_cartesian_2d(x_range.clone(), -0.5f64..(n as f64 - 0.5))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(unit)
            .x_labels(6)
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
            .label_style((FONT, 8.5 * scale))
            .axis_desc_style((FONT, 9.5 * scale))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, -0.5), (0.0, n as f64 - 0.5)],
                (5.0 * scale) as u32,
                (3.0 * scale) as u32,
                BLACK.stroke_width((scale).round().max(1.0) as u32),
            ))
            .map_err(err)?;
        let width = (1.5 * scale).round().max(1.0) as u32;
        for (k, row) in rows.iter().enumerate() {
            let y = (n - 1 - k) as f64;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(row.2, y), (row.3, y)],
                    PALETTE[0].stroke_width(width),
                )))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Circle::new((row.1, y), (2.5 * scale) as i32, PALETTE[0].filled())))
                .map_err(err)?;
            if let Some(late) = row.4 {
                chart
                    .draw_series(std::iter::once(Circle::new(
                        (late, y),
                        (2.5 * scale) as i32,
                        PALETTE[1].stroke_width(width),
                    )))
                    .map_err(err)?;
            }
        }
        Ok(())
    }))
}
