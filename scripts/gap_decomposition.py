"""Where the gap from the best non-learned online planner to the hindsight bound goes: forecasting, cold starts,
the env's pricing of load, per-window myopia and integrality, one chain of costs per test day
(docs/hindsight.md, "Where the gap goes"; baselines/gap.py).

    python scripts/gap_decomposition.py --time-limit 120 --out results/gap.md

HetServe-v1, test days 12 and 13, exact replay (the env's default noise 0), noise seed k for the k-th day as
``hetserve compare`` runs them. Every headroom is chosen on the validation days. Writes the Markdown report, and
the measurements as a CSV next to it (``--resume`` keeps the rows already there and computes the missing ones;
rows of a solve the run stopped inside are computed again: :data:`HINDSIGHT_GROUPS`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import pandas as pd

import hetserve_env  # noqa: F401
from agents.compare import COMPARE_HEADROOM
from baselines.forecast_planner import make_planner
from baselines.gap import (CHAIN, NextWindowPlanner, choose_headroom, free_cold_start_env, gap_chain,
                           plan_model_value, played_plan)
from baselines.hindsight import episode_model_inputs
from baselines.horizon_model import build_horizon_model
from baselines.horizon_solve import solve_horizon
from baselines.policies import SolverPolicy
from hetserve_env.episodes import policy_act, run_episode

ENV_ID = "hetserve_env/HetServe-v1"  # the default of --env
LABELS = {
    "online": "best non-learned online planner (of the two rows above, by mean)",
    "next_window": "GH told the true next window (validation headroom)",
    "next_window_free": "the same, cold starts free (env)",
    "next_window_free_model": "its played fleet priced by the hindsight model (load cuts, cold starts free)",
    "hindsight_free_plan": "best whole-day integer plan found, model value (cold starts free)",
    "hindsight_free_lp": "hindsight LP with load cuts, cold starts free",
    "bound": "**bound**: hindsight LP with load cuts, the env's cold starts",
}
#: :func:`hindsight_rows`' rows of one world (key = name + "_" + world), in groups that each come from one solve;
#: a group's last key is written last, so a group is complete when its last key is saved. ``--resume`` drops the
#: rows of an incomplete group (a run stopped inside it; the MILP's plan is not saved, so its rows go together)
#: and computes the group again. ``round_cuts`` is absent when the cut LP has no plan.
HINDSIGHT_GROUPS = (("round_cuts", "lp_cuts"),
                    ("lp_plain", "milp_bound", "milp_plan", "milp_plan_cuts", "milp_plan_env"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default=ENV_ID)
    ap.add_argument("--days", type=int, nargs="+", default=[12, 13])
    ap.add_argument("--windows", type=int, default=None, help="only the first windows of each day (a quick check)")
    ap.add_argument("--time-limit", type=float, default=120.0, help="hindsight MILP seconds per day and world")
    ap.add_argument("--compare", default="results/compare/episodes.csv", help="for the PPO context row")
    ap.add_argument("--out", default="results/gap.md")
    ap.add_argument("--resume", action="store_true", help="keep the measurements already in the CSV next to --out "
                    "(those of a solve a stopped run left half-written are computed again)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    csv = out.with_suffix(".csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = complete_groups(pd.read_csv(csv).to_dict("records")) if args.resume and csv.exists() else []
    have = {(int(r["day"]), str(r["key"])) for r in rows}

    def record(day: int, key: str, label: str, value: float | None, **extra: Any) -> None:
        if value is None:  # a solver that ended without this number: stop and say so, no row
            raise RuntimeError(f"day {day} {key} ({label}): no value {extra or ''}")
        rows.append({"day": day, "key": key, "label": label, "value": float(value), **extra})
        pd.DataFrame(rows).to_csv(csv, index=False)
        print(f"day {day} {key}: {value:,.2f} ({label})", flush=True)

    env = gym.make(args.env, split="test")
    free = free_cold_start_env(env)
    val = gym.make(args.env, split="validation")
    t0 = time.perf_counter()
    W = args.windows
    h, val_costs = choose_headroom(lambda e, h: NextWindowPlanner(e, "gh", h), val, windows=W)
    print(f"next-window GH: headroom {h:.0%} chosen on validation days {val.unwrapped.split_days} "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    policies: dict[str, Callable[[Any], Any]] = {
        "online_gh_headroom": lambda e: SolverPolicy(e, "gh", estimate="headroom", headroom=COMPARE_HEADROOM),
        "online_gh_hw": lambda e: make_planner("gh-hw", e)}
    for k, day in enumerate(args.days):
        for key, make in policies.items():
            if (day, key) not in have:
                pol = make(env)
                record(day, key, pol.name, run_episode(env, policy_act(pol), day, k, max_windows=W).total_cost)
        for world, e in (("env", env.unwrapped), ("free", free)):
            ckey, mkey = ("next_window", "next_window_model") if world == "env" else \
                ("next_window_free", "next_window_free_model")
            if not {(day, ckey), (day, mkey)} <= have:  # one episode per world: its env cost and its fleet's value
                pol = NextWindowPlanner(e, "gh", h)
                log = run_episode(e, policy_act(pol), day, k, max_windows=W)
                if (day, ckey) not in have:
                    record(day, ckey, pol.name + ("" if world == "env" else ", cold starts free"), log.total_cost)
                if (day, mkey) not in have:
                    e.reset(seed=k, options={"day": day})
                    record(day, mkey, f"{pol.name}: its fleet in the model ({world})",
                           plan_model_value(e, played_plan(log)))
            hindsight_rows(e, day, k, world, args.time_limit, record, W, have)
    df = pd.DataFrame(rows)
    compare = pd.read_csv(args.compare) if Path(args.compare).exists() else None
    out.write_text(report(df, args, h, val_costs, compare))
    print(f"wrote {out} and {csv}")
    return 0


def complete_groups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The saved ``rows`` without those of an incomplete :data:`HINDSIGHT_GROUPS` group of their day and world."""
    last = {f"{k}_{w}": f"{g[-1]}_{w}" for w in ("env", "free") for g in HINDSIGHT_GROUPS for k in g}
    have = {(int(r["day"]), str(r["key"])) for r in rows}
    return [r for r in rows if str(r["key"]) not in last or (int(r["day"]), last[str(r["key"])]) in have]


