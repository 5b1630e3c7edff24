//! `schema/{scenario,study,card}.schema.json`: the JSON Schemas generated from the types the files are
//! read with cannot drift from them; every shipped scenario, study and card validates against them
//! with an independent validator (the `jsonschema` crate) and parses; broken files are refused by the
//! schema as by the reader.

use std::path::{Path, PathBuf};

use flexrnn::policy::PolicyRegistry;

use crate::at;

fn shipped_schema(name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(at(&format!("schema/{name}.schema.json"))).unwrap()).unwrap()
}

fn validator(name: &str) -> jsonschema::Validator {
    jsonschema::draft202012::new(&shipped_schema(name)).unwrap()
}

/// The schema's errors for YAML `text` (read as JSON, as an editor's YAML language server does).
fn errors(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    let value: serde_json::Value = serde_yaml::from_str(text).unwrap();
    validator.iter_errors(&value).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

#[test]
fn the_shipped_schemas_are_the_ones_the_types_generate() {
    let registry = PolicyRegistry::builtin();
    for (name, generated) in [
        ("scenario", flexrnn::scenario::scenario_json_schema(&registry)),
        ("study", flexrnn::study::spec::study_json_schema(&registry)),
        ("card", flexrnn::rnn::io::card::card_json_schema()),
    ] {
        let text = std::fs::read_to_string(at(&format!("schema/{name}.schema.json"))).unwrap();
        assert_eq!(
            text,
            format!("{}\n", serde_json::to_string_pretty(&generated).unwrap()),
            "schema/{name}.schema.json is stale: cargo run --release --example schema -- {name} > schema/{name}.schema.json"
        );
    }
}

/// Every YAML file under `dir`, recursively, in name order.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml") {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn every_shipped_scenario_and_study_validates_parses_and_names_its_schema() {
    let (scenario, study) = (validator("scenario"), validator("study"));
    let (mut scenarios, mut studies) = (0, 0);
    for path in yaml_files(&at("scenarios")) {
        let text = std::fs::read_to_string(&path).unwrap();
        let is_study = text.lines().any(|l| l.starts_with("replications:"));
        let kind = if is_study { "study" } else { "scenario" };
        // The first line tells editors (yaml-language-server) which schema to complete and check with.
        let depth = path.strip_prefix(at("scenarios")).unwrap().components().count();
        let expected = format!("# yaml-language-server: $schema={}schema/{kind}.schema.json", "../".repeat(depth));
        assert_eq!(text.lines().next(), Some(expected.as_str()), "{}", path.display());
        let found = errors(if is_study { &study } else { &scenario }, &text);
        assert!(found.is_empty(), "{}: {found:?}", path.display());
        if is_study {
            flexrnn::study::spec::Study::load(&path).unwrap();
            studies += 1;
        } else {
            flexrnn::scenario::Scenario::parse(&text, &path.display().to_string(), path.parent().unwrap()).unwrap();
            scenarios += 1;
        }
    }
    assert!(scenarios >= 12 && studies >= 1, "{scenarios} scenarios, {studies} studies");
    // The examples name `cautious`, a kind of examples/custom_policy.rs: valid for a schema made with
    // that binary's registry, not for the shipped one, which knows the built-ins only.
    let text = std::fs::read_to_string(at("examples/custom-policy.yaml")).unwrap();
    let found = errors(&scenario, &text);
    assert!(!found.is_empty() && found.iter().all(|e| e.contains("/policies/0")), "{found:?}");
    // A study's `set` values are checked when it is read, not by the schema.
    let text = std::fs::read_to_string(at("examples/custom-policy-study.yaml")).unwrap();
    assert_eq!(errors(&study, &text), Vec::<String>::new());
}

/// `scenarios/default.yaml` with `from` replaced by `to` (which must occur).
fn default_with(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(at("scenarios/default.yaml")).unwrap();
    assert!(text.contains(from), "{from}");
    text.replacen(from, to, 1)
}

