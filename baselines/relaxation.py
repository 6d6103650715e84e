"""LP relaxation of the exact MILP (``baselines/milp.py``) with highspy, and rounding of its fleet.

The relaxation has the MILP's constraints with integrality dropped: R_d ∈ [0, maxR_d] and z_a ∈ [0, 1]
continuous, x_id ∈ [0, 1] only on pairs with μ_id > 0, u_i ∈ [0, ζ_i]:

    min  Σ_d cost_d R_d + storage_cost Σ_a gb_a z_a + 3600 Σ_i λ_i (φ_i u_i + ρ_i Σ_d latency_id x_id)
    s.t. Σ_d x_id + u_i = 1                          ∀ i   coverage
         Σ_i (λ_i / μ_id) x_id − R_d ≤ 0             ∀ d   capacity
         Σ_d (e_id − ε_i) x_id ≤ 0                   ∀ i   error SLO
         Σ_d cost_d R_d ≤ budget                           (if finite)
         Σ_{d on g} gpus_d R_d ≤ inventory_g         ∀ g   (where it can bind)
         Σ_a gb_a z_a ≤ storage_gb                         (if finite)
         R_d − maxR_d z_{artifact(d)} ≤ 0            ∀ d
    (link=True) R_d − x_id ≥ 0                       ∀ pairs   valid inequalities, see below

Its optimum is a lower bound on the MILP optimum. The model is built directly as sparse column-wise arrays
and passed to ``highspy`` (building it through PuLP takes seconds at (20,20,20)).

**Link inequalities.** The plain relaxation prices a replica pro rata (R_d = load_d), so it never sees that a
template serving *any* share of a type needs a whole replica: it decomposes into one cheapest blend per type,
and its bound is about half the optimum on the synthetic instances. R_d ≥ x_id is valid for the MILP (R_d is an
integer ≥ 1 whenever x_id > 0, and x_id ≤ 1), and makes the relaxation pay for every template a type uses in
proportion to the share it puts there — so shared low-error replicas become attractive, as they are in the
optimal fleets. Bound on generate(n,n,n), n = 10, 15, 20, seeds 0–2: 83–94 % of the optimum instead of 45–73 %.

**Column generation.** With the link rows the full LP at (20,20,20) has ~25,000 x columns and as many link
rows (HiGHS needs 6–9 s). It is solved exactly by column generation over *templates*: the restricted model
holds every u, R, z column and every coverage/capacity/error/fleet row, but the x columns (and link rows) of a
working set of templates only (initially, per type, the KEEP cheapest by price per share, overall and within
its error SLO). After each solve every other template is priced as a block (R_d together with all its pairs):
with duals σ (coverage), η (error) and the fleet rows' duals, its block lowers the objective iff the fractional
knapsack max Σ_i (−rc_i)⁺ y_i s.t. Σ_i (λ_i/μ_id) y_i ≤ 1, 0 ≤ y_i ≤ 1 (rc_i = c_id − σ_i − w_id η_i) exceeds
its effective $/h — by LP duality this is exactly the condition for the missing columns and link rows to have
a dual-feasible extension, so when no template prices in the restricted optimum is the full LP's (tested).
The ADD_TEMPLATES best are added and the model re-solved from its basis; 1–3 rounds suffice on the synthetic
instances (30–190 ms at (20,20,20) on a loaded 2-core machine). The final pricing gains are kept
(``stats["gain"]``): the least negative are the templates closest to entering the relaxation's fleet.

``allowed`` restricts the templates that may get replicas (R_d ≤ 0 elsewhere; AGH passes its template pool
so that the M1/M3 ablation switches also bound its lp starts); the bound is then that of the restricted problem.

**Rounding.** :func:`branch_and_bound`: a depth-first LP branch and bound on R over a few templates only — the
relaxation's support plus the BB_EXTRA templates with the largest pricing gain — with the link rows, at most
BB_NODES LP solves (a count, so it is deterministic); on such a restricted problem each node is ~1 ms, and it
usually completes (it then returns the optimal fleet over those templates: the RENS idea of MIP solvers).
:func:`round_fleet`: ⌊R⌋ (which always fits, since the fractional fleet does) plus one replica of each template
with a fractional part, cheapest rounding ((1 − frac_d)·cost_d) first, wherever budget, inventory and storage
still allow (both in ``baselines/relaxation_rounding.py``). :func:`lp_start` builds AGH's "lp" (branch-and-bound rounding) and "lp-greedy" starts from them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hetserve_env import highs as _highs
from hetserve_env.formulation import csc, fleet_objective, fleet_rows, routing_block
from hetserve_env.problem import Problem

FRAC_TOL = 1e-6  # R within this of an integer counts as that integer when rounding
KEEP = 4  # initial working set per type: this many cheapest templates overall and within the error SLO
ADD_TEMPLATES = 16  # templates added per column-generation round (largest pricing gain first)
RC_TOL = 1e-9  # a template prices in when its gain exceeds RC_TOL · max(1, |objective|)
MAX_ROUNDS = 200  # column-generation rounds (a safeguard; a handful are needed)


@dataclass
class Relaxation:
    """Solution of the LP relaxation. ``bound`` is its optimal value ($/h), a lower bound on the MILP optimum
    (of the problem restricted to ``allowed`` templates when given). Arrays are ``None`` unless optimal."""

    status: str  # "optimal", "infeasible" or the HiGHS model status
    bound: float = float("nan")
    R: np.ndarray | None = None  # (D,) fractional replicas
    x: np.ndarray | None = None  # (I, D) routing shares
    u: np.ndarray | None = None  # (I,) unmet shares
    z: np.ndarray | None = None  # (A,) fractional storage indicators
    runtime_s: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def optimal(self) -> bool:
        return self.status == "optimal"


# HiGHS's words for the statuses the relaxation can end with, and the relaxation's own
_RELAXATION_STATUS = {"Optimal": "optimal", "Infeasible": "infeasible", "Primal infeasible or unbounded": "infeasible",
                      "Time limit reached": "time_limit"}
_RELAXATION_NO_LIMIT = ("Optimal", "Infeasible", "Primal infeasible or unbounded")


class _Rows:
    """Row bounds and (row, column, value) triplets of the relaxation's LP, appended block by block."""

    def __init__(self) -> None:
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.r: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.m = 0

    def add(self, k: int, lo: Any, hi: Any, r: Any, c: Any, v: Any) -> None:
        """k rows with bounds [lo, hi] and entries (m + r, c, v)."""
        self.lo.extend(np.broadcast_to(np.asarray(lo, dtype=float), (k,)).tolist())
        self.hi.extend(np.broadcast_to(np.asarray(hi, dtype=float), (k,)).tolist())
        self.r.append(self.m + np.asarray(r, dtype=np.int64))
        self.c.append(np.asarray(c, dtype=np.int64))
        self.v.append(np.asarray(v, dtype=float))
        self.m += k


