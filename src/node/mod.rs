//! The edge node: `cores` identical cores of `speed` FLOP/s under weighted processor sharing.
//!
//! Weighted processor sharing with at most one core per job (water-filling): with `n` jobs of weights
//! `w_i` on `c` cores, job `i` is served at rate `speed · min(1, θ w_i)`, where `θ` is the largest value
//! with `Σ_i min(1, θ w_i) ≤ c`. With `n ≤ c` every job has a core; with equal weights and `n > c` each
//! gets `c/n` of a core. Rates change only when a job arrives, finishes or is cancelled.
//!
//! Work is in FLOPs (`f64`), time in integer nanoseconds. A job finishes at the nanosecond nearest to
//! the exact finishing time: when the node is advanced to a time, every job with at most one
//! nanosecond of work left at its rate is complete. So the finishing times of the textbook cases are
//! exact (4 jobs of 10 units on 1 core of speed 1 end at 40 s).
//!
//! Accounting: every job carries a `class` (an index chosen by the caller, e.g. background vs. RNN);
//! the node integrates busy core-time per class, overall and in fixed time bins.

use crate::sim::SimTime;

/// Identifier of a job, chosen by the caller (unique among active jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u64);

#[derive(Debug, Clone)]
struct ActiveJob {
    id: JobId,
    class: usize,
    weight: f64,
    remaining: f64,
    served: f64,
    rate: f64,
}

/// Errors of node construction.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// `cores` is zero, `speed` is not positive and finite, or `bin` is zero.
    #[error("invalid node: {0}")]
    Invalid(String),
}

/// A node under weighted processor sharing; see the module doc.
#[derive(Debug, Clone)]
pub struct Node {
    cores: usize,
    speed: f64,
    jobs: Vec<ActiveJob>,
    order: Vec<usize>,
    last_update: SimTime,
    busy_core_seconds: Vec<f64>,
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

impl Node {
    /// A node with `cores` cores of `speed` FLOP/s, `classes` accounting classes, and usage bins of
    /// length `bin` (preallocated for `horizon`).
    ///
    /// # Errors
    /// [`NodeError::Invalid`] for zero cores, a non-positive speed or a zero bin.
    pub fn new(cores: usize, speed: f64, classes: usize, bin: SimTime, horizon: SimTime) -> Result<Node, NodeError> {
        if cores == 0 {
            return Err(NodeError::Invalid("cores must be at least 1".into()));
        }
        if !(speed.is_finite() && speed > 0.0) {
            return Err(NodeError::Invalid(format!("speed must be positive and finite, got {speed}")));
        }
        if bin.0 == 0 {
            return Err(NodeError::Invalid("bin must be positive".into()));
        }
        let n_bins = (horizon.0 / bin.0 + 1) as usize;
        Ok(Node {
            cores,
            speed,
            jobs: Vec::with_capacity(64),
            order: Vec::with_capacity(64),
            last_update: SimTime::ZERO,
            busy_core_seconds: vec![0.0; classes],
            bin,
            bins: vec![vec![0.0; n_bins]; classes],
            horizon,
        })
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

    /// The rate (FLOP/s) a new job of weight `weight` would get if it arrived now, by the same
    /// water-filling rule. Allocates nothing.
    pub fn rate_if_added(&self, weight: f64) -> f64 {
        if self.jobs.len() < self.cores {
            return self.speed;
        }
        // Water-filling with the hypothetical job: θ grows as jobs saturate (θ w ≥ 1); the saturated
        // set only grows, so the fixed point is reached in at most n + 1 rounds.
        let mut theta = self.cores as f64 / (self.total_weight() + weight);
        for _ in 0..=self.jobs.len() + 1 {
            let mut saturated_cores = 0.0;
            let mut free_weight = 0.0;
            for w in self.jobs.iter().map(|j| j.weight).chain(std::iter::once(weight)) {
                if theta * w >= 1.0 {
                    saturated_cores += 1.0;
                } else {
                    free_weight += w;
                }
            }
            let next = if free_weight > 0.0 { (self.cores as f64 - saturated_cores) / free_weight } else { theta };
            if next == theta {
                break;
            }
            theta = next;
        }
        self.speed * (theta * weight).min(1.0)
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
            let cores_used = job.rate / self.speed;
            self.busy_core_seconds[job.class] += cores_used * dt;
        }
        // Usage per bin: split [last_update, now) at bin boundaries.
        let mut start = self.last_update.0;
        while start < now.0 {
            let bin_index = (start / self.bin.0) as usize;
            let end = ((bin_index as u64 + 1) * self.bin.0).min(now.0);
            let span = (end - start) as f64 / SimTime::NANOS_PER_SEC as f64;
            for job in &self.jobs {
                if let Some(slot) = self.bins[job.class].get_mut(bin_index) {
                    *slot += job.rate / self.speed * span;
                }
            }
            start = end;
        }
        self.last_update = now;
    }

    /// Adds a job of `work` FLOPs (may be `f64::INFINITY` for a job that only ends when cancelled)
    /// at `now`. The caller must have advanced the node to `now`.
    pub fn submit(&mut self, now: SimTime, id: JobId, class: usize, work: f64, weight: f64) {
        debug_assert_eq!(now, self.last_update.max(now));
        self.advance(now);
        self.jobs.push(ActiveJob { id, class, weight, remaining: work, served: 0.0, rate: 0.0 });
        self.recompute_rates();
    }

