"""Reference solvers for the static problem: GH, AGH (heuristics) and the exact MILP.

>>> import hetserve_env, baselines
>>> problem = hetserve_env.load_scenario("small").problem()
>>> sol = baselines.solve(problem, "agh")
>>> sol.status, round(sol.objective, 2)            # doctest: +SKIP
('feasible', 9.01)

``solve`` is the one entry point; every returned allocation is confirmed by
:func:`hetserve_env.allocation.evaluate`. PuLP is imported only when the MILP is used.
"""

from __future__ import annotations

from typing import Any

from hetserve_env.problem import Problem

from .registry import get_solver, register_solver, solver_names
from .solution import Solution, SolverError


def __getattr__(name: str) -> Any:
    """``METHODS`` and ``OPTIONS``: live views of :mod:`baselines.registry` (a solver added later shows)."""
    if name == "METHODS":
        return solver_names()
    if name == "OPTIONS":
        return {m: set(get_solver(m).options()) for m in solver_names()}
    raise AttributeError(f"module 'baselines' has no attribute {name!r}")


def solve(problem: Problem, method: str = "agh", **options: Any) -> Solution:
    """Solve ``problem`` with ``method``: ``"gh"``, ``"agh"``, ``"milp"`` or a solver added with
    :func:`baselines.registry.register_solver`.

    Options — GH: ``m1=True, m2=True, m3=True`` (the three mechanisms; switch off for the ablation),
    ``explain=False`` (one log line per decision). AGH: those plus
    ``starts=("load", "slo", "error", "hub", "lp")``, ``random_starts=8``, ``seed=0``, ``local_search=True``,
    ``consolidation=True``, ``time_budget_s=None`` (None: deterministic work limits; a number: keep improving
    until that many seconds, not deterministic), ``lp_start=True`` (False: no LP-relaxation start — the paper's
    pure heuristic, for ablations; same as leaving "lp" out of ``starts``).
    MILP: ``solver="cbc" | "highs"``, ``time_limit=600`` (s, finite > 0 or None: the wall-clock budget of the
    whole call, warm start and model build included; an end past max(10 %, 2 s) later is flagged in
    ``stats["time_limit_overrun_s"]``), ``gap=1e-4`` (relative, finite >= 0), ``warm_start=True`` (from AGH; or
    an Allocation), ``msg=False``, ``threads=1`` (integer >= 1).

    Unknown options raise TypeError naming them; an unknown method or an out-of-range option value raises
    ValueError naming the option, the value and the allowed range.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"solve() needs a hetserve_env.problem.Problem, got {type(problem).__name__}")
    spec = get_solver(method)
    unknown = sorted(set(options) - spec.options())
    if unknown:
        raise TypeError(f"solve(method={spec.name!r}) got unknown option(s) {unknown}; valid: {sorted(spec.options())}")
    return spec.function()(problem, **options)


def default_options(method: str) -> dict[str, Any]:
    """The default value of every option of ``method`` (for docs and the CLI)."""
    return get_solver(method).defaults()


__all__ = ["METHODS", "OPTIONS", "Solution", "SolverError", "default_options", "register_solver", "solve",
           "solver_names"]
