"""Routing: place one window's demand on the replicas that are serving (docs/environment.md, "Router").

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
    fractional-knapsack order of the overloaded LP). Compiled with numba
    (:func:`hetserve_env.kernels.router.route_greedy_core`, the only implementation; the environment's step calls it
    too), so a route costs microseconds.
``"lp"`` (optimal for the zero-load router objective)
    The linear program above (error excess as a penalised slack variable), built from
    :mod:`hetserve_env.formulation`'s routing block and solved with HiGHS through :mod:`hetserve_env.highs`
    (``highspy`` imported on first use). Its routing minimises the router objective, so no router does better
    on *that* objective with the same replicas. It is not optimal for what the environment charges: the env
    prices a window with load-dependent latency (``evaluate(..., latency="load")``), which the LP does not
    see, so the greedy can cost less there (``tests/test_env.py::test_lp_router_in_env`` shows such a case).

``scripts/bench_router.py`` measures how close the greedy gets to the LP (see ``docs/environment.md``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from . import highs as _highs
from .allocation import Allocation, problem_arrays
from .kernels.access import as_float64 as _f, compiled as _kernels
from .formulation import csc, routing_block
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
    p = problem
    return float(_kernels().router_objective_core(problem_arrays(p), _f(routing), _f(unmet)))


# ----------------------------------------------------------------------------------------------- greedy
def route_greedy(problem: Problem, available: np.ndarray, passes: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Greedy routing (see the module docstring), compiled: :func:`hetserve_env.kernels.router.route_greedy_core`.

    Returns (x (I, D), u (I,)).
    """
    p = problem
    return _kernels().route_greedy_core(problem_arrays(p), _f(available), int(passes))


def _zero_rate(i: int, x: np.ndarray, u: np.ndarray, cap: np.ndarray, avail: np.ndarray, score: np.ndarray) -> None:
    """A type with no demand: give its (load-free) share to the best servable template so no unmet share shows."""
    _kernels().zero_rate_share(i, x, u, _f(cap), _f(avail), _f(score))


# -------------------------------------------------------------------------------------------------- LP
def route_lp(problem: Problem, available: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LP routing with HiGHS (through :mod:`hetserve_env.highs`). Returns (x (I, D), u (I,)).

    Optimal for the *zero-load* router objective (:func:`router_objective`: unmet, zero-load delay and error
    penalties) over the routings that keep every template's utilisation ≤ 1 on ``available``; the rows and
    coefficients are :mod:`hetserve_env.formulation`'s routing block. It is not optimal for the load-dependent
    latency the environment charges (``evaluate(..., latency="load")``), and can cost more than the greedy
    router there. Raises :class:`hetserve_env.highs.HighsStatusError` if HiGHS does not report "Optimal"."""
    highspy = _highs.highspy()
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
    if types.size == 0:
        return x, u
    blk = routing_block(problem, (lam > 0)[:, None] & (avail > 0)[None, :])
    pairs_i, pairs_d = blk.ii, blk.dd
    active = np.unique(pairs_d)
    row_of_tpl = np.full(D, -1)
    row_of_tpl[active] = np.arange(active.size)
    row_of_type = np.full(I, -1)
    row_of_type[types] = np.arange(types.size)
    n_t, n_a, E = types.size, active.size, blk.n
    # rows: coverage (n_t, == 1), capacity (n_a, <= available), error (n_t, <= 0)
    # cols: x pairs (E), u (n_t), s (n_t: error excess, priced at the error penalty); objective in $/h
    num_col = E + 2 * n_t
    cost = np.concatenate([blk.delay_cost, blk.unmet_cost[types], 3600.0 * lam[types] * problem.error_penalty[types]])
    r, c, v = blk.x_entries(row_of_type[pairs_i], n_t + row_of_tpl[pairs_d], n_t + n_a + row_of_type[pairs_i],
                            np.arange(E))
    r = np.concatenate([r, np.arange(n_t), n_t + n_a + np.arange(n_t)])
    c = np.concatenate([c, E + np.arange(n_t), E + n_t + np.arange(n_t)])
    v = np.concatenate([v, np.ones(n_t), -np.ones(n_t)])
    start, index, value = csc(r, c, v, num_col)

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
    lp.a_matrix_.value_ = value
    h = _highs.new(primal_feasibility_tolerance=1e-9)
    h.passModel(lp)
    _highs.run_expect(h, "route_lp")  # always feasible (u = 1) and bounded: any other status is an error
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
