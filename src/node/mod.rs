//! The edge node: `cores` identical cores of `speed` FLOP/s and a scheduling discipline.
//!
//! Disciplines ([`Discipline`]); a job never uses more than one core, and every discipline uses free
//! cores before it preempts anyone:
//! - **Processor sharing** (weighted, water-filling): with `n` jobs of weights `w_i` on `c` cores, job `i`
//!   is served at rate `speed · min(1, θ w_i)`, where `θ` is the largest value with
//!   `Σ_i min(1, θ w_i) ≤ c`. With `n ≤ c` every job has a core; with equal weights and `n > c` each gets
//!   `c/n` of a core.
//! - **FIFO**: non-preemptive, in release order.
//! - **Fixed priority**, preemptive (preempt-resume) or not: smaller `priority` first, then release order.
//! - **EDF**: preemptive, earliest absolute deadline first; jobs without a deadline after all jobs with
//!   one, then release order.
//! - **Round robin**: one ready queue in release order; a core runs its job for at most `quantum`, then
//!   the job goes to the back of the queue if another job waits. Starting a job other than the one the
//!   core ran last costs `context_switch` of core time (busy, no progress).
//!
//! A job holding a core runs at `speed`; the others wait. Rates change only at arrivals, completions,
//! cancellations and round-robin timers; [`Node::next_event`] says when the next one is due.
//!
//! Work is in FLOPs (`f64`), time in integer nanoseconds. **Rounding happens in one place**
//! ([`Node::next_event`] and [`Node::take_completed`] share it): a job's finishing time is the
//! nanosecond nearest to its exact finishing time at its current rate (the time left since the node's
//! last change, rounded), i.e. a job is complete at `t` once less than half a nanosecond of work at
//! its rate is left (or no work at all). So the finishing times of the textbook cases are exact (4
//! jobs of 10 units on 1 processor-sharing core of speed 1 end at 40 s), and a job whose work fits
//! exactly is never a nanosecond late.
//!
//! **Same-instant contract**: a job whose work is done at `t` completes at `t`. Callers must call
//! [`Node::take_completed`] at `t` (when [`Node::next_event`] is due) *before* they submit or cancel
//! jobs at `t`; the node then never lets an arrival at `t` preempt, or share a core with, a job whose
//! work was done at `t`. Round-robin timers due at `t` are handled before a job submitted at `t`
//! joins the ready queue: a job arriving exactly at a quantum's end, with nobody waiting before it,
//! waits for the next one.
//!
//! Accounting: every job carries a `class` (an index chosen by the caller, e.g. one per process); the
//! node integrates busy core-time per class, overall and in fixed time bins, and the number of jobs
//! present over time (for Little's law).

pub mod memory;

use std::collections::VecDeque;

use crate::sim::SimTime;

/// Identifier of a job, chosen by the caller (unique among active jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u64);

/// How the node shares its cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discipline {
    /// Weighted processor sharing, at most one core per job.
    ProcessorSharing,
    /// First in, first out, non-preemptive.
    Fifo,
    /// Fixed priorities (smaller number first).
    FixedPriority {
        /// Whether an arriving job preempts a running one of lower priority (preempt-resume).
        preemptive: bool,
    },
    /// Earliest deadline first, preemptive.
    Edf,
    /// Round robin.
    RoundRobin {
        /// Longest uninterrupted run of a job on a core.
        quantum: SimTime,
        /// Core time lost when a core switches to a different job.
        context_switch: SimTime,
    },
}

/// A job handed to the node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobSpec {
    /// Its id (unique among active jobs).
    pub id: JobId,
    /// Accounting class.
    pub class: usize,
    /// FLOPs (may be `f64::INFINITY` for a job that only ends when cancelled).
    pub work: f64,
    /// Processor-sharing weight.
    pub weight: f64,
    /// Fixed priority: smaller runs first.
    pub priority: u32,
    /// Absolute deadline (EDF), if any.
    pub deadline: Option<SimTime>,
}

#[derive(Debug, Clone)]
struct ActiveJob {
    id: JobId,
    class: usize,
    weight: f64,
    priority: u32,
    deadline: SimTime,
    sequence: u64,
    work: f64,
    remaining: f64,
    served: f64,
    rate: f64,
    /// Holds a core (all disciplines but processor sharing).
    running: bool,
    /// Round robin: its core is switching to it (busy, no progress).
    switching: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct CoreState {
    job: Option<JobId>,
    last_job: Option<JobId>,
    switch_until: SimTime,
    quantum_end: SimTime,
}

/// Errors of node construction.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// `cores` is zero, `speed` is not positive and finite, `bin` is zero or a quantum is zero.
    #[error("invalid node: {0}")]
    Invalid(String),
}

