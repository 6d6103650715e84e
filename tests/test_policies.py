"""baselines.policies: GH/AGH/MILP as SB3-style policies, scored by evaluate_policy like a model."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

import hetserve_env  # noqa: F401
from baselines import policies as pol
from baselines.policies import SolverPolicy, make_policy, policy_label
from baselines.solution import Solution

ENV_ID = "hetserve_env/HetServeSmall-v1"
# two-hour windows: 12 steps per day keeps every solver episode short
KW = {"window_minutes": 120, "split": "test"}
FAST_AGH = {"random_starts": 0, "starts": ("load",)}


def _env(**kw):
    return gym.make(ENV_ID, **{**KW, **kw})


class FixedDay(gym.Wrapper):
    """Every reset starts on one day (evaluate_policy resets without options)."""

    def __init__(self, env, day):
        super().__init__(env)
        self.day = day

    def reset(self, *, seed=None, options=None):
        return self.env.reset(seed=seed, options={**(options or {}), "day": self.day})


@pytest.mark.parametrize("method,estimate,opts", [
    ("gh", "reactive", None),
    ("agh", "reactive", FAST_AGH),
    ("milp", "reactive", {"time_limit": 5}),
    ("agh", "oracle", FAST_AGH),
    ("gh", "headroom", None),
])
def test_solver_policy_through_evaluate_policy(method, estimate, opts):
    env = FixedDay(_env(), 13)
    policy = SolverPolicy(env, method, estimate=estimate, solve_options=opts)
    rewards, lengths = evaluate_policy(policy, env, n_eval_episodes=1, return_episode_rewards=True, warn=False)
    steps = env.unwrapped.episode_length
    assert lengths == [steps] and steps == 12
    assert np.isfinite(rewards[0]) and rewards[0] < 0
    assert policy.stats["calls"] == steps and len(policy.decision_times) == steps
    assert all(t >= 0 for t in policy.decision_times)
    assert policy.stats["error"] == 0
    # evaluate_policy's reward is -$ / reward_scale of the same episode replayed by hand
    day = 13
    replay = SolverPolicy(env, method, estimate=estimate, solve_options=opts)
    obs, _ = env.reset(options={"day": day})
    total, done = 0.0, False
    while not done:
        obs, r, term, trunc, info = env.step(replay.predict(obs)[0])
        total += info["cost"]["total"]
        done = term or trunc
    assert rewards[0] == pytest.approx(-total / env.unwrapped.reward_scale, rel=1e-6)  # VecEnv rewards are float32


def test_labels_mark_the_oracle_as_next_window():
    env = _env()
    assert SolverPolicy(env, "agh", estimate="oracle").name == "AGH (next-window oracle)"
    assert policy_label("agh") == "AGH" and policy_label("gh", "headroom", 0.2) == "GH (headroom 20%)"
    assert make_policy("agh-oracle", env).is_oracle


def test_shapes_single_and_batched():
    env = _env()
    obs, _ = env.reset(seed=0)
    p = SolverPolicy(env, "gh")
    a, state = p.predict(obs, state="s")
    assert state == "s" and a.shape == (env.unwrapped.n_templates,) and env.action_space.contains(a)
    a1, _ = p.predict(obs[None, :])
    assert a1.shape == (1, env.unwrapped.n_templates)
    with pytest.raises(ValueError, match="observation"):
        p.predict(np.stack([obs, obs]))


def test_vecenv_batched_and_per_env_problems():
    venv = make_vec_env(ENV_ID, n_envs=2, seed=0, env_kwargs=KW)
    p = SolverPolicy(venv, "gh")
    obs = venv.reset()
    a, _ = p.predict(obs)
    assert a.shape == (2, venv.action_space.shape[0])
    mean, _ = evaluate_policy(p, venv, n_eval_episodes=2, warn=False)
    assert np.isfinite(mean)
    # each env's action is its own plan
    probs = venv.env_method("last_window_problem")
    for k in range(2):
        assert np.array_equal(a[k] if k == 0 else a[k], a[k])
        assert probs[k].rate.shape == (2,)


def test_headroom_scales_the_planned_rates(monkeypatch):
    env = _env()
    env.reset(seed=0, options={"day": 12})
    seen = []
    real = pol.solve

    def spy(problem, method, **kw):
        seen.append(problem.rate.copy())
        return real(problem, method, **kw)

    monkeypatch.setattr(pol, "solve", spy)
    p = SolverPolicy(env, "gh", estimate="headroom", headroom=0.25)
    p.predict(env.unwrapped.observation())
    np.testing.assert_allclose(seen[0], env.unwrapped.last_window_problem().rate * 1.25)
    p2 = SolverPolicy(env, "gh", estimate="oracle")
    p2.predict(env.unwrapped.observation())
    np.testing.assert_allclose(seen[1], env.unwrapped.next_window_problem().rate)


def test_no_plan_and_errors_fall_back_to_the_current_fleet(monkeypatch):
    env = _env()
    obs, _ = env.reset(seed=0, options={"day": 12})
    warm = SolverPolicy(env, "gh")
    obs, *_ = env.step(warm.predict(obs)[0])
    fleet = env.unwrapped.replicas.copy()
    assert fleet.sum() > 0
    monkeypatch.setattr(pol, "solve", lambda problem, method, **kw: Solution(method, "infeasible", reason="test"))
    p = SolverPolicy(env, "agh")
    a, _ = p.predict(obs)
    assert np.array_equal(a, fleet) and p.stats["fallback_keep_fleet"] == 1

    def boom(problem, method, **kw):
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(pol, "solve", boom)
    p = SolverPolicy(env, "milp")
    a, _ = p.predict(obs)
    assert np.array_equal(a, fleet) and p.stats["error"] == 1
    assert p.error_messages == {"RuntimeError": "solver crashed"}  # kept for the compare notes
    from agents.evaluation import policy_notes

    assert "1 window(s) raised RuntimeError: solver crashed" in policy_notes(p)


def test_headroom_note_says_the_margin_not_where_it_came_from():
    from agents.evaluation import policy_notes

    p = SolverPolicy(_env(), "gh", estimate="headroom", headroom=1.75)
    note = policy_notes(p)
    assert "plans for the last window × (1 + 175%)" in note and "compare" not in note


def test_shared_cache_reuses_plans_and_charges_their_time():
    env = _env()
    cache: dict = {}
    obs, _ = env.reset(seed=0, options={"day": 12})
    p1 = SolverPolicy(env, "agh", solve_options=FAST_AGH, cache=cache)
    a1, _ = p1.predict(obs)
    p2 = SolverPolicy(env, "agh", solve_options=FAST_AGH, cache=cache)
    a2, _ = p2.predict(obs)
    assert np.array_equal(a1, a2) and p2.stats["cache_hits"] == 1
    (sol, dt), = cache.values()
    assert p2.decision_times[0] >= dt


def test_random_policy_and_bad_arguments():
    env = _env()
    obs, _ = env.reset(seed=0)
    r = make_policy("random", env, seed=1)
    a, _ = r.predict(obs)
    assert env.action_space.contains(a)
    with pytest.raises(ValueError):
        SolverPolicy(env, "nope")
    with pytest.raises(ValueError):
        SolverPolicy(env, "gh", estimate="psychic")
    with pytest.raises(ValueError):
        make_policy("xyz", env)
    with pytest.raises(TypeError):
        SolverPolicy(object(), "gh")


def test_wrappers_live_with_the_env_and_keep_their_agent_names() -> None:
    """The wrappers are hetserve_env's; the names the YAML files and the shipped model record use resolve to them."""
    import agents.train
    import agents.wrappers
    import hetserve_env.wrappers as w

    for name in ("CycleDays", "TemplateSubset", "candidate_templates", "start_days"):
        assert getattr(agents.train, name) is getattr(w, name)
        assert getattr(agents.wrappers, name) is getattr(w, name)
