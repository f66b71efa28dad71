#!/usr/bin/env bash
# seqtorch-translate against PyTorch-Python on the same model, data and batches: the PyTorch
# translation tutorial's GRU encoder and Bahdanau-attention decoder (scripts/bench/peer_translate.py),
# as seqtorch-translate builds it (--style bahdanau --attention additive, unidirectional GRU,
# no bridge, embedding = hidden, dropout 0.1, no label smoothing, Adam 1e-3), on 1 and on 2
# threads. Prints one JSON line per thread count with both training speeds (target tokens per
# second, after warm-up) and their ratio.
#   scripts/bench/compare_translate.sh [DATA.tsv [UNITS [STEPS [HIDDEN [BATCH]]]]]
# Default data: 20000 pairs of the built-in dates task (characters). PyTorch runs with the
# OpenBLAS core seqtorch picked (the same BLAS for both; see lib/include/seqtorch/util/blas.h).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${SEQTORCH_BUILD_DIR:-build}
bin="$build/bin/seqtorch-translate"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
data=${1:-}
units=${2:-char}
steps=${3:-150}
hidden=${4:-128}
batch=${5:-32}
if [ -z "$data" ]; then
  data="$tmp/dates.tsv"
  "$bin" data --task dates --examples 20000 --split train --output "$data"
fi
core=$("$build/bin/seqtorch-bench" sgemm 1 0.2 | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin).get('blas_core',''))")
for threads in 1 2; do
  ours=$("$bin" train --data "$data" --units "$units" --style bahdanau --attention additive --cell gru \
           --bidirectional false --no-bridge --hidden-size "$hidden" --embedding-size "$hidden" \
           --dropout 0.1 --label-smoothing 0 --lr 1e-3 --batch-size "$batch" --max-vocab 0 \
           --max-steps "$steps" --decode-sentences 0 --threads "$threads" --out "$tmp/run$threads" --quiet | tail -1)
  peer=$(OPENBLAS_CORETYPE=$core /usr/bin/python3 scripts/bench/peer_translate.py "$data" "$units" "$steps" "$threads" "$hidden" "$batch")
  /usr/bin/python3 - "$ours" "$peer" "$threads" "$hidden" "$batch" "$core" <<'PY'
import json, sys
ours, peer = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"threads": int(sys.argv[3]), "hidden": int(sys.argv[4]), "batch": int(sys.argv[5]),
                  "blas_core": sys.argv[6], "seqtorch_tokens_per_s": round(ours["tokens_per_s"], 1),
                  "pytorch_tokens_per_s": round(peer["tokens_per_s"], 1),
                  "ratio": round(ours["tokens_per_s"] / peer["tokens_per_s"], 3)}))
PY
done
