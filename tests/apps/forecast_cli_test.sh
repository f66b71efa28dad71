#!/usr/bin/env bash
# seqtorch-forecast end to end on bad input: each case exits 1 or 2 with exactly one line on
# stderr naming the problem, and leaves no output file behind. Then one good run of every command.
# With Python's torch present, also checks the export from Python (scripts/check_export.py).
# usage: forecast_cli_test.sh PATH/seqtorch-forecast PATH/scripts/check_export.py
set -u
bin=$1
check_export=${2:-}
source "$(dirname "$0")/cli_expect.sh"
python=${SEQTORCH_PYTHON:-/usr/bin/python3}  # the Python with torch for the export check

: > "$tmp/empty.csv"
printf 'day,sales\n' > "$tmp/header.csv"
printf 'day,sales\n1,10\n2,abc\n3,12\n' > "$tmp/text.csv"
printf 'day,sales\n1,10\n2,\n3,12\n' > "$tmp/gap.csv"
{ echo "day,sales"; for i in $(seq 1 30); do echo "$i,$((i % 7))"; done; } > "$tmp/short.csv"
{ echo 'day,"units, sold"'; for i in $(seq 1 400); do echo "$i,$(( (i * 37) % 11 ))"; done; } > "$tmp/good.csv"
sed 's/^150,.*/150,/' "$tmp/good.csv" > "$tmp/good_gap.csv"
echo "not a checkpoint" > "$tmp/bogus.pt"
base=(--out "$tmp/run" --quiet --epochs 1 --hidden-size 4)
common=("${base[@]}" --window 12 --horizon 3)

expect 1 "empty.csv: the file is empty" -- "$bin" train --data "$tmp/empty.csv" --target sales "${common[@]}"
expect 1 "header.csv: only a header, no data rows" -- "$bin" train --data "$tmp/header.csv" --target sales "${common[@]}"
expect 1 "no column 'salez'; the columns are 'day', 'sales'" -- "$bin" train --data "$tmp/text.csv" --target salez "${common[@]}"
expect 1 "text.csv:3:2: column 'sales': not a number: 'abc'" -- "$bin" train --data "$tmp/text.csv" --target sales "${common[@]}"
expect 1 "gap.csv:3:2: column 'sales': empty cell (use --fill linear" -- "$bin" train --data "$tmp/gap.csv" --target sales "${common[@]}"
expect 1 "the series has 30 steps, fewer than window + horizon + test part = 24 + 3 + 6" -- "$bin" train --data "$tmp/short.csv" --target sales "${base[@]}" --window 24 --horizon 3
expect 2 "--horizon: expected >= 1, got 0" -- "$bin" train --data "$tmp/good.csv" --target '"units, sold"' "${base[@]}" --horizon 0
expect 2 "unknown option --hiden-size for 'seqtorch-forecast train'; did you mean --hidden-size?" -- "$bin" train --hiden-size 3
expect 2 "the argument ('ten') for option '--epochs' is invalid" -- "$bin" train --epochs ten
expect 2 "--target: required with --data" -- "$bin" train --data "$tmp/good.csv" "${common[@]}"
expect 2 "--relative: expected auto, none, last, season, deseason, trend or ets, got 'seasonal'" -- "$bin" train --relative seasonal
expect 2 "--relative: 'ets' is named twice in 'ets,last,ets'" -- "$bin" train --relative ets,last,ets
expect 2 "--relative: expected none, last, season, deseason, trend or ets, got 'auto'" -- "$bin" train --relative season,auto
expect 2 "--combine: expected weighted or best, got 'mean'" -- "$bin" train --combine mean
expect 2 "--folds: expected auto or a number from 1 to 100, got 'two'" -- "$bin" train --folds two
expect 2 "--folds: expected auto or a number from 1 to 100, got '0'" -- "$bin" train --folds 0
expect 2 "--folds: expected auto or a number from 1 to 100, got '99999999999999999999'" -- "$bin" train --folds 99999999999999999999
expect 2 "--ensemble: expected >= 1, got 0" -- "$bin" train --ensemble 0
expect 2 "--multi-series: expected global or joint, got 'both'" -- "$bin" train --multi-series both
expect 1 "transform log: column 'units, sold' has a value <= 0" -- "$bin" train --data "$tmp/good.csv" --target '"units, sold"' --transform log "${common[@]}"
expect 1 "relative season: needs a season m > 1 (--season)" -- "$bin" train --data "$tmp/good.csv" --target '"units, sold"' --relative season "${common[@]}"
expect 1 "bogus.pt: not a seqtorch checkpoint" -- "$bin" predict --checkpoint "$tmp/bogus.pt" --output "$tmp/p.csv"
[ -e "$tmp/p.csv" ] && { echo "FAIL: predict left $tmp/p.csv behind"; failures=$((failures + 1)); }

