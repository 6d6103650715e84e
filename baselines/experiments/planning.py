"""Planning for the experiments: a method key (a solver or a preset of :mod:`baselines.registry`) -> a Solution,
and the SLO metrics of a static plan."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from hetserve_env.allocation import Allocation, Evaluation
from hetserve_env.problem import Problem

from .. import solve
from ..registry import VARIANTS, method_spec, solver_names
from ..solution import Solution

#: MILP options used by the experiments (the scaling study passes its own): HiGHS, one thread.
MILP_OPTIONS: dict[str, Any] = {"solver": "highs", "time_limit": 120.0, "threads": 1}


def method_keys() -> tuple[str, ...]:
    """Every method key :func:`plan` takes: the registered solvers and the presets (``agh-paper``: AGH with
    ``lp_start=False``: GH + multi-start + relocate local search + consolidation, the paper's heuristic)."""
    return solver_names() + tuple(VARIANTS)


def method_label(method: str) -> str:
    """The display label of a method key, e.g. ``"AGH (paper)"``."""
    return method_spec(method)[2]


def plan(problem: Problem, method: str, milp_options: Mapping[str, Any] | None = None, **options: Any) -> Solution:
    """``baselines.solve`` for a method key of :func:`method_keys` (``gh``, ``agh``, ``agh-paper``, ``milp``) with the
    experiments' MILP options (the MILP is warm-started from AGH as by default).

    A solver exception does not stop a long run: it is returned as a Solution with status ``"error"`` and the
    exception in ``reason`` (and so shows in the tables)."""
    name, base, _ = method_spec(method)
    options = {**base, **options}
    if name == "milp":
        options = {**MILP_OPTIONS, **dict(milp_options or {}), **options}
    return _solve_safe(problem, name, **options)


def _solve_safe(problem: Problem, method: str, **options: Any) -> Solution:
    try:
        return solve(problem, method, **options)
    except Exception as exc:  # noqa: BLE001 - reported in the row, never hidden
        return Solution(method=method, status="error", reason=f"{type(exc).__name__}: {exc}")


def slo_metrics(problem: Problem, allocation: Allocation, ev: Evaluation) -> dict[str, Any]:
    """Demand-weighted SLO metrics (%) of ``allocation`` on ``problem`` from ``evaluate``'s result ``ev``."""
    lam = np.asarray(problem.rate, dtype=float)
    w = lam / lam.sum() if lam.sum() > 0 else np.full(problem.n_types, 1.0 / problem.n_types)
    excess = np.zeros(problem.n_types)
    idx = {n: k for k, n in enumerate(problem.type_names)}
    for v in ev.violation("error_slo"):
        excess[idx[v.index]] = v.amount
    unmet = float(w @ allocation.unmet)
    late = float(w @ np.maximum(ev.served_share - ev.on_time_share, 0.0))
    err = float(w @ excess)
    return {"unmet_pct": 100 * unmet, "late_pct": 100 * late, "error_excess_pct": 100 * err,
            "slo_miss_pct": 100 * min(unmet + late + err, 1.0),
            "error_slo_types": int((excess > 0).sum()), "n_violations": len(ev.violations),
            "violations": ";".join(sorted({v.constraint for v in ev.violations}))}


__all__ = ["MILP_OPTIONS", "method_keys", "method_label", "plan", "slo_metrics"]
