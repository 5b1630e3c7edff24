//! The default scenario shows what flexrnn exists for: under contention the widest static model
//! misses deadlines and loses accuracy to skipped frames, the narrowest keeps up but is less
//! accurate, and greedy_slack beats both on accuracy.

use flexrnn::report;

use crate::{run_text, shipped};

#[test]
fn greedy_slack_beats_both_static_models_on_accuracy() {
    let (scenario, resources, results) = run_text(&shipped("default.yaml"), true);
    let labels = report::labels(&scenario, &resources);
    let summaries: Vec<_> = results.iter().map(|r| report::summary_rows(r, &scenario, &labels)).collect();
    let rows = report::comparison_rows(&summaries);
    let get = |policy: &str| rows.iter().find(|r| r.policy == policy).unwrap_or_else(|| panic!("{policy}"));
    let (wide, narrow, greedy) = (get("static-gru-128"), get("static-gru-16"), get("greedy_slack"));
    assert!(wide.sequences >= 350 && narrow.sequences == wide.sequences && greedy.sequences == wide.sequences);
    assert!(wide.miss_rate.unwrap() > 0.2 && wide.skip_rate.unwrap() > 0.1, "{wide:?}");
    assert!(narrow.miss_rate.unwrap() < 0.01, "{narrow:?}");
    assert!(greedy.accuracy > wide.accuracy && greedy.accuracy > narrow.accuracy, "{rows:#?}");
}
