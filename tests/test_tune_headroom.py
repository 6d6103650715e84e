"""scripts/tune_headroom.py: the headroom is chosen on the validation days, the least mean cost of the grid."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "tune_headroom.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_the_choice_is_the_cheapest_grid_point_on_validation_days(tmp_path):
    out = tmp_path / "h.md"
    res = _run("--env", "hetserve_env/HetServeSmall-v1", "--grid", "0,0.5", "--out", str(out))
    assert res.returncode == 0, res.stderr
    costs = {float(h) / 100: float(c.replace(",", "")) for h, c in re.findall(r"\| (\d+)% \| ([\d,.]+) \|", out.read_text())}
    assert set(costs) == {0.0, 0.5}
    best = min(costs, key=costs.get)
    assert f"Chosen: **{best:.0%}**" in out.read_text()
    assert "validation days" in res.stdout


def test_a_bad_grid_is_a_one_line_error():
    res = _run("--grid", "0.5,-1")
    assert res.returncode == 2 and "--grid headrooms must be >= 0, got [-1.0]" in res.stderr


def test_the_grids_are_the_ones_the_committed_results_were_chosen_on():
    from agents.bench_select import HEADROOM_GRID as BENCH_GRID
    from baselines.gap import HEADROOM_GRID, VALIDATION_HEADROOM_GRID

    assert VALIDATION_HEADROOM_GRID == (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.25, 1.4, 1.5, 1.6, 1.75, 2.0, 3.0)
    assert HEADROOM_GRID == (0.0, 0.1) + VALIDATION_HEADROOM_GRID
    assert BENCH_GRID == (0.25, 0.5, 0.8, 1.0, 1.25, 1.5, 1.75, 2.0, 3.0)
    rows = re.findall(r"^\| (\d+)% \|", (ROOT / "results" / "headroom_validation.md").read_text(), re.M)
    assert tuple(int(r) / 100 for r in rows) == VALIDATION_HEADROOM_GRID  # tune_headroom's default grid
