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
use crate::engine::{BuildError, EdgeWorld, RunOutcome, StreamSetup, WorldSetup};
use crate::metrics::MemoryRecorder;
use crate::policy::{
    BudgetPolicy, ConfidencePolicy, GreedySlackPolicy, PidPolicy, Policy, RandomPolicy, StaticPolicy, ThresholdPolicy,
};
use crate::rnn::io::{load_bank, ModelCard};
use crate::rnn::ModelBank;
use crate::scenario::{DatasetName, PolicyFile, Scenario, ScenarioError};
use crate::workload::{process_rng, StreamSpec};

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
    /// Building a world failed.
    #[error("{file}: {source}")]
    Build {
        /// Scenario file.
        file: String,
        /// Underlying error.
        source: BuildError,
    },
}

/// A loaded model bank with its card.
#[derive(Debug, Clone)]
pub struct LoadedBank {
    /// Where it was loaded from.
    pub dir: PathBuf,
    /// The models and maps.
    pub bank: Arc<ModelBank>,
    /// Its card.
    pub card: ModelCard,
    /// SHA-256 (hex) of `card.json` followed by every model's and the maps' safetensors bytes, in that
    /// order: identifies the exact weights a result was produced with.
    pub sha256: String,
}

/// Everything a scenario's streams need, loaded once and shared by all runs.
#[derive(Debug, Clone)]
pub struct Resources {
    /// Banks by folder.
    pub banks: BTreeMap<PathBuf, LoadedBank>,
    /// The digits data set and its split, if a stream uses it.
    pub digits: Option<(Arc<SequenceSet>, Split)>,
}

/// Loads the banks and data sets the scenario's streams name.
///
/// # Errors
/// [`RunError::Scenario`] (a model bank that cannot be loaded, located at its `models:` line) or
/// [`RunError::Data`], naming what could not be loaded.
pub fn load_resources(scenario: &Scenario) -> Result<Resources, RunError> {
    let mut banks = BTreeMap::new();
    let mut digits = None;
    for stream in scenario.streams() {
        let dir = scenario.dir.join(&stream.models);
        if !banks.contains_key(&dir) {
            let (bank, card) = load_bank(&dir).map_err(|source| {
                RunError::Scenario(scenario.error_at(
                    &format!("models: {}", stream.models.display()),
                    format!(
                        "stream `{}`.models: cannot load the model bank `{}` (a folder with card.json and safetensors files): {source}",
                        stream.spec.name,
                        stream.models.display()
                    ),
                ))
            })?;
            let sha256 = bank_digest(&dir, &card);
            banks.insert(dir.clone(), LoadedBank { dir, bank: Arc::new(bank), card, sha256 });
        }
        match stream.dataset {
            DatasetName::Digits if digits.is_none() => {
                let set = data::load_digits()?;
                let split = data::digits_split(&set.labels);
                digits = Some((Arc::new(set), split));
            }
            DatasetName::Digits => {}
        }
    }
    Ok(Resources { banks, digits })
}

/// SHA-256 of a bank's files (see [`LoadedBank::sha256`]); files that vanished since loading hash as empty.
fn bank_digest(dir: &std::path::Path, card: &ModelCard) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut files = vec![dir.join("card.json")];
    files.extend(card.models.iter().map(|m| dir.join(format!("{}.safetensors", m.name))));
    files.push(dir.join("maps.safetensors"));
    for file in files {
        hasher.update(std::fs::read(file).unwrap_or_default());
    }
    format!("{:x}", hasher.finalize())
}

/// One run of a scenario: which policy each stream uses.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    /// Run index (0-based).
    pub index: usize,
    /// Label of the run (the multi-policy stream's policy label, or `run`).
    pub label: String,
    /// Policy of each stream, in stream order.
    pub policies: Vec<PolicyFile>,
}

