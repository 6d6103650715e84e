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
    A sequential pass over the types, tightest first (serving capacity open to the type divided by its
    rate). Each type pours its demand into its usable templates in ascending delay cost
    (``delay_penalty * latency``) up to each template's remaining capacity. If that mix breaks the type's
    error SLO, it also pours in ascending ``delay cost + error_penalty * (error - error_slo)`` and keeps the
    best convex combination of the two fills (the type's objective is piecewise linear along it, so the
    best point is an end or where the error SLO is met exactly). Templates where a request would cost more
    than leaving it unmet are not used.

    If the pass leaves demand unmet or an error SLO broken *and* some template ran out of capacity (only then
    can the types' choices interact), more candidates are built and the cheapest routing is returned: the
    same pass in the reverse type order; in descending unmet value per replica
    (``unmet_penalty * capacity``); a contention-aware pass (a type also pays, per request, what the types
    after it would lose per replica-unit it takes); and, when demand is unmet, a pair-by-pair fill in
    descending net value per replica-unit (``capacity * (unmet_penalty - own delay and error cost)``, the
    fractional-knapsack order of the overloaded LP). Vectorised over templates; Python loops over types
    (the last candidate loops over the usable (type, template) pairs).
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
def route_greedy(problem: Problem, available: np.ndarray, passes: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Greedy routing (see the module docstring). Returns (x (I, D), u (I,))."""
    cap = problem.capacity
    avail = np.asarray(available, dtype=float)
    I = cap.shape[0]
    delay_cost = problem.delay_penalty[:, None] * problem.latency
    err_gap = problem.error - problem.error_slo[:, None]
    # a template is worth using for a type unless a request there costs more than leaving it unmet even when
    # the error SLO binds (delay penalty + error penalty on the error above the SLO)
    usable = (cap > 0) & (avail > 0) & (delay_cost + problem.error_penalty[:, None] * np.maximum(err_gap, 0.0)
                                        < problem.unmet_penalty[:, None])
    supply = (cap * avail * usable).sum(axis=1).tolist()  # req/s each type could get with the fleet to itself
    lam = problem.rate.tolist()
    inf = float("inf")
    tight = [supply[i] / lam[i] if lam[i] > 0 else inf for i in range(I)]
    order = sorted(range(I), key=tight.__getitem__)
    plans = _TypePlans(problem, usable, delay_cost, err_gap)
    x, u, obj, short, errs, drained = _greedy_pass(problem, avail, order, plans)
    if passes <= 1 or not (short or errs) or not drained or I == 1:
        return x, u  # no template ran out, so no type's choice depended on the others: the order is irrelevant
    best = (obj, x, u)
    # contested capacity: try other type orders and keep the cheapest routing
    replicas_usable = (usable @ avail).tolist()
    phi = problem.unmet_penalty.tolist()
    density = [phi[i] * supply[i] / max(replicas_usable[i], 1e-12) if lam[i] > 0 else 0.0 for i in range(I)]
    orders = [order[::-1], sorted(range(I), key=lambda i: -density[i])]
    for o in orders[: passes - 2]:
        if o == order:
            continue
        x, u, obj, _, _, _ = _greedy_pass(problem, avail, o, plans)
        if obj < best[0] - 1e-12 * max(1.0, abs(best[0])):
            best = (obj, x, u)
    if short and passes >= 5:
        # overload: fill (type, template) pairs by net value per replica-unit, capacity × (unmet penalty − the
        # request's own delay and error cost) — the fractional-knapsack order of the overloaded LP
        x, u = _pair_pass(problem, avail, usable, delay_cost, err_gap)
        obj = router_objective(problem, x, u)
        if obj < best[0] - 1e-12 * max(1.0, abs(best[0])):
            best = (obj, x, u)
    if passes >= 4:
        # contention-aware pass (first order): a type also pays, per request, what the types after it would
        # lose per replica-unit it takes — unmet penalty × the share of their demand their supply covers ×
        # their capacity there — so it leaves contested replicas to the types that depend on them
        cover = np.array([min(1.0, lam[i] / supply[i]) if supply[i] > 0 else 0.0 for i in range(I)])
        per_unit = (problem.unmet_penalty * cover)[:, None] * cap * usable
        pending = np.zeros_like(per_unit)
        acc = np.zeros(cap.shape[1])
        for i in order[::-1]:
            pending[i] = acc
            acc = acc + per_unit[i]
        extra = np.divide(pending, cap, out=np.zeros_like(pending), where=usable)
        x, u, obj, _, _, _ = _greedy_pass(problem, avail, order, _TypePlans(problem, usable, delay_cost, err_gap, extra))
        if obj < best[0] - 1e-12 * max(1.0, abs(best[0])):
            best = (obj, x, u)
    return best[1], best[2]


class _TypePlans:
    """Per type, its usable templates sorted by delay cost (and, on demand, by delay + error cost); shared by passes."""

    def __init__(self, problem: Problem, usable: np.ndarray, delay_cost: np.ndarray, err_gap: np.ndarray,
                 extra: np.ndarray | None = None) -> None:
        self.problem, self.delay_cost, self.err_gap = problem, delay_cost, err_gap
        key = delay_cost if extra is None else delay_cost + extra  # extra: opportunity cost per request
        srt = np.argsort(np.where(usable, key, np.inf), axis=1, kind="stable")  # usable ones first
        rows = np.arange(srt.shape[0])[:, None]
        self.count = usable.sum(axis=1).tolist()
        self.cand = srt
        self.cap = problem.capacity[rows, srt]
        self.dc = delay_cost[rows, srt]
        self.gap = err_gap[rows, srt]
        self.key = self.dc if extra is None else key[rows, srt]
        self.phi = problem.unmet_penalty.tolist()
        self.psi = problem.error_penalty.tolist()
        self._err: dict[int, tuple[np.ndarray, ...]] = {}

    def plain(self, i: int) -> tuple[np.ndarray, ...]:
        """(templates, capacity, delay cost, error gap) of type i's usable templates in ascending delay cost."""
        n = self.count[i]
        return self.cand[i, :n], self.cap[i, :n], self.dc[i, :n], self.gap[i, :n]

    def with_error(self, i: int) -> tuple[np.ndarray, ...]:
        """(permutation of the plain order, capacity, delay cost, error gap) in ascending delay cost +
        error_penalty · (error − error_slo)."""
        got = self._err.get(i)
        if got is None:
            _, ci, dc, gap = self.plain(i)
            o = np.argsort(self.key[i, : self.count[i]] + self.psi[i] * gap, kind="stable")
            got = self._err[i] = (o, ci[o], dc[o], gap[o])
        return got


def _pair_pass(problem: Problem, avail: np.ndarray, usable: np.ndarray, delay_cost: np.ndarray,
               err_gap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Route pair by pair in descending net value per replica-unit (a loop over the usable pairs)."""
    cap = problem.capacity
    I, D = cap.shape
    own = delay_cost + problem.error_penalty[:, None] * np.maximum(err_gap, 0.0)
    value = cap * (problem.unmet_penalty[:, None] - own)
    ii, dd = np.nonzero(usable & (problem.rate > 0)[:, None])
    o = np.argsort(-value[ii, dd], kind="stable")
    ii, dd = ii[o].tolist(), dd[o].tolist()
    caps = cap[ii, dd].tolist()
    rem = problem.rate.tolist()
    lam = list(rem)
    units = avail.tolist()
    x = np.zeros((I, D))
    for i, d, c in zip(ii, dd, caps):
        r, un = rem[i], units[d]
        if r <= 0 or un <= 0:
            continue
        room = un * c
        take = r if r < room else room
        x[i, d] = take / lam[i]
        rem[i] = r - take
        units[d] = un - take / c if take < room else 0.0
    u = np.maximum(1.0 - x.sum(axis=1), 0.0)
    for i in np.flatnonzero(problem.rate <= 0):
        _zero_rate(int(i), x, u, cap, avail, delay_cost + problem.error_penalty[:, None] * err_gap)
    return x, u


def _pour(demand: float, room: np.ndarray) -> np.ndarray:
    """Fill ``demand`` into templates in the given order up to each one's ``room``; the amount each takes."""
    before = room.cumsum()
    before -= room  # capacity ahead of each template (exactly 0 for the first: no round-off for tiny demands)
    return np.minimum(np.maximum(demand - before, 0.0), room)


def _greedy_pass(problem: Problem, avail: np.ndarray, order: list[int], plans: _TypePlans
                 ) -> tuple[np.ndarray, np.ndarray, float, bool, bool, bool]:
    """One sequential pass over the types in ``order``: each pours its demand into its cheapest templates.

    Returns x, u, the router objective ($/h), whether some demand is unmet, whether an error SLO is broken and
    whether some template's capacity ran out (only then can another type order change the result).
    """
    lam = problem.rate.tolist()
    I, D = problem.capacity.shape
    x = np.zeros((I, D))
    u = np.ones(I)
    units = avail.copy()
    obj = 0.0
    short = errs = drained = False
    for i in order:
        li = lam[i]
        if li <= 0:
            _zero_rate(i, x, u, problem.capacity, avail, plans.delay_cost + problem.error_penalty[:, None] * plans.err_gap)
            continue
        cand, ci, dc, gap = plans.plain(i)
        if cand.size == 0:
            obj += li * plans.phi[i]
            short = True
            continue
        room = units[cand] * ci  # req/s each template can still take
        take = _pour(li, room)  # error SLO ignored (multiplier 0)
        excess = float(gap @ take)
        delay = float(dc @ take)
        psi = plans.psi[i]
        if excess > 0 and cand.size > 1:
            # error SLO binding: also pour in ascending delay + error cost and take the best convex combination
            # of the two fills (the type's objective is piecewise linear along it: an end, or where the
            # error SLO is met exactly)
            o1, ci1, dc1, gap1 = plans.with_error(i)
            take1 = _pour(li, units[cand[o1]] * ci1)
            excess1, delay1 = float(gap1 @ take1), float(dc1 @ take1)
            if excess1 < excess:
                best, alpha = delay + psi * excess, 0.0
                for a in ((1.0, excess / (excess - excess1)) if excess1 < 0 else (1.0,)):
                    val = (1 - a) * delay + a * delay1 + psi * max((1 - a) * excess + a * excess1, 0.0)
                    if val < best - 1e-15:
                        best, alpha = val, a
                if alpha > 0:
                    take1_plain = np.empty_like(take)
                    take1_plain[o1] = take1  # back to the plain order, then mix
                    take = (1 - alpha) * take + alpha * take1_plain
                    excess = (1 - alpha) * excess + alpha * excess1
                    delay = (1 - alpha) * delay + alpha * delay1
        x[i, cand] = take / li
        left = units[cand] - take / ci
        empty = left <= 1e-12
        if empty.any():
            left[empty] = 0.0
            drained = True
        units[cand] = left
        ui = 1.0 - float(take.sum()) / li
        ui = ui if ui > 0 else 0.0
        u[i] = ui
        if ui > 1e-12:
            short = True
        if excess > 1e-12 * li:
            errs = True
        obj += li * plans.phi[i] * ui + delay + psi * (excess if excess > 0 else 0.0)
    return x, u, 3600.0 * obj, short, errs, drained


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
