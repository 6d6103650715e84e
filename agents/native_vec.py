"""SB3's VecEnv API over the native vector env (:class:`hetserve_env.vector.HetServeVectorEnv`).

Why: ``hetserve train`` builds N environments with ``make_vec_env`` (``DummyVecEnv``: N Python steps per batch);
this adapter steps them in one compiled call and reproduces what ``make_vec_env(id, n_envs, seed,
wrapper_class=TemplateSubset, vec_env_cls=DummyVecEnv)`` returns, step for step (tested): env ``i`` is seeded
``seed + i`` at the first reset, finished episodes are reset in the same step (SB3's convention) with the final
observation in ``infos[i]["terminal_observation"]``, ``infos[i]["TimeLimit.truncated"]`` and Monitor's
``infos[i]["episode"]`` (``r``, ``l``, ``t``) as ``Monitor`` writes them, float32 rewards, and
``env_method("action_masks")`` / ``get_attr("action_masks")`` for sb3-contrib's MaskablePPO.

Differences (documented): the per-env ``infos`` hold only those SB3 keys, not the env's own ``info`` terms
(the batched ones are in :attr:`last_info`); the only wrapper it applies is one with batched
``observation``/``full_action``/``mask`` transforms (:class:`hetserve_env.wrappers.TemplateSubset`).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from hetserve_env.vector import HetServeVectorEnv

_TRANSFORMS = ("observation", "full_action", "mask")


class NativeVecEnv(VecEnv):
    """``n_envs`` HetServe environments (``env_kwargs`` as ``HetServeEnv``'s) for SB3, optionally through
    ``wrapper`` (a callable env -> TemplateSubset-like wrapper, as ``make_vec_env``'s ``wrapper_class``)."""

    def __init__(self, n_envs: int, env_kwargs: dict[str, Any] | None = None,
                 wrapper: Callable[[gym.Env], Any] | None = None, threads: int | None = None) -> None:
        self.venv = HetServeVectorEnv(n_envs, threads=threads, **(env_kwargs or {}))
        proto = self.venv.env
        self.wrapper = wrapper(proto) if wrapper is not None else None
        if self.wrapper is not None and not all(hasattr(self.wrapper, m) for m in _TRANSFORMS):
            raise ValueError(f"the native vec env applies only wrappers with batched {list(_TRANSFORMS)} transforms "
                             f"(TemplateSubset), got {type(self.wrapper).__name__}; use vec_env='dummy'")
        view = self.wrapper if self.wrapper is not None else proto
        super().__init__(n_envs, view.observation_space, view.action_space)
        self.last_info: dict[str, Any] = {}
        self._actions: np.ndarray | None = None
        self._ep_return = np.zeros(n_envs)
        self._ep_length = np.zeros(n_envs, dtype=np.int64)
        self._t_start = time.time()

    def _obs(self, obs: np.ndarray) -> np.ndarray:
        # C order as DummyVecEnv's buffer: the wrapper's column selection of a batch is F-ordered, and torch's
        # matmul on other strides rounds differently (the learned parameters would differ in the last bits)
        return np.ascontiguousarray(self.wrapper.observation(obs)) if self.wrapper is not None else obs

    def reset(self) -> np.ndarray:
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        opts = self._options[0] if self._options and all(o == self._options[0] for o in self._options) else {}
        obs, info = self.venv.reset(seed=seeds, options=dict(opts) or None)
        self.last_info = info
        self._reset_seeds()
        self._reset_options()
        self._ep_return[:] = 0.0
        self._ep_length[:] = 0
        return self._obs(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        a = self._actions
        if self.wrapper is not None:
            a = self.wrapper.full_action(a)
        obs, reward, terminated, truncated, info = self.venv.step(a)
        self.last_info = info
        done = terminated | truncated
        self._ep_return += reward
        self._ep_length += 1
        infos: list[dict[str, Any]] = [{"TimeLimit.truncated": bool(truncated[n] and not terminated[n])}
                                       for n in range(self.num_envs)]
        if done.any():
            now = round(time.time() - self._t_start, 6)
            for n in np.flatnonzero(done):
                infos[n]["terminal_observation"] = self._obs(obs[n])
                infos[n]["episode"] = {"r": round(float(self._ep_return[n]), 6), "l": int(self._ep_length[n]), "t": now}
            fresh, _ = self.venv.reset(options={"reset_mask": done})
            obs = np.where(done[:, None], fresh, obs)
            self._ep_return[done] = 0.0
            self._ep_length[done] = 0
        return self._obs(obs), reward.astype(np.float32), done, infos

    def action_masks(self) -> np.ndarray:
        """(N, mask size) bool, through the wrapper's mask."""
        m = self.venv.action_masks()
        return self.wrapper.mask(m) if self.wrapper is not None else m

    def close(self) -> None:
        self.venv.close()

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [int(indices)] if isinstance(indices, (int, np.integer)) else [int(i) for i in indices]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        if attr_name == "action_masks":
            masks = self.action_masks
            return [lambda n=n: masks()[n] for n in self._indices(indices)]
        view = self.wrapper if self.wrapper is not None else self.venv.env
        value = getattr(view, attr_name)  # AttributeError as SB3 expects for a missing attribute
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError(f"the native vec env's sub-environments share one set of attributes; cannot set {attr_name!r}")

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any) -> list[Any]:
        if method_name == "action_masks":
            m = self.action_masks()
            return [m[n] for n in self._indices(indices)]
        raise AttributeError(f"the native vec env supports env_method('action_masks') only, not {method_name!r}")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        # Monitor's episode statistics are written as Monitor writes them
        wrapped = wrapper_class is Monitor or (self.wrapper is not None and isinstance(self.wrapper, wrapper_class))
        return [wrapped for _ in self._indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs
