"""Adaptive Greedy Heuristic (AGH): GH + multi-start + relocate local search + GPU consolidation (DESIGN §3).

Stage 1 — **multi-start construction.** GH's construction (coverage phase + main phase with M1/M2/M3) from
several type orderings: GH's own (descending load) always first, then ``starts`` — "slo" (tightest delay SLO
relative to the fastest template first), "error" (fewest templates within the error SLO first), "hub" (GH's
order, but one replica of a *hub* template opened first: templates that could be the low-error side of many
types' blends, the best by low-error demand covered per $ and outright) — and ``random_starts`` seeded random
permutations. Each start gets one round of the numpy moves below. "lp" (``lp_start=True``) adds the
**LP-relaxation starts** (``baselines/relaxation.py``, not an ordering): the LP relaxation of the exact MILP
(with the valid link rows R_d ≥ x_id, by column generation), its fleet rounded by a small LP branch and bound
over the relaxation's support ("lp") and greedily ("lp-greedy"), routed by the routing LP. They are a separate
mechanism from the paper's heuristic: ablations of M1/M2/M3, local search, consolidation or the multi-start
should pass ``lp_start=False`` (with M1 or M3 off they are restricted to the heuristic's template pool).

Stage 2 — on the POLISH_TOP best distinct fleets (the lp starts take places among them; they skip the
numpy rounds here and go straight to the fleet search) and every hub start:

* **Relocate local search** (``local_search``; numpy, vectorised over targets): move (part of) a type's share
  — all of it, the part that frees a replica, or what fills a target's spare capacity, each capped by the type's
  error slack — to another template (spare or new replicas) or to unmet demand within ζ; *re-blend*: move the
  low-error side of a blend to another template and restore the error SLO by moving share off the type's
  highest-error template; ruin-and-recreate: clear one type (or every type of one deployment, which is then
  banned) and re-place it with GH's step rule. Every move is scored exactly in $/h and kept only if it saves.
* **GPU consolidation** (``consolidation``): *drop* one replica by re-routing its excess load onto spare
  capacity elsewhere (cheapest delay first) or unmet demand; *merge* a whole deployment into another template;
  then the **fleet search with the routing LP**: for a fixed fleet the best routing is an LP (solved with
  highspy: the relocate local search in exact form); fleet moves — drop one replica, add one, swap one for
  another, merge two into one, and compound moves (an add/swap followed by the drops it makes worthwhile) — are
  ranked by upper bounds on their gain from the LP duals (the LP value is convex in the capacities) and kept if
  the re-routed fleet is cheaper. The routing LP is elastic (uncovered demand at a large penalty), so a start
  that GH could not complete (e.g. under a tight budget) can be repaired.

The best allocation found (feasible first, then lowest $/h; GH's own result is a candidate, so AGH is never
worse than GH) is confirmed by ``evaluate``. The work is bounded by counts (LP solves per fleet and per run,
by instance size: LP_BUDGETS), so AGH is deterministic for a seed. ``time_budget_s`` instead lets the LP
fleet search run until the time is up (better results on large instances, not deterministic).
"""

from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import numpy as np

from hetserve_env import highs as _highs
from hetserve_env.problem import Problem

from .gh import EPS, Context, GHOptions, State, _label, _log_filter, _Log, construct, gh_solution, place_type
from .relaxation import _fits, _knapsack, describe, lp_start as _lp_start
from .solution import Solution

COMPOUND_ADDS = 24  # adds priced by the routing LP per fleet-search step when no single move gains
COMPOUND_SWAPS = 8  # swaps priced likewise
COMPOUND_TRIES = 4  # of those, the best few are followed by drops (a compound move)
MERGE_TRIES = 16  # two-into-one merges evaluated per fleet-search step (best bound first)
DROP_TRIES = 3  # drops evaluated per step of a compound move (in the order of their bound)
RECREATE = True  # ruin-and-recreate passes in stage 2's local search
STAGE2_ROUNDS = 3  # local-search rounds (relocate, consolidation, ruin-and-recreate) per polished fleet
# routing-LP solves (per polished fleet, per AGH run) by instance size I·D: (limit, per fleet, total)
LP_BUDGETS = ((2_000, 400, 1_200), (20_000, 200, 500), (None, 100, 250))


def _lp_budgets(ctx: Context) -> tuple[int, int]:
    size = ctx.I * ctx.D
    for limit, per_fleet, total in LP_BUDGETS:
        if limit is None or size <= limit:
            return per_fleet, total
    raise AssertionError
ELASTIC = 1e5  # $/h per share of demand left uncovered beyond ζ in the routing LP (repair of infeasible starts)
POLISH_TOP = 3  # distinct fleets (best after local search) given to the routing LP / fleet moves
SHORTLIST = 24  # cheapest candidates per type (overall and within the error SLO) tried as relocate targets


def _shortlists(ctx: Context) -> list[np.ndarray]:
    """Per type: the SHORTLIST cheapest candidates per req/s, plus the SHORTLIST cheapest within its error SLO."""
    if getattr(ctx, "_short", None) is None:
        out = []
        for i in range(ctx.I):
            c = ctx.cidx[i]
            price = ctx.unit[i, c]
            best = c[np.argsort(price, kind="stable")[:SHORTLIST]]
            low = c[ctx.w[i, c] <= 0]
            best_low = low[np.argsort(ctx.unit[i, low], kind="stable")[:SHORTLIST]]
            out.append(np.union1d(best, best_low).astype(np.int64))
        ctx._short = out
    return ctx._short


def _fleet_change(ctx: Context, before: np.ndarray, after: np.ndarray) -> str:
    """Explain only: the replicas a move opened and closed, e.g. "; fleet: +1 x A, -2 x B"."""
    diff = after.astype(np.int64) - before.astype(np.int64)
    ch = [f"{int(diff[d]):+d} x {_label(ctx, int(d))}" for d in np.flatnonzero(diff)]
    return ("; fleet: " + ", ".join(ch)) if ch else "; fleet unchanged (routing only)"


class _Accepts:
    """Counts accepted moves (``n_moves``) and logs each one (``log``): shared by _Moves and FleetSearch."""

    log: _Log
    n_moves: int

    def _accept(self, what: Callable[[], str], saving: float, tail: Callable[[], str] | None = None) -> bool:
        """Record an applied move: the line is ``what(), saves $<saving>/h`` then ``tail()`` (built only with
        explain). Returns True, so a move method can end with ``return self._accept(...)``."""
        self.n_moves += 1
        self.log(lambda: f"{what()}, saves ${saving:.4f}/h" + (tail() if tail is not None else ""))
        return True


