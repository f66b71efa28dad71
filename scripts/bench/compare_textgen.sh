#!/usr/bin/env bash
# seqtorch-textgen against PyTorch-Python on the same job: the model of models/textgen.cfg
# (2-layer LSTM 256, embedding 64), the same text (the default corpus, last 5% for validation),
# the same training recipe and the same wall-clock budget on all cores; then each model's
# validation bits per character, scored the same way. Lower is better.
#   scripts/bench/compare_textgen.sh [SECONDS] [--same-blas | --sweep]
# --same-blas: also run PyTorch with OPENBLAS_CORETYPE set to the core seqtorch runs (see
# lib/include/seqtorch/util/blas.h), to separate the BLAS core from the rest.
# --sweep: a new user's first run against a tuned script: seqtorch-textgen with nothing but
# --time-budget (the model, batch and learning rate its budget rule picks) against the best of
# PyTorch-Python over a small sweep (SWEEP: "LAYERSxHIDDEN BATCH LR" entries, comma-separated),
# every PyTorch run on seqtorch's BLAS core; one line per run, then the comparison.
set -euo pipefail
cd "$(dirname "$0")/../.."
budget=${1:-300}
same_blas=${2:-}
scripts/setup.sh > /dev/null
build=${SEQTORCH_BUILD_DIR:-build}
corpus="$build/corpus/kjv.txt"
threads=$(nproc)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ "$same_blas" = "--sweep" ]; then
  /usr/bin/python3 -c "import torch" 2> /dev/null || { echo "compare_textgen: --sweep needs PyTorch (python3-torch)" >&2; exit 3; }
  core=$("$build/bin/seqtorch-bench" sgemm 1 0.2 | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin).get('blas_core',''))")
  sweep=${SWEEP:-"2x256 32 0.002,1x256 64 0.002,1x512 32 0.002,1x256 64 0.004"}
  runs="$tmp/sweep.jsonl"
  IFS=, read -ra configs <<< "$sweep"
  for config in "${configs[@]}"; do
    echo "PyTorch-Python $config (OPENBLAS_CORETYPE=$core): $budget s ..." >&2
    # shellcheck disable=SC2086
    OPENBLAS_CORETYPE=$core /usr/bin/python3 scripts/bench/peer_textgen.py "$corpus" "$budget" "$threads" 1 $config >> "$runs"
  done
  echo "seqtorch-textgen --time-budget $budget, no model options: $threads threads ..." >&2
  "$build/bin/seqtorch-textgen" train --time-budget "$budget" --threads "$threads" --text "$corpus" \
    --out "$tmp/run" --quiet > "$tmp/ours.json"
  /usr/bin/python3 - "$runs" "$tmp/ours.json" "$budget" "$threads" <<'PY'
import json, sys
peers = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ours = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
best = min(peers, key=lambda p: p["bits_per_char"])
print(f"{'':<44}{'val bits/char':>14}{'steps':>8}")
for p in peers:
    print(f"{'PyTorch-Python ' + p['model'] + ' batch %d lr %g' % (p['batch'], p['lr']):<44}{p['bits_per_char']:>14.4f}{p['steps']:>8}")
name = "seqtorch-textgen defaults: %dx%d batch %d" % (ours["num_layers"], ours["hidden_size"], ours["batch_size"])
print(f"{name:<44}{ours['bits_per_char']:>14.4f}{int(ours['steps']):>8}")
print(json.dumps({"workload": "textgen-defaults", "seconds": float(sys.argv[3]), "threads": int(sys.argv[4]),
                  "ours_bpc": ours["bits_per_char"], "peer_best_bpc": best["bits_per_char"],
                  "peer_best": "%s batch %d lr %g" % (best["model"], best["batch"], best["lr"]),
                  "ours_at_most_peer_best": ours["bits_per_char"] <= best["bits_per_char"]}))
PY
  exit 0
fi
echo "seqtorch-textgen: $budget s on $threads threads ..." >&2
"$build/bin/seqtorch-textgen" train --config models/textgen.cfg --time-budget "$budget" \
  --threads "$threads" --text "$corpus" --out "$tmp/run" --quiet > "$tmp/ours.json"
ours=$(tail -1 "$tmp/ours.json")
if ! /usr/bin/python3 -c "import torch" 2> /dev/null; then
  echo "compare_textgen: PyTorch (python3-torch) is absent; seqtorch alone: $ours" >&2
  exit 3
fi
echo "PyTorch-Python: $budget s on $threads threads ..." >&2
peer=$(/usr/bin/python3 scripts/bench/peer_textgen.py "$corpus" "$budget" "$threads")
peer_same=null
if [ "$same_blas" = "--same-blas" ]; then
  core=$("$build/bin/seqtorch-bench" sgemm 1 0.2 | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin).get('blas_core',''))")
  if [ -n "$core" ]; then
    echo "PyTorch-Python with OPENBLAS_CORETYPE=$core: $budget s ..." >&2
    peer_same=$(OPENBLAS_CORETYPE=$core /usr/bin/python3 scripts/bench/peer_textgen.py "$corpus" "$budget" "$threads")
  fi
fi
/usr/bin/python3 - "$ours" "$peer" "$peer_same" "$budget" "$threads" <<'PY'
import json, sys
ours, peer, same = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
budget, threads = float(sys.argv[4]), int(sys.argv[5])
print(f"{'':<34}{'val bits/char':>14}{'steps':>8}")
print(f"{'seqtorch-textgen':<34}{ours['bits_per_char']:>14.4f}{int(ours.get('steps', 0)):>8}")
print(f"{'PyTorch-Python':<34}{peer['bits_per_char']:>14.4f}{peer['steps']:>8}")
if same:
    print(f"{'PyTorch-Python, same BLAS core':<34}{same['bits_per_char']:>14.4f}{same['steps']:>8}")
print(json.dumps({"workload": "textgen", "seconds": budget, "threads": threads,
                  "ours_bpc": ours["bits_per_char"], "peer_bpc": peer["bits_per_char"],
                  "ours_steps": ours.get("steps"), "peer_steps": peer["steps"],
                  "peer_same_blas_bpc": same["bits_per_char"] if same else None,
                  "ours_lower": ours["bits_per_char"] < peer["bits_per_char"]}))
PY
