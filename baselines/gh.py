"""Greedy Heuristic (GH): a single constructive pass (docs/solvers.md §3).

Steps
1. **M1 parallelism-aware filtering.** For every (query type i, model, tier) keep the cheapest (TP, PP)
   configuration that fits memory (every template does), meets the delay SLO Δ_i and has capacity > 0 —
   "cheapest" = fewest GPUs, then lowest $/h, then highest capacity. With M1 off the filter is the naive one:
   per (model, tier) only the first-listed configuration (fewest GPUs, e.g. TP1 PP1) is a candidate, whether
   or not it meets Δ_i, so delay-tight types can lose every candidate.
2. **Coverage phase.** In the processing order, every type gets one feasible path: the cheapest candidate
   replica that meets its delay and error SLO and fits the budget and inventory left after the paths of the
   types before it. The path is *reserved* (its $/h and GPUs are held back from the other types' placements)
   until the main phase places the type; if a type cannot be covered otherwise it may use the reserved budget.
   Types without any path are logged as unservable (an M3 upgrade may still rescue them; else reported).
3. **Main phase.** Types in descending load (λ_i·(h_i + f_i)), each placed in steps until its demand is
   covered. Each step scores, vectorised over templates, every option:
   spare capacity on an active replica, a block of new replicas of a candidate (as many as the residual needs,
   within budget, inventory and storage), an M3 TP upgrade of an active deployment, and unmet demand (ζ_i).
   **M2** ranks them by added $/h per unit of *effective* coverage — the residual demand the option can
   absorb within its capacity, the type's error slack (Σ_d (ε_i − e_id)·x_id must stay ≥ 0), the budget and
   the inventory — plus the option's delay penalty per req/s. When the best option is a low-error one and
   blending it with a cheaper higher-error option meets the weighted-average error SLO at lower cost, the step
   only takes the low-error share of that blend (the next step then uses the slack it created). Without M2
   options are ranked by raw added $/h (one replica at a time; spare capacity first), unmet only when nothing
   else fits.
4. **M3 TP upgrade.** Besides new replicas of the M1 configuration, a step may raise the TP degree: replace an
   active deployment by its sibling with higher TP (same model, GPU, precision, PP) — which may meet a delay
   SLO the active one misses or carry more load per $ — or open the higher-TP sibling instead of the M1
   configuration. Without M3 neither is considered.
5. Unneeded replicas are trimmed (R_d = ⌈load_d⌉); ``evaluate`` confirms the result.

Everything per step is numpy over the templates of one type; Python loops only over types and steps.
Set ``explain=True`` to get one log line per decision (candidate chosen and its $/h per effective req/s,
filtered candidates and the constraint that filtered them, TP upgrades, unmet demand). Every line starts with
the mechanism that made the decision (:data:`LOG_TAGS`): ``[start]`` ordering, ``[M1]`` (``[filter]`` with M1
off) the per-type filter, ``[coverage]`` reserved paths, ``[M2]`` (``[step]`` with M2 off) each greedy step,
``[M3]`` TP upgrades and higher-TP siblings, ``[unmet]``, ``[failed]``, ``[trim]``, ``[result]``; AGH adds
``[lp-start]``, ``[local-search]``, ``[consolidation]`` and ``[stage2]``. The lines are built lazily, only with
``explain``; ``hetserve solve SCENARIO --explain`` also prints ``[templates]``/``[memory]`` lines (cli.py).
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np

from hetserve_env import fleet_cost
from hetserve_env.problem import Problem

from .gh_explain import blocked_text, log_filter, step_text
from .gh_options import StepOptions, option_scores, step_options, upgrade_pairs
from .gh_state import (EPS, Context, DecisionLog, GHOptions, State, budget_left, inv_left, kmax,  # noqa: F401
                       label)
from .solution import Solution, finish, type_reasons

#: mechanism tags that start the decision-log lines (``explain=True``), in the order they can fire
LOG_TAGS = ("[start]", "[M1]", "[filter]", "[coverage]", "[M2]", "[step]", "[M3]", "[unmet]", "[failed]", "[trim]",
            "[lp-start]", "[local-search]", "[consolidation]", "[stage2]", "[result]")


def coverage_phase(ctx: Context, st: State, order: Sequence[int], opt: GHOptions, log: DecisionLog) -> None:
    """Every type gets one feasible path — a replica of a candidate meeting its delay and error SLO that fits
    the budget and inventory left after the paths of the types before it — which is *reserved* (its $/h and
    GPUs are held back) until the main phase places the type. Types without a path are logged as unservable
    (the main phase may still rescue them through an M3 TP upgrade; otherwise they are reported)."""
    p = ctx.problem
    for i in order:
        i = int(i)
        if ctx.rate[i] <= 0 or p.max_unmet[i] >= 1.0:
            continue
        c = ctx.cidx[i]
        ok = ctx.error_excess[i, c] <= 0
        km = kmax(ctx, st, c)
        usable = ok & (km >= 1)
        if not usable.any():
            log(lambda: f"[coverage] coverage: type {p.type_names[i]!r}: no path within delay SLO {p.delay_slo[i]:g} s, "
                        f"error SLO {p.error_slo[i]:g}, budget and inventory among the {len(c)} candidates"
                        + blocked_text(ctx, st, c, i))
            continue
        cc = c[usable]
        key = ctx.cost[cc] + 1e-9 * ctx.unit[i, cc]
        d = int(cc[int(np.argmin(key))])
        st.reserve[i] = d
        st.reserved_cost += ctx.cost[d]
        st.reserved_gpus[ctx.template_gpu[d]] += ctx.gpus[d]
        log(lambda: f"[coverage] coverage: type {p.type_names[i]!r}: path reserved on {label(ctx, d)} "
                    f"(${ctx.cost[d]:.3f}/h, error {p.error[i, d]:.4g} <= {p.error_slo[i]:.4g}; cheapest of "
                    f"{int(usable.sum())} single-template paths within delay and error SLO, budget and inventory)")



def _release(ctx: Context, st: State, i: int) -> None:
    d = st.reserve.pop(i, None)
    if d is not None:
        st.reserved_cost -= ctx.cost[d]
        st.reserved_gpus[ctx.template_gpu[d]] -= ctx.gpus[d]



def place_type(ctx: Context, st: State, i: int, opt: GHOptions, log: DecisionLog, banned: np.ndarray | None = None) -> None:
    """Cover type i's residual demand in greedy steps (main phase); sets ``st.failed[i]`` if it cannot.

    ``banned`` (D bool) excludes templates from new replicas and upgrades (used by AGH's ruin-and-recreate).
    Each step weighs the options of :func:`baselines.gh_options.step_options` and applies the best."""
    lam = ctx.rate[i]
    name = ctx.problem.type_names[i]
    _release(ctx, st, i)
    if lam <= 0:
        _place_zero_rate(ctx, st, i)
        return
    c = ctx.cidx[i]
    if banned is not None:
        c = c[~banned[c]]
    up_src, up_dst = upgrade_pairs(ctx, i, opt, banned)
    tol = 1e-9 * max(lam, 1.0)
    max_steps = 4 * ctx.D + 16 if opt.m2 else 64 * ctx.D + 16
    put = _Putter(ctx, st, i, tol, "[M2]" if opt.m2 else "[step]", log)

    for _step in range(max_steps):
        r = st.residual(ctx, i)
        if r <= tol:
            break
        S = max(st.slack(ctx, i), 0.0)
        if _step == 0:
            st.ignore_reserve = False
        o = step_options(ctx, st, i, c, up_src, up_dst, S, r, opt.m2)
        valid = o.eff > tol
        if not valid[:-1].any() and st.reserve and not st.ignore_reserve:
            # nothing fits beside the other types' reserved paths: use them (they may find spare capacity later)
            st.ignore_reserve = True
            log(lambda: f"[coverage] type {name!r}: budget/inventory left only in other types' reserved paths; using it")
            continue
        if not valid.any():
            break
        score = option_scores(o, valid, opt.m2)
        k = int(np.argmin(score))
        ids = np.concatenate([o.active, c])
        if log.explain:
            log(lambda: step_text(ctx, st, i, _step, r, S, tol, opt, o.active, c, o.us, o.ud, o.nw_k, score, valid, o.sp_eff))
        if opt.m2:
            blend = _blend(ctx, st, i, r, S, float(score[k]), ids, len(o.active), np.concatenate([o.sp_cap, o.nw_cap]), log)
            if blend is not None:
                (da, a_amt), (db, b_amt), val = blend
                got = put(da, a_amt, f"low-error side of a blend, ${val:.4g}/h per req/s blended")
                if b_amt > 0 and got > 0:  # the high-error side only within the slack the low-error side made
                    put(db, b_amt * got / a_amt, "high-error side of the blend, within the error slack")
                if got > 0:
                    continue
        _apply_option(ctx, st, i, o, ids, k, float(score[k]), put, opt, log)
    st.ignore_reserve = False
    _leave_unmet_or_fail(ctx, st, i, tol, log)


class _Putter:
    """``put(d, amount, why)``: route up to ``amount`` req/s of type i to template d, opening the replicas it
    needs; returns the amount routed.

    The amount is capped by what budget, inventory and storage still allow on d (a blend's two sides may share
    a GPU type, so the second side is re-checked after the first has opened its replicas)."""

    def __init__(self, ctx: Context, st: State, i: int, tol: float, step_tag: str, log: DecisionLog) -> None:
        self.ctx, self.st, self.i, self.tol, self.step_tag, self.log = ctx, st, i, tol, step_tag, log

    def __call__(self, d: int, amount: float, why: str) -> float:
        ctx, st, i, step_tag, name = self.ctx, self.st, self.i, self.step_tag, self.ctx.problem.type_names[self.i]
        room = (st.R[d] + float(kmax(ctx, st, np.array([d]))[0]) - st.load[d]) * ctx.capacity[i][d]
        amount = min(amount, max(room, 0.0))
        if amount <= self.tol:
            return 0.0
        kk = max(int(math.ceil(st.load[d] + amount * ctx.inv_capacity[i][d] - st.R[d] - EPS)), 0)
        st.add_replicas(ctx, d, kk)
        st.route(ctx, i, d, amount)
        if kk:
            tag = "" if ctx.m1_cand[i, d] else " [M3: higher-TP sibling of the M1 choice]"
            self.log(lambda: f"{'[M3]' if tag else step_tag} type {name!r}: open {kk} x {label(ctx, d)} for {amount:.4g} "
                             f"req/s (${kk * ctx.cost[d]:.3f}/h, {why}){tag}")
        else:
            self.log(lambda: f"{step_tag} type {name!r}: {amount:.4g} req/s on spare capacity of {label(ctx, d)} ({why})")
        return amount


def _apply_option(ctx: Context, st: State, i: int, o: StepOptions, ids: np.ndarray, k: int, score: float,
                  put: _Putter, opt: GHOptions, log: DecisionLog) -> None:
    """Apply option ``k`` of the step (spare or new replicas, an M3 upgrade, or unmet demand)."""
    name, lam, amount = ctx.problem.type_names[i], ctx.rate[i], float(o.eff[k])
    n1, n2, n3 = len(o.active), len(ids) - len(o.active), len(o.ud)
    if k < n1 + n2:
        d = int(ids[k])
        put(d, amount, f"${score:.4g}/h per effective req/s" if opt.m2 else "cheapest option")
    elif k < n1 + n2 + n3:
        j = k - n1 - n2
        s, d = int(o.us[j]), int(o.ud[j])
        _upgrade(ctx, st, s, d, int(o.up_tot[j]))
        st.route(ctx, i, d, amount)
        log(lambda: f"[M3] type {name!r}: M3 TP upgrade {label(ctx, s)} -> {label(ctx, d)} x {int(o.up_tot[j])}, "
                    f"takes {amount:.4g} req/s (${o.up_add[j]:+.3f}/h, ${score:.4g}/h per effective req/s)")
    else:
        st.u[i] += amount / lam
        log(lambda: f"{put.step_tag} type {name!r}: leave {amount:.4g} req/s unmet (${ctx.unmet_unit[i]:.4g}/h per "
                    f"req/s, share {st.u[i]:.4g} <= {ctx.problem.max_unmet[i]:.4g})")


def _leave_unmet_or_fail(ctx: Context, st: State, i: int, tol: float, log: DecisionLog) -> None:
    """After the steps: what is left goes unmet within ζ (unavoidable), or the type fails with a reason."""
    name, lam = ctx.problem.type_names[i], ctx.rate[i]
    r = st.residual(ctx, i)
    if r > tol:
        take = min(r, max(ctx.unmet_cap[i] - lam * st.u[i], 0.0))
        if take > 0:
            st.u[i] += take / lam
            r -= take
            log(lambda: f"[unmet] type {name!r}: {take:.4g} req/s unmet (no capacity left to place it)")
        if r > tol:
            st.failed[i] = _failure_reason(ctx, st, i, r)
            log(lambda: f"[failed] type {name!r}: FAILED: {st.failed[i]}")


def _place_zero_rate(ctx: Context, st: State, i: int) -> None:
    """λ_i = 0: route the (empty) share to the lowest-error servable template; no replica needed."""
    p = ctx.problem
    ok = np.flatnonzero(ctx.servable[i] & (ctx.error_excess[i] <= 0))
    if len(ok):
        st.x[i, ok[np.argmin(p.error[i, ok])]] = 1.0 - st.u[i]
    elif p.max_unmet[i] >= 1.0:
        st.u[i] = 1.0
    else:
        st.failed[i] = type_reasons(p).get(i, f"type {p.type_names[i]!r}: no servable template")



def _blend(ctx: Context, st: State, i: int, r: float, S: float, best: float, ids: np.ndarray, n1: int,
           caps: np.ndarray, log: DecisionLog) -> tuple[tuple[int, float], tuple[int, float], float] | None:
    """A (low-error, high-error) pair of options whose blend meets the error SLO for less than the best single
    option (``best`` $/h per req/s), or None.

    ``ids`` are the templates of the spare options (first ``n1``) and of the new-block options, ``caps`` what
    each can absorb. For a low-error option a (error excess w_a ≤ 0) and a partner b (w_b > 0), with slack S
    and residual r, b takes b_amt = min(cap_b, r, (S − w_a·r)/(w_b − w_a)) and a the rest. Every a is paired
    with every spare partner and the 16 new-replica partners of lowest asymptotic $/h per req/s; both sides are priced with the replicas they
    actually open (ceil), storage and delay penalty — one numpy evaluation over the pairs.
    """
    w_i = ctx.error_excess[i]
    wv = w_i[ids]
    is_new_all = np.arange(len(ids)) >= n1
    price = np.where(is_new_all, ctx.unit[i, ids], ctx.delay_unit[i, ids])
    hb = np.flatnonzero((wv > 0) & (caps > 1e-12) & (price < best))
    la = np.flatnonzero((wv <= 0) & (caps > 1e-12))
    if len(hb) == 0 or len(la) == 0:
        return None
    hb_new = hb[hb >= n1]
    hb = np.concatenate([hb[hb < n1], hb_new[np.argsort(price[hb_new], kind="stable")[:16]]])
    wa, wb = wv[la][:, None], wv[hb][None, :]
    b_amt = np.clip(np.minimum(np.minimum(caps[hb][None, :], r), (S - wa * r) / (wb - wa)), 0.0, r)
    a_amt = r - b_amt

    def side_cost(sel: np.ndarray, amt: np.ndarray, rows: bool) -> np.ndarray:
        d2 = ids[sel].reshape((-1, 1) if rows else (1, -1))
        k = np.maximum(np.ceil(st.load[d2] + amt * ctx.inv_capacity[i, d2] - st.R[d2] - EPS), 0.0)
        return k * ctx.cost[d2] + ctx.storage_add[ctx.template_artifact[d2]] * ((st.art_R[ctx.template_artifact[d2]] == 0) & (k > 0)) + amt * ctx.delay_unit[i, d2]

    a_cost = side_cost(la, a_amt, True)
    b_cost = side_cost(hb, b_amt, False)
    same = ids[la][:, None] == ids[hb][None, :]
    ok = (a_amt > 1e-12) & (a_amt <= caps[la][:, None] * (1 + 1e-12)) & ~same
    total = np.where(ok, (a_cost + b_cost) / r, np.inf)
    j = int(np.argmin(total))
    ja, jb = divmod(j, len(hb))
    if not total[ja, jb] < best * (1 - 1e-9):
        return None
    da, db = int(ids[la[ja]]), int(ids[hb[jb]])
    val = float(total[ja, jb])
    log(lambda: f"[M2] type {ctx.problem.type_names[i]!r}: blend {label(ctx, da)} (error {ctx.problem.error[i, da]:.4g}) with "
                f"{label(ctx, db)} (error {ctx.problem.error[i, db]:.4g}): ${val:.4g}/h per req/s vs ${best:.4g} "
                f"for the best single option")
    return (da, float(a_amt[ja, jb])), (db, float(b_amt[ja, jb])), val



def _upgrade(ctx: Context, st: State, s: int, d: int, total: int) -> None:
    """Replace all replicas of ``s`` by ``total`` replicas of its TP sibling ``d``; move s's routing to d."""
    moved = st.x[:, s].copy()
    st.x[:, d] += moved
    st.x[:, s] = 0.0
    st.load[d] += float((ctx.rate * moved * ctx.inv_capacity[:, d]).sum())
    st.load[s] = 0.0
    st.add_replicas(ctx, s, -int(st.R[s]))
    st.add_replicas(ctx, d, int(total) - int(st.R[d]))



def _failure_reason(ctx: Context, st: State, i: int, r: float) -> str:
    p = ctx.problem
    name = p.type_names[i]
    structural = type_reasons(p, ctx.new_cand | (st.R > 0)[None, :]).get(i)
    if structural:
        if not ctx.servable[i].any() or i in type_reasons(p):
            return structural
        return structural + " among the heuristic's candidates (M1 filter)"
    c = ctx.cidx[i]
    B = budget_left(ctx, st)
    why = []
    if len(c) and math.isfinite(B) and (ctx.cost[c] > B + fleet_cost.LIMIT_TOL).all():
        why.append(f"budget (${st.spent:.2f} of ${p.budget:.2f}/h used)")
    gpus_left = ctx.inventory[ctx.template_gpu[c]] - st.inv_used[ctx.template_gpu[c]]
    if len(c) and (gpus_left < ctx.gpus[c]).all():
        why.append("GPU inventory exhausted for every candidate")
    if len(c) and not ((st.art_R[ctx.template_artifact[c]] > 0) | (st.storage_used + ctx.artifact_gb[ctx.template_artifact[c]] <= ctx.storage_gb + fleet_cost.LIMIT_TOL)).all():
        why.append("storage")
    if not why:
        why.append("error SLO slack / capacity of the affordable candidates")
    unmet_share = r / ctx.rate[i] + st.u[i]
    return (f"type {name!r}: {r:.4g} req/s could not be placed ({', '.join(why)}); unmet share would be "
            f"{unmet_share:.4g} > max_unmet {p.max_unmet[i]:.4g}")



def construct(ctx: Context, order: Sequence[int], opt: GHOptions, log: DecisionLog, hub: int | None = None) -> State:
    """Coverage phase then main phase in ``order``, then trim. ``hub``: a template given one replica first
    (AGH's hub starts)."""
    st = State.empty(ctx)
    if hub is not None:
        km = kmax(ctx, st, np.array([hub]))
        if km[0] >= 1:
            st.add_replicas(ctx, int(hub), 1)
            log(lambda: f"[start] hub start: 1 x {label(ctx, int(hub))} opened first")
    coverage_phase(ctx, st, order, opt, log)
    for i in order:
        place_type(ctx, st, int(i), opt, log)
    before = st.R.copy() if log.explain else None
    st.trim(ctx)
    if log.explain and (before != st.R).any():
        log(lambda: "[trim] replicas no longer needed (R = ceil(load)): " + ", ".join(
            f"{label(ctx, int(d))} {int(before[d])} -> {int(st.R[d])} (-${(before[d] - st.R[d]) * ctx.cost[d]:.3f}/h)"
            for d in np.flatnonzero(before != st.R)))
    return st



def solve_gh(problem: Problem, *, m1: bool = True, m2: bool = True, m3: bool = True, explain: bool = False) -> Solution:
    """Run GH once (types in descending load) and return its evaluated Solution."""
    t0 = time.perf_counter()
    opt = GHOptions(m1, m2, m3, explain)
    ctx = Context(problem, m1=m1, m3=m3)
    lines: list[str] = []
    log = DecisionLog(explain, lines)
    order = ctx.order("load")
    log(lambda: "[start] GH order (descending load λ·(input + output tokens)): " + ", ".join(
        f"{problem.type_names[int(i)]} ({ctx.load_key[int(i)]:.4g} tok/s)" for i in order))
    if explain:
        log_filter(ctx, opt, log)
    st = construct(ctx, order, opt, log)
    runtime = time.perf_counter() - t0
    return gh_solution(problem, "gh", st, ctx, opt, lines, runtime, {"order": [problem.type_names[int(i)] for i in order]})



def gh_solution(problem: Problem, method: str, st: State, ctx: Context, opt: GHOptions, lines: list[str],
                runtime: float, stats: dict) -> Solution:
    alloc = st.allocation()
    stats = dict(stats)
    stats.update(replicas=int(st.R.sum()), gpus=int((st.R * ctx.gpus).sum()), m1=opt.m1, m2=opt.m2, m3=opt.m3)
    reason = None
    if st.failed:
        reason = "; ".join(st.failed[i] for i in sorted(st.failed))
    sol = finish(problem, method, alloc, runtime_s=runtime, log=lines, stats=stats, reason=reason)
    if sol.feasible:
        lines.append(f"[result] {method.upper()}: feasible, objective ${sol.objective:.4f}/h, {stats['replicas']} "
                     f"replicas on {stats['gpus']} GPUs, {runtime:.4f} s")
    else:
        lines.append(f"[result] {method.upper()}: no feasible allocation: {sol.reason}")
    if opt.explain:
        fired = {}
        for line in lines:
            tag = line.split(" ", 1)[0]
            if tag in LOG_TAGS and tag not in ("[start]", "[result]"):
                fired[tag] = fired.get(tag, 0) + 1
        lines.append("[result] decisions logged per mechanism: " + (", ".join(f"{k} {v}" for k, v in fired.items())
                                                                    or "none"))
    return sol
