"""Gymnasium registration of the hetserve environments (imported by ``hetserve_env/__init__.py``).

Gymnasium >= 1.0 has no plugin discovery, so ``import hetserve_env`` registers:

* ``hetserve_env/HetServe-v1``: the default scenario (3 query types, 5 models, 5 GPU types; 10-minute windows);
* ``hetserve_env/HetServeSmall-v1``: the small teaching scenario (2 types, 3 models, 3 GPU types);
* ``hetserve_env/HetServePaper-v1``: the paper-like scenario with 5-minute windows, as in the paper's rolling study;
* ``hetserve_env/HetServe-v2``, ``HetServeSmall-v2``, ``HetServePaper-v2``: the same scenarios under performance
  model v2 (``perf_model="v2"``; docs/model.md "Model v2"). The -v1 ids stay the defaults until agents are
  retrained on v2.

Each id also has a ``vector_entry_point`` (:class:`hetserve_env.vector.HetServeVectorEnv`, N envs stepped in
one compiled call). No ``max_episode_steps``: episodes are truncated by the environment at the end of their day(s) of demand.
Every constructor argument of :class:`hetserve_env.env.HetServeEnv` can be passed to ``gym.make``.
"""

from __future__ import annotations

import gymnasium as gym

ENTRY_POINT = "hetserve_env.env:HetServeEnv"
#: The native vector env: ``gym.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")``.
VECTOR_ENTRY_POINT = "hetserve_env.vector:HetServeVectorEnv"

#: The ids under performance model v1 (the ones tests/data/golden.npz records).
ENV_IDS_V1: dict[str, dict] = {
    "hetserve_env/HetServe-v1": {"scenario": "default"},
    "hetserve_env/HetServeSmall-v1": {"scenario": "small"},
    "hetserve_env/HetServePaper-v1": {"scenario": "paper", "window_minutes": 5},
}
#: The same scenarios under performance model v2.
ENV_IDS_V2: dict[str, dict] = {k.replace("-v1", "-v2"): {**v, "perf_model": "v2"} for k, v in ENV_IDS_V1.items()}
#: Every registered id.
ENV_IDS: dict[str, dict] = {**ENV_IDS_V1, **ENV_IDS_V2}


def register_envs() -> None:
    """Register every id of ENV_IDS (idempotent: re-importing does not warn)."""
    for env_id, kwargs in ENV_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(id=env_id, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT, kwargs=dict(kwargs),
                     disable_env_checker=False)


register_envs()
