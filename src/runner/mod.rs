//! From a validated [`Scenario`] to finished runs: load the model banks and data sets it names, build
//! one world per policy (common random numbers: every process's random stream depends only on the
//! seed and its name), and run them — in parallel with rayon, each run single-threaded, results in
//! run order.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use crate::data::{self, SequenceSet, Split};
use crate::engine::{BuildError, DeviceSetup, EdgeWorld, RunOutcome, StreamSetup, WorldSetup};
use crate::metrics::{JobRecord, MemoryRecorder, Recorder, SequenceRecord, StepRecord};
use crate::policy::static_::StaticConfig;
use crate::policy::{LoadForecast, Policy, PolicyContext, PolicyError, PolicySpec};
use crate::rnn::{FlexibleModel, KnobError};
use crate::scenario::{Scenario, ScenarioError};
use crate::sim::SimTime;
use crate::workload::profile::StepCost;
use crate::workload::StreamSpec;

/// Errors between a valid file and a finished run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The scenario refers to something that does not exist or does not fit (e.g. a model bank that
    /// cannot be loaded, or a model name not in the bank).
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A data set could not be loaded.
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// A stream's policy could not be built.
    #[error("{file}: stream `{stream}`: policy {source}")]
    Policy {
        /// Scenario file.
        file: String,
        /// The stream's name.
        stream: String,
        /// Underlying error.
        source: PolicyError,
    },
    /// Building a world failed.
    #[error("{file}: {source}")]
    Build {
        /// Scenario file.
        file: String,
        /// Underlying error.
        source: BuildError,
    },
}

/// A loaded flexible model (a folder with `card.json`: a switching bank, Skip-GRUs, SkipW or a
/// nested-width GRU).
#[derive(Debug, Clone)]
pub struct LoadedBank {
    /// Where it was loaded from.
    pub dir: PathBuf,
    /// The model and its settings.
    pub model: Arc<FlexibleModel>,
    /// SHA-256 (hex) of `card.json` followed by every `.safetensors` file of the folder in name order:
    /// identifies the exact weights a result was produced with.
    pub sha256: String,
}

/// Everything a scenario's streams need, loaded once and shared by all runs.
#[derive(Debug, Clone)]
pub struct Resources {
    /// Banks by folder.
    pub banks: BTreeMap<PathBuf, LoadedBank>,
    /// The data sets (tasks) the streams play, by task id, with their splits.
    pub datasets: BTreeMap<String, (Arc<SequenceSet>, Split)>,
}

