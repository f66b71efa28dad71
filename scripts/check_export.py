#!/usr/bin/python3
"""Checks a seqtorch TorchScript export from Python (Debian's python3-torch).

usage: scripts/check_export.py forecast --bin build/bin/seqtorch-forecast --checkpoint CKPT [--workdir DIR]
       scripts/check_export.py textgen --bin build/bin/seqtorch-textgen --checkpoint CKPT [--workdir DIR]
       [--device cpu|cuda|auto]: where the app computes the numbers compared (default cpu, where the
       archive runs here; the checkpoint itself may come from a CUDA run)

forecast: writes a CSV with the columns the checkpoint's model reads (numbers of its own), asks
`seqtorch-forecast predict` for the forecast after its end, exports the checkpoint, loads the
archive with torch.jit.load and compares forward(last window) with predict's numbers (relative
difference < 1e-5); also checks that batched and other-length windows run and keep shapes.
textgen: exports the checkpoint, then checks that greedy generate() inside TorchScript gives the
same text as `seqtorch-textgen sample --temperature 0`, that the bits per character computed from
the archive's logits equal `seqtorch-textgen evaluate` on the same text, that forward(tokens,
state) run in two pieces equals one run, and that sampling with a seed repeats.
Exits 0 when every check holds, 1 otherwise.
"""
import argparse
import csv
import io
import json
import math
import os
import subprocess
import sys
import tempfile


def name_list(names):
    """Column names as one --target/--covariates value (CSV-quoted where needed)."""
    buf = io.StringIO()
    csv.writer(buf).writerow(names)
    return buf.getvalue().rstrip("\r\n") if names else ""


def fail(msg):
    print(f"check_export: FAIL: {msg}", file=sys.stderr)
    return 1


def export_and_load(args):
    """Exports args.checkpoint with args.bin into the work folder; returns (folder, archive)."""
    import torch

    work = args.workdir or tempfile.mkdtemp(prefix="seqtorch-check-")
    os.makedirs(work, exist_ok=True)
    model_path = os.path.join(work, f"{args.task}.pt")
    subprocess.run([args.bin, "export", "--checkpoint", args.checkpoint, "--output", model_path,
                    "--quiet"], check=True)
    return work, torch.jit.load(model_path)


