#!/usr/bin/env bash
# Right-hand-side evaluations per second of `majmin flow` (Dormand–Prince 5(4)) beside SciPy's
# solve_ivp(method="RK45") on the same problem (the built-in `cosine-grid` gradient flow), start,
# interval and tolerances, without event location on either side; both take the best of REPEATS runs. Prints both rates and the ratio.
#
# Usage: crates/flow/bench/vs_scipy.sh [PYTHON]
#   PYTHON: an interpreter with numpy and scipy (default: the peer venv of ../shared/peers/setup.sh,
#   $HOME/.cache/majmin-peers/bin/python).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
python=${1:-$HOME/.cache/majmin-peers/bin/python}
x0=0.3 y0=0.4 t_end=200 rtol=1e-10 atol=1e-12 repeats=20
target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release -q -p majmin)
rust=$("$target/release/majmin" --json flow --problem cosine-grid --init "$x0,$y0" --t-end "$t_end" \
  --rtol "$rtol" --atol "$atol" --bench "$repeats" --no-events)
scipy=$("$python" "$here/vs_scipy.py" "$x0" "$y0" "$t_end" "$rtol" "$atol" "$repeats")
RUST="$rust" SCIPY="$scipy" "$python" - <<'PY'
import json, os
r = json.loads(os.environ["RUST"]); s = json.loads(os.environ["SCIPY"])
rr = r["rhs_evaluations_per_second"]; sr = s["rhs_evaluations_per_second"]
diff = max(abs(a - b) for a, b in zip(r["final"], s["final"]))
print(f"majmin dopri5 : {r['stats']['rhs_evaluations']:>7} RHS evaluations, {r['stats']['steps']} steps, "
      f"{r['elapsed_seconds'] * 1e3:.3f} ms -> {rr / 1e6:.2f} M evaluations/s")
print(f"scipy RK45    : {s['nfev']:>7} RHS evaluations, {s['steps']} steps, "
      f"{s['seconds'] * 1e3:.3f} ms -> {sr / 1e6:.4f} M evaluations/s (scipy {s['scipy']})")
print(f"ratio (majmin / scipy, evaluations per second): {rr / sr:.0f}x; "
      f"wall-time ratio {s['seconds'] / r['elapsed_seconds']:.0f}x; final states differ by {diff:.2e}")
PY
