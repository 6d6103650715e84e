"""The multi-period model of a run of windows (the hindsight problem of an episode, or an MPC look-ahead), built as
sparse arrays for HiGHS from :mod:`hetserve_env.formulation`'s blocks, one copy per window, linked by the fleet.

Why a model of its own: a per-window planner cannot see that a replica asked for now serves only after its cold
start, or that a replica kept through a dip saves the next ramp's cold start. This model sees every window at
once. It is built so that **every trajectory the environment can produce is a feasible point whose model cost is
at most the environment's cost** (docs/baselines.md, "Hindsight bound"), which makes its optimum — and any lower
bound on it, e.g. HiGHS's MILP dual bound or the LP relaxation — a valid lower bound on every policy's env cost:

* fleet: integer billed replicas ``R[t, d] ≤ min(R_max, what budget/inventory allow)``, storage indicators and
  the budget/inventory/storage rows of :func:`~hetserve_env.formulation.fleet_rows` in every window (the env
  clips every billed fleet to them, with tolerance ``LIMIT_TOL``, which the rows get too); the clip penalty
  (≥ 0) is left out;
* cold starts as the env models them: ``w[t, k, d]`` replicas of age k windows still starting, serving
  ``avail_by_age[k, d]`` of window t; ``w[t, 0] ≥ R[t] − R[t−1]`` (new replicas); older cohorts only shrink by
  what is removed (``w[t, k] ≥ w[t−1, k−1] − m[t]``, ``m[t] ≥ R[t−1] − R[t]``: the env removes starting
  replicas first, so this only allows more than the env does); serving = ``R − Σ_k (1 − avail_by_age[k]) w[t, k]``;
* routing per window: the formulation's coverage/capacity/error rows on the serving replica-equivalents, the
  unmet share in [0, 1] (the env does not cap it at ζ), an error-excess slack per type priced at the error
  penalty (the env charges ``max(0, excess)``);
* money in $ per window: billed rental (rental + cold start) and storage exactly; unmet and error penalties
  exactly for a given routing; the delay penalty at :func:`latency_floor` (≤ the env's load-dependent latency,
  which is capped at the window length), with the routing free (≤ the env's router, which is one choice of it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from hetserve_env.fleet_cost import LIMIT_TOL
from hetserve_env.formulation import fleet_objective, fleet_rows, routing_block
from hetserve_env.problem import Problem


@dataclass(frozen=True)
class StartFleet:
    """The fleet the model starts from: ``ready`` serving replicas (D,) and ``warm`` (K, D) replicas still starting
    by age in windows, as after the env's last step (:meth:`HetServeEnv.fleet_cohorts`; zeros at reset)."""

    ready: np.ndarray
    warm: np.ndarray

    @property
    def billed(self) -> np.ndarray:
        return self.ready + self.warm.sum(axis=0)


@dataclass
class HorizonModel:
    """Sparse model arrays (rows ≤/= with lower/upper, columns with bounds, costs in $ and integrality) and where
    the replica columns are: ``col_R[t]`` (D,) column indices of window t's billed replicas."""

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    col_R: np.ndarray
    names: list[str] = field(default_factory=list)

    @property
    def n_cols(self) -> int:
        return len(self.cost)

    @property
    def n_rows(self) -> int:
        return len(self.row_lower)


def latency_floor(problem: Problem) -> np.ndarray:
    """(I, D) the lowest latency the env can charge a routed request: load-dependent latency
    ``latency / (1 − util·load_slope)`` over utilisations 0..1 (the router never exceeds 1), capped at the window
    length as ``evaluate`` caps it. For ``load_slope ≥ 0`` that is the zero-load latency."""
    p = problem
    lat = p.latency / (1.0 + np.maximum(-p.load_slope, 0.0))
    return np.minimum(lat, p.window_s)


def replica_bounds(problem: Problem, max_replicas: int) -> np.ndarray:
    """(D,) the most replicas of each template a fleet within budget and inventory can bill (env tolerance)."""
    p = problem
    by_inv = np.floor((p.inventory[p.template_gpu] + LIMIT_TOL) / p.gpus)
    by_budget = np.floor((p.budget + LIMIT_TOL) / np.maximum(p.cost, 1e-12)) if np.isfinite(p.budget) else by_inv
    return np.minimum(np.minimum(by_inv, by_budget), float(max_replicas))


