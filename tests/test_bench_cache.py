"""hetserve benchmark --cache: a second run reuses what did not change and gives the same scorecard; a new policy
or another setting is computed, not taken from the cache."""

from __future__ import annotations

import pandas as pd

from agents.bench_refs import Reference
from agents.benchmark import benchmark

HOURLY = {"window_minutes": 60}


def _half_bau() -> Reference:
    from agents.evaluation import score_episode
    from baselines.policies import make_policy

    def fn(env, day, noise_seed):
        return 0.5 * score_episode(make_policy("bau", env), env, day, seed=noise_seed).cost, "half of BAU (stand-in)"

    return Reference("half of BAU (stand-in)", False, fn)


def _run(policies, cache, seeds=(0,)):
    return benchmark("small", policies, noise_seeds=list(seeds), episodes=1, reference=_half_bau(), env_kwargs=HOURLY,
                     intervals=False, log=None, cache_dir=cache)


def test_cache_reuses_unchanged_runs_and_computes_new_ones(tmp_path):
    first = _run(["gh"], tmp_path)
    assert first["cached"] == []
    again = _run(["gh"], tmp_path)
    assert sorted(again["cached"]) == ["BAU (static, training peak)", "GH", "reference: half of BAU (stand-in)"]
    cols = ["policy", "mean_cost_usd", "slo_attainment_pct", "score_mean"]
    pd.testing.assert_frame_equal(first["table"][cols], again["table"][cols])
    more = _run(["gh", "gh-seasonal"], tmp_path)
    assert "GH" in more["cached"] and not any("seasonal" in c.lower() for c in more["cached"])
    other = _run(["gh"], tmp_path, seeds=(0, 1))  # other episodes: nothing reused
    assert other["cached"] == []


def test_without_a_cache_nothing_is_reused(tmp_path):
    _run(["gh"], tmp_path)  # a filled cache exists, but this run is not given it
    assert _run(["gh"], None)["cached"] == []


def test_a_library_upgrade_is_a_miss(tmp_path, monkeypatch):
    import importlib.metadata

    from agents.bench_cache import RunCache, source_digest

    rc = RunCache(tmp_path)
    version = importlib.metadata.version
    source_digest.cache_clear()
    try:
        before = rc.key(kind="run", spec="gh")
        monkeypatch.setattr(importlib.metadata, "version", lambda d: "0.0-other" if d == "highspy" else version(d))
        source_digest.cache_clear()
        assert rc.key(kind="run", spec="gh") != before
    finally:
        monkeypatch.undo()
        source_digest.cache_clear()
    assert rc.key(kind="run", spec="gh") == before


def test_a_package_python_cannot_find_is_an_error_not_skipped(monkeypatch):
    import importlib.util

    import pytest

    from agents.bench_cache import source_digest

    find = importlib.util.find_spec
    source_digest.cache_clear()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "baselines" else find(name, *a))
    try:
        with pytest.raises(ImportError, match="package 'baselines' cannot be found"):
            source_digest()
    finally:
        monkeypatch.undo()
        source_digest.cache_clear()


def test_a_retrained_stand_in_reference_is_a_miss(tmp_path):
    import json

    import pytest

    from agents.train import train

    train("ppo", "hetserve_env/HetServeSmall-v1", 48, seed=0, log_dir=tmp_path / "m", progress_bar=False,
          tensorboard=False, keep="last", env_kwargs=HOURLY, hyperparams={"n_steps": 24, "batch_size": 24})
    model = tmp_path / "m" / "ppo_HetServeSmall-v1_s0" / "model.zip"
    cache = tmp_path / "cache"

    def stored_after_a_run() -> int:
        # a 48-step agent costs more than BAU, so scoring against it fails after its values were stored
        with pytest.raises(ValueError, match="not below the BAU cost"):
            benchmark("small", ["gh"], noise_seeds=[0], episodes=1, reference=f"policy:{model}", env_kwargs=HOURLY,
                      intervals=False, log=None, cache_dir=cache)
        return len(list(cache.glob("*.pkl")))

    assert stored_after_a_run() == 3  # BAU, GH, the reference
    assert stored_after_a_run() == 3
    record = model.with_suffix(".json")
    record.write_text(json.dumps({**json.loads(record.read_text()), "retrained": True}))  # another model there
    assert stored_after_a_run() == 4  # the reference again, under the new model's key


def test_a_checkpoint_directory_is_keyed_on_its_nested_files(tmp_path):
    from agents.bench_cache import files_digest

    ckpt = tmp_path / "checkpoint"
    (ckpt / "learner_group" / "learner").mkdir(parents=True)
    (ckpt / "algorithm_state.pkl").write_bytes(b"state")
    weights = ckpt / "learner_group" / "learner" / "module_state.pt"
    weights.write_bytes(b"weights 1")
    before = files_digest(str(ckpt))
    weights.write_bytes(b"weights 2")  # re-trained: only the nested weights differ
    assert files_digest(str(ckpt)) != before
    assert files_digest(str(tmp_path / "missing")) is None


def test_a_model_is_keyed_on_its_record_and_statistics(tmp_path):
    from agents.bench_cache import files_digest

    model = tmp_path / "ppo[0].zip"  # glob characters in the name
    model.write_bytes(b"zip")
    record = tmp_path / "ppo[0].json"
    record.write_text("{}")
    before = files_digest(str(model))
    record.write_text('{"seed": 1}')
    assert files_digest(str(model)) != before


def test_your_own_module_policy_is_computed_every_time(tmp_path, monkeypatch):
    import sys

    (tmp_path / "cached_own_policy.py").write_text(
        "from baselines.policies import make_policy\n\n\ndef make(env):\n    return make_policy('gh', env)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "cached_own_policy", raising=False)
    first = _run(["Mine=cached_own_policy:make"], tmp_path / "cache")
    again = _run(["Mine=cached_own_policy:make"], tmp_path / "cache")  # its file may have been edited in between
    assert first["cached"] == [] and sorted(again["cached"]) == ["BAU (static, training peak)",
                                                                 "reference: half of BAU (stand-in)"]
    sys.modules.pop("cached_own_policy", None)
