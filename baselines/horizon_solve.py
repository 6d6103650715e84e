"""Solve a :class:`~baselines.horizon_model.HorizonModel` with HiGHS (through :mod:`hetserve_env.highs`): the MILP
with a time limit, and the LP relaxation when the MILP has no bound at the limit.

The answer says which bound it is (``bound_kind``: ``"milp"`` = HiGHS's MILP dual bound, optimal or at the time
limit; ``"lp"`` = the LP relaxation's optimum; ``"none"`` = neither finished), the MILP status and gap, and the
incumbent plan (replicas per window) with its source (``"milp"``, or ``"lp-floor"``: the LP relaxation's replicas
rounded down, which keep every fleet limit because each limit grows with the fleet).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hetserve_env import highs as _highs
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


def solve_lp(model: HorizonModel, time_limit: float | None = None, threads: int = 1) -> tuple[str, float | None, np.ndarray | None]:
    """The LP relaxation: (status, optimum or None, column values or None)."""
    h = _highs.new(time_limit=time_limit, threads=threads)
    h.passModel(_highs_lp(model, integer=False))
    status = _highs.run(h, "horizon_lp")
    if status != "Optimal":
        return status, None, None
    return status, float(h.getInfo().objective_function_value), np.asarray(h.getSolution().col_value)


def solve_horizon(model: HorizonModel, time_limit: float = 60.0, mip_rel_gap: float = 1e-3, threads: int = 1,
                  lp_only: bool = False) -> HorizonSolution:
    """The MILP with ``time_limit`` seconds (or only the LP relaxation with ``lp_only``): bound and incumbent."""
    _highs.check_time_limit(time_limit)
    t0 = time.perf_counter()
    n_int = int(model.integer.sum())
    if lp_only:
        return _lp_answer(model, time_limit, threads, t0, "not run (lp_only)", n_int)
    hs = _highs.highspy()
    h = _highs.new(time_limit=time_limit, threads=threads, mip_rel_gap=float(mip_rel_gap))
    h.passModel(_highs_lp(model, integer=True))
    status = _highs.run_expect(h, "hindsight_milp", MILP_OK)
    info = h.getInfo()
    bound = float(info.mip_dual_bound)
    sol = h.getSolution()
    has_plan = info.primal_solution_status == hs.SolutionStatus.kSolutionStatusFeasible
    objective = float(info.objective_function_value) if has_plan else None
    plan = _plan(model, np.asarray(sol.col_value), np.rint) if has_plan else None
    if math.isfinite(bound) and plan is not None:
        return HorizonSolution(bound, "milp", status, objective, plan, "milp", time.perf_counter() - t0,
                               model.n_cols, model.n_rows, n_int, stats={"mip_gap": float(info.mip_gap),
                                                                         "nodes": int(info.mip_node_count)})
    # no MILP bound or no incumbent at the limit: the LP relaxation gives the bound (and a floor-rounded plan)
    ans = _lp_answer(model, time_limit, threads, t0, status, n_int)
    if math.isfinite(bound) and bound > (ans.bound if ans.bound is not None else -math.inf):
        ans.bound, ans.bound_kind = bound, "milp"
    if plan is not None:
        ans.plan, ans.plan_kind, ans.objective = plan, "milp", objective
    return ans


def _lp_answer(model: HorizonModel, time_limit: float | None, threads: int, t0: float, status: str,
               n_int: int) -> HorizonSolution:
    lp_status, value, cols = solve_lp(model, time_limit, threads)
    plan = _plan(model, cols, lambda v: np.floor(v + 1e-9)) if cols is not None else None
    return HorizonSolution(value, "lp" if value is not None else "none", status, None, plan,
                           "lp-floor" if plan is not None else "none", time.perf_counter() - t0, model.n_cols,
                           model.n_rows, n_int, lp_bound=value, stats={"lp_status": lp_status})


def _plan(model: HorizonModel, cols: np.ndarray, rounding: Any) -> np.ndarray:
    return np.maximum(rounding(cols[model.col_R]), 0).astype(np.int64)
