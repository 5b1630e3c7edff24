//! Property tests of the node (the dslab practice): a naive reference model of every discipline,
//! which recomputes every rate from scratch at each event in `f64` time, is run in lockstep with the
//! fast [`Node`] on random small job sets. At every event the two must agree: the same jobs complete
//! (each within 1 ns of the reference's exact finishing time), every job has the same rate, no core
//! is over 100 %, time never decreases, and at the end the busy core-time equals Σ work / speed.
//!
//! `cargo test --release --test it node_props` runs 1 000 cases per discipline; the long version
//! (`cargo test --release --test it node_props -- --ignored`) runs 20 000.

use std::collections::VecDeque;

use flexrnn::node::{Discipline, FinishedJob, JobId, JobSpec, Node};
use flexrnn::sim::SimTime;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// One job of a generated case; times in integer nanoseconds.
#[derive(Debug, Clone)]
struct CaseJob {
    release: u64,
    work: f64,
    weight: f64,
    priority: u32,
    deadline: Option<u64>,
    /// Cancelled at this time if still on the node.
    cancel: Option<u64>,
}

#[derive(Debug, Clone)]
struct Case {
    discipline: Discipline,
    cores: usize,
    /// FLOP/s.
    speed: f64,
    jobs: Vec<CaseJob>,
}

/// Small job sets with many exact coincidences: releases on a coarse grid, works that are often whole
/// multiples of the per-nanosecond speed (so finishing times fall exactly on releases and deadlines),
/// sometimes arbitrary reals.
fn case(discipline: Discipline) -> impl Strategy<Value = Case> {
    let job = (
        prop_oneof![(0u64..20).prop_map(|k| k * 100), 0u64..2_000],
        prop_oneof![(0u64..20).prop_map(|k| k as f64 * 100.0), 0.5f64..2_000.0, Just(1.0)],
        prop_oneof![Just(1.0), Just(0.5), Just(2.0), 0.25f64..4.0],
        0u32..3,
        prop::option::of(prop_oneof![(1u64..30).prop_map(|k| k * 100), 1u64..3_000]),
        prop::option::weighted(0.15, 0u64..2_500),
    )
        .prop_map(|(release, work, weight, priority, deadline, cancel)| CaseJob {
            release,
            work,
            weight,
            priority,
            deadline,
            cancel: cancel.map(|c| release + c),
        });
    (1usize..=3, prop_oneof![Just(1e9), Just(2e9), Just(0.5e9), 0.3e9f64..3e9], prop::collection::vec(job, 1..=8))
        .prop_map(move |(cores, speed, jobs)| Case { discipline, cores, speed, jobs })
}

/// The reference: jobs in a plain list, time in `f64` nanoseconds, rates recomputed from scratch.
struct Reference {
    discipline: Discipline,
    cores: usize,
    /// FLOP per nanosecond.
    speed: f64,
    now: f64,
    jobs: Vec<RefJob>,
    /// Round robin: the ready queue and the cores.
    ready: VecDeque<u64>,
    rr: Vec<RrCore>,
    busy_core_ns: f64,
}

#[derive(Debug, Clone)]
struct RefJob {
    id: u64,
    sequence: usize,
    remaining: f64,
    weight: f64,
    priority: u32,
    deadline: f64,
    /// Holds a core (non-preemptive disciplines keep it; round robin sets it).
    running: bool,
    rate: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct RrCore {
    job: Option<u64>,
    last: Option<u64>,
    switch_end: f64,
    quantum_end: f64,
}

impl Reference {
    fn new(case: &Case) -> Reference {
        Reference {
            discipline: case.discipline,
            cores: case.cores,
            speed: case.speed / 1e9,
            now: 0.0,
            jobs: Vec::new(),
            ready: VecDeque::new(),
            rr: vec![RrCore::default(); case.cores],
            busy_core_ns: 0.0,
        }
    }

    fn switching(&self, id: u64) -> bool {
        self.rr.iter().any(|c| c.job == Some(id) && c.switch_end > self.now)
    }

    /// Serves every job at its rate from `now` to `t`.
    fn advance(&mut self, t: f64) {
        let dt = t - self.now;
        assert!(dt >= 0.0, "time went backwards: {} -> {t}", self.now);
        for job in &mut self.jobs {
            job.remaining -= job.rate * dt;
            self.busy_core_ns += job.rate / self.speed * dt;
        }
        // A core switching to a job is busy without progress.
        self.busy_core_ns += self.rr.iter().filter(|c| c.job.is_some() && c.switch_end > self.now).count() as f64 * dt;
        self.now = t;
    }

