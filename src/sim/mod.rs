//! The simulation kernel: integer time, a deterministic event queue and one event loop.
//!
//! **Invariant:** this module knows only time and events. It has no notion of nodes, jobs, schedulers
//! or neural networks; a [`Model`] supplies the event type and the handler.
//!
//! # Ordering guarantees
//! Events are popped in increasing `(time, sequence number)` order, where the sequence number counts
//! every `schedule` call of a simulation. Two events at the same time are therefore handled in the order
//! they were scheduled (first in, first out), which makes every run with the same inputs identical.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Simulation time in integer nanoseconds, used both for instants and for spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimTime(pub u64);

impl SimTime {
    /// Time zero.
    pub const ZERO: SimTime = SimTime(0);
    /// The largest time, used as "never".
    pub const MAX: SimTime = SimTime(u64::MAX);
    /// Nanoseconds per second.
    pub const NANOS_PER_SEC: u64 = 1_000_000_000;

    /// From seconds, rounded to the nearest nanosecond (negative and NaN give zero; too large saturates).
    pub fn from_secs_f64(seconds: f64) -> SimTime {
        // Adding one half and truncating rounds half away from zero for non-negative values, like
        // `f64::round`, without a libm call on the hot path; `as` saturates and maps NaN to 0.
        let nanos = seconds * Self::NANOS_PER_SEC as f64;
        if nanos > 0.0 {
            SimTime((nanos + 0.5) as u64)
        } else {
            SimTime::ZERO
        }
    }

    /// In seconds (exact for times below 2^53 ns ≈ 104 days, rounded above).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / Self::NANOS_PER_SEC as f64
    }

    /// `self + span`, saturating at [`SimTime::MAX`].
    pub fn saturating_add(self, span: SimTime) -> SimTime {
        SimTime(self.0.saturating_add(span.0))
    }

    /// `self − earlier`, or zero if `earlier` is later.
    pub fn saturating_sub(self, earlier: SimTime) -> SimTime {
        SimTime(self.0.saturating_sub(earlier.0))
    }
}

struct Entry<E> {
    time: SimTime,
    sequence: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.sequence) == (other.time, other.sequence)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed so that `BinaryHeap` (a max-heap) pops the earliest `(time, sequence)`.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.sequence).cmp(&(self.time, self.sequence))
    }
}

/// A priority queue of events keyed by `(time, sequence number)`; see the module's ordering guarantees.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_sequence: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue { heap: BinaryHeap::new(), next_sequence: 0 }
    }
}

impl<E> EventQueue<E> {
    /// An empty queue with room for `capacity` pending events.
    pub fn with_capacity(capacity: usize) -> EventQueue<E> {
        EventQueue { heap: BinaryHeap::with_capacity(capacity), next_sequence: 0 }
    }

    /// Schedules `event` at `time`.
    pub fn schedule(&mut self, time: SimTime, event: E) {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.heap.push(Entry { time, sequence, event });
    }

    /// Removes and returns the earliest event.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.heap.pop().map(|entry| (entry.time, entry.event))
    }

    /// Time of the earliest event.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|entry| entry.time)
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when no event is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// What a simulated system implements: a closed event type and one handler.
pub trait Model {
    /// The events of this model (a closed enum, named as facts: `JobReleased`, `StepFinished`, …).
    type Event;
    /// Handles `event` at time `now`; new events go into `queue` (never earlier than `now`).
    fn handle(&mut self, now: SimTime, event: Self::Event, queue: &mut EventQueue<Self::Event>);
}

/// The event loop: owns the model, the queue and the clock.
pub struct Simulation<M: Model> {
    model: M,
    queue: EventQueue<M::Event>,
    now: SimTime,
    handled: u64,
}

impl<M: Model> Simulation<M> {
    /// A simulation at time zero with the given initial events.
    pub fn new(model: M, queue: EventQueue<M::Event>) -> Simulation<M> {
        Simulation { model, queue, now: SimTime::ZERO, handled: 0 }
    }

    /// The current time (of the last handled event).
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Number of events handled so far.
    pub fn events_handled(&self) -> u64 {
        self.handled
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Handles the next event; false when none is left.
    pub fn step(&mut self) -> bool {
        match self.queue.pop() {
            Some((time, event)) => {
                debug_assert!(time >= self.now, "an event was scheduled in the past");
                self.now = time;
                self.handled += 1;
                self.model.handle(time, event, &mut self.queue);
                true
            }
            None => false,
        }
    }

    /// Handles every event at or before `horizon`, then sets the clock to `horizon`.
    pub fn step_until(&mut self, horizon: SimTime) {
        while self.queue.peek_time().is_some_and(|t| t <= horizon) {
            self.step();
        }
        self.now = self.now.max(horizon);
    }

    /// Handles events until none is left.
    pub fn run(&mut self) {
        while self.step() {}
    }

    /// Ends the simulation and returns the model.
    pub fn into_model(self) -> M {
        self.model
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Log(Vec<(u64, &'static str)>);
    impl Model for Log {
        type Event = &'static str;
        fn handle(&mut self, now: SimTime, event: &'static str, queue: &mut EventQueue<&'static str>) {
            self.0.push((now.0, event));
            if event == "b" {
                // Scheduled at the same time as the pending "c": must come after it (FIFO).
                queue.schedule(now, "d");
            }
        }
    }

    #[test]
    fn equal_times_are_first_in_first_out() {
        let mut queue = EventQueue::default();
        queue.schedule(SimTime(5), "c0");
        queue.schedule(SimTime(1), "b");
        queue.schedule(SimTime(1), "c");
        queue.schedule(SimTime(0), "a");
        let mut sim = Simulation::new(Log(vec![]), queue);
        sim.run();
        assert_eq!(sim.into_model().0, vec![(0, "a"), (1, "b"), (1, "c"), (1, "d"), (5, "c0")]);
    }

    #[test]
    fn step_until_stops_at_horizon() {
        let mut queue = EventQueue::default();
        queue.schedule(SimTime(3), "x");
        queue.schedule(SimTime(10), "y");
        let mut sim = Simulation::new(Log(vec![]), queue);
        sim.step_until(SimTime(5));
        assert_eq!(sim.now(), SimTime(5));
        assert_eq!(sim.events_handled(), 1);
    }

    #[test]
    fn seconds_round_to_nanoseconds() {
        assert_eq!(SimTime::from_secs_f64(1.5), SimTime(1_500_000_000));
        assert_eq!(SimTime::from_secs_f64(2e-7), SimTime(200));
        assert_eq!(SimTime::from_secs_f64(-1.0), SimTime::ZERO);
        assert_eq!(SimTime(1_250_000_000).as_secs_f64(), 1.25);
    }
}
