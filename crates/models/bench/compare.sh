#!/usr/bin/env bash
# Training-step images/s of majmin beside PyTorch (shared/peers/torch_bench.py), same machine,
# same threads, one run; then the convolution kernel against SGEMM.
# Usage: crates/models/bench/compare.sh [THREADS] [ARCH...]
# Each architecture runs ROUNDS times (default 3), majmin and PyTorch alternating, and the table
# gives the medians and the median ratio with its range over the rounds: on a shared machine a
# single pair of runs can be off by a factor of two.
# Env: ROUNDS (3), MAJMIN (binary, default $CARGO_TARGET_DIR or target /release/majmin), PY (python with torch,
#      default ~/.cache/majmin-peers/bin/python, made by shared/peers/setup.sh), BATCH (64), HW (32).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
threads=${1:-2}
shift || true
archs=("$@")
[[ ${#archs[@]} -gt 0 ]] || archs=(mobilenetv2 squeezenet vgg11 vgg19 resnet18 resnet50 resnet101)
majmin=${MAJMIN:-${CARGO_TARGET_DIR:-$root/target}/release/majmin}
py=${PY:-$HOME/.cache/majmin-peers/bin/python}
torch_bench=${TORCH_BENCH:-$root/../shared/peers/torch_bench.py}
batch=${BATCH:-64}
hw=${HW:-32}
steps_for() { case $1 in resnet50|resnet101|vgg19) echo 3 ;; vgg11|resnet18) echo 5 ;; *) echo 10 ;; esac; }
field() { "$py" -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }
rounds=${ROUNDS:-3}
printf '| arch | params | majmin images/s | PyTorch images/s | ratio (median) | ratio range |\n|---|---:|---:|---:|---:|---:|\n'
for a in "${archs[@]}"; do
  s=$(steps_for "$a")
  ms=() ts=()
  for _ in $(seq "$rounds"); do
    m=$("$majmin" bench --arch "$a" --batch "$batch" --hw "$hw" --steps "$s" --threads "$threads" --json -q)
    t=$("$py" "$torch_bench" --arch "$a" --batch "$batch" --hw "$hw" --steps "$s" --threads "$threads")
    ms+=("$(echo "$m" | field images_per_s)")
    ts+=("$(echo "$t" | field images_per_s)")
    p=$(echo "$m" | field params)
  done
  "$py" -c "
import statistics as st
m = [$(IFS=,; echo "${ms[*]}")]; t = [$(IFS=,; echo "${ts[*]}")]
r = [a / b for a, b in zip(m, t)]
print('| $a | $p | %.1f | %.1f | %.2f | %.2f–%.2f |' % (st.median(m), st.median(t), st.median(r), min(r), max(r)))"
done
echo
"$majmin" bench --kernel --batch "$batch" --threads "$threads"
"$py" -c "
import torch, time
torch.set_num_threads($threads)
a = torch.randn(1024, 1024); b = torch.randn(1024, 1024)
a @ b
t = min((lambda s: (a @ b, time.perf_counter() - s)[1])(time.perf_counter()) for _ in range(5))
print('PyTorch SGEMM 1024^3: %.1f GFLOP/s' % (2 * 1024**3 / t / 1e9))"
