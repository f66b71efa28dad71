#!/usr/bin/python3
"""Runs seqtorch-bench and the PyTorch-Python peer on every workload at 1 thread and at all
cores, interleaved (ours, peer, ours, peer; the best of each kept), then prints a table and one
JSON object per workload and thread count:
  {"workload","threads","unit","ours","peer","speedup","pct_of_sgemm"}
speedup is how many times faster ours is (peer time / our time); pct_of_sgemm is our GFLOP/s
as a share of a 2048^3 matrix product through torch at the same thread count, in our process.

Our programs re-execute themselves with OPENBLAS_CORETYPE set when OpenBLAS falls back to its
generic SSE3 kernels on a CPU with AVX2/AVX-512 (seqtorch/util/blas.h). PyTorch-Python as users
run it does not; so when our BLAS core differs from the peer's, the peer also runs a second time
with OPENBLAS_CORETYPE set to ours, and the table shows that ratio too (peer_same_blas,
speedup_same_blas): what the recurrent kernels gain on their own.
usage: run.py BUILD/bin/seqtorch-bench [SECONDS_PER_RUN] [WORKLOAD...]
"""
import json
import os
import subprocess
import sys

WORKLOADS = ["W1", "W2", "W1-1x256", "W5-attn", "W3-2x512", "W3-1x128", "W4-lstm512", "W4-lstm1024",
             "W4-lstm256", "W4-gru512"]


def run(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
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
    keep = dict(os.environ, SEQTORCH_KEEP_BLAS_CORE="1")
    rows = []
    for t in threads:
        ceiling = run([bench, "sgemm", str(t), secs])["sgemm"]
        sgemm, core = ceiling["gflops"], ceiling.get("blas_core", "")
        default = run([bench, "sgemm", str(t), secs], env=keep)["sgemm"]
        same_blas = None
        if core and "OPENBLAS_CORETYPE" not in os.environ and default.get("blas_core") != core:
            same_blas = dict(os.environ, OPENBLAS_CORETYPE=core)
        print(f"sgemm ceiling at {t} thread(s): {sgemm:.1f} GFLOP/s (OpenBLAS core {core or '-'}); "
              f"{default['gflops']:.1f} with the core OpenBLAS picks itself ({default.get('blas_core') or '-'})",
              file=sys.stderr)
        for w in chosen:
            ours, theirs, theirs_same = {}, {}, {}
            for _ in range(2):
                for k, v in run([bench, w, str(t), secs]).items():
                    ours[k] = better(ours.get(k), v)
                p = run(["/usr/bin/python3", peer, w, str(t), secs])
                for k, v in (p or {}).items():
                    theirs[k] = better(theirs.get(k), v)
                if same_blas is not None and p is not None:
                    for k, v in run(["/usr/bin/python3", peer, w, str(t), secs], env=same_blas).items():
                        theirs_same[k] = better(theirs_same.get(k), v)
            for k, o in ours.items():
                lower = o["unit"] in ("ms", "us/token")

                def ratio(p):
                    return None if p is None else (p["value"] / o["value"] if lower else o["value"] / p["value"])
                p, ps = theirs.get(k), theirs_same.get(k)
                rows.append({"workload": k, "threads": t, "unit": o["unit"], "ours": o["value"],
                             "peer": None if p is None else p["value"], "speedup": ratio(p),
                             "peer_same_blas": None if ps is None else ps["value"],
                             "speedup_same_blas": ratio(ps),
                             "gflops": o["gflops"], "pct_of_sgemm": 100.0 * o["gflops"] / sgemm,
                             "blas_core": core})
                print(f"  {k} @{t}: ours {o['value']:.4g} {o['unit']}"
                      + ("" if p is None else f", pytorch {p['value']:.4g}, speedup {ratio(p):.2f}x")
                      + ("" if ps is None else f", pytorch same BLAS core {ps['value']:.4g}, {ratio(ps):.2f}x"),
                      file=sys.stderr)

    def fmt(v, suffix=""):
        return "-" if v is None else (f"{v:.2f}x" if suffix else f"{v:.4g}")
    print(f"{'workload':<22}{'threads':>8}{'unit':>10}{'seqtorch':>12}{'pytorch':>12}{'speedup':>9}"
          f"{'pytorch*':>12}{'speedup*':>9}{'GFLOP/s':>9}{'% sgemm':>9}")
    for r in rows:
        print(f"{r['workload']:<22}{r['threads']:>8}{r['unit']:>10}{r['ours']:>12.4g}{fmt(r['peer']):>12}"
              f"{fmt(r['speedup'], 'x'):>9}{fmt(r['peer_same_blas']):>12}{fmt(r['speedup_same_blas'], 'x'):>9}"
              f"{r['gflops']:>9.1f}{r['pct_of_sgemm']:>8.1f}%")
    print("pytorch*: PyTorch-Python with OPENBLAS_CORETYPE set to seqtorch's BLAS core (- when the same)")
    for r in rows:
        print(json.dumps({k: r[k] for k in ("workload", "threads", "unit", "ours", "peer", "speedup",
                                            "pct_of_sgemm", "peer_same_blas", "speedup_same_blas",
                                            "blas_core")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
