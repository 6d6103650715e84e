"""The experiments of the paper reproduction (``scripts/reproduce_paper.py``), as importable functions.

Each function returns plain rows (lists of dicts, one per run) and a summary :class:`Table`; the script writes
them to CSV/Markdown and draws the figures. Every cost, feasibility flag and violation comes from
:func:`hetserve_env.allocation.evaluate` (static plans) or from the environment's ``info`` (which prices every
window with the same ``evaluate``); nothing here re-derives them.

* :func:`stress_test` — out-of-sample stress: plans made at nominal parameters, evaluated on
  ``problem.scaled(latency=f, error=f)``, with the plan's routing kept or re-routed by the exact LP router.
* :func:`ablation` — GH and AGH with one of the mechanisms M1/M2/M3 switched off.
* :func:`rolling_study` — re-planning every window (reactive AGH) vs. one static plan for the day, in the
  environment, under demand noise σ.
* :func:`sensitivity` — cost and unmet demand against the budget, the delay SLOs and the error SLOs.

SLO metrics of a static plan (:func:`slo_metrics`), all shares of the requests (demand-weighted over types):
``unmet`` (routed nowhere), ``late`` (served after the delay SLO at load-dependent latency: ``served_share −
on_time_share``), ``error_excess`` (erroneous requests beyond what the error SLO allows: the amounts of
``evaluate``'s ``error_slo[type]`` violations) and ``slo_miss`` = their sum.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from hetserve_env.allocation import Allocation, Evaluation, evaluate
from hetserve_env.problem import Problem

from . import solve
from .solution import Solution

#: Method keys of the experiments -> (baselines.solve method, options). ``agh`` is the project's default AGH
#: (with the LP-relaxation starts, docs/solvers.md §4.1); ``agh-paper`` is AGH with ``lp_start=False``: GH +
#: multi-start + relocate local search + consolidation, the paper's heuristic.
SPECS: dict[str, tuple[str, dict[str, Any]]] = {
    "gh": ("gh", {}), "agh": ("agh", {}), "agh-paper": ("agh", {"lp_start": False}), "milp": ("milp", {}),
}
LABEL = {"gh": "GH", "agh": "AGH", "agh-paper": "AGH (paper)", "milp": "MILP"}

#: MILP options used by the experiments (the scaling study passes its own): HiGHS, one thread.
MILP_OPTIONS: dict[str, Any] = {"solver": "highs", "time_limit": 120.0, "threads": 1}

Progress = Callable[[str], None] | None


# ------------------------------------------------------------------------------------------------- tables
@dataclass
class Table:
    """A summary table: ``columns`` and ``rows`` (lists of cells, already formatted or numbers)."""

    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in self.rows]
        return "\n".join(lines) + "\n"

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self.rows]


def _cell(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "—"
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def fmt(v: float, spec: str = ".2f", suffix: str = "") -> str:
    """Format a number (``—`` for nan/None)."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:{spec}}{suffix}"


def _mean(values: Iterable[float]) -> float:
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    return float(np.mean(v)) if v else float("nan")


def _say(progress: Progress, msg: str) -> None:
    if progress is not None:
        progress(msg)


# --------------------------------------------------------------------------------------------- planning
def plan(problem: Problem, method: str, milp_options: Mapping[str, Any] | None = None, **options: Any) -> Solution:
    """``baselines.solve`` for a method key of :data:`SPECS` (``gh``, ``agh``, ``agh-paper``, ``milp``) with the
    experiments' MILP options (the MILP is warm-started from AGH as by default).

    A solver exception does not stop a long run: it is returned as a Solution with status ``"error"`` and the
    exception in ``reason`` (and so shows in the tables)."""
    name, base = SPECS[method] if method in SPECS else (method, {})
    options = {**base, **options}
    if name == "milp":
        options = {**MILP_OPTIONS, **dict(milp_options or {}), **options}
    return _solve_safe(problem, name, **options)


