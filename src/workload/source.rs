//! Workload sources: the arrival dynamics of each kind of background process as a state machine that
//! owns its random stream and speaks in its own terms — when it first acts, what it releases at a
//! release time and when it acts next, what a state change does. The engine only dispatches: it asks
//! a source what happens next, schedules that, and puts the released work on the node.
//!
//! A source knows nothing of events, queues, jobs or the node beyond its size (a utilisation trace
//! turns shares of the node into FLOPs). Every draw a source makes comes from its own
//! [`ProcessRng`], in a fixed order per call (documented on each method), so a run is reproducible
//! from the seed and the process's name alone. Nothing here allocates after construction.

use std::sync::Arc;

use rand::Rng;
use rand_distr::{Distribution, Exp};

use super::{
    BackgroundKind, ParameterError, ProcessRng, Trace, TraceJob, UtilisationTrace, WorkDistribution, WorkSampler,
};
use crate::sim::SimTime;

/// When a source acts next, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceEvent {
    /// It releases work at this time ([`Source::release`]).
    Release(SimTime),
    /// It changes state at this time ([`Source::change_state`]): an on/off process switching, an MMPP
    /// chain moving to another state.
    StateChange(SimTime),
}

/// What a source releases at one of its release times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Released {
    /// Jobs released together (0: nothing is due).
    pub jobs: usize,
    /// Work of each job, FLOPs.
    pub work_per_job: f64,
    /// What the source does next, if anything.
    pub next: Option<SourceEvent>,
}

impl Released {
    /// Nothing released and nothing to come.
    pub const NOTHING: Released = Released { jobs: 0, work_per_job: 0.0, next: None };
}

/// What a source's state change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// An on/off process switched on: it now runs one job of unbounded work until it switches off.
    TurnedOn,
    /// An on/off process switched off: its job ends now.
    TurnedOff,
    /// An MMPP chain moved to state `to`.
    Moved {
        /// The new state (an index into the process's `rates`).
        to: usize,
    },
    /// The source has no states (Poisson, periodic, traces): nothing changed.
    Unchanged,
}

/// A state change and what the source does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    /// What changed.
    pub change: Change,
    /// What the source does next, if anything.
    pub next: Option<SourceEvent>,
}

/// A background process's arrival dynamics, one variant per [`BackgroundKind`] (a trace becomes a
/// [`JobsTraceSource`] or a [`UtilisationTraceSource`]).
#[derive(Debug, Clone)]
pub enum Source {
    /// Poisson arrivals.
    Poisson(PoissonSource),
    /// Periodic releases with jitter.
    Periodic(PeriodicSource),
    /// Markov-modulated Poisson arrivals.
    Mmpp(MmppSource),
    /// A CPU-bound process switching on and off.
    OnOff(OnOffSource),
    /// Replayed jobs.
    JobsTrace(JobsTraceSource),
    /// Replayed utilisation samples, turned into chunks of work.
    UtilisationTrace(UtilisationTraceSource),
}

impl Source {
    /// The source of a process of kind `kind` drawing from `rng` (the process's stream, see
    /// [`super::process_rng`]), on a node of `cores` cores of `core_speed` FLOP/s (used only by
    /// utilisation traces). Draws nothing.
    ///
    /// # Errors
    /// [`ParameterError`] for parameters the source cannot run with: a Poisson rate that is not
    /// positive and finite, a periodic period of zero, MMPP rates that are not finite and non-negative
    /// or a switch matrix that is not square of the rates' size, an on/off mean of zero, or invalid
    /// work ([`super::WorkDistribution::sampler`]).
    pub fn new(
        kind: &BackgroundKind,
        rng: ProcessRng,
        cores: usize,
        core_speed: f64,
    ) -> Result<Source, ParameterError> {
        Ok(match kind {
            BackgroundKind::Poisson { rate, work } => Source::Poisson(PoissonSource::new(*rate, work, rng)?),
            BackgroundKind::Periodic { period, phase, jitter, work } => {
                Source::Periodic(PeriodicSource::new(*period, *phase, *jitter, work, rng)?)
            }
            BackgroundKind::Mmpp { rates, switch_rates, work } => {
                Source::Mmpp(MmppSource::new(rates, switch_rates, work, rng)?)
            }
            BackgroundKind::OnOff { on_mean, off_mean, start_on } => {
                Source::OnOff(OnOffSource::new(*on_mean, *off_mean, *start_on, rng)?)
            }
            BackgroundKind::Trace { trace: Trace::Jobs(rows), .. } => Source::JobsTrace(JobsTraceSource::new(rows)),
            BackgroundKind::Trace { trace: Trace::Utilisation { trace, chunk }, .. } => {
                Source::UtilisationTrace(UtilisationTraceSource::new(trace.clone(), *chunk, cores, core_speed))
            }
        })
    }

