"""Every bad input of issue 11 owned by the library is a clear error: the error type, and the field named in
the message. Valid inputs near the limits (a huge budget, ±inf shares) are handled, not refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from hetserve_env import Allocation, evaluate, load_scenario
from hetserve_env.env import HetServeEnv
from hetserve_env.problem import Problem
from hetserve_env.rules import MAX_NOISE, PROBLEM_RULES
from hetserve_env.scenario import ScenarioError
from hetserve_env.traces import TraceError
from hetserve_env.traces.azure import load_azure_trace
from tests.factories import random_problem


@pytest.fixture(scope="module")
def small_raw() -> dict:
    return load_scenario("small").raw


def _routed():
    from hetserve_env.routing import route

    p = random_problem(3)
    return p, route(p, np.ones(p.n_templates), "greedy")


# ------------------------------------------------------------------------------------------ Allocation
@pytest.mark.smoke
@pytest.mark.parametrize("field", ["replicas", "routing", "unmet"])
def test_nan_allocation_is_refused(field):
    p, a = _routed()
    arrs = {"replicas": a.replicas.astype(float), "routing": a.routing.copy(), "unmet": a.unmet.copy()}
    arrs[field].flat[0] = np.nan
    with pytest.raises(ValueError, match=rf"Allocation\.{field}: .*nan"):
        Allocation(**arrs)
    good = Allocation(a.replicas.astype(float), a.routing.copy(), a.unmet.copy())
    getattr(good, field).flat[0] = np.nan  # changed in place after construction: evaluate checks again
    with pytest.raises(ValueError, match=rf"Allocation\.{field}"):
        evaluate(p, good)


def test_inf_allocation_is_a_violation_not_feasible():
    p, a = _routed()
    x = a.routing.copy()
    x[0, 0] = np.inf
    ev = evaluate(p, Allocation(a.replicas, x, a.unmet))
    assert not ev.feasible and "routing_range" in {v.constraint for v in ev.violations}


def test_allocation_json_nan_and_truncated_name_the_file(tmp_path):
    nan = tmp_path / "nan.json"
    nan.write_text('{"replicas": [1, 0], "routing": [[NaN, 0]], "unmet": [0]}')
    with pytest.raises(ValueError, match=r"nan\.json: Allocation\.routing"):
        Allocation.from_json(nan)
    cut = tmp_path / "cut.json"
    cut.write_text('{"replicas": [1, 0], "rout')
    with pytest.raises(ValueError, match=r"cut\.json: not valid JSON"):
        Allocation.from_json(cut)
    lst = tmp_path / "list.json"
    lst.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"list\.json: the top level must be an object"):
        Allocation.from_json(lst)


# ------------------------------------------------------------------------------------------ Problem
def _edit(p: Problem, **change) -> dict:
    data = p.to_dict()
    data.update(change)
    return data


@pytest.mark.smoke
@pytest.mark.parametrize("field, value", [
    ("budget", float("nan")), ("storage_cost", -1.0), ("window_s", float("nan")), ("window_s", float("inf")),
    ("storage_gb", float("nan")), ("budget", 0.0),
])
def test_problem_scalar_out_of_range(field, value):
    with pytest.raises(ValueError, match=rf"Problem\.{field}: must be"):
        Problem.from_dict(_edit(random_problem(1), **{field: value}))


@pytest.mark.parametrize("field, value", [
    ("capacity", np.inf), ("rate", np.inf), ("latency", np.nan), ("delay_slo", 0.0), ("error_slo", 5.0),
    ("unmet_penalty", 1e308), ("cost", np.inf), ("gpus", 2.5), ("inventory", 1.5), ("template_gpu", 0.5),
    ("load_slope", 1.0), ("error", 1.5), ("max_unmet", -0.1),
])
def test_problem_array_entry_out_of_range(field, value):
    p = random_problem(2)
    arr = np.array(getattr(p, field), dtype=float)
    arr.flat[0] = value
    with pytest.raises(ValueError, match=rf"Problem\.{field}: must be .*at index"):
        Problem.from_dict(_edit(p, **{field: arr.tolist()}))


def test_problem_duplicate_names():
    p = random_problem(2)
    with pytest.raises(ValueError, match=r"Problem\.type_names: duplicate names \['t0'\]"):
        Problem.from_dict(_edit(p, type_names=["t0"] * p.n_types))


def test_problem_json_top_level_list(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps([random_problem(0).to_dict()]))
    with pytest.raises(ValueError, match=r"p\.json: the top level must be an object"):
        Problem.from_json(f)


def test_problem_and_scenario_share_rules(small_raw):
    """The scenario's error_slo is refused with the same range as Problem.error_slo."""
    raw = copy.deepcopy(small_raw)
    raw["query_types"][0]["error_slo"] = 5
    with pytest.raises(ScenarioError, match=r"query_types\[0\]\.error_slo: must be " + _re(PROBLEM_RULES["error_slo"].describe())):
        load_scenario(raw)


def _re(text: str) -> str:
    import re

    return re.escape(text)