def _solve_safe(problem: Problem, method: str, **options: Any) -> Solution:
    try:
        return solve(problem, method, **options)
    except Exception as exc:  # noqa: BLE001 - reported in the row, never hidden
        return Solution(method=method, status="error", reason=f"{type(exc).__name__}: {exc}")


def slo_metrics(problem: Problem, allocation: Allocation, ev: Evaluation) -> dict[str, Any]:
    """Demand-weighted SLO metrics (%) of ``allocation`` on ``problem`` from ``evaluate``'s result ``ev``."""
    lam = np.asarray(problem.rate, dtype=float)
    w = lam / lam.sum() if lam.sum() > 0 else np.full(problem.n_types, 1.0 / problem.n_types)
    excess = np.zeros(problem.n_types)
    idx = {n: k for k, n in enumerate(problem.type_names)}
    for v in ev.violation("error_slo"):
        excess[idx[v.index]] = v.amount
    unmet = float(w @ allocation.unmet)
    late = float(w @ np.maximum(ev.served_share - ev.on_time_share, 0.0))
    err = float(w @ excess)
    return {"unmet_pct": 100 * unmet, "late_pct": 100 * late, "error_excess_pct": 100 * err,
            "slo_miss_pct": 100 * min(unmet + late + err, 1.0),
            "error_slo_types": int((excess > 0).sum()), "n_violations": len(ev.violations),
            "violations": ";".join(sorted({v.constraint for v in ev.violations}))}


# ----------------------------------------------------------------------------------------------- stress
INFLATE = {"both": (1, 1), "latency": (1, 0), "error": (0, 1)}
ROUTINGS = ("planned", "rerouted")


def stress_test(instances: Sequence[tuple[str, Problem]], methods: Sequence[str] = ("gh", "agh-paper", "agh", "milp"),
                factors: Sequence[float] = (1.0, 1.2, 1.5), inflate: Sequence[str] = ("both", "latency", "error"),
                routings: Sequence[str] = ROUTINGS, milp_options: Mapping[str, Any] | None = None,
                robust: Sequence[float] = (), progress: Progress = None) -> list[dict[str, Any]]:
    """Plan each instance with each method at nominal parameters; evaluate the fleet on inflated parameters.

    ``robust``: for each factor r also an AGH plan made *on the inflated problem* ``scaled(r, r)`` (labelled
    ``AGH robust r x``): explicit headroom against latency and error inflation, for comparison (such a plan
    is feasible at nominal parameters too: capacities only grow and errors only shrink).

    ``inflate``: ``"both"`` (latency and error × f, the paper's test), ``"latency"`` or ``"error"`` alone.
    ``routings``: ``"planned"`` keeps the plan's routing shares (the paper's static plan); ``"rerouted"``
    keeps the fleet and re-routes the demand with the exact LP router on the inflated problem (what an
    operator's load balancer would do). Evaluation uses load-dependent latency (``latency="load"``), so
    overloaded replicas and pairs pushed past their delay SLO show as late requests.
    """
    from hetserve_env.routing import route

    rows: list[dict[str, Any]] = []
    for name, p in instances:
        specs = [(m, LABEL[m], p) for m in methods] + [("agh", f"AGH robust {r:g}x", p.scaled(latency=r, error=r)) for r in robust]
        for m, label, planned_on in specs:
            sol = plan(planned_on, m, milp_options)
            if sol.feasible and planned_on is not p:
                sol.objective = evaluate(p, sol.allocation).objective  # its nominal $/h
            base = {"instance": name, "types": p.n_types, "templates": p.n_templates, "method": label,
                    "plan_status": sol.status, "plan_cost": sol.objective, "plan_runtime_s": sol.runtime_s,
                    "plan_replicas": int(sol.allocation.replicas.sum()) if sol.allocation is not None else -1}
            _say(progress, f"  stress {name} {label}: {sol.status} ${sol.objective:.3f}/h ({sol.runtime_s:.2f} s)")
            if not sol.feasible:
                rows.append({**base, "inflate": "", "factor": float("nan"), "routing": "", "feasible": False})
                continue
            R = sol.allocation.replicas
            for mode in inflate:
                kl, ke = INFLATE[mode]
                for f in factors:
                    if f == 1.0 and mode != inflate[0]:
                        continue  # nominal: one row per routing, under the first mode
                    q = p.scaled(latency=f if kl else 1.0, error=f if ke else 1.0)
                    for r in routings:
                        if r == "planned":
                            alloc = sol.allocation
                        elif r == "rerouted":
                            alloc = route(q, available=R.astype(float), method="lp", replicas=R)
                        else:
                            raise ValueError(f"unknown routing {r!r}; choose from {list(ROUTINGS)}")
                        ev = evaluate(q, alloc, latency="load")
                        rows.append({**base, "inflate": mode if f != 1.0 else "none", "factor": f, "routing": r,
                                     "feasible": ev.feasible, "realised_cost": ev.objective, "rental": ev.rental,
                                     "penalties": ev.unmet_penalty + ev.delay_penalty + ev.error_penalty,
                                     **slo_metrics(q, alloc, ev)})
    return rows