def hindsight_rows(e: Any, day: int, seed: int, world: str, time_limit: float, record: Callable,
                   windows: int | None, have: set[tuple[int, str]]) -> None:
    """The hindsight model of the day in one world: the LP with load cuts and its rounded plan; the MILP without
    the cuts (dual bound, incumbent, gap) and its incumbent priced with the cuts and played in the env. A group
    of :data:`HINDSIGHT_GROUPS` whose last key is in ``have`` (day, key) is not computed again."""
    todo = [g for g in HINDSIGHT_GROUPS if (day, f"{g[-1]}_{world}") not in have]
    if not todo:
        return
    e.reset(seed=seed, options={"day": day})
    problems, start, avail = episode_model_inputs(e, 0, windows or e.episode_length)
    if HINDSIGHT_GROUPS[0] in todo:
        cuts = build_horizon_model(problems, start, avail, e.max_replicas, load_cuts=True)
        s = solve_horizon(cuts, time_limit=10 * time_limit, lp_only=True)
        if s.lp_bound is None:
            raise RuntimeError(f"day {day} ({world}): the LP with load cuts ended {s.stats['lp_status']!r}, no bound")
        if s.plan is not None:
            record(day, f"round_cuts_{world}", f"LP plan rounded up, model value with cuts ({world})", s.objective)
        record(day, f"lp_cuts_{world}", f"hindsight LP with load cuts ({world})", s.lp_bound, solve_s=s.runtime_s)
    if HINDSIGHT_GROUPS[1] in todo:
        milp_rows(e, day, seed, world, time_limit, record, windows, (problems, start, avail))


def milp_rows(e: Any, day: int, seed: int, world: str, time_limit: float, record: Callable, windows: int | None,
              inputs: tuple) -> None:
    """The MILP without load cuts of the day's model ``inputs`` (problems, start, avail): its LP, dual bound and
    incumbent, the incumbent priced with the cuts and played in the env (``milp_plan_env_*`` last)."""
    plain = build_horizon_model(*inputs, e.max_replicas, load_cuts=False)
    m = solve_horizon(plain, time_limit=time_limit)
    record(day, f"lp_plain_{world}", f"hindsight LP without load cuts ({world})", m.lp_bound)
    record(day, f"milp_bound_{world}", f"MILP without load cuts: dual bound ({world})", m.bound,
           status=m.status, bound_kind=m.bound_kind, solve_s=m.runtime_s)
    if m.plan is None:
        raise RuntimeError(f"day {day} ({world}): the MILP gave no plan (status {m.status!r})")
    record(day, f"milp_plan_{world}", f"MILP without load cuts: incumbent's model value ({world})", m.objective,
           status=m.status, plan_kind=m.plan_kind, mip_gap=m.stats.get("mip_gap"))
    e.reset(seed=seed, options={"day": day})
    record(day, f"milp_plan_cuts_{world}", f"MILP incumbent, model value with cuts ({world})",
           plan_model_value(e, m.plan))
    log = run_episode(e, lambda obs, p=m.plan: (e.action_from_replicas(p[e.elapsed_steps]), None), day, seed,
                      max_windows=windows)
    record(day, f"milp_plan_env_{world}", f"MILP incumbent played in the env ({world})", log.total_cost)


