"""Normalised scores, interquartile means and 95 % stratified-bootstrap intervals for ``hetserve benchmark``.

**Normalised score** of a policy on an episode: ``100 · (C_bau − C) / (C_bau − R)``, with ``C`` its env cost,
``C_bau`` the business-as-usual static plan's cost on the same episode and ``R`` the reference (the hindsight
bound): 0 = business as usual, 100 = the bound, negative = worse than business as usual. ``R < C_bau`` is
required on every episode (a bound always is; a stand-in reference that is not is refused).

**Aggregates** follow rliable (Agarwal et al., 2021): scores form a (runs × episodes) matrix per policy (runs =
seeds of one algorithm, 1 for a deterministic planner); the IQM is ``rliable.metrics.aggregate_iqm`` (the 25 %
trimmed mean over all runs and episodes); the 95 % interval is rliable's stratified bootstrap with
``task_bootstrap=True`` and the percentile method: each replicate resamples the episodes and, within each
episode, the runs, so a deterministic planner's interval is over episodes and an agent's over seeds and episodes.

Why the bootstrap is written here: ``rliable.library`` (which holds ``get_interval_estimates``) imports
``arch<8``, and arch 7 does not import with pandas 3 (``deprecate_kwarg() missing 1 required positional
argument``), while arch 8 rejects the ``random_state`` argument rliable passes. The resampling below is the
same as ``rliable.library.StratifiedBootstrap.update_indices`` with ``task_bootstrap=True``; a test checks the
two agree wherever ``rliable.library`` imports.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

#: how to get the benchmark's statistics when they are missing
EXTRA_HINT = "pip install 'hetserve[benchmark]' (rliable and scipy)"


class MissingExtra(ImportError):
    """The ``benchmark`` extra is not installed (a user error: one line in the CLI)."""


def require_iqm() -> Callable[[np.ndarray], float]:
    """``rliable.metrics.aggregate_iqm``, or :class:`MissingExtra` saying what to install."""
    try:
        from rliable.metrics import aggregate_iqm
    except ImportError as exc:
        raise MissingExtra(f"the benchmark's IQM and intervals need rliable ({exc}): {EXTRA_HINT}, or run with "
                           "--no-intervals for means only") from None
    return aggregate_iqm


def normalised_scores(cost: np.ndarray, bau: np.ndarray, reference: np.ndarray,
                      labels: list[str] | None = None) -> np.ndarray:
    """``100 · (bau − cost) / (bau − reference)`` per episode: ``bau`` and ``reference`` are (episodes,), ``cost``
    (..., episodes); ValueError naming the first episode whose reference is not below the BAU cost, or any
    non-finite input."""
    cost, bau, reference = (np.asarray(a, dtype=np.float64) for a in (cost, bau, reference))
    if bau.ndim != 1 or bau.shape != reference.shape or cost.shape[-1:] != bau.shape:
        raise ValueError(f"normalised score: bau {bau.shape} and reference {reference.shape} must be (episodes,) and "
                         f"cost (..., episodes), got cost {cost.shape}")
    for name, a in (("cost", cost), ("BAU cost", bau), ("reference", reference)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"normalised score: {name} has non-finite values {a[~np.isfinite(a)][:3].tolist()}")
    span = bau - reference
    bad = np.flatnonzero(span <= 1e-9 * np.maximum(np.abs(bau), 1.0))
    if bad.size:
        k = int(bad[0])
        where = labels[k] if labels else f"episode {k}"
        raise ValueError(f"normalised score: on {where} the reference ${reference[k]:,.4f} is not below the BAU "
                         f"cost ${bau[k]:,.4f}; the scale 0 = BAU, 100 = reference needs reference < BAU")
    return 100.0 * (bau - cost) / span


def stratified_bootstrap_ci(scores: np.ndarray, statistic: Callable[[np.ndarray], float], reps: int = 10_000,
                            size: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of ``statistic`` over rliable's stratified bootstrap with ``task_bootstrap=True``.

    ``scores``: (runs, episodes). Each replicate draws the episodes with replacement and, for every drawn
    episode, its runs with replacement (rliable's ``StratifiedBootstrap``)."""
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"scores must be a non-empty (runs, episodes) matrix, got shape {x.shape}")
    if not 0 < size < 1:
        raise ValueError(f"interval size must be in (0, 1), got {size!r}")
    if int(reps) < 100:
        raise ValueError(f"bootstrap reps must be >= 100, got {reps!r}")
    n_runs, n_eps = x.shape
    rng = np.random.default_rng(seed)
    stats = np.empty(int(reps))
    for r in range(int(reps)):
        tasks = rng.integers(n_eps, size=n_eps)
        runs = rng.integers(n_runs, size=(n_runs, n_eps))
        stats[r] = statistic(x[runs, tasks[None, :]])
    alpha = 100.0 * (1.0 - size) / 2.0
    lo, hi = np.percentile(stats, [alpha, 100.0 - alpha])
    return float(lo), float(hi)


def aggregate(score_matrices: Mapping[str, np.ndarray], intervals: bool = True, reps: int = 10_000,
              seed: int = 0) -> dict[str, dict[str, float | None]]:
    """Per policy: mean score, and (``intervals``) IQM with its 95 % stratified-bootstrap interval."""
    iqm = require_iqm() if intervals else None
    out: dict[str, dict[str, float | None]] = {}
    for name, m in score_matrices.items():
        x = np.asarray(m, dtype=np.float64)
        row: dict[str, float | None] = {"score_mean": float(x.mean()), "score_iqm": None, "score_ci_low": None,
                                        "score_ci_high": None}
        if iqm is not None:
            row["score_iqm"] = float(iqm(x))
            row["score_ci_low"], row["score_ci_high"] = stratified_bootstrap_ci(x, iqm, reps, seed=seed)
        out[name] = row
    return out


def performance_profile(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Share of (run, episode) scores above each threshold τ (rliable's score distribution)."""
    x = np.asarray(scores, dtype=np.float64).ravel()
    return np.array([float(np.mean(x > t)) for t in np.asarray(taus, dtype=np.float64)])


__all__ = ["EXTRA_HINT", "MissingExtra", "aggregate", "normalised_scores", "performance_profile", "require_iqm",
           "stratified_bootstrap_ci"]
