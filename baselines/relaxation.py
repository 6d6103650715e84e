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
still allow. :func:`lp_start` builds AGH's "lp" (branch-and-bound rounding) and "lp-greedy" starts from them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from typing import Any, Sequence

import numpy as np

from hetserve_env import fleet_cost, highs as _highs
from hetserve_env.formulation import csc, fleet_objective, fleet_rows, routing_block
from hetserve_env.problem import Problem

from .routing_lp import RoutingLP, state_from_lp

FRAC_TOL = 1e-6  # R within this of an integer counts as that integer when rounding
KEEP = 4  # initial working set per type: this many cheapest templates overall and within the error SLO
ADD_TEMPLATES = 16  # templates added per column-generation round (largest pricing gain first)
RC_TOL = 1e-9  # a template prices in when its gain exceeds RC_TOL · max(1, |objective|)
MAX_ROUNDS = 200  # column-generation rounds (a safeguard; a handful are needed)
BB_EXTRA = 10  # templates outside the relaxation's support given to the branch and bound (closest to pricing in)
BB_NODES = 200  # LP solves of the branch and bound (a count: deterministic)


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
        I, D, A, G = p.n_types, p.n_templates, len(p.artifact_names), p.n_gpu_types
        lam = p.rate
        maxR = p.max_replicas().astype(float)
        if allowed is not None:
            maxR = np.where(np.asarray(allowed, dtype=bool), maxR, 0.0)
        self.maxR = maxR
        # every pair (type-major) but those on a template that may not get replicas (they carry nothing)
        blk = routing_block(p, (maxR[None, :] > 0) | (lam[:, None] <= 0))
        self.block = blk
        ii, dd, w, load, c_x = blk.ii, blk.dd, blk.error, blk.load, blk.delay_cost
        self.ii, self.dd, self.w, self.load, self.c_x = ii, dd, w, load, c_x

        # columns: u (I), R (D), z (A), then the x columns in the order they enter the model
        self.cu, self.cR, self.cz, self.cx0 = 0, I, I + D, I + D + A
        cR, cz, cx0 = self.cR, self.cz, self.cx0
        # rows: coverage (I), capacity (D), error (I), stored (templates that may get replicas), budget,
        # inventory (where it can bind), storage; then one link row per x column (link=True)
        self.r_cov, self.r_cap, self.r_err = 0, I, I + D
        inf = hs.kHighsInf
        rows_lo: list[float] = []
        rows_hi: list[float] = []
        tr: list[np.ndarray] = []
        tc: list[np.ndarray] = []
        tv: list[np.ndarray] = []
        m = 0

        def rows(k: int, lo: Any, hi: Any, r: Any, c: Any, v: Any) -> None:
            nonlocal m
            rows_lo.extend(np.broadcast_to(np.asarray(lo, dtype=float), (k,)).tolist())
            rows_hi.extend(np.broadcast_to(np.asarray(hi, dtype=float), (k,)).tolist())
            tr.append(m + np.asarray(r, dtype=np.int64))
            tc.append(np.asarray(c, dtype=np.int64))
            tv.append(np.asarray(v, dtype=float))
            m += k

        rows(I, 1.0, 1.0, np.arange(I), self.cu + np.arange(I), np.ones(I))  # coverage (u part)
        rows(D, -inf, 0.0, np.arange(D), cR + np.arange(D), -np.ones(D))  # capacity (R part)
        rows(I, -inf, 0.0, [], [], [])  # error SLO (x entries only)
        n_fixed = len(tr)
        fleet = fleet_rows(p, maxR)  # stored, budget, inventory, storage: columns d (R_d) and D + a (z_a)
        rows(len(fleet.upper), -inf, fleet.upper, fleet.rows, cR + fleet.cols, fleet.values)
        # R's coefficients in the fleet rows, for the effective $/h of a template in the pricing
        fr, fc, fv = (np.concatenate(t[n_fixed:]) for t in (tr, tc, tv))
        is_R = (fc >= cR) & (fc < cz)
        self.fr, self.fc, self.fv = fr[is_R], fc[is_R] - cR, fv[is_R]

        # initial working set of templates (a template's pairs all enter together)
        tpl_in = np.ones(D, dtype=bool)
        if colgen:
            per_share = c_x + p.cost[dd] * (np.maximum(load, 1.0) if link else load)
            tpl_in[:] = False
            tpl_in[dd[_initial_pairs(ii, w, per_share)]] = True
        sel = np.flatnonzero(tpl_in[dd])
        k = len(sel)
        xc = cx0 + np.arange(k)
        xr, xcol, xv = blk.take(sel).x_entries(self.r_cov + ii[sel], self.r_cap + dd[sel], self.r_err + ii[sel], xc)
        tr.append(xr)
        tc.append(xcol)
        tv.append(xv)
        if link:
            rows(k, 0.0, inf, np.concatenate([np.arange(k)] * 2), np.concatenate([cR + dd[sel], xc]),
                 np.concatenate([np.ones(k), -np.ones(k)]))
        n = cx0 + k
        start, r, v = csc(*(np.concatenate(t) for t in (tr, tc, tv)), n)
        lp = hs.HighsLp()
        lp.num_col_ = n
        lp.num_row_ = m
        lp.col_cost_ = np.concatenate([blk.unmet_cost, *fleet_objective(p), c_x[sel]])
        lp.col_lower_ = np.zeros(n)
        lp.col_upper_ = np.concatenate([p.max_unmet, maxR, np.ones(A), np.ones(k)])
        lp.row_lower_ = np.asarray(rows_lo)
        lp.row_upper_ = np.asarray(rows_hi)
        lp.a_matrix_.format_ = hs.MatrixFormat.kColwise
        lp.a_matrix_.start_ = start
        lp.a_matrix_.index_ = r
        lp.a_matrix_.value_ = v
        h = _highs.new(time_limit=time_limit)
        h.passModel(lp)
        self.h = h
        self.tpl_in = tpl_in
        self.in_model = tpl_in[dd].copy()
        self.order_x = sel.astype(np.int64)  # pair index of every x column, in column order
        self.n_solves = self.rounds = self.iterations = self.added = 0
        self.gain: np.ndarray | None = None
        self.build_s = time.perf_counter() - t0

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
        rc[ii, dd] = self.c_x - y[self.r_cov + ii] - self.w * y[self.r_err + ii]
        serv = np.zeros((I, D), dtype=bool)
        serv[ii, dd] = True
        size = np.zeros((I, D))
        size[ii, dd] = self.load
        eff = p.cost - np.bincount(self.fc, weights=y[self.fr] * self.fv, minlength=D)
        value = fractional_knapsack(np.where(serv, np.maximum(-rc, 0.0), 0.0), size, unit_cap=self.link)
        return np.where(self.maxR <= 0, -np.inf, value - eff)

    def _add_templates(self, new_t: np.ndarray) -> None:
        h, ii, dd, w = self.h, self.ii, self.dd, self.w
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
