#!/usr/bin/env bash
# Data-parallel training checked on this machine, 2 processes of 1 thread each:
#  1. forecast and textgen under torchrun, 2 processes x batch B, against 1 process x batch 2B
#     with the same seed: the logged losses and the final parameters equal within tolerance
#     (scripts/dist_compare.py); where this PyTorch's torchrun cannot start (Debian 13's: no
#     libuv), the 2 ranks are started by hand with torchrun's variables, and the script says so;
#  2. a rank killed (SIGKILL) mid-epoch, and a rank hung (SIGSTOP): the other exits non-zero
#     within --dist-timeout with one line on stderr, and the last checkpoint still evaluates.
# With --scaling, also: textgen tokens/s of 1 and 2 processes with the all-reduce time per step
# (the numbers of the README's scaling section).
# usage: scripts/dist_check.sh [--build DIR] [--out DIR] [--scaling] [--device cpu|cuda]
#   TORCHRUN (default: torchrun on PATH, else /usr/bin/torchrun), SEQTORCH_PYTHON (default
#   /usr/bin/python3): the launcher and the Python with torch that reads the exports.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build out= scaling=0 device=cpu
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --scaling) scaling=1; shift ;;
    --device) device=$2; shift 2 ;;
    *) echo "dist_check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
bin=$build/bin
python=${SEQTORCH_PYTHON:-/usr/bin/python3}
torchrun=${TORCHRUN:-$(command -v torchrun || echo /usr/bin/torchrun)}
[ -z "$out" ] && out=$(mktemp -d /tmp/seqtorch-dist.XXXXXX)
mkdir -p "$out"
# Debian 12's torchrun (PyTorch 1.13 on Python 3.11) fails on its own defaults --redirects 0 and
# --tee 0 (Python 3.11's Flag iteration skips the 0 member, so "0" parses to None); any other
# value works: stdout to a log file and, teed, to the console; stderr untouched.
launch=("$torchrun" --no_python --redirects 1 --tee 1 --log_dir "$out/torchrun-logs")
# Debian 13's PyTorch 2.6 is built without libuv, and its torchrun's own store asks for libuv
# whatever USE_LIBUV says: torchrun cannot start there. Then the ranks are started by hand with
# the variables torchrun would set (the C++ side is the same; the launcher is what differs).
export USE_LIBUV=0
# run2 PORT ARGS...: 2 processes of ARGS, as torchrun --nproc_per_node=2 would start them (rank 0's
# stdout to stdout, both stderrs to stderr); fails if either fails.
run2() {
  local p=$1; shift
  if [ "$by_hand" = 0 ]; then
    "${launch[@]}" --nproc_per_node=2 --master_port "$p" "$@"
    return
  fi
  local pids=() r rc=0
  for r in 0 1; do
    if [ "$r" = 0 ]; then
      WORLD_SIZE=2 RANK=$r LOCAL_RANK=$r LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p "$@" &
    else
      WORLD_SIZE=2 RANK=$r LOCAL_RANK=$r LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p "$@" > /dev/null &
    fi
    pids+=($!)
  done
  for r in "${pids[@]}"; do wait "$r" || rc=1; done
  return $rc
}
corpus=$build/corpus/kjv.txt
failures=0 passed=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; passed=$((passed + 1)); }
for need in "$bin/seqtorch-forecast" "$bin/seqtorch-textgen" "$torchrun" "$python"; do
  [ -x "$need" ] || { echo "dist_check.sh: $need is missing" >&2; exit 1; }
done
# A free port (the kernel's choice), for each launch.
port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
by_hand=0
if ! "${launch[@]}" --nproc_per_node=1 --master_port "$(port)" "$(command -v true)" > "$out/torchrun-probe.log" 2>&1; then
  if grep -q libuv "$out/torchrun-probe.log"; then
    by_hand=1
    echo "note: this PyTorch's torchrun cannot start (its TCPStore asks for libuv, which this build lacks): ranks started by hand"
  else
    echo "dist_check.sh: $torchrun cannot start a process:" >&2; tail -5 "$out/torchrun-probe.log" >&2; exit 1
  fi
fi
# Text for textgen: the default corpus when built, else generated.
if [ ! -s "$corpus" ]; then
  corpus=$out/corpus.txt
  for i in $(seq 1 3000); do echo "and the $i-th word was with god, and the word was good $((i * 7 % 13))"; done > "$corpus"
fi
head -c 400000 "$corpus" > "$out/text.txt"

# One relative form: one training run (--relative auto would train one per form, each checked alike).
forecast_args=(--device "$device" --threads 1 --quiet --seed 3 --epochs 3 --hidden-size 32 --window 24 --horizon 6 --eval-every 20
               --relative last)
textgen_args=(--device "$device" --threads 1 --quiet --seed 3 --epochs 1 --max-steps 60 --hidden-size 64 --embedding-size 32
              --seq-len 50 --text "$out/text.txt" --eval-every 20)