    /// What the source does first, measured from time zero (`None`: never anything). Draws as the
    /// kind's own `first_*` method.
    pub fn first_event(&mut self) -> Option<SourceEvent> {
        match self {
            Source::Poisson(source) => Some(SourceEvent::Release(source.first_release())),
            Source::Periodic(source) => Some(SourceEvent::Release(source.first_release())),
            Source::Mmpp(source) => source.first_event(),
            Source::OnOff(source) => Some(SourceEvent::StateChange(source.first_change())),
            Source::JobsTrace(source) => source.first_release().map(SourceEvent::Release),
            Source::UtilisationTrace(source) => source.first_release().map(SourceEvent::Release),
        }
    }

    /// The work released at `now`, a release time the source named ([`SourceEvent::Release`]), and
    /// what it does next. An on/off source releases nothing this way ([`Released::NOTHING`]): its job
    /// starts at [`Change::TurnedOn`].
    pub fn release(&mut self, now: SimTime) -> Released {
        let one = |(work, next): (f64, Option<SourceEvent>)| Released { jobs: 1, work_per_job: work, next };
        match self {
            Source::Poisson(source) => one(source.release(now)),
            Source::Periodic(source) => one(source.release()),
            Source::Mmpp(source) => one(source.release(now)),
            Source::OnOff(_) => Released::NOTHING,
            Source::JobsTrace(source) => source.release(),
            Source::UtilisationTrace(source) => source.release(now),
        }
    }

    /// The state change due at `now` ([`SourceEvent::StateChange`]) and what the source does next;
    /// [`Change::Unchanged`] and nothing next for sources without states.
    pub fn change_state(&mut self, now: SimTime) -> Changed {
        match self {
            Source::Mmpp(source) => source.change_state(now),
            Source::OnOff(source) => source.toggle(now),
            Source::Poisson(_) | Source::Periodic(_) | Source::JobsTrace(_) | Source::UtilisationTrace(_) => {
                Changed { change: Change::Unchanged, next: None }
            }
        }
    }
}

/// The time `SimTime::from_secs_f64` of one draw of `gaps`.
fn exp_span(rng: &mut ProcessRng, gaps: &Exp<f64>) -> SimTime {
    SimTime::from_secs_f64(gaps.sample(rng))
}

/// A span uniform in `[0, max)`, one draw (none, and zero, when `max` is zero).
fn uniform_span(rng: &mut ProcessRng, max: SimTime) -> SimTime {
    if max.0 == 0 {
        SimTime::ZERO
    } else {
        SimTime(rng.random_range(0..max.0))
    }
}

/// Poisson arrivals at `rate` per second: exponential gaps, independent work.
#[derive(Debug, Clone)]
pub struct PoissonSource {
    rng: ProcessRng,
    /// Gaps between arrivals, seconds: exponential of mean `1 / rate`.
    gaps: Exp<f64>,
    work: WorkSampler,
}

