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
//! **Cost per operation** (n jobs present; issue 14): [`Node::submit`], [`Node::cancel`] and
//! [`Node::take_completed`] O(log n + cores) (plus O(log n) per job finished), [`Node::next_event`]
//! and [`Node::advance`] O(cores), [`Node::rate_of`] O(1); no allocation once the buffers have grown
//! to the largest job count seen. Jobs live in a slab (slots reused) with an id → slot index (a
//! linear list up to 16 jobs, a hash map above). Only the jobs holding a core (at most `cores`)
//! have their work left updated at every advance, with the same arithmetic as before, so FIFO,
//! priority, EDF and round robin give bit-identical results to the node that walked every job.
//! FIFO, priority and EDF keep the waiting jobs in a heap by (priority, deadline, release order);
//! round robin keeps its ready queue as a linked list through the slots.
//!
//! **Processor sharing by virtual time.** The jobs capped at a whole core (the heaviest, by the
//! water-filling test: a job of weight `w` is capped when `K · w ≥ W`, `K` the cores left to the
//! uncapped jobs and `W` their total weight) hold a core like the other disciplines' running jobs.
//! The others share `K` cores: each is served at `speed · θ · w` with `θ = K / W`, so the virtual
//! time `V` (FLOPs per unit weight) advances at `dV/dt = speed · θ` and a job's work left is
//! `(F − V) · w` with its finishing tag `F = V(entry) + work left at entry / w`, fixed while it
//! shares. The shared jobs sit in a heap by `F` (the first finishes first, at
//! `(F − V) / (speed · θ)` from now, rounded as below) and in one by weight (the next to cap); the
//! capped set changes by a job or so per event. `V` restarts at 0 whenever no job shares and is
//! rebased to 0 (every tag shifted, O(n)) after O(n) changes, so `F − V` keeps the precision of
//! the work left. Busy time of the shared jobs is integrated per class lazily: class `c` with shared
//! weight `W_c` uses `W_c · ΔV / speed` core-seconds. The floating-point order differs from the
//! node that walked every job, so a finishing time within float error of half a nanosecond may
//! round the other way (1 ns).
//!
//! Accounting: every job carries a `class` (an index chosen by the caller, e.g. one per process); the
//! node integrates busy core-time per class, overall and in fixed time bins, and the number of jobs
//! present over time (for Little's law).

mod heap;
pub mod memory;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod reference_tests;

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::sim::SimTime;
use heap::IndexedHeap;

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

/// A job that left the node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FinishedJob {
    /// Its id.
    pub id: JobId,
    /// FLOPs served.
    pub served: f64,
}

/// Where a job of the slab is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// An unused slot.
    Free,
    /// Waiting for a core (FIFO, priority, EDF: in `waiting`; round robin: in the ready list).
    Waiting,
    /// Holds a core: in `running` (processor sharing: a capped job, served at `speed`).
    Running,
    /// Processor sharing, below a core: in `shared`, served at `vrate · weight`.
    Shared,
}

/// No slot (ends of the round-robin ready list).
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Job {
    id: JobId,
    class: usize,
    weight: f64,
    priority: u32,
    deadline: SimTime,
    sequence: u64,
    work: f64,
    /// Work left, FLOPs; kept up to date only while the job holds a core (`Place::Running`).
    remaining: f64,
    /// FLOPs served; for a `Shared` job, those served before it became shared.
    served: f64,
    /// `Shared`: finishing tag `F = V(entry) + remaining(entry) / weight`.
    tag: f64,
    /// `Shared`: virtual time when it became shared.
    tag_base: f64,
    place: Place,
    /// Round robin: its core is switching to it (busy, no progress).
    switching: bool,
    /// Round robin ready list.
    prev: u32,
    next: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct CoreState {
    job: Option<u32>,
    last_job: Option<JobId>,
    switch_until: SimTime,
    quantum_end: SimTime,
}

/// Waiting order of FIFO, priority and EDF: (priority, deadline, release sequence), smallest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct WaitKey(u32, SimTime, u64);

impl heap::HeapKey for WaitKey {
    fn before(&self, other: &Self) -> bool {
        self < other
    }
}

/// Processor sharing: finishing tag, then id.
#[derive(Debug, Clone, Copy)]
struct TagKey(f64, JobId);

impl heap::HeapKey for TagKey {
    fn before(&self, other: &Self) -> bool {
        self.0 < other.0 || (self.0 == other.0 && self.1 < other.1)
    }
}

/// Processor sharing: heaviest first, then smaller id (the water-filling order).
#[derive(Debug, Clone, Copy)]
struct HeavyKey(f64, JobId);

impl heap::HeapKey for HeavyKey {
    fn before(&self, other: &Self) -> bool {
        self.0 > other.0 || (self.0 == other.0 && self.1 < other.1)
    }
}

/// Hashes a [`JobId`] for the id → slot map: the engine's ids differ in their high bits (owner) as
/// much as in their low ones (number), so the bits are mixed (the 64-bit finaliser of MurmurHash3).
#[derive(Debug, Clone, Copy, Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 ^= x;
    }

    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
}

