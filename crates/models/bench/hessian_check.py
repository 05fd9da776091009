#!/usr/bin/env python3
"""majmin's per-group Hessian spectra against PyTorch's exact Hessian.

Trains the narrow mlp (`--width 0.125`: 64 → 32 → 16 → 10, 2,778 parameters) on the full digits
with `majmin train --save`, asks `majmin spectrum --json` for the top eigenvalues and the trace of
the majority part L1, the minority part L0 and the total L = L1 + L0 (both parts divided by the
total n), then loads the same checkpoint into

    nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(),
                  nn.Linear(16, 10))

in float64, builds each part's exact Hessian with `torch.autograd.functional.hessian` on the
same data (sklearn's `load_digits`, pixels / 16: the values and the order of majmin's embedded
digits; classes 5–9 are the minority) and takes its eigenvalues with `torch.linalg.eigvalsh`.

Pass: each part's top-5 eigenvalues agree within 1 % (relative), and majmin's Hutchinson trace
lies within two of its standard errors of the exact trace. Exit status 0 on pass, 1 otherwise.

Run it in the PyTorch peer's environment (`bash ../shared/peers/setup.sh` makes it):

    cargo build --release -p majmin
    ~/.cache/majmin-peers/bin/python crates/models/bench/hessian_check.py \\
        --majmin target/release/majmin --out /tmp/hessian-check
"""

import argparse
import json
import pathlib
import subprocess
import sys
import time

import numpy as np
import torch
from safetensors.torch import load_file
from sklearn.datasets import load_digits

PARTS = ("majority", "minority", "total")


def run(cmd):
    print("$", " ".join(str(c) for c in cmd), flush=True)
    started = time.time()
    out = subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True)
    return out.stdout, time.time() - started


def values(entries):
    """A list of eigenvalues, whether majmin wrote numbers or objects with `value`."""
    return [e["value"] if isinstance(e, dict) else float(e) for e in entries]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--majmin", default="target/release/majmin", help="the majmin binary")
    ap.add_argument("--out", default="/tmp/hessian-check", help="a folder for the run")
    ap.add_argument("--epochs", default="30", help="training epochs before the check")
    ap.add_argument("--k", type=int, default=5, help="top eigenvalues compared")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "mlp.safetensors"
    common = ["--arch", "mlp", "--width", "0.125", "--data", "digits"]
    run([args.majmin, "-q", "train", *common, "--epochs", args.epochs,
         "--save", ckpt, "--out", out / "train", "--force"])
    stdout, seconds = run([args.majmin, "-q", "--json", "spectrum", *common,
                           "--checkpoint", ckpt, "--k", args.k])
    spectrum = json.loads(stdout)
    print(f"majmin spectrum: {seconds:.1f} s")

    torch.set_default_dtype(torch.float64)
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0).reshape(-1, 1, 8, 8)
    y = torch.tensor(digits.target)
    n = len(y)
    minority = y >= 5
    net = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10))
    state = {k: v.to(torch.float64) for k, v in load_file(str(ckpt)).items()}
    net.load_state_dict(state, strict=True)
    names = [name for name, _ in net.named_parameters()]
    shapes = [p.shape for _, p in net.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for _, p in net.named_parameters()])
    assert theta.numel() == 2778, theta.numel()

    def loss(flat, mask):
        params, at = {}, 0
        for name, shape in zip(names, shapes):
            size = int(np.prod(shape))
            params[name] = flat[at:at + size].reshape(shape)
            at += size
        logits = torch.func.functional_call(net, params, (x[mask],))
        return torch.nn.functional.cross_entropy(logits, y[mask], reduction="sum") / n

    masks = {"majority": ~minority, "minority": minority,
             "total": torch.ones(n, dtype=torch.bool)}
    ok = True
    print(f"\n{'part':<9} {'i':>2} {'PyTorch exact':>14} {'majmin':>14} {'rel. diff':>10}")
    for part in PARTS:
        started = time.time()
        h = torch.autograd.functional.hessian(lambda t: loss(t, masks[part]), theta)
        h = (h + h.T) / 2
        exact = torch.linalg.eigvalsh(h).flip(0).numpy()
        mine = values(spectrum[part]["top"])
        for i in range(args.k):
            rel = abs(mine[i] - exact[i]) / max(abs(exact[i]), 1e-12)
            flag = "" if rel <= 0.01 else "  FAIL"
            ok &= rel <= 0.01
            print(f"{part:<9} {i + 1:>2} {exact[i]:>14.6e} {mine[i]:>14.6e} {rel:>10.2e}{flag}")
        trace = float(torch.trace(h))
        est, se = spectrum[part]["trace"], spectrum[part]["trace_stderr"]
        within = abs(est - trace) <= 2 * se
        ok &= within
        print(f"{part:<9} trace: exact {trace:.6e}, majmin {est:.6e} ± {se:.2e} "
              f"({abs(est - trace) / se:.2f} standard errors){'' if within else '  FAIL'}"
              f"  [exact Hessian {time.time() - started:.1f} s]")
    print("\nPASS" if ok else "\nFAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