def test_huge_budget_is_capped_by_inventory(small_raw):
    raw = copy.deepcopy(small_raw)
    raw["budget_per_hour"] = 1e20
    p = load_scenario(raw).problem()
    bound = p.max_replicas()
    assert bound.dtype == np.int64 and (bound == p.inventory[p.template_gpu] // p.gpus).all()


# ------------------------------------------------------------------------------------------ Scenario
@pytest.mark.parametrize("path, value, field", [
    (("seed",), 1.5, "seed"), (("seed",), "abc", "seed"), (("seed",), True, "seed"),
    (("env", "max_replicas"), 2.5, "env.max_replicas"), (("env", "history"), 2.5, "env.history"),
    (("templates", "pp"), [1.5], r"templates.pp\[0\]"), (("templates", "tp"), [True], r"templates.tp\[0\]"),
    (("inventory", "L4"), 2.5, "inventory.L4"), (("query_types", 0, "unmet_penalty"), 1e308, r"query_types\[0\].unmet_penalty"),
    (("n_days",), 1.7, "n_days"),
])
def test_scenario_field_named(small_raw, path, value, field):
    raw = copy.deepcopy(small_raw)
    d = raw
    for k in path[:-1]:
        d = d.setdefault(k, {}) if isinstance(k, str) else d[k]
    d[path[-1]] = value
    with pytest.raises(ScenarioError, match=rf"^{field}: "):
        load_scenario(raw).problem()


@pytest.mark.parametrize("splits, message", [
    ({"train": [0, 1, 2], "validation": [2], "test": [3]}, r"splits\['validation'\]: days \[2\] are also in split 'train'"),
    ({"validation": 2, "test": 2}, r"splits\['validation'\]: expected a list of day numbers .*not counts"),
    ({"train": [0], "test": [99]}, r"splits\['test'\]: days \[99\] are not in the series"),
    ({"train": [0, 1], "validation": [], "test": [2]}, r"splits\['validation'\]: empty"),
    ({"train": [0.5]}, r"splits\['train'\]: day numbers must be integers"),
    ({"valid": [1]}, r"splits: unknown split 'valid'"),
])
def test_bad_splits(small_raw, splits, message):
    raw = copy.deepcopy(small_raw)
    raw["splits"] = splits
    with pytest.raises(ScenarioError, match=message):
        load_scenario(raw).demand


def test_one_day_scenario_env_names_splits(small_raw):
    raw = copy.deepcopy(small_raw)
    raw["n_days"] = 1
    with pytest.raises(ValueError, match=r"split 'train': this series has no splits \(it has 1 day"):
        HetServeEnv(raw)


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"),
    ("- name: x\n", "the top level must be a mapping"),
    ("name: a\nname: b\n", r"duplicate key 'name' on line 2 \(first on line 1\)"),
    ("name: a\nenv: {history: 2, history: 3}\n", r"duplicate key 'history'"),
])
def test_yaml_file_problems(tmp_path, text, message):
    f = tmp_path / "s.yaml"
    f.write_text(text)
    with pytest.raises(ScenarioError, match=rf"s\.yaml: .*{message}"):
        load_scenario(f)


# ------------------------------------------------------------------------------------------ env arguments
@pytest.mark.parametrize("kw, field", [
    ({"episode_days": 1.7}, "episode_days"), ({"max_replicas": True}, "max_replicas"), ({"max_replicas": 2.5}, "max_replicas"),
    ({"noise": MAX_NOISE * 40}, "noise"), ({"noise": float("nan")}, "noise"), ({"noise": "abc"}, "noise"),
    ({"clip_penalty": -1}, "clip_penalty"), ({"window_minutes": "x"}, "window_minutes"), ({"split": "valid"}, "split"),
])
def test_env_arguments(kw, field):
    with pytest.raises(ValueError, match=rf"^{field}"):
        HetServeEnv("small", **kw)


def test_env_noise_at_the_bound_gives_finite_rewards():
    env = HetServeEnv("small", noise=MAX_NOISE)
    env.reset(seed=0)
    for _ in range(5):
        _, r, *_ = env.step(env.action_space.sample())
        assert np.isfinite(r)


# ------------------------------------------------------------------------------------------ Azure CSV
def _csv(tmp_path: Path, rows: str) -> Path:
    f = tmp_path / "t.csv"
    f.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + rows)
    return f


@pytest.mark.parametrize("value", ["9223372036854775808", "100000000000000000000000"])
def test_azure_token_count_too_large(tmp_path, value):
    with pytest.raises(TraceError, match=rf"line 3 .*column 'ContextTokens': token count '{value}' is above"):
        load_azure_trace(_csv(tmp_path, f"0,10,20\n1,{value},5\n"))


def test_azure_epoch_nanoseconds_refused(tmp_path):
    with pytest.raises(TraceError, match=r"line 2 .*column 'TIMESTAMP': .*epoch milliseconds, microseconds or nanoseconds"):
        load_azure_trace(_csv(tmp_path, "1715299200000000000,10,20\n1715299260000000000,10,5\n"))
    ok = load_azure_trace(_csv(tmp_path, "1715299200,10,20\n1715299260,10,5\n"))  # epoch seconds are fine
    assert ok["t_s"].tolist() == [0.0, 60.0]
