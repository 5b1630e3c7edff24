//! The self-contained HTML report of a study: one file with the figures inlined as SVG first, then
//! the tables of means and 95% confidence intervals, the paired differences (collapsed, filterable
//! by metric and policy with a few lines of inline script), the study file and the tool version;
//! a caveat when there are too few replications for the intervals to mean much. It loads nothing
//! from the network and carries no timestamp, so the same view gives the same bytes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::view::{Estimate, StudyView};

/// A metric of the study as the report shows it.
struct Metric {
    /// Name in [`super::view::PairedDifference::metric`] (and `summary.csv`).
    key: &'static str,
    /// Table title.
    title: &'static str,
    /// Unit of the shown values, and of differences.
    unit: &'static str,
    difference_unit: &'static str,
    /// Multiplier from the view's unit to the shown one.
    factor: f64,
}

/// Every metric a study summarises ([`super::aggregate::METRICS`]), latencies in ms.
const METRICS: [Metric; 8] = [
    Metric { key: "accuracy", title: "Accuracy", unit: "%", difference_unit: "percentage points", factor: 100.0 },
    Metric {
        key: "miss_rate",
        title: "Deadline-miss rate",
        unit: "%",
        difference_unit: "percentage points",
        factor: 100.0,
    },
    Metric {
        key: "skip_rate",
        title: "Skip rate (frames dropped)",
        unit: "%",
        difference_unit: "percentage points",
        factor: 100.0,
    },
    Metric {
        key: "mean_flops_per_step",
        title: "Mean compute per step",
        unit: "kFLOP",
        difference_unit: "kFLOP",
        factor: 1e-3,
    },
    Metric { key: "mean_latency_s", title: "Mean step latency", unit: "ms", difference_unit: "ms", factor: 1e3 },
    Metric {
        key: "p95_latency_s",
        title: "95th-percentile step latency",
        unit: "ms",
        difference_unit: "ms",
        factor: 1e3,
    },
    Metric {
        key: "node_utilisation",
        title: "Node utilisation",
        unit: "%",
        difference_unit: "percentage points",
        factor: 100.0,
    },
    Metric { key: "node_energy_j", title: "Node energy", unit: "J", difference_unit: "J", factor: 1.0 },
];

fn metric(key: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.key == key)
}

/// Below this many replications the report warns that its intervals are rough.
pub const FEW_REPLICATIONS: usize = 10;

