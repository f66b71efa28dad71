#!/usr/bin/env python3
"""Compares a data-parallel run with a one-process run on the same global batch.

usage: dist_compare.py RUN_A RUN_B EXPORT_A.pt EXPORT_B.pt [--rtol R] [--atol A]

Checks, and prints as one JSON line:
- the training losses logged at the same steps (metrics.jsonl, split "train") and the validation
  metrics (split "val"): the largest relative difference;
- the final parameters (the TorchScript exports of each run's last checkpoint): the largest
  absolute difference over every tensor of the state dict.
Exits 1 when a difference is over the tolerance or the runs logged different steps.
"""
import argparse
import json
import math
import sys


def lines(run):
    with open(f"{run}/metrics.jsonl") as f:
        return [json.loads(l) for l in f if l.strip()]


def rel(a, b):
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run_a")
    ap.add_argument("run_b")
    ap.add_argument("export_a")
    ap.add_argument("export_b")
    ap.add_argument("--rtol", type=float, default=1e-4, help="losses and metrics: relative")
    ap.add_argument("--atol", type=float, default=1e-4, help="parameters: absolute")
    args = ap.parse_args()
    import torch

    a, b = lines(args.run_a), lines(args.run_b)
    problems = []
    keyed = lambda ls, split: {(l["split"], l["step"]): l for l in ls if l.get("split") == split and "event" not in l}
    worst_loss = 0.0
    steps = 0
    for split, fields in (("train", ["loss", "grad_norm"]), ("val", None)):
        ka, kb = keyed(a, split), keyed(b, split)
        if sorted(ka) != sorted(kb):
            problems.append(f"{split}: logged steps differ ({len(ka)} vs {len(kb)} lines)")
            continue
        for key in ka:
            names = fields or [n for n, v in ka[key].items()
                               if isinstance(v, (int, float)) and not isinstance(v, bool)
                               and n not in ("elapsed_s", "step", "epoch")]
            for n in names:
                if n in ka[key] and n in kb[key]:
                    worst_loss = max(worst_loss, rel(ka[key][n], kb[key][n]))
            steps += split == "train"
    if steps == 0:
        problems.append("no training lines to compare")
    sa = torch.jit.load(args.export_a, map_location="cpu").state_dict()
    sb = torch.jit.load(args.export_b, map_location="cpu").state_dict()
    if sorted(sa) != sorted(sb):
        problems.append("the exports hold different tensors")
    worst_param = 0.0
    for k in sa:
        if k in sb and sa[k].is_floating_point():
            worst_param = max(worst_param, (sa[k].double() - sb[k].double()).abs().max().item())
    if not math.isfinite(worst_loss) or worst_loss > args.rtol:
        problems.append(f"losses/metrics differ by {worst_loss:.3g} (relative) > {args.rtol:g}")
    if not math.isfinite(worst_param) or worst_param > args.atol:
        problems.append(f"parameters differ by {worst_param:.3g} > {args.atol:g}")
    print(json.dumps({"train_lines": steps, "max_rel_loss_diff": worst_loss, "max_abs_param_diff": worst_param,
                      "tensors": len(sa), "ok": not problems}))
    for p in problems:
        print("dist_compare: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
