//! A user's policy through the whole command line: `examples/custom_policy.rs` defines `cautious` and
//! hands a registry with it to `flexrnn::cli::main_with`; these tests call `cli::run_with` (what
//! `main_with` runs) with the same registry, on the example's own scenario and study files.

#[path = "../../examples/custom_policy.rs"]
mod example;

use std::collections::BTreeMap;
use std::path::Path;

use flexrnn::policy::{ModelOption, Observation, Policy, PolicyRegistry};

use crate::root;

/// The rows of a CSV file as maps from column to value.
fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|row| header.iter().map(String::from).zip(row.unwrap().iter().map(String::from)).collect())
        .collect()
}

/// `flexrnn run` with `cautious` (the example's binary): the run's steps are exactly the rule's
/// choices — after a late step the cheapest model, back to the widest after 20 steps in time — and
/// its folder and `policy` column carry the configuration's label.
#[test]
fn custom_policy_runs_by_name_in_flexrnn_run() {
    let out = tempfile::tempdir().unwrap();
    let scenario = root().join("examples/custom-policy.yaml");
    let arguments =
        ["flexrnn", "run", scenario.to_str().unwrap(), "--out", out.path().to_str().unwrap(), "--jobs", "1"];
    flexrnn::cli::run_with(arguments, &example::registry()).unwrap();
    let comparison = csv_rows(&out.path().join("comparison.csv"));
    let policies: Vec<&str> = comparison.iter().map(|row| row["policy"].as_str()).collect();
    assert_eq!(policies, ["cautious-calm20", "greedy_slack"]);
    let mut steps = csv_rows(&out.path().join("cautious-calm20/steps.csv"));
    assert!(steps.iter().all(|row| row["policy"] == "cautious-calm20"));
    // Replay the rule over the steps that ran, in the order they started (a stream's steps run one
    // after another, so the last completed step is the previous one that ran).
    steps.retain(|row| !row["start_s"].is_empty());
    steps.sort_by(|a, b| a["start_s"].parse::<f64>().unwrap().total_cmp(&b["start_s"].parse::<f64>().unwrap()));
    let mut recovering: Option<u32> = None;
    let mut previous_late = false;
    let (mut wide, mut narrow) = (0, 0);
    for row in &steps {
        recovering = match (previous_late, recovering) {
            (true, _) => Some(0),
            (false, Some(n)) if n + 1 >= 20 => None,
            (false, Some(n)) => Some(n + 1),
            (false, None) => None,
        };
        let expected = if recovering.is_none() { "gru-128" } else { "gru-16" };
        assert_eq!(row["model"], expected, "step {} of sequence {}", row["step"], row["sequence"]);
        if expected == "gru-128" {
            wide += 1;
        } else {
            narrow += 1;
        }
        previous_late = row["missed"] == "1";
    }
    // 20 s of 5 ms frames, some skipped; both models in substantial numbers.
    assert!(
        steps.len() > 2_000 && wide > 200 && narrow > 200,
        "{} steps: {wide} gru-128, {narrow} gru-16",
        steps.len()
    );
}

/// `flexrnn study` with `cautious` in the study's `set` (the example's binary): every replication of
/// both policies ran and is in the tables under the configuration's label; the plain `flexrnn` (the
/// built-ins only) refuses the study, naming the unknown policy, where it is and the known ones.
#[test]
fn custom_policy_runs_by_name_in_flexrnn_study() {
    let out = tempfile::tempdir().unwrap();
    let study = root().join("examples/custom-policy-study.yaml");
    let arguments = ["flexrnn", "study", study.to_str().unwrap(), "--out", out.path().to_str().unwrap(), "--jobs", "2"];
    flexrnn::cli::run_with(arguments, &example::registry()).unwrap();
    let mut runs = csv_rows(&out.path().join("runs.csv"));
    runs.retain(|row| row["process"] == "digits");
    let mut per_policy: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for row in &runs {
        per_policy.entry(row["run_policy"].as_str()).or_default().push(row["replication"].as_str());
    }
    assert_eq!(
        per_policy,
        BTreeMap::from([("cautious-calm20", vec!["0", "1"]), ("greedy_slack", vec!["0", "1"])]),
        "one row per policy and replication"
    );
    // Each run's frames: 10 s of one frame every 5 ms.
    for row in &runs {
        assert_eq!((row["policy"].as_str(), row["count"].as_str()), (row["run_policy"].as_str(), "2000"), "{row:?}");
    }
    assert_eq!(std::fs::read_dir(out.path().join("runs")).unwrap().count(), 4);

    let refused = flexrnn::cli::run_with(
        ["flexrnn", "study", study.to_str().unwrap(), "--out", out.path().join("plain").to_str().unwrap()],
        &PolicyRegistry::builtin(),
    )
    .unwrap_err()
    .to_string();
    for part in [
        "custom-policy-study.yaml",
        "unknown policy `cautious`, expected one of `static`, `greedy_slack`, `threshold`, `pid`, `budget`, `random`, `confidence`, `oracle`",
    ] {
        assert!(refused.contains(part), "{part}: {refused}");
    }
}

