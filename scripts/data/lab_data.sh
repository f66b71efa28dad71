#!/bin/bash
# Fetches the real image data seqtorch-lab's `rcnn` experiment uses, from Debian packages, into
# DIR (default data/lab, which git ignores). Nothing is installed: the packages are downloaded and
# only their data files are unpacked.
#   DIR/digits.csv.gz        scikit-learn's 8x8 digits (python3-sklearn, 1,797 images)
#   DIR/fashion-mnist/*.gz   Fashion-MNIST (dataset-fashion-mnist, 60,000 + 10,000 28x28 images)
# usage: scripts/data/lab_data.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-data/lab}
mkdir -p "$dir"
if [[ -s "$dir/digits.csv.gz" && -s "$dir/fashion-mnist/t10k-labels-idx1-ubyte.gz" ]]; then
  echo "lab_data: $dir already has the data"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"  # apt's _apt user downloads into it
(cd "$tmp" && apt-get download -qq python3-sklearn dataset-fashion-mnist 2>/dev/null) || {
  apt-get update -qq
  (cd "$tmp" && apt-get download -qq python3-sklearn dataset-fashion-mnist)
}
dpkg-deb --fsys-tarfile "$tmp"/python3-sklearn_*.deb |
  tar -xO ./usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz > "$tmp/digits.csv.gz"
mkdir -p "$tmp/fashion"
dpkg-deb --fsys-tarfile "$tmp"/dataset-fashion-mnist_*.deb | tar -x -C "$tmp/fashion" ./usr/share/datasets/fashion-mnist
mkdir -p "$dir/fashion-mnist"
mv "$tmp"/fashion/usr/share/datasets/fashion-mnist/*.gz "$dir/fashion-mnist/"
mv "$tmp/digits.csv.gz" "$dir/digits.csv.gz"
echo "lab_data: $dir: digits.csv.gz ($(zcat "$dir/digits.csv.gz" | wc -l) images), fashion-mnist/ ($(ls "$dir/fashion-mnist" | wc -l) files)"
