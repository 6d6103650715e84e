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