/// The report as one HTML document, in reading order: the caveats, the figures, the summary tables
/// (means and intervals), the grid points, the paired differences (collapsed; filterable by metric
/// and policy, by default only the intervals that exclude 0), the study file. `figures` are the
/// files of [`super::figures::study_figures`]: each two-column SVG among them (`-wide`, else the
/// one-column one) is inlined with its caption (PDFs, PNGs and CSVs are named, not embedded). Every
/// text taken from the view is HTML-escaped; the few lines of script are inline, so the file opens
/// offline.
pub fn html_report(view: &StudyView, figures: &[(PathBuf, Vec<u8>)]) -> String {
    let mut html = String::new();
    let title = format!("flexrnn study: {}", view.name);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n\
         <style>\n{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let _ = writeln!(
        html,
        "<p class=\"meta\">flexrnn {} · {} grid point{} × {} polic{} × {} replication{} per point · \
         intervals are 95% confidence intervals of the mean over replications (Student t); \
         policies at the same point and replication share every random stream (common random numbers).</p>",
        escape(&view.tool_version),
        view.points.len(),
        plural(view.points.len()),
        view.policies.len(),
        if view.policies.len() == 1 { "y" } else { "ies" },
        view.replications,
        plural(view.replications),
    );
    if view.replications < FEW_REPLICATIONS {
        let _ = writeln!(
            html,
            "<p class=\"note caveat\"><strong>Caveat: {} replication{} per point.</strong> {} Run at least \
             {FEW_REPLICATIONS} replications (<code>replications:</code> in the study file) before reading \
             the intervals as evidence.</p>",
            view.replications,
            plural(view.replications),
            if view.replications < 2 {
                "With a single replication there is no interval at all: every number is one run's value.".to_string()
            } else {
                format!(
                    "A 95% interval from {} values rests on a t distribution with {} degree{} of freedom and \
                     on the values being roughly normal; it is wide and itself uncertain, so treat the \
                     intervals (and which differences exclude 0) as rough.",
                    view.replications,
                    view.replications - 1,
                    plural(view.replications - 1)
                )
            }
        );
    }
    if view.policies.iter().any(|p| is_oracle(p)) {
        html.push_str(
            "<p class=\"note\"><strong>Note.</strong> Policies marked † (labels containing \
             <code>oracle</code>) are clairvoyant: they know the future background load of their run and \
             choose with that knowledge. They are an upper bound on what a policy could reach, not a \
             policy one could deploy.</p>\n",
        );
    }
    html.push_str(
        "<nav><a href=\"#figures\">Figures</a> · <a href=\"#results\">Results</a> · \
         <a href=\"#points\">Grid points</a> · <a href=\"#differences\">Paired differences</a> · \
         <a href=\"#study-file\">Study file</a></nav>\n",
    );

    figures_section(&mut html, view, figures);
    results_tables(&mut html, view);
    points_table(&mut html, view);
    differences_table(&mut html, view);

    let _ = writeln!(
        html,
        "<h2 id=\"study-file\">Study file</h2>\n<pre>{}</pre>\n<footer>Made by flexrnn {}.</footer>\n\
         <script>\n{SCRIPT}</script>\n</body>\n</html>",
        escape(&view.study_text),
        escape(&view.tool_version)
    );
    html
}

const STYLE: &str = "body { font-family: 'DejaVu Sans', Verdana, sans-serif; max-width: 1000px; margin: 2em auto; \
padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; } h3 { font-size: 1em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
td { white-space: nowrap; font-variant-numeric: tabular-nums; }
th { background: #f2f2f2; } td.label, th.label { text-align: left; }
tr.sig td { font-weight: bold; }
.meta, .note, figcaption, .caption { font-size: 0.9em; }
.note { background: #fff8e1; border-left: 4px solid #e69f00; padding: 0.5em 0.8em; }
.caveat { border-left-color: #d55e00; }
details { margin: 0.5em 0 1.5em; } summary { cursor: pointer; font-weight: bold; }
.filters { margin: 0.6em 0; font-size: 0.9em; } .filters label { margin-right: 1.2em; }
figure { margin: 1.5em 0; } figure svg { width: 100%; height: auto; display: block; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
footer { margin-top: 3em; font-size: 0.8em; color: #666; }
";

/// The filter of the paired differences: a row shows when its metric and one of its policies match
/// the menus and, with the box ticked, its interval excludes 0. Rows start as the defaults show them
/// (only the intervals that exclude 0), so the report reads the same without script.
const SCRIPT: &str = "(function () {
  var metric = document.getElementById('filter-metric');
  var policy = document.getElementById('filter-policy');
  var sig = document.getElementById('filter-sig');
  var count = document.getElementById('filter-count');
  if (!metric || !policy || !sig) { return; }
  function apply() {
    var rows = document.querySelectorAll('#differences-table tr[data-metric]');
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      var ok = (metric.value === '' || r.dataset.metric === metric.value)
        && (policy.value === '' || r.dataset.a === policy.value || r.dataset.b === policy.value)
        && (!sig.checked || r.dataset.sig === '1');
      r.hidden = !ok;
      if (ok) { shown++; }
    }
    count.textContent = shown + ' of ' + rows.length + ' rows shown';
  }
  metric.addEventListener('change', apply);
  policy.addEventListener('change', apply);
  sig.addEventListener('change', apply);
  apply();
})();
";

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn is_oracle(policy: &str) -> bool {
    policy.to_lowercase().contains("oracle")
}

/// A policy label for a table header, with † for clairvoyant policies.
fn policy_header(policy: &str) -> String {
    if is_oracle(policy) {
        format!("{} †", escape(policy))
    } else {
        escape(policy)
    }
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Decimals for showing `value`: two significant digits of a half-width, three of a mean.
fn decimals(value: f64, significant: i32) -> usize {
    if !(value.is_finite() && value != 0.0) {
        return 1;
    }
    (significant - 1 - value.abs().log10().floor() as i32).clamp(0, 6) as usize
}

/// `mean ± half-width` in the shown unit; the mean alone (and `n = 1`) without an interval; `–`
/// when there is no mean.
fn format_estimate(estimate: &Estimate, factor: f64) -> String {
    let mean = estimate.mean * factor;
    let half = estimate.half_width * factor;
    if !mean.is_finite() {
        return "–".to_string();
    }
    // A half-width that rounds to zero where it would be shown (e.g. 1e-17 from identical values
    // summed in floating point) is a zero-width interval.
    let half = if half.is_finite() && half < 0.5 * 10f64.powi(-(decimals(half, 2) as i32)) { 0.0 } else { half };
    if half.is_finite() && half > 0.0 {
        let d = decimals(half, 2);
        format!("{mean:.d$} ± {half:.d$}")
    } else if half == 0.0 {
        let d = decimals(mean, 3);
        format!("{mean:.d$} ± 0")
    } else {
        let d = decimals(mean, 3);
        format!("{mean:.d$} (n = {})", estimate.n)
    }
}

fn point_name(view: &StudyView, point: usize) -> String {
    match view.points.iter().find(|p| p.index == point) {
        Some(p) if !p.label.is_empty() => p.label.clone(),
        _ => format!("point {point}"),
    }
}

fn point_load(view: &StudyView, point: usize) -> String {
    view.points
        .iter()
        .find(|p| p.index == point)
        .filter(|p| p.load.is_finite())
        .map_or("–".to_string(), |p| format!("{:.1}", p.load * 100.0))
}

fn points_table(html: &mut String, view: &StudyView) {
    html.push_str(
        "<h2 id=\"points\">Grid points</h2>\n<div class=\"scroll\"><table>\n<tr><th>#</th><th class=\"label\">axis values</th>\
         <th>offered background load (% of capacity)</th></tr>\n",
    );
    for point in &view.points {
        let focus = if point.index == view.focus_point { " (focus)" } else { "" };
        let _ = writeln!(
            html,
            "<tr><td>{}{focus}</td><td class=\"label\">{}</td><td>{}</td></tr>",
            point.index,
            escape(&point_name(view, point.index)),
            point_load(view, point.index)
        );
    }
    html.push_str("</table></div>\n<p class=\"caption\">The latency distributions and setting shares are drawn at the focus point.</p>\n");
}

/// The value of the metric `key` in a cell, for the metrics the view keeps per cell.
fn cell_value(cell: &super::view::CellSummary, key: &str) -> Option<Estimate> {
    match key {
        "accuracy" => Some(cell.accuracy),
        "miss_rate" => Some(cell.miss_rate),
        "mean_flops_per_step" => Some(cell.mean_flops_per_step),
        "mean_latency_s" => Some(cell.mean_latency_s),
        "node_energy_j" => cell.energy_j,
        _ => None,
    }
}

fn results_tables(html: &mut String, view: &StudyView) {
    let _ = writeln!(
        html,
        "<h2 id=\"results\">Results</h2>\n<p class=\"caption\">Mean ± half-width of the 95% confidence \
         interval over {} replication{}, per grid point (rows) and policy (columns).</p>",
        view.replications,
        plural(view.replications)
    );
    for metric in METRICS.iter().filter(|m| view.cells.iter().any(|c| cell_value(c, m.key).is_some())) {
        let _ = write!(
            html,
            "<h3 id=\"table-{}\">{} ({})</h3>\n<div class=\"scroll\"><table>\n<tr><th class=\"label\">grid point</th><th>load (%)</th>",
            metric.key,
            metric.title,
            escape(metric.unit)
        );
        for policy in &view.policies {
            let _ = write!(html, "<th>{}</th>", policy_header(policy));
        }
        html.push_str("</tr>\n");
        for point in &view.points {
            let _ = write!(
                html,
                "<tr><td class=\"label\">{}</td><td>{}</td>",
                escape(&point_name(view, point.index)),
                point_load(view, point.index)
            );
            for policy in &view.policies {
                let cell = view.cells.iter().find(|c| c.point == point.index && &c.policy == policy);
                let text = cell
                    .and_then(|c| cell_value(c, metric.key))
                    .map_or("–".to_string(), |e| format_estimate(&e, metric.factor));
                let _ = write!(html, "<td>{}</td>", escape(&text));
            }
            html.push_str("</tr>\n");
        }
        html.push_str("</table></div>\n");
    }
}

/// Whether a difference's interval excludes 0.
fn excludes_zero(estimate: &Estimate) -> bool {
    estimate.half_width.is_finite() && (estimate.low() > 0.0 || estimate.high() < 0.0)
}

fn differences_table(html: &mut String, view: &StudyView) {
    html.push_str(
        "<h2 id=\"differences\">Paired differences</h2>\n<p class=\"caption\">Per replication, the \
         difference a − b between two policies' runs, which share every random stream; mean ± half-width \
         of its 95% confidence interval. <strong>Bold</strong> rows (● in the last column) have an interval \
         that excludes 0: the policies differ at that point.</p>\n",
    );
    if view.paired.is_empty() {
        html.push_str("<p>No paired differences (fewer than two policies, or one replication).</p>\n");
        return;
    }
    let significant = view.paired.iter().filter(|d| excludes_zero(&d.difference)).count();
    let _ = writeln!(
        html,
        "<details>\n<summary>{} paired difference{}, {} with an interval that excludes 0 (click to open)</summary>",
        view.paired.len(),
        plural(view.paired.len()),
        significant
    );
    // The filter menus: the metrics and policies that occur, in the report's order.
    let mut metrics: Vec<&str> = Vec::new();
    for difference in &view.paired {
        if !metrics.contains(&difference.metric.as_str()) {
            metrics.push(&difference.metric);
        }
    }
    html.push_str("<div class=\"filters\"><label>metric <select id=\"filter-metric\"><option value=\"\">all</option>");
    for key in &metrics {
        let title = metric(key).map_or(*key, |m| m.title);
        let _ = write!(html, "<option value=\"{}\">{}</option>", escape(key), escape(title));
    }
    html.push_str("</select></label><label>policy <select id=\"filter-policy\"><option value=\"\">all</option>");
    for policy in &view.policies {
        let _ = write!(html, "<option value=\"{}\">{}</option>", escape(policy), policy_header(policy));
    }
    let _ = writeln!(
        html,
        "</select></label><label><input type=\"checkbox\" id=\"filter-sig\" checked> only intervals that \
         exclude 0</label> <span id=\"filter-count\">{significant} of {} rows shown</span></div>",
        view.paired.len()
    );
    html.push_str(
        "<div class=\"scroll\"><table id=\"differences-table\">\n<tr><th class=\"label\">grid point</th><th class=\"label\">metric</th>\
         <th class=\"label\">policy a</th><th class=\"label\">policy b</th><th>a − b</th>\
         <th class=\"label\">unit</th><th>excludes 0</th></tr>\n",
    );
    for difference in &view.paired {
        let (factor, unit, title) = metric(&difference.metric)
            .map_or((1.0, "", difference.metric.as_str()), |m| (m.factor, m.difference_unit, m.title));
        let estimate = &difference.difference;
        let sig = excludes_zero(estimate);
        let _ = writeln!(
            html,
            "<tr data-metric=\"{}\" data-a=\"{}\" data-b=\"{}\" data-sig=\"{}\"{}><td class=\"label\">{}</td>\
             <td class=\"label\">{}</td><td class=\"label\">{}</td><td class=\"label\">{}</td><td>{}</td>\
             <td class=\"label\">{}</td><td>{}</td></tr>",
            escape(&difference.metric),
            escape(&difference.policy_a),
            escape(&difference.policy_b),
            u8::from(sig),
            if sig { " class=\"sig\"" } else { " hidden" },
            escape(&point_name(view, difference.point)),
            escape(title),
            policy_header(&difference.policy_a),
            policy_header(&difference.policy_b),
            escape(&format_estimate(estimate, factor)),
            escape(unit),
            if sig { "●" } else { "" }
        );
    }
    html.push_str("</table></div>\n</details>\n");
}

/// What a figure shows, by file stem.
fn caption(stem: &str, view: &StudyView) -> String {
    let focus =
        format!("grid point {} (load {} %)", point_name(view, view.focus_point), point_load(view, view.focus_point));
    let bars = "Bars: 95% confidence intervals over replications (none when there is a single replication).";
    match stem {
        "miss_rate_vs_load" => format!(
            "Share of frames that missed their deadline (dropped ones included) against the offered \
             background load, one line per policy. Policies are offset slightly along the load axis so that \
             their bars stay visible. {bars}"
        ),
        "accuracy_vs_flops" => format!(
            "Accuracy against mean compute per executed step, one marker per grid point and policy. The \
             dashed black step line is the Pareto front over all markers: the best accuracy reached with at \
             most that many FLOPs per step. {bars}"
        ),
        "latency_cdf" => format!(
            "Distribution of step latency (release to end, log scale) at {focus}, pooled over \
             replications. Frames that never completed (dropped or unfinished) count as infinitely late, so a \
             curve tops out below 100 % by their share, given in the legend. Values between histogram bin \
             edges are interpolated. The dashed black line is the frames' deadline{}.",
            view.deadline_s.map_or(String::new(), |d| format!(" ({} ms)", crate::report::plots::short_number(d * 1e3)))
        ),
        "setting_share" => format!(
            "Share of executed steps in each setting (model) over simulated time at {focus}, pooled over \
             replications, one panel per policy. Blank bins: no step was executed in them."
        ),
        "energy_vs_accuracy" => {
            format!("Node energy over the run against accuracy, one marker per grid point and policy. {bars}")
        }
        other => format!("Figure {other}."),
    }
}

fn figures_section(html: &mut String, view: &StudyView, figures: &[(PathBuf, Vec<u8>)]) {
    html.push_str("<h2 id=\"figures\">Figures</h2>\n");
    let is_svg = |p: &Path| p.extension().is_some_and(|e| e == "svg");
    let stem_of = |p: &Path| p.file_stem().map_or(String::new(), |s| s.to_string_lossy().into_owned());
    // One figure per stem: its two-column drawing when there is one (it suits a screen), else the
    // one-column drawing.
    let mut shown: Vec<(String, &PathBuf, &Vec<u8>)> = Vec::new();
    for (path, bytes) in figures.iter().filter(|(p, _)| is_svg(p)) {
        let file_stem = stem_of(path);
        let (stem, wide) = match file_stem.strip_suffix("-wide") {
            Some(stem) => (stem.to_string(), true),
            None => (file_stem.clone(), false),
        };
        match shown.iter_mut().find(|(s, _, _)| *s == stem) {
            Some(entry) if wide => *entry = (stem, path, bytes),
            Some(_) => {}
            None => shown.push((stem, path, bytes)),
        }
    }
    if shown.is_empty() {
        html.push_str("<p>No figures.</p>\n");
        return;
    }
    for (number, (stem, path, bytes)) in shown.into_iter().enumerate() {
        let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let files: Vec<String> = [
            format!("{stem}.pdf"),
            format!("{stem}.png"),
            format!("{stem}-wide.pdf"),
            format!("{stem}-wide.png"),
            format!("{stem}.csv"),
        ]
        .iter()
        .map(|name| folder.join(name))
        .filter(|candidate| figures.iter().any(|(p, _)| p == candidate))
        .map(|candidate| display_path(&candidate))
        .collect();
        let _ = writeln!(
            html,
            "<figure id=\"fig-{}\">\n{}\n<figcaption><strong>Figure {}.</strong> {}{}</figcaption>\n</figure>",
            escape(&stem),
            inline_svg(bytes),
            number + 1,
            escape(&caption(&stem, view)),
            if files.is_empty() {
                String::new()
            } else {
                format!(
                    " Files (one column, two columns, data): {}.",
                    files.iter().map(|d| format!("<code>{}</code>", escape(d))).collect::<Vec<_>>().join(", ")
                )
            }
        );
    }
}

fn display_path(path: &Path) -> String {
    path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
}

/// An SVG document ready to sit inside HTML: the XML namespace attribute (which HTML does not need)
/// removed, so that the report holds no URL at all.
fn inline_svg(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let start = text.find("<svg").unwrap_or(0);
    text[start..].replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::figures::study_figures;
    use crate::study::figures::tests::{degenerate_view, sample_view};

    #[test]
    fn the_report_holds_tables_figures_and_the_escaped_study_file() {
        let view = sample_view();
        let figures = study_figures(&view).unwrap();
        let html = html_report(&view, &figures);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>flexrnn study: sample &lt;study&gt;</title>"));
        assert!(html.contains("flexrnn 0.1.0"));
        for id in [
            "table-accuracy",
            "table-miss_rate",
            "table-mean_flops_per_step",
            "table-mean_latency_s",
            "table-node_energy_j",
        ] {
            assert!(html.contains(&format!("<h3 id=\"{id}\">")), "{id}");
        }
        // Accuracy 95% ± 1 at point 0 for static-gru-128; latency 4 ms ± 0.2.
        assert!(html.contains("<td>95.0 ± 1.0</td>"));
        assert!(html.contains("<td>4.00 ± 0.20</td>"));
        assert!(html.contains("<td>0.0 ± 0</td>") || html.contains("<td>0 ± 0</td>"), "oracle's zero misses");
        assert!(html.contains("<th>oracle †</th>"));
        assert!(html.contains("clairvoyant"));
        // The study file, escaped, in a <pre>.
        assert!(html.contains("<pre>name: sample\nbase: scenarios/default.yaml # &lt;&amp;&gt;\n</pre>"));
        // Every SVG inlined, with a caption.
        assert_eq!(html.matches("<svg").count(), 5);
        assert_eq!(html.matches("<figcaption>").count(), 5);
        assert!(html.contains("Pareto front"));
        assert!(html.contains("<code>figures/latency_cdf.csv</code>"));
        assert!(html.contains("<code>figures/latency_cdf.pdf</code>"));
        assert!(html.contains("<code>figures/latency_cdf-wide.png</code>"));
        // The two-column drawings are the ones inlined.
        assert!(html.contains("<svg width=\"700\""), "the wide figure is inlined");
        assert!(!html.contains("<svg width=\"350\""), "not the one-column one");
        // Nothing from the network.
        assert!(!html.contains("http"), "no URL at all");
        assert!(!html.contains("src="));
    }

    #[test]
    fn paired_differences_whose_interval_excludes_zero_are_marked_and_the_others_hidden() {
        let view = sample_view();
        let html = html_report(&view, &[]);
        let rows: Vec<&str> = html.lines().filter(|l| l.contains("percentage points</td>")).collect();
        assert_eq!(rows.len(), 2);
        // greedy − static at point 1: 50 ± 5 points, excludes 0: shown, bold.
        assert!(rows[0].contains("data-sig=\"1\" class=\"sig\">"), "{}", rows[0]);
        assert!(rows[0].contains("50.0 ± 5.0") && rows[0].contains("●"));
        // greedy − oracle at point 0: −2.5 ± 3.0 points, includes 0: hidden until the filter asks.
        assert!(rows[1].contains("data-sig=\"0\" hidden>"), "{}", rows[1]);
        assert!(rows[1].contains("-2.5 ± 3.0") && !rows[1].contains("●"));
        assert!(rows[0].contains("data-metric=\"accuracy\" data-a=\"greedy_slack\" data-b=\"static-gru-128\""));
        assert!(html.contains("<td class=\"label\">oracle †</td>"));
        // Collapsed, with the menus of metrics and policies and the box ticked.
        let details = html.find("<details>").unwrap();
        assert!(details < html.find("id=\"differences-table\"").unwrap());
        assert!(html.contains("<summary>2 paired differences, 1 with an interval that excludes 0"));
        assert!(html.contains("<select id=\"filter-metric\"><option value=\"\">all</option><option value=\"accuracy\">Accuracy</option></select>"));
        assert!(html.contains("<option value=\"oracle\">oracle †</option>"));
        assert!(html.contains("id=\"filter-sig\" checked"));
        assert!(html.contains("<script>") && html.contains("addEventListener('change', apply)"));
    }

    /// Issue 15: figures come first, then the tables; the paired differences last of them.
    #[test]
    fn figures_come_before_every_table() {
        let view = sample_view();
        let html = html_report(&view, &study_figures(&view).unwrap());
        let first_figure = html.find("<figure").unwrap();
        let first_table = html.find("<table").unwrap();
        assert!(first_figure < first_table, "a figure before the first table");
        let last_figure = html.rfind("</figure>").unwrap();
        assert!(last_figure < first_table, "every figure before the first table");
        let order: Vec<usize> =
            ["id=\"figures\"", "id=\"results\"", "id=\"points\"", "id=\"differences\"", "id=\"study-file\""]
                .iter()
                .map(|id| html.find(id).unwrap_or_else(|| panic!("{id}")))
                .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    }

    /// Issue 15: latencies in ms (the 95th percentile too), and cells that do not wrap.
    #[test]
    fn latencies_are_in_ms_and_numbers_do_not_wrap() {
        use crate::study::view::{Estimate, PairedDifference};
        let mut view = sample_view();
        view.paired.push(PairedDifference {
            point: 1,
            metric: "p95_latency_s".into(),
            policy_a: "greedy_slack".into(),
            policy_b: "oracle".into(),
            difference: Estimate { mean: 0.0123, half_width: 0.0021, n: 5 },
        });
        let html = html_report(&view, &[]);
        let row = html.lines().find(|l| l.contains("data-metric=\"p95_latency_s\"")).unwrap();
        assert!(row.contains("<td>12.3 ± 2.1</td><td class=\"label\">ms</td>"), "{row}");
        assert!(row.contains("95th-percentile step latency"));
        assert!(html.contains("td { white-space: nowrap;"));
        // Significant digits: two of the half-width, the mean to the same place.
        let shown =
            |mean: f64, half_width: f64, factor: f64| format_estimate(&Estimate { mean, half_width, n: 5 }, factor);
        assert_eq!(shown(0.446, 0.902, 100.0), "45 ± 90");
        assert_eq!(shown(101_123.0, 2_000.0, 1e-3), "101.1 ± 2.0");
        assert_eq!(shown(0.004_012_3, 0.000_201, 1e3), "4.01 ± 0.20");
    }

    /// Issue 15: with fewer than ten replications the report says the intervals are rough.
    #[test]
    fn too_few_replications_are_flagged() {
        let mut view = sample_view();
        view.replications = 3;
        let html = html_report(&view, &[]);
        assert!(html.contains("Caveat: 3 replications per point."), "visible caveat");
        assert!(html.contains("2 degrees of freedom"));
        let caveat = html.find("Caveat").unwrap();
        assert!(caveat < html.find("id=\"figures\"").unwrap(), "before the results");
        view.replications = 10;
        assert!(!html_report(&view, &[]).contains("Caveat"));
        view.replications = 1;
        assert!(html_report(&view, &[]).contains("no interval at all"));
    }

    #[test]
    fn the_report_is_deterministic() {
        let view = sample_view();
        let figures = study_figures(&view).unwrap();
        assert_eq!(html_report(&view, &figures), html_report(&view, &study_figures(&view).unwrap()));
    }

    #[test]
    fn a_degenerate_view_gives_a_report_without_intervals() {
        let view = degenerate_view();
        let figures = study_figures(&view).unwrap();
        let html = html_report(&view, &figures);
        assert!(html.contains("<td>100 (n = 1)</td>"), "accuracy without an interval");
        assert!(!html.contains("table-node_energy_j"), "no energy table without energy");
        assert!(html.contains("No paired differences"));
        assert!(html.contains("point 0"));
        assert!(!html.contains("clairvoyant"));
        assert_eq!(html.matches("<svg").count(), 4);
        assert!(html.contains("Caveat: 1 replication per point."));
        assert!(!html.contains("http"));
    }

    /// Identical values give a half-width of about 1e-17 in floating point, not exactly 0: it was shown
    /// as `± 0.000000`.
    #[test]
    fn zero_width_intervals_print_plus_minus_zero_not_six_zero_decimals() {
        use crate::study::view::Estimate;
        let shown = |mean: f64, half_width: f64| format_estimate(&Estimate { mean, half_width, n: 20 }, 100.0);
        assert_eq!(shown(0.95, 1.1e-17), "95.0 ± 0");
        assert_eq!(shown(0.95, 0.0), "95.0 ± 0");
        assert_eq!(shown(0.0, 4.0e-18), "0.0 ± 0");
        assert_eq!(shown(0.004, 3.0e-9), "0.400 ± 0", "0.0000003 points rounds to 0 at six decimals");
        // Small but visible half-widths keep their two significant digits.
        assert_eq!(shown(0.95, 0.000_012), "95.0000 ± 0.0012");
        assert_eq!(shown(0.95, 0.01), "95.0 ± 1.0");
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
