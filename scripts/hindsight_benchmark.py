"""The hindsight bound, the clairvoyant incumbent and the MPC planner on the compare split, next to the policies
of ``results/compare/`` (docs/hindsight.md).

    python scripts/hindsight_benchmark.py --out results/hindsight.md

Days and noise seeds as ``hetserve compare`` runs them (the test days of HetServe-v1, seed k for the k-th day,
the env's default noise). Writes the Markdown report and a CSV next to it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd

import hetserve_env  # noqa: F401
from baselines.hindsight import hindsight
from baselines.mpc import MPCPolicy
from hetserve_env.episodes import policy_act, run_episode

ENV_ID = "hetserve_env/HetServe-v1"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, nargs="+", default=[12, 13])
    ap.add_argument("--time-limit", type=float, default=300.0, help="hindsight MILP seconds per day")
    ap.add_argument("--plan-model", default="plain", choices=("plain", "cuts"))
    ap.add_argument("--mpc-k", type=int, default=3)
    ap.add_argument("--mpc-time-limit", type=float, default=3.0)
    ap.add_argument("--skip-mpc", action="store_true")
    ap.add_argument("--compare", default="results/compare/episodes.csv")
    ap.add_argument("--out", default="results/hindsight.md")
    ap.add_argument("--resume", action="store_true", help="keep the rows already in the CSV next to --out")
    args = ap.parse_args(argv)
    env = gym.make(ENV_ID, split="test")
    out = Path(args.out)
    rows = pd.read_csv(out.with_suffix(".csv")).to_dict("records") if args.resume else []
    have = {(str(r["policy"]).split(" ")[0], int(r["day"])) for r in rows}
    for k, day in enumerate(args.days):
        if ("Hindsight", day) not in have:
            rows.append(hindsight_row(env, day, k, args))
            save(rows, out)
        if not args.skip_mpc and ("MPC", day) not in have:
            rows.append(mpc_row(env, day, k, args))
            save(rows, out)
    df = pd.DataFrame(rows)
    out.write_text(report(df, args, pd.read_csv(args.compare) if Path(args.compare).exists() else None))
    print(f"wrote {out} and {out.with_suffix('.csv')}")
    return 0


def save(rows: list[dict], out: Path) -> None:
    """The rows so far, to the CSV next to ``out`` (``--resume`` continues from it)."""
    pd.DataFrame(rows).to_csv(out.with_suffix(".csv"), index=False)
    print(rows[-1], flush=True)


def hindsight_row(env: gym.Env, day: int, seed: int, args: argparse.Namespace) -> dict:
    r = hindsight(env, day, seed=seed, time_limit=args.time_limit, plan_model=args.plan_model)
    s = r.solution
    return {"policy": "Hindsight incumbent (clairvoyant plan)", "day": day, "cost": r.env_cost, "bound": s.bound,
            "bound_kind": s.bound_kind, "milp_status": s.status, "milp_gap": s.stats.get("mip_gap"),
            "plan_kind": s.plan_kind, "plan_model_value": s.objective, "lp_plain": s.lp_bound,
            "lp_cuts": s.stats.get("lp_with_cuts"), "solve_s": s.runtime_s,
            **{f"{p}_usd": v for p, v in (r.env_cost_parts or {}).items()}}


def mpc_row(env: gym.Env, day: int, seed: int, args: argparse.Namespace) -> dict:
    pol = MPCPolicy(env, k=args.mpc_k, forecaster="persistence", time_limit=args.mpc_time_limit)
    log = run_episode(env, policy_act(pol), day, seed)
    parts = log.cost_parts()
    return {"policy": pol.name, "day": day, "cost": sum(parts.values()),
            "decision_ms": 1000 * float(np.mean(pol.decision_times)),
            "decision_ms_max": 1000 * float(np.max(pol.decision_times)), "plan_kinds": str(dict(pol.stats)),
            **{f"{p}_usd": v for p, v in parts.items()}}


def report(df: pd.DataFrame, args: argparse.Namespace, compare: pd.DataFrame | None) -> str:
    cmd = "python scripts/hindsight_benchmark.py " + " ".join(sys.argv[1:])
    lines = [f"# Hindsight bound, clairvoyant plan and MPC on {ENV_ID}, test days {args.days}", "",
             f"Command: `{cmd.strip()}`", ""]
    hs = df[df["policy"].str.startswith("Hindsight")]
    lines += ["| day | bound ($) | bound kind | MILP status | MILP gap | LP plain ($) | LP with load cuts ($) | "
              "plan | plan's model value ($) | plan's env cost ($) | solve (s) |", "|---|" + "---:|" * 10]
    for r in hs.itertuples():
        f = (lambda v: "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:,.2f}")
        lines.append(f"| {r.day} | {f(r.bound)} | {r.bound_kind} | {r.milp_status} | "
                     f"{'-' if r.milp_gap is None or np.isnan(r.milp_gap) else f'{100 * r.milp_gap:.1f} %'} | "
                     f"{f(r.lp_plain)} | {f(r.lp_cuts)} | {r.plan_kind} | {f(r.plan_model_value)} | {f(r.cost)} | "
                     f"{r.solve_s:.0f} |")
    lines += ["", "Episode cost per day ($; the policies' rows from `results/compare/episodes.csv`):", ""]
    table = df[["policy", "day", "cost"]]
    if compare is not None:
        table = pd.concat([compare[["policy", "day", "cost"]], table], ignore_index=True)
    piv = table.pivot_table(index="policy", columns="day", values="cost", aggfunc="first", sort=False)
    piv["mean"] = piv.mean(axis=1)
    bound = hs.set_index("day")["bound"]
    lines += ["| policy | " + " | ".join(f"day {d}" for d in piv.columns[:-1]) + " | mean | mean ÷ bound |",
              "|---|" + "---:|" * (len(piv.columns) + 1)]
    for name, r in piv.iterrows():
        ratio = r["mean"] / bound.mean() if bound.notna().all() else float("nan")
        lines.append(f"| {name} | " + " | ".join(f"{v:,.2f}" for v in r.values) + f" | {ratio:.2f} |")
    lines.append(f"| **bound** | " + " | ".join(f"{bound.get(d, float('nan')):,.2f}" for d in piv.columns[:-1])
                 + f" | {bound.mean():,.2f} | 1.00 |")
    mpc = df[df["policy"].str.startswith("MPC")]
    if len(mpc):
        lines += ["", f"MPC decision time per window: mean {mpc['decision_ms'].mean():,.0f} ms, max "
                      f"{mpc['decision_ms_max'].max():,.0f} ms (MILP limit {args.mpc_time_limit:g} s)."]
    parts = [c for c in df.columns if c.endswith("_usd")]
    lines += ["", "Cost breakdown ($ per day):", "", "| policy | day | " + " | ".join(c[:-4] for c in parts) + " |",
              "|---|---|" + "---:|" * len(parts)]
    for r in df.itertuples():
        lines.append(f"| {r.policy} | {r.day} | " + " | ".join(f"{getattr(r, c):,.2f}" for c in parts) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
