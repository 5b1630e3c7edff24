//! A node of several devices (issue 13, points 7–8): each device is its own pool of cores with its
//! own scheduler, jobs go to the device their process names, and a frame's latency spans the
//! devices its stages and step run on.

use std::path::Path;

use flexrnn::report;
use flexrnn::scenario::Scenario;
use flexrnn::validate::theory;

use crate::{root, run_text, shipped, yaml_with};

/// Response times (s) of background process `process`'s jobs, in completion order, without the first
/// `warm_up` jobs.
fn responses(result: &flexrnn::runner::RunResult, process: usize, warm_up: usize) -> Vec<f64> {
    let jobs = result.outcome.recorder.jobs.iter().filter(|j| j.process == process);
    jobs.skip(warm_up).map(|j| j.end.saturating_sub(j.release).as_secs_f64()).collect()
}

/// Two devices at once, each a textbook queue on its own: an M/M/1 FIFO queue on `cpu` (1 GFLOP/s,
/// exponential work of mean 1 GFLOP, λ = 0.5/s: E[T] = 1/(μ − λ) = 2 s) and an M/D/1 FIFO queue on
/// `gpu` (4 GFLOP/s, 1 GFLOP per job = 0.25 s, λ = 2/s, ρ = 0.5: Pollaczek–Khinchine
/// E[T] = λE[S²]/(2(1 − ρ)) + E[S] = 0.375 s). Were the two processes on one pool, the cpu's jobs
/// would queue behind the gpu's (ρ = 1 on one 1 GFLOP/s core): neither formula would hold. Each
/// device's mean response lies in its 99 % batch-means interval around the formula's value, and
/// each device's utilisation is its own ρ.
#[test]
fn each_device_is_its_own_queue_matching_theory() {
    let text = "name: two-devices\nseed: 11\nduration: 100000s\nnode:\n  devices:\n    cpu: { cores: 1, speed: 1GFLOP/s, scheduler: fifo }\n    gpu: { cores: 1, speed: 4GFLOP/s, scheduler: fifo }\nprocesses:\n  - name: a\n    kind: poisson\n    rate: 0.5/s\n    work: { exponential: { mean: 1GFLOP } }\n  - name: b\n    kind: poisson\n    device: gpu\n    rate: 2/s\n    work: { constant: 1GFLOP }\n";
    let (scenario, resources, results) = run_text(text, false);
    let cases = [
        ("M/M/1 FIFO on cpu", 0, theory::mm1_response(0.5, 1.0).unwrap()),
        (
            "M/D/1 FIFO on gpu",
            1,
            theory::mg1_fifo_response(2.0, 0.25, theory::deterministic_second_moment(0.25)).unwrap(),
        ),
    ];
    assert!((cases[0].2 - 2.0).abs() < 1e-12 && (cases[1].2 - 0.375).abs() < 1e-12);
    for (what, process, expected) in cases {
        let values = responses(&results[0], process, 1000);
        let interval = theory::batch_means_ci(&values, 30, 0.99).unwrap();
        assert!(interval.contains(expected), "{what}: {interval:?} does not contain the theory's {expected} s");
        assert!(interval.half_width / expected < 0.05, "{what}: {interval:?} too wide to tell");
    }
    let labels = report::labels(&scenario, &resources);
    let rows = report::summary_rows(&results[0], &scenario, &labels);
    let device = |name: &str| rows.iter().find(|r| r.kind == "device" && r.process == name).unwrap();
    assert!((device("cpu").utilisation - 0.5).abs() < 0.01, "{:?}", device("cpu"));
    assert!((device("gpu").utilisation - 0.5).abs() < 0.01, "{:?}", device("gpu"));
    // The node row: busy core-seconds of both devices over both devices' core-seconds.
    let node = rows.iter().find(|r| r.kind == "node").unwrap();
    let mean = (device("cpu").utilisation + device("gpu").utilisation) / 2.0;
    assert!((node.utilisation - mean).abs() < 1e-12, "{node:?}");
    assert_eq!(node.count, device("cpu").count + device("gpu").count);
}