def costs_of(df: pd.DataFrame, day: int, online: str) -> dict[str, float]:
    """The chain's costs of one day from the measurements; ``online``: the key of the online planner (the same
    on every day: the one with the lower mean)."""
    v = df[df["day"] == day].set_index("key")["value"].to_dict()
    plans = [v[k] for k in ("round_cuts_free", "milp_plan_cuts_free") if k in v and np.isfinite(v[k])]
    return {"online": v[online], "next_window": v["next_window"],
            "next_window_free": v["next_window_free"], "next_window_free_model": v["next_window_free_model"],
            "hindsight_free_plan": min(plans), "hindsight_free_lp": v["lp_cuts_free"], "bound": v["lp_cuts_env"]}


def fmt(x: float) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:,.2f}"


def report(df: pd.DataFrame, args: argparse.Namespace, h: float, val_costs: dict[float, float],
           compare: pd.DataFrame | None) -> str:
    days = sorted(int(d) for d in df["day"].unique())
    v = {d: df[df["day"] == d].set_index("key")["value"].to_dict() for d in days}
    label = df.drop_duplicates("key").set_index("key")["label"].to_dict()
    mean_online = {k: np.mean([v[d][k] for d in days]) for k in ("online_gh_headroom", "online_gh_hw")}
    best = min(mean_online, key=mean_online.get)
    costs = {d: costs_of(df, d, best) for d in days}
    cmd = "python scripts/gap_decomposition.py " + " ".join(sys.argv[1:])
    head = "| | " + " | ".join(f"day {d} ($)" for d in days) + " | mean ($) |"
    sep = "|---|" + "---:|" * (len(days) + 1)
    row = (lambda name, xs: f"| {name} | " + " | ".join(fmt(x) for x in xs) + f" | {fmt(float(np.mean(xs)))} |")
    L = [f"# Where the gap to the hindsight bound goes ({args.env}, test days {days}, exact replay"
         + (f", first {args.windows} windows" if args.windows else "") + ")", "",
         f"Command: `{cmd.strip()}`", "",
         f"Next-window GH headroom chosen on the validation days: **{h:.0%}** (mean validation cost per headroom: "
         + ", ".join(f"{k:.0%}: ${c:,.0f}" for k, c in val_costs.items()) + ").", "",
         "## The chain (each cost differs from the one above in one respect)", "", head, sep]
    L.append(row(label["online_gh_headroom"], [v[d]["online_gh_headroom"] for d in days]))
    L.append(row(label["online_gh_hw"], [v[d]["online_gh_hw"] for d in days]))
    for key in ("online", "next_window", "next_window_free", "next_window_free_model", "hindsight_free_plan",
                "hindsight_free_lp", "bound"):
        L.append(row(LABELS[key], [costs[d][key] for d in days]))
    gap = [costs[d]["online"] - costs[d]["bound"] for d in days]
    L += ["", "## The gap, step by step", "", "| step | " + " | ".join(f"day {d} ($)" for d in days)
          + " | mean ($) | share of the gap |", "|---|" + "---:|" * (len(days) + 2)]
    steps = {d: gap_chain(costs[d]) for d in days}
    for i, (cause, _, _) in enumerate(CHAIN):
        xs = [steps[d][i].delta for d in days]
        L.append(f"| {cause} | " + " | ".join(fmt(x) for x in xs) + f" | {fmt(float(np.mean(xs)))} | "
                 f"{100 * np.mean(xs) / np.mean(gap):.0f} % |")
    L.append(f"| **gap** (online − bound) | " + " | ".join(fmt(x) for x in gap) + f" | {fmt(float(np.mean(gap)))} "
             "| 100 % |")
    L += ["", "## Context", "", head, sep]
    ctx = ["next_window_model", "milp_plan_env_env", "milp_plan_env_free"]
    for w in ("env", "free"):
        ctx += [f"lp_plain_{w}", f"milp_bound_{w}", f"milp_plan_{w}", f"milp_plan_cuts_{w}", f"round_cuts_{w}",
                f"lp_cuts_{w}"]
    for key in ctx:
        if all(key in v[d] for d in days):
            L.append(row(label[key], [v[d][key] for d in days]))
    if compare is not None and "PPO" in set(compare["policy"]) and args.windows is None and args.env == ENV_ID:
        ppo = compare[compare["policy"] == "PPO"].set_index("day")["cost"]
        if all(d in ppo.index for d in days):
            L.append(row(f"PPO (best learned online policy; from `{args.compare}`)", [ppo[d] for d in days]))
    milp = df[df["key"].isin(["milp_plan_env", "milp_plan_free"])]
    L += ["", "MILP without load cuts (time limit " f"{args.time_limit:g} s): "
          + "; ".join(f"day {r.day} {r.key[10:]}: {r.status}, gap {100 * r.mip_gap:.1f} %, plan from {r.plan_kind}"
                      for r in milp.itertuples())]
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