# Reliability probe findings (#16): values beyond float32, non-finite cells, duplicate names, a
# byte-order mark, folders where files belong, ranges checked while reading (exit 2), a long or
# binary input shown short and printable.
printf 'day,sales\n1,10\n2,1e308\n3,12\n' > "$tmp/big.csv"
printf 'day,sales\n1,10\n2,1e400\n3,12\n' > "$tmp/huge.csv"
printf 'day,sales\n1,10\n2,nan\n3,12\n' > "$tmp/nan.csv"
printf 'day,sales,sales\n1,10,1\n2,11,2\n' > "$tmp/dup.csv"
{ printf 'day,sales\n1,10\n2,'; head -c 1000000 /dev/zero | tr '\0' 7; printf 'x\n3,12\n'; } > "$tmp/wide.csv"
printf 'epochs = 3\n\001\002\033[31m\377\n' > "$tmp/binary.cfg"
expect 1 "big.csv:3:2: column 'sales': out of range: '1e308' (float32 holds magnitudes up to 3.4e38)" -- "$bin" train --data "$tmp/big.csv" --target sales "${common[@]}"
expect 1 "huge.csv:3:2: column 'sales': out of range: '1e400'" -- "$bin" train --data "$tmp/huge.csv" --target sales "${common[@]}"
expect 1 "nan.csv:3:2: column 'sales': not a finite number: 'nan' (use --fill linear" -- "$bin" train --data "$tmp/nan.csv" --target sales "${common[@]}"
expect 1 "dup.csv:1: column 'sales' appears twice (columns 2 and 3)" -- "$bin" train --data "$tmp/dup.csv" --target sales "${common[@]}"
expect 1 "wide.csv:3:2: column 'sales': not a number: '777" -- "$bin" train --data "$tmp/wide.csv" --target sales "${common[@]}"
[ "$("$bin" train --data "$tmp/wide.csv" --target sales "${common[@]}" 2>&1 | wc -c)" -lt 300 ] && passed=$((passed + 1)) ||
  { echo "FAIL: a 1 MB cell echoed at length"; failures=$((failures + 1)); }
expect 2 "binary.cfg: " -- "$bin" train --config "$tmp/binary.cfg"
if "$bin" train --config "$tmp/binary.cfg" 2>&1 | LC_ALL=C grep -q '[[:cntrl:]]'; then
  echo "FAIL: control bytes of a binary config printed"; failures=$((failures + 1)); else passed=$((passed + 1)); fi
expect 2 "the argument ('\\x25value\\x25') for option '--lr' is invalid" -- "$bin" train --lr '%value%'
expect 2 "--config: $tmp: is a folder, not a file" -- "$bin" train --config "$tmp"
expect 1 "$tmp: is a folder, not a file" -- "$bin" train --data "$tmp" --target sales "${common[@]}"
expect 1 "checkpoint $tmp: is a folder, not a checkpoint file" -- "$bin" predict --checkpoint "$tmp"
expect 2 "--epochs: expected >= 1, got 0" -- "$bin" train --epochs 0
expect 2 "--test-fraction: expected in (0, 1), got 0" -- "$bin" train --test-fraction 0
expect 2 "--mode: expected seq2seq, seq2vec or encdec, got 'foo'" -- "$bin" train --mode foo
expect 2 "--batch-size: expected >= 1, got 0" -- "$bin" train --batch-size 0
expect 2 "--cell: expected rnn, lstm or gru, got 'foo'" -- "$bin" train --cell foo
# A byte-order mark before the first column's name (as spreadsheets write it) is not part of it.
printf '\357\273\277day,sales\n' > "$tmp/bom.csv"
for i in $(seq 1 80); do echo "$i,$(( (i * 37) % 11 ))" >> "$tmp/bom.csv"; done
if "$bin" train --data "$tmp/bom.csv" --target sales --time-column day --quiet --epochs 1 --hidden-size 4 \
     --window 12 --horizon 3 --out "$tmp/bom" > "$tmp/bom.json" &&
   grep -q '"skipped_steps":0' "$tmp/bom.json"; then
  passed=$((passed + 1))
