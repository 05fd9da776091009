#!/usr/bin/env bash
# majmin's training step beside PyTorch's (shared/peers/torch_bench.py) on this machine, in one
# run: images/s, peak resident memory and useful GFLOP/s, for the seven networks at batch 64 and
# for resnet18 and mobilenetv2 at batches 1, 8, 64 and 256; then the convolution kernels against
# SGEMM.
#
# Usage: crates/models/bench/compare.sh [THREADS] [ARCH...]
#
# Method (issue 14):
# - ROUNDS rounds (default 5), alternating in each round: majmin, PyTorch (default memory
#   format), PyTorch with --channels-last. PyTorch's figure of a round is the faster of its two
#   configurations (PyTorch at its fastest); the ratio of a round is majmin's images/s over it.
#   The table gives the median ratio over the rounds and its range: on a shared machine a single
#   pair of runs can be off by a factor of two.
# - Peak memory: "Maximum resident set size" of the whole process from /usr/bin/time -v, the
#   median over the rounds; PyTorch's is the lower of its two configurations.
# - Useful GFLOP/s: the network's direct-convolution and linear FLOPs per step (`majmin bench
#   --json`'s direct_flops_per_step: forward, weight gradient, input gradient but for the first
#   layer) over the median step time, so that a faster algorithm (Winograd) can pass 100 %; as a
#   fraction of the SGEMM of the GEMM crate majmin uses (1024³, same threads) and of PyTorch's
#   (MKL) SGEMM, both measured at the start of the run.
#
# Env: ROUNDS (5), MAJMIN (binary; default $CARGO_TARGET_DIR or target, /release/majmin), PY
#      (python with torch; default ~/.cache/majmin-peers/bin/python, made by
#      shared/peers/setup.sh), BATCH (64), HW (32), SMALL (1 to run the small-batch table; 1),
#      SMALL_ARCHS (its networks; "resnet18 mobilenetv2"), MAIN (0 to skip the batch-64 table; 1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
threads=${1:-2}
shift || true
export THREADS=$threads ARCHS="${*:-mobilenetv2 squeezenet vgg11 vgg19 resnet18 resnet50 resnet101}"
export MAJMIN=${MAJMIN:-${CARGO_TARGET_DIR:-$root/target}/release/majmin}
export TORCH_BENCH=${TORCH_BENCH:-$root/../shared/peers/torch_bench.py}
export ROUNDS=${ROUNDS:-5} BATCH=${BATCH:-64} HW=${HW:-32} SMALL=${SMALL:-1} MAIN=${MAIN:-1}
export SMALL_ARCHS=${SMALL_ARCHS:-resnet18 mobilenetv2}
py=${PY:-$HOME/.cache/majmin-peers/bin/python}
for f in "$MAJMIN" "$TORCH_BENCH" /usr/bin/time; do
  [[ -e $f ]] || { echo "compare.sh: $f is missing (build with cargo build --release; PyTorch: shared/peers/setup.sh; /usr/bin/time: apt install time)" >&2; exit 2; }
done
export PY=$py
echo "commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ' (with uncommitted changes)'), $(nproc) cores, $THREADS threads, $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" - <<'PY'
import json, os, statistics as st, subprocess, sys, tempfile, math

threads, rounds = int(os.environ["THREADS"]), int(os.environ["ROUNDS"])
majmin, torch_bench, py = os.environ["MAJMIN"], os.environ["TORCH_BENCH"], os.environ["PY"]
hw = int(os.environ["HW"])


def timed(cmd):
    """Runs cmd under /usr/bin/time -v; returns (its JSON output, peak RSS in MiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        out = subprocess.run(["/usr/bin/time", "-v", "-o", t.name] + cmd, check=True,
                             capture_output=True, text=True).stdout
        rss = next(int(l.split(":")[1]) for l in t.read().splitlines() if "Maximum resident" in l)
    return json.loads(out), rss / 1024


def steps_for(arch, batch):
    heavy = arch in ("resnet50", "resnet101", "vgg19")
    per = 3 if heavy else 5 if arch in ("vgg11", "resnet18") else 10
    return max(2, min(60, per * 64 // max(batch, 1))) if batch != 64 else per


def one(arch, batch):
    s = str(steps_for(arch, batch))
    common = ["--arch", arch, "--batch", str(batch), "--hw", str(hw), "--steps", s, "--threads", str(threads)]
    rows = []
    for _ in range(rounds):
        m, m_rss = timed([majmin, "bench", "--json", "-q"] + common)
        t, t_rss = timed([py, torch_bench] + common)
        c, c_rss = timed([py, torch_bench, "--channels-last"] + common)
        best = max(t["images_per_s"], c["images_per_s"])
        rows.append(dict(m=m["images_per_s"], t=best, ratio=m["images_per_s"] / best,
                         cl=c["images_per_s"] > t["images_per_s"], m_rss=m_rss, t_rss=t_rss, c_rss=c_rss,
                         useful=m.get("useful_gflop_per_s"), params=m["params"]))
    return rows


def sgemm():
    k = json.loads(subprocess.run([majmin, "bench", "--kernel", "--json", "-q", "--threads", str(threads)],
                                  check=True, capture_output=True, text=True).stdout)
    mkl = subprocess.run([py, "-c", f"""
