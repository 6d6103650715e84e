"""Rounding of the LP relaxation's fleet (``baselines/relaxation.py``) and AGH's LP-relaxation starts.

:func:`branch_and_bound` (a small LP branch and bound over the relaxation's support, the RENS idea),
:func:`round_fleet` (greedy rounding within budget, inventory and storage: :func:`hetserve_env.fleet_cost.within_limits`),
:func:`lp_start` (AGH's "lp" and "lp-greedy" starts, routed by AGH's routing LP) and :func:`describe` (its
``[lp-start]`` line). The method is described in ``baselines/relaxation.py``'s docstring.
"""

from __future__ import annotations

import math
import time
from dataclasses import fields
from typing import Any, Sequence

import numpy as np

from hetserve_env import fleet_cost
from hetserve_env.problem import Problem

from .relaxation import FRAC_TOL, RelaxationModel, solve_relaxation
from .routing_lp import RoutingLP, state_from_lp

BB_EXTRA = 10  # templates outside the relaxation's support given to the branch and bound (closest to pricing in)
BB_NODES = 200  # LP solves of the branch and bound (a count: deterministic)


def round_fleet(problem: Problem, R: np.ndarray) -> np.ndarray:
    """An integral fleet from fractional replicas R within budget, inventory and storage: ⌊R⌋, then +1 on each
    template with a fractional part, cheapest rounding ((1 − frac)·cost) first, wherever budget, inventory and
    storage still allow.

    ⌊R⌋ fits whenever R does (it uses less of everything), so the result always fits; a template whose ceiling
    does not fit keeps its floor (AGH's routing LP and fleet moves then re-route or re-buy)."""
    p = problem
    R = np.maximum(np.asarray(R, dtype=float), 0.0)
    near = np.rint(R)
    R = np.where(np.abs(R - near) <= FRAC_TOL, near, R)
    out = np.floor(R).astype(np.int64)
    frac = R - out
    rental = float(p.cost @ out)
    used = np.bincount(p.template_gpu, weights=out * p.gpus, minlength=p.n_gpu_types).astype(float)
    stored = np.zeros(len(p.artifact_names), dtype=bool)
    stored[p.template_artifact[out > 0]] = True
    gb = float(p.artifact_gb[stored].sum())
    extra = (1.0 - frac) * p.cost
    for d in np.lexsort((np.arange(len(R)), extra)):
        if frac[d] <= 0:
            continue
        g, a = p.template_gpu[d], p.template_artifact[d]
        add_gb = 0.0 if stored[a] else float(p.artifact_gb[a])
        if not fleet_cost.within_limits(rental + p.cost[d], p.budget, used[g] + p.gpus[d], p.inventory[g], gb + add_gb,
                                        p.storage_gb):
            continue
        out[d] += 1
        rental += p.cost[d]
        used[g] += p.gpus[d]
        stored[a] = True
        gb += add_gb
    return out



def restrict(problem: Problem, templates: np.ndarray) -> Problem:
    """The same problem with only ``templates`` (indices, increasing); every other field unchanged."""
    T = np.asarray(templates, dtype=np.int64)
    data = {f.name: getattr(problem, f.name) for f in fields(problem)}
    data["template_labels"] = tuple(problem.template_labels[int(d)] for d in T)
    for f in ("template_gpu", "template_artifact", "gpus", "cost"):
        data[f] = data[f][T]
    for f in ("capacity", "latency", "error", "load_slope"):
        data[f] = data[f][:, T]
    data["meta"] = dict(problem.meta)
    return Problem(**data)