/// The rate (FLOP/s) a new job of weight `weight` would get under weighted processor sharing on
/// `cores` cores of `speed` FLOP/s next to jobs of weights `others`: the full speed when fewer jobs
/// than cores are present, otherwise `speed · min(1, θ · weight)` with the water-filling `θ` of the
/// module documentation. The same formula as [`Node::rate_if_added`], for callers that describe a node's
/// load without a [`Node`] (e.g. a load forecast). Allocates nothing.
pub fn rate_if_added_to(cores: usize, speed: f64, others: impl Iterator<Item = f64> + Clone, weight: f64) -> f64 {
    let (count, total_weight) = others.clone().fold((0usize, 0.0), |(n, sum), w| (n + 1, sum + w));
    if count < cores {
        return speed;
    }
    // Water-filling with the hypothetical job: θ grows as jobs saturate (θ w ≥ 1); the saturated
    // set only grows, so the fixed point is reached in at most n + 1 rounds.
    let mut theta = cores as f64 / (total_weight + weight);
    for _ in 0..=count + 1 {
        let mut saturated_cores = 0.0;
        let mut free_weight = 0.0;
        for w in others.clone().chain(std::iter::once(weight)) {
            if theta * w >= 1.0 {
                saturated_cores += 1.0;
            } else {
                free_weight += w;
            }
        }
        let next = if free_weight > 0.0 { (cores as f64 - saturated_cores) / free_weight } else { theta };
        if next == theta {
            break;
        }
        theta = next;
    }
    speed * (theta * weight).min(1.0)
}

/// A node with its jobs; see the module doc.
#[derive(Debug, Clone)]
pub struct Node {
    discipline: Discipline,
    cores: usize,
    speed: f64,
    jobs: Vec<ActiveJob>,
    order: Vec<usize>,
    ready: VecDeque<JobId>,
    core_states: Vec<CoreState>,
    next_sequence: u64,
    last_update: SimTime,
    busy_core_seconds: Vec<f64>,
    jobs_time_integral: Vec<f64>,
    bin: SimTime,
    bins: Vec<Vec<f64>>,
    horizon: SimTime,
}

/// A job that left the node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FinishedJob {
    /// Its id.
    pub id: JobId,
    /// FLOPs served.
    pub served: f64,
}

/// Nanoseconds until `job` finishes at its current rate, rounded to the nearest nanosecond (half
/// away from zero): `Some(0)` when its work is done now (nothing left — even if it waits or its core
/// is still switching —, or less than half a nanosecond of work at its rate), `None` when it makes no
/// progress (no rate, a round-robin context switch, or
/// infinite work). The one place where the node rounds finishing times.
fn nanos_to_finish(job: &ActiveJob) -> Option<u64> {
    // A job with no work left is done whatever its place: waiting, or with a core still switching.
    if job.remaining <= 0.0 {
        return Some(0);
    }
    if job.switching || !job.remaining.is_finite() {
        return None;
    }
    if job.rate > 0.0 {
        Some(SimTime::from_secs_f64(job.remaining / job.rate).0)
    } else {
        None
    }
}

impl Node {
    /// A processor-sharing node; see [`Node::with_discipline`].
    ///
    /// # Errors
    /// [`NodeError::Invalid`] for zero cores, a non-positive speed or a zero bin.
    pub fn new(cores: usize, speed: f64, classes: usize, bin: SimTime, horizon: SimTime) -> Result<Node, NodeError> {
        Node::with_discipline(Discipline::ProcessorSharing, cores, speed, classes, bin, horizon)
    }

    /// A node with `cores` cores of `speed` FLOP/s under `discipline`, `classes` accounting classes,
    /// and usage bins of length `bin` (preallocated for `horizon`).
    ///
    /// # Errors
    /// [`NodeError::Invalid`] for zero cores, a non-positive speed, a zero bin or a zero quantum.
    pub fn with_discipline(
        discipline: Discipline,
        cores: usize,
        speed: f64,
        classes: usize,
        bin: SimTime,
        horizon: SimTime,
    ) -> Result<Node, NodeError> {
        if cores == 0 {
            return Err(NodeError::Invalid("cores must be at least 1".into()));
        }
        if !(speed.is_finite() && speed > 0.0) {
            return Err(NodeError::Invalid(format!("speed must be positive and finite, got {speed}")));
        }
        if bin.0 == 0 {
            return Err(NodeError::Invalid("bin must be positive".into()));
        }
        if let Discipline::RoundRobin { quantum, .. } = discipline {
            if quantum.0 == 0 {
                return Err(NodeError::Invalid("round robin quantum must be positive".into()));
            }
        }
        let n_bins = (horizon.0 / bin.0 + 1) as usize;
        Ok(Node {
            discipline,
            cores,
            speed,
            jobs: Vec::with_capacity(64),
            order: Vec::with_capacity(64),
            ready: VecDeque::with_capacity(64),
            core_states: vec![CoreState::default(); cores],
            next_sequence: 0,
            last_update: SimTime::ZERO,
            busy_core_seconds: vec![0.0; classes],
            jobs_time_integral: vec![0.0; classes],
            bin,
            bins: vec![vec![0.0; n_bins]; classes],
            horizon,
        })
    }

