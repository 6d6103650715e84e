"""Adaptive Greedy Heuristic (AGH): GH + multi-start + relocate local search + GPU consolidation (docs/solvers.md §4).

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
from typing import Sequence

import numpy as np

from hetserve_env.problem import Problem

from .agh_moves import LocalMoves
from .fleet_search import FleetSearch
from .gh import construct, gh_solution
from .gh_explain import log_filter
from .gh_state import Context, DecisionLog, GHOptions, State
from .relaxation_rounding import describe, lp_start as _lp_start
from .routing_lp import state_from_lp
from .solution import Solution

RECREATE = True  # ruin-and-recreate passes in stage 2's local search

STAGE2_ROUNDS = 3  # local-search rounds (relocate, consolidation, ruin-and-recreate) per polished fleet

LP_BUDGETS = ((2_000, 400, 1_200), (20_000, 200, 500), (None, 100, 250))



def _lp_budgets(ctx: Context) -> tuple[int, int]:
    size = ctx.I * ctx.D
    for limit, per_fleet, total in LP_BUDGETS:
        if limit is None or size <= limit:
            return per_fleet, total
    raise AssertionError



POLISH_TOP = 3  # distinct fleets (best after local search) given to the routing LP / fleet moves



def improve(ctx: Context, st: State, log: DecisionLog, *, local_search: bool, consolidation: bool,
            deadline: float = math.inf, max_rounds: int = 200, opt: GHOptions | None = None,
            recreate: bool = RECREATE) -> LocalMoves:
    """Relocate and consolidation passes until neither improves (or the deadline); ``mv.st`` is the result."""
    mv = LocalMoves(ctx, st, log, deadline, opt)
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
        mv.st.load = np.maximum((ctx.rate[:, None] * mv.st.x * ctx.inv_capacity).sum(axis=0), 0.0)
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
    run = _AGHRun(ctx, opt, deadline, local_search, consolidation)
    orders = _orderings(ctx, starts, random_starts, seed)
    if explain:
        log_filter(ctx, opt, DecisionLog(True, run.lines))
    run.construct_starts(orders)

    lp_info = None  # the LP-relaxation starts (baselines/relaxation.py): relaxation -> rounded fleets -> routing LP
    if lp_start and "lp" in starts and time.perf_counter() <= deadline:
        lp_states, lp_info = _lp_start(ctx)  # "lp" (branch-and-bound rounding) and "lp-greedy"
        if explain:
            run.lines.append(describe(lp_info))
        for name, st in lp_states:
            run.stage1(name, st, run.quiet)

    lp_stats = run.stage2(time_budget_s) if run.improving else {}
    results, lines = run.results, run.lines
    key, name, st = min(results, key=lambda t: (t[0], t[1] != "gh"))
    lines.append(f"[result] AGH: best {name!r}" + (f" (${key[1]:.4f}/h; GH's own construction: "
                                                   f"${results[0][0][1]:.4f}/h)" if explain else ""))
    runtime = time.perf_counter() - t0
    stats = {"best_start": name, "starts": run.per_start, "n_starts": len(run.per_start),
             "local_search": local_search, "consolidation": consolidation, "seed": seed, **lp_stats}
    if lp_info is not None:
        stats["lp_start"] = lp_info
    if work_deadline is not None and time.perf_counter() > work_deadline:
        stats["stopped_at_deadline"] = True
    return gh_solution(problem, "agh", st, ctx, opt, lines, runtime, stats)


class _AGHRun:
    """The state of one AGH run: the decision lines, every start's result (``results``: (key, name, state),
    GH's own first) and the per-start summary; stage 1 (constructions + one improvement round) and stage 2
    (polishing the best distinct fleets) are its methods."""

    def __init__(self, ctx: Context, opt: GHOptions, deadline: float, local_search: bool, consolidation: bool) -> None:
        self.ctx, self.opt, self.deadline = ctx, opt, deadline
        self.local_search, self.consolidation = local_search, consolidation
        self.explain = opt.explain
        self.lines: list[str] = []
        self.quiet = DecisionLog(False, self.lines)
        self.improving = local_search or consolidation
        self.per_start: list[dict] = []
        self.results: list[tuple[tuple[int, float], str, State]] = []

    def stage1(self, name: str, st: State, log: DecisionLog,
               gh: bool = False) -> tuple[float, State, tuple[int, float], int]:
        """One round of relocate + consolidation moves on a start, recorded in ``per_start`` and ``results``
        (``gh``: also its construction, as GH's own result). Returns ($/h constructed, state, key, moves)."""
        ctx = self.ctx
        built = (len(st.failed), st.objective(ctx))
        if gh:
            self.results.append((built, "gh", st.copy()))  # GH's own result: AGH is never worse
        moves = 0
        if not st.failed and self.improving:
            mv = improve(ctx, st, log, local_search=self.local_search, consolidation=self.consolidation,
                         deadline=self.deadline, opt=self.opt, max_rounds=1, recreate=False)
            st, moves = mv.st, mv.n_moves
        key = (len(st.failed), st.objective(ctx))
        self.per_start.append({"start": name, "constructed": built[1], "improved": key[1], "failed_types": key[0],
                               "moves": moves})
        self.results.append((key, name, st))
        return built[1], st, key, moves

    def construct_starts(self, orders: list[tuple[str, np.ndarray, int | None]]) -> None:
        """Stage 1 on every ordering (GH's first, its decision log kept in full with explain) until the deadline."""
        lines, explain = self.lines, self.explain
        for n, (name, order, hub) in enumerate(orders):
            if n > 0 and time.perf_counter() > self.deadline:
                lines.append(f"[start] AGH: time budget reached after {n} start(s)")
                break
            # the decision log of the first (GH's) start is kept in full with explain=True; others are summarised
            log = DecisionLog(explain, lines) if n == 0 else self.quiet
            if explain and n == 0:
                lines.append("[start] start 'load' (GH's ordering): "
                             + ", ".join(self.ctx.problem.type_names[int(i)] for i in order))
                lines.append(f"[start] AGH: {len(orders)} starts (" + ", ".join(o[0] for o in orders) + "); the first "
                             "is logged in full, the others summarised; then the best fleets are polished (stage 2)")
            built, st, key, moves = self.stage1(name, construct(self.ctx, order, self.opt, log, hub), log, gh=n == 0)
            lines.append(f"[start] AGH start {name!r}: construction ${built:.4f}/h"
                         + (f" -> local search ${key[1]:.4f}/h ({moves} moves)" if moves else "")
                         + (f" [{len(st.failed)} type(s) not placed]" if st.failed else ""))

    def pick_for_polish(self) -> list[tuple[tuple[int, float], str, State]]:
        """The best distinct fleets (POLISH_TOP, counting the lp starts) and every hub and lp start: the best
        fleet first, then the hub starts (they may need repair), then the other good fleets."""
        results = self.results
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
        first = picked[0][1] if picked else None
        picked.sort(key=lambda t: 0 if t[1] == first else (1 if t[1].startswith("hub") else 2))
        return picked

    def stage2(self, time_budget_s: float | None) -> dict:
        """Polish the picked fleets: local search to a local optimum, then the routing LP and (consolidation on)
        the LP fleet search, in two rounds of LP budget; every outcome joins ``results``. Returns the LP stats."""
        ctx = self.ctx
        picked = self.pick_for_polish()
        lp_per_fleet, lp_total = _lp_budgets(ctx) if time_budget_s is None else (10**9, 10**9)
        fs = FleetSearch(ctx, DecisionLog(self.explain, self.lines), self.deadline, lp_total)
        outcomes = self._polish_round1(picked, fs, lp_per_fleet // 2)
        if self.consolidation:  # round 2: the best unfinished fleets continue with the rest of the budget
            for total, name, R, res, conv in sorted(outcomes, key=lambda t: (t[0], t[1]))[:2]:
                if conv or fs.exhausted():
                    continue
                out = fs.run(R.copy(), lp_per_fleet)
                if out is not None and out[2]["shortfall"] <= 1e-9 and out[1] < total:
                    outcomes.append((out[1], name + "+", out[0], out[2], fs.converged))
                    self.lines.append(f"[stage2] AGH start {name!r}: fleet moves continued -> ${out[1]:.4f}/h")
        polished = {}
        for total, name, R, res, _ in outcomes:
            st2 = state_from_lp(ctx, R, res)
            st2.trim(ctx)
            key2 = (0, st2.objective(ctx))
            polished[name] = key2[1]
            self.results.append((key2, name + "+lp", st2))
        return {"lp_solves": fs.lp.n_solves, "fleet_moves": fs.n_moves, "polished": polished}

    def _polish_round1(self, picked: list, fs: FleetSearch, budget_a: int) -> list:
        """Round 1: every picked fleet with half the per-fleet LP budget. Returns the outcomes
        (total, name, R, routing result, converged) of the fleets whose routing covers every type."""
        ctx, lines, explain, consolidation = self.ctx, self.lines, self.explain, self.consolidation
        polished_fleets: set[bytes] = set()
        outcomes = []  # (total, name, R, res, converged)
        for key, name, st in picked:
            if time.perf_counter() > self.deadline and outcomes:
                break
            if not st.failed and not name.startswith("lp"):  # the lp fleets go straight to the fleet search
                if explain:
                    lines.append(f"[stage2] polishing start {name!r} (${key[1]:.4f}/h): local search"
                                 + (" and consolidation" if consolidation else "") + " to a local optimum")
                mv = improve(ctx, st, DecisionLog(explain, lines), local_search=self.local_search,
                             consolidation=consolidation, deadline=self.deadline, opt=self.opt,
                             max_rounds=STAGE2_ROUNDS)
                st = mv.st
                key = (0, st.objective(ctx))
                self.results.append((key, name + "+ls", st))
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
                got = fs.price_fleet(st.R.copy())
                out = None if got is None else (st.R.copy(), got[0], got[1])
                conv = True
            if out is None or out[2]["shortfall"] > 1e-9:
                lines.append(f"[stage2] AGH start {name!r}: the routing LP{' + fleet moves' if consolidation else ''} "
                             "could not cover every type")
                continue
            outcomes.append((out[1], name, out[0], out[2], conv))
            lines.append(f"[stage2] AGH start {name!r}: local search ${key[1]:.4f}/h -> routing LP"
                         f"{' + fleet moves' if consolidation else ''} ${out[1]:.4f}/h")
        return outcomes