def stress_summary(rows: Sequence[dict[str, Any]], factors: Sequence[float] = (1.0, 1.2, 1.5),
                   paper_instance: str = "paper") -> Table:
    """Per instance group (the paper scenario; the mean over generated instances), method, routing and factor
    (latency and error inflated together): realised $/h, change vs. nominal, SLO miss shares."""
    t = Table(["instances", "method", "routing", "factor", "realised $/h", "vs nominal", "unmet %", "late %",
               "error excess %", "SLO miss %", "feasible"])
    groups = [(paper_instance, lambda n: n == paper_instance)]
    gen = sorted({r["instance"] for r in rows if r["instance"] != paper_instance})
    if gen:
        groups.append((f"generated (mean of {len(gen)})", lambda n: n != paper_instance))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    routings = list(dict.fromkeys(r["routing"] for r in rows if r["routing"]))
    for gname, sel in groups:
        for m in methods:
            for rt in routings:
                sub = [r for r in rows if sel(r["instance"]) and r["method"] == m and r["routing"] == rt]
                if not sub:
                    continue
                nominal = {r["instance"]: r["realised_cost"] for r in sub if r["factor"] == 1.0}
                for f in factors:
                    cell = [r for r in sub if r["factor"] == f and r["inflate"] in ("both", "none")]
                    if not cell:
                        continue
                    change = _mean(100 * (r["realised_cost"] / nominal[r["instance"]] - 1) for r in cell if r["instance"] in nominal)
                    t.rows.append([gname, m, rt, f"{f:g}x", fmt(_mean(r["realised_cost"] for r in cell), ".3f"),
                                   fmt(change, "+.1f", "%"),
                                   fmt(_mean(r["unmet_pct"] for r in cell), ".2f"), fmt(_mean(r["late_pct"] for r in cell), ".2f"),
                                   fmt(_mean(r["error_excess_pct"] for r in cell), ".2f"),
                                   fmt(_mean(r["slo_miss_pct"] for r in cell), ".2f"),
                                   f"{sum(bool(r['feasible']) for r in cell)}/{len(cell)}"])
    return t