    /// The discipline.
    pub fn discipline(&self) -> Discipline {
        self.discipline
    }

    /// Number of cores.
    pub fn cores(&self) -> usize {
        self.cores
    }

    /// Speed of one core, FLOP/s.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Number of jobs on the node.
    pub fn active_jobs(&self) -> usize {
        self.jobs.len()
    }

    /// Sum of the weights of the jobs on the node.
    pub fn total_weight(&self) -> f64 {
        self.jobs.iter().map(|j| j.weight).sum()
    }

    /// Current service rate of job `id` in FLOP/s.
    pub fn rate_of(&self, id: JobId) -> Option<f64> {
        self.jobs.iter().find(|j| j.id == id).map(|j| j.rate)
    }

    /// The rate (FLOP/s) a new job of weight `weight` would get if it arrived now: the full speed when
    /// fewer jobs than cores are present; otherwise the processor-sharing (water-filling) share, which
    /// for the other disciplines is the long-run average share of an equal job. Allocates nothing.
    pub fn rate_if_added(&self, weight: f64) -> f64 {
        rate_if_added_to(self.cores, self.speed, self.jobs.iter().map(|j| j.weight), weight)
    }

    /// Integrates service and usage from the last update to `now`.
    pub fn advance(&mut self, now: SimTime) {
        if now <= self.last_update {
            return;
        }
        let dt = now.saturating_sub(self.last_update).as_secs_f64();
        for job in &mut self.jobs {
            let work = job.rate * dt;
            job.remaining -= work;
            job.served += work;
            let cores_used = if job.switching { 1.0 } else { job.rate / self.speed };
            self.busy_core_seconds[job.class] += cores_used * dt;
            self.jobs_time_integral[job.class] += dt;
        }
        // Usage per bin: split [last_update, now) at bin boundaries.
        let mut start = self.last_update.0;
        while start < now.0 {
            let bin_index = (start / self.bin.0) as usize;
            let end = ((bin_index as u64 + 1) * self.bin.0).min(now.0);
            let span = (end - start) as f64 / SimTime::NANOS_PER_SEC as f64;
            for job in &self.jobs {
                if let Some(slot) = self.bins[job.class].get_mut(bin_index) {
                    let cores_used = if job.switching { 1.0 } else { job.rate / self.speed };
                    *slot += cores_used * span;
                }
            }
            start = end;
        }
        self.last_update = now;
    }

