"""Where the shipped agents and their RL Zoo hyperparameter files live (inside the installed package)."""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent / "models"
HYPERPARAMS_DIR = Path(__file__).resolve().parent / "hyperparams"
