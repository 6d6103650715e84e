"""AGH's fleet search: change the fleet one replica at a time and re-route it with the routing LP (see
``baselines/agh.py``, stage 2). Fleet cost and limits come from :mod:`hetserve_env.fleet_cost`.
"""

from __future__ import annotations

import math
import time

import numpy as np

from hetserve_env import fleet_cost

from .gh_state import AcceptedMoves, Context, DecisionLog, label
from .relaxation import fractional_knapsack
from .routing_lp import ELASTIC, RoutingLP

COMPOUND_ADDS = 24  # adds priced by the routing LP per fleet-search step when no single move gains

COMPOUND_SWAPS = 8  # swaps priced likewise

COMPOUND_TRIES = 4  # of those, the best few are followed by drops (a compound move)

MERGE_TRIES = 16  # two-into-one merges evaluated per fleet-search step (best bound first)

DROP_TRIES = 3  # drops evaluated per step of a compound move (in the order of their bound)



class FleetSearch(AcceptedMoves):
    """Consolidation in exact form: change the fleet one replica at a time (drop, add, swap), re-route with the
    routing LP, keep the move if the total $/h falls. Candidate moves are ranked by an upper bound on their gain
    from the LP duals (capacity dual π_d of an active template; for a template not in use, the best reduced
    cost of routing a type to it, per replica); moves whose bound is not positive are never tried."""

    def __init__(self, ctx: Context, log: DecisionLog, deadline: float, total_budget: int = 10**9) -> None:
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
        """$/h of fleet R: :func:`hetserve_env.fleet_cost.fleet_cost` (rental + storage)."""
        return fleet_cost.fleet_cost(self.ctx.problem, R)

    def feasible_fleet(self, R: np.ndarray) -> bool:
        """R within budget, inventory and storage."""
        return fleet_cost.fits(self.ctx.problem, R)

    def price_fleet(self, R: np.ndarray) -> tuple[float, dict] | None:
        """($/h, routing) of fleet R, or None if R breaks a fleet limit or cannot be routed."""
        return self.price_any_fleet(R) if self.feasible_fleet(R) else None

    def _trimmed(self, R: np.ndarray, res: dict) -> np.ndarray:
        ctx = self.ctx
        load = (ctx.rate[:, None] * res["x"] * ctx.inv_capacity).sum(axis=0)
        return np.minimum(R, np.maximum(np.ceil(load - 1e-7), 0).astype(np.int64))

    def run(self, R: np.ndarray, budget: int = 10**9) -> tuple[np.ndarray, float, dict] | None:
        """Fleet moves from R until none improves or ``budget`` routing-LP solves are used."""
        ctx = self.ctx
        self.stop_at = self.lp.n_solves + budget
        self.converged = False
        cur = self.price_fleet(R)
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
                got = self.price_fleet(R2)
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
                    got = self.price_fleet(R2)
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
                got3 = self.price_fleet(R3)
                if got3 is not None and got3[0] <= new_total + tol:
                    R2, (new_total, new_res) = R3, got3
            repaired = res["shortfall"] - new_res["shortfall"]  # uncovered demand share the move repaired
            self._accept(lambda: "[consolidation] consolidate (fleet, routing LP): " + _fleet_move_text(ctx, kind, d1, d2, R2),
                         total - new_total,
                         lambda: (f" (mostly the ${ELASTIC:g}/h-per-share penalty on {repaired:.3g} of demand share the "
                                  "start left uncovered: a repair, not a real saving)" if repaired > 1e-9 else ""))
            R, total, res = R2, new_total, new_res
        return R, total, res

    def price_any_fleet(self, R: np.ndarray) -> tuple[float, dict] | None:
        """As :meth:`price_fleet` but ignoring budget, inventory and storage (an intermediate fleet)."""
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
            got = self.price_any_fleet(R2)
            if got is not None:
                A2 = got[1]["A"]
                db = np.maximum(self._drop_bounds(got[1]), 0.0)
                db = float(db[A2 != d2].sum())
                scored.append((got[0] - db, d1, d2, R2, got))
        scored.sort(key=lambda t: (t[0], t[1], t[2]))
        for _, d1, d2, R2, got in scored[:COMPOUND_TRIES]:
            cur_R, (cur_total, cur_res) = R2, got
            for _ in range(8):
                active = cur_res["A"]
                bounds = self._drop_bounds(cur_res)
                order = [int(active[k]) for k in np.argsort(-bounds, kind="stable")
                         if not (active[k] == d2 and cur_R[active[k]] == 1)]
                best = None
                for k in order[:DROP_TRIES]:
                    if self.exhausted():
                        break
                    R3 = cur_R.copy()
                    R3[k] -= 1
                    g = self.price_any_fleet(R3)
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
        rc = (ctx.rate[:, None] * ctx.delay_unit - res["sigma"][:, None] - res["eta"][:, None] * ctx.error_excess)
        val = np.where(ctx.servable, np.maximum(-rc, 0.0), 0.0)  # per share
        first = fractional_knapsack(val, ctx.rate[:, None] * ctx.inv_capacity, unit_cap=True)  # size: capacity per share
        # only the heuristic's candidates (M1 filter, M3 siblings) may be added, so the ablation switches hold
        gain_add = np.where(R > 0, pi, np.where(ctx.pool, first, 0.0))
        stored = np.zeros(ctx.A, dtype=np.int64)
        np.add.at(stored, ctx.template_artifact, R)
        new_art = stored[ctx.template_artifact] == 0
        add_cost = ctx.cost + ctx.storage_add[ctx.template_artifact] * new_art
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
        active = np.flatnonzero(R > 0)
        freed_store = np.where(stored[ctx.template_artifact[active]] == R[active], ctx.storage_add[ctx.template_artifact[active]], 0.0) * (R[active] == 1)
        drop_bound = ctx.cost[active] + freed_store - pi[active]
        # what budget and inventory allow (storage is checked when the move is evaluated)
        rental = float(ctx.cost @ R)
        used = np.bincount(ctx.template_gpu, weights=R * ctx.gpus, minlength=ctx.G)
        B = ctx.budget if math.isfinite(ctx.budget) else np.inf
        moves: list[tuple[float, str, int, int]] = []
        comp: list[tuple[float, str, int, int]] = []
        for k in np.flatnonzero(drop_bound > 0):
            moves.append((float(drop_bound[k]), "drop", int(active[k]), -1))
        # best drop bound among the other active templates (for compound moves)
        pos = np.maximum(drop_bound, 0.0)
        if len(active) >= 2:
            o = np.argsort(-pos, kind="stable")
            best_other = np.where(np.arange(len(active)) == o[0], pos[o[1]], pos[o[0]])
            best_any = pos[o[0]]
        else:
            best_other = np.zeros(len(active))
            best_any = pos.max() if len(active) else 0.0
        two = np.sort(pos)[::-1][:2].sum() if len(active) else 0.0
        good_add = np.flatnonzero((add_bound + two > 0) & (ctx.pool | (R > 0)))
        top = good_add[np.argsort(-add_bound[good_add], kind="stable")[:48]]
        # compound candidates also include the templates covering the most demand within error SLOs (ties: cheaper):
        # a big shared replica is often worth it only together with the drops it allows, which duals cannot see
        big = self._big
        add_pool = np.concatenate([big[(self._cover[big] > 0) & (R[big] == 0)], top[~np.isin(top, big)][:16]])
        for d2 in top:
            g2 = ctx.template_gpu[d2]
            if fleet_cost.within_limits(rental + ctx.cost[d2], B, used[g2] + ctx.gpus[d2], ctx.inventory[g2], 0.0, math.inf):
                if add_bound[d2] > 0:
                    moves.append((float(add_bound[d2]), "add", -1, int(d2)))
                elif add_bound[d2] + best_any > 0:
                    comp.append((float(add_bound[d2] + best_any), "add", -1, int(d2)))
            sb = add_bound[d2] + drop_bound
            ok = (active != d2) & fleet_cost.within_limits(rental - ctx.cost[active] + ctx.cost[d2], B,
                                                        used[g2] + ctx.gpus[d2] - (ctx.template_gpu[active] == g2) * ctx.gpus[active],
                                                        ctx.inventory[g2], 0.0, math.inf)
            for k in np.flatnonzero(ok & (sb > 0)):
                moves.append((float(sb[k]), "swap", int(active[k]), int(d2)))
            for k in np.flatnonzero(ok & (sb <= 0) & (sb + best_other > 0)):
                comp.append((float(sb[k] + best_other[k]), "swap", int(active[k]), int(d2)))
        # merges: two replicas (of active templates a, b) replaced by one of d2 (a candidate add, or a higher-TP
        # sibling of a or b); bound = gain bound of d2 + drop bounds of a and b
        merges = []
        if len(active) >= 2 or (len(active) == 1 and R[active[0]] >= 2):
            sib, top8 = self._siblings, {int(d) for d in top[:8]}
            for ka in range(len(active)):
                for kb in range(ka, len(active)):
                    a_, b_ = int(active[ka]), int(active[kb])
                    if a_ == b_ and R[a_] < 2:
                        continue
                    targets = top8.union(sib.get(a_, []), sib.get(b_, []))
                    freed = ctx.cost[a_] + ctx.cost[b_]
                    for d2 in sorted(targets):
                        if d2 in (a_, b_):
                            continue
                        bnd = add_bound[d2] + drop_bound[ka] + drop_bound[kb]
                        if bnd > 0 and rental - freed + ctx.cost[d2] <= B + fleet_cost.LIMIT_TOL:
                            merges.append((float(bnd), "merge", a_, b_, int(d2)))
        merges.sort(key=lambda m: (-m[0], m[2], m[3], m[4]))
        moves.sort(key=lambda m: (-m[0], m[1], m[2], m[3]))
        comp.sort(key=lambda m: (-m[0], m[1], m[2], m[3]))
        return moves, comp, add_pool, merges[:MERGE_TRIES]



def _fleet_move_text(ctx: Context, kind: str, d1: int, d2: int, R2: np.ndarray) -> str:
    """Explain only: a fleet-search move in words (``kind``: drop/add/swap/merge, ``+drops`` for compounds)."""
    what = {"drop": f"drop 1 x {label(ctx, d1)}", "add": f"add 1 x {label(ctx, d2)}",
            "swap": f"swap 1 x {label(ctx, d1)} for 1 x {label(ctx, d2)}",
            "merge": f"merge two replicas (one of {label(ctx, d1)}) into 1 x {label(ctx, d2)}"}[kind.split("+")[0]]
    if kind.endswith("+drops"):
        what += " and drop the replicas that makes redundant (fleet now " + ", ".join(
            f"{int(R2[d])} x {label(ctx, int(d))}" for d in np.flatnonzero(R2 > 0)) + ")"
    return what
