//! Node events per second with `n` always-present jobs (n = 1, 10, 100, 1000) on 4 cores, per
//! discipline: processor sharing with equal weights and with weights 1–4, FIFO, preemptive fixed
//! priority, EDF, round robin. One event = `next_event`, `take_completed` at it, and a new job for
//! each one that finished (same id, the next work from a fixed exponential sequence), as the engine
//! does; a round-robin quantum end is an event too. Four accounting classes, 10-ms usage bins.
//!
//! Run: `cargo bench --bench node` (a filter selects, e.g. `cargo bench --bench node -- fifo/1000`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flexrnn::node::{Discipline, FinishedJob, JobId, JobSpec, Node};
use flexrnn::sim::SimTime;
use rand::{Rng, SeedableRng};

const CORES: usize = 4;
const SPEED: f64 = 1e9;
const CLASSES: usize = 4;

/// A node with `n` jobs and the state to keep it at `n`.
struct Bench {
    node: Node,
    /// Works (mean 1 MFLOP), priorities and relative deadlines drawn once.
    works: Vec<f64>,
    priorities: Vec<u32>,
    deadlines: Vec<u64>,
    next: usize,
    unequal: bool,
    finished: Vec<FinishedJob>,
}

impl Bench {
    fn new(discipline: Discipline, n: usize, unequal: bool) -> Bench {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        let count = 1 << 14;
        let works = (0..count).map(|_| -1e6 * (1.0 - rng.random::<f64>()).ln()).collect();
        let priorities = (0..count).map(|_| rng.random_range(0..8)).collect();
        let deadlines = (0..count).map(|_| rng.random_range(1_000_000..100_000_000)).collect();
        let node = Node::with_discipline(
            discipline,
            CORES,
            SPEED,
            CLASSES,
            SimTime(10_000_000),
            SimTime(1_000 * 1_000_000_000),
        )
        .expect("valid node");
        let mut bench =
            Bench { node, works, priorities, deadlines, next: 0, unequal, finished: Vec::with_capacity(CORES * 2) };
        for i in 0..n {
            bench.submit(SimTime::ZERO, JobId(i as u64));
        }
        bench
    }

    fn submit(&mut self, now: SimTime, id: JobId) {
        let k = self.next & (self.works.len() - 1);
        self.next += 1;
        let weight = if self.unequal { (id.0 % 4 + 1) as f64 } else { 1.0 };
        let job = JobSpec {
            id,
            class: id.0 as usize % CLASSES,
            work: self.works[k],
            weight,
            priority: self.priorities[k],
            deadline: Some(SimTime(now.0 + self.deadlines[k])),
        };
        self.node.submit(now, job);
    }

    /// One event.
    fn step(&mut self) -> usize {
        let now = self.node.next_event().expect("jobs are always present");
        self.finished.clear();
        let done = self.node.take_completed(now, &mut self.finished);
        for k in 0..done {
            let id = self.finished[k].id;
            self.submit(now, id);
        }
        done
    }
}

fn node_events(c: &mut Criterion) {
    let cases: [(&str, Discipline, bool); 6] = [
        ("ps_equal", Discipline::ProcessorSharing, false),
        ("ps_weighted", Discipline::ProcessorSharing, true),
        ("fifo", Discipline::Fifo, false),
        ("priority", Discipline::FixedPriority { preemptive: true }, false),
        ("edf", Discipline::Edf, false),
        ("round_robin", Discipline::RoundRobin { quantum: SimTime(500_000), context_switch: SimTime(5_000) }, false),
    ];
    let mut group = c.benchmark_group("node_events");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(std::time::Duration::from_millis(500));
    group.measurement_time(std::time::Duration::from_secs(2));
    for (name, discipline, unequal) in cases {
        for n in [1usize, 10, 100, 1000] {
            let mut bench = Bench::new(discipline, n, unequal);
            // Past the start-up transient.
            for _ in 0..2 * n {
                bench.step();
            }
            group.bench_function(BenchmarkId::new(name, n), |b| b.iter(|| bench.step()));
        }
    }
    group.finish();
}

criterion_group!(benches, node_events);
criterion_main!(benches);
