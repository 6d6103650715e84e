"""A CPU budget per training run (the benchmark's equal budget per seed): it stops training, the record says so,
bad budgets are refused before anything is written, and a budgeted run is not resumed with a fresh budget."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback

from agents.runs import positive_int, positive_minutes
from agents.train import resume, train

SMALL = "hetserve_env/HetServeSmall-v1"
TINY = dict(env_kwargs={"window_minutes": 120}, hyperparams={"n_steps": 12, "batch_size": 12}, n_envs=1,
            progress_bar=False, tensorboard=False, eval_freq=24, checkpoint_freq=24)
ROOT = Path(__file__).resolve().parents[1]


class Interrupted(Exception):
    pass


class StopAt48(BaseCallback):
    """Raise at step 48 when ``$HETSERVE_TEST_BUDGET_STOP`` is set: an interrupted run."""

    def _on_step(self) -> bool:
        if os.environ.get("HETSERVE_TEST_BUDGET_STOP") and self.model.num_timesteps >= 48:
            raise Interrupted
        return True


def test_budget_stops_training_and_the_record_says_so(tmp_path):
    rec = train("ppo", SMALL, 100_000, seed=0, log_dir=tmp_path, cpu_minutes=0.005, **TINY)
    assert rec["stopped_by"] == "cpu budget" and rec["cpu_minutes"] == 0.005
    assert 0 < rec["timesteps"] < 100_000 and rec["timesteps_limit"] == 100_000
    assert rec["train_cpu_s"] >= 0.3  # 0.005 min: the check runs after every step, so it is reached, not skipped
    saved = json.loads((tmp_path / "ppo_HetServeSmall-v1_s0" / "model.json").read_text())
    assert saved["stopped_by"] == "cpu budget"


def test_without_a_budget_the_step_count_ends_the_run(tmp_path):
    rec = train("a2c", SMALL, 48, seed=0, log_dir=tmp_path, **{**TINY, "hyperparams": {"n_steps": 12}})
    assert rec["stopped_by"] == "timesteps" and rec["cpu_minutes"] is None and rec["timesteps"] == 48


class HasStopped(BaseCallback):
    """A user's callback that happens to have a ``stopped`` attribute set: it is not the CPU budget."""

    def __init__(self) -> None:
        super().__init__()
        self.stopped = True

    def _on_step(self) -> bool:
        return True


def test_a_user_callback_with_a_stopped_attribute_is_not_reported_as_the_budget(tmp_path):
    hp = {"n_steps": 12, "callback": [f"{__name__}.HasStopped"]}
    rec = train("a2c", SMALL, 48, seed=0, log_dir=tmp_path, cpu_minutes=30, **{**TINY, "hyperparams": hp})
    assert rec["timesteps"] == 48 and rec["stopped_by"] == "timesteps"


@pytest.mark.parametrize("bad", [0, -1.0, True, "5", 10_000, float("nan"), float("inf"), np.bool_(True)])
def test_bad_budgets_are_refused_before_anything_is_written(tmp_path, bad):
    with pytest.raises(ValueError, match=r"cpu_minutes must be a number of minutes in \(0, 1440\], got "):
        train("ppo", SMALL, 96, seed=0, log_dir=tmp_path / "runs", cpu_minutes=bad, **TINY)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("value,minutes", [(np.int64(5), 5.0), (np.float32(0.5), 0.5), (np.uint16(1440), 1440.0),
                                           (2, 2.0), (0.25, 0.25)])
def test_numpy_numbers_are_budgets_like_python_ones(value, minutes):
    got = positive_minutes("cpu_minutes", value)
    assert got == minutes and type(got) is float


@pytest.mark.parametrize("bad", [np.int64(0), np.float64(-1.0), np.int64(1441), np.float64("nan"), None, [5]])
def test_a_refused_budget_names_the_field_the_value_and_the_range(bad):
    with pytest.raises(ValueError) as err:
        positive_minutes("cpu_minutes", bad)
    assert str(err.value) == f"cpu_minutes must be a number of minutes in (0, 1440], got {bad!r}"


def test_a_budget_is_refused_with_subprocess_envs_whose_cpu_it_cannot_see(tmp_path):
    with pytest.raises(ValueError, match=r"vec_env='subproc' steps the envs in live worker processes"):
        train("ppo", SMALL, 96, seed=0, log_dir=tmp_path / "runs", cpu_minutes=1, vec_env="subproc", **TINY)
    assert not (tmp_path / "runs").exists()


