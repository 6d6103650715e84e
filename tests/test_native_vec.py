"""The SB3 adapter over the native vector env reproduces make_vec_env(DummyVecEnv) with the TemplateSubset
wrapper step for step (observations, rewards, dones, SB3's infos, masks), and a short MaskablePPO run on it
learns exactly the parameters it learns on DummyVecEnv."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

import gymnasium as gym  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

import hetserve_env  # noqa: E402,F401  (registers the ids)
from agents.native_vec import NativeVecEnv  # noqa: E402
from hetserve_env.wrappers import TemplateSubset  # noqa: E402

SMALL = "hetserve_env/HetServeSmall-v1"
KW = {"scenario": "small", "window_minutes": 60, "noise": 0.1}


def wrapper(env: gym.Env) -> TemplateSubset:
    return TemplateSubset(env, per_type=3)


def both(n: int, seed: int) -> tuple[NativeVecEnv, DummyVecEnv]:
    kw = {k: v for k, v in KW.items() if k != "scenario"}
    dummy = make_vec_env(SMALL, n_envs=n, seed=seed, env_kwargs=kw, wrapper_class=wrapper, vec_env_cls=DummyVecEnv)
    native = NativeVecEnv(n, KW, wrapper=wrapper)
    native.seed(seed)
    return native, dummy


def test_same_steps_as_dummy_vec_env_with_template_subset() -> None:
    native, dummy = both(3, seed=4)
    assert native.observation_space == dummy.observation_space and native.action_space == dummy.action_space
    np.testing.assert_array_equal(native.reset(), dummy.reset())
    rng = np.random.default_rng(0)
    episodes = 0
    for _ in range(55):
        np.testing.assert_array_equal(np.stack(native.env_method("action_masks")), np.stack(dummy.env_method("action_masks")))
        a = rng.integers(0, dummy.action_space.nvec, size=(3, len(dummy.action_space.nvec)))
        o1, r1, d1, i1 = native.step(a)
        o2, r2, d2, i2 = dummy.step(a)
        np.testing.assert_array_equal(o1, o2)
        assert r1.dtype == r2.dtype and np.array_equal(r1, r2) and np.array_equal(d1, d2)
        for x, y in zip(i1, i2):
            assert x["TimeLimit.truncated"] == y["TimeLimit.truncated"]
            assert ("terminal_observation" in x) == ("terminal_observation" in y)
            if "terminal_observation" in x:
                np.testing.assert_array_equal(x["terminal_observation"], y["terminal_observation"])
                assert (x["episode"]["r"], x["episode"]["l"]) == (y["episode"]["r"], y["episode"]["l"])
                episodes += 1
    assert episodes == 6
    assert native.env_is_wrapped(TemplateSubset) == [True] * 3
    native.close()


def test_maskable_ppo_learns_the_same_parameters() -> None:
    sb3_contrib = pytest.importorskip("sb3_contrib")
    import torch

    params = []
    for kind in ("native", "dummy"):
        native, dummy = both(2, seed=7)
        venv = native if kind == "native" else dummy
        model = sb3_contrib.MaskablePPO("MlpPolicy", venv, n_steps=16, batch_size=16, n_epochs=2, seed=3, device="cpu")
        model.learn(64)
        params.append({k: v.clone() for k, v in model.policy.state_dict().items()})
        (dummy if kind == "native" else native).close()
        venv.close()
    assert params[0].keys() == params[1].keys()
    assert all(torch.equal(params[0][k], params[1][k]) for k in params[0])
