"""Rolling study: re-planning every window (reactive AGH) vs. one static plan for the day, in the environment."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from hetserve_env.episodes import EpisodeLog, run_episode
from hetserve_env.problem import Problem
from hetserve_env.step_info import violations_by_family

from ..gap import free_cold_start_scenario
from ..solution import Solution
from .planning import method_label, plan
from .tables import Progress, Table, fmt, mean_finite, say

#: weight-load speed (GB/s) of the study's "cold starts off" runs (committed results/paper rolling tables)
NO_COLD_START_GBPS = 1e9


def day_peak_problem(scenario: Any, day: int, max_windows: int | None = None) -> Problem:
    """The static 24 h planning problem of ``day``: per type the peak nominal (noise-free) rate over the day's
    windows (the first ``max_windows`` only, if given) at the day's mean token counts."""
    d = scenario.demand
    win = np.flatnonzero(np.asarray(d.day) == day)
    if max_windows is not None:
        win = win[:max_windows]
    return scenario.compile(d.rate[win].max(axis=0), d.input_tokens[win].mean(axis=0), d.output_tokens[win].mean(axis=0),
                            name=f"{scenario.name}:day{day}:peak")


def scaled_demand_scenario(scenario: Any, factor: float) -> Any:
    """A copy of ``scenario`` with every type's arrival rate × ``factor`` (``mean_rps``, ``rps`` or ``scale`` of
    its rate source; the demand shape, tokens and everything else unchanged)."""
    qts = []
    for q in scenario.raw["query_types"]:
        rate = dict(q["demand"]["rate"])
        keys = [k for k in ("mean_rps", "rps", "scale") if k in rate]
        if not keys:
            raise ValueError(f"query type {q['name']!r}: its rate source has no mean_rps/rps/scale to scale")
        for k in keys:
            rate[k] = rate[k] * factor
        qts.append({**q, "demand": {**q["demand"], "rate": rate}})
    return scenario.replace(query_types=qts, name=f"{scenario.raw.get('name', scenario.name)}-x{factor:g}")


def episode_metrics(log: EpisodeLog) -> dict[str, Any]:
    """The rolling study's row of one episode (:func:`hetserve_env.episodes.run_episode`): money in $ (from
    ``info["cost"]``), demand-weighted SLO attainment / unmet share, violation and clipped windows."""
    money = log.cost_parts()
    demand = attained = unmet = 0.0
    viol_windows = err_windows = clipped = 0
    for info in log.infos:
        lam = float(np.sum(info["demand"]))
        demand += lam
        attained += lam * float(info["slo_attainment"]["overall"])
        unmet += float(info["unmet_rate"])
        viol_windows += bool(np.any(info["violations"]))
        err_windows += bool(np.any(violations_by_family(info)["error_slo"]))
        clipped += bool(info["clipped"])
    steps = log.steps
    return {"windows": steps, "cost_usd": log.total_cost, **{f"{k}_usd": v for k, v in money.items()},
            "penalty_usd": money["unmet_penalty"] + money["delay_penalty"] + money["error_penalty"] + money["clip_penalty"],
            "slo_attainment_pct": 100 * attained / demand if demand > 0 else 100.0,
            "unmet_pct": 100 * unmet / demand if demand > 0 else 0.0,
            "violation_windows_pct": 100 * viol_windows / steps, "error_slo_windows": err_windows,
            "clipped_windows": clipped, "decision_s": float(np.mean(log.decision_s))}