/// The YAML of a stream whose capture stage (2 MFLOP) runs on the cpu, pose (120 MFLOP) on the gpu
/// and the RNN step (gru-16) on the cpu; frames every 10 ms, late frames run on.
fn crossing_yaml(gpu_scheduler: &str) -> String {
    format!(
        "name: crossing\nseed: 1\nduration: 1s\nnode:\n  devices:\n    cpu: {{ cores: 1, speed: 1GFLOP/s, scheduler: processor_sharing, power: {{ idle: 1W, busy: 3W }} }}\n    gpu: {{ cores: 1, speed: 10GFLOP/s, scheduler: {gpu_scheduler}, power: {{ idle: 2W, busy: 10W }} }}\nprocesses:\n  - name: s\n    kind: rnn_stream\n    device: cpu\n    dataset: digits\n    models: ../models/digits-gru\n    period: 10ms\n    deadline: 100ms\n    on_miss: continue\n    sequences: 1\n    pipeline:\n      - {{ name: capture, work: {{ constant: 2MFLOP }} }}\n      - {{ name: pose, work: {{ constant: 120MFLOP }}, after: [capture], device: gpu }}\n    policies:\n      - static: {{ model: gru-16 }}\n"
    )
}

/// A pipeline crossing devices on an otherwise idle node, by hand: frame k is released at 10k ms;
/// its capture runs on the cpu (2 MFLOP at 1 GFLOP/s = 2 ms), its pose on the gpu (120 MFLOP at
/// 10 GFLOP/s = 12 ms, FIFO: after the previous frame's pose), its step on the cpu (gru-16: 1 888
/// FLOP = 1.888 µs). Frame 0: capture 0–2, pose 2–14, step ends 14.001888 ms. Frame 1: capture
/// 10–12 (the cpu is free: the gpu works on frame 0), pose waits for the gpu until 14, 14–26, step
/// ends 26.001888 ms; frame 2's at 38.001888 ms (frame 3's step at 50 ms shares the cpu with frame
/// 5's capture, released then). On one pool the capture of frame 1 would share a core with frame
/// 0's pose.
#[test]
fn a_pipeline_crossing_devices_has_the_hand_computed_latency() {
    let (scenario, resources, results) = run_text(&crossing_yaml("fifo"), false);
    let steps = &results[0].outcome.recorder.steps;
    for k in 0..3u64 {
        let step = &steps[k as usize];
        assert_eq!(step.release.0, k * 10_000_000);
        assert_eq!(step.end.unwrap().0, 14_001_888 + k * 12_000_000, "frame {k}: {step:?}");
        assert_eq!(step.start.unwrap().0, 14_000_000 + k * 12_000_000, "the step starts when pose ends");
    }
    // Energy per device and in total (1 s run): the gpu runs the 64 frames' poses back to back from
    // 2 ms on (the backlog grows by 2 ms a frame), 64 × 12 ms = 0.768 s busy, done at 770 ms.
    let labels = report::labels(&scenario, &resources);
    let rows = report::summary_rows(&results[0], &scenario, &labels);
    let device = |name: &str| rows.iter().find(|r| r.kind == "device" && r.process == name).unwrap().clone();
    let gpu = device("gpu");
    assert!((gpu.utilisation - 0.768).abs() < 1e-9, "{gpu:?}");
    assert!((gpu.energy_j.unwrap() - (2.0 + 8.0 * 0.768)).abs() < 1e-9, "{gpu:?}");
    let cpu = device("cpu");
    let node = rows.iter().find(|r| r.kind == "node").unwrap();
    assert!((node.energy_j.unwrap() - (cpu.energy_j.unwrap() + gpu.energy_j.unwrap())).abs() < 1e-9);
    // The stream's own row: its work on both devices (dynamic energy of both).
    let stream = &rows[0];
    let cpu_busy = (cpu.energy_j.unwrap() - 1.0) / 2.0;
    assert!((stream.energy_j.unwrap() - (2.0 * cpu_busy + 8.0 * 0.768)).abs() < 1e-9, "{stream:?}");
}

/// Outputs on several devices: per-device columns in `timeline.csv` and `comparison.csv`, device
/// rows in `summary.csv`.
#[test]
fn several_devices_add_columns_and_rows() {
    let (scenario, resources, results) = run_text(&crossing_yaml("processor_sharing"), false);
    let files = report::outputs(&scenario, &resources, &results).unwrap();
    let file = |name: &str| {
        let bytes = &files.iter().find(|(path, _)| path == Path::new(name)).unwrap().1;
        String::from_utf8(bytes.clone()).unwrap()
    };
    let timeline = file("timeline.csv");
    assert!(
        timeline.starts_with("bin_start_s,background_cores,rnn_cores,cpu_background_cores,cpu_rnn_cores,gpu_background_cores,gpu_rnn_cores\n"),
        "{timeline}"
    );
    let comparison = file("comparison.csv");
    assert!(
        comparison
            .lines()
            .next()
            .unwrap()
            .ends_with(",node_energy_j,utilisation_cpu,utilisation_gpu,energy_j_cpu,energy_j_gpu"),
        "{comparison}"
    );
    let fields = comparison.lines().nth(1).unwrap().split(',').count();
    assert_eq!(fields, 16, "{comparison}");
    let summary = file("summary.csv");
    assert!(summary.contains("\ncpu,device,") && summary.contains("\ngpu,device,"), "{summary}");
}

