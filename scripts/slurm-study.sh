#!/bin/bash
# Runs a flexrnn study as a SLURM array job: one array task per shard, each on one node's cores.
#
#   sbatch --array=1-16 scripts/slurm-study.sh scenarios/study-policies.yaml
#
# Every task runs `flexrnn study --shard I/N` (I = this task's index, N = the array's size) into
# its own folder under results/<study>-shards/; the shares are deterministic (run k belongs to
# shard k mod N + 1), so a failed task can simply be resubmitted (`sbatch --array=7 …`): runs it
# had already recorded are kept. When every task has finished, merge on any machine:
#
#   flexrnn merge scenarios/study-policies.yaml results/study-policies-shards/shard-* \
#       --out results/study-policies
#
# which writes exactly what an unsharded `flexrnn study` would (same tables, figures, report).
# Build once beforehand on the cluster's login node: cargo build --release
#SBATCH --job-name=flexrnn-study
#SBATCH --cpus-per-task=8
#SBATCH --time=01:00:00
#SBATCH --output=flexrnn-study-%A_%a.log
set -euo pipefail

study="${1:?usage: sbatch --array=1-N scripts/slurm-study.sh STUDY.yaml}"
name="$(basename "${study%.*}")"
index="${SLURM_ARRAY_TASK_ID:?run this script with sbatch --array}"
count="${SLURM_ARRAY_TASK_COUNT:?run this script with sbatch --array}"
# Shard indices are 1-based; an array given as --array=1-N has task ids 1..N.
out="results/${name}-shards/shard-${index}"

./target/release/flexrnn study "$study" --shard "${index}/${count}" --out "$out" \
    --jobs "${SLURM_CPUS_PER_TASK:-1}"
