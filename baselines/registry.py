"""The one table of solvers: name -> solve function, its options (read from the function's signature), its
display label and whether it can plan one environment window at a time.

Everything that lists solvers reads this table: :func:`baselines.solve` and :func:`baselines.default_options`,
``hetserve solve --method`` (its choices and defaults), the environment policies of
:mod:`baselines.policies` (``<name>``, ``<name>-headroom``, ``<name>-oracle``), the experiments
(:mod:`baselines.experiments`) and ``hetserve compare``. Adding a solver is one :func:`register_solver` call.

Solvers are imported lazily (``loader`` returns the function), so listing them never imports PuLP.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

SolveFunction = Callable[..., Any]


@dataclass(frozen=True)
class SolverSpec:
    """One solver: ``loader()`` returns ``fn(problem, **options) -> Solution``; ``internal`` names keyword
    parameters of ``fn`` that are not user options (e.g. a deadline set by another solver)."""

    name: str
    label: str
    loader: Callable[[], SolveFunction]
    per_window: bool = True
    internal: frozenset[str] = field(default_factory=frozenset)
    #: estimates ("reactive", "oracle", "headroom") of this solver's env policies in ``hetserve compare``'s default set
    compare: tuple[str, ...] = ()

    def function(self) -> SolveFunction:
        return self.loader()

    def options(self) -> frozenset[str]:
        """The option names: the keyword parameters of the solve function after ``problem``."""
        params = list(inspect.signature(self.function()).parameters.values())[1:]
        kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return frozenset(p.name for p in params if p.kind in kinds and p.name not in self.internal)

    def defaults(self) -> dict[str, Any]:
        """The default value of every option (what the CLI shows and uses)."""
        sig = inspect.signature(self.function())
        opts = self.options()
        return {k: p.default for k, p in sig.parameters.items() if k in opts}


@dataclass(frozen=True)
class Variant:
    """A named preset of a solver used by the experiments, e.g. ``agh-paper`` = AGH with ``lp_start=False``."""

    solver: str
    options: Mapping[str, Any]
    label: str


_SOLVERS: dict[str, SolverSpec] = {}


def register_solver(name: str, loader: Callable[[], SolveFunction], *, label: str | None = None,
                    per_window: bool = True, internal: tuple[str, ...] = (), replace: bool = False,
                    compare: tuple[str, ...] = ()) -> SolverSpec:
    """Add a solver under ``name`` (lower case). ``loader`` returns the solve function (import inside it);
    ``compare``: the estimates of its env policies that ``hetserve compare`` runs by default."""
    key = str(name).strip().lower()
    if not key or not key.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"solver name must be letters, digits, '-' or '_', got {name!r}")
    if key.endswith(("-oracle", "-headroom")):
        raise ValueError(f"solver name {name!r} must not end in -oracle/-headroom (those name its env policies)")
    if key in _SOLVERS and not replace:
        raise ValueError(f"solver {key!r} is already registered (pass replace=True to replace it)")
    if not callable(loader):
        raise TypeError(f"loader of solver {key!r} must be callable, got {type(loader).__name__}")
    bad = sorted(set(compare) - {"reactive", "oracle", "headroom"})
    if bad:
        raise ValueError(f"compare of solver {key!r}: unknown estimate(s) {bad}; use 'reactive', 'oracle', 'headroom'")
    spec = SolverSpec(key, label or key.upper(), loader, bool(per_window), frozenset(internal), tuple(compare))
    _SOLVERS[key] = spec
    return spec


def unregister_solver(name: str) -> None:
    """Remove a solver added with :func:`register_solver` (the built-in ones are kept)."""
    key = str(name).lower()
    if key in BUILTIN:
        raise ValueError(f"{key!r} is a built-in solver and cannot be removed")
    _SOLVERS.pop(key, None)


def solver_names() -> tuple[str, ...]:
    """Every registered solver, in registration order."""
    return tuple(_SOLVERS)


def get_solver(name: str) -> SolverSpec:
    """The spec of ``name``; ValueError naming the choices if there is none."""
    key = str(name).lower()
    if key not in _SOLVERS:
        raise ValueError(f"unknown method {name!r}; choose one of {list(_SOLVERS)}")
    return _SOLVERS[key]


def _gh() -> SolveFunction:
    from .gh import solve_gh

    return solve_gh


def _agh() -> SolveFunction:
    from .agh import solve_agh

    return solve_agh


def _milp() -> SolveFunction:
    from .milp import solve_milp  # PuLP is imported here, not at package import

    return solve_milp


def _paper(name: str) -> Callable[[], SolveFunction]:
    def load() -> SolveFunction:
        from . import paper_baselines  # the paper's v2 baselines: LPR, DVR, HF

        return getattr(paper_baselines, f"solve_{name}")

    return load


register_solver("gh", _gh, label="GH", compare=("reactive", "headroom"))
register_solver("agh", _agh, label="AGH", internal=("work_deadline",), compare=("reactive", "oracle"))
register_solver("milp", _milp, label="MILP", internal=("start_solution",), compare=("reactive",))
for _name in ("lpr", "dvr", "hf"):
    register_solver(_name, _paper(_name), label=_name.upper())
BUILTIN = frozenset(_SOLVERS)

#: presets of the experiments (``baselines.experiments.plan``): name -> solver, options, label
VARIANTS: dict[str, Variant] = {"agh-paper": Variant("agh", {"lp_start": False}, "AGH (paper)")}


def method_spec(name: str) -> tuple[str, dict[str, Any], str]:
    """``(solver, preset options, label)`` of a solver or a :data:`VARIANTS` name."""
    if name in VARIANTS:
        v = VARIANTS[name]
        return v.solver, dict(v.options), v.label
    spec = get_solver(name)
    return spec.name, {}, spec.label


__all__ = ["BUILTIN", "SolverSpec", "VARIANTS", "Variant", "get_solver", "method_spec", "register_solver",
           "solver_names", "unregister_solver"]
