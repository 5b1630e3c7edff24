//! What a stream's step costs on the node, under the stream's cost model ([`StepCost`]): the one
//! place where a step's work and the policies' cost estimates ([`ModelOption`]) are made.
//!
//! - `cost: flops` (the default): a step's work is its FLOPs ([`StepPlan::flops`], plus readouts),
//!   and a policy's options carry the card's FLOPs.
//! - `cost: { profile: FILE, scale: s }`: a step's duration on a free core is drawn from the
//!   profile's row for its setting and operation (`update` or `skip`, plus SkipW's `window` gate
//!   when the step opens a window, plus `map:<to>` when the stream changes setting in a bank, plus
//!   `readout` at a sequence's end and when a confidence is read), times `s`; the work handed to the
//!   node is that duration × the core speed, so sharing, priorities and energy work as before. The
//!   draws come from the stream's own random stream `"<stream>/cost"` (common random numbers across
//!   policies). A policy's options carry the same cost model's expectation: the mean of what is drawn
//!   ([`crate::workload::profile::ProfileRow::drawn_mean_s`]) × speed × `s`, in FLOP-equivalents.
//!
//! Which rows a profile needs, per setting the stream offers its policies: `update` and `readout`
//! always; `skip` for Skip-RNN and SkipW settings; `window` for SkipW; `map:<to>` for every bank
//! setting `<to>` whose switch costs FLOPs (a map row of a free switch is used if present).
//! Skip-RNN and SkipW settings added at a knob value (`thr-64-1e-3@thr=0.63`) run the same kernels
//! as their model's listed settings: without a row of their own, they use the rows of the first
//! profiled setting of the same model.

use std::sync::Arc;

use crate::policy::{ModelOption, WindowLimit};
use crate::rnn::flex::{FlexibleModel, Knobs, StepPlan};
use crate::workload::profile::{Operation, StepCost, StepProfile};
use crate::workload::ProcessRng;

/// A stream's cost model, resolved against its model's settings.
pub(super) enum CostTable {
    /// Work = FLOPs.
    Flops,
    /// Work = drawn duration × scale × core speed.
    Profile(ProfileCosts),
}

/// The rows of a profile for each setting (indices into the profile's rows), and the stream's draws.
pub(super) struct ProfileCosts {
    profile: Arc<StepProfile>,
    /// Core speed × scale: FLOP-equivalents per second of measured duration.
    work_per_second: f64,
    update: Vec<usize>,
    skip: Vec<Option<usize>>,
    window: Vec<Option<usize>>,
    readout: Vec<usize>,
    /// Row of the map `from → to` at `from · n + to`.
    maps: Vec<Option<usize>>,
    rng: ProcessRng,
}

