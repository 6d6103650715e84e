"""RLlib (the ``rllib`` extra, its own venv: ``make test-rllib``): registration of every id for env runners that
never import the package, ``hetserve train --backend rllib`` and an RLlib checkpoint scored as a policy."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import pytest

ray = pytest.importorskip("ray", reason="the rllib extra is not installed (make test-rllib builds .venv-rllib)")

import hetserve_env  # noqa: E402,F401
from hetserve_env.cli import main  # noqa: E402
from hetserve_env.registration import ENV_IDS  # noqa: E402
from hetserve_env.rllib import register_rllib_envs  # noqa: E402

SMALL = "hetserve_env/HetServeSmall-v1"


def _creator(env_id):
    from ray.tune.registry import ENV_CREATOR, _global_registry

    return _global_registry.get(ENV_CREATOR, env_id)


def test_every_id_registers_and_the_creator_makes_it_by_plain_id():
    assert register_rllib_envs() == list(ENV_IDS)
    for env_id in ENV_IDS:
        env = _creator(env_id)({"split": "validation"})
        try:
            assert env.unwrapped.split == "validation"
            assert env.spec.id == env_id
        finally:
            env.close()
    with pytest.raises(ValueError, match="CartPole-v1"):
        register_rllib_envs(("CartPole-v1",))


def test_creator_works_in_a_process_that_never_imported_the_package(tmp_path):
    """What an env runner sees: the pickled creator, no ``import hetserve_env`` beforehand."""
    from ray import cloudpickle

    register_rllib_envs()
    blob = tmp_path / "creator.pkl"
    blob.write_bytes(cloudpickle.dumps(_creator(SMALL)))
    code = ("import pickle, sys\n"
            "assert 'hetserve_env' not in sys.modules\n"
            f"env = pickle.loads(open({str(blob)!r}, 'rb').read())({{'split': 'train'}})\n"
            "obs, _ = env.reset(seed=0)\n"
            "print(env.spec.id, obs.shape)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert SMALL in out.stdout


def test_train_rllib_two_iterations_writes_the_run_and_scores_the_checkpoint(tmp_path, capsys):
    """Two PPO iterations with one remote env runner (which makes the env by its plain id), then the checkpoint
    scored through ``hetserve evaluate`` like any policy."""
    args = ["train", "--backend", "rllib", "--env", SMALL, "--iterations", "2", "--num-env-runners", "1",
            "--seed", "3", "--log-dir", str(tmp_path), "--set", "train_batch_size_per_learner=288",
            "--set", "minibatch_size=144", "--set", "num_epochs=2"]
    assert main(args) == 0
    run = tmp_path / "rllib_ppo_HetServeSmall-v1_s3"
    assert {"run.json", "progress.csv", "model.json", "checkpoint"} <= {p.name for p in run.iterdir()}
    rec = json.loads((run / "model.json").read_text())
    assert rec["iterations"] == 2 and rec["timesteps"] >= 2 * 288 and rec["num_env_runners"] == 1
    assert rec["training"]["num_epochs"] == 2 and rec["versions"]["ray"] == ray.__version__
    assert rec["final_validation"]["mean_cost_usd"] > 0
    assert len((run / "progress.csv").read_text().strip().splitlines()) == 3  # header + 2 iterations
    assert "final validation" in capsys.readouterr().out
    # the same directory again is refused; the checkpoint is a policy
    assert main(args) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["evaluate", str(run / "checkpoint"), "--env", SMALL, "--split", "validation", "--episodes", "1",
                 "--no-progress"]) == 0
    assert "RLlib PPO" in capsys.readouterr().out


def test_rllib_backend_refuses_sb3_options_and_unknown_settings(tmp_path, capsys):
    base = ["train", "--backend", "rllib", "--env", SMALL, "--log-dir", str(tmp_path), "--iterations", "1"]
    assert main([*base, "--algo", "a2c"]) == 2
    assert "--algo are SB3 options" in capsys.readouterr().err
    assert main([*base, "--set", "learning_rate=0.1"]) == 2
    assert "learning_rate: not a PPOConfig training setting" in capsys.readouterr().err
    assert main([*base, "--num-env-runners", "-1"]) == 2
    assert "--num-env-runners must be an integer >= 0" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_rllib_policy_refuses_an_env_of_another_shape(tmp_path):
    from agents.rllib import RLlibPolicy, build_config

    algo = build_config(SMALL, 0, 0, {"train_batch_size_per_learner": 144}).build_algo()
    try:
        module = algo.get_module()
    finally:
        algo.stop()
    with pytest.raises(ValueError, match="expects observations of shape"):
        RLlibPolicy(module, gym.make("hetserve_env/HetServe-v1"))
