//! Parameter memory, energy and several streams on one node.

use flexrnn::policy::static_::StaticConfig;
use flexrnn::policy::PolicySpec;
use flexrnn::report;
use flexrnn::scenario::{NodeSpec, ParameterMemory, PowerDraw, ScenarioBuilder, StreamBuilder};

use crate::{default_builder, default_policies, default_stream, ms, run_built, secs, short_default};

/// The default scenario for 8 s and 20 sequences, its node changed by `edit`.
fn with_node(edit: impl FnOnce(&mut NodeSpec)) -> ScenarioBuilder {
    let mut node = crate::load_shipped("default.yaml").node();
    edit(&mut node);
    short_default(20, secs(8)).node(node)
}

/// A parameter memory of `capacity` bytes, loaded at 10 MB/s.
fn memory(capacity: u64) -> impl FnOnce(&mut NodeSpec) {
    move |node| node.memory = Some(ParameterMemory { capacity, bandwidth: 10e6 })
}

#[test]
fn parameter_memory_loads_only_what_is_not_resident() {
    // Room for every model (4 328 + 14 760 + 54 056 + 206 376 bytes < 512 KiB): each model used is
    // loaded once. At 10 MB/s, gru-128's 206 376 bytes take 20.6 ms.
    let (scenario, resources, results) = run_built(with_node(memory(512 * 1024)), false);
    let labels = report::labels(&scenario, &resources);
    for result in &results {
        let row = &report::summary_rows(result, &scenario, &labels)[0];
        let used: std::collections::BTreeSet<usize> =
            result.outcome.recorder.steps.iter().filter_map(|s| s.model).collect();
        assert_eq!(row.param_loads, Some(used.len() as u64), "{}", result.plan.label);
    }
    let wide = results.iter().find(|r| r.plan.label == "static-gru-128").unwrap();
    assert_eq!(wide.outcome.memory[0].bytes_loaded, 206_376);
    assert!((wide.outcome.memory[0].wait_s - 0.0206376).abs() < 1e-9);
    // Room for gru-128 only: greedy_slack, switching between widths, reloads again and again.
    let (_, _, results) = run_built(with_node(memory(210_000)), false);
    let greedy = results.iter().find(|r| r.plan.label == "greedy_slack").unwrap();
    assert!(greedy.outcome.memory[0].loads > 10, "{:?}", greedy.outcome.memory[0]);
    let narrow = results.iter().find(|r| r.plan.label == "static-gru-16").unwrap();
    assert_eq!(narrow.outcome.memory[0].loads, 1);
}

#[test]
fn energy_adds_idle_and_busy_power() {
    let power = |node: &mut NodeSpec| node.power = Some(PowerDraw { idle: 1.0, busy: 3.0 });
    let (scenario, resources, results) = run_built(with_node(power), false);
    let labels = report::labels(&scenario, &resources);
    let rows = report::summary_rows(&results[0], &scenario, &labels);
    let node = rows.iter().find(|r| r.kind == "node").unwrap();
    // 1 core, 8 s: 1 W × 8 s idle draw plus 2 W per busy core-second.
    let expected = 8.0 + 2.0 * node.utilisation * 8.0;
    assert!((node.energy_j.unwrap() - expected).abs() < 1e-9, "{node:?}");
    let dynamic: f64 = rows.iter().filter(|r| r.kind != "node").map(|r| r.energy_j.unwrap()).sum();
    assert!(
        (dynamic + 8.0 - node.energy_j.unwrap()).abs() < 1e-6,
        "processes' dynamic energy plus idle draw is the total"
    );
}

#[test]
fn two_streams_share_the_node() {
    // The default scenario with a second stream of its own (gru-32) after the first.
    let first = default_policies(default_stream().sequences(10));
    let gru_32 = PolicySpec::new(StaticConfig { model: "gru-32".into() }).unwrap();
    let second =
        StreamBuilder::new("digits-2", "digits", "../models/digits-gru", ms(5), ms(5)).sequences(10).policy(gru_32);
    let (scenario, resources, results) = run_built(default_builder(secs(6), [first, second]), false);
    assert_eq!(results.len(), 3);
    let labels = report::labels(&scenario, &resources);
    let rows = report::summary_rows(&results[0], &scenario, &labels);
    assert_eq!(rows.iter().filter(|r| r.kind == "rnn_stream").count(), 2);
    let second_stream = rows.iter().find(|r| r.process == "digits-2").unwrap();
    assert_eq!(second_stream.policy, "static-gru-32");
    assert!(second_stream.sequences.unwrap() >= 10 && second_stream.utilisation > 0.0);
}
