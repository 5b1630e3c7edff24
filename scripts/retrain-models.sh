#!/bin/bash
# Retrains the shipped model folders (issue 11's recipes): every folder with three seeds, each seed
# a separate `flexrnn train --seed N` process (at most JOBS at once), then `flexrnn seeds` combines
# them into models/<name>, shipping the first seed's weights and recording every seed's score per
# setting with the mean and standard deviation in the card. Wall times go to runs/<name>-s<N>.log.
#
#   scripts/retrain-models.sh                      # every folder, seeds 1 2 3, two at once
#   SEEDS="1" scripts/retrain-models.sh digits-thr # one folder, one seed (a trial)
#   JOBS=1 scripts/retrain-models.sh digits-gru adding-gru
#
# Environment: SEEDS (default "1 2 3"), JOBS (default 2), RUNS (default runs), FLEXRNN (default
# target/release/flexrnn; build it first with `cargo build --release`), SHIP=0 to train without
# combining into models/.
set -euo pipefail
cd "$(dirname "$0")/.."

SEEDS="${SEEDS:-1 2 3}"
JOBS="${JOBS:-2}"
RUNS="${RUNS:-runs}"
FLEXRNN="${FLEXRNN:-target/release/flexrnn}"
SHIP="${SHIP:-1}"

# name | training arguments (without --seed and --out). One line per shipped folder.
recipes() {
    cat <<'EOF'
digits-gru|--family gru --task digits --widths 16,32,64,128 --epochs 150 --batch-size 32 --learning-rate 0.01 --switch-epochs 60 --switch-member-lr 1e-3 --switch-weight-alone 0.3 --switch-weight-match 1.0
digits-thr|--family thr --task digits --widths 64 --lambda 1e-3,3e-3 --epochs 100 --batch-size 32 --learning-rate 0.01 --switch-epochs 10
digits-skipw|--family skipw --task digits --widths 64 --window 8 --k-min 1 --train-thr 0,0.75 --budget-lambda 0.05 --knob-changes 3 --thr-zero-share 0.25 --epochs 100 --batch-size 32 --learning-rate 0.01
digits-nested|--family nested --task digits --widths 16,32,64,128 --epochs 50
adding-gru|--family gru --task adding --widths 16,32,64,128 --epochs 12 --batch-size 64 --learning-rate 0.01 --switch-epochs 6 --switch-member-lr 1e-3 --switch-weight-alone 0.3 --switch-weight-match 1.0
adding-thr|--family thr --task adding --widths 64 --lambda 1e-5,1e-4 --epochs 15 --batch-size 64 --learning-rate 0.01 --switch-epochs 3
adding-thr-lstm|--family thr --cell lstm --task adding --widths 64 --lambda 1e-4,1e-3 --epochs 15 --batch-size 64 --learning-rate 0.01 --switch-epochs 3
adding-skipw|--family skipw --task adding --widths 64 --window 10 --train-thr 0,0.75 --budget-lambda 0.05 --knob-changes 3 --thr-zero-share 0.25 --epochs 15 --batch-size 64 --learning-rate 0.01
adding-nested|--family nested --task adding --widths 16,32,64 --epochs 15 --batch-size 64 --learning-rate 0.01
basic-motions-gru|--family gru --task basic-motions --widths 16,32,64 --epochs 200 --batch-size 8 --learning-rate 0.005 --clip-norm 0.5 --switch-epochs 40 --switch-member-lr 1e-3 --switch-weight-alone 0.3 --switch-weight-match 1.0
basic-motions-thr|--family thr --task basic-motions --widths 64 --lambda 1e-3,1e-2 --epochs 200 --batch-size 8 --learning-rate 0.005 --clip-norm 0.5 --switch-epochs 20
japanese-vowels-gru|--family gru --task japanese-vowels --widths 16,32,64 --epochs 60 --batch-size 16 --learning-rate 0.01 --switch-epochs 40 --switch-member-lr 1e-3 --switch-weight-alone 0.3 --switch-weight-match 1.0
pmnist5k-gru|--family gru --task pmnist5k --widths 32,64 --epochs 14 --batch-size 64 --learning-rate 0.01 --switch-epochs 4 --switch-member-lr 1e-3 --switch-weight-alone 0.3 --switch-weight-match 1.0
pmnist5k-thr|--family thr --task pmnist5k --widths 64 --lambda 1e-4 --epochs 25 --batch-size 64 --learning-rate 0.005 --thr-select 0.5,0.75,1.0
EOF
}

wanted=("$@")
selected() {
    [ ${#wanted[@]} -eq 0 ] && return 0
    local w
    for w in "${wanted[@]}"; do [ "$w" = "$1" ] && return 0; done
    return 1
}

[ -x "$FLEXRNN" ] || { echo "no $FLEXRNN: run cargo build --release first" >&2; exit 1; }
mkdir -p "$RUNS"
export RAYON_NUM_THREADS=1
export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824

# One line per training process: name seed args.
jobs_file="$(mktemp)"
trap 'rm -f "$jobs_file"' EXIT
names=()
while IFS='|' read -r name args; do
    selected "$name" || continue
    names+=("$name")
    for seed in $SEEDS; do
        [ -f "$RUNS/$name-s$seed/card.json" ] && continue # already trained: resume
        printf '%s\t%s\t%s\n' "$name" "$seed" "$args" >>"$jobs_file"
    done
done < <(recipes)
[ ${#names[@]} -gt 0 ] || { echo "no such folder; known: $(recipes | cut -d'|' -f1 | tr '\n' ' ')" >&2; exit 1; }

train_one() {
    local name="$1" seed="$2" args="$3"
    local log="$RUNS/$name-s$seed.log"
    echo "start $name seed $seed ($(date -u +%H:%M:%S))"
    # shellcheck disable=SC2086
    if /usr/bin/time -f "wall %e s" "$FLEXRNN" train $args --seed "$seed" --out "$RUNS/$name-s$seed" >"$log" 2>&1; then
        echo "done  $name seed $seed: $(tail -n 1 "$log")"
    else
        echo "FAILED $name seed $seed (see $log)" >&2
        return 1
    fi
}
export -f train_one
export RUNS FLEXRNN
status=0
if [ -s "$jobs_file" ]; then
    tr '\n' '\0' <"$jobs_file" | xargs -0 -P "$JOBS" -I{} bash -c 'IFS=$'"'"'\t'"'"' read -r n s a <<<"$1"; train_one "$n" "$s" "$a"' _ {} || status=$?
fi

if [ "$SHIP" = 1 ]; then
    for name in "${names[@]}"; do
        dirs=()
        for seed in $SEEDS; do dirs+=("$RUNS/$name-s$seed"); done
        "$FLEXRNN" seeds --out "models/$name" --force "${dirs[@]}"
    done
fi
exit $status
