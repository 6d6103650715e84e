"""scripts/reproduce_paper.py --quick: every experiment runs and every table has the expected shape.

One in-process quick run (module-scoped fixture, ~30 s on one core) feeds all checks; the experiment functions
of baselines.experiments get a few direct checks of their own.
"""

from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import hetserve_env
from baselines import experiments as ex
from baselines.instances import generate
from hetserve_env.allocation import evaluate
from hetserve_env.episodes import COST_PARTS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # PuLP 3.x API deprecations

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "reproduce_paper.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("reproduce_paper", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _md_tables(path: Path) -> list[tuple[list[str], list[list[str]]]]:
    """(header, rows) of every Markdown table in a file; checks each row has the header's width."""
    tables, cur = [], None
    for line in path.read_text().splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cur is None:
                cur = (cells, [])
            elif not set(line.replace("|", "").strip()) <= {"-"}:
                assert len(cells) == len(cur[0]), f"{path.name}: row {cells} does not match header {cur[0]}"
                cur[1].append(cells)
        elif cur is not None:
            tables.append(cur)
            cur = None
    if cur is not None:
        tables.append(cur)
    return tables


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper-quick")
    mod = _load_script()
    assert mod.main(["--quick", "--out", str(out)]) == 0
    return out, mod


def test_quick_writes_every_output(quick):
    out, mod = quick
    for name in mod.EXPERIMENTS:
        assert (out / f"{name}.csv").stat().st_size > 0, name
        assert (out / f"{name}.md").stat().st_size > 0, name
        assert (out / f"{name}_summary.csv").stat().st_size > 0, name
    for name in ("scaling", "stress", "rolling", "sensitivity"):
        png = (out / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n", name
    for name in ("README.md", "summary.md", "summary.csv"):
        assert (out / name).stat().st_size > 0


def test_scaling_table(quick):
    out, _ = quick
    rows = _csv(out / "scaling.csv")
    assert {r["method"] for r in rows} == {"gh", "agh", "agh-paper", "milp-highs"}
    assert sorted({int(r["size"]) for r in rows}) == [2, 3]
    (head, body), = _md_tables(out / "scaling.md")
    assert head[:5] == ["size", "D (mean)", "GH s", "AGH s", "AGH (paper) s"] and "speedup (fastest MILP/AGH)" in head
    assert [r[0] for r in body] == ["(2,2,2)", "(3,3,3)"]
    for r in body:
        rec = dict(zip(head, r))
        for m in ("GH", "AGH", "AGH (paper)"):  # the MILP optimum is a lower bound
            assert float(rec[f"{m} $/h"]) >= float(rec["MILP $/h"]) - 1e-6


def test_scaling_csv_ingest(quick, tmp_path):
    out, mod = quick
    rows = mod.load_scaling_csv(out / "scaling.csv")
    t = mod.scaling_summary(rows)
    assert len(t.rows) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("size,seed,n_types,n_templates,method,status,objective,runtime_s,best_bound,gap,rental,replicas,detail\n"
                   "2,0,2,20,gh,feasible,1,0.1,,,1,1,\n")
    with pytest.raises(ValueError, match="agh"):
        mod.load_scaling_csv(bad)


def test_stress_table(quick):
    out, _ = quick
    rows = _csv(out / "stress.csv")
    methods = {"GH", "AGH (paper)", "AGH", "MILP", "AGH robust 1.2x"}
    assert {r["method"] for r in rows} == methods
    assert {r["instance"] for r in rows} == {"paper", "gen3x3x3s0"}
    # per instance and method: nominal x 2 routings + 3 modes x 2 factors x 2 routings
    for inst in ("paper", "gen3x3x3s0"):
        for m in methods:
            sub = [r for r in rows if r["instance"] == inst and r["method"] == m]
            if sub[0]["plan_status"] == "infeasible":  # a robust plan may not exist: one row says so
                assert m.startswith("AGH robust") and len(sub) == 1
                continue
            assert len(sub) == 2 + 3 * 2 * 2, (inst, m)
            nominal = [r for r in sub if r["inflate"] == "none"]
            assert all(r["feasible"] == "True" and float(r["slo_miss_pct"]) == 0 for r in nominal)
    (h1, b1), (h2, b2) = _md_tables(out / "stress.md")
    assert h1 == ["instances", "method", "routing", "factor", "realised $/h", "vs nominal", "unmet %", "late %",
                  "error excess %", "SLO miss %", "feasible"]
    assert len(b1) in (2 * 5 * 2 * 3, 2 * 5 * 2 * 3 - 2 * 3)  # groups x methods x routings x factors (- an infeasible robust plan)
    assert h2[:3] == ["method", "routing", "inflated"] and len(b2) == 5 * 2 * 3  # robust: the paper instance


def test_ablation_table(quick):
    out, _ = quick
    rows = _csv(out / "ablation.csv")
    assert len(rows) == 3 * 2 * 4  # instances x methods x variants
    (head, body), = _md_tables(out / "ablation.md")
    assert head == ["method", "variant", "instances", "infeasible", "cost vs full (mean)", "cost vs full (max)",
                    "costlier", "same", "cheaper", "paper scenario"]
    assert [(r[0], r[1]) for r in body] == [(m, v) for m in ("GH", "AGH (paper)") for v in ("full", "no M1", "no M2", "no M3")]
    rec = {(r[0], r[1]): dict(zip(head, r)) for r in body}
    assert rec[("GH", "full")]["infeasible"] == "0"
    assert rec[("GH", "no M1")]["infeasible"] == "1"  # generate(2,2,2,seed=2): docs/solvers.md §5
    assert rec[("GH", "no M3")]["infeasible"] == "1"  # generate(2,2,2,seed=49): docs/exercises.md 3


def test_rolling_table(quick):
    out, _ = quick
    rows = _csv(out / "rolling.csv")
    assert [r["policy"] for r in rows] == ["AGH rolling", "AGH static", "MILP static"]
    assert all(int(r["windows"]) == 4 and r["day"] == "12" and float(r["sigma"]) == 0.05 for r in rows)
    for r in rows:
        assert float(r["cost_usd"]) > 0 and 0 <= float(r["slo_attainment_pct"]) <= 100
        parts = sum(float(r[f"{k}_usd"]) for k in COST_PARTS)
        assert math.isclose(parts, float(r["cost_usd"]), rel_tol=1e-6)
    (head, body), = _md_tables(out / "rolling.md")
    assert head[:3] == ["cold starts", "sigma", "days"]
    assert {"AGH rolling $", "AGH static $", "MILP static $", "saving vs AGH static", "saving vs MILP static",
            "AGH rolling SLO %"} <= set(head)
    assert len(body) == 1


def test_sensitivity_table(quick):
    out, _ = quick
    rows = _csv(out / "sensitivity.csv")
    # budget: 2 scales + the scenario's own; delay 2; error 2 — each for GH, AGH (paper), AGH, MILP
    assert len(rows) == (3 + 2 + 2) * 4
    assert {r["parameter"] for r in rows} == {"budget", "delay_slo", "error_slo"}
    (head, body), = _md_tables(out / "sensitivity.md")
    assert head[:3] == ["parameter", "scale", "value"] and "MILP $/h" in head and "AGH unmet %" in head
    assert len(body) == 7
    nominal = [r for r in rows if r["parameter"] == "delay_slo" and float(r["scale"]) == 1.0]
    assert all(r["feasible"] == "True" for r in nominal)


def test_summary_table(quick):
    out, _ = quick
    (head, body), = _md_tables(out / "summary.md")
    assert head == ["experiment", "quantity", "paper", "ours"]
    assert {r[0] for r in body} >= {"scaling", "stress (paper scenario)", "ablation", "rolling", "sensitivity"}
    assert all(r[3] for r in body)


# ------------------------------------------------------------------------- experiment functions directly
def test_slo_metrics_from_evaluate():
    p = generate(2, 2, 2, seed=0)
    sol = ex.plan(p, "agh")
    q = p.scaled(latency=1.0, error=1.5)
    ev = evaluate(q, sol.allocation, latency="load")
    m = ex.slo_metrics(q, sol.allocation, ev)
    excess = {v.index: v.amount for v in ev.violation("error_slo")}
    w = q.rate / q.rate.sum()
    expect = sum(w[k] * excess.get(n, 0.0) for k, n in enumerate(q.type_names))
    assert m["error_excess_pct"] == pytest.approx(100 * expect)
    assert m["slo_miss_pct"] == pytest.approx(min(m["unmet_pct"] + m["late_pct"] + m["error_excess_pct"], 100))
    assert m["error_slo_types"] == len(excess)


def test_day_peak_problem_is_the_days_max():
    sc = hetserve_env.load_scenario("paper")
    p = ex.day_peak_problem(sc, 12)
    d = sc.demand
    win = np.flatnonzero(np.asarray(d.day) == 12)
    assert np.allclose(p.rate, d.rate[win].max(axis=0))
    assert np.all(ex.day_peak_problem(sc, 12, max_windows=3).rate <= p.rate + 1e-12)


def test_rolling_scaled_demand_needs_and_gets_more_replicas_per_template():
    """Demand x10 on the paper scenario: the static plans need more replicas of a template than the scenario's
    R_max, so they are clipped (and said to be) unless ``max_replicas`` lifts the limit."""
    said: list[str] = []
    kw = dict(days=[12], max_windows=2, static_methods=("agh",), demand_scale=10.0, progress=said.append)
    clipped = ex.rolling_study([0.05], **kw)
    assert any("clipped to the env's R_max" in line for line in said)
    said.clear()
    lifted = ex.rolling_study([0.05], max_replicas=16, **kw)
    assert not any("clipped" in line for line in said)
    static = {r["policy"]: r for r in clipped}["AGH static"], {r["policy"]: r for r in lifted}["AGH static"]
    assert static[1]["unmet_pct"] < static[0]["unmet_pct"]


def test_rolling_static_without_a_plan_is_reported_not_costed(monkeypatch):
    """A static method that returns no allocation: its row carries the plan's status and reason, the progress
    says it was not run, and the table shows no cost (not $0) and no saving against it."""
    from baselines.experiments import rolling
    from baselines.solution import Solution

    real = rolling.plan
    monkeypatch.setattr(rolling, "plan", lambda p, m, o=None: Solution(m, "error", reason="boom") if m == "milp"
                        else real(p, m, o))
    said: list[str] = []
    rows = ex.rolling_study([0.05], days=[12], max_windows=2, progress=said.append)
    row = {r["policy"]: r for r in rows}["MILP static"]
    assert row["plan_status"] == "error" and row["plan_reason"] == "boom" and "cost_usd" not in row
    assert any("MILP static: not run, no plan (error: boom)" in line for line in said)
    t = ex.rolling_summary(rows)
    cells = dict(zip(t.columns, t.rows[0]))
    assert cells["MILP static $"] == "—" and cells["saving vs MILP static"] == "—"
    assert cells["AGH static $"] != "—"


def test_rolling_max_replicas_is_checked_by_the_env_not_truncated():
    with pytest.raises(ValueError, match="max_replicas"):
        ex.rolling_study([0.05], days=[12], max_windows=1, static_methods=("agh",), max_replicas=2.5)
