#!/usr/bin/python3
"""`nabla train` with the default thread count against `--threads 1`, on
each training workload of benchmarks/README.md, on the machine as it is and
then while a busy loop this script starts (and stops) keeps one core busy.

Usage: bench_threads.py NABLA [--pairs N] [--only NAME] [--check]

Each workload runs as pairs of processes back to back, the order alternating
between pairs; a run's time is the training loop's ("seconds" in --json:
the steps, not loading or evaluating).  Printed per workload and condition:
the median seconds of each, the median over the pairs of speed(default) /
speed(--threads 1) with its range, and PASS if that median is >= 0.95.
--check runs one pair of the iris workload and checks that both runs give
the same accuracy (a test in suite 'bench': no timing is checked).
Fashion-MNIST workloads are skipped when its files are not installed."""
import json
import os
import statistics
import subprocess
import sys

FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
TARGET = 0.95

# name, arguments after `nabla train mlp`
WORKLOADS = [
    ("fashion-h50", ["--data", "fashion-mnist", "--hidden", "50", "--epochs", "1"]),
    ("small-sigmoid", ["--data", "fashion-mnist", "--hidden", "50", "--activation",
                       "sigmoid", "--batch", "100", "--epochs", "1"]),
    ("big", ["--data", "fashion-mnist", "--hidden", "512,512", "--batch", "128",
             "--epochs", "1"]),
    ("digits", ["--data", "digits", "--epochs", "300"]),
    ("iris", ["--data", "iris", "--epochs", "10000"]),
]


def run(nabla, args, threads):
    """The training loop's seconds and test accuracy of one process."""
    cmd = [nabla, "train", "mlp", *args, "--json", "--quiet"]
    if threads:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    return r["seconds"], r["test_accuracy"]


def pairs(nabla, args, n):
    """n pairs (default, --threads 1), alternating which runs first."""
    got = []
    for i in range(n):
        if i % 2 == 0:
            d, one = run(nabla, args, 0), run(nabla, args, 1)
        else:
            one, d = run(nabla, args, 1), run(nabla, args, 0)
        got.append((d, one))
    return got


def report(name, cond, got):
    d = [p[0][0] for p in got]
    one = [p[1][0] for p in got]
    ratio = [o / x for x, o in zip(d, one)]
    med = statistics.median(ratio)
    print(f"{name:14s} {cond:5s} default {statistics.median(d):8.3f} s  "
          f"--threads 1 {statistics.median(one):8.3f} s  "
          f"speed ratio {med:5.2f} ({min(ratio):.2f}-{max(ratio):.2f})  "
          f"{'PASS' if med >= TARGET else 'MISS'}", flush=True)
    return med >= TARGET


def busy_loop():
    return subprocess.Popen(["/bin/sh", "-c", "while :; do :; done"])


def main():
    argv = sys.argv[1:]
    if not argv or argv[0].startswith("-"):
        print(__doc__)
        return 2
    nabla, n, only, check = argv[0], 5, None, "--check" in argv
    if "--pairs" in argv:
        n = int(argv[argv.index("--pairs") + 1])
    if "--only" in argv:
        only = argv[argv.index("--only") + 1]
    if check:
        (d, one), = pairs(nabla, dict(WORKLOADS)["iris"], 1)
        print(f"iris: accuracy {d[1]} (default threads), {one[1]} (--threads 1)")
        return 0 if d[1] == one[1] else 1
    todo = [(w, a) for w, a in WORKLOADS if only in (None, w)]
    if not os.path.exists(FASHION):
        print(f"{FASHION} not found: Fashion-MNIST workloads skipped")
        todo = [(w, a) for w, a in todo if "fashion-mnist" not in a]
    print(f"{n} pairs per workload; load average {os.getloadavg()[0]:.1f} at start; "
          f"{os.cpu_count()} cores; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}")
    ok = True
    for cond in ("as is", "busy"):
        hog = busy_loop() if cond == "busy" else None
        try:
            for name, args in todo:
                ok &= report(name, cond, pairs(nabla, args, n))
        finally:
            if hog:
                hog.kill()
                hog.wait()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