    /// Adds a job at `now` (advancing the node to `now` first). Under the same-instant contract of
    /// the module doc, call [`Node::take_completed`] first when [`Node::next_event`] is due at `now`.
    pub fn submit(&mut self, now: SimTime, job: JobSpec) {
        self.advance(now);
        if let Discipline::RoundRobin { quantum, .. } = self.discipline {
            // Timers due now see the ready queue as it was before this arrival.
            self.round_robin_timers(now, quantum);
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.jobs.push(ActiveJob {
            id: job.id,
            class: job.class,
            weight: job.weight,
            priority: job.priority,
            deadline: job.deadline.unwrap_or(SimTime::MAX),
            sequence,
            work: job.work,
            remaining: job.work,
            served: 0.0,
            rate: 0.0,
            running: false,
            switching: false,
        });
        if matches!(self.discipline, Discipline::RoundRobin { .. }) {
            self.ready.push_back(job.id);
        }
        self.dispatch(now);
    }

    /// Removes job `id` at `now`; returns what it was served, or `None` if it is not on the node.
    pub fn cancel(&mut self, now: SimTime, id: JobId) -> Option<FinishedJob> {
        self.advance(now);
        let index = self.jobs.iter().position(|j| j.id == id)?;
        let job = self.jobs.swap_remove(index);
        self.release_core(id);
        self.dispatch(now);
        Some(FinishedJob { id, served: job.served })
    }

    /// Round robin: frees the core of `id` (if any) and drops it from the ready queue.
    fn release_core(&mut self, id: JobId) {
        if matches!(self.discipline, Discipline::RoundRobin { .. }) {
            for core in &mut self.core_states {
                if core.job == Some(id) {
                    core.job = None;
                }
            }
            self.ready.retain(|&r| r != id);
        }
    }

    /// Time of the next completion or round-robin timer at the current rates, if any.
    pub fn next_event(&self) -> Option<SimTime> {
        let mut best: Option<SimTime> = None;
        let mut consider = |t: SimTime| best = Some(best.map_or(t, |b| b.min(t)));
        for job in &self.jobs {
            if let Some(nanos) = nanos_to_finish(job) {
                consider(self.last_update.saturating_add(SimTime(nanos)));
            }
        }
        if matches!(self.discipline, Discipline::RoundRobin { .. }) {
            for core in self.core_states.iter().filter(|c| c.job.is_some()) {
                if core.switch_until > self.last_update {
                    consider(core.switch_until);
                } else if !self.ready.is_empty() {
                    // The quantum matters only when someone waits; otherwise the job keeps its core.
                    consider(core.quantum_end.max(self.last_update));
                }
            }
        }
        best
    }

    /// Advances to `now`, removes every job whose work is done at `now` (less than half a nanosecond
    /// of work left at its rate — the rounding of [`Node::next_event`]), pushing them to `finished` in
    /// ascending id order, handles round-robin timers and re-dispatches. Returns how many jobs
    /// finished.
    pub fn take_completed(&mut self, now: SimTime, finished: &mut Vec<FinishedJob>) -> usize {
        self.advance(now);
        let before = finished.len();
        // Removing jobs raises the others' rates (processor sharing) and a dispatch can start a job
        // with less than half a nanosecond of work: repeat until nothing more is done at `now`.
        loop {
            let round = finished.len();
            let mut index = 0;
            while index < self.jobs.len() {
                if nanos_to_finish(&self.jobs[index]) == Some(0) {
                    let job = self.jobs.swap_remove(index);
                    // A job finishing within the last half nanosecond was served exactly its work.
                    finished.push(FinishedJob { id: job.id, served: job.work });
                } else {
                    index += 1;
                }
            }
            for done in &finished[round..] {
                self.release_core(done.id);
            }
            self.dispatch(now);
            // Every round removes at least one job, so this ends.
            if !self.jobs.iter().any(|j| nanos_to_finish(j) == Some(0)) {
                break;
            }
        }
        finished[before..].sort_unstable_by_key(|f| f.id);
        finished.len() - before
    }

    /// Decides which jobs hold cores and sets every job's rate.
    fn dispatch(&mut self, now: SimTime) {
        match self.discipline {
            Discipline::ProcessorSharing => self.share_processor(),
            Discipline::Fifo => self.fill_free_cores(|j| (0, SimTime::ZERO, j.sequence)),
            Discipline::FixedPriority { preemptive: false } => {
                self.fill_free_cores(|j| (j.priority, SimTime::ZERO, j.sequence))
            }
            Discipline::FixedPriority { preemptive: true } => {
                self.run_best(|j| (j.priority, SimTime::ZERO, j.sequence))
            }
            Discipline::Edf => self.run_best(|j| (0, j.deadline, j.sequence)),
            Discipline::RoundRobin { quantum, context_switch } => self.round_robin(now, quantum, context_switch),
        }
    }

    fn set_rates_from_running(&mut self) {
        let speed = self.speed;
        for job in &mut self.jobs {
            job.rate = if job.running && !job.switching { speed } else { 0.0 };
        }
    }

    /// Non-preemptive: running jobs keep their cores; free cores go to the best waiting jobs by `key`.
    fn fill_free_cores(&mut self, key: impl Fn(&ActiveJob) -> (u32, SimTime, u64)) {
        let running = self.jobs.iter().filter(|j| j.running).count();
        let free = self.cores.saturating_sub(running);
        if free > 0 {
            self.order.clear();
            self.order.extend((0..self.jobs.len()).filter(|&i| !self.jobs[i].running));
            let jobs = &self.jobs;
            if self.order.len() > free {
                self.order.select_nth_unstable_by(free, |&a, &b| key(&jobs[a]).cmp(&key(&jobs[b])));
                self.order.truncate(free);
            }
            for &i in &self.order {
                self.jobs[i].running = true;
            }
        }
        self.set_rates_from_running();
    }

    /// Preemptive: the best `cores` jobs by `key` hold the cores (free cores are used first because a
    /// job that fits runs without displacing anyone).
    fn run_best(&mut self, key: impl Fn(&ActiveJob) -> (u32, SimTime, u64)) {
        let n = self.jobs.len();
        if n <= self.cores {
            self.jobs.iter_mut().for_each(|j| j.running = true);
        } else {
            self.order.clear();
            self.order.extend(0..n);
            let jobs = &self.jobs;
            self.order.select_nth_unstable_by(self.cores, |&a, &b| key(&jobs[a]).cmp(&key(&jobs[b])));
            self.jobs.iter_mut().for_each(|j| j.running = false);
            for k in 0..self.cores {
                let i = self.order[k];
                self.jobs[i].running = true;
            }
        }
        self.set_rates_from_running();
    }

    fn round_robin(&mut self, now: SimTime, quantum: SimTime, context_switch: SimTime) {
        self.round_robin_timers(now, quantum);
        self.round_robin_fill(now, quantum, context_switch);
        self.set_rates_from_running();
    }

    /// Round robin: switches that ended, and quanta that expired while someone waits (the job goes to
    /// the back of the ready queue). Idempotent at one instant.
    fn round_robin_timers(&mut self, now: SimTime, quantum: SimTime) {
        for c in 0..self.core_states.len() {
            let core = self.core_states[c];
            let Some(id) = core.job else { continue };
            if core.switch_until <= now {
                if let Some(job) = self.jobs.iter_mut().find(|j| j.id == id) {
                    job.switching = false;
                }
            }
            if core.switch_until <= now && core.quantum_end <= now {
                // While nobody waited, the quantum was renewed at every multiple of `quantum`; the job
                // is preempted only at such a boundary with someone waiting.
                let elapsed = now.0 - core.quantum_end.0;
                let at_boundary = elapsed.is_multiple_of(quantum.0);
                if self.ready.is_empty() || !at_boundary {
                    let renewals = elapsed / quantum.0 + 1;
                    self.core_states[c].quantum_end = SimTime(core.quantum_end.0 + renewals * quantum.0);
                } else {
                    self.ready.push_back(id);
                    self.core_states[c].job = None;
                    if let Some(job) = self.jobs.iter_mut().find(|j| j.id == id) {
                        job.running = false;
                    }
                }
            }
        }
    }

    /// Round robin: idle cores take the head of the ready queue.
    fn round_robin_fill(&mut self, now: SimTime, quantum: SimTime, context_switch: SimTime) {
        for c in 0..self.core_states.len() {
            if self.core_states[c].job.is_some() {
                continue;
            }
            let Some(id) = self.ready.pop_front() else { break };
            let switch = self.core_states[c].last_job != Some(id) && context_switch.0 > 0;
            let start = if switch { now.saturating_add(context_switch) } else { now };
            self.core_states[c] = CoreState {
                job: Some(id),
                last_job: Some(id),
                switch_until: start,
                quantum_end: start.saturating_add(quantum),
            };
            if let Some(job) = self.jobs.iter_mut().find(|j| j.id == id) {
                job.running = true;
                job.switching = switch;
            }
        }
    }

    fn share_processor(&mut self) {
        let n = self.jobs.len();
        if n <= self.cores {
            self.jobs.iter_mut().for_each(|j| j.rate = self.speed);
            return;
        }
        // Equal weights (the common case): everyone gets cores / n of a core; no sort needed.
        let first_weight = self.jobs[0].weight;
        if self.jobs.iter().all(|j| j.weight == first_weight) {
            let rate = self.speed * self.cores as f64 / n as f64;
            self.jobs.iter_mut().for_each(|j| j.rate = rate);
            return;
        }
        self.order.clear();
        self.order.extend(0..n);
        let jobs = &self.jobs;
        // Heaviest first; ties by id so the result never depends on the vector's order.
        self.order
            .sort_unstable_by(|&a, &b| jobs[b].weight.total_cmp(&jobs[a].weight).then(jobs[a].id.cmp(&jobs[b].id)));
        let mut capacity = self.cores as f64;
        let mut remaining_weight: f64 = self.jobs.iter().map(|j| j.weight).sum();
        let mut position = 0;
        while position < n {
            let job = &mut self.jobs[self.order[position]];
            if capacity * job.weight >= remaining_weight {
                job.rate = self.speed;
                capacity -= 1.0;
                remaining_weight -= job.weight;
                position += 1;
            } else {
                break;
            }
        }
        for &index in &self.order[position..] {
            let job = &mut self.jobs[index];
            job.rate = self.speed * capacity * job.weight / remaining_weight;
        }
    }

    /// Busy core-seconds of accounting class `class` since time zero (up to the last advance).
    pub fn busy_core_seconds(&self, class: usize) -> f64 {
        self.busy_core_seconds[class]
    }

    /// ∫ (jobs of class `class` present) dt since time zero, job-seconds: divided by the elapsed time
    /// it is the time-average number in system (Little's law's L).
    pub fn jobs_time_integral(&self, class: usize) -> f64 {
        self.jobs_time_integral[class]
    }

    /// Length of a usage bin.
    pub fn bin(&self) -> SimTime {
        self.bin
    }

    /// Number of accounting classes.
    pub fn classes(&self) -> usize {
        self.busy_core_seconds.len()
    }

    /// Mean busy cores of class `class` in each bin up to the horizon (busy core-seconds divided by
    /// the bin's length; the last bin may be shorter than the others).
    pub fn usage_bins(&self, class: usize) -> Vec<f64> {
        let n = (self.horizon.0.div_ceil(self.bin.0) as usize).clamp(1, self.bins[class].len());
        (0..n)
            .map(|i| {
                let start = self.bin.0 * i as u64;
                let end = (start + self.bin.0).min(self.horizon.0.max(start + 1));
                self.bins[class][i] / ((end - start) as f64 / SimTime::NANOS_PER_SEC as f64)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> SimTime {
        SimTime::from_secs_f64(s)
    }

    fn spec(id: u64, work: f64, weight: f64) -> JobSpec {
        JobSpec { id: JobId(id), class: 0, work, weight, priority: 0, deadline: None }
    }

    /// A test job: release (s), work, weight, priority, relative deadline (s).
    #[derive(Clone, Copy)]
    struct TestJob(f64, f64, f64, u32, Option<f64>);

    /// Runs jobs `(release_s, work, weight)` under processor sharing; finishing times in seconds by index.
    fn run(cores: usize, speed: f64, jobs: &[(f64, f64, f64)]) -> Vec<f64> {
        let jobs: Vec<TestJob> = jobs.iter().map(|&(r, w, wt)| TestJob(r, w, wt, 0, None)).collect();
        run_with(Discipline::ProcessorSharing, cores, speed, &jobs)
    }

    /// Runs jobs to completion under `discipline`; finishing times in seconds by index.
    fn run_with(discipline: Discipline, cores: usize, speed: f64, jobs: &[TestJob]) -> Vec<f64> {
        let mut node = Node::with_discipline(discipline, cores, speed, 1, secs(1.0), secs(10.0)).unwrap();
        let mut ends = vec![f64::NAN; jobs.len()];
        let mut arrivals: Vec<(SimTime, usize)> = jobs.iter().enumerate().map(|(i, j)| (secs(j.0), i)).collect();
        arrivals.sort();
        let mut next_arrival = 0;
        let mut finished = Vec::new();
        loop {
            let completion = node.next_event();
            let arrival = arrivals.get(next_arrival).map(|a| a.0);
            match (completion, arrival) {
                (None, None) => break,
                // The same-instant contract: completions at t before arrivals at t.
                (Some(c), a) if a.is_none_or(|a| c <= a) => {
                    finished.clear();
                    node.take_completed(c, &mut finished);
                    for f in &finished {
                        ends[f.id.0 as usize] = c.as_secs_f64();
                    }
                }
                (_, Some(a)) => {
                    let i = arrivals[next_arrival].1;
                    let TestJob(release, work, weight, priority, deadline) = jobs[i];
                    let deadline = deadline.map(|d| secs(release + d));
                    node.submit(a, JobSpec { id: JobId(i as u64), class: 0, work, weight, priority, deadline });
                    next_arrival += 1;
                }
                _ => unreachable!(),
            }
        }
        ends
    }

    /// Issue 10, defect 2: on one core of 1 GFLOP/s, L (2 GFLOP, deadline 2 s) and H (1 FLOP, released
    /// at 2 s). L's work is done at exactly 2 s: it ends then, not a nanosecond later, and H cannot
    /// preempt it.
    #[test]
    fn job_done_at_an_arrival_instant_ends_then_under_edf_and_fixed_priority() {
        let edf = [TestJob(0.0, 2e9, 1.0, 0, Some(2.0)), TestJob(2.0, 1.0, 1.0, 0, Some(1.0))];
        assert_eq!(run_with(Discipline::Edf, 1, 1e9, &edf), vec![2.0, 2.000000001]);
        let fp = [TestJob(0.0, 2e9, 1.0, 1, None), TestJob(2.0, 1e9, 1.0, 0, None)];
        assert_eq!(run_with(Discipline::FixedPriority { preemptive: true }, 1, 1e9, &fp), vec![2.0, 3.0]);
        assert_eq!(run_with(Discipline::ProcessorSharing, 1, 1e9, &fp), vec![2.0, 3.0]);
    }

    /// Periodic tasks with harmonic periods (10, 20, 40 ms) at utilisation exactly 1 (0.5 + 0.25 +
    /// 0.25): schedulable under EDF and under rate-monotonic priorities (Liu & Layland; harmonic sets
    /// are RM-schedulable up to U = 1), so no job may end after its deadline — the last ends exactly
    /// at it.
    #[test]
    fn harmonic_tasks_at_utilisation_one_meet_every_deadline_under_edf_and_rate_monotonic() {
        let tasks = [(0.010f64, 5e6, 0u32), (0.020, 5e6, 1), (0.040, 1e7, 2)];
        let mut jobs = Vec::new();
        for &(period, work, priority) in &tasks {
            for k in 0..(0.4 / period).round() as usize {
                jobs.push(TestJob(k as f64 * period, work, 1.0, priority, Some(period)));
            }
        }
        for discipline in [Discipline::Edf, Discipline::FixedPriority { preemptive: true }] {
            let ends = run_with(discipline, 1, 1e9, &jobs);
            for (job, end) in jobs.iter().zip(&ends) {
                let deadline = secs(job.0 + job.4.unwrap());
                assert!(secs(*end) <= deadline, "{discipline:?}: job released at {} ends at {end}", job.0);
            }
            // Under rate-monotonic the 40 ms task's first job runs 15–20 ms and 35–40 ms: it ends
            // exactly at its deadline.
            if discipline != Discipline::Edf {
                let first_long = jobs.iter().position(|j| j.3 == 2).unwrap();
                assert_eq!(ends[first_long], 0.04);
            }
        }
    }

    #[test]
    fn fifo_runs_in_release_order_without_preemption() {
        let jobs =
            [TestJob(0.0, 10.0, 1.0, 0, None), TestJob(5.0, 10.0, 1.0, 0, None), TestJob(6.0, 1.0, 1.0, 0, None)];
        assert_eq!(run_with(Discipline::Fifo, 1, 1.0, &jobs), vec![10.0, 20.0, 21.0]);
        assert_eq!(run_with(Discipline::Fifo, 2, 1.0, &jobs), vec![10.0, 15.0, 11.0]);
    }

    #[test]
    fn preemptive_priority_uses_free_cores_before_preempting() {
        // The worked case: 2 cores, a low-priority job of 10 at t=0, two high-priority jobs of 3 at t=1.
        // One takes the idle core, the other preempts the low one: they end at 4 and 4, the low at 13.
        let jobs = [TestJob(0.0, 10.0, 1.0, 1, None), TestJob(1.0, 3.0, 1.0, 0, None), TestJob(1.0, 3.0, 1.0, 0, None)];
        assert_eq!(run_with(Discipline::FixedPriority { preemptive: true }, 2, 1.0, &jobs), vec![13.0, 4.0, 4.0]);
    }

    #[test]
    fn non_preemptive_priority_waits_for_the_running_job() {
        // 1 core: low (10) at 0, then low (1) at 0.5 and high (3) at 1: the high job is next, not first.
        let jobs = [TestJob(0.0, 10.0, 1.0, 1, None), TestJob(0.5, 1.0, 1.0, 1, None), TestJob(1.0, 3.0, 1.0, 0, None)];
        assert_eq!(run_with(Discipline::FixedPriority { preemptive: false }, 1, 1.0, &jobs), vec![10.0, 14.0, 13.0]);
        // Preemptive: C runs 1–4, then A (released first) finishes its 9 units at 13, then B at 14.
        assert_eq!(run_with(Discipline::FixedPriority { preemptive: true }, 1, 1.0, &jobs), vec![13.0, 14.0, 4.0]);
    }

    #[test]
    fn edf_runs_the_earliest_deadline_and_deadline_free_jobs_last() {
        // A: work 4, deadline 10; B at 1: work 2, deadline 1+4=5 preempts A; C at 1: no deadline, runs last.
        let jobs = [
            TestJob(0.0, 4.0, 1.0, 0, Some(10.0)),
            TestJob(1.0, 2.0, 1.0, 0, Some(4.0)),
            TestJob(1.0, 1.0, 1.0, 0, None),
        ];
        assert_eq!(run_with(Discipline::Edf, 1, 1.0, &jobs), vec![6.0, 3.0, 7.0]);
    }

    #[test]
    fn round_robin_alternates_and_pays_context_switches() {
        let jobs = [TestJob(0.0, 2.0, 1.0, 0, None), TestJob(0.0, 2.0, 1.0, 0, None)];
        let rr = |cs: f64| Discipline::RoundRobin { quantum: secs(1.0), context_switch: secs(cs) };
        // Without switch cost: A 0–1, B 1–2, A 2–3, B 3–4.
        assert_eq!(run_with(rr(0.0), 1, 1.0, &jobs), vec![3.0, 4.0]);
        // With 0.5 s per switch: A 0.5–1.5, B 2–3, A 3.5–4.5, B 5–6.
        assert_eq!(run_with(rr(0.5), 1, 1.0, &jobs), vec![4.5, 6.0]);
        // Two cores: each job has its own core (one switch each), no quantum expiry matters.
        assert_eq!(run_with(rr(0.5), 2, 1.0, &jobs), vec![2.5, 2.5]);
        // A lone job keeps its core across quanta without switching; a late arrival waits for the
        // quantum boundary (A's quanta end at 1, 2, 3, …): B arrives at 2.5, runs 3–4, A ends at 5.5.
        let jobs = [TestJob(0.0, 4.5, 1.0, 0, None), TestJob(2.5, 1.0, 1.0, 0, None)];
        assert_eq!(run_with(rr(0.0), 1, 1.0, &jobs), vec![5.5, 4.0]);
    }

    #[test]
    fn four_equal_jobs_on_one_core_end_together_at_40() {
        assert_eq!(run(1, 1.0, &[(0.0, 10.0, 1.0); 4]), vec![40.0; 4]);
    }

    #[test]
    fn four_equal_jobs_on_two_cores_end_together_at_20() {
        assert_eq!(run(2, 1.0, &[(0.0, 10.0, 1.0); 4]), vec![20.0; 4]);
    }

    #[test]
    fn staggered_jobs_share_then_finish_at_15_and_20() {
        assert_eq!(run(1, 1.0, &[(0.0, 10.0, 1.0), (5.0, 10.0, 1.0)]), vec![15.0, 20.0]);
    }

    #[test]
    fn a_job_never_gets_more_than_one_core() {
        // Weights 10 and 1 on 2 cores: each job gets a whole core (water-filling caps the heavy one).
        assert_eq!(run(2, 1.0, &[(0.0, 10.0, 10.0), (0.0, 10.0, 1.0)]), vec![10.0, 10.0]);
        // Weights 2, 1, 1 on 2 cores: the heavy job gets one core, the others half a core each:
        // the heavy ends at 4; then the two light ones (2 units left each) get a core each: end at 6.
        assert_eq!(run(2, 1.0, &[(0.0, 4.0, 2.0), (0.0, 4.0, 1.0), (0.0, 4.0, 1.0)]), vec![4.0, 6.0, 6.0]);
    }

    #[test]
    fn weights_share_in_proportion_on_one_core() {
        // Weight 3 vs 1, 6 units each, 1 core: rates 3/4 and 1/4: the heavy ends at 8 having let the
        // light one do 2 units; the light one's last 4 units take 4 more seconds.
        assert_eq!(run(1, 1.0, &[(0.0, 6.0, 3.0), (0.0, 6.0, 1.0)]), vec![8.0, 12.0]);
    }

    #[test]
    fn tiny_and_huge_jobs_end_at_exact_nanoseconds() {
        let ends = run(1, 1.0, &[(0.0, 1e6, 1.0), (0.0, 1e-7, 1.0)]);
        assert_eq!(SimTime::from_secs_f64(ends[1]), SimTime(200));
        assert_eq!(SimTime::from_secs_f64(ends[0]), SimTime(1_000_000 * SimTime::NANOS_PER_SEC + 100));
    }

    #[test]
    fn rate_if_added_matches_water_filling() {
        let mut node = Node::new(2, 10.0, 1, secs(1.0), secs(1.0)).unwrap();
        assert_eq!(node.rate_if_added(1.0), 10.0);
        node.submit(SimTime::ZERO, spec(1, 100.0, 1.0));
        node.submit(SimTime::ZERO, spec(2, 100.0, 1.0));
        // Three equal jobs on two cores: 2/3 of a core each.
        assert!((node.rate_if_added(1.0) - 20.0 / 3.0).abs() < 1e-12);
        // A weight-4 job next to two weight-1 jobs on 2 cores: θ·4 ≥ 1, so it gets a whole core.
        assert_eq!(node.rate_if_added(4.0), 10.0);
    }

    #[test]
    fn cancel_returns_served_work_and_usage_is_binned() {
        let mut node = Node::new(1, 2.0, 2, secs(1.0), secs(10.0)).unwrap();
        node.submit(SimTime::ZERO, JobSpec { class: 1, ..spec(7, f64::INFINITY, 1.0) });
        assert_eq!(node.next_event(), None);
        let done = node.cancel(secs(2.5), JobId(7)).unwrap();
        assert_eq!(done.served, 5.0);
        assert_eq!(node.busy_core_seconds(1), 2.5);
        assert_eq!(&node.usage_bins(1)[..4], &[1.0, 1.0, 0.5, 0.0]);
        assert_eq!(node.usage_bins(0)[0], 0.0);
        // Horizon 10 s with 4-s bins: the last bin is 2 s long and divided by 2 s.
        let mut node = Node::new(1, 1.0, 1, secs(4.0), secs(10.0)).unwrap();
        node.submit(SimTime::ZERO, spec(1, f64::INFINITY, 1.0));
        node.advance(secs(10.0));
        assert_eq!(node.usage_bins(0), vec![1.0, 1.0, 1.0]);
    }
}
