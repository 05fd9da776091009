#!/usr/bin/env python3
"""PyTorch cross-check of majmin's catch-up overcost pipeline (issue 17, item 4).

Trains the two small networks of `majmin reproduce --preset quick` (mlp and smallcnn) in PyTorch
on the same data, groups, ζ construction, optimiser settings, evaluation points and threshold
rule, runs majmin's own sweep with the same settings, and prints both overcost tables side by
side, one per κ. A cell "agree"s when each side's median lies within the other side's min–max
range over seeds (censored values are lower bounds, see `agree` below).

    ~/.cache/majmin-peers/bin/python crates/cli/bench/torch_overcost.py \
        [--majmin target/release/majmin] [--seeds 2] [--threads 2] [--out DIR]

Where each setting comes from in the Rust code (read, not guessed):

- data: `digits` = the 1,797 UCI 8×8 digits as embedded by smartcore, pixel values / 16
  (crates/data/src/digits.rs). sklearn's `load_digits` holds the same values in the same order
  (checked byte for byte against smartcore's digits.xy).
- groups: minority = the upper half of the classes, labels ≥ ⌈10/2⌉ = 5..9 (GroupRule::UpperHalf,
  crates/core/src/dataset.rs).
- ζ: keep every majority sample, subsample the minority to round(ζ·n1) samples, stratified by
  class with largest-remainder quotas (ties to the lower class), kept in original order
  (Dataset::with_imbalance, stratified_quotas). Which samples are drawn inside a class comes from
  majmin's own RNG, which Python cannot reproduce: here the same rule draws with numpy's seeded
  generator, so the two sides train on different minority subsets of the same sizes.
- networks (crates/models/src/zoo.rs, net.rs): mlp = flatten, Linear(64,256)+ReLU,
  Linear(256,128)+ReLU, Linear(128,10) (50,826 parameters); smallcnn = [conv3×3 pad 1 no bias,
  BatchNorm, ReLU, max-pool 2] × (16, 32 channels), global average pool, Linear(32,10) (5,178).
  majmin initialises weights and biases uniform in ±1/√fan_in and BatchNorm at γ = 1, β = 0,
  running mean 0 / variance 1, momentum 0.1, eps 1e-5, which is PyTorch's default initialisation
  in distribution, so the PyTorch modules keep their defaults (different random draws).
- training (crates/cli/src/commands/reproduce.rs `plan(Preset::Quick)`, crates/flow/src/train/,
  crates/flow/src/optim/mod.rs): SGD, lr 0.05 constant, momentum 0.9 (PyTorch form: v = μv + g,
  first step v = g, no dampening), coupled weight decay 5e-4 on every parameter (g + λθ, as
  torch.optim.SGD's weight_decay), batch 64, mean cross-entropy; a new seeded permutation every
  epoch cut into ⌈n/64⌉ batches, the last one partial; 60 epochs = round(60·⌈n/64⌉) steps.
- evaluation (EvalSchedule::LogSpaced(40).steps, Trainer::evaluate_at, evaluate_groups): steps
  {0, total} ∪ {round(exp(ln(total)·i/38)) : i = 0..38}, deduplicated; after the optimiser step;
  in eval mode (BatchNorm running statistics) on the whole training set; per-sample
  cross-entropy in f64 from f32 logits; L̄_g = mean over group g; L̄ = mean over all samples;
  t = step / ⌈n/64⌉ epochs.
- metrics (crates/metrics/src/threshold.rs, overcost.rs, aggregate.rs): level = (1 − κ)·L̄ at the
  first point; T_g = first t with L̄_g ≤ level (relative slack 1e-12), linearly interpolated
  between the bracketing points (the first point itself when it already qualifies); overcost =
  100·(T0 − T1)/T1; minority never reaches: lower bound with T0 = last t; majority never reaches:
  n/a; T1 = 0: 0 if the minority is there too, else n/a. Over seeds: linear-interpolation
  quantiles of the defined values (median of 2 = their mean); a quantile is a lower bound when a
  censored value is at or below its upper index.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits

ARCHS = ["mlp", "smallcnn"]
ZETAS = [0.01, 0.1, 0.3, 0.8]
KAPPAS = [0.9, 0.99]
EPOCHS = 60.0
LR = 0.05
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
BATCH = 64
EVAL_POINTS = 40
CLASSES = 10
EXPECTED_PARAMS = {"mlp": 50_826, "smallcnn": 5_178}
LEVEL_TOLERANCE = 1e-12


def round_half_away(x):
    """Rust's f64::round for x ≥ 0 (Python's round() is round-half-even)."""
    return int(math.floor(x + 0.5))


# ---------------------------------------------------------------- data, groups, ζ


def load_data():
    d = load_digits()
    x = (d.data.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    minority_classes = list(range((CLASSES + 1) // 2, CLASSES))  # 5..9 (GroupRule::UpperHalf)
    a = np.where(np.isin(y, minority_classes), 0, 1).astype(np.int64)  # a = 1: majority
    assert x.shape == (1797, 1, 8, 8) and (a == 1).sum() == 901 and (a == 0).sum() == 896
    return x, y, a


def stratified_quotas(counts, total):
    """majmin-core's stratified_quotas: largest remainder, ties to the lower class."""
    s = sum(counts)
    if s == 0:
        return [0] * len(counts)
    exact = [total * c / s for c in counts]
    quotas = [int(math.floor(e)) for e in exact]
    left = total - sum(quotas)
    order = sorted(range(len(counts)), key=lambda k: (-(exact[k] - math.floor(exact[k])), k))
    for k in order:
        if left == 0:
            break
        if quotas[k] < counts[k]:
            quotas[k] += 1
            left -= 1
    return quotas