def stress_by_mode(rows: Sequence[dict[str, Any]], factor: float = 1.5) -> Table:
    """SLO miss % (mean over all instances) at ``factor`` by what was inflated: latency only, error only, both."""
    t = Table(["method", "routing", "inflated", "factor", "realised $/h (mean)", "unmet %", "late %", "error excess %", "SLO miss %"])
    methods = list(dict.fromkeys(r["method"] for r in rows))
    routings = list(dict.fromkeys(r["routing"] for r in rows if r["routing"]))
    for m in methods:
        for rt in routings:
            for mode in ("latency", "error", "both"):
                cell = [r for r in rows if r["method"] == m and r["routing"] == rt and r["inflate"] == mode and r["factor"] == factor]
                if not cell:
                    continue
                t.rows.append([m, rt, mode, f"{factor:g}x", fmt(_mean(r["realised_cost"] for r in cell), ".3f"),
                               fmt(_mean(r["unmet_pct"] for r in cell)), fmt(_mean(r["late_pct"] for r in cell)),
                               fmt(_mean(r["error_excess_pct"] for r in cell)), fmt(_mean(r["slo_miss_pct"] for r in cell))])
    return t


# --------------------------------------------------------------------------------------------- ablation
ABLATION_VARIANTS: dict[str, dict[str, bool]] = {
    "full": {}, "no M1": {"m1": False}, "no M2": {"m2": False}, "no M3": {"m3": False},
}


def ablation(instances: Sequence[tuple[str, Problem]], methods: Sequence[str] = ("gh", "agh-paper"),
             variants: Mapping[str, Mapping[str, bool]] = ABLATION_VARIANTS, progress: Progress = None) -> list[dict[str, Any]]:
    """Each method with each variant (mechanisms switched off) on each instance: feasibility and cost vs. full.

    The default AGH arm is ``agh-paper`` (``lp_start=False`` in every variant, the full one included): the
    LP-relaxation starts are not one of the paper's mechanisms and would mask the ablation (docs/solvers.md §5).

    For an infeasible result the violations are those ``evaluate`` finds in the heuristic's best attempt
    (``stats["attempt_allocation"]``) and ``reason`` is the solver's explanation.
    """
    rows: list[dict[str, Any]] = []
    for name, p in instances:
        for m in methods:
            full_cost = float("nan")
            for vname, opts in variants.items():
                sol = plan(p, m, **opts)
                viol = ""
                if sol.evaluation is not None:
                    viol = ";".join(sorted({v.constraint for v in sol.evaluation.violations}))
                elif sol.stats.get("attempt_allocation") is not None:
                    ev = evaluate(p, sol.stats["attempt_allocation"])
                    viol = ";".join(sorted({v.constraint for v in ev.violations}))
                if vname == "full":
                    full_cost = sol.objective if sol.feasible else float("nan")
                vs = 100 * (sol.objective / full_cost - 1) if sol.feasible and math.isfinite(full_cost) else float("nan")
                rows.append({"instance": name, "types": p.n_types, "templates": p.n_templates, "method": LABEL[m],
                             "variant": vname, "status": sol.status, "feasible": sol.feasible, "objective": sol.objective,
                             "cost_vs_full_pct": vs, "runtime_s": sol.runtime_s, "violations": viol,
                             "reason": (sol.reason or "").split("\n")[0][:160]})
            _say(progress, f"  ablation {name} {LABEL[m]}: " + ", ".join(
                f"{r['variant']}={'ok' if r['feasible'] else 'INF'}" for r in rows[-len(variants):]))
    return rows


def ablation_summary(rows: Sequence[dict[str, Any]], paper_instance: str = "paper") -> Table:
    """Per method and variant: infeasible count, cost vs. full (mean, max over instances both solved), and
    costlier / same / cheaper counts; plus the paper scenario's own result."""
    t = Table(["method", "variant", "instances", "infeasible", "cost vs full (mean)", "cost vs full (max)",
               "costlier", "same", "cheaper", "paper scenario"])
    for m in dict.fromkeys(r["method"] for r in rows):
        for v in dict.fromkeys(r["variant"] for r in rows):
            sub = [r for r in rows if r["method"] == m and r["variant"] == v]
            if not sub:
                continue
            vs = [r["cost_vs_full_pct"] for r in sub if math.isfinite(r["cost_vs_full_pct"])]
            pap = [r for r in sub if r["instance"] == paper_instance]
            pcell = "—"
            if pap:
                r = pap[0]
                pcell = (f"${r['objective']:.2f}/h ({fmt(r['cost_vs_full_pct'], '+.1f', '%')})" if r["feasible"]
                         else f"infeasible ({r['violations'] or r['status']})")
            t.rows.append([m, v, len(sub), sum(not r["feasible"] for r in sub), fmt(_mean(vs), "+.1f", "%"),
                           fmt(max(vs) if vs else float("nan"), "+.1f", "%"), sum(x > 1e-6 for x in vs),
                           sum(abs(x) <= 1e-6 for x in vs), sum(x < -1e-6 for x in vs), pcell])
    return t


