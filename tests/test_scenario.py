"""Scenario loading, validation messages, template generation and Problem compilation."""

import numpy as np
import pytest
import yaml

from hetserve_env import ScenarioError, builtin_scenarios, load_scenario
from hetserve_env.allocation import Allocation, evaluate


def test_builtins_present():
    assert {"default", "small", "paper"} <= set(builtin_scenarios())


@pytest.mark.parametrize("name", ["default", "small", "paper"])
def test_builtin_compiles(name):
    sc = load_scenario(name)
    p = sc.problem()
    assert p.n_types == len(sc.query_types) and p.n_templates == len(sc.templates) > 0
    assert (p.capacity > 0).any(axis=1).all(), "every type must be servable by some template"
    assert p.window_s == sc.window_s
    w = sc.problem(window=5)
    assert np.array_equal(w.rate, sc.demand.rate[5])
    assert evaluate(p, Allocation.empty(p)).unmet_penalty > 0


def test_small_has_the_issue_shape():
    sc = load_scenario("small")
    assert len(sc.query_types) == 2 and len(sc.models) == 3 and len({g for g, _ in sc.tiers}) == 3


def test_paper_has_the_paper_shape():
    sc = load_scenario("paper")
    assert len(sc.query_types) == 6 and len(sc.tiers) == 10
    assert sc.tp == [1, 2, 4, 8] and sc.pp == [1, 2, 4] and sc.window_s == 300
    assert all(m.startswith("Llama-3") for m in sc.models)
    prices = [sc.catalog.gpu(g).price_per_hour for g, _ in sc.tiers]
    assert 0.35 <= min(prices) and max(prices) <= 2.50
    assert sc.budget == 100


def _base():
    return yaml.safe_load((__import__("hetserve_env").scenario.SCENARIO_DIR / "small.yaml").read_text())


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["query_types"][1].__setitem__("error_slo", 1.5), r"query_types\[1\]\.error_slo: must be in"),
        (lambda d: d["query_types"][0].__setitem__("task", "poetry"), r"query_types\[0\]\.task: unknown task 'poetry'"),
        (lambda d: d["query_types"][0].__setitem__("delay_slo", 3), r"query_types\[0\]\.delay_slo: unknown field; did you mean 'delay_slo_s'"),
        (lambda d: d["templates"].__setitem__("gpus", ["H300"]), r"templates: .*H300"),
        (lambda d: d["templates"].__setitem__("models", ["Llama-9-8B"]), r"templates: .*Llama-9-8B"),
        (lambda d: d.__setitem__("budget_per_hour", -5), r"budget_per_hour: must be in"),
        (lambda d: d.__setitem__("inventory", {"A100-40GB": 3}), r"inventory\.A100-40GB: unknown field"),
        (lambda d: d.pop("query_types"), r"missing required field 'query_types'"),
        (lambda d: d["env"].__setitem__("static_demand", "median"), r"env\.static_demand"),
        (lambda d: d.__setitem__("perf", {"mbu": 0.5}), r"perf: unknown performance constant"),
    ],
)
def test_bad_fields_are_named(edit, message):
    data = _base()
    edit(data)
    with pytest.raises(ScenarioError, match=message):
        load_scenario(data)


def test_unknown_scenario_name_and_bad_file(tmp_path):
    with pytest.raises(ScenarioError, match="unknown scenario 'defualt'.*did you mean 'default'"):
        load_scenario("defualt")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario(tmp_path / "missing.yaml")


def test_user_file_with_overrides(tmp_path):
    data = _base()
    data["catalog_overrides"] = {"gpus": {"L4": {"price_per_hour": 0.44}}}
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    sc = load_scenario(path)
    assert sc.catalog.gpu("L4").price_per_hour == 0.44
    l4 = [d for d, lab in enumerate(sc.problem().template_labels) if "@L4/" in lab]
    assert l4 and np.allclose(sc.problem().cost[l4] / sc.problem().gpus[l4], 0.44)


def test_templates_respect_memory_and_node_limits():
    sc = load_scenario("default")
    t = sc.templates
    for d in range(len(t)):
        gpu = sc.catalog.gpu(t.gpu_names[t.gpu[d]])
        assert t.tp[d] <= gpu.gpus_per_node
        assert t.weight_gb[d] <= t.tp[d] * t.pp[d] * gpu.memory_gb * sc.constants.memory_utilisation
    labels = t.labels
    assert not any("Llama-3.1-70B@L4/fp16 TP1" in lab for lab in labels)  # 140 GB of weights on 24 GB
