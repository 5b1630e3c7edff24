#!/bin/bash
# flexrnn vs SimPy on whole processes, side by side (issue 14): M/M/1 FIFO and M/M/1-PS, λ = 0.8,
# µ = 1, 1 250 000 s simulated (about 1M jobs). flexrnn runs scenarios/bench/mm1-{fifo,ps}.yaml
# (every output file on, jobs.csv ~78 MB) and mm1-{fifo,ps}-summary.yaml (`output: { jobs: false }`:
# summaries only); the peers are benches/peers/simpy_mm1.py (simpy.Resource) and simpy_mm1_ps.py
# (the event-driven PS loop as a SimPy process), which keep only the mean response time. Runs are
# alternated (flexrnn, SimPy, flexrnn, … for each discipline) REPS times; prints each
# configuration's median wall time and peak RSS (/usr/bin/time) and the median over the rounds of
# the ratio SimPy / flexrnn.
#
#   cargo build --release && pip install simpy && benches/peers/run.sh [REPS]     # REPS default 3
#
# Environment: FLEXRNN (default target/release/flexrnn), PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
FLEXRNN="${FLEXRNN:-target/release/flexrnn}"
PYTHON="${PYTHON:-python3}"
REPS="${1:-3}"
[ -x "$FLEXRNN" ] || { echo "no $FLEXRNN: run cargo build --release first" >&2; exit 1; }
"$PYTHON" -c "import simpy" 2>/dev/null || { echo "no simpy for $PYTHON: pip install simpy" >&2; exit 1; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
times="$out/times"
: >"$times"

# measure LABEL COMMAND…: appends "LABEL seconds max_rss_kib" to $times.
measure() {
    local label="$1"
    shift
    /usr/bin/time -f "%e %M" -o "$out/t" "$@" >"$out/log" 2>&1 || { cat "$out/log" >&2; exit 1; }
    echo "$label $(cat "$out/t")" >>"$times"
}

for rep in $(seq "$REPS"); do
    for kind in fifo ps; do
        peer=benches/peers/simpy_mm1.py
        [ "$kind" = ps ] && peer=benches/peers/simpy_mm1_ps.py
        measure "flexrnn-$kind-summary" "$FLEXRNN" run "scenarios/bench/mm1-$kind-summary.yaml" --out "$out/s" --jobs 1
        measure "simpy-$kind" "$PYTHON" "$peer" 1250000
        measure "flexrnn-$kind-files" "$FLEXRNN" run "scenarios/bench/mm1-$kind.yaml" --out "$out/f" --jobs 1
    done
    echo "round $rep of $REPS done" >&2
done

"$PYTHON" - "$times" "$REPS" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
by = {}
for label, secs, rss in rows:
    by.setdefault(label, []).append((float(secs), int(rss)))
med = {k: statistics.median(s for s, _ in v) for k, v in by.items()}
peak = {k: max(r for _, r in v) / 1024 for k, v in by.items()}
print(f"M/M/1, ~1M jobs, whole process, median of {sys.argv[2]} alternated runs each")
print()
print("| measurement | flexrnn | SimPy 4 | SimPy / flexrnn |")
print("|---|---|---|---|")
for kind, name in [("fifo", "M/M/1 FIFO"), ("ps", "M/M/1-PS")]:
    for what, text in [("summary", "summaries only"), ("files", "every file (jobs.csv 78 MB)")]:
        f, p = f"flexrnn-{kind}-{what}", f"simpy-{kind}"
        # The ratio of each round's neighbouring runs, then the median of those ratios.
        ratio = statistics.median(ps / fs for (fs, _), (ps, _) in zip(by[f], by[p]))
        print(f"| {name}, {text} | {med[f]:.2f} s, peak {peak[f]:.0f} MiB | {med[p]:.2f} s, peak {peak[p]:.0f} MiB | {ratio:.1f}× |")
PY
