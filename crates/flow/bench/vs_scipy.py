"""SciPy's solve_ivp (RK45) on the gradient flow of the built-in `cosine-grid` problem.

L(x, y) = cos x + cos y + 0.002 ((x - 1)^2 + (y - 2)^2), dθ/dt = -∇L(θ).
Usage: python vs_scipy.py X0 Y0 T_END RTOL ATOL REPEATS  -> one JSON line on stdout.
"""
import json
import math
import sys
import time

import numpy as np
from scipy.integrate import solve_ivp


def minus_gradient(_t, th):
    x, y = th
    return np.array([math.sin(x) - 0.004 * (x - 1.0), math.sin(y) - 0.004 * (y - 2.0)])


def main():
    x0, y0, t_end, rtol, atol, repeats = map(float, sys.argv[1:7])
    best, sol = math.inf, None
    for _ in range(int(repeats)):
        start = time.perf_counter()
        sol = solve_ivp(minus_gradient, (0.0, t_end), [x0, y0], method="RK45", rtol=rtol, atol=atol)
        best = min(best, time.perf_counter() - start)
    print(json.dumps({
        "final": [float(v) for v in sol.y[:, -1]],
        "nfev": int(sol.nfev),
        "steps": int(sol.t.size - 1),
        "seconds": best,
        "rhs_evaluations_per_second": sol.nfev / best,
        "scipy": __import__("scipy").__version__,
    }))


if __name__ == "__main__":
    main()
