//! The study file: a base scenario, fixed overrides, axes over scenario fields, replications; and its
//! expansion into one validated [`Scenario`] per grid point.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

use crate::input::{read_text, TEXT_LIMIT};
use crate::policy::PolicyRegistry;
use crate::scenario::nesting;
use crate::scenario::{check_folder_name, duplicate_key_location, Scenario, ScenarioError};

/// A study file that cannot be used: the file, the line and column where known, and what is wrong
/// and allowed.
pub type StudyError = ScenarioError;

/// Where the base scenario comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ScenarioSource {
    /// A path, relative to the study file.
    Path(PathBuf),
    /// The scenario itself, as a mapping.
    Inline(serde_yaml::Mapping),
}

/// One axis: a scenario field and the values it takes.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct AxisFile {
    /// A scenario field path: keys separated by `.`; in a list, an element's `name` or its 0-based
    /// index (`processes.requests.rate`, `node.cores`, `processes.digits.policies`).
    path: String,
    /// The values the field takes, one grid point each (the first axis varies slowest).
    #[schemars(schema_with = "axis_values_schema")]
    values: Vec<Value>,
}

/// The study file as written.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct StudyFile {
    /// Study name: the output folder `results/<name>/` (letters, digits, `-`, `_`, `.` (not first)).
    #[schemars(extend("pattern" = crate::scenario::NAME_PATTERN))]
    name: String,
    /// Study seed: every run's seed derives from it, the grid point and the replication (default 0).
    #[serde(default)]
    seed: u64,
    /// The base scenario: its path relative to this file, or the scenario itself (its `seed` may be
    /// left out: every run's seed comes from the study).
    #[schemars(schema_with = "scenario_source_schema")]
    scenario: ScenarioSource,
    /// Runs per grid point and policy, each with its own seed (at least 1).
    #[schemars(range(min = 1))]
    replications: usize,
    /// Fixed changes to the base scenario: a map from field path (as an axis's `path`) to its value.
    #[serde(default)]
    #[schemars(schema_with = "set_schema")]
    set: serde_yaml::Mapping,
    /// Scenario fields varied over a grid (every combination of their values).
    #[serde(default)]
    axes: Vec<AxisFile>,
    /// The grid point (0-based, grid order) drawn in the latency and setting-share figures (default:
    /// the last).
    #[serde(default)]
    focus_point: Option<usize>,
}

fn axis_values_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "array", "minItems": 1, "items": true })
}

fn set_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "object", "additionalProperties": true })
}

/// A path, or an inline scenario: the scenario's own schema, `seed` optional.
fn scenario_source_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut inline = crate::scenario::scenario_schema(generator);
    if let Some(serde_json::Value::Array(required)) = inline.get_mut("required") {
        required.retain(|field| field != "seed");
    }
    inline.remove("description");
    inline.insert("title".into(), "the scenario itself".into());
    schemars::json_schema!({
        "anyOf": [
            { "title": "a scenario file", "description": "Path of the base scenario, relative to the study file.", "type": "string" },
            inline,
        ],
    })
}

/// The JSON Schema (draft 2020-12) of a study file, its inline scenario's included, for the policy
/// kinds of `registry` (shipped as `schema/study.schema.json` for the built-ins; `cargo run --release
/// --example schema -- study` prints it). `set` and axis values are any YAML there: which fields they
/// reach and whether their values fit is checked when the study is read (`flexrnn check`).
pub fn study_json_schema(registry: &PolicyRegistry) -> serde_json::Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let root = registry.scope(|| <StudyFile as schemars::JsonSchema>::json_schema(&mut generator)).to_value();
    let mut schema = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "flexrnn study",
        "description": "A flexrnn study: a base scenario, fixed changes (`set`), axes over scenario fields and replications; one run per grid point, replication and policy. Generated from the Rust types the file is read with (src/study/spec.rs); `flexrnn check FILE` checks the rest (every grid point's scenario).",
    });
    if let (Some(schema), serde_json::Value::Object(root)) = (schema.as_object_mut(), root) {
        schema.extend(root.into_iter().filter(|(k, _)| k != "description"));
        schema.insert("$defs".into(), serde_json::Value::Object(generator.take_definitions(true)));
    }
    schema
}

/// One axis of a study.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Field path in the scenario, e.g. `processes.requests.rate`.
    pub path: String,
    /// The values, as YAML.
    pub values: Vec<Value>,
}

