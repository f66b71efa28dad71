#!/usr/bin/env python3
"""Simple combinations of seqtorch-forecast with ETS and Theta, from the backtests that
scripts/bench/forecast_real.sh leaves: for each series, OUT/NAME.backtest.csv (`evaluate
--output`) and OUT/NAME/metrics.json, one target series per run. Per origin and step, the mean
of the forecasts named (M: seqtorch, E: ETS, T: Theta); MASE with the backtest's own scale (its
naive MAE over its naive MASE). Prints a Markdown table: MASE per series and combination, and
how many series each has at or below the better of ETS and Theta and at or below seasonal naive
(within a relative 1e-5: a base that is a baseline run in float32 counts as equal to it).
  scripts/bench/forecast_combinations.py OUT NAME [NAME ...]
"""
import csv
import json
import os
import sys

COMBINATIONS = [("seqtorch", ["seqtorch"]), ("M+E", ["seqtorch", "ets"]), ("M+T", ["seqtorch", "theta"]),
                ("M+E+T", ["seqtorch", "ets", "theta"]), ("E+T", ["ets", "theta"])]


def mae(rows, columns):
    return sum(abs(sum(float(r[c]) for c in columns) / len(columns) - float(r["actual"])) for r in rows) / len(rows)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, names = sys.argv[1], sys.argv[2:]
    wins = {name: [0, 0] for name, _ in COMBINATIONS}
    print("| series | seasonal naive | best of ETS, Theta | " + " | ".join(n for n, _ in COMBINATIONS) + " |")
    print("|---|---:|---:|" + "---:|" * len(COMBINATIONS))
    for name in names:
        with open(os.path.join(out, name + ".backtest.csv")) as f:
            rows = list(csv.DictReader(f))
        with open(os.path.join(out, name, "metrics.json")) as f:
            metrics = json.load(f)
        scale = mae(rows, ["naive"]) / metrics["mase_naive"]
        seasonal = mae(rows, ["seasonal_naive"]) / scale
        best = min(mae(rows, ["ets"]), mae(rows, ["theta"])) / scale
        cells = []
        for label, columns in COMBINATIONS:
            v = mae(rows, columns) / scale
            # Within a relative 1e-5 counts as equal: the model's base can be a baseline run in
            # float32 (USAccDeaths' seasonal naive, WWWusage's ETS).
            wins[label][0] += v <= best * (1 + 1e-5)
            wins[label][1] += v <= seasonal * (1 + 1e-5)
            cells.append("%.3f" % v)
        print("| %s | %.3f | %.3f | %s |" % (name, seasonal, best, " | ".join(cells)))
    n = len(names)
    print("| at or below the best of ETS, Theta | | | " +
          " | ".join("%d of %d" % (wins[l][0], n) for l, _ in COMBINATIONS) + " |")
    print("| at or below seasonal naive | | | " + " | ".join("%d of %d" % (wins[l][1], n) for l, _ in COMBINATIONS) + " |")


if __name__ == "__main__":
    main()
