"""An RLlib RL module as a :class:`agents.policies.Policy` (:class:`RLlibPolicy`), loaded from the checkpoint that
``hetserve train --backend rllib`` writes; and the check that ray is installed.

Why a module of its own: :mod:`agents.policies` loads a checkpoint by path (``hetserve evaluate <run>/checkpoint``)
and :mod:`agents.rllib` trains and scores, so both import this and neither imports the other. Importing it does
not import ray.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np


class MissingExtra(ImportError):
    """An optional extra (ray) is not installed (a user error: one line in the CLI)."""


def require_ray() -> None:
    """Raise :class:`MissingExtra` (one line in the CLI) when ray is not installed."""
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise MissingExtra("the rllib backend needs ray: install the extra in its own venv "
                           "(make test-rllib builds .venv-rllib; or pip install -e \".[rllib]\"), "
                           f"not found: {exc}") from None


def module_from_checkpoint(path: str | Path) -> Any:
    """The default RL module saved in an ``Algorithm.save_to_path`` checkpoint directory."""
    require_ray()
    from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_LEARNER_GROUP, COMPONENT_RL_MODULE, DEFAULT_MODULE_ID
    from ray.rllib.core.rl_module.rl_module import RLModule

    p = Path(path)
    sub = p / COMPONENT_LEARNER_GROUP / COMPONENT_LEARNER / COMPONENT_RL_MODULE / DEFAULT_MODULE_ID
    if not sub.is_dir():
        raise FileNotFoundError(f"{p} is not an RLlib algorithm checkpoint (no {sub.relative_to(p)})")
    return RLModule.from_checkpoint(str(sub.resolve()))


def is_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` looks like an RLlib algorithm checkpoint (without importing ray)."""
    return (Path(path) / "learner_group").is_dir() and (Path(path) / "algorithm_state.pkl").exists()


class RLlibPolicy:
    """An RLlib RL module (or a checkpoint directory) as a :class:`agents.policies.Policy`: the greedy action
    (mode of each MultiDiscrete dimension) of the module's ``forward_inference`` on the raw observation (the
    default PPO connectors do not normalise a flat Box observation)."""

    def __init__(self, module: Any, env_or_id: Any, name: str = "RLlib PPO") -> None:
        import gymnasium as gym

        import hetserve_env  # noqa: F401

        self.module = module_from_checkpoint(module) if isinstance(module, (str, Path)) else module
        space = env_or_id.action_space if hasattr(env_or_id, "action_space") else gym.spec(env_or_id).make().action_space
        if not isinstance(space, gym.spaces.MultiDiscrete):
            raise ValueError(f"RLlibPolicy needs a MultiDiscrete action space, got {space}")
        self.nvec = np.asarray(space.nvec, dtype=np.int64).ravel()
        obs_space = env_or_id.observation_space if hasattr(env_or_id, "observation_space") else None
        want = getattr(self.module, "observation_space", None)
        if obs_space is not None and want is not None and tuple(want.shape) != tuple(obs_space.shape):
            raise ValueError(f"the RLlib module expects observations of shape {tuple(want.shape)}, the env gives "
                             f"{tuple(obs_space.shape)} (evaluate it on the env id it was trained on, --env)")
        self.name = name
        self.decision_times: list[float] = []

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        import torch

        t0 = time.perf_counter()
        obs = np.asarray(observation, dtype=np.float32)
        batched = obs.ndim >= 2
        with torch.no_grad():
            out = self.module.forward_inference({"obs": torch.from_numpy(obs if batched else obs[None])})
        logits = out["action_dist_inputs"].numpy()
        parts = np.split(logits, np.cumsum(self.nvec)[:-1], axis=-1)
        if deterministic:
            acts = [p.argmax(axis=-1) for p in parts]
        else:
            rng = np.random.default_rng()
            acts = [np.array([rng.choice(len(r), p=np.exp(r - r.max()) / np.exp(r - r.max()).sum()) for r in p])
                    for p in parts]
        a = np.stack(acts, axis=-1).astype(np.int64)
        self.decision_times.append((time.perf_counter() - t0) / len(a))
        return (a if batched else a[0]), state


__all__ = ["MissingExtra", "RLlibPolicy", "is_checkpoint", "module_from_checkpoint", "require_ray"]
