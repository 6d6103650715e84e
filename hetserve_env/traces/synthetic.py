"""Synthetic demand: rate series for tests and for scenarios beyond the bundled data.

Every generator returns a float64 array of per-window rates (req/s) of length ``n_days * 86400 / window_s``,
window 0 starting at 00:00 of day 0, and takes ``seed`` (an int, a :class:`numpy.random.Generator`, or None
for fresh entropy). The same seed gives the same series.

* :func:`diurnal`: a daily sinusoid with a given mean, peak-to-trough ratio and peak hour.
* :func:`bursty`: a Markov-modulated on/off process: geometric off and on periods, the rate multiplied by
  ``burst_factor`` while on (optionally on top of a diurnal profile).
* :func:`regime_shift`: piecewise-constant level changes lasting hours to days (log-normal levels), like
  ServeGen's m-large / m-mid, optionally on top of a diurnal profile.
* :func:`with_volatility`: multiplicative log-normal noise per window, as in the paper's rolling study.

:func:`bursty` and :func:`regime_shift` are rescaled so that the realised mean is exactly ``mean_rps``;
:func:`diurnal` has that mean exactly by construction (before ``noise``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

import numpy as np

from .errors import TraceError
from .series import SECONDS_PER_DAY, DemandSeries

__all__ = ["diurnal", "bursty", "regime_shift", "with_volatility", "n_windows_for"]

SeedLike = int | np.random.Generator | np.random.SeedSequence | None
_A = TypeVar("_A", np.ndarray, DemandSeries)


def _rng(seed: SeedLike) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise TraceError(f"seed: expected an int >= 0, a numpy Generator or None, got {seed!r} ({exc})") from None


def _positive(name: str, value: float, allow_zero: bool = False) -> float:
    if isinstance(value, bool):
        raise TraceError(f"{name}: expected a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TraceError(f"{name}: expected a number, got {value!r}") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise TraceError(f"{name}: must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return v


def n_windows_for(n_days: float, window_s: float) -> int:
    """Number of windows in ``n_days`` days; ``window_s`` must divide a day and the span be whole windows."""
    n_days = _positive("n_days", n_days)
    window_s = _positive("window_s", window_s)
    per_day = SECONDS_PER_DAY / window_s
    if abs(per_day - round(per_day)) > 1e-9:
        raise TraceError(f"window_s: {window_s:g} s does not divide a day (86400 s) into whole windows")
    n = n_days * round(per_day)
    if abs(n - round(n)) > 1e-9 or round(n) < 1:
        raise TraceError(f"n_days: {n_days:g} days is not a whole number of {window_s:g}-s windows")
    return int(round(n))


def _profile(n: int, window_s: float, peak_to_trough: float, peak_hour: float) -> np.ndarray:
    """Mean-1 daily cosine profile sampled at window centres, max/min = peak_to_trough (continuous curve)."""
    p = _positive("peak_to_trough", peak_to_trough)
    if p < 1:
        raise TraceError(f"peak_to_trough: must be >= 1, got {peak_to_trough!r}")
    try:
        ph = float(peak_hour)
    except (TypeError, ValueError):
        raise TraceError(f"peak_hour: expected a number of hours, got {peak_hour!r}") from None
    if not np.isfinite(ph):
        raise TraceError(f"peak_hour: expected a finite number, got {peak_hour!r}")
    amp = (p - 1.0) / (p + 1.0)
    hours = ((np.arange(n) + 0.5) * window_s / 3600.0) % 24.0
    return 1.0 + amp * np.cos(2.0 * np.pi * (hours - ph) / 24.0)


def diurnal(
    n_days: float,
    window_s: float,
    mean_rps: float,
    peak_to_trough: float = 2.0,
    peak_hour: float = 20.0,
    seed: SeedLike = None,
    noise: float = 0.0,
) -> np.ndarray:
    """Daily sinusoid ``mean_rps * (1 + a cos(2 pi (h - peak_hour) / 24))`` at window centres ``h`` (hours),
    with ``a = (p - 1) / (p + 1)`` so that peak / trough of the curve is ``p = peak_to_trough``.

    Over whole days the mean is exactly ``mean_rps``; the sampled max / min equals ``peak_to_trough`` up to the
    window discretisation. ``noise`` > 0 applies :func:`with_volatility` with that sigma (the only use of
    ``seed``).
    """
    n = n_windows_for(n_days, window_s)
    mean = _positive("mean_rps", mean_rps, allow_zero=True)
    rate = mean * _profile(n, float(window_s), peak_to_trough, peak_hour)
    return with_volatility(rate, noise, seed)


def _geometric_runs(rng: np.random.Generator, n: int, mean_on: float, mean_off: float) -> np.ndarray:
    """Boolean on/off path of length n from alternating geometric sojourns, started in the stationary state."""
    p_on, p_off = 1.0 / mean_on, 1.0 / mean_off
    start_on = rng.random() < mean_on / (mean_on + mean_off)
    lengths = np.empty(0, dtype=np.int64)
    while lengths.sum() < n:  # a few vectorised draws, not a loop over windows
        k = max(8, int(2 * n / (mean_on + mean_off)) + 8)
        on = rng.geometric(p_on, size=k)
        off = rng.geometric(p_off, size=k)
        pairs = np.stack([on, off] if start_on else [off, on], axis=1).reshape(-1)
        lengths = np.concatenate([lengths, pairs])
    states = np.resize(np.array([start_on, not start_on]), lengths.size)
    return np.repeat(states, lengths)[:n]


def bursty(
    n_days: float,
    window_s: float,
    mean_rps: float,
    burst_factor: float = 4.0,
    mean_burst_windows: float = 3.0,
    mean_gap_windows: float = 30.0,
    peak_to_trough: float = 1.0,
    peak_hour: float = 20.0,
    seed: SeedLike = None,
) -> np.ndarray:
    """Markov-modulated on/off bursts.

    A two-state Markov chain over windows: off periods last ``mean_gap_windows`` windows on average and on
    (burst) periods ``mean_burst_windows`` (geometric sojourns); during a burst the rate is ``burst_factor``
    times the base. The base is flat, or a diurnal profile when ``peak_to_trough > 1``. The series is rescaled
    so its mean is exactly ``mean_rps``.
    """
    n = n_windows_for(n_days, window_s)
    mean = _positive("mean_rps", mean_rps, allow_zero=True)
    factor = _positive("burst_factor", burst_factor)
    if factor < 1:
        raise TraceError(f"burst_factor: must be >= 1, got {burst_factor!r}")
    mb = _positive("mean_burst_windows", mean_burst_windows)
    mg = _positive("mean_gap_windows", mean_gap_windows)
    if mb < 1 or mg < 1:
        raise TraceError("mean_burst_windows and mean_gap_windows: must be >= 1 (window counts)")
    on = _geometric_runs(_rng(seed), n, mb, mg)
    level = _profile(n, float(window_s), peak_to_trough, peak_hour) * np.where(on, factor, 1.0)
    return level * (mean / level.mean())


def regime_shift(
    n_days: float,
    window_s: float,
    mean_rps: float,
    mean_regime_hours: float = 24.0,
    min_regime_hours: float = 2.0,
    level_sigma: float = 0.5,
    peak_to_trough: float = 1.0,
    peak_hour: float = 20.0,
    seed: SeedLike = None,
) -> np.ndarray:
    """Step changes in level: regimes of ``min_regime_hours + Exp(mean_regime_hours - min_regime_hours)`` hours,
    each with a level drawn log-normal with log-std ``level_sigma``, optionally times a diurnal profile
    (``peak_to_trough > 1``). Rescaled so that the mean is exactly ``mean_rps``.
    """
    n = n_windows_for(n_days, window_s)
    mean = _positive("mean_rps", mean_rps, allow_zero=True)
    hmin = _positive("min_regime_hours", min_regime_hours)
    hmean = _positive("mean_regime_hours", mean_regime_hours)
    if hmean < hmin:
        raise TraceError(f"mean_regime_hours: must be >= min_regime_hours ({hmin:g}), got {mean_regime_hours!r}")
    sigma = _positive("level_sigma", level_sigma, allow_zero=True)
    rng = _rng(seed)
    per_hour = 3600.0 / float(window_s)
    lengths = np.empty(0, dtype=np.int64)
    while lengths.sum() < n:
        k = max(8, int(2 * n / (hmean * per_hour)) + 8)
        hours = hmin + rng.exponential(hmean - hmin, size=k) if hmean > hmin else np.full(k, hmin)
        lengths = np.concatenate([lengths, np.maximum(1, np.round(hours * per_hour)).astype(np.int64)])
    levels = rng.lognormal(0.0, sigma, size=lengths.size)
    level = np.repeat(levels, lengths)[:n] * _profile(n, float(window_s), peak_to_trough, peak_hour)
    return level * (mean / level.mean())


def with_volatility(rate: _A, sigma: float, seed: SeedLike = None) -> _A:
    """Multiply each window's rate by independent log-normal noise ``exp(sigma * Z - sigma**2 / 2)``.

    The factor has mean 1 and standard deviation ``sqrt(exp(sigma**2) - 1)`` (= sigma to within 0.1 % for the
    paper's sigma in 0.01..0.05). ``sigma == 0`` returns the input unchanged (a copy). Accepts an array of any
    shape or a :class:`DemandSeries` (its ``rate`` is perturbed, tokens untouched).
    """
    s = _positive("sigma", sigma, allow_zero=True)
    if isinstance(rate, DemandSeries):
        return replace(rate, rate=with_volatility(rate.rate, s, seed), meta=dict(rate.meta))
    arr = np.array(rate, dtype=np.float64, copy=True)
    if s == 0:
        return arr
    z = _rng(seed).standard_normal(arr.shape)
    return arr * np.exp(s * z - 0.5 * s * s)