#[test]
fn the_scenario_schema_refuses_what_the_reader_refuses() {
    let schema = validator("scenario");
    let broken = [
        ("unknown top-level field", default_with("duration: 120s", "duration: 120s\nduraton: 5s")),
        ("unit missing", default_with("duration: 120s", "duration: 120")),
        ("unknown unit", default_with("rate: 10/s", "rate: 10/fortnight")),
        ("negative duration", default_with("period: 5ms", "period: -5ms")),
        ("field of another kind", default_with("    rate: 10/s", "    rate: 10/s\n    period: 1s")),
        ("required field missing", default_with("    rate: 10/s\n", "")),
        ("unknown kind", default_with("kind: on_off", "kind: on-off")),
        ("unknown scheduler", default_with("processor_sharing", "fair_share")),
        ("round robin without parameters", default_with("scheduler: processor_sharing", "scheduler: { round_robin: {} }")),
        ("two work distributions", default_with("work: { lognormal: { mean: 500kFLOP, cv: 1.0 } }", "work: { constant: 1MFLOP, exponential: { mean: 1MFLOP } }")),
        ("unknown policy", default_with("greedy_slack: {}", "greedy_slak: {}")),
        ("unknown policy field", default_with("greedy_slack: {}", "greedy_slack: { safty: 0.5 }")),
        ("safety out of range", default_with("greedy_slack: {}", "greedy_slack: { safety: 1.5 }")),
        ("two policies in one entry", default_with("greedy_slack: {}", "greedy_slack: {}\n        random: {}")),
        ("devices and cores", default_with("  cores: 1\n", "  cores: 1\n  devices: { gpu: { cores: 1, speed: 1GFLOP/s, scheduler: fifo } }\n")),
        ("node without speed", default_with("  speed: 25MFLOP/s          # one slow edge core: a 128-wide GRU step (101 kFLOP) takes 4.0 ms alone\n", "")),
        ("zero cores", default_with("cores: 1", "cores: 0")),
        ("hidden name", default_with("name: default", "name: .default")),
        ("trace with both files", default_with("    kind: on_off\n    on_mean: 8s\n    off_mean: 8s", "    kind: trace\n    jobs: a.csv\n    utilisation: b.csv")),
    ];
    for (what, text) in &broken {
        assert!(!errors(&schema, text).is_empty(), "the schema accepts a scenario with {what}");
        let parsed = flexrnn::scenario::Scenario::parse(text, "broken.yaml", &at("scenarios"));
        assert!(parsed.is_err(), "the reader accepts a scenario with {what}");
    }
    // And accepts the forms the reader accepts.
    let fine = [
        default_with("scheduler: processor_sharing", "scheduler: { round_robin: { quantum: 10ms } }"),
        default_with("scheduler: processor_sharing", "scheduler: { fixed_priority: { preemptive: false } }"),
        default_with("cv: 1.0 } }", "cv: 1.0 } }\n    device: cpu\n    priority: 2\n    deadline: 1.5s"),
        default_with(
            "work: { lognormal: { mean: 500kFLOP, cv: 1.0 } }",
            "work: { normal: { mean: -1MFLOP, sd: 1MFLOP } }",
        ),
        default_with("greedy_slack: {}", "oracle: { margin: 1ms, passes: 2 }"),
        default_with("duration: 120s", "duration: 1.5e2 s\noutput: { bin: 500ms, jobs: false }"),
    ];
    for text in &fine {
        assert_eq!(errors(&schema, text), Vec::<String>::new(), "{text}");
        flexrnn::scenario::Scenario::parse(text, "fine.yaml", &at("scenarios")).unwrap();
    }
}

#[test]
fn the_study_schema_checks_the_study_and_its_inline_scenario() {
    let schema = validator("study");
    let study = std::fs::read_to_string(at("scenarios/study-policies.yaml")).unwrap();
    assert!(!errors(&schema, &study.replace("replications: 20", "replications: 0")).is_empty());
    assert!(!errors(&schema, &study.replace("replications: 20", "replicates: 20")).is_empty());
    assert!(!errors(&schema, &study.replace("values: [", "vals: [")).is_empty());
    // An inline scenario is checked with the scenario's schema, its seed optional.
    let inline = "name: inline\nscenario:\n  name: base\n  duration: 1s\n  node: { cores: 1, speed: 1GFLOP/s, scheduler: fifo }\n  processes: []\nreplications: 1\n";
    assert_eq!(errors(&schema, inline), Vec::<String>::new());
    assert!(!errors(&schema, &inline.replace("1GFLOP/s", "fast")).is_empty());
}

#[test]
fn every_shipped_card_validates_and_broken_cards_do_not() {
    let validator = validator("card");
    let mut checked = 0;
    for entry in std::fs::read_dir(at("models")).unwrap() {
        let path = entry.unwrap().path().join("card.json");
        if !path.exists() {
            continue;
        }
        let card: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let errors: Vec<String> = validator.iter_errors(&card).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        checked += 1;
    }
    assert!(checked >= 10, "{checked} cards");
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(at("models/digits-gru/card.json")).unwrap()).unwrap();
    let mut unknown = card.clone();
    unknown["hiden"] = 64.into();
    assert!(!validator.is_valid(&unknown), "an unknown field is refused, as the reader refuses it");
    let mut neither = card.clone();
    neither.as_object_mut().unwrap().remove("training");
    assert!(!validator.is_valid(&neither), "a card needs `training` or `import`");
    let mut zero_layers = card.clone();
    zero_layers["layers"] = 0.into();
    assert!(!validator.is_valid(&zero_layers));
    let mut bad_cell = card;
    bad_cell["cell"] = "rnn".into();
    assert!(!validator.is_valid(&bad_cell));
}