/// A single-pool node and the same node written as `devices:` with one device give the same files.
#[test]
fn one_device_written_as_devices_gives_the_same_outputs() {
    let pool =
        "node:\n  cores: 2\n  speed: 1GFLOP/s\n  scheduler: processor_sharing\n  power: { idle: 1.5W, busy: 5W }\n";
    let devices = "node:\n  devices:\n    cpu: { cores: 2, speed: 1GFLOP/s, scheduler: processor_sharing, power: { idle: 1.5W, busy: 5W } }\n";
    let base = shipped("har-pipeline.yaml");
    let start = base.find("node:\n").unwrap();
    let end = start + base[start..].find("processes:").unwrap();
    let with_node = |node: &str| {
        let text = format!("{}{node}{}", &base[..start], &base[end..]);
        // Only the stream, the requests and the encoder on the cpu, short: the devices named in the
        // shipped file may not exist in a one-device node.
        let text = text.replace("    device: gpu\n", "").replace(", device: gpu", "");
        text.replace("duration: 200s", "duration: 20s").replace("sequences: 20", "sequences: 2")
    };
    let (s1, r1, res1) = run_text(&with_node(pool), false);
    let (s2, r2, res2) = run_text(&with_node(devices), false);
    let files1 = report::outputs(&s1, &r1, &res1).unwrap();
    let files2 = report::outputs(&s2, &r2, &res2).unwrap();
    assert_eq!(files1.len(), files2.len());
    for ((p1, b1), (p2, b2)) in files1.iter().zip(&files2) {
        assert_eq!(p1, p2);
        if p1.ends_with("manifest.json") {
            continue;
        }
        assert!(b1 == b2, "{} differs", p1.display());
    }
}

fn parse(text: &str) -> Result<Scenario, flexrnn::scenario::ScenarioError> {
    Scenario::parse(text, "d.yaml", &root().join("scenarios"))
}

const HEAD: &str = "name: d\nseed: 1\nduration: 1s\n";

#[test]
fn unknown_devices_are_located_errors_listing_the_devices() {
    let node = "node:\n  devices:\n    cpu: { cores: 1, speed: 1GFLOP/s, scheduler: fifo }\n    gpu: { cores: 1, speed: 1GFLOP/s, scheduler: fifo }\n";
    let text = format!("{HEAD}{node}processes:\n  - name: jobs\n    kind: poisson\n    rate: 1/s\n    device: tpu\n    work: {{ constant: 1MFLOP }}\n");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.file, "d.yaml");
    assert_eq!(e.location, Some((12, 5)), "{e}");
    assert_eq!(
        e.message,
        "processes[0].device: process `jobs`: device `tpu` is not a device of the node; devices: `cpu`, `gpu`"
    );
    // A stage's device, and the single-pool node's one device `cpu`.
    let text = yaml_with("har-pipeline.yaml", &[("after: [capture], device: gpu", "after: [capture], device: npu")]);
    let e = parse(&text).unwrap_err();
    assert!(
        e.message.starts_with("processes[0].pipeline.pose.device: process `har`: device `npu` is not a device"),
        "{e}"
    );
    assert_eq!(e.location.map(|l| l.0), text.lines().position(|l| l.contains("device: npu")).map(|i| i + 1));
    let pool = format!("{HEAD}node:\n  cores: 1\n  speed: 1GFLOP/s\n  scheduler: fifo\nprocesses:\n  - name: jobs\n    kind: poisson\n    rate: 1/s\n    device: gpu\n    work: {{ constant: 1MFLOP }}\n");
    let e = parse(&pool).unwrap_err();
    assert!(e.message.ends_with("device `gpu` is not a device of the node; devices: `cpu`"), "{e}");
    assert_eq!(e.location, Some((12, 5)));
    assert!(parse(&pool.replace("device: gpu", "device: cpu")).is_ok());
}

