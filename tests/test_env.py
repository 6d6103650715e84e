"""HetServeEnv: Gymnasium/SB3 conformance, determinism, pickling, vectorisation, dynamics and accounting."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest

import hetserve_env
from hetserve_env.allocation import evaluate
from hetserve_env.env import HetServeEnv
from hetserve_env.registration import ENV_IDS, ignore_v1_out_of_date

IDS = list(ENV_IDS)
COST_TERMS = ("rental", "cold_start", "storage", "unmet_penalty", "delay_penalty", "error_penalty", "clip_penalty")


@pytest.fixture(scope="module")
def small() -> hetserve_env.Scenario:
    return hetserve_env.load_scenario("small")


def _rollout(env: gym.Env, seed: int, n: int, action_seed: int = 1) -> list[tuple]:
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(action_seed)
    out = [(obs.copy(),)]
    for _ in range(n):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        out.append((obs.copy(), r, term, trunc, info["cost"]["total"], tuple(info["replicas"].tolist())))
        if term or trunc:
            break
    return out


def _same(a: list[tuple], b: list[tuple]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if not np.array_equal(x[0], y[0]) or x[1:] != y[1:]:
            return False
    return True


# ------------------------------------------------------------------------------------------ conformance
def test_registered_ids() -> None:
    for env_id, kwargs in ENV_IDS.items():
        spec = gym.spec(env_id)
        assert spec.entry_point == "hetserve_env.env:HetServeEnv"
        assert spec.max_episode_steps is None
    assert gym.make("hetserve_env/HetServePaper-v1").unwrapped.window_s == 300.0


@pytest.mark.parametrize("env_id", [pytest.param(i, marks=pytest.mark.smoke) if i.endswith("HetServeSmall-v1") else i
                                    for i in IDS])
def test_gymnasium_and_sb3_check_env(env_id: str) -> None:
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no checker warning either
        ignore_v1_out_of_date()  # Gymnasium's "out of date" for the -v1 ids, kept as defaults beside -v2
        check_env(gym.make(env_id).unwrapped)
        sb3_check_env(gym.make(env_id).unwrapped)
        check_env(gym.make(env_id, render_mode="ansi").unwrapped, skip_render_check=False)


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_trajectory(env_id: str) -> None:
    a = _rollout(gym.make(env_id, noise=0.2), seed=7, n=25)
    b = _rollout(gym.make(env_id, noise=0.2), seed=7, n=25)
    c = _rollout(gym.make(env_id, noise=0.2), seed=8, n=25)
    assert _same(a, b)
    assert not _same(a, c)


@pytest.mark.parametrize("env_id", IDS)
def test_pickle_mid_episode(env_id: str) -> None:
    env = gym.make(env_id, noise=0.1).unwrapped
    env.reset(seed=3)
    env.action_space.seed(0)
    for _ in range(5):
        env.step(env.action_space.sample())
    clone = pickle.loads(pickle.dumps(env))
    rng = np.random.default_rng(0)
    for _ in range(5):
        a = rng.integers(0, env.action_space.nvec)
        o1, r1, _, t1, i1 = env.step(a)
        o2, r2, _, t2, i2 = clone.step(a)
        assert np.array_equal(o1, o2) and r1 == r2 and t1 == t2 and i1["cost"] == i2["cost"]
    fresh = pickle.loads(pickle.dumps(gym.make(env_id)))  # the wrapped env pickles too
    fresh.reset(seed=0)


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("mode", ["sync", "async", "vector_entry_point"])
def test_make_vec(env_id: str, mode: str) -> None:
    envs = gym.make_vec(env_id, num_envs=2, vectorization_mode=mode)
    try:
        obs, info = envs.reset(seed=0)
        assert obs.shape == (2, *envs.single_observation_space.shape)
        for _ in range(3):
            obs, rew, term, trunc, info = envs.step(envs.action_space.sample())
        assert rew.shape == (2,) and np.isfinite(rew).all() and not term.any()
        assert "cost" in info
    finally:
        envs.close()


def test_sb3_subproc_vec_env() -> None:
    """SB3 starts workers with forkserver, which does not import hetserve_env: the "module:id" form makes
    Gymnasium import it (and so register the ids) in each worker."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    for env_id in IDS:
        venv = make_vec_env(f"hetserve_env:{env_id}", n_envs=2, seed=0, vec_env_cls=SubprocVecEnv)
        try:
            venv.reset()
            for _ in range(3):
                obs, rew, done, infos = venv.step(np.stack([venv.action_space.sample() for _ in range(2)]))
            assert obs.shape[0] == 2 and np.isfinite(rew).all()
            masks = venv.env_method("action_masks")
            assert masks[0].shape == (int(venv.action_space.nvec.sum()),)
        finally:
            venv.close()


