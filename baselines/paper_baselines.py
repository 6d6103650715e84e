"""The baselines the paper's v2 compares against (reference/paper.md, "v2 additions"): LPR, DVR and HF.

Each is a registry solver (``baselines.solve(problem, "lpr" | "dvr" | "hf")``, and so an env policy
``lpr``/``lpr-headroom``/``lpr-oracle``, …) that returns a :class:`~baselines.solution.Solution` priced by
:func:`hetserve_env.allocation.evaluate` (through :func:`baselines.solution.finish`), like GH, AGH and the MILP.
What the paper says of them is a one-line summary; the choices below are ours and documented in
``docs/solvers.md`` §9.

* **LPR** — LP relaxation, then greedy rounding: the MILP's relaxation (``baselines/relaxation.py``; by default
  *without* the link inequalities R_d ≥ x_id, the plain textbook relaxation; ``link=True`` adds them), its
  fractional fleet rounded greedily (:func:`lpr_round`: ⌊R⌋, then +1 on each fractional template, largest
  fractional part first, where budget, inventory and storage allow), replicas added while a type is left
  uncovered (:func:`cover_greedily`: most uncovered demand per $), then the optimal routing of that fleet
  (AGH's routing LP). No local search, no trimming of idle replicas.
* **DVR** — decoupled: GPUs first, then routing. Stage 1 sizes a fleet without a routing model: types in
  descending load, each sent whole to the template with the lowest rental per req/s of capacity (``cost_d /
  μ_id``) among those that meet its delay SLO and, on their own, its error SLO; the replicas a template needs
  are the ceiling of its pooled load, kept only if budget, inventory and storage still hold (else the next
  template). Stage 2 routes the demand optimally on that fixed fleet (routing LP). Delay penalties, storage
  cost and sharing across templates play no part in stage 1 — that is the point of the baseline.
* **HF** — homogeneous fleet: the problem restricted to one GPU type's templates, solved by ``inner``
  (AGH by default; ``gh`` or ``milp``), for every GPU type; the cheapest feasible plan is returned
  (``stats["per_gpu"]`` holds every type's $/h or why it has none).
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np

from hetserve_env import fleet_cost
from hetserve_env.allocation import Allocation
from hetserve_env.problem import Problem

from .gh_state import Context
from .relaxation import solve_relaxation
from .relaxation_rounding import restrict
from .routing_lp import RoutingLP
from .solution import Solution, clean_allocation, finish, infeasibility_reason

ROUTE_TOL = 1e-9  # routing LP's uncovered share above which a fleet cannot serve a type within its max_unmet


def route_fleet(problem: Problem, method: str, R: np.ndarray, t0: float, log: list[str],
                stats: dict[str, Any]) -> Solution:
    """The Solution of fleet ``R`` with its optimal routing (AGH's routing LP), priced by ``evaluate``; types the
    fleet cannot serve within their ``max_unmet`` make it infeasible, named in ``reason``."""
    R = np.asarray(R, dtype=np.int64)
    stats = {**stats, "replicas": int(R.sum()), "templates": int((R > 0).sum())}
    if not R.any():
        why = infeasibility_reason(problem) or "the fleet is empty"
        return finish(problem, method, None, runtime_s=time.perf_counter() - t0, log=log, stats=stats, reason=why)
    res = RoutingLP(Context(problem)).solve(R)
    alloc = clean_allocation(problem, R, res["x"], res["u"])
    short = np.flatnonzero(res["v"] > ROUTE_TOL)
    reason = None
    if len(short):
        names = ", ".join(f"{problem.type_names[i]} ({res['v'][i]:.3g} of its demand)" for i in short)
        reason = f"{method.upper()}'s fleet cannot serve every type within max_unmet: uncovered {names}"
        alloc = Allocation(R, res["x"], np.minimum(res["u"] + res["v"], 1.0))
    return finish(problem, method, alloc, runtime_s=time.perf_counter() - t0, log=log, stats=stats, reason=reason)


def lpr_round(problem: Problem, R_frac: np.ndarray) -> np.ndarray:
    """LPR's greedy rounding: ⌊R⌋ (always within the limits when R is), then +1 on each fractional template in
    descending fractional part (what the relaxation wants most first) wherever budget, inventory and storage
    still allow."""
    p = problem
    R_frac = np.maximum(np.asarray(R_frac, dtype=float), 0.0)
    near = np.rint(R_frac)
    R_frac = np.where(np.abs(R_frac - near) <= 1e-6, near, R_frac)
    R = np.floor(R_frac).astype(np.int64)
    frac = R_frac - R
    for d in np.lexsort((np.arange(len(R)), -frac)):
        if frac[d] <= 0:
            break
        R[d] += 1
        if not fleet_cost.fits(p, R):
            R[d] -= 1
    return R


def cover_greedily(problem: Problem, R: np.ndarray, max_adds: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Add replicas while the routing LP leaves a type uncovered beyond its max_unmet: one replica of the
    template with the most uncovered demand of that type per $ of rental (within its error SLO on its own) that
    fits budget, inventory and storage; stops when every type is covered or nothing fits."""
    p = problem
    R = np.asarray(R, dtype=np.int64).copy()
    lp, log = RoutingLP(Context(p)), []
    ok = (p.capacity > 0) & (p.error <= p.error_slo[:, None])
    for _ in range(max_adds if max_adds is not None else 4 * p.n_templates):
        v = lp.solve(R)["v"] if R.any() else np.where(p.rate > 0, 1.0 - p.max_unmet, 0.0)
        if (v <= ROUTE_TOL).all():
            break
        i = int(np.argmax(p.rate * v))
        gain = np.where(ok[i], np.minimum(p.rate[i] * v[i], p.capacity[i]) / p.cost, -np.inf)
        for d in np.argsort(-gain, kind="stable"):
            if not math.isfinite(gain[d]):
                return R, log + [f"{p.type_names[i]}: no template within its SLOs fits the limits"]
            R[d] += 1
            if fleet_cost.fits(p, R):
                log.append(f"{p.type_names[i]} uncovered: +1 {p.template_labels[d]}")
                break
            R[d] -= 1
    return R, log


def solve_lpr(problem: Problem, *, link: bool = False, time_limit: float | None = None) -> Solution:
    """LP relaxation + greedy rounding (:func:`lpr_round`, then :func:`cover_greedily`) + optimal routing of the
    rounded fleet (module docstring)."""
    t0 = time.perf_counter()
    rel = solve_relaxation(problem, link=bool(link), time_limit=time_limit)
    stats: dict[str, Any] = {"relaxation_status": rel.status, "relaxation_bound": rel.bound,
                             "relaxation_s": rel.runtime_s, "link": bool(link)}
    if not rel.optimal:
        why = ("the LP relaxation is infeasible, so is the problem" if rel.status == "infeasible"
               else f"the LP relaxation ended with status {rel.status!r}")
        return finish(problem, "lpr", None, runtime_s=time.perf_counter() - t0, log=[why], stats=stats, reason=why)
    R0 = lpr_round(problem, rel.R)
    R, added = cover_greedily(problem, R0)
    stats["repair_adds"] = int(R.sum() - R0.sum())
    log = [f"LP relaxation ${rel.bound:.4f}/h, {float(rel.R.sum()):.2f} fractional replicas -> {int(R0.sum())} after "
           f"rounding, {int(R.sum())} after the greedy cover", *added]
    return route_fleet(problem, "lpr", R, t0, log, stats)


def dvr_fleet(problem: Problem) -> tuple[np.ndarray, list[str]]:
    """DVR's stage 1: the fleet (D,) sized per type on its cheapest $/capacity template, and a log."""
    p = problem
    mu = p.capacity
    ok = (mu > 0) & (p.error <= p.error_slo[:, None])
    price = np.divide(p.cost[None, :], mu, out=np.full(mu.shape, np.inf), where=ok)
    need = np.zeros(p.n_templates)
    R = np.zeros(p.n_templates, dtype=np.int64)
    log = []
    for i in np.argsort(-p.rate, kind="stable"):
        if p.rate[i] <= 0:
            continue
        placed = False
        for d in np.argsort(price[i], kind="stable"):
            if not math.isfinite(price[i, d]):
                break
            trial = R.copy()
            trial[d] = math.ceil(need[d] + p.rate[i] / mu[i, d] - 1e-9)
            if fleet_cost.fits(p, trial):
                need[d] += p.rate[i] / mu[i, d]
                R = trial
                log.append(f"{p.type_names[i]}: {p.template_labels[d]} (${price[i, d]:.4g}/h per req/s) -> {R[d]}")
                placed = True
                break
        if not placed:
            log.append(f"{p.type_names[i]}: no template within its SLOs fits budget, inventory and storage")
    return R, log


def solve_dvr(problem: Problem) -> Solution:
    """Decoupled: provision GPUs first (:func:`dvr_fleet`), then route optimally on them (module docstring)."""
    t0 = time.perf_counter()
    R, log = dvr_fleet(problem)
    return route_fleet(problem, "dvr", R, t0, log, {})


def _inner(name: str) -> Callable[..., Solution]:
    """HF's inner solver (imported here, not through the registry, which imports this module)."""
    if name == "gh":
        from .gh import solve_gh

        return solve_gh
    if name == "agh":
        from .agh import solve_agh

        return solve_agh
    if name == "milp":
        from .milp import solve_milp

        return solve_milp
    raise ValueError(f"hf: inner must be one of ['gh', 'agh', 'milp'], got {name!r}")


def solve_hf(problem: Problem, *, inner: str = "agh", inner_options: dict[str, Any] | None = None) -> Solution:
    """Best homogeneous fleet: ``inner`` on each GPU type's templates alone; the cheapest feasible plan."""
    t0 = time.perf_counter()
    fn = _inner(str(inner))
    p = problem
    best: Allocation | None = None
    best_obj, best_gpu = math.inf, None
    per_gpu: dict[str, Any] = {}
    for g, gname in enumerate(p.gpu_names):
        T = np.flatnonzero(p.template_gpu == g)
        if len(T) == 0:
            per_gpu[gname] = "no template"
            continue
        sol = fn(restrict(p, T), **dict(inner_options or {}))
        if not sol.feasible:
            per_gpu[gname] = f"{sol.status}: {sol.reason}"
            continue
        a = sol.allocation
        R = np.zeros(p.n_templates, dtype=np.int64)
        x = np.zeros((p.n_types, p.n_templates))
        R[T], x[:, T] = a.replicas, a.routing
        per_gpu[gname] = float(sol.objective)
        if sol.objective < best_obj:
            best, best_obj, best_gpu = Allocation(R, x, a.unmet.copy()), float(sol.objective), gname
    stats = {"inner": inner, "per_gpu": per_gpu, "gpu": best_gpu}
    log = [f"{g}: " + (f"${v:.4f}/h" if isinstance(v, float) else str(v)) for g, v in per_gpu.items()]
    reason = None if best is not None else "no single GPU type can serve the demand: " + "; ".join(log)
    return finish(p, "hf", best, runtime_s=time.perf_counter() - t0, log=log, stats=stats, reason=reason)


__all__ = ["cover_greedily", "dvr_fleet", "lpr_round", "route_fleet", "solve_dvr", "solve_hf", "solve_lpr"]
