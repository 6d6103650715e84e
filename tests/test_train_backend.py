"""``hetserve train --backend``: the RLlib-only options are refused for SB3, and without ray the rllib backend and
``hetserve sweep`` say in one line what to install (the core venv has no ray)."""

from __future__ import annotations

import importlib.util

import pytest

from hetserve_env.cli import main

SMALL = "hetserve_env/HetServeSmall-v1"
HAS_RAY = importlib.util.find_spec("ray") is not None


@pytest.mark.parametrize("extra", [["--iterations", "2"], ["--num-env-runners", "4"]])
def test_rllib_options_are_refused_for_the_sb3_backend(tmp_path, capsys, extra):
    assert main(["train", "--env", SMALL, "--log-dir", str(tmp_path), *extra]) == 2
    assert "options of --backend rllib" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(HAS_RAY, reason="checks the message shown where ray is not installed; ray is installed here")
def test_without_ray_the_rllib_commands_say_what_to_install(tmp_path, capsys):
    assert main(["train", "--backend", "rllib", "--env", SMALL, "--log-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "needs ray" in err and "make test-rllib" in err and len(err.strip().splitlines()) == 1
    spec = tmp_path / "s.yaml"
    spec.write_text(f"env: {SMALL}\nalgorithms: [ppo]\nseeds: [0]\ntimesteps: 10\n")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out")]) == 2
    assert "needs ray" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
