//! Figures with `plotters`, as SVG text and PNG bytes. Text is drawn with DejaVu Sans embedded in the
//! binary (crate `dejavu`, via plotters' `ab_glyph` feature), so no system font is needed.
//!
//! Colours: the Okabe–Ito palette, which stays distinguishable under the common colour-vision
//! deficiencies.

use std::sync::Once;

use plotters::prelude::*;

/// Okabe–Ito colours: blue, vermillion, bluish green, orange, reddish purple, sky blue, yellow, black.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(230, 159, 0),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

/// Family name under which [`register_fonts`] registers the embedded DejaVu Sans.
pub(crate) const FONT: &str = "sans-serif";

/// Registers the embedded font once per process.
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded DejaVu files are valid fonts; a failure here would be a packaging bug.
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .ok()
            .expect("embedded DejaVu Sans parses");
        plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold())
            .ok()
            .expect("embedded DejaVu Sans Bold parses");
    });
}

/// A rendered figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// SVG document.
    pub svg: String,
    /// PNG file bytes.
    pub png: Vec<u8>,
}

/// A plotting failure (a bug or an impossible size; the message says which figure).
#[derive(Debug, Clone, thiserror::Error)]
#[error("figure `{figure}`: {message}")]
pub struct PlotError {
    /// Figure name.
    pub figure: String,
    /// What failed.
    pub message: String,
}

/// Renders the same drawing code into SVG and PNG.
macro_rules! render_both {
    ($name:expr, $size:expr, |$area:ident| $body:block) => {{
        register_fonts();
        let fail = |message: String| PlotError { figure: $name.to_string(), message };
        let mut svg = String::new();
        {
            let $area = SVGBackend::with_string(&mut svg, $size).into_drawing_area();
            let result: Result<(), String> = (|| $body)();
            result.map_err(fail)?;
            $area.present().map_err(|e| fail(e.to_string()))?;
        }
        let (w, h) = $size;
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        {
            let $area = BitMapBackend::with_buffer(&mut rgb, $size).into_drawing_area();
            let result: Result<(), String> = (|| $body)();
            result.map_err(fail)?;
            $area.present().map_err(|e| fail(e.to_string()))?;
        }
        let mut png = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut png, w, h);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().map_err(|e| fail(e.to_string()))?;
            writer.write_image_data(&rgb).map_err(|e| fail(e.to_string()))?;
        }
        Ok(Figure { svg, png })
    }};
}

/// Renders the same drawing code into an SVG of `$size` (logical pixels) and a PNG `$png_scale` times
/// larger in each direction, for crisp raster figures. The body sees the drawing area as `$area` and
/// the scale factor (`f64`: 1 for the SVG, `$png_scale` for the PNG) as `$scale`, and must multiply
/// every font size, stroke width, margin and marker size by it.
macro_rules! render_scaled {
    ($name:expr, $size:expr, $png_scale:expr, |$area:ident, $scale:ident| $body:block) => {{
        use ::plotters::prelude::*;
        $crate::report::plots::register_fonts();
        let fail = |message: String| $crate::report::plots::PlotError { figure: $name.to_string(), message };
        let (w, h): (u32, u32) = $size;
        let png_scale: u32 = $png_scale;
        let mut svg = String::new();
        {
            let $scale: f64 = 1.0;
            let $area = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
            let result: Result<(), String> = (|| $body)();
            result.map_err(fail)?;
            $area.present().map_err(|e| fail(e.to_string()))?;
        }
        let (pw, ph) = (w * png_scale, h * png_scale);
        let mut rgb = vec![0u8; (pw * ph * 3) as usize];
        {
            let $scale: f64 = f64::from(png_scale);
            let $area = BitMapBackend::with_buffer(&mut rgb, (pw, ph)).into_drawing_area();
            let result: Result<(), String> = (|| $body)();
            result.map_err(fail)?;
            $area.present().map_err(|e| fail(e.to_string()))?;
        }
        let mut png = Vec::new();
        {
            let mut encoder = ::png::Encoder::new(&mut png, pw, ph);
            encoder.set_color(::png::ColorType::Rgb);
            encoder.set_depth(::png::BitDepth::Eight);
            let mut writer = encoder.write_header().map_err(|e| fail(e.to_string()))?;
            writer.write_image_data(&rgb).map_err(|e| fail(e.to_string()))?;
        }
        $crate::report::plots::Figure { svg, png }
    }};
}
pub(crate) use render_scaled;