class _Builder:
    """Accumulates columns and rows (coordinate form)."""

    def __init__(self) -> None:
        self.cost, self.lo, self.hi, self.int_ = [], [], [], []
        self.rlo, self.rhi, self.r, self.c, self.v = [], [], [], [], []
        self.n_cols = self.n_rows = 0

    def add_cols(self, cost: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float, integer: bool) -> np.ndarray:
        n = len(cost)
        self.cost.append(np.asarray(cost, float))
        self.lo.append(np.broadcast_to(np.asarray(lo, float), (n,)))
        self.hi.append(np.broadcast_to(np.asarray(hi, float), (n,)))
        self.int_.append(np.full(n, integer))
        idx = np.arange(self.n_cols, self.n_cols + n)
        self.n_cols += n
        return idx

    def add_rows(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        lo, hi = np.atleast_1d(np.asarray(lo, float)), np.atleast_1d(np.asarray(hi, float))
        hi = np.broadcast_to(hi, lo.shape) if hi.size == 1 and lo.size > 1 else hi
        lo = np.broadcast_to(lo, hi.shape) if lo.size == 1 and hi.size > 1 else lo
        self.rlo.append(lo)
        self.rhi.append(hi)
        idx = np.arange(self.n_rows, self.n_rows + len(lo))
        self.n_rows += len(lo)
        return idx

    def entries(self, r: np.ndarray, c: np.ndarray, v: np.ndarray | float) -> None:
        r, c = np.asarray(r, np.int64), np.asarray(c, np.int64)
        self.r.append(r)
        self.c.append(c)
        self.v.append(np.broadcast_to(np.asarray(v, float), r.shape).copy())

    def model(self, col_R: np.ndarray) -> HorizonModel:
        cat = np.concatenate
        return HorizonModel(cat(self.cost), cat(self.lo), cat(self.hi), cat(self.int_), cat(self.rlo), cat(self.rhi),
                            cat(self.r), cat(self.c), cat(self.v), col_R)


def build_horizon_model(problems: Sequence[Problem], start: StartFleet, avail_by_age: np.ndarray,
                        max_replicas: int, max_utilisation: float = 1.0) -> HorizonModel:
    """The model over the windows ``problems`` (one full Problem per window, in order, same templates), starting
    from ``start``; ``avail_by_age`` (K, D) is the share of a window a replica of age k serves (the env's
    ``env_params.cold_start(...).avail_by_age``); ``max_replicas`` the env's R_max. See the module docstring.

    ``max_utilisation`` < 1 keeps every template's load below that share of its serving capacity: plans with slack
    for the env's load-dependent latency, but then the model is no longer a relaxation (its value is no bound)."""
    if not 0.0 < float(max_utilisation) <= 1.0:
        raise ValueError(f"max_utilisation must be in (0, 1], got {max_utilisation!r}")
    if not problems:
        raise ValueError("problems must hold at least one window, got none")
    p0 = problems[0]
    D, I = p0.n_templates, p0.n_types
    avail = np.asarray(avail_by_age, dtype=float)
    if avail.ndim != 2 or avail.shape[1] != D:
        raise ValueError(f"avail_by_age must have shape (K, {D}), got {avail.shape}")
    K = avail.shape[0]
    warm0 = np.asarray(start.warm, dtype=float)
    if warm0.shape != (K, D) or np.asarray(start.ready).shape != (D,):
        raise ValueError(f"start fleet must be ready ({D},) and warm ({K}, {D}), got "
                         f"{np.asarray(start.ready).shape} and {warm0.shape}")
    b = _Builder()
    maxR = replica_bounds(p0, max_replicas)
    col_R = np.empty((len(problems), D), dtype=np.int64)
    prev_R: np.ndarray | None = None
    prev_w: np.ndarray | None = None
    for t, p in enumerate(problems):
        if p.n_templates != D or p.n_types != I:
            raise ValueError(f"window {t}: {p.n_types} types × {p.n_templates} templates, window 0 has {I} × {D}")
        R, w = _window(b, p, maxR, avail, start, t, prev_R, prev_w, float(max_utilisation))
        col_R[t] = R
        prev_R, prev_w = R, w
    return b.model(col_R)


def _window(b: _Builder, p: Problem, maxR: np.ndarray, avail: np.ndarray, start: StartFleet, t: int,
            prev_R: np.ndarray | None, prev_w: np.ndarray | None, util: float) -> tuple[np.ndarray, np.ndarray]:
    """Add window t's columns and rows; return its R columns (D,) and cohort columns (K, D)."""
    D, I, A, K = p.n_templates, p.n_types, len(p.artifact_names), avail.shape[0]
    hours = p.window_s / 3600.0
    c_R, c_z = fleet_objective(p)
    R = b.add_cols(hours * c_R, 0.0, maxR, True)
    z = b.add_cols(hours * c_z, 0.0, 1.0, True)
    w = np.stack([b.add_cols(np.zeros(D), 0.0, maxR, False) for _ in range(K)])
    fr = fleet_rows(p, maxR)
    rows = b.add_rows(np.full(len(fr.upper), -np.inf), fr.upper + LIMIT_TOL)
    colmap = np.concatenate([R, z])
    b.entries(rows[fr.rows], colmap[fr.cols], fr.values)
    _routing(b, p, R, w, avail, hours, util)
    # new replicas start in cohort 0: w[t, 0] >= R[t] - R[t-1]
    new = b.add_rows(np.full(D, -np.inf), start.billed.astype(float) if prev_R is None else np.zeros(D))
    b.entries(new, R, 1.0)
    b.entries(new, w[0], -1.0)
    if prev_R is not None:
        b.entries(new, prev_R, -1.0)
    if K > 1:
        _cohorts(b, maxR, start, R, w, prev_R, prev_w)
    return R, w


def _routing(b: _Builder, p: Problem, R: np.ndarray, w: np.ndarray, avail: np.ndarray, hours: float,
             util: float) -> None:
    """Coverage, capacity (on ``util`` × the serving replica-equivalents) and error rows of one window, with x, u, s."""
    D, I, K = p.n_templates, p.n_types, avail.shape[0]
    blk = routing_block(p)
    lat = np.where(p.latency > 0, p.latency, 1.0)
    floor = np.where(p.latency > 0, latency_floor(p) / lat, 1.0)
    x = b.add_cols(hours * blk.delay_cost * floor[blk.ii, blk.dd], 0.0, 1.0, False)
    u = b.add_cols(hours * blk.unmet_cost, 0.0, 1.0, False)
    s = b.add_cols(hours * 3600.0 * p.rate * p.error_penalty, 0.0, np.inf, False)
    cov = b.add_rows(np.ones(I), np.ones(I))
    cap = b.add_rows(np.full(D, -np.inf), np.zeros(D))
    err = b.add_rows(np.full(I, -np.inf), np.zeros(I))
    r, c, v = blk.x_entries(cov[blk.ii], cap[blk.dd], err[blk.ii], x)
    b.entries(r, c, v)
    b.entries(cov, u, 1.0)
    b.entries(err, s, -1.0)
    b.entries(cap, R, -util)
    for k in range(K):
        short = 1.0 - avail[k]
        on = np.flatnonzero(short > 0)
        b.entries(cap[on], w[k, on], util * short[on])


def _cohorts(b: _Builder, maxR: np.ndarray, start: StartFleet, R: np.ndarray, w: np.ndarray,
             prev_R: np.ndarray | None, prev_w: np.ndarray | None) -> None:
    """Cold starts longer than a window: removals m[t] >= R[t-1] - R[t]; w[t, k] >= w[t-1, k-1] - m[t]."""
    K, D = w.shape
    m = b.add_cols(np.zeros(D), 0.0, maxR, False)
    rem = b.add_rows(np.full(D, -np.inf), -start.billed.astype(float) if prev_R is None else np.zeros(D))
    b.entries(rem, R, -1.0)
    b.entries(rem, m, -1.0)
    if prev_R is not None:
        b.entries(rem, prev_R, 1.0)
    for k in range(1, K):
        rows = b.add_rows(np.full(D, -np.inf), -start.warm[k - 1].astype(float) if prev_w is None else np.zeros(D))
        b.entries(rows, w[k], -1.0)
        b.entries(rows, m, -1.0)
        if prev_w is not None:
            b.entries(rows, prev_w[k - 1], 1.0)
