#!/usr/bin/env python3
"""Prints PyTorch's state_dict() keys and shapes for every architecture of the peer
(shared/peers/torch_bench.py), plus mlp and smallcnn as majmin names them, one line per tensor:

    ARCH KEY DIM,DIM,...        (a scalar has an empty shape: "ARCH KEY -")

Usage: state_dict_keys.py PATH/TO/torch_bench.py [--classes 10] [--channels 3]
Compare with `cargo run -p majmin-models --example state_dict_keys` (same format); the two
outputs must be identical (checked by hand with `diff`, see crates/models/README.md).
"""
import argparse, importlib.util, sys

import torch.nn as nn


def load_peer(path):
    spec = importlib.util.spec_from_file_location("torch_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mlp(c, k, hw=32):
    return nn.Sequential(nn.Flatten(), nn.Linear(c * hw * hw, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, k))


def smallcnn(c, k):
    return nn.Sequential(nn.Conv2d(c, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, k))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("peer")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--channels", type=int, default=3)
    a = ap.parse_args()
    peer = load_peer(a.peer)
    archs = {"mlp": mlp, "smallcnn": smallcnn}
    archs.update(peer.ARCHS)
    for name in ["mlp", "smallcnn"] + sorted(peer.ARCHS):
        model = archs[name](a.channels, a.classes)
        for key, tensor in model.state_dict().items():
            shape = ",".join(str(d) for d in tensor.shape) or "-"
            print(f"{name} {key} {shape}")


if __name__ == "__main__":
    sys.exit(main())