#[test]
fn devices_with_pool_fields_and_partial_power_are_refused() {
    let mixed = format!("{HEAD}node:\n  devices:\n    cpu: {{ cores: 1, speed: 1GFLOP/s, scheduler: fifo }}\n  speed: 2GFLOP/s\nprocesses: []\n");
    let e = parse(&mixed).unwrap_err();
    assert_eq!(e.location, Some((7, 3)), "{e}");
    assert!(e.message.starts_with("node: `devices` and `speed` are both given"), "{e}");
    let partial = format!("{HEAD}node:\n  devices:\n    cpu: {{ cores: 1, speed: 1GFLOP/s, scheduler: fifo, power: {{ idle: 1W, busy: 2W }} }}\n    gpu: {{ cores: 1, speed: 1GFLOP/s, scheduler: fifo }}\nprocesses: []\n");
    let e = parse(&partial).unwrap_err();
    assert_eq!(e.location, Some((7, 5)), "{e}");
    assert!(e.message.starts_with("node.devices.gpu: no `power`, but `cpu` has one"), "{e}");
    let twice = format!("{HEAD}node:\n  devices:\n    cpu: {{ cores: 1, speed: 1GFLOP/s, scheduler: fifo }}\n    cpu: {{ cores: 2, speed: 1GFLOP/s, scheduler: fifo }}\nprocesses: []\n");
    let e = parse(&twice).unwrap_err();
    assert!(e.message.contains("`cpu`") && e.location.is_some(), "{e}");
    let missing = format!("{HEAD}node:\n  cores: 1\n  scheduler: fifo\nprocesses: []\n");
    let e = parse(&missing).unwrap_err();
    assert_eq!(e.location, Some((4, 1)), "{e}");
    assert!(e.message.starts_with("node: missing field `speed`"), "{e}");
    let unknown_field = format!("{HEAD}node:\n  devices:\n    cpu: {{ cores: 1, speed: 1GFLOP/s, scheduler: fifo, memory: 1 }}\nprocesses: []\n");
    let e = parse(&unknown_field).unwrap_err();
    assert!(e.message.contains("unknown field `memory`") && e.location.map(|l| l.0) == Some(6), "{e}");
}

/// The order of `devices` is kept (the first is the default) and the builder accepts the same.
#[test]
fn device_order_is_kept_and_the_first_is_the_default() {
    let text = format!("{HEAD}node:\n  devices:\n    zeta: {{ cores: 2, speed: 1GFLOP/s, scheduler: fifo }}\n    alpha: {{ cores: 1, speed: 5GFLOP/s, scheduler: edf }}\n  memory: {{ capacity: 1MB, bandwidth: 1GB/s }}\nprocesses: []\n");
    let scenario = parse(&text).unwrap();
    let names: Vec<&str> = scenario.devices().iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha"]);
    assert_eq!(scenario.node().cores.get(), 2, "node() is the first device");
    assert_eq!(scenario.device_index(None), Some(0));
    assert_eq!(scenario.device_index(Some("alpha")), Some(1));
    assert!(scenario.memory().is_some());
    let rebuilt = scenario.to_builder().build().unwrap();
    assert_eq!(rebuilt.devices(), scenario.devices());
}

/// The offered-load warning looks at each device's own capacity and names the overloaded one.
#[test]
fn the_overload_warning_names_the_overloaded_device() {
    let text = format!("{HEAD}node:\n  devices:\n    cpu: {{ cores: 4, speed: 1GFLOP/s, scheduler: fifo }}\n    gpu: {{ cores: 1, speed: 1GFLOP/s, scheduler: fifo }}\nprocesses:\n  - name: a\n    kind: poisson\n    rate: 1/s\n    work: {{ constant: 2GFLOP }}\n  - name: b\n    kind: poisson\n    device: gpu\n    rate: 1/s\n    work: {{ constant: 1.5GFLOP }}\n");
    let scenario = parse(&text).unwrap();
    // cpu: 2 GFLOP/s of 4 GFLOP/s = 0.5; gpu: 1.5 of 1 = 1.5 (on one pool of 5 GFLOP/s: 0.7).
    assert!((scenario.offered_background_load() - 1.5).abs() < 1e-12);
    let warning = scenario.overload_warning().unwrap();
    assert!(warning.starts_with("the background processes ask for 150% of device `gpu`'s capacity"), "{warning}");
    let calm = parse(&text.replace("1.5GFLOP", "0.5GFLOP")).unwrap();
    assert!((calm.offered_background_load() - 0.5).abs() < 1e-12);
    assert!(calm.overload_warning().is_none());
}
