#!/usr/bin/env python3
"""Training speed side by side: `flexrnn train` and the PyTorch peer (torch_train.py) on the same
model, batch size and number of sequences, run alternately (flexrnn, torch, flexrnn, torch, …),
`--runs` times each, on 1 and 2 threads; prints the median sequences per second and the ratio.
flexrnn on T threads runs `--threads T --micro-batches M` (`--configs T:M,…`, default 1:1 and 2:2:
plain mini-batches on one thread, and each mini-batch split in two halves computed at once on two
threads); torch runs with `torch.set_num_threads(T)`.

flexrnn's rate is the card's training sequences × epochs / `train_wall_s` (the training loop with its
per-epoch validation score, without start-up, the test score or the card); torch's covers its
training loop only.

Usage (from the repository, after `cargo build --release`):
  benches/peers/train_speed.py [--flexrnn target/release/flexrnn] [--runs 3] [--cases digits,adding]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# name: (flexrnn arguments after `train`, torch_train.py arguments, epochs)
CASES = {
    "digits": ("--family gru --task digits --widths 128 --batch-size 32 --learning-rate 0.01 --seed 1",
               "--task digits --hidden 128 --batch 32", 3),
    "adding": ("--family gru --task adding-T100 --widths 128 --batch-size 64 --learning-rate 0.01 --seed 1",
               "--task adding-T100 --hidden 128 --batch 64", 1),
}


def flexrnn_rate(binary, arguments, epochs, threads, micro_batches):
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "model")
        command = [binary, "train", *arguments.split(), "--epochs", str(epochs), "--out", out,
                   "--threads", str(threads), "--micro-batches", str(micro_batches)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        card = json.load(open(os.path.join(out, "card.json")))
    sequences = len(card["training"]["split"]["train"]) if "split" in card["training"] else None
    if sequences is None:
        sequences = 10000  # the adding ids' training part (src/data/task.rs)
    return sequences * epochs / card["models"][0]["train_wall_s"]


def torch_rate(arguments, epochs, threads):
    command = [sys.executable, os.path.join(HERE, "torch_train.py"), *arguments.split(),
               "--epochs", str(epochs), "--threads", str(threads)]
    line = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(re.search(r"([0-9.]+) seq/s", line).group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--flexrnn", default=os.path.join(ROOT, "target/release/flexrnn"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", default="digits,adding")
    parser.add_argument("--configs", default="1:1,2:2", help="THREADS:MICRO_BATCHES of flexrnn, comma-separated")
    args = parser.parse_args()
    print("| case | threads | flexrnn micro-batches | flexrnn seq/s (median) | torch seq/s (median) | flexrnn / torch |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in args.cases.split(","):
        ours_arguments, torch_arguments, epochs = CASES[name]
        for config in args.configs.split(","):
            threads, micro_batches = (int(v) for v in config.split(":"))
            ours, theirs = [], []
            for _ in range(args.runs):
                ours.append(flexrnn_rate(args.flexrnn, ours_arguments, epochs, threads, micro_batches))
                theirs.append(torch_rate(torch_arguments, epochs, threads))
            a, b = statistics.median(ours), statistics.median(theirs)
            runs = ", ".join(f"{x:.0f}/{y:.0f}" for x, y in zip(ours, theirs))
            print(f"| {name} | {threads} | {micro_batches} | {a:.0f} | {b:.0f} | {a / b:.2f} |   runs: {runs}",
                  flush=True)


if __name__ == "__main__":
    main()