/// A bad `cautious` configuration is refused where it is written, naming the policy and the field.
#[test]
fn custom_policy_errors_name_the_file_line_policy_and_field() {
    let text = std::fs::read_to_string(root().join("examples/custom-policy.yaml")).unwrap();
    let parse = |policy: &str| {
        // A bad value injected into the example's YAML: the errors must point at its line.
        let text = text.replace("cautious: { calm_steps: 20 }", policy);
        flexrnn::scenario::Scenario::parse_with(&text, "c.yaml", &root().join("examples"), &example::registry())
            .unwrap_err()
            .to_string()
    };
    let line = text.lines().position(|l| l.contains("cautious:")).unwrap() + 1;
    let zero = parse("cautious: { calm_steps: 0 }");
    assert!(zero.starts_with(&format!("c.yaml:{line}:")), "{zero}");
    assert!(zero.contains("policies[0]: cautious: calm_steps must be at least 1, got 0"), "{zero}");
    let typed = parse("cautious: { calm_steps: often }");
    assert!(
        typed.contains(&format!("c.yaml:{line}:"))
            && typed.contains("cautious.calm_steps: invalid type: string \"often\""),
        "{typed}"
    );
    let unknown = parse("cautious: { calm: 3 }");
    assert!(unknown.contains("cautious: unknown field `calm`, expected `calm_steps`"), "{unknown}");
}

/// The example's rule on hand-made observations.
#[test]
fn custom_policy_rule_backs_off_after_a_late_step() {
    let options: Vec<ModelOption> = [(16, 1_888), (128, 101_120)]
        .into_iter()
        .map(|(hidden, flops_per_step)| ModelOption {
            name: format!("gru-{hidden}"),
            hidden,
            flops_per_step,
            window_limit: None,
        })
        .collect();
    let observation = |last_latency_s: Option<f64>| Observation {
        now_s: 1.0,
        release_s: 1.0,
        deadline_s: 1.005,
        slack_s: 0.005,
        queued_frames: 0,
        step: 1,
        steps: 64,
        current: None,
        switch_flops: &[0, 0],
        switch_matrix: &[],
        rate_estimate: 1e6,
        node_jobs: 0,
        cores: 1,
        core_speed: 1e6,
        last_latency_s,
        confidence: None,
    };
    let mut policy = example::Cautious { calm_steps: 2, recovering: None };
    assert_eq!(policy.choose(&observation(None), &options), 1, "calm: the widest");
    assert_eq!(policy.choose(&observation(Some(0.009)), &options), 0, "late: the cheapest");
    assert_eq!(policy.choose(&observation(Some(0.001)), &options), 0, "one early step is not enough");
    assert_eq!(policy.choose(&observation(Some(0.001)), &options), 1, "two early steps: back to the widest");
}

/// `runner::build_policy` was public and `.expect`ed every setting a policy names to be in the model
/// (`plan_runs` checks it first); a plan made by hand, or a policy asking for a setting it did not
/// name, panicked. Both are typed errors now, naming the scenario file, the stream and the setting.
#[test]
fn a_policy_asking_for_a_missing_setting_is_an_error_not_a_panic() {
    use flexrnn::policy::static_::StaticConfig;
    use flexrnn::policy::{PolicyConfig, PolicyContext, PolicyError, PolicySpec};
    use flexrnn::runner;

    /// Asks for `gru-16` without naming it in `settings`.
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Sneaky {}
    impl PolicyConfig for Sneaky {
        const NAME: &'static str = "sneaky";
        const SYNTAX: &'static str = "`sneaky: {}`";
        fn label(&self) -> String {
            "sneaky".into()
        }
        fn build(&self, context: &PolicyContext<'_>) -> Result<Box<dyn Policy>, PolicyError> {
            let model = context.setting("gru-16")?;
            Ok(Box::new(example::Cautious { calm_steps: model as u32 + 1, recovering: None }))
        }
    }

    let scenario = crate::short_default(2, crate::secs(1)).build().unwrap();
    let resources = runner::load_resources(&scenario).unwrap();
    let mut plan = runner::plan_runs(&scenario, &resources).unwrap().remove(0);
    let error_with =
        |plan: &runner::RunPlan| runner::world_setup(&scenario, &resources, plan).err().expect("refused").to_string();
    plan.policies[0] = PolicySpec::new(StaticConfig { model: "gru-17".into() }).unwrap();
    assert_eq!(
        error_with(&plan),
        "<code: default>: stream `digits`: policy static: `gru-17` is not a setting of the stream's model"
    );
    plan.policies[0] = PolicySpec::new(Sneaky {}).unwrap();
    assert_eq!(
        error_with(&plan),
        "<code: default>: stream `digits`: policy sneaky: asked for setting `gru-16`, which its configuration does not name (it names: )"
    );
}