else
  echo "FAIL: a CSV with a byte-order mark, or no skipped_steps in the metrics"; cat "$tmp/bom.json"; failures=$((failures + 1))
fi
# One run per folder: a second run on a folder in use is refused; a killed run's lock is taken over.
"$bin" train --data "$tmp/good.csv" --target '"units, sold"' --out "$tmp/locked" --quiet --epochs 100000 \
  --hidden-size 4 --window 12 --horizon 3 > /dev/null 2>&1 &
holder=$!
for _ in $(seq 1 200); do [ -s "$tmp/locked/.lock" ] && break; sleep 0.05; done
expect 1 "$tmp/locked is in use by another training run (pid $holder" -- "$bin" train --data "$tmp/good.csv" --target '"units, sold"' --out "$tmp/locked" --quiet --epochs 1 --hidden-size 4 --window 12 --horizon 3
kill -9 "$holder"; wait "$holder" 2>/dev/null
if "$bin" train --data "$tmp/good.csv" --target '"units, sold"' --out "$tmp/locked" --epochs 1 --hidden-size 4 \
     --window 12 --horizon 3 2> "$tmp/takeover.txt" > /dev/null && grep -q "took over the lock of $tmp/locked left by a run that ended without releasing it (pid $holder" "$tmp/takeover.txt" &&
   [ ! -e "$tmp/locked/.lock" ]; then
  passed=$((passed + 1))
else
  echo "FAIL: taking over a killed run's lock"; cat "$tmp/takeover.txt"; failures=$((failures + 1))
fi

# Good runs: a column name with a comma and a space, a gap filled, every command (evaluate
# writing its forecasts).
if "$bin" train --data "$tmp/good_gap.csv" --target '"units, sold"' --fill linear "${common[@]}" > "$tmp/train.json" &&
   grep -q '"mase"' "$tmp/train.json" &&
   "$bin" evaluate --out "$tmp/run" --quiet --output "$tmp/backtest.csv" > "$tmp/eval.txt" &&
   grep -q '"origins"' "$tmp/eval.txt" && head -1 "$tmp/backtest.csv" | grep -q '^origin,step,series,actual,seqtorch,naive' &&
   [ "$(grep -c '"units, sold"' "$tmp/backtest.csv")" -gt 0 ] &&
   "$bin" predict --out "$tmp/run" --output "$tmp/pred.csv" --quiet && [ "$(grep -c '' "$tmp/pred.csv")" = 4 ] &&
   head -1 "$tmp/pred.csv" | grep -qF '"units, sold"' &&
   "$bin" export --out "$tmp/run" --output "$tmp/model.pt" --quiet && [ -s "$tmp/model.pt" ]; then
  passed=$((passed + 1))
else
  echo "FAIL: the good run (train, evaluate, predict, export)"; failures=$((failures + 1))
fi
expect 1 "cannot write $tmp: is a folder, not a file" -- "$bin" evaluate --out "$tmp/run" --output "$tmp"
expect 1 "cannot write $tmp: is a folder, not a file" -- "$bin" predict --out "$tmp/run" --output "$tmp"

if [ -n "$check_export" ] && "$python" -c "import torch" 2>/dev/null; then
  if "$python" "$check_export" forecast --bin "$bin" --checkpoint "$tmp/run/checkpoints/best.pt" \
       --workdir "$tmp/check" > "$tmp/check.log" 2>&1; then
    passed=$((passed + 1))
  else
    echo "FAIL: check_export.py forecast:"; cat "$tmp/check.log"; failures=$((failures + 1))
  fi
