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

import inspect
from typing import Any

from hetserve_env.problem import Problem

from .solution import Solution, SolverError

METHODS = ("gh", "agh", "milp")

_GH_OPTIONS = {"m1", "m2", "m3", "explain"}
_AGH_OPTIONS = _GH_OPTIONS | {"starts", "random_starts", "seed", "local_search", "consolidation", "time_budget_s",
                              "lp_start"}
_MILP_OPTIONS = {"solver", "time_limit", "gap", "warm_start", "msg", "threads"}
OPTIONS = {"gh": _GH_OPTIONS, "agh": _AGH_OPTIONS, "milp": _MILP_OPTIONS}


def solve(problem: Problem, method: str = "agh", **options: Any) -> Solution:
    """Solve ``problem`` with ``method``: ``"gh"``, ``"agh"`` or ``"milp"``.

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
    m = str(method).lower()
    if m not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    unknown = sorted(set(options) - OPTIONS[m])
    if unknown:
        raise TypeError(f"solve(method={m!r}) got unknown option(s) {unknown}; valid: {sorted(OPTIONS[m])}")
    if m == "gh":
        from .gh import solve_gh

        return solve_gh(problem, **options)
    if m == "agh":
        from .agh import solve_agh

        return solve_agh(problem, **options)
    from .milp import solve_milp  # PuLP is imported here, not at package import

    return solve_milp(problem, **options)


def default_options(method: str) -> dict[str, Any]:
    """The default value of every option of ``method`` (for docs and the CLI)."""
    m = str(method).lower()
    if m not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    if m == "gh":
        from .gh import solve_gh as fn
    elif m == "agh":
        from .agh import solve_agh as fn
    else:
        from .milp import solve_milp as fn
    sig = inspect.signature(fn)
    return {k: v.default for k, v in sig.parameters.items() if k in OPTIONS[m]}


__all__ = ["METHODS", "OPTIONS", "Solution", "SolverError", "default_options", "solve"]
