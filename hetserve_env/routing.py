"""Routing: place one window's demand on the replicas that are serving (DESIGN §5).

Given a :class:`~hetserve_env.problem.Problem` (rates, capacities, latencies, error rates) and the
replica-equivalents ``available`` per template (fractional while replicas cold-start), :func:`route` returns an
:class:`~hetserve_env.allocation.Allocation` whose routing shares ``x[i, d]`` and unmet shares ``u[i]``

* cover every type exactly: ``x[i].sum() + u[i] == 1``;
* respect capacity: ``sum_i rate[i] * x[i, d] / capacity[i, d] <= available[d]`` (utilisation <= 1), so the
  load-dependent latency of every served request stays within its delay SLO;
* route only where the pair can meet the delay SLO (``capacity[i, d] > 0``) and ``available[d] > 0``;
* try to minimise the router's objective, in $/h: ``3600 * sum_i rate[i] * (unmet_penalty[i] * u[i]
  + delay_penalty[i] * sum_d latency[i, d] * x[i, d] + error_penalty[i] * max(0, sum_d (error[i, d]
  - error_slo[i]) * x[i, d]))`` — exactly the unmet, zero-load delay and error penalty terms of
  :func:`~hetserve_env.allocation.evaluate`. The error SLO is the paper's weighted average, so low-error and
  high-error templates may be mixed; going over it is allowed and costs the error penalty.

The unmet share is *not* capped at ``max_unmet`` (ζ): it is whatever capacity cannot serve. ``evaluate``
then reports ``max_unmet[type]`` as a violation.

Two methods:

``"greedy"`` (default, fast)
    Types in order of tightness (serving capacity available to the type divided by its rate, smallest
    first). For each type the eligible templates are sorted by the type's marginal cost of a request there,
    ``delay_penalty * latency + error_penalty * (error - error_slo)`` plus an opportunity-cost term
    ``unmet_penalty_k * rate_k / (capacity_k * supply_k)`` summed over the types ``k`` still to be placed that
    could use the template (so a type avoids the replicas that later, tighter types depend on), and the demand
    is poured into them in that order up to each template's remaining capacity. Templates whose marginal
    cost is at or above the unmet penalty are not used. Vectorised over templates; a Python loop over types
    only.
``"lp"`` (exact)
    The linear program above (error excess as a penalised slack variable), solved with HiGHS through
    ``highspy`` (imported on first use). Its objective is a lower bound for any router on the same replicas.

``scripts/bench_router.py`` measures how close the greedy gets to the LP (see ``docs/environment.md``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .allocation import Allocation
from .problem import Problem

RouterMethod = Literal["greedy", "lp"]
ROUTERS: tuple[str, ...] = ("greedy", "lp")


def route(
    problem: Problem,
    available: np.ndarray | None = None,
    method: RouterMethod = "greedy",
    *,
    replicas: np.ndarray | None = None,
) -> Allocation:
    """Route ``problem``'s demand onto ``available`` replica-equivalents per template.

    ``available`` (D,) defaults to ``replicas``; ``replicas`` (D,), what the returned Allocation bills,
    defaults to ``ceil(available)``. Returns an Allocation with routing (I, D) and unmet (I,).
    """
    if replicas is None and available is None:
        raise ValueError("route: give available and/or replicas")
    D = problem.n_templates
    avail = np.asarray(replicas if available is None else available, dtype=float)
    if avail.shape != (D,):
        raise ValueError(f"route: available has shape {avail.shape}, the problem has {D} templates")
    if not np.isfinite(avail).all() or (avail < 0).any():
        raise ValueError("route: available must be finite and >= 0")
    if replicas is None:
        replicas = np.ceil(avail - 1e-9).astype(np.int64)
    if method == "greedy":
        x, u = route_greedy(problem, avail)
    elif method == "lp":
        x, u = route_lp(problem, avail)
    else:
        raise ValueError(f"route: unknown method {method!r}; known: {list(ROUTERS)}")
    return Allocation(replicas, x, u)


def router_objective(problem: Problem, routing: np.ndarray, unmet: np.ndarray) -> float:
    """The router's objective in $/h (unmet + zero-load delay + error penalties), as :func:`evaluate` counts them."""
    per_hour = 3600.0 * problem.rate
    excess = np.maximum((problem.error * routing).sum(axis=1) - problem.error_slo * routing.sum(axis=1), 0.0)
    return float(per_hour @ (problem.unmet_penalty * unmet + problem.delay_penalty * (problem.latency * routing).sum(axis=1)
                             + problem.error_penalty * excess))


