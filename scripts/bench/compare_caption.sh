#!/usr/bin/env bash
# seqtorch-caption against PyTorch-Python on the same model, data and batch size: the default
# captioner (CNN of 3 residual stages to 128 channels, show-attend-tell decoder, hidden 256,
# 64 x 64 images, batch 32; scripts/bench/peer_caption.py writes it in PyTorch) on the built-in
# scenes, on 1 and on 2 threads. Prints one JSON line per thread count with both training speeds
# (images per second, after warm-up) and their ratio.
#   scripts/bench/compare_caption.sh [STEPS [BATCH]]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${SEQTORCH_BUILD_DIR:-build}
bin="$build/bin/seqtorch-caption"
steps=${1:-60}
batch=${2:-32}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" data --out "$tmp/scenes" --count 1000 --quiet
core=$("$build/bin/seqtorch-bench" sgemm 1 0.2 | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin).get('blas_core',''))")
for threads in 1 2; do
  ours=$("$bin" train --images "$tmp/scenes" --captions "$tmp/scenes/captions_train.json" --max-steps "$steps" \
           --batch-size "$batch" --decode-images 0 --threads "$threads" --out "$tmp/run$threads" --quiet | tail -1)
  peer=$(OPENBLAS_CORETYPE=$core /usr/bin/python3 scripts/bench/peer_caption.py "$tmp/scenes" "$tmp/scenes/captions_train.json" \
           "$steps" "$threads" "$batch")
  /usr/bin/python3 - "$ours" "$peer" "$threads" "$batch" <<'PY'
import json, sys
ours, peer = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"threads": int(sys.argv[3]), "batch": int(sys.argv[4]),
                  "seqtorch_images_per_s": round(ours["images_per_s"], 1),
                  "pytorch_images_per_s": round(peer["images_per_s"], 1),
                  "ratio": round(ours["images_per_s"] / peer["images_per_s"], 3)}))
PY
done
