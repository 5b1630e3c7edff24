//! Policies: before each step of an RNN stream, choose the model (setting) that the step runs with.
//!
//! **Invariant:** a policy sees an [`Observation`] and the list of [`ModelOption`]s, never the
//! simulator's or the network's internals; what it knows beyond that it gets at construction, from a
//! [`PolicyContext`].
//!
//! Each built-in policy lives in its own module with its YAML configuration ([`PolicyConfig`]: its
//! fields, label, the settings it names, its checks and its construction) and the policy itself:
//! [`static_`], [`greedy_slack`], [`threshold`], [`pid`], [`budget`], [`random`], [`confidence`],
//! [`oracle`]. Scenarios name them through a [`PolicyRegistry`]. A policy of your own is a
//! [`Policy`] plus a [`PolicyConfig`] registered with [`PolicyRegistry::with`]; with
//! [`crate::cli::main_with`] it is available by name in `flexrnn run` and `flexrnn study`.
//!
//! Adding a built-in policy: its file here (configuration, label, checks, construction, the policy,
//! its tests) and one line in the `builtin_policies!` list below.

pub mod forecast;
pub mod registry;

/// The built-in policies, one `module::Config` line each: the one place a built-in is registered. It
/// declares the module, adds the configuration to [`PolicyRegistry::builtin`], and has
/// [`PolicySpec`]s of that kind read straight from the YAML parser (so their errors carry the
/// offending field's line and column; a user's kind is read through a YAML value).
macro_rules! builtin_policies {
    ($($module:ident :: $config:ident),+ $(,)?) => {
        $(pub mod $module;)+

        /// `registry` with every built-in kind added.
        fn register_builtins(registry: PolicyRegistry) -> PolicyRegistry {
            registry$(.with::<$module::$config>())+
        }

        /// Reads the value of the built-in kind with type id `kind` from the YAML parser; `None` if
        /// `kind` is not a built-in kind.
        fn read_builtin<'de, A: serde::de::MapAccess<'de>>(
            kind: std::any::TypeId,
            map: &mut A,
        ) -> Option<Result<PolicySpec, A::Error>> {
            $(
                if kind == std::any::TypeId::of::<$module::$config>() {
                    return Some(map.next_value::<$module::$config>().and_then(|config| {
                        PolicySpec::new(config).map_err(<A::Error as serde::de::Error>::custom)
                    }));
                }
            )+
            None
        }

        /// The JSON Schema of the configuration of the built-in kind with type id `kind`; `None`
        /// if `kind` is not a built-in kind.
        fn builtin_config_schema(
            kind: std::any::TypeId,
            generator: &mut schemars::SchemaGenerator,
        ) -> Option<schemars::Schema> {
            $(
                if kind == std::any::TypeId::of::<$module::$config>() {
                    return Some(generator.subschema_for::<$module::$config>());
                }
            )+
            None
        }
    };
}

builtin_policies![
    static_::StaticConfig,
    greedy_slack::GreedySlackConfig,
    threshold::ThresholdConfig,
    pid::PidConfig,
    budget::BudgetConfig,
    random::RandomConfig,
    confidence::ConfidenceConfig,
    oracle::OracleConfig,
];

pub use budget::BudgetPolicy;
pub use confidence::ConfidencePolicy;
pub use forecast::LoadForecast;
pub use greedy_slack::GreedySlackPolicy;
pub use oracle::OraclePolicy;
pub use pid::PidPolicy;
pub use random::RandomPolicy;
pub use registry::{PolicyConfig, PolicyContext, PolicyError, PolicyRegistry, PolicySpec};
pub use static_::StaticPolicy;
pub use threshold::{LoadSignal, ThresholdPolicy};

/// One model a policy may choose, in bank order (the shipped banks list the narrowest first).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOption {
    /// Model name, e.g. `gru-64`.
    pub name: String,
    /// Hidden size (width).
    pub hidden: usize,
    /// FLOPs of one step of this model (for settings whose gate may skip, the card's mean). Under a
    /// stream's `cost: { profile: … }` this and every other FLOP figure a policy sees (switch costs,
    /// [`WindowLimit`]) are FLOP-equivalents: the mean duration the stream draws × core speed × scale.
    pub flops_per_step: u64,
    /// For a setting that reads at most `k` steps of every window (SkipW), what a strict FLOPs bound
    /// needs; `None` for settings of the other families.
    pub window_limit: Option<WindowLimit>,
}

/// The worst case of a setting whose gate reads at most `k` of every `window` consecutive steps of a
/// sequence (SkipW; windows start at steps 0, `window`, `2·window`, …): the gate's FLOPs at each
/// window's start plus at most `k` processed steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimit {
    /// Steps per window (`L`).
    pub window: usize,
    /// Steps read at most per window (`K`).
    pub k: usize,
    /// FLOPs of a processed (read) step.
    pub flops_per_processed_step: u64,
    /// FLOPs of the window gate, paid at each window's first step under any setting.
    pub flops_window_gate: u64,
}

