"""Forecast planners (baselines/forecast_planner.py): what they see, what they plan for, how they are calibrated."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import hetserve_env  # noqa: F401
from baselines import policies as pol
from baselines.forecast import LastValue, SeasonalMax, SeasonalNaive
from baselines.forecast_planner import PLANNERS, ForecastPolicy, calibrate, residual_headrooms
from baselines.policies import SolverPolicy, make_policy, policy_names
from hetserve_env.episodes import policy_act, run_episode

ENV_ID = "hetserve_env/HetServeSmall-v0"
KW = {"window_minutes": 120, "split": "test"}  # 12 windows a day: short episodes


def _env(**kw):
    return gym.make(ENV_ID, **{**KW, **kw})


def test_history_is_the_past_series_then_the_realised_windows_never_the_future():
    env = _env(noise=0.2)
    base = env.unwrapped
    p = ForecastPolicy(env, "gh", SeasonalNaive(base.windows_per_day), 0.0)
    obs, _ = env.reset(seed=3, options={"day": 12})
    demand = base.scenario.demand
    start = int(np.searchsorted(demand.day, 12))
    realised = []
    for t in range(4):
        hist, last = p.observed_demand(0)
        assert hist.shape[0] == start + t  # nothing of window t (the one being planned) or later
        np.testing.assert_array_equal(hist[:start - 1], demand.rate[:start - 1])
        np.testing.assert_array_equal(hist[start:], np.array(realised).reshape(-1, demand.rate.shape[1]))
        np.testing.assert_array_equal(last.rate, hist[-1])
        obs, _, _, _, info = env.step(base.action_from_replicas(base.replicas))
        realised.append(info["demand"])  # noisy: differs from the series
    assert not np.allclose(np.array(realised), demand.rate[start:start + 4])


def test_last_value_planner_equals_the_headroom_policy():
    env = _env()
    a = ForecastPolicy(env, "gh", LastValue(), 0.3)
    b = SolverPolicy(env, "gh", estimate="headroom", headroom=0.3)
    la = run_episode(env, policy_act(a), 12, 0)
    lb = run_episode(env, policy_act(b), 12, 0)
    assert [i["replicas"].tolist() for i in la.infos] == [i["replicas"].tolist() for i in lb.infos]
    assert len(a.decision_times) == la.steps and a.stats["calls"] == la.steps


def test_planner_plans_for_the_forecast_times_headroom(monkeypatch):
    env = _env()
    seen = []
    real = pol.solve
    monkeypatch.setattr(pol, "solve", lambda problem, method, **kw: (seen.append(problem.rate.copy()),
                                                                     real(problem, method, **kw))[1])
    f = SeasonalMax(env.unwrapped.windows_per_day)
    p = ForecastPolicy(env, "gh", f, 0.2)
    env.reset(seed=0, options={"day": 12})
    hist, _ = ForecastPolicy(env, "gh", f, 0.2).observed_demand(0)
    p.predict(env.unwrapped.observation())
    np.testing.assert_allclose(seen[0], f(hist, 1)[0] * 1.2)
    assert "seasonal-max forecast, headroom 20%" in p.name


def test_calibration_uses_validation_days_only_and_picks_the_cheapest_level():
    env = _env()
    forecaster, s = calibrate(env, "seasonal-max", levels=(0.5, 0.9, 1.0))
    assert s.validation_days == (10, 11) and not set(s.validation_days) & set(env.unwrapped.split_days)
    assert s.level in (0.5, 0.9, 1.0) and s.validation_cost[s.level] == min(s.validation_cost.values())
    assert s.headroom == residual_headrooms(forecaster, env.unwrapped.scenario.demand, (s.level,))[s.level]
    assert "validation days [10, 11]" in s.line()
    # the test days' demand plays no part: the same calibration from a validation or a train env
    assert calibrate(_env(split="train"), "seasonal-max", levels=(0.5, 0.9, 1.0))[1].headroom == s.headroom


def test_registered_planners_run_as_env_policies():
    import baselines.forecast_planner  # noqa: F401  (registers)

    assert set(PLANNERS) <= set(policy_names())
    env = _env()
    p = make_policy("gh-seasonal-max", env)
    assert p.settings is not None and p.headroom == p.settings.headroom
    log = run_episode(env, policy_act(p), 13, 0)
    assert log.steps == 12 and np.isfinite(sum(i["cost"]["total"] for i in log.infos))


def test_skipped_steps_are_an_error_not_a_guess():
    env = _env()
    p = ForecastPolicy(env, "gh", LastValue(), 0.0)
    env.reset(seed=0, options={"day": 12})
    p.observed_demand(0)
    env.step(env.unwrapped.action_from_replicas(env.unwrapped.replicas))
    env.step(env.unwrapped.action_from_replicas(env.unwrapped.replicas))
    with pytest.raises(RuntimeError, match="call predict at every step"):
        p.observed_demand(0)


def test_vecenv_each_env_keeps_its_own_history():
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env(ENV_ID, n_envs=2, seed=0, env_kwargs=KW)
    p = ForecastPolicy(venv, "gh", SeasonalMax(12), 0.1)
    obs = venv.reset()
    for _ in range(3):
        a, _ = p.predict(obs)
        assert a.shape == (2, venv.action_space.shape[0])
        obs, *_ = venv.step(a)
    # a history out of step with its env raises (counted as an error): none, for either env
    assert p.stats["calls"] == 6 and p.stats.get("error", 0) == 0, p.error_messages
