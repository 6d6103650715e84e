"""The benchmark's episodes and policy entries (``hetserve benchmark``, :mod:`agents.benchmark`).

**Episodes** are (day, noise seed) pairs: every day of the split × every noise seed. The env takes demand noise
as a constructor argument (``noise`` = σ of a multiplicative log-normal factor per type and window) and draws it
from ``reset(seed=...)``; so a noise seed ``s >= 1`` is an env made with ``noise=sigma`` and reset with
``seed=s``, and noise seed ``0`` is reserved for **exact replay** (``noise=0``: the series as recorded). Every
policy sees exactly the same realised demand on the same episode.

**Entries** are what the user lists: ``[GROUP=]SPEC`` with SPEC a :func:`agents.policies.load_policy` spec (a
registered name, a model ``.zip``, ``module:attr``), a training run directory (``run.json`` of ``hetserve
train``: its saved model) or ``model`` (the shipped agent of the env id). Entries with the same group name —
given, else the policy's display name — are the *runs* of one policy (e.g. 5 seeds of PPO); runs of one group
need distinct seeds (a saved model's record seed), so a policy listed twice by mistake is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

#: σ of the demand noise on the noisy episodes (the env's ``noise``)
NOISE_SIGMA = 0.1
#: 0 = exact replay; 1, 2 = the env's log-normal noise with that reset seed
DEFAULT_NOISE_SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class EpisodeKey:
    """One benchmark episode: a start day of the split and a noise seed (0 = exact replay)."""

    day: int
    noise_seed: int

    def noise(self, sigma: float) -> float:
        """The env's ``noise`` for this episode: 0 for exact replay, else ``sigma``."""
        return 0.0 if self.noise_seed == 0 else float(sigma)

    @property
    def label(self) -> str:
        return f"d{self.day}/" + ("replay" if self.noise_seed == 0 else f"n{self.noise_seed}")


def check_noise_seeds(seeds: Sequence[Any]) -> tuple[int, ...]:
    """The noise seeds as distinct integers >= 0 (0 = exact replay); ValueError naming the bad one."""
    out: list[int] = []
    for s in seeds:
        ok = not isinstance(s, bool) and isinstance(s, (int, float, str))
        try:
            v = int(s) if ok and float(s).is_integer() else None
        except ValueError:
            v = None
        if v is None or v < 0:
            raise ValueError(f"noise seed must be an integer >= 0 (0 = exact replay), got {s!r}")
        if v in out:
            raise ValueError(f"noise seed {v} is listed twice")
        out.append(v)
    if not out:
        raise ValueError("noise seeds: give at least one (0 = exact replay)")
    return tuple(out)


def check_sigma(sigma: Any, seeds: Sequence[int]) -> float:
    """σ of the noisy episodes: a finite number > 0 when a noise seed >= 1 is asked for."""
    try:
        v = float(sigma)
    except (TypeError, ValueError):
        raise ValueError(f"noise must be a number, got {sigma!r}") from None
    if any(s > 0 for s in seeds) and not (v > 0 and v < float("inf")):
        raise ValueError(f"noise must be > 0 when noise seeds other than 0 (exact replay) are given, got {sigma!r}")
    return v


def episode_keys(days: Sequence[int], noise_seeds: Sequence[int]) -> list[EpisodeKey]:
    """Days × noise seeds, day-major (the columns of every score matrix)."""
    return [EpisodeKey(int(d), int(s)) for d in days for s in noise_seeds]


@dataclass(frozen=True)
class PolicyEntry:
    """One listed policy: its load spec (a run directory is resolved to its model) and an optional group name."""

    spec: str
    group: str | None = None

    @property
    def is_model(self) -> bool:
        return self.spec.endswith(".zip")


def parse_entry(text: str) -> PolicyEntry:
    """``[GROUP=]SPEC`` -> :class:`PolicyEntry`; a run directory becomes its saved model's path."""
    text = str(text).strip()
    group, spec = (text.split("=", 1) if "=" in text else (None, text))
    if group is not None and not group.strip():
        raise ValueError(f"policy entry {text!r}: empty group name before '='")
    spec = spec.strip()
    if not spec:
        raise ValueError(f"policy entry {text!r}: no policy after the group name")
    p = Path(spec)
    if p.is_dir():
        spec = str(run_dir_model(p))
    elif p.suffix == ".zip" and not p.exists():
        raise FileNotFoundError(f"policy entry {text!r}: no model at {p}")
    return PolicyEntry(spec, group.strip() if group else None)


def run_dir_model(run_dir: Path) -> Path:
    """The saved model of a ``hetserve train`` run directory (its ``run.json``), else its ``model.zip``."""
    from .runs import RUN_FILE, read_spec, saved_model_path

    if (run_dir / RUN_FILE).is_file():
        model = saved_model_path(read_spec(run_dir), run_dir)
        model = model if model.suffix == ".zip" else model.with_suffix(".zip")
        if model.exists():
            return model
        raise FileNotFoundError(f"run directory {run_dir}: its model {model} does not exist (training unfinished?)")
    if (run_dir / "model.zip").exists():
        return run_dir / "model.zip"
    raise FileNotFoundError(f"{run_dir} is a directory but not a training run (no run.json, no model.zip)")


def group_runs(labelled: Sequence[tuple[str, int | None, Any]]) -> dict[str, list[tuple[int | None, Any]]]:
    """``(group, seed, item)`` triples -> group -> runs, in first-seen order; ValueError when one group lists the
    same seed twice (or a seedless policy twice)."""
    groups: dict[str, list[tuple[int | None, Any]]] = {}
    for group, seed, item in labelled:
        runs = groups.setdefault(group, [])
        if any(s == seed for s, _ in runs):
            what = f"seed {seed}" if seed is not None else "no seed (a deterministic policy)"
            raise ValueError(f"policy {group!r} is listed twice with {what}: runs of one policy need distinct "
                             "seeds (name a group with GROUP=SPEC to keep two variants apart)")
        runs.append((seed, item))
    return groups


__all__ = ["DEFAULT_NOISE_SEEDS", "NOISE_SIGMA", "EpisodeKey", "PolicyEntry", "check_noise_seeds", "check_sigma",
           "episode_keys", "group_runs", "parse_entry", "run_dir_model"]