# ---------------------------------------------------------------------------------------------- rolling
COST_TERMS = ("rental", "cold_start", "storage", "unmet_penalty", "delay_penalty", "error_penalty", "clip_penalty")


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
    from hetserve_env.scenario import Scenario

    raw = dict(scenario.raw)
    qts = []
    for q in raw["query_types"]:
        rate = dict(q["demand"]["rate"])
        keys = [k for k in ("mean_rps", "rps", "scale") if k in rate]
        if not keys:
            raise ValueError(f"query type {q['name']!r}: its rate source has no mean_rps/rps/scale to scale")
        for k in keys:
            rate[k] = rate[k] * factor
        qts.append({**q, "demand": {**q["demand"], "rate": rate}})
    raw["query_types"] = qts
    raw["name"] = f"{raw.get('name', scenario.name)}-x{factor:g}"
    return Scenario(raw, scenario.source, catalog=scenario.catalog)


def run_episode(env: Any, act: Callable[[np.ndarray], np.ndarray], day: int, seed: int,
                start_replicas: np.ndarray | None = None, max_windows: int | None = None) -> dict[str, Any]:
    """Run one episode of ``env`` from ``day`` (noise seeded by ``seed``) with ``act(obs) -> action``.

    ``start_replicas``: a warm fleet at reset (already serving). ``max_windows``: stop after that many windows
    (the quick run). Returns money in $ (from ``info["cost"]``) and demand-weighted SLO attainment / unmet share.
    """
    options: dict[str, Any] = {"day": int(day)}
    if start_replicas is not None:
        options["replicas"] = np.asarray(start_replicas, dtype=np.int64)
    obs, _ = env.reset(seed=int(seed), options=options)
    money = dict.fromkeys(COST_TERMS, 0.0)
    demand = attained = unmet = 0.0
    steps = viol_windows = err_windows = clipped = 0
    times: list[float] = []
    while True:
        t0 = time.perf_counter()
        a = act(obs)
        times.append(time.perf_counter() - t0)
        obs, _, _, truncated, info = env.step(a)
        for k in COST_TERMS:
            money[k] += float(info["cost"][k])
        lam = float(np.sum(info["demand"]))
        demand += lam
        attained += lam * float(info["slo_attainment"]["overall"])
        unmet += float(info["unmet_rate"])
        viol_windows += bool(info["violations"])
        err_windows += any(v.startswith("error_slo") for v in info["violations"])
        clipped += bool(info["clipped"])
        steps += 1
        if truncated or (max_windows is not None and steps >= max_windows):
            break
    total = sum(money.values())
    return {"windows": steps, "cost_usd": total, **{f"{k}_usd": v for k, v in money.items()},
            "penalty_usd": money["unmet_penalty"] + money["delay_penalty"] + money["error_penalty"] + money["clip_penalty"],
            "slo_attainment_pct": 100 * attained / demand if demand > 0 else 100.0,
            "unmet_pct": 100 * unmet / demand if demand > 0 else 0.0,
            "violation_windows_pct": 100 * viol_windows / steps, "error_slo_windows": err_windows,
            "clipped_windows": clipped, "decision_s": float(np.mean(times))}


