"""The newcomer's path: the README tour and docs/your-own.md run as written, a custom scenario + catalog round trip,
a custom policy through the CLI, the generated scenario reference, and the run-folder rules of long jobs."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import hetserve_env
from hetserve_env.catalog import CatalogError, load_catalog, merge_catalog
from hetserve_env.cli import main
from hetserve_env.runs import MARKER, atomic_write_text, resolve_out, run_marker
from hetserve_env.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
SMALL = "hetserve_env/HetServeSmall-v1"


def tour_blocks(path: Path) -> list[tuple[str, str]]:
    """The fenced blocks preceded by ``<!-- tour -->``: (language, code)."""
    text = path.read_text()
    return re.findall(r"<!-- tour -->\s*\n```(\w+)\n(.*?)\n```", text, flags=re.S)


def run_blocks(blocks: list[tuple[str, str]], capsys) -> list[str]:
    outputs = []
    for lang, code in blocks:
        if lang == "console":
            for line in code.splitlines():
                if not line.startswith("$ "):
                    continue
                argv = shlex.split(line[2:], comments=True)
                assert argv[0] == "hetserve", line
                rc = main(argv[1:])
                out = capsys.readouterr()
                assert rc == 0, f"{line}\n{out.err}"
                outputs.append(out.out)
        else:
            assert lang == "python", lang
            exec(compile(code, "<tour>", "exec"), {"__name__": "__tour__"})  # noqa: S102
    return outputs


@pytest.fixture
def examples(tmp_path, monkeypatch):
    """A copy of docs/examples as the current directory (so runs/ and my_policy imports stay there)."""
    work = tmp_path / "examples"
    shutil.copytree(EXAMPLES, work)
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(work))
    yield work
    sys.modules.pop("my_policy", None)


# --------------------------------------------------------------------------------------------- the tours
def test_readme_tour_runs(tmp_path, monkeypatch, capsys):
    blocks = tour_blocks(ROOT / "README.md")
    assert {lang for lang, _ in blocks} == {"console", "python"}
    monkeypatch.chdir(tmp_path)
    outs = run_blocks(blocks, capsys)
    assert any("H100-SXM" in o and "$/GPU-hour" in o for o in outs)        # hetserve catalog gpus
    assert any("err[chat]" in o for o in outs)                                # inspect: per-template error rates
    assert any("mean (req/s)" in o and "input (tok/req)" in o for o in outs)  # demand with units


def test_your_own_walkthrough_runs(examples, capsys):
    blocks = tour_blocks(ROOT / "docs" / "your-own.md")
    assert len(blocks) >= 3
    outs = run_blocks(blocks, capsys)
    assert any("B200" in o for o in outs)
    assert any("keep-two" in o for o in outs)
    run = examples / "my-run"
    assert (run / "compare.csv").exists() and not (run / MARKER).exists()
    assert json.loads((run / "compare.json").read_text())["complete"] is True


# ------------------------------------------------------------------------------- scenario + catalog round trip
def test_custom_catalog_gpu_used_by_a_scenario_and_the_env(examples):
    sc = load_scenario("my-scenario.yaml")
    assert sc.catalog.gpu("B200").memory_gb == 180
    assert "B200" not in load_catalog().gpus                        # the bundled catalog is unchanged
    assert any("@B200/" in lab for lab in sc.templates.labels)
    env = gym.make("hetserve_env/HetServe-v1", scenario="my-scenario.yaml", split="test")
    assert any("@B200/" in lab for lab in env.unwrapped.template_labels)
    obs, info = env.reset(seed=0)
    obs, reward, *_ , info = env.step(np.zeros(env.action_space.shape, dtype=np.int64))
    assert np.isfinite(reward) and info["cost"]["total"] > 0
    assert env.unwrapped.scenario.demand.splits == {"train": (0,), "validation": (1,), "test": (2,)}


def test_catalog_file_errors_name_the_record(tmp_path):
    bad = tmp_path / "cat.yaml"
    bad.write_text("models:\n  - {name: My-7B, family: mine, params_b: 7, active_params_b: 7, layers: 32, "
                   "hidden: 4096, q_heads: 32, kv_heads: 8, head_dim: 128, context: 8192, source: mine}\n")
    with pytest.raises(CatalogError, match=r"My-7B.*no quality entry"):
        merge_catalog(load_catalog(), bad)
    bad.write_text("gpus:\n  - {name: X1, memory_gb: 10}\n")
    with pytest.raises(CatalogError, match=r"gpus\[0\]: missing field"):
        merge_catalog(load_catalog(), bad)
    bad.write_text("gpu: []\n")
    with pytest.raises(CatalogError, match="unknown key 'gpu'"):
        merge_catalog(load_catalog(), bad)
    sc = (EXAMPLES / "my-scenario.yaml").read_text().replace("catalog: my-catalog.yaml", "catalog: nowhere.yaml")
    (tmp_path / "s.yaml").write_text(sc)
    with pytest.raises(ScenarioError, match="catalog: .*nowhere.yaml"):
        load_scenario(tmp_path / "s.yaml")


def test_catalog_command_merges_a_user_catalog(capsys):
    assert main(["catalog", "gpus", "--catalog", str(EXAMPLES / "my-catalog.yaml")]) == 0
    out = capsys.readouterr().out
    assert "B200" in out and "H100-SXM" in out
    assert main(["catalog", "models"]) == 0
    assert "Llama-3.1-8B" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ custom policy
def test_custom_policy_through_hetserve_evaluate(examples, capsys):
    assert main(["evaluate", "my_policy:KeepTwo", "--env", SMALL, "--episodes", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "keep-two" in out and "mean episode cost ($)" in out


def test_score_policy_accepts_objects_classes_and_specs(examples):
    import my_policy

    from agents import score_policy

    by_class = score_policy(my_policy.KeepTwo, SMALL, episodes=1)
    by_spec = score_policy("my_policy:KeepTwo", SMALL, episodes=1)
    assert by_class["policy"] == by_spec["policy"] == "keep-two"
    assert by_class["mean_cost_usd"] == pytest.approx(by_spec["mean_cost_usd"])
    with pytest.raises(TypeError, match="not a policy"):
        score_policy(object(), SMALL, episodes=1)


def test_policy_spec_errors_are_one_line_exit_2(examples, capsys):
    for spec in ("no_such_module:X", "my_policy:Missing", "my_policy:"):
        assert main(["evaluate", spec, "--env", SMALL, "--episodes", "1"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and spec.split(":")[0] in err


# ------------------------------------------------------------------------------------ run folders and writes
def test_compare_default_folder_marker_and_relative_out(examples, capsys):
    assert main(["compare", "--scenario", "my-scenario.yaml", "--policies", "gh", "--out", "rel/out",
                 "--no-progress"]) == 0
    assert (examples / "rel" / "out" / "compare.md").exists()
    assert not (examples / "rel" / "out" / MARKER).exists()
    fresh = resolve_out(None, "compare")
    assert fresh.parent == examples / "runs" and re.fullmatch(r"compare-\d{8}-\d{6}", fresh.name)


def test_interrupted_run_keeps_the_incomplete_marker(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with run_marker(tmp_path / "run", "hetserve compare") as out:
            atomic_write_text(out / "a.txt", "partial")
            raise KeyboardInterrupt
    marker = (tmp_path / "run" / MARKER).read_text()
    assert "hetserve compare" in marker and "KeyboardInterrupt" in marker
    with run_marker(tmp_path / "ok"):
        pass
    assert not (tmp_path / "ok" / MARKER).exists()


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    from hetserve_env.runs import atomic_write

    f = tmp_path / "x.csv"
    f.write_text("old")

    def boom(p):
        p.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(f, boom)
    assert f.read_text() == "old" and list(tmp_path.iterdir()) == [f]


# ------------------------------------------------------------------------------------------- reference page
def test_scenario_reference_page_is_generated_from_the_validator():
    from hetserve_env.scenario_reference import render

    page = (ROOT / "docs" / "scenario-reference.md").read_text()
    assert page == render(), "run: python scripts/make_scenario_reference.py"
    for source in ("servegen", "constant", "azure_csv", "diurnal", "bursty", "regime_shift"):
        assert f"`{source}`" in page


def test_cli_help_is_user_facing(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "provision heterogeneous GPU fleets" in out and "catalog" in out
    assert "imported only when used" not in out
    assert hetserve_env is not None


def test_training_progress_bar_total_is_whole_rollouts():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    from agents.progress import RolloutProgressBar

    venv = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    bar = RolloutProgressBar()
    model.learn(total_timesteps=200, callback=bar)
    assert model.num_timesteps == 256                      # 2 rollouts of 2 x 64 steps
    assert bar.pbar.total == bar.pbar.n == 256
