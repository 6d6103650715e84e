"""Learned agents for hetserve: training (PPO, A2C, MaskablePPO with RL Zoo hyperparameters), evaluation of any
policy or saved model on a split, and the main comparison job (``hetserve compare``). See ``docs/agents.md``.

Nothing heavy is imported here: ``agents.train`` imports SB3 and torch when a model is built.

>>> from agents.train import train                      # doctest: +SKIP
>>> rec = train("ppo", "hetserve_env/HetServe-v1", timesteps=1_500_000, seed=0,
...             save_path="agents/models/ppo_HetServe-v1.zip")
>>> from agents.compare import compare                  # doctest: +SKIP
>>> res = compare("default")                              # GH, AGH, MILP, oracle AGH, the shipped PPO
>>> from agents import score_policy                       # doctest: +SKIP
>>> score_policy("my_policy:KeepTwo", "hetserve_env/HetServeSmall-v1")   # any policy, the project's metrics
"""

from __future__ import annotations

from .paths import HYPERPARAMS_DIR, MODELS_DIR

__all__ = ["HYPERPARAMS_DIR", "MODELS_DIR", "Policy", "score_policy"]


def __getattr__(name: str):  # lazy: ``import agents`` stays light
    if name == "score_policy":
        from .evaluation import score_policy

        return score_policy
    if name == "Policy":
        from .policies import Policy

        return Policy
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
