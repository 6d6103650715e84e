"""RLlib registration of the hetserve ids (``ray`` is imported only when :func:`register_rllib_envs` is called).

Why: RLlib's env runners are separate processes that never ``import hetserve_env``, so the plain Gymnasium id
``"hetserve_env/HetServeSmall-v1"`` fails there with ``NamespaceNotFound``. :func:`register_rllib_envs` registers
every id with ``ray.tune.registry.register_env`` under the same plain id; the creator imports the package inside
the runner before ``gym.make``, so ``config.environment("hetserve_env/HetServeSmall-v1")`` works::

    from hetserve_env.rllib import register_rllib_envs
    register_rllib_envs()
    config = PPOConfig().environment("hetserve_env/HetServeSmall-v1", env_config={"split": "train"})

Without it, the module-qualified Gymnasium id also works, because Gymnasium imports the module before the
lookup: ``config.environment("hetserve_env:hetserve_env/HetServeSmall-v1")``. Either way every node of a Ray
cluster needs the package installed. ``env_config`` holds :class:`hetserve_env.env.HetServeEnv` arguments.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

from .registration import ENV_IDS

__all__ = ["make_env", "register_rllib_envs"]


def make_env(env_id: str, env_config: Mapping[str, Any] | None = None) -> Any:
    """The env ``env_id`` made with ``env_config`` as keyword arguments (RLlib's EnvContext is a dict with
    worker/vector indices as attributes; only its items are passed). Imports the package first."""
    import gymnasium as gym

    import hetserve_env  # noqa: F401  (registers the ids in this process)

    return gym.make(env_id, **dict(env_config or {}))


def register_rllib_envs(env_ids: tuple[str, ...] | None = None) -> list[str]:
    """Register ``env_ids`` (default: every registered hetserve id) with ``ray.tune.registry.register_env`` under
    their plain Gymnasium ids; returns the ids. Idempotent (registering again replaces the same creator)."""
    from ray.tune.registry import register_env

    ids = tuple(ENV_IDS) if env_ids is None else tuple(env_ids)
    unknown = [i for i in ids if i not in ENV_IDS]
    if unknown:
        raise ValueError(f"env_ids: {unknown} are not hetserve ids; allowed: {sorted(ENV_IDS)}")
    for env_id in ids:
        register_env(env_id, functools.partial(make_env, env_id))
    return list(ids)
