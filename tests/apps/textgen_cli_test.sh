#!/usr/bin/env bash
# seqtorch-textgen end to end: bad input exits 1 or 2 with one line on stderr; a good run of every
# command; determinism of sample; the export checked from Python when its torch is present.
# usage: textgen_cli_test.sh PATH/seqtorch-textgen PATH/seqtorch-forecast PATH/scripts/check_export.py
set -u
bin=$1 forecast=$2 check_export=${3:-}
source "$(dirname "$0")/cli_expect.sh"
python=${SEQTORCH_PYTHON:-/usr/bin/python3}  # the Python with torch for the export check

: > "$tmp/empty.txt"
printf 'tiny text' > "$tmp/short.txt"
printf 'good text \xC3( broken' > "$tmp/bad.txt"
for i in $(seq 1 80); do echo "the cat sat on the mat. the dog sat on the log. café $i"; done > "$tmp/good.txt"
small=(--out "$tmp/run" --quiet --epochs 2 --hidden-size 32 --num-layers 1 --batch-size 8 --seq-len 32 --embedding-size 16)

expect 1 "empty.txt: the file is empty" -- "$bin" train --text "$tmp/empty.txt" "${small[@]}"
expect 1 "fewer than one batch of sequences" -- "$bin" train --text "$tmp/short.txt" "${small[@]}"
expect 1 "bad.txt: invalid UTF-8 at byte offset 10" -- "$bin" train --text "$tmp/bad.txt" "${small[@]}"
expect 2 "unknown option --temprature for 'seqtorch-textgen sample'; did you mean --temperature?" -- "$bin" sample --temprature 1

if "$bin" train --text "$tmp/good.txt" "${small[@]}" > "$tmp/train.json" && grep -q '"bits_per_char"' "$tmp/train.json"; then
  passed=$((passed + 1))
else
  echo "FAIL: train"; cat "$tmp/train.json"; failures=$((failures + 1))
fi
# --time-budget and no model option: the budget rule picks the model (one line on stderr), and
# config.ini and the final JSON record it; a model option given leaves the general defaults.
# The text (4,248 symbols for training): 42 streams of 101 symbols, and the smallest model (no more
# parameters than symbols).
if "$bin" train --text "$tmp/good.txt" --out "$tmp/budget" --time-budget 2 > "$tmp/budget.json" 2> "$tmp/budget.err" &&
   grep -q "time-budget 2 and no model options: LSTM 1x128, batch 42, lr 0.004" "$tmp/budget.err" &&
   grep -q '^batch-size = 42$' "$tmp/budget/config.ini" && grep -q '^hidden-size = 128$' "$tmp/budget/config.ini" &&
   grep -q '"hidden_size":128' "$tmp/budget.json" &&
   "$bin" train --text "$tmp/good.txt" --out "$tmp/budget2" --time-budget 2 --hidden-size 32 > /dev/null 2> "$tmp/budget2.err" &&
   ! grep -q "no model options" "$tmp/budget2.err" && grep -q '^batch-size = 32$' "$tmp/budget2/config.ini"; then
  passed=$((passed + 1))
else
  echo "FAIL: --time-budget without model options"; cat "$tmp/budget.err" "$tmp/budget/config.ini" "$tmp/budget.json"; failures=$((failures + 1))
fi
expect 2 "--temperature: expected >= 0, got -1" -- "$bin" sample --out "$tmp/run" --temperature -1
expect 2 "--top-p: expected in (0, 1], got 1.5" -- "$bin" sample --out "$tmp/run" --top-p 1.5
expect 2 "--length: expected >= 0, got -5" -- "$bin" sample --out "$tmp/run" --length -5
expect 1 "$tmp: is a folder, not a file" -- "$bin" train --text "$tmp" "${small[@]}"
expect 2 "--embedding-size: expected >= 1, got 0" -- "$bin" train --text "$tmp/good.txt" --embedding-size 0
expect 2 "--prime: invalid UTF-8 at byte offset 1 (this model reads UTF-8 text)" -- "$bin" sample --out "$tmp/run" --prime "$(printf 'x\377')"
if "$bin" sample --out "$tmp/run" --prime "$(printf 'x\377')" 2>&1 | grep -q -- "--bytes"; then
  echo "FAIL: sample suggests --bytes"; failures=$((failures + 1)); else passed=$((passed + 1)); fi
