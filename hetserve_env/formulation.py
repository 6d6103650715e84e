"""The LP/MILP constraint blocks of the static problem, emitted once as sparse coordinate arrays (numpy only).

Every linear model of the project — the exact router (:func:`hetserve_env.routing.route_lp`), AGH's routing LP,
the LP relaxation and the MILP (``baselines``) — takes its rows and objective coefficients from here; each
lays the blocks out in its own column/row order (a router has no replica columns, the MILP names its rows).
The model (docs/environment.md, "The static problem"):

    coverage   Σ_d x_id + u_i = 1                    ∀ i
    capacity   Σ_i (λ_i / μ_id) x_id ≤ R_d            ∀ d        (x_id only where μ_id > 0)
    error      Σ_d (e_id − ε_i) x_id ≤ 0              ∀ i        (the paper's weighted average)
    budget     Σ_d cost_d R_d ≤ budget
    inventory  Σ_{d on g} gpus_d R_d ≤ inventory_g     ∀ g
    storage    Σ_a gb_a z_a ≤ storage_gb,   R_d ≤ maxR_d z_{artifact(d)}
    objective  Σ_d cost_d R_d + Σ_a storage_cost gb_a z_a + Σ_i 3600 λ_i (φ_i u_i + ρ_i Σ_d latency_id x_id)

The coefficients come from :mod:`hetserve_env.fleet_cost` (the same functions ``evaluate``'s cost is pinned to).
:func:`csc` turns coordinate triplets into the column-wise arrays HiGHS takes (no scipy needed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .fleet_cost import delay_cost_per_share, error_excess, storage_add_cost, unmet_cost_per_share
from .problem import Problem


@dataclass(frozen=True)
class RoutingBlock:
    """The routing part of the model over the pairs (ii[k], dd[k]), k = 0..n−1 (type-major, as ``np.nonzero``).

    Per pair: ``load`` (λ_i / μ_id: replica units per routed share; 0 for a type without demand), ``error``
    (e_id − ε_i), ``delay_cost`` ($/h per share, zero-load). Per type: ``unmet_cost`` ($/h per unmet share)."""

    ii: np.ndarray
    dd: np.ndarray
    load: np.ndarray
    error: np.ndarray
    delay_cost: np.ndarray
    unmet_cost: np.ndarray

    @property
    def n(self) -> int:
        return len(self.ii)

    def take(self, sel: np.ndarray) -> "RoutingBlock":
        """The block over the pairs ``sel`` (indices or a mask; per-type arrays unchanged)."""
        return RoutingBlock(self.ii[sel], self.dd[sel], self.load[sel], self.error[sel], self.delay_cost[sel],
                            self.unmet_cost)

    def x_entries(self, cov_row: np.ndarray, cap_row: np.ndarray, err_row: np.ndarray, col: np.ndarray,
                  drop_zero_error: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols, values) of the x columns ``col`` in the coverage, capacity and error rows: row numbers
        given per pair (``cov_row``/``err_row`` of its type, ``cap_row`` of its template). Error entries that
        are 0 are left out when ``drop_zero_error``. Per pair in row order coverage, capacity, error."""
        n = self.n
        r = np.stack([cov_row, cap_row, err_row], axis=1)
        v = np.stack([np.ones(n), self.load, self.error], axis=1)
        c = np.repeat(np.asarray(col, dtype=np.int64)[:, None], 3, axis=1)
        keep = np.ones((n, 3), dtype=bool)
        if drop_zero_error:
            keep[:, 2] = self.error != 0.0
        return r[keep].astype(np.int64), c[keep], v[keep]


def routing_block(problem: Problem, usable: np.ndarray | None = None) -> RoutingBlock:
    """The :class:`RoutingBlock` over every pair with μ_id > 0 (and ``usable[i, d]`` when given)."""
    p = problem
    mask = p.capacity > 0 if usable is None else (p.capacity > 0) & usable
    ii, dd = np.nonzero(mask)
    lam = p.rate[ii]
    load = np.where(lam > 0, lam / np.where(p.capacity[ii, dd] > 0, p.capacity[ii, dd], 1.0), 0.0)
    return RoutingBlock(ii, dd, load, error_excess(p)[ii, dd], delay_cost_per_share(p)[ii, dd],
                        unmet_cost_per_share(p))


@dataclass(frozen=True)
class FleetRows:
    """The fleet rows over replica columns R (D) and storage indicators z (A), coordinates relative to this
    block: ``rows``/``cols_R``/``cols_z`` entries and per-row ``upper`` bounds (every row is ``≤``), ``names``.

    Rows, in order: ``stored_d`` (R_d − maxR_d z_a ≤ 0, templates with maxR_d > 0), ``budget`` (if finite),
    ``inventory_g`` (GPU types where the replica bounds alone do not keep it), ``storage`` (if finite)."""

    rows: np.ndarray
    cols: np.ndarray  # column index: d for R_d, D + a for z_a
    values: np.ndarray
    upper: np.ndarray
    names: tuple[str, ...]


def fleet_rows(problem: Problem, max_replicas: np.ndarray) -> FleetRows:
    """The :class:`FleetRows` of ``problem`` with replica bounds ``max_replicas`` (D,)."""
    p = problem
    D, A = p.n_templates, len(p.artifact_names)
    maxR = np.asarray(max_replicas, dtype=float)
    rows, cols, vals, upper, names = [], [], [], [], []

    def add(c: np.ndarray, v: np.ndarray, hi: float, name: str) -> None:
        rows.append(np.full(len(c), len(upper), dtype=np.int64))
        cols.append(np.asarray(c, dtype=np.int64))
        vals.append(np.asarray(v, dtype=float))
        upper.append(float(hi))
        names.append(name)

    for d in np.flatnonzero(maxR > 0):
        add(np.array([d, D + p.template_artifact[d]]), np.array([1.0, -maxR[d]]), 0.0, f"stored_{d}")
    if math.isfinite(p.budget):
        add(np.arange(D), p.cost, p.budget, "budget")
    for g in range(p.n_gpu_types):
        ds = np.flatnonzero(p.template_gpu == g)
        if len(ds) and (p.gpus[ds] * maxR[ds]).sum() > p.inventory[g]:
            add(ds, p.gpus[ds], float(p.inventory[g]), f"inventory_{g}")
    if math.isfinite(p.storage_gb):
        add(D + np.arange(A), p.artifact_gb, p.storage_gb, "storage")
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dtype=dt))
    return FleetRows(cat(rows, np.int64), cat(cols, np.int64), cat(vals, float), np.asarray(upper, dtype=float),
                     tuple(names))


def fleet_objective(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Objective coefficients ($/h) of the replica columns R (D,) and storage indicators z (A,)."""
    return problem.cost.astype(float), storage_add_cost(problem)


def csc(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coordinate triplets → column-wise (start (n_cols+1,), index, value), rows ascending within a column."""
    r, c, v = (np.asarray(a) for a in (rows, cols, values))
    o = np.lexsort((r, c))
    start = np.zeros(n_cols + 1, dtype=np.int64)
    np.cumsum(np.bincount(c, minlength=n_cols), out=start[1:])
    return start, r[o].astype(np.int64), v[o].astype(float)
