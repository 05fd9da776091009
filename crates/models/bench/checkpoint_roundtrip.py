#!/usr/bin/env python3
"""Checks that majmin's checkpoints load into PyTorch and give the same logits.

For every built-in, majmin writes DIR/ARCH.safetensors (the state dict, PyTorch's keys) and
DIR/ARCH.io.safetensors (`inputs` and majmin's evaluation-mode `logits`) with

    cargo run -p majmin-models --example checkpoint_logits -- DIR

This script builds the PyTorch module of the same structure (the seven poster networks from the
peer, shared/peers/torch_bench.py; mlp and smallcnn defined here), loads the checkpoint with
`load_state_dict(strict=True)` (every key present, no extra key, every shape equal), evaluates
it in eval mode on the same inputs, and compares the logits: PASS when the largest absolute
difference is at most --tol (1e-5) times max(1, largest |logit|).

With --from FILE it checks a checkpoint written by `majmin train --save` instead (mlp or
smallcnn of any width, from the file's metadata), against DIR/from.io.safetensors written by
`checkpoint_logits DIR --from FILE`.

Usage: checkpoint_roundtrip.py PATH/TO/torch_bench.py DIR [--archs a,b] [--from FILE] [--tol 1e-5]
Exit code 1 if any architecture fails.
"""
import argparse, importlib.util, sys

import torch
import torch.nn as nn
from safetensors.torch import load_file, safe_open


def load_peer(path):
    spec = importlib.util.spec_from_file_location("torch_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scaled(ch, width):
    return max(1, round(ch * width))


def mlp(c, k, hw=32, width=1.0):
    """majmin's mlp: nn.Sequential(Flatten, Linear, ReLU, Linear, ReLU, Linear)."""
    h1, h2 = scaled(256, width), scaled(128, width)
    return nn.Sequential(nn.Flatten(), nn.Linear(c * hw * hw, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(),
                         nn.Linear(h2, k))


def smallcnn(c, k, hw=32, width=1.0):
    """majmin's smallcnn (crates/models/README.md)."""
    a, b = scaled(16, width), scaled(32, width)
    return nn.Sequential(nn.Conv2d(c, a, 3, padding=1, bias=False), nn.BatchNorm2d(a), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(), nn.MaxPool2d(2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(b, k))


def compare(name, module, ckpt, io, tol):
    state = load_file(ckpt)
    module.load_state_dict(state, strict=True)
    module.eval()
    ref = load_file(io)
    x, want = ref["inputs"], ref["logits"]
    with torch.no_grad():
        got = module(x)
    diff = (got - want).abs().max().item()
    scale = max(1.0, want.abs().max().item())
    ok = diff <= tol * scale
    params = sum(p.numel() for p in module.parameters())
    print(f"{name:12s} {params:>10d} params  {len(state):4d} tensors  max|logit| {want.abs().max().item():9.4f}  "
          f"max|Δ| {diff:.2e}  {'PASS' if ok else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("peer")
    ap.add_argument("dir")
    ap.add_argument("--archs", default="")
    ap.add_argument("--from", dest="from_file", default=None)
    ap.add_argument("--tol", type=float, default=1e-5)
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.from_file:
        with safe_open(a.from_file, "pt") as f:
            meta = f.metadata()
        c, h, w = (int(v) for v in meta["input"].strip("[]").split(","))
        build = {"mlp": mlp, "smallcnn": smallcnn}[meta["arch"]]
        module = build(c, int(meta["classes"]), hw=h, width=float(meta["width"]))
        name = f"{meta['arch']}×{meta['width']}"
        ok = compare(name, module, a.from_file, f"{a.dir}/from.io.safetensors", a.tol)
        return 0 if ok else 1
    peer = load_peer(a.peer)
    archs = {"mlp": mlp, "smallcnn": smallcnn}
    archs.update(peer.ARCHS)
    names = [n for n in a.archs.split(",") if n] or ["mlp", "smallcnn"] + sorted(peer.ARCHS)
    failed = []
    for name in names:
        module = archs[name](3, 10)
        if not compare(name, module, f"{a.dir}/{name}.safetensors", f"{a.dir}/{name}.io.safetensors", a.tol):
            failed.append(name)
    print("all passed" if not failed else f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
