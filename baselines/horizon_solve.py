"""Solve a :class:`~baselines.horizon_model.HorizonModel` with HiGHS (through :mod:`hetserve_env.highs`): the MILP
with a time limit, and the LP relaxation when the MILP has no bound at the limit.

Steps: the LP relaxation (a valid bound on its own); its replicas rounded up and repaired to the fleet limits,
with the best routing for them (a fixed-replica LP) — a feasible plan given to the MILP as its start; the MILP
until the time limit. The answer says which bound it is (``bound_kind``: ``"milp"`` = HiGHS's MILP dual bound,
optimal or at the time limit; ``"lp"`` = the LP relaxation's optimum, when the MILP found nothing better or did not
run; ``"none"`` = neither finished), the MILP status and gap, and the plan (replicas per window) with its source
(``"milp"``: the MILP's incumbent, or ``"lp-round"``: the rounded LP plan, when it is the better of the two).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hetserve_env import highs as _highs
from hetserve_env.fleet_cost import fits, stored_artifacts
from hetserve_env.formulation import csc

from .horizon_model import HorizonModel

#: MILP statuses the hindsight solve accepts (the model is always feasible: an empty fleet leaves demand unmet)
MILP_OK = ("Optimal", "Time limit reached")


@dataclass
class HorizonSolution:
    """Bound, incumbent and how they were obtained (see the module docstring). Money in $ over the windows."""

    bound: float | None
    bound_kind: str
    status: str
    objective: float | None
    plan: np.ndarray | None  # (T, D) int64 billed replicas per window
    plan_kind: str
    runtime_s: float
    n_cols: int
    n_rows: int
    n_integer: int
    lp_bound: float | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def gap(self) -> float | None:
        """(objective − bound) / objective of the model's incumbent (None without both)."""
        if self.bound is None or self.objective is None or self.objective <= 0:
            return None
        return (self.objective - self.bound) / self.objective


def _highs_lp(model: HorizonModel, integer: bool) -> Any:
    hs = _highs.highspy()
    lp = hs.HighsLp()
    lp.num_col_, lp.num_row_ = model.n_cols, model.n_rows
    lp.col_cost_ = model.cost
    lp.col_lower_ = model.col_lower
    lp.col_upper_ = np.where(np.isfinite(model.col_upper), model.col_upper, hs.kHighsInf)
    lp.row_lower_ = np.where(np.isfinite(model.row_lower), model.row_lower, -hs.kHighsInf)
    lp.row_upper_ = np.where(np.isfinite(model.row_upper), model.row_upper, hs.kHighsInf)
    start, index, value = csc(model.rows, model.cols, model.values, model.n_cols)
    lp.a_matrix_.format_ = hs.MatrixFormat.kColwise
    lp.a_matrix_.start_ = start.astype(np.int32)
    lp.a_matrix_.index_ = index.astype(np.int32)
    lp.a_matrix_.value_ = value
    if integer:
        lp.integrality_ = [hs.HighsVarType.kInteger if k else hs.HighsVarType.kContinuous for k in model.integer]
    return lp


#: LP statuses the relaxation accepts: it is always feasible (an empty fleet leaves demand unmet), so anything
#: else (infeasible, unbounded, an error) is a modelling bug and raises HighsStatusError
LP_OK = ("Optimal", "Time limit reached")


def solve_lp(model: HorizonModel, time_limit: float | None = None, threads: int = 1,
             accept: tuple[str, ...] = LP_OK) -> tuple[str, float | None, np.ndarray | None]:
    """The LP relaxation: (status, optimum or None, column values or None); the value only when optimal (an LP
    stopped at its time limit bounds nothing). A status outside ``accept`` raises HighsStatusError."""
    h = _highs.new(time_limit=time_limit, threads=threads)
    h.passModel(_highs_lp(model, integer=False))
    status = _highs.run_expect(h, "horizon_lp", accept)
    if status != "Optimal":
        return status, None, None
    return status, float(h.getInfo().objective_function_value), np.asarray(h.getSolution().col_value)


#: fractional parts above which :func:`round_up_plan` rounds up (each tried; the best by model value is kept)
ROUND_UP_ABOVE = (1e-6,)


def round_up_plan(model: HorizonModel, replicas: np.ndarray, above: float = 1e-6) -> np.ndarray:
    """(T, D) integer plan from fractional replicas: rounded up where the fractional part exceeds ``above`` (down
    elsewhere), then (where that breaks budget, inventory or storage) rounded-up replicas dropped, most expensive
    first, then any replica, until the window's fleet fits."""
    p = model.limits
    up = np.floor(np.asarray(replicas) + 1.0 - above).astype(np.int64)
    extra = up - np.floor(np.asarray(replicas) + 1e-6).astype(np.int64)
    by_price = np.argsort(-p.cost, kind="stable")
    for t in range(up.shape[0]):
        R = up[t]
        for pool in (extra[t], R):
            for d in by_price:
                while pool[d] > 0 and R[d] > 0 and not fits(p, R):
                    R[d] -= 1
                    if pool is not R:
                        pool[d] -= 1
            if fits(p, R):
                break
    return np.maximum(up, 0)


