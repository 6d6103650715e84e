"""``hetserve hindsight``: the hindsight bound and the clairvoyant incumbent of episodes (baselines/hindsight.py).

Prints, per episode (day × noise seed): the bound and which one it is (MILP dual bound or LP relaxation), the MILP
status and gap, the incumbent's model value and its env cost (played through the episode runner), the gap from
the bound to that env cost, and the solve time. ``--out FILE`` also writes the table as CSV.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from hetserve_env.highs import HighsStatusError

USER_ERRORS = (HighsStatusError,)

_ENV_OF = {"small": "hetserve_env/HetServeSmall-v0", "default": "hetserve_env/HetServe-v0",
           "paper": "hetserve_env/HetServePaper-v0"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from hetserve_env.cli import positive_int

    parser.add_argument("--scenario", default="default", choices=sorted(_ENV_OF), help="built-in scenario (env id)")
    parser.add_argument("--split", default="test", choices=("train", "validation", "test"))
    parser.add_argument("--days", type=int, nargs="+", help="start days (default: every start day of the split)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="reset seeds (noise draws); default 0")
    parser.add_argument("--noise", type=float, default=0.0, help="env demand noise σ (default 0: exact replay)")
    parser.add_argument("--windows", type=positive_int, help="only the first N windows of each episode")
    parser.add_argument("--time-limit", type=float, default=60.0, help="MILP seconds per episode (default 60)")
    parser.add_argument("--lp-only", action="store_true", help="solve only the LP relaxation (bound + floor plan)")
    parser.add_argument("--max-utilisation", type=float, default=1.0,
                        help="plan with slack (< 1: the incumbent's model value is then no bound)")
    parser.add_argument("--out", help="also write the table to this CSV file")


def rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One dict per episode (see the module docstring)."""
    import gymnasium as gym

    import hetserve_env  # noqa: F401  (registers the ids)

    from .hindsight import hindsight

    env = gym.make(_ENV_OF[args.scenario], split=args.split, noise=float(args.noise))
    base = env.unwrapped
    days = args.days if args.days else list(base.split_days[: len(base.split_days) - base.episode_days + 1])
    out = []
    for day in days:
        for seed in args.seeds:
            t0 = time.perf_counter()
            r = hindsight(env, day, seed, windows=args.windows, time_limit=args.time_limit, lp_only=args.lp_only,
                          max_utilisation=args.max_utilisation)
            s = r.solution
            out.append({"day": day, "seed": seed, "windows": r.steps, "bound_usd": s.bound, "bound_kind": s.bound_kind,
                        "milp_status": s.status, "milp_gap": s.stats.get("mip_gap"), "plan": s.plan_kind,
                        "plan_model_usd": s.objective, "plan_env_usd": r.env_cost, "gap_bound_to_env": r.gap_to_env,
                        "solve_s": s.runtime_s, "wall_s": time.perf_counter() - t0, "columns": s.n_cols,
                        "rows": s.n_rows, "integers": s.n_integer})
    env.close()
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 1 else f"{v:,.2f}"
    return str(v)


def run(args: argparse.Namespace) -> int:
    if not args.time_limit > 0:
        raise ValueError(f"--time-limit must be > 0 seconds, got {args.time_limit!r}")
    table = rows(args)
    keys = ["day", "seed", "windows", "bound_usd", "bound_kind", "milp_status", "milp_gap", "plan", "plan_model_usd",
            "plan_env_usd", "gap_bound_to_env", "solve_s"]
    print(" | ".join(keys))
    for r in table:
        print(" | ".join(_fmt(r[k]) for k in keys))
    if args.out:
        import pandas as pd

        pd.DataFrame(table).to_csv(args.out, index=False)
        print(f"wrote {args.out}")
    return 0
