#!/usr/bin/env python3
"""PyTorch peer of `flexrnn train`: the same GRU classifier / regressor, batch size and number of
training sequences, trained with torch on the CPU, reporting training sequences per second.

Model: nn.GRU(I, H, batch_first=True) and nn.Linear(H, C) on the last step's h (what flexrnn trains);
AdamW (lr 0.01, weight decay 1e-4), gradient-norm clip 1, cross-entropy (digits) or squared error
(adding). Data: digits from data/digits/digits.csv.gz (pixels / 16, 64 steps of 1 input; the first
1293 images, the size of flexrnn's training split) or the adding task (T steps of 2 inputs, 10 000
sequences, as flexrnn's `--task adding-T<T>`). The time covers the training loop only (forward,
backward, clip, step), not data loading.

Usage: torch_train.py --task digits|adding-T100 --hidden 128 --batch 32 --epochs 3 --threads 1
Prints one line: `torch <task> H=<H> batch=<B> threads=<n>: <seq/s> seq/s (<seconds> s, <n> sequences)`.
"""
import argparse
import gzip
import os
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def digits(count):
    with gzip.open(os.path.join(ROOT, "data/digits/digits.csv.gz"), "rt") as f:
        rows = [[int(v) for v in line.split(",")] for line in f if line.strip()][:count]
    xs = torch.tensor([row[:64] for row in rows], dtype=torch.float32).div(16.0).unsqueeze(-1)
    ys = torch.tensor([row[64] for row in rows], dtype=torch.long)
    return xs, ys, 10


def adding(steps, count, seed=2026):
    generator = torch.Generator().manual_seed(seed)
    values = torch.rand((count, steps), generator=generator)
    half = steps // 2
    first = torch.randint(0, half, (count,), generator=generator)
    second = torch.randint(half, steps, (count,), generator=generator)
    rows = torch.arange(count)
    markers = torch.zeros((count, steps))
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    xs = torch.stack([values, markers], dim=-1)
    ys = values[rows, first] + values[rows, second]
    return xs, ys, 1


class Model(torch.nn.Module):
    def __init__(self, inputs, hidden, outputs):
        super().__init__()
        self.gru = torch.nn.GRU(inputs, hidden, batch_first=True)
        self.readout = torch.nn.Linear(hidden, outputs)

    def forward(self, xs):
        _, h = self.gru(xs)
        return self.readout(h[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="digits")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sequences", type=int, default=0, help="training sequences (0: as flexrnn's split)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    if args.task == "digits":
        xs, ys, outputs = digits(args.sequences or 1293)
        loss_fn = torch.nn.functional.cross_entropy
    elif args.task.startswith("adding-T"):
        xs, ys, outputs = adding(int(args.task[len("adding-T"):]), args.sequences or 10000)
        loss_fn = lambda out, y: torch.nn.functional.mse_loss(out.squeeze(1), y)
    else:
        raise SystemExit(f"unknown task {args.task!r}: digits or adding-T<T>")
    model = Model(xs.shape[2], args.hidden, outputs)
    optimiser = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=1e-4)
    count = xs.shape[0]
    started = time.perf_counter()
    for _ in range(args.epochs):
        order = torch.randperm(count)
        for start in range(0, count, args.batch):
            index = order[start:start + args.batch]
            optimiser.zero_grad()
            loss = loss_fn(model(xs[index]), ys[index])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
    seconds = time.perf_counter() - started
    sequences = count * args.epochs
    print(f"torch {args.task} H={args.hidden} batch={args.batch} threads={args.threads}: "
          f"{sequences / seconds:.0f} seq/s ({seconds:.2f} s, {sequences} sequences)")


if __name__ == "__main__":
    main()