def rolling_study(sigmas: Sequence[float], days: Sequence[int] | None = None, *, env_id: str = "hetserve_env/HetServePaper-v0",
                  split: str = "test", router: str = "lp", seed: int = 0, max_windows: int | None = None,
                  static_methods: Sequence[str] = ("agh", "milp"), milp_options: Mapping[str, Any] | None = None,
                  demand_scale: float = 1.0, cold_starts: Sequence[bool] = (True,),
                  estimates: Sequence[str] = ("reactive",), headroom: float = 0.1,
                  progress: Progress = None) -> list[dict[str, Any]]:
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
    """
    import gymnasium as gym

    from .policies import SolverPolicy

    rows: list[dict[str, Any]] = []
    probe = gym.make(env_id, split=split)
    scenario0 = probe.unwrapped.scenario
    probe.close()
    if demand_scale != 1.0:
        scenario0 = scaled_demand_scenario(scenario0, demand_scale)
    days = list(probe.unwrapped.split_days if days is None else days)
    statics: dict[int, dict[str, Solution]] = {}
    for day in days:
        p = day_peak_problem(scenario0, day, max_windows)
        statics[day] = {m: plan(p, m, milp_options) for m in static_methods}
        for m, sol in statics[day].items():
            _say(progress, f"  static plan day {day} {LABEL[m]}: {sol.status} ${sol.objective:.3f}/h, "
                           f"{int(sol.allocation.replicas.sum()) if sol.allocation is not None else 0} replicas")
    cache: dict = {}
    for cold in cold_starts:
        sc = scenario0 if cold else _without_cold_starts(scenario0)
        env = gym.make(env_id, scenario=sc, split=split, noise=0.0, router=router)
        base = env.unwrapped
        tag = "on" if cold else "off"
        for sigma in sigmas:
            base.noise = float(sigma)
            for day in days:
                s = seed + int(day)
                common = {"demand_scale": demand_scale, "cold_starts": tag, "sigma": sigma, "day": day}
                for est in estimates:
                    # rolling AGH: warm start with its own plan for the last history window
                    pol = SolverPolicy(env, "agh", estimate=est, headroom=headroom, cache=cache)
                    name = "AGH rolling" if est == "reactive" else f"AGH rolling ({est} {headroom:.0%})"
                    obs, _ = env.reset(seed=s, options={"day": int(day)})
                    a0, _ = pol.predict(obs)
                    act = lambda o, pol=pol: pol.predict(o)[0]  # noqa: E731
                    try:
                        ep = run_episode(env, act, day, s, start_replicas=a0, max_windows=max_windows)
                    except ValueError:  # a first plan beyond the env's limits: start empty instead
                        ep = run_episode(env, act, day, s, max_windows=max_windows)
                    rows.append({**common, "policy": name, "plan_usd_per_h": float("nan"), **ep,
                                 "solver_errors": int(pol.stats.get("error", 0)),
                                 "fallbacks": int(pol.stats.get("fallback_keep_fleet", 0)
                                                  + pol.stats.get("fallback_infeasible_plan", 0))})
                    _say(progress, f"  cold starts {tag}, σ={sigma:g} day {day} {name}: ${ep['cost_usd']:.2f}, "
                                   f"SLO {ep['slo_attainment_pct']:.2f}%")
                for m, sol in statics[day].items():
                    name = f"{LABEL[m]} static"
                    if sol.allocation is None:
                        rows.append({**common, "policy": name, "plan_usd_per_h": float("nan")})
                        continue
                    action = base.action_from_replicas(sol.allocation.replicas)
                    if not np.array_equal(action, sol.allocation.replicas):
                        _say(progress, f"  warning: {name} plan clipped to the env's R_max={base.max_replicas}")
                    ep = run_episode(env, lambda o, a=action: a, day, s, start_replicas=action, max_windows=max_windows)
                    rows.append({**common, "policy": name, "plan_usd_per_h": sol.evaluation.rental
                                 if sol.evaluation is not None else float("nan"), **ep})
                    _say(progress, f"  cold starts {tag}, σ={sigma:g} day {day} {name}: ${ep['cost_usd']:.2f}, "
                                   f"SLO {ep['slo_attainment_pct']:.2f}%")
        env.close()
    return rows


def _without_cold_starts(scenario: Any) -> Any:
    """A copy of ``scenario`` whose new replicas serve at once (no boot time, ~instant weight loading)."""
    from hetserve_env.scenario import Scenario

    raw = dict(scenario.raw)
    raw["env"] = {**dict(raw.get("env") or {}), "cold_start": {"boot_s": 0.0, "load_gbps": 1e9}}
    return Scenario(raw, scenario.source, catalog=scenario.catalog)


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
        sub = [r for r in rows if r["sigma"] == sigma and r.get("cold_starts", "on") == cold and "cost_usd" in r]
        cost = {p: sum(r["cost_usd"] for r in sub if r["policy"] == p) for p in policies}
        ndays = len({r["day"] for r in sub})
        row: list[Any] = [cold, f"{sigma:g}", ndays] + [fmt(cost[p], ",.2f") for p in policies]
        row += [fmt(100 * (1 - cost[rp] / cost[sp]) if cost[sp] > 0 else float("nan"), "+.1f", "%") for rp, sp in pairs]
        row += [fmt(_mean(r["slo_attainment_pct"] for r in sub if r["policy"] == p), ".2f") for p in policies]
        row += [fmt(_mean(r["unmet_pct"] for r in sub if r["policy"] == p), ".3f") for p in policies]
        t.rows.append(row)
    return t


# ------------------------------------------------------------------------------------------ sensitivity
def _scenario_with(scenario: Any, delay_scale: float = 1.0, error_scale: float = 1.0) -> Any:
    """A copy of ``scenario`` with every type's delay SLO and error SLO scaled (templates re-built and re-pruned)."""
    from hetserve_env.scenario import Scenario

    raw = dict(scenario.raw)
    raw["query_types"] = [{**q, "delay_slo_s": q["delay_slo_s"] * delay_scale,
                           "error_slo": min(q["error_slo"] * error_scale, 1.0)} for q in raw["query_types"]]
    return Scenario(raw, scenario.source, catalog=scenario.catalog)


