#!/bin/bash
# Digests of everything the shipped scenarios and the shipped study write, to prove a refactoring
# changed no output byte (issue 12). Runs every scenarios/*.yaml with `flexrnn run` and
# scenarios/study-policies.yaml with `flexrnn study` into a temporary folder, then prints one
# `sha256  path` line per file, sorted. Left out: each run's manifest.json (it records wall time
# and the binary's version) and the output-folder marker.
#
#   scripts/output-digests.sh            # print the digests of target/release/flexrnn's outputs
#   scripts/output-digests.sh --check    # compare with the checked-in scripts/output-digests.sha256
#   scripts/output-digests.sh --write    # replace the checked-in digests (when outputs change on
#                                        # purpose, e.g. retrained models; say why in the commit)
#
# Environment: FLEXRNN (default target/release/flexrnn; build it first with `cargo build --release`).
# Takes about a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
FLEXRNN="${FLEXRNN:-target/release/flexrnn}"
mode="${1:-print}"
case "$mode" in print | --check | --write) ;; *) echo "usage: $0 [--check|--write]" >&2; exit 2 ;; esac
[ -x "$FLEXRNN" ] || { echo "no $FLEXRNN: run cargo build --release first" >&2; exit 1; }

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for scenario in scenarios/*.yaml; do
    name="$(basename "$scenario" .yaml)"
    case "$name" in
    study-*) "$FLEXRNN" study "$scenario" --out "$out/$name" >"$out/$name.log" 2>&1 ;;
    *) "$FLEXRNN" run "$scenario" --out "$out/$name" >"$out/$name.log" 2>&1 ;;
    esac || { cat "$out/$name.log" >&2; echo "$scenario failed" >&2; exit 1; }
    rm "$out/$name.log"
done
digests="$out/digests"
(cd "$out" && find . -type f ! -name manifest.json ! -name .flexrnn-output.json ! -name digests \
    | LC_ALL=C sort | xargs sha256sum) >"$digests"

case "$mode" in
print) cat "$digests" ;;
--write)
    cp "$digests" scripts/output-digests.sha256
    echo "wrote scripts/output-digests.sha256 ($(wc -l <"$digests") files)"
    ;;
--check)
    if diff -u scripts/output-digests.sha256 "$digests"; then
        echo "all $(wc -l <"$digests") output files byte-identical to scripts/output-digests.sha256"
    else
        echo "outputs differ from scripts/output-digests.sha256 (lines above: - checked in, + now)" >&2
        exit 1
    fi
    ;;
esac