def branch_and_bound(problem: Problem, templates: np.ndarray, *, link: bool = True, max_nodes: int = 200,
                     upper: float = math.inf) -> tuple[np.ndarray | None, float, dict[str, Any]]:
    """Depth-first LP branch and bound on R over ``templates`` only (the problem restricted to them; the link
    inequalities on), at most ``max_nodes`` LP solves — a count, so the result is deterministic. Branches on
    the fractional R_d with the largest cost_d·min(frac, 1 − frac), nearer side first; prunes nodes whose bound
    is not below the incumbent (``upper`` to start). Returns (fleet over all templates or None, its $/h, stats)."""
    p = problem
    T = np.asarray(templates, dtype=np.int64)
    sp = restrict(p, T)
    model = RelaxationModel(sp, link=link, colgen=False)
    stored_add = sp.storage_cost * sp.artifact_gb
    best_cost, best_R = upper, None
    stack = [(np.zeros(len(T)), model.maxR.copy())]
    nodes = pruned = leaves = 0
    root = math.nan
    while stack and nodes < max_nodes:
        lo, hi = stack.pop()
        model.set_replica_bounds(lo, hi)
        rel = model.solve(price=False)
        nodes += 1
        if nodes == 1:
            root = rel.bound
        tol = 1e-6 * max(1.0, abs(best_cost)) if math.isfinite(best_cost) else 0.0
        if not rel.optimal or rel.bound >= best_cost - tol:
            pruned += 1
            continue
        R = rel.R
        near = np.rint(R)
        frac = np.where(np.abs(R - near) <= FRAC_TOL, 0.0, R - np.floor(R))
        if not (frac > 0).any():
            Rint = near.astype(np.int64)
            stored = np.zeros(len(sp.artifact_names), dtype=bool)
            stored[sp.template_artifact[Rint > 0]] = True
            cost = rel.bound + float(stored_add @ (stored - rel.z))  # storage is charged per stored artifact
            leaves += 1
            if fleet_cost.fits(sp, Rint) and cost < best_cost - tol:
                best_cost, best_R = cost, Rint
            continue
        d = int(np.argmax(np.where(frac > 0, sp.cost * np.minimum(frac, 1.0 - frac), -1.0)))
        down_hi = hi.copy()
        down_hi[d] = math.floor(R[d])
        up_lo = lo.copy()
        up_lo[d] = math.ceil(R[d])
        down, up = (lo, down_hi), (up_lo, hi)
        stack += [up, down] if frac[d] < 0.5 else [down, up]  # the nearer side is explored first
    out = None
    if best_R is not None:
        out = np.zeros(p.n_templates, dtype=np.int64)
        out[T] = best_R
    stats = {"bb_nodes": nodes, "bb_pruned": pruned, "bb_leaves": leaves, "bb_root": root,
             "bb_complete": not stack, "bb_templates": len(T)}
    return out, best_cost, stats