# A prime with unseen symbols: a warning (one line), then generation as usual.
expect 0 "warning: 1 symbol(s) of --prime are not in the vocabulary" -- "$bin" sample --out "$tmp/run" --prime "Zthe" --length 5
# The same seed, the same text; evaluate's final JSON.
a=$("$bin" sample --out "$tmp/run" --prime "the " --length 60 --seed 4 --temperature 0.9 --top-k 5)
b=$("$bin" sample --out "$tmp/run" --prime "the " --length 60 --seed 4 --temperature 0.9 --top-k 5)
if [ "$a" = "$b" ] && [ "${#a}" -ge 60 ]; then passed=$((passed + 1)); else echo "FAIL: sample is not repeatable"; failures=$((failures + 1)); fi
if "$bin" evaluate --out "$tmp/run" --text "$tmp/good.txt" | tail -1 | grep -q '"bits_per_char".*"perplexity".*"symbols"'; then
  passed=$((passed + 1)); else echo "FAIL: evaluate"; failures=$((failures + 1)); fi
# Reduced-precision weights: sample streams text, evaluate scores the rounded model (a bits/char
# close to float32's), a GRU is refused, an unknown format too.
expect 2 "--weights: expected f32, bf16 or int8, got 'fp8'" -- "$bin" sample --out "$tmp/run" --weights fp8
f32=$("$bin" evaluate --out "$tmp/run" --text "$tmp/good.txt" --quiet | tail -1)
ok=yes
for w in bf16 int8; do
  text=$("$bin" sample --out "$tmp/run" --prime "the " --length 40 --weights "$w" --temperature 0)
  [ "${#text}" -ge 40 ] || ok=no
  got=$("$bin" evaluate --out "$tmp/run" --text "$tmp/good.txt" --weights "$w" --quiet | tail -1)
  "$python" - "$f32" "$got" "$w" <<'PY' || ok=no
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert b["weights"] == sys.argv[3] and abs(a["bits_per_char"] - b["bits_per_char"]) < 0.05, (a, b)
PY
done
if [ "$ok" = yes ]; then passed=$((passed + 1)); else echo "FAIL: --weights bf16/int8"; failures=$((failures + 1)); fi
"$bin" train --text "$tmp/good.txt" --out "$tmp/gru" --quiet --epochs 1 --hidden-size 8 --batch-size 8 --seq-len 32 --cell gru > /dev/null
expect 2 "--weights int8: reduced-precision weights are for LSTM models sampled on the CPU; this one is a gru model on cpu" -- "$bin" sample --out "$tmp/gru" --weights int8
# A checkpoint of another app.
"$forecast" train --out "$tmp/frun" --quiet --epochs 1 --hidden-size 4 --window 12 --horizon 3 > /dev/null
expect 1 "written by seqtorch-forecast, not by seqtorch-textgen" -- "$bin" sample --checkpoint "$tmp/frun/checkpoints/best.pt"
expect 1 "written by seqtorch-textgen, not by seqtorch-forecast" -- "$forecast" predict --checkpoint "$tmp/run/checkpoints/best.pt"
expect 2 "--resume: $tmp/run is a run of seqtorch-textgen, not of seqtorch-forecast" -- "$forecast" train --resume "$tmp/run"
expect 2 "--resume: $tmp/frun is a run of seqtorch-forecast, not of seqtorch-textgen" -- "$bin" train --resume "$tmp/frun"
if [ -n "$check_export" ] && "$python" -c "import torch" 2>/dev/null; then
  if "$python" "$check_export" textgen --bin "$bin" --checkpoint "$tmp/run/checkpoints/best.pt" \
       --prime "the " --workdir "$tmp/check" > "$tmp/check.log" 2>&1; then
    passed=$((passed + 1))
  else
    echo "FAIL: check_export.py textgen:"; cat "$tmp/check.log"; failures=$((failures + 1))
  fi
fi
echo "$passed passed, $failures failed"
[ "$failures" = 0 ]
