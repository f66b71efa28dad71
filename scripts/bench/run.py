#!/usr/bin/python3
"""Runs seqtorch-bench and the PyTorch-Python peer on every workload at 1 thread and at all
cores, interleaved (ours, peer, ours, peer; the best of each kept), then prints a table and one
JSON object per workload and thread count:
  {"workload","threads","unit","ours","peer","speedup","pct_of_sgemm"}
speedup is how many times faster ours is (peer time / our time); pct_of_sgemm is our GFLOP/s
as a share of a 2048^3 matrix product through torch at the same thread count.
usage: run.py BUILD/bin/seqtorch-bench [SECONDS_PER_RUN] [WORKLOAD...]
"""
import json
import os
import subprocess
import sys

WORKLOADS = ["W1", "W2", "W3-2x512", "W3-1x128", "W4-lstm512", "W4-lstm1024", "W4-lstm256", "W4-gru512"]


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode == 3:
        return None  # peer absent
    if r.returncode != 0:
        sys.exit(f"run.py: {' '.join(cmd)} failed: {r.stderr.strip()}")
    return {d["workload"]: d for d in map(json.loads, r.stdout.strip().splitlines())}


def better(a, b):
    """The better of two measurements of one workload (higher rate or lower time)."""
    if a is None:
        return b
    lower = a["unit"] in ("ms", "us/token")
    return a if (a["value"] < b["value"]) == lower else b


def main():
    bench = sys.argv[1]
    secs = sys.argv[2] if len(sys.argv) > 2 else "3"
    chosen = sys.argv[3:] or WORKLOADS
    peer = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer_pytorch.py")
    threads = sorted({1, os.cpu_count() or 1})
    rows = []
    for t in threads:
        sgemm = run([bench, "sgemm", str(t), secs])["sgemm"]["gflops"]
        print(f"sgemm ceiling at {t} thread(s): {sgemm:.1f} GFLOP/s", file=sys.stderr)
        for w in chosen:
            ours, theirs = {}, {}
            for _ in range(2):
                for k, v in run([bench, w, str(t), secs]).items():
                    ours[k] = better(ours.get(k), v)
                p = run(["/usr/bin/python3", peer, w, str(t), secs])
                for k, v in (p or {}).items():
                    theirs[k] = better(theirs.get(k), v)
            for k, o in ours.items():
                p = theirs.get(k)
                lower = o["unit"] in ("ms", "us/token")
                speedup = None if p is None else (p["value"] / o["value"] if lower else o["value"] / p["value"])
                rows.append({"workload": k, "threads": t, "unit": o["unit"], "ours": o["value"],
                             "peer": None if p is None else p["value"], "speedup": speedup,
                             "gflops": o["gflops"], "pct_of_sgemm": 100.0 * o["gflops"] / sgemm})
                print(f"  {k} @{t}: ours {o['value']:.4g} {o['unit']}"
                      + ("" if p is None else f", pytorch {p['value']:.4g}, speedup {speedup:.2f}x"), file=sys.stderr)
    print(f"{'workload':<22}{'threads':>8}{'unit':>10}{'seqtorch':>12}{'pytorch':>12}{'speedup':>9}{'GFLOP/s':>9}{'% sgemm':>9}")
    for r in rows:
        peer_v = "-" if r["peer"] is None else f"{r['peer']:.4g}"
        sp = "-" if r["speedup"] is None else f"{r['speedup']:.2f}x"
        print(f"{r['workload']:<22}{r['threads']:>8}{r['unit']:>10}{r['ours']:>12.4g}{peer_v:>12}{sp:>9}"
              f"{r['gflops']:>9.1f}{r['pct_of_sgemm']:>8.1f}%")
    for r in rows:
        print(json.dumps({k: r[k] for k in ("workload", "threads", "unit", "ours", "peer", "speedup", "pct_of_sgemm")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
