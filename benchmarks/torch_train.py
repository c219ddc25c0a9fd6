#!/usr/bin/python3
"""torch_train.py - the PyTorch twin of `nabla train mlp --data fashion-mnist --hidden 50
--epochs 1`, with nabla's defaults (src/cli/train.c): 784-50-10 ReLU, He initialisation
(N(0, 2/fan_in)) and zero biases, softmax cross-entropy (mean), batch 32 reshuffled each
epoch, plain SGD lr 0.1, float32, the default thread count; the test set evaluated after
each epoch in batches of 1000 rows.  The data are loaded as torch_mlp.py loads them (and
as a PyTorch user would): the IDX files read with gzip, the pixels made float32 / 255.

Prints nabla's lines ("epoch 1/1  loss ...  test loss ...  test accuracy ...") and
then its own peak resident set size (ru_maxrss).  benchmarks/peak_rss.py runs it
beside nabla.  Exits 0 with a message if torch is missing.

usage: benchmarks/torch_train.py [--epochs N] [--hidden N] [--seed N]
"""
import argparse
import gzip
import os
import resource
import sys
import time

DIR = "/usr/share/datasets/fashion-mnist"


def idx(name):
    import numpy as np

    with gzip.open(os.path.join(DIR, name)) as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(dims)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--hidden", type=int, default=50)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    try:
        import numpy as np
        import torch
    except ImportError as e:
        print("torch_train: skipped: %s for %s (Debian: apt-get install python3-torch, "
              "then run it with /usr/bin/python3)" % (e, sys.executable))
        return 0
    if not os.path.exists(os.path.join(DIR, "train-images-idx3-ubyte.gz")):
        print("torch_train: skipped: no Fashion-MNIST in %s (dataset-fashion-mnist)" % DIR)
        return 0
    xtr = torch.from_numpy(idx("train-images-idx3-ubyte.gz").reshape(-1, 784) / np.float32(255))
    ytr = torch.from_numpy(idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    xte = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784) / np.float32(255))
    yte = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    torch.manual_seed(a.seed)
    layers = []
    for i, (n_in, n_out) in enumerate([(784, a.hidden), (a.hidden, 10)]):
        lin = torch.nn.Linear(n_in, n_out)
        with torch.no_grad():
            lin.weight.normal_(0, (2.0 / n_in) ** 0.5)
            lin.bias.zero_()
        layers += [lin] if i else [lin, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    batch, n = 32, xtr.shape[0]
    for e in range(a.epochs):
        t0, total = time.perf_counter(), 0.0
        perm = torch.randperm(n)
        for s in range(0, n, batch):
            i = perm[s:s + batch]
            opt.zero_grad()
            loss = loss_fn(model(xtr[i]), ytr[i])
            loss.backward()
            opt.step()
            total += loss.item() * len(i)
        seconds = time.perf_counter() - t0
        with torch.no_grad():
            tl, right = 0.0, 0
            for s in range(0, xte.shape[0], 1000):
                out = model(xte[s:s + 1000])
                tl += loss_fn(out, yte[s:s + 1000]).item() * out.shape[0]
                right += (out.argmax(1) == yte[s:s + 1000]).sum().item()
        print("epoch %d/%d  loss %.6f  test loss %.6f  test accuracy %.4f  %.2f s"
              % (e + 1, a.epochs, total / n, tl / xte.shape[0], right / xte.shape[0], seconds))
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("torch_train: peak RSS %.1f MiB (PyTorch %s, %d threads)"
          % (kb / 1024, torch.__version__, torch.get_num_threads()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