/// One grid point: the axis values and the scenario they give.
#[derive(Debug, Clone)]
pub struct GridPoint {
    /// Index in grid order (the first axis varies slowest).
    pub index: usize,
    /// Index into each axis's values.
    pub coordinates: Vec<usize>,
    /// `path=value` for each axis, comma-separated (empty without axes).
    pub label: String,
    /// The scenario at this point (its seed is replaced per replication).
    pub scenario: Scenario,
}

/// A parsed and expanded study.
#[derive(Debug, Clone)]
pub struct Study {
    /// The study file as given by the user.
    pub file: String,
    /// Its text.
    pub text: String,
    /// Study name (names the output folder).
    pub name: String,
    /// Study seed: every run's seed derives from it, the grid point and the replication.
    pub seed: u64,
    /// Replications per grid point.
    pub replications: usize,
    /// The axes, in file order.
    pub axes: Vec<Axis>,
    /// The grid, point-major in axis order.
    pub points: Vec<GridPoint>,
    /// The grid point drawn in the latency and setting-share figures.
    pub focus_point: usize,
}

/// The most runs a study may ask for (grid points × replications × policies).
pub const MAX_RUNS: usize = 1_000_000;

/// Line and column of the first line whose code (before a `#`) contains `needle`.
fn locate(text: &str, needle: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let code = line.split(" #").next().unwrap_or("");
        code.find(needle).map(|c| (i + 1, c + 1))
    })
}

/// The block under a top-level `scenario:` key written in block style: its text dedented, the
/// number of study-file lines before it, and the indentation removed. `None` for flow style.
fn inline_block(text: &str) -> Option<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let key = lines.iter().position(|l| l.starts_with("scenario:"))?;
    let rest = lines[key]["scenario:".len()..].trim();
    if !(rest.is_empty() || rest.starts_with('#')) {
        return None;
    }
    let body: Vec<&str> = lines[key + 1..]
        .iter()
        .copied()
        .take_while(|l| l.trim().is_empty() || l.starts_with(' ') || l.trim_start().starts_with('#'))
        .collect();
    let indent = body.iter().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min()?;
    let dedented: Vec<&str> = body.iter().map(|l| if l.len() >= indent { &l[indent..] } else { "" }).collect();
    Some((dedented.join("\n") + "\n", key + 1, indent))
}

/// A YAML value written on one line, for labels and messages: `10/s`, `[a, b]`, `{static: {model: gru-16}}`.
pub fn compact(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(items) => format!("[{}]", items.iter().map(compact).collect::<Vec<_>>().join(", ")),
        Value::Mapping(map) => {
            let entries: Vec<String> = map.iter().map(|(k, v)| format!("{}: {}", compact(k), compact(v))).collect();
            format!("{{{}}}", entries.join(", "))
        }
        Value::Tagged(tagged) => format!("{} {}", tagged.tag, compact(&tagged.value)),
    }
}

/// Sets the field at `path` (dot-separated; in a list, a segment is an element's `name` or its
/// 0-based index) of `root` to `value`. Missing keys of mappings are added (the scenario check then
/// says whether they are allowed).
///
/// # Errors
/// A message naming the segment that does not exist and what exists there.
pub fn set_path(root: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let segments: Vec<&str> = path.split('.').collect();
    if path.is_empty() || segments.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "`{path}` is not a field path: give keys separated by `.`, e.g. `processes.requests.rate`"
        ));
    }
    let mut current = root;
    for (depth, segment) in segments.iter().enumerate() {
        let last = depth + 1 == segments.len();
        let here = segments[..depth].join(".");
        let here = if here.is_empty() { "the top level".to_string() } else { format!("`{here}`") };
        current = match current {
            Value::Mapping(map) => {
                let key = Value::String((*segment).to_string());
                if last {
                    map.insert(key, value);
                    return Ok(());
                }
                // A missing key is added as an empty mapping (e.g. `output.bin` when the base has no
                // `output:`); the scenario check then rejects keys that are not scenario fields.
                map.entry(key).or_insert_with(|| Value::Mapping(serde_yaml::Mapping::new()))
            }
            Value::Sequence(items) => {
                let by_name = items.iter().position(|item| {
                    item.as_mapping().and_then(|m| m.get("name")).and_then(Value::as_str) == Some(segment)
                });
                let index = match (by_name, segment.parse::<usize>()) {
                    (Some(i), _) => i,
                    (None, Ok(i)) if i < items.len() => i,
                    _ => {
                        let names: Vec<String> = items
                            .iter()
                            .enumerate()
                            .map(|(i, item)| {
                                item.as_mapping()
                                    .and_then(|m| m.get("name"))
                                    .and_then(Value::as_str)
                                    .map_or_else(|| i.to_string(), str::to_string)
                            })
                            .collect();
                        return Err(format!(
                            "{here} is a list with no element named `{segment}`; its elements: {} (by name, or index 0..{})",
                            names.join(", "),
                            items.len()
                        ));
                    }
                };
                if last {
                    items[index] = value;
                    return Ok(());
                }
                &mut items[index]
            }
            other => {
                return Err(format!(
                    "{here} is `{}`, not a mapping or list, so it has no field `{segment}`",
                    compact(other)
                ))
            }
        };
    }
    unreachable!("the loop returns at the last segment")
}

