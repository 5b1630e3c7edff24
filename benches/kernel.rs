//! Events per second of the event loop on the M/M/1 processor-sharing scenario
//! (`scenarios/mm1-ps.yaml`, shortened to 50 000 s of simulated time, about 40 000 jobs).
//!
//! Run: `cargo bench --bench kernel`.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flexrnn::engine::EdgeWorld;
use flexrnn::metrics::MemoryRecorder;
use flexrnn::runner;
use flexrnn::scenario::Scenario;

fn mm1_ps(c: &mut Criterion) {
    let text = std::fs::read_to_string("scenarios/mm1-ps.yaml")
        .expect("run from the crate root")
        .replace("1250000s", "50000s");
    let scenario = Scenario::parse(&text, "mm1-ps.yaml", Path::new("scenarios")).expect("valid scenario");
    let resources = runner::load_resources(&scenario).expect("no resources needed");
    let plans = runner::plan_runs(&scenario, &resources).expect("one run");
    let events = {
        let setup = runner::world_setup(&scenario, &resources, &plans[0]).unwrap();
        EdgeWorld::run(setup, MemoryRecorder::default()).unwrap().events
    };
    let mut group = c.benchmark_group("kernel");
    group.throughput(Throughput::Elements(events));
    group.sample_size(20);
    group.bench_function("mm1_ps_events", |b| {
        b.iter(|| {
            let setup = runner::world_setup(&scenario, &resources, &plans[0]).unwrap();
            EdgeWorld::run(setup, MemoryRecorder::default()).unwrap().events
        })
    });
    group.finish();
}

criterion_group!(benches, mm1_ps);
criterion_main!(benches);