impl PoissonSource {
    /// Arrivals at `rate` per second with work from `work`.
    ///
    /// # Errors
    /// [`ParameterError`] if `rate` is not positive and finite, or for invalid work.
    pub fn new(rate: f64, work: &WorkDistribution, rng: ProcessRng) -> Result<PoissonSource, ParameterError> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(ParameterError(format!("rate must be positive, got {rate}")));
        }
        let mean_gap_s = 1.0 / rate;
        let gaps = Exp::new(1.0 / mean_gap_s).map_err(|e| ParameterError(format!("rate {rate}: {e}")))?;
        Ok(PoissonSource { rng, gaps, work: work.sampler()? })
    }

    /// The first arrival: one gap after time zero (draws the gap).
    pub fn first_release(&mut self) -> SimTime {
        exp_span(&mut self.rng, &self.gaps)
    }

    /// The arrival at `now`: its work, then the next arrival one gap later (draws the work, then the
    /// gap).
    pub fn release(&mut self, now: SimTime) -> (f64, Option<SourceEvent>) {
        let work = self.work.sample(&mut self.rng);
        let next = now.saturating_add(exp_span(&mut self.rng, &self.gaps));
        (work, Some(SourceEvent::Release(next)))
    }
}

/// A job every `period`: the `k`-th (from 0) at `phase + k·period + U_k`, `U_k` uniform in
/// `[0, jitter)` (drawn only when `jitter` is positive).
#[derive(Debug, Clone)]
pub struct PeriodicSource {
    rng: ProcessRng,
    period: SimTime,
    phase: SimTime,
    jitter: SimTime,
    work: WorkSampler,
    /// Jobs released so far: the next is job number `released`.
    released: u64,
}

impl PeriodicSource {
    /// Releases every `period` from `phase`, each delayed by up to `jitter`.
    ///
    /// # Errors
    /// [`ParameterError`] if `period` is zero, or for invalid work.
    pub fn new(
        period: SimTime,
        phase: SimTime,
        jitter: SimTime,
        work: &WorkDistribution,
        rng: ProcessRng,
    ) -> Result<PeriodicSource, ParameterError> {
        if period.0 == 0 {
            return Err(ParameterError("period must be positive".into()));
        }
        Ok(PeriodicSource { rng, period, phase, jitter, work: work.sampler()?, released: 0 })
    }

    /// Release time of job `k`: `phase + k·period + U_k` (draws `U_k`).
    fn release_time(&mut self, k: u64) -> SimTime {
        self.phase
            .saturating_add(SimTime(self.period.0.saturating_mul(k)))
            .saturating_add(uniform_span(&mut self.rng, self.jitter))
    }

    /// Job 0's release time (draws its jitter).
    pub fn first_release(&mut self) -> SimTime {
        self.release_time(0)
    }

    /// The release of the next job: its work, then the release time of the one after it (draws the
    /// work, then that job's jitter).
    pub fn release(&mut self) -> (f64, Option<SourceEvent>) {
        let work = self.work.sample(&mut self.rng);
        self.released += 1;
        let next = self.release_time(self.released);
        (work, Some(SourceEvent::Release(next)))
    }
}

/// A Markov-modulated Poisson process: a continuous-time Markov chain over states, starting in state
/// 0; in state `i` jobs arrive at rate `rates[i]` and the chain leaves for state `j` at rate
/// `switch_rates[i][j]` (the diagonal is ignored).
///
/// At every event (an arrival or a state change) both clocks of the current state are drawn afresh —
/// they are memoryless —, the arrival's first, then the departure's; whichever comes first is the next
/// event. A state with no arrivals draws only its departure, a state nobody leaves (degenerate, but
/// allowed here) only its arrivals; a state with neither has no next event.
#[derive(Debug, Clone)]
pub struct MmppSource {
    rng: ProcessRng,
    state: usize,
    /// Arrival gaps per state, seconds (`None`: no arrivals in that state).
    arrivals: Vec<Option<Exp<f64>>>,
    /// Total rate of leaving each state, per second: `Σ_{j≠i} switch_rates[i][j]`.
    leave_rates: Vec<f64>,
    /// Time to leave each state, seconds (`None`: the state is never left).
    departures: Vec<Option<Exp<f64>>>,
    switch_rates: Vec<Vec<f64>>,
    work: WorkSampler,
}