/// The runs of a scenario: one per policy of the stream that lists several (others keep their only
/// policy). Checks that every policy names models that exist.
///
/// # Errors
/// [`ScenarioError`] for a policy naming a model that is not in its stream's bank.
pub fn plan_runs(scenario: &Scenario, resources: &Resources) -> Result<Vec<RunPlan>, ScenarioError> {
    for (stream_index, stream) in scenario.streams().enumerate() {
        let bank = &resources.banks[&scenario.dir.join(&stream.models)];
        for (policy_index, policy) in stream.policies.iter().enumerate() {
            let named: Vec<&String> = match policy {
                PolicyFile::Static { model } => vec![model],
                PolicyFile::Threshold { models, .. } => models.iter().collect(),
                PolicyFile::Confidence { cheap, accurate, .. } => vec![cheap, accurate],
                _ => Vec::new(),
            };
            for model in named {
                if bank.bank.index_of(model).is_none() {
                    let names: Vec<&str> = bank.bank.models().iter().map(|m| m.name.as_str()).collect();
                    return Err(scenario.error_at(
                        model,
                        format!(
                            "stream `{}` (stream {stream_index}).policies[{policy_index}]: model `{model}` is not in {}; allowed: {}",
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
        let policies: Vec<PolicyFile> =
            scenario.streams().map(|s| s.policies[index.min(s.policies.len() - 1)].clone()).collect();
        let label = scenario
            .streams()
            .find(|s| s.policies.len() > 1)
            .map_or_else(|| "run".to_string(), |s| s.policies[index].label());
        plans.push(RunPlan { index, label, policies });
    }
    Ok(plans)
}

/// Builds the policy object for `policy` over `bank`.
pub fn build_policy(policy: &PolicyFile, bank: &ModelBank, seed: u64, stream_name: &str) -> Box<dyn Policy> {
    let index = |model: &str| bank.index_of(model).expect("checked by plan_runs");
    match policy {
        PolicyFile::Static { model } => Box::new(StaticPolicy { model: index(model), model_name: model.clone() }),
        PolicyFile::GreedySlack { safety } => Box::new(GreedySlackPolicy { safety: *safety }),
        PolicyFile::Threshold { signal, models, thresholds, hysteresis } => Box::new(ThresholdPolicy {
            signal: *signal,
            models: models.iter().map(|m| index(m)).collect(),
            thresholds: thresholds.clone(),
            hysteresis: *hysteresis,
            level: 0,
        }),
        PolicyFile::Pid { target, kp, ki, kd } => Box::new(PidPolicy {
            target_s: target.as_secs_f64(),
            kp: *kp,
            ki: *ki,
            kd: *kd,
            position: 0.0,
            errors: (0.0, 0.0),
        }),
        PolicyFile::Budget { window, budget } => {
            Box::new(BudgetPolicy { window: *window, budget: *budget, spent: 0.0, current_window: None })
        }
        // Its own stream, so that a random policy leaves every other draw unchanged.
        PolicyFile::Random => Box::new(RandomPolicy { rng: process_rng(seed, &format!("{stream_name}/policy")) }),
        PolicyFile::Confidence { threshold, cheap, accurate } => {
            Box::new(ConfidencePolicy { threshold: *threshold, cheap: index(cheap), accurate: index(accurate) })
        }
    }
}

/// A finished run.
pub struct RunResult {
    /// Its plan.
    pub plan: RunPlan,
    /// Records and node accounting.
    pub outcome: RunOutcome<MemoryRecorder>,
    /// Wall time of the simulation, seconds.
    pub wall_time_s: f64,
}

/// Builds the world of one run.
///
/// # Errors
/// [`RunError::Build`] for invalid parameters.
pub fn world_setup(scenario: &Scenario, resources: &Resources, plan: &RunPlan) -> Result<WorldSetup, RunError> {
    let node = &scenario.parsed.node;
    let mut streams = Vec::new();
    for (stream, policy) in scenario.streams().zip(&plan.policies) {
        let loaded = &resources.banks[&scenario.dir.join(&stream.models)];
        let (dataset, pool) = match stream.dataset {
            DatasetName::Digits => {
                let (set, split) = resources.digits.as_ref().expect("loaded by load_resources");
                (Arc::clone(set), split.indices(stream.split).to_vec())
            }
        };
        let sequences = if stream.sequences_given { stream.spec.sequences } else { pool.len() };
        let bank_key = resources.banks.keys().position(|k| *k == scenario.dir.join(&stream.models)).expect("loaded");
        streams.push(StreamSetup {
            bank_key,
            pipeline: stream.pipeline.as_ref().map(|p| p.build()).transpose().map_err(|message| {
                RunError::Scenario(
                    scenario.error_at("pipeline:", format!("stream `{}`.pipeline: {message}", stream.spec.name)),
                )
            })?,
            spec: StreamSpec { sequences, ..stream.spec.clone() },
            bank: Arc::clone(&loaded.bank),
            dataset,
            pool,
            policy: build_policy(policy, &loaded.bank, scenario.seed, &stream.spec.name),
        });
    }
    Ok(WorldSetup {
        seed: scenario.seed,
        discipline: scenario.discipline(),
        memory: node.memory.map(|m| (m.capacity.0, m.bandwidth.0)),
        cores: node.cores.get(),
        core_speed: node.speed.0,
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
    let run_one = |plan: &RunPlan| -> Result<RunResult, RunError> {
        let setup = world_setup(scenario, resources, plan)?;
        let started = Instant::now();
        let outcome = EdgeWorld::run(setup, MemoryRecorder::default())
            .map_err(|source| RunError::Build { file: scenario.file.clone(), source })?;
        Ok(RunResult { plan: plan.clone(), outcome, wall_time_s: started.elapsed().as_secs_f64() })
    };
    if parallel {
        plans.par_iter().map(run_one).collect()
    } else {
        plans.iter().map(run_one).collect()
    }
}
