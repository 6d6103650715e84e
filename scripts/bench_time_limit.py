#!/usr/bin/env python
"""Does the MILP's time limit hold? Wall time of ``baselines.solve(p, "milp", ...)`` against its limit.

    python scripts/bench_time_limit.py [--size 30] [--seed 1] [--limits 2,20] [--solvers cbc,highs]
                                       [--out results/bench_time_limit.csv]

For every solver and limit: one ``solve`` call on ``generate(size, size, size, seed)`` with the default AGH warm
start (its time counts, as the limit is the budget of the whole call). Prints and writes (CSV) the status, the
objective, the wall time measured around the call, the allowance max(10 %, 2 s), whether the Solution flagged an
overrun, and where the time went (warm start, model build, solver). A measurement, not a test.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import baselines  # noqa: E402
from baselines.instances import generate  # noqa: E402
from baselines.milp import overrun_allowance  # noqa: E402

FIELDS = ["size", "seed", "solver", "time_limit", "status", "objective", "wall_s", "allowance_s", "within",
          "overrun_flag_s", "warm_start_s", "build_s", "solve_s", "solver_status", "reason"]


def measure(p, solver: str, limit: float) -> dict:
    t0 = time.perf_counter()
    sol = baselines.solve(p, "milp", solver=solver, time_limit=limit)
    wall = time.perf_counter() - t0
    st = sol.stats
    return {"solver": solver, "time_limit": limit, "status": sol.status, "objective": sol.objective, "wall_s": wall,
            "allowance_s": overrun_allowance(limit), "within": wall <= limit + overrun_allowance(limit),
            "overrun_flag_s": st.get("time_limit_overrun_s", ""), "warm_start_s": st.get("warm_start_s", ""),
            "build_s": st.get("build_s", ""), "solve_s": st.get("solve_s", ""),
            "solver_status": st.get("solver_status", ""), "reason": sol.reason or ""}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limits", default="2,20")
    ap.add_argument("--solvers", default="cbc,highs")
    ap.add_argument("--out", default="results/bench_time_limit.csv")
    args = ap.parse_args(argv)
    p = generate(args.size, args.size, args.size, seed=args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        for limit in [float(v) for v in args.limits.split(",") if v]:
            for solver in [s.strip() for s in args.solvers.split(",") if s.strip()]:
                row = {"size": args.size, "seed": args.seed, **measure(p, solver, limit)}
                writer.writerow(row)
                fh.flush()
                print(f"{solver:<6} limit {limit:6.1f} s  {row['status']:<10} obj {row['objective']:10.4f}  "
                      f"wall {row['wall_s']:7.2f} s  within limit+{row['allowance_s']:.1f} s: {row['within']}  "
                      f"overrun flag: {row['overrun_flag_s'] or 'none'}  (warm {row['warm_start_s']}, build "
                      f"{row['build_s']}, solve {row['solve_s']})", flush=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
