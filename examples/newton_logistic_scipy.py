#!/usr/bin/python3
"""The Newton example's weights against scipy's optimum of the same loss.

Usage: newton_logistic_scipy.py NEWTON_LOGISTIC DATA_DIR
Runs `newton_logistic --weights`, solves the same problem with
scipy.optimize.minimize (trust-exact, loss, gradient and Hessian written in
numpy), and exits 0 if every weight agrees within 1e-8; 77 without scipy."""
import subprocess
import sys

try:
    import numpy as np
    from scipy.optimize import minimize
except ImportError:
    print("numpy or scipy is not installed: skipped")
    sys.exit(77)

LAMBDA = 0.01


def main():
    exe, data_dir = sys.argv[1], sys.argv[2]
    out = subprocess.run([exe, "--weights"], capture_output=True, text=True, check=True).stdout
    w_nabla = np.array([float(line.split()[2]) for line in out.splitlines()
                        if line.startswith("w ")])
    raw = np.loadtxt(f"{data_dir}/breast_cancer.csv", delimiter=",", skiprows=1)
    feats, t = raw[:, :-1], raw[:, -1]
    feats = (feats - feats.mean(axis=0)) / feats.std(axis=0)  # population std
    x = np.hstack([feats, np.ones((len(t), 1))])
    n = len(t)

    def loss(w):
        z = x @ w
        return np.mean(np.logaddexp(0, z) - t * z) + LAMBDA / 2 * w @ w

    def grad(w):
        p = 1 / (1 + np.exp(-(x @ w)))
        return x.T @ (p - t) / n + LAMBDA * w

    def hess(w):
        p = 1 / (1 + np.exp(-(x @ w)))
        return (x.T * (p * (1 - p))) @ x / n + LAMBDA * np.eye(len(w))

    res = minimize(loss, np.zeros(x.shape[1]), jac=grad, hess=hess, method="trust-exact",
                   options={"gtol": 1e-13})
    diff = np.max(np.abs(res.x - w_nabla))
    print(f"scipy: L* = {res.fun:.15f}, |grad| = {np.linalg.norm(grad(res.x)):.2e}; "
          f"max |w_nabla - w_scipy| = {diff:.2e} over {len(w_nabla)} weights")
    return 0 if len(w_nabla) == x.shape[1] and diff <= 1e-8 else 1


if __name__ == "__main__":
    sys.exit(main())
