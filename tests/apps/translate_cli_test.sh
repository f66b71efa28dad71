#!/usr/bin/env bash
# seqtorch-translate end to end: bad input exits 1 or 2 with one line on stderr and leaves no
# output file behind; a good run of every command (data, train, evaluate, translate with n-best
# and attention, export); the export checked from Python against `translate --beam 1`.
# usage: translate_cli_test.sh PATH/seqtorch-translate PATH/seqtorch-textgen PATH/scripts
set -u
bin=$1 textgen=$2 scripts=$3
source "$(dirname "$0")/cli_expect.sh"
python=${SEQTORCH_PYTHON:-/usr/bin/python3}

: > "$tmp/empty.tsv"
printf 'uno\tone\ndos two\n' > "$tmp/notab.tsv"
printf 'uno\tone\nd\xC3(s\ttwo\n' > "$tmp/utf8.tsv"
printf 'uno\tone\ndos\t\n' > "$tmp/emptyside.tsv"
small=(--quiet --hidden-size 16 --embedding-size 8 --batch-size 16 --decode-sentences 10)

expect 1 "empty.tsv: no sentence pairs" -- "$bin" train --data "$tmp/empty.tsv" --out "$tmp/r1" "${small[@]}"
expect 1 "notab.tsv:2: expected source<TAB>target, found no tab" -- "$bin" train --data "$tmp/notab.tsv" --out "$tmp/r2" "${small[@]}"
expect 1 "utf8.tsv:2: invalid UTF-8 at byte offset 1" -- "$bin" train --data "$tmp/utf8.tsv" --out "$tmp/r3" "${small[@]}"
expect 1 "emptyside.tsv:2: the target side is empty" -- "$bin" train --data "$tmp/emptyside.tsv" --out "$tmp/r4" "${small[@]}"
for r in r1 r2 r3 r4; do
  if [ -e "$tmp/$r" ]; then echo "FAIL: a failed train left $tmp/$r behind"; failures=$((failures + 1)); else passed=$((passed + 1)); fi
done
expect 2 "give --data or --task, not both" -- "$bin" train --data "$tmp/notab.tsv" --task dates --out "$tmp/r5"
expect 2 "--task: expected dates, numbers or roman, got 'weeks'" -- "$bin" data --task weeks
expect 2 "--units: expected char, word or auto, got 'bpe'" -- "$bin" train --task dates --units bpe --out "$tmp/r6" "${small[@]}"

# A good run: the dates task as TSV, trained briefly.
"$bin" data --task dates --examples 600 --split train --output "$tmp/train.tsv"
"$bin" data --task dates --examples 40 --split test --seed 2 --output "$tmp/test.tsv"
if [ "$(grep -c $'\t' "$tmp/train.tsv")" = 600 ]; then passed=$((passed + 1)); else echo "FAIL: data"; failures=$((failures + 1)); fi
if "$bin" train --data "$tmp/train.tsv" --units char --out "$tmp/run" "${small[@]}" --epochs 2 > "$tmp/train.json" &&
   tail -1 "$tmp/train.json" | grep -q '"units":"char".*"bleu".*"chrf".*"exact_match".*"loss"'; then
  passed=$((passed + 1))
else
  echo "FAIL: train"; cat "$tmp/train.json"; failures=$((failures + 1))
fi
ckpt="$tmp/run/checkpoints/best.pt"
for beam in 1 3; do
  if "$bin" evaluate --checkpoint "$ckpt" --data "$tmp/test.tsv" --beam $beam | tail -1 |
     grep -q '"beam":'$beam'.*"bleu".*"chrf".*"copy_bleu".*"exact_match"'; then
    passed=$((passed + 1)); else echo "FAIL: evaluate --beam $beam"; failures=$((failures + 1)); fi