    /// Recomputes every rate from the job list (and, for round robin, the cores).
    fn recompute(&mut self) {
        let n = self.jobs.len();
        let speed = self.speed;
        match self.discipline {
            Discipline::ProcessorSharing => {
                // Water-filling by fixed-point iteration: saturate every job whose fair share reaches a core.
                let mut saturated = vec![false; n];
                loop {
                    let free_cores = self.cores as f64 - saturated.iter().filter(|&&s| s).count() as f64;
                    let free_weight: f64 =
                        self.jobs.iter().zip(&saturated).filter(|(_, &s)| !s).map(|(j, _)| j.weight).sum();
                    let theta = free_cores / free_weight;
                    let mut changed = false;
                    for (job, s) in self.jobs.iter().zip(saturated.iter_mut()) {
                        if !*s && theta * job.weight >= 1.0 {
                            *s = true;
                            changed = true;
                        }
                    }
                    if !changed || saturated.iter().all(|&s| s) {
                        for (job, &s) in self.jobs.iter_mut().zip(&saturated) {
                            job.rate = if s { speed } else { speed * theta * job.weight };
                        }
                        break;
                    }
                }
            }
            Discipline::Fifo | Discipline::FixedPriority { preemptive: false } => {
                let prio = matches!(self.discipline, Discipline::FixedPriority { .. });
                let mut waiting: Vec<usize> = (0..n).filter(|&i| !self.jobs[i].running).collect();
                waiting.sort_by_key(|&i| (if prio { self.jobs[i].priority } else { 0 }, self.jobs[i].sequence));
                let free = self.cores - self.jobs.iter().filter(|j| j.running).count();
                for &i in waiting.iter().take(free) {
                    self.jobs[i].running = true;
                }
                for job in &mut self.jobs {
                    job.rate = if job.running { speed } else { 0.0 };
                }
            }
            Discipline::FixedPriority { preemptive: true } | Discipline::Edf => {
                let edf = matches!(self.discipline, Discipline::Edf);
                let mut all: Vec<usize> = (0..n).collect();
                all.sort_by(|&a, &b| {
                    let (x, y) = (&self.jobs[a], &self.jobs[b]);
                    let primary = if edf { x.deadline.total_cmp(&y.deadline) } else { x.priority.cmp(&y.priority) };
                    primary.then(x.sequence.cmp(&y.sequence))
                });
                for job in &mut self.jobs {
                    job.rate = 0.0;
                }
                for &i in all.iter().take(self.cores) {
                    self.jobs[i].rate = speed;
                }
            }
            Discipline::RoundRobin { .. } => {
                for j in 0..n {
                    let id = self.jobs[j].id;
                    let on_core = self.rr.iter().any(|c| c.job == Some(id));
                    self.jobs[j].rate = if on_core && !self.switching(id) { speed } else { 0.0 };
                }
            }
        }
    }

    /// Round robin at `now`: switches that ended, quanta that ended (the job goes to the back if
    /// someone waits, else its quantum is renewed), then idle cores take the head of the queue.
    fn round_robin(&mut self) {
        let Discipline::RoundRobin { quantum, context_switch } = self.discipline else { return };
        let (q, cs) = (quantum.0 as f64, context_switch.0 as f64);
        for c in 0..self.rr.len() {
            let Some(id) = self.rr[c].job else { continue };
            if self.rr[c].switch_end > self.now {
                continue;
            }
            // Boundaries before now passed with nobody waiting (else they would have been events).
            while self.rr[c].quantum_end < self.now {
                self.rr[c].quantum_end += q;
            }
            if self.rr[c].quantum_end == self.now {
                if self.ready.is_empty() {
                    self.rr[c].quantum_end += q;
                } else {
                    self.ready.push_back(id);
                    self.rr[c].job = None;
                }
            }
        }
        for c in 0..self.rr.len() {
            if self.rr[c].job.is_some() {
                continue;
            }
            let Some(id) = self.ready.pop_front() else { break };
            let start = if self.rr[c].last != Some(id) && cs > 0.0 { self.now + cs } else { self.now };
            self.rr[c] = RrCore { job: Some(id), last: Some(id), switch_end: start, quantum_end: start + q };
        }
    }