@pytest.mark.parametrize("env_id", IDS)
def test_info_terms_reconstruct_reward(env_id: str) -> None:
    env = gym.make(env_id, noise=0.3)
    env.reset(seed=1)
    env.action_space.seed(1)
    u = env.unwrapped
    for k in range(30):
        # alternate random (clipped) actions with small feasible fleets
        action = env.action_space.sample() if k % 2 else np.where(np.arange(u.n_templates) % 17 == k % 17, 1, 0)
        _, r, term, trunc, info = env.step(action)
        cost = info["cost"]
        assert set(cost) == set(COST_TERMS) | {"total"}
        assert all(cost[t] >= 0 for t in COST_TERMS)
        assert sum(cost[t] for t in COST_TERMS) == pytest.approx(cost["total"], rel=1e-12, abs=1e-12)
        assert -cost["total"] / info["reward_scale"] == pytest.approx(r, rel=1e-12, abs=1e-15)
        assert not term
        assert 0.0 <= info["slo_attainment"]["overall"] <= 1.0 + 1e-12
        assert info["served_rate"] + info["unmet_rate"] == pytest.approx(info["demand"].sum(), rel=1e-9)
        assert sum(info["gpus_by_type"].values()) == int((u.last_window_problem().gpus * info["replicas"]).sum())


@pytest.mark.parametrize("env_id", IDS)
def test_truncation_at_end_of_series(env_id: str) -> None:
    env = gym.make(env_id)
    env.reset(seed=0)
    u = env.unwrapped
    expected = u.windows_per_day
    assert u.episode_length == expected
    zero = np.zeros(u.n_templates, dtype=np.int64)
    for k in range(expected):
        _, _, term, trunc, _ = env.step(zero)
        assert not term
        assert trunc == (k == expected - 1)
    with pytest.raises(RuntimeError, match="episode is over"):
        u.step(zero)


@pytest.mark.parametrize("env_id", IDS)
def test_masks_agree_with_what_the_env_accepts(env_id: str) -> None:
    env = gym.make(env_id).unwrapped
    env.reset(seed=0)
    mask = env.action_masks()
    nvec = env.action_space.nvec
    assert mask.dtype == bool and mask.shape == (int(nvec.sum()),)
    per = mask.reshape(env.n_templates, -1)
    rng = np.random.default_rng(0)
    templates = rng.choice(env.n_templates, size=min(25, env.n_templates), replace=False)
    for d in templates:
        for v in range(nvec[d]):
            env.reset(seed=0, options={"day": env.split_days[0]})
            a = np.zeros(env.n_templates, dtype=np.int64)
            a[d] = v
            _, _, _, _, info = env.step(a)  # every in-range action is accepted ...
            assert info["clipped"] == (not per[d, v])  # ... and clipped exactly when the mask forbids it
            assert np.array_equal(info["action_mask"], mask)
    # joint limits: all-allowed values can still be clipped, and the result is then within limits
    env.reset(seed=0)
    top = np.array([np.flatnonzero(per[d]).max() for d in range(env.n_templates)])
    _, _, _, _, info = env.step(top)
    assert info["clipped"]
    assert not {v.split("[")[0] for v in env.info_layout.violated(info["violations"])} & {"budget", "inventory", "storage"}


