"""AGH's local-search moves on a GH State (numpy, vectorised over targets): relocate, re-blend, ruin-and-recreate,
drop and merge (see ``baselines/agh.py``). Every move is scored exactly in $/h; limit checks use
:func:`hetserve_env.fleet_cost.within_limits` (the one limit tolerance).
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np

from hetserve_env import fleet_cost

from .gh import place_type
from .gh_state import EPS, AcceptedMoves, Context, DecisionLog, GHOptions, State, label

SHORTLIST = 24  # cheapest candidates per type (overall and within the error SLO) tried as relocate targets



def shortlists(ctx: Context) -> list[np.ndarray]:
    """Per type: the SHORTLIST cheapest candidates per req/s, plus the SHORTLIST cheapest within its error SLO."""
    if getattr(ctx, "_short", None) is None:
        out = []
        for i in range(ctx.I):
            c = ctx.cidx[i]
            price = ctx.unit[i, c]
            best = c[np.argsort(price, kind="stable")[:SHORTLIST]]
            low = c[ctx.error_excess[i, c] <= 0]
            best_low = low[np.argsort(ctx.unit[i, low], kind="stable")[:SHORTLIST]]
            out.append(np.union1d(best, best_low).astype(np.int64))
        ctx._short = out
    return ctx._short



def _fleet_change(ctx: Context, before: np.ndarray, after: np.ndarray) -> str:
    """Explain only: the replicas a move opened and closed, e.g. "; fleet: +1 x A, -2 x B"."""
    diff = after.astype(np.int64) - before.astype(np.int64)
    ch = [f"{int(diff[d]):+d} x {label(ctx, int(d))}" for d in np.flatnonzero(diff)]
    return ("; fleet: " + ", ".join(ch)) if ch else "; fleet unchanged (routing only)"



class LocalMoves(AcceptedMoves):
    """Local-search moves on a State; every move is scored exactly in $/h (the evaluate objective)."""

    def __init__(self, ctx: Context, st: State, log: DecisionLog, deadline: float, opt: GHOptions | None = None) -> None:
        self.ctx, self.st, self.log, self.deadline = ctx, st, log, deadline
        self.opt = opt or GHOptions()
        self.short = shortlists(ctx)
        self.n_moves = 0

    def out_of_time(self) -> bool:
        return time.perf_counter() > self.deadline

    def tol(self) -> float:
        """Smallest saving ($/h) worth a move: 1e-6 relative (round-off never counts as an improvement)."""
        return 1e-6 * max(1.0, abs(self.st.spent))

    # ------------------------------------------------------------ shared feasibility/cost pieces
    def _targets(self, i: int, exclude: int) -> np.ndarray:
        ctx, st = self.ctx, self.st
        active = np.flatnonzero((st.R > 0) & ctx.servable[i])
        T = np.union1d(self.short[i], active)
        return T[T != exclude]

    def _place_cost(self, i: int, T: np.ndarray, a: np.ndarray, freed_cost: np.ndarray | float,
                    freed_gpus_on: np.ndarray | float, freed_gb: np.ndarray | float):
        """Replicas needed, $/h added (rental + storage) and feasibility of putting ``a`` req/s of i on T."""
        ctx, st = self.ctx, self.st
        k2 = np.maximum(np.ceil(st.load[T] + a * ctx.inv_capacity[i, T] - st.R[T] - EPS), 0.0)
        new_art = (st.art_R[ctx.template_artifact[T]] == 0) & (k2 > 0)
        add = k2 * ctx.cost[T] + ctx.storage_add[ctx.template_artifact[T]] * new_art
        ok = fleet_cost.within_limits(st.spent + k2 * ctx.cost[T] - freed_cost, ctx.budget,
                                      st.inv_used[ctx.template_gpu[T]] + k2 * ctx.gpus[T] - freed_gpus_on, ctx.inventory[ctx.template_gpu[T]],
                                      st.storage_used + ctx.artifact_gb[ctx.template_artifact[T]] * new_art - freed_gb, ctx.storage_gb)
        return k2, add, ok

    def _freed(self, d1: int, removed_load: np.ndarray):
        """Replicas of d1 freed when ``removed_load`` (replica units) leaves it."""
        st = self.st
        return st.R[d1] - np.maximum(np.ceil(st.load[d1] - removed_load - EPS), 0.0)

    # ------------------------------------------------------------ relocate
    def relocate_share(self, i: int, d1: int) -> bool:
        """Best move of (part of) type i's share on d1 to another template or to unmet; apply if it saves."""
        ctx, st = self.ctx, self.st
        lam = ctx.rate[i]
        full = lam * st.x[i, d1]
        if full <= 0:
            return False
        T = self._targets(i, d1)
        S = max(st.slack(ctx, i), 0.0)
        w1, dl1, imu1 = ctx.error_excess[i, d1], ctx.delay_unit[i, d1], ctx.inv_capacity[i, d1]
        excess = (st.load[d1] - (st.R[d1] - 1)) * ctx.capacity[i, d1]
        a_drop = min(max(excess, 0.0) * (1 + 1e-12), full)
        a_fill = np.clip((st.R[T] - st.load[T]) * ctx.capacity[i, T], 0.0, full)
        dw = ctx.error_excess[i, T] - w1
        lim = np.where(dw > 0, S / np.where(dw > 0, dw, 1.0), np.inf)
        A = np.minimum(np.stack([np.full(len(T), full), np.full(len(T), a_drop), a_fill]), lim[None, :])
        a1 = ctx.template_artifact[d1]
        best = (0.0, None)
        g1 = ctx.template_gpu[d1]
        if len(T):  # the three amounts x every target in one evaluation (arrays of shape (3, |T|))
            s1 = self._freed(d1, A * imu1)
            same_art = ctx.template_artifact[T] == a1
            freed_gb_mask = (st.art_R[a1] > 0) & (st.art_R[a1] - s1 == 0)
            k2, add, ok = self._place_cost(i, T, A, s1 * ctx.cost[d1], (ctx.template_gpu[T] == g1) * s1 * ctx.gpus[d1],
                                           np.where(freed_gb_mask & ~same_art, ctx.artifact_gb[a1], 0.0))
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
                            f"{label(ctx, d1)} -> "
                            + (label(ctx, d2) + f" (+{k2} replicas)" if kind == "move" else "unmet")
                            + f", -{s1} replicas on source", -best[0])

    def reblend(self, i: int, d1: int) -> bool:
        """Move type i's whole share on low-error d1 to a target T whose error is higher than d1's, and restore
        the error SLO by also moving share b from i's highest-error template h to T (b = what the slack needs).

        This is the relocate that changes the low-error partner of a blend; plain relocate cannot, because the
        slack is exactly used up at the optimum of a blend.
        """
        ctx, st = self.ctx, self.st
        lam = ctx.rate[i]
        used = np.flatnonzero(st.x[i] > 0)
        if len(used) < 2:
            return False
        h = int(used[np.argmax(ctx.error_excess[i, used])])
        wh = ctx.error_excess[i, h]
        if h == d1 or wh <= 0:
            return False
        a = lam * st.x[i, d1]
        avail = lam * st.x[i, h]
        T = self._targets(i, d1)
        T = T[(T != h) & (ctx.error_excess[i, T] < wh)]
        if len(T) == 0:
            return False
        S = max(st.slack(ctx, i), 0.0)
        w1, wT = ctx.error_excess[i, d1], ctx.error_excess[i, T]
        after = S + a * (w1 - wT)
        b = np.where(after < 0, -after / (wh - wT), 0.0) * (1 + 1e-12)
        ok_b = (b > 0) & (b <= avail)
        s1 = float(self._freed(d1, np.asarray(a * ctx.inv_capacity[i, d1])))
        sh = self._freed(h, b * ctx.inv_capacity[i, h])
        freed_cost = s1 * ctx.cost[d1] + sh * ctx.cost[h]
        freed_gpus = (ctx.template_gpu[T] == ctx.template_gpu[d1]) * s1 * ctx.gpus[d1] + (ctx.template_gpu[T] == ctx.template_gpu[h]) * sh * ctx.gpus[h]
        k2, add, ok = self._place_cost(i, T, a + b, freed_cost, freed_gpus, 0.0)
        a1, ah = ctx.template_artifact[d1], ctx.template_artifact[h]
        still1 = st.art_R[a1] - s1 - (ah == a1) * sh + (ctx.template_artifact[T] == a1) * k2
        stillh = st.art_R[ah] - sh - (ah == a1) * s1 + (ctx.template_artifact[T] == ah) * k2
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
                            f"req/s {label(ctx, d1)} and {bb:.4g} req/s {label(ctx, h)} -> {label(ctx, d2)} "
                            f"(+{kk} replicas)", -float(delta[j]))

    def relocate_unmet(self, i: int) -> bool:
        """Serve (part of) type i's unmet share when a target does it for less than its unmet penalty."""
        ctx, st = self.ctx, self.st
        lam = ctx.rate[i]
        full = lam * st.u[i]
        if full <= 1e-12:
            return False
        T = self._targets(i, -1)
        S = max(st.slack(ctx, i), 0.0)
        wT = ctx.error_excess[i, T]
        lim = np.where(wT > 0, S / np.where(wT > 0, wT, 1.0), np.inf)
        a_fill = np.clip((st.R[T] - st.load[T]) * ctx.capacity[i, T], 0.0, full)
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
                            f"-> {label(ctx, d2)} (+{k2} replicas)", -best[0])

    def relocate_pass(self) -> bool:
        ctx, st = self.ctx, self.st
        improved = False
        for i, d1 in np.argwhere(st.x > 0):
            if self.out_of_time():
                break
            if st.x[i, d1] > 0 and self.relocate_share(int(i), int(d1)):
                improved = True
            elif st.x[i, d1] > 0 and ctx.error_excess[i, d1] <= 0 and self.reblend(int(i), int(d1)):
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
            st.route(ctx, i, int(d), -ctx.rate[i] * st.x[i, d])
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
        quiet = DecisionLog(False)
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
        new_gb = 0.0 if st.art_R[ctx.template_artifact[d]] > 0 else ctx.artifact_gb[ctx.template_artifact[d]]
        return bool(fleet_cost.within_limits(st.spent + ctx.cost[d], ctx.budget, st.inv_used[ctx.template_gpu[d]] + ctx.gpus[d],
                                             ctx.inventory[ctx.template_gpu[d]], st.storage_used + new_gb, ctx.storage_gb))

    def open_candidates(self, k: int) -> np.ndarray:
        """Templates worth opening: each type's 3 cheapest within its error SLO, ranked by how many types they
        serve within their error SLO, then by $/h per req/s."""
        ctx, st = self.ctx, self.st
        cands = []
        for i in range(ctx.I):
            c = ctx.cidx[i]
            low = c[ctx.error_excess[i, c] <= 0]
            cands.append(low[np.argsort(ctx.unit[i, low], kind="stable")[:3]])
        pool = np.unique(np.concatenate(cands)) if cands else np.zeros(0, dtype=np.int64)
        pool = pool[st.R[pool] == 0]
        if len(pool) == 0:
            return pool
        n_low = ((ctx.error_excess[:, pool] <= 0) & ctx.servable[:, pool]).sum(axis=0)
        best_unit = np.where((ctx.error_excess[:, pool] <= 0) & ctx.servable[:, pool], ctx.unit[:, pool], np.inf).min(axis=0)
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
            if self.recreate(types.tolist(), what=f" around a new {label(ctx, d)}", open_=d):
                improved = True
        return improved

    def recreate_pass(self) -> bool:
        ctx = self.ctx
        improved = False
        for i in np.argsort(-ctx.load_key, kind="stable"):
            if self.out_of_time():
                return improved
            improved |= self.recreate([int(i)], what=f" type {ctx.problem.type_names[int(i)]!r}")
        active = np.flatnonzero(self.st.R > 0)
        for d in active:
            if self.out_of_time():
                return improved
            if self.st.R[d] > 0:
                improved |= self.recreate([], drop=int(d), what=f" without {label(ctx, int(d))}")
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
        a_d = ctx.template_artifact[d]
        delta = -ctx.cost[d] - (ctx.storage_add[a_d] if st.R[d] == 1 and st.art_R[a_d] == 1 else 0.0)
        plan: list[tuple[int, int, float]] = []  # (type, target or -1 for unmet, req/s)
        spare = np.maximum(st.R - st.load, 0.0)
        spare[d] = 0.0
        slack = {}
        unmet_room = {}
        ks = np.flatnonzero(st.x[:, d] > 0)
        ks = ks[np.argsort(-(ctx.rate[ks] * st.x[ks, d] * ctx.inv_capacity[ks, d]), kind="stable")]
        for k in ks:
            if E <= EPS:
                break
            k = int(k)
            need = min(ctx.rate[k] * st.x[k, d], E * ctx.capacity[k, d])
            S = slack.setdefault(k, max(st.slack(ctx, k), 0.0))
            cand = np.flatnonzero((spare > 1e-12) & ctx.servable[k])
            price = ctx.delay_unit[k, cand]
            options = [(float(pr), int(t)) for pr, t in zip(price, cand)]
            room = unmet_room.setdefault(k, max(ctx.unmet_cap[k] - ctx.rate[k] * st.u[k], 0.0))
            if room > 1e-12:
                options.append((float(ctx.unmet_unit[k]), -1))
            options.sort()
            for pr, t in options:
                if need <= 1e-12:
                    break
                wdiff = (ctx.error_excess[k, t] if t >= 0 else 0.0) - ctx.error_excess[k, d]
                lim = S / wdiff if wdiff > 0 else math.inf
                cap = spare[t] * ctx.capacity[k, t] if t >= 0 else unmet_room[k]
                a = min(need, cap, lim)
                if a <= 1e-12:
                    continue
                plan.append((k, t, a))
                need -= a
                E -= a * ctx.inv_capacity[k, d]
                S -= a * wdiff
                slack[k] = S
                if t >= 0:
                    spare[t] -= a * ctx.inv_capacity[k, t]
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
                st.u[k] += a / ctx.rate[k]
        st.trim(ctx, d)
        return self._accept(lambda: f"[consolidation] consolidate: drop 1 x {label(ctx, d)}, its load re-routed to "
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
        amt = ctx.rate[ks] * st.x[ks, d1]  # req/s per type
        serv = ctx.servable[np.ix_(ks, T)].all(axis=0)
        conv = (amt[:, None] * ctx.inv_capacity[np.ix_(ks, T)]).sum(axis=0)
        S = np.array([max(st.slack(ctx, int(k)), 0.0) for k in ks])
        err_ok = (S[:, None] + amt[:, None] * (ctx.error_excess[ks, d1][:, None] - ctx.error_excess[np.ix_(ks, T)]) >= -1e-12).all(axis=0)
        k2 = np.maximum(np.ceil(st.load[T] + conv - st.R[T] - EPS), 0.0)
        a1 = ctx.template_artifact[d1]
        same_art = ctx.template_artifact[T] == a1
        new_art = (st.art_R[ctx.template_artifact[T]] == 0) & (k2 > 0)
        freed_art = ((st.art_R[a1] - st.R[d1] + same_art * k2) == 0) & (st.art_R[a1] > 0)
        ddelay = (amt[:, None] * (ctx.delay_unit[np.ix_(ks, T)] - ctx.delay_unit[ks, d1][:, None])).sum(axis=0)
        delta = (k2 * ctx.cost[T] - st.R[d1] * ctx.cost[d1] + ctx.storage_add[ctx.template_artifact[T]] * new_art
                 - ctx.storage_add[a1] * freed_art + ddelay)
        ok = serv & err_ok & fleet_cost.within_limits(
            st.spent + k2 * ctx.cost[T] - st.R[d1] * ctx.cost[d1], ctx.budget,
            st.inv_used[ctx.template_gpu[T]] + k2 * ctx.gpus[T] - (ctx.template_gpu[T] == ctx.template_gpu[d1]) * st.R[d1] * ctx.gpus[d1],
            ctx.inventory[ctx.template_gpu[T]],
            st.storage_used + ctx.artifact_gb[ctx.template_artifact[T]] * new_art - ctx.artifact_gb[a1] * (freed_art & ~same_art), ctx.storage_gb)
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
        return self._accept(lambda: f"[consolidation] consolidate: merge {r1} x {label(ctx, d1)} ({len(ks)} type(s)) "
                            f"into {label(ctx, d2)} (+{kk} replicas)", -float(delta[j]))

    def consolidate_pass(self) -> bool:
        ctx, st = self.ctx, self.st
        improved = False
        active = np.flatnonzero(st.R > 0)
        util = st.load[active] / st.R[active]
        for d in active[np.argsort(util, kind="stable")]:
            if self.out_of_time():
                break
            d = int(d)
            if st.R[d] > 0 and self.drop_replica(d):
                improved = True
            if st.R[d] > 0 and self.merge(d):
                improved = True
        return improved