impl MmppSource {
    /// The chain with arrival `rates` per state and `switch_rates` between states (per second), in
    /// state 0.
    ///
    /// # Errors
    /// [`ParameterError`] if there is no state, `switch_rates` is not `rates.len()` square, or a rate
    /// is not finite and non-negative; for invalid work.
    pub fn new(
        rates: &[f64],
        switch_rates: &[Vec<f64>],
        work: &WorkDistribution,
        rng: ProcessRng,
    ) -> Result<MmppSource, ParameterError> {
        let n = rates.len();
        if n == 0 {
            return Err(ParameterError("`rates` must list at least one state".into()));
        }
        if switch_rates.len() != n || switch_rates.iter().any(|row| row.len() != n) {
            return Err(ParameterError(format!("`switch_rates` must be a {n} × {n} matrix")));
        }
        if rates.iter().chain(switch_rates.iter().flatten()).any(|r| !(r.is_finite() && *r >= 0.0)) {
            return Err(ParameterError("`rates` and `switch_rates` must be finite and non-negative".into()));
        }
        let clock = |rate: f64| (rate > 0.0).then(|| Exp::new(rate).expect("a positive finite rate"));
        let leave_rates: Vec<f64> = (0..n)
            .map(|state| switch_rates[state].iter().enumerate().filter(|&(j, _)| j != state).map(|(_, q)| q).sum())
            .collect();
        Ok(MmppSource {
            rng,
            state: 0,
            arrivals: rates.iter().map(|&rate| clock(rate)).collect(),
            departures: leave_rates.iter().map(|&rate| clock(rate)).collect(),
            leave_rates,
            switch_rates: switch_rates.to_vec(),
            work: work.sampler()?,
        })
    }

    /// The chain's current state.
    pub fn state(&self) -> usize {
        self.state
    }

    /// The next event after one at `now` in the current state (draws the arrival clock, then the
    /// departure clock, each if the state has it).
    fn next_event(&mut self, now: SimTime) -> Option<SourceEvent> {
        let arrival = self.arrivals[self.state].map(|gaps| gaps.sample(&mut self.rng));
        let departure = self.departures[self.state].map(|stay| stay.sample(&mut self.rng));
        let at = |seconds: f64| now.saturating_add(SimTime::from_secs_f64(seconds));
        match (arrival, departure) {
            (Some(a), Some(b)) if a < b => Some(SourceEvent::Release(at(a))),
            (_, Some(b)) => Some(SourceEvent::StateChange(at(b))),
            (Some(a), None) => Some(SourceEvent::Release(at(a))),
            (None, None) => None,
        }
    }

    /// The first event, from time zero in state 0 (draws as at every event).
    pub fn first_event(&mut self) -> Option<SourceEvent> {
        self.next_event(SimTime::ZERO)
    }

    /// The arrival at `now`: its work, then the next event (draws the work, then the clocks).
    pub fn release(&mut self, now: SimTime) -> (f64, Option<SourceEvent>) {
        let work = self.work.sample(&mut self.rng);
        (work, self.next_event(now))
    }

    /// The chain leaves its state at `now` for state `j` with probability proportional to
    /// `switch_rates[state][j]` (one uniform draw, scaled by the leaving rate and walked through the
    /// other states in index order), then draws its next event there.
    pub fn change_state(&mut self, now: SimTime) -> Changed {
        let current = self.state;
        let mut u = self.rng.random::<f64>() * self.leave_rates[current];
        let mut next_state = current;
        for (j, q) in self.switch_rates[current].iter().enumerate().filter(|&(j, _)| j != current) {
            next_state = j;
            if u < *q {
                break;
            }
            u -= q;
        }
        self.state = next_state;
        Changed { change: Change::Moved { to: next_state }, next: self.next_event(now) }
    }
}

/// A CPU-bound process that switches on and off: exponential on- and off-periods with the given
/// means; while on it runs one job of unbounded work (the engine's), while off nothing.
#[derive(Debug, Clone)]
pub struct OnOffSource {
    rng: ProcessRng,
    /// On-periods, seconds.
    on_spans: Exp<f64>,
    /// Off-periods, seconds.
    off_spans: Exp<f64>,
    start_on: bool,
    on: bool,
}

