"""RL Zoo: every registered id has an entry in every algorithm's hyperparameter file, with the project's policy
network (not RL Zoo's fallback MlpPolicy), and the ``zoo`` extra brings what ``rl_zoo3.enjoy`` imports."""

from __future__ import annotations

import sys

import pytest

from agents.zoo_config import ALGOS, load_hyperparams, missing_entries
from hetserve_env.registration import ENV_IDS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml needs tomllib (3.11) or tomli")

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POLICIES = {"ppo": "agents.train.HetServePolicy", "a2c": "agents.train.HetServePolicy",
            "ppo_mask": "agents.train.HetServeMaskablePolicy"}


@pytest.mark.parametrize("algo", ALGOS)
def test_every_registered_id_has_an_entry_with_the_project_policy(algo):
    assert missing_entries(algo) == []
    for env_id in ENV_IDS:
        hp = load_hyperparams(algo, env_id)
        assert hp["policy"] == POLICIES[algo], env_id
        assert {"n_envs", "n_timesteps", "policy_kwargs"} <= set(hp), env_id


def test_missing_entries_names_the_ids_a_file_lacks(tmp_path):
    p = tmp_path / "ppo.yml"
    p.write_text("hetserve_env/HetServe-v1:\n  policy: agents.train.HetServePolicy\n")
    assert missing_entries("ppo", p) == [i for i in ENV_IDS if i != "hetserve_env/HetServe-v1"]


def test_zoo_extra_brings_requests_for_enjoy():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("rl_zoo3") for req in extras["zoo"])
    assert "requests" in extras["zoo"]
