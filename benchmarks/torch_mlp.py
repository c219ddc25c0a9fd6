#!/usr/bin/python3
"""torch_mlp.py - the Fashion-MNIST workloads of benchmarks/README.md in PyTorch, for
bench_mlp's figures to sit beside: small (784-50-10 sigmoid and ReLU,
W ~ N(0, 0.01^2), batch 100, 600 steps/epoch) and big (784-512-512-10 ReLU,
He initialisation, batch 128, 468 steps/epoch), softmax cross-entropy (mean),
plain SGD lr 0.1, reshuffled each epoch, float32, 1 and 2 threads.

Timed as bench_mlp times: the training loop only (batch gather, forward,
backward, update), median epoch over the epochs; test accuracy after them.
Each (configuration, threads) runs in its own process so that the OpenMP
environment (OMP_WAIT_POLICY=PASSIVE for 2 threads, as benchmarks/README.md notes)
is set before torch starts.  Exits 0 with a message if torch is missing.

usage: benchmarks/torch_mlp.py [--epochs N] [--threads N] [--only PREFIX]
"""
import argparse
import gzip
import os
import statistics
import subprocess
import sys
import time

DIR = "/usr/share/datasets/fashion-mnist"
CONFIGS = {
    "small-sigmoid": dict(widths=[784, 50, 10], act="sigmoid", init="normal", batch=100, steps=600),
    "small-relu": dict(widths=[784, 50, 10], act="relu", init="normal", batch=100, steps=600),
    "big": dict(widths=[784, 512, 512, 10], act="relu", init="he", batch=128, steps=468),
}


def idx(name):
    import numpy as np

    with gzip.open(os.path.join(DIR, name)) as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(dims)


def run(name, threads, epochs):
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    c = CONFIGS[name]
    xtr = torch.from_numpy(idx("train-images-idx3-ubyte.gz").reshape(-1, 784) / np.float32(255))
    ytr = torch.from_numpy(idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    xte = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784) / np.float32(255))
    yte = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    torch.manual_seed(1)
    layers, w = [], c["widths"]
    for i in range(len(w) - 1):
        lin = torch.nn.Linear(w[i], w[i + 1])
        with torch.no_grad():
            std = 0.01 if c["init"] == "normal" else (2.0 / w[i]) ** 0.5
            lin.weight.normal_(0, std)
            lin.bias.zero_()
        layers.append(lin)
        if i + 2 < len(w):
            layers.append(torch.nn.Sigmoid() if c["act"] == "sigmoid" else torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    batch, steps, times = c["batch"], c["steps"], []
    for _ in range(epochs):
        perm = torch.randperm(xtr.shape[0])
        t0 = time.perf_counter()
        for s in range(steps):
            i = perm[s * batch:(s + 1) * batch]
            xb, yb = xtr[i], ytr[i]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    ep = statistics.median(times)
    print(f"torch {name:<13} {torch.get_num_threads()} thr  {batch * steps / ep:8.0f} samples/s  "
          f"epoch {1e3 * ep:7.1f} ms  acc {acc:.4f}  (PyTorch {torch.__version__}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')})", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="0: 1 then 2")
    p.add_argument("--only", default="")
    p.add_argument("--run", nargs=2, metavar=("CONFIG", "THREADS"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.run:
        run(a.run[0], int(a.run[1]), a.epochs)
        return 0
    try:
        import numpy  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        print("torch_mlp: skipped: %s for %s (Debian: apt-get install python3-torch, "
              "then run it with /usr/bin/python3)" % (e, sys.executable))
        return 0
    if not os.path.exists(os.path.join(DIR, "train-images-idx3-ubyte.gz")):
        print("torch_mlp: skipped: no Fashion-MNIST in %s (dataset-fashion-mnist)" % DIR)
        return 0
    for name in CONFIGS:
        if not name.startswith(a.only):
            continue
        for t in [a.threads] if a.threads else [1, 2]:
            env = dict(os.environ, OMP_NUM_THREADS=str(t))
            if t > 1:
                env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            r = subprocess.run([sys.executable, __file__, "--epochs", str(a.epochs),
                                "--run", name, str(t)], env=env)
            if r.returncode:
                return r.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