    fn remove(&mut self, id: u64) {
        self.jobs.retain(|j| j.id != id);
        self.ready.retain(|&r| r != id);
        for core in &mut self.rr {
            if core.job == Some(id) {
                core.job = None;
            }
        }
    }

    /// Exact time (ns) at which job `j` finishes at the current rates.
    fn finish_time(&self, job: &RefJob) -> f64 {
        if job.remaining <= 0.0 {
            self.now
        } else if job.rate > 0.0 {
            self.now + job.remaining / job.rate
        } else {
            f64::INFINITY
        }
    }

    /// The next completion or round-robin timer that changes anything.
    fn next_event(&self) -> f64 {
        let mut best = self.jobs.iter().map(|j| self.finish_time(j)).fold(f64::INFINITY, f64::min);
        for core in self.rr.iter().filter(|c| c.job.is_some()) {
            if core.switch_end > self.now {
                best = best.min(core.switch_end);
            } else if !self.ready.is_empty() {
                best = best.min(core.quantum_end.max(self.now));
            }
        }
        best
    }
}

/// Runs one case in lockstep; returns an error message on the first disagreement.
fn check(case: &Case) -> Result<(), TestCaseError> {
    let horizon = SimTime(1_000_000_000);
    let mut node = Node::with_discipline(case.discipline, case.cores, case.speed, 1, SimTime(1_000), horizon)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut reference = Reference::new(case);
    // External events in time order (arrivals before cancellations at one instant, then by job).
    let mut external: Vec<(u64, u8, usize)> = Vec::new();
    for (i, job) in case.jobs.iter().enumerate() {
        external.push((job.release, 0, i));
        if let Some(c) = job.cancel {
            external.push((c, 1, i));
        }
    }
    external.sort();
    let mut next_external = 0;
    let mut finished: Vec<FinishedJob> = Vec::new();
    let mut completed_work = 0.0;
    let mut last_time = 0u64;
    let mut sequence = 0;
    let mut events = 0;
    loop {
        events += 1;
        prop_assert!(events < 100_000, "no progress");
        let node_next = node.next_event();
        let reference_next = reference.next_event();
        let external_next = external.get(next_external).map(|e| e.0);
        // The fast node's next event is the reference's within 1 ns (or both have none).
        match node_next {
            Some(t) => prop_assert!(
                (t.0 as f64 - reference_next).abs() <= 1.0 + 1e-6,
                "node's next event {t:?}, reference {reference_next} ns at {}",
                reference.now
            ),
            None => prop_assert!(reference_next.is_infinite(), "node has no event, reference at {reference_next}"),
        }
        // The same-instant contract: the node's own events at t come before external events at t.
        let t = match (node_next, external_next) {
            (None, None) => break,
            (Some(n), Some(e)) if n.0 <= e => n.0,
            (Some(n), None) => n.0,
            (_, Some(e)) => e,
        };
        prop_assert!(t >= last_time, "time decreased: {last_time} -> {t}");
        last_time = t;
        reference.advance(t as f64);
        if node_next.is_some_and(|n| n.0 == t) {
            finished.clear();
            node.take_completed(SimTime(t), &mut finished);
            // Each job the node completed ends within 1 ns of `t` in the reference: jobs whose work is
            // done first, then (rates recomputed) jobs that become done as others leave.
            let mut pending: Vec<u64> = finished.iter().map(|f| f.id.0).collect();
            let mut first = true;
            loop {
                let before = pending.len();
                let mut k = 0;
                while k < pending.len() {
                    let job = reference.jobs.iter().find(|j| j.id == pending[k]).expect("finished job is known");
                    if reference.finish_time(job) <= t as f64 + 1.0 + 1e-6 {
                        completed_work += case.jobs[pending[k] as usize].work;
                        reference.remove(pending[k]);
                        pending.swap_remove(k);
                    } else {
                        k += 1;
                    }
                }
                // Timers and idle cores after the done jobs left, then the new rates.
                reference.round_robin();
                reference.recompute();
                if pending.is_empty() {
                    break;
                }
                // The first pass may remove nothing (a timer starts a job that is done at once).
                prop_assert!(
                    first || pending.len() < before,
                    "jobs {pending:?} finished at {t} but the reference has them end later"
                );
                first = false;
            }
            // Every job left on the node is not within half a nanosecond of finishing.
            for job in &reference.jobs {
                prop_assert!(
                    reference.finish_time(job) >= t as f64 + 0.5 - 1e-6,
                    "job {} should have finished at {t} (reference: {})",
                    job.id,
                    reference.finish_time(job)
                );
            }
        } else {
            let (time, kind, index) = external[next_external];
            next_external += 1;
            let job = &case.jobs[index];
            if kind == 0 {
                // Round-robin timers due now happen before the arrival joins the queue.
                reference.round_robin();
                node.submit(
                    SimTime(time),
                    JobSpec {
                        id: JobId(index as u64),
                        class: 0,
                        work: job.work,
                        weight: job.weight,
                        priority: job.priority,
                        deadline: job.deadline.map(|d| SimTime(job.release + d)),
                    },
                );
                reference.jobs.push(RefJob {
                    id: index as u64,
                    sequence,
                    remaining: job.work,
                    weight: job.weight,
                    priority: job.priority,
                    deadline: job.deadline.map_or(f64::INFINITY, |d| (job.release + d) as f64),
                    running: false,
                    rate: 0.0,
                });
                sequence += 1;
                if matches!(case.discipline, Discipline::RoundRobin { .. }) {
                    reference.ready.push_back(index as u64);
                }
            } else if let Some(done) = node.cancel(SimTime(time), JobId(index as u64)) {
                prop_assert!(reference.jobs.iter().any(|j| j.id == index as u64), "cancelled job unknown");
                completed_work += done.served;
                reference.remove(index as u64);
            }
            reference.round_robin();
        }
        reference.recompute();
        // Same rates, no core over 100 %, at most `cores` cores in use.
        let mut used = 0.0;
        for job in &reference.jobs {
            let rate = node.rate_of(JobId(job.id)).ok_or_else(|| TestCaseError::fail("job missing on node"))?;
            prop_assert!(
                (rate - job.rate * 1e9).abs() <= 1e-9 * case.speed,
                "job {} rate {rate} vs reference {} at {t}",
                job.id,
                job.rate * 1e9
            );
            prop_assert!(rate <= case.speed * (1.0 + 1e-12), "job over 100 % of a core");
            used += rate / case.speed;
        }
        prop_assert!(used <= case.cores as f64 + 1e-9, "{used} cores in use of {}", case.cores);
        prop_assert_eq!(node.active_jobs(), reference.jobs.len());
    }
    prop_assert_eq!(node.active_jobs(), 0);
    // Work conserved: busy core-time = served work / speed (plus context switches).
    node.advance(SimTime(last_time));
    let busy = node.busy_core_seconds(0);
    prop_assert!(
        (busy - reference.busy_core_ns / 1e9).abs() <= 1e-12 + 1e-9 * busy + events as f64 * 1e-9,
        "busy {busy} s vs reference {} s",
        reference.busy_core_ns / 1e9
    );
    if !matches!(case.discipline, Discipline::RoundRobin { .. }) {
        let work_time = completed_work / case.speed;
        prop_assert!(
            (busy - work_time).abs() <= 1e-9 * busy + events as f64 * 1e-9,
            "busy {busy} s is not work / speed = {work_time} s"
        );
    }
    Ok(())
}

fn disciplines() -> Vec<Discipline> {
    vec![
        Discipline::ProcessorSharing,
        Discipline::Fifo,
        Discipline::FixedPriority { preemptive: true },
        Discipline::FixedPriority { preemptive: false },
        Discipline::Edf,
        Discipline::RoundRobin { quantum: SimTime(300), context_switch: SimTime::ZERO },
        Discipline::RoundRobin { quantum: SimTime(250), context_switch: SimTime(40) },
    ]
}

fn run_all(cases: u32) {
    for discipline in disciplines() {
        // A fixed seed: the same cases on every run and machine.
        let config = Config { cases, failure_persistence: None, ..Config::default() };
        let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
        if let Err(e) = runner.run(&case(discipline), |c| check(&c)) {
            panic!("{discipline:?}: {e}");
        }
    }
}

#[test]
fn fast_node_matches_naive_reference_on_random_job_sets() {
    run_all(1_000);
}

#[test]
#[ignore = "long: 20 000 cases per discipline; run with --ignored"]
fn fast_node_matches_naive_reference_on_random_job_sets_long() {
    run_all(20_000);
}