def test_the_rllib_backend_refuses_a_budget_it_would_not_keep(tmp_path, capsys):
    from hetserve_env.cli import main

    assert main(["train", "--backend", "rllib", "--env", SMALL, "--cpu-minutes", "5", "--log-dir", str(tmp_path)]) == 2
    assert "--cpu-minutes 5: a CPU budget is an option of the SB3 backend" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_budgeted_run_is_not_resumed_with_a_fresh_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("HETSERVE_TEST_BUDGET_STOP", "1")
    hp = {**TINY["hyperparams"], "callback": [f"{__name__}.StopAt48"]}
    with pytest.raises(Interrupted):
        train("ppo", SMALL, 96, seed=0, log_dir=tmp_path, cpu_minutes=30, **{**TINY, "hyperparams": hp})
    monkeypatch.delenv("HETSERVE_TEST_BUDGET_STOP")
    with pytest.raises(ValueError, match=r"started with a CPU budget \(30 min\)"):
        resume(tmp_path / "ppo_HetServeSmall-v1_s0", progress_bar=False)


@pytest.mark.parametrize("args,message", [(["--algos", "dqn"], "algorithms must be among"),
                                          (["--seeds", "a,b"], "expected comma-separated integers"),
                                          (["--cpu-minutes", "90"], r"--cpu-minutes must be in \(0, 60\]"),
                                          (["--timesteps", "0"], "--timesteps must be >= 1, got 0")])
def test_train_seeds_refuses_bad_arguments(args, message):
    out = subprocess.run([sys.executable, "scripts/train_seeds.py", *args], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2
    assert re.search(message, out.stderr), out.stderr


def _train_seeds():
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_seeds", ROOT / "scripts" / "train_seeds.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("bad", ["abc", "", "nan", "inf", "0", "60.5"])
def test_train_seeds_names_the_option_the_value_and_the_range_of_a_bad_budget(bad, capsys):
    with pytest.raises(SystemExit) as stop:
        _train_seeds().main(["--cpu-minutes", bad])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"--cpu-minutes must be in (0, 60] (the protocol's 1 CPU-hour), got {bad!r}" in err
    assert "invalid" not in err


def test_train_seeds_summary_lists_every_model_in_out(tmp_path):
    out = tmp_path / "models"
    cmd = [sys.executable, "scripts/train_seeds.py", "--algos", "ppo", "--seeds", "3", "--env",
           "hetserve_env/HetServeSmall-v1", "--cpu-minutes", "0.05", "--timesteps", "50000", "--jobs", "1",
           "--out", str(out), "--log-dir", str(tmp_path / "runs"), "--summary", str(tmp_path / "seeds.md")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr
    rec = json.loads((out / "ppo_s3.json").read_text())
    assert rec["stopped_by"] == "cpu budget" and rec["timesteps_limit"] == 50_000
    row = next(l for l in (tmp_path / "seeds.md").read_text().splitlines() if l.startswith("| ppo | 3 |"))
    assert f"| {rec['timesteps']:,} | 50,000 | 0.05 |" in row and "| cpu budget |" in row


def test_train_seeds_summary_shows_a_missing_validation_as_missing_not_zero(tmp_path):
    import argparse

    mod = _train_seeds()
    rec = {"algo": "ppo", "seed": 0, "timesteps": 8, "timesteps_limit": 100, "cpu_minutes": 0.01, "train_cpu_s": 0.6,
           "stopped_by": "cpu budget", "best_validation": None, "train_wall_s": 1.0}
    (tmp_path / "ppo_s0.json").write_text(json.dumps(rec))
    args = argparse.Namespace(out=str(tmp_path), algos=["ppo"], seeds=[0], env="e", cpu_minutes=0.01, timesteps=100,
                              jobs=1)
    mod.write_summary([], args, tmp_path / "seeds.md")
    row = next(l for l in (tmp_path / "seeds.md").read_text().splitlines() if l.startswith("| ppo | 0 |"))
    assert "| cpu budget | — | — |" in row and "0.00" not in row


@pytest.mark.parametrize("value,expected", [(np.int64(5), 5), (np.uint8(3), 3), (np.float64(4.0), 4), (7, 7)])
def test_numpy_integers_are_counts_like_python_ones(value, expected):
    got = positive_int("n_envs", value)
    assert got == expected and type(got) is int


@pytest.mark.parametrize("bad", [0, np.int64(-2), 2.5, True, np.bool_(True), float("nan"), float("inf"), "4", None])
def test_a_refused_count_names_the_field_and_the_value(bad):
    with pytest.raises(ValueError) as err:
        positive_int("n_envs", bad)
    assert str(err.value) == f"n_envs must be an integer >= 1, got {bad!r}"
