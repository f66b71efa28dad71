#!/usr/bin/python3
"""Runs a seqtorch-caption export in Python (torch.jit.load, no seqtorch) on image files and
compares its captions with those of the C++ program.

usage: scripts/check_caption_export.py EXPORT.pt EXPECTED.txt IMAGE... [--beam K]

EXPECTED.txt: `seqtorch-caption describe --beam K IMAGE...`, one caption per line. Images are read
with Pillow as uint8 [3, H, W] at their own size (the export resizes them). Prints one JSON line
{"images", "equal", "seconds"} and exits 1 when any caption differs.
"""
import argparse
import json
import sys
import time

import numpy as np
import torch
from PIL import Image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export")
    parser.add_argument("expected")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--beam", type=int, default=1)
    args = parser.parse_args()
    module = torch.jit.load(args.export, map_location="cpu")
    with open(args.expected, encoding="utf-8") as f:
        expected = f.read().splitlines()
    if len(expected) != len(args.images):
        print(f"check_caption_export: {len(args.images)} images but {len(expected)} expected lines", file=sys.stderr)
        return 1
    start = time.time()
    equal = 0
    with torch.no_grad():
        for path, want in zip(args.images, expected):
            pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
            image = torch.from_numpy(pixels.copy()).permute(2, 0, 1)
            got = module.describe(image, args.beam)[0]
            if got == want:
                equal += 1
            else:
                print(f"{path}: export {got!r}, program {want!r}", file=sys.stderr)
    print(json.dumps({"images": len(args.images), "equal": equal, "seconds": round(time.time() - start, 3)}))
    return 0 if equal == len(args.images) else 1


if __name__ == "__main__":
    sys.exit(main())