fi
# A short seasonal series in two columns (weekly pattern, positive, growing): the global model
# with the choices made for it (log, the relative form by validation, ensemble, refit), per-series
# rows in evaluate, and the export of a gaussian seasonal ensemble checked from Python.
{ echo "day,a,b"; for i in $(seq 1 150); do echo "$i,$(( 50 + i / 5 + (i % 7) * (10 + i / 30) )),$(( 80 + (i * 13) % 7 * 3 + i / 10 ))"; done; } > "$tmp/weekly.csv"
if "$bin" train --data "$tmp/weekly.csv" --target a,b --season 7 --horizon 7 --out "$tmp/weekly" --quiet \
     --epochs 3 --hidden-size 4 > "$tmp/weekly.json" &&
   grep -q '"relative":"[a-z]* (auto)"' "$tmp/weekly.json" && grep -q '"mase_ets_a"' "$tmp/weekly.json" &&
   grep -q '^ensemble = 5$' "$tmp/weekly/config.ini" && grep -q '^refit = true$' "$tmp/weekly/config.ini" &&
   grep -q '^relative = \(last\|season\|deseason\|trend\|ets\)$' "$tmp/weekly/config.ini" &&
   "$bin" evaluate --out "$tmp/weekly" > "$tmp/weekly_eval.txt" && grep -q "MASE per series" "$tmp/weekly_eval.txt" &&
   grep -q "^Theta " "$tmp/weekly_eval.txt"; then
  passed=$((passed + 1))
else
  echo "FAIL: the seasonal global run"; cat "$tmp/weekly.json" "$tmp/weekly_eval.txt"; failures=$((failures + 1))
fi
if [ -n "$check_export" ] && "$python" -c "import torch" 2>/dev/null; then
  if "$bin" train --data "$tmp/weekly.csv" --target a --season 7 --horizon 7 --out "$tmp/weekly1" --quiet \
       --epochs 2 --hidden-size 4 --relative trend --transform log --loss gaussian --ensemble 2 > /dev/null &&
     "$python" "$check_export" forecast --bin "$bin" --checkpoint "$tmp/weekly1/checkpoints/best.pt" \
       --workdir "$tmp/check1" > "$tmp/check1.log" 2>&1; then
    passed=$((passed + 1))
  else
    echo "FAIL: check_export.py forecast (trend, log, gaussian ensemble):"; cat "$tmp/check1.log"; failures=$((failures + 1))
  fi
fi
# Forms combined (weighted by validation): the config names them, the JSON gives each weight,
# evaluate reads it back, and the export (a gaussian log ensemble) matches predict in Python.
if "$bin" train --data "$tmp/weekly.csv" --target a --season 7 --horizon 7 --out "$tmp/comb" --quiet --epochs 2 \
     --hidden-size 4 --relative season,trend,ets --combine weighted --transform log --loss gaussian --ensemble 2 \
     > "$tmp/comb.json" && grep -q '^relative = season,trend,ets$' "$tmp/comb/config.ini" &&
   grep -q '^ets-window = 28$' "$tmp/comb/config.ini" && grep -q '"weight_ets":' "$tmp/comb.json" &&
   "$bin" evaluate --out "$tmp/comb" > "$tmp/comb_eval.txt" &&
   grep -qF "$(grep -o '"mase":[0-9.]*' "$tmp/comb.json")" "$tmp/comb_eval.txt" &&
   { [ -z "$check_export" ] || ! "$python" -c "import torch" 2>/dev/null ||
     "$python" "$check_export" forecast --bin "$bin" --checkpoint "$tmp/comb/checkpoints/best.pt" \
       --workdir "$tmp/check2" > "$tmp/check2.log" 2>&1; }; then
  passed=$((passed + 1))
else
  echo "FAIL: a weighted combination of forms"; cat "$tmp/comb.json" "$tmp/comb/config.ini" "$tmp/check2.log"; failures=$((failures + 1))
fi
# kill -9 while `--relative auto` trains its candidates (two of them finished, early stopped,
# the third started), then --resume: config.ini still asks for auto, every candidate resumes in
# its folder, and the final JSON equals the uninterrupted run's; the same for a weighted
# combination (its weights come from the candidates' files), and for a kill while the choice
# trains its later folds (--folds 3: OUT/candidates/<form>/fold1).
expect 2 "--folds: 6 folds move the end of the training part back by 75 steps, leaving 30 training steps, fewer than 8 windows of window + horizon = 35 steps" -- \
  "$bin" train --data "$tmp/weekly.csv" --target a --season 7 --horizon 7 --folds 6 --out "$tmp/nofolds"
