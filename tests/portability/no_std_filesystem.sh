#!/usr/bin/env bash
# No seqtorch binary may refer to std::filesystem: the LibTorch inside PyTorch's wheels exports its
# own copy of those symbols and calls bound to it crash (pytorch/pytorch#133437; see
# lib/include/seqtorch/util/file_system.h). Lists every dynamic symbol (defined or not) of each
# file given and fails on any std::filesystem one, naming it.
#   no_std_filesystem.sh FILE...
set -euo pipefail
status=0
for f in "$@"; do
  hits=$(nm -D -C "$f" | grep -F 'std::filesystem' || true)
  if [ -n "$hits" ]; then
    echo "$f refers to std::filesystem:" >&2
    echo "$hits" | head -20 >&2
    status=1
  else
    echo "$f: no std::filesystem symbol ($(nm -D "$f" | wc -l) dynamic symbols checked)"
  fi
done
exit $status
