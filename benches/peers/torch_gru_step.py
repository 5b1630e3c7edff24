#!/usr/bin/env python3
"""One batch-1 GRU step in PyTorch (`nn.GRUCell`, input 1, inference under `torch.no_grad()`, one
thread), the peer of `cargo bench --bench gru_step`: median over 7 rounds of the mean time of
20 000 steps, per hidden size H. Prints `H µs-per-step` lines.

Usage: benches/peers/torch_gru_step.py [--widths 16,32,64,128,256] [--input 1]
"""
import argparse
import statistics
import time

import torch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--widths", default="16,32,64,128,256")
    parser.add_argument("--input", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1)
    print("| H | torch GRUCell µs per step |")
    print("|---:|---:|")
    for hidden in (int(w) for w in args.widths.split(",")):
        cell = torch.nn.GRUCell(args.input, hidden)
        x = torch.randn(1, args.input)
        h = torch.zeros(1, hidden)
        rounds = []
        with torch.no_grad():
            for _ in range(200):
                h = cell(x, h)
            for _ in range(7):
                start = time.perf_counter()
                for _ in range(args.steps):
                    h = cell(x, h)
                rounds.append((time.perf_counter() - start) / args.steps * 1e6)
        print(f"| {hidden} | {statistics.median(rounds):.2f} |", flush=True)


if __name__ == "__main__":
    main()
