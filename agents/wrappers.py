"""Env wrappers the hyperparameter YAML files name and evaluation reuses (docs/agents.md).

* :class:`TemplateSubset`: the agent acts on K candidate templates of the D the scenario has (chosen from static
  scenario data; the rest stay at 0) and observes only their fleet components. It is a plain function of the
  observation and the action, so :class:`agents.evaluation.AgentPolicy` applies it around a saved model.
* :class:`CycleDays`: evaluation-env wrapper that resets on the split's days in turn (deterministic validation
  in ``EvalCallback``).

Both are re-exported by :mod:`agents.train`, the name the YAML files use (``agents.train.TemplateSubset``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from hetserve_env import fleet_cost


def candidate_templates(env: gym.Env, per_type: int = 8) -> np.ndarray:
    """Indices of the candidate templates: for each query type, the ``per_type`` templates with the lowest
    cost per request at the scenario's static (peak) problem, ascending template index.

    Cost per request of template d for type i = rental per request at full capacity (``cost_d / 3600 /
    capacity_id``) + zero-load delay penalty (``ρ_i · latency_id``) + error penalty beyond the SLO
    (``ψ_i · max(0, error_id − ε_i)``); templates that cannot serve the type are skipped. Static scenario data
    only: no solver, no demand series.
    """
    base = env.unwrapped
    p = base.scenario.problem()
    if p.template_labels != base.template_labels:
        raise ValueError("the scenario's static problem and the env have different templates")
    chosen: set[int] = set()
    per_request = fleet_cost.cost_per_request(p)  # (I, D), inf where the template cannot serve the type
    for i in range(p.n_types):
        score = per_request[i]
        order = np.argsort(score, kind="stable")
        chosen.update(int(d) for d in order[:per_type] if np.isfinite(score[d]))
    return np.array(sorted(chosen), dtype=np.int64)


class TemplateSubset(gym.Wrapper):
    """Act on K candidate templates (see :func:`candidate_templates`); the other D − K stay at 0 replicas.

    Action space: ``MultiDiscrete`` of the env's per-template size over the K candidates (target counts, or
    −1/0/+1 in delta mode, where the others are sent "keep"). Observation: the env's observation with the
    per-template components (serving, warming) restricted to the candidates (size ``H·I + 2·I + 2·K + 2 + I
    + 1``). ``action_masks()`` is the env's mask on the candidates. Rewards and ``info`` are the env's,
    unchanged, so scores are on the same scale as every other policy.

    ``per_type`` (default 8) or an explicit ``templates`` list of indices.
    """

    def __init__(self, env: gym.Env, per_type: int = 8, templates: list[int] | None = None) -> None:
        super().__init__(env)
        base = env.unwrapped
        self.templates = (np.asarray(templates, dtype=np.int64) if templates is not None
                          else candidate_templates(env, per_type))
        self.per_type = per_type
        D = base.n_templates
        if self.templates.size == 0 or self.templates.min() < 0 or self.templates.max() >= D:
            raise ValueError(f"templates must be indices in 0..{D - 1}")
        self.n_full = D
        self.delta = base.action_mode == "delta"
        nvec = np.asarray(base.action_space.nvec)[self.templates]
        self.action_space = spaces.MultiDiscrete(nvec)
        sl = base._obs_slices
        keep = np.ones(base.observation_space.shape[0], dtype=bool)
        for name in ("serving", "warming"):
            s = sl[name]
            m = np.zeros(D, dtype=bool)
            m[self.templates] = True
            keep[s] = m
        self._keep = keep
        low, high = base.observation_space.low[keep], base.observation_space.high[keep]
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        k = int(nvec[0]) if nvec.size else 0
        n_values = int(np.asarray(base.action_space.nvec)[0])
        self._mask_index = (self.templates[:, None] * n_values + np.arange(k)[None, :]).ravel()

    # pure transformations (used by AgentPolicy around a saved model)
    def observation(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(obs)[..., self._keep]

    def full_action(self, action: np.ndarray) -> np.ndarray:
        a = np.asarray(action)
        out = np.full((*a.shape[:-1], self.n_full), 1 if self.delta else 0, dtype=np.int64)
        out[..., self.templates] = a
        return out

    def mask(self, full_mask: np.ndarray) -> np.ndarray:
        return np.asarray(full_mask)[..., self._mask_index]

    # gym API
    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        return self.observation(obs), info

    def step(self, action: np.ndarray):
        obs, reward, terminated, truncated, info = self.env.step(self.full_action(action))
        return self.observation(obs), reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        return self.mask(self.env.unwrapped.action_masks())


def start_days(env: gym.Env) -> list[int]:
    """The days of the env's split an episode can start on (its last ``episode_days - 1`` days cannot)."""
    base = env.unwrapped
    return list(base.split_days[:len(base.split_days) - base.episode_days + 1])


class CycleDays(gym.Wrapper):
    """Reset on the split's start days in turn (0, 1, 2, …) unless ``options["day"]`` is given: a fixed,
    deterministic validation set for ``EvalCallback``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.days = start_days(env)
        self._next = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        options = dict(options or {})
        if options.get("day") is None:
            options["day"] = self.days[self._next % len(self.days)]
            self._next += 1
        return self.env.reset(seed=seed, options=options)

    def action_masks(self) -> np.ndarray:
        return self.env.get_wrapper_attr("action_masks")()


__all__ = ["CycleDays", "TemplateSubset", "candidate_templates", "start_days"]