/// One panel of the timeline: a run's usage and choices per bin.
#[derive(Debug, Clone)]
pub struct TimelinePanel {
    /// Policy label (panel title).
    pub label: String,
    /// Bin start times, s.
    pub bin_start_s: Vec<f64>,
    /// Mean cores busy with background work per bin.
    pub background_cores: Vec<f64>,
    /// Mean hidden size of the steps that ended in each bin (`None`: no step ended).
    pub mean_width: Vec<Option<f64>>,
    /// Frames that missed their deadline per bin.
    pub misses: Vec<usize>,
    /// On a node of several devices, each device's name and mean busy cores per bin (background and
    /// streams), drawn as a line each on the left axis; empty on a one-device node (nothing drawn).
    pub device_busy: Vec<(String, Vec<f64>)>,
}

/// A drawing error as text (what the drawing closures of [`render_both!`] return).
pub(crate) fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The timeline figure: one panel per run; background load (grey area, left axis, cores), the mean
/// width chosen (line, right axis, hidden units), bins with deadline misses (vermillion marks) and,
/// on a node of several devices, each device's busy cores (a line each, left axis, with a legend
/// in the panel). `cores` is the left axis's scale: every core of the node.
///
/// # Errors
/// [`PlotError`] if drawing fails.
pub fn timeline(panels: &[TimelinePanel], cores: usize, max_width: usize, horizon_s: f64) -> Result<Figure, PlotError> {
    let height = 40 + 240 * panels.len().max(1) as u32;
    render_both!("timeline", (1000, height), |root| {
        root.fill(&WHITE).map_err(err)?;
        let (legend, body) = root.split_vertically(40);
        let text = (FONT, 14).into_font().color(&BLACK);
        let y = 22;
        legend
            .draw(&Rectangle::new([(60, y - 6), (80, y + 6)], RGBColor(150, 150, 150).mix(0.45).filled()))
            .map_err(err)?;
        legend
            .draw(&Text::new("background share of the core, as served (left axis)", (86, y - 8), text.clone()))
            .map_err(err)?;
        legend.draw(&PathElement::new(vec![(440, y), (460, y)], PALETTE[0].stroke_width(2))).map_err(err)?;
        legend.draw(&Text::new("mean width chosen per bin (right axis)", (466, y - 8), text.clone())).map_err(err)?;
        legend.draw(&Cross::new((780, y), 4, PALETTE[1].stroke_width(2))).map_err(err)?;
        legend.draw(&Text::new("bin with deadline misses", (790, y - 8), text)).map_err(err)?;
        let areas = body.split_evenly((panels.len().max(1), 1));
        for (panel, area) in panels.iter().zip(areas.iter()) {
            let mut chart = ChartBuilder::on(area)
                .caption(panel.label.as_str(), (FONT, 18))
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(56)
                .right_y_label_area_size(60)
                .build_cartesian_2d(0f64..horizon_s, 0f64..cores as f64 * 1.2)
                .map_err(err)?
                .set_secondary_coord(0f64..horizon_s, 0f64..max_width as f64 * 1.2);
            chart
                .configure_mesh()
                .x_desc("simulation time (s)")
                .y_desc("background (cores)")
                .x_label_formatter(&|v| format!("{v:.0}"))
                .y_label_formatter(&|v| format!("{v:.1}"))
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 14))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(err)?;
            chart
                .configure_secondary_axes()
                .y_desc("mean width chosen (hidden units)")
                .y_label_formatter(&|v| format!("{v:.0}"))
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 14))
                .draw()
                .map_err(err)?;
            let half = panel.bin_start_s.get(1).map_or(0.5, |b| b - panel.bin_start_s[0]) / 2.0;
            chart
                .draw_series(AreaSeries::new(
                    panel.bin_start_s.iter().zip(&panel.background_cores).map(|(t, c)| (t + half, *c)),
                    0.0,
                    RGBColor(150, 150, 150).mix(0.45),
                ))
                .map_err(err)?
                .label("background load")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 16, y + 5)], RGBColor(150, 150, 150).mix(0.45).filled())
                });
            let mut segment: Vec<(f64, f64)> = Vec::new();
            let mut segments = Vec::new();
            for (t, w) in panel.bin_start_s.iter().zip(&panel.mean_width) {
                match w {
                    Some(w) => segment.push((t + half, *w)),
                    None if !segment.is_empty() => segments.push(std::mem::take(&mut segment)),
                    None => {}
                }
            }
            if !segment.is_empty() {
                segments.push(segment);
            }
            for (i, seg) in segments.into_iter().enumerate() {
                let series =
                    chart.draw_secondary_series(LineSeries::new(seg, PALETTE[0].stroke_width(2))).map_err(err)?;
                if i == 0 {
                    series
                        .label("mean width chosen")
                        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], PALETTE[0].stroke_width(2)));
                }
            }
            for (index, (name, busy)) in panel.device_busy.iter().enumerate() {
                let colour = PALETTE[(2 + index) % PALETTE.len()];
                chart
                    .draw_series(LineSeries::new(
                        panel.bin_start_s.iter().zip(busy).map(|(t, c)| (t + half, *c)),
                        colour.stroke_width(1),
                    ))
                    .map_err(err)?
                    .label(format!("busy cores on {name}"))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
            }
            if !panel.device_busy.is_empty() {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperLeft)
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK.mix(0.3))
                    .label_font((FONT, 12))
                    .draw()
                    .map_err(err)?;
            }
            let top = max_width as f64 * 1.12;
            chart
                .draw_secondary_series(
                    panel
                        .bin_start_s
                        .iter()
                        .zip(&panel.misses)
                        .filter(|(_, m)| **m > 0)
                        .map(|(t, _)| Cross::new((t + half, top), 4, PALETTE[1].stroke_width(2))),
                )
                .map_err(err)?;
        }
        Ok(())
    })
}

