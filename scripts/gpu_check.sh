#!/usr/bin/env bash
# For a machine with a CUDA GPU and PyTorch installed (no internet needed): builds seqtorch
# against the LibTorch inside that Python torch, runs the whole test suite (the *Cuda* tests run
# on the GPU there instead of skipping), and prints a summary.
#   PYTHON      the Python with torch (default: python3)
#   BUILD_DIR   build folder (default: build-gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
build_dir=${BUILD_DIR:-build-gpu}
prefix=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)')
abi=$("$py" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
      "device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "NONE")'
extra=()
# A LibTorch built with the old C++ ABI cannot link the distribution's GoogleTest: build it
# from source with the same ABI when the sources are there.
if [ "$abi" = 0 ] && [ -d /usr/src/googletest ]; then extra+=(-DSEQTORCH_GTEST_FROM_SOURCE=ON); fi
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DSEQTORCH_BUILD_APPS=OFF "${extra[@]}"
cmake --build "$build_dir" -j "$(nproc)"
status=0
ctest --test-dir "$build_dir" --output-on-failure -j 4 | tee "$build_dir/ctest.log" || status=$?
echo "== CUDA tests =="
"$build_dir/bin/seqtorch_tests" --gtest_filter='*Cuda*' 2>&1 | grep -E '^\[ *(OK|FAILED|SKIPPED|PASSED) *\]' || true
echo "== summary: $(tail -n 20 "$build_dir/ctest.log" | grep -E 'tests passed|tests failed' | head -1)"
exit "$status"