class _Moves(_Accepts):
    """Local-search moves on a State; every move is scored exactly in $/h (the evaluate objective)."""

    def __init__(self, ctx: Context, st: State, log: _Log, deadline: float, opt: GHOptions | None = None) -> None:
        self.ctx, self.st, self.log, self.deadline = ctx, st, log, deadline
        self.opt = opt or GHOptions()
        self.short = _shortlists(ctx)
        self.n_moves = 0

    def out_of_time(self) -> bool:
        return time.perf_counter() > self.deadline

    def tol(self) -> float:
        """Smallest saving ($/h) worth a move: 1e-6 relative (round-off never counts as an improvement)."""
        return 1e-6 * max(1.0, abs(self.st.spent))

    # ------------------------------------------------------------ shared feasibility/cost pieces
    def _targets(self, i: int, exclude: int) -> np.ndarray:
        ctx, st = self.ctx, self.st
        act = np.flatnonzero((st.R > 0) & ctx.servable[i])
        T = np.union1d(self.short[i], act)
        return T[T != exclude]

    def _place_cost(self, i: int, T: np.ndarray, a: np.ndarray, freed_cost: np.ndarray | float,
                    freed_gpus_on: np.ndarray | float, freed_gb: np.ndarray | float):
        """Replicas needed, $/h added (rental + storage) and feasibility of putting ``a`` req/s of i on T."""
        ctx, st = self.ctx, self.st
        k2 = np.maximum(np.ceil(st.load[T] + a * ctx.inv_mu[i, T] - st.R[T] - EPS), 0.0)
        new_art = (st.art_R[ctx.art[T]] == 0) & (k2 > 0)
        add = k2 * ctx.cost[T] + ctx.storage_add[ctx.art[T]] * new_art
        ok = np.ones(np.shape(k2), dtype=bool)
        if math.isfinite(ctx.budget):
            ok &= st.spent + k2 * ctx.cost[T] - freed_cost <= ctx.budget + 1e-9
        ok &= st.inv_used[ctx.gpu[T]] + k2 * ctx.gpus[T] - freed_gpus_on <= ctx.inventory[ctx.gpu[T]] + 1e-9
        if math.isfinite(ctx.storage_gb):
            ok &= st.storage_used + ctx.art_gb[ctx.art[T]] * new_art - freed_gb <= ctx.storage_gb + 1e-9
        return k2, add, ok

    def _freed(self, d1: int, removed_load: np.ndarray):
        """Replicas of d1 freed when ``removed_load`` (replica units) leaves it."""
        st = self.st
        return st.R[d1] - np.maximum(np.ceil(st.load[d1] - removed_load - EPS), 0.0)

    # ------------------------------------------------------------ relocate
    def relocate_share(self, i: int, d1: int) -> bool:
        """Best move of (part of) type i's share on d1 to another template or to unmet; apply if it saves."""
        ctx, st = self.ctx, self.st
        lam = ctx.lam[i]
        full = lam * st.x[i, d1]
        if full <= 0:
            return False
        T = self._targets(i, d1)
        S = max(st.slack(ctx, i), 0.0)
        w1, dl1, imu1 = ctx.w[i, d1], ctx.delay_unit[i, d1], ctx.inv_mu[i, d1]
        excess = (st.load[d1] - (st.R[d1] - 1)) * ctx.mu[i, d1]
        a_drop = min(max(excess, 0.0) * (1 + 1e-12), full)
        a_fill = np.clip((st.R[T] - st.load[T]) * ctx.mu[i, T], 0.0, full)
        dw = ctx.w[i, T] - w1
        lim = np.where(dw > 0, S / np.where(dw > 0, dw, 1.0), np.inf)
        A = np.minimum(np.stack([np.full(len(T), full), np.full(len(T), a_drop), a_fill]), lim[None, :])
        a1 = ctx.art[d1]
        best = (0.0, None)
        g1 = ctx.gpu[d1]
        if len(T):  # the three amounts x every target in one evaluation (arrays of shape (3, |T|))
            s1 = self._freed(d1, A * imu1)
            same_art = ctx.art[T] == a1
            freed_gb_mask = (st.art_R[a1] > 0) & (st.art_R[a1] - s1 == 0)
            k2, add, ok = self._place_cost(i, T, A, s1 * ctx.cost[d1], (ctx.gpu[T] == g1) * s1 * ctx.gpus[d1],
                                           np.where(freed_gb_mask & ~same_art, ctx.art_gb[a1], 0.0))
            still = st.art_R[a1] - s1 + same_art * k2
            freed_store = np.where((still == 0) & (st.art_R[a1] > 0), ctx.storage_add[a1], 0.0)
            delta = add - s1 * ctx.cost[d1] - freed_store + A * (ctx.delay_unit[i, T] - dl1)
            delta = np.where(ok & (A > 1e-12), delta, np.inf)
            row, j = np.unravel_index(int(np.argmin(delta)), delta.shape)
            if delta[row, j] < best[0]:
                best = (float(delta[row, j]), ("move", int(T[j]), float(A[row, j]), int(k2[row, j]), int(s1[row, j])))
        # to unmet (within ζ_i), capped by slack when d1 is a low-error template
        room = max(ctx.unmet_cap[i] - lam * st.u[i], 0.0)
        if room > 1e-12:
            ulim = S / -w1 if w1 < 0 else np.inf
            for a in {min(full, room, ulim), min(a_drop, room, ulim)}:
                if a <= 1e-12:
                    continue
                s1 = float(self._freed(d1, np.asarray(a * imu1)))
                freed_store = ctx.storage_add[a1] if st.art_R[a1] > 0 and st.art_R[a1] - s1 == 0 else 0.0
                delta = a * (ctx.unmet_unit[i] - dl1) - s1 * ctx.cost[d1] - freed_store
                if delta < best[0]:
                    best = (float(delta), ("unmet", -1, float(a), 0, int(s1)))
        if best[1] is None or best[0] >= -self.tol():
            return False
        kind, d2, a, k2, s1 = best[1]
        st.route(ctx, i, d1, -a)
        st.add_replicas(ctx, d1, -s1)
        if kind == "move":
            st.add_replicas(ctx, d2, k2)
            st.route(ctx, i, d2, a)
        else:
            st.u[i] += a / lam
        st.trim(ctx, d1)
        return self._accept(lambda: f"[local-search] relocate: type {ctx.problem.type_names[i]!r} {a:.4g} req/s "
                            f"{_label(ctx, d1)} -> "
                            + (_label(ctx, d2) + f" (+{k2} replicas)" if kind == "move" else "unmet")
                            + f", -{s1} replicas on source", -best[0])

    def reblend(self, i: int, d1: int) -> bool:
        """Move type i's whole share on low-error d1 to a target T whose error is higher than d1's, and restore
        the error SLO by also moving share b from i's highest-error template h to T (b = what the slack needs).

        This is the relocate that changes the low-error partner of a blend; plain relocate cannot, because the
        slack is exactly used up at the optimum of a blend.
        """
        ctx, st = self.ctx, self.st
        lam = ctx.lam[i]
        used = np.flatnonzero(st.x[i] > 0)
        if len(used) < 2:
            return False
        h = int(used[np.argmax(ctx.w[i, used])])
        wh = ctx.w[i, h]
        if h == d1 or wh <= 0:
            return False
        a = lam * st.x[i, d1]
        avail = lam * st.x[i, h]
        T = self._targets(i, d1)
        T = T[(T != h) & (ctx.w[i, T] < wh)]
        if len(T) == 0:
            return False
        S = max(st.slack(ctx, i), 0.0)
        w1, wT = ctx.w[i, d1], ctx.w[i, T]
        after = S + a * (w1 - wT)
        b = np.where(after < 0, -after / (wh - wT), 0.0) * (1 + 1e-12)
        ok_b = (b > 0) & (b <= avail)
        s1 = float(self._freed(d1, np.asarray(a * ctx.inv_mu[i, d1])))
        sh = self._freed(h, b * ctx.inv_mu[i, h])
        freed_cost = s1 * ctx.cost[d1] + sh * ctx.cost[h]
        freed_gpus = (ctx.gpu[T] == ctx.gpu[d1]) * s1 * ctx.gpus[d1] + (ctx.gpu[T] == ctx.gpu[h]) * sh * ctx.gpus[h]
        k2, add, ok = self._place_cost(i, T, a + b, freed_cost, freed_gpus, 0.0)
        a1, ah = ctx.art[d1], ctx.art[h]
        still1 = st.art_R[a1] - s1 - (ah == a1) * sh + (ctx.art[T] == a1) * k2
        stillh = st.art_R[ah] - sh - (ah == a1) * s1 + (ctx.art[T] == ah) * k2
        freed_store = (np.where((still1 == 0) & (st.art_R[a1] > 0), ctx.storage_add[a1], 0.0)
                       + np.where((stillh == 0) & (ah != a1) & (st.art_R[ah] > 0), ctx.storage_add[ah], 0.0))
        delta = (add - freed_cost - freed_store + a * (ctx.delay_unit[i, T] - ctx.delay_unit[i, d1])
                 + b * (ctx.delay_unit[i, T] - ctx.delay_unit[i, h]))
        delta = np.where(ok & ok_b, delta, np.inf)
        j = int(np.argmin(delta))
        if not delta[j] < -self.tol():
            return False
        d2, bb, kk, shh = int(T[j]), float(b[j]), int(k2[j]), int(sh[j])
        st.route(ctx, i, d1, -a)
        st.x[i, d1] = 0.0
        st.route(ctx, i, h, -bb)
        st.add_replicas(ctx, d1, -int(s1))
        st.add_replicas(ctx, h, -shh)
        st.add_replicas(ctx, d2, kk)
        st.route(ctx, i, d2, a + bb)
        st.trim(ctx, d1)
        return self._accept(lambda: f"[local-search] relocate (re-blend): type {ctx.problem.type_names[i]!r} {a:.4g} "
                            f"req/s {_label(ctx, d1)} and {bb:.4g} req/s {_label(ctx, h)} -> {_label(ctx, d2)} "
                            f"(+{kk} replicas)", -float(delta[j]))

    def relocate_unmet(self, i: int) -> bool:
        """Serve (part of) type i's unmet share when a target does it for less than its unmet penalty."""
        ctx, st = self.ctx, self.st
        lam = ctx.lam[i]
        full = lam * st.u[i]
        if full <= 1e-12:
            return False
        T = self._targets(i, -1)
        S = max(st.slack(ctx, i), 0.0)
        wT = ctx.w[i, T]
        lim = np.where(wT > 0, S / np.where(wT > 0, wT, 1.0), np.inf)
        a_fill = np.clip((st.R[T] - st.load[T]) * ctx.mu[i, T], 0.0, full)
        best = (0.0, None)
        for a in (np.minimum(full, lim), np.minimum(a_fill, lim)):
            k2, add, ok = self._place_cost(i, T, a, 0.0, 0.0, 0.0)
            delta = np.where(ok & (a > 1e-12), add + a * (ctx.delay_unit[i, T] - ctx.unmet_unit[i]), np.inf)
            j = int(np.argmin(delta)) if len(delta) else 0
            if len(delta) and delta[j] < best[0]:
                best = (float(delta[j]), (int(T[j]), float(a[j]), int(k2[j])))
        if best[1] is None or best[0] >= -self.tol():
            return False
        d2, a, k2 = best[1]
        st.u[i] = max(st.u[i] - a / lam, 0.0)
        st.add_replicas(ctx, d2, k2)
        st.route(ctx, i, d2, a)
        return self._accept(lambda: f"[local-search] relocate: type {ctx.problem.type_names[i]!r} {a:.4g} req/s unmet "
                            f"-> {_label(ctx, d2)} (+{k2} replicas)", -best[0])

    def relocate_pass(self) -> bool:
        ctx, st = self.ctx, self.st
        improved = False
        for i, d1 in np.argwhere(st.x > 0):
            if self.out_of_time():
                break
            if st.x[i, d1] > 0 and self.relocate_share(int(i), int(d1)):
                improved = True
            elif st.x[i, d1] > 0 and ctx.w[i, d1] <= 0 and self.reblend(int(i), int(d1)):
                improved = True
        for i in np.flatnonzero(st.u > 0):
            if self.out_of_time():
                break
            if self.relocate_unmet(int(i)):
                improved = True
        return improved

    # ------------------------------------------------------------ ruin and recreate
    def _clear_type(self, st: State, i: int) -> None:
        ctx = self.ctx
        for d in np.flatnonzero(st.x[i] > 0):
            st.route(ctx, i, int(d), -ctx.lam[i] * st.x[i, d])
            st.x[i, d] = 0.0
        st.u[i] = 0.0

    def recreate(self, types: Sequence[int], drop: int | None = None, what: str = "", open_: int | None = None) -> bool:
        """Remove the routing of ``types`` (and every replica of ``drop``, which is then banned), drop replicas no
        longer needed, optionally open one replica of ``open_`` first, re-place the types with GH's step rule
        (descending load); keep if cheaper."""
        ctx, st = self.ctx, self.st
        trial = st.copy()
        banned = None
        for i in types:
            self._clear_type(trial, int(i))
        if open_ is not None:
            trial.trim(ctx)
            if not self._fits_one(trial, open_):
                return False
            trial.add_replicas(ctx, open_, 1)
        if drop is not None:
            banned = np.zeros(ctx.D, dtype=bool)
            banned[drop] = True
            for k in np.flatnonzero(trial.x[:, drop] > 0):
                self._clear_type(trial, int(k))
                types = list(types) + [int(k)]
            trial.load[drop] = 0.0
        trial.trim(ctx)
        order = sorted(set(int(t) for t in types), key=lambda t: (-ctx.load_key[t], t))
        quiet = _Log(False)
        for i in order:
            place_type(ctx, trial, i, self.opt, quiet, banned)
            if trial.failed:
                return False
        trial.trim(ctx)
        before, after = st.objective(ctx), trial.objective(ctx)
        if not after < before - self.tol():
            return False
        self.st = trial
        return self._accept(lambda: f"[local-search] recreate{what}: re-placed "
                            + ", ".join(ctx.problem.type_names[t] for t in order), before - after,
                            lambda: _fleet_change(ctx, st.R, trial.R))

    def _fits_one(self, st: State, d: int) -> bool:
        ctx = self.ctx
        if math.isfinite(ctx.budget) and st.spent + ctx.cost[d] > ctx.budget + 1e-9:
            return False
        if st.inv_used[ctx.gpu[d]] + ctx.gpus[d] > ctx.inventory[ctx.gpu[d]] + 1e-9:
            return False
        return st.art_R[ctx.art[d]] > 0 or st.storage_used + ctx.art_gb[ctx.art[d]] <= ctx.storage_gb + 1e-9

    def open_candidates(self, k: int) -> np.ndarray:
        """Templates worth opening: each type's 3 cheapest within its error SLO, ranked by how many types they
        serve within their error SLO, then by $/h per req/s."""
        ctx, st = self.ctx, self.st
        cands = []
        for i in range(ctx.I):
            c = ctx.cidx[i]
            low = c[ctx.w[i, c] <= 0]
            cands.append(low[np.argsort(ctx.unit[i, low], kind="stable")[:3]])
        pool = np.unique(np.concatenate(cands)) if cands else np.zeros(0, dtype=np.int64)
        pool = pool[st.R[pool] == 0]
        if len(pool) == 0:
            return pool
        n_low = ((ctx.w[:, pool] <= 0) & ctx.servable[:, pool]).sum(axis=0)
        best_unit = np.where((ctx.w[:, pool] <= 0) & ctx.servable[:, pool], ctx.unit[:, pool], np.inf).min(axis=0)
        order = np.lexsort((best_unit, -n_low))
        return pool[order[:k]]

    def open_pass(self, k: int = 8) -> bool:
        ctx = self.ctx
        improved = False
        for d in self.open_candidates(k):
            if self.out_of_time():
                break
            d = int(d)
            types = np.flatnonzero(ctx.servable[:, d])
            if self.recreate(types.tolist(), what=f" around a new {_label(ctx, d)}", open_=d):
                improved = True
        return improved

    def recreate_pass(self) -> bool:
        ctx = self.ctx
        improved = False
        for i in np.argsort(-ctx.load_key, kind="stable"):
            if self.out_of_time():
                return improved
            improved |= self.recreate([int(i)], what=f" type {ctx.problem.type_names[int(i)]!r}")
        act = np.flatnonzero(self.st.R > 0)
        for d in act:
            if self.out_of_time():
                return improved
            if self.st.R[d] > 0:
                improved |= self.recreate([], drop=int(d), what=f" without {_label(ctx, int(d))}")
        return improved

    # ------------------------------------------------------------ consolidation
    def drop_replica(self, d: int) -> bool:
        """Remove one replica of d by re-routing its excess load onto spare capacity elsewhere or unmet."""
        ctx, st = self.ctx, self.st
        if st.R[d] <= 0:
            return False
        E = st.load[d] - (st.R[d] - 1)
        if E <= EPS:
            st.trim(ctx, d)
            return False
        a_d = ctx.art[d]
        delta = -ctx.cost[d] - (ctx.storage_add[a_d] if st.R[d] == 1 and st.art_R[a_d] == 1 else 0.0)
        plan: list[tuple[int, int, float]] = []  # (type, target or -1 for unmet, req/s)
        spare = np.maximum(st.R - st.load, 0.0)
        spare[d] = 0.0
        slack = {}
        unmet_room = {}
        ks = np.flatnonzero(st.x[:, d] > 0)
        ks = ks[np.argsort(-(ctx.lam[ks] * st.x[ks, d] * ctx.inv_mu[ks, d]), kind="stable")]
        for k in ks:
            if E <= EPS:
                break
            k = int(k)
            need = min(ctx.lam[k] * st.x[k, d], E * ctx.mu[k, d])
            S = slack.setdefault(k, max(st.slack(ctx, k), 0.0))
            cand = np.flatnonzero((spare > 1e-12) & ctx.servable[k])
            price = ctx.delay_unit[k, cand]
            options = [(float(pr), int(t)) for pr, t in zip(price, cand)]
            room = unmet_room.setdefault(k, max(ctx.unmet_cap[k] - ctx.lam[k] * st.u[k], 0.0))
            if room > 1e-12:
                options.append((float(ctx.unmet_unit[k]), -1))
            options.sort()
            for pr, t in options:
                if need <= 1e-12:
                    break
                wdiff = (ctx.w[k, t] if t >= 0 else 0.0) - ctx.w[k, d]
                lim = S / wdiff if wdiff > 0 else math.inf
                cap = spare[t] * ctx.mu[k, t] if t >= 0 else unmet_room[k]
                a = min(need, cap, lim)
                if a <= 1e-12:
                    continue
                plan.append((k, t, a))
                need -= a
                E -= a * ctx.inv_mu[k, d]
                S -= a * wdiff
                slack[k] = S
                if t >= 0:
                    spare[t] -= a * ctx.inv_mu[k, t]
                    delta += a * (ctx.delay_unit[k, t] - ctx.delay_unit[k, d])
                else:
                    unmet_room[k] -= a
                    delta += a * (ctx.unmet_unit[k] - ctx.delay_unit[k, d])
        if E > EPS or delta >= -self.tol():
            return False
        for k, t, a in plan:
            st.route(ctx, k, d, -a)
            if t >= 0:
                st.route(ctx, k, t, a)
            else:
                st.u[k] += a / ctx.lam[k]
        st.trim(ctx, d)
        return self._accept(lambda: f"[consolidation] consolidate: drop 1 x {_label(ctx, d)}, its load re-routed to "
                            f"{len({t for _, t, _ in plan})} other replica set(s)/unmet", -delta)

    def merge(self, d1: int) -> bool:
        """Move every type served by d1 onto one other template (spare + new replicas) when cheaper."""
        ctx, st = self.ctx, self.st
        ks = np.flatnonzero(st.x[:, d1] > 0)
        if st.R[d1] <= 0:
            return False
        if len(ks) == 0:
            st.trim(ctx, d1)
            return False
        T = np.unique(np.concatenate([self._targets(int(k), d1) for k in ks]))
        if len(T) == 0:
            return False
        amt = ctx.lam[ks] * st.x[ks, d1]  # req/s per type
        serv = ctx.servable[np.ix_(ks, T)].all(axis=0)
        conv = (amt[:, None] * ctx.inv_mu[np.ix_(ks, T)]).sum(axis=0)
        S = np.array([max(st.slack(ctx, int(k)), 0.0) for k in ks])
        err_ok = (S[:, None] + amt[:, None] * (ctx.w[ks, d1][:, None] - ctx.w[np.ix_(ks, T)]) >= -1e-12).all(axis=0)
        k2 = np.maximum(np.ceil(st.load[T] + conv - st.R[T] - EPS), 0.0)
        a1 = ctx.art[d1]
        same_art = ctx.art[T] == a1
        new_art = (st.art_R[ctx.art[T]] == 0) & (k2 > 0)
        freed_art = ((st.art_R[a1] - st.R[d1] + same_art * k2) == 0) & (st.art_R[a1] > 0)
        ddelay = (amt[:, None] * (ctx.delay_unit[np.ix_(ks, T)] - ctx.delay_unit[ks, d1][:, None])).sum(axis=0)
        delta = (k2 * ctx.cost[T] - st.R[d1] * ctx.cost[d1] + ctx.storage_add[ctx.art[T]] * new_art
                 - ctx.storage_add[a1] * freed_art + ddelay)
        ok = serv & err_ok
        if math.isfinite(ctx.budget):
            ok &= st.spent + k2 * ctx.cost[T] - st.R[d1] * ctx.cost[d1] <= ctx.budget + 1e-9
        ok &= (st.inv_used[ctx.gpu[T]] + k2 * ctx.gpus[T] - (ctx.gpu[T] == ctx.gpu[d1]) * st.R[d1] * ctx.gpus[d1]
               <= ctx.inventory[ctx.gpu[T]] + 1e-9)
        if math.isfinite(ctx.storage_gb):
            ok &= (st.storage_used + ctx.art_gb[ctx.art[T]] * new_art - ctx.art_gb[a1] * (freed_art & ~same_art)
                   <= ctx.storage_gb + 1e-9)
        delta = np.where(ok, delta, np.inf)
        j = int(np.argmin(delta))
        if delta[j] >= -self.tol():
            return False
        d2, kk = int(T[j]), int(k2[j])
        st.add_replicas(ctx, d2, kk)
        for k, a in zip(ks, amt):
            st.route(ctx, int(k), d1, -float(a))
            st.x[k, d1] = 0.0
            st.route(ctx, int(k), d2, float(a))
        st.load[d1] = 0.0
        r1 = int(st.R[d1])
        st.add_replicas(ctx, d1, -r1)
        return self._accept(lambda: f"[consolidation] consolidate: merge {r1} x {_label(ctx, d1)} ({len(ks)} type(s)) "
                            f"into {_label(ctx, d2)} (+{kk} replicas)", -float(delta[j]))

    def consolidate_pass(self) -> bool:
        ctx, st = self.ctx, self.st
        improved = False
        act = np.flatnonzero(st.R > 0)
        util = st.load[act] / st.R[act]
        for d in act[np.argsort(util, kind="stable")]:
            if self.out_of_time():
                break
            d = int(d)
            if st.R[d] > 0 and self.drop_replica(d):
                improved = True
            if st.R[d] > 0 and self.merge(d):
                improved = True
        return improved


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
        ii, jj = np.nonzero(ctx.servable[:, U])
        nx = len(ii)
        dd = U[jj]
        lam = ctx.lam
        n = nx + 2 * I
        m = 2 * I + nU
        lp = hs.HighsLp()
        lp.num_col_ = n
        lp.num_row_ = m
        lp.col_cost_ = np.concatenate([lam[ii] * ctx.delay_unit[ii, dd], lam * ctx.unmet_unit, np.full(I, ELASTIC)])
        lp.col_lower_ = np.zeros(n)
        lp.col_upper_ = np.concatenate([np.ones(nx), ctx.problem.max_unmet, np.ones(I)])
        lp.row_lower_ = np.concatenate([np.ones(I), np.full(nU + I, -hs.kHighsInf)])
        lp.row_upper_ = np.concatenate([np.ones(I), np.zeros(nU), np.zeros(I)])
        # CSC: x columns have (coverage i, capacity d, error i), in increasing row order; u and v columns (coverage i)
        lp.a_matrix_.format_ = hs.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.concatenate([np.arange(0, 3 * nx + 1, 3), 3 * nx + np.arange(1, 2 * I + 1)])
        lp.a_matrix_.index_ = np.concatenate([np.stack([ii, I + jj, I + nU + ii], axis=1).ravel(), np.arange(I), np.arange(I)])
        lp.a_matrix_.value_ = np.concatenate([np.stack([np.ones(nx), lam[ii] * ctx.inv_mu[ii, dd], ctx.w[ii, dd]], axis=1).ravel(),
                                              np.ones(2 * I)])
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


class FleetSearch(_Accepts):
    """Consolidation in exact form: change the fleet one replica at a time (drop, add, swap), re-route with the
    routing LP, keep the move if the total $/h falls. Candidate moves are ranked by an upper bound on their gain
    from the LP duals (capacity dual π_d of an active template; for a template not in use, the best reduced
    cost of routing a type to it, per replica); moves whose bound is not positive are never tried."""

    def __init__(self, ctx: Context, log: _Log, deadline: float, total_budget: int = 10**9) -> None:
        self.ctx, self.log, self.deadline = ctx, log, deadline
        self.lp = RoutingLP(ctx)
        self.total_budget = total_budget  # routing-LP solves over all runs
        self.stop_at = total_budget
        self.n_moves = 0
        self.converged = False  # set by run(): True when no move improved before the budget ran out
        # fixed per context, used by every _moves step: the higher-TP siblings of each template that may be added
        # (merge targets) and the 8 templates covering the most demand within error SLOs, ties cheaper (compound
        # candidates)
        self._siblings: dict[int, list[int]] = {}
        for s, t in zip(ctx.up_src.tolist(), ctx.up_dst.tolist()):
            if ctx.pool[t]:
                self._siblings.setdefault(s, []).append(t)
        self._cover = np.where(ctx.pool, ctx.hub_cover, 0.0)
        self._big = np.lexsort((ctx.cost, -self._cover))[:8]

    def exhausted(self) -> bool:
        return self.lp.n_solves >= min(self.stop_at, self.total_budget) or time.perf_counter() > self.deadline

    def fixed_cost(self, R: np.ndarray) -> float:
        ctx = self.ctx
        stored = np.zeros(ctx.A, dtype=bool)
        stored[ctx.art[R > 0]] = True
        return float(ctx.cost @ R + (ctx.storage_add * stored).sum())

    def feasible_fleet(self, R: np.ndarray) -> bool:
        """R within budget, inventory and storage."""
        return _fits(self.ctx.problem, R)

    def evaluate(self, R: np.ndarray) -> tuple[float, dict] | None:
        """($/h, routing) of fleet R, or None if R breaks a fleet limit or cannot be routed."""
        return self.evaluate_relaxed(R) if self.feasible_fleet(R) else None

    def _trimmed(self, R: np.ndarray, res: dict) -> np.ndarray:
        ctx = self.ctx
        load = (ctx.lam[:, None] * res["x"] * ctx.inv_mu).sum(axis=0)
        return np.minimum(R, np.maximum(np.ceil(load - 1e-7), 0).astype(np.int64))

    def run(self, R: np.ndarray, budget: int = 10**9) -> tuple[np.ndarray, float, dict] | None:
        """Fleet moves from R until none improves or ``budget`` routing-LP solves are used."""
        ctx = self.ctx
        self.stop_at = self.lp.n_solves + budget
        self.converged = False
        cur = self.evaluate(R)
        if cur is None:
            return None
        total, res = cur
        tol = 1e-6 * max(1.0, total)
        while not self.exhausted():
            singles, compounds, add_pool, merges = self._moves(R, res)
            pool = sorted([m for m in singles if m[1] != "drop"] + compounds, key=lambda m: (-m[0], m[1], m[2], m[3]))
            cands = ([(-1, int(d)) for d in add_pool[:COMPOUND_ADDS]]
                     + [(m[2], m[3]) for m in pool if m[1] == "swap"][:COMPOUND_SWAPS])
            step = None
            extra = [m[3] for m in singles[:32] if m[3] >= 0] + [d for _, d in cands] + [m[4] for m in merges]
            self.lp.ensure(np.array(extra, dtype=np.int64), R)  # one model for this step's evaluations
            for bound, kind, d1, d2 in singles:  # moves whose bound promises a gain, best bound first
                if bound <= tol or self.exhausted():
                    break
                R2 = R.copy()
                if d1 >= 0:
                    R2[d1] -= 1
                if d2 >= 0:
                    R2[d2] += 1
                got = self.evaluate(R2)
                if got is not None and got[0] < total - tol:
                    step = (bound, kind, d1, d2, R2, got)
                    break
            if step is None:
                for bound, kind, a_, b_, d2 in merges:  # two replicas into one
                    if bound <= tol or self.exhausted():
                        break
                    R2 = R.copy()
                    R2[a_] -= 1
                    R2[b_] -= 1
                    R2[d2] += 1
                    got = self.evaluate(R2)
                    if got is not None and got[0] < total - tol:
                        step = (bound, "merge", a_, d2, R2, got)
                        break
            if step is None:
                step = self._compound(R, total, tol, cands)
            if step is None:
                self.converged = not self.exhausted()
                break
            bound, kind, d1, d2, R2, (new_total, new_res) = step
            R3 = self._trimmed(R2, new_res)
            if (R3 != R2).any():
                got3 = self.evaluate(R3)
                if got3 is not None and got3[0] <= new_total + tol:
                    R2, (new_total, new_res) = R3, got3
            repaired = res["shortfall"] - new_res["shortfall"]  # uncovered demand share the move repaired
            self._accept(lambda: "[consolidation] consolidate (fleet, routing LP): " + _fleet_move_text(ctx, kind, d1, d2, R2),
                         total - new_total,
                         lambda: (f" (mostly the ${ELASTIC:g}/h-per-share penalty on {repaired:.3g} of demand share the "
                                  "start left uncovered: a repair, not a real saving)" if repaired > 1e-9 else ""))
            R, total, res = R2, new_total, new_res
        return R, total, res

    def evaluate_relaxed(self, R: np.ndarray) -> tuple[float, dict] | None:
        """As :meth:`evaluate` but ignoring budget, inventory and storage (an intermediate fleet)."""
        res = self.lp.solve(R)
        if res is None:
            return None
        return self.fixed_cost(R) + res["routing_cost"], res

    def _drop_bounds(self, res: dict) -> np.ndarray:
        """Upper bounds on the saving of dropping one replica of each active template (rental − capacity dual)."""
        return self.ctx.cost[res["A"]] + res["pi"]

    def _compound(self, R: np.ndarray, total: float, tol: float, cands: list[tuple[int, int]]):
        """Compound moves: an add or swap (fleet limits relaxed), then drops until the fleet is within budget,
        inventory and storage and no drop lowers the cost (each time the best of the DROP_TRIES drops with the
        largest bounds). Candidates are priced with the routing LP — cost after the add/swap minus the drop
        bounds of the other replicas, an optimistic estimate — and the best COMPOUND_TRIES are followed through.
        Returns the first one that lowers the cost (as a step), or None."""
        scored = []
        for d1, d2 in cands:
            if self.exhausted():
                break
            R2 = R.copy()
            if d1 >= 0:
                R2[d1] -= 1
            R2[d2] += 1
            got = self.evaluate_relaxed(R2)
            if got is not None:
                A2 = got[1]["A"]
                db = np.maximum(self._drop_bounds(got[1]), 0.0)
                db = float(db[A2 != d2].sum())
                scored.append((got[0] - db, d1, d2, R2, got))
        scored.sort(key=lambda t: (t[0], t[1], t[2]))
        for _, d1, d2, R2, got in scored[:COMPOUND_TRIES]:
            cur_R, (cur_total, cur_res) = R2, got
            for _ in range(8):
                act = cur_res["A"]
                bounds = self._drop_bounds(cur_res)
                order = [int(act[k]) for k in np.argsort(-bounds, kind="stable")
                         if not (act[k] == d2 and cur_R[act[k]] == 1)]
                best = None
                for k in order[:DROP_TRIES]:
                    if self.exhausted():
                        break
                    R3 = cur_R.copy()
                    R3[k] -= 1
                    g = self.evaluate_relaxed(R3)
                    if g is not None and (best is None or g[0] < best[0]):
                        best = (g[0], R3, g[1])
                if best is None:
                    break
                if self.feasible_fleet(cur_R) and best[0] >= cur_total - tol:
                    break
                cur_total, cur_R, cur_res = best
            if self.feasible_fleet(cur_R) and cur_total < total - tol:
                kind = ("swap" if d1 >= 0 else "add") + "+drops"
                return (0.0, kind, d1, d2, cur_R, (cur_total, cur_res))
        return None

    def _add_gain(self, R: np.ndarray, res: dict):
        """Per template: capacity value π (active), an upper bound on the routing saving of one more replica, its
        $/h (with storage if its artifact is new) and the replicas stored per artifact."""
        ctx = self.ctx
        A = res["A"]
        pi = np.zeros(ctx.D)
        pi[A] = -res["pi"]  # ≥ 0: value of one more unit of capacity
        # Gain bound of one more replica of an inactive template: a fractional knapsack of the types' negative
        # reduced costs (−rc per share, at most one share per type) into one replica's capacity (λ_i/μ_id per share).
        rc = (ctx.lam[:, None] * ctx.delay_unit - res["sigma"][:, None] - res["eta"][:, None] * ctx.w)
        val = np.where(ctx.servable, np.maximum(-rc, 0.0), 0.0)  # per share
        first = _knapsack(val, ctx.lam[:, None] * ctx.inv_mu, unit_cap=True)  # size: capacity per share
        # only the heuristic's candidates (M1 filter, M3 siblings) may be added, so the ablation switches hold
        gain_add = np.where(R > 0, pi, np.where(ctx.pool, first, 0.0))
        stored = np.zeros(ctx.A, dtype=np.int64)
        np.add.at(stored, ctx.art, R)
        new_art = stored[ctx.art] == 0
        add_cost = ctx.cost + ctx.storage_add[ctx.art] * new_art
        return pi, gain_add, add_cost, stored

    def _moves(self, R: np.ndarray, res: dict) -> tuple[list[tuple[float, str, int, int]], list[tuple[float, str, int, int]],
                                                        np.ndarray, list[tuple[float, str, int, int, int]]]:
        """Single moves (gain bound, kind, drop template, add template), best bound first; compound candidates
        (add/swap whose own bound is not positive, ranked by bound + the best drop bound of another replica); the
        templates whose add is priced for a compound move; the best MERGE_TRIES two-into-one merges
        (bound, "merge", a, b, d2)."""
        ctx = self.ctx
        pi, gain_add, add_cost, stored = self._add_gain(R, res)
        add_bound = gain_add - add_cost
        act = np.flatnonzero(R > 0)
        freed_store = np.where(stored[ctx.art[act]] == R[act], ctx.storage_add[ctx.art[act]], 0.0) * (R[act] == 1)
        drop_bound = ctx.cost[act] + freed_store - pi[act]
        # what budget and inventory allow (storage is checked when the move is evaluated)
        rental = float(ctx.cost @ R)
        used = np.bincount(ctx.gpu, weights=R * ctx.gpus, minlength=ctx.G)
        B = ctx.budget if math.isfinite(ctx.budget) else np.inf
        moves: list[tuple[float, str, int, int]] = []
        comp: list[tuple[float, str, int, int]] = []
        for k in np.flatnonzero(drop_bound > 0):
            moves.append((float(drop_bound[k]), "drop", int(act[k]), -1))
        # best drop bound among the other active templates (for compound moves)
        pos = np.maximum(drop_bound, 0.0)
        if len(act) >= 2:
            o = np.argsort(-pos, kind="stable")
            best_other = np.where(np.arange(len(act)) == o[0], pos[o[1]], pos[o[0]])
            best_any = pos[o[0]]
        else:
            best_other = np.zeros(len(act))
            best_any = pos.max() if len(act) else 0.0
        two = np.sort(pos)[::-1][:2].sum() if len(act) else 0.0
        good_add = np.flatnonzero((add_bound + two > 0) & (ctx.pool | (R > 0)))
        top = good_add[np.argsort(-add_bound[good_add], kind="stable")[:48]]
        # compound candidates also include the templates covering the most demand within error SLOs (ties: cheaper):
        # a big shared replica is often worth it only together with the drops it allows, which duals cannot see
        big = self._big
        add_pool = np.concatenate([big[(self._cover[big] > 0) & (R[big] == 0)], top[~np.isin(top, big)][:16]])
        for d2 in top:
            g2 = ctx.gpu[d2]
            inv_ok = used[g2] + ctx.gpus[d2] <= ctx.inventory[g2] + 1e-9
            if rental + ctx.cost[d2] <= B + 1e-9 and inv_ok:
                if add_bound[d2] > 0:
                    moves.append((float(add_bound[d2]), "add", -1, int(d2)))
                elif add_bound[d2] + best_any > 0:
                    comp.append((float(add_bound[d2] + best_any), "add", -1, int(d2)))
            sb = add_bound[d2] + drop_bound
            ok = (act != d2) & (rental - ctx.cost[act] + ctx.cost[d2] <= B + 1e-9)
            ok &= used[g2] + ctx.gpus[d2] - (ctx.gpu[act] == g2) * ctx.gpus[act] <= ctx.inventory[g2] + 1e-9
            for k in np.flatnonzero(ok & (sb > 0)):
                moves.append((float(sb[k]), "swap", int(act[k]), int(d2)))
            for k in np.flatnonzero(ok & (sb <= 0) & (sb + best_other > 0)):
                comp.append((float(sb[k] + best_other[k]), "swap", int(act[k]), int(d2)))
        # merges: two replicas (of active templates a, b) replaced by one of d2 (a candidate add, or a higher-TP
        # sibling of a or b); bound = gain bound of d2 + drop bounds of a and b
        merges = []
        if len(act) >= 2 or (len(act) == 1 and R[act[0]] >= 2):
            sib, top8 = self._siblings, {int(d) for d in top[:8]}
            for ka in range(len(act)):
                for kb in range(ka, len(act)):
                    a_, b_ = int(act[ka]), int(act[kb])
                    if a_ == b_ and R[a_] < 2:
                        continue
                    targets = top8.union(sib.get(a_, []), sib.get(b_, []))
                    freed = ctx.cost[a_] + ctx.cost[b_]
                    for d2 in sorted(targets):
                        if d2 in (a_, b_):
                            continue
                        bnd = add_bound[d2] + drop_bound[ka] + drop_bound[kb]
                        if bnd > 0 and rental - freed + ctx.cost[d2] <= B + 1e-9:
                            merges.append((float(bnd), "merge", a_, b_, int(d2)))
        merges.sort(key=lambda m: (-m[0], m[2], m[3], m[4]))
        moves.sort(key=lambda m: (-m[0], m[1], m[2], m[3]))
        comp.sort(key=lambda m: (-m[0], m[1], m[2], m[3]))
        return moves, comp, add_pool, merges[:MERGE_TRIES]


