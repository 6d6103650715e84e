"""AGH's routing LP of a fixed fleet (the relocate local search in exact form), one persistent HiGHS model.

Its rows and objective coefficients are :mod:`hetserve_env.formulation`'s routing block; HiGHS runs through
:mod:`hetserve_env.highs`. Used by AGH's fleet search and the LP-relaxation starts (``baselines/relaxation.py``).
"""

from __future__ import annotations

import numpy as np

from hetserve_env import highs as _highs
from hetserve_env.formulation import csc, routing_block

from .gh_state import Context, State

ELASTIC = 1e5  # $/h per share of demand left uncovered beyond ζ in the routing LP (repair of infeasible starts)



class RoutingLP:
    """The routing LP of a fixed fleet R (the relocate local search in exact form), solved with highspy.

    min Σ_i λ_i (Σ_d delay_id x_id + unmet_i u_i)  s.t. coverage, capacity Σ_i λ_i x_id / μ_id ≤ R_d, error SLO,
    0 ≤ u_i ≤ ζ_i — over the active templates only. Returns the routing, its cost and the duals used to bound
    the gain of fleet moves (the LP value is convex in the capacities, so the duals give valid bounds).
    """

    def __init__(self, ctx: Context) -> None:
        self.hs = _highs.highspy()  # imported here, so GH never needs it
        self.ctx = ctx
        self.n_solves = 0
        self.n_builds = 0
        self.h = None
        self.U = np.zeros(0, dtype=np.int64)
        self.pos = np.full(ctx.D, -1, dtype=np.int64)

    def _build(self, U: np.ndarray) -> None:
        """(Re)build the persistent model over the template universe U (capacity rows' bounds set per solve)."""
        ctx, hs = self.ctx, self.hs
        I = ctx.I
        nU = len(U)
        in_U = np.zeros(ctx.D, dtype=bool)
        in_U[U] = True
        blk = routing_block(ctx.problem, in_U[None, :])
        ii, dd = blk.ii, blk.dd
        jj = np.searchsorted(U, dd)
        nx = blk.n
        n = nx + 2 * I
        m = 2 * I + nU
        lp = hs.HighsLp()
        lp.num_col_ = n
        lp.num_row_ = m
        lp.col_cost_ = np.concatenate([blk.delay_cost, blk.unmet_cost, np.full(I, ELASTIC)])
        lp.col_lower_ = np.zeros(n)
        lp.col_upper_ = np.concatenate([np.ones(nx), ctx.problem.max_unmet, np.ones(I)])
        lp.row_lower_ = np.concatenate([np.ones(I), np.full(nU + I, -hs.kHighsInf)])
        lp.row_upper_ = np.concatenate([np.ones(I), np.zeros(nU), np.zeros(I)])
        # rows: coverage (I), capacity (nU, upper bound = the fleet, set per solve), error (I);
        # cols: x pairs, u (I), v (I: elastic uncovered share), both in the coverage rows
        r, c, v = blk.x_entries(ii, I + jj, I + nU + ii, np.arange(nx), drop_zero_error=False)
        start, index, value = csc(np.concatenate([r, np.arange(I), np.arange(I)]),
                                  np.concatenate([c, nx + np.arange(2 * I)]), np.concatenate([v, np.ones(2 * I)]), n)
        lp.a_matrix_.format_ = hs.MatrixFormat.kColwise
        lp.a_matrix_.start_ = start
        lp.a_matrix_.index_ = index
        lp.a_matrix_.value_ = value
        h = _highs.new()
        h.passModel(lp)
        self.h, self.U, self.ii, self.dd, self.nx = h, U, ii, dd, nx
        self.pos = np.full(ctx.D, -1, dtype=np.int64)
        self.pos[U] = np.arange(nU)
        self.n_builds += 1

    def ensure(self, templates: np.ndarray, R: np.ndarray) -> None:
        """Make the universe hold ``templates`` and the fleet R's (rebuilt once, before a batch of evaluations)."""
        need = np.union1d(np.asarray(templates, dtype=np.int64), np.flatnonzero(R > 0))
        if self.h is None or (self.pos[need] < 0).any():
            self._build(need)

    def solve(self, R: np.ndarray) -> dict:
        """Route on fleet R. Elastic: demand beyond ζ_i may go uncovered (``v``) at ELASTIC $/h per share, so
        every fleet has a routing and the fleet search can repair an infeasible start; ``shortfall`` = Σ v.

        One persistent HiGHS model over a universe of templates (grown when a fleet uses a new one) is re-solved
        with the fleet as the capacity rows' upper bounds (0 for templates not in the fleet), so each solve
        is a hot start from the previous basis."""
        ctx, hs = self.ctx, self.hs
        I = ctx.I
        A = np.flatnonzero(R > 0)
        if self.h is None or (self.pos[A] < 0).any():
            U = np.union1d(self.U, A) if self.h is not None else A
            if self.h is not None and len(U) > 3 * max(len(A), 8):
                U = A  # the universe has grown stale: restart it from this fleet
            self._build(U.astype(np.int64))
        h, U = self.h, self.U
        nU = len(U)
        h.changeRowsBounds(nU, np.arange(I, I + nU, dtype=np.int32), np.full(nU, -hs.kHighsInf), R[U].astype(float))
        # elastic, so always feasible and bounded: any status but "Optimal" raises (never read as "no routing")
        _highs.run_expect(h, "AGH routing LP")
        self.n_solves += 1
        sol = h.getSolution()
        col = np.asarray(sol.col_value)
        dual = np.asarray(sol.row_dual)
        nx = self.nx
        x = np.zeros((I, ctx.D))
        x[self.ii, self.dd] = np.clip(col[:nx], 0.0, 1.0)
        x[:, R == 0] = 0.0
        u = np.clip(col[nx:nx + I], 0.0, ctx.problem.max_unmet)
        v = np.clip(col[nx + I:], 0.0, 1.0)
        cap_dual = np.minimum(dual[I:I + nU], 0.0)
        return {"x": x, "u": u, "v": v, "shortfall": float(v.sum()),
                "routing_cost": float(h.getInfo().objective_function_value),
                "sigma": dual[:I], "pi": cap_dual[self.pos[A]], "eta": np.minimum(dual[I + nU:I + nU + I], 0.0), "A": A}



def state_from_lp(ctx: Context, R: np.ndarray, res: dict) -> State:
    """A State holding fleet R and the LP's routing."""
    st = State.empty(ctx)
    for d in np.flatnonzero(R > 0):
        st.add_replicas(ctx, int(d), int(R[d]))
    st.x = res["x"].copy()
    st.u = res["u"].copy()
    st.load = (ctx.rate[:, None] * st.x * ctx.inv_capacity).sum(axis=0)
    return st