impl Study {
    /// Reads and expands a study file; a base scenario given by path is read relative to it.
    ///
    /// # Errors
    /// [`StudyError`] naming the study file (or the base scenario file), the line and column, the field
    /// and what is allowed; for a grid point whose scenario is invalid, the axis values and the
    /// scenario's own message.
    pub fn load(path: &Path) -> Result<Study, StudyError> {
        Study::load_with(path, &PolicyRegistry::builtin())
    }

    /// [`Study::load`] with the policy kinds of `registry` (e.g. the built-ins and a user's own), in
    /// the base scenario and in `set` and axis values alike.
    ///
    /// # Errors
    /// As [`Study::load`].
    pub fn load_with(path: &Path, registry: &PolicyRegistry) -> Result<Study, StudyError> {
        let file = path.display().to_string();
        let text = read_text(path, TEXT_LIMIT, "study files").map_err(|e| StudyError {
            file: file.clone(),
            location: None,
            message: format!("cannot read the study file: {e}"),
        })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Study::parse_with(&text, &file, &dir, registry)
    }

    /// Parses and expands study text; `dir` resolves the base scenario's path. A leading UTF-8
    /// byte-order mark (of the study or base scenario file) is ignored.
    ///
    /// # Errors
    /// As [`Study::load`]; text nested deeper than [`nesting::MAX_NESTING`] levels is refused before it is
    /// parsed.
    pub fn parse(text: &str, file: &str, dir: &Path) -> Result<Study, StudyError> {
        Study::parse_with(text, file, dir, &PolicyRegistry::builtin())
    }