def _fleet_move_text(ctx: Context, kind: str, d1: int, d2: int, R2: np.ndarray) -> str:
    """Explain only: a fleet-search move in words (``kind``: drop/add/swap/merge, ``+drops`` for compounds)."""
    what = {"drop": f"drop 1 x {_label(ctx, d1)}", "add": f"add 1 x {_label(ctx, d2)}",
            "swap": f"swap 1 x {_label(ctx, d1)} for 1 x {_label(ctx, d2)}",
            "merge": f"merge two replicas (one of {_label(ctx, d1)}) into 1 x {_label(ctx, d2)}"}[kind.split("+")[0]]
    if kind.endswith("+drops"):
        what += " and drop the replicas that makes redundant (fleet now " + ", ".join(
            f"{int(R2[d])} x {_label(ctx, int(d))}" for d in np.flatnonzero(R2 > 0)) + ")"
    return what


def state_from_lp(ctx: Context, R: np.ndarray, res: dict) -> State:
    """A State holding fleet R and the LP's routing."""
    st = State.empty(ctx)
    for d in np.flatnonzero(R > 0):
        st.add_replicas(ctx, int(d), int(R[d]))
    st.x = res["x"].copy()
    st.u = res["u"].copy()
    st.load = (ctx.lam[:, None] * st.x * ctx.inv_mu).sum(axis=0)
    return st