/// What a policy knows when it decides the next step.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// Current simulation time, seconds.
    pub now_s: f64,
    /// Release time of the frame about to run, seconds.
    pub release_s: f64,
    /// Absolute deadline of that frame, seconds.
    pub deadline_s: f64,
    /// `deadline_s − now_s`, seconds (negative when already late).
    pub slack_s: f64,
    /// Frames released and waiting behind the one about to run (not counting it): 0 when the stream
    /// keeps up. Under `on_miss: skip` at most ⌈deadline / period⌉ − 1.
    pub queued_frames: usize,
    /// Index of this step in its sequence (0-based).
    pub step: usize,
    /// Steps per sequence.
    pub steps: usize,
    /// Index (into the options) of the model that ran the previous step of this sequence, if any.
    pub current: Option<usize>,
    /// FLOPs of switching from `current` to each option (0 for staying), one per option.
    pub switch_flops: &'a [u64],
    /// FLOPs of switching from option `i` to option `j` at `i · n + j` (row-major, `n` options).
    pub switch_matrix: &'a [u64],
    /// Service rate (FLOP/s) a step submitted now would get under the current load of the device
    /// that runs the stream's steps (the node, when it has one device).
    pub rate_estimate: f64,
    /// Jobs currently on that device (not counting this step).
    pub node_jobs: usize,
    /// Cores of that device.
    pub cores: usize,
    /// Speed of one of its cores, FLOP/s.
    pub core_speed: f64,
    /// Latency (release to end) of this stream's last completed step, seconds.
    pub last_latency_s: Option<f64>,
    /// The network's own confidence: the top softmax probability of the current model's readout on
    /// the current state; only for policies whose [`Policy::needs_confidence`] is true (its readout
    /// FLOPs are then charged to the step), and `None` before the first step of a sequence.
    pub confidence: Option<f64>,
}

/// A rule that chooses the model of each step.
pub trait Policy: Send {
    /// Short name used in output folders and tables (e.g. `static-gru-128`).
    fn name(&self) -> String;
    /// Returns an index into `options` (`0..options.len()`); any other value is a bug in the policy,
    /// and the run stops with a panic naming the policy.
    fn choose(&mut self, observation: &Observation<'_>, options: &[ModelOption]) -> usize;
    /// Whether [`Observation::confidence`] should be computed (it costs a readout per step).
    fn needs_confidence(&self) -> bool {
        false
    }
}

/// The order "more FLOPs per step first (ties: later option first)" as a key: larger comes first.
pub(crate) fn flops_key(options: &[ModelOption], i: usize) -> (u64, usize) {
    (options[i].flops_per_step, i)
}

/// Smallest `knob_step` a `pid` or `budget` policy may give (at most about a thousand settings per knob
/// range of width 1).
pub const MIN_KNOB_STEP: f32 = 0.001;

/// `knob_step`, if given, must be a number in `[MIN_KNOB_STEP, 1]`.
pub(crate) fn check_knob_step(step: Option<f32>) -> Result<(), String> {
    match step {
        Some(step) if !(MIN_KNOB_STEP..=1.0).contains(&step) => {
            Err(format!("knob_step must be a number in [{MIN_KNOB_STEP}, 1], got {step}"))
        }
        _ => Ok(()),
    }
}

/// Options and observations for the policies' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{ModelOption, Observation};

    pub(crate) fn options() -> Vec<ModelOption> {
        [(16, 1_000), (64, 10_000), (128, 40_000)]
            .into_iter()
            .map(|(hidden, flops_per_step)| ModelOption {
                name: format!("gru-{hidden}"),
                hidden,
                flops_per_step,
                window_limit: None,
            })
            .collect()
    }

    pub(crate) fn observation(slack_s: f64, rate: f64, switch: &[u64]) -> Observation<'_> {
        Observation {
            now_s: 1.0,
            release_s: 1.0,
            deadline_s: 1.0 + slack_s,
            slack_s,
            queued_frames: 0,
            step: 3,
            steps: 64,
            current: Some(2),
            switch_flops: switch,
            switch_matrix: &[],
            rate_estimate: rate,
            node_jobs: 1,
            cores: 1,
            core_speed: 2.0 * rate,
            last_latency_s: None,
            confidence: None,
        }
    }

    pub(crate) fn at(
        node_jobs: usize,
        queued: usize,
        last_latency_s: Option<f64>,
        step: usize,
    ) -> Observation<'static> {
        Observation {
            now_s: 0.0,
            release_s: 0.0,
            deadline_s: 0.01,
            slack_s: 0.01,
            queued_frames: queued,
            step,
            steps: 8,
            current: None,
            switch_flops: &[0, 0, 0],
            switch_matrix: &[],
            rate_estimate: 1e6,
            node_jobs,
            cores: 1,
            core_speed: 1e6,
            last_latency_s,
            confidence: None,
        }
    }
}