    /// [`Study::parse`] with the policy kinds of `registry`.
    ///
    /// # Errors
    /// As [`Study::load`].
    pub fn parse_with(text: &str, file: &str, dir: &Path, registry: &PolicyRegistry) -> Result<Study, StudyError> {
        let at = |location: Option<(usize, usize)>, message: String| StudyError {
            file: file.to_string(),
            location,
            message,
        };
        let text = nesting::prepare(text).map_err(|(location, message)| at(Some(location), message))?;
        let parsed: StudyFile = serde_yaml::from_str(text).map_err(|e| {
            let message = e.to_string();
            let message = match message.find(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            let mut location = e.location().map(|l| (l.line(), l.column()));
            let message = if message.contains("ScenarioSource") {
                // The untagged enum hides a duplicate key inside an inline scenario: look for one.
                match serde_yaml::from_str::<Value>(text) {
                    Err(inner) if inner.to_string().contains("duplicate entry") => {
                        location = inner.location().map(|l| (l.line(), l.column()));
                        let inner = inner.to_string();
                        inner.find(" at line ").map_or(inner.as_str(), |i| &inner[..i]).to_string()
                    }
                    _ => "scenario: give the base scenario's path (relative to this file) or the scenario itself as a mapping"
                        .to_string(),
                }
            } else {
                message
            };
            let location = location.and_then(|l| duplicate_key_location(text, &message, l)).or(location);
            at(location, message)
        })?;
        if let Err(message) = check_folder_name(&parsed.name) {
            return Err(at(locate(text, "name:"), message));
        }
        if parsed.replications == 0 {
            return Err(at(locate(text, "replications:"), "replications: give at least 1".into()));
        }
        let (base_text, base_file, base_dir) = match &parsed.scenario {
            ScenarioSource::Path(relative) => {
                let full = dir.join(relative);
                let base_text = read_text(&full, TEXT_LIMIT, "scenario files").map_err(|e| {
                    at(
                        locate(text, "scenario:"),
                        format!("scenario: cannot read the base scenario `{}`: {e}", full.display()),
                    )
                })?;
                let base_dir = full.parent().map(Path::to_path_buf).unwrap_or_default();
                (base_text, full.display().to_string(), base_dir)
            }
            ScenarioSource::Inline(map) => match inline_block(text) {
                Some((block, _, _)) => (block, file.to_string(), dir.to_path_buf()),
                None => (
                    serde_yaml::to_string(map).expect("a parsed mapping serialises"),
                    format!("{file} (scenario:)"),
                    dir.to_path_buf(),
                ),
            },
        };
        let base_text = nesting::prepare(&base_text)
            .map_err(|(location, message)| StudyError { file: base_file.clone(), location: Some(location), message })?
            .to_string();
        // Every run's seed comes from the study, so the base need not give one.
        let has_seed = serde_yaml::from_str::<Value>(&base_text)
            .ok()
            .and_then(|v| v.as_mapping().map(|m| m.contains_key("seed")))
            .unwrap_or(true);
        let base_text = match (has_seed, base_text.ends_with('\n')) {
            (true, _) => base_text,
            (false, true) => format!("{base_text}seed: 0\n"),
            (false, false) => format!("{base_text}\nseed: 0\n"),
        };
        // The base alone must be valid: its errors then point at its own lines (for an inline
        // scenario, at the study file's lines).
        let base_scenario = Scenario::parse_with(&base_text, &base_file, &base_dir, registry).map_err(|mut e| {
            if let (ScenarioSource::Inline(_), Some((_, first_line, indent))) = (&parsed.scenario, inline_block(text)) {
                e.location = e.location.map(|(l, c)| (l + first_line, c + indent));
            }
            e
        })?;
        if base_scenario.streams().next().is_none() {
            return Err(at(
                locate(text, "scenario:"),
                "scenario: the base scenario has no `rnn_stream` process; a study compares the policies of one".into(),
            ));
        }
        let base: Value = serde_yaml::from_str(&base_text).expect("a valid scenario is valid YAML");
        let mut base = base;
        for (key, value) in &parsed.set {
            let path = compact(key);
            set_path(&mut base, &path, value.clone())
                .map_err(|message| at(locate(text, &path), format!("set.{path}: {message}")))?;
        }
        let mut axes = Vec::new();
        for (i, axis) in parsed.axes.iter().enumerate() {
            if axis.values.is_empty() {
                return Err(at(
                    locate(text, &axis.path),
                    format!("axes[{i}] (`{}`): give at least one value", axis.path),
                ));
            }
            if parsed.axes[..i].iter().any(|a| a.path == axis.path) {
                return Err(at(locate(text, &axis.path), format!("axes[{i}]: `{}` is already an axis", axis.path)));
            }
            axes.push(Axis { path: axis.path.clone(), values: axis.values.clone() });
        }
        let grid: usize = axes.iter().map(|a| a.values.len()).product();
        let runs = grid.saturating_mul(parsed.replications).saturating_mul(base_scenario.run_count());
        if runs > MAX_RUNS {
            return Err(at(
                locate(text, "replications:"),
                format!("the study asks for {runs} runs (grid points × replications × policies); at most {MAX_RUNS} are allowed"),
            ));
        }
        let mut points = Vec::with_capacity(grid);
        for index in 0..grid {
            let mut coordinates = vec![0; axes.len()];
            let mut rest = index;
            for (a, axis) in axes.iter().enumerate().rev() {
                coordinates[a] = rest % axis.values.len();
                rest /= axis.values.len();
            }
            let mut value = base.clone();
            let mut labels = Vec::new();
            for (axis, &c) in axes.iter().zip(&coordinates) {
                set_path(&mut value, &axis.path, axis.values[c].clone())
                    .map_err(|message| at(locate(text, &axis.path), format!("axis `{}`: {message}", axis.path)))?;
                labels.push(format!("{}={}", axis.path, compact(&axis.values[c])));
            }
            let label = labels.join(", ");
            let point_text = serde_yaml::to_string(&value).expect("YAML values serialise");
            let point_file = format!("{file} (grid point {index}: {label})");
            let scenario = Scenario::parse_with(&point_text, &point_file, &base_dir, registry).map_err(|e| {
                let needle = axes.first().map_or("set:", |a| a.path.as_str());
                at(
                    locate(text, needle),
                    format!(
                        "grid point {index} ({}) gives an invalid scenario: {}",
                        if label.is_empty() { "the base with `set`" } else { &label },
                        e.message
                    ),
                )
            })?;
            points.push(GridPoint { index, coordinates, label, scenario });
        }
        let focus_point = match parsed.focus_point {
            Some(p) if p < grid => p,
            Some(p) => {
                return Err(at(
                    locate(text, "focus_point:"),
                    format!("focus_point: {p} is not a grid point; allowed: 0 to {} (0-based)", grid - 1),
                ))
            }
            None => grid - 1,
        };
        Ok(Study {
            file: file.to_string(),
            text: text.to_string(),
            name: parsed.name,
            seed: parsed.seed,
            replications: parsed.replications,
            axes,
            points,
            focus_point,
        })
    }

    /// Line and column in the study file of the value that grid point `point` takes on its first
    /// axis whose value can be found (else the axis's `path`, else `set:`).
    pub fn point_location(&self, point: usize) -> Option<(usize, usize)> {
        let lines: Vec<&str> = self.text.lines().collect();
        for (axis, &c) in self.axes.iter().zip(&self.points[point].coordinates) {
            let Some((line, _)) = locate(&self.text, &axis.path) else { continue };
            let value = compact(&axis.values[c]);
            for (i, l) in lines.iter().enumerate().skip(line - 1) {
                let code = l.split(" #").next().unwrap_or("");
                if let Some(col) = code.find(value.as_str()).filter(|_| !value.is_empty()) {
                    return Some((i + 1, col + 1));
                }
                if i > line - 1 && code.trim_start().starts_with("- path:") {
                    break;
                }
            }
            return Some((line, 1));
        }
        locate(&self.text, "set:").or_else(|| locate(&self.text, "scenario:"))
    }

    /// An error about grid point `point`'s scenario, located in the study file.
    pub fn point_error(&self, point: usize, message: &str) -> StudyError {
        let label = &self.points[point].label;
        StudyError {
            file: self.file.clone(),
            location: self.point_location(point),
            message: format!(
                "grid point {point} ({}): {message}",
                if label.is_empty() { "the base with `set`" } else { label }
            ),
        }
    }

    /// Seed of replication `replication` at grid point `point`:
    /// [`crate::seed::derive`]`(study seed, "study/point {point}/replication {replication}")`.
    /// Every policy at that point and replication runs with it (common random numbers).
    pub fn run_seed(&self, point: usize, replication: usize) -> u64 {
        crate::seed::derive(self.seed, &format!("study/point {point}/replication {replication}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn paths_reach_mapping_fields_and_list_elements_by_name_or_index() {
        let mut v = yaml("node: { cores: 1 }\nprocesses:\n  - { name: a, rate: 1/s }\n  - { name: b, rate: 2/s }\n");
        set_path(&mut v, "node.cores", yaml("4")).unwrap();
        set_path(&mut v, "processes.b.rate", yaml("5/s")).unwrap();
        set_path(&mut v, "processes.0.rate", yaml("7/s")).unwrap();
        assert_eq!(compact(&v), "{node: {cores: 4}, processes: [{name: a, rate: 7/s}, {name: b, rate: 5/s}]}");
        let e = set_path(&mut v, "processes.c.rate", yaml("1")).unwrap_err();
        assert!(e.contains("no element named `c`") && e.contains("a, b"), "{e}");
        set_path(&mut v, "output.bin", yaml("1s")).unwrap();
        assert!(compact(&v).ends_with("output: {bin: 1s}}"), "{}", compact(&v));
        let e = set_path(&mut v, "node.cores.x", yaml("1")).unwrap_err();
        assert!(e.contains("`node.cores` is `4`"), "{e}");
        assert!(set_path(&mut v, "node..cores", yaml("1")).is_err());
    }

    #[test]
    fn run_seeds_differ_by_point_and_replication_and_follow_the_study_seed() {
        let text = "name: s\nseed: 3\nreplications: 2\nscenario:\n  name: b\n  duration: 1s\n  node: { cores: 1, speed: 1GFLOP/s, scheduler: processor_sharing }\n  processes:\n    - { name: v, kind: rnn_stream, dataset: digits, models: models/digits-gru, period: 5ms, deadline: 5ms, policies: [{ static: { model: gru-16 } }] }\n";
        let study = Study::parse(text, "s.yaml", Path::new(".")).unwrap();
        let seeds: Vec<u64> =
            (0..2).flat_map(|p| (0..2).map(move |r| (p, r))).map(|(p, r)| study.run_seed(p, r)).collect();
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 4);
        assert_eq!(study.run_seed(1, 1), seeds[3]);
        assert_eq!(seeds[2], crate::seed::derive(3, "study/point 1/replication 0"));
        let other = Study::parse(&text.replace("seed: 3", "seed: 4"), "s.yaml", Path::new(".")).unwrap();
        assert_ne!(other.run_seed(0, 0), seeds[0]);
    }

    #[test]
    fn grid_is_point_major_with_the_first_axis_slowest() {
        let text = "name: s\nreplications: 1\nscenario:\n  name: b\n  duration: 1s\n  node: { cores: 1, speed: 1GFLOP/s, scheduler: processor_sharing }\n  processes:\n    - { name: p, kind: poisson, rate: 1/s, work: { constant: 1MFLOP } }\n    - { name: v, kind: rnn_stream, dataset: digits, models: models/digits-gru, period: 5ms, deadline: 5ms, policies: [{ static: { model: gru-16 } }] }\naxes:\n  - { path: node.cores, values: [1, 2] }\n  - { path: processes.p.rate, values: [1/s, 2/s, 3/s] }\n";
        let study = Study::parse(text, "s.yaml", Path::new(".")).unwrap();
        assert_eq!(study.points.len(), 6);
        assert_eq!(study.points[4].label, "node.cores=2, processes.p.rate=2/s");
        assert_eq!(study.points[4].coordinates, vec![1, 1]);
        assert_eq!(study.points[4].scenario.node().cores.get(), 2);
        assert_eq!(study.focus_point, 5);
    }

    #[test]
    fn errors_name_the_study_file_line_and_what_is_allowed() {
        let base = "name: s\nreplications: 1\nscenario:\n  name: b\n  duration: 1s\n  node: { cores: 1, speed: 1GFLOP/s, scheduler: processor_sharing }\n  processes:\n    - { name: p, kind: poisson, rate: 1/s, work: { constant: 1MFLOP } }\n    - { name: v, kind: rnn_stream, dataset: digits, models: models/digits-gru, period: 5ms, deadline: 5ms, policies: [{ static: { model: gru-16 } }] }\n";
        let e = Study::parse(
            &format!("{base}axes:\n  - {{ path: processes.q.rate, values: [1/s] }}\n"),
            "s.yaml",
            Path::new("."),
        )
        .unwrap_err();
        assert_eq!((e.file.as_str(), e.location), ("s.yaml", Some((11, 13))));
        assert!(e.message.contains("no element named `q`") && e.message.contains("p, v"), "{e}");
        let e =
            Study::parse(&format!("{base}axes:\n  - {{ path: node.cores, values: [0] }}\n"), "s.yaml", Path::new("."))
                .unwrap_err();
        assert!(e.message.contains("grid point 0 (node.cores=0)") && e.message.contains("cores"), "{e}");
        let no_stream = base.replace(
            "\n    - { name: v, kind: rnn_stream, dataset: digits, models: models/digits-gru, period: 5ms, deadline: 5ms, policies: [{ static: { model: gru-16 } }] }",
            "",
        );
        let e = Study::parse(&no_stream, "s.yaml", Path::new(".")).unwrap_err();
        assert!(e.message.contains("no `rnn_stream`"), "{e}");
        let e = Study::parse(&format!("{base}colour: red\n"), "s.yaml", Path::new(".")).unwrap_err();
        assert!(e.message.contains("unknown field `colour`") && e.location.is_some(), "{e}");
        let e =
            Study::parse(&base.replace("replications: 1", "replications: 0"), "s.yaml", Path::new(".")).unwrap_err();
        assert_eq!(e.location, Some((2, 1)));
        let e = Study::parse(&format!("{base}focus_point: 3\n"), "s.yaml", Path::new(".")).unwrap_err();
        assert!(e.message.contains("allowed: 0 to 0"), "{e}");
    }
}