/// Loads the banks and data sets the scenario's streams name.
///
/// # Errors
/// [`RunError::Scenario`] (a model bank that cannot be loaded, located at its `models:` line) or
/// [`RunError::Data`], naming what could not be loaded.
pub fn load_resources(scenario: &Scenario) -> Result<Resources, RunError> {
    let mut banks = BTreeMap::new();
    let mut datasets = BTreeMap::new();
    for stream in scenario.streams() {
        let dir = scenario.dir().join(&stream.models);
        if !banks.contains_key(&dir) {
            let model = FlexibleModel::load(&dir).map_err(|source| {
                RunError::Scenario(scenario.error_at(
                    &format!("models: {}", stream.models.display()),
                    format!(
                        "stream `{}`.models: cannot load the model bank `{}` (a folder with card.json and safetensors files): {source}",
                        stream.spec.name,
                        stream.models.display()
                    ),
                ))
            })?;
            let sha256 = bank_digest(&dir);
            banks.insert(dir.clone(), LoadedBank { dir: dir.clone(), model: Arc::new(model), sha256 });
        }
        let written = stream.dataset.id();
        let located =
            |message: String| {
                RunError::Scenario(scenario.error_at(
                    &format!("dataset: {written}"),
                    format!("stream `{}`.dataset: {message}", stream.spec.name),
                ))
            };
        data::TaskSpec::parse(written).map_err(|e| located(e.to_string()))?;
        let id = stream_task_id(scenario, stream);
        if !datasets.contains_key(&id) {
            let task = data::Task::load(&id).map_err(|e| located(e.to_string()))?;
            if task.is_regression() || !task.set.is_fixed_length() {
                return Err(located(format!(
                    "task `{written}` is {}; a stream plays fixed-length classification tasks (e.g. digits, digits-permuted, pmnist5k, basic-motions)",
                    if task.is_regression() { "a regression task" } else { "of variable length" }
                )));
            }
            datasets.insert(id.clone(), (Arc::new(task.set), task.split));
        }
        let model = &banks[&dir].model;
        let trained_on = model.task();
        let cwd = std::env::current_dir().unwrap_or_default();
        let trained_id =
            data::TaskSpec::parse(trained_on).map(|spec| spec.resolved(&cwd).id()).unwrap_or(trained_on.to_string());
        if model.classes() < 2 {
            return Err(located(format!(
                "the models in `{}` are regression models (task `{trained_on}`); a stream plays a classification task",
                stream.models.display()
            )));
        }
        if !trained_on.is_empty() && trained_id != id {
            return Err(located(format!(
                "the models in `{}` were trained on task `{trained_on}`, the stream plays `{written}`; use dataset: {trained_on} or a model folder trained on {written}",
                stream.models.display()
            )));
        }
    }
    // Settings named in a continuous form (e.g. `thr-64-1e-3@thr=0.63`) join their model's settings
    // for the whole scenario; names of neither kind are reported by `plan_runs`.
    for (stream_index, stream) in scenario.streams().enumerate() {
        let loaded = banks.get_mut(&scenario.dir().join(&stream.models)).expect("loaded above");
        for (policy_index, policy) in stream.policies.iter().enumerate() {
            if let Some(step) = policy.knob_step() {
                Arc::make_mut(&mut loaded.model).add_knob_range(step).map_err(|message| {
                    RunError::Scenario(scenario.error_at(
                        "knob_step",
                        format!(
                            "stream `{}` (stream {stream_index}).policies[{policy_index}].knob_step: {message} (model folder {})",
                            stream.spec.name,
                            stream.models.display()
                        ),
                    ))
                })?;
            }
            for name in policy.settings() {
                if loaded.model.setting_index(name).is_some() {
                    continue;
                }
                match Arc::make_mut(&mut loaded.model).add_setting(name) {
                    Ok(_) | Err(KnobError::Unknown { .. }) => {}
                    Err(error) => {
                        return Err(RunError::Scenario(scenario.error_at(
                            name,
                            format!(
                            "stream `{}` (stream {stream_index}).policies[{policy_index}]: {error} (model folder {})",
                            stream.spec.name,
                            stream.models.display()
                        ),
                        )))
                    }
                }
            }
        }
    }
    // A stream's cost profile must cover every setting it offers its policies (now that they are
    // all known).
    for stream in scenario.streams() {
        if let StepCost::Profile { file, .. } = &stream.cost {
            let model = &banks[&scenario.dir().join(&stream.models)].model;
            crate::engine::model_options(model, &stream.cost, stream_speed(scenario, stream)).map_err(|message| {
                RunError::Scenario(scenario.error_at(
                    &file.display().to_string(),
                    format!("stream `{}`.cost: {message} (model folder {})", stream.spec.name, stream.models.display()),
                ))
            })?;
        }
    }
    Ok(Resources { banks, datasets })
}

/// The task id a stream plays, its relative paths resolved against the scenario's folder (as
/// `models:` is), the key of [`Resources::datasets`].
fn stream_task_id(scenario: &Scenario, stream: &crate::scenario::RnnStream) -> String {
    data::TaskSpec::parse(stream.dataset.id())
        .map(|spec| spec.resolved(scenario.dir()).id())
        .unwrap_or_else(|_| stream.dataset.id().to_string())
}

/// The core speed (FLOP/s) of the device that runs `stream`'s steps (what a profile's durations are
/// multiplied by to give work).
fn stream_speed(scenario: &Scenario, stream: &crate::scenario::RnnStream) -> f64 {
    // Validated scenarios name only their own devices.
    scenario.devices()[scenario.device_index(stream.spec.device.as_deref()).unwrap_or(0)].speed
}

