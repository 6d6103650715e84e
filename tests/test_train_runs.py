"""hetserve train: argument checks, runs that are never overwritten silently, resume from a checkpoint, and the
safe parser of hyperparameter expressions."""

from __future__ import annotations

import csv
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch as th
import yaml
from stable_baselines3.common.callbacks import BaseCallback

from agents import HYPERPARAMS_DIR
from agents.train import ALGOS, resume, train
from agents.zoo_config import parse_expression
from hetserve_env.cli import main

SMALL = "hetserve_env/HetServeSmall-v1"
# 12 windows a day, one env, a PPO update every 12 steps: a run of 96 steps takes a few seconds
TINY = dict(env_kwargs={"window_minutes": 120}, hyperparams={"n_steps": 12, "batch_size": 12}, n_envs=1,
            progress_bar=False, tensorboard=False, keep="best", eval_freq=24, checkpoint_freq=24)


class Interrupted(Exception):
    pass


class StopAt(BaseCallback):
    """Raise at step ``$HETSERVE_TEST_STOP_AT`` (unset: never) — an interrupted run, named in the YAML way."""

    def _on_step(self) -> bool:
        at = os.environ.get("HETSERVE_TEST_STOP_AT")
        if at and self.model.num_timesteps >= int(at):
            raise Interrupted(self.model.num_timesteps)
        return True


def _progress_steps(run: Path) -> list[int]:
    with open(run / "progress.csv") as f:
        return [int(float(r["time/total_timesteps"])) for r in csv.DictReader(f)]


# ------------------------------------------------------------------------------------------ arguments
@pytest.mark.parametrize("bad", [{"timesteps": 0}, {"timesteps": -5}, {"n_envs": 0}, {"eval_freq": -1},
                                 {"checkpoint_freq": 0}, {"threads": 0}, {"timesteps": 2.5}, {"n_envs": True}])
def test_non_positive_counts_are_refused_before_anything_is_written(tmp_path, bad):
    name = next(iter(bad))
    kw = {**TINY, "timesteps": 96, **bad}
    with pytest.raises(ValueError, match=rf"{name} must be an integer >= 1, got {bad[name]!r}"):
        train("ppo", SMALL, seed=0, log_dir=tmp_path / "runs", **{k: v for k, v in kw.items()})
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("flag,value", [("--timesteps", "0"), ("--timesteps", "-5"), ("--n-envs", "0"),
                                        ("--eval-freq", "x"), ("--checkpoint-freq", "-2"), ("--threads", "0")])
