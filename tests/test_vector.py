"""The native vector env (``vector_entry_point``): the same trajectories, infos and masks as N single envs in
Gymnasium's SyncVectorEnv for the same seeds (over episode ends, so autoreset and per-env seeding are
covered), NEXT_STEP autoreset, partial resets, pickling, validation and close()."""

from __future__ import annotations

import builtins
import pickle
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import hetserve_env  # noqa: F401  (registers the ids)
from hetserve_env.registration import ENV_IDS
from hetserve_env.vector import HetServeVectorEnv

SMALL = "hetserve_env/HetServeSmall-v1"
KW = {"window_minutes": 60, "noise": 0.1}  # 24 windows a day: episode ends come quickly


def assert_same(a: Any, b: Any, path: str = "info") -> None:
    """Equal keys, and arrays equal in value, dtype and shape (nested dicts recursively)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (path, sorted(set(a) ^ set(b)))
        for k in a:
            assert_same(a[k], b[k], f"{path}/{k}")
        return
    a, b = np.asarray(a), np.asarray(b)
    assert (a.dtype, a.shape) == (b.dtype, b.shape), (path, a.dtype, b.dtype, a.shape, b.shape)
    assert np.array_equal(a, b), path


def pair(n: int, **kw: Any) -> tuple[gym.vector.VectorEnv, gym.vector.VectorEnv]:
    kwargs = {**KW, **kw}
    native = gym.make_vec(SMALL, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    sync = gym.vector.SyncVectorEnv([lambda: gym.make(SMALL, **kwargs) for _ in range(n)])
    return native, sync


@pytest.mark.parametrize("action_mode", ["target", "delta"])
def test_same_trajectories_as_sync_vector_env_over_episode_ends(action_mode: str) -> None:
    native, sync = pair(3, action_mode=action_mode)
    assert isinstance(native.unwrapped, HetServeVectorEnv)
    o1, i1 = native.reset(seed=11)
    o2, i2 = sync.reset(seed=11)
    assert np.array_equal(o1, o2)
    assert_same(i1, i2)
    sync.action_space.seed(0)
    resets = 0
    for k in range(60):  # > two 24-window episodes: every env autoresets twice
        a = sync.action_space.sample() if k % 4 else np.zeros(sync.action_space.shape, dtype=np.int64)
        out1, out2 = native.step(a), sync.step(a)
        for x, y in zip(out1[:4], out2[:4]):
            assert x.dtype == y.dtype and np.array_equal(x, y), k
        assert_same(out1[4], out2[4])
        assert native.observation_space.contains(out1[0])
        resets += int(out1[3].sum())
        masks = native.unwrapped.action_masks()
        assert np.array_equal(masks, np.stack(sync.call("action_masks")))
    assert resets == 6


def test_autoreset_is_next_step() -> None:
    env = HetServeVectorEnv(2, "small", **KW)
    mode = env.metadata["autoreset_mode"]
    assert getattr(mode, "value", mode) == "NextStep"
    first, _ = env.reset(seed=0)
    zero = np.zeros((2, env.env.n_templates), dtype=np.int64)
    for t in range(24):
        obs, rew, term, trunc, _ = env.step(zero)
        assert trunc.all() == (t == 23) and not term.any()
    obs, rew, term, trunc, info = env.step(np.ones_like(zero))  # ignored: the envs reset
    assert (rew == 0).all() and not trunc.any() and not term.any()
    assert (info["replicas"] == 0).all() and (info["cost"]["total"] == 0).all()
    assert (env.elapsed_steps == 0).all()
    single = gym.make(SMALL, **KW).unwrapped
    single.reset(seed=0)
    for _ in range(24):
        single.step(zero[0])
    expected, _ = single.reset()  # the env's own generator continues, as in SyncVectorEnv
    assert np.array_equal(obs[0], expected)


def test_partial_reset_mask() -> None:
    native, sync = pair(3)
    native.reset(seed=1), sync.reset(seed=1)
    a = np.ones(sync.action_space.shape, dtype=np.int64)
    native.step(a), sync.step(a)
    mask = np.array([False, True, False])
    o1, i1 = native.reset(seed=[None, 5, None], options={"reset_mask": mask})
    o2, i2 = sync.reset(seed=[None, 5, None], options={"reset_mask": mask.copy()})
    assert np.array_equal(o1, o2)
    assert_same(i1, i2)
    with pytest.raises(ValueError, match="reset_mask"):
        native.reset(options={"reset_mask": np.zeros(3, dtype=bool)})


def test_pickle_mid_episode() -> None:
    env = HetServeVectorEnv(2, "small", **KW)
    env.reset(seed=3)
    a = np.full((2, env.env.n_templates), 1, dtype=np.int64)
    env.step(a)
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(30):
        r1, r2 = env.step(a), clone.step(a)
        for x, y in zip(r1[:4], r2[:4]):
            assert np.array_equal(x, y)
        assert_same(r1[4], r2[4])


def test_bad_actions_and_arguments_raise() -> None:
    env = HetServeVectorEnv(2, "small")
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros((2, env.env.n_templates), dtype=np.int64))
    env.reset(seed=0)
    D = env.env.n_templates
    with pytest.raises(ValueError, match="integer"):
        env.step(np.zeros((2, D)))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros((3, D), dtype=np.int64))
    bad = np.zeros((2, D), dtype=np.int64)
    bad[1, 4] = env.env.max_replicas + 1
    with pytest.raises(ValueError, match=r"actions\[1, 4\].*out of range"):
        env.step(bad)
    with pytest.raises(ValueError, match="num_envs"):
        HetServeVectorEnv(0, "small")
    with pytest.raises(ValueError, match="render_mode"):
        HetServeVectorEnv(2, "small", render_mode="ansi")


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_every_id_has_the_vector_entry_point(env_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    envs = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (2, *envs.single_observation_space.shape) and envs.observation_space.contains(obs)
    obs, rew, term, trunc, info = envs.step(envs.action_space.sample())
    assert rew.shape == (2,) and np.isfinite(rew).all() and info["violations"].shape[0] == 2

    def no_import(name: str, *args: Any, **kwargs: Any) -> Any:
        raise ImportError(f"import of {name!r} during close()")

    monkeypatch.setattr(builtins, "__import__", no_import)
    envs.close()
    monkeypatch.undo()
    assert envs.closed