/// Empirical CDFs of frame latency, one line per run, with the deadline as a dashed line.
///
/// `latencies_s` are sorted ascending per run.
///
/// # Errors
/// [`PlotError`] if drawing fails.
pub fn latency_cdf(runs: &[(String, Vec<f64>)], deadline_s: Option<f64>, stream: &str) -> Result<Figure, PlotError> {
    let max_ms = runs.iter().filter_map(|(_, l)| l.last()).fold(deadline_s.unwrap_or(0.0), |a, &b| a.max(b)).max(1e-6)
        * 1e3
        * 1.05;
    render_both!("latency_cdf", (800, 520), |root| {
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("Frame latency of stream `{stream}` (release to end, completed frames)"), (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..max_ms, 0f64..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("latency (ms)")
            .y_desc("fraction of frames ≤ latency")
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(err)?;
        for (i, (label, latencies)) in runs.iter().enumerate() {
            let n = latencies.len().max(1) as f64;
            let colour = PALETTE[i % PALETTE.len()];
            // Step function, thinned to at most ~2000 points.
            let stride = (latencies.len() / 2000).max(1);
            let mut points = vec![(0.0, 0.0)];
            for (k, v) in latencies.iter().enumerate().step_by(stride) {
                points.push((v * 1e3, k as f64 / n));
                points.push((v * 1e3, (k + 1) as f64 / n));
            }
            if let Some(last) = latencies.last() {
                points.push((last * 1e3, 1.0));
            }
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .map_err(err)?
                .label(label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
        }
        if let Some(d) = deadline_s {
            let d = d * 1e3;
            chart
                .draw_series(DashedLineSeries::new(vec![(d, 0.0), (d, 1.0)], 6, 4, BLACK.stroke_width(1)))
                .map_err(err)?
                .label("deadline")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.stroke_width(1)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 13))
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_render_with_text_in_both_formats() {
        let runs = vec![("a".to_string(), vec![0.001, 0.002, 0.004]), ("b".to_string(), vec![0.003])];
        let figure = latency_cdf(&runs, Some(0.005), "s").unwrap();
        assert!(figure.svg.contains("<text") && figure.svg.contains("latency (ms)"));
        assert_eq!(&figure.png[1..4], b"PNG");
        let panel = TimelinePanel {
            label: "p".into(),
            bin_start_s: vec![0.0, 1.0, 2.0],
            background_cores: vec![0.0, 1.0, 0.5],
            mean_width: vec![Some(128.0), None, Some(64.0)],
            misses: vec![0, 3, 0],
            device_busy: Vec::new(),
        };
        let figure = timeline(&[panel.clone(), panel.clone()], 1, 128, 3.0).unwrap();
        assert!(figure.svg.contains("simulation time (s)"));
        assert!(!figure.svg.contains("busy cores on"));
        assert!(figure.png.len() > 1000);
        // Several devices: a line and a legend entry per device.
        let devices = vec![("cpu".to_string(), vec![1.0, 2.0, 0.5]), ("gpu".to_string(), vec![0.0, 1.0, 1.0])];
        let figure = timeline(&[TimelinePanel { device_busy: devices, ..panel }], 3, 128, 3.0).unwrap();
        assert!(figure.svg.contains("busy cores on cpu") && figure.svg.contains("busy cores on gpu"));
    }
}
