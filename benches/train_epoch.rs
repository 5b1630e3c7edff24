//! One training epoch of a digits GRU classifier (hidden 32 and 128, batch 32, 1 293 sequences of 64
//! steps) through `train::train_classifier` — the forward pass, the backward pass (fused GRU
//! update and input-gate views) and AdamW — plus the per-epoch validation score with the crate's
//! inference. With mimalloc as the binary uses it. At H 128 also with 2 micro-batches per
//! mini-batch on 1 and on 2 threads (`train --micro-batches 2 --threads 1|2`: the same weights, so
//! the two differ in speed only).
//!
//! Run: `RAYON_NUM_THREADS=1 cargo bench --bench train_epoch`. Throughput is in training sequences
//! per second.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flexrnn::data::{SplitPart, Task};
use flexrnn::rnn::CellKind;
use flexrnn::train::{train_classifier, TrainConfig};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn train_epoch(c: &mut Criterion) {
    let task = Task::load("digits").expect("the digits task is embedded in the binary");
    let train = task.part(SplitPart::Train);
    let validation = task.part(SplitPart::Validation);
    let mut group = c.benchmark_group("train_epoch");
    group.sample_size(10);
    group.throughput(Throughput::Elements(train.len() as u64));
    for (hidden, micro_batches, threads) in [(32usize, 1usize, 1usize), (128, 1, 1), (128, 2, 1), (128, 2, 2)] {
        let config = TrainConfig {
            hidden,
            epochs: 1,
            batch_size: 32,
            learning_rate: 0.01,
            clip_norm: 1.0,
            seed: 1,
            cell: CellKind::Gru,
            micro_batches,
            threads,
        };
        let name = if micro_batches == 1 {
            format!("H={hidden}")
        } else {
            format!("H={hidden},micro={micro_batches},threads={threads}")
        };
        group.bench_with_input(BenchmarkId::new("digits-gru", name), &config, |b, config| {
            b.iter(|| train_classifier("bench", black_box(&train), &validation, config, |_, _, _| {}).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, train_epoch);
criterion_main!(benches);