class RelaxationModel:
    """The relaxation as one persistent highspy model. :meth:`solve` solves it (by column generation when
    ``colgen``); :meth:`set_replica_bounds` changes the bounds of R (re-solves start from the last basis; used by
    :func:`branch_and_bound`). ``colgen=False`` builds the model over every pair at once (used on small
    restricted problems, and to check the column generation). ``time_limit`` (s) bounds each HiGHS call."""

    def __init__(self, problem: Problem, *, allowed: np.ndarray | None = None, link: bool = True,
                 colgen: bool = True, time_limit: float | None = None) -> None:
        hs = _highs.highspy()  # imported here, so GH never needs it

        t0 = time.perf_counter()
        self.hs, self.problem, self.link, self.colgen = hs, problem, link, colgen
        self.time_limit = _highs.check_time_limit(time_limit)
        p = problem
        I, D, A = p.n_types, p.n_templates, len(p.artifact_names)
        lam = p.rate
        maxR = p.max_replicas().astype(float)
        if allowed is not None:
            maxR = np.where(np.asarray(allowed, dtype=bool), maxR, 0.0)
        self.maxR = maxR
        # every pair (type-major) but those on a template that may not get replicas (they carry nothing)
        blk = routing_block(p, (maxR[None, :] > 0) | (lam[:, None] <= 0))
        self.block = blk
        self.ii, self.dd, self.error, self.load, self.c_x = blk.ii, blk.dd, blk.error, blk.load, blk.delay_cost

        # columns: u (I), R (D), z (A), then the x columns in the order they enter the model
        self.cu, self.cR, self.cz, self.cx0 = 0, I, I + D, I + D + A
        # rows: coverage (I), capacity (D), error (I), stored (templates that may get replicas), budget,
        # inventory (where it can bind), storage; then one link row per x column (link=True)
        self.r_cov, self.r_cap, self.r_err = 0, I, I + D
        rows = self._fixed_rows(hs.kHighsInf)
        tpl_in = self._initial_templates()
        sel = np.flatnonzero(tpl_in[self.dd])
        self._x_rows(rows, sel, hs.kHighsInf)
        self.h = self._pass_model(rows, sel, time_limit)
        self.tpl_in = tpl_in
        self.in_model = tpl_in[self.dd].copy()
        self.order_x = sel.astype(np.int64)  # pair index of every x column, in column order
        self.n_solves = self.rounds = self.iterations = self.added = 0
        self.gain: np.ndarray | None = None
        self.build_s = time.perf_counter() - t0

    def _fixed_rows(self, inf: float) -> _Rows:
        """Coverage, capacity and error rows (u and R parts) and the fleet rows; records R's coefficients in the
        fleet rows (``fr``, ``fc``, ``fv``: the effective $/h of a template in the pricing)."""
        p, I, D, cR = self.problem, self.problem.n_types, self.problem.n_templates, self.cR
        rows = _Rows()
        rows.add(I, 1.0, 1.0, np.arange(I), self.cu + np.arange(I), np.ones(I))  # coverage (u part)
        rows.add(D, -inf, 0.0, np.arange(D), cR + np.arange(D), -np.ones(D))  # capacity (R part)
        rows.add(I, -inf, 0.0, [], [], [])  # error SLO (x entries only)
        n_fixed = len(rows.r)
        fleet = fleet_rows(p, self.maxR)  # stored, budget, inventory, storage: columns d (R_d) and D + a (z_a)
        rows.add(len(fleet.upper), -inf, fleet.upper, fleet.rows, cR + fleet.cols, fleet.values)
        fr, fc, fv = (np.concatenate(t[n_fixed:]) for t in (rows.r, rows.c, rows.v))
        is_R = (fc >= cR) & (fc < self.cz)
        self.fr, self.fc, self.fv = fr[is_R], fc[is_R] - cR, fv[is_R]
        return rows

    def _initial_templates(self) -> np.ndarray:
        """The initial working set of templates (all without column generation; a template's pairs enter together)."""
        tpl_in = np.ones(self.problem.n_templates, dtype=bool)
        if self.colgen:
            dd, load = self.dd, self.load
            per_share = self.c_x + self.problem.cost[dd] * (np.maximum(load, 1.0) if self.link else load)
            tpl_in[:] = False
            tpl_in[dd[_initial_pairs(self.ii, self.error, per_share)]] = True
        return tpl_in

    def _x_rows(self, rows: _Rows, sel: np.ndarray, inf: float) -> None:
        """The x columns of pairs ``sel``: their coverage, capacity and error entries, then their link rows."""
        ii, dd, k = self.ii, self.dd, len(sel)
        xc = self.cx0 + np.arange(k)
        xr, xcol, xv = self.block.take(sel).x_entries(self.r_cov + ii[sel], self.r_cap + dd[sel],
                                                      self.r_err + ii[sel], xc)
        rows.r.append(xr)
        rows.c.append(xcol)
        rows.v.append(xv)
        if self.link:
            rows.add(k, 0.0, inf, np.concatenate([np.arange(k)] * 2), np.concatenate([self.cR + dd[sel], xc]),
                     np.concatenate([np.ones(k), -np.ones(k)]))

    def _pass_model(self, rows: _Rows, sel: np.ndarray, time_limit: float | None) -> Any:
        """The HiGHS model of these rows and columns (colwise), passed to a new HiGHS instance."""
        hs, p, k = self.hs, self.problem, len(sel)
        n = self.cx0 + k
        start, r, v = csc(*(np.concatenate(t) for t in (rows.r, rows.c, rows.v)), n)
        lp = hs.HighsLp()
        lp.num_col_ = n
        lp.num_row_ = rows.m
        lp.col_cost_ = np.concatenate([self.block.unmet_cost, *fleet_objective(p), self.c_x[sel]])
        lp.col_lower_ = np.zeros(n)
        lp.col_upper_ = np.concatenate([p.max_unmet, self.maxR, np.ones(len(p.artifact_names)), np.ones(k)])
        lp.row_lower_ = np.asarray(rows.lo)
        lp.row_upper_ = np.asarray(rows.hi)
        lp.a_matrix_.format_ = hs.MatrixFormat.kColwise
        lp.a_matrix_.start_ = start
        lp.a_matrix_.index_ = r
        lp.a_matrix_.value_ = v
        h = _highs.new(time_limit=time_limit)
        h.passModel(lp)
        return h

    def set_replica_bounds(self, lower: np.ndarray, upper: np.ndarray) -> None:
        """Bounds on every R_d (upper capped at maxR_d)."""
        D = self.problem.n_templates
        hi = np.minimum(np.asarray(upper, dtype=float), self.maxR)
        lo = np.minimum(np.asarray(lower, dtype=float), hi)
        self.h.changeColsBounds(D, (self.cR + np.arange(D)).astype(np.int32), lo, hi)

    def _run(self) -> str:
        """One HiGHS run: "optimal", "infeasible" (a branch-and-bound node may be) or "time_limit" (only with a
        ``time_limit``); any other status raises :class:`hetserve_env.highs.HighsStatusError`."""
        h = self.h
        accept = _RELAXATION_STATUS if self.time_limit is not None else _RELAXATION_NO_LIMIT
        status = _highs.run_expect(h, "LP relaxation", accept)
        self.n_solves += 1
        self.iterations += int(getattr(h.getInfo(), "simplex_iteration_count", 0))
        return _RELAXATION_STATUS[status]

    def _price(self) -> np.ndarray:
        """Per template: the most its block (R_d with all its pairs) could lower the objective per replica unit
        at the current duals (> 0: it prices in). Exact for the relaxation (see the module docstring)."""
        p, ii, dd = self.problem, self.ii, self.dd
        I, D = p.n_types, p.n_templates
        y = np.asarray(self.h.getSolution().row_dual)
        rc = np.zeros((I, D))
        rc[ii, dd] = self.c_x - y[self.r_cov + ii] - self.error * y[self.r_err + ii]
        serv = np.zeros((I, D), dtype=bool)
        serv[ii, dd] = True
        size = np.zeros((I, D))
        size[ii, dd] = self.load
        eff = p.cost - np.bincount(self.fc, weights=y[self.fr] * self.fv, minlength=D)
        value = fractional_knapsack(np.where(serv, np.maximum(-rc, 0.0), 0.0), size, unit_cap=self.link)
        return np.where(self.maxR <= 0, -np.inf, value - eff)

    def _add_templates(self, new_t: np.ndarray) -> None:
        h, ii, dd, w = self.h, self.ii, self.dd, self.error
        self.tpl_in[new_t] = True
        self.added += len(new_t)
        new = np.flatnonzero(np.isin(dd, new_t) & ~self.in_model)
        if len(new) == 0:
            return
        self.in_model[new] = True
        k = len(new)
        col0 = h.getNumCol()
        xr, xc, xv = self.block.take(new).x_entries(self.r_cov + ii[new], self.r_cap + dd[new], self.r_err + ii[new],
                                                    np.arange(k))
        st, idx, val = csc(xr, xc, xv, k)
        h.addCols(k, self.c_x[new], np.zeros(k), np.ones(k), len(idx), st[:-1].astype(np.int32), idx.astype(np.int32),
                  val)
        if self.link:
            lidx = np.stack([self.cR + dd[new], col0 + np.arange(k)], axis=1).ravel().astype(np.int32)
            h.addRows(k, np.zeros(k), np.full(k, self.hs.kHighsInf), 2 * k, (2 * np.arange(k)).astype(np.int32), lidx,
                      np.tile([1.0, -1.0], k))
        self.order_x = np.concatenate([self.order_x, new])

    def solve(self, price: bool = True) -> Relaxation:
        """Solve (with column generation: re-solve while a template prices in; ``price=False``: one solve over
        the current working set, e.g. in branch and bound, where the set is fixed)."""
        t0 = time.perf_counter()
        p = self.problem
        while True:
            status = self._run()
            self.rounds += 1
            if status != "optimal" or not (self.colgen and price) or self.tpl_in.all():
                break
            gain = self._price()
            self.gain = gain
            tol = RC_TOL * max(1.0, abs(self.h.getInfo().objective_function_value))
            cand = np.flatnonzero((gain > tol) & ~self.tpl_in)
            if len(cand) == 0 or self.rounds >= MAX_ROUNDS:
                break
            self._add_templates(cand[np.argsort(-gain[cand], kind="stable")[:ADD_TEMPLATES]])
        stats = {"rounds": self.rounds, "lp_solves": self.n_solves, "simplex_iterations": self.iterations,
                 "pairs": len(self.ii), "pairs_in_model": int(self.in_model.sum()),
                 "templates_in_model": int(self.tpl_in.sum()), "templates_added": self.added,
                 "n_rows": int(self.h.getNumRow()), "n_cols": int(self.h.getNumCol()), "link": self.link,
                 "colgen": self.colgen, "build_s": self.build_s}
        if status != "optimal":
            return Relaxation(status, runtime_s=time.perf_counter() - t0, stats=stats)
        I, D, A = p.n_types, p.n_templates, len(p.artifact_names)
        col = np.asarray(self.h.getSolution().col_value)
        px = self.order_x
        x = np.zeros((I, D))
        x[self.ii[px], self.dd[px]] = np.clip(col[self.cx0:self.cx0 + len(px)], 0.0, 1.0)
        u = np.clip(col[self.cu:self.cu + I], 0.0, p.max_unmet)
        R = np.clip(col[self.cR:self.cR + D], 0.0, None)
        z = np.clip(col[self.cz:self.cz + A], 0.0, 1.0)
        bound = float(self.h.getInfo().objective_function_value)
        return Relaxation(status, bound, R, x, u, z, time.perf_counter() - t0, stats)


