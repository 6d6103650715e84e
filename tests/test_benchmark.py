"""hetserve benchmark: episodes protocol, BAU reference, normalised scores, intervals, grouping, selection, errors.

The end-to-end runs use the small scenario with hourly windows (24 steps a day): 2 test days × 2 noise seeds.
Costs are never hard-coded: every expected number comes from a run in the test.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from agents.bench_protocol import EpisodeKey, check_noise_seeds, episode_keys, group_runs, parse_entry
from agents.bench_refs import Reference, parse_reference
from agents.bench_select import Selection, select_headroom
from agents.bench_stats import MissingExtra, aggregate, normalised_scores, stratified_bootstrap_ci
from agents.benchmark import benchmark

SMALL = "hetserve_env/HetServeSmall-v1"
HOURLY = {"window_minutes": 60}
HAS_RLIABLE = importlib.util.find_spec("rliable") is not None
NO_RLIABLE = "rliable (the benchmark extra) is not installed: pip install 'hetserve[benchmark]'"


def _rliable_library_error() -> str | None:
    """Why rliable.library cannot be imported here (None if it can)."""
    try:
        import rliable.library  # noqa: F401
    except Exception as exc:  # arch 7 with pandas 3 raises TypeError at import
        return f"rliable.library does not import here ({type(exc).__name__}: {exc})"
    return None


# ============================================================================================ units
def test_normalised_score_bau_is_0_reference_is_100_and_bad_reference_is_refused():
    bau = np.array([10.0, 20.0, 30.0])
    ref = np.array([4.0, 5.0, 6.0])
    cost = np.stack([bau, ref, (bau + ref) / 2])
    s = normalised_scores(cost, bau, ref)
    np.testing.assert_allclose(s, [[0, 0, 0], [100, 100, 100], [50, 50, 50]])
    with pytest.raises(ValueError, match="on d13/n1 the reference"):
        normalised_scores(cost, bau, np.array([4.0, 5.0, 31.0]), ["d12/replay", "d12/n1", "d13/n1"])
    with pytest.raises(ValueError, match="non-finite"):
        normalised_scores(np.array([np.nan, 1, 1]), bau, ref)
    with pytest.raises(ValueError, match="must be"):
        normalised_scores(cost, bau, ref[:2])


def test_stratified_bootstrap_is_seeded_and_resamples_runs_and_episodes():
    rng = np.random.default_rng(3)
    x = rng.normal(50, 20, size=(5, 8))
    a = stratified_bootstrap_ci(x, np.mean, reps=500, seed=1)
    assert a == stratified_bootstrap_ci(x, np.mean, reps=500, seed=1)
    assert a[0] < x.mean() < a[1]
    constant_runs = np.repeat(x[:1], 5, axis=0)  # runs identical: only the episode resampling is left
    lo, hi = stratified_bootstrap_ci(constant_runs, np.mean, reps=500, seed=1)
    assert lo < hi
    assert stratified_bootstrap_ci(np.full((3, 4), 7.0), np.mean, reps=200) == (7.0, 7.0)
    with pytest.raises(ValueError, match="reps"):
        stratified_bootstrap_ci(x, np.mean, reps=10)
    with pytest.raises(ValueError, match="matrix"):
        stratified_bootstrap_ci(x.ravel(), np.mean)


@pytest.mark.skipif(not HAS_RLIABLE, reason=NO_RLIABLE)
def test_iqm_interval_contains_the_point_and_one_run_matches_scipy_bootstrap():
    from rliable.metrics import aggregate_iqm
    from scipy import stats

    rng = np.random.default_rng(0)
    agg = aggregate({"agent": rng.normal(40, 15, (5, 6)), "planner": rng.normal(60, 10, (1, 6))}, reps=2000)
    for row in agg.values():
        assert row["score_ci_low"] <= row["score_iqm"] <= row["score_ci_high"]
        assert row["score_ci_low"] < row["score_ci_high"]
    one = rng.normal(0, 1, (1, 40))  # one run: the interval is an IID bootstrap over episodes
    ours = stratified_bootstrap_ci(one, aggregate_iqm, reps=4000, seed=0)
    ref = stats.bootstrap((one[0],), lambda v, axis: stats.trim_mean(v, 0.25, axis=axis), n_resamples=4000,
                          method="percentile", random_state=0).confidence_interval
    width = ref.high - ref.low
    assert abs(ours[0] - ref.low) < 0.2 * width and abs(ours[1] - ref.high) < 0.2 * width


@pytest.mark.skipif(not HAS_RLIABLE or _rliable_library_error() is not None,
                    reason=_rliable_library_error() or NO_RLIABLE)
def test_interval_matches_rliable_get_interval_estimates():
    from rliable import library, metrics

    x = np.random.default_rng(1).normal(50, 20, (5, 6))
    f = lambda s: np.array([metrics.aggregate_iqm(s)])  # noqa: E731
    np.random.seed(0)
    _, ci = library.get_interval_estimates({"a": x}, f, task_bootstrap=True, reps=4000)
    ours = stratified_bootstrap_ci(x, metrics.aggregate_iqm, reps=4000)
    width = ci["a"][1, 0] - ci["a"][0, 0]
    assert abs(ours[0] - ci["a"][0, 0]) < 0.2 * width and abs(ours[1] - ci["a"][1, 0]) < 0.2 * width


def test_missing_extra_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "rliable.metrics", None)
    monkeypatch.setitem(sys.modules, "rliable", None)
    with pytest.raises(MissingExtra, match=r"hetserve\[benchmark\].*--no-intervals"):
        aggregate({"a": np.ones((1, 3))}, intervals=True)
    assert aggregate({"a": np.ones((1, 3))}, intervals=False)["a"]["score_iqm"] is None


def test_noise_seeds_episodes_entries_and_grouping_errors(tmp_path):
    assert check_noise_seeds(["0", 2, 1.0]) == (0, 2, 1)
    for bad, msg in (([-1], "integer >= 0"), ([1, 1], "twice"), ([True], "integer"), (["x"], "integer"),
                     ([], "at least one"), ([0.5], "integer")):
        with pytest.raises(ValueError, match=msg):
            check_noise_seeds(bad)
    keys = episode_keys([12, 13], [0, 1])
    assert keys == [EpisodeKey(12, 0), EpisodeKey(12, 1), EpisodeKey(13, 0), EpisodeKey(13, 1)]
    assert keys[0].noise(0.1) == 0.0 and keys[1].noise(0.1) == 0.1 and keys[0].label == "d12/replay"
    assert parse_entry("PPO=gh").group == "PPO" and parse_entry(" agh ").spec == "agh"
    with pytest.raises(FileNotFoundError, match="no model"):
        parse_entry(str(tmp_path / "missing.zip"))
    with pytest.raises(ValueError, match="empty group"):
        parse_entry("=gh")
    with pytest.raises(FileNotFoundError, match="not a training run"):
        parse_entry(str(tmp_path))
    groups = group_runs([("PPO", 0, "a"), ("GH", None, "g"), ("PPO", 1, "b")])
    assert list(groups) == ["PPO", "GH"] and [s for s, _ in groups["PPO"]] == [0, 1]
    with pytest.raises(ValueError, match="listed twice with seed 0"):
        group_runs([("PPO", 0, "a"), ("PPO", 0, "b")])
    with pytest.raises(ValueError, match="listed twice with no seed"):
        group_runs([("GH", None, "a"), ("GH", None, "b")])
    with pytest.raises(ValueError, match="hindsight"):
        parse_reference("best")


# ============================================================================================ BAU
def test_bau_holds_one_fleet_sized_for_the_training_peak():
    import gymnasium as gym

    import hetserve_env  # noqa: F401
    from agents.evaluation import score_episode
    from baselines.policies import make_policy
    from baselines.static_plan import peak_problem

    env = gym.make(SMALL, split="test", **HOURLY)
    base = env.unwrapped
    d = base.scenario.demand
    train_rows = np.isin(np.asarray(d.day), d.split_day_ids("train"))
    np.testing.assert_allclose(peak_problem(base.scenario).rate, np.asarray(d.rate)[train_rows].max(axis=0))
    policy = make_policy("bau", env)
    ep = score_episode(policy, env, 12, seed=0)
    assert ep.trace["replicas"].nunique() == 1 and ep.trace["replicas"].iloc[0] == policy.replicas.sum() > 0


# ============================================================================================ end to end
@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    """Two 96-step PPO models on the hourly small scenario, seeds 0 and 1 (only their grouping matters)."""
    from agents.train import train

    d = tmp_path_factory.mktemp("bench_models")
    paths = []
    for seed in (0, 1):
        train("ppo", SMALL, 96, seed=seed, log_dir=d, progress_bar=False, tensorboard=False, keep="last",
              env_kwargs=HOURLY, hyperparams={"n_steps": 24, "batch_size": 24})
        paths.append(d / f"ppo_HetServeSmall-v1_s{seed}" / "model.zip")
    return paths


def _half_bau() -> Reference:
    """A stand-in reference from a real run: half the BAU policy's env cost on the episode (below BAU by
    construction; not a bound)."""
    from agents.evaluation import score_episode
    from baselines.policies import make_policy

    def fn(env, day, noise_seed):
        return 0.5 * score_episode(make_policy("bau", env), env, day, seed=noise_seed).cost, "half of BAU (stand-in)"

    return Reference("half of BAU (stand-in)", False, fn)


@pytest.fixture(scope="module")
def small_run(two_seeds):
    return benchmark("small", ["gh", f"PPO={two_seeds[0]}", f"PPO={two_seeds[1]}"], noise_seeds=[0, 1],
                     reference=_half_bau(), env_kwargs=HOURLY, intervals=HAS_RLIABLE, reps=500, log=None)


def test_scorecard_rows_scores_and_grouping(small_run):
    t = small_run["table"].set_index("policy")
    assert list(t.index) == ["BAU (static, training peak)", "GH", "PPO", "Reference: half of BAU (stand-in)"]
    assert t.loc["PPO", "runs"] == 2 and t.loc["PPO", "seeds"] == "0 1" and t.loc["PPO", "episodes"] == 8
    assert t.loc["GH", "runs"] == 1 and t.loc["GH", "episodes"] == 4
    assert "peak window" in t.loc["BAU (static, training peak)", "notes"]
    assert small_run["scores"]["PPO"].shape == (2, 4) and small_run["scores"]["GH"].shape == (1, 4)
    np.testing.assert_array_equal(small_run["scores"]["BAU (static, training peak)"], 0.0)
    assert t.loc["Reference: half of BAU (stand-in)", "score_mean"] == 100.0
    eps = small_run["episodes"]
    assert len(eps) == 4 * (1 + 1 + 2) and set(eps["episode"]) == {"d12/replay", "d12/n1", "d13/replay", "d13/n1"}
    bau = eps[eps["policy"].str.startswith("BAU")].set_index("episode")["cost"]
    np.testing.assert_allclose(eps["reference"], 0.5 * bau.loc[eps["episode"]].to_numpy())  # the stand-in's runs
    gh = eps[eps["policy"] == "GH"]
    np.testing.assert_allclose(gh["score"], 100 * (gh["bau_cost"] - gh["cost"]) / (gh["bau_cost"] - gh["reference"]))
    # exact replay is the same demand for every noise seed 0 run; the noisy episode differs from it
    assert (gh[gh["episode"] == "d12/replay"]["cost"].iloc[0] != gh[gh["episode"] == "d12/n1"]["cost"].iloc[0])


@pytest.mark.skipif(not HAS_RLIABLE, reason=NO_RLIABLE)
def test_scorecard_intervals_contain_the_iqm(small_run):
    t = small_run["table"]
    for _, r in t[t["runs"] > 0].iterrows():
        assert r["score_ci_low"] <= r["score_iqm"] <= r["score_ci_high"]


def test_scorecard_files(small_run, tmp_path):
    from agents.bench_report import write_scorecard

    files = write_scorecard(small_run, tmp_path)
    assert {"csv", "episodes", "markdown", "plot", "json"} <= set(files)
    meta = json.loads((tmp_path / "scorecard.json").read_text())
    assert meta["complete"] and meta["noise_seeds"] == [0, 1] and not meta["reference"]["is_bound"]
    md = (tmp_path / "scorecard.md").read_text()
    assert "0 = the static plan" in md and "bound" not in md.split("Episodes:")[0].lower()


def test_benchmark_errors_before_running():
    with pytest.raises(ValueError, match="unknown policy 'nope'"):
        benchmark("small", ["nope"], noise_seeds=[0], reference=_half_bau(), env_kwargs=HOURLY, intervals=False,
                  log=None)
    with pytest.raises(ValueError, match="noise seed"):
        benchmark("small", ["gh"], noise_seeds=[0, -2], reference=_half_bau(), env_kwargs=HOURLY, intervals=False,
                  log=None)
    with pytest.raises(ValueError, match="listed twice"):
        benchmark("small", ["gh", "gh"], noise_seeds=[0], reference=_half_bau(), env_kwargs=HOURLY,
                  intervals=False, log=None)
    with pytest.raises(ValueError, match="always runs"):
        benchmark("small", ["bau"], noise_seeds=[0], reference=_half_bau(), intervals=False, log=None)
    with pytest.raises(ValueError, match="set by the protocol"):
        benchmark("small", ["gh"], env_kwargs={"noise": 0.2}, reference=_half_bau(), intervals=False, log=None)
    with pytest.raises(ValueError, match="noise must be > 0"):
        benchmark("small", ["gh"], noise=0, noise_seeds=[0, 1], reference=_half_bau(), intervals=False, log=None)


def test_model_trained_with_other_env_kwargs_is_refused(two_seeds):
    with pytest.raises(ValueError, match="change the problem"):
        benchmark("small", [str(two_seeds[0])], noise_seeds=[0], reference=_half_bau(), intervals=False, log=None)


# ============================================================================================ selection
def test_headroom_chosen_on_validation_days_and_test_day_choices_refused(tmp_path):
    sel = select_headroom("gh-headroom", SMALL, grid=(0.2, 0.5), env_kwargs=HOURLY, noise_seeds=[0])
    assert sel.split == "validation" and sel.days == [10, 11] and sel.value in (0.2, 0.5)
    assert sel.value == min(sel.candidates, key=lambda c: c["mean_cost_usd"])["value"]
    p = tmp_path / "sel.json"
    p.write_text(sel.to_json())
    back = Selection.read(p)
    back.check(SMALL, [12, 13], HOURLY)
    on_test = Selection(**{**vars(back), "split": "test", "days": [12, 13]})
    with pytest.raises(ValueError, match="only settings chosen on the validation days"):
        on_test.check(SMALL, [12, 13], HOURLY)
    with pytest.raises(ValueError, match="used test day"):
        Selection(**{**vars(back), "days": [11, 12]}).check(SMALL, [12, 13], HOURLY)
    with pytest.raises(ValueError, match="env kwargs"):
        back.check(SMALL, [12, 13], {})
    with pytest.raises(ValueError, match="validation days"):
        benchmark("small", ["gh-headroom"], noise_seeds=[0], selections=[on_test], reference=_half_bau(),
                  env_kwargs=HOURLY, intervals=False, log=None)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a selection record"):
        Selection.read(tmp_path / "bad.json")


def test_cli_errors_are_one_line(capsys, tmp_path):
    from hetserve_env.cli import main

    assert main(["benchmark", "gh", "--scenario", "small", "--noise-seeds", "0,-1", "--no-intervals",
                 "--reference", "policy:gh", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hetserve benchmark: error: noise seed must be an integer >= 0") and "\n" not in err


def test_hindsight_reference_is_a_bound_below_every_policy():
    res = benchmark("small", ["gh"], noise_seeds=[0], episodes=1, reference="hindsight", env_kwargs=HOURLY,
                    hindsight_time_limit=10, intervals=False, log=None)
    t = res["table"].set_index("policy")
    assert res["reference"]["is_bound"] and res["reference"]["kinds"][0].startswith("hindsight")
    eps = res["episodes"]
    assert (eps["cost"] >= eps["reference"]).all() and (eps["score"] <= 100).all()
    assert "Hindsight incumbent (clairvoyant plan, env cost)" in t.index
    assert t.loc["Hindsight incumbent (clairvoyant plan, env cost)", "mean_cost_usd"] >= res["reference"]["values"][0]


def test_checkpoint_chosen_on_validation_days_joins_the_benchmark(two_seeds):
    from agents.bench_select import select_checkpoint

    sel = select_checkpoint(two_seeds, SMALL, policy="PPO (best checkpoint)", noise_seeds=[0])
    assert sel.parameter == "checkpoint" and sel.split == "validation" and sel.env_kwargs == HOURLY
    assert sel.value == min(sel.candidates, key=lambda c: c["mean_cost_usd"])["value"]
    res = benchmark("small", ["gh"], noise_seeds=[0], selections=[sel], reference=_half_bau(), env_kwargs=HOURLY,
                    intervals=False, log=None)
    t = res["table"].set_index("policy")
    assert t.loc["PPO (best checkpoint)", "runs"] == 1 and t.loc["PPO (best checkpoint)", "episodes"] == 2
    assert [x["parameter"] for x in res["selections"]] == ["checkpoint"]
    assert "chosen on validation days [10, 11]" in t.loc["PPO (best checkpoint)", "notes"]


def test_cli_without_the_extra_says_what_to_install_and_makes_no_folder(capsys, tmp_path, monkeypatch):
    import sys

    from hetserve_env.cli import main

    monkeypatch.setitem(sys.modules, "rliable.metrics", None)
    monkeypatch.setitem(sys.modules, "rliable", None)
    assert main(["benchmark", "gh", "--scenario", "small", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "hetserve[benchmark]" in err and "--no-intervals" in err and not (tmp_path / "run").exists()
