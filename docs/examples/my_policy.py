"""A policy of your own (docs/your-own.md): anything with SB3's ``predict`` signature.

``hetserve evaluate my_policy:KeepTwo --env hetserve_env/HetServeSmall-v1`` imports this module (the
current directory is searched first) and, because ``KeepTwo`` is a class, calls ``KeepTwo(env)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class KeepTwo:
    """Two replicas of the cheapest template that serves each query type, whatever the demand."""

    name = "keep-two"

    def __init__(self, env: Any) -> None:
        base = env.unwrapped
        problem = base.scenario.problem()            # the scenario's static (peak-demand) problem
        self.action = np.zeros(base.action_space.shape, dtype=np.int64)
        for i in range(problem.n_types):
            serving = np.flatnonzero(problem.capacity[i] > 0)
            if serving.size:
                self.action[serving[np.argmin(problem.cost[serving])]] = 2

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        return self.action.copy(), state
