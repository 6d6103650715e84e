"""The window Problems an environment exposes to planners: the last observed window (reactive), the next one (an
oracle's view), any window of the episode (the hindsight model), and the fleet's cold-start cohorts.

A mixin of :class:`hetserve_env.env.HetServeEnv`, kept apart so that the env module holds the Gymnasium API and
the step; every method reads the episode the env's ``reset`` built.
"""

from __future__ import annotations

import numpy as np

from .problem import Problem


class WindowProblems:
    """Planner views of the current episode (each a full, validated :class:`Problem` with realised demand)."""

    def last_window_problem(self) -> Problem:
        """The full, validated Problem of the most recent observed window (realised rate and its tokens).

        What a reactive planner plans the next window for. Before the first step: the last history window.
        """
        self._require_reset()
        return self._full_problem(self._t + self.history - 1)

    def next_window_problem(self) -> Problem:
        """The full, validated Problem of the next window (its realised demand): an oracle's view."""
        self._require_reset()
        if self._t >= self._T:
            raise RuntimeError("the episode is over: there is no next window")
        return self._full_problem(self._t + self.history)

    def window_problem(self, t: int) -> Problem:
        """Full Problem of episode window ``t`` (−history..T−1) with its realised demand (t ≥ elapsed_steps: oracle)."""
        self._require_reset()
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not -self.history <= t < self._T:
            raise ValueError(f"window t = {t!r} is out of range {-self.history}..{self._T - 1} (episode windows)")
        return self._full_problem(int(t) + self.history)

    def fleet_cohorts(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of (serving replicas (D,), still-starting replicas by age in windows (K, D)) after the last step."""
        self._require_reset()
        return self._state.ready.copy(), self._state.warm.copy()

    def _full_problem(self, row: int) -> Problem:
        """The full, validated Problem of history/episode row ``row`` (realised rate and its tokens)."""
        ep = self._episode
        return self.scenario.compile(ep.rate[row].copy(), ep.input_tokens[row].copy(), ep.output_tokens[row].copy(),
                                     name=f"{self.scenario.name}:w{ep.index[row]}")
