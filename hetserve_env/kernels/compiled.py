"""Every compiled kernel in one namespace: what the Python wrappers load lazily (importing this module
imports numba and loads or compiles the kernels)."""

from __future__ import annotations

from .evaluate import evaluate_core
from .fleet import enforce_limits, fleet_update, limits_broken
from .observe import observe
from .router import route_greedy_core, router_objective_core, zero_rate_share
from .step import env_step, env_window, out_of_range
from .sums import argsort_stable, npsum

__all__ = ["argsort_stable", "enforce_limits", "env_step", "env_window", "evaluate_core", "fleet_update",
           "limits_broken", "npsum", "observe", "out_of_range", "route_greedy_core", "router_objective_core",
           "zero_rate_share"]
