#!/usr/bin/python3
"""peak_rss.py - issue 16's memory target: the peak resident set size of
`nabla train mlp --data fashion-mnist --hidden 50 --epochs 1` against its PyTorch twin
(benchmarks/torch_train.py), run back to back in pairs.  Each process's peak is its
ru_maxrss as the kernel reports it to the parent (os.wait4), the figure
`/usr/bin/time -v` prints as "Maximum resident set size".  Prints each run's last
line (loss and accuracy), the medians, their ratio, and PASS when nabla's median is
at most PyTorch's, MISS otherwise (exit status 1).  Both train on their default
thread counts.

usage: benchmarks/peak_rss.py [--nabla PATH] [--pairs N] [-- nabla train options]
  (default: build-rel/src/cli/nabla, 3 pairs, --hidden 50 --epochs 1)
"""
import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def peak(cmd):
    """(peak RSS in MiB, the last line with the test accuracy) of one run of cmd."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        sys.exit("peak_rss: %s failed (%d):\n%s" % (" ".join(cmd), p.returncode, out))
    lines = [s for s in out.splitlines() if "test accuracy" in s]
    return ru.ru_maxrss / 1024, lines[-1] if lines else ""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nabla", default=os.path.join(HERE, "..", "build-rel", "src", "cli", "nabla"))
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("rest", nargs="*", help="nabla train options (default --hidden 50 --epochs 1)")
    a = p.parse_args()
    opts = a.rest or ["--hidden", "50", "--epochs", "1"]
    nabla = [a.nabla, "train", "mlp", "--data", "fashion-mnist"] + opts
    hidden = opts[opts.index("--hidden") + 1] if "--hidden" in opts else "100"
    epochs = opts[opts.index("--epochs") + 1] if "--epochs" in opts else "10"
    torch = ["/usr/bin/python3", os.path.join(HERE, "torch_train.py"), "--hidden", hidden,
             "--epochs", epochs]
    r = subprocess.run(["/usr/bin/python3", "-c", "import torch"], capture_output=True)
    if r.returncode:
        print("peak_rss: skipped: no torch for /usr/bin/python3 (apt-get install python3-torch)")
        return 0
    mb = {"nabla": [], "torch": []}
    for k in range(a.pairs):
        for name, cmd in (("nabla", nabla), ("torch", torch)):
            m, last = peak(cmd)
            mb[name].append(m)
            print("%d %-5s %7.1f MiB  %s" % (k + 1, name, m, last), flush=True)
    n, t = statistics.median(mb["nabla"]), statistics.median(mb["torch"])
    ok = n <= t
    print("peak RSS (median of %d): nabla %.1f MiB, PyTorch %.1f MiB, ratio %.2f: %s"
          % (a.pairs, n, t, n / t, "PASS" if ok else "MISS"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
