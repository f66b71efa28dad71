#!/usr/bin/env bash
# seqtorch-caption end to end: bad input exits 1 or 2 with one line on stderr naming the file and
# leaves nothing behind; a good run of every command (data, train, evaluate, describe with
# attention pictures, export); the export checked from Python against `describe`.
# usage: caption_cli_test.sh PATH/seqtorch-caption PATH/seqtorch-translate PATH/scripts
set -u
bin=$1 translate=$2 scripts=$3
source "$(dirname "$0")/cli_expect.sh"
python=${SEQTORCH_PYTHON:-/usr/bin/python3}

small=(--quiet --image-size 32 --channels 16 --stages 2 --hidden-size 24 --embedding-size 16 --batch-size 16
       --decode-images 8 --min-count 1)
"$bin" data --out "$tmp/scenes" --count 200 --image-size 32 --quiet
d="$tmp/scenes"
if [ "$(ls "$d/images" | wc -l)" = 200 ] && [ -s "$d/captions_train.json" ] && [ -s "$d/captions_test.json" ]; then
  passed=$((passed + 1)); else echo "FAIL: data"; failures=$((failures + 1)); fi

# Bad input: each names the file, exits 1 or 2, and no run folder appears.
mkdir -p "$tmp/bad/images"
cp "$d"/images/000001.png "$d"/images/000002.png "$tmp/bad/images/"
good_json='{"images": [{"id": 1, "file_name": "images/000001.png"}, {"id": 2, "file_name": "images/000002.png"}],
 "annotations": [{"image_id": 1, "caption": "a red circle"}, {"image_id": 2, "caption": "a blue square"}]}'
printf '%s' "$good_json" > "$tmp/bad/good.json"
printf '%s' "${good_json/000002.png/000099.png}" > "$tmp/bad/missing.json"
printf '%s' "${good_json/\"annotations\"/\"notes\"}" > "$tmp/bad/notcoco.json"
printf '%s' "${good_json/\"image_id\": 2/\"image_id\": 5}" > "$tmp/bad/unknown.json"
printf '%s' "${good_json/a blue square/ }" > "$tmp/bad/emptycap.json"
head -c 300 "$d/images/000002.png" > "$tmp/bad/images/000003.png"
printf '%s' "${good_json/000002.png/000003.png}" > "$tmp/bad/truncated.json"
printf 'not an image' > "$tmp/bad/images/000004.png"
printf '%s' "${good_json/000002.png/000004.png}" > "$tmp/bad/notimage.json"
expect 1 "images/000099.png: image file missing (image id 2 of $tmp/bad/missing.json)" -- "$bin" train --images "$tmp/bad" --captions "$tmp/bad/missing.json" --out "$tmp/r1" "${small[@]}"
expect 1 "notcoco.json: not COCO captions JSON: the top level has no 'annotations'" -- "$bin" train --images "$tmp/bad" --captions "$tmp/bad/notcoco.json" --out "$tmp/r2" "${small[@]}"
expect 1 "unknown.json: annotations[1] refers to image id 5, which 'images' does not list" -- "$bin" train --images "$tmp/bad" --captions "$tmp/bad/unknown.json" --out "$tmp/r3" "${small[@]}"
expect 1 "emptycap.json: annotations[1] has an empty caption" -- "$bin" train --images "$tmp/bad" --captions "$tmp/bad/emptycap.json" --out "$tmp/r4" "${small[@]}"
expect 1 "images/000003.png: not a readable PNG or JPEG image" -- "$bin" train --images "$tmp/bad" --captions "$tmp/bad/truncated.json" --out "$tmp/r5" "${small[@]}"
expect 1 "images/000004.png: not a readable PNG or JPEG image" -- "$bin" train --images "$tmp/bad" --captions "$tmp/bad/notimage.json" --out "$tmp/r6" "${small[@]}"
expect 1 "nope.json: cannot be read" -- "$bin" train --images "$tmp/bad" --captions "$tmp/bad/nope.json" --out "$tmp/r7" "${small[@]}"
printf 'junk' > "$tmp/bad/backbone.pt"
expect 1 "backbone.pt: not a TorchScript archive" -- "$bin" train --images "$tmp/bad" --captions "$tmp/bad/good.json" --backbone "$tmp/bad/backbone.pt" --out "$tmp/r8" "${small[@]}"
expect 2 "--images DIR is required" -- "$bin" train --captions "$tmp/bad/good.json" --out "$tmp/r9"
expect 2 "--decoder: expected attend, show_tell or align, got 'lstm'" -- "$bin" train --images "$tmp/bad" --captions "$tmp/bad/good.json" --decoder lstm --out "$tmp/r10" "${small[@]}"
for r in r1 r2 r3 r4 r5 r6 r7 r8 r9 r10; do
  if [ -e "$tmp/$r" ]; then echo "FAIL: a failed train left $tmp/$r behind"; failures=$((failures + 1)); else passed=$((passed + 1)); fi
