#!/usr/bin/python3
"""Runs a seqtorch-translate export in Python (torch.jit.load, no seqtorch) and compares its
translations with those of the C++ program.

usage: scripts/check_translate_export.py EXPORT.pt INPUT.txt EXPECTED.txt [--beam K]

INPUT.txt: one sentence per line; EXPECTED.txt: `seqtorch-translate translate --beam K` of it.
Prints one JSON line {"sentences", "equal", "seconds"} and exits 1 when any line differs.
"""
import argparse
import json
import sys
import time

import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export")
    parser.add_argument("input")
    parser.add_argument("expected")
    parser.add_argument("--beam", type=int, default=1)
    args = parser.parse_args()
    module = torch.jit.load(args.export, map_location="cpu")
    with open(args.input, encoding="utf-8") as f:
        sources = f.read().splitlines()
    with open(args.expected, encoding="utf-8") as f:
        expected = f.read().splitlines()
    if len(sources) != len(expected):
        print(f"check_translate_export: {len(sources)} inputs but {len(expected)} expected lines", file=sys.stderr)
        return 1
    start = time.time()
    equal = 0
    with torch.no_grad():
        for i, (s, e) in enumerate(zip(sources, expected)):
            got = module.translate(s, args.beam) if s.strip() else ""
            if got == e:
                equal += 1
            else:
                print(f"line {i + 1}: {s!r}: export {got!r}, program {e!r}", file=sys.stderr)
    print(json.dumps({"sentences": len(sources), "equal": equal, "seconds": round(time.time() - start, 3)}))
    return 0 if equal == len(sources) else 1


if __name__ == "__main__":
    sys.exit(main())
