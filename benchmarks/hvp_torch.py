#!/usr/bin/python3
"""nb_hessian_vec on the 784-50-10 sigmoid MLP's cross-entropy (batch 8, f64)
against torch.autograd.functional.hvp on the same inputs, weights and v.

Usage: hvp_torch.py BENCH_HVP TMPDIR
Runs `bench_hvp --check FILE`, which writes x, y, the parameters, v and
H v; exits 0 if H v agrees within 1e-9 relative (to each entry, or to the
largest entry for entries near 0), 1 otherwise, 77 without torch."""
import json
import os
import subprocess
import sys

try:
    import torch
except ImportError:
    print("torch is not installed: skipped")
    sys.exit(77)

torch.set_default_dtype(torch.float64)


def main():
    exe, tmp = sys.argv[1], sys.argv[2]
    path = os.path.join(tmp, "hvp_torch.json")
    subprocess.run([exe, "--check", path], check=True)
    with open(path) as f:
        d = json.load(f)
    x = torch.tensor(d["x"]).reshape(-1, 784)
    y = torch.tensor(d["y"]).long()
    shapes = {"W1": (784, 50), "b1": (1, 50), "W2": (50, 10), "b2": (1, 10)}
    params = tuple(torch.tensor(d[k]).reshape(s) for k, s in shapes.items())
    sizes = [p.numel() for p in params]
    v_flat = torch.tensor(d["v"])
    v = tuple(t.reshape(p.shape) for t, p in zip(torch.split(v_flat, sizes), params))

    def loss(w1, b1, w2, b2):
        h = torch.sigmoid(x @ w1 + b1)
        return torch.nn.functional.cross_entropy(h @ w2 + b2, y)

    _, hv = torch.autograd.functional.hvp(loss, params, v)
    want = torch.cat([t.reshape(-1) for t in hv])
    got = torch.tensor(d["hv"])
    scale = want.abs().max().item()
    rel = ((got - want).abs() / torch.clamp(want.abs(), min=1e-3 * scale)).max().item()
    print(f"H v of {len(got)} parameters against torch f64: max relative difference "
          f"{rel:.2e} (largest entry {scale:.3g})")
    return 0 if rel <= 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
