#!/usr/bin/env bash
# seqtorch-lab end to end in seconds: bad options exit 2 with one line naming the option; a
# missing data set exits 1 naming the files; both experiments on tiny settings end with a JSON
# line holding every run and write their plots; the same command gives the same numbers.
# usage: lab_cli_test.sh PATH/seqtorch-lab
set -u
bin=$1
source "$(dirname "$0")/cli_expect.sh"
python=${SEQTORCH_PYTHON:-/usr/bin/python3}

lm=(long-memory --quiet --hidden-size 12 --batch-size 16 --steps 20 --eval-every 10 --test-size 40)
expect 2 "--lengths: expected a comma-separated list of integers >= 10, got '5'" -- "$bin" "${lm[@]}" --lengths 5 --out "$tmp/x"
expect 2 "--cells: cell: expected rnn, irnn, lstm or gru, got 'lstn'" -- "$bin" "${lm[@]}" --cells lstn --out "$tmp/x"
expect 2 "--task: memory task: expected adding, copy or temporal-order, got 'adder'" -- "$bin" "${lm[@]}" --task adder --out "$tmp/x"
expect 2 "--clip: expected a comma-separated list of numbers >= 0, got '-1'" -- "$bin" "${lm[@]}" --clip=-1 --out "$tmp/x"
expect 2 "--test-size: expected >= 1, got 0" -- "$bin" long-memory --test-size 0 --out "$tmp/x"
expect 2 "--lstm-init: expected chrono or a number, got 'warm'" -- "$bin" "${lm[@]}" --lstm-init warm --out "$tmp/x"
expect 2 "--jobs: expected >= 0, got -1" -- "$bin" "${lm[@]}" --jobs=-1 --out "$tmp/x"
expect 2 "--datasets: expected digits or fashion-mnist, got 'cifar'" -- "$bin" rcnn --datasets cifar --out "$tmp/x"
expect 2 "unknown command" -- "$bin" forecast
# (Only where no python3-sklearn is installed: the loader falls back to its copy of the digits.)
if [ ! -e /usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz ]; then
  expect 1 "digits: none of $tmp/empty/digits.csv.gz" -- "$bin" rcnn --datasets digits --data "$tmp/empty" --out "$tmp/x"
fi
if [ -e "$tmp/x" ]; then echo "FAIL: a refused command left $tmp/x"; failures=$((failures + 1)); else passed=$((passed + 1)); fi

# check_json FILE COUNT KEYS...: the last line of FILE is a JSON list of COUNT objects with KEYS.
check_json() {
  local file=$1 count=$2; shift 2
  if tail -n 1 "$file" | "$python" -c '
import json, sys
rows = json.loads(sys.stdin.read()); count = int(sys.argv[1]); keys = sys.argv[2:]
assert len(rows) == count, "%d rows, wanted %d" % (len(rows), count)
for r in rows:
    missing = [k for k in keys if k not in r]
    assert not missing, "missing %s" % missing
' "$count" "$@"; then passed=$((passed + 1)); else echo "FAIL: $file: $(tail -n 1 "$file" | head -c 300)"; failures=$((failures + 1)); fi
}

# Every task, every cell, clipping on and off: 3 x 4 x 2 = 24 runs, and the plots.
"$bin" "${lm[@]}" --task adding,copy,temporal-order --lengths 10 --cells rnn,irnn,lstm,gru --clip 1,0 --out "$tmp/lm" > "$tmp/lm.out" 2> "$tmp/lm.err"
check_json "$tmp/lm.out" 24 task cell length test_loss baseline_loss solved steps_to_solve clip_grad
for f in long-memory.json long-memory-loss.png long-memory-gradients.png; do
  if [ -s "$tmp/lm/$f" ]; then passed=$((passed + 1)); else echo "FAIL: long-memory wrote no $f ($(cat "$tmp/lm.err"))"; failures=$((failures + 1)); fi
done
# Same command, same numbers (two runs at once or one at a time).
"$bin" "${lm[@]}" --task adding --lengths 12 --cells rnn,lstm --jobs 2 --no-plots --out "$tmp/a" > "$tmp/a.out"
"$bin" "${lm[@]}" --task adding --lengths 12 --cells rnn,lstm --jobs 1 --no-plots --out "$tmp/b" > "$tmp/b.out"
strip_seconds() { tail -n 1 "$1" | sed 's/"seconds":[0-9.e+-]*//g'; }
if [ "$(strip_seconds "$tmp/a.out")" = "$(strip_seconds "$tmp/b.out")" ] && [ -n "$(strip_seconds "$tmp/a.out")" ]; then
  passed=$((passed + 1)); else echo "FAIL: long-memory is not repeatable"; failures=$((failures + 1)); fi

# rcnn on tiny stand-ins of both data sets (random pixels; the format is what is tested).
mkdir -p "$tmp/data/fashion-mnist"
"$python" - "$tmp/data" <<'PY'
import gzip, os, random, struct, sys
d = sys.argv[1]; random.seed(1)
with gzip.open(os.path.join(d, "digits.csv.gz"), "wt") as f:
    for i in range(80):
        f.write(",".join(str(random.randint(0, 16)) for _ in range(64)) + ",%d\n" % (i % 10))
def idx(name, n):
    with gzip.open(os.path.join(d, "fashion-mnist", name + "-images-idx3-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">IIII", 2051, n, 28, 28) + bytes(random.randint(0, 255) for _ in range(n * 784)))
    with open(os.path.join(d, "fashion-mnist", name + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 2049, n) + bytes(i % 10 for i in range(n)))
idx("train", 64); idx("t10k", 32)
PY
"$bin" rcnn --quiet --data "$tmp/data" --seeds 1,2 --epochs 1 --channels 4 --out "$tmp/rc" > "$tmp/rc.out" 2> "$tmp/rc.err"
check_json "$tmp/rc.out" 4 dataset model parameters accuracies mean std
for f in rcnn.json rcnn.png; do
  if [ -s "$tmp/rc/$f" ]; then passed=$((passed + 1)); else echo "FAIL: rcnn wrote no $f ($(cat "$tmp/rc.err"))"; failures=$((failures + 1)); fi
done

echo "lab cli: $passed passed, $failures failed"
[ "$failures" = 0 ]