# ----------------------------------------------------------------------------------------- dynamics
def test_bad_actions_raise(small: hetserve_env.Scenario) -> None:
    env = HetServeEnv(small)
    env.reset(seed=0)
    D, R = env.n_templates, env.max_replicas
    good = np.zeros(D, dtype=np.int64)
    with pytest.raises(ValueError, match="dtype float64"):
        env.step(good.astype(float))
    with pytest.raises(ValueError, match="dtype bool"):
        env.step(good.astype(bool))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        env.step(good[:3])
    with pytest.raises(ValueError, match=r"shape \(1, "):
        env.step(good[None])
    bad = good.copy()
    bad[5] = R + 1
    with pytest.raises(ValueError, match=rf"action\[5\] = {R + 1} is out of range 0..{R}"):
        env.step(bad)
    bad[5] = -1
    with pytest.raises(ValueError, match=r"action\[5\] = -1"):
        env.step(bad)
    with pytest.raises(ValueError, match="dtype"):
        env.step(["a"] * D)
    env.step(good.astype(np.int32))  # any integer dtype is fine
    env.step(good.tolist())  # and a list of ints
    delta = HetServeEnv(small, action_mode="delta")
    delta.reset(seed=0)
    with pytest.raises(ValueError, match=r"out of range 0..2"):
        delta.step(np.full(D, 3))
    with pytest.raises(RuntimeError, match="reset"):
        HetServeEnv(small).step(good)


def test_bad_constructor_arguments(small: hetserve_env.Scenario) -> None:
    for kwargs, match in [({"split": "nope"}, "split"), ({"noise": -1}, "noise"), ({"action_mode": "x"}, "action_mode"),
                          ({"router": "x"}, "router"), ({"render_mode": "human"}, "render_mode"),
                          ({"episode_days": 99}, "episode_days"), ({"reward_scale": 0}, "reward_scale"),
                          ({"window_minutes": 0}, "window_minutes"), ({"max_replicas": 0}, "max_replicas")]:
        with pytest.raises(ValueError, match=match):
            HetServeEnv(small, **kwargs)
    env = HetServeEnv(small)
    with pytest.raises(ValueError, match="not a start day"):
        env.reset(options={"day": 12})  # a test day, not a train day
    with pytest.raises(ValueError, match="unknown key"):
        env.reset(options={"dya": 1})


def test_zero_noise_replays_the_series_and_noise_is_seeded(small: hetserve_env.Scenario) -> None:
    env = HetServeEnv(small, split="test")
    day = env.split_days[1]
    _, info = env.reset(seed=0, options={"day": day})
    series = small.demand
    start = int(np.searchsorted(series.day, day))
    zero = np.zeros(env.n_templates, dtype=np.int64)
    assert np.array_equal(info["demand"], series.rate[start - 1])
    for k in range(10):
        _, _, _, _, info = env.step(zero)
        assert info["window"] == start + k
        assert np.array_equal(info["demand"], series.rate[start + k])
    noisy = HetServeEnv(small, split="test", noise=0.5)
    noisy.reset(seed=0, options={"day": day})
    d1 = noisy.step(zero)[4]["demand"]
    noisy.reset(seed=0, options={"day": day})
    assert np.array_equal(noisy.step(zero)[4]["demand"], d1)
    assert not np.allclose(d1, series.rate[start])