def check_forecast(args):
    import torch

    work, m = export_and_load(args)
    names, L, H, C = list(m.names), int(m.window), int(m.horizon), int(m.targets)
    # A series of our own: a daily-like wave plus a slow drift, one column per name.
    n = L + 50
    data_path = os.path.join(work, "series.csv")
    with open(data_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t"] + names)
        for t in range(n):
            w.writerow([t] + [f"{100 + 0.02 * t + (10 - j) * math.sin(2 * math.pi * t / 24 + j):.6f}"
                              for j in range(len(names))])
    pred_path = os.path.join(work, "predict.csv")
    subprocess.run([args.bin, "predict", "--checkpoint", args.checkpoint, "--data", data_path,
                    "--target", name_list(names[:C]), "--covariates", name_list(names[C:]),
                    "--time-column", "t", "--output", pred_path, "--quiet", "--device", args.device],
                   check=True)
    with open(pred_path) as f:
        rows = list(csv.DictReader(f))
    expected = torch.tensor([[float(r[name]) for name in names[:C]] for r in rows], dtype=torch.float64)
    with open(data_path) as f:
        values = [[float(r[name]) for name in names] for r in csv.DictReader(f)]
    window = torch.tensor(values[-L:], dtype=torch.float32)
    with torch.no_grad():
        got = m(window).double()
        if got.shape != (H, C):
            return fail(f"forward([L, C+K]) returned {tuple(got.shape)}, expected {(H, C)}")
        rel = ((got - expected).abs() / expected.abs().clamp_min(1e-6)).max().item()
        print(f"forecast export: forward(window) vs predict: max relative difference {rel:.2e} "
              f"(L={L}, H={H}, C={C}, relative {m.relative}, ensemble {int(m.ensemble)})")
        if hasattr(m, "variance"):
            lo = [[float(r[name + "_lo95"]) for name in names[:C]] for r in rows]
            sd = (torch.tensor(lo, dtype=torch.float64) - expected).abs() / 1.959963984540054
            var = m.variance(window.unsqueeze(0))[0].double()
            vrel = ((var.sqrt() - sd).abs() / sd.clamp_min(1e-6)).max().item()
            print(f"forecast export: variance() vs predict's 95% interval: max relative difference {vrel:.2e}")
            if not vrel < 1e-4:
                return fail(f"variance differs from predict's interval: relative difference {vrel}")
        if not rel < 1e-5:
            return fail(f"relative difference {rel} >= 1e-5")
        batch = torch.stack([window, window * 1.01, window * 0.99])
        out = m(batch)
        if out.shape != (3, H, C) or (out[0] - m(window)).abs().max().item() > 1e-5:
            return fail("batched forward disagrees with single-window forward")
        # The shortest window the model's form reads (relative season: one season; deseason and
        # trend: the whole seasons of the trained window; ets and a combination of forms: the
        # trained window), and a longer one.
        form, season = str(m.relative), int(m.season)
        shortest = {"season": season, "deseason": (L // season) * season,
                    "trend": (L // season) * season, "ets": L}.get(form, L if "," in form else 1)
        short_len = max(L // 2, shortest)
        short = m(window[-short_len:])
        if short.shape != (H, C):
            return fail(f"a window of {short_len} steps gave shape {tuple(short.shape)}")
        longer = torch.cat([window[:5] * 0.98, window])
        if m(longer).shape != (H, C):
            return fail(f"a window of {L + 5} steps gave shape {tuple(m(longer).shape)}")
    print("forecast export: OK (Python torch.jit.load, torch", torch.__version__ + ")")
    return 0


def check_textgen(args):
    import torch

    work, m = export_and_load(args)
    prime, length = args.prime, 120
    sample = subprocess.run([args.bin, "sample", "--checkpoint", args.checkpoint, "--prime", prime,
                             "--length", str(length), "--temperature", "0", "--quiet",
                             "--device", args.device],
                            check=True, capture_output=True).stdout.decode("utf-8")
    scripted = prime + m.generate(prime, length, 0.0, 1)
    if sample.rstrip("\n") != scripted:
        return fail(f"greedy generate differs from sample --temperature 0:\n{sample!r}\n{scripted!r}")
    print(f"textgen export: greedy generate() == sample --temperature 0 ({length} symbols)")
    ids = torch.tensor(m.encode(prime + sample[:40]), dtype=torch.long).unsqueeze(1).repeat(1, 3)
    with torch.no_grad():
        whole, _ = m(ids, [])
        first, state = m(ids[:7], [])
        rest, _ = m(ids[7:], state)
        diff = (torch.cat([first, rest]) - whole).abs().max().item()
    if not diff < 1e-5:
        return fail(f"forward in two pieces differs from one run by {diff}")
    # Logits: bits per character of a text from the archive's forward, against `evaluate`.
    text_path = os.path.join(work, "text.txt")
    with open(text_path, "w", encoding="utf-8") as f:
        f.write(sample)
    ev = subprocess.run([args.bin, "evaluate", "--checkpoint", args.checkpoint, "--text", text_path,
                         "--quiet", "--device", args.device], check=True, capture_output=True).stdout.decode().strip().splitlines()[-1]
    expected_bpc = json.loads(ev)["bits_per_char"]
    ids = torch.tensor(m.encode(sample), dtype=torch.long)
    if ids.numel() >= 512:
        return fail("the check text is too long for a single stream")
    with torch.no_grad():
        logits, _ = m(ids[:-1].unsqueeze(1), [])
        nll = torch.nn.functional.cross_entropy(logits[:, 0].double(), ids[1:], reduction="sum").item()
    bpc = nll / (ids.numel() - 1) / math.log(2)
    rel = abs(bpc - expected_bpc) / expected_bpc
    print(f"textgen export: bits per character from Python {bpc:.6f}, from evaluate {expected_bpc:.6f} "
          f"(relative difference {rel:.1e})")
    if not rel < 1e-5:
        return fail(f"bits per character differ: relative difference {rel}")
    if m.generate(prime, 50, 0.9, 7) != m.generate(prime, 50, 0.9, 7):
        return fail("sampling with the same seed did not repeat")
    print(f"textgen export: OK (state carried across calls: max difference {diff:.1e}; torch {torch.__version__})")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="task", required=True)
    fc = sub.add_parser("forecast")
    fc.add_argument("--bin", required=True, help="path of seqtorch-forecast")
    fc.add_argument("--checkpoint", required=True)
    fc.add_argument("--workdir")
    fc.add_argument("--device", default="cpu")
    tg = sub.add_parser("textgen")
    tg.add_argument("--bin", required=True, help="path of seqtorch-textgen")
    tg.add_argument("--checkpoint", required=True)
    tg.add_argument("--prime", default="And ")
    tg.add_argument("--workdir")
    tg.add_argument("--device", default="cpu")
    args = p.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        return fail("python3-torch is missing: apt-get install python3-torch")
    try:
        return check_forecast(args) if args.task == "forecast" else check_textgen(args)
    except subprocess.CalledProcessError as e:
        return fail(f"{' '.join(e.cmd)} exited {e.returncode}")


if __name__ == "__main__":
    sys.exit(main())
