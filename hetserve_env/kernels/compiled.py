"""Every compiled kernel in one namespace: what the Python wrappers load lazily (importing this module
imports numba and loads or compiles the kernels)."""

from __future__ import annotations

from .batch import env_step_batch
from .evaluate import evaluate_core
from .fleet import enforce_limits, fleet_update, limits_broken
from .observe import observe
from .router import route_greedy_core, router_objective_core, zero_rate_share
from .step import env_step, env_window, out_of_range
from .sums import argsort_stable, npsum

__all__ = ["argsort_stable", "enforce_limits", "env_step", "env_step_batch", "env_window", "evaluate_core", "fleet_update",
           "limits_broken", "npsum", "observe", "out_of_range", "route_greedy_core", "router_objective_core",
           "zero_rate_share", "bind"]


def bind(dispatcher, *example_args):
    """The compiled entry point of ``dispatcher`` for the exact numba types of ``example_args`` (loaded from the
    cache or compiled now).

    Why: a call through the dispatcher types every argument on every call, and typing the fields of the
    EnvParams/EnvState records costs tens of µs (more than the step's work on small fleets). The environment
    builds those records itself with fixed dtypes, layouts and shapes' ranks, so it resolves the overload once
    and calls it directly. Only for arguments whose types the caller guarantees: the entry point does not
    check them.
    """
    return dispatcher.compile(tuple(dispatcher.typeof_pyval(a) for a in example_args))