    /// Removes job `id` at `now`; returns what it was served, or `None` if it is not on the node.
    pub fn cancel(&mut self, now: SimTime, id: JobId) -> Option<FinishedJob> {
        self.advance(now);
        let index = self.jobs.iter().position(|j| j.id == id)?;
        let job = self.jobs.swap_remove(index);
        self.recompute_rates();
        Some(FinishedJob { id, served: job.served })
    }

    /// Time at which the next job finishes at the current rates, if any.
    pub fn next_completion(&self) -> Option<SimTime> {
        let mut best: Option<f64> = None;
        for job in &self.jobs {
            if job.rate > 0.0 && job.remaining.is_finite() {
                let t = job.remaining.max(0.0) / job.rate;
                best = Some(best.map_or(t, |b: f64| b.min(t)));
            }
        }
        best.map(|seconds| {
            let nanos = (seconds * SimTime::NANOS_PER_SEC as f64).round().max(1.0);
            self.last_update.saturating_add(SimTime(nanos as u64))
        })
    }

    /// Advances to `now` and removes every job with at most one nanosecond of work left, pushing them
    /// to `finished` in ascending id order. Returns how many finished.
    pub fn take_completed(&mut self, now: SimTime, finished: &mut Vec<FinishedJob>) -> usize {
        self.advance(now);
        let before = finished.len();
        let mut index = 0;
        while index < self.jobs.len() {
            let job = &self.jobs[index];
            if job.remaining <= job.rate * 1e-9 {
                let job = self.jobs.swap_remove(index);
                finished.push(FinishedJob { id: job.id, served: job.served + job.remaining.max(0.0) });
            } else {
                index += 1;
            }
        }
        finished[before..].sort_unstable_by_key(|f| f.id);
        let count = finished.len() - before;
        if count > 0 {
            self.recompute_rates();
        }
        count
    }

    fn recompute_rates(&mut self) {
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

    /// Runs jobs `(release_s, work, weight)` to completion; returns finishing times in seconds by id.
    fn run(cores: usize, speed: f64, jobs: &[(f64, f64, f64)]) -> Vec<f64> {
        let mut node = Node::new(cores, speed, 1, secs(1.0), secs(10.0)).unwrap();
        let mut ends = vec![f64::NAN; jobs.len()];
        let mut arrivals: Vec<(SimTime, usize)> = jobs.iter().enumerate().map(|(i, j)| (secs(j.0), i)).collect();
        arrivals.sort();
        let mut next_arrival = 0;
        let mut finished = Vec::new();
        loop {
            let completion = node.next_completion();
            let arrival = arrivals.get(next_arrival).map(|a| a.0);
            match (completion, arrival) {
                (None, None) => break,
                (Some(c), a) if a.is_none_or(|a| c < a) => {
                    finished.clear();
                    node.take_completed(c, &mut finished);
                    for f in &finished {
                        ends[f.id.0 as usize] = c.as_secs_f64();
                    }
                }
                (_, Some(a)) => {
                    let i = arrivals[next_arrival].1;
                    node.submit(a, JobId(i as u64), 0, jobs[i].1, jobs[i].2);
                    next_arrival += 1;
                }
                _ => unreachable!(),
            }
        }
        ends
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
        node.submit(SimTime::ZERO, JobId(1), 0, 100.0, 1.0);
        node.submit(SimTime::ZERO, JobId(2), 0, 100.0, 1.0);
        // Three equal jobs on two cores: 2/3 of a core each.
        assert!((node.rate_if_added(1.0) - 20.0 / 3.0).abs() < 1e-12);
        // A weight-4 job next to two weight-1 jobs on 2 cores: θ·4 ≥ 1, so it gets a whole core.
        assert_eq!(node.rate_if_added(4.0), 10.0);
    }

    #[test]
    fn cancel_returns_served_work_and_usage_is_binned() {
        let mut node = Node::new(1, 2.0, 2, secs(1.0), secs(10.0)).unwrap();
        node.submit(SimTime::ZERO, JobId(7), 1, f64::INFINITY, 1.0);
        assert_eq!(node.next_completion(), None);
        let done = node.cancel(secs(2.5), JobId(7)).unwrap();
        assert_eq!(done.served, 5.0);
        assert_eq!(node.busy_core_seconds(1), 2.5);
        assert_eq!(&node.usage_bins(1)[..4], &[1.0, 1.0, 0.5, 0.0]);
        assert_eq!(node.usage_bins(0)[0], 0.0);
        // Horizon 10 s with 4-s bins: the last bin is 2 s long and divided by 2 s.
        let mut node = Node::new(1, 1.0, 1, secs(4.0), secs(10.0)).unwrap();
        node.submit(SimTime::ZERO, JobId(1), 0, f64::INFINITY, 1.0);
        node.advance(secs(10.0));
        assert_eq!(node.usage_bins(0), vec![1.0, 1.0, 1.0]);
    }
}
