"""``info`` has one fixed structure (reset and every step: what replay buffers such as Tianshou's need), its
codes decode to the names ``evaluate`` uses, step results do not alias the env's reused arrays, and
``close()`` imports nothing."""

from __future__ import annotations

import builtins
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import hetserve_env  # noqa: F401  (registers the ids)
from hetserve_env.env import HetServeEnv
from hetserve_env.step_info import INFO_KEYS, VIOLATION_FAMILIES, violations_by_family


def structure(value: Any, prefix: str = "") -> dict[str, tuple]:
    """Every leaf of an info as path -> (type, shape, dtype), nested dicts flattened (as Tianshou's Batch does)."""
    if isinstance(value, dict):
        out: dict[str, tuple] = {}
        for k, v in value.items():
            out.update(structure(v, f"{prefix}/{k}"))
        return out
    if isinstance(value, np.ndarray):
        return {prefix: (np.ndarray, value.shape, value.dtype)}
    return {prefix: (type(value), (), None)}


def clipped_episode(env: HetServeEnv) -> list[dict]:
    """Reset and play a whole episode that clips (everything asked at once) and breaks SLOs (a tiny fleet)."""
    _, info = env.reset(seed=3)
    infos = [info]
    full = np.full(env.n_templates, env.max_replicas, dtype=np.int64)
    tiny = np.zeros(env.n_templates, dtype=np.int64)
    tiny[0] = 1
    truncated, t = False, 0
    while not truncated:
        _, _, _, truncated, info = env.step(full if t % 3 == 0 else tiny)
        infos.append(info)
        t += 1
    return infos


def test_info_structure_is_fixed_over_an_episode_with_clipping_and_violations() -> None:
    env = HetServeEnv("small", noise=0.2)
    infos = clipped_episode(env)
    first = structure(infos[0])
    assert tuple(infos[0]) == INFO_KEYS
    for t, info in enumerate(infos):
        assert tuple(info) == INFO_KEYS, t
        assert structure(info) == first, t
    codes = [info["clip_reason"] for info in infos[1:]]
    assert any(codes) and not all(codes)  # clipped and unclipped steps both happened
    assert all(bool(c) == info["clipped"] for c, info in zip(codes, infos[1:]))
    assert any(np.any(info["violations"]) for info in infos[1:])
    assert infos[0]["violations"].shape == (env.info_layout.violation_size,)


def test_violation_and_clip_codes_decode_to_names() -> None:
    env = HetServeEnv("small", noise=0.2)
    infos = clipped_episode(env)
    layout = env.info_layout
    assert len(layout.violation_names) == layout.violation_size
    for info in infos[1:]:
        names = layout.violated(info["violations"])
        by_family = violations_by_family(info)
        assert list(by_family) == list(VIOLATION_FAMILIES)
        assert all(np.array_equal(by_family[f], v) for f, v in layout.by_family(info["violations"]).items())
        assert sorted(names) == sorted(f"{n}" for f, block in by_family.items()
                                       for n, a in zip(layout.violation_names[layout.violation_slices[f]], block) if a)
        assert (info["violations"] >= 0).all()
        reasons = layout.clip_reasons(info["clip_reason"])
        assert bool(reasons) == info["clipped"]
        assert set(reasons) <= set(layout.clip_reason_names)
    assert "budget" in layout.clip_reasons(infos[1]["clip_reason"])
    assert layout.clip_reasons(0) == []
    with pytest.raises(ValueError, match="clip_reason code"):
        layout.clip_reasons(1 << len(layout.clip_reason_names))


def test_step_results_do_not_alias_reused_arrays() -> None:
    env = HetServeEnv("small")
    obs0, _ = env.reset(seed=0)
    a = env.action_space.sample()
    obs1, _, _, _, info1 = env.step(a)
    kept = {k: np.array(info1[k], copy=True) for k in ("replicas", "violations", "demand")}
    obs1_copy = obs1.copy()
    env.step(np.zeros_like(a))
    assert not np.shares_memory(obs0, obs1)
    np.testing.assert_array_equal(obs1, obs1_copy)
    for k, v in kept.items():
        np.testing.assert_array_equal(info1[k], v)


def test_close_imports_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """At interpreter exit Gymnasium closes unclosed envs when imports fail (sys.meta_path is None)."""
    env = gym.make("hetserve_env/HetServeSmall-v1", render_mode="ansi")
    env.reset(seed=0)
    env.render()
    calls: list[str] = []

    def no_import(name: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        raise ImportError(f"import of {name!r} during close()")

    monkeypatch.setattr(builtins, "__import__", no_import)
    env.close()
    monkeypatch.undo()
    assert calls == []
