#!/usr/bin/python3
"""nabla grad --hessian --json against PyTorch f64 (torch.autograd.functional.hessian):
the lecture's expressions and 300 random ones over every function of the grammar.

Usage: hessian_torch.py NABLA [--count N]
Exits 0 when every Hessian entry agrees within 1e-9 relative (to the entry, or to
the Hessian's largest entry for entries near 0), 1 otherwise, 77 without torch."""
import json
import random
import re
import subprocess
import sys

try:
    import torch
except ImportError:
    print("torch is not installed: skipped")
    sys.exit(77)

torch.set_default_dtype(torch.float64)
TOL = 1e-9

LECTURE = [
    ("(x+y)*z", {"x": -2, "y": 5, "z": -4}),
    ("1/(1+exp(-(w0*x0+w1*x1+w2)))", {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}),
    ("sigmoid(w*x+b)", {"w": 2, "x": -1, "b": 0.5}),
    ("(apple*n*tax)", {"apple": 100, "n": 2, "tax": 1.1}),
    ("(apple*na + orange*no)*tax", {"apple": 100, "na": 2, "orange": 150, "no": 3, "tax": 1.1}),
    ("max(x, y) * sigmoid(x) - y^2 / tanh(x)", {"x": 0.5, "y": -2}),
    ("x*x*y + exp(x*y)", {"x": 0.5, "y": 2}),
    ("log(x^2 + 1) * sqrt(y) + recip(z) - abs(x*z)", {"x": 0.7, "y": 2.5, "z": -1.3}),
    ("relu(x - y) * exp(-x^2) + min(x, z)^3", {"x": 1.2, "y": 0.4, "z": -0.8}),
]

def _tensor(f):
    """f taking numbers too (a function of a constant: tanh(1.5))"""
    return lambda *a: f(*(torch.as_tensor(v) for v in a))


FUNCS = {name: _tensor(f) for name, f in {
    "exp": torch.exp, "log": torch.log, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
    "relu": torch.relu, "recip": torch.reciprocal, "sqrt": torch.sqrt, "abs": torch.abs,
    "max": torch.maximum, "min": torch.minimum,
}.items()}


def torch_hessian(src, values):
    names = list(values)
    py = src.replace("^", "**")

    def f(*xs):
        env = dict(FUNCS)
        env.update(zip(names, xs))
        return eval(py, {"__builtins__": {}}, env)

    args = tuple(torch.tensor(float(values[n])) for n in names)
    h = torch.autograd.functional.hessian(f, args)
    return [[float(h[i][j]) for j in range(len(names))] for i in range(len(names))]


def random_expr(rng, depth, names):
    """An expression whose every function stays in its domain, away from kinks."""
    if depth == 0 or rng.random() < 0.2:
        return rng.choice(names) if rng.random() < 0.8 else "%.2f" % rng.uniform(0.5, 2)
    a = random_expr(rng, depth - 1, names)
    b = random_expr(rng, depth - 1, names)
    while b == a:  # max(a, a) is a tie, where torch splits the gradient
        b = random_expr(rng, depth - 1, names)
    kind = rng.randrange(14)
    return [
        f"({a} + {b})", f"({a} - {b})", f"({a} * {b})", f"({a} / (1 + {b}^2))",
        f"exp(tanh({a}))", f"log(1 + {a}^2)", f"sigmoid({a})", f"tanh({a})",
        f"sqrt(2 + sigmoid({a}))", f"recip(3 + tanh({a}))", f"({a})^2", f"({a})^3",
        f"max({a}, {b})", f"min({a}, {b})",
    ][kind]


def run(nabla, src, values):
    cmd = [nabla, "grad", src] + [f"{k}={v!r}" for k, v in values.items()] + [
        "--hessian", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return None, out.stderr
    doc = json.loads(out.stdout)
    order = list(doc["grad"])
    return doc, order


def main():
    nabla = sys.argv[1]
    count = int(sys.argv[sys.argv.index("--count") + 1]) if "--count" in sys.argv else 300
    rng = random.Random(2026)
    cases = list(LECTURE)
    names = ["x", "y", "z"]
    while len(cases) < len(LECTURE) + count:
        src = random_expr(rng, 4, names)
        used = [n for n in names if re.search(r"\b%s\b" % n, src)]
        if not used:
            continue
        cases.append((src, {n: round(rng.uniform(-1.5, 1.5), 3) for n in used}))
    worst, failed, checked = 0.0, 0, 0
    for src, values in cases:
        doc, order = run(nabla, src, values)
        if doc is None:
            print(f"FAIL {src}: nabla: {order.strip()}")
            failed += 1
            continue
        ordered = {n: values[n] for n in order}
        want = torch_hessian(src, ordered)
        got = doc["hessian"]
        scale = max(abs(v) for row in want for v in row)
        for i, row in enumerate(want):
            for j, t in enumerate(row):
                a = got[i][j]
                err = abs(a - t) / max(abs(t), 1e-3 * scale, 1e-300)
                worst = max(worst, err)
                checked += 1
                if not err <= TOL:
                    failed += 1
                    print(f"FAIL {src} at {values}: d2f/d{order[i]}d{order[j]} = {a!r}, "
                          f"torch {t!r} (relative {err:.2e})")
    print(f"{len(cases)} expressions, {checked} Hessian entries against torch f64: "
          f"max relative difference {worst:.2e}, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