/// SHA-256 of a model folder's files (see [`LoadedBank::sha256`]); files that vanished since loading
/// hash as empty.
fn bank_digest(dir: &std::path::Path) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut weights: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "safetensors")).collect()
        })
        .unwrap_or_default();
    weights.sort();
    let files = std::iter::once(dir.join("card.json")).chain(weights);
    for file in files {
        hasher.update(crate::input::read_bytes(&file, crate::input::DATA_LIMIT, "model files").unwrap_or_default());
    }
    format!("{:x}", hasher.finalize())
}

/// One run of a scenario: which policy each stream uses.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    /// Run index (0-based).
    pub index: usize,
    /// Label of the run: the multi-policy stream's policy label, else the first stream's policy label,
    /// or `run` without streams.
    pub label: String,
    /// Policy of each stream, in stream order.
    pub policies: Vec<PolicySpec>,
}

/// The runs of a scenario: one per policy of the stream that lists several (others keep their only
/// policy). Checks that every policy names models that exist.
///
/// # Errors
/// [`ScenarioError`] for a policy naming a model that is not in its stream's bank.
pub fn plan_runs(scenario: &Scenario, resources: &Resources) -> Result<Vec<RunPlan>, ScenarioError> {
    for (stream_index, stream) in scenario.streams().enumerate() {
        let bank = &resources.banks[&scenario.dir().join(&stream.models)];
        for (policy_index, policy) in stream.policies.iter().enumerate() {
            for model in policy.settings() {
                if bank.model.setting_index(model).is_none() {
                    let names: Vec<&str> = bank.model.settings().iter().map(|m| m.name.as_str()).collect();
                    let forms = bank.model.continuous_forms();
                    let forms = if forms.is_empty() { forms } else { format!("; or any knob value: {forms}") };
                    return Err(scenario.error_at(
                        model,
                        format!(
                            "stream `{}` (stream {stream_index}).policies[{policy_index}]: `{model}` is not a setting of {} (a model, or a model with its knobs); allowed: {}{forms}",
                            stream.spec.name,
                            bank.dir.display(),
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    let runs = scenario.run_count();
    let mut plans = Vec::with_capacity(runs);
    for index in 0..runs {
        let policies: Vec<PolicySpec> =
            scenario.streams().map(|s| s.policies[index.min(s.policies.len() - 1)].clone()).collect();
        // The multi-policy stream's policy, else the first stream's only policy, else `run`.
        let label = scenario
            .streams()
            .find(|s| s.policies.len() > 1)
            .or_else(|| scenario.streams().next())
            .map_or_else(|| "run".to_string(), |s| s.policies[index.min(s.policies.len() - 1)].label());
        plans.push(RunPlan { index, label, policies });
    }
    Ok(plans)
}

/// Builds `policy` for the stream described by `spec` over its loaded model: the settings the
/// policy names are resolved to option indices here, so the policy sees only the options, costed by
/// the stream's cost model `cost` at core speed `speed`. `forecast` is the stream's future load for
/// a policy that asked for forecast passes (see [`world_setup`]).
///
/// # Errors
/// [`PolicyError`]: a named setting that is not in the model (checked before by [`plan_runs`]), or
/// the policy's own construction error.
fn build_policy(
    policy: &PolicySpec,
    loaded: &LoadedBank,
    seed: u64,
    spec: &StreamSpec,
    (cost, speed): (&StepCost, f64),
    forecast: Option<&Arc<LoadForecast>>,
) -> Result<Box<dyn Policy>, PolicyError> {
    let named = policy
        .settings()
        .into_iter()
        .map(|name| match loaded.model.setting_index(name) {
            Some(index) => Ok((name.to_string(), index)),
            None => Err(PolicyError::UnknownSetting { policy: policy.name().to_string(), setting: name.to_string() }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = crate::engine::model_options(&loaded.model, cost, speed)
        .map_err(|message| PolicyError::Invalid { policy: policy.name().to_string(), message })?;
    let ranking = accuracy_preference(loaded);
    policy.build(&PolicyContext::new(policy.name(), spec, seed, &options, &ranking, named, forecast.cloned()))
}

/// The model's settings, the most accurate first: by the card's validation accuracy (a bank's cards
/// have it; for the other families the card's test accuracy of the setting), then by more FLOPs per
/// step, then later in the list.
fn accuracy_preference(loaded: &LoadedBank) -> Vec<usize> {
    let settings = loaded.model.settings();
    // A bank's card has validation accuracies: rank by them, not by the test split scenarios play.
    let accuracy = |i: usize| {
        let validation = match loaded.model.as_ref() {
            FlexibleModel::Switch(switch) => switch.validation_accuracy(i),
            _ => None,
        };
        validation.or(settings[i].expected_accuracy).unwrap_or(0.0)
    };
    let flops = |i: usize| settings[i].expected_flops_per_step.unwrap_or(settings[i].flops_per_update as f64);
    let mut order: Vec<usize> = (0..settings.len()).collect();
    order.sort_by(|&a, &b| accuracy(b).total_cmp(&accuracy(a)).then(flops(b).total_cmp(&flops(a))).then(b.cmp(&a)));
    order
}

/// Who occupies the node during an interval of the oracle's first pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occupant {
    /// A job of background process `0`.
    Background(usize),
    /// A step of stream `0`.
    Stream(usize),
}

/// Records when every background job and every stream step is on the node (first pass of an oracle
/// run). Pipeline stages are not recorded (the records do not carry them).
#[derive(Debug, Default)]
struct OccupancyRecorder {
    /// (from, until — `None`: still there at the end, who).
    intervals: Vec<(SimTime, Option<SimTime>, Occupant)>,
}

impl Recorder for OccupancyRecorder {
    fn step(&mut self, record: &StepRecord) {
        if let Some(start) = record.start {
            self.intervals.push((start, record.end, Occupant::Stream(record.stream)));
        }
    }
    fn sequence(&mut self, _record: &SequenceRecord) {}
    fn job(&mut self, record: &JobRecord) {
        self.intervals.push((record.release, Some(record.end), Occupant::Background(record.process)));
    }
    fn job_unfinished(&mut self, process: usize, _job: u64, release: SimTime) {
        self.intervals.push((release, None, Occupant::Background(process)));
    }
}

/// The load forecast of each stream whose policy in `plan` asks for forecast passes (an `oracle`;
/// `None` for the others).
///
/// First pass: the same world (same seed, so every background process and every other stream draws
/// exactly what it draws in the real run) with each such stream running its cheapest model; later
/// passes (as many as the most any of them asks for) run the policies themselves with the previous
/// pass's forecasts. From the
/// intervals in which the other processes' jobs and the other streams' steps were on the device that
/// runs `s`'s steps, the forecast of stream `s` holds, per interval between changes, the rate a step
/// of `s` would get next to them under weighted processor sharing on that device
/// ([`crate::node::rate_if_added_to`] with its cores and speed and the processes' weights) —
/// whatever the device's discipline, which for the other disciplines is an approximation. Work on
/// other devices does not slow `s`'s steps and is left out; pipeline stages are not in it.
fn oracle_forecasts(
    scenario: &Scenario,
    resources: &Resources,
    plan: &RunPlan,
) -> Result<Vec<Option<Arc<LoadForecast>>>, RunError> {
    let mut first_pass_policies = Vec::with_capacity(plan.policies.len());
    for (stream, policy) in scenario.streams().zip(&plan.policies) {
        if policy.forecast_passes() == 0 {
            first_pass_policies.push(policy.clone());
            continue;
        }
        let model = &resources.banks[&scenario.dir().join(&stream.models)].model;
        let cheapest = match &stream.cost {
            StepCost::Flops => model.settings().iter().min_by_key(|m| m.flops_per_update),
            // Under a profile, the cheapest by the same cost model the policies see.
            profiled => {
                crate::engine::model_options(model, profiled, stream_speed(scenario, stream)).ok().and_then(|options| {
                    (0..options.len()).min_by_key(|&i| (options[i].flops_per_step, i)).map(|i| &model.settings()[i])
                })
            }
        };
        let cheapest = cheapest
            .map(|setting| PolicySpec::new(StaticConfig { model: setting.name.clone() }))
            .unwrap_or_else(|| {
                Err(PolicyError::Invalid { policy: policy.name().into(), message: "the model has no setting".into() })
            })
            .map_err(|source| RunError::Policy {
                file: scenario.file().to_string(),
                stream: stream.spec.name.clone(),
                source,
            })?;
        first_pass_policies.push(cheapest);
    }
    let passes = plan.policies.iter().map(PolicySpec::forecast_passes).max().unwrap_or(0).max(1);
    let mut forecasts = vec![None; plan.policies.len()];
    for pass in 0..passes {
        let pass_plan =
            if pass == 0 { RunPlan { policies: first_pass_policies.clone(), ..plan.clone() } } else { plan.clone() };
        let setup = world_setup_with(scenario, resources, &pass_plan, &forecasts)?;
        let horizon = setup.horizon;
        let recorded = EdgeWorld::run(setup, OccupancyRecorder::default())
            .map_err(|source| RunError::Build { file: scenario.file().to_string(), source })?
            .recorder;
        forecasts = forecasts_from(scenario, plan, &recorded, horizon);
    }
    Ok(forecasts)
}

/// Each oracle stream's forecast from the occupancy recorded in a pass (see [`oracle_forecasts`]).
fn forecasts_from(
    scenario: &Scenario,
    plan: &RunPlan,
    recorded: &OccupancyRecorder,
    horizon: SimTime,
) -> Vec<Option<Arc<LoadForecast>>> {
    let background_weights: Vec<f64> = scenario.background().map(|b| b.weight).collect();
    let stream_weights: Vec<f64> = scenario.streams().map(|s| s.spec.weight).collect();
    // Validated scenarios name only their own devices.
    let background_devices: Vec<usize> =
        scenario.background().map(|b| scenario.device_index(b.device.as_deref()).unwrap_or(0)).collect();
    let stream_devices: Vec<usize> =
        scenario.streams().map(|s| scenario.device_index(s.spec.device.as_deref()).unwrap_or(0)).collect();
    let device_of = |occupant: Occupant| match occupant {
        Occupant::Background(process) => background_devices[process],
        Occupant::Stream(stream) => stream_devices[stream],
    };
    let weight_of = |occupant: Occupant| match occupant {
        Occupant::Background(process) => background_weights[process],
        Occupant::Stream(stream) => stream_weights[stream],
    };
    plan.policies
        .iter()
        .enumerate()
        .map(|(stream, policy)| {
            (policy.forecast_passes() > 0).then(|| {
                let own_device = stream_devices[stream];
                let device = &scenario.devices()[own_device];
                let (cores, speed) = (device.cores.get(), device.speed);
                // Arrivals (+) and departures (−) of everything on its device but this stream's own
                // steps, in time order; at equal times departures first (a stable sort keeps the
                // recording order).
                let mut changes: Vec<(SimTime, bool, f64)> = Vec::new();
                for &(from, until, occupant) in &recorded.intervals {
                    if occupant == Occupant::Stream(stream) || device_of(occupant) != own_device {
                        continue;
                    }
                    let until = until.unwrap_or(horizon).min(horizon);
                    if from < until {
                        changes.push((from, true, weight_of(occupant)));
                        changes.push((until, false, weight_of(occupant)));
                    }
                }
                changes.sort_by_key(|&(time, arrival, _)| (time, arrival));
                let own_weight = stream_weights[stream];
                let mut present: Vec<f64> = Vec::new();
                let mut segments =
                    vec![(0.0, crate::node::rate_if_added_to(cores, speed, std::iter::empty(), own_weight))];
                let mut index = 0;
                while index < changes.len() {
                    let time = changes[index].0;
                    while index < changes.len() && changes[index].0 == time {
                        let (_, arrival, weight) = changes[index];
                        if arrival {
                            present.push(weight);
                        } else if let Some(position) = present.iter().position(|&w| w == weight) {
                            present.swap_remove(position);
                        }
                        index += 1;
                    }
                    let rate = crate::node::rate_if_added_to(cores, speed, present.iter().copied(), own_weight);
                    segments.push((time.as_secs_f64(), rate));
                }
                Arc::new(LoadForecast::from_segments(segments))
            })
        })
        .collect()
}

/// A finished run; `R` is the recorder that received its records (by default all of them kept in
/// memory).
pub struct RunResult<R = MemoryRecorder> {
    /// Its plan.
    pub plan: RunPlan,
    /// Records and node accounting.
    pub outcome: RunOutcome<R>,
    /// Wall time of the simulation, seconds.
    pub wall_time_s: f64,
}

/// Builds the world of one run. When a stream's policy asks for forecast passes (an `oracle`), this
/// first runs them (the first with that stream at its cheapest model) to obtain its load forecast.
///
/// # Errors
/// [`RunError::Build`] for invalid parameters.
pub fn world_setup(scenario: &Scenario, resources: &Resources, plan: &RunPlan) -> Result<WorldSetup, RunError> {
    if plan.policies.iter().any(|p| p.forecast_passes() > 0) {
        let forecasts = oracle_forecasts(scenario, resources, plan)?;
        world_setup_with(scenario, resources, plan, &forecasts)
    } else {
        world_setup_with(scenario, resources, plan, &vec![None; plan.policies.len()])
    }
}

/// [`world_setup`] with each stream's oracle forecast given.
fn world_setup_with(
    scenario: &Scenario,
    resources: &Resources,
    plan: &RunPlan,
    forecasts: &[Option<Arc<LoadForecast>>],
) -> Result<WorldSetup, RunError> {
    let mut streams = Vec::new();
    for ((stream, policy), forecast) in scenario.streams().zip(&plan.policies).zip(forecasts) {
        let loaded = &resources.banks[&scenario.dir().join(&stream.models)];
        let (set, split) = &resources.datasets[&stream_task_id(scenario, stream)];
        let (dataset, pool) = (Arc::clone(set), split.indices(stream.split).to_vec());
        let sequences = if stream.sequences_given { stream.spec.sequences } else { pool.len() };
        let bank_key = resources.banks.keys().position(|k| *k == scenario.dir().join(&stream.models)).expect("loaded");
        streams.push(StreamSetup {
            bank_key,
            pipeline: stream.pipeline.as_ref().map(|p| p.build()).transpose().map_err(|message| {
                RunError::Scenario(
                    scenario.error_at("pipeline:", format!("stream `{}`.pipeline: {message}", stream.spec.name)),
                )
            })?,
            spec: StreamSpec { sequences, ..stream.spec.clone() },
            model: Arc::clone(&loaded.model),
            cost: stream.cost.clone(),
            dataset,
            pool,
            policy: build_policy(
                policy,
                loaded,
                scenario.seed(),
                &stream.spec,
                (&stream.cost, stream_speed(scenario, stream)),
                forecast.as_ref(),
            )
            .map_err(|source| RunError::Policy {
                file: scenario.file().to_string(),
                stream: stream.spec.name.clone(),
                source,
            })?,
        });
    }
    Ok(WorldSetup {
        seed: scenario.seed(),
        devices: scenario
            .devices()
            .iter()
            .map(|d| DeviceSetup::new(d.name.clone(), d.discipline, d.cores.get(), d.speed))
            .collect(),
        memory: scenario.memory().map(|m| (m.capacity, m.bandwidth)),
        horizon: scenario.horizon(),
        bin: scenario.bin(),
        background: scenario.background().cloned().collect(),
        streams,
    })
}

/// Runs every plan; with `parallel`, on rayon's pool (each run single-threaded). Results are in plan
/// order either way and identical between the two modes.
///
/// # Errors
/// The first [`RunError`] in plan order.
pub fn execute(
    scenario: &Scenario,
    resources: &Resources,
    plans: &[RunPlan],
    parallel: bool,
) -> Result<Vec<RunResult>, RunError> {
    execute_with(scenario, resources, plans, parallel, |_| Ok::<_, RunError>(MemoryRecorder::default()))
}

/// [`execute`] with each run's records handed to the recorder `recorder` makes for its plan (e.g.
/// online statistics and writers of the record files, so that nothing grows with the run's length).
///
/// # Errors
/// The first error in plan order: a [`RunError`] (converted) or what `recorder` returned.
pub fn execute_with<R, E>(
    scenario: &Scenario,
    resources: &Resources,
    plans: &[RunPlan],
    parallel: bool,
    recorder: impl Fn(&RunPlan) -> Result<R, E> + Sync,
) -> Result<Vec<RunResult<R>>, E>
where
    R: Recorder + Send,
    E: From<RunError> + Send,
{
    let run_one = |plan: &RunPlan| -> Result<RunResult<R>, E> {
        let setup = world_setup(scenario, resources, plan)?;
        let recorder = recorder(plan)?;
        let started = Instant::now();
        let outcome = EdgeWorld::run(setup, recorder)
            .map_err(|source| RunError::Build { file: scenario.file().to_string(), source })?;
        Ok(RunResult { plan: plan.clone(), outcome, wall_time_s: started.elapsed().as_secs_f64() })
    };
    if parallel {
        plans.par_iter().map(run_one).collect()
    } else {
        plans.iter().map(run_one).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The oracle's forecast on a node of two devices counts only the work on the device that runs
    /// the stream's steps (the cpu, 1 core of 1 GFLOP/s): a gpu hog busy all along does not slow it;
    /// a cpu job present from 2 s to 4 s halves it (processor sharing, equal weights).
    #[test]
    fn oracle_forecast_counts_only_the_streams_device() {
        let text = "name: f\nseed: 1\nduration: 10s\nnode:\n  devices:\n    cpu: { cores: 1, speed: 1GFLOP/s, scheduler: processor_sharing }\n    gpu: { cores: 1, speed: 8GFLOP/s, scheduler: processor_sharing }\nprocesses:\n  - { name: hog, kind: on_off, device: gpu, on_mean: 1s, off_mean: 1s }\n  - { name: other, kind: poisson, rate: 1/s, work: { constant: 1MFLOP } }\n  - { name: s, kind: rnn_stream, dataset: digits, models: ../models/digits-gru, period: 5ms, deadline: 5ms, policies: [ { oracle: {} } ] }\n";
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let scenario = Scenario::parse(text, "f.yaml", &dir).unwrap();
        let plan =
            RunPlan { index: 0, label: "oracle".into(), policies: scenario.streams().next().unwrap().policies.clone() };
        let second = |s: u64| SimTime(s * SimTime::NANOS_PER_SEC);
        let recorded = OccupancyRecorder {
            intervals: vec![
                (SimTime::ZERO, None, Occupant::Background(0)),
                (second(2), Some(second(4)), Occupant::Background(1)),
            ],
        };
        let forecasts = forecasts_from(&scenario, &plan, &recorded, second(10));
        let forecast = forecasts[0].as_ref().expect("the oracle's stream has a forecast");
        assert_eq!(forecast.rate_at(1.0), 1e9);
        assert_eq!(forecast.rate_at(3.0), 0.5e9);
        assert_eq!(forecast.rate_at(5.0), 1e9);
    }

    /// The oracle ranks a bank by the card's validation accuracy (gru-128 0.979 > gru-64 0.972 >
    /// gru-32 0.945 > gru-16 0.897), not by the test accuracy of the split scenarios play (where
    /// gru-32's 0.967 is ahead of gru-64's 0.964).
    #[test]
    fn oracle_preference_follows_validation_accuracy() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/digits-gru");
        let loaded = LoadedBank { model: Arc::new(FlexibleModel::load(&dir).unwrap()), sha256: String::new(), dir };
        let names: Vec<&str> =
            accuracy_preference(&loaded).into_iter().map(|i| loaded.model.settings()[i].name.as_str()).collect();
        assert_eq!(names, ["gru-128", "gru-64", "gru-32", "gru-16"]);
    }
}
