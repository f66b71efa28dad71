#!/usr/bin/python3
"""Builds a real parallel corpus for seqtorch-translate from Debian's SWORD Bibles: the Spanish
Reina-Valera 1909 (sword-text-sparv) against the English King James Version (sword-text-kjv),
aligned verse by verse, read with diatheke. Nothing of it goes into the repository.

usage: scripts/data/bible_parallel.py OUT_DIR [--reverse]

Writes OUT_DIR/{train,valid,test}.tsv, `spanish<TAB>english` per line (--reverse: English first).
valid and test hold 1000 verses each, chosen by a hash of the verse reference (the same split
every time); train holds the rest (about 29,000). Strong's numbers (<H3027>) are removed and
whitespace collapsed. As root, installs diatheke and the two modules when they are missing.
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

MODULES = {"spa": ("spaRV1909eb", "sword-text-sparv"), "eng": ("engKJV2006eb", "sword-text-kjv")}
VERSE = re.compile(r"^(.+? \d+:\d+): (.*)$")


def ensure_packages() -> None:
    missing = [pkg for _, pkg in MODULES.values()
               if not os.path.exists(f"/usr/share/doc/{pkg}")]
    if shutil.which("diatheke") is None:
        missing.append("diatheke")
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"bible_parallel: install {' '.join(missing)} (apt-get, as root) first")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def verses(module: str) -> dict:
    text = subprocess.run(["diatheke", "-b", module, "-f", "plain", "-k", "Gen-Rev"], check=True,
                          capture_output=True, text=True).stdout
    out = {}
    for line in text.splitlines():
        m = VERSE.match(line.strip())
        if not m:
            continue
        body = re.sub(r"<[HG]\d+>", "", m.group(2))
        body = " ".join(body.split())
        if body:
            out[m.group(1)] = body
    if len(out) < 30000:
        sys.exit(f"bible_parallel: only {len(out)} verses read from {module}")
    return out


def write(path: str, rows: list) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for src, tgt in rows:
            f.write(f"{src}\t{tgt}\n")
    os.replace(tmp, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--reverse", action="store_true", help="English -> Spanish")
    args = parser.parse_args()
    ensure_packages()
    spa, eng = verses(MODULES["spa"][0]), verses(MODULES["eng"][0])
    refs = [r for r in spa if r in eng]
    splits = {"train": [], "valid": [], "test": []}
    for ref in refs:
        h = int(hashlib.sha1(ref.encode()).hexdigest(), 16) % 31
        pair = (eng[ref], spa[ref]) if args.reverse else (spa[ref], eng[ref])
        splits["test" if h == 0 else "valid" if h == 1 else "train"].append(pair)
    # About 1000 verses each for valid and test.
    os.makedirs(args.out_dir, exist_ok=True)
    for name, rows in splits.items():
        write(os.path.join(args.out_dir, f"{name}.tsv"), rows)
    print(f"bible_parallel: {len(refs)} aligned verses: " +
          ", ".join(f"{k} {len(v)}" for k, v in splits.items()) + f" in {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
