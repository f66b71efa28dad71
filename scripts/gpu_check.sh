#!/usr/bin/env bash
# seqtorch on a machine with a CUDA GPU and a PyTorch 2.x, even one with no package registry:
# builds everything (apps included, warnings as errors) against the LibTorch inside that PyTorch,
# runs the whole suite with the CUDA tests live, a GPU smoke of every app (train, evaluate,
# predict / sample on the GPU and on the CPU, export, the export loaded in Python, a CUDA run
# resumed on the CPU), the training-speed comparison with PyTorch-Python and a step profile, and
# prints one summary. Every step's log goes to OUT/<step>.log.
#
#   scripts/gpu_check.sh --fetch DIR
#       On a Debian 12 machine with apt (this project's own): downloads the .deb files the build
#       needs beyond LibTorch (fmt, Boost.ProgramOptions, GoogleTest, nlohmann-json, stb) into DIR, with the default
#       corpus (build/corpus/kjv.txt, made by scripts/setup.sh). Carry DIR to the GPU machine.
#   scripts/gpu_check.sh [--deps DIR] [--out DIR] [--build DIR] [--libtorch PREFIX] [--quick]
#       On the GPU machine. --deps: the folder made by --fetch, unpacked into a private prefix
#       (nothing is installed); without it the system's fmt, Boost and GoogleTest are used.
#       --libtorch: a LibTorch prefix (default: $PYTHON's torch.utils.cmake_prefix_path).
#       --quick: no speed comparison. --only LIST: after the build, only these steps (comma-
#       separated: suite, cuda, textgen, forecast, translate, caption, dist, speed, profile, graph). PYTHON: the Python with torch (default: python3).
# Exit status 0 only when every step passed.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
py=${PYTHON:-python3}
deps="" out="gpu-check" build="build-gpu" libtorch="" quick=0 only=""
fetch_debs=(libfmt-dev libfmt9 libboost-program-options-dev libboost-program-options1.74-dev
            libboost-program-options1.74.0 libboost1.74-dev libgtest-dev nlohmann-json3-dev libstb-dev
            zlib1g-dev zlib1g)
while [ $# -gt 0 ]; do
  case $1 in
    --fetch)
      mkdir -p "$2" && (cd "$2" && apt-get download "${fetch_debs[@]}") || exit 1
      if [ -f build/corpus/kjv.txt ]; then cp build/corpus/kjv.txt "$2/"; else
        echo "gpu_check: no build/corpus/kjv.txt (run scripts/setup.sh first); textgen will need --text" >&2; fi
      echo "gpu_check: $(ls "$2" | wc -l) files in $2"
      exit 0 ;;
    --deps) deps=$(cd "$2" && pwd); shift ;;
    --out) out=$2; shift ;;
    --build) build=$2; shift ;;
    --libtorch) libtorch=$2; shift ;;
    --quick) quick=1 ;;
    --only) only=",$2,"; shift ;;
    *) echo "gpu_check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
summary=()
failed=0
# step NAME LIMIT_SECONDS COMMAND...: runs COMMAND (a program or one of the functions below) in a
# shell of its own, killed after LIMIT_SECONDS, its output in OUT/NAME.log; records the result.
step() {
  local name=$1 limit=$2 start rc
  shift 2
  case $name in build*) ;; *) if [ -n "$only" ] && [[ $only != *",$name,"* ]]; then return 0; fi ;; esac
  start=$(date +%s)
  timeout -k 10 "$limit" bash -c '"$@"' "$name" "$@" > "$out/$name.log" 2>&1
  rc=$?
  local line
  line=$(printf '%-8s %-4s %4ss  %s' "$name" "$([ $rc = 0 ] && echo ok || echo FAIL)" "$(($(date +%s) - start))" "$(tail -n 1 "$out/$name.log" | cut -c1-150)")
  summary+=("$line")
  echo "$line"
  [ $rc = 0 ] || failed=1
  return $rc
}

