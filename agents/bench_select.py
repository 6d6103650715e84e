"""Settings chosen on validation days only: a planner's headroom or an agent's checkpoint, with a record.

Why: DESIGN §10 — a setting tuned on the test days flatters its policy. :func:`select` scores each candidate on
the *validation* days × the benchmark's noise seeds (the same episodes protocol as the benchmark) and keeps the
lowest mean env cost (cost carries the SLO penalties, so it is the one scale). The :class:`Selection` record
(JSON) names the split and days it was chosen on; :meth:`Selection.check` refuses a record chosen on any other
split or on days that are test days, so ``hetserve benchmark`` cannot run a setting chosen on test days.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

SELECTION_KIND = "hetserve.selection"
#: headroom grid of :func:`select_headroom` (relative margin on the last window's rates). Wide because the best
#: margin depends on the performance model: 50 % on HetServe-v0, 150 % on v1 (results/headroom_validation.md).
#: Coarser than ``baselines.gap.VALIDATION_HEADROOM_GRID`` (15 points, one exact-replay episode per validation
#: day in scripts/tune_headroom.py): here every point costs the validation days × each noise seed (3 by default).
#: Not to be aligned with it: the committed scorecard's headroom choices (e.g. GH's 175 %) were made on this grid
HEADROOM_GRID = (0.25, 0.5, 0.8, 1.0, 1.25, 1.5, 1.75, 2.0, 3.0)


@dataclass
class Selection:
    """What was chosen for ``policy`` (``parameter`` = ``value``), on which split, days and noise seeds."""

    policy: str
    parameter: str
    value: Any
    env_id: str
    split: str
    days: list[int]
    noise_seeds: list[int]
    noise: float
    candidates: list[dict[str, Any]] = field(default_factory=list)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    kind: str = SELECTION_KIND

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str) + "\n"

    @classmethod
    def read(cls, path: str | Path) -> "Selection":
        p = Path(path)
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"selection record {p}: cannot read it as JSON ({exc})") from None
        if not isinstance(d, dict) or d.get("kind") != SELECTION_KIND:
            raise ValueError(f"{p}: not a selection record (kind must be {SELECTION_KIND!r})")
        missing = [k for k in ("policy", "parameter", "value", "env_id", "split", "days", "noise_seeds", "noise")
                   if k not in d]
        if missing:
            raise ValueError(f"selection record {p}: missing field(s) {missing}")
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def check(self, env_id: str, test_days: Sequence[int], env_kwargs: Mapping[str, Any] | None = None) -> None:
        """ValueError unless the record was chosen on the validation split of ``env_id`` (with ``env_kwargs``, when
        given), on no test day."""
        if self.split != "validation":
            raise ValueError(f"selection of {self.parameter} for {self.policy!r} was made on the {self.split!r} "
                             "split; the benchmark accepts only settings chosen on the validation days")
        if self.env_id != env_id:
            raise ValueError(f"selection for {self.policy!r} was made on {self.env_id}, the benchmark runs {env_id}")
        if env_kwargs is not None and dict(self.env_kwargs) != dict(env_kwargs):
            raise ValueError(f"selection for {self.policy!r} was made with env kwargs {self.env_kwargs}, the "
                             f"benchmark runs with {dict(env_kwargs)}")
        shared = sorted(set(map(int, self.days)) & set(map(int, test_days)))
        if shared:
            raise ValueError(f"selection for {self.policy!r} used test day(s) {shared}; choose on validation days")


def select(candidates: Mapping[str, Callable[[Any], Any]], policy: str, parameter: str, env_id: str,
           env_kwargs: Mapping[str, Any] | None = None, noise_seeds: Sequence[int] = (0, 1, 2), noise: float = 0.1,
           values: Mapping[str, Any] | None = None, episodes: int | None = None) -> Selection:
    """Score every candidate (label -> ``factory(env)`` making the policy) on the validation days × noise seeds
    and record the one with the lowest mean env cost (ties: the first listed)."""
    from .bench_protocol import check_noise_seeds, check_sigma, episode_keys
    from .evaluation import score_episode, split_days, warm_up
    from .policies import make_env

    if not candidates:
        raise ValueError(f"select: no candidates for {policy!r}")
    seeds = check_noise_seeds(noise_seeds)
    sigma = check_sigma(noise, seeds)
    kw = dict(env_kwargs or {})
    envs = {s: make_env(env_id, "validation", **{**kw, "noise": 0.0 if s == 0 else sigma}) for s in seeds}
    try:
        days = split_days(next(iter(envs.values())), episodes)
        warm_up(next(iter(envs.values())))
        keys = episode_keys(days, seeds)
        rows = []
        for label, factory in candidates.items():
            pols = {s: factory(envs[s]) for s in seeds}
            eps = [score_episode(pols[k.noise_seed], envs[k.noise_seed], k.day, seed=k.noise_seed) for k in keys]
            rows.append({"label": label, "value": (values or {}).get(label, label),
                         "mean_cost_usd": float(np.mean([e.cost for e in eps])),
                         "slo_attainment_pct": float(np.mean([e.slo_pct for e in eps])), "episodes": len(eps)})
    finally:
        for e in envs.values():
            e.close()
    best = min(rows, key=lambda r: r["mean_cost_usd"])
    return Selection(policy, parameter, best["value"], env_id, "validation", [int(d) for d in days], list(seeds),
                     sigma, rows, kw)


def select_headroom(spec: str, env_id: str, grid: Sequence[float] = HEADROOM_GRID, **kwargs: Any) -> Selection:
    """The headroom of a ``<solver>-headroom`` policy chosen on validation days from ``grid``."""
    from .policies import load_policy

    if not str(spec).lower().endswith("-headroom"):
        raise ValueError(f"select_headroom needs a '<solver>-headroom' policy, got {spec!r}")
    grid = [float(h) for h in grid]
    if not grid or any(not np.isfinite(h) or h < 0 for h in grid):
        raise ValueError(f"headroom grid must be non-empty values >= 0, got {grid}")
    cache: dict = {}
    cands = {f"{h:g}": (lambda env, h=h: load_policy(spec, env, headroom=h, cache=cache)) for h in grid}
    return select(cands, str(spec).lower(), "headroom", env_id, values={f"{h:g}": h for h in grid}, **kwargs)


def select_checkpoint(paths: Sequence[str | Path], env_id: str, policy: str = "agent", **kwargs: Any) -> Selection:
    """The checkpoint (model ``.zip``) of one training run with the lowest validation cost."""
    from .policies import load_policy, policy_env_kwargs

    paths = [str(p) for p in paths]
    for p in paths:
        if not Path(p).exists():
            raise FileNotFoundError(f"select_checkpoint: no model at {p}")
    kws = {json.dumps(policy_env_kwargs(p), sort_keys=True) for p in paths}
    if len(kws) > 1:
        raise ValueError(f"select_checkpoint: the checkpoints were trained with different env kwargs {sorted(kws)}")
    env_kwargs = {**policy_env_kwargs(paths[0]), **dict(kwargs.pop("env_kwargs", None) or {})}
    cands = {p: (lambda env, p=p: load_policy(p, env)) for p in paths}
    return select(cands, policy, "checkpoint", env_id, env_kwargs=env_kwargs, **kwargs)


__all__ = ["HEADROOM_GRID", "SELECTION_KIND", "Selection", "select", "select_checkpoint", "select_headroom"]
