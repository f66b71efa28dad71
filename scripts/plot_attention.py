#!/usr/bin/python3
"""Draws attention (alignment) matrices of translations to a PNG.

usage: scripts/plot_attention.py ATTENTION.json -o OUT.png

ATTENTION.json: a list of {"source": [tokens], "target": [tokens], "weights": [[...], ...]}
(one row per target token, one column per source token), as `seqtorch-translate translate
--show-attention OUT.png` writes it. One panel per translation. Needs python3-matplotlib.
"""
import argparse
import json
import math
import os
import sys
import tempfile


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("attention", help="JSON list of {source, target, weights}")
    parser.add_argument("-o", "--output", required=True, help="PNG to write")
    args = parser.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_attention: matplotlib is missing: apt-get install python3-matplotlib", file=sys.stderr)
        return 1
    try:
        with open(args.attention, encoding="utf-8") as f:
            items = json.load(f)
        for it in items:
            rows, cols = len(it["weights"]), len(it["weights"][0]) if it["weights"] else 0
            if rows != len(it["target"]) or cols != len(it["source"]):
                raise ValueError(f"weights {rows}x{cols} do not match {len(it['target'])} target and "
                                 f"{len(it['source'])} source tokens")
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        print(f"plot_attention: {args.attention}: {e}", file=sys.stderr)
        return 1
    if not items:
        print(f"plot_attention: {args.attention}: no translations", file=sys.stderr)
        return 1
    shown = lambda t: "\u2423" if t == " " else t
    columns = min(2, len(items))
    lines = math.ceil(len(items) / columns)
    fig, axes = plt.subplots(lines, columns, squeeze=False,
                             figsize=(6 * columns, 0.5 + 4.5 * lines))
    for ax in axes.flat[len(items):]:
        ax.axis("off")
    for ax, it in zip(axes.flat, items):
        ax.imshow(it["weights"], cmap="Greys", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(it["source"])))
        ax.set_xticklabels([shown(t) for t in it["source"]], rotation=90, fontsize=7)
        ax.set_yticks(range(len(it["target"])))
        ax.set_yticklabels([shown(t) for t in it["target"]], fontsize=7)
        ax.set_xlabel("source")
        ax.set_ylabel("translation")
    fig.tight_layout()
    # Atomic: a temporary PNG beside the target, renamed over it.
    folder = os.path.dirname(os.path.abspath(args.output))
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=folder)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, args.output)
    except OSError as e:
        os.unlink(tmp)
        print(f"plot_attention: {args.output}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
