"""What the environment keeps of its episode for rendering and inspection: the last step's
:class:`StepRecord` and the :class:`EpisodeTrace` of the windows played so far.

Why lazy: the step itself never needs the window's Problem, Allocation or Evaluation as objects (the
compiled step computes the numbers); a record builds them on first access, from the same inputs as the
step's own compiled call, so its numbers are the step's.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Callable, NamedTuple

import numpy as np

from .allocation import Allocation, Evaluation, evaluate
from .problem import Problem


class StepRecord:
    """The last step: episode window ``t``, the ``billed`` template indices (those with replicas), their
    ``target`` replicas and ``available`` replica-equivalents (row t of the episode's ``rec_avail``), the routing ``x``/``u`` on them and the
    window's ``cost`` terms ($, ``info["cost"]``). ``problem``/``allocation``/``evaluation`` are the window's
    Problem on the billed templates, the Allocation and ``evaluate(..., latency="load", available=...)``."""

    def __init__(self, window_problem: Callable[[int, np.ndarray], Problem], t: int, billed: np.ndarray,
                 target: np.ndarray, rec_avail: np.ndarray, x: np.ndarray, u: np.ndarray, cost: dict[str, float]) -> None:
        self._window_problem, self.t, self.billed, self.cost = window_problem, t, billed, cost
        self._target, self._rec_avail, self._x, self._u = target, rec_avail, x, u

    @cached_property
    def target(self) -> np.ndarray:
        return self._target[self.billed]

    @cached_property
    def available(self) -> np.ndarray:
        return self._rec_avail[self.t][self.billed]

    @cached_property
    def problem(self) -> Problem:
        return self._window_problem(self.t, self.billed)

    @cached_property
    def allocation(self) -> Allocation:
        return Allocation(self.target.copy(), self._x, self._u)

    @cached_property
    def evaluation(self) -> Evaluation:
        return evaluate(self.problem, self.allocation, latency="load", available=self.available)


class EpisodeTrace(NamedTuple):
    """Per window played so far (n of them): hours since the episode start, demand and served req/s, the
    req/s the serving fleet could take at the window's request mix, GPUs rented per GPU type (n, G) and
    serving replica-equivalents per template (n, D)."""

    hours: np.ndarray
    demand: np.ndarray
    served: np.ndarray
    capacity_at_mix: np.ndarray
    gpus_by_type: np.ndarray
    available: np.ndarray


def capacity_at_mix(capacity: np.ndarray, rate: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Req/s the serving fleet could take at each window's request mix (types a template cannot serve
    excluded): ``capacity`` (n, I, D) req/s per replica, ``rate`` (n, I), ``available`` (n, D)."""
    if rate.shape[0] == 0:
        return np.zeros(0)
    w = rate / np.maximum(rate.sum(axis=1, keepdims=True), 1e-12)
    servable = capacity > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(servable, w[:, :, None] / np.where(servable, capacity, 1.0), 0.0).sum(axis=1)  # (n, D)
        share = (w[:, :, None] * servable).sum(axis=1)
        per_replica = np.where(inv > 0, share / inv, 0.0)
    return (per_replica * available).sum(axis=1)


def episode_trace(n: int, window_s: float, history: int, state: Any, params: Any) -> EpisodeTrace:
    """The EpisodeTrace of the first ``n`` windows of an episode from its EnvState and EnvParams (copies; empty
    before the first reset, when ``state`` is None)."""
    if state is None:
        z = np.zeros(0)
        return EpisodeTrace(z, z, z, z, np.zeros((0, 0)), np.zeros((0, 0)))
    rate = state.rate[history:history + n]
    avail = state.rec_avail[:n].copy()
    cap = capacity_at_mix(params.pairs[state.perf_row[:n], 0], rate, avail)
    return EpisodeTrace(np.arange(n) * window_s / 3600.0, rate.sum(axis=1), state.rec_served[:n].copy(), cap,
                        state.rec_gpus[:n].copy(), avail)