# --- dependencies --------------------------------------------------------------------------
prefix_path=${libtorch:-$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)')}
corpus=""
if [ -n "$deps" ]; then
  private=/tmp/seqtorch-deps
  mkdir -p "$private"
  for f in "$deps"/*.deb; do dpkg -x "$f" "$private"; done
  # zlib1g-dev's libz.so points at /lib/x86_64-linux-gnu/libz.so.1.2.13 by an absolute link,
  # dangling in the private prefix, so CMake's FindZLIB took the static libz.a (not PIC: the
  # shared library failed to link). Point it at the unpacked zlib1g and drop the archive.
  if [ -e "$private/lib/x86_64-linux-gnu/libz.so.1" ]; then
    ln -sf "$private/lib/x86_64-linux-gnu/libz.so.1" "$private/usr/lib/x86_64-linux-gnu/libz.so"
    rm -f "$private/usr/lib/x86_64-linux-gnu/libz.a"
  fi
  prefix_path="$prefix_path;$private/usr"
  export LD_LIBRARY_PATH="$private/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  [ -f "$deps/kjv.txt" ] && corpus="$deps/kjv.txt"
fi
[ -z "$corpus" ] && [ -f "$build/corpus/kjv.txt" ] && corpus="$build/corpus/kjv.txt"
[ -z "$corpus" ] && [ -f build/corpus/kjv.txt ] && corpus=build/corpus/kjv.txt
"$py" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "NONE")' | tee "$out/machine.log"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >> "$out/machine.log" 2>&1

# --- build ---------------------------------------------------------------------------------
# Warnings are errors (-DSEQTORCH_WERROR=ON); if that build fails, the step fails and the rest
# still runs on a build without -Werror, so one warning does not hide every other result.
configure() {
  local generator=()
  command -v ninja > /dev/null && generator=(-G Ninja)
  cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DSEQTORCH_WERROR="$1" \
    -DCMAKE_PREFIX_PATH="$prefix_path" -DSEQTORCH_PYTHON="$(command -v "$py")" &&
    cmake --build "$build" -j "$(nproc)"
}
export -f configure
export build prefix_path py
if ! step build 900 configure ON; then
  step build-no-werror 900 configure OFF || {
    printf '%s\n' "" "== gpu_check summary" "${summary[@]}" | tee "$out/summary.log"
    exit 1
  }
fi
bin=$build/bin

# --- the suite, CUDA live ------------------------------------------------------------------
# The CUDA cases run once, on their own, so that their log shows each one ran (none may skip here).
cuda_tests() {
  "$bin/seqtorch_tests" --gtest_filter='*Cuda*' > "$out/cuda-tests.full.log" 2>&1
  local rc=$?
  grep -E '^\[ +(OK|FAILED|SKIPPED) +\]' "$out/cuda-tests.full.log"
  local ok skipped
  ok=$(grep -c '^\[ *OK' "$out/cuda-tests.full.log")
  skipped=$(grep -c '^\[ *SKIPPED' "$out/cuda-tests.full.log")
  echo "$ok CUDA test cases passed, $skipped skipped (exit $rc)"
  [ "$rc" = 0 ] && [ "$skipped" = 0 ]
}
export -f cuda_tests
export out bin
step suite 900 ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --timeout 400 -E Cuda
step cuda 600 cuda_tests

# --- every app on the GPU ------------------------------------------------------------------
smoke_textgen() {
  set -e
  local run=$out/run-textgen tg=$bin/seqtorch-textgen text=("--text" "$corpus")
  [ -n "$corpus" ] || { echo "no corpus (--deps DIR with kjv.txt)"; return 1; }
  rm -rf "$run"
  "$tg" train "${text[@]}" --device cuda --hidden-size 256 --num-layers 2 --batch-size 64 --seq-len 100 \
    --max-steps 300 --eval-every 150 --out "$run" --quiet | tail -1
  for d in cuda cpu; do
    echo "sample on $d: $("$tg" sample --out "$run" --device "$d" --prime 'And God said' --length 120 --temperature 0 | tr '\n' ' ')"
  done
  head -c 200000 "$corpus" > "$out/text-head.txt"
  a=$("$tg" evaluate --out "$run" --device cuda --text "$out/text-head.txt" | tail -1)
  b=$("$tg" evaluate --out "$run" --device cpu --text "$out/text-head.txt" | tail -1)
  echo "evaluate on cuda: $a"; echo "evaluate on cpu:  $b"
  "$py" -c "import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); d=abs(a['bits_per_char']-b['bits_per_char'])/b['bits_per_char']; print('bpc cuda vs cpu: relative difference %.1e' % d); sys.exit(d > 1e-2)" "$a" "$b"
  "$tg" export --out "$run" --output "$run/lm.pt" --quiet
  "$py" scripts/check_export.py textgen --bin "$tg" --checkpoint "$run/checkpoints/best.pt" --prime 'And ' --workdir "$run/check"
  "$tg" train --resume "$run" --device cpu --max-steps 310 --quiet | tail -1
  echo "textgen: a CUDA run resumed on the CPU"
}
smoke_forecast() {
  set -e
  local run=$out/run-forecast fc=$bin/seqtorch-forecast
  rm -rf "$run"
  "$fc" train --config models/forecast.cfg --device cuda --epochs 8 --out "$run" --quiet | tail -1
  a=$("$fc" evaluate --out "$run" --device cuda | tail -1)
  b=$("$fc" evaluate --out "$run" --device cpu | tail -1)
  echo "evaluate on cuda: $a"; echo "evaluate on cpu:  $b"
  "$py" -c "import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); d=abs(a['mase']-b['mase'])/b['mase']; print('MASE cuda vs cpu: relative difference %.1e' % d); sys.exit(d > 1e-2)" "$a" "$b"
  "$fc" predict --out "$run" --device cuda --output "$run/next.csv" && head -3 "$run/next.csv"
  "$fc" export --out "$run" --output "$run/forecast.pt" --quiet
  "$py" scripts/check_export.py forecast --bin "$fc" --checkpoint "$run/checkpoints/best.pt" --workdir "$run/check"
  "$fc" train --resume "$run" --device cpu --epochs 10 --quiet | tail -1
  echo "forecast: a CUDA run resumed on the CPU"
}
smoke_translate() {
  set -e
  local run=$out/run-translate tr=$bin/seqtorch-translate
  rm -rf "$run"
  "$tr" train --task dates --examples 20000 --device cuda --max-steps 400 --eval-every 200 --out "$run" --quiet | tail -1
  a=$("$tr" evaluate --out "$run" --device cuda --task dates --examples 1000 --beam 5 | tail -1)
  b=$("$tr" evaluate --out "$run" --device cpu --task dates --examples 1000 --beam 5 | tail -1)
  echo "evaluate on cuda: $a"; echo "evaluate on cpu:  $b"
  "$py" -c "import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); d=abs(a['chrf']-b['chrf']); print('chrF cuda vs cpu: difference %.2f' % d); sys.exit(d > 1.0)" "$a" "$b"
  "$tr" data --task dates --examples 20 --split test --seed 3 | cut -f1 > "$run/src.txt"
  "$tr" translate --out "$run" --device cuda --input "$run/src.txt" --beam 5 | head -3
  "$tr" export --out "$run" --output "$run/translate.pt" --quiet
  "$tr" translate --out "$run" --device cpu --input "$run/src.txt" --beam 1 > "$run/expected.txt"
  "$py" scripts/check_translate_export.py "$run/translate.pt" "$run/src.txt" "$run/expected.txt"
  "$tr" train --resume "$run" --device cpu --max-steps 410 --quiet | tail -1
  echo "translate: a CUDA run resumed on the CPU"
}
smoke_caption() {
  set -e
  local run=$out/run-caption cap=$bin/seqtorch-caption scenes=$out/scenes
  rm -rf "$run" "$scenes"
  "$cap" data --out "$scenes" --count 2000 --quiet
  "$cap" train --images "$scenes" --captions "$scenes/captions_train.json" --valid-captions "$scenes/captions_val.json" \
    --device cuda --max-steps 600 --eval-every 300 --out "$run" --quiet | tail -1
  a=$("$cap" evaluate --out "$run" --device cuda --images "$scenes" --captions "$scenes/captions_test.json" --beam 3 | tail -1)
  b=$("$cap" evaluate --out "$run" --device cpu --images "$scenes" --captions "$scenes/captions_test.json" --beam 3 | tail -1)
  echo "evaluate on cuda: $a"; echo "evaluate on cpu:  $b"
  "$py" -c "import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); d=abs(a['cider']-b['cider'])/max(b['cider'],1e-9); print('CIDEr cuda vs cpu: relative difference %.1e' % d); sys.exit(d > 5e-2)" "$a" "$b"
  "$cap" describe --out "$run" --device cuda "$scenes"/images/00000[1-4].png --attention "$run/attention"
  "$cap" export --out "$run" --output "$run/caption.pt" --quiet
  "$cap" describe --out "$run" --device cpu --beam 1 "$scenes"/images/00000[1-4].png > "$run/expected.txt"
  if "$py" -c "import PIL" 2>/dev/null; then
    "$py" scripts/check_caption_export.py "$run/caption.pt" "$run/expected.txt" "$scenes"/images/00000[1-4].png
  else
    echo "no Pillow here: the export check from Python is skipped"
  fi
  "$cap" train --resume "$run" --device cpu --max-steps 610 --quiet | tail -1
  echo "caption: a CUDA run resumed on the CPU"
  local ours peer
  ours=$("$cap" train --images "$scenes" --captions "$scenes/captions_train.json" --device cuda --max-steps 200 \
           --decode-images 0 --out "$run-speed" --quiet | tail -1)
  peer=$("$py" scripts/bench/peer_caption.py "$scenes" "$scenes/captions_train.json" 200 4 32 64 cuda)
  echo "training speed on the GPU: seqtorch $ours"; echo "PyTorch-Python $peer"
}
# Data-parallel: torchrun with one process on the GPU (NCCL where the build found it) against
# one plain CUDA process on the same batch, for forecast and textgen; then the CPU check of
# scripts/dist_check.sh (2 processes, Gloo) with this machine's PyTorch and torchrun.
smoke_dist() {
  local t=$out/dist app
  rm -rf "$t"; mkdir -p "$t"
  grep -h -E "seqtorch: (no )?(NCCL|Gloo)" "$out"/build*.log | sort -u
  head -c 400000 "$corpus" > "$t/text.txt"
  local fa=(--device cuda --seed 3 --epochs 3 --hidden-size 32 --window 24 --horizon 6 --eval-every 20 --batch-size 32)
  local ta=(--device cuda --seed 3 --epochs 1 --max-steps 60 --hidden-size 64 --embedding-size 32 --seq-len 50
            --text "$t/text.txt" --eval-every 20 --batch-size 16)
  for app in forecast textgen; do
    local args=("${fa[@]}")
    [ "$app" = textgen ] && args=("${ta[@]}")
    "$bin/seqtorch-$app" train "${args[@]}" --sync-steps --quiet --out "$t/$app-one" | tail -1
    torchrun --no_python --nproc_per_node=1 --master_port 29517 "$bin/seqtorch-$app" train "${args[@]}" \
      --out "$t/$app-torchrun" 2> "$t/$app-torchrun.err" | tail -1
    grep "data-parallel:" "$t/$app-torchrun.err"
    "$bin/seqtorch-$app" export --out "$t/$app-one" --checkpoint "$t/$app-one/checkpoints/last.pt" --output "$t/$app-one.pt" --quiet
    "$bin/seqtorch-$app" export --out "$t/$app-torchrun" --checkpoint "$t/$app-torchrun/checkpoints/last.pt" --output "$t/$app-torchrun.pt" --quiet
    echo "$app: torchrun 1 GPU vs one CUDA process:"
    "$py" scripts/dist_compare.py "$t/$app-one" "$t/$app-torchrun" "$t/$app-one.pt" "$t/$app-torchrun.pt" || return 1
  done
  # CPU processes need Gloo, whose headers pip wheels do not ship.
  if grep -q "seqtorch: Gloo headers in" "$out"/build*.log; then
    SEQTORCH_PYTHON=$(command -v "$py") TORCHRUN=$(command -v torchrun) scripts/dist_check.sh --build "$build" --out "$t/cpu"
  else
    echo "no Gloo headers in this LibTorch: the CPU check (scripts/dist_check.sh) does not apply here"
  fi
}
export -f configure smoke_textgen smoke_forecast smoke_translate smoke_caption smoke_dist
export out build bin py corpus prefix_path
step textgen 300 smoke_textgen
step forecast 200 smoke_forecast
step caption 400 smoke_caption
step translate 300 smoke_translate
step dist 400 smoke_dist

# --- speed against PyTorch-Python ----------------------------------------------------------
if [ "$quick" = 0 ] && [ -n "$corpus" ]; then
  step speed 400 "$py" scripts/bench/gpu_textgen.py --bin "$bin/seqtorch-textgen" --corpus "$corpus" --sync
  step profile 120 "$py" scripts/bench/gpu_textgen.py --bin "$bin/seqtorch-textgen" --corpus "$corpus" \
    --profile 2x512x32 --bench "$bin/seqtorch-bench"
  # The training step captured in a CUDA graph, both sides, on the issue's four configurations.
  step graph 600 "$py" scripts/bench/gpu_textgen.py --bin "$bin/seqtorch-textgen" --corpus "$corpus" \
    --graph --configs 2x512x32,2x512x128,1x1024x64,1x128x16
fi

printf '%s\n' "" "== gpu_check summary ($(head -1 "$out/machine.log"))" "${summary[@]}" | tee "$out/summary.log"
exit $failed
