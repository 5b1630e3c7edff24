//! One batch-1 GRU step (input size 1, as in the digits task, and input size 64) at each width, with
//! the run-time-selected kernels and with the baseline (SSE2) kernels side by side.
//!
//! Run: `cargo bench --bench gru_step`. Throughput is reported in FLOPs per second using
//! `RnnCell::flops_per_step`.
//!
//! `gru_step_batch` steps a batch of streams in lockstep through the same weights
//! (`RnnCell::step_batch`, the matrix–matrix kernel) at batch 1, 8 and 32, H = 64 and 128, input 1 (the
//! pixel tasks); throughput is in sequence-steps per second, so the per-sequence step time is the
//! reciprocal. `single` is the batch-1 `RnnCell::step` beside it.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flexrnn::rnn::kernels::KernelIsa;
use flexrnn::rnn::{BatchScratch, CellScratch, RnnCell};
use rand::{Rng, SeedableRng};

fn cell(input: usize, hidden: usize) -> RnnCell {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(hidden as u64);
    let bound = 1.0 / (hidden as f32).sqrt();
    let mut v = |n: usize| (0..n).map(|_| rng.random_range(-bound..bound)).collect::<Vec<f32>>();
    RnnCell::gru(input, hidden, v(3 * hidden * input), v(3 * hidden * hidden), v(3 * hidden), v(3 * hidden)).unwrap()
}

fn gru_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("gru_step");
    for input in [1usize, 64] {
        for hidden in [16usize, 32, 64, 128, 256] {
            for (isa_name, isa) in [("detected", KernelIsa::detect()), ("baseline", KernelIsa::baseline())] {
                let cell = cell(input, hidden).with_isa(isa);
                let mut h = vec![0.1f32; hidden];
                let x = vec![0.5f32; input];
                let mut scratch = CellScratch::new(hidden);
                group.throughput(Throughput::Elements(cell.flops_per_step()));
                group.bench_with_input(
                    BenchmarkId::new(format!("{isa_name}/I={input}"), format!("H={hidden}")),
                    &hidden,
                    |b, _| b.iter(|| cell.step(black_box(&x), black_box(&mut h), &mut scratch)),
                );
            }
        }
    }
    group.finish();
}

fn gru_step_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("gru_step_batch");
    let input = 1usize;
    for hidden in [64usize, 128] {
        let cell = cell(input, hidden);
        let mut h = vec![0.1f32; hidden];
        let x = vec![0.5f32; input];
        let mut scratch = CellScratch::new(hidden);
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new(format!("I={input}/H={hidden}"), "single"), &hidden, |b, _| {
            b.iter(|| cell.step(black_box(&x), black_box(&mut h), &mut scratch))
        });
        for batch in [1usize, 8, 32] {
            let mut states = vec![0.1f32; batch * hidden];
            let xs = vec![0.5f32; batch * input];
            let mut scratch = BatchScratch::new(batch, hidden);
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("I={input}/H={hidden}"), format!("batch={batch}")),
                &batch,
                |b, _| b.iter(|| cell.step_batch(black_box(&xs), black_box(&mut states), &mut scratch)),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, gru_step, gru_step_batch);
criterion_main!(benches);