def rolling_study(sigmas: Sequence[float], days: Sequence[int] | None = None, *, env_id: str = "hetserve_env/HetServePaper-v1",
                  split: str = "test", router: str = "lp", seed: int = 0, max_windows: int | None = None,
                  static_methods: Sequence[str] = ("agh", "milp"), milp_options: Mapping[str, Any] | None = None,
                  demand_scale: float = 1.0, cold_starts: Sequence[bool] = (True,),
                  estimates: Sequence[str] = ("reactive",), headroom: float = 0.1,
                  max_replicas: int | None = None, progress: Progress = None) -> list[dict[str, Any]]:
    """Rolling re-optimisation vs. a static plan for the day, in the environment.

    Policies (same days, same noise draws — ``reset(seed=seed + day)``, so every σ scales the same standard
    normals):

    * ``AGH rolling``: :class:`~baselines.policies.SolverPolicy` (reactive: plans every window for the last
      observed window's demand);
    * ``<M> static``: one fleet planned by method M for the day's peak nominal demand
      (:func:`day_peak_problem`), held fixed for the whole episode.

    Both start warm with the fleet they would choose for the first window (the rolling policy's plan for the
    last history window; the static fleet), so neither pays an initial cold start; the rolling policy pays
    cold starts for every replica it adds later. Routing in every window by ``router`` (the exact LP by default).
    ``demand_scale``: every type's rate × this factor (:func:`scaled_demand_scenario`), e.g. to make fleets
    large enough for re-planning to matter. ``cold_starts``: run with the scenario's cold starts (True) and/or
    without them (False: replicas serve at once, as the paper's rolling re-optimisation assumes); plans are
    shared between the variants (same problems, same noise), so the second costs only the environment steps.
    ``estimates``: the rolling policies' demand estimates — ``"reactive"`` (``AGH rolling``) and/or
    ``"headroom"`` (``AGH rolling (headroom 10%)``: the last window's rates × (1 + ``headroom``)).
    ``max_replicas``: the env's replicas per template (default: the scenario's ``env.max_replicas``); a scaled
    demand may need more, or the static plans are clipped to it (a warning, and the run's unmet demand says so).
    """
    import gymnasium as gym

    probe = gym.make(env_id, split=split)
    scenario0 = probe.unwrapped.scenario
    probe.close()
    if demand_scale != 1.0:
        scenario0 = scaled_demand_scenario(scenario0, demand_scale)
    days = list(probe.unwrapped.split_days if days is None else days)
    statics = _static_plans(scenario0, days, static_methods, max_windows, milp_options, progress)
    rows: list[dict[str, Any]] = []
    cache: dict = {}
    for cold in cold_starts:
        sc = scenario0 if cold else free_cold_start_scenario(scenario0, load_gbps=NO_COLD_START_GBPS)
        limits = {} if max_replicas is None else {"max_replicas": max_replicas}  # the env checks it
        env = gym.make(env_id, scenario=sc, split=split, noise=0.0, router=router, **limits)
        tag = "on" if cold else "off"
        for sigma in sigmas:
            env.unwrapped.noise = float(sigma)
            for day in days:
                s = seed + int(day)
                common = {"demand_scale": demand_scale, "cold_starts": tag, "sigma": sigma, "day": day}
                for est in estimates:
                    rows.append({**common, **_rolling_row(env, est, headroom, cache, day, s, max_windows)})
                    _say_row(progress, rows[-1], tag, sigma, day)
                for m, sol in statics[day].items():
                    rows.append({**common, **_static_row(env, m, sol, day, s, max_windows, progress)})
                    _say_row(progress, rows[-1], tag, sigma, day)
        env.close()
    return rows


def _static_plans(scenario: Any, days: Sequence[int], methods: Sequence[str], max_windows: int | None,
                  milp_options: Mapping[str, Any] | None, progress: Progress) -> dict[int, dict[str, Solution]]:
    """Each day's static plan by each method, for the day's peak nominal demand."""
    statics: dict[int, dict[str, Solution]] = {}
    for day in days:
        p = day_peak_problem(scenario, day, max_windows)
        statics[day] = {m: plan(p, m, milp_options) for m in methods}
        for m, sol in statics[day].items():
            say(progress, f"  static plan day {day} {method_label(m)}: {sol.status} ${sol.objective:.3f}/h, "
                          f"{int(sol.allocation.replicas.sum()) if sol.allocation is not None else 0} replicas")
    return statics


def _rolling_row(env: Any, estimate: str, headroom: float, cache: dict, day: int, seed: int,
                 max_windows: int | None) -> dict[str, Any]:
    """Rolling AGH on one day, warm-started with its own plan for the last history window."""
    from ..policies import SolverPolicy

    pol = SolverPolicy(env, "agh", estimate=estimate, headroom=headroom, cache=cache)
    name = "AGH rolling" if estimate == "reactive" else f"AGH rolling ({estimate} {headroom:.0%})"
    obs, _ = env.reset(seed=seed, options={"day": int(day)})
    a0, _ = pol.predict(obs)
    act = lambda o, pol=pol: (pol.predict(o)[0], None)  # noqa: E731  (wall time, as before the runner was shared)
    started_empty = False
    try:
        log = run_episode(env, act, day, seed, start_replicas=a0, max_windows=max_windows)
    except ValueError:  # a first plan beyond the env's limits: start empty instead, and say so in the row
        started_empty = True
        log = run_episode(env, act, day, seed, max_windows=max_windows)
    return {"policy": name, "plan_usd_per_h": float("nan"), **episode_metrics(log), "started_empty": started_empty,
            "solver_errors": int(pol.stats.get("error", 0)),
            "fallbacks": int(pol.stats.get("fallback_keep_fleet", 0) + pol.stats.get("fallback_infeasible_plan", 0))}


