"""The business-as-usual (BAU) reference: one static fleet sized for the training days' peak, held all day.

Why: the benchmark's normalised score needs a floor that any operator could run without a model or a forecast
(DESIGN §10: 0 = business as usual). The BAU fleet is planned **once**, by a registry solver
(:func:`baselines.solve`, AGH by default), for the *peak window* of the training days: every query type at the
highest rate it reached in any training window of the scenario's series (the exact series, no noise), with the
token means of that type's peak window. The policy then asks for that fleet in every window of every episode
(from the empty start fleet: its cold starts are billed like anyone's). It reads nothing of the test days.

``make_policy("bau", env)`` (:mod:`baselines.policies`) builds it; ``peak_problem(scenario)`` is the window it
plans for. A peak the solver cannot serve (no feasible plan within budget and inventory) raises ``ValueError``
naming the solver's status: a static reference that breaks its own limits would not be business as usual.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import numpy as np

from hetserve_env.problem import Problem

from . import solve
from .solution import Solution

#: the solver that sizes the BAU fleet (a registry name of :mod:`baselines.registry`)
BAU_METHOD = "agh"


def peak_problem(scenario: Any, split: str = "train") -> Problem:
    """The Problem of the peak of ``split``'s days: per query type the largest rate of any window of those days
    (exact series), with the token means of the window where that type peaked."""
    demand = scenario.demand
    days = np.asarray(demand.split_day_ids(split))
    rows = np.flatnonzero(np.isin(np.asarray(demand.day), days))
    if rows.size == 0:
        raise ValueError(f"split {split!r} has no windows in scenario {scenario.name!r}")
    rate = np.asarray(demand.rate)[rows]
    peak_row = rows[np.argmax(rate, axis=0)]  # (I,) the window of each type's peak
    types = np.arange(rate.shape[1])
    return scenario.compile(np.asarray(demand.rate)[peak_row, types].astype(np.float64),
                            np.asarray(demand.input_tokens)[peak_row, types].astype(np.float64),
                            np.asarray(demand.output_tokens)[peak_row, types].astype(np.float64),
                            name=f"{scenario.name}:{split}-peak")


def plan_peak(scenario: Any, method: str = BAU_METHOD, split: str = "train", **options: Any) -> tuple[Solution, float]:
    """The solver's plan for :func:`peak_problem` and the seconds it took; ValueError if it is not feasible."""
    problem = peak_problem(scenario, split)
    t0 = time.perf_counter()
    sol = solve(problem, method, **options)
    dt = time.perf_counter() - t0
    if sol.allocation is None or not sol.feasible:
        raise ValueError(f"BAU: {method} found no feasible plan for the {split} days' peak of scenario "
                         f"{scenario.name!r} (status {sol.status!r}); the static reference needs one")
    return sol, dt


class StaticPeakPolicy:
    """Business as usual: the fleet of :func:`plan_peak` in every window (SB3's ``predict`` signature).

    The plan is made at construction from the env's scenario; its solve time is charged to the first decision
    of the first episode (``decision_times``), so the per-window decision time is honest and tiny."""

    def __init__(self, env: Any, method: str = BAU_METHOD, split: str = "train", name: str | None = None,
                 **solve_options: Any) -> None:
        self.env = env
        base = env.unwrapped if hasattr(env, "unwrapped") else env
        for attr in ("scenario", "action_from_replicas"):
            if not hasattr(base, attr):
                raise TypeError(f"StaticPeakPolicy needs a HetServeEnv (missing {attr!r} on {type(base).__name__})")
        self.base = base
        self.solver, self.split = method, split
        self.solution, self._plan_s = plan_peak(base.scenario, method, split, **solve_options)
        self.replicas = np.asarray(self.solution.allocation.replicas, dtype=np.int64)
        self.name = name or "BAU (static, training peak)"
        self.decision_times: list[float] = []
        self.stats: Counter = Counter()

    @property
    def note(self) -> str:
        """One line for tables: what the static fleet is."""
        return (f"{self.solver.upper()} plan for the {self.split} days' peak window: {int(self.replicas.sum())} "
                f"replicas of {int(np.count_nonzero(self.replicas))} template(s), held in every window")

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        t0 = time.perf_counter()
        if np.asarray(observation).ndim >= 2:
            raise ValueError("StaticPeakPolicy acts in one env: pass a single observation (obs_dim,)")
        action = np.asarray(self.base.action_from_replicas(self.replicas))
        dt = time.perf_counter() - t0 + self._plan_s
        self._plan_s = 0.0  # the one plan is charged once
        self.decision_times.append(dt)
        self.stats["calls"] += 1
        return action, state

    def reset_stats(self) -> None:
        self.decision_times.clear()
        self.stats.clear()


__all__ = ["BAU_METHOD", "StaticPeakPolicy", "peak_problem", "plan_peak"]
