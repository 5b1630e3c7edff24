#!/usr/bin/env python3
"""Derive a board's profile from a measured one: every duration (mean, quantiles, samples) times a
factor, the machine notes replaced by the derivation. Standard library only.

    python3 profiles/derive.py FACTOR MEASURED.csv OUT.csv "NOTE" ["NOTE" ...]
"""
import csv
import io
import sys

factor, source, out, notes = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
with open(source, newline="") as f:
    text = f.read()
kept = [line for line in text.splitlines(keepends=True) if not line.startswith("#")]
measured_notes = [line[1:].strip() for line in text.splitlines() if line.startswith("#")]
rows = list(csv.DictReader(io.StringIO("".join(kept))))
buffer = io.StringIO()
for note in notes:
    buffer.write(f"# {note}\n")
buffer.write(f"# derived_from: {source} ({'; '.join(measured_notes[:2])}; {measured_notes[4]}) x {factor}\n")
writer = csv.DictWriter(buffer, fieldnames=list(rows[0].keys()), lineterminator="\n")
writer.writeheader()
scale = lambda value: repr(float(value) * factor)
for row in rows:
    for column in ("mean_s", "p50_s", "p90_s", "p99_s"):
        row[column] = scale(row[column])
    row["samples_s"] = " ".join(scale(v) for v in row["samples_s"].split())
    writer.writerow(row)
with open(out, "x") as f:
    f.write(buffer.getvalue())