import torch, time
torch.set_num_threads({threads})
a = torch.randn(1024, 1024); b = torch.randn(1024, 1024)
a @ b
t = min((lambda s: (a @ b, time.perf_counter() - s)[1])(time.perf_counter()) for _ in range(20))
print(2 * 1024**3 / t / 1e9)"""], check=True, capture_output=True, text=True).stdout
    return k, float(mkl)


kernel, mkl = sgemm()
ours = kernel["sgemm_gflop_per_s"]
print(f"SGEMM 1024³ on {threads} threads: {ours:.0f} GFLOP/s (gemm crate, majmin), {mkl:.0f} GFLOP/s (MKL, PyTorch)\n")
if os.environ["MAIN"] == "1":
  print(f"Training step, batch {os.environ['BATCH']}, 3×{hw}×{hw}, {rounds} alternating rounds; PyTorch at the faster of default and channels-last")
  print("| network | params | majmin images/s | PyTorch images/s | ratio (median) | range | majmin peak MiB | PyTorch peak MiB | useful GFLOP/s | of gemm-crate SGEMM | of MKL SGEMM |")
  print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
  ratios = []
  for arch in os.environ["ARCHS"].split():
      r = one(arch, int(os.environ["BATCH"]))
      med = st.median(x["ratio"] for x in r)
      ratios.append(med)
      m_rss = st.median(x["m_rss"] for x in r)
      t_rss = min(st.median(x["t_rss"] for x in r), st.median(x["c_rss"] for x in r))
      m_ips = st.median(x["m"] for x in r)
      useful = st.median(x["useful"] for x in r) if r[0]["useful"] else float("nan")
      cl = sum(x["cl"] for x in r)
      print(f"| {arch} | {r[0]['params']:,} | {m_ips:.1f} | {st.median(x['t'] for x in r):.1f}"
            f"{' (cl %d/%d)' % (cl, rounds) if cl else ''} | {med:.2f} | {min(x['ratio'] for x in r):.2f}–{max(x['ratio'] for x in r):.2f}"
            f" | {m_rss:.0f} | {t_rss:.0f} | {useful:.0f} | {100 * useful / ours:.0f} % | {100 * useful / mkl:.0f} % |", flush=True)
  print(f"\nGeometric mean of the median ratios over {len(ratios)} networks: "
        f"{math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}")
  print("(cl k/n: PyTorch's channels-last was the faster configuration in k of n rounds)\n")

if os.environ["SMALL"] == "1":
    print(f"Small batches ({rounds} alternating rounds each)")
    print("| network | batch | majmin images/s | PyTorch images/s | ratio (median) | range | majmin peak MiB | PyTorch peak MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for arch in os.environ["SMALL_ARCHS"].split():
        for batch in (1, 8, 64, 256):
            r = one(arch, batch)
            t_rss = min(st.median(x["t_rss"] for x in r), st.median(x["c_rss"] for x in r))
            print(f"| {arch} | {batch} | {st.median(x['m'] for x in r):.1f} | {st.median(x['t'] for x in r):.1f}"
                  f" | {st.median(x['ratio'] for x in r):.2f} | {min(x['ratio'] for x in r):.2f}–{max(x['ratio'] for x in r):.2f}"
                  f" | {st.median(x['m_rss'] for x in r):.0f} | {t_rss:.0f} |", flush=True)
    print()

print("Convolution kernels (batch 64; GFLOP/s count the direct convolution's FLOPs):")
print("| layer | pass | algorithm | GFLOP/s | of gemm-crate SGEMM |")
print("|---|---|---|---:|---:|")
for c in kernel["convolutions"]:
    print(f"| {c['layer']} | {c['pass']} | {c['algorithm'] or '—'} | {c['gflop_per_s']:.0f} | {100 * c['ratio_to_sgemm']:.0f} % |")
PY
