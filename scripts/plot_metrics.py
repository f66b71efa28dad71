#!/usr/bin/python3
"""Draws the loss and metric curves of a run from its metrics.jsonl to a PNG.

usage: scripts/plot_metrics.py RUN_DIR/metrics.jsonl [-o OUT.png]

One panel for the training loss (and the gradient norm before clipping on a second axis), one
per validation metric. Needs Debian's python3-matplotlib (scripts/setup.sh installs it).
"""
import argparse
import json
import math
import os
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", help="metrics.jsonl of a run")
    parser.add_argument("-o", "--output", help="PNG to write (default: beside the input, metrics.png)")
    args = parser.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_metrics: matplotlib is missing: apt-get install python3-matplotlib", file=sys.stderr)
        return 1
    train, val = [], []
    try:
        with open(args.metrics, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    # A run killed mid-write can leave a partial last line: skip it, say so.
                    print(f"plot_metrics: {args.metrics}:{n}: skipped unreadable line ({e.msg})", file=sys.stderr)
                    continue
                (val if row.get("split") == "val" else train).append(row)
    except OSError as e:
        print(f"plot_metrics: cannot read {args.metrics}: {e.strerror}", file=sys.stderr)
        return 1
    train = [r for r in train if "event" not in r and r.get("loss") is not None]
    if not train and not val:
        print(f"plot_metrics: {args.metrics}: no metrics to plot", file=sys.stderr)
        return 1
    skip = {"split", "step", "epoch", "best", "elapsed_s"}
    names = sorted({k for r in val for k, v in r.items() if k not in skip and isinstance(v, (int, float))})
    has_val_loss = "loss" in names
    names = [n for n in names if n != "loss"]  # drawn with the training loss
    fig, axes = plt.subplots(1 + len(names), 1, figsize=(8, 3 * (1 + len(names))), squeeze=False)
    ax = axes[0][0]
    ax.plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss")
    if has_val_loss:
        ax.plot([r["step"] for r in val], [r.get("loss") for r in val], "o-", label="val loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(loc="upper left")
    norms = [(r["step"], r["grad_norm"]) for r in train if isinstance(r.get("grad_norm"), (int, float))]
    if norms:
        ax2 = ax.twinx()
        ax2.plot([s for s, _ in norms], [g for _, g in norms], color="gray", alpha=0.5, label="grad norm (before clipping)")
        ax2.set_ylabel("grad norm")
        ax2.legend(loc="upper right")
    for i, name in enumerate(names, 1):
        pts = [(r["step"], r[name]) for r in val if isinstance(r.get(name), (int, float)) and math.isfinite(r[name])]
        a = axes[i][0]
        a.plot([s for s, _ in pts], [v for _, v in pts], "o-")
        a.set_xlabel("step")
        a.set_ylabel(f"val {name}")
    fig.tight_layout()
    out = args.output or os.path.join(os.path.dirname(args.metrics) or ".", "metrics.png")
    fig.savefig(out, dpi=100)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