def sensitivity(scenario: Any, methods: Sequence[str] = ("gh", "agh-paper", "agh", "milp"),
                budget_scales: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0),
                delay_scales: Sequence[float] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0),
                error_scales: Sequence[float] = (0.8, 0.9, 1.0, 1.1, 1.25, 1.5),
                milp_options: Mapping[str, Any] | None = None, progress: Progress = None) -> list[dict[str, Any]]:
    """Re-plan the scenario's static problem while sweeping one parameter at a time.

    * ``budget``: ``scale × `` the nominal plan's rental (the MILP's, else AGH's) — the scenario's own budget
      (far above what the static problem needs) is reported as its own row (``value`` = the budget in $/h);
    * ``delay_slo``: every type's end-to-end delay SLO × scale (the scenario is re-compiled: capacities change);
    * ``error_slo``: every type's error SLO × scale.

    Rows hold the status, $/h, rental, demand-weighted unmet %, replicas and GPUs of each method's plan; for a
    setting without a feasible plan, the reason and the violations of the heuristic's best attempt.
    """
    p0 = scenario.problem()
    nominal = {m: plan(p0, m, milp_options) for m in methods}
    ref = next((nominal[m] for m in ("milp", "agh", "gh") if m in nominal and nominal[m].feasible), None)
    rental0 = ref.evaluation.rental if ref is not None else float(np.min(p0.cost))
    cases: list[tuple[str, float, float, Problem]] = []
    for s in budget_scales:
        cases.append(("budget", s, s * rental0, dataclasses.replace(p0, budget=s * rental0)))
    cases.append(("budget", p0.budget / rental0, p0.budget, p0))
    for s in delay_scales:
        cases.append(("delay_slo", s, s, _scenario_with(scenario, delay_scale=s).problem()))
    for s in error_scales:
        cases.append(("error_slo", s, s, _scenario_with(scenario, error_scale=s).problem()))
    rows: list[dict[str, Any]] = []
    for param, scale, value, p in cases:
        for m in methods:
            sol = nominal[m] if (param == "budget" and value == p0.budget) else plan(p, m, milp_options)
            viol = ""
            alloc = sol.allocation if sol.allocation is not None else sol.stats.get("attempt_allocation")
            if alloc is not None:
                ev = sol.evaluation if sol.evaluation is not None else evaluate(p, alloc)
                viol = ";".join(sorted({v.constraint for v in ev.violations}))
            lam = p.rate / p.rate.sum()
            rows.append({"parameter": param, "scale": scale, "value": value, "templates": p.n_templates,
                         "method": LABEL[m], "status": sol.status, "feasible": sol.feasible, "objective": sol.objective,
                         "rental": sol.evaluation.rental if sol.evaluation is not None else float("nan"),
                         "unmet_pct": 100 * float(lam @ sol.allocation.unmet) if sol.feasible else float("nan"),
                         "replicas": int(sol.allocation.replicas.sum()) if sol.feasible else -1,
                         "gpus": int(sol.evaluation.gpus_by_type.sum()) if sol.feasible else -1,
                         "runtime_s": sol.runtime_s, "violations": viol,
                         "reason": (sol.reason or "").split("\n")[0][:160]})
        _say(progress, f"  sensitivity {param}={value:.4g}: " + ", ".join(
            f"{r['method']} {r['status']} {fmt(r['objective'], '.3f')}" for r in rows[-len(methods):]))
    return rows