def lp_start(ctx: Any, *, link: bool = True, roundings: Sequence[str] = ("bb", "greedy")
             ) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
    """AGH's LP-relaxation starts: the relaxation (templates limited to AGH's pool ``ctx.pool``, so that M1/M3
    switched off also limit these starts), its fleet rounded, each rounded fleet routed by AGH's routing LP.

    Roundings: ``"bb"`` (start "lp"): :func:`branch_and_bound` over the relaxation's support plus the BB_EXTRA
    templates closest to pricing in (largest pricing gain: the least the relaxation would lose by one replica of
    them), BB_NODES LP solves at most (greedy rounding if it finds no fleet). ``"greedy"`` (start "lp-greedy"):
    :func:`round_fleet` (⌊R⌋, then ceilings where budget, inventory and storage allow, cheapest first); skipped
    when it gives the same fleet.

    Returns ([(start name, State)], info). A State holds the rounded fleet and the routing LP's routing; types
    the fleet cannot cover within ζ are marked failed (AGH's fleet search repairs such starts). ``info``:
    ``bound`` (the relaxation's optimum: a lower bound on the MILP optimum unless ``restricted``), ``rounded``
    ($/h of the routed "lp" fleet, nan if it cannot cover every type), ``rental``, ``replicas``, ``templates``,
    ``shortfall``, ``greedy`` ($/h of the "lp-greedy" fleet), ``runtime_s`` and the relaxation's and branch
    and bound's counts."""
    unknown = sorted(set(roundings) - {"bb", "greedy"})
    if unknown:
        raise ValueError(f"unknown rounding(s) {unknown}; choose from 'bb', 'greedy'")
    t0 = time.perf_counter()
    p = ctx.problem
    allowed = None if bool(np.all(ctx.pool)) else ctx.pool
    rel = solve_relaxation(p, allowed=allowed, link=link)
    info: dict[str, Any] = {"status": rel.status, "bound": rel.bound, "relaxation_s": rel.runtime_s,
                            "restricted": allowed is not None, "roundings": list(roundings),
                            **{k: rel.stats[k] for k in ("rounds", "lp_solves", "templates_in_model")
                               if k in rel.stats}}
    out: list[tuple[str, Any]] = []
    if not rel.optimal:
        info["runtime_s"] = time.perf_counter() - t0
        return out, info
    fleets: list[tuple[str, np.ndarray]] = []
    if "bb" in roundings:
        support = rel.R > FRAC_TOL
        gain = rel.stats.get("gain")
        cand = support.copy()
        if gain is not None:
            closeness = np.where(support | ~np.isfinite(gain), -np.inf, gain)
            near = np.argsort(-closeness, kind="stable")[:BB_EXTRA]
            cand[near[np.isfinite(closeness[near])]] = True
        R, _, bb = branch_and_bound(p, np.flatnonzero(cand), link=link, max_nodes=BB_NODES)
        info.update(bb)
        fleets.append(("lp", R if R is not None else round_fleet(p, rel.R)))
    if "greedy" in roundings:
        R = round_fleet(p, rel.R)
        if not any(np.array_equal(R, f) for _, f in fleets):
            fleets.append(("lp-greedy" if fleets else "lp", R))
    routing = RoutingLP(ctx)
    for name, R in fleets:
        res = routing.solve(R) if R.any() else None
        if res is None:
            continue
        st = state_from_lp(ctx, R, res)
        st.trim(ctx)
        short = np.flatnonzero(res["v"] > 1e-9)
        for i in short:
            st.failed[int(i)] = (f"the rounded LP fleet leaves {res['v'][i]:.3g} of its demand uncovered beyond "
                                 "max_unmet")
        cost = float("nan") if len(short) else st.objective(ctx)
        if name == "lp":
            info.update(rounded=cost, rental=float(ctx.cost @ st.R), replicas=int(st.R.sum()),
                        templates=int((st.R > 0).sum()), shortfall=float(res["shortfall"]))
        else:
            info["greedy"] = cost
        out.append((name, st))
    info["runtime_s"] = time.perf_counter() - t0
    return out, info



def describe(info: dict[str, Any]) -> str:
    """The ``[lp-start]`` explain line: the relaxation's bound and the rounded fleets' costs."""
    what = (f"LP relaxation ({info['status']}, {info.get('templates_in_model', 0)} templates priced in"
            + (", restricted to AGH's template pool" if info.get("restricted") else "") + ")")
    ms = f"({1000 * info.get('runtime_s', 0.0):.0f} ms)"
    if info["status"] != "optimal":
        return f"[lp-start] {what}: no start {ms}"
    text = f"[lp-start] {what}: bound ${info['bound']:.4f}/h"
    if "rounded" not in info:
        return text + f"; the rounded fleet could not be routed {ms}"
    how = "greedy rounding"
    if "bb_nodes" in info:
        how = (f"branch and bound over {info['bb_templates']} templates, {info['bb_nodes']} LP nodes"
               + ("" if info.get("bb_complete") else ", node limit reached"))
    cost = (f"${info['rounded']:.4f}/h" if math.isfinite(info["rounded"])
            else f"not covering every type (shortfall {info['shortfall']:.3g})")
    text += (f"; rounded fleet ({how}): {info['replicas']} replicas of {info['templates']} templates, rental "
             f"${info['rental']:.4f}/h, routed {cost}")
    if "greedy" in info:
        g = info["greedy"]
        text += "; greedy rounding (start 'lp-greedy'): " + (f"${g:.4f}/h" if math.isfinite(g) else "not covering every type")
    return f"{text} {ms}"