def improve(ctx: Context, st: State, log: _Log, *, local_search: bool, consolidation: bool,
            deadline: float = math.inf, max_rounds: int = 200, opt: GHOptions | None = None,
            recreate: bool = RECREATE) -> _Moves:
    """Relocate and consolidation passes until neither improves (or the deadline); ``mv.st`` is the result."""
    mv = _Moves(ctx, st, log, deadline, opt)
    for _ in range(max_rounds):
        improved = False
        if local_search:
            improved |= mv.relocate_pass()
        if consolidation:
            improved |= mv.consolidate_pass()
        if local_search and recreate and not improved:
            improved |= mv.recreate_pass()
        if local_search and recreate and not improved:
            improved |= mv.open_pass()
        # refresh the load from the routing (no drift) and drop replicas no longer needed
        mv.st.load = np.maximum((ctx.lam[:, None] * mv.st.x * ctx.inv_mu).sum(axis=0), 0.0)
        mv.st.trim(ctx)
        if not improved or mv.out_of_time():
            break
    return mv


HUB_STARTS = 2  # hub starts when "hub" is among ``starts``


def _orderings(ctx: Context, starts: Sequence[str], random_starts: int, seed: int
               ) -> list[tuple[str, np.ndarray, int | None]]:
    """(name, type order, hub template or None) of every start; GH's own (descending load) first."""
    out: list[tuple[str, np.ndarray, int | None]] = [("load", ctx.order("load"), None)]
    for s in starts:
        if s == "hub":
            for k, d in enumerate(ctx.hubs(HUB_STARTS)):
                out.append((f"hub{k}", ctx.order("load"), int(d)))
        elif s not in ("load", "lp"):  # "lp" is not an ordering: solve_agh adds the LP-relaxation start
            out.append((s, ctx.order(s), None))
    rng = np.random.default_rng(seed)
    for k in range(int(random_starts)):
        out.append((f"random{k}", rng.permutation(ctx.I), None))
    seen: set[tuple] = set()
    uniq = []
    for name, o, hub in out:
        key = (tuple(int(v) for v in o), hub)
        if key not in seen:
            seen.add(key)
            uniq.append((name, o, hub))
    return uniq