type IdMap = HashMap<JobId, u32, BuildHasherDefault<IdHasher>>;

/// Most jobs looked up by a linear scan: fewer than this many jobs cost less to scan than to hash.
const SMALL_IDS: usize = 16;

/// Job id → slot: a short list scanned linearly while the node holds at most [`SMALL_IDS`] jobs (the
/// common case, as cheap as the old node's scan), a hash map from the first time it holds more
/// until it is empty again (so a node hovering at the threshold does not move its ids to and fro).
#[derive(Debug, Clone)]
struct IdIndex {
    small: Vec<(JobId, u32)>,
    map: IdMap,
    hashed: bool,
}

impl IdIndex {
    fn new() -> IdIndex {
        let mut map = IdMap::default();
        map.reserve(4 * SMALL_IDS);
        IdIndex { small: Vec::with_capacity(SMALL_IDS), map, hashed: false }
    }

    fn len(&self) -> usize {
        if self.hashed {
            self.map.len()
        } else {
            self.small.len()
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, id: &JobId) -> Option<&u32> {
        if self.hashed {
            self.map.get(id)
        } else {
            self.small.iter().find(|e| e.0 == *id).map(|e| &e.1)
        }
    }

    /// Adds `id` (not present).
    fn insert(&mut self, id: JobId, slot: u32) {
        if !self.hashed && self.small.len() < SMALL_IDS {
            self.small.push((id, slot));
            return;
        }
        if !self.hashed {
            self.hashed = true;
            self.map.extend(self.small.drain(..));
        }
        self.map.insert(id, slot);
    }

    fn remove(&mut self, id: &JobId) {
        if self.hashed {
            self.map.remove(id);
            if self.map.is_empty() {
                self.hashed = false;
            }
        } else if let Some(k) = self.small.iter().position(|e| e.0 == *id) {
            self.small.swap_remove(k);
        }
    }
}

/// Rebase the virtual time after this many processor-sharing changes plus twice the shared jobs
/// (so the O(n) rebase costs O(1) per change, amortised).
const REBASE_EVERY: usize = 64;

/// A node with its jobs; see the module doc.
#[derive(Debug, Clone)]
pub struct Node {
    discipline: Discipline,
    cores: usize,
    speed: f64,
    /// Jobs by slot; `free` lists the unused slots, `ids` maps a job's id to its slot.
    slab: Vec<Job>,
    free: Vec<u32>,
    ids: IdIndex,
    /// Jobs holding a core (processor sharing: the capped jobs); at most `cores`, in no order.
    running: Vec<u32>,
    /// FIFO, priority, EDF: the waiting jobs.
    waiting: IndexedHeap<WaitKey>,
    /// Round robin: the ready list (slots, `prev`/`next` in the jobs), its ends and length.
    ready_head: u32,
    ready_tail: u32,
    ready_len: usize,
    core_states: Vec<CoreState>,
    /// Waiting jobs whose work is done (they complete at the next `take_completed`; may hold
    /// stale slots, checked when read).
    zero_waiting: Vec<u32>,
    /// Processor sharing: the jobs below a core by finishing tag, and by weight (heaviest first).
    shared: IndexedHeap<TagKey>,
    heaviest: IndexedHeap<HeavyKey>,
    /// Virtual time `V`, FLOPs per unit weight, and its rate `speed · θ` (0 with no shared job).
    virtual_time: f64,
    vrate: f64,
    /// Σ weight of the shared jobs.
    shared_weight: f64,
    /// Processor-sharing changes since the last rebase of `virtual_time`.
    since_rebase: usize,
    /// Per class: shared jobs, their Σ weight, and `V` when their usage was last flushed.
    class_shared: Vec<usize>,
    class_shared_weight: Vec<f64>,
    class_mark: Vec<f64>,
    /// The usage bin the shared jobs' unflushed usage belongs to.
    shared_bin: usize,
    next_sequence: u64,
    last_update: SimTime,
    total_weight: f64,
    busy_core_seconds: Vec<f64>,
    /// Per class: jobs present, ∫ jobs dt up to `class_since`.
    class_jobs: Vec<usize>,
    jobs_time_integral: Vec<f64>,
    class_since: Vec<SimTime>,
    bin: SimTime,
    bins: Vec<Vec<f64>>,
    horizon: SimTime,
    /// Slots done in a round of `take_completed`.
    done: Vec<u32>,
}

/// Nanoseconds until a job with `remaining` FLOPs left finishes at `rate` FLOP/s, rounded to the
/// nearest nanosecond (half away from zero): `Some(0)` when its work is done now (nothing left —
/// even if it waits or its core is still switching —, or less than half a nanosecond of work at its
/// rate), `None` when it makes no progress (no rate, a round-robin context switch, or infinite
/// work). The one place where the node rounds finishing times (a shared job's `remaining / rate` is
/// `(F − V) / vrate`, see the module doc).
fn nanos_to_finish(remaining: f64, rate: f64, switching: bool) -> Option<u64> {
    // A job with no work left is done whatever its place: waiting, or with a core still switching.
    if remaining <= 0.0 {
        return Some(0);
    }
    if switching || !remaining.is_finite() {
        return None;
    }
    if rate > 0.0 {
        Some(SimTime::from_secs_f64(remaining / rate).0)
    } else {
        None
    }
}

/// Refuses zero cores, a non-positive or infinite speed, a zero bin and a zero round-robin quantum
/// (the checks of [`Node::with_discipline`], shared with the test-only reference node).
fn check_parameters(discipline: Discipline, cores: usize, speed: f64, bin: SimTime) -> Result<(), NodeError> {
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
    Ok(())
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
        let capacity = 64;
        Ok(Node {
            discipline,
            cores,
            speed,
            slab: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            ids: IdIndex::new(),
            running: Vec::with_capacity(cores),
            waiting: IndexedHeap::with_capacity(capacity),
            ready_head: NONE,
            ready_tail: NONE,
            ready_len: 0,
            core_states: vec![CoreState::default(); cores],
            zero_waiting: Vec::with_capacity(8),
            shared: IndexedHeap::with_capacity(capacity),
            heaviest: IndexedHeap::with_capacity(capacity),
            virtual_time: 0.0,
            vrate: 0.0,
            shared_weight: 0.0,
            since_rebase: 0,
            class_shared: vec![0; classes],
            class_shared_weight: vec![0.0; classes],
            class_mark: vec![0.0; classes],
            shared_bin: 0,
            next_sequence: 0,
            last_update: SimTime::ZERO,
            total_weight: 0.0,
            busy_core_seconds: vec![0.0; classes],
            class_jobs: vec![0; classes],
            jobs_time_integral: vec![0.0; classes],
            class_since: vec![SimTime::ZERO; classes],
            bin,
            bins: vec![vec![0.0; n_bins]; classes],
            horizon,
            done: Vec::with_capacity(16),
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
        self.ids.len()
    }

    /// Sum of the weights of the jobs on the node (kept as jobs come and go, O(1); exactly 0 on an
    /// empty node).
    pub fn total_weight(&self) -> f64 {
        self.total_weight
    }

    /// Current service rate of job `id` in FLOP/s. O(1).
    pub fn rate_of(&self, id: JobId) -> Option<f64> {
        let job = &self.slab[*self.ids.get(&id)? as usize];
        Some(self.rate(job))
    }

    fn rate(&self, job: &Job) -> f64 {
        match job.place {
            Place::Running if !job.switching => self.speed,
            Place::Shared => self.vrate * job.weight,
            _ => 0.0,
        }
    }

    /// The rate (FLOP/s) a new job of weight `weight` would get if it arrived now: the full speed when
    /// fewer jobs than cores are present; otherwise the processor-sharing (water-filling) share, which
    /// for the other disciplines is the long-run average share of an equal job. Allocates nothing.
    ///
    /// Processor sharing: O(cores²) at worst, O(cores) in practice (only the capped jobs and the new
    /// one can take a whole core once it joins). Other disciplines keep no order by weight: O(n).
    pub fn rate_if_added(&self, weight: f64) -> f64 {
        if self.discipline != Discipline::ProcessorSharing || self.active_jobs() < self.cores {
            let others = self.slab.iter().filter(|j| j.place != Place::Free).map(|j| j.weight);
            return rate_if_added_to(self.cores, self.speed, others, weight);
        }
        // Adding a job lowers the water level θ: no shared job can reach a whole core, so the
        // fixed-point iteration of `rate_if_added_to` need only look at the capped jobs and the new one.
        let candidates = || self.running.iter().map(|&s| self.slab[s as usize].weight).chain(std::iter::once(weight));
        let all = self.total_weight + weight;
        let cores = self.cores as f64;
        let mut theta = cores / all;
        for _ in 0..=self.cores + 1 {
            let (mut saturated_cores, mut saturated_weight) = (0.0, 0.0);
            for w in candidates() {
                if theta * w >= 1.0 {
                    saturated_cores += 1.0;
                    saturated_weight += w;
                }
            }
            let free_weight = all - saturated_weight;
            let next = if free_weight > 0.0 { (cores - saturated_cores) / free_weight } else { theta };
            if next == theta {
                break;
            }
            theta = next;
        }
        self.speed * (theta * weight).min(1.0)
    }

    /// Integrates service and usage from the last update to `now`: O(cores) for the jobs holding a
    /// core (their work left, busy time and bins, as before issue 14), O(1) for the shared jobs
    /// (virtual time), plus O(classes) per usage-bin boundary crossed under processor sharing.
    pub fn advance(&mut self, now: SimTime) {
        if now <= self.last_update {
            return;
        }
        let dt = now.saturating_sub(self.last_update).as_secs_f64();
        let speed = self.speed;
        for &slot in &self.running {
            let job = &mut self.slab[slot as usize];
            let rate = if job.switching { 0.0 } else { speed };
            let work = rate * dt;
            job.remaining -= work;
            job.served += work;
            // A core switching to its job is busy too: one core either way.
            self.busy_core_seconds[job.class] += dt;
        }
        // Usage per bin: split [last_update, now) at bin boundaries.
        let shared = !self.shared.is_empty();
        let mut start = self.last_update.0;
        while start < now.0 {
            let bin_index = (start / self.bin.0) as usize;
            let end = ((bin_index as u64 + 1) * self.bin.0).min(now.0);
            let span = (end - start) as f64 / SimTime::NANOS_PER_SEC as f64;
            for &slot in &self.running {
                let class = self.slab[slot as usize].class;
                if let Some(bin) = self.bins[class].get_mut(bin_index) {
                    *bin += span;
                }
            }
            if shared {
                self.virtual_time += self.vrate * span;
            }
            if end.is_multiple_of(self.bin.0) {
                if shared {
                    for class in 0..self.class_shared.len() {
                        self.flush_class(class);
                    }
                }
                self.shared_bin = (end / self.bin.0) as usize;
            }
            start = end;
        }
        self.last_update = now;
    }

    /// Processor sharing: adds the usage of class `class`'s shared jobs since its mark to its busy
    /// time and to the current bin; the mark becomes the current virtual time.
    fn flush_class(&mut self, class: usize) {
        if self.class_shared[class] == 0 {
            return;
        }
        let used = self.class_shared_weight[class] * (self.virtual_time - self.class_mark[class]) / self.speed;
        self.busy_core_seconds[class] += used;
        if let Some(bin) = self.bins[class].get_mut(self.shared_bin) {
            *bin += used;
        }
        self.class_mark[class] = self.virtual_time;
    }

    /// Processor sharing: class `class`'s unflushed busy core-seconds.
    fn unflushed(&self, class: usize) -> f64 {
        if self.class_shared[class] == 0 {
            return 0.0;
        }
        self.class_shared_weight[class] * (self.virtual_time - self.class_mark[class]) / self.speed
    }

    /// Adds a job at `now` (advancing the node to `now` first). Under the same-instant contract of
    /// the module doc, call [`Node::take_completed`] first when [`Node::next_event`] is due at `now`.
    /// O(log n) (processor sharing with capped jobs: O(cores + log n)); ids must be unique among the
    /// jobs on the node.
    pub fn submit(&mut self, now: SimTime, job: JobSpec) {
        self.advance(now);
        if let Discipline::RoundRobin { quantum, .. } = self.discipline {
            // Timers due now see the ready queue as it was before this arrival.
            self.round_robin_timers(now, quantum);
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let entry = Job {
            id: job.id,
            class: job.class,
            weight: job.weight,
            priority: job.priority,
            deadline: job.deadline.unwrap_or(SimTime::MAX),
            sequence,
            work: job.work,
            remaining: job.work,
            served: 0.0,
            tag: 0.0,
            tag_base: 0.0,
            place: Place::Waiting,
            switching: false,
            prev: NONE,
            next: NONE,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = entry;
                slot
            }
            None => {
                self.slab.push(entry);
                (self.slab.len() - 1) as u32
            }
        };
        debug_assert!(self.ids.get(&job.id).is_none(), "job {:?} submitted twice", job.id);
        self.ids.insert(job.id, slot);
        self.count_class(job.class, 1);
        self.total_weight += job.weight;
        match self.discipline {
            Discipline::ProcessorSharing => {
                if self.shared.is_empty() && self.running.len() < self.cores {
                    // Fewer jobs than cores: a core of its own, no heap touched.
                    self.slab[slot as usize].place = Place::Running;
                    self.running.push(slot);
                } else {
                    self.make_shared(slot);
                    self.rebalance();
                }
                self.after_shared_change();
            }
            Discipline::Fifo | Discipline::FixedPriority { preemptive: false } => {
                if self.running.len() < self.cores {
                    self.start(slot);
                } else {
                    self.enqueue(slot);
                }
            }
            Discipline::FixedPriority { preemptive: true } | Discipline::Edf => {
                if self.running.len() < self.cores {
                    self.start(slot);
                } else {
                    // The worst running job (at most `cores` to look at) gives way if the new one
                    // comes before it.
                    let key = self.wait_key(slot);
                    let worst = self.worst_running();
                    if key < self.wait_key(worst) {
                        self.stop(worst);
                        self.enqueue(worst);
                        self.start(slot);
                    } else {
                        self.enqueue(slot);
                    }
                }
            }
            Discipline::RoundRobin { quantum, context_switch } => {
                self.ready_push_back(slot);
                self.note_if_done_waiting(slot);
                self.round_robin_timers(now, quantum);
                self.round_robin_fill(now, quantum, context_switch);
            }
        }
    }

    /// Removes job `id` at `now`; returns what it was served, or `None` if it is not on the node.
    /// O(log n).
    pub fn cancel(&mut self, now: SimTime, id: JobId) -> Option<FinishedJob> {
        self.advance(now);
        let slot = *self.ids.get(&id)?;
        let served = self.served_of(slot);
        self.remove(slot);
        self.dispatch(now);
        Some(FinishedJob { id, served })
    }

    /// FLOPs served to the job in `slot` so far.
    fn served_of(&self, slot: u32) -> f64 {
        let job = &self.slab[slot as usize];
        match job.place {
            Place::Shared => job.served + job.weight * (self.virtual_time - job.tag_base),
            _ => job.served,
        }
    }

    /// Takes the job in `slot` out of every structure and frees the slot (no dispatch).
    fn remove(&mut self, slot: u32) {
        let job = &self.slab[slot as usize];
        let (id, class, weight, place) = (job.id, job.class, job.weight, job.place);
        match place {
            Place::Running => {
                self.stop(slot);
                if let Discipline::RoundRobin { .. } = self.discipline {
                    for core in &mut self.core_states {
                        if core.job == Some(slot) {
                            core.job = None;
                        }
                    }
                }
            }
            Place::Waiting => {
                if let Discipline::RoundRobin { .. } = self.discipline {
                    self.ready_unlink(slot);
                } else {
                    self.waiting.remove(slot);
                }
            }
            Place::Shared => self.unshare(slot),
            Place::Free => unreachable!("a free slot is on no structure"),
        }
        self.slab[slot as usize].place = Place::Free;
        self.ids.remove(&id);
        self.free.push(slot);
        self.count_class(class, -1);
        self.total_weight = if self.ids.is_empty() { 0.0 } else { self.total_weight - weight };
        if self.discipline == Discipline::ProcessorSharing {
            self.since_rebase += 1;
        }
    }

    /// One more (`+1`) or one fewer (`-1`) job of class `class`, at `last_update`.
    fn count_class(&mut self, class: usize, change: isize) {
        let span = self.last_update.saturating_sub(self.class_since[class]).as_secs_f64();
        self.jobs_time_integral[class] += self.class_jobs[class] as f64 * span;
        self.class_since[class] = self.last_update;
        self.class_jobs[class] = self.class_jobs[class].wrapping_add_signed(change);
    }

    /// Time of the next completion or round-robin timer at the current rates, if any. O(cores).
    pub fn next_event(&self) -> Option<SimTime> {
        let mut best: Option<SimTime> = None;
        let mut consider = |t: SimTime| best = Some(best.map_or(t, |b| b.min(t)));
        for &slot in &self.running {
            let job = &self.slab[slot as usize];
            if let Some(nanos) = nanos_to_finish(job.remaining, self.speed, job.switching) {
                consider(self.last_update.saturating_add(SimTime(nanos)));
            }
        }
        if let Some((TagKey(tag, _), _)) = self.shared.peek() {
            if let Some(nanos) = nanos_to_finish(tag - self.virtual_time, self.vrate, false) {
                consider(self.last_update.saturating_add(SimTime(nanos)));
            }
        }
        if self.zero_waiting.iter().any(|&s| self.is_done_waiting(s)) {
            consider(self.last_update);
        }
        if matches!(self.discipline, Discipline::RoundRobin { .. }) {
            for core in self.core_states.iter().filter(|c| c.job.is_some()) {
                if core.switch_until > self.last_update {
                    consider(core.switch_until);
                } else if self.ready_len > 0 {
                    // The quantum matters only when someone waits; otherwise the job keeps its core.
                    consider(core.quantum_end.max(self.last_update));
                }
            }
        }
        best
    }

    /// Whether the job in `slot` waits with its work done.
    fn is_done_waiting(&self, slot: u32) -> bool {
        let job = &self.slab[slot as usize];
        job.place == Place::Waiting && job.remaining <= 0.0
    }

    /// Advances to `now`, removes every job whose work is done at `now` (less than half a nanosecond
    /// of work left at its rate — the rounding of [`Node::next_event`]), pushing them to `finished` in
    /// ascending id order, handles round-robin timers and re-dispatches. Returns how many jobs
    /// finished. O((k + 1) log n) for k jobs finished (plus O(cores) per round).
    pub fn take_completed(&mut self, now: SimTime, finished: &mut Vec<FinishedJob>) -> usize {
        self.advance(now);
        let before = finished.len();
        // Removing jobs raises the others' rates (processor sharing) and a dispatch can start a job
        // with less than half a nanosecond of work: repeat until nothing more is done at `now`.
        let mut first = true;
        loop {
            let mut done = std::mem::take(&mut self.done);
            done.clear();
            for &slot in &self.running {
                let job = &self.slab[slot as usize];
                if nanos_to_finish(job.remaining, self.speed, job.switching) == Some(0) {
                    done.push(slot);
                }
            }
            for k in 0..self.zero_waiting.len() {
                let slot = self.zero_waiting[k];
                if self.is_done_waiting(slot) && !done.contains(&slot) {
                    done.push(slot);
                }
            }
            self.zero_waiting.clear();
            // Shared jobs finish in tag order: the done ones are the first in the heap. They leave
            // it here; the rates stay those of this round until all done jobs are out.
            let mut shared_done = 0;
            while let Some((TagKey(tag, _), slot)) = self.shared.peek() {
                if nanos_to_finish(tag - self.virtual_time, self.vrate, false) != Some(0) {
                    break;
                }
                self.shared.pop();
                done.push(slot);
                shared_done += 1;
            }
            let any = !done.is_empty();
            for (k, &slot) in done.iter().enumerate() {
                // A job finishing within the last half nanosecond was served exactly its work.
                let job = &self.slab[slot as usize];
                finished.push(FinishedJob { id: job.id, served: job.work });
                if k >= done.len() - shared_done {
                    // Already out of the tag heap: out of the rest.
                    self.unshare_popped(slot);
                }
                self.remove_popped_or(slot, k >= done.len() - shared_done);
            }
            self.done = done;
            self.dispatch(now);
            // The first round may find nothing (a switch ending now starts a job that is done at
            // once); every later one removes a job, so this ends.
            if (!any && !first) || self.next_event() != Some(now) {
                break;
            }
            first = false;
        }
        finished[before..].sort_unstable_by_key(|f| f.id);
        finished.len() - before
    }

    /// `remove`, for a shared job already taken out of the tag heap when `popped`.
    fn remove_popped_or(&mut self, slot: u32, popped: bool) {
        if popped {
            // `unshare_popped` left it as a waiting job with no structure: just free it.
            self.slab[slot as usize].place = Place::Free;
            let job = &self.slab[slot as usize];
            let (id, class, weight) = (job.id, job.class, job.weight);
            self.ids.remove(&id);
            self.free.push(slot);
            self.count_class(class, -1);
            self.total_weight = if self.ids.is_empty() { 0.0 } else { self.total_weight - weight };
            self.since_rebase += 1;
        } else {
            self.remove(slot);
        }
    }

    /// Decides which jobs hold cores after jobs left (and round-robin timers).
    fn dispatch(&mut self, now: SimTime) {
        match self.discipline {
            Discipline::ProcessorSharing => {
                self.rebalance();
                self.after_shared_change();
            }
            Discipline::RoundRobin { quantum, context_switch } => {
                self.round_robin_timers(now, quantum);
                self.round_robin_fill(now, quantum, context_switch);
            }
            // Free cores take the best waiting jobs (preemptive or not: a job that fits runs
            // without displacing anyone, and no waiting job beats a running one).
            _ => {
                while self.running.len() < self.cores {
                    let Some((_, slot)) = self.waiting.pop() else { break };
                    self.start(slot);
                }
            }
        }
    }

    fn wait_key(&self, slot: u32) -> WaitKey {
        let job = &self.slab[slot as usize];
        match self.discipline {
            Discipline::FixedPriority { .. } => WaitKey(job.priority, SimTime::ZERO, job.sequence),
            Discipline::Edf => WaitKey(0, job.deadline, job.sequence),
            _ => WaitKey(0, SimTime::ZERO, job.sequence),
        }
    }

    /// The running job that comes last in the waiting order.
    fn worst_running(&self) -> u32 {
        let mut worst = self.running[0];
        for &slot in &self.running[1..] {
            if self.wait_key(slot) > self.wait_key(worst) {
                worst = slot;
            }
        }
        worst
    }

    /// The job in `slot` takes a core.
    fn start(&mut self, slot: u32) {
        self.slab[slot as usize].place = Place::Running;
        self.running.push(slot);
    }

    /// The job in `slot` leaves its core (it is marked waiting, on no structure yet).
    fn stop(&mut self, slot: u32) {
        let k = self.running.iter().position(|&s| s == slot).expect("a running job is in `running`");
        self.running.swap_remove(k);
        let job = &mut self.slab[slot as usize];
        job.place = Place::Waiting;
        job.switching = false;
    }

    /// FIFO, priority, EDF: the job in `slot` waits.
    fn enqueue(&mut self, slot: u32) {
        let key = self.wait_key(slot);
        self.slab[slot as usize].place = Place::Waiting;
        self.waiting.push(key, slot);
        self.note_if_done_waiting(slot);
    }

    /// A waiting job with no work left is done at the next `take_completed`.
    fn note_if_done_waiting(&mut self, slot: u32) {
        if self.slab[slot as usize].remaining <= 0.0 {
            self.zero_waiting.push(slot);
        }
    }

    fn ready_push_back(&mut self, slot: u32) {
        let tail = self.ready_tail;
        let job = &mut self.slab[slot as usize];
        job.place = Place::Waiting;
        job.prev = tail;
        job.next = NONE;
        if tail == NONE {
            self.ready_head = slot;
        } else {
            self.slab[tail as usize].next = slot;
        }
        self.ready_tail = slot;
        self.ready_len += 1;
    }

    fn ready_unlink(&mut self, slot: u32) {
        let (prev, next) = (self.slab[slot as usize].prev, self.slab[slot as usize].next);
        if prev == NONE {
            self.ready_head = next;
        } else {
            self.slab[prev as usize].next = next;
        }
        if next == NONE {
            self.ready_tail = prev;
        } else {
            self.slab[next as usize].prev = prev;
        }
        self.ready_len -= 1;
    }

    /// Round robin: switches that ended, and quanta that expired while someone waits (the job goes to
    /// the back of the ready queue). Idempotent at one instant. O(cores).
    fn round_robin_timers(&mut self, now: SimTime, quantum: SimTime) {
        for c in 0..self.core_states.len() {
            let core = self.core_states[c];
            let Some(slot) = core.job else { continue };
            if core.switch_until <= now {
                self.slab[slot as usize].switching = false;
            }
            if core.switch_until <= now && core.quantum_end <= now {
                // While nobody waited, the quantum was renewed at every multiple of `quantum`; the job
                // is preempted only at such a boundary with someone waiting.
                let elapsed = now.0 - core.quantum_end.0;
                let at_boundary = elapsed.is_multiple_of(quantum.0);
                if self.ready_len == 0 || !at_boundary {
                    let renewals = elapsed / quantum.0 + 1;
                    self.core_states[c].quantum_end = SimTime(core.quantum_end.0 + renewals * quantum.0);
                } else {
                    self.stop(slot);
                    self.ready_push_back(slot);
                    self.note_if_done_waiting(slot);
                    self.core_states[c].job = None;
                }
            }
        }
    }

    /// Round robin: idle cores take the head of the ready queue. O(cores).
    fn round_robin_fill(&mut self, now: SimTime, quantum: SimTime, context_switch: SimTime) {
        for c in 0..self.core_states.len() {
            if self.core_states[c].job.is_some() {
                continue;
            }
            let slot = self.ready_head;
            if slot == NONE {
                break;
            }
            self.ready_unlink(slot);
            let id = self.slab[slot as usize].id;
            let switch = self.core_states[c].last_job != Some(id) && context_switch.0 > 0;
            let start = if switch { now.saturating_add(context_switch) } else { now };
            self.core_states[c] = CoreState {
                job: Some(slot),
                last_job: Some(id),
                switch_until: start,
                quantum_end: start.saturating_add(quantum),
            };
            self.start(slot);
            self.slab[slot as usize].switching = switch;
        }
    }

    /// Processor sharing: the job in `slot` (new, or capped at `Running`) becomes shared, with
    /// finishing tag `F = V + remaining / weight`. O(log n).
    fn make_shared(&mut self, slot: u32) {
        if self.slab[slot as usize].place == Place::Running {
            let k = self.running.iter().position(|&s| s == slot).expect("a capped job is in `running`");
            self.running.swap_remove(k);
        }
        let v = self.virtual_time;
        let job = &mut self.slab[slot as usize];
        job.place = Place::Shared;
        job.tag = v + job.remaining / job.weight;
        job.tag_base = v;
        let (tag, id, weight, class) = (job.tag, job.id, job.weight, job.class);
        self.shared.push(TagKey(tag, id), slot);
        self.heaviest.push(HeavyKey(weight, id), slot);
        self.shared_weight += weight;
        self.flush_class(class);
        if self.class_shared[class] == 0 {
            self.class_mark[class] = v;
            self.class_shared_weight[class] = 0.0;
        }
        self.class_shared[class] += 1;
        self.class_shared_weight[class] += weight;
    }

    /// Processor sharing: the shared job in `slot` leaves the shared set (its work left and served
    /// brought up to date; marked waiting, on no structure).
    fn unshare(&mut self, slot: u32) {
        self.shared.remove(slot);
        self.unshare_popped(slot);
    }

    /// `unshare` for a job already out of the tag heap.
    fn unshare_popped(&mut self, slot: u32) {
        self.heaviest.remove(slot);
        let v = self.virtual_time;
        let job = &mut self.slab[slot as usize];
        job.remaining = (job.tag - v) * job.weight;
        job.served += job.weight * (v - job.tag_base);
        job.place = Place::Waiting;
        let (weight, class) = (job.weight, job.class);
        self.shared_weight = if self.shared.is_empty() { 0.0 } else { self.shared_weight - weight };
        self.flush_class(class);
        self.class_shared[class] -= 1;
        self.class_shared_weight[class] =
            if self.class_shared[class] == 0 { 0.0 } else { self.class_shared_weight[class] - weight };
    }

    /// Processor sharing: the water-filling fixed point. The capped jobs (`running`, a whole core
    /// each) must be the heaviest and each pass the test of the module doc, `K · w ≥ W` with `K` the
    /// cores left to the shared jobs and `W` their weight; the lightest capped job that fails it
    /// becomes shared, the heaviest shared job that passes it is capped, until neither happens.
    /// O(cores) per change of the capped set, which changes by O(1) per event in practice.
    fn rebalance(&mut self) {
        // Each step moves one job; a bound keeps floating-point ties from cycling.
        for _ in 0..4 * self.cores + 4 {
            let free_cores = (self.cores - self.running.len()) as f64;
            if !self.shared.is_empty() {
                if let Some((HeavyKey(w, _), slot)) = self.heaviest.peek() {
                    if free_cores * w >= self.shared_weight {
                        self.shared.remove(slot);
                        self.unshare_popped(slot);
                        self.slab[slot as usize].place = Place::Running;
                        self.running.push(slot);
                        continue;
                    }
                }
            }
            // The lightest capped job (ties: the larger id, last in the water-filling order).
            let mut lightest: Option<u32> = None;
            for &slot in &self.running {
                let job = &self.slab[slot as usize];
                let lighter = lightest.is_none_or(|l| {
                    let other = &self.slab[l as usize];
                    job.weight < other.weight || (job.weight == other.weight && job.id > other.id)
                });
                if lighter {
                    lightest = Some(slot);
                }
            }
            match lightest {
                Some(slot) if free_cores * self.slab[slot as usize].weight < self.shared_weight => {
                    self.make_shared(slot)
                }
                _ => break,
            }
        }
        self.vrate = if self.shared.is_empty() {
            0.0
        } else {
            self.speed * (self.cores - self.running.len()) as f64 / self.shared_weight
        };
    }

    /// Processor sharing, after the shared set changed: with no shared job the virtual time restarts
    /// at 0; after `REBASE_EVERY + 2·shared` changes it is moved back to 0 with every tag (O(n),
    /// amortised O(1)), so `F − V` keeps the precision of the work left rather than that of a long
    /// busy period's `V`. The weight sums are recomputed then too (no drift from additions and
    /// subtractions).
    fn after_shared_change(&mut self) {
        self.since_rebase += 1;
        if self.shared.is_empty() {
            self.virtual_time = 0.0;
            self.since_rebase = 0;
            return;
        }
        if self.since_rebase < REBASE_EVERY + 2 * self.shared.len() {
            return;
        }
        self.since_rebase = 0;
        for class in 0..self.class_shared.len() {
            self.flush_class(class);
            self.class_mark[class] = 0.0;
            if self.class_shared[class] > 0 {
                self.class_shared_weight[class] = 0.0;
            }
        }
        let offset = self.virtual_time;
        let slab = &mut self.slab;
        let mut shared_weight = 0.0;
        self.shared.rekey(|TagKey(tag, id), slot| {
            let job = &mut slab[slot as usize];
            job.tag = tag - offset;
            job.tag_base -= offset;
            shared_weight += job.weight;
            TagKey(job.tag, id)
        });
        for slot in self.shared.slots() {
            let job = &self.slab[slot as usize];
            self.class_shared_weight[job.class] += job.weight;
        }
        self.shared_weight = shared_weight;
        self.virtual_time = 0.0;
        self.vrate = self.speed * (self.cores - self.running.len()) as f64 / self.shared_weight;
    }

    /// Busy core-seconds of accounting class `class` since time zero (up to the last advance).
    pub fn busy_core_seconds(&self, class: usize) -> f64 {
        self.busy_core_seconds[class] + self.unflushed(class)
    }

    /// ∫ (jobs of class `class` present) dt since time zero, job-seconds: divided by the elapsed time
    /// it is the time-average number in system (Little's law's L).
    pub fn jobs_time_integral(&self, class: usize) -> f64 {
        let span = self.last_update.saturating_sub(self.class_since[class]).as_secs_f64();
        self.jobs_time_integral[class] + self.class_jobs[class] as f64 * span
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
        let unflushed = self.unflushed(class);
        (0..n)
            .map(|i| {
                let start = self.bin.0 * i as u64;
                let end = (start + self.bin.0).min(self.horizon.0.max(start + 1));
                let used = if i == self.shared_bin { self.bins[class][i] + unflushed } else { self.bins[class][i] };
                used / ((end - start) as f64 / SimTime::NANOS_PER_SEC as f64)
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