impl OnOffSource {
    /// A process with mean on- and off-periods `on_mean`, `off_mean`, on at time zero if `start_on`
    /// (it is off until its first change: [`OnOffSource::first_change`] is then at zero).
    ///
    /// # Errors
    /// [`ParameterError`] if a mean is zero.
    pub fn new(
        on_mean: SimTime,
        off_mean: SimTime,
        start_on: bool,
        rng: ProcessRng,
    ) -> Result<OnOffSource, ParameterError> {
        if on_mean.0 == 0 || off_mean.0 == 0 {
            return Err(ParameterError("on_mean and off_mean must be positive".into()));
        }
        let spans = |mean: SimTime| Exp::new(1.0 / mean.as_secs_f64()).expect("a positive finite mean");
        Ok(OnOffSource { rng, on_spans: spans(on_mean), off_spans: spans(off_mean), start_on, on: false })
    }

    /// Whether the process is on.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// The first switch: on at zero if the process starts on (no draw), else on after an off-period
    /// (draws it).
    pub fn first_change(&mut self) -> SimTime {
        if self.start_on {
            SimTime::ZERO
        } else {
            exp_span(&mut self.rng, &self.off_spans)
        }
    }

    /// Switches at `now` and names the next switch: after an on-period if it turned on, an off-period
    /// if it turned off (draws that period).
    pub fn toggle(&mut self, now: SimTime) -> Changed {
        self.on = !self.on;
        let (change, spans) =
            if self.on { (Change::TurnedOn, &self.on_spans) } else { (Change::TurnedOff, &self.off_spans) };
        let next = now.saturating_add(exp_span(&mut self.rng, spans));
        Changed { change, next: Some(SourceEvent::StateChange(next)) }
    }
}

/// A jobs trace replayed row by row: one job per row, at its time with its work; no randomness.
#[derive(Debug, Clone)]
pub struct JobsTraceSource {
    rows: Arc<[TraceJob]>,
    /// The row released next.
    next_row: usize,
}

impl JobsTraceSource {
    /// Replays `rows` (in release order, as a parsed jobs trace gives them).
    pub fn new(rows: &Arc<[TraceJob]>) -> JobsTraceSource {
        JobsTraceSource { rows: Arc::clone(rows), next_row: 0 }
    }

    /// The first row's release time (`None` for no rows).
    pub fn first_release(&self) -> Option<SimTime> {
        self.rows.first().map(|row| row.release)
    }

    /// Releases the next row's job and names the following row's release time ([`Released::NOTHING`]
    /// once every row is out). Rows sharing a time are released one call each.
    pub fn release(&mut self) -> Released {
        let Some(row) = self.rows.get(self.next_row) else { return Released::NOTHING };
        self.next_row += 1;
        let next = self.rows.get(self.next_row).map(|row| SourceEvent::Release(row.release));
        Released { jobs: 1, work_per_job: row.work, next }
    }
}

/// A utilisation trace replayed as chunks of work on a node of a given size (see
/// [`UtilisationTrace`]); no randomness.
#[derive(Debug, Clone)]
pub struct UtilisationTraceSource {
    trace: UtilisationTrace,
    chunk: SimTime,
    cores: usize,
    core_speed: f64,
}

impl UtilisationTraceSource {
    /// Replays `trace` in chunks of `chunk` on `cores` cores of `core_speed` FLOP/s.
    pub fn new(trace: UtilisationTrace, chunk: SimTime, cores: usize, core_speed: f64) -> UtilisationTraceSource {
        UtilisationTraceSource { trace, chunk, cores, core_speed }
    }

    /// The first chunk's release time: the start of the first interval with positive utilisation.
    pub fn first_release(&self) -> Option<SimTime> {
        self.trace.first_release()
    }