def with_imbalance(y, a, zeta, seed):
    """Indices kept at level ζ: every majority sample, round(ζ·n1) minority samples stratified
    by class, in original order. The draw inside a class uses numpy (not majmin's RNG)."""
    n1 = int((a == 1).sum())
    needed = round_half_away(zeta * n1)
    counts = [int(((a == 0) & (y == k)).sum()) for k in range(CLASSES)]
    assert 0 < needed <= sum(counts)
    quotas = stratified_quotas(counts, needed)
    rng = np.random.default_rng([seed, 0])
    keep = list(np.flatnonzero(a == 1))
    for k, q in enumerate(quotas):
        if q == 0:
            continue
        members = np.flatnonzero((a == 0) & (y == k))
        keep.extend(members[rng.choice(len(members), size=q, replace=False)])
    return np.sort(np.array(keep, dtype=np.int64))


# ---------------------------------------------------------------- networks


def build(arch):
    if arch == "mlp":
        net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64, 256), nn.ReLU(),
            nn.Linear(256, 128), nn.ReLU(),
            nn.Linear(128, CLASSES),
        )
    elif arch == "smallcnn":
        net = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(32, CLASSES),
        )
    else:
        raise ValueError(arch)
    count = sum(p.numel() for p in net.parameters())
    if count != EXPECTED_PARAMS[arch]:
        raise SystemExit(f"{arch}: {count} parameters, majmin has {EXPECTED_PARAMS[arch]}")
    return net


# ---------------------------------------------------------------- training


def eval_steps(total, n_points=EVAL_POINTS):
    """majmin-flow's EvalSchedule::LogSpaced(n).steps(total)."""
    steps = {0, total}
    if n_points > 2 and total > 1:
        last = n_points - 2
        ln_total = math.log(total)
        steps.update(round_half_away(math.exp(ln_total * i / last)) for i in range(n_points - 1))
    return sorted(steps)


@torch.no_grad()
def evaluate(model, x, y, a, t, step):
    model.eval()
    logits = model(x)
    losses = F.cross_entropy(logits.double(), y, reduction="none")
    correct = (logits.argmax(dim=1) == y).double()
    maj, mnr = a == 1, a == 0
    point = {
        "t": t,
        "step": step,
        "loss": losses.mean().item(),
        "majority_loss": losses[maj].mean().item(),
        "minority_loss": losses[mnr].mean().item(),
        "accuracy": correct.mean().item(),
        "majority_accuracy": correct[maj].mean().item(),
        "minority_accuracy": correct[mnr].mean().item(),
    }
    model.train()
    return point