done

# A good run of both decoders, briefly. The attend model is trained until its captions are
# clear (a barely trained model's near-ties between words would flip with the last bit of a
# sum, and the export check compares captions word for word).
for decoder in attend show_tell; do
  epochs=$([ $decoder = attend ] && echo 8 || echo 2)
  if "$bin" train --images "$d" --captions "$d/captions_train.json" --valid-captions "$d/captions_val.json" \
       --decoder $decoder --epochs $epochs --out "$tmp/run-$decoder" "${small[@]}" > "$tmp/train.json" &&
     tail -1 "$tmp/train.json" | grep -q '"decoder":"'$decoder'".*"bleu1".*"bleu4".*"cider".*"images_per_s".*"loss"'; then
    passed=$((passed + 1))
  else
    echo "FAIL: train $decoder"; cat "$tmp/train.json"; failures=$((failures + 1))
  fi
done
ckpt="$tmp/run-attend/checkpoints/best.pt"
for beam in 1 3; do
  if "$bin" evaluate --checkpoint "$ckpt" --images "$d" --captions "$d/captions_test.json" --beam $beam | tail -1 |
     grep -q '"attention_on_object".*"beam":'$beam'.*"bleu1".*"bleu4".*"cider"'; then
    passed=$((passed + 1)); else echo "FAIL: evaluate --beam $beam"; failures=$((failures + 1)); fi
done
expect 2 "--beam: expected >= 1, got 0" -- "$bin" evaluate --checkpoint "$ckpt" --images "$d" --captions "$d/captions_test.json" --beam 0
expect 1 "notcoco.json: not COCO captions JSON" -- "$bin" evaluate --checkpoint "$ckpt" --images "$tmp/bad" --captions "$tmp/bad/notcoco.json"
# Another app's checkpoint, and a damaged one.
"$translate" train --task dates --examples 100 --out "$tmp/trun" --quiet --epochs 1 --hidden-size 8 --embedding-size 8 --decode-sentences 2 > /dev/null
expect 1 "written by seqtorch-translate, not by seqtorch-caption" -- "$bin" describe --checkpoint "$tmp/trun/checkpoints/best.pt" "$d/images/000001.png"
head -c 2000 "$ckpt" > "$tmp/cut.pt"
expect 1 "cut.pt" -- "$bin" describe --checkpoint "$tmp/cut.pt" "$d/images/000001.png"
# describe: one line per image, in order; attention pictures, one per word; bad images.
imgs=("$d/images/000001.png" "$d/images/000002.png" "$d/images/000003.png" "$d/images/000004.png")
if [ "$("$bin" describe --checkpoint "$ckpt" "${imgs[@]}" --attention "$tmp/att" | wc -l)" = 4 ] &&
   [ "$(ls "$tmp/att" | grep -c '^000001_01_.*\.png$')" = 1 ]; then
  passed=$((passed + 1)); else echo "FAIL: describe --attention"; failures=$((failures + 1)); fi
