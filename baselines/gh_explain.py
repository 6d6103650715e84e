"""GH's explain-only text (``explain=True``): the per-type filter lines and each greedy step's options.

Nothing here changes a decision; the lines are built lazily, only when the decision log is on.
"""

from __future__ import annotations

import math

import numpy as np

from hetserve_env import fleet_cost

from .gh_state import Context, DecisionLog, GHOptions, State, budget_left, inv_left, label

def log_filter(ctx: Context, opt: GHOptions, log: DecisionLog) -> None:
    """Explain only: per type, how many templates each constraint filters out, and what M1 keeps."""
    p = ctx.problem
    B = ctx.budget
    for i in range(ctx.I):
        n_serv = int(ctx.servable[i].sum())
        n_m1 = int(ctx.m1_cand[i].sum())
        n_new = int(ctx.new_cand[i].sum())
        n_err = int((ctx.m1_cand[i] & (ctx.error_excess[i] <= 0)).sum())
        tag = "[M1]" if opt.m1 else "[filter]"
        log(lambda: f"{tag} filter: type {p.type_names[i]!r}: {n_serv} of {ctx.D} templates meet delay SLO "
                    f"{p.delay_slo[i]:g} s; {'M1 keeps' if opt.m1 else 'first-listed configs keep'} {n_m1} "
                    f"({n_err} within error SLO {p.error_slo[i]:g})"
                    + (f"; with M3 TP siblings {n_new}" if opt.m3 else ""))
        # which constraint removed the others (templates whose weights do not fit in memory are never generated)
        delay = (~ctx.servable[i]) & (p.latency[i] >= p.delay_slo[i])
        memory = (~ctx.servable[i]) & ~delay  # μ = 0 although fast enough: no sequence fits in the KV cache / context
        m1_drop = ctx.servable[i] & ~ctx.m1_cand[i]
        kept = ctx.m1_cand[i]
        err = kept & (ctx.error_excess[i] > 0)
        over_budget = kept & (ctx.cost > B + fleet_cost.LIMIT_TOL) if math.isfinite(B) else np.zeros(ctx.D, dtype=bool)
        over_inv = kept & (ctx.gpus > ctx.inventory[ctx.template_gpu])
        log(lambda: f"{tag} type {p.type_names[i]!r}: filtered by memory {int(memory.sum())} (KV cache holds no "
                    f"sequence / context too short){_examples(ctx, memory)}, by delay {int(delay.sum())} (zero-load "
                    f"latency >= {p.delay_slo[i]:g} s){_examples(ctx, delay)}, "
                    + (f"by M1 {int(m1_drop.sum())} (a fewer-GPU or cheaper TP/PP of the same model and tier also "
                       f"meets the SLO){_examples(ctx, m1_drop)}; " if opt.m1 else
                       f"not first-listed {int(m1_drop.sum())}; ")
                    + f"of the {int(kept.sum())} kept: {int(err.sum())} above error SLO {p.error_slo[i]:g} (usable "
                    f"only blended with a lower-error template), {int(over_budget.sum())} cost more than the budget "
                    f"alone, {int(over_inv.sum())} need more GPUs than the inventory")
        ok = kept & ~err & ~over_budget & ~over_inv
        if ok.any():
            best = np.flatnonzero(ok)[np.argsort(ctx.unit[i, ok], kind="stable")[:3]]
            log(lambda: f"{tag} type {p.type_names[i]!r}: cheapest pure paths by $/h per req/s at full load "
                        "(rental / capacity + delay penalty): " + ", ".join(
                            f"{label(ctx, int(d))} ${ctx.unit[i, d]:.4g} (mu {ctx.capacity[i, d]:.3g} req/s, "
                            f"${ctx.cost[d]:.3f}/h)" for d in best))



def _examples(ctx: Context, mask: np.ndarray, k: int = 2) -> str:
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return ""
    more = f", +{len(idx) - k} more" if len(idx) > k else ""
    return " [e.g. " + ", ".join(label(ctx, int(d)) for d in idx[:k]) + more + "]"