def fixed_plan_lp(model: HorizonModel, plan: np.ndarray, time_limit: float | None = None,
                  threads: int = 1) -> tuple[float, np.ndarray] | str:
    """The model with the replicas fixed to ``plan`` (storage indicators to what it deploys): the best routing
    and cohorts for it; (model value, column values), or the LP status (``"Infeasible"``, a rounded plan can break
    a window's limits, or ``"Time limit reached"``) when there is none."""
    lo, hi = model.col_lower.copy(), model.col_upper.copy()
    lo[model.col_R] = hi[model.col_R] = plan
    stored = np.stack([stored_artifacts(model.limits, r) for r in plan]).astype(float)
    lo[model.col_z] = hi[model.col_z] = stored
    fixed = replace(model, col_lower=lo, col_upper=hi)
    status, value, cols = solve_lp(fixed, time_limit, threads, accept=LP_OK + ("Infeasible",))
    return status if value is None else (value, cols)


def solve_horizon(model: HorizonModel, time_limit: float = 60.0, mip_rel_gap: float = 1e-3, threads: int = 1,
                  lp_only: bool = False) -> HorizonSolution:
    """LP relaxation, its rounded-up plan (repaired to the limits) as the MILP's start, then the MILP until
    ``time_limit`` seconds in all (``lp_only``: stop after the rounded plan). Bound and incumbent."""
    _highs.check_time_limit(time_limit)
    t0 = time.perf_counter()
    n_int = int(model.integer.sum())
    lp_status, lp_value, lp_cols = solve_lp(model, time_limit, threads)
    start, rejected = None, []
    for above in ROUND_UP_ABOVE if lp_cols is not None else ():
        plan0 = round_up_plan(model, lp_cols[model.col_R], above)
        fx = fixed_plan_lp(model, plan0, max(time_limit - (time.perf_counter() - t0), 1.0), threads)
        if isinstance(fx, str):
            rejected.append(fx)  # reported: the MILP then starts without this plan
        elif start is None or fx[0] < start[1]:
            start = (plan0, fx[0], fx[1])
    left = time_limit - (time.perf_counter() - t0)
    stats: dict[str, Any] = {"lp_status": lp_status, "lp_s": time.perf_counter() - t0,
                             "rounded_plans_rejected": rejected}
    if lp_only or left < 1.0:
        return _answer(model, t0, "not run (lp_only)" if lp_only else "not run (no time left)", lp_value, "lp",
                       start, None, lp_value, n_int, stats)
    hs = _highs.highspy()
    h = _highs.new(time_limit=left, threads=threads, mip_rel_gap=float(mip_rel_gap))
    h.passModel(_highs_lp(model, integer=True))
    if start is not None:
        sol0 = hs.HighsSolution()
        sol0.col_value = list(start[2])
        sol0.value_valid = True
        h.setSolution(sol0)
    status = _highs.run_expect(h, "horizon_milp", MILP_OK)
    info = h.getInfo()
    stats.update(mip_gap=float(info.mip_gap), nodes=int(info.mip_node_count))
    bound, kind = lp_value, "lp"
    if math.isfinite(float(info.mip_dual_bound)) and (bound is None or float(info.mip_dual_bound) >= bound):
        bound, kind = float(info.mip_dual_bound), "milp"
    mip = None
    if info.primal_solution_status == hs.SolutionStatus.kSolutionStatusFeasible:
        mip = (np.rint(np.asarray(h.getSolution().col_value)[model.col_R]).astype(np.int64),
               float(info.objective_function_value))
    return _answer(model, t0, status, bound, kind, start, mip, lp_value, n_int, stats)


def _answer(model: HorizonModel, t0: float, status: str, bound: float | None, kind: str, start: Any, mip: Any,
            lp_value: float | None, n_int: int, stats: dict[str, Any]) -> HorizonSolution:
    """The better of the MILP incumbent and the rounded LP plan (by model value) as the plan."""
    plan, obj, plan_kind = None, None, "none"
    if start is not None:
        plan, obj, plan_kind = start[0], start[1], "lp-round"
    if mip is not None and (obj is None or mip[1] <= obj + 1e-9):
        plan, obj, plan_kind = mip[0], mip[1], "milp"
    return HorizonSolution(bound, kind if bound is not None else "none", status, obj, plan, plan_kind,
                           time.perf_counter() - t0, model.n_cols, model.n_rows, n_int, lp_bound=lp_value, stats=stats)
