"""The hindsight bound (baselines/hindsight.py) is a lower bound on every policy's env cost; its incumbent and the
MPC planner (baselines/mpc.py) run through the episode runner; a tampered model is caught."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import hetserve_env  # noqa: F401
from baselines.hindsight import HindsightPolicy, episode_model_inputs, hindsight, solve_episode
from baselines.horizon_model import build_horizon_model
from baselines.horizon_solve import solve_horizon
from baselines.mpc import MPCPolicy, persistence
from baselines.policies import make_policy, policy_names
from hetserve_env.cli import main
from hetserve_env.episodes import policy_act, run_episode

SMALL = "hetserve_env/HetServeSmall-v1"
W = 4  # windows per episode in these tests (the bound covers the first W windows; costs add per window)
REL = 1e-6  # solver tolerances


def env_cost(env, policy, day, seed, start=None) -> float:
    log = run_episode(env, policy_act(policy), day, seed, start_replicas=start, max_windows=W)
    assert log.steps == W
    return log.total_cost


def bound_of(env, day, seed, start=None):
    env.reset(seed=seed, options={"day": day, **({"replicas": start} if start is not None else {})})
    return solve_episode(env, windows=W, time_limit=10)


@pytest.fixture(scope="module")
def env():
    e = gym.make(SMALL, split="test", noise=0.3)
    yield e
    e.close()


@pytest.mark.parametrize("day,seed,warm", [(12, 0, False), (13, 1, False), (12, 2, True)])
def test_bound_below_every_policy(env, day, seed, warm):
    start = None
    if warm:  # a warm start fleet: one replica of the 3 cheapest templates
        env.reset(seed=seed, options={"day": day})  # the test must not depend on an earlier test's reset
        start = np.zeros(env.unwrapped.n_templates, dtype=np.int64)
        start[np.argsort(env.unwrapped.window_problem(0).cost)[:3]] = 1
    sol = bound_of(env, day, seed, start)
    assert sol.bound_kind == "milp" and sol.bound is not None and sol.bound > 0
    assert sol.objective >= sol.bound * (1 - REL)
    costs = {}
    for name in ("gh", "gh-headroom", "agh", "agh-oracle", "random", "hindsight"):
        pol = make_policy(name, env, **({"windows": W, "time_limit": 10} if name == "hindsight" else {}))
        costs[name] = env_cost(env, pol, day, seed, start)
    costs["mpc"] = env_cost(env, MPCPolicy(env, k=2, time_limit=5), day, seed, start)
    for name, c in costs.items():
        assert c >= sol.bound * (1 - REL) - 1e-9, f"{name}: env cost {c} below the bound {sol.bound}"


def test_hindsight_result_and_lp_bound(env):
    r = hindsight(env, 12, 0, windows=W, time_limit=10)
    assert r.steps == W and r.env_cost is not None and r.env_cost >= r.bound * (1 - REL)
    assert r.gap_to_env is not None and 0 <= r.gap_to_env < 1
    lp = hindsight(env, 12, 0, windows=W, lp_only=True)
    assert lp.solution.bound_kind == "lp" and lp.solution.plan_kind == "lp-round"
    assert lp.bound <= r.bound * (1 + REL)  # the LP relaxation is weaker than the MILP bound
    assert lp.env_cost >= lp.bound * (1 - REL)
    plain = hindsight(env, 12, 0, windows=W, time_limit=10, plan_model="plain")
    assert plain.solution.bound_kind in ("milp", "lp (load cuts)") and plain.solution.stats["lp_with_cuts"] > 0
    assert plain.bound >= plain.solution.stats["lp_with_cuts"] * (1 - REL)  # the larger of the two valid bounds
    assert plain.bound <= r.env_cost * (1 + REL) and plain.bound <= plain.env_cost * (1 + REL)
    # time_limit is the budget of the whole solve: the horizon MILP gets what the cut LP (and builds) left
    st = plain.solution.stats
    assert st["before_horizon_s"] > 0 and st["before_horizon_s"] + st["horizon_time_limit"] == pytest.approx(10)


def test_tampered_model_is_caught(env):
    """A model whose new replicas serve nothing in their first window (cold start over-counted) is no relaxation
    of the env: its 'bound' exceeds the env cost of a policy, which is what the bound test checks."""
    env.reset(seed=0, options={"day": 12})
    problems, start, avail = episode_model_inputs(env, 0, W)
    true = solve_horizon(build_horizon_model(problems, start, avail, env.unwrapped.max_replicas), time_limit=30)
    bad = solve_horizon(build_horizon_model(problems, start, np.zeros_like(avail), env.unwrapped.max_replicas),
                        time_limit=30)
    incumbent = env_cost(env, HindsightPolicy(env, windows=W, time_limit=10), 12, 0)
    assert true.bound <= incumbent * (1 + REL)
    assert bad.bound > incumbent, "the over-counted cold start should push the 'bound' above an achievable cost"


def test_slack_plan_is_no_bound(env):
    env.reset(seed=0, options={"day": 12})
    sol = solve_episode(env, windows=3, time_limit=30, max_utilisation=0.7)
    assert sol.bound is None and sol.bound_kind.startswith("none") and sol.plan is not None
    with pytest.raises(ValueError, match="max_utilisation"):
        solve_episode(env, windows=3, max_utilisation=1.5)
    with pytest.raises(ValueError, match="windows must be 1"):
        solve_episode(env, windows=10_000)


def test_mpc_forecasters_and_errors(env):
    assert {"hindsight", "mpc", "mpc-oracle"} <= set(policy_names())
    calls = []

    def custom(history, horizon):
        calls.append(history.shape)
        return persistence(history, horizon) * 1.2

    pol = MPCPolicy(env, k=2, forecaster=custom, time_limit=5)
    assert env_cost(env, pol, 12, 0) > 0
    H = env.unwrapped.history
    assert calls[-1][0] - calls[0][0] == W - 1 and calls[0][1] == 2  # history grows by the played windows
    assert len(pol.decision_times) == W and pol.stats["plan:milp"] == W
    oracle = make_policy("mpc-oracle", env, k=2, time_limit=5)
    assert oracle.is_oracle and "oracle" in oracle.name and env_cost(env, oracle, 12, 0) > 0
    with pytest.raises(ValueError, match=r"forecast must have shape \(2, 2\)"):
        env_cost(env, MPCPolicy(env, k=2, forecaster=lambda h, n: np.ones((n + 1, 2))), 12, 0)
    with pytest.raises(ValueError, match=r"forecast\[0, 1\] = -1.0"):
        env_cost(env, MPCPolicy(env, k=2, forecaster=lambda h, n: np.array([[1.0, -1.0]] * n)), 12, 0)
    seasonal = MPCPolicy(env, k=2, forecaster="seasonal-max", time_limit=5)  # baselines/forecast.py's, by name
    assert env_cost(env, seasonal, 12, 0) > 0 and seasonal.forecast_name == "seasonal-max"
    with pytest.raises(ValueError, match="forecaster must be"):
        MPCPolicy(env, forecaster="tomorrow")
    with pytest.raises(ValueError, match="k \\(look-ahead windows\\)"):
        MPCPolicy(env, k=0)


def test_env_window_problem_accessor(env):
    base = env.unwrapped
    env.reset(seed=3, options={"day": 12})
    assert np.array_equal(base.window_problem(0).rate, base.next_window_problem().rate)
    assert np.array_equal(base.window_problem(-1).rate, base.last_window_problem().rate)
    ready, warm = base.fleet_cohorts()
    assert ready.shape == (base.n_templates,) and warm.shape[1] == base.n_templates and not ready.any()
    with pytest.raises(ValueError, match="out of range"):
        base.window_problem(base.episode_length)
    with pytest.raises(ValueError, match="out of range"):
        base.window_problem(-base.history - 1)


def test_cli_hindsight(capsys):
    rc = main(["hindsight", "--scenario", "small", "--days", "12", "--windows", "3", "--time-limit", "20",
               "--noise", "0.2"])
    out = capsys.readouterr().out
    assert rc == 0 and "bound_usd" in out and "| milp |" in out
    assert main(["hindsight", "--scenario", "small", "--time-limit", "0"]) == 2


def test_bound_with_cold_starts_longer_than_a_window():
    """1-minute windows: cold starts span several windows (age cohorts); the bound still holds."""
    e = gym.make(SMALL, split="test", noise=0.2, window_minutes=1)
    try:
        assert e.unwrapped.cold_start_windows > 1
        sol = bound_of(e, 12, 0)
        assert sol.bound is not None and sol.bound > 0
        for name in ("gh", "gh-headroom", "random", "hindsight", "mpc"):
            kw = {"hindsight": {"windows": W, "time_limit": 10}, "mpc": {"k": 3, "time_limit": 5}}.get(name, {})
            c = env_cost(e, make_policy(name, e, **kw), 12, 0)
            assert c >= sol.bound * (1 - REL) - 1e-9, f"{name}: env cost {c} below the bound {sol.bound}"
    finally:
        e.close()


def test_an_lp_status_the_model_cannot_have_is_an_error(env):
    """The relaxation is always feasible; an infeasible one (here: a replica column forced above its upper
    bound) is a modelling bug and raises, instead of quietly reporting no bound."""
    from dataclasses import replace

    from hetserve_env.highs import HighsStatusError

    env.reset(seed=0, options={"day": 12})
    problems, start, avail = episode_model_inputs(env, 0, W)
    model = build_horizon_model(problems, start, avail, env.unwrapped.max_replicas)
    ok = solve_horizon(model, time_limit=30)
    assert ok.stats["lp_status"] == "Optimal" and isinstance(ok.stats["rounded_plans_rejected"], list)
    lo = model.col_lower.copy()
    lo[model.col_R[0, 0]] = model.col_upper[model.col_R[0, 0]] + 1
    with pytest.raises(HighsStatusError, match="horizon_lp"):
        solve_horizon(replace(model, col_lower=lo), time_limit=30)