impl CostTable {
    /// The cost table of a stream running `model` at core speed `speed` (FLOP/s) under `cost`;
    /// `rng` is the stream's cost stream (drawn from only under a profile).
    ///
    /// # Errors
    /// Under a profile, a message naming the profile's file and the first setting (and operation) it
    /// lacks.
    pub(crate) fn new(
        model: &FlexibleModel,
        cost: &StepCost,
        speed: f64,
        rng: ProcessRng,
    ) -> Result<CostTable, String> {
        let StepCost::Profile { file, scale, profile } = cost else { return Ok(CostTable::Flops) };
        let settings = model.settings();
        let n = settings.len();
        // The profile's settings, each once, in file order.
        let listed: Vec<&str> = {
            let mut names: Vec<&str> = Vec::new();
            for row in &profile.rows {
                if !names.contains(&row.setting.as_str()) {
                    names.push(&row.setting);
                }
            }
            names
        };
        // A row of a setting the folder does not have is a profile of another model (or a typo).
        if let Some(unknown) = listed.iter().find(|name| !settings.iter().any(|s| s.name == **name)) {
            let mut probe = model.clone();
            if probe.add_setting(unknown).is_err() {
                return Err(format!(
                    "profile {}: rows for setting `{unknown}`, which the stream's model folder does not have (a profile of another model?); its settings: {}",
                    file.display(),
                    settings.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        // The row of `operation` for setting `index`: its own, or (Skip-RNN and SkipW settings) that of
        // the first setting of the same model that has one.
        let row_of = |index: usize, operation: &Operation| -> Option<usize> {
            profile.find(&settings[index].name, operation).or_else(|| {
                let same_kernels = |other: usize| match (settings[index].knobs, settings[other].knobs) {
                    (Knobs::Thr { model: a, .. }, Knobs::Thr { model: b, .. }) => a == b,
                    (Knobs::SkipW { .. }, Knobs::SkipW { .. }) => true,
                    _ => false,
                };
                (0..n)
                    .filter(|&other| same_kernels(other))
                    .find_map(|other| profile.find(&settings[other].name, operation))
            })
        };
        let lacks = |index: usize, operation: &Operation| {
            format!(
                "profile {}: no row for setting `{}`, operation `{operation}` (the stream may run it); the profile has settings: {}",
                file.display(),
                settings[index].name,
                listed.join(", ")
            )
        };
        let required =
            |index: usize, operation: Operation| row_of(index, &operation).ok_or_else(|| lacks(index, &operation));
        let gated = |index: usize| matches!(settings[index].knobs, Knobs::Thr { .. } | Knobs::SkipW { .. });
        let windowed = |index: usize| matches!(settings[index].knobs, Knobs::SkipW { .. });
        let mut costs = ProfileCosts {
            profile: Arc::clone(profile),
            work_per_second: speed * scale,
            update: Vec::with_capacity(n),
            skip: Vec::with_capacity(n),
            window: Vec::with_capacity(n),
            readout: Vec::with_capacity(n),
            maps: vec![None; n * n],
            rng,
        };
        for index in 0..n {
            costs.update.push(required(index, Operation::Update)?);
            costs.skip.push(if gated(index) { Some(required(index, Operation::Skip)?) } else { None });
            costs.window.push(if windowed(index) { Some(required(index, Operation::Window)?) } else { None });
            costs.readout.push(required(index, Operation::Readout)?);
        }
        if let FlexibleModel::Switch(_) = model {
            for from in 0..n {
                for to in (0..n).filter(|&to| to != from) {
                    let map = Operation::Map { to: settings[to].name.clone() };
                    costs.maps[from * n + to] = match profile.find(&settings[from].name, &map) {
                        Some(row) => Some(row),
                        None if model.switch_flops(from, to) == 0 => None,
                        None => return Err(lacks(from, &map)),
                    };
                }
            }
        }
        Ok(CostTable::Profile(costs))
    }

    /// The options a stream's policy chooses among: one per setting of `model`, in its order, with
    /// what a step is expected to cost under this cost model (FLOPs; under a profile, mean duration ×
    /// speed × scale, a skipping setting's mix of updates and skips taken from its card's mean FLOPs).
    pub(crate) fn options(&self, model: &FlexibleModel) -> Vec<ModelOption> {
        model
            .settings()
            .iter()
            .enumerate()
            .map(|(index, setting)| ModelOption {
                name: setting.name.clone(),
                hidden: setting.hidden,
                // What a step costs on average under this setting (for families whose gate may
                // skip, the card's mean; otherwise an update).
                flops_per_step: match self {
                    CostTable::Flops => {
                        setting.expected_flops_per_step.map_or(setting.flops_per_update, |f| f.round() as u64)
                    }
                    CostTable::Profile(costs) => costs.expected_step_work(model, index).round() as u64,
                },
                // SkipW reads at most K of every window: the worst case `budget` charges.
                window_limit: match setting.knobs {
                    Knobs::SkipW { k, .. } => Some(WindowLimit {
                        window: setting.window,
                        k,
                        flops_per_processed_step: match self {
                            CostTable::Flops => setting.flops_per_update,
                            CostTable::Profile(costs) => costs.mean_work(Some(costs.update[index])).round() as u64,
                        },
                        flops_window_gate: match self {
                            CostTable::Flops => setting.flops_per_window,
                            CostTable::Profile(costs) => costs.mean_work(costs.window[index]).round() as u64,
                        },
                    }),
                    _ => None,
                },
            })
            .collect()
    }

    /// The expected work of switching `from → to` at `from · n + to` (`n` settings): the bank's
    /// FLOPs, or under a profile the map's mean duration × speed × scale (0 without a map).
    pub(crate) fn switch_matrix(&self, model: &FlexibleModel) -> Vec<u64> {
        let n = model.settings().len();
        (0..n * n)
            .map(|k| match self {
                CostTable::Flops => model.switch_flops(k / n, k % n),
                CostTable::Profile(costs) => costs.mean_work(costs.maps[k]).round() as u64,
            })
            .collect()
    }

    /// The work of a step of setting `choice` planned as `plan` (made after a step of `previous`, if
    /// any): the plan's FLOPs, plus the readout of `confidence_of` if a confidence was read with that
    /// setting's readout, plus `choice`'s readout if `last` (the sequence's last step). Under a
    /// profile, every part is drawn (see the module doc). Allocates nothing.
    pub(super) fn step_work(
        &mut self,
        model: &FlexibleModel,
        choice: usize,
        previous: Option<usize>,
        plan: StepPlan,
        confidence_of: Option<usize>,
        last: bool,
    ) -> f64 {
        match self {
            CostTable::Flops => {
                let mut flops = plan.flops as f64;
                if let Some(current) = confidence_of {
                    flops += model.readout_flops(current) as f64;
                }
                if last {
                    flops += model.readout_flops(choice) as f64;
                }
                flops
            }
            CostTable::Profile(costs) => {
                let setting = &model.settings()[choice];
                let n = model.settings().len();
                let mut seconds = 0.0;
                if let Some(map) = previous.and_then(|from| costs.maps[from * n + choice]) {
                    seconds += costs.draw(map);
                }
                let own = if plan.updates { setting.flops_per_update } else { setting.flops_per_skip };
                if let (Some(window), true) = (costs.window[choice], plan.flops - plan.switch_flops > own) {
                    // The step opens a window: the gate ran before it.
                    seconds += costs.draw(window);
                }
                seconds += match (plan.updates, costs.skip[choice]) {
                    (false, Some(skip)) => costs.draw(skip),
                    _ => costs.draw(costs.update[choice]),
                };
                if let Some(current) = confidence_of {
                    seconds += costs.draw(costs.readout[current]);
                }
                if last {
                    seconds += costs.draw(costs.readout[choice]);
                }
                seconds * costs.work_per_second
            }
        }
    }
}

impl ProfileCosts {
    /// A duration drawn from row `row`, seconds.
    fn draw(&mut self, row: usize) -> f64 {
        self.profile.rows[row].draw(&mut self.rng)
    }

    /// The mean work of row `row` (0 without a row): the mean of its draws × speed × scale.
    fn mean_work(&self, row: Option<usize>) -> f64 {
        row.map_or(0.0, |row| self.profile.rows[row].drawn_mean_s() * self.work_per_second)
    }

    /// The expected work of a step of setting `index` (switch and readout excluded): an update's mean,
    /// or for a Skip-RNN or SkipW setting the mix of updates, skips (and SkipW's gate once a window)
    /// that its card's mean FLOPs per step imply (all updates without a card mean).
    fn expected_step_work(&self, model: &FlexibleModel, index: usize) -> f64 {
        let setting = &model.settings()[index];
        let update = self.mean_work(Some(self.update[index]));
        let Some(skip) = self.skip[index] else { return update };
        let skip = self.mean_work(Some(skip));
        let window = self.mean_work(self.window[index]) / setting.window.max(1) as f64;
        let gate_flops = setting.flops_per_window as f64 / setting.window.max(1) as f64;
        let (update_flops, skip_flops) = (setting.flops_per_update as f64, setting.flops_per_skip as f64);
        let updated = match setting.expected_flops_per_step {
            Some(mean) if update_flops > skip_flops => {
                ((mean - gate_flops - skip_flops) / (update_flops - skip_flops)).clamp(0.0, 1.0)
            }
            _ => 1.0,
        };
        window + updated * update + (1.0 - updated) * skip
    }
}