def _why_blocked(ctx: Context, st: State, c: np.ndarray, i: int, S: float, tol: float) -> dict[str, int]:
    """Explain only: how many of the candidates ``c`` cannot open a replica for type i now, by the first constraint
    that blocks them (budget left, GPU inventory left, storage, error slack for templates above the error SLO)."""
    if len(c) == 0:
        return {}
    B = budget_left(ctx, st)
    budget = ctx.cost[c] > B + fleet_cost.LIMIT_TOL if math.isfinite(B) else np.zeros(len(c), dtype=bool)
    inv = inv_left(ctx, st, ctx.template_gpu[c]) + fleet_cost.LIMIT_TOL < ctx.gpus[c]
    stored = st.art_R[ctx.template_artifact[c]] > 0
    storage = ~(stored | (st.storage_used + ctx.artifact_gb[ctx.template_artifact[c]] <= ctx.storage_gb + fleet_cost.LIMIT_TOL))
    w = ctx.error_excess[i, c]
    error = (w > 0) & (S / np.where(w > 0, w, 1.0) <= tol)
    out, seen = {}, np.zeros(len(c), dtype=bool)
    for name, m in (("budget", budget), ("inventory", inv), ("storage", storage), ("error", error)):
        m = m & ~seen
        seen |= m
        out[name] = int(m.sum())
    return out



def _filtered_text(counts: dict[str, int]) -> str:
    parts = [f"{k} {v}" for k, v in counts.items() if v]
    return ("; filtered: " + ", ".join(parts)) if parts else ""



def step_text(ctx: Context, st: State, i: int, step: int, r: float, S: float, tol: float, opt: GHOptions,
               active: np.ndarray, c: np.ndarray, us: np.ndarray, ud: np.ndarray, nw_k: np.ndarray,
               score: np.ndarray, valid: np.ndarray, sp_eff: np.ndarray) -> str:
    """Explain only: one greedy step's options, what filtered them and the best few by score."""
    p = ctx.problem
    n1, n2, n3 = len(active), len(c), len(us)
    blocked = _why_blocked(ctx, st, c, i, S, tol)
    w_sp = ctx.error_excess[i, active]
    sp_err = int(((w_sp > 0) & (sp_eff <= tol) & (np.maximum(st.R[active] - st.load[active], 0.0) > 1e-12)).sum())
    if sp_err:
        blocked["error (spare)"] = sp_err
    order = [int(k) for k in np.argsort(score, kind="stable")[:3] if valid[k] and np.isfinite(score[k])]

    def what(k: int) -> str:
        if k < n1:
            return f"spare on {label(ctx, int(active[k]))}"
        if k < n1 + n2:
            return f"{int(nw_k[k - n1])} x {label(ctx, int(c[k - n1]))}"
        if k < n1 + n2 + n3:
            return f"TP upgrade {label(ctx, int(us[k - n1 - n2]))} -> {label(ctx, int(ud[k - n1 - n2]))}"
        return "unmet"

    unit = "$/h per effective req/s" if opt.m2 else "added $/h"
    return (f"{'[M2]' if opt.m2 else '[step]'} type {p.type_names[i]!r} step {step + 1}: residual {r:.4g} req/s, "
            f"error slack {S + 0.0:.4g}; options: {n1} spare, {n2} new-replica blocks, {n3} TP upgrades, unmet"
            f"{_filtered_text(blocked)}; {int(valid.sum())} usable; best by {unit}: "
            + ", ".join(f"{what(k)} {score[k]:.4g}" for k in order))


def blocked_text(ctx: Context, st: State, c: np.ndarray, i: int) -> str:
    """Explain only: "; filtered: budget 3, …" for candidates ``c`` of type i that cannot open a replica now."""
    return _filtered_text(_why_blocked(ctx, st, c, i, 0.0, 0.0))
