"""scripts/compare_traces.py: fleet-change statistics of a compare run's traces."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("compare_traces", ROOT / "scripts" / "compare_traces.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fleet_moves_on_a_hand_made_trace():
    demand = [10.0, 20.0, 10.0, 20.0, 10.0]
    lagging = [1, 1, 2, 1, 2]        # follows the previous window's demand change
    steady = [3, 3, 3, 3, 3]
    rows = [{"policy": p, "day": 0, "step": t, "gpus": g[t], "demand_rps": demand[t]}
            for p, g in (("lag", lagging), ("steady", steady)) for t in range(5)]
    table = _script().fleet_moves(pd.DataFrame(rows)).set_index("policy")
    assert table.loc["lag", "windows_changing_fleet_pct"] == pytest.approx(75.0)
    assert table.loc["steady", "windows_changing_fleet_pct"] == 0.0
    assert table.loc["lag", "corr_with_last_demand_change"] == pytest.approx(1.0)
    assert table.loc["lag", "demand_rps_per_gpu"] == pytest.approx(70.0 / 7)
    assert pd.isna(table.loc["steady", "corr_with_last_demand_change"])  # undefined for a constant fleet: "n/a"


def test_fleet_moves_names_missing_columns():
    with pytest.raises(ValueError, match="gpus"):
        _script().fleet_moves(pd.DataFrame({"policy": ["a"], "day": [0], "step": [0], "demand_rps": [1.0]}))
