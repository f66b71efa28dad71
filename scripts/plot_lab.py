#!/usr/bin/python3
"""Draws seqtorch-lab's results as PNG files.

usage: scripts/plot_lab.py long-memory OUT/long-memory.json --out DIR
       scripts/plot_lab.py rcnn OUT/rcnn.json --out DIR

long-memory writes DIR/long-memory-loss.png (validation loss over steps, relative to the
memoryless baseline, one panel per task and span) and DIR/long-memory-gradients.png (the norm of
dL/dh(t) over t at initialisation, log scale, one panel per task and span). rcnn writes
DIR/rcnn.png (test accuracy per data set and model, every seed as a dot, mean and spread as a
bar). seqtorch-lab runs this itself. Needs python3-matplotlib.
"""
import argparse
import json
import math
import os
import sys
import tempfile

COLOURS = {"rnn": "tab:red", "irnn": "tab:orange", "lstm": "tab:blue", "gru": "tab:green"}


def save(fig, path):
    # Atomic: a temporary name in the same folder, then rename.
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def panels(rows):
    keys = sorted({(r["task"], r["length"]) for r in rows}, key=lambda k: (k[0], k[1]))
    cols = min(4, len(keys))
    return keys, cols, (len(keys) + cols - 1) // cols


def label(r, rows, with_clip=True):
    clips = {x["clip_grad"] for x in rows}
    seeds = {x["seed"] for x in rows}
    text = r["cell"]
    if with_clip and len(clips) > 1:
        text += " clip %g" % r["clip_grad"] if r["clip_grad"] > 0 else " no clip"
    if len(seeds) > 1:
        text += " s%d" % r["seed"]
    return text


def style(r):
    return "-" if r["clip_grad"] > 0 else "--"


def panel_figure(plt, rows, out, name, title, xlabel, ylabel, draw):
    """One log-scale panel per (task, span): draw(ax, runs of that panel)."""
    keys, cols, nrows = panels(rows)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.3 * nrows), squeeze=False, constrained_layout=True)
    for ax, key in zip(axes.flat, keys):
        draw(ax, [r for r in rows if (r["task"], r["length"]) == key])
        ax.set_yscale("log")
        ax.set_title("%s, T = %d" % key)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.suptitle(title)
    save(fig, os.path.join(out, name))
    plt.close(fig)


def long_memory(plt, rows, out):
    def losses(ax, runs):
        for r in runs:
            pts = [(p["step"], p["val_loss"] / r["baseline_loss"]) for p in r["curve"]
                   if p["val_loss"] is not None and p["val_loss"] > 0]
            if pts:
                ax.plot(*zip(*pts), style(r), color=COLOURS.get(r["cell"]), label=label(r, rows))
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.axhline(0.01, color="grey", lw=0.8, ls=":")

    def gradients(ax, runs):
        # The norms do not depend on clipping: one line per cell (and seed).
        top = max(x["clip_grad"] for x in rows)
        for r in (r for r in runs if r["clip_grad"] == top):
            g = [(t, v) for t, v in enumerate(r["gradient_norms"]) if v is not None and v > 0 and math.isfinite(v)]
            if g:
                ax.plot(*zip(*g), color=COLOURS.get(r["cell"]), label=label(r, rows, with_clip=False))

    panel_figure(plt, rows, out, "long-memory-loss.png",
                 "Loss relative to the memoryless baseline (1: no memory; dotted: solved)",
                 "Adam step", "val loss / baseline", losses)
    panel_figure(plt, rows, out, "long-memory-gradients.png",
                 "Gradient reaching h(t) at initialisation (loss at the end; log scale, float64)",
                 "t", "||dL/dh(t)||", gradients)


def rcnn(plt, rows, out):
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.6 * len(datasets), 3.4), squeeze=False, constrained_layout=True)
    for ax, ds in zip(axes.flat, datasets):
        sub = [r for r in rows if r["dataset"] == ds]
        for i, r in enumerate(sub):
            colour = "tab:blue" if r["model"] == "rcnn" else "tab:grey"
            ax.bar(i, r["mean"], yerr=r["std"], color=colour, alpha=0.5, capsize=6)
            ax.plot([i] * len(r["accuracies"]), r["accuracies"], "o", color=colour, ms=4)
        ax.set_xticks(range(len(sub)))
        ax.set_xticklabels(["%s\n%d params" % (r["model"], r["parameters"]) for r in sub])
        lo = min(min(r["accuracies"]) for r in sub)
        hi = max(max(r["accuracies"]) for r in sub)
        pad = max(0.005, (hi - lo) * 0.5)
        ax.set_ylim(max(0.0, lo - pad), min(1.0, hi + pad))
        ax.set_title(ds)
        ax.set_ylabel("test accuracy")
    fig.suptitle("RCNN against a CNN with as many parameters (dots: seeds)")
    save(fig, os.path.join(out, "rcnn.png"))
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["long-memory", "rcnn"])
    parser.add_argument("results", help="the JSON seqtorch-lab wrote")
    parser.add_argument("--out", required=True, help="folder for the PNG files")
    args = parser.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_lab: matplotlib is missing: apt-get install python3-matplotlib (or pass --no-plots)", file=sys.stderr)
        return 1
    try:
        with open(args.results) as f:
            rows = json.load(f)
    except (OSError, ValueError) as e:
        print("plot_lab: %s: %s" % (args.results, e), file=sys.stderr)
        return 1
    if not rows:
        print("plot_lab: %s: no results" % args.results, file=sys.stderr)
        return 1
    (long_memory if args.kind == "long-memory" else rcnn)(plt, rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
