//! Issue 15: the run figures show what each policy chose, for every family, in files ready for a
//! paper.

use flexrnn::metrics::RunStats;
use flexrnn::report::plots::{self, ChoiceAxis, TimelinePanel};
use flexrnn::report::{outputs, run_stats, timeline_panels};

use crate::{load_shipped, run_built, secs};

/// Every output file of a run: (path in the output folder, bytes).
type Files = Vec<(std::path::PathBuf, Vec<u8>)>;

/// A shipped scenario run for 10 s: the run labels, the timeline's panels and axis, and every output
/// file.
fn timeline_of(name: &str) -> (Vec<String>, Vec<TimelinePanel>, ChoiceAxis, Files) {
    let (scenario, resources, results) = run_built(load_shipped(name).to_builder().duration(secs(10)), true);
    let stats: Vec<RunStats> = results.iter().map(|r| run_stats(r, &scenario)).collect();
    let (panels, axis) = timeline_panels(&scenario, &resources, &results, &stats).expect("a stream");
    let files = outputs(&scenario, &resources, &results).unwrap();
    (results.iter().map(|r| r.plan.label.clone()).collect(), panels, axis, files)
}

fn values(panel: &TimelinePanel) -> Vec<f64> {
    panel.choice.iter().flatten().copied().collect()
}

fn mean(panel: &TimelinePanel) -> f64 {
    let v = values(panel);
    v.iter().sum::<f64>() / v.len() as f64
}

/// The two static policies of each family scenario chose different settings: their timeline lines
/// differ (each flat at its setting's cost per step), the figure says which family and knob, and the
/// drawn SVG differs with the line alone. Before, ThrRNN and SkipW lines were all flat at width 64.
#[test]
fn the_timeline_shows_what_each_policy_chose_in_every_family() {
    for (name, family, static_policies) in [
        ("thr-knob.yaml", "ThrRNN (model, thr) chosen", ["static-thr-64-1e-3@thr=0", "static-thr-64-3e-3@thr=0.9"]),
        ("skipw-window.yaml", "SkipW (K, thr) chosen", ["static-k=8,thr=0", "static-k=4,thr=0.5"]),
        ("nested-width.yaml", "nested width w chosen", ["static-w=128", "static-w=16"]),
    ] {
        let (labels, panels, axis, files) = timeline_of(name);
        assert_eq!(labels[..2], static_policies, "{name}");
        assert!(axis.legend.starts_with(family), "{name}: {}", axis.legend);
        assert_eq!(axis.label, "chosen kFLOP/step");
        for panel in &panels[..2] {
            let v = values(panel);
            assert!(v.len() > 5, "{name}: steps ended in most bins");
            assert!(v.iter().all(|x| (x - v[0]).abs() < 1e-9), "{name}: a static policy's line is flat");
            assert!(v[0] > 0.0 && v[0] <= axis.max + 1e-9, "{name}: {} of at most {}", v[0], axis.max);
        }
        let (a, b) = (mean(&panels[0]), mean(&panels[1]));
        assert!(b < 0.8 * a, "{name}: the cheaper static setting is drawn lower ({b} vs {a} kFLOP/step)");
        assert!(
            panels[0].label.contains("mostly") && panels[0].label.contains("100 % of steps"),
            "{}",
            panels[0].label
        );
        // The SVG of the first panel and of the second with everything but its choices copied from
        // the first: they differ only by the line, and they do differ.
        let first = TimelinePanel { label: "run".into(), ..panels[0].clone() };
        let second = TimelinePanel { choice: panels[1].choice.clone(), ..first.clone() };
        let draw = |panel: &TimelinePanel| {
            plots::timeline(std::slice::from_ref(panel), "digits", 1, &axis, 10.0, plots::COLUMN_WIDTH).unwrap()
        };
        assert_ne!(draw(&first), draw(&second), "{name}: the drawn line follows the choice");
        // The figure files at both widths, the legend naming the family.
        let file =
            |path: &str| &files.iter().find(|(p, _)| p.to_str() == Some(path)).unwrap_or_else(|| panic!("{path}")).1;
        let svg = String::from_utf8(file("plots/timeline.svg").clone()).unwrap();
        assert!(svg.contains(family) && svg.contains("chosen kFLOP/step"), "{name}");
        assert!(svg.contains("cores of 1, left axis"), "{name}: the load in cores");
        for path in ["plots/timeline.pdf", "plots/timeline-wide.pdf", "plots/latency_cdf.pdf"] {
            assert!(file(path).starts_with(b"%PDF-"), "{path}");
        }
        let latency = String::from_utf8(file("plots/latency_cdf.svg").clone()).unwrap();
        assert!(latency.contains("deadline (5 ms)"), "{name}");
    }
}
