"""The one episode runner: step a policy through one day of a HetServe env and keep what each step reported.

Both the experiments (:mod:`baselines.experiments`) and the agents' scoring (:mod:`agents.evaluation`) run
episodes with :func:`run_episode` and compute their metrics from the :class:`EpisodeLog` it returns, so an
episode means the same thing everywhere: ``reset(seed, options={"day": day[, "replicas": warm fleet]})``, then
``step`` until the env truncates (or ``max_windows`` steps). Money is the env's ``info["cost"]``
(:data:`COST_PARTS` add up to ``total``), priced by :func:`hetserve_env.allocation.evaluate`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .kernels.records import COST_PARTS, COST_TERMS

#: ``act(observation) -> (action, decision seconds or None)``; None: the runner's wall time around ``act``
Act = Callable[[np.ndarray], tuple[np.ndarray, float | None]]


@dataclass
class EpisodeLog:
    """What one episode reported, step by step: the env's ``info``, the reward and the decision seconds."""

    day: int
    seed: int | None
    infos: list[dict[str, Any]] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    decision_s: list[float] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return len(self.infos)

    @property
    def total_cost(self) -> float:
        """$ of the episode: Σ ``info["cost"]["total"]`` over the steps (in step order); every caller that needs
        an episode's cost reads it here. Its parts: :meth:`cost_parts`."""
        return float(sum(float(info["cost"]["total"]) for info in self.infos))

    def cost_parts(self) -> dict[str, float]:
        """$ of every :data:`COST_PARTS` term summed over the steps (in step order); they add up to
        :attr:`total_cost` (up to float rounding)."""
        money = dict.fromkeys(COST_PARTS, 0.0)
        for info in self.infos:
            for k in COST_PARTS:
                money[k] += float(info["cost"].get(k, 0.0))
        return money


def policy_act(policy: Any) -> Act:
    """An :data:`Act` for an object with SB3's ``predict``: the decision time is the one the policy appends to its
    ``decision_times`` in that call (solver policies charge cached plans what they cost), else None (wall time)."""
    times = getattr(policy, "decision_times", None)

    def act(obs: np.ndarray) -> tuple[np.ndarray, float | None]:
        n_before = len(times) if times is not None else 0
        action, _ = policy.predict(obs, deterministic=True)
        grew = times is not None and len(times) > n_before
        return action, (times[-1] if grew else None)

    return act


def run_episode(env: Any, act: Act, day: int, seed: int | None, *, start_replicas: np.ndarray | None = None,
                max_windows: int | None = None, on_step: Callable[[], None] | None = None) -> EpisodeLog:
    """Run one episode of ``env`` from ``day`` (noise seeded by ``seed``) with ``act``.

    ``start_replicas``: a warm fleet at reset (already serving). ``max_windows``: stop after that many steps.
    ``on_step`` is called after every step (e.g. a progress bar)."""
    if max_windows is not None and (isinstance(max_windows, bool) or int(max_windows) < 1):
        raise ValueError(f"max_windows must be an integer >= 1 or None, got {max_windows!r}")
    options: dict[str, Any] = {"day": int(day)}
    if start_replicas is not None:
        options["replicas"] = np.asarray(start_replicas, dtype=np.int64)
    obs, _ = env.reset(seed=None if seed is None else int(seed), options=options)
    log = EpisodeLog(int(day), seed)
    while True:
        t0 = time.perf_counter()
        action, seconds = act(obs)
        wall = time.perf_counter() - t0
        obs, reward, terminated, truncated, info = env.step(action)
        log.infos.append(info)
        log.rewards.append(float(reward))
        log.decision_s.append(wall if seconds is None else float(seconds))
        if on_step is not None:
            on_step()
        if terminated or truncated or (max_windows is not None and log.steps >= max_windows):
            return log


__all__ = ["COST_PARTS", "COST_TERMS", "Act", "EpisodeLog", "policy_act", "run_episode"]
