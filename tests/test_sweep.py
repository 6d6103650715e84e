"""``hetserve sweep``: the spec is checked strictly before anything runs (no ray needed), and a 2-trial Ray Tune
sweep on the small id writes one results table (needs the rllib extra: ``make test-rllib``)."""

from __future__ import annotations

import pandas as pd
import pytest

from agents.sweep import SweepSpecError, read_spec, trials
from hetserve_env.cli import main

SMALL = "hetserve_env/HetServeSmall-v1"
GOOD = {"env": SMALL, "algorithms": ["ppo", "a2c"], "seeds": [0, 1], "timesteps": 500,
        "grid": {"gamma": [0.9, 0.99]}}


def test_trials_are_algorithms_x_grid_x_seeds_in_table_order():
    spec = read_spec(GOOD)
    ts = trials(spec)
    assert len(ts) == 2 * 2 * 2
    assert [t["trial"] for t in ts[:3]] == ["t000", "t001", "t002"]
    assert ts[0] == {"trial": "t000", "algorithm": "ppo", "seed": 0, "params": {"gamma": 0.9}}
    assert ts[-1] == {"trial": "t007", "algorithm": "a2c", "seed": 1, "params": {"gamma": 0.99}}
    assert spec["cpus_per_trial"] == 1 and spec["eval_episodes"] is None


@pytest.mark.parametrize("change, message", [
    ({"seed": [0]}, r"unknown key\(s\) \['seed'\]"),
    ({"env": "CartPole-v1"}, "env: 'CartPole-v1' is not a registered hetserve id"),
    ({"algorithms": ["dqn"]}, r"algorithms: \['dqn'\] not allowed"),
    ({"algorithms": []}, "algorithms: expected a non-empty list"),
    ({"seeds": [0, 0]}, "seeds: duplicate values"),
    ({"seeds": [-1]}, r"seeds\[0\]: must be"),
    ({"timesteps": 0}, "timesteps: must be"),
    ({"timesteps": 1.5}, "timesteps: must be"),
    ({"grid": {"gamma": 0.9}}, "grid.gamma: expected a non-empty list"),
    ({"grid": {"lr": [0.1]}}, r"grid: \['lr'\] are not ppo hyperparameters"),
    ({"cpus_per_trial": 0}, "cpus_per_trial: must be"),
    ({"n_envs": True}, "n_envs: expected"),
])
def test_a_bad_spec_is_refused_naming_the_key(change, message):
    with pytest.raises(SweepSpecError, match=message):
        read_spec({**GOOD, **change})


def test_a_missing_key_and_a_duplicate_yaml_key_are_refused(tmp_path):
    with pytest.raises(SweepSpecError, match=r"missing key\(s\) \['timesteps'\]"):
        read_spec({k: v for k, v in GOOD.items() if k != "timesteps"})
    p = tmp_path / "s.yaml"
    p.write_text(f"env: {SMALL}\nalgorithms: [ppo]\nseeds: [0]\ntimesteps: 10\ntimesteps: 20\n")
    with pytest.raises(Exception, match="duplicate key 'timesteps'"):
        read_spec(p)
    with pytest.raises(FileNotFoundError):
        read_spec(tmp_path / "missing.yaml")


def test_cli_reports_a_bad_spec_in_one_line(tmp_path, capsys):
    p = tmp_path / "s.yaml"
    p.write_text(f"env: {SMALL}\nalgorithms: [ppo]\nseeds: [0]\ntimesteps: 10\nbogus: 1\n")
    assert main(["sweep", str(p), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "unknown key(s) ['bogus']" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_two_trial_tune_sweep_writes_one_table(tmp_path, capsys):
    pytest.importorskip("ray", reason="the rllib extra (ray[tune]) is not installed (make test-rllib)")
    p = tmp_path / "s.yaml"
    p.write_text(f"env: {SMALL}\nalgorithms: [ppo]\nseeds: [0, 1]\ntimesteps: 288\neval_episodes: 1\n"
                 "grid:\n  n_steps: [72]\n")
    out = tmp_path / "out"
    assert main(["sweep", str(p), "--out", str(out)]) == 0
    table = pd.read_csv(out / "results.csv")
    assert list(table["trial"]) == ["t000", "t001"] and list(table["seed"]) == [0, 1]
    assert list(table["n_steps"]) == [72, 72] and set(table["status"]) == {"ok"}
    assert (table["final_validation_cost_usd"] > 0).all() and (table["timesteps"] >= 288).all()
    for run_dir in table["run_dir"]:
        assert (out / "trials").resolve() in __import__("pathlib").Path(run_dir).resolve().parents
    assert "| t001 | ppo | 1 | 72 |" in (out / "results.md").read_text()
    assert not (out / "INCOMPLETE").exists()
    assert "wrote" in capsys.readouterr().out
    assert main(["sweep", str(p), "--out", str(out)]) == 2  # never into a used folder
