#!/usr/bin/env bash
# The ζ = 80 % question (issue 17, item 6): how the catch-up overcost at ζ = 80 % depends on which
# samples form the minority. Four group splits on two data sets, everything else as in
# `reproduce --preset quick` (digits: mlp, smallcnn) and `--preset fashion` (Fashion-MNIST:
# vgg11 ×0.25, the quickest of its networks that learns at these settings):
#   upper half (the default: classes 5–9), lower half (0–4), interleaved (1, 3, 5, 7, 9),
#   and a group attribute drawn at random, independent of the class (data option random-groups).
# Usage: bash crates/cli/bench/zeta80.sh [OUT] [MAJMIN]   (prints one table per data set)
set -euo pipefail
out=${1:-zeta80}
majmin=${2:-target/release/majmin}
mkdir -p "$out"
run() { # name data extra…
  local name=$1 data=$2
  shift 2
  "$majmin" --threads 2 -q overcost --data "$data" --zetas 0.8 --kappas 0.9,0.99 --seeds 2 \
    --jobs 2 --out "$out/$name" "$@" > /dev/null
  # median overcost per architecture and κ, from table.csv (arch,params,kappa,zeta,median,…)
  awk -F, -v grp="$name" 'NR > 1 { printf "%-20s %-16s κ=%-5s median %s%-6s [%s – %s] (%s censored of %s)\n", grp, $1, $3, ($13 == "true" ? ">" : ""), ($5 == "" ? "n/a" : sprintf("%.0f", $5)), ($6 == "" ? "–" : sprintf("%.0f", $6)), ($7 == "" ? "–" : sprintf("%.0f", $7)), $8, $9 }' "$out/$name/table.csv"
}
quick=(--archs mlp,smallcnn --epochs 60 --lr 0.05 --batch 64 --eval-points 40)
fashion=(--archs vgg11 --width 0.25 --epochs 20 --lr 0.05 --batch 64 --eval-points 30)
fm=fashion-mnist,per-class=500,resize=32
echo "digits (n1 = 901 in every split but the random one; median overcost in %, 2 seeds)"
run digits-upper digits "${quick[@]}"
run digits-lower digits "${quick[@]}" --minority-classes 0,1,2,3,4
run digits-interleaved digits "${quick[@]}" --minority-classes 1,3,5,7,9
run digits-random digits,random-groups=1 "${quick[@]}"
echo
echo "Fashion-MNIST (500 images per class, 32×32; median overcost in %, 2 seeds)"
run fashion-upper "$fm" "${fashion[@]}"
run fashion-lower "$fm" "${fashion[@]}" --minority-classes 0,1,2,3,4
run fashion-interleaved "$fm" "${fashion[@]}" --minority-classes 1,3,5,7,9
run fashion-random "$fm,random-groups=1" "${fashion[@]}"