for variant in best weighted folds; do
wk=(--data "$tmp/weekly.csv" --target a --season 7 --horizon 7 --quiet --epochs 60 --patience 3 --hidden-size 4)
marker="$tmp/cut/candidates/deseason/checkpoints/last.pt"
case $variant in
  weighted) wk+=(--combine weighted) ;;
  folds) wk+=(--folds 3); marker="$tmp/cut/candidates/*/fold1/checkpoints/last.pt" ;;
esac
"$bin" train "${wk[@]}" --out "$tmp/whole" > "$tmp/whole.json" 2> /dev/null
killed=
for attempt in 1 2 3; do
  rm -rf "$tmp/cut"
  "$bin" train "${wk[@]}" --out "$tmp/cut" > /dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 6000); do  # up to a minute: the folds come after five candidates (slow under ASan)
    compgen -G "$marker" > /dev/null && break
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.01
  done
  if kill -9 "$pid" 2> /dev/null; then killed=yes; wait "$pid" 2> /dev/null; break; fi
  wait "$pid" 2> /dev/null  # it ended before the kill: again
done
rm -f "$tmp/cut.json"  # not the previous variant's
if [ -n "$killed" ] && grep -q '^relative = auto$' "$tmp/cut/config.ini" && compgen -G "$marker" > /dev/null &&
   "$bin" train --resume "$tmp/cut" > "$tmp/cut.json" 2> /dev/null && cmp -s "$tmp/whole.json" "$tmp/cut.json" &&
   { [ "$variant" != folds ] || grep -q '"folds":3' "$tmp/whole.json"; }; then
  passed=$((passed + 1))
else
  echo "FAIL: kill -9 of --relative auto ($variant), then --resume (killed: ${killed:-no})"; cat "$tmp/whole.json" "$tmp/cut.json" "$tmp/cut/config.ini"
  failures=$((failures + 1))
fi
rm -rf "$tmp/whole" "$tmp/cut"
done
# Reading commands keep the model's season: --season on evaluate moves the baselines only.
if [ -f "$tmp/weekly/checkpoints/best.pt" ] &&
   "$bin" evaluate --out "$tmp/weekly" --quiet > "$tmp/e7.txt" && "$bin" evaluate --out "$tmp/weekly" --season 1 --quiet > "$tmp/e1.txt" &&
   [ "$(grep -o '"mae":[0-9.e-]*' "$tmp/e7.txt")" = "$(grep -o '"mae":[0-9.e-]*' "$tmp/e1.txt")" ] &&
   [ "$(grep -o '"mase_seasonal_naive":[0-9.e-]*' "$tmp/e7.txt")" != "$(grep -o '"mase_seasonal_naive":[0-9.e-]*' "$tmp/e1.txt")" ]; then
  passed=$((passed + 1))
else
  echo "FAIL: evaluate --season changed the model or not the baselines"; cat "$tmp/e7.txt" "$tmp/e1.txt"; failures=$((failures + 1))
fi
plot_forecast=$(dirname "${check_export:-/nonexistent}")/plot_forecast.py
if [ -f "$plot_forecast" ] && "$python" -c "import matplotlib" 2>/dev/null; then
  if "$python" "$plot_forecast" --data "$tmp/good_gap.csv" --target "units, sold" --time-column day \
       --forecast "$tmp/pred.csv" -o "$tmp/forecast.png" > /dev/null && [ -s "$tmp/forecast.png" ]; then
    passed=$((passed + 1))
  else
    echo "FAIL: plot_forecast.py"; failures=$((failures + 1))
  fi
fi
"$bin" data --output "$tmp/builtin.csv" && [ "$(grep -c '' "$tmp/builtin.csv")" = 2017 ] && passed=$((passed + 1)) ||
  { echo "FAIL: data"; failures=$((failures + 1)); }
echo "$passed passed, $failures failed"
[ "$failures" = 0 ]