def _static_row(env: Any, method: str, sol: Solution, day: int, seed: int, max_windows: int | None,
                progress: Progress) -> dict[str, Any]:
    """One static fleet held fixed (and warm) for the whole day."""
    name = f"{method_label(method)} static"
    if sol.allocation is None:  # no fleet to hold: the row says why, and the tables show no cost for it
        return {"policy": name, "plan_usd_per_h": float("nan"), "plan_status": sol.status,
                "plan_reason": sol.reason or f"{method_label(method)} returned no allocation"}
    base = env.unwrapped
    action = base.action_from_replicas(sol.allocation.replicas)
    if not np.array_equal(action, sol.allocation.replicas):
        say(progress, f"  warning: {name} plan clipped to the env's R_max={base.max_replicas}")
    log = run_episode(env, lambda o, a=action: (a, None), day, seed, start_replicas=action, max_windows=max_windows)
    return {"policy": name, "plan_usd_per_h": sol.evaluation.rental if sol.evaluation is not None else float("nan"),
            **episode_metrics(log)}


def _say_row(progress: Progress, row: dict[str, Any], tag: str, sigma: float, day: int) -> None:
    head = f"  cold starts {tag}, σ={sigma:g} day {day} {row['policy']}"
    if "cost_usd" in row:
        say(progress, f"{head}: ${row['cost_usd']:.2f}, SLO {row['slo_attainment_pct']:.2f}%")
    else:
        say(progress, f"{head}: not run, no plan ({row['plan_status']}: {row['plan_reason']})")


def rolling_summary(rows: Sequence[dict[str, Any]]) -> Table:
    """Per cold-start setting and σ: total cost over the days per policy, savings of rolling vs. each static
    plan, SLO attainment and unmet share."""
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    rolling = [p for p in policies if p.startswith("AGH rolling")]
    statics = [p for p in policies if p not in rolling]
    pairs = [(rp, sp) for rp in rolling for sp in statics]

    def saving_col(rp: str, sp: str) -> str:
        return f"saving vs {sp}" if rp == "AGH rolling" else f"{rp} saving vs {sp}"
    cols = ["cold starts", "sigma", "days"] + [f"{p} $" for p in policies] + [saving_col(rp, sp) for rp, sp in pairs] \
        + [f"{p} SLO %" for p in policies] + [f"{p} unmet %" for p in policies]
    t = Table(cols)
    for cold, sigma in dict.fromkeys((r.get("cold_starts", "on"), r["sigma"]) for r in rows):
        group = [r for r in rows if r["sigma"] == sigma and r.get("cold_starts", "on") == cold]
        sub = [r for r in group if "cost_usd" in r]
        unrun = {r["policy"] for r in group if "cost_usd" not in r}  # a static without a plan (its row says why)
        cost = {p: float("nan") if p in unrun else sum(r["cost_usd"] for r in sub if r["policy"] == p) for p in policies}
        ndays = len({r["day"] for r in sub})
        row: list[Any] = [cold, f"{sigma:g}", ndays] + [fmt(cost[p], ",.2f") for p in policies]
        row += [fmt(100 * (1 - cost[rp] / cost[sp]) if cost[sp] > 0 else float("nan"), "+.1f", "%") for rp, sp in pairs]
        row += [fmt(mean_finite(r["slo_attainment_pct"] for r in sub if r["policy"] == p), ".2f") for p in policies]
        row += [fmt(mean_finite(r["unmet_pct"] for r in sub if r["policy"] == p), ".3f") for p in policies]
        t.rows.append(row)
    return t


__all__ = ["day_peak_problem", "episode_metrics", "rolling_study", "rolling_summary", "scaled_demand_scenario"]
