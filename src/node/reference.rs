//! The node as it was before issue 14 (every event walks every job): kept, for tests only, as the
//! reference the O(log n) [`super::Node`] is compared with on random job sequences
//! (`super::reference_tests`). Its code is unchanged but for these lines, the imports and the
//! parameter checks (shared with the new node: they are not what the comparison tests).

#![allow(dead_code)]

use std::collections::VecDeque;

use super::{check_parameters, rate_if_added_to, Discipline, FinishedJob, JobId, JobSpec, NodeError};
use crate::sim::SimTime;

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
        check_parameters(discipline, cores, speed, bin)?;
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