def _check_agh_options(time_budget_s: object, random_starts: object, seed: object) -> float | None:
    """AGH's numeric options validated (ValueError naming the option, the value and the allowed range)."""
    if time_budget_s is not None:
        ok = isinstance(time_budget_s, (int, float)) and not isinstance(time_budget_s, bool)
        if not ok or not math.isfinite(float(time_budget_s)) or float(time_budget_s) <= 0:  # type: ignore[arg-type]
            raise ValueError(f"time_budget_s must be None or a finite number of seconds > 0, got {time_budget_s!r}")
    if isinstance(random_starts, bool) or not isinstance(random_starts, (int, np.integer)) or random_starts < 0:
        raise ValueError(f"random_starts must be an integer >= 0, got {random_starts!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    return None if time_budget_s is None else float(time_budget_s)  # type: ignore[arg-type]


def solve_agh(problem: Problem, *, m1: bool = True, m2: bool = True, m3: bool = True, explain: bool = False,
              starts: Sequence[str] = ("load", "slo", "error", "hub", "lp"), random_starts: int = 8, seed: int = 0,
              local_search: bool = True, consolidation: bool = True, time_budget_s: float | None = None,
              lp_start: bool = True, work_deadline: float | None = None) -> Solution:
    """AGH: best of several GH constructions, each improved by relocate local search and consolidation.

    Stage 1, every start: GH construction, then one round of relocate + consolidation moves (numpy); with
    ``lp_start`` and "lp" in ``starts`` also the LP-relaxation starts "lp"/"lp-greedy" (rounded relaxation
    fleets; ``lp_start=False`` = the paper's pure heuristic, for ablations).
    Stage 2, the POLISH_TOP best distinct fleets and every hub start: relocate/consolidation to a local
    optimum with ruin-and-recreate, then the routing LP and (consolidation on) the LP fleet search, within
    LP_BUDGET routing-LP solves per fleet. The work is bounded by counts, not time, so results are deterministic
    unless ``time_budget_s`` cuts them short. ``work_deadline`` (a ``time.perf_counter()`` instant; the MILP's
    warm start uses it to stay within its time limit) stops the counted work there too
    (``stats["stopped_at_deadline"]``).
    """
    t0 = time.perf_counter()
    time_budget_s = _check_agh_options(time_budget_s, random_starts, seed)
    deadline = t0 + time_budget_s if time_budget_s is not None else math.inf
    if work_deadline is not None:
        deadline = min(deadline, float(work_deadline))
    if isinstance(starts, str):
        starts = (starts,)
    unknown = sorted(set(starts) - {"load", "slo", "error", "hub", "lp"})
    if unknown:
        raise ValueError(f"unknown AGH start(s) {unknown}; known: load, slo, error, hub, lp")
    opt = GHOptions(m1, m2, m3, explain)
    ctx = Context(problem, m1=m1, m3=m3)
    lines: list[str] = []
    quiet = _Log(False, lines)
    orders = _orderings(ctx, starts, random_starts, seed)
    if explain:
        _log_filter(ctx, opt, _Log(True, lines))
    improving = local_search or consolidation
    per_start: list[dict] = []
    results: list[tuple[tuple[int, float], str, State]] = []

    def stage1(name: str, st: State, log: _Log, gh: bool = False) -> tuple[float, State, tuple[int, float], int]:
        """One round of relocate + consolidation moves on a start, recorded in ``per_start`` and ``results``
        (``gh``: also its construction, as GH's own result). Returns ($/h constructed, state, key, moves)."""
        built = (len(st.failed), st.objective(ctx))
        if gh:
            results.append((built, "gh", st.copy()))  # GH's own result: AGH is never worse
        moves = 0
        if not st.failed and improving:
            mv = improve(ctx, st, log, local_search=local_search, consolidation=consolidation, deadline=deadline,
                         opt=opt, max_rounds=1, recreate=False)
            st, moves = mv.st, mv.n_moves
        key = (len(st.failed), st.objective(ctx))
        per_start.append({"start": name, "constructed": built[1], "improved": key[1], "failed_types": key[0],
                          "moves": moves})
        results.append((key, name, st))
        return built[1], st, key, moves

    for n, (name, order, hub) in enumerate(orders):
        if n > 0 and time.perf_counter() > deadline:
            lines.append(f"[start] AGH: time budget reached after {n} start(s)")
            break
        # the decision log of the first (GH's) start is kept in full with explain=True; others are summarised
        log = _Log(explain, lines) if n == 0 else quiet
        if explain and n == 0:
            lines.append("[start] start 'load' (GH's ordering): " + ", ".join(problem.type_names[int(i)] for i in order))
            lines.append(f"[start] AGH: {len(orders)} starts (" + ", ".join(o[0] for o in orders) + "); the first is "
                         "logged in full, the others summarised; then the best fleets are polished (stage 2)")
        built, st, key, moves = stage1(name, construct(ctx, order, opt, log, hub), log, gh=n == 0)
        lines.append(f"[start] AGH start {name!r}: construction ${built:.4f}/h"
                     + (f" -> local search ${key[1]:.4f}/h ({moves} moves)" if moves else "")
                     + (f" [{len(st.failed)} type(s) not placed]" if st.failed else ""))

    lp_info = None  # the LP-relaxation starts (baselines/relaxation.py): relaxation -> rounded fleets -> routing LP
    if lp_start and "lp" in starts and time.perf_counter() <= deadline:
        lp_states, lp_info = _lp_start(ctx)  # "lp" (branch-and-bound rounding) and "lp-greedy"
        if explain:
            lines.append(describe(lp_info))
        for name, st in lp_states:
            stage1(name, st, quiet)

    lp_stats: dict = {}
    if improving:
        # stage 2: the best distinct fleets and every hub start
        ranked = sorted(results[1:], key=lambda t: (t[0], t[1]))
        seen: set[bytes] = set()
        picked = []
        n_top = 0
        # the lp starts take places of the POLISH_TOP (at least one heuristic fleet is still polished)
        n_other = max(1, POLISH_TOP - sum(t[1].startswith("lp") for t in results))
        for key, name, st in ranked:
            sig = st.R.tobytes()
            if sig in seen:
                continue
            if n_top < n_other or name.startswith("hub") or name.startswith("lp"):
                seen.add(sig)
                picked.append((key, name, st))
                n_top += 0 if (name.startswith("hub") or name.startswith("lp")) else 1
        # the best fleet first, then the hub starts (they may need repair), then the other good fleets
        first = picked[0][1] if picked else None
        picked.sort(key=lambda t: 0 if t[1] == first else (1 if t[1].startswith("hub") else 2))
        lp_per_fleet, lp_total = _lp_budgets(ctx) if time_budget_s is None else (10**9, 10**9)
        fs = FleetSearch(ctx, _Log(explain, lines), deadline, lp_total)
        polished = {}
        polished_fleets: set[bytes] = set()
        outcomes = []  # (total, name, R, res, converged)
        budget_a = lp_per_fleet // 2
        for key, name, st in picked:  # round 1: every picked fleet, half budget
            if time.perf_counter() > deadline and outcomes:
                break
            if not st.failed and not name.startswith("lp"):  # the lp fleets go straight to the fleet search
                if explain:
                    lines.append(f"[stage2] polishing start {name!r} (${key[1]:.4f}/h): local search"
                                 + (" and consolidation" if consolidation else "") + " to a local optimum")
                mv = improve(ctx, st, _Log(explain, lines), local_search=local_search, consolidation=consolidation,
                             deadline=deadline, opt=opt, max_rounds=STAGE2_ROUNDS)
                st = mv.st
                key = (0, st.objective(ctx))
                results.append((key, name + "+ls", st))
                sig = st.R.tobytes()
                if sig in polished_fleets:
                    if explain:
                        lines.append(f"[stage2] AGH start {name!r}: local search ${key[1]:.4f}/h reached a fleet "
                                     "already polished; not polished again")
                    continue  # the same fleet has been polished already
                polished_fleets.add(sig)
            if consolidation:
                out = fs.run(st.R.copy(), budget_a)
                conv = fs.converged
            else:
                got = fs.evaluate(st.R.copy())
                out = None if got is None else (st.R.copy(), got[0], got[1])
                conv = True
            if out is None or out[2]["shortfall"] > 1e-9:
                lines.append(f"[stage2] AGH start {name!r}: the routing LP{' + fleet moves' if consolidation else ''} "
                             "could not cover every type")
                continue
            outcomes.append((out[1], name, out[0], out[2], conv))
            lines.append(f"[stage2] AGH start {name!r}: local search ${key[1]:.4f}/h -> routing LP"
                         f"{' + fleet moves' if consolidation else ''} ${out[1]:.4f}/h")
        if consolidation:  # round 2: the best unfinished fleets continue with the rest of the budget
            for total, name, R, res, conv in sorted(outcomes, key=lambda t: (t[0], t[1]))[:2]:
                if conv or fs.exhausted():
                    continue
                out = fs.run(R.copy(), lp_per_fleet)
                if out is not None and out[2]["shortfall"] <= 1e-9 and out[1] < total:
                    outcomes.append((out[1], name + "+", out[0], out[2], fs.converged))
                    lines.append(f"[stage2] AGH start {name!r}: fleet moves continued -> ${out[1]:.4f}/h")
        for total, name, R, res, _ in outcomes:
            st2 = state_from_lp(ctx, R, res)
            st2.trim(ctx)
            key2 = (0, st2.objective(ctx))
            polished[name] = key2[1]
            results.append((key2, name + "+lp", st2))
        lp_stats = {"lp_solves": fs.lp.n_solves, "fleet_moves": fs.n_moves, "polished": polished}
    key, name, st = min(results, key=lambda t: (t[0], t[1] != "gh"))
    lines.append(f"[result] AGH: best {name!r}" + (f" (${key[1]:.4f}/h; GH's own construction: "
                                                   f"${results[0][0][1]:.4f}/h)" if explain else ""))
    runtime = time.perf_counter() - t0
    stats = {"best_start": name, "starts": per_start, "n_starts": len(per_start),
             "local_search": local_search, "consolidation": consolidation, "seed": seed, **lp_stats}
    if lp_info is not None:
        stats["lp_start"] = lp_info
    if work_deadline is not None and time.perf_counter() > work_deadline:
        stats["stopped_at_deadline"] = True
    return gh_solution(problem, "agh", st, ctx, opt, lines, runtime, stats)