# ----------------------------------------------------------------------------------------------- greedy
def route_greedy(problem: Problem, available: np.ndarray, passes: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Greedy routing (see the module docstring). Returns (x (I, D), u (I,))."""
    lam = problem.rate
    cap = problem.capacity
    avail = np.asarray(available, dtype=float)
    usable = (cap > 0) & (avail > 0)
    # a template is worth using for a type unless a request there costs more than leaving it unmet even when
    # the error SLO binds (delay penalty + error penalty on the error above the SLO)
    delay_cost = problem.delay_penalty[:, None] * problem.latency
    err_gap = problem.error - problem.error_slo[:, None]
    usable &= delay_cost + problem.error_penalty[:, None] * np.maximum(err_gap, 0.0) < problem.unmet_penalty[:, None]
    supply = (cap * avail * usable).sum(axis=1)  # req/s each type could get if it had the fleet alone
    positive = lam > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        tight = np.where(positive, supply / np.where(positive, lam, 1.0), np.inf)
    order = np.argsort(tight, kind="stable")
    x, u, units, err_excess = _greedy_pass(problem, avail, usable, order, delay_cost, err_gap, None)
    short = positive & (u > 1e-12)
    errs = positive & (err_excess > 1e-12)
    if passes <= 1 or not (short.any() or errs.any()) or problem.n_types == 1:
        return x, u
    best = (router_objective(problem, x, u), x, u)
    # contested capacity: try other type orders and keep the cheapest routing
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.where(positive, problem.unmet_penalty * supply / np.maximum(usable @ avail, 1e-12), 0.0)
    orders = [np.argsort(-density, kind="stable"), order[::-1]]
    import os
    if os.environ.get("RV") == "p":
        import itertools
        orders = [np.array(o) for o in itertools.permutations(range(problem.n_types))]
    for k, o in enumerate(orders):
        if k + 1 >= passes:
            break
        x, u, _, _ = _greedy_pass(problem, avail, usable, o, delay_cost, err_gap, None)
        obj = router_objective(problem, x, u)
        if obj < best[0] - 1e-12:
            best = (obj, x, u)
    return best[1], best[2]


def _prices(problem: Problem, x: np.ndarray, short: np.ndarray, errs: np.ndarray, usable: np.ndarray,
            saturated: np.ndarray, delay_cost: np.ndarray, err_gap: np.ndarray) -> np.ndarray:
    """Price (I, D) in $/s of one replica-unit of template d as seen by type i: the most another type would gain.

    A type with unmet demand gains ``capacity * (unmet_penalty - its cost there)`` per unit; one over its error
    SLO gains ``capacity * error_penalty * (worst error it now uses - error there)``. Only saturated templates
    carry a price.
    """
    cap = problem.capacity
    gain = np.zeros_like(cap)
    if short.any():
        own = delay_cost + problem.error_penalty[:, None] * np.maximum(err_gap, 0.0)
        gain = np.where(short[:, None] & usable, cap * np.maximum(problem.unmet_penalty[:, None] - own, 0.0), 0.0)
    if errs.any():
        worst = np.where(x > 0, problem.error, -np.inf).max(axis=1)
        g2 = cap * problem.error_penalty[:, None] * np.maximum(worst[:, None] - problem.error, 0.0)
        gain = np.maximum(gain, np.where(errs[:, None] & usable, g2, 0.0))
    gain *= saturated[None, :]
    # price seen by type i: the best gain of any *other* type
    if gain.shape[0] == 1:
        return np.zeros_like(gain)
    top2 = np.sort(gain, axis=0)[-2:]
    is_top = gain >= top2[1][None, :]
    return np.where(is_top, top2[0][None, :], top2[1][None, :])


def _greedy_pass(problem: Problem, avail: np.ndarray, usable: np.ndarray, order: np.ndarray, delay_cost: np.ndarray,
                 err_gap: np.ndarray, price: np.ndarray | None, exclude: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One sequential pass over the types in ``order``; ``price`` (I, D) adds an opportunity cost per unit."""
    lam = problem.rate
    cap = problem.capacity
    I, D = cap.shape
    x = np.zeros((I, D))
    u = np.ones(I)
    err_excess = np.zeros(I)
    units = avail.copy()
    for i in order:
        li = lam[i]
        if li <= 0:
            _zero_rate(i, x, u, cap, avail, delay_cost + problem.error_penalty[:, None] * err_gap)
            continue
        cand = np.flatnonzero(usable[i] & (units > 0))
        if cand.size == 0:
            continue
        ci = cap[i, cand]
        room = units[cand] * ci  # req/s each template can still take
        base = delay_cost[i, cand]  # $ per request (the 3600·rate factor is common to the type)
        if price is not None:
            base = base + price[i, cand] / ci
            worth = base < problem.unmet_penalty[i]  # cheaper than leaving the request unmet, opportunity cost included
            if exclude and not worth.all():
                cand, ci, room, base = cand[worth], ci[worth], room[worth], base[worth]
                if cand.size == 0:
                    continue
        gap = err_gap[i, cand]
        take = _pour(li, room, base)  # error SLO ignored (multiplier 0)
        excess = float(gap @ take)
        if excess > 0 and cand.size > 1:
            # error SLO binding: also pour with the error penalty as the multiplier and take the best
            # convex combination of the two fills (the per-type objective is piecewise linear in it).
            psi = problem.error_penalty[i]
            take1 = _pour(li, room, base + psi * gap)
            excess1 = float(gap @ take1)
            if excess1 < excess:
                d0, d1 = float(base @ take), float(base @ take1)
                alphas = [1.0] + ([excess / (excess - excess1)] if excess1 < 0 else [])
                best, best_alpha = d0 + psi * excess, 0.0
                for a in alphas:
                    val = (1 - a) * d0 + a * d1 + psi * max((1 - a) * excess + a * excess1, 0.0)
                    if val < best - 1e-15:
                        best, best_alpha = val, a
                if best_alpha > 0:
                    take = (1 - best_alpha) * take + best_alpha * take1
                    excess = (1 - best_alpha) * excess + best_alpha * excess1
        x[i, cand] = take / li
        units[cand] = np.maximum(units[cand] - take / ci, 0.0)
        u[i] = max(0.0, 1.0 - float(x[i].sum()))
        err_excess[i] = excess
    return x, u, units, err_excess


def _pour(demand: float, room: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Fill ``demand`` into templates in ascending ``key`` up to each one's ``room``; the amount each takes."""
    if room.size == 1:
        return np.minimum(room, demand)
    order = np.argsort(key, kind="stable")
    r = room[order]
    before = np.cumsum(r) - r
    take = np.empty_like(room)
    take[order] = np.minimum(np.maximum(demand - before, 0.0), r)
    return take


def _zero_rate(i: int, x: np.ndarray, u: np.ndarray, cap: np.ndarray, avail: np.ndarray, score: np.ndarray) -> None:
    """A type with no demand: give its (load-free) share to the best servable template so no unmet share shows."""
    servable = np.flatnonzero(cap[i] > 0)
    if servable.size == 0:
        return  # u stays 1: nothing could serve it (evaluate reports max_unmet although the rate is 0)
    live = servable[avail[servable] > 0]
    pick = live if live.size else servable
    d = pick[np.argmin(score[i, pick])]
    x[i, d], u[i] = 1.0, 0.0


# -------------------------------------------------------------------------------------------------- LP
def route_lp(problem: Problem, available: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact LP routing with HiGHS (highspy, imported lazily). Returns (x (I, D), u (I,))."""
    try:
        import highspy
    except ImportError as exc:  # pragma: no cover - highspy is a dependency
        raise ImportError("route(method='lp') needs highspy (pip install highspy)") from exc
    lam = problem.rate
    cap = problem.capacity
    I, D = cap.shape
    avail = np.asarray(available, dtype=float)
    x = np.zeros((I, D))
    u = np.ones(I)
    score = problem.delay_penalty[:, None] * problem.latency + problem.error_penalty[:, None] * (problem.error - problem.error_slo[:, None])
    for i in np.flatnonzero(lam <= 0):
        _zero_rate(int(i), x, u, cap, avail, score)
    types = np.flatnonzero(lam > 0)
    pairs_i, pairs_d = np.nonzero((cap[types] > 0) & (avail > 0)[None, :])
    pairs_i = types[pairs_i]
    if types.size == 0:
        return x, u
    active = np.unique(pairs_d)
    row_of_tpl = np.full(D, -1)
    row_of_tpl[active] = np.arange(active.size)
    row_of_type = np.full(I, -1)
    row_of_type[types] = np.arange(types.size)
    n_t, n_a, E = types.size, active.size, pairs_i.size
    # rows: coverage (n_t, == 1), capacity (n_a, <= available), error (n_t, <= 0)
    # cols: x pairs (E), u (n_t), s (n_t); objective in $/s (the $/h objective / 3600)
    num_col = E + 2 * n_t
    cost = np.concatenate([
        lam[pairs_i] * problem.delay_penalty[pairs_i] * problem.latency[pairs_i, pairs_d],
        lam[types] * problem.unmet_penalty[types],
        lam[types] * problem.error_penalty[types],
    ])
    err_coef = problem.error[pairs_i, pairs_d] - problem.error_slo[pairs_i]
    r_cov = row_of_type[pairs_i]
    r_cap = n_t + row_of_tpl[pairs_d]
    r_err = n_t + n_a + row_of_type[pairs_i]
    x_index = np.stack([r_cov, r_cap, r_err], axis=1)
    x_value = np.stack([np.ones(E), lam[pairs_i] / cap[pairs_i, pairs_d], err_coef], axis=1)
    keep = np.ones_like(x_value, dtype=bool)
    keep[:, 2] = err_coef != 0.0
    x_counts = keep.sum(axis=1)
    index = np.concatenate([x_index[keep], np.arange(n_t), n_t + n_a + np.arange(n_t)])
    value = np.concatenate([x_value[keep], np.ones(n_t), -np.ones(n_t)])
    counts = np.concatenate([x_counts, np.ones(2 * n_t, dtype=np.int64)])
    start = np.concatenate([[0], np.cumsum(counts)])

    lp = highspy.HighsLp()
    lp.num_col_ = num_col
    lp.num_row_ = 2 * n_t + n_a
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(num_col)
    lp.col_upper_ = np.concatenate([np.ones(E + n_t), np.full(n_t, highspy.kHighsInf)])
    lp.row_lower_ = np.concatenate([np.ones(n_t), np.full(n_a, -highspy.kHighsInf), np.full(n_t, -highspy.kHighsInf)])
    lp.row_upper_ = np.concatenate([np.ones(n_t), avail[active], np.zeros(n_t)])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = start.astype(np.int32)
    lp.a_matrix_.index_ = index.astype(np.int32)
    lp.a_matrix_.value_ = value.astype(float)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("primal_feasibility_tolerance", 1e-9)
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"route_lp: HiGHS returned {h.modelStatusToString(status)}")
    sol = np.asarray(h.getSolution().col_value)
    x[pairs_i, pairs_d] = np.clip(sol[:E], 0.0, 1.0)
    return _repair(problem, x, avail, types)


def _repair(problem: Problem, x: np.ndarray, avail: np.ndarray, types: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove solver round-off: scale templates over capacity down and rows over 1 down; unmet = the rest."""
    cap = problem.capacity
    lam = problem.rate
    load = (lam[:, None] * x / np.where(cap > 0, cap, 1.0)).sum(axis=0)
    over = load > avail
    if over.any():
        x[:, over] *= np.where(load[over] > 0, avail[over] / np.where(load[over] > 0, load[over], 1.0), 0.0)
    rows = x[types].sum(axis=1)
    big = rows > 1.0
    if big.any():
        x[types[big]] /= rows[big, None]
    u = np.maximum(1.0 - x.sum(axis=1), 0.0)
    return x, u