def train_run(arch, zeta, seed, data):
    x_all, y_all, a_all = data
    keep = with_imbalance(y_all, a_all, zeta, seed)
    x = torch.from_numpy(x_all[keep])
    y = torch.from_numpy(y_all[keep])
    a = torch.from_numpy(a_all[keep])
    n = len(keep)
    torch.manual_seed(seed)
    model = build(arch)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    steps_per_epoch = max(1, -(-n // BATCH))
    total = max(1, round_half_away(EPOCHS * steps_per_epoch))
    wanted = eval_steps(total)
    started = time.time()
    points = [evaluate(model, x, y, a, 0.0, 0)]
    status = "finished"
    step, epoch, k = 0, 0, 1
    while step < total and status == "finished":
        order = torch.from_numpy(np.random.default_rng([seed, 1, epoch]).permutation(n))
        for start in range(0, n, BATCH):
            if step >= total:
                break
            idx = order[start:start + BATCH]
            model.train()
            opt.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            if not math.isfinite(loss.item()):
                status = f"diverged at t = {step / steps_per_epoch}"
                break
            opt.step()
            step += 1
            if k < len(wanted) and wanted[k] == step:
                k += 1
                p = evaluate(model, x, y, a, step / steps_per_epoch, step)
                if not math.isfinite(p["loss"]):
                    status = f"diverged at t = {step / steps_per_epoch}"
                    break
                points.append(p)
        epoch += 1
    return {
        "arch": arch,
        "zeta": zeta,
        "seed": seed,
        "n": n,
        "majority": int((a == 1).sum()),
        "minority": int((a == 0).sum()),
        "steps_per_epoch": steps_per_epoch,
        "steps": step,
        "status": status,
        "seconds": time.time() - started,
        "points": points,
    }


# ---------------------------------------------------------------- metrics (as majmin-metrics)


def first_crossing(points, level):
    slack = LEVEL_TOLERANCE * abs(level)
    for i, (t, v) in enumerate(points):
        if v <= level + slack:
            if i == 0 or abs(v - level) <= slack:
                return t
            t0, v0 = points[i - 1]
            frac = min(1.0, max(0.0, (level - v0) / (v - v0)))
            return t0 + frac * (t - t0)
    return None


def run_overcost(points, kappa):
    """(kind, pct, T1, T0) with kind in value / lower-bound / undefined."""
    level = (1.0 - kappa) * points[0]["loss"]
    maj = [(p["t"], p["majority_loss"]) for p in points]
    mnr = [(p["t"], p["minority_loss"]) for p in points]
    t1, t0 = first_crossing(maj, level), first_crossing(mnr, level)
    last_t = points[-1]["t"]
    if t1 is None:
        return ("undefined", None, None, t0)
    if t1 <= 0.0:
        if t0 is not None and t0 <= t1:
            return ("value", 0.0, t1, t0)
        return ("undefined", None, t1, t0)
    if t0 is None:
        return ("lower-bound", 100.0 * (last_t - t1) / t1, t1, None)
    return ("value", 100.0 * (t0 - t1) / t1, t1, t0)


def quantile(values, p):
    """values: sorted [(pct, censored)]; majmin-metrics aggregate::quantile."""
    if not values:
        return None
    h = (len(values) - 1) * p
    lo, hi = math.floor(h), math.ceil(h)
    v = values[lo][0] + (h - lo) * (values[hi][0] - values[lo][0])
    return (v, any(c for _, c in values[: hi + 1]))


def summarize(results):
    """results: [(kind, pct)] of one cell → dict like OvercostSummary."""
    values = sorted(((pct, kind == "lower-bound") for kind, pct in results if kind != "undefined"),
                    key=lambda v: (v[0], v[1]))
    return {
        "runs": len(results),
        "censored": sum(1 for k, _ in results if k == "lower-bound"),
        "undefined": sum(1 for k, _ in results if k == "undefined"),
        "median": quantile(values, 0.5),
        "min": quantile(values, 0.0),
        "max": quantile(values, 1.0),
    }


def format_pct(pct):
    text = f"{pct:.0f}" if abs(pct) >= 9.95 else f"{pct:.1f}"
    if all(c in "0." for c in text.lstrip("-")):
        text = text.lstrip("-")
    return text


def fmt_est(e):
    return (">" if e[1] else "") + format_pct(e[0])


def cell_text(s):
    if s["median"] is None:
        return "–" if s["runs"] == 0 else "n/a"
    text = fmt_est(s["median"])
    if s["runs"] - s["undefined"] > 1:
        text += f" [{fmt_est(s['min'])}–{fmt_est(s['max'])}]"
    notes = []
    if s["censored"]:
        notes.append(f"{s['censored']}/{s['runs']} cens.")
    if s["undefined"]:
        notes.append(f"{s['undefined']} n/a")
    if notes:
        text += f" ({', '.join(notes)})"
    return text


def agree(m, p):
    """Each median lies within the other side's min–max range. A censored value X is a lower
    bound: a censored median stands for [X, ∞), a censored max opens the range to ∞. So two
    censored medians always agree; a censored median X agrees with a range [a, b] when X ≤ b."""
    if m["median"] is None or p["median"] is None:
        return m["median"] is None and p["median"] is None

    def inside(med, side):
        lo_m, hi_m = med[0], (math.inf if med[1] else med[0])
        lo_r = side["min"][0]
        hi_r = math.inf if side["max"][1] else side["max"][0]
        return lo_m <= hi_r + 1e-9 and hi_m >= lo_r - 1e-9

    return inside(m["median"], p) and inside(p["median"], m)


# ---------------------------------------------------------------- majmin's side


def majmin_command(binary, seeds, threads, out):
    return [
        binary, "--threads", str(threads), "--seed", "0",
        "overcost", "--archs", ",".join(ARCHS), "--data", "digits",
        "--zetas", ",".join(str(z) for z in ZETAS), "--kappas", ",".join(str(k) for k in KAPPAS),
        "--seeds", str(seeds), "--epochs", str(int(EPOCHS)), "--lr", str(LR),
        "--momentum", str(MOMENTUM), "--weight-decay", str(WEIGHT_DECAY), "--batch", str(BATCH),
        "--eval-points", str(EVAL_POINTS), "--out", out, "--json", "-q",
    ]


def run_majmin(binary, seeds, threads, out):
    cmd = majmin_command(binary, seeds, threads, out)
    print("majmin: " + " ".join(cmd), flush=True)
    started = time.time()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.time() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"majmin overcost failed with exit code {proc.returncode}")
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    cells = {}
    for r in summary["runs"]:
        kind = r["overcost"]["kind"]
        key = (r["arch"], r["zeta"], r["kappa"])
        cells.setdefault(key, []).append(
            {"seed": r["seed_index"], "kind": kind, "pct": r["overcost_pct"],
             "t_majority": r["t_majority"], "t_minority": r["t_minority"]})
    return cells, wall, summary


def majmin_metrics_on_torch_curves(binary, curves_csv):
    """majmin's own metric code on the PyTorch curves (checks this script's metric port)."""
    cmd = [binary, "metrics", "overcost", "--curves", curves_csv,
           "--kappas", ",".join(str(k) for k in KAPPAS), "--json", "-q"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        return None, proc.stderr.strip()
    try:
        return json.loads(proc.stdout), None
    except json.JSONDecodeError as e:
        return None, f"unreadable JSON: {e}"


def write_curves_csv(path, runs):
    with open(path, "w") as f:
        f.write("run,t,group,loss,accuracy\n")
        for r in runs:
            name = run_name(r["arch"], r["zeta"], r["seed"])
            for p in r["points"]:
                for g, lk, ak in (("all", "loss", "accuracy"),
                                  ("majority", "majority_loss", "majority_accuracy"),
                                  ("minority", "minority_loss", "minority_accuracy")):
                    f.write(f"{name},{p['t']!r},{g},{p[lk]!r},{p[ak]!r}\n")


def run_name(arch, zeta, seed):
    return f"{arch}_z{zeta}_s{seed}"


def compare_metric_ports(report, runs):
    """Compares this script's metric with majmin's (`metrics overcost --json`: one object per κ
    with a `runs` list) on the same curves: (run×κ compared, kind mismatches, max |Δ overcost| in
    %, max |Δ T| in epochs)."""
    ours = {}
    for r in runs:
        for kappa in KAPPAS:
            ours[(run_name(r["arch"], r["zeta"], r["seed"]), kappa)] = run_overcost(r["points"], kappa)
    compared, mismatched, worst_pct, worst_t = 0, [], 0.0, 0.0
    for block in report.values():
        kappa = block["kappa"]
        for item in block["runs"]:
            key = (item["run"], kappa)
            if key not in ours:
                continue
            kind, pct, t1, t0 = ours[key]
            theirs = ("undefined" if item["overcost_pct"] is None
                      else "lower-bound" if item["censored"] else "value")
            compared += 1
            if theirs != kind:
                mismatched.append((key, kind, theirs))
                continue
            if pct is not None:
                worst_pct = max(worst_pct, abs(pct - item["overcost_pct"]))
            for a, b in ((t1, item["t_majority"]), (t0, item["t_minority"])):
                if (a is None) != (b is None):
                    mismatched.append((key, "T", a, b))
                elif a is not None:
                    worst_t = max(worst_t, abs(a - b))
    return compared, mismatched, worst_pct, worst_t


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    default_bin = os.path.normpath(os.path.join(here, "..", "..", "..", "target", "release", "majmin"))
    ap.add_argument("--majmin", default=default_bin, help="majmin binary [%(default)s]")
    ap.add_argument("--seeds", type=int, default=2, help="seeds per (arch, ζ) on each side [2]")
    ap.add_argument("--threads", type=int, default=2, help="threads of each side [2]")
    ap.add_argument("--out", default="torch-crosscheck", help="output folder [torch-crosscheck]")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    np.random.seed(0)
    os.makedirs(os.path.join(args.out, "torch"), exist_ok=True)
    out = os.path.abspath(args.out)

    print(f"torch {torch.__version__}, numpy {np.__version__}, {args.threads} thread(s), "
          f"nproc {os.cpu_count()}", flush=True)

    # majmin first (its folder doubles as a resumable cache: the same command keeps finished runs)
    m_cells, m_wall, m_summary = run_majmin(args.majmin, args.seeds, args.threads,
                                            os.path.join(out, "majmin"))
    print(f"majmin: {len(m_summary['runs']) // len(KAPPAS)} runs, {m_wall:.0f} s wall", flush=True)

    data = load_data()
    runs = []
    started = time.time()
    for arch in ARCHS:
        for zeta in ZETAS:
            for seed in range(args.seeds):
                r = train_run(arch, zeta, seed, data)
                runs.append(r)
                print(f"torch: {arch} ζ={zeta} seed {seed}: n1={r['majority']} n0={r['minority']} "
                      f"{r['steps']} steps, {len(r['points'])} points, {r['status']}, "
                      f"{r['seconds']:.1f} s", flush=True)
    t_wall = time.time() - started
    print(f"torch: {len(runs)} runs, {t_wall:.0f} s wall", flush=True)

    curves_csv = os.path.join(out, "torch", "curves.csv")
    write_curves_csv(curves_csv, runs)
    with open(os.path.join(out, "torch", "runs.json"), "w") as f:
        json.dump(runs, f)

    t_cells = {}
    for r in runs:
        for kappa in KAPPAS:
            kind, pct, t1, t0 = run_overcost(r["points"], kappa)
            t_cells.setdefault((r["arch"], r["zeta"], kappa), []).append(
                {"seed": r["seed"], "kind": kind, "pct": pct, "t_majority": t1, "t_minority": t0})

    # the tables
    lines, verdicts, rows_json = [], [], []
    head = f"{'arch':<9} {'ζ':>4}  {'majmin (Rust)':<30} {'PyTorch':<30} verdict"
    for kappa in KAPPAS:
        lines.append("")
        lines.append(f"κ = {kappa * 100:g} %: catch-up overcost in %, median [min–max] over "
                     f"{args.seeds} seeds (>X: lower bound, the minority never reached the level)")
        lines.append(head)
        lines.append("-" * len(head))
        for arch in ARCHS:
            for zeta in ZETAS:
                key = (arch, zeta, kappa)
                ms = summarize([(c["kind"], c["pct"]) for c in m_cells.get(key, [])])
                ps = summarize([(c["kind"], c["pct"]) for c in t_cells.get(key, [])])
                ok = agree(ms, ps)
                verdicts.append(ok)
                lines.append(f"{arch:<9} {zeta * 100:>3g}%  {cell_text(ms):<30} {cell_text(ps):<30} "
                             f"{'agree' if ok else 'DIFFER'}")
                rows_json.append({"arch": arch, "zeta": zeta, "kappa": kappa, "agree": ok,
                                  "majmin": {"summary": ms, "runs": m_cells.get(key, [])},
                                  "torch": {"summary": ps, "runs": t_cells.get(key, [])}})
    print("\n".join(lines))

    # majmin's metric code on the PyTorch curves: checks the Python port of the metrics
    report, err = majmin_metrics_on_torch_curves(args.majmin, curves_csv)
    print()
    if report is None:
        print(f"metric port check: majmin metrics overcost failed: {err}")
    else:
        compared, mismatched, worst_pct, worst_t = compare_metric_ports(report, runs)
        print(f"metric port check (majmin metrics overcost on the PyTorch curves): {compared} "
              f"run×κ compared, {len(mismatched)} mismatches, max |Δ overcost| = {worst_pct:.1e} %, "
              f"max |Δ T| = {worst_t:.1e} epochs")
        for m in mismatched:
            print(f"  mismatch: {m}")

    print(f"wall time (shared machine, not comparable): majmin {m_wall:.0f} s, torch {t_wall:.0f} s")
    print(f"{sum(verdicts)} of {len(verdicts)} cells agree")
    with open(os.path.join(out, "crosscheck.json"), "w") as f:
        json.dump({"command": sys.argv, "majmin_command": majmin_command(
            args.majmin, args.seeds, args.threads, os.path.join(out, "majmin")),
            "torch": torch.__version__, "threads": args.threads, "seeds": args.seeds,
            "majmin_seconds": m_wall, "torch_seconds": t_wall, "cells": rows_json,
            "agree": sum(verdicts), "cells_total": len(verdicts)}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