done
expect 2 "--beam: expected >= 1, got 0" -- "$bin" evaluate --checkpoint "$ckpt" --data "$tmp/test.tsv" --beam 0
expect 2 "--n-best: expected in [1, beam = 2], got 3" -- "$bin" translate --checkpoint "$ckpt" --beam 2 --n-best 3
expect 1 "utf8.tsv:2: invalid UTF-8" -- "$bin" evaluate --checkpoint "$ckpt" --data "$tmp/utf8.tsv"
# Another app's checkpoint, and a damaged one.
printf 'in the beginning was the word and the word was with god. %.0s' $(seq 1 40) > "$tmp/text.txt"
"$textgen" train --text "$tmp/text.txt" --out "$tmp/trun" --quiet --epochs 1 --hidden-size 8 --num-layers 1 --batch-size 4 --seq-len 16 > /dev/null
expect 1 "written by seqtorch-textgen, not by seqtorch-translate" -- "$bin" translate --checkpoint "$tmp/trun/checkpoints/best.pt"
head -c 2000 "$ckpt" > "$tmp/cut.pt"
expect 1 "cut.pt" -- "$bin" evaluate --checkpoint "$tmp/cut.pt" --data "$tmp/test.tsv"
# translate: one line out per line in (blank stays blank), n-best lines, no partial --output.
printf 'Thursday 26 November 2026\n\n26/11/26\n' > "$tmp/in.txt"
if [ "$("$bin" translate --checkpoint "$ckpt" --input "$tmp/in.txt" --beam 1 | wc -l)" = 3 ]; then
  passed=$((passed + 1)); else echo "FAIL: translate lines"; failures=$((failures + 1)); fi
if [ "$("$bin" translate --checkpoint "$ckpt" --beam 3 --n-best 2 < "$tmp/in.txt" | grep -c $'^[02]\t')" = 4 ]; then
  passed=$((passed + 1)); else echo "FAIL: translate --n-best"; failures=$((failures + 1)); fi
printf 'ok line\nbad \xC3( line\n' > "$tmp/badin.txt"
expect 1 "badin.txt:2: invalid UTF-8" -- "$bin" translate --checkpoint "$ckpt" --input "$tmp/badin.txt" --output "$tmp/out.txt"
if [ -e "$tmp/out.txt" ]; then echo "FAIL: partial --output"; failures=$((failures + 1)); else passed=$((passed + 1)); fi
# Attention plot and the export, where this Python has matplotlib and torch.
if "$python" -c "import matplotlib" 2>/dev/null; then
  if "$bin" translate --checkpoint "$ckpt" --input "$tmp/in.txt" --show-attention "$tmp/att.png" > /dev/null &&
     [ -s "$tmp/att.png" ] && [ ! -e "$tmp/att.png.json" ]; then
    passed=$((passed + 1)); else echo "FAIL: --show-attention"; failures=$((failures + 1)); fi
fi
expect 2 "export: --output FILE.pt is required" -- "$bin" export --checkpoint "$ckpt"
if "$bin" export --checkpoint "$ckpt" --output "$tmp/model.pt" --quiet && [ -s "$tmp/model.pt" ]; then
  passed=$((passed + 1)); else echo "FAIL: export"; failures=$((failures + 1)); fi
if "$python" -c "import torch" 2>/dev/null; then
  cut -f1 "$tmp/test.tsv" > "$tmp/src.txt"
  for beam in 1 3; do
    "$bin" translate --checkpoint "$ckpt" --input "$tmp/src.txt" --beam $beam > "$tmp/expected$beam.txt"
    if "$python" "$scripts/check_translate_export.py" "$tmp/model.pt" "$tmp/src.txt" "$tmp/expected$beam.txt" --beam $beam > "$tmp/check.log" 2>&1; then
      passed=$((passed + 1))
    else
      echo "FAIL: check_translate_export.py --beam $beam:"; cat "$tmp/check.log"; failures=$((failures + 1))
    fi
  done
fi
echo "$passed passed, $failures failed"
[ "$failures" = 0 ]
