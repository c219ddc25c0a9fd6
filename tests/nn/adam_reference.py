#!/usr/bin/python3
"""adam_reference.py - reference numbers for test_model.c's Adam test, made
with PyTorch's torch.optim.Adam (Debian's python3-torch; torch 1.13 when the
numbers in test_model.c were made).

The graph: W (3 x 2) and b (2) parameters, x (4 x 3) and t (4 x 2)
constants, loss = mean((tanh(x W + b) - t)^2).  For each configuration
below, five Adam steps from the same start, in float64 and in float32; the
script prints W and b (W row-major, then b) after each step t = 1..5 as C
initialisers, to paste into tests/nn/test_model.c:

    /usr/bin/python3 tests/nn/adam_reference.py

With --check FILE it instead checks that the tables in FILE (test_model.c)
are what this torch computes, to the tolerances the C test uses (1e-12 and
1e-6 relative: another torch version may round differently): the meson test
nn_adam_reference, skipped (exit 77) where torch is not installed.
"""
import re
import sys

try:
    import torch
except ImportError:
    if "--check" in sys.argv:
        print("torch is not installed: skipped")
        sys.exit(77)
    raise

X = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75], [-0.3, 0.8, 1.1], [2.0, -0.6, 0.4]]
T = [[0.2, -0.4], [-0.7, 0.9], [0.5, 0.1], [-0.3, -0.8]]
W0 = [[0.31, -0.22], [0.23, 0.41], [-0.53, 0.27]]
B0 = [0.2, -0.25]
# lr, betas, eps, weight_decay; the second differs from the defaults in all.
# Every parameter starts at least 0.2 from 0 and moves about lr a step, so
# none comes near 0 in five steps and a relative tolerance means something.
CONFIGS = [
    (0.03, (0.9, 0.999), 1e-8, 0.1),
    (0.02, (0.5, 0.9), 0.05, 0.01),
]
STEPS = 5


def run(dtype, lr, betas, eps, wd):
    x = torch.tensor(X, dtype=dtype)
    t = torch.tensor(T, dtype=dtype)
    W = torch.tensor(W0, dtype=dtype, requires_grad=True)
    b = torch.tensor(B0, dtype=dtype, requires_grad=True)
    opt = torch.optim.Adam([W, b], lr=lr, betas=betas, eps=eps, weight_decay=wd,
                           amsgrad=False, foreach=False)
    out = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = ((torch.tanh(x @ W + b) - t) ** 2).mean()
        loss.backward()
        opt.step()
        out.append([float(v) for v in W.detach().flatten().tolist() + b.detach().tolist()])
    return out


TABLES = (("adam_ref_f64", torch.float64, 1e-12), ("adam_ref_f32", torch.float32, 1e-6))


def print_tables():
    print("/* torch %s: [configuration][step t - 1][W row-major, then b] */"
          % torch.__version__)
    for name, dtype, _ in TABLES:
        print("static const double %s[%d][%d][8] = {" % (name, len(CONFIGS), STEPS))
        for c in CONFIGS:
            print("    {")
            for row in run(dtype, *c):
                num = ["%.17g" % v for v in row]
                print("        { %s,\n          %s,\n          %s }," %
                      (", ".join(num[:3]), ", ".join(num[3:6]), ", ".join(num[6:])))
            print("    },")
        print("};")


def check(path):
    with open(path) as f:
        text = f.read()
    bad = 0
    for name, dtype, tol in TABLES:
        m = re.search(r"static const double %s\[\d+\]\[\d+\]\[8\] = (\{.*?\n\});" % name,
                      text, re.S)
        got = [float(v) for v in re.findall(r"[-+0-9.e]+", m.group(1))] if m else []
        want = [v for c in CONFIGS for row in run(dtype, *c) for v in row]
        if len(got) != len(want):
            print("%s: %s has %d numbers, not %d" % (path, name, len(got), len(want)))
            bad += 1
            continue
        for i, (g, w) in enumerate(zip(got, want)):
            if abs(g - w) > tol * abs(w):
                print("%s: %s number %d is %.17g, torch %s says %.17g"
                      % (path, name, i, g, torch.__version__, w))
                bad += 1
    print("%s: %s" % (path, "differs from torch" if bad else
                      "the Adam tables agree with torch " + torch.__version__))
    return 1 if bad else 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        return check(sys.argv[2])
    print_tables()
    return 0


if __name__ == "__main__":
    sys.exit(main())