    /// The chunk released at `now` ([`UtilisationTrace::chunk_at`]) and the next chunk's release time.
    pub fn release(&mut self, now: SimTime) -> Released {
        let chunk = self.trace.chunk_at(now, self.chunk, self.cores, self.core_speed);
        Released { jobs: chunk.jobs, work_per_job: chunk.work_per_job, next: chunk.next.map(SourceEvent::Release) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{process_rng, UtilisationSample};

    const MS: u64 = 1_000_000;

    fn ms(milliseconds: u64) -> SimTime {
        SimTime(milliseconds * MS)
    }

    fn constant(work: f64) -> WorkDistribution {
        WorkDistribution::Constant(work)
    }

    fn source(kind: BackgroundKind) -> Source {
        Source::new(&kind, process_rng(3, "p"), 2, 1e6).expect("valid parameters")
    }

    #[test]
    fn periodic_releases_every_period_from_its_phase() {
        let kind =
            BackgroundKind::Periodic { period: ms(250), phase: ms(40), jitter: SimTime::ZERO, work: constant(5.0) };
        let mut periodic = source(kind);
        assert_eq!(periodic.first_event(), Some(SourceEvent::Release(ms(40))));
        for k in 1..5 {
            let released = periodic.release(ms(40 + 250 * (k - 1)));
            assert_eq!(
                released,
                Released { jobs: 1, work_per_job: 5.0, next: Some(SourceEvent::Release(ms(40 + 250 * k))) }
            );
        }
        assert_eq!(periodic.change_state(ms(1)), Changed { change: Change::Unchanged, next: None });
    }

    #[test]
    fn periodic_jitter_delays_each_release_within_its_bound() {
        let kind = BackgroundKind::Periodic { period: ms(100), phase: ms(10), jitter: ms(30), work: constant(1.0) };
        let mut periodic = source(kind);
        let Some(SourceEvent::Release(mut at)) = periodic.first_event() else { panic!("a release") };
        let mut delays = Vec::new();
        for k in 0..200u64 {
            let slot = ms(10 + 100 * k);
            assert!(at >= slot && at < slot.saturating_add(ms(30)), "job {k} at {at:?}");
            delays.push(at.0 - slot.0);
            let Some(SourceEvent::Release(next)) = periodic.release(at).next else { panic!("a next release") };
            at = next;
        }
        // Uniform in [0, 30 ms): mean 15 ms.
        let mean_ms = delays.iter().sum::<u64>() as f64 / delays.len() as f64 / MS as f64;
        assert!((mean_ms - 15.0).abs() < 1.5, "{mean_ms}");
    }

    #[test]
    fn poisson_draws_each_jobs_work_then_the_gap_to_the_next() {
        // The draw order is what keeps results reproducible: replay it on a copy of the stream.
        let work = WorkDistribution::Exponential { mean: 100.0 };
        let mut poisson = PoissonSource::new(4.0, &work, process_rng(3, "p")).expect("valid");
        let mut replay = process_rng(3, "p");
        let gaps = Exp::new(4.0).expect("rate");
        let sampler = work.sampler().expect("valid");
        let first = poisson.first_release();
        assert_eq!(first, SimTime::from_secs_f64(gaps.sample(&mut replay)));
        let (drawn, next) = poisson.release(first);
        assert_eq!(drawn, sampler.sample(&mut replay));
        assert_eq!(
            next,
            Some(SourceEvent::Release(first.saturating_add(SimTime::from_secs_f64(gaps.sample(&mut replay)))))
        );
        // The mean gap is 1/rate.
        let mut now = first;
        let n = 20_000;
        for _ in 0..n {
            let (_, Some(SourceEvent::Release(next))) = poisson.release(now) else { panic!("a next release") };
            now = next;
        }
        let mean_gap = now.saturating_sub(first).as_secs_f64() / n as f64;
        assert!((mean_gap - 0.25).abs() < 0.01, "{mean_gap}");
    }

    #[test]
    fn on_off_toggles_between_on_and_off_periods() {
        let mut on_off = OnOffSource::new(ms(200), ms(800), false, process_rng(3, "p")).expect("valid");
        assert!(!on_off.is_on());
        let first = on_off.first_change();
        assert!(first > SimTime::ZERO, "off first: on after an off-period");
        let (mut now, mut on_total, mut off_total) = (first, 0.0, first.as_secs_f64());
        let n = 20_000;
        for k in 0..n {
            let changed = on_off.toggle(now);
            let expected = if k % 2 == 0 { Change::TurnedOn } else { Change::TurnedOff };
            assert_eq!(changed.change, expected);
            assert_eq!(on_off.is_on(), k % 2 == 0);
            let Some(SourceEvent::StateChange(next)) = changed.next else { panic!("a next switch") };
            let span = next.saturating_sub(now).as_secs_f64();
            if on_off.is_on() {
                on_total += span;
            } else {
                off_total += span;
            }
            now = next;
        }
        // Means 0.2 s on, 0.8 s off.
        assert!((on_total / (n / 2) as f64 - 0.2).abs() < 0.01, "{on_total}");
        assert!((off_total / (n / 2 + 1) as f64 - 0.8).abs() < 0.04, "{off_total}");
        // Starting on: the switch on is at zero, and no draw is made for it.
        let mut starts_on = OnOffSource::new(ms(200), ms(800), true, process_rng(3, "p")).expect("valid");
        assert_eq!(starts_on.first_change(), SimTime::ZERO);
        let mut replay = process_rng(3, "p");
        let on_span = SimTime::from_secs_f64(Exp::new(5.0).expect("rate").sample(&mut replay));
        assert_eq!(starts_on.toggle(SimTime::ZERO).next, Some(SourceEvent::StateChange(on_span)));
    }

    #[test]
    fn mmpp_with_degenerate_states_follows_the_only_moves_it_has() {
        // State 0: no arrivals, left only for state 2; state 1: unreachable; state 2: arrivals, never
        // left (absorbing).
        let kind = BackgroundKind::Mmpp {
            rates: vec![0.0, 7.0, 10.0],
            switch_rates: vec![vec![0.0, 0.0, 3.0], vec![1.0, 0.0, 0.0], vec![0.0, 0.0, 0.0]],
            work: constant(2.0),
        };
        let mut mmpp = source(kind);
        let Some(SourceEvent::StateChange(change_at)) = mmpp.first_event() else { panic!("state 0 only leaves") };
        let changed = mmpp.change_state(change_at);
        assert_eq!(changed.change, Change::Moved { to: 2 });
        let Some(SourceEvent::Release(mut at)) = changed.next else { panic!("state 2 only releases") };
        for _ in 0..100 {
            let released = mmpp.release(at);
            assert_eq!((released.jobs, released.work_per_job), (1, 2.0));
            let Some(SourceEvent::Release(next)) = released.next else { panic!("still releasing") };
            assert!(next >= at);
            at = next;
        }
        let Source::Mmpp(chain) = &mmpp else { panic!("an MMPP source") };
        assert_eq!(chain.state(), 2);
        // A state with neither arrivals nor departures: nothing ever happens.
        let silent = BackgroundKind::Mmpp { rates: vec![0.0], switch_rates: vec![vec![0.0]], work: constant(1.0) };
        assert_eq!(source(silent).first_event(), None);
    }

    #[test]
    fn mmpp_leaves_for_each_state_in_proportion_to_its_switch_rate() {
        // From state 0: to 1 at 1/s, to 2 at 3/s; states 1 and 2 go straight back to 0.
        let rates = [0.0, 0.0, 0.0];
        let switch_rates = vec![vec![0.0, 1.0, 3.0], vec![5.0, 0.0, 0.0], vec![5.0, 0.0, 0.0]];
        let mut mmpp = MmppSource::new(&rates, &switch_rates, &constant(1.0), process_rng(3, "p")).expect("valid");
        let mut to_two = 0;
        let n = 20_000;
        let mut now = SimTime::ZERO;
        for _ in 0..n {
            let out = mmpp.change_state(now);
            let Change::Moved { to } = out.change else { panic!("{out:?}") };
            to_two += usize::from(to == 2);
            let back = mmpp.change_state(now);
            assert_eq!(back.change, Change::Moved { to: 0 });
            let Some(SourceEvent::StateChange(next)) = back.next else { panic!("{back:?}") };
            now = next;
        }
        let share = to_two as f64 / n as f64;
        assert!((share - 0.75).abs() < 0.01, "{share}");
    }

    #[test]
    fn jobs_trace_replays_its_rows_then_stops() {
        let rows: Arc<[TraceJob]> =
            [(0, 1e3), (0, 2e3), (500, 3e3)].map(|(t, work)| TraceJob { release: ms(t), work }).into();
        let kind = BackgroundKind::Trace { file: "t.csv".into(), time_scale: 1.0, trace: Trace::Jobs(rows) };
        let mut trace = source(kind);
        assert_eq!(trace.first_event(), Some(SourceEvent::Release(SimTime::ZERO)));
        let release = |jobs, work_per_job, next: Option<u64>| Released {
            jobs,
            work_per_job,
            next: next.map(|t| SourceEvent::Release(ms(t))),
        };
        assert_eq!(trace.release(SimTime::ZERO), release(1, 1e3, Some(0)));
        assert_eq!(trace.release(SimTime::ZERO), release(1, 2e3, Some(500)));
        assert_eq!(trace.release(ms(500)), release(1, 3e3, None));
        assert_eq!(trace.release(ms(600)), Released::NOTHING);
    }

    #[test]
    fn utilisation_trace_releases_chunks_sized_to_the_node() {
        // u = 0.5 for 1 s on 2 cores of 1 MFLOP/s, in chunks of 400 ms: one job a full core's worth.
        let samples = [(0, 0.5), (1000, 0.0)].map(|(t, u)| UtilisationSample { start: ms(t), utilisation: u });
        let trace = UtilisationTrace { samples: samples.into(), end: ms(2000) };
        let kind = BackgroundKind::Trace {
            file: "u.csv".into(),
            time_scale: 1.0,
            trace: Trace::Utilisation { trace, chunk: ms(400) },
        };
        let mut chunks = source(kind);
        assert_eq!(chunks.first_event(), Some(SourceEvent::Release(SimTime::ZERO)));
        let first = chunks.release(SimTime::ZERO);
        assert_eq!((first.jobs, first.next), (1, Some(SourceEvent::Release(ms(400)))));
        assert!((first.work_per_job - 4e5).abs() < 1e-6, "{first:?}");
        // The interval's last chunk is cut at 1 s; the idle interval after it releases nothing.
        let last = chunks.release(ms(800));
        assert_eq!((last.jobs, last.next), (1, None));
        assert!((last.work_per_job - 2e5).abs() < 1e-6, "{last:?}");
    }

    #[test]
    fn invalid_parameters_name_what_is_wrong() {
        let message = |kind: BackgroundKind| Source::new(&kind, process_rng(3, "p"), 1, 1.0).unwrap_err().0;
        assert_eq!(message(BackgroundKind::Poisson { rate: 0.0, work: constant(1.0) }), "rate must be positive, got 0");
        assert_eq!(
            message(BackgroundKind::Periodic {
                period: SimTime::ZERO,
                phase: SimTime::ZERO,
                jitter: SimTime::ZERO,
                work: constant(1.0)
            }),
            "period must be positive"
        );
        assert_eq!(
            message(BackgroundKind::OnOff { on_mean: ms(1), off_mean: SimTime::ZERO, start_on: false }),
            "on_mean and off_mean must be positive"
        );
        assert_eq!(
            message(BackgroundKind::Mmpp {
                rates: vec![1.0, 2.0],
                switch_rates: vec![vec![0.0, 1.0]],
                work: constant(1.0)
            }),
            "`switch_rates` must be a 2 × 2 matrix"
        );
        assert!(message(BackgroundKind::Poisson { rate: 1.0, work: constant(-1.0) })
            .contains("constant work must be positive"));
    }
}
