#!/usr/bin/env bash
# Installs what is missing, builds (scripts/setup.sh), then runs the main jobs:
#  1. the core demonstration: the seed note's Elman RNN and an LSTM learn a memory task;
#  2. seqtorch-forecast on its built-in series: train, evaluate (backtest against the naive
#     baselines), predict the next day, export to TorchScript and check the export from Python;
#  3. seqtorch-textgen on the King James Bible for 60 seconds: train, sample, export, check;
#  4. seqtorch-translate on the built-in dates task for 150 seconds: train, evaluate on held-out
#     dates (greedy and beam 5), translate with an attention plot, export, check from Python;
#  5. seqtorch-caption on 2000 built-in scenes for 150 seconds: write the data, train, evaluate
#     on the held-out scenes (greedy and beam 3), describe with attention pictures, export, check;
#  6. seqtorch-lab long-memory: the adding problem over 50, 100 and 200 steps for the tanh RNN,
#     the IRNN, the LSTM and the GRU (about 2 minutes): the table, loss and gradient plots.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build_dir=${SEQTORCH_BUILD_DIR:-build}
bin="$build_dir/bin"
run=${SEQTORCH_DEMO_RUN:-runs/demo-forecast}

echo "== core: Elman RNN and LSTM on a memory task"
"$bin/seqtorch-core-demo"

echo "== seqtorch-forecast train (models/forecast.cfg, run folder $run)"
"$bin/seqtorch-forecast" train --config models/forecast.cfg --out "$run"
echo "== seqtorch-forecast evaluate"
"$bin/seqtorch-forecast" evaluate --out "$run"
echo "== seqtorch-forecast predict (first 6 of 24 hours)"
"$bin/seqtorch-forecast" predict --out "$run" --output "$run/forecast.csv"
head -7 "$run/forecast.csv"
"$bin/seqtorch-forecast" data --output "$run/series.csv"
/usr/bin/python3 scripts/plot_forecast.py --data "$run/series.csv" --target load --time-column hour \
  --forecast "$run/forecast.csv" -o "$run/forecast.png"
/usr/bin/python3 scripts/plot_metrics.py "$run/metrics.jsonl" -o "$run/metrics.png"
echo "== seqtorch-forecast export, checked from Python"
"$bin/seqtorch-forecast" export --out "$run" --output "$run/forecast.pt"
/usr/bin/python3 scripts/check_export.py forecast --bin "$bin/seqtorch-forecast" \
  --checkpoint "$run/checkpoints/best.pt" --workdir "$run/export-check"

trun=${SEQTORCH_DEMO_TEXTGEN_RUN:-runs/demo-textgen}
echo "== seqtorch-textgen train (models/textgen-small.cfg: 60 s on the King James Bible, run folder $trun)"
"$bin/seqtorch-textgen" train --config models/textgen-small.cfg --out "$trun"
echo "== seqtorch-textgen sample (temperature 0.8, top-k 20)"
"$bin/seqtorch-textgen" sample --out "$trun" --prime "And God said" --length 300 --temperature 0.8 --top-k 20 --seed 1
echo "== seqtorch-textgen export, checked from Python"
/usr/bin/python3 scripts/check_export.py textgen --bin "$bin/seqtorch-textgen" \
  --checkpoint "$trun/checkpoints/best.pt" --workdir "$trun/export-check"

xrun=${SEQTORCH_DEMO_TRANSLATE_RUN:-runs/demo-translate}
echo "== seqtorch-translate train (models/translate-dates.cfg: 150 s on the dates task, run folder $xrun)"
"$bin/seqtorch-translate" train --config models/translate-dates.cfg --out "$xrun"
for beam in 1 5; do
  echo "== seqtorch-translate evaluate on 2000 held-out dates, beam $beam"
  "$bin/seqtorch-translate" evaluate --out "$xrun" --task dates --examples 2000 --beam "$beam"
done
printf 'Thursday 26 November 2026\n26/11/26\nNov 26, 2026\nthe 1st of January 2000\nMON 3 FEB 1975\n' > "$xrun/examples.txt"
echo "== seqtorch-translate translate (attention drawn to $xrun/attention.png)"
paste "$xrun/examples.txt" <("$bin/seqtorch-translate" translate --out "$xrun" --input "$xrun/examples.txt" \
  --show-attention "$xrun/attention.png")
echo "== seqtorch-translate export, checked from Python"
"$bin/seqtorch-translate" export --out "$xrun" --output "$xrun/translate.pt"
"$bin/seqtorch-translate" translate --out "$xrun" --input "$xrun/examples.txt" --beam 1 > "$xrun/expected.txt"
/usr/bin/python3 scripts/check_translate_export.py "$xrun/translate.pt" "$xrun/examples.txt" "$xrun/expected.txt"

crun=${SEQTORCH_DEMO_CAPTION_RUN:-runs/demo-caption}
echo "== seqtorch-caption data: 2000 built-in scenes in $crun/scenes"
"$bin/seqtorch-caption" data --out "$crun/scenes" --count 2000
echo "== seqtorch-caption train (150 s, run folder $crun)"
"$bin/seqtorch-caption" train --images "$crun/scenes" --captions "$crun/scenes/captions_train.json" \
  --valid-captions "$crun/scenes/captions_val.json" --time-budget 150 --eval-every 200 --out "$crun"
for beam in 1 3; do
  echo "== seqtorch-caption evaluate on the 200 held-out scenes, beam $beam"
  "$bin/seqtorch-caption" evaluate --out "$crun" --images "$crun/scenes" --captions "$crun/scenes/captions_test.json" --beam "$beam"
done
examples=("$crun"/scenes/images/00190[1-4].png)
echo "== seqtorch-caption describe (attention pictures in $crun/attention)"
paste <(printf '%s\n' "${examples[@]}") <("$bin/seqtorch-caption" describe --out "$crun" "${examples[@]}" --attention "$crun/attention")
echo "== seqtorch-caption export, checked from Python"
"$bin/seqtorch-caption" export --out "$crun" --output "$crun/caption.pt"
"$bin/seqtorch-caption" describe --out "$crun" --beam 1 "${examples[@]}" > "$crun/expected.txt"
/usr/bin/python3 scripts/check_caption_export.py "$crun/caption.pt" "$crun/expected.txt" "${examples[@]}"

lrun=${SEQTORCH_DEMO_LAB_RUN:-runs/demo-lab}
echo "== seqtorch-lab long-memory: the adding problem at T = 50, 100, 200 (plots in $lrun)"
"$bin/seqtorch-lab" long-memory --lengths 50,100,200 --out "$lrun"