def solve_relaxation(problem: Problem, *, allowed: np.ndarray | None = None, link: bool = True,
                     colgen: bool = True, time_limit: float | None = None) -> Relaxation:
    """Solve the LP relaxation of the MILP (with the link inequalities when ``link``) with highspy, one thread.
    ``stats["gain"]`` holds every template's pricing gain at the optimum (≤ 0 up to tolerance; the least
    negative ones are the templates closest to entering the relaxation's fleet)."""
    t0 = time.perf_counter()
    model = RelaxationModel(problem, allowed=allowed, link=link, colgen=colgen, time_limit=time_limit)
    rel = model.solve()
    if rel.optimal and model.colgen and model.gain is None:
        model.gain = model._price()
    rel.stats["gain"] = model.gain
    rel.runtime_s = time.perf_counter() - t0
    return rel


def fractional_knapsack(val: np.ndarray, size: np.ndarray, unit_cap: bool) -> np.ndarray:
    """Per template (column): max Σ_i val_i x_i s.t. Σ_i size_i x_i ≤ 1 and 0 ≤ x_i ≤ 1 (``unit_cap``; else
    x_i unbounded above, i.e. the best density) — a fractional knapsack, greedy by density."""
    dens = np.divide(val, size, out=np.where(val > 0, np.inf, 0.0), where=size > 0)
    if not unit_cap:
        return dens.max(axis=0, initial=0.0)
    order = np.argsort(-dens, axis=0, kind="stable")
    v = np.take_along_axis(val, order, axis=0)
    s = np.take_along_axis(size, order, axis=0)
    before = np.cumsum(s, axis=0) - s
    frac = np.where(s > 0, np.clip((1.0 - before) / np.where(s > 0, s, 1.0), 0.0, 1.0), 1.0)
    return (v * frac).sum(axis=0)


def _initial_pairs(ii: np.ndarray, w: np.ndarray, price: np.ndarray) -> np.ndarray:
    """Per type the KEEP cheapest pairs by ``price`` and the KEEP cheapest within its error SLO (w ≤ 0)."""
    out = []
    for low in (False, True):
        idx = np.flatnonzero(w <= 0) if low else np.arange(len(ii))
        idx = idx[np.lexsort((price[idx], ii[idx]))]
        first = np.searchsorted(ii[idx], ii[idx], side="left")
        out.append(idx[np.arange(len(idx)) - first < KEEP])
    return np.union1d(out[0], out[1]).astype(np.int64)
