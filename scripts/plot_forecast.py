#!/usr/bin/python3
"""Draws a series' recent history, a seqtorch-forecast forecast and its intervals to a PNG.

usage: scripts/plot_forecast.py --data SERIES.csv --target COL [--time-column COL]
                                --forecast FORECAST.csv [--history N] [-o OUT.png]

FORECAST.csv is what `seqtorch-forecast predict` writes (step[,time],COL[,COL_lo80,COL_hi80,
COL_lo95,COL_hi95]). For the built-in series, `seqtorch-forecast data --output series.csv` writes
SERIES.csv. Needs Debian's python3-matplotlib (scripts/setup.sh installs it).
"""
import argparse
import csv
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--time-column")
    p.add_argument("--forecast", required=True)
    p.add_argument("--history", type=int, default=168, help="history steps to show (default 168)")
    p.add_argument("-o", "--output", default="forecast.png")
    a = p.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_forecast: matplotlib is missing: apt-get install python3-matplotlib", file=sys.stderr)
        return 1
    try:
        with open(a.data, newline="") as f:
            rows = list(csv.DictReader(f))
        with open(a.forecast, newline="") as f:
            fc = list(csv.DictReader(f))
    except OSError as e:
        print(f"plot_forecast: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    for name, table, col in ((a.data, rows, a.target), (a.forecast, fc, a.target)):
        if not table or col not in table[0]:
            print(f"plot_forecast: {name}: no column '{col}'", file=sys.stderr)
            return 1
    hist = rows[-a.history:]
    n = len(rows)

    def x_of(i, row):
        if a.time_column and a.time_column in row:
            try:
                return float(row[a.time_column])
            except ValueError:
                pass
        return float(i)

    hx = [x_of(n - len(hist) + i, r) for i, r in enumerate(hist)]
    hy = [float(r[a.target]) for r in hist]
    fx = [float(r["time"]) if "time" in r else float(n - 1 + int(r["step"])) for r in fc]
    fy = [float(r[a.target]) for r in fc]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(hx, hy, color="black", label="history")
    for level, alpha in (("95", 0.15), ("80", 0.3)):
        lo, hi = f"{a.target}_lo{level}", f"{a.target}_hi{level}"
        if lo in fc[0]:
            ax.fill_between(fx, [float(r[lo]) for r in fc], [float(r[hi]) for r in fc],
                            color="tab:blue", alpha=alpha, label=f"{level}% interval")
    ax.plot(fx, fy, color="tab:blue", label="forecast")
    ax.set_xlabel(a.time_column or "step")
    ax.set_ylabel(a.target)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(a.output, dpi=100)
    print(a.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