def test_cli_counts_exit_2_naming_the_option(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exc:
        main(["train", flag, value, "--log-dir", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and "integer >= 1" in err and value in err
    assert not any(tmp_path.iterdir())


def test_cli_env_kwargs_error_names_the_key(tmp_path, capsys):
    code = main(["train", "--env", SMALL, "--timesteps", "24", "--env-kwargs", "window_minutes=120",
                 "--env-kwargs", "noise=abc", "--log-dir", str(tmp_path), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "noise='abc'" in err and "window_minutes" not in err
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------ run directories
def test_existing_run_is_refused_overwrite_replaces_it(tmp_path, capsys):
    rec = train("ppo", SMALL, 24, seed=0, log_dir=tmp_path, **TINY)
    run = Path(rec["log_dir"])
    before = (run / "model.json").read_text()
    with pytest.raises(ValueError, match=r"already holds a run.*--resume.*--overwrite"):
        train("ppo", SMALL, 24, seed=0, log_dir=tmp_path, **TINY)
    assert (run / "model.json").read_text() == before
    code = main(["train", "--env", SMALL, "--timesteps", "24", "--log-dir", str(tmp_path), "--no-progress",
                 "--env-kwargs", "window_minutes=120"])
    assert code == 2 and "already holds a run" in capsys.readouterr().err
    # a model path outside the run directory is protected too
    with pytest.raises(ValueError, match="exists"):
        train("ppo", SMALL, 24, seed=1, log_dir=tmp_path, save_path=run / "model.zip", **TINY)
    rec2 = train("ppo", SMALL, 12, seed=0, log_dir=tmp_path, overwrite=True, **{**TINY, "checkpoint_freq": 12})
    assert rec2["timesteps"] == 12 and json.loads((run / "model.json").read_text())["timesteps"] == 12
    assert _progress_steps(run) == [12]  # the old log is gone, not mixed in


@pytest.mark.smoke  # relies on SB3's checkpoint names, CSV logger and EvalCallback attributes
def test_resume_continues_an_interrupted_run(tmp_path, monkeypatch):
    hp = {**TINY["hyperparams"], "callback": [f"{__name__}.StopAt"]}
    kw = {**TINY, "hyperparams": hp, "eval_freq": 36}  # evaluations at 36, 72: not a multiple of the checkpoint's
    monkeypatch.setenv("HETSERVE_TEST_STOP_AT", "60")
    with pytest.raises(Interrupted):
        train("ppo", SMALL, 96, seed=0, log_dir=tmp_path, **kw)
    run = tmp_path / "ppo_HetServeSmall-v1_s0"
    spec = (run / "run.json").read_text()
    assert json.loads(spec)["save_path"] == "model.zip"  # relative to the run directory, which may move
    assert not (run / "model.zip").exists()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "model_24_steps.zip", "model_48_steps.zip", "model_vecnormalize_24_steps.pkl",
        "model_vecnormalize_48_steps.pkl"]
    before = _progress_steps(run)  # one row per update, plus one per evaluation (SB3's EvalCallback dumps too)
    assert sorted(set(before)) == [12, 24, 36, 48]
    with np.load(run / "evaluations.npz") as ev:
        assert ev["timesteps"].tolist() == [36]
    # starting it again is refused; resuming continues to the original total
    with pytest.raises(ValueError, match="already holds a run"):
        train("ppo", SMALL, 96, seed=0, log_dir=tmp_path, **kw)
    monkeypatch.delenv("HETSERVE_TEST_STOP_AT")
    rec = resume(run, progress_bar=False)
    assert rec["timesteps"] == 96 and rec["resumed_from"]["timesteps"] == 48
    assert rec["hyperparams"]["n_steps"] == 12 and rec["n_envs"] == 1
    after = _progress_steps(run)  # the log continues: earlier rows kept, new ones appended in order
    assert after[:len(before)] == before and after == sorted(after) and sorted(set(after)) == list(range(12, 97, 12))
    with np.load(run / "evaluations.npz") as ev:
        assert ev["timesteps"].tolist() == [36, 72]  # the uninterrupted schedule, history kept
        best = int(ev["timesteps"][np.argmax(ev["results"].mean(axis=1))])
    assert rec["best_validation"]["timesteps"] == best and rec["kept"] == "best"
    assert (run / "model.zip").exists() and (run / "run.json").read_text() == spec
    with open(run / "checkpoints" / "model_vecnormalize_96_steps.pkl", "rb") as f:
        assert pickle.load(f).ret_rms.count == pytest.approx(96, abs=1)  # reward statistics continued, not restarted
    with pytest.raises(ValueError, match="finished run"):
        resume(run, progress_bar=False)


def test_cli_resume_takes_no_run_options(tmp_path, capsys):
    code = main(["train", "--resume", str(tmp_path), "--timesteps", "10"])
    assert code == 2 and "--timesteps" in capsys.readouterr().err
    code = main(["train", "--resume", str(tmp_path / "nope"), "--no-progress"])
    assert code == 2 and "run.json" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ safe expressions
def _old_eval(text: str):
    """The former parser (eval with torch names), run here on the shipped, trusted files only."""
    return eval(text, {"__builtins__": {}, "dict": dict, "nn": th.nn, "th": th, "torch": th, "list": list,  # noqa: S307
                       "tuple": tuple})


@pytest.mark.smoke
def test_shipped_yaml_expressions_parse_as_before():
    seen = 0
    for algo in ALGOS:
        for env_id, hp in yaml.safe_load((HYPERPARAMS_DIR / f"{algo}.yml").read_text()).items():
            for key in ("policy_kwargs", "normalize"):
                if isinstance(hp.get(key), str):
                    assert parse_expression(hp[key], key) == _old_eval(hp[key]), (algo, env_id, key)
                    seen += 1
    assert seen >= 12
    text = "dict(activation_fn=nn.ReLU, net_arch=[64, 64], optimizer_class=th.optim.Adam, ortho_init=False, " \
           "optimizer_kwargs=dict(eps=1e-5), log_std_init=-2.0, squash=torch.nn.Tanh, t=tuple([1, 2]))"
    assert parse_expression(text) == _old_eval(text)


@pytest.mark.smoke
@pytest.mark.parametrize("text", ["__import__('os').system('true')", "().__class__.__bases__[0].__subclasses__()",
                                  "nn.Module.__subclasses__()", "th.load('x.pt')", "dict(a=open('/etc/passwd'))",
                                  "[c for c in ()]", "lambda: 0", "dict(**{'a': 1})", "nn.ReLU.__init__",
                                  "getattr(nn, 'ReLU')", "1 + 1"])
def test_expressions_outside_the_allow_list_are_refused(text):
    with pytest.raises(ValueError, match=r"policy_kwargs: .* is not an allowed hyperparameter expression"):
        parse_expression(text, "policy_kwargs")


def test_unsafe_set_values_and_class_names_are_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match=r"policy_kwargs: .*__import__"):
        train("ppo", SMALL, 24, seed=0, log_dir=tmp_path, **{**TINY, "hyperparams": {
            "policy_kwargs": "__import__('os').getcwd()"}})
    with pytest.raises(ValueError, match=r"policy: 'os.system' is not a subclass"):
        train("ppo", SMALL, 24, seed=0, log_dir=tmp_path, **{**TINY, "hyperparams": {"policy": "os.system"}})
    with pytest.raises(ValueError, match=r"callback: 'os.getcwd' is not a subclass"):
        train("ppo", SMALL, 24, seed=0, log_dir=tmp_path, **{**TINY, "hyperparams": {"callback": ["os.getcwd"]}})
    assert not any(tmp_path.iterdir())
