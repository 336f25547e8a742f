#!/usr/bin/python3
"""The 2-replica speedup of `scaling` runs, grouped by how fast the slower core was in each round.

Usage: python3 benchmarks/scaling_by_core.py SCALING.json [...]

Each file is the output of `TfSyncBN.Benchmarks.dll scaling OUT ROUNDS STEPS`: per round, the ratio of the 1-replica
step time to the 2-replica step time (`roundRatios`) and every core's in-cache 256^3 product rate taken just before
the round (`coreGemmGflops`). A round's core share is its slower core's rate over the best rate of its run. Prints a
Markdown table: per band of that share, the rounds, the speedup's median [quartiles], and how many reached 1.8x.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import quartiles_of  # noqa: E402

BANDS = [(0.0, 0.80), (0.80, 0.85), (0.85, 0.90), (0.90, 0.95), (0.95, 1.0)]


def rounds(paths):
    """(share of the best, speedup) for every round of every file."""
    for path in paths:
        run = json.load(open(path))
        rates, ratios = run["coreGemmGflops"], run["roundRatios"]
        best = max(max(r) for r in rates)
        for r, ratio in zip(rates, ratios):
            yield min(r) / best, ratio


def table(paths):
    data = list(rounds(paths))
    lines = [f"{len(paths)} runs, {len(data)} rounds", "",
             "| slower core, share of the run's best rate | rounds | speedup, median [quartiles] | rounds ≥ 1.8x |",
             "|---|---|---|---|"]
    for lo, hi in BANDS:
        band = [ratio for share, ratio in data if lo <= share < hi or (hi == 1.0 and share == 1.0)]
        if not band:
            lines.append(f"| {lo:.2f}-{hi:.2f} | 0 | | |")
            continue
        lines.append(f"| {lo:.2f}-{hi:.2f} | {len(band)} | {quartiles_of(band)} | "
                     f"{sum(r >= 1.8 for r in band)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(table(sys.argv[1:]))