# 1. Equality: 2 x B under torchrun against 1 x 2B.
equal() {  # app B extra-args...
  local app=$1 b=$2; shift 2
  local one=$out/$app-1x$((2 * b)) two=$out/$app-2x$b
  rm -rf "$one" "$two"
  local t0=$SECONDS
  "$bin/seqtorch-$app" train "$@" --batch-size $((2 * b)) --out "$one" > "$out/$app-1.json" 2> "$out/$app-1.err" ||
    { fail "$app: one process"; cat "$out/$app-1.err"; return; }
  local t1=$SECONDS
  run2 "$(port)" "$bin/seqtorch-$app" train "$@" --batch-size "$b" --out "$two" > "$out/$app-2.json" 2> "$out/$app-2.err" ||
    { fail "$app: 2 processes"; tail -5 "$out/$app-2.err"; return; }
  local t2=$SECONDS
  "$bin/seqtorch-$app" export --out "$one" --checkpoint "$one/checkpoints/last.pt" --output "$one.pt" --quiet > /dev/null &&
    "$bin/seqtorch-$app" export --out "$two" --checkpoint "$two/checkpoints/last.pt" --output "$two.pt" --quiet > /dev/null ||
    { fail "$app: export"; return; }
  if "$python" "$root/scripts/dist_compare.py" --rtol 1e-5 --atol 1e-5 "$one" "$two" "$one.pt" "$two.pt" > "$out/$app-compare.json"; then
    pass "$app: 2 processes x batch $b == 1 process x batch $((2 * b)) (one process $((t1 - t0)) s, $([ "$by_hand" = 0 ] && echo torchrun || echo "2 by hand") $((t2 - t1)) s): $(cat "$out/$app-compare.json")"
  else
    fail "$app: 2 x $b differs from 1 x $((2 * b)): $(cat "$out/$app-compare.json")"
  fi
}
equal forecast 16 "${forecast_args[@]}"
equal textgen 8 "${textgen_args[@]}"

# 2. A rank that dies or hangs mid-epoch. The two ranks are started by hand (as torchrun would,
# with its variables) so that one of them can be killed; --dist-timeout 5.
lose_rank() {  # how (KILL | STOP)
  local how=$1 run=$out/forecast-$1 p
  rm -rf "$run"
  p=$(port)
  local n args=(train --device "$device" --threads 1 --quiet --seed 3 --epochs 400 --hidden-size 32 --window 24 --horizon 6 --relative last
              --batch-size 16 --dist-timeout 5 --out "$run")
  WORLD_SIZE=2 RANK=0 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p "$bin/seqtorch-forecast" "${args[@]}" \
    > /dev/null 2> "$run.rank0.err" &
  local r0=$!
  WORLD_SIZE=2 RANK=1 LOCAL_RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=$p "$bin/seqtorch-forecast" "${args[@]}" \
    > /dev/null 2> "$run.rank1.err" &
  local r1=$!
  # Mid-epoch, after two epochs have written last.pt.
  for _ in $(seq 1 600); do
    n=$(grep -c '"split":"val"' "$run/metrics.jsonl" 2> /dev/null)
    [ "${n:-0}" -ge 2 ] && break
    sleep 0.1
  done
  sleep 0.3
  local t0
  t0=$(date +%s.%N)
  kill -"$how" "$r1"
  wait "$r0"
  local rc=$? elapsed
  elapsed=$("$python" -c "import sys; print(round($(date +%s.%N) - $t0, 2))")
  kill -9 "$r1" 2> /dev/null
  wait "$r1" 2> /dev/null
  local lines
  lines=$(wc -l < "$run.rank0.err")
  if [ "$rc" -ne 0 ] && [ "$lines" -eq 1 ] && grep -q "data-parallel rank 0 of 2" "$run.rank0.err" &&
     "$python" -c "import sys; sys.exit(0 if $elapsed <= 5 + 10 else 1)"; then
    pass "rank 1 SIG$how: rank 0 exited $rc after $elapsed s: $(cat "$run.rank0.err")"
  else
    fail "rank 1 SIG$how: rank 0 exited $rc after $elapsed s with $lines line(s):"; cat "$run.rank0.err"
  fi
  if "$bin/seqtorch-forecast" evaluate --out "$run" --checkpoint "$run/checkpoints/last.pt" --quiet --threads 1 > /dev/null 2>&1; then
    pass "rank 1 SIG$how: the last checkpoint evaluates"
  else
    fail "rank 1 SIG$how: the last checkpoint does not evaluate"
  fi
}
lose_rank KILL
lose_rank STOP

# 3. Scaling (on request): the same global batch and steps, 1 process of 1 thread against 2 of 1.
if [ "$scaling" = 1 ]; then
  big=(--device "$device" --threads 1 --quiet --seed 3 --epochs 1 --max-steps 100 --hidden-size 256 --embedding-size 64
       --seq-len 100 --text "$out/text.txt" --eval-every 0)
  rm -rf "$out/scale-1" "$out/scale-2"
  "$bin/seqtorch-textgen" train "${big[@]}" --batch-size 64 --out "$out/scale-1" > /dev/null 2>&1
  run2 "$(port)" "$bin/seqtorch-textgen" train "${big[@]}" --batch-size 32 --out "$out/scale-2" > /dev/null 2>&1
  "$python" - "$out/scale-1" "$out/scale-2" << 'EOF'
import json, sys
for run, procs in ((sys.argv[1], 1), (sys.argv[2], 2)):
    tl = [json.loads(l) for l in open(run + "/metrics.jsonl") if '"split":"train"' in l][1:]  # the first window warms up
    rate = sum(l["tokens_per_s"] for l in tl) / len(tl) * procs
    ar = sum(l.get("allreduce_ms_per_step", 0) for l in tl) / len(tl)
    print(f"scaling: {procs} process(es) x 1 thread: {rate:,.0f} tokens/s in all, all-reduce {ar:.1f} ms per step")
EOF
fi

echo "dist_check: $passed passed, $failures failed (runs in $out)"
[ "$failures" -eq 0 ]
