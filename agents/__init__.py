"""Learned agents for hetserve: training (PPO, A2C, MaskablePPO with RL Zoo hyperparameters), evaluation of any
policy or saved model on a split, and the main comparison job (``hetserve compare``). See ``docs/agents.md``.

Nothing heavy is imported here: ``agents.train`` imports SB3 and torch when a model is built.

>>> from agents.train import train                      # doctest: +SKIP
>>> rec = train("ppo", "hetserve_env/HetServe-v0", timesteps=1_500_000, seed=0,
...             save_path="agents/models/ppo_HetServe-v0.zip")
>>> from agents.evaluation import compare               # doctest: +SKIP
>>> res = compare("default")                              # GH, AGH, MILP, oracle AGH, the shipped PPO
"""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent / "models"
HYPERPARAMS_DIR = Path(__file__).resolve().parent / "hyperparams"

__all__ = ["HYPERPARAMS_DIR", "MODELS_DIR"]
