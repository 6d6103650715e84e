"""Synthetic instances with the default budget rule: 1.3x the rental of GH's allocation without budget.

>>> from baselines.instances import generate, parse_spec
>>> p = generate(5, 5, 5, seed=1)                  # a Problem, feasible by construction
>>> q = parse_spec("instance:20x20x20:seed=1")     # what the CLI uses

The drawing is :func:`hetserve_env.instances.generate` (numpy only, no solver); this module adds the budget
rule that needs GH, one layer up, so ``hetserve_env`` never imports ``baselines``. The budget therefore depends
on GH's implementation (``problem.meta`` records the rule and the figures).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from hetserve_env import instances as drawing
from hetserve_env.catalog import Catalog
from hetserve_env.instances import InstanceError, certificate, spec_arguments
from hetserve_env.perf import PerfConstants
from hetserve_env.problem import Problem

from .gh import solve_gh

BUDGET_FACTOR = 1.3


def gh_budget(problem: Problem) -> tuple[float, dict[str, Any]]:
    """The default budget rule: ``BUDGET_FACTOR`` x the rental of GH's allocation of ``problem`` without budget,
    rounded up to the cent (GH's allocation then fits: feasible by construction); if GH finds none, the rental
    of :func:`hetserve_env.instances.certificate`. Returns (budget, notes for ``problem.meta``)."""
    gh = solve_gh(problem)
    if gh.feasible:
        b = math.ceil(BUDGET_FACTOR * gh.evaluation.rental * 100.0) / 100.0
        return b, {"gh_rental_unbounded": gh.evaluation.rental,
                   "budget_rule": f"{BUDGET_FACTOR} x the rental of GH without budget"}
    R = certificate(problem)
    if R is None:  # generate() only calls a rule on a draw whose certificate exists
        raise InstanceError(f"{problem.name}: no certificate fleet for the budget rule")
    b = math.ceil(float(problem.cost @ R) * 100.0) / 100.0
    return b, {"budget_rule": "rental of instances.certificate() (GH found no allocation)"}


def generate(n_types: int, n_models: int, n_tiers: int, seed: int = 0, *, tp: Sequence[int] = (1, 2, 4, 8),
             pp: Sequence[int] = (1, 2, 4), budget: float | None = None, catalog: Catalog | None = None,
             constants: PerfConstants | None = None) -> Problem:
    """A feasible synthetic Problem (see :mod:`hetserve_env.instances` for how it is drawn).

    ``budget=None`` applies :func:`gh_budget`, so the instance is feasible by construction; a number fixes it
    (feasibility is then not guaranteed). Deterministic for (sizes, seed, tp, pp, catalog).
    """
    return drawing.generate(n_types, n_models, n_tiers, seed, tp=tp, pp=pp,
                             budget=gh_budget if budget is None else budget,
                             catalog=catalog, constants=constants)


def parse_spec(spec: str) -> Problem:
    """``"instance:20x20x20:seed=1"`` (also ``"instance:5x5x5"``, seed 0; ``...:budget=123``) -> :func:`generate`."""
    sizes, kwargs = spec_arguments(spec)
    return generate(*sizes, **kwargs)


__all__ = ["BUDGET_FACTOR", "InstanceError", "generate", "gh_budget", "parse_spec"]