def sensitivity_summary(rows: Sequence[dict[str, Any]]) -> Table:
    """One row per (parameter, value): each method's $/h and unmet % (``infeasible`` where no plan exists)."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    t = Table(["parameter", "scale", "value"] + [f"{m} $/h" for m in methods] + [f"{m} unmet %" for m in methods]
              + [f"{m} GPUs" for m in methods] + ["AGH vs MILP" if {"AGH", "MILP"} <= set(methods) else "note"])
    keys = list(dict.fromkeys((r["parameter"], r["scale"], r["value"]) for r in rows))
    for param, scale, value in keys:
        sub = {r["method"]: r for r in rows if (r["parameter"], r["scale"], r["value"]) == (param, scale, value)}
        cells: list[Any] = [param, f"{scale:.3g}x", f"${value:.2f}/h" if param == "budget" else f"{value:g}x"]
        cells += [fmt(sub[m]["objective"], ".3f") if sub[m]["feasible"] else "infeasible" for m in methods]
        cells += [fmt(sub[m]["unmet_pct"], ".2f") if sub[m]["feasible"] else "—" for m in methods]
        cells += [str(sub[m]["gpus"]) if sub[m]["feasible"] else "—" for m in methods]
        if {"AGH", "MILP"} <= set(sub) and sub["AGH"]["feasible"] and sub["MILP"]["feasible"]:
            cells.append(fmt(100 * (sub["AGH"]["objective"] / sub["MILP"]["objective"] - 1), "+.1f", "%"))
        else:
            cells.append("—")
        t.rows.append(cells)
    return t


__all__ = ["ABLATION_VARIANTS", "INFLATE", "LABEL", "MILP_OPTIONS", "ROUTINGS", "SPECS", "Table", "ablation", "ablation_summary",
           "day_peak_problem", "fmt", "plan", "rolling_study", "scaled_demand_scenario", "rolling_summary", "run_episode", "sensitivity",
           "sensitivity_summary", "slo_metrics", "stress_by_mode", "stress_summary", "stress_test"]
