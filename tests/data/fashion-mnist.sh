#!/usr/bin/env bash
# Installs Debian's package dataset-fashion-mnist (70,000 real 28×28 images as IDX gzip files in
# /usr/share/datasets/fashion-mnist), which the `fashion-mnist` data spec finds without a path.
# Needs root (CI and the project's machines run as root); does nothing when the files are there.
set -euo pipefail
dir=/usr/share/datasets/fashion-mnist
if [[ -f $dir/train-images-idx3-ubyte.gz && -f $dir/t10k-labels-idx1-ubyte.gz ]]; then
  echo "fashion-mnist: already installed in $dir"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q dataset-fashion-mnist; then
  apt-get update -q
  apt-get install -y -q dataset-fashion-mnist
fi
echo "fashion-mnist: installed in $dir"
