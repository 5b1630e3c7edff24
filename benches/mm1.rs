//! Whole M/M/1 runs, FIFO and processor sharing (λ = 0.8, µ = 1; `scenarios/bench/mm1-*.yaml`
//! shortened to 125 000 s of simulated time, about 100 000 jobs), as `flexrnn run` does them: the
//! simulation with its online statistics, the record files written row by row as the jobs finish
//! (`outputs_on`: `jobs.csv` and the empty `steps.csv`/`sequences.csv` into a temporary folder;
//! `outputs_off`: `output: { jobs: false, steps: false, sequences: false }`, summaries only), then
//! the summary, timeline and manifest bytes. Not included: loading the binary, parsing the file,
//! and publishing the folder (fsync) — `benches/peers/run.sh` times the whole process.
//!
//! Run: `cargo bench --bench mm1`.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flexrnn::metrics::{RunStats, Tee};
use flexrnn::report::{self, RecordFiles, RecordWriter};
use flexrnn::runner;
use flexrnn::scenario::Scenario;

/// One whole run of `scenario`; with `folder`, the record files go there. Returns the jobs.
fn whole_run(scenario: &Scenario, resources: &runner::Resources, folder: Option<&Path>) -> usize {
    let plans = runner::plan_runs(scenario, resources).expect("one run");
    let labels = report::labels(scenario, resources);
    let results = runner::execute_with(scenario, resources, &plans, false, |plan| {
        let open = |name: &str| folder.map(|f| std::fs::File::create(f.join(name)).expect("temporary folder"));
        let files = RecordFiles { steps: open("steps.csv"), sequences: open("sequences.csv"), jobs: open("jobs.csv") };
        Ok::<_, runner::RunError>(Tee(RunStats::new(scenario.bin()), RecordWriter::new(&labels, &plan.label, files)))
    })
    .expect("runs");
    let mut stats = Vec::new();
    let mut runs = Vec::new();
    for result in results {
        let runner::RunResult { plan, outcome, wall_time_s } = result;
        let flexrnn::engine::RunOutcome { recorder: Tee(mut run_stats, writer), nodes, events, policy_names, memory } =
            outcome;
        writer.finish().expect("record files written");
        run_stats.sort();
        stats.push(run_stats);
        let outcome = flexrnn::engine::RunOutcome { recorder: (), nodes, events, policy_names, memory };
        runs.push(runner::RunResult { plan, outcome, wall_time_s });
    }
    let files = report::outputs_with(scenario, resources, &runs, &stats, |_| Vec::new()).expect("outputs");
    std::hint::black_box(files);
    stats[0].processes[0].jobs
}

fn mm1(c: &mut Criterion) {
    let mut group = c.benchmark_group("mm1_whole_run");
    group.sample_size(10);
    let folder = tempfile::tempdir().expect("temporary folder");
    for name in ["mm1-fifo", "mm1-ps"] {
        let path = format!("scenarios/bench/{name}.yaml");
        let text = std::fs::read_to_string(&path).expect("run from the crate root").replace("1250000s", "125000s");
        let scenario = Scenario::parse(&text, &path, Path::new("scenarios/bench")).expect("valid scenario");
        let resources = runner::load_resources(&scenario).expect("no resources needed");
        let jobs = whole_run(&scenario, &resources, None);
        group.throughput(Throughput::Elements(jobs as u64));
        group.bench_function(format!("{name}/outputs_off"), |b| b.iter(|| whole_run(&scenario, &resources, None)));
        group.bench_function(format!("{name}/outputs_on"), |b| {
            b.iter(|| whole_run(&scenario, &resources, Some(folder.path())))
        });
    }
    group.finish();
}

criterion_group!(benches, mm1);
criterion_main!(benches);
