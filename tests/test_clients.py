"""Outside RL clients run a real loop on the small id (scripts/client_checks.py, scripts/check_clients.py).

The CleanRL-style loop and the gymnasium check need only the core install; the others run where their client
is installed (see results/clients.md for how they were installed and what they gave)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


checks = _load("client_checks")
driver = _load("check_clients")


def test_cleanrl_style_loop_over_sync_and_native_vector_envs():
    version, what = checks.check_cleanrl(steps=300, num_envs=2)
    assert version.startswith("gymnasium ")
    assert "(4 episodes each)" in what  # 2 envs x 2 finished days of 144 windows in 300 steps


def test_gymnasium_check_passes_with_nothing_on_stderr_at_exit():
    result = driver.run_check("gymnasium", sys.executable, [])
    assert result["status"] == "works", result
    assert result["stderr"] == ""


def test_a_write_to_stderr_at_interpreter_exit_fails_the_gymnasium_check(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(
        "import atexit, sys\natexit.register(lambda: print('ImportError: at exit', file=sys.stderr))\n")
    result = driver.run_check("gymnasium", sys.executable, [str(tmp_path)])
    assert result["status"] == "fails"
    assert result["error"] == "stderr not empty: ImportError: at exit"


def test_a_client_that_breaks_is_reported_as_failing_with_its_error(tmp_path):
    (tmp_path / "tianshou").mkdir()
    (tmp_path / "tianshou" / "__init__.py").write_text("__version__ = '0'\n")
    result = driver.run_check("tianshou", sys.executable, [str(tmp_path)])
    assert result["status"] == "fails"
    assert result["error"].startswith("ModuleNotFoundError: No module named 'tianshou.algorithm'")
    assert driver.row(result).startswith("| tianshou |  | fails |")


def test_tianshou_collector_fills_a_vector_replay_buffer():
    pytest.importorskip("tianshou", reason="Tianshou is not installed (not a dependency; see results/clients.md)")
    version, what = checks.check_tianshou(steps=300, num_envs=2)
    assert version.startswith("tianshou ") and "300 steps" in what


def test_torchrl_rollout_reads_the_info_arrays():
    pytest.importorskip("torchrl", reason="TorchRL is not installed (not a dependency; see results/clients.md)")
    version, what = checks.check_torchrl(steps=20)
    assert version.startswith("torchrl ") and "rollout of 20 steps" in what


def test_rllib_registration_round_trip():
    pytest.importorskip("ray.rllib", reason="ray[rllib] is not installed (the rllib extra; make test-rllib)")
    version, what = checks.check_rllib()
    assert version.startswith("ray ") and "3 ids" in what


def test_rl_zoo_trains_one_rollout_and_enjoys_one_episode():
    pytest.importorskip("rl_zoo3", reason="RL Zoo is not installed (the zoo extra)")
    pytest.importorskip("requests", reason="the zoo extra brings requests for rl_zoo3.enjoy")
    version, what = checks.check_rl_zoo(timesteps=576)
    assert version.startswith("rl_zoo3 ")