def test_step_problem_is_the_compiled_problem(small: hetserve_env.Scenario) -> None:
    """The fast per-step Problem equals Scenario.compile restricted to the billed templates, and evaluate agrees."""
    env = HetServeEnv(small, noise=0.3)
    env.reset(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(5):
        a = np.where(rng.random(env.n_templates) < 0.1, rng.integers(1, 3, env.n_templates), 0)
        _, _, _, _, info = env.step(a)
        last = env.last_step
        p = last.problem
        window = env.last_window_problem()  # the window just played: its realised rate and tokens
        full = small.compile(window.rate, window.input_tokens, window.output_tokens)
        act = last.billed
        for f in ("rate", "capacity", "latency", "error", "load_slope", "cost", "gpus", "template_gpu", "template_artifact"):
            ref = getattr(full, f)
            ref = ref[..., act] if f not in ("rate",) else ref
            np.testing.assert_array_equal(getattr(p, f), ref, err_msg=f)
        assert p.template_labels == tuple(full.template_labels[k] for k in act)
        # evaluate on the full problem with the routing embedded gives the same money
        alloc = last.allocation
        x = np.zeros((full.n_types, full.n_templates))
        x[:, act] = alloc.routing
        R = np.zeros(full.n_templates, dtype=np.int64)
        R[act] = alloc.replicas
        avail = np.zeros(full.n_templates)
        avail[act] = last.available
        ev = evaluate(full, hetserve_env.Allocation(R, x, alloc.unmet), latency="load", available=avail)
        hours = env.window_s / 3600
        assert ev.rental * hours == pytest.approx(info["cost"]["rental"], rel=1e-12)
        assert ev.delay_penalty * hours == pytest.approx(info["cost"]["delay_penalty"], rel=1e-12, abs=1e-15)
        assert sorted(v.name for v in ev.violations) == sorted(env.info_layout.violated(info["violations"]))
        amounts = dict(zip(env.info_layout.violation_names, info["violations"]))
        assert all(amounts[v.name] == pytest.approx(v.amount, rel=1e-12) for v in ev.violations)


def test_cold_start_bills_but_does_not_serve_fully(small: hetserve_env.Scenario) -> None:
    env = HetServeEnv(small)
    env.reset(seed=0, options={"day": env.split_days[0]})
    d = int(np.argmin(env.cold_start_s))
    a = np.zeros(env.n_templates, dtype=np.int64)
    a[d] = 2
    _, _, _, _, info1 = env.step(a)
    frac = max(0.0, 1 - env.cold_start_s[d] / env.window_s)
    hours = env.window_s / 3600
    billed = 2 * env.last_window_problem().cost[d] * hours
    assert info1["cost"]["cold_start"] == pytest.approx(billed * (1 - frac), rel=1e-12)
    assert info1["cost"]["rental"] == pytest.approx(billed * frac, rel=1e-12)
    assert env.last_step.available[0] == pytest.approx(2 * frac)
    _, _, _, _, info2 = env.step(a)  # same fleet: now fully serving
    assert info2["cost"]["cold_start"] == 0.0
    assert info2["cost"]["rental"] == pytest.approx(billed, rel=1e-12)
    a[d] = 1  # removal is immediate
    _, _, _, _, info3 = env.step(a)
    assert info3["cost"]["rental"] == pytest.approx(billed / 2, rel=1e-12) and info3["cost"]["cold_start"] == 0.0


def test_cold_start_longer_than_a_window(small: hetserve_env.Scenario) -> None:
    env = HetServeEnv(small, window_minutes=1)  # cold starts of 2-3 minutes span several windows
    assert env.cold_start_windows >= 2
    env.reset(seed=0)
    d = int(np.argmax(env.cold_start_s))
    a = np.zeros(env.n_templates, dtype=np.int64)
    a[d] = 1
    avail, warming = [], []
    for _ in range(env.cold_start_windows + 1):
        obs, _, _, _, info = env.step(a)
        avail.append(env.last_step.available[0])
        warming.append(obs[env.observation_layout.slices()["warming"]][d])
    cs, w = env.cold_start_s[d], env.window_s
    expected = [min(max(k + 1 - cs / w, 0.0), 1.0) for k in range(env.cold_start_windows + 1)]
    np.testing.assert_allclose(avail, expected)
    assert warming[0] > 0 and warming[-1] == 0
    # removing a cold-starting replica stops its billing at once
    env.reset(seed=0)
    env.step(a)
    _, _, _, _, info = env.step(np.zeros_like(a))
    assert info["cost"]["rental"] == 0 and info["cost"]["cold_start"] == 0


def test_budget_clipping_flags_and_penalises(small: hetserve_env.Scenario) -> None:
    env = HetServeEnv(small, clip_penalty=2.0)
    env.reset(seed=0)
    full = np.full(env.n_templates, env.max_replicas, dtype=np.int64)
    _, r, _, _, info = env.step(full)
    assert info["clipped"] and "budget" in env.info_layout.clip_reasons(info["clip_reason"])
    kept = info["replicas"]
    p = env.last_window_problem()
    assert float(p.cost @ kept) <= env.budget + 1e-6 and env.budget == p.budget
    assert (np.bincount(p.template_gpu, weights=p.gpus * kept, minlength=env.n_gpu_types) <= p.inventory).all()
    dropped = full - kept
    hours = env.window_s / 3600
    assert info["cost"]["clip_penalty"] == pytest.approx(2.0 * float(p.cost @ dropped) * hours)
    # the rule: the cheapest-first prefix of the new replicas, the boundary template partly
    order = np.argsort(p.cost, kind="stable")
    kept_sorted = kept[order]
    partial = np.flatnonzero((kept_sorted > 0) & (kept_sorted < env.max_replicas))
    last = np.flatnonzero(kept_sorted > 0).max()
    assert (kept_sorted[:last] == env.max_replicas).all() or partial.size <= 1
    assert (kept_sorted[last + 1:] == 0).all()
    # kept replicas are never dropped: asking again for everything keeps the fleet
    _, _, _, _, info2 = env.step(full)
    assert np.array_equal(info2["replicas"], kept) and info2["clipped"]
    _, _, _, _, info3 = env.step(kept)
    assert not info3["clipped"] and info3["cost"]["clip_penalty"] == 0.0 and info3["clip_reason"] == 0


def test_delta_mode(small: hetserve_env.Scenario) -> None:
    env = HetServeEnv(small, action_mode="delta")
    env.reset(seed=0)
    D = env.n_templates
    assert env.action_space.nvec.tolist() == [3] * D
    m = env.action_masks().reshape(D, 3)
    assert not m[:, 0].any() and m[:, 1].all()  # nothing to remove yet
    a = np.ones(D, dtype=np.int64)
    a[0] = 2
    env.step(a)
    env.step(a)
    assert env.replicas[0] == 2 and env.replicas[1:].sum() == 0
    a[0] = 0
    env.step(a)
    assert env.replicas[0] == 1
    assert env.action_masks().reshape(D, 3)[0, 0]
    env.step(np.zeros(D, dtype=np.int64))
    env.step(np.zeros(D, dtype=np.int64))  # removing from zero keeps zero
    assert env.replicas.sum() == 0
    np.testing.assert_array_equal(env.action_from_replicas(np.eye(D)[3] * 2), np.where(np.arange(D) == 3, 2, 1))


def test_reset_options_and_episode_span(small: hetserve_env.Scenario) -> None:
    env = HetServeEnv(small, episode_days=2, split="validation")
    _, info = env.reset(seed=0)
    assert env.episode_length == 2 * env.windows_per_day and tuple(info["days"]) == tuple(env.split_days)
    assert info["day"] == env.split_days[0]
    warm = np.zeros(env.n_templates, dtype=np.int64)
    warm[0] = 1
    env2 = HetServeEnv(small)
    obs, _ = env2.reset(seed=0, options={"replicas": warm})
    assert obs[env2.observation_layout.slices()["serving"]][0] == pytest.approx(1 / env2.max_replicas)
    _, _, _, _, info = env2.step(warm)
    assert info["cost"]["cold_start"] == 0.0 and info["cost"]["rental"] > 0
    with pytest.raises(ValueError, match="exceeds"):
        env2.reset(options={"replicas": np.full(env2.n_templates, env2.max_replicas)})
    five = HetServeEnv(small, window_minutes=5)
    five.reset(seed=0)
    assert five.episode_length == 288 and five.window_s == 300


def test_observation_layout_and_bounds_under_noise(small: hetserve_env.Scenario) -> None:
    env = HetServeEnv(small, noise=2.0)
    obs, _ = env.reset(seed=0)
    s = env.observation_layout.slices()
    assert obs.shape == env.observation_space.shape and obs.dtype == np.float32
    assert obs[s["slo_attainment"]].tolist() == [1.0] * env.n_types
    assert obs[s["time"]].tolist() == pytest.approx([0.0, 1.0])
    env.action_space.seed(0)
    for _ in range(40):
        obs, _, _, _, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
    np.testing.assert_allclose(obs[s["rate"]][-env.n_types:], np.minimum(info["demand"] / env.rate_scale, 100), rtol=1e-6)


def test_policy_helpers(small: hetserve_env.Scenario) -> None:
    env = HetServeEnv(small, noise=0.2)
    env.reset(seed=0)
    p = env.last_window_problem()
    q = env.next_window_problem()
    _, _, _, _, info = env.step(np.zeros(env.n_templates, dtype=np.int64))
    np.testing.assert_array_equal(q.rate, info["demand"])
    np.testing.assert_array_equal(env.last_window_problem().rate, info["demand"])
    assert p.n_templates == env.n_templates
    np.testing.assert_array_equal(env.action_from_replicas(np.full(env.n_templates, 99)), np.full(env.n_templates, env.max_replicas))


@pytest.mark.smoke
def test_lp_router_in_env(small: hetserve_env.Scenario) -> None:
    """The LP router is optimal for the zero-load router objective (unmet + zero-load delay + error penalties,
    as evaluate(..., latency="zero_load") counts them), not for the load-priced window cost the env charges."""
    from hetserve_env.routing import route

    costs, zero_load = {}, {}
    for router in ("greedy", "lp"):
        env = HetServeEnv(small, router=router)
        env.reset(seed=0, options={"day": 0})
        a = np.zeros(env.n_templates, dtype=np.int64)
        a[:: 7] = 1
        total = zl = 0.0
        for _ in range(5):
            _, _, _, _, info = env.step(a)
            total += info["cost"]["total"]
            last = env.last_step
            p, avail, alloc = last.problem, last.available, last.allocation
            ev = evaluate(p, alloc, latency="zero_load", available=avail)
            zl += ev.unmet_penalty + ev.delay_penalty + ev.error_penalty
            if router == "lp":  # per window: LP <= greedy on the objective the LP minimises, both priced by evaluate
                greedy = evaluate(p, route(p, avail, "greedy", replicas=alloc.replicas), latency="zero_load",
                                  available=avail)
                assert ev.unmet_penalty + ev.delay_penalty + ev.error_penalty <= (
                    greedy.unmet_penalty + greedy.delay_penalty + greedy.error_penalty) + 1e-9
        costs[router], zero_load[router] = total, zl
    assert zero_load["lp"] <= zero_load["greedy"] + 1e-9
    # the env's load-priced cost is another objective: here the LP router's fleet pays more than the greedy's
    assert costs["lp"] == pytest.approx(149.5316, abs=5e-5)
    assert costs["greedy"] == pytest.approx(149.0869, abs=5e-5)


def test_render_modes(small: hetserve_env.Scenario) -> None:
    env = HetServeEnv(small, render_mode="ansi")
    env.reset(seed=0)
    assert "reset" in env.render()
    a = np.zeros(env.n_templates, dtype=np.int64)
    a[:3] = 1
    env.step(a)
    text = env.render()
    assert isinstance(text, str) and env.template_labels[0] in text and "total" in text and "chat" in text
    rgb = HetServeEnv(small, render_mode="rgb_array")
    rgb.reset(seed=0)
    for _ in range(3):
        rgb.step(a)
    img = rgb.render()
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.std() > 0
    with pytest.warns(UserWarning, match="render_mode"):
        assert HetServeEnv(small).render() is None


@pytest.mark.parametrize("name", ["small", "default"])
def test_clipping_rule_matches_one_at_a_time_reference(name: str) -> None:
    """The one-pass clip (the compiled enforce_limits) equals the documented rule applied literally: drop one new
    replica at a time from the most expensive template that still has new replicas (ties: higher index first)
    until within limits."""
    env = HetServeEnv(name)
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    order = list(np.argsort(env.last_window_problem().cost, kind="stable"))[::-1]  # most expensive first
    for trial in range(40):
        # a current fleet within limits, then a random target
        cur = np.zeros(env.n_templates, dtype=np.int64)
        for d in rng.permutation(env.n_templates)[:8]:
            cur[d] = rng.integers(1, 3)
            if env.limits_broken(cur):
                cur[d] = 0
        target = np.where(rng.random(env.n_templates) < rng.uniform(0.05, 0.6), rng.integers(0, env.max_replicas + 1, env.n_templates), cur)
        got, dropped, reasons = env.clip_to_limits(target.copy(), cur)
        ref = target.copy()
        new = np.maximum(target - cur, 0)
        while env.limits_broken(ref):
            d = next(d for d in order if new[d] > 0)
            new[d] -= 1
            ref[d] -= 1
        np.testing.assert_array_equal(got, ref)
        assert (dropped is None) == (not env.limits_broken(target))
        if dropped is not None:
            np.testing.assert_array_equal(dropped, target - ref)
            assert reasons == env.limits_broken(target)


def test_observation_components_through_the_layout(small: hetserve_env.Scenario) -> None:
    """Each component the kernel writes sits at the layout's slice and holds what the docstring says."""
    env = HetServeEnv(small, noise=0.2)
    obs, info = env.reset(seed=3)
    lay = env.observation_layout
    assert env.observation_space.shape == (lay.size,)
    a = np.zeros(env.n_templates, dtype=np.int64)
    a[[0, 5]] = [2, 1]
    for _ in range(3):
        obs, _, _, _, info = env.step(a)
        part = lay.split(obs)
        p = env.last_window_problem()
        np.testing.assert_allclose(part["rate"][-env.n_types:], np.minimum(p.rate / env.rate_scale, 100), rtol=1e-6)
        np.testing.assert_allclose(part["input_tokens"], p.input_tokens / 1000, rtol=1e-6)
        np.testing.assert_allclose(part["output_tokens"], p.output_tokens / 1000, rtol=1e-6)
        np.testing.assert_allclose(part["serving"] + part["warming"], env.replicas / env.max_replicas, rtol=1e-6)
        phase = 2 * np.pi * env.minute_of_day(env.elapsed_steps) / 1440
        np.testing.assert_allclose(part["time"], [np.sin(phase), np.cos(phase)], atol=1e-6)
        np.testing.assert_allclose(part["slo_attainment"], [info["slo_attainment"][n] for n in env.type_names], rtol=1e-6)
        assert part["budget_used"][0] == pytest.approx(env.hourly_cost / env.budget, rel=1e-6)
    np.testing.assert_array_equal(env.observation(), obs)


def test_episode_trace_and_last_step_are_the_steps(small: hetserve_env.Scenario) -> None:
    env = HetServeEnv(small, noise=0.1)
    assert env.elapsed_steps is None and env.episode_trace().served.size == 0 and env.last_step is None
    env.reset(seed=1)
    env.action_space.seed(1)
    infos = [env.step(env.action_space.sample())[4] for _ in range(4)]
    tr = env.episode_trace()
    assert env.elapsed_steps == 4 and tr.hours.tolist() == pytest.approx([k * env.window_s / 3600 for k in range(4)])
    np.testing.assert_allclose(tr.served, [i["served_rate"] for i in infos], rtol=1e-12)
    np.testing.assert_allclose(tr.demand, [i["demand"].sum() for i in infos], rtol=1e-12)
    np.testing.assert_allclose(tr.gpus_by_type, [list(i["gpus_by_type"].values()) for i in infos])
    last = env.last_step
    assert last.t == 3 and last.cost == infos[-1]["cost"]
    np.testing.assert_array_equal(last.billed, np.flatnonzero(infos[-1]["replicas"]))
    np.testing.assert_array_equal(tr.available[-1][last.billed], last.available)
    assert last.evaluation.rental * env.window_s / 3600 == pytest.approx(last.cost["rental"], rel=1e-12)