expect 1 "images/000004.png: not a readable PNG or JPEG image" -- "$bin" describe --checkpoint "$ckpt" "$tmp/bad/images/000004.png"
expect 1 "missing.png: cannot be read" -- "$bin" describe --checkpoint "$ckpt" "$tmp/missing.png"
expect 2 "describe: give one or more image files" -- "$bin" describe --checkpoint "$ckpt"
expect 2 "--attention: this model's decoder (show_tell) has no attention" -- "$bin" describe --checkpoint "$tmp/run-show_tell/checkpoints/best.pt" "${imgs[0]}" --attention "$tmp/att2"
# The alignment model: train, Recall@K both ways, retrieval both ways, a captioner started from it.
arun="$tmp/run-align"
if "$bin" train --images "$d" --captions "$d/captions_train.json" --valid-captions "$d/captions_val.json" \
     --decoder align --epochs 2 --out "$arun" "${small[@]}" | tail -1 | grep -q '"decoder":"align".*"i2t_r1".*"rsum".*"t2i_r10"'; then
  passed=$((passed + 1)); else echo "FAIL: train --decoder align"; failures=$((failures + 1)); fi
if "$bin" evaluate --out "$arun" --images "$d" --captions "$d/captions_test.json" | tail -1 |
   grep -q '"captions":100.*"i2t_r1".*"i2t_r10".*"images":20.*"rsum".*"t2i_r1"'; then
  passed=$((passed + 1)); else echo "FAIL: evaluate (align)"; failures=$((failures + 1)); fi
if [ "$("$bin" retrieve --out "$arun" --images "$d" --captions "$d/captions_test.json" --query-image "${imgs[0]}" --top 3 | grep -c $'\t')" = 3 ] &&
   [ "$("$bin" retrieve --out "$arun" --images "$d" --captions "$d/captions_test.json" --query-caption "a red circle" \
        --query-caption "a blue square on the left" --top 2 | grep -c '\.png$\|\.jpg$')" = 4 ]; then
  passed=$((passed + 1)); else echo "FAIL: retrieve"; failures=$((failures + 1)); fi
expect 2 "retrieve: give --query-image FILE or --query-caption TEXT" -- "$bin" retrieve --out "$arun" --images "$d" --captions "$d/captions_test.json"
expect 2 "retrieve: this checkpoint holds a captioner" -- "$bin" retrieve --checkpoint "$ckpt" --images "$d" --captions "$d/captions_test.json" --query-caption "a red circle"
expect 1 "this model is the alignment model (--decoder align)" -- "$bin" describe --out "$arun" "${imgs[0]}"
if "$bin" train --images "$d" --captions "$d/captions_train.json" --valid-captions "$d/captions_val.json" --epochs 1 \
     --encoder-from "$arun/checkpoints/best.pt" --out "$tmp/run-from-align" "${small[@]:1}" 2>&1 >/dev/null |
   grep -q "started from .*: encoder embedding"; then
  passed=$((passed + 1)); else echo "FAIL: train --encoder-from"; failures=$((failures + 1)); fi
# The export, and the export from Python against describe (PNG images: decoders of JPEG differ).
expect 2 "export: --output FILE.pt is required" -- "$bin" export --checkpoint "$ckpt"
if "$bin" export --checkpoint "$ckpt" --output "$tmp/model.pt" --quiet && [ -s "$tmp/model.pt" ]; then
  passed=$((passed + 1)); else echo "FAIL: export"; failures=$((failures + 1)); fi
if "$python" -c "import torch, PIL" 2>/dev/null; then
  for beam in 1 3; do
    "$bin" describe --checkpoint "$ckpt" --beam $beam "${imgs[@]}" > "$tmp/expected$beam.txt"
    if "$python" "$scripts/check_caption_export.py" "$tmp/model.pt" "$tmp/expected$beam.txt" "${imgs[@]}" --beam $beam > "$tmp/check.log" 2>&1; then
      passed=$((passed + 1))
    else
      echo "FAIL: check_caption_export.py --beam $beam:"; cat "$tmp/check.log"; failures=$((failures + 1))
    fi
  done
fi
echo "$passed passed, $failures failed"
[ "$failures" = 0 ]
