"""``hetserve compare --perf-model``: a scenario under each performance model's registered ids, with that id's
shipped agent and validation-chosen headroom."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hetserve_env.cli import main
from agents.compare import COMPARE_HEADROOMS, compare, default_headroom, scenario_env
from agents.policies import SHIPPED_MODELS

ROOT = Path(__file__).resolve().parents[1]


def test_each_perf_model_maps_scenarios_to_its_own_ids(tmp_path):
    assert scenario_env("small") == ("hetserve_env/HetServeSmall-v1", {})
    assert scenario_env("small", "v2") == ("hetserve_env/HetServeSmall-v2", {})
    assert scenario_env("paper", "v2")[0] == "hetserve_env/HetServePaper-v2"
    yaml = tmp_path / "s.yaml"
    yaml.write_text("base: small\n")
    assert scenario_env(str(yaml), "v2") == ("hetserve_env/HetServe-v2", {"scenario": str(yaml.resolve())})


def test_an_unknown_perf_model_is_an_error_naming_the_choices():
    with pytest.raises(ValueError, match=r"perf_model must be one of \['v1', 'v2'\], got 'v3'"):
        scenario_env("small", "v3")
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--scenario", "small", "--perf-model", "v3"])
    assert exc.value.code == 2


def test_compare_runs_the_scenario_under_the_chosen_model():
    runs = {v: compare("small", episodes=1, policies=("gh",), log=None, perf_model=v) for v in ("v1", "v2")}
    assert runs["v1"]["env_id"] == "hetserve_env/HetServeSmall-v1"
    assert runs["v2"]["env_id"] == "hetserve_env/HetServeSmall-v2"
    costs = {v: float(r["table"]["mean_cost_usd"].iloc[0]) for v, r in runs.items()}
    assert costs["v1"] != pytest.approx(costs["v2"], rel=1e-6)  # another performance model prices the same day


def test_default_headrooms_are_the_committed_validation_choices():
    for env_id, (headroom, where) in COMPARE_HEADROOMS.items():
        text = (ROOT / where).read_text()
        assert f"({env_id})" in text.splitlines()[0], where
        chosen = re.search(r"Chosen: \*\*(\d+)%\*\*", text)
        assert chosen and int(chosen.group(1)) / 100 == pytest.approx(headroom), where
        assert default_headroom(env_id) == (headroom, where)
    assert default_headroom("hetserve_env/HetServeSmall-v1")[1] is None  # no choice recorded: says so


def test_every_shipped_agent_was_trained_on_its_id():
    for env_id, path in SHIPPED_MODELS.items():
        assert path.exists(), path
        record = json.loads(path.with_suffix(".json").read_text())
        assert record["env_id"] == env_id and record["algo"] == "ppo"


def test_only_the_headroom_policies_are_said_to_use_the_chosen_headroom(tmp_path):
    res = compare("small", episodes=1, policies=("gh-headroom", "gh-hw"), log=None, out=tmp_path)
    notes = dict(zip(res["table"]["policy"], res["table"]["notes"]))
    chosen = [p for p, n in notes.items() if "the default headroom, chosen on the validation days" in n]
    assert chosen == [] and len(notes) == 2  # HetServeSmall-v1 has no recorded choice: nothing claims one
    res = compare("default", episodes=1, policies=("gh-headroom", "gh-hw"), log=None, split="validation")
    notes = dict(zip(res["table"]["policy"], res["table"]["notes"]))
    chosen = [p for p, n in notes.items() if "results/headroom_validation.md" in n]
    assert chosen == ["GH (headroom 150%)"], notes
